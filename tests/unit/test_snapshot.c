/*
 * Unit tests of the route-snapshot codec (shim/snapshot.c): what meshd
 * encodes, the shim must read back exactly, and anything else - truncated,
 * foreign or hostile bytes - must be refused without reading out of bounds
 * (run under ASan by `make SANITIZE=address unit`).
 *
 * gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ishim \
 *     -o /tmp/test_snapshot tests/unit/test_snapshot.c shim/snapshot.c -lcmocka
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "snapshot.h"

/* 127.0.0.0/8, network order: the VIP range of these snapshots. */
#define VNET htonl(0x7f000000u)

static const uint16_t hello_ports[] = { 80, 8080 };
static const uint16_t db_ports[] = { 5432 };
static const uint16_t api_ports[] = { 443 };

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* Three services, deliberately unsorted, and one v4 and one v6 intercept
 * pointing at services by their index in this (unsorted) array. */
static int encode_sample(const char *suffix, void **buf, size_t *len)
{
	struct snap_svc_in svcs[] = {
		{ "hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } },
		{ "db", ip4("127.77.0.3"), db_ports, 1, 0, { 0 } },
		{ "api", ip4("127.77.0.4"), api_ports, 1, 0, { 0 } },
	};
	struct snap_icpt_in icpts[2];
	memset(icpts, 0, sizeof icpts);
	icpts[0].family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "10.1.2.3", icpts[0].addr), 1);
	icpts[0].port = 5432;
	icpts[0].svc = 1; /* db */
	icpts[1].family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", icpts[1].addr), 1);
	icpts[1].port = 443;
	icpts[1].svc = 2; /* api */
	return snapshot_encode(suffix, NULL, 42, VNET, 8, NULL, 0, svcs, 3, icpts, 2, buf, len);
}

static const char *svc_name(const struct snap_view *v, const struct snap_svc *s)
{
	return s ? snapshot_svc_name(v, s) : "(none)";
}

static void test_round_trip(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	struct snap_view v;

	assert_int_equal(encode_sample("mesh", &buf, &len), 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_int_equal(v.hdr->generation, 42);
	assert_int_equal(v.hdr->nservices, 3);
	assert_int_equal(v.hdr->nintercepts, 2);
	assert_string_equal(snapshot_suffix(&v), "mesh");

	/* Sorted by name for bsearch. */
	assert_string_equal(snapshot_svc_name(&v, &v.svcs[0]), "api");
	assert_string_equal(snapshot_svc_name(&v, &v.svcs[1]), "db");
	assert_string_equal(snapshot_svc_name(&v, &v.svcs[2]), "hello");

	const struct snap_svc *s = snapshot_find_name(&v, "hello");
	assert_non_null(s);
	assert_int_equal(s->vip, ip4("127.77.0.2"));
	assert_int_equal(s->nports, 2);
	assert_int_equal(s->ports[0], htons(80));
	assert_int_equal(s->ports[1], htons(8080));
	free(buf);
}

static void test_find_name_forms(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	struct snap_view v;

	assert_int_equal(encode_sample("mesh", &buf, &len), 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);

	const char *hits[] = { "hello", "hello.",     "hello.mesh",  "hello.mesh.",
		               "HELLO", "Hello.MESH", "HELLO.MESH.", "db.mesh" };
	for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++) {
		const struct snap_svc *s = snapshot_find_name(&v, hits[i]);
		assert_non_null(s);
		assert_true(strncasecmp(svc_name(&v, s), hits[i], strlen(svc_name(&v, s))) == 0);
	}

	const char *misses[] = { "",
		                 ".",
		                 "hell",
		                 "helloo",
		                 "hello.mes",
		                 "hello.meshx",
		                 "hello.other",
		                 "mesh",
		                 ".mesh",
		                 "hello..",
		                 "hello.mesh..",
		                 "x.hello.mesh",
		                 "hello.mesh.mesh",
		                 "example.com",
		                 "localhost",
		                 "127.77.0.2" };
	for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
		assert_null(snapshot_find_name(&v, misses[i]));
	assert_null(snapshot_find_name(&v, NULL));

	/* Over-long queries are refused, not scanned. */
	char longname[400];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_null(snapshot_find_name(&v, longname));
	free(buf);
}

