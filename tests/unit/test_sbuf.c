/*
 * sbuf: appends are all or nothing, the ceiling holds, an empty append of
 * nothing (NULL) is fine, and the two string escapers keep their formats.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sbuf.h"

static void test_empty_and_null(void **state)
{
	(void)state;
	struct sbuf b;
	sbuf_init(&b, 0);
	assert_true(sbuf_add(&b, NULL, 0)); /* a view with no rows */
	assert_int_equal(b.len, 0);
	assert_false(b.full);
	assert_true(sbuf_puts(&b, "x"));
	assert_true(sbuf_add(&b, NULL, 0));
	assert_string_equal(b.p, "x");
	sbuf_free(&b);
}

static void test_ceiling(void **state)
{
	(void)state;
	struct sbuf b;
	sbuf_init(&b, 8);
	assert_true(sbuf_puts(&b, "12345"));
	assert_false(sbuf_puts(&b, "6789")); /* would pass 8: nothing of it */
	assert_true(b.full);
	assert_string_equal(b.p, "12345");
	assert_false(sbuf_puts(&b, "6")); /* full stays full */
	assert_false(sbuf_add(&b, NULL, 0));
	sbuf_free(&b);
	sbuf_init(&b, 0);
	char big[2000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_true(sbuf_printf(&b, "%s|%d", big, 7)); /* past printf's small buffer */
	assert_int_equal(b.len, sizeof big + 1);
	assert_string_equal(b.p + sizeof big - 1, "|7");
	sbuf_free(&b);
}

static void test_escapes(void **state)
{
	(void)state;
	struct sbuf b;
	sbuf_init(&b, 0);
	sbuf_json_str(&b, "a\"b\\c\n\xff");
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\u000a\xef\xbf\xbd\"");
	sbuf_free(&b);
	sbuf_json_str(&b, NULL);
	assert_string_equal(b.p, "null");
	sbuf_free(&b);
	sbuf_prom_str(&b, "a\"b\\c\nd\x01");
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\nd\\\\u0001\"");
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
