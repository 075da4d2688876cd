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
#include "metrics.h"
#include "gen.h"
#include "worker.h"
#include "session.h"
#include "config.h"
#include "tls.h"
#include "log.h"
#include "sbuf.h"
#include "version.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct counter_row {
	const char *key, *metric, *help;
};

static const struct counter_row series_rows[SC_COUNT] = {
#define SERIES_ROW(id, key, metric, help) [SC_##id] = { #key, metric, help },
	SERIES_LIST(SERIES_ROW)
#undef SERIES_ROW
};

static const struct svc_row {
	const char *key, *metric, *decision, *help;
} svc_rows[METRICS_SVC_COUNT] = {
#define SVC_ROW(id, key, metric, decision, help) \
	[METRICS_SVC_##id] = { #key, metric, decision, help },
	METRICS_SERVICE_LIST(SVC_ROW)
#undef SVC_ROW
};

/* Histogram bounds (le), +Inf implied. */
static const double connect_le[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	                             0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
static const double duration_le[] = { 0.01, 0.1, 1, 10, 60, 300, 1800, 3600 };
#define CONNECT_NB (sizeof connect_le / sizeof connect_le[0] + 1)
#define DURATION_NB (sizeof duration_le / sizeof duration_le[0] + 1)

struct hist_def {
	const char *key, *metric, *help;
	const double *le;
	unsigned nb; /* buckets, +Inf included */
};

static const struct hist_def hist_defs[2] = {
	{ "connect_seconds", "libmesh_tcp_connect_duration_seconds",
	  "Time from accepting a connection to its path being up (carried connections).",
	  connect_le, CONNECT_NB },
	{ "duration_seconds", "libmesh_tcp_connection_duration_seconds",
	  "How long connections lasted, observed at their close.", duration_le, DURATION_NB },
};

/* Per bucket, not cumulative (the render sums); sum in nanoseconds. */
struct hist {
	_Atomic uint64_t b[CONNECT_NB];
	_Atomic uint64_t sum_ns;
};

enum reporter { REP_SOURCE, REP_DESTINATION, REP_OVERFLOW };
static const char *const reporter_word[] = { "source", "destination", "overflow" };

#define LABEL_MAX 160

struct labels {
	enum reporter reporter;
	const char *src, *svc, *dst, *flags;
};

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
static atomic_uint_fast64_t reloads_ok, reloads_rejected;
static atomic_bool last_reload_failed;
static _Atomic uint64_t last_reload_us; /* 0: none since start */

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

static inline uint64_t rd(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
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

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void metrics_reload(bool accepted, uint64_t generation)
{
	(void)generation; /* the render reads the generation in force */
	atomic_fetch_add_explicit(accepted ? &reloads_ok : &reloads_rejected, 1,
	                          memory_order_relaxed);
	atomic_store(&last_reload_failed, !accepted);
	atomic_store(&last_reload_us, wall_us());
}

/* ------------------------------------------------------------- reading */

/* One series summed over the shards. */
struct agg {
	const struct metrics_series *key; /* labels (the first shard's entry) */
	uint64_t c[SC_COUNT];
	int64_t open;
	uint64_t b[2][CONNECT_NB];
	uint64_t sum_ns[2];
};

struct svc_agg {
	const char *name;
	uint64_t c[METRICS_SVC_COUNT];
};

struct view {
	struct agg *s;
	size_t ns;
	struct svc_agg *v;
	size_t nv;
	uint64_t overflowed;
	int64_t links[2];
};

static int label_cmp(const struct metrics_series *a, const struct metrics_series *b)
{
	int d = (int)a->reporter - (int)b->reporter;
	if (!d)
		d = strcmp(a->svc, b->svc);
	if (!d)
		d = strcmp(a->src, b->src);
	if (!d)
		d = strcmp(a->dst, b->dst);
	if (!d)
		d = strcmp(a->flags, b->flags);
	return d;
}

static int agg_cmp(const void *a, const void *b)
{
	return label_cmp(((const struct agg *)a)->key, ((const struct agg *)b)->key);
}

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct svc_agg *)a)->name, ((const struct svc_agg *)b)->name);
}

