/*
 * The IPv6 VIP range made local (route6.c): IPv6 VIPs live on no
 * interface; a `local` route for the whole range on lo (table local,
 * AnyIP) makes the kernel deliver connections to any address in it to the
 * listener bound there (with IP_FREEBIND), and refuse them where nothing
 * listens. meshd adds the route at start-up when it is missing (that
 * needs CAP_NET_ADMIN) and removes it at exit if it added it; an
 * operator's route (ExecStartPre=) is used as it is.
 */
#ifndef MESHD_ROUTE6_H
#define MESHD_ROUTE6_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* The range is delivered locally, or made so (*added: by this call).
 * 0, or -1 with err (a line for the operator). */
int route6_ensure(const struct in6_addr *net, unsigned prefix, bool *added, char *err, size_t len);
/* Remove the route route6_ensure added. */
void route6_remove(const struct in6_addr *net, unsigned prefix);
/* For -t: would start-up have the range local (a route there already, or
 * CAP_NET_ADMIN to add one)? 0, or -1 with err. */
int route6_check(const struct in6_addr *net, unsigned prefix, char *err, size_t len);
/* This process has CAP_NET_ADMIN (effective). */
bool route6_can_add(void);

/* What meshd did about the range of the running config. */
struct route6_state {
	bool on;    /* a range is in force */
	bool added; /* meshd added its route (and removes it) */
	struct in6_addr net;
	unsigned prefix;
};

struct config;
/*
 * Bring the route in line with c (start-up and every reload): a new or
 * changed vip6_range is made local first (route6_ensure), then the route
 * meshd added for the old one, if any, is removed. 0, or -1 with err and
 * st unchanged (start-up refuses to start, a reload is rejected).
 */
int route6_apply(struct route6_state *st, const struct config *c, char *err, size_t len);
/* At exit: remove the route meshd added. */
void route6_stop(struct route6_state *st);

#endif
