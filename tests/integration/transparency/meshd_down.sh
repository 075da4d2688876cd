#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# With host A's meshd down, programs under the shim neither hang nor break:
#  - meshd killed (SIGKILL: its route snapshot stays behind): the name still
#    resolves to the VIP, and the VIP refuses at once (curl, python3);
#  - meshd restarted: the same VIP works again;
#  - meshd stopped (SIGTERM: it removes its snapshot): mesh names fall
#    through to normal resolution (curl: "Could not resolve host", getent
#    and getaddrinfo answer exactly as without the shim), and the VIP
#    refuses at once.
. "$(dirname "$0")/lib.sh"
need curl getent
setup_hello
FAST_MS=3000

st=0
out=$(mesh_run "${CURL[@]}" "http://hello:$PORT/") || st=$?
check_eq "meshd up: curl gets the page" "$TOKEN" "$out"
client_conns "$st" "meshd up" 1 web

# shellcheck disable=SC2317  # (called through timed)
connect_probe() { # HOST: python3 connect() under the shim; prints the outcome
	mesh_run timeout 20 "$PY" - "$1" "$PORT" <<'PY' 2>&1
import errno, socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno) if e.errno else type(e).__name__, e.strerror or e)
PY
}

# ---- SIGKILL: the snapshot stays, nothing listens on the VIP
kill -KILL "$(meshd_pid a)"
wait_meshd a 5 2>/dev/null || true
check "the killed meshd left its snapshot" test -e "$T/a.routes"
check_eq "hello still resolves to the VIP" "$VIP" "$(mesh_resolve hello 2>&1)"
timed mesh_run "${CURL[@]}" -v "http://hello:$PORT/" 2>"$T/curl.err"
check_eq "curl http://hello:PORT/ fails to connect (exit 7)" 7 "$RC"
contains "curl -v: connection refused" "Connection refused" "$(cat "$T/curl.err")"
check "and at once (${ELAPSED_MS} ms < $FAST_MS ms)" test "$ELAPSED_MS" -lt "$FAST_MS"
timed connect_probe hello >"$T/probe.out"
check_eq "python3 connect(hello): ECONNREFUSED" "ECONNREFUSED Connection refused" "$(cat "$T/probe.out")"
check "and at once (${ELAPSED_MS} ms < $FAST_MS ms)" test "$ELAPSED_MS" -lt "$FAST_MS"

# ---- restarted: the same VIP serves again
start_meshd a "$T/a.ini"
check_eq "after a restart hello resolves to the same VIP" "$VIP" "$(mesh_resolve hello 2>&1)"
st=0
out=$(mesh_run "${CURL[@]}" "http://hello:$PORT/") || st=$?
check_eq "after a restart curl gets the page" "$TOKEN" "$out"
client_conns "$st" "meshd restarted" 1 web

# ---- SIGTERM: the snapshot goes, names fall through
stop_meshd a 10 || true
check "the stopped meshd removed its snapshot" test ! -e "$T/a.routes"
timed mesh_run "${CURL[@]}" "http://hello:$PORT/" 2>"$T/curl.err"
check_eq "curl http://hello:PORT/ cannot resolve (exit 6)" 6 "$RC"
contains "curl: Could not resolve host: hello" "Could not resolve host: hello" "$(cat "$T/curl.err")"
check "and at once (${ELAPSED_MS} ms < $FAST_MS ms)" test "$ELAPSED_MS" -lt "$FAST_MS"
check_eq "getent ahosts hello: as without the shim" "$(getent ahosts hello 2>&1; echo "exit $?")" \
	"$(mesh_run getent ahosts hello 2>&1; echo "exit $?")"
check_eq "python3 connect(hello): as without the shim" \
	"$("$PY" -c 'import socket
try:
    socket.create_connection(("hello", 1), timeout=5)
except OSError as e:
    print(type(e).__name__, e)' 2>&1)" \
	"$(mesh_run "$PY" -c 'import socket
try:
    socket.create_connection(("hello", 1), timeout=5)
except OSError as e:
    print(type(e).__name__, e)' 2>&1)"
timed mesh_run "${CURL[@]}" -v "http://$VIP:$PORT/" 2>"$T/curl.err"
check_eq "curl to the VIP itself fails to connect (exit 7)" 7 "$RC"
contains "curl -v: connection refused" "Connection refused" "$(cat "$T/curl.err")"
check "and at once (${ELAPSED_MS} ms < $FAST_MS ms)" test "$ELAPSED_MS" -lt "$FAST_MS"
timed connect_probe "$VIP" >"$T/probe.out"
check_eq "python3 connect(VIP): ECONNREFUSED" "ECONNREFUSED Connection refused" "$(cat "$T/probe.out")"
check "and at once (${ELAPSED_MS} ms < $FAST_MS ms)" test "$ELAPSED_MS" -lt "$FAST_MS"
sleep 0.3
check_eq "no further connection on host A" 0 $(($(count_records "$T/a.log" '.event == "close"') - A_SEEN))

summary
