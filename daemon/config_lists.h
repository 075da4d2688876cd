/*
 * Parsers of the list-valued keys (config_lists.c), named by the tables of
 * config_keys.c, and the frees for what they allocate. Internal to the
 * config loader.
 */
#ifndef MESHD_CONFIG_LISTS_H
#define MESHD_CONFIG_LISTS_H

#include <stddef.h>

#include "config.h"

struct load;
struct cfg_key;

int cfg_list_uids(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                  size_t whylen);
int cfg_list_ports(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen);
int cfg_list_endpoints(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                       char *why, size_t whylen);
int cfg_list_intercepts(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                        char *why, size_t whylen);
int cfg_list_upstream(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                      char *why, size_t whylen);
int cfg_list_allow(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen);

int cfg_list_resolvers(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                       char *why, size_t whylen);

/* What the list parsers allocate, for freeing a config. */
void cfg_free_endpoints(struct cfg_endpoint *e, unsigned n);
void cfg_free_strv(char **v, unsigned n);

#endif
