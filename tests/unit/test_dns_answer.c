/*
 * The DNS codec of discovery (daemon/dns_answer.c): the question it
 * writes, and what it takes from answers built here byte by byte: A, AAAA
 * and SRV records, CNAME chains, the additional section, negative answers
 * and their SOA TTL, truncation, answers to another question, records
 * beyond the bound, wrong record lengths, and every prefix of an answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_answer.h"

/* An answer being built. */
struct msg {
	unsigned char b[65536];
	size_t n;
};

static void u8(struct msg *m, unsigned v)
{
	m->b[m->n++] = (unsigned char)v;
}
static void u16(struct msg *m, unsigned v)
{
	u8(m, v >> 8);
	u8(m, v & 0xff);
}
static void u32(struct msg *m, uint32_t v)
{
	u16(m, v >> 16);
	u16(m, v & 0xffff);
}
static void name(struct msg *m, const char *s)
{
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		u8(m, (unsigned)l);
		memcpy(m->b + m->n, s, l);
		m->n += l;
		s += l + (dot ? 1 : 0);
	}
	u8(m, 0);
}

/* Header and question: id, flags, counts. */
static void head(struct msg *m, unsigned id, unsigned flags, unsigned an, unsigned ns, unsigned ar,
                 const char *q, unsigned qtype)
{
	m->n = 0;
	u16(m, id);
	u16(m, flags);
	u16(m, 1);
	u16(m, an);
	u16(m, ns);
	u16(m, ar);
	name(m, q);
	u16(m, qtype);
	u16(m, 1);
}

static void rr_head(struct msg *m, const char *owner, unsigned type, uint32_t ttl, unsigned rdlen)
{
	name(m, owner);
	u16(m, type);
	u16(m, 1);
	u32(m, ttl);
	u16(m, rdlen);
}

static void rr_a(struct msg *m, const char *owner, uint32_t ttl, const char *ip)
{
	struct in_addr a;
	inet_pton(AF_INET, ip, &a);
	rr_head(m, owner, DNS_T_A, ttl, 4);
	memcpy(m->b + m->n, &a, 4);
	m->n += 4;
}

static void rr_srv(struct msg *m, const char *owner, uint32_t ttl, unsigned prio, unsigned w,
                   unsigned port, const char *target)
{
	struct msg t;
	t.n = 0;
	name(&t, target);
	rr_head(m, owner, DNS_T_SRV, ttl, 6 + (unsigned)t.n);
	u16(m, prio);
	u16(m, w);
	u16(m, port);
	memcpy(m->b + m->n, t.b, t.n);
	m->n += t.n;
}

#define RESP 0x8180 /* QR, RD, RA */

static struct dns_answer *A;
static char why[256];

static int setup(void **state)
{
	(void)state;
	A = calloc(1, sizeof *A);
	return A ? 0 : -1;
}
static int teardown(void **state)
{
	(void)state;
	free(A);
	return 0;
}

static int parse(const struct msg *m, unsigned id, const char *q, unsigned qtype)
{
	return dns_answer_parse(m->b, m->n, (uint16_t)id, q, (uint16_t)qtype, A, why, sizeof why);
}

static void query_build(void **state)
{
	(void)state;
	unsigned char q[DNS_QUERY_MAX];
	int n = dns_query_build(q, sizeof q, 0x1234, "api.service.consul.", DNS_T_SRV);
	assert_true(n > 12);
	ns_msg m;
	ns_rr rr;
	assert_int_equal(ns_initparse(q, n, &m), 0);
	assert_int_equal(ns_msg_id(m), 0x1234);
	assert_int_equal(ns_msg_getflag(m, ns_f_qr), 0);
	assert_int_equal(ns_msg_getflag(m, ns_f_rd), 1);
	assert_int_equal(ns_msg_count(m, ns_s_qd), 1);
	assert_int_equal(ns_msg_count(m, ns_s_ar), 1);
	assert_int_equal(ns_parserr(&m, ns_s_qd, 0, &rr), 0);
	assert_string_equal(ns_rr_name(rr), "api.service.consul");
	assert_int_equal(ns_rr_type(rr), DNS_T_SRV);
	assert_int_equal(ns_parserr(&m, ns_s_ar, 0, &rr), 0);
	assert_int_equal(ns_rr_type(rr), ns_t_opt);
	assert_int_equal(ns_rr_class(rr), DNS_UDP_MAX);
	/* Too small a buffer, an empty name, a label of 64 */
	assert_int_equal(dns_query_build(q, 20, 1, "api.service.consul", DNS_T_A), -1);
	assert_int_equal(dns_query_build(q, sizeof q, 1, "", DNS_T_A), -1);
	char long_label[80];
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	assert_int_equal(dns_query_build(q, sizeof q, 1, long_label, DNS_T_A), -1);
}

