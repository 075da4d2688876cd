/*
 * connect/__connect and getpeername hooks, and the connect half of
 * sendto/sendmsg with MSG_FASTOPEN: a TCP connect to an intercepted legacy
 * address (a real ip:port a service lists in the config) goes to that
 * service's VIP instead, where meshd listens. The kernel does the connect,
 * so blocking and non-blocking semantics, EINPROGRESS, SO_ERROR and every
 * socket option stay real; we only change the destination, and hand back
 * the return value and errno of libc's call - except that a connect whose
 * final destination is a VIP:port meshd serves (redirected or dialled
 * directly) asks meshd for its verdict on the upstream path (verdict.c),
 * which can turn a blocking connect's success into the failure a direct
 * connection would have had.
 *
 * getpeername must keep reporting the address the program asked for. Per fd
 * we remember (original address, VIP:port actually connected) in the per-fd
 * table (shim.h); getpeername rewrites only while the kernel's peer is
 * still that VIP:port, so a descriptor that was closed and reused (we do not
 * hook close) is never misreported unless the new socket also connected to
 * the same VIP:port without us - and even that is covered, because every
 * connect through us clears the fd's entry first.
 *
 * The table is one anonymous mapping, created on the first interception or
 * verdict and sized to RLIMIT_NOFILE's hard limit (capped at 1<<20 entries;
 * pages are only touched for fds that are used). Entries are seqlocks of
 * relaxed atomics, so readers and writers never lock and the hooks never
 * allocate.
 */
#include "shim.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/un.h>

#define FD_TABLE_MAX (1u << 20)

struct shim_fd_table *_Atomic shim_fds;

_Static_assert(sizeof(struct sockaddr_in6) <= 7 * sizeof(unsigned), "shim_fd.orig too small");
_Static_assert(sizeof(struct shim_fd) == 64, "one cache line per fd");

struct shim_fd_table *shim_fd_table_get(void)
{
	struct shim_fd_table *t = atomic_load_explicit(&shim_fds, memory_order_acquire);
	if (t)
		return t;

	size_t cap = FD_TABLE_MAX;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cap)
		cap = rl.rlim_max;
	if (cap < 1024)
		cap = 1024;
	size_t bytes = offsetof(struct shim_fd_table, e) + cap * sizeof(struct shim_fd);
	/* MAP_PRIVATE: a forked child inherits its parent's sockets and
	 * therefore gets a copy of what we know about them. */
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	t = m;
	t->cap = cap;
	t->bytes = bytes;
	struct shim_fd_table *expected = NULL;
	if (!atomic_compare_exchange_strong(&shim_fds, &expected, t)) {
		munmap(m, bytes); /* another thread won the race */
		return expected;
	}
	return t;
}

static struct shim_fd *entry_for(struct shim_fd_table *t, int fd)
{
	if (!t || fd < 0 || (size_t)fd >= t->cap)
		return NULL;
	return &t->e[fd];
}

/* Writer side of the seqlock: begin returns the value to end with. */
static unsigned entry_begin(struct shim_fd *e)
{
	unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
	/* (s|1)+2 is odd whether or not a writer died mid-way (fork). */
	unsigned odd = (s | 1u) + 2u;
	atomic_store_explicit(&e->seq, odd, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	return odd + 1u;
}

static void entry_end(struct shim_fd *e, unsigned even)
{
	atomic_store_explicit(&e->seq, even, memory_order_release);
}

static void entry_set(struct shim_fd *e, const void *orig, socklen_t olen, uint32_t vip,
                      uint16_t vport)
{
	unsigned words[7] = { 0 };
	memcpy(words, orig, olen);
	unsigned end = entry_begin(e);
	for (int i = 0; i < 7; i++)
		atomic_store_explicit(&e->orig[i], words[i], memory_order_relaxed);
	atomic_store_explicit(&e->meta, (unsigned)vport | ((unsigned)olen << 16),
	                      memory_order_relaxed);
	atomic_store_explicit(&e->vip, vip, memory_order_relaxed);
	entry_end(e, end);
}

static void entry_clear(struct shim_fd *e)
{
	if (atomic_load_explicit(&e->vip, memory_order_relaxed) == 0)
		return;
	unsigned end = entry_begin(e);
	atomic_store_explicit(&e->vip, 0, memory_order_relaxed);
	entry_end(e, end);
}

/* Consistent copy of an entry; 0 when empty or it kept changing. */
static int entry_get(struct shim_fd *e, unsigned char *orig, socklen_t *olen, uint32_t *vip,
                     uint16_t *vport)
{
	for (int tries = 0; tries < 8; tries++) {
		unsigned s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1u)
			continue;
		unsigned words[7];
		uint32_t v = atomic_load_explicit(&e->vip, memory_order_relaxed);
		unsigned meta = atomic_load_explicit(&e->meta, memory_order_relaxed);
		for (int i = 0; i < 7; i++)
			words[i] = atomic_load_explicit(&e->orig[i], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1)
			continue;
		if (v == 0)
			return 0;
		*vip = v;
		*vport = (uint16_t)(meta & 0xffffu);
		*olen = (socklen_t)(meta >> 16);
		if (*olen > sizeof words)
			return 0;
		memcpy(orig, words, *olen);
		return 1;
	}
	return 0;
}

