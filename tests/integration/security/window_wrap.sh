#!/usr/bin/env bash
# shellcheck disable=SC2154  # records are set by get_record
# window_wrap: frames from a peer holding a valid mesh certificate (identity
# rogue) that break the link protocol each end the link, with a
# protocol_error record naming what was wrong (and the open stream's own
# record); host A is served throughout.
#   - WINDOW credit of 0xffffffff on a stream holding its full 1 MiB: the
#     sum wraps around 2^32 (before: it wrapped silently to 1 MiB - 1 and
#     passed the check, and the link lived on)
#   - a frame for stream id 0 (before: dropped, the link lived on)
#   - an OPEN for an id in use, and one below the last id opened (before:
#     the second was taken as a new stream)
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello rogue
standard_setup "allow=client, rogue"
start_upstream up http 127.0.0.1 "$BACKPORT"

ROGUE=spiffe://$TD/svc/rogue
for c in window_wrap stream0 reuse_id old_id; do
	mark=$(since "$T/b.log")
	out=$(timeout 30 "$PY" "$(dirname "$0")/flood_peer.py" "$T/certs/ca.pem" "$T/certs/rogue.pem" \
		"$T/certs/rogue.key" "127.0.0.2:$MESHPORT" "$c" hello "$PORT" 2>&1) || true
	note "$c: $(tr '\n' ' ' <<<"$out")"
	check_eq "$c: the first stream is accepted" "status 0" "$(grep '^status ' <<<"$out")"
	check_eq "$c: B ends the link" "closed True" "$(grep '^closed' <<<"$out")"
	case $c in
	window_wrap) why='credit beyond the window \\(1048576 \\+ 4294967295\\)' ;;
	stream0) why='frame for stream id 0' ;;
	reuse_id) why='OPEN for stream 1 \\(in use\\)' ;;
	old_id) why='OPEN for stream 3 \\(ids must increase\\)' ;;
	esac
	r=$(new_records "$T/b.log" "$mark" ".result == \"protocol_error\" and .source == \"$ROGUE\"" 1 5 | head -n 1) || r='{}'
	check_rec "$c: B records a protocol_error for the link, saying why" "$r" ".detail | test(\"$why\")"
	r=$(new_records "$T/b.log" "$mark" '.id == "0000000000005001"' 1 5 | head -n 1) || r='{}'
	check_rec "$c: and the open stream ends (reset) with its own record" "$r" \
		".result == \"reset\" and (.detail | test(\"$why\"))"
	check_hello "$c: host A's request after"
done
check "meshd B is still running" kill -0 "$(meshd_pid b)"
summary
