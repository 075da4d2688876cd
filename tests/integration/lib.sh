# shellcheck shell=bash disable=SC2034
# (SC2034: variables such as PORT2 and CURL are for the scenarios.)
# lib.sh: sourced by every integration scenario (tests/integration/*.sh).
#
# A scenario is one bash file that sources this, sets up real daemons and real
# programs on loopback addresses, prints "ok - ..." / "not ok - ..." lines
# through the helpers below and ends with `summary`.
#
#   . "$(dirname "$0")/lib.sh"           (or ../lib.sh from a subdirectory)
#   make_certs "$TD" client hello
#   write_confs                          # $T/a.ini, $T/b.ini (two hosts)
#   start_meshd a "$T/a.ini"; start_meshd b "$T/b.ini"
#   start_http web 127.0.0.1 "$BACKPORT" "$T/www"
#   mesh_client curl ... "http://hello:$PORT/file"
#   get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
#   check_rec "A: result ok" "$ra" '.result == "ok"'
#   summary
#
# Everything lives in $T (a fresh temporary directory, removed at exit unless
# KEEP=1). Every background process is started through `spawn` in its own
# session and is killed, with its whole process group, at exit. meshd's stderr
# (and anything registered with san_watch) is checked for sanitizer reports:
# a report fails the scenario.
#
# Environment: MESHD (default build/meshd; make test's --sanitize run sets
# build-address-undefined/meshd), LIBMESH (default build/libmesh.so), KEEP=1 (keep $T),
# MESHPORT (pins the port block instead of picking a free one),
# CLIENT_SNAPSHOT (routes the shim uses in mesh_client; default $T/a.routes).
# Run as root: host A maps uid 0 to its caller identity.

set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCENARIO=$(basename "$0" .sh)

_abspath() { # PATH: relative to the current directory if it exists there, else to ROOT
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) if [[ -e $1 ]]; then printf '%s\n' "$PWD/$1"; else printf '%s\n' "$ROOT/$1"; fi ;;
	esac
}

MESHD=$(_abspath "${MESHD:-$ROOT/build/meshd}")
LIBMESH=$(_abspath "${LIBMESH:-$ROOT/build/libmesh.so}")
MESH_RUN=$ROOT/scripts/mesh-run
MESH_CERTS=$ROOT/scripts/mesh-certs
export MESHD LIBMESH

# Debian's python3: a version manager's shim on PATH would run under the
# preloaded library too, and may not be readable by other users.
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
# The scenarios' python clients share httpclient.py, beside this file.
PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH

# The trust domain of the standard two-host setup.
TD=mesh.test

# Hermetic client environment: no proxies, no stray preloads.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
	no_proxy NO_PROXY LD_PRELOAD MESH_SNAPSHOT
# curl as the scenarios use it: no ~/.curlrc, quiet but showing errors, and
# bounded so that a stuck relay shows up as a failure, not a hung scenario.
CURL=(curl -q -sS --noproxy '*' --max-time 20)

T=$(mktemp -d "${TMPDIR:-/tmp}/libmesh-$SCENARIO.XXXXXX")

PASS=0
FAIL=0
_SUMMARY_DONE=0
_TORN_DOWN=0
_PIDS=()         # every spawned pid (each leads its own process group)
_SAN_FILES=()    # files checked for sanitizer reports at the end
declare -A _MESHD_PID=() _MESHD_CONF=() _MESHD_DONE=() MESHD_STATUS=()
LAST_PID=

# ---------------------------------------------------------------- results

ok() {
	PASS=$((PASS + 1))
	printf 'ok - %s\n' "$*"
}

not_ok() {
	FAIL=$((FAIL + 1))
	printf 'not ok - %s\n' "$*"
}

note() { printf '# %s\n' "$*"; }

