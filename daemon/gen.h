/*
 * One config generation: the config, its TLS contexts and the per-service
 * endpoint sets (endpoint.h), reference counted. Sessions hold a reference
 * to the generation they started with, so a reload never changes an
 * established connection.
 */
#ifndef MESHD_GEN_H
#define MESHD_GEN_H

#include <stdint.h>

#include "config.h"

struct config;
struct cfg_service;
struct tls_env;
struct endpoint_set;

struct gen {
	int refs;
	struct config *cfg;
	struct tls_env *tls;
	struct endpoint_set *endpoints; /* one per service, in config order */
};

/* Build a complete generation from the file (cur: the running config, whose
 * VIPs are kept; NULL at start, when a previous run's SNAPSHOT.vips is
 * used; found: what discovery has found for dns: and srv: entries, may be
 * NULL), or NULL with *errs (malloc'd). */
struct gen *gen_load(const char *path, const struct config *cur, config_found_fn found,
                     void *found_arg, char **errs);
/* A generation like cur, from the text cur was loaded from (the file is
 * not read again: an edit in progress does not go live because DNS
 * changed) with what discovery found now; cur's TLS contexts are shared. */
struct gen *gen_derive(const struct gen *cur, config_found_fn found, void *found_arg, char **errs);
struct gen *gen_ref(struct gen *g);
void gen_unref(struct gen *g);
/* The endpoint set of svc, one of g's services. */
struct endpoint_set *gen_endpoints(struct gen *g, const struct cfg_service *svc);

#endif
