#!/usr/bin/env bash
# deps.sh: install the Debian packages that the build and the tests need, when
# they are missing. Quiet when everything is there ("deps: all present").
# Runs apt-get as root, or through sudo when not root and sudo is available.
#
#   scripts/deps.sh           build, tests and demo
#   scripts/deps.sh --bench   also the benchmark's tools (scripts/bench.sh):
#                             wrk, iperf3 and haproxy (the baseline pair)
set -euo pipefail

bench=0
for arg in "$@"; do
	case $arg in
	--bench) bench=1 ;;
	-h | --help)
		sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		printf 'deps: unknown option %s (usage: deps.sh [--bench])\n' "$arg" >&2
		exit 2
		;;
	esac
done

# Build: compiler, libc headers, OpenSSL, libev, inih, cmocka.
BUILD_PKGS=(gcc make libc6-dev libssl-dev libev-dev libinih-dev libcmocka-dev)
# Tests and demo: the real programs the integration scenarios drive.
# util-linux gives setpriv and runuser; psmisc gives fuser/killall-free pstree.
TOOL_PKGS=(openssl curl python3 jq netcat-openbsd socat iproute2 procps
	util-linux file psmisc busybox-static)
# make test replays the libFuzzer targets (tests/fuzz/): clang with its
# sanitizer and fuzzer runtimes.
TOOL_PKGS+=(clang libclang-rt-dev)
# The formatter: .clang-format is tuned against Debian 12's clang-format (14).
TOOL_PKGS+=(clang-format)
# metrics_prometheus.sh: a real Prometheus scrapes meshd's /metrics, and
# its promtool checks the text format (the package has both).
TOOL_PKGS+=(prometheus)
# The packaging test (tests/integration/packaging.sh): man and groff render
# the man pages, systemd-analyze verifies the unit and lists @system-service,
# strace records meshd's system calls, logrotate runs the packaged file.
TOOL_PKGS+=(man-db groff-base systemd strace logrotate)
# status_page.sh loads the admin listener's status page in headless
# Chromium (--dump-dom, --screenshot).
TOOL_PKGS+=(chromium)
# The transparency matrix (tests/integration/transparency/): unmodified
# clients and the real servers they talk to. postgresql brings initdb,
# pg_ctl and psql; redis-tools' redis-cli links jemalloc, and libjemalloc2 is
# also preloaded next to libmesh.so; git clones over dumb HTTP.
TOOL_PKGS+=(wget telnet postgresql redis-server redis-tools nodejs wrk git
	libjemalloc2)
# Issue 12 (names by DNS, discovery from DNS): programs that resolve names
# without libc or load libraries with RTLD_DEEPBIND (aria2c uses c-ares, a Go
# program built with Debian's Go uses Go's own resolver, php's curl
# extension is loaded with RTLD_DEEPBIND), dnsmasq as the DNS server the
# discovery tests publish records from, and dig to ask meshd's DNS.
TOOL_PKGS+=(aria2 golang-go php-cli php-curl dnsmasq-base bind9-dnsutils)
# Benchmark (--bench): load generators and the HAProxy baseline. nginx, the
# server the benchmark drives, is already in every group below.
BENCH_PKGS=(wrk iperf3 haproxy)
if [[ $bench -eq 1 ]]; then
	TOOL_PKGS+=("${BENCH_PKGS[@]}")
fi
# Either nginx flavour will do; nginx-light is preferred when the release
# still has it.
NGINX_ALTS=(nginx-light nginx)

say() { printf 'deps: %s\n' "$*"; }
die() {
	printf 'deps: error: %s\n' "$*" >&2
	exit 1
}

installed() { # PKG -> 0 when dpkg says it is installed
	local status
	status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
	[[ $status == *" ok installed" ]]
}

command -v dpkg-query >/dev/null 2>&1 ||
	die "dpkg-query not found: this script expects a Debian-based system; install by hand: ${BUILD_PKGS[*]} ${TOOL_PKGS[*]} nginx"

missing=()
for p in "${BUILD_PKGS[@]}" "${TOOL_PKGS[@]}"; do
	# (A package may be listed twice: wrk is a test and a bench tool.)
	[[ " ${missing[*]} " == *" $p "* ]] && continue
	installed "$p" || missing+=("$p")
done
nginx_ok=0
for p in "${NGINX_ALTS[@]}"; do
	if installed "$p"; then
		nginx_ok=1
		break
	fi
done

if [[ ${#missing[@]} -eq 0 && $nginx_ok -eq 1 ]]; then
	say "all present"
	exit 0
fi

# Privileges: root as is, otherwise sudo without a password prompt.
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo -n)
	else
		die "packages are missing and this is not root: run as root or install sudo"
	fi
fi

run_apt() {
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"
}

what="${missing[*]}"
[[ $nginx_ok -eq 1 ]] || what="$what nginx"
say "missing:${what# }; updating the package lists"
log=$(mktemp)
if ! run_apt -q update >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	die "apt-get update failed"
fi
rm -f "$log"

if [[ $nginx_ok -eq 0 ]]; then
	# Pick the first flavour this release has a candidate for.
	pick=
	for p in "${NGINX_ALTS[@]}"; do
		cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
		if [[ -n $cand && $cand != "(none)" ]]; then
			pick=$p
			break
		fi
	done
	[[ -n $pick ]] || die "no installable nginx package (tried: ${NGINX_ALTS[*]})"
	missing+=("$pick")
fi

say "installing ${missing[*]}"
if ! run_apt install -y -q --no-install-recommends "${missing[@]}"; then
	die "apt-get install failed for: ${missing[*]}"
fi

# Check the result rather than trusting apt's exit code alone.
still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
[[ ${#still[@]} -eq 0 ]] || die "still not installed after apt-get: ${still[*]}"

# The tests call these by name; a package split in a later Debian release
# would show up here first.
cmds=(setpriv runuser curl jq nc socat openssl python3 busybox
	wget telnet psql redis-server redis-cli node git wrk man groff systemd-analyze strace logrotate)
[[ $bench -eq 0 ]] || cmds+=(wrk iperf3 haproxy)
for c in "${cmds[@]}"; do
	command -v "$c" >/dev/null 2>&1 || [[ -x /bin/$c || -x /usr/sbin/$c || -x /sbin/$c ]] ||
		die "command '$c' still missing after installing packages"
done
say "installed ${missing[*]}"
