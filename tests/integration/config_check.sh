#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317
# config_check: `meshd -t -c FILE` accepts the standard configs and rejects
# every file in conf-broken/ with the error its first line announces:
#   # expect: <line>: <substring>
# Each broken file is copied into $T next to a certs/ directory (ca.pem,
# web.pem, web.key) because it names those paths relative to itself.
. "$(dirname "$0")/lib.sh"

_need_binaries
BROKEN_DIR=$(cd "$(dirname "$0")" && pwd)/conf-broken

make_certs "$TD" client hello
write_confs

meshd_t() { # NAME CONF [DIR]: run meshd -t in DIR; $T/NAME.t.out and .t.err
	local name=$1 conf=$2 dir=${3:-$T} st=0
	san_watch "$T/$name.t.err"
	(cd "$dir" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} timeout 20 "$MESHD" -t -c "$conf") \
		>"$T/$name.t.out" 2>"$T/$name.t.err" || st=$?
	return "$st"
}

for h in a b; do
	st=0
	meshd_t "good-$h" "$T/$h.ini" || st=$?
	check_eq "meshd -t -c $h.ini exits 0" 0 "$st"
	check "meshd -t -c $h.ini says the test is successful" \
		grep -qF "meshd: configuration file $T/$h.ini test is successful" "$T/good-$h.t.out" "$T/good-$h.t.err"
	[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/good-$h.t.out" "$T/good-$h.t.err"
done
check "meshd -t did not write the snapshot (a check starts nothing)" test ! -e "$T/a.routes"

st=0
meshd_t missing "$T/no-such-file.ini" || st=$?
check "meshd -t -c on a missing file exits non-zero" test "$st" -ne 0

shopt -s nullglob
files=("$BROKEN_DIR"/*.ini)
shopt -u nullglob
if [[ ${#files[@]} -eq 0 ]]; then
	not_ok "conf-broken/*.ini: no broken configs to check in $BROKEN_DIR"
fi

i=0
for src in "${files[@]}"; do
	i=$((i + 1))
	base=$(basename "$src")
	head1=$(head -n 1 "$src")
	if [[ ! $head1 =~ ^#[[:space:]]*expect:[[:space:]]*([0-9]+):[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]]; then
		not_ok "$base: first line is '# expect: <line>: <substring>' (got '$head1')"
		continue
	fi
	line=${BASH_REMATCH[1]}
	want=${BASH_REMATCH[2]}

	# Its own directory with the certificates it names, for its trust domain.
	dir=$T/broken/$i
	mkdir -p "$dir/certs"
	td=$(ini_get "$src" mesh trust_domain)
	[[ $td =~ ^[a-z0-9._-]+$ ]] || td=$TD
	out=$("$MESH_CERTS" ca "$dir/certs" "$td" 2>&1 && "$MESH_CERTS" identity "$dir/certs" "$td" web 2>&1) ||
		die "mesh-certs for $base ($td): $out"
	cp "$src" "$dir/$base"

	st=0
	meshd_t "broken-$i" "$dir/$base" "$dir" || st=$?
	err=$T/broken-$i.t.err
	check "$base: meshd -t exits non-zero" test "$st" -ne 0
	check "$base: meshd -t was not killed by a signal (status $st)" test "$st" -lt 128
	if grep -F -- "$dir/$base:$line:" "$err" | grep -qF -- "$want"; then
		ok "$base: stderr has '$base:$line: ...$want...'"
	else
		not_ok "$base: stderr has '$base:$line: ...$want...'"
		note "--- meshd -t stderr for $dir/$base:"
		sed 's/^/#   /' "$err" | head -n 20
	fi
done

summary
