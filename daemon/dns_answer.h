/*
 * DNS questions and answers for endpoint discovery (pure: no I/O, no
 * clock, no logging). dns_query_build writes one question (with an EDNS0
 * OPT record so that a server may answer up to DNS_UDP_MAX bytes over
 * UDP); dns_answer_parse reads what a server sent back with glibc's
 * ns_initparse/ns_parserr and keeps what discovery uses: the response
 * code, the A/AAAA or SRV records of the name asked (following CNAMEs),
 * the A/AAAA records of the additional section (SRV targets' addresses)
 * and the smallest TTL. A DNS server is hostile input: the answer is at
 * most DNS_ANSWER_MAX bytes (a TCP answer's length field cannot say more),
 * at most DNS_ANSWER_MAX_RECORDS records of each kind are kept (the rest
 * are counted in `dropped`), names longer than DNS_NAME_MAX are skipped,
 * and an answer to another question (id, name, type) is refused.
 */
#ifndef MESHD_DNS_ANSWER_H
#define MESHD_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_T_A 1
#define DNS_T_CNAME 5
#define DNS_T_SOA 6
#define DNS_T_AAAA 28
#define DNS_T_SRV 33

#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED 5

#define DNS_ANSWER_MAX 65535       /* bytes of one answer, UDP or TCP */
#define DNS_UDP_MAX 4096           /* what the OPT record offers */
#define DNS_QUERY_MAX 300          /* a question with the longest name */
#define DNS_ANSWER_MAX_RECORDS 256 /* kept per kind: CFG_MAX_ENDPOINTS */
#define DNS_NAME_MAX 254           /* presentation form, NUL included */
#define DNS_CNAME_MAX 8            /* CNAMEs followed from the name asked */

struct dns_addr_rec {
	char name[DNS_NAME_MAX]; /* owner, lower case, no trailing dot */
	int family;              /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	uint32_t ttl;
	bool additional; /* from the additional section */
};

struct dns_srv_rec {
	char target[DNS_NAME_MAX]; /* lower case, no trailing dot; "" is "." */
	uint16_t prio, weight, port;
	uint32_t ttl;
};

struct dns_answer {
	int rcode;
	bool truncated; /* TC: ask again over TCP */
	bool authoritative;
	unsigned naddr, nsrv;
	unsigned dropped; /* records beyond DNS_ANSWER_MAX_RECORDS, or unusable */
	uint32_t min_ttl; /* of the records kept; of the SOA when none (0: none) */
	bool have_ttl;
	struct dns_addr_rec addr[DNS_ANSWER_MAX_RECORDS];
	struct dns_srv_rec srv[DNS_ANSWER_MAX_RECORDS];
};

/* The question `name` (presentation form), type qtype, id, recursion
 * desired, into buf: its length, or -1 (a name DNS cannot carry). */
int dns_query_build(unsigned char *buf, size_t len, uint16_t id, const char *name, uint16_t qtype);

/* Parse msg (len bytes) as the answer to (id, name, qtype) into *out.
 * 0, or -1 with why filled (malformed, too large, another question, not a
 * response). */
int dns_answer_parse(const unsigned char *msg, size_t len, uint16_t id, const char *name,
                     uint16_t qtype, struct dns_answer *out, char *why, size_t whylen);

/* "NXDOMAIN", "SERVFAIL", ... or "rcode N" in buf. */
const char *dns_rcode_str(int rcode, char *buf, size_t len);

/* Lower-case copy of a presentation name without its trailing dot; false
 * when it does not fit. */
bool dns_name_norm(const char *in, char *out, size_t len);

#endif
