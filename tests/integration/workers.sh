#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# workers: with workers = 3 each meshd runs three event loops that share the
# VIP and mesh ports (SO_REUSEPORT). Sequential and parallel requests all
# succeed with one record each, a reload reaches every worker (a new service
# answers at once), a second meshd on the same routes is refused, and SIGTERM
# drains all workers and exits 0.
. "$(dirname "$0")/lib.sh"

make_certs "$TD" client hello
write_confs a_mesh="workers = 3" b_mesh="workers = 3"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
check "A says it runs 3 workers" grep -q "3 worker(s)" "$T/a.err"

good=0
for i in $(seq 1 30); do
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
	[[ $body == "hello from upstream" ]] && good=$((good + 1))
done
check_eq "30 sequential requests answered" 30 "$good"

: >"$T/par.out"
pids=()
for i in $(seq 1 24); do
	mesh_client "${CURL[@]}" "http://hello:$PORT/" >>"$T/par.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
check_eq "24 parallel requests answered" 24 "$(grep -c '^hello from upstream$' "$T/par.out" || true)"
recs=$(wait_records "$T/a.log" '.event == "close" and .service == "hello"' 54) || recs=
check "A: 54 ok records, ids unique" jq -e -s 'length == 54 and all(.[]; .result == "ok")
	and (map(.id) | unique | length) == 54' <<<"$recs"
brecs=$(wait_records "$T/b.log" '.event == "close" and .service == "hello"' 54) || brecs=
check "B: 54 ok records" jq -e -s 'length == 54 and all(.[]; .result == "ok")' <<<"$brecs"

# A reload reaches every worker before the snapshot names the new service.
# No pause after the new snapshot: it is published only once every worker
# has the new generation.
hello2_args
write_confs a_mesh="workers = 3" b_mesh="workers = 3" "${HELLO2[@]}"
reload_hosts "republishes its routes after the reload" b a
good=0
for i in $(seq 1 12); do
	body=$(mesh_client "${CURL[@]}" "http://hello2:$PORT/") || body=
	[[ $body == "hello from upstream" ]] && good=$((good + 1))
done
check_eq "after the reload, 12 requests to the new service answered (all workers know it)" 12 "$good"

# A second meshd on the same routes would split the VIP ports: refused.
st=0
timeout 10 "$MESHD" -c "$T/a.ini" 2>"$T/second.err" || st=$?
check "a second meshd with the same routes exits non-zero" test "$st" -ne 0 -a "$st" -ne 124
check "and says why" grep -q "another meshd is running" "$T/second.err"

st=0
stop_meshd a 10 || st=$?
check_eq "A drains its 3 workers and exits 0" 0 "$st"
st=0
stop_meshd b 10 || st=$?
check_eq "B drains its 3 workers and exits 0" 0 "$st"

summary