/* The service port to use: the intercepted one if the service declares it,
 * else its first declared port (meshd listens only on declared ports). */
static uint16_t pick_port(const struct snap_svc *s, uint16_t want)
{
	if (s->nports == 0)
		return want;
	for (unsigned i = 0; i < s->nports && i < SNAP_MAX_PORTS; i++)
		if (s->ports[i] == want)
			return want;
	return s->ports[0];
}

static void debug_pass(const char *call, const struct sockaddr *sa, socklen_t len, const char *why)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, call);
	shim_line_str(&l, " ");
	shim_line_sockaddr(&l, sa, len);
	shim_line_str(&l, " passed through");
	if (why) {
		shim_line_str(&l, " (");
		shim_line_str(&l, why);
		shim_line_str(&l, ")");
	}
	shim_line_end(&l);
}

static void debug_redirect(const char *call, const struct sockaddr *sa, socklen_t len,
                           const struct sockaddr *to, socklen_t tolen, const char *svc)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, call);
	shim_line_str(&l, " ");
	shim_line_sockaddr(&l, sa, len);
	shim_line_str(&l, " -> ");
	shim_line_sockaddr(&l, to, tolen);
	shim_line_str(&l, " (intercept ");
	shim_line_str(&l, svc);
	shim_line_str(&l, ")");
	shim_line_end(&l);
}

static void debug_vip(const char *call, const struct sockaddr *sa, socklen_t len, const char *svc,
                      int verdicts)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, call);
	shim_line_str(&l, " ");
	shim_line_sockaddr(&l, sa, len);
	shim_line_str(&l, " (mesh service ");
	shim_line_str(&l, svc);
	shim_line_str(&l, verdicts ? ", verdict asked)" : ", no verdicts)");
	shim_line_end(&l);
}

static int is_v4mapped(const struct in6_addr *a)
{
	return IN6_IS_ADDR_V4MAPPED(a);
}

static int port_declared(const struct snap_svc *s, uint16_t port)
{
	for (unsigned i = 0; i < s->nports && i < SNAP_MAX_PORTS; i++)
		if (s->ports[i] == port)
			return 1;
	return 0;
}

/*
 * Where a connect (or a fast-open send) really goes. `dst` is what to hand
 * the real call: the program's own address, or `to` when an intercept
 * redirects it. `verdict` is set when the destination is a VIP:port meshd
 * serves and the control connection is up, so the caller asks meshd.
 */
struct route {
	const struct sockaddr *dst;
	socklen_t dstlen;
	union {
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} to;
	int verdict;
	struct verdict_dest vd;
};

static void route(int fd, const struct sockaddr *sa, socklen_t len, const char *call,
                  struct route *r)
{
	const char *why = NULL;
	char ctl[sizeof(((struct sockaddr_un *)0)->sun_path)] = "";
	char name[SNAP_MAX_NAME + 1] = "";

