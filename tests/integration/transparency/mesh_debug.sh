#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# MESH_DEBUG=1 prints one line per decision to stderr: a mesh name resolved,
# a name or a lookup passed through, a connect intercepted, a connect passed
# through. A python3 program takes one decision per step, with a marker
# between steps, and each step must print exactly its one line (the route
# snapshot's load notice and the faithful-failure lines, "control ..." and
# "verdict ...", aside). curl under `mesh-run --debug` prints one
# line for its lookup and one for its connect; without MESH_DEBUG the shim
# prints nothing. The intercepted address is on loopback (127.0.99.1).
. "$(dirname "$0")/lib.sh"
need curl
ICPT=127.0.99.1
setup_hello a_hello="intercept = $ICPT:$PORT"

st=0
MESH_DEBUG=1 mesh_run timeout 20 "$PY" - "$ICPT" "$PORT" "$BACKPORT" "$VIP" >"$T/out" 2>"$T/err" <<'PY' || st=$?
import socket, sys
icpt, port, backport, vip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def step(name):
    print("--- " + name, file=sys.stderr, flush=True)
def conn(addr, p):
    s = socket.socket()
    s.settimeout(5)
    s.connect((addr, p))   # a numeric address: no lookup
    s.close()
step("gethostbyname hello"); socket.gethostbyname("hello")
step("getaddrinfo hello.mesh"); socket.getaddrinfo("hello.mesh", port, socket.AF_INET, socket.SOCK_STREAM)
step("gethostbyname localhost"); socket.gethostbyname("localhost")
step("getaddrinfo nosuch.invalid")
try:
    socket.getaddrinfo("nosuch.invalid", 80)
except socket.gaierror:
    pass
step("getaddrinfo NULL AI_PASSIVE"); socket.getaddrinfo(None, 8080, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
step("connect intercepted"); conn(icpt, port)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
other = srv.getsockname()[1]
print("other %d" % other)
step("connect other"); conn("127.0.0.1", other)
step("connect VIP"); conn(vip, port)
step("end")
print("done")
PY
check_eq "the probe exits 0" 0 "$st"
OTHER=$(sed -n 's/^other //p' "$T/out")
check_eq "the probe's stdout is its own" "other $OTHER
done" "$(cat "$T/out")"
# segment NAME: the libmesh lines between marker NAME and the next marker,
# without the route snapshot's load notice and the faithful-failure
# machinery's lines (control connection, verdicts: noted, not counted).
segment() {
	awk -v s="--- $1" '$0 == s { on = 1; next } /^--- / { on = 0 } on' "$T/err" |
		grep -v -e '^libmesh: snapshot ' -e '^libmesh: control ' -e '^libmesh: verdict ' || true
}
check_eq "gethostbyname(hello): one 'resolved' line" \
	"libmesh: resolve hello -> $VIP (mesh)" "$(segment "gethostbyname hello")"
check_eq "getaddrinfo(hello.mesh): one 'resolved' line" \
	"libmesh: resolve hello.mesh -> $VIP (mesh)" "$(segment "getaddrinfo hello.mesh")"
check_eq "gethostbyname(localhost): one 'passed through' line" \
	"libmesh: resolve localhost: not a mesh name, passed through" "$(segment "gethostbyname localhost")"
check_eq "getaddrinfo(nosuch.invalid): one 'passed through' line" \
	"libmesh: resolve nosuch.invalid: not a mesh name, passed through" "$(segment "getaddrinfo nosuch.invalid")"
seg=$(segment "getaddrinfo NULL AI_PASSIVE")
check_eq "getaddrinfo(NULL, AI_PASSIVE): one line" 1 "$(grep -c . <<<"$seg" || true)"
contains "getaddrinfo(NULL, AI_PASSIVE): the line says passed through" "passed through" "$seg"
check_eq "connect to the intercepted address: one 'intercepted' line" \
	"libmesh: connect $ICPT:$PORT -> $VIP:$PORT (intercept hello)" "$(segment "connect intercepted")"
check_eq "connect to 127.0.0.1 (not the mesh's): one 'passed through' line" \
	"libmesh: connect 127.0.0.1:$OTHER passed through" "$(segment "connect other")"
seg=$(segment "connect VIP")
check_eq "connect to the VIP: one line" 1 "$(grep -c . <<<"$seg" || true)"
contains "connect to the VIP: the line names the VIP and the service" "libmesh: connect $VIP:$PORT" "$seg"
note "connect to the VIP printed: $seg"
check_eq "every line on stderr is a marker or a libmesh line" "" \
	"$(grep -v -e '^--- ' -e '^libmesh: ' "$T/err" || true)"
extra=$(grep -e '^libmesh: control ' -e '^libmesh: verdict ' "$T/err" || true)
[[ -z $extra ]] || note "faithful-failure lines besides the decisions: $(grep -c . <<<"$extra")"
check "the snapshot load notice names the snapshot" grep -q "^libmesh: snapshot $T/a.routes: generation [0-9]*, 1 services, 1 intercepts\$" "$T/err"
# The intercepted connection and the one to the VIP were real mesh connections.
# (Connect-only: no bytes.)
CONN_EMPTY=2 client_conns "$st" "MESH_DEBUG probe (intercept and VIP)" 2 web

# A real program: curl under mesh-run --debug.
st=0
out=$(LIBMESH_SO=$LIBMESH MESH_SNAPSHOT=$T/a.routes "$MESH_RUN" --debug "${CURL[@]}" "http://hello:$PORT/" 2>"$T/err") || st=$?
check_eq "curl under mesh-run --debug gets the page on stdout" "$TOKEN" "$out"
dbg=$(grep -v -e '^libmesh: snapshot ' -e '^libmesh: control ' -e '^libmesh: verdict ' "$T/err" || true)
check_eq "curl: exactly two lines, its lookup and its connect" 2 "$(grep -c . <<<"$dbg" || true)"
contains "curl: the lookup line" "libmesh: resolve hello -> $VIP (mesh)" "$dbg"
contains "curl: the connect line" "libmesh: connect $VIP:$PORT" "$dbg"
check_eq "curl: nothing but libmesh lines on stderr" "" "$(grep -v '^libmesh: ' "$T/err" || true)"
client_conns "$st" "curl --debug" 1 web

st=0
mesh_run "${CURL[@]}" "http://hello:$PORT/" >/dev/null 2>"$T/err" || st=$?
check_eq "without MESH_DEBUG: curl exits 0" 0 "$st"
check_eq "without MESH_DEBUG: the shim prints nothing" "" "$(cat "$T/err")"
client_conns "$st" "curl quiet" 1 web

summary
