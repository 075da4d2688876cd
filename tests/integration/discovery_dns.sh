#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2016  # TOPO_* and helpers come from lib.sh; awk and jq programs
# discovery_dns: endpoints from DNS. dnsmasq on h1 (10.78.0.1:53, in h1's
# namespace, nothing forwarded: --no-resolv) serves a Consul-style zone
# (service.consul, node.consul) and a Kubernetes-style one (cluster.local);
# h1's meshd has `resolvers = 10.78.0.1` and TTLs held to 1s..5s; h2, h3
# and h4 serve. Every change below is made in DNS only: h1's meshd is never
# reloaded.
# - start: `meshd -t` says what it resolves; the first answers are in the
#   generation meshd starts with (the first connection succeeds).
# - dns:api.service.consul:15443 (A records from an addn-hosts file):
#   h2, h3 -> add h4 (dnsmasq SIGHUP) -> h4 gets connections within the TTL
#   -> remove h2 -> none goes to h2 after the TTL.
# - a held connection (echo service, dns:hold.service.consul:15443) to h2
#   survives its name moving to h3 and the other changes.
# - srv:_api._tcp.service.consul: priority 10 h3 (weight 3) and h4
#   (weight 1), priority 20 h2: h3 about 3/4, h4 1/4, h2 none (round
#   robin); srv:_mesh._tcp.api.default.svc.cluster.local (Kubernetes
#   headless style): h2 priority 10, h3 priority 20.
# - NXDOMAIN is applied: dns:gone.service.consul:15443 with a literal
#   fallback tier (h4) sends everything to h4.
# - resolver outage (dnsmasq stopped): the last answers stay (traffic
#   flows), the log says so once, a "failed" discovery record is written;
#   the SRV tiers still fail over (h2 stopped: the Kubernetes-style service
#   goes to h3).
. "$(dirname "$0")/lib.sh"

command -v dnsmasq >/dev/null || die "dnsmasq not installed (scripts/deps.sh: dnsmasq-base)"

topo_up 4 --service api=h2,h3,h4 --svc 'api:endpoints=dns:api.service.consul:15443' \
	--service hold=h2,h3 --upstream hold=echo --svc 'hold:endpoints=dns:hold.service.consul:15443' \
	--service weighted=h2,h3,h4 --svc 'weighted:endpoints=srv:_api._tcp.service.consul' \
	--svc weighted:lb=round_robin \
	--service k8s=h2,h3 --svc 'k8s:endpoints=srv:_mesh._tcp.api.default.svc.cluster.local' \
	--service gone=h4 --svc 'gone:endpoints=dns:gone.service.consul:15443 | h4' \
	--mesh resolvers=10.78.0.1 --mesh dns_ttl_min=1s --mesh dns_ttl_max=5s \
	--mesh dns_timeout=500ms --mesh admin=127.0.0.1:15000

H1LOG=$(topo_log h1)
H1ERR=$(topo path h1 err)
H1INI=$(topo path h1 ini)