static void test_no_suffix(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	struct snap_view v;

	assert_int_equal(encode_sample(NULL, &buf, &len), 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_string_equal(snapshot_suffix(&v), "");
	assert_non_null(snapshot_find_name(&v, "db"));
	assert_non_null(snapshot_find_name(&v, "DB."));
	assert_null(snapshot_find_name(&v, "db.mesh"));
	free(buf);
}

static void test_empty(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	struct snap_view v;

	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, NULL, 0, NULL, 0, &buf,
	                                 &len),
	                 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_null(snapshot_find_name(&v, "hello"));
	assert_null(snapshot_find_vip(&v, ip4("127.77.0.2")));
	uint8_t a[4] = { 10, 1, 2, 3 };
	assert_null(snapshot_find_intercept(&v, AF_INET, a, htons(5432)));
	free(buf);
}

static void test_find_vip(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	struct snap_view v;

	assert_int_equal(encode_sample("mesh", &buf, &len), 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_string_equal(svc_name(&v, snapshot_find_vip(&v, ip4("127.77.0.3"))), "db");
	assert_string_equal(svc_name(&v, snapshot_find_vip(&v, ip4("127.77.0.4"))), "api");
	assert_null(snapshot_find_vip(&v, ip4("127.77.0.5")));
	assert_null(snapshot_find_vip(&v, ip4("127.0.0.1")));
	free(buf);
}

static void test_intercepts(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	struct snap_view v;
	uint8_t a4[4], a6[16];

	assert_int_equal(encode_sample("mesh", &buf, &len), 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);

	/* v4: indices were remapped when the encoder sorted the services. */
	assert_int_equal(inet_pton(AF_INET, "10.1.2.3", a4), 1);
	const struct snap_icpt *ic = snapshot_find_intercept(&v, AF_INET, a4, htons(5432));
	assert_non_null(ic);
	assert_string_equal(svc_name(&v, &v.svcs[ic->svc]), "db");
	assert_null(snapshot_find_intercept(&v, AF_INET, a4, htons(5433)));
	a4[3] = 4;
	assert_null(snapshot_find_intercept(&v, AF_INET, a4, htons(5432)));

	/* v6 */
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", a6), 1);
	ic = snapshot_find_intercept(&v, AF_INET6, a6, htons(443));
	assert_non_null(ic);
	assert_string_equal(svc_name(&v, &v.svcs[ic->svc]), "api");
	assert_null(snapshot_find_intercept(&v, AF_INET6, a6, htons(80)));

	/* The v4 address in v6 form is a different key: callers map it. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.2.3", a6), 1);
	assert_null(snapshot_find_intercept(&v, AF_INET6, a6, htons(5432)));
	free(buf);
}

/* A writable, suitably aligned copy of an encoded sample. */
static unsigned char *sample_copy(size_t *len)
{
	void *buf;
	assert_int_equal(encode_sample("mesh", &buf, len), 0);
	return buf;
}

static struct snap_hdr *hdr_of(unsigned char *b)
{
	return (struct snap_hdr *)(void *)b;
}

static void test_truncated(void **state)
{
	(void)state;
	size_t len;
	unsigned char *b = sample_copy(&len);
	struct snap_view v;

	for (size_t n = 0; n < len; n++) {
		/* A fresh allocation of exactly n bytes, so that ASan sees
		 * any read beyond it. */
		unsigned char *p = malloc(n ? n : 1);
		assert_non_null(p);
		memcpy(p, b, n);
		assert_int_equal(snapshot_view(&v, p, n), -1);
		/* Even with total_len adjusted to match, the tables no
		 * longer fit. */
		if (n >= sizeof(struct snap_hdr)) {
			hdr_of(p)->total_len = (uint32_t)n;
			snapshot_seal(p, n);
			assert_int_equal(snapshot_view(&v, p, n), -1);
		}
		free(p);
	}
	assert_int_equal(snapshot_view(&v, NULL, len), -1);
	free(b);
}

static void test_longer_than_declared(void **state)
{
	(void)state;
	size_t len;
	unsigned char *b = sample_copy(&len);
	unsigned char *p = calloc(1, len + 8);
	struct snap_view v;
	memcpy(p, b, len);
	assert_int_equal(snapshot_view(&v, p, len + 8), -1);
	assert_int_equal(snapshot_view(&v, p, len), 0);
	free(p);
	free(b);
}

static void test_bad_header(void **state)
{
	(void)state;
	size_t len;
	unsigned char *b = sample_copy(&len);
	struct snap_view v;

	hdr_of(b)->magic[0] ^= 0x20;
	assert_int_equal(snapshot_view(&v, b, len), -1);
	hdr_of(b)->magic[0] ^= 0x20;
	assert_int_equal(snapshot_view(&v, b, len), 0);

	hdr_of(b)->version = SNAP_VERSION + 1;
	snapshot_seal(b, len);
	assert_int_equal(snapshot_view(&v, b, len), -1);
	hdr_of(b)->version = 0;
	snapshot_seal(b, len);
	assert_int_equal(snapshot_view(&v, b, len), -1);
	free(b);
}

/* Each mutation is applied to a fresh copy and must be refused. */
enum mutation {
	M_OFF_SERVICES_PAST_END,
	M_NSERVICES_HUGE,
	M_OFF_SERVICES_MISALIGNED,
	M_OFF_INTERCEPTS_PAST_END,
	M_NINTERCEPTS_HUGE,
	M_OFF_STRINGS_PAST_END,
	M_LEN_STRINGS_PAST_END,
	M_LEN_STRINGS_ZERO,
	M_SUFFIX_OFF_PAST_END,
	M_SUFFIX_LEN_PAST_END,
	M_NAME_OFF_PAST_END,
	M_NAME_LEN_PAST_END,
	M_NAME_NOT_TERMINATED,
	M_SUFFIX_NOT_TERMINATED,
	M_STRINGS_NOT_TERMINATED,
	M_NPORTS_TOO_MANY,
	M_ICPT_SVC_OUT_OF_RANGE,
	M_VIP_OUTSIDE_RANGE,
	M_RANGE_NOT_LOOPBACK,
	M_RANGE_PREFIX_BAD,
	M_NAME_EMBEDDED_NUL,
	M_SUFFIX_EMBEDDED_NUL,
	M_COUNT
};

static void mutate(unsigned char *b, size_t len, enum mutation m)
{
	struct snap_hdr *h = hdr_of(b);
	struct snap_svc *s = (struct snap_svc *)(void *)(b + h->off_services);
	struct snap_icpt *ic = (struct snap_icpt *)(void *)(b + h->off_intercepts);
	char *str = (char *)b + h->off_strings;

	switch (m) {
	case M_OFF_SERVICES_PAST_END:
		h->off_services = (uint32_t)len + 4;
		break;
	case M_NSERVICES_HUGE:
		h->nservices = 0x10000000u;
		break;
	case M_OFF_SERVICES_MISALIGNED:
		h->off_services += 1;
		break;
	case M_OFF_INTERCEPTS_PAST_END:
		h->off_intercepts = (uint32_t)len - 4;
		break;
	case M_NINTERCEPTS_HUGE:
		h->nintercepts = 0xffffffffu;
		break;
	case M_OFF_STRINGS_PAST_END:
		h->off_strings = (uint32_t)len + 1;
		break;
	case M_LEN_STRINGS_PAST_END:
		h->len_strings += 1;
		break;
	case M_LEN_STRINGS_ZERO:
		h->len_strings = 0;
		break;
	case M_SUFFIX_OFF_PAST_END:
		h->suffix_off = h->len_strings;
		break;
	case M_SUFFIX_LEN_PAST_END:
		h->suffix_len = h->len_strings;
		break;
	case M_NAME_OFF_PAST_END:
		s[1].name_off = 0xfffffff0u;
		break;
	case M_NAME_LEN_PAST_END:
		s[2].name_len = (uint16_t)h->len_strings;
		break;
	case M_NAME_NOT_TERMINATED:
		str[s[0].name_off + s[0].name_len] = 'x';
		break;
	case M_SUFFIX_NOT_TERMINATED:
		str[h->suffix_off + h->suffix_len] = 'x';
		break;
	case M_STRINGS_NOT_TERMINATED:
		str[h->len_strings - 1] = 'x';
		break;
	case M_NPORTS_TOO_MANY:
		s[0].nports = SNAP_MAX_PORTS + 1;
		break;
	case M_ICPT_SVC_OUT_OF_RANGE:
		ic[1].svc = h->nservices;
		break;
	/* A VIP that is not loopback: the shim would answer a name with it
	 * (a corrupted byte once made it answer 110.83.27.141). */
	case M_VIP_OUTSIDE_RANGE:
		s[1].vip = htonl(0x6e531b8du);
		break;
	case M_RANGE_NOT_LOOPBACK:
		h->vip_net = htonl(0x0a000000u);
		break;
	case M_RANGE_PREFIX_BAD:
		h->vip_prefix = 7;
		break;
	/* Lengths that count past a NUL: a reverse answer would carry it. */
	case M_NAME_EMBEDDED_NUL:
		str[s[0].name_off + 1] = '\0';
		break;
	case M_SUFFIX_EMBEDDED_NUL:
		str[h->suffix_off + 1] = '\0';
		break;
	case M_COUNT:
		break;
	}
}

static void test_bad_offsets(void **state)
{
	(void)state;
	size_t len;
	unsigned char *b = sample_copy(&len);
	unsigned char *p = malloc(len);
	struct snap_view v;

	for (int m = 0; m < M_COUNT; m++) {
		memcpy(p, b, len);
		assert_int_equal(snapshot_view(&v, p, len), 0);
		mutate(p, len, (enum mutation)m);
		/* Sealed, so that the bounds checks themselves are tested,
		 * not only the checksum. */
		snapshot_seal(p, len);
		if (snapshot_view(&v, p, len) != -1)
			fail_msg("mutation %d accepted", m);
	}
	free(p);
	free(b);
}

/* Any one byte changed in place (a file damaged while mapped) is refused
 * by the checksum, wherever it is. */
static void test_one_byte_corrupted(void **state)
{
	(void)state;
	size_t len;
	unsigned char *b = sample_copy(&len);
	struct snap_view v;

	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			b[i] ^= (unsigned char)(1u << bit);
			if (snapshot_view(&v, b, len) != -1)
				fail_msg("byte %zu bit %u flipped and accepted", i, bit);
			b[i] ^= (unsigned char)(1u << bit);
		}
	}
	assert_int_equal(snapshot_view(&v, b, len), 0);
	free(b);
}

