#!/usr/bin/env bash
# shellcheck disable=SC2154  # records are set by get_record
# vip_squat: a local user binds a service's VIP:port while meshd is down.
# meshd must then neither publish the name (a program resolving it would
# hand its request, Authorization header and all, to the squatter) nor
# vouch for a connection that reached the squatter: the shim asks, and a
# running meshd that does not hold the VIP:port answers "unknown" at once,
# which the shim turns into ECONNREFUSED.
#
#   nobody binds VIP:PORT of hello (fixed vip = 127.77.0.50) before meshd A
#   starts, and answers every connection with a fake HTTP response;
#   A's stderr names the holder (uid 65534, its pid), and A still serves
#   hello2 (held) during the attack;
#   the route snapshot lacks hello: curl http://hello:PORT/ cannot resolve;
#   programs connecting to 127.77.0.50:PORT under the shim (blocking
#   connect, curl, a non-blocking client that writes before it looks at
#   SO_ERROR) are refused within 2 s (the shim waits at most 3 s for an
#   unpublished address; 30 s before);
#   the squatter received no byte of any request; a root program listening
#   on a VIP-range address that is no service's VIP is still reached;
#   the squatter leaves, SIGHUP: hello is published again and served.
. "$(dirname "$0")/../lib.sh"

NOBODY_UID=$(id -u nobody) || die "no user nobody"
NOBODY_GID=$(id -g nobody) || die "no group for nobody"
VIP=127.77.0.50

make_certs "$TD" client hello
hello2_args "$PORT2" "$BACKPORT"
write_confs a_hello="vip = $VIP" "${HELLO2[@]}"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

# ---------------------------------------------------------------- the squatter
chmod 755 "$T"
cat >"$T/squat.py" <<'PYEOF'
import socket, sys, threading
ip, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
log = open(path, "a", buffering=1)
s = socket.socket()
s.bind((ip, port))
s.listen(128)
log.write("listening\n")
def serve(c):
    # A fake server: speaks first, then logs whatever the client sends.
    try:
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nsquatted\n")
        c.settimeout(5)
        while True:
            b = c.recv(65536)
            if not b:
                break
            log.write("bytes %d %r\n" % (len(b), b[:80]))
    except OSError:
        pass
    c.close()
while True:
    c, a = s.accept()
    log.write("accept %s:%d\n" % a)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PYEOF
chmod 644 "$T/squat.py"
: >"$T/squat.log"
chmod 666 "$T/squat.log"
spawn squatter "$T/squatter.out" setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" \
	--clear-groups "$PY" "$T/squat.py" "$VIP" "$PORT" "$T/squat.log"
SQUAT_PID=$LAST_PID
wait_grep "$T/squat.log" '^listening' 10 || die "the squatter did not listen ($(cat "$T/squatter.out"))"

# ---------------------------------------------------------------- meshd A starts
start_meshd a "$T/a.ini"
if grep -qE "service hello: cannot listen on $VIP:$PORT: .*held by uid $NOBODY_UID \(pid $SQUAT_PID," "$T/a.err"; then
	ok "A's stderr names the holder of $VIP:$PORT: uid $NOBODY_UID, pid $SQUAT_PID"
else
	not_ok "A's stderr names the holder of $VIP:$PORT: uid $NOBODY_UID, pid $SQUAT_PID"
	note "$(grep -i 'hello' "$T/a.err" | head -n 5)"
fi
check "A's ready line says a service is not published" grep -q "ready: .*2 services (1 not published)" "$T/a.err"

list=$(MESH_SNAPSHOT=$T/a.routes "$MESH_RUN" --list 2>&1) || true
note "routes: $(tr '\n' ' ' <<<"$list")"
check_fail "the route snapshot does not name hello" grep -qE '^ +hello +' <<<"$list"
check "  but names hello2" grep -qE '^ +hello2 +127\.77\.' <<<"$list"
check_fail "hello does not resolve under the shim" mesh_resolve hello

st=0
mesh_client "${CURL[@]}" -H "Authorization: Bearer s3cret" "http://hello:$PORT/" \
	>"$T/curl-name.out" 2>"$T/curl-name.err" || st=$?
note "curl http://hello:$PORT/: exit $st: $(head -c 200 "$T/curl-name.err")"
check_eq "curl http://hello:$PORT/ cannot resolve the name (exit 6)" 6 "$st"