static void agg_read(struct agg *a, struct metrics_series *x)
{
	memset(a, 0, sizeof *a);
	a->key = x;
	for (unsigned i = 0; i < SC_COUNT; i++)
		a->c[i] = rd(&x->c[i]);
	a->open = atomic_load_explicit(&x->open, memory_order_relaxed);
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < hist_defs[k].nb; i++)
			a->b[k][i] = rd(&x->h[k].b[i]);
		a->sum_ns[k] = rd(&x->h[k].sum_ns);
	}
}

static void agg_add(struct agg *to, const struct agg *a)
{
	for (unsigned i = 0; i < SC_COUNT; i++)
		to->c[i] += a->c[i];
	to->open += a->open;
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < CONNECT_NB; i++)
			to->b[k][i] += a->b[k][i];
		to->sum_ns[k] += a->sum_ns[k];
	}
}

static bool agg_used(const struct agg *a)
{
	for (unsigned i = 0; i < SC_COUNT; i++)
		if (a->c[i])
			return true;
	return a->open != 0;
}

/* The merged tables are bounded too (a shard has at most 512 entries, the
 * workers together thousands): the busiest METRICS_RENDER_MAX_SETS (most
 * connections opened and closed; attempts) keep their labels, the rest are summed
 * into "overflow", so the text stays within METRICS_RENDER_MAX. */
static const struct metrics_series overflow_key = { .reporter = REP_OVERFLOW,
	                                            .src = "overflow",
	                                            .svc = "overflow",
	                                            .dst = "overflow",
	                                            .flags = "overflow" };

static int agg_busier(const void *a, const void *b)
{
	const struct agg *x = a, *y = b;
	uint64_t nx = x->c[SC_OPENED] + x->c[SC_CLOSED], ny = y->c[SC_OPENED] + y->c[SC_CLOSED];
	return nx != ny ? (nx > ny ? -1 : 1) : agg_cmp(a, b);
}

static int svc_busier(const void *a, const void *b)
{
	uint64_t x = ((const struct svc_agg *)a)->c[METRICS_SVC_ATTEMPTS],
		 y = ((const struct svc_agg *)b)->c[METRICS_SVC_ATTEMPTS];
	return x != y ? (x > y ? -1 : 1) : svc_cmp(a, b);
}

static void view_fold(struct view *v)
{
	/* The overflow entry, when there is one, sorts last. */
	size_t named = v->ns - (v->ns && v->s[v->ns - 1].key->reporter == REP_OVERFLOW);
	if (named > METRICS_RENDER_MAX_SETS) {
		struct agg o = { .key = &overflow_key };
		if (named < v->ns)
			o = v->s[named];
		qsort(v->s, named, sizeof *v->s, agg_busier);
		for (size_t i = METRICS_RENDER_MAX_SETS; i < named; i++)
			agg_add(&o, &v->s[i]);
		v->s[METRICS_RENDER_MAX_SETS] = o;
		v->ns = METRICS_RENDER_MAX_SETS + 1;
		qsort(v->s, v->ns, sizeof *v->s, agg_cmp);
	}
	if (v->nv > METRICS_RENDER_MAX_SETS) {
		struct svc_agg o = { .name = "overflow" };
		size_t n = 0;
		qsort(v->v, v->nv, sizeof *v->v, svc_busier);
		for (size_t i = 0; i < v->nv; i++) {
			if (n < METRICS_RENDER_MAX_SETS && strcmp(v->v[i].name, "overflow") != 0)
				v->v[n++] = v->v[i];
			else
				for (unsigned k = 0; k < METRICS_SVC_COUNT; k++)
					o.c[k] += v->v[i].c[k];
		}
		v->v[n++] = o;
		v->nv = n;
		qsort(v->v, v->nv, sizeof *v->v, svc_cmp);
	}
}

