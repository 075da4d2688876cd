#!/usr/bin/env bash
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# heal_recover: an ejected endpoint comes back. h2 and h3 serve api, h1
# calls with lb = round_robin (so that h2 keeps getting first attempts until
# it is ejected) and base_ejection = 3s. h2's meshd stops; h1 ejects h2 (a
# traffic record "event":"eject" and a line "... ejected ..." on meshd's
# stderr); h2 starts again at once, while still ejected. Under steady load
# from h1 (10 new connections/s for 9 s), checked on h1's close records:
# - every connection succeeds;
# - none ends on h2 before its ejection ends (eject time + 3 s, minus 0.3 s
#   for the clocks of record and decision);
# - after the ejection ends h2 gets traffic again: of the connections that
#   closed from 1.5 s after it on, at least a third ended on h2 (round
#   robin: about half);
# - h1 records h2's return ("event":"return", at or after the ejection's
#   end) and says "... returned ..." on stderr, once each.
. "$(dirname "$0")/lib.sh"

EJ=3
H2=10.78.0.2:15443
topo_up 3 --service api=h2,h3 --svc api:lb=round_robin --svc "api:base_ejection=${EJ}s"
L=$(topo_log h1)
ERR=$TOPO_DIR/h1/meshd.err

check "warm-up: h1 reaches h2 and h3" topo_warm_up h1 api 80 h2 h3

topo stop h2
mark=$(since "$L")
topo_client h1 seq api 80 20 >"$T/down.out" 2>&1 || true
check_eq "with h2 stopped, 20 connections from h1 succeed" 20 "$(topo_summary "$T/down.out" | jq '.ok // 0')"
ej=$(wait_record "$L" ".event == \"eject\" and .service == \"api\" and .endpoint == \"$H2\"" 10) || ej='{}'
check_rec "h1 records h2's ejection" "$ej" '.event == "eject"'
check "h1's meshd says it ejected h2" grep -q "$H2 ejected" "$ERR"
topo start h2

mark=$(since "$L")
topo_client h1 rate api 80 10 9 >"$T/load.out" 2>&1 || true
s=$(topo_summary "$T/load.out")
note "load: $(jq -c '{ok, failed, hosts}' <<<"$s")"
check_eq "every connection under load succeeds" "$(jq '.count // -1' <<<"$s")" "$(jq '.ok // 0' <<<"$s")"
new_records "$L" "$mark" '.event == "close" and .service == "api"' "$(jq '.count // 1' <<<"$s")" 10 >"$T/load.recs" || true
t_ej=$(jq -r "$JQ_TIME"' t' <<<"$ej" 2>/dev/null) || t_ej=0
early=$(jq -c --argjson e "$t_ej" --argjson d "$EJ" --arg h2 "$H2" "$JQ_TIME"'
	select(t < $e + $d - 0.3 and .endpoint == $h2)' "$T/load.recs" | head -n 3)
check_eq "no connection ends on h2 before its ${EJ} s ejection ends" "" "$early"
late_all=$(jq -c --argjson e "$t_ej" --argjson d "$EJ" "$JQ_TIME"'select(t >= $e + $d + 1.5)' "$T/load.recs" | wc -l)
late_h2=$(jq -c --argjson e "$t_ej" --argjson d "$EJ" --arg h2 "$H2" "$JQ_TIME"'
	select(t >= $e + $d + 1.5 and .endpoint == $h2)' "$T/load.recs" | wc -l)
note "after the ejection: $late_h2 of $late_all connections ended on h2"
check "after the ejection h2 gets traffic again (at least a third: $late_h2 of $late_all)" \
	test "$late_all" -ge 10 -a "$((late_h2 * 3))" -ge "$late_all"
ret=$(wait_record "$L" ".event == \"return\" and .service == \"api\" and .endpoint == \"$H2\"" 5) || ret='{}'
check_rec "h1 records h2's return" "$ret" '.event == "return"'
check_eq "the return comes at or after the ejection's end" true \
	"$(jq --argjson e "$t_ej" --argjson d "$EJ" "$JQ_TIME"'t >= $e + $d - 0.05' <<<"$ret" 2>/dev/null || echo false)"
check_eq "h2's ejection and return are logged once each" "1 1" \
	"$(grep -c "$H2 ejected" "$ERR") $(grep -c "$H2 returned" "$ERR")"

summary
