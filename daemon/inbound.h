/*
 * Stream -> local upstream (inbound.c): a connection accepted on the mesh
 * port becomes a link; its streams become inbound sessions.
 */
#ifndef MESHD_INBOUND_H
#define MESHD_INBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "result.h"

struct worker;
struct listener;
struct link;

void inbound_accept(struct worker *m, struct listener *l, int fd,
                    const struct sockaddr_storage *peer);

/* An OPEN frame arrived on a receiver link. */
void inbound_stream(struct worker *m, struct link *l, uint32_t id,
                    const unsigned char *hdr, size_t len);
/* A receiver link failed before it carried a stream (stranger,
 * wrong certificate, handshake timeout): record it. */
void inbound_link_failed(struct worker *m, const char *client, const char *source,
                         enum result result, const char *detail);

#endif
