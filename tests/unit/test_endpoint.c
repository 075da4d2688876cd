/* Endpoint choice: round robin order, weights, skipping tried endpoints,
 * exhaustion (the strategies themselves: test_lb.c); and the attempt accounting every balancer shares: in-flight
 * attempts and connections, the recent outcome, each attempt reported to
 * the balancer once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "endpoint.h"
#include "lb_rr.h"

static struct cfg_endpoint eps[4];
static struct cfg_service svc;
static struct endpoint_set set;

static void setup_eps(unsigned n, const unsigned *weights)
{
	endpoint_set_clear(&set);
	memset(eps, 0, sizeof eps);
	memset(&svc, 0, sizeof svc);
	static char *texts[] = { "10.0.0.1:15443", "10.0.0.2:15443", "10.0.0.3:15443",
		                 "10.0.0.4:15443" };
	for (unsigned i = 0; i < n; i++) {
		eps[i].weight = weights ? weights[i] : 1;
		eps[i].text = texts[i];
	}
	svc.name = "api";
	svc.endpoints = eps;
	svc.nendpoints = n;
	svc.lb = CFG_LB_ROUND_ROBIN;
	assert_int_equal(endpoint_set_init(&set, &svc), 0);
}

static int teardown(void **state)
{
	(void)state;
	endpoint_set_clear(&set);
	return 0;
}

static void round_robin_cycles(void **state)
{
	(void)state;
	struct endpoint_mask tried = { { 0 } };
	setup_eps(3, NULL);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 3; i++)
			assert_int_equal(endpoint_pick(&set, &tried, 0, 0), i);
}

static void weighted_order(void **state)
{
	(void)state;
	struct endpoint_mask tried = { { 0 } };
	unsigned w[] = { 2, 1 };
	const int want[] = { 0, 1, 0, 0, 1, 0, 0, 1, 0 }; /* smooth: spread, not 0 0 1 */
	setup_eps(2, w);
	assert_ptr_equal(set.lb, &lb_rr);
	assert_string_equal(set.lb->name, "round_robin");
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
		assert_int_equal(endpoint_pick(&set, &tried, 0, 0), want[i]);
}

static void weights_share(void **state)
{
	(void)state;
	struct endpoint_mask tried = { { 0 } };
	unsigned w[] = { 3, 1 };
	int count[2] = { 0, 0 };
	setup_eps(2, w);
	for (int i = 0; i < 400; i++)
		count[endpoint_pick(&set, &tried, 0, 0)]++;
	assert_int_equal(count[0], 300);
	assert_int_equal(count[1], 100);
}

static void skips_tried_and_exhausts(void **state)
{
	(void)state;
	struct endpoint_mask tried = { { 0 } };
	setup_eps(3, NULL);
	int a = endpoint_pick(&set, &tried, 0, 0);
	endpoint_mask_set(&tried, (unsigned)a);
	int b = endpoint_pick(&set, &tried, 0, 0);
	assert_int_not_equal(a, b);
	endpoint_mask_set(&tried, (unsigned)b);
	int c = endpoint_pick(&set, &tried, 0, 0);
	assert_int_not_equal(c, a);
	assert_int_not_equal(c, b);
	endpoint_mask_set(&tried, (unsigned)c);
	assert_int_equal(endpoint_pick(&set, &tried, 0, 0), -1);
}

static void no_endpoints(void **state)
{
	(void)state;
	struct endpoint_mask tried = { { 0 } };
	setup_eps(0, NULL);
	assert_int_equal(endpoint_pick(&set, &tried, 0, 0), -1);
}

static void heavy_tried_endpoint_skipped(void **state)
{
	(void)state;
	struct endpoint_mask tried = { { 0 } };
	unsigned w[] = { 1000, 1 };
	setup_eps(2, w);
	endpoint_mask_set(&tried, (unsigned)0);
	assert_int_equal(endpoint_pick(&set, &tried, 0, 0), 1);
}

