/*
 * Route snapshot codec (see snapshot.h). Linked into both libmesh.so and
 * meshd. The decode side never allocates and never writes: the shim calls it
 * from inside arbitrary programs, possibly from signal-unsafe contexts of
 * their resolvers, so it uses nothing but memory comparisons.
 */
#include "snapshot.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Compare a stored (lowercase) name with a query of length qlen. */
static int name_cmp(const char *stored, size_t slen, const char *q, size_t qlen)
{
	size_t n = slen < qlen ? slen : qlen;
	for (size_t i = 0; i < n; i++) {
		int a = (unsigned char)stored[i], b = lower((unsigned char)q[i]);
		if (a != b)
			return a - b;
	}
	return (slen > qlen) - (slen < qlen);
}

struct enc_svc {
	const struct snap_svc_in *in;
	unsigned orig;
};

static int enc_svc_cmp(const void *a, const void *b)
{
	const struct enc_svc *x = a, *y = b;
	return strcmp(x->in->name, y->in->name);
}

static int icpt_key_cmp(const struct snap_icpt *x, const struct snap_icpt *y)
{
	if (x->family != y->family)
		return x->family - y->family;
	int c = memcmp(x->addr, y->addr, sizeof x->addr);
	if (c)
		return c;
	return (int)x->port - (int)y->port;
}

static int icpt_cmp(const void *a, const void *b)
{
	return icpt_key_cmp(a, b);
}

static uint32_t checksum(const unsigned char *b, size_t len)
{
	const struct snap_hdr *h = (const void *)b;
	size_t skip = (size_t)((const unsigned char *)&h->checksum - b);
	uint32_t x = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (i >= skip && i < skip + sizeof h->checksum) ? 0 : b[i];
		x = (x ^ c) * 16777619u;
	}
	return x;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : htonl(0xffffffffu << (32 - prefix));
}

/* The range is loopback (127.0.0.0/8 or inside it) and vip lies in it. */
static int range_valid(uint32_t net, unsigned prefix)
{
	return prefix >= 8 && prefix <= 32 && (net & prefix_mask(8)) == htonl(0x7f000000u) &&
	       (net & ~prefix_mask(prefix)) == 0;
}

static int in_range(uint32_t vip, uint32_t net, unsigned prefix)
{
	return (vip & prefix_mask(prefix)) == net;
}

static const uint8_t zero16[16];

static int is_zero16(const uint8_t *a)
{
	return memcmp(a, zero16, 16) == 0;
}

/* The IPv6 range: none (prefix 0, all zero), or inside fc00::/7 with its
 * host bits zero. */
static int range6_valid(const uint8_t *net, unsigned prefix)
{
	if (prefix == 0)
		return is_zero16(net);
	if (prefix < 7 || prefix > 128 || (net[0] & 0xfe) != 0xfc)
		return 0;
	for (unsigned bit = prefix; bit < 128; bit++)
		if (net[bit / 8] & (0x80u >> (bit % 8)))
			return 0;
	return 1;
}

/* A service's vip6: none (all zero), or inside a range the header has. */
static int vip6_valid(const uint8_t *vip6, const uint8_t *net, unsigned prefix)
{
	if (is_zero16(vip6))
		return 1;
	return prefix != 0 && snapshot_prefix_eq(vip6, net, prefix);
}

