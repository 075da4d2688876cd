#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2016  # ra is set by get_record; jq programs
# meshctl: scripts/meshctl against two real meshd with their admin API on.
# Host A calls hello (curl, through the http upstream) five times, holds one
# connection to hello2 (an echo upstream) open, and calls "down", whose only
# endpoint refuses. Then meshctl's answers must show exactly that: stat
# (connections, success, bytes each way, on both hosts), routes, endpoints,
# conns (the held connection, on both hosts, with its bytes), top, status,
# reload (accepted with the next generation; rejected with the file:line
# error and exit status 1; forbidden to nobody), tail -r refused, check,
# failures (the refused connection, with its record's id); a program named
# with terminal controls shows none in conns, failures or tail.
# Every --json output parses, and no line of a table is wider than 80.
. "$(dirname "$0")/lib.sh"

MESHCTL=$ROOT/scripts/meshctl
APORT_A=$((MESHPORT + 7))
APORT_B=$((MESHPORT + 8))
DEADPORT=$((MESHPORT + 9)) # nothing listens here: "down"'s endpoint

ctl_a() { "$MESHCTL" -a "127.0.0.1:$APORT_A" "$@"; }
ctl_b() { "$MESHCTL" -a "127.0.0.1:$APORT_B" "$@"; }

# confs [write_confs args]: the standard configs plus hello2 and down, with
# the admin API on (write_confs writes `admin = off`).
confs() {
	hello2_args "$PORT2" "$BACKPORT2"
	write_confs "${HELLO2[0]}
[service.down]
ports = $PORT3
endpoints = 127.0.0.1:$DEADPORT
retries = 0" "${HELLO2[1]}" "$@"
	sed -i "s/^admin = off\$/admin = 127.0.0.1:$APORT_A/" "$T/a.ini"
	sed -i "s/^admin = off\$/admin = 127.0.0.1:$APORT_B/" "$T/b.ini"
}

# wide FILE: the lines of FILE longer than 80 columns (none: success).
wide() { awk 'length($0) > 80 { print FILENAME ": " length($0) ": " $0; n++ } END { exit n > 0 }' "$1"; }

