#!/usr/bin/env bash
# snapshot_tamper: the route snapshot damaged IN PLACE while a program has
# it loaded. The shim must never crash the program and never answer an
# address outside the snapshot's VIP range, whatever happens to the file;
# while the file is bad it must answer as libc does, and it must pick the
# good file up again once it is back.
#
# The program: python under libmesh.so, resolving the mesh name `localhost`
# (gethostbyname and getaddrinfo) and connecting to an intercepted address,
# in a loop, logging every change of what it gets. `localhost` is a mesh
# service here on purpose: without the shim, libc answers it from
# /etc/hosts (127.0.0.1, no DNS), so "falls back to libc" is an answer we
# can see, not an error. The snapshot has 200 more services so that it
# spans several pages: a file truncated below a page that a file mapping
# still covers is what made the old shim die with SIGBUS.
#
# Attacks, each followed by a wait for the libc answer, then a restore and
# a wait for the VIP again: truncate -s (inside the service table, at 0),
# `: > file`, dd conv=notrunc at the magic, the service count, the VIP of
# `localhost` (to 110.83.27.141, the address a corrupted byte once
# produced), a name and the last byte; the VIP changed and the checksum
# recomputed (what a deliberate writer would do), the header's range moved
# off loopback and re-sealed; the IPv6 VIP range moved to a routable
# (2001:db8::/64) or site-local (fec0::/64) range with the VIP6 in it, and
# the VIP6 moved out of its range, each re-sealed (the whole file is then
# refused, so the IPv4 answers show it; the loop asks no AF_INET6 question,
# which libc would send to DNS while the file is bad); the whole file
# overwritten in place with
# random bytes of the same size; garbage renamed over it; the file removed.
# Restores alternate between in place (cp over the file, dd of the
# original bytes) and by rename (as meshd publishes).
#
# Bounds: the program stays alive (exit 0 when told to stop; SIGBUS would
# be status 135); every address it ever gets is the VIP or libc's
# 127.0.0.1; each fallback and each recovery shows within 3 s (the shim
# re-checks the file every 100 ms).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

MKSNAP=${MKSNAP:-$ROOT/build/mksnap}
[[ -x $MKSNAP ]] || die "need $MKSNAP (make tools)"
[[ -r $LIBMESH ]] || die "need $LIBMESH (make)"

VIP=127.77.210.2          # the service `localhost`
RANGE=127.77.210.0/24
ICPT=127.0.210.9          # a legacy address nobody listens on
LIBC=127.0.0.1            # what libc says for localhost
VIP6=fd6d:6573:6800::2    # the service's IPv6 VIP
RANGE6=fd6d:6573:6800::/64
SNAP=$T/routes

# A listener on the VIP for the intercepted connects.
cat >"$T/listen.py" <<'PY'
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0))
s.listen(64)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
while True:
    c, _ = s.accept()
    c.sendall(b"vip\n")
    c.close()
PY
spawn listener "$T/listener.log" "$PY" "$T/listen.py" "$VIP" "$T/port"
wait_file "$T/port" 10 || die "listener on $VIP did not start"
PORT=$(cat "$T/port")

svcs=()
for i in $(seq 0 199); do svcs+=("$(printf 'svc%03d=127.77.210.%d:80' "$i" $((i + 3)))"); done
MKSNAP_RANGE=$RANGE MKSNAP_RANGE6=$RANGE6 "$MKSNAP" "$SNAP" mesh "localhost=$VIP:$PORT" \
	"${svcs[@]}" "icpt=$ICPT:$PORT=localhost" "vip6=localhost=$VIP6" || die "mksnap"
cp "$SNAP" "$T/good"
SIZE=$(stat -c %s "$T/good")
note "snapshot: $SIZE bytes ($(((SIZE + 4095) / 4096)) pages)"

# Offsets inside the good file: the service count, the VIP of `localhost`,
# the first byte of its name, its VIP6 (struct snap_svc: 64 bytes, vip6 at
# 48; the header's IPv6 range at 80).
read -r OFF_NSVC OFF_VIP OFF_NAME OFF_VIP6 < <("$PY" - "$T/good" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
nsvc, off_svc = struct.unpack_from("<II", b, 24)
off_str = struct.unpack_from("<I", b, 40)[0]
for i in range(nsvc):
    o = off_svc + 64 * i
    vip, name_off, name_len = struct.unpack_from("<IIH", b, o)
    if b[off_str + name_off:off_str + name_off + name_len] == b"localhost":
        print(24, o, off_str + name_off, o + 48)
PY
)
[[ -n ${OFF_VIP:-} ]] || die "could not find the service localhost in the snapshot"

