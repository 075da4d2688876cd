#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# mtls_wrong_cert: host B's mesh port refuses TLS clients whose certificate
# comes from another CA, and clients with no certificate: the connection is
# closed, nothing reaches the upstream, and B writes a tls_failure record for
# each. B still serves real mesh traffic afterwards.
. "$(dirname "$0")/lib.sh"

standard_setup
start_upstream up http 127.0.0.1 "$BACKPORT"

# A second CA in the same trust domain, with an identity of the same name as
# the legitimate caller: only the CA differs.
out=$("$MESH_CERTS" ca "$T/evil" "$TD" 2>&1) || die "mesh-certs ca (evil): $out"
out=$("$MESH_CERTS" identity "$T/evil" "$TD" client 2>&1) || die "mesh-certs identity (evil): $out"
verifies() { openssl verify -CAfile "$1" "$2" >/dev/null 2>&1; }
check_fail "the foreign certificate does not verify against the mesh CA" \
	verifies "$T/certs/ca.pem" "$T/evil/client.pem"
check "the real one does" verifies "$T/certs/ca.pem" "$T/certs/client.pem"

# s_client with -ign_eof keeps the connection open until the server closes
# it: a rejected client ends by itself, an accepted one would run into the
# time limit (status 124).
s_client() { # OUTFILE [ARGS...]
	local out=$1
	shift
	timeout 8 openssl s_client -connect "127.0.0.2:$MESHPORT" -alpn libmesh/2 \
		-CAfile "$T/certs/ca.pem" -ign_eof "$@" </dev/null >"$out" 2>&1
}

st=0
s_client "$T/evil.out" -cert "$T/evil/client.pem" -key "$T/evil/client.key" || st=$?
if [[ $st -ne 124 ]]; then ok "B closes the connection of a client with a foreign certificate"; else not_ok "B closes the connection of a client with a foreign certificate (still open after 8 s)"; fi
check_fail "no application data came back (foreign certificate)" grep -q 'HTTP/' "$T/evil.out"

st=0
s_client "$T/nocert.out" || st=$?
if [[ $st -ne 124 ]]; then ok "B closes the connection of a client without a certificate"; else not_ok "B closes the connection of a client without a certificate (still open after 8 s)"; fi
check_fail "no application data came back (no certificate)" grep -q 'HTTP/' "$T/nocert.out"

recs=$(wait_records "$T/b.log" '.event == "close" and .result == "tls_failure"' 2) || recs=
check_eq "B: two tls_failure close records" 2 "$(grep -c . <<<"$recs" || true)"
check "B: tls_failure records name the stranger's ip:port in client" jq -e -s \
	'length == 2 and all(.[]; (.client // "") | test("^127\\.[0-9]+\\.[0-9]+\\.[0-9]+:[0-9]+$"))' <<<"$recs"
check_eq "no connection reached the upstream" 0 "$(upstream_accepts up)"
check "B is still running" meshd_alive b

# Real traffic still flows.
check_hello "through the mesh afterwards"
get_record rb "$T/b.log" '.event == "close" and .service == "hello" and .result == "ok"'
check_rec "B: the real request came from client" "$rb" ".source == \"spiffe://$TD/svc/client\""
check_eq "exactly one connection reached the upstream" 1 "$(upstream_accepts up)"

summary
