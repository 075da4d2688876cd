#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# python3 asyncio.open_connection (getaddrinfo in an executor thread,
# non-blocking connect, epoll): 8 concurrent HTTP/1.0 GETs by mesh name; each
# gets the page; the records carry exactly the bytes each coroutine counted.
. "$(dirname "$0")/lib.sh"
setup_hello

st=0
out=$(mesh_run timeout 30 "$PY" - hello "$PORT" 8 <<'PY'
import asyncio, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

async def fetch(i):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    peer = w.get_extra_info("peername")
    req = ("GET / HTTP/1.0\r\nHost: %s\r\nX-N: %d\r\n\r\n" % (host, i)).encode()
    w.write(req)
    await w.drain()
    resp = await asyncio.wait_for(r.read(), 10)
    w.close()
    await w.wait_closed()
    body = resp.split(b"\r\n\r\n", 1)[1].decode()
    return "%s:%d" % peer[:2], len(req), len(resp), body

async def main():
    for peer, sent, received, body in await asyncio.gather(*(fetch(i) for i in range(n))):
        print("peer %s sent %d received %d body %s" % (peer, sent, received, body), end="")

asyncio.run(main())
PY
) || st=$?
check_eq "asyncio client exits 0" 0 "$st"
check_eq "8 fetches, each from the VIP with the page" 8 \
	"$(grep -cxF "peer $VIP:$PORT sent $(awk 'NR == 1 { print $4 }' <<<"$out") received $(awk 'NR == 1 { print $6 }' <<<"$out") body $TOKEN" <<<"$out" || true)"
CONN_PROGRAM=python3 client_conns "$st" "asyncio" 8 web
check_pair_bytes "asyncio (each coroutine's counts)" \
	"$(awk '{ print $4 }' <<<"$out" | sort -n | tr '\n' ' ')" "$(awk '{ print $6 }' <<<"$out" | sort -n | tr '\n' ' ')"

summary
