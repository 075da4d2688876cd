#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2016  # setup_hello takes optional arguments; $ORIGIN and the sh -c script are literal
# dlopen under the shim: a program whose RUNPATH is $ORIGIN/lib loads
# "libplug.so" by bare name, with and without RTLD_DEEPBIND (and with
# dlmopen into a new namespace), and it is found each time: the shim's
# dlopen hook is a tail call, so glibc still sees the program as the
# caller and searches its RUNPATH (shim/dlhooks.c). The plugin tells which
# object its getaddrinfo is bound to (dladdr, no lookup): libmesh.so with
# and without RTLD_DEEPBIND (the hook drops it), libc with MESH_DEEPBIND=keep
# and in a new namespace (where the preload is not). Loaded with
# RTLD_DEEPBIND, the plugin's own getaddrinfo + connect reach the service
# by name, with both hosts' records. MESH_DEBUG=1 prints each decision.
. "$(dirname "$0")/lib.sh"
need cc readelf
setup_hello

# no_dns CMD...: CMD in a private mount namespace whose /etc/resolv.conf
# names 127.0.0.1, where nothing answers: a name that reaches libc instead
# of the shim (the failure this scenario looks for) fails at once, and is
# never asked of the host's resolvers.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
no_dns() {
	unshare -m --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv.conf" "$@"
}

D=$T/rp
mkdir -p "$D/lib"
cat >"$D/plug.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>

/* The object this library's getaddrinfo reference is bound to. */
const char *plug_resolver(void)
{
	Dl_info i;
	void *p = (void *)&getaddrinfo;
	if (!dladdr(p, &i) || !i.dli_fname)
		return "?";
	const char *b = strrchr(i.dli_fname, '/');
	return b ? b + 1 : i.dli_fname;
}

/* GET / from host:port over HTTP/1.0; the body's last line into out. */
int plug_get(const char *host, const char *port, char *out, size_t cap)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(out, cap, "getaddrinfo: %s", gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (fd == -1 || connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		snprintf(out, cap, "connect failed");
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	char req[256], buf[8192];
	int n = snprintf(req, sizeof req, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
	if (write(fd, req, (size_t)n) != n)
		return -1;
	size_t len = 0;
	ssize_t r;
	while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	char *last = strrchr(buf, '\n');
	snprintf(out, cap, "%s", last ? last + 1 : buf);
	return 0;
}
C
cat >"$D/app.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* app plain|deep|newns [HOST PORT] */
int main(int argc, char **argv)
{
	void *h;
	if (strcmp(argv[1], "newns") == 0)
		h = dlmopen(LM_ID_NEWLM, "libplug.so", RTLD_NOW);
	else
		h = dlopen("libplug.so", RTLD_NOW | (strcmp(argv[1], "deep") == 0 ? RTLD_DEEPBIND : 0));
	if (!h) {
		printf("dlopen failed: %s\n", dlerror());
		return 2;
	}
	const char *(*which)(void) = (const char *(*)(void))dlsym(h, "plug_resolver");
	printf("getaddrinfo from %s\n", which());
	if (argc > 3) {
		int (*get)(const char *, const char *, char *, size_t) =
			(int (*)(const char *, const char *, char *, size_t))dlsym(h, "plug_get");
		char body[512];
		int rc = get(argv[2], argv[3], body, sizeof body);
		printf("get %d %s\n", rc, body);
		return rc == 0 ? 0 : 3;
	}
	return 0;
}
C
out=$(cc -O2 -shared -fPIC -o "$D/lib/libplug.so" "$D/plug.c" 2>&1 &&
	cc -O2 -o "$D/app" "$D/app.c" -Wl,--enable-new-dtags -Wl,-rpath,'$ORIGIN/lib' 2>&1) ||
	die "cc failed: $out"
check "the program's RUNPATH is \$ORIGIN/lib" grep -q 'RUNPATH.*\[\$ORIGIN/lib\]' <<<"$(readelf -d "$D/app")"

# Without the shim: the harness itself works.
for m in plain deep; do
	check_eq "no shim, $m: libplug.so found by RUNPATH, bound to libc" \
		"getaddrinfo from libc.so.6" "$("$D/app" $m 2>&1)"
done

# Under the shim.
check_eq "shim, plain dlopen: found by RUNPATH, bound to the shim" \
	"getaddrinfo from libmesh.so" "$(mesh_run "$D/app" plain 2>&1)"
st=0
out=$(no_dns env MESH_DEBUG=1 "LIBMESH_SO=$LIBMESH" "MESH_SNAPSHOT=$T/a.routes" "$MESH_RUN" timeout 20 "$D/app" deep hello "$PORT" 2>"$T/deep.err") || st=$?
check_eq "shim, RTLD_DEEPBIND: found by RUNPATH, bound to the shim, reaches hello by name" \
	"getaddrinfo from libmesh.so
get 0 $TOKEN" "$out"
contains "MESH_DEBUG says RTLD_DEEPBIND was dropped" \
	"libmesh: dlopen libplug.so: RTLD_DEEPBIND dropped" "$(cat "$T/deep.err")"
CONN_PROGRAM=app client_conns "$st" "the RTLD_DEEPBIND plugin" 1 web

st=0
out=$(MESH_DEBUG=1 MESH_DEEPBIND=keep mesh_run "$D/app" deep 2>"$T/keep.err") || st=$?
check_eq "MESH_DEEPBIND=keep: found by RUNPATH, bound to libc as asked" \
	"getaddrinfo from libc.so.6" "$out"
contains "MESH_DEBUG says RTLD_DEEPBIND was kept" \
	"libmesh: dlopen libplug.so: RTLD_DEEPBIND kept (MESH_DEEPBIND=keep)" "$(cat "$T/keep.err")"

out=$(MESH_DEBUG=1 mesh_run "$D/app" newns 2>"$T/newns.err") || true
check_eq "dlmopen(LM_ID_NEWLM): found by RUNPATH, bound to that namespace's libc" \
	"getaddrinfo from libc.so.6" "$out"
contains "MESH_DEBUG says the new namespace has no shim" \
	"libmesh: dlmopen libplug.so: into a namespace other than the base one" "$(cat "$T/newns.err")"

summary
