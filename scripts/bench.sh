#!/usr/bin/env bash
# bench.sh (make bench): libmesh against a direct connection and against an
# HAProxy mutual-TLS pair, side by side, in one run, on loopback; with, for
# reference, an HAProxy pair in plain TCP (the same three hops, no TLS).
#
#   scripts/bench.sh [--quick] [--rounds N] [--only PATH,...]
#
#   --quick        smoke test: 1 round, 2 s runs, 1,000 held connections only
#   --rounds N     rounds (default 3); each round runs every measurement on
#                  every path, in an order rotated from round to round;
#                  the table reports medians over rounds
#   --only LIST    paths to run, from direct,mesh,haproxy,floor (default:
#                  all; haproxy and floor only when haproxy is installed)
#
# Paths, all carrying the same traffic to the same servers:
#   direct   client -> nginx 127.0.0.1:NGINX_PORT (iperf3 server likewise)
#   mesh     client under LD_PRELOAD=build/libmesh.so -> http://bench:18080/
#            -> meshd A (VIP) -> mTLS -> meshd B (127.0.0.2) -> nginx
#            (service iperf, port 15201, -> iperf3 server for bulk)
#   haproxy  client -> haproxy 127.0.0.1 (mode tcp) -> TLS 1.3, verify
#            required both ways, same CA and certificates -> haproxy
#            127.0.0.2 -> nginx (and iperf3 server)
#   floor    client -> haproxy 127.0.0.1 (mode tcp) -> plain TCP -> haproxy
#            127.0.0.2 (mode tcp) -> nginx (and iperf3 server): a reference,
#            not a competitor. Same nbthread as the haproxy pair, splice
#            options at haproxy's defaults; it is the cost of the three-hop
#            topology alone (two extra TCP hops, two extra processes on the
#            same CPUs), so the mesh's gap to direct splits into topology
#            (floor/direct) and the mesh's own work (mesh against floor).
#
# Measurements on each path: keep-alive HTTP (wrk -t2 -c32 --latency),
# a new connection per request (wrk -t2 -c8 -H 'Connection: close'), bulk
# (iperf3 -c, one stream), unloaded latency (wrk -t1 -c1); daemon CPU
# (utime+stime of both daemons from /proc) per request, connection and GB;
# daemon RSS (every path but direct) idle and with 1,000 and 10,000 held
# idle connections (fewer when the open-files hard limit cannot hold
# 2 x 10,000 + 1,000: the table says so).
# nginx: 2 worker processes, access_log off, 64-byte body from `return 200`.
#
# Writes build/bench-results.txt (the table) and build/bench-results.json.
# Needs wrk, nginx, python3 and openssl; without iperf3 the bulk rows and
# without haproxy the haproxy and floor columns are left out
# (scripts/deps.sh --bench installs them all). Everything it starts is
# stopped at exit, and its temporary directory removed.
# Environment: MESHD, LIBMESH (default build/meshd, build/libmesh.so),
# BENCH_PORT_OFFSET (shift every port; by default the first free shift of
# 0, 100, ..., 900 is used), KEEP=1 (keep the temporary directory).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MESHD=${MESHD:-$ROOT/build/meshd}
LIBMESH=${LIBMESH:-$ROOT/build/libmesh.so}
BENCHDIR=$ROOT/scripts/bench
OUT_TXT=$ROOT/build/bench-results.txt
OUT_JSON=$ROOT/build/bench-results.json

# Ports. Service ports on the VIPs (meshd A) as in the brief; the rest on
# 127.0.0.1 / 127.0.0.2. When one of them is taken (another bench, or a
# developer's own servers), all move up together by 100 (up to 900);
# BENCH_PORT_OFFSET=N pins the shift.
set_ports() { # OFFSET
	SVC_HTTP=$((18080 + $1))   # service bench on its VIP
	SVC_IPERF=$((15201 + $1))  # service iperf on its VIP
	NGINX_PORT=$((18081 + $1)) # nginx on 127.0.0.1 (direct path, and upstream of B)
	IPERF_PORT=$((15202 + $1)) # iperf3 server on 127.0.0.1
	MESH_PORT=$((18443 + $1))  # meshd A on 127.0.0.1, meshd B on 127.0.0.2 (mTLS)
	HA_HTTP=$((18090 + $1))    # haproxy front 127.0.0.1 (plain) -> back 127.0.0.2 HA_HTTP+1 (TLS)
	HA_IPERF=$((15211 + $1))   # likewise for iperf3 (back on HA_IPERF+1)
	FL_HTTP=$((18092 + $1))    # floor: haproxy front 127.0.0.1 (plain) -> back 127.0.0.2 FL_HTTP+1 (plain)
	FL_IPERF=$((15213 + $1))   # likewise for iperf3 (back on FL_IPERF+1)
}
set_ports 0

ROUNDS=3
DUR=5
HOLD_NS=(1000 10000)
ONLY=
MODE=full

usage() {
	awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) MODE=quick; ROUNDS=1; DUR=2; HOLD_NS=(1000) ;;
	--rounds)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]?$ ]] || { echo "bench: --rounds needs a number 1..99" >&2; exit 2; }
		ROUNDS=$2
		shift
		;;
	--rounds=*) ROUNDS=${1#*=}; [[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "bench: --rounds needs a number 1..99" >&2; exit 2; } ;;
	--only) [[ $# -ge 2 ]] || usage 2; ONLY=$2; shift ;;
	--only=*) ONLY=${1#*=} ;;
	-h | --help) usage 0 ;;
	*) echo "bench: unknown option $1" >&2; usage 2 ;;
	esac
	shift
