/*
 * Name hooks: mesh service names resolve to their VIPs, VIPs reverse-resolve
 * to service names; every other query goes to libc untouched, errno as it
 * was. Answers come only from the mapped route snapshot, so a lookup never
 * waits on the daemon or the network.
 *
 * getaddrinfo results are built the way glibc builds its own, because the
 * program frees them with glibc's freeaddrinfo(), which we do not hook: it
 * calls free() on each node and on ai_canonname, and expects ai_addr to live
 * inside the node's allocation. So each node here is one malloc block
 * (struct addrinfo followed by its sockaddr), and the canonical name a
 * separate strdup.
 *
 * Choices, where glibc leaves room:
 * - ai_socktype/ai_protocol follow glibc's table exactly: with neither set,
 *   one answer each for SOCK_STREAM/tcp, SOCK_DGRAM/udp and SOCK_RAW (the
 *   latter only for a numeric or absent service), so a mesh name yields the
 *   same shape of list as a name from /etc/hosts.
 * - Services: numeric, or a name looked up with getservbyname_r() per
 *   protocol (reentrant; reads /etc/services through NSS and closes it).
 * - A service without an IPv6 VIP (vip6_range = off): AF_INET6 queries get
 *   the v4-mapped ::ffff:VIP whether or not AI_V4MAPPED is set: the VIP
 *   only exists in IPv4, and an empty answer would make v6-first programs
 *   fall back to DNS. AF_UNSPEC gets the AF_INET answer only, as glibc
 *   answers a name that has an A record and no AAAA: a second (mapped)
 *   address would make programs that try each answer in turn (curl,
 *   python's create_connection) open a second mesh connection whenever the
 *   first fails, so retries = 0 would still retry and a denial would be
 *   recorded twice.
 * - A service with an IPv6 VIP answers like a dual-stack name: AF_INET6
 *   gets the VIP6 (an IPV6_V6ONLY socket can reach it; with AI_V4MAPPED
 *   and AI_ALL, ::ffff:VIP after it, as glibc adds mapped A records), and
 *   AF_UNSPEC the VIP, then the VIP6. glibc's own sort (its default
 *   table is RFC 3484's: ::/0 40, IPv4 10) would put the VIP6 first on a
 *   host with a ULA source address; the VIP comes first here because it
 *   works for every socket a program may open, and a name without a VIP6
 *   answers it alone. Like any dual-stack name, a program that tries each
 *   answer in turn makes a second mesh connection when the first is
 *   refused or denied.
 * - AI_ADDRCONFIG is ignored for mesh answers (VIPs are loopback and work
 *   on a host without any configured address). AI_PASSIVE, AI_NUMERICHOST,
 *   a NULL node and unknown flags go to libc.
 * - gethostbyname2(AF_INET6) and the _r form answer the VIP6, or ::ffff:VIP
 *   for a service without one (so `getent hosts`, which asks AF_INET6
 *   first, prints one of those).
 * - Reverse: a VIP, ::ffff:VIP or VIP6 names "svc.<suffix>" ("svc" with
 *   NI_NOFQDN or without a suffix).
 */
#include "shim.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

/* One row of glibc's gaih_inet_typeproto table (sysdeps/posix/getaddrinfo.c). */
struct gai_proto {
	int socktype;
	int protocol;
	unsigned noserv : 1;   /* no service lookups (raw) */
	unsigned protoany : 1; /* accepts any hints protocol */
	unsigned deflt : 1;    /* returned when hints give neither */
	const char *name;
};

static const struct gai_proto gai_protos[] = {
	{ SOCK_STREAM, IPPROTO_TCP, 0, 0, 1, "tcp" },
	{ SOCK_DGRAM, IPPROTO_UDP, 0, 0, 1, "udp" },
	{ SOCK_DCCP, IPPROTO_DCCP, 0, 0, 0, "dccp" },
	{ SOCK_DGRAM, IPPROTO_UDPLITE, 0, 0, 0, "udplite" },
	{ SOCK_STREAM, IPPROTO_SCTP, 0, 0, 0, "sctp" },
	{ SOCK_SEQPACKET, IPPROTO_SCTP, 0, 0, 0, "sctp" },
	{ SOCK_RAW, 0, 1, 1, 1, "raw" },
};
#define N_PROTOS (sizeof gai_protos / sizeof gai_protos[0])

struct gai_tuple {
	int socktype;
	int protocol;
	uint16_t port; /* network order */
};

