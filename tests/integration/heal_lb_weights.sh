#!/usr/bin/env bash
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

topo_client h1 seq w91 80 2000 >"$T/w91.out" 2>&1 || true
s=$(topo_summary "$T/w91.out")
note "90/10: $(jq -c '{ok, total_s, p50_ms, hosts}' <<<"$s")"
check_eq "90/10: all 2000 connections succeed" 2000 "$(jq '.ok // 0' <<<"$s")"
h2=$(jq '.hosts.h2 // 0' <<<"$s")
check "90/10: h2 gets 87 to 93 % ($h2 of 2000)" test "$h2" -ge 1740 -a "$h2" -le 1860
r2=$(topo_answers "$T/w91.out" | longest_run h2)
r3=$(topo_answers "$T/w91.out" | longest_run h3)
note "90/10: longest runs: h2 $r2, h3 $r3; first 30: $(topo_answers "$T/w91.out" | head -n 30 | tr -d 'h\n')"
check "90/10: h2 never gets more than 12 in a row ($r2)" test "$r2" -le 12
check "90/10: h3 never gets two in a row ($r3)" test "$r3" -le 1

topo_client h1 seq w73 80 300 >"$T/w73.out" 2>&1 || true
s=$(topo_summary "$T/w73.out")
note "70/30: $(jq -c '{ok, hosts}' <<<"$s")"
check_eq "70/30: all 300 connections succeed" 300 "$(jq '.ok // 0' <<<"$s")"
h2=$(jq '.hosts.h2 // 0' <<<"$s")
check "70/30: h2 gets 65 to 75 % ($h2 of 300)" test "$h2" -ge 195 -a "$h2" -le 225
r2=$(topo_answers "$T/w73.out" | longest_run h2)
r3=$(topo_answers "$T/w73.out" | longest_run h3)
note "70/30: longest runs: h2 $r2, h3 $r3; first 30: $(topo_answers "$T/w73.out" | head -n 30 | tr -d 'h\n')"
check "70/30: h2 never gets more than 4 in a row ($r2)" test "$r2" -le 4
check "70/30: h3 never gets two in a row ($r3)" test "$r3" -le 1

summary
