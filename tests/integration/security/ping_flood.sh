#!/usr/bin/env bash
# serial
# shellcheck disable=SC2154  # records are set by get_record
# ping_flood: a peer holding a valid mesh certificate (identity rogue)
# floods host B's mesh port with PINGs (daemon/proto.h), by hand through
# meshpeer.py. B answers with at most one PONG per flush, for the latest
# PING (coalesced), and queues none while its output is over LINK_OUT_HIGH,
# so what the flood makes B hold is bounded:
#   (a) PINGs as fast as the peer can for 2 s (kernel buffers then hold
#       megabytes of them), then one more, then read: far fewer PONGs than
#       PINGs come back, the last PING is answered with its own payload
#       once B has read up to it, and an unsolicited PONG is ignored;
#   (b) the same without ever reading: B's RSS stays bounded, and B ends the
#       link once the peer answers nothing (TCP_USER_TIMEOUT on the zero
#       window, its PING unanswered for link_timeout, or the stall);
#   (c) a PING of the wrong length, and one for a stream id, each end their
#       link as a protocol error.
# Bounds: B's RSS grows < 16 MiB (64 MiB under ASan); every curl through A
# during the floods is answered within 2 s; B keeps running.
. "$(dirname "$0")/../lib.sh"

case ${ASAN_OPTIONS:-} in
*quarantine_size_mb=*) ;;
*) export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=8" ;;
esac
RSS_BOUND_KB=$((16 * 1024))
if [[ $MESHD == *address* ]]; then RSS_BOUND_KB=$((64 * 1024)); fi

make_certs "$TD" client hello rogue
standard_setup "allow=client, rogue"
start_upstream up http 127.0.0.1 "$BACKPORT"
check_hello "before the floods"

cat >"$T/pinger.py" <<'PY'
import os, socket, ssl, struct, sys, threading, time
sys.path.insert(0, os.environ["PEERDIR"])
import meshpeer
from meshpeer import PING, PONG, frame, read_frame

ca, cert, key, port, mode = sys.argv[1:6]
secs = float(sys.argv[6]) if len(sys.argv) > 6 else 4
s = meshpeer.connect(ca, cert, key, "127.0.0.2", port, "hello")
assert s.selected_alpn_protocol() == "libmesh/2"
ping = lambda v: frame(PING, 0, struct.pack(">Q", v))

def closed(t=15):
    s.settimeout(t)
    t0 = time.time()
    try:
        while read_frame(s) is not None:
            pass
    except socket.timeout:
        return "never"
    except (ssl.SSLError, OSError):
        pass
    return "%.1f" % (time.time() - t0)

if mode == "read":
    # Flood without reading, then the last PING, then read everything:
    # B answers what it read at its own pace (the kernel buffers hold
    # megabytes of PINGs), each flush at most one PONG, the latest.
    s.sendall(frame(PONG, 0, struct.pack(">Q", 12345)))  # unsolicited
    sent, v, deadline = 0, 1, time.time() + secs
    while time.time() < deadline:
        s.sendall(b"".join(ping(v + i) for i in range(256)))
        v += 256
        sent += 256
    s.sendall(ping(0xfeed))
    print("pings", sent + 1)
    t0, pongs, answered = time.time(), 0, False
    s.settimeout(40)
    try:
        while not answered:
            f = read_frame(s)
            if f is None:
                break
            if f[0] == PONG:
                pongs += 1
                answered = struct.unpack(">Q", f[2])[0] == 0xfeed
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    print("pongs", pongs)
    print("answered", answered)
    print("answer_after_s", "%.1f" % (time.time() - t0))
elif mode == "noread":
    s.setblocking(False)
    sent, v, deadline = 0, 1, time.time() + secs
    while time.time() < deadline:
        try:
            s.send(b"".join(ping(v + i) for i in range(256)))
            sent += 256
        except ssl.SSLWantWriteError:
            time.sleep(0.01)
        except (ssl.SSLError, OSError):
            break
        v += 256
    print("port", s.getsockname()[1])
    print("pings", sent, flush=True)
    time.sleep(50)  # and read nothing: B must end the link
elif mode == "short":
    s.sendall(frame(PING, 0, b"short"))
    print("closed", closed())
elif mode == "stream":
    s.sendall(frame(PING, 7, struct.pack(">Q", 1)))
    print("closed", closed())
PY

