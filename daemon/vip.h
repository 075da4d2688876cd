/*
 * VIPs (vip.c): how services get their virtual addresses, stable across
 * reloads and restarts.
 */
#ifndef MESHD_VIP_H
#define MESHD_VIP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct load;
struct key_meta;

/* Phase 4 of a config load: a VIP for every service of L->c (`sm`: the
 * services' key_meta); a full range or a bad fixed VIP is an error. */
void vip_assign(struct load *L, config_prev_vip_fn prev, void *prev_arg,
                const struct key_meta *sm);

/* SNAPSHOT.vips: the VIPs a previous run handed out. */
const char *snapshot_vips_path(const struct config *c, char *buf, size_t len);
/* Keep every service's VIP in SNAPSHOT.vips (after a publish). */
void write_vips(const struct config *c);
/* VIPs of a previously published snapshot, for stable assignment. */
uint32_t snapshot_prev_vip(const char *name, void *arg);

#endif
