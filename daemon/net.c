/*
 * Address and socket helpers that never log (like redis's anet.c): parse
 * IPv4:PORT and [IPv6]:PORT, format them back, compare them; open a
 * nonblocking connecting or listening TCP socket; set keepalive on one.
 * They fill what the caller gives them (an error buffer) and return -1;
 * the caller decides what to say.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A TCP port: decimal digits only (no sign, no spaces), 1..65535. */
static int parse_port(const char *s, unsigned long *port)
{
	size_t n = strspn(s, "0123456789");
	unsigned long v;

	if (n == 0 || s[n] != '\0')
		return -1;
	v = strtoul(s, NULL, 10); /* digits only: ULONG_MAX when too long */
	if (v == 0 || v > 65535)
		return -1;
	*port = v;
	return 0;
}

int net_parse_addr(const char *text, struct cfg_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	unsigned long p;
	size_t hl;

	if (!text || !out)
		return -1;
	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		struct sockaddr_in6 *sin6 = (void *)&out->ss;

		if (!end || end[1] != ':')
			return -1;
		hl = (size_t)(end - text - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		port = end + 2;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		if (parse_port(port, &p) == -1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		out->len = sizeof(*sin6);
		return 0;
	} else {
		const char *colon = strchr(text, ':');
		struct sockaddr_in *sin = (void *)&out->ss;

		if (!colon || strchr(colon + 1, ':'))
			return -1;
		hl = (size_t)(colon - text);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, text, hl);
		host[hl] = '\0';
		port = colon + 1;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		if (parse_port(port, &p) == -1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		out->len = sizeof(*sin);
		return 0;
	}
}

const char *net_addr_str(const struct cfg_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return "";
	if (a && a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&a->ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
	} else if (a && a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&a->ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

bool net_addr_eq(const struct cfg_addr *a, const struct cfg_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

uint16_t net_addr_port(const struct cfg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_port);
	return 0;
}

bool net_addr_is_loopback(const struct cfg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)&a->ss)
		                      ->sin_addr.s_addr) >>
		        24) == 127;
	if (a->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)&a->ss)
		                                     ->sin6_addr);
	return false;
}

const char *net_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

int net_connect(const struct cfg_addr *a, char *err, size_t len)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, len, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 && errno != EINPROGRESS) {
		int e = errno;
		snprintf(err, len, "%s", strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int net_keepalive(int fd, double timeout, char *err, size_t len)
{
	/* Keepalive counts in whole seconds: probe after a third of the
	 * timeout, then three probes spread over the rest (at least a second
	 * each; TCP_USER_TIMEOUT still ends it at the timeout). */
	int one = 1;
	int idle = timeout >= 3 ? (int)(timeout / 3) : 1;
	int cnt = 3;
	int intvl = (int)((timeout - idle) / cnt);
	if (intvl < 1)
		intvl = 1;
	unsigned user = (unsigned)(timeout * 1000);
	const char *what = NULL;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) == -1)
		what = "SO_KEEPALIVE";
	else if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) == -1)
		what = "TCP_KEEPIDLE";
	else if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) == -1)
		what = "TCP_KEEPINTVL";
	else if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) == -1)
		what = "TCP_KEEPCNT";
	else if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof user) == -1)
		what = "TCP_USER_TIMEOUT";
	if (what) {
		snprintf(err, len, "%s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

int net_connect_error(int fd)
{
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
		err = errno;
	return err;
}

int net_listen(const struct cfg_addr *a, char *err, size_t len)
{
	return net_listen_free(a, false, err, len);
}

int net_listen_free(const struct cfg_addr *a, bool freebind, char *err, size_t len)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, len, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* Each worker binds its own socket; the kernel spreads connections. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	/* An IPv6 VIP is in a local route (AnyIP), not on an interface: the
	 * kernel delivers to it, but bind() wants an interface address. */
	if (freebind)
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
	/* Accepted sockets inherit TCP_NODELAY from the listener on Linux:
	 * one setsockopt here instead of one per connection. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 || listen(fd, 1024) == -1) {
		int e = errno;
		snprintf(err, len, "%s", strerror(e));
		close(fd);
		errno = e; /* EADDRINUSE: the caller looks for the holder */
		return -1;
	}
	return fd;
}
