#!/usr/bin/env bash
# topology.sh: an N-host mesh on one machine, for trying libmesh and for the
# multi-host tests. Each host is a network namespace NAME-hI with one veth
# (eth0, NET.I/24) to a bridge that lives in its own namespace NAME-br, so
# nothing is added to the root namespace. Each host has its own certificates
# (one CA per topology), INI, meshd, traffic log and, on the hosts that serve
# a service, a small local upstream. Commands run a program on a host (with
# or without the shim), cut or delay a host's link, stop, start and reload
# its meshd, and tear everything down. Run as root; `topology.sh --help`.
#
# State lives in one directory (default /tmp/libmesh-topo-NAME):
#   topo.env                 what `up` was given (sourced by later commands)
#   ca/                      the topology's CA (its key stays here)
#   upstream.py delayline.py the helper programs, written by `up`
#   hI/mesh.ini              hI's config      hI/meshd.err   meshd's stderr
#   hI/traffic.log           traffic records  hI/routes      the shim's snapshot
#   hI/certs/                hI's own keys    hI/SVC.conns   upstream accepts
# Every background process leads its own process group; its pid is written
# beside it and, when MESH_TEST_PIDFILE is set (tests/integration/run.sh),
# appended there too so that the runner can kill what a killed test left.
set -euo pipefail
# shellcheck disable=SC2153,SC2016  # topo.env's variables; code for inner shells

