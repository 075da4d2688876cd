/* The balancers behind struct lb_ops, driven through endpoint.c as meshd
 * drives them (pick, attempt start and done, release) with a fixed random
 * sequence and a clock the test moves: smooth weighted round robin's order
 * and its retries, p2c_ewma's avoidance of slow and failing endpoints and
 * its return to them, weights in every strategy, least_conn's spread and
 * ties, and the candidate mask every strategy must keep to. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "endpoint.h"
#include "lb_leastconn.h"
#include "lb_p2c.h"
#include "lb_rr.h"

static struct cfg_endpoint eps[ENDPOINT_MAX];
static struct cfg_service svc;
static struct endpoint_set set;
static uint64_t rnd_state;
static double now;

static void setup(enum cfg_lb lb, unsigned n, const unsigned *weights)
{
	endpoint_set_clear(&set);
	memset(eps, 0, sizeof eps);
	memset(&svc, 0, sizeof svc);
	static char texts[ENDPOINT_MAX][24];
	for (unsigned i = 0; i < n; i++) {
		eps[i].weight = weights ? weights[i] : 1;
		snprintf(texts[i], sizeof texts[i], "10.0.%u.%u:15443", i / 256, i % 256);
		eps[i].text = texts[i];
	}
	svc.name = "lbtest";
	svc.endpoints = eps;
	svc.nendpoints = n;
	svc.lb = lb;
	svc.connect_timeout = 1;
	svc.ewma_decay = 10;
	assert_int_equal(endpoint_set_init(&set, &svc), 0);
	rnd_state = 42;
	now = 1000;
}

static int teardown(void **state)
{
	(void)state;
	endpoint_set_clear(&set);
	return 0;
}

static struct endpoint_mask all(void)
{
	struct endpoint_mask m = { { 0 } };
	for (unsigned i = 0; i < set.n; i++)
		endpoint_mask_set(&m, i);
	return m;
}

/* One pick among cand (what endpoint.c would pass: the complement of tried). */
static unsigned pick_in(const struct endpoint_mask *cand)
{
	struct endpoint_mask tried = { { 0 } };
	for (unsigned i = 0; i < set.n; i++)
		if (!endpoint_mask_has(cand, i))
			endpoint_mask_set(&tried, i);
	int i = endpoint_pick(&set, &tried, endpoint_rnd_next(&rnd_state), now);
	assert_true(i >= 0 && (unsigned)i < set.n);
	assert_true(endpoint_mask_has(cand, (unsigned)i));
	return (unsigned)i;
}

static unsigned pick(void)
{
	struct endpoint_mask m = all();
	return pick_in(&m);
}

/* One attempt on i that ends with result after latency seconds; with
 * keep, the connection stays open (u must then be released by the test). */
static void attempt(struct endpoint_use *u, unsigned i, enum result result, double latency)
{
	endpoint_attempt_start(u, &set, i, now);
	endpoint_attempt_done(u, result, now + latency, NULL);
}

/* A whole connection: picked, connected or failed after latency, closed;
 * the clock moves on by gap. Returns the endpoint. */
static unsigned connection(const double *latency, const enum result *result, double gap)
{
	struct endpoint_use u = { 0 };
	unsigned i = pick();
	attempt(&u, i, result ? result[i] : RESULT_OK, latency[i]);
	endpoint_release(&u, now + latency[i]);
	now += gap;
	return i;
}

/* ---- round_robin ------------------------------------------------------ */

/* nginx's smooth weighted round robin: 9 and 1 give the second endpoint one
 * turn in every ten, in the middle; every window of ten consecutive picks
 * holds it exactly once (a run of the first is never longer than 9, and the
 * first turn of the second comes 6th, not 10th as a cursor over a weighted
 * cycle gave). */
static void rr_90_10_interleaves(void **state)
{
	(void)state;
	unsigned w[] = { 9, 1 };
	unsigned seq[1000], count[2] = { 0, 0 };
	setup(CFG_LB_ROUND_ROBIN, 2, w);
	assert_string_equal(set.lb->name, "round_robin");
	for (unsigned i = 0; i < 1000; i++)
		count[seq[i] = pick()]++;
	assert_int_equal(count[0], 900);
	assert_int_equal(count[1], 100);
	assert_int_equal(seq[5], 1);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(seq[i], 0);
	for (unsigned start = 0; start + 10 <= 1000; start++) {
		unsigned b = 0;
		for (unsigned k = start; k < start + 10; k++)
			b += seq[k];
		assert_int_equal(b, 1);
	}
}

