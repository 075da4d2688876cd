#!/usr/bin/env bash
# make_seeds.sh: (re)write the seed corpora tests/fuzz/corpus/<target>/, a
# few valid inputs per target from which the fuzzers start. Run it again
# when a format changes (a new snapshot version, a new header field).
# Needs build/mksnap (make tools) and python3. Regression inputs
# (tests/fuzz/regress/<target>/) are crashers found once; they are never
# rewritten here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=$ROOT/tests/fuzz/corpus
MKSNAP=$ROOT/build/mksnap
[[ -x $MKSNAP ]] || { echo "make_seeds: build $MKSNAP first (make tools)" >&2; exit 1; }
mkdir -p "$C/snapshot" "$C/proto" "$C/config" "$C/ctlproto" "$C/record" "$C/dns" "$C/dns_answer"

# Snapshots as meshd and mksnap write them.
"$MKSNAP" "$C/snapshot/two_services" mesh hello=127.77.0.2:80,8080 db=127.77.0.3:5432 \
	icpt=10.0.0.5:5432=db "icpt=[fd00::5]:80=hello"
MKSNAP_CONTROL=/run/libmesh/routes.ctl MKSNAP_RANGE=127.77.0.0/16 MKSNAP_GENERATION=7 \
	"$MKSNAP" "$C/snapshot/control_range" mesh hello=127.77.0.2:80
"$MKSNAP" "$C/snapshot/no_suffix" - a=127.0.0.9 b-c=127.1.2.3:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16
"$MKSNAP" "$C/snapshot/empty" mesh
MKSNAP_RANGE6=fd6d:6573:6800::/64 "$MKSNAP" "$C/snapshot/vip6" mesh hello=127.77.0.2:80 \
	db=127.77.0.3:5432 vip6=hello=fd6d:6573:6800::2
