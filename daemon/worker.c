/*
 * Workers: one libev loop each, with its own listeners (SO_REUSEPORT: the
 * kernel spreads new connections over the workers), sessions, links and
 * buffers. Nothing in the data path is shared between workers except
 * the refcounted config generation and the control socket's verdict table.
 *
 * Worker 0 runs in the main thread, on the default loop, next to signal
 * handling and the control socket; workers 1..N-1 run in threads. The main
 * thread talks to a worker only through ev_async: "apply this generation"
 * (reload) and "drain"; the admin thread the same way, with questions
 * (worker_query) each worker answers in its own loop. A worker's state
 * while draining:
 *
 *   RUNNING --drain--> DRAINING (listeners closed, idle links closed)
 *        --last session ends or drain timeout--> loop returns
 */
#include "gen.h"
#include "worker.h"
#include "listener.h"
#include "session.h"
#include "record.h"
#include "metrics.h"
#include "recent.h"
#include "peercred.h"
#include "log.h"
#include "container.h"
#include "sbuf.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static pthread_mutex_t applied_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t applied_cond = PTHREAD_COND_INITIALIZER;

/* Queries in flight (worker_query): the lists, the answers, the counts. */
struct worker_query {
	struct worker_query *next;
	int refs; /* the asker and the worker: who lets go last frees */
	bool done;
	worker_query_fn *fn;
	struct sbuf out;
	unsigned char arg[WORKER_QUERY_ARG];
};
static pthread_mutex_t query_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t query_cond = PTHREAD_COND_INITIALIZER;
static bool queries_stopped; /* meshd is stopping: ask no one (query_lock) */

/* With query_lock held. */
static void query_unref(struct worker_query *q)
{
	if (--q->refs > 0)
		return;
	sbuf_free(&q->out);
	free(q);
}

static void run_queries(struct worker *m, bool answer)
{
	pthread_mutex_lock(&query_lock);
	struct worker_query *q = m->queries;
	m->queries = NULL;
	if (!answer)
		m->queries_closed = true;
	pthread_mutex_unlock(&query_lock);
	while (q) {
		struct worker_query *next = q->next;
		if (answer)
			q->fn(m, &q->out, q->arg);
		pthread_mutex_lock(&query_lock);
		q->done = answer;
		query_unref(q);
		pthread_cond_broadcast(&query_cond);
		pthread_mutex_unlock(&query_lock);
		q = next;
	}
}

static void sync_listeners(struct worker *m)
{
	char *err = NULL;
	if (listener_sync(m, m->gen->cfg, &err) > 0 && m->index == 0) {
		for (char *save, *line = strtok_r(err, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			log_error("%s", line);
	}
	free(err);
}

static void mark_applied(struct worker *m, uint64_t generation)
{
	pthread_mutex_lock(&applied_lock);
	m->applied = generation;
	pthread_cond_broadcast(&applied_cond);
	pthread_mutex_unlock(&applied_lock);
}

/* Switch this worker to generation g (takes over the caller's reference). */
static void apply_gen(struct worker *m, struct gen *g)
{
	struct gen *old = m->gen;
	m->gen = g;
	if (old) {
		/* Links made with the old certificates; a generation derived by
		 * discovery shares its TLS contexts, and its links stay in use. */
		if (old->tls != g->tls)
			link_retire_all(m, false);
		gen_unref(old);
	}
	if (!m->draining)
		sync_listeners(m);
	mark_applied(m, g->cfg->generation);
}

static void drain_check(struct worker *m)
{
	if (m->draining && m->nsessions == 0)
		ev_break(m->loop, EVBREAK_ALL);
}

static void drain_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *m = container_of(w, struct worker, drain_timer);
	log_warn("drain timeout: closing %u remaining connection(s)", m->nsessions);
	session_abort_all(m);
	drain_check(m);
}

static void start_drain(struct worker *m)
{
	if (m->draining)
		return;
	m->draining = true;
	listener_close_all(m);
	/* Links without streams carry no connection: close them now. */
	link_retire_all(m, true);
	ev_timer_init(&m->drain_timer, drain_timeout_cb, m->gen->cfg->drain_timeout, 0.);
	ev_timer_start(m->loop, &m->drain_timer);
	drain_check(m);
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *m = container_of(w, struct worker, wake);
	pthread_mutex_lock(&m->lock);
	struct gen *g = m->pending_gen;
	bool drain = m->pending_drain;
	m->pending_gen = NULL;
	pthread_mutex_unlock(&m->lock);
	if (g)
		apply_gen(m, g);
	if (drain)
		start_drain(m);
	run_queries(m, true);
}

static void reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	struct worker *m = container_of(w, struct worker, reaper);
	/* Every frame queued by this iteration's callbacks leaves now, in one
	 * write per link, before the loop waits. */
	link_flush_all(m);
	session_reap(m);
	link_reap(m);
	drain_check(m);
}

