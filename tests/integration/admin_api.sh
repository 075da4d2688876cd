#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2016  # records are set by get_record; jq programs
# admin_api: every route of the admin listener on two real meshd (A calls,
# B serves): each JSON view parses, /config names key paths and never holds
# key material, a held connection shows in /connections on both hosts, the
# link in /links, the endpoint in /endpoints; 404, 405, 400, 413; POST
# /reload as root is accepted, a broken file is rejected with its
# file:line error (and /config keeps it as the last reload); as `nobody`
# POST /reload is 403 while GET works; a Host other than a loopback literal
# or localhost is 403 (DNS rebinding), and so is a POST /reload with an
# Origin or a form's Content-Type; a reload that changes admin or points
# the log where it cannot be opened is accepted with warnings saying so,
# and /config shows what runs and "pending_restart". /failures: a refused connection and
# a denied one, newest first on both hosts, each saying what its close
# record says (the same id); its limit; a flood of 500 refusals leaves
# exactly 32 entries in each of A's two workers, and /failures small.
. "$(dirname "$0")/lib.sh"

ADMIN_A=$((MESHPORT + 7))
ADMIN_B=$((MESHPORT + 8))
# confs with the admin listener on (write_confs writes admin = off).
confs() {
	write_confs "$@"
	sed -i "s/^admin = off$/admin = 127.0.0.1:$ADMIN_A/" "$T/a.ini"
	sed -i "s/^admin = off$/admin = 127.0.0.1:$ADMIN_B/" "$T/b.ini"
}
make_certs "$TD" client hello
hello2_args "$PORT2" "$BACKPORT2" # hello2: an echo service for a held connection
# down: B's upstream for it refuses (nothing listens on BACKPORT3), and A
# does not retry; nope: B allows only identity hello, so A's client is
# denied. A runs two workers (each keeps its own failures).
SVCS=("a_mesh=workers = 2" "${HELLO2[0]}

[service.down]
ports = $PORT3
endpoints = 127.0.0.2:$MESHPORT
identity = hello
retries = 0

[service.nope]
ports = $PORT3
endpoints = 127.0.0.2:$MESHPORT
identity = hello" "${HELLO2[1]}

[service.down]
ports = $PORT3
upstream = 127.0.0.1:$BACKPORT3
identity = hello
allow = client

[service.nope]
ports = $PORT3
upstream = 127.0.0.1:$BACKPORT
identity = hello
allow = hello")
confs "${SVCS[@]}"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
start_upstream echo echo 127.0.0.1 "$BACKPORT2"

# adm PORT PATH [curl args]: body; status in $T/status.
adm() {
	local port=$1 path=$2
	shift 2
	curl -sS --max-time 5 -o "$T/body" -w '%{http_code}' "$@" "http://127.0.0.1:$port$path" >"$T/status" || true
	cat "$T/body"
}
status() { cat "$T/status"; }
json_ok() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/body"; }

body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
check_eq "hello works with the admin listeners on" "hello from upstream" "$body"

adm "$ADMIN_A" /ready >/dev/null
check_eq "A /ready: 200" 200 "$(status)"
check_eq "A /ready says ready" ready "$(cat "$T/body")"
adm "$ADMIN_A" /live >/dev/null
check_eq "A /live: 200 live" "200 live" "$(status) $(cat "$T/body")"

for p in /stats /config /connections /endpoints /links /failures; do
	for port in "$ADMIN_A" "$ADMIN_B"; do
		adm "$port" "$p" >/dev/null
		check_eq "GET $p on :$port: 200" 200 "$(status)"
		check "GET $p on :$port parses as JSON" json_ok
	done
done
adm "$ADMIN_A" /metrics >/dev/null
check_eq "A /metrics: 200" 200 "$(status)"
check "A /metrics is Prometheus text (libmesh_build_info)" grep -q '^libmesh_build_info{version="' "$T/body"
ctype=$(curl -sS -o /dev/null -w '%{content_type}' "http://127.0.0.1:$ADMIN_A/metrics")
check_eq "A /metrics content type" "text/plain; version=0.0.4; charset=utf-8" "$ctype"

# /config: the effective config, paths to keys, no key material.
cfg=$(adm "$ADMIN_A" /config)
check_eq "/config: path" "$T/a.ini" "$(jq -r .path <<<"$cfg")"
check_eq "/config: generation 1" 1 "$(jq -r .generation <<<"$cfg")"
check_eq "/config: mesh.host" a "$(jq -r .mesh.host <<<"$cfg")"
check_eq "/config: mesh.admin" "127.0.0.1:$ADMIN_A" "$(jq -r .mesh.admin <<<"$cfg")"
check_eq "/config: mesh.progress_interval (default 10 s)" 10 "$(jq -r .mesh.progress_interval <<<"$cfg")"
check_eq "/config: identity client's key is a path" "$(ini_get "$T/a.ini" identity.client key)" \
	"$(jq -r '.identities[0].key' <<<"$cfg")"
check "/config: the certificate's not_after is a time" jq -e '.identities[0].not_after > 1600000000' <<<"$cfg"
check_eq "/config: service hello's endpoint" "127.0.0.2:$MESHPORT" "$(jq -r '.services[0].endpoints[0].address' <<<"$cfg")"
check "/config: hello has a VIP" jq -e '.services[0].vip | startswith("127.77.")' <<<"$cfg"
check_fail "/config holds no PEM (no key material)" grep -q 'BEGIN' <<<"$cfg"
keyline=$(grep -v '^-----' "$(ini_get "$T/a.ini" identity.client key)" | head -n 1)
check_fail "/config holds no line of the private key" grep -qF "$keyline" <<<"$cfg"

# A held connection: /connections on both hosts, /links, /endpoints.
spawn_client held "$T/held.out" "$PY" "$(dirname "$0")/held_client.py" hello2 "$PORT2" "$T/go"
check "the held connection is up" wait_grep "$T/held.out" 'echo one' 10
conns=$(adm "$ADMIN_A" /connections)
check_eq "A /connections: one, outbound, relaying, to hello2" "outbound relay hello2 $PORT2" \
	"$(jq -r '.connections[] | select(.service == "hello2") | "\(.direction) \(.state) \(.service) \(.port)"' <<<"$conns")"
check "A /connections: the caller is uid 0, python, identity client, 4 bytes each way" \
	jq -e '.connections[] | select(.service == "hello2") | .uid == 0 and (.program | test("python")) and (.source | endswith("/client")) and .bytes_sent == 4 and .bytes_received == 4' <<<"$conns"
check "A /connections: a 16-hex-digit id" jq -e '.connections[0].id | test("^[0-9a-f]{16}$")' <<<"$conns"
connsb=$(adm "$ADMIN_B" /connections)
check_eq "B /connections: the same connection, inbound" \
	"$(jq -r '.connections[] | select(.service == "hello2") | .id' <<<"$conns")" \
	"$(jq -r '.connections[] | select(.service == "hello2" and .direction == "inbound") | .id' <<<"$connsb")"
adm "$ADMIN_A" "/connections?limit=0" >/dev/null
check "/connections?limit=0: none and truncated" jq -e '(.connections | length) == 0 and .truncated' "$T/body"
adm "$ADMIN_A" "/connections?limit=x" >/dev/null
check_eq "/connections?limit=x: 400" 400 "$(status)"
adm "$ADMIN_A" "/connections?limit=10001" >/dev/null
check_eq "/connections?limit=10001: 400 (max 10000)" 400 "$(status)"
adm "$ADMIN_A" "/connections?xlimit=3" >/dev/null
check_eq "/connections?xlimit=3: 200 (another parameter, not limit)" 200 "$(status)"
links=$(adm "$ADMIN_A" /links)
check "A /links: an up link out to B, carrying a stream" \
	jq -e '[.links[] | select(.direction == "out" and .state == "up" and .streams >= 1 and (.peer | endswith("/hello")))] | length >= 1' <<<"$links"
linksb=$(adm "$ADMIN_B" /links)
check "B /links: the link in" jq -e '[.links[] | select(.direction == "in" and .state == "up")] | length >= 1' <<<"$linksb"
eps=$(adm "$ADMIN_A" /endpoints)
check "A /endpoints: hello2's endpoint healthy, one connection, an EWMA, last ok" \
	jq -e '.services[] | select(.service == "hello2") | .endpoints[0] | .state == "healthy" and .connections == 1 and .ewma_ms > 0 and .last_result == "ok"' <<<"$eps"
touch "$T/go"
check "the held connection ends cleanly" wait_grep "$T/held.out" 'done' 10

# Recent failures: a refused connection, then a denied one.
# A connect tries each address the name resolves to: every attempt is a
# connection of its own, with its own record (connect_probe.py: one
# connect() call).
probe=$(dirname "$0")/connect_probe.py
check_eq "a connect to down is refused" ECONNREFUSED "$(mesh_client "$PY" "$probe" down "$PORT3" 10 | cut -d' ' -f1)"
get_record rdown "$T/a.log" '.event == "close" and .service == "down"'
check_rec "A: down's connection was refused" "$rdown" '.result == "refused"'
check_eq "a connect to nope is refused" ECONNREFUSED "$(mesh_client "$PY" "$probe" nope "$PORT3" 10 | cut -d' ' -f1)"
get_record rnope "$T/a.log" '.event == "close" and .service == "nope"'
check_rec "A: nope's connection was denied" "$rnope" '.result == "denied"'
get_record bnope "$T/b.log" '.event == "close" and .service == "nope"'
sleep 0.5 # the other attempts' records
failed='.event == "close" and (.service == "down" or .service == "nope")'
# same_as RECORD: true of a /failures document (stdin) that holds RECORD's
# connection once, saying what the record says.
same_as() {
	jq -e --argjson r "$1" '[.failures[] | select(.id == $r.id)] | length == 1 and
		(.[0] | [.direction, .service, .port, .source, .endpoint, .peer, .result, .detail, .uid, .pid, .program])
		== ($r | [.direction, .service, .port, .source, .endpoint, .peer, .result, .detail, .uid, .pid, .program])'
}
for h in a b; do
	aport=$ADMIN_A
	[[ $h == a ]] || aport=$ADMIN_B
	f=$(adm "$aport" /failures)
	check "$h /failures parses as JSON" json_ok
	recs=$(records "$T/$h.log" "$failed")
	note "$h: $(wc -l <<<"$recs") close records of down and nope"
	check_eq "$h /failures: down's (refused) and nope's (denied), newest first, the records' ids" \
		"$(jq -r '"\(.id) \(.result)"' <<<"$recs" | tac)" \
		"$(jq -r '.failures[] | select(.service == "down" or .service == "nope") | "\(.id) \(.result)"' <<<"$f")"
	check_eq "$h /failures: flags UF and DI" "DI UF" \
		"$(jq -r '[.failures[] | select(.service == "down" or .service == "nope") | .flag] | unique | join(" ")' <<<"$f")"
	while read -r r; do
		check "$h /failures: $(jget "$r" '"\(.service) \(.id)"') says what its record says" same_as "$r" <<<"$f"
	done <<<"$recs"
	check "$h /failures: times newest first, the newest of the last minute" \
		jq -e '(.failures | length) >= 2 and ([.failures[].time] | . == (sort | reverse)) and (.now - .failures[0].time) < 60 and (.now - .failures[0].time) >= 0' <<<"$f"
	check "$h /failures: its host, every worker answered" jq -e --arg h "$h" '.unanswered == [] and .host == $h' <<<"$f"
done
rnope=$(records "$T/a.log" '.event == "close" and .service == "nope"' | tail -n 1)
# (pid and program only when the shim's question came before the refusal,
# as in the record, which the loop above compares: not under a slow
# sanitizer build)
check "A /failures: the refused one is outbound, from identity client, uid 0, to B" \
	jq -e --arg id "$(jget "$rdown" .id)" --arg ep "127.0.0.2:$MESHPORT" --argjson port "$PORT3" \
	'.failures[] | select(.id == $id) | .direction == "outbound" and (.source | endswith("/client")) and .uid == 0 and (.pid == null or (.program | test("python"))) and .port == $port and .endpoint == $ep' \
	<<<"$(adm "$ADMIN_A" /failures)"
check "B /failures: the denied one is inbound, from client, no caller of its own" \
	jq -e --arg id "$(jget "$bnope" .id)" \
	'.failures[] | select(.id == $id) | .direction == "inbound" and (.source | endswith("/client")) and .uid == null and .pid == null' \
	<<<"$(adm "$ADMIN_B" /failures)"
adm "$ADMIN_A" "/failures?limit=1" >/dev/null
check_eq "/failures?limit=1: the newest only" "$(jget "$rnope" .id)" "$(jq -r '[.failures[].id] | join(" ")' "$T/body")"
adm "$ADMIN_A" "/failures?limit=0" >/dev/null
check "/failures?limit=0: none" jq -e '.failures == []' "$T/body"
adm "$ADMIN_A" "/failures?limit=x" >/dev/null
check_eq "/failures?limit=x: 400" 400 "$(status)"
adm "$ADMIN_A" "/failures?limit=1025" >/dev/null
check_eq "/failures?limit=1025: 400 (max 1024)" 400 "$(status)"

# Errors.
adm "$ADMIN_A" /nosuch >/dev/null
check_eq "unknown path: 404" 404 "$(status)"
adm "$ADMIN_A" /metrics -X POST >/dev/null
check_eq "POST /metrics: 405" 405 "$(status)"
allow=$(curl -sS -D - -o /dev/null -X DELETE "http://127.0.0.1:$ADMIN_A/reload" | tr -d '\r' | sed -n 's/^Allow: //p')
check_eq "DELETE /reload: Allow: POST" POST "$allow"
adm "$ADMIN_A" /reload >/dev/null
check_eq "GET /reload: 405" 405 "$(status)"
adm "$ADMIN_A" /reload -X POST -d 'x=1' >/dev/null
check_eq "POST /reload with a body: 413" 413 "$(status)"
raw() { # BYTES: the status line meshd answers to these bytes
	printf "$1" | timeout 5 "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
print(s.recv(100).decode().split("\r\n")[0])' "$ADMIN_A"
}
check_eq "a space before the colon: 400" "HTTP/1.1 400 Bad Request" "$(raw 'GET /ready HTTP/1.1\r\nHost : x\r\n\r\n')"
check_eq "HTTP/2.0: 505" "HTTP/1.1 505 HTTP Version Not Supported" "$(raw 'GET /ready HTTP/2.0\r\n\r\n')"
check_eq "a request line without a version: 400" "HTTP/1.1 400 Bad Request" "$(raw 'GET /ready\r\n\r\n')"

# POST /reload as root: accepted, generation 2.
rl=$(adm "$ADMIN_A" /reload -X POST)
check_eq "POST /reload as root: 200" 200 "$(status)"
check_eq "POST /reload: accepted, generation 2" "accepted 2" "$(jq -r '"\(.result) \(.generation)"' <<<"$rl")"
check_eq "/config: generation 2" 2 "$(adm "$ADMIN_A" /config | jq -r .generation)"
check_eq "/config: the last reload accepted" accepted "$(adm "$ADMIN_A" /config | jq -r .last_reload.result)"

# A broken file: rejected with file:line, generation stays 2.
confs "${SVCS[@]}" a_mesh="workers = 2
no_such_key = 1"
line=$(grep -n '^no_such_key' "$T/a.ini" | cut -d: -f1)
rl=$(adm "$ADMIN_A" /reload -X POST)
check_eq "POST /reload of a broken file: 400" 400 "$(status)"
check_eq "rejected, generation still 2" "rejected 2" "$(jq -r '"\(.result) \(.generation)"' <<<"$rl")"
check "the error names $T/a.ini:$line" jq -e --arg p "$T/a.ini:$line:" '.errors | any(startswith($p) and test("no_such_key"))' <<<"$rl"
cfg=$(adm "$ADMIN_A" /config)
check "/config: the last reload rejected, with the error" \
	jq -e --arg p "$T/a.ini:$line:" '.last_reload.result == "rejected" and (.last_reload.errors | any(startswith($p)))' <<<"$cfg"
check "A logs the rejection as for SIGHUP" grep -q 'error: reload rejected, keeping the running configuration' "$T/a.err"
body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
check_eq "hello still works" "hello from upstream" "$body"
confs "${SVCS[@]}"

# As nobody: GET works, POST /reload is 403.
nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
code=$(nobody curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/stats")
check_eq "as nobody: GET /stats 200" 200 "$code"
out=$(nobody curl -sS -w '\n%{http_code}' -X POST "http://127.0.0.1:$ADMIN_A/reload")
check_eq "as nobody: POST /reload 403" 403 "$(tail -n 1 <<<"$out")"
check "the 403 says who may" grep -q "uid $(id -u nobody) may not reload" <<<"$out"
check_eq "/config: still generation 2" 2 "$(adm "$ADMIN_A" /config | jq -r .generation)"

# A flood of 500 refusals straight to down's VIP (A writes 100 records of
# them and counts the rest into aggregates): each worker keeps exactly its
# last 32, and /failures stays small.
cat >"$T/flood.py" <<'PY'
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
done = 0
for _ in range(n):
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.recv(100)
        s.close()
    except OSError:
        pass
    done += 1
print(done)
PY
check_eq "500 connections to down" 500 "$("$PY" "$T/flood.py" "$(mesh_resolve down)" "$PORT3" 500)"
check "A counted refusals into aggregates (written at the latest after 10 s)" \
	wait_record "$T/a.log" '.event == "aggregate" and .direction == "outbound"' 15
adm "$ADMIN_A" "/failures?limit=1024" >/dev/null
check "A /failures after the flood parses" json_ok
note "A /failures?limit=1024 after the flood: $(jq '.failures | length' "$T/body") entries, $(wc -c <"$T/body") bytes"
check_eq "A: 32 failures kept in each of its 2 workers, all down's" "0:32 1:32" \
	"$(jq -r '[.failures[] | select(.service == "down")] | group_by(.worker) | map("\(.[0].worker):\(length)") | join(" ")' "$T/body")"
check_eq "A /failures: 64 entries in all" 64 "$(jq '.failures | length' "$T/body")"
check "A /failures?limit=1024 is under 64 KiB" test "$(wc -c <"$T/body")" -lt 65536
check "A /failures: still newest first" jq -e '[.failures[].time] | . == (sort | reverse)' "$T/body"
unrecorded=$(jq -r '.failures[].id' "$T/body" | while read -r id; do
	grep -q "\"id\":\"$id\"" "$T/a.log" || echo "$id"
done | wc -l)
note "A: $unrecorded of the 64 have no record of their own (counted into an aggregate)"
check "A: failures whose record an aggregate counted are kept too" test "$unrecorded" -ge 1
adm "$ADMIN_B" "/failures?limit=1024" >/dev/null
check "B: at most 32 failures in any worker" \
	jq -e '[.failures | group_by(.worker)[] | length] | max <= 32' "$T/body"
code=$(nobody curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/failures")
check_eq "as nobody: GET /failures 200" 200 "$code"

# The Host header (DNS rebinding): only loopback literals and localhost.
adm "$ADMIN_A" /config -H 'Host: evil.example' >/dev/null
check_eq "Host: evil.example: 403 Host not allowed" "403 Host not allowed" "$(status) $(cat "$T/body")"
adm "$ADMIN_A" /metrics -H "Host: evil.example:$ADMIN_A" >/dev/null
check_eq "Host: evil.example:PORT on /metrics: 403" 403 "$(status)"
adm "$ADMIN_A" /reload -X POST -H 'Host: evil.example' >/dev/null
check_eq "POST /reload with Host: evil.example: 403" 403 "$(status)"
for h in localhost "localhost:$ADMIN_A" "127.0.0.1:$ADMIN_A" 127.0.0.1; do
	adm "$ADMIN_A" /ready -H "Host: $h" >/dev/null
	check_eq "Host: $h: 200" 200 "$(status)"
done
check_eq "HTTP/1.0 without Host: 200" "HTTP/1.1 200 OK" "$(raw 'GET /ready HTTP/1.0\r\n\r\n')"
check_eq "HTTP/1.1 without Host: 400" "HTTP/1.1 400 Bad Request" "$(raw 'GET /ready HTTP/1.1\r\n\r\n')"
# A browser's own POST (an Origin, a form's Content-Type): refused.
adm "$ADMIN_A" /reload -X POST -H 'Origin: http://127.0.0.1:8080' >/dev/null
check "POST /reload with an Origin: 403, saying why" grep -q 'Origin' "$T/body"
check_eq "POST /reload with an Origin: 403" 403 "$(status)"
adm "$ADMIN_A" /reload -X POST -H 'Content-Type: text/plain' >/dev/null
check_eq "POST /reload with Content-Type: text/plain: 403" 403 "$(status)"
check_eq "/config: those reloads did not run (generation 2)" 2 "$(adm "$ADMIN_A" /config | jq -r .generation)"

# Restart-only keys and a traffic log that cannot be opened: the reload
# is accepted, and its answer and /config say what did not take effect.
ADMIN_NEW=$((MESHPORT + 9))
confs "${SVCS[@]}"
sed -i "s/^admin = .*/admin = 127.0.0.1:$ADMIN_NEW/" "$T/a.ini"
# (on a read-only tmpfs: the path checks pass, open fails with EROFS)
mkdir -p "$T/ro"
mount -t tmpfs -o ro,size=64k,mode=0755 tmpfs "$T/ro" || die "cannot mount a tmpfs on $T/ro"
on_exit 'umount "$T/ro"'
badlog=$T/ro/a.log
sed -i "s|^log = .*|log = $badlog|" "$T/a.ini"
rl=$(adm "$ADMIN_A" /reload -X POST)
check_eq "reload with a new admin address and an unopenable log: 200, accepted, generation 3" \
	"200 accepted 3" "$(status) $(jq -r '"\(.result) \(.generation)"' <<<"$rl")"
check "its warnings: admin waits for a restart, naming both addresses" \
	jq -e --arg n "127.0.0.1:$ADMIN_NEW" --arg o "127.0.0.1:$ADMIN_A" \
	'.warnings | any(startswith("admin = \($n) takes effect at the next restart") and contains($o))' <<<"$rl"
check "its warnings: the traffic log could not be opened" \
	jq -e --arg p "$badlog" '.warnings | any(startswith("cannot open traffic log \($p)"))' <<<"$rl"
check "A logs the warnings too" grep -q "warn: admin = 127.0.0.1:$ADMIN_NEW takes effect at the next restart" "$T/a.err"
cfg=$(adm "$ADMIN_A" /config)
check_eq "/config: mesh.admin is the running address" "127.0.0.1:$ADMIN_A" "$(jq -r .mesh.admin <<<"$cfg")"
check_eq "/config: pending_restart lists admin" '["admin"]' "$(jq -c .pending_restart <<<"$cfg")"
check_eq "/config: mesh.log is the log still written to" "$T/a.log" "$(jq -r .mesh.log <<<"$cfg")"
check "/config: the last reload's warnings" jq -e '.last_reload.result == "accepted" and (.last_reload.warnings | length) == 2' <<<"$cfg"
check_fail "nothing listens on the new admin address" curl -s -m 2 "http://127.0.0.1:$ADMIN_NEW/ready"
body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
check_eq "hello still works" "hello from upstream" "$body"
check "its record is in the log still written to" wait_record "$T/a.log" '.event == "close" and .service == "hello"' 5
confs "${SVCS[@]}"
rl=$(adm "$ADMIN_A" /reload -X POST)
check_eq "the file as it was: accepted without warnings" 'accepted []' "$(jq -r '"\(.result) \(.warnings | tojson)"' <<<"$rl")"
check_eq "/config: nothing pending" '[]' "$(adm "$ADMIN_A" /config | jq -c .pending_restart)"

# The admin address taken: meshd refuses to start.
stop_meshd a || true
spawn holder "$T/holder.out" "$PY" -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", '"$ADMIN_A"')); s.listen(1); time.sleep(60)'
check "something else listens on A's admin address" wait_port 127.0.0.1 "$ADMIN_A" 5
st=0
timeout 10 "$MESHD" -c "$T/a.ini" 2>"$T/a2.err" || st=$?
check_eq "admin address in use: meshd exits 1" 1 "$st"
check "it says why" grep -q "cannot listen on admin 127.0.0.1:$ADMIN_A: Address already in use; refusing to start" "$T/a2.err"

summary
