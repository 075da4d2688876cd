/*
 * Publishes the route snapshot for libmesh.so: encode (shim/snapshot.c),
 * write to a temporary file beside the target, fsync-free rename. Readers
 * only ever see a whole old file or a whole new one. Also keeps the VIPs it
 * handed out in a file of their own, so they stay with their services across
 * restarts (every configured service's, published or not).
 */
#include "snapshot_pub.h"
#include "config.h"
#include "snapshot.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_vips(const struct config *c);

/*
 * The longest meshd can take to give its verdict on a connection to s:
 * every attempt may need a new link (TCP connect and handshake, each
 * bounded by connect_timeout) and then the peer's upstream connect (its
 * own connect_timeout, which we take to be ours), as outbound.c arms it,
 * plus the backoff between attempts (at most 0.375 s each) and a second
 * for the caller lookup and the loop's own latency. The shim waits no
 * longer than this (README "Faithful failure").
 */
unsigned snapshot_verdict_ms(const struct cfg_service *s)
{
	double attempts = (double)s->retries + 1.0;
	double secs = attempts * (3.0 * s->connect_timeout + 1.0) + attempts * 0.375 + 1.0;
	return secs > 3600.0 ? 3600000u : (unsigned)(secs * 1000.0);
}

static char *errf(const char *what, const char *path)
{
	char *msg = NULL;
	if (asprintf(&msg, "%s %s: %s", what, path, strerror(errno)) == -1)
		return NULL;
	return msg;
}

int snapshot_publish(const struct config *c, const char *control, uint64_t generation,
                     bool (*held)(const struct cfg_service *s, void *arg), void *arg,
                     unsigned *left_out, char **err)
{
	struct snap_svc_in *svcs = calloc(c->nservices ? c->nservices : 1, sizeof *svcs);
	unsigned nicpt = 0;
	for (unsigned i = 0; i < c->nservices; i++)
		nicpt += c->services[i].nintercepts;
	struct snap_icpt_in *icpts = calloc(nicpt ? nicpt : 1, sizeof *icpts);
	void *buf = NULL;
	size_t len = 0;
	int fd = -1;
	char tmp[4200];
	*err = NULL;
	if (!svcs || !icpts) {
		*err = strdup("out of memory");
		goto fail;
	}
	/* A service whose VIP:ports meshd does not all hold is left out with
	 * its intercepts: its name must not lead a program to whoever holds
	 * them instead (README "Security model"). */
	unsigned k = 0, nsvc = 0;
	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		if (held && !held(s, arg))
			continue;
		unsigned x = nsvc++;
		svcs[x].name = s->name;
		svcs[x].vip = s->vip.s_addr;
		svcs[x].ports = s->ports;
		svcs[x].nports = s->nports;
		svcs[x].verdict_ms = snapshot_verdict_ms(s);
		for (unsigned j = 0; j < s->nintercepts; j++, k++) {
			const struct sockaddr_storage *ss = &s->intercepts[j].ss;
			icpts[k].family = ss->ss_family;
			icpts[k].svc = x;
			if (ss->ss_family == AF_INET) {
				const struct sockaddr_in *a = (const void *)ss;
				memcpy(icpts[k].addr, &a->sin_addr, 4);
				icpts[k].port = ntohs(a->sin_port);
			} else {
				const struct sockaddr_in6 *a = (const void *)ss;
				memcpy(icpts[k].addr, &a->sin6_addr, 16);
				icpts[k].port = ntohs(a->sin6_port);
			}
		}
	}
	if (left_out)
		*left_out = c->nservices - nsvc;
	if (snapshot_encode(c->suffix, control, generation, c->vip_net.s_addr, c->vip_prefix, svcs,
	                    nsvc, icpts, k, &buf, &len) == -1) {
		*err = errf("cannot encode the route snapshot for", c->snapshot);
		goto fail;
	}
	if (make_parent_dirs(c->snapshot) == -1) {
		*err = errf("cannot create the directory of", c->snapshot);
		goto fail;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", c->snapshot, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		*err = errf("cannot write", tmp);
		goto fail;
	}
	fchmod(fd, 0644);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, (char *)buf + off, len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			*err = errf("cannot write", tmp);
			unlink(tmp);
			goto fail;
		}
		off += (size_t)w;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, c->snapshot) == -1) {
		*err = errf("cannot publish", c->snapshot);
		unlink(tmp);
		goto fail;
	}
	write_vips(c);
	free(buf);
	free(svcs);
	free(icpts);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	free(buf);
	free(svcs);
	free(icpts);
	return -1;
}

void snapshot_unpublish(const struct config *c)
{
	unlink(c->snapshot);
}

/*
 * VIPs handed out are also kept in SNAPSHOT.vips ("name a.b.c.d" lines),
 * which outlives meshd: the snapshot itself is removed on a clean stop (so
 * that the shim falls through to libc while no daemon runs), but a VIP must
 * stay with its service across restarts.
 */
static void write_vips(const struct config *c)
{
	char path[4200], tmp[4300];
	snprintf(path, sizeof path, "%s.vips", c->snapshot);
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	for (unsigned i = 0; i < c->nservices; i++) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &c->services[i].vip, ip, sizeof ip);
		fprintf(f, "%s %s\n", c->services[i].name, ip);
	}
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		unlink(tmp);
}

uint32_t snapshot_prev_vip(const char *name, void *arg)
{
	char path[4200], line[256], n[128], ip[64];
	snprintf(path, sizeof path, "%s.vips", (const char *)arg);
	FILE *f = fopen(path, "re");
	uint32_t vip = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		struct in_addr a;
		if (sscanf(line, "%127s %63s", n, ip) == 2 && strcmp(n, name) == 0 &&
		    inet_pton(AF_INET, ip, &a) == 1) {
			vip = a.s_addr;
			break;
		}
	}
	fclose(f);
	return vip;
}
