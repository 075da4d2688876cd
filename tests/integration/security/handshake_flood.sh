#!/usr/bin/env bash
# serial
# shellcheck disable=SC2154,SC2016  # records are set by get_record; awk programs
# handshake_flood: TCP connections to host B's mesh port that never send a
# byte (no certificate needed) each cost B a descriptor and TLS state until
# the handshake times out. Bounds:
#   0. the default handshake_timeout is 3 s: a silent connection is closed
#      after 3 s (2.5..4.5), and its record says "within 3 s";
#   1. 2,000 silent connections from one address (127.0.0.4): B holds at
#      most max_handshakes_per_source (default 32) of them, closes the rest
#      at once (RST, overflow records, aggregated: at most 100 per 10 s),
#      and closes the held ones at handshake_timeout (2 s here). B's
#      descriptors stay below baseline + 32 + 10. Meanwhile host A's
#      streams on its link, a new link from A (127.0.0.1) and a link from a
#      third address (127.0.0.3) all work;
#   2. max_handshakes = 64 (here): 100 silent connections from each of
#      three addresses: at most 64 are held in all.
# (Before: every connection was held for 10 s; 2,000 of them took B to its
# 1,024 descriptors, so new links and upstream connections failed.)
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello rogue
standard_setup "allow=client, rogue"
start_upstream up http 127.0.0.1 "$BACKPORT"
check_hello "before the flood"

fds_b() { find "/proc/$(meshd_pid b)/fd" -mindepth 1 -maxdepth 1 | wc -l; }
silent() { # NAME N BINDS HOLD: silent connections in the background
	spawn "$1" "$T/$1.out" timeout 60 "$PY" "$(dirname "$0")/flood_peer.py" "$T/certs/ca.pem" \
		"$T/certs/rogue.pem" "$T/certs/rogue.key" "127.0.0.2:$MESHPORT" handshake "$2" "$3" "$4"
	SILENT_PID=$LAST_PID
}
val() { awk -v k="$2" '$1 == k { print $2 }' "$T/$1.out"; }

# ---------------------------------------------------------------- 0
mark=$(since "$T/b.log")
silent s0 1 127.0.0.5 8
wait_gone "$SILENT_PID" 15 || true
note "0: $(tr '\n' ' ' <"$T/s0.out")"
check_eq "0: the silent connection is held (no refusal)" 1 "$(val s0 held)"
check "0: and closed by B after the default 3 s ($(val s0 longest_s) s)" \
	awk -v t="$(val s0 longest_s)" 'BEGIN { exit !(t >= 2.5 && t <= 4.5) }'
r=$(new_records "$T/b.log" "$mark" '.client and (.client | startswith("127.0.0.5:"))' 1 5 | head -n 1) || r='{}'
check_rec "0: B's record says so" "$r" \
	'.result == "tls_failure" and (.detail | test("no TLS handshake from .* within 3 s"))'

# ---------------------------------------------------------------- 1
write_confs "allow=client, rogue" "b_mesh=handshake_timeout = 2s
max_handshakes = 64"
reload_hosts "reloads with handshake_timeout = 2s, max_handshakes = 64" b
fd0=$(fds_b)
mark=$(since "$T/b.log")
silent s1 2000 127.0.0.4 6
# B's descriptors while the connections come in and once they are held.
fd_max=0 i=0
while ((i < 600)) && ! grep -q '^held ' "$T/s1.out"; do
	f=$(fds_b) && ((f > fd_max)) && fd_max=$f
	sleep 0.05
	i=$((i + 1))
done
for _ in 1 2 3 4 5; do
	f=$(fds_b) && ((f > fd_max)) && fd_max=$f
	sleep 0.05
