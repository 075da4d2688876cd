/*
 * The pure parts of the traffic records (record.c), where the unit tests
 * reach them. Every record is one line of valid UTF-8 JSON whatever bytes
 * a program name, a peer's header or a certificate put in a field.
 */
#ifndef MESHD_RECORD_H
#define MESHD_RECORD_H

#include <stdbool.h>
#include <stddef.h>

struct worker;
struct session;

/* Escape the NUL-terminated `in` as the inside of a JSON string (no
 * quotes) into out, which has room for cap bytes and is NUL-terminated
 * when cap > 0. Valid UTF-8 is kept as it is; each maximal invalid
 * subpart (a stray continuation byte, an overlong form, a surrogate, a
 * code point above U+10FFFF, a sequence cut short) becomes U+FFFD; '"' and
 * '\' are escaped, and so are the control characters (U+0000..U+001F and
 * DEL). The output is cut only between whole characters or escapes, never
 * inside one. Returns the number of bytes written (without the NUL); *cut
 * (when cut is not NULL) says whether some of the input did not fit. */
size_t record_json_escape(char *out, size_t cap, const char *in, bool *cut);

/* One JSON line for the session's end */
void record_close(const struct session *s);
/* A refusal (a session that ended before the relay): false when its
 * source has used its burst for this window (it is counted, and written
 * later as one "aggregate" record). */
bool record_admit(struct worker *m, const struct session *s);
/* Write the aggregates of windows that are over (all: every pending one). */
void record_flush_floods(struct worker *m, bool all);
void record_floods_free(struct worker *m);

#endif
