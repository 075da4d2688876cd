/*
 * Internal interface of libmesh.so, shared by libmesh.c (init, real_*
 * symbols), routes.c (the route snapshot), debug.c (MESH_DEBUG lines),
 * resolve.c (name hooks), intercept.c (connect/getpeername/TCP Fast Open
 * hooks, the per-fd table), verdict.c (faithful failure), ctlclient.c (its
 * slot table and the control connection to meshd) and iohooks.c (the I/O
 * hooks). Nothing declared here is exported: the version script exports
 * only the hooks, and everything in this header is hidden so calls between
 * the shim's files never go through the PLT (a program or another preloaded
 * library cannot interpose on them).
 */
#ifndef LIBMESH_SHIM_H
#define LIBMESH_SHIM_H

#include <dlfcn.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "snapshot.h"

#pragma GCC visibility push(hidden)

/* Marks the hook definitions; the version script repeats the list
 * (tests/unit/check_exports.sh checks that the two agree). */
#define SHIM_EXPORT __attribute__((visibility("default")))

/*
 * glibc declares the sockaddr arguments of connect/getpeername as transparent
 * unions under _GNU_SOURCE; our definitions must match the prototypes.
 */
#ifdef __SOCKADDR_ALLTYPES
#define SHIM_CSA(a) ((a).__sockaddr__)
#define SHIM_SA(a) ((a).__sockaddr__)
#else
#define SHIM_CSA(a) (a)
#define SHIM_SA(a) (a)
#endif

/* Not declared by any public header; exported by libc as an alias. */
SHIM_EXPORT int __connect(int fd, const struct sockaddr *addr, socklen_t len);

/* glibc's _FORTIFY_SOURCE entry points; declared only under fortify. */
SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                                   struct sockaddr *addr, socklen_t *alen);

/* libc's functions, from dlsym(RTLD_NEXT); NULL only while init recurses. */
extern int (*real_connect)(int, const struct sockaddr *, socklen_t);
extern int (*real___connect)(int, const struct sockaddr *, socklen_t);
extern int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
extern int (*real_getaddrinfo)(const char *, const char *, const struct addrinfo *,
                               struct addrinfo **);
extern int (*real_getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *,
                               socklen_t, int);
extern struct hostent *(*real_gethostbyname)(const char *);
extern struct hostent *(*real_gethostbyname2)(const char *, int);
extern int (*real_gethostbyname_r)(const char *, struct hostent *, char *, size_t,
                                   struct hostent **, int *);
extern int (*real_gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t,
                                    struct hostent **, int *);
extern struct hostent *(*real_gethostbyaddr)(const void *, socklen_t, int);
extern int (*real_gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t,
                                   struct hostent **, int *);
/* The I/O family (iohooks.c hooks them; everything in the shim that does
 * I/O on a descriptor calls these, never the hooks). */
extern ssize_t (*real_read)(int, void *, size_t);
extern ssize_t (*real_write)(int, const void *, size_t);
extern ssize_t (*real_readv)(int, const struct iovec *, int);
extern ssize_t (*real_writev)(int, const struct iovec *, int);
extern ssize_t (*real_send)(int, const void *, size_t, int);
extern ssize_t (*real_recv)(int, void *, size_t, int);
extern ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
extern ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
extern ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
extern ssize_t (*real_recvmsg)(int, struct msghdr *, int);
extern int (*real_getsockopt)(int, int, int, void *, socklen_t *);
extern ssize_t (*real___read_chk)(int, void *, size_t, size_t);
extern ssize_t (*real___recv_chk)(int, void *, size_t, size_t, int);
extern ssize_t (*real___recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *,
                                      socklen_t *);

/* dlhooks.c: the real dlopen/dlmopen, and MESH_DEEPBIND; dlhooks_init()
 * runs first in do_init. */
extern void *(*real_dlopen)(const char *, int);
extern void *(*real_dlmopen)(Lmid_t, const char *, int);
void dlhooks_init(void);

/*
 * Resolve the real_* symbols and read the environment, once. Every hook calls
 * it first. Returns 0 when the shim is usable; -1 when this thread is inside
 * the shim's own initialisation (an allocator or library called back into a
 * hook from dlsym): the hook must then use its fallback and do nothing else.
 */
int shim_init(void);

/* Non-zero when MESH_DEBUG asks for one stderr line per decision. */
extern int shim_debug;

/* getsockopt/fcntl-free helpers that never go through the shim's hooks. */
int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len);

/*
 * The per-fd table (intercept.c owns it): one entry per descriptor number,
 * in one anonymous mapping created on first use and sized to RLIMIT_NOFILE's
 * hard limit (capped at 1<<20 entries; only the pages of used fds are ever
 * touched). intercept.c keeps the getpeername mapping of redirected fds in
 * it (seqlock of relaxed atomics); ctlclient.c keeps `vmark`, the fast-path
 * test of every I/O hook: 0 for every descriptor the shim never connected
 * to a VIP, which then costs one load and one branch and nothing else.
 * MAP_PRIVATE: a forked child gets a copy, as it gets copies of the fds.
 */
struct shim_fd {
	atomic_uint seq;     /* intercept.c: odd while a writer is mid-way */
	atomic_uint vip;     /* intercept.c: VIP connected to; 0 none */
	atomic_uint meta;    /* intercept.c: VIP port | orig_len << 16 */
	atomic_uint orig[7]; /* intercept.c: the program's sockaddr */
	atomic_uint vmark;   /* ctlclient.c: pending-verdict slot + 1; 0 none */
	unsigned pad[5];     /* one cache line per fd */
};

struct shim_fd_table {
	size_t cap;
	size_t bytes;
	struct shim_fd e[];
};

extern struct shim_fd_table *_Atomic shim_fds;

