/*
 * Stream -> local upstream (inbound.c): a connection accepted on the mesh
 * port becomes a link; its streams become inbound sessions.
 */
#ifndef MESHD_INBOUND_H
#define MESHD_INBOUND_H

#include <sys/socket.h>

struct worker;
struct listener;

void inbound_accept(struct worker *m, struct listener *l, int fd,
                    const struct sockaddr_storage *peer);

#endif
