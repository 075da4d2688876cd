/*
 * One config generation: a config loaded from the file, the TLS contexts
 * built from it and the per-service endpoint cursors, reference counted.
 * The main thread builds one per start or reload; every worker and every
 * session holds a reference, so a reload never changes an established
 * connection, and the last reference frees it.
 */
#include "gen.h"
#include "config.h"
#include "tls.h"
#include "vip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t prev_from_config(const char *name, void *arg)
{
	const struct cfg_service *s = config_service(arg, name);
	return s ? s->vip.s_addr : 0;
}

struct gen *gen_load(const char *path, const struct config *cur, char **errs)
{
	char vips[4200];
	struct config *c = config_load(path, cur ? prev_from_config : NULL, (void *)cur, errs);
	if (c && !cur && access(vip_file_path(c->snapshot, vips, sizeof vips), R_OK) == 0) {
		/* First start: keep the VIPs a previous run handed out. */
		char *snap = strdup(c->snapshot);
		config_unref(c);
		c = snap ? config_load(path, vip_prev, snap, errs) : NULL;
		free(snap);
	}
	if (!c)
		return NULL;
	struct gen *g = calloc(1, sizeof *g);
	if (!g) {
		config_unref(c);
		*errs = strdup("out of memory");
		return NULL;
	}
	g->refs = 1;
	g->cfg = c;
	g->cursors = calloc(c->nservices ? c->nservices : 1, sizeof *g->cursors);
	char *terr = NULL;
	g->tls = tls_env_new(c, &terr);
	if (!g->tls || !g->cursors) {
		size_t n = strlen(path) + (terr ? strlen(terr) : 20) + 16;
		*errs = malloc(n);
		if (*errs)
			snprintf(*errs, n, "%s:0: tls: %s", path, terr ? terr : "out of memory");
		free(terr);
		gen_unref(g);
		return NULL;
	}
	return g;
}

struct gen *gen_ref(struct gen *g)
{
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
	return g;
}

void gen_unref(struct gen *g)
{
	if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	tls_env_free(g->tls);
	config_unref(g->cfg);
	free(g->cursors);
	free(g);
}
