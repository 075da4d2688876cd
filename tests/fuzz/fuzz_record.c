/*
 * fuzz_record: the traffic records' JSON escaper (daemon/json.c), which
 * writes whatever a program name, a peer's header or a certificate put in
 * a field. Whatever the bytes, the output must fit its buffer, be valid
 * UTF-8, contain no raw control character (C0, DEL or C1), no unescaped quote and no lone
 * backslash, and be cut only between whole characters or escapes. The
 * input is tried with several buffer sizes, small ones included, so the
 * cut is exercised.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "fuzz.h"

/* Length of the valid UTF-8 sequence at p (strict: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void check_output(const char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)out;
	for (size_t i = 0; i < n;) {
		CHECK(p[i] >= 0x20 && p[i] != 0x7f && p[i] != '"');
		if (p[i] == '\\') {
			CHECK(i + 1 < n);
			unsigned char e = p[i + 1];
			if (e == 'u') {
				CHECK(i + 6 <= n);
				for (size_t k = i + 2; k < i + 6; k++)
					CHECK((p[k] >= '0' && p[k] <= '9') ||
					      (p[k] >= 'a' && p[k] <= 'f') ||
					      (p[k] >= 'A' && p[k] <= 'F'));
				i += 6;
			} else {
				CHECK(strchr("\"\\/bfnrt", e) != NULL && e != 0);
				i += 2;
			}
			continue;
		}
		size_t l = utf8_len(p + i, n - i);
		CHECK(l > 0);
		CHECK(!(p[i] == 0xc2 && p[i + 1] <= 0x9f)); /* no raw C1 control */
		i += l;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	static const size_t caps[] = { 0, 1, 2, 3, 5, 7, 16, 64, 4096 };
	for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
		size_t cap = caps[k];
		/* Exact-size buffer with a guard byte ASan can see past. */
		char *out = malloc(cap ? cap : 1);
		if (!out)
			break;
		bool cut = false;
		size_t n = json_escape(cap ? out : NULL, cap, in, &cut);
		if (cap) {
			CHECK(n < cap);
			CHECK(out[n] == '\0');
			check_output(out, n);
		} else {
			CHECK(n == 0);
		}
		/* Nothing cut when the whole worst case fits. */
		if (cap >= 6 * strlen(in) + 1)
			CHECK(!cut);
		free(out);
	}
	free(in);
	return 0;
}
