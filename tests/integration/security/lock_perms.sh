#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # helpers run via check
# lock_perms: no file meshd relies on may be lockable, writable or
# replaceable by another local user.
#   - The lock (SNAPSHOT.lock) is created 0600 with O_EXCL | O_NOFOLLOW. A
#     stale 0644 one (from an older meshd) that nobody opens and flocks
#     does not keep meshd from starting: it is replaced (and meshd says
#     so). A lock nobody owns, or a symlink, is replaced too; one held by
#     root (a running meshd) still stops a second meshd.
#   - A directory meshd creates files in (snapshot, control socket, log)
#     that others can write (0777, or sticky 1777) or that nobody owns
#     makes `meshd -t` fail with the reason, and start-up refuse; so does
#     a private key its group or others can read, or a config others can
#     write. A group-writable config is a warning only; the standard setup
#     passes.
# Before (meshd of main): the lock was created 0644, and nobody holding a
# flock on it made every start fail with "another meshd is running".
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello
write_confs
_need_binaries
LOCK=$T/a.routes.lock

meshd_t() { # CONF: meshd -t; status in ST, stderr+stdout in OUT
	ST=0
	OUT=$(timeout 20 "$MESHD" -t -c "$1" 2>&1) || ST=$?
}
# run_meshd CONF: start meshd in the foreground, expecting it to refuse
# within 10 s; status in ST, stderr in OUT.
run_meshd() {
	ST=0
	OUT=$(timeout 10 "$MESHD" -c "$1" 2>&1) || ST=$?
}
# variant NAME SED_EXPR: $T/NAME.ini, a copy of a.ini edited by SED_EXPR
variant() { sed -e "$2" "$T/a.ini" >"$T/$1.ini"; }

meshd_t "$T/a.ini"
check_eq "the standard setup passes meshd -t" 0 "$ST"
[[ $ST -eq 0 ]] || note "$OUT"
check "and -t says nothing is unsafe" test -z "$(grep -E 'unsafe|warning' <<<"$OUT")"

start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

# ---- a stale 0644 lock, held by nobody
(umask 022 && : >"$LOCK")
chmod 644 "$LOCK"
spawn_nobody locker "$T/locker.out" flock "$LOCK" sleep 60
locker=$LAST_PID
held=0
for ((i = 0; i < 50; i++)); do
	if ! flock -n "$LOCK" true; then held=1; break; fi
	sleep 0.1
done
check_eq "nobody holds a flock on the stale 0644 lock" 1 "$held"
meshd_t "$T/a.ini"
check_eq "meshd -t still passes (start-up replaces the lock)" 0 "$ST"
check "meshd -t says the lock will be replaced" \
	grep -q "warning: lock $LOCK can be opened by others (mode 0644); meshd will replace it" <<<"$OUT"
old_ino=$(stat -c %i "$LOCK")
start_meshd a "$T/a.ini"
check "meshd starts anyway and says it replaced the lock, and why" \
	grep -qE "warn: replaced lock $LOCK: it can be opened by others \(mode 0644\), held by pid [0-9]+ \(uid 65534\)" "$T/a.err"
check_eq "the new lock is 0600, root's, a regular file" "600 root regular empty file" \
	"$(stat -c '%a %U %F' "$LOCK")"
check "the new lock is a new file (not the one nobody holds)" test "$(stat -c %i "$LOCK")" != "$old_ino"
check_fail "and meshd holds it" flock -n "$LOCK" true
nobody_opens() { as_nobody "$PY" -c 'import sys; open(sys.argv[1])' "$1" 2>/dev/null; }
check_fail "nobody cannot open the new lock" nobody_opens "$LOCK"
check_hello "root is served"
kill_proc "$locker"

# ---- a second meshd on the same snapshot is still refused
run_meshd "$T/a.ini"
check_eq "a second meshd on the same routes exits 1" 1 "$ST"
check "it says another meshd is running" grep -q "another meshd is running with routes $T/a.routes" <<<"$OUT"
stop_meshd a

# ---- an unsafe lock held by root: an older meshd still running
chmod 644 "$LOCK"
ino=$(stat -c %i "$LOCK")
spawn rootlocker "$T/rootlocker.out" flock "$LOCK" sleep 60
rootlocker=$LAST_PID
for ((i = 0; i < 50; i++)); do flock -n "$LOCK" true || break; sleep 0.1; done
run_meshd "$T/a.ini"
check_eq "a 0644 lock held by root (an older meshd) stops meshd (exit 1)" 1 "$ST"
check "it names the holder" grep -qE "another meshd is running with routes $T/a.routes \(lock $LOCK held by pid [0-9]+\)" <<<"$OUT"
check_eq "and that lock is left alone" "$ino" "$(stat -c %i "$LOCK")"
kill_proc "$rootlocker"

# ---- planted: owned by nobody; a symlink
chown nobody "$LOCK"
chmod 600 "$LOCK"
start_meshd a "$T/a.ini"
check "a lock owned by nobody is replaced" grep -q "replaced lock $LOCK: it is owned by uid 65534" "$T/a.err"
check_eq "the new lock is root's 0600" "600 root" "$(stat -c '%a %U' "$LOCK")"
stop_meshd a
rm -f "$LOCK"
echo precious >"$T/victim"
ln -s "$T/victim" "$LOCK"
start_meshd a "$T/a.ini"
check "a symlink lock is replaced" grep -q "replaced lock $LOCK: it is not a regular file" "$T/a.err"
check_eq "the symlink's target is untouched" precious "$(cat "$T/victim")"
check_eq "the lock is a regular file now" "regular empty file" "$(stat -c %F "$LOCK")"
stop_meshd a

