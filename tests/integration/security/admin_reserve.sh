#!/usr/bin/env bash
# admin_reserve: four local users (real uids: nobody, daemon, bin, sys via
# setpriv) each open 8 idle admin connections, the per-user bound, at
# once: 32, the whole listener. Users other than root and meshd's own
# share at most 24 of the 32 slots, so the fourth user's are closed at once
# and root's /metrics and /ready are still answered.
. "$(dirname "$0")/../lib.sh"

ADMIN_A=$((MESHPORT + 7))
users=(nobody daemon bin sys)
for u in "${users[@]}"; do
	id -u "$u" >/dev/null 2>&1 || die "user $u does not exist on this system"
done
make_certs "$TD" client hello
write_confs
sed -i "s/^admin = off$/admin = 127.0.0.1:$ADMIN_A/" "$T/a.ini"
start_meshd a "$T/a.ini"
check "A's admin listener is up" wait_port 127.0.0.1 "$ADMIN_A" 5
chmod 755 "$T"

# hold.py PORT N STOP: open N connections, say after 0.5 s how many meshd
# kept ("held K"), hold them until STOP exists (or 20 s).
cat >"$T/hold.py" <<'PY'
import os, select, socket, sys, time
port, n, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        pass
time.sleep(0.5)
r, _, _ = select.select(socks, [], [], 0.1)
closed = 0
for s in r:
    try:
        closed += s.recv(1) == b""
    except OSError:
        closed += 1
print("held %d" % (len(socks) - closed), flush=True)
end = time.time() + 20
while time.time() < end and not os.path.exists(stop):
    time.sleep(0.05)
PY
chmod 644 "$T/hold.py"

for u in "${users[@]}"; do
	spawn "hold-$u" "$T/hold-$u.out" setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups \
		"$PY" "$T/hold.py" "$ADMIN_A" 8 "$T/stop"
done
for u in "${users[@]}"; do
	wait_grep "$T/hold-$u.out" '^held ' 5 || true
done
# At once: the idle ones are cut after the 5 s head timeout.
code=$(curl -sS --max-time 3 -o "$T/m.txt" -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/metrics") || code=
code2=$(curl -sS --max-time 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/ready") || code2=
total=0
for u in "${users[@]}"; do
	n=$(sed -n 's/^held //p' "$T/hold-$u.out")
	note "$u ($(id -u "$u")) kept ${n:-?} of 8"
	total=$((total + ${n:-0}))
done
touch "$T/stop"
check_eq "the four users kept 24 connections together (others' share of 32)" 24 "$total"
check_eq "root's /metrics with every other user's slot taken: 200" 200 "$code"
check "the answer is the metrics" grep -q '^libmesh_build_info' "$T/m.txt"
check_eq "root's /ready too: 200" 200 "$code2"
summary