	r->dst = sa;
	r->dstlen = len;
	r->verdict = 0;
	r->vd.call = call;
	r->vd.wait_ms = 0;
	r->vd.unpublished = 0;

	if (!sa || len < sizeof sa->sa_family)
		goto pass;

	int kfam;
	const void *key;
	uint16_t port;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;
		kfam = AF_INET;
		key = &in->sin_addr;
		port = in->sin_port;
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		port = in6->sin6_port;
		if (is_v4mapped(&in6->sin6_addr)) {
			/* Intercepts and IPv4 VIPs; a dual-stack socket
			 * names them in the mapped form. */
			kfam = AF_INET;
			key = &in6->sin6_addr.s6_addr[12];
		} else {
			kfam = AF_INET6;
			key = &in6->sin6_addr;
		}
	} else {
		goto pass;
	}

	struct shim_snap_ref ref;
	const struct snap_view *v = shim_snap_get(&ref);
	if (!v)
		goto pass;
	const struct snap_svc *svc;
	int redirect, is6 = 0;
	uint16_t vport;
	uint32_t vip = 0;
	uint8_t vip6[16];
	const struct snap_icpt *ic = snapshot_find_intercept(v, kfam, key, port);
	if (ic) {
		svc = &v->svcs[ic->svc];
		vport = pick_port(svc, port);
		redirect = 1;
		vip = svc->vip;
	} else if (kfam == AF_INET6) {
		/* An IPv6 VIP (a socket connected there, IPV6_V6ONLY or not),
		 * or an address of the IPv6 VIP range no service has. */
		svc = snapshot_find_vip6(v, key);
		if (svc && !port_declared(svc, port)) {
			why = "VIP6 port the service does not declare";
			svc = NULL;
		}
		if (!svc && !snapshot_in_vip6_range(v, key)) {
			shim_snap_put(&ref);
			goto pass;
		}
		vport = port;
		redirect = 0;
		is6 = 1;
		memcpy(vip6, key, 16);
	} else {
		uint32_t a;
		memcpy(&a, key, 4);
		svc = kfam == AF_INET ? snapshot_find_vip(v, a) : NULL;
		if (svc && !port_declared(svc, port)) {
			why = "VIP port the service does not declare";
			svc = NULL;
		}
		if (!svc && (kfam != AF_INET || !snapshot_vip_ok(v, a))) {
			/* Not ours: no debug line for every connect of the
			 * program, only for the ones that came close. */
			shim_snap_put(&ref);
			goto pass;
		}
		/* No svc: meshd's VIP range, but nothing published there
		 * (meshd left the service out: another process holds its
		 * VIP:port). Ask anyway: meshd answers at once, "unknown"
		 * for a service's VIP (the connection is refused rather
		 * than handed to whoever listens there), "none" for an
		 * address that is no VIP of its (the connection stands). */
		vport = port;
		redirect = 0;
		vip = a;
	}
	if (is6 ? !snapshot_vip6_ok(v, vip6) : !snapshot_vip_ok(v, vip)) {
		/* never redirect off the VIP range */
		shim_snap_put(&ref);
		why = "VIP outside the snapshot's range";
		goto pass;
	}
	r->vd.wait_ms = svc ? svc->verdict_ms : 0;
	r->vd.unpublished = svc == NULL;
	if (shim_debug && svc) {
		size_t n = svc->name_len < SNAP_MAX_NAME ? svc->name_len : SNAP_MAX_NAME;
		memcpy(name, snapshot_svc_name(v, svc), n);
		name[n] = '\0';
	} else if (shim_debug) {
		memcpy(name, "(none published at this VIP-range address)",
		       sizeof "(none published at this VIP-range address)");
	}
	const char *cp = snapshot_control(v);
	if (cp) {
		size_t n = strnlen(cp, sizeof ctl);
		if (n < sizeof ctl)
			memcpy(ctl, cp, n + 1);
	}
	shim_snap_put(&ref);
	if (!svc && !ctl[0])
		goto pass; /* an unpublished address, and nobody to ask */

	/* Only TCP goes through meshd; UDP to the same address is left alone. */
	int type = 0;
	socklen_t tl = sizeof type;
	if (shim_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 || type != SOCK_STREAM) {
		why = "not SOCK_STREAM";
		goto pass;
	}

	if (redirect) {
		socklen_t tolen;
		memset(&r->to, 0, sizeof r->to);
		if (sa->sa_family == AF_INET) {
			r->to.in.sin_family = AF_INET;
			r->to.in.sin_port = vport;
			r->to.in.sin_addr.s_addr = vip;
			tolen = sizeof r->to.in;
		} else {
			/* A v6-only socket cannot reach an IPv4 VIP at all:
			 * better to let the program's own connect decide. */
			int v6only = 0;
			tl = sizeof v6only;
			if (shim_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &tl) == -1 ||
			    v6only) {
				why = "IPV6_V6ONLY socket";
				goto pass;
			}
			r->to.in6.sin6_family = AF_INET6;
			r->to.in6.sin6_port = vport;
			r->to.in6.sin6_addr.s6_addr[10] = 0xff;
			r->to.in6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&r->to.in6.sin6_addr.s6_addr[12], &vip, 4);
			tolen = sizeof r->to.in6;
		}

		/*
		 * Remember before connecting: a non-blocking connect may
		 * complete and another thread call getpeername before
		 * connect() even returns. A failed connect leaves no peer, so
		 * the entry then never matches.
		 */
		struct shim_fd *e = entry_for(shim_fd_table_get(), fd);
		if (e) {
			if (sa->sa_family == AF_INET) {
				struct sockaddr_in o;
				memset(&o, 0, sizeof o); /* kernel reports sin_zero as 0 */
				o.sin_family = AF_INET;
				o.sin_port = port;
				memcpy(&o.sin_addr, key, 4);
				entry_set(e, &o, sizeof o, vip, vport);
			} else {
				entry_set(e, sa, sizeof(struct sockaddr_in6), vip, vport);
			}
		}
		r->dst = (const struct sockaddr *)&r->to;
		r->dstlen = tolen;
		if (shim_debug)
			debug_redirect(call, sa, len, r->dst, tolen, name);
	}

	/* Ask meshd only if it told us where (the snapshot names its control
	 * socket) and we can reach it; otherwise connect exactly as before. */
	if (ctl[0] && verdict_ready(ctl)) {
		r->verdict = 1;
		r->vd.vip = vip;
		r->vd.vport = vport;
		r->vd.v6 = is6;
		if (is6)
			memcpy(r->vd.vip6, vip6, 16);
	} else if (!svc) {
		goto pass;
	}
	if (shim_debug && !redirect)
		debug_vip(call, sa, len, name, r->verdict);
	return;

