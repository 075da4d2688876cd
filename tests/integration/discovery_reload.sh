#!/usr/bin/env bash
# discovery_reload: a reload that changes the resolvers while a question
# to the old one is still unanswered. Host A's hello endpoints are
# dns:hello.test:MESHPORT; two DNS servers on loopback (dns_server.py)
# answer it with different addresses and a TTL of 300 s. Resolver 1
# answers 127.0.0.3 and then, slowly (2 s), 127.0.0.5; resolver 2 answers
# 127.0.0.4. The reload to resolver 2 comes while resolver 1's slow
# answer is in flight:
#   - resolver 2 is asked at once after the reload (not after the slow
#     answer's 300 s TTL), and hello's endpoint becomes its 127.0.0.4;
#   - the slow answer, asked before the reload, is never applied: no
#     discovery record or endpoint names 127.0.0.5.
. "$(dirname "$0")/lib.sh"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
DNS_SERVER=$(dirname "$0")/security/dns_server.py
P1=$((MESHPORT + 53))
P2=$((MESHPORT + 54))
echo "good 127.0.0.3 300" >"$T/mode1"
echo "good 127.0.0.4 300" >"$T/mode2"
spawn dns1 "$T/dns1.out" "$PY" "$DNS_SERVER" "$P1" "$T/mode1" "$T/dns1.log"
spawn dns2 "$T/dns2.out" "$PY" "$DNS_SERVER" "$P2" "$T/mode2" "$T/dns2.log"
for p in "$P1" "$P2"; do
	for ((i = 0; i < 50; i++)); do
		"$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); s.connect(('127.0.0.1', int(sys.argv[1])))" \
			"$p" 2>/dev/null && break
		sleep 0.1
	done
done
touch "$T/dns1.log" "$T/dns2.log"
make_certs "$TD" client hello
conf() { # RESOLVER_PORT
	write_confs "endpoints=dns:hello.test:$MESHPORT" "a_mesh=resolvers = 127.0.0.1:$1
dns_ttl_min = 1s
dns_ttl_max = 5m
dns_timeout = 5s"
}
conf "$P1"
start_meshd a "$T/a.ini"
HELLO='.event == "discovery" and .service == "hello"'
rec=$(new_records "$T/a.log" 0 "$HELLO and .result == \"ok\"" 1 10 | tail -n 1) || rec='{}'
check_rec "start: hello's endpoint is resolver 1's answer, TTL 300" "$rec" \
	".endpoints == [\"127.0.0.3:$MESHPORT\"] and .ttl == 300"

# Resolver 1 turns slow; a reload asks it again, and before its answer a
# second reload names resolver 2 alone.
echo "slow 2 127.0.0.5 300" >"$T/mode1"
mark=$(since "$T/a.log")
n1=$(grep -c '^udp 1 slow hello.test$' "$T/dns1.log" || true)
reload_hosts "reloaded (resolver 1 asked again, and it is slow)" a
asked=0
for ((i = 0; i < 50; i++)); do
	(($(grep -c '^udp 1 slow hello.test$' "$T/dns1.log" || true) > n1)) && asked=1 && break
	sleep 0.05
done
check_eq "resolver 1 has the question, unanswered" 1 "$asked"
n2=$(grep -c 'hello.test$' "$T/dns2.log" || true)
t0=$(now_ms)
conf "$P2"
reload_hosts "reloaded with resolver 2 while resolver 1's answer is in flight" a
rec=$(new_records "$T/a.log" "$mark" "$HELLO and .result == \"ok\" and .endpoints == [\"127.0.0.4:$MESHPORT\"]" \
	1 8 | head -n 1) || rec='{}'
t1=$(now_ms)
note "resolver 2's answer applied $((t1 - t0)) ms after the reload: $(jq -c '{result, endpoints, ttl}' <<<"$rec")"
check_rec "after the reload, hello's endpoint is resolver 2's answer (not after the slow answer's TTL)" \
	"$rec" ".endpoints == [\"127.0.0.4:$MESHPORT\"]"
check "resolver 2 was asked" test "$(grep -c 'hello.test$' "$T/dns2.log" || true)" -gt "$n2"
# The slow answer went out 2 s after its question; wait past it.
sleep 1
stale=$(records "$T/a.log" "$HELLO and ((.endpoints // []) | any(. == \"127.0.0.5:$MESHPORT\"))" "$mark" | wc -l)
check_eq "the answer asked before the reload (127.0.0.5) is never applied" 0 "$stale"
check "and the log never names it" sh -c "! grep -q '127.0.0.5' '$T/a.err'"
check "meshd is running" meshd_alive a
summary
