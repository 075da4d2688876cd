#!/usr/bin/env bash
# serial
# dns_flood: what local users can do to meshd's DNS listener (dns_serve.h's
# bounds), each with the attack itself, in a network namespace of its own
# (meshd's dns = 127.0.0.1:53 on its loopback):
#   - a UDP flood from nobody (valid queries, garbage, responses, datagrams
#     over 4096 bytes, never reading an answer; 12 sockets) does not stop
#     answers to root: each source gets 200 answers a second, the rest are
#     dropped cheaply, and the socket's 4 MiB queue absorbs the bursts;
#   - idle TCP connections (80 from nobody, more than the 64 in all): one
#     user holds at most 16, users other than
#     root and meshd's hold at most 48 together; past that they are closed at
#     once, root still gets in, and the refusals are logged once, aggregated;
#   - a slowloris is cut when no whole query came for 5 s, a busy connection
#     10 s after it was accepted, a 65535-byte length prefix at once, and a
#     pipelined burst is answered 100 queries deep, then closed;
#   - meshd's memory stays bounded through all of it.
. "$(dirname "$0")/../lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root for ip netns"
command -v dig >/dev/null || die "dig not installed: run scripts/deps.sh"
NS=lmf$$
on_exit "ip netns del $NS 2>/dev/null"
ip netns add "$NS" || die "cannot create a namespace"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

make_certs "$TD" client hello
write_confs a_mesh="dns = on"
sed -i 's|^admin = off|admin = 127.0.0.1:15000|' "$T/a.ini" # its own loopback
MESHD_PREFIX="ip netns exec $NS" start_meshd a "$T/a.ini"
PID=$(meshd_pid a)
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
VIP=$(in_ns dig @127.0.0.1 +short +time=2 +tries=1 hello.mesh A)
[[ $VIP == 127.77.* ]] || die "meshd's DNS does not answer hello.mesh (got '$VIP')"
RSS0=$(rss)
cp "$(dirname "$0")/dns_flood.py" "$T/dns_flood.py"
chmod 644 "$T/dns_flood.py"
chmod 711 "$T"
O=$T/out # where the attackers write what they saw
mkdir -m 1777 "$O"
# as_user USER CMD...: in the namespace, as USER (AS_USER: the same words,
# for spawn).
as_user() {
	local u=$1
	shift
	ip netns exec "$NS" setpriv --reuid="$u" --regid=nogroup --clear-groups "$@"
}
AS() { AS_USER=(ip netns exec "$NS" setpriv --reuid="$1" --regid=nogroup --clear-groups); }
answers() { # N [dig args]: how many of N root queries got the VIP
	local n=$1 i got=0
	shift
	for ((i = 0; i < n; i++)); do
		[[ $(in_ns dig @127.0.0.1 +short +time=1 +tries=3 "$@" hello.mesh A 2>/dev/null) == "$VIP" ]] &&
			got=$((got + 1))
	done
	printf '%s\n' "$got"
}

# ---- UDP ----
flooders=()
for i in 1 2 3; do
	AS nobody
	spawn "udp$i" "$T/udp$i.out" "${AS_USER[@]}" "$PY" "$T/dns_flood.py" udp 6
	flooders+=("$LAST_PID")
done
sleep 1
check_eq "during a UDP flood from nobody, root's 20 queries are answered" 20 "$(answers 20)"
check_eq "and over TCP too" 5 "$(answers 5 +tcp)"
for p in "${flooders[@]}"; do wait "$p" 2>/dev/null || true; done
note "flood: $(cat "$T"/udp*.out | awk '{ n += $2 } END { print n }') datagrams sent"
check "meshd is alive after the flood" meshd_alive a
check "the flooding sockets were held to their rate, logged once" \
	test "$(grep -c 'UDP queries over 200 a second from one source' "$T/a.err")" -eq 1
RSS1=$(rss)

# ---- TCP: idle connections ----
holders=()
for u in nobody daemon bin; do
	AS "$u"
	n=30
	[[ $u != nobody ]] || n=80 # more than the 64 of all users together
	spawn "idle-$u" "$T/idle-$u.log" "${AS_USER[@]}" "$PY" "$T/dns_flood.py" idle "$n" "$O/idle-$u.out"
	holders+=("$LAST_PID")
	for _ in $(seq 100); do [[ -s $O/idle-$u.out ]] && break; sleep 0.1; done
