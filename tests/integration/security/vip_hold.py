"""Hold many idle connections to one VIP:port and report what meshd did.

vip_hold.py VIP PORT N RELEASE [SETTLE_S]

Opens N TCP connections (non-blocking, paced so that the listen backlog is
not the limit), then watches them until nothing changes for a while:
  carried   connected and still open and quiet (meshd took it on)
  refused   reset or closed by meshd (ECONNRESET / EOF / ECONNREFUSED)
  pending   the TCP connect never completed (a hang)
Prints one JSON line (counts, errno names, the slowest refusal in
seconds after its connect), then holds every open connection until the
file RELEASE exists (at most 120 s), and closes them.
"""
import errno, json, os, select, socket, sys, time

vip, port, n, release = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
settle = float(sys.argv[5]) if len(sys.argv) > 5 else 1.5

PENDING, OPEN, REFUSED = 0, 1, 2
socks = {}          # fd -> [socket, state, t_connect]
errors = {}
slowest = 0.0
poller = select.poll()
last_change = time.monotonic()


def refuse(fd, why):
    global slowest, last_change
    ent = socks[fd]
    ent[1] = REFUSED
    errors[why] = errors.get(why, 0) + 1
    slowest = max(slowest, time.monotonic() - ent[2])
    last_change = time.monotonic()
    poller.unregister(fd)


def watch(timeout_ms):
    global last_change
    for fd, ev in poller.poll(timeout_ms):
        ent = socks[fd]
        s = ent[0]
        if ent[1] == PENDING:
            if not ev & (select.POLLOUT | select.POLLERR | select.POLLHUP):
                continue
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                refuse(fd, errno.errorcode.get(err, str(err)))
                continue
            ent[1] = OPEN
            last_change = time.monotonic()
            poller.modify(fd, select.POLLIN)
            continue
        try:
            data = s.recv(100)
        except BlockingIOError:
            continue
        except OSError as e:
            refuse(fd, errno.errorcode.get(e.errno, str(e.errno)))
            continue
        if not data:
            refuse(fd, "EOF")
        # bytes from the upstream: still carried (http upstream stays quiet)


t0 = time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((vip, port))
    except BlockingIOError:
        pass
    except OSError as e:
        errors[errno.errorcode.get(e.errno, str(e.errno))] = errors.get(errno.errorcode.get(e.errno, str(e.errno)), 0) + 1
        s.close()
        continue
    socks[s.fileno()] = [s, PENDING, time.monotonic()]
    poller.register(s.fileno(), select.POLLOUT | select.POLLIN)
    if i % 32 == 31:
        watch(2)
connect_s = time.monotonic() - t0
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    watch(50)
    pending = sum(1 for e in socks.values() if e[1] == PENDING)
    if not pending and time.monotonic() - last_change >= settle:
        break

count = lambda st: sum(1 for e in socks.values() if e[1] == st)
res = {"n": n, "carried": count(OPEN), "refused": count(REFUSED), "pending": count(PENDING),
       "connect_s": round(connect_s, 3), "slowest_refusal_s": round(slowest, 3), "errors": errors}
print(json.dumps(res), flush=True)
end = time.monotonic() + 120
while not os.path.exists(release) and time.monotonic() < end:
    watch(100)
for e in socks.values():
    e[0].close()
