#!/usr/bin/env bash
# make demo: a two-host mesh on loopback, one request through it, its records,
# and what meshctl and /metrics say about it.
#
#   host A (127.0.0.1)                         host B (127.0.0.2)
#   curl http://hello/  (LD_PRELOAD shim)      python3 http.server 127.0.0.1:8080
#     -> meshd A on hello's VIP:80  --mTLS-->  meshd B :15443 -> upstream
#
# Everything lives in a temporary directory and is stopped at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MESHD=${MESHD:-$ROOT/build/meshd}
T=$(mktemp -d /tmp/libmesh-demo.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] && echo "(kept $T)" || rm -rf "$T"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_file() { for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "timed out waiting for $1" >&2; return 1; }

if [ "$(id -u)" != 0 ]; then
	echo "make demo binds port 80 on a loopback VIP and runs a client as nobody: run it as root" >&2
	exit 1
fi

say "certificates: a CA and one per identity (ECDSA P-256, spiffe:// URI SANs)"
mkdir -p "$T/certs"
"$ROOT/scripts/mesh-certs" ca "$T/certs" demo.mesh
for id in web batch hello; do "$ROOT/scripts/mesh-certs" identity "$T/certs" demo.mesh "$id"; done
chmod 755 "$T/certs"
cp "$ROOT/conf/host-a.ini" "$ROOT/conf/host-b.ini" "$T/"

say "configs check out (meshd -t)"
"$MESHD" -t -c "$T/host-a.ini"
"$MESHD" -t -c "$T/host-b.ini"

say "host B: an HTTP server on 127.0.0.1:8080 (not reachable by name without the mesh)"
mkdir -p "$T/www"
echo "Hello from host B, through the mesh." > "$T/www/index.html"
python3 -m http.server --bind 127.0.0.1 8080 --directory "$T/www" >"$T/http.log" 2>&1 &
pids+=($!)

say "two meshd: host A (127.0.0.1) and host B (127.0.0.2)"
"$MESHD" -c "$T/host-a.ini" 2>"$T/host-a.err" & pids+=($!)
"$MESHD" -c "$T/host-b.ini" 2>"$T/host-b.err" & pids+=($!)
wait_file "$T/host-a.routes"
wait_file "$T/host-b.routes"
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break; sleep 0.1; done
cat "$T/host-a.err" "$T/host-b.err"

export MESH_SNAPSHOT="$T/host-a.routes"
say "host A: mesh-run --debug curl http://hello/   (the shim resolves 'hello' to its VIP)"
"$ROOT/scripts/mesh-run" --debug curl -sS http://hello/

say "host A: the same as user nobody (identity 'batch', which host B does not allow)"
cp "$ROOT/build/libmesh.so" "$T/libmesh.so"
if setpriv --reuid=nobody --regid=nogroup --clear-groups \
	env LD_PRELOAD="$T/libmesh.so" curl -sS -m 5 http://hello/; then
	echo "unexpected: nobody got through" >&2
	exit 1
fi

say "a stranger speaks plain HTTP to host B's mesh port"
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 nc -w 2 127.0.0.2 15443 >/dev/null || true
echo "(no answer: the mesh port speaks only mutual TLS)"

sleep 0.3
say "traffic records, host A ($T/host-a.traffic.log)"
jq -c . "$T/host-a.traffic.log"
say "traffic records, host B ($T/host-b.traffic.log)"
jq -c . "$T/host-b.traffic.log"

say "the same connection seen from both hosts (joined on its id)"
id=$(jq -r 'select(.result=="ok") | .id' "$T/host-a.traffic.log" | head -1)
jq -c --arg id "$id" 'select(.id==$id) | {host, direction, source, service, peer, endpoint, bytes_sent, bytes_received, tls, result}' \
	"$T/host-a.traffic.log" "$T/host-b.traffic.log"

MESHCTL="$ROOT/scripts/meshctl"
say "what an operator sees: meshctl -a 127.0.0.1:15000 stat   (host A, since start)"
"$MESHCTL" -a 127.0.0.1:15000 stat
say "meshctl -a 127.0.0.2:15000 stat   (host B)"
"$MESHCTL" -a 127.0.0.2:15000 stat
say "meshctl -a 127.0.0.1:15000 endpoints   (host A's view of its endpoints)"
"$MESHCTL" -a 127.0.0.1:15000 endpoints
say "Prometheus text: curl -s 127.0.0.1:15000/metrics | grep tcp_connections_closed"
curl -sS http://127.0.0.1:15000/metrics | grep '^libmesh_tcp_connections_closed_total'
echo "(the status page is http://127.0.0.1:15000/ while meshd runs: KEEP=1 does not keep meshd running)"

say "stopping (SIGTERM drains, then exits)"
for p in "${pids[@]:1}"; do kill -TERM "$p"; done
wait "${pids[@]:1}" 2>/dev/null || true
tail -n 2 "$T/host-a.err" "$T/host-b.err"
echo
echo "demo done: one request passed host A -> mTLS -> host B, one was denied by policy,"
echo "one stranger was refused, and every connection left a record on each host it touched;"
echo "meshctl and /metrics showed the same from each host's admin listener."
