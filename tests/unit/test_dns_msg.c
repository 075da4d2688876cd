/*
 * Unit tests of the DNS answers (daemon/dns_msg.c): queries made with
 * libresolv's res_mkquery (and by hand where a query must be odd), answers
 * read back with ns_initparse/ns_parserr, against a snapshot encoded by
 * shim/snapshot.c as meshd publishes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <cmocka.h>

#include "dns_msg.h"
#include "snapshot.h"

static const uint16_t hello_ports[] = { 80, 8080 };
static const uint16_t db_ports[] = { 5432 };
static uint16_t many_ports[16];
/* 63 characters: the longest service name; 16 ports of SRV with this
 * target do not fit in 512 bytes. */
#define LONG_NAME "a23456789012345678901234567890123456789012345678901234567890123"

static void *snap_buf;
static size_t snap_len;
static struct snap_view view;

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

#define DB_VIP6 "fd6d:6573:6800::3"

static void make_view(const char *suffix)
{
	for (unsigned i = 0; i < 16; i++)
		many_ports[i] = (uint16_t)(9000 + i);
	struct snap_svc_in svcs[] = {
		{ "hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } },
		{ "db", ip4("127.77.0.3"), db_ports, 1, 0, { 0 } },
		{ LONG_NAME, ip4("127.77.0.9"), many_ports, 16, 0, { 0 } },
	};
	/* db has an IPv6 VIP too (vip6_range), the others IPv4 only */
	uint8_t net6[16];
	assert_int_equal(inet_pton(AF_INET6, "fd6d:6573:6800::", net6), 1);
	assert_int_equal(inet_pton(AF_INET6, DB_VIP6, svcs[1].vip6), 1);
	free(snap_buf);
	assert_int_equal(snapshot_encode(suffix, NULL, 7, ip4("127.77.0.0"), 16, net6, 64, svcs, 3,
	                                 NULL, 0, &snap_buf, &snap_len),
	                 0);
	assert_int_equal(snapshot_view(&view, snap_buf, snap_len), 0);
}

static int setup(void **state)
{
	(void)state;
	make_view("mesh");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(snap_buf);
	snap_buf = NULL;
	return 0;
}

struct reply {
	size_t len;
	unsigned char buf[DNS_ANSWER_MAX];
	ns_msg m;
	struct dns_result res;
};

static size_t mkquery(const char *name, int type, unsigned char *q, size_t qmax)
{
	int n = res_mkquery(ns_o_query, name, ns_c_in, type, NULL, 0, NULL, q, (int)qmax);
	assert_true(n > 0);
	return (size_t)n;
}

/* Append an OPT record (EDNS version, UDP size) to query q. */
static size_t add_opt(unsigned char *q, size_t n, unsigned size, unsigned version)
{
	unsigned char opt[11] = { 0,
		                  0,
		                  41,
		                  (unsigned char)(size >> 8),
		                  (unsigned char)size,
		                  0,
		                  (unsigned char)version,
		                  0x80,
		                  0,
		                  0,
		                  0 };
	memcpy(q + n, opt, sizeof opt);
	q[11] = (unsigned char)(q[11] + 1);
	return n + sizeof opt;
}

static void answer_raw(const unsigned char *q, size_t qn, bool tcp, size_t outmax, struct reply *r)
{
	r->len = dns_msg_answer(&view, q, qn, tcp, r->buf, outmax, &r->res);
	assert_true(r->len <= outmax);
	if (r->len)
		assert_int_equal(ns_initparse(r->buf, (int)r->len, &r->m), 0);
}

static void ask(const char *name, int type, struct reply *r)
{
	unsigned char q[512];
	size_t n = mkquery(name, type, q, sizeof q);
	answer_raw(q, n, false, sizeof r->buf, r);
	assert_int_equal(ns_msg_id(r->m), (q[0] << 8) | q[1]);
}

static void rr(struct reply *r, ns_sect s, int i, ns_rr *out)
{
	assert_int_equal(ns_parserr(&r->m, s, i, out), 0);
}

static void test_a(void **state)
{
	(void)state;
	struct reply r;
	ns_rr a;
	const char *names[] = { "hello.mesh", "hello", "HeLLo.MESH.", "hello." };
	for (unsigned k = 0; k < 4; k++) {
		ask(names[k], ns_t_a, &r);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 1);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_qr), 1);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rd), 1);
		assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
		rr(&r, ns_s_an, 0, &a);
		assert_int_equal(ns_rr_type(a), ns_t_a);
		assert_int_equal(ns_rr_ttl(a), DNS_TTL);
		assert_int_equal(ns_rr_rdlen(a), 4);
		uint32_t ip;
		memcpy(&ip, ns_rr_rdata(a), 4);
		assert_int_equal(ip, ip4("127.77.0.2"));
		ns_rr q;
		rr(&r, ns_s_qd, 0, &q);
		/* the question as asked, its case kept (0x20 randomisation) */
		char want[64];
		snprintf(want, sizeof want, "%s", names[k]);
		if (want[strlen(want) - 1] == '.')
			want[strlen(want) - 1] = '\0';
		assert_string_equal(ns_rr_name(q), want);
		assert_string_equal(ns_rr_name(a), want);
	}
}

