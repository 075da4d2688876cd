/*
 * Endpoint sets, their health and the attempt accounting every balancer
 * shares (see endpoint.h): in-flight counts, the recent outcome, ejection,
 * failover tiers, the retry budget. Which healthy endpoint to take is a
 * balancer's choice, behind struct lb_ops.
 */
#include "endpoint.h"
#include "config.h"
#include "lb_leastconn.h"
#include "lb_p2c.h"
#include "lb_rr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(ENDPOINT_MAX == CFG_MAX_ENDPOINTS, "an endpoint mask holds every endpoint");

/* The balancer for each value of the config's lb =. */
static const struct lb_ops *const lbs[] = {
	[CFG_LB_ROUND_ROBIN] = &lb_rr,
	[CFG_LB_P2C_EWMA] = &lb_p2c,
	[CFG_LB_LEAST_CONN] = &lb_leastconn,
};

/* The weight of a new latency sample in the EWMA: 1/8, as in TCP's
 * smoothed round-trip time (RFC 6298). */
#define EWMA_DIV 8

/* ---- health, kept across generations ---- */

struct service_health {
	struct service_health *next;
	unsigned refs; /* sets that have it (under registry_lock) */
	pthread_mutex_t lock;
	struct budget budget;
	struct endpoint_health *eps; /* its endpoints' health */
	char name[];
};

struct endpoint_health {
	struct endpoint_health *next;
	unsigned refs; /* under registry_lock */
	struct outlier o;
	/* An attempt that decides a return is in flight since then (µs; 0:
	 * none): the others keep away from the endpoint meanwhile. */
	uint64_t probe_us;
	char text[];
};

/* Every service's health. Only set init and clear (a generation built or
 * freed) take this lock; attempts take their service's. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct service_health *registry;

static struct service_health *service_health_get(const char *name)
{
	struct service_health *h;
	for (h = registry; h; h = h->next)
		if (strcmp(h->name, name) == 0)
			break;
	if (!h) {
		size_t len = strlen(name) + 1;
		h = calloc(1, sizeof *h + len);
		if (!h)
			return NULL;
		memcpy(h->name, name, len);
		pthread_mutex_init(&h->lock, NULL);
		h->next = registry;
		registry = h;
	}
	h->refs++;
	return h;
}

static struct endpoint_health *endpoint_health_get(struct service_health *sh, const char *text)
{
	struct endpoint_health *e;
	for (e = sh->eps; e; e = e->next)
		if (strcmp(e->text, text) == 0)
			break;
	if (!e) {
		size_t len = strlen(text) + 1;
		e = calloc(1, sizeof *e + len);
		if (!e)
			return NULL;
		memcpy(e->text, text, len);
		e->next = sh->eps;
		sh->eps = e;
	}
	e->refs++;
	return e;
}

static void endpoint_health_put(struct service_health *sh, struct endpoint_health *e)
{
	if (!e || --e->refs)
		return;
	for (struct endpoint_health **pp = &sh->eps; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	free(e);
}

static void service_health_put(struct service_health *h)
{
	if (!h || --h->refs)
		return;
	for (struct service_health **pp = &registry; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ---- sets ---- */

static void set_release(struct endpoint_set *set)
{
	pthread_mutex_lock(&registry_lock);
	if (set->health) {
		for (unsigned i = 0; i < set->n; i++)
			endpoint_health_put(set->health, set->eps[i].health);
		service_health_put(set->health);
	}
	pthread_mutex_unlock(&registry_lock);
	if (set->lock_ok)
		pthread_mutex_destroy(&set->lock);
	free(set->eps);
	memset(set, 0, sizeof *set);
}

