#!/usr/bin/env bash
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# heal_budget: every endpoint down for 10 s under steady load, and retries
# stay within the retry budget. h2 and h3 serve api; both meshds are
# stopped (their kernels refuse at once), then h1 opens 7 new connections/s
# for 10 s. h1 has retries = 2 (each connection could make 2 extra
# attempts), retry_budget = 20 % (the default) and retry_min_per_s = 1 (the
# default 10/s would allow every retry of this small load and prove nothing).
# From h1's close records, with F first attempts (records with attempts >= 1)
# and E extra attempts (the sum of attempts minus F), over the load's T s:
#   E <= 0.2 x F + 1 x T + 10 + 5
# where 10 is one budget window's worth of retry_min_per_s that a budget may
# hold from the start, and 5 is slack for the window's edges. Without a
# budget E would be 2 x F (140 against a bound of about 39). Records whose
# detail says "retry budget exhausted" exist, and they keep the failure's
# result (refused). No load runs before the outage, so no earlier first
# attempts feed the budget. Refusal records are aggregated beyond 100 per
# 10 s; the load stays below that, and any aggregated connection would be
# counted as if it had made every extra attempt (so it cannot help pass).
. "$(dirname "$0")/lib.sh"

RATE=7
SECS=10
RETRIES=2
topo_up 3 --service api=h2,h3 --svc "api:retries=$RETRIES" --svc api:retry_min_per_s=1
L=$(topo_log h1)

topo stop h2
topo stop h3
mark=$(since "$L")
topo_client h1 rate api 80 "$RATE" "$SECS" >"$T/load.out" 2>&1 || true
s=$(topo_summary "$T/load.out")
note "load: $(jq -c '{count, ok, failed, total_s, p50_ms, max_ms}' <<<"$s")"
n=$(jq '.count // 0' <<<"$s")
check_eq "h1 made $((RATE * SECS)) connections" "$((RATE * SECS))" "$n"
check_eq "none succeeded (no endpoint is up)" 0 "$(jq '.ok // -1' <<<"$s")"
sleep 1 # the last records
records "$L" '.event == "close" or .event == "aggregate"' "$mark" >"$T/recs"
agg=$(jq -s '[.[] | select(.event == "aggregate" and .direction == "outbound") | .count] | add // 0' "$T/recs")
first=$(jq -s '[.[] | select(.event == "close" and .service == "api" and .attempts >= 1)] | length' "$T/recs")
total=$(jq -s '[.[] | select(.event == "close" and .service == "api") | .attempts] | add // 0' "$T/recs")
nrec=$(jq -s '[.[] | select(.event == "close" and .service == "api")] | length' "$T/recs")
first=$((first + agg))
extra=$((total - (first - agg) + agg * RETRIES))
dur=$(jq '.total_s // 10 | ceil' <<<"$s")
bound=$(((first * 20 + 99) / 100 + dur + 10 + 5))
note "first attempts $first (aggregated $agg), extra attempts $extra, bound 0.2 x $first + $dur + 15 = $bound (without a budget: $((first * RETRIES)))"
check_eq "every connection left a record" "$n" "$((nrec + agg))"
check "extra attempts within the budget ($extra <= $bound)" test "$extra" -le "$bound"
ex=$(jq -c 'select(.event == "close" and ((.detail // "") | contains("retry budget exhausted")))' "$T/recs")
check "records say the retry budget was exhausted" test -n "$ex"
if [[ -n $ex ]]; then
	note "e.g. $(head -n 1 <<<"$ex")"
	check_eq "a budget-exhausted record keeps the failure's result (refused)" "refused" \
		"$(jq -r .result <<<"$ex" | sort -u | tr '\n' ' ' | sed 's/ $//')"
fi

summary
