#!/usr/bin/env bash
# shellcheck disable=SC2154  # records are set by get_record
# dns_hostile: the DNS server discovery asks is hostile (dns_server.py on
# loopback; host A's hello endpoints = dns:hello.test:MESHPORT, resolvers =
# that server, dns_ttl_min 1s, dns_timeout 300ms). Each attack, and its bound:
#   - TTL 0 on every answer: a name is asked again at most once per
#     dns_ttl_min (here: at most 5 A questions in 4 s);
#   - a flood: 4,000 A records in one answer (over TCP, after a truncated
#     UDP answer), and UDP datagrams claiming 10,000: at most 256 endpoints
#     (CFG_MAX_ENDPOINTS) are kept, the log says records were left out, the
#     datagram that does not hold its records is refused, meshd's RSS stays
#     bounded;
#   - every answer a change, for 10 entries: at most one generation a
#     second is made, however many entries change;
#   - garbage (random bytes, wrong ids, bursts of junk datagrams): the last
#     good answer stays (hello keeps working) and a "failed" record says so;
#   - silence: resolution never blocks a worker: curl through hello answers
#     within 1 s each while every question times out; `meshd -t` warns
#     (it does not fail) after one resolution's timeouts.
. "$(dirname "$0")/../lib.sh"

RSS_BOUND_KB=$((32 * 1024))
if [[ $MESHD == *address* ]]; then RSS_BOUND_KB=$((128 * 1024)); fi
DNSPORT=$((MESHPORT + 53))
echo good >"$T/mode"
spawn dns "$T/dns.out" "$PY" "$(dirname "$0")/dns_server.py" "$DNSPORT" "$T/mode" "$T/dns.log"
for ((i = 0; i < 50; i++)); do
	"$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); s.connect(('127.0.0.1', int(sys.argv[1])))" \
		"$DNSPORT" 2>/dev/null && break
	sleep 0.1
done
make_certs "$TD" client hello
# Service rot (never called): 10 entries, one per indented line.
ROT=$(for ((i = 0; i < 10; i++)); do printf '  dns:rot%d.test:%s\n' "$i" "$MESHPORT"; done)
write_confs "endpoints=dns:hello.test:$MESHPORT" "a_extra=[service.rot]
ports = $PORT2
endpoints =
$ROT" "a_mesh=resolvers = 127.0.0.1:$DNSPORT
dns_ttl_min = 1s
dns_ttl_max = 5s
dns_timeout = 300ms
admin = 127.0.0.1:$((MESHPORT + 7))"
sed -i '/^admin = off$/d' "$T/a.ini"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
check_hello "good answers"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$(meshd_pid a)/status"; }
rss0=$(rss)

# TTL 0: asked again after dns_ttl_min, not at once.
n0=$(grep -c '^udp 1 .* hello.test$' "$T/dns.log")
sleep 4
n1=$(grep -c '^udp 1 .* hello.test$' "$T/dns.log")
note "TTL 0: $((n1 - n0)) A questions in 4 s"
check "TTL 0: at most 5 A questions in 4 s (dns_ttl_min 1s)" test $((n1 - n0)) -le 5
check "TTL 0: but asked again (at least 2 in 4 s)" test $((n1 - n0)) -ge 2

# Flood.
mark=$(since "$T/a.log")
echo flood >"$T/mode"
rec=$(new_records "$T/a.log" "$mark" '.event == "discovery" and .result == "ok" and .count > 1' 1 15 | head -n 1) || rec='{}'
note "flood record: $(jq -c '{result, count, ttl}' <<<"$rec")"
check_rec "flood: the discovery record counts at most 256 endpoints" "$rec" '.count == 256'
curl -q -sS --noproxy '*' "http://127.0.0.1:$((MESHPORT + 7))/endpoints" >"$T/ep.json"
check_eq "flood: /endpoints holds 256 endpoints for hello" 256 \
	"$(jq '.services[] | select(.service == "hello") | .endpoints | length' "$T/ep.json")"
check "flood: the log says records were left out" grep -q 'some records left out' "$T/a.err"
check "flood: the answer came over TCP after a truncated one" grep -q '^tcp 1 flood hello.test$' "$T/dns.log"
sleep 3 # more rounds of it, with the malformed datagrams
rss1=$(rss)
note "RSS before the flood ${rss0} KiB, after ${rss1} KiB"
check "flood: meshd's RSS grows less than $((RSS_BOUND_KB / 1024)) MiB" test $((rss1 - rss0)) -lt "$RSS_BOUND_KB"
check "flood: meshd is running" meshd_alive a
echo good >"$T/mode"
new_records "$T/a.log" "$(since "$T/a.log")" '.event == "discovery" and .result == "ok" and .count == 1' 1 15 >/dev/null ||
	note "no return to one endpoint"
check_hello "back to good answers"

# Every answer a change, for 10 entries: at most one generation a second.
mark=$(since "$T/a.log")
emark=$(since "$T/a.err")
t0=$(date +%s%N)
echo rotate >"$T/mode"
sleep 4
echo good >"$T/mode"
changes=$(records "$T/a.log" '.event == "discovery" and .service == "rot" and .result == "ok"' "$mark" | wc -l)
gens=$(tail -n +"$((emark + 1))" "$T/a.err" | grep -c 'discovered endpoints applied' || true)
secs=$((($(date +%s%N) - t0) / 1000000000))
note "rotate: $changes changes of rot's entries in $secs s, $gens generations"
check "rotate: the entries changed often (at least 15 changes)" test "$changes" -ge 15
check "rotate: at most one generation a second ($gens in $secs s)" test "$gens" -le $((secs + 1))
check_hello "rotate: hello is served meanwhile"

# Garbage: the last good answer stays.
mark=$(since "$T/a.log")
echo garbage >"$T/mode"
rec=$(new_records "$T/a.log" "$mark" '.event == "discovery" and .result == "failed"' 1 15 | head -n 1) || rec='{}'
note "garbage record: $(jq -c '{result, error}' <<<"$rec")"
check_rec "garbage: a failed discovery record" "$rec" '.result == "failed" and (.error | length) > 0'
sleep 2
check_hello "garbage: the last good answer serves"
check "garbage: meshd is running" meshd_alive a

# Silence: the workers do not wait for DNS.
echo silent >"$T/mode"
sleep 1.5
slow=0
for ((i = 0; i < 10; i++)); do
	t0=$(date +%s%N)
	mesh_client "${CURL[@]}" -o /dev/null "http://hello:$PORT/" || slow=$((slow + 100))
	t1=$(date +%s%N)
	(((t1 - t0) / 1000000 > 1000)) && slow=$((slow + 1))
	sleep 0.2
done
check_eq "silence: 10 curls through hello, each answered within 1 s" 0 "$slow"
check "silence: questions were asked (and went unanswered) meanwhile" grep -q "^udp 1 silent " "$T/dns.log"
t0=$(date +%s%N)
"$MESHD" -t -c "$T/a.ini" >"$T/check.out" 2>&1 || true
t1=$(date +%s%N)
sed 's/^/#   /' "$T/check.out"
check "silence: meshd -t warns that the resolution timed out" grep -q \
	"warning: discovery: service hello: dns:hello.test:$MESHPORT via 127.0.0.1:$DNSPORT: timeout" "$T/check.out"
check "silence: meshd -t still succeeds" grep -q 'test is successful' "$T/check.out"
check "silence: meshd -t waits for one resolution's timeouts only (< 2 s)" test $(((t1 - t0) / 1000000)) -lt 2000
summary
