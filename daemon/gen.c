/*
 * One config generation: a config loaded from the file, the TLS contexts
 * built from it and the per-service endpoint sets, reference counted.
 * The main thread builds one per start or reload; every worker and every
 * session holds a reference, so a reload never changes an established
 * connection, and the last reference frees it.
 */
#include "gen.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "tls.h"
#include "vip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t prev_from_config(const char *name, void *arg, struct in6_addr *vip6)
{
	const struct cfg_service *s = config_service(arg, name);
	memset(vip6, 0, sizeof *vip6);
	if (s)
		*vip6 = s->vip6;
	return s ? s->vip.s_addr : 0;
}

static void endpoints_free(struct endpoint_set *sets, unsigned n)
{
	if (!sets)
		return;
	for (unsigned i = 0; i < n; i++)
		endpoint_set_clear(&sets[i]);
	free(sets);
}

/* One endpoint set per service, in config order, or NULL. */
static struct endpoint_set *endpoints_new(const struct config *c)
{
	struct endpoint_set *sets = calloc(c->nservices ? c->nservices : 1, sizeof *sets);
	if (!sets)
		return NULL;
	for (unsigned i = 0; i < c->nservices; i++) {
		if (endpoint_set_init(&sets[i], &c->services[i]) == -1) {
			endpoints_free(sets, i);
			return NULL;
		}
	}
	return sets;
}

/* A generation around config c (consumed), with tls when given (shared),
 * else TLS contexts built from c. */
static struct gen *gen_new(struct config *c, struct tls_env *tls, char **errs)
{
	struct gen *g = calloc(1, sizeof *g);
	if (!g) {
		config_unref(c);
		*errs = strdup("out of memory");
		return NULL;
	}
	g->refs = 1;
	g->cfg = c;
	g->endpoints = endpoints_new(c);
	char *terr = NULL;
	g->tls = tls ? tls_env_ref(tls) : tls_env_new(c, &terr);
	if (!g->tls || !g->endpoints) {
		size_t n = strlen(c->path) + (terr ? strlen(terr) : 20) + 16;
		*errs = malloc(n);
		if (*errs)
			snprintf(*errs, n, "%s:0: tls: %s", c->path, terr ? terr : "out of memory");
		free(terr);
		gen_unref(g);
		return NULL;
	}
	return g;
}

struct gen *gen_load(const char *path, const struct config *cur, config_found_fn found,
                     void *found_arg, char **errs)
{
	char vips[4200];
	struct config *c = config_load_with(path, NULL, 0, cur ? prev_from_config : NULL,
	                                    (void *)cur, found, found_arg, errs);
	if (c && !cur && access(vip_file_path(c->snapshot, vips, sizeof vips), R_OK) == 0) {
		/* First start: keep the VIPs a previous run handed out. */
		char *snap = strdup(c->snapshot);
		config_unref(c);
		c = snap ? config_load_with(path, NULL, 0, vip_prev, snap, found, found_arg, errs)
		         : NULL;
		free(snap);
	}
	if (!c)
		return NULL;
	return gen_new(c, NULL, errs);
}

struct gen *gen_derive(const struct gen *cur, config_found_fn found, void *found_arg, char **errs)
{
	const struct config *old = cur->cfg;
	struct config *c = config_load_with(old->path, old->text, old->textlen, prev_from_config,
	                                    (void *)old, found, found_arg, errs);
	if (!c)
		return NULL;
	/* What a reload settled that the text does not say: the traffic log
	 * actually written to (main.c keeps the old one when the new cannot
	 * be opened). */
	if (strcmp(c->log, old->log) != 0) {
		char *keep = strdup(old->log);
		if (!keep) {
			config_unref(c);
			*errs = strdup("out of memory");
			return NULL;
		}
		free(c->log);
		c->log = keep;
	}
	return gen_new(c, cur->tls, errs);
}

struct gen *gen_ref(struct gen *g)
{
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
	return g;
}

/* Every session of a generation has ended before its last reference goes,
 * so each endpoint's in-flight counts are back to 0: say so at -v, and
 * warn about a count left over (an attempt or connection never reported
 * done, a bug in the accounting). */
static void endpoints_report(const struct gen *g)
{
	for (unsigned i = 0; g->endpoints && i < g->cfg->nservices; i++) {
		const struct endpoint_set *set = &g->endpoints[i];
		for (unsigned j = 0; j < set->n; j++) {
			const struct endpoint *ep = &set->eps[j];
			unsigned att = __atomic_load_n(&ep->attempts, __ATOMIC_RELAXED);
			unsigned conns = __atomic_load_n(&ep->conns, __ATOMIC_RELAXED);
			const char *last =
				result_word(__atomic_load_n(&ep->last_result, __ATOMIC_RELAXED));
			log_msg(att || conns ? LOG_WARN : LOG_DEBUG,
			        "generation %llu ends: service %s endpoint %s: %u attempt(s) and %u "
			        "connection(s) in flight%s; last result %s, %u failure(s) in a row, "
			        "connect ewma %.3f ms",
			        (unsigned long long)g->cfg->generation, set->svc->name,
			        ep->cfg->text, att, conns,
			        att || conns ? " (never reported done)" : "", last ? last : "none",
			        endpoint_fails(ep),
			        __atomic_load_n(&ep->connect_ewma_us, __ATOMIC_RELAXED) / 1000.0);
		}
	}
}

void gen_unref(struct gen *g)
{
	if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	endpoints_report(g);
	tls_env_free(g->tls);
	endpoints_free(g->endpoints, g->cfg->nservices);
	config_unref(g->cfg);
	free(g);
}

struct endpoint_set *gen_endpoints(struct gen *g, const struct cfg_service *svc)
{
	return &g->endpoints[svc - g->cfg->services];
}
