/*
 * Publishes the route snapshot for libmesh.so: encode (shim/snapshot.c),
 * write to a temporary file beside the target, fsync-free rename. Readers
 * only ever see a whole old file or a whole new one. Also reads a snapshot
 * left by a previous run, so VIPs stay with their services across restarts.
 */
#include "mesh.h"
#include "snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_parents(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static char *errf(const char *what, const char *path)
{
	char *msg = NULL;
	if (asprintf(&msg, "%s %s: %s", what, path, strerror(errno)) == -1)
		return NULL;
	return msg;
}

int snapshot_publish(const struct config *c, const char *control, uint64_t generation,
                     char **err)
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
	unsigned k = 0;
	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		svcs[i].name = s->name;
		svcs[i].vip = s->vip.s_addr;
		svcs[i].ports = s->ports;
		svcs[i].nports = s->nports;
		for (unsigned j = 0; j < s->nintercepts; j++, k++) {
			const struct sockaddr_storage *ss = &s->intercepts[j].ss;
			icpts[k].family = ss->ss_family;
			icpts[k].svc = i;
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
	if (snapshot_encode(c->suffix, control, generation, svcs, c->nservices, icpts, nicpt,
	                    &buf, &len) == -1) {
		*err = errf("cannot encode the route snapshot for", c->snapshot);
		goto fail;
	}
	if (mkdir_parents(c->snapshot) == -1) {
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

uint32_t snapshot_prev_vip(const char *name, void *arg)
{
	const char *path = arg;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	struct stat st;
	uint32_t vip = 0;
	if (fstat(fd, &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= SNAP_MAX_LEN) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			struct snap_view v;
			if (snapshot_view(&v, p, (size_t)st.st_size) == 0) {
				const struct snap_svc *s = snapshot_find_name(&v, name);
				if (s)
					vip = s->vip;
			}
			munmap(p, (size_t)st.st_size);
		}
	}
	close(fd);
	return vip;
}
