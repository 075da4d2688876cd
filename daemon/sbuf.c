/*
 * Growable text with a ceiling: see sbuf.h.
 */
#include "sbuf.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_init(struct sbuf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	size_t max = b->max;
	sbuf_init(b, max);
}

static size_t ceiling(const struct sbuf *b)
{
	return b->max ? b->max : SBUF_MAX_DEFAULT;
}

/* Room for n more bytes and a NUL. */
static bool grow(struct sbuf *b, size_t n)
{
	if (b->full)
		return false;
	if (n > ceiling(b) || b->len > ceiling(b) - n) {
		b->full = true;
		return false;
	}
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->full = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

bool sbuf_add(struct sbuf *b, const void *data, size_t n)
{
	if (n == 0)
		return !b->full; /* nothing to copy (data may be NULL) */
	if (!grow(b, n))
		return false;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

bool sbuf_puts(struct sbuf *b, const char *s)
{
	return sbuf_add(b, s, strlen(s));
}

bool sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->full = true;
		return false;
	}
	if ((size_t)n < sizeof small)
		return sbuf_add(b, small, (size_t)n);
	if (!grow(b, (size_t)n))
		return false;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return true;
}

bool sbuf_json_str(struct sbuf *b, const char *s)
{
	if (!s)
		return sbuf_puts(b, "null");
	/* Escaping grows a byte to at most six ("\u00XX"); U+FFFD for an
	 * invalid byte is three. */
	size_t n = strlen(s), need = n * 6 + 3;
	if (!grow(b, need))
		return false;
	char *at = b->p + b->len;
	*at++ = '"';
	size_t w = json_escape(at, need - 2, s, NULL);
	at[w] = '"';
	b->len += w + 2;
	b->p[b->len] = '\0';
	return true;
}

bool sbuf_prom_str(struct sbuf *b, const char *s)
{
	if (!s)
		s = "";
	/* Valid UTF-8 first (json_escape's rules), then the text format's
	 * three escapes over that. */
	size_t n = strlen(s), need = n * 6 + 1;
	char *tmp = malloc(need);
	if (!tmp) {
		b->full = true;
		return false;
	}
	json_escape(tmp, need, s, NULL);
	/* json_escape wrote \" \\ and \uXXXX / \n etc.: Prometheus reads
	 * \\, \" and \n, so a JSON escape other than those keeps its
	 * backslash escaped (\\u0001 shows as the text \u0001). */
	bool ok = sbuf_puts(b, "\"");
	for (const char *p = tmp; ok && *p; p++) {
		if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == 'n')) {
			ok = sbuf_add(b, p, 2);
			p++;
		} else if (strncmp(p, "\\u000a", 6) == 0) {
			ok = sbuf_add(b, "\\n", 2); /* json_escape's form of a newline */
			p += 5;
		} else if (p[0] == '\\') {
			ok = sbuf_add(b, "\\\\", 2);
		} else {
			ok = sbuf_add(b, p, 1);
		}
	}
	free(tmp);
	return ok && sbuf_puts(b, "\"");
}
