/* Outlier ejection: consecutive failures eject, the ejection grows with
 * each one and is capped, the cap on the share ejected (at least one), the
 * return on the first success after the ejection time, a failure then
 * ejecting again for longer, and the decay while healthy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "outlier.h"

static const struct outlier_cfg cfg = {
	.consecutive = 5, .base = 30, .max = 300, .max_percent = 50
};

static enum outlier_event failed(struct outlier *o, double now, unsigned ejected, unsigned n,
                                 double *secs)
{
	return outlier_outcome(o, &cfg, false, now, ejected, n, secs);
}

static void five_in_a_row_eject(void **state)
{
	(void)state;
	struct outlier o = { 0 };
	double secs;
	for (int i = 0; i < 4; i++)
		assert_int_equal(failed(&o, 100 + i, 0, 2, &secs), OUTLIER_NONE);
	assert_true(outlier_available(&o, 104));
	assert_int_equal(failed(&o, 104, 0, 2, &secs), OUTLIER_EJECTED);
	assert_float_equal(secs, 30, 1e-9);
	assert_true(outlier_ejected(&o));
	assert_false(outlier_available(&o, 104));
	assert_false(outlier_available(&o, 133.9));
	assert_true(outlier_available(&o, 134.0));
}

static void a_success_resets_the_count(void **state)
{
	(void)state;
	struct outlier o = { 0 };
	double secs;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++)
			assert_int_equal(failed(&o, 100, 0, 2, &secs), OUTLIER_NONE);
		assert_int_equal(outlier_outcome(&o, &cfg, true, 100, 0, 2, &secs), OUTLIER_NONE);
		assert_int_equal(o.fails, 0);
	}
	assert_false(outlier_ejected(&o));
}

static void return_then_longer_ejection_capped(void **state)
{
	(void)state;
	struct outlier o = { 0 };
	double secs, t = 0;
	for (int i = 0; i < 5; i++)
		failed(&o, t, 0, 2, &secs);
	assert_float_equal(secs, 30, 1e-9);
	/* Failures of attempts begun before the ejection change nothing. */
	assert_int_equal(failed(&o, t + 1, 1, 2, &secs), OUTLIER_NONE);
	/* Probation: the first attempt after the time decides. A failure
	 * ejects again, for twice as long, then three times, ... */
	t = 30;
	assert_int_equal(failed(&o, t, 1, 2, &secs), OUTLIER_EJECTED);
	assert_float_equal(secs, 60, 1e-9);
	t += 60;
	assert_int_equal(failed(&o, t, 1, 2, &secs), OUTLIER_EJECTED);
	assert_float_equal(secs, 90, 1e-9);
	for (int i = 0; i < 20; i++) {
		t += secs;
		failed(&o, t, 1, 2, &secs);
	}
	assert_float_equal(secs, 300, 1e-9); /* max_ejection */
	t += secs;
	assert_int_equal(outlier_outcome(&o, &cfg, true, t, 1, 2, &secs), OUTLIER_RETURNED);
	assert_float_equal(secs, t, 1e-6); /* out since 0, through every re-ejection */
	assert_false(outlier_ejected(&o));
	assert_true(outlier_available(&o, t));
}

static void ejections_decay_while_healthy(void **state)
{
	(void)state;
	struct outlier o = { 0 };
	double secs, t = 0;
	for (int i = 0; i < 5; i++)
		failed(&o, t, 0, 2, &secs);
	t += 30;
	failed(&o, t, 1, 2, &secs); /* second ejection: 60 s */
	t += 60;
	assert_int_equal(outlier_outcome(&o, &cfg, true, t, 1, 2, &secs), OUTLIER_RETURNED);
	assert_int_equal(o.ejections, 2);
	/* Healthy for 45 s: one step back (one per base), so the next is
	 * the second again, not the third. */
	t += 45;
	for (int i = 0; i < 5; i++)
		failed(&o, t, 0, 2, &secs);
	assert_float_equal(secs, 60, 1e-9);
	/* Healthy for a long time: back to the first. */
	t += 60;
	outlier_outcome(&o, &cfg, true, t, 1, 2, &secs);
	t += 3600;
	for (int i = 0; i < 5; i++)
		failed(&o, t, 0, 2, &secs);
	assert_float_equal(secs, 30, 1e-9);
}

static void the_cap(void **state)
{
	(void)state;
	struct outlier o = { 0 };
	double secs;
	assert_int_equal(outlier_cap(&cfg, 1), 1); /* at least one */
	assert_int_equal(outlier_cap(&cfg, 2), 1);
	assert_int_equal(outlier_cap(&cfg, 3), 1);
	assert_int_equal(outlier_cap(&cfg, 10), 5);
	/* One of two already out: the second keeps failing, stays in. */
	for (int i = 0; i < 50; i++)
		assert_int_equal(failed(&o, i, 1, 2, &secs), OUTLIER_NONE);
	assert_int_equal(o.fails, 50);
	assert_false(outlier_ejected(&o));
	/* When the other is back, the next failure ejects it. */
	assert_int_equal(failed(&o, 60, 0, 2, &secs), OUTLIER_EJECTED);
}

static void never_with_zero(void **state)
{
	(void)state;
	const struct outlier_cfg off = {
		.consecutive = 0, .base = 30, .max = 300, .max_percent = 100
	};
	struct outlier o = { 0 };
	double secs;
	for (int i = 0; i < 100; i++)
		assert_int_equal(outlier_outcome(&o, &off, false, i, 0, 1, &secs), OUTLIER_NONE);
	assert_false(outlier_ejected(&o));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(five_in_a_row_eject),
		cmocka_unit_test(a_success_resets_the_count),
		cmocka_unit_test(return_then_longer_ejection_capped),
		cmocka_unit_test(ejections_decay_while_healthy),
		cmocka_unit_test(the_cap),
		cmocka_unit_test(never_with_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
