#!/usr/bin/env bash
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# modes: plain
# reload_long_stream: a 60-second stream survives 10 reloads that change
# its service's endpoints. Four hosts: h2, h3 and h4 serve stream with an
# echo upstream; h1 runs one connection under the shim that sends 256 KiB/s
# of pseudo-random bytes for 60 s and reads the echo. Every 5.5 s h1's INI
# gets another endpoint list (h3, h4 / h4 / h2 / h2, h3 ...: the stream's own
# endpoint is left out of most of them) and meshd is sent SIGHUP:
# - each reload is accepted, and the next new connection ends on an endpoint
#   of the new list;
# - the stream's bytes come back byte-identical (same count and sha256 both
#   ways), with no pause over 5 s, and h1's record of it is ok with every
#   byte counted.
# Plain build only (a minute).
. "$(dirname "$0")/lib.sh"

SECS=60
topo_up 4 --service stream=h2,h3,h4 --upstream stream=echo
L=$(topo_log h1)
lists=("h3, h4" "h4" "h2" "h2, h3" "h3" "h2, h4" "h4, h3" "h2" "h3, h2" "h4")
addr() { sed -E 's/\bh([0-9]+)\b/10.78.0.\1:15443/g' <<<"$1"; }
# One short echo connection: the record's endpoint shows the live list.
probe() {
	topo run h1 "$PY" -c '
import socket
s = socket.create_connection(("stream", 80), timeout=10)
s.sendall(b"probe"); s.shutdown(socket.SHUT_WR)
assert s.recv(16) == b"probe"' 2>&1
}

spawn stream "$T/stream.out" "$TOPOLOGY" -n "$TOPO_NAME" -d "$TOPO_DIR" run h1 "$PY" \
	"$(dirname "$0")/topo_client.py" stream stream 80 "$SECS" 256
sp=$LAST_PID
start=$SECONDS
rejected=0 misrouted=0
for ((i = 0; i < 10; i++)); do
	sleep 5.5
	topo set h1 service.stream "endpoints=${lists[$i]}"
	topo reload h1 2>"$T/reload.err" || { rejected=$((rejected + 1)); sed 's/^/# /' "$T/reload.err"; }
	m=$(since "$L")
	out=$(probe) || note "probe after reload $((i + 1)) failed: $out"
	r=$(new_records "$L" "$m" '.event == "close" and .service == "stream"' 1 5 | head -n 1) || r='{}'
	ep=$(jq -r '.endpoint // "none"' <<<"$r")
	if ! grep -qxF -- "$ep" <<<"$(addr "${lists[$i]}" | tr ',' '\n' | tr -d ' ')"; then
		misrouted=$((misrouted + 1))
		note "after reload $((i + 1)) (endpoints = ${lists[$i]}) a new connection ended on $ep"
	fi
done
note "10 reloads in $((SECONDS - start)) s"
check_eq "all 10 reloads are accepted" 0 "$rejected"
check_eq "after each reload a new connection uses the new endpoint list" 0 "$misrouted"
wait_gone "$sp" $((SECS + 30)) || note "the stream client is still running"
s=$(topo_summary "$T/stream.out")
note "stream: $(jq -c '{sent, received, identical, max_gap_s, seconds, error}' <<<"$s")"
check_eq "the stream ran $SECS s and came back byte-identical" true "$(jq '.identical == true and .seconds >= '"$SECS"' and .sent > 0' <<<"$s")"
check "no pause in the stream over 5 s ($(jq .max_gap_s <<<"$s") s)" jq -e '.max_gap_s < 5' <<<"$s"
sent=$(jq '.sent // -1' <<<"$s")
get_record rs "$L" ".event == \"close\" and .service == \"stream\" and .bytes_sent == $sent" 10
check_rec "h1's record of the stream: ok, every byte both ways" "$rs" ".result == \"ok\" and .bytes_received == $sent"

summary
