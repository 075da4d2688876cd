/*
 * The I/O hooks: read/write/readv/writev, the send and recv families, their
 * _FORTIFY_SOURCE entry points and getsockopt. They exist for faithful
 * failure only (verdict.c): on a descriptor without a verdict mark each is
 * one load, one branch and a tail call into libc; on a marked one it asks
 * verdict.c whether a failure is to be reported instead of the call, and
 * lets what the call returned settle the verdict.
 */
#undef _FORTIFY_SOURCE   /* we define read/recv ourselves */
#include "shim.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

/*
 * Each hook: unmarked fd -> libc, nothing else. A marked fd: report a
 * failure already known (or arrived just now) instead of doing the call;
 * else do it, and afterwards let data arriving settle the verdict as ok,
 * or an ECONNRESET/EPIPE (meshd resetting a connection it could not carry)
 * wait for the verdict and become its errno.
 */
static int io_before(int fd, const char *what)
{
	return verdict_settle(fd, 0, what);
}

static ssize_t io_after(int fd, ssize_t r, int input, const char *what)
{
	if (r > 0) {
		if (input && shim_fd_marked(fd))
			verdict_settle_data(fd);
	} else if (r == -1 && (errno == ECONNRESET || errno == EPIPE) &&
	           shim_fd_marked(fd)) {
		int orig = errno;
		int e = verdict_settle(fd, 1, what);
		errno = e ? e : orig;
	}
	return r;
}

/* Out of line, so that the hooks' fast path is a load, a branch and a
 * tail call, with no registers saved for the slow path. */
#define SLOW __attribute__((noinline, cold))

/* Before init (a library constructor that runs before ours, or a hook
 * called back from dlsym): the kernel directly. */
#define NEED_REAL(p) ((p) || (shim_init() == 0 && (p)))

#define IO_SLOW(call, input, what)                      \
	do {                                            \
		int e_ = io_before(fd, what);           \
		if (e_) {                               \
			errno = e_;                     \
			return -1;                      \
		}                                       \
		ssize_t r_ = (call);                    \
		return io_after(fd, r_, input, what);   \
	} while (0)

SLOW static ssize_t slow_read(int fd, void *buf, size_t n)
{
	if (!NEED_REAL(real_read))
		return syscall(SYS_read, fd, buf, n);
	IO_SLOW(real_read(fd, buf, n), 1, "read fails with");
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (!shim_fd_marked(fd) && real_read)
		return real_read(fd, buf, n);
	return slow_read(fd, buf, n);
}

SLOW static ssize_t slow_write(int fd, const void *buf, size_t n)
{
	if (!NEED_REAL(real_write))
		return syscall(SYS_write, fd, buf, n);
	IO_SLOW(real_write(fd, buf, n), 0, "write fails with");
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (!shim_fd_marked(fd) && real_write)
		return real_write(fd, buf, n);
	return slow_write(fd, buf, n);
}

SLOW static ssize_t slow_readv(int fd, const struct iovec *iov, int cnt)
{
	if (!NEED_REAL(real_readv))
		return syscall(SYS_readv, fd, iov, cnt);
	IO_SLOW(real_readv(fd, iov, cnt), 1, "readv fails with");
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	if (!shim_fd_marked(fd) && real_readv)
		return real_readv(fd, iov, cnt);
	return slow_readv(fd, iov, cnt);
}

SLOW static ssize_t slow_writev(int fd, const struct iovec *iov, int cnt)
{
	if (!NEED_REAL(real_writev))
		return syscall(SYS_writev, fd, iov, cnt);
	IO_SLOW(real_writev(fd, iov, cnt), 0, "writev fails with");
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (!shim_fd_marked(fd) && real_writev)
		return real_writev(fd, iov, cnt);
	return slow_writev(fd, iov, cnt);
}

SLOW static ssize_t slow_send(int fd, const void *buf, size_t n, int flags)
{
	if (!NEED_REAL(real_send))
		return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
	IO_SLOW(real_send(fd, buf, n, flags), 0, "send fails with");
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (!shim_fd_marked(fd) && real_send)
		return real_send(fd, buf, n, flags);
	return slow_send(fd, buf, n, flags);
}

SLOW static ssize_t slow_recv(int fd, void *buf, size_t n, int flags)
{
	if (!NEED_REAL(real_recv))
		return syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
	IO_SLOW(real_recv(fd, buf, n, flags), 1, "recv fails with");
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (!shim_fd_marked(fd) && real_recv)
		return real_recv(fd, buf, n, flags);
	return slow_recv(fd, buf, n, flags);
}

SLOW static ssize_t slow_sendto(int fd, const void *buf, size_t n, int flags,
                           const struct sockaddr *sa, socklen_t len)
{
	if (!NEED_REAL(real_sendto))
		return syscall(SYS_sendto, fd, buf, n, flags, sa, len);
	if (flags & MSG_FASTOPEN)
		return intercept_sendto_fastopen(fd, buf, n, flags, sa, len);
	IO_SLOW(real_sendto(fd, buf, n, flags, sa, len), 0, "sendto fails with");
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                           __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	if (!(flags & MSG_FASTOPEN) && !shim_fd_marked(fd) && real_sendto)
		return real_sendto(fd, buf, n, flags, SHIM_CSA(addr), len);
	return slow_sendto(fd, buf, n, flags, SHIM_CSA(addr), len);
}

