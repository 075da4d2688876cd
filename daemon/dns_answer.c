/*
 * DNS questions and answers for endpoint discovery (see dns_answer.h).
 * Names are encoded and decoded by glibc (ns_name_pton, ns_initparse,
 * ns_parserr, ns_name_uncompress); what is written by hand here is the
 * 12-byte header and the OPT record, and the checks of what an answer
 * claims.
 */
#include "dns_answer.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

bool dns_name_norm(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;
	if (n + 1 > len)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	return true;
}

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

int dns_query_build(unsigned char *buf, size_t len, uint16_t id, const char *name, uint16_t qtype)
{
	unsigned char wire[NS_MAXCDNAME];
	if (!*name || ns_name_pton(name, wire, sizeof wire) == -1)
		return -1;
	/* The length of the wire name: labels up to the root's 0. */
	size_t wl = 0;
	while (wl < sizeof wire && wire[wl])
		wl += 1u + wire[wl];
	wl++;
	if (wl > sizeof wire || wl <= 1)
		return -1; /* the root alone is no service */
	size_t need = 12 + wl + 4 + 11;
	if (need > len)
		return -1;
	memset(buf, 0, 12);
	put16(buf, id);
	buf[2] = 0x01;      /* RD */
	put16(buf + 4, 1);  /* QDCOUNT */
	put16(buf + 10, 1); /* ARCOUNT: the OPT record */
	memcpy(buf + 12, wire, wl);
	unsigned char *q = buf + 12 + wl;
	put16(q, qtype);
	put16(q + 2, ns_c_in);
	q += 4;
	/* OPT: root name, type 41, class = UDP payload size, ttl 0, rdlen 0 */
	q[0] = 0;
	put16(q + 1, ns_t_opt);
	put16(q + 3, DNS_UDP_MAX);
	memset(q + 5, 0, 6);
	return (int)need;
}

const char *dns_rcode_str(int rcode, char *buf, size_t len)
{
	static const char *const words[] = { "NOERROR",  "FORMERR", "SERVFAIL",
		                             "NXDOMAIN", "NOTIMP",  "REFUSED" };
	if (rcode >= 0 && (size_t)rcode < sizeof words / sizeof words[0])
		snprintf(buf, len, "%s", words[rcode]);
	else
		snprintf(buf, len, "rcode %d", rcode);
	return buf;
}

static void note_ttl(struct dns_answer *a, uint32_t ttl)
{
	if (!a->have_ttl || ttl < a->min_ttl)
		a->min_ttl = ttl;
	a->have_ttl = true;
}

/* Is `name` the one asked or a CNAME target reached from it? */
static bool in_chain(char chain[][DNS_NAME_MAX], unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(chain[i], name) == 0)
			return true;
	return false;
}

static void add_addr(struct dns_answer *a, const ns_rr *rr, const char *owner, bool additional)
{
	int family = ns_rr_type(*rr) == DNS_T_A ? AF_INET : AF_INET6;
	size_t alen = family == AF_INET ? 4 : 16;
	if (ns_rr_rdlen(*rr) != alen || a->naddr == DNS_ANSWER_MAX_RECORDS) {
		a->dropped++;
		return;
	}
	struct dns_addr_rec *r = &a->addr[a->naddr++];
	memset(r, 0, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", owner);
	r->family = family;
	memcpy(r->addr, ns_rr_rdata(*rr), alen);
	r->ttl = ns_rr_ttl(*rr);
	r->additional = additional;
	if (!additional)
		note_ttl(a, r->ttl);
}

static void add_srv(struct dns_answer *a, const ns_msg *m, const ns_rr *rr)
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	char target[NS_MAXDNAME];
	if (ns_rr_rdlen(*rr) < 7 || a->nsrv == DNS_ANSWER_MAX_RECORDS ||
	    ns_name_uncompress(ns_msg_base(*m), ns_msg_end(*m), rd + 6, target, sizeof target) ==
	            -1) {
		a->dropped++;
		return;
	}
	struct dns_srv_rec *s = &a->srv[a->nsrv];
	if (!dns_name_norm(target, s->target, sizeof s->target)) {
		a->dropped++;
		return;
	}
	s->prio = ns_get16(rd);
	s->weight = ns_get16(rd + 2);
	s->port = ns_get16(rd + 4);
	s->ttl = ns_rr_ttl(*rr);
	note_ttl(a, s->ttl);
	a->nsrv++;
}

