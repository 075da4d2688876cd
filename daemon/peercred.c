/*
 * Caller uid by sock_diag (see peercred.h). One netlink socket per thread,
 * opened on first use; the query is a single request/response on loopback
 * kernel state, so it is done synchronously.
 *
 * The answer is trusted only from a live full socket that still has its
 * owner. A client that closes at once leaves, by the time we ask, an
 * orphaned full socket (FIN_WAIT1, say) or a timewait mini-socket. Both
 * have inode 0. A timewait (or request) sock has no owner at all and is
 * reported as uid 0; an orphan's uid is its creator's on recent kernels
 * but root's on older ones, whose sock_i_uid() reads the struct socket the
 * orphan no longer has. Taking such a uid would hand root's identity to
 * anyone who closes fast enough, so:
 *   - the inode must not be 0 (the socket still belongs to a file, hence to
 *     a process, and its uid is that file's owner);
 *   - the state must be one a connecting socket has while it is its
 *     owner's: SYN_SENT, ESTABLISHED, and after a shutdown() FIN_WAIT1/2,
 *     CLOSE_WAIT, LAST_ACK, CLOSING. TIME_WAIT and NEW_SYN_RECV are always
 *     mini-sockets, and a timewait sock reports its substate (FIN_WAIT2
 *     for an orphan whose FIN was acked), so the state alone is not enough;
 *     LISTEN and SYN_RECV are a server's sockets, never a caller's.
 * Anything else is an error: there is no default uid.
 */
#include "peercred.h"

#include <dirent.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static __thread int nl_fd = -1;

/* The states a caller's socket may be in while its owner still holds it. */
#define OWNED_STATES                                                              \
	((1u << TCP_SYN_SENT) | (1u << TCP_ESTABLISHED) | (1u << TCP_FIN_WAIT1) | \
	 (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK) |  \
	 (1u << TCP_CLOSING))

static const char *state_name(unsigned st)
{
	static const char *const names[] = {
		[TCP_ESTABLISHED] = "ESTABLISHED",
		[TCP_SYN_SENT] = "SYN_SENT",
		[TCP_SYN_RECV] = "SYN_RECV",
		[TCP_FIN_WAIT1] = "FIN_WAIT1",
		[TCP_FIN_WAIT2] = "FIN_WAIT2",
		[TCP_TIME_WAIT] = "TIME_WAIT",
		[TCP_CLOSE] = "CLOSE",
		[TCP_CLOSE_WAIT] = "CLOSE_WAIT",
		[TCP_LAST_ACK] = "LAST_ACK",
		[TCP_LISTEN] = "LISTEN",
		[TCP_CLOSING] = "CLOSING",
		[12] = "NEW_SYN_RECV",
	};
	return st < sizeof names / sizeof names[0] && names[st] ? names[st] : "unknown";
}

static int nl_socket(void)
{
	if (nl_fd == -1)
		nl_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	return nl_fd;
}

void peercred_close(void)
{
	if (nl_fd != -1)
		close(nl_fd);
	nl_fd = -1;
}

/*
 * Send one exact (no NLM_F_DUMP) inet_diag_req_v2 for a TCP socket of this
 * family and id, and read the first answer: 1 with *m, 0 when the kernel
 * knows no such socket (ENOENT, or no answer), -1 with err. Which answers
 * to trust is the caller's business.
 */
static int diag_first(int fd, int family, uint32_t states, const struct inet_diag_sockid *id,
                      struct inet_diag_msg *m, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	memset(&req, 0, sizeof req);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = states;
	req.r.id = *id;
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	ssize_t n;
	do
		n = sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&nl, sizeof nl);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		snprintf(err, errlen, "sock_diag send: %s", strerror(errno));
		return -1;
	}
	union {
		char buf[8192];
		struct nlmsghdr align;
	} u;
	do
		n = recv(fd, u.buf, sizeof u.buf, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		snprintf(err, errlen, "sock_diag recv: %s", strerror(errno));
		return -1;
	}
	for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error == -ENOENT)
				return 0;
			snprintf(err, errlen, "sock_diag: %s", strerror(-e->error));
			return -1;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			memcpy(m, NLMSG_DATA(h), sizeof *m);
			return 1;
		}
	}
	return 0;
}

/* Query one (family, src, dst) tuple; 1 found, 0 not found, -1 error. */
static int query(int family, const void *src, uint16_t sport, const void *dst, uint16_t dport,
                 struct caller *out, char *err, size_t errlen)
{
	int fd = nl_socket();
	if (fd == -1) {
		snprintf(err, errlen, "sock_diag socket: %s", strerror(errno));
		return -1;
	}
	struct inet_diag_sockid id = { .idiag_sport = sport, .idiag_dport = dport };
	size_t alen = family == AF_INET ? 4 : 16;
	memcpy(id.idiag_src, src, alen);
	memcpy(id.idiag_dst, dst, alen);
	/* A lookup by exact 4-tuple ignores the state mask on the kernels we
	 * know; it is set anyway, and the state of the answer is checked by
	 * peercred_lookup() whatever the kernel did with it. */
	struct inet_diag_msg m;
	int rc = diag_first(fd, family, OWNED_STATES, &id, &m, err, errlen);
	if (rc == 1) {
		out->uid = m.idiag_uid;
		out->inode = m.idiag_inode;
		out->state = m.idiag_state;
	}
	return rc;
}

