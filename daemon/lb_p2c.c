/* Power of two choices over a peak EWMA of connect latency (see lb_p2c.h). */
#include "lb_p2c.h"
#include "config.h"
#include "endpoint.h"

#include <math.h>

/* The time constant when the set's service has none (a set built by hand):
 * the config's default ewma_decay. */
#define DECAY_DEFAULT 10.0

/* The smallest sample, in seconds: an estimate of 0 means never measured. */
#define SAMPLE_MIN 1e-6

/*
 * Two estimates within this factor of each other are the same speed, and
 * then the load per unit of weight decides alone, the first draw on a tie.
 * Connect latency on a LAN jitters by that much, and a peak EWMA keeps the
 * peaks; comparing the estimates as they are would hand nearly every
 * connection to whichever endpoint had the smaller recent peak, and with
 * two endpoints (both always drawn) weights would mean nothing. With it, an
 * idle service's shares are exactly the weights (the first draw is in
 * proportion to them), while an endpoint slower by more than this, or
 * failing, is avoided as long as it stays so.
 */
#define SAME_SPEED 2.0

/* A failure's sample is at most this many times the best other estimate
 * (see lb_p2c_attempt_done). */
#define FAIL_MAX 16.0

static double load_double(const double *p)
{
	double v;
	__atomic_load(p, &v, __ATOMIC_RELAXED);
	return v;
}

static void store_double(double *p, double v)
{
	__atomic_store(p, &v, __ATOMIC_RELAXED);
}

static double decay_of(const struct endpoint_set *set)
{
	double tau = set->svc ? set->svc->ewma_decay : 0;
	return tau > 0 ? tau : DECAY_DEFAULT;
}

static uint64_t load_of(const struct endpoint *ep)
{
	return (uint64_t)__atomic_load_n(&ep->attempts, __ATOMIC_RELAXED) +
	       __atomic_load_n(&ep->conns, __ATOMIC_RELAXED);
}

/* ep's estimate at `now`; best is the lowest estimate among the candidates
 * (0 when none was measured), what an endpoint never measured counts as
 * and what an unsampled one's excess fades to. */
static double estimate(const struct endpoint *ep, double best, double tau, double now)
{
	double est = load_double(&ep->peak_ewma);
	if (est <= 0)
		return best;
	if (est <= best)
		return est;
	double age = now - load_double(&ep->peak_stamp);
	if (age < 0)
		age = 0;
	return best + (est - best) * exp(-age / tau);
}

/* The candidate at position pos of the candidates other than skip laid end
 * to end, each as long as its weight (pos < their total weight). */
static unsigned weighted_at(const struct endpoint_set *set, const struct endpoint_mask *cand,
                            uint64_t pos, unsigned skip)
{
	unsigned last = set->n;
	for (unsigned i = 0; i < set->n; i++) {
		if (i == skip || !endpoint_mask_has(cand, i))
			continue;
		uint64_t w = endpoint_weight(&set->eps[i]);
		if (pos < w)
			return i;
		pos -= w;
		last = i;
	}
	return last; /* not reached while pos is in range */
}

/* Three passes over the set at most, no lock: the counts and estimates are
 * read as they are, a moment's staleness costs one less good choice. */
static unsigned lb_p2c_pick(struct endpoint_set *set, const struct endpoint_mask *cand,
                            uint64_t rnd, double now)
{
	uint64_t total = 0;
	unsigned ncand = 0, only = 0;
	double best = 0;
	for (unsigned i = 0; i < set->n; i++) {
		if (!endpoint_mask_has(cand, i))
			continue;
		ncand++;
		only = i;
		total += endpoint_weight(&set->eps[i]);
		double est = load_double(&set->eps[i].peak_ewma);
		if (est > 0 && (best == 0 || est < best))
			best = est;
	}
	if (ncand == 1)
		return only;

	/* Two distinct candidates, each drawn in proportion to its weight. */
	uint64_t r = rnd;
	unsigned a = weighted_at(set, cand, endpoint_rnd_next(&r) % total, set->n);
	uint64_t rest = total - endpoint_weight(&set->eps[a]);
	unsigned b = weighted_at(set, cand, endpoint_rnd_next(&r) % rest, a);

	const struct endpoint *ea = &set->eps[a], *eb = &set->eps[b];
	double tau = decay_of(set);
	double xa = estimate(ea, best, tau, now), xb = estimate(eb, best, tau, now);
	uint64_t la = load_of(ea), lb = load_of(eb);
	uint64_t wa = endpoint_weight(ea), wb = endpoint_weight(eb);
	if (xa <= xb * SAME_SPEED && xb <= xa * SAME_SPEED)
		return lb * wa < la * wb ? b : a; /* load / weight, compared exactly */
	double ca = xa * (double)(wa + la) / (double)wa;
	double cb = xb * (double)(wb + lb) / (double)wb;
	return cb < ca ? b : a;
}

static void lb_p2c_attempt_done(struct endpoint *ep, enum result result, double latency, double now)
{
	struct endpoint_set *set = ep->set;
	double sample = latency;
	switch (result) {
	case RESULT_UNSET:          /* no word on the endpoint */
	case RESULT_IDENTITY_ERROR: /* this host's caller */
	case RESULT_NONE:
		return;
	case RESULT_OK:
	case RESULT_DENIED: /* an answer, as fast as any: the caller may not */
		break;
	default: {
		/* A failure (result.h's result_endpoint_failure) costs the caller at
		 * least what a connect may take, and a retry after it. */
		double limit = set->svc ? set->svc->connect_timeout : 0;
		if (sample < limit)
			sample = limit;
		break;
	}
	}
	if (!(sample >= SAMPLE_MIN))
		sample = SAMPLE_MIN;
	double tau = decay_of(set);

	pthread_mutex_lock(&set->lock);
	if (result_endpoint_failure(result)) {
		/* But no more than FAIL_MAX times the best of the others: a
		 * sample of 1 s against 0.5 ms would keep the endpoint out for
		 * tau x ln(2000), over a minute, for one failure; capped, its
		 * excess is within SAME_SPEED after tau x ln(FAIL_MAX - 1),
		 * about 27 s. An endpoint that keeps failing is ejected
		 * (outlier.h), which does not wait for the fade. */
		double best = 0;
		for (unsigned i = 0; i < set->n; i++) {
			double e = load_double(&set->eps[i].peak_ewma);
			if (&set->eps[i] != ep && e > 0 && (best == 0 || e < best))
				best = e;
		}
		if (best > 0 && sample > FAIL_MAX * best)
			sample = FAIL_MAX * best;
	}
	double est = load_double(&ep->peak_ewma);
	if (est <= 0 || sample >= est) {
		est = sample;
	} else {
		double dt = now - load_double(&ep->peak_stamp);
		double w = exp(-(dt > 0 ? dt : 0) / tau);
		est = est * w + sample * (1 - w);
	}
	store_double(&ep->peak_ewma, est);
	store_double(&ep->peak_stamp, now);
	pthread_mutex_unlock(&set->lock);
}

/* Back from an ejection (its probe connected): its failures no longer
 * count; the probe's own sample, which follows, is its estimate. */
static void lb_p2c_returned(struct endpoint *ep, double now)
{
	pthread_mutex_lock(&ep->set->lock);
	store_double(&ep->peak_ewma, 0);
	store_double(&ep->peak_stamp, now);
	pthread_mutex_unlock(&ep->set->lock);
}

const struct lb_ops lb_p2c = {
	.name = "p2c_ewma",
	.pick = lb_p2c_pick,
	.attempt_done = lb_p2c_attempt_done,
	.returned = lb_p2c_returned,
};
