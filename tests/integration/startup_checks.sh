#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2154,SC2317  # helpers run via check
# startup_checks: what start-up needs, `meshd -t` checks first, and
# start-up refuses with the same words (issue 11). One case per check,
# each with its exact message and exit status, from -t and from a start:
#   - the snapshot directory: the default /run/libmesh (a tmpfs of a
#     private mount namespace) is said to be missing and created at start,
#     0755 under umask 077; one that cannot be created (read-only) fails
#   - a private key its group (0640) or others (0644) can read: refused,
#     a reload onto one too
#   - certificates (identity and CA) expired or not yet valid: refused, a
#     reload onto one too; ending within 7 days: warned; an expired CA
#     beside a valid one in the CA file (left from a rotation): warned
#   - a vip_range no interface holds (a namespace whose loopback has only
#     127.0.0.1/32): an error naming the range
#   - the mesh port held by another program: fatal on a serving host (B),
#     a warning on a calling one (A); -t passes while B's own meshd holds it
#   - the admin address held by another program: -t fails
#   - a service with neither endpoints nor upstream: warned
#   - meshd -V / --version
# Before (meshd of main): -t said "test is successful" to each, and
# meshd started (or failed later: no /run/libmesh, "cannot open ...lock").
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root (mount and network namespaces)"
make_certs "$TD" client hello
write_confs
_need_binaries

meshd_t() { # CONF: meshd -t; status in ST, stderr+stdout in OUT
	ST=0
	OUT=$(ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} timeout 20 "${PREFIX[@]}" "$MESHD" -t -c "$1" 2>&1) || ST=$?
}
# run_meshd CONF: start meshd, expecting it to refuse within 10 s.
run_meshd() {
	ST=0
	OUT=$(ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} timeout 10 "${PREFIX[@]}" "$MESHD" -c "$1" 2>&1) || ST=$?
}
PREFIX=()
# variant NAME BASE SED_EXPR: $T/NAME.ini, a copy of $T/BASE.ini edited
variant() { sed -e "$3" "$T/$2.ini" >"$T/$1.ini"; }
# has DESC TEXT: OUT holds the line TEXT exactly
has() {
	if grep -qxF -- "$2" <<<"$OUT"; then
		ok "$1"
	else
		not_ok "$1"
		note "  want: $2"
		sed 's/^/#   got: /' <<<"$OUT"
	fi
}
# has_log DESC TEXT: OUT has a log line ending in TEXT ("... meshd[N] LEVEL: TEXT")
has_log() {
	local line
	while IFS= read -r line; do
		if [[ $line == *" meshd["*"] $2" ]]; then
			ok "$1"
			return 0
		fi
	done <<<"$OUT"
	not_ok "$1"
	note "  want: ... $2"
	sed 's/^/#   got: /' <<<"$OUT"
}
# refused NAME CONF LINE: -t exits 1 with "meshd: LINE" and the failure
# line; start-up exits 1 with "error: LINE".
refused() {
	meshd_t "$2"
	check_eq "$1: meshd -t exits 1" 1 "$ST"
	has "$1: meshd -t says so" "meshd: $3"
	has "$1: meshd -t fails" "meshd: configuration file $2 test failed"
	run_meshd "$2"
	check_eq "$1: start-up exits 1" 1 "$ST"
	has_log "$1: start-up says so" "error: $3"
}
# warned NAME CONF LINE: -t exits 0 with "meshd: LINE"; meshd starts and
# logs "warn: LINE".
warned() {
	meshd_t "$2"
	check_eq "$1: meshd -t exits 0" 0 "$ST"
	has "$1: meshd -t warns" "meshd: $3"
	start_meshd w "$2"
	OUT=$(cat "$T/w.err")
	has_log "$1: start-up warns" "warn: $3"
	stop_meshd w || true
}

meshd_t "$T/a.ini"
check_eq "the standard A passes -t" 0 "$ST"
check_eq "with nothing to say" "meshd: configuration file $T/a.ini test is successful" "$OUT"

