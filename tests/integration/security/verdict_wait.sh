#!/usr/bin/env bash
# verdict_wait: the shim waits for a verdict no longer than meshd can take
# to give it. The route snapshot carries each service's verdict_ms (all
# attempts, each bounded by connect_timeout); the shim waits min(
# MESH_VERDICT_TIMEOUT if set, verdict_ms, 30 s). With meshd frozen
# (SIGSTOP: the kernel still completes the TCP and unix connects, nobody
# answers) a connect to a service with connect_timeout = 200ms, retries = 0
# (verdict_ms = 2975) fails open after about 3 s: bounded < 5 s here (it
# was 30 s), also when MESH_VERDICT_TIMEOUT asks for more, and curl
# --max-time 5 keeps its word (< 7 s). After SIGCONT root's programs are
# served and verdicts work again.
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

make_certs "$TD" client hello
write_confs a_extra="[service.quick]
ports = $PORT2
endpoints = 127.0.0.3:$BACKPORT2
connect_timeout = 200ms
retries = 0"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
check_hello "before"

# verdict_ms as published (struct snap_svc, shim/snapshot.h).
vms=$("$PY" - "$T/a.routes" <<'PYEOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
HDR = struct.Struct("=8sIIQ8I")
SVC = struct.Struct("=IIHH16HI16s")  # ... verdict_ms, vip6
f = HDR.unpack_from(b, 0)
nsvc, off_svc, off_str = f[4], f[5], f[8]
for i in range(nsvc):
    s = SVC.unpack_from(b, off_svc + i * SVC.size)
    name = b[off_str + s[1]:off_str + s[1] + s[2]].decode()
    print(name, s[20])
PYEOF
)
note "verdict_ms in the snapshot: $(tr '\n' ' ' <<<"$vms")"
check_eq "quick's verdict_ms is published" "quick 2975" "$(grep '^quick ' <<<"$vms")"


# Blocking connect refused while meshd runs (no endpoint answers): fast.
out=$(mesh_client timeout 40 "$PY" "$HERE/../connect_probe.py" quick "$PORT2" 2>&1) || true
note "meshd running: $out"
check_eq "meshd running: blocking connect to quick is refused" ECONNREFUSED "$(awk '{ print $1 }' <<<"$out")"

signal_meshd a STOP
out=$(mesh_client timeout 40 "$PY" "$HERE/../connect_probe.py" quick "$PORT2" 2>&1) || true
out60=$(MESH_VERDICT_TIMEOUT=60 mesh_client timeout 40 "$PY" "$HERE/../connect_probe.py" quick "$PORT2" 2>&1) || true
st=0
t0=$(date +%s.%N)
mesh_client curl -q -sS --noproxy '*' --max-time 5 -o /dev/null "http://quick:$PORT2/" 2>"$T/curl.err" || st=$?
t1=$(date +%s.%N)
signal_meshd a CONT
note "meshd frozen: blocking connect: $out; with MESH_VERDICT_TIMEOUT=60: $out60"
note "meshd frozen: curl --max-time 5: exit $st after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s: $(head -c 160 "$T/curl.err")"
t=$(awk '{ print $2 }' <<<"$out")
check_eq "meshd frozen: the connect fails open (no answer is not a refusal)" connected "$(awk '{ print $1 }' <<<"$out")"
check "  after about verdict_ms (2.5 s <= t < 5 s): $t s" awk -v t="$t" 'BEGIN { exit !(t >= 2.5 && t < 5) }'
t=$(awk '{ print $2 }' <<<"$out60")
check "  MESH_VERDICT_TIMEOUT=60 does not lengthen it (< 5 s): $t s" awk -v t="$t" 'BEGIN { exit !(t >= 2.5 && t < 5) }'
check "curl --max-time 5 against a frozen meshd ends within 7 s" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 7) }'

# After SIGCONT: verdicts and traffic as before.
# meshd first works through what queued up while it was frozen: give it
# up to three tries, a second apart.
for try in 1 2 3; do
	sleep "$([[ $try == 1 ]] && echo 0.5 || echo 1)"
	out=$(mesh_client timeout 40 "$PY" "$HERE/../connect_probe.py" quick "$PORT2" 2>&1) || true
	[[ $(awk '{ print $1 }' <<<"$out") == ECONNREFUSED ]] && break
	note "after SIGCONT, try $try: $out"
done
check_eq "after SIGCONT: connect to quick is refused again" ECONNREFUSED "$(awk '{ print $1 }' <<<"$out")"
check_hello "after SIGCONT"

summary
