#!/usr/bin/env bash
# shellcheck disable=SC1091,SC2016,SC2154,SC2164
# packaging: what `make install` ships, checked as installed.
#  - make install DESTDIR=$T/root lays out every file (modes, substituted
#    paths), keeps an existing mesh.ini, and make uninstall removes all but it;
#  - every man page renders with `man -l` (MANWIDTH=80) and
#    `groff -ww -man -z` without a warning; mesh.ini(5) has every key of the
#    parser's tables, meshctl(1) every command;
#  - the example mesh.ini passes `meshd -t` once mesh-certs made the
#    certificates it names (in a network namespace of its own, since -t
#    tries the binds);
#  - systemd-analyze verify accepts the unit installed under a real PREFIX
#    (the man pages it names included), or the check is skipped saying why;
#  - the unit's limits hold meshd up: under setpriv with the unit's
#    CapabilityBoundingSet and no_new_privs, two meshd carry root's and
#    nobody's connections, one to a VIP port below 1024; with no capability
#    that port is not published (so the one capability is needed); under
#    strace every system call meshd makes is in @system-service;
#  - logrotate rotates the log and signals exactly
#    `systemctl kill --kill-whom=main --signal=USR1 meshd.service`.
# scripts/meshctl (helper H6's) is installed when present; until then this
# test installs without it and says so.
. "$(dirname "$0")/lib.sh"

_need_binaries
cd "$ROOT"
UNIT=conf/systemd/meshd.service
MANS=(meshd.8 meshctl.1 mesh-run.1 libmesh.7 mesh.ini.5)
MAKE_ARGS=()
if [[ ! -e scripts/meshctl ]]; then
	note "scripts/meshctl is not there yet: installing without it"
	MAKE_ARGS+=(BIN_SCRIPTS=scripts/mesh-certs)
fi

