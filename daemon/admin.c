/*
 * The admin listener: see admin.h. One thread, one loop, a few dozen
 * connections at most; each connection reads one request head, is
 * answered (the answer is rendered at once, in this thread: the workers
 * are asked through worker_query, the main thread through an ev_async
 * for a reload), written, and closed:
 *
 *   HEAD (5 s for the whole head) -> WRITE (10 s) -> LINGER (1 s) -> closed
 *
 * LINGER reads and drops what the client still sends after the answer, so
 * that closing does not reset the connection before it has read it.
 */
#include "admin.h"
#include "admin_http.h"
#include "admin_page.h"
#include "admin_views.h"
#include "dns_serve.h"
#include "worker.h"
#include "gen.h"
#include "config.h"
#include "metrics.h"
#include "peercred.h"
#include "sbuf.h"
#include "log.h"
#include "net.h"
#include "container.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum aconn_state { AC_HEAD, AC_WRITE, AC_LINGER };

struct aconn {
	struct admin *a;
	struct aconn *prev, *next;
	int fd;
	uid_t uid; /* its owner (sock_diag); (uid_t)-1: unknown */
	enum aconn_state state;
	ev_io io;
	ev_timer timer;
	struct sockaddr_storage peer, local;
	size_t inlen;
	char in[ADMIN_HTTP_HEAD_MAX];
	char head[512];
	size_t headlen;
	struct sbuf body;
	size_t off; /* of head + body written */
};

struct admin {
	int fd;
	struct ev_loop *loop;
	ev_io accept_io;
	ev_timer accept_pause; /* out of descriptors: try again later */
	ev_async stop;
	ev_async reload_async; /* on the main loop */
	pthread_t thread;
	bool running;
	struct admin_env env;
	struct aconn *conns;
	unsigned nconns;
	uint64_t refused;
	double refused_said;

	pthread_mutex_t lock; /* what the setters change, and the reload slot */
	pthread_cond_t cond;
	struct gen *gen;
	bool ready;
	char not_ready[128];
	bool reloaded;
	double reload_time;
	bool reload_accepted;
	char *reload_errors, *reload_warnings;
	bool stopping;
	/* POST /reload: each request has a number; the main thread runs the
	 * newest one asked for and hands its result only to a request of
	 * that number still waiting (one that timed out must not pass its
	 * result to the next). */
	bool reload_want, reload_done;
	uint64_t reload_seq;  /* the last request's number */
	uint64_t reload_wait; /* the number of the one waiting; 0: none */
	struct admin_reload_result reload_res;
};

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void admin_reload_result_free(struct admin_reload_result *r)
{
	free(r->errors);
	free(r->warnings);
	r->errors = r->warnings = NULL;
}

void admin_set_gen(struct admin *a, struct gen *g)
{
	if (!a)
		return;
	gen_ref(g);
	pthread_mutex_lock(&a->lock);
	struct gen *old = a->gen;
	a->gen = g;
	pthread_mutex_unlock(&a->lock);
	gen_unref(old);
}

void admin_set_ready(struct admin *a, bool ready, const char *why)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->ready = ready;
	snprintf(a->not_ready, sizeof a->not_ready, "%s", why ? why : "");
	pthread_mutex_unlock(&a->lock);
}

void admin_note_reload(struct admin *a, const struct admin_reload_result *r)
{
	if (!a)
		return;
	char *errs = r->errors ? strdup(r->errors) : NULL;
	char *warns = r->warnings ? strdup(r->warnings) : NULL;
	pthread_mutex_lock(&a->lock);
	free(a->reload_errors);
	free(a->reload_warnings);
	a->reload_errors = errs;
	a->reload_warnings = warns;
	a->reloaded = true;
	a->reload_time = wall_now();
	a->reload_accepted = r->accepted;
	pthread_mutex_unlock(&a->lock);
}

/* ---- the reload, on the main thread ---- */

