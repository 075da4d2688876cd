/*
 * Traffic records: one JSON object per line, built here from a session and
 * handed to log.c in a single write. Field names are the README's
 * "Traffic records" table; the connection id is the same on both hosts.
 * Every line is valid UTF-8 JSON whatever the strings hold (program names,
 * a peer's header, certificate URIs): see json.c. On inbound
 * records what the calling host's header says about its caller sits under
 * "claimed", apart from what this host knows. A connection's open and
 * progress records carry the close record's fields up to its bytes.
 */
#include "gen.h"
#include "worker.h"
#include "session.h"
#include "log.h"
#include "record.h"
#include "json.h"
#include "result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One record is built in b. Fields go in whole or not at all (a string
 * value may be cut, between characters), and the end of the buffer is
 * kept for the end of the object: whatever the fields hold, the line is
 * valid JSON, and says "truncated" when something did not fit. One more
 * byte is kept while a nested object is open, for its '}'. */
#define JBUF_TAIL (sizeof ",\"truncated\":true}\n")

struct jbuf {
	char b[2048];
	size_t n;
	bool first;
	bool nested;
	bool truncated;
};

static size_t jroom(const struct jbuf *j)
{
	size_t lim = sizeof j->b - JBUF_TAIL - (j->nested ? 1 : 0);
	return j->n < lim ? lim - j->n : 0;
}

