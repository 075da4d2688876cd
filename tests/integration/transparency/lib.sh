# shellcheck shell=bash disable=SC2034
# transparency/lib.sh: sourced by the transparency scenarios (issue 3: a
# matrix of unmodified programs reaching a mesh service through two meshd,
# with nothing changed but LD_PRELOAD, set by scripts/mesh-run).
#
# On top of ../lib.sh (two meshd on loopback, $T, ports, records, checks):
#
#   need CMD...              fail the scenario (not skip) when a program is
#                            missing: scripts/deps.sh installs them all
#   mesh_run CMD...          CMD through scripts/mesh-run with host A's routes
#   start_web NAME PORT DIR  a small HTTP/1.1 server on 127.0.0.1:PORT serving
#                            DIR (keep-alive for HTTP/1.1, close for 1.0) that
#                            logs, per connection, the exact bytes it read
#                            and wrote: $T/NAME.conns, "close in=N out=M"
#   setup_hello [write_confs args...]
#                            standard_setup + start_web web on BACKPORT
#                            serving $T/www with index.html = $TOKEN
#   check_conns DESC N [WEB] the next N connections to hello: N close records
#                            on host A, one with the same id on host B, with
#                            service, port, identities, result ok, bytes > 0
#                            and equal on both hosts; with WEB, the bytes also
#                            equal what that server read and wrote on its N
#                            new connections. Leaves the pairs in $PAIRS
#                            (JSON array of {a: record, b: record}).
#                            CONN_RESULTS: the results allowed ("ok");
#                            CONN_EMPTY: how many connections are connect-only
#                            probes with no bytes at all (0);
#                            CONN_PROGRAM, CONN_PID: where host A's records
#                            name the caller's program/pid, they must be
#                            these (a record naming none is only noted).
#   client_conns STATUS DESC N [WEB]
#                            check_conns if the client's exit STATUS is 0,
#                            else one failure (no 15 s wait for records)
#   check_pair_bytes DESC SENT RECEIVED
#                            the connections just checked sent and received
#                            exactly this many bytes (SENT/RECEIVED: one
#                            number, or a list, one per connection, any order)
#   timed CMD...             run CMD; ELAPSED_MS and RC (its exit status)
#   build_tool NAME          cc tests/tools/NAME.c into $T/NAME
#   contains DESC NEEDLE HAYSTACK, lacks DESC NEEDLE HAYSTACK

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SRC_ID="spiffe://$TD/svc/client"
DST_ID="spiffe://$TD/svc/hello"

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			die "$c is not installed: scripts/deps.sh installs it (this scenario needs it; not skipped)"
	done
}
need jq

mesh_run() {
	env "LIBMESH_SO=$LIBMESH" "MESH_SNAPSHOT=${CLIENT_SNAPSHOT:-$T/a.routes}" "$MESH_RUN" "$@"
}

# contains DESC NEEDLE HAYSTACK: fixed-string match.
contains() {
	if [[ $3 == *"$2"* ]]; then
		ok "$1"
	else
		not_ok "$1"
		note "  wanted: $2"
		note "  in:     $(head -c 2000 <<<"$3" | sed '2,$s/^/#           /')"
	fi
}

# lacks DESC NEEDLE HAYSTACK
lacks() {
	if [[ $3 != *"$2"* ]]; then
		ok "$1"
	else
		not_ok "$1"
		note "  unwanted: $2"
		note "  in:       $(head -c 2000 <<<"$3" | sed '2,$s/^/#             /')"
	fi
}

# timed CMD...: run CMD; sets ELAPSED_MS and RC (its exit status).
timed() {
	local t0 t1
	t0=$(date +%s%N)
	RC=0
	"$@" || RC=$?
	t1=$(date +%s%N)
	ELAPSED_MS=$(((t1 - t0) / 1000000))
}

build_tool() {
	local name=$1 out
	need cc
	out=$(cc -O2 -Wall -pthread -o "$T/$name" "$ROOT/tests/tools/$name.c" 2>&1) ||
		die "cc tests/tools/$name.c failed: $out"
}

# ---------------------------------------------------------------- web server

