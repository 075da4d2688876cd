# flood_peer.py: a hostile peer of host B's mesh port, for the security
# scenarios (open_flood, open_allowed_flood, handshake_flood, window_wrap).
# It holds a mesh certificate and speaks the frames of daemon/proto.h by
# hand, as tests/integration/link_protocol.sh does, or holds plain TCP
# connections that never send a byte. Every mode prints "key value" lines
# for the scenario to check.
#
#   flood_peer.py CA CERT KEY HOST:PORT MODE ARGS...
#   open_flood SECS SERVICE SVC_PORT   OPENs as fast as possible, never read;
#                                      a new link each time B ends one
#   open_held N LINKS SERVICE SVC_PORT HOLD_SECS
#                                      N OPENs spread over LINKS links, read
#                                      every STATUS, hold the streams
#   links N HOLD_SECS                  N links without a stream, held
#   handshake N BIND[,BIND...] HOLD_SECS
#                                      N TCP connections from each address
#                                      BIND (taking turns) that never send
#                                      a byte
# Environment: BIND=ADDR makes the TLS links come from ADDR.
#   window_wrap SERVICE SVC_PORT       WINDOW credit that would wrap 2^32
#   stream0 SERVICE SVC_PORT           a frame for stream id 0
#   reuse_id SERVICE SVC_PORT          an OPEN for an id already in use
#   old_id SERVICE SVC_PORT            an OPEN for an id below the last one
#   no_read ECHO_SVC ECHO_PORT SINK_SVC SINK_PORT
#                                      a link that stops reading: a stream to
#                                      an echo upstream fills B's queue, then
#                                      streams that are accepted and reset,
#                                      then filler; reports whether B stopped
#                                      reading and when it ended the link
import os, resource, select, socket, ssl, struct, sys, time
import meshpeer
from meshpeer import DATA, FIN, RST, OPEN, STATUS, WINDOW, frame, read_frame, recv_exact

ca, cert, key, target, mode = sys.argv[1:6]
args = sys.argv[6:]
host, port = target.rsplit(":", 1)
port = int(port)

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


CTX = meshpeer.context(ca, cert, key)


def link(timeout=10, bind=os.environ.get("BIND")):
    s = meshpeer.connect(ca, cert, key, host, port, "hello", timeout, ctx=CTX, bind=bind)
    assert s.selected_alpn_protocol() == "libmesh/2"
    return s


def header(service, conn_id, svc_port):
    return meshpeer.header(service, conn_id, svc_port, program="flood_peer")


def link_closed(s, secs=10):
    """True when B ends the link within secs; False when it stays open."""
    s.settimeout(secs)
    try:
        while True:
            if read_frame(s) is None:
                return True
    except socket.timeout:
        return False
    except (ssl.SSLError, OSError):
        return True


def open_flood(secs, service, svc_port):
    # Never reads: B's answers pile up in the kernel, then in meshd B,
    # unless B stops reading from a link that does not read.
    deadline = time.time() + secs
    opens = links = ended = stalled = failed = 0
    sid = 1
    while time.time() < deadline:
        try:
            s = link(timeout=3)
        except (OSError, ssl.SSLError):
            failed += 1
            time.sleep(0.05)
            continue
        links += 1
        sid = 1
        try:
            while time.time() < deadline:
                batch = b"".join(frame(OPEN, sid + 2 * i, header(service, sid + 2 * i, svc_port))
                                 for i in range(256))
                s.sendall(batch)
                opens += 256
                sid += 512
        except socket.timeout:
            stalled += 1  # B stopped reading this link
        except (ssl.SSLError, OSError):
            ended += 1    # B ended the link
        try:
            s.close()
        except OSError:
            pass
    print("opens", opens)
    print("links", links)
    print("ended", ended)
    print("stalled", stalled)
    print("connect_failed", failed)


def open_held(n, nlinks, service, svc_port, hold):
    per = (n + nlinks - 1) // nlinks
    codes = {}
    links_closed = 0
    sent = 0
    # Every link first: their handshakes come before the streams.
    socks = [link() for _ in range(nlinks)]
    for li in range(nlinks):
        s = socks[li]
        want = min(per, n - sent)
        ids = [1 + 2 * i for i in range(want)]
        # In batches: each OPEN of the batch is sent, then every STATUS read.
        for b in range(0, len(ids), 64):
            chunk = ids[b:b + 64]
            s.sendall(b"".join(frame(OPEN, i, header(service, (li << 20) | i, svc_port))
                               for i in chunk))
            got = 0
            try:
                while got < len(chunk):
                    f = read_frame(s)
                    if f is None:
                        raise OSError("link closed")
                    t, sid, p = f
                    if t == STATUS:
                        codes[p[3]] = codes.get(p[3], 0) + 1
                        got += 1
            except (OSError, ssl.SSLError):
                links_closed += 1
                break
        sent += want
    print("sent", sent)
    for c in sorted(codes):
        print("status", c, codes[c])
    print("links_closed", links_closed)
    sys.stdout.flush()
    time.sleep(hold)


def links(n, hold):
    # Idle links: B sends nothing on one (no session tickets), so a link
    # that is readable has been closed by B.
    socks, failed = [], 0
    for _ in range(n):
        try:
            socks.append(link())
        except (OSError, ssl.SSLError):
            failed += 1
    time.sleep(0.5)
    held = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1)
        except ssl.SSLWantReadError:
            held += 1
        except (OSError, ssl.SSLError):
            pass
    print("links_held", held)
    print("links_refused", n - held)
    sys.stdout.flush()
    time.sleep(hold)


