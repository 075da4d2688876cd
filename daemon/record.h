/*
 * Traffic records (record.c): one JSON line per connection, and the
 * aggregation of refusal floods. Every record is one line of valid UTF-8
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
/* One JSON line for a change in an endpoint's health: event "eject" (for
 * secs, after `failures` in a row, the last with result) or "return"
 * (after secs out). At most one per endpoint per ejection. */
void record_endpoint(const char *host, const char *event, const char *service, const char *endpoint,
                     enum result result, unsigned failures, unsigned ejections, double secs);
/* A refusal (a session that ended before the relay): false when its
 * source has used its burst for this window (it is counted, and written
 * later as one "aggregate" record). */
bool record_admit(struct worker *m, const struct session *s);
/* Write the aggregates of windows that are over (all: every pending one). */
void record_flush_floods(struct worker *m, bool all);
void record_floods_free(struct worker *m);

#endif
