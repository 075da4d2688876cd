/*
 * Unit tests of the result list (daemon/result.h): every row's word names
 * it back, words and flags are unique and fit the verdict line and the
 * shim's slot, the wire statuses and errnos read the way outbound.c,
 * inbound.c and link.c read them before the list existed, and the shim
 * gives each word the errno its hand-kept table gave (copied below as the
 * expectation).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ctlproto.h"
#include "proto.h"
#include "result.h"

static void test_word_round_trip(void **state)
{
	(void)state;
	assert_null(result_word(RESULT_UNSET));
	assert_null(result_word(RESULT_COUNT));
	for (int r = RESULT_UNSET + 1; r < RESULT_COUNT; r++) {
		const char *w = result_word((enum result)r);
		assert_non_null(w);
		assert_int_equal(result_from_word(w), r);
		assert_non_null(result_flag((enum result)r));
	}
	assert_int_equal(result_from_word("bogus"), RESULT_UNSET);
	assert_int_equal(result_from_word(""), RESULT_UNSET);
	assert_int_equal(result_from_word("OK"), RESULT_UNSET);
	assert_int_equal(result_from_word(NULL), RESULT_UNSET);
}

static void test_words_and_flags_unique(void **state)
{
	(void)state;
	for (int a = RESULT_UNSET + 1; a < RESULT_COUNT; a++)
		for (int b = a + 1; b < RESULT_COUNT; b++) {
			assert_string_not_equal(result_word((enum result)a),
			                        result_word((enum result)b));
			assert_string_not_equal(result_flag((enum result)a),
			                        result_flag((enum result)b));
		}
}

/* Every word is one the verdict line carries (ctlproto formats it) and
 * fits the shim's slot (char result[16] in shim/verdict.c); flags are
 * short labels. */
static void test_words_fit(void **state)
{
	(void)state;
	struct ctlproto_tuple t = {
		.caddr = 0x0100007f, .cport = 1, .vaddr = 0x0200007f, .vport = 80, .inode = 1
	};
	char line[CTLPROTO_LINE_MAX];
	for (int r = RESULT_UNSET + 1; r < RESULT_COUNT; r++) {
		const char *w = result_word((enum result)r);
		assert_true(strlen(w) < 16);
		assert_true(ctlproto_format_answer(line, sizeof line, &t, w) > 0);
		assert_true(strlen(result_flag((enum result)r)) <= 2);
	}
}

/* The shim's table before result.h (shim/verdict.c), word by word. A word
 * it did not list got 0 (the connection stands), as an unknown word does. */
static const struct {
	const char *word;
	int err;
} old_shim_table[] = {
	{ "ok", 0 },
	{ "none", 0 },
	{ "unknown", ECONNREFUSED },
	{ "overflow", ECONNREFUSED },
	{ "refused", ECONNREFUSED },
	{ "reset", ECONNREFUSED },
	{ "denied", ECONNREFUSED },
	{ "no_endpoint", ECONNREFUSED },
	{ "tls_failure", ECONNREFUSED },
	{ "identity_error", ECONNREFUSED },
	{ "timeout", ETIMEDOUT },
};

static int old_shim_errno(const char *word)
{
	for (size_t i = 0; i < sizeof old_shim_table / sizeof old_shim_table[0]; i++)
		if (strcmp(word, old_shim_table[i].word) == 0)
			return old_shim_table[i].err;
	return 0;
}

