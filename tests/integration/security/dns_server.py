"""dns_server.py PORT MODEFILE LOG: a hostile DNS server on 127.0.0.1:PORT,
UDP and TCP, for dns_hostile.sh. It answers every question for any name
as MODEFILE says (read again for each question):
  good [IP [TTL]]
           one A record, IP (127.0.0.2), TTL TTL (0); AAAA: no records
           (NODATA)
  slow SECS [IP [TTL]]
           as good, but an A question is answered SECS seconds late (the
           UDP server answers nothing else meanwhile)
  flood    as many A records as a message can hold (4,000 over TCP: the
           UDP answer is truncated to make the client ask again), TTL 0,
           127.0.0.2 first and then 127.1.x.y; over UDP by turns that
           truncated answer and one claiming 10,000 records that it does
           not hold (malformed)
  garbage  random bytes, and answers with the wrong id
  silent   nothing at all
  rotate   names starting with "rot": one A record, a new random 127.3.x.y
           each time (every answer a change); other names as in good
Names starting with "rot" get good answers in every other mode.
Each question is one line in LOG: "udp|tcp QTYPE MODE NAME"
(discovery_reload.sh uses it too)."""
import os
import random
import socket
import struct
import sys
import threading
import time

port, modefile, logf = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
flood_n = 0  # UDP flood answers so far


def mode_words():
    try:
        with open(modefile) as f:
            return f.read().split() or ["good"]
    except OSError:
        return ["good"]


def mode():
    return mode_words()[0]


def log(proto, qtype, m, name):
    with lock, open(logf, "a") as f:
        f.write("%s %d %s %s\n" % (proto, qtype, m, name))


def question(q):
    """(id, question bytes, qtype, name) of a query."""
    qid = struct.unpack(">H", q[:2])[0]
    i = 12
    labels = []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    i += 1
    qtype = struct.unpack(">H", q[i:i + 2])[0]
    return qid, q[12:i + 4], qtype, ".".join(labels)


def a_rr(ip, ttl=0):
    return b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, ttl, 4) + socket.inet_aton(ip)


def answer(q, proto):
    qid, qsec, qtype, name = question(q)
    words = mode_words()
    m = words[0]
    if m == "slow":
        log(proto, qtype, m, name)  # when asked, not when answered
        if qtype == 1:
            time.sleep(float(words[1]))
        words = words[1:]  # [SECS, IP, TTL]: IP and TTL where good has them
        m = "good"
    else:
        rot = name.startswith("rot")
        if rot and m != "rotate":
            m = "good"  # the rot names are for the rotate mode alone
        log(proto, qtype, m, name)
    ip = words[1] if m == "good" and len(words) > 1 else "127.0.0.2"
    ttl = int(words[2]) if m == "good" and len(words) > 2 else 0
    rot = name.startswith("rot")
    if m == "silent":
        return None
    if m == "garbage":
        if random.random() < 0.5:
            return struct.pack(">H", qid ^ 0x5555) + os.urandom(60)
        return struct.pack(">H", qid) + os.urandom(random.randint(0, 200))
    rrs = []
    if qtype == 1 and rot and m == "rotate":
        rrs = [a_rr("127.3.%d.%d" % (random.randint(0, 255), random.randint(1, 254)))]
    elif qtype == 1:
        rrs = [a_rr(ip, ttl)]
        if m == "flood":
            rrs += [a_rr("127.1.%d.%d" % (i // 250, i % 250 + 1)) for i in range(3999)]
    flags = 0x8580
    if m == "flood" and proto == "udp" and qtype == 1:
        # Malformed and truncated by turns, not at random: a client that
        # backs off after each malformed answer must still reach the TCP
        # flood within the test's wait.
        global flood_n
        flood_n += 1
        if flood_n % 2 == 1:
            # 10,000 claimed, a few present: malformed
            return struct.pack(">HHHHHH", qid, flags, 1, 10000, 0, 0) + qsec + b"".join(rrs[:5])
        return struct.pack(">HHHHHH", qid, flags | 0x0200, 1, 0, 0, 0) + qsec
    return struct.pack(">HHHHHH", qid, flags, 1, len(rrs), 0, 0) + qsec + b"".join(rrs)


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        q, peer = s.recvfrom(4096)
        try:
            r = answer(q, "udp")
        except (IndexError, struct.error):
            continue
        if r is not None:
            if mode() == "garbage":
                for _ in range(20):  # a burst of junk first
                    s.sendto(os.urandom(40), peer)
            s.sendto(r, peer)


def tcp_one(c):
    try:
        n = struct.unpack(">H", c.recv(2))[0]
        q = b""
        while len(q) < n:
            q += c.recv(n - len(q))
        r = answer(q, "tcp")
        if r is not None:
            c.sendall(struct.pack(">H", len(r)) + r)
    except (OSError, struct.error, IndexError):
        pass
    finally:
        c.close()


def tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_one, args=(c,), daemon=True).start()


threading.Thread(target=tcp, daemon=True).start()
udp()