static void a_records(void **state)
{
	(void)state;
	struct msg m;
	head(&m, 7, RESP, 2, 0, 0, "Api.Service.Consul", DNS_T_A);
	rr_a(&m, "api.service.consul", 30, "10.0.0.2");
	rr_a(&m, "API.service.consul", 10, "10.0.0.3");
	assert_int_equal(parse(&m, 7, "api.service.consul.", DNS_T_A), 0);
	assert_int_equal(A->rcode, 0);
	assert_int_equal(A->naddr, 2);
	assert_int_equal(A->addr[0].family, AF_INET);
	assert_int_equal(A->addr[1].addr[3], 3);
	assert_true(A->have_ttl);
	assert_int_equal(A->min_ttl, 10);
	assert_int_equal(A->dropped, 0);
}

static void cname_chain(void **state)
{
	(void)state;
	struct msg m, t;
	head(&m, 9, RESP, 3, 0, 0, "api.example", DNS_T_A);
	t.n = 0;
	name(&t, "real.example");
	rr_head(&m, "api.example", DNS_T_CNAME, 60, (unsigned)t.n);
	memcpy(m.b + m.n, t.b, t.n);
	m.n += t.n;
	rr_a(&m, "real.example", 20, "10.0.0.9");
	rr_a(&m, "other.example", 20, "10.6.6.6"); /* not in the chain */
	assert_int_equal(parse(&m, 9, "api.example", DNS_T_A), 0);
	assert_int_equal(A->naddr, 1);
	assert_int_equal(A->addr[0].addr[3], 9);
	assert_int_equal(A->dropped, 1);
	assert_int_equal(A->min_ttl, 20);
}

/* A chain listed out of order (real -> final before api -> real) is
 * still followed to its end. */
static void cname_chain_out_of_order(void **state)
{
	(void)state;
	struct msg m, t;
	head(&m, 9, RESP, 3, 0, 0, "api.example", DNS_T_A);
	t.n = 0;
	name(&t, "final.example");
	rr_head(&m, "real.example", DNS_T_CNAME, 60, (unsigned)t.n);
	memcpy(m.b + m.n, t.b, t.n);
	m.n += t.n;
	t.n = 0;
	name(&t, "real.example");
	rr_head(&m, "api.example", DNS_T_CNAME, 60, (unsigned)t.n);
	memcpy(m.b + m.n, t.b, t.n);
	m.n += t.n;
	rr_a(&m, "final.example", 20, "10.0.0.7");
	assert_int_equal(parse(&m, 9, "api.example", DNS_T_A), 0);
	assert_int_equal(A->naddr, 1);
	assert_int_equal(A->addr[0].addr[3], 7);
	assert_int_equal(A->dropped, 0);
}

static void not_our_answer(void **state)
{
	(void)state;
	struct msg m;
	head(&m, 7, RESP, 1, 0, 0, "api.example", DNS_T_A);
	rr_a(&m, "api.example", 30, "10.0.0.2");
	assert_int_equal(parse(&m, 8, "api.example", DNS_T_A), -1);    /* id */
	assert_int_equal(parse(&m, 7, "web.example", DNS_T_A), -1);    /* name */
	assert_int_equal(parse(&m, 7, "api.example", DNS_T_AAAA), -1); /* type */
	head(&m, 7, 0x0100, 1, 0, 0, "api.example", DNS_T_A);          /* a query */
	rr_a(&m, "api.example", 30, "10.0.0.2");
	assert_int_equal(parse(&m, 7, "api.example", DNS_T_A), -1);
	assert_int_equal(dns_answer_parse(m.b, 11, 7, "api.example", DNS_T_A, A, why, sizeof why),
	                 -1);
}

