#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# log_reopen: logrotate style. Move the traffic log away, SIGUSR1: later
# records go to a fresh file at the configured path, earlier ones stay in the
# moved file.
. "$(dirname "$0")/lib.sh"

standard_setup
start_upstream up http 127.0.0.1 "$BACKPORT"

get() { mesh_client "${CURL[@]}" "http://hello:$PORT/"; }

body=$(get) || body=
check_eq "first request works" "hello from upstream" "$body"
get_record r1 "$T/a.log" '.event == "close" and .service == "hello"'
id1=$(jget "$r1" '.id // ""')

mv "$T/a.log" "$T/a.log.1" || die "no traffic log $T/a.log to move"
signal_meshd a USR1
# meshd may create the new file at once or at the next record; either is
# fine, but give the signal a moment to be handled before the next request.
wait_file "$T/a.log" 3 || true
check "A is still running after SIGUSR1" meshd_alive a

body=$(get) || body=
check_eq "second request works" "hello from upstream" "$body"
get_record r2 "$T/a.log" '.event == "close" and .service == "hello"'
id2=$(jget "$r2" '.id // ""')
check "the new record is a different connection" test -n "$id2" -a "$id2" != "$id1"
check_rec "the new record is ok" "$r2" '.result == "ok"'
check_eq "the moved file kept the first record only" 1 \
	"$(count_records "$T/a.log.1" '.event == "close" and .service == "hello"')"
check_eq "the new file has no record of the first connection" 0 \
	"$(count_records "$T/a.log" ".id == \"$id1\"")"

summary
