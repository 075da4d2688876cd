#!/usr/bin/env bash
# serial
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# modes: plain
# heal_lb_weights: round_robin with weights is smooth: it interleaves
# instead of bursting. h2 and h3 serve; h1 calls (who served each connection
# is what the upstream answers).
# - endpoints = h2*9, h3*1: of 2,000 new connections h2 gets 90 % +- 3
#   points, h3 never gets two in a row, and h2 never more than 12 in a row.
# - endpoints = h2*7, h3*3 (where a burst shows: it sends 7 in a row): of 300
#   connections h2 gets 70 % +- 5 points and never more than 4 in a row
#   (smooth weighted round robin: at most 3), h3 never two in a row.
# Plain build only (2,300 connections).
. "$(dirname "$0")/lib.sh"

topo_up 3 --service w91=h2,h3 --svc w91:lb=round_robin --svc 'w91:endpoints=h2*9, h3*1' \
	--service w73=h2,h3 --svc w73:lb=round_robin --svc 'w73:endpoints=h2*7, h3*3'

# weights NAME LABEL N H2_MIN H2_MAX H2_RUN: N connections to NAME; h2 gets
# H2_MIN..H2_MAX of them, never more than H2_RUN in a row, and h3 never
# two in a row (smooth: the light endpoint's turns are spread out).
weights() {
	local name=$1 label=$2 n=$3 lo=$4 hi=$5 run=$6 s h2 r2 r3
	topo_client h1 seq "$name" 80 "$n" >"$T/$name.out" 2>&1 || true
	s=$(topo_summary "$T/$name.out")
	note "$label: $(jq -c '{ok, total_s, p50_ms, hosts}' <<<"$s")"
	check_eq "$label: all $n connections succeed" "$n" "$(jq '.ok // 0' <<<"$s")"
	h2=$(jq '.hosts.h2 // 0' <<<"$s")
	check "$label: h2 gets $lo to $hi of $n ($h2)" test "$h2" -ge "$lo" -a "$h2" -le "$hi"
	r2=$(topo_answers "$T/$name.out" | longest_run h2)
	r3=$(topo_answers "$T/$name.out" | longest_run h3)
	note "$label: longest runs: h2 $r2, h3 $r3; first 30: $(topo_answers "$T/$name.out" | head -n 30 | tr -d 'h\n')"
	check "$label: h2 never gets more than $run in a row ($r2)" test "$r2" -le "$run"
	check "$label: h3 never gets two in a row ($r3)" test "$r3" -le 1
}
weights w91 90/10 2000 1740 1860 12 # 87 to 93 %
weights w73 70/30 300 195 225 4     # 65 to 75 %

summary
