#!/usr/bin/env bash
# shellcheck disable=SC2154  # records are set by get_record
# open_allowed_flood: a peer holding a valid mesh certificate (identity
# rogue, allowed on service mute) opens 1,500 streams over 3 links, each of
# which costs host B an upstream socket (mute's upstream holds every
# connection and never answers). meshd B runs with 1,024 descriptors
# (prlimit), so that the descriptor reserve (1024/16 = 64) is in play.
#   1. max_connections_per_peer = 100 (links and streams of one peer
#      identity): 97 streams are accepted (100 less the 3 links), the 1,403
#      beyond get STATUS unavailable and overflow records (aggregated: at
#      most 100 per 10 s). Bound: B holds at most 100 descriptors for rogue:
#      descriptors <= baseline + 100 + 10. Host A (identity client, its own
#      quota) is served meanwhile. Once rogue lets go, its quota is back:
#      99 accepted on one link. 150 links without streams: 100 are kept,
#      the rest closed (overflow). (Before: all 1,500 got an upstream
#      socket until B ran out of descriptors, 1,024, and every other
#      caller was refused.)
#   2. max_connections_per_peer = 4000 (reload): now the descriptor reserve
#      stops it: no descriptor numbered 960 or above is used for an
#      upstream, the rest are refused (overflow, "reserve"), a reload still
#      works meanwhile, and A is served again once rogue lets go.
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello rogue
MUTE="[service.mute]
ports = $PORT2
upstream = 127.0.0.1:$BACKPORT2
identity = hello
allow = rogue"
write_confs "b_mesh=max_connections_per_peer = 100" "b_extra=$MUTE"
start_meshd a "$T/a.ini"
# meshd B with 1,024 descriptors: prlimit sets the limit and execs meshd.
cat >"$T/meshd-1024" <<EOF
#!/bin/sh
exec prlimit --nofile=1024:1024 "$MESHD" "\$@"
EOF
chmod 755 "$T/meshd-1024"
REAL_MESHD=$MESHD
MESHD=$T/meshd-1024 start_meshd b "$T/b.ini"
MESHD=$REAL_MESHD
check_eq "meshd B runs with 1024 descriptors" 1024 \
	"$(awk '/^Max open files/ { print $4 }' "/proc/$(meshd_pid b)/limits")"
start_upstream up http 127.0.0.1 "$BACKPORT"
cat >"$T/mute.py" <<'PY'
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1024)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
PY
spawn mute "$T/mute.log" "$PY" "$T/mute.py" "$BACKPORT2"
wait_port 127.0.0.1 "$BACKPORT2" 10 || die "mute upstream did not start"
check_hello "before the flood"

