#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# plaintext_stranger: plain HTTP sent straight at host B's mesh port gets no
# HTTP answer and reaches no upstream; B records it as a tls_failure with the
# stranger's address, and keeps serving the mesh.
. "$(dirname "$0")/lib.sh"

standard_setup
start_upstream up http 127.0.0.1 "$BACKPORT"

st=0
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 nc -w 3 127.0.0.2 "$MESHPORT" >"$T/stranger.out" 2>&1 || st=$?
note "nc exit status $st, $(stat -c %s "$T/stranger.out") bytes back"
check "nc did not hang (no time limit hit)" test "$st" -ne 124
check_fail "no HTTP response to a plaintext request on the mesh port" grep -qa 'HTTP/' "$T/stranger.out"

get_record rb "$T/b.log" '.event == "close" and .result == "tls_failure"'
check_rec "B: the record names the stranger's ip:port" "$rb" \
	'(.client // "") | test("^127\\.[0-9]+\\.[0-9]+\\.[0-9]+:[0-9]+$")'
check_eq "no connection reached the upstream" 0 "$(upstream_accepts up)"
check "B is still running" meshd_alive b

check_hello "through the mesh afterwards"
get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
check_rec "A: result ok" "$ra" '.result == "ok"'

summary
