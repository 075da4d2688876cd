/*
 * Endpoints from DNS (discover.c): the dns:NAME:PORT and srv:NAME entries of
 * the services' endpoints, resolved on a thread of their own (a worker's
 * loop never waits on DNS), each asked again when its answer's TTL (held to
 * [dns_ttl_min, dns_ttl_max]) is over, after a failure with a backoff from
 * dns_ttl_min. What was found goes to the main thread (ev_async), which
 * keeps the last good answer of each entry: a failed resolution (timeout,
 * SERVFAIL, REFUSED, an answer that does not parse) keeps it and says so
 * (one log line and one "discovery" record when the failures start, log
 * lines at 2, 4, 8 ... in a row, and one when it resolves again); an
 * empty answer (NXDOMAIN, or no records) is applied: the name has no
 * endpoints now, as Envoy's STRICT_DNS clusters do.
 *
 *   main: discover_configure (start, reload) ---> thread: resolve when due
 *   main: changed(arg) <--- discover_collect <--- ev_async <--- results
 *
 * The main thread builds a generation from what discover_found says
 * (gen_derive) when a result changes an entry's endpoints, at most one a
 * second however many entries change (a server that changes every answer
 * makes no more).
 */
#ifndef MESHD_DISCOVER_H
#define MESHD_DISCOVER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct discover;

/* What the main thread is told: an entry's endpoints changed, build a
 * generation (discover_found has the new ones). */
typedef void discover_changed_fn(void *arg);

/* The thread and its async watcher on main_loop, or NULL with err. */
struct discover *discover_new(struct ev_loop *main_loop, discover_changed_fn *changed, void *arg,
                              char *err, size_t errlen);
/* The entries, resolvers and bounds of c (start and each reload): answers
 * of entries c still has are kept; every entry is asked again now. */
void discover_configure(struct discover *d, const struct config *c);
/* At start: wait until each entry has been resolved once, or `secs`. */
void discover_wait_first(struct discover *d, double secs);
/* Take the thread's results (log, records, metrics): true when an entry
 * changed its endpoints. The async watcher runs it and calls `changed`;
 * start-up calls it directly. */
bool discover_collect(struct discover *d);
/* config_found_fn over the last good answers (arg: the struct discover). */
unsigned discover_found(void *arg, const char *source, const struct cfg_found **found);
/* Stop the thread (a question in flight is abandoned) and free it all. */
void discover_free(struct discover *d);

/* meshd -t: each entry of c resolved once, now, one line each into
 * *notes ("discovery: srv:... via 10.0.0.53:53: 3 endpoints, ttl 5s") or
 * *warns (a failure: a warning, never an error). */
void discover_check(const struct config *c, char **notes, char **warns);

#endif
