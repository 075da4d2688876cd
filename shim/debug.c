/*
 * MESH_DEBUG output: one stderr line per decision, assembled in a stack
 * buffer by the shim_line_* helpers (shim.h) and written with one write(2)
 * so that lines from several threads do not interleave. No stdio (the
 * program may be inside it), no allocation, errno left as it was.
 */
#include "shim.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/syscall.h>

void shim_line_start(struct shim_line *l)
{
	l->len = 0;
	shim_line_str(l, "libmesh: ");
}

void shim_line_str(struct shim_line *l, const char *s)
{
	size_t room = sizeof l->buf - 1 - l->len; /* keep one for '\n' */
	size_t n = s ? strlen(s) : 0;
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

void shim_line_uint(struct shim_line *l, unsigned long v)
{
	char tmp[24];
	size_t i = sizeof tmp;
	tmp[--i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i);
	shim_line_str(l, tmp + i);
}

void shim_line_addr(struct shim_line *l, int family, const void *addr)
{
	char tmp[INET6_ADDRSTRLEN];
	int saved = errno;
	if (inet_ntop(family, addr, tmp, sizeof tmp))
		shim_line_str(l, tmp);
	else
		shim_line_str(l, "?");
	errno = saved;
}

void shim_line_sockaddr(struct shim_line *l, const struct sockaddr *sa, socklen_t len)
{
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;
		shim_line_addr(l, AF_INET, &in->sin_addr);
		shim_line_str(l, ":");
		shim_line_uint(l, ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		shim_line_str(l, "[");
		shim_line_addr(l, AF_INET6, &in6->sin6_addr);
		shim_line_str(l, "]:");
		shim_line_uint(l, ntohs(in6->sin6_port));
	} else if (sa && len >= sizeof sa->sa_family) {
		shim_line_str(l, "(family ");
		shim_line_uint(l, sa->sa_family);
		shim_line_str(l, ")");
	} else {
		shim_line_str(l, "(no address)");
	}
}

void shim_line_end(struct shim_line *l)
{
	int saved = errno;
	l->buf[l->len++] = '\n';
	/* One write; a short or failed write (stderr closed) is not our
	 * business and must not disturb the program. */
	ssize_t r;
	do
		r = real_write ? real_write(STDERR_FILENO, l->buf, l->len)
		               : syscall(SYS_write, STDERR_FILENO, l->buf, l->len);
	while (r == -1 && errno == EINTR);
	errno = saved;
}
