/*
 * How long a failed connection waits before its next attempt. Pure: the
 * caller passes the attempt number and a random number, so the delays can
 * be unit-tested and the outbound state machine only asks.
 */
#ifndef MESHD_BACKOFF_H
#define MESHD_BACKOFF_H

#include <stdint.h>

/* Seconds to wait after attempt `attempt` (1 = the first) failed:
 * exponential with jitter, 5, 10, 20 ... ms, capped at 250 ms, each scaled
 * by 0.5 to 1.5 from `random`. */
double backoff_delay(unsigned attempt, uint64_t random);

#endif