pinger() { # NAME MODE [SECS]: in the background, output in $T/NAME.out
	local name=$1
	shift
	PEERDIR=$(dirname "$0")/.. spawn "$name" "$T/$name.out" timeout 60 "$PY" "$T/pinger.py" \
		"$T/certs/ca.pem" "$T/certs/rogue.pem" "$T/certs/rogue.key" "$MESHPORT" "$@"
}
rss_b() { awk '/^VmRSS:/ { print $2 }' "/proc/$(meshd_pid b)/status"; }
timed_hello() {
	local t0 ms st=0 body
	t0=$(date +%s%N)
	body=$(mesh_client "${CURL[@]}" --max-time 5 "http://hello:$PORT/") || st=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	check_eq "$1: curl through A gets the upstream's answer ($ms ms)" "hello from upstream" "$body"
	check "$1: within 2 s ($ms ms)" test "$ms" -lt 2000
}
# flood NAME MODE DESC: run it, sample B's RSS and serve A meanwhile.
flood() {
	local name=$1 mode=$2 desc=$3 pid r
	rss0=$(rss_b)
	rss_max=$rss0
	pinger "$name" "$mode" 2
	pid=$LAST_PID
	FLOOD_PID=$pid
	sleep 0.5
	for i in 1 2 3; do
		timed_hello "$desc, request $i"
		r=$(rss_b) && ((r > rss_max)) && rss_max=$r
		sleep 0.3
	done
	while _alive "$pid" && ! grep -q '^pings' "$T/$name.out"; do
		r=$(rss_b) && ((r > rss_max)) && rss_max=$r
		sleep 0.2
	done
	[[ $mode == noread ]] || wait_gone "$pid" 45
	note "$desc: $(tr '\n' ' ' <"$T/$name.out"); B's RSS $rss0 -> max $rss_max KiB"
	check "$desc: B's RSS grew by less than $((RSS_BOUND_KB / 1024)) MiB ($rss0 -> max $rss_max KiB)" \
		test "$((rss_max - rss0))" -lt "$RSS_BOUND_KB"
}

# ---------------------------------------------------------------- (a)
flood flood_a read "(a) PING flood, reading"
pings=$(awk '$1 == "pings" { print $2 }' "$T/flood_a.out")
pongs=$(awk '$1 == "pongs" { print $2 }' "$T/flood_a.out")
check "(a) the peer flooded (more than 50000 PINGs: ${pings:-none})" test "${pings:-0}" -gt 50000
note "(a) the last PING answered $(awk '$1 == "answer_after_s" { print $2 }' "$T/flood_a.out") s after it was sent"
check "(a) B answered, coalesced: some PONGs, fewer than a quarter of the PINGs ($pongs of $pings)" \
	test "${pongs:-0}" -gt 0 -a "$((${pongs:-0} * 4))" -lt "${pings:-0}"
check_eq "(a) the PING after the flood is answered with its payload" "answered True" \
	"$(grep '^answered' "$T/flood_a.out")"

# ---------------------------------------------------------------- (b)
flood flood_b noread "(b) PING flood, never reading"
# B's side of the link is gone once B ended it (TCP_USER_TIMEOUT on a zero
# window, the PING unanswered, or the stall, whichever comes first).
pport=$(awk '$1 == "port" { print $2 }' "$T/flood_b.out")
ended=never
for ((i = 0; i < 400; i++)); do
	if ! ss -Htn state established "( sport = :$MESHPORT and dport = :${pport:-1} )" | grep -q .; then
		ended=$((i / 10))
		break
	fi
	sleep 0.1
done
check "(b) B ended the link that reads nothing, within 40 s of the flood (after ${ended} s)" test "$ended" != never
kill_proc "$FLOOD_PID"

# ---------------------------------------------------------------- (c)
for c in short stream; do
	pinger "bad_$c" "$c"
	wait_gone "$LAST_PID" 20 || true
	closed=$(awk '$1 == "closed" { print $2 }' "$T/bad_$c.out")
	check "(c) a $c PING: B closes the link (after ${closed:-?} s)" \
		awk -v c="${closed:-never}" 'BEGIN { exit !(c != "never" && c + 0 < 5) }'
done
get_record r "$T/b.log" ".result == \"protocol_error\" and (.detail | test(\"PING of 5 bytes\"))"
check_rec "(c) B: the short PING is recorded as a protocol error" "$r" '.direction == "inbound"'
get_record r "$T/b.log" ".result == \"protocol_error\" and (.detail | test(\"PING or PONG for stream id 7\"))"
check_rec "(c) B: the PING for a stream likewise" "$r" '.direction == "inbound"'

timed_hello "after the floods"
check "meshd B is still running" kill -0 "$(meshd_pid b)"
summary
