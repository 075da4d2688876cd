/*
 * A sorted set of (family, address, port) keys (heldset.c): the VIP:ports
 * worker 0 listens on, and the services' VIPs (port 0), that the shim's
 * control socket checks a question against. IPv4 and IPv6 VIPs alike;
 * addresses in network order, ports in host order.
 */
#ifndef MESHD_HELDSET_H
#define MESHD_HELDSET_H

#include <stdbool.h>
#include <stdint.h>

struct held_key {
	uint8_t v6;    /* 0: IPv4, the address in a[0..3] */
	uint8_t a[16]; /* the rest zero */
	uint16_t port; /* host order; 0 for "any port" sets */
};

struct heldset {
	struct held_key *k;
	unsigned n, cap;
};

/* Add a key (4 or 16 address bytes); -1 when out of memory. */
int heldset_add(struct heldset *s, bool v6, const void *addr, uint16_t port);
/* Sort, after the last add. */
void heldset_seal(struct heldset *s);
bool heldset_has(const struct heldset *s, bool v6, const void *addr, uint16_t port);
void heldset_clear(struct heldset *s);

#endif
