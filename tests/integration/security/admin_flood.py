"""admin_flood.py PORT OUT: what a local user (run as nobody) can throw at
the admin listener, all at once: 200 idle connections (held open, never
writing), one slowloris (a request head one byte a second), one 1 MiB
header. Writes to OUT, one line each:
  idle N_OPEN_AFTER_1S N_CLOSED_BY_MESHD_AT_ONCE
  big STATUS_LINE
  slow SECONDS_UNTIL_CLOSED ANSWER
"""
import select
import socket
import sys
import threading
import time

port, out = int(sys.argv[1]), sys.argv[2]
res = {}


def idle():
    socks = []
    for _ in range(200):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            pass
    time.sleep(1)
    # A socket meshd closed at once reads EOF (or a reset) now.
    r, _, _ = select.select(socks, [], [], 0.5)
    closed = 0
    for s in r:
        try:
            if s.recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
    res["idle"] = "%d %d" % (len(socks) - closed, closed)
    time.sleep(8)
    for s in socks:
        s.close()


def big():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nX: ")
    line = b""
    try:
        for _ in range(1024):
            s.sendall(b"a" * 1024)
    except OSError:
        pass
    try:
        line = s.recv(200).split(b"\r\n")[0]
    except OSError as e:
        line = ("error " + str(e)).encode()
    res["big"] = line.decode(errors="replace") or "closed"
    s.close()


def slow():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.time()
    got = b""
    for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            s.send(bytes([b]))
        except OSError:
            break
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            try:
                got = s.recv(200)
            except OSError:
                pass
            break
    res["slow"] = "%.1f %s" % (time.time() - t0, got.split(b"\r\n")[0].decode(errors="replace") or "closed")
    s.close()


# The slowloris and the big header first: the 200 idle ones would
# otherwise race them for nobody's 8 admin slots (and win under load).
ts = [threading.Thread(target=f) for f in (big, slow, idle)]
for t in ts[:2]:
    t.start()
time.sleep(0.3)
ts[2].start()
for t in ts:
    t.join()
with open(out, "w") as f:
    for k in ("idle", "big", "slow"):
        f.write("%s %s\n" % (k, res.get(k, "missing")))