static void rr_orders(void **state)
{
	(void)state;
	unsigned w3[] = { 5, 1, 1 }, w2[] = { 3, 2 };
	const unsigned want3[] = { 0, 0, 1, 0, 2, 0, 0 }; /* nginx's a a b a c a a */
	const unsigned want2[] = { 0, 1, 0, 1, 0 };       /* not a a a b b */
	setup(CFG_LB_ROUND_ROBIN, 3, w3);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < 7; i++)
			assert_int_equal(pick(), want3[i]);
	setup(CFG_LB_ROUND_ROBIN, 2, w2);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < 5; i++)
			assert_int_equal(pick(), want2[i]);
	setup(CFG_LB_ROUND_ROBIN, 3, NULL);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(pick(), i);
}

/* The bug of issue 10: endpoint 0 is dead; each connection that starts
 * there retries on the next. The retry must not move the cycle so that
 * the next connection starts at the dead endpoint again: after a
 * connection whose first attempt failed on 0, the next one starts
 * elsewhere, and 0 gets its share of first attempts, not all of them. */
static void rr_retry_keeps_the_cycle(void **state)
{
	(void)state;
	for (unsigned n = 2; n <= 4; n++) {
		unsigned first_dead = 0;
		bool last_failed = false;
		setup(CFG_LB_ROUND_ROBIN, n, NULL);
		for (unsigned c = 0; c < 120; c++) {
			struct endpoint_mask cand = all();
			unsigned first = pick_in(&cand);
			if (last_failed)
				assert_int_not_equal(first, 0);
			last_failed = first == 0;
			if (first == 0) {
				first_dead++;
				endpoint_mask_clear(&cand, 0);
				assert_int_not_equal(pick_in(&cand), 0);
			}
		}
		/* Its share of the cycle at most; the cursor gave it all 120. */
		assert_true(first_dead <= 120 / n);
		assert_true(first_dead >= 120 / n / 2);
	}
}

/* ---- p2c_ewma --------------------------------------------------------- */

static void p2c_one_candidate_and_name(void **state)
{
	(void)state;
	setup(CFG_LB_P2C_EWMA, 3, NULL);
	assert_string_equal(set.lb->name, "p2c_ewma");
	struct endpoint_mask m = { { 0 } };
	endpoint_mask_set(&m, 2);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(pick_in(&m), 2);
}

/* Endpoint 1 connects in 10 ms, endpoint 0 in 0.5 ms, one connection every
 * 10 ms for 100 s. After its first samples 1 gets a connection only when
 * its excess over the best has faded to within the factor of 2 (10 s
 * decay: 10 ln 19 = 29 s after its last sample), and then one: measured
 * again, it is avoided again. Idle for a minute, it is tried at once. */
static void p2c_slow_endpoint_gets_less(void **state)
{
	(void)state;
	const double lat[] = { 0.0005, 0.010 };
	unsigned count[2] = { 0, 0 }, probes = 0;
	double last = 0;
	setup(CFG_LB_P2C_EWMA, 2, NULL);
	for (unsigned c = 0; c < 10000; c++) {
		double t = now;
		unsigned i = connection(lat, NULL, 0.010);
		count[i]++;
		if (i == 1 && c >= 20) {
			/* Not before the decay has brought it back. */
			assert_true(t - last > 28 && t - last < 31);
			probes++;
		}
		if (i == 1)
			last = t;
	}
	print_message("slow endpoint: %u of 10000 connections, %u probes\n", count[1], probes);
	assert_true(count[1] <= 10); /* 0.1 % */
	assert_true(probes >= 2 && probes <= 3);
	assert_true(set.eps[1].peak_ewma > 0.009);

	now += 60; /* idle: the decay brings it back */
	unsigned back = 0;
	for (unsigned c = 0; c < 20 && !back; c++)
		back = connection(lat, NULL, 0.010);
	assert_int_equal(back, 1);
}

/* Endpoint 1 refuses at once (0.1 ms): a failure counts as connect_timeout
 * (1 s), so it gets no first attempt for a long while after each failure. */