#define GAI_KNOWN_FLAGS                                                                      \
	(AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG | \
	 AI_IDN | AI_CANONIDN | AI_NUMERICSERV)

#define NI_KNOWN_FLAGS \
	(NI_NUMERICHOST | NI_NUMERICSERV | NI_NOFQDN | NI_NAMEREQD | NI_DGRAM | NI_IDN)

/* "svc.suffix" is at most this long with its NUL. */
#define FQDN_MAX (SNAP_MAX_NAME + 1 + 255 + 1)

/* Per-thread storage for the non-reentrant gethostby* answers. */
#define TLS_HOSTBUF 384
struct tls_hostent {
	struct hostent he;
	alignas(char *) char buf[TLS_HOSTBUF];
};
static __thread struct tls_hostent tls_he __attribute__((tls_model("initial-exec")));

/* ---- debug ------------------------------------------------------------- */

static void debug_pass(const char *what, const char *name, const char *why)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, what);
	shim_line_str(&l, " ");
	shim_line_str(&l, name ? name : "(null)");
	shim_line_str(&l, ": ");
	shim_line_str(&l, why);
	shim_line_str(&l, ", passed through");
	shim_line_end(&l);
}

/* The answer of one forward lookup. */
struct mesh_answer {
	uint32_t vip; /* network order */
	int has6;
	uint8_t vip6[16];
};

/* "resolve NAME -> ADDR[, ADDR] (mesh)": what the hook answered for family
 * (AF_UNSPEC: both when there is a VIP6). */
static void debug_hit(const char *name, int family, const struct mesh_answer *a)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, "resolve ");
	shim_line_str(&l, name);
	shim_line_str(&l, " -> ");
	if (family == AF_INET6 && a->has6) {
		shim_line_addr(&l, AF_INET6, a->vip6);
	} else {
		if (family == AF_INET6)
			shim_line_str(&l, "::ffff:");
		shim_line_addr(&l, AF_INET, &a->vip);
		if (family == AF_UNSPEC && a->has6) {
			shim_line_str(&l, ", ");
			shim_line_addr(&l, AF_INET6, a->vip6);
		}
	}
	shim_line_str(&l, " (mesh)");
	shim_line_end(&l);
}

static void debug_reverse(int af, const void *vip, const char *name)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, "reverse ");
	shim_line_addr(&l, af, vip);
	shim_line_str(&l, " -> ");
	shim_line_str(&l, name);
	shim_line_str(&l, " (mesh)");
	shim_line_end(&l);
}

/*
 * Forward lookup shared by all name hooks. On a hit returns 1 with *ans set
 * (the VIP, and the VIP6 when the service has one); the snapshot is
 * released before returning because the hooks need nothing from it but the
 * addresses.
 */
static int mesh_lookup(const char *what, const char *name, struct mesh_answer *ans)
{
	struct shim_snap_ref ref;
	const struct snap_view *v = shim_snap_get(&ref);
	if (!v) {
		if (shim_debug)
			debug_pass(what, name, "no route snapshot");
		return 0;
	}
	const struct snap_svc *s = snapshot_find_name(v, name);
	int out_of_range = s && !snapshot_vip_ok(v, s->vip);
	if (out_of_range)
		s = NULL; /* never answer an address outside the VIP range */
	if (s) {
		ans->vip = s->vip;
		ans->has6 = snapshot_svc_vip6(v, s, ans->vip6);
	}
	shim_snap_put(&ref);
	if (!s && shim_debug)
		debug_pass(what, name,
		           out_of_range ? "VIP outside the snapshot's range" : "not a mesh name");
	return s != NULL;
}

/*
 * Reverse lookup: the FQDN of the service owning `vip` (af AF_INET: 4
 * bytes; AF_INET6: a VIP6) into out (FQDN_MAX bytes). Returns 1 on a hit.
 */
static int mesh_reverse(const char *what, int af, const void *vip, int nofqdn, char *out)
{
	struct shim_snap_ref ref;
	const struct snap_view *v = shim_snap_get(&ref);
	const struct snap_svc *s = NULL;
	if (v && af == AF_INET) {
		uint32_t v4;
		memcpy(&v4, vip, 4);
		s = snapshot_find_vip(v, v4);
	} else if (v) {
		s = snapshot_find_vip6(v, vip);
		if (s && !snapshot_vip6_ok(v, s->vip6))
			s = NULL;
	}
	if (s) {
		size_t n = s->name_len;
		memcpy(out, snapshot_svc_name(v, s), n);
		size_t sl = v->hdr->suffix_len;
		if (sl && !nofqdn) {
			out[n++] = '.';
			memcpy(out + n, snapshot_suffix(v), sl);
			n += sl;
		}
		out[n] = '\0';
	}
	shim_snap_put(&ref);
	if (shim_debug) {
		char a[INET6_ADDRSTRLEN] = "?";
		int saved = errno;
		inet_ntop(af, vip, a, sizeof a);
		errno = saved;
		if (s)
			debug_reverse(af, vip, out);
		else
			debug_pass(what, a, v ? "not a VIP" : "no route snapshot");
	}
	return s != NULL;
}

