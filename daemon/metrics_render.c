/*
 * The reading side of metrics.c (see metrics.h): the admin thread sums
 * every worker's shard into one view (series and services merged by
 * label set), folds it to METRICS_RENDER_MAX_SETS, and writes it as
 * Prometheus text (/metrics) or JSON (/stats). It only reads shards, as
 * the rules at the top of metrics.c allow: counts with an acquire load,
 * then entries below them, each value with a relaxed load.
 */
#include "metrics_int.h"
#include "gen.h"
#include "worker.h"
#include "config.h"
#include "tls.h"
#include "log.h"
#include "sbuf.h"
#include "version.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

static const char *const reporter_word[] = { "source", "destination", "overflow" };

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
 * workers together thousands): at most METRICS_RENDER_MAX_SETS label sets
 * and services keep their labels, the rest are summed into "overflow", so
 * the text stays within METRICS_RENDER_MAX.
 *
 * Which ones is sticky: a label set once rendered by name is rendered by
 * name ever after (the process-wide set below, never shrinking), and one
 * never named is folded ever after once the set is full. Re-ranking the
 * busiest at each scrape would move a set in and out of overflow, and
 * overflow's counters would go down: a counter reset to Prometheus, and a
 * wrong rate. When the set has room for fewer new label sets than a render
 * brings, the busiest of the new ones (most connections opened and closed;
 * attempts) take it. Renders run on the admin thread; the lock is for any
 * other reader, and no writer ever takes it. */
static const struct metrics_series overflow_key = { .reporter = REP_OVERFLOW,
	                                            .src = "overflow",
	                                            .svc = "overflow",
	                                            .dst = "overflow",
	                                            .flags = "overflow" };

static struct {
	pthread_mutex_t lock;
	struct metrics_series **keys; /* labels only; sorted by label_cmp */
	size_t nkeys;
	char **svcs; /* sorted by strcmp */
	size_t nsvcs;
} named = { .lock = PTHREAD_MUTEX_INITIALIZER };

void metrics_render_forget(void)
{
	pthread_mutex_lock(&named.lock);
	for (size_t i = 0; i < named.nkeys; i++)
		free(named.keys[i]);
	for (size_t i = 0; i < named.nsvcs; i++)
		free(named.svcs[i]);
	free(named.keys);
	free(named.svcs);
	named.keys = NULL;
	named.svcs = NULL;
	named.nkeys = named.nsvcs = 0;
	pthread_mutex_unlock(&named.lock);
}

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

