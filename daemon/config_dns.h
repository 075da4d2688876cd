/*
 * The dns: and srv: entries of `endpoints` (config_dns.c), for
 * cfg_list_endpoints (config_lists.c). Internal to the config loader.
 */
#ifndef MESHD_CONFIG_DNS_H
#define MESHD_CONFIG_DNS_H

#include <stddef.h>

#include "config.h"

struct load;

/* The dns: and srv: entries of one endpoints value, as
 * cfg_list_endpoints meets them (they are not endpoints themselves). */
struct cfg_dns_ctx {
	struct load *L;
	struct cfg_dns *dns;
	unsigned n, cap;
	unsigned group; /* the '|' group being parsed */
};
/* "dns:NAME:PORT" or "srv:NAME" into x (weight: the *WEIGHT written, 0:
 * none): 0, or -1 with why. */
int cfg_dns_elem(char *tok, unsigned weight, struct cfg_dns_ctx *x, char *why, size_t whylen);
/* What discovery found for s's entries appended to all (n written ones,
 * room for CFG_MAX_ENDPOINTS; rank: each one's SRV priority rank): 0, or
 * -1 out of memory. */
int cfg_dns_found(struct load *L, struct cfg_service *s, struct cfg_endpoint *all, unsigned *rank,
                  unsigned *n);
/* Tiers from (group, rank), numbered from 0 without gaps. */
void cfg_dns_tiers(struct cfg_endpoint *all, const unsigned *rank, unsigned n);

/* What cfg_dns_elem allocates, for freeing a config. */
void cfg_free_dns(struct cfg_dns *d, unsigned n);

#endif
