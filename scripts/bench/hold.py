#!/usr/bin/env python3
"""hold.py HOST PORT N STATUSFILE [MAX_HOLD_S]: hold N idle connections.

Part of scripts/bench.sh (the RSS-per-connection measurement). Resolves HOST
once (a mesh name resolves to its VIP when libmesh.so is preloaded), opens N
TCP connections to it, at most 200 being set up at a time, sends one HTTP/1.1
keep-alive request on each and reads the whole response, so that every
connection has carried bytes end to end through whatever sits in between.
Then it writes one line to STATUSFILE (atomically):

    ok=K fail=F secs=S addr=IP [errors=reason:count,...]

and keeps every connection open and idle until SIGTERM/SIGINT, or until
MAX_HOLD_S (default 300) have passed, so that it always stops by itself.
"""
import asyncio
import collections
import os
import signal
import socket
import sys
import time

SETUP_CONCURRENCY = 200
CONNECT_TIMEOUT = 30.0


async def one(ip, port, host, sem, held, errors):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ip, port), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            errors["connect:" + (type(e).__name__ if not getattr(e, "strerror", None) else e.strerror)] += 1
            return False
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: libmesh-bench-hold\r\n\r\n"
                         % host.encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            if length:
                await asyncio.wait_for(reader.readexactly(length), CONNECT_TIMEOUT)
            if not head.startswith(b"HTTP/1.1 200"):
                errors["status:" + head.split(b"\r\n", 1)[0].decode("latin-1")] += 1
                writer.close()
                return False
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError) as e:
            errors["request:" + type(e).__name__] += 1
            writer.close()
            return False
        held.append(writer)
        return True


async def main():
    host, port, n, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    max_hold = float(sys.argv[5]) if len(sys.argv) > 5 else 300.0
    ip = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    sem = asyncio.Semaphore(SETUP_CONCURRENCY)
    held, errors = [], collections.Counter()
    t0 = time.monotonic()
    results = await asyncio.gather(*(one(ip, port, host, sem, held, errors) for _ in range(n)))
    secs = time.monotonic() - t0
    ok = sum(1 for r in results if r)
    line = "ok=%d fail=%d secs=%.1f addr=%s" % (ok, n - ok, secs, ip)
    if errors:
        line += " errors=" + ",".join("%s:%d" % (k.replace(" ", "_"), v)
                                      for k, v in errors.most_common(5))
    tmp = status + ".tmp"
    with open(tmp, "w") as f:
        f.write(line + "\n")
    os.rename(tmp, status)

    try:
        await asyncio.wait_for(stop.wait(), max_hold)
    except asyncio.TimeoutError:
        pass
    for w in held:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
