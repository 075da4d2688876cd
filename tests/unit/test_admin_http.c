/* The admin listener's request-head parser (admin_http.c): complete heads,
 * incomplete ones (0: read more), every rejection with its status (400,
 * 414, 431, 505), Content-Length and Transfer-Encoding as the body checks
 * see them, the query reader; the Host check (DNS rebinding) and the
 * browser-POST check; and that /config's [mesh] list names every key of
 * the loader's table (admin_views.c) and its restart-only keys. */
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

/* host_status(HEAD): admin_http_host_check of a parsed head. */
static int host_status(const char *h)
{
	struct admin_req r;
	assert_true(parse(h, &r) > 0);
	return admin_http_host_check(&r);
}

static void host_check(void **state)
{
	(void)state;
	static const struct {
		const char *host;
		int status;
	} cases[] = {
		{ "127.0.0.1", 0 },
		{ "127.0.0.1:15000", 0 },
		{ "127.0.0.1:", 0 }, /* an empty port is allowed by RFC 3986 */
		{ "127.77.0.9:80", 0 },
		{ "[::1]", 0 },
		{ "[::1]:15000", 0 },
		{ "[0:0:0:0:0:0:0:1]:1", 0 },
		{ "[::ffff:127.0.0.1]:15000", 0 },
		{ "localhost", 0 },
		{ "LocalHost:15000", 0 },
		{ "evil.example", 403 },
		{ "evil.example:15000", 403 },
		{ "localhost.evil.example", 403 },
		{ "127.0.0.1.evil.example", 403 },
		{ "localhost.", 403 },
		{ "127.1", 403 }, /* not a dotted quad: a name */
		{ "0x7f.0.0.1", 403 },
		{ "10.0.0.1", 403 },
		{ "0.0.0.0:15000", 403 },
		{ "[::2]", 403 },
		{ "[::ffff:10.0.0.1]", 403 },
		{ "::1", 403 },             /* IPv6 without brackets */
		{ "[::1", 403 },            /* no closing bracket */
		{ "[::1]x", 403 },          /* junk after it */
		{ "127.0.0.1:99999", 403 }, /* not a port */
		{ "127.0.0.1:80:80", 403 }, /* two ports */
		{ "127.0.0.1:1a", 403 },
		{ "127.0.0.1 x", 403 },
		{ "", 403 },
		{ ":15000", 403 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char h[512];
		snprintf(h, sizeof h, "GET /config HTTP/1.1\r\nHost: %s\r\n\r\n", cases[i].host);
		if (host_status(h) != cases[i].status)
			fail_msg("Host '%s': %d, want %d", cases[i].host, host_status(h),
			         cases[i].status);
	}
	/* Absent: fine in HTTP/1.0, a 400 in HTTP/1.1 (RFC 9112). */
	assert_int_equal(host_status("GET /config HTTP/1.0\r\n\r\n"), 0);
	assert_int_equal(host_status("GET /config HTTP/1.1\r\n\r\n"), 400);
	/* The name is case-insensitive, and so is the header's. */
	assert_int_equal(host_status("GET / HTTP/1.1\r\nhOsT: evil.example\r\n\r\n"), 403);
	/* Two Hosts, or one over 255 bytes, are malformed. */
	struct admin_req r;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n", &r),
	                 -400);
	char big[600];
	snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: %0300d\r\n\r\n", 1);
	assert_int_equal(parse(big, &r), -400);
}

