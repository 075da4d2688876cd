#!/usr/bin/env bash
# link_versions: hosts can be upgraded one at a time. A meshd offers ALPN
# libmesh/4 (libmesh/3 with CALLER frames: records_caller.sh) and
# libmesh/3 (links with PING/PONG) and still accepts libmesh/2 (the same
# protocol without them, what a meshd from before live links speaks). A
# peer with a valid certificate offering only libmesh/2 gets it and is
# never sent a PING (an older meshd would end the link on an unknown frame
# type), and its quiet link stays open; a peer offering libmesh/3 gets
# that, is sent PINGs while the link is quiet (link_timeout 1s: one within
# about a third of it), and, answering them, keeps its link. Neither
# makes B's loop spin: B's threads wake up fewer than 300 times while
# either peer holds its quiet link for 3.5 s (a timer re-armed at 1 ms,
# as a link with no PING to send once had, woke it about 3,500 times).
. "$(dirname "$0")/lib.sh"

make_certs "$TD" client hello
write_confs b_mesh="link_timeout = 1s"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

cat >"$T/peer.py" <<'PY'
import os, socket, ssl, struct, sys, time
sys.path.insert(0, os.environ["PEERDIR"])
import meshpeer
from meshpeer import PING, PONG, frame, read_frame

ca, cert, key, port, offer = sys.argv[1:6]
ctx = meshpeer.context(ca, cert, key, offer.split(","))
s = meshpeer.connect(ca, cert, key, "127.0.0.2", port, "hello", ctx=ctx)
print("alpn", s.selected_alpn_protocol())
s.settimeout(0.2)
pings, first, t0 = 0, None, time.time()
while time.time() - t0 < 3.5:
    try:
        f = read_frame(s)
    except socket.timeout:
        continue
    except (ssl.SSLError, OSError) as e:
        print("closed", type(e).__name__)
        break
    if f is None:
        print("closed eof")
        break
    if f[0] == PING:
        pings += 1
        if first is None:
            first = time.time() - t0
        s.sendall(frame(PONG, 0, f[2]))
else:
    print("open")
print("pings", pings)
print("first %.2f" % first if first is not None else "first none")
PY
peer() { PEERDIR=$(dirname "$0") timeout 20 "$PY" "$T/peer.py" "$T/certs/ca.pem" \
	"$T/certs/client.pem" "$T/certs/client.key" "$MESHPORT" "$1" 2>&1; }

wakeups() { awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s }' /proc/"$(meshd_pid b)"/task/*/status; }
w0=$(wakeups)
out=$(peer libmesh/2)
w1=$(wakeups)
note "libmesh/2 peer: $(tr '\n' ' ' <<<"$out")"
check "B does not spin for it ($((w1 - w0)) wakeups in 3.5 s)" test "$((w1 - w0))" -lt 300
check "a libmesh/2 peer gets libmesh/2" grep -qx 'alpn libmesh/2' <<<"$out"
check "it is sent no PING in 3.5 s" grep -qx 'pings 0' <<<"$out"
check "and its quiet link stays open" grep -qx 'open' <<<"$out"

w0=$(wakeups)
out=$(peer libmesh/3,libmesh/2)
w1=$(wakeups)
note "libmesh/3 peer: $(tr '\n' ' ' <<<"$out")"
check "B does not spin for it either ($((w1 - w0)) wakeups in 3.5 s)" test "$((w1 - w0))" -lt 300
check "a peer offering libmesh/3 gets it" grep -qx 'alpn libmesh/3' <<<"$out"
pings=$(awk '$1 == "pings" { print $2 }' <<<"$out")
check "it is sent PINGs while quiet (${pings:-0} in 3.5 s, about 3 a second)" test "${pings:-0}" -ge 5
first=$(awk '$1 == "first" { print $2 }' <<<"$out")
check "the first within 1 s (link_timeout/3 of silence: ${first:-none} s)" \
	awk -v f="${first:-9}" 'BEGIN { exit !(f < 1.0) }'
check "answering them, it keeps its link" grep -qx 'open' <<<"$out"
check_hello "B still serves A"
summary
