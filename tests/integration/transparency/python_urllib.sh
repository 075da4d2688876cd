#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# python3 urllib with a timeout: CPython then connects non-blocking and waits
# with poll() for SO_ERROR. The page arrives; both hosts' records carry the
# upstream's exact counts.
. "$(dirname "$0")/lib.sh"
setup_hello
head -c 100000 /dev/urandom | base64 >"$T/www/file"

st=0
out=$(mesh_run "$PY" - "http://hello:$PORT/file" "$T/got" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    data = r.read()
    print(r.status, len(data))
with open(sys.argv[2], "wb") as f:
    f.write(data)
PY
) || st=$?
check_eq "python3 urlopen(timeout=5) exits 0" 0 "$st"
check_eq "status 200 and the file's length" "200 $(stat -c %s "$T/www/file")" "$out"
check "the body equals the upstream's file" cmp -s "$T/www/file" "$T/got"
CONN_PROGRAM=python3 client_conns "$st" "urllib" 1 web

summary
