/*
 * Publishing the route snapshot the shims map (snapshot_pub.c).
 */
#ifndef MESHD_SNAPSHOT_PUB_H
#define MESHD_SNAPSHOT_PUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct cfg_service;

/* Publish c's routes, leaving out every service for which held() is false
 * (meshd does not hold all its VIP:ports) and its intercepts; held NULL:
 * all. *left_out (may be NULL) gets the number left out. */
int snapshot_publish(const struct config *c, const char *control, uint64_t generation,
                     bool (*held)(const struct cfg_service *s, void *arg), void *arg,
                     unsigned *left_out, char **err);
/* The same, and on success the bytes published in *bytes (malloc'd, the
 * caller's: the DNS listener answers from them) and *nbytes. */
int snapshot_publish_keep(const struct config *c, const char *control, uint64_t generation,
                          bool (*held)(const struct cfg_service *s, void *arg), void *arg,
                          unsigned *left_out, void **bytes, size_t *nbytes, char **err);
void snapshot_unpublish(const struct config *c);
/* How long the shim may wait for a verdict on a connection to s (ms). */
unsigned snapshot_verdict_ms(const struct cfg_service *s);

#endif
