#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# drain: on SIGTERM host A stops accepting (a new connection to the VIP is
# refused) but lets the open connection finish within drain_timeout (5 s),
# then exits 0. A POST /reload while draining answers 503 "draining" and
# counts as no reload at all (not a rejected config: /config's
# last_reload and the reload metrics stay as they were).
. "$(dirname "$0")/lib.sh"

ADMIN_A=$((MESHPORT + 7))
make_certs "$TD" client hello
# One worker: the admin listener lives until worker 0 has drained.
write_confs drain=5s a_mesh="workers = 1"
sed -i "s/^admin = off$/admin = 127.0.0.1:$ADMIN_A/" "$T/a.ini"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream echo echo 127.0.0.1 "$BACKPORT"

# Tries to connect to VIP:PORT for up to 3 s; prints "refused" as soon as a
# connect is refused, else what happened last.
cat >"$T/probe.py" <<'PY'
import socket, sys, time
addr = (sys.argv[1], int(sys.argv[2]))
deadline, last = time.time() + 3, "nothing"
while time.time() < deadline:
    try:
        socket.create_connection(addr, timeout=1).close()
        last = "connected"
    except ConnectionRefusedError:
        print("refused")
        sys.exit(0)
    except OSError as e:
        last = "error: %s" % e
    time.sleep(0.1)
print(last)
PY

vip=$(mesh_resolve hello) || vip=
check "hello resolves to a VIP ($vip)" grep -qE '^127\.77\.[0-9]+\.[0-9]+$' <<<"$vip"

spawn_client cli "$T/cli.out" "$PY" "$(dirname "$0")/held_client.py" hello "$PORT" "$T/go"
cli=$LAST_PID
check "the connection is up (first echo)" wait_grep "$T/cli.out" '^echo one$' 10

signal_meshd a TERM
probe=$("$PY" "$T/probe.py" "$vip" "$PORT" 2>&1) || probe="probe failed: $probe"
check_eq "a new connection to hello's VIP after SIGTERM is refused" refused "$probe"
check "A is still running while the connection is open" meshd_alive a

code=$(curl -sS --max-time 5 -o "$T/rl.json" -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN_A/reload") || code=
check_eq "POST /reload while draining: 503" 503 "$code"
check "it says draining, generation 1 in force" jq -e '.result == "draining" and .generation == 1 and (.errors[0] | test("draining"))' "$T/rl.json"
cfg=$(curl -sS --max-time 5 "http://127.0.0.1:$ADMIN_A/config") || cfg=
check_eq "/config: still no last reload" null "$(jq -c .last_reload <<<"$cfg")"
metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$ADMIN_A/metrics") || metrics=
check "/metrics: no reload rejected" grep -qx 'libmesh_config_reloads_total{result="rejected"} 0' <<<"$metrics"
check "/metrics: the last reload did not fail" grep -qx 'libmesh_config_last_reload_success 1' <<<"$metrics"

touch "$T/go"
if wait_gone "$cli" 10; then
	st=0
	wait "$cli" || st=$?
	check_eq "the open connection completes (client exits 0)" 0 "$st"
else
	not_ok "the open connection completes within 10 s"
fi
check "the second echo came back during the drain" grep -q '^echo two$' "$T/cli.out"
check "the connection ended cleanly" grep -q '^done$' "$T/cli.out"
grep -q '^done$' "$T/cli.out" || sed 's/^/#   client: /' "$T/cli.out"

st=0
wait_meshd a 10 || st=$?
check_eq "A exits 0 after the drain" 0 "$st"
[[ $st -ne 124 ]] || stop_meshd a 1 || true

get_record ra "$T/a.log" '.event == "close" and .service == "hello" and .bytes_sent == 8' 2
check_rec "A: the drained connection's record is ok" "$ra" '.result == "ok"'
check_rec "A: 8 bytes each way" "$ra" '.bytes_received == 8'

summary
