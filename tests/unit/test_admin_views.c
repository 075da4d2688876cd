/* /connections (admin_views.c) against real workers: two worker loops run
 * in threads of their own, each with sessions hand-filled into its list,
 * and admin_view_connections asks them through worker_query as the admin
 * thread does. Checked: an answer over its ceiling is cut to whole
 * objects and says "truncated" (it once filled the buffer and answered
 * 500, or cut an object in half), and the join stops at limit. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "admin_views.h"
#include "config.h"
#include "gen.h"
#include "sbuf.h"
#include "session.h"
#include "worker.h"

#define NW 2
#define PER_WORKER 200

static struct worker w[NW];
static pthread_t th[NW];
static struct session *sess[NW][PER_WORKER];
static struct config cfg = { .host = "host-a" };
static struct gen g = { .refs = 1, .cfg = &cfg };

static void *run(void *arg)
{
	struct worker *m = arg;
	ev_run(m->loop, 0);
	return NULL;
}

static void stop_query(struct worker *m, struct sbuf *out, const void *arg)
{
	(void)out;
	(void)arg;
	ev_break(m->loop, EVBREAK_ALL);
}

static int setup(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NW; i++) {
		assert_int_equal(worker_init(&w[i], i, ev_loop_new(EVFLAG_AUTO), NULL), 0);
		/* Long names: each object is about 600 bytes. */
		for (unsigned k = 0; k < PER_WORKER; k++) {
			struct session *s = calloc(1, sizeof *s);
			assert_non_null(s);
			s->m = &w[i];
			s->kind = SESS_OUTBOUND;
			s->state = S_RELAY;
			s->id = ((uint64_t)i << 32) | k;
			s->t_start = ev_time();
			s->port = 80;
			s->uid = 1000;
			memset(s->svc_name, 's', sizeof s->svc_name - 1);
			snprintf(s->source, sizeof s->source, "spiffe://td/%0140u", k);
			snprintf(s->peer, sizeof s->peer, "spiffe://td/%0140u", k + 1);
			snprintf(s->endpoint, sizeof s->endpoint, "127.0.0.2:15001");
			snprintf(s->client, sizeof s->client, "127.0.0.1:%u", 30000 + k);
			s->next = w[i].sessions;
			w[i].sessions = s;
			sess[i][k] = s;
		}
		w[i].nsessions = PER_WORKER;
		assert_int_equal(pthread_create(&th[i], NULL, run, &w[i]), 0);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct sbuf outs[NW];
	bool ok[NW];
	for (unsigned i = 0; i < NW; i++)
		sbuf_init(&outs[i], 0);
	worker_query(w, NW, stop_query, NULL, 0, outs, ok, 5.0);
	for (unsigned i = 0; i < NW; i++) {
		sbuf_free(&outs[i]);
		pthread_join(th[i], NULL);
		w[i].sessions = NULL;
		w[i].nsessions = 0;
		for (unsigned k = 0; k < PER_WORKER; k++)
			free(sess[i][k]);
		struct ev_loop *loop = w[i].loop;
		worker_finish(&w[i]);
		ev_loop_destroy(loop);
	}
	return 0;
}

static struct admin_ctx ctx(void)
{
	struct admin_ctx x = { .w = w, .nw = NW, .gen = &g, .now = 1764650000.0 };
	return x;
}

static unsigned count(const char *s, const char *what)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

/* Each object between "[" and "]" is whole: it starts with {"id": and
 * ends with the last key's value and "}", and objects are separated by
 * single commas. */
static void assert_whole_objects(const char *body, unsigned n)
{
	const char *a = strstr(body, "\"connections\":[");
	assert_non_null(a);
	a += strlen("\"connections\":[");
	const char *z = strstr(a, "],\"truncated\":");
	assert_non_null(z);
	unsigned seen = 0;
	for (const char *p = a; p < z; seen++) {
		assert_memory_equal(p, "{\"id\":", 6);
		const char *e = strstr(p, ",\"bytes_received\":0}");
		assert_non_null(e);
		e += strlen(",\"bytes_received\":0}");
		assert_true(e <= z);
		assert_true(e == z || *e == ',');
		p = e == z ? z : e + 1;
	}
	assert_int_equal(seen, n);
}

/* A ceiling the workers' objects do not fit in: whole objects, cut,
 * "truncated", and nothing full (admin.c would answer 500 on full). */
static void over_ceiling_truncated(void **state)
{
	(void)state;
	struct admin_ctx x = ctx();
	struct sbuf out;
	sbuf_init(&out, 64u << 10); /* 4 KiB for the rest, 30 KiB a worker */
	admin_view_connections(&out, &x, 10000);
	assert_false(out.full);
	unsigned n = count(out.p, "{\"id\":");
	assert_true(n > 0);
	assert_true(n < NW * PER_WORKER);
	assert_non_null(strstr(out.p, "],\"truncated\":true,\"unanswered\":[]}\n"));
	assert_whole_objects(out.p, n);
	assert_true(out.len <= out.max);
	sbuf_free(&out);
}

/* The default ceiling holds them all: not truncated. */
static void under_ceiling_whole(void **state)
{
	(void)state;
	struct admin_ctx x = ctx();
	struct sbuf out;
	sbuf_init(&out, 0);
	admin_view_connections(&out, &x, 10000);
	assert_false(out.full);
	assert_int_equal(count(out.p, "{\"id\":"), NW * PER_WORKER);
	assert_non_null(strstr(out.p, "],\"truncated\":false,"));
	assert_whole_objects(out.p, NW * PER_WORKER);
	sbuf_free(&out);
}

/* The join stops at limit, across workers. */
static void join_stops_at_limit(void **state)
{
	(void)state;
	struct admin_ctx x = ctx();
	unsigned limits[] = { 0, 1, PER_WORKER - 1, PER_WORKER, PER_WORKER + 50 };
	for (unsigned i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		struct sbuf out;
		sbuf_init(&out, 0);
		admin_view_connections(&out, &x, limits[i]);
		assert_false(out.full);
		assert_int_equal(count(out.p, "{\"id\":"), limits[i]);
		assert_non_null(strstr(out.p, "],\"truncated\":true,"));
		assert_whole_objects(out.p, limits[i]);
		sbuf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(over_ceiling_truncated),
		cmocka_unit_test(under_ceiling_whole),
		cmocka_unit_test(join_stops_at_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
