/*
 * The list-valued keys of a config (uids, ports, endpoints, intercept,
 * upstream, allow, resolvers): one token loop (parse_list) and one element parser per
 * key, which checks an element and its duplicates. Parsers for the tables
 * of config_keys.c; like every parser they fill `why` and never log.
 */
#include "config_lists.h"
#include "config_dns.h"
#include "config_state.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Next token of a list separated by commas and/or whitespace, or NULL. */
static char *next_token(char **cursor)
{
	char *p = *cursor, *start;

	while (*p == ',' || is_space(*p))
		p++;
	if (!*p) {
		*cursor = p;
		return NULL;
	}
	start = p;
	while (*p && *p != ',' && !is_space(*p))
		p++;
	if (*p)
		*p++ = '\0';
	*cursor = p;
	return start;
}

/* Room for one more element of a list being parsed: the array doubled
 * (from 4), or NULL (the old array is still valid) when out of memory. */
static void *grow(void *arr, unsigned *cap, size_t size)
{
	unsigned nc = *cap ? *cap * 2 : 4;
	void *p = realloc(arr, (size_t)nc * size);
	if (p)
		*cap = nc;
	return p;
}

/* 0 found, 1 no such user, -1 lookup failed (errno set). */
static int lookup_user(const char *name, uid_t *uid)
{
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	int rc;

	if (sz < 1024)
		sz = 16384;
	for (;;) {
		char *nb = realloc(buf, (size_t)sz);
		if (!nb) {
			free(buf);
			errno = ENOMEM;
			return -1;
		}
		buf = nb;
		rc = getpwnam_r(name, &pw, buf, (size_t)sz, &res);
		if (rc != ERANGE || sz > (1L << 20))
			break;
		sz *= 2;
	}
	free(buf);
	if (res) {
		*uid = pw.pw_uid;
		return 0;
	}
	if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
		return 1;
	errno = rc;
	return -1;
}

/*
 * The token loop every list key shares. Each token of val goes to `one`,
 * with the element it may fill (zeroed) and the n elements kept so far (for
 * duplicate checks); `one` returns 1 to keep the element, 0 to skip the
 * token (a '*'), -1 on error (why filled, nothing of the element left to
 * free). On success *out holds the n elements and *ntok the tokens seen;
 * on failure `drop` (NULL: plain free) frees the elements kept.
 */
typedef int (*list_elem_fn)(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                            char *why, size_t whylen);

static int parse_list(const char *val, size_t size, list_elem_fn one, void *ctx,
                      void (*drop)(void *, unsigned), void **out, unsigned *nout, unsigned *ntok,
                      char *why, size_t whylen)
{
	char *copy = strdup(val), *cur = copy, *tok;
	unsigned char *arr = NULL;
	unsigned n = 0, cap = 0, count = 0;

	if (!copy)
		goto oom;
	while ((tok = next_token(&cur))) {
		count++;
		if (n == cap) {
			void *g = grow(arr, &cap, size);
			if (!g)
				goto oom;
			arr = g;
		}
		memset(arr + (size_t)n * size, 0, size);
		int rc = one(tok, arr, n, arr + (size_t)n * size, ctx, why, whylen);
		if (rc < 0)
			goto fail;
		n += (unsigned)rc;
	}
	free(copy);
	*out = arr;
	*nout = n;
	if (ntok)
		*ntok = count;
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
fail:
	free(copy);
	if (drop)
		drop(arr, n);
	else
		free(arr);
	return -1;
}