# The program: resolve and connect in a loop; log each new state.
cat >"$T/prog.py" <<'PY'
import errno, os, socket, sys, time
stop, icpt, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
last, n = None, 0
def ghbn():
    try:
        return socket.gethostbyname("localhost")
    except OSError as e:
        return "error%s" % e.args[0]
def gai():
    try:
        return ",".join(sorted({r[4][0] for r in socket.getaddrinfo(
            "localhost", 80, socket.AF_INET, socket.SOCK_STREAM)}))
    except socket.gaierror as e:
        return "gaierror%s" % e.args[0]
def conn():
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((icpt, port))
        return "lands:" + s.recv(16).decode().strip()
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
while not os.path.exists(stop):
    state = "%s %s %s" % (ghbn(), gai(), conn())
    n += 1
    if state != last:
        print(n, state, flush=True)
        last = state
    time.sleep(0.002)
print("done", n, flush=True)
PY
# A program that dies is reported and replaced, so that every attack is
# still tried (and counted) against a live one.
NPROG=0
DEATHS=0
spawn_prog() {
	NPROG=$((NPROG + 1))
	LOG=$T/prog.$NPROG.log
	spawn program "$LOG" env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$SNAP" \
		"$PY" "$T/prog.py" "$T/stop" "$ICPT" "$PORT"
	PROG=$LAST_PID
}
# died DESC: if the program is gone, say how, count it and start another.
died() {
	_alive "$PROG" && return 1
	local rc=0
	wait "$PROG" 2>/dev/null || rc=$?
	DEATHS=$((DEATHS + 1))
	not_ok "$1: the program died (exit status $rc$( ((rc > 128)) && echo ", signal $((rc - 128))"))"
	spawn_prog
	return 0
}
spawn_prog

GOOD="$VIP $VIP lands:vip"
BAD="$LIBC $LIBC ECONNREFUSED"
# The program's current state (its last line).
state() { tail -n 1 "$LOG" 2>/dev/null | cut -d' ' -f2-; }
# wait_state WANT [TIMEOUT_S]: until the program reports WANT.
wait_state() {
	local want=$1 t=${2:-3} i
	for ((i = 0; i < t * 50; i++)); do
		_alive "$PROG" || return 1
		[[ $(state) == "$want" ]] && return 0
		sleep 0.02
	done
	return 1
}

if wait_state "$GOOD" 10; then
	ok "the program resolves localhost to the VIP and is intercepted ($GOOD)"
else
	die "the program never saw the good snapshot (state: $(state))"
fi
check_eq "the good file answers the VIP6 for AF_INET6" "$VIP6" "$(env "LD_PRELOAD=$LIBMESH" \
	"MESH_SNAPSHOT=$SNAP" "$PY" -c 'import socket
print(socket.getaddrinfo("localhost", 80, socket.AF_INET6, socket.SOCK_STREAM)[0][4][0])')"

