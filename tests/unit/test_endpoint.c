/* Endpoint selection: round robin order, weights, skipping tried endpoints,
 * exhaustion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "endpoint.h"

static struct cfg_endpoint eps[4];
static struct cfg_service svc;
static struct endpoint_set set;

static void setup_eps(unsigned n, const unsigned *weights)
{
	endpoint_set_clear(&set);
	memset(eps, 0, sizeof eps);
	memset(&svc, 0, sizeof svc);
	for (unsigned i = 0; i < n; i++)
		eps[i].weight = weights ? weights[i] : 1;
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
	uint8_t tried[ENDPOINT_MAX_TRIED] = { 0 };
	setup_eps(3, NULL);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 3; i++)
			assert_int_equal(endpoint_pick(&set, tried), i);
}

static void weights_share(void **state)
{
	(void)state;
	uint8_t tried[ENDPOINT_MAX_TRIED] = { 0 };
	unsigned w[] = { 3, 1 };
	int count[2] = { 0, 0 };
	setup_eps(2, w);
	for (int i = 0; i < 400; i++)
		count[endpoint_pick(&set, tried)]++;
	assert_int_equal(count[0], 300);
	assert_int_equal(count[1], 100);
}

static void skips_tried_and_exhausts(void **state)
{
	(void)state;
	uint8_t tried[ENDPOINT_MAX_TRIED] = { 0 };
	setup_eps(3, NULL);
	int a = endpoint_pick(&set, tried);
	tried[a] = 1;
	int b = endpoint_pick(&set, tried);
	assert_int_not_equal(a, b);
	tried[b] = 1;
	int c = endpoint_pick(&set, tried);
	assert_int_not_equal(c, a);
	assert_int_not_equal(c, b);
	tried[c] = 1;
	assert_int_equal(endpoint_pick(&set, tried), -1);
}

static void no_endpoints(void **state)
{
	(void)state;
	uint8_t tried[ENDPOINT_MAX_TRIED] = { 0 };
	setup_eps(0, NULL);
	assert_int_equal(endpoint_pick(&set, tried), -1);
}

static void heavy_tried_endpoint_skipped(void **state)
{
	(void)state;
	uint8_t tried[ENDPOINT_MAX_TRIED] = { 0 };
	unsigned w[] = { 1000, 1 };
	setup_eps(2, w);
	tried[0] = 1;
	assert_int_equal(endpoint_pick(&set, tried), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_robin_cycles),
		cmocka_unit_test(weights_share),
		cmocka_unit_test(skips_tried_and_exhausts),
		cmocka_unit_test(no_endpoints),
		cmocka_unit_test(heavy_tried_endpoint_skipped),
	};
	return cmocka_run_group_tests_name("endpoint", tests, NULL, teardown);
}
