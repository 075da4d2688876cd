/*
 * What outbound and inbound sessions share: creation, the live list (for
 * drain), the single end path (record, close, reap).
 * A session is never freed inside its own callback: session_end unlinks it
 * from the live list and queues it; an ev_prepare watcher frees the queue
 * after the loop iteration's callbacks have run.
 *
 * Quotas (bounds.h) a session took are given back when it ends: the count
 * is of connections meshd holds, and an ended session holds no descriptor.
 */
#include "gen.h"
#include "worker.h"
#include "session.h"
#include "shimctl.h"
#include "record.h"
#include "recent.h"
#include "tls.h"
#include "bounds.h"
#include "endpoint.h"
#include "metrics.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <openssl/ssl.h>

uint64_t session_random(struct worker *m)
{
	/* splitmix64 seeded from getrandom at start-up: ids need to be unique
	 * across hosts, not secret. */
	if (m->rng == 0 && getrandom(&m->rng, sizeof m->rng, 0) != sizeof m->rng)
		m->rng = (uint64_t)ev_time() * 1000003u ^ (uint64_t)getpid();
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double session_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct session *session_new(struct worker *m, enum sess_kind kind, int fd)
{
	struct session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->m = m;
	s->gen = gen_ref(m->gen);
	s->kind = kind;
	s->t_start = ev_time();
	s->ep = -1;
	s->uid = PROTO_UID_UNKNOWN;
	side_init(&s->relay.side[0], fd, NULL, s);
	side_init(&s->relay.side[1], -1, NULL, s);
	if (relay_init(&s->relay, m->loop, NULL, s) == -1) {
		relay_free(&s->relay);
		gen_unref(s->gen);
		free(s);
		return NULL;
	}
	s->next = m->sessions;
	if (m->sessions)
		m->sessions->prev = s;
	m->sessions = s;
	m->nsessions++;
	return s;
}

void session_set_detail(struct session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof s->detail, fmt, ap);
	va_end(ap);
}

bool session_take(struct session *s, struct quota *q, uint64_t key, unsigned limit)
{
	for (unsigned i = 0; i < SESSION_QUOTAS; i++) {
		if (s->held[i].q)
			continue;
		if (!quota_take(q, key, limit))
			return false;
		s->held[i].q = q;
		s->held[i].key = key;
		return true;
	}
	return false; /* a caller taking more kinds than SESSION_QUOTAS: a bug */
}

/* Clearing each slot as it is given back makes a second call a no-op. */
static void give_back(struct session *s)
{
	for (unsigned i = 0; i < SESSION_QUOTAS; i++) {
		if (!s->held[i].q)
			continue;
		quota_give(s->held[i].q, s->held[i].key);
		s->held[i].q = NULL;
	}
}

void session_end(struct session *s, enum result result, bool reset)
{
	if (s->state == S_CLOSED)
		return;
	s->result = result;
	if (s->kind == SESS_OUTBOUND) {
		shimctl_verdict(s, result);
		shimctl_untrack(s);
	}
	relay_stop(&s->relay);
	ev_timer_stop(s->m->loop, &s->timer);
	record_unqueue(s); /* no progress record after the close one */
	/* A carried connection always has its record; a refusal may be
	 * counted into its source's aggregate instead (record.c). */
	if (s->t_connected > 0 || result == RESULT_OK || record_admit(s->m, s))
		record_close(s);
	/* Every failure, counted into an aggregate or not, is among the
	 * worker's recent ones (a ring: a flood only overwrites it). */
	recent_note(s->m->recent, s, ev_time());
	metrics_ended(s);
	/* The caller's side (side[0]) is reset on failure so the program sees
	 * an error rather than a clean end of stream. */
	side_close(s->m->loop, &s->relay.side[0], reset);
	side_close(s->m->loop, &s->relay.side[1], reset);
	s->state = S_CLOSED;
	give_back(s);
	/* An attempt cut short here (drain, abort) says nothing about its
	 * endpoint; a connection that ends is no longer in flight there. */
	endpoint_release(&s->use, session_clock());

	struct worker *m = s->m;
	if (s->prev)
		s->prev->next = s->next;
	else
		m->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	m->nsessions--;
	s->reap_next = m->reap;
	m->reap = s;
}

void session_end_relay(struct session *s, enum relay_end why, const char *detail)
{
	if (detail && *detail)
		session_set_detail(s, "%s", detail);
	if (why == RELAY_DONE)
		session_end(s, RESULT_OK, false);
	else if (why == RELAY_IDLE)
		session_end(s, RESULT_TIMEOUT, false); /* idle: closed, not reset */
	else
		session_end(s, RESULT_RESET, true);
}

void session_reap(struct worker *m)
{
	while (m->reap) {
		struct session *s = m->reap;
		m->reap = s->reap_next;
		give_back(s); /* already done by session_end; never twice */
		relay_free(&s->relay);
		gen_unref(s->gen);
		free(s);
	}
}

void session_abort_all(struct worker *m)
{
	while (m->sessions) {
		session_set_detail(m->sessions, "drain timeout");
		session_end(m->sessions, RESULT_RESET, true);
	}
	session_reap(m);
}
