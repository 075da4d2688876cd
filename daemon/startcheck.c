/*
 * What start-up needs, checked before it is needed (see startcheck.h).
 * Each of these once let meshd pass `-t` and then fail, or start and serve
 * nothing: a snapshot directory that did not exist, an expired
 * certificate (peers refuse every link), a vip_range no interface holds (no
 * VIP can be listened on), a mesh port someone else holds (a serving host
 * that peers cannot reach).
 *
 * The binds are probes: a socket bound and closed at once, without
 * SO_REUSEPORT, so a listener already there (even a meshd's, which shares
 * its port between workers with SO_REUSEPORT) makes it fail. For -t, one
 * held by the meshd already running on this config is fine: -t checks a
 * file before a reload too.
 */
#include "startcheck.h"
#include "pathsafe.h"
#include "peercred.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400.0

enum startcheck_validity startcheck_validity(double now, double not_before, double not_after)
{
	if (now < not_before)
		return STARTCHECK_NOT_YET_VALID;
	if (now > not_after)
		return STARTCHECK_EXPIRED;
	if (not_after - now < STARTCHECK_SOON_DAYS * DAY)
		return STARTCHECK_EXPIRES_SOON;
	return STARTCHECK_VALID;
}

void startcheck_add(char **buf, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	size_t old = *buf ? strlen(*buf) : 0, n = strlen(line);
	if (*buf) {
		for (const char *p = *buf; (p = strstr(p, line)) != NULL; p++)
			if ((p == *buf || p[-1] == '\n') && p[n] == '\n')
				return;
	}
	char *nb = realloc(*buf, old + n + 2);
	if (!nb)
		return;
	memcpy(nb + old, line, n);
	nb[old + n] = '\n';
	nb[old + n + 1] = '\0';
	*buf = nb;
}

/* ---- certificates ------------------------------------------------------ */

struct cert_walk {
	const char *path;
	const char *identity; /* NULL: the CA file */
	double now;
	char **errs, **warns;
	/* The CA file: a bundle may keep an expired CA from a rotation, which
	 * OpenSSL just never uses; only a bundle with no CA in its dates
	 * verifies nothing. */
	unsigned ca_usable;
	char *ca_unusable; /* lines, said once the whole file is read */
};

static const char *utc(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "%.0f", t);
	return buf;
}

/* "certificate of identity web /etc/libmesh/web.pem", "CA certificate
 * 'libmesh CA td' in /etc/libmesh/ca.pem"; a chain certificate after an
 * identity's own is named by its place and subject. */
static void cert_name(const struct cert_walk *w, unsigned i, const char *subject, char *buf,
                      size_t len)
{
	if (!w->identity)
		snprintf(buf, len, "CA certificate '%s' in %s", subject, w->path);
	else if (i == 0)
		snprintf(buf, len, "certificate of identity %s %s", w->identity, w->path);
	else
		snprintf(buf, len, "certificate %u ('%s') of identity %s in %s", i + 1, subject,
		         w->identity, w->path);
}

static void cert_seen(void *arg, unsigned i, const char *subject, double nb, double na)
{
	struct cert_walk *w = arg;
	char name[1200], t[64];
	const char *why = w->identity ? "peers refuse it"
	                              : "no peer certificate verifies against it";
	cert_name(w, i, subject, name, sizeof name);
	enum startcheck_validity v = startcheck_validity(w->now, nb, na);
	if (!w->identity && (v == STARTCHECK_EXPIRED || v == STARTCHECK_NOT_YET_VALID)) {
		if (v == STARTCHECK_EXPIRED)
			startcheck_add(&w->ca_unusable, "%s has expired (not after %s)", name,
			               utc(na, t, sizeof t));
		else
			startcheck_add(&w->ca_unusable, "%s is not valid yet (not before %s)", name,
			               utc(nb, t, sizeof t));
		return;
	}
	w->ca_usable += !w->identity;
	switch (v) {
	case STARTCHECK_VALID:
		break;
	case STARTCHECK_EXPIRES_SOON:
		startcheck_add(w->warns, "warning: %s expires in %.1f days (not after %s)", name,
		               (na - w->now) / DAY, utc(na, t, sizeof t));
		break;
	case STARTCHECK_EXPIRED:
		startcheck_add(w->errs, "%s has expired (not after %s): %s", name,
		               utc(na, t, sizeof t), why);
		break;
	case STARTCHECK_NOT_YET_VALID:
		startcheck_add(w->errs, "%s is not valid yet (not before %s): %s", name,
		               utc(nb, t, sizeof t), why);
		break;
	}
}

static void check_pem(struct cert_walk *w)
{
	char err[600];
	if (tls_pem_each_cert(w->path, cert_seen, w, err, sizeof err) == -1)
		startcheck_add(w->errs, "%s", err);
}

/* The CA file's certificates out of their dates: errors when none is in
 * them, else warnings. */
