/*
 * JSON string escaping for the traffic records (record.c): pure, no I/O,
 * no allocation, no locale. Whatever bytes a program name, a peer's header
 * or a certificate put in a field, the output is valid UTF-8 that is safe
 * inside a JSON string.
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

/* The length of the valid UTF-8 character at p (1 to 4 bytes), or 0 when p
 * starts an invalid sequence; then *bad is the length of its maximal
 * subpart (what a decoder consumes before it knows), at least 1. p is
 * NUL-terminated and a NUL is never a continuation byte, so this never
 * reads past the end. The ranges are RFC 3629's: no overlong forms, no
 * surrogates (ED A0..BF), nothing above U+10FFFF. */
static size_t utf8_char(const unsigned char *p, size_t *bad)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*bad = 1; /* a continuation byte, C0/C1 (always overlong), F5..FF */
		return 0;
	}
	for (size_t i = 1; i < need; i++) {
		if (p[i] < lo || p[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

size_t json_escape(char *out, size_t cap, const char *in, bool *cut)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;
	bool short_of_room = false;
	if (cap == 0) {
		if (cut)
			*cut = *p != '\0';
		return 0;
	}
	while (*p) {
		char esc[8];
		const char *unit = (const char *)p;
		size_t ulen = 1, adv = 1, bad = 1;
		size_t clen = utf8_char(p, &bad);
		if (clen == 0) {
			unit = "\xef\xbf\xbd"; /* U+FFFD */
			ulen = 3;
			adv = bad;
		} else if (clen == 2 && p[0] == 0xc2 && p[1] <= 0x9f) {
			/* C1 controls (U+0080..U+009F): some terminals act on them
			 * as on ESC sequences (U+009B is CSI). */
			snprintf(esc, sizeof esc, "\\u%04x", p[1]);
			unit = esc;
			ulen = 6;
			adv = 2;
		} else if (clen > 1) {
			ulen = adv = clen;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			unit = esc;
			ulen = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			unit = esc;
			ulen = 6;
		}
		if (ulen > cap - 1 - n) {
			short_of_room = true;
			break;
		}
		memcpy(out + n, unit, ulen);
		n += ulen;
		p += adv;
	}
	out[n] = '\0';
	if (cut)
		*cut = short_of_room;
	return n;
}
