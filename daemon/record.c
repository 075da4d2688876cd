/*
 * Traffic records: one JSON object per line, built here from a session and
 * handed to log.c in a single write. Field names are the README's
 * "Traffic records" table; the connection id is the same on both hosts.
 */
#include "mesh.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jbuf {
	char   b[2048];
	size_t n;
	bool   first;
};

static void jraw(struct jbuf *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jraw(struct jbuf *j, const char *fmt, ...)
{
	if (j->n >= sizeof j->b)
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(j->b + j->n, sizeof j->b - j->n, fmt, ap);
	va_end(ap);
	if (m > 0)
		j->n += (size_t)m;
	if (j->n > sizeof j->b)
		j->n = sizeof j->b;
}

static void jkey(struct jbuf *j, const char *k)
{
	jraw(j, "%s\"%s\":", j->first ? "" : ",", k);
	j->first = false;
}

static void jstr(struct jbuf *j, const char *k, const char *v)
{
	if (!v || !*v)
		return;
	jkey(j, k);
	jraw(j, "\"");
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			jraw(j, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			jraw(j, "\\u%04x", *p);
		else
			jraw(j, "%c", *p);
	}
	jraw(j, "\"");
}

static void jnum(struct jbuf *j, const char *k, unsigned long long v)
{
	jkey(j, k);
	jraw(j, "%llu", v);
}

static void jms(struct jbuf *j, const char *k, double secs)
{
	jkey(j, k);
	jraw(j, "%.3f", secs * 1000.0);
}

static void emit(struct jbuf *j)
{
	jraw(j, "}\n");
	if (j->n >= sizeof j->b) {
		/* Never write half an object: end the truncated line validly. */
		j->n = sizeof j->b - 3;
		memcpy(j->b + j->n, "\"}\n", 3);
		j->n += 3;
	}
	traffic_write(j->b, j->n);
}

static void begin(struct jbuf *j, const char *event)
{
	char ts[40];
	j->n = 0;
	j->first = true;
	jraw(j, "{");
	log_timestamp(ts, sizeof ts);
	jstr(j, "time", ts);
	jstr(j, "event", event);
}

void record_close(const struct session *s)
{
	const struct config *c = s->gen->cfg;
	struct jbuf j;
	char id[17];
	snprintf(id, sizeof id, "%016llx", (unsigned long long)s->id);

	begin(&j, "close");
	jstr(&j, "id", id);
	jstr(&j, "direction", s->kind == SESS_OUTBOUND ? "outbound" : "inbound");
	jstr(&j, "host", c->host);
	jstr(&j, "client", s->client);
	jstr(&j, "source", s->source);
	if (s->uid != PROTO_UID_UNKNOWN)
		jnum(&j, "uid", s->uid);
	if (s->pid)
		jnum(&j, "pid", s->pid);
	jstr(&j, "program", s->program);
	jstr(&j, "service", s->svc_name);
	if (s->port)
		jnum(&j, "port", s->port);
	jstr(&j, "endpoint", s->endpoint);
	jstr(&j, "peer", s->peer);
	if (s->kind == SESS_OUTBOUND)
		jnum(&j, "attempts", s->attempts);
	if (s->t_connected > 0)
		jms(&j, "connect_ms", s->t_connected - s->t_start);
	jms(&j, "duration_ms", ev_time() - s->t_start);

	/* Application bytes only: header, status and frame headers are
	 * protocol and never counted. side[0] is the caller (outbound) or the
	 * stream (inbound): either way, bytes read from it went towards the
	 * service. */
	uint64_t sent = s->relay.side[0].bytes_read, recv = s->relay.side[1].bytes_read;
	jnum(&j, "bytes_sent", sent);
	jnum(&j, "bytes_received", recv);
	if (s->tls_up) {
		jstr(&j, "tls", "TLSv1.3");
		jkey(&j, "reused");
		jraw(&j, "%s", s->reused ? "true" : "false");
	}
	jstr(&j, "result", s->result ? s->result : "ok");
	jstr(&j, "detail", s->detail);
	emit(&j);
}

/*
 * Floods. A connection that was carried (it reached the relay) always
 * leaves its own record. A refusal (a connection that ended before any
 * byte moved: denied, overflow, identity_error, a stranger's tls_failure,
 * a peer's protocol_error...) repeats when someone is attacking or
 * misconfigured, and one record per event would let the attacker fill the
 * disk and spend our CPU on JSON. So refusals are written one by one only
 * up to FLOOD_BURST per FLOOD_WINDOW for each (direction, source, result);
 * beyond that they are counted, and one "aggregate" record per window says
 * how many were not written. A source is the caller's identity when there
 * is one, else its uid (outbound) or its address without the port
 * (inbound). Each worker keeps its own table (no locks); when more than
 * FLOOD_SLOTS sources flood at once, the excess share one "*" entry.
 */
#define FLOOD_SLOTS  64
#define FLOOD_BURST  100
#define FLOOD_WINDOW 10.0

struct flood {
	bool        used;
	bool        outbound;
	const char *result;          /* a static result word */
	char        source[160];
	ev_tstamp   start;
	unsigned    written;
	uint64_t    suppressed;
	char        detail[160];     /* the last suppressed one's */
};

struct record_floods {
	struct flood slot[FLOOD_SLOTS + 1];   /* the last one is "*" */
	unsigned     active;                  /* slots with suppressed > 0 */
};

static void flood_source(const struct session *s, char *buf, size_t len)
{
	if (s->source[0]) {
		snprintf(buf, len, "%s", s->source);
	} else if (s->kind == SESS_OUTBOUND && s->uid != PROTO_UID_UNKNOWN) {
		snprintf(buf, len, "uid %u", (unsigned)s->uid);
	} else {
		/* ip:port or [ip6]:port: the address is the source. */
		snprintf(buf, len, "%s", s->client);
		char *colon = strrchr(buf, ':');
		if (colon)
			*colon = '\0';
	}
}

static void flood_write(const struct meshd *m, struct flood *f)
{
	struct jbuf j;
	begin(&j, "aggregate");
	jstr(&j, "direction", f->outbound ? "outbound" : "inbound");
	jstr(&j, "host", m->gen ? m->gen->cfg->host : NULL);
	jstr(&j, "source", f->source);
	jstr(&j, "result", f->result);
	jnum(&j, "count", f->suppressed);
	jms(&j, "window_ms", FLOOD_WINDOW);
	jstr(&j, "detail", f->detail);
	emit(&j);
}

static void flood_reset(struct record_floods *t, struct flood *f, ev_tstamp now)
{
	if (f->suppressed)
		t->active--;
	f->suppressed = 0;
	f->written = 0;
	f->start = now;
}

bool record_admit(struct meshd *m, const struct session *s)
{
	if (!m->floods && !(m->floods = calloc(1, sizeof *m->floods)))
		return true;
	struct record_floods *t = m->floods;
	ev_tstamp now = ev_now(m->loop);
	char src[160];
	flood_source(s, src, sizeof src);
	bool outbound = s->kind == SESS_OUTBOUND;
	const char *result = s->result ? s->result : "ok";
	struct flood *f = NULL, *spare = NULL;
	for (unsigned i = 0; i < FLOOD_SLOTS; i++) {
		struct flood *e = &t->slot[i];
		if (!e->used) {
			if (!spare)
				spare = e;
			continue;
		}
		if (e->outbound == outbound && strcmp(e->result, result) == 0 &&
		    strcmp(e->source, src) == 0) {
			f = e;
			break;
		}
		/* A quiet entry whose window is over can be reused. */
		if (!spare && !e->suppressed && now - e->start >= FLOOD_WINDOW)
			spare = e;
	}
	if (!f) {
		f = spare ? spare : &t->slot[FLOOD_SLOTS];
		if (spare || !f->used) {
			memset(f, 0, sizeof *f);
			f->used = true;
			f->outbound = outbound;
			f->result = result;
			f->start = now;
			snprintf(f->source, sizeof f->source, "%s", spare ? src : "*");
		}
	}
	if (now - f->start >= FLOOD_WINDOW) {
		if (f->suppressed)
			flood_write(m, f);
		flood_reset(t, f, now);
	}
	if (f->written < FLOOD_BURST) {
		f->written++;
		return true;
	}
	if (f->suppressed++ == 0)
		t->active++;
	snprintf(f->detail, sizeof f->detail, "%s", s->detail);
	return false;
}

void record_flush_floods(struct meshd *m, bool all)
{
	struct record_floods *t = m->floods;
	if (!t || !t->active)
		return;
	ev_tstamp now = ev_now(m->loop);
	for (unsigned i = 0; i <= FLOOD_SLOTS; i++) {
		struct flood *f = &t->slot[i];
		if (f->used && f->suppressed && (all || now - f->start >= FLOOD_WINDOW)) {
			flood_write(m, f);
			flood_reset(t, f, now);
		}
	}
}

void record_floods_free(struct meshd *m)
{
	record_flush_floods(m, true);
	free(m->floods);
	m->floods = NULL;
}
