#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2317  # records are set by get_record; helpers run via check
# records_caller: host B's records carry the caller's pid and program.
# The shim reports them to meshd A over its control socket, usually after
# A opened the stream (its header then says pid 0); A sends them in a
# CALLER frame once it knows them (libmesh/4, daemon/proto.h), and B keeps
# them as A's claims ("claimed"). For curl and for python3 (under the
# shim), each on a new link and on a reused one: B's close record claims
# exactly the pid and program of A's close record; python3 holds its
# connection for 2.5 s with progress_interval = 1s on B, and every progress
# record B writes for it claims them too. A host B that speaks only
# libmesh/3 (a python3 TLS peer standing in for an older meshd) is sent no
# CALLER frame (it would end the link on an unknown frame type), while the
# same peer offering libmesh/4 gets exactly one, with curl's pid, before
# A's FIN.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || die "jq is not installed: scripts/deps.sh installs it"

make_certs "$TD" client hello
write_confs b_mesh="progress_interval = 1s" "a_extra=[service.hello2]
ports = $PORT2
endpoints = 127.0.0.2:$PORT3
identity = hello"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

cat >"$T/slow.py" <<'PY'
# One HTTP/1.0 request to hello, its head sent in two halves SECS apart.
import os, socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
print("pid", os.getpid(), flush=True)
s = socket.create_connection((host, port), timeout=10)
s.sendall(b"GET / HTTP/1.0\r\n")
time.sleep(secs)
s.sendall(b"Host: hello\r\n\r\n")
body = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    body += b
print("body", body.split(b"\r\n\r\n", 1)[-1].decode().strip())
PY

# caller_round DESC REUSED CMD...: run CMD under the shim (one connection to
# hello); A's close record and B's, matched on the id, agree on the caller.
caller_round() {
	local desc=$1 reused=$2 ma mb st=0 out ra rb id
	shift 2
	ma=$(since "$T/a.log")
	mb=$(since "$T/b.log")
	out=$(mesh_client "$@" 2>&1) || st=$?
	check_eq "$desc: the client exits 0" 0 "$st"
	contains_line "$desc: it gets the upstream's answer" "hello from upstream" "$out"
	ra=$(new_records "$T/a.log" "$ma" '.event == "close" and .service == "hello"' 1 10 | head -n 1) || ra='{}'
	check_rec "$desc: A's close record: ok, reused $reused, the shim's pid and program" "$ra" \
		".result == \"ok\" and .reused == $reused and (.pid | type) == \"number\" and .pid > 0 and (.program | length) > 0"
	id=$(jget "$ra" '.id // "none"')
	rb=$(new_records "$T/b.log" "$mb" ".event == \"close\" and .id == \"$id\"" 1 10 | head -n 1) || rb='{}'
	check_rec "$desc: B's close record claims A's pid and program ($(jget "$ra" .pid) $(jget "$ra" .program))" "$rb" \
		".result == \"ok\" and .claimed.pid == $(jget "$ra" '.pid // 0') and .claimed.program == $(jq -c '.program // ""' <<<"$ra") and .claimed.uid == 0 and (has(\"pid\") or has(\"program\") | not)"
	LAST_ID=$id
	LAST_PID=$(jget "$ra" '.pid // 0')
	LAST_PROGRAM=$(jget "$ra" '.program // ""')
	LAST_OUT=$out
}

contains_line() {
	if grep -qxF -- "$2" <<<"$3" || grep -qxF -- "body $2" <<<"$3"; then ok "$1"; else
		not_ok "$1"
		note "  output: $(head -c 500 <<<"$3")"
	fi
}

# progress_claims DESC: B's progress records of LAST_ID (at least 2 in
# 2.5 s) all claim LAST_PID and LAST_PROGRAM.
progress_claims() {
	local v
	v=$(records "$T/b.log" ".event == \"progress\" and .id == \"$LAST_ID\"" | jq -s -c \
		"{n: length, claiming: map(select(.claimed.pid == $LAST_PID and .claimed.program == \"$LAST_PROGRAM\")) | length}")
	note "$1: B's progress records: $v"
	check_rec "$1: B wrote at least 2 progress records, each claiming pid $LAST_PID and $LAST_PROGRAM" "$v" \
		'.n >= 2 and .claiming == .n'
}

caller_round "curl, new link" false "${CURL[@]}" "http://hello:$PORT/"
check_eq "curl: the program A names is curl" curl "$LAST_PROGRAM"
caller_round "python3, reused link" true "$PY" "$T/slow.py" hello "$PORT" 2.5
check_eq "python3: A's pid is the client's own" "pid $LAST_PID" "$(grep '^pid' <<<"$LAST_OUT")"
progress_claims "python3, reused link"

