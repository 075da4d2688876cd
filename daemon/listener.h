/*
 * VIP and mesh-port listeners of one worker: opened, reconciled on reload,
 * paused on EMFILE. (The socket helpers that never log are in net.h.)
 */
#ifndef MESHD_LISTENER_H
#define MESHD_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "accept.h"
#include "config.h"

struct worker;
struct listener;

enum listener_kind { LISTEN_VIP, LISTEN_INBOUND };

/* What a listener does with a connection it accepted (fd, from peer):
 * outbound_accept for a VIP, inbound_accept for the mesh port. */
typedef void listener_accept_fn(struct worker *m, struct listener *l, int fd,
                                const struct sockaddr_storage *peer);

struct listener {
	ev_io io;
	struct accept_pause pause; /* EMFILE back-off */
	int fd;
	enum listener_kind kind;
	struct cfg_addr addr;
	char service[CFG_NAME_MAX + 1];
	uint16_t port;
	bool mark; /* reconcile scratch */
	struct worker *m;
	struct listener *next;
};

int listener_sync(struct worker *m, const struct config *c, char **err);
void listener_close_all(struct worker *m);
/* Does m listen on vip:port (port in host order)? On worker 0, from the
 * main thread: whether meshd holds it. */
bool listener_held(const struct worker *m, struct in_addr vip, uint16_t port);
/* The same for an IPv6 VIP. */
bool listener_held6(const struct worker *m, const struct in6_addr *vip6, uint16_t port);
/* m listens on every VIP:port of s (and [VIP6]:port when it has one). */
bool listener_service_held(const struct worker *m, const struct cfg_service *s);

#endif
