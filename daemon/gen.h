/*
 * One config generation: the config, its TLS contexts and the per-service
 * endpoint cursors, reference counted. Sessions hold a reference to the
 * generation they started with, so a reload never changes an established
 * connection.
 */
#ifndef MESHD_GEN_H
#define MESHD_GEN_H

#include <stdint.h>

struct config;
struct tls_env;

struct gen {
	int             refs;
	struct config  *cfg;
	struct tls_env *tls;
	uint64_t       *cursors;     /* one per service, for lb_rr_pick */
};

/* Build a complete generation from the file (cur: the running config, whose
 * VIPs are kept; NULL at start, when a previous run's SNAPSHOT.vips is
 * used), or NULL with *errs (malloc'd). */
struct gen *gen_load(const char *path, const struct config *cur, char **errs);
struct gen *gen_ref(struct gen *g);
void gen_unref(struct gen *g);

#endif