static void p2c_failures_avoided(void **state)
{
	(void)state;
	const double lat[] = { 0.0005, 0.0001 };
	const enum result res[] = { RESULT_OK, RESULT_REFUSED };
	unsigned count[2] = { 0, 0 };
	setup(CFG_LB_P2C_EWMA, 2, NULL);
	for (unsigned c = 0; c < 3000; c++) /* 30 s */
		count[connection(lat, res, 0.010)]++;
	/* A failure counts as 16 times the best other estimate (not the
	 * whole connect timeout): its excess fades into the same-speed band
	 * in tau x ln 15, about 27 s, and then it is tried again. */
	assert_in_range(count[1], 2, 3);
	assert_float_equal(set.eps[1].peak_ewma, 16 * 0.0005, 1e-6);
	for (unsigned c = 0; c < 3000; c++) /* 30 s more */
		count[connection(lat, res, 0.010)]++;
	assert_in_range(count[1], 3, 5);

	/* With nothing to compare it with, the penalty is the connect
	 * timeout. */
	setup(CFG_LB_P2C_EWMA, 2, NULL);
	svc.connect_timeout = 5;
	struct endpoint_use u = { 0 };
	attempt(&u, 1, RESULT_TIMEOUT, 0.2);
	assert_true(set.eps[1].peak_ewma >= 5.0);
	/* denied is an answer, not a failure: an ordinary sample. */
	setup(CFG_LB_P2C_EWMA, 1, NULL);
	attempt(&u, 0, RESULT_DENIED, 0.002);
	assert_float_equal(set.eps[0].peak_ewma, 0.002, 1e-9);
}

/* A sample above the estimate takes it at once; one below blends in by
 * the time since the last sample (1 - exp(-dt / tau)); no word (aborted)
 * changes nothing. */
static void p2c_peak_ewma(void **state)
{
	(void)state;
	struct endpoint_use u = { 0 };
	setup(CFG_LB_P2C_EWMA, 1, NULL);
	attempt(&u, 0, RESULT_OK, 0.001);
	endpoint_release(&u, now);
	assert_float_equal(set.eps[0].peak_ewma, 0.001, 1e-9);
	attempt(&u, 0, RESULT_OK, 0.004);
	endpoint_release(&u, now);
	assert_float_equal(set.eps[0].peak_ewma, 0.004, 1e-9);
	now += 10; /* one time constant: the new sample weighs 1 - 1/e */
	attempt(&u, 0, RESULT_OK, 0.001);
	endpoint_release(&u, now);
	assert_float_equal(set.eps[0].peak_ewma, 0.001 + 0.003 * 0.36787944, 1e-6);
	double before = set.eps[0].peak_ewma;
	endpoint_attempt_start(&u, &set, 0, now);
	endpoint_release(&u, now + 3); /* no word on the endpoint */
	assert_float_equal(set.eps[0].peak_ewma, before, 1e-12);
	/* A faster decay (ewma_decay = 1 s) forgets as fast. */
	svc.ewma_decay = 1;
	now += 10;
	attempt(&u, 0, RESULT_OK, 0.001);
	endpoint_release(&u, now);
	assert_float_equal(set.eps[0].peak_ewma, 0.001, 1e-6);
}

/* Weights 9 and 1, and 6, 3 and 1, at the same speed (latencies jitter by
 * 20 %): the shares are the weights within 2 points over 5000
 * connections; none is starved. */
static void p2c_weights_respected(void **state)
{
	(void)state;
	const unsigned w2[] = { 9, 1 }, w3[] = { 6, 3, 1 };
	const unsigned *ws[] = { w2, w3 };
	const unsigned ns[] = { 2, 3 };
	for (unsigned t = 0; t < 2; t++) {
		unsigned count[3] = { 0, 0, 0 }, total = 0;
		setup(CFG_LB_P2C_EWMA, ns[t], ws[t]);
		for (unsigned i = 0; i < ns[t]; i++)
			total += ws[t][i];
		for (unsigned c = 0; c < 5000; c++) {
			double lat[3];
			for (unsigned i = 0; i < 3; i++)
				lat[i] = 0.0005 *
				         (0.9 +
				          0.2 * (double)(endpoint_rnd_next(&rnd_state) % 1000) /
				                  1000);
			count[connection(lat, NULL, 0.005)]++;
		}
		for (unsigned i = 0; i < ns[t]; i++) {
			double share = count[i] / 5000.0, want = (double)ws[t][i] / total;
			print_message("weights %u of %u: share %.3f, want %.3f\n", ws[t][i], total,
			              share, want);
			assert_true(share > want - 0.02 && share < want + 0.02);
		}
	}
}

