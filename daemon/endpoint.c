/*
 * Endpoint sets and the attempt accounting every balancer shares (see
 * endpoint.h): in-flight counts, the recent outcome. What to make of them
 * (ejection, least loaded) belongs to a balancer, behind struct lb_ops.
 */
#include "endpoint.h"
#include "config.h"
#include "lb_leastconn.h"
#include "lb_p2c.h"
#include "lb_rr.h"

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

int endpoint_set_init(struct endpoint_set *set, const struct cfg_service *svc)
{
	memset(set, 0, sizeof *set);
	set->svc = svc;
	set->lb = (unsigned)svc->lb < sizeof lbs / sizeof lbs[0] ? lbs[svc->lb] : NULL;
	if (!set->lb)
		set->lb = &lb_rr; /* config_keys.c (p_lb) accepts no other value */
	if (svc->nendpoints > ENDPOINT_MAX)
		return -1; /* the config refuses more (CFG_MAX_ENDPOINTS) */
	if (pthread_mutex_init(&set->lock, NULL) != 0)
		return -1;
	set->lock_ok = true;
	set->eps = calloc(svc->nendpoints ? svc->nendpoints : 1, sizeof *set->eps);
	if (!set->eps) {
		endpoint_set_clear(set);
		return -1;
	}
	set->n = svc->nendpoints;
	for (unsigned i = 0; i < set->n; i++) {
		set->eps[i].cfg = &svc->endpoints[i];
		set->eps[i].set = set;
	}
	return 0;
}

void endpoint_set_clear(struct endpoint_set *set)
{
	if (set->lock_ok)
		pthread_mutex_destroy(&set->lock);
	free(set->eps);
	memset(set, 0, sizeof *set);
}

int endpoint_pick(struct endpoint_set *set, const struct endpoint_mask *tried, uint64_t rnd,
                  double now)
{
	struct endpoint_mask cand = { { 0 } };
	unsigned ncand = 0;
	for (unsigned i = 0; i < set->n; i++) {
		if (!endpoint_mask_has(tried, i)) {
			endpoint_mask_set(&cand, i);
			ncand++;
		}
	}
	if (ncand == 0)
		return -1;
	return (int)set->lb->pick(set, &cand, rnd, now);
}

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
	double us = secs > 0 ? secs * 1e6 : 0;
	uint32_t sample = us < 4e9 ? (uint32_t)us : 4000000000u;
	if (sample == 0)
		sample = 1; /* 0 means "no sample yet" */
	uint32_t old = __atomic_load_n(avg, __ATOMIC_RELAXED), next;
	do {
		/* Between old and sample, so never 0 once there is one. */
		next = old ? (uint32_t)((int64_t)old + ((int64_t)sample - old) / EWMA_DIV) : sample;
	} while (!__atomic_compare_exchange_n(avg, &old, next, true, __ATOMIC_RELAXED,
	                                      __ATOMIC_RELAXED));
}

void endpoint_attempt_done(struct endpoint_use *u, enum result result, double now)
{
	struct endpoint *ep = u->ep;
	if (!ep || u->connected)
		return;
	double latency = now - u->t_start;
	__atomic_sub_fetch(&ep->attempts, 1, __ATOMIC_RELAXED);
	if (result == RESULT_OK) {
		/* Counted as a connection before the balancer hears of it. */
		__atomic_add_fetch(&ep->conns, 1, __ATOMIC_RELAXED);
		u->connected = true;
		__atomic_store_n(&ep->fails, 0, __ATOMIC_RELAXED);
		ewma_add(&ep->connect_ewma_us, latency);
	} else if (result != RESULT_UNSET) {
		__atomic_add_fetch(&ep->fails, 1, __ATOMIC_RELAXED);
	}
	if (result != RESULT_UNSET)
		__atomic_store_n(&ep->last_result, result, __ATOMIC_RELAXED);
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
		endpoint_attempt_done(u, RESULT_UNSET, now);
		return;
	}
	__atomic_sub_fetch(&u->ep->conns, 1, __ATOMIC_RELAXED);
	u->ep = NULL;
	u->connected = false;
}