/* A balancer that picks as lb_rr does and counts what it hears. */
static unsigned heard_start, heard_done;
static enum result heard_result;
static double heard_latency;

static unsigned spy_pick(struct endpoint_set *es, const struct endpoint_mask *cand, uint64_t rnd,
                         double now)
{
	return lb_rr.pick(es, cand, rnd, now);
}

static void spy_start(struct endpoint *ep, double now)
{
	(void)ep;
	(void)now;
	heard_start++;
}

static void spy_done(struct endpoint *ep, enum result result, double latency, double now)
{
	(void)ep;
	(void)now;
	heard_done++;
	heard_result = result;
	heard_latency = latency;
}

static const struct lb_ops spy = {
	.name = "spy",
	.pick = spy_pick,
	.attempt_start = spy_start,
	.attempt_done = spy_done,
};

static void setup_spy(unsigned n)
{
	setup_eps(n, NULL);
	set.lb = &spy;
	heard_start = heard_done = 0;
	heard_result = RESULT_UNSET;
	heard_latency = -1;
}

static void in_flight_counts_start_and_done(void **state)
{
	(void)state;
	struct endpoint_use a = { 0 }, b = { 0 };
	setup_spy(2);
	endpoint_attempt_start(&a, &set, 0, 10.0);
	endpoint_attempt_start(&b, &set, 0, 10.5);
	assert_int_equal(set.eps[0].attempts, 2);
	assert_int_equal(set.eps[1].attempts, 0);
	assert_int_equal(heard_start, 2);

	endpoint_attempt_done(&a, RESULT_REFUSED, 10.25, NULL);
	assert_int_equal(set.eps[0].attempts, 1);
	assert_int_equal(heard_done, 1);
	assert_int_equal(heard_result, RESULT_REFUSED);
	assert_float_equal(heard_latency, 0.25, 1e-9);
	assert_null(a.ep);

	/* Once per attempt: a second report of the same one is nothing. */
	endpoint_attempt_done(&a, RESULT_TIMEOUT, 11.0, NULL);
	endpoint_release(&a, 11.0);
	assert_int_equal(set.eps[0].attempts, 1);
	assert_int_equal(heard_done, 1);

	endpoint_attempt_done(&b, RESULT_OK, 10.502, NULL);
	assert_int_equal(set.eps[0].attempts, 0);
	assert_int_equal(set.eps[0].conns, 1);
	assert_true(b.connected);
	assert_int_equal(heard_done, 2);
	endpoint_attempt_done(&b, RESULT_RESET, 12.0, NULL); /* connected: no attempt left */
	assert_int_equal(heard_done, 2);
	endpoint_release(&b, 20.0);
	assert_int_equal(set.eps[0].conns, 0);
	assert_null(b.ep);
	endpoint_release(&b, 20.0);
	assert_int_equal(set.eps[0].conns, 0);
}

static void release_ends_an_attempt_without_a_word(void **state)
{
	(void)state;
	struct endpoint_use u = { 0 };
	setup_spy(1);
	endpoint_attempt_start(&u, &set, 0, 1.0);
	endpoint_attempt_done(&u, RESULT_REFUSED, 1.1, NULL);
	endpoint_attempt_start(&u, &set, 0, 2.0);
	endpoint_release(&u, 3.0); /* drain, abort: the session ended */
	assert_int_equal(set.eps[0].attempts, 0);
	assert_int_equal(set.eps[0].conns, 0);
	assert_int_equal(heard_done, 2);
	assert_int_equal(heard_result, RESULT_UNSET);
	/* The outcome is the last attempt that said something. */
	assert_int_equal(set.eps[0].last_result, RESULT_REFUSED);
	assert_int_equal(endpoint_fails(&set.eps[0]), 1);
}

