/*
 * connect/__connect and getpeername hooks: a TCP connect to an intercepted
 * legacy address (a real ip:port a service lists in the config) goes to that
 * service's VIP instead, where meshd listens. The kernel does the connect,
 * so blocking and non-blocking semantics, EINPROGRESS, SO_ERROR and every
 * socket option stay real; we only change the destination, and hand back
 * exactly the return value and errno of libc's connect.
 *
 * getpeername must keep reporting the address the program asked for. Per fd
 * we remember (original address, VIP:port actually connected) in a fixed
 * table indexed by fd; getpeername rewrites only while the kernel's peer is
 * still that VIP:port, so a descriptor that was closed and reused (we do not
 * hook close) is never misreported unless the new socket also connected to
 * the same VIP:port without us - and even that is covered, because every
 * connect through us clears the fd's entry first.
 *
 * The table is one anonymous mapping, created on the first interception and
 * sized to RLIMIT_NOFILE's hard limit (capped at 1<<20 entries; pages are
 * only touched for fds that are used). Entries are seqlocks of relaxed
 * atomics, so readers and writers never lock and the hook never allocates.
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

#define FD_TABLE_MAX (1u << 20)

struct fd_entry {
	atomic_uint seq;       /* odd while a writer is in the middle */
	atomic_uint vip;       /* VIP connected to, network order; 0: none */
	atomic_uint meta;      /* VIP port (network order) | orig_len << 16 */
	atomic_uint orig[7];   /* the program's sockaddr_in/_in6, 28 bytes */
};

struct fd_table {
	size_t          cap;
	size_t          bytes;
	struct fd_entry e[];
};

static struct fd_table *_Atomic fd_table;

_Static_assert(sizeof(struct sockaddr_in6) <= 7 * sizeof(unsigned),
               "fd_entry.orig too small");

static struct fd_table *table_get(void)
{
	struct fd_table *t = atomic_load_explicit(&fd_table, memory_order_acquire);
	if (t)
		return t;

	size_t cap = FD_TABLE_MAX;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < cap)
		cap = rl.rlim_max;
	if (cap < 1024)
		cap = 1024;
	size_t bytes = offsetof(struct fd_table, e) + cap * sizeof(struct fd_entry);
	/* MAP_PRIVATE: a forked child inherits its parent's sockets and
	 * therefore gets a copy of what we know about them. */
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	t = m;
	t->cap = cap;
	t->bytes = bytes;
	struct fd_table *expected = NULL;
	if (!atomic_compare_exchange_strong(&fd_table, &expected, t)) {
		munmap(m, bytes);   /* another thread won the race */
		return expected;
	}
	return t;
}

static struct fd_entry *entry_for(struct fd_table *t, int fd)
{
	if (!t || fd < 0 || (size_t)fd >= t->cap)
		return NULL;
	return &t->e[fd];
}

/* Writer side of the seqlock: begin returns the value to end with. */
static unsigned entry_begin(struct fd_entry *e)
{
	unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
	/* (s|1)+2 is odd whether or not a writer died mid-way (fork). */
	unsigned odd = (s | 1u) + 2u;
	atomic_store_explicit(&e->seq, odd, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	return odd + 1u;
}

static void entry_end(struct fd_entry *e, unsigned even)
{
	atomic_store_explicit(&e->seq, even, memory_order_release);
}

static void entry_set(struct fd_entry *e, const void *orig, socklen_t olen,
                      uint32_t vip, uint16_t vport)
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

static void entry_clear(struct fd_entry *e)
{
	if (atomic_load_explicit(&e->vip, memory_order_relaxed) == 0)
		return;
	unsigned end = entry_begin(e);
	atomic_store_explicit(&e->vip, 0, memory_order_relaxed);
	entry_end(e, end);
}

/* Consistent copy of an entry; 0 when empty or it kept changing. */
static int entry_get(struct fd_entry *e, unsigned char *orig, socklen_t *olen,
                     uint32_t *vip, uint16_t *vport)
{
	for (int tries = 0; tries < 8; tries++) {
		unsigned s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1u)
			continue;
		unsigned words[7];
		uint32_t v = atomic_load_explicit(&e->vip, memory_order_relaxed);
		unsigned meta = atomic_load_explicit(&e->meta, memory_order_relaxed);
		for (int i = 0; i < 7; i++)
			words[i] = atomic_load_explicit(&e->orig[i],
			                                memory_order_relaxed);
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

static void debug_pass(const struct sockaddr *sa, socklen_t len,
                       const char *why)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, "connect ");
	shim_line_sockaddr(&l, sa, len);
	shim_line_str(&l, " passed through");
	if (why) {
		shim_line_str(&l, " (");
		shim_line_str(&l, why);
		shim_line_str(&l, ")");
	}
	shim_line_end(&l);
}

static void debug_redirect(const struct sockaddr *sa, socklen_t len,
                           const struct sockaddr *to, socklen_t tolen,
                           const char *svc)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, "connect ");
	shim_line_sockaddr(&l, sa, len);
	shim_line_str(&l, " -> ");
	shim_line_sockaddr(&l, to, tolen);
	shim_line_str(&l, " (intercept ");
	shim_line_str(&l, svc);
	shim_line_str(&l, ")");
	shim_line_end(&l);
}

