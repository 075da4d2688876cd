#!/usr/bin/env bash
# serial
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# link_liveness: a link whose path silently drops everything (tc netem loss
# 100%, or a zero-length pfifo, on the serving host's egress: no RST, no
# FIN, nothing) is found dead
# by its PINGs, and connections do not wait on it. Four network namespaces:
# a bridge, host A (10.77.0.1, calls), hosts B (.2) and C (.3), both serving
# over their meshd; A's service hello has endpoint B only (retries 0),
# hello2 has B, then C as its failover tier (so B is tried first while it
# is healthy; consecutive_failures 20 keeps it so). link_timeout is 1s
# and connect_timeout 1s on every host. Checked:
#   (a) with B's path silent, A logs the link's death ("no answer to PING
#       within 1s") within 3 s of the loss starting (a PING goes out after
#       link_timeout/3 of silence, the link dies link_timeout later: 1.33 s
#       at most, plus margin for a loaded machine);
#   (b) a connection made right after the loss starts, on the link not yet
#       found dead, fails (timeout) within its connect timeout + 0.5 s, not
#       the 2 x connect_timeout + 1 s = 3 s a reused link waited before; on
#       hello2 the same connection goes on to C and succeeds within
#       connect timeout + 0.5 s; one arriving while the link is being
#       found dead (its PING out for more than 200 ms) goes to C at once
#       (within 500 ms) without spending an attempt on B;
#   (c) once the qdisc is removed, B is served again.
# LIVENESS_NO_KEY=1 leaves link_timeout out of the configs, to measure a
# meshd that predates it (its checks then fail; the figures are the point).
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root for ip netns"
command -v tc >/dev/null || die "tc (iproute2) not installed: run scripts/deps.sh"
NS=lv$$
NSA=$NS-a NSB=$NS-b NSC=$NS-c NSBR=$NS-br
on_exit "for n in $NSA $NSB $NSC $NSBR; do ip netns del \$n 2>/dev/null; done"
for n in "$NSBR" "$NSA" "$NSB" "$NSC"; do ip netns add "$n" || die "cannot create namespace $n"; done
ip -n "$NSBR" link add br0 type bridge
ip -n "$NSBR" link set br0 up
i=0
for h in a b c; do
	i=$((i + 1))
	ns=$NS-$h
	ip -n "$NSBR" link add "v$h" type veth peer name eth0 netns "$ns"
	ip -n "$NSBR" link set "v$h" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
done

B=10.77.0.2:$MESHPORT C=10.77.0.3:$MESHPORT
live="link_timeout = 1s"
[[ -z ${LIVENESS_NO_KEY:-} ]] || live=""
make_certs "$TD" client hello
write_confs endpoints="$B" "a_mesh=$live" "b_mesh=$live" "a_hello=retries = 0
connect_timeout = 1s" "a_extra=[service.hello2]
ports = $PORT2
endpoints = $B | $C
consecutive_failures = 20
identity = hello
connect_timeout = 1s" "b_extra=[service.hello2]
ports = $PORT2
upstream = 127.0.0.1:$BACKPORT
identity = hello
allow = client"
sed -i "s|^inbound = 127.0.0.1:$MESHPORT|inbound = 10.77.0.1:$MESHPORT|" "$T/a.ini"
sed -i "s|^inbound = 127.0.0.2:$MESHPORT|inbound = 10.77.0.2:$MESHPORT|" "$T/b.ini"
sed -e "s|^inbound = .*|inbound = 10.77.0.3:$MESHPORT|" -e "s|^host = b|host = c|" \
	-e "s|$T/b\.|$T/c.|g" "$T/b.ini" >"$T/c.ini"
for h in a b c; do MESHD_PREFIX="ip netns exec $NS-$h" start_meshd "$h" "$T/$h.ini"; done
for h in b c; do
	mkdir -p "$T/www-$h"
	printf 'from host %s\n' "$h" >"$T/www-$h/index.html"
	printf '#!/bin/sh\nexec ip netns exec %s "$@"\n' "$NS-$h" >"$T/in-$h"
	chmod +x "$T/in-$h"
	spawn "web-$h" "$T/web-$h.log" "$T/in-$h" "$PY" -m http.server --bind 127.0.0.1 \
		--directory "$T/www-$h" "$BACKPORT"
done
for h in b c; do
	for _ in $(seq 50); do
		ip netns exec "$NS-$h" "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $BACKPORT), 1)" 2>/dev/null && break
		sleep 0.1
	done
done