static int key_cmp(const void *a, const void *b)
{
	return label_cmp(*(struct metrics_series *const *)a, *(struct metrics_series *const *)b);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool key_named(const struct metrics_series *x)
{
	return named.nkeys &&
	       bsearch(&x, named.keys, named.nkeys, sizeof *named.keys, key_cmp) != NULL;
}

static bool svc_named(const char *name)
{
	return named.nsvcs &&
	       bsearch(&name, named.svcs, named.nsvcs, sizeof *named.svcs, name_cmp) != NULL;
}

/* Into the set (the caller sorts it after its additions); false when out
 * of memory (then it is folded, now and later: the set is not changed). */
static bool key_add(const struct metrics_series *x)
{
	if (!named.keys) {
		named.keys = calloc(METRICS_RENDER_MAX_SETS, sizeof *named.keys);
		if (!named.keys)
			return false;
	}
	struct metrics_series *k = calloc(1, sizeof *k);
	if (!k)
		return false;
	k->reporter = x->reporter;
	memcpy(k->src, x->src, sizeof k->src);
	memcpy(k->svc, x->svc, sizeof k->svc);
	memcpy(k->dst, x->dst, sizeof k->dst);
	memcpy(k->flags, x->flags, sizeof k->flags);
	named.keys[named.nkeys++] = k;
	return true;
}

static bool svc_add(const char *name)
{
	if (!named.svcs) {
		named.svcs = calloc(METRICS_RENDER_MAX_SETS, sizeof *named.svcs);
		if (!named.svcs)
			return false;
	}
	char *n = strdup(name);
	if (!n)
		return false;
	named.svcs[named.nsvcs++] = n;
	return true;
}

static void fold_series(struct view *v)
{
	struct agg o = { .key = &overflow_key };
	bool have_o = false;
	size_t keep = 0, nfresh = 0;
	/* New label sets, apart; out of memory: they are folded. */
	struct agg *fresh = malloc((v->ns + 1) * sizeof *fresh);
	pthread_mutex_lock(&named.lock);
	for (size_t i = 0; i < v->ns; i++) {
		const struct agg *a = &v->s[i];
		if (a->key->reporter != REP_OVERFLOW && key_named(a->key))
			v->s[keep++] = *a;
		else if (a->key->reporter != REP_OVERFLOW && fresh)
			fresh[nfresh++] = *a;
		else {
			agg_add(&o, a);
			have_o = true;
		}
	}
	size_t room = METRICS_RENDER_MAX_SETS - named.nkeys, added = 0;
	if (nfresh > room)
		qsort(fresh, nfresh, sizeof *fresh, agg_busier);
	for (size_t i = 0; i < nfresh; i++) {
		if (added < room && key_add(fresh[i].key)) {
			v->s[keep++] = fresh[i];
			added++;
		} else {
			agg_add(&o, &fresh[i]);
			have_o = true;
		}
	}
	if (added)
		qsort(named.keys, named.nkeys, sizeof *named.keys, key_cmp);
	pthread_mutex_unlock(&named.lock);
	free(fresh);
	if (have_o)
		v->s[keep++] = o;
	v->ns = keep;
	qsort(v->s, v->ns, sizeof *v->s, agg_cmp);
}

static void fold_services(struct view *v)
{
	struct svc_agg o = { .name = "overflow" };
	bool have_o = false;
	size_t keep = 0, nfresh = 0;
	struct svc_agg *fresh = malloc((v->nv + 1) * sizeof *fresh);
	pthread_mutex_lock(&named.lock);
	for (size_t i = 0; i < v->nv; i++) {
		const struct svc_agg *a = &v->v[i];
		bool ov = strcmp(a->name, "overflow") == 0;
		if (!ov && svc_named(a->name)) {
			v->v[keep++] = *a;
		} else if (!ov && fresh) {
			fresh[nfresh++] = *a;
		} else {
			for (unsigned k = 0; k < METRICS_SVC_COUNT; k++)
				o.c[k] += a->c[k];
			have_o = true;
		}
	}
	size_t room = METRICS_RENDER_MAX_SETS - named.nsvcs, added = 0;
	if (nfresh > room)
		qsort(fresh, nfresh, sizeof *fresh, svc_busier);
	for (size_t i = 0; i < nfresh; i++) {
		if (added < room && svc_add(fresh[i].name)) {
			v->v[keep++] = fresh[i];
			added++;
		} else {
			for (unsigned k = 0; k < METRICS_SVC_COUNT; k++)
				o.c[k] += fresh[i].c[k];
			have_o = true;
		}
	}
	if (added)
		qsort(named.svcs, named.nsvcs, sizeof *named.svcs, name_cmp);
	pthread_mutex_unlock(&named.lock);
	free(fresh);
	if (have_o)
		v->v[keep++] = o;
	v->nv = keep;
	qsort(v->v, v->nv, sizeof *v->v, svc_cmp);
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
	fold_series(v);
	fold_services(v);
	return 0;
}

static void view_free(struct view *v)
{
	free(v->s);
	free(v->v);
}

static double now_wall(void)
{
	return (double)metrics_wall_us() / 1e6;
}

static void prom_family(struct sbuf *o, const char *name, const char *type, const char *help);

/* Discovery: resolutions per dns:/srv: entry and outcome, and the
 * endpoints each entry gives each service now. */
static void discovery_prom(struct sbuf *o, const struct config *cfg)
{
	static const char *const words[METRICS_DISC_RESULTS] = { "ok", "empty", "failed" };
	pthread_mutex_lock(&metrics_disc_lock);
	unsigned n = metrics_ndisc + (metrics_disc[METRICS_DISC_MAX].source[0] ? 1 : 0);
	if (n)
		prom_family(o, "libmesh_discovery_resolutions_total", "counter",
		            "Resolutions of a dns: or srv: endpoints entry, by outcome (empty: "
		            "NXDOMAIN or no records; failed: the last answer stays).");
	for (unsigned i = 0; i <= METRICS_DISC_MAX; i++) {
		const struct metrics_disc *m = &metrics_disc[i];
		if (!m->source[0] || (i == metrics_ndisc && i != METRICS_DISC_MAX))
			continue;
		for (unsigned r = 0; r < METRICS_DISC_RESULTS; r++) {
			sbuf_puts(o, "libmesh_discovery_resolutions_total{name=");
			sbuf_prom_str(o, m->source);
			sbuf_printf(o, ",result=\"%s\"} %" PRIu64 "\n", words[r], m->n[r]);
		}
	}
	pthread_mutex_unlock(&metrics_disc_lock);
	bool head = false;
	for (unsigned i = 0; cfg && i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];
		for (unsigned d = 0; d < s->ndns; d++) {
			unsigned k = 0;
			for (unsigned e = 0; e < s->nendpoints; e++)
				k += s->endpoints[e].source &&
				     strcmp(s->endpoints[e].source, s->dns[d].text) == 0;
			if (!head)
				prom_family(
					o, "libmesh_discovery_endpoints", "gauge",
					"Endpoints of the service found by a dns: or srv: entry, "
					"in force now.");
			head = true;
			sbuf_puts(o, "libmesh_discovery_endpoints{destination_service=");
			sbuf_prom_str(o, s->name);
			sbuf_puts(o, ",name=");
			sbuf_prom_str(o, s->dns[d].text);
			sbuf_printf(o, "} %u\n", k);
		}
	}
}