# Root's other service is served all along.
body=$(mesh_client "${CURL[@]}" "http://hello2:$PORT2/") || true
check_eq "during the squat: root's curl to hello2 is served" "hello from upstream" "$body"

# ---------------------------------------------------------------- straight to the VIP
cat >"$T/probe.py" <<'PYEOF'
import errno, select, socket, sys, time
def ename(e):
    return errno.errorcode.get(e, str(e))
mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.monotonic()
req = b"GET / HTTP/1.0\r\nHost: hello\r\nAuthorization: Bearer s3cret\r\n\r\n"
try:
    if mode == "block":
        s = socket.create_connection((ip, port))
        s.sendall(req)
        r = "connected got %r" % s.recv(100)
    else:
        # Writes as soon as the socket is writable, never reads SO_ERROR.
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((ip, port))
        select.select([], [s], [], 10)
        s.send(req)
        select.select([s], [], [], 10)
        r = "connected got %r" % s.recv(100)
except OSError as e:
    r = ename(e.errno)
print(r, "%.2f" % (time.monotonic() - t))
PYEOF

for mode in block nbwrite; do
	out=$(mesh_client timeout 40 "$PY" "$T/probe.py" "$mode" "$VIP" "$PORT" 2>&1) || true
	note "$mode connect to $VIP:$PORT under the shim: $out"
	check_eq "$mode connect to the squatted VIP under the shim: ECONNREFUSED" ECONNREFUSED "$(awk '{ print $1 }' <<<"$out")"
	check "  within 2 s" awk -v t="$(awk '{ print $NF }' <<<"$out")" 'BEGIN { exit !(t < 2) }'
done

st=0
t0=$(date +%s.%N)
mesh_client "${CURL[@]}" -H "Authorization: Bearer s3cret" "http://$VIP:$PORT/" \
	>"$T/curl-vip.out" 2>"$T/curl-vip.err" || st=$?
t1=$(date +%s.%N)
note "curl http://$VIP:$PORT/: exit $st in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s: $(head -c 200 "$T/curl-vip.err")"
check_eq "curl straight to the squatted VIP: couldn't connect (exit 7)" 7 "$st"
check "  within 2 s" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 2) }'
check_fail "  and never shows the squatter's answer" grep -q squatted "$T/curl-vip.out"

# An address in the VIP range that is no service's VIP is not meshd's to
# judge: a root program listening there is reached as before.
spawn other "$T/other.out" "$PY" "$T/squat.py" 127.77.0.99 "$PORT3" "$T/other.log"
wait_port 127.77.0.99 "$PORT3" 10 || die "the listener on 127.77.0.99 did not start"
out=$(MESH_DEBUG=1 mesh_client timeout 40 "$PY" "$T/probe.py" block 127.77.0.99 "$PORT3" 2>"$T/other.dbg") || true
note "block connect to 127.77.0.99:$PORT3 (no VIP) under the shim: $out"
check "a connect to a VIP-range address that is no VIP stands" grep -q "^connected got b'HTTP" <<<"$out"
check "  meshd was asked and answered none" grep -qE "verdict 127\.0\.0\.1:[0-9]+ -> 127\.77\.0\.99:$PORT3: none " "$T/other.dbg"

sleep 0.5
note "squatter saw: $(grep -c '^accept' "$T/squat.log") connection(s), $(grep -c '^bytes' "$T/squat.log") read(s) with data"
check_eq "the squatter received no request bytes" 0 "$(grep -c '^bytes' "$T/squat.log" || true)"
check_fail "  no Authorization header reached it" grep -q 's3cret' "$T/squat.log"

# ---------------------------------------------------------------- the squatter leaves
kill_proc "$SQUAT_PID"
snap=$(file_sig "$T/a.routes")
signal_meshd a HUP
check "A republishes its routes on SIGHUP" wait_file_change "$T/a.routes" "$snap" 10
list=$(MESH_SNAPSHOT=$T/a.routes "$MESH_RUN" --list 2>&1) || true
check "after the reload the snapshot names hello at $VIP" grep -qE "^ +hello +$VIP +$PORT" <<<"$list"
check_hello "after the squatter left"
get_record rh "$T/a.log" '.event == "close" and .service == "hello" and .result == "ok"'
check_rec "A: hello's record says ok" "$rh" '.port == '"$PORT"
body=$(mesh_client "${CURL[@]}" "http://hello2:$PORT2/") || true
check_eq "after: root's curl to hello2 is served" "hello from upstream" "$body"

summary
