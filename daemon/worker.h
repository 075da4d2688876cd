/*
 * One worker: an event loop and everything it serves (listeners, sessions,
 * links), and how the main thread hands it a new generation or a drain.
 */
#ifndef MESHD_WORKER_H
#define MESHD_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct gen;
struct listener;
struct session;
struct link;

struct shimctl;
struct record_floods;
struct sbuf;
struct worker_query;
struct metrics_shard;
struct recent;

/* One worker: an event loop and everything it serves (worker.c). */
struct worker {
	unsigned index; /* 0 runs in the main thread */
	struct ev_loop *loop;
	struct gen *gen;            /* the generation new connections use */
	struct listener *listeners; /* VIP listeners */
	struct listener *inbound;
	struct session *sessions;
	unsigned nsessions;
	struct session *reap;
	ev_prepare reaper; /* frees ended sessions before the loop blocks */
	bool draining;
	ev_timer drain_timer;
	struct link *links;           /* host-to-host links (link.c) */
	struct link *link_dirty;      /* links with frames to write */
	struct link *link_reap;       /* dead links, freed before the loop blocks */
	struct shimctl *ctl;          /* the shim's control socket (shared) */
	struct record_floods *floods; /* refusal floods being counted (record.c) */
	ev_timer flood_timer;
	/* Relaying sessions, oldest last record first (record.c), and the
	 * timer that writes their progress records. */
	struct session *progress_head, *progress_tail;
	ev_timer progress_timer;
	uint64_t rng;
	struct metrics_shard *metrics; /* written by this worker only (metrics.h) */
	struct recent *recent;         /* its last failures (recent.h): this loop only */

	/* main thread -> worker */
	ev_async wake;
	pthread_mutex_t lock;
	struct gen *pending_gen;
	bool pending_drain;
	uint64_t applied;             /* generation in force (applied_lock) */
	struct worker_query *queries; /* admin thread -> worker (query_lock) */
	bool queries_closed;          /* the loop is over: no more (query_lock) */
	pthread_t thread;
	bool threaded;
};

int worker_init(struct worker *m, unsigned index, struct ev_loop *loop, struct shimctl *ctl);
int worker_start(struct worker *m, struct gen *g);
void worker_post_gen(struct worker *m, struct gen *g);
void worker_post_drain(struct worker *m);
int worker_wait_applied(struct worker *w, unsigned n, uint64_t generation, double secs);
void worker_finish(struct worker *m);

/*
 * Ask each of the n workers a question: fn runs in the worker's own loop
 * (so it may read the worker's sessions and links) and appends its answer
 * to `out`, a buffer with outs[i]'s ceiling. arg (arglen bytes, at most
 * WORKER_QUERY_ARG) is copied. The caller (the admin thread) waits up to
 * secs for all of them; an answer is moved into outs[i] and answered[i]
 * set. A worker that does not answer in time is left to answer to no one:
 * the query is freed by whichever of the two lets go last. Returns the
 * number of workers that answered.
 */
#define WORKER_QUERY_ARG 64
typedef void worker_query_fn(struct worker *m, struct sbuf *out, const void *arg);
unsigned worker_query(struct worker *w, unsigned n, worker_query_fn *fn, const void *arg,
                      size_t arglen, struct sbuf *outs, bool *answered, double secs);
/* From the main thread once worker 0's loop has returned, before the admin
 * thread is stopped: from then on worker_query asks no one and waits for
 * no one (what worker 0 was asked is answered "no answer" at once). */
void worker_query_shutdown(struct worker *m0);

#endif
