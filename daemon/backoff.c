/* Backoff between attempts (see backoff.h). */
#include "backoff.h"

double backoff_delay(unsigned attempt, uint64_t random)
{
	/* Exponential backoff with jitter: 5, 10, 20 ... ms, capped at 250. */
	double base = 0.005 * (double)(1u << (attempt - 1 < 6 ? attempt - 1 : 6));
	if (base > 0.25)
		base = 0.25;
	double jitter = (double)(random % 1000) / 1000.0;
	return base * (0.5 + jitter);
}
