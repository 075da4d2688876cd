/*
 * Address and socket helpers that never log (net.c). struct cfg_addr is
 * the address type of the whole daemon: what the config holds and what
 * sockets connect to or listen on.
 */
#ifndef MESHD_NET_H
#define MESHD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

int net_parse_addr(const char *text, struct cfg_addr *out); /* 0 / -1 */
/* "127.0.0.1:80" / "[::1]:80" into buf (size >= 64). */
const char *net_addr_str(const struct cfg_addr *a, char *buf, size_t len);
/* Same family, address and port. */
bool net_addr_eq(const struct cfg_addr *a, const struct cfg_addr *b);
/* The port in host order, 0 when a is neither IPv4 nor IPv6. */
uint16_t net_addr_port(const struct cfg_addr *a);
/* 127.0.0.0/8 or ::1. */
bool net_addr_is_loopback(const struct cfg_addr *a);

/* A nonblocking socket connecting to addr. Returns fd (connect in
 * progress or done) or -1 with err filled. */
int net_connect(const struct cfg_addr *a, char *err, size_t len);
/* Host-to-host sockets: TCP keepalive probes after a third of `timeout`
 * seconds of silence, the connection dropped after about `timeout` without
 * an answer, and TCP_USER_TIMEOUT = timeout, so that a write into a dead
 * path fails in that time too (not after TCP's ~15 minutes of retries).
 * Returns 0, or -1 with err filled (the socket stays usable). */
int net_keepalive(int fd, double timeout, char *err, size_t len);
/* The outcome of a non-blocking connect once writable: 0 or an errno. */
int net_connect_error(int fd);
/* A nonblocking listening socket on a (SO_REUSEPORT: every worker binds
 * its own), or -1 with err filled and errno kept (EADDRINUSE). */
int net_listen(const struct cfg_addr *a, char *err, size_t len);
/* The same, with IP_FREEBIND when freebind (an IPv6 VIP: an address of a
 * local route, on no interface). */
int net_listen_free(const struct cfg_addr *a, bool freebind, char *err, size_t len);
const char *net_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
