#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154  # records are set by get_record
# e2e_python: python3's urllib (getaddrinfo + connect inside CPython) reaches
# the mesh service by its short name and by NAME.SUFFIX ("hello.mesh").
. "$(dirname "$0")/lib.sh"

standard_setup
mkdir -p "$T/www"
printf 'hello from the upstream, %s\n' "$RANDOM$RANDOM" >"$T/www/index.html"
start_http web 127.0.0.1 "$BACKPORT" "$T/www"

fetch() { # URL -> body on stdout
	mesh_client "$PY" - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=15) as r:
    sys.stdout.write(r.read().decode())
PY
}

for host in hello hello.mesh; do
	st=0
	body=$(fetch "http://$host:$PORT/") || st=$?
	check_eq "python3 urlopen http://$host:$PORT/ exits 0" 0 "$st"
	check_eq "body from http://$host:$PORT/ is the upstream's index.html" "$(cat "$T/www/index.html")" "$body"
done

vip=$(mesh_resolve hello) || vip=
vip2=$(mesh_resolve hello.mesh) || vip2=
check "hello resolves to a VIP in 127.77.0.0/16 ($vip)" grep -qE '^127\.77\.[0-9]+\.[0-9]+$' <<<"$vip"
check_eq "hello.mesh resolves to the same VIP" "$vip" "$vip2"

recs=$(wait_records "$T/a.log" '.event == "close" and .service == "hello"' 2) || recs=
check_eq "A: two close records for hello" 2 "$(grep -c . <<<"$recs" || true)"
check "A: both ok, outbound, as client" jq -e -s \
	"length == 2 and all(.[]; .result == \"ok\" and .direction == \"outbound\" and .source == \"spiffe://$TD/svc/client\")" <<<"$recs"
recs=$(wait_records "$T/b.log" '.event == "close" and .service == "hello"' 2) || recs=
check "B: two ok inbound close records for hello" jq -e -s \
	'length == 2 and all(.[]; .result == "ok" and .direction == "inbound")' <<<"$recs"

summary
