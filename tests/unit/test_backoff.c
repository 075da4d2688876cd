/* Backoff between attempts: the doubling from 5 ms, the 250 ms cap, and the
 * jitter's range (0.5 to 1.5 times the base, from the random number). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

#define MS(x) ((x) / 1000.0)

/* random % 1000 == 500: jitter 0.5, so the delay is the base itself. */
static void doubles_from_5ms_to_the_cap(void **state)
{
	(void)state;
	const double base[] = { 5, 10, 20, 40, 80, 160, 250, 250, 250 };
	for (unsigned a = 1; a <= sizeof base / sizeof base[0]; a++)
		assert_float_equal(backoff_delay(a, 500), MS(base[a - 1]), 1e-9);
	assert_float_equal(backoff_delay(40, 500), MS(250), 1e-9);
	assert_float_equal(backoff_delay(4000000000u, 500), MS(250), 1e-9);
}

static void jitter_spans_half_to_one_and_a_half(void **state)
{
	(void)state;
	assert_float_equal(backoff_delay(1, 0), MS(2.5), 1e-9);
	assert_float_equal(backoff_delay(1, 999), MS(5) * 1.499, 1e-9);
	assert_float_equal(backoff_delay(1, 1000), MS(2.5), 1e-9); /* only random % 1000 counts */
	assert_float_equal(backoff_delay(7, 0), MS(125), 1e-9);
	assert_float_equal(backoff_delay(7, UINT64_MAX), MS(250) * (0.5 + 0.615), 1e-9);
	for (uint64_t r = 0; r < 5000; r += 7) {
		double d = backoff_delay(3, r);
		assert_true(d >= MS(20) * 0.5 && d < MS(20) * 1.5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(doubles_from_5ms_to_the_cap),
		cmocka_unit_test(jitter_spans_half_to_one_and_a_half),
	};
	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