int endpoint_set_init(struct endpoint_set *set, const struct cfg_service *svc)
{
	memset(set, 0, sizeof *set);
	set->svc = svc;
	set->lb = (unsigned)svc->lb < sizeof lbs / sizeof lbs[0] ? lbs[svc->lb] : NULL;
	if (!set->lb)
		set->lb = &lb_rr; /* config_keys.c (p_lb) accepts no other value */
	set->outlier = (struct outlier_cfg){
		.consecutive = svc->consecutive_failures,
		.base = svc->base_ejection,
		.max = svc->max_ejection,
		.max_percent = svc->max_ejection_percent,
	};
	if (svc->nendpoints > ENDPOINT_MAX)
		return -1; /* the config refuses more (CFG_MAX_ENDPOINTS) */
	if (pthread_mutex_init(&set->lock, NULL) != 0)
		return -1;
	set->lock_ok = true;
	set->eps = calloc(svc->nendpoints ? svc->nendpoints : 1, sizeof *set->eps);
	if (!set->eps) {
		set_release(set);
		return -1;
	}
	set->n = svc->nendpoints;
	set->ntiers = 1;
	pthread_mutex_lock(&registry_lock);
	set->health = service_health_get(svc->name ? svc->name : "");
	bool ok = set->health != NULL;
	for (unsigned i = 0; i < set->n; i++) {
		struct endpoint *ep = &set->eps[i];
		ep->cfg = &svc->endpoints[i];
		ep->set = set;
		if (ok) {
			const char *text = ep->cfg->text ? ep->cfg->text : "";
			ok = (ep->health = endpoint_health_get(set->health, text)) != NULL;
		}
		if (ep->cfg->tier + 1 > set->ntiers)
			set->ntiers = ep->cfg->tier + 1;
	}
	pthread_mutex_unlock(&registry_lock);
	if (!ok) {
		set_release(set);
		return -1;
	}
	return 0;
}

void endpoint_set_clear(struct endpoint_set *set)
{
	set_release(set);
}

/* ---- choosing ---- */

static double probe_window(const struct endpoint_set *set)
{
	/* The longest an attempt can wait (outbound.c's timers), so that a
	 * probe whose attempt never began does not keep the endpoint out. */
	double ct = set->svc ? set->svc->connect_timeout : 1.0;
	return 3 * ct + 1.0;
}

static uint64_t us(double secs)
{
	return secs > 0 ? (uint64_t)(secs * 1e6) : 0;
}

/* Healthy: not failing. Failing is having failed as many times in a row
 * as would eject it, had the cap (max_ejection_percent) allowed, within
 * the last base_ejection: after that it is worth a first attempt again,
 * as an ejected one would be, or an endpoint kept out by the cap would
 * never come back while others hold the ejections. */
static bool healthy(const struct endpoint_set *set, const struct endpoint *ep, double now)
{
	const struct outlier *o = &ep->health->o;
	unsigned fails = __atomic_load_n(&o->fails, __ATOMIC_RELAXED);
	if (set->outlier.consecutive == 0 || fails < set->outlier.consecutive)
		return true;
	uint64_t last = __atomic_load_n(&o->last_fail_us, __ATOMIC_RELAXED);
	return us(now) >= last + us(set->outlier.base);
}

/* An endpoint whose ejection time is over and that no attempt is probing
 * now: claim the probe (one attempt decides whether it returns). */
static bool claim_probe(const struct endpoint_set *set, struct endpoint *ep, double now)
{
	struct endpoint_health *h = ep->health;
	if (!outlier_ejected(&h->o) || !outlier_available(&h->o, now))
		return false;
	uint64_t t = us(now), old = __atomic_load_n(&h->probe_us, __ATOMIC_RELAXED);
	if (old && t < old + us(probe_window(set)))
		return false;
	return __atomic_compare_exchange_n(&h->probe_us, &old, t ? t : 1, false, __ATOMIC_RELAXED,
	                                   __ATOMIC_RELAXED);
}

