#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# What is not the mesh's behaves exactly as without the shim (with a live
# route snapshot from host A's meshd): getaddrinfo/gethostbyname answers for
# localhost, ip6-localhost, this host's name, numeric hosts, unknown names
# and AI_PASSIVE lookups; getent; servers that bind with AI_PASSIVE; a UDP
# echo and an AF_UNIX echo. Each probe's output is compared byte for byte
# with and without libmesh.so.
. "$(dirname "$0")/lib.sh"
need getent nc
setup_hello

cat >"$T/probe.py" <<'PY'
import os, socket, sys, threading

def gai(name, port, family="0", socktype="0", flags="0"):
    name = None if name == "-" else name
    try:
        r = socket.getaddrinfo(name, int(port), int(family), int(socktype), 0, int(flags))
        print([(int(f), int(t), p, c, a) for f, t, p, c, a in r])
    except socket.gaierror as e:
        print("gaierror", e.args[0])

def ghbn(name):
    try:
        print(socket.gethostbyname_ex(name))
    except OSError as e:
        print("error", e.args[0])

def gni(addr, port):
    try:
        print(socket.getnameinfo((addr, int(port)), 0))
    except OSError as e:
        print("error", e.args[0])

def udp_echo(n):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    def serve():
        for _ in range(int(n)):
            d, a = srv.recvfrom(2048)
            srv.sendto(b"echo " + d, a)
    threading.Thread(target=serve, daemon=True).start()
    port = srv.getsockname()[1]
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    # sendto by name (resolved with getaddrinfo), then a connected UDP socket
    ai = socket.getaddrinfo("localhost", port, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
    c.sendto(b"one", ai)
    d, a = c.recvfrom(2048)
    print(d.decode(), a[0] == "127.0.0.1" and a[1] == port)
    c.connect(("127.0.0.1", port))
    c.send(b"two")
    print(c.recv(2048).decode(), c.getpeername()[1] == port)

def unix_echo(path):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    def serve():
        s, _ = srv.accept()
        d = s.recv(2048)
        s.sendall(b"echo " + d)
        s.close()
    threading.Thread(target=serve, daemon=True).start()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(path)
    c.sendall(b"over AF_UNIX")
    print(c.recv(2048).decode(), c.getpeername() == path)
    os.unlink(path)

globals()[sys.argv[1]](*sys.argv[2:])
PY

probe() { "$PY" "$T/probe.py" "$@" 2>&1; }
mprobe() { mesh_run "$PY" "$T/probe.py" "$@" 2>&1; }
same() { # DESC PROBE ARGS...
	local d=$1 a b
	shift
	a=$(probe "$@") || true
	b=$(mprobe "$@") || true
	check_eq "$d" "$a" "$b"
}

AF_INET=2 AF_INET6=10 STREAM=1 DGRAM=2
AI_PASSIVE=1 AI_CANONNAME=2
HOSTNAME_=$(hostname)
for name in localhost ip6-localhost "$HOSTNAME_" 127.0.0.1 ::1 127.77.0.1 nosuch.invalid; do
	same "getaddrinfo($name) unchanged" gai "$name" 80
	same "getaddrinfo($name, AF_INET, STREAM) unchanged" gai "$name" 80 $AF_INET $STREAM
	same "getaddrinfo($name, AF_INET6, STREAM) unchanged" gai "$name" 80 $AF_INET6 $STREAM
	same "gethostbyname_ex($name) unchanged" ghbn "$name"
done
same "getaddrinfo(localhost, AI_CANONNAME) unchanged" gai localhost 80 0 $STREAM $AI_CANONNAME
same "getaddrinfo(NULL, AI_PASSIVE) unchanged" gai - 8080 0 $STREAM $AI_PASSIVE
same "getaddrinfo(NULL, AF_INET6, AI_PASSIVE) unchanged" gai - 8080 $AF_INET6 $STREAM $AI_PASSIVE
same "getaddrinfo(localhost, AI_PASSIVE) unchanged" gai localhost 8080 0 $STREAM $AI_PASSIVE
same "getaddrinfo(NULL) (loopback) unchanged" gai - 8080 0 $STREAM 0
same "getaddrinfo(localhost, DGRAM) unchanged" gai localhost 53 0 $DGRAM
same "getnameinfo(127.0.0.1) unchanged" gni 127.0.0.1 22
same "getnameinfo(::1) unchanged" gni ::1 22
for q in "ahosts localhost" "ahostsv4 localhost" "ahostsv6 localhost" "hosts localhost" \
	"hosts ip6-localhost" "hosts $HOSTNAME_" "hosts 127.0.0.1" "services http"; do
	# shellcheck disable=SC2086
	check_eq "getent $q unchanged" "$(getent $q 2>&1 || echo "exit $?")" "$(mesh_run getent $q 2>&1 || echo "exit $?")"
done

# Servers under the shim: python's http.server binds with getaddrinfo
# (AI_PASSIVE), nc -l too; both serve clients that run without the shim.
start_port=$PORT3
spawn pyserver "$T/pyserver.log" env "LIBMESH_SO=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$MESH_RUN" \
	"$PY" -m http.server --bind 127.0.0.1 "$start_port" --directory "$T/www"
if wait_port 127.0.0.1 "$start_port" 10; then
	ok "python3 -m http.server (AI_PASSIVE bind) listens under the shim"
else
	not_ok "python3 -m http.server (AI_PASSIVE bind) listens under the shim"
	sed 's/^/#   /' "$T/pyserver.log"
fi
check_eq "and serves the page to a client without the shim" "$TOKEN" \
	"$("${CURL[@]}" "http://127.0.0.1:$start_port/" 2>&1)"
spawn ncserver "$T/nc.out" env "LIBMESH_SO=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$MESH_RUN" \
	nc -l 127.0.0.1 "$BACKPORT3"
if wait_port 127.0.0.1 "$BACKPORT3" 10; then
	ok "nc -l listens under the shim"
else
	not_ok "nc -l listens under the shim"
fi
# (wait_port's probe was nc -l's one connection; nc -l then exits.)
check "nc -l accepted that connection and exited" wait_gone "$LAST_PID" 5

same "UDP echo by name and connected: unchanged" udp_echo 2
same "AF_UNIX echo: unchanged" unix_echo "$T/unix.sock"
check_eq "UDP echo output" "echo one True
echo two True" "$(mprobe udp_echo 2)"
check_eq "AF_UNIX echo output" "echo over AF_UNIX True" "$(mprobe unix_echo "$T/unix2.sock")"

# None of that went through the mesh.
sleep 0.3
check_eq "no connection through host A's meshd" 0 "$(count_records "$T/a.log" 'true')"

summary
