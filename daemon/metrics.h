/*
 * Metrics (metrics.c: the shards and the data path's hooks; metrics_render.c:
 * the renders): counters, gauges and histograms for the admin
 * listener's /metrics (Prometheus text) and /stats (the same, as JSON, for
 * meshctl and the status page).
 *
 * Every counter is named once, in one X-macro list, and kept per worker
 * (a shard each: struct worker's `metrics`), written only by that worker
 * with relaxed atomics and summed on read by whoever renders. The data
 * path takes no lock.
 *
 * Connection metrics follow Istio's TCP metrics: libmesh_tcp_sent_bytes_total
 * (bytes from the service to the caller, Istio's "response" direction),
 * libmesh_tcp_received_bytes_total (caller to service),
 * libmesh_tcp_connections_opened_total, libmesh_tcp_connections_closed_total,
 * labelled reporter ("source": this host called, "destination": this host
 * served), source_principal, destination_service, destination_principal and
 * response_flags (result.h's flag column). Byte counters advance while a
 * connection is open.
 */
#ifndef MESHD_METRICS_H
#define MESHD_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct worker;
struct session;
struct gen;
struct sbuf;

struct metrics_shard;
struct metrics_series;

/* The counters kept per destination service (a small table per shard,
 * keyed by configured service names), named once:
 *	id               JSON key           metric                                  label
 */
/* clang-format off */
#define METRICS_SERVICE_LIST(X) \
	X(ATTEMPTS,         attempts,         "libmesh_connect_attempts_total",       NULL, \
	  "Attempts to reach an endpoint of the service (first attempts and retries).") \
	X(RETRIES,          retries,          "libmesh_connect_retries_total",        NULL, \
	  "Attempts after a connection's first one failed.") \
	X(BUDGET_EXHAUSTED, budget_exhausted, "libmesh_retry_budget_exhausted_total", NULL, \
	  "Retries the service's retry budget refused (the connection failed instead).") \
	X(EJECTIONS,        ejections,        "libmesh_endpoint_ejections_total",     NULL, \
	  "Endpoints of the service ejected after consecutive failures.") \
	X(AUTHZ_ALLOW,      authz_allow,      "libmesh_authorization_total",          "allow", \
	  "Allow-list decisions on calls to a service this host serves.") \
	X(AUTHZ_DENY,       authz_deny,       "libmesh_authorization_total",          "deny", \
	  "Allow-list decisions on calls to a service this host serves.")
/* clang-format on */

enum metrics_svc {
#define METRICS_SVC_ENUM(id, key, metric, decision, help) METRICS_SVC_##id,
	METRICS_SERVICE_LIST(METRICS_SVC_ENUM)
#undef METRICS_SVC_ENUM
		METRICS_SVC_COUNT
};

/* Bound on the labelled series, and on the services, of one shard: beyond
 * it everything new goes to one "overflow" entry (and
 * libmesh_metrics_series_overflow_total counts it). */
#define METRICS_SERIES_MAX 512
/* Bound on the label sets, and on the services, of a render (the shards
 * merged): the first named keep their names for good (sticky, so that
 * overflow never goes down; metrics_render.c), the rest are summed into
 * "overflow". The
 * Prometheus text of that many, with labels of the longest, is at most
 * METRICS_RENDER_MAX bytes (tests/unit/test_metrics.c checks), the
 * ceiling the admin listener gives /metrics. */
#define METRICS_RENDER_MAX_SETS 2048
#define METRICS_RENDER_MAX (32u << 20)

/* A counter kept outside the shards by a module of its own (the DNS
 * listener), rendered as given: one Prometheus series each, consecutive
 * entries of one name in one family. */
struct metrics_extra {
	const char *name;
	const char *label; /* one label pair ("rcode=\"NOERROR\""), or NULL */
	const char *help;
	uint64_t value;
};
#define METRICS_EXTRA_MAX 16

/* What a render reads besides the shards: the caller (admin.c) fills it
 * and holds `gen` (a reference) while rendering. */
struct metrics_process {
	struct worker *w; /* the workers, each with its shard */
	unsigned nw;
	struct gen *gen;   /* the generation in force */
	double start_time; /* meshd's start, seconds since the epoch */
	const char *host;
	struct metrics_extra extra[METRICS_EXTRA_MAX]; /* Prometheus text only */
	unsigned nextra;
};

struct metrics_shard *metrics_shard_new(void);
void metrics_shard_free(struct metrics_shard *sh);

/*
 * Hooks of the data path, each called on the worker that owns the session
 * or link (the shard's only writer); a NULL shard counts nothing.
 *
 * metrics_carried: s reaches the relay. Its series with response_flags "-"
 * counts it opened and open, observes its connect time, and becomes what
 * the relay's byte tallies add to (side[0] read: received, side[1] read:
 * sent), so bytes advance while it is open.
 * metrics_ended: s ends (session_end, after s->result is set): closed in
 * the series of its result's flag, its duration observed; a session that
 * was never carried counts opened there too.
 */
void metrics_carried(struct session *s);
void metrics_ended(struct session *s);
void metrics_service(struct metrics_shard *sh, const char *service, enum metrics_svc what);
/* A link came up (+1) or went (-1), the receiving (inbound) or calling end. */
void metrics_link(struct metrics_shard *sh, bool inbound, int delta);

/* A resolution of a dns: or srv: entry (discover.c), main thread. */
enum metrics_disc_result { METRICS_DISC_OK, METRICS_DISC_EMPTY, METRICS_DISC_FAILED };
#define METRICS_DISC_RESULTS 3
void metrics_discovery(const char *source, enum metrics_disc_result r);

/* A reload was accepted (generation now in force) or rejected. Any thread. */
void metrics_reload(bool accepted, uint64_t generation);

/* Prometheus text format 0.0.4. out->full when it did not fit. */
void metrics_render_prometheus(struct sbuf *out, const struct metrics_process *p);
/* The same numbers as one JSON object (admin.c's /stats). */
void metrics_render_json(struct sbuf *out, const struct metrics_process *p);

#endif
