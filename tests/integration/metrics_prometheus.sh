#!/usr/bin/env bash
# shellcheck disable=SC2154  # helpers and ports come from lib.sh
# modes: plain
# metrics_prometheus: a real Prometheus (Debian's prometheus, on loopback,
# scrape interval 1 s) scrapes the /metrics of both meshd (admin on); the
# test sends known bytes through the mesh and asks Prometheus' HTTP API:
# - both targets are up, and `promtool check metrics` finds nothing in
#   either host's /metrics;
# - after one connection of known size, PromQL returns exactly its bytes
#   both ways, on both hosts (reporter source on A, destination on B),
#   within a few scrapes, and never more than the truth;
# - while a connection is held open, A's received bytes advance with each
#   chunk the client sends (read twice, from /metrics and from
#   Prometheus) and libmesh_tcp_connections_open says 1, then 0 after it
#   closes;
# - /stats is JSON with the same series.
# Plain build only (Prometheus is a big program; ~20 s).
. "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || die "prometheus is not installed (scripts/deps.sh)"
command -v promtool >/dev/null || die "promtool is not installed (scripts/deps.sh)"

ADMIN_A=$PORT3 ADMIN_B=$BACKPORT3 PROM=$PORT2
make_certs "$TD" client hello
write_confs
sed -i "s/^admin = off\$/admin = 127.0.0.1:$ADMIN_A/" "$T/a.ini"
sed -i "s/^admin = off\$/admin = 127.0.0.2:$ADMIN_B/" "$T/b.ini"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream sha sha 127.0.0.1 "$BACKPORT"
wait_port 127.0.0.1 "$ADMIN_A" 10 || die "A's admin does not listen on 127.0.0.1:$ADMIN_A"
wait_port 127.0.0.2 "$ADMIN_B" 10 || die "B's admin does not listen on 127.0.0.2:$ADMIN_B"

cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: meshd
    static_configs:
      - targets: ["127.0.0.1:$ADMIN_A"]
        labels: {mesh_host: a}
      - targets: ["127.0.0.2:$ADMIN_B"]
        labels: {mesh_host: b}
EOF
spawn prometheus "$T/prometheus.log" prometheus --config.file="$T/prometheus.yml" \
	--storage.tsdb.path="$T/prometheus-data" --web.listen-address="127.0.0.1:$PROM" \
	--log.level=warn
for _ in $(seq 100); do
	"${CURL[@]}" -o /dev/null "http://127.0.0.1:$PROM/-/ready" 2>/dev/null && break
	sleep 0.1
done

# promq EXPR: the value of an instant query's first result, or "none".
promq() {
	"${CURL[@]}" --max-time 5 -G "http://127.0.0.1:$PROM/api/v1/query" \
		--data-urlencode "query=$1" 2>/dev/null |
		jq -r '.data.result[0].value[1] // "none"' 2>/dev/null || echo none
}
# wait_promq EXPR VALUE SECS: until EXPR is VALUE; says how long it took
# (on stderr: check discards stdout).
# Sets PROM_LAST; fails when a value above VALUE was seen (more than the
# truth) or VALUE never came.
PROM_LAST=
wait_promq() {
	local expr=$1 want=$2 secs=$3 t0=$SECONDS v
	while ((SECONDS - t0 <= secs)); do
		v=$(promq "$expr")
		PROM_LAST=$v
		if [[ $v == "$want" ]]; then
			note "$expr = $v after $((SECONDS - t0)) s" >&2
			return 0
		fi
		if [[ $v != none ]] && ((${v%.*} > want)); then
			note "$expr = $v, above the truth ($want)" >&2
			return 1
		fi
		sleep 0.25
	done
	note "$expr = $PROM_LAST, not $want, after $secs s" >&2
	return 1
}
# metric HOST PROMQL_SELECTOR_LINE_PREFIX: the value of the first sample of
# HOST's /metrics that starts with the given text.
metric() {
	local addr
	[[ $1 == a ]] && addr=127.0.0.1:$ADMIN_A || addr=127.0.0.2:$ADMIN_B
	"${CURL[@]}" "http://$addr/metrics" | awk -v p="$2" 'index($0, p) == 1 && !n++ { print $NF }'
}

check "Prometheus scrapes both meshd (up == 1 twice)" wait_promq 'sum(up{job="meshd"})' 2 20

"${CURL[@]}" -o "$T/a.metrics" "http://127.0.0.1:$ADMIN_A/metrics" || true
"${CURL[@]}" -o "$T/b.metrics" "http://127.0.0.2:$ADMIN_B/metrics" || true

# One connection of known size: N bytes to the service, its answer back.
N=300000
out=$(mesh_client "$PY" - "$PORT" "$N" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("hello", port), timeout=20)
s.sendall(b"m" * n)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print(len(got), got.decode().split()[0])
EOF
) || out="failed: $out"
read -r back counted <<<"$out"
check_eq "the upstream counted the $N bytes" "$N" "${counted:-0}"
note "the answer was $back bytes"

