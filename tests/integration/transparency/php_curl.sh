#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2016  # setup_hello takes optional arguments; the sh -c and php -r scripts are single-quoted on purpose
# php -r with the curl extension: PHP loads its extensions with
# RTLD_DEEPBIND, so libcurl's getaddrinfo and connect would bind to libc
# ahead of the preload; the shim's dlopen hook drops the flag
# (shim/dlhooks.c). curl_init/curl_exec to http://hello/ reaches the
# server by name through two meshd, and file_get_contents in the same
# process too (PHP's own streams, bound to the shim either way): two
# connections, each with both hosts' records. MESH_DEBUG=1 names the
# decision for curl.so.
. "$(dirname "$0")/lib.sh"
need php
# (php -m into a variable, not a pipe into grep -q: grep would exit at the
# match and php, writing a line per module, could die of SIGPIPE, which
# pipefail counts as a failed check.)
mods=$(php -m 2>/dev/null) || true
grep -qx curl <<<"$mods" || die "php's curl extension is not installed: scripts/deps.sh installs php-curl"
setup_hello

# no_dns CMD...: CMD in a private mount namespace whose /etc/resolv.conf
# names 127.0.0.1, where nothing answers: a name that reaches libc instead
# of the shim (the failure this scenario looks for) fails at once, and is
# never asked of the host's resolvers.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
no_dns() {
	unshare -m --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv.conf" "$@"
}

st=0
out=$(no_dns env MESH_DEBUG=1 "LIBMESH_SO=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$MESH_RUN" timeout 30 php -r '
$c = curl_init($argv[1]);
curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
curl_setopt($c, CURLOPT_TIMEOUT, 10);
curl_setopt($c, CURLOPT_PROXY, "");
$body = curl_exec($c);
if ($body === false) { echo "curl error: ", curl_error($c), "\n"; exit(1); }
echo "curl ", curl_getinfo($c, CURLINFO_RESPONSE_CODE), " ", curl_getinfo($c, CURLINFO_PRIMARY_IP), " ", trim($body), "\n";
curl_close($c);
$ctx = stream_context_create(["http" => ["timeout" => 10, "protocol_version" => "1.0"]]);
$fg = file_get_contents($argv[1], false, $ctx);
if ($fg === false) { echo "file_get_contents failed\n"; exit(1); }
echo "fgc ", trim($fg), "\n";
' "http://hello:$PORT/" 2>"$T/php.err") || st=$?
check_eq "php -r exits 0" 0 "$st"
check_eq "curl_exec gets the page by name from the VIP, file_get_contents too" \
	"curl 200 $VIP $TOKEN
fgc $TOKEN" "$out"
contains "MESH_DEBUG: RTLD_DEEPBIND dropped for the curl extension" \
	"/curl.so: RTLD_DEEPBIND dropped" "$(cat "$T/php.err")"
contains "MESH_DEBUG: hello answered by the shim" \
	"libmesh: resolve hello -> $VIP (mesh)" "$(cat "$T/php.err")"
CONN_PROGRAM=php client_conns "$st" "php curl_exec + file_get_contents" 2 web

summary
