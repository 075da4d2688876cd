#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317  # jq and bash -c programs are single-quoted; helpers run via check
# link_streams: all connections from host A's programs to services served by
# one identity on B share one mutual-TLS link, multiplexed as streams with
# per-stream flow control (daemon/link.h).
#  1. Twelve connections held open at once ride one TCP connection from meshd
#     A to meshd B's mesh port, while the upstream has twelve of its own.
#  2. A client that never reads while its upstream floods it stalls only its
#     own stream: another stream on the same link moves 16 MiB each way
#     meanwhile, and neither daemon buffers the flood (RSS stays bounded).
#     Once the slow client reads, its stream delivers every byte.
#  3. A client killed (-9) mid-transfer resets only its stream: a concurrent
#     transfer on the same link completes intact; A records reset and ok.
. "$(dirname "$0")/lib.sh"

MiB=$((1 << 20))
FLOOD=$((128 * MiB))  # what the flood upstream offers the reader that never reads
FAST=$((16 * MiB))    # each way, through the echo upstream, beside it
PUMP=$((32 * MiB))    # each way, the survivor of part 3
HOLD=12               # idle connections of part 1
# RSS bound (part 2). With per-stream flow control each daemon holds, per
# stream, at most STREAM_WINDOW (1 MiB) of input waiting for a slow writer,
# plus the link's output queue (LINK_OUT_HIGH, 256 KiB) and OpenSSL's record
# buffers: a few MiB for the two streams here. The rest of the stuck flood
# waits in kernel socket buffers and, above all, in the upstream (sendall
# blocks). A daemon that kept reading its side of the stuck stream would take
# up to the whole 128 MiB: 32 MiB above the start separates the two with room
# for allocator slack (and for ASan, whose quarantine is made small below).
RSS_SLACK_KB=$((32 * 1024))
# Under ASan, freed memory waits in a quarantine (256 MiB by default) before
# it is reused, and that memory is resident: the relay's churn of TLS records
# alone grows an ASan meshd by ~40 MiB here with nothing buffered. A small
# quarantine keeps the RSS check meaningful (and still catches a use of
# recently freed memory); a plain meshd ignores ASAN_OPTIONS.
case ${ASAN_OPTIONS:-} in
*quarantine_size_mb=*) ;;
*) export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=8" ;;
esac

# hello2: a second service served by the same identity (hello) through the
# same endpoint, so its streams take the same link as hello's; its upstream
# is the flood server below.
hello2_args "$PORT2" "$BACKPORT2"
standard_setup "${HELLO2[@]}"
start_upstream up echo 127.0.0.1 "$BACKPORT"

# flood.py HOST PORT TOTAL: after a line from the client, send TOTAL bytes;
# "sent N" every 256 KiB, "done N SHA256" at the end. A connection that
# closes before its line (wait_port's probe) gets nothing.
cat >"$T/flood.py" <<'PY'
import hashlib, os, socket, sys, threading
host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = os.urandom(1 << 20)
def out(msg):
    sys.stdout.write(msg + "\n"); sys.stdout.flush()
def serve(c):
    line = b""
    while not line.endswith(b"\n"):
        b = c.recv(100)
        if not b:
            c.close(); return
        line += b
    h, sent = hashlib.sha256(), 0
    while sent < total:
        piece = chunk[sent % len(chunk):][:min(65536, total - sent)]
        c.sendall(piece)
        h.update(piece)
        sent += len(piece)
        if sent % (256 * 1024) == 0:
            out("sent %d" % sent)
    out("done %d %s" % (sent, h.hexdigest()))
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
spawn flood "$T/flood.log" "$PY" -u "$T/flood.py" 127.0.0.1 "$BACKPORT2" "$FLOOD"
wait_port 127.0.0.1 "$BACKPORT2" 10 || die "flood server did not start"

# mux.py MODE ...: the programs on host A (run under the shim). Each prints
# "addr IP:PORT" (its end of the connection: the record's "client") first.
#   hold ID DIR     send a line, read its echo, "ready"; when DIR/release
#                   exists: half-close, read to EOF, "done"
#   slow GATE       connect to hello2, send a line, never read until GATE
#                   exists; then read to EOF and print "got N SHA256"
#   pump FILE GATE  send FILE through the echo upstream while hashing the
#                   echo; "half" after half of it was sent and echoed back,
#                   then trickle until GATE exists; print "got N SHA256"
#   endless         "pid PID"; send and read forever; "flowing" after 4 MiB
#                   echoed
cat >"$T/mux.py" <<'PY'
import hashlib, os, socket, sys, threading, time
mode = sys.argv[1]
def out(msg):
    sys.stdout.write(msg + "\n"); sys.stdout.flush()