cat >"$T/dns.hosts" <<HOSTS
10.78.0.2 api.service.consul
10.78.0.3 api.service.consul
10.78.0.2 hold.service.consul
HOSTS
start_dnsmasq() {
	spawn dnsmasq "$T/dnsmasq.out" "$TOPOLOGY" -n "$TOPO_NAME" -d "$TOPO_DIR" exec h1 \
		dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --keep-in-foreground \
		--user=root --group=root --pid-file= --port=53 --listen-address=10.78.0.1 \
		--bind-interfaces --local=/consul/ --local=/cluster.local/ --local-ttl=2 \
		--log-queries --log-facility=- --addn-hosts="$T/dns.hosts" \
		--host-record=h2.node.consul,10.78.0.2 --host-record=h3.node.consul,10.78.0.3 \
		--host-record=h4.node.consul,10.78.0.4 \
		--srv-host=_api._tcp.service.consul,h3.node.consul,15443,10,3 \
		--srv-host=_api._tcp.service.consul,h4.node.consul,15443,10,1 \
		--srv-host=_api._tcp.service.consul,h2.node.consul,15443,20,1 \
		--host-record=api-0.api.default.svc.cluster.local,10.78.0.2 \
		--host-record=api-1.api.default.svc.cluster.local,10.78.0.3 \
		--srv-host=_mesh._tcp.api.default.svc.cluster.local,api-0.api.default.svc.cluster.local,15443,10,50 \
		--srv-host=_mesh._tcp.api.default.svc.cluster.local,api-1.api.default.svc.cluster.local,15443,20,50
	DNSMASQ=$LAST_PID
	local i
	for ((i = 0; i < 100; i++)); do
		topo exec h1 dig +time=1 +tries=1 @10.78.0.1 api.service.consul A +short 2>/dev/null |
			grep -q . && return 0
		sleep 0.1
	done
	die "dnsmasq does not answer on 10.78.0.1:53"
}
start_dnsmasq
# reread_hosts: dnsmasq (the one process named so in the session spawn
# made for it) reads the addn-hosts file again.
reread_hosts() {
	local pid
	pid=$(pgrep -s "$DNSMASQ" -x dnsmasq | head -n 1)
	[[ -n $pid ]] || die "dnsmasq is not running"
	kill -HUP "$pid"
}
for q in "api.service.consul A" "_api._tcp.service.consul SRV" \
	"_mesh._tcp.api.default.svc.cluster.local SRV"; do
	# shellcheck disable=SC2086  # name and type
	note "dig $q: $(topo exec h1 dig +noall +answer +additional @10.78.0.1 $q | tr -s ' \t' ' ' | tr '\n' ';')"
done

# meshd -t says which names it resolves, through which server.
topo exec h1 "$MESHD" -t -c "$H1INI" >"$T/check.out" 2>&1 || true
sed 's/^/#   /' "$T/check.out"
check "meshd -t: dns:api.service.consul:15443 resolved via 10.78.0.1:53 (2 endpoints)" \
	grep -q 'service api: dns:api.service.consul:15443 via 10.78.0.1:53: 2 endpoints' "$T/check.out"
check "meshd -t: the SRV entry: 3 endpoints" \
	grep -q 'service weighted: srv:_api._tcp.service.consul via 10.78.0.1:53: 3 endpoints' "$T/check.out"
check "meshd -t: NXDOMAIN is a note, not a failure" \
	grep -q 'service gone: dns:gone.service.consul:15443 via 10.78.0.1:53: NXDOMAIN' "$T/check.out"
check "meshd -t: the file is fine" grep -q 'test is successful' "$T/check.out"

# h1's meshd started before dnsmasq: restart it, so that it starts with
# the first answers (start-up waits for them).
topo stop h1 >/dev/null
topo start h1
topo_client h1 seq api 80 1 >"$T/first.out" 2>&1 || true
check_eq "the first connection after start succeeds (answers before the workers start)" 1 \
	"$(jq '.ok // 0' <<<"$(topo_summary "$T/first.out")")"

hosts_of() { # OUT: "h2:N h3:N ..." of a topo_client run
	jq -r '.hosts // {} | to_entries | map("\(.key):\(.value)") | sort | join(" ")' \
		<<<"$(topo_summary "$1")"
}
count_of() { jq ".hosts.$2 // 0" <<<"$(topo_summary "$1")"; }

topo_client h1 seq api 80 40 >"$T/api1.out" 2>&1 || true
note "api, A records h2 h3: $(hosts_of "$T/api1.out")"
check_eq "api: 40 of 40 connections succeed" 40 "$(jq '.ok // 0' <<<"$(topo_summary "$T/api1.out")")"
check "api: h2 and h3 both serve, h4 none" test "$(count_of "$T/api1.out" h2)" -gt 0 \
	-a "$(count_of "$T/api1.out" h3)" -gt 0 -a "$(count_of "$T/api1.out" h4)" -eq 0

# The held connection, to h2 (the only address of hold.service.consul).
spawn held "$T/held.out" "$TOPOLOGY" -n "$TOPO_NAME" -d "$TOPO_DIR" run h1 \
	"$PY" "$(dirname "$0")/held_client.py" hold 80 "$T/go"
HELD=$LAST_PID
wait_grep "$T/held.out" '^echo one' 10 || note "held: $(cat "$T/held.out")"
check "held connection: first echo" grep -q '^echo one' "$T/held.out"

