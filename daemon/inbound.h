/*
 * Stream -> local upstream (inbound.c): a connection accepted on the mesh
 * port becomes a link; its streams become inbound sessions.
 */
#ifndef MESHD_INBOUND_H
#define MESHD_INBOUND_H

#include "listener.h"

listener_accept_fn inbound_accept;

#endif
