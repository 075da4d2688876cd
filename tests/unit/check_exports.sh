#!/usr/bin/env bash
# check_exports.sh LIBMESH_SO: the shim exports exactly its hooks.
#
# Three lists must name the same functions:
#   the hooks      the rows of SHIM_IOHOOKS (shim/iohooks.h, read with the C
#                  preprocessor) plus the hand-written SHIM_EXPORT
#                  definitions of the other shim files (resolve.c,
#                  intercept.c)
#   the map        the global: names of shim/libmesh.map
#   the library    nm -D --defined-only LIBMESH_SO
# so a row without a map line, a map line without a hook, or anything else
# the library exports fails. make unit runs it (the check-exports rule).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB=${1:?usage: check_exports.sh LIBMESH_SO}
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One name per row: the first argument of X and X_CHK.
printf '#include "iohooks.h"\n#define NAME(fn, ...) fn\nSHIM_IOHOOKS(NAME, NAME)\n' |
	"$CC" -E -P -I"$ROOT/shim" -x c - | tr -s ' \t' '\n\n' | grep . >"$tmp/io"
# SHIM_EXPORT <type> [*]name( at the start of a line; iohooks.c's one
# SHIM_EXPORT is inside its generator.
grep -hoE '^SHIM_EXPORT [^(]*[ *][A-Za-z_][A-Za-z0-9_]*\(' \
	$(ls "$ROOT"/shim/*.c | grep -v '/iohooks\.c$') |
	sed -E 's/.*[ *]([A-Za-z_][A-Za-z0-9_]*)\($/\1/' >"$tmp/other"
sort "$tmp/io" "$tmp/other" >"$tmp/hooks"
sed -n '/global:/,/local:/p' "$ROOT/shim/libmesh.map" |
	sed -nE 's/^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*);[[:space:]]*$/\1/p' | sort >"$tmp/map"
nm -D --defined-only "$LIB" | awk 'NF == 3 { print $3 }' | sed 's/@.*//' | sort >"$tmp/lib"

fail=0
for f in io other hooks map lib; do
	[[ -s $tmp/$f ]] || { echo "check_exports: no names found for '$f'" >&2; fail=1; }
done
dups=$(uniq -d "$tmp/hooks")
if [[ -n $dups ]]; then
	echo "check_exports: hooked twice: $dups" >&2
	fail=1
fi
compare() {   # compare NAME_A FILE_A NAME_B FILE_B
	local only
	only=$(comm -23 "$2" "$4" | tr '\n' ' ')
	[[ -z $only ]] || { echo "check_exports: in $1 but not in $3: $only" >&2; fail=1; }
	only=$(comm -13 "$2" "$4" | tr '\n' ' ')
	[[ -z $only ]] || { echo "check_exports: in $3 but not in $1: $only" >&2; fail=1; }
}
compare "the hooks (iohooks.h rows, SHIM_EXPORT definitions)" "$tmp/hooks" "shim/libmesh.map" "$tmp/map"
compare "shim/libmesh.map" "$tmp/map" "$LIB's exports" "$tmp/lib"
if ((fail)); then
	echo "check_exports: FAILED" >&2
	exit 1
fi
echo "check_exports: $(wc -l <"$tmp/io") I/O hooks (iohooks.h) + $(wc -l <"$tmp/other") others = libmesh.map = $LIB's exports"