/* The table, created if needed; NULL only if it cannot be mapped. */
struct shim_fd_table *shim_fd_table_get(void);

/* The entry of fd if the table exists and covers it; never allocates. */
static inline struct shim_fd *shim_fd_peek(int fd)
{
	struct shim_fd_table *t = atomic_load_explicit(&shim_fds, memory_order_acquire);
	if (!t || (unsigned)fd >= t->cap)
		return NULL;
	return &t->e[fd];
}

/* The I/O hooks' whole cost on a descriptor without a verdict mark. */
static inline int shim_fd_marked(int fd)
{
	struct shim_fd_table *t = atomic_load_explicit(&shim_fds, memory_order_acquire);
	return __builtin_expect(t != NULL && (unsigned)fd < t->cap &&
	                                atomic_load_explicit(&t->e[fd].vmark,
	                                                     memory_order_relaxed) != 0,
	                        0);
}

/*
 * Faithful failure (verdict.c). A connect whose final destination is a
 * VIP:port meshd serves asks meshd, over the control connection, how the
 * upstream path ended, and fails the way a direct connect would.
 *
 *   verdict_init()            from do_init: MESH_VERDICT_TIMEOUT, cond var
 *   verdict_atfork_child()    from the atfork child handler
 *   verdict_ready(path)       before the real connect to a VIP: opens (or
 *                             re-checks) the control connection to `path`;
 *                             1 if verdicts can be asked for, else 0
 *   verdict_connect_begin(fd) before any connect/fast-open on a marked fd:
 *                             1 if the mark belongs to this very socket (a
 *                             repeated connect), 0 if it was stale (cleared)
 *   verdict_after_connect()   after the real call; may turn its result into
 *                             -1 ECONNREFUSED/ETIMEDOUT (blocking sockets)
 *
 * A verdict is waited for at most min(MESH_VERDICT_TIMEOUT if set, the
 * service's verdict_ms if the snapshot has it, 30 s), counted from the
 * connect: verdict_ms is the longest meshd can take, so an answer that has
 * not come by then is not coming (meshd stopped) and the connection stands.
 */
void verdict_init(void);
void verdict_atfork_child(void);
int verdict_ready(const char *ctl_path);
int verdict_connect_begin(int fd);
struct verdict_dest {
	uint32_t vip; /* network order (IPv4) */
	int v6;       /* a VIP6: vip6 */
	uint8_t vip6[16];
	uint16_t vport;   /* network order */
	unsigned wait_ms; /* the service's verdict_ms (snapshot); 0: unknown */
	int unpublished;  /* an address in the VIP range that no published
	                        * service has: whoever accepted it may not be
	                        * meshd, so no I/O passes before the verdict */
	const char *call; /* "connect", "sendto", "sendmsg" (debug) */
};
/* rc/err: what the real call returned; `again`: verdict_connect_begin's
 * answer (the connect is a repeat on an already marked socket, and d is not
 * used), else d is the VIP:port of a fresh connect. Returns the value to
 * return and sets *err to the errno to leave. */
long verdict_after_connect(int fd, const struct verdict_dest *d, int again, long rc, int *err);

/*
 * For the I/O hooks (iohooks.c), on a marked descriptor.
 *   verdict_settle(fd, wait, what)  the errno to report instead of the
 *                                   call (once), or 0; `wait` waits for
 *                                   the verdict; `what` completes the debug
 *                                   line ("read fails with")
 *   verdict_settle_data(fd)         data arrived: the verdict can only be ok
 *   verdict_settle_forget(fd)       the kernel failed the connect itself
 */
int verdict_settle(int fd, int wait, const char *what);
void verdict_settle_data(int fd);
void verdict_settle_forget(int fd);

/* intercept.c: the connect half of MSG_FASTOPEN sends (redirect, verdict). */
ssize_t intercept_sendto_fastopen(int fd, const void *buf, size_t n, int flags,
                                  const struct sockaddr *sa, socklen_t len);
ssize_t intercept_sendmsg_fastopen(int fd, const struct msghdr *msg, int flags);

/*
 * The current route snapshot (routes.c). shim_snap_get() re-checks the file at most
 * every 100 ms and returns a validated view, or NULL when there is none (no
 * daemon, unreadable or malformed file): every hook then passes through.
 * The view stays valid until the matching shim_snap_put(ref); hold it only
 * for the duration of one hook call. Neither changes errno.
 */
struct shim_snap_ref {
	void *slot;
};
const struct snap_view *shim_snap_get(struct shim_snap_ref *ref);
void shim_snap_put(struct shim_snap_ref *ref);

/* routes.c's part of init (the file's path, MESH_SNAPSHOT), of the atfork
 * child handler, and of the constructor (a first refresh, so that threads
 * started later find the routes already copied). */
void shim_snap_init(void);
void shim_snap_atfork_child(void);
void shim_snap_refresh(void);

/*
 * Debug output without stdio (debug.c): a line is assembled in a stack buffer and
 * written with one write(2) so lines from threads do not interleave. Call
 * these only under `if (shim_debug)`, so that the normal path does no
 * formatting. None of them changes errno.
 */
struct shim_line {
	char buf[512];
	size_t len;
};
void shim_line_start(struct shim_line *l);
void shim_line_str(struct shim_line *l, const char *s);
void shim_line_uint(struct shim_line *l, unsigned long v);
/* "1.2.3.4:80", "[::1]:80", or "family N" for other families. */
void shim_line_sockaddr(struct shim_line *l, const struct sockaddr *sa, socklen_t len);
/* Address bytes (4 or 16) without a port. */
void shim_line_addr(struct shim_line *l, int family, const void *addr);
void shim_line_end(struct shim_line *l);

#pragma GCC visibility pop

#endif