# SRV weights and priorities.
topo_client h1 seq weighted 80 100 >"$T/w.out" 2>&1 || true
note "weighted (SRV 10: h3 w3, h4 w1; 20: h2): $(hosts_of "$T/w.out")"
check "weighted: h3 gets 70..80 of 100 (weight 3 of 4)" test "$(count_of "$T/w.out" h3)" -ge 70 \
	-a "$(count_of "$T/w.out" h3)" -le 80
check "weighted: h4 gets 20..30 of 100 (weight 1 of 4)" test "$(count_of "$T/w.out" h4)" -ge 20 \
	-a "$(count_of "$T/w.out" h4)" -le 30
check_eq "weighted: h2 (priority 20: the next tier) gets none" 0 "$(count_of "$T/w.out" h2)"
topo_client h1 seq k8s 80 20 >"$T/k1.out" 2>&1 || true
note "k8s (SRV 10: api-0 = h2, 20: api-1 = h3): $(hosts_of "$T/k1.out")"
check_eq "k8s: all 20 to h2 (priority 10)" 20 "$(count_of "$T/k1.out" h2)"

# NXDOMAIN applied: the fallback tier serves.
topo_client h1 seq gone 80 10 >"$T/g.out" 2>&1 || true
check_eq "gone: NXDOMAIN leaves the literal tier: 10 of 10 to h4" 10 "$(count_of "$T/g.out" h4)"
check "gone: a discovery record says empty (NXDOMAIN)" grep -q \
	'"event":"discovery".*"service":"gone".*"result":"empty","error":"NXDOMAIN"' "$H1LOG"

# The admin view says where each endpoint came from.
topo exec h1 curl -q -sS --noproxy '*' http://127.0.0.1:15000/endpoints >"$T/endpoints.json"
check "/endpoints: api's endpoints carry their source" jq -e \
	'.services[] | select(.service == "api") | .endpoints | map(.source) | unique == ["dns:api.service.consul:15443"]' \
	"$T/endpoints.json"

# Add h4: callers follow within the TTL, without a reload.
applied0=$(grep -c 'discovered endpoints applied' "$H1ERR" || true)
t0=$(date +%s.%N)
printf '10.78.0.4 api.service.consul\n' >>"$T/dns.hosts"
reread_hosts
wait_grep "$H1LOG" '"service":"api","name":"dns:api.service.consul:15443","result":"ok","ttl":[0-9]+,"count":3' 10
t1=$(date +%s.%N)
dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
note "h4 added: h1 followed after $dt s"
check "h4 added: h1's discovery record has 3 endpoints within 5 s (TTL 2 s, max 5 s)" \
	awk -v d="$dt" 'BEGIN { exit !(d < 5) }'
topo_client h1 seq api 80 60 >"$T/api2.out" 2>&1 || true
note "api, A records h2 h3 h4: $(hosts_of "$T/api2.out")"
check "api: h4 now gets connections" test "$(count_of "$T/api2.out" h4)" -gt 0
check_eq "api: 60 of 60 succeed" 60 "$(jq '.ok // 0' <<<"$(topo_summary "$T/api2.out")")"

# Remove h2 (and move hold to h3): none go to h2 after the TTL.
cat >"$T/dns.hosts" <<HOSTS
10.78.0.3 api.service.consul
10.78.0.4 api.service.consul
10.78.0.3 hold.service.consul
HOSTS
reread_hosts
wait_grep "$H1LOG" '"service":"api","name":"dns:api.service.consul:15443","result":"ok","ttl":[0-9]+,"count":2,"endpoints":\["10.78.0.3:15443","10.78.0.4:15443"\]' 10
wait_grep "$H1LOG" '"service":"hold".*"endpoints":\["10.78.0.3:15443"\]' 10
topo_client h1 seq api 80 40 >"$T/api3.out" 2>&1 || true
note "api, A records h3 h4: $(hosts_of "$T/api3.out")"
check_eq "api: after h2's removal none goes to h2" 0 "$(count_of "$T/api3.out" h2)"
check_eq "api: 40 of 40 succeed" 40 "$(jq '.ok // 0' <<<"$(topo_summary "$T/api3.out")")"

# Resolver outage: the last answers stay.
mark=$(since "$H1LOG")
emark=$(since "$H1ERR")
kill_proc "$DNSMASQ"
FAILED='.event == "discovery" and .service == "api" and .result == "failed"'
rf=$(new_records "$H1LOG" "$mark" "$FAILED" 1 10 | head -n 1) || true
check_rec "outage: a failed discovery record for api names the resolver" "${rf:-"{}"}" \
	'.name == "dns:api.service.consul:15443" and (.error | test("10.78.0.1:53"))'
