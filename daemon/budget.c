/* Retry budget (see budget.h). */
#include "budget.h"

#include <math.h>

/* Move the window to the second `now` is in, clearing what fell out. */
static void advance(struct budget *b, double now)
{
	int64_t sec = (int64_t)floor(now);
	if (sec <= b->head)
		return; /* the same second, or the clock went back: keep counting */
	int64_t gap = sec - b->head;
	if (gap > BUDGET_WINDOW)
		gap = BUDGET_WINDOW;
	for (int64_t i = 1; i <= gap; i++) {
		unsigned k = (unsigned)((b->head + i) % BUDGET_WINDOW);
		b->first[k] = b->retry[k] = 0;
	}
	b->head = sec;
}

static unsigned slot(const struct budget *b)
{
	return (unsigned)(b->head % BUDGET_WINDOW);
}

void budget_first(struct budget *b, double now)
{
	advance(b, now);
	if (b->first[slot(b)] < UINT32_MAX)
		b->first[slot(b)]++;
}

bool budget_retry(struct budget *b, double ratio, unsigned min_per_s, double now, unsigned *firsts,
                  unsigned *retries)
{
	advance(b, now);
	uint64_t f = 0, r = 0;
	for (unsigned i = 0; i < BUDGET_WINDOW; i++) {
		f += b->first[i];
		r += b->retry[i];
	}
	if (firsts)
		*firsts = f > UINT32_MAX ? UINT32_MAX : (unsigned)f;
	if (retries)
		*retries = r > UINT32_MAX ? UINT32_MAX : (unsigned)r;
	double allowed = ratio * (double)f + (double)min_per_s * BUDGET_WINDOW;
	if ((double)r + 1 > allowed)
		return false;
	if (b->retry[slot(b)] < UINT32_MAX)
		b->retry[slot(b)]++;
	return true;
}
