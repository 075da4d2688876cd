/* Weighted round robin (see lb_rr.h). */
#include "lb_rr.h"
#include "endpoint.h"
#include "config.h"

static int tried_at(const uint8_t *tried, unsigned i)
{
	return i < ENDPOINT_MAX_TRIED && tried[i];
}

static uint64_t weight(const struct endpoint *ep)
{
	return ep->cfg->weight ? ep->cfg->weight : 1;
}

static int lb_rr_pick(struct endpoint_set *set, const uint8_t *tried)
{
	uint64_t total = 0;
	unsigned untried = 0;
	for (unsigned i = 0; i < set->n; i++) {
		total += weight(&set->eps[i]);
		untried += !tried_at(tried, i);
	}
	if (set->n == 0 || untried == 0)
		return -1;
	/* Walk the weighted cycle from the cursor to the first untried slot. */
	for (uint64_t step = 0; step < total; step++) {
		/* Shared by the workers of a generation: a relaxed atomic is enough. */
		uint64_t pos = __atomic_fetch_add(&set->cursor, 1, __ATOMIC_RELAXED) % total;
		for (unsigned i = 0; i < set->n; i++) {
			uint64_t w = weight(&set->eps[i]);
			if (pos < w) {
				if (!tried_at(tried, i))
					return (int)i;
				break;
			}
			pos -= w;
		}
	}
	return -1;
}

/* Round robin learns nothing from outcomes: endpoint.c's counts are all. */
const struct lb_ops lb_rr = {
	.name = "round_robin",
	.pick = lb_rr_pick,
};
