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
 * Pure: no I/O, no clock (callers pass the time), no logging.
 */
#ifndef MESHD_ENDPOINT_H
#define MESHD_ENDPOINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
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

/* One endpoint of a service as this generation sees it. Counters and the
 * recent outcome are read and written with relaxed atomics: they are what
 * the balancer knows, and nothing else is ordered by them. */
struct endpoint {
	const struct cfg_endpoint *cfg; /* address, weight, local */
	struct endpoint_set *set;       /* the set it belongs to */
	/* in flight */
	unsigned attempts; /* attempts begun and not done */
	unsigned conns;    /* connections carried through it now */
	/* recent outcome, of the attempts that said something about it */
	enum result last_result;  /* RESULT_UNSET before one */
	unsigned fails;           /* attempts in a row that did not connect */
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
 * the connection tried and what is not eligible); rnd is a fresh random
 * number, now the time in seconds. attempt_start and attempt_done (may be
 * NULL) hear about each attempt after endpoint.c has counted it: result is
 * the attempt's result, or RESULT_UNSET when the attempt ended without a
 * word on the endpoint (aborted, a reused link gone stale); latency is in
 * seconds since the attempt began. */
struct lb_ops {
	const char *name; /* as in the config's lb = */
	unsigned (*pick)(struct endpoint_set *set, const struct endpoint_mask *cand, uint64_t rnd,
	                 double now);
	void (*attempt_start)(struct endpoint *ep, double now);
	void (*attempt_done)(struct endpoint *ep, enum result result, double latency, double now);
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
	struct endpoint *eps;
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

/* The set of svc with the balancer its config names, or -1 (out of
 * memory). endpoint_set_clear frees what init allocated. */
int endpoint_set_init(struct endpoint_set *set, const struct cfg_service *svc);
void endpoint_set_clear(struct endpoint_set *set);

/* The endpoint for the next attempt (an index in set->eps), or -1 when
 * every endpoint is in tried. rnd: a fresh random number; now: seconds. */
int endpoint_pick(struct endpoint_set *set, const struct endpoint_mask *tried, uint64_t rnd,
                  double now);

/* An attempt on set->eps[i] begins at `now` (u must be free: zeroed or
 * released). */
void endpoint_attempt_start(struct endpoint_use *u, struct endpoint_set *set, unsigned i,
                            double now);
/* The attempt in u is done with `result` (see struct lb_ops; RESULT_OK: u now
 * holds a connection). Nothing when u holds no attempt, so that a path
 * which already reported does not report twice. */
void endpoint_attempt_done(struct endpoint_use *u, enum result result, double now);
/* The connection owning u ends: an attempt still in flight is done without
 * a word on the endpoint, a connection is given back. u is free after. */
void endpoint_release(struct endpoint_use *u, double now);

#endif