static void outcome_fails_in_a_row_and_latency(void **state)
{
	(void)state;
	struct endpoint_use u = { 0 };
	setup_eps(1, NULL);
	assert_int_equal(set.eps[0].last_result, RESULT_UNSET);
	const enum result seq[] = { RESULT_REFUSED, RESULT_TIMEOUT, RESULT_RESET,
		                    RESULT_TLS_FAILURE, RESULT_NO_ENDPOINT };
	for (unsigned i = 0; i < 5; i++) {
		endpoint_attempt_start(&u, &set, 0, i);
		endpoint_attempt_done(&u, seq[i], i + 0.5, NULL);
		assert_int_equal(endpoint_fails(&set.eps[0]), i + 1);
		assert_int_equal(set.eps[0].last_result, seq[i]);
	}
	assert_int_equal(set.eps[0].connect_ewma_us, 0); /* no success yet */
	endpoint_attempt_start(&u, &set, 0, 100.0);
	endpoint_attempt_done(&u, RESULT_OK, 100.008,
	                      NULL); /* 8 ms: the first sample is the mean */
	assert_int_equal(endpoint_fails(&set.eps[0]), 0);
	assert_int_equal(set.eps[0].last_result, RESULT_OK);
	assert_in_range(set.eps[0].connect_ewma_us, 7990, 8010);
	endpoint_release(&u, 101.0);
	endpoint_attempt_start(&u, &set, 0, 200.0);
	endpoint_attempt_done(&u, RESULT_OK, 200.016, NULL); /* 16 ms moves it by 1/8 of the gap */
	assert_in_range(set.eps[0].connect_ewma_us, 8990, 9010);
	endpoint_release(&u, 201.0);
	assert_int_equal(set.eps[0].conns, 0);
	assert_int_equal(set.eps[0].attempts, 0);
}

/* ---- health ---- */

static void setup_health(unsigned n, const unsigned *tiers)
{
	setup_eps(n, NULL);
	endpoint_set_clear(&set);
	for (unsigned i = 0; i < n; i++)
		eps[i].tier = tiers ? tiers[i] : 0;
	svc.consecutive_failures = 3;
	svc.base_ejection = 10;
	svc.max_ejection = 100;
	svc.max_ejection_percent = 50;
	svc.connect_timeout = 1;
	svc.retry_budget = 0.2;
	svc.retry_min_per_s = 1;
	assert_int_equal(endpoint_set_init(&set, &svc), 0);
}

/* One attempt on endpoint i at `now` with `result`; the event it made. */
static struct endpoint_event attempt(unsigned i, enum result result, double now)
{
	struct endpoint_use u = { 0 };
	struct endpoint_event ev;
	endpoint_attempt_start(&u, &set, i, now);
	endpoint_attempt_done(&u, result, now + 0.001, &ev);
	endpoint_release(&u, now + 0.002);
	return ev;
}

static int pick(double now)
{
	struct endpoint_mask none = { { 0 } };
	return endpoint_pick(&set, &none, 7, now);
}

static void ejected_endpoint_gets_nothing_then_one_probe(void **state)
{
	(void)state;
	setup_health(3, NULL);
	assert_int_equal(attempt(1, RESULT_REFUSED, 100).kind, OUTLIER_NONE);
	assert_int_equal(attempt(1, RESULT_TIMEOUT, 100).kind, OUTLIER_NONE);
	struct endpoint_event ev = attempt(1, RESULT_REFUSED, 100);
	assert_int_equal(ev.kind, OUTLIER_EJECTED);
	assert_ptr_equal(ev.ep, &set.eps[1]);
	assert_int_equal(ev.failures, 3);
	assert_int_equal(ev.ejections, 1);
	assert_float_equal(ev.secs, 10, 1e-9);
	assert_int_equal(ev.result, RESULT_REFUSED);
	assert_int_equal(endpoint_ejected(&set, 105), 1);
	for (int k = 0; k < 30; k++)
		assert_int_not_equal(pick(100 + k * 0.3), 1);
	/* Its time is over: the next pick probes it, the others keep away
	 * while the probe is in flight. */
	assert_int_equal(pick(110.5), 1);
	for (int k = 0; k < 10; k++)
		assert_int_not_equal(pick(110.6), 1);
	/* The probe succeeds: back. */
	ev = attempt(1, RESULT_OK, 110.7);
	assert_int_equal(ev.kind, OUTLIER_RETURNED);
	assert_float_equal(ev.secs, 10.7, 0.01);
	assert_int_equal(endpoint_ejected(&set, 111), 0);
	unsigned got = 0;
	for (int k = 0; k < 30; k++)
		got += pick(111) == 1;
	assert_int_equal(got, 10); /* round robin: its third */
}

