/*
 * The dns:NAME:PORT and srv:NAME entries of a service's endpoints (see
 * config.h): their syntax, and what discovery found put in their place
 * when a config is loaded (config_load_with's callback): addresses found
 * twice count once, CFG_MAX_ENDPOINTS bounds the list, tiers come from the
 * '|' groups and the SRV priority ranks. Part of the list parsers
 * (config_lists.c calls these); like them it fills `why` and never logs.
 */
#include "config_dns.h"
#include "config_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_free_dns(struct cfg_dns *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(d[i].text);
		free(d[i].name);
	}
	free(d);
}

/* A DNS name as a service discovery entry may give it: 1..253 characters
 * of letters, digits, '-', '_' and '.', no empty label. */
static bool dns_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(is_lower(c) || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
		      c == '_' || c == '.'))
			return false;
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			return false;
	}
	return true;
}

/* "dns:NAME:PORT" or "srv:NAME" (weight: the *WEIGHT written, 0: none). */
int cfg_dns_elem(char *tok, unsigned weight, struct cfg_dns_ctx *x, char *why, size_t whylen)
{
	struct cfg_dns d = { .kind = tok[0] == 's' ? CFG_DNS_SRV : CFG_DNS_A,
		             .weight = weight ? weight : 1,
		             .group = x->group };
	const char *name = tok + 4;
	size_t nlen = strlen(name);
	unsigned long port = 0;

	if (d.kind == CFG_DNS_A) {
		char *colon = strrchr(name, ':');
		if (!colon || !cfg_parse_ulong(colon + 1, 65535, &port) || port == 0) {
			snprintf(why, whylen,
			         "invalid '%.64s' (expected dns:NAME:PORT, the port of the peers' "
			         "mesh port)",
			         tok);
			return -1;
		}
		nlen = (size_t)(colon - name);
	} else if (weight) {
		snprintf(why, whylen, "'%.64s': an srv: entry takes its weights from the records",
		         tok);
		return -1;
	}
	if (nlen && name[nlen - 1] == '.')
		nlen--; /* a trailing dot: the same name */
	if (!dns_name_ok(name, nlen)) {
		snprintf(why, whylen, "invalid DNS name in '%.64s'", tok);
		return -1;
	}
	if (x->L->ndns >= CFG_MAX_DNS) {
		snprintf(why, whylen, "more than %d dns: and srv: entries in the config",
		         CFG_MAX_DNS);
		return -1;
	}
	char text[300];
	d.name = strndup(name, nlen);
	if (!d.name)
		goto oom;
	for (char *c = d.name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (d.kind == CFG_DNS_A)
		snprintf(text, sizeof text, "dns:%s:%lu", d.name, port);
	else
		snprintf(text, sizeof text, "srv:%s", d.name);
	d.port = (uint16_t)port;
	for (unsigned i = 0; i < x->n; i++) {
		if (strcmp(x->dns[i].text, text) == 0) {
			snprintf(why, whylen, "'%.64s' listed twice", text);
			free(d.name);
			return -1;
		}
	}
	if (!(d.text = strdup(text)))
		goto oom;
	if (x->n == x->cap) {
		unsigned nc = x->cap ? x->cap * 2 : 4;
		struct cfg_dns *g = realloc(x->dns, nc * sizeof *g);
		if (!g)
			goto oom;
		x->dns = g;
		x->cap = nc;
	}
	x->dns[x->n++] = d;
	x->L->ndns++;
	return 0;
oom:
	free(d.name);
	free(d.text);
	snprintf(why, whylen, "out of memory");
	return -1;
}

static bool have_addr(const struct cfg_endpoint *all, unsigned n, const struct cfg_addr *a)
{
	for (unsigned j = 0; j < n; j++)
		if (!all[j].local && net_addr_eq(&all[j].addr, a))
			return true;
	return false;
}

/*
 * What discovery found for the service's dns: and srv: entries, appended to
 * the written endpoints (all, n of them, room for CFG_MAX_ENDPOINTS; rank:
 * the srv: priority rank of each, 0 for the others). An address already
 * there is left out (the first entry that names it wins: DNS cannot add
 * an endpoint twice), and so is everything beyond CFG_MAX_ENDPOINTS
 * (counted in s->dns_dropped).
 */
int cfg_dns_found(struct load *L, struct cfg_service *s, struct cfg_endpoint *all, unsigned *rank,
                  unsigned *n)
{
	for (unsigned i = 0; L->found && i < s->ndns; i++) {
		const struct cfg_dns *d = &s->dns[i];
		const struct cfg_found *f = NULL;
		unsigned nf = L->found(L->found_arg, d->text, &f);
		for (unsigned k = 0; k < nf; k++) {
			if (have_addr(all, *n, &f[k].addr))
				continue;
			if (*n == CFG_MAX_ENDPOINTS) {
				s->dns_dropped++;
				continue;
			}
			char buf[64];
			struct cfg_endpoint *e = &all[*n];
			memset(e, 0, sizeof *e);
			e->addr = f[k].addr;
			e->weight = d->kind == CFG_DNS_A ? d->weight
			            : f[k].weight        ? f[k].weight
			                                 : 1;
			e->tier = d->group;
			e->text = strdup(net_addr_str(&e->addr, buf, sizeof buf));
			e->source = strdup(d->text);
			if (!e->text || !e->source) {
				free(e->text);
				free(e->source);
				return -1;
			}
			rank[*n] = d->kind == CFG_DNS_SRV ? f[k].rank : 0;
			(*n)++;
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Tiers from (group, srv: priority rank), in that order, numbered from 0
 * without gaps: an srv: entry's lowest priority shares its group's tier,
 * its next ones come after it and before the next group. */
void cfg_dns_tiers(struct cfg_endpoint *all, const unsigned *rank, unsigned n)
{
	uint64_t keys[CFG_MAX_ENDPOINTS];
	unsigned nk = 0;
	for (unsigned i = 0; i < n; i++)
		keys[i] = (uint64_t)all[i].tier << 32 | rank[i];
	qsort(keys, n, sizeof keys[0], cmp_u64);
	for (unsigned i = 0; i < n; i++)
		if (nk == 0 || keys[nk - 1] != keys[i])
			keys[nk++] = keys[i];
	for (unsigned i = 0; i < n; i++) {
		uint64_t key = (uint64_t)all[i].tier << 32 | rank[i];
		const uint64_t *at = bsearch(&key, keys, nk, sizeof keys[0], cmp_u64);
		all[i].tier = (unsigned)(at - keys);
	}
}
