#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# LD_PRELOAD composes: libmesh.so with another preloaded library, jemalloc
# (an allocator; preload tools have deadlocked with allocators that call
# dlsym), in either order: both are mapped, and curl (threaded resolver) and
# python3 reach the service by name. mesh-run keeps an LD_PRELOAD that is
# already set (libmesh first, then the existing one), and a child process
# inherits both.
. "$(dirname "$0")/lib.sh"
need curl
JEM=
for f in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/*/libjemalloc.so.2 /lib/*/libjemalloc.so.2; do
	[[ -e $f ]] && { JEM=$f; break; }
done
[[ -n $JEM ]] || die "libjemalloc.so.2 not installed: scripts/deps.sh installs libjemalloc2"
setup_hello
LIBREAL=$(readlink -f "$LIBMESH")

cat >"$T/fetch.py" <<'PY'
import os, subprocess, sys, urllib.request
maps = open("/proc/self/maps").read()
print("maps", "libmesh.so" in maps, "libjemalloc.so.2" in maps)
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    print("status", r.status, r.read().decode().strip())
print("preload", os.environ.get("LD_PRELOAD", ""))
child = subprocess.run(["cat", "/proc/self/maps"], capture_output=True, text=True).stdout
print("child maps", "libmesh.so" in child, "libjemalloc.so.2" in child)
PY

order() { # DESC LD_PRELOAD_VALUE
	local d=$1 pre=$2 st=0 out
	out=$(env "LD_PRELOAD=$pre" "MESH_SNAPSHOT=$T/a.routes" timeout 20 "$PY" "$T/fetch.py" "http://hello:$PORT/" 2>&1) || st=$?
	check_eq "$d: python3 exits 0" 0 "$st"
	check_eq "$d: python3 has both mapped, gets the page, a child has both" "maps True True
status 200 $TOKEN
preload $pre
child maps True True" "$out"
	client_conns "$st" "$d: python3" 1 web
	st=0
	out=$(env "LD_PRELOAD=$pre" "MESH_SNAPSHOT=$T/a.routes" "${CURL[@]}" "http://hello:$PORT/" 2>&1) || st=$?
	check_eq "$d: curl gets the page" "$TOKEN" "$out"
	client_conns "$st" "$d: curl" 1 web
}
order "libmesh then jemalloc" "$LIBMESH $JEM"
order "jemalloc then libmesh" "$JEM $LIBMESH"

# mesh-run with LD_PRELOAD already set.
st=0
out=$(LD_PRELOAD=$JEM mesh_run timeout 20 "$PY" "$T/fetch.py" "http://hello:$PORT/" 2>&1) || st=$?
check_eq "mesh-run with LD_PRELOAD=jemalloc: python3 exits 0" 0 "$st"
check_eq "mesh-run keeps jemalloc after libmesh; both mapped, in the child too" "maps True True
status 200 $TOKEN
preload $LIBREAL $JEM
child maps True True" "$out"
client_conns "$st" "mesh-run + jemalloc: python3" 1 web

summary
