/*
 * Retry budget (pure): the extra attempts of a service's connections are at
 * most `ratio` of its first attempts in the last BUDGET_WINDOW seconds,
 * plus `min_per_s` per second of the window, so that an outage does not
 * multiply the load on what is left (Linkerd's retry budget: 20 % plus
 * 10/s over 10 s; Envoy's retry_budget). A retry is counted when it is
 * decided, before its backoff, so connections waiting to retry count too.
 *
 * No clock, no locks: callers pass the time and serialize (endpoint.c
 * holds the service's lock).
 */
#ifndef MESHD_BUDGET_H
#define MESHD_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#define BUDGET_WINDOW 10 /* seconds, in one-second buckets */

struct budget {
	int64_t head; /* the second of the newest bucket */
	uint32_t first[BUDGET_WINDOW];
	uint32_t retry[BUDGET_WINDOW];
};

/* A connection's first attempt. */
void budget_first(struct budget *b, double now);

/* May one more extra attempt go now? Counts it when it may. *firsts and
 * *retries (may be NULL) say what the window held, for the message. */
bool budget_retry(struct budget *b, double ratio, unsigned min_per_s, double now, unsigned *firsts,
                  unsigned *retries);

#endif
