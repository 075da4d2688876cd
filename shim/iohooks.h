/*
 * The I/O hooks, one row each: iohooks.c generates every hook (the exported
 * function and its slow path) from this list, and tests/unit/
 * check_exports.sh checks it against libmesh.map and libmesh.so's exports.
 * Adding a hook is a row here, its real_* pointer (shim.h, libmesh.c) and a
 * line in libmesh.map.
 *
 *   X(fn, kind, type, params, args, sys)
 *     fn      the libc function hooked
 *     kind    IN   input: data it returns settles the verdict as ok
 *             OUT  output
 *             TFO  output that may carry MSG_FASTOPEN, whose connect half
 *                  is intercept.c's (intercept_<fn>_fastopen)
 *             OPT  getsockopt: what its slow path does once libc is
 *                  there is <fn>_marked(), written out in iohooks.c
 *     type    its return type
 *     params  its parameters, as libc declares them
 *     args    the same, passed on to real_<fn> (SHIM_CSA/SHIM_SA unwrap
 *             glibc's transparent sockaddr unions)
 *     sys     the raw syscall, for calls before the shim is initialised
 *
 *   X_CHK(fn, type, params, args, sys, io, ioargs)
 *     a _FORTIFY_SOURCE entry point of an input function: n > buflen goes
 *     to libc's own check (real_<fn>), anything else is done as io(ioargs),
 *     whose real_* does the I/O and whose name the debug lines give.
 *
 * The generated code refers to the parameters fd, flags (TFO), n and
 * buflen (X_CHK) by these names.
 */
#ifndef LIBMESH_IOHOOKS_H
#define LIBMESH_IOHOOKS_H

/* One row per hook; kept out of clang-format, which would re-wrap the rows. */
/* clang-format off */
#define SHIM_IOHOOKS(X, X_CHK)                                                \
	X(read, IN, ssize_t, (int fd, void *buf, size_t n),                   \
	  (fd, buf, n), (SYS_read, fd, buf, n))                               \
	X(write, OUT, ssize_t, (int fd, const void *buf, size_t n),           \
	  (fd, buf, n), (SYS_write, fd, buf, n))                              \
	X(readv, IN, ssize_t, (int fd, const struct iovec *iov, int cnt),     \
	  (fd, iov, cnt), (SYS_readv, fd, iov, cnt))                          \
	X(writev, OUT, ssize_t, (int fd, const struct iovec *iov, int cnt),   \
	  (fd, iov, cnt), (SYS_writev, fd, iov, cnt))                         \
	X(send, OUT, ssize_t, (int fd, const void *buf, size_t n, int flags), \
	  (fd, buf, n, flags), (SYS_sendto, fd, buf, n, flags, NULL, 0))      \
	X(recv, IN, ssize_t, (int fd, void *buf, size_t n, int flags),        \
	  (fd, buf, n, flags), (SYS_recvfrom, fd, buf, n, flags, NULL, NULL)) \
	X(sendto, TFO, ssize_t,                                               \
	  (int fd, const void *buf, size_t n, int flags,                      \
	   __CONST_SOCKADDR_ARG addr, socklen_t len),                         \
	  (fd, buf, n, flags, SHIM_CSA(addr), len),                           \
	  (SYS_sendto, fd, buf, n, flags, SHIM_CSA(addr), len))               \
	X(recvfrom, IN, ssize_t,                                              \
	  (int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG addr,       \
	   socklen_t *len),                                                   \
	  (fd, buf, n, flags, SHIM_SA(addr), len),                            \
	  (SYS_recvfrom, fd, buf, n, flags, SHIM_SA(addr), len))              \
	X(sendmsg, TFO, ssize_t, (int fd, const struct msghdr *msg, int flags), \
	  (fd, msg, flags), (SYS_sendmsg, fd, msg, flags))                    \
	X(recvmsg, IN, ssize_t, (int fd, struct msghdr *msg, int flags),      \
	  (fd, msg, flags), (SYS_recvmsg, fd, msg, flags))                    \
	X_CHK(__read_chk, ssize_t,                                            \
	      (int fd, void *buf, size_t n, size_t buflen),                   \
	      (fd, buf, n, buflen), (SYS_read, fd, buf, n),                   \
	      read, (fd, buf, n))                                             \
	X_CHK(__recv_chk, ssize_t,                                            \
	      (int fd, void *buf, size_t n, size_t buflen, int flags),        \
	      (fd, buf, n, buflen, flags),                                    \
	      (SYS_recvfrom, fd, buf, n, flags, NULL, NULL),                  \
	      recv, (fd, buf, n, flags))                                      \
	X_CHK(__recvfrom_chk, ssize_t,                                        \
	      (int fd, void *buf, size_t n, size_t buflen, int flags,         \
	       struct sockaddr *addr, socklen_t *len),                        \
	      (fd, buf, n, buflen, flags, addr, len),                         \
	      (SYS_recvfrom, fd, buf, n, flags, addr, len),                   \
	      recvfrom, (fd, buf, n, flags, addr, len))                       \
	X(getsockopt, OPT, int,                                               \
	  (int fd, int level, int name, void *val, socklen_t *len),           \
	  (fd, level, name, val, len),                                        \
	  (SYS_getsockopt, fd, level, name, val, len))
/* clang-format on */

#endif
