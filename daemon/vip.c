/*
 * Service VIPs. Assignment is phase 4 of a config load: every service gets a
 * VIP inside vip_range. Fixed ones (vip =) first, then the one each service
 * had before (from the previous generation or, on a first start, a
 * previous run), so a VIP stays with its service across reloads and
 * restarts, then a hash of the name with linear probing. The network
 * address, the broadcast address and the range's first host address are
 * never handed out.
 *
 * What a previous run handed out is the persistence file, SNAPSHOT.vips,
 * written after every publish and read on a first start.
 */
#include "vip.h"
#include "config_state.h"
#include "hash.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- assignment (phase 4 of a config load) ---------------------------- */

static int cmp_svc_name(const void *a, const void *b)
{
	const struct cfg_service *x = *(const struct cfg_service *const *)a;
	const struct cfg_service *y = *(const struct cfg_service *const *)b;

	return strcmp(x->name, y->name);
}

struct vip_pool {
	uint32_t net;    /* host order */
	uint32_t size;   /* addresses in the range */
	uint32_t usable; /* size - 3: not network, not broadcast, not .1 */
	uint32_t free;
	uint8_t *taken; /* bit per offset */
};

/* Offset into the range of a usable address, or 0. */
static uint32_t vip_offset(const struct vip_pool *p, struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr), off;

	if (h - p->net >= p->size)
		return 0;
	off = h - p->net;
	return off >= 2 && off <= p->size - 2 ? off : 0;
}

static bool vip_taken(const struct vip_pool *p, uint32_t off)
{
	return p->taken[off >> 3] & (1u << (off & 7));
}

static void vip_take(struct vip_pool *p, struct cfg_service *s, uint32_t off)
{
	p->taken[off >> 3] |= (uint8_t)(1u << (off & 7));
	p->free--;
	s->vip.s_addr = htonl(p->net + off);
}

/* Fixed VIPs first, then each service's previous VIP, then FNV-1a of the
 * name with linear probing, in name order so file order does not matter. */
void vip_assign(struct load *L, config_prev_vip_fn prev, void *prev_arg, const struct key_meta *sm)
{
	struct config *c = L->c;
	struct vip_pool pool;
	struct cfg_service **order = NULL;
	char range[INET_ADDRSTRLEN], vbuf[INET_ADDRSTRLEN];

	pool.net = ntohl(c->vip_net.s_addr);
	pool.size = 1u << (32 - c->vip_prefix);
	pool.usable = pool.size - 3;
	pool.free = pool.usable;
	pool.taken = calloc(pool.size / 8 + 1, 1);
	order = c->nservices ? calloc(c->nservices, sizeof(*order)) : NULL;
	if (!pool.taken || (c->nservices && !order)) {
		L->oom = true;
		goto out;
	}
	inet_ntop(AF_INET, &c->vip_net, range, sizeof(range));

	for (unsigned i = 0; i < c->nservices; i++) {
		struct cfg_service *s = &c->services[i];
		uint32_t off;

		if (!s->vip_fixed || sm[i].state[SK_VIP] != KEY_OK)
			continue;
		inet_ntop(AF_INET, &s->vip, vbuf, sizeof(vbuf));
		off = vip_offset(&pool, s->vip);
		if (!off) {
			if (ntohl(s->vip.s_addr) - pool.net >= pool.size)
				cfg_error(L, sm[i].line[SK_VIP], "vip",
				          "%s is outside vip_range %s/%u", vbuf, range,
				          c->vip_prefix);
			else
				cfg_error(
					L, sm[i].line[SK_VIP], "vip",
					"%s is reserved in vip_range %s/%u (network, broadcast or first address)",
					vbuf, range, c->vip_prefix);
			continue;
		}
		if (vip_taken(&pool, off)) {
			const char *owner = "?";
			for (unsigned j = 0; j < i; j++)
				if (c->services[j].vip_fixed &&
				    c->services[j].vip.s_addr == s->vip.s_addr)
					owner = c->services[j].name;
			cfg_error(L, sm[i].line[SK_VIP], "vip",
			          "%s is already used by service '%s'", vbuf, owner);
			continue;
		}
		vip_take(&pool, s, off);
	}

	for (unsigned i = 0; i < c->nservices; i++)
		order[i] = &c->services[i];
	if (c->nservices)
		qsort(order, c->nservices, sizeof(*order), cmp_svc_name);

	if (prev) {
		for (unsigned i = 0; i < c->nservices; i++) {
			struct cfg_service *s = order[i];
			struct in_addr was;
			uint32_t off;

			if (s->vip_fixed)
				continue;
			struct in6_addr was6;
			was.s_addr = prev(s->name, prev_arg, &was6);
			if (!was.s_addr)
				continue;
			off = vip_offset(&pool, was);
			if (off && !vip_taken(&pool, off))
				vip_take(&pool, s, off);
		}
	}

	for (unsigned i = 0; i < c->nservices; i++) {
		struct cfg_service *s = order[i];
		uint32_t h;

		if (s->vip_fixed || s->vip.s_addr)
			continue;
		if (!pool.free) {
			char label[CFG_NAME_MAX + 32];

			snprintf(label, sizeof(label), "[service.%s]", s->name);
			cfg_error(L, s->line, label,
			          "no free VIP: vip_range %s/%u is full (%u usable addresses)",
			          range, c->vip_prefix, pool.usable);
			continue;
		}
		h = hash_fnv1a(s->name) % pool.usable;
		for (uint32_t n = 0; n < pool.usable; n++) {
			uint32_t off = 2 + (h + n) % pool.usable;
			if (!vip_taken(&pool, off)) {
				vip_take(&pool, s, off);
				break;
			}
		}
	}
	vip6_assign(L, prev, prev_arg, sm);
out:
	free(order);
	free(pool.taken);
}

