/* A worker's recent failures: the ring keeps the last RECENT_MAX, newest
 * first, across the wrap-around; an ok session leaves nothing; a failed
 * one is summarized as its record would say it (the source is "uid N"
 * when an outbound caller has no identity; inbound keeps no caller). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "recent.h"
#include "session.h"

static void empty(void **state)
{
	(void)state;
	struct recent *r = recent_new();
	assert_non_null(r);
	assert_int_equal(recent_count(r), 0);
	assert_null(recent_at(r, 0));
	recent_free(r);
}

static void newest_first_before_the_wrap(void **state)
{
	(void)state;
	struct recent *r = recent_new();
	for (unsigned i = 0; i < 5; i++)
		recent_push(r, 100 + i)->id = i;
	assert_int_equal(recent_count(r), 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(recent_at(r, i)->id, 4 - i);
	assert_null(recent_at(r, 5));
	recent_free(r);
}

/* 3 * RECENT_MAX + 7 entries: the ring holds the last RECENT_MAX, in
 * order, whatever slot the newest landed in. */
static void wraps_keeping_the_last(void **state)
{
	(void)state;
	struct recent *r = recent_new();
	unsigned n = 3 * RECENT_MAX + 7;
	for (unsigned i = 0; i < n; i++) {
		struct recent_entry *e = recent_push(r, 1000 + i);
		assert_int_equal(e->id, 0); /* the slot comes zeroed */
		e->id = i;
		assert_int_equal(recent_count(r), i + 1 < RECENT_MAX ? i + 1 : RECENT_MAX);
		assert_int_equal(recent_at(r, 0)->id, i);
	}
	assert_int_equal(r->total, n);
	assert_int_equal(recent_count(r), RECENT_MAX);
	for (unsigned i = 0; i < RECENT_MAX; i++) {
		assert_int_equal(recent_at(r, i)->id, n - 1 - i);
		assert_float_equal(recent_at(r, i)->time, 1000 + n - 1 - i, 1e-9);
	}
	assert_null(recent_at(r, RECENT_MAX));
	recent_free(r);
}

static struct session *outbound_session(void)
{
	struct session *s = calloc(1, sizeof *s);
	s->kind = SESS_OUTBOUND;
	s->id = 0x1234abcdull;
	s->uid = 1000;
	s->pid = 42;
	s->port = 80;
	snprintf(s->svc_name, sizeof s->svc_name, "hello");
	snprintf(s->endpoint, sizeof s->endpoint, "10.0.0.2:15001");
	snprintf(s->program, sizeof s->program, "curl");
	snprintf(s->detail, sizeof s->detail, "connection refused");
	return s;
}

static void notes_failures_only(void **state)
{
	(void)state;
	struct recent *r = recent_new();
	struct session *s = outbound_session();
	s->result = RESULT_OK;
	recent_note(r, s, 5);
	assert_int_equal(recent_count(r), 0);
	recent_note(NULL, s, 5); /* no ring: nothing, no crash */

	s->result = RESULT_REFUSED;
	recent_note(r, s, 6);
	assert_int_equal(recent_count(r), 1);
	const struct recent_entry *e = recent_at(r, 0);
	assert_float_equal(e->time, 6, 1e-9);
	assert_int_equal(e->id, 0x1234abcdull);
	assert_true(e->outbound);
	assert_int_equal(e->result, RESULT_REFUSED);
	assert_int_equal(e->port, 80);
	assert_string_equal(e->service, "hello");
	assert_string_equal(e->source, "uid 1000"); /* no identity */
	assert_string_equal(e->endpoint, "10.0.0.2:15001");
	assert_string_equal(e->peer, "");
	assert_string_equal(e->detail, "connection refused");
	assert_int_equal(e->uid, 1000);
	assert_int_equal(e->pid, 42);
	assert_string_equal(e->program, "curl");

	snprintf(s->source, sizeof s->source, "spiffe://td/svc/web");
	s->result = RESULT_DENIED;
	recent_note(r, s, 7);
	assert_string_equal(recent_at(r, 0)->source, "spiffe://td/svc/web");
	free(s);
	recent_free(r);
}

static void inbound_keeps_no_caller(void **state)
{
	(void)state;
	struct recent *r = recent_new();
	struct session *s = outbound_session();
	s->kind = SESS_INBOUND;
	s->uid = PROTO_UID_UNKNOWN;
	s->pid = 0;
	s->program[0] = '\0';
	s->claimed_uid = 1000; /* the calling host's word: not kept */
	snprintf(s->source, sizeof s->source, "spiffe://td/svc/batch");
	s->result = RESULT_DENIED;
	recent_note(r, s, 8);
	const struct recent_entry *e = recent_at(r, 0);
	assert_false(e->outbound);
	assert_string_equal(e->source, "spiffe://td/svc/batch");
	assert_int_equal(e->uid, PROTO_UID_UNKNOWN);
	assert_int_equal(e->pid, 0);
	assert_string_equal(e->program, "");
	free(s);
	recent_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty),
		cmocka_unit_test(newest_first_before_the_wrap),
		cmocka_unit_test(wraps_keeping_the_last),
		cmocka_unit_test(notes_failures_only),
		cmocka_unit_test(inbound_keeps_no_caller),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
