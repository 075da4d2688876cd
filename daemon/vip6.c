/*
 * IPv6 VIPs: with `vip6_range` on, every service also gets an address in
 * that range, assigned like its IPv4 VIP (vip.c): fixed ones (vip6 =)
 * first, then the one the service had before (previous generation, or the
 * persistence file on a first start), then a hash of the name with linear
 * probing. Offsets 0 (the subnet-router anycast address) and 1 (the
 * range's first address) are never handed out.
 *
 * The range must lie inside fc00::/7 (unique local addresses, never routed
 * on the internet): meshd routes all of it locally (route6.c), so a global
 * range would hide real hosts from every program on this host. The prefix
 * is /64 to /120: the host part is at most 64 bits (one integer) and holds
 * at least 254 services.
 */
#include "vip.h"
#include "config_state.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIP6_PREFIX_MIN 64
#define VIP6_PREFIX_MAX 120

static bool is_ula(const struct in6_addr *a)
{
	return (a->s6_addr[0] & 0xfe) == 0xfc;
}

int vip6_parse_range(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                     size_t whylen)
{
	struct config *c = obj;
	const char *slash = strchr(val, '/');
	char host[INET6_ADDRSTRLEN];
	struct in6_addr net;
	unsigned long prefix;
	size_t n = slash ? (size_t)(slash - val) : 0;

	(void)L;
	(void)k;
	if (strcmp(val, "off") == 0) {
		c->vip6_on = false;
		memset(&c->vip6_net, 0, sizeof c->vip6_net);
		c->vip6_prefix = 0;
		return 0;
	}
	if (!slash || n == 0 || n >= sizeof host) {
		snprintf(why, whylen,
		         "invalid range '%.64s' (expected off or an IPv6 CIDR like "
		         "fd6d:6573:6800::/64)",
		         val);
		return -1;
	}
	memcpy(host, val, n);
	host[n] = '\0';
	if (inet_pton(AF_INET6, host, &net) != 1 || !cfg_parse_ulong(slash + 1, 128, &prefix)) {
		snprintf(why, whylen,
		         "invalid range '%.64s' (expected off or an IPv6 CIDR like "
		         "fd6d:6573:6800::/64)",
		         val);
		return -1;
	}
	if (prefix < VIP6_PREFIX_MIN || prefix > VIP6_PREFIX_MAX) {
		snprintf(why, whylen, "prefix /%lu out of range (%u..%u)", prefix, VIP6_PREFIX_MIN,
		         VIP6_PREFIX_MAX);
		return -1;
	}
	for (unsigned long bit = prefix; bit < 128; bit++) {
		if (net.s6_addr[bit / 8] & (0x80u >> (bit % 8))) {
			snprintf(why, whylen, "host bits set in '%.64s'", val);
			return -1;
		}
	}
	if (!is_ula(&net)) {
		/* meshd routes the whole range to itself: a routable range
		 * would hide real hosts, and the shim answers nothing else. */
		snprintf(why, whylen,
		         "'%.64s' is not inside fc00::/7 (IPv6 VIPs are unique local "
		         "addresses, never routable ones)",
		         val);
		return -1;
	}
	c->vip6_on = true;
	c->vip6_net = net;
	c->vip6_prefix = (unsigned)prefix;
	return 0;
}

int vip6_parse_vip(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen)
{
	struct cfg_service *s = obj;
	struct in6_addr a;

	(void)L;
	(void)k;
	if (inet_pton(AF_INET6, val, &a) != 1) {
		snprintf(why, whylen, "invalid vip6 '%.64s' (expected an IPv6 address)", val);
		return -1;
	}
	s->vip6 = a;
	s->vip6_fixed = true;
	return 0;
}

/* ---- assignment -------------------------------------------------------- */

struct pool6 {
	uint8_t net[16];
	unsigned prefix;
	uint64_t last; /* the highest offset of the range */
	uint64_t *set; /* open addressing, 0 = empty (offset 0 is never used) */
	size_t cap;    /* a power of two */
	size_t used;
};

/* Offset of a in the range (its host bits), or 0 when a is outside it or
 * reserved (0, 1). */
static uint64_t off_of(const struct pool6 *p, const struct in6_addr *a)
{
	for (unsigned bit = 0; bit < p->prefix; bit += 8) {
		unsigned left = p->prefix - bit;
		unsigned mask = left >= 8 ? 0xffu : (0xffu << (8 - left)) & 0xffu;
		if ((a->s6_addr[bit / 8] & mask) != (p->net[bit / 8] & mask))
			return 0;
	}
	uint64_t off = 0;
	for (int i = 8; i < 16; i++)
		off = off << 8 | a->s6_addr[i];
	off &= p->last;
	return off >= 2 ? off : 0;
}

static void addr_of(const struct pool6 *p, uint64_t off, struct in6_addr *out)
{
	memcpy(out->s6_addr, p->net, 16);
	for (int i = 15; i >= 8; i--) {
		out->s6_addr[i] |= (uint8_t)(off & 0xff);
		off >>= 8;
	}
}