sleep 4 # several retries (1 s, 2 s ...): aggregated in the log
tail -n +"$((emark + 1))" "$H1ERR" >"$T/outage.err"
grep 'discovery dns:api' "$T/outage.err" | sed 's/^/#   /'
check "outage: the log says the last answer is kept" grep -q \
	'discovery dns:api.service.consul:15443: .*keeping the last answer (2 endpoints)' "$T/outage.err"
check "outage: the log line is not repeated each retry (at most 2 for api in 4 s)" \
	test "$(grep -c 'discovery dns:api.service.consul:15443: .*keeping the last answer' "$T/outage.err")" -le 2
check_eq "outage: one failed record for api (not one per retry)" 1 \
	"$(records "$H1LOG" "$FAILED" "$mark" | wc -l)"
topo_client h1 seq api 80 20 >"$T/api4.out" 2>&1 || true
note "api during the outage: $(hosts_of "$T/api4.out")"
check_eq "outage: api's 20 of 20 succeed on the last answer" 20 "$(jq '.ok // 0' <<<"$(topo_summary "$T/api4.out")")"
# The held connection has lived through every change and the outage (to h2).
touch "$T/go"
wait_gone "$HELD" 10 || true
check "held connection: second echo and a clean end after every change and the outage" grep -q '^done' "$T/held.out"
topo stop h2 >/dev/null || true
topo_client h1 seq k8s 80 10 >"$T/k2.out" 2>&1 || true
note "k8s with h2 stopped: $(hosts_of "$T/k2.out")"
check_eq "outage, h2 stopped: k8s fails over to priority 20 (h3): 10 of 10" 10 "$(count_of "$T/k2.out" h3)"

applied=$(($(grep -c 'discovered endpoints applied' "$H1ERR" || true) - applied0))
note "generations from discovery after the start: $applied"
check "no reload: h1's meshd never reloaded" test "$(grep -c 'reloaded ' "$H1ERR" || true)" -eq 0
check "changes were applied as generations (at least 2)" test "$applied" -ge 2

# Metrics: resolutions by outcome, endpoints per entry.
topo exec h1 curl -q -sS --noproxy '*' http://127.0.0.1:15000/metrics >"$T/metrics.txt"
grep '^libmesh_discovery' "$T/metrics.txt" | grep 'api.service.consul' | sed 's/^/#   /'
check "metrics: failed resolutions of dns:api.service.consul:15443 counted" awk \
	'/^libmesh_discovery_resolutions_total\{name="dns:api.service.consul:15443",result="failed"\}/ { f = $2 } END { exit !(f > 0) }' \
	"$T/metrics.txt"
check "metrics: api has 2 endpoints from its entry" grep -q \
	'^libmesh_discovery_endpoints{destination_service="api",name="dns:api.service.consul:15443"} 2$' "$T/metrics.txt"

# A reload during the outage keeps the last answers (no gap with no
# endpoints) and asks again at once (its backoff is 8 s by now).
failed_n() {
	topo exec h1 curl -q -sS --noproxy '*' http://127.0.0.1:15000/metrics |
		awk '/^libmesh_discovery_resolutions_total\{name="dns:api.service.consul:15443",result="failed"\}/ { print $2 }'
}
f0=$(failed_n)
topo reload h1 >/dev/null || note "reload h1 failed"
topo_client h1 seq api 80 10 >"$T/api5.out" 2>&1 || true
check_eq "reload during the outage: api's 10 of 10 succeed on the kept answer" 10 \
	"$(jq '.ok // 0' <<<"$(topo_summary "$T/api5.out")")"
asked=0
for ((i = 0; i < 10; i++)); do
	f1=$(failed_n)
	if ((f1 > f0)); then asked=1 && break; fi
	sleep 0.1
done
note "failed resolutions of api: $f0 before the reload, $f1 after"
check_eq "reload during the outage: api asked again at once" 1 "$asked"
note "records: $(grep -c '"event":"discovery"' "$H1LOG") discovery records"
grep '"event":"discovery"' "$H1LOG" | head -n 12 | sed 's/^/#   /'
summary
