#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# curl (non-blocking connect + poll + SO_ERROR): GET by mesh name; curl's own
# byte counts (-w) equal both hosts' records and the upstream's view.
. "$(dirname "$0")/lib.sh"
need curl
setup_hello
head -c 300000 /dev/urandom | base64 >"$T/www/big"

st=0
w=$(mesh_run "${CURL[@]}" -v -o "$T/got" -w '%{http_code} %{size_request} %{size_header} %{size_download}' \
	"http://hello:$PORT/big" 2>"$T/curl.err") || st=$?
check_eq "curl exits 0" 0 "$st"
read -r code sent hdr body <<<"${w:-0 0 0 0}"
check_eq "HTTP status 200" 200 "$code"
check "the body equals the upstream's file" cmp -s "$T/www/big" "$T/got"
contains "curl -v: connected to hello at the VIP" "Connected to hello ($VIP) port $PORT" "$(cat "$T/curl.err")"
CONN_PROGRAM=curl client_conns "$st" "curl" 1 web
check_pair_bytes "curl (-w size_request, size_header + size_download)" "$sent" "$((hdr + body))"

summary
