/*
 * Endpoint choice for a service. Pure: given the service's endpoints, a
 * cursor owned by the caller's config generation, and the endpoints already
 * tried by this connection, pick the next one. Every strategy lives behind
 * lb_rr_pick(); round robin honours weights (an endpoint of weight 3 gets
 * three turns in each cycle).
 */
#ifndef MESHD_ENDPOINT_H
#define MESHD_ENDPOINT_H

#include <stdint.h>

struct cfg_service;

#define ENDPOINT_MAX_TRIED 64

/* Index of the chosen endpoint, or -1 when every endpoint was tried.
 * `tried` has one byte per endpoint (only the first ENDPOINT_MAX_TRIED are
 * tracked; beyond that, endpoints may repeat). */
int lb_rr_pick(const struct cfg_service *s, uint64_t *cursor,
                  const uint8_t *tried);

#endif
