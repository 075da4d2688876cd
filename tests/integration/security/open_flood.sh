#!/usr/bin/env bash
# serial
# shellcheck disable=SC2154  # records are set by get_record
# open_flood: a peer holding a valid mesh certificate (identity rogue)
# abuses OPEN frames on host B's mesh port (flood_peer.py speaks the frames
# by hand, as link_protocol.sh does). Host A's programs are served during
# each attack and after.
#   (a) OPENs for an unknown service as fast as it can for 4 s, never
#       reading: B does one loop iteration's share of work per link
#       (64 frames) and answers, ends a link that opens nothing but refused
#       streams (more than 1024 in 10 s: protocol_error "too many refused
#       streams"), and writes at most 100 records per (source, result) per
#       10 s, the rest counted in aggregates.
#       Bounds: B's RSS grows < 16 MiB (64 MiB under ASan); B's log gains at
#       most 2 windows x 2 results x 100 records + aggregates + A's records
#       (420 lines, 420 KiB); every curl through A during the flood is
#       answered within 2 s. (Before: ~1.6 KB of RSS per OPEN held until the
#       flood stopped, +720 MiB in 6 s; one record per OPEN, 200 MB of log
#       in 6 s; host A's curl timed out.)
#   (b) 600 streams on one link to an allowed service whose upstream never
#       answers: max_streams_per_link (default 512) are accepted, the rest
#       get STATUS unavailable and an overflow record; the link lives on.
#   (c) a link that stops reading: B stops queueing DATA at 256 KiB, stops
#       reading the link once its queue passes 320 KiB (the peer's writes
#       block), and ends it after 10 s without write progress (a "timeout"
#       record: "the peer read nothing").
. "$(dirname "$0")/../lib.sh"

# Under ASan freed memory waits in a quarantine that is resident; keep it
# small so that the RSS bound means something (a plain meshd ignores it).
case ${ASAN_OPTIONS:-} in
*quarantine_size_mb=*) ;;
*) export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=8" ;;
esac
RSS_BOUND_KB=$((16 * 1024))
if [[ $MESHD == *address* ]]; then RSS_BOUND_KB=$((64 * 1024)); fi

SINKPORT=$((MESHPORT + 7))
make_certs "$TD" client hello rogue
# max_connections_per_peer above the 600 streams of (b): the per-link cap
# is what (b) checks (open_allowed_flood checks the per-peer one). A long
# link_timeout: (c) checks the stall logic, which a link's TCP_USER_TIMEOUT
# (link_timeout, 3 s by default) would otherwise overtake on the zero
# window of a peer that reads nothing (ping_flood covers that ending).
standard_setup "allow=client, rogue" "b_mesh=max_connections_per_peer = 4000
link_timeout = 5m" "b_extra=[service.mute]
ports = $PORT2
upstream = 127.0.0.1:$BACKPORT2
identity = hello
allow = rogue

[service.echo]
ports = $PORT2
upstream = 127.0.0.1:$BACKPORT3
identity = hello
allow = rogue

[service.sink]
ports = $PORT2
upstream = 127.0.0.1:$SINKPORT
identity = hello
allow = rogue"
start_upstream up http 127.0.0.1 "$BACKPORT"
start_upstream echo echo 127.0.0.1 "$BACKPORT3"
# mute: accepts and holds every connection, never reads or answers.
# sink: accepts and resets at once.
cat >"$T/hold.py" <<'PY'
import resource, socket, struct, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(1024)
held = []
while True:
    c, _ = s.accept()
    if mode == "mute":
        held.append(c)
    else:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
PY
spawn mute "$T/mute.log" "$PY" "$T/hold.py" mute "$BACKPORT2"
spawn sink "$T/sink.log" "$PY" "$T/hold.py" sink "$SINKPORT"
wait_port 127.0.0.1 "$BACKPORT2" 10 || die "mute upstream did not start"
wait_port 127.0.0.1 "$SINKPORT" 10 || die "sink upstream did not start"
check_hello "before the floods"

ROGUE=spiffe://$TD/svc/rogue
# peer NAME MODE ARGS...: flood_peer.py as rogue, in the background (its
# output in $T/NAME.out, its pid in LAST_PID).
peer() {
	local name=$1
	shift
	spawn "$name" "$T/$name.out" timeout 60 "$PY" "$(dirname "$0")/flood_peer.py" "$T/certs/ca.pem" \
		"$T/certs/rogue.pem" "$T/certs/rogue.key" "127.0.0.2:$MESHPORT" "$@"
}
rss_b() { awk '/^VmRSS:/ { print $2 }' "/proc/$(meshd_pid b)/status"; }
# timed_hello DESC: check_hello, and within 2 s.
timed_hello() {
	local t0 ms st=0 body
	t0=$(date +%s%N)
	body=$(mesh_client "${CURL[@]}" --max-time 5 "http://hello:$PORT/") || st=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	check_eq "$1: curl through A exits 0 ($ms ms)" 0 "$st"
	check_eq "$1: and gets the upstream's answer" "hello from upstream" "$body"
	check "$1: within 2 s ($ms ms)" test "$ms" -lt 2000
}

# ---------------------------------------------------------------- (a)
rss0=$(rss_b)
mark=$(since "$T/b.log")
bytes0=$(stat -c %s "$T/b.log")
peer flood open_flood 4 nosuch "$PORT"
flood_pid=$LAST_PID
rss_max=$rss0
sleep 0.5
for i in 1 2 3 4 5; do
	timed_hello "(a) during the OPEN flood, request $i"
	r=$(rss_b) && ((r > rss_max)) && rss_max=$r
	sleep 0.3
