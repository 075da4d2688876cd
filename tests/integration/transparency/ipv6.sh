#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# IPv6 sockets: AF_INET6 lookups of a mesh name answer ::ffff:VIP, AF_UNSPEC
# ones answer the VIP only; a program with an AF_INET6 socket (blocking, and
# non-blocking with poll) reaches the service through it; getent ahostsv6
# shows the mapped address. IPv6 names that are not the mesh's are the
# passthrough scenario's.
. "$(dirname "$0")/lib.sh"
need getent
setup_hello

gai() { # FAMILY [FLAGS]: the answers for hello, one "family address port" a line
	mesh_run "$PY" - hello "$PORT" "$@" <<'PY' 2>&1
import socket, sys
host, port, fam = sys.argv[1], int(sys.argv[2]), getattr(socket, sys.argv[3])
flags = 0
for f in sys.argv[4:]:
    flags |= getattr(socket, f)
for f, _, _, _, a in socket.getaddrinfo(host, port, fam, socket.SOCK_STREAM, 0, flags):
    print(f.name, a[0], a[1])
PY
}
check_eq "getaddrinfo(hello, AF_INET6): ::ffff:VIP" "AF_INET6 ::ffff:$VIP $PORT" "$(gai AF_INET6)"
check_eq "getaddrinfo(hello, AF_INET6, AI_V4MAPPED|AI_ALL): ::ffff:VIP" "AF_INET6 ::ffff:$VIP $PORT" \
	"$(gai AF_INET6 AI_V4MAPPED AI_ALL)"
check_eq "getaddrinfo(hello, AF_INET): the VIP" "AF_INET $VIP $PORT" "$(gai AF_INET)"
# AF_UNSPEC: the VIP and nothing else, as glibc answers a name with only an
# A record (no IPv6 VIPs here; ipv6_vip.sh has the dual-stack answer).
check_eq "getaddrinfo(hello, AF_UNSPEC): the VIP only" "AF_INET $VIP $PORT" "$(gai AF_UNSPEC)"
check_eq "getent ahostsv6 hello (getaddrinfo AF_INET6)" "::ffff:$VIP STREAM hello" \
	"$(mesh_run getent ahostsv6 hello 2>&1 | head -n 1 | tr -s ' ')"

fetch6() { # blocking|nonblocking
	mesh_run timeout 20 "$PY" - hello "$PORT" "$1" <<'PY'
import socket, sys
from httpclient import connect, get, report
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam, typ, proto, _, addr = socket.getaddrinfo(host, port, socket.AF_INET6, socket.SOCK_STREAM)[0]
s = socket.socket(fam, typ, proto)
connect(s, addr, mode, 10)
print("peer %s port %d" % s.getpeername()[:2])
report(*get(s, "hello"))
PY
}

for mode in blocking nonblocking; do
	st=0
	out=$(fetch6 "$mode" 2>&1) || st=$?
	check_eq "AF_INET6 $mode: exits 0" 0 "$st"
	[[ $mode == blocking ]] || contains "AF_INET6 $mode: EINPROGRESS, then SO_ERROR 0" "connect_ex EINPROGRESS
SO_ERROR 0" "$out"
	contains "AF_INET6 $mode: getpeername is ::ffff:VIP" "peer ::ffff:$VIP port $PORT" "$out"
	contains "AF_INET6 $mode: the page" "$TOKEN" "$out"
	read -r _ sent _ received <<<"$(grep '^sent ' <<<"$out" || echo "sent 0 received 0")"
	client_conns "$st" "AF_INET6 $mode" 1 web
	check_pair_bytes "AF_INET6 $mode" "$sent" "$received"
done

summary
