#!/usr/bin/env bash
# serial
# shellcheck disable=SC2154  # records are set by get_record
# control_flood: the control socket is 0666, so any local user can write to
# it. Questions that nothing answers used to be kept 120 s each, without a
# cap (10 million lines from nobody took meshd from 7.6 MB to 1.74 GB).
# Now every connection may have at most max_pending_per_control (1024)
# unanswered questions and every uid max_pending_per_uid (8192); the
# connection that goes beyond is closed. Questions about a VIP:port meshd
# does not hold are answered "unknown" at once and kept nowhere, answers to
# a reader that does not read are dropped, a line longer than the read
# buffer closes the connection, and each read callback handles one buffer,
# so one connection cannot starve the others.
#
# Attack (as nobody): one connection asking distinct questions about
# hello's VIP until meshd closes it; one oversized line; then THREADS
# connections for FLOOD_S seconds writing millions of lines (3 in 4 distinct
# questions about held VIP:ports, 1 in 4 about an unheld one, a malformed
# line in every 100), reconnecting whenever meshd closes them, never
# reading an answer.
#
# Bound: nobody's pending questions are at most 8192 (~200 bytes each, 1.6
# MiB) plus the per-connection buffers, so meshd's RSS may grow by at most
# RSS_SLACK_KB (32 MiB, room for allocator slack; ASan's quarantine is made
# small as in link_streams). Root's programs, meanwhile and after: a
# connect to a refused service fails with ECONNREFUSED within 2 s, curl to
# hello is served. The complaint is logged once per uid per 10 s, not per
# line.
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

FLOOD_S=${FLOOD_S:-6}
THREADS=${THREADS:-8}
RSS_SLACK_KB=$((32 * 1024))
case ${ASAN_OPTIONS:-} in
*quarantine_size_mb=*) ;;
*) export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=8" ;;
esac

NOBODY_UID=$(id -u nobody) || die "no user nobody"
NOBODY_GID=$(id -g nobody) || die "no group for nobody"

make_certs "$TD" client hello
write_confs a_extra="[service.dead]
ports = $PORT2
endpoints = 127.0.0.3:$BACKPORT3
retries = 0"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
chmod 755 "$T"
CTL=$T/a.routes.ctl
[[ -S $CTL ]] || die "no control socket at $CTL"
VIP=$(mesh_resolve hello) || die "hello does not resolve"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(meshd_pid a)/status"; }

# root_checks WHEN: root's verdicts and traffic.
root_checks() {
	local out
	out=$(mesh_client timeout 40 "$PY" "$HERE/../connect_probe.py" dead "$PORT2" 2>&1) || true
	note "$1: root's connect to dead: $out"
	check_eq "$1: root's connect to dead is refused (ECONNREFUSED)" ECONNREFUSED "$(awk '{ print $1 }' <<<"$out")"
	check "$1:   within 2 s" awk -v t="$(awk '{ print $2 }' <<<"$out")" 'BEGIN { exit !(t < 2) }'
	check_hello "$1: root's curl to hello"
}
root_checks before
rss0=$(rss_kb)

cat >"$T/flood.py" <<'PYEOF'
import errno, os, socket, sys, threading, time

mode, ctl = sys.argv[1], sys.argv[2]

def lines(vip, port, seed, n, unheld=None):
    out = []
    for i in range(n):
        k = seed * n + i
        a = "127.%d.%d.%d:%d" % ((k >> 24) & 255 or 1, (k >> 16) & 255, (k >> 8) & 255, 1024 + (k & 0x7fff))
        if i % 100 == 99:
            out.append("W this is not a question\n")
        elif unheld and i % 4 == 3:
            out.append("W %s %s %d\n" % (a, unheld, 1000 + k))
        else:
            out.append("W %s %s:%s %d\n" % (a, vip, port, 1000 + k))
    return "".join(out).encode()

def closed_by_peer(c):
    # meshd closed it if a read sees EOF (or a reset).
    c.setblocking(False)
    try:
        while True:
            b = c.recv(65536)
            if not b:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True

