#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# endpoint_accounting: every attempt meshd begins on an endpoint is reported
# done to the endpoint set, whatever ends it, and every connection through
# it is given back. Host A runs with -v, which says at each generation's
# end what each endpoint still counts in flight; after attempts that
# connected, were refused (a dead endpoint), denied (by B), timed out (a
# local upstream whose SYNs are dropped), and a connection and an attempt
# cut short by A's drain timeout, every count is 0.
. "$(dirname "$0")/lib.sh"


DEAD=127.0.0.3:$MESHPORT
make_certs "$TD" client hello closed stuck
write_confs endpoints="$DEAD, 127.0.0.2:$MESHPORT" a_hello="retries = 2" \
	a_extra="[service.down]
ports = $PORT
endpoints = $DEAD
retries = 1

[service.closed]
ports = $PORT
endpoints = 127.0.0.2:$MESHPORT

$(ini_identity stuck 65001)

[service.stuck]
ports = $PORT
endpoints = local
upstream = 127.0.0.1:$BACKPORT2
allow = client
connect_timeout = 300ms
retries = 1

[service.slow]
ports = $PORT
identity = stuck
endpoints = local
upstream = 127.0.0.1:$BACKPORT2
allow = client
connect_timeout = 30s" \
	b_extra="$(ini_identity closed 65001)

[service.closed]
ports = $PORT
upstream = 127.0.0.1:$BACKPORT
allow = hello"
MESHD_ARGS=-v start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

# A listener that never accepts, its queue already full: SYNs to it are
# dropped, so connects hang (as in upstream_timeout.sh).
spawn full "$T/full.log" "$PY" "$(dirname "$0")/full_listener.py" "$BACKPORT2" "$T/full.ready"
wait_file "$T/full.ready" 10 || die "the full listener did not start"

# connect NAME [HOLD_S]: one connection to NAME:$PORT under the shim; print
# "connected" or the errno, then hold the connection for HOLD_S seconds.
cat >"$T/connect.py" <<'PY'
import socket, sys, time
c = socket.socket()
c.settimeout(20)
try:
    c.connect((socket.gethostbyname(sys.argv[1]), int(sys.argv[2])))
    print("connected", flush=True)
    time.sleep(float(sys.argv[3]))
except OSError as e:
    print("error", e.errno, flush=True)
PY

good=0
for _ in 1 2 3 4; do
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || true
	[[ $body == "hello from upstream" ]] && good=$((good + 1))
done
check_eq "4 of 4 requests to hello succeed around the dead endpoint" 4 "$good"
# One connection each (curl would try a second address after a failure).
for svc in down closed stuck; do
	mesh_client "$PY" "$T/connect.py" "$svc" "$PORT" 0 >"$T/$svc.out" 2>&1 || true
done

get_record rd "$T/a.log" '.event == "close" and .service == "down"'
check_rec "A: down refused" "$rd" '.result == "refused"'
get_record rc "$T/a.log" '.event == "close" and .service == "closed"'
check_rec "A: closed denied by B" "$rc" '.result == "denied"'
get_record rs "$T/a.log" '.event == "close" and .service == "stuck"'
check_rec "A: stuck timed out after 2 attempts" "$rs" '.result == "timeout" and .attempts == 2'

# Cut short by the drain: a connection carried to hello (held open), and
# an attempt still connecting to slow's local upstream.
spawn_client held "$T/held.out" "$PY" "$T/connect.py" hello "$PORT" 60
wait_grep "$T/held.out" '^connected' 10 || note "held: $(cat "$T/held.out")"
spawn_client slow "$T/slow.out" "$PY" "$T/connect.py" slow "$PORT" 60
sleep 0.5

st=0
stop_meshd a 15 || st=$?
check_eq "A exits 0 after its drain timeout" 0 "$st"
get_record rh "$T/a.log" '.event == "close" and .service == "hello" and .detail == "drain timeout"'
check_rec "A: the held connection was reset by the drain" "$rh" '.result == "reset" and .bytes_sent == 0'
get_record rw "$T/a.log" '.event == "close" and .service == "slow"'
check_rec "A: slow's attempt was cut by the drain" "$rw" '.detail == "drain timeout"'

ends=$(grep ' ends: service ' "$T/a.err" || true)
while IFS= read -r line; do note "${line#* meshd\[*\] }"; done <<<"$ends"
check_eq "A: one line per endpoint at the generation's end" 6 "$(grep -c . <<<"$ends" || true)"
check "A: every endpoint ends with 0 attempts and 0 connections in flight" \
	test "$(grep -c ': 0 attempt(s) and 0 connection(s) in flight;' <<<"$ends" || true)" -eq 6
check "A: no count was left over" bash -c "! grep -q 'never reported done' '$T/a.err'"
check "A: hello's live endpoint's last result is ok" \
	grep -q "service hello endpoint 127.0.0.2:$MESHPORT: .* last result ok, 0 failure" <<<"$ends"
check "A: down's endpoint failed 2 in a row" \
	grep -q "service down endpoint $DEAD: .* last result refused, 2 failure" <<<"$ends"
check "A: closed's endpoint said denied, which is not a failure of the endpoint" \
	grep -q "service closed endpoint 127.0.0.2:$MESHPORT: .* last result denied, 0 failure" <<<"$ends"
check "A: stuck's endpoint timed out" grep -q "service stuck endpoint local: .* last result timeout" <<<"$ends"

summary
