/*
 * Internal interface of libmesh.so, shared by libmesh.c (init, real_*
 * symbols, route snapshot, debug output), resolve.c (name hooks) and
 * intercept.c (connect/getpeername hooks). Nothing declared here is exported:
 * the version script exports only the hooks, and everything in this header is
 * hidden so calls between the shim's files never go through the PLT (a
 * program or another preloaded library cannot interpose on them).
 */
#ifndef LIBMESH_SHIM_H
#define LIBMESH_SHIM_H

#include <netdb.h>
#include <stdint.h>
#include <sys/socket.h>

#include "snapshot.h"

#pragma GCC visibility push(hidden)

/* Marks the hook definitions; the version script repeats the list. */
#define SHIM_EXPORT __attribute__((visibility("default")))

/*
 * glibc declares the sockaddr arguments of connect/getpeername as transparent
 * unions under _GNU_SOURCE; our definitions must match the prototypes.
 */
#ifdef __SOCKADDR_ALLTYPES
#define SHIM_CSA(a) ((a).__sockaddr__)
#define SHIM_SA(a)  ((a).__sockaddr__)
#else
#define SHIM_CSA(a) (a)
#define SHIM_SA(a)  (a)
#endif

/* Not declared by any public header; exported by libc as an alias. */
SHIM_EXPORT int __connect(int fd, const struct sockaddr *addr, socklen_t len);

/* libc's functions, from dlsym(RTLD_NEXT); NULL only while init recurses. */
extern int (*real_connect)(int, const struct sockaddr *, socklen_t);
extern int (*real___connect)(int, const struct sockaddr *, socklen_t);
extern int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
extern int (*real_getaddrinfo)(const char *, const char *,
                               const struct addrinfo *, struct addrinfo **);
extern int (*real_getnameinfo)(const struct sockaddr *, socklen_t, char *,
                               socklen_t, char *, socklen_t, int);
extern struct hostent *(*real_gethostbyname)(const char *);
extern struct hostent *(*real_gethostbyname2)(const char *, int);
extern int (*real_gethostbyname_r)(const char *, struct hostent *, char *,
                                   size_t, struct hostent **, int *);
extern int (*real_gethostbyname2_r)(const char *, int, struct hostent *,
                                    char *, size_t, struct hostent **, int *);
extern struct hostent *(*real_gethostbyaddr)(const void *, socklen_t, int);
extern int (*real_gethostbyaddr_r)(const void *, socklen_t, int,
                                   struct hostent *, char *, size_t,
                                   struct hostent **, int *);

/*
 * Resolve the real_* symbols and read the environment, once. Every hook calls
 * it first. Returns 0 when the shim is usable; -1 when this thread is inside
 * the shim's own initialisation (an allocator or library called back into a
 * hook from dlsym): the hook must then use its fallback and do nothing else.
 */
int shim_init(void);

/* Non-zero when MESH_DEBUG asks for one stderr line per decision. */
extern int shim_debug;

/*
 * The current route snapshot. shim_snap_get() re-checks the file at most
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

/*
 * Debug output without stdio: a line is assembled in a stack buffer and
 * written with one write(2) so lines from threads do not interleave. Call
 * these only under `if (shim_debug)`, so that the normal path does no
 * formatting. None of them changes errno.
 */
struct shim_line {
	char   buf[512];
	size_t len;
};
void shim_line_start(struct shim_line *l);
void shim_line_str(struct shim_line *l, const char *s);
void shim_line_uint(struct shim_line *l, unsigned long v);
/* "1.2.3.4:80", "[::1]:80", or "family N" for other families. */
void shim_line_sockaddr(struct shim_line *l, const struct sockaddr *sa,
                        socklen_t len);
/* Address bytes (4 or 16) without a port. */
void shim_line_addr(struct shim_line *l, int family, const void *addr);
void shim_line_end(struct shim_line *l);

#pragma GCC visibility pop

#endif
