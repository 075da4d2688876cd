"""topo_client.py: the load the topology scenarios put on a service, as a
program on a host under the shim (topology.sh run H ...). Every connection
is a new one: resolve NAME, connect, one HTTP/1.0 GET, read the answer (the
topology's http upstream answers with its host's name).

  seq NAME PORT COUNT             COUNT connections one after the other
  rate NAME PORT PER_S SECONDS    a new connection every 1/PER_S s, each in
                                  its own thread (a slow one does not hold
                                  back the next)
  hold NAME PORT COUNT            connect COUNT, holding each open while the
                                  next connects; then GET on each
  stream NAME PORT SECONDS KIB_S  one connection to an echo upstream: send
                                  KIB_S KiB/s of pseudo-random bytes for
                                  SECONDS, read the echo, compare both ways

One line per connection, "conn I START_S MS RESULT HOST" (RESULT ok or the
error; HOST is who answered), then "summary {json}": count, ok, failed,
total_s, p50_ms, p90_ms, max_ms, hosts {HOST: n}. stream prints only its
summary: sent, received, sha_sent, sha_received, identical, max_gap_s."""
import hashlib
import json
import socket
import sys
import threading
import time

TIMEOUT = 15


def dial(name, port):
    """One connect to NAME's first IPv4 address: one mesh connection per
    call whatever the resolver answers (socket.create_connection tries every
    answer in turn after a refusal)."""
    addr = socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        s.connect(addr)
    except OSError:
        s.close()
        raise
    return s


def one(name, port, s=None):
    """One GET; (result, host). s: an already connected socket."""
    try:
        if s is None:
            s = dial(name, port)
        s.settimeout(TIMEOUT)
        s.sendall(("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % name).encode())
        resp = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            resp += b
        s.close()
        if not resp.startswith(b"HTTP/1.0 200"):
            return "bad_answer", "-"
        return "ok", resp.split(b"\r\n\r\n", 1)[-1].decode().strip() or "-"
    except OSError as e:
        return (e.__class__.__name__ if not e.errno else "errno%d" % e.errno), "-"


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def summary(t0, rows):
    ms = [r[2] for r in rows]
    hosts = {}
    for r in rows:
        if r[3] == "ok":
            hosts[r[4]] = hosts.get(r[4], 0) + 1
    ok = sum(1 for r in rows if r[3] == "ok")
    out = {"count": len(rows), "ok": ok, "failed": len(rows) - ok,
           "total_s": round(time.monotonic() - t0, 3),
           "p50_ms": round(pct(ms, 0.5), 3), "p90_ms": round(pct(ms, 0.9), 3),
           "max_ms": round(max(ms) if ms else 0.0, 3), "hosts": hosts}
    print("summary " + json.dumps(out, sort_keys=True), flush=True)


def show(r):
    print("conn %d %.3f %.3f %s %s" % r, flush=True)


def run_seq(name, port, count):
    t0 = time.monotonic()
    rows = []
    for i in range(count):
        a = time.monotonic()
        res, host = one(name, port)
        r = (i, a - t0, (time.monotonic() - a) * 1000, res, host)
        show(r)
        rows.append(r)
    summary(t0, rows)


def run_rate(name, port, per_s, seconds):
    t0 = time.monotonic()
    rows, lock, threads = [], threading.Lock(), []

    def worker(i, a):
        res, host = one(name, port)
        r = (i, a - t0, (time.monotonic() - a) * 1000, res, host)
        with lock:
            show(r)
            rows.append(r)

    n = int(per_s * seconds)
    for i in range(n):
        due = t0 + i / per_s
        time.sleep(max(0.0, due - time.monotonic()))
        th = threading.Thread(target=worker, args=(i, time.monotonic()))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    rows.sort()
    summary(t0, rows)


def run_hold(name, port, count):
    t0 = time.monotonic()
    held = []
    for i in range(count):
        a = time.monotonic()
        try:
            held.append((i, a, dial(name, port), None))
        except OSError as e:
            held.append((i, a, None, "errno%s" % e.errno))
    rows = []
    for i, a, s, err in held:
        res, host = (err, "-") if s is None else one(name, port, s)
        r = (i, a - t0, (time.monotonic() - a) * 1000, res, host)
        show(r)
        rows.append(r)
    summary(t0, rows)


def run_stream(name, port, seconds, kib_s):
    s = dial(name, port)
    s.settimeout(30)
    sent_h, recv_h = hashlib.sha256(), hashlib.sha256()
    state = {"sent": 0, "received": 0, "max_gap": 0.0, "error": None}

    def reader():
        last = time.monotonic()
        try:
            while True:
                b = s.recv(65536)
                now = time.monotonic()
                if not b:
                    break
                state["max_gap"] = max(state["max_gap"], now - last)
                last = now
                recv_h.update(b)
                state["received"] += len(b)
        except OSError as e:
            state["error"] = "read: %s" % e

    th = threading.Thread(target=reader)
    th.start()
    chunk_n, t0 = 4096, time.monotonic()
    per_chunk = chunk_n / (kib_s * 1024.0)
    block = hashlib.sha256(b"seed").digest()
    i = 0
    try:
        while time.monotonic() - t0 < seconds:
            # Pseudo-random, different in every chunk: a byte that is
            # dropped, repeated or reordered changes the hash.
            block = hashlib.sha256(block).digest()
            data = (block * (chunk_n // len(block) + 1))[:chunk_n - 8] + i.to_bytes(8, "big")
            s.sendall(data)
            sent_h.update(data)
            state["sent"] += len(data)
            i += 1
            time.sleep(max(0.0, t0 + i * per_chunk - time.monotonic()))
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        state["error"] = "write: %s" % e
    th.join(40)
    out = {"sent": state["sent"], "received": state["received"],
           "sha_sent": sent_h.hexdigest(), "sha_received": recv_h.hexdigest(),
           "max_gap_s": round(state["max_gap"], 3), "error": state["error"],
           "seconds": round(time.monotonic() - t0, 3)}
    out["identical"] = out["sent"] == out["received"] and out["sha_sent"] == out["sha_received"]
    print("summary " + json.dumps(out, sort_keys=True), flush=True)


def main():
    mode, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "seq":
        run_seq(name, port, int(sys.argv[4]))
    elif mode == "rate":
        run_rate(name, port, float(sys.argv[4]), float(sys.argv[5]))
    elif mode == "hold":
        run_hold(name, port, int(sys.argv[4]))
    elif mode == "stream":
        run_stream(name, port, float(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit("topo_client.py: unknown mode %s" % mode)


if __name__ == "__main__":
    main()
