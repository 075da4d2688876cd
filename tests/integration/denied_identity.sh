#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# denied_identity: identity comes from the caller's uid. On host A uid 0 is
# "client" and nobody's uid is "intruder"; host B allows only client. curl run
# as nobody is refused (no body, curl fails), both hosts record "denied" with
# source intruder, nothing reaches the upstream; root's curl still works.
. "$(dirname "$0")/lib.sh"

NOBODY_UID=$(id -u nobody) || die "no user nobody"
NOBODY_GID=$(id -g nobody) || die "no group for nobody"

make_certs "$TD" client hello intruder
write_confs a_extra="$(ini_identity intruder "$NOBODY_UID")"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

# nobody must be able to load the shim and read the routes: copies in $T,
# which becomes world-traversable (the keys stay 0600, owned by root).
chmod 755 "$T"
cp "$LIBMESH" "$T/libmesh.so"
cp "$T/a.routes" "$T/a.routes.pub"
chmod 644 "$T/libmesh.so" "$T/a.routes.pub"

as_nobody() {
	setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
		env HOME=/nonexistent "$@"
}
as_nobody test -r "$T/libmesh.so" -a -r "$T/a.routes.pub" ||
	die "user nobody cannot read $T/libmesh.so and $T/a.routes.pub (is ${TMPDIR:-/tmp} traversable?)"

st=0
body=$(as_nobody env "LD_PRELOAD=$T/libmesh.so" "MESH_SNAPSHOT=$T/a.routes.pub" \
	"${CURL[@]}" "http://hello:$PORT/" 2>"$T/nobody.err") || st=$?
note "curl as nobody: exit status $st: $(head -c 200 "$T/nobody.err")"
check "curl as nobody fails" test "$st" -ne 0
check "curl as nobody did not run into its time limit" test "$st" -ne 28
check_eq "curl as nobody got no body" "" "$body"

intruder="spiffe://$TD/svc/intruder"
get_record rb "$T/b.log" '.event == "close" and .service == "hello" and .result == "denied"'
check_rec "B: denied record's source is $intruder" "$rb" ".source == \"$intruder\""
check_rec "B: denied record is inbound" "$rb" '.direction == "inbound"'
get_record ra "$T/a.log" '.event == "close" and .service == "hello" and .result == "denied"'
check_rec "A: denied record's source is $intruder, uid $NOBODY_UID" "$ra" \
	".source == \"$intruder\" and .uid == $NOBODY_UID"
check_rec "A: denied record is outbound" "$ra" '.direction == "outbound"'
check_rec "A and B: the same connection id" "$ra" "(.id | type) == \"string\" and .id == $(jq '.id' <<<"$rb")"
check_eq "nothing reached the upstream" 0 "$(upstream_accepts up)"

# A second denied connection runs on the intruder's link, already up: both
# hosts must say so ("reused" comes from the same header flag on both).
as_nobody env "LD_PRELOAD=$T/libmesh.so" "MESH_SNAPSHOT=$T/a.routes.pub" \
	"${CURL[@]}" "http://hello:$PORT/" >/dev/null 2>&1 || true
da=$(wait_records "$T/a.log" '.event == "close" and .service == "hello" and .result == "denied"' 2) || da=
db=$(wait_records "$T/b.log" '.event == "close" and .service == "hello" and .result == "denied"' 2) || db=
check "A and B agree on reused for each denied connection, and the later one is reused" \
	jq -e -s --slurpfile a <(printf '%s\n' "$da") \
	'length >= 2 and (map({id, reused}) | sort_by(.id)) == ($a | map({id, reused}) | sort_by(.id)) and (map(.reused) | any)' <<<"$db"

check_hello "root"
get_record rb "$T/b.log" '.event == "close" and .service == "hello" and .result == "ok"'
check_rec "B: root's request came as client" "$rb" ".source == \"spiffe://$TD/svc/client\""
check_eq "one connection reached the upstream" 1 "$(upstream_accepts up)"

summary