# ---- meshd -V
OUT=$("$MESHD" -V 2>&1) && ST=0 || ST=$?
check_eq "meshd -V exits 0" 0 "$ST"
check_eq "meshd -V: the version first" "meshd 0.11.0" "$(head -n 1 <<<"$OUT")"
check "meshd -V: then OpenSSL's" grep -qE '^OpenSSL [0-9]+\.[0-9]+' <<<"$(sed -n 2p <<<"$OUT")"
check_eq "meshd --version says the same" "$OUT" "$("$MESHD" --version 2>&1)"

# ---- the snapshot directory: the default /run/libmesh, in a mount
# namespace of its own whose /run is an empty tmpfs (nothing of the real
# /run is touched)
cat >"$T/in-mnt" <<'EOF'
#!/bin/sh
# in-mnt CMD...: CMD in a private mount namespace with an empty /run, umask 077
exec unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run && umask 077 && exec "$@"' in-mnt "$@"
EOF
chmod +x "$T/in-mnt"
variant default a "/^snapshot = /d"
PREFIX=("$T/in-mnt")
meshd_t "$T/default.ini"
check_eq "default snapshot, /run/libmesh missing: -t exits 0" 0 "$ST"
has "and says meshd will create it" \
	"meshd: note: route snapshot directory /run/libmesh does not exist; meshd will create it (mode 0755)"
PREFIX=()
# Start it there and look at what it made from inside (nsenter), then stop it.
spawn defmesh "$T/default.err" "$T/in-mnt" "$MESHD" -c "$T/default.ini"
defpid=$LAST_PID
made=""
for _ in $(seq 100); do
	made=$(nsenter -t "$defpid" -m stat -c '%a %U %F' /run/libmesh /run/libmesh/routes 2>/dev/null | tr '\n' ' ') || true
	[[ $made == *"regular file"* ]] && break
	sleep 0.1
done
check_eq "meshd made /run/libmesh 0755 (under umask 077), root's, and published there" \
	"755 root directory 644 root regular file " "$made"
OUT=$(cat "$T/default.err")
has_log "and said so" "info: created route snapshot directory /run/libmesh (mode 0755)"
kill -TERM "$defpid" 2>/dev/null || true
wait_gone "$defpid" 10 || note "default meshd did not stop"
cat >"$T/in-ro" <<'EOF'
#!/bin/sh
# in-ro CMD...: CMD in a private mount namespace where /run is read-only
exec unshare -m --propagation private sh -c 'mount -t tmpfs -o ro,mode=0755 tmpfs /run && exec "$@"' in-ro "$@"
EOF
chmod +x "$T/in-ro"
PREFIX=("$T/in-ro")
meshd_t "$T/default.ini"
check_eq "/run read-only: -t exits 1" 1 "$ST"
has "and says it cannot be created" \
	"meshd: route snapshot directory /run/libmesh does not exist and cannot be created (/run: Read-only file system)"
run_meshd "$T/default.ini"
check_eq "/run read-only: start-up exits 1" 1 "$ST"
has_log "and says why" "error: refusing to start: cannot create route snapshot directory /run/libmesh: Read-only file system"
PREFIX=()

# ---- private keys its group or others can read
chmod 640 "$T/certs/client.key"
refused "key 0640" "$T/a.ini" \
	"unsafe: private key $T/certs/client.key: file $T/certs/client.key is readable by its group (mode 0640): its members could present this identity (chmod 600)"
chmod 644 "$T/certs/client.key"
refused "key 0644" "$T/a.ini" \
	"unsafe: private key $T/certs/client.key: file $T/certs/client.key is readable by others (mode 0644): any local user could present this identity (chmod 600)"
