/*
 * Program -> endpoint (outbound.c): a VIP connection accepted by a listener
 * becomes an outbound session.
 */
#ifndef MESHD_OUTBOUND_H
#define MESHD_OUTBOUND_H

#include <sys/socket.h>

#include "listener.h"
#include "result.h"

listener_accept_fn outbound_accept;
/* A VIP connection meshd will not carry (its descriptor lies in the
 * reserve): recorded with `result` and `detail`, told to a waiting shim,
 * and reset. */
void outbound_refuse(struct worker *m, struct listener *l, int fd,
                     const struct sockaddr_storage *peer, enum result result, const char *detail);

#endif