src="spiffe://$TD/svc/client" dst="spiffe://$TD/svc/hello"
sel_a="reporter=\"source\",source_principal=\"$src\",destination_service=\"hello\",destination_principal=\"$dst\",response_flags=\"-\",mesh_host=\"a\""
sel_b="reporter=\"destination\",source_principal=\"$src\",destination_service=\"hello\",destination_principal=\"$dst\",response_flags=\"-\",mesh_host=\"b\""
check "A: PromQL received bytes = $N" wait_promq "libmesh_tcp_received_bytes_total{$sel_a}" "$N" 10
check "A: PromQL sent bytes = the answer ($back)" wait_promq "libmesh_tcp_sent_bytes_total{$sel_a}" "${back:-0}" 10
check "B: PromQL received bytes = $N" wait_promq "libmesh_tcp_received_bytes_total{$sel_b}" "$N" 10
check "B: PromQL sent bytes = the answer ($back)" wait_promq "libmesh_tcp_sent_bytes_total{$sel_b}" "${back:-0}" 10
check "A: one connection opened and closed ok" wait_promq "libmesh_tcp_connections_closed_total{$sel_a}" 1 10
check "A: connect histogram has it" wait_promq "libmesh_tcp_connect_duration_seconds_count{$sel_a}" 1 10
check "B: one link in" wait_promq 'libmesh_links_open{direction="in",mesh_host="b"}' 1 10
check "A: one attempt" wait_promq 'libmesh_connect_attempts_total{destination_service="hello",mesh_host="a"}' 1 10
check "B: one allow decision" wait_promq 'libmesh_authorization_total{decision="allow",destination_service="hello",mesh_host="b"}' 1 10

# promtool on dumps taken after traffic (series, histograms, every family).
for h in a b; do
	[[ $h == a ]] && addr=127.0.0.1:$ADMIN_A || addr=127.0.0.2:$ADMIN_B
	"${CURL[@]}" -o "$T/$h.metrics" "http://$addr/metrics" || true
	pt=$(promtool check metrics <"$T/$h.metrics" 2>&1) && st=0 || st=$?
	[[ -z $pt ]] || printf '%s\n' "$pt" | head -n 20 | sed 's/^/# promtool: /'
	check_eq "$h: promtool check metrics finds nothing" "0 " "$st $pt"
	check "$h: /metrics has the Istio TCP series" grep -q '^libmesh_tcp_received_bytes_total{' "$T/$h.metrics"
done

# Held open: bytes advance with each chunk while the connection stays.
cat >"$T/held.py" <<'EOF'
import os, socket, sys, time
port, go1, go2 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("hello", port), timeout=30)
def wait(path):
    t = time.time() + 30
    while not os.path.exists(path):
        if time.time() > t:
            sys.exit("no " + path)
        time.sleep(0.05)
s.sendall(b"a" * 50000)
print("sent 50000", flush=True)
wait(go1)
s.sendall(b"b" * 70000)
print("sent 120000", flush=True)
wait(go2)
s.shutdown(socket.SHUT_WR)
print("answer", s.recv(4096).decode().strip(), flush=True)
EOF
spawn_client held "$T/held.out" "$PY" "$T/held.py" "$PORT" "$T/go1" "$T/go2"
hp=$LAST_PID
line_a="libmesh_tcp_received_bytes_total{reporter=\"source\",source_principal=\"$src\",destination_service=\"hello\",destination_principal=\"$dst\",response_flags=\"-\"}"
open_a='libmesh_tcp_connections_open{reporter="source",destination_service="hello"}'
wait_metric() { # HOST LINE VALUE SECS
	local t0=$SECONDS v
	while ((SECONDS - t0 <= $4)); do
		v=$(metric "$1" "$2")
		[[ $v == "$3" ]] && return 0
		sleep 0.1
	done
	note "$2 = $v, not $3" >&2
	return 1
}
wait_grep "$T/held.out" '^sent 50000' 10 || note "the held client did not start: $(cat "$T/held.out")"
check "open: A's /metrics counts the first chunk ($((N + 50000)))" wait_metric a "$line_a" $((N + 50000)) 5
check "open: Prometheus has it too" wait_promq "libmesh_tcp_received_bytes_total{$sel_a}" $((N + 50000)) 10
check "open: libmesh_tcp_connections_open is 1" wait_promq "libmesh_tcp_connections_open{reporter=\"source\",destination_service=\"hello\",mesh_host=\"a\"}" 1 10
check_eq "open: the connection is still open (closed count 1)" 1 "$(metric a "${line_a/received_bytes_total/connections_closed_total}")"
touch "$T/go1"
wait_grep "$T/held.out" '^sent 120000' 10 || true
check "open: A's /metrics counts the second chunk ($((N + 120000)))" wait_metric a "$line_a" $((N + 120000)) 5
check "open: Prometheus has it too" wait_promq "libmesh_tcp_received_bytes_total{$sel_a}" $((N + 120000)) 10
check "open: B counts both chunks while open" wait_promq "libmesh_tcp_received_bytes_total{$sel_b}" $((N + 120000)) 10
check_eq "open: still 1 open" 1 "$(metric a "$open_a")"
touch "$T/go2"
wait_gone "$hp" 10 || note "the held client is still running"
check "the held client got its answer" grep -q '^answer 120000 ' "$T/held.out"
check "closed: libmesh_tcp_connections_open is 0" wait_metric a "$open_a" 0 5
check "closed: two connections closed ok" wait_promq "libmesh_tcp_connections_closed_total{$sel_a}" 2 10

# /stats: the same numbers as JSON.
"${CURL[@]}" -o "$T/a.stats" "http://127.0.0.1:$ADMIN_A/stats" || true
check "/stats is JSON" jq -e . "$T/a.stats"
check "/stats: the series with both connections' bytes" jq -e \
	"[.series[] | select(.reporter == \"source\" and .destination_service == \"hello\" and .response_flags == \"-\")][0] | .received_bytes == $((N + 120000)) and .opened == 2 and .closed == 2 and .open == 0 and .connect_seconds.count == 2 and .connect_seconds.buckets[-1] == 2" \
	"$T/a.stats"
check "/stats: services and links" jq -e '(.services[] | select(.service == "hello") | .attempts == 2) and .links_open.out == 1' "$T/a.stats"

summary