/* uids: numbers, user names, or '*' (ctx: bool *any). */
static int uid_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx, char *why,
                    size_t whylen)
{
	const uid_t *uids = kept;
	uid_t u;
	unsigned long v;

	if (strcmp(tok, "*") == 0) {
		*(bool *)ctx = true;
		return 0;
	}
	if (strcmp(tok, "none") == 0) {
		snprintf(why, whylen, "'none' cannot be combined with uids (it stands alone)");
		return -1;
	}
	if (is_digit(tok[0])) {
		if (!cfg_parse_ulong(tok, (unsigned long)(uid_t)-2, &v)) {
			snprintf(why, whylen, "invalid uid '%.64s'", tok);
			return -1;
		}
		u = (uid_t)v;
	} else {
		int rc = lookup_user(tok, &u);
		if (rc == 1) {
			snprintf(why, whylen, "unknown user '%.64s'", tok);
			return -1;
		}
		if (rc == -1) {
			snprintf(why, whylen, "cannot look up user '%.64s': %s", tok,
			         strerror(errno));
			return -1;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (uids[i] == u) {
			snprintf(why, whylen, "uid %lu listed twice", (unsigned long)u);
			return -1;
		}
	}
	*(uid_t *)elem = u;
	return 1;
}

int cfg_list_uids(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                  size_t whylen)
{
	struct cfg_identity *id = obj;
	void *uids;
	unsigned n, ntok;
	bool any = false;

	(void)L;
	(void)k;
	/* "none": an identity that only serves; no caller is it. */
	if (strcmp(val, "none") == 0) {
		free(id->uids);
		id->uids = NULL;
		id->nuids = 0;
		id->any_uid = false;
		return 0;
	}
	if (parse_list(val, sizeof(uid_t), uid_elem, &any, NULL, &uids, &n, &ntok, why, whylen) ==
	    -1)
		return -1;
	if (ntok == 0 || (any && n)) {
		snprintf(why, whylen,
		         ntok == 0 ? "empty list (give uids, user names, '*', or none)"
		                   : "'*' cannot be combined with other uids");
		free(uids);
		return -1;
	}
	free(id->uids);
	id->uids = uids;
	id->nuids = n;
	id->any_uid = any;
	return 0;
}

static int port_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx, char *why,
                     size_t whylen)
{
	const uint16_t *ports = kept;
	unsigned long p;

	(void)ctx;
	if (!cfg_parse_ulong(tok, 65535, &p) || p == 0) {
		snprintf(why, whylen, "invalid port '%.64s' (1..65535)", tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (ports[i] == p) {
			snprintf(why, whylen, "port %lu listed twice", p);
			return -1;
		}
	}
	if (n == CFG_MAX_PORTS) {
		snprintf(why, whylen, "more than %d ports", CFG_MAX_PORTS);
		return -1;
	}
	*(uint16_t *)elem = (uint16_t)p;
	return 1;
}

int cfg_list_ports(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen)
{
	struct cfg_service *s = obj;
	void *ports;
	unsigned n;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(uint16_t), port_elem, NULL, NULL, &ports, &n, NULL, why,
	               whylen) == -1)
		return -1;
	if (n == 0) {
		snprintf(why, whylen, "no ports given (1..%d)", CFG_MAX_PORTS);
		free(ports);
		return -1;
	}
	memcpy(s->ports, ports, n * sizeof(uint16_t));
	s->nports = n;
	free(ports);
	return 0;
}

void cfg_free_endpoints(struct cfg_endpoint *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(e[i].text);
		free(e[i].source);
	}
	free(e);
}

static void drop_endpoints(void *e, unsigned n)
{
	cfg_free_endpoints(e, n);
}