/* A new endpoint counts as the best measured one: it gets traffic at once. */
static void p2c_new_endpoint_gets_traffic(void **state)
{
	(void)state;
	const double lat[] = { 0.0005, 0.0005 };
	setup(CFG_LB_P2C_EWMA, 2, NULL);
	struct endpoint_mask only0 = { { 0 } };
	endpoint_mask_set(&only0, 0);
	for (unsigned c = 0; c < 100; c++) {
		struct endpoint_use u = { 0 };
		attempt(&u, pick_in(&only0), RESULT_OK, 0.0005);
		endpoint_release(&u, now);
		now += 0.01;
	}
	assert_true(set.eps[1].peak_ewma == 0);
	unsigned got = 0;
	for (unsigned c = 0; c < 200; c++)
		got += connection(lat, NULL, 0.01);
	assert_true(got >= 70 && got <= 130);
}

/* Connections held open: the load term spreads them; with two endpoints
 * (both always drawn) the less loaded one is taken, so the counts never
 * differ by more than one. A slow endpoint takes connections once the
 * fast one's load makes it dearer: estimate x (1 + load / weight). */
static void p2c_load_spreads(void **state)
{
	(void)state;
	static struct endpoint_use held[200];
	setup(CFG_LB_P2C_EWMA, 2, NULL);
	memset(held, 0, sizeof held);
	for (unsigned c = 0; c < 100; c++) {
		attempt(&held[c], pick(), RESULT_OK, 0.0005);
		int d = (int)set.eps[0].conns - (int)set.eps[1].conns;
		assert_true(d >= -1 && d <= 1);
	}
	for (unsigned c = 0; c < 100; c++)
		endpoint_release(&held[c], now);

	/* 1 is 4 times slower: it gets a connection when 0 has 4 or more. */
	struct endpoint_use u = { 0 };
	attempt(&u, 0, RESULT_OK, 0.001);
	endpoint_release(&u, now);
	attempt(&u, 1, RESULT_OK, 0.004);
	endpoint_release(&u, now);
	memset(held, 0, sizeof held);
	for (unsigned c = 0; c < 50; c++)
		attempt(&held[c], pick(), RESULT_OK, 0); /* no sample above the estimate */
	print_message("held: %u on the fast one, %u on the 4x slower one\n", set.eps[0].conns,
	              set.eps[1].conns);
	assert_true(set.eps[1].conns >= 7 && set.eps[1].conns <= 12);
	for (unsigned c = 0; c < 50; c++)
		endpoint_release(&held[c], now);
}

/* Back from an ejection: its probe connected, and its failures no longer
 * count against it; it gets its share again at once, not after the
 * penalty has faded. */
static void p2c_returned_forgets_failures(void **state)
{
	(void)state;
	const double lat[] = { 0.0005, 0.0005 };
	struct endpoint_use u = { 0 };
	setup(CFG_LB_P2C_EWMA, 2, NULL);
	svc.consecutive_failures = 2;
	svc.base_ejection = 1;
	svc.max_ejection = 10;
	svc.max_ejection_percent = 50;
	endpoint_set_clear(&set);
	assert_int_equal(endpoint_set_init(&set, &svc), 0);
	for (unsigned k = 0; k < 2; k++) {
		attempt(&u, 1, RESULT_REFUSED, 0.0001);
		now += 0.01;
	}
	assert_true(set.eps[1].peak_ewma >= 1.0);
	unsigned got = 0;
	for (unsigned c = 0; c < 50; c++) /* 0.5 s: ejected */
		got += connection(lat, NULL, 0.01);
	assert_int_equal(got, 0);
	now += 1; /* the ejection is over: the next pick probes it */
	assert_int_equal(connection(lat, NULL, 0.01), 1);
	assert_float_equal(set.eps[1].peak_ewma, 0.0005, 1e-9);
	for (unsigned c = 0; c < 200; c++)
		got += connection(lat, NULL, 0.01);
	assert_true(got >= 70 && got <= 130);
}

/* ---- least_conn ------------------------------------------------------- */

/* Held connections: always to the least loaded per weight, so 4 equal
 * endpoints hold 25 each after 100, and weights 3 and 1 hold 30 and 10. */
