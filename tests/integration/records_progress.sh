#!/usr/bin/env bash
# shellcheck disable=SC2154  # TOPO_* and helpers come from lib.sh
# records_progress: live traffic records on both hosts of a connection.
# Two hosts (network namespaces): h2 serves stream with an echo upstream;
# h1 runs one connection under the shim that sends 64 KiB/s for 5 s and
# reads the echo. With progress_interval = 1s and open_records = on:
# - each host writes one "open" record (no result) for the connection, then
#   "progress" records, then its "close" record, all with the same id on
#   both hosts; h1's open record already names the program (python3);
# - at least 3 progress records on each host, at least 2 of them with bytes
#   moving, never closer than the interval (0.9 s on duration_ms);
# - each progress record's totals are the running sum of its deltas, so
#   the deltas plus what came after the last progress record add up to the
#   close record's totals, and those are the bytes the client sent and got.
# Then both hosts reload with progress_interval = off and open_records =
# off: a 3 s connection leaves only its close records.
. "$(dirname "$0")/lib.sh"

topo_up 2 --service stream=h2 --upstream stream=echo \
	--mesh progress_interval=1s --mesh open_records=on
L1=$(topo_log h1)
L2=$(topo_log h2)

# stream SECS OUT: one echo connection from h1; prints its close record's id.
stream() {
	local m r
	m=$(since "$L1")
	topo_client h1 stream stream 80 "$1" 64 >"$2" 2>&1 || note "client: $(tail -n 3 "$2")"
	r=$(new_records "$L1" "$m" '.event == "close" and .service == "stream"' 1 10 | head -n 1) || r='{}'
	jq -r '.id // "none"' <<<"$r"
}

# check_host DESC LOG ID SENT: the checks above on one host's records of ID.
check_host() {
	local desc=$1 log=$2 id=$3 sent=$4 v
	get_record closed "$log" ".event == \"close\" and .id == \"$id\"" 10
	v=$(records "$log" ".id == \"$id\"" | jq -s -c '
		(map(select(.event == "progress"))) as $p
		| (map(select(.event == "close")) | .[0] // {}) as $c
		| {events: map(.event) | join(","),
		   progress: ($p | length),
		   moving: ($p | map(select(.bytes_sent_delta > 0)) | length),
		   running: ([range(0; $p | length) as $i
		              | ($p[0:$i + 1] | map(.bytes_sent_delta) | add) == $p[$i].bytes_sent
		                and ($p[0:$i + 1] | map(.bytes_received_delta) | add) == $p[$i].bytes_received]
		             | all),
		   min_gap_ms: ([range(1; $p | length) as $i | $p[$i].duration_ms - $p[$i - 1].duration_ms] | min),
		   sum_sent: ($p | map(.bytes_sent_delta) | add),
		   sum_received: ($p | map(.bytes_received_delta) | add),
		   last_sent: ($p[-1].bytes_sent), last_received: ($p[-1].bytes_received),
		   close_sent: $c.bytes_sent, close_received: $c.bytes_received,
		   result: $c.result,
		   open_result: (map(select(.event == "open")) | .[0].result)}')
	note "$desc: $v"
	check_rec "$desc: open, progress..., close, in that order" "$v" \
		'.events | test("^open(,progress)+,close$")'
	check_rec "$desc: the open record has no result" "$v" '.open_result == null'
	check_rec "$desc: at least 3 progress records, 2 with bytes moving" "$v" \
		'.progress >= 3 and .moving >= 2'
	check_rec "$desc: progress records an interval apart (>= 900 ms)" "$v" '.min_gap_ms >= 900'
	check_rec "$desc: each progress total is the running sum of the deltas" "$v" '.running'
	check_rec "$desc: deltas + the rest after the last progress = the close totals" "$v" \
		'.sum_sent <= .close_sent and .sum_received <= .close_received
		 and .sum_sent + (.close_sent - .last_sent) == .close_sent
		 and .sum_received + (.close_received - .last_received) == .close_received'
	check_rec "$desc: the close totals are the client's $sent bytes both ways, ok" "$v" \
		".close_sent == $sent and .close_received == $sent and .result == \"ok\""
}

id=$(stream 5 "$T/stream1.out")
s=$(topo_summary "$T/stream1.out")
note "stream: $(jq -c '{sent, received, identical, seconds, error}' <<<"$s")"
sent=$(jq '.sent // -1' <<<"$s")
check_eq "the 5 s stream came back byte-identical" true "$(jq '.identical == true and .sent > 0' <<<"$s")"
check "h1 has a close record for it (id $id)" test "$id" != none
check_host "h1 (outbound)" "$L1" "$id" "$sent"
check_host "h2 (inbound)" "$L2" "$id" "$sent"
# The shim asked for its verdict while the path came up (a new link's
# handshake): the open record already names the program.
get_record opened "$L1" ".event == \"open\" and .id == \"$id\"" 1
check_rec "h1's open record names the caller (python3, its pid)" "$opened" \
	'.program == "python3" and .pid > 0 and .uid == 0'
check_eq "h2's records of the id are inbound ones" inbound \
	"$(records "$L2" ".id == \"$id\"" | jq -r .direction | sort -u | tr '\n' ' ' | sed 's/ $//')"
# Real lines for the README.
for h in 1 2; do
	records "$(topo_log h$h)" ".id == \"$id\"" | sed -n '1p;2p;$p' >"$T/lines-h$h.txt"
done

# Both off, by reload: the next connection has only its close records.
for h in h1 h2; do
	topo set "$h" mesh progress_interval=off open_records=off
	check "$h reloads with progress_interval = off, open_records = off" topo reload "$h"
done
id2=$(stream 3 "$T/stream2.out")
check "h1 has a close record for the second stream (id $id2)" test "$id2" != none
get_record closed "$L2" ".event == \"close\" and .id == \"$id2\"" 10
check_eq "h1: only the close record of the second stream" close \
	"$(records "$L1" ".id == \"$id2\"" | jq -r .event | tr '\n' ' ' | sed 's/ $//')"
check_eq "h2: only the close record of the second stream" close \
	"$(records "$L2" ".id == \"$id2\"" | jq -r .event | tr '\n' ' ' | sed 's/ $//')"

summary