static int endpoint_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx, char *why,
                         size_t whylen)
{
	const struct cfg_endpoint *eps = kept;
	struct cfg_endpoint e = { .weight = 1 };
	char *star = strrchr(tok, '*');
	unsigned long w = 0;

	if (star) {
		*star = '\0';
		if (!cfg_parse_ulong(star + 1, 1000, &w) || w == 0) {
			snprintf(why, whylen, "invalid weight '%.32s' in '%.64s*%.32s' (1..1000)",
			         star + 1, tok, star + 1);
			return -1;
		}
		e.weight = (unsigned)w;
	}
	if (strncmp(tok, "dns:", 4) == 0 || strncmp(tok, "srv:", 4) == 0)
		return cfg_dns_elem(tok, (unsigned)w, ctx, why, whylen);
	if (strcmp(tok, "local") == 0) {
		e.local = true;
	} else if (net_parse_addr(tok, &e.addr) == -1) {
		snprintf(why, whylen,
		         "invalid endpoint '%.64s' (expected IPv4:PORT, [IPv6]:PORT, local, "
		         "dns:NAME:PORT or srv:NAME, optional *WEIGHT)",
		         tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (eps[i].local == e.local && (e.local || net_addr_eq(&eps[i].addr, &e.addr))) {
			snprintf(why, whylen, "endpoint '%.64s' listed twice", tok);
			return -1;
		}
	}
	if (!(e.text = strdup(tok))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	*(struct cfg_endpoint *)elem = e;
	return 1;
}

/* endpoints: groups separated by '|' are failover tiers, each a list. */
int cfg_list_endpoints(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                       char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	struct cfg_endpoint *all = NULL;
	unsigned nall = 0, tier = 0, ndns0 = L->ndns;
	unsigned *rank = NULL;
	char *copy = strdup(val), *cur = copy;
	struct cfg_dns_ctx dx = { .L = L };

	(void)k;
	if (!copy) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (;; tier++) {
		char *bar = strchr(cur, '|');
		if (bar)
			*bar = '\0';
		void *grp;
		unsigned n, ntok;
		dx.group = tier;
		if (parse_list(cur, sizeof(struct cfg_endpoint), endpoint_elem, &dx, drop_endpoints,
		               &grp, &n, &ntok, why, whylen) == -1)
			goto fail;
		if (ntok == 0 && (bar || tier > 0)) {
			free(grp);
			snprintf(why, whylen,
			         "failover group %u is empty (groups are separated by '|')",
			         tier + 1);
			goto fail;
		}
		struct cfg_endpoint *g = grp;
		for (unsigned i = 0; i < n; i++) {
			g[i].tier = tier;
			for (unsigned j = 0; j < nall; j++) {
				if (all[j].local == g[i].local &&
				    (g[i].local || net_addr_eq(&all[j].addr, &g[i].addr))) {
					snprintf(why, whylen, "endpoint '%.64s' listed twice",
					         g[i].text);
					cfg_free_endpoints(g, n);
					goto fail;
				}
			}
		}
		if (nall + n > CFG_MAX_ENDPOINTS) {
			cfg_free_endpoints(g, n);
			snprintf(why, whylen, "more than %u endpoints", CFG_MAX_ENDPOINTS);
			goto fail;
		}
		struct cfg_endpoint *grown = realloc(all, (nall + n ? nall + n : 1) * sizeof *all);
		if (!grown) {
			cfg_free_endpoints(g, n);
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
		all = grown;
		if (n)
			memcpy(all + nall, g, n * sizeof *g);
		nall += n;
		free(g); /* its strings moved into all */
		if (!bar)
			break;
		cur = bar + 1;
	}
	free(copy);
	copy = NULL;
	cfg_free_dns(s->dns, s->ndns);
	s->dns = dx.dns;
	s->ndns = dx.n;
	dx.dns = NULL;
	dx.n = 0;
	s->dns_dropped = 0;
	if (s->ndns) {
		struct cfg_endpoint *grown = realloc(all, CFG_MAX_ENDPOINTS * sizeof *all);
		if (!grown)
			goto oom;
		all = grown;
		if (!(rank = calloc(CFG_MAX_ENDPOINTS, sizeof *rank)) ||
		    cfg_dns_found(L, s, all, rank, &nall) == -1)
			goto oom;
		cfg_dns_tiers(all, rank, nall);
		free(rank);
	}
	cfg_free_endpoints(s->endpoints, s->nendpoints);
	s->endpoints = all;
	s->nendpoints = nall;
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
fail:
	free(copy);
	free(rank);
	cfg_free_endpoints(all, nall);
	cfg_free_dns(dx.dns, dx.n);
	L->ndns = ndns0;
	return -1;
}

/* resolvers: ADDR or ADDR:PORT (53 when not given), IPv4 or [IPv6]. */
int cfg_list_resolvers(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                       char *why, size_t whylen)
{
	struct config *c = obj;
	char *copy = strdup(val), *cur = copy, *tok;
	unsigned n = 0;

	(void)L;
	(void)k;
	if (!copy) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	while ((tok = next_token(&cur))) {
		struct cfg_addr a;
		if (n == CFG_MAX_RESOLVERS) {
			snprintf(why, whylen, "more than %d resolvers", CFG_MAX_RESOLVERS);
			goto fail;
		}
		if (net_parse_addr(tok, &a) == -1) {
			char with[80];
			bool v6 = strchr(tok, ':') != NULL;
			snprintf(with, sizeof with, v6 ? "[%.64s]:53" : "%.64s:53", tok);
			if (net_parse_addr(with, &a) == -1) {
				snprintf(why, whylen,
				         "invalid resolver '%.64s' (expected ADDR or ADDR:PORT)",
				         tok);
				goto fail;
			}
		}
		for (unsigned i = 0; i < n; i++) {
			if (net_addr_eq(&c->resolvers[i], &a)) {
				snprintf(why, whylen, "resolver '%.64s' listed twice", tok);
				goto fail;
			}
		}
		c->resolvers[n++] = a;
	}
	free(copy);
	if (n == 0) {
		snprintf(why, whylen, "empty list (leave the key out for /etc/resolv.conf's)");
		return -1;
	}
	c->nresolvers = n;
	return 0;
fail:
	free(copy);
	return -1;
}

static int intercept_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx, char *why,
                          size_t whylen)
{
	const struct cfg_addr *as = kept;
	struct cfg_addr *a = elem;

	(void)ctx;
	if (net_parse_addr(tok, a) == -1) {
		snprintf(why, whylen, "invalid address '%.64s' (expected IPv4:PORT or [IPv6]:PORT)",
		         tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (net_addr_eq(&as[i], a)) {
			snprintf(why, whylen, "'%.64s' listed twice", tok);
			return -1;
		}
	}
	return 1;
}

int cfg_list_intercepts(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                        char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	void *as;
	unsigned n;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(struct cfg_addr), intercept_elem, NULL, NULL, &as, &n, NULL, why,
	               whylen) == -1)
		return -1;
	free(s->intercepts);
	s->intercepts = as;
	s->nintercepts = n;
	return 0;
}

/* ADDR:PORT for every port, and/or PORT=ADDR:PORT for one. */
static int upstream_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx, char *why,
                         size_t whylen)
{
	const struct cfg_upstream *ups = kept;
	struct cfg_upstream *u = elem;
	char *eq = strchr(tok, '='), *addr = tok;
	unsigned long p;

	(void)ctx;
	if (eq) {
		*eq = '\0';
		addr = eq + 1;
		if (!cfg_parse_ulong(tok, 65535, &p) || p == 0) {
			snprintf(why, whylen, "invalid port '%.64s' before '=' (1..65535)", tok);
			return -1;
		}
		u->port = (uint16_t)p;
	}
	if (net_parse_addr(addr, &u->addr) == -1) {
		snprintf(why, whylen,
		         "invalid upstream '%.64s' (expected ADDR:PORT or PORT=ADDR:PORT)", addr);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (ups[i].port == u->port) {
			if (u->port)
				snprintf(why, whylen, "port %u given twice", (unsigned)u->port);
			else
				snprintf(why, whylen, "more than one upstream for every port");
			return -1;
		}
	}
	return 1;
}