def dial(name, port):
    c = socket.create_connection((name, int(port)), timeout=60)
    out("addr %s:%d" % c.getsockname()[:2])
    return c
def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.02)
def drain(c, h=None):
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            return n
        n += len(b)
        if h:
            h.update(b)
if mode == "hold":
    ident, d, port = sys.argv[2], sys.argv[3], sys.argv[4]
    c = dial("hello", port)
    line = ("hold %s\n" % ident).encode()
    c.sendall(line)
    got = b""
    while len(got) < len(line):
        b = c.recv(100)
        if not b:
            sys.exit("eof before the echo")
        got += b
    if got != line:
        sys.exit("bad echo %r" % got)
    out("ready")
    wait_for(os.path.join(d, "release"))
    c.shutdown(socket.SHUT_WR)
    drain(c)
    c.close()
    out("done")
elif mode == "slow":
    gate, port = sys.argv[2], sys.argv[3]
    c = dial("hello2", port)
    c.sendall(b"go\n")
    out("waiting")
    wait_for(gate)
    h = hashlib.sha256()
    n = drain(c, h)
    out("got %d %s" % (n, h.hexdigest()))
elif mode == "pump":
    path, gate, port = sys.argv[2], sys.argv[3], sys.argv[4]
    data = open(path, "rb").read()
    half = len(data) // 2
    c = dial("hello", port)
    h, rx = hashlib.sha256(), [0]
    def reader():
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            h.update(b)
            rx[0] += len(b)
    t = threading.Thread(target=reader); t.start()
    c.sendall(data[:half])
    while rx[0] < half:
        time.sleep(0.01)
    out("half")
    off = half
    while off < len(data) and not os.path.exists(gate):
        c.sendall(data[off:off + 65536]); off += 65536
        time.sleep(0.02)
    c.sendall(data[off:])
    c.shutdown(socket.SHUT_WR)
    t.join()
    out("got %d %s" % (rx[0], h.hexdigest()))
elif mode == "endless":
    port = sys.argv[2]
    out("pid %d" % os.getpid())
    c = dial("hello", port)
    block = os.urandom(65536)
    def writer():
        while True:
            c.sendall(block)
    threading.Thread(target=writer, daemon=True).start()
    n, said = 0, False
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += len(b)
        if n >= 4 << 20 and not said:
            out("flowing"); said = True
PY

# links: established TCP connections from A to B's mesh port (one per link).
links() {
	ss -Htn state established "( dst 127.0.0.2 and dport = :$MESHPORT )" | wc -l
}
# rss_kb NAME: meshd NAME's resident set, in KiB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$(meshd_pid "$1")/status"
}
# all_grep N REGEX FILE...: every FILE has a line matching REGEX (wait
# up to N seconds).
all_grep() {
	local t=$1 re=$2 f
	shift 2
	for f in "$@"; do wait_grep "$f" "$re" "$t" || return 1; done
}
addr_of() { sed -n 's/^addr //p' "$1" | head -n 1; }

# ---------------------------------------------------------------- 1. many connections, one link
mark_a=$(since "$T/a.log")
mark_b=$(since "$T/b.log")
mkdir -p "$T/hold"
outs=()
for i in $(seq 1 "$HOLD"); do
	spawn_client "hold$i" "$T/hold/$i.out" "$PY" -u "$T/mux.py" hold "$i" "$T/hold" "$PORT"
	outs+=("$T/hold/$i.out")