/* Sum the shards into v (sorted, one entry per label set). -1: out of
 * memory. */
static int view_build(struct view *v, const struct metrics_process *p)
{
	memset(v, 0, sizeof *v);
	/* Each shard's counts are taken once: entries published after that
	 * wait for the next read. */
	unsigned *cnt = calloc(2 * (size_t)p->nw + 1, sizeof *cnt);
	if (!cnt)
		return -1;
	size_t cs = 0, cv = 0;
	for (unsigned w = 0; w < p->nw; w++) {
		struct metrics_shard *sh = p->w[w].metrics;
		if (!sh)
			continue;
		cnt[2 * w] = atomic_load_explicit(&sh->nseries, memory_order_acquire);
		cnt[2 * w + 1] = atomic_load_explicit(&sh->nsvc, memory_order_acquire);
		cs += cnt[2 * w] + 1; /* and the overflow entry */
		cv += cnt[2 * w + 1] + 1;
	}
	v->s = calloc(cs + 1, sizeof *v->s);
	v->v = calloc(cv + 1, sizeof *v->v);
	if (!v->s || !v->v) {
		free(cnt);
		return -1;
	}
	size_t ns = 0, nv = 0;
	for (unsigned w = 0; w < p->nw; w++) {
		struct metrics_shard *sh = p->w[w].metrics;
		if (!sh)
			continue;
		unsigned n = cnt[2 * w];
		for (unsigned i = 0; i < n; i++)
			agg_read(&v->s[ns++], sh->series[i]);
		agg_read(&v->s[ns], &sh->overflow);
		ns += agg_used(&v->s[ns]);
		n = cnt[2 * w + 1];
		for (unsigned i = 0; i <= n; i++) {
			struct svc_entry *x = i < n ? sh->svc[i] : &sh->svc_overflow;
			struct svc_agg *a = &v->v[nv];
			a->name = x->name;
			bool used = false;
			for (unsigned k = 0; k < METRICS_SVC_COUNT; k++)
				used |= (a->c[k] = rd(&x->c[k])) != 0;
			nv += i < n || used;
		}
		v->overflowed += rd(&sh->overflowed);
		for (unsigned k = 0; k < 2; k++)
			v->links[k] += atomic_load_explicit(&sh->links[k], memory_order_relaxed);
	}
	free(cnt);
	qsort(v->s, ns, sizeof *v->s, agg_cmp);
	size_t o = 0;
	for (size_t i = 0; i < ns; i++) {
		if (o && label_cmp(v->s[o - 1].key, v->s[i].key) == 0)
			agg_add(&v->s[o - 1], &v->s[i]);
		else
			v->s[o++] = v->s[i];
	}
	v->ns = o;
	qsort(v->v, nv, sizeof *v->v, svc_cmp);
	o = 0;
	for (size_t i = 0; i < nv; i++) {
		if (o && strcmp(v->v[o - 1].name, v->v[i].name) == 0) {
			for (unsigned k = 0; k < METRICS_SVC_COUNT; k++)
				v->v[o - 1].c[k] += v->v[i].c[k];
		} else {
			v->v[o++] = v->v[i];
		}
	}
	v->nv = o;
	view_fold(v);
	return 0;
}

static void view_free(struct view *v)
{
	free(v->s);
	free(v->v);
}

static double now_wall(void)
{
	return (double)wall_us() / 1e6;
}

static double reload_time(const struct metrics_process *p)
{
	uint64_t us = atomic_load(&last_reload_us);
	return us ? (double)us / 1e6 : p->start_time;
}

/* --------------------------------------------------------- Prometheus */

