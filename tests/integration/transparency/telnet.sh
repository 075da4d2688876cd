#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# telnet (blocking libc connect, inetutils): an HTTP/1.0 request typed on
# stdin (bare newlines: telnet sends each as CR LF, and a CR as CR NUL); it
# prints "Trying VIP...", "Connected to hello." and the upstream's
# response; both hosts record the connection with the upstream's counts.
. "$(dirname "$0")/lib.sh"
need telnet
setup_hello

st=0
out=$( (sleep 1; printf 'GET / HTTP/1.0\nHost: hello\n\n'; sleep 1) |
	mesh_run timeout 20 telnet hello "$PORT" 2>&1) || st=$?
note "telnet exit status $st (the upstream closes first)"
contains "telnet tries the VIP" "Trying $VIP..." "$out"
contains "telnet says it connected to hello" "Connected to hello." "$out"
contains "telnet prints the upstream's 200" "HTTP/1.1 200 OK" "$out"
contains "telnet prints the upstream's page" "$TOKEN" "$out"
contains "the upstream closed the connection" "Connection closed by foreign host." "$out"
CONN_PROGRAM=telnet client_conns "$st" "telnet" 1 web
check "the upstream served GET /" grep -q "^request GET / 200" "$T/web.conns"

summary