# check "desc" cmd...: ok when cmd succeeds (its stdout is discarded).
check() {
	local desc=$1
	shift
	if "$@" >/dev/null; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq "desc" EXPECTED ACTUAL
check_eq() {
	if [[ "$2" == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1"
		note "  expected: $2"
		note "  got:      $3"
	fi
}

# check_fail "desc" cmd...: ok when cmd fails (exits non-zero).
check_fail() {
	local desc=$1
	shift
	if "$@" >/dev/null; then not_ok "$desc"; else ok "$desc"; fi
}

# die "message": a setup step failed; the scenario cannot go on.
die() {
	not_ok "$*"
	summary
}

summary() {
	_teardown
	_SUMMARY_DONE=1
	printf '%d passed, %d failed\n' "$PASS" "$FAIL"
	if [[ $FAIL -gt 0 || $((PASS + FAIL)) -eq 0 ]]; then
		exit 1
	fi
	exit 0
}

# ---------------------------------------------------------------- processes

# _alive PID: the process exists and is not a zombie.
_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

# wait_gone PID [TIMEOUT_S]: wait until PID has exited.
wait_gone() {
	local pid=$1 t=${2:-10} i
	for ((i = 0; i < t * 20; i++)); do
		_alive "$pid" || return 0
		sleep 0.05
	done
	! _alive "$pid"
}

# spawn NAME OUTFILE CMD...: run CMD in the background in its own session,
# stdout+stderr to OUTFILE, stdin from /dev/null. Sets LAST_PID.
spawn() {
	local name=$1 out=$2
	shift 2
	setsid "$@" >"$out" 2>&1 </dev/null &
	LAST_PID=$!
	_PIDS+=("$LAST_PID")
	if [[ -n ${MESH_TEST_PIDFILE:-} ]]; then
		printf '%s %s\n' "$LAST_PID" "$name" >>"$MESH_TEST_PIDFILE" || true
	fi
}

# spawn_client NAME OUTFILE CMD...: spawn CMD under the shim (host A).
spawn_client() {
	local name=$1 out=$2
	shift 2
	spawn "$name" "$out" env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=${CLIENT_SNAPSHOT:-$T/a.routes}" "$@"
}

# kill_proc PID: TERM its process group, then KILL it if it lingers; reap.
kill_proc() {
	local pid=$1
	if _alive "$pid"; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 3; then
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 2 || true
		fi
	fi
	# The group may outlive its leader (children of a shell, say).
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# mesh_client CMD...: run CMD under the shim, resolving with host A's routes.
mesh_client() {
	env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=${CLIENT_SNAPSHOT:-$T/a.routes}" "$@"
}

# mesh_resolve NAME: the address NAME resolves to under the shim (or nothing).
mesh_resolve() {
	mesh_client "$PY" -c 'import socket, sys
try:
    print(socket.gethostbyname(sys.argv[1]))
except OSError as e:
    print("resolve %s: %s" % (sys.argv[1], e), file=sys.stderr)
    sys.exit(1)' "$1"
}

# ---------------------------------------------------------------- files

# file_sig FILE: identity of a file's current version (inode, mtime, size);
# empty when it does not exist. meshd publishes by rename, so a new version
# has a new inode.
file_sig() {
	stat -c '%i:%Y:%Z:%s' -- "$1" 2>/dev/null || true
}

# wait_file_change FILE OLD_SIG [TIMEOUT_S]
wait_file_change() {
	local f=$1 old=$2 t=${3:-10} i s
	for ((i = 0; i < t * 20; i++)); do
		s=$(file_sig "$f")
		if [[ -n $s && $s != "$old" ]]; then return 0; fi
		sleep 0.05
	done
	return 1
}

# wait_file FILE [TIMEOUT_S]
wait_file() {
	local f=$1 t=${2:-10} i
	for ((i = 0; i < t * 20; i++)); do
		[[ -e $f ]] && return 0
		sleep 0.05
	done
	return 1
}

# wait_grep FILE EXTENDED_REGEX [TIMEOUT_S]
wait_grep() {
	local f=$1 re=$2 t=${3:-10} i
	for ((i = 0; i < t * 20; i++)); do
		grep -qE -- "$re" "$f" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# ini_get FILE SECTION KEY: value of KEY in [SECTION] (first one), trimmed.
ini_get() {
	awk -v sec="$2" -v key="$3" '
		/^[ \t]*[;#]/ { next }
		/^[ \t]*\[/ {
			s = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", s); cur = s; next
		}
		cur == sec {
			i = index($0, "=")
			if (i == 0) next
			k = substr($0, 1, i - 1); v = substr($0, i + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
			if (k == key) { print v; exit }
		}' "$1"
}

# ---------------------------------------------------------------- ports

# Ports of this scenario: a block of 10 free ports below the ephemeral range,
# picked at random so that a leftover of an earlier scenario cannot collide.
#   MESHPORT   both meshd's mesh (mTLS) listeners (127.0.0.1 and 127.0.0.2)
#   PORT       the service port of "hello" (on the VIPs)
#   BACKPORT   the upstream (backend) on 127.0.0.1
#   PORT2, BACKPORT2, PORT3, BACKPORT3: spares for scenarios that need more
_port_block_free() {
	local base=$1 used
	command -v ss >/dev/null 2>&1 || return 0
	used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }') || return 0
	local p
	for ((p = base; p < base + 10; p++)); do
		grep -qx -- "$p" <<<"$used" && return 1
	done
	return 0
}

# Under run.sh -j N, slot K of N (MESH_TEST_SLOT, MESH_TEST_SLOTS) picks
# from the K-th of N equal shares of the blocks, less the top 10 blocks of
# each share (the ports some scenarios use above their block, up to
# MESHPORT + 99, stay inside the share): scenarios running at once never
# pick the same ports.
_pick_ports() {
	local base i slots=${MESH_TEST_SLOTS:-1} slot=${MESH_TEST_SLOT:-0} share
	[[ $slots =~ ^[1-9][0-9]*$ && $slot =~ ^[0-9]+$ && $slot -lt $slots ]] || slots=1 slot=0
	share=$((1200 / slots))
	if [[ -n ${MESHPORT:-} ]]; then
		base=$MESHPORT
	else
		for ((i = 0; i < 50; i++)); do
			base=$((20000 + (slot * share + RANDOM % (share - 10)) * 10))
			_port_block_free "$base" && break
		done
	fi
	MESHPORT=$base
	PORT=$((base + 1))
	BACKPORT=$((base + 2))
	PORT2=$((base + 3))
	BACKPORT2=$((base + 4))
	PORT3=$((base + 5))
	BACKPORT3=$((base + 6))
}
_pick_ports

# wait_port HOST PORT [TIMEOUT_S]: until something accepts on HOST:PORT.
# Never point this at a meshd mesh port: each probe would be a stranger
# connection there (and a tls_failure record).
wait_port() {
	local host=$1 port=$2 t=${3:-10} i
	for ((i = 0; i < t * 20; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------- upstreams

# start_http NAME HOST PORT DIR: python3 http.server serving DIR (HTTP/1.0:
# one request per connection, then close). Log in $T/NAME.log.
start_http() {
	local name=$1 host=$2 port=$3 dir=$4
	spawn "$name" "$T/$name.log" "$PY" -m http.server --bind "$host" "$port" --directory "$dir"
	wait_port "$host" "$port" 10 || die "http server $name did not listen on $host:$port ($(tail -n 5 "$T/$name.log" 2>/dev/null))"
}

# A small upstream for the scenarios that need more than http.server.
#   echo   echo every byte back; on EOF from the client, close
#   sha    read until EOF, then reply "<bytes> <sha256hex>\n" and close
#   http   log "accept" per connection, read one request head, reply a
#          fixed HTTP/1.0 200 "hello from upstream\n", log "request <bytes>"
# Usage: upstream.py MODE HOST PORT [LOGFILE]
cat >"$T/upstream.py" <<'PYEOF'
import hashlib, socket, socketserver, sys, threading

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
logpath = sys.argv[4] if len(sys.argv) > 4 else None
lock = threading.Lock()

def log(line):
    if logpath:
        with lock, open(logpath, "a") as f:
            f.write(line + "\n")

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        log("accept %s:%d" % self.client_address)
        if mode == "echo":
            n = 0
            while True:
                b = s.recv(65536)
                if not b:
                    break
                n += len(b)
                s.sendall(b)
            log("eof %d" % n)
        elif mode == "sha":
            h, n = hashlib.sha256(), 0
            while True:
                b = s.recv(65536)
                if not b:
                    break
                h.update(b)
                n += len(b)
            s.sendall(("%d %s\n" % (n, h.hexdigest())).encode())
            log("eof %d" % n)
        elif mode == "http":
            data = b""
            while b"\r\n\r\n" not in data:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            log("request %d" % len(data))
            if b"\r\n\r\n" in data:
                body = b"hello from upstream\n"
                s.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    # A real server's backlog: socketserver's default of 5 drops SYNs when
    # meshd connects a burst of streams at once (one link, no handshakes
    # to spread them out), and a dropped SYN costs a 1 s retransmit.
    request_queue_size = 128

Server((host, port), Handler).serve_forever()
PYEOF

# start_upstream NAME MODE HOST PORT: the upstream above; its log of
# connections is $T/NAME.conns, its output $T/NAME.log.
start_upstream() {
	local name=$1 mode=$2 host=$3 port=$4
	: >"$T/$name.conns"
	spawn "$name" "$T/$name.log" "$PY" "$T/upstream.py" "$mode" "$host" "$port" "$T/$name.conns"
	wait_port "$host" "$port" 10 || die "upstream $name did not listen on $host:$port ($(tail -n 5 "$T/$name.log" 2>/dev/null))"
	# wait_port's probe is a connection too: let it be logged, then forget it.
	wait_grep "$T/$name.conns" '^accept' 5 || true
	sleep 0.2
	: >"$T/$name.conns"
}

# upstream_accepts NAME: connections the upstream has accepted so far.
upstream_accepts() {
	grep -c '^accept' "$T/$1.conns" 2>/dev/null || true
}

# ---------------------------------------------------------------- certificates

# make_certs TD NAME...: CA (once) and one identity per NAME in $T/certs.
make_certs() {
	local td=$1 out n
	shift
	out=$("$MESH_CERTS" ca "$T/certs" "$td" 2>&1) || die "mesh-certs ca failed: $out"
	for n in "$@"; do
		out=$("$MESH_CERTS" identity "$T/certs" "$td" "$n" 2>&1) ||
			die "mesh-certs identity $n failed: $out"
	done
}

# ---------------------------------------------------------------- configs

# An [identity.NAME] section for uids UIDS with make_certs' files for NAME.
ini_identity() {
	printf '[identity.%s]\nuids = %s\ncert = %s/certs/%s.pem\nkey = %s/certs/%s.key\n' \
		"$1" "$2" "$T" "$1" "$T" "$1"
}

# write_confs [key=value...]: the standard two-host loopback configs.
#   host A "a": mesh port 127.0.0.1:MESHPORT, VIPs 127.77.0.0/16,
#               identity client (uid 0), service hello -> 127.0.0.2:MESHPORT
#   host B "b": mesh port 127.0.0.2:MESHPORT, VIPs 127.78.0.0/16,
#               identity hello (uid 65000), service hello -> upstream
#               127.0.0.1:BACKPORT, allow = client
# Keys (all optional):
#   a=FILE b=FILE          where to write ($T/a.ini, $T/b.ini)
#   a_mesh=LINES b_mesh=LINES     extra lines in [mesh]
#   a_hello=LINES b_hello=LINES   extra lines in [service.hello]
#   a_extra=TEXT b_extra=TEXT     extra sections appended at the end
#   endpoints=LIST         A's hello endpoints  (127.0.0.2:MESHPORT)
#   upstream=ADDR          B's hello upstream   (127.0.0.1:BACKPORT)
#   allow=LIST             B's hello allow list (client)
#   a_uids=LIST            uids of A's identity client (0)
#   drain=DUR              drain_timeout on both (2s, so that teardown is quick)
write_confs() {
	local fa=$T/a.ini fb=$T/b.ini a_mesh='' b_mesh='' a_hello='' b_hello='' a_extra='' b_extra=''
	local endpoints="127.0.0.2:$MESHPORT" upstream="127.0.0.1:$BACKPORT" allow=client
	local a_uids=0 drain=2s arg
	for arg in "$@"; do
		case $arg in
		a=*) fa=${arg#*=} ;;
		b=*) fb=${arg#*=} ;;
		a_mesh=*) a_mesh=${arg#*=} ;;
		b_mesh=*) b_mesh=${arg#*=} ;;
		a_hello=*) a_hello=${arg#*=} ;;
		b_hello=*) b_hello=${arg#*=} ;;
		a_extra=*) a_extra=${arg#*=} ;;
		b_extra=*) b_extra=${arg#*=} ;;
		endpoints=*) endpoints=${arg#*=} ;;
		upstream=*) upstream=${arg#*=} ;;
		allow=*) allow=${arg#*=} ;;
		a_uids=*) a_uids=${arg#*=} ;;
		drain=*) drain=${arg#*=} ;;
		*) die "write_confs: unknown argument '$arg'" ;;
		esac
	done
	if [[ $a_uids == 0 && $(id -u) -ne 0 ]]; then
		die "these scenarios run as root: host A's identity client is uid 0 (running as uid $(id -u))"
	fi
	cat >"$fa.tmp" <<EOF
[mesh]
trust_domain = $TD
host = a
ca = $T/certs/ca.pem
inbound = 127.0.0.1:$MESHPORT
admin = off
log = $T/a.log
vip_range = 127.77.0.0/16
snapshot = $T/a.routes
drain_timeout = $drain
${a_mesh}

$(ini_identity client "$a_uids")

[service.hello]
ports = $PORT
endpoints = $endpoints
${a_hello}

${a_extra}
EOF
	cat >"$fb.tmp" <<EOF
[mesh]
trust_domain = $TD
host = b
ca = $T/certs/ca.pem
inbound = 127.0.0.2:$MESHPORT
admin = off
log = $T/b.log
vip_range = 127.78.0.0/16
snapshot = $T/b.routes
drain_timeout = $drain
${b_mesh}

$(ini_identity hello 65000)

[service.hello]
ports = $PORT
upstream = $upstream
allow = $allow
${b_hello}

${b_extra}
EOF
	# Replace atomically: a reload must never read a half-written file.
	mv -f "$fa.tmp" "$fa"
	mv -f "$fb.tmp" "$fb"
}

# standard_setup [write_confs args...]: certs for client and hello, the two
# configs, both daemons started and ready.
# hello2_args [PORT BACKPORT]: HELLO2 = write_confs arguments that add
# service hello2 on both hosts, served as identity hello on PORT (default
# $PORT) with upstream 127.0.0.1:BACKPORT (default $BACKPORT): what the
# reload scenarios add, and a second service on hello's links.
hello2_args() {
	local port=${1:-$PORT} backport=${2:-$BACKPORT}
	HELLO2=("a_extra=[service.hello2]
ports = $port
endpoints = 127.0.0.2:$MESHPORT
identity = hello" "b_extra=[service.hello2]
ports = $port
upstream = 127.0.0.1:$backport
identity = hello
allow = client")
}

# reload_hosts DESC HOST...: SIGHUP each meshd and check that it republished
# its routes (what a valid reload does).
reload_hosts() {
	local desc=$1 h snap
	shift
	for h in "$@"; do
		snap=$(file_sig "$T/$h.routes")
		signal_meshd "$h" HUP
		check "$h $desc" wait_file_change "$T/$h.routes" "$snap" 10
	done
}

standard_setup() {
	make_certs "$TD" client hello
	write_confs "$@"
	start_meshd a "$T/a.ini"
	start_meshd b "$T/b.ini"
}

# ---------------------------------------------------------------- meshd

_need_binaries() {
	[[ -x $MESHD ]] || die "meshd not built: $MESHD (run make)"
	[[ -r $LIBMESH ]] || die "libmesh.so not built: $LIBMESH (run make)"
}

# san_watch FILE...: also check FILE for sanitizer reports at the end.
san_watch() { _SAN_FILES+=("$@"); }

# start_meshd NAME CONF: run "$MESHD -c CONF" in the background (output in
# $T/NAME.err) and wait until it is ready: the snapshot named in CONF has been
# (re)written and the process is alive. MESHD_PREFIX (words) runs it under a
# command that execs it, keeping its pid ("prlimit --nofile=48:48 --", "ip
# netns exec NS"); MESHD_ARGS (words) go before -c (e.g. -v).
start_meshd() {
	local name=$1 conf=$2 snap old pid i status
	local -a prefix=() args=()
	read -ra prefix <<<"${MESHD_PREFIX:-}"
	read -ra args <<<"${MESHD_ARGS:-}"
	_need_binaries
	snap=$(ini_get "$conf" mesh snapshot)
	[[ -n $snap ]] || die "start_meshd $name: no 'snapshot =' in [mesh] of $conf"
	old=$(file_sig "$snap")
	_SAN_FILES+=("$T/$name.err")
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
		spawn "meshd-$name" "$T/$name.err" "${prefix[@]}" "$MESHD" "${args[@]}" -c "$conf"
	pid=$LAST_PID
	_MESHD_PID[$name]=$pid
	_MESHD_CONF[$name]=$conf
	_MESHD_DONE[$name]=0
	for ((i = 0; i < 200; i++)); do
		if ! _alive "$pid"; then
			status=0
			wait "$pid" || status=$?
			_MESHD_DONE[$name]=1
			MESHD_STATUS[$name]=$status
			note "--- $T/$name.err"
			sed 's/^/# /' "$T/$name.err" | tail -n 30
			die "meshd $name exited with status $status before it was ready"
		fi
		if [[ -e $snap && $(file_sig "$snap") != "$old" ]]; then
			return 0
		fi
		sleep 0.05
	done
	note "--- $T/$name.err"
	sed 's/^/# /' "$T/$name.err" | tail -n 30
	die "meshd $name not ready after 10 s (no snapshot at $snap)"
}

meshd_pid() { printf '%s\n' "${_MESHD_PID[$1]}"; }

# signal_meshd NAME SIGNAL
signal_meshd() { kill -s "$2" "${_MESHD_PID[$1]}"; }

# stop_meshd NAME [TIMEOUT_S]: SIGTERM, wait for the exit (default 15 s), and
# return meshd's exit status (MESHD_STATUS[NAME] too). A meshd that does not
# exit in time is killed (status 124 reported).
stop_meshd() {
	local name=$1 t=${2:-15} pid status=0
	pid=${_MESHD_PID[$name]:-}
	[[ -n $pid ]] || return 0
	if [[ ${_MESHD_DONE[$name]} == 1 ]]; then
		return "${MESHD_STATUS[$name]:-0}"
	fi
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$t"; then
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		_MESHD_DONE[$name]=1
		MESHD_STATUS[$name]=124
		note "meshd $name did not exit within $t s of SIGTERM; killed"
		return 124
	fi
	wait "$pid" 2>/dev/null || status=$?
	_MESHD_DONE[$name]=1
	MESHD_STATUS[$name]=$status
	return "$status"
}

# wait_meshd NAME [TIMEOUT_S]: wait (without signalling) for meshd to exit;
# return its exit status, or 124 if it is still running.
wait_meshd() {
	local name=$1 t=${2:-15} pid status=0
	pid=${_MESHD_PID[$name]}
	if [[ ${_MESHD_DONE[$name]} == 1 ]]; then
		return "${MESHD_STATUS[$name]:-0}"
	fi
	wait_gone "$pid" "$t" || return 124
	wait "$pid" 2>/dev/null || status=$?
	_MESHD_DONE[$name]=1
	MESHD_STATUS[$name]=$status
	return "$status"
}

# meshd_alive NAME
meshd_alive() { _alive "${_MESHD_PID[$1]}"; }

# ---------------------------------------------------------------- traffic log

# records FILE [JQ_BOOL]: the records of a JSON-lines log (compact, one per
# line) for which JQ_BOOL is true; lines that are not JSON are skipped (a
# record being written is not complete yet).
records() {
	local f=$1 filter=${2:-true} mark=${3:-0}
	[[ -e $f ]] || return 0
	tail -n +"$((mark + 1))" "$f" | jq -cR "fromjson? | select(type == \"object\") | select($filter)"
}

# since FILE: the number of lines in FILE now (records after it are new).
since() { wc -l <"$1"; }

# count_records FILE JQ_BOOL
count_records() {
	local n
	n=$(records "$1" "$2" | wc -l) || n=0
	printf '%s\n' "$((n))"
}

# check_hello DESC: curl http://hello:$PORT/ under the shim exits 0 with the
# http upstream's answer (two checks, named after DESC).
check_hello() {
	local st=0 body
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || st=$?
	check_eq "$1: curl exits 0" 0 "$st"
	check_eq "$1: and gets the upstream's answer" "hello from upstream" "$body"
}

# wait_records FILE JQ_BOOL N [TIMEOUT_S]: wait until at least N records match
# (records are written when a connection closes); print them.
wait_records() { new_records "$1" 0 "$2" "$3" "${4:-10}"; }

# new_records FILE MARK JQ_BOOL N [TIMEOUT_S]: wait_records over the lines
# after line MARK (see since).
new_records() {
	local f=$1 mark=$2 filter=$3 n=$4 t=${5:-10} i out
	for ((i = 0; i < t * 10; i++)); do
		out=$(records "$f" "$filter" "$mark") || out=
		if [[ -n $out && $(wc -l <<<"$out") -ge $n ]]; then
			printf '%s\n' "$out"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# wait_record FILE JQ_BOOL [TIMEOUT_S]: wait for a matching record; print the
# first one.
wait_record() {
	local out
	out=$(wait_records "$1" "$2" 1 "${3:-10}") || return 1
	head -n 1 <<<"$out"
}

# get_record VAR FILE JQ_BOOL [TIMEOUT_S]: wait_record as a check; VAR gets
# the record, or "{}" (so that later check_rec calls fail) when none came.
get_record() {
	local _gr_out
	if _gr_out=$(wait_record "$2" "$3" "${4:-10}"); then
		ok "$(basename "$2"): record where $3"
	else
		not_ok "$(basename "$2"): record where $3 (none within ${4:-10} s)"
		_dump_log "$2"
		_gr_out='{}'
	fi
	printf -v "$1" '%s' "$_gr_out"
}

# check_rec "desc" RECORD JQ_BOOL: ok when JQ_BOOL is true of RECORD.
check_rec() {
	local desc=$1 rec=$2 filter=$3
	if jq -e "$filter" <<<"$rec" >/dev/null 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		note "  where $filter"
		note "  record: $rec"
	fi
}

# jget RECORD JQ_EXPR: a field, raw.
jget() { jq -r "$2" <<<"$1"; }

_dump_log() {
	local f=$1
	if [[ -s $f ]]; then
		note "--- last records of $f"
		tail -n 10 "$f" | sed 's/^/#   /'
	else
		note "--- $f is empty or missing"
	fi
}

# ---------------------------------------------------------------- topologies

# topo_up N ARGS...: scripts/topology.sh up N ARGS as this scenario's
# topology (namespaces lm$$-h1..hN and lm$$-br, state in $TOPO_DIR inside
# $T). At the end its meshds are stopped and must exit 0, their stderr is
# checked for sanitizer reports, and the namespaces are deleted, also when
# the scenario fails. topo CMD... runs topology.sh on it; topo_log H is host
# H's traffic log; topo_client H MODE ARGS... runs topo_client.py on H under
# the shim.
TOPOLOGY=$ROOT/scripts/topology.sh
TOPO_NAME=lm$$
TOPO_DIR=$T/topo
_TOPO_N=0
topo() { "$TOPOLOGY" -n "$TOPO_NAME" -d "$TOPO_DIR" "$@"; }
topo_log() { printf '%s/%s/traffic.log\n' "$TOPO_DIR" "$1"; }
topo_client() {
	local h=$1
	shift
	topo run "$h" "$PY" "$(dirname "${BASH_SOURCE[0]}")/topo_client.py" "$@"
}
topo_up() {
	local n=$1 i
	[[ $(id -u) -eq 0 ]] || die "needs root for ip netns"
	command -v ip >/dev/null || die "ip (iproute2) not installed: run scripts/deps.sh"
	_need_binaries
	_TOPO_N=$n
	on_exit "topo down --keep >/dev/null 2>&1"
	for ((i = 1; i <= n; i++)); do san_watch "$TOPO_DIR/h$i/meshd.err"; done
	if ! topo up "$@" >"$T/topo-up.log" 2>&1; then
		sed 's/^/# /' "$T/topo-up.log"
		die "topology.sh up $* failed"
	fi
}

# topo_summary OUT: the summary JSON of a topo_client output file ({} if none).
topo_summary() {
	local s
	s=$(sed -n 's/^summary //p' "$1" | tail -n 1)
	printf '%s\n' "${s:-"{}"}"
}

# topo_answers OUT: who answered each connection of OUT, one a line, in order
# ("-" for a connection that failed).
topo_answers() { awk '$1 == "conn" { print $6 }' "$1"; }

# longest_run NAME: the longest run of lines NAME on stdin.
longest_run() { awk -v h="$1" '{ n = ($1 == h) ? n + 1 : 0; if (n > m) m = n } END { print m + 0 }'; }

# topo_warm_up H SERVICE PORT HOST...: rounds of 10 connections from H until
# every HOST has answered one (so H holds a link to each); fails after 10.
topo_warm_up() {
	local h=$1 svc=$2 port=$3 i want got
	shift 3
	want=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
	for ((i = 0; i < 10; i++)); do
		topo_client "$h" seq "$svc" "$port" 10 >"$T/warm-up.out" 2>&1 || true
		got=$(topo_answers "$T/warm-up.out" | grep -v '^-$' | sort -u | tr '\n' ' ')
		[[ $got == "$want" ]] && return 0
	done
	return 1
}

# A jq function: a record's time in seconds (with its milliseconds).
JQ_TIME='def t: (.time[0:19] + "Z" | fromdate) + (.time[20:23] | tonumber) / 1000;'

# _topo_stop: before the sanitizer check, every meshd of the topology ends
# (SIGTERM) and must exit 0, as start_meshd's do.
_topo_stop() {
	[[ $_TOPO_N -gt 0 && -e $TOPO_DIR/topo.env ]] || return 0
	if ! topo stop all 2>"$T/topo-stop.err"; then
		not_ok "every meshd of the topology exits 0 at the end"
		sed 's/^/#   /' "$T/topo-stop.err"
	fi
	if [[ $FAIL -gt 0 ]]; then
		local i
		for ((i = 1; i <= _TOPO_N; i++)); do
			[[ -s $TOPO_DIR/h$i/meshd.err ]] || continue
			note "--- last lines of h$i's meshd.err"
			tail -n 15 "$TOPO_DIR/h$i/meshd.err" | sed 's/^/#   /'
		done
	fi
}

# ---------------------------------------------------------------- teardown

_san_check() {
	local f line
	for f in "${_SAN_FILES[@]}"; do
		[[ -e $f ]] || continue
		line=$(grep -nE -m 1 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ERROR: ThreadSanitizer|WARNING: ThreadSanitizer' "$f" | cut -d: -f1) || true
		if [[ -n $line ]]; then
			not_ok "sanitizer report in $(basename "$f")"
			sed -n "${line},\$p" "$f" | head -n 40 | sed 's/^/#   /'
		fi
	done
}

# on_exit CMD: run CMD (a string, eval'ed) at the end of the scenario,
# after its processes are stopped, even when it fails early.
_CLEANUPS=()
on_exit() { _CLEANUPS+=("$1"); }

# two_hosts_netns NS: two hosts as network namespaces, NS-a (10.77.0.1/24)
# and NS-b (10.77.0.2/24), each with lo up and an eth0 whose veth peer is
# on a bridge in a third namespace, NS-br (nothing in the root namespace).
# All three are removed at exit.
two_hosts_netns() {
	local ns=$1 h
	on_exit "ip netns del $ns-a 2>/dev/null; ip netns del $ns-b 2>/dev/null; ip netns del $ns-br 2>/dev/null"
	ip netns add "$ns-br" && ip netns add "$ns-a" && ip netns add "$ns-b" || die "cannot create namespaces"
	ip -n "$ns-br" link add br0 type bridge
	ip -n "$ns-br" link set br0 up
	for h in a b; do
		ip -n "$ns-br" link add "v$h" type veth peer name eth0 netns "$ns-$h"
		ip -n "$ns-br" link set "v$h" master br0 up
		ip -n "$ns-$h" link set lo up
		ip -n "$ns-$h" link set eth0 up
	done
	ip -n "$ns-a" addr add 10.77.0.1/24 dev eth0
	ip -n "$ns-b" addr add 10.77.0.2/24 dev eth0
}

_teardown() {
	[[ $_TORN_DOWN -eq 0 ]] || return 0
	_TORN_DOWN=1
	local pid name is_meshd status
	# Clients and upstreams first, so that the daemons' drain is quick.
	for pid in "${_PIDS[@]}"; do
		is_meshd=0
		for name in "${!_MESHD_PID[@]}"; do
			[[ ${_MESHD_PID[$name]} == "$pid" ]] && is_meshd=1
		done
		[[ $is_meshd -eq 1 ]] || kill_proc "$pid"
	done
	for name in "${!_MESHD_PID[@]}"; do
		if [[ ${_MESHD_DONE[$name]} == 1 ]]; then
			continue
		fi
		if ! meshd_alive "$name"; then
			status=0
			wait "${_MESHD_PID[$name]}" 2>/dev/null || status=$?
			_MESHD_DONE[$name]=1
			MESHD_STATUS[$name]=$status
			not_ok "meshd $name died during the scenario (exit status $status)"
			continue
		fi
		status=0
		stop_meshd "$name" 15 || status=$?
		if [[ $status -ne 0 ]]; then
			not_ok "meshd $name exits 0 on SIGTERM at the end (status $status)"
		fi
	done
	for name in "${!_MESHD_PID[@]}"; do
		kill -KILL -- "-${_MESHD_PID[$name]}" 2>/dev/null || true
	done
	_topo_stop
	_san_check
	# Scenario-registered cleanups (on_exit), after every process is gone.
	local c
	for c in "${_CLEANUPS[@]}"; do eval "$c" || true; done
	if [[ $FAIL -gt 0 ]]; then
		for name in "${!_MESHD_PID[@]}"; do
			if [[ -s $T/$name.err ]]; then
				note "--- last lines of $T/$name.err"
				tail -n 15 "$T/$name.err" | sed 's/^/#   /'
			fi
		done
	fi
}

_on_exit() {
	local rc=$?
	trap - EXIT INT TERM ERR
	set +e
	if [[ $_SUMMARY_DONE -eq 0 ]]; then
		not_ok "scenario $SCENARIO stopped before its summary (status $rc)"
		_teardown
		printf '%d passed, %d failed\n' "$PASS" "$FAIL"
		[[ $rc -ne 0 ]] || rc=1
	fi
	if [[ ${KEEP:-0} == 1 ]]; then
		note "kept $T"
	else
		rm -rf -- "$T"
	fi
	exit "$rc"
}

_on_signal() {
	note "interrupted by SIG$1"
	exit "$2"
}

# With set -E the ERR trap also runs in command substitutions; report only
# in the scenario's own shell, where set -e is about to stop it.
_on_err() {
	[[ $BASH_SUBSHELL -eq 0 ]] || return 0
	printf '# error: "%s" failed with status %s (%s line %s)\n' "$2" "$1" "${BASH_SOURCE[1]:-$0}" "$3" >&2
}

trap _on_exit EXIT
trap '_on_signal INT 130' INT
trap '_on_signal TERM 143' TERM
trap '_on_err "$?" "$BASH_COMMAND" "$LINENO"' ERR

# ---------------------------------------------------------------- attackers

# as_nobody CMD...: run CMD as user nobody (an unprivileged local user: the
# attacker of the security scenarios). $T becomes traversable (711) so that
# nobody can reach files made readable in it (chmod 644 a script first).
as_nobody() {
	chmod 711 "$T"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# spawn_nobody NAME OUTFILE CMD...: spawn CMD in the background as nobody.
spawn_nobody() {
	local name=$1 out=$2
	shift 2
	chmod 711 "$T"
	spawn "$name" "$out" setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
