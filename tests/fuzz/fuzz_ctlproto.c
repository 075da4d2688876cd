/*
 * fuzz_ctlproto: the control-socket lines (shim/ctlproto.c), which both
 * sides read from a peer they do not trust: meshd reads questions from any
 * local program, the shim reads answers from whatever listens on the
 * control path. The input is split at '\n' like the readers split their
 * buffers, and every line is parsed as a question and as an answer. Each
 * field has one spelling, so a line that parses must format back to
 * exactly itself; and formatting never needs more than CTLPROTO_LINE_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "fuzz.h"

static void line(const char *l, size_t n)
{
	struct ctlproto_tuple t;
	char out[CTLPROTO_LINE_MAX];
	char word[CTLPROTO_WORD_MAX + 1];

	if (ctlproto_parse_question(l, n, &t) == 0) {
		size_t m = ctlproto_format_question(out, sizeof out, &t);
		CHECK(m == n + 1 && memcmp(out, l, n) == 0 && out[n] == '\n');
		CHECK(ctlproto_format_question(out, m - 1, &t) == 0);
		CHECK(ctlproto_parse_answer(l, n, &t, word) == -1);
	}
	if (ctlproto_parse_answer(l, n, &t, word) == 0) {
		size_t w = strlen(word);
		CHECK(w >= 1 && w <= CTLPROTO_WORD_MAX);
		size_t m = ctlproto_format_answer(out, sizeof out, &t, word);
		CHECK(m == n + 1 && memcmp(out, l, n) == 0 && out[n] == '\n');
		CHECK(ctlproto_format_answer(out, m - 1, &t, word) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exact-size copies: the parsers must not read past len (no NUL). */
	const char *p = (const char *)data, *end = p + size;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *l = malloc(n ? n : 1);
		if (!l)
			return 0;
		memcpy(l, p, n);
		line(l, n);
		free(l);
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}