static void a_failed_probe_ejects_for_longer(void **state)
{
	(void)state;
	setup_health(3, NULL);
	for (int k = 0; k < 3; k++)
		attempt(0, RESULT_REFUSED, 0);
	assert_int_equal(pick(10.01), 0); /* probe */
	struct endpoint_event ev = attempt(0, RESULT_TIMEOUT, 10);
	assert_int_equal(ev.kind, OUTLIER_EJECTED);
	assert_int_equal(ev.ejections, 2);
	assert_float_equal(ev.secs, 20, 1e-9);
	assert_int_not_equal(pick(29), 0);
	assert_int_not_equal(pick(30), 0);
	/* A probe that never began (its attempt aborted) frees the way. */
	assert_int_equal(pick(30.1), 0);
	struct endpoint_use u = { 0 };
	endpoint_attempt_start(&u, &set, 0, 30.1);
	endpoint_release(&u, 30.2);
	assert_int_equal(pick(30.3), 0);
}

static void at_most_the_cap_is_ejected(void **state)
{
	(void)state;
	setup_health(2, NULL);
	for (int k = 0; k < 3; k++)
		attempt(0, RESULT_REFUSED, 0);
	for (int k = 0; k < 10; k++)
		assert_int_equal(attempt(1, RESULT_REFUSED, 1).kind, OUTLIER_NONE);
	assert_int_equal(endpoint_ejected(&set, 2), 1);
	assert_int_equal(pick(2), 1); /* failing, but all there is */
}

static void with_no_other_choice_the_ejected_one(void **state)
{
	(void)state;
	setup_health(1, NULL);
	for (int k = 0; k < 3; k++)
		attempt(0, RESULT_TIMEOUT, 0);
	assert_int_equal(endpoint_ejected(&set, 1), 1);
	/* The program gets the endpoint's own answer, not one of ours. */
	assert_int_equal(pick(1), 0);
	struct endpoint_mask tried = { { 0 } };
	endpoint_mask_set(&tried, 0);
	assert_int_equal(endpoint_pick(&set, &tried, 7, 1), -1);
}

/* One kept out by the cap is failing, not ejected: no first attempts for
 * base_ejection after its last failure, then it is tried again (else it
 * would stay out for as long as another endpoint holds the ejection). */
static void failing_but_capped_comes_back(void **state)
{
	(void)state;
	setup_health(3, NULL);
	for (int k = 0; k < 3; k++)
		attempt(0, RESULT_REFUSED, 0); /* ejected: the cap's one */
	for (int k = 0; k < 3; k++)
		attempt(1, RESULT_REFUSED, 1); /* failing, not ejected */
	assert_int_equal(endpoint_ejected(&set, 2), 1);
	for (int k = 0; k < 20; k++)
		assert_int_equal(pick(5), 2);
	/* 10 s (base_ejection) after its last failure: in the rotation
	 * again (the ejected one is probed first, then the other two). */
	assert_int_equal(pick(11.1), 0);
	unsigned got = 0;
	for (int k = 0; k < 20; k++)
		got += pick(11.2) == 1;
	assert_int_equal(got, 10);
	/* It fails once more: out again at once. */
	attempt(1, RESULT_REFUSED, 11.3);
	for (int k = 0; k < 20; k++)
		assert_int_equal(pick(12), 2);
}

static void denied_is_not_a_failure(void **state)
{
	(void)state;
	setup_health(2, NULL);
	for (int k = 0; k < 10; k++)
		assert_int_equal(attempt(0, RESULT_DENIED, 0).kind, OUTLIER_NONE);
	assert_int_equal(endpoint_ejected(&set, 1), 0);
	assert_int_equal(endpoint_fails(&set.eps[0]), 0);
}

