/*
 * Metrics: see metrics.h. Each worker owns a shard and is its only
 * writer; whoever renders (the admin thread) reads every shard and sums.
 *
 * Why no lock and no atomic read-modify-write: with one writer per
 * counter, a relaxed load and a relaxed store (bump) is exact, and on
 * x86-64 and arm64 it is the same plain load, add and store a
 * non-atomic counter would be; the reader only needs each 64-bit value
 * read whole, which relaxed atomics give. An xadd (lock prefix) per
 * relayed read would cost the data path for nothing.
 *
 * A shard's series and services are appended, never moved or freed
 * before the shard: the writer fills an entry, stores its pointer, then
 * publishes the new count with a release store; a reader takes the count
 * with an acquire load and reads only entries below it. Labels are
 * immutable once published. Each table is bounded (METRICS_SERIES_MAX);
 * what does not fit goes to the shard's overflow entry, whose labels are
 * all "overflow", so hostile peers can grow memory by at most the bound.
 */
#include "metrics_int.h"
#include "worker.h"
#include "session.h"
#include "config.h"
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct labels {
	enum reporter reporter;
	const char *src, *svc, *dst, *flags;
};

/* Process-wide: reloads happen on the main thread, rarely. */
atomic_uint_fast64_t metrics_reloads_ok, metrics_reloads_rejected;
atomic_bool metrics_last_reload_failed;
_Atomic uint64_t metrics_last_reload_us; /* 0: none since start */

static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static inline void gauge_add(_Atomic int64_t *g, int64_t n)
{
	atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull; /* a separator no label holds */
}

