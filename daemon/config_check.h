/*
 * Phase 3 of a config load (config_check.c): checks across keys and
 * sections, after every section went through its table. `im` and `sm` are
 * the identities' and services' key_meta, in the order of c->identities
 * and c->services. Internal to the loader.
 */
#ifndef MESHD_CONFIG_CHECK_H
#define MESHD_CONFIG_CHECK_H

struct load;
struct key_meta;

void config_check_identities(struct load *L, const struct key_meta *im);
void config_check_services(struct load *L, const struct key_meta *sm);

#endif