done
check_eq "nobody: 80 idle connections, 64 closed at once (16 held)" "idle 80 64" "$(cat "$O/idle-nobody.out")"
check_eq "daemon: the same" "idle 30 14" "$(cat "$O/idle-daemon.out")"
check_eq "bin: the same (48 held by users other than root)" "idle 30 14" "$(cat "$O/idle-bin.out")"
st=0
as_user sys dig @127.0.0.1 +tcp +short +time=2 +tries=1 hello.mesh A >/dev/null 2>&1 || st=$?
check "a fourth user is refused over TCP while 48 are held (the bound)" test "$st" -ne 0
check_eq "root still is (its 16 are its own)" 3 "$(answers 3 +tcp)"
check_eq "and everyone still is over UDP" "$VIP" "$(as_user sys dig @127.0.0.1 +short +time=2 +tries=1 hello.mesh A)"
for p in "${holders[@]}"; do kill_proc "$p"; done
sleep 0.5
check_eq "once they are gone, sys gets in" "$VIP" "$(as_user sys dig @127.0.0.1 +tcp +short +time=2 +tries=1 hello.mesh A)"
check_eq "the refusals are logged once, aggregated" 1 \
	"$(grep -c 'dns 127.0.0.1:53: TCP connections over the bound' "$T/a.err")"

# ---- TCP: deadlines and per-connection bounds ----
AS nobody
spawn slow "$T/slow.log" "${AS_USER[@]}" "$PY" "$T/dns_flood.py" slow "$O/slow.out"
for _ in $(seq 200); do [[ -s $O/slow.out ]] && break; sleep 0.1; done
s=$(awk '$1 == "slow" { print $2 }' "$O/slow.out")
l=$(awk '$1 == "life" { print $2 }' "$O/slow.out")
check "a slowloris is cut after 5 s without a whole query (${s:-none} s)" \
	awk -v s="${s:--1}" 'BEGIN { exit !(s >= 4.5 && s <= 7) }'
check "a connection asking every 0.5 s is cut 10 s after accept (${l:-none} s)" \
	awk -v s="${l:--1}" 'BEGIN { exit !(s >= 9 && s <= 12) }'
check_eq "a 65535-byte length prefix: closed at once" "big 1" "$(grep '^big' "$O/slow.out")"
check_eq "150 pipelined queries: 100 answered, then closed" "pipe 100" "$(grep '^pipe' "$O/slow.out")"

in_ns curl -q -sS --noproxy '*' --max-time 5 http://127.0.0.1:15000/metrics >"$T/metrics.txt" || true
metric() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics.txt"; }
note "$(grep '^libmesh_dns_' "$T/metrics.txt" | paste -sd ' ')"
check "/metrics counts the flood's rate-limited queries" \
	test "$(metric 'libmesh_dns_unanswered_total{reason="rate_limited"}')" -gt 100000
check "and its malformed ones" test "$(metric 'libmesh_dns_unanswered_total{reason="malformed"}')" -gt 1000
check "and the FORMERR answers" test "$(metric 'libmesh_dns_responses_total{rcode="FORMERR"}')" -gt 100
check "and the TCP connections over the bound (64 + 2 x 14 + 1)" \
	test "$(metric 'libmesh_dns_tcp_closed_total{reason="over_bound"}')" -eq 93
check "and those cut at a deadline (at least the slowloris and the busy one)" \
	test "$(metric 'libmesh_dns_tcp_closed_total{reason="deadline"}')" -ge 2
RSS2=$(rss)
note "meshd RSS: ${RSS0} kB at start, ${RSS1} kB after the UDP flood, ${RSS2} kB at the end"
check "meshd's memory stays bounded (less than 16 MiB more)" test "$RSS2" -lt "$((RSS0 + 16384))"
check "meshd is alive" meshd_alive a
check_eq "and answers" "$VIP" "$(in_ns dig @127.0.0.1 +short +time=2 +tries=1 hello.mesh A)"
summary