static void reload_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	struct admin *a = container_of(w, struct admin, reload_async);
	pthread_mutex_lock(&a->lock);
	bool want = a->reload_want;
	uint64_t seq = a->reload_seq;
	a->reload_want = false;
	pthread_mutex_unlock(&a->lock);
	if (!want)
		return;
	struct admin_reload_result r = { 0 };
	a->env.reload(a->env.reload_arg, &r);
	pthread_mutex_lock(&a->lock);
	if (a->reload_wait == seq) {
		admin_reload_result_free(&a->reload_res);
		a->reload_res = r;
		a->reload_done = true;
		pthread_cond_broadcast(&a->cond);
	} else {
		admin_reload_result_free(&r);
	}
	pthread_mutex_unlock(&a->lock);
}

/* On the admin thread: ask the main thread and wait (bounded). */
static int run_reload(struct admin *a, struct sbuf *body)
{
	struct admin_reload_result r = { 0 };
	bool done = false;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)ADMIN_RELOAD_TIMEOUT;
	pthread_mutex_lock(&a->lock);
	a->reload_want = true;
	a->reload_wait = ++a->reload_seq;
	a->reload_done = false;
	pthread_mutex_unlock(&a->lock);
	ev_async_send(a->env.main_loop, &a->reload_async);
	pthread_mutex_lock(&a->lock);
	int rc = 0;
	while (!a->reload_done && !a->stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&a->cond, &a->lock, &until);
	if (a->reload_done) {
		r = a->reload_res;
		memset(&a->reload_res, 0, sizeof a->reload_res);
		done = true;
	}
	a->reload_wait = 0;
	pthread_mutex_unlock(&a->lock);
	if (!done) {
		sbuf_puts(body,
		          "{\"result\":\"unknown\",\"errors\":[\"the main thread did not "
		          "answer in time\"]}\n");
		return 503;
	}
	if (r.refused) { /* draining: nothing was tried, nothing recorded */
		sbuf_printf(body, "{\"result\":\"draining\",\"generation\":%llu,\"errors\":",
		            (unsigned long long)r.generation);
		admin_json_lines(body, r.errors);
		sbuf_puts(body, "}\n");
		admin_reload_result_free(&r);
		return 503;
	}
	sbuf_printf(body, "{\"result\":\"%s\",\"generation\":%llu,\"%s\":",
	            r.accepted ? "accepted" : "rejected", (unsigned long long)r.generation,
	            r.accepted ? "warnings" : "errors");
	admin_json_lines(body, r.accepted ? r.warnings : r.errors);
	sbuf_puts(body, "}\n");
	admin_reload_result_free(&r);
	return r.accepted ? 200 : 400;
}

/* ---- routes ---- */

static void noop_query(struct worker *m, struct sbuf *out, const void *arg)
{
	(void)m;
	(void)out;
	(void)arg;
}

static int live(struct admin *a, struct sbuf *body)
{
	unsigned nw = a->env.nw;
	struct sbuf outs[64];
	bool ok[64];
	if (nw > 64)
		nw = 64;
	for (unsigned i = 0; i < nw; i++)
		sbuf_init(&outs[i], 0);
	worker_query(a->env.w, nw, noop_query, NULL, 0, outs, ok, ADMIN_QUERY_TIMEOUT);
	int status = 200;
	for (unsigned i = 0; i < nw; i++) {
		sbuf_free(&outs[i]);
		if (!ok[i]) {
			sbuf_printf(body, "worker %u does not answer within %.0f s\n", i,
			            ADMIN_QUERY_TIMEOUT);
			status = 503;
		}
	}
	if (status == 200)
		sbuf_puts(body, "live\n");
	return status;
}

/* May this caller reload? Root and meshd's own user, not through a
 * browser; an owner that cannot be told is refused. */
static bool may_reload(struct aconn *c, const struct admin_req *r, char *why, size_t len)
{
	struct caller who;
	char err[200];
	if (admin_http_browser_post(r)) {
		snprintf(why, len, "a reload with an Origin or a Content-Type is refused");
		return false;
	}
	if (peercred_lookup(&c->peer, &c->local, &who, err, sizeof err) == -1) {
		snprintf(why, len, "cannot tell who is calling (%s)", err);
		return false;
	}
	if (who.uid != 0 && who.uid != geteuid()) {
		snprintf(why, len, "uid %u may not reload (root or uid %u may)", (unsigned)who.uid,
		         (unsigned)geteuid());
		return false;
	}
	return true;
}

