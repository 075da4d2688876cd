#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# reload_open_conn: a connection open across a SIGHUP with a changed, valid
# config keeps working (it keeps the config it started with): the client
# sends a line, the reload happens, it sends another; both echoes come back
# and the connection's record is "ok".
. "$(dirname "$0")/lib.sh"

standard_setup
start_upstream echo echo 127.0.0.1 "$BACKPORT"

spawn_client cli "$T/cli.out" "$PY" "$(dirname "$0")/held_client.py" hello "$PORT" "$T/go"
cli=$LAST_PID
check "the first echo came back" wait_grep "$T/cli.out" '^echo one$' 10

# A changed, valid config on both hosts: hello2 added, hello's settings changed.
hello2_args
write_confs a_hello="connect_timeout = 2s" "${HELLO2[@]}"
reload_hosts "applied the reload (routes republished)" a b
check_eq "no reload was rejected" 0 "$(cat "$T/a.err" "$T/b.err" | grep -c 'reload rejected' || true)"

touch "$T/go"
if wait_gone "$cli" 15; then
	st=0
	wait "$cli" || st=$?
	check_eq "the client exits 0" 0 "$st"
else
	not_ok "the client finished within 15 s of the reload"
fi
check "the second echo came back after the reload" grep -q '^echo two$' "$T/cli.out"
check "the connection ended cleanly (EOF after the echoes)" grep -q '^done$' "$T/cli.out"
grep -q '^done$' "$T/cli.out" || sed 's/^/#   client: /' "$T/cli.out"

get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
check_rec "A: the long connection's record is ok" "$ra" '.result == "ok"'
check_rec "A: 8 bytes each way" "$ra" '.bytes_sent == 8 and .bytes_received == 8'
get_record rb "$T/b.log" ".event == \"close\" and .id == $(jq '.id' <<<"$ra")"
check_rec "B: the long connection's record is ok" "$rb" '.result == "ok"'

# And a new connection after the reload works too, on both names.
touch "$T/go"
for svc in hello hello2; do
	st=0
	timeout 20 env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" \
		"$PY" "$(dirname "$0")/held_client.py" "$svc" "$PORT" "$T/go" >"$T/cli-$svc.out" 2>&1 || st=$?
	check_eq "a new connection to $svc after the reload works" 0 "$st"
done

summary
