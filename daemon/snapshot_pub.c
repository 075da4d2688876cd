/*
 * Publishes the route snapshot for libmesh.so: encode (shim/snapshot.c),
 * write to a temporary file beside the target, fsync-free rename. Readers
 * only ever see a whole old file or a whole new one. After each publish
 * vip.c keeps every configured service's VIP (published or not) in a file
 * of their own, so they stay with their services across restarts.
 */
#include "snapshot_pub.h"
#include "config.h"
#include "snapshot.h"
#include "vip.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	return snapshot_publish_keep(c, control, generation, held, arg, left_out, NULL, NULL, err);
}

int snapshot_publish_keep(const struct config *c, const char *control, uint64_t generation,
                          bool (*held)(const struct cfg_service *s, void *arg), void *arg,
                          unsigned *left_out, void **bytes, size_t *nbytes, char **err)
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
		if (c->vip6_on)
			memcpy(svcs[x].vip6, s->vip6.s6_addr, 16);
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
	if (snapshot_encode(c->suffix, control, generation, c->vip_net.s_addr, c->vip_prefix,
	                    c->vip6_on ? c->vip6_net.s6_addr : NULL,
	                    c->vip6_on ? c->vip6_prefix : 0, svcs, nsvc, icpts, k, &buf,
	                    &len) == -1) {
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
	vip_save(c);
	if (bytes) {
		*bytes = buf;
		*nbytes = len;
		buf = NULL;
	}
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
