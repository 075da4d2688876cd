#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# wget (blocking libc connect): `wget -qO-` by mesh name prints the upstream's
# page; both hosts record the connection with the bytes the upstream saw.
. "$(dirname "$0")/lib.sh"
need wget
setup_hello

st=0
out=$(mesh_run wget -qO- --tries=1 --timeout=15 "http://hello:$PORT/") || st=$?
check_eq "wget exits 0" 0 "$st"
check_eq "wget prints the upstream's page" "$TOKEN" "$out"
CONN_PROGRAM=wget client_conns "$st" "wget" 1 web

st=0
out=$(mesh_run wget -S -O "$T/got" --tries=1 --timeout=15 "http://hello.mesh:$PORT/index.html" 2>&1) || st=$?
check_eq "wget -S (hello.mesh) exits 0" 0 "$st"
contains "wget reports connecting to hello.mesh at the VIP" "Connecting to hello.mesh (hello.mesh)|$VIP|:$PORT... connected." "$out"
contains "wget shows the upstream's 200" "HTTP/1.1 200 OK" "$out"
check "file saved by wget equals the page" cmp -s "$T/www/index.html" "$T/got"
CONN_PROGRAM=wget client_conns "$st" "wget -S" 1 web

summary
