#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # helpers run via check
# vip_hold: a local user holding idle VIP connections cannot deny root's
# programs or stop a reload. meshd A runs with a hard descriptor limit of
# 1024 (prlimit 1024:1024: the raise to the hard limit gives it nothing
# more); nobody has an identity (batch) that may call hello, and opens
# 1,030 idle connections to hello's VIP and holds them.
# Bounds (README "Security model"):
#   - max_connections_per_uid (here 200, then auto = 1024 / 4 = 256): the
#     rest are reset at once (overflow records, aggregated past 100 per
#     10 s), root is served meanwhile, a SIGHUP reload succeeds, and
#     meshd's descriptors stay far below the limit; the units come back
#     when the connections close;
#   - a service's max_connections = 5: root's sixth connection is overflow;
#   - the descriptor reserve (1024 / 16 = 64): with the per-uid limit out
#     of the way (100000) nobody fills meshd up to the reserve on a local
#     service (caller + upstream: two descriptors each); what lands in the
#     reserve, accepted or connected, is reset, the reserve stays free
#     (descriptors <= 1024 - 64 + 1) and a reload still opens the config,
#     the certificates and the snapshot.
# Before (meshd of main, measured with the same holder): nobody's 1,030
# connections took all 1,024 descriptors and accept paused; the ones left
# in the backlog hung instead of being refused. On near (served locally,
# so nothing churns) root's curl timed out (30 s) and the SIGHUP reload
# was rejected ("a.ini:0: file: cannot open: Too many open files"). On
# hello only churn (B's upstream backlog timing streams out) let root in.
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello batch
cp "$(dirname "$0")/vip_hold.py" "$T/vip_hold.py"
chmod 644 "$T/vip_hold.py"
BATCH="$(ini_identity batch 65534)

[service.near]
ports = $PORT2
endpoints = local
upstream = 127.0.0.1:$BACKPORT
identity = client
allow = client, batch
# 1,030 connects at once overflow the upstream's accept backlog, and the
# dropped SYNs time out: each connection needs its retries, which the
# default retry budget (20 % + 10/s) would refuse. This scenario is about
# descriptors; heal_budget.sh tests the budget.
retry_budget = 1000%
retry_min_per_s = 100000"
# B's upstream gets 200 connects at once and its backlog is 128: a dropped
# SYN is sent again after 1 s, so B's connect_timeout must be longer than
# that, or B gives up, A retries, and the upstream counts both.
confs() { write_confs allow="client, batch" a_extra="$BATCH" b_hello="connect_timeout = 5s" "$@"; }
confs a_mesh="max_connections_per_uid = 200"

MESHD_PREFIX="prlimit --nofile=1024:1024 --" start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
APID=$(meshd_pid a)
check_eq "meshd A's descriptor limit is 1024" 1024 \
	"$(awk '/^Max open files/ { print $4 }' "/proc/$APID/limits")"
VIP=$(mesh_resolve hello)
NEAR=$(mesh_resolve near)
check "hello and near resolve to VIPs ($VIP, $NEAR)" test -n "$VIP" -a -n "$NEAR"
check_hello "root before the attack"

fds() { find "/proc/$APID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
HOLDERS=0
# hold VIP PORT N: nobody opens N connections and holds them; sets HOLD
# (the holder's JSON report) and HOLDER (its pid). The holder runs with
# room for its own descriptors (nobody's own limit is not what is tested).
hold() {
	HOLDERS=$((HOLDERS + 1))
	local out=$T/hold$HOLDERS.log
	chmod 711 "$T"
	spawn "holder$HOLDERS" "$out" prlimit --nofile=4096:4096 -- \
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$PY" "$T/vip_hold.py" "$1" "$2" "$3" "$T/release$HOLDERS"
	HOLDER=$LAST_PID
	if wait_grep "$out" '^\{' 40; then HOLD=$(grep -m 1 '^{' "$out"); else HOLD='{}'; fi
	note "holder $HOLDERS ($3 to $1:$2): $HOLD"
}
release() {
	: >"$T/release$HOLDERS"
	wait_gone "$HOLDER" 10 || true
}
REFUSED_TOTAL=0
# The connections of a holder that let go must end (and give back their
# units) before the next phase counts.
wait_closed() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(fds) -lt $1 ]] && return 0
		sleep 0.1
	done
	return 1
}

# ---- phase 1: max_connections_per_uid = 200
: >"$T/up.conns"
hold "$VIP" "$PORT" 1030
check_rec "nobody's 1030 connections: exactly 200 carried" "$HOLD" '.carried == 200'
check_rec "the other 830 are refused (reset), none left hanging" "$HOLD" \
	'.refused == 830 and .pending == 0 and (.errors | keys) == ["ECONNRESET"]'
check_rec "refused quickly (slowest within 3 s of its connect)" "$HOLD" '.slowest_refusal_s < 3'
REFUSED_TOTAL=$((REFUSED_TOTAL + $(jget "$HOLD" '.refused // 0')))
for ((i = 0; i < 50; i++)); do [[ $(upstream_accepts up) -ge 200 ]] && break; sleep 0.1; done
check_eq "the upstream sees exactly the 200 carried" 200 "$(upstream_accepts up)"
check_hello "root while nobody holds 200"
n=$(fds)
note "meshd A holds $n descriptors"
check "meshd A's descriptors stay far below the limit ($n < 300)" test "$n" -lt 300
reload_hosts "reloads (SIGHUP) while nobody holds its connections" a
check "the reload opened the config and certificates" \
	wait_grep "$T/a.err" "reloaded $T/a.ini \(generation 2\)" 5
check_hello "root after the reload"
release
check "nobody's connections close" wait_closed 60