int snapshot_encode(const char *suffix, const char *control, uint64_t generation, uint32_t vip_net,
                    unsigned vip_prefix, const uint8_t *vip6_net, unsigned vip6_prefix,
                    const struct snap_svc_in *svcs, unsigned nsvcs,
                    const struct snap_icpt_in *icpts, unsigned nicpts, void **out, size_t *outlen)
{
	const uint8_t *net6 = vip6_net ? vip6_net : zero16;
	struct enc_svc *order = NULL;
	unsigned *remap = NULL;
	unsigned char *buf = NULL;
	size_t slen = suffix ? strlen(suffix) : 0;
	size_t clen = control ? strlen(control) : 0;

	if (nsvcs > SNAP_MAX_SVCS || nicpts > SNAP_MAX_SVCS || slen > 255 || clen > 4095 ||
	    !range_valid(vip_net, vip_prefix) || !range6_valid(net6, vip6_prefix))
		goto inval;
	/* Lookups lowercase only the query, so stored text must be lowercase:
	 * an uppercase suffix would never match. */
	for (size_t k = 0; k < slen; k++)
		if (lower((unsigned char)suffix[k]) != suffix[k])
			goto inval;

	size_t strings = slen + 1 + clen + 1;
	for (unsigned i = 0; i < nsvcs; i++) {
		size_t n = strlen(svcs[i].name);
		if (n == 0 || n > SNAP_MAX_NAME || svcs[i].nports > SNAP_MAX_PORTS ||
		    !in_range(svcs[i].vip, vip_net, vip_prefix) ||
		    !vip6_valid(svcs[i].vip6, net6, vip6_prefix))
			goto inval;
		for (size_t k = 0; k < n; k++)
			if (lower((unsigned char)svcs[i].name[k]) != svcs[i].name[k])
				goto inval;
		strings += n + 1;
	}
	for (unsigned i = 0; i < nicpts; i++)
		if (icpts[i].svc >= nsvcs ||
		    (icpts[i].family != AF_INET && icpts[i].family != AF_INET6))
			goto inval;

	size_t off_s = sizeof(struct snap_hdr);
	size_t off_i = off_s + (size_t)nsvcs * sizeof(struct snap_svc);
	size_t off_str = off_i + (size_t)nicpts * sizeof(struct snap_icpt);
	size_t total = off_str + strings;
	if (total > SNAP_MAX_LEN)
		goto inval;

	order = calloc(nsvcs ? nsvcs : 1, sizeof *order);
	remap = calloc(nsvcs ? nsvcs : 1, sizeof *remap);
	buf = calloc(1, total);
	if (!order || !remap || !buf)
		goto nomem;

	for (unsigned i = 0; i < nsvcs; i++) {
		order[i].in = &svcs[i];
		order[i].orig = i;
	}
	qsort(order, nsvcs, sizeof *order, enc_svc_cmp);
	for (unsigned i = 0; i + 1 < nsvcs; i++)
		if (strcmp(order[i].in->name, order[i + 1].in->name) == 0)
			goto inval;

	struct snap_hdr *h = (struct snap_hdr *)buf;
	memcpy(h->magic, SNAP_MAGIC, sizeof h->magic);
	h->version = SNAP_VERSION;
	h->total_len = (uint32_t)total;
	h->generation = generation;
	h->nservices = nsvcs;
	h->off_services = (uint32_t)off_s;
	h->nintercepts = nicpts;
	h->off_intercepts = (uint32_t)off_i;
	h->off_strings = (uint32_t)off_str;
	h->len_strings = (uint32_t)strings;
	h->vip_net = vip_net;
	h->vip_prefix = vip_prefix;
	memcpy(h->vip6_net, net6, 16);
	h->vip6_prefix = vip6_prefix;

	char *str = (char *)buf + off_str;
	size_t pos = 0;
	h->suffix_off = 0;
	h->suffix_len = (uint32_t)slen;
	if (slen)
		memcpy(str, suffix, slen);
	pos = slen + 1;
	h->control_off = (uint32_t)pos;
	h->control_len = (uint32_t)clen;
	if (clen)
		memcpy(str + pos, control, clen);
	pos += clen + 1;

	struct snap_svc *out_s = (struct snap_svc *)(buf + off_s);
	for (unsigned i = 0; i < nsvcs; i++) {
		const struct snap_svc_in *in = order[i].in;
		size_t n = strlen(in->name);
		remap[order[i].orig] = i;
		out_s[i].vip = in->vip;
		out_s[i].name_off = (uint32_t)pos;
		out_s[i].name_len = (uint16_t)n;
		out_s[i].nports = (uint16_t)in->nports;
		out_s[i].verdict_ms = in->verdict_ms;
		memcpy(out_s[i].vip6, in->vip6, 16);
		for (unsigned p = 0; p < in->nports; p++)
			out_s[i].ports[p] = htons(in->ports[p]);
		memcpy(str + pos, in->name, n);
		pos += n + 1;
	}

	struct snap_icpt *out_i = (struct snap_icpt *)(buf + off_i);
	for (unsigned i = 0; i < nicpts; i++) {
		out_i[i].family = (uint8_t)icpts[i].family;
		out_i[i].port = htons(icpts[i].port);
		memcpy(out_i[i].addr, icpts[i].addr, icpts[i].family == AF_INET ? 4 : 16);
		out_i[i].svc = remap[icpts[i].svc];
	}
	qsort(out_i, nicpts, sizeof *out_i, icpt_cmp);
	h->checksum = checksum(buf, total);

	free(order);
	free(remap);
	*out = buf;
	*outlen = total;
	return 0;
inval:
	errno = EINVAL;
	goto fail;
nomem:
	errno = ENOMEM;
fail:
	free(order);
	free(remap);
	free(buf);
	return -1;
}

void snapshot_seal(void *buf, size_t len)
{
	if (buf && len >= sizeof(struct snap_hdr))
		((struct snap_hdr *)buf)->checksum = checksum(buf, len);
}

/* A string of the table: n bytes at off, no NUL among them, one after,
 * and no longer than the hooks' buffers for it (max). */
static int str_ok(const char *str, uint32_t len_strings, uint32_t off, uint32_t n, uint32_t max)
{
	return n <= max && off < len_strings && n <= len_strings - off - 1 &&
	       str[off + n] == '\0' && !memchr(str + off, '\0', n);
}

static int range_ok(size_t off, size_t n, size_t size, size_t len)
{
	if (off > len)
		return 0;
	if (size && n > (len - off) / size)
		return 0;
	return 1;
}

