#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# record_utf8: every traffic record is valid UTF-8 JSON, whatever bytes the
# strings in it came with. A program under the shim on host A renames itself
# (prctl PR_SET_NAME) to bytes that are not UTF-8, so /proc/PID/comm, which
# meshd A puts in the record and in the stream's header, holds them; a TLS
# peer holding a mesh certificate sends B headers whose program and service
# names hold them too. Every line of both logs must parse with python's
# strict json.loads on a strict UTF-8 decode (jq would let invalid UTF-8
# through), invalid sequences read as U+FFFD, valid multi-byte UTF-8 as
# itself. C1 controls (U+0080..U+009F, valid UTF-8 some terminals act on)
# in a peer's header are refused as malformed, and no log holds one. Root's
# programs are served throughout.
. "$(dirname "$0")/../lib.sh"

standard_setup
start_upstream up http 127.0.0.1 "$BACKPORT"

# 1. A program whose name is \xff\xfe "curl" \xc3 (a stray byte pair and a
# cut-off sequence), calling hello under the shim.
cat >"$T/oddname.py" <<'PY'
import ctypes, socket, sys
name = bytes.fromhex(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, name, 0, 0, 0) != 0:  # PR_SET_NAME
    sys.exit("prctl: errno %d" % ctypes.get_errno())
with open("/proc/self/comm", "rb") as f:
    print("comm", f.read().rstrip(b"\n").hex())
s = socket.create_connection(("hello", int(sys.argv[1])), timeout=10)
s.sendall(b"GET / HTTP/1.0\r\nHost: hello\r\n\r\n")
resp = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    resp += b
print("body", resp.split(b"\r\n\r\n", 1)[-1].decode().strip())
PY
odd=fffe6375726cc3
out=$(mesh_client timeout 20 "$PY" "$T/oddname.py" "$PORT" "$odd" 2>&1) || true
note "odd-named program: $(tr '\n' ' ' <<<"$out")"
check_eq "the program's /proc/PID/comm holds the bytes" "comm $odd" "$(grep '^comm' <<<"$out")"
check_eq "and it is served through the mesh" "body hello from upstream" "$(grep '^body' <<<"$out")"
# A second name: valid UTF-8 (Greek, 2-byte; a CJK character, 3-byte)
# that must come through unchanged.
utf=ceb1cebbcf86ceb12de697a5
out=$(mesh_client timeout 20 "$PY" "$T/oddname.py" "$PORT" "$utf" 2>&1) || true
check_eq "a valid UTF-8 name is served too" "body hello from upstream" "$(grep '^body' <<<"$out")"

# 2. A peer's headers with such names: the program (a claim B records),
# and the service (B records what was asked for, and says it is not served).
cat >"$T/peer.py" <<'PY'
import sys
from meshpeer import OPEN, STATUS, connect, frame, header, read_frame

ca, cert, key, port, svc_port = sys.argv[1:6]
s = connect(ca, cert, key, "127.0.0.2", port, "hello")

def status(sid, svc, prog, conn_id):
    s.sendall(frame(OPEN, sid, header(svc, conn_id, svc_port, program=prog, pid=7)))
    while True:
        t, fsid, p = read_frame(s)
        if t == STATUS and fsid == sid:
            return p[3]

# Invalid UTF-8 of every kind: stray continuation, overlong, surrogate,
# beyond U+10FFFF, cut short; and valid 4-byte UTF-8 beside it.
prog = b"\xff\xfesshd\x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xf0\x9f\x98\x80\xe2\x82"
print("prog", status(1, b"hello", prog, 0x0dd0000000000001))
print("svc", status(3, b"h\xe9llo\xc3", prog, 0x0dd0000000000002))
# C1 controls, valid UTF-8 that terminals may act on (U+009B is CSI,
# U+009D OSC, U+009C ST): refused as malformed, as C0 controls are.
print("c1svc", status(5, b"\xc2\x9b2J\xc2\x9b31mEVIL", b"curl", 0x0dd0000000000003))
print("c1prog", status(7, b"hello", b"\xc2\x9d0;T\xc2\x9c", 0x0dd0000000000004))
# U+00A0 beside them is no control: served.
print("nbsp", status(9, b"hello", b"a\xc2\xa0b", 0x0dd0000000000005))
PY
out=$(timeout 20 "$PY" "$T/peer.py" "$T/certs/ca.pem" "$T/certs/client.pem" "$T/certs/client.key" \
	"$MESHPORT" "$PORT" 2>&1) || true
