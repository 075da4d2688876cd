/*
 * A worker's recent failures (recent.c): the summaries of the last
 * RECENT_MAX connections that ended with a result other than ok, kept in
 * a fixed ring that a flood only overwrites. Written by session_end and
 * read by the admin thread's question (worker_query), both in the
 * worker's own loop: no lock, and no other thread touches a ring.
 */
#ifndef MESHD_RECENT_H
#define MESHD_RECENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"
#include "result.h"

struct session;

#define RECENT_MAX 32

/* One failed connection, as its close record (or its flood's aggregate)
 * told it. Strings are copies, NUL-terminated, "" when unknown. */
struct recent_entry {
	double time;     /* wall clock, seconds since the epoch: when it ended */
	uint64_t id;     /* the record's id (the same on both hosts) */
	unsigned worker; /* whose ring it is in */
	bool outbound;
	enum result result;
	uint16_t port;     /* 0: none */
	uint32_t uid, pid; /* outbound: PROTO_UID_UNKNOWN, 0 when not known */
	char service[CFG_NAME_MAX + 1];
	char source[160]; /* spiffe URI, or "uid N" (outbound, no identity) */
	char endpoint[64];
	char peer[160];
	char detail[160];
	char program[PROTO_NAME_MAX + 1];
};

struct recent {
	struct recent_entry e[RECENT_MAX];
	unsigned next;  /* the slot the next entry takes */
	uint64_t total; /* entries ever added: more than RECENT_MAX wrapped */
};

struct recent *recent_new(void);
void recent_free(struct recent *r);
/* The slot for a new entry (zeroed, time set), overwriting the oldest
 * once the ring is full. Pure. */
struct recent_entry *recent_push(struct recent *r, double time);
/* How many entries the ring holds (at most RECENT_MAX), and the i-th,
 * newest first (0: the last one added); NULL past the end. Pure. */
unsigned recent_count(const struct recent *r);
const struct recent_entry *recent_at(const struct recent *r, unsigned i);
/* A session that ended with s->result other than ok: its summary, at
 * wall time now. A no-op for ok (and for a ring that is NULL). */
void recent_note(struct recent *r, const struct session *s, double now);

#endif