cat >"$T/web.py" <<'PYEOF'
# web.py HOST PORT DIR CONNLOG READYFILE: static files over HTTP/1.1 with
# keep-alive (HTTP/1.0 or "Connection: close": one response, then close),
# GET and HEAD, query strings ignored. Per connection, CONNLOG gets
#   request METHOD TARGET STATUS     for each request
#   close in=N out=M                 when the client has closed, N and M the
#                                    exact bytes read and written
import os, socket, sys, threading, urllib.parse

host, port, root, connlog, ready = sys.argv[1], int(sys.argv[2]), \
    os.path.realpath(sys.argv[3]), sys.argv[4], sys.argv[5]
lock = threading.Lock()

def log(line):
    with lock, open(connlog, "a") as f:
        f.write(line + "\n")

def serve(c):
    nin = nout = 0
    buf = b""
    c.settimeout(30)
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                nin += len(d)
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                out = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                c.sendall(out)
                nout += len(out)
                log("request %r 400" % lines[0])
                break
            method, target, version = parts
            hdrs = {}
            for l in lines[1:]:
                if ":" in l:
                    k, v = l.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
            need = int(hdrs.get("content-length", "0") or 0)
            while len(buf) < need:
                d = c.recv(65536)
                if not d:
                    return
                nin += len(d)
                buf += d
            buf = buf[need:]
            path = urllib.parse.unquote(urllib.parse.urlsplit(target).path)
            fs = os.path.realpath(os.path.join(root, path.lstrip("/")))
            if os.path.isdir(fs):
                fs = os.path.join(fs, "index.html")
            if (fs == root or fs.startswith(root + "/")) and os.path.isfile(fs):
                status = "200 OK"
                with open(fs, "rb") as f:
                    body = f.read()
            else:
                status = "404 Not Found"
                body = b"not found\n"
            keep = version == "HTTP/1.1" and hdrs.get("connection", "").lower() != "close"
            h = ("HTTP/1.1 %s\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Length: %d\r\n%s\r\n" % (status, len(body), "" if keep else "Connection: close\r\n"))
            out = h.encode() + (b"" if method == "HEAD" else body)
            c.sendall(out)
            nout += len(out)
            log("request %s %s %s" % (method, target, status.split()[0]))
            if not keep:
                break
        # Closing side: say so, then count whatever the client still sends.
        c.shutdown(socket.SHUT_WR)
        while True:
            d = c.recv(65536)
            if not d:
                break
            nin += len(d)
    except OSError as e:
        log("error %s" % e)
    finally:
        log("close in=%d out=%d" % (nin, nout))
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(256)
open(ready, "w").close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PYEOF

declare -A _WEB_SEEN=()

# start_web NAME PORT DIR
start_web() {
	local name=$1 port=$2 dir=$3
	: >"$T/$name.conns"
	rm -f "$T/$name.ready"
	spawn "$name" "$T/$name.log" "$PY" "$T/web.py" 127.0.0.1 "$port" "$dir" "$T/$name.conns" "$T/$name.ready"
	wait_file "$T/$name.ready" 10 ||
		die "web server $name did not listen on 127.0.0.1:$port ($(tail -n 5 "$T/$name.log" 2>/dev/null))"
	_WEB_SEEN[$name]=0
}

# web_closes NAME: the "close in=N out=M" lines so far, as "N M".
web_closes() {
	sed -n 's/^close in=\([0-9]*\) out=\([0-9]*\)$/\1 \2/p' "$T/$1.conns" 2>/dev/null || true
}

# setup_hello [write_confs args...]
setup_hello() {
	standard_setup "$@"
	mkdir -p "$T/www"
	TOKEN="hello from the upstream $RANDOM$RANDOM$RANDOM"
	printf '%s\n' "$TOKEN" >"$T/www/index.html"
	start_web web "$BACKPORT" "$T/www"
	VIP=$(mesh_resolve hello) || die "hello does not resolve under the shim"
}

# ---------------------------------------------------------------- records

A_SEEN=0       # close records for hello on host A already checked
PAIRS='[]'