/* Append all of it or nothing (false). */
static bool jraw(struct jbuf *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jraw(struct jbuf *j, const char *fmt, ...)
{
	size_t room = jroom(j);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(j->b + j->n, room, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= room)
		return false;
	j->n += (size_t)m;
	return true;
}

struct jmark {
	size_t n;
	bool first;
};

static struct jmark jmark(const struct jbuf *j)
{
	return (struct jmark){ j->n, j->first };
}

/* A field did not fit: take it out again. */
static void jdrop(struct jbuf *j, struct jmark m)
{
	j->n = m.n;
	j->first = m.first;
	j->truncated = true;
}

/* Keys are this file's literals: never escaped. */
static bool jkey(struct jbuf *j, const char *k)
{
	if (!jraw(j, "%s\"%s\":", j->first ? "" : ",", k))
		return false;
	j->first = false;
	return true;
}

static void jstr(struct jbuf *j, const char *k, const char *v)
{
	if (!v || !*v)
		return;
	struct jmark m = jmark(j);
	/* The key, both quotes and at least the escaper's NUL. */
	if (!jkey(j, k) || jroom(j) < 3) {
		jdrop(j, m);
		return;
	}
	bool cut;
	j->b[j->n++] = '"';
	j->n += json_escape(j->b + j->n, jroom(j) - 1, v, &cut);
	j->b[j->n++] = '"';
	if (cut)
		j->truncated = true;
}

static void jnum(struct jbuf *j, const char *k, unsigned long long v)
{
	struct jmark m = jmark(j);
	if (!jkey(j, k) || !jraw(j, "%llu", v))
		jdrop(j, m);
}

static void jbool(struct jbuf *j, const char *k, bool v)
{
	struct jmark m = jmark(j);
	if (!jkey(j, k) || !jraw(j, "%s", v ? "true" : "false"))
		jdrop(j, m);
}

static void jms(struct jbuf *j, const char *k, double secs)
{
	struct jmark m = jmark(j);
	if (!jkey(j, k) || !jraw(j, "%.3f", secs * 1000.0))
		jdrop(j, m);
}

/* "k":{ ... } (one level): jopen false means nothing was written. */
static bool jopen(struct jbuf *j, const char *k)
{
	struct jmark m = jmark(j);
	if (!jkey(j, k) || !jraw(j, "{") || jroom(j) < 1) {
		jdrop(j, m);
		return false;
	}
	j->nested = true;
	j->first = true;
	return true;
}

static void jclose(struct jbuf *j)
{
	j->nested = false; /* gives back the byte kept for this */
	j->b[j->n++] = '}';
	j->first = false;
}

static void emit(struct jbuf *j)
{
	static const char trunc[] = ",\"truncated\":true";
	if (j->nested)
		jclose(j);
	/* The tail kept in jroom holds these. */
	if (j->truncated) {
		size_t skip = j->first ? 1 : 0;
		memcpy(j->b + j->n, trunc + skip, sizeof trunc - 1 - skip);
		j->n += sizeof trunc - 1 - skip;
	}
	memcpy(j->b + j->n, "}\n", 2);
	j->n += 2;
	traffic_write(j->b, j->n);
}

static void begin(struct jbuf *j, const char *event)
{
	char ts[40];
	j->n = 0;
	j->first = true;
	j->nested = false;
	j->truncated = false;
	jraw(j, "{");
	log_timestamp(ts, sizeof ts);
	jstr(j, "time", ts);
	jstr(j, "event", event);
}

void record_endpoint(const char *host, const char *event, const char *service, const char *endpoint,
                     enum result result, unsigned failures, unsigned ejections, double secs)
{
	struct jbuf j;
	begin(&j, event);
	jstr(&j, "host", host);
	jstr(&j, "service", service);
	jstr(&j, "endpoint", endpoint);
	if (failures) {
		jnum(&j, "failures", failures);
		jstr(&j, "result", result_word(result));
	}
	jnum(&j, "ejections", ejections);
	jms(&j, strcmp(event, "eject") == 0 ? "ejection_ms" : "ejected_ms", secs);
	emit(&j);
}

/* "k":["a","b",...]: the strings that fit (the rest make the record
 * "truncated"). The strings are addresses: nothing to escape, but they go
 * through json_escape all the same. */
static void jstrv(struct jbuf *j, const char *k, const char *const *v, unsigned n)
{
	struct jmark m = jmark(j);
	if (!jkey(j, k) || !jraw(j, "["))
		goto drop;
	for (unsigned i = 0; i < n; i++) {
		size_t need = strlen(v[i]) * 6 + 4;
		if (jroom(j) < need + 1) {
			j->truncated = true;
			break;
		}
		bool cut;
		if (i)
			j->b[j->n++] = ',';
		j->b[j->n++] = '"';
		j->n += json_escape(j->b + j->n, jroom(j) - 1, v[i], &cut);
		j->b[j->n++] = '"';
	}
	if (jraw(j, "]"))
		return;
drop:
	jdrop(j, m);
}

void record_discovery(const char *host, const char *service, const char *source,
                      const char *const *endpoints, unsigned n, unsigned ttl, const char *result,
                      const char *error)
{
	struct jbuf j;
	begin(&j, "discovery");
	jstr(&j, "host", host);
	jstr(&j, "service", service);
	jstr(&j, "name", source);
	jstr(&j, "result", result);
	jstr(&j, "error", error);
	jnum(&j, "ttl", ttl);
	jnum(&j, "count", n);
	jstrv(&j, "endpoints", endpoints, n);
	emit(&j);
}

/* What every record of a session says, up to its bytes: who called whom,
 * over what, for how long. */
static void session_head(struct jbuf *j, const struct session *s, const char *event)
{
	const struct config *c = s->gen->cfg;
	char id[17];
	snprintf(id, sizeof id, "%016llx", (unsigned long long)s->id);

	begin(j, event);
	jstr(j, "id", id);
	jstr(j, "direction", s->kind == SESS_OUTBOUND ? "outbound" : "inbound");
	jstr(j, "host", c->host);
	jstr(j, "client", s->client);
	jstr(j, "source", s->source);
	if (s->kind == SESS_INBOUND) {
		/* What the calling host's header said about its caller: its
		 * word, not ours, so apart from the facts. */
		if (s->claims &&
		    (s->claimed_uid != PROTO_UID_UNKNOWN || s->claimed_pid ||
		     s->claimed_program[0]) &&
		    jopen(j, "claimed")) {
			if (s->claimed_uid != PROTO_UID_UNKNOWN)
				jnum(j, "uid", s->claimed_uid);
			if (s->claimed_pid)
				jnum(j, "pid", s->claimed_pid);
			jstr(j, "program", s->claimed_program);
			jclose(j);
		}
	} else {
		if (s->uid != PROTO_UID_UNKNOWN)
			jnum(j, "uid", s->uid);
		if (s->pid)
			jnum(j, "pid", s->pid);
		jstr(j, "program", s->program);
	}
	jstr(j, "service", s->svc_name);
	if (s->port)
		jnum(j, "port", s->port);
	jstr(j, "endpoint", s->endpoint);
	jstr(j, "peer", s->peer);
	if (s->kind == SESS_OUTBOUND)
		jnum(j, "attempts", s->attempts);
	if (s->t_connected > 0)
		jms(j, "connect_ms", s->t_connected - s->t_start);
	jms(j, "duration_ms", ev_time() - s->t_start);
}

/* Application bytes only: header, status and frame headers are protocol
 * and never counted. side[0] is the caller (outbound) or the stream
 * (inbound): either way, bytes read from it went towards the service. */
static uint64_t bytes_sent(const struct session *s)
{
	return s->relay.side[0].bytes_read;
}

static uint64_t bytes_received(const struct session *s)
{
	return s->relay.side[1].bytes_read;
}

static void session_tls(struct jbuf *j, const struct session *s)
{
	if (s->tls_up) {
		jstr(j, "tls", "TLSv1.3");
		jbool(j, "reused", s->reused);
	}
}

void record_close(const struct session *s)
{
	struct jbuf j;
	session_head(&j, s, "close");
	jnum(&j, "bytes_sent", bytes_sent(s));
	jnum(&j, "bytes_received", bytes_received(s));
	session_tls(&j, s);
	jstr(&j, "result", result_word(s->result ? s->result : RESULT_OK));
	jstr(&j, "detail", s->detail);
	emit(&j);
}

/*
 * Live records. A session that reaches the relay joins its worker's
 * progress queue, kept in the order of each session's last record (the
 * relay's start counts as one): a record moves its session to the end, so
 * the sessions due are always at the head and a sweep looks at no session
 * it does not write. The totals the last progress record said are kept,
 * so that its deltas, added up, are its totals: what a reader of the log
 * sums per interval without keeping state of its own. Times here are
 * the caller's monotonic clock (session_clock): a step of the wall clock
 * must neither stop progress records nor bring a burst of them.
 */
static void enqueue(struct worker *m, struct session *s)
{
	s->rec_next = NULL;
	s->rec_prev = m->progress_tail;
	if (m->progress_tail)
		m->progress_tail->rec_next = s;
	else
		m->progress_head = s;
	m->progress_tail = s;
	s->rec_queued = true;
}

void record_unqueue(struct session *s)
{
	struct worker *m = s->m;
	if (!s->rec_queued)
		return;
	if (s->rec_prev)
		s->rec_prev->rec_next = s->rec_next;
	else
		m->progress_head = s->rec_next;
	if (s->rec_next)
		s->rec_next->rec_prev = s->rec_prev;
	else
		m->progress_tail = s->rec_prev;
	s->rec_prev = s->rec_next = NULL;
	s->rec_queued = false;
}

void record_open(struct session *s, double now)
{
	s->t_record = now;
	s->rec_sent = s->rec_received = 0;
	enqueue(s->m, s);
	if (!s->gen->cfg->open_records)
		return;
	struct jbuf j;
	session_head(&j, s, "open");
	jnum(&j, "bytes_sent", bytes_sent(s));
	jnum(&j, "bytes_received", bytes_received(s));
	session_tls(&j, s);
	emit(&j);
}

static void record_progress_one(struct session *s, double now)
{
	uint64_t sent = bytes_sent(s), recv = bytes_received(s);
	struct jbuf j;
	session_head(&j, s, "progress");
	jnum(&j, "bytes_sent", sent);
	jnum(&j, "bytes_received", recv);
	jnum(&j, "bytes_sent_delta", sent - s->rec_sent);
	jnum(&j, "bytes_received_delta", recv - s->rec_received);
	session_tls(&j, s);
	emit(&j);
	s->rec_sent = sent;
	s->rec_received = recv;
	s->t_record = now;
}

unsigned record_progress(struct worker *m, double now, double interval, unsigned limit)
{
	unsigned n = 0;
	while (n < limit && m->progress_head && now - m->progress_head->t_record >= interval) {
		struct session *s = m->progress_head;
		record_progress_one(s, now);
		record_unqueue(s);
		enqueue(m, s);
		n++;
	}
	return n;
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
#define FLOOD_SLOTS 64
#define FLOOD_BURST 100
#define FLOOD_WINDOW 10.0

struct flood {
	bool used;
	bool outbound;
	enum result result;
	char source[160];
	ev_tstamp start;
	unsigned written;
	uint64_t suppressed;
	char detail[160]; /* the last suppressed one's */
};

struct record_floods {
	struct flood slot[FLOOD_SLOTS + 1]; /* the last one is "*" */
	unsigned active;                    /* slots with suppressed > 0 */
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

static void flood_write(const struct worker *m, struct flood *f)
{
	struct jbuf j;
	begin(&j, "aggregate");
	jstr(&j, "direction", f->outbound ? "outbound" : "inbound");
	jstr(&j, "host", m->gen ? m->gen->cfg->host : NULL);
	jstr(&j, "source", f->source);
	jstr(&j, "result", result_word(f->result));
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

bool record_admit(struct worker *m, const struct session *s)
{
	if (!m->floods && !(m->floods = calloc(1, sizeof *m->floods)))
		return true;
	struct record_floods *t = m->floods;
	ev_tstamp now = ev_now(m->loop);
	char src[160];
	flood_source(s, src, sizeof src);
	bool outbound = s->kind == SESS_OUTBOUND;
	enum result result = s->result ? s->result : RESULT_OK;
	struct flood *f = NULL, *spare = NULL;
	for (unsigned i = 0; i < FLOOD_SLOTS; i++) {
		struct flood *e = &t->slot[i];
		if (!e->used) {
			if (!spare)
				spare = e;
			continue;
		}
		if (e->outbound == outbound && e->result == result && strcmp(e->source, src) == 0) {
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

void record_flush_floods(struct worker *m, bool all)
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

void record_floods_free(struct worker *m)
{
	record_flush_floods(m, true);
	free(m->floods);
	m->floods = NULL;
}