pass:
	if (shim_debug)
		debug_pass(call, sa, len, why);
}

static int do_connect(int (*real)(int, const struct sockaddr *, socklen_t), int fd,
                      const struct sockaddr *sa, socklen_t len)
{
	int saved = errno;

	if (shim_init() == -1 || !real)
		return (int)syscall(SYS_connect, fd, sa, len);

	/* Whatever this fd was connected to before is history now. */
	struct shim_fd *e = shim_fd_peek(fd);
	if (e)
		entry_clear(e);
	/* A verdict mark is history too, unless this is the same socket
	 * connecting again (EALREADY/EISCONN polling of a pending connect). */
	int again = shim_fd_marked(fd) ? verdict_connect_begin(fd) : 0;

	struct route r;
	route(fd, sa, len, "connect", &r);
	errno = saved;
	int rc = real(fd, r.dst, r.dstlen);
	if (!r.verdict && !again)
		return rc;
	int err = errno;
	rc = (int)verdict_after_connect(fd, r.verdict ? &r.vd : NULL, again, rc, &err);
	errno = err;
	return rc;
}

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	return do_connect(real_connect, fd, SHIM_CSA(addr), len);
}

SHIM_EXPORT int __connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return do_connect(real___connect, fd, addr, len);
}

/*
 * sendto/sendmsg with MSG_FASTOPEN connect and send in one call (curl
 * --tcp-fastopen on kernels without TCP_FASTOPEN_CONNECT): the same
 * redirect and the same verdict as connect. iohooks.c's hooks call these
 * only when the flag is set.
 */