static void set_label(char *dst, size_t len, const char *v)
{
	size_t n = strnlen(v, len - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

struct metrics_shard *metrics_shard_new(void)
{
	struct metrics_shard *sh = calloc(1, sizeof *sh);
	if (!sh)
		return NULL;
	memset(sh->sindex, 0xff, sizeof sh->sindex);
	memset(sh->vindex, 0xff, sizeof sh->vindex);
	struct metrics_series *o = &sh->overflow;
	o->reporter = REP_OVERFLOW;
	strcpy(o->src, "overflow");
	strcpy(o->svc, "overflow");
	strcpy(o->dst, "overflow");
	strcpy(o->flags, "overflow");
	strcpy(sh->svc_overflow.name, "overflow");
	return sh;
}

void metrics_shard_free(struct metrics_shard *sh)
{
	if (!sh)
		return;
	unsigned n = atomic_load_explicit(&sh->nseries, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		free(sh->series[i]);
	n = atomic_load_explicit(&sh->nsvc, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		free(sh->svc[i]);
	free(sh);
}

/* Writer side: the series of lb (created if there is room), else the
 * overflow series. Labels longer than a field are cut (they come from
 * session fields of the same size). */
static struct metrics_series *series_get(struct metrics_shard *sh, const struct labels *lb)
{
	char rep[2] = { (char)('0' + lb->reporter), '\0' };
	uint64_t h = fnv(fnv(fnv(fnv(fnv(0xcbf29ce484222325ull, rep), lb->src), lb->svc), lb->dst),
	                 lb->flags);
	unsigned n = atomic_load_explicit(&sh->nseries, memory_order_relaxed);
	unsigned slot = (unsigned)h & (INDEX_SLOTS - 1);
	for (; sh->sindex[slot] != -1; slot = (slot + 1) & (INDEX_SLOTS - 1)) {
		struct metrics_series *x = sh->series[sh->sindex[slot]];
		if (x->hash == h && x->reporter == lb->reporter &&
		    strncmp(x->src, lb->src, LABEL_MAX - 1) == 0 &&
		    strncmp(x->svc, lb->svc, sizeof x->svc - 1) == 0 &&
		    strncmp(x->dst, lb->dst, LABEL_MAX - 1) == 0 &&
		    strcmp(x->flags, lb->flags) == 0)
			return x;
	}
	struct metrics_series *x = n < METRICS_SERIES_MAX ? calloc(1, sizeof *x) : NULL;
	if (!x) {
		bump(&sh->overflowed, 1);
		return &sh->overflow;
	}
	x->hash = h;
	x->reporter = lb->reporter;
	set_label(x->src, sizeof x->src, lb->src);
	set_label(x->svc, sizeof x->svc, lb->svc);
	set_label(x->dst, sizeof x->dst, lb->dst);
	set_label(x->flags, sizeof x->flags, lb->flags);
	sh->series[n] = x;
	sh->sindex[slot] = (int16_t)n;
	atomic_store_explicit(&sh->nseries, n + 1, memory_order_release);
	return x;
}

static struct svc_entry *svc_get(struct metrics_shard *sh, const char *name)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, name);
	unsigned n = atomic_load_explicit(&sh->nsvc, memory_order_relaxed);
	unsigned slot = (unsigned)h & (INDEX_SLOTS - 1);
	for (; sh->vindex[slot] != -1; slot = (slot + 1) & (INDEX_SLOTS - 1)) {
		struct svc_entry *x = sh->svc[sh->vindex[slot]];
		if (x->hash == h && strncmp(x->name, name, sizeof x->name - 1) == 0)
			return x;
	}
	struct svc_entry *x = n < METRICS_SERIES_MAX ? calloc(1, sizeof *x) : NULL;
	if (!x) {
		bump(&sh->overflowed, 1);
		return &sh->svc_overflow;
	}
	x->hash = h;
	set_label(x->name, sizeof x->name, name);
	sh->svc[n] = x;
	sh->vindex[slot] = (int16_t)n;
	atomic_store_explicit(&sh->nsvc, n + 1, memory_order_release);
	return x;
}

static void observe(struct hist *h, const double *le, unsigned nb, double secs)
{
	if (!(secs > 0))
		secs = 0;
	unsigned i = 0;
	while (i < nb - 1 && secs > le[i])
		i++;
	bump(&h->b[i], 1);
	bump(&h->sum_ns, (uint64_t)(secs * 1e9));
}

static const char *or_unknown(const char *v)
{
	return v && *v ? v : "unknown";
}

/* The labels of s as the spec of issue 11 gives them: inbound, a peer
 * names the service, so only a configured one (s->svc) is a label. */
static void session_labels(const struct session *s, const char *flags, struct labels *lb)
{
	lb->src = or_unknown(s->source);
	lb->flags = flags;
	if (s->kind == SESS_OUTBOUND) {
		lb->reporter = REP_SOURCE;
		lb->svc = or_unknown(s->svc_name);
		lb->dst = or_unknown(s->peer);
	} else {
		lb->reporter = REP_DESTINATION;
		lb->svc = s->svc ? s->svc->name : "unknown";
		lb->dst = s->svc ? or_unknown(s->svc->peer_spiffe) : "unknown";
	}
}

void metrics_carried(struct session *s)
{
	struct metrics_shard *sh = s->m ? s->m->metrics : NULL;
	if (!sh || s->mseries)
		return;
	struct labels lb;
	session_labels(s, result_flag(RESULT_OK), &lb);
	struct metrics_series *x = series_get(sh, &lb);
	s->mseries = x;
	bump(&x->c[SC_OPENED], 1);
	gauge_add(&x->open, 1);
	observe(&x->h[0], connect_le, CONNECT_NB, s->t_connected - s->t_start);
	s->relay.side[0].tally = &x->c[SC_RECEIVED];
	s->relay.side[1].tally = &x->c[SC_SENT];
}

void metrics_ended(struct session *s)
{
	struct metrics_shard *sh = s->m ? s->m->metrics : NULL;
	if (!sh)
		return;
	const char *flag = result_flag(s->result);
	struct labels lb;
	session_labels(s, flag ? flag : result_flag(RESULT_OK), &lb);
	struct metrics_series *x = series_get(sh, &lb);
	if (s->mseries) {
		gauge_add(&s->mseries->open, -1);
		s->relay.side[0].tally = s->relay.side[1].tally = NULL;
	} else {
		bump(&x->c[SC_OPENED], 1);
	}
	s->mseries = NULL;
	bump(&x->c[SC_CLOSED], 1);
	observe(&x->h[1], duration_le, DURATION_NB, ev_time() - s->t_start);
}

void metrics_service(struct metrics_shard *sh, const char *service, enum metrics_svc what)
{
	if (!sh || (unsigned)what >= METRICS_SVC_COUNT)
		return;
	bump(&svc_get(sh, or_unknown(service))->c[what], 1);
}

void metrics_link(struct metrics_shard *sh, bool inbound, int delta)
{
	if (sh)
		gauge_add(&sh->links[inbound ? 1 : 0], delta);
}

uint64_t metrics_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Process-wide too: discovery's outcomes arrive on the main thread; the
 * render reads them under the lock. Sticky names, the rest in "overflow". */
pthread_mutex_t metrics_disc_lock = PTHREAD_MUTEX_INITIALIZER;
struct metrics_disc metrics_disc[METRICS_DISC_MAX + 1];
unsigned metrics_ndisc;

void metrics_discovery(const char *source, enum metrics_disc_result r)
{
	pthread_mutex_lock(&metrics_disc_lock);
	unsigned i = 0;
	while (i < metrics_ndisc && strcmp(metrics_disc[i].source, source) != 0)
		i++;
	if (i == metrics_ndisc) {
		if (metrics_ndisc < METRICS_DISC_MAX) {
			snprintf(metrics_disc[i].source, sizeof metrics_disc[i].source, "%s",
			         source);
			metrics_ndisc++;
		} else {
			i = METRICS_DISC_MAX;
			snprintf(metrics_disc[i].source, sizeof metrics_disc[i].source, "overflow");
		}
	}
	if ((unsigned)r < METRICS_DISC_RESULTS)
		metrics_disc[i].n[r]++;
	pthread_mutex_unlock(&metrics_disc_lock);
}

void metrics_reload(bool accepted, uint64_t generation)
{
	(void)generation; /* the render reads the generation in force */
	atomic_fetch_add_explicit(accepted ? &metrics_reloads_ok : &metrics_reloads_rejected, 1,
	                          memory_order_relaxed);
	atomic_store(&metrics_last_reload_failed, !accepted);
	atomic_store(&metrics_last_reload_us, metrics_wall_us());
}
