/*
 * A growable text buffer with a ceiling (sbuf.c), for what meshd renders
 * on request: the admin API's pages and views, the Prometheus text. Once
 * an append would pass the ceiling or memory runs out, the buffer stops
 * growing and says so (full), so a view of a huge table costs at most the
 * ceiling and the caller can answer "too large" instead of half a page.
 */
#ifndef MESHD_SBUF_H
#define MESHD_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char *p;      /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	size_t max;   /* ceiling on len; 0: SBUF_MAX_DEFAULT */
	bool full;    /* an append did not fit (the ceiling or memory) */
};

#define SBUF_MAX_DEFAULT (16u << 20)

/* Zeroed is empty with the default ceiling. */
void sbuf_init(struct sbuf *b, size_t max);
void sbuf_free(struct sbuf *b);
/* Append; all or nothing. False (and full set) when it did not fit. */
bool sbuf_add(struct sbuf *b, const void *data, size_t n);
bool sbuf_puts(struct sbuf *b, const char *s);
bool sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string, quotes included, escaped as json_escape does (valid
 * UTF-8 whatever s holds); NULL is written as null. */
bool sbuf_json_str(struct sbuf *b, const char *s);
/* A Prometheus label value, quotes included: \\, \" and \n escaped,
 * other control bytes and invalid UTF-8 replaced (the text format wants
 * UTF-8). */
bool sbuf_prom_str(struct sbuf *b, const char *s);

#endif