static void test_shim_errno_unchanged(void **state)
{
	(void)state;
	/* Every word of the old table is still a result ... */
	for (size_t i = 0; i < sizeof old_shim_table / sizeof old_shim_table[0]; i++) {
		enum result r = result_from_word(old_shim_table[i].word);
		assert_int_not_equal(r, RESULT_UNSET);
		assert_int_equal(result_errno(r), old_shim_table[i].err);
	}
	/* ... and every result gets the errno the old table gave its word. */
	for (int r = RESULT_UNSET + 1; r < RESULT_COUNT; r++)
		assert_int_equal(result_errno((enum result)r),
		                 old_shim_errno(result_word((enum result)r)));
	assert_int_equal(result_errno(result_from_word("bogus")), 0);
	assert_int_equal(result_errno(RESULT_PROTOCOL_ERROR), 0);
	assert_int_equal(result_errno(RESULT_TIMEOUT), ETIMEDOUT);
	assert_int_equal(result_errno(RESULT_DENIED), ECONNREFUSED);
}

static void test_status(void **state)
{
	(void)state;
	/* What a receiver answers for each result (-1: no status of its own). */
	static const struct {
		enum result r;
		int code;
	} answer[] = {
		{ RESULT_OK, PROTO_ST_OK },
		{ RESULT_REFUSED, PROTO_ST_REFUSED },
		{ RESULT_TIMEOUT, PROTO_ST_TIMEOUT },
		{ RESULT_DENIED, PROTO_ST_DENIED },
		{ RESULT_NO_ENDPOINT, PROTO_ST_NO_SERVICE },
		{ RESULT_RESET, -1 },
		{ RESULT_OVERFLOW, -1 },
		{ RESULT_PROTOCOL_ERROR, -1 },
		{ RESULT_UNSET, -1 },
	};
	for (size_t i = 0; i < sizeof answer / sizeof answer[0]; i++)
		assert_int_equal(result_status(answer[i].r), answer[i].code);
	/* A caller's reading, as outbound.c's switch read each code. */
	static const struct {
		int code;
		enum result r;
	} caller[] = {
		{ PROTO_ST_OK, RESULT_OK },
		{ PROTO_ST_REFUSED, RESULT_REFUSED },
		{ PROTO_ST_TIMEOUT, RESULT_TIMEOUT },
		{ PROTO_ST_DENIED, RESULT_DENIED },
		{ PROTO_ST_NO_SERVICE, RESULT_NO_ENDPOINT },
		{ PROTO_ST_BAD_REQUEST, RESULT_REFUSED },
		{ PROTO_ST_BAD_VERSION, RESULT_REFUSED },
		{ PROTO_ST_UNAVAILABLE, RESULT_REFUSED },
		{ PROTO_ST_MAX, RESULT_REFUSED },
		{ 200, RESULT_REFUSED },
		{ -1, RESULT_REFUSED },
	};
	for (size_t i = 0; i < sizeof caller / sizeof caller[0]; i++)
		assert_int_equal(result_from_status(caller[i].code), caller[i].r);
	/* Each status a row has reads back as that row. */
	for (int r = RESULT_UNSET + 1; r < RESULT_COUNT; r++)
		if (result_status((enum result)r) >= 0)
			assert_int_equal(result_from_status(result_status((enum result)r)), r);
}

/* The three mappings it replaces (outbound.c's connect_errno_result,
 * link.c's connect failure, inbound.c's upstream connect) all read these. */
static void test_from_errno(void **state)
{
	(void)state;
	static const struct {
		int err;
		enum result r;
	} read_as[] = {
		{ ETIMEDOUT, RESULT_TIMEOUT },    { ECONNRESET, RESULT_RESET },
		{ ECONNREFUSED, RESULT_REFUSED }, { EHOSTUNREACH, RESULT_REFUSED },
		{ ENETUNREACH, RESULT_REFUSED },  { EMFILE, RESULT_REFUSED },
	};
	for (size_t i = 0; i < sizeof read_as / sizeof read_as[0]; i++)
		assert_int_equal(result_from_errno(read_as[i].err), read_as[i].r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_word_round_trip),
		cmocka_unit_test(test_words_and_flags_unique),
		cmocka_unit_test(test_words_fit),
		cmocka_unit_test(test_shim_errno_unchanged),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_from_errno),
	};
	return cmocka_run_group_tests_name("result", tests, NULL, NULL);
}