/* VIP from a 4-byte IPv4 or 16-byte v4-mapped IPv6 address. */
static int addr_to_v4(int af, const void *addr, size_t len, uint32_t *out)
{
	if (af == AF_INET && len == 4) {
		memcpy(out, addr, 4);
		return 1;
	}
	if (af == AF_INET6 && len == 16 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
		memcpy(out, (const unsigned char *)addr + 12, 4);
		return 1;
	}
	return 0;
}

/* The reverse key of an address: a VIP (af AF_INET, 4 bytes in key) from
 * IPv4 or ::ffff:VIP, else the IPv6 address itself (af AF_INET6). */
static int reverse_key(int af, const void *addr, size_t len, int *kaf, unsigned char key[16])
{
	uint32_t v4;
	if (addr_to_v4(af, addr, len, &v4)) {
		*kaf = AF_INET;
		memcpy(key, &v4, 4);
		return 1;
	}
	if (af == AF_INET6 && len == 16) {
		*kaf = AF_INET6;
		memcpy(key, addr, 16);
		return 1;
	}
	return 0;
}

static void v4mapped(struct in6_addr *a, uint32_t vip)
{
	memset(a, 0, sizeof *a);
	a->s6_addr[10] = 0xff;
	a->s6_addr[11] = 0xff;
	memcpy(&a->s6_addr[12], &vip, 4);
}

/* ---- getaddrinfo ------------------------------------------------------- */

static int serv_lookup(const char *service, const char *proto, uint16_t *port)
{
	struct servent se, *r = NULL;
	char buf[1024];
	if (getservbyname_r(service, proto, &se, buf, sizeof buf, &r) != 0 || !r)
		return 0;
	*port = (uint16_t)r->s_port;
	return 1;
}

/*
 * The (socktype, protocol, port) answers glibc would give for these hints
 * and service. Returns the count, or a negative EAI_* error.
 */
static int gai_tuples(const struct addrinfo *hints, const char *service, struct gai_tuple *out)
{
	int st = hints ? hints->ai_socktype : 0;
	int pr = hints ? hints->ai_protocol : 0;
	int flags = hints ? hints->ai_flags : 0;
	const struct gai_proto *tp = NULL;
	int n = 0;

	/* Like glibc, a non-numeric service with AI_NUMERICSERV is refused
	 * before the socket type is even looked at. */
	int numeric = 0;
	unsigned long num = 0;
	if (service && service[0]) {
		char *end;
		num = strtoul(service, &end, 10);
		numeric = *end == '\0';
		if (!numeric && (flags & AI_NUMERICSERV))
			return EAI_NONAME;
	}

	if (st || pr) {
		for (size_t i = 0; i < N_PROTOS; i++) {
			const struct gai_proto *p = &gai_protos[i];
			if ((st && st != p->socktype) || (pr && !p->protoany && pr != p->protocol))
				continue;
			tp = p;
			break;
		}
		if (!tp)
			return st ? EAI_SOCKTYPE : EAI_SERVICE;
	}

	uint16_t port = 0;
	if (service && service[0]) {
		if (tp && tp->noserv)
			return EAI_SERVICE;
		if (numeric) {
			port = htons((uint16_t)num); /* glibc truncates too */
		} else if (tp) {
			if (!serv_lookup(service, tp->name, &port))
				return EAI_SERVICE;
			out[0].socktype = tp->socktype;
			out[0].protocol = tp->protoany ? pr : tp->protocol;
			out[0].port = port;
			return 1;
		} else {
			for (size_t i = 0; i < N_PROTOS; i++) {
				const struct gai_proto *p = &gai_protos[i];
				if (!p->deflt || p->noserv || !serv_lookup(service, p->name, &port))
					continue;
				out[n].socktype = p->socktype;
				out[n].protocol = p->protocol;
				out[n].port = port;
				n++;
			}
			return n ? n : EAI_SERVICE;
		}
	}
	if (tp) {
		out[0].socktype = tp->socktype;
		out[0].protocol = pr ? pr : tp->protocol;
		out[0].port = port;
		return 1;
	}
	for (size_t i = 0; i < N_PROTOS; i++) {
		if (!gai_protos[i].deflt)
			continue;
		out[n].socktype = gai_protos[i].socktype;
		out[n].protocol = gai_protos[i].protocol;
		out[n].port = port;
		n++;
	}
	return n;
}