static int is_v4mapped(const struct in6_addr *a)
{
	return IN6_IS_ADDR_V4MAPPED(a);
}

static int do_connect(int (*real)(int, const struct sockaddr *, socklen_t),
                      int fd, const struct sockaddr *sa, socklen_t len)
{
	int saved = errno;
	const char *why = NULL;

	if (shim_init() == -1 || !real)
		return (int)syscall(SYS_connect, fd, sa, len);

	/* Whatever this fd was connected to before is history now. */
	struct fd_entry *e = entry_for(atomic_load_explicit(&fd_table,
	                                   memory_order_acquire), fd);
	if (e)
		entry_clear(e);

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
	} else if (sa->sa_family == AF_INET6 &&
	           len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		port = in6->sin6_port;
		if (is_v4mapped(&in6->sin6_addr)) {
			/* Intercepts are listed as IPv4; a dual-stack socket
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
	const struct snap_icpt *ic = snapshot_find_intercept(v, kfam, key, port);
	if (!ic) {
		shim_snap_put(&ref);
		goto pass;
	}
	const struct snap_svc *svc = &v->svcs[ic->svc];
	uint32_t vip = svc->vip;
	uint16_t vport = pick_port(svc, port);
	char name[SNAP_MAX_NAME + 1] = "";
	if (shim_debug) {
		size_t n = svc->name_len < SNAP_MAX_NAME ? svc->name_len : SNAP_MAX_NAME;
		memcpy(name, snapshot_svc_name(v, svc), n);
		name[n] = '\0';
	}
	shim_snap_put(&ref);

	/* Only TCP goes through meshd; UDP to the same address is left alone. */
	int type = 0;
	socklen_t tl = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 ||
	    type != SOCK_STREAM) {
		why = "not SOCK_STREAM";
		goto pass;
	}

	union {
		struct sockaddr_in  in;
		struct sockaddr_in6 in6;
	} to;
	socklen_t tolen;
	memset(&to, 0, sizeof to);
	if (sa->sa_family == AF_INET) {
		to.in.sin_family = AF_INET;
		to.in.sin_port = vport;
		to.in.sin_addr.s_addr = vip;
		tolen = sizeof to.in;
	} else {
		/* A v6-only socket cannot reach an IPv4 VIP at all: better
		 * to let the program's own connect decide than to fail. */
		int v6only = 0;
		tl = sizeof v6only;
		if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &tl) == -1 ||
		    v6only) {
			why = "IPV6_V6ONLY socket";
			goto pass;
		}
		to.in6.sin6_family = AF_INET6;
		to.in6.sin6_port = vport;
		to.in6.sin6_addr.s6_addr[10] = 0xff;
		to.in6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&to.in6.sin6_addr.s6_addr[12], &vip, 4);
		tolen = sizeof to.in6;
	}

	/*
	 * Remember before connecting: a non-blocking connect may complete and
	 * another thread call getpeername before connect() even returns. A
	 * failed connect leaves no peer, so the entry then never matches.
	 */
	e = entry_for(table_get(), fd);
	if (e) {
		if (sa->sa_family == AF_INET) {
			struct sockaddr_in o;
			memset(&o, 0, sizeof o);   /* kernel reports sin_zero as 0 */
			o.sin_family = AF_INET;
			o.sin_port = port;
			memcpy(&o.sin_addr, key, 4);
			entry_set(e, &o, sizeof o, vip, vport);
		} else {
			entry_set(e, sa, sizeof(struct sockaddr_in6), vip, vport);
		}
	}

	if (shim_debug)
		debug_redirect(sa, len, (const struct sockaddr *)&to, tolen,
		               name);
	errno = saved;
	return real(fd, (const struct sockaddr *)&to, tolen);

pass:
	if (shim_debug)
		debug_pass(sa, len, why);
	errno = saved;
	return real(fd, sa, len);
}

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	return do_connect(real_connect, fd, SHIM_CSA(addr), len);
}

SHIM_EXPORT int __connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return do_connect(real___connect, fd, addr, len);
}

/* Is the kernel's peer (ss, sl bytes) the VIP:port we connected to? */
static int peer_is_vip(const struct sockaddr *ss, socklen_t sl, uint32_t vip,
                       uint16_t vport)
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
	struct fd_entry *e = entry_for(atomic_load_explicit(&fd_table,
	                                   memory_order_acquire), fd);
	if (!e || !sa || !len ||
	    atomic_load_explicit(&e->vip, memory_order_relaxed) == 0)
		return real_getpeername(fd, sa, len);

	socklen_t given = *len;
	int rc = real_getpeername(fd, sa, len);
	if (rc == -1)
		return rc;
	int saved = errno;

	/* The kernel's answer, whole, to compare with what we connected. */
	union {
		struct sockaddr_storage ss;
		struct sockaddr         sa;
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
	if (entry_get(e, orig, &olen, &vip, &vport) &&
	    peer_is_vip(&peer.sa, pl, vip, vport)) {
		/* Same truncation rule as the kernel: copy what fits, report
		 * the full length. */
		memcpy(sa, orig, given < olen ? given : olen);
		*len = olen;
	}
	errno = saved;
	return rc;
}
