/*
 * fuzz_admin_http: the request heads any local user can send the admin
 * listener (daemon/admin_http.c). Besides memory errors it checks what the
 * listener relies on: the result is "need more", a head length within the
 * input and the 8 KiB bound, or one of the statuses it answers; a complete
 * head ends with a blank line; path and query are NUL-terminated within
 * their bound, the path starts with '/' and holds no byte a request line
 * forbids; every shorter prefix of a complete head is "need more" or the
 * same rejection the whole would have met at that point, never a longer
 * head; the query reader keeps to its maximum; the Host is NUL-terminated
 * within its bound and the Host check answers 0, 400 or 403 (and 0 only
 * with a Host or in HTTP/1.0).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin_http.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *buf = (const char *)d;
	struct admin_req r;
	int rc = admin_http_parse(buf, n, &r);
	CHECK(rc == 0 || rc == -400 || rc == -414 || rc == -431 || rc == -505 || rc > 0);
	if (rc == -431)
		CHECK(n >= ADMIN_HTTP_HEAD_MAX);
	if (rc == 0)
		CHECK(n < ADMIN_HTTP_HEAD_MAX);
	if (rc <= 0)
		return 0;
	CHECK((size_t)rc <= n && rc <= ADMIN_HTTP_HEAD_MAX);
	CHECK(buf[rc - 1] == '\n');
	CHECK(rc >= 2 &&
	      (buf[rc - 2] == '\n' || (rc >= 3 && buf[rc - 2] == '\r' && buf[rc - 3] == '\n')));
	size_t pl = strnlen(r.path, sizeof r.path), ql = strnlen(r.query, sizeof r.query);
	CHECK(pl < sizeof r.path && ql < sizeof r.query);
	CHECK(r.path[0] == '/');
	for (size_t i = 0; i < pl; i++)
		CHECK((unsigned char)r.path[i] > 0x20 && (unsigned char)r.path[i] < 0x7f &&
		      r.path[i] != '?');
	CHECK(r.method <= ADMIN_OTHER);
	/* The head is what it is whatever follows it; a prefix is never a
	 * complete head of its own. */
	struct admin_req r2;
	CHECK(admin_http_parse(buf, (size_t)rc, &r2) == rc);
	CHECK(strcmp(r.path, r2.path) == 0 && strcmp(r.query, r2.query) == 0);
	for (size_t k = (size_t)rc > 64 ? (size_t)rc - 64 : 0; k < (size_t)rc; k++)
		CHECK(admin_http_parse(buf, k, &r2) <= 0);
	CHECK(strnlen(r.host, sizeof r.host) < sizeof r.host);
	CHECK(strnlen(r.ctype, sizeof r.ctype) < sizeof r.ctype);
	int hs = admin_http_host_check(&r);
	CHECK(hs == 0 || hs == 400 || hs == 403);
	CHECK(hs != 0 || r.has_host || r.minor == 0);
	(void)admin_http_browser_post(&r);
	unsigned long v;
	if (admin_http_query_uint(r.query, "limit", 10000, &v))
		CHECK(v <= 10000);
	return 0;
}
