#!/usr/bin/env bash
# serial
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# wrk -c64 (epoll, 64 non-blocking connections at once, HTTP/1.1 keep-alive)
# by mesh name for 2 s: requests complete, no socket errors, no non-2xx
# answers; every connection has a record on both hosts with equal counts,
# equal to what the upstream read and wrote on it. Throughput is not
# asserted.
. "$(dirname "$0")/lib.sh"
need wrk
setup_hello

st=0
out=$(mesh_run timeout 30 wrk -t2 -c64 -d2s --timeout 10s "http://hello:$PORT/" 2>&1) || st=$?
sed 's/^/#   /' <<<"$out"
check_eq "wrk exits 0" 0 "$st"
reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$out")
check "wrk completed requests (${reqs:-none})" test "${reqs:-0}" -gt 0
lacks "wrk reports no socket errors" "Socket errors" "$out"
lacks "wrk reports no non-2xx responses" "Non-2xx" "$out"
# wrk first checks the address with one connect-and-close, then opens its
# 64. When the time is up it exits with requests in flight: the kernel
# resets a socket closed with unread data, and the mesh passes the reset on
# to the upstream, as a direct connection would.
# wrk may also open one or two connections more than that: it reconnects a
# connection whose request was cut by the end of the run, and exits before
# sending on it. Those carry no bytes; count them as such.
sleep 0.5
n=$(count_records "$T/a.log" '.event == "close" and .service == "hello"')
check "wrk: 65 to 67 connections on host A ($n)" test "$n" -ge 65 -a "$n" -le 67
# (Per-connection bytes are compared between the hosts; against the upstream
# only in total below, since wrk cuts requests off mid-flight at the end.)
CONN_PROGRAM=wrk CONN_RESULTS="ok reset" CONN_EMPTY=$((n - 64)) client_conns "$st" "wrk" "$n"
answered=$(grep -c '^request GET / 200' "$T/web.conns" || true)
check "the upstream answered at least wrk's $reqs requests with 200 ($answered)" test "$answered" -ge "${reqs:-1}"
check_eq "the upstream saw no other request" 0 "$(grep '^request' "$T/web.conns" | grep -vc '^request GET / 200' || true)"

summary