# check_conns DESC N [WEB] (see the top of this file). SVC and SVC_PORT
# override the service name and port (hello, $PORT).
check_conns() {
	local desc=$1 n=$2 web=${3:-} svc=${SVC:-hello} port=${SVC_PORT:-$PORT}
	local filt all new got ids rbs='' i want have
	filt=".event == \"close\" and .service == \"$svc\""
	if ! all=$(wait_records "$T/a.log" "$filt" $((A_SEEN + n)) 15); then
		got=$(($(count_records "$T/a.log" "$filt") - A_SEEN))
		not_ok "$desc: $n close record(s) for $svc on host A (got $got within 15 s)"
		_dump_log "$T/a.log"
		A_SEEN=$((A_SEEN + got))
		PAIRS='[]'
		return 0
	fi
	new=$(sed -n "$((A_SEEN + 1)),$((A_SEEN + n))p" <<<"$all")
	A_SEEN=$((A_SEEN + n))
	# No more connections than expected (they have all closed by now).
	sleep 0.3
	got=$(($(count_records "$T/a.log" "$filt") - A_SEEN))
	if [[ $got -eq 0 ]]; then
		ok "$desc: exactly $n connection(s) on host A"
	else
		not_ok "$desc: exactly $n connection(s) on host A ($got more)"
		A_SEEN=$((A_SEEN + got))
	fi
	ids=$(jq -cs 'map(.id)' <<<"$new")
	for ((i = 0; i < 100; i++)); do
		rbs=$(jq -cR --argjson ids "$ids" \
			'fromjson? | select(type == "object" and .event == "close" and (.id as $i | $ids | index($i)))' \
			"$T/b.log" 2>/dev/null) || rbs=
		[[ $(grep -c . <<<"$rbs" || true) -lt $n ]] || break
		sleep 0.1
	done
	i=$((n - $(grep -c . <<<"$rbs" || true)))
	if [[ $i -eq 0 ]]; then
		ok "$desc: host B has a close record with the same id for each"
	else
		not_ok "$desc: host B has a close record with the same id for each ($i missing)"
		_dump_log "$T/b.log"
	fi
	PAIRS=$(jq -cs --slurpfile b <(printf '%s' "$rbs") \
		'[.[] as $a | {a: $a, b: ([$b[] | select(.id == $a.id)] | first)}]' <<<"$new")
	note "$desc: bytes sent/received per connection: $(jq -r '[.[] | "\(.a.bytes_sent)/\(.a.bytes_received)"] | .[:4] | join(" ")' <<<"$PAIRS")$([[ $n -le 4 ]] || echo ' ...')"

	local results=${CONN_RESULTS:-ok} empty=${CONN_EMPTY:-0} rin rs
	read -ra rs <<<"$results"
	rin=$(printf '"%s",' "${rs[@]}")
	rin="IN(${rin%,})"
	_pairs_all "$desc: A: outbound $svc port $port, result ${results// / or }" \
		".a.direction == \"outbound\" and .a.service == \"$svc\" and .a.port == $port and (.a.result | $rin)"
	_pairs_all "$desc: A: source $SRC_ID (uid 0), peer $DST_ID" \
		".a.source == \"$SRC_ID\" and .a.uid == 0 and .a.peer == \"$DST_ID\""
	_pairs_all "$desc: B: inbound $svc, source and peer $SRC_ID, result ${results// / or }" \
		".b != null and .b.direction == \"inbound\" and .b.service == \"$svc\" and .b.source == \"$SRC_ID\" and .b.peer == \"$SRC_ID\" and (.b.result | $rin)"
	if [[ $empty -eq 0 ]]; then
		_pairs_all "$desc: bytes > 0 both ways" \
			'.a.bytes_sent > 0 and .a.bytes_received > 0'
	else
		_pairs_all "$desc: bytes > 0 both ways, except $empty connect-only probe(s)" \
			"(.a.bytes_sent > 0 and .a.bytes_received > 0) or (.a.bytes_sent == 0 and .a.bytes_received == 0)"
		check_eq "$desc: $empty connect-only probe(s) with no bytes" "$empty" \
			"$(jq '[.[] | select(.a.bytes_sent == 0 and .a.bytes_received == 0)] | length' <<<"$PAIRS")"
	fi
	_pairs_all "$desc: same byte counts on both hosts" \
		'.b != null and .a.bytes_sent == .b.bytes_sent and .a.bytes_received == .b.bytes_received'

	# pid and program: meshd knows them when the shim told it (a side
	# channel, "when known"): a wrong one fails, a missing one is noted.
	if [[ -n ${CONN_PROGRAM:-}${CONN_PID:-} ]]; then
		[[ -z ${CONN_PROGRAM:-} ]] || _pairs_all "$desc: A: program $CONN_PROGRAM (where named)" \
			".a.program == null or (.a.program == \"$CONN_PROGRAM\" and (.a.pid | type) == \"number\" and .a.pid > 0)"
		[[ -z ${CONN_PID:-} ]] || _pairs_all "$desc: A: pid $CONN_PID (where named)" ".a.pid == null or .a.pid == $CONN_PID"
		i=$(jq '[.[] | select(.a.program == null and .a.pid == null)] | length' <<<"$PAIRS")
		[[ $i -eq 0 ]] || note "$desc: $i of $n record(s) on host A name no pid/program"
	fi

	if [[ -n $web ]]; then
		for ((i = 0; i < 100; i++)); do
			all=$(web_closes "$web")
			[[ $(grep -c . <<<"$all" || true) -lt $((_WEB_SEEN[$web] + n)) ]] || break
			sleep 0.05
		done
		have=$(tail -n "+$((_WEB_SEEN[$web] + 1))" <<<"$all" | grep -c . || true)
		_WEB_SEEN[$web]=$(grep -c . <<<"$all" || true)
		want=$(jq -r '.[] | "\(.a.bytes_sent) \(.a.bytes_received)"' <<<"$PAIRS" | sort)
		all=$(tail -n "$have" <<<"$all" | sort)
		[[ $have -gt 0 ]] || all=
		check_eq "$desc: bytes equal what the upstream read and wrote ($have connection(s))" "$all" "$want"
	fi
}

