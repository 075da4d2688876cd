/*
 * The I/O hooks: read/write/readv/writev, the send and recv families, their
 * _FORTIFY_SOURCE entry points and getsockopt, generated from the list in
 * iohooks.h. They exist for faithful failure only (verdict.c): on a
 * descriptor without a verdict mark each is one load, one branch and a
 * tail call into libc; on a marked one it asks verdict.c whether a failure
 * is to be reported instead of the call, and lets what the call returned
 * settle the verdict.
 */
#undef _FORTIFY_SOURCE /* we define read/recv ourselves */
#include "shim.h"
#include "iohooks.h"

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
	} else if (r == -1 && (errno == ECONNRESET || errno == EPIPE) && shim_fd_marked(fd)) {
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

#define IO_SLOW(call, input, what)                    \
	do {                                          \
		int e_ = io_before(fd, what);         \
		if (e_) {                             \
			errno = e_;                   \
			return -1;                    \
		}                                     \
		ssize_t r_ = (call);                  \
		return io_after(fd, r_, input, what); \
	} while (0)

/*
 * getsockopt(SO_ERROR) on a socket awaiting its verdict is where a
 * non-blocking program asks "did my connect work?": wait for meshd's
 * answer (bounded like a blocking connect) and report it as the pending
 * error, exactly once, like the kernel's read-and-clear SO_ERROR.
 */
static int getsockopt_marked(int fd, int level, int name, void *val, socklen_t *len)
{
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
		verdict_settle_forget(fd); /* the kernel's own failure stands */
	}
	errno = saved;
	return r;
}

/* ---- the generators (rows: iohooks.h) ---------------------------------- */

/* The slow path, slow_<fn>, per kind. */
#define IO_SLOWFN_IN(fn, type, params, args, sys) IO_SLOWFN_RW(fn, type, params, args, sys, 1)
#define IO_SLOWFN_OUT(fn, type, params, args, sys) IO_SLOWFN_RW(fn, type, params, args, sys, 0)
#define IO_SLOWFN_RW(fn, type, params, args, sys, input)           \
	SLOW static type slow_##fn params                          \
	{                                                          \
		if (!NEED_REAL(real_##fn))                         \
			return (type)syscall sys;                  \
		IO_SLOW(real_##fn args, input, #fn " fails with"); \
	}
#define IO_SLOWFN_TFO(fn, type, params, args, sys)             \
	SLOW static type slow_##fn params                      \
	{                                                      \
		if (!NEED_REAL(real_##fn))                     \
			return (type)syscall sys;              \
		if (flags & MSG_FASTOPEN)                      \
			return intercept_##fn##_fastopen args; \
		IO_SLOW(real_##fn args, 0, #fn " fails with"); \
	}
#define IO_SLOWFN_OPT(fn, type, params, args, sys) \
	SLOW static type slow_##fn params          \
	{                                          \
		if (!NEED_REAL(real_##fn))         \
			return (type)syscall sys;  \
		return fn##_marked args;           \
	}
#define IO_SLOWFN_CHK(fn, type, params, args, sys, io, ioargs)   \
	SLOW static type slow_##fn params                        \
	{                                                        \
		if (!NEED_REAL(real_##fn) || !real_##io)         \
			return (type)syscall sys;                \
		if (n > buflen)                                  \
			return real_##fn args;                   \
		IO_SLOW(real_##io ioargs, 1, #io " fails with"); \
	}

/* Which calls may take the fast path at all: a fast-open send has a
 * connect to do. */
#define IO_FAST_IN 1
#define IO_FAST_OUT 1
#define IO_FAST_OPT 1
#define IO_FAST_TFO !(flags & MSG_FASTOPEN)

/* The exported hook: the fast path, else slow_<fn>. */
#define IO_HOOK(fn, kind, type, params, args)                           \
	SHIM_EXPORT type fn params                                      \
	{                                                               \
		if (IO_FAST_##kind && !shim_fd_marked(fd) && real_##fn) \
			return real_##fn args;                          \
		return slow_##fn args;                                  \
	}

#define IO_PAIR(fn, kind, type, params, args, sys) \
	IO_SLOWFN_##kind(fn, type, params, args, sys) IO_HOOK(fn, kind, type, params, args)
#define IO_PAIR_CHK(fn, type, params, args, sys, io, ioargs)   \
	IO_SLOWFN_CHK(fn, type, params, args, sys, io, ioargs) \
	IO_HOOK(fn, IN, type, params, args)

SHIM_IOHOOKS(IO_PAIR, IO_PAIR_CHK)