static void prom_family(struct sbuf *o, const char *name, const char *type, const char *help)
{
	sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_labels(struct sbuf *o, const struct metrics_series *x)
{
	sbuf_printf(o, "reporter=\"%s\",source_principal=", reporter_word[x->reporter]);
	sbuf_prom_str(o, x->src);
	sbuf_puts(o, ",destination_service=");
	sbuf_prom_str(o, x->svc);
	sbuf_puts(o, ",destination_principal=");
	sbuf_prom_str(o, x->dst);
	sbuf_puts(o, ",response_flags=");
	sbuf_prom_str(o, x->flags);
}

static uint64_t hist_count(const struct agg *a, unsigned k)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < hist_defs[k].nb; i++)
		n += a->b[k][i];
	return n;
}

static void prom_hist(struct sbuf *o, const struct view *v, unsigned k)
{
	const struct hist_def *d = &hist_defs[k];
	prom_family(o, d->metric, "histogram", d->help);
	for (size_t i = 0; i < v->ns; i++) {
		const struct agg *a = &v->s[i];
		uint64_t count = hist_count(a, k), cum = 0;
		if (!count)
			continue; /* never observed: no series yet */
		for (unsigned b = 0; b < d->nb; b++) {
			cum += a->b[k][b];
			sbuf_printf(o, "%s_bucket{", d->metric);
			prom_labels(o, a->key);
			if (b + 1 < d->nb)
				sbuf_printf(o, ",le=\"%g\"} %" PRIu64 "\n", d->le[b], cum);
			else
				sbuf_printf(o, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
		}
		sbuf_printf(o, "%s_sum{", d->metric);
		prom_labels(o, a->key);
		sbuf_printf(o, "} %.9f\n%s_count{", (double)a->sum_ns[k] / 1e9, d->metric);
		prom_labels(o, a->key);
		sbuf_printf(o, "} %" PRIu64 "\n", count);
	}
}

static void prom_series(struct sbuf *o, const struct view *v)
{
	for (unsigned c = 0; c < SC_COUNT; c++) {
		prom_family(o, series_rows[c].metric, "counter", series_rows[c].help);
		for (size_t i = 0; i < v->ns; i++) {
			sbuf_printf(o, "%s{", series_rows[c].metric);
			prom_labels(o, v->s[i].key);
			sbuf_printf(o, "} %" PRIu64 "\n", v->s[i].c[c]);
		}
	}
	for (unsigned k = 0; k < 2; k++)
		prom_hist(o, v, k);
	/* Open connections per (reporter, service): the series are sorted by
	 * those first, so each group is a run. */
	prom_family(o, "libmesh_tcp_connections_open", "gauge",
	            "Connections carried now (reached the relay, not yet ended).");
	for (size_t i = 0; i < v->ns;) {
		const struct metrics_series *k = v->s[i].key;
		int64_t open = 0;
		for (; i < v->ns && v->s[i].key->reporter == k->reporter &&
		       strcmp(v->s[i].key->svc, k->svc) == 0;
		     i++)
			open += v->s[i].open;
		sbuf_printf(o, "libmesh_tcp_connections_open{reporter=\"%s\",destination_service=",
		            reporter_word[k->reporter]);
		sbuf_prom_str(o, k->svc);
		sbuf_printf(o, "} %" PRId64 "\n", open);
	}
}

static void prom_services(struct sbuf *o, const struct view *v)
{
	for (unsigned c = 0; c < METRICS_SVC_COUNT; c++) {
		const struct svc_row *r = &svc_rows[c];
		if (c == 0 || strcmp(svc_rows[c - 1].metric, r->metric) != 0)
			prom_family(o, r->metric, "counter", r->help);
		for (size_t i = 0; i < v->nv; i++) {
			sbuf_printf(o, "%s{", r->metric);
			if (r->decision)
				sbuf_printf(o, "decision=\"%s\",", r->decision);
			sbuf_puts(o, "destination_service=");
			sbuf_prom_str(o, v->v[i].name);
			sbuf_printf(o, "} %" PRIu64 "\n", v->v[i].c[c]);
		}
	}
}

static void prom_process(struct sbuf *o, const struct view *v, const struct metrics_process *p)
{
	prom_family(o, "libmesh_links_open", "gauge",
	            "Host-to-host mTLS links up now, by the end this host is.");
	sbuf_printf(o, "libmesh_links_open{direction=\"out\"} %" PRId64 "\n", v->links[0]);
	sbuf_printf(o, "libmesh_links_open{direction=\"in\"} %" PRId64 "\n", v->links[1]);
	const struct config *cfg = p->gen ? p->gen->cfg : NULL;
	if (cfg && p->gen->tls) {
		prom_family(o, "libmesh_certificate_expiry_timestamp_seconds", "gauge",
		            "When each identity's certificate expires (notAfter).");
		for (unsigned i = 0; i < cfg->nidentities; i++) {
			const char *name;
			double nb, na;
			if (tls_identity_validity(p->gen->tls, i, &name, &nb, &na) == -1)
				continue;
			sbuf_puts(o, "libmesh_certificate_expiry_timestamp_seconds{identity=");
			sbuf_prom_str(o, name);
			sbuf_printf(o, "} %.0f\n", na);
		}
	}
	if (cfg) {
		prom_family(
			o, "libmesh_config_generation", "gauge",
			"The config generation in force (1 at start, one more per accepted reload).");
		sbuf_printf(o, "libmesh_config_generation %" PRIu64 "\n", cfg->generation);
	}
	prom_family(
		o, "libmesh_config_last_reload_success", "gauge",
		"Whether the last reload was accepted (1; also before any reload) or rejected (0).");
	sbuf_printf(o, "libmesh_config_last_reload_success %d\n",
	            atomic_load(&last_reload_failed) ? 0 : 1);
	prom_family(o, "libmesh_config_last_reload_timestamp_seconds", "gauge",
	            "When the last reload was tried (the start time before any).");
	sbuf_printf(o, "libmesh_config_last_reload_timestamp_seconds %.3f\n", reload_time(p));
	prom_family(o, "libmesh_config_reloads_total", "counter",
	            "Reloads (SIGHUP or POST /reload).");
	sbuf_printf(o,
	            "libmesh_config_reloads_total{result=\"accepted\"} %" PRIu64
	            "\n"
	            "libmesh_config_reloads_total{result=\"rejected\"} %" PRIu64 "\n",
	            (uint64_t)atomic_load(&reloads_ok), (uint64_t)atomic_load(&reloads_rejected));
	prom_family(o, "libmesh_traffic_records_dropped_total", "counter",
	            "Traffic records lost because the log could not be written.");
	sbuf_printf(o, "libmesh_traffic_records_dropped_total %" PRIu64 "\n", traffic_dropped());
	prom_family(o, "libmesh_metrics_series_overflow_total", "counter",
	            "Observations that went to the \"overflow\" series or service: a shard had "
	            "512 already.");
	sbuf_printf(o, "libmesh_metrics_series_overflow_total %" PRIu64 "\n", v->overflowed);
	prom_family(o, "libmesh_start_time_seconds", "gauge", "When meshd started.");
	sbuf_printf(o, "libmesh_start_time_seconds %.3f\n", p->start_time);
	prom_family(o, "libmesh_build_info", "gauge", "meshd's version.");
	sbuf_puts(o, "libmesh_build_info{version=\"" MESHD_VERSION "\"} 1\n");
}

void metrics_render_prometheus(struct sbuf *out, const struct metrics_process *p)
{
	struct view v;
	if (view_build(&v, p) == -1) {
		out->full = true; /* the caller answers 500, as for a page too big */
		view_free(&v);
		return;
	}
	prom_series(out, &v);
	prom_services(out, &v);
	prom_process(out, &v, p);
	view_free(&v);
}

/* --------------------------------------------------------------- JSON */

static void json_hist(struct sbuf *o, const struct agg *a, unsigned k)
{
	const struct hist_def *d = &hist_defs[k];
	sbuf_printf(o, "\"%s\":{\"le\":[", d->key);
	for (unsigned b = 0; b + 1 < d->nb; b++)
		sbuf_printf(o, "%s%g", b ? "," : "", d->le[b]);
	sbuf_puts(o, "],\"buckets\":[");
	uint64_t cum = 0;
	for (unsigned b = 0; b < d->nb; b++) {
		cum += a->b[k][b];
		sbuf_printf(o, "%s%" PRIu64, b ? "," : "", cum);
	}
	sbuf_printf(o, "],\"count\":%" PRIu64 ",\"sum\":%.9f}", cum, (double)a->sum_ns[k] / 1e9);
}

void metrics_render_json(struct sbuf *out, const struct metrics_process *p)
{
	struct view v;
	if (view_build(&v, p) == -1) {
		out->full = true;
		view_free(&v);
		return;
	}
	const struct config *cfg = p->gen ? p->gen->cfg : NULL;
	sbuf_puts(out, "{\"host\":");
	sbuf_json_str(out, p->host);
	sbuf_printf(out,
	            ",\"version\":\"%s\",\"now\":%.3f,\"start_time\":%.3f,\"generation\":%" PRIu64,
	            MESHD_VERSION, now_wall(), p->start_time, cfg ? cfg->generation : 0);
	sbuf_puts(out, ",\"series\":[");
	for (size_t i = 0; i < v.ns; i++) {
		const struct agg *a = &v.s[i];
		const struct metrics_series *x = a->key;
		sbuf_printf(out, "%s{\"reporter\":\"%s\",\"source_principal\":", i ? "," : "",
		            reporter_word[x->reporter]);
		sbuf_json_str(out, x->src);
		sbuf_puts(out, ",\"destination_service\":");
		sbuf_json_str(out, x->svc);
		sbuf_puts(out, ",\"destination_principal\":");
		sbuf_json_str(out, x->dst);
		sbuf_puts(out, ",\"response_flags\":");
		sbuf_json_str(out, x->flags);
		for (unsigned c = 0; c < SC_COUNT; c++) {
			sbuf_printf(out, ",\"%s\":%" PRIu64, series_rows[c].key, a->c[c]);
			if (c == SC_CLOSED)
				sbuf_printf(out, ",\"open\":%" PRId64, a->open);
		}
		for (unsigned k = 0; k < 2; k++) {
			sbuf_puts(out, ",");
			json_hist(out, a, k);
		}
		sbuf_puts(out, "}");
	}
	sbuf_puts(out, "],\"services\":[");
	for (size_t i = 0; i < v.nv; i++) {
		sbuf_printf(out, "%s{\"service\":", i ? "," : "");
		sbuf_json_str(out, v.v[i].name);
		for (unsigned c = 0; c < METRICS_SVC_COUNT; c++)
			sbuf_printf(out, ",\"%s\":%" PRIu64, svc_rows[c].key, v.v[i].c[c]);
		sbuf_puts(out, "}");
	}
	sbuf_printf(out,
	            "],\"reloads\":{\"accepted\":%" PRIu64 ",\"rejected\":%" PRIu64
	            ",\"last_success\":%s,\"last_time\":%.3f}",
	            (uint64_t)atomic_load(&reloads_ok), (uint64_t)atomic_load(&reloads_rejected),
	            atomic_load(&last_reload_failed) ? "false" : "true", reload_time(p));
	sbuf_printf(out,
	            ",\"links_open\":{\"out\":%" PRId64 ",\"in\":%" PRId64
	            "},\"records_dropped\":%" PRIu64 ",\"series_overflow\":%" PRIu64 "}",
	            v.links[0], v.links[1], traffic_dropped(), v.overflowed);
	view_free(&v);
}