static size_t slot(const struct pool6 *p, uint64_t off)
{
	uint64_t h = off * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 32) & (p->cap - 1);
	while (p->set[i] && p->set[i] != off)
		i = (i + 1) & (p->cap - 1);
	return i;
}

static bool taken(const struct pool6 *p, uint64_t off)
{
	return p->set[slot(p, off)] == off;
}

static void take(struct pool6 *p, struct cfg_service *s, uint64_t off)
{
	p->set[slot(p, off)] = off;
	p->used++;
	addr_of(p, off, &s->vip6);
}

/* FNV-1a, 64 bits: part of the address a name gets, so it never changes. */
static uint64_t hash64(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int cmp_name(const void *a, const void *b)
{
	const struct cfg_service *x = *(const struct cfg_service *const *)a;
	const struct cfg_service *y = *(const struct cfg_service *const *)b;
	return strcmp(x->name, y->name);
}

void vip6_assign(struct load *L, config_prev_vip_fn prev, void *prev_arg, const struct key_meta *sm)
{
	struct config *c = L->c;
	struct pool6 p = { 0 };
	struct cfg_service **order = NULL;
	char range[INET6_ADDRSTRLEN], vbuf[INET6_ADDRSTRLEN];

	if (!c->vip6_on) {
		for (unsigned i = 0; i < c->nservices; i++) {
			struct cfg_service *s = &c->services[i];
			if (s->vip6_fixed && sm[i].state[SK_VIP6] == KEY_OK)
				cfg_error(L, sm[i].line[SK_VIP6], "vip6",
				          "set, but vip6_range is off (no IPv6 VIPs)");
			memset(&s->vip6, 0, sizeof s->vip6);
		}
		return;
	}
	memcpy(p.net, c->vip6_net.s6_addr, 16);
	p.prefix = c->vip6_prefix;
	p.last = 128 - p.prefix >= 64 ? UINT64_MAX : (1ull << (128 - p.prefix)) - 1;
	uint64_t usable = p.last - 1; /* offsets 2..last */
	for (p.cap = 16; p.cap < 2 * (size_t)c->nservices + 2; p.cap <<= 1)
		;
	p.set = calloc(p.cap, sizeof *p.set);
	order = calloc(c->nservices ? c->nservices : 1, sizeof *order);
	if (!p.set || !order) {
		L->oom = true;
		goto out;
	}
	inet_ntop(AF_INET6, &c->vip6_net, range, sizeof range);

	for (unsigned i = 0; i < c->nservices; i++) {
		struct cfg_service *s = &c->services[i];
		if (!s->vip6_fixed || sm[i].state[SK_VIP6] != KEY_OK) {
			memset(&s->vip6, 0, sizeof s->vip6);
			continue;
		}
		inet_ntop(AF_INET6, &s->vip6, vbuf, sizeof vbuf);
		uint64_t off = off_of(&p, &s->vip6);
		if (!off) {
			cfg_error(L, sm[i].line[SK_VIP6], "vip6",
			          "%s is outside vip6_range %s/%u or reserved in it (its first two "
			          "addresses)",
			          vbuf, range, p.prefix);
			memset(&s->vip6, 0, sizeof s->vip6);
			continue;
		}
		if (taken(&p, off)) {
			const char *owner = "?";
			for (unsigned j = 0; j < i; j++)
				if (c->services[j].vip6_fixed &&
				    memcmp(&c->services[j].vip6, &s->vip6, 16) == 0)
					owner = c->services[j].name;
			cfg_error(L, sm[i].line[SK_VIP6], "vip6",
			          "%s is already used by service '%s'", vbuf, owner);
			continue;
		}
		take(&p, s, off);
	}

	for (unsigned i = 0; i < c->nservices; i++)
		order[i] = &c->services[i];
	if (c->nservices)
		qsort(order, c->nservices, sizeof *order, cmp_name);

	if (prev) {
		for (unsigned i = 0; i < c->nservices; i++) {
			struct cfg_service *s = order[i];
			struct in6_addr was = { 0 };
			if (s->vip6_fixed)
				continue;
			prev(s->name, prev_arg, &was);
			uint64_t off = off_of(&p, &was);
			if (off && !taken(&p, off))
				take(&p, s, off);
		}
	}

	static const uint8_t zero[16];
	for (unsigned i = 0; i < c->nservices; i++) {
		struct cfg_service *s = order[i];
		if (s->vip6_fixed || memcmp(&s->vip6, zero, 16) != 0)
			continue;
		if (p.used >= usable) {
			char label[CFG_NAME_MAX + 32];
			snprintf(label, sizeof label, "[service.%s]", s->name);
			cfg_error(
				L, s->line, label,
				"no free IPv6 VIP: vip6_range %s/%u is full (%llu usable addresses)",
				range, p.prefix, (unsigned long long)usable);
			continue;
		}
		uint64_t h = hash64(s->name) % usable;
		for (uint64_t n = 0; n <= p.used; n++) {
			uint64_t r = usable - h; /* h + n modulo usable, no overflow */
			uint64_t off = 2 + (n < r ? h + n : n - r);
			if (!taken(&p, off)) {
				take(&p, s, off);
				break;
			}
		}
	}
out:
	free(order);
	free(p.set);
}