static void take_ctx(struct admin *a, struct admin_ctx *x)
{
	memset(x, 0, sizeof *x);
	x->w = a->env.w;
	x->nw = a->env.nw;
	x->start_time = a->env.start_time;
	x->now = wall_now();
	x->refused = a->refused;
	pthread_mutex_lock(&a->lock);
	x->gen = gen_ref(a->gen);
	x->ready = a->ready;
	x->not_ready = strdup(a->not_ready);
	x->reloaded = a->reloaded;
	x->reload_time = a->reload_time;
	x->reload_accepted = a->reload_accepted;
	x->reload_errors = a->reload_errors ? strdup(a->reload_errors) : NULL;
	x->reload_warnings = a->reload_warnings ? strdup(a->reload_warnings) : NULL;
	pthread_mutex_unlock(&a->lock);
	x->running = &a->env.running;
}

static void drop_ctx(struct admin_ctx *x)
{
	gen_unref(x->gen);
	free((char *)x->not_ready);
	free((char *)x->reload_errors);
	free((char *)x->reload_warnings);
}

struct route {
	const char *path;
	enum admin_method method;
	const char *type;
	int id;
};
enum {
	R_PAGE,
	R_METRICS,
	R_STATS,
	R_READY,
	R_LIVE,
	R_CONFIG,
	R_CONNS,
	R_ENDPOINTS,
	R_LINKS,
	R_FAILURES,
	R_RELOAD
};
static const struct route routes[] = {
	{ "/", ADMIN_GET, "text/html; charset=utf-8", R_PAGE },
	{ "/metrics", ADMIN_GET, "text/plain; version=0.0.4; charset=utf-8", R_METRICS },
	{ "/stats", ADMIN_GET, "application/json", R_STATS },
	{ "/ready", ADMIN_GET, "text/plain; charset=utf-8", R_READY },
	{ "/live", ADMIN_GET, "text/plain; charset=utf-8", R_LIVE },
	{ "/config", ADMIN_GET, "application/json", R_CONFIG },
	{ "/connections", ADMIN_GET, "application/json", R_CONNS },
	{ "/endpoints", ADMIN_GET, "application/json", R_ENDPOINTS },
	{ "/links", ADMIN_GET, "application/json", R_LINKS },
	{ "/failures", ADMIN_GET, "application/json", R_FAILURES },
	{ "/reload", ADMIN_POST, "application/json", R_RELOAD },
};

/* Render the answer to r into body; returns the status, *type and *allow
 * (for 405) set. */
