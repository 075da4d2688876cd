#!/usr/bin/env bash
# check_tailcall.sh LIBMESH_SO: the dlopen and dlmopen hooks end in a tail
# call to the real function.
#
# glibc's dlopen finds the caller from its return address (RUNPATH, RPATH,
# $ORIGIN, namespace). A hook that called the real dlopen and returned
# through it would make libmesh.so the caller, and a program's
# dlopen("libplug.so") that relies on its RUNPATH would fail
# (shim/dlhooks.c). So each hook must reach the real function by an
# indirect jump and never by an indirect call. Read from the disassembly
# (objdump) on x86-64; elsewhere this check says it is skipped, and the
# transparency scenario dlopen_runpath.sh still tests the behaviour.
# make unit runs it (the check-tailcall rule).
set -euo pipefail

LIB=${1:?usage: check_tailcall.sh LIBMESH_SO}
arch=$(uname -m)
if [[ $arch != x86_64 ]]; then
	echo "check_tailcall: skipped on $arch (x86-64 disassembly only)"
	exit 0
fi
command -v objdump >/dev/null || { echo "check_tailcall: objdump (binutils) is missing" >&2; exit 1; }

fail=0
for fn in dlopen dlmopen; do
	body=$(objdump -d --no-show-raw-insn "$LIB" | awk -v f="<$fn>:" '$2 == f { on = 1; next } on && /^$/ { exit } on')
	if [[ -z $body ]]; then
		echo "check_tailcall: $fn not found in $LIB" >&2
		fail=1
		continue
	fi
	jumps=$(grep -cE $'\tjmp +\\*%' <<<"$body" || true)
	calls=$(grep -cE $'\tcall +\\*' <<<"$body" || true)
	if [[ $jumps -lt 1 || $calls -ne 0 ]]; then
		echo "check_tailcall: $fn reaches the real function by $calls indirect call(s) and $jumps indirect jump(s); it must only jump (a tail call)" >&2
		echo "$body" >&2
		fail=1
	fi
done
[[ $fail -eq 0 ]] && echo "check_tailcall: dlopen and dlmopen end in tail calls"
exit "$fail"
