#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# ipv6_vip: IPv6 VIPs (vip6_range). Everything runs in one network
# namespace of its own (both meshd, the server, the clients), so the local
# route meshd adds for the range (AnyIP on lo) exists only there and goes
# with the namespace. Host A has vip6_range = fd6d:6573:6800::/64:
#   - meshd adds the route at start-up (ip -6 route shows it) and removes it
#     at exit;
#   - a python client with an IPV6_V6ONLY socket resolves hello with
#     getaddrinfo(AF_INET6) under the shim, gets the VIP6 and reaches the
#     server; both hosts record the connection under one id with the
#     caller's identity;
#   - curl -6 by name works; AF_UNSPEC answers two addresses (VIP, VIP6);
#     getnameinfo of the VIP6 names the service;
#   - faithful failure: with the endpoint down, a blocking connect of an
#     IPV6_V6ONLY socket to the VIP6 fails with ECONNREFUSED (one record);
#   - a reload and a restart keep the VIP6.
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root for ip netns"
command -v ip >/dev/null || die "ip (iproute2) not installed: run scripts/deps.sh"
command -v curl >/dev/null || die "curl not installed: run scripts/deps.sh"
NS=lm6$$
RANGE=fd6d:6573:6800::/64
on_exit "ip netns del $NS 2>/dev/null"
ip netns add "$NS" || die "cannot create the namespace"
ip -n "$NS" link set lo up
printf '#!/bin/sh\nexec ip netns exec %s "$@"\n' "$NS" >"$T/in-ns"
chmod +x "$T/in-ns"
in_ns() { "$T/in-ns" "$@"; }
mesh_ns() { in_ns env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" ${MESH_DEBUG:+MESH_DEBUG=1} "$@"; }

make_certs "$TD" client hello
write_confs a_mesh="vip6_range = $RANGE
dns = 127.0.0.1:53" a_hello="retries = 0"
check_eq "meshd -t accepts vip6_range (root: CAP_NET_ADMIN)" 0 \
	"$(in_ns "$MESHD" -t -c "$T/a.ini" >/dev/null 2>&1; echo $?)"
check_eq "no local route for the range before meshd starts" "" \
	"$(ip -n "$NS" -6 route show table local "$RANGE")"
MESHD_PREFIX="$T/in-ns" start_meshd a "$T/a.ini"
MESHD_PREFIX="$T/in-ns" start_meshd b "$T/b.ini"
route=$(ip -n "$NS" -6 route show table local "$RANGE")
note "ip -6 route show table local $RANGE: $route"
check "meshd added the local route for the range on lo" grep -q "^local $RANGE dev lo" <<<"$route"

printf 'hello over IPv6\n' >"$T/index.html"
spawn web "$T/web.log" "$T/in-ns" "$PY" -m http.server --bind 127.0.0.1 --directory "$T" "$BACKPORT"
for _ in $(seq 50); do
	in_ns "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $BACKPORT), 1)" 2>/dev/null && break
	sleep 0.1
done

vip6_now() { mesh_ns "$PY" -c '
import socket
print(socket.getaddrinfo("hello", 80, socket.AF_INET6, socket.SOCK_STREAM)[0][4][0])' 2>&1; }
VIP6=$(vip6_now)
VIP=$(mesh_resolve_ns() { mesh_ns "$PY" -c 'import socket; print(socket.gethostbyname("hello"))'; }; mesh_resolve_ns)
note "hello: VIP $VIP, VIP6 $VIP6"
check "getaddrinfo(hello, AF_INET6) answers a VIP6 inside $RANGE" "$PY" -c '
import ipaddress, sys
sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network(sys.argv[2]) else 1)' "$VIP6" "$RANGE"
check_eq "SNAPSHOT.vips keeps it" "hello $VIP $VIP6" "$(grep '^hello ' "$T/a.routes.vips")"

v6only() { # MODE: a python client, IPV6_V6ONLY socket, getaddrinfo(AF_INET6) by name
	mesh_ns timeout 20 "$PY" - hello "$PORT" "$1" <<'PY' 2>&1
import socket, sys
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam, typ, proto, _, addr = socket.getaddrinfo(host, port, socket.AF_INET6, socket.SOCK_STREAM)[0]
s = socket.socket(fam, typ, proto)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.settimeout(10)
try:
    s.connect(addr)
except OSError as e:
    print("connect", addr[0], "error", e.errno)
    sys.exit(0)
print("peer", s.getpeername()[0])
s.sendall(b"GET /index.html HTTP/1.0\r\nHost: hello\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print("body", data.split(b"\r\n\r\n", 1)[-1].decode().strip())
PY
}

mark=$(since "$T/a.log")
out=$(v6only get)
note "$out"
check_eq "IPV6_V6ONLY python client: connected to the VIP6" "peer $VIP6" "$(grep '^peer' <<<"$out")"
check_eq "and got the server's page" "body hello over IPv6" "$(grep '^body' <<<"$out")"
ra=$(new_records "$T/a.log" "$mark" '.event == "close" and .service == "hello"' 1 10 | head -n 1) || ra='{}'
check_rec "A: one record, ok, the caller's identity, client address ::1" "$ra" \
	".result == \"ok\" and .source == \"spiffe://$TD/svc/client\" and .uid == 0 and (.client | startswith(\"[::1]:\"))"
check_rec "A: the shim reported pid and program" "$ra" '.program == "python3" and (.pid > 0)'
rb=$(wait_record "$T/b.log" ".event == \"close\" and .id == $(jq '.id' <<<"$ra")") || rb='{}'
check_rec "B: the same connection id, inbound ok" "$rb" '.direction == "inbound" and .result == "ok"'

st=0
body=$(mesh_ns curl -6 -sS -m 10 "http://hello:$PORT/index.html" 2>"$T/curl.err") || st=$?
check_eq "curl -6 http://hello/ exits 0" 0 "$st"
check_eq "curl -6 gets the page" "hello over IPv6" "$body"

gai=$(mesh_ns "$PY" -c '
import socket, sys
for f, _, _, _, a in socket.getaddrinfo("hello", int(sys.argv[1]), 0, socket.SOCK_STREAM):
    print(f.name, a[0])
print("name", socket.getnameinfo((sys.argv[2], 80), socket.NI_NAMEREQD)[0])' "$PORT" "$VIP6" 2>&1)
check_eq "AF_UNSPEC answers two addresses: the VIP, then the VIP6" "AF_INET $VIP
AF_INET6 $VIP6" "$(grep '^AF_' <<<"$gai")"
check_eq "getnameinfo(VIP6) names the service" "name hello.mesh" "$(grep '^name' <<<"$gai")"
# meshd's DNS (dns = 127.0.0.1:53 in the namespace) answers the same
# addresses from the same snapshot: AAAA is the VIP6, A the VIP.
check_eq "meshd's DNS: AAAA hello.mesh is the VIP6" "$VIP6" \
	"$(in_ns dig +short +time=2 +tries=1 @127.0.0.1 hello.mesh AAAA)"
check_eq "meshd's DNS: A hello.mesh is the VIP" "$VIP" \
	"$(in_ns dig +short +time=2 +tries=1 @127.0.0.1 hello.mesh A)"

# Faithful failure: the endpoint (host B) down.
stop_meshd b
mark=$(since "$T/a.log")
out=$(MESH_DEBUG=1 v6only get)
check_eq "endpoint down: the IPV6_V6ONLY connect to the VIP6 is refused" \
	"connect $VIP6 error 111" "$(grep '^connect' <<<"$out")"
check "meshd's verdict on the IPv6 tuple said so (MESH_DEBUG)" grep -Eq \
	"^libmesh: verdict \\[::1\\]:[0-9]+ -> \\[$VIP6\\]:$PORT: refused" <<<"$out"
grep '^libmesh: verdict' <<<"$out" | sed 's/^/# /' || true
recs=$(new_records "$T/a.log" "$mark" '.event == "close" and .service == "hello"' 1 10) || recs=
sleep 0.3
recs=$(records "$T/a.log" '.event == "close" and .service == "hello"' "$mark")
check_eq "and leaves one record on A" 1 "$(grep -c . <<<"$recs" || true)"
check "its result is refused or no_endpoint" jq -e -s 'all(.[]; .result == "refused" or .result == "no_endpoint")' <<<"$recs"

# A reload keeps the VIP6; so does a restart (SNAPSHOT.vips).
check_eq "before the reload: the VIP6" "$VIP6" "$(vip6_now)"
reload_hosts "republished its routes after SIGHUP" a
check_eq "a reload keeps the VIP6" "$VIP6" "$(vip6_now)"
stop_meshd a
check_eq "meshd removed the route it added when it stopped" "" \
	"$(ip -n "$NS" -6 route show table local "$RANGE")"
MESHD_PREFIX="$T/in-ns" start_meshd a "$T/a.ini"
check_eq "a restart keeps the VIP6" "$VIP6" "$(vip6_now)"
check "and the route is back" grep -q "^local $RANGE dev lo" <<<"$(ip -n "$NS" -6 route show table local "$RANGE")"
stop_meshd a

# Without CAP_NET_ADMIN and without the route: -t and start-up say so and
# fail. With the operator's route (ExecStartPre=): meshd uses it and leaves
# it in place at exit.
nocap() { in_ns setpriv --bounding-set=-net_admin --inh-caps=-net_admin "$@"; }
st=0
nocap "$MESHD" -t -c "$T/a.ini" >"$T/t.out" 2>&1 || st=$?
check_eq "no route, no CAP_NET_ADMIN: meshd -t fails" 1 "$st"
check "and says why" grep -qF "no local route for it (ip -6 route add local $RANGE dev lo) and meshd would lack CAP_NET_ADMIN" "$T/t.out"
st=0
nocap timeout 10 "$MESHD" -c "$T/a.ini" >"$T/nocap.err" 2>&1 || st=$?
check_eq "no route, no CAP_NET_ADMIN: meshd refuses to start" 1 "$st"
check "and says why" grep -qF "meshd needs CAP_NET_ADMIN for it, or the route must exist before meshd starts" "$T/nocap.err"
ip -n "$NS" -6 route add local "$RANGE" dev lo
check_eq "the operator's route: meshd -t without CAP_NET_ADMIN is fine" 0 \
	"$(nocap "$MESHD" -t -c "$T/a.ini" >/dev/null 2>&1; echo $?)"
MESHD_PREFIX="$T/in-ns setpriv --bounding-set=-net_admin --inh-caps=-net_admin" start_meshd a "$T/a.ini"
check_eq "and meshd starts on it, same VIP6" "$VIP6" "$(vip6_now)"
stop_meshd a
check "and leaves the operator's route at exit" grep -q "^local $RANGE dev lo" <<<"$(ip -n "$NS" -6 route show table local "$RANGE")"

# Another process holds [VIP6]:port (bound while meshd was down): meshd
# cannot listen there and leaves hello out of the snapshot; a program that
# connects to [VIP6]:port anyway reaches the squatter's socket, and the
# shim fails the connect (meshd: "unknown", a VIP:port it does not hold).
# A squatter elsewhere in the range, on no VIP: meshd says "none" and the
# connection stands.
OTHER6=fd6d:6573:6800::77
cat >"$T/squat.py" <<'PY'
import os, socket, sys
socks = []
for a in sys.argv[2:]:
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, int(sys.argv[1])))
    s.listen(16)
    socks.append(s)
open(os.environ["READY"], "w").close()
while True:
    for s in socks:
        s.settimeout(0.05)
        try:
            c, _ = s.accept()
            c.sendall(b"squatter\n")
            c.close()
        except OSError:
            pass
PY
READY=$T/squat.ready spawn squat "$T/squat.log" env "READY=$T/squat.ready" "$T/in-ns" "$PY" "$T/squat.py" "$PORT" "$VIP6" "$OTHER6"
wait_file "$T/squat.ready" 10 || die "the squatter did not start"
MESHD_PREFIX="$T/in-ns" start_meshd a "$T/a.ini"
check "meshd says it cannot listen on [VIP6]:port" grep -q "service hello: cannot listen on \\[$VIP6\\]:$PORT" "$T/a.err"
check_eq "and leaves hello out of the snapshot (AF_INET6 lookup falls to libc)" "error" \
	"$(mesh_ns "$PY" -c 'import socket
try:
    socket.getaddrinfo("hello", 80, socket.AF_INET6, socket.SOCK_STREAM); print("answered")
except OSError: print("error")')"
direct() { # ADDR: connect an IPV6_V6ONLY socket to [ADDR]:PORT under the shim, read a line
	mesh_ns "$PY" - "$1" "$PORT" <<'PY' 2>&1
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.settimeout(5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("got", s.recv(64).decode().strip() or "(nothing)")
except OSError as e:
    print("error", e.errno)
PY
}
check_eq "a connect to the squatted [VIP6]:port fails (ECONNREFUSED), no byte from the squatter" \
	"error 111" "$(direct "$VIP6")"
check_eq "a connect to a squatter on no VIP in the range stands" "got squatter" "$(direct "$OTHER6")"

# A reload to another vip6_range: meshd makes the new range local (its
# own route), keeps the operator's route of the old one, and moves the
# VIP6 into the new range; at exit it removes only the route it added.
RANGE2=fd6d:6573:6801::/64
sed -i "s|^vip6_range = .*|vip6_range = $RANGE2|" "$T/a.ini"
reload_hosts "republished its routes after a reload to $RANGE2" a
check "the new range is local" grep -q "^local $RANGE2 dev lo" <<<"$(ip -n "$NS" -6 route show table local "$RANGE2")"
check "the operator's route of the old range stays" grep -q "^local $RANGE dev lo" <<<"$(ip -n "$NS" -6 route show table local "$RANGE")"
NEW6=$(vip6_now)
check "hello's VIP6 is now in $RANGE2 ($NEW6)" "$PY" -c '
import ipaddress, sys
sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network(sys.argv[2]) else 1)' "$NEW6" "$RANGE2"
check_eq "and reachable by name from an IPV6_V6ONLY socket (the endpoint is down: refused)" \
	"connect $NEW6 error 111" "$(v6only get | grep '^connect')"
stop_meshd a
check_eq "at exit meshd removed the route it added" "" "$(ip -n "$NS" -6 route show table local "$RANGE2")"
check "and left the operator's" grep -q "^local $RANGE dev lo" <<<"$(ip -n "$NS" -6 route show table local "$RANGE")"

summary
