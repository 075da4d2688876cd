#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# python3 socket.create_connection (blocking libc connect): an HTTP/1.0 GET
# by mesh name; python reports what it sent and received, and both hosts'
# records carry exactly those counts.
. "$(dirname "$0")/lib.sh"
setup_hello

st=0
out=$(mesh_run "$PY" - hello "$PORT" <<'PY'
import socket, sys
from httpclient import get, report
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=15)
peer = s.getpeername()
req, resp = get(s, "%s:%d" % (host, port))
s.close()
print("peer %s:%d" % peer[:2])
report(req, resp)
PY
) || st=$?
check_eq "python3 exits 0" 0 "$st"
check_eq "python3 printed the peer (the VIP), its counts and the page" \
	"peer $VIP:$PORT
sent $(sed -n 's/^sent \([0-9]*\) .*/\1/p' <<<"$out") received $(sed -n 's/.* received \([0-9]*\)$/\1/p' <<<"$out")
$TOKEN" "$out"
read -r _ sent _ received <<<"$(grep '^sent ' <<<"$out")"
CONN_PROGRAM=python3 client_conns "$st" "socket.create_connection" 1 web
check_pair_bytes "socket.create_connection" "${sent:-0}" "${received:-0}"

summary
