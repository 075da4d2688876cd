#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# multi_uri_san: an X.509-SVID names its identity in exactly one URI SAN.
# Certificates signed by the mesh CA but with two URI SANs (the first being
# `client`, whom hello allows), with a non-SPIFFE URI before the SPIFFE one,
# with no URI at all, or with a malformed SPIFFE ID, are refused: presented
# by a python3 TLS peer on B's mesh port, the link ends before any stream
# is served and B records identity_error saying why; configured as host A's
# own identity certificate, `meshd -t` rejects the config, saying why.
# Root's programs are served throughout.
. "$(dirname "$0")/../lib.sh"

standard_setup
start_upstream up http 127.0.0.1 "$BACKPORT"

# mkcert NAME SAN: a certificate signed by the mesh CA, as scripts/mesh-certs
# makes them (ECDSA P-256, CA:FALSE, serverAuth+clientAuth) but with SAN as given.
mkcert() {
	local name=$1 san=$2
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$T/certs/$name.key" 2>/dev/null || die "genpkey $name"
	chmod 600 "$T/certs/$name.key"
	cat >"$T/certs/$name.ext" <<EXT
[v3_id]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = $san
EXT
	openssl req -new -key "$T/certs/$name.key" -subj "/CN=$name" -out "$T/certs/$name.csr" 2>/dev/null ||
		die "req $name"
	openssl x509 -req -in "$T/certs/$name.csr" -CA "$T/certs/ca.pem" -CAkey "$T/certs/ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -sha256 -extfile "$T/certs/$name.ext" \
		-extensions v3_id -out "$T/certs/$name.pem" 2>/dev/null || die "x509 $name"
	openssl verify -CAfile "$T/certs/ca.pem" "$T/certs/$name.pem" >/dev/null 2>&1 ||
		die "$name does not verify against the mesh CA"
}
C=spiffe://$TD/svc/client
mkcert twouri "URI:$C, URI:spiffe://$TD/svc/hello"
mkcert mixed "URI:https://example.com/client, URI:$C"
mkcert nouri "DNS:client.$TD"
mkcert baduri "URI:spiffe://$TD/svc/../svc/client"
check "the two-URI certificate carries both URIs" \
	bash -c "openssl x509 -in '$T/certs/twouri.pem' -noout -ext subjectAltName | grep -q 'URI:$C, URI:spiffe://$TD/svc/hello'"

cat >"$T/peer.py" <<'PY'
import socket, ssl, struct, sys

ca, cert, key, port, svc_port, conn_id = sys.argv[1:7]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False
ctx.set_alpn_protocols(["libmesh/2"])
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.2", int(port)), timeout=10),
                        server_hostname="hello")
    svc, prog = b"hello", b"peer.py"
    hdr = struct.pack(">2sBBHHQIIBB", b"LM", 2, 0, 26 + len(svc) + len(prog), int(svc_port),
                      int(conn_id, 16), 0, 0xffffffff, len(svc), len(prog)) + svc + prog
    s.sendall(struct.pack(">II", (3 << 24) | len(hdr), 1) + hdr)
    h = b""
    while len(h) < 12:
        c = s.recv(12 - len(h))
        if not c:
            break
        h += c
    if len(h) == 12 and h[0] == 4:
        print("status", h[11])
    else:
        print("closed")
except (ssl.SSLError, OSError) as e:
    print("closed", type(e).__name__)
PY
peer() { # CERT CONN_ID
	timeout 20 "$PY" "$T/peer.py" "$T/certs/ca.pem" "$T/certs/$1.pem" "$T/certs/$1.key" \
		"$MESHPORT" "$PORT" "$2" 2>&1
}

out=$(peer client 0000000000000c01)
check_eq "control: client's own certificate gets status ok from B" "status 0" "$out"

# refused NAME WHY: the peer holding NAME's certificate is refused, and B
# records identity_error, its detail matching WHY.
refused() {
	local name=$1 why=$2 mark r
	mark=$(since "$T/b.log")
	out=$(peer "$name" 0000000000000bad)
	note "$name: $out"
	case $out in
	closed*) ok "$name: B ends the link, no stream served" ;;
	*) not_ok "$name: B ends the link, no stream served (got: $out)" ;;
	esac
	r=$(new_records "$T/b.log" "$mark" '.event == "close"' 1 10 | head -n 1) || r='{}'
	check_rec "$name: B records identity_error saying why ($why)" "$r" \
		".result == \"identity_error\" and (.detail | test(\"$why\")) and (.source // \"\") == \"\""
}
refused twouri "2 URI SANs; SPIFFE requires exactly one"
refused mixed "2 URI SANs; SPIFFE requires exactly one"
refused nouri "no URI SAN"
refused baduri "not a well-formed SPIFFE ID"
check_eq "B never opened a stream for them" 0 \
	"$(count_records "$T/b.log" '.id == "0000000000000bad"')"
check_eq "the upstream saw only the control stream" 1 "$(upstream_accepts up)"

# Host A's own identity certificate: meshd -t refuses each.
for name in twouri mixed nouri baduri; do
	sed -e "s|$T/certs/client.pem|$T/certs/$name.pem|" -e "s|$T/certs/client.key|$T/certs/$name.key|" \
		"$T/a.ini" >"$T/a-$name.ini"
	grep -q "cert = $T/certs/$name.pem" "$T/a-$name.ini" || die "a-$name.ini does not use $name.pem"
	st=0
	"$MESHD" -t -c "$T/a-$name.ini" >"$T/t-$name.out" 2>&1 || st=$?
	note "meshd -t with $name: $(head -c 300 "$T/t-$name.out" | tr '\n' ' ')"
	check "meshd -t rejects $name.pem as A's identity certificate" test "$st" -ne 0
done
check "meshd -t says a certificate with two URI SANs is refused, and why" \
	grep -q "twouri.pem (identity client): certificate has 2 URI SANs; SPIFFE requires exactly one" "$T/t-twouri.out"
check "meshd -t says a certificate with no URI SAN is refused" grep -q "no URI SAN" "$T/t-nouri.out"
check "meshd -t accepts A's real config" "$MESHD" -t -c "$T/a.ini"

check_hello "root, after"
check "meshd B is still running" kill -0 "$(meshd_pid b)"

summary
