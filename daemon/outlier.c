/* Outlier ejection (see outlier.h). */
#include "outlier.h"

/* fails and until_us are read without the lock by pick (relaxed atomics):
 * written the same way. */
static void set_fails(struct outlier *o, unsigned v)
{
	__atomic_store_n(&o->fails, v, __ATOMIC_RELAXED);
}

static uint64_t to_us(double secs)
{
	return secs > 0 ? (uint64_t)(secs * 1e6) : 0;
}

unsigned outlier_cap(const struct outlier_cfg *c, unsigned n)
{
	unsigned cap = (unsigned)((uint64_t)n * c->max_percent / 100);
	return cap ? cap : 1;
}

bool outlier_ejected(const struct outlier *o)
{
	return __atomic_load_n(&o->until_us, __ATOMIC_RELAXED) != 0;
}

bool outlier_available(const struct outlier *o, double now)
{
	uint64_t until = __atomic_load_n(&o->until_us, __ATOMIC_RELAXED);
	return until == 0 || to_us(now) >= until;
}

/* Eject for base x (times ejected), capped. */
static double eject(struct outlier *o, const struct outlier_cfg *c, double now)
{
	if (o->returned > 0 && c->base > 0) {
		/* Healthy since it last returned: one step back per base. */
		double healthy = now - o->returned;
		unsigned steps = healthy > 0 ? (unsigned)(healthy / c->base) : 0;
		o->ejections = o->ejections > steps ? o->ejections - steps : 0;
	}
	if (o->ejections < 1000000)
		o->ejections++;
	double secs = c->base * o->ejections;
	if (secs > c->max)
		secs = c->max;
	set_fails(o, 0);
	if (__atomic_load_n(&o->until_us, __ATOMIC_RELAXED) == 0)
		o->out_since = now;
	uint64_t until = to_us(now + secs);
	__atomic_store_n(&o->until_us, until ? until : 1, __ATOMIC_RELAXED);
	return secs;
}

enum outlier_event outlier_outcome(struct outlier *o, const struct outlier_cfg *c, bool ok,
                                   double now, unsigned ejected_now, unsigned n, double *secs)
{
	uint64_t until = __atomic_load_n(&o->until_us, __ATOMIC_RELAXED);
	*secs = 0;
	if (until != 0) {
		if (to_us(now) < until) {
			/* An attempt begun before the ejection: it changes
			 * nothing until the ejection time is over. */
			if (ok)
				set_fails(o, 0);
			return OUTLIER_NONE;
		}
		/* On probation: this attempt decides. */
		if (ok) {
			__atomic_store_n(&o->until_us, 0, __ATOMIC_RELAXED);
			set_fails(o, 0);
			o->returned = now;
			*secs = now - o->out_since;
			return OUTLIER_RETURNED;
		}
		*secs = eject(o, c, now);
		return OUTLIER_EJECTED;
	}
	if (ok) {
		set_fails(o, 0);
		return OUTLIER_NONE;
	}
	if (o->fails < 1000000)
		set_fails(o, o->fails + 1);
	__atomic_store_n(&o->last_fail_us, to_us(now), __ATOMIC_RELAXED);
	if (c->consecutive == 0 || o->fails < c->consecutive || ejected_now >= outlier_cap(c, n))
		return OUTLIER_NONE; /* keeps counting: still "failing" for the tiers */
	*secs = eject(o, c, now);
	return OUTLIER_EJECTED;
}
