#!/usr/bin/env bash
# serial
# shellcheck disable=SC2119,SC2154,SC2317  # helpers run via check
# too_many_files: host A's meshd runs with only 48 file descriptors, the
# last 16 of them kept in reserve (for reload and the control socket).
# Forty idle connections to a VIP use up the rest: meshd resets the ones
# that would eat into the reserve at once (the program sees a refusal, not
# a connect that hangs in the backlog), says so once with what to do,
# keeps serving the connections it has, and serves new ones once
# descriptors are free. (max_connections_per_uid is raised out of the way:
# its auto value, a quarter of 48, would refuse them first.)
. "$(dirname "$0")/lib.sh"

make_certs "$TD" client hello
write_confs a_mesh="max_connections_per_uid = 1000"
MESHD_PREFIX="prlimit --nofile=48:48 --" start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up echo 127.0.0.1 "$BACKPORT"
VIP=$(mesh_resolve hello)
check "hello resolves to a VIP ($VIP)" test -n "$VIP"

# 40 connections straight to the VIP (no shim: no verdict wait), each
# exchanging one line so that its path is up, then held open.
cat >"$T/hold.py" <<'PY'
import socket, sys, time
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held, answered = [], 0
for i in range(n):
    try:
        c = socket.create_connection((vip, port), timeout=10)
    except ConnectionResetError:
        # Refused for the reserve: meshd's reset can come before connect()
        # returns (a loaded machine, a sanitizer build); that is the
        # refusal this scenario expects, not a failure of the holder.
        continue
    held.append(c)
for c in held[:10]:
    c.sendall(b"ping\n")
    if c.recv(100).startswith(b"ping"):
        answered += 1
print(answered, flush=True)
open(sys.argv[4], "w").write("holding\n")
time.sleep(float(sys.argv[5]))
for c in held:
    c.close()
PY
spawn holder "$T/hold.out" "$PY" "$T/hold.py" "$VIP" "$PORT" 40 "$T/holding" 4
holder=$LAST_PID
if ! wait_file "$T/holding" 20; then
	note "the holder did not get its connections; what it printed:"
	while IFS= read -r line; do note "  $line"; done <"$T/hold.out"
fi
check_eq "the first connections are served while the limit is reached" 10 "$(head -n 1 "$T/hold.out")"
wait_grep "$T/a.err" 'reached the reserve' 5 || true
check "meshd says it refuses for the reserve, and what to do" \
	grep -q 'descriptors in use reached the reserve (limit 48, 16 kept for reload and the control socket).*raise LimitNOFILE / ulimit -n' "$T/a.err"
check_eq "it says so once" 1 "$(grep -c 'reached the reserve' "$T/a.err" || true)"
# Descriptors numbered 32..47 are the reserve (an inherited one above 47
# is not meshd's).
inres=$(find "/proc/$(meshd_pid a)/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' | awk '$1 >= 32 && $1 < 48' | wc -l)
check_eq "the reserve stays free: no descriptor in 32..47 in use" 0 "$inres"
check "the refused connections have overflow records" \
	wait_records "$T/a.log" '.result == "overflow" and (.detail | test("reserve"))' 1 5
check "meshd A is still running" meshd_alive a

# The holder lets go; descriptors come back and accepting resumes.
wait_gone "$holder" 20 || true
sleep 1
body=$(mesh_client "$PY" -c '
import socket, sys
c = socket.create_connection(("hello", int(sys.argv[1])), timeout=10)
c.sendall(b"after\n"); print(c.recv(100).decode().strip())' "$PORT") || body=
check_eq "after the connections close, a new one is served" "after" "$body"
check "meshd A is still running" meshd_alive a

summary
