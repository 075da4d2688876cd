/*
 * DNS answers for mesh names: see dns_msg.h. The query is parsed with
 * glibc's libresolv (ns_initparse, ns_parserr, ns_name_unpack), which
 * checks every count and name against the packet; the answer is written
 * through one bounded writer (struct wbuf) and dn_comp, so that no write
 * can pass the end of the caller's buffer: a write that does not fit marks
 * the answer over, and an answer over its bound goes out truncated (TC).
 */
#include "dns_msg.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>


#define RCODE_BADVERS 16
#define MAX_LABELS 128
#define OPT_LEN 11 /* root name, type, class, ttl, rdlength */

/* ---- the bounded writer ---- */

struct wbuf {
	unsigned char *p;
	size_t len, max;
	bool over; /* a write did not fit: the answer is incomplete */
};

static void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->over || n > w->max - w->len) {
		w->over = true;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put16(struct wbuf *w, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	put(w, b, 2);
}

static void put32(struct wbuf *w, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
		               (unsigned char)(v >> 8), (unsigned char)v };
	put(w, b, 4);
}

/* A domain name, compressed against the names dnptrs knows (NULL: not
 * compressed, as an SRV target must not be, RFC 2782). */
static void put_name(struct wbuf *w, const char *name, unsigned char **dnptrs,
                     unsigned char **lastdnptr)
{
	if (w->over)
		return;
	int n = dn_comp(name, w->p + w->len, (int)(w->max - w->len), dnptrs, lastdnptr);
	if (n < 0) {
		w->over = true;
		return;
	}
	w->len += (size_t)n;
}

static void set16(struct wbuf *w, size_t at, unsigned v)
{
	if (at + 2 <= w->len) {
		w->p[at] = (unsigned char)(v >> 8);
		w->p[at + 1] = (unsigned char)v;
	}
}

/* ---- the question's name ---- */

struct qname {
	unsigned n;
	const unsigned char *lab[MAX_LABELS];
	unsigned char len[MAX_LABELS];
};

/* Split an uncompressed wire name (ns_name_unpack's output: checked). */
static void split(const unsigned char *wire, struct qname *q)
{
	q->n = 0;
	for (const unsigned char *p = wire; *p && q->n < MAX_LABELS; p += 1 + *p) {
		q->lab[q->n] = p + 1;
		q->len[q->n++] = *p;
	}
}

static bool label_is(const struct qname *q, unsigned i, const char *s)
{
	size_t n = strlen(s);
	return q->len[i] == n && strncasecmp((const char *)q->lab[i], s, n) == 0;
}

/* The service a label names: only labels a service name can be (a-z,
 * 0-9, '-', any case) are looked up, so that a label with a dot in it
 * ("hello.mesh" as one label) is never taken for "hello" + suffix. */
static const struct snap_svc *find_label(const struct snap_view *v, const unsigned char *lab,
                                         unsigned len)
{
	char name[SNAP_MAX_NAME + 1];
	if (len == 0 || len > SNAP_MAX_NAME)
		return NULL;
	for (unsigned i = 0; i < len; i++) {
		unsigned char c = lab[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return NULL;
		name[i] = (char)c;
	}
	name[len] = '\0';
	return snapshot_find_name(v, name);
}

/* Whether the last labels of q are the suffix (case-insensitive); the
 * number of its labels in *slabels. */
static bool in_zone(const struct qname *q, const char *suffix, unsigned *slabels)
{
	unsigned s = 0;
	*slabels = 0;
	if (!*suffix)
		return false;
	s = 1;
	for (const char *p = suffix; *p; p++)
		s += *p == '.';
	if (q->n < s)
		return false;
	const char *p = suffix;
	for (unsigned i = q->n - s; i < q->n; i++) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (q->len[i] != n || strncasecmp((const char *)q->lab[i], p, n) != 0)
			return false;
		p = dot ? dot + 1 : p + n;
	}
	*slabels = s;
	return true;
}

/* "_8080": the port, network order; 0 when it is not one. */
static uint16_t label_port(const struct qname *q, unsigned i)
{
	unsigned long port = 0;
	if (q->len[i] < 2 || q->len[i] > 6 || q->lab[i][0] != '_')
		return 0;
	for (unsigned k = 1; k < q->len[i]; k++) {
		if (q->lab[i][k] < '0' || q->lab[i][k] > '9')
			return 0;
		port = port * 10 + (q->lab[i][k] - '0');
	}
	return port >= 1 && port <= 65535 ? htons((uint16_t)port) : 0;
}

