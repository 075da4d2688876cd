#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154  # ra/rb are set by get_record
# large_transfer: 128 MiB through both daemons arrives intact, and both
# hosts' records count at least that many bytes.
. "$(dirname "$0")/lib.sh"

SIZE=$((128 << 20))
standard_setup
mkdir -p "$T/www"
head -c "$SIZE" /dev/urandom >"$T/www/big"
want=$(sha256sum "$T/www/big" | cut -d' ' -f1)
start_http web 127.0.0.1 "$BACKPORT" "$T/www"

# Piped into sha256sum so that the copy never lands on disk.
st=0
got=$(mesh_client "${CURL[@]}" --max-time 50 "http://hello:$PORT/big" | sha256sum | cut -d' ' -f1) || st=$?
check_eq "curl | sha256sum exits 0" 0 "$st"
check_eq "sha256 of the 128 MiB download" "$want" "$got"
rm -f "$T/www/big"

get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
get_record rb "$T/b.log" '.event == "close" and .service == "hello" and .direction == "inbound"'
check_rec "A: result ok" "$ra" '.result == "ok"'
check_rec "B: result ok" "$rb" '.result == "ok"'
check_rec "A: same id as B" "$ra" "(.id | type) == \"string\" and .id == $(jq '.id' <<<"$rb")"
check_rec "A: bytes_received >= 128 MiB" "$ra" ".bytes_received >= $SIZE"
check_rec "B: bytes_received >= 128 MiB" "$rb" ".bytes_received >= $SIZE"
check_rec "A: bytes_sent is the small request" "$ra" '.bytes_sent > 0 and .bytes_sent < 4096'

summary