static void negative(void **state)
{
	(void)state;
	struct msg m;
	head(&m, 3, RESP | 3, 0, 1, 0, "gone.example", DNS_T_A);
	/* SOA: mname, rname, serial, refresh, retry, expire, minimum */
	struct msg rd;
	rd.n = 0;
	name(&rd, "ns.example");
	name(&rd, "admin.example");
	u32(&rd, 1);
	u32(&rd, 3600);
	u32(&rd, 600);
	u32(&rd, 86400);
	u32(&rd, 15);
	rr_head(&m, "example", DNS_T_SOA, 300, (unsigned)rd.n);
	memcpy(m.b + m.n, rd.b, rd.n);
	m.n += rd.n;
	assert_int_equal(parse(&m, 3, "gone.example", DNS_T_A), 0);
	assert_int_equal(A->rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(A->naddr, 0);
	assert_true(A->have_ttl);
	assert_int_equal(A->min_ttl, 15); /* min(TTL, MINIMUM) */
	char b[32];
	assert_string_equal(dns_rcode_str(A->rcode, b, sizeof b), "NXDOMAIN");
	assert_string_equal(dns_rcode_str(9, b, sizeof b), "rcode 9");
}

static void truncated(void **state)
{
	(void)state;
	struct msg m;
	head(&m, 5, RESP | 0x0200, 0, 0, 0, "big.example", DNS_T_A);
	assert_int_equal(parse(&m, 5, "big.example", DNS_T_A), 0);
	assert_true(A->truncated);
	assert_int_equal(A->naddr, 0);
}

static void srv_additional(void **state)
{
	(void)state;
	struct msg m;
	head(&m, 11, RESP | 0x0400, 2, 0, 2, "_api._tcp.example", DNS_T_SRV);
	rr_srv(&m, "_api._tcp.example", 5, 10, 3, 15443, "h3.example");
	rr_srv(&m, "_api._tcp.example", 5, 20, 0, 15444, ".");
	rr_a(&m, "h3.example", 2, "10.0.0.3");
	rr_a(&m, "h9.example", 2, "10.0.0.9");
	assert_int_equal(parse(&m, 11, "_api._tcp.example", DNS_T_SRV), 0);
	assert_true(A->authoritative);
	assert_int_equal(A->nsrv, 2);
	assert_string_equal(A->srv[0].target, "h3.example");
	assert_int_equal(A->srv[0].prio, 10);
	assert_int_equal(A->srv[0].weight, 3);
	assert_int_equal(A->srv[0].port, 15443);
	assert_string_equal(A->srv[1].target, ""); /* "." */
	assert_int_equal(A->naddr, 2);
	assert_true(A->addr[0].additional);
	assert_string_equal(A->addr[0].name, "h3.example");
	assert_int_equal(A->min_ttl, 5); /* additional records do not lower it */
}

/* A target name given by a compression pointer to the owner's name. */
static void srv_compressed_target(void **state)
{
	(void)state;
	struct msg m;
	head(&m, 12, RESP, 1, 0, 0, "_api._tcp.example", DNS_T_SRV);
	name(&m, "_api._tcp.example");
	u16(&m, DNS_T_SRV);
	u16(&m, 1);
	u32(&m, 9);
	u16(&m, 8);
	u16(&m, 1);
	u16(&m, 1);
	u16(&m, 80);
	u16(&m, 0xc000 | 12); /* the question's name */
	assert_int_equal(parse(&m, 12, "_api._tcp.example", DNS_T_SRV), 0);
	assert_int_equal(A->nsrv, 1);
	assert_string_equal(A->srv[0].target, "_api._tcp.example");
	/* A pointer past the end is malformed. */
	m.b[m.n - 1] = 0xff;
	m.b[m.n - 2] = 0xcf;
	int rc = parse(&m, 12, "_api._tcp.example", DNS_T_SRV);
	assert_true(rc == -1 || A->nsrv == 0);
}

static void bounded(void **state)
{
	(void)state;
	static struct msg m;
	unsigned n = DNS_ANSWER_MAX_RECORDS + 44;
	head(&m, 1, RESP, n + 1, 0, 0, "flood.example", DNS_T_A);
	for (unsigned i = 0; i < n; i++) {
		char ip[32];
		snprintf(ip, sizeof ip, "10.1.%u.%u", i / 250, i % 250 + 1);
		rr_a(&m, "flood.example", 0, ip);
	}
	rr_head(&m, "flood.example", DNS_T_A, 0, 5); /* a wrong length */
	m.n += 5;
	assert_int_equal(parse(&m, 1, "flood.example", DNS_T_A), 0);
	assert_int_equal(A->naddr, DNS_ANSWER_MAX_RECORDS);
	assert_int_equal(A->dropped, 45);
	assert_int_equal(A->min_ttl, 0);
	/* Larger than an answer can be */
	assert_int_equal(dns_answer_parse(m.b, DNS_ANSWER_MAX + 1, 1, "flood.example", DNS_T_A, A,
	                                  why, sizeof why),
	                 -1);
}

static void every_prefix(void **state)
{
	(void)state;
	struct msg m;
	head(&m, 11, RESP, 1, 0, 1, "_api._tcp.example", DNS_T_SRV);
	rr_srv(&m, "_api._tcp.example", 5, 10, 3, 15443, "h3.example");
	rr_a(&m, "h3.example", 2, "10.0.0.3");
	for (size_t len = 0; len < m.n; len++) {
		int rc = dns_answer_parse(m.b, len, 11, "_api._tcp.example", DNS_T_SRV, A, why,
		                          sizeof why);
		assert_int_equal(rc, -1);
	}
	assert_int_equal(parse(&m, 11, "_api._tcp.example", DNS_T_SRV), 0);
}

static void names(void **state)
{
	(void)state;
	char b[16];
	assert_true(dns_name_norm("A.Example.", b, sizeof b));
	assert_string_equal(b, "a.example");
	assert_false(dns_name_norm("a-much-longer-name.example", b, sizeof b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_build),
		cmocka_unit_test(a_records),
		cmocka_unit_test(cname_chain),
		cmocka_unit_test(cname_chain_out_of_order),
		cmocka_unit_test(not_our_answer),
		cmocka_unit_test(negative),
		cmocka_unit_test(truncated),
		cmocka_unit_test(srv_additional),
		cmocka_unit_test(srv_compressed_target),
		cmocka_unit_test(bounded),
		cmocka_unit_test(every_prefix),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