int cfg_list_upstream(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                      char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	void *ups;
	unsigned n;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(struct cfg_upstream), upstream_elem, NULL, NULL, &ups, &n, NULL,
	               why, whylen) == -1)
		return -1;
	if (n == 0) {
		snprintf(why, whylen, "empty value");
		free(ups);
		return -1;
	}
	free(s->upstreams);
	s->upstreams = ups;
	s->nupstreams = n;
	return 0;
}

void cfg_free_strv(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void drop_strv(void *v, unsigned n)
{
	cfg_free_strv(v, n);
}

/* Identity names or '*' (ctx: bool *any). Syntax only: callers are defined
 * on their hosts. */
static int allow_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx, char *why,
                      size_t whylen)
{
	char *const *names = kept;

	if (strcmp(tok, "*") == 0) {
		*(bool *)ctx = true;
		return 0;
	}
	if (!cfg_is_name(tok)) {
		snprintf(why, whylen,
		         "invalid identity name '%.64s' (1..63 characters of a-z, 0-9, '-')", tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(names[i], tok) == 0) {
			snprintf(why, whylen, "'%.64s' listed twice", tok);
			return -1;
		}
	}
	if (!(*(char **)elem = strdup(tok))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 1;
}

int cfg_list_allow(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen)
{
	struct cfg_service *s = obj;
	void *names;
	unsigned n;
	bool any = false;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(char *), allow_elem, &any, drop_strv, &names, &n, NULL, why,
	               whylen) == -1)
		return -1;
	if (any && n) {
		snprintf(why, whylen, "'*' cannot be combined with names");
		cfg_free_strv(names, n);
		return -1;
	}
	cfg_free_strv(s->allow, s->nallow);
	s->allow = names;
	s->nallow = n;
	s->allow_any = any;
	return 0;
}