done
while _alive "$flood_pid"; do
	r=$(rss_b) && ((r > rss_max)) && rss_max=$r
	sleep 0.2
done
note "(a) flood: $(tr '\n' ' ' <"$T/flood.out")"
note "(a) B's RSS $rss0 -> max $rss_max KiB"
check "(a) the peer flooded (more than 100000 OPENs sent)" \
	test "$(awk '$1 == "opens" { print $2 }' "$T/flood.out")" -gt 100000
check "(a) B ended the peer's links (more than one)" \
	test "$(awk '$1 == "ended" { print $2 }' "$T/flood.out")" -gt 1
check "(a) B's RSS grew by less than $((RSS_BOUND_KB / 1024)) MiB ($rss0 -> max $rss_max KiB)" \
	test "$((rss_max - rss0))" -lt "$RSS_BOUND_KB"
get_record r "$T/b.log" ".event == \"close\" and .result == \"protocol_error\" and .source == \"$ROGUE\""
check_rec "(a) B: the link is ended as a protocol error, saying why" "$r" \
	'.detail | test("too many refused streams")'
timed_hello "(a) after the OPEN flood"
sleep 0.5
mark_a=$(since "$T/b.log")
bytes_a=$(stat -c %s "$T/b.log")

# ---------------------------------------------------------------- (b)
peer held open_held 600 1 mute "$PORT2" 30
held_pid=$LAST_PID
wait_grep "$T/held.out" '^links_closed' 30 || true
note "(b) $(tr '\n' ' ' <"$T/held.out")"
check_eq "(b) 512 streams (max_streams_per_link) are accepted" "status 0 512" \
	"$(grep '^status 0 ' "$T/held.out")"
check_eq "(b) the 88 beyond get STATUS unavailable (7)" "status 7 88" \
	"$(grep '^status 7 ' "$T/held.out")"
check_eq "(b) the link lives on" "links_closed 0" "$(grep '^links_closed' "$T/held.out")"
get_record r "$T/b.log" ".result == \"overflow\" and .service == \"mute\""
check_rec "(b) B: a refused one is recorded overflow, naming the limit" "$r" \
	'.source == "spiffe://mesh.test/svc/rogue" and (.detail | test("max_streams_per_link"))'
timed_hello "(b) while the peer holds 512 streams"
kill_proc "$held_pid"

# ---------------------------------------------------------------- (c)
rss0=$(rss_b)
peer noread no_read echo "$PORT2" sink "$PORT2"
noread_pid=$LAST_PID
rss_max=$rss0
wait_grep "$T/noread.out" '^paused' 30 || true
timed_hello "(c) while B holds the link that does not read"
while _alive "$noread_pid"; do
	r=$(rss_b) && ((r > rss_max)) && rss_max=$r
	sleep 0.2
done
note "(c) $(tr '\n' ' ' <"$T/noread.out")"
note "(c) B's RSS $rss0 -> max $rss_max KiB"
check_eq "(c) the echo stream is accepted" "status 0" "$(grep '^status' "$T/noread.out")"
check_eq "(c) B stops reading the link (the peer's writes block)" "paused True" \
	"$(grep '^paused ' "$T/noread.out")"
ended=$(awk '$1 == "ended_after_s" { print $2 }' "$T/noread.out")
# (counted from when our writes stopped: they block 3 s after B stopped
# reading, which is when its 10 s without progress start)
check "(c) B ends the link within 10 s of the stall + margin ($ended s after our writes blocked)" \
	awk -v e="$ended" 'BEGIN { exit !(e != "never" && e + 0 <= 12) }'
check "(c) B's RSS grew by less than $((RSS_BOUND_KB / 1024)) MiB ($rss0 -> max $rss_max KiB)" \
	test "$((rss_max - rss0))" -lt "$RSS_BOUND_KB"
get_record r "$T/b.log" ".result == \"timeout\" and .source == \"$ROGUE\" and (.detail | test(\"read nothing\"))"
check_rec "(c) B: the ended link has a timeout record" "$r" '.direction == "inbound"'
timed_hello "(c) after"
check "meshd B is still running" kill -0 "$(meshd_pid b)"

# (a)'s log: what it wrote while it lasted, and its aggregates, which are
# written when their window ends (during (b) or (c)) or at exit.
stop_meshd b
agg_a=$(records "$T/b.log" ".event == \"aggregate\" and .source == \"$ROGUE\" and
	(.result == \"no_endpoint\" or .result == \"protocol_error\")")
lines=$((mark_a - mark + $(grep -c . <<<"$agg_a")))
bytes=$((bytes_a - bytes0 + $(wc -c <<<"$agg_a")))
refused=$(records "$T/b.log" ".event == \"close\" and .result == \"no_endpoint\" and .source == \"$ROGUE\"" "$mark" |
	grep -c . || true)
refused_agg=$(jq -s 'map(select(.result == "no_endpoint") | .count) | add // 0' <<<"$agg_a")
note "(a) B's log: $lines lines, $bytes bytes; $refused no_endpoint records + $refused_agg in aggregates"
check "(a) B answered more than 10000 of the refused OPENs" test "$((refused + refused_agg))" -gt 10000
check "(a) at most 100 no_endpoint records per 10 s window for the peer ($refused)" test "$refused" -le 200
check "(a) B's log grew by at most 420 lines ($lines)" test "$lines" -le 420
check "(a) B's log grew by at most 420 KiB ($bytes bytes)" test "$bytes" -le $((420 * 1024))
summary
