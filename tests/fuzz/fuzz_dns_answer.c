/*
 * fuzz_dns_answer: what a DNS server sends discovery's questions
 * (daemon/dns_answer.c, read by dns_client.c for dns: and srv: entries).
 * Each input is parsed twice: as the answer to the question it carries
 * itself (its id, name and type, when glibc can read them, so that the
 * fuzzer reaches the records) and as the answer to a fixed SRV question.
 * Besides memory errors it checks what dns_client.c relies on: the result
 * is 0 or -1; on 0 the record counts are within DNS_ANSWER_MAX_RECORDS,
 * every name is NUL-terminated within DNS_NAME_MAX and lower case with no
 * trailing dot, addresses are AF_INET or AF_INET6, a truncated answer
 * carries no records, the answer keeps records only of the type asked, and
 * a TTL comes with any record of the answer section.
 */
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_answer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static struct dns_answer a;

static void check_name(const char *s)
{
	size_t l = strnlen(s, DNS_NAME_MAX);
	CHECK(l < DNS_NAME_MAX);
	CHECK(l == 0 || s[l - 1] != '.');
	for (size_t i = 0; i < l; i++)
		CHECK(!(s[i] >= 'A' && s[i] <= 'Z'));
}

static void one(const uint8_t *d, size_t n, uint16_t id, const char *name, uint16_t qtype)
{
	char why[256];
	int rc = dns_answer_parse(d, n, id, name, qtype, &a, why, sizeof why);
	CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		CHECK(strnlen(why, sizeof why) < sizeof why && why[0]);
		return;
	}
	CHECK(n >= NS_HFIXEDSZ && n <= DNS_ANSWER_MAX);
	CHECK(a.naddr <= DNS_ANSWER_MAX_RECORDS && a.nsrv <= DNS_ANSWER_MAX_RECORDS);
	CHECK(a.rcode >= 0 && a.rcode <= 15);
	if (a.truncated)
		CHECK(a.naddr == 0 && a.nsrv == 0);
	if (qtype != DNS_T_SRV)
		CHECK(a.nsrv == 0);
	unsigned kept = a.nsrv;
	for (unsigned i = 0; i < a.naddr; i++) {
		CHECK(a.addr[i].family == AF_INET || a.addr[i].family == AF_INET6);
		kept += !a.addr[i].additional;
		check_name(a.addr[i].name);
		if (!a.addr[i].additional)
			CHECK((a.addr[i].family == AF_INET) == (qtype == DNS_T_A));
	}
	for (unsigned i = 0; i < a.nsrv; i++)
		check_name(a.srv[i].target);
	/* The records of the answer section set the TTL (the additional
	 * section's do not). */
	if (kept)
		CHECK(a.have_ttl);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	ns_msg m;
	ns_rr rr;
	if (n <= 65535 && ns_initparse(d, (int)n, &m) == 0 && ns_msg_count(m, ns_s_qd) >= 1 &&
	    ns_parserr(&m, ns_s_qd, 0, &rr) == 0) {
		char name[NS_MAXDNAME];
		snprintf(name, sizeof name, "%s", ns_rr_name(rr));
		one(d, n, ns_msg_id(m), name, (uint16_t)ns_rr_type(rr));
	}
	one(d, n, n >= 2 ? (uint16_t)(d[0] << 8 | d[1]) : 0, "_api._tcp.service.consul", DNS_T_SRV);
	return 0;
}