static void browser_posts(void **state)
{
	(void)state;
	struct admin_req r;
	static const struct {
		const char *head;
		bool browser;
	} cases[] = {
		{ "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false },
		{ "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", false },
		/* curl -d '' (meshctl): the one Content-Type let through */
		{ "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
		  "Content-Type: application/x-www-form-urlencoded\r\n\r\n",
		  false },
		{ "POST /reload HTTP/1.1\r\nHost: x\r\n"
		  "Content-Type: application/x-www-form-urlencoded\r\n\r\n",
		  true }, /* no Content-Length: 0 */
		{ "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
		  "Content-Type: text/plain;charset=UTF-8\r\n\r\n",
		  true },
		{ "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
		  "Content-Type: multipart/form-data; boundary=x\r\n\r\n",
		  true },
		{ "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n",
		  true },
		{ "POST /reload HTTP/1.1\r\nHost: x\r\nOrigin: null\r\n\r\n", true },
		{ "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
		  "Origin: http://127.0.0.1:15000\r\n"
		  "Content-Type: application/x-www-form-urlencoded\r\n\r\n",
		  true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_true(parse(cases[i].head, &r) > 0);
		if (admin_http_browser_post(&r) != cases[i].browser)
			fail_msg("case %zu: browser %d, want %d", i, !cases[i].browser,
			         cases[i].browser);
	}
}

/* admin, control, workers and dns: a reload cannot change them; what the file
 * says differently is pending, and /config and the reload's warning say
 * both values. */
static void restart_only_keys(void **state)
{
	(void)state;
	struct config c;
	memset(&c, 0, sizeof c);
	char ctl[] = "/run/libmesh/control";
	c.control = ctl;
	c.admin_on = true;
	assert_int_equal(net_parse_addr("127.0.0.1:15000", &c.admin), 0);
	struct admin_running run = {
		.admin_on = true, .admin = c.admin, .control = "/run/libmesh/control", .workers = 0
	};
	const char *names[ADMIN_RESTART_KEYS];
	char b[256];
	assert_int_equal(admin_pending_restart(&run, &c, names), 0);
	assert_int_equal(net_parse_addr("127.0.0.1:15001", &c.admin), 0);
	c.workers = 2;
	assert_int_equal(admin_pending_restart(&run, &c, names), 2);
	assert_string_equal(names[0], "admin");
	assert_string_equal(names[1], "workers");
	assert_string_equal(admin_restart_value("admin", NULL, &c, b, sizeof b), "127.0.0.1:15001");
	assert_string_equal(admin_restart_value("admin", &run, &c, b, sizeof b), "127.0.0.1:15000");
	assert_string_equal(admin_restart_value("workers", NULL, &c, b, sizeof b), "2");
	assert_string_equal(admin_restart_value("workers", &run, &c, b, sizeof b), "auto");
	c.admin_on = false;
	c.workers = 0;
	char ctl2[] = "/tmp/other";
	c.control = ctl2;
	assert_int_equal(admin_pending_restart(&run, &c, names), 2);
	assert_string_equal(names[0], "admin");
	assert_string_equal(names[1], "control");
	assert_string_equal(admin_restart_value("admin", NULL, &c, b, sizeof b), "off");
	assert_string_equal(admin_restart_value("control", &run, &c, b, sizeof b),
	                    "/run/libmesh/control");
	/* dns, the same way */
	c.admin_on = true;
	c.admin = run.admin;
	c.control = ctl;
	assert_int_equal(admin_pending_restart(&run, &c, names), 0);
	c.dns_on = true;
	assert_int_equal(net_parse_addr("127.0.0.1:53", &c.dns), 0);
	assert_int_equal(admin_pending_restart(&run, &c, names), 1);
	assert_string_equal(names[0], "dns");
	assert_string_equal(admin_restart_value("dns", NULL, &c, b, sizeof b), "127.0.0.1:53");
	assert_string_equal(admin_restart_value("dns", &run, &c, b, sizeof b), "off");
	run.dns_on = true;
	run.dns = c.dns;
	assert_int_equal(admin_pending_restart(&run, &c, names), 0);
	assert_int_equal(net_parse_addr("127.0.0.1:5353", &c.dns), 0);
	assert_int_equal(admin_pending_restart(&run, &c, names), 1);
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
		cmocka_unit_test(complete_heads),    cmocka_unit_test(incomplete_heads),
		cmocka_unit_test(rejections),        cmocka_unit_test(bounds),
		cmocka_unit_test(query_numbers),     cmocka_unit_test(query_presence),
		cmocka_unit_test(host_check),        cmocka_unit_test(browser_posts),
		cmocka_unit_test(restart_only_keys), cmocka_unit_test(config_shows_every_mesh_key),
	};
	return cmocka_run_group_tests_name("admin_http", tests, NULL, NULL);
}