# ---- directories others can write
# unsafe_dir NAME MODE OWNER DESC KEY: a config whose KEY (snapshot, log or
# control) lies in a fresh directory $T/NAME with MODE and OWNER; meshd -t
# fails naming it, and start-up refuses.
unsafe_dir() {
	local name=$1 mode=$2 owner=$3 desc=$4 key=$5 want=$6
	mkdir -p "$T/$name"
	chmod "$mode" "$T/$name"
	chown "$owner" "$T/$name"
	if [[ $key == control ]]; then # not in a.ini: it defaults to SNAPSHOT.ctl
		variant "$name" "s|^snapshot = .*|&\ncontrol = $T/$name/a.ctl|"
	else
		variant "$name" "s|^$key = .*|$key = $T/$name/a.$key|"
	fi
	meshd_t "$T/$name.ini"
	check_eq "$desc: meshd -t exits 1" 1 "$ST"
	if grep -qF -- "$want" <<<"$OUT" && grep -q "test failed" <<<"$OUT"; then
		ok "$desc: meshd -t says why"
	else
		not_ok "$desc: meshd -t says why"
		note "  want: $want"
		note "  got:  $OUT"
	fi
	run_meshd "$T/$name.ini"
	check_eq "$desc: start-up refuses (exit 1)" 1 "$ST"
	check "$desc: start-up says why" grep -qF -- "$want" <<<"$OUT"
	check_eq "$desc: and made nothing there (no lock, snapshot, socket or log)" "" \
		"$(ls -A "$T/$name")"
}
unsafe_dir snap777 0777 root "snapshot dir 0777" snapshot \
	"unsafe: route snapshot $T/snap777/a.snapshot: directory $T/snap777 is writable by others (mode 0777)"
unsafe_dir snapnobody 0755 nobody "snapshot dir owned by nobody" snapshot \
	"unsafe: route snapshot $T/snapnobody/a.snapshot: directory $T/snapnobody is owned by uid 65534"
unsafe_dir snapsticky 1777 root "snapshot dir 1777 (sticky, like /tmp)" snapshot \
	"directory $T/snapsticky is writable by others (mode 1777): they can create the names meshd uses there, which the sticky bit does not stop"
unsafe_dir log777 0777 root "log dir 0777" log \
	"unsafe: traffic log $T/log777/a.log: directory $T/log777 is writable by others (mode 0777)"
unsafe_dir ctl770 0770 root "control socket dir 0770 (group-writable)" control \
	"unsafe: control socket $T/ctl770/a.ctl: directory $T/ctl770 is writable by its group (mode 0770)"
mkdir -p "$T/deep/er"
chmod 0777 "$T/deep"
variant deep "s|^snapshot = .*|snapshot = $T/deep/er/a.routes|"
meshd_t "$T/deep.ini"
check_eq "a 0777 directory further up (no sticky bit) fails -t too" 1 "$ST"
check "and -t names it" grep -qF "directory $T/deep is writable by others without the sticky bit (mode 0777)" <<<"$OUT"

# ---- keys and the config
chmod 711 "$T" # others can reach $T/certs (0755)
chmod 644 "$T/certs/client.key"
meshd_t "$T/a.ini"
check_eq "a private key others can read: meshd -t exits 1" 1 "$ST"
check "and says so" grep -qF "unsafe: private key $T/certs/client.key: file $T/certs/client.key is readable by others (mode 0644)" <<<"$OUT"
run_meshd "$T/a.ini"
check_eq "start-up refuses it too" 1 "$ST"
chmod 700 "$T/certs"
meshd_t "$T/a.ini"
check_eq "the same key where others cannot reach it today (certs/ 0700) fails too: its own mode decides" 1 "$ST"
chmod 755 "$T/certs"
chmod 640 "$T/certs/client.key"
meshd_t "$T/a.ini"
check_eq "a group-readable key (0640) fails -t" 1 "$ST"
check "and says so" grep -qF "unsafe: private key $T/certs/client.key: file $T/certs/client.key is readable by its group (mode 0640)" <<<"$OUT"
chmod 600 "$T/certs/client.key"
chmod 666 "$T/a.ini"
meshd_t "$T/a.ini"
check_eq "a config others can write: meshd -t exits 1" 1 "$ST"
check "and says so" grep -qF "unsafe: configuration $T/a.ini: file $T/a.ini is writable by others (mode 0666)" <<<"$OUT"
chmod 664 "$T/a.ini"
meshd_t "$T/a.ini"
check_eq "a group-writable config passes -t" 0 "$ST"
check "with a warning" grep -qF "warning: configuration $T/a.ini: file $T/a.ini is writable by its group (mode 0664)" <<<"$OUT"
chmod 644 "$T/a.ini"

# ---- a reload onto an unsafe directory is rejected; the running one stays
start_meshd a "$T/a.ini"
cp "$T/a.ini" "$T/a.ini.good"
sed -i "s|^log = .*|log = $T/log777/a.log|" "$T/a.ini"
signal_meshd a HUP
check "a reload onto a log directory others can write is rejected" \
	wait_grep "$T/a.err" "reload rejected" 5
check "it says why" grep -qF "unsafe: traffic log $T/log777/a.log: directory $T/log777 is writable by others" "$T/a.err"
check_hello "root is still served on the running configuration"
check "nothing was written there" test ! -e "$T/log777/a.log"
cp "$T/a.ini.good" "$T/a.ini"
summary