static void test_aaaa_nodata(void **state)
{
	(void)state;
	struct reply r;
	ns_rr soa;
	ask("hello.mesh", ns_t_aaaa, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 1);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	assert_int_equal(ns_msg_count(r.m, ns_s_ns), 1);
	rr(&r, ns_s_ns, 0, &soa);
	assert_int_equal(ns_rr_type(soa), ns_t_soa);
	assert_string_equal(ns_rr_name(soa), "mesh");
	/* the minimum (negative TTL) is the last word of the rdata */
	const unsigned char *end = ns_rr_rdata(soa) + ns_rr_rdlen(soa);
	assert_int_equal(ns_get32(end - 4), DNS_TTL);
	/* other types of a service name: no data either */
	ask("hello.mesh", ns_t_txt, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	/* the bare name is not under the suffix: no SOA */
	ask("hello", ns_t_aaaa, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	assert_int_equal(ns_msg_count(r.m, ns_s_ns), 0);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 1);
}

/* A service with an IPv6 VIP: AAAA answers it, for both spellings, and
 * an SRV answer adds it next to the A. */
static void test_aaaa_vip6(void **state)
{
	(void)state;
	struct reply r;
	ns_rr a;
	uint8_t want[16];
	assert_int_equal(inet_pton(AF_INET6, DB_VIP6, want), 1);
	const char *names[] = { "db.mesh", "db", "DB.mesh." };
	for (unsigned k = 0; k < 3; k++) {
		ask(names[k], ns_t_aaaa, &r);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 1);
		assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
		rr(&r, ns_s_an, 0, &a);
		assert_int_equal(ns_rr_type(a), ns_t_aaaa);
		assert_int_equal(ns_rr_ttl(a), DNS_TTL);
		assert_int_equal(ns_rr_rdlen(a), 16);
		assert_memory_equal(ns_rr_rdata(a), want, 16);
	}
	/* its A is still the IPv4 VIP */
	ask("db.mesh", ns_t_a, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
	rr(&r, ns_s_an, 0, &a);
	assert_int_equal(ns_rr_type(a), ns_t_a);
	/* SRV: the target's A and AAAA in the additional section */
	ask("_5432._tcp.db.mesh", ns_t_srv, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
	int seen6 = 0;
	for (int i = 0; i < ns_msg_count(r.m, ns_s_ar); i++) {
		rr(&r, ns_s_ar, i, &a);
		if (ns_rr_type(a) == ns_t_aaaa) {
			assert_string_equal(ns_rr_name(a), "db.mesh");
			assert_memory_equal(ns_rr_rdata(a), want, 16);
			seen6++;
		}
	}
	assert_int_equal(seen6, 1);
}

/* SRV ports of an answer, in order, and the additional A's owner. */
static unsigned srv_ports(struct reply *r, uint16_t *ports, const char *target)
{
	unsigned n = (unsigned)ns_msg_count(r->m, ns_s_an);
	for (unsigned i = 0; i < n; i++) {
		ns_rr s;
		char name[NS_MAXDNAME];
		rr(r, ns_s_an, (int)i, &s);
		assert_int_equal(ns_rr_type(s), ns_t_srv);
		const unsigned char *d = ns_rr_rdata(s);
		assert_int_equal(ns_get16(d), DNS_SRV_PRIORITY);
		assert_int_equal(ns_get16(d + 2), DNS_SRV_WEIGHT);
		ports[i] = ns_get16(d + 4);
		assert_true(dn_expand(r->buf, r->buf + r->len, d + 6, name, sizeof name) > 0);
		assert_string_equal(name, target);
	}
	return n;
}

static void check_additional_a(struct reply *r, const char *target, const char *ip)
{
	ns_rr a;
	assert_true(ns_msg_count(r->m, ns_s_ar) >= 1);
	rr(r, ns_s_ar, 0, &a);
	assert_int_equal(ns_rr_type(a), ns_t_a);
	assert_string_equal(ns_rr_name(a), target);
	uint32_t got;
	memcpy(&got, ns_rr_rdata(a), 4);
	assert_int_equal(got, ip4(ip));
}

static void test_srv(void **state)
{
	(void)state;
	struct reply r;
	uint16_t ports[32];
	const char *all[] = { "hello.mesh", "hello", "_hello._tcp.mesh" };
	for (unsigned k = 0; k < 3; k++) {
		ask(all[k], ns_t_srv, &r);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 1);
		assert_int_equal(srv_ports(&r, ports, "hello.mesh"), 2);
		assert_int_equal(ports[0], 80);
		assert_int_equal(ports[1], 8080);
		check_additional_a(&r, "hello.mesh", "127.77.0.2");
	}
	ask("_8080._tcp.hello.mesh", ns_t_srv, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	assert_int_equal(srv_ports(&r, ports, "hello.mesh"), 1);
	assert_int_equal(ports[0], 8080);
	check_additional_a(&r, "hello.mesh", "127.77.0.2");
	ask("_5432._tcp.db", ns_t_srv, &r);
	assert_int_equal(srv_ports(&r, ports, "db.mesh"), 1);
	assert_int_equal(ports[0], 5432);
	/* an A query for an SRV name: no data */
	ask("_8080._tcp.hello.mesh", ns_t_a, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	/* names above an SRV name exist (no data), other ports do not */
	ask("_tcp.hello.mesh", ns_t_srv, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	ask("_tcp.mesh", ns_t_srv, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	const char *none[] = { "_9999._tcp.hello.mesh", "_80._udp.hello.mesh",
		               "_x._tcp.hello.mesh",    "_nope._tcp.mesh",
		               "_0._tcp.hello.mesh",    "_99999._tcp.hello.mesh" };
	for (unsigned k = 0; k < sizeof none / sizeof none[0]; k++) {
		ask(none[k], ns_t_srv, &r);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_nxdomain);
	}
}

static void test_nxdomain_refused(void **state)
{
	(void)state;
	struct reply r;
	ns_rr soa;
	const char *nx[] = { "nope.mesh", "x.hello.mesh", "a.b.c.mesh" };
	for (unsigned k = 0; k < 3; k++) {
		ask(nx[k], ns_t_a, &r);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_nxdomain);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 1);
		assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
		assert_int_equal(ns_msg_count(r.m, ns_s_ns), 1);
		rr(&r, ns_s_ns, 0, &soa);
		assert_int_equal(ns_rr_type(soa), ns_t_soa);
		assert_false(r.res.truncated);
	}
	/* a name with a dot inside a label is not "hello" under the suffix */
	const char *refused[] = { "example.com", "nope", "hello\\.mesh", "mesh.example.com", "." };
	for (unsigned k = 0; k < sizeof refused / sizeof refused[0]; k++) {
		ask(refused[k], ns_t_a, &r);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_refused);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 0);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_ra), 0);
		assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
		assert_int_equal(ns_msg_count(r.m, ns_s_qd), 1);
		assert_false(r.res.mesh);
	}
	/* the suffix itself: SOA */
	ask("mesh", ns_t_soa, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
	ask("MESH", ns_t_a, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	assert_int_equal(ns_msg_count(r.m, ns_s_ns), 1);
	/* no zone transfers, no other classes */
	ask("mesh", ns_t_axfr, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_refused);
	unsigned char q[512];
	int n = res_mkquery(ns_o_query, "hello.mesh", ns_c_chaos, ns_t_a, NULL, 0, NULL, q,
	                    sizeof q);
	assert_true(n > 0);
	answer_raw(q, (size_t)n, false, sizeof r.buf, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_refused);
}

static void test_ptr(void **state)
{
	(void)state;
	struct reply r;
	ns_rr p;
	char name[NS_MAXDNAME];
	ask("2.0.77.127.in-addr.arpa", ns_t_ptr, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_noerror);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
	rr(&r, ns_s_an, 0, &p);
	assert_int_equal(ns_rr_type(p), ns_t_ptr);
	assert_true(dn_expand(r.buf, r.buf + r.len, ns_rr_rdata(p), name, sizeof name) > 0);
	assert_string_equal(name, "hello.mesh");
	ask("200.0.77.127.in-addr.arpa", ns_t_ptr, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_nxdomain);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_aa), 1);
	const char *refused[] = { "1.0.0.10.in-addr.arpa", "2.0.78.127.in-addr.arpa",
		                  "77.127.in-addr.arpa", "256.0.77.127.in-addr.arpa",
		                  "x.0.77.127.in-addr.arpa" };
	for (unsigned k = 0; k < sizeof refused / sizeof refused[0]; k++) {
		ask(refused[k], ns_t_ptr, &r);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_refused);
	}
}

