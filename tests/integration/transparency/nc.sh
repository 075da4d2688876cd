#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# nc (netcat-openbsd) by mesh name, with -w (non-blocking connect + poll):
# a request on stdin, -N half-closes after it; nc prints the upstream's
# response, and the records carry exactly the bytes nc sent and printed.
# Then -z (connect only, a port scan) reports the port open.
. "$(dirname "$0")/lib.sh"
need nc
setup_hello

st=0
req=$'GET / HTTP/1.0\r\nHost: hello\r\n\r\n'
printf '%s' "$req" | mesh_run timeout 20 nc -N -w 10 hello "$PORT" >"$T/out" 2>"$T/nc.err" || st=$?
check_eq "nc exits 0" 0 "$st"
[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/nc.err"
contains "nc prints the upstream's 200" "HTTP/1.1 200 OK" "$(cat "$T/out")"
check_eq "nc prints the upstream's page last" "$TOKEN" "$(tail -n 1 "$T/out")"
CONN_PROGRAM=nc client_conns "$st" "nc" 1 web
check_pair_bytes "nc (request; response as nc printed it)" "${#req}" "$(stat -c %s "$T/out")"

st=0
out=$(mesh_run timeout 20 nc -vz -w 5 hello "$PORT" 2>&1) || st=$?
check_eq "nc -z exits 0" 0 "$st"
contains "nc -vz reports the port open" "Connection to hello ($VIP) $PORT port [tcp/*] succeeded!" "$out"

summary
