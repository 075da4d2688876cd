"""dns_flood.py MODE ...: what a local user (run as nobody) can throw at
meshd's DNS listener on 127.0.0.1:53.

  udp SECONDS             send, as fast as it can from 4 sockets, a mix of
                          valid queries, garbage, responses (QR set) and
                          datagrams over 4096 bytes; never read an answer
  idle N OUT              open N TCP connections and hold them; after 1 s
                          write "idle OPEN CLOSED_BY_MESHD" to OUT; hold on
  slow OUT                write to OUT one line each:
                            slow SECONDS    a query's bytes one every 0.5 s:
                                            seconds until meshd closed it
                            life SECONDS    a whole query every 0.5 s, each
                                            answered: seconds until closed
                            big CLOSED      a length prefix of 65535: closed
                                            at once (1) or not (0)
                            pipe ANSWERS    150 queries in one write, the
                                            answers read before the close
"""
import os
import random
import socket
import struct
import sys
import threading
import time

ADDR = ("127.0.0.1", 53)


def query(name=b"\x05hello\x04mesh\x00", qtype=1, qid=None):
    qid = random.randrange(65536) if qid is None else qid
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", qtype, 1)


def udp(seconds):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    for s in socks:
        s.setblocking(False)
    kinds = [
        lambda: query(),
        lambda: query(b"\x04nope\x04mesh\x00"),
        lambda: os.urandom(random.randrange(1, 600)),
        lambda: b"\x12\x34\x81\x80" + os.urandom(40),  # a response
        lambda: query()[:15],  # truncated
        lambda: b"\x00" * 5000,  # over any query
        lambda: query(b"\xc0\x0c"),  # a compression loop
    ]
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        for s in socks:
            try:
                s.sendto(random.choice(kinds)(), ADDR)
                n += 1
            except OSError:
                pass
    print("sent", n)


def idle(n, out):
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(ADDR, timeout=5))
        except OSError:
            pass
    time.sleep(1)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    with open(out, "w") as f:
        f.write("idle %d %d\n" % (len(socks), closed))
    time.sleep(60)


def until_closed(s, feed, limit=30):
    """Seconds from now until the peer closes s, calling feed(s) between reads."""
    start = time.time()
    s.settimeout(0.5)
    while time.time() - start < limit:
        try:
            if not feed(s):
                pass
            d = s.recv(4096)
            if d == b"":
                return time.time() - start
        except socket.timeout:
            continue
        except OSError:
            return time.time() - start
    return -1


def slow(out):
    res = {}

    def slowloris():
        s = socket.create_connection(ADDR, timeout=5)
        q = query()
        msg = struct.pack(">H", len(q)) + q
        pos = [0]

        def feed(sock):
            if pos[0] < len(msg) - 1:  # never the last byte
                try:
                    sock.send(msg[pos[0]:pos[0] + 1])
                except OSError:
                    pass
                pos[0] += 1
            return True

        res["slow"] = until_closed(s, feed)

    def lifetime():
        s = socket.create_connection(ADDR, timeout=5)
        last = [0.0]

        def feed(sock):
            if time.time() - last[0] < 0.5:
                return True
            last[0] = time.time()
            q = query()
            try:
                sock.send(struct.pack(">H", len(q)) + q)
            except OSError:
                pass
            return True

        res["life"] = until_closed(s, feed)

    def big():
        s = socket.create_connection(ADDR, timeout=5)
        s.send(b"\xff\xff" + b"\x00" * 100)
        s.settimeout(2)
        try:
            res["big"] = 1 if s.recv(10) == b"" else 0
        except socket.timeout:
            res["big"] = 0
        except OSError:
            res["big"] = 1

    def pipe():
        s = socket.create_connection(ADDR, timeout=5)
        data = b""
        for i in range(150):
            q = query(qid=i)
            data += struct.pack(">H", len(q)) + q
        s.sendall(data)
        buf = b""
        s.settimeout(3)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        except OSError:
            pass
        n = 0
        while len(buf) >= 2:
            m = struct.unpack(">H", buf[:2])[0]
            if len(buf) < 2 + m:
                break
            buf = buf[2 + m:]
            n += 1
        res["pipe"] = n

    ts = [threading.Thread(target=f) for f in (slowloris, lifetime, big, pipe)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(out, "w") as f:
        f.write("slow %.1f\nlife %.1f\nbig %d\npipe %d\n" % (res["slow"], res["life"], res["big"], res["pipe"]))


mode = sys.argv[1]
if mode == "udp":
    udp(float(sys.argv[2]))
elif mode == "idle":
    idle(int(sys.argv[2]), sys.argv[3])
else:
    slow(sys.argv[2])