/* One allocation per node: glibc's freeaddrinfo() frees exactly this. */
struct ai_node {
	struct addrinfo ai;
	union {
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} sa;
};

static void free_nodes(struct addrinfo *ai)
{
	while (ai) {
		struct addrinfo *next = ai->ai_next;
		free(ai->ai_canonname);
		free(ai);
		ai = next;
	}
}

/* How gai_build writes the address of an AF_INET6 node. */
enum v6_form { V6_MAPPED, V6_VIP6 };

static int gai_build(int family, enum v6_form form, const struct mesh_answer *a,
                     const struct gai_tuple *t, int n, const char *canon, struct addrinfo **res)
{
	struct addrinfo *head = NULL, **tail = &head;

	for (int i = 0; i < n; i++) {
		struct ai_node *node = calloc(1, sizeof *node);
		if (!node)
			goto nomem;
		node->ai.ai_family = family;
		node->ai.ai_socktype = t[i].socktype;
		node->ai.ai_protocol = t[i].protocol;
		node->ai.ai_addr = (struct sockaddr *)&node->sa;
		if (family == AF_INET) {
			node->sa.in.sin_family = AF_INET;
			node->sa.in.sin_port = t[i].port;
			memcpy(&node->sa.in.sin_addr, &a->vip, 4);
			node->ai.ai_addrlen = sizeof node->sa.in;
		} else {
			node->sa.in6.sin6_family = AF_INET6;
			node->sa.in6.sin6_port = t[i].port;
			if (form == V6_VIP6)
				memcpy(&node->sa.in6.sin6_addr, a->vip6, 16);
			else
				v4mapped(&node->sa.in6.sin6_addr, a->vip);
			node->ai.ai_addrlen = sizeof node->sa.in6;
		}
		*tail = &node->ai;
		tail = &node->ai.ai_next;
	}
	/* glibc sets the canonical name on the first node only. */
	if (canon && head && !(head->ai_canonname = strdup(canon)))
		goto nomem;
	*res = head;
	return 0;
nomem:
	free_nodes(head);
	return EAI_MEMORY;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res)
{
	int saved = errno;
	if (shim_init() == -1 || !real_getaddrinfo)
		return EAI_AGAIN;

	int flags = hints ? hints->ai_flags : 0;
	int family = hints ? hints->ai_family : AF_UNSPEC;
	/* AI_PASSIVE only matters without a node (POSIX: it is ignored when a
	 * name is given, and socat passes it for the address it connects to). */
	if (!node || !res || (flags & AI_NUMERICHOST) || (flags & ~GAI_KNOWN_FLAGS) ||
	    (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)) {
		if (shim_debug)
			debug_pass("resolve", node,
			           !node ? "no name (a server's AI_PASSIVE lookup)"
			                 : "numeric host or flags the shim leaves to libc");
		goto pass;
	}

	struct mesh_answer ans;
	if (!mesh_lookup("resolve", node, &ans))
		goto pass;

	struct gai_tuple t[N_PROTOS];
	int n = gai_tuples(hints, service, t);
	if (n < 0) {
		errno = saved;
		return n;
	}
	const char *canon = (flags & AI_CANONNAME) ? node : NULL;
	int rc;
	if (family == AF_INET6 || (family == AF_UNSPEC && ans.has6)) {
		/* Two lists joined: the first (AF_INET6: the VIP6; AF_UNSPEC:
		 * the VIP) and the second (AF_INET6 with AI_V4MAPPED|AI_ALL:
		 * ::ffff:VIP; AF_UNSPEC: the VIP6). */
		struct addrinfo *first = NULL, *second = NULL;
		int want2 = family == AF_UNSPEC ||
		            (ans.has6 && (flags & AI_V4MAPPED) && (flags & AI_ALL));
		if (family == AF_INET6)
			rc = gai_build(AF_INET6, ans.has6 ? V6_VIP6 : V6_MAPPED, &ans, t, n, canon,
			               &first);
		else
			rc = gai_build(AF_INET, V6_MAPPED, &ans, t, n, canon, &first);
		if (rc == 0 && want2)
			rc = gai_build(AF_INET6, family == AF_UNSPEC ? V6_VIP6 : V6_MAPPED, &ans, t,
			               n, NULL, &second);
		if (rc != 0) {
			free_nodes(first);
			free_nodes(second);
		} else {
			struct addrinfo **tail = &first;
			while (*tail)
				tail = &(*tail)->ai_next;
			*tail = second;
			*res = first;
		}
	} else {
		rc = gai_build(AF_INET, V6_MAPPED, &ans, t, n, canon, res);
	}
	if (rc == 0 && shim_debug)
		debug_hit(node, family, &ans);
	errno = saved;
	return rc;
pass:
	errno = saved;
	return real_getaddrinfo(node, service, hints, res);
}