static int answer(struct aconn *c, const struct admin_req *r, struct sbuf *body, const char **type,
                  const char **allow)
{
	struct admin *a = c->a;
	const struct route *rt = NULL;
	*type = "text/plain; charset=utf-8";
	pthread_mutex_lock(&a->lock);
	bool stopping = a->stopping;
	pthread_mutex_unlock(&a->lock);
	if (stopping) { /* the workers are finishing: ask none of them */
		sbuf_puts(body, "meshd is stopping\n");
		return 503;
	}
	int hs = admin_http_host_check(r);
	if (hs) { /* DNS rebinding: a page by name must not reach this API */
		sbuf_puts(body, hs == 400 ? "an HTTP/1.1 request needs a Host header\n"
		                          : "Host not allowed\n");
		return hs;
	}
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(routes[i].path, r->path) == 0)
			rt = &routes[i];
	if (!rt) {
		sbuf_printf(body,
		            "no such page; try /, /metrics, /stats, /ready, /live, /config, "
		            "/connections, /endpoints, /links, /failures, POST /reload\n");
		return 404;
	}
	enum admin_method m = r->method == ADMIN_HEAD ? ADMIN_GET : r->method;
	if (m != rt->method) {
		*allow = rt->method == ADMIN_POST ? "POST" : "GET, HEAD";
		sbuf_printf(body, "%s takes %s only\n", rt->path, *allow);
		return 405;
	}
	if (r->has_body_coding || (r->has_length && r->content_length > 0)) {
		sbuf_puts(body, "no request body is accepted\n");
		return 413;
	}
	*type = rt->type;
	if (rt->id == R_RELOAD) {
		char why[300];
		if (!may_reload(c, r, why, sizeof why)) {
			*type = "text/plain; charset=utf-8";
			sbuf_printf(body, "%s\n", why);
			return 403;
		}
		return run_reload(a, body);
	}
	if (rt->id == R_LIVE)
		return live(a, body);
	struct admin_ctx x;
	take_ctx(a, &x);
	int status = 200;
	struct metrics_process mp = { .w = a->env.w,
		                      .nw = a->env.nw,
		                      .gen = x.gen,
		                      .start_time = x.start_time,
		                      .host = x.gen->cfg->host };
	mp.nextra = dns_serve_metrics(a->env.dns, mp.extra, METRICS_EXTRA_MAX);
	unsigned long limit = ADMIN_CONN_LIMIT_DEFAULT;
	switch (rt->id) {
	case R_PAGE:
		admin_page_render(body, &x);
		break;
	case R_METRICS:
		body->max = METRICS_RENDER_MAX; /* what its bounded tables can take */
		metrics_render_prometheus(body, &mp);
		break;
	case R_STATS:
		metrics_render_json(body, &mp);
		break;
	case R_READY:
		if (x.ready) {
			sbuf_puts(body, "ready\n");
		} else {
			sbuf_printf(body, "not ready: %s\n", x.not_ready);
			status = 503;
		}
		break;
	case R_CONFIG:
		admin_view_config(body, &x);
		break;
	case R_CONNS:
	case R_FAILURES: {
		unsigned long max = rt->id == R_CONNS ? ADMIN_CONN_LIMIT_MAX : ADMIN_FAILURES_MAX;
		if (rt->id == R_FAILURES)
			limit = ADMIN_FAILURES_DEFAULT;
		if (admin_http_query_has(r->query, "limit") &&
		    !admin_http_query_uint(r->query, "limit", max, &limit)) {
			*type = "text/plain; charset=utf-8";
			sbuf_printf(body, "limit must be a number from 0 to %lu\n", max);
			status = 400;
			break;
		}
		if (rt->id == R_CONNS)
			admin_view_connections(body, &x, (unsigned)limit);
		else
			admin_view_failures(body, &x, (unsigned)limit);
		break;
	}
	case R_ENDPOINTS:
		admin_view_endpoints(body, &x);
		break;
	case R_LINKS:
		admin_view_links(body, &x);
		break;
	}
	drop_ctx(&x);
	return status;
}

/* ---- connections ---- */

static void conn_close(struct aconn *c)
{
	struct admin *a = c->a;
	ev_io_stop(a->loop, &c->io);
	ev_timer_stop(a->loop, &c->timer);
	close(c->fd);
	sbuf_free(&c->body);
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->nconns--;
	free(c);
}

static void conn_linger(struct aconn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->state = AC_LINGER;
	ev_io_stop(c->a->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_io_start(c->a->loop, &c->io);
	ev_timer_stop(c->a->loop, &c->timer);
	ev_timer_set(&c->timer, 1.0, 0.);
	ev_timer_start(c->a->loop, &c->timer);
}

static void conn_write(struct aconn *c)
{
	for (;;) {
		size_t total = c->headlen + c->body.len;
		if (c->off >= total) {
			conn_linger(c);
			return;
		}
		struct iovec iov[2];
		int n = 0;
		if (c->off < c->headlen) {
			iov[n].iov_base = c->head + c->off;
			iov[n++].iov_len = c->headlen - c->off;
		}
		size_t boff = c->off > c->headlen ? c->off - c->headlen : 0;
		if (c->body.len > boff) {
			iov[n].iov_base = c->body.p + boff;
			iov[n++].iov_len = c->body.len - boff;
		}
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w == -1) {
			conn_close(c);
			return;
		}
		c->off += (size_t)w;
	}
}

