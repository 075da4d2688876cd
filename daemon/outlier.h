/*
 * Outlier ejection (pure): an endpoint that fails `consecutive` attempts in
 * a row is taken out of its service's rotation for base x (times ejected),
 * capped at max; it comes back when that time is over and its next attempt
 * succeeds (a failure then ejects it again, for longer). At most
 * max_percent of a service's endpoints are ejected at once, and always at
 * least one may be. The count of ejections decays while the endpoint stays
 * healthy: one step for each `base` since it last returned. After Envoy's
 * outlier detection (consecutive_5xx, base_ejection_time,
 * max_ejection_time, max_ejection_percent), at L4.
 *
 * No clock, no locks: callers pass the time and serialize the outcomes of
 * one service (endpoint.c holds the service's lock).
 */
#ifndef MESHD_OUTLIER_H
#define MESHD_OUTLIER_H

#include <stdbool.h>
#include <stdint.h>

struct outlier_cfg {
	unsigned consecutive; /* failures in a row that eject; 0: never eject */
	double base;          /* seconds, the first ejection */
	double max;           /* seconds, the longest ejection */
	unsigned max_percent; /* of the service's endpoints ejected at once */
};

/* One endpoint's state. Read without the lock by the balancer's pick
 * (relaxed atomics): until_us says whether it may be picked. */
struct outlier {
	unsigned fails;        /* failed attempts in a row */
	unsigned ejections;    /* times ejected, decayed while healthy */
	uint64_t until_us;     /* 0: in rotation; else ejected until then, and
	                     * on probation after it until an attempt succeeds */
	uint64_t last_fail_us; /* when it last failed (read by pick too) */
	double returned;       /* when it last came back (0: never ejected) */
	double out_since;      /* when this run of ejections began */
};

enum outlier_event {
	OUTLIER_NONE = 0,
	OUTLIER_EJECTED, /* taken out; *secs says for how long */
	OUTLIER_RETURNED /* back in rotation */
};

/* How many of n endpoints may be ejected at once: max_percent of them,
 * at least one (an ejected single endpoint fails its callers fast). */
unsigned outlier_cap(const struct outlier_cfg *c, unsigned n);

/* May the endpoint be picked at `now` (in rotation, or its ejection time
 * is over: its next attempt decides). */
bool outlier_available(const struct outlier *o, double now);

/* Is it ejected (or on probation) at all: counts against the cap. */
bool outlier_ejected(const struct outlier *o);

/* One attempt's outcome (ok: it connected; else a failure of the
 * endpoint). ejected_now: how many of the service's n endpoints are
 * ejected right now. Returns what changed; *secs is the ejection's length
 * for OUTLIER_EJECTED, the time it was out for OUTLIER_RETURNED. */
enum outlier_event outlier_outcome(struct outlier *o, const struct outlier_cfg *c, bool ok,
                                   double now, unsigned ejected_now, unsigned n, double *secs);

#endif
