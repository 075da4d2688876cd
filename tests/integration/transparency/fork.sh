#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# A process that resolves a mesh name, forks, and connects from the child:
# python3 os.fork(), and the C variant (tests/tools/gai_connect.c fork). The
# child resolves and connects through the mesh; the records carry exactly
# the child's counts.
. "$(dirname "$0")/lib.sh"
build_tool gai_connect
setup_hello

st=0
out=$(mesh_run timeout 30 "$PY" - hello "$PORT" <<'PY'
import os, socket, sys
from httpclient import body, get
host, port = sys.argv[1], int(sys.argv[2])
print("parent resolves", socket.gethostbyname(host), flush=True)
pid = os.fork()
if pid == 0:
    code = 1
    try:
        s = socket.create_connection((host, port), timeout=10)
        req, resp = get(s, "hello")
        print("child pid %d peer %s:%d sent %d received %d body %s" % (
            (os.getpid(),) + s.getpeername()[:2] + (len(req), len(resp), body(resp))),
            end="", flush=True)
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
print("child exited", os.waitstatus_to_exitcode(status))
PY
) || st=$?
check_eq "python3 fork: exits 0" 0 "$st"
check_eq "python3 fork: parent resolved the VIP" "parent resolves $VIP" "$(head -n 1 <<<"$out")"
contains "python3 fork: the child connected to the VIP and got the page" "peer $VIP:$PORT sent " "$out"
contains "python3 fork: the child got the page" " body $TOKEN" "$out"
contains "python3 fork: the child exited 0" "child exited 0" "$out"
read -r cpid sent received <<<"$(sed -n 's/^child pid \([0-9]*\) .* sent \([0-9]*\) received \([0-9]*\) body .*/\1 \2 \3/p' <<<"$out")"
CONN_PROGRAM=python3 CONN_PID="${cpid:-0}" client_conns "$st" "python3 fork" 1 web
check_pair_bytes "python3 fork (the child's counts)" "${sent:-0}" "${received:-0}"

st=0
out=$(mesh_run timeout 30 "$T/gai_connect" fork hello "$PORT" / 2>&1) || st=$?
check_eq "C fork: exits 0" 0 "$st"
contains "C fork: the child reached the VIP and got the page" "peer $VIP:$PORT status 200" "$out"
contains "C fork: the child's body" " body $TOKEN" "$out"
contains "C fork: the child exited 0" "exited 0" "$out"
read -r cpid sent received <<<"$(awk '$1 == "fetch" { print $4, $10, $12 }' <<<"$out")"
CONN_PROGRAM=gai_connect CONN_PID="${cpid:-0}" client_conns "$st" "C fork" 1 web
check_pair_bytes "C fork (the child's counts)" "${sent:-0}" "${received:-0}"

summary
