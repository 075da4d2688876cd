#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# TCP Fast Open: `curl --tcp-fastopen` by mesh name (curl 7.88 on Linux sets
# TCP_FASTOPEN_CONNECT and then calls connect()), and a python3 client that
# opens its connection with sendto(MSG_FASTOPEN) to an intercepted legacy
# address, which the shim must redirect to the VIP like a connect().
# The intercepted address is on loopback (127.0.99.1, nothing listens there),
# so nothing leaves the host if the shim misses it.
. "$(dirname "$0")/lib.sh"
need curl
ICPT=127.0.99.1
setup_hello a_hello="intercept = $ICPT:$PORT"

st=0
w=$(mesh_run "${CURL[@]}" --tcp-fastopen -v -o "$T/got" -w '%{http_code} %{size_request} %{size_header} %{size_download}' \
	"http://hello:$PORT/" 2>"$T/curl.err") || st=$?
check_eq "curl --tcp-fastopen exits 0" 0 "$st"
read -r code sent hdr body <<<"${w:-0 0 0 0}"
check_eq "HTTP status 200" 200 "$code"
check_eq "the body is the upstream's page" "$TOKEN" "$(cat "$T/got" 2>/dev/null)"
[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/curl.err"
client_conns "$st" "curl --tcp-fastopen" 1 web
check_pair_bytes "curl --tcp-fastopen (-w counts)" "$sent" "$((hdr + body))"

# A TFO client opens its connection with sendto(MSG_FASTOPEN): connect and
# first data in one call (a blocking socket: the call returns once the
# connection is up). First to the VIP itself (the kernel path, no redirect
# needed), then to the intercepted address, which the shim must redirect.
cat >"$T/tfo.py" <<'PY'
import signal, socket, sys
from httpclient import read_all, report
signal.alarm(15)
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
req = b"GET / HTTP/1.0\r\nHost: legacy\r\n\r\n"
n = s.sendto(req, socket.MSG_FASTOPEN, (addr, port))
if n != len(req):
    s.sendall(req[n:])
print("peer %s:%d" % s.getpeername()[:2])
report(req, read_all(s))
PY

tfo() { # NAME ADDR
	local name=$1 addr=$2 st=0 out sent received
	out=$(MESH_DEBUG=1 mesh_run "$PY" "$T/tfo.py" "$addr" "$PORT" 2>"$T/py.err") || st=$?
	check_eq "$name: the sendto(MSG_FASTOPEN) client exits 0" 0 "$st"
	[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/py.err"
	contains "$name: getpeername shows $addr:$PORT" "peer $addr:$PORT" "$out"
	contains "$name: the client got the upstream's page" "$TOKEN" "$out"
	read -r _ sent _ received <<<"$(grep '^sent ' <<<"$out" || echo "sent 0 received 0")"
	client_conns "$st" "$name" 1 web
	check_pair_bytes "$name" "$sent" "$received"
}
tfo "sendto(MSG_FASTOPEN) to the VIP" "$VIP"
tfo "sendto(MSG_FASTOPEN) to the intercepted $ICPT" "$ICPT"
contains "MESH_DEBUG: the sendto was redirected to the VIP" \
	"$ICPT:$PORT -> $VIP:$PORT (intercept hello)" "$(cat "$T/py.err")"

summary
