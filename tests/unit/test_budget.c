/* Retry budget: retries at most ratio x first attempts of the last 10 s
 * plus min_per_s x 10, the window sliding by the second, old seconds
 * forgotten. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "budget.h"

static void floor_alone(void **state)
{
	(void)state;
	struct budget b = { 0 };
	unsigned ok = 0;
	/* No first attempts: only the floor, 10/s over 10 s. */
	for (int i = 0; i < 500; i++)
		ok += budget_retry(&b, 0.2, 10, 1000.5, NULL, NULL);
	assert_int_equal(ok, 100);
}

static void share_of_first_attempts(void **state)
{
	(void)state;
	struct budget b = { 0 };
	unsigned ok = 0, f, r;
	for (int i = 0; i < 1000; i++)
		budget_first(&b, 2000.1);
	for (int i = 0; i < 1000; i++)
		ok += budget_retry(&b, 0.2, 0, 2000.2, &f, &r);
	assert_int_equal(ok, 200);
	assert_int_equal(f, 1000);
	assert_int_equal(r, 200);
	/* With the floor on top. */
	struct budget c = { 0 };
	ok = 0;
	for (int i = 0; i < 1000; i++)
		budget_first(&c, 2000.1);
	for (int i = 0; i < 1000; i++)
		ok += budget_retry(&c, 0.2, 10, 2000.2, NULL, NULL);
	assert_int_equal(ok, 300);
}

static void window_slides(void **state)
{
	(void)state;
	struct budget b = { 0 };
	unsigned ok = 0;
	for (int i = 0; i < 200; i++)
		ok += budget_retry(&b, 0.2, 10, 3000.0, NULL, NULL);
	assert_int_equal(ok, 100);
	/* 9 s later the retries are still in the window. */
	assert_false(budget_retry(&b, 0.2, 10, 3009.5, NULL, NULL));
	/* 10 s later they are gone. */
	ok = 0;
	for (int i = 0; i < 200; i++)
		ok += budget_retry(&b, 0.2, 10, 3010.0, NULL, NULL);
	assert_int_equal(ok, 100);
	/* A long gap clears everything; a clock going back keeps counting. */
	assert_true(budget_retry(&b, 0.2, 10, 9000.0, NULL, NULL));
	assert_true(budget_retry(&b, 0.2, 10, 8000.0, NULL, NULL));
}

static void steady_load(void **state)
{
	(void)state;
	/* 50 connections/s for 30 s, each wanting 2 retries: the retries
	 * allowed per 10 s are 20 % of 500 plus 100. */
	struct budget b = { 0 };
	unsigned ok = 0, wanted = 0;
	for (int s = 0; s < 30; s++) {
		for (int c = 0; c < 50; c++) {
			double t = 5000 + s + c / 50.0;
			budget_first(&b, t);
			for (int k = 0; k < 2; k++) {
				wanted++;
				ok += budget_retry(&b, 0.2, 10, t, NULL, NULL);
			}
		}
	}
	assert_int_equal(wanted, 3000);
	assert_in_range(ok, 3 * 190, 3 * 200 + 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(floor_alone),
		cmocka_unit_test(share_of_first_attempts),
		cmocka_unit_test(window_slides),
		cmocka_unit_test(steady_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