# attack DESC CMD...: damage the file, expect the libc answer.
attack() {
	local desc=$1
	shift
	"$@"
	if wait_state "$BAD"; then
		ok "$desc: the program falls back to libc ($BAD)"
	elif ! died "$desc"; then
		not_ok "$desc: no fallback to libc within 3 s (state: $(state))"
	fi
}
# restore DESC CMD...: put the good snapshot back, expect the VIP.
restore() {
	local desc=$1
	shift
	"$@"
	if wait_state "$GOOD"; then
		ok "$desc: the good snapshot is picked up again"
	elif ! died "$desc"; then
		not_ok "$desc: good snapshot not picked up within 3 s (state: $(state))"
	else
		wait_state "$GOOD" 10 || true
	fi
}
in_place() { cat "$T/good" >"$SNAP"; }             # same inode
by_rename() { cp "$T/good" "$SNAP.new" && mv -f "$SNAP.new" "$SNAP"; }
poke() { # OFFSET BYTES(printf escapes): overwrite in place
	printf "$2" | dd of="$SNAP" bs=1 seek="$1" conv=notrunc status=none
}
restore_bytes() { # OFFSET COUNT: the good file's bytes back, in place
	dd if="$T/good" of="$SNAP" bs=1 skip="$1" seek="$1" count="$2" conv=notrunc status=none
}
# sealed EDIT...: change fields (OFFSET:HEX ...) and recompute the checksum,
# in place, as a deliberate writer would.
sealed() {
	"$PY" - "$SNAP" "$@" <<'PY'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for e in sys.argv[2:]:
    off, hexb = e.split(":")
    b[int(off):int(off) + len(hexb) // 2] = bytes.fromhex(hexb)
b[72:76] = b"\0\0\0\0"
x = 2166136261
for c in b:
    x = ((x ^ c) * 16777619) & 0xffffffff
b[72:76] = struct.pack("<I", x)
with open(p, "r+b") as f:
    f.write(b)
PY
}

attack "truncate -s 4096 (inside the service table)" truncate -s 4096 "$SNAP"
restore "restored in place" in_place
attack "truncate -s 0" truncate -s 0 "$SNAP"
restore "restored by rename" by_rename
attack ": > file" eval ': >"$SNAP"'
restore "restored in place" in_place
attack "truncate -s 100 (just past the header)" truncate -s 100 "$SNAP"
restore "restored in place" in_place
attack "dd over the magic" poke 0 'XX'
restore "the two bytes put back in place" restore_bytes 0 2
attack "dd over the service count" poke "$OFF_NSVC" '\377\377'
restore "restored by rename" by_rename
attack "dd of 110.83.27.141 over the VIP" poke "$OFF_VIP" '\156\123\033\215'
restore "the VIP's bytes put back in place" restore_bytes "$OFF_VIP" 4
attack "dd over the name" poke "$OFF_NAME" 'L'
restore "restored in place" in_place
attack "dd over the last byte" poke $((SIZE - 1)) 'x'
restore "restored by rename" by_rename
attack "VIP 110.83.27.141 and the checksum recomputed" sealed "$OFF_VIP:6e531b8d"
restore "restored in place" in_place
attack "VIP range 110.0.0.0/8, VIP in it, re-sealed" \
	sealed 64:6e000000 68:08000000 "$OFF_VIP:6e531b8d"
restore "restored by rename" by_rename
attack "IPv6 VIP range 2001:db8::/64 (routable), VIP6 in it, re-sealed" \
	sealed 80:20010db8000000000000000000000000 "$OFF_VIP6:20010db8000000000000000000000002"
restore "restored in place" in_place
attack "IPv6 VIP range fec0::/64 (site-local), VIP6 in it, re-sealed" \
	sealed 80:fec00000000000000000000000000000 "$OFF_VIP6:fec00000000000000000000000000002"
restore "restored by rename" by_rename
attack "VIP6 moved out of its range, re-sealed" sealed "$OFF_VIP6:fd6d6573680100000000000000000002"
restore "restored in place" in_place
attack "random bytes of the same size, in place" \
	dd if=/dev/urandom of="$SNAP" bs="$SIZE" count=1 conv=notrunc status=none
restore "restored in place" in_place
attack "garbage renamed over it" eval 'head -c 20000 /dev/urandom >"$SNAP.new" && mv -f "$SNAP.new" "$SNAP"'
restore "restored by rename" by_rename
attack "the file removed" rm -f "$SNAP"
restore "restored by rename" by_rename

# A burst: truncations and restores faster than the shim looks (every
# 100 ms), so that some land in the middle of a read.
for i in $(seq 1 40); do
	truncate -s $((i * 97 % SIZE)) "$SNAP"
	sleep 0.01
	in_place
	sleep 0.0$((i % 7))
done
restore "after 40 truncate/restore cycles in place faster than the check" true

touch "$T/stop"
rc=0
if wait_gone "$PROG" 10; then
	wait "$PROG" 2>/dev/null || rc=$?
else
	rc=timeout
fi
check_eq "the program exits normally when told to (no SIGBUS: 135)" 0 "$rc"
check_eq "no program died during the attacks" 0 "$DEATHS"
runs=$(awk '$1 == "done" { print $2 }' "$LOG")
note "the program made ${runs:-?} rounds of lookups and $(($(wc -l <"$LOG") - 1)) state changes"
[[ ${runs:-0} -gt 100 ]] && ok "it kept resolving throughout (${runs} rounds)" ||
	not_ok "too few rounds of lookups: ${runs:-none}"

# Every answer any of the programs ever got: the VIP, or libc's.
strays=$(cat "$T"/prog.*.log | grep -v '^done' |
	awk '{ print $2; n = split($3, a, ","); for (i = 1; i <= n; i++) print a[i] }' |
	grep -vxF -e "$VIP" -e "$LIBC" | sort -u | head -n 5 | tr '\n' ' ' || true)
check_eq "no answer outside the VIP range and libc's ($VIP, $LIBC)" "" "$strays"
lands=$(cat "$T"/prog.*.log | grep -v '^done' | awk '{ print $4 }' |
	grep -vxF -e lands:vip -e ECONNREFUSED | sort -u | head -n 5 | tr '\n' ' ' || true)
check_eq "connects to the intercepted address land on the VIP or are refused as without the shim" "" "$lands"
if [[ $FAIL -gt 0 ]]; then
	for f in "$T"/prog.*.log; do
		note "--- $(basename "$f")"
		tail -n 20 "$f" | sed 's/^/#   /'
	done
fi

summary
