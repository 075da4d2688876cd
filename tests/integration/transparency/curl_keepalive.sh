#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# curl with several URLs: all requests reuse one keep-alive connection, so
# the mesh sees one connection whose byte counts are the sum of the
# transfers, on both hosts and at the upstream.
. "$(dirname "$0")/lib.sh"
need curl
setup_hello
printf 'first %s\n' "$RANDOM$RANDOM" >"$T/www/a"
printf 'second %s\n' "$RANDOM$RANDOM" >"$T/www/b"
head -c 50000 /dev/urandom | base64 >"$T/www/c"

st=0
w=$(mesh_run "${CURL[@]}" -v -w '%{http_code} %{size_request} %{size_header} %{size_download} %{num_connects}\n' \
	-o "$T/got.a" -o "$T/got.b" -o "$T/got.c" \
	"http://hello:$PORT/a" "http://hello:$PORT/b" "http://hello:$PORT/c" 2>"$T/curl.err") || st=$?
check_eq "curl exits 0" 0 "$st"
check "got a" cmp -s "$T/www/a" "$T/got.a"
check "got b" cmp -s "$T/www/b" "$T/got.b"
check "got c" cmp -s "$T/www/c" "$T/got.c"
check_eq "three 200s, one new connection (num_connects 1 0 0)" "200 1 200 0 200 0" \
	"$(awk '{ printf "%s%s %s", (NR > 1 ? " " : ""), $1, $5 }' <<<"$w")"
contains "curl -v: re-used the connection" "Re-using existing connection" "$(cat "$T/curl.err")"
sent=$(awk '{ s += $2 } END { print s + 0 }' <<<"$w")
received=$(awk '{ s += $3 + $4 } END { print s + 0 }' <<<"$w")
CONN_PROGRAM=curl client_conns "$st" "curl a b c" 1 web
check_pair_bytes "curl a b c (sum of the three transfers)" "$sent" "$received"
check_eq "the upstream served three requests" 3 "$(grep -c '^request GET /[abc] 200' "$T/web.conns" || true)"

summary