static double reload_time(const struct metrics_process *p)
{
	uint64_t us = atomic_load(&metrics_last_reload_us);
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
	            atomic_load(&metrics_last_reload_failed) ? 0 : 1);
	prom_family(o, "libmesh_config_last_reload_timestamp_seconds", "gauge",
	            "When the last reload was tried (the start time before any).");
	sbuf_printf(o, "libmesh_config_last_reload_timestamp_seconds %.3f\n", reload_time(p));
	prom_family(o, "libmesh_config_reloads_total", "counter",
	            "Reloads (SIGHUP or POST /reload).");
	sbuf_printf(o,
	            "libmesh_config_reloads_total{result=\"accepted\"} %" PRIu64
	            "\n"
	            "libmesh_config_reloads_total{result=\"rejected\"} %" PRIu64 "\n",
	            (uint64_t)atomic_load(&metrics_reloads_ok),
	            (uint64_t)atomic_load(&metrics_reloads_rejected));
	discovery_prom(o, cfg);
	prom_family(o, "libmesh_traffic_records_dropped_total", "counter",
	            "Traffic records lost because the log could not be written.");
	sbuf_printf(o, "libmesh_traffic_records_dropped_total %" PRIu64 "\n", traffic_dropped());
	prom_family(o, "libmesh_metrics_series_overflow_total", "counter",
	            "Observations that went to the \"overflow\" series or service: a shard had "
	            "512 already.");
	sbuf_printf(o, "libmesh_metrics_series_overflow_total %" PRIu64 "\n", v->overflowed);
	for (unsigned i = 0; i < p->nextra && i < METRICS_EXTRA_MAX; i++) {
		const struct metrics_extra *e = &p->extra[i];
		if (i == 0 || strcmp(e->name, p->extra[i - 1].name) != 0)
			prom_family(o, e->name, "counter", e->help);
		sbuf_printf(o, "%s%s%s%s %" PRIu64 "\n", e->name, e->label ? "{" : "",
		            e->label ? e->label : "", e->label ? "}" : "", e->value);
	}
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
	            (uint64_t)atomic_load(&metrics_reloads_ok),
	            (uint64_t)atomic_load(&metrics_reloads_rejected),
	            atomic_load(&metrics_last_reload_failed) ? "false" : "true", reload_time(p));
	sbuf_printf(out,
	            ",\"links_open\":{\"out\":%" PRId64 ",\"in\":%" PRId64
	            "},\"records_dropped\":%" PRIu64 ",\"series_overflow\":%" PRIu64 "}",
	            v.links[0], v.links[1], traffic_dropped(), v.overflowed);
	view_free(&v);
}
