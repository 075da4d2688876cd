#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# tunnel_reuse: a new application connection does not pay a TLS handshake.
# After the first request, the mTLS connection between the hosts (a link)
# stays open and the next requests are streams on it (records say
# "reused": true on both hosts, one upstream connection per request all the
# same). Half-close and a server that speaks first still work on a reused
# link, and when host B restarts, A's stale link fails over invisibly.
. "$(dirname "$0")/lib.sh"

standard_setup
start_upstream up http 127.0.0.1 "$BACKPORT"
up_pid=$LAST_PID

for i in 1 2 3 4 5; do
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body="(curl failed)"
	check_eq "request $i answered" "hello from upstream" "$body"
done
recs=$(wait_records "$T/a.log" '.event == "close" and .service == "hello"' 5) || recs=
check "A: five ok records" jq -e -s 'length == 5 and all(.[]; .result == "ok")' <<<"$recs"
check "A: the first tunnel is new" jq -e -s '.[0].reused == false' <<<"$recs"
check "A: the next four reuse it" jq -e -s '[.[1:][] | .reused] == [true, true, true, true]' <<<"$recs"
brecs=$(wait_records "$T/b.log" '.event == "close" and .service == "hello"' 5) || brecs=
check "B: the same ids, reused the same way" jq -e -s --slurpfile a <(printf '%s\n' "$recs") \
	'map({id, reused}) == ($a | map({id, reused}))' <<<"$brecs"
check_eq "the upstream saw five connections" 5 "$(upstream_accepts up)"
check "B: one TLS connection accepted" test "$(grep -c tls_failure "$T/b.log" || true)" -eq 0

# Half-close over a reused tunnel: the sha upstream replies after EOF.
kill_proc "$up_pid"
start_upstream sink sha 127.0.0.1 "$BACKPORT"
sink_pid=$LAST_PID
head -c 300000 /dev/urandom >"$T/data"
want="300000 $(sha256sum "$T/data" | cut -d' ' -f1)"
for i in 1 2; do
	reply=$(timeout 20 env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" \
		nc -N -w 10 hello "$PORT" <"$T/data") || reply="(nc failed)"
	check_eq "half-closed stream $i on a reused tunnel gets its answer" "$want" "$reply"
done
kill_proc "$sink_pid"

# A server that speaks first (a banner) on a reused tunnel.
cat >"$T/banner.py" <<'PY'

import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b"220 banner first\r\n"); c.close()
PY
spawn banner "$T/banner.log" "$PY" "$T/banner.py" "$BACKPORT"
banner_pid=$LAST_PID
wait_port 127.0.0.1 "$BACKPORT" 10 || die "banner server did not start"
for i in 1 2; do
	got=$(mesh_client "$PY" -c '
import socket, sys
c = socket.create_connection(("hello", int(sys.argv[1])), timeout=5)
print(c.recv(100).decode().strip())' "$PORT") || got="(client failed)"
	check_eq "banner $i arrives without the client sending a byte" "220 banner first" "$got"
done
kill_proc "$banner_pid"

# Host B restarts: whatever A has parked is stale; the next request works.
start_upstream up2 http 127.0.0.1 "$BACKPORT"
stop_meshd b
start_meshd b "$T/b.ini"
for i in 1 2 3; do
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body="(curl failed)"
	check_eq "after B restarted, request $i answered" "hello from upstream" "$body"
done
last=$(wait_records "$T/a.log" '.event == "close" and .service == "hello"' 12) || last=
check "A: every record ok, one attempt each (stale tunnels are not failures)" \
	jq -e -s 'length == 12 and all(.[]; .result == "ok" and .attempts == 1)' <<<"$last"

summary
