#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # helpers run via check
# log_disk_full: host A's traffic log is on a full filesystem (a 64 KiB
# tmpfs, filled). Traffic still flows, meshd says on stderr that records are
# lost and how many (not once per record), and when space comes back the
# records are written again, one whole JSON object per line.
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root to mount a small tmpfs"
mkdir -p "$T/full"
# mode=0755: a fresh tmpfs is 1777, and meshd refuses to keep its log in a
# directory others can create names in (sticky or not; pathsafe.c).
mount -t tmpfs -o size=64k,mode=0755 tmpfs "$T/full" || die "cannot mount a tmpfs on $T/full"
on_exit 'umount "$T/full"'

make_certs "$TD" client hello
write_confs
sed -i "s|^log = $T/a.log|log = $T/full/a.log|" "$T/a.ini"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"

body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
check_eq "before the disk fills, a request is answered" "hello from upstream" "$body"
wait_grep "$T/full/a.log" '"result":"ok"' 5 || true
check "and recorded" grep -q '"result":"ok"' "$T/full/a.log"

# Fill the filesystem.
dd if=/dev/zero of="$T/full/filler" bs=4k 2>/dev/null || true
good=0
for i in $(seq 1 20); do
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
	[[ $body == "hello from upstream" ]] && good=$((good + 1))
done
check_eq "with the log's disk full, 20 of 20 requests are answered" 20 "$good"
wait_grep "$T/a.err" 'record(s) lost' 5 || true
check "meshd says records are lost, and why" grep -q 'write failed (No space left on device); [0-9]* record(s) lost' "$T/a.err"
n=$(grep -c 'record(s) lost' "$T/a.err" || true)
check "it says so once, not once per record ($n line(s))" test "$n" -le 2
check "meshd A is still running" meshd_alive a
check "B recorded all of them" test "$(count_records "$T/b.log" '.result == "ok"')" -ge 21

# Space comes back: records resume, and the file is whole JSON lines.
rm -f "$T/full/filler"
body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
check_eq "after space is freed, a request is answered" "hello from upstream" "$body"
for _ in $(seq 50); do
	[[ $(grep -c '"result":"ok"' "$T/full/a.log" || true) -ge 2 ]] && break
	sleep 0.1
done
check "and recorded again" test "$(grep -c '"result":"ok"' "$T/full/a.log" || true)" -ge 2
check "every line of the log is one JSON object" jq -e -s 'all(.[]; type == "object")' "$T/full/a.log"

summary