static void flood_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	record_flush_floods(container_of(w, struct worker, flood_timer), false);
}

/* Progress records (record.c): the sweep runs every tenth of
 * progress_interval, at most a second apart, so a record is at most that
 * late; a sweep writes at most PROGRESS_BATCH, and when it did, the rest
 * follow 10 ms later with the loop's I/O served in between. The interval
 * is the generation in force's: a reload that turns records on or changes
 * their interval applies to the connections already open. */
#define PROGRESS_BATCH 1024

static double progress_tick(double interval)
{
	double t = interval > 0 ? interval / 10 : 1.0;
	return t < 0.1 ? 0.1 : t > 1.0 ? 1.0 : t;
}

static void progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct worker *m = container_of(w, struct worker, progress_timer);
	double interval = m->gen ? m->gen->cfg->progress_interval : 0;
	unsigned n = 0;
	if (interval > 0)
		n = record_progress(m, session_clock(), interval, PROGRESS_BATCH);
	double tick = n == PROGRESS_BATCH ? 0.01 : progress_tick(interval);
	if (w->repeat != tick) {
		w->repeat = tick;
		ev_timer_again(loop, w);
	}
}

int worker_init(struct worker *m, unsigned index, struct ev_loop *loop, struct shimctl *ctl)
{
	memset(m, 0, sizeof *m);
	m->index = index;
	m->loop = loop;
	m->ctl = ctl;
	m->metrics = metrics_shard_new();
	m->recent = recent_new();
	if (!m->metrics || !m->recent) {
		metrics_shard_free(m->metrics);
		recent_free(m->recent);
		m->metrics = NULL;
		m->recent = NULL;
		return -1;
	}
	pthread_mutex_init(&m->lock, NULL);
	ev_async_init(&m->wake, wake_cb);
	ev_async_start(loop, &m->wake);
	ev_prepare_init(&m->reaper, reaper_cb);
	ev_prepare_start(loop, &m->reaper);
	ev_timer_init(&m->flood_timer, flood_cb, 2., 2.);
	ev_timer_start(loop, &m->flood_timer);
	/* The flood timer must not keep a draining loop alive. */
	ev_unref(loop);
	ev_timer_init(&m->progress_timer, progress_cb, 1., 1.);
	ev_timer_start(loop, &m->progress_timer);
	ev_unref(loop); /* nor the progress timer */
	return 0;
}

static void worker_cleanup(struct worker *m)
{
	session_abort_all(m);
	listener_close_all(m);
	link_free_all(m);
	session_reap(m); /* records of links that never came up */
	ev_async_stop(m->loop, &m->wake);
	ev_prepare_stop(m->loop, &m->reaper);
	ev_timer_stop(m->loop, &m->drain_timer);
	ev_ref(m->loop);
	ev_timer_stop(m->loop, &m->flood_timer);
	ev_ref(m->loop);
	ev_timer_stop(m->loop, &m->progress_timer);
	record_floods_free(m);
	run_queries(m, false); /* their askers hear nothing: the loop is over */
	buf_trim();
	peercred_close();
}

static void *worker_main(void *arg)
{
	struct worker *m = arg;
	ev_run(m->loop, 0);
	worker_cleanup(m);
	return NULL;
}

int worker_start(struct worker *m, struct gen *g)
{
	gen_ref(g);
	if (m->index == 0) {
		apply_gen(m, g);
		return 0;
	}
	/* Listeners are bound from the main thread before the worker runs, so
	 * the caller knows every worker is ready once this returns. */
	apply_gen(m, g);
	int rc = thread_start(&m->thread, worker_main, m); /* signals stay the main thread's */
	if (rc != 0) {
		log_error("cannot start worker %u: %s", m->index, strerror(rc));
		return -1;
	}
	m->threaded = true;
	return 0;
}