/* ---- gethostbyname family ---------------------------------------------- */

/*
 * Lay out a one-address hostent in the caller's buffer: alias list (empty),
 * address list, address bytes, name. Returns 0 or ERANGE.
 */
static int fill_hostent(struct hostent *h, char *buf, size_t buflen, const char *name, int af,
                        const void *addr)
{
	size_t alen = af == AF_INET ? 4 : 16;
	size_t nlen = strlen(name);
	size_t pad = (alignof(char *) - (uintptr_t)buf % alignof(char *)) % alignof(char *);
	if (!buf || buflen < pad + 3 * sizeof(char *) + alen + nlen + 1)
		return ERANGE;
	char **ptrs = (char **)(void *)(buf + pad);
	char *a = (char *)(ptrs + 3);
	char *n = a + alen;
	memcpy(a, addr, alen);
	memcpy(n, name, nlen + 1);
	ptrs[0] = NULL; /* aliases */
	ptrs[1] = a;    /* addresses */
	ptrs[2] = NULL;
	h->h_name = n;
	h->h_aliases = &ptrs[0];
	h->h_addrtype = af;
	h->h_length = (int)alen;
	h->h_addr_list = &ptrs[1];
	return 0;
}

/* Address bytes for a forward answer in family af: the VIP, the VIP6, or
 * ::ffff:VIP for a service without a VIP6. */
static const void *answer_addr(int af, struct mesh_answer *a, struct in6_addr *a6)
{
	if (af == AF_INET)
		return &a->vip;
	if (a->has6)
		return a->vip6;
	v4mapped(a6, a->vip);
	return a6;
}

/*
 * Common body of the forward hostent hooks. Returns 1 when it answered
 * (into h/buf), 0 to pass through; *err gets 0 or ERANGE.
 */
static int hostent_by_name(const char *name, int af, struct hostent *h, char *buf, size_t buflen,
                           int *err)
{
	struct mesh_answer ans;
	struct in6_addr a6;
	if (!name || (af != AF_INET && af != AF_INET6) || !mesh_lookup("resolve", name, &ans))
		return 0;
	*err = fill_hostent(h, buf, buflen, name, af, answer_addr(af, &ans, &a6));
	if (*err == 0 && shim_debug)
		debug_hit(name, af, &ans);
	return 1;
}

/*
 * The non-reentrant forms answer from per-thread storage. Returns 1 when the
 * name is a mesh name (*out is the answer, or NULL with h_errno/errno set),
 * 0 to pass through.
 */
static int tls_by_name(const char *name, int af, int saved, struct hostent **out)
{
	int err;
	if (!hostent_by_name(name, af, &tls_he.he, tls_he.buf, sizeof tls_he.buf, &err))
		return 0;
	if (err) {
		/* Cannot happen for names snapshot_find_name accepts (at
		 * most 255 bytes); fail the way glibc fails, not silently. */
		h_errno = NETDB_INTERNAL;
		errno = err;
		*out = NULL;
		return 1;
	}
	errno = saved;
	*out = &tls_he.he;
	return 1;
}

SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
	int saved = errno;
	struct hostent *h;
	if (shim_init() == -1 || !real_gethostbyname) {
		h_errno = TRY_AGAIN;
		return NULL;
	}
	if (tls_by_name(name, AF_INET, saved, &h))
		return h;
	errno = saved;
	return real_gethostbyname(name);
}

SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	int saved = errno;
	struct hostent *h;
	if (shim_init() == -1 || !real_gethostbyname2) {
		h_errno = TRY_AGAIN;
		return NULL;
	}
	if (tls_by_name(name, af, saved, &h))
		return h;
	errno = saved;
	return real_gethostbyname2(name, af);
}