chmod 600 "$T/certs/client.key"
start_meshd a "$T/a.ini"
chmod 640 "$T/certs/client.key"
signal_meshd a HUP
check "a reload onto a group-readable key is rejected" wait_grep "$T/a.err" "reload rejected" 5
check "and says why" grep -qF "error:   unsafe: private key $T/certs/client.key: file $T/certs/client.key is readable by its group (mode 0640)" "$T/a.err"
chmod 600 "$T/certs/client.key"
stop_meshd a || true

# ---- certificate dates: client's key, re-signed by the CA with chosen dates
mkdir -p "$T/ca"
: >"$T/ca/index.txt"
echo 1000 >"$T/ca/serial"
cat >"$T/ca/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
database = $T/ca/index.txt
new_certs_dir = $T/ca
serial = $T/ca/serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = client
[id]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = URI:spiffe://$TD/svc/client
[v3ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
EOF
openssl req -new -config "$T/ca/ca.cnf" -key "$T/certs/client.key" -out "$T/ca/client.csr" 2>/dev/null ||
	die "openssl req failed"
# sign OUT START END: client.pem valid from START to END (YYYYMMDDHHMMSSZ)
sign() {
	openssl ca -batch -notext -config "$T/ca/ca.cnf" -cert "$T/certs/ca.pem" -keyfile "$T/certs/ca.key" \
		-extensions id -startdate "$2" -enddate "$3" -in "$T/ca/client.csr" -out "$1" 2>/dev/null ||
		die "openssl ca failed for $1"
}
utc() { date -u -d "@$1" '+%Y-%m-%d %H:%M:%S UTC'; }
stamp() { date -u -d "@$1" '+%Y%m%d%H%M%SZ'; }
now=$(date +%s)
sign "$T/expired.pem" 20200101000000Z 20210101000000Z
sign "$T/future.pem" 20990101000000Z 21000101000000Z
soon=$((now + 3 * 86400))
sign "$T/soon.pem" "$(stamp $((now - 86400)))" "$(stamp "$soon")"
variant expired a "s|^cert = .*/client.pem|cert = $T/expired.pem|"
variant future a "s|^cert = .*/client.pem|cert = $T/future.pem|"
variant soon a "s|^cert = .*/client.pem|cert = $T/soon.pem|"
refused "expired certificate" "$T/expired.ini" \
	"certificate of identity client $T/expired.pem has expired (not after 2021-01-01 00:00:00 UTC): peers refuse it"
refused "certificate not valid yet" "$T/future.ini" \
	"certificate of identity client $T/future.pem is not valid yet (not before 2099-01-01 00:00:00 UTC): peers refuse it"
warned "certificate ending in 3 days" "$T/soon.ini" \
	"warning: certificate of identity client $T/soon.pem expires in 3.0 days (not after $(utc "$soon"))"
# An expired CA certificate beside the good one in the CA file.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ca/old.key" 2>/dev/null
openssl req -new -subj "/CN=old CA" -key "$T/ca/old.key" -out "$T/ca/old.csr" 2>/dev/null
openssl ca -batch -notext -selfsign -config "$T/ca/ca.cnf" -keyfile "$T/ca/old.key" -extensions v3ca \
	-startdate 20190101000000Z -enddate 20200101000000Z -in "$T/ca/old.csr" -out "$T/ca/old.pem" 2>/dev/null ||
	die "openssl ca -selfsign failed"
cat "$T/certs/ca.pem" "$T/ca/old.pem" >"$T/bundle.pem"
variant oldca a "s|^ca = .*|ca = $T/bundle.pem|"
# ... is left from a rotation: OpenSSL never uses it, the good one verifies.
warned "expired CA certificate beside a valid one" "$T/oldca.ini" \
	"warning: CA certificate 'old CA' in $T/bundle.pem has expired (not after 2020-01-01 00:00:00 UTC): it verifies nothing; the other CA certificates of the file do"
# A CA file whose every certificate is out of its dates verifies nothing.
cat "$T/ca/old.pem" "$T/ca/old.pem" >"$T/oldonly.pem"
variant oldonly a "s|^ca = .*|ca = $T/oldonly.pem|"
refused "a CA file with only an expired CA certificate" "$T/oldonly.ini" \
	"CA certificate 'old CA' in $T/oldonly.pem has expired (not after 2020-01-01 00:00:00 UTC): no peer certificate verifies against it"
# A reload onto the expired certificate is rejected; the running one stays.
start_meshd a "$T/a.ini"
cp "$T/a.ini" "$T/a.good"
cp "$T/expired.ini" "$T/a.ini"
signal_meshd a HUP
check "a reload onto an expired certificate is rejected" wait_grep "$T/a.err" "reload rejected" 5
check "and says why" grep -qF "error:   certificate of identity client $T/expired.pem has expired" "$T/a.err"
check "meshd A still runs" meshd_alive a
cp "$T/a.good" "$T/a.ini"
stop_meshd a || true

# ---- a vip_range no interface holds: a network namespace whose loopback
# has 127.0.0.1/32 only (no 127.0.0.0/8 route to lo)
NS=lmsc$$
on_exit "ip netns del $NS 2>/dev/null"
ip netns add "$NS" || die "cannot create a network namespace"
ip -n "$NS" link set lo up
ip -n "$NS" addr del 127.0.0.1/8 dev lo
ip -n "$NS" addr add 127.0.0.1/32 dev lo
PREFIX=(ip netns exec "$NS")
refused "vip_range not bindable" "$T/a.ini" \
	"vip_range 127.77.0.0/16: cannot bind 127.77.0.1: Cannot assign requested address: no interface holds the range (the loopback interface must be up, with 127.0.0.0/8), so no VIP could be listened on"
PREFIX=()

# ---- the mesh port held by another program
hold() { # HOST PORT: a python listener there; its pid in HOLDER
	spawn holder "$T/holder.out" "$PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
time.sleep(600)' "$1" "$2"
	HOLDER=$LAST_PID
	wait_port "$1" "$2" 10 || die "the holder did not listen on $1:$2"
}
hold 127.0.0.2 "$MESHPORT"
refused "mesh port taken, serving host B" "$T/b.ini" \
	"mesh port 127.0.0.2:$MESHPORT: cannot bind: Address already in use, held by pid $HOLDER (python3, uid 0): this host serves, and peers could not reach it"
has_log "B: start-up says it refuses" "error: refusing to start: the mesh port cannot be bound"
kill_proc "$HOLDER"
hold 127.0.0.1 "$MESHPORT"
warned "mesh port taken, calling host A" "$T/a.ini" \
	"warning: mesh port 127.0.0.1:$MESHPORT: cannot bind: Address already in use, held by pid $HOLDER (python3, uid 0) (this host serves no service, so no peer needs it)"
kill_proc "$HOLDER"
start_meshd b "$T/b.ini"
meshd_t "$T/b.ini"
check_eq "B's own meshd holds its mesh port: -t still passes" 0 "$ST"
check_eq "and has nothing to say" "meshd: configuration file $T/b.ini test is successful" "$OUT"
stop_meshd b || true

# ---- the admin address held by another program
ADMINPORT=$((MESHPORT + 7))
hold 127.0.0.1 "$ADMINPORT"
variant admin a "s|^admin = off|admin = 127.0.0.1:$ADMINPORT|"
meshd_t "$T/admin.ini"
check_eq "admin address taken: -t exits 1" 1 "$ST"
has "and says by whom" \
	"meshd: admin 127.0.0.1:$ADMINPORT: cannot bind: Address already in use, held by pid $HOLDER (python3, uid 0)"
kill_proc "$HOLDER"
meshd_t "$T/admin.ini"
check_eq "admin address free: -t exits 0" 0 "$ST"

# ---- a service with neither endpoints nor upstream
variant idle a "\$a [service.idle]\nports = $PORT"
warned "service idle" "$T/idle.ini" \
	"warning: service idle has neither endpoints nor an upstream: every connection to it fails"

summary