static void ca_verdict(struct cert_walk *w)
{
	char *save = NULL;
	if (!w->ca_unusable)
		return;
	for (char *line = strtok_r(w->ca_unusable, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (w->ca_usable)
			startcheck_add(
				w->warns,
				"warning: %s: it verifies nothing; the other CA certificates "
				"of the file do",
				line);
		else
			startcheck_add(w->errs, "%s: no peer certificate verifies against it",
			               line);
	}
	free(w->ca_unusable);
	w->ca_unusable = NULL;
}

void startcheck_certs(const struct config *c, double now, char **errs, char **warns)
{
	struct cert_walk w = { .path = c->ca, .now = now, .errs = errs, .warns = warns };
	if (c->ca) {
		check_pem(&w);
		ca_verdict(&w);
	}
	for (unsigned i = 0; i < c->nidentities; i++) {
		const struct cfg_identity *id = &c->identities[i];
		if (!id->cert)
			continue;
		w.path = id->cert;
		w.identity = id->name;
		check_pem(&w);
	}
}

/* ---- services ----------------------------------------------------------- */

void startcheck_services(const struct config *c, char **warns)
{
	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		if (!s->nendpoints && !s->ndns && !s->nupstreams)
			startcheck_add(warns,
			               "warning: service %s has neither endpoints nor an upstream: "
			               "every connection to it fails",
			               s->name);
	}
}

bool startcheck_serving(const struct config *c)
{
	for (unsigned i = 0; i < c->nservices; i++)
		if (c->services[i].nupstreams)
			return true;
	return false;
}

/* ---- binds -------------------------------------------------------------- */