def handshake(n, binds, hold):
    # Plain TCP, never a byte: what costs B a descriptor and a handshake
    # slot until its handshake timeout.
    socks = {}   # fd -> (socket, connect time)
    refused = 0
    early_reset = 0
    errors = {}
    for i in range(n * len(binds)):
        c = socket.socket()
        c.settimeout(3)
        c.bind((binds[i % len(binds)], 0))
        try:
            c.connect((host, port))
            socks[c.fileno()] = (c, time.time())
        except ConnectionResetError:
            early_reset += 1  # B's RST came before connect() returned
            c.close()
        except OSError as e:
            refused += 1
            errors[str(e)] = errors.get(str(e), 0) + 1
            c.close()
    time.sleep(0.3)
    # B closes what it refuses at once (RST): readable, with an error.
    # (poll: more than 1024 descriptors.)
    p = select.poll()
    for fd in socks:
        p.register(fd, select.POLLIN)
    reset = early_reset
    for fd, _ in p.poll(0):
        c, _ = socks.pop(fd)
        p.unregister(fd)
        c.close()
        reset += 1
    print("connected", len(socks) + reset)
    print("refused", refused)
    for e in errors:
        print("error", errors[e], e)
    print("reset", reset)
    print("held", len(socks))
    for b in binds:
        print("held_from", b, sum(1 for c, _ in socks.values() if c.getsockname()[0] == b))
    sys.stdout.flush()
    # The held ones: B closes each at its handshake timeout.
    t0 = time.time()
    waits = []
    while socks and time.time() - t0 < hold:
        for fd, _ in p.poll(100):
            c, t = socks.pop(fd)
            p.unregister(fd)
            waits.append(time.time() - t)
            c.close()
    print("closed_by_b", len(waits))
    print("still_open", len(socks))
    print("longest_s", "%.2f" % (max(waits) if waits else -1))
    print("shortest_s", "%.2f" % (min(waits) if waits else -1))


def open_ok(s, sid, service, svc_port):
    s.sendall(frame(OPEN, sid, header(service, 0x5000 + sid, svc_port)))
    t, fsid, p = read_frame(s)
    assert (t, fsid) == (STATUS, sid), (t, fsid)
    return p[3]


def bad_frame(service, svc_port, what):
    s = link()
    print("status", open_ok(s, 1, service, svc_port))
    if what == "window_wrap":
        # B has 1 MiB of credit on stream 1; 0xffffffff more wraps a u32.
        s.sendall(frame(WINDOW, 1, struct.pack(">I", 0xffffffff)))
    elif what == "stream0":
        s.sendall(frame(FIN, 0))
    elif what == "reuse_id":
        s.sendall(frame(OPEN, 1, header(service, 0x5001, svc_port)))
    elif what == "old_id":
        print("status5", open_ok(s, 5, service, svc_port))
        s.sendall(frame(OPEN, 3, header(service, 0x5003, svc_port)))
    print("closed", link_closed(s))


def no_read(echo_svc, echo_port, sink_svc, sink_port):
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect((host, port))
    s = CTX.wrap_socket(raw, server_hostname="hello")
    # Six streams to the echo upstream: what comes back is more than the
    # kernel's buffers take (~3 MB), so B queues the rest for us.
    codes = set(open_ok(s, i, echo_svc, echo_port) for i in range(1, 13, 2))
    print("status", *sorted(codes))
    # From here on nothing is read. Each stream within its 1 MiB window.
    t0 = time.time()
    s.settimeout(3)
    chunk = b"x" * 16000
    paused = False
    try:
        for _ in range(65):
            s.sendall(b"".join(frame(DATA, i, chunk) for i in range(1, 13, 2)))
        # Time for the echo to come back and fill B's queue with DATA.
        time.sleep(1.5)
        # Streams B accepts and whose upstream resets them at once: a
        # STATUS and a RST each for B to queue (control frames: not held
        # back like DATA), and no refusal; then filler for a stream that
        # does not exist, which B reads and drops unless it stopped
        # reading. Repeated until B stops reading (our writes block) or
        # 20 s pass: on a loaded machine the echo may come back late.
        sid = 13
        while time.time() - t0 < 20:
            ids = [sid + 2 * i for i in range(256)]
            sid += 512
            s.sendall(b"".join(frame(OPEN, i, header(sink_svc, i, sink_port)) for i in ids))
            for _ in range(200):
                s.sendall(frame(DATA, 0x7ffffff1, chunk))
    except socket.timeout:
        paused = True
    except (ssl.SSLError, OSError) as e:
        print("error", e)
    print("paused", paused)
    t_pause = time.time()
    print("paused_after_s", "%.1f" % (t_pause - t0))
    sys.stdout.flush()
    # B ends the link with a RST (it has our unread bytes): TCP_INFO's
    # first byte is the state, 7 = TCP_CLOSE.
    closed = None
    while time.time() - t_pause < 30:
        st = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        if st == 7:
            closed = time.time() - t_pause
            break
        time.sleep(0.1)
    print("ended_after_s", "%.1f" % closed if closed is not None else "never")


if mode == "open_flood":
    open_flood(float(args[0]), args[1], int(args[2]))
elif mode == "open_held":
    open_held(int(args[0]), int(args[1]), args[2], int(args[3]), float(args[4]))
elif mode == "links":
    links(int(args[0]), float(args[1]))
elif mode == "handshake":
    handshake(int(args[0]), args[1].split(","), float(args[2]))
elif mode == "no_read":
    no_read(args[0], int(args[1]), args[2], int(args[3]))
elif mode in ("window_wrap", "stream0", "reuse_id", "old_id"):
    bad_frame(args[0], int(args[1]), mode)
else:
    sys.exit("unknown mode " + mode)
