#!/usr/bin/env bash
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# heal_failover: failover tiers. Four hosts: h2, h3 and h4 serve api; h1
# calls with endpoints = h2, h3 | h4 (h4 is the backup tier), base_ejection
# and max_ejection 2s. Who served each connection is what the upstream
# answers; each phase is 40 new connections from h1, and every connection
# must succeed:
# 1. all up: h4 gets none;
# 2. h2 stopped: h3 is still healthy, so h4 gets none (retries stay in the
#    primary tier while it has a healthy endpoint);
# 3. h3 stopped too: the primary tier has no healthy endpoint, h4 serves
#    (the last 20 all on h4);
# 4. h2 and h3 started, 3 s later (their ejections are over): the last 30
#    get none on h4 again.
. "$(dirname "$0")/lib.sh"

topo_up 4 --service api=h2,h3,h4 --svc 'api:endpoints=h2, h3 | h4' \
	--svc api:base_ejection=2s --svc api:max_ejection=2s

phase() { # NAME: 40 connections; OUT=$T/NAME.out
	topo_client h1 seq api 80 40 >"$T/$1.out" 2>&1 || true
	s=$(topo_summary "$T/$1.out")
	note "$1: $(jq -c '{ok, total_s, hosts}' <<<"$s")"
	check_eq "$1: all 40 connections succeed" 40 "$(jq '.ok // 0' <<<"$s")"
}
on_h4() { # OUT LAST: how many of the last LAST connections h4 served
	topo_answers "$1" | tail -n "$2" | grep -c '^h4$' || true
}

phase all-up
check_eq "all up: the backup h4 gets none" 0 "$(on_h4 "$T/all-up.out" 40)"
check_eq "all up: h2 and h3 share the traffic" "h2 h3 " "$(topo_answers "$T/all-up.out" | sort -u | tr '\n' ' ')"

topo stop h2
phase h2-down
check_eq "h2 down, h3 healthy: the backup h4 gets none" 0 "$(on_h4 "$T/h2-down.out" 40)"

topo stop h3
phase primary-down
check_eq "h2 and h3 down: h4 serves the last 20" 20 "$(on_h4 "$T/primary-down.out" 20)"

topo start h2
topo start h3
sleep 3
phase primary-back
check_eq "h2 and h3 back: the last 30 get none on h4" 0 "$(on_h4 "$T/primary-back.out" 30)"

summary