static void leastconn_spreads(void **state)
{
	(void)state;
	static struct endpoint_use held[100];
	const unsigned w[] = { 3, 1 };
	setup(CFG_LB_LEAST_CONN, 4, NULL);
	assert_string_equal(set.lb->name, "least_conn");
	memset(held, 0, sizeof held);
	for (unsigned c = 0; c < 100; c++) {
		attempt(&held[c], pick(), RESULT_OK, 0.001);
		unsigned lo = ~0u, hi = 0;
		for (unsigned i = 0; i < 4; i++) {
			lo = set.eps[i].conns < lo ? set.eps[i].conns : lo;
			hi = set.eps[i].conns > hi ? set.eps[i].conns : hi;
		}
		assert_true(hi - lo <= 1);
	}
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(set.eps[i].conns, 25);
	for (unsigned c = 0; c < 100; c++)
		endpoint_release(&held[c], now);

	setup(CFG_LB_LEAST_CONN, 2, w);
	memset(held, 0, sizeof held);
	for (unsigned c = 0; c < 40; c++)
		attempt(&held[c], pick(), RESULT_OK, 0.001);
	assert_int_equal(set.eps[0].conns, 30);
	assert_int_equal(set.eps[1].conns, 10);
	for (unsigned c = 0; c < 40; c++)
		endpoint_release(&held[c], now);
}

/* Idle (every load 0): ties go at random in proportion to the weights,
 * not always to the first. */
static void leastconn_ties_random(void **state)
{
	(void)state;
	const unsigned w[] = { 3, 1 };
	unsigned count[4] = { 0, 0, 0, 0 }, runs = 0, prev = 9;
	setup(CFG_LB_LEAST_CONN, 4, NULL);
	for (unsigned c = 0; c < 4000; c++) {
		unsigned i = pick();
		count[i]++;
		runs += i != prev;
		prev = i;
	}
	for (unsigned i = 0; i < 4; i++)
		assert_true(count[i] > 900 && count[i] < 1100);
	assert_true(runs > 2500); /* about 3000 changes: not in blocks */
	setup(CFG_LB_LEAST_CONN, 2, w);
	memset(count, 0, sizeof count);
	for (unsigned c = 0; c < 4000; c++)
		count[pick()]++;
	assert_true(count[0] > 2880 && count[0] < 3120); /* 75 % +- 3 */
}

/* ---- every strategy --------------------------------------------------- */

/* Whatever the loads, estimates and weights, a pick is one of the
 * candidates: random masks over 256 endpoints (every word of the mask),
 * single candidates at the ends. */
static void candidates_respected(void **state)
{
	(void)state;
	const enum cfg_lb lbs[] = { CFG_LB_P2C_EWMA, CFG_LB_LEAST_CONN, CFG_LB_ROUND_ROBIN };
	static unsigned w[ENDPOINT_MAX];
	uint64_t r = 7;
	for (unsigned t = 0; t < 3; t++) {
		for (unsigned i = 0; i < ENDPOINT_MAX; i++)
			w[i] = 1 + (unsigned)(endpoint_rnd_next(&r) % 20);
		setup(lbs[t], ENDPOINT_MAX, w);
		for (unsigned c = 0; c < 3000; c++) {
			struct endpoint_mask m = { { 0 } };
			unsigned kind = c % 3;
			if (kind == 0) {
				endpoint_mask_set(&m, c % 2 ? 0 : ENDPOINT_MAX - 1);
			} else {
				for (unsigned k = 0; k < ENDPOINT_MAX / 64; k++)
					m.bits[k] = endpoint_rnd_next(&r) & endpoint_rnd_next(&r) &
					            (kind == 1 ? endpoint_rnd_next(&r) : ~0ull);
				endpoint_mask_set(&m,
				                  (unsigned)(endpoint_rnd_next(&r) % ENDPOINT_MAX));
			}
			struct endpoint_use u = { 0 };
			unsigned i = pick_in(&m);
			uint64_t x = endpoint_rnd_next(&r);
			attempt(&u, i, x % 5 ? RESULT_OK : RESULT_REFUSED, (double)(x % 100) / 1e4);
			if (x % 3)
				endpoint_release(&u, now); /* some stay: loads differ */
			now += 0.001;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rr_90_10_interleaves),
		cmocka_unit_test(rr_orders),
		cmocka_unit_test(rr_retry_keeps_the_cycle),
		cmocka_unit_test(p2c_one_candidate_and_name),
		cmocka_unit_test(p2c_slow_endpoint_gets_less),
		cmocka_unit_test(p2c_failures_avoided),
		cmocka_unit_test(p2c_peak_ewma),
		cmocka_unit_test(p2c_weights_respected),
		cmocka_unit_test(p2c_new_endpoint_gets_traffic),
		cmocka_unit_test(p2c_load_spreads),
		cmocka_unit_test(p2c_returned_forgets_failures),
		cmocka_unit_test(leastconn_spreads),
		cmocka_unit_test(leastconn_ties_random),
		cmocka_unit_test(candidates_respected),
	};
	return cmocka_run_group_tests_name("lb", tests, NULL, teardown);
}
