#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# A legacy address: host A's hello declares `intercept = 10.99.0.1:PORT`, an
# address that is not local and is never contacted: under the shim a
# connect() to it lands on hello's VIP. The programs' own output (curl -v,
# wget) and getpeername show the address they asked for; the page arrives;
# the records are hello's, with exact counts.
#
# Nothing must leave the host: the intercept is first confirmed in the route
# snapshot (mesh-run --list), every client runs under the shim only and with
# a 3 s connect timeout, so a shim that misses the intercept fails fast.
. "$(dirname "$0")/lib.sh"
need curl wget
LEGACY=10.99.0.1
setup_hello a_hello="intercept = $LEGACY:$PORT"

list=$(mesh_run --list 2>&1) || true
if [[ $list != *"intercept $LEGACY:$PORT -> hello"* ]]; then
	sed 's/^/#   /' <<<"$list"
	die "the route snapshot does not list intercept $LEGACY:$PORT: not contacting it"
fi
ok "the route snapshot lists intercept $LEGACY:$PORT -> hello"
note "without the shim, $LEGACY would go: $(ip route get "$LEGACY" 2>&1 | head -n 1)"

st=0
w=$(MESH_DEBUG=1 mesh_run "${CURL[@]}" --connect-timeout 3 -v -o "$T/got" \
	-w '%{http_code} %{remote_ip} %{remote_port} %{size_request} %{size_header} %{size_download}' \
	"http://$LEGACY:$PORT/" 2>"$T/curl.err") || st=$?
check_eq "curl http://$LEGACY:$PORT/ exits 0" 0 "$st"
read -r code rip rport sent hdr body <<<"${w:-0 - 0 0 0 0}"
check_eq "HTTP 200" 200 "$code"
check_eq "the body is hello's page" "$TOKEN" "$(cat "$T/got" 2>/dev/null)"
contains "curl -v says it connected to $LEGACY" "Connected to $LEGACY ($LEGACY) port $PORT" "$(cat "$T/curl.err")"
check_eq "curl's remote_ip and remote_port (getpeername) are $LEGACY:$PORT" "$LEGACY $PORT" "$rip $rport"
contains "MESH_DEBUG: the connect was redirected" "libmesh: connect $LEGACY:$PORT -> $VIP:$PORT (intercept hello)" "$(cat "$T/curl.err")"
client_conns "$st" "curl $LEGACY" 1 web
check_pair_bytes "curl $LEGACY (-w counts)" "$sent" "$((hdr + body))"

st=0
out=$(mesh_run wget -O- --tries=1 --timeout=3 "http://$LEGACY:$PORT/" 2>&1) || st=$?
check_eq "wget http://$LEGACY:$PORT/ exits 0" 0 "$st"
contains "wget's log says it connected to $LEGACY" "Connecting to $LEGACY:$PORT... connected." "$out"
contains "wget got hello's page" "$TOKEN" "$out"
client_conns "$st" "wget $LEGACY" 1 web

for mode in blocking nonblocking; do
	st=0
	out=$(mesh_run timeout 20 "$PY" - "$LEGACY" "$PORT" "$mode" <<'PY' 2>&1
import socket, sys
from httpclient import connect, get, report
addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket()
connect(s, (addr, port), mode, 3)
print("peer %s:%d" % s.getpeername()[:2])
report(*get(s, "legacy"))
PY
) || st=$?
	check_eq "python3 $mode connect to $LEGACY: exits 0" 0 "$st"
	[[ $mode == blocking ]] || contains "python3 $mode: EINPROGRESS, then SO_ERROR 0" "connect_ex EINPROGRESS
SO_ERROR 0" "$out"
	contains "python3 $mode: getpeername is $LEGACY:$PORT" "peer $LEGACY:$PORT" "$out"
	contains "python3 $mode: hello's page" "$TOKEN" "$out"
	read -r _ sent _ received <<<"$(grep '^sent ' <<<"$out" || echo "sent 0 received 0")"
	client_conns "$st" "python3 $mode $LEGACY" 1 web
	check_pair_bytes "python3 $mode $LEGACY" "$sent" "$received"
done

summary
