#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# Programs the shim cannot enter: a statically linked busybox (busybox-static)
# under mesh-run gets a clear warning that names the VIPs, and `busybox wget`
# reaches the service through its VIP with no shim at all; the records are
# hello's, with the upstream's exact counts. A setuid copy of a dynamic
# program is detected too.
. "$(dirname "$0")/lib.sh"
need busybox file
BB=$(command -v busybox)
file -L "$BB" | grep -q 'statically linked' ||
	die "$BB is not statically linked ($(file -L -b "$BB")): scripts/deps.sh installs busybox-static"
setup_hello

st=0
mesh_run "$BB" wget -q -O- "http://$VIP:$PORT/" >"$T/out" 2>"$T/err" || st=$?
check_eq "busybox wget http://VIP:PORT/ exits 0" 0 "$st"
check_eq "busybox wget prints the upstream's page" "$TOKEN" "$(cat "$T/out")"
contains "mesh-run says busybox is statically linked" \
	"mesh-run: $BB is statically linked; LD_PRELOAD cannot reach it. Use the service VIPs directly:" "$(cat "$T/err")"
check "mesh-run's warning lists hello with its VIP and port" \
	grep -qE "^ +hello +$VIP +$PORT\$" "$T/err"
note "mesh-run said: $(paste -sd '|' "$T/err")"
client_conns "$st" "busybox wget (static, VIP)" 1 web

# The same without mesh-run: the VIP is an ordinary address.
st=0
out=$("$BB" wget -q -O- "http://$VIP:$PORT/" 2>&1) || st=$?
check_eq "busybox wget to the VIP without mesh-run: the page" "$TOKEN" "$out"
client_conns "$st" "busybox wget without mesh-run" 1 web

# setuid: the loader ignores LD_PRELOAD; mesh-run says so.
cp "$(type -P true)" "$T/suidtrue"
# Owned by another user: running it changes the uid, so the loader is in
# secure mode (root running a setuid-root program is not, and gets no warning).
chown nobody "$T/suidtrue"
chmod u+s "$T/suidtrue"
st=0
out=$(mesh_run "$T/suidtrue" 2>&1) || st=$?
check_eq "a setuid program still runs under mesh-run" 0 "$st"
contains "mesh-run says it is setuid" "mesh-run: $T/suidtrue is setuid/setgid; the dynamic loader ignores LD_PRELOAD for it. Use the service VIPs directly:" "$out"
contains "and lists hello's VIP" "$VIP" "$out"

summary