static void test_malformed(void **state)
{
	(void)state;
	struct reply r;
	unsigned char q[512];
	size_t n = mkquery("hello.mesh", ns_t_a, q, sizeof q);

	/* shorter than a header: nothing */
	assert_int_equal(dns_msg_answer(&view, q, 11, false, r.buf, sizeof r.buf, &r.res), 0);
	assert_false(r.res.answered);
	/* a response: nothing (no answer loops) */
	q[2] |= 0x80;
	assert_int_equal(dns_msg_answer(&view, q, n, false, r.buf, sizeof r.buf, NULL), 0);
	q[2] &= 0x7f;
	/* truncated question, trailing bytes, two questions: FORMERR */
	size_t lens[] = { n - 1, n - 3, 13 };
	for (unsigned k = 0; k < 3; k++) {
		answer_raw(q, lens[k], false, sizeof r.buf, &r);
		assert_int_equal(r.len, NS_HFIXEDSZ);
		assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_formerr);
		assert_int_equal(ns_msg_id(r.m), (q[0] << 8) | q[1]);
	}
	unsigned char big[600];
	memcpy(big, q, n);
	big[n] = 0;
	answer_raw(big, n + 1, false, sizeof r.buf, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_formerr);
	q[5] = 2;
	answer_raw(q, n, false, sizeof r.buf, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_formerr);
	q[5] = 0;
	answer_raw(q, n, false, sizeof r.buf, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_formerr);
	q[5] = 1;
	/* a compression loop in the question */
	unsigned char loop[] = { 0x12, 0x34, 0x01, 0x00, 0,  1, 0, 0, 0,
		                 0,    0,    0,    0xc0, 12, 0, 1, 0, 1 };
	answer_raw(loop, sizeof loop, false, sizeof r.buf, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_formerr);
	/* other opcodes: NOTIMP, the opcode echoed */
	q[2] = (unsigned char)((q[2] & 0x87) | (ns_o_notify << 3));
	answer_raw(q, n, false, sizeof r.buf, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_notimpl);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_opcode), ns_o_notify);
	/* two OPT records: FORMERR */
	n = mkquery("hello.mesh", ns_t_a, q, sizeof q);
	n = add_opt(q, n, 1232, 0);
	n = add_opt(q, n, 1232, 0);
	answer_raw(q, n, false, sizeof r.buf, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_formerr);
}

