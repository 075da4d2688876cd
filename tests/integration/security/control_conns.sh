#!/usr/bin/env bash
# control_conns: a local user opening control connections by the thousand.
# 1,200 of them held by nobody used all of a 1,024-descriptor meshd, and
# EMFILE on the level-triggered control listener then made meshd spin at
# 93 % CPU while root's programs got nothing. Now a uid may hold at most
# max_control_per_uid (128) control connections (a new one beyond is closed
# at once: that process's shim fails open), a connection whose descriptor
# lies in the reserve is closed at once, and the listener pauses on
# EMFILE/ENFILE/ENOBUFS/ENOMEM like the VIP listeners.
#
# meshd A runs with soft descriptor limit 512, hard 1024. A meshd that
# raises its soft limit to the hard one at start (bounds_raise_nofile)
# then has 1,024 with a reserve of 64; one that does not runs out at 512
# while its reserve check thinks of 1,024, so that phase 2 reaches EMFILE.
#
#   phase 1 (max_control_per_uid 128): nobody opens 1,200 control
#   connections and holds them: exactly 128 stay open, the rest are closed
#   by meshd; meshd's CPU over 2 s stays < 0.5 s (utime + stime); root's
#   verdicts and traffic work meanwhile;
#   phase 2 (reloaded with max_control_per_uid 10000): nobody opens 1,200
#   more: meshd refuses them at the descriptor reserve, or pauses accept on
#   EMFILE (whichever its limit reaches first), says so, and does not spin
#   (< 0.5 s CPU over 2 s); once nobody lets go, root is served again.
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

NOBODY_UID=$(id -u nobody) || die "no user nobody"
NOBODY_GID=$(id -g nobody) || die "no group for nobody"
CONNS=1200

make_certs "$TD" client hello
DEAD="[service.dead]
ports = $PORT2
endpoints = 127.0.0.3:$BACKPORT3
retries = 0"
write_confs a_extra="$DEAD"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
cat >"$T/meshd-limited" <<EOS
#!/bin/sh
exec prlimit --nofile=${NOFILE:-512:1024} "$MESHD" "\$@"
EOS
chmod 755 "$T/meshd-limited"
REAL_MESHD=$MESHD
MESHD=$T/meshd-limited start_meshd a "$T/a.ini"
MESHD=$REAL_MESHD
PID_A=$(meshd_pid a)
chmod 755 "$T"
CTL=$T/a.routes.ctl
[[ -S $CTL ]] || die "no control socket at $CTL"
note "meshd A: $(grep 'Max open files' "/proc/$PID_A/limits")"

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID_A/stat"; }
# cpu_2s: meshd A's CPU seconds over the next 2 s
cpu_2s() {
	local a b
	a=$(cpu_ticks)
	sleep 2
	b=$(cpu_ticks)
	awk -v a="$a" -v b="$b" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }'
}
nfds() { find "/proc/$PID_A/fd" -mindepth 1 -maxdepth 1 | wc -l; }

root_checks() {
	local out
	out=$(mesh_client timeout 40 "$PY" "$HERE/../connect_probe.py" dead "$PORT2" 20 2>&1) || true
	note "$1: root's connect to dead: $out"
	check_eq "$1: root's verdicts work: connect to dead is refused" ECONNREFUSED "$(awk '{ print $1 }' <<<"$out")"
	check "$1:   within 2 s" awk -v t="$(awk '{ print $2 }' <<<"$out")" 'BEGIN { exit !(t < 2) }'
	check_hello "$1: root's curl to hello"
}

cat >"$T/hold.py" <<'PYEOF'
import socket, sys, time
ctl, n = sys.argv[1], int(sys.argv[2])
socks, failed = [], 0
for i in range(n):
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(0.2)   # a full backlog must not stall us
    try:
        c.connect(ctl)
        socks.append(c)
    except OSError:
        failed += 1
        c.close()
time.sleep(1.0)
closed = 0
for c in socks:
    c.setblocking(False)
    try:
        if not c.recv(1):
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print("opened=%d failed=%d closed=%d open=%d" % (len(socks), failed, closed, len(socks) - closed),
      flush=True)
time.sleep(3600)
PYEOF
chmod 644 "$T/hold.py"
# hold NAME: nobody opens CONNS control connections and keeps them.
hold() {
	spawn "$1" "$T/$1.out" prlimit --nofile=4096:4096 \
		setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
		"$PY" "$T/hold.py" "$CTL" "$CONNS"
	HOLD_PID=$LAST_PID
	wait_grep "$T/$1.out" '^opened=' 30 || not_ok "$1: the holder did not report ($(cat "$T/$1.out"))"
	note "$1: nobody: $(cat "$T/$1.out"); meshd A has $(nfds) descriptors"
}

root_checks before
fd0=$(nfds)

# ---------------------------------------------------------------- phase 1
hold hold1
h1=$HOLD_PID
open=$(grep -oE 'open=[0-9]+' "$T/hold1.out" | cut -d= -f2) || open=
check_eq "phase 1: nobody keeps max_control_per_uid (128) control connections open" 128 "${open:-?}"
check "  meshd holds about that many more descriptors ($fd0 -> $(nfds))" test "$(nfds)" -le $((fd0 + 128 + 16))
cpu=$(cpu_2s)
note "phase 1: meshd A CPU over 2 s: $cpu s"
check "phase 1: meshd A does not spin (< 0.5 s CPU over 2 s): $cpu s" awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'
root_checks "phase 1, nobody holding"
n=$(grep -c 'max_control_per_uid' "$T/a.err" || true)
check "phase 1: the refusals are logged once (not per connection): $n line(s)" test "$n" -ge 1 -a "$n" -le 2

# ---------------------------------------------------------------- phase 2
write_confs a_extra="$DEAD" a_mesh="max_control_per_uid = 10000"
reload_hosts "reloads with max_control_per_uid 10000" a
hold hold2
h2=$HOLD_PID
cpu=$(cpu_2s)
note "phase 2: meshd A CPU over 2 s: $cpu s; $(nfds) descriptors"
check "phase 2: meshd A does not spin (< 0.5 s CPU over 2 s): $cpu s" awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'
check "phase 2: meshd A is alive" meshd_alive a
soft=$(awk '/Max open files/ { print $4 }' "/proc/$PID_A/limits")
if [[ $soft -ge 1024 ]]; then
	check "phase 2: meshd says it refuses control connections at the descriptor reserve" \
		grep -q 'control socket .*: descriptors short' "$T/a.err"
else
	check "phase 2: meshd says control accept is paused (EMFILE)" \
		grep -q 'control socket .*: accept paused: Too many open files' "$T/a.err"
fi
n=$(grep -cE 'control socket .*: (descriptors short|accept paused)' "$T/a.err" || true)
check "  once, not per attempt: $n line(s)" test "$n" -ge 1 -a "$n" -le 2

kill_proc "$h2"
kill_proc "$h1"
sleep 0.5
root_checks "after nobody let go"
cpu=$(cpu_2s)
check "after: meshd A idles (< 0.5 s CPU over 2 s): $cpu s" awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'
summary
