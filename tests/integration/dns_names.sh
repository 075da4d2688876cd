#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# dns_names: programs LD_PRELOAD cannot reach find mesh services through
# meshd's DNS. Two hosts are network namespaces (as netns_two_hosts.sh);
# host A's meshd answers DNS on 127.0.0.1:53 of A's own loopback, and A's
# resolv.conf (/etc/netns/NS/resolv.conf, which `ip netns exec` mounts over
# /etc/resolv.conf) names it first and then a dnsmasq on 127.0.0.2 that
# knows one other name (other.test). Nothing queries the host's resolvers:
# A's namespace has no route off the bridge.
#
# dig checks the records (A, SRV in three spellings, PTR, AAAA without data,
# NXDOMAIN, REFUSED, TC) over UDP and TCP; then busybox wget (static),
# aria2c (c-ares) and a Go program (Go's own resolver) fetch from the
# service by name with no preload, and each call leaves the records any
# caller leaves (host A: uid 0 as identity client, ok; host B: the same
# id, the caller's identity). The same three resolve other.test through the
# second nameserver (meshd answered REFUSED). Finally mesh-run --dns gives
# one program meshd's DNS in a private mount namespace while A's own
# resolv.conf names only dnsmasq.
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root for ip netns"
for c in ip dig busybox aria2c dnsmasq go unshare; do
	command -v "$c" >/dev/null || die "$c not installed: run scripts/deps.sh"
done

# The Go client, built once per source change (CGO_ENABLED=0: Go's own
# resolver, not libc's), cached under build/.
GOCLIENT=$ROOT/build/dns_client-go
GOSRC=$ROOT/tests/integration/dns_client.go
if [[ ! -x $GOCLIENT || $GOSRC -nt $GOCLIENT ]]; then
	mkdir -p "$ROOT/build"
	(cd "$T" && CGO_ENABLED=0 HOME=$T GOCACHE=$T/gocache GOPATH=$T/gopath GOFLAGS='' \
		go build -o "$GOCLIENT.tmp.$$" "$GOSRC") >"$T/go-build.log" 2>&1 ||
		die "go build $GOSRC failed: $(tail -n 5 "$T/go-build.log")"
	mv -f "$GOCLIENT.tmp.$$" "$GOCLIENT"
fi

NS=lmd$$
NSA=$NS-a NSB=$NS-b
on_exit "rm -rf /etc/netns/$NSA; rmdir /etc/netns 2>/dev/null || true"
two_hosts_netns "$NS"
mkdir -p "/etc/netns/$NSA"
printf 'nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions timeout:1 attempts:2\n' \
	>"/etc/netns/$NSA/resolv.conf"
in_a() { ip netns exec "$NSA" "$@"; }

# A service with the longest name and 16 ports: its SRV answer is over 512 bytes.
LONG=l23456789012345678901234567890123456789012345678901234567890123
make_certs "$TD" client hello
write_confs endpoints="10.77.0.2:$MESHPORT" a_mesh="dns = on" a_extra="[service.$LONG]
ports = $(seq -s ' ' 9001 9016)
endpoints = 10.77.0.2:$MESHPORT"
sed -i "s|^inbound = 127.0.0.1:$MESHPORT|inbound = 10.77.0.1:$MESHPORT|" "$T/a.ini"
sed -i "s|^inbound = 127.0.0.2:$MESHPORT|inbound = 10.77.0.2:$MESHPORT|" "$T/b.ini"
check "meshd -t binds the dns address" in_a "$MESHD" -t -c "$T/a.ini"
MESHD_PREFIX="ip netns exec $NSA" start_meshd a "$T/a.ini"
MESHD_PREFIX="ip netns exec $NSB" start_meshd b "$T/b.ini"
check "meshd says where it answers DNS" grep -q 'dns: answering mesh names on 127.0.0.1:53 (UDP and TCP)' "$T/a.err"
printf '#!/bin/sh\nexec ip netns exec %s "$@"\n' "$NSB" >"$T/in-b"
chmod +x "$T/in-b"
printf 'hello from host B\n' >"$T/index.html"
spawn web "$T/web.log" "$T/in-b" "$PY" -m http.server --bind 127.0.0.1 --directory "$T" "$BACKPORT"
# The second nameserver, and a non-mesh server it names, on A.
mkdir -p "$T/other"
printf 'hello from other.test\n' >"$T/other/index.html"
spawn dnsmasq "$T/dnsmasq.log" ip netns exec "$NSA" dnsmasq --keep-in-foreground --conf-file=/dev/null \
	--no-resolv --no-hosts --listen-address=127.0.0.2 --bind-interfaces --port=53 \
	--address=/other.test/127.0.0.3 --pid-file="$T/dnsmasq.pid" --log-queries --log-facility=-