static void respond(struct aconn *c, int status, const char *type, const char *allow,
                    bool head_only)
{
	if (c->body.full) {
		size_t max = c->body.max ? c->body.max : SBUF_MAX_DEFAULT;
		sbuf_free(&c->body);
		sbuf_printf(&c->body, "the answer is over %zu MiB\n", max >> 20);
		status = 500;
		type = "text/plain; charset=utf-8";
	}
	int n = snprintf(c->head, sizeof c->head,
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Cache-Control: no-store\r\nConnection: close\r\n%s%s%s\r\n",
	                 status, admin_http_reason(status), type, c->body.len,
	                 allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "");
	c->headlen = n > 0 && (size_t)n < sizeof c->head ? (size_t)n : 0;
	if (head_only)
		sbuf_free(&c->body);
	c->state = AC_WRITE;
	c->off = 0;
	ev_timer_stop(c->a->loop, &c->timer);
	ev_timer_set(&c->timer, ADMIN_WRITE_TIMEOUT, 0.);
	ev_timer_start(c->a->loop, &c->timer);
	ev_io_stop(c->a->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(c->a->loop, &c->io);
	conn_write(c);
}

static void respond_error(struct aconn *c, int status)
{
	sbuf_printf(&c->body, "%s\n", admin_http_reason(status));
	respond(c, status, "text/plain; charset=utf-8", NULL, false);
}

static void conn_read(struct aconn *c)
{
	if (c->state == AC_LINGER) {
		char junk[4096];
		ssize_t r = recv(c->fd, junk, sizeof junk, 0);
		if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	ssize_t r = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(c);
		return;
	}
	c->inlen += (size_t)r;
	struct admin_req req;
	int rc = admin_http_parse(c->in, c->inlen, &req);
	if (rc == 0)
		return;
	if (rc < 0) {
		respond_error(c, -rc);
		return;
	}
	const char *type, *allow = NULL;
	int status = answer(c, &req, &c->body, &type, &allow);
	respond(c, status, type, allow, req.method == ADMIN_HEAD);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct aconn *c = container_of(w, struct aconn, io);
	if (c->state == AC_WRITE && (revents & EV_WRITE))
		conn_write(c);
	else if (revents & EV_READ)
		conn_read(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct aconn *c = container_of(w, struct aconn, timer);
	if (c->state == AC_HEAD && c->inlen > 0)
		respond_error(c, 408); /* then its own write timeout */
	else
		conn_close(c);
}

/* Who owns the caller's socket: one user's connections are bounded apart
 * from the total, so that idle connections of one local user do not keep
 * the others (the operator's scraper) out. */
static uid_t conn_owner(const struct sockaddr_storage *peer, const struct sockaddr_storage *local)
{
	struct caller who;
	char err[200];
	if (peercred_lookup(peer, local, &who, err, sizeof err) == -1)
		return (uid_t)-1;
	return who.uid;
}

/* Root and meshd's own user (the operator's tools) have slots the others
 * cannot take; an owner that cannot be told is one of the others. */
static bool trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static unsigned conns_of(const struct admin *a, uid_t uid)
{
	unsigned n = 0;
	for (const struct aconn *c = a->conns; c; c = c->next)
		n += c->uid == uid;
	return n;
}

static unsigned conns_of_others(const struct admin *a)
{
	unsigned n = 0;
	for (const struct aconn *c = a->conns; c; c = c->next)
		n += !trusted_uid(c->uid);
	return n;
}

/* Whether a connection of uid may be taken now (the bounds of admin.h). */
static bool room_for(const struct admin *a, uid_t uid)
{
	if (a->nconns >= ADMIN_MAX_CONNS || conns_of(a, uid) >= ADMIN_MAX_CONNS_PER_UID)
		return false;
	return trusted_uid(uid) || conns_of_others(a) < ADMIN_MAX_CONNS_OTHERS;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct admin *a = container_of(w, struct admin, accept_io);
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int fd = accept4(a->fd, (struct sockaddr *)&peer, &plen,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				ev_io_stop(loop, &a->accept_io);
				ev_timer_start(loop, &a->accept_pause);
			}
			return;
		}
		struct aconn *c = a->nconns < ADMIN_MAX_CONNS ? calloc(1, sizeof *c) : NULL;
		socklen_t llen = sizeof c->local;
		if (c && getsockname(fd, (struct sockaddr *)&c->local, &llen) == 0)
			c->uid = conn_owner(&peer, &c->local);
		else
			llen = 0;
		if (!c || llen == 0 || !room_for(a, c->uid)) {
			close(fd);
			free(c);
			a->refused++;
			double now = ev_now(loop);
			if (now - a->refused_said >= 60.) {
				a->refused_said = now;
				log_warn(
					"admin: connections over the bound (%u, %u of one user, %u of "
					"users other than root and meshd's) closed at once: %llu so far",
					ADMIN_MAX_CONNS, ADMIN_MAX_CONNS_PER_UID,
					ADMIN_MAX_CONNS_OTHERS, (unsigned long long)a->refused);
			}
			continue;
		}
		c->a = a;
		c->fd = fd;
		c->peer = peer;
		sbuf_init(&c->body, 0);
		c->next = a->conns;
		if (a->conns)
			a->conns->prev = c;
		a->conns = c;
		a->nconns++;
		ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, conn_timer_cb, ADMIN_HEAD_TIMEOUT, 0.);
		ev_timer_start(loop, &c->timer);
	}
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct admin *a = container_of(w, struct admin, accept_pause);
	ev_io_start(loop, &a->accept_io);
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *admin_main(void *arg)
{
	struct admin *a = arg;
	ev_run(a->loop, 0);
	while (a->conns)
		conn_close(a->conns);
	peercred_close();
	return NULL;
}