/*
 * A name or suffix longer than the encoder ever writes (and than the hooks'
 * buffers: resolve.c copies name.suffix into SNAP_MAX_NAME + 1 + 255 + 1
 * bytes) is refused even when it is a well-terminated string of the table.
 * Built by pointing a service name, then the suffix, at a long control
 * path; fuzz_snapshot found the suffix case before the limits were checked.
 */
static void test_long_strings(void **state)
{
	(void)state;
	char control[301];
	memset(control, 'a', sizeof control - 1);
	control[sizeof control - 1] = '\0';
	struct snap_svc_in svcs[] = { { "hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } } };
	void *buf;
	size_t len;
	struct snap_view v;
	assert_int_equal(snapshot_encode("mesh", control, 1, VNET, 8, NULL, 0, svcs, 1, NULL, 0,
	                                 &buf, &len),
	                 0);
	unsigned char *b = buf;
	struct snap_hdr *h = (struct snap_hdr *)(void *)b;
	struct snap_svc *s = (struct snap_svc *)(void *)(b + h->off_services);
	assert_int_equal(snapshot_view(&v, b, len), 0);

	uint32_t off = s[0].name_off;
	uint16_t n = s[0].name_len;
	s[0].name_off = h->control_off;
	s[0].name_len = (uint16_t)h->control_len; /* 300 > SNAP_MAX_NAME */
	snapshot_seal(b, len);
	assert_int_equal(snapshot_view(&v, b, len), -1);
	s[0].name_off = off;
	s[0].name_len = n;

	h->suffix_off = h->control_off;
	h->suffix_len = h->control_len; /* 300 > 255 */
	snapshot_seal(b, len);
	assert_int_equal(snapshot_view(&v, b, len), -1);
	free(buf);
}

/* snapshot_vip_ok: the header's range, and never outside 127.0.0.0/8. */
static void test_vip_ok(void **state)
{
	(void)state;
	struct snap_svc_in svcs[] = { { "hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } } };
	void *buf;
	size_t len;
	struct snap_view v;
	assert_int_equal(snapshot_encode("mesh", NULL, 1, ip4("127.77.0.0"), 16, NULL, 0, svcs, 1,
	                                 NULL, 0, &buf, &len),
	                 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_true(snapshot_vip_ok(&v, ip4("127.77.0.2")));
	assert_true(snapshot_vip_ok(&v, ip4("127.77.255.255")));
	assert_false(snapshot_vip_ok(&v, ip4("127.78.0.2")));
	assert_false(snapshot_vip_ok(&v, ip4("127.76.0.2")));
	assert_false(snapshot_vip_ok(&v, ip4("110.83.27.141")));
	free(buf);

	assert_int_equal(snapshot_encode("mesh", NULL, 1, ip4("127.77.0.2"), 31, NULL, 0, svcs, 1,
	                                 NULL, 0, &buf, &len),
	                 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_true(snapshot_vip_ok(&v, ip4("127.77.0.2")));
	assert_true(snapshot_vip_ok(&v, ip4("127.77.0.3")));
	assert_false(snapshot_vip_ok(&v, ip4("127.77.0.4")));
	assert_false(snapshot_vip_ok(&v, ip4("127.77.0.1")));
	free(buf);

	/* A header that no longer says loopback (a view is never built on
	 * one; the helper must not trust it either). */
	struct snap_hdr h;
	memset(&h, 0, sizeof h);
	struct snap_view fake = { .hdr = &h };
	h.vip_net = ip4("110.0.0.0");
	h.vip_prefix = 8;
	assert_false(snapshot_vip_ok(&fake, ip4("110.83.27.141")));
	h.vip_net = ip4("127.0.0.0");
	h.vip_prefix = 0;
	assert_false(snapshot_vip_ok(&fake, ip4("127.0.0.1")));
	h.vip_prefix = 8;
	assert_true(snapshot_vip_ok(&fake, ip4("127.0.0.1")));
	assert_false(snapshot_vip_ok(&fake, ip4("128.0.0.1")));
}

static void test_encoder_rejects(void **state)
{
	(void)state;
	void *buf = NULL;
	size_t len = 0;
	uint16_t many[SNAP_MAX_PORTS + 1];
	for (unsigned i = 0; i < SNAP_MAX_PORTS + 1; i++)
		many[i] = (uint16_t)(1000 + i);
	char longname[SNAP_MAX_NAME + 2];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';

	struct snap_svc_in dup[] = {
		{ "hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } },
		{ "hello", ip4("127.77.0.3"), db_ports, 1, 0, { 0 } },
	};
	errno = 0;
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, dup, 2, NULL, 0, &buf,
	                                 &len),
	                 -1);
	assert_int_equal(errno, EINVAL);

	struct snap_svc_in upper[] = { { "Hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } } };
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, upper, 1, NULL, 0, &buf,
	                                 &len),
	                 -1);

	struct snap_svc_in ports[] = {
		{ "hello", ip4("127.77.0.2"), many, SNAP_MAX_PORTS + 1, 0, { 0 } },
	};
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, ports, 1, NULL, 0, &buf,
	                                 &len),
	                 -1);
	ports[0].nports = SNAP_MAX_PORTS; /* the limit itself is fine */
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, ports, 1, NULL, 0, &buf,
	                                 &len),
	                 0);
	free(buf);

	struct snap_svc_in empty[] = { { "", ip4("127.77.0.2"), NULL, 0, 0, { 0 } } };
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, empty, 1, NULL, 0, &buf,
	                                 &len),
	                 -1);

	struct snap_svc_in toolong[] = { { longname, ip4("127.77.0.2"), NULL, 0, 0, { 0 } } };
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, toolong, 1, NULL, 0,
	                                 &buf, &len),
	                 -1);

	struct snap_svc_in one[] = { { "hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } } };
	/* A VIP range that is not loopback, a VIP outside the range. */
	assert_int_equal(snapshot_encode("mesh", NULL, 1, htonl(0x0a000000u), 8, NULL, 0, one, 1,
	                                 NULL, 0, &buf, &len),
	                 -1);
	assert_int_equal(snapshot_encode("mesh", NULL, 1, htonl(0x7f4e0000u), 16, NULL, 0, one, 1,
	                                 NULL, 0, &buf, &len),
	                 -1);
	assert_int_equal(snapshot_encode("Mesh", NULL, 1, VNET, 8, NULL, 0, one, 1, NULL, 0, &buf,
	                                 &len),
	                 -1);

	struct snap_icpt_in ic;
	memset(&ic, 0, sizeof ic);
	ic.family = AF_INET;
	ic.port = 80;
	ic.svc = 1; /* only one service */
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, one, 1, &ic, 1, &buf,
	                                 &len),
	                 -1);
	ic.svc = 0;
	ic.family = AF_UNIX;
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, one, 1, &ic, 1, &buf,
	                                 &len),
	                 -1);
	ic.family = AF_INET;
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, one, 1, &ic, 1, &buf,
	                                 &len),
	                 0);
	free(buf);
}

