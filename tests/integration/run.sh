#!/usr/bin/env bash
# run.sh [-j N] [--sanitize|--asan|--ubsan] [SCENARIO.sh...]: run the integration scenarios.
#
# Every tests/integration/*.sh and tests/integration/*/*.sh except lib.sh,
# run.sh and anything under conf-broken/ is a scenario: run each in its own
# bash with a time limit (SCENARIO_TIMEOUT, 120 s), show its output indented
# under a header, count the scenarios that passed and failed, and end with
# "N passed, N failed". Exits 1 when any failed.
#
# --asan: the same scenarios against an AddressSanitizer meshd, taken from
# MESHD (the Makefile sets MESHD=build-address/meshd; that is the default).
# --sanitize: the same against a meshd built with both (make test's second
# run: MESHD=build-address-undefined/meshd, make SANITIZE=address,undefined
# BUILD=build-address-undefined): ASan's and UBSan's reports both fail the scenario.
# --ubsan: the same against an UndefinedBehaviorSanitizer meshd (default
# MESHD=build-undefined/meshd, built with make SANITIZE=undefined): any
# "runtime error:" on meshd's stderr fails the scenario (lib.sh), and the
# build's -fno-sanitize-recover=all makes the first one also stop meshd.
#
# A scenario may name the runs it takes part in with a line "# modes: WORDS"
# among its first 15 lines (words plain, sanitize, asan, ubsan): the heaviest ones
# (a 60 s stream, thousands of connections) say "# modes: plain" and are
# skipped, and listed as skipped, in the sanitizer runs. Without the line,
# every run.
#
# -j N (or MESH_TEST_JOBS=N): up to N scenarios at once (default 1). Each
# runs in a slot of its own: MESH_TEST_SLOT (0..N-1) and MESH_TEST_SLOTS
# tell lib.sh which share of the port range to pick its ports from, so
# that two scenarios never pick the same ports; namespaces and files are
# per scenario already (pid, mktemp). A scenario's output is printed whole
# when it ends, so the log reads as with -j 1, in the order they ended. A
# scenario with a line "# serial" among its first 15 lines (floods, load
# generators, timing bounds that another scenario's load could break) runs
# alone: the runner lets the running ones end first.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIMEOUT=${SCENARIO_TIMEOUT:-120}

mode=plain
JOBS=${MESH_TEST_JOBS:-1}
while [[ $# -gt 0 ]]; do
	case $1 in
	--asan) mode=asan; shift ;;
	--ubsan) mode=ubsan; shift ;;
	--sanitize) mode=sanitize; shift ;;
	-j) JOBS=${2:-}; shift 2 || shift ;;
	-j*) JOBS=${1#-j}; shift ;;
	*) break ;;
	esac
done
if ! [[ $JOBS =~ ^[1-9][0-9]?$ ]]; then
	echo "run.sh: -j wants a number of scenarios at once, 1 to 99 (got '$JOBS')" >&2
	exit 2
fi

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) if [[ -e $1 ]]; then printf '%s\n' "$PWD/$1"; else printf '%s\n' "$ROOT/$1"; fi ;;
	esac
}

if [[ $mode == asan ]]; then
	MESHD=$(abspath "${MESHD:-build-address/meshd}")
elif [[ $mode == ubsan ]]; then
	MESHD=$(abspath "${MESHD:-build-undefined/meshd}")
elif [[ $mode == sanitize ]]; then
	MESHD=$(abspath "${MESHD:-build-address-undefined/meshd}")
else
	MESHD=$(abspath "${MESHD:-build/meshd}")
fi
LIBMESH=$(abspath "${LIBMESH:-build/libmesh.so}")
export MESHD LIBMESH

label=integration
tag=
build_cmd="make"
if [[ $mode == asan ]]; then
	label=integration-asan
	tag=" (asan)"
	build_cmd="make SANITIZE=address"
elif [[ $mode == ubsan ]]; then
	label=integration-ubsan
	tag=" (ubsan)"
	build_cmd="make SANITIZE=undefined"
elif [[ $mode == sanitize ]]; then
	label=integration-sanitize
	tag=" (asan+ubsan)"
	build_cmd="make SANITIZE=address,undefined BUILD=build-address-undefined"
fi

if [[ $mode == asan ]]; then
	echo "$label: AddressSanitizer run, MESHD=$MESHD"
	# Leak checking at exit is what the SIGTERM at the end of each scenario
	# is for; keep the caller's options if it gave any.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
elif [[ $mode == ubsan ]]; then
	echo "$label: UndefinedBehaviorSanitizer run, MESHD=$MESHD"
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
elif [[ $mode == sanitize ]]; then
	echo "$label: AddressSanitizer + UndefinedBehaviorSanitizer run, MESHD=$MESHD"
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
	echo "$label: MESHD=$MESHD"
fi

missing=0
if [[ ! -x $MESHD ]]; then
	echo "$label: meshd not found or not executable: $MESHD (build it: $build_cmd)" >&2
	missing=1
fi
if [[ ! -r $LIBMESH ]]; then
	echo "$label: libmesh.so not found: $LIBMESH (build it: make)" >&2
	missing=1
fi
if [[ $missing -eq 1 ]]; then
	echo "0 passed, 1 failed"
	exit 1
fi