int endpoint_pick(struct endpoint_set *set, const struct endpoint_mask *tried, uint64_t rnd,
                  double now)
{
	struct endpoint_mask cand;
	unsigned ncand = 0;

	/* Tier by tier, the first that has an endpoint to take: one back
	 * from its ejection time first (its next attempt decides whether it
	 * returns), else the healthy ones. */
	for (unsigned t = 0; t < set->ntiers && !ncand; t++) {
		memset(&cand, 0, sizeof cand);
		for (unsigned i = 0; i < set->n; i++) {
			struct endpoint *ep = &set->eps[i];
			if (ep->cfg->tier != t || endpoint_mask_has(tried, i))
				continue;
			if (claim_probe(set, ep, now))
				return (int)i;
			if (outlier_ejected(&ep->health->o) || !healthy(set, ep, now))
				continue;
			endpoint_mask_set(&cand, i);
			ncand++;
		}
	}
	/* None: any that is in rotation, failing or not, of any tier; and
	 * when every one left is ejected, those (Envoy's panic routing): an
	 * ejection keeps an endpoint from connections that have another
	 * choice, it never fails a connection that has none with an error
	 * of our own making. The program sees what the endpoint does, as it
	 * would without the mesh (faithful failure). */
	for (int panic = 0; panic < 2 && !ncand; panic++) {
		memset(&cand, 0, sizeof cand);
		for (unsigned i = 0; i < set->n; i++) {
			if (endpoint_mask_has(tried, i) ||
			    (!panic && outlier_ejected(&set->eps[i].health->o)))
				continue;
			endpoint_mask_set(&cand, i);
			ncand++;
		}
	}
	if (ncand == 0)
		return -1;
	return (int)set->lb->pick(set, &cand, rnd, now);
}

unsigned endpoint_fails(const struct endpoint *ep)
{
	return __atomic_load_n(&ep->health->o.fails, __ATOMIC_RELAXED);
}

unsigned endpoint_ejected(const struct endpoint_set *set, double now)
{
	unsigned n = 0;
	for (unsigned i = 0; i < set->n; i++) {
		const struct outlier *o = &set->eps[i].health->o;
		n += outlier_ejected(o) && !outlier_available(o, now);
	}
	return n;
}

void endpoint_view(struct endpoint_set *set, unsigned i, double now, struct endpoint_view *v)
{
	struct endpoint *ep = &set->eps[i];
	struct outlier o = { 0 };
	if (ep->health && set->health) {
		pthread_mutex_lock(&set->health->lock);
		o = ep->health->o;
		pthread_mutex_unlock(&set->health->lock);
	}
	memset(v, 0, sizeof *v);
	v->ejections = o.ejections;
	v->fails = o.fails;
	v->in_flight = __atomic_load_n(&ep->attempts, __ATOMIC_RELAXED);
	v->conns = __atomic_load_n(&ep->conns, __ATOMIC_RELAXED);
	v->ewma_ms = __atomic_load_n(&ep->connect_ewma_us, __ATOMIC_RELAXED) / 1000.0;
	v->last_result = __atomic_load_n(&ep->last_result, __ATOMIC_RELAXED);
	if (o.until_us && us(now) < o.until_us) {
		v->state = "ejected";
		v->ejected_for = (double)(o.until_us - us(now)) / 1e6;
	} else if (o.until_us) {
		v->state = "probing";
	} else {
		v->state = o.fails ? "failing" : "healthy";
	}
}

/* ---- attempts ---- */

void endpoint_attempt_start(struct endpoint_use *u, struct endpoint_set *set, unsigned i,
                            double now)
{
	struct endpoint *ep = &set->eps[i];
	u->ep = ep;
	u->t_start = now;
	u->connected = false;
	__atomic_add_fetch(&ep->attempts, 1, __ATOMIC_RELAXED);
	if (set->lb->attempt_start)
		set->lb->attempt_start(ep, now);
}

static void ewma_add(uint32_t *avg, double secs)
{
	double sample_us = secs > 0 ? secs * 1e6 : 0;
	uint32_t sample = sample_us < 4e9 ? (uint32_t)sample_us : 4000000000u;
	if (sample == 0)
		sample = 1; /* 0 means "no sample yet" */
	uint32_t old = __atomic_load_n(avg, __ATOMIC_RELAXED), next;
	do {
		/* Between old and sample, so never 0 once there is one. */
		next = old ? (uint32_t)((int64_t)old + ((int64_t)sample - old) / EWMA_DIV) : sample;
	} while (!__atomic_compare_exchange_n(avg, &old, next, true, __ATOMIC_RELAXED,
	                                      __ATOMIC_RELAXED));
}

/* The outcome as the endpoint's health sees it, under the service's lock
 * (the cap counts the service's ejected endpoints). */
