/*
 * Traffic records: one JSON object per line, built here from a session and
 * handed to log.c in a single write. Field names are the README's
 * "Traffic records" table; the connection id is the same on both hosts.
 */
#include "mesh.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
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
