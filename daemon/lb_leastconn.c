/* Least connections per weight (see lb_leastconn.h). */
#include "lb_leastconn.h"
#include "endpoint.h"

static unsigned lb_leastconn_pick(struct endpoint_set *set, const struct endpoint_mask *cand,
                                  uint64_t rnd, double now)
{
	(void)now;
	unsigned best = set->n;
	uint64_t bl = 0, bw = 1, tied = 0, r = rnd;
	for (unsigned i = 0; i < set->n; i++) {
		if (!endpoint_mask_has(cand, i))
			continue;
		const struct endpoint *ep = &set->eps[i];
		uint64_t l = (uint64_t)__atomic_load_n(&ep->attempts, __ATOMIC_RELAXED) +
		             __atomic_load_n(&ep->conns, __ATOMIC_RELAXED);
		uint64_t w = endpoint_weight(ep);
		/* l / w against bl / bw, exactly (counts and weights are small). */
		if (best == set->n || l * bw < bl * w) {
			best = i;
			bl = l;
			bw = w;
			tied = w;
		} else if (l * bw == bl * w) {
			/* One pass: the newcomer takes the place with probability
			 * w / (weight of the ties so far), so each tie ends up
			 * chosen in proportion to its weight. */
			tied += w;
			if (endpoint_rnd_next(&r) % tied < w) {
				best = i;
				bl = l;
				bw = w;
			}
		}
	}
	return best; /* cand is never empty: best < set->n */
}

/* The counts endpoint.c keeps are all it needs. */
const struct lb_ops lb_leastconn = {
	.name = "least_conn",
	.pick = lb_leastconn_pick,
};
