/*
 * Route snapshot: the one piece of data shared by meshd and libmesh.so.
 *
 * meshd encodes the running config's routes (service names, VIPs, ports,
 * intercepted legacy addresses) into a flat, position-independent buffer and
 * publishes it atomically (write temp file, rename). The shim maps the file
 * read-only and answers every lookup from it without allocating, locking or
 * talking to the daemon. This directory (shim/) owns the format; daemon/
 * includes this header and links snapshot.c.
 *
 * Layout (all integers little-endian as written by the host, addresses and
 * ports in network order so they compare directly with sockaddrs):
 *
 *   struct snap_hdr
 *   struct snap_svc      [nservices]    sorted by name (bsearch)
 *   struct snap_icpt     [nintercepts]  sorted by (family, addr, port)
 *   char                 strings[]      names, NUL terminated
 *
 * The decoder checks every offset against the buffer length, so a truncated
 * or hostile file is rejected, never read out of bounds. It also checks a
 * checksum of the whole file (FNV-1a over every byte, the checksum field
 * counted as zero), so a file damaged in place (a flipped byte, a partial
 * copy) is rejected rather than believed, and that every VIP lies inside
 * the header's VIP range (which must be loopback, 127.0.0.0/8): whatever
 * the file says, the shim never answers an address outside it.
 *
 * IPv6 VIPs (version 4): the header may carry an IPv6 VIP range, and each
 * service an IPv6 VIP inside it (16 zero bytes: none). The range must lie
 * in fc00::/7, the unique local addresses (RFC 4193), which are never
 * routed on the internet: meshd makes the range local (an AnyIP route on
 * lo), so an address outside ULA space would shadow a real host somewhere,
 * and a tampered file could send a program's traffic there. Site-local
 * fec0::/10 is deprecated (RFC 3879) and not accepted either.
 */
#ifndef LIBMESH_SNAPSHOT_H
#define LIBMESH_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SNAP_MAGIC "LMSNAP1" /* 8 bytes with the NUL */
#define SNAP_VERSION \
	4u /* 2: control socket path; 3: checksum, VIP range, verdict_ms;
                         * 4: IPv6 VIPs and their range */
#define SNAP_MAX_PORTS 16
#define SNAP_MAX_NAME 63
#define SNAP_MAX_SVCS 65536
#define SNAP_MAX_LEN (64u << 20)

struct snap_hdr {
	char magic[8];
	uint32_t version;
	uint32_t total_len;
	uint64_t generation;
	uint32_t nservices;
	uint32_t off_services;
	uint32_t nintercepts;
	uint32_t off_intercepts;
	uint32_t off_strings;
	uint32_t len_strings;
	uint32_t suffix_off;  /* into strings; suffix without leading dot */
	uint32_t suffix_len;  /* 0: no suffix */
	uint32_t control_off; /* into strings: meshd's control socket path */
	uint32_t control_len; /* 0: no control socket */
	uint32_t vip_net;     /* VIP range, network order: every vip is inside */
	uint32_t vip_prefix;  /* 8..32 */
	uint32_t checksum;    /* FNV-1a of the file with this field as 0 */
	uint32_t reserved;
	uint8_t vip6_net[16]; /* IPv6 VIP range, inside fc00::/7 */
	uint32_t vip6_prefix; /* 7..128; 0: no IPv6 VIPs (vip6_net all zero) */
	uint32_t reserved2;
};

struct snap_svc {
	uint32_t vip;      /* IPv4, network order */
	uint32_t name_off; /* into strings */
	uint16_t name_len;
	uint16_t nports;
	uint16_t ports[SNAP_MAX_PORTS]; /* network order */
	uint32_t verdict_ms;            /* the longest meshd may take to judge a
	                          * connection to it (all attempts); 0: unknown */
	uint8_t vip6[16];               /* IPv6 VIP inside vip6_net; all zero: none */
};

struct snap_icpt {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t pad;
	uint16_t port;    /* network order */
	uint8_t addr[16]; /* 4 or 16 significant bytes */
	uint32_t svc;     /* index into services */
};

/* Input to the encoder (daemon side). */
struct snap_svc_in {
	const char *name;
	uint32_t vip;          /* network order */
	const uint16_t *ports; /* host order */
	unsigned nports;
	unsigned verdict_ms;
	uint8_t vip6[16]; /* all zero: no IPv6 VIP */
};

struct snap_icpt_in {
	int family;
	uint8_t addr[16];
	uint16_t port; /* host order */
	unsigned svc;  /* index into the svcs array given */
};

/* A validated, read-only view of an encoded snapshot (shim side). */
struct snap_view {
	const unsigned char *base;
	size_t len;
	const struct snap_hdr *hdr;
	const struct snap_svc *svcs;
	const struct snap_icpt *icpts;
	const char *strings;
};

/*
 * Encode. `control` is the path of meshd's control socket (the shim's
 * channel for connect verdicts), or NULL. vip_net/vip_prefix: the VIP range
 * (network order; inside 127.0.0.0/8), every service's vip must be in it.
 * vip6_net/vip6_prefix: the IPv6 VIP range (inside fc00::/7), or NULL/0
 * for none; a service's vip6, when not all zero, must be in it.
 * Services need not be sorted; the encoder sorts a copy and remaps
 * intercept indices. Returns 0 and a malloc'ed buffer, or -1 with errno
 * (EINVAL for bad input, ENOMEM).
 */
