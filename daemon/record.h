/*
 * Traffic records (record.c): one JSON line per connection's end, live
 * ones while it is open (open, and progress every interval from the
 * worker's queue), and the aggregation of refusal floods. Every record is one line of valid UTF-8
 * JSON whatever bytes a program name, a peer's header or a certificate put
 * in a field (json.h).
 */
#ifndef MESHD_RECORD_H
#define MESHD_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

struct worker;
struct session;

/* One JSON line for the session's end */
void record_close(const struct session *s);
/* The session reached the relay: its "open" record (when open_records is
 * on in its generation) and its place at the end of its worker's progress
 * queue. now: the monotonic clock (session_clock), as for record_progress. */
void record_open(struct session *s, double now);
/* Out of the progress queue, at its end (a no-op when not in it). */
void record_unqueue(struct session *s);
/* A "progress" record, with the bytes since its last one, for each
 * session of the queue whose last record is `interval` seconds or more
 * old at `now` (monotonic seconds), oldest first and at most `limit`; each
 * goes to the end of the queue. Returns how many were written: `limit`
 * means there may be more due. */
unsigned record_progress(struct worker *m, double now, double interval, unsigned limit);
/* One JSON line for a change in an endpoint's health: event "eject" (for
 * secs, after `failures` in a row, the last with result) or "return"
 * (after secs out). At most one per endpoint per ejection. */
void record_endpoint(const char *host, const char *event, const char *service, const char *endpoint,
                     enum result result, unsigned failures, unsigned ejections, double secs);
/* One JSON line for what discovery found for one of service's dns: or
 * srv: entries (source): result "ok" (the endpoints now in force, n of
 * them, asked again after ttl seconds: the answer's TTL held to
 * [dns_ttl_min, dns_ttl_max]), "empty" (NXDOMAIN or no records:
 * none from this entry) or "failed" (error: the last answer stays). */
void record_discovery(const char *host, const char *service, const char *source,
                      const char *const *endpoints, unsigned n, unsigned ttl, const char *result,
                      const char *error);
/* A refusal (a session that ended before the relay): false when its
 * source has used its burst for this window (it is counted, and written
 * later as one "aggregate" record). */
bool record_admit(struct worker *m, const struct session *s);
/* Write the aggregates of windows that are over (all: every pending one). */
void record_flush_floods(struct worker *m, bool all);
void record_floods_free(struct worker *m);

#endif