done
check "1: $HOLD programs connected and got their echo" all_grep 20 '^ready$' "${outs[@]}"
check_eq "1: the upstream accepted $HOLD connections" "$HOLD" "$(upstream_accepts up)"
check_eq "1: A has exactly one TCP connection to B's mesh port (one link)" 1 "$(links)"
touch "$T/hold/release"
check "1: all $HOLD programs closed cleanly" all_grep 10 '^done$' "${outs[@]}"
ra=$(new_records "$T/a.log" "$mark_a" '.event == "close" and .service == "hello"' "$HOLD") || ra=
rb=$(new_records "$T/b.log" "$mark_b" '.event == "close" and .service == "hello"' "$HOLD") || rb=
check "1: A: $HOLD records, all ok" jq -e -s "length == $HOLD and all(.[]; .result == \"ok\")" <<<"$ra"
check "1: B: $HOLD records, all ok" jq -e -s "length == $HOLD and all(.[]; .result == \"ok\")" <<<"$rb"
check "1: B has the same ids as A" jq -e -s --slurpfile a <(printf '%s\n' "$ra") \
	'(map(.id) | sort) == ($a | map(.id) | sort) and length > 0' <<<"$rb"
[[ $FAIL -eq 0 ]] || { note "--- A records"; printf '# %s\n' "$ra"; note "--- B records"; printf '# %s\n' "$rb"; }

# ---------------------------------------------------------------- 2. a slow reader
mark_a=$(since "$T/a.log")
mark_b=$(since "$T/b.log")
rss_a0=$(rss_kb a)
rss_b0=$(rss_kb b)
spawn_client slow "$T/slow.out" "$PY" -u "$T/mux.py" slow "$T/slow.go" "$PORT2"
slow_pid=$LAST_PID
# Stuck: the flood upstream's count stops growing (for 1 s).
stuck=0 last=-1 same=0
for ((i = 0; i < 150; i++)); do
	cur=$(sed -n 's/^sent //p' "$T/flood.log" | tail -n 1)
	cur=${cur:-0}
	if [[ $cur -gt 0 && $cur == "$last" ]]; then
		same=$((same + 1))
		if [[ $same -ge 10 ]]; then stuck=$cur; break; fi
	else
		same=0
	fi
	last=$cur
	sleep 0.1
done
note "the flood upstream blocked after $stuck bytes"
check "2: the slow stream got past its first window (> 1 MiB sent) and then blocked short of $FLOOD bytes" \
	test "$stuck" -gt "$MiB" -a "$stuck" -lt "$FLOOD"

head -c "$FAST" /dev/urandom >"$T/fast.data"
want=$(sha256sum "$T/fast.data" | cut -d' ' -f1)
spawn_client fast "$T/fast.out" bash -c \
	'timeout 30 nc -N -w 20 hello "$1" <"$2" | sha256sum; echo "status ${PIPESTATUS[0]}"' fast "$PORT" "$T/fast.data"
fast_pid=$LAST_PID
# While it runs (and the slow stream stays stuck): the daemons' RSS, and
# how many links there are.
rss_a=$rss_a0 rss_b=$rss_b0 max_links=0 t0=$SECONDS
while _alive "$fast_pid" && ((SECONDS - t0 < 40)); do
	r=$(rss_kb a) && ((r > rss_a)) && rss_a=$r
	r=$(rss_kb b) && ((r > rss_b)) && rss_b=$r
	n=$(links) && ((n > max_links)) && max_links=$n
	sleep 0.1
done
wait_gone "$fast_pid" 5 || true
fast_s=$((SECONDS - t0))
got=$(sed -n 's/^\([0-9a-f]\{64\}\) .*/\1/p' "$T/fast.out")
check_eq "2: the second stream finished (exit status of nc, 124 = timed out after 30 s)" "status 0" "$(grep '^status' "$T/fast.out" || echo "(none)")"
note "the second stream took about $fast_s s"
check_eq "2: the second stream's 16 MiB came back intact (sha256), beside the stuck one" "$want" "$got"
check_eq "2: both streams shared one link throughout" 1 "$max_links"
now=$(sed -n 's/^sent //p' "$T/flood.log" | tail -n 1)
check "2: the slow stream stayed stuck meanwhile (the flood upstream still blocked)" \
	test "${now:-0}" -lt "$FLOOD"
r=$(rss_kb a) && ((r > rss_a)) && rss_a=$r
r=$(rss_kb b) && ((r > rss_b)) && rss_b=$r
note "RSS A: $rss_a0 -> max $rss_a KiB; B: $rss_b0 -> max $rss_b KiB"
check "2: meshd A's RSS stayed below start + 32 MiB ($rss_a0 -> max $rss_a KiB)" \
	test "$rss_a" -lt "$((rss_a0 + RSS_SLACK_KB))"
