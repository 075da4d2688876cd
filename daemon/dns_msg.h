/*
 * DNS answers for mesh names (dns_msg.c): one query in, one answer out,
 * from a read-only route snapshot (shim/snapshot.h), the same data the
 * shim answers from. Pure: no I/O, no allocation, no global state; the
 * listener (dns_serve.c) and the fuzz target call it the same way.
 *
 * What is answered (SUFFIX is the snapshot's suffix, "mesh" by default):
 *
 *   NAME, NAME.SUFFIX            A: the VIP; AAAA: dns_svc_aaaa(); SRV: one
 *                                record per port; PTR and others: no data
 *   _PORT._tcp.NAME[.SUFFIX]     SRV for that port (Kubernetes' form, with
 *                                the port's number as its name)
 *   _NAME._tcp.SUFFIX            SRV for every port (RFC 2782, Consul's form)
 *   D.C.B.A.in-addr.arpa         PTR NAME.SUFFIX for a VIP; NXDOMAIN for
 *                                another address in the VIP range
 *   SUFFIX                       SOA (a synthetic one: the negative TTL)
 *   any other name under SUFFIX  NXDOMAIN
 *   any other name               REFUSED, so that a stub resolver moves on
 *                                to its next nameserver
 *
 * SRV targets are NAME.SUFFIX, with its A record in the additional section.
 * Every answer about a mesh name is authoritative (AA). TTLs are
 * DNS_TTL: a VIP stays with its service across reloads, but a service
 * removed from the config must stop resolving soon, and one added must
 * start soon after (the negative TTL is the same).
 *
 * Malformed queries get FORMERR (when the header can be read; otherwise
 * nothing), opcodes other than QUERY get NOTIMP, responses (QR set) get
 * nothing. EDNS(0): an OPT record in the query is answered with one of
 * ours (DNS_EDNS_SIZE, the DO bit copied); its UDP payload size bounds a UDP
 * answer (at least 512 bytes, at most the caller's buffer); without OPT a
 * UDP answer is at most 512 bytes. An answer that does not fit is sent with
 * TC set and no records, so that the client asks again over TCP. No address
 * outside the snapshot's VIP range is ever answered (snapshot_vip_ok).
 */
#ifndef MESHD_DNS_MSG_H
#define MESHD_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

#define DNS_TTL 5           /* seconds, answers and negative answers */
#define DNS_UDP_PLAIN 512   /* a UDP answer without EDNS */
#define DNS_EDNS_SIZE 1232  /* the UDP payload size we advertise */
#define DNS_QUERY_MAX 4096  /* longest query read (UDP datagram, TCP message) */
#define DNS_ANSWER_MAX 8192 /* the listener's answer buffer */
#define DNS_SRV_PRIORITY 0
#define DNS_SRV_WEIGHT 1

/* What an answer said, for the listener's counters. */
struct dns_result {
	int rcode;      /* 0..15 in the header; 16 (BADVERS) through EDNS */
	bool answered;  /* an answer was built (false: send nothing) */
	bool truncated; /* TC set */
	bool mesh;      /* the name was one of ours (AA set) */
	uint16_t qtype; /* 0 when no question was read */
};

/*
 * Answer the query q (qlen bytes) from v (NULL: no routes are published;
 * every query is REFUSED) into out (outmax bytes, at least 512). tcp: the
 * query came over TCP (no 512-byte or EDNS bound, only outmax). Returns
 * the answer's length, 0 when nothing is to be sent. *res (may be NULL)
 * says what was answered.
 */
size_t dns_msg_answer(const struct snap_view *v, const unsigned char *q, size_t qlen, bool tcp,
                      unsigned char *out, size_t outmax, struct dns_result *res);

/*
 * The IPv6 VIP of s, if it has one: 1 and the address in out, else 0.
 * The one place AAAA answers come from (the snapshot's vip6, present when
 * the config has vip6_range); a service without one answers AAAA with no
 * data (NOERROR).
 */
int dns_svc_aaaa(const struct snap_view *v, const struct snap_svc *s, unsigned char out[16]);

/* The name of an rcode ("NOERROR", "NXDOMAIN", ...), for logs. */
const char *dns_rcode_name(int rcode);

#endif
