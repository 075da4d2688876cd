/*
 * Where the endpoint is chosen. Each service of a config generation has an
 * endpoint set: its endpoints with what this host knows of them, and the
 * balancer (struct lb_ops) that picks among them. The set lives in the
 * generation (gen.c builds it, frees it with the generation) and is shared
 * by every worker, so its counters are atomics and what a balancer must
 * change consistently is changed under the set's lock.
 *
 * Every attempt a connection makes is reported here, once when it begins
 * and once when it is done, whatever ended it, so the balancer learns from
 * outcomes (nginx's peer.get / peer.free, HAProxy's lb_ops) instead of the
 * caller's state machine deciding about endpoints.
 *
 *   endpoint_pick -> endpoint_attempt_start -> endpoint_attempt_done
 *                                                 | "ok": a connection
 *                                                 v
 *                                              endpoint_release (session end)
 *
 * Health is kept here too, for every balancer: outlier ejection
 * (outlier.h), failover tiers (the '|' groups of `endpoints`) and the
 * service's retry budget (budget.h). It outlives a generation: the health
 * of "service api, endpoint 10.0.0.2:15443" is one record shared by every
 * generation that has that endpoint, so a reload does not forgive an
 * ejected endpoint or refill a spent budget.
 *
 * Pure: no I/O, no clock (callers pass the time), no logging: what
 * happened (an ejection, a return) is handed back to the caller to say.
 */
#ifndef MESHD_ENDPOINT_H
#define MESHD_ENDPOINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "outlier.h"
#include "budget.h"
#include "result.h"

struct endpoint_set;

/* Endpoints one service may have (the config refuses more: CFG_MAX_ENDPOINTS),
 * so that a set of them is a fixed bit mask. */
#define ENDPOINT_MAX 256

/* A set of endpoints of one service, by index: the ones a connection
 * tried, the candidates a balancer may pick from. */
struct endpoint_mask {
	uint64_t bits[ENDPOINT_MAX / 64];
};

static inline bool endpoint_mask_has(const struct endpoint_mask *m, unsigned i)
{
	return i < ENDPOINT_MAX && (m->bits[i / 64] >> (i % 64) & 1);
}