scenarios=()
if [[ $# -gt 0 ]]; then
	for f in "$@"; do scenarios+=("$(abspath "$f")"); done
else
	shopt -s nullglob
	for f in "$HERE"/*.sh "$HERE"/*/*.sh; do
		case ${f#"$HERE"/} in
		lib.sh | run.sh | */lib.sh | conf-broken/*) continue ;;
		esac
		scenarios+=("$f")
	done
fi
if [[ ${#scenarios[@]} -eq 0 ]]; then
	echo "$label: no scenarios found in $HERE" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# Kill what a scenario left behind (its own cleanup normally does this; a
# scenario killed by the time limit may not have finished it). lib.sh's spawn
# appends "PID NAME" to MESH_TEST_PIDFILE; each such PID leads its own
# process group, and only a process that still does is ours.
kill_leftovers() {
	local pidfile=$1 pid name pgid
	[[ -s $pidfile ]] || return 0
	while read -r pid name; do
		[[ -r /proc/$pid/stat ]] || continue
		pgid=$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$pid/stat" 2>/dev/null) || continue
		if [[ $pgid == "$pid" ]]; then
			echo "    # killing leftover $name (pid $pid)"
			kill -KILL -- "-$pid" 2>/dev/null || true
		fi
	done <"$pidfile"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/libmesh-run.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# scenario_modes FILE: the words of its "# modes:" line (empty: every run).
scenario_modes() {
	sed -n '1,15{s/^# modes:[[:space:]]*//p}' "$1" | head -n 1
}

# scenario_serial FILE: whether it says "# serial" (runs alone).
scenario_serial() {
	sed -n '1,15p' "$1" | grep -qx '# serial'
}

passed=0
failed=0
failed_names=()
skipped_names=()

# launch SLOT FILE: start a scenario in the background in SLOT.
declare -A slot_of=() name_of=() start_of=()
launch() {
	local slot=$1 f=$2
	: >"$work/pids.$slot"
	(
		MESH_TEST_PIDFILE=$work/pids.$slot MESH_TEST_SLOT=$slot MESH_TEST_SLOTS=$JOBS \
			timeout -k 30 "$TIMEOUT" bash "$f" >"$work/out.$slot" 2>&1 </dev/null
		echo $? >"$work/rc.$slot"
	) &
	slot_of[$!]=$slot
	name_of[$!]=${f#"$HERE"/}
	start_of[$!]=$SECONDS
}

# report PID: print the ended scenario's output and verdict, free its slot.
report() {
	local pid=$1 slot name dur rc
	slot=${slot_of[$pid]}
	name=${name_of[$pid]}
	dur=$((SECONDS - start_of[$pid]))
	unset "slot_of[$pid]" "name_of[$pid]" "start_of[$pid]"
	rc=$(cat "$work/rc.$slot" 2>/dev/null) || rc=1
	[[ -n $rc ]] || rc=1
	rm -f "$work/rc.$slot"
	[[ $JOBS -eq 1 ]] || echo "=== $name$tag"
	sed 's/^/    /' "$work/out.$slot"
	kill_leftovers "$work/pids.$slot"
	free+=("$slot")
	if [[ $rc -eq 0 ]]; then
		passed=$((passed + 1))
		echo "--- PASS $name (${dur}s)"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		if [[ $rc -eq 124 || ($rc -eq 137 && $dur -ge $TIMEOUT) ]]; then
			echo "--- FAIL $name: timed out after ${TIMEOUT}s (${dur}s)"
		elif [[ $rc -gt 128 ]]; then
			echo "--- FAIL $name (killed by signal $((rc - 128)), ${dur}s)"
		else
			echo "--- FAIL $name (exit status $rc, ${dur}s)"
		fi
	fi
}

# reap_one: wait for any running scenario to end and report it.
reap_one() {
	local pid=
	wait -n -p pid "${!slot_of[@]}" 2>/dev/null
	if [[ -n $pid && -n ${slot_of[$pid]:-} ]]; then
		report "$pid"
		return
	fi
	# (wait -n had nothing of ours to wait for: look for one that ended.)
	for pid in "${!slot_of[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			report "$pid"
			return
		fi
	done
	sleep 0.1
}

free=()
for ((i = 0; i < JOBS; i++)); do free+=("$i"); done
for f in "${scenarios[@]}"; do
	name=${f#"$HERE"/}
	modes=$(scenario_modes "$f")
	if [[ -n $modes && " $modes " != *" $mode "* ]]; then
		skipped_names+=("$name")
		echo "=== $name$tag"
		echo "--- SKIP $name (modes: $modes)"
		continue
	fi
	if [[ $JOBS -gt 1 ]] && scenario_serial "$f"; then
		while [[ ${#slot_of[@]} -gt 0 ]]; do reap_one; done
	fi
	while [[ ${#free[@]} -eq 0 ]]; do reap_one; done
	slot=${free[0]}
	free=("${free[@]:1}")
	# With -j 1 the header comes first, as the scenario starts.
	[[ $JOBS -gt 1 ]] || echo "=== $name$tag"
	launch "$slot" "$f"
	if [[ $JOBS -eq 1 ]] || scenario_serial "$f"; then
		while [[ ${#slot_of[@]} -gt 0 ]]; do reap_one; done
	fi
done
while [[ ${#slot_of[@]} -gt 0 ]]; do reap_one; done

if [[ ${#skipped_names[@]} -gt 0 ]]; then
	echo "$label: skipped in this run (see their modes: line): ${skipped_names[*]}"
fi
if [[ $failed -gt 0 ]]; then
	echo "$label: failed: ${failed_names[*]}"
fi
echo "$label: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