if mode == "pending":
    vip, port = sys.argv[3], sys.argv[4]
    c = socket.socket(socket.AF_UNIX)
    c.connect(ctl)
    c.settimeout(5)
    sent, t = 0, time.monotonic()
    try:
        while time.monotonic() - t < 10:
            c.sendall(lines(vip, port, sent // 1000, 1000))
            sent += 1000
    except OSError as e:
        print("closed after %d lines (%s)" % (sent, errno.errorcode.get(e.errno, e.errno)))
        sys.exit(0)
    print("open after %d lines" % sent)

elif mode == "long":
    c = socket.socket(socket.AF_UNIX)
    c.connect(ctl)
    c.settimeout(5)
    try:
        c.sendall(b"W " + b"1" * 5000)
        b = c.recv(100)
        print("closed" if not b else "answered %r" % b)
    except socket.timeout:
        print("open")
    except OSError as e:
        print("closed (%s)" % errno.errorcode.get(e.errno, e.errno))

elif mode == "flood":
    vip, port, secs, nthreads = sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
    unheld = "127.77.250.250:" + port
    stats = {"lines": 0, "closed": 0, "conns": 0}
    lock = threading.Lock()
    end = time.monotonic() + secs
    def run(tid):
        seed = tid * 1000000
        while time.monotonic() < end:
            c = socket.socket(socket.AF_UNIX)
            try:
                c.connect(ctl)
            except OSError:
                time.sleep(0.01)
                continue
            with lock:
                stats["conns"] += 1
            c.settimeout(0.5)
            try:
                while time.monotonic() < end:
                    buf = lines(vip, port, seed, 2000, unheld)
                    seed += 1
                    c.sendall(buf)
                    with lock:
                        stats["lines"] += 2000
            except socket.timeout:
                pass          # meshd reads slower than we write: fine
            except OSError:
                with lock:
                    stats["closed"] += 1
            c.close()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(nthreads)]
    for t in ts: t.start()
    for t in ts: t.join()
    print("lines=%d conns=%d closed=%d" % (stats["lines"], stats["conns"], stats["closed"]))
PYEOF
chmod 644 "$T/flood.py"

as_nobody() {
	setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
		env HOME=/nonexistent "$@"
}

# ---------------------------------------------------------------- one connection
out=$(as_nobody timeout 30 "$PY" "$T/flood.py" pending "$CTL" "$VIP" "$PORT" 2>&1) || true
note "nobody, one connection of distinct questions: $out"
check "meshd closes a connection with too many unanswered questions" grep -q '^closed after' <<<"$out"
out=$(as_nobody timeout 30 "$PY" "$T/flood.py" long "$CTL" 2>&1) || true
note "nobody, one oversized line: $out"
check "meshd closes a connection that sends an oversized line" grep -q '^closed' <<<"$out"

# ---------------------------------------------------------------- the flood
spawn flood "$T/flood.out" setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
	"$PY" "$T/flood.py" flood "$CTL" "$VIP" "$PORT" "$FLOOD_S" "$THREADS"
FLOOD_PID=$LAST_PID
rss_max=$rss0 t0=$SECONDS checked=0
while _alive "$FLOOD_PID" && ((SECONDS - t0 < FLOOD_S + 20)); do
	r=$(rss_kb) && ((r > rss_max)) && rss_max=$r
	if ((checked == 0 && SECONDS - t0 >= 2)); then
		checked=1
		root_checks "during the flood"
	fi
	sleep 0.2
done
wait_gone "$FLOOD_PID" 5 || not_ok "the flood did not end"
out=$(cat "$T/flood.out")
note "nobody's flood: $out"
lines=$(grep -oE 'lines=[0-9]+' <<<"$out" | cut -d= -f2) || lines=0
closed=$(grep -oE 'closed=[0-9]+' <<<"$out" | cut -d= -f2) || closed=0
check "the flood wrote over a million lines (${lines:-0} in ${FLOOD_S} s)" test "${lines:-0}" -ge 1000000
check "meshd closed flooding connections (${closed:-0})" test "${closed:-0}" -ge 1
r=$(rss_kb) && ((r > rss_max)) && rss_max=$r
note "meshd A RSS: $rss0 KiB before, at most $rss_max KiB during (bound: +$RSS_SLACK_KB KiB)"
check "meshd A's RSS grew by less than $((RSS_SLACK_KB / 1024)) MiB ($(((rss_max - rss0) / 1024)) MiB)" \
	test $((rss_max - rss0)) -lt "$RSS_SLACK_KB"
check "meshd A is alive" meshd_alive a

root_checks "after the flood"
n=$(grep -c 'warn: control: ' "$T/a.err" || true)
note "control complaints logged: $n"
check "complaints are rate-limited (1..3 lines for ~$((FLOOD_S + 2)) s of abuse by one uid)" test "$n" -ge 1 -a "$n" -le 3
summary