int dns_answer_parse(const unsigned char *msg, size_t len, uint16_t id, const char *name,
                     uint16_t qtype, struct dns_answer *out, char *why, size_t whylen)
{
	char chain[DNS_CNAME_MAX + 1][DNS_NAME_MAX], owner[DNS_NAME_MAX];
	unsigned nchain = 1;
	ns_msg m;
	ns_rr rr;

	out->rcode = -1;
	out->truncated = out->authoritative = out->have_ttl = false;
	out->naddr = out->nsrv = out->dropped = 0;
	out->min_ttl = 0;
	if (len < NS_HFIXEDSZ || len > DNS_ANSWER_MAX) {
		snprintf(why, whylen, "answer of %zu bytes", len);
		return -1;
	}
	if (!dns_name_norm(name, chain[0], sizeof chain[0])) {
		snprintf(why, whylen, "name too long");
		return -1;
	}
	if (ns_initparse(msg, (int)len, &m) == -1) {
		snprintf(why, whylen, "malformed answer");
		return -1;
	}
	if (ns_msg_id(m) != id || !ns_msg_getflag(m, ns_f_qr) ||
	    ns_msg_getflag(m, ns_f_opcode) != ns_o_query) {
		snprintf(why, whylen, "not the answer to our question (id or flags)");
		return -1;
	}
	out->rcode = ns_msg_getflag(m, ns_f_rcode);
	out->truncated = ns_msg_getflag(m, ns_f_tc);
	out->authoritative = ns_msg_getflag(m, ns_f_aa);
	/* The question must be ours (a truncated answer may still carry it). */
	if (ns_msg_count(m, ns_s_qd) != 1 || ns_parserr(&m, ns_s_qd, 0, &rr) == -1 ||
	    !dns_name_norm(ns_rr_name(rr), owner, sizeof owner) || strcmp(owner, chain[0]) != 0 ||
	    ns_rr_type(rr) != qtype || ns_rr_class(rr) != ns_c_in) {
		snprintf(why, whylen, "not the answer to our question (question section)");
		return -1;
	}
	if (out->truncated)
		return 0;
	/* Answer section: CNAMEs first extend the chain (pass 0, swept again
	 * while it grows, so a CNAME listed before the one that leads to it
	 * still counts; at most DNS_CNAME_MAX more sweeps), then the records
	 * of the chain (pass 1). */
	unsigned nan = ns_msg_count(m, ns_s_an), sweeps = 0;
	for (int pass = 0; pass < 2; pass++) {
		unsigned before = nchain;
		for (unsigned i = 0; i < nan; i++) {
			if (ns_parserr(&m, ns_s_an, (int)i, &rr) == -1) {
				snprintf(why, whylen, "malformed answer record");
				return -1;
			}
			if (ns_rr_class(rr) != ns_c_in ||
			    !dns_name_norm(ns_rr_name(rr), owner, sizeof owner) ||
			    !in_chain(chain, nchain, owner)) {
				if (pass == 1)
					out->dropped++;
				continue;
			}
			int t = ns_rr_type(rr);
			if (pass == 0 && t == DNS_T_CNAME && nchain <= DNS_CNAME_MAX) {
				char target[NS_MAXDNAME];
				if (ns_name_uncompress(ns_msg_base(m), ns_msg_end(m),
				                       ns_rr_rdata(rr), target,
				                       sizeof target) != -1 &&
				    dns_name_norm(target, chain[nchain], sizeof chain[nchain]) &&
				    !in_chain(chain, nchain, chain[nchain])) {
					nchain++;
					note_ttl(out, ns_rr_ttl(rr));
				}
			} else if (pass == 1 && t == qtype && (t == DNS_T_A || t == DNS_T_AAAA)) {
				add_addr(out, &rr, owner, false);
			} else if (pass == 1 && t == qtype && t == DNS_T_SRV) {
				add_srv(out, &m, &rr);
			} else if (pass == 1 && t != DNS_T_CNAME) {
				out->dropped++;
			}
		}
		if (pass == 0 && nchain > before && ++sweeps <= DNS_CNAME_MAX)
			pass = -1; /* sweep pass 0 again */
	}
	/* Negative answers: the SOA's TTL (RFC 2308: min of its TTL and
	 * MINIMUM) says how long the absence holds. */
	unsigned nns = ns_msg_count(m, ns_s_ns);
	for (unsigned i = 0; i < nns; i++) {
		if (ns_parserr(&m, ns_s_ns, (int)i, &rr) == -1)
			break;
		if (ns_rr_type(rr) == DNS_T_SOA && !out->naddr && !out->nsrv &&
		    ns_rr_rdlen(rr) >= 22) {
			uint32_t minimum = ns_get32(ns_rr_rdata(rr) + ns_rr_rdlen(rr) - 4);
			uint32_t ttl = ns_rr_ttl(rr) < minimum ? ns_rr_ttl(rr) : minimum;
			note_ttl(out, ttl);
			break;
		}
	}
	/* Additional section: addresses of SRV targets. */
	unsigned nar = qtype == DNS_T_SRV ? ns_msg_count(m, ns_s_ar) : 0;
	for (unsigned i = 0; i < nar; i++) {
		if (ns_parserr(&m, ns_s_ar, (int)i, &rr) == -1)
			break;
		int t = ns_rr_type(rr);
		if ((t != DNS_T_A && t != DNS_T_AAAA) || ns_rr_class(rr) != ns_c_in ||
		    !dns_name_norm(ns_rr_name(rr), owner, sizeof owner))
			continue;
		add_addr(out, &rr, owner, true);
	}
	return 0;
}
