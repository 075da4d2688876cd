/*
 * JSON string escaping (json.c), pure: what the traffic records (record.c)
 * put between the quotes of every string value, where the unit tests and
 * the fuzz target reach it.
 */
#ifndef MESHD_JSON_H
#define MESHD_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Escape the NUL-terminated `in` as the inside of a JSON string (no
 * quotes) into out, which has room for cap bytes and is NUL-terminated
 * when cap > 0. Valid UTF-8 is kept as it is; each maximal invalid
 * subpart (a stray continuation byte, an overlong form, a surrogate, a
 * code point above U+10FFFF, a sequence cut short) becomes U+FFFD; '"' and
 * '\' are escaped, and so are the control characters (U+0000..U+001F,
 * DEL and the C1 controls U+0080..U+009F): the JSON text never carries
 * one raw (what unescapes it, as `jq -r` does, must clean it again, as
 * meshctl does). The output is cut only between whole characters or
 * escapes, never inside one. Returns the
 * number of bytes written (without the NUL); *cut (when cut is not NULL)
 * says whether some of the input did not fit. */
size_t json_escape(char *out, size_t cap, const char *in, bool *cut);

#endif
