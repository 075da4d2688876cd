/*
 * The admin listener (admin.c): a loopback HTTP/1.1 server on a thread of
 * its own with its own libev loop, so that a slow or hostile admin client
 * never delays a worker. It reads the workers only through worker_query
 * and the generation in force only through a reference; a reload it is
 * asked for (POST /reload) runs on the main thread, where SIGHUP's does.
 *
 * Bounds (what a local user can make it hold): 32 connections, 8 of one
 * user, 24 of all users but root and meshd's own (more are accepted and
 * closed at once), a request head of 8 KiB that must arrive
 * within 5 s, no body, a response of at most 16 MiB (/metrics: 32 MiB,
 * metrics.h) written within 10 s.
 * Every GET is open to any local user; POST /reload only to root and to
 * meshd's own uid (the TCP caller's owner, by sock_diag), and not with an
 * Origin or a form's Content-Type (a browser's request). Any request whose
 * Host is not a loopback IP literal or "localhost" is 403 "Host not
 * allowed" (DNS rebinding: admin_http_host_check).
 */
#ifndef MESHD_ADMIN_H
#define MESHD_ADMIN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin_views.h"

struct worker;
struct gen;
struct cfg_addr;
struct dns_serve;

#define ADMIN_MAX_CONNS 32
#define ADMIN_MAX_CONNS_PER_UID 8 /* of them, one user's (the caller socket's owner) */
/* of them, all users' but root's and meshd's together (an owner that
 * cannot be told is one of these): 8 stay for the operator */
#define ADMIN_MAX_CONNS_OTHERS 24
#define ADMIN_HEAD_TIMEOUT 5.0
#define ADMIN_WRITE_TIMEOUT 10.0
#define ADMIN_QUERY_TIMEOUT 1.0 /* a worker's answer to /live, /connections, /links */
#define ADMIN_RELOAD_TIMEOUT 20.0

/* What a reload said: errors (rejected) or warnings (accepted), one per
 * line, malloc'd or NULL. */
struct admin_reload_result {
	bool accepted;
	uint64_t generation; /* in force after it */
	bool refused;        /* not tried (meshd is draining): errors says why */
	char *errors;
	char *warnings;
};
typedef void admin_reload_fn(void *arg, struct admin_reload_result *out);

struct admin_env {
	struct worker *w;
	unsigned nw;
	struct ev_loop *main_loop; /* where reload runs */
	admin_reload_fn *reload;   /* on the main thread */
	void *reload_arg;
	double start_time;     /* seconds since the epoch */
	struct dns_serve *dns; /* its counters in /metrics; NULL: dns = off */
	/* the restart-only keys as started (/config) */
	struct admin_running running;
};

struct admin;

/* Bind and listen on addr (the caller says what failing means: meshd does
 * not start). NULL with err. */
struct admin *admin_open(const struct cfg_addr *addr, char *err, size_t errlen);
/* Start serving on a thread of its own. Call from the main thread, with
 * env->main_loop not running elsewhere. -1 with err. */
int admin_start(struct admin *a, const struct admin_env *env, char *err, size_t errlen);
/* Stop the thread, close every connection, free. NULL: nothing. */
void admin_stop(struct admin *a);

/* What the admin thread shows; any thread, NULL a: nothing. */
void admin_set_gen(struct admin *a, struct gen *g);
void admin_set_ready(struct admin *a, bool ready, const char *why);
void admin_note_reload(struct admin *a, const struct admin_reload_result *r);
void admin_reload_result_free(struct admin_reload_result *r);

#endif
