#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# curl -6 by mesh name: curl must find an IPv6 answer (the shim answers
# AF_INET6 lookups with ::ffff:VIP), connect its AF_INET6 socket there and
# reach the service. curl 7.88 resolves with AF_UNSPEC even under -6 and
# keeps only the AF_INET6 answers, so the AF_UNSPEC answer must include one.
# Also an explicit [::ffff:VIP] URL (no lookup at all).
. "$(dirname "$0")/lib.sh"
need curl
setup_hello

st=0
w=$(MESH_DEBUG=1 mesh_run "${CURL[@]}" -6 -v -o "$T/got" -w '%{http_code} %{remote_ip} %{size_request} %{size_header} %{size_download}' \
	"http://hello:$PORT/" 2>"$T/curl.err") || st=$?
check_eq "curl -6 exits 0" 0 "$st"
read -r code rip sent hdr body <<<"${w:-0 - 0 0 0}"
check_eq "HTTP status 200" 200 "$code"
check_eq "curl's remote_ip is ::ffff:VIP" "::ffff:$VIP" "$rip"
check_eq "the body is the upstream's page" "$TOKEN" "$(cat "$T/got" 2>/dev/null)"
contains "curl -v: connected to hello at ::ffff:VIP" "Connected to hello (::ffff:$VIP) port $PORT" "$(cat "$T/curl.err")"
client_conns "$st" "curl -6" 1 web
check_pair_bytes "curl -6 (-w counts)" "$sent" "$((hdr + body))"

st=0
w=$(mesh_run "${CURL[@]}" -g -v -o "$T/got" -w '%{http_code} %{size_request} %{size_header} %{size_download}' \
	"http://[::ffff:$VIP]:$PORT/" 2>"$T/curl.err") || st=$?
check_eq "curl http://[::ffff:VIP]:PORT/ exits 0" 0 "$st"
read -r code sent hdr body <<<"${w:-0 0 0 0}"
check_eq "and gets the upstream's page" "$TOKEN" "$(cat "$T/got" 2>/dev/null)"
contains "curl -v: connected to ::ffff:VIP" "Connected to ::ffff:$VIP (::ffff:$VIP) port $PORT" "$(cat "$T/curl.err")"
client_conns "$st" "curl [::ffff:VIP]" 1 web
check_pair_bytes "curl [::ffff:VIP] (-w counts)" "$sent" "$((hdr + body))"

summary