static void backup_tier_only_without_a_healthy_primary(void **state)
{
	(void)state;
	const unsigned tiers[] = { 0, 0, 1 };
	setup_health(3, tiers);
	for (int k = 0; k < 20; k++)
		assert_int_not_equal(pick(0), 2);
	/* One primary failing: the other primary. */
	for (int k = 0; k < 3; k++)
		attempt(0, RESULT_REFUSED, 1);
	for (int k = 0; k < 20; k++)
		assert_int_equal(pick(2), 1);
	/* Both primaries failing (the second not ejected: the cap): the backup. */
	for (int k = 0; k < 3; k++)
		attempt(1, RESULT_REFUSED, 3);
	assert_int_equal(endpoint_ejected(&set, 4), 1);
	for (int k = 0; k < 20; k++)
		assert_int_equal(pick(4), 2);
	/* A retry that tried the backup goes back to a failing primary. */
	struct endpoint_mask tried = { { 0 } };
	endpoint_mask_set(&tried, 2);
	assert_int_equal(endpoint_pick(&set, &tried, 7, 4), 1);
	/* The primary connects again: back to it. */
	attempt(1, RESULT_OK, 5);
	for (int k = 0; k < 20; k++)
		assert_int_equal(pick(6), 1);
}

static void health_outlives_the_generation(void **state)
{
	(void)state;
	setup_health(2, NULL);
	for (int k = 0; k < 3; k++)
		attempt(1, RESULT_REFUSED, 0);
	/* A reload: a new set for the same service and endpoints, the old
	 * one still held by connections. */
	struct endpoint_set next;
	assert_int_equal(endpoint_set_init(&next, &svc), 0);
	assert_int_equal(endpoint_ejected(&next, 1), 1);
	endpoint_set_clear(&set);
	assert_int_equal(endpoint_ejected(&next, 1), 1);
	endpoint_set_clear(&next);
	/* Once no generation has the service, it is forgotten. */
	setup_health(2, NULL);
	assert_int_equal(endpoint_ejected(&set, 1), 0);
}

static void retry_budget_of_the_service(void **state)
{
	(void)state;
	char why[200];
	setup_health(2, NULL);
	for (int k = 0; k < 100; k++)
		endpoint_first_attempt(&set, 50);
	unsigned ok = 0;
	for (int k = 0; k < 100; k++)
		ok += endpoint_retry_allowed(&set, 50, why, sizeof why);
	assert_int_equal(ok, 20 + 10);
	assert_non_null(strstr(why,
	                       "retry budget exhausted (30 retries and 100 first attempts in 10s"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_robin_cycles),
		cmocka_unit_test(weighted_order),
		cmocka_unit_test(weights_share),
		cmocka_unit_test(skips_tried_and_exhausts),
		cmocka_unit_test(no_endpoints),
		cmocka_unit_test(heavy_tried_endpoint_skipped),
		cmocka_unit_test(in_flight_counts_start_and_done),
		cmocka_unit_test(release_ends_an_attempt_without_a_word),
		cmocka_unit_test(outcome_fails_in_a_row_and_latency),
		cmocka_unit_test(ejected_endpoint_gets_nothing_then_one_probe),
		cmocka_unit_test(a_failed_probe_ejects_for_longer),
		cmocka_unit_test(at_most_the_cap_is_ejected),
		cmocka_unit_test(with_no_other_choice_the_ejected_one),
		cmocka_unit_test(failing_but_capped_comes_back),
		cmocka_unit_test(denied_is_not_a_failure),
		cmocka_unit_test(backup_tier_only_without_a_healthy_primary),
		cmocka_unit_test(health_outlives_the_generation),
		cmocka_unit_test(retry_budget_of_the_service),
	};
	return cmocka_run_group_tests_name("endpoint", tests, NULL, teardown);
}