static bool has_opt(struct reply *r, unsigned *size, uint32_t *ttl)
{
	for (int i = 0; i < ns_msg_count(r->m, ns_s_ar); i++) {
		ns_rr o;
		rr(r, ns_s_ar, i, &o);
		if (ns_rr_type(o) == 41) {
			*size = ns_rr_class(o);
			*ttl = ns_rr_ttl(o);
			return true;
		}
	}
	return false;
}

static void test_edns_and_tc(void **state)
{
	(void)state;
	struct reply r;
	unsigned char q[512];
	unsigned size;
	uint32_t ttl;
	char target[128];
	uint16_t ports[32];
	snprintf(target, sizeof target, "%s.mesh", LONG_NAME);

	/* without EDNS: 16 SRV records of a long target do not fit in 512 */
	size_t n = mkquery(LONG_NAME ".mesh", ns_t_srv, q, sizeof q);
	answer_raw(q, n, false, sizeof r.buf, &r);
	assert_true(r.res.truncated);
	assert_true(r.len <= DNS_UDP_PLAIN);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_tc), 1);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	assert_int_equal(ns_msg_count(r.m, ns_s_qd), 1);
	/* over TCP all of it */
	answer_raw(q, n, true, sizeof r.buf, &r);
	assert_false(r.res.truncated);
	assert_true(r.len > DNS_UDP_PLAIN);
	assert_int_equal(srv_ports(&r, ports, target), 16);
	check_additional_a(&r, target, "127.77.0.9");
	/* with EDNS and 4096: all of it over UDP, our OPT in the answer */
	size_t n2 = add_opt(q, n, 4096, 0);
	answer_raw(q, n2, false, sizeof r.buf, &r);
	assert_false(r.res.truncated);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 16);
	assert_true(has_opt(&r, &size, &ttl));
	assert_int_equal(size, DNS_EDNS_SIZE);
	assert_int_equal(ttl, 0x8000); /* DO copied, version 0, no extended rcode */
	/* a caller's buffer smaller than its OPT says bounds the answer */
	answer_raw(q, n2, false, 600, &r);
	assert_true(r.res.truncated);
	assert_true(r.len <= 600);
	assert_true(has_opt(&r, &size, &ttl));
	/* EDNS with a size below 512 means 512 */
	q[11] = 0;
	n2 = add_opt(q, n, 100, 0);
	answer_raw(q, n2, false, sizeof r.buf, &r);
	assert_true(r.res.truncated);
	assert_true(r.len <= DNS_UDP_PLAIN);
	/* the additional A is dropped, not the answer, when only it does
	 * not fit: 16 SRV with the OPT fit in this bound, the A does not */
	q[11] = 0;
	n2 = add_opt(q, n, 4096, 0);
	answer_raw(q, n2, false, sizeof r.buf, &r);
	size_t full = r.len;
	answer_raw(q, n2, false, full - 1, &r);
	assert_false(r.res.truncated);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 16);
	assert_true(has_opt(&r, &size, &ttl));
	assert_int_equal(ns_msg_count(r.m, ns_s_ar), 1); /* the OPT only */
	/* EDNS version 1: BADVERS (extended rcode 1 in the OPT) */
	n = mkquery("hello.mesh", ns_t_a, q, sizeof q);
	n2 = add_opt(q, n, 1232, 1);
	answer_raw(q, n2, false, sizeof r.buf, &r);
	assert_int_equal(r.res.rcode, 16);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	assert_true(has_opt(&r, &size, &ttl));
	assert_int_equal(ttl >> 24, 1);
}