# Split DNS the way Consul's is wired: a dnsmasq that sends only .mesh to meshd.
spawn dnsmasq-split "$T/dnsmasq-split.log" ip netns exec "$NSA" dnsmasq --keep-in-foreground \
	--conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.4 --bind-interfaces \
	--port=53 --server=/mesh/127.0.0.1 --address=/other.test/127.0.0.3 \
	--pid-file="$T/dnsmasq-split.pid" --log-facility=-
spawn other "$T/other.log" ip netns exec "$NSA" "$PY" -m http.server --bind 127.0.0.3 \
	--directory "$T/other" "$BACKPORT"
for _ in $(seq 50); do
	grep -qx 127.0.0.3 <<<"$(in_a dig @127.0.0.2 +short +time=1 +tries=1 other.test 2>/dev/null)" &&
		"$T/in-b" "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $BACKPORT), 1)" 2>/dev/null &&
		in_a "$PY" -c "import socket; socket.create_connection(('127.0.0.3', $BACKPORT), 1)" 2>/dev/null && break
	sleep 0.1
done

# ---- the records, by dig ----
VIP=$(in_a env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$PY" -c \
	'import socket; print(socket.gethostbyname("hello"))') || VIP="(the shim did not resolve hello)"
dq() { in_a dig @127.0.0.1 +time=2 +tries=1 "$@"; }
status() { dq "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
flags() { dq "$@" | sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p'; }
for tr in +notcp +tcp; do
	check_eq "$tr: A hello.mesh is the VIP the shim answers" "$VIP" "$(dq $tr +short hello.mesh A)"
	check_eq "$tr: A hello (the bare name) too" "$VIP" "$(dq $tr +short hello A)"
	check_eq "$tr: the answer is authoritative, not recursive" "qr aa rd" "$(flags $tr hello.mesh A)"
	check_eq "$tr: nope.mesh is NXDOMAIN" NXDOMAIN "$(status $tr nope.mesh A)"
	check_eq "$tr: example.com is REFUSED (the next nameserver is asked)" REFUSED "$(status $tr example.com A)"
	check_eq "$tr: SRV hello.mesh: each port, target hello.mesh" "0 1 $PORT hello.mesh." \
		"$(dq $tr +short hello.mesh SRV)"
done
check_eq "SRV _$PORT._tcp.hello.mesh (the port's name is its number)" "0 1 $PORT hello.mesh." \
	"$(dq +short "_$PORT._tcp.hello.mesh" SRV)"
check_eq "SRV _hello._tcp.mesh (RFC 2782, as Consul)" "0 1 $PORT hello.mesh." \
	"$(dq +short _hello._tcp.mesh SRV)"
check_eq "SRV for a port hello does not have: NXDOMAIN" NXDOMAIN "$(status _1._tcp.hello.mesh SRV)"
dq hello.mesh SRV >"$T/srv.txt"
check "the SRV answer carries the target's A record" \
	grep -Eq "^hello\.mesh\.[[:space:]]+5[[:space:]]+IN[[:space:]]+A[[:space:]]+$VIP\$" "$T/srv.txt"
check_eq "AAAA hello.mesh: no data (services have IPv4 VIPs)" "NOERROR 0" \
	"$(status hello.mesh AAAA) $(dq +short hello.mesh AAAA | wc -l)"
check_eq "PTR of the VIP: hello.mesh" "hello.mesh." "$(dq +short -x "$VIP")"
check_eq "TTL 5" 5 "$(dq +noall +answer hello.mesh A | awk '{ print $2 }')"
# Without EDNS, 16 SRV records of the long name do not fit in 512 bytes.
check "UDP without EDNS: the long SRV answer is truncated (tc)" \
	bash -c "ip netns exec $NSA dig @127.0.0.1 +time=2 +tries=1 +noedns +ignore $LONG.mesh SRV | grep -q '^;; flags: qr aa tc rd;'"
check_eq "the same over TCP: all 16 ports" 16 "$(dq +tcp +short "$LONG.mesh" SRV | wc -l)"
check_eq "with EDNS (1232 bytes) over UDP: all 16" 16 "$(dq +bufsize=1232 +short "$LONG.mesh" SRV | wc -l)"

# ---- split DNS through dnsmasq (server=/mesh/127.0.0.1) ----
check_eq "dnsmasq with server=/mesh/127.0.0.1 answers hello.mesh from meshd" "$VIP" \
	"$(in_a dig @127.0.0.4 +short +time=2 +tries=1 hello.mesh A)"
check_eq "and nope.mesh is NXDOMAIN there too" NXDOMAIN \
	"$(in_a dig @127.0.0.4 +time=2 +tries=1 nope.mesh A | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')"
check_eq "and SRV" "0 1 $PORT hello.mesh." "$(in_a dig @127.0.0.4 +short +time=2 +tries=1 hello.mesh SRV)"
check_eq "and other names stay dnsmasq's own" 127.0.0.3 \
	"$(in_a dig @127.0.0.4 +short +time=2 +tries=1 other.test A)"

# ---- the key: checked by -t, restart-only ----
check "meshd -t with meshd running on it: fine (its own)" in_a "$MESHD" -t -c "$T/a.ini"
sed "s|^dns = on|dns = 127.0.0.2:53|" "$T/a.ini" >"$T/taken.ini"
st=0
in_a "$MESHD" -t -c "$T/taken.ini" >"$T/taken.out" 2>&1 || st=$?
check "meshd -t: dns on an address dnsmasq holds fails (status $st)" test "$st" -ne 0
check "and says which" grep -q 'dns 127.0.0.2:53 (TCP): cannot bind: Address already in use' "$T/taken.out"
check_eq "added.mesh is not a name yet" NXDOMAIN "$(status added.mesh A)"
sed -i "s|^dns = on|dns = 5353|" "$T/a.ini"
printf '[service.added]\nports = 9100\nendpoints = 10.77.0.2:%s\n' "$MESHPORT" >>"$T/a.ini"
reload_hosts "reloads with dns changed and a service added" a
check "the change waits for a restart, and says so" grep -q \
	'dns = 127.0.0.1:5353 takes effect at the next restart; 127.0.0.1:53 stays in force' "$T/a.err"
check_eq "and :53 still answers" "$VIP" "$(dq +short hello.mesh A)"
check_eq "with the routes of the reload: added.mesh is the VIP the shim answers" \
	"$(in_a env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$PY" -c \
		'import socket; print(socket.gethostbyname("added"))' 2>&1)" "$(dq +short added.mesh A)"
sed -i "s|^dns = 5353|dns = on|" "$T/a.ini"

# ---- programs nobody preloads, by name ----
# fetch DESC CMD...: CMD prints the page of hello.mesh; one mesh call on
# each host, with the caller's identity.
fetch() {
	local desc=$1 ma mb body st=0 ra rb
	shift
	ma=$(since "$T/a.log")
	mb=$(since "$T/b.log")
	body=$(in_a timeout 20 "$@" 2>"$T/fetch.err") || st=$?
	check_eq "$desc reaches hello by name (exit $st)" "hello from host B" "$body"
	[[ $st -eq 0 ]] || note "$(head -c 300 "$T/fetch.err")"
	ra=$(new_records "$T/a.log" "$ma" '.event == "close" and .service == "hello"' 1) || ra='{}'
	check_rec "$desc: host A records the call as uid 0, identity client, ok" "$ra" \
		'.result == "ok" and .uid == 0 and .source == "spiffe://mesh.test/svc/client" and .endpoint == "10.77.0.2:'"$MESHPORT"'"'
	rb=$(new_records "$T/b.log" "$mb" '.event == "close" and .service == "hello" and .direction == "inbound"' 1) || rb='{}'
	check_rec "$desc: host B records the same call from identity client" "$rb" \
		'.result == "ok" and .id == '"$(jget "$ra" '.id | tojson')"' and .source == "spiffe://mesh.test/svc/client"'
}
URL="http://hello.mesh:$PORT/index.html"
fetch "busybox wget (static)" busybox wget -q -O - "$URL"
rm -f "$T/aria.out"
# shellcheck disable=SC2016  # expanded by the inner bash
fetch "aria2c (c-ares)" bash -c 'aria2c -q --async-dns=true --allow-overwrite=true --dir="$1" -o aria.out "$2" &&
	cat "$1/aria.out"' aria2c "$T" "$URL"
fetch "Go (its own resolver)" "$GOCLIENT" "$URL"

# Other names: meshd says REFUSED, each resolver asks dnsmasq next.
OURL="http://other.test:$BACKPORT/index.html"
check_eq "busybox wget: other.test through the second nameserver" "hello from other.test" \
	"$(in_a timeout 20 busybox wget -q -O - "$OURL" 2>&1)"
rm -f "$T/aria2.out"
in_a timeout 20 aria2c -q --async-dns=true --allow-overwrite=true --dir="$T" -o aria2.out "$OURL" >/dev/null 2>&1 || true
check_eq "aria2c: other.test through the second nameserver" "hello from other.test" "$(cat "$T/aria2.out" 2>/dev/null)"
check_eq "Go: other.test through the second nameserver" "hello from other.test" \
	"$(in_a timeout 20 "$GOCLIENT" "$OURL" 2>&1)"
check_eq "glibc (getent): other.test through the second nameserver" "127.0.0.3" \
	"$(in_a getent ahostsv4 other.test | awk 'NR == 1 { print $1 }')"
check "dnsmasq was asked for other.test, never for hello.mesh" \
	bash -c "grep -q 'query\[A\] other.test' '$T/dnsmasq.log' && ! grep -q 'hello.mesh' '$T/dnsmasq.log'"

# ---- mesh-run --dns: A's resolv.conf knows only dnsmasq ----
printf 'nameserver 127.0.0.2\noptions timeout:1 attempts:2\n' >"/etc/netns/$NSA/resolv.conf"
check_fail "without mesh-run, busybox wget cannot resolve hello.mesh" \
	in_a timeout 10 busybox wget -q -O - "$URL" 2>/dev/null
fetch "mesh-run --dns=127.0.0.1 busybox wget" "$MESH_RUN" --dns=127.0.0.1 busybox wget -q -O - "$URL"
check_eq "mesh-run --dns: the program's resolv.conf names meshd first, then A's own" \
	"nameserver 127.0.0.1|nameserver 127.0.0.2|options timeout:1 attempts:2" \
	"$(in_a "$MESH_RUN" --dns=127.0.0.1 busybox grep -v "^#" /etc/resolv.conf 2>/dev/null | paste -sd '|')"
check_eq "mesh-run --dns reads meshd's address from the config (MESH_CONFIG)" "hello from host B" \
	"$(in_a env MESH_CONFIG="$T/a.ini" "$MESH_RUN" --dns busybox wget -q -O - "$URL" 2>/dev/null)"
check_eq "mesh-run --dns: other names still resolve (dnsmasq, second)" "hello from other.test" \
	"$(in_a "$MESH_RUN" --dns=127.0.0.1 "$GOCLIENT" "$OURL" 2>/dev/null)"
chmod 711 "$T"
check_eq "mesh-run --dns as nobody (a user namespace): Go resolves hello.mesh" "$VIP" \
	"$(in_a setpriv --reuid=nobody --regid=nogroup --clear-groups "$MESH_RUN" --dns=127.0.0.1 \
		"$GOCLIENT" -resolve hello.mesh 2>/dev/null)"
check_eq "and runs as nobody" 65534 \
	"$(in_a setpriv --reuid=nobody --regid=nogroup --clear-groups "$MESH_RUN" --dns=127.0.0.1 id -u 2>/dev/null)"
check_eq "and A's own resolv.conf is untouched" "nameserver 127.0.0.2" \
	"$(in_a head -n 1 /etc/resolv.conf)"
check_eq "no mesh-run resolv.conf is left behind" "" \
	"$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'mesh-run-resolv.*' -newer "$T/a.ini" 2>/dev/null)"

# ---- meshd stopped: resolv.conf naming it first does not hold other names up ----
printf 'nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions timeout:1 attempts:2\n' \
	>"/etc/netns/$NSA/resolv.conf"
stop_meshd a || true
t0=$(date +%s%N)
check_eq "with meshd stopped, glibc resolves other.test through the next nameserver" 127.0.0.3 \
	"$(in_a getent ahostsv4 other.test | awk 'NR == 1 { print $1 }')"
check_eq "and Go" 127.0.0.3 "$(in_a timeout 10 "$GOCLIENT" -resolve other.test 2>&1)"
rm -f "$T/aria3.out"
in_a timeout 10 aria2c -q --async-dns=true --allow-overwrite=true --dir="$T" -o aria3.out "$OURL" >/dev/null 2>&1 || true
check_eq "and aria2c" "hello from other.test" "$(cat "$T/aria3.out" 2>/dev/null)"
ms=$((($(date +%s%N) - t0) / 1000000))
check "at once: a closed port on loopback is refused, not waited for (${ms} ms for the three)" test "$ms" -lt 3000

summary
