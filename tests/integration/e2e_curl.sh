#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154  # ra/rb are set by get_record
# e2e_curl: curl http://hello:PORT/file on host A reaches the upstream on host
# B through both daemons; both hosts write one close record for it, with the
# same id and byte counts equal to what curl sent and received.
. "$(dirname "$0")/lib.sh"

standard_setup
mkdir -p "$T/www"
head -c 100000 /dev/urandom | base64 >"$T/www/file"
start_http web 127.0.0.1 "$BACKPORT" "$T/www"

st=0
w=$(mesh_client "${CURL[@]}" -o "$T/got" \
	-w '%{http_code} %{size_request} %{size_header} %{size_download}' \
	"http://hello:$PORT/file") || st=$?
check_eq "curl exits 0" 0 "$st"
read -r code sent hdr body <<<"${w:-0 0 0 0}"
check_eq "HTTP status 200" 200 "$code"
check "body equals the file" cmp -s "$T/www/file" "$T/got"
received=$((hdr + body))
note "curl sent $sent bytes, received $received ($hdr header + $body body)"

get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
id=$(jget "$ra" '.id // ""')
check "id is 16 hex characters" grep -qE '^[0-9a-f]{16}$' <<<"$id"
get_record rb "$T/b.log" ".event == \"close\" and .id == \"$id\""

src="spiffe://$TD/svc/client"
check_rec "A: direction outbound" "$ra" '.direction == "outbound"'
check_rec "A: host a" "$ra" '.host == "a"'
check_rec "A: service hello, port $PORT" "$ra" ".service == \"hello\" and .port == $PORT"
check_rec "A: result ok" "$ra" '.result == "ok"'
check_rec "A: source $src (uid 0)" "$ra" ".source == \"$src\" and .uid == 0"
check_rec "A: peer is B's hello identity" "$ra" ".peer == \"spiffe://$TD/svc/hello\""
check_rec "A: endpoint 127.0.0.2:$MESHPORT" "$ra" ".endpoint == \"127.0.0.2:$MESHPORT\""
check_rec "A: one attempt" "$ra" '.attempts == 1'
check_rec "A: tls TLSv1.3" "$ra" '.tls == "TLSv1.3"'
check_rec "A: bytes_sent = curl's request ($sent)" "$ra" ".bytes_sent == $sent"
check_rec "A: bytes_received = curl's response ($received)" "$ra" ".bytes_received == $received"
check_rec "A: time is RFC3339 UTC with ms" "$ra" '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")'
check_rec "A: connect_ms and duration_ms are numbers" "$ra" '(.connect_ms | type) == "number" and (.duration_ms | type) == "number"'

check_rec "B: direction inbound" "$rb" '.direction == "inbound"'
check_rec "B: host b" "$rb" '.host == "b"'
check_rec "B: service hello" "$rb" '.service == "hello"'
check_rec "B: result ok" "$rb" '.result == "ok"'
check_rec "B: source $src" "$rb" ".source == \"$src\""
check_rec "B: peer is the caller's identity" "$rb" ".peer == \"$src\""
check_rec "B: tls TLSv1.3" "$rb" '.tls == "TLSv1.3"'
check_rec "B: bytes_sent = curl's request ($sent)" "$rb" ".bytes_sent == $sent"
check_rec "B: bytes_received = curl's response ($received)" "$rb" ".bytes_received == $received"

# Exactly one close record per connection on each host, and nothing else
# broken in the logs.
sleep 0.5
check_eq "A: one close record for $id" 1 "$(count_records "$T/a.log" ".event == \"close\" and .id == \"$id\"")"
check_eq "B: one close record for $id" 1 "$(count_records "$T/b.log" ".event == \"close\" and .id == \"$id\"")"
for h in a b; do
	check "$h.log: every line is a JSON object with time and event" \
		jq -e -s 'length > 0 and all(.[]; type == "object" and (.time | type) == "string" and (.event | type) == "string")' "$T/$h.log"
done

summary
