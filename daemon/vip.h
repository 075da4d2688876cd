/*
 * VIPs (vip.c): how services get their virtual addresses, stable across
 * reloads (the previous generation) and restarts (the persistence file).
 */
#ifndef MESHD_VIP_H
#define MESHD_VIP_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "config.h"

struct load;
struct key_meta;
struct cfg_key;

/* Phase 4 of a config load: a VIP for every service of L->c (`sm`: the
 * services' key_meta); a full range or a bad fixed VIP is an error. */
void vip_assign(struct load *L, config_prev_vip_fn prev, void *prev_arg, const struct key_meta *sm);

/* The persistence file of the snapshot at `snapshot`: SNAPSHOT.vips. */
const char *vip_file_path(const char *snapshot, char *buf, size_t len);
/* Keep every service's VIP in the persistence file (after a publish). */
void vip_save(const struct config *c);
/* A config_prev_vip_fn: the VIP `name` had in the persistence file of the
 * snapshot path `arg`, or 0 (and its IPv6 VIP into *vip6). */
uint32_t vip_prev(const char *name, void *arg, struct in6_addr *vip6);

/* IPv6 VIPs (vip6.c). The [mesh] key vip6_range ("off", or a CIDR inside
 * fc00::/7 with a prefix of /64../120) and the service key vip6. */
int vip6_parse_range(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                     size_t whylen);
int vip6_parse_vip(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen);
/* Called by vip_assign: an IPv6 VIP for every service when vip6_range is
 * on (fixed, previous, hashed, like the IPv4 ones). */
void vip6_assign(struct load *L, config_prev_vip_fn prev, void *prev_arg,
                 const struct key_meta *sm);

#endif
