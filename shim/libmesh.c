/*
 * libmesh.so core: initialisation, libc's real symbols and fork handling
 * (the route snapshot the hooks answer from: routes.c; MESH_DEBUG's lines:
 * debug.c).
 *
 * The shim lives inside arbitrary programs, so everything here is written to
 * be invisible when it is not needed: no descriptor is kept open (the
 * control connection of ctlclient.c is the one exception, and it re-checks
 * it), no stdio, errno is restored on every path, nothing blocks on another
 * thread (only try-locks), and the common path of a hook costs a
 * pthread_once check, a coarse clock read and two atomic increments.
 */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int (*real_connect)(int, const struct sockaddr *, socklen_t);
int (*real___connect)(int, const struct sockaddr *, socklen_t);
int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
int (*real_getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
int (*real_getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t,
                        int);
struct hostent *(*real_gethostbyname)(const char *);
struct hostent *(*real_gethostbyname2)(const char *, int);
int (*real_gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **,
                            int *);
int (*real_gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t, struct hostent **,
                             int *);
struct hostent *(*real_gethostbyaddr)(const void *, socklen_t, int);
int (*real_gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t,
                            struct hostent **, int *);
ssize_t (*real_read)(int, void *, size_t);
ssize_t (*real_write)(int, const void *, size_t);
ssize_t (*real_readv)(int, const struct iovec *, int);
ssize_t (*real_writev)(int, const struct iovec *, int);
ssize_t (*real_send)(int, const void *, size_t, int);
ssize_t (*real_recv)(int, void *, size_t, int);
ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
ssize_t (*real_recvmsg)(int, struct msghdr *, int);
int (*real_getsockopt)(int, int, int, void *, socklen_t *);
ssize_t (*real___read_chk)(int, void *, size_t, size_t);
ssize_t (*real___recv_chk)(int, void *, size_t, size_t, int);
ssize_t (*real___recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);

int shim_debug;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/*
 * Set while this thread runs do_init(). dlsym() may call malloc(); an
 * allocator that initialises itself lazily may then call something we hook
 * (jemalloc#329-style). Re-entering pthread_once from the same thread would
 * deadlock, so a hook that finds this flag set uses a fallback instead.
 * initial-exec TLS: the shim is preloaded, never dlopen'ed late, and this
 * keeps __tls_get_addr (which may allocate) out of the hook path.
 */
static __thread int in_init __attribute__((tls_model("initial-exec")));

/* ---- init -------------------------------------------------------------- */

static void atfork_child(void)
{
	shim_snap_atfork_child();
	verdict_atfork_child();
}

int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (real_getsockopt)
		return real_getsockopt(fd, level, name, val, len);
	return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static void do_init(void)
{
	in_init = 1;
	dlhooks_init();
	real_connect = (int (*)(int, const struct sockaddr *, socklen_t))sym("connect");
	real___connect = (int (*)(int, const struct sockaddr *, socklen_t))sym("__connect");
	if (!real___connect)
		real___connect = real_connect;
	real_getpeername = (int (*)(int, struct sockaddr *, socklen_t *))sym("getpeername");
	real_getaddrinfo = (int (*)(const char *, const char *, const struct addrinfo *,
	                            struct addrinfo **))sym("getaddrinfo");
	real_getnameinfo = (int (*)(const struct sockaddr *, socklen_t, char *, socklen_t, char *,
	                            socklen_t, int))sym("getnameinfo");
	real_gethostbyname = (struct hostent * (*)(const char *)) sym("gethostbyname");
	real_gethostbyname2 = (struct hostent * (*)(const char *, int)) sym("gethostbyname2");
	real_gethostbyname_r = (int (*)(const char *, struct hostent *, char *, size_t,
	                                struct hostent **, int *))sym("gethostbyname_r");
	real_gethostbyname2_r = (int (*)(const char *, int, struct hostent *, char *, size_t,
	                                 struct hostent **, int *))sym("gethostbyname2_r");
	real_gethostbyaddr = (struct hostent * (*)(const void *, socklen_t, int))
		sym("gethostbyaddr");
	real_gethostbyaddr_r = (int (*)(const void *, socklen_t, int, struct hostent *, char *,
	                                size_t, struct hostent **, int *))sym("gethostbyaddr_r");
	real_read = (ssize_t(*)(int, void *, size_t))sym("read");
	real_write = (ssize_t(*)(int, const void *, size_t))sym("write");
	real_readv = (ssize_t(*)(int, const struct iovec *, int))sym("readv");
	real_writev = (ssize_t(*)(int, const struct iovec *, int))sym("writev");
	real_send = (ssize_t(*)(int, const void *, size_t, int))sym("send");
	real_recv = (ssize_t(*)(int, void *, size_t, int))sym("recv");
	real_sendto = (ssize_t(*)(int, const void *, size_t, int, const struct sockaddr *,
	                          socklen_t))sym("sendto");
	real_recvfrom = (ssize_t(*)(int, void *, size_t, int, struct sockaddr *,
	                            socklen_t *))sym("recvfrom");
	real_sendmsg = (ssize_t(*)(int, const struct msghdr *, int))sym("sendmsg");
	real_recvmsg = (ssize_t(*)(int, struct msghdr *, int))sym("recvmsg");
	real_getsockopt = (int (*)(int, int, int, void *, socklen_t *))sym("getsockopt");
	real___read_chk = (ssize_t(*)(int, void *, size_t, size_t))sym("__read_chk");
	real___recv_chk = (ssize_t(*)(int, void *, size_t, size_t, int))sym("__recv_chk");
	real___recvfrom_chk = (ssize_t(*)(int, void *, size_t, size_t, int, struct sockaddr *,
	                                  socklen_t *))sym("__recvfrom_chk");

	/*
	 * secure_getenv: in a setuid program (only reachable through
	 * /etc/ld.so.preload) the caller's environment must not choose the
	 * routes (shim_snap_init) or spray debug output.
	 */
	const char *d = secure_getenv("MESH_DEBUG");
	shim_debug = d && d[0] && strcmp(d, "0") != 0;
	shim_snap_init();

	verdict_init();
	pthread_atfork(NULL, NULL, atfork_child);
	in_init = 0;
}

int shim_init(void)
{
	if (in_init)
		return -1;
	int saved = errno;
	pthread_once(&init_once, do_init);
	errno = saved;
	return 0;
}

/* Resolve early, and copy the route snapshot, while the program is most
 * likely still single-threaded: threads that all ask at once later find the
 * routes already there. */
__attribute__((constructor)) static void shim_ctor(void)
{
	if (shim_init() == 0)
		shim_snap_refresh();
}