static bool svc_has_port(const struct snap_svc *s, uint16_t port)
{
	for (unsigned i = 0; i < s->nports && i < SNAP_MAX_PORTS; i++)
		if (s->ports[i] == port)
			return true;
	return false;
}

/* ---- what a name is ---- */

enum what {
	W_REFUSED,  /* not ours */
	W_NXDOMAIN, /* ours, no such name */
	W_NODATA,   /* ours, exists, nothing of this type */
	W_SVC,      /* a service: A, AAAA, SRV */
	W_SRV,      /* an SRV name of a service: SRV only */
	W_APEX,     /* the suffix itself: SOA */
	W_PTR,      /* a VIP's reverse name */
};

struct target {
	enum what what;
	const struct snap_svc *svc;
	uint16_t port; /* W_SRV: the one port (network order); 0: all */
	bool zone;     /* under the suffix: negative answers carry its SOA */
};

/* D.C.B.A.in-addr.arpa inside the VIP range. */
static bool classify_ptr(const struct snap_view *v, const struct qname *q, struct target *t)
{
	unsigned char a[4];
	if (q->n != 6 || !label_is(q, 4, "in-addr") || !label_is(q, 5, "arpa"))
		return false;
	for (unsigned i = 0; i < 4; i++) {
		unsigned x = 0;
		if (q->len[i] < 1 || q->len[i] > 3)
			return false;
		for (unsigned k = 0; k < q->len[i]; k++) {
			if (q->lab[i][k] < '0' || q->lab[i][k] > '9')
				return false;
			x = x * 10 + (q->lab[i][k] - '0');
		}
		if (x > 255)
			return false;
		a[3 - i] = (unsigned char)x;
	}
	uint32_t vip;
	memcpy(&vip, a, 4);
	if (!snapshot_vip_ok(v, vip))
		return false;
	t->svc = snapshot_find_vip(v, vip);
	t->what = t->svc ? W_PTR : W_NXDOMAIN;
	return true;
}

static void classify(const struct snap_view *v, const struct qname *q, struct target *t)
{
	unsigned s;
	memset(t, 0, sizeof *t);
	t->what = W_REFUSED;
	if (!v || classify_ptr(v, q, t))
		return;
	t->zone = in_zone(q, snapshot_suffix(v), &s);
	unsigned base = q->n - s; /* labels before the suffix */
	const struct snap_svc *svc = base >= 1 ? find_label(v, q->lab[base - 1], q->len[base - 1])
	                                       : NULL;
	if (!t->zone && !svc)
		return; /* REFUSED */
	t->svc = svc;
	t->what = W_NXDOMAIN;
	if (base == 0) {
		t->what = W_APEX;
	} else if (base == 1) {
		if (svc)
			t->what = W_SVC;
		else if (label_is(q, 0, "_tcp"))
			t->what = W_NODATA; /* above _NAME._tcp.SUFFIX */
	} else if (base == 2 && label_is(q, 1, "_tcp")) {
		const struct snap_svc *s2 = q->len[0] > 1 && q->lab[0][0] == '_'
		                                    ? find_label(v, q->lab[0] + 1, q->len[0] - 1u)
		                                    : NULL;
		if (t->zone && s2) {
			t->svc = s2;
			t->what = W_SRV;
		}
	} else if (base == 2 && svc && label_is(q, 0, "_tcp")) {
		t->what = W_NODATA; /* above _PORT._tcp.NAME */
	} else if (base == 3 && svc && label_is(q, 1, "_tcp")) {
		uint16_t port = label_port(q, 0);
		if (port && svc_has_port(svc, port)) {
			t->what = W_SRV;
			t->port = port;
		}
	}
}

/* ---- records ---- */

struct answer {
	struct wbuf w;
	const struct snap_view *v;
	unsigned char *dnptrs[32];
	unsigned an, ns, ar;
};

/* Type, class IN, TTL and a room for rdlength; returns where rdlength is. */
static size_t rr_head(struct answer *a, unsigned type)
{
	put16(&a->w, type);
	put16(&a->w, ns_c_in);
	put32(&a->w, DNS_TTL);
	size_t at = a->w.len;
	put16(&a->w, 0);
	return at;
}