int snapshot_encode(const char *suffix, const char *control, uint64_t generation, uint32_t vip_net,
                    unsigned vip_prefix, const uint8_t *vip6_net, unsigned vip6_prefix,
                    const struct snap_svc_in *svcs, unsigned nsvcs,
                    const struct snap_icpt_in *icpts, unsigned nicpts, void **out, size_t *outlen);

/* Recompute the checksum of an encoded snapshot after changing it in
 * place (tests and fuzzers: a mutation then reaches the bounds checks). */
void snapshot_seal(void *buf, size_t len);

/* Validate buf and fill view. Returns 0, or -1 if the buffer is malformed
 * (bounds, checksum, a VIP outside the range). */
int snapshot_view(struct snap_view *v, const void *buf, size_t len);

/*
 * Look up a host name: "svc", "svc.<suffix>", with an optional trailing dot,
 * case-insensitive. Returns NULL when it is not a mesh name.
 */
const struct snap_svc *snapshot_find_name(const struct snap_view *v, const char *name);

/* Reverse: the service owning a VIP (network order), or NULL. */
const struct snap_svc *snapshot_find_vip(const struct snap_view *v, uint32_t vip);

/* Reverse: the service owning an IPv6 VIP (16 bytes), or NULL; never for
 * the all-zero address. */
const struct snap_svc *snapshot_find_vip6(const struct snap_view *v, const uint8_t *vip6);

/* Intercepted legacy address (addr: 4 or 16 bytes; port network order). */
const struct snap_icpt *snapshot_find_intercept(const struct snap_view *v, int family,
                                                const void *addr, uint16_t port);

/* Whether the first `prefix` bits of a and n agree (byte by byte). */
static inline int snapshot_prefix_eq(const uint8_t *a, const uint8_t *n, uint32_t prefix)
{
	for (uint32_t bit = 0; bit < prefix; bit += 8) {
		uint32_t left = prefix - bit;
		unsigned mask = left >= 8 ? 0xffu : (0xffu << (8 - left)) & 0xffu;
		if ((a[bit / 8] & mask) != (n[bit / 8] & mask))
			return 0;
	}
	return 1;
}

/*
 * Whether vip (network order) may be answered: inside the header's VIP
 * range and inside 127.0.0.0/8. snapshot_view already checked every VIP of
 * a view; the hooks ask again just before they answer a name or redirect a
 * connect, so that no later bug in the shim (a view used past its release,
 * a wrong index) can ever hand a program an address off this host.
 */
static inline int snapshot_vip_ok(const struct snap_view *v, uint32_t vip)
{
	const unsigned char *a = (const unsigned char *)&vip;
	const unsigned char *n = (const unsigned char *)&v->hdr->vip_net;
	uint32_t prefix = v->hdr->vip_prefix;
	if (a[0] != 127 || prefix < 8 || prefix > 32)
		return 0;
	/* Byte by byte: addresses are in network order on any host. */
	return snapshot_prefix_eq(a, n, prefix);
}

/* Whether the header has an IPv6 VIP range (a valid one: snapshot_view
 * checked it). */
static inline int snapshot_has_vip6(const struct snap_view *v)
{
	return v->hdr->vip6_prefix != 0;
}

/*
 * Whether vip6 (16 bytes) may be answered: inside the header's IPv6 VIP
 * range and inside fc00::/7, asked again before every answer for the same
 * reason as snapshot_vip_ok.
 */
static inline int snapshot_vip6_ok(const struct snap_view *v, const uint8_t *vip6)
{
	uint32_t prefix = v->hdr->vip6_prefix;
	if ((vip6[0] & 0xfe) != 0xfc || prefix < 7 || prefix > 128)
		return 0;
	return snapshot_prefix_eq(vip6, v->hdr->vip6_net, prefix);
}

/* Inside the IPv6 VIP range (the range's own address included): a socket
 * connected there is meshd's business even when no service has it. */
static inline int snapshot_in_vip6_range(const struct snap_view *v, const uint8_t *a)
{
	return snapshot_has_vip6(v) && snapshot_vip6_ok(v, a);
}

/* The IPv6 VIP of s into out (16 bytes): 1, or 0 when s has none (or none
 * that may be answered). */
static inline int snapshot_svc_vip6(const struct snap_view *v, const struct snap_svc *s,
                                    uint8_t *out)
{
	static const uint8_t zero[16];
	if (!snapshot_has_vip6(v) || memcmp(s->vip6, zero, 16) == 0 ||
	    !snapshot_vip6_ok(v, s->vip6))
		return 0;
	memcpy(out, s->vip6, 16);
	return 1;
}

static inline const char *snapshot_svc_name(const struct snap_view *v, const struct snap_svc *s)
{
	return v->strings + s->name_off;
}

static inline const char *snapshot_control(const struct snap_view *v)
{
	return v->hdr->control_len ? v->strings + v->hdr->control_off : NULL;
}

static inline const char *snapshot_suffix(const struct snap_view *v)
{
	return v->hdr->suffix_len ? v->strings + v->hdr->suffix_off : "";
}

#endif