# ---------------------------------------------------------------- layout
D=$T/root
st=0
make -s install DESTDIR="$D" "${MAKE_ARGS[@]}" >"$T/install.out" 2>&1 || st=$?
check_eq "make install DESTDIR=\$T/root exits 0" 0 "$st"
[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/install.out"

mode_is() { [[ -f $1 && $(stat -c %a "$1") == "$2" ]]; }
P=$D/usr/local
for f in sbin/meshd:755 bin/mesh-run:755 bin/mesh-certs:755 lib/libmesh/libmesh.so:644 \
	lib/systemd/system/meshd.service:644 share/man/man8/meshd.8:644 \
	share/man/man1/meshctl.1:644 share/man/man1/mesh-run.1:644 \
	share/man/man7/libmesh.7:644 share/man/man5/mesh.ini.5:644; do
	check "installed \$PREFIX/${f%:*} (mode ${f#*:})" mode_is "$P/${f%:*}" "${f#*:}"
done
if [[ -e scripts/meshctl ]]; then
	check "installed \$PREFIX/bin/meshctl (mode 755)" mode_is "$P/bin/meshctl" 755
fi
check "installed /etc/logrotate.d/libmesh" mode_is "$D/etc/logrotate.d/libmesh" 644
check "installed /etc/libmesh/mesh.ini" mode_is "$D/etc/libmesh/mesh.ini" 644
check "meshd installed is the one built" cmp -s build/meshd "$P/sbin/meshd"
check "mesh-run looks for /usr/local/lib/libmesh/libmesh.so" \
	grep -qF '/usr/local/lib/libmesh/libmesh.so' "$P/bin/mesh-run"
check_fail "mesh-run has no @LIBDIR@ left" grep -q '@LIBDIR@' "$P/bin/mesh-run"
U=$P/lib/systemd/system/meshd.service
check "unit: ExecStart=/usr/local/sbin/meshd -c /etc/libmesh/mesh.ini" \
	grep -qx 'ExecStart=/usr/local/sbin/meshd -c /etc/libmesh/mesh.ini' "$U"
check "unit: ExecStartPre checks the same file (-t)" \
	grep -qx 'ExecStartPre=/usr/local/sbin/meshd -t -c /etc/libmesh/mesh.ini' "$U"
check_fail "unit: no @...@ left" grep -q '@[A-Z]*@' "$U"

# An operator's mesh.ini survives a second install and the uninstall.
echo '; mine' >>"$D/etc/libmesh/mesh.ini"
sum=$(md5sum <"$D/etc/libmesh/mesh.ini")
make -s install DESTDIR="$D" "${MAKE_ARGS[@]}" >"$T/install2.out" 2>&1 || true
check_eq "a second install keeps the existing mesh.ini" "$sum" "$(md5sum <"$D/etc/libmesh/mesh.ini")"

# ---------------------------------------------------------------- man pages
for m in "${MANS[@]}"; do
	f=$P/share/man/man${m##*.}/$m
	MANWIDTH=80 man --warnings -l "$f" >"$T/$m.txt" 2>"$T/$m.man.err" || true
	check "man -l $m renders (NAME section, no warning)" \
		bash -c '[[ ! -s $1 ]] && grep -q "^NAME" "$2"' _ "$T/$m.man.err" "$T/$m.txt"
	[[ ! -s $T/$m.man.err ]] || sed 's/^/#   /' "$T/$m.man.err"
	groff -ww -man -z "$f" 2>"$T/$m.groff.err" || true
	check "groff -ww -man -z $m: no warning" test ! -s "$T/$m.groff.err"
	[[ ! -s $T/$m.groff.err ]] || sed 's/^/#   /' "$T/$m.groff.err"
	check "$m: no line over 80 columns at MANWIDTH=80" \
		bash -c '[[ $(wc -L <"$1") -le 80 ]]' _ "$T/$m.txt"
done

# mesh.ini(5) documents every key the parser knows (its key tables).
missing=()
while read -r k; do
	grep -qE "^\.B (.*, )?${k//_/_}(,|$)" conf/man/mesh.ini.5 || missing+=("$k")
done < <(grep -ohE '\.name = "[a-z_]+"' daemon/config_keys.c daemon/config_lists.c |
	grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
check_eq "mesh.ini(5) has an entry for every config key" "" "${missing[*]}"
missing=()
for c in status routes stat top conns endpoints failures tail reload check; do
	grep -qE "^\.B[IR]? $c( |$)" conf/man/meshctl.1 || missing+=("$c")
	if [[ -e scripts/meshctl ]]; then
		grep -qE "(^|[[:space:]|(])$c\)|^cmd_$c\(\)" scripts/meshctl ||
			missing+=("$c(not in scripts/meshctl)")
	fi
done
check_eq "meshctl(1) describes every command" "" "${missing[*]}"

# ---------------------------------------------------------------- mesh.ini
E=$T/etc-libmesh
mkdir -p "$E"
cp "$ROOT/conf/mesh.ini" "$E/mesh.ini"
td=$(ini_get "$E/mesh.ini" mesh trust_domain | sed 's/[[:space:]]*;.*//')
out=$("$P/bin/mesh-certs" ca "$E/certs" "$td" 2>&1) || die "mesh-certs ca: $out"
for id in $(grep -oE '^\[identity\.[a-z0-9-]+\]' "$E/mesh.ini" | sed 's/^\[identity\.//; s/\]$//'); do
	out=$("$P/bin/mesh-certs" identity "$E/certs" "$td" "$id" 2>&1) || die "mesh-certs identity $id: $out"
done
st=0
unshare -n sh -c 'ip link set lo up && exec "$1" -t -c "$2"' _ "$P/sbin/meshd" "$E/mesh.ini" \
	>"$T/ini-t.out" 2>&1 || st=$?
check_eq "meshd -t accepts the example mesh.ini (certificates by mesh-certs)" 0 "$st"
check "meshd -t says so" grep -qF "configuration file $E/mesh.ini test is successful" "$T/ini-t.out"
[[ $st -eq 0 ]] || sed 's/^/#   /' "$T/ini-t.out"

# ---------------------------------------------------------------- systemd
if ! command -v systemd-analyze >/dev/null 2>&1; then
	note "skip: systemd-analyze not found (Debian package systemd); the unit is not verified"
else
	# Under a real PREFIX, so that the Exec paths exist; the man pages the
	# unit names (Documentation=) are looked up in the installed ones.
	R=$T/prefix
	make -s install PREFIX="$R/usr" SYSCONFDIR="$R/etc" "${MAKE_ARGS[@]}" >"$T/install3.out" 2>&1 ||
		die "make install PREFIX=$R/usr failed: $(tail -3 "$T/install3.out")"
	st=0
	MANPATH=$R/usr/share/man systemd-analyze verify --man=yes "$R/usr/lib/systemd/system/meshd.service" \
		>"$T/verify.out" 2>&1 || st=$?
	if [[ $st -ne 0 ]] && grep -qiE 'Failed to (connect|initialize|setup)|not booted' "$T/verify.out"; then
		note "skip: systemd-analyze verify cannot run here: $(head -1 "$T/verify.out")"
	else
		check "systemd-analyze verify: the unit passes, without a word" \
			bash -c '[[ $1 -eq 0 && ! -s $2 ]]' _ "$st" "$T/verify.out"
		[[ ! -s $T/verify.out ]] || sed 's/^/#   /' "$T/verify.out"
	fi
fi

# ---------------------------------------------------------------- hardening
# The unit's capability set, as setpriv words (+net_bind_service,...).
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr ' ' '\n' | sed '/^$/d' |
	tr 'A-Z' 'a-z' | sed 's/^cap_/+/' | paste -sd, -)
note "unit: CapabilityBoundingSet -> setpriv --bounding-set=-all${caps:+,$caps}"
SETPRIV="setpriv --bounding-set=-all${caps:+,$caps} --inh-caps=-all --ambient-caps=-all --no-new-privs --"
make_certs "$TD" client hello
# Host A maps root and nobody to `client`; a service on VIP port 80
# (below 1024) besides hello on a high port.
write_confs a_uids="0, 65534" "a_extra=[service.pkg-low]
ports = 80
endpoints = 127.0.0.2:$MESHPORT
identity = hello" "b_extra=[service.pkg-low]
ports = 80
upstream = 127.0.0.1:$BACKPORT
identity = hello
allow = client"
strace_out=
if command -v strace >/dev/null 2>&1; then
	strace_out=$T/a.strace
	# (LeakSanitizer cannot run under ptrace: a sanitized meshd leaves the
	# leak check to the other scenarios here.)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		MESHD_PREFIX="strace -f -qq -o $strace_out $SETPRIV" start_meshd a "$T/a.ini"
else
	note "strace not found: the system calls are not checked"
	MESHD_PREFIX=$SETPRIV start_meshd a "$T/a.ini"
fi
MESHD_PREFIX=$SETPRIV start_meshd b "$T/b.ini"
mkdir -p "$T/www"
echo "through the mesh" >"$T/www/f"
start_http web 127.0.0.1 "$BACKPORT" "$T/www"
apid=$(pgrep -f "^$MESHD -c $T/a.ini" | head -1)
check_eq "A runs with only the unit's capabilities (CapEff)" "0000000000000400" \
	"$(awk '/^CapEff/ { print $2 }' "/proc/${apid:-0}/status" 2>/dev/null)"
check_eq "A runs with no_new_privs" 1 "$(awk '/^NoNewPrivs/ { print $2 }' "/proc/${apid:-0}/status" 2>/dev/null)"
got=$(mesh_client "${CURL[@]}" "http://pkg-low:80/f" 2>&1) || true
check_eq "root's curl reaches pkg-low on VIP port 80" "through the mesh" "$got"
chmod 644 "$T/a.routes" 2>/dev/null || true
got=$(as_nobody env "LD_PRELOAD=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "${CURL[@]}" "http://hello:$PORT/f" 2>&1) || true
check_eq "nobody's curl reaches hello" "through the mesh" "$got"
wait_records "$T/a.log" '.event == "close"' 2 >/dev/null || true
get_record rn "$T/a.log" '.event == "close" and .uid == 65534'
check_rec "A found nobody's uid and program without a capability (sock_diag, /proc)" "$rn" \
	'.result == "ok" and .program == "curl" and .source == "spiffe://'"$TD"'/svc/client"'
# Signals go to meshd itself, not to a strace in front of it.
kill -HUP "${apid:-0}"
check "A reloads under the limits" wait_grep "$T/a.err" 'reloaded' 10
kill -TERM "${apid:-0}"
check "A drains and exits under the limits" wait_meshd a 15
stop_meshd b
if [[ -n $strace_out ]]; then
	# meshd's own calls: from its execve on (setpriv's come before).
	used=$(awk -v m="$MESHD" 'index($0, "execve(\"" m "\"") { on = 1 } on' "$strace_out" |
		grep -oE '^[0-9]+ +[a-z_0-9]+\(' | awk '{ sub(/\(/, "", $2); print $2 }' | sort -u)
	expand_set() {
		systemd-analyze syscall-filter "$1" | awk 'NR > 1 && $1 !~ /^#/ { print $1 }' |
			while read -r s; do case $s in @*) expand_set "$s" ;; *) echo "$s" ;; esac; done
	}
	if command -v systemd-analyze >/dev/null 2>&1; then
		allowed=$(expand_set @system-service | sort -u)
		privileged=$(expand_set @privileged | sort -u)
		note "meshd made $(wc -w <<<"$used") distinct system calls from start to stop"
		check "meshd made system calls (strace saw them)" test -n "$used"
		check_eq "every one is in @system-service" "" "$(comm -23 <(echo "$used") <(echo "$allowed") | paste -sd' ')"
		check_eq "none is in @privileged" "" "$(comm -12 <(echo "$used") <(echo "$privileged") | paste -sd' ')"
	fi
fi

# Without any capability the port below 1024 cannot be bound: the one
# capability the unit keeps is needed.
MESHD_PREFIX="setpriv --bounding-set=-all --inh-caps=-all --ambient-caps=-all --no-new-privs --" \
	start_meshd a "$T/a.ini"
check "with no capability, VIP port 80 is refused (Permission denied)" \
	grep -q 'pkg-low: cannot listen on .*:80: Permission denied' "$T/a.err"
stop_meshd a

# ---------------------------------------------------------------- logrotate
if ! command -v logrotate >/dev/null 2>&1; then
	note "skip: logrotate not found (Debian package logrotate)"
else
	L=$T/lr
	mkdir -p "$L/bin"
	sed "s|/var/log/libmesh/traffic.log|$L/traffic.log|" "$D/etc/logrotate.d/libmesh" >"$L/conf"
	printf '#!/bin/sh\necho "$*" >>%s/systemctl.calls\n' "$L" >"$L/bin/systemctl"
	chmod 755 "$L/bin/systemctl"
	echo '{"event":"close"}' >"$L/traffic.log"
	st=0
	PATH=$L/bin:$PATH logrotate -f -s "$L/state" "$L/conf" >"$L/out" 2>&1 || st=$?
	check_eq "logrotate -f on the packaged file exits 0" 0 "$st"
	check "the log was rotated (traffic.log.1)" test -s "$L/traffic.log.1"
	check_eq "postrotate signals only meshd.service's main process" \
		"kill --kill-whom=main --signal=USR1 meshd.service" "$(cat "$L/systemctl.calls" 2>/dev/null)"
fi

# ---------------------------------------------------------------- uninstall
make -s uninstall DESTDIR="$D" "${MAKE_ARGS[@]}" >"$T/uninstall.out" 2>&1 || true
check_eq "make uninstall leaves only the operator's mesh.ini" "$D/etc/libmesh/mesh.ini" \
	"$(find "$D" -type f | sort | paste -sd' ')"
summary