in_a() { ip netns exec "$NSA" env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# get SVC PORT: curl through A; sets body, st (exit status) and ms (time).
get() {
	local t0
	t0=$(now_ms)
	st=0
	body=$(in_a curl -sS -m 10 "http://$1:$2/index.html" 2>"$T/curl.err") || st=$?
	ms=$(($(now_ms) - t0))
}
# B's egress drops everything: netem loss 100%, or where sch_netem is not
# available (containers) a pfifo of length 0, which drops every packet too.
silence_b() {
	ip netns exec "$NSB" tc qdisc add dev eth0 root netem loss 100% 2>/dev/null ||
		ip netns exec "$NSB" tc qdisc add dev eth0 root pfifo limit 0
}
restore_b() { ip netns exec "$NSB" tc qdisc del dev eth0 root 2>/dev/null || true; }
on_exit "ip netns exec $NSB tc qdisc del dev eth0 root 2>/dev/null"
# link_to_b DESC: a request to hello (B) works, so a link A -> B is up.
link_to_b() {
	local i
	for i in 1 2 3 4 5; do
		get hello "$PORT"
		[[ $st -eq 0 && $body == "from host b" ]] && break
		sleep 0.5
	done
	check_eq "$1" "from host b" "$body"
}

link_to_b "a request through A reaches B (the link A -> B is up)"
get hello2 "$PORT2"
check_eq "hello2 goes to B first (weight 50)" "from host b" "$body"

# ---------------------------------------------------------------- (a)
sleep 0.5
mark=$(wc -l <"$T/a.err")
silence_b
t0=$(now_ms)
detect=never
while (($(now_ms) - t0 < 6000)); do
	if grep -qF "link to $B: no answer to PING within 1s; closing" <<<"$(tail -n +"$((mark + 1))" "$T/a.err")"; then
		detect=$(($(now_ms) - t0))
		break
	fi
	sleep 0.02
done
note "(a) death of the silent link A -> B logged after $detect ms"
check "(a) A logs the silent link's death within 3 s ($detect ms)" \
	awk -v d="$detect" 'BEGIN { exit !(d != "never" && d + 0 <= 3000) }'
tail -n +"$((mark + 1))" "$T/a.err" | grep -m1 "no answer to PING" | sed 's/^/# /' || true

# ---------------------------------------------------------------- (c)
restore_b
link_to_b "(c) with the qdisc removed, B is served again"

# ---------------------------------------------------------------- (b)
# A connection right after the path goes silent, on the link still open.
sleep 0.5
mark=$(since "$T/a.log")
silence_b
# One connect to the first address (curl may try another after a failure).
out=$(in_a "$PY" -c '
import socket, sys, time
a = socket.getaddrinfo("hello", int(sys.argv[1]), socket.AF_INET, socket.SOCK_STREAM)[0][4]
t = time.monotonic()
try:
    socket.create_connection(a, timeout=10).close()
    r = "connected"
except OSError as e:
    r = "failed"
print(r, int((time.monotonic() - t) * 1000))' "$PORT" 2>&1) || true
ms=${out##* }
note "(b) hello (B only, retries 0) on the silent link: $out ms"
check_eq "(b) the connection fails" failed "${out%% *}"
check "(b) within the connect timeout + 0.5 s ($ms ms), not 3 s" test "$ms" -le 1500
r=$(new_records "$T/a.log" "$mark" '.event == "close" and .service == "hello"' 1 | head -n 1) || r='{}'
check_rec "(b) A records a timeout on B" "$r" ".result == \"timeout\" and .endpoint == \"$B\""
restore_b
link_to_b "(b) B is back"

# The same on hello2: the connection goes on to C.
tried_b=0 worst=0 okc=0
for i in 1 2 3; do
	sleep 0.5
	mark=$(since "$T/a.log")
	silence_b
	get hello2 "$PORT2"
	note "(b) hello2 on the silent link, round $i: curl exit $st, '$body', $ms ms"
	((ms > worst)) && worst=$ms
	[[ $st -eq 0 && $body == "from host c" ]] && okc=$((okc + 1))
	r=$(new_records "$T/a.log" "$mark" '.event == "close" and .service == "hello2"' 1 | head -n 1) || r='{}'
	[[ $(jget "$r" .attempts) -ge 2 ]] && tried_b=$((tried_b + 1))
	restore_b
	link_to_b "(b) round $i: B is back"
done
# A connection arriving while the link is being found dead (its PING out
# for more than 200 ms: the link went silent 0.7 s ago, so a PING left at
# most 0.33 s after that) goes straight to C, without waiting on B.
sleep 0.5
mark=$(since "$T/a.log")
silence_b
sleep 0.7
get hello2 "$PORT2"
note "(b) hello2 while the link is being found dead: curl exit $st, '$body', $ms ms"
check_eq "(b) the connection arriving then is served by C" "from host c" "$body"
check "(b) at once: within 500 ms ($ms ms)" test "$ms" -le 500
r=$(new_records "$T/a.log" "$mark" '.event == "close" and .service == "hello2"' 1 | head -n 1) || r='{}'
check_rec "(b) its record: B passed over without spending an attempt (its link not answering), one attempt, to C" "$r" \
	'.attempts == 1 and .endpoint == "'"$C"'" and (.detail | test("is not answering"))'
restore_b
link_to_b "(b) B is back once more"
check_eq "(b) every hello2 connection during the silence is served by C" 3 "$okc"
check "(b) and had tried B first (attempts >= 2) in at least one round ($tried_b)" test "$tried_b" -ge 1
check "(b) each within the connect timeout + 0.5 s (worst $worst ms)" test "$worst" -le 1500

summary