static void rr_end(struct answer *a, size_t at)
{
	if (!a->w.over)
		set16(&a->w, at, (unsigned)(a->w.len - at - 2));
}

/* The question's own name: a pointer to it (it is at offset 12). */
static void owner_q(struct answer *a)
{
	put16(&a->w, 0xc000 | NS_HFIXEDSZ);
}

static void svc_fqdn(const struct snap_view *v, const struct snap_svc *s, char *out, size_t len)
{
	const char *suf = snapshot_suffix(v);
	snprintf(out, len, "%s%s%s", snapshot_svc_name(v, s), *suf ? "." : "", suf);
}

static void rr_a(struct answer *a, const struct snap_svc *s, const char *owner)
{
	if (!snapshot_vip_ok(a->v, s->vip))
		return; /* never an address off this host's VIP range */
	if (owner)
		put_name(&a->w, owner, a->dnptrs, a->dnptrs + 32);
	else
		owner_q(a);
	size_t at = rr_head(a, ns_t_a);
	put(&a->w, &s->vip, 4);
	rr_end(a, at);
}

static unsigned rr_aaaa(struct answer *a, const struct snap_svc *s, const char *owner)
{
	unsigned char ip6[16];
	if (!dns_svc_aaaa(a->v, s, ip6))
		return 0;
	if (owner)
		put_name(&a->w, owner, a->dnptrs, a->dnptrs + 32);
	else
		owner_q(a);
	size_t at = rr_head(a, ns_t_aaaa);
	put(&a->w, ip6, 16);
	rr_end(a, at);
	return 1;
}

/* One SRV per port (or the one port), target NAME.SUFFIX. */
static unsigned rr_srv(struct answer *a, const struct snap_svc *s, uint16_t only)
{
	char target[NS_MAXDNAME];
	unsigned n = 0;
	svc_fqdn(a->v, s, target, sizeof target);
	for (unsigned i = 0; i < s->nports && i < SNAP_MAX_PORTS; i++) {
		if (only && s->ports[i] != only)
			continue;
		owner_q(a);
		size_t at = rr_head(a, ns_t_srv);
		put16(&a->w, DNS_SRV_PRIORITY);
		put16(&a->w, DNS_SRV_WEIGHT);
		put16(&a->w, ntohs(s->ports[i]));
		put_name(&a->w, target, NULL, NULL);
		rr_end(a, at);
		n++;
	}
	return n;
}

/* The suffix's SOA: what negative answers are cached by (its minimum). */
static void rr_soa(struct answer *a, bool owner_is_q)
{
	const char *suf = snapshot_suffix(a->v);
	char rname[NS_MAXDNAME];
	snprintf(rname, sizeof rname, "hostmaster.%s", suf);
	if (owner_is_q)
		owner_q(a);
	else
		put_name(&a->w, suf, a->dnptrs, a->dnptrs + 32);
	size_t at = rr_head(a, ns_t_soa);
	put_name(&a->w, suf, a->dnptrs, a->dnptrs + 32);
	put_name(&a->w, rname, a->dnptrs, a->dnptrs + 32);
	put32(&a->w, (uint32_t)a->v->hdr->generation); /* serial */
	put32(&a->w, 3600);                            /* refresh */
	put32(&a->w, 600);                             /* retry */
	put32(&a->w, 86400);                           /* expire */
	put32(&a->w, DNS_TTL);                         /* minimum: negative TTL */
	rr_end(a, at);
}

static void rr_ptr(struct answer *a, const struct snap_svc *s)
{
	char name[NS_MAXDNAME];
	svc_fqdn(a->v, s, name, sizeof name);
	owner_q(a);
	size_t at = rr_head(a, ns_t_ptr);
	put_name(&a->w, name, a->dnptrs, a->dnptrs + 32);
	rr_end(a, at);
}