struct admin *admin_open(const struct cfg_addr *addr, char *err, size_t errlen)
{
	char e[200], as[64];
	struct admin *a = calloc(1, sizeof *a);
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Not net_listen: no SO_REUSEPORT, so that a port someone else
	 * listens on is an error here instead of a shared port. */
	int one = 1;
	a->fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd == -1 || setsockopt(a->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(a->fd, (const struct sockaddr *)&addr->ss, addr->len) == -1 ||
	    listen(a->fd, 64) == -1) {
		snprintf(e, sizeof e, "%s", strerror(errno));
		snprintf(err, errlen, "cannot listen on admin %s: %s",
		         net_addr_str(addr, as, sizeof as), e);
		if (a->fd != -1)
			close(a->fd);
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	snprintf(a->not_ready, sizeof a->not_ready, "starting");
	return a;
}

int admin_start(struct admin *a, const struct admin_env *env, char *err, size_t errlen)
{
	a->env = *env;
	a->loop = ev_loop_new(EVFLAG_AUTO);
	if (!a->loop) {
		snprintf(err, errlen, "admin: cannot create an event loop");
		return -1;
	}
	ev_io_init(&a->accept_io, accept_cb, a->fd, EV_READ);
	ev_io_start(a->loop, &a->accept_io);
	ev_timer_init(&a->accept_pause, accept_pause_cb, 1., 0.);
	ev_async_init(&a->stop, stop_cb);
	ev_async_start(a->loop, &a->stop);
	ev_async_init(&a->reload_async, reload_async_cb);
	ev_async_start(env->main_loop, &a->reload_async);
	int rc = thread_start(&a->thread, admin_main, a); /* signals stay the main thread's */
	if (rc != 0) {
		snprintf(err, errlen, "admin: cannot start its thread: %s", strerror(rc));
		ev_async_stop(env->main_loop, &a->reload_async);
		return -1;
	}
	a->running = true;
	return 0;
}

void admin_stop(struct admin *a)
{
	if (!a)
		return;
	if (a->running) {
		pthread_mutex_lock(&a->lock);
		a->stopping = true;
		pthread_cond_broadcast(&a->cond);
		pthread_mutex_unlock(&a->lock);
		ev_async_send(a->loop, &a->stop);
		pthread_join(a->thread, NULL);
		ev_async_stop(a->env.main_loop, &a->reload_async);
	}
	if (a->loop)
		ev_loop_destroy(a->loop);
	close(a->fd);
	gen_unref(a->gen);
	free(a->reload_errors);
	free(a->reload_warnings);
	admin_reload_result_free(&a->reload_res);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
}
