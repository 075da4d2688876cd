#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# link_protocol: host B's mesh port driven by hand, frame by frame, from a
# python3 TLS client holding a mesh certificate (what a buggy or hostile
# peer inside the trust domain could send). A well-formed stream works (the
# wire format is what proto.h says); a stream for an unknown service gets
# status no_service and the link lives on; an unknown frame type and an
# oversized control frame each end their link with a record naming the
# protocol error for the stream that was open; DATA beyond the stream's
# window is refused the same way. Through it all, host A's programs are
# served.
. "$(dirname "$0")/lib.sh"

# hello2: an upstream that accepts and never reads (small receive buffer),
# so what a peer sends on its stream piles up in meshd B.
hello2_args "$PORT2" "$BACKPORT2"
standard_setup "${HELLO2[@]}"
start_upstream up http 127.0.0.1 "$BACKPORT"
cat >"$T/mute.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
PY
spawn mute "$T/mute.log" "$PY" "$T/mute.py" "$BACKPORT2"
wait_port 127.0.0.1 "$BACKPORT2" 10 || die "mute server did not start"

cat >"$T/peer.py" <<'PY'
import socket, ssl, struct, sys
import meshpeer
from meshpeer import DATA, FIN, RST, OPEN, STATUS, WINDOW, frame

ca, cert, key, port, svc_port, case = sys.argv[1:7]
mute_port = int(sys.argv[7])
s = meshpeer.connect(ca, cert, key, "127.0.0.2", port, "hello")
assert s.selected_alpn_protocol() == "libmesh/2", s.selected_alpn_protocol()

def header(service, conn_id, port=None):
    return meshpeer.header(service, conn_id, port or int(svc_port))

def read_frame():
    return meshpeer.read_frame(s)

def link_closed():
    # True when B ends the link; False when it is still open after 10 s.
    try:
        while True:
            f = read_frame()
            if f is None:
                return True
    except socket.timeout:
        return False
    except (ssl.SSLError, OSError):
        return True

def open_ok(sid, conn_id, service="hello", port=None):
    s.sendall(frame(OPEN, sid, header(service, conn_id, port)))
    t, fsid, p = read_frame()
    assert (t, fsid) == (STATUS, sid), (t, fsid)
    return p[3]

if case == "good":
    print("status", open_ok(1, 0x1111))
    s.sendall(frame(DATA, 1, b"GET / HTTP/1.0\r\nHost: hello\r\n\r\n") + frame(FIN, 1))
    body, fin = b"", False
    while not fin:
        t, sid, p = read_frame()
        if sid != 1:
            continue
        if t == DATA:
            body += p
        fin = t == FIN
    print("body", body.split(b"\r\n\r\n", 1)[1].decode().strip())
    s.sendall(frame(OPEN, 3, header("nosuch", 0x3333)))
    t, sid, p = read_frame()
    print("nosuch", t, sid, p[3])
    print("again", open_ok(5, 0x5555))
elif case == "badtype":
    open_ok(1, 0x6666)
    s.sendall(frame(9, 1, b"x"))
    print("closed", link_closed())
elif case == "bigcontrol":
    open_ok(1, 0x7777)
    s.sendall(frame(OPEN, 3, b"L" * 300))
    print("closed", link_closed())
elif case == "window":
    # hello2's upstream never reads: once the kernel's buffers towards it
    # are full, meshd B gives no more credit, and DATA beyond the 1 MiB
    # window (this peer ignores WINDOW frames) is a protocol error.
    open_ok(1, 0x8888, "hello2", mute_port)
    chunk = b"x" * 16000
    try:
        for _ in range(2000):  # 32 MB, far beyond kernel buffers + window
            s.sendall(frame(DATA, 1, chunk))
    except (ssl.SSLError, OSError):
        pass
    print("closed", link_closed())
PY

peer() { # CASE
	timeout 20 "$PY" "$T/peer.py" "$T/certs/ca.pem" "$T/certs/client.pem" "$T/certs/client.key" \
		"$MESHPORT" "$PORT" "$1" "$PORT2" 2>&1
}

out=$(peer good) || true
note "good: $(tr '\n' ' ' <<<"$out")"
check_eq "a hand-made stream gets status ok (0)" "status 0" "$(grep '^status' <<<"$out")"
check_eq "and the upstream's answer in DATA frames up to FIN" "body hello from upstream" "$(grep '^body' <<<"$out")"
check_eq "an unknown service gets STATUS no_service (4) on its own stream" "nosuch 4 3 4" "$(grep '^nosuch' <<<"$out")"
check_eq "the link lives on: a third stream gets ok" "again 0" "$(grep '^again' <<<"$out")"
get_record r "$T/b.log" '.id == "0000000000001111"'
check_rec "B: the hand-made stream's record is ok, with its bytes" "$r" \
	'.result == "ok" and .bytes_sent > 0 and .bytes_received > 0 and .claimed.program == "peer.py" and (has("program") | not)'
get_record r "$T/b.log" '.id == "0000000000003333"'
check_rec "B: the unknown service is recorded no_endpoint" "$r" '.result == "no_endpoint"'

for c in badtype bigcontrol window; do
	out=$(peer "$c") || true
	check_eq "$c: B closes the link" "closed True" "$(grep '^closed' <<<"$out")"
done
get_record r "$T/b.log" '.id == "0000000000006666"'
check_rec "B: an unknown frame type resets the open stream, saying why" "$r" \
	'.result == "reset" and (.detail | test("unknown frame type"))'
get_record r "$T/b.log" '.id == "0000000000007777"'
check_rec "B: an oversized control frame likewise" "$r" \
	'.result == "reset" and (.detail | test("control frame too long"))'
get_record r "$T/b.log" '.id == "0000000000008888"'
check_rec "B: DATA beyond the window likewise" "$r" \
	'.result == "reset" and (.detail | test("window"))'

check_hello "host A's programs are still served"
check "meshd B is still running" kill -0 "$(meshd_pid b)"

summary
