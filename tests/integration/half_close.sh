#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154  # ra/rb are set by get_record
# half_close: the client's FIN travels through both daemons while the other
# direction stays open. The upstream reads until EOF and only then answers
# with the byte count and sha256 of what it got; `nc -N` shuts down its write
# side at the end of stdin and keeps reading the answer.
. "$(dirname "$0")/lib.sh"

standard_setup
start_upstream sink sha 127.0.0.1 "$BACKPORT"

head -c $((1 << 20)) /dev/urandom >"$T/data"
size=$(stat -c %s "$T/data")
want="$size $(sha256sum "$T/data" | cut -d' ' -f1)"

st=0
reply=$(timeout 20 env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" \
	nc -N -w 10 hello "$PORT" <"$T/data") || st=$?
check_eq "nc -N exits 0" 0 "$st"
check_eq "the upstream saw EOF and all $size bytes; its answer came back" "$want" "$reply"

get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
get_record rb "$T/b.log" '.event == "close" and .service == "hello" and .direction == "inbound"'
check_rec "A: result ok" "$ra" '.result == "ok"'
check_rec "B: result ok" "$rb" '.result == "ok"'
check_rec "A: bytes_sent = $size" "$ra" ".bytes_sent == $size"
check_rec "B: bytes_sent = $size" "$rb" ".bytes_sent == $size"
check_rec "A: bytes_received = the answer (${#want} + 1)" "$ra" ".bytes_received == $((${#want} + 1))"
check_rec "B: bytes_received = the answer (${#want} + 1)" "$rb" ".bytes_received == $((${#want} + 1))"

summary