static int r_answer(int err, struct hostent *ret, struct hostent **result, int *h_errnop, int saved)
{
	if (err) {
		*result = NULL;
		if (h_errnop)
			*h_errnop = NETDB_INTERNAL;
		errno = err;
		return err;
	}
	*result = ret;
	if (h_errnop)
		*h_errnop = NETDB_SUCCESS;
	errno = saved;
	return 0;
}

SHIM_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                                struct hostent **result, int *h_errnop)
{
	int saved = errno, err;
	if (shim_init() == -1 || !real_gethostbyname_r) {
		*result = NULL;
		if (h_errnop)
			*h_errnop = TRY_AGAIN;
		return EAGAIN;
	}
	if (ret && result && hostent_by_name(name, AF_INET, ret, buf, buflen, &err))
		return r_answer(err, ret, result, h_errnop, saved);
	errno = saved;
	return real_gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
}

SHIM_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
                                 size_t buflen, struct hostent **result, int *h_errnop)
{
	int saved = errno, err;
	if (shim_init() == -1 || !real_gethostbyname2_r) {
		*result = NULL;
		if (h_errnop)
			*h_errnop = TRY_AGAIN;
		return EAGAIN;
	}
	if (ret && result && hostent_by_name(name, af, ret, buf, buflen, &err))
		return r_answer(err, ret, result, h_errnop, saved);
	errno = saved;
	return real_gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
}

/* ---- reverse ----------------------------------------------------------- */

SHIM_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                            socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	int saved = errno;
	if (shim_init() == -1 || !real_getnameinfo)
		return EAI_AGAIN;

	unsigned char key[16];
	int kaf;
	if (!sa || !host || hostlen == 0 || (flags & ~NI_KNOWN_FLAGS) ||
	    ((flags & NI_NUMERICHOST) && !(flags & NI_NAMEREQD)))
		goto pass;
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		kaf = AF_INET;
		memcpy(key, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (!(sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6) &&
	             reverse_key(AF_INET6,
	                         &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16,
	                         &kaf, key))) {
		goto pass;
	}

	char name[FQDN_MAX];
	if (!mesh_reverse("reverse", kaf, key, flags & NI_NOFQDN, name))
		goto pass;
	if (serv && servlen) {
		/* The service half is libc's business; NI_NAMEREQD concerns
		 * the host half only. */
		int rc = real_getnameinfo(sa, salen, NULL, 0, serv, servlen, flags & ~NI_NAMEREQD);
		if (rc != 0)
			return rc;
	}
	size_t n = strlen(name);
	if (n >= hostlen) {
		errno = saved;
		return EAI_OVERFLOW;
	}
	memcpy(host, name, n + 1);
	errno = saved;
	return 0;
pass:
	errno = saved;
	return real_getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
}

/* Common body of the reverse hostent hooks, like hostent_by_name(). */
static int hostent_by_addr(const void *addr, socklen_t len, int type, struct hostent *h, char *buf,
                           size_t buflen, int *err)
{
	unsigned char key[16];
	int kaf;
	char name[FQDN_MAX];
	if (!addr || !reverse_key(type, addr, len, &kaf, key) ||
	    !mesh_reverse("reverse", kaf, key, 0, name))
		return 0;
	*err = fill_hostent(h, buf, buflen, name, type, addr);
	return 1;
}

SHIM_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	int saved = errno, err;
	if (shim_init() == -1 || !real_gethostbyaddr) {
		h_errno = TRY_AGAIN;
		return NULL;
	}
	if (hostent_by_addr(addr, len, type, &tls_he.he, tls_he.buf, sizeof tls_he.buf, &err)) {
		if (err) {
			h_errno = NETDB_INTERNAL;
			errno = err;
			return NULL;
		}
		errno = saved;
		return &tls_he.he;
	}
	errno = saved;
	return real_gethostbyaddr(addr, len, type);
}

SHIM_EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret,
                                char *buf, size_t buflen, struct hostent **result, int *h_errnop)
{
	int saved = errno, err;
	if (shim_init() == -1 || !real_gethostbyaddr_r) {
		*result = NULL;
		if (h_errnop)
			*h_errnop = TRY_AGAIN;
		return EAGAIN;
	}
	if (ret && result && hostent_by_addr(addr, len, type, ret, buf, buflen, &err))
		return r_answer(err, ret, result, h_errnop, saved);
	errno = saved;
	return real_gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, h_errnop);
}
