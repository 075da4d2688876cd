#!/bin/bash
# Every dependency in meshd points down: no object calls a function that an
# object of a higher layer defines. The layers are the lines of the block
# between <!-- layers --> and <!-- /layers --> in README.md, top to bottom
# (the files named on one line are one module and may call each other).
# Reads the symbols of the daemon's objects (and of the shim codecs linked
# into meshd) in BUILD/obj, so it runs after they are built:
#   tests/unit/check_layers.sh [BUILD]
# A source file missing from the list fails too: a new file takes a place.
# Includes point down as well, except for the headers named in TYPES: they
# declare the structs that the modules below them serve and read (struct
# worker, struct session, struct listener, the endpoint set a balancer
# works on); a file may include them from below, never call their .c.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
TYPES=" worker session listener endpoint "
block=$(awk '/^<!-- layers -->/ { on = 1; next } /^<!-- \/layers -->/ { on = 0 } on' README.md |
	grep -v '^```' || true)
if [[ -z $block ]]; then
	echo "check_layers: no <!-- layers --> block in README.md" >&2
	exit 1
fi
declare -A layer_of
n=0
while IFS= read -r line; do
	[[ -n $line ]] || continue
	n=$((n + 1))
	for f in $(sed 's/  .*//' <<<"$line" | tr ',' ' '); do
		f=${f##*/}
		layer_of[${f%.c}]=$n
	done
done <<<"$block"

srcs=$(git ls-files 'daemon/*.c' 2>/dev/null || ls daemon/*.c)
srcs="$srcs shim/ctlproto.c shim/snapshot.c"
declare -A def_in
objs=()
for src in $srcs; do
	m=$(basename "$src" .c)
	o=$build/obj/${src%.c}.o
	if [[ -z ${layer_of[$m]:-} ]]; then
		echo "check_layers: $src has no line in README.md's layers block" >&2
		exit 1
	fi
	[[ -f $o ]] || { echo "check_layers: $o not built" >&2; exit 1; }
	objs+=("$o")
	while read -r _ _ sym; do def_in[$sym]=$m; done < <(nm --defined-only -g "$o" | awk '$2 ~ /[TDBR]/')
done
bad=0
for o in "${objs[@]}"; do
	m=$(basename "$o" .o)
	while read -r _ sym; do
		d=${def_in[$sym]:-}
		[[ -n $d && $d != "$m" ]] || continue
		if ((layer_of[$d] < layer_of[$m])); then
			echo "check_layers: $m.c (line ${layer_of[$m]}) calls $sym of $d.c (line ${layer_of[$d]}, above it)" >&2
			bad=1
		fi
	done < <(nm -u "$o")
done
for src in $srcs; do
	m=$(basename "$src" .c)
	for h in $(sed -n 's/^#include "\([a-z_]*\)\.h".*/\1/p' "$src"); do
		[[ -n ${layer_of[$h]:-} && $h != "$m" ]] || continue
		if ((layer_of[$h] < layer_of[$m])) && [[ $TYPES != *" $h "* ]]; then
			echo "check_layers: $m.c (line ${layer_of[$m]}) includes $h.h (line ${layer_of[$h]}, above it)" >&2
			bad=1
		fi
	done
done
if ((bad)); then
	exit 1
fi
echo "check_layers: ${#objs[@]} files on $n lines, every call and include points down (type headers:$TYPES)"
