/* Smooth weighted round robin (see lb_rr.h). */
#include "lb_rr.h"
#include "endpoint.h"

/*
 * Only the candidates take part. A pick with one candidate (a retry with a
 * single untried endpoint left) adds its weight and takes it back: the
 * cycle does not move, so the next connection's first attempt goes where it
 * would have gone without the retry. The attempt that failed was charged
 * its turn when it was picked, so the next first attempt is not handed to
 * it again (the shared cursor this replaced sent every connection's first
 * attempt to the same dead endpoint when the retry took the next slot).
 * The current weights always sum to 0 and stay within the set's total
 * weight (int64_t is far more than enough).
 */
static unsigned lb_rr_pick(struct endpoint_set *set, const struct endpoint_mask *cand, uint64_t rnd,
                           double now)
{
	(void)rnd;
	(void)now;
	unsigned best = set->n;
	int64_t total = 0;
	pthread_mutex_lock(&set->lock);
	for (unsigned i = 0; i < set->n; i++) {
		if (!endpoint_mask_has(cand, i))
			continue;
		struct endpoint *ep = &set->eps[i];
		int64_t w = (int64_t)endpoint_weight(ep);
		ep->rr_current += w;
		total += w;
		/* Ties go to the first, as in nginx: the order is the config's. */
		if (best == set->n || ep->rr_current > set->eps[best].rr_current)
			best = i;
	}
	if (best < set->n)
		set->eps[best].rr_current -= total;
	pthread_mutex_unlock(&set->lock);
	return best; /* cand is never empty: best < set->n */
}

/* Round robin learns nothing from outcomes: endpoint.c's counts are all. */
const struct lb_ops lb_rr = {
	.name = "round_robin",
	.pick = lb_rr_pick,
};
