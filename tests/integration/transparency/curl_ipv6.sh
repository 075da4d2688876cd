#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# curl -6 and IPv6 answers. Without IPv6 VIPs (this scenario) a mesh name
# is like a name with only an A record: curl 7.88 resolves with AF_UNSPEC
# even under -6 and keeps only the AF_INET6 answers, so it finds none and
# fails without making any connection (ipv6_vip.sh has curl -6 reaching a
# service by name through an IPv6 VIP). An explicit [::ffff:VIP] URL (no
# lookup at all) reaches the service.
. "$(dirname "$0")/lib.sh"
need curl
setup_hello

mark=$(since "$T/a.log")
st=0
MESH_DEBUG=1 mesh_run "${CURL[@]}" -6 -v -o /dev/null "http://hello:$PORT/" 2>"$T/curl.err" || st=$?
check "curl -6 http://hello/ fails: no IPv6 address for the name (status $st)" test "$st" -ne 0
contains "the shim answered the AF_UNSPEC lookup with the VIP only" \
	"resolve hello -> $VIP (mesh)" "$(cat "$T/curl.err")"
lacks "and no ::ffff: address" "::ffff:" "$(cat "$T/curl.err")"
sleep 0.5
check_eq "curl -6 by name made no mesh connection (no record on A)" 0 \
	"$(records "$T/a.log" '.service == "hello"' "$mark" | wc -l)"

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