rm -f "$C"/snapshot/*.tmp.*

# Frames, stream headers and statuses (daemon/proto.h), big-endian.
python3 - "$C/proto" <<'PY'
import struct, sys
d = sys.argv[1]
def hdr(svc, prog, port=80, flags=0):
    fixed = struct.pack(">2sBBHHQIIBB", b"LM", 2, flags, 26 + len(svc) + len(prog),
                        port, 0x0123456789abcdef, 4242, 0, len(svc), len(prog))
    return fixed + svc + prog
def frame(t, sid, payload=b""):
    return struct.pack(">II", t << 24 | len(payload), sid) + payload
open(d + "/header", "wb").write(hdr(b"hello", b"curl"))
open(d + "/header_c1", "wb").write(hdr(b"\xc2\x9b2Jhello", b"\xc2\x9d0;T\xc2\x9c"))
open(d + "/header_reused", "wb").write(hdr(b"payments", b"", 443, 1))
open(d + "/status_ok", "wb").write(b"LM\x02\x00")
open(d + "/status_denied", "wb").write(b"LM\x02\x03")
open(d + "/frames", "wb").write(
    frame(3, 1, hdr(b"hello", b"python3")) + frame(4, 1, b"LM\x02\x00") +
    frame(0, 1, b"GET / HTTP/1.0\r\n\r\n") + frame(5, 1, struct.pack(">I", 65536)) +
    frame(1, 1) + frame(2, 3))
open(d + "/ping_pong", "wb").write(
    frame(6, 0, struct.pack(">Q", 1)) + frame(7, 0, struct.pack(">Q", 1)) +
    frame(6, 0, b"short") + frame(6, 5, struct.pack(">Q", 2)))
open(d + "/caller", "wb").write(
    frame(3, 1, hdr(b"hello", b"")) + frame(4, 1, b"LM\x02\x00") +
    frame(8, 1, struct.pack(">IB", 4242, 4) + b"curl") +
    frame(8, 1, struct.pack(">IB", 0, 0)) + frame(8, 1, struct.pack(">IB", 1, 3) + b"a\x1bb") +
    frame(1, 1))
PY

# Configs: the demo's two hosts and the integration tests' standard pair
# (certificate paths as fuzz_config's scratch directory provides them).
cp "$ROOT/conf/host-a.ini" "$C/config/host-a.ini"
cp "$ROOT/conf/host-b.ini" "$C/config/host-b.ini"
cat >"$C/config/test-a.ini" <<'INI'
[mesh]
trust_domain = mesh.test
host = a
ca = certs/ca.pem
inbound = 127.0.0.1:15443
admin = off
log = a.log
vip_range = 127.77.0.0/16
snapshot = a.routes
drain_timeout = 2s
max_handshakes = 64
max_connections_per_uid = auto

[identity.client]
uids = 0, nobody
cert = certs/client.pem
key = certs/client.key

[service.hello]
ports = 80 8080
endpoints = 127.0.0.2:15443*3, 127.0.0.3:15443
intercept = 10.0.0.5:80
connect_timeout = 500ms
retries = 1
INI
cat >"$C/config/test-b.ini" <<'INI'
[mesh]
trust_domain = mesh.test
host = b
ca = certs/ca.pem
inbound = 127.0.0.2:15443
admin = 127.0.0.2:15000
log = -
vip_range = 127.78.0.0/16
snapshot = b.routes

[identity.hello]
uids = 65000
cert = certs/hello.pem
key = certs/hello.key

[service.hello]
ports = 80
upstream = 80=127.0.0.1:8080
allow = client
max_connections = 100
vip = 127.78.0.9
INI

# Endpoints from DNS: dns: and srv: entries, tiers, the discovery keys.
cat >"$C/config/discovery.ini" <<'INI'
[mesh]
trust_domain = mesh.test
ca = certs/ca.pem
snapshot = discovery.routes
resolvers = 10.78.0.1, [fd00::53]:5353
dns_ttl_min = 1s
dns_ttl_max = 5m
dns_timeout = 500ms

[service.api]
ports = 80
endpoints = dns:api.service.consul:15443*2, 10.0.0.9:15443
  srv:_api._tcp.service.consul | srv:_mesh._tcp.api.default.svc.cluster.local

INI

# Control-socket lines (shim/ctlproto.h), both directions.
printf 'W 127.0.0.1:40000 127.77.0.2:80 123456' >"$C/ctlproto/question"
printf 'V 127.0.0.1:40000 127.77.0.2:80 123456 refused' >"$C/ctlproto/answer"
printf 'W 127.0.0.1:1 127.77.0.2:65535 0\nV 255.255.255.255:65535 127.0.0.9:8080 18446744073709551615 identity_error\n' \
	>"$C/ctlproto/both"
printf 'W [::1]:40000 [fd6d:6573:6800::2]:80 123456\nV [fd00:0:1::5]:1 [fd6d:6573:6800::2]:443 9 unknown\n' \
	>"$C/ctlproto/ipv6"
# Record fields (daemon/record.h): what programs and peers name themselves.
printf 'curl' >"$C/record/ascii"
printf '\xff\xfecurl\xc3' >"$C/record/invalid"
printf 'caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 "q" \\ \t\x01\x7f' >"$C/record/mixed"
printf '\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe0\x80' >"$C/record/overlong_surrogate"
printf '\xc2\x9b2J\xc2\x9d0;T\xc2\x9c\xc2\xa0\xe0\xc2\x85' >"$C/record/c1"
# DNS queries (daemon/dns_msg.h): what stub resolvers send meshd.
python3 - "$C/dns" <<'PY'
import struct, sys
d = sys.argv[1]
def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".") if l) + b"\0"
OPT = b"\0" + struct.pack(">HHIH", 41, 1232, 0x8000, 0)
def q(n, t, opt=False, flags=0x0100, extra=b""):
    ar = 1 if opt else 0
    return struct.pack(">HHHHHH", 0x1234, flags, 1, 0, 0, ar) + name(n) + \
        struct.pack(">HH", t, 1) + (OPT if opt else b"") + extra
seeds = {
    "a": q("hello.mesh", 1), "a_bare": q("hello", 1), "aaaa": q("hello.mesh", 28),
    "srv": q("hello.mesh", 33, True), "srv_port": q("_8080._tcp.hello.mesh", 33),
    "srv_rfc2782": q("_hello._tcp.mesh", 33), "ptr": q("2.0.77.127.in-addr.arpa", 12),
    "soa": q("mesh", 6), "nxdomain": q("nope.mesh", 1, True), "refused": q("example.com", 1),
    "k8s": q("hello.svc.cluster.local", 1), "notify": q("mesh", 6, flags=0x2000),
    "tc": q("a23456789012345678901234567890123456789012345678901234567890123.mesh", 33),
    "pointer": struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\xc0\x0c\0\x01\0\x01",
}
for k, v in seeds.items():
    open(d + "/" + k, "wb").write(v)
# DNS answers (daemon/dns_answer.h) as dnsmasq, Consul or CoreDNS send them:
# A, AAAA, SRV with the targets in the additional section, a CNAME chain,
# NXDOMAIN with its SOA, a truncated answer, a compressed SRV target.
python3 - "$C/dns_answer" <<'PY'
import socket, struct, sys
d = sys.argv[1]
def name(n):
    out = b""
    for l in n.split("."):
        if l:
            out += bytes([len(l)]) + l.encode()
    return out + b"\0"
def rr(owner, t, ttl, rdata):
    o = owner if isinstance(owner, bytes) else name(owner)
    return o + struct.pack(">HHIH", t, 1, ttl, len(rdata)) + rdata
def msg(i, flags, q, qt, an=(), ns=(), ar=()):
    h = struct.pack(">HHHHHH", i, flags, 1, len(an), len(ns), len(ar))
    return h + name(q) + struct.pack(">HH", qt, 1) + b"".join(an) + b"".join(ns) + b"".join(ar)
a = lambda ip: socket.inet_pton(socket.AF_INET, ip)
aaaa = lambda ip: socket.inet_pton(socket.AF_INET6, ip)
srv = lambda p, w, port, t: struct.pack(">HHH", p, w, port) + name(t)
soa = name("ns.consul") + name("admin.consul") + struct.pack(">IIIII", 1, 3600, 600, 86400, 5)
seeds = {
    "a_two": msg(1, 0x8580, "api.service.consul", 1,
                 [rr("api.service.consul", 1, 2, a("10.78.0.2")),
                  rr("api.service.consul", 1, 2, a("10.78.0.3"))]),
    "aaaa": msg(2, 0x8580, "api.service.consul", 28,
                [rr("api.service.consul", 28, 30, aaaa("fd00::2"))]),
    "srv_additional": msg(3, 0x8580, "_api._tcp.service.consul", 33,
                          [rr("_api._tcp.service.consul", 33, 2, srv(10, 3, 15443, "h3.node.consul")),
                           rr("_api._tcp.service.consul", 33, 2, srv(20, 1, 15443, "h2.node.consul"))],
                          ar=[rr("h3.node.consul", 1, 2, a("10.78.0.3")),
                              rr("h2.node.consul", 1, 2, a("10.78.0.2"))]),
    "srv_k8s": msg(4, 0x8500, "_mesh._tcp.api.default.svc.cluster.local", 33,
                   [rr("_mesh._tcp.api.default.svc.cluster.local", 33, 5,
                       srv(0, 50, 15443, "api-0.api.default.svc.cluster.local"))]),
    "cname": msg(5, 0x8180, "api.example", 1,
                 [rr("api.example", 5, 60, name("real.example")),
                  rr("real.example", 1, 20, a("10.0.0.9"))]),
    "nxdomain_soa": msg(6, 0x8583, "gone.service.consul", 1, ns=[rr("consul", 6, 5, soa)]),
    "truncated": msg(7, 0x8780, "flood.example", 1),
    # the SRV target is a pointer to the question's name (offset 12)
    "srv_compressed": msg(8, 0x8180, "_api._tcp.service.consul", 33,
                          [rr(b"\xc0\x0c", 33, 9, struct.pack(">HHH", 1, 1, 80) + b"\xc0\x0c")]),
}
for k, v in seeds.items():
    open("%s/%s" % (d, k), "wb").write(v)
PY
echo "make_seeds: wrote $(find "$C" -type f | wc -l) seeds under $C"
