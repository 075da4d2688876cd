#!/usr/bin/env bash
# shellcheck disable=SC2154  # records are set by get_record
# refusal_flood_records: refusals repeated by one source are written one by
# one only up to a burst (100 per 10 s window per direction, source and
# result); the rest become "aggregate" records with a count, so a flood
# cannot fill the disk with one record per event. Carried connections
# always keep their own record.
#   - 400 plain-text strangers on host B's mesh port (one source address):
#     at most 100 tls_failure records, and aggregates that count the rest
#   - 400 connections from nobody (identity batch, not allowed on B):
#     at most 100 denied records on each host, the rest aggregated
#   - root's requests in between are all recorded one by one
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello batch
standard_setup "a_extra=$(ini_identity batch 65534)"
start_upstream up http 127.0.0.1 "$BACKPORT"

cat >"$T/flood.py" <<'PY'
import socket, sys
host, port, n, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
done = 0
for _ in range(n):
    try:
        s = socket.create_connection((host, port), timeout=5)
    except ConnectionResetError:
        done += 1  # meshd accepted and refused it before connect() returned
        continue
    except OSError as e:
        print("connect:", e, file=sys.stderr)
        continue
    done += 1  # connected: meshd has it (it may reset it before the send)
    try:
        s.sendall(payload)
        s.recv(100)
    except OSError:
        pass
    s.close()
print(done)
PY

strangers=$("$PY" "$T/flood.py" 127.0.0.2 "$MESHPORT" 400 $'GET / HTTP/1.0\r\n\r\n')
check_eq "400 strangers connected to B's mesh port" 400 "$strangers"
vip=$(mesh_resolve hello)
chmod 644 "$T/flood.py"
denied=$(as_nobody "$PY" "$T/flood.py" "$vip" "$PORT" 400 \
	$'GET / HTTP/1.0\r\nHost: hello\r\n\r\n')
check_eq "400 connections from nobody reached meshd A" 400 "$denied"
for i in 1 2 3; do check_hello "root's request $i"; done

# The aggregates of the last window are written at the latest at exit.
stop_meshd a
stop_meshd b
tls=$(count_records "$T/b.log" '.event == "close" and .result == "tls_failure"')
tls_agg=$(records "$T/b.log" '.event == "aggregate" and .result == "tls_failure"' | jq -s 'map(.count) | add // 0')
note "B: $tls tls_failure records, aggregates count $tls_agg more"
check "B: at most 100 tls_failure records for one source (bound)" test "$tls" -le 100
check "B: at least one tls_failure record written (the burst)" test "$tls" -ge 1
check_eq "B: records + aggregate counts = the 400 strangers" 400 "$((tls + tls_agg))"
get_record r "$T/b.log" '.event == "aggregate" and .result == "tls_failure"'
check_rec "B: the aggregate names the source address and a window" "$r" \
	'.source == "127.0.0.1" and .direction == "inbound" and .window_ms == 10000 and .count > 0'
for h in a b; do
	d=$(count_records "$T/$h.log" '.event == "close" and .result == "denied"')
	d_agg=$(records "$T/$h.log" '.event == "aggregate" and .result == "denied"' | jq -s 'map(.count) | add // 0')
	note "$h: $d denied records, aggregates count $d_agg more"
	check "$h: at most 100 denied records for nobody's identity (bound)" test "$d" -le 100
	check_eq "$h: denied records + aggregate counts = 400" 400 "$((d + d_agg))"
done
ok_a=$(count_records "$T/a.log" '.event == "close" and .result == "ok"')
check_eq "A: each of root's 3 carried connections has its own record" 3 "$ok_a"
summary
