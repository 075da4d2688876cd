/*
 * The admin listener's HTTP/1.1 request head parser (admin_http.c): pure,
 * no I/O, so that the unit tests and the fuzz target see exactly what the
 * listener sees. One request per connection and no body, so only the
 * request line and the two headers that could announce a body matter;
 * everything else is checked for form and skipped.
 */
#ifndef MESHD_ADMIN_HTTP_H
#define MESHD_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_HTTP_HEAD_MAX 8192 /* request line and headers, CRLFs included */
#define ADMIN_HTTP_TARGET_MAX 255
#define ADMIN_HTTP_HOST_MAX 255 /* a longer Host is malformed */
#define ADMIN_HTTP_CTYPE_MAX 63

enum admin_method { ADMIN_GET, ADMIN_HEAD, ADMIN_POST, ADMIN_OTHER };

struct admin_req {
	enum admin_method method;
	char path[ADMIN_HTTP_TARGET_MAX + 1];  /* "/connections" */
	char query[ADMIN_HTTP_TARGET_MAX + 1]; /* "limit=5", "" when none */
	bool has_length;
	uint64_t content_length;
	bool has_body_coding; /* Transfer-Encoding was sent */
	unsigned minor;       /* HTTP/1.minor */
	bool has_host;        /* a second Host is malformed (-400) */
	char host[ADMIN_HTTP_HOST_MAX + 1];
	bool has_origin;                      /* Origin was sent: a browser's request */
	bool has_ctype;                       /* Content-Type was sent */
	char ctype[ADMIN_HTTP_CTYPE_MAX + 1]; /* its first bytes */
};

/*
 * Parse the head at the start of buf[0..len). Returns the head's length
 * (> 0) once the blank line that ends it is there, 0 when more bytes are
 * needed (and fewer than ADMIN_HTTP_HEAD_MAX have come), or minus the
 * HTTP status to answer: -400 malformed, -414 target too long, -431 head
 * too long, -505 not HTTP/1.x. *req is filled on success.
 */
int admin_http_parse(const char *buf, size_t len, struct admin_req *req);

/*
 * Whether the Host of req names this listener, against DNS rebinding (a
 * web page whose name an attacker points at 127.0.0.1 must not read the
 * API through a local user's browser): 0 when Host is absent in HTTP/1.0,
 * a loopback IP literal (127.0.0.0/8, [::1], [::ffff:127.x.y.z]) or
 * "localhost", with an optional port (the configured admin address is one
 * of these: config refuses any other); 400 when an HTTP/1.1 request has no
 * Host (RFC 9112); 403 for any other name.
 */
int admin_http_host_check(const struct admin_req *req);

/*
 * Whether a POST without a body may be what a browser sent on its own (a
 * "simple request" a web page can make without asking): it carries an
 * Origin, or a Content-Type. The one Content-Type let through is
 * application/x-www-form-urlencoded with Content-Length 0, what
 * `curl -d ''` (meshctl) sends; with no Host check passed a page cannot
 * reach the listener by name, and a page of another loopback origin
 * always sends Origin on a POST.
 */
bool admin_http_browser_post(const struct admin_req *req);

/* The value of name=N in a query string ("a=1&limit=20"), decimal, at
 * most max. False when absent or not such a number. */
bool admin_http_query_uint(const char *query, const char *name, unsigned long max,
                           unsigned long *out);

/* Whether the query string has a parameter of that name ("name=...", or
 * "name" alone), parameter by parameter: "xlimit=3" has no "limit". */
bool admin_http_query_has(const char *query, const char *name);

/* The reason phrase of a status this listener answers ("Not Found"). */
const char *admin_http_reason(int status);

#endif
