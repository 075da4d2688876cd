#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # helpers run via check
# nofile_raise: meshd takes the descriptor limit the hard limit allows
# (systemd's default soft limit is 1024, far below what a busy host
# needs), as HAProxy and nginx do, and says so at start together with the
# per-source limits that follow from it. Started under prlimit 1024:4096:
# the soft limit becomes 4096; auto per-uid and per-peer limits are a
# quarter of it (1024), a configured one is taken as is.
. "$(dirname "$0")/../lib.sh"

make_certs "$TD" client hello
write_confs b_mesh="max_connections_per_peer = 300"
MESHD_PREFIX="prlimit --nofile=1024:4096 --" start_meshd a "$T/a.ini"
MESHD_PREFIX="prlimit --nofile=1024:4096 --" start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
for h in a b; do
	pid=$(meshd_pid "$h")
	check_eq "$h: soft descriptor limit raised to the hard one (/proc/PID/limits)" "4096 4096" \
		"$(awk '/^Max open files/ { print $4, $5 }' "/proc/$pid/limits")"
	check "$h: the log says it raised it" \
		grep -q 'info: descriptor limit raised from 1024 to 4096 (the hard limit); the last 256 kept in reserve' "$T/$h.err"
done
check "a: the log gives the effective per-source limits (auto: 4096 / 4)" \
	grep -q 'limits: max_connections_per_uid 1024 (auto), max_connections_per_peer 1024 (auto) (descriptor limit 4096)' "$T/a.err"
check "b: a configured limit is given as is" \
	grep -q 'limits: max_connections_per_uid 1024 (auto), max_connections_per_peer 300 (descriptor limit 4096)' "$T/b.err"
check_hello "root, with the raised limit"

# Already at the hard limit: nothing to raise, and it says that instead.
stop_meshd a
: >"$T/a.err"
MESHD_PREFIX="prlimit --nofile=2048:2048 --" start_meshd a "$T/a.ini"
check "a: at the hard limit already, it says so" \
	grep -q 'info: descriptor limit 2048 (already the hard limit); the last 128 kept in reserve' "$T/a.err"
check_eq "a: soft limit unchanged" "2048 2048" \
	"$(awk '/^Max open files/ { print $4, $5 }' "/proc/$(meshd_pid a)/limits")"
check_hello "root, at the hard limit"
summary
