#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# upstream_timeout: host B's upstream never completes a TCP connect (a
# listener whose accept queue is full, so the kernel drops new SYNs). B
# gives up after its connect_timeout and answers the caller "timeout"
# before any byte flows; A retries and then fails the program's connect
# with ETIMEDOUT (faithful failure), and both hosts record "timeout".
. "$(dirname "$0")/lib.sh"

make_certs "$TD" client hello
write_confs a_hello="retries = 1
connect_timeout = 3s" b_hello="connect_timeout = 300ms"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"

# A listener with a backlog of 0 that never accepts, already holding one
# connection: every further SYN is dropped and connects hang.
spawn full "$T/full.log" "$PY" "$(dirname "$0")/full_listener.py" "$BACKPORT" "$T/full.ready"
wait_file "$T/full.ready" 10 || die "the full listener did not start"

got=$(mesh_client "$PY" -c '
import socket, sys
try:
    # One address, one connect (one_attempt.sh has create_connection).
    c = socket.socket()
    c.settimeout(20)
    c.connect((socket.gethostbyname("hello"), int(sys.argv[1])))
    print("connected")
except TimeoutError:
    print("ETIMEDOUT")
except OSError as e:
    print("error", e.errno)' "$PORT") || got="(client failed)"
check_eq "the program's connect fails with ETIMEDOUT, as a direct one would" "ETIMEDOUT" "$got"
get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
check_rec "A: result timeout after 2 attempts" "$ra" '.result == "timeout" and .attempts == 2'
recs=$(wait_records "$T/b.log" '.event == "close" and .service == "hello"' 2) || recs=
check "B: both attempts recorded as upstream timeouts" jq -e -s \
	'length == 2 and all(.[]; .result == "timeout" and (.detail | test("connect timed out")))' <<<"$recs"

summary