# jqe [jq options] EXPR FILE: jq -e, but an empty FILE fails too (jq 1.6
# exits 0 on no input at all).
jqe() { [[ -s ${!#} ]] && jq -e "$@"; }

# table NAME CMD...: run a meshctl command into $T/NAME.out; check it exits
# 0 and that no line is over 80 columns.
table() {
	local name=$1 st=0
	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err" || st=$?
	check_eq "$name: exits 0" 0 "$st"
	[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/$name.err"
	check "$name: no line over 80 columns" wide "$T/$name.out"
}

# json NAME CMD...: run a meshctl --json command into $T/NAME.json; check it
# parses (every line of tail's output is an object of its own).
json() {
	local name=$1 st=0
	shift
	"$@" >"$T/$name.json" 2>"$T/$name.jerr" || st=$?
	check "$name --json parses" jqe -s 'length > 0 and all(.[]; type == "object")' "$T/$name.json"
}

make_certs "$TD" client hello
confs
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream web http 127.0.0.1 "$BACKPORT"
start_upstream echo echo 127.0.0.1 "$BACKPORT2"
check "A's admin API answers" wait_port 127.0.0.1 "$APORT_A" 5
check "B's admin API answers" wait_port 127.0.0.1 "$APORT_B" 5

# ---------------------------------------------------------------- traffic

sent=0
received=0
for i in 1 2 3 4 5; do
	st=0
	w=$(mesh_client "${CURL[@]}" -o /dev/null -w '%{size_request} %{size_header} %{size_download}' \
		"http://hello:$PORT/") || st=$?
	check_eq "curl $i to hello exits 0" 0 "$st"
	read -r s h d <<<"${w:-0 0 0}"
	sent=$((sent + s))
	received=$((received + h + d))
done
note "curl sent $sent bytes to hello, received $received"
check "the five close records are written" wait_records "$T/a.log" '.event == "close" and .service == "hello"' 5

st=0
mesh_client "$PY" -c 'import socket, sys
s = socket.socket()
s.settimeout(10)
try:
    s.connect((socket.gethostbyname("down"), int(sys.argv[1])))
except OSError as e:
    print("refused as expected:", e)
    sys.exit(0)
sys.exit("connected to down")' "$PORT3" >"$T/down.out" 2>&1 || st=$?
check_eq "a connection to down is refused" 0 "$st"
get_record ra "$T/a.log" '.event == "close" and .service == "down"'
check_rec "A: down's record says refused" "$ra" '.result == "refused"'

spawn_client held "$T/held.out" "$PY" "$ROOT/tests/integration/held_client.py" hello2 "$PORT2" "$T/go"
held=$LAST_PID
check "the held connection to hello2 is up (one line echoed)" wait_grep "$T/held.out" '^echo one' 10

# ---------------------------------------------------------------- stat

vip=$(mesh_resolve hello) || vip=
table stat_a ctl_a stat
sed 's/^/#   /' "$T/stat_a.out"
check "stat A: hello, from client, out, 100% success" \
	grep -qE '^hello +client +out +[0-9]+ +[0-9.]+ +100\.0% ' "$T/stat_a.out"
check "stat A: down, from client, 0% success" \
	grep -qE '^down +client +out +[0-9]+ +[0-9.]+ +0\.0% ' "$T/stat_a.out"
json stat_a ctl_a --json stat
row='.stats[] | select(.service == "hello" and .reporter == "source")'
check "stat A --json: hello: 5 opened, 5 closed, all ok, 0 open" \
	jqe "$row | .opened == 5 and .closed == 5 and .ok == 5 and .open == 0 and .success == 1" "$T/stat_a.json"
check "stat A --json: hello: bytes to the service = curl's requests ($sent)" \
	jqe "$row | .to_service == $sent" "$T/stat_a.json"
check "stat A --json: hello: bytes from the service = curl's responses ($received)" \
	jqe "$row | .from_service == $received" "$T/stat_a.json"
check "stat A --json: hello: p50 and p99 connect times are positive, p50 <= p99" \
	jqe "$row | .connect_p50 > 0 and .connect_p99 >= .connect_p50" "$T/stat_a.json"
check "stat A --json: down: 1 closed, none ok" \
	jqe '.stats[] | select(.service == "down") | .closed == 1 and .ok == 0 and .success == 0' "$T/stat_a.json"
check "stat A --json: hello2: the held connection is open" \
	jqe '.stats[] | select(.service == "hello2" and .reporter == "source") | .open == 1' "$T/stat_a.json"

check "B's five close records are written" wait_records "$T/b.log" '.event == "close" and .service == "hello"' 5
table stat_b ctl_b stat
sed "s/^/#   /" "$T/stat_b.out"
check "stat B: hello, from client, in, 100% success" \
	grep -qE '^hello +client +in +[0-9]+ +[0-9.]+ +100\.0% ' "$T/stat_b.out"
json stat_b ctl_b stat --json
check "stat B --json: hello: 5 closed, bytes as curl's ($sent / $received)" \
	jqe ".stats[] | select(.service == \"hello\" and .reporter == \"destination\")
		| .closed == 5 and .to_service == $sent and .from_service == $received" "$T/stat_b.json"

# A window: three more calls to hello during it count, nothing before.
( sleep 1.5; for i in 1 2 3; do mesh_client "${CURL[@]}" -o /dev/null "http://hello:$PORT/"; done ) &
bg=$!
json stat_w ctl_a --json stat -w 5
wait "$bg" || true
check "stat -w 5 --json: hello: the 3 calls in the window, not the 5 before" \
	jqe '.since == "window" and (.stats[] | select(.service == "hello" and .reporter == "source") | .opened == 3 and .closed == 3)' "$T/stat_w.json"

# ---------------------------------------------------------------- routes, endpoints

table routes_a ctl_a routes
sed 's/^/#   /' "$T/routes_a.out"
check "routes A: hello, its VIP $vip, port $PORT, endpoint 127.0.0.2:$MESHPORT, weight 1, tier 0" \
	grep -qE "^hello +$vip +$PORT +[a-z0-9_]+ +127\.0\.0\.2:$MESHPORT +1 +0\$" "$T/routes_a.out"
check "routes A: down and its endpoint" grep -qE "^down .* 127\.0\.0\.1:$DEADPORT " "$T/routes_a.out"
json routes_a ctl_a routes --json
check "routes A --json: three services" jqe '.services | map(.name) | sort == ["down", "hello", "hello2"]' "$T/routes_a.json"
table routes_b ctl_b routes
check "routes B: hello's upstream 127.0.0.1:$BACKPORT" grep -qE "^hello .*upstream 127\.0\.0\.1:$BACKPORT" "$T/routes_b.out"

table endpoints_a ctl_a endpoints
sed 's/^/#   /' "$T/endpoints_a.out"
check "endpoints A: hello's 127.0.0.2:$MESHPORT is healthy" \
	grep -qE "^hello +127\.0\.0\.2:$MESHPORT +0 +1 +healthy " "$T/endpoints_a.out"
json endpoints_a ctl_a --json endpoints
check "endpoints A --json: hello's endpoint: no open connection, none in flight, last ok" \
	jqe ".services[] | select(.service == \"hello\") | .endpoints[0]
		| .connections == 0 and .in_flight == 0 and .last_result == \"ok\"" "$T/endpoints_a.json"
check "endpoints A --json: hello2's endpoint: the held connection open" \
	jqe ".services[] | select(.service == \"hello2\") | .endpoints[0] | .connections == 1" "$T/endpoints_a.json"
table endpoints_down ctl_a endpoints -s down
check "endpoints -s down: only down's endpoint, last result refused" \
	test "$(awk 'NR > 1 { print $1, $2 }' "$T/endpoints_down.out")" = "down 127.0.0.1:$DEADPORT"
check "endpoints -s down: says refused" grep -q 'refused' "$T/endpoints_down.out"

# ---------------------------------------------------------------- conns, top

table conns_a ctl_a conns
sed 's/^/#   /' "$T/conns_a.out"
check "conns A: the held connection: out, relay, hello2:$PORT2, client, python3" \
	grep -qE "^[0-9a-f]{16} +out +relay +[0-9smh]+ +hello2:$PORT2 +client +python3 +4B +4B\$" "$T/conns_a.out"
json conns_a ctl_a conns --json
check "conns A --json: one connection, 4 bytes each way" \
	jqe '.connections | length == 1 and .[0].bytes_sent == 4 and .[0].bytes_received == 4' "$T/conns_a.json"
id=$(jq -r '.connections[0].id' "$T/conns_a.json")
table conns_b ctl_b conns -s hello2
check "conns B: the same connection ($id), inbound, from client via 127.0.0.1" \
	grep -qE "^$id +in +relay .* hello2:$PORT2 +client +127\.0\.0\.1 +4B +4B\$" "$T/conns_b.out"
table conns_none ctl_a conns -s hello
check "conns -s hello: no open connection" grep -qx '(no open connections)' "$T/conns_none.out"

table top_a ctl_a top -n 1 --once
sed 's/^/#   /' "$T/top_a.out"
check "top --once: hello2 from client, 1 open" grep -qE '^hello2 +client +out .* 1$' "$T/top_a.out"
json top_a ctl_a --json top -n 1 --once

touch "$T/go"
check "the held connection ends cleanly" wait_gone "$held" 10
check "held_client saw every echo" grep -qx 'done' "$T/held.out"

# ---------------------------------------------------------------- status, reload

table status_a ctl_a status
sed 's/^/#   /' "$T/status_a.out"
check "status A: host a" grep -qE '^host +a$' "$T/status_a.out"
check "status A: ready" grep -qE '^ready +yes$' "$T/status_a.out"
check "status A: three services" grep -qE '^services +3: ' "$T/status_a.out"
json status_a ctl_a status --json
gen=$(jq -r '.generation' "$T/status_a.json")
check "status --json: the generation is a number ($gen)" grep -qE '^[0-9]+$' <<<"$gen"
check "status via -c INI (the admin key of a.ini) is host a's" \
	sh -c "'$MESHCTL' -c '$T/a.ini' status | grep -qE '^host +a\$'"
sed "s/^admin = .*/admin = off/" "$T/a.ini" >"$T/off.ini"
out=$("$MESHCTL" -c "$T/off.ini" status 2>&1) && st=0 || st=$?
check "status via an INI with admin = off: fails, and says so" \
	test "$st" -eq 1 -a -n "$(grep -F 'admin = off' <<<"$out")"

st=0
ctl_a reload >"$T/reload_ok.out" 2>&1 || st=$?
check_eq "reload (unchanged config): exits 0" 0 "$st"
check_eq "reload: accepted with the next generation" "reload accepted: generation $((gen + 1))" "$(head -n 1 "$T/reload_ok.out")"
json reload_ok ctl_a --json reload
check "reload --json: accepted, the generation after that" \
	jqe ".result == \"accepted\" and .generation == $((gen + 2))" "$T/reload_ok.json"
gen=$((gen + 2))

# As nobody: GET works, POST /reload is forbidden.
st=0
as_nobody "$MESHCTL" -a "127.0.0.1:$APORT_A" reload >"$T/reload_nobody.out" 2>&1 || st=$?
check_eq "reload as nobody: exits 1" 1 "$st"
check "reload as nobody: forbidden" grep -q 'forbidden' "$T/reload_nobody.out"
check "status as nobody works" sh -c "setpriv --reuid=nobody --regid=nogroup --clear-groups '$MESHCTL' -a 127.0.0.1:$APORT_A status | grep -qE '^host +a\$'"

confs a_mesh="no_such_key = 1"
line=$(grep -n '^no_such_key' "$T/a.ini" | cut -d: -f1)
st=0
ctl_a reload >"$T/reload_bad.out" 2>&1 || st=$?
sed 's/^/#   /' "$T/reload_bad.out"
check_eq "reload (broken config): exits 1" 1 "$st"
check "reload: says rejected" grep -q '^reload rejected' "$T/reload_bad.out"
check "reload: prints the error as $T/a.ini:$line: ...no_such_key" grep -qE "^  $T/a\.ini:$line:.*no_such_key" "$T/reload_bad.out"
st=0
ctl_a --json reload >"$T/reload_bad.json" 2>/dev/null || st=$?
check_eq "reload --json (broken config): exits 1" 1 "$st"
check "reload --json: parses, rejected, with the error" \
	jqe ".result == \"rejected\" and (.errors | any(test(\"a\\\\.ini:$line:\")))" "$T/reload_bad.json"
ctl_a status >"$T/status_bad.out" 2>&1 || true
check "status after it: the last reload was rejected, with its error" \
	sh -c "grep -qE '^last reload +rejected' '$T/status_bad.out' && grep -qF 'a.ini:$line:' '$T/status_bad.out'"
check "status after it: the generation in force is unchanged ($gen)" \
	grep -qE "^generation +$gen\$" "$T/status_bad.out"

# ---------------------------------------------------------------- check

st=0
"$MESHCTL" check "$T/a.ini" >"$T/check_bad.out" 2>&1 || st=$?
check "check (broken file): fails" test "$st" -ne 0
check "check (broken file): names $T/a.ini:$line" grep -qF "$T/a.ini:$line:" "$T/check_bad.out"
json check_bad "$MESHCTL" check --json "$T/a.ini"
check "check --json (broken file): ok false" jqe '.ok == false' "$T/check_bad.json"
confs
st=0
"$MESHCTL" check "$T/a.ini" >"$T/check_ok.out" 2>&1 || st=$?
check_eq "check (valid file): exits 0" 0 "$st"

# ---------------------------------------------------------------- tail

table tail_refused ctl_a tail -r refused
sed 's/^/#   /' "$T/tail_refused.out"
check_eq "tail -r refused: one line" 1 "$(wc -l <"$T/tail_refused.out")"
check "tail -r refused: the connection to down, from client, refused" \
	grep -qE "^[0-9:]{8} out down:$PORT3 +client +refused " "$T/tail_refused.out"
json tail_refused ctl_a tail -r refused --json
check "tail -r refused --json: one record, down, refused" \
	jqe -s 'length == 1 and .[0].service == "down" and .[0].result == "refused"' "$T/tail_refused.json"
table tail_hello ctl_a tail -s hello
check_eq "tail -s hello: the 8 calls to hello" 8 "$(wc -l <"$T/tail_hello.out")"
check "B's close record of the held connection is written" wait_record "$T/b.log" '.event == "close" and .service == "hello2"'
table tail_b ctl_b tail -i client -s hello2
check "tail on B -i client -s hello2: the held connection, 8 bytes each way" \
	grep -qE "^[0-9:]{8} in  hello2:$PORT2 +client +ok +8B/8B " "$T/tail_b.out"
table tail_file "$MESHCTL" tail -l "$T/a.log" -n 3
check_eq "tail -l FILE -n 3: three lines" 3 "$(wc -l <"$T/tail_file.out")"

# ---------------------------------------------------------------- failures

table failures ctl_a failures
sed 's/^/#   /' "$T/failures.out"
check "failures: the refused connection to down, with its record's id, from client" \
	grep -qE "^[0-9:]{8} +[0-9]+s +$(jget "$ra" .id) +out +down:$PORT3 +client +refused +" "$T/failures.out"
check_eq "failures: a header and that one" 2 "$(wc -l <"$T/failures.out")"
json failures ctl_a failures --json
check "failures --json: down's refused connection, its record's id, uid 0" \
	jqe --arg id "$(jget "$ra" .id)" '(.failures | length) == 1 and (.failures[0] | .id == $id and .service == "down" and .result == "refused" and .flag == "UF" and .uid == 0)' "$T/failures.json"
table failures_s ctl_a failures -s hello -n 5
check_eq "failures -s hello: none" "(no failed connections)" "$(cat "$T/failures_s.out")"
json failures_s ctl_a failures -s hello --json
check "failures -s hello --json: an empty list" jqe '.failures == []' "$T/failures_s.json"
st=0
ctl_a failures -n 0 >/dev/null 2>"$T/failures_bad.err" || st=$?
check_eq "failures -n 0: exit status 1" 1 "$st"
check "failures -n 0: says what -n takes" grep -q -- '-n takes a number from 1 to 1024' "$T/failures_bad.err"

# ---------------------------------------------------------------- hostile names

# A local program names itself with terminal controls (prctl PR_SET_NAME,
# 15 bytes): ESC ] 2 ; P BEL (set the window title), U+202E (a bidi
# override, a format character), ESC [ 2 J (clear) and U+009B (CSI in
# UTF-8).
# meshd holds the name with its C0 and C1 bytes as '?' (read_comm);
# meshctl's tables show the override as '?' too; no line of conns,
# failures or tail carries a control byte; --json is ASCII and says the
# name as meshd holds it.
cat >"$T/hostile.py" <<'PY'
import ctypes, os, socket, sys, time
name = b"\x1b]2;P\x07\xe2\x80\xae\x1b[2J\xc2\x9b"
if ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0) != 0:
    sys.exit("prctl failed")
print("comm", open("/proc/self/comm", "rb").read(), flush=True)
s = socket.create_connection(("hello2", int(sys.argv[1])), timeout=10)
s.sendall(b"one\n")
print("echo", s.recv(100), flush=True)
# Refused within a fraction of a millisecond: after the first connection,
# the shim's control connection is up and its question is there in time.
try:
    socket.socket().connect((socket.gethostbyname("down"), int(sys.argv[2])))
    sys.exit("connected to down")
except OSError as e:
    print("down refused:", e, flush=True)
deadline = time.time() + 30
while not os.path.exists(sys.argv[3]) and time.time() < deadline:
    time.sleep(0.05)
PY
# bad_bytes FILE: FILE holds a byte a terminal may act on: C0 but newline,
# DEL, C1 in UTF-8, or U+202E.
bad_bytes() { LC_ALL=C grep -qaP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80\xae' "$1"; }
no_bad_bytes() { ! bad_bytes "$1"; }
ascii_only() { [[ -s $1 ]] && ! LC_ALL=C grep -qaP '[\x80-\xff]' "$1"; }
held_name='?]2;P?\u202e?[2J??' # the name as meshd holds it (a jq string)
spawn_client hostile "$T/hostile.out" "$PY" "$T/hostile.py" "$PORT2" "$PORT3" "$T/go_hostile"
hostile=$LAST_PID
check "the hostile client holds its connection to hello2, down refused it" wait_grep "$T/hostile.out" '^down refused' 10
printf '\x1b]2;x\x07\xc2\x9b' >"$T/probe.out"
check "bad_bytes finds raw controls (the checks below can fail)" bad_bytes "$T/probe.out"

table conns_hostile ctl_a conns -s hello2
sed 's/^/#   /' "$T/conns_hostile.out"
check "conns: no control byte, no C1, no bidi override" no_bad_bytes "$T/conns_hostile.out"
check "conns: the caller shows as ?]2;P???[2... (each control a ?)" \
	grep -qF ' ?]2;P???[' "$T/conns_hostile.out"
ctl_a conns -s hello2 --json >"$T/conns_hostile.json"
check "conns --json: ASCII only" ascii_only "$T/conns_hostile.json"
check "conns --json: the program as meshd holds it" \
	jqe ".connections[0].program == \"$held_name\"" "$T/conns_hostile.json"
check "B's conns: the connection of the hostile client is there" \
	sh -c "'$MESHCTL' -a 127.0.0.1:$APORT_B conns -s hello2 | grep -qE ' in +relay '"

table failures_hostile ctl_a failures -s down
sed 's/^/#   /' "$T/failures_hostile.out"
check "failures: no control byte, no C1, no bidi override" no_bad_bytes "$T/failures_hostile.out"
check_eq "failures -s down: the hostile client's refusal too" 3 "$(wc -l <"$T/failures_hostile.out")"
ctl_a failures -s down --json >"$T/failures_hostile.json"
check "failures --json: ASCII only" ascii_only "$T/failures_hostile.json"
# (A refusal this fast is recorded before the shim's question comes: it
# may name no program, so the held connection's record is the one read.)
table tail_hostile ctl_a tail
check "tail: no control byte, no C1, no bidi override" no_bad_bytes "$T/tail_hostile.out"

# Records with controls in every field tail prints (a log meshd did not
# write, or an older one): each shows as '?'; --json is the records as they
# are, in ASCII.
cat >"$T/hostile.log" <<'EOF'
{"event":"close","time":"2025-01-01T00:00:00.000000Z","direction":"outbound","service":"\u001b]2;PWN\u0007\u009bx","port":80,"source":"spiffe://mesh.test/svc/\u202eevil","result":"ok\u001b[2J","detail":"\u009d0;T\u009c \u001b[31m","bytes_sent":1,"bytes_received":2}
{"event":"eject","time":"2025-01-01T00:00:01.000000Z","service":"s\u0085","endpoint":"127.0.0.1:1\u001b[H","failures":3,"result":"refused","ejection_ms":1000}
{"event":"close","time":"2025-01-01T00:00:02.000000Z","direction":"inbound","service":"caf\u00e9","peer":"spiffe://t/svc/\u009b1m","result":"ok","bytes_sent":1,"bytes_received":2}
EOF
table tail_crafted "$MESHCTL" tail -l "$T/hostile.log"
sed 's/^/#   /' "$T/tail_crafted.out"
check "tail of controls: no control byte, no C1, no bidi override" no_bad_bytes "$T/tail_crafted.out"
check "tail: the service as ?]2;PWN??x" grep -qF '?]2;PWN??x' "$T/tail_crafted.out"
check "tail: the detail as ?0;T? ?[31m" grep -qF '?0;T? ?[31m' "$T/tail_crafted.out"
check "tail: the endpoint as 127.0.0.1:1?[H" grep -qF '127.0.0.1:1?[H' "$T/tail_crafted.out"
check "tail: the peer as peer t/svc/?1m" grep -qF 'peer t/svc/?1m' "$T/tail_crafted.out"
check "tail: UTF-8 kept (café)" grep -qF 'café' "$T/tail_crafted.out"
"$MESHCTL" tail -l "$T/hostile.log" --json >"$T/tail_crafted.json"
check "tail --json: the records as they are, one a line, in ASCII" \
	sh -c "jq -c -a . '$T/hostile.log' | cmp -s - '$T/tail_crafted.json'"
touch "$T/go_hostile"
check "the hostile client ends" wait_gone "$hostile" 10
check "A's record of the held connection names the program as meshd holds it" \
	wait_record "$T/a.log" ".event == \"close\" and .service == \"hello2\" and .program == \"$held_name\""
check "A's log holds no raw control byte (C0, DEL, C1)" \
	sh -c "! LC_ALL=C grep -qaP '[\\x00-\\x09\\x0b-\\x1f\\x7f]|\\xc2[\\x80-\\x9f]' '$T/a.log'"

# -f: a record written after it started shows up.
spawn follow "$T/follow.out" "$MESHCTL" -a "127.0.0.1:$APORT_A" tail -f -n 0 -s hello
follow=$LAST_PID
sleep 1
mesh_client "${CURL[@]}" -o /dev/null "http://hello:$PORT/" || true
check "tail -f: the new call to hello shows up" wait_grep "$T/follow.out" "^[0-9:]{8} out hello:$PORT +client +ok " 10
kill_proc "$follow"

summary