/* The answer and authority sections for t; the rcode. */
static int records(struct answer *a, const struct target *t, unsigned qtype, bool *srv)
{
	bool any = qtype == ns_t_any;
	*srv = false;
	switch (t->what) {
	case W_REFUSED:
		return ns_r_refused;
	case W_NXDOMAIN:
		if (t->zone)
			rr_soa(a, false), a->ns++;
		return ns_r_nxdomain;
	case W_SVC:
		if (qtype == ns_t_a || any) {
			rr_a(a, t->svc, NULL);
			a->an += snapshot_vip_ok(a->v, t->svc->vip);
		} else if (qtype == ns_t_aaaa) {
			a->an += rr_aaaa(a, t->svc, NULL);
		} else if (qtype == ns_t_srv) {
			a->an += rr_srv(a, t->svc, 0);
			*srv = true;
		}
		break;
	case W_SRV:
		if (qtype == ns_t_srv || any) {
			a->an += rr_srv(a, t->svc, t->port);
			*srv = true;
		}
		break;
	case W_APEX:
		if (qtype == ns_t_soa || any)
			rr_soa(a, true), a->an++;
		break;
	case W_PTR:
		if (qtype == ns_t_ptr || any)
			rr_ptr(a, t->svc), a->an++;
		break;
	case W_NODATA:
		break;
	}
	if (a->an == 0 && t->zone)
		rr_soa(a, false), a->ns++; /* no data: the negative TTL */
	return ns_r_noerror;
}

/* ---- the message ---- */

