/*
 * VIPs (vip.c): how services get their virtual addresses, stable across
 * reloads (the previous generation) and restarts (the persistence file).
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
void vip_assign(struct load *L, config_prev_vip_fn prev, void *prev_arg, const struct key_meta *sm);

/* The persistence file of the snapshot at `snapshot`: SNAPSHOT.vips. */
const char *vip_file_path(const char *snapshot, char *buf, size_t len);
/* Keep every service's VIP in the persistence file (after a publish). */
void vip_save(const struct config *c);
/* A config_prev_vip_fn: the VIP `name` had in the persistence file of the
 * snapshot path `arg`, or 0. */
uint32_t vip_prev(const char *name, void *arg);

#endif
