/* Weighted round robin (see lb_rr.h). */
#include "lb_rr.h"
#include "endpoint.h"
#include "config.h"

static uint64_t weight(const struct endpoint *ep)
{
	return ep->cfg->weight ? ep->cfg->weight : 1;
}

static unsigned lb_rr_pick(struct endpoint_set *set, const struct endpoint_mask *cand, uint64_t rnd,
                           double now)
{
	(void)rnd;
	(void)now;
	uint64_t total = 0;
	unsigned first = set->n;
	for (unsigned i = 0; i < set->n; i++) {
		total += weight(&set->eps[i]);
		if (first == set->n && endpoint_mask_has(cand, i))
			first = i;
	}
	/* Walk the weighted cycle from the cursor to the first untried slot. */
	for (uint64_t step = 0; step < total; step++) {
		/* Shared by the workers of a generation: a relaxed atomic is enough. */
		uint64_t pos = __atomic_fetch_add(&set->cursor, 1, __ATOMIC_RELAXED) % total;
		for (unsigned i = 0; i < set->n; i++) {
			uint64_t w = weight(&set->eps[i]);
			if (pos < w) {
				if (endpoint_mask_has(cand, i))
					return i;
				break;
			}
			pos -= w;
		}
	}
	return first; /* not reached: the cycle holds every endpoint */
}

/* Round robin learns nothing from outcomes: endpoint.c's counts are all. */
const struct lb_ops lb_rr = {
	.name = "round_robin",
	.pick = lb_rr_pick,
};
