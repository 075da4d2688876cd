/*
 * Recent failures: see recent.h. The ring is fixed in size and lives as
 * long as its worker, so keeping a failure costs a copy and never an
 * allocation, and a flood of refusals (whose records record.c counts into
 * aggregates) replaces older entries instead of growing anything.
 */
#include "recent.h"
#include "session.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct recent *recent_new(void)
{
	return calloc(1, sizeof(struct recent));
}

void recent_free(struct recent *r)
{
	free(r);
}

struct recent_entry *recent_push(struct recent *r, double time)
{
	struct recent_entry *e = &r->e[r->next];
	r->next = (r->next + 1) % RECENT_MAX;
	r->total++;
	memset(e, 0, sizeof *e);
	e->time = time;
	e->uid = PROTO_UID_UNKNOWN;
	return e;
}

unsigned recent_count(const struct recent *r)
{
	return r->total < RECENT_MAX ? (unsigned)r->total : RECENT_MAX;
}

const struct recent_entry *recent_at(const struct recent *r, unsigned i)
{
	if (i >= recent_count(r))
		return NULL;
	return &r->e[(r->next + RECENT_MAX - 1 - i) % RECENT_MAX];
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

void recent_note(struct recent *r, const struct session *s, double now)
{
	if (!r || s->result == RESULT_OK || s->result == RESULT_UNSET)
		return;
	struct recent_entry *e = recent_push(r, now);
	e->id = s->id;
	e->worker = s->m ? s->m->index : 0;
	e->outbound = s->kind == SESS_OUTBOUND;
	e->result = s->result;
	e->port = s->port;
	copy(e->service, sizeof e->service, s->svc_name);
	copy(e->endpoint, sizeof e->endpoint, s->endpoint);
	copy(e->peer, sizeof e->peer, s->peer);
	copy(e->detail, sizeof e->detail, s->detail);
	if (s->source[0])
		copy(e->source, sizeof e->source, s->source);
	else if (e->outbound && s->uid != PROTO_UID_UNKNOWN)
		snprintf(e->source, sizeof e->source, "uid %u", (unsigned)s->uid);
	/* Inbound, only this host's facts: the calling host's claims about
	 * its caller are in the record, not here. */
	if (e->outbound) {
		e->uid = s->uid;
		e->pid = s->pid;
		copy(e->program, sizeof e->program, s->program);
	}
}