# client_conns STATUS DESC N [WEB]: check_conns when the client (exit
# STATUS) succeeded; when it failed, one failure instead of waiting for
# records that will not come (any it did leave are skipped).
client_conns() {
	local st=$1 filt
	shift
	if [[ $st -eq 0 ]]; then
		check_conns "$@"
		return 0
	fi
	not_ok "$1: its connection(s) through the mesh (not checked: the client failed, status $st)"
	sleep 0.5
	filt=".event == \"close\" and .service == \"${SVC:-hello}\""
	A_SEEN=$(count_records "$T/a.log" "$filt")
	[[ -z ${3:-} ]] || _WEB_SEEN[$3]=$(web_closes "$3" | grep -c . || true)
	PAIRS='[]'
}

_pairs_all() {
	local desc=$1 cond=$2
	if jq -e "length > 0 and all(.[]; $cond)" <<<"$PAIRS" >/dev/null 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		note "  where $cond"
		jq -c "[.[] | select(($cond) | not)] | .[:3] | .[]" <<<"$PAIRS" 2>/dev/null | sed 's/^/#   /' || true
		[[ $PAIRS != '[]' ]] || note "  (no connections)"
	fi
}

# check_pair_bytes DESC SENT RECEIVED
check_pair_bytes() {
	# No connections: the failure has been counted already.
	[[ $PAIRS != '[]' ]] || return 0
	check_eq "$1: bytes sent (client to server) on both hosts" \
		"$(_numlist "$2 $2")" "$(_numlist "$(jq -r '.[] | .a.bytes_sent, .b.bytes_sent' <<<"$PAIRS")")"
	check_eq "$1: bytes received (server to client) on both hosts" \
		"$(_numlist "$3 $3")" "$(_numlist "$(jq -r '.[] | .a.bytes_received, .b.bytes_received' <<<"$PAIRS")")"
}

# _numlist WORDS: numbers, sorted, one space between.
_numlist() {
	# shellcheck disable=SC2020  # (newlines, tabs and spaces all to newlines)
	tr -s ' \n\t' '\n\n\n' <<<"$1" | { grep . || true; } | sort -n | paste -sd ' ' -
}
