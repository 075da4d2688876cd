#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# socat by mesh name (TCP:hello:PORT with connect-timeout: non-blocking
# connect + poll; without it, a blocking connect): the request from a file or
# stdin, the response on stdout; both hosts' records equal the upstream's
# counts. socat resolves with hints {AI_PASSIVE, AF_UNSPEC, SOCK_STREAM,
# IPPROTO_TCP} even for the address it connects to: with a host name given,
# AI_PASSIVE means nothing to getaddrinfo, so the mesh name must resolve.
# Finally socat to the VIP itself (no lookup).
. "$(dirname "$0")/lib.sh"
need socat
setup_hello

st=0
req=$'GET / HTTP/1.0\r\nHost: hello\r\n\r\n'
printf '%s' "$req" >"$T/req"
mesh_run timeout 20 socat -t 10 "OPEN:$T/req,rdonly!!STDOUT" "TCP:hello:$PORT,connect-timeout=5" >"$T/out" 2>"$T/socat.err" || st=$?
check_eq "socat exits 0" 0 "$st"
[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/socat.err"
contains "socat prints the upstream's 200" "HTTP/1.1 200 OK" "$(cat "$T/out")"
check_eq "socat prints the upstream's page last" "$TOKEN" "$(tail -n 1 "$T/out")"
client_conns "$st" "socat" 1 web
check_pair_bytes "socat (request file; response as socat wrote it)" "$(stat -c %s "$T/req")" "$(stat -c %s "$T/out")"

# Blocking connect (no connect-timeout) and stdio.
st=0
out=$(printf '%s' "$req" | mesh_run timeout 20 socat -t 10 - "TCP:hello:$PORT" 2>"$T/socat.err") || st=$?
check_eq "socat - TCP:hello:PORT exits 0" 0 "$st"
[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/socat.err"
check_eq "and prints the upstream's page last" "$TOKEN" "$(tail -n 1 <<<"$out")"
client_conns "$st" "socat stdio" 1 web

# The data path without any lookup: socat to the VIP itself.
st=0
out=$(printf '%s' "$req" | mesh_run timeout 20 socat -t 10 - "TCP:$VIP:$PORT") || st=$?
check_eq "socat - TCP:VIP:PORT exits 0" 0 "$st"
check_eq "and prints the upstream's page last" "$TOKEN" "$(tail -n 1 <<<"$out")"
client_conns "$st" "socat to the VIP" 1 web

summary
