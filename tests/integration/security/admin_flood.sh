#!/usr/bin/env bash
# serial
# admin_flood: any local user can connect to the admin listener. As a real
# `nobody` process (setpriv), at once: 200 idle connections, a slowloris
# that sends its request head one byte a second, a 1 MiB header. Bounds:
# at most 32 admin connections, 8 of one user (the rest are closed at
# once), a head must be whole within 5 s (the slow one gets 408 and is
# closed), a head is at most 8 KiB (431). Meanwhile root's /metrics and
# /ready are answered and VIP traffic is served; meshd holds no more
# admin connections than the bound (its descriptors say so).
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

ADMIN_A=$((MESHPORT + 7))
make_certs "$TD" client hello
write_confs
sed -i "s/^admin = off$/admin = 127.0.0.1:$ADMIN_A/" "$T/a.ini"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
chmod 755 "$T"
cp "$HERE/admin_flood.py" "$T/admin_flood.py"
chmod 644 "$T/admin_flood.py"
: >"$T/flood.out"
chmod 666 "$T/flood.out"

# meshd's TCP connections on the admin port (its side of each).
admin_fds() { ss -Htn state established "( sport = :$ADMIN_A )" 2>/dev/null | wc -l; }

spawn flood "$T/flood.log" setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$PY" "$T/admin_flood.py" "$ADMIN_A" "$T/flood.out"
flood_pid=$LAST_PID
sleep 1.5
n=$(admin_fds)
note "admin connections held by meshd during the flood: $n"
check "meshd holds at most 32 admin connections (8 of nobody's + a few)" test "$n" -le 32
t0=$(date +%s.%N)
code=$(curl -sS --max-time 3 -o "$T/m.txt" -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/metrics") || code=
t1=$(date +%s.%N)
check_eq "root's /metrics during the flood: 200" 200 "$code"
note "root's /metrics took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s during the flood"
check "the answer is the metrics" grep -q '^libmesh_build_info' "$T/m.txt"
code=$(curl -sS --max-time 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/ready") || code=
check_eq "root's /ready during the flood: 200" 200 "$code"
body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
check_eq "VIP traffic is served during the flood" "hello from upstream" "$body"

wait_gone "$flood_pid" 30 || true
sed 's/^/# /' "$T/flood.out"
read -r _ open closed < <(grep '^idle ' "$T/flood.out") || true
# nobody's 8: the idle ones kept, the slow one, the big one (6 to 8 idle,
# as the three race to connect).
check "of 200 idle connections nobody kept 6 to 8 ($open), the rest closed at once ($closed)" \
	test "$open" -ge 6 -a "$open" -le 8 -a $((open + closed)) -eq 200
check_eq "the 1 MiB header: 431" "HTTP/1.1 431 Request Header Fields Too Large" "$(sed -n 's/^big //p' "$T/flood.out")"
read -r _ secs answer < <(grep '^slow ' "$T/flood.out") || true
check_eq "the slowloris: 408" "HTTP/1.1 408 Request Timeout" "$answer"
check "the slowloris is cut at ~5 s (4.5 to 7: $secs s)" awk -v s="$secs" 'BEGIN { exit !(s >= 4.5 && s <= 7) }'
check "the refusals are logged once, not per connection" \
	test "$(grep -c 'admin: connections over the bound' "$T/a.err")" -eq 1
sleep 0.5
check_eq "after the flood meshd holds no admin connection" 0 "$(admin_fds)"
code=$(curl -sS --max-time 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/metrics") || code=
check_eq "root's /metrics after the flood: 200" 200 "$code"
summary