SLOW static ssize_t slow_recvfrom(int fd, void *buf, size_t n, int flags,
                             struct sockaddr *sa, socklen_t *len)
{
	if (!NEED_REAL(real_recvfrom))
		return syscall(SYS_recvfrom, fd, buf, n, flags, sa, len);
	IO_SLOW(real_recvfrom(fd, buf, n, flags, sa, len), 1,
	        "recvfrom fails with");
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
                             __SOCKADDR_ARG addr, socklen_t *len)
{
	if (!shim_fd_marked(fd) && real_recvfrom)
		return real_recvfrom(fd, buf, n, flags, SHIM_SA(addr), len);
	return slow_recvfrom(fd, buf, n, flags, SHIM_SA(addr), len);
}

SLOW static ssize_t slow_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (!NEED_REAL(real_sendmsg))
		return syscall(SYS_sendmsg, fd, msg, flags);
	if (flags & MSG_FASTOPEN)
		return intercept_sendmsg_fastopen(fd, msg, flags);
	IO_SLOW(real_sendmsg(fd, msg, flags), 0, "sendmsg fails with");
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (!(flags & MSG_FASTOPEN) && !shim_fd_marked(fd) && real_sendmsg)
		return real_sendmsg(fd, msg, flags);
	return slow_sendmsg(fd, msg, flags);
}

SLOW static ssize_t slow_recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!NEED_REAL(real_recvmsg))
		return syscall(SYS_recvmsg, fd, msg, flags);
	IO_SLOW(real_recvmsg(fd, msg, flags), 1, "recvmsg fails with");
}

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!shim_fd_marked(fd) && real_recvmsg)
		return real_recvmsg(fd, msg, flags);
	return slow_recvmsg(fd, msg, flags);
}

/* _FORTIFY_SOURCE builds call these instead of read/recv/recvfrom. An
 * overflow goes to libc's own check, which reports it as it always does. */
SLOW static ssize_t slow_read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (!NEED_REAL(real___read_chk) || !real_read)
		return syscall(SYS_read, fd, buf, n);
	if (n > buflen)
		return real___read_chk(fd, buf, n, buflen);
	IO_SLOW(real_read(fd, buf, n), 1, "read fails with");
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (!shim_fd_marked(fd) && real___read_chk)
		return real___read_chk(fd, buf, n, buflen);
	return slow_read_chk(fd, buf, n, buflen);
}

SLOW static ssize_t slow_recv_chk(int fd, void *buf, size_t n, size_t buflen,
                             int flags)
{
	if (!NEED_REAL(real___recv_chk) || !real_recv)
		return syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
	if (n > buflen)
		return real___recv_chk(fd, buf, n, buflen, flags);
	IO_SLOW(real_recv(fd, buf, n, flags), 1, "recv fails with");
}

SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen,
                               int flags)
{
	if (!shim_fd_marked(fd) && real___recv_chk)
		return real___recv_chk(fd, buf, n, buflen, flags);
	return slow_recv_chk(fd, buf, n, buflen, flags);
}

SLOW static ssize_t slow_recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
                                 int flags, struct sockaddr *sa,
                                 socklen_t *len)
{
	if (!NEED_REAL(real___recvfrom_chk) || !real_recvfrom)
		return syscall(SYS_recvfrom, fd, buf, n, flags, sa, len);
	if (n > buflen)
		return real___recvfrom_chk(fd, buf, n, buflen, flags, sa, len);
	IO_SLOW(real_recvfrom(fd, buf, n, flags, sa, len), 1,
	        "recvfrom fails with");
}

SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
                                   int flags, struct sockaddr *sa,
                                   socklen_t *len)
{
	if (!shim_fd_marked(fd) && real___recvfrom_chk)
		return real___recvfrom_chk(fd, buf, n, buflen, flags, sa, len);
	return slow_recvfrom_chk(fd, buf, n, buflen, flags, sa, len);
}

/*
 * getsockopt(SO_ERROR) on a socket awaiting its verdict is where a
 * non-blocking program asks "did my connect work?": wait for meshd's
 * answer (bounded like a blocking connect) and report it as the pending
 * error, exactly once, like the kernel's read-and-clear SO_ERROR.
 */
SLOW static int slow_getsockopt(int fd, int level, int name, void *val,
                           socklen_t *len)
{
	if (!NEED_REAL(real_getsockopt))
		return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
	int r = real_getsockopt(fd, level, name, val, len);
	if (r == -1 || level != SOL_SOCKET || name != SO_ERROR || !val || !len ||
	    *len < sizeof(int))
		return r;
	int saved = errno;
	int kerr;
	memcpy(&kerr, val, sizeof kerr);
	if (kerr == 0 || kerr == ECONNRESET || kerr == EPIPE) {
		int e = verdict_settle(fd, 1, "SO_ERROR reports");
		if (e)
			memcpy(val, &e, sizeof e);
	} else {
		verdict_settle_forget(fd);   /* the kernel's own failure stands */
	}
	errno = saved;
	return r;
}

SHIM_EXPORT int getsockopt(int fd, int level, int name, void *val,
                           socklen_t *len)
{
	if (!shim_fd_marked(fd) && real_getsockopt)
		return real_getsockopt(fd, level, name, val, len);
	return slow_getsockopt(fd, level, name, val, len);
}