/* Bind a fresh socket to a and close it: 0, or -1 with errno. */
static int probe_bind(const struct sockaddr *a, socklen_t alen)
{
	int fd = socket(a->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	int one = 1;
	/* Not SO_REUSEPORT: that would share a port with a listener. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (a->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	int rc = bind(fd, a, alen);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

void startcheck_vip_range(const struct config *c, char **errs)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char net[INET_ADDRSTRLEN], probe[INET_ADDRSTRLEN];
	sin.sin_addr.s_addr = htonl(ntohl(c->vip_net.s_addr) + 1);
	if (probe_bind((const struct sockaddr *)&sin, sizeof sin) == 0)
		return;
	int e = errno;
	inet_ntop(AF_INET, &c->vip_net, net, sizeof net);
	inet_ntop(AF_INET, &sin.sin_addr, probe, sizeof probe);
	startcheck_add(errs,
	               "vip_range %s/%u: cannot bind %s: %s: %s, so no VIP could be listened on",
	               net, c->vip_prefix, probe, strerror(e),
	               e == EADDRNOTAVAIL ? "no interface holds the range (the loopback "
	                                    "interface must be up, with 127.0.0.0/8)"
	                                  : "meshd cannot use the range");
}

/* Who holds the listener on a (IPv4 only): ", held by pid N (comm, uid
 * U)", or "" when it cannot be told; *pid 0 when unknown. */
static void holder(const struct cfg_addr *a, pid_t *pid, char *buf, size_t len)
{
	struct listener_owner o;
	char err[128], comm[64] = "?", p[64];
	*pid = 0;
	buf[0] = '\0';
	if (a->ss.ss_family != AF_INET)
		return;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
	uint32_t ip = sin->sin_addr.s_addr == htonl(INADDR_ANY) ? htonl(INADDR_LOOPBACK)
	                                                        : sin->sin_addr.s_addr;
	if (peercred_listener_owner(ip, ntohs(sin->sin_port), &o, err, sizeof err) != 1)
		return;
	if (!o.pid) {
		snprintf(buf, len, ", held by uid %u", (unsigned)o.uid);
		return;
	}
	*pid = o.pid;
	snprintf(p, sizeof p, "/proc/%d/comm", (int)o.pid);
	FILE *f = fopen(p, "re");
	if (f) {
		if (fgets(comm, sizeof comm, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(buf, len, ", held by pid %d (%s, uid %u)", (int)o.pid, comm, (unsigned)o.uid);
}

/* 0 bound (or held by `ours`), -1 with a reason in why. */
static int try_bind(const struct cfg_addr *a, pid_t ours, char *why, size_t len)
{
	if (probe_bind((const struct sockaddr *)&a->ss, a->len) == 0)
		return 0;
	int e = errno;
	char who[160] = "";
	pid_t pid = 0;
	if (e == EADDRINUSE)
		holder(a, &pid, who, sizeof who);
	if (ours && pid == ours)
		return 0;
	snprintf(why, len, "cannot bind: %s%s", strerror(e), who);
	return -1;
}

/* The dns address, TCP and UDP: another DNS server (dnsmasq, a stub
 * resolver) may hold either. The UDP port of a running meshd (its TCP
 * port is ours) is taken to be ours too. */
static void check_dns(const struct config *c, pid_t ours, char **errs)
{
	char why[256], as[64];
	net_addr_str(&c->dns, as, sizeof as);
	bool free_tcp = probe_bind((const struct sockaddr *)&c->dns.ss, c->dns.len) == 0;
	if (!free_tcp && try_bind(&c->dns, ours, why, sizeof why) == -1) {
		startcheck_add(errs, "dns %s (TCP): %s", as, why);
		return;
	}
	if (!free_tcp)
		return;
	int fd = socket(c->dns.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (const struct sockaddr *)&c->dns.ss, c->dns.len) == -1)
		startcheck_add(errs, "dns %s (UDP): cannot bind: %s", as, strerror(errno));
	if (fd != -1)
		close(fd);
}

void startcheck_binds(const struct config *c, bool admin, pid_t ours, char **errs, char **warns)
{
	char why[256], as[64];
	if (c->inbound_on && try_bind(&c->inbound, ours, why, sizeof why) == -1) {
		net_addr_str(&c->inbound, as, sizeof as);
		if (startcheck_serving(c))
			startcheck_add(errs,
			               "mesh port %s: %s: this host serves, and peers could not "
			               "reach it",
			               as, why);
		else
			startcheck_add(warns,
			               "warning: mesh port %s: %s (this host serves no service, so "
			               "no peer needs it)",
			               as, why);
	}
	if (admin && c->admin_on && try_bind(&c->admin, ours, why, sizeof why) == -1)
		startcheck_add(errs, "admin %s: %s", net_addr_str(&c->admin, as, sizeof as), why);
	if (admin && c->dns_on)
		check_dns(c, ours, errs);
}

/* ---- directories ------------------------------------------------------- */

/* The directory part of path into buf ("." when it has none). */
static const char *dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return buf;
}

/* The snapshot's and the control socket's directories (one when they are
 * the same): n of them into d. */
static unsigned dirs(const struct config *c, char d[2][PATH_MAX], const char *what[2])
{
	unsigned n = 0;
	dir_of(c->snapshot, d[n], PATH_MAX);
	what[n++] = "route snapshot";
	dir_of(c->control, d[n], PATH_MAX);
	what[n] = "control socket";
	if (strcmp(d[0], d[1]) != 0)
		n++;
	return n;
}

void startcheck_dirs(const struct config *c, char **errs, char **notes)
{
	char d[2][PATH_MAX], up[PATH_MAX];
	const char *what[2];
	unsigned n = dirs(c, d, what);
	for (unsigned i = 0; i < n; i++) {
		struct stat st;
		if (stat(d[i], &st) == 0 || errno != ENOENT)
			continue; /* there, or pathsafe's to report */
		/* The nearest directory that exists is where meshd makes the
		 * first one. */
		strcpy(up, d[i]); /* both PATH_MAX */
		int rc;
		while ((rc = stat(up, &st)) == -1 && errno == ENOENT && strcmp(up, "/") != 0 &&
		       strcmp(up, ".") != 0) {
			char tmp[PATH_MAX];
			snprintf(tmp, sizeof tmp, "%s", up);
			dir_of(tmp, up, sizeof up);
		}
		if (rc == -1 || !S_ISDIR(st.st_mode))
			continue; /* pathsafe says "is not a directory" */
		if (access(up, W_OK | X_OK) == -1)
			startcheck_add(
				errs,
				"%s directory %s does not exist and cannot be created (%s: %s)",
				what[i], d[i], up, strerror(errno));
		else
			startcheck_add(notes,
			               "note: %s directory %s does not exist; meshd will create it "
			               "(mode 0755)",
			               what[i], d[i]);
	}
}

int startcheck_make_dirs(const struct config *c, char **made, char *err, size_t len)
{
	char d[2][PATH_MAX];
	const char *what[2];
	unsigned n = dirs(c, d, what);
	for (unsigned i = 0; i < n; i++) {
		char *p = d[i];
		size_t plen = strlen(p);
		/* Each prefix ending at a '/' and the whole: "/run", "/run/libmesh". */
		for (size_t k = 1; k <= plen; k++) {
			if (k < plen && p[k] != '/')
				continue;
			char save = p[k];
			p[k] = '\0';
			struct stat st;
			int rc = 0;
			if (stat(p, &st) == -1) {
				rc = errno == ENOENT ? mkdir(p, 0755) : -1;
				if (rc == -1 && errno == EEXIST)
					rc = 0; /* made meanwhile: not ours to chmod */
				/* chmod: the umask must not take others' read and
				 * search (their programs read the snapshot). */
				else if (rc == 0 && (rc = chmod(p, 0755)) == 0)
					startcheck_add(made, "created %s directory %s (mode 0755)",
					               what[i], p);
			} else if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				rc = -1;
			}
			if (rc == -1) {
				snprintf(err, len, "cannot create %s directory %s: %s", what[i], p,
				         strerror(errno));
				p[k] = save;
				return -1;
			}
			p[k] = save;
		}
	}
	/* What exists now may not be what was checked before: a directory
	 * someone else made between that check and mkdir (EEXIST) is
	 * theirs. Judge the directories again as they are. */
	const char *paths[2] = { c->snapshot, c->control };
	for (unsigned i = 0; i < 2; i++) {
		char why[1024];
		if (pathsafe_check_dir_of(paths[i], why, sizeof why) == PATHSAFE_UNSAFE) {
			snprintf(err, len, "unsafe: %s %s: %s", what[i], paths[i], why);
			return -1;
		}
	}
	return 0;
}