check "2: meshd B's RSS stayed below start + 32 MiB ($rss_b0 -> max $rss_b KiB)" \
	test "$rss_b" -lt "$((rss_b0 + RSS_SLACK_KB))"

# Now the slow client reads: every byte the upstream sent arrives.
touch "$T/slow.go"
wait_gone "$slow_pid" 30 || true
flood_done=$(sed -n 's/^done //p' "$T/flood.log")
slow_got=$(sed -n 's/^got //p' "$T/slow.out")
check_eq "2: once read, the slow stream delivers all $FLOOD bytes intact" "${flood_done:-(upstream not done)}" "${slow_got:-(client got nothing)}"
ra=$(new_records "$T/a.log" "$mark_a" '.event == "close"' 2) || ra=
rb=$(new_records "$T/b.log" "$mark_b" '.event == "close"' 2) || rb=
check "2: A: both streams recorded ok" jq -e -s 'length == 2 and all(.[]; .result == "ok")' <<<"$ra"
check "2: B: both streams recorded ok, same ids" jq -e -s --slurpfile a <(printf '%s\n' "$ra") \
	'length == 2 and all(.[]; .result == "ok") and (map(.id) | sort) == ($a | map(.id) | sort)' <<<"$rb"

# ---------------------------------------------------------------- 3. a reset stream
mark_a=$(since "$T/a.log")
mark_b=$(since "$T/b.log")
head -c "$PUMP" /dev/urandom >"$T/pump.data"
want="$PUMP $(sha256sum "$T/pump.data" | cut -d' ' -f1)"
spawn_client survivor "$T/survivor.out" "$PY" -u "$T/mux.py" pump "$T/pump.data" "$T/pump.go" "$PORT"
surv_pid=$LAST_PID
wait_grep "$T/survivor.out" '^half$' 20 || note "survivor: no half ($(tail -n 3 "$T/survivor.out"))"
# Under a shell, so that only the client dies of the SIGKILL (bash would
# report a spawned process that dies of a signal as "Killed").
spawn_client victim "$T/victim.out" bash -c '"$@"; echo "exit $?"' victim \
	"$PY" -u "$T/mux.py" endless "$PORT"
check "3: the victim's transfer is flowing" wait_grep "$T/victim.out" '^flowing$' 20
check_eq "3: both transfers on one link" 1 "$(links)"
check "3: the survivor is mid-transfer when the victim is killed" _alive "$surv_pid"
victim_py=$(sed -n 's/^pid //p' "$T/victim.out")
[[ -z $victim_py ]] || kill -KILL "$victim_py" || true
check_eq "3: the victim died of SIGKILL" "exit 137" "$(wait_grep "$T/victim.out" '^exit ' 5; grep '^exit ' "$T/victim.out")"
victim_addr=$(addr_of "$T/victim.out")
surv_addr=$(addr_of "$T/survivor.out")
rv=$(new_records "$T/a.log" "$mark_a" ".event == \"close\" and .client == \"$victim_addr\"" 1) || rv='{}'
check_rec "3: A records the killed client's stream as reset" "$rv" '.result == "reset"'
touch "$T/pump.go"
wait_gone "$surv_pid" 30 || true
check_eq "3: the survivor's 32 MiB came back intact (sha256)" "$want" "$(sed -n 's/^got //p' "$T/survivor.out")"
rs=$(new_records "$T/a.log" "$mark_a" ".event == \"close\" and .client == \"$surv_addr\"" 1) || rs='{}'
check_rec "3: A records the survivor ok" "$rs" '.result == "ok"'
rsb=$(new_records "$T/b.log" "$mark_b" ".event == \"close\" and .id == $(jq '.id' <<<"$rs")" 1) || rsb='{}'
check_rec "3: B records the survivor ok under the same id" "$rsb" '.result == "ok"'
rvb=$(new_records "$T/b.log" "$mark_b" ".event == \"close\" and .id == $(jq '.id' <<<"$rv")" 1) || rvb='{}'
check_rec "3: B records the killed one as not ok" "$rvb" '.result != "ok"'
check_eq "3: still one link" 1 "$(links)"

summary