done

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
info() { printf '   %s\n' "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------- tools

if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=$(command -v python3 || true); fi
find_tool() { # NAME -> path on PATH or in the sbin directories, or nothing
	command -v "$1" 2>/dev/null || { for d in /usr/sbin /sbin /usr/local/sbin; do [[ -x $d/$1 ]] && { echo "$d/$1"; return 0; }; done; true; }
}
WRK=$(find_tool wrk)
NGINX=$(find_tool nginx)
IPERF3=$(find_tool iperf3)
HAPROXY=$(find_tool haproxy)
missing=()
[[ -n $WRK ]] || missing+=("wrk (package wrk)")
[[ -n $NGINX ]] || missing+=("nginx (package nginx-light or nginx)")
[[ -n $PY ]] || missing+=("python3")
command -v openssl >/dev/null 2>&1 || missing+=("openssl")
[[ ${#missing[@]} -eq 0 ]] || die "missing: ${missing[*]}. Install them with: scripts/deps.sh --bench"

ALL_PATHS=(direct mesh haproxy floor)
PATHS=()
NOTES=()
if [[ -n $ONLY ]]; then
	IFS=, read -r -a want <<<"$ONLY"
	for p in "${want[@]}"; do
		case $p in
		direct | mesh) ;;
		haproxy | floor) [[ -n $HAPROXY ]] || die "--only $p: haproxy is not installed (scripts/deps.sh --bench installs it)" ;;
		*) die "--only: unknown path '$p' (direct, mesh, haproxy, floor)" ;;
		esac
	done
	for p in "${ALL_PATHS[@]}"; do
		[[ ",$ONLY," == *",$p,"* ]] && PATHS+=("$p")
	done
else
	PATHS=(direct mesh)
	if [[ -n $HAPROXY ]]; then
		PATHS+=(haproxy floor)
	else
		info "haproxy not installed: the haproxy and floor columns are skipped (scripts/deps.sh --bench installs it)"
		NOTES+=("haproxy not installed: no haproxy and floor columns")
	fi
fi
[[ ${#PATHS[@]} -gt 0 ]] || die "no path to run"
has_path() { [[ " ${PATHS[*]} " == *" $1 "* ]]; }
if has_path mesh; then
	[[ -x $MESHD ]] || die "meshd not built: $MESHD (run make)"
	[[ -r $LIBMESH ]] || die "libmesh.so not built: $LIBMESH (run make)"
fi
BULK=1
if [[ -z $IPERF3 ]]; then
	BULK=0
	info "iperf3 not installed: bulk rows skipped (scripts/deps.sh --bench installs it)"
	NOTES+=("iperf3 not installed: no bulk measurement")
fi

# ---------------------------------------------------------------- limits

# Open files: 65536 for the daemons, nginx, haproxy and the clients (all
# inherit it). Where the hard limit is lower and cannot be raised, the large
# held-connection count shrinks to what meshd A can hold: every held
# connection is two descriptors there (caller side and tunnel).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $NOFILE != unlimited ]]; then
	cap=$(((NOFILE - 1000) / 2 / 1000 * 1000))
	for i in "${!HOLD_NS[@]}"; do
		if ((HOLD_NS[i] > cap)); then
			NOTES+=("$(printf "%'d held connections need RLIMIT_NOFILE >= %'d per daemon; the hard limit here is %s and cannot be raised, so %'d were held" "${HOLD_NS[i]}" $((HOLD_NS[i] * 2 + 1000)) "$NOFILE" "$cap")")
			info "open files limited to $NOFILE: holding $cap connections instead of ${HOLD_NS[i]}"
			HOLD_NS[i]=$cap
		fi
	done
fi
HA_MAXCONN=$(((${NOFILE/unlimited/65536} - 200) / 2))
HA_NBTHREAD=2 # both haproxy pairs (haproxy and floor)

# ---------------------------------------------------------------- estimate

npaths=${#PATHS[@]}
ntests=4
((BULK)) && ntests=5
est=$((ROUNDS * npaths * ntests * (DUR + 1) + npaths * 2 * 2 + 15))
for n in "${HOLD_NS[@]}"; do
	for p in mesh haproxy floor; do has_path "$p" && est=$((est + 6 + n / 800)); done
done
say "libmesh bench ($MODE): paths ${PATHS[*]}, $ROUNDS round(s) of ${DUR} s runs; expected duration about $((est / 60)) min $((est % 60)) s"

# ---------------------------------------------------------------- temp dir, processes

T=$(mktemp -d "${TMPDIR:-/tmp}/libmesh-bench.XXXXXX")
chmod 755 "$T"
PIDS=()
START=$(date +%s)

alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

kill_proc() { # PID: TERM its process group, KILL after 3 s, reap
	local pid=$1 i
	if alive "$pid"; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 60; i++)); do
			alive "$pid" || break
			sleep 0.05
		done
	fi
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	set +e
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill_proc "${PIDS[i]}"
	done
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "bench: kept $T" >&2
	else
		rm -rf -- "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# spawn NAME CMD...: in the background, in its own session, output to
# $T/NAME.log. Sets LAST_PID (the program's own pid: setsid execs it).
spawn() {
	local name=$1
	shift
	setsid "$@" >"$T/$name.log" 2>&1 </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

listening() { # HOST PORT
	if command -v ss >/dev/null 2>&1; then
		ss -Htln "sport = :$2" 2>/dev/null | awk '{ print $4 }' | grep -qxF -- "$1:$2"
	else
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
	fi
}

wait_listen() { # NAME PID HOST PORT
	local i
	for ((i = 0; i < 200; i++)); do
		listening "$3" "$4" && return 0
		alive "$2" || { tail -n 20 "$T/$1.log" >&2; die "$1 exited before listening on $3:$4"; }
		sleep 0.05
	done
	tail -n 20 "$T/$1.log" >&2
	die "$1 not listening on $3:$4 after 10 s"
}

port_owner() { # HOST PORT -> who listens there (nothing when free)
	command -v ss >/dev/null 2>&1 || return 0
	ss -Htlnp "sport = :$2" 2>/dev/null |
		awk -v a="$1:$2" -v any="0.0.0.0:$2" -v star="*:$2" '$4 == a || $4 == any || $4 == star' || true
}

ports_busy() { # -> the first taken port of the current set, with its owner
	local hp who
	for hp in "127.0.0.1 $NGINX_PORT" "127.0.0.1 $IPERF_PORT" "127.0.0.1 $MESH_PORT" "127.0.0.2 $MESH_PORT" \
		"127.0.0.1 $HA_HTTP" "127.0.0.2 $((HA_HTTP + 1))" "127.0.0.1 $HA_IPERF" "127.0.0.2 $((HA_IPERF + 1))" \
		"127.0.0.1 $FL_HTTP" "127.0.0.2 $((FL_HTTP + 1))" "127.0.0.1 $FL_IPERF" "127.0.0.2 $((FL_IPERF + 1))"; do
		# shellcheck disable=SC2086
		who=$(port_owner $hp)
		if [[ -n $who ]]; then
			printf '%s:%s (%s)\n' "${hp% *}" "${hp#* }" "$(tr -s ' ' <<<"$who" | cut -c1-200)"
			return 0
		fi
	done
}

# ---------------------------------------------------------------- machine

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
[[ -n $CPU_MODEL ]] || CPU_MODEL=$(uname -m)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $COMMIT != unknown && -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
	COMMIT="$COMMIT (uncommitted changes in the tree)"
fi
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)
VERSIONS="wrk $($WRK -v 2>&1 | awk 'NR == 1 { print $2 }'), $($NGINX -v 2>&1 | sed 's|.*nginx/|nginx |')"
[[ -z $IPERF3 ]] || VERSIONS+=", iperf3 $($IPERF3 -v 2>/dev/null | awk 'NR == 1 { print $2 }')"
[[ -z $HAPROXY ]] || VERSIONS+=", haproxy $($HAPROXY -v 2>/dev/null | awk 'NR == 1 { print $3 }')"
VERSIONS+=", $(openssl version | awk '{ print $1, $2 }')"
CLK_TCK=$(getconf CLK_TCK)
info "machine: $(nproc) CPUs ($CPU_MODEL), $MEM, kernel $(uname -r); libmesh $COMMIT"
info "nginx: 2 worker processes; open files limit $NOFILE"

# ---------------------------------------------------------------- certificates

say "certificates (scripts/mesh-certs): CA, client (host A), bench and iperf (host B)"
TD=bench.mesh
for n in ca client bench iperf; do
	if [[ $n == ca ]]; then
		"$ROOT/scripts/mesh-certs" ca "$T/certs" "$TD" >/dev/null
	else
		"$ROOT/scripts/mesh-certs" identity "$T/certs" "$TD" "$n" >/dev/null
	fi
done
# haproxy takes certificate and key in one file.
for n in client bench iperf; do
	cat "$T/certs/$n.pem" "$T/certs/$n.key" >"$T/certs/$n.haproxy.pem"
done
chmod -R a+rX "$T/certs"
# ...but not meshd's keys: it refuses a private key other users can read.
chmod 600 "$T"/certs/*.key

# ---------------------------------------------------------------- servers

if [[ -n ${BENCH_PORT_OFFSET:-} ]]; then
	[[ $BENCH_PORT_OFFSET =~ ^[0-9]{1,4}$ ]] || die "BENCH_PORT_OFFSET must be a number"
	set_ports "$BENCH_PORT_OFFSET"
	busy=$(ports_busy)
	[[ -z $busy ]] || die "port in use: $busy"
else
	for off in 0 100 200 300 400 500 600 700 800 900; do
		set_ports "$off"
		busy=$(ports_busy)
		[[ -n $busy ]] || break
		info "port in use: $busy; moving every bench port up by 100"
	done
	[[ -z $busy ]] || die "no free set of bench ports (last conflict: $busy); set BENCH_PORT_OFFSET"
	[[ $off -eq 0 ]] || NOTES+=("bench ports shifted by $off (service ports $SVC_HTTP, $SVC_IPERF): the default ones were in use")
fi

say "nginx on 127.0.0.1:$NGINX_PORT (2 workers, 64-byte body)"
BODY=$(printf 'libmesh-bench-%050d' 0) # 64 bytes
mkdir -p "$T/nginx"
cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
master_process on;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections 32768; multi_accept on; }
http {
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 600s;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            default_type text/plain;
            return 200 "$BODY";
        }
    }
}
EOF
spawn nginx "$NGINX" -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf"
NGINX_PID=$LAST_PID
wait_listen nginx "$NGINX_PID" 127.0.0.1 "$NGINX_PORT"
got=$(curl -q -sS --noproxy '*' -m 5 "http://127.0.0.1:$NGINX_PORT/" 2>&1 || true)
[[ ${#got} -eq 64 ]] || die "nginx does not serve the 64-byte body (got: ${got:0:200})"

if ((BULK)); then
	say "iperf3 server on 127.0.0.1:$IPERF_PORT"
	spawn iperf3-server "$IPERF3" -s -B 127.0.0.1 -p "$IPERF_PORT"
	wait_listen iperf3-server "$LAST_PID" 127.0.0.1 "$IPERF_PORT"
fi

# ---------------------------------------------------------------- meshd pair

MESH_A_PID=
MESH_B_PID=
if has_path mesh; then
	say "meshd A (127.0.0.1:$MESH_PORT) and meshd B (127.0.0.2:$MESH_PORT)"
	mesh_section() { # HOST(a|b) LOOPBACK VIP_RANGE: the [mesh] section of that host
		cat <<EOF
[mesh]
trust_domain  = $TD
host          = bench-$1
ca            = $T/certs/ca.pem
inbound       = $2:$MESH_PORT
admin         = off
log           = $T/$1.traffic.log
vip_range     = $3
snapshot      = $T/$1.routes
idle_timeout  = 1h
drain_timeout = 1s
; The held-connections test is one uid (and, on B, one peer identity)
; holding up to 10,000 connections: above the auto limits (a quarter of
; the descriptor limit), which would refuse the rest as overflow.
max_connections_per_uid  = 100000
max_connections_per_peer = 100000
@WORKERS@
EOF
	}
	cat >"$T/a.ini" <<EOF
; bench host A: the calling side
$(mesh_section a 127.0.0.1 127.77.0.0/16)

[identity.client]
uids = $(id -u)
cert = $T/certs/client.pem
key  = $T/certs/client.key

[service.bench]
ports     = $SVC_HTTP
endpoints = 127.0.0.2:$MESH_PORT

[service.iperf]
ports     = $SVC_IPERF
endpoints = 127.0.0.2:$MESH_PORT
EOF
	uid_b=65000
	[[ $(id -u) -ne $uid_b ]] || uid_b=65010
	cat >"$T/b.ini" <<EOF
; bench host B: serves bench (nginx) and iperf (iperf3 server)
$(mesh_section b 127.0.0.2 127.78.0.0/16)

[identity.bench]
uids = $uid_b
cert = $T/certs/bench.pem
key  = $T/certs/bench.key

[identity.iperf]
uids = $((uid_b + 1))
cert = $T/certs/iperf.pem
key  = $T/certs/iperf.key

[service.bench]
ports    = $SVC_HTTP
upstream = 127.0.0.1:$NGINX_PORT
allow    = client

[service.iperf]
ports    = $SVC_IPERF
upstream = 127.0.0.1:$IPERF_PORT
allow    = client
EOF
	# workers = auto when this meshd accepts it.
	WORKERS_LINE="workers       = auto"
	sed "s|@WORKERS@|$WORKERS_LINE|" "$T/a.ini" >"$T/a.try.ini"
	if "$MESHD" -t -c "$T/a.try.ini" >"$T/check.log" 2>&1; then
		info "meshd accepts workers = auto"
	else
		WORKERS_LINE=""
		NOTES+=("meshd rejected 'workers = auto' ($(head -n 1 "$T/check.log")): default workers")
		info "meshd rejected workers = auto: $(head -n 1 "$T/check.log")"
	fi
	rm -f "$T/a.try.ini"
	sed -i "s|@WORKERS@|$WORKERS_LINE|" "$T/a.ini" "$T/b.ini"
	for h in a b; do
		"$MESHD" -t -c "$T/$h.ini" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; die "meshd -t rejects the bench config of host $h"; }
	done

	start_meshd() { # NAME: sets LAST_PID once its snapshot is written
		local name=$1 i
		spawn "meshd-$name" "$MESHD" -c "$T/$name.ini"
		for ((i = 0; i < 200; i++)); do
			[[ -e $T/$name.routes ]] && return 0
			alive "$LAST_PID" || { cat "$T/meshd-$name.log" >&2; die "meshd $name exited at start"; }
			sleep 0.05
		done
		cat "$T/meshd-$name.log" >&2
		die "meshd $name not ready after 10 s (no snapshot)"
	}
	start_meshd b
	MESH_B_PID=$LAST_PID
	start_meshd a
	MESH_A_PID=$LAST_PID
	wait_listen meshd-b "$MESH_B_PID" 127.0.0.2 "$MESH_PORT"
fi

# mesh_env CMD...: CMD under the shim with host A's routes.
mesh_env() {
	env -u http_proxy -u HTTP_PROXY "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$@"
}

MESH_HTTP_HOST=bench
MESH_IPERF_HOST=iperf
if has_path mesh; then
	VIP=$(mesh_env "$PY" -c 'import socket, sys; print(socket.gethostbyname(sys.argv[1]))' bench 2>"$T/resolve.err") ||
		{ cat "$T/resolve.err" >&2; die "under the shim, 'bench' does not resolve (MESH_SNAPSHOT=$T/a.routes)"; }
	VIP_IPERF=$(mesh_env "$PY" -c 'import socket, sys; print(socket.gethostbyname(sys.argv[1]))' iperf 2>/dev/null || true)
	info "under the shim: bench -> $VIP, iperf -> ${VIP_IPERF:-?}"
	wait_listen meshd-a "$MESH_A_PID" "$VIP" "$SVC_HTTP"
	got=$(mesh_env curl -q -sS --noproxy '*' -m 10 "http://bench:$SVC_HTTP/" 2>&1 || true)
	if [[ ${#got} -ne 64 ]]; then
		tail -n 20 "$T/meshd-a.log" "$T/meshd-b.log" >&2
		die "a request through the mesh failed (curl under the shim: ${got:0:300})"
	fi
	info "curl http://bench:$SVC_HTTP/ through the mesh: 64 bytes ok"
fi

# start_pair NAME HTTP_PORT: check $T/NAME-{a,b}.cfg, start the back then
# the front haproxy, wait for both to listen (front on HTTP_PORT, back on
# HTTP_PORT + 1), pass one request; sets PAIR_A_PID and PAIR_B_PID.
start_pair() {
	local name=$1 port=$2 h got
	for h in a b; do
		"$HAPROXY" -c -q -f "$T/$name-$h.cfg" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; die "haproxy -c rejects the $name config $h"; }
	done
	spawn "$name-b" "$HAPROXY" -db -f "$T/$name-b.cfg"
	PAIR_B_PID=$LAST_PID
	spawn "$name-a" "$HAPROXY" -db -f "$T/$name-a.cfg"
	PAIR_A_PID=$LAST_PID
	wait_listen "$name-b" "$PAIR_B_PID" 127.0.0.2 $((port + 1))
	wait_listen "$name-a" "$PAIR_A_PID" 127.0.0.1 "$port"
	got=$(curl -q -sS --noproxy '*' -m 10 "http://127.0.0.1:$port/" 2>&1 || true)
	if [[ ${#got} -ne 64 ]]; then
		tail -n 20 "$T/$name-a.log" "$T/$name-b.log" >&2
		die "a request through the $name pair failed (curl: ${got:0:300})"
	fi
	info "curl through the $name pair: 64 bytes ok"
}

# ---------------------------------------------------------------- haproxy pair

HA_A_PID=
HA_B_PID=
if has_path haproxy; then
	say "haproxy pair: 127.0.0.1:$HA_HTTP (tcp) -> TLS 1.3 mutual -> 127.0.0.2:$((HA_HTTP + 1)) -> nginx (nbthread $HA_NBTHREAD)"
	cat >"$T/haproxy-a.cfg" <<EOF
global
    nbthread $HA_NBTHREAD
    maxconn $HA_MAXCONN
    ssl-server-verify required
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    maxconn $HA_MAXCONN
frontend http_in
    bind 127.0.0.1:$HA_HTTP
    default_backend http_tls
backend http_tls
    server b 127.0.0.2:$((HA_HTTP + 1)) ssl verify required ca-file $T/certs/ca.pem crt $T/certs/client.haproxy.pem ssl-min-ver TLSv1.3
frontend iperf_in
    bind 127.0.0.1:$HA_IPERF
    default_backend iperf_tls
backend iperf_tls
    server b 127.0.0.2:$((HA_IPERF + 1)) ssl verify required ca-file $T/certs/ca.pem crt $T/certs/client.haproxy.pem ssl-min-ver TLSv1.3
EOF
	cat >"$T/haproxy-b.cfg" <<EOF
global
    nbthread $HA_NBTHREAD
    maxconn $HA_MAXCONN
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    maxconn $HA_MAXCONN
frontend http_tls_in
    bind 127.0.0.2:$((HA_HTTP + 1)) ssl crt $T/certs/bench.haproxy.pem ca-file $T/certs/ca.pem verify required ssl-min-ver TLSv1.3
    default_backend nginx
backend nginx
    server n 127.0.0.1:$NGINX_PORT
frontend iperf_tls_in
    bind 127.0.0.2:$((HA_IPERF + 1)) ssl crt $T/certs/iperf.haproxy.pem ca-file $T/certs/ca.pem verify required ssl-min-ver TLSv1.3
    default_backend iperf
backend iperf
    server i 127.0.0.1:$IPERF_PORT
EOF
	start_pair haproxy "$HA_HTTP"
	HA_A_PID=$PAIR_A_PID HA_B_PID=$PAIR_B_PID
fi

# ---------------------------------------------------------------- floor pair

# The same three hops as the haproxy pair, in plain TCP on both: what the
# topology alone costs (a reference for the mesh's gap to direct). Nothing
# but the TLS lines differs from the haproxy pair; no splice option is set,
# so splicing is whatever haproxy does by default.
FL_A_PID=
FL_B_PID=
if has_path floor; then
	say "floor pair: 127.0.0.1:$FL_HTTP (tcp) -> plain TCP -> 127.0.0.2:$((FL_HTTP + 1)) (tcp) -> nginx (nbthread $HA_NBTHREAD)"
	cat >"$T/floor-a.cfg" <<EOF
global
    nbthread $HA_NBTHREAD
    maxconn $HA_MAXCONN
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    maxconn $HA_MAXCONN
frontend http_in
    bind 127.0.0.1:$FL_HTTP
    default_backend http_plain
backend http_plain
    server b 127.0.0.2:$((FL_HTTP + 1))
frontend iperf_in
    bind 127.0.0.1:$FL_IPERF
    default_backend iperf_plain
backend iperf_plain
    server b 127.0.0.2:$((FL_IPERF + 1))
EOF
	cat >"$T/floor-b.cfg" <<EOF
global
    nbthread $HA_NBTHREAD
    maxconn $HA_MAXCONN
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    maxconn $HA_MAXCONN
frontend http_plain_in
    bind 127.0.0.2:$((FL_HTTP + 1))
    default_backend nginx
backend nginx
    server n 127.0.0.1:$NGINX_PORT
frontend iperf_plain_in
    bind 127.0.0.2:$((FL_IPERF + 1))
    default_backend iperf
backend iperf
    server i 127.0.0.1:$IPERF_PORT
EOF
	start_pair floor "$FL_HTTP"
	FL_A_PID=$PAIR_A_PID FL_B_PID=$PAIR_B_PID
fi

# ---------------------------------------------------------------- helpers

RES=$T/results.tsv
: >"$RES"
record() { printf '%s %s %s %s\n' "$@" >>"$RES"; } # ROUND PATH KEY VALUE

daemon_pids() { # PATH -> the two daemon pids of that path (nothing for direct)
	case $1 in
	mesh) echo "$MESH_A_PID $MESH_B_PID" ;;
	haproxy) echo "$HA_A_PID $HA_B_PID" ;;
	floor) echo "$FL_A_PID $FL_B_PID" ;;
	esac
}

cpu_ticks() { # PID... -> utime+stime summed (clock ticks, all threads)
	local pid st sum=0
	for pid in "$@"; do
		st=$(cat "/proc/$pid/stat") || die "daemon $pid is gone"
		st=${st##*) }
		read -r -a f <<<"$st"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

rss_kib() { # PID -> VmRSS in KiB
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

check_daemons() { # all daemons still alive?
	local pid
	for pid in $MESH_A_PID $MESH_B_PID $HA_A_PID $HA_B_PID $FL_A_PID $FL_B_PID; do
		alive "$pid" || die "daemon $pid died during the run (logs: $(tail -n 5 "$T"/meshd-*.log "$T"/haproxy-*.log "$T"/floor-*.log 2>/dev/null | tr '\n' ' ' | cut -c1-600))"
	done
}

# shellcheck disable=SC2034 # read through url_of
URL_direct=http://127.0.0.1:$NGINX_PORT/
# shellcheck disable=SC2034
URL_haproxy=http://127.0.0.1:$HA_HTTP/
# shellcheck disable=SC2034
URL_floor=http://127.0.0.1:$FL_HTTP/
URL_mesh=http://$MESH_HTTP_HOST:$SVC_HTTP/

client() { # PATH CMD...: CMD as the client of PATH (under the shim for mesh)
	local path=$1
	shift
	if [[ $path == mesh ]]; then mesh_env "$@"; else "$@"; fi
}

url_of() { local v="URL_$1"; printf '%s\n' "${!v}"; }

iperf_target() { # PATH -> "host port"
	case $1 in
	direct) echo "127.0.0.1 $IPERF_PORT" ;;
	mesh) echo "$MESH_IPERF_HOST $SVC_IPERF" ;;
	haproxy) echo "127.0.0.1 $HA_IPERF" ;;
	floor) echo "127.0.0.1 $FL_IPERF" ;;
	esac
}

# ---------------------------------------------------------------- memory

# RSS with N held idle connections: each carries one request, then idles.
hold_test() { # PATH N
	local path=$1 n=$2 host port pids pa pb st i line
	case $path in
	mesh) host=$MESH_HTTP_HOST port=$SVC_HTTP ;;
	haproxy) host=127.0.0.1 port=$HA_HTTP ;;
	floor) host=127.0.0.1 port=$FL_HTTP ;;
	esac
	read -r pa pb <<<"$(daemon_pids "$path")"
	sleep 1
	record - "$path" "rss_pre${n}_a" "$(rss_kib "$pa")"
	record - "$path" "rss_pre${n}_b" "$(rss_kib "$pb")"
	record - "$path" "rss_pre${n}_total" $(($(rss_kib "$pa") + $(rss_kib "$pb")))
	st=$T/hold-$path-$n.status
	rm -f "$st"
	if [[ $path == mesh ]]; then
		spawn "hold-$path-$n" env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$PY" "$BENCHDIR/hold.py" "$host" "$port" "$n" "$st" 300
	else
		spawn "hold-$path-$n" "$PY" "$BENCHDIR/hold.py" "$host" "$port" "$n" "$st" 300
	fi
	local hp=$LAST_PID
	for ((i = 0; i < 1200; i++)); do
		[[ -e $st ]] && break
		alive "$hp" || break
		sleep 0.1
	done
	[[ -e $st ]] || { tail -n 10 "$T/hold-$path-$n.log" >&2; die "hold client ($path, $n) did not finish opening its connections"; }
	line=$(cat "$st")
	sleep 1.5 # let the daemons settle (lazy frees, released TLS buffers)
	local ra rb
	ra=$(rss_kib "$pa")
	rb=$(rss_kib "$pb")
	record - "$path" "rss_${n}_a" "$ra"
	record - "$path" "rss_${n}_b" "$rb"
	record - "$path" "rss_${n}_total" $((ra + rb))
	local ok=${line#ok=}
	ok=${ok%% *}
	local fail=${line#*fail=}
	fail=${fail%% *}
	record - "$path" "hold_${n}_ok" "$ok"
	record - "$path" "hold_${n}_fail" "$fail"
	info "$(printf '%-7s %6d held: %s; RSS A %d KiB, B %d KiB' "$path" "$n" "$line" "$ra" "$rb")"
	[[ $fail -eq 0 ]] || NOTES+=("$path: $fail of $n held connections failed to open (${line#*errors=})")
	kill_proc "$hp"
	sleep 2 # closes reach both daemons
	ra=$(rss_kib "$pa")
	rb=$(rss_kib "$pb")
	record - "$path" "rss_post${n}_a" "$ra"
	record - "$path" "rss_post${n}_b" "$rb"
	record - "$path" "rss_post${n}_total" $((ra + rb))
}

rss_phase() {
	local path n pa pb
	for path in mesh haproxy floor; do
		has_path "$path" || continue
		read -r pa pb <<<"$(daemon_pids "$path")"
		record - "$path" rss_idle_a "$(rss_kib "$pa")"
		record - "$path" rss_idle_b "$(rss_kib "$pb")"
		record - "$path" rss_idle_total $(($(rss_kib "$pa") + $(rss_kib "$pb")))
		for n in "${HOLD_NS[@]}"; do
			hold_test "$path" "$n"
			check_daemons
		done
	done
}

if has_path mesh || has_path haproxy || has_path floor; then
	say "daemon memory: idle, then ${HOLD_NS[*]} held idle connections"
	rss_phase
fi

# ---------------------------------------------------------------- load runs

run_wrk() { # ROUND PATH TEST: TEST = ka | cc | lat
	local r=$1 path=$2 test=$3 url f pids t0 t1 args line
	url=$(url_of "$path")
	case $test in
	ka) args=(-t2 -c32) ;;
	cc) args=(-t2 -c8 -H 'Connection: close') ;;
	lat | pin) args=(-t1 -c1) ;;
	esac
	local pre=()
	if [[ $test == pin ]]; then
		pin_path "$path" 0
		pre=(taskset -c 0)
	fi
	f=$T/wrk-$r-$path-$test.txt
	pids=$(daemon_pids "$path")
	# shellcheck disable=SC2086
	[[ -z $pids ]] || t0=$(cpu_ticks $pids)
	client "$path" "${pre[@]}" timeout $((DUR + 30)) "$WRK" "${args[@]}" -d"${DUR}s" --latency "$url" >"$f" 2>&1 ||
		{ cat "$f" >&2; die "wrk failed ($path, $test)"; }
	[[ $test != pin ]] || pin_path "$path" "$ALL_CPUS"
	# shellcheck disable=SC2086
	[[ -z $pids ]] || t1=$(cpu_ticks $pids)
	line=$("$PY" "$BENCHDIR/report.py" wrk "$f") || { cat "$f" >&2; die "cannot read wrk's output ($path, $test)"; }
	read -r req rps p50 p99 non2xx sockerr avg <<<"$line"
	record "$r" "$path" "${test}_requests" "$req"
	record "$r" "$path" "${test}_rps" "$rps"
	record "$r" "$path" "${test}_p50" "$p50"
	record "$r" "$path" "${test}_p99" "$p99"
	record "$r" "$path" "${test}_non2xx" "$non2xx"
	record "$r" "$path" "${test}_sockerr" "$sockerr"
	record "$r" "$path" "${test}_avg" "$avg"
	[[ -z $pids || $test == lat || $test == pin ]] || record "$r" "$path" "${test}_cpu_ticks" $((t1 - t0))
	info "$(printf 'round %d %-7s %-3s %10.0f req/s  p50 %6.0f us  p99 %7.0f us  non-2xx %s  socket errors %s' \
		"$r" "$path" "$test" "$rps" "$p50" "$p99" "$non2xx" "$sockerr")"
	if ((non2xx + sockerr > 0)); then
		grep -E 'Socket errors|Non-2xx' "$f" | sed "s/^/      $path $test: /" >&2 || true
	fi
}

pin_path() { # PATH CPULIST: every thread of nginx and of the path's daemons
	local pid
	# shellcheck disable=SC2046
	for pid in "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID") $(daemon_pids "$1"); do
		taskset -a -p -c "$2" "$pid" >/dev/null 2>&1 || true
	done
}

run_iperf() { # ROUND PATH
	local r=$1 path=$2 host port f pids t0 t1 gbps bytes
	read -r host port <<<"$(iperf_target "$path")"
	f=$T/iperf-$r-$path.json
	pids=$(daemon_pids "$path")
	# shellcheck disable=SC2086
	[[ -z $pids ]] || t0=$(cpu_ticks $pids)
	client "$path" timeout $((DUR + 30)) "$IPERF3" -c "$host" -p "$port" -t "$DUR" -J >"$f" 2>"$f.err" ||
		{ cat "$f" "$f.err" >&2; die "iperf3 failed ($path)"; }
	# shellcheck disable=SC2086
	[[ -z $pids ]] || t1=$(cpu_ticks $pids)
	read -r gbps bytes <<<"$("$PY" "$BENCHDIR/report.py" iperf "$f")" || die "cannot read iperf3's output ($path)"
	record "$r" "$path" bulk_gbps "$gbps"
	record "$r" "$path" bulk_bytes "$bytes"
	[[ -z $pids ]] || record "$r" "$path" bulk_cpu_ticks $((t1 - t0))
	info "$(printf 'round %d %-7s bulk %6.2f Gbit/s' "$r" "$path" "$gbps")"
}

# The mesh path by name when wrk (and iperf3) can be entered by the shim;
# by VIP otherwise.
if has_path mesh; then
	out=$(client mesh timeout 20 "$WRK" -t1 -c1 -d1s "$URL_mesh" 2>&1 || true)
	if ! grep -qE '^ *[1-9][0-9]* requests in' <<<"$out" || grep -q 'Socket errors: connect [1-9]' <<<"$out"; then
		info "wrk under the shim could not use the name 'bench' ($(head -n 3 <<<"$out" | tr '\n' ' ')); using the VIP $VIP"
		NOTES+=("wrk reached the mesh by VIP ($VIP), not by name")
		URL_mesh=http://$VIP:$SVC_HTTP/
	fi
	if ((BULK)); then
		if ! client mesh timeout 20 "$IPERF3" -c "$MESH_IPERF_HOST" -p "$SVC_IPERF" -t 1 >"$T/iperf-probe.log" 2>&1; then
			info "iperf3 under the shim could not use the name 'iperf' ($(tail -n 2 "$T/iperf-probe.log" | tr '\n' ' ')); using the VIP"
			NOTES+=("iperf3 reached the mesh by VIP ($VIP_IPERF), not by name")
			MESH_IPERF_HOST=$VIP_IPERF
		fi
	fi
fi

say "warm-up: 1 s of keep-alive load on each path"
for path in "${PATHS[@]}"; do
	client "$path" timeout 20 "$WRK" -t2 -c32 -d1s "$(url_of "$path")" >/dev/null 2>&1 || true
done
check_daemons

TESTS=(ka cc)
((BULK)) && TESTS+=(bulk)
TESTS+=(lat)
# Unloaded latency swings between runs on a small VM with where the scheduler
# happens to put client and servers (a wake-up on another CPU costs tens of
# µs there). The same test with every process of the path on CPU 0 gives the
# software cost alone, steadily.
if command -v taskset >/dev/null 2>&1 && [[ $(nproc) -gt 1 ]]; then
	TESTS+=(pin)
	ALL_CPUS=$(taskset -cp $$ | awk -F': ' '{ print $2 }') # restored after each pinned run
else
	NOTES+=("no unloaded latency on one CPU (needs taskset and 2+ CPUs)")
fi
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((i = 0; i < npaths; i++)); do
		order+=("${PATHS[(i + r - 1) % npaths]}")
	done
	say "round $r of $ROUNDS (order: ${order[*]})"
	for test in "${TESTS[@]}"; do
		for path in "${order[@]}"; do
			if [[ $test == bulk ]]; then run_iperf "$r" "$path"; else run_wrk "$r" "$path" "$test"; fi
			check_daemons
			sleep 0.5
		done
	done
done

sleep 1
for path in mesh haproxy floor; do
	has_path "$path" || continue
	read -r pa pb <<<"$(daemon_pids "$path")"
	record - "$path" rss_after_a "$(rss_kib "$pa")"
	record - "$path" rss_after_b "$(rss_kib "$pb")"
	record - "$path" rss_after_total $(($(rss_kib "$pa") + $(rss_kib "$pb")))
done

# ---------------------------------------------------------------- daemon health

if has_path mesh; then
	for h in a b; do
		# Anything on stderr but the start-up "info:" lines is reported.
		nlines=$(grep -cv -e '^[[:space:]]*$' -e ' info: ' "$T/meshd-$h.log" || true)
		if [[ $nlines -gt 0 ]]; then
			info "meshd $h stderr: $nlines warning/error line(s):"
			grep -v -e '^[[:space:]]*$' -e ' info: ' "$T/meshd-$h.log" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/      /' >&2
			NOTES+=("meshd $h stderr: $nlines warning/error line(s); most frequent: $(grep -v -e '^[[:space:]]*$' -e ' info: ' "$T/meshd-$h.log" | sed 's/^[^ ]* //' | sort | uniq -c | sort -rn | head -n 2 | tr -s ' \n' ' ' | cut -c1-300)")
		else
			info "meshd $h stderr: no warnings or errors"
		fi
		if [[ -s $T/$h.traffic.log ]]; then
			summary=$("$PY" - "$T/$h.traffic.log" <<'PY'
import collections, datetime, json, sys
c = collections.Counter()
bad_times = []
for line in open(sys.argv[1], errors="replace"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    c[(r.get("event"), r.get("result"))] += 1
    if r.get("result") not in (None, "ok") and r.get("time"):
        try:
            bad_times.append(datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp())
        except ValueError:
            pass
bad = {k: v for k, v in c.items() if k[1] not in (None, "ok")}
total = sum(v for k, v in c.items() if k[0] == "close")
bursts, last = 0, None
for t in sorted(bad_times):
    if last is None or t - last > 0.5:
        bursts += 1
    last = t
out = "%d close records; not ok: %s" % (total, ", ".join("%s/%s %d" % (k[0], k[1], v) for k, v in sorted(bad.items(), key=str)) or "none")
if bad:
    out += " (in %d burst(s) of records less than 0.5 s apart)" % bursts
print(out)
PY
)
			info "meshd $h traffic log: $summary"
			[[ $summary == *"not ok: none" ]] ||
				NOTES+=("meshd $h traffic log: $summary; a wrk run ends with requests in flight and iperf3's server closes its data connection while the client still sends, so resets at the end of runs are expected on any path")
		fi
	done
fi
for path in haproxy floor; do
	has_path "$path" || continue
	for h in a b; do
		if grep -qiE 'alert|error' "$T/$path-$h.log"; then
			NOTES+=("$path $h: $(grep -iE 'alert|error' "$T/$path-$h.log" | head -n 2 | tr '\n' '|' | cut -c1-300)")
		fi
	done
done

# ---------------------------------------------------------------- report

END=$(date +%s)
{
	printf 'mode\t%s\n' "$MODE"
	printf 'nproc\t%s\n' "$(nproc)"
	printf 'cpu\t%s\n' "$CPU_MODEL"
	printf 'mem\t%s\n' "$MEM"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'commit\t%s\n' "$COMMIT"
	printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
	printf 'wall_s\t%s\n' $((END - START))
	printf 'rounds\t%s\n' "$ROUNDS"
	printf 'dur\t%s\n' "$DUR"
	printf 'paths\t%s\n' "$(IFS=,; echo "${PATHS[*]}")"
	printf 'hold_ns\t%s\n' "$(IFS=,; echo "${HOLD_NS[*]}")"
	printf 'clk_tck\t%s\n' "$CLK_TCK"
	printf 'nofile\t%s\n' "$NOFILE"
	printf 'versions\t%s\n' "$VERSIONS"
	printf 'mesh_url\t%s\n' "$URL_mesh"
	printf 'meshd_workers\t%s\n' "${WORKERS_LINE:-default}"
	printf 'note\t%s\n' "nginx: 2 worker processes, 64-byte body, access_log off; all processes share the machine's $(nproc) CPUs"
	printf 'note\t%s\n' "daemon CPU: utime+stime of both daemons (meshd A+B, or haproxy front+back) over the run, divided by requests (or connections, or GB) done"
	! has_path haproxy || printf 'note\t%s\n' "haproxy: mode tcp, nbthread $HA_NBTHREAD, TLS 1.3 both ways with verify required; its default TLS session reuse to the back haproxy is left on"
	! has_path floor || printf 'note\t%s\n' "floor: an HAProxy pair in plain TCP (no TLS): the cost of the three-hop topology alone (two extra TCP hops, two extra processes sharing the $(nproc) CPUs); mode tcp, nbthread $HA_NBTHREAD like the haproxy pair, splice at haproxy's defaults. A reference, not a competitor: floor/direct is the topology's share of the mesh's gap to direct, the rest (mesh against floor) is the mesh's own work"
	for n in "${NOTES[@]}"; do printf 'note\t%s\n' "$n"; done
} >"$T/meta.tsv"

# The shim's cost on calls that are not the mesh's (issue 3: under 1 µs per
# call): the same loop with and without LD_PRELOAD, interleaved, medians.
SHIMBENCH=$ROOT/build/shimbench
shim_rows=()
if [[ -x $SHIMBENCH ]]; then
	say "shim pass-through cost (build/shimbench, with and without LD_PRELOAD)"
	# A port nothing listens on: the kernel refuses at once.
	closed=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	for t in gai connect send; do
		case $t in gai) n=100000 ;; connect) n=50000 ;; send) n=2000000 ;; esac
		[[ $MODE == quick ]] && n=$((n / 5))
		plain=() shim=()
		for r in 1 2 3 4 5; do
			plain+=("$("$SHIMBENCH" "$t" "$n" "$closed")")
			shim+=("$(LD_PRELOAD=$LIBMESH MESH_SNAPSHOT=$T/a.routes "$SHIMBENCH" "$t" "$n" "$closed")")
		done
		mp=$(printf '%s\n' "${plain[@]}" | sort -g | sed -n 3p)
		ms=$(printf '%s\n' "${shim[@]}" | sort -g | sed -n 3p)
		shim_rows+=("$(printf '  %-44s %10s %10s %+10.1f' "$t ns/call" "$mp" "$ms" "$(awk -v a="$ms" -v b="$mp" 'BEGIN { print a - b }')")")
	done
fi

mkdir -p "$(dirname "$OUT_TXT")"
echo
"$PY" "$BENCHDIR/report.py" table "$T" "$OUT_TXT" "$OUT_JSON"
if [[ ${#shim_rows[@]} -gt 0 ]]; then
	{
		echo
		echo "shim pass-through (non-mesh calls; medians of 5)   without       with      added"
		echo "  (gai: getaddrinfo(localhost) + freeaddrinfo; connect: socket + refused connect + close;"
		echo "   send: 0-byte send on a socketpair)"
		printf '%s\n' "${shim_rows[@]}"
	} | tee -a "$OUT_TXT"
fi
echo
echo "written: ${OUT_TXT#"$ROOT"/}, ${OUT_JSON#"$ROOT"/}"