prog=${0##*/}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESHD=${MESHD:-$ROOT/build/meshd}
LIBMESH=${LIBMESH:-$ROOT/build/libmesh.so}
MESH_CERTS=$ROOT/scripts/mesh-certs
TD=topo.test
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi

usage() {
	cat <<EOF
usage: $prog [-n NAME] [-d DIR] COMMAND [ARGS]

  up N [OPTIONS]        make hosts h1..hN and start a meshd on each
      --service S=HOSTS   service S served on HOSTS (h2,h3), called from any host
      --port S=PORT       S's port on its VIP (default 80)
      --upstream S=MODE   the upstream on each serving host, on 127.0.0.1:UPORT
                          (\`$prog info\` prints UPORT): http (default: answers
                          any HTTP request with the host's name, e.g. "h2"),
                          echo (every byte back), none (start your own: exec)
      --mesh KEY=VALUE    extra or replaced [mesh] key, every host
      --svc S:KEY=VALUE   extra or replaced [service.S] key, every host; in
                          endpoints, a word hI stands for hI's mesh address
                          ("endpoints = h2*9, h3*1", "endpoints = h2 | h3")
      --subnet A.B.C.0/24 host addresses (default 10.78.0.0/24: hI is A.B.C.I)
  down [--keep]         stop everything, delete the namespaces and, without
                        --keep, the state directory; exits 1 if a meshd had
                        died or did not exit 0
  run H CMD...          run CMD on host H under the shim (LD_PRELOAD, H's routes)
  exec H CMD...         run CMD on host H without the shim
  cut H [--down]        silence H's link: its frames stop crossing the bridge
                        (no error on either side); --down: set H's eth0 down
  restore H             undo cut
  delay H MS            frames leaving H wait MS ms (tc netem when the kernel
                        has it, else a userspace delay line on the bridge);
                        0 removes the delay
  stop H [--kill]       SIGTERM (or SIGKILL) H's meshd and wait for its exit;
                        H may be "all"
  start H               start H's meshd again (same INI, logs appended)
  set H SECTION KEY=VALUE...  rewrite keys of H's INI (no reload)
  reload H              SIGHUP H's meshd; wait until it reloaded (exit 0) or
                        rejected the file (exit 1, with its reasons)
  info                  hosts, addresses, services, processes, files
  path H [ini|log|err|routes|dir]   a file of host H (default dir)

  -n NAME   topology name, [a-z0-9-], at most 20 (default \$TOPO_NAME or lm);
            namespaces are NAME-h1.. and NAME-br
  -d DIR    state directory (default /tmp/libmesh-topo-NAME)
Host H is hI or I. Environment: MESHD, LIBMESH (default build/ of this tree).
EOF
}

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

NAME=${TOPO_NAME:-lm}
DIR=
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) NAME=${2:?-n needs a name}; shift 2 ;;
	-d) DIR=${2:?-d needs a directory}; shift 2 ;;
	-h | --help | help) usage; exit 0 ;;
	--) shift; break ;;
	-*) usage >&2; exit 2 ;;
	*) break ;;
	esac
done
[[ $NAME =~ ^[a-z0-9][a-z0-9-]{0,19}$ ]] || die "bad topology name '$NAME' ([a-z0-9-], at most 20)"
DIR=${DIR:-/tmp/libmesh-topo-$NAME}
BR=$NAME-br
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
cmd=$1
shift

# ---------------------------------------------------------------- helpers

load_env() {
	[[ -r $DIR/topo.env ]] || die "no topology '$NAME' (no $DIR/topo.env): run '$prog -n $NAME up N' first"
	# shellcheck disable=SC1091
	. "$DIR/topo.env"
}

host_index() { # H -> I (checked against N)
	local h=${1#h}
	[[ $h =~ ^[0-9]+$ && $h -ge 1 && $h -le $N ]] || die "no host '$1' (h1..h$N)"
	printf '%s\n' "$((10#$h))"
}

ns_of() { printf '%s-h%s\n' "$NAME" "$1"; }
hdir() { printf '%s/h%s\n' "$DIR" "$1"; }

register_pid() { # PID LABEL: for tests/integration/run.sh's leftover killer
	if [[ -n ${MESH_TEST_PIDFILE:-} ]]; then
		printf '%s %s\n' "$1" "$2" >>"$MESH_TEST_PIDFILE" || true
	fi
}

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

kill_group() { # PIDFILE: TERM the group it names, KILL it if it lingers
	local pid i
	[[ -s $1 ]] || return 0
	pid=$(<"$1")
	if alive "$pid"; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do alive "$pid" || break; sleep 0.05; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -f -- "$1"
}

file_sig() { stat -c '%i:%Y:%Z:%s' -- "$1" 2>/dev/null || true; }

# expand_hosts TEXT: every word hI becomes hI's mesh address.
expand_hosts() {
	sed -E "s/\\bh([0-9]+)\\b/$NET.\\1:$MESHPORT/g" <<<"$1"
}

# section HEADER DEFAULTS EXTRAS: an INI section; an EXTRAS line replaces
# the DEFAULTS line of the same key (both are "key = value" lines).
section() {
	local header=$1 defaults=$2 extras=$3 line key
	local -A given=()
	while IFS= read -r line; do
		[[ -n $line ]] || continue
		key=${line%%=*}
		given[${key// /}]=1
	done <<<"$extras"
	printf '[%s]\n' "$header"
	while IFS= read -r line; do
		[[ -n $line ]] || continue
		key=${line%%=*}
		[[ -n ${given[${key// /}]:-} ]] || printf '%s\n' "$line"
	done <<<"$defaults"
	[[ -z $extras ]] || printf '%s\n' "$extras"
	printf '\n'
}

svc_var() { # S FIELD: the value of SVC_<S>_<FIELD> from topo.env
	local v="SVC_${1//-/_}_$2"
	printf '%s\n' "${!v:-}"
}

serves() { # I S: host I serves S
	local h
	for h in $(svc_var "$2" HOSTS); do [[ $h == "h$1" ]] && return 0; done
	return 1
}

write_ini() { # I: hI's mesh.ini, from topo.env
	local i=$1 d s k defaults extras uid=65000 out
	d=$(hdir "$i")
	out=$d/mesh.ini
	{
		section mesh "trust_domain = $TD
host = h$i
ca = $DIR/ca/ca.pem
inbound = $NET.$i:$MESHPORT
admin = off
log = $d/traffic.log
vip_range = 127.77.0.0/16
snapshot = $d/routes
drain_timeout = 2s" "$MESH_EXTRA"
		printf '[identity.client]\nuids = 0\ncert = %s/certs/client.pem\nkey = %s/certs/client.key\n\n' "$d" "$d"
		for s in $SERVICES; do
			uid=$((uid + 1))
			serves "$i" "$s" || continue
			printf '[identity.%s]\nuids = %s\ncert = %s/certs/%s.pem\nkey = %s/certs/%s.key\n\n' \
				"$s" "$uid" "$d" "$s" "$d" "$s"
		done
		for s in $SERVICES; do
			k=
			for h in $(svc_var "$s" HOSTS); do k+="${k:+, }$h"; done
			defaults="ports = $(svc_var "$s" PORT)
endpoints = $(expand_hosts "$k")"
			if serves "$i" "$s"; then
				defaults+="
upstream = 127.0.0.1:$(svc_var "$s" UPORT)
allow = client"
			fi
			extras=$(svc_var "$s" EXTRA)
			section "service.$s" "$defaults" "$(expand_hosts "$extras")"
		done
	} >"$out.tmp"
	mv -f -- "$out.tmp" "$out"
}

# ---------------------------------------------------------------- processes

# start_meshd I: run hI's meshd in the background (a wrapper shell keeps its
# exit status in meshd.status) and wait until it has published its routes.
start_meshd() {
	local i=$1 d ns old pid i2
	d=$(hdir "$i")
	ns=$(ns_of "$i")
	if [[ -s $d/meshd.pid ]] && alive "$(<"$d/meshd.pid")"; then
		die "meshd on h$i is running (pid $(<"$d/meshd.pid"))"
	fi
	[[ -x $MESHD ]] || die "meshd not found: $MESHD (build it: make)"
	rm -f -- "$d/meshd.status" "$d/meshd.pid"
	old=$(file_sig "$d/routes")
	# The inner sh writes its pid and execs meshd (so that pid is meshd's);
	# meshd runs in the foreground of the wrapper, whose $? is its status.
	setsid bash -c 'ip netns exec "$1" sh -c '\''echo $$ >"$0"; exec "$@"'\'' "$2" "$3" -c "$4"
		echo $? >"$5.tmp" && mv -f "$5.tmp" "$5"' \
		_ "$ns" "$d/meshd.pid" "$MESHD" "$d/mesh.ini" "$d/meshd.status" \
		>>"$d/meshd.err" 2>&1 </dev/null &
	echo $! >"$d/meshd.group"
	register_pid "$!" "topology-$NAME-h$i-meshd"
	for ((i2 = 0; i2 < 200; i2++)); do
		if [[ -e $d/meshd.status ]]; then
			tail -n 20 "$d/meshd.err" >&2
			die "meshd on h$i exited with status $(<"$d/meshd.status") before it was ready"
		fi
		if [[ -s $d/meshd.pid && -e $d/routes && $(file_sig "$d/routes") != "$old" ]]; then
			return 0
		fi
		sleep 0.05
	done
	tail -n 20 "$d/meshd.err" >&2
	die "meshd on h$i not ready after 10 s (no routes at $d/routes)"
}

# stop_meshd I SIGNAL: signal hI's meshd, wait for its exit; print and return
# its status (0 when it was not running and had not died on its own).
stop_meshd() {
	local i=$1 sig=$2 d pid st=0 t
	d=$(hdir "$i")
	pid=$(cat "$d/meshd.pid" 2>/dev/null) || pid=
	if alive "$pid" && [[ ! -e $d/meshd.status ]]; then
		kill -s "$sig" "$pid" 2>/dev/null || true
		# drain_timeout (2 s by default here) plus margin.
		for ((t = 0; t < 400; t++)); do
			[[ -e $d/meshd.status ]] && break
			sleep 0.05
		done
		if [[ ! -e $d/meshd.status ]]; then
			echo "$prog: meshd on h$i did not exit within 20 s of SIG$sig; killed" >&2
			kill_group "$d/meshd.group"
			rm -f -- "$d/meshd.pid"
			return 124
		fi
		st=$(<"$d/meshd.status")
		[[ $sig == KILL ]] && st=0
	elif [[ -e $d/meshd.status ]]; then
		st=$(<"$d/meshd.status")
		if [[ $st != 0 ]]; then
			echo "$prog: meshd on h$i had exited by itself with status $st" >&2
		fi
	fi
	rm -f -- "$d/meshd.status" "$d/meshd.pid" "$d/meshd.group"
	if [[ $st != 0 ]]; then
		echo "$prog: meshd on h$i: exit status $st (see $d/meshd.err)" >&2
	fi
	return "$st"
}

start_upstream() { # I S
	local i=$1 s=$2 d mode port i2
	d=$(hdir "$i")
	mode=$(svc_var "$s" MODE)
	port=$(svc_var "$s" UPORT)
	[[ $mode != none ]] || return 0
	: >"$d/$s.conns"
	setsid ip netns exec "$(ns_of "$i")" "$PY" "$DIR/upstream.py" "$mode" "h$i" 127.0.0.1 "$port" \
		"$d/$s.conns" >"$d/$s.upstream.log" 2>&1 </dev/null &
	echo $! >"$d/$s.upstream.pid"
	register_pid "$!" "topology-$NAME-h$i-$s"
	for ((i2 = 0; i2 < 200; i2++)); do
		grep -q '^listening' "$d/$s.upstream.log" 2>/dev/null && return 0
		alive "$(<"$d/$s.upstream.pid")" || break
		sleep 0.05
	done
	cat "$d/$s.upstream.log" >&2
	die "upstream $s on h$i did not start"
}

# ---------------------------------------------------------------- programs

write_programs() {
	cat >"$DIR/upstream.py" <<'PYEOF'
# upstream.py MODE HOST ADDR PORT CONNLOG: the local upstream of a service.
# http: read a request head, answer 200 with HOST as the body, close.
# echo: every byte back; on EOF, close. One "accept" line per connection.
import socket, socketserver, sys, threading

mode, name, addr, port, connlog = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
lock = threading.Lock()

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        with lock, open(connlog, "a") as f:
            f.write("accept %s:%d\n" % self.client_address)
        try:
            if mode == "echo":
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    s.sendall(b)
            else:
                data = b""
                while b"\r\n\r\n" not in data:
                    b = s.recv(65536)
                    if not b:
                        return
                    data += b
                body = (name + "\n").encode()
                s.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512

srv = Server((addr, port), Handler)
print("listening %s:%d %s" % (addr, port, mode), flush=True)
srv.serve_forever()
PYEOF
	cat >"$DIR/delayline.py" <<'PYEOF'
# delayline.py HOSTSIDE BRIDGESIDE MS: copy frames between two interfaces
# (AF_PACKET), holding the ones that come from HOSTSIDE for MS ms: what tc
# netem delay on the host's egress does, for kernels without netem. The
# virtio-net header keeps offloaded (GSO) frames whole and sendable.
import collections, select, socket, sys, time

host_if, br_if, delay = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000.0
ETH_P_ALL, SOL_PACKET, PACKET_VNET_HDR, PACKET_OUTGOING = 0x0003, 263, 15, 4

def open_if(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((name, ETH_P_ALL))
    return s

h, b = open_if(host_if), open_if(br_if)
held = collections.deque()  # (due, frame) from the host, in order
print("delaying frames from %s by %.0f ms" % (host_if, delay * 1000), flush=True)
while True:
    timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
    ready, _, _ = select.select([h, b], [], [], timeout)
    for s in ready:
        frame, addr = s.recvfrom(70000)
        if addr[2] == PACKET_OUTGOING:
            continue
        if s is h:
            held.append((time.monotonic() + delay, frame))
        else:
            try:
                h.send(frame)
            except OSError:
                pass
    now = time.monotonic()
    while held and held[0][0] <= now:
        try:
            b.send(held.popleft()[1])
        except OSError:
            pass
PYEOF
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local n=${1:-} arg s h k v services=() subnet=10.78.0.0/24 i _hs=()
	[[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 250 ]] || die "up: N must be 1 to 250"
	shift
	local -A hosts=() port=() mode=() extra=()
	local mesh_extra=
	while [[ $# -gt 0 ]]; do
		arg=${2:-}
		case $1 in
		--service)
			[[ $arg == *=* ]] || die "--service S=HOSTS"
			s=${arg%%=*}
			[[ $s =~ ^[a-z0-9-]{1,63}$ ]] || die "bad service name '$s'"
			[[ -z ${hosts[$s]:-} ]] || die "service $s given twice"
			services+=("$s")
			hosts[$s]=
			IFS=', ' read -ra _hs <<<"${arg#*=}"
			for h in "${_hs[@]}"; do
				[[ -n $h ]] || continue
				h=h${h#h}
				[[ ${h#h} =~ ^[0-9]+$ && ${h#h} -ge 1 && ${h#h} -le $n ]] || die "--service $s: no host '$h' (h1..h$n)"
				hosts[$s]+="${hosts[$s]:+ }$h"
			done
			[[ -n ${hosts[$s]} ]] || die "--service $s: no hosts"
			;;
		--port) port[${arg%%=*}]=${arg#*=} ;;
		--upstream)
			v=${arg#*=}
			[[ $v == http || $v == echo || $v == none ]] || die "--upstream: mode http, echo or none"
			mode[${arg%%=*}]=$v
			;;
		--mesh)
			[[ $arg == *=* ]] || die "--mesh KEY=VALUE"
			mesh_extra+="${mesh_extra:+$'\n'}${arg%%=*} = ${arg#*=}"
			;;
		--svc)
			[[ $arg == *:*=* ]] || die "--svc S:KEY=VALUE"
			s=${arg%%:*}
			k=${arg#*:}
			extra[$s]+="${extra[$s]:+$'\n'}${k%%=*} = ${k#*=}"
			;;
		--subnet)
			[[ $arg =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]] || die "--subnet A.B.C.0/24"
			subnet=$arg
			;;
		*) die "up: unknown option '$1' (see --help)" ;;
		esac
		[[ $# -ge 2 ]] || die "$1 needs a value"
		shift 2
	done
	for s in "${!port[@]}" "${!mode[@]}" "${!extra[@]}"; do
		[[ -n ${hosts[$s]+x} ]] || die "service '$s' has options but no --service $s=HOSTS"
	done
	[[ $(id -u) -eq 0 ]] || die "needs root (ip netns)"
	[[ ! -e $DIR/topo.env ]] || die "topology '$NAME' exists ($DIR): '$prog -n $NAME down' first"
	local have
	have=$(ip netns list)
	! grep -qE "^$NAME-(br|h[0-9]+)( |$)" <<<"$have" || die "namespaces $NAME-* exist: '$prog -n $NAME down' first"
	mkdir -p -- "$DIR"
	chmod 700 "$DIR"
	# From here, a failure takes down what was made.
	trap 'st=$?; if [[ $st -ne 0 ]]; then echo "$prog: up failed; tearing down" >&2; cmd_down >/dev/null 2>&1 || true; fi' EXIT
	{
		printf 'N=%q\nNET=%q\nMESHPORT=15443\nSERVICES=%q\nMESH_EXTRA=%q\n' \
			"$n" "${subnet%.0/24}" "${services[*]}" "$mesh_extra"
		i=0
		for s in "${services[@]}"; do
			i=$((i + 1))
			v=SVC_${s//-/_}
			printf '%s_HOSTS=%q\n%s_PORT=%q\n%s_UPORT=%q\n%s_MODE=%q\n%s_EXTRA=%q\n' \
				"$v" "${hosts[$s]}" "$v" "${port[$s]:-80}" "$v" "$((8000 + i))" \
				"$v" "${mode[$s]:-http}" "$v" "${extra[$s]:-}"
		done
	} >"$DIR/topo.env"
	load_env
	write_programs

	ip netns add "$BR"
	ip -n "$BR" link set lo up
	ip -n "$BR" link add br0 type bridge
	ip -n "$BR" link set br0 up
	for ((i = 1; i <= N; i++)); do
		ip netns add "$(ns_of "$i")"
		ip -n "$BR" link add "v$i" type veth peer name eth0 netns "$(ns_of "$i")"
		ip -n "$BR" link set "v$i" master br0 up
		ip -n "$(ns_of "$i")" link set lo up
		ip -n "$(ns_of "$i")" addr add "$NET.$i/24" dev eth0
		ip -n "$(ns_of "$i")" link set eth0 up
	done

	mkdir -p "$DIR/ca"
	"$MESH_CERTS" ca "$DIR/ca" "$TD" >/dev/null 2>&1 || die "mesh-certs ca failed"
	for ((i = 1; i <= N; i++)); do
		mkdir -p "$(hdir "$i")/certs"
		for s in client $SERVICES; do
			[[ $s == client ]] || serves "$i" "$s" || continue
			"$MESH_CERTS" identity "$DIR/ca" "$TD" "$s" >/dev/null 2>&1 || die "mesh-certs identity $s failed"
			mv -f "$DIR/ca/$s.pem" "$DIR/ca/$s.key" "$(hdir "$i")/certs/"
		done
		write_ini "$i"
	done
	for ((i = 1; i <= N; i++)); do
		for s in $SERVICES; do
			! serves "$i" "$s" || start_upstream "$i" "$s"
		done
	done
	for ((i = 1; i <= N; i++)); do start_meshd "$i"; done
	trap - EXIT
	cmd_info
}

cmd_down() {
	local keep=0 i st=0 f
	[[ ${1:-} == --keep ]] && keep=1
	if [[ -r $DIR/topo.env ]]; then
		# shellcheck disable=SC1091
		. "$DIR/topo.env"
		for ((i = 1; i <= N; i++)); do
			[[ -d $(hdir "$i") ]] || continue
			stop_meshd "$i" TERM || st=1
			for f in "$(hdir "$i")"/*.pid; do
				[[ -e $f ]] && kill_group "$f"
			done
		done
		for f in "$DIR"/delay-*.pid; do
			[[ -e $f ]] && kill_group "$f"
		done
	fi
	# The namespaces of this topology, also those of an `up` that failed
	# before it wrote topo.env.
	for f in $(ip netns list | awk -v p="$NAME" '$1 ~ "^" p "-(br|h[0-9]+)$" { print $1 }'); do
		ip netns del "$f" 2>/dev/null || true
	done
	if [[ $keep -eq 0 ]]; then
		rm -rf -- "$DIR"
	else
		echo "$prog: kept $DIR"
	fi
	return "$st"
}

bridge_port() { # I: hI's port on the bridge (the delay line's when delayed)
	if [[ -e $DIR/delay-$1.pid ]]; then printf 'd%sa\n' "$1"; else printf 'v%s\n' "$1"; fi
}

cmd_cut() {
	local i
	i=$(host_index "${1:?cut H [--down]}")
	case ${2:-} in
	--down) ip -n "$(ns_of "$i")" link set eth0 down ;;
	"") ip -n "$BR" link set "$(bridge_port "$i")" nomaster ;;
	*) die "cut H [--down]" ;;
	esac
}

cmd_restore() {
	local i
	i=$(host_index "${1:?restore H}")
	ip -n "$(ns_of "$i")" link set eth0 up
	ip -n "$BR" link set "$(bridge_port "$i")" master br0
}

cmd_delay() {
	local i ms ns d cut=0
	i=$(host_index "${1:?delay H MS}")
	ms=${2:?delay H MS}
	[[ $ms =~ ^[0-9]+$ ]] || die "delay: MS is a whole number of milliseconds"
	ns=$(ns_of "$i")
	# A cut host stays cut across a change of delay.
	local port
	port=$(ip -n "$BR" -o link show "$(bridge_port "$i")")
	[[ $port == *"master br0"* ]] || cut=1
	# Undo the previous delay, whichever way it was made.
	tc -n "$ns" qdisc del dev eth0 root 2>/dev/null || true
	if [[ -e $DIR/delay-$i.pid ]]; then
		kill_group "$DIR/delay-$i.pid"
		ip -n "$BR" link del "d${i}a" 2>/dev/null || true
		[[ $cut -eq 1 ]] || ip -n "$BR" link set "v$i" master br0
	fi
	[[ $ms -gt 0 ]] || return 0
	if tc -n "$ns" qdisc replace dev eth0 root netem delay "${ms}ms" 2>/dev/null; then
		return 0
	fi
	# No netem: hI's veth leaves the bridge; delayline.py copies its frames
	# to a new veth pair (dIb <-> dIa) whose other end is on the bridge.
	ip -n "$BR" link add "d${i}a" type veth peer name "d${i}b"
	ip -n "$BR" link set "d${i}b" up
	ip -n "$BR" link set "v$i" nomaster
	d=$DIR/delay-$i
	setsid ip netns exec "$BR" "$PY" "$DIR/delayline.py" "v$i" "d${i}b" "$ms" >"$d.log" 2>&1 </dev/null &
	echo $! >"$d.pid"
	register_pid "$!" "topology-$NAME-h$i-delay"
	local t
	for ((t = 0; t < 100; t++)); do
		grep -q '^delaying' "$d.log" 2>/dev/null && break
		alive "$(<"$d.pid")" || { cat "$d.log" >&2; die "delay line for h$i did not start"; }
		sleep 0.05
	done
	[[ $cut -eq 1 ]] || ip -n "$BR" link set "d${i}a" master br0
	ip -n "$BR" link set "d${i}a" up
}

cmd_set() {
	local i sec kv k v f
	i=$(host_index "${1:?set H SECTION KEY=VALUE...}")
	sec=${2:?set H SECTION KEY=VALUE...}
	shift 2
	f=$(hdir "$i")/mesh.ini
	cp -- "$f" "$f.tmp"
	for kv in "$@"; do
		[[ $kv == *=* ]] || die "set: KEY=VALUE, not '$kv'"
		k=${kv%%=*}
		v=${kv#*=}
		[[ $k == endpoints ]] && v=$(expand_hosts "$v")
		awk -v sec="$sec" -v key="$k" -v val="$v" '
			function flush() { if (insec && !done) { print key " = " val; done = 1 } }
			/^[ \t]*\[/ {
				s = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", s)
				if (insec && !done) { print key " = " val; print ""; done = 1 }
				insec = (s == sec)
				print; next
			}
			insec && !done {
				l = $0; sub(/[ \t]*=.*/, "", l); gsub(/^[ \t]+/, "", l)
				if (l == key) { print key " = " val; done = 1; next }
				if ($0 ~ /^[ \t]*$/) { print key " = " val; done = 1 }
			}
			{ print }
			END { if (insec && !done) { print key " = " val; done = 1 }
			      if (!done) exit 3 }' "$f.tmp" >"$f.tmp2" || {
			rm -f "$f.tmp" "$f.tmp2"
			die "set: no section [$sec] in $f"
		}
		mv -f "$f.tmp2" "$f.tmp"
	done
	mv -f "$f.tmp" "$f"
}

cmd_reload() {
	local i d pid before t
	i=$(host_index "${1:?reload H}")
	d=$(hdir "$i")
	pid=$(cat "$d/meshd.pid" 2>/dev/null) || pid=
	alive "$pid" || die "meshd on h$i is not running"
	before=$(grep -cE 'reloaded |reload rejected' "$d/meshd.err" || true)
	kill -HUP "$pid"
	for ((t = 0; t < 200; t++)); do
		if [[ $(grep -cE 'reloaded |reload rejected' "$d/meshd.err" || true) -gt $before ]]; then
			# The rejection's reasons are the indented lines after it.
			if grep -E 'reloaded |reload rejected' "$d/meshd.err" | tail -n 1 | grep -q 'reload rejected'; then
				sed -n '/reload rejected/,$p' "$d/meshd.err" | tail -n 20 >&2
				return 1
			fi
			return 0
		fi
		sleep 0.05
	done
	die "meshd on h$i did not answer SIGHUP within 10 s"
}

cmd_info() {
	local i s pid st
	printf 'topology %s: %s hosts on %s.0/24, state in %s\n' "$NAME" "$N" "$NET" "$DIR"
	for ((i = 1; i <= N; i++)); do
		pid=$(cat "$(hdir "$i")/meshd.pid" 2>/dev/null) || pid=
		if alive "$pid"; then st="meshd pid $pid"; else st="meshd stopped"; fi
		printf '  h%s  %s-h%s  %s:%s  %s' "$i" "$NAME" "$i" "$NET.$i" "$MESHPORT" "$st"
		[[ -e $DIR/delay-$i.pid ]] && printf ', delayed'
		printf '\n'
	done
	for s in $SERVICES; do
		printf '  service %s port %s, served on %s (upstream 127.0.0.1:%s, %s)\n' "$s" \
			"$(svc_var "$s" PORT)" "$(svc_var "$s" HOSTS)" "$(svc_var "$s" UPORT)" "$(svc_var "$s" MODE)"
	done
	printf '  try: %s -n %s run h1 curl -s http://%s:%s/\n' "$prog" "$NAME" "${SERVICES%% *}" \
		"$(svc_var "${SERVICES%% *}" PORT)"
}

cmd_path() {
	local i d
	i=$(host_index "${1:?path H [ini|log|err|routes|dir]}")
	d=$(hdir "$i")
	case ${2:-dir} in
	ini) echo "$d/mesh.ini" ;;
	log) echo "$d/traffic.log" ;;
	err) echo "$d/meshd.err" ;;
	routes) echo "$d/routes" ;;
	dir) echo "$d" ;;
	*) die "path H [ini|log|err|routes|dir]" ;;
	esac
}

case $cmd in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
*)
	load_env
	case $cmd in
	run)
		i=$(host_index "${1:?run H CMD...}")
		shift
		[[ -r $LIBMESH ]] || die "libmesh.so not found: $LIBMESH (build it: make)"
		exec ip netns exec "$(ns_of "$i")" env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$(hdir "$i")/routes" "$@"
		;;
	exec)
		i=$(host_index "${1:?exec H CMD...}")
		shift
		exec ip netns exec "$(ns_of "$i")" "$@"
		;;
	cut) cmd_cut "$@" ;;
	restore) cmd_restore "$@" ;;
	delay) cmd_delay "$@" ;;
	stop)
		if [[ ${1:-} == all ]]; then
			st=0
			for ((i = 1; i <= N; i++)); do stop_meshd "$i" "$([[ ${2:-} == --kill ]] && echo KILL || echo TERM)" || st=1; done
			exit "$st"
		fi
		i=$(host_index "${1:?stop H [--kill]}")
		stop_meshd "$i" "$([[ ${2:-} == --kill ]] && echo KILL || echo TERM)"
		;;
	start) start_meshd "$(host_index "${1:?start H}")" ;;
	set) cmd_set "$@" ;;
	reload) cmd_reload "$@" ;;
	info | status) cmd_info ;;
	path) cmd_path "$@" ;;
	*) usage >&2; exit 2 ;;
	esac
	;;
esac
