#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# peer_claims: the uid, pid, program and connection id in a stream's header
# are what the calling host says, not facts host B knows. A python3 TLS
# peer holding a mesh certificate opens streams on B's mesh port with
# headers claiming uid 0, pid 1, program "sshd": B's records keep those
# under "claimed" (no top-level uid, pid or program on any inbound record),
# and B decides on the certificate alone: the holder of `intruder`'s
# certificate (not in hello's allow list) is denied whatever it claims, the
# holder of `client`'s is served whatever it claims (even nobody's uid).
# Root's programs on host A are served throughout.
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello intruder
write_confs
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

cat >"$T/peer.py" <<'PY'
import sys
from meshpeer import DATA, FIN, OPEN, connect, frame, header, read_frame

ca, cert, key, port, svc_port, conn_id, pid, uid, prog = sys.argv[1:10]
s = connect(ca, cert, key, "127.0.0.2", port, "hello")
s.sendall(frame(OPEN, 1, header("hello", int(conn_id, 16), svc_port, program=prog,
                                uid=int(uid), pid=int(pid))))
t, sid, p = read_frame(s)
print("status", p[3])
if p[3] == 0:
    s.sendall(frame(DATA, 1, b"GET / HTTP/1.0\r\nHost: hello\r\n\r\n") + frame(FIN, 1))
    body, fin = b"", False
    while not fin:
        f = read_frame(s)
        if f is None:
            break
        t, sid, p = f
        if t == DATA:
            body += p
        fin = t == FIN
    print("body", body.split(b"\r\n\r\n", 1)[-1].decode().strip())
PY

peer() { # IDENTITY CONN_ID PID UID PROGRAM
	timeout 20 "$PY" "$T/peer.py" "$T/certs/ca.pem" "$T/certs/$1.pem" "$T/certs/$1.key" \
		"$MESHPORT" "$PORT" "$2" "$3" "$4" "$5" 2>&1
}

# 1. client's certificate, claiming to be root's sshd: served (the
# certificate is allowed), the claims recorded as claims.
out=$(peer client c1a1000000000001 1 0 sshd) || true
note "client claiming uid 0: $(tr '\n' ' ' <<<"$out")"
check_eq "client's certificate is served" "status 0" "$(grep '^status' <<<"$out")"
check_eq "and gets the upstream's answer" "body hello from upstream" "$(grep '^body' <<<"$out")"
get_record r "$T/b.log" '.id == "c1a1000000000001"'
check_rec "B: ok, source from the certificate" "$r" \
	".result == \"ok\" and .source == \"spiffe://$TD/svc/client\" and .direction == \"inbound\""
check_rec "B: uid, pid and program are under claimed, as sent" "$r" \
	'.claimed == {"uid": 0, "pid": 1, "program": "sshd"}'
check_rec "B: no top-level uid, pid or program" "$r" \
	'(has("uid") or has("pid") or has("program")) | not'
check_rec "B: the id stays top-level (records are joined on it)" "$r" '.id == "c1a1000000000001"'

# 2. intruder's certificate, claiming exactly the same (root's uid, pid 1,
# sshd): denied, on the certificate alone.
out=$(peer intruder c1a1000000000002 1 0 sshd) || true
note "intruder claiming uid 0: $(tr '\n' ' ' <<<"$out")"
check_eq "intruder's certificate is denied (STATUS denied = 3) though it claims uid 0" \
	"status 3" "$(grep '^status' <<<"$out")"
get_record r "$T/b.log" '.id == "c1a1000000000002"'
check_rec "B: denied, source intruder, the claims kept as claims" "$r" \
	".result == \"denied\" and .source == \"spiffe://$TD/svc/intruder\" and .claimed.uid == 0 and .claimed.program == \"sshd\" and (has(\"uid\") | not)"

# 3. client's certificate claiming nobody's uid and no pid: still served
# (claims count neither for nor against).
out=$(peer client c1a1000000000003 0 65534 nobody-prog) || true
check_eq "client's certificate claiming nobody's uid is still served" "status 0" \
	"$(grep '^status' <<<"$out")"
get_record r "$T/b.log" '.id == "c1a1000000000003"'
check_rec "B: a claim of no pid is left out, the others kept" "$r" \
	'.result == "ok" and .claimed == {"uid": 65534, "program": "nobody-prog"}'

# 4. Real traffic from A: B's record carries what A's header said, as
# claims; A's own record states uid (kernel) and program (shim) as facts.
check_hello "root on host A"
get_record ra "$T/a.log" '.event == "close" and .direction == "outbound" and .result == "ok"'
id=$(jget "$ra" .id)
get_record rb "$T/b.log" ".id == \"$id\""
check_rec "A: uid 0 and program curl, top-level" "$ra" '.uid == 0 and .program == "curl" and (has("claimed") | not)'
# (pid and program usually reach A after the header left: A sends them in
# a CALLER frame, records_caller.sh.)
check_rec "B: the same, as A's claims" "$rb" \
	".claimed.uid == 0 and .claimed.program == \"curl\" and .claimed.pid == $(jget "$ra" .pid) and (has(\"uid\") | not)"

sleep 0.3
check_eq "no inbound record on B has a top-level uid, pid or program" 0 \
	"$(count_records "$T/b.log" '.direction == "inbound" and (has("uid") or has("pid") or has("program"))')"
check_eq "the upstream saw exactly the 3 allowed connections" 3 "$(upstream_accepts up)"
check "meshd B is still running" kill -0 "$(meshd_pid b)"

summary
