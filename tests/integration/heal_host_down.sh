#!/usr/bin/env bash
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# heal_host_down: three hosts (scripts/topology.sh): h2 and h3 serve api, h1
# calls it with the default config (lb p2c_ewma, consecutive_failures 5,
# base_ejection 30 s). Two cases, each from a fresh meshd on h1 whose links
# to both hosts are up: h2's meshd stopped (its kernel refuses at once), and
# h2's link cut silently (nothing answers, nothing says so). Each time 200
# consecutive new connections from h1 (python under the shim):
# - all 200 succeed;
# - at most consecutive_failures (5) of h1's records have attempts > 1: after
#   that many failures h2 gets no first attempt (it is ejected, and its 30 s
#   ejection outlasts the case); each such record ended ok on h3;
# - the 200 complete within 20 s, a generous functional bound (before this
#   work the cut case took 168 s: every connection first tried h2 and waited
#   for its connect timeout). The time, p50 and retried count are printed.
. "$(dirname "$0")/lib.sh"

CF=5 # consecutive_failures' default
BOUND=20
H2=10.78.0.2:15443
H3=10.78.0.3:15443
topo_up 3 --service api=h2,h3
L=$(topo_log h1)

run_case() { # WHAT: h2 is gone now; 200 connections from h1
	local what=$1 mark out s retried bad
	mark=$(since "$L")
	out=$T/$what.out
	topo_client h1 seq api 80 200 >"$out" 2>"$T/$what.err" || true
	s=$(topo_summary "$out")
	note "$what: $(jq -c '{ok, failed, total_s, p50_ms, p90_ms, max_ms, hosts}' <<<"$s")"
	check_eq "$what: all 200 new connections from h1 succeed" 200 "$(jq '.ok // 0' <<<"$s")"
	check_eq "$what: the 200 complete within $BOUND s (took $(jq .total_s <<<"$s") s)" true \
		"$(jq --argjson b "$BOUND" '(.total_s // 1e9) <= $b' <<<"$s")"
	new_records "$L" "$mark" '.event == "close" and .service == "api"' 200 10 >"$T/$what.recs" || true
	check_eq "$what: h1 wrote a close record for each" 200 "$(wc -l <"$T/$what.recs")"
	retried=$(jq -c 'select(.attempts > 1)' "$T/$what.recs" | wc -l)
	note "$what: $retried connections needed more than one attempt (first tried h2)"
	check "$what: at most $CF connections needed a second attempt (saw $retried)" test "$retried" -le "$CF"
	bad=$(jq -c --arg h3 "$H3" 'select(.attempts > 1 and (.result != "ok" or .endpoint != $h3))' "$T/$what.recs" | head -n 3)
	check_eq "$what: every retried connection ended ok on h3" "" "$bad"
	bad=$(jq -c --arg h2 "$H2" 'select(.endpoint == $h2)' "$T/$what.recs" | head -n 3)
	check_eq "$what: no connection ended on h2" "" "$bad"
	if grep -q '"event":"eject"' "$L"; then
		note "$what: $(grep '"event":"eject"' "$L" | tail -n 1)"
	fi
}

check "h1 reaches both h2 and h3" topo_warm_up h1 api 80 h2 h3
topo stop h2
run_case stopped
topo start h2

# A fresh h1 (no ejection carried over), links to both hosts up again.
topo stop h1
topo start h1
check "h1 reaches both h2 and h3 again" topo_warm_up h1 api 80 h2 h3
topo cut h2
run_case cut
topo restore h2

summary