ROGUE=spiffe://$TD/svc/rogue
fds_b() { find "/proc/$(meshd_pid b)/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# held NAME N LINKS: rogue opens N streams to mute over LINKS links and
# holds them (its output in $T/NAME.out); waits until all are answered.
held() {
	spawn "$1" "$T/$1.out" timeout 60 "$PY" "$(dirname "$0")/flood_peer.py" "$T/certs/ca.pem" \
		"$T/certs/rogue.pem" "$T/certs/rogue.key" "127.0.0.2:$MESHPORT" open_held "$2" "$3" \
		mute "$PORT2" 60
	HELD_PID=$LAST_PID
	wait_grep "$T/$1.out" '^links_closed' 40 || true
	note "$1: $(tr '\n' ' ' <"$T/$1.out")"
}
status_count() { awk -v c="$2" '$1 == "status" && $2 == c { print $3 }' "$T/$1.out"; }
# wait_fds_below N: until B holds fewer than N descriptors (rogue's streams
# are over once its links are gone).
wait_fds_below() {
	local i
	for ((i = 0; i < 100; i++)); do
		(($(fds_b) < $1)) && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- 1
fd0=$(fds_b)
held p1 1500 3
fd1=$(fds_b)
note "B's descriptors: $fd0 before, $fd1 while rogue holds its streams"
check_eq "1: 97 of rogue's streams are accepted (max_connections_per_peer, less 3 links)" 97 \
	"$(status_count p1 0)"
check_eq "1: the 1403 beyond get STATUS unavailable (7)" 1403 "$(status_count p1 7)"
check_eq "1: no link is ended for it" "links_closed 0" "$(grep '^links_closed' "$T/p1.out")"
check "1: B holds at most 100 descriptors for rogue ($fd0 -> $fd1, bound +110)" \
	test "$fd1" -le $((fd0 + 110))
check "1: and does hold them (at least +100)" test "$fd1" -ge $((fd0 + 100))
get_record r "$T/b.log" ".result == \"overflow\" and .source == \"$ROGUE\""
check_rec "1: B records a refused one as overflow, naming the limit" "$r" \
	'.service == "mute" and (.detail | test("max_connections_per_peer"))'
check_hello "1: host A's request while rogue is at its quota"
kill_proc "$HELD_PID"
check "1: B lets go of rogue's upstream sockets" wait_fds_below $((fd0 + 10))
held p1b 150 1
check_eq "1: rogue's quota is back once its streams ended: 99 accepted on one link" 99 \
	"$(status_count p1b 0)"
check_eq "1: and 51 refused" 51 "$(status_count p1b 7)"
kill_proc "$HELD_PID"
wait_fds_below $((fd0 + 10)) || true
# Idle links count too: a peer cannot hold descriptors with links alone.
spawn idle "$T/idle.out" timeout 60 "$PY" "$(dirname "$0")/flood_peer.py" "$T/certs/ca.pem" \
	"$T/certs/rogue.pem" "$T/certs/rogue.key" "127.0.0.2:$MESHPORT" links 150 30
idle_pid=$LAST_PID
wait_grep "$T/idle.out" '^links_refused' 30 || true
fd1=$(fds_b)
note "idle: $(tr '\n' ' ' <"$T/idle.out"); B's descriptors $fd1"
check_eq "1: of 150 idle links, 100 are kept" "links_held 100" "$(grep '^links_held' "$T/idle.out")"
check "1: B's descriptors stay <= baseline + 110 ($fd0 -> $fd1)" test "$fd1" -le $((fd0 + 110))
get_record r "$T/b.log" ".result == \"overflow\" and .source == \"$ROGUE\" and (.detail | test(\"link from\"))"
check_rec "1: a refused link has an overflow record" "$r" '.detail | test("max_connections_per_peer")'
check_hello "1: host A's request while rogue holds 100 idle links"
kill_proc "$idle_pid"
wait_fds_below $((fd0 + 10)) || true

# ---------------------------------------------------------------- 2
write_confs "b_mesh=max_connections_per_peer = 4000" "b_extra=$MUTE"
reload_hosts "reloads with max_connections_per_peer = 4000" b
held p2 1500 3
fd2=$(fds_b)
maxfd=$(find "/proc/$(meshd_pid b)/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -n 1)
note "B's descriptors while rogue holds its streams: $fd2, highest $maxfd"
acc=$(status_count p2 0) ref=$(status_count p2 7)
check "2: rogue gets most of its streams now (more than 800: $acc)" test "${acc:-0}" -gt 800
check_eq "2: the rest are refused (unavailable)" 1500 "$((acc + ref))"
check "2: no descriptor at or above the reserve, 960, is held (highest $maxfd)" test "$maxfd" -lt 960
# (Their records may all be in an aggregate: rogue used its burst in 1.)
get_record r "$T/b.log" ".source == \"$ROGUE\" and (.detail | test(\"reserve\"))"
check_rec "2: B records those as overflow: the descriptor reserve" "$r" '.result == "overflow"'
reload_hosts "reloads while rogue holds every descriptor but the reserve" b
check "meshd B is still running" kill -0 "$(meshd_pid b)"
kill_proc "$HELD_PID"
wait_fds_below $((fd0 + 10)) || true
check_hello "2: host A's request once rogue let go"

# Every refusal is either a record or counted in an aggregate (written at
# the latest at exit).
stop_meshd b
n=$(count_records "$T/b.log" ".event == \"close\" and .result == \"overflow\" and .source == \"$ROGUE\"")
agg=$(records "$T/b.log" ".event == \"aggregate\" and .result == \"overflow\" and .source == \"$ROGUE\"" |
	jq -s 'map(.count) | add // 0')
want=$(($(status_count p1 7) + $(status_count p1b 7) + ${ref:-0} +
	$(awk '$1 == "links_refused" { print $2 }' "$T/idle.out")))
note "B: $n overflow records for rogue + $agg in aggregates; rogue was refused $want times"
check_eq "B: overflow records + aggregate counts = rogue's refusals" "$want" "$((n + agg))"
check "B: at most 100 overflow records per 10 s window ($n)" test "$n" -le 300
summary
