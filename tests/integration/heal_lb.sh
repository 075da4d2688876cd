#!/usr/bin/env bash
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# heal_lb: the load-balancing strategies on three hosts (h2 and h3 serve;
# h1 calls; who served each connection is what the upstream answers).
# - p2c_ewma (service p2c): with every frame leaving h2 delayed 20 ms
#   (topology.sh delay: netem, or its delay line without netem), h2 gets
#   clearly less of 200 new connections: less than 30 % (round robin gives
#   50 %).
# - least_conn (service lc): 40 connections, each held open while the next
#   connects, spread evenly: 20 +- 2 on each host.
# The weights (round_robin, 2,000 connections) are heal_lb_weights.
. "$(dirname "$0")/lib.sh"

topo_up 3 --service p2c=h2,h3 --svc p2c:lb=p2c_ewma --service lc=h2,h3 --svc lc:lb=least_conn

check "warm-up: h1 reaches h2 and h3" topo_warm_up h1 p2c 80 h2 h3
topo delay h2 20
topo_client h1 seq p2c 80 200 >"$T/p2c.out" 2>&1 || true
s=$(topo_summary "$T/p2c.out")
note "p2c_ewma, h2 +20 ms: $(jq -c '{ok, total_s, p50_ms, hosts}' <<<"$s")"
check_eq "p2c_ewma: all 200 connections succeed" 200 "$(jq '.ok // 0' <<<"$s")"
h2=$(jq '.hosts.h2 // 0' <<<"$s")
check "p2c_ewma: the slowed h2 gets less than 30 % ($h2 of 200)" test "$h2" -lt 60
topo delay h2 0

topo_client h1 hold lc 80 40 >"$T/lc.out" 2>&1 || true
s=$(topo_summary "$T/lc.out")
note "least_conn, 40 held: $(jq -c '{ok, hosts}' <<<"$s")"
check_eq "least_conn: all 40 held connections succeed" 40 "$(jq '.ok // 0' <<<"$s")"
h2=$(jq '.hosts.h2 // 0' <<<"$s")
check "least_conn: 40 held connections spread 20 +- 2 ($h2 on h2)" test "$h2" -ge 18 -a "$h2" -le 22

summary
