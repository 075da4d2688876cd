#!/usr/bin/env bash
# shim_resolve.sh: libmesh.so on its own, without meshd. Writes route
# snapshots with build/mksnap and checks, with real programs (python3,
# getent, busybox), that mesh names resolve to VIPs through every hooked
# resolver, that everything else answers exactly as it does without the shim,
# that connects to intercepted addresses land on VIP:port with getpeername
# still showing the address asked for, that MESH_DEBUG reports decisions,
# that a missing, broken or replaced snapshot is handled, and that mesh-run
# preloads correctly and warns about programs it cannot reach.
#
# Builds nothing: expects build/libmesh.so and build/mksnap (`make all
# tools`; BUILD=dir for another build directory, LIBMESH=path for another
# libmesh.so, as run.sh sets it). Loopback addresses only.
# shellcheck disable=SC2016  # single-quoted sh -c scripts expand in the child
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LIB=${LIBMESH:-$BUILD/libmesh.so}
case $LIB in /*) ;; *) LIB=$ROOT/$LIB ;; esac
MKSNAP=$BUILD/mksnap
MESHRUN=$ROOT/scripts/mesh-run

pass=0
fail=0
skip=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "not ok - $*"; }
skipped() { skip=$((skip + 1)); echo "ok - # SKIP $*"; }
summary() {
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
}

if [ ! -f "$LIB" ] || [ ! -x "$MKSNAP" ]; then
	notok "prerequisites: need $LIB and $MKSNAP (make build/libmesh.so build/mksnap)"
	summary || exit 1
fi
PY=$(python3 -c 'import sys; print(sys.executable)')

TMP=$(mktemp -d /tmp/shim_resolve.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# Addresses of this scenario, away from the demo's 127.77.0.x.
HELLO_VIP=127.77.200.2
DB_VIP=127.77.200.3
NEW_VIP=127.77.200.4
ICPT=127.0.200.9   # a "legacy" address nobody listens on
ICPT2=127.0.200.10
SNAP=$TMP/routes
export MESH_SNAPSHOT=$SNAP

cat >"$TMP/probe.py" <<'PY'
"""Small probes printing results in a form that compares byte for byte."""
import ctypes, errno, os, select, socket, sys, threading, time

def gai(name, port, family="0", flags="0", socktype="0"):
    port = None if port == "-" else (int(port) if port.isdigit() else port)
    name = None if name == "-" else name
    try:
        res = socket.getaddrinfo(name, port, int(family), int(socktype), 0, int(flags))
        print([(int(f), int(t), p, c, a) for f, t, p, c, a in res])
    except socket.gaierror as e:
        print("gaierror", e.args[0])

def ghbn(name):
    try:
        print(socket.gethostbyname(name))
    except OSError as e:
        print("error", e.args[0])

def ghbn_ex(name):
    try:
        print(socket.gethostbyname_ex(name))
    except OSError as e:
        print("error", e.args[0])

def ghba(addr):
    try:
        print(socket.gethostbyaddr(addr))
    except OSError as e:
        print("error", e.args[0])

def gni(addr, port, flags="0"):
    try:
        print(socket.getnameinfo((addr, int(port)), int(flags)))
    except OSError as e:
        print("error", e.args[0])

def listen(addr, portfile):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 0))
    s.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    while True:
        c, peer = s.accept()
        data = c.recv(100)
        c.sendall(b"echo:" + data)
        c.close()

def connect(family, addr, port, mode="block"):
    fam = socket.AF_INET6 if family == "6" else socket.AF_INET
    typ = socket.SOCK_DGRAM if mode == "udp" else socket.SOCK_STREAM
    s = socket.socket(fam, typ)
    if mode == "nonblock":
        s.setblocking(False)
    rc = s.connect_ex((addr, int(port)))
    print("connect", errno.errorcode.get(rc, rc))
    if rc == errno.EINPROGRESS:
        select.select([], [s], [], 5)
        rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        print("so_error", errno.errorcode.get(rc, rc))
        s.setblocking(True)
    if rc != 0:
        return
    print("peer", s.getpeername()[:2])
    if mode == "udp":
        return
    s.sendall(b"ping")
    print("reply", s.recv(100).decode())

def reuse(addr, port, vip, vport):
    """Intercepted connect, close, then the same fd number reused for a
    direct connect to the VIP: getpeername must show the VIP then."""
    a = socket.socket()
    a.connect((addr, int(port)))
    fd = a.fileno()
    print("first", a.getpeername())
    a.close()
    b = socket.socket()
    print("same fd", b.fileno() == fd)
    b.connect((vip, int(vport)))
    print("second", b.getpeername())

def fds(name):
    before = sorted(os.listdir("/proc/self/fd"))
    socket.getaddrinfo(name, 80)
    socket.gethostbyname(name)
    after = sorted(os.listdir("/proc/self/fd"))
    print("fds unchanged" if before == after else "fds changed %s -> %s" % (before, after))

def errno_kept(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.gethostbyname.restype = ctypes.c_void_p
    ctypes.set_errno(1234)
    h = libc.gethostbyname(name.encode())
    print("answer", bool(h), "errno", ctypes.get_errno())

class hostent(ctypes.Structure):
    _fields_ = [("h_name", ctypes.c_char_p), ("h_aliases", ctypes.c_void_p),
                ("h_addrtype", ctypes.c_int), ("h_length", ctypes.c_int),
                ("h_addr_list", ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)))]

def ghbn_r(name, buflen):
    libc = ctypes.CDLL(None, use_errno=True)
    he = hostent()
    buf = ctypes.create_string_buffer(int(buflen))
    res = ctypes.c_void_p()
    herr = ctypes.c_int(-1)
    rc = libc.gethostbyname2_r(name.encode(), socket.AF_INET, ctypes.byref(he),
                               buf, int(buflen), ctypes.byref(res), ctypes.byref(herr))
    if rc == 0 and res.value:
        a = bytes(he.h_addr_list[0][0:4])
        print("rc 0", he.h_name.decode(), socket.inet_ntoa(a), "herr", herr.value)
    else:
        print("rc", errno.errorcode.get(rc, rc), "result", res.value, "herr", herr.value)

def resolve_twice(name, flag):
    print(socket.gethostbyname(name))
    sys.stdout.flush()
    # The caller changes the snapshot, then creates flag; the shim re-checks
    # the file at most every 100 ms, so give it more than that.
    for _ in range(200):
        if os.path.exists(flag):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    try:
        print(socket.gethostbyname(name))
    except OSError as e:
        print("error", e.args[0])

def stress(name, nthreads, n, *vips):
    bad = []
    def run():
        for _ in range(int(n)):
            try:
                for r in socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM):
                    if r[4][0] not in vips:
                        bad.append(r[4][0])
            except socket.gaierror as e:
                bad.append("gaierror %s" % e.args[0])
    ts = [threading.Thread(target=run) for _ in range(int(nthreads))]
    for t in ts: t.start()
    for t in ts: t.join()
    print("stress ok" if not bad else "stress bad %s" % sorted(set(bad))[:5])

def forked(name, addr, port):
    socket.gethostbyname(name)   # map the snapshot in the parent first
    pid = os.fork()
    if pid == 0:
        try:
            print("child", socket.gethostbyname(name))
            connect("4", addr, port)
        finally:
            sys.stdout.flush()
            os._exit(0)
    os.waitpid(pid, 0)

def gai_loop(name, n):
    for _ in range(int(n)):
        socket.getaddrinfo(name, 80, 0, 0, 0, socket.AI_CANONNAME)
        socket.getaddrinfo(name, "http", socket.AF_INET6)
    print("loop ok")

globals()[sys.argv[1]](*sys.argv[2:])
PY

probe() { "$PY" "$TMP/probe.py" "$@" 2>&1; }
mesh() { LD_PRELOAD=$LIB "$PY" "$TMP/probe.py" "$@" 2>&1; }

# expect DESC WANT ACTUAL: exact match
expect() {
	if [ "$2" = "$3" ]; then ok "$1"; else notok "$1"; echo "#   want: $2"; echo "#   got:  $3"; fi
}
# contains DESC NEEDLE HAYSTACK
contains() {
	case $3 in
	*"$2"*) ok "$1" ;;
	*) notok "$1"; echo "#   want substring: $2"; echo "#   got: $3" ;;
	esac
}
# same DESC ARGS...: probe output identical with and without the shim
same() {
	local d=$1; shift
	local a b
	a=$(probe "$@")
	b=$(mesh "$@")
	expect "$d" "$a" "$b"
}

write_snap() { "$MKSNAP" "$SNAP" mesh "$@"; }

# ---- listener on the db VIP, then the snapshot that routes to it ----------
# In its own session, registered with run.sh (MESH_TEST_PIDFILE), so that it
# is killed with its process group even if this script is killed first.
setsid "$PY" "$TMP/probe.py" listen "$DB_VIP" "$TMP/port" >"$TMP/listener.log" 2>&1 &
PIDS+=($!)
[ -n "${MESH_TEST_PIDFILE:-}" ] && echo "$! listener" >>"$MESH_TEST_PIDFILE"
for _ in $(seq 100); do [ -f "$TMP/port" ] && break; sleep 0.05; done
if [ ! -f "$TMP/port" ]; then
	notok "listener on $DB_VIP"
	cat "$TMP/listener.log"
	summary || exit 1
fi
DBPORT=$(cat "$TMP/port")

write_snap "hello=$HELLO_VIP:80,8080" "db=$DB_VIP:$DBPORT" \
	"icpt=$ICPT:$DBPORT=db" "icpt=$ICPT2:9=db"

# ---- forward resolution --------------------------------------------------
# AF_UNSPEC answers the VIP only, as glibc answers a name with an A record
# and no AAAA (no IPv6 VIPs in this snapshot): a second, mapped address
# would make programs that try each answer open a second mesh connection.
expect "getaddrinfo(hello, 80, AF_UNSPEC): the VIP as STREAM, DGRAM, RAW, nothing else" \
	"[(2, 1, 6, '', ('$HELLO_VIP', 80)), (2, 2, 17, '', ('$HELLO_VIP', 80)), (2, 3, 0, '', ('$HELLO_VIP', 80))]" \
	"$(mesh gai hello 80)"
shape_local=$(probe gai localhost 80 2 | sed 's/127\.0\.0\.1/X/g')
shape_mesh=$(mesh gai hello 80 2 | sed "s/$HELLO_VIP/X/g")
expect "getaddrinfo(AF_INET) result list has the shape glibc gives for localhost" "$shape_local" "$shape_mesh"
shape_local=$(probe gai localhost http 2 | sed 's/127\.0\.0\.1/X/g')
shape_mesh=$(mesh gai hello http 2 | sed "s/$HELLO_VIP/X/g")
expect "named service 'http' is looked up per protocol like glibc" "$shape_local" "$shape_mesh"
expect "HELLO.Mesh. (suffix, trailing dot, case) resolves" \
	"[(2, 1, 6, '', ('$HELLO_VIP', 443))]" "$(mesh gai HELLO.Mesh. 443 2 0 1)"
expect "AF_INET6 query answers ::ffff:VIP" \
	"[(10, 1, 6, '', ('::ffff:$HELLO_VIP', 80, 0, 0))]" "$(mesh gai hello 80 10 0 1)"
expect "AF_INET6|AI_V4MAPPED answers ::ffff:VIP" \
	"[(10, 1, 6, '', ('::ffff:$HELLO_VIP', 80, 0, 0))]" \
	"$(mesh gai hello 80 10 "$("$PY" -c 'import socket; print(socket.AI_V4MAPPED)')" 1)"
expect "AI_CANONNAME fills the name asked" \
	"[(2, 1, 6, 'hello.mesh', ('$HELLO_VIP', 80))]" \
	"$(mesh gai hello.mesh 80 2 "$("$PY" -c 'import socket; print(socket.AI_CANONNAME)')" 1)"
expect "NULL service gives port 0" \
	"[(2, 1, 6, '', ('$HELLO_VIP', 0))]" "$(mesh gai hello - 2 0 1)"
same "unknown service name fails like glibc (EAI_SERVICE)" gai localhost no-such-service-x
expect "unknown service name on a mesh name is EAI_SERVICE too" \
	"$(probe gai localhost no-such-service-x)" "$(mesh gai hello no-such-service-x)"
expect "gethostbyname(hello)" "$HELLO_VIP" "$(mesh ghbn hello)"
expect "gethostbyname_r via gethostbyname_ex(hello.mesh)" \
	"('hello.mesh', [], ['$HELLO_VIP'])" "$(mesh ghbn_ex hello.mesh)"
expect "gethostbyname2_r with room answers" \
	"rc 0 hello $HELLO_VIP herr 0" "$(mesh ghbn_r hello 512)"
expect "gethostbyname2_r with a short buffer is ERANGE" \
	"rc ERANGE result None herr -1" "$(mesh ghbn_r hello 16)"
expect "gethostbyname on a mesh name preserves errno" \
	"answer True errno 1234" "$(mesh errno_kept hello)"

if command -v getent >/dev/null; then
	expect "getent ahosts hello (getaddrinfo) shows the VIP first" "$HELLO_VIP hello" \
		"$(LD_PRELOAD=$LIB getent ahosts hello 2>&1 | awk '$2 == "STREAM" { print $1, $3 }' | head -n 1)"
	contains "getent hosts hello (gethostbyname2, AF_INET6 first) shows ::ffff:VIP" \
		"::ffff:$HELLO_VIP" "$(LD_PRELOAD=$LIB getent hosts hello 2>&1)"
	a=$(getent ahosts localhost 2>&1 || true)
	b=$(LD_PRELOAD=$LIB getent ahosts localhost 2>&1 || true)
	expect "getent ahosts localhost unchanged" "$a" "$b"
else
	skipped "getent not installed"
fi

# ---- everything else passes through unchanged ----------------------------
AI_PASSIVE=$("$PY" -c 'import socket; print(socket.AI_PASSIVE)')
AI_NUMERICHOST=$("$PY" -c 'import socket; print(socket.AI_NUMERICHOST)')
same "getaddrinfo(localhost) unchanged" gai localhost 80
same "getaddrinfo(localhost, AF_INET6) unchanged" gai localhost 80 10
same "getaddrinfo(127.0.0.1) unchanged" gai 127.0.0.1 80
same "getaddrinfo(::1) unchanged" gai ::1 80
same "getaddrinfo(nosuch.invalid) unchanged" gai nosuch.invalid 80
same "getaddrinfo(NULL node) unchanged" gai - 80
# POSIX: AI_PASSIVE is ignored when a name is given (socat sets it always).
expect "AI_PASSIVE with a mesh name still answers the VIP" \
	"[(2, 1, 6, '', ('$HELLO_VIP', 80))]" "$(mesh gai hello 80 2 "$AI_PASSIVE" 1)"
same "AI_NUMERICHOST on a mesh name passes through" gai hello 80 0 "$AI_NUMERICHOST"
same "AF_INET6 localhost with AI_PASSIVE unchanged" gai localhost 80 10 "$AI_PASSIVE"
same "gethostbyname(localhost) unchanged" ghbn localhost
same "gethostbyname(nosuch.invalid) unchanged" ghbn nosuch.invalid
same "gethostbyname_ex(localhost) unchanged" ghbn_ex localhost
same "gethostbyaddr(127.0.0.1) unchanged" ghba 127.0.0.1
same "getnameinfo(127.0.0.1) unchanged" gni 127.0.0.1 80
same "getnameinfo of a VIP with NI_NUMERICHOST unchanged" gni "$HELLO_VIP" 80 \
	"$("$PY" -c 'import socket; print(socket.NI_NUMERICHOST)')"

# ---- reverse -------------------------------------------------------------
expect "getnameinfo(VIP) names the service" "('hello.mesh', 'http')" "$(mesh gni "$HELLO_VIP" 80)"
expect "getnameinfo(VIP, NI_NOFQDN) gives the short name" "('hello', 'http')" \
	"$(mesh gni "$HELLO_VIP" 80 "$("$PY" -c 'import socket; print(socket.NI_NOFQDN)')")"
expect "gethostbyaddr(VIP) names the service" \
	"('hello.mesh', [], ['$HELLO_VIP'])" "$(mesh ghba "$HELLO_VIP")"
same "getnameinfo of an unused 127.77 address unchanged" gni 127.77.200.99 80

# ---- connect interception ------------------------------------------------
expect "without the shim nothing listens on the legacy address" \
	"connect ECONNREFUSED" "$(probe connect 4 "$ICPT" "$DBPORT")"
out=$(mesh connect 4 "$ICPT" "$DBPORT")
expect "intercepted connect lands on VIP:port, getpeername shows the original" \
	"connect 0
peer ('$ICPT', $DBPORT)
reply echo:ping" "$out"
out=$(mesh connect 4 "$ICPT" "$DBPORT" nonblock)
expect "non-blocking intercepted connect: EINPROGRESS, then connected" \
	"connect EINPROGRESS
so_error 0
peer ('$ICPT', $DBPORT)
reply echo:ping" "$out"
out=$(mesh connect 6 "::ffff:$ICPT" "$DBPORT")
expect "AF_INET6 socket to ::ffff:legacy lands on ::ffff:VIP" \
	"connect 0
peer ('::ffff:$ICPT', $DBPORT)
reply echo:ping" "$out"
out=$(mesh connect 4 "$ICPT2" 9)
expect "intercepted port not declared by the service maps to its first port" \
	"connect 0
peer ('$ICPT2', 9)
reply echo:ping" "$out"
same "UDP to an intercepted address is left alone" connect 4 "$ICPT" "$DBPORT" udp
same "connect to a closed port: same errno (ECONNREFUSED)" connect 4 127.0.0.1 1
expect "VIP used directly passes through" \
	"connect 0
peer ('$DB_VIP', $DBPORT)
reply echo:ping" "$(mesh connect 4 "$DB_VIP" "$DBPORT")"
expect "a reused fd connected directly to the VIP reports the VIP" \
	"first ('$ICPT', $DBPORT)
same fd True
second ('$DB_VIP', $DBPORT)" "$(mesh reuse "$ICPT" "$DBPORT" "$DB_VIP" "$DBPORT")"

# ---- MESH_DEBUG ----------------------------------------------------------
dbg=$(MESH_DEBUG=1 LD_PRELOAD=$LIB "$PY" "$TMP/probe.py" ghbn hello 2>&1 >/dev/null)
contains "MESH_DEBUG: resolve decision" "libmesh: resolve hello -> $HELLO_VIP (mesh)" "$dbg"
dbg=$(MESH_DEBUG=1 LD_PRELOAD=$LIB "$PY" "$TMP/probe.py" ghbn nosuch.invalid 2>&1 >/dev/null)
contains "MESH_DEBUG: pass-through decision" \
	"libmesh: resolve nosuch.invalid: not a mesh name, passed through" "$dbg"
dbg=$(MESH_DEBUG=1 LD_PRELOAD=$LIB "$PY" "$TMP/probe.py" connect 4 "$ICPT" "$DBPORT" 2>&1 >/dev/null)
contains "MESH_DEBUG: connect redirect" \
	"libmesh: connect $ICPT:$DBPORT -> $DB_VIP:$DBPORT (intercept db)" "$dbg"
dbg=$(MESH_DEBUG=1 LD_PRELOAD=$LIB "$PY" "$TMP/probe.py" connect 4 127.0.0.1 1 2>&1 >/dev/null)
contains "MESH_DEBUG: connect pass-through" "libmesh: connect 127.0.0.1:1 passed through" "$dbg"
quiet=$(LD_PRELOAD=$LIB "$PY" "$TMP/probe.py" connect 4 "$ICPT" "$DBPORT" 2>&1 >/dev/null)
expect "without MESH_DEBUG the shim prints nothing" "" "$quiet"

# ---- process hygiene -----------------------------------------------------
expect "the shim keeps no descriptor open" "fds unchanged" "$(mesh fds hello)"
expect "after fork the child resolves and intercepts" \
	"child $HELLO_VIP
connect 0
peer ('$ICPT', $DBPORT)
reply echo:ping" "$(mesh forked hello "$ICPT" "$DBPORT")"
MDEBUG=
for f in /lib/*/libc_malloc_debug.so.0 /usr/lib/*/libc_malloc_debug.so.0; do
	[ -e "$f" ] && { MDEBUG=$f; break; }
done
if [ -n "$MDEBUG" ]; then
	out=$(LD_PRELOAD="$LIB $MDEBUG" MALLOC_CHECK_=3 "$PY" "$TMP/probe.py" gai_loop hello 2000 2>&1)
	expect "glibc's freeaddrinfo frees our results cleanly (malloc check)" "loop ok" "$out"
else
	skipped "libc_malloc_debug.so.0 not found: freeaddrinfo check"
fi

# ---- snapshot life cycle -------------------------------------------------
MESH_SNAPSHOT=$TMP/none same "no snapshot file: names pass through" gai hello 80
MESH_SNAPSHOT=$TMP/none same "no snapshot file: connects pass through" connect 4 "$ICPT" "$DBPORT"
head -c 100 "$SNAP" >"$TMP/truncated"
MESH_SNAPSHOT=$TMP/truncated same "truncated snapshot: everything passes through" gai hello 80
printf 'not a snapshot at all, but long enough to pass the size check....' >"$TMP/garbage"
MESH_SNAPSHOT=$TMP/garbage same "garbage snapshot: everything passes through" ghbn hello

# resolve_twice prints a first answer, waits for $TMP/changed, then resolves
# again in the same process.
first_answer() {
	for _ in $(seq 200); do [ -s "$TMP/twice" ] && return 0; sleep 0.05; done
}
rm -f "$TMP/changed"
mesh resolve_twice hello "$TMP/changed" >"$TMP/twice" &
rpid=$!
first_answer
write_snap "hello=$NEW_VIP:80" "db=$DB_VIP:$DBPORT" "icpt=$ICPT:$DBPORT=db"
touch "$TMP/changed"
wait "$rpid" || true
expect "a replaced snapshot is picked up by a running process" \
	"$HELLO_VIP
$NEW_VIP" "$(cat "$TMP/twice")"

rm -f "$TMP/changed"
mesh resolve_twice hello "$TMP/changed" >"$TMP/twice" &
rpid=$!
first_answer
mv "$SNAP" "$SNAP.away"
touch "$TMP/changed"
wait "$rpid" || true
expect "a removed snapshot turns the shim off in a running process" \
	"$NEW_VIP
$(probe ghbn hello)" "$(cat "$TMP/twice")"
mv "$SNAP.away" "$SNAP"

# Lookups in 8 threads while the snapshot is replaced 30 times.
mesh stress hello 8 3000 "$HELLO_VIP" "$NEW_VIP" >"$TMP/stress" &
spid=$!
for i in $(seq 30); do
	if [ $((i % 2)) = 0 ]; then v=$HELLO_VIP; else v=$NEW_VIP; fi
	MKSNAP_GENERATION=$i write_snap "hello=$v:80" "db=$DB_VIP:$DBPORT"
	sleep 0.05
done
if wait "$spid"; then
	expect "threads resolving while the snapshot is swapped" "stress ok" "$(cat "$TMP/stress")"
else
	notok "threads resolving while the snapshot is swapped (exit status)"
	cat "$TMP/stress"
fi
write_snap "hello=$HELLO_VIP:80,8080" "db=$DB_VIP:$DBPORT" "icpt=$ICPT:$DBPORT=db"

# ---- IPv6 VIPs (a snapshot with an IPv6 range) ---------------------------
# hello has a VIP6, db none: hello answers like a dual-stack name, db as
# before (AF_INET6: ::ffff:VIP; AF_UNSPEC: the VIP only).
HELLO_VIP6=fd6d:6573:6800::2
MKSNAP_RANGE6=fd6d:6573:6800::/64 write_snap "hello=$HELLO_VIP:80,8080" "db=$DB_VIP:$DBPORT" \
	"icpt=$ICPT:$DBPORT=db" "icpt=$ICPT2:9=db" "vip6=hello=$HELLO_VIP6"
for _ in $(seq 60); do
	[ "$(mesh gai hello 80 10 0 1)" = "[(10, 1, 6, '', ('$HELLO_VIP6', 80, 0, 0))]" ] && break
	sleep 0.05
done
expect "with a VIP6: AF_INET6 answers the VIP6" \
	"[(10, 1, 6, '', ('$HELLO_VIP6', 80, 0, 0))]" "$(mesh gai hello 80 10 0 1)"
expect "with a VIP6: AF_UNSPEC answers the VIP, then the VIP6" \
	"[(2, 1, 6, '', ('$HELLO_VIP', 80)), (10, 1, 6, '', ('$HELLO_VIP6', 80, 0, 0))]" \
	"$(mesh gai hello 80 0 0 1)"
expect "with a VIP6: AF_INET6|AI_V4MAPPED|AI_ALL adds ::ffff:VIP after it, as glibc does" \
	"[(10, 1, 6, '', ('$HELLO_VIP6', 80, 0, 0)), (10, 1, 6, '', ('::ffff:$HELLO_VIP', 80, 0, 0))]" \
	"$(mesh gai hello 80 10 "$("$PY" -c 'import socket; print(socket.AI_V4MAPPED | socket.AI_ALL)')" 1)"
expect "with a VIP6: AF_INET still answers the VIP" \
	"[(2, 1, 6, '', ('$HELLO_VIP', 80))]" "$(mesh gai hello 80 2 0 1)"
expect "a service without a VIP6: AF_INET6 keeps ::ffff:VIP" \
	"[(10, 1, 6, '', ('::ffff:$DB_VIP', 80, 0, 0))]" "$(mesh gai db 80 10 0 1)"
expect "a service without a VIP6: AF_UNSPEC answers the VIP only" \
	"[(2, 1, 6, '', ('$DB_VIP', 80))]" "$(mesh gai db 80 0 0 1)"
expect "gethostbyaddr(VIP6) names the service" "('hello.mesh', [], ['$HELLO_VIP6'])" \
	"$(mesh ghba "$HELLO_VIP6")"
expect "getnameinfo(VIP6) names the service" "('hello.mesh', '80')" \
	"$(mesh gni "$HELLO_VIP6" 80 "$("$PY" -c 'import socket; print(socket.NI_NUMERICSERV)')")"
if command -v getent >/dev/null; then
	expect "getent hosts hello (gethostbyname2 AF_INET6) shows the VIP6" "$HELLO_VIP6 hello" \
		"$(LD_PRELOAD=$LIB getent hosts hello 2>&1 | tr -s ' ')"
fi
write_snap "hello=$HELLO_VIP:80,8080" "db=$DB_VIP:$DBPORT" "icpt=$ICPT:$DBPORT=db" "icpt=$ICPT2:9=db"

# ---- mesh-run ------------------------------------------------------------
out=$(LIBMESH_SO=$LIB "$MESHRUN" "$PY" "$TMP/probe.py" ghbn hello 2>&1)
expect "mesh-run preloads the shim" "$HELLO_VIP" "$out"
out=$(LIBMESH_SO=$LIB LD_PRELOAD=libm.so.6 "$MESHRUN" sh -c 'echo "$LD_PRELOAD"' 2>&1)
expect "mesh-run keeps an existing LD_PRELOAD, after libmesh" "$LIB libm.so.6" "$out"
out=$(LIBMESH_SO=$LIB LD_PRELOAD=$LIB "$MESHRUN" sh -c 'echo "$LD_PRELOAD"' 2>&1)
expect "mesh-run does not preload twice" "$LIB" "$out"
if [ "$BUILD" = "$ROOT/build" ]; then
	out=$(env -u LIBMESH_SO -u LD_PRELOAD "$MESHRUN" sh -c 'echo "$LD_PRELOAD"' 2>&1)
	expect "mesh-run finds build/libmesh.so next to itself" "$ROOT/build/libmesh.so" "$out"
fi
out=$(LIBMESH_SO=$LIB "$MESHRUN" --debug sh -c 'echo "$MESH_DEBUG"' 2>/dev/null)
expect "mesh-run --debug sets MESH_DEBUG=1" "1" "$out"
out=$("$MESHRUN" --list 2>&1)
contains "mesh-run --list shows services and VIPs" "hello    $HELLO_VIP" "$out"
contains "mesh-run --list shows intercepts" "intercept $ICPT:$DBPORT -> db" "$out"
set +e
LIBMESH_SO=$LIB "$MESHRUN" sh -c 'exit 7' >/dev/null 2>&1
rc=$?
set -e
expect "mesh-run passes the program's exit status" "7" "$rc"

STATIC=
for c in busybox /bin/busybox; do
	p=$(command -v "$c" 2>/dev/null || true)
	if [ -n "$p" ] && file -L "$p" 2>/dev/null | grep -q 'statically linked'; then STATIC=$p; break; fi
done
if [ -n "$STATIC" ]; then
	out=$(LIBMESH_SO=$LIB "$MESHRUN" "$STATIC" echo ran 2>&1)
	contains "mesh-run warns about a statically linked program" \
		"mesh-run: $STATIC is statically linked; LD_PRELOAD cannot reach it. Use the service VIPs directly:" "$out"
	contains "the warning lists the VIPs" "hello    $HELLO_VIP" "$out"
	contains "the static program still runs" "ran" "$out"
else
	skipped "no statically linked busybox (scripts/deps.sh installs busybox-static): static warning"
fi
out=$(LIBMESH_SO=$LIB "$MESHRUN" sh -c 'echo dyn' 2>&1)
expect "no warning for a dynamically linked program" "dyn" "$out"

summary
