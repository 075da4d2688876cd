/*
 * fuzz_dns: a DNS query as meshd's DNS listener reads it from any local
 * program (daemon/dns_msg.c: libresolv's parser, then the answer writer).
 * Each input is answered from two snapshots (suffix "mesh" and a
 * three-label suffix), over UDP with a 512-byte and a large buffer and
 * over TCP, and each answer must be what clients rely on: no longer than
 * the buffer (512 bytes over UDP without a larger buffer), a message
 * libresolv parses whole, the query's id, QR set, the question echoed
 * when there is one, and every A record inside the VIP range.
 */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_msg.h"
#include "snapshot.h"
#include "fuzz.h"

static void *bufs[2];
static struct snap_view views[2];

static void make(unsigned i, const char *suffix)
{
	static const uint16_t hello[] = { 80, 8080 }, one[] = { 5432 };
	static uint16_t many[16];
	for (unsigned k = 0; k < 16; k++)
		many[k] = (uint16_t)(9000 + k);
	struct snap_svc_in svcs[] = {
		{ "hello", htonl(0x7f4d0002u), hello, 2, 0, { 0 } },
		{ "db", htonl(0x7f4d0003u), one, 1, 0, { 0 } },
		{ "a23456789012345678901234567890123456789012345678901234567890123",
		  htonl(0x7f4d0009u), many, 16, 0, { 0 } },
	};
	size_t len;
	/* db has an IPv6 VIP (fd6d:6573:6800::3) in fd6d:6573:6800::/64 */
	static const uint8_t net6[16] = { 0xfd, 0x6d, 0x65, 0x73, 0x68, 0x00 };
	svcs[1].vip6[0] = 0xfd;
	svcs[1].vip6[1] = 0x6d;
	svcs[1].vip6[2] = 0x65;
	svcs[1].vip6[3] = 0x73;
	svcs[1].vip6[4] = 0x68;
	svcs[1].vip6[15] = 3;
	CHECK(snapshot_encode(suffix, NULL, 3, htonl(0x7f4d0000u), 16, net6, 64, svcs, 3, NULL, 0,
	                      &bufs[i], &len) == 0);
	CHECK(snapshot_view(&views[i], bufs[i], len) == 0);
}

static void check(const struct snap_view *v, const uint8_t *q, size_t qlen, bool tcp, size_t outmax)
{
	static unsigned char out[DNS_ANSWER_MAX];
	struct dns_result r;
	size_t n = dns_msg_answer(v, q, qlen, tcp, out, outmax, &r);
	CHECK(n <= outmax);
	CHECK((n > 0) == r.answered);
	if (!n)
		return;
	ns_msg m;
	CHECK(ns_initparse(out, (int)n, &m) == 0);
	CHECK(out[0] == q[0] && out[1] == q[1]);
	CHECK(ns_msg_getflag(m, ns_f_qr) == 1);
	CHECK(ns_msg_count(m, ns_s_qd) <= 1);
	CHECK(r.truncated == (ns_msg_getflag(m, ns_f_tc) == 1));
	for (int s = ns_s_an; s <= ns_s_ar; s++) {
		for (int i = 0; i < ns_msg_count(m, (ns_sect)s); i++) {
			ns_rr rr;
			CHECK(ns_parserr(&m, (ns_sect)s, i, &rr) == 0);
			if (ns_rr_type(rr) == ns_t_a) {
				uint32_t ip;
				CHECK(ns_rr_rdlen(rr) == 4);
				memcpy(&ip, ns_rr_rdata(rr), 4);
				CHECK(snapshot_vip_ok(v, ip));
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!bufs[0]) {
		make(0, "mesh");
		make(1, "svc.cluster.local");
	}
	/* An exact-size copy: the parser must not read past the packet. */
	uint8_t *q = malloc(size ? size : 1);
	if (!q)
		return 0;
	memcpy(q, data, size);
	for (unsigned i = 0; i < 2; i++) {
		check(&views[i], q, size, false, DNS_UDP_PLAIN);
		check(&views[i], q, size, false, DNS_ANSWER_MAX);
		check(&views[i], q, size, true, DNS_ANSWER_MAX);
	}
	check(NULL, q, size, false, DNS_UDP_PLAIN);
	free(q);
	return 0;
}
