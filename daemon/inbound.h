/*
 * Stream -> local upstream (inbound.c): a connection accepted on the mesh
 * port becomes a link; its streams become inbound sessions.
 */
#ifndef MESHD_INBOUND_H
#define MESHD_INBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct meshd;
struct listener;
struct link;

void inbound_accept(struct meshd *m, struct listener *l, int fd,
                    const struct sockaddr_storage *peer);

/* An OPEN frame arrived on a receiver link. */
void inbound_stream(struct meshd *m, struct link *l, uint32_t id,
                    const unsigned char *hdr, size_t len);
/* A receiver link failed before it carried a stream (stranger,
 * wrong certificate, handshake timeout): record it. */
void inbound_link_failed(struct meshd *m, const char *client, const char *source,
                         const char *result, const char *detail);

#endif
