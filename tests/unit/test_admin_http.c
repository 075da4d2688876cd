/* The admin listener's request-head parser (admin_http.c): complete heads,
 * incomplete ones (0: read more), every rejection with its status (400,
 * 414, 431, 505), Content-Length and Transfer-Encoding as the body checks
 * see them, the query reader; and that /config's [mesh] list names every
 * key of the loader's table (admin_views.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_http.h"
#include "admin_views.h"
#include "config_keys.h"

static int parse(const char *s, struct admin_req *r)
{
	return admin_http_parse(s, strlen(s), r);
}

static void complete_heads(void **state)
{
	(void)state;
	struct admin_req r;
	const char *h = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";
	assert_int_equal(parse(h, &r), (int)strlen(h));
	assert_int_equal(r.method, ADMIN_GET);
	assert_string_equal(r.path, "/metrics");
	assert_string_equal(r.query, "");
	assert_int_equal(r.minor, 1);
	assert_false(r.has_length);

	/* Bare LFs, HTTP/1.0, a query, bytes after the head (not counted). */
	h = "POST /reload?x=1 HTTP/1.0\nContent-Length: 0\n\nextra";
	assert_int_equal(parse(h, &r), (int)strlen(h) - 5);
	assert_int_equal(r.method, ADMIN_POST);
	assert_string_equal(r.path, "/reload");
	assert_string_equal(r.query, "x=1");
	assert_true(r.has_length);
	assert_int_equal(r.content_length, 0);
	assert_int_equal(r.minor, 0);

	assert_true(parse("HEAD / HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.method, ADMIN_HEAD);
	assert_true(parse("DELETE /reload HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.method, ADMIN_OTHER);
	assert_true(parse("get / HTTP/1.1\r\n\r\n", &r) > 0); /* methods are case-sensitive */
	assert_int_equal(r.method, ADMIN_OTHER);
	/* Field values: trailing white space and obs-text are fine. */
	assert_true(parse("GET / HTTP/1.1\r\nX: a \t\r\nY: \xc3\xa9\r\nZ:\r\n\r\n", &r) > 0);
}

static void incomplete_heads(void **state)
{
	(void)state;
	struct admin_req r;
	const char *h = "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n";
	for (size_t n = 0; n < strlen(h); n++)
		assert_int_equal(admin_http_parse(h, n, &r), 0);
	assert_int_equal(admin_http_parse(h, strlen(h), &r), (int)strlen(h));
}

static void rejections(void **state)
{
	(void)state;
	struct admin_req r;
	static const struct {
		const char *head;
		int status;
	} bad[] = {
		{ "GET /\r\n\r\n", -400 },                  /* no version */
		{ "GET / HTTP/1.1 \r\n\r\n", -400 },        /* trailing space */
		{ "GET  / HTTP/1.1\r\n\r\n", -400 },        /* two spaces */
		{ " GET / HTTP/1.1\r\n\r\n", -400 },        /* leading space */
		{ "GET http://x/ HTTP/1.1\r\n\r\n", -400 }, /* absolute form */
		{ "GET * HTTP/1.1\r\n\r\n", -400 },         /* asterisk form */
		{ "GET /a\x01 HTTP/1.1\r\n\r\n", -400 },    /* control in the target */
		{ "GET /\x80 HTTP/1.1\r\n\r\n", -400 },     /* non-ASCII in the target */
		{ "GET / HTTP/2.0\r\n\r\n", -505 },
		{ "GET / HTTP/1.10\r\n\r\n", -400 },
		{ "GET / http/1.1\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", -400 },   /* space before the colon */
		{ "GET / HTTP/1.1\r\nHost\r\n\r\n", -400 },       /* no colon */
		{ "GET / HTTP/1.1\r\n: x\r\n\r\n", -400 },        /* no name */
		{ "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", -400 }, /* folded */
		{ "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", -400 },   /* control in a value */
		{ "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", -400 },    /* bare CR */
		{ "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: \r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n", -400 },
		{ "VERYVERYVERYLONGMETHOD / HTTP/1.1\r\n\r\n", -400 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse(bad[i].head, &r);
		if (rc != bad[i].status)
			fail_msg("%zu: %s: %d, want %d", i, bad[i].head, rc, bad[i].status);
	}
	/* A NUL anywhere in the head. */
	const char nul[] = "GET / HTTP/1.1\r\nA: \0b\r\n\r\n";
	assert_int_equal(admin_http_parse(nul, sizeof nul - 1, &r), -400);
	/* Two equal Content-Lengths are one. */
	assert_true(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &r) >
	            0);
	assert_int_equal(r.content_length, 5);
	assert_true(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r) > 0);
	assert_true(r.has_body_coding);
}

static void bounds(void **state)
{
	(void)state;
	struct admin_req r;
	char buf[ADMIN_HTTP_HEAD_MAX + 64];
	/* The longest target taken, one more is 414. */
	int n = snprintf(buf, sizeof buf, "GET /%0*d HTTP/1.1\r\n\r\n", ADMIN_HTTP_TARGET_MAX - 1,
	                 0);
	assert_int_equal(admin_http_parse(buf, (size_t)n, &r), n);
	assert_int_equal(strlen(r.path), ADMIN_HTTP_TARGET_MAX);
	n = snprintf(buf, sizeof buf, "GET /%0*d HTTP/1.1\r\n\r\n", ADMIN_HTTP_TARGET_MAX, 0);
	assert_int_equal(admin_http_parse(buf, (size_t)n, &r), -414);
	/* A head of exactly ADMIN_HTTP_HEAD_MAX bytes is taken; without its
	 * end by then, 431 (however much more there is). */
	const char *start = "GET / HTTP/1.1\r\nX: ";
	size_t s = strlen(start);
	memcpy(buf, start, s);
	memset(buf + s, 'a', ADMIN_HTTP_HEAD_MAX - s - 4);
	memcpy(buf + ADMIN_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
	assert_int_equal(admin_http_parse(buf, ADMIN_HTTP_HEAD_MAX, &r), ADMIN_HTTP_HEAD_MAX);
	memset(buf + ADMIN_HTTP_HEAD_MAX - 4, 'a', 4);
	assert_int_equal(admin_http_parse(buf, ADMIN_HTTP_HEAD_MAX - 1, &r), 0);
	assert_int_equal(admin_http_parse(buf, ADMIN_HTTP_HEAD_MAX, &r), -431);
	memset(buf + ADMIN_HTTP_HEAD_MAX, '\n', 64);
	assert_int_equal(admin_http_parse(buf, sizeof buf, &r), -431);
}

static void query_numbers(void **state)
{
	(void)state;
	unsigned long v = 7;
	assert_true(admin_http_query_uint("limit=20", "limit", 10000, &v));
	assert_int_equal(v, 20);
	assert_true(admin_http_query_uint("a=1&limit=0&b", "limit", 10000, &v));
	assert_int_equal(v, 0);
	assert_true(admin_http_query_uint("xlimit=3&limit=4", "limit", 10000, &v));
	assert_int_equal(v, 4);
	assert_true(admin_http_query_uint("limit=10000", "limit", 10000, &v));
	assert_false(admin_http_query_uint("limit=10001", "limit", 10000, &v));
	assert_false(admin_http_query_uint("limit=99999999999999999999999", "limit", 10000, &v));
	assert_false(admin_http_query_uint("limit=", "limit", 10000, &v));
	assert_false(admin_http_query_uint("limit=1x", "limit", 10000, &v));
	assert_false(admin_http_query_uint("limit=-1", "limit", 10000, &v));
	assert_false(admin_http_query_uint("other=1", "limit", 10000, &v));
	assert_false(admin_http_query_uint("", "limit", 10000, &v));
}

/* Presence is decided parameter by parameter: a name that merely ends in
 * "limit" is another parameter (the router once took "xlimit=3" for a
 * bad limit and answered 400). */
static void query_presence(void **state)
{
	(void)state;
	assert_false(admin_http_query_has("xlimit=3", "limit"));
	assert_false(admin_http_query_has("a=1&xlimit=3", "limit"));
	assert_false(admin_http_query_has("limits=3", "limit"));
	assert_false(admin_http_query_has("", "limit"));
	assert_true(admin_http_query_has("limit=3", "limit"));
	assert_true(admin_http_query_has("xlimit=3&limit=x", "limit"));
	assert_true(admin_http_query_has("a&limit", "limit"));
	assert_true(admin_http_query_has("limit&a=1", "limit"));
}

static void config_shows_every_mesh_key(void **state)
{
	(void)state;
	assert_int_equal(admin_mesh_key_count, MK_COUNT);
	for (unsigned k = 0; k < MK_COUNT; k++) {
		bool found = false;
		for (unsigned i = 0; i < admin_mesh_key_count; i++)
			found |= strcmp(admin_mesh_key_name(i), cfg_mesh_keys[k].name) == 0;
		if (!found)
			fail_msg("[mesh] %s is not in /config (admin_views.c mesh_keys)",
			         cfg_mesh_keys[k].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(complete_heads),
		cmocka_unit_test(incomplete_heads),
		cmocka_unit_test(rejections),
		cmocka_unit_test(bounds),
		cmocka_unit_test(query_numbers),
		cmocka_unit_test(query_presence),
		cmocka_unit_test(config_shows_every_mesh_key),
	};
	return cmocka_run_group_tests_name("admin_http", tests, NULL, NULL);
}