done
note "1: $(tr '\n' ' ' <"$T/s1.out")"
note "1: B's descriptors $fd0 before, max $fd_max while the flood is held"
check_eq "1: all 2000 connections were made" 2000 "$(val s1 connected)"
check_eq "1: B holds 32 of them (max_handshakes_per_source, default)" 32 "$(val s1 held)"
check_eq "1: and resets the other 1968 at once" 1968 "$(val s1 reset)"
check "1: B's descriptors stay below baseline + 32 + 10 ($fd0 -> $fd_max)" test "$fd_max" -lt $((fd0 + 42))
# While 127.0.0.4 is at its cap: A's stream on its link, a new link from A
# (a reload retires A's links), and a link from 127.0.0.3.
check_hello "1: during the flood, A's request on its link"
reload_hosts "reloads (its links are retired: the next request opens a new one)" a
mark_a=$(since "$T/a.log")
check_hello "1: during the flood, A's request on a new link"
r=$(new_records "$T/a.log" "$mark_a" '.event == "close" and .service == "hello"' 1 5 | head -n 1) || r='{}'
check_rec "1: (it was a new link)" "$r" '.reused == false and .result == "ok"'
out=$(BIND=127.0.0.3 timeout 20 "$PY" "$(dirname "$0")/flood_peer.py" "$T/certs/ca.pem" \
	"$T/certs/rogue.pem" "$T/certs/rogue.key" "127.0.0.2:$MESHPORT" open_held 1 1 hello "$PORT" 0 2>&1) || true
check_eq "1: during the flood, a link from 127.0.0.3 gets its stream (status 0)" "status 0 1" \
	"$(grep '^status' <<<"$out")"
wait_gone "$SILENT_PID" 15 || true
note "1: $(tr '\n' ' ' <"$T/s1.out")"
check_eq "1: B closes every held one itself" "$(val s1 held)" "$(val s1 closed_by_b)"
check "1: at the 2 s handshake timeout ($(val s1 shortest_s)..$(val s1 longest_s) s)" \
	awk -v a="$(val s1 shortest_s)" -v b="$(val s1 longest_s)" 'BEGIN { exit !(a >= 1.5 && b <= 3.5) }'
tls=$(count_records "$T/b.log" '.event == "close" and .result == "tls_failure" and .client and (.client | startswith("127.0.0.4:"))')
check_eq "1: a tls_failure record for each one held" 32 "$tls"

# ---------------------------------------------------------------- 2
silent s2 100 127.0.0.4,127.0.0.5,127.0.0.6 4
wait_grep "$T/s2.out" '^held ' 30 || true
note "2: $(tr '\n' ' ' <"$T/s2.out")"
check_eq "2: at most max_handshakes = 64 held from 3 addresses" 64 "$(val s2 held)"
check "2: none more than 32 from one address" \
	awk '$1 == "held_from" && $3 > 32 { bad = 1 } END { exit bad }' "$T/s2.out"
get_record r "$T/b.log" '.result == "overflow" and (.detail | test("max_handshakes\\)"))'
check_rec "2: B records a refusal beyond the total" "$r" '.direction == "inbound"'
wait_gone "$SILENT_PID" 15 || true
check_hello "after the floods"
check "meshd B is still running" kill -0 "$(meshd_pid b)"

# Refusals are records up to 100 per (source, result) per 10 s, then
# aggregates (written at the latest at exit); every one is counted.
stop_meshd b
n=$(records "$T/b.log" '.event == "close" and .result == "overflow" and (.client | startswith("127.0.0.4:"))' "$mark" | grep -c . || true)
agg=$(records "$T/b.log" '.event == "aggregate" and .result == "overflow" and .source == "127.0.0.4"' |
	jq -s 'map(.count) | add // 0')
want=$(($(val s1 reset) + $(awk '$1 == "held_from" && $2 == "127.0.0.4" { print 100 - $3 }' "$T/s2.out")))
note "B: $n overflow records for 127.0.0.4 + $agg in aggregates; it was refused $want times"
check "B: at most 100 overflow records for 127.0.0.4 per window ($n)" test "$n" -le 200
check_eq "B: records + aggregate counts = 127.0.0.4's refusals" "$want" "$((n + agg))"
summary
