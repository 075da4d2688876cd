#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # records are set by get_record; helpers run via check
# reload_broken: SIGHUP with a broken config is rejected with file:line and
# the running config keeps serving; SIGHUP with a valid change (a new service
# hello2 to the same backend) applies it, and hello keeps its VIP.
. "$(dirname "$0")/lib.sh"

standard_setup
start_upstream up http 127.0.0.1 "$BACKPORT"

get() { # SERVICE: body of GET http://SERVICE:PORT/ under the shim
	mesh_client "${CURL[@]}" "http://$1:$PORT/"
}

vip1=$(mesh_resolve hello) || vip1=
check "hello resolves to a VIP in 127.77.0.0/16 ($vip1)" grep -qE '^127\.77\.[0-9]+\.[0-9]+$' <<<"$vip1"
body=$(get hello) || body=
check_eq "hello works before the reloads" "hello from upstream" "$body"

# 1. A broken file: an unknown key in [mesh].
write_confs a_mesh="no_such_key = 1"
line=$(grep -n '^no_such_key' "$T/a.ini" | cut -d: -f1)
snap=$(file_sig "$T/a.routes")
signal_meshd a HUP
check "A logs that the reload was rejected" \
	wait_grep "$T/a.err" 'error: reload rejected, keeping the running configuration' 10
check "the rejection is a log line: TIME meshd[PID] error: ..." \
	grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z meshd\[$(meshd_pid a)\] error: reload rejected" "$T/a.err"
check "A names the error as $T/a.ini:$line:" wait_grep "$T/a.err" "$T/a.ini:$line:.*no_such_key" 5
check "A is still running" meshd_alive a
check_eq "A did not republish its routes" "$snap" "$(file_sig "$T/a.routes")"
body=$(get hello) || body=
check_eq "hello still works after the rejected reload" "hello from upstream" "$body"

# 2. A valid change on both hosts: hello2, served by B's hello identity and
# the same backend.
hello2_args
write_confs "${HELLO2[@]}"
reload_hosts "republishes its routes after the valid reload" b a
check_eq "the valid reload was not rejected" 1 "$(grep -c 'reload rejected' "$T/a.err" || true)"
check_eq "B did not reject its reload" 0 "$(grep -c 'reload rejected' "$T/b.err" || true)"

vip2=$(mesh_resolve hello) || vip2=
check_eq "hello kept its VIP across the reloads" "$vip1" "$vip2"
vip3=$(mesh_resolve hello2) || vip3=
check "hello2 resolves to a VIP in 127.77.0.0/16 ($vip3)" grep -qE '^127\.77\.[0-9]+\.[0-9]+$' <<<"$vip3"
check "hello2's VIP differs from hello's" test "$vip3" != "$vip1"
body=$(get hello2) || body=
check_eq "hello2 works" "hello from upstream" "$body"
body=$(get hello) || body=
check_eq "hello still works" "hello from upstream" "$body"
get_record ra "$T/a.log" '.event == "close" and .service == "hello2"'
check_rec "A: hello2 result ok" "$ra" '.result == "ok"'
get_record rb "$T/b.log" '.event == "close" and .service == "hello2"'
check_rec "B: hello2 result ok" "$rb" '.result == "ok"'

summary