static size_t header_only(unsigned char *out, const unsigned char *q, int rcode)
{
	memset(out, 0, NS_HFIXEDSZ);
	out[0] = q[0];
	out[1] = q[1];
	out[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, opcode, RD */
	out[3] = (unsigned char)rcode;
	return NS_HFIXEDSZ;
}

struct edns {
	bool on;
	bool dnssec_ok;
	unsigned version;
	unsigned size;
};

/* The OPT record of the additional section, if any; -1: malformed (two
 * of them, or one not at the root). */
static int read_edns(ns_msg *m, struct edns *e)
{
	memset(e, 0, sizeof *e);
	for (int i = 0; i < ns_msg_count(*m, ns_s_ar); i++) {
		ns_rr rr;
		if (ns_parserr(m, ns_s_ar, i, &rr) == -1)
			return -1;
		if (ns_rr_type(rr) != ns_t_opt)
			continue;
		if (e->on || (ns_rr_name(rr)[0] && strcmp(ns_rr_name(rr), ".") != 0))
			return -1;
		e->on = true;
		e->size = ns_rr_class(rr);
		e->version = (ns_rr_ttl(rr) >> 16) & 0xff;
		e->dnssec_ok = (ns_rr_ttl(rr) & 0x8000) != 0;
	}
	return 0;
}

static void put_opt(struct wbuf *w, const struct edns *e, int rcode)
{
	put(w, "", 1); /* the root */
	put16(w, ns_t_opt);
	put16(w, DNS_EDNS_SIZE);
	put32(w, ((uint32_t)(rcode >> 4) << 24) | (e->dnssec_ok ? 0x8000u : 0));
	put16(w, 0);
}

size_t dns_msg_answer(const struct snap_view *v, const unsigned char *q, size_t qlen, bool tcp,
                      unsigned char *out, size_t outmax, struct dns_result *res)
{
	struct dns_result r = { 0 };
	unsigned char qwire[NS_MAXCDNAME];
	size_t n = 0;
	ns_msg m;
	ns_rr qr;
	struct edns e;

	if (res)
		*res = r;
	if (qlen < NS_HFIXEDSZ || qlen > DNS_QUERY_MAX || outmax < DNS_UDP_PLAIN || (q[2] & 0x80))
		return 0; /* no header, or a response: nothing to answer */
	r.answered = true;
	if (((q[2] >> 3) & 0xf) != ns_o_query) {
		r.rcode = ns_r_notimpl;
		n = header_only(out, q, r.rcode);
		goto done;
	}
	if (ns_initparse(q, (int)qlen, &m) == -1 || ns_msg_count(m, ns_s_qd) != 1 ||
	    ns_parserr(&m, ns_s_qd, 0, &qr) == -1 ||
	    ns_name_unpack(q, q + qlen, q + NS_HFIXEDSZ, qwire, sizeof qwire) == -1 ||
	    read_edns(&m, &e) == -1) {
		r.rcode = ns_r_formerr;
		n = header_only(out, q, r.rcode);
		goto done;
	}
	r.qtype = ns_rr_type(qr);

	/* The bound: 512 bytes over UDP, or what the caller's OPT says. */
	size_t limit = outmax;
	if (!tcp) {
		limit = DNS_UDP_PLAIN;
		if (e.on && e.size > limit)
			limit = e.size;
		if (limit > outmax)
			limit = outmax;
	}
	if (limit > 65535)
		limit = 65535;

	struct answer a = { .w = { .p = out, .max = limit - (e.on ? OPT_LEN : 0) }, .v = v };
	a.dnptrs[0] = out;
	a.dnptrs[1] = out + NS_HFIXEDSZ;
	/* Header; the counts and flags are filled in at the end. */
	put16(&a.w, ns_msg_id(m));
	put16(&a.w, 0);
	put16(&a.w, 1);
	put16(&a.w, 0);
	put16(&a.w, 0);
	put16(&a.w, 0);
	size_t qwlen = 1;
	for (const unsigned char *p = qwire; *p; p += 1 + *p)
		qwlen += 1u + *p;
	put(&a.w, qwire, qwlen);
	put16(&a.w, ns_rr_type(qr));
	put16(&a.w, ns_rr_class(qr));
	size_t after_q = a.w.len;

	struct target t = { .what = W_REFUSED };
	int rcode;
	bool srv = false;
	if (e.on && e.version != 0) {
		rcode = RCODE_BADVERS;
	} else if (ns_rr_class(qr) != ns_c_in && ns_rr_class(qr) != ns_c_any) {
		rcode = ns_r_refused;
	} else if (r.qtype == ns_t_axfr || r.qtype == ns_t_ixfr) {
		rcode = ns_r_refused; /* no zone transfers */
	} else {
		struct qname qn;
		split(qwire, &qn);
		classify(v, &qn, &t);
		rcode = records(&a, &t, r.qtype, &srv);
	}
	if (a.w.over) { /* the records do not fit: TC, and the client asks over TCP */
		a.w.over = false;
		a.w.len = after_q;
		a.dnptrs[2] = NULL; /* names written past here are gone */
		a.an = a.ns = 0;
		srv = false;
		r.truncated = true;
	}
	/* Additional: the SRV target's addresses, where they fit (they are
	 * not required: dropping them does not set TC). */
	size_t mark = a.w.len;
	if (srv) {
		char fqdn[NS_MAXDNAME];
		svc_fqdn(v, t.svc, fqdn, sizeof fqdn);
		rr_a(&a, t.svc, fqdn);
		a.ar += snapshot_vip_ok(v, t.svc->vip);
		a.ar += rr_aaaa(&a, t.svc, fqdn);
		if (a.w.over) {
			a.w.over = false;
			a.w.len = mark;
			a.dnptrs[2] = NULL; /* dn_comp must not point into what was cut */
			a.ar = 0;
		}
	}
	if (e.on) {
		a.w.max = limit;
		put_opt(&a.w, &e, rcode);
		a.ar++;
	}
	r.rcode = rcode;
	r.mesh = t.what != W_REFUSED;
	unsigned flags = 0x8000u | (q[2] & 0x01u) << 8; /* QR, RD copied */
	if (r.mesh)
		flags |= 0x0400; /* AA */
	if (r.truncated)
		flags |= 0x0200; /* TC */
	flags |= (unsigned)rcode & 0xf;
	set16(&a.w, 2, flags);
	set16(&a.w, 6, a.an);
	set16(&a.w, 8, a.ns);
	set16(&a.w, 10, a.ar);
	n = a.w.len;
done:
	if (res)
		*res = r;
	return n;
}

int dns_svc_aaaa(const struct snap_view *v, const struct snap_svc *s, unsigned char out[16])
{
	return snapshot_svc_vip6(v, s, out);
}

const char *dns_rcode_name(int rcode)
{
	switch (rcode) {
	case ns_r_noerror:
		return "NOERROR";
	case ns_r_formerr:
		return "FORMERR";
	case ns_r_servfail:
		return "SERVFAIL";
	case ns_r_nxdomain:
		return "NXDOMAIN";
	case ns_r_notimpl:
		return "NOTIMP";
	case ns_r_refused:
		return "REFUSED";
	case RCODE_BADVERS:
		return "BADVERS";
	default:
		return "OTHER";
	}
}
