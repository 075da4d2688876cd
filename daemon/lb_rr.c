/* Endpoint selection (see endpoint.h). */
#include "endpoint.h"
#include "config.h"

static int tried_at(const uint8_t *tried, unsigned i)
{
	return i < ENDPOINT_MAX_TRIED && tried[i];
}

int lb_rr_pick(const struct cfg_service *s, uint64_t *cursor,
                  const uint8_t *tried)
{
	uint64_t total = 0;
	unsigned untried = 0;
	for (unsigned i = 0; i < s->nendpoints; i++) {
		total += s->endpoints[i].weight ? s->endpoints[i].weight : 1;
		untried += !tried_at(tried, i);
	}
	if (s->nendpoints == 0 || untried == 0)
		return -1;
	/* Walk the weighted cycle from the cursor to the first untried slot. */
	for (uint64_t step = 0; step < total; step++) {
		/* Shared by the workers of a generation: a relaxed atomic is enough. */
		uint64_t pos = __atomic_fetch_add(cursor, 1, __ATOMIC_RELAXED) % total;
		for (unsigned i = 0; i < s->nendpoints; i++) {
			uint64_t w = s->endpoints[i].weight ? s->endpoints[i].weight : 1;
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