# A new link again: restart A (its links go with it).
stop_meshd a
start_meshd a "$T/a.ini"
caller_round "python3, new link" false "$PY" "$T/slow.py" hello "$PORT" 2.5
check_eq "python3 (new link): A's pid is the client's own" "pid $LAST_PID" "$(grep '^pid' <<<"$LAST_OUT")"
progress_claims "python3, new link"
caller_round "curl, reused link" true "${CURL[@]}" "http://hello:$PORT/"

# An older host B: a TLS peer with hello's certificate on 127.0.0.2:PORT3
# (service hello2 on A) that offers only ALPN ALPN; it answers one stream
# and prints the frame types A sent on it up to A's FIN.
cat >"$T/oldb.py" <<'PY'
import os, socket, ssl, struct, sys
sys.path.insert(0, os.environ["PEERDIR"])
from meshpeer import DATA, FIN, RST, OPEN, STATUS, CALLER, frame, read_frame
ca, cert, key, port, alpn, ready = sys.argv[1:7]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_REQUIRED
hostile = alpn.endswith("+caller")  # sends A a CALLER, the wrong way
ctx.set_alpn_protocols([alpn.split("+")[0]])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.2", int(port)))
ls.listen(4)
open(ready, "w").close()
raw, _ = ls.accept()
raw.settimeout(10)
s = ctx.wrap_socket(raw, server_side=True)
print("alpn", s.selected_alpn_protocol(), flush=True)
types, req = [], b""
while True:
    f = read_frame(s)
    if f is None:
        print("link closed", flush=True)
        break
    t, sid, p = f
    types.append(t)
    if t == OPEN:
        s.sendall(frame(STATUS, sid, b"LM\x02\x00"))
        if hostile:
            s.sendall(frame(CALLER, sid, struct.pack(">IB", 1, 4) + b"sshd"))
    elif t == DATA:
        req += p
        if b"\r\n\r\n" in req:
            body = b"hello from upstream\n"
            s.sendall(frame(DATA, sid, b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body) + frame(FIN, sid))
    elif t == CALLER:
        pid, n = struct.unpack(">IB", p[:5])
        print("caller", pid, p[5:5 + n].decode(), flush=True)
    if t in (FIN, RST):
        break
print("types", ",".join(str(t) for t in types), flush=True)
PY
old_b() { # ALPN: one curl to hello2 through A to the peer offering ALPN
	local st=0 out
	rm -f "$T/oldb.ready"
	PEERDIR=$(dirname "$0") spawn oldb "$T/oldb.out" "$PY" "$T/oldb.py" "$T/certs/ca.pem" \
		"$T/certs/hello.pem" "$T/certs/hello.key" "$PORT3" "$1" "$T/oldb.ready"
	local pid=$LAST_PID
	wait_file "$T/oldb.ready" 10 || die "the $1 peer did not start: $(cat "$T/oldb.out")"
	out=$(mesh_client "${CURL[@]}" "http://hello2:$PORT2/" 2>&1) || st=$?
	[[ $1 == *+caller ]] || check_eq "$1 peer: curl gets the answer" "0 hello from upstream" "$st $out"
	wait_grep "$T/oldb.out" '^types' 10 || true
	OLDB=$(cat "$T/oldb.out")
	note "$1 peer: $(tr '\n' ' ' <<<"$OLDB")"
	kill_proc "$pid"
}
old_b libmesh/3
check "libmesh/3 peer: the link agreed on libmesh/3" grep -qx 'alpn libmesh/3' <<<"$OLDB"
check_eq "libmesh/3 peer: A sent OPEN, DATA, FIN and no CALLER" "types 3,0,1" "$(grep '^types' <<<"$OLDB")"
ra=$(records "$T/a.log" '.event == "close" and .service == "hello2"' | tail -n 1)
check_rec "libmesh/3 peer: A knew curl's pid all the same" "$ra" '.result == "ok" and .pid > 0 and .program == "curl"'
old_b libmesh/4
check "libmesh/4 peer: the link agreed on libmesh/4" grep -qx 'alpn libmesh/4' <<<"$OLDB"
ra=$(records "$T/a.log" '.event == "close" and .service == "hello2"' | tail -n 1)
check_eq "libmesh/4 peer: one CALLER with A's pid and program" "caller $(jget "$ra" .pid) curl" \
	"$(grep '^caller' <<<"$OLDB")"
check "libmesh/4 peer: A sent OPEN, then CALLER before its FIN" grep -qxE 'types 3,(0,)*8,(0,)*1' <<<"$OLDB"

# The wrong way: a serving host that sends A a CALLER does not follow the
# protocol; A ends the link, and the connection's record says why.
old_b libmesh/4+caller
ra=$(new_records "$T/a.log" 0 '.event == "close" and .service == "hello2" and .result != "ok"' 1 10 | tail -n 1) || ra='{}'
check_rec "a CALLER from the serving side ends A's link as a protocol error" "$ra" \
	'.result == "reset" and (.detail | test("unexpected CALLER"))'

summary