static void test_no_routes_and_no_suffix(void **state)
{
	(void)state;
	struct reply r;
	unsigned char q[512];
	size_t n = mkquery("hello.mesh", ns_t_a, q, sizeof q);
	r.len = dns_msg_answer(NULL, q, n, false, r.buf, sizeof r.buf, &r.res);
	assert_int_equal(ns_initparse(r.buf, (int)r.len, &r.m), 0);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_refused);

	make_view("");
	ask("hello", ns_t_a, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
	ask("hello.mesh", ns_t_a, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_refused);
	uint16_t ports[32];
	ask("hello", ns_t_srv, &r);
	assert_int_equal(srv_ports(&r, ports, "hello"), 2);
	make_view("svc.cluster.local");
	ask("hello.svc.cluster.local", ns_t_a, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 1);
	ask("nope.svc.cluster.local", ns_t_a, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_nxdomain);
	ask("hello.cluster.local", ns_t_a, &r);
	assert_int_equal(ns_msg_getflag(r.m, ns_f_rcode), ns_r_refused);
	make_view("mesh");
}

/* Whatever a (damaged) view says, no address outside its VIP range and
 * 127/8 is ever answered. */
static void test_never_outside_range(void **state)
{
	(void)state;
	struct reply r;
	struct snap_hdr *h = (struct snap_hdr *)snap_buf;
	uint32_t net = h->vip_net;
	unsigned prefix = h->vip_prefix;
	h->vip_net = ip4("127.99.0.0"); /* the view was checked: now it lies */
	ask("hello.mesh", ns_t_a, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_an), 0);
	ask("hello.mesh", ns_t_srv, &r);
	assert_int_equal(ns_msg_count(r.m, ns_s_ar), 0);
	h->vip_net = net;
	h->vip_prefix = prefix;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a),
		cmocka_unit_test(test_aaaa_nodata),
		cmocka_unit_test(test_aaaa_vip6),
		cmocka_unit_test(test_srv),
		cmocka_unit_test(test_nxdomain_refused),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_edns_and_tc),
		cmocka_unit_test(test_no_routes_and_no_suffix),
		cmocka_unit_test(test_never_outside_range),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