ssize_t intercept_sendto_fastopen(int fd, const void *buf, size_t n, int flags,
                                  const struct sockaddr *sa, socklen_t len)
{
	int saved = errno;
	int again = shim_fd_marked(fd) ? verdict_connect_begin(fd) : 0;
	struct route r;
	route(fd, sa, len, "sendto", &r);
	errno = saved;
	ssize_t rc = real_sendto ? real_sendto(fd, buf, n, flags, r.dst, r.dstlen)
	                         : syscall(SYS_sendto, fd, buf, n, flags, r.dst, r.dstlen);
	if (!r.verdict && !again)
		return rc;
	int err = errno;
	rc = verdict_after_connect(fd, r.verdict ? &r.vd : NULL, again, rc, &err);
	errno = err;
	return rc;
}

ssize_t intercept_sendmsg_fastopen(int fd, const struct msghdr *msg, int flags)
{
	int saved = errno;
	if (!msg)
		return real_sendmsg ? real_sendmsg(fd, msg, flags)
		                    : syscall(SYS_sendmsg, fd, msg, flags);
	int again = shim_fd_marked(fd) ? verdict_connect_begin(fd) : 0;
	struct route r;
	route(fd, msg->msg_name, msg->msg_namelen, "sendmsg", &r);
	/* The program's msghdr is const: redirect a copy. */
	struct msghdr m = *msg;
	m.msg_name = (void *)r.dst;
	m.msg_namelen = r.dstlen;
	errno = saved;
	ssize_t rc = real_sendmsg ? real_sendmsg(fd, &m, flags)
	                          : syscall(SYS_sendmsg, fd, &m, flags);
	if (!r.verdict && !again)
		return rc;
	int err = errno;
	rc = verdict_after_connect(fd, r.verdict ? &r.vd : NULL, again, rc, &err);
	errno = err;
	return rc;
}

/* Is the kernel's peer (ss, sl bytes) the VIP:port we connected to? */
static int peer_is_vip(const struct sockaddr *ss, socklen_t sl, uint32_t vip, uint16_t vport)
{
	if (ss->sa_family == AF_INET && sl >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)ss;
		return in->sin_addr.s_addr == vip && in->sin_port == vport;
	}
	if (ss->sa_family == AF_INET6 && sl >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		return in6->sin6_port == vport && is_v4mapped(&in6->sin6_addr) &&
		       memcmp(&in6->sin6_addr.s6_addr[12], &vip, 4) == 0;
	}
	return 0;
}

SHIM_EXPORT int getpeername(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	struct sockaddr *sa = SHIM_SA(addr);

	if (shim_init() == -1 || !real_getpeername)
		return (int)syscall(SYS_getpeername, fd, sa, len);

	/* One load and one compare for every fd we never redirected. */
	struct shim_fd *e = shim_fd_peek(fd);
	if (!e || !sa || !len || atomic_load_explicit(&e->vip, memory_order_relaxed) == 0)
		return real_getpeername(fd, sa, len);

	socklen_t given = *len;
	int rc = real_getpeername(fd, sa, len);
	if (rc == -1)
		return rc;
	int saved = errno;

	/* The kernel's answer, whole, to compare with what we connected. */
	union {
		struct sockaddr_storage ss;
		struct sockaddr sa;
	} peer;
	socklen_t pl = *len;
	if (given >= pl) {
		memcpy(&peer, sa, pl < sizeof peer ? pl : sizeof peer);
	} else {
		/* The caller's buffer was too short to hold it. */
		pl = sizeof peer;
		if (real_getpeername(fd, &peer.sa, &pl) == -1) {
			errno = saved;
			return rc;
		}
	}

	unsigned char orig[28];
	socklen_t olen;
	uint32_t vip;
	uint16_t vport;
	if (entry_get(e, orig, &olen, &vip, &vport) && peer_is_vip(&peer.sa, pl, vip, vport)) {
		/* Same truncation rule as the kernel: copy what fits, report
		 * the full length. */
		memcpy(sa, orig, given < olen ? given : olen);
		*len = olen;
	}
	errno = saved;
	return rc;
}
