#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# netns_two_hosts: two hosts that are network namespaces, joined by veth
# pairs to a bridge that lives in a third namespace (nothing is added to
# the root namespace). Host A (10.77.0.1) runs meshd and curl under the shim;
# host B (10.77.0.2) runs meshd and the server on its own loopback. The
# request crosses the "network" in mutual TLS, both hosts record it under
# one id, and B sees A's real address. When B's link goes down, a blocking
# connect on A fails as a direct one would (faithful failure), and works
# again once the link is back. The namespaces are removed at the end.
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root for ip netns"
command -v ip >/dev/null || die "ip (iproute2) not installed: run scripts/deps.sh"
NS=lm$$
NSA=$NS-a NSB=$NS-b
two_hosts_netns "$NS"
# Reachable: B's kernel answers a connect to a closed port with a refusal.
check "A reaches B across the bridge" ip netns exec "$NSA" "$PY" -c '
import socket
try:
    socket.create_connection(("10.77.0.2", 9), timeout=3)
except ConnectionRefusedError:
    pass'


make_certs "$TD" client hello
write_confs endpoints="10.77.0.2:$MESHPORT"
sed -i "s|^inbound = 127.0.0.1:$MESHPORT|inbound = 10.77.0.1:$MESHPORT|" "$T/a.ini"
sed -i "s|^inbound = 127.0.0.2:$MESHPORT|inbound = 10.77.0.2:$MESHPORT|" "$T/b.ini"
MESHD_PREFIX="ip netns exec $NS-a" start_meshd a "$T/a.ini"
MESHD_PREFIX="ip netns exec $NS-b" start_meshd b "$T/b.ini"
# The server runs on host B's own loopback.
printf '#!/bin/sh\nexec ip netns exec %s "$@"\n' "$NSB" >"$T/in-b"
chmod +x "$T/in-b"
printf 'hello from host B\n' >"$T/index.html"
spawn web "$T/web.log" "$T/in-b" "$PY" -m http.server --bind 127.0.0.1 --directory "$T" "$BACKPORT"
for _ in $(seq 50); do
	ip netns exec "$NSB" "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', $BACKPORT), 1)" 2>/dev/null && break
	sleep 0.1
done

in_a() { ip netns exec "$NSA" env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$@"; }
body=$(in_a curl -sS -m 10 "http://hello:$PORT/index.html") || body="(curl failed)"
check_eq "curl on host A by name reaches the server on host B" "hello from host B" "$body"
get_record ra "$T/a.log" '.event == "close" and .service == "hello"'
get_record rb "$T/b.log" '.event == "close" and .service == "hello" and .direction == "inbound"'
check_rec "A: ok over mTLS to 10.77.0.2" "$ra" ".result == \"ok\" and .tls == \"TLSv1.3\" and .endpoint == \"10.77.0.2:$MESHPORT\""
check "A and B record the same id" test "$(jget "$ra" .id)" = "$(jget "$rb" .id)"
check_rec "B sees the caller's identity and host A's address" "$rb" \
	'.source == "spiffe://mesh.test/svc/client" and (.client | startswith("10.77.0.1:"))'
check_rec "A names the program" "$ra" '.program == "curl"'

# B's link goes down: A's endpoint times out; curl reports a failed
# connect, as it would for a host that does not answer.
ip -n "$NSB" link set eth0 down
st=0
in_a timeout 20 curl -sS -m 15 -o /dev/null "http://hello:$PORT/index.html" 2>"$T/down.err" || st=$?
check_eq "with B unreachable, curl fails its connect (exit 28 or 7)" 1 "$([[ $st -eq 28 || $st -eq 7 ]] && echo 1 || echo "0 (status $st)")"
note "curl: $(head -c 200 "$T/down.err")"
get_record rd "$T/a.log" '.event == "close" and .service == "hello" and .result != "ok"'
check_rec "A records the timeout" "$rd" '.result == "timeout"'
ip -n "$NSB" link set eth0 up
sleep 0.5
body=$(in_a curl -sS -m 10 "http://hello:$PORT/index.html") || body="(curl failed)"
check_eq "with the link back, the next request works" "hello from host B" "$body"

summary
