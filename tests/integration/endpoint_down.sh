#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# endpoint_down: a dead endpoint (nothing listens on 127.0.0.3) is retried
# around invisibly: with retries = 2 every request succeeds, and some record
# shows more than one attempt. A service whose only endpoint is dead fails
# fast (no hang) with result refused/no_endpoint after retries + 1 attempts.
. "$(dirname "$0")/lib.sh"

DEAD=127.0.0.3:$MESHPORT
make_certs "$TD" client hello
# round_robin: the first connection starts at the dead endpoint (p2c_ewma,
# the default, could pick the live one for all ten and show no retry).
write_confs endpoints="$DEAD, 127.0.0.2:$MESHPORT" a_hello="retries = 2
lb = round_robin" \
	a_extra="[service.down]
ports = $PORT
endpoints = $DEAD
retries = 2"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

good=0
for i in $(seq 1 10); do
	st=0
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || st=$?
	if [[ $st -eq 0 && $body == "hello from upstream" ]]; then
		good=$((good + 1))
	else
		note "request $i: curl exit status $st, body '$body'"
	fi
done
check_eq "10 of 10 requests succeed with one endpoint down" 10 "$good"

recs=$(wait_records "$T/a.log" '.event == "close" and .service == "hello"' 10) || recs=
check_eq "A: 10 close records for hello" 10 "$(grep -c . <<<"$recs" || true)"
check "A: all 10 ok" jq -e -s 'length == 10 and all(.[]; .result == "ok")' <<<"$recs"
check "A: some record shows attempts > 1" jq -e -s 'any(.[]; .attempts > 1)' <<<"$recs"
check "A: every record ended on the live endpoint" jq -e -s \
	"length == 10 and all(.[]; .endpoint == \"127.0.0.2:$MESHPORT\")" <<<"$recs"
note "attempts per request: $(jq -r -s 'map(.attempts | tostring) | join(" ")' <<<"$recs" 2>/dev/null)"

# Only endpoint down: a quick failure, not a hang. The 5 s bound is a guard
# against hanging, not a performance assertion.
st=0
timeout 5 env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" \
	"${CURL[@]}" -o /dev/null "http://down:$PORT/" 2>"$T/down.err" || st=$?
note "curl to down: exit status $st: $(head -c 200 "$T/down.err")"
check "curl to a service whose only endpoint is down fails" test "$st" -ne 0
check "and does not hang (5 s guard)" test "$st" -ne 124
get_record rd "$T/a.log" '.event == "close" and .service == "down"'
check_rec "A: result refused or no_endpoint" "$rd" '.result == "refused" or .result == "no_endpoint"'
check_rec "A: attempts = retries + 1 = 3" "$rd" '.attempts == 3'
check "A is still running" meshd_alive a

summary
