#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# one_attempt: with retries = 0, one program connection is one mesh
# connection, also when it fails. curl and python (urllib, and
# socket.create_connection by name) try every address a lookup answers, so
# a mesh name must answer one address (AF_UNSPEC: the VIP only, no
# ::ffff:VIP after it). Services:
#   hello   two endpoints, the first dead (round_robin starts there), so
#           requests alternate between refused and ok
#   down    one dead endpoint
#   closed  host B does not allow the caller (denied)
# Each client run must leave exactly one close record on host A (one id),
# and for the denied case one on host B with the same id.
. "$(dirname "$0")/lib.sh"

DEAD=127.0.0.3:$MESHPORT
make_certs "$TD" client hello
write_confs endpoints="$DEAD, 127.0.0.2:$MESHPORT" a_hello="retries = 0
lb = round_robin" \
	a_extra="[service.down]
ports = $PORT
endpoints = $DEAD
retries = 0

[service.closed]
ports = $PORT
endpoints = 127.0.0.2:$MESHPORT
identity = hello
retries = 0" \
	b_extra="[service.closed]
ports = $PORT
upstream = 127.0.0.1:$BACKPORT
identity = hello
allow = hello"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

py_urllib() { # NAME: one GET with urllib; prints ok or the error
	mesh_client "$PY" -c '
import sys, urllib.request
try:
    urllib.request.urlopen("http://%s:%s/" % (sys.argv[1], sys.argv[2]), timeout=10).read()
    print("ok")
except Exception as e:
    print("error", type(e).__name__, e)' "$1" "$PORT"
}
py_create() { # NAME: socket.create_connection((NAME, PORT)); prints ok or the error
	mesh_client "$PY" -c '
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(4096):
        pass
    print("ok")
except OSError as e:
    print("error", e.errno, e)' "$1" "$PORT"
}
curl_get() { # NAME
	local st=0
	mesh_client "${CURL[@]}" -o /dev/null "http://$1:$PORT/" 2>/dev/null || st=$?
	if [[ $st -eq 0 ]]; then echo ok; else echo "error curl $st"; fi
}

# one DESC HOSTLOG RESULTS CMD...: run CMD (one program connection), then
# exactly one new close record on host A (and, with HOSTLOG b, on host B
# with the same id), its result one of RESULTS (a jq array).
FAILED_SEEN=0
one() {
	local desc=$1 b=$2 results=$3 ma mb out recs n ids
	shift 3
	ma=$(since "$T/a.log")
	mb=$(since "$T/b.log")
	out=$("$@" 2>&1) || true
	[[ $out == ok ]] || FAILED_SEEN=$((FAILED_SEEN + 1))
	recs=$(new_records "$T/a.log" "$ma" '.event == "close"' 1 10) || recs=
	# A second attempt would close within the client's own run; give a
	# late record a moment all the same.
	sleep 0.3
	recs=$(records "$T/a.log" '.event == "close"' "$ma")
	n=$(grep -c . <<<"$recs" || true)
	ids=$(jq -r '.id' <<<"$recs" 2>/dev/null | sort -u | grep -c . || true)
	check_eq "$desc ($out): one close record on A" 1 "$n"
	check_eq "$desc: one connection id on A" 1 "$ids"
	check "$desc: A's result is one of $results" jq -e -s \
		"length == 1 and (.[0].result as \$r | $results | index(\$r) != null) and .[0].attempts == 1" <<<"$recs"
	if [[ $b == b ]]; then
		local rb
		rb=$(new_records "$T/b.log" "$mb" '.event == "close"' 1 10) || rb=
		sleep 0.2
		rb=$(records "$T/b.log" '.event == "close"' "$mb")
		check_eq "$desc: one close record on B" 1 "$(grep -c . <<<"$rb" || true)"
		check_eq "$desc: B's record has A's id" "$(jq -r .id <<<"$recs" 2>/dev/null)" \
			"$(jq -r .id <<<"$rb" 2>/dev/null | head -n 1)"
	fi
}

# hello: refused and ok alternate (round_robin, the dead endpoint first).
for i in 1 2; do
	one "curl hello #$i" - '["ok","refused"]' curl_get hello
	one "python urllib hello #$i" - '["ok","refused"]' py_urllib hello
	one "python create_connection hello #$i" - '["ok","refused"]' py_create hello
done
check "some of the hello connections failed (the dead endpoint was tried)" test "$FAILED_SEEN" -gt 0
hello_ok=$(count_records "$T/a.log" '.event == "close" and .service == "hello" and .result == "ok"')
hello_bad=$(count_records "$T/a.log" '.event == "close" and .service == "hello" and .result == "refused"')
note "hello: $hello_ok ok, $hello_bad refused"
check_eq "hello: 6 connections, 3 refused and 3 ok (round robin over two endpoints)" "3 3" \
	"$hello_ok $hello_bad"

one "curl down" - '["refused","no_endpoint"]' curl_get down
one "python urllib down" - '["refused","no_endpoint"]' py_urllib down
one "python create_connection down" - '["refused","no_endpoint"]' py_create down

one "curl closed (denied)" b '["denied"]' curl_get closed
one "python urllib closed (denied)" b '["denied"]' py_urllib closed
one "python create_connection closed (denied)" b '["denied"]' py_create closed
check_eq "B: 3 denied records for closed" 3 \
	"$(count_records "$T/b.log" '.event == "close" and .service == "closed" and .result == "denied"')"
check_eq "nothing of closed reached the upstream beyond hello's" "$hello_ok" "$(upstream_accepts up)"

summary
