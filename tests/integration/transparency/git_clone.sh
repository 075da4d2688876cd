#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# git clone over HTTP (dumb protocol) by mesh name: git runs the transport
# as a child process (git-remote-http, exec'd; libcurl inside it), so the
# shim must follow fork and exec. The clone must contain the committed
# files, and every connection's record must equal the upstream's counts.
. "$(dirname "$0")/lib.sh"
need git
setup_hello

# A repository with two commits, published as a bare repo for dumb HTTP.
export GIT_CONFIG_NOSYSTEM=1 HOME=$T GIT_TERMINAL_PROMPT=0
git -c init.defaultBranch=main init -q "$T/src"
printf 'first file %s\n' "$RANDOM$RANDOM" >"$T/src/a.txt"
head -c 200000 /dev/urandom | base64 >"$T/src/data.txt"
git -C "$T/src" add a.txt data.txt
git -C "$T/src" -c user.name=t -c user.email=t@t commit -q -m one
printf 'second %s\n' "$RANDOM$RANDOM" >"$T/src/b.txt"
git -C "$T/src" add b.txt
git -C "$T/src" -c user.name=t -c user.email=t@t commit -q -m two
git clone -q --bare "$T/src" "$T/www/repo.git"
git -C "$T/www/repo.git" update-server-info
head=$(git -C "$T/src" rev-parse HEAD)

st=0
out=$(mesh_run timeout 40 git clone "http://hello:$PORT/repo.git" "$T/clone" 2>&1) || st=$?
check_eq "git clone exits 0" 0 "$st"
[[ $st -eq 0 ]] || sed 's/^/#   /' <<<"$out"
for f in a.txt b.txt data.txt; do
	check "the clone has $f as committed" cmp -s "$T/src/$f" "$T/clone/$f"
done
check_eq "the clone's HEAD is the source's" "$head" "$(git -C "$T/clone" rev-parse HEAD 2>&1)"
check_eq "the clone's origin is the mesh URL" "http://hello:$PORT/repo.git" "$(git -C "$T/clone" remote get-url origin 2>&1)"
check "git fsck of the clone is clean" git -C "$T/clone" fsck --no-progress
n=$(web_closes web | grep -c . || true)
check "the upstream served the clone (over $n connection(s))" test "$n" -gt 0
check "it served loose objects (dumb protocol)" grep -q '^request GET /repo.git/objects/[0-9a-f][0-9a-f]/.* 200' "$T/web.conns"
CONN_PROGRAM=git-remote-http client_conns "$st" "git clone" "$n" web

summary