int peercred_lookup(const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
                    struct caller *out, char *err, size_t errlen)
{
	int rc;
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)peer, *l = (const void *)local;
		/* The caller's socket: src = its address (our peer), dst = ours. */
		rc = query(AF_INET, &p->sin_addr, p->sin_port, &l->sin_addr, l->sin_port, out, err,
		           errlen);
		if (rc == 0) {
			/* An AF_INET6 client socket connected to ::ffff:VIP. */
			struct in6_addr ps = { 0 }, ls = { 0 };
			ps.s6_addr[10] = ps.s6_addr[11] = 0xff;
			ls.s6_addr[10] = ls.s6_addr[11] = 0xff;
			memcpy(&ps.s6_addr[12], &p->sin_addr, 4);
			memcpy(&ls.s6_addr[12], &l->sin_addr, 4);
			rc = query(AF_INET6, &ps, p->sin_port, &ls, l->sin_port, out, err, errlen);
		}
	} else if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const void *)peer, *l = (const void *)local;
		rc = query(AF_INET6, &p->sin6_addr, p->sin6_port, &l->sin6_addr, l->sin6_port, out,
		           err, errlen);
	} else {
		snprintf(err, errlen, "not an inet socket");
		return -1;
	}
	if (rc == 0) {
		snprintf(err, errlen, "caller socket not found (not a local process?)");
		return -1;
	}
	if (rc == -1)
		return -1;
	if (out->state >= 32 || !(OWNED_STATES & (1u << out->state)) || out->inode == 0) {
		/* Never a default uid: the kernel's uid 0 here means "no owner". */
		snprintf(err, errlen,
		         "caller socket has no owner (state %s, inode %llu): "
		         "closed before meshd could identify it",
		         state_name(out->state), (unsigned long long)out->inode);
		out->uid = (uid_t)-1;
		return -1;
	}
	return 0;
}

/*
 * The owner of a listener (for "cannot listen on VIP:port": who has it).
 * Kept apart from the caller lookup above: it runs only when a bind
 * fails, on its own netlink socket, and adds a /proc scan for the pid.
 */
static int listener_query(int nl, int family, const void *addr, uint16_t port,
                          struct listener_owner *out, char *err, size_t errlen)
{
	/* An exact request is looked up as an incoming segment from dst to
	 * src would be: with the peer all zero, that finds the listener that
	 * would take a connection to addr:port. */
	struct inet_diag_sockid id = { .idiag_sport = htons(port) };
	memcpy(id.idiag_src, addr, family == AF_INET ? 4 : 16);
	struct inet_diag_msg m;
	int rc = diag_first(nl, family, 1u << TCP_LISTEN, &id, &m, err, errlen);
	if (rc != 1)
		return rc;
	if (m.idiag_state != TCP_LISTEN)
		return 0;
	out->uid = m.idiag_uid;
	out->inode = m.idiag_inode;
	return 1;
}

/* One process with "socket:[inode]" among its descriptors, or 0. */
static pid_t socket_holder(uint64_t inode)
{
	char want[48];
	int wl = snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long)inode);
	DIR *proc = opendir("/proc");
	pid_t found = 0;
	if (!proc)
		return 0;
	for (struct dirent *p; !found && (p = readdir(proc));) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof path, "/proc/%.256s/fd", p->d_name);
		DIR *fds = opendir(path);
		if (!fds)
			continue;
		for (struct dirent *f; (f = readdir(fds));) {
			char target[64];
			if (f->d_name[0] == '.')
				continue;
			ssize_t tl = readlinkat(dirfd(fds), f->d_name, target, sizeof target);
			if (tl == wl && memcmp(target, want, (size_t)wl) == 0) {
				found = (pid_t)atoi(p->d_name);
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

int peercred_listener_owner(uint32_t addr, uint16_t port, struct listener_owner *out, char *err,
                            size_t errlen)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl == -1) {
		snprintf(err, errlen, "sock_diag socket: %s", strerror(errno));
		return -1;
	}
	memset(out, 0, sizeof *out);
	int rc = listener_query(nl, AF_INET, &addr, port, out, err, errlen);
	if (rc == 0) {
		/* A dual-stack AF_INET6 listener takes IPv4 connections too. */
		struct in6_addr m = { 0 };
		m.s6_addr[10] = m.s6_addr[11] = 0xff;
		memcpy(&m.s6_addr[12], &addr, 4);
		rc = listener_query(nl, AF_INET6, &m, port, out, err, errlen);
	}
	close(nl);
	if (rc == 1)
		out->pid = socket_holder(out->inode);
	return rc;
}
