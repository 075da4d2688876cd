/*
 * HTTP/1.1 request heads for the admin listener: see admin_http.h. Strict
 * where being lenient could let two readers disagree (a bare CR, a folded
 * header, two different Content-Lengths, a space before the colon: RFC
 * 9112 says reject) and simple elsewhere: the target is origin-form only
 * (a path, optionally "?query"), compared byte for byte by the router.
 */
#include "admin_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <string.h>

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible ASCII and what obs-text allows in a field value; no controls. */
static bool is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The end of the line that starts at p (the index of its LF), or -1 when
 * no LF is in buf yet. A CR not followed by LF is malformed: -2. */
static long line_end(const char *buf, size_t len, size_t p)
{
	for (size_t i = p; i < len; i++) {
		if (buf[i] == '\n')
			return (long)i;
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return -2;
	}
	return -1;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
	size_t n = strlen(b);
	if (alen != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static int parse_request_line(const char *s, size_t n, struct admin_req *req)
{
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i > 16 || i >= n || s[i] != ' ')
		return -400;
	if (i == 3 && memcmp(s, "GET", 3) == 0)
		req->method = ADMIN_GET;
	else if (i == 4 && memcmp(s, "HEAD", 4) == 0)
		req->method = ADMIN_HEAD;
	else if (i == 4 && memcmp(s, "POST", 4) == 0)
		req->method = ADMIN_POST;
	else
		req->method = ADMIN_OTHER;
	size_t t = ++i;
	while (i < n && s[i] != ' ') {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return -400;
		i++;
	}
	size_t tlen = i - t;
	if (tlen == 0 || s[t] != '/' || i >= n)
		return -400;
	if (tlen > ADMIN_HTTP_TARGET_MAX)
		return -414;
	const char *q = memchr(s + t, '?', tlen);
	size_t plen = q ? (size_t)(q - (s + t)) : tlen;
	memcpy(req->path, s + t, plen);
	req->path[plen] = '\0';
	if (q) {
		size_t qlen = tlen - plen - 1;
		memcpy(req->query, q + 1, qlen);
		req->query[qlen] = '\0';
	}
	i++; /* the space */
	if (n - i != 8 || memcmp(s + i, "HTTP/", 5) != 0 || s[i + 6] != '.' || s[i + 5] < '0' ||
	    s[i + 5] > '9' || s[i + 7] < '0' || s[i + 7] > '9')
		return -400;
	if (s[i + 5] != '1')
		return -505;
	req->minor = (unsigned)(s[i + 7] - '0');
	return 0;
}

static int parse_length(const char *v, size_t n, struct admin_req *req)
{
	uint64_t x = 0;
	if (n == 0 || n > 19)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -400;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (req->has_length && req->content_length != x)
		return -400;
	req->has_length = true;
	req->content_length = x;
	return 0;
}

static int parse_field(const char *s, size_t n, struct admin_req *req)
{
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	/* No name, a space before the colon, or a folded line (a line that
	 * starts with white space continues the previous one in obsolete
	 * HTTP): all rejected. */
	if (i == 0 || i >= n || s[i] != ':')
		return -400;
	size_t nlen = i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	size_t e = n;
	while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	for (size_t k = i; k < e; k++)
		if (!is_vchar((unsigned char)s[k]))
			return -400;
	if (ieq(s, nlen, "content-length"))
		return parse_length(s + i, e - i, req);
	if (ieq(s, nlen, "transfer-encoding"))
		req->has_body_coding = true;
	if (ieq(s, nlen, "host")) {
		if (req->has_host || e - i > ADMIN_HTTP_HOST_MAX)
			return -400;
		req->has_host = true;
		memcpy(req->host, s + i, e - i);
		req->host[e - i] = '\0';
	}
	if (ieq(s, nlen, "origin"))
		req->has_origin = true;
	if (ieq(s, nlen, "content-type")) {
		size_t n2 = e - i < ADMIN_HTTP_CTYPE_MAX ? e - i : ADMIN_HTTP_CTYPE_MAX;
		req->has_ctype = true;
		memcpy(req->ctype, s + i, n2);
		req->ctype[n2] = '\0';
	}
	return 0;
}

int admin_http_parse(const char *buf, size_t len, struct admin_req *req)
{
	memset(req, 0, sizeof *req);
	size_t lim = len < ADMIN_HTTP_HEAD_MAX ? len : ADMIN_HTTP_HEAD_MAX;
	size_t p = 0;
	bool first = true;
	for (;;) {
		long e = line_end(buf, lim, p);
		if (e == -2)
			return -400;
		if (e == -1)
			return lim >= ADMIN_HTTP_HEAD_MAX ? -431 : 0;
		size_t n = (size_t)e - p;
		if (n && buf[p + n - 1] == '\r')
			n--;
		for (size_t k = 0; k < n; k++)
			if (buf[p + k] == '\0' || buf[p + k] == '\r')
				return -400;
		int rc;
		if (first) {
			rc = parse_request_line(buf + p, n, req);
			first = false;
		} else if (n == 0) {
			return (int)e + 1;
		} else {
			rc = parse_field(buf + p, n, req);
		}
		if (rc < 0)
			return rc;
		p = (size_t)e + 1;
	}
}

/* ":PORT" or "" at p (the rest of a Host after its name). */
static bool port_ok(const char *p)
{
	if (!*p)
		return true;
	if (*p++ != ':')
		return false;
	unsigned long v = 0;
	size_t n = 0;
	for (; p[n] >= '0' && p[n] <= '9' && n < 6; n++)
		v = v * 10 + (unsigned long)(p[n] - '0');
	return !p[n] && v <= 65535; /* "host:" (no digits) is allowed too */
}

static bool name_eq(const char *a, size_t alen, const char *b)
{
	if (strlen(b) != alen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
	return true;
}

int admin_http_host_check(const struct admin_req *req)
{
	if (!req->has_host)
		return req->minor >= 1 ? 400 : 0;
	const char *h = req->host, *rest;
	char name[ADMIN_HTTP_HOST_MAX + 1];
	size_t n;
	if (h[0] == '[') { /* an IPv6 literal */
		const char *close = strchr(h, ']');
		if (!close)
			return 403;
		n = (size_t)(close - h - 1);
		memcpy(name, h + 1, n);
		rest = close + 1;
	} else {
		const char *colon = strchr(h, ':');
		n = colon ? (size_t)(colon - h) : strlen(h);
		memcpy(name, h, n);
		rest = h + n;
	}
	name[n] = '\0';
	if (!port_ok(rest) || n == 0)
		return 403;
	struct in_addr a4;
	struct in6_addr a6;
	if (h[0] != '[' && inet_pton(AF_INET, name, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127 ? 0 : 403;
	if (h[0] == '[') {
		if (inet_pton(AF_INET6, name, &a6) != 1)
			return 403;
		if (IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127))
			return 0;
	}
	if (h[0] != '[' && name_eq(name, n, "localhost"))
		return 0;
	return 403;
}

bool admin_http_browser_post(const struct admin_req *req)
{
	if (req->has_origin)
		return true;
	if (!req->has_ctype)
		return false;
	/* the media type, up to its parameters */
	size_t n = strcspn(req->ctype, "; \t");
	bool form = name_eq(req->ctype, n, "application/x-www-form-urlencoded");
	return !(form && req->has_length && req->content_length == 0);
}

bool admin_http_query_uint(const char *query, const char *name, unsigned long max,
                           unsigned long *out)
{
	size_t nl = strlen(name);
	for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		const char *v = p + nl + 1;
		unsigned long x = 0;
		size_t i = 0;
		for (; v[i] >= '0' && v[i] <= '9'; i++) {
			x = x * 10 + (unsigned long)(v[i] - '0');
			if (x > max)
				return false;
		}
		if (i == 0 || (v[i] && v[i] != '&'))
			return false;
		*out = x;
		return true;
	}
	return false;
}

bool admin_http_query_has(const char *query, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, nl) == 0 && (p[nl] == '=' || p[nl] == '&' || !p[nl]))
			return true;
	return false;
}

const char *admin_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}