note "peer: $(tr '\n' ' ' <<<"$out")"
check_eq "B answers the odd program's stream ok (0)" "prog 0" "$(grep '^prog' <<<"$out")"
check_eq "and the odd service's no_service (4)" "svc 4" "$(grep '^svc' <<<"$out")"
check_eq "a service name with C1 controls: bad_request (5)" "c1svc 5" "$(grep '^c1svc' <<<"$out")"
check_eq "a program claim with C1 controls: bad_request (5)" "c1prog 5" "$(grep '^c1prog' <<<"$out")"
check_eq "a program claim with U+00A0: ok (0)" "nbsp 0" "$(grep '^nbsp' <<<"$out")"
wait_record "$T/b.log" '.id == "0dd0000000000002"' >/dev/null || true
check_hello "root, after"
sleep 0.5

# 3. Every line of both logs: strict UTF-8, strict JSON, one object; and the
# fields hold what they should.
cat >"$T/check.py" <<'PY'
import json, sys
bad, recs = 0, []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line.decode("utf-8", "strict"))
                assert isinstance(r, dict) and line.endswith(b"\n")
                recs.append(r)
            except Exception as e:
                bad += 1
                print("bad %s:%d: %s: %r" % (path, n, e, line[:120]))
print("lines", len(recs), "bad", bad)
def find(**kw):
    return [r for r in recs if all(r.get(k) == v for k, v in kw.items())]
F = "\ufffd"
odd = find(direction="outbound", program=F + F + "curl" + F)
print("odd_program", len(odd))
print("utf_program", len(find(direction="outbound", program="\u03b1\u03bb\u03c6\u03b1-\u65e5")))
p = find(id="0dd0000000000001")
want = "%s%ssshd%s%s%s%s%s%s%s%s%s%s\U0001F600%s" % ((F,) * 13)
print("peer_program", len(p) == 1 and p[0].get("claimed", {}).get("program") == want)
v = find(id="0dd0000000000002")
# \xe9 is a Latin-1 e-acute, a UTF-8 lead byte without its continuation.
print("peer_service", len(v) == 1 and v[0].get("service") == "h%sllo%s" % (F, F)
      and "h%sllo%s" % (F, F) in v[0].get("detail", ""))
print("malformed", len([r for r in recs if r.get("result") == "protocol_error"
                        and "malformed header" in r.get("detail", "")]))
print("nbsp_program", len(find(id="0dd0000000000005")) == 1
      and find(id="0dd0000000000005")[0].get("claimed", {}).get("program") == "a\u00a0b")
# No C1 control in any field, raw or escaped.
print("c1_fields", sum(1 for r in recs for v in r.values() for c in json.dumps(v, ensure_ascii=False)
                       if 0x80 <= ord(c) <= 0x9f))
PY
res=$("$PY" "$T/check.py" "$T/a.log" "$T/b.log" 2>&1) || true
note "$(head -n 5 <<<"$res" | tr '\n' ' ')"
lines=$(awk '$1 == "lines" { print $2 }' <<<"$res")
check "there are records to check (A and B: ${lines:-0} lines)" test "${lines:-0}" -ge 8
check_eq "every line of both logs is strict UTF-8 JSON" "0" "$(awk '$1 == "lines" { print $4 }' <<<"$res")"
check_eq "A: the odd program's record names it with U+FFFD for each invalid part" "odd_program 1" \
	"$(grep '^odd_program' <<<"$res")"
check_eq "A: a valid UTF-8 program name is kept as it is" "utf_program 1" "$(grep '^utf_program' <<<"$res")"
check_eq "B: the peer's program claim, invalid parts replaced, valid 4-byte kept" "peer_program True" \
	"$(grep '^peer_program' <<<"$res")"
check_eq "B: the peer's odd service name in service and detail" "peer_service True" \
	"$(grep '^peer_service' <<<"$res")"
check_eq "B: the two C1 headers recorded as malformed (protocol_error)" "malformed 2" \
	"$(grep '^malformed' <<<"$res")"
check_eq "B: the U+00A0 program claim kept" "nbsp_program True" "$(grep '^nbsp_program' <<<"$res")"
check_eq "no record holds a C1 control" "c1_fields 0" "$(grep '^c1_fields' <<<"$res")"
check "neither log nor B's messages hold a raw C1 control (C2 80..C2 9F)" \
	sh -c "! LC_ALL=C grep -qaP '\\xc2[\\x80-\\x9f]' '$T/a.log' '$T/b.log' '$T/b.err'"

summary
