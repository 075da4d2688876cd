#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# peer_caller: the CALLER frame (libmesh/4, daemon/proto.h) is the calling
# host's claim of its caller's pid and program, once per stream, and B
# takes nothing else. A python3 TLS peer holding client's certificate:
# - one CALLER after the OPEN: B's records keep it under "claimed" (pid
#   4242, its program), never top-level, and serve the stream as usual;
# - a second CALLER for the same stream, a program of 64 bytes (one over),
#   a length that does not match, a control character in the program, or
#   pid 0: each ends the link as a protocol error, and the open stream's
#   record says why;
# - a CALLER for a stream never opened, or after the peer's FIN on its
#   stream: dropped, the link lives on, and the stream's record claims
#   nothing the dropped frame said;
# - a CALLER on a link that agreed on libmesh/3: an unknown frame type there,
#   the link ends.
# Host A's programs are served throughout.
. "$(dirname "$0")/../lib.sh"

standard_setup b_mesh="progress_interval = 1s"
start_upstream up http 127.0.0.1 "$BACKPORT"

cat >"$T/peer.py" <<'PY'
import socket, ssl, sys, time
import meshpeer
from meshpeer import DATA, FIN, OPEN, STATUS, PING, PONG, CALLER, caller, frame, header, read_frame

ca, cert, key, port, svc_port, case = sys.argv[1:7]
alpn = "libmesh/3" if case == "v3" else "libmesh/4"
s = meshpeer.connect(ca, cert, key, "127.0.0.2", port, "hello",
                     ctx=meshpeer.context(ca, cert, key, [alpn]))
print("alpn", s.selected_alpn_protocol())
s.settimeout(2)

def open_ok(sid, conn_id):
    s.sendall(frame(OPEN, sid, header("hello", conn_id, svc_port)))
    t, fsid, p = read_frame(s)
    assert (t, fsid) == (STATUS, sid), (t, fsid)
    return p[3]

def request(sid, wait=0.0, after_fin=b""):
    s.sendall(frame(DATA, sid, b"GET / HTTP/1.0\r\n"))
    time.sleep(wait)
    s.sendall(frame(DATA, sid, b"Host: hello\r\n\r\n") + frame(FIN, sid) + after_fin)
    body, fin = b"", False
    while not fin:
        f = read_frame(s)
        if f is None:
            return "closed"
        t, fsid, p = f
        if fsid != sid:
            continue
        if t == DATA:
            body += p
        fin = t == FIN
    return body.split(b"\r\n\r\n", 1)[-1].decode().strip()

def link_closed():
    # True when B ends the link within 2 s; PINGs are answered meanwhile
    # (B ends a link that stops answering them after link_timeout).
    t0 = time.time()
    try:
        while time.time() - t0 < 2:
            f = read_frame(s)
            if f is None:
                return True
            if f[0] == PING:
                s.sendall(frame(PONG, 0, f[2]))
    except socket.timeout:
        return False
    except (ssl.SSLError, OSError):
        return True
    return False

bad = {
    "twice": frame(CALLER, 1, caller(4242, "peer.py")) + frame(CALLER, 1, caller(4242, "peer.py")),
    "long": frame(CALLER, 1, caller(4242, "x" * 64)),
    "mismatch": frame(CALLER, 1, caller(4242, "peer.py", prog_len=3)),
    "control": frame(CALLER, 1, caller(4242, "ev\x1b[31mil")),
    "pidzero": frame(CALLER, 1, caller(0, "peer.py")),
    "v3": frame(CALLER, 1, caller(4242, "peer.py")),
}
ids = {"twice": 0xca11e20000000002, "long": 0xca11e20000000003, "mismatch": 0xca11e20000000004,
       "control": 0xca11e20000000005, "pidzero": 0xca11e20000000006, "v3": 0xca11e20000000007}

if case == "good":
    print("status", open_ok(1, 0xca11e20000000001))
    s.sendall(frame(CALLER, 1, caller(4242, "claimed-prog")))
    print("body", request(1, wait=1.5))
elif case == "dropped":
    # A CALLER for stream 9, never opened: dropped.
    s.sendall(frame(CALLER, 9, caller(4243, "nobody")))
    print("status", open_ok(1, 0xca11e20000000008))
    # One after our FIN on stream 1: dropped too.
    print("body", request(1, after_fin=frame(CALLER, 1, caller(4244, "late"))))
    print("again", open_ok(3, 0xca11e20000000009))
    print("body3", request(3))
    print("closed", link_closed())
else:
    print("status", open_ok(1, ids[case]))
    s.sendall(bad[case])
    print("closed", link_closed())
PY

peer() { # CASE
	PYTHONPATH=$(dirname "$0")/.. timeout 30 "$PY" "$T/peer.py" "$T/certs/ca.pem" \
		"$T/certs/client.pem" "$T/certs/client.key" "$MESHPORT" "$PORT" "$1" 2>&1
}

out=$(peer good) || true
note "good: $(tr '\n' ' ' <<<"$out")"
check_eq "a libmesh/4 peer gets libmesh/4, its stream ok, and the answer" \
	"alpn libmesh/4
status 0
body hello from upstream" "$out"
get_record r "$T/b.log" '.event == "close" and .id == "ca11e20000000001"'
check_rec "B: the CALLER's pid and program are claims (the header claimed no uid)" "$r" \
	'.result == "ok" and .claimed == {"pid": 4242, "program": "claimed-prog"}'
check_rec "B: no top-level pid or program" "$r" '(has("pid") or has("program")) | not'
get_record r "$T/b.log" '.event == "progress" and .id == "ca11e20000000001"'
check_rec "B: its progress record claims them too" "$r" \
	'.claimed.pid == 4242 and .claimed.program == "claimed-prog"'

for c in twice long mismatch control pidzero; do
	out=$(peer "$c") || true
	check_eq "$c: status ok, then B ends the link" "alpn libmesh/4
status 0
closed True" "$out"
done
why() { # ID REGEX DESC [CLAIMED_PID]: the stream's record
	get_record r "$T/b.log" ".event == \"close\" and .id == \"$1\""
	check_rec "B: $3" "$r" ".result == \"reset\" and (.detail | test(\"$2\")) and .claimed.pid == ${4:-null}"
}
why ca11e20000000002 "second CALLER for stream 1" \
	"a second CALLER resets the stream, saying why (the first, well-formed, stays claimed)" 4242
why ca11e20000000003 "malformed CALLER" "a 64-byte program likewise"
why ca11e20000000004 "malformed CALLER" "a length that does not match likewise"
why ca11e20000000005 "malformed CALLER" "a control character likewise (nothing of it recorded)"
why ca11e20000000006 "malformed CALLER" "pid 0 likewise"

out=$(peer dropped) || true
note "dropped: $(tr '\n' ' ' <<<"$out")"
check_eq "CALLERs for a stream never opened and after FIN are dropped; the link lives on" \
	"alpn libmesh/4
status 0
body hello from upstream
again 0
body3 hello from upstream
closed False" "$out"
get_record r "$T/b.log" '.event == "close" and .id == "ca11e20000000008"'
check_rec "B: the stream claims no pid (the late CALLER was dropped)" "$r" \
	'.result == "ok" and .claimed.pid == null and .claimed.program == "peer.py"'

out=$(peer v3) || true
check_eq "v3: a libmesh/3 link, status ok, then the CALLER ends it" "alpn libmesh/3
status 0
closed True" "$out"
why ca11e20000000007 "unknown frame type" "a CALLER on libmesh/3 is an unknown frame type"

check_hello "host A's programs are still served"
check "meshd B is still running" kill -0 "$(meshd_pid b)"
summary