void worker_post_gen(struct worker *m, struct gen *g)
{
	if (m->index == 0) {
		apply_gen(m, gen_ref(g));
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (m->pending_gen)
		gen_unref(m->pending_gen);
	m->pending_gen = gen_ref(g);
	pthread_mutex_unlock(&m->lock);
	ev_async_send(m->loop, &m->wake);
}

void worker_post_drain(struct worker *m)
{
	if (m->index == 0) {
		start_drain(m);
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->pending_drain = true;
	pthread_mutex_unlock(&m->lock);
	ev_async_send(m->loop, &m->wake);
}

/* Wait until every worker runs `generation` (bounded: a reload must not
 * hang the daemon). Returns 0, or -1 on timeout. */
int worker_wait_applied(struct worker *w, unsigned n, uint64_t generation, double secs)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)secs;
	int rc = 0;
	pthread_mutex_lock(&applied_lock);
	for (unsigned i = 0; i < n && rc == 0; i++)
		while (w[i].applied < generation && rc == 0)
			rc = pthread_cond_timedwait(&applied_cond, &applied_lock, &until);
	pthread_mutex_unlock(&applied_lock);
	return rc == 0 ? 0 : -1;
}

void worker_finish(struct worker *m)
{
	if (m->threaded) {
		pthread_join(m->thread, NULL);
		ev_loop_destroy(m->loop);
	} else {
		worker_cleanup(m);
	}
	gen_unref(m->gen);
	m->gen = NULL;
	pthread_mutex_destroy(&m->lock);
	/* The admin thread, which reads the shards, stopped before this. */
	metrics_shard_free(m->metrics);
	m->metrics = NULL;
	recent_free(m->recent); /* after the loop's last session_end */
	m->recent = NULL;
}

/* Worker 0's loop is over and the main thread is about to stop the admin
 * thread: without this, each admin request still pending would wait its
 * full timeout for worker 0 (on the very thread that waits for them). */
void worker_query_shutdown(struct worker *m0)
{
	pthread_mutex_lock(&query_lock);
	queries_stopped = true;
	pthread_cond_broadcast(&query_cond);
	pthread_mutex_unlock(&query_lock);
	run_queries(m0, false);
}

unsigned worker_query(struct worker *w, unsigned n, worker_query_fn *fn, const void *arg,
                      size_t arglen, struct sbuf *outs, bool *answered, double secs)
{
	struct worker_query *qs[64] = { 0 };
	unsigned got = 0;
	for (unsigned i = 0; i < n && i < 64; i++)
		answered[i] = false;
	if (n > 64 || arglen > WORKER_QUERY_ARG)
		return 0;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	long ns = until.tv_nsec + (long)((secs - (double)(long)secs) * 1e9);
	until.tv_sec += (time_t)secs + ns / 1000000000L;
	until.tv_nsec = ns % 1000000000L;
	for (unsigned i = 0; i < n; i++) {
		struct worker_query *q = calloc(1, sizeof *q);
		if (!q)
			continue;
		q->refs = 2;
		q->fn = fn;
		sbuf_init(&q->out, outs[i].max);
		if (arglen)
			memcpy(q->arg, arg, arglen);
		pthread_mutex_lock(&query_lock);
		bool closed = w[i].queries_closed || queries_stopped;
		if (!closed) {
			q->next = w[i].queries;
			w[i].queries = q;
		}
		pthread_mutex_unlock(&query_lock);
		if (closed) {
			sbuf_free(&q->out);
			free(q);
			continue;
		}
		qs[i] = q;
		ev_async_send(w[i].loop, &w[i].wake);
	}
	pthread_mutex_lock(&query_lock);
	for (;;) {
		unsigned pending = 0;
		for (unsigned i = 0; i < n; i++)
			pending += qs[i] && qs[i]->refs > 1;
		if (!pending || queries_stopped ||
		    pthread_cond_timedwait(&query_cond, &query_lock, &until) == ETIMEDOUT)
			break;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!qs[i])
			continue;
		if (qs[i]->done) {
			struct sbuf t = outs[i];
			outs[i] = qs[i]->out;
			qs[i]->out = t;
			answered[i] = true;
			got++;
		}
		query_unref(qs[i]);
	}
	pthread_mutex_unlock(&query_lock);
	return got;
}