static void health_outcome(struct endpoint *ep, enum result result, double now,
                           struct endpoint_event *ev)
{
	struct endpoint_set *set = ep->set;
	struct endpoint_health *h = ep->health;
	bool ok = result == RESULT_OK;
	/* The common case, a success of an endpoint in rotation that has
	 * not failed: nothing to change, no lock. */
	if (ok && !outlier_ejected(&h->o) && __atomic_load_n(&h->o.fails, __ATOMIC_RELAXED) == 0)
		return;
	pthread_mutex_lock(&set->health->lock);
	unsigned ejected = 0;
	for (unsigned i = 0; i < set->n; i++)
		ejected += outlier_ejected(&set->eps[i].health->o);
	unsigned fails = h->o.fails + 1;
	double secs;
	enum outlier_event k =
		outlier_outcome(&h->o, &set->outlier, ok, now, ejected, set->n, &secs);
	if (k != OUTLIER_NONE)
		__atomic_store_n(&h->probe_us, 0, __ATOMIC_RELAXED);
	if (ev && k != OUTLIER_NONE) {
		*ev = (struct endpoint_event){
			.kind = k,
			.ep = ep,
			.failures = k == OUTLIER_EJECTED ? fails : 0,
			.ejections = h->o.ejections,
			.secs = secs,
			.result = result,
		};
	}
	pthread_mutex_unlock(&set->health->lock);
	if (k == OUTLIER_RETURNED && set->lb->returned)
		set->lb->returned(ep, now);
}

void endpoint_attempt_done(struct endpoint_use *u, enum result result, double now,
                           struct endpoint_event *ev)
{
	struct endpoint *ep = u->ep;
	if (ev)
		memset(ev, 0, sizeof *ev);
	if (!ep || u->connected)
		return;
	double latency = now - u->t_start;
	__atomic_sub_fetch(&ep->attempts, 1, __ATOMIC_RELAXED);
	if (result == RESULT_OK) {
		/* Counted as a connection before the balancer hears of it. */
		__atomic_add_fetch(&ep->conns, 1, __ATOMIC_RELAXED);
		u->connected = true;
		ewma_add(&ep->connect_ewma_us, latency);
	}
	if (result != RESULT_UNSET)
		__atomic_store_n(&ep->last_result, result, __ATOMIC_RELAXED);
	if (result == RESULT_OK || result_endpoint_failure(result)) {
		health_outcome(ep, result, now, ev);
	} else if (outlier_ejected(&ep->health->o)) {
		/* Ended without a word (or refused by policy): a probe it
		 * was does not decide; the next attempt may probe. */
		__atomic_store_n(&ep->health->probe_us, 0, __ATOMIC_RELAXED);
	}
	if (ep->set->lb->attempt_done)
		ep->set->lb->attempt_done(ep, result, latency, now);
	if (!u->connected)
		u->ep = NULL;
}

void endpoint_release(struct endpoint_use *u, double now)
{
	if (!u->ep)
		return;
	if (!u->connected) {
		endpoint_attempt_done(u, RESULT_UNSET, now, NULL);
		return;
	}
	__atomic_sub_fetch(&u->ep->conns, 1, __ATOMIC_RELAXED);
	u->ep = NULL;
	u->connected = false;
}

/* ---- retry budget ---- */

void endpoint_first_attempt(struct endpoint_set *set, double now)
{
	pthread_mutex_lock(&set->health->lock);
	budget_first(&set->health->budget, now);
	pthread_mutex_unlock(&set->health->lock);
}

bool endpoint_retry_allowed(struct endpoint_set *set, double now, char *why, size_t whylen)
{
	const struct cfg_service *svc = set->svc;
	unsigned firsts, retries;
	pthread_mutex_lock(&set->health->lock);
	bool ok = budget_retry(&set->health->budget, svc->retry_budget, svc->retry_min_per_s, now,
	                       &firsts, &retries);
	pthread_mutex_unlock(&set->health->lock);
	if (!ok)
		snprintf(why, whylen,
		         "retry budget exhausted (%u retries and %u first attempts in %ds; "
		         "retry_budget %.0f%%, retry_min_per_s %u)",
		         retries, firsts, BUDGET_WINDOW, svc->retry_budget * 100,
		         svc->retry_min_per_s);
	return ok;
}