# ---- phase 2: the default, auto = a quarter of 1024; the 200 of phase 1
# were given back (else fewer than 256 would be carried now).
confs
reload_hosts "reloads with max_connections_per_uid = auto" a
check "meshd says the limit in force (auto: 256)" \
	wait_grep "$T/a.err" 'limits: max_connections_per_uid 256 \(auto\)' 5
hold "$VIP" "$PORT" 1030
check_rec "auto: exactly 256 of 1030 carried" "$HOLD" '.carried == 256'
check_rec "auto: the other 774 refused, none hanging" "$HOLD" '.refused == 774 and .pending == 0'
REFUSED_TOTAL=$((REFUSED_TOTAL + $(jget "$HOLD" '.refused // 0')))
check_hello "root while nobody holds 256"
release
check "nobody's connections close" wait_closed 60

# ---- phase 3: max_connections = 5 on hello: root's sixth is overflow.
confs a_hello="max_connections = 5"
reload_hosts "reloads with max_connections = 5 on hello" a
cat >"$T/six.py" <<'PY'
import socket, sys, time
vip, port = sys.argv[1], int(sys.argv[2])
held = [socket.create_connection((vip, port), timeout=5) for _ in range(5)]
time.sleep(1)
def state(c):
    c.settimeout(0.5)
    try:
        return "closed" if c.recv(1) == b"" else "data"
    except socket.timeout:
        return "open"
    except OSError as e:
        return type(e).__name__
print("five:", " ".join(state(c) for c in held))
t0 = time.monotonic()
try:
    # the reset may come before connect() returns, or after
    six = socket.create_connection((vip, port), timeout=5)
    six.settimeout(5)
    r = "closed" if six.recv(1) == b"" else "data"
except OSError as e:
    r = type(e).__name__
print("six: %s %.2f" % (r, time.monotonic() - t0))
held.pop().close()
time.sleep(0.5)
seven = socket.create_connection((vip, port), timeout=5)
time.sleep(0.5)
print("after one closed:", state(seven))
PY
mark=$(since "$T/a.log")
out=$("$PY" "$T/six.py" "$VIP" "$PORT" 2>&1) || true
note "$out"
check "root's first five connections are carried" grep -qx 'five: open open open open open' <<<"$out"
check "root's sixth is reset at once" grep -qE '^six: ConnectionResetError 0\.' <<<"$out"
check "once one closes, a new one is carried" grep -qx 'after one closed: open' <<<"$out"
r=$(new_records "$T/a.log" "$mark" '.event == "close" and .result == "overflow"' 1 5 | head -n 1) || r='{}'
check_rec "the sixth has an overflow record naming the service and its limit" "$r" \
	'.uid == 0 and .service == "hello" and (.detail | test("service hello .*max_connections = 5"))'

# ---- phase 4: the reserve. No per-uid limit to speak of; near is served
# on this host, so each carried connection costs two descriptors.
confs a_mesh="max_connections_per_uid = 100000"
reload_hosts "reloads with max_connections_per_uid = 100000" a
hold "$NEAR" "$PORT2" 1030
n=$(fds)
inres=$(find "/proc/$APID/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' | awk '$1 >= 960 && $1 < 1024' | wc -l)
note "meshd A holds $n descriptors (limit 1024, reserve 64: 960..1023)"
check_eq "the reserve stays free: no descriptor in 960..1023 in use" 0 "$inres"
check "and the rest is in use (the attack reached the reserve: $n > 900)" test "$n" -gt 900
check_rec "some are carried, the rest refused, none hanging" "$HOLD" \
	'.carried > 300 and .refused > 0 and .carried + .refused == 1030 and .pending == 0'
check_rec "refused quickly (slowest within 3 s)" "$HOLD" '.slowest_refusal_s < 3'
REFUSED_TOTAL=$((REFUSED_TOTAL + $(jget "$HOLD" '.refused // 0')))
reload_hosts "reloads while nobody holds everything but the reserve" a
check "the reload opened the config and certificates" wait_grep "$T/a.err" "reloaded $T/a.ini \(generation 6\)" 5
check "meshd warns that connections are refused for the reserve" \
	grep -q 'descriptors in use reached the reserve (limit 1024, 64 kept' "$T/a.err"
nwarn=$(grep -c 'descriptors in use reached the reserve' "$T/a.err" || true)
check "at most one such warning per 10 s ($nwarn)" test "$nwarn" -le 2
release
check "nobody's connections close" wait_closed 100
check_hello "root once nobody let go"
check "meshd A is still running" meshd_alive a

# Every refusal is accounted for: overflow records + aggregate counts =
# nobody's refusals + root's sixth. The last windows are written at exit.
stop_meshd a
nrec=$(count_records "$T/a.log" '.event == "close" and .result == "overflow"')
nagg=$(records "$T/a.log" '.event == "aggregate" and .result == "overflow"' | jq -s 'map(.count) | add // 0')
note "A: $nrec overflow records, aggregates count $nagg more; holders saw $REFUSED_TOTAL refusals"
check_eq "overflow records + aggregate counts = every refusal" "$((REFUSED_TOTAL + 1))" "$((nrec + nagg))"
get_record r "$T/a.log" '.event == "close" and .result == "overflow" and .uid == 65534'
check_rec "an overflow record names the uid and the limit" "$r" \
	'.source == "spiffe://mesh.test/svc/batch" and (.detail | test("uid 65534 .*max_connections_per_uid = 200"))'
# (one close record each, or, once the window's quota of them is spent by
# the earlier phases, their aggregate: both carry the detail)
get_record r "$T/a.log" '(.event == "close" or .event == "aggregate") and .result == "overflow" and (.detail | test("reserve"))'
check_rec "a reserve refusal says so" "$r" '.detail | test("lies in the reserve|outside the reserve")'
summary
