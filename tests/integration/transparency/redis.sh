#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# redis-cli (links libjemalloc) to a real redis-server by mesh name. SET then
# GET through the mesh; the value is in the real server when read directly;
# the records carry exactly the RESP bytes of each command and reply.
. "$(dirname "$0")/lib.sh"
need redis-cli redis-server
standard_setup
spawn redis "$T/redis.log" redis-server --port "$BACKPORT" --bind 127.0.0.1 --save '' \
	--appendonly no --daemonize no --dir "$T" --protected-mode no
wait_port 127.0.0.1 "$BACKPORT" 10 || die "redis-server did not listen on 127.0.0.1:$BACKPORT ($(tail -n 5 "$T/redis.log"))"
libs=$(ldd "$(command -v redis-cli)" 2>&1) || true
if grep -q 'libjemalloc' <<<"$libs"; then
	note "redis-cli links $(awk '/libjemalloc/ { print $3 }' <<<"$libs"): libmesh.so is preloaded next to jemalloc"
else
	note "this redis-cli does not link jemalloc (preload_jemalloc.sh covers jemalloc anyway)"
fi

resp() { # ARGS...: the RESP encoding of a command
	local a
	printf '*%d\r\n' $#
	for a in "$@"; do printf '$%d\r\n%s\r\n' "${#a}" "$a"; done
}
val="through the mesh $RANDOM$RANDOM"

st=0
out=$(mesh_run redis-cli -h hello -p "$PORT" SET meshkey "$val" 2>&1) || st=$?
check_eq "redis-cli SET exits 0" 0 "$st"
check_eq "redis-cli SET prints OK" "OK" "$out"
CONN_PROGRAM=redis-cli client_conns "$st" "redis-cli SET" 1
check_pair_bytes "redis-cli SET (RESP bytes)" "$(resp SET meshkey "$val" | wc -c)" "$(printf '+OK\r\n' | wc -c)"

st=0
out=$(mesh_run redis-cli -h hello -p "$PORT" GET meshkey 2>&1) || st=$?
check_eq "redis-cli GET exits 0" 0 "$st"
check_eq "redis-cli GET prints the value" "$val" "$out"
CONN_PROGRAM=redis-cli client_conns "$st" "redis-cli GET" 1
check_pair_bytes "redis-cli GET (RESP bytes)" "$(resp GET meshkey | wc -c)" "$(printf '$%d\r\n%s\r\n' "${#val}" "$val" | wc -c)"

check_eq "the value is in the real server (read without the mesh)" "$val" \
	"$(redis-cli -h 127.0.0.1 -p "$BACKPORT" GET meshkey 2>&1)"

# Interactive-style use: several commands on one connection.
st=0
out=$(printf 'PING\nINCR n\nINCR n\n' | mesh_run redis-cli -h hello -p "$PORT" 2>&1) || st=$?
check_eq "redis-cli with commands on stdin exits 0" 0 "$st"
check_eq "it prints PONG 1 2" "$(printf 'PONG\n1\n2')" "$out"
CONN_PROGRAM=redis-cli client_conns "$st" "redis-cli stdin" 1

summary
