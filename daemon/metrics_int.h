/*
 * What metrics.c (the writers: each worker its shard) and metrics_render.c
 * (the reader: the admin thread summing the shards for /metrics and
 * /stats) share: the shard's layout, the series' counters, the histogram
 * bounds, the process-wide reload counters. Private to those two files;
 * the rest of meshd sees metrics.h. The rules of publishing and reading
 * are at the top of metrics.c.
 */
#ifndef MESHD_METRICS_INT_H
#define MESHD_METRICS_INT_H

#include "metrics.h"
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* The counters of a labelled TCP series (Istio's names; sent is the
 * service's bytes to the caller, received the caller's to the service).
 *	id        JSON key         metric */
/* clang-format off */
#define SERIES_LIST(X) \
	X(OPENED,   opened,         "libmesh_tcp_connections_opened_total", \
	  "Connections opened (carried, or failed before they were; a failed one counts at its end).") \
	X(CLOSED,   closed,         "libmesh_tcp_connections_closed_total", \
	  "Connections closed, labelled with how they ended (response_flags).") \
	X(SENT,     sent_bytes,     "libmesh_tcp_sent_bytes_total", \
	  "Bytes from the service to the caller, counted while the connection is open.") \
	X(RECEIVED, received_bytes, "libmesh_tcp_received_bytes_total", \
	  "Bytes from the caller to the service, counted while the connection is open.")
/* clang-format on */

enum {
#define SERIES_ENUM(id, key, metric, help) SC_##id,
	SERIES_LIST(SERIES_ENUM)
#undef SERIES_ENUM
		SC_COUNT
};

/* Histogram bounds (le), +Inf implied. */
static const double connect_le[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	                             0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
static const double duration_le[] = { 0.01, 0.1, 1, 10, 60, 300, 1800, 3600 };
#define CONNECT_NB (sizeof connect_le / sizeof connect_le[0] + 1)
#define DURATION_NB (sizeof duration_le / sizeof duration_le[0] + 1)

/* Per bucket, not cumulative (the render sums); sum in nanoseconds. */
struct hist {
	_Atomic uint64_t b[CONNECT_NB];
	_Atomic uint64_t sum_ns;
};

enum reporter { REP_SOURCE, REP_DESTINATION, REP_OVERFLOW };

#define LABEL_MAX 160

struct metrics_series {
	uint64_t hash;
	enum reporter reporter;
	char src[LABEL_MAX], svc[CFG_NAME_MAX + 1], dst[LABEL_MAX], flags[16];
	_Atomic uint64_t c[SC_COUNT];
	_Atomic int64_t open; /* a gauge: carried here, not yet ended */
	struct hist h[2];     /* connect, duration */
};

struct svc_entry {
	uint64_t hash;
	char name[CFG_NAME_MAX + 1];
	_Atomic uint64_t c[METRICS_SVC_COUNT];
};

#define INDEX_SLOTS 1024 /* > 2 * METRICS_SERIES_MAX: probes stay short */

struct metrics_shard {
	_Atomic unsigned nseries;
	struct metrics_series *series[METRICS_SERIES_MAX];
	struct metrics_series overflow;
	int16_t sindex[INDEX_SLOTS]; /* writer only: slot -> series, -1 empty */
	_Atomic unsigned nsvc;
	struct svc_entry *svc[METRICS_SERIES_MAX];
	struct svc_entry svc_overflow;
	int16_t vindex[INDEX_SLOTS];
	_Atomic uint64_t overflowed; /* libmesh_metrics_series_overflow_total */
	_Atomic int64_t links[2];    /* out, in */
};

/* Process-wide: reloads happen on the main thread, rarely. */
/* Discovery's outcomes per dns:/srv: entry (metrics_discovery). */
#define METRICS_DISC_MAX 128
struct metrics_disc {
	char source[272];
	uint64_t n[METRICS_DISC_RESULTS];
};
extern pthread_mutex_t metrics_disc_lock;
extern struct metrics_disc metrics_disc[METRICS_DISC_MAX + 1];
extern unsigned metrics_ndisc;
extern atomic_uint_fast64_t metrics_reloads_ok, metrics_reloads_rejected;
extern atomic_bool metrics_last_reload_failed;
extern _Atomic uint64_t metrics_last_reload_us; /* 0: none since start */

static inline uint64_t rd(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* The wall clock in microseconds since the epoch. */
uint64_t metrics_wall_us(void);

/* Forget which label sets and services renders have named (metrics_render.c;
 * for the unit tests, which render shards of their own one after another). */
void metrics_render_forget(void);

#endif
