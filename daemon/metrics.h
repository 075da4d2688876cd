/*
 * Metrics (metrics.c): counters, gauges and histograms for the admin
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

/* What a render reads besides the shards: the caller (admin.c) fills it
 * and holds `gen` (a reference) while rendering. */
struct metrics_process {
	struct worker *w; /* the workers, each with its shard */
	unsigned nw;
	struct gen *gen;   /* the generation in force */
	double start_time; /* meshd's start, seconds since the epoch */
	const char *host;
};

struct metrics_shard *metrics_shard_new(void);
void metrics_shard_free(struct metrics_shard *sh);

/* A reload was accepted (generation now in force) or rejected. Any thread. */
void metrics_reload(bool accepted, uint64_t generation);

/* Prometheus text format 0.0.4. out->full when it did not fit. */
void metrics_render_prometheus(struct sbuf *out, const struct metrics_process *p);
/* The same numbers as one JSON object (admin.c's /stats). */
void metrics_render_json(struct sbuf *out, const struct metrics_process *p);

#endif