int snapshot_view(struct snap_view *v, const void *buf, size_t len)
{
	const unsigned char *b = buf;
	const struct snap_hdr *h = buf;

	if (!buf || len < sizeof *h || len > SNAP_MAX_LEN ||
	    (uintptr_t)buf % _Alignof(struct snap_hdr))
		return -1;
	if (memcmp(h->magic, SNAP_MAGIC, sizeof h->magic) != 0 || h->version != SNAP_VERSION ||
	    h->total_len != len)
		return -1;
	if ((h->off_services % 4) || (h->off_intercepts % 4))
		return -1;
	if (h->checksum != checksum(b, len) || !range_valid(h->vip_net, h->vip_prefix) ||
	    !range6_valid(h->vip6_net, h->vip6_prefix))
		return -1;
	if (!range_ok(h->off_services, h->nservices, sizeof(struct snap_svc), len) ||
	    !range_ok(h->off_intercepts, h->nintercepts, sizeof(struct snap_icpt), len) ||
	    !range_ok(h->off_strings, h->len_strings, 1, len) || h->len_strings == 0 ||
	    b[h->off_strings + h->len_strings - 1] != '\0')
		return -1;
	/* The limits are the encoder's, and what the hooks' fixed buffers
	 * hold (resolve.c's reverse answer is name.suffix). */
	const char *str = (const char *)b + h->off_strings;
	if (h->suffix_len && !str_ok(str, h->len_strings, h->suffix_off, h->suffix_len, 255))
		return -1;
	if (h->control_len && !str_ok(str, h->len_strings, h->control_off, h->control_len, 4095))
		return -1;
	const struct snap_svc *s = (const void *)(b + h->off_services);
	for (uint32_t i = 0; i < h->nservices; i++) {
		if (!str_ok(str, h->len_strings, s[i].name_off, s[i].name_len, SNAP_MAX_NAME) ||
		    s[i].nports > SNAP_MAX_PORTS ||
		    !in_range(s[i].vip, h->vip_net, h->vip_prefix) ||
		    !vip6_valid(s[i].vip6, h->vip6_net, h->vip6_prefix))
			return -1;
	}
	const struct snap_icpt *ic = (const void *)(b + h->off_intercepts);
	for (uint32_t i = 0; i < h->nintercepts; i++)
		if (ic[i].svc >= h->nservices)
			return -1;

	v->base = b;
	v->len = len;
	v->hdr = h;
	v->svcs = s;
	v->icpts = ic;
	v->strings = str;
	return 0;
}

static const struct snap_svc *find_exact(const struct snap_view *v, const char *q, size_t qlen)
{
	size_t lo = 0, hi = v->hdr->nservices;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct snap_svc *s = &v->svcs[mid];
		int c = name_cmp(v->strings + s->name_off, s->name_len, q, qlen);
		if (c == 0)
			return s;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct snap_svc *snapshot_find_name(const struct snap_view *v, const char *name)
{
	if (!v || !v->hdr || !name)
		return NULL;
	size_t n = strnlen(name, 256);
	if (n == 0 || n > 255)
		return NULL;
	if (name[n - 1] == '.')
		n--;
	const struct snap_svc *s = find_exact(v, name, n);
	if (s)
		return s;
	size_t sl = v->hdr->suffix_len;
	if (sl && n > sl + 1 && name[n - sl - 1] == '.' &&
	    name_cmp(v->strings + v->hdr->suffix_off, sl, name + n - sl, sl) == 0)
		return find_exact(v, name, n - sl - 1);
	return NULL;
}

const struct snap_svc *snapshot_find_vip(const struct snap_view *v, uint32_t vip)
{
	/* The range first: a connect to an address off it (most of them)
	 * costs no scan of the services. */
	if (!v || !v->hdr || !snapshot_vip_ok(v, vip))
		return NULL;
	for (uint32_t i = 0; i < v->hdr->nservices; i++)
		if (v->svcs[i].vip == vip)
			return &v->svcs[i];
	return NULL;
}

const struct snap_svc *snapshot_find_vip6(const struct snap_view *v, const uint8_t *vip6)
{
	if (!v || !v->hdr || !vip6 || !v->hdr->vip6_prefix || is_zero16(vip6) ||
	    !snapshot_vip6_ok(v, vip6)) /* as above: the range before the scan */
		return NULL;
	for (uint32_t i = 0; i < v->hdr->nservices; i++)
		if (memcmp(v->svcs[i].vip6, vip6, 16) == 0)
			return &v->svcs[i];
	return NULL;
}

const struct snap_icpt *snapshot_find_intercept(const struct snap_view *v, int family,
                                                const void *addr, uint16_t port)
{
	if (!v || !v->hdr || v->hdr->nintercepts == 0)
		return NULL;
	struct snap_icpt key;
	memset(&key, 0, sizeof key);
	key.family = (uint8_t)family;
	key.port = port;
	memcpy(key.addr, addr, family == AF_INET ? 4 : 16);
	size_t lo = 0, hi = v->hdr->nintercepts;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = icpt_key_cmp(&v->icpts[mid], &key);
		if (c == 0)
			return &v->icpts[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