/* ---- the persistence file -------------------------------------------- */

const char *vip_file_path(const char *snapshot, char *buf, size_t len)
{
	snprintf(buf, len, "%s.vips", snapshot);
	return buf;
}

/*
 * VIPs handed out are also kept in SNAPSHOT.vips ("name a.b.c.d" lines,
 * "name a.b.c.d v6addr" for a service with an IPv6 VIP),
 * which outlives meshd: the snapshot itself is removed on a clean stop (so
 * that the shim falls through to libc while no daemon runs), but a VIP must
 * stay with its service across restarts.
 */
void vip_save(const struct config *c)
{
	char path[4200], tmp[4300];
	vip_file_path(c->snapshot, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	for (unsigned i = 0; i < c->nservices; i++) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &c->services[i].vip, ip, sizeof ip);
		char ip6[INET6_ADDRSTRLEN];
		if (c->vip6_on && inet_ntop(AF_INET6, &c->services[i].vip6, ip6, sizeof ip6) &&
		    !IN6_IS_ADDR_UNSPECIFIED(&c->services[i].vip6))
			fprintf(f, "%s %s %s\n", c->services[i].name, ip, ip6);
		else
			fprintf(f, "%s %s\n", c->services[i].name, ip);
	}
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		unlink(tmp);
}

uint32_t vip_prev(const char *name, void *arg, struct in6_addr *vip6)
{
	char path[4200], line[256], n[128], ip[64], ip6[64];
	vip_file_path(arg, path, sizeof path);
	FILE *f = fopen(path, "re");
	uint32_t vip = 0;
	memset(vip6, 0, sizeof *vip6);
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		struct in_addr a;
		int got = sscanf(line, "%127s %63s %63s", n, ip, ip6);
		if (got >= 2 && strcmp(n, name) == 0 && inet_pton(AF_INET, ip, &a) == 1) {
			vip = a.s_addr;
			if (got == 3 && inet_pton(AF_INET6, ip6, vip6) != 1)
				memset(vip6, 0, sizeof *vip6);
			break;
		}
	}
	fclose(f);
	return vip;
}