static inline void endpoint_mask_set(struct endpoint_mask *m, unsigned i)
{
	if (i < ENDPOINT_MAX)
		m->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void endpoint_mask_clear(struct endpoint_mask *m, unsigned i)
{
	if (i < ENDPOINT_MAX)
		m->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* What this host knows of one endpoint of a service, kept across
 * generations (one per service name and endpoint text, reference counted
 * by the sets that have it). The outlier state changes under its
 * service's lock; pick reads it with relaxed atomics. */
struct endpoint_health;
/* One service's health, across generations: the lock for its endpoints'
 * outlier state, and its retry budget. */
struct service_health;

/* One endpoint of a service as this generation sees it. Counters and the
 * recent outcome are read and written with relaxed atomics: they are what
 * the balancer knows, and nothing else is ordered by them. */
struct endpoint {
	const struct cfg_endpoint *cfg; /* address, weight, local, tier */
	struct endpoint_set *set;       /* the set it belongs to */
	struct endpoint_health *health; /* outlier state, shared across generations */
	/* in flight */
	unsigned attempts; /* attempts begun and not done */
	unsigned conns;    /* connections carried through it now */
	/* recent outcome, of the attempts that said something about it */
	enum result last_result;  /* RESULT_UNSET before one */
	uint32_t connect_ewma_us; /* connect latency EWMA, microseconds; 0 before a success */
	/* balancer state: what a strategy keeps per endpoint, written only by
	 * that strategy and under set->lock (readers without the lock load the
	 * doubles with relaxed atomics) */
	int64_t rr_current; /* lb_rr: smooth weighted round robin's current weight */
	double peak_ewma;   /* lb_p2c: connect latency estimate, seconds; 0: never measured */
	double peak_stamp;  /* lb_p2c: when it was last sampled (seconds, as `now`) */
};

/* A balancer. pick returns the index in set->eps of the endpoint for the
 * next attempt, one of cand (never empty: endpoint.c has taken out what
 * the connection tried and what is not eligible: ejected, or in a later
 * failover tier than one with a healthy endpoint); rnd is a fresh random
 * number, now the time in seconds. attempt_start and attempt_done (may be
 * NULL) hear about each attempt after endpoint.c has counted it: result is
 * the attempt's result, or RESULT_UNSET when the attempt ended without a
 * word on the endpoint (aborted, a reused link gone stale); latency is in
 * seconds since the attempt began. returned (may be NULL): the endpoint
 * came back from an ejection; forget what its failures taught. */
struct lb_ops {
	const char *name; /* as in the config's lb = */
	unsigned (*pick)(struct endpoint_set *set, const struct endpoint_mask *cand, uint64_t rnd,
	                 double now);
	void (*attempt_start)(struct endpoint *ep, double now);
	void (*attempt_done)(struct endpoint *ep, enum result result, double latency, double now);
	void (*returned)(struct endpoint *ep, double now);
};

/* One service's endpoints (in config order) and its balancer. */
struct endpoint_set {
	const struct cfg_service *svc;
	const struct lb_ops *lb;
	/* Serializes the balancer state that must change as one (lb_rr's
	 * cycle, one endpoint's latency estimate); held for a few dozen
	 * instructions, never across a call out of the balancer. */
	pthread_mutex_t lock;
	bool lock_ok; /* lock initialized (endpoint_set_clear may see a zeroed set) */
	unsigned n;
	unsigned ntiers; /* failover tiers: 1 + the highest cfg->tier */
	struct endpoint *eps;
	struct service_health *health;
	struct outlier_cfg outlier; /* from svc */
};

/* An endpoint's weight as a balancer uses it: the config's, at least 1. */
static inline uint64_t endpoint_weight(const struct endpoint *ep)
{
	return ep->cfg->weight ? ep->cfg->weight : 1;
}

/* The next of a sequence of random numbers that starts from the one a
 * pick is given (splitmix64), for a balancer that needs more than one. */
static inline uint64_t endpoint_rnd_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* One connection's use of an endpoint: the attempt in flight, then, when
 * it connected, the connection. Zeroed: none. */
struct endpoint_use {
	struct endpoint *ep; /* NULL: none */
	double t_start;      /* when the attempt began */
	bool connected;      /* ep->conns counts this one */
};

/* What an attempt's outcome changed in its endpoint's health, for the
 * caller to log and record. kind OUTLIER_NONE: nothing. */
struct endpoint_event {
	enum outlier_event kind;
	const struct endpoint *ep;
	unsigned failures;  /* EJECTED: the failures in a row that did it */
	unsigned ejections; /* times ejected, this one included */
	double secs;        /* EJECTED: for how long; RETURNED: how long it was out */
	enum result result; /* EJECTED: the last failure */
};

/* The set of svc with the balancer its config names, or -1 (out of
 * memory). endpoint_set_clear frees what init allocated. Both may run on
 * any thread (a generation is freed by whoever drops it last). */
int endpoint_set_init(struct endpoint_set *set, const struct cfg_service *svc);
void endpoint_set_clear(struct endpoint_set *set);

/* The endpoint for the next attempt (an index in set->eps), or -1 when
 * every one is in tried. Healthy endpoints of the first tier that has one
 * come first; then, when none is left untried, any that is not ejected;
 * then the ejected ones (a connection with no other choice still gets
 * the endpoint's own answer). An endpoint whose ejection time is over
 * gets the next attempt (one at a time): it returns when that attempt
 * succeeds. rnd: a fresh random number; now: seconds. */
int endpoint_pick(struct endpoint_set *set, const struct endpoint_mask *tried, uint64_t rnd,
                  double now);

/* Failed attempts in a row of the endpoint (its health's count, shared
 * across generations; 0 again after a success or an ejection). */
unsigned endpoint_fails(const struct endpoint *ep);

/* Endpoints of the set ejected at `now`, for the message when none is
 * left. */
unsigned endpoint_ejected(const struct endpoint_set *set, double now);

/* An attempt on set->eps[i] begins at `now` (u must be free: zeroed or
 * released). */
void endpoint_attempt_start(struct endpoint_use *u, struct endpoint_set *set, unsigned i,
                            double now);
/* The attempt in u is done with `result` (see struct lb_ops; RESULT_OK: u now
 * holds a connection). Nothing when u holds no attempt, so that a path
 * which already reported does not report twice. ev (may be NULL) says
 * what it changed in the endpoint's health. */
void endpoint_attempt_done(struct endpoint_use *u, enum result result, double now,
                           struct endpoint_event *ev);
/* The connection owning u ends: an attempt still in flight is done without
 * a word on the endpoint, a connection is given back. u is free after. */
void endpoint_release(struct endpoint_use *u, double now);

/* What the admin API shows of set->eps[i] at `now` (session_clock's
 * seconds): its outlier state, copied under its service's lock, and the
 * counters. state: "healthy", "failing" (failures in a row, not ejected),
 * "ejected" (for ejected_for more seconds) or "probing" (its ejection is
 * over; the next attempt decides). */
struct endpoint_view {
	const char *state;
	double ejected_for;
	unsigned ejections, fails, in_flight, conns;
	double ewma_ms;          /* 0: never connected */
	enum result last_result; /* RESULT_UNSET: none yet */
};
void endpoint_view(struct endpoint_set *set, unsigned i, double now, struct endpoint_view *v);

/* Retry budget of the set's service: a connection's first attempt, and
 * whether it may make one more (counted when it may). When not, why says
 * what the window held. */
void endpoint_first_attempt(struct endpoint_set *set, double now);
bool endpoint_retry_allowed(struct endpoint_set *set, double now, char *why, size_t whylen);

#endif
