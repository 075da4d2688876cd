/*
 * Who is calling: the kernel's answer, not the program's. For a connection
 * accepted on a VIP listener, the caller's socket is the other end of a
 * loopback TCP connection; a NETLINK_SOCK_DIAG query by 4-tuple returns that
 * socket's owner uid and inode. Only a live socket that still has an owner
 * answers (see peercred.c): a caller that already closed its socket is an
 * error, never uid 0. Helpers fill an error buffer and never log. Which
 * mesh identity that uid speaks as is policy.c's to say; the owner of a
 * listener is found here too (for "cannot listen on VIP:port": who has it).
 */
#ifndef MESHD_PEERCRED_H
#define MESHD_PEERCRED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct caller {
	uid_t uid;
	uint64_t inode; /* the caller's socket, never 0 on success */
	unsigned state; /* its TCP state (linux/tcp.h TCP_*) */
};

/* A connection meshd accepted from a local client, by its addresses:
 * peer = the client's socket, local = ours (the VIP). 0 or -1 with err. */
int peercred_lookup(const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
                    struct caller *out, char *err, size_t errlen);

/* Close this thread's netlink socket (a worker stopping). */
void peercred_close(void);

/* Who holds the listening socket that takes connections to addr:port (an
 * IPv4 address in network order, port in host order): the kernel's own
 * lookup for an incoming connection, so a wildcard (0.0.0.0, or a
 * dual-stack [::]) listener is found too. pid is one process holding the
 * socket (a /proc/PID/fd scan), 0 when none is visible. Returns 1 found,
 * 0 nobody listens there, -1 with err. */
struct listener_owner {
	uid_t uid;
	uint64_t inode;
	pid_t pid;
};
int peercred_listener_owner(uint32_t addr, uint16_t port, struct listener_owner *out, char *err,
                            size_t errlen);

#endif
