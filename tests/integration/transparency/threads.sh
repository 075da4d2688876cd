#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# 32 threads of one C program (tests/tools/gai_connect.c), released together,
# each resolving the mesh name with getaddrinfo, connecting and fetching the
# page at the same moment: all succeed, from the VIP, and the records on each
# host carry exactly the bytes each thread wrote and read. Ten rounds, each
# a new process: the threads' lookups are the process's first ones, so they
# race for the shim's first look at the route snapshot.
. "$(dirname "$0")/lib.sh"
build_tool gai_connect
setup_hello
ROUNDS=10

: >"$T/all"
for ((r = 1; r <= ROUNDS; r++)); do
	st=0
	mesh_run timeout 30 "$T/gai_connect" threads 32 hello "$PORT" / >"$T/out" 2>"$T/err" || st=$?
	check_eq "round $r: gai_connect threads 32 exits 0" 0 "$st"
	[[ ! -s $T/err ]] || sed 's/^/#   /' "$T/err"
	check_eq "round $r: all 32 threads got 200" "threads 32 ok 32" "$(tail -n 1 "$T/out")"
	check_eq "round $r: each thread reached the VIP and got the page" 32 \
		"$(grep -cE "^fetch [0-9]+ pid [0-9]+ peer $VIP:$PORT status 200 sent [0-9]+ received [0-9]+ body $TOKEN\$" "$T/out" || true)"
	cat "$T/out" >>"$T/all"
done

# The connections of the threads that did connect are checked either way.
k=$(grep -c '^fetch .* status 200 ' "$T/all" || true)
CONN_PROGRAM=gai_connect client_conns "$((k > 0 ? 0 : 1))" "$ROUNDS x 32 threads ($k connected)" "$k" web
check_pair_bytes "$ROUNDS x 32 threads (each thread's counts)" \
	"$(awk '$1 == "fetch" { print $10 }' "$T/all")" "$(awk '$1 == "fetch" { print $12 }' "$T/all")"

summary