static void ip6(const char *s, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

/* IPv6 VIPs: encoded and read back, found by address, answered only inside
 * the header's range and fc00::/7; a range or vip6 outside is refused by
 * the encoder and, forged in a sealed file, by the decoder. */
static void test_vip6(void **state)
{
	(void)state;
	struct snap_svc_in svcs[] = {
		{ "hello", ip4("127.77.0.2"), hello_ports, 2, 0, { 0 } },
		{ "db", ip4("127.77.0.3"), db_ports, 1, 0, { 0 } },
	};
	uint8_t net[16], a[16], out[16];
	void *buf;
	size_t len;
	struct snap_view v;
	ip6("fd6d:6573:6800::", net);
	ip6("fd6d:6573:6800::1:2", svcs[0].vip6);
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, net, 64, svcs, 2, NULL, 0, &buf,
	                                 &len),
	                 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_true(snapshot_has_vip6(&v));
	const struct snap_svc *h = snapshot_find_name(&v, "hello");
	const struct snap_svc *d = snapshot_find_name(&v, "db");
	assert_non_null(h);
	assert_non_null(d);
	assert_int_equal(snapshot_svc_vip6(&v, h, out), 1);
	assert_memory_equal(out, svcs[0].vip6, 16);
	assert_int_equal(snapshot_svc_vip6(&v, d, out), 0); /* none */
	assert_ptr_equal(snapshot_find_vip6(&v, svcs[0].vip6), h);
	ip6("fd6d:6573:6800::1:3", a);
	assert_null(snapshot_find_vip6(&v, a));
	memset(a, 0, 16);
	assert_null(snapshot_find_vip6(&v, a)); /* db's "none" is no address */
	ip6("fd6d:6573:6800::ffff", a);
	assert_true(snapshot_vip6_ok(&v, a));
	assert_true(snapshot_in_vip6_range(&v, a));
	ip6("fd6d:6573:6801::1", a);
	assert_false(snapshot_vip6_ok(&v, a));
	ip6("2001:db8::1", a);
	assert_false(snapshot_vip6_ok(&v, a));
	free(buf);

	/* Without a range: no vip6 may be given, none is answered. */
	errno = 0;
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, svcs, 2, NULL, 0, &buf,
	                                 &len),
	                 -1);
	assert_int_equal(errno, EINVAL);
	memset(svcs[0].vip6, 0, 16);
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, NULL, 0, svcs, 2, NULL, 0, &buf,
	                                 &len),
	                 0);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	assert_false(snapshot_has_vip6(&v));
	ip6("fd6d:6573:6800::1:2", a);
	assert_false(snapshot_in_vip6_range(&v, a));
	assert_null(snapshot_find_vip6(&v, a));
	free(buf);

	/* A vip6 outside the range; a range outside fc00::/7 (global,
	 * site-local); host bits set. */
	ip6("fd6d:6573:6801::2", svcs[0].vip6);
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, net, 64, svcs, 2, NULL, 0, &buf,
	                                 &len),
	                 -1);
	memset(svcs[0].vip6, 0, 16);
	const char *bad[][2] = { { "2001:db8::", "64" },
		                 { "fec0::", "64" },
		                 { "fe80::", "64" },
		                 { "fd6d:6573:6800::1", "64" },
		                 { "fc00::", "6" } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ip6(bad[i][0], a);
		assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, a,
		                                 (unsigned)atoi(bad[i][1]), svcs, 2, NULL, 0, &buf,
		                                 &len),
		                 -1);
	}

	/* Forged in a sealed file: a global range, or a vip6 moved out of
	 * the range, is refused by the decoder. */
	ip6("fd6d:6573:6800::1:2", svcs[0].vip6);
	assert_int_equal(snapshot_encode("mesh", NULL, 1, VNET, 8, net, 64, svcs, 2, NULL, 0, &buf,
	                                 &len),
	                 0);
	struct snap_hdr *hd = buf;
	hd->vip6_net[0] = 0x20;
	snapshot_seal(buf, len);
	assert_int_equal(snapshot_view(&v, buf, len), -1);
	hd->vip6_net[0] = 0xfd;
	snapshot_seal(buf, len);
	assert_int_equal(snapshot_view(&v, buf, len), 0);
	struct snap_svc *ss = (struct snap_svc *)((unsigned char *)buf + hd->off_services);
	for (unsigned i = 0; i < hd->nservices; i++)
		if (ss[i].vip6[0])
			ss[i].vip6[5] ^= 1;
	snapshot_seal(buf, len);
	assert_int_equal(snapshot_view(&v, buf, len), -1);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_find_name_forms),
		cmocka_unit_test(test_no_suffix),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_find_vip),
		cmocka_unit_test(test_intercepts),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_longer_than_declared),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_bad_offsets),
		cmocka_unit_test(test_one_byte_corrupted),
		cmocka_unit_test(test_encoder_rejects),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_vip_ok),
		cmocka_unit_test(test_vip6),
	};
	return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
