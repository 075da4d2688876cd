/*
 * Unit tests of the control-socket line codec (shim/ctlproto.c): questions
 * and answers round-trip byte for byte, every field has one spelling, and
 * anything else a hostile peer may write (extra spaces, signs, leading
 * zeros, out-of-range numbers, missing or extra fields, NULs, lines not
 * NUL-terminated) is refused. tests/fuzz/fuzz_ctlproto.c checks the same
 * round trip on arbitrary bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "ctlproto.h"

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static int q(const char *line, struct ctlproto_tuple *t)
{
	return ctlproto_parse_question(line, strlen(line), t);
}

static int a(const char *line, struct ctlproto_tuple *t, char *word)
{
	return ctlproto_parse_answer(line, strlen(line), t, word);
}

static void test_question(void **state)
{
	(void)state;
	struct ctlproto_tuple t;
	assert_int_equal(q("W 127.0.0.1:40000 127.77.0.2:80 123456", &t), 0);
	assert_int_equal(t.caddr, ip4("127.0.0.1"));
	assert_int_equal(t.cport, htons(40000));
	assert_int_equal(t.vaddr, ip4("127.77.0.2"));
	assert_int_equal(t.vport, htons(80));
	assert_true(t.inode == 123456);

	char out[CTLPROTO_LINE_MAX];
	size_t n = ctlproto_format_question(out, sizeof out, &t);
	assert_int_equal(n, strlen("W 127.0.0.1:40000 127.77.0.2:80 123456\n"));
	assert_memory_equal(out, "W 127.0.0.1:40000 127.77.0.2:80 123456\n", n);
}

static void test_answer(void **state)
{
	(void)state;
	struct ctlproto_tuple t;
	char word[CTLPROTO_WORD_MAX + 1];
	assert_int_equal(a("V 127.0.0.1:40000 127.77.0.2:80 123456 refused", &t, word), 0);
	assert_string_equal(word, "refused");
	assert_int_equal(t.cport, htons(40000));
	assert_true(t.inode == 123456);
	assert_int_equal(a("V 1.2.3.4:5 6.7.8.9:10 0 identity_error", &t, word), 0);
	assert_string_equal(word, "identity_error");

	char out[CTLPROTO_LINE_MAX];
	size_t n = ctlproto_format_answer(out, sizeof out, &t, "overflow");
	assert_memory_equal(out, "V 1.2.3.4:5 6.7.8.9:10 0 overflow\n", n);
	assert_int_equal(n, strlen("V 1.2.3.4:5 6.7.8.9:10 0 overflow\n"));
	/* A question is not an answer and the other way round. */
	assert_int_equal(q("V 1.2.3.4:5 6.7.8.9:10 0 overflow", &t), -1);
	assert_int_equal(a("W 1.2.3.4:5 6.7.8.9:10 0", &t, word), -1);
}

/* The longest line of each kind fits CTLPROTO_LINE_MAX, one byte less
 * does not, and the extremes parse. */
static void test_limits(void **state)
{
	(void)state;
	struct ctlproto_tuple t;
	char word[CTLPROTO_WORD_MAX + 1];
	char longest[CTLPROTO_LINE_MAX + 1];
	char w31[CTLPROTO_WORD_MAX + 2];
	memset(w31, 'z', CTLPROTO_WORD_MAX);
	w31[CTLPROTO_WORD_MAX] = '\0';
	/* The longest line is an IPv6 one. */
	int n = snprintf(longest, sizeof longest,
	                 "V [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 "
	                 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 18446744073709551615 %s",
	                 w31);
	assert_int_equal(n + 1, CTLPROTO_LINE_MAX);
	assert_int_equal(a(longest, &t, word), 0);
	assert_true(t.inode == UINT64_MAX);
	assert_int_equal(t.cport, 0xffff);
	char out[CTLPROTO_LINE_MAX];
	assert_int_equal(ctlproto_format_answer(out, sizeof out, &t, word), CTLPROTO_LINE_MAX);
	assert_int_equal(ctlproto_format_answer(out, sizeof out - 1, &t, word), 0);
	assert_int_equal(ctlproto_format_question(out, 10, &t), 0);
	n = snprintf(longest, sizeof longest,
	             "V 255.255.255.255:65535 255.255.255.255:65535 18446744073709551615 %s", w31);
	assert_int_equal(a(longest, &t, word), 0);
	assert_int_equal(ctlproto_format_answer(out, sizeof out, &t, word), (size_t)n + 1);

	/* The largest question parses and formats back. */
	static const char qmax[] =
		"W 255.255.255.255:65535 255.255.255.255:65535 "
		"18446744073709551615";
	assert_int_equal(q(qmax, &t), 0);
	assert_true(t.inode == UINT64_MAX);
	assert_int_equal(t.caddr, 0xffffffffu);
	assert_int_equal(t.vport, 0xffff);
	assert_int_equal(ctlproto_format_question(out, sizeof out, &t), sizeof qmax);
	assert_memory_equal(out, qmax, sizeof qmax - 1);
	assert_int_equal(ctlproto_format_question(out, sizeof qmax - 1, &t), 0);

	/* One past each limit. */
	assert_int_equal(q("W 1.2.3.4:5 6.7.8.9:10 18446744073709551616", &t), -1);
	assert_int_equal(q("W 1.2.3.4:65536 6.7.8.9:10 1", &t), -1);
	assert_int_equal(q("W 1.2.3.256:5 6.7.8.9:10 1", &t), -1);
	w31[CTLPROTO_WORD_MAX] = 'z';
	w31[CTLPROTO_WORD_MAX + 1] = '\0';
	snprintf(longest, sizeof longest, "V 1.2.3.4:5 6.7.8.9:10 1 %s", w31);
	assert_int_equal(a(longest, &t, word), -1);
	assert_int_equal(ctlproto_format_answer(out, sizeof out, &t, w31), 0);
}

/* Every line here is one a lax parser (sscanf, strtoul, inet_aton) would
 * take or half-take; each is refused. */
static void test_rejects(void **state)
{
	(void)state;
	static const char *const bad_q[] = {
		"", "W", "W ", "W 1.2.3.4:5 6.7.8.9:10", /* no inode (the old form) */
		"W 1.2.3.4:5 6.7.8.9:10 ", "W 1.2.3.4:5 6.7.8.9:10 1 ", /* trailing space */
		"W 1.2.3.4:5 6.7.8.9:10 1 x",                           /* extra field */
		" W 1.2.3.4:5 6.7.8.9:10 1", "W  1.2.3.4:5 6.7.8.9:10 1",
		"W 1.2.3.4:5  6.7.8.9:10 1", "W\t1.2.3.4:5 6.7.8.9:10 1",
		"w 1.2.3.4:5 6.7.8.9:10 1", "W 1.2.3.4:05 6.7.8.9:10 1", /* leading zeros */
		"W 01.2.3.4:5 6.7.8.9:10 1", "W 1.2.3.4:5 6.7.8.9:10 01",
		"W 1.2.3.4:5 6.7.8.9:10 00", "W 1.2.3.4:+5 6.7.8.9:10 1", /* signs */
		"W 1.2.3.4:5 6.7.8.9:10 -1", "W 1.2.3.4:5 6.7.8.9:10 +1",
		"W 1.2.3.4:0 6.7.8.9:10 1",                          /* port 0 */
		"W 1.2.3.4:5 6.7.8.9:0 1", "W 1.2.3:5 6.7.8.9:10 1", /* inet_aton forms */
		"W 0x1.2.3.4:5 6.7.8.9:10 1", "W 16909060:5 6.7.8.9:10 1",
		"W 1.2.3.4.5:5 6.7.8.9:10 1", "W 1.2.3.4 6.7.8.9:10 1", /* no port */
		"W 1.2.3.4: 6.7.8.9:10 1", "W [::1]:5 6.7.8.9:10 1",    /* IPv6 */
		"W 1.2.3.4:5 6.7.8.9:10 1\r", "W 1.2.3.4:5 6.7.8.9:10 99999999999999999999",
		/* From meshd's former parser's tests (tests/unit/test_control.c, now test_shimctl.c). */
		"W 1.2.3.4:5 6.7.8.9:10 0", /* inode 0: no socket has it */
		"W 1.2.3.4:5 6.7.8.9:10 12x",
		"W 1.2.3.4:0080000 6.7.8.9:10 1", /* too many digits */
		"W :5 6.7.8.9:10 1",              /* no address */
		"W 1234567890123456:5 6.7.8.9:10 1", "W 1.2.3.4:-1 6.7.8.9:10 1",
		"V 1.2.3.4:5 6.7.8.9:10 1", /* an answer's verb */
	};
	struct ctlproto_tuple t;
	for (size_t i = 0; i < sizeof bad_q / sizeof bad_q[0]; i++)
		if (q(bad_q[i], &t) != -1)
			fail_msg("question accepted: \"%s\"", bad_q[i]);

	static const char *const bad_a[] = {
		"V 1.2.3.4:5 6.7.8.9:10 1", /* no word */
		"V 1.2.3.4:5 6.7.8.9:10 1 ",
		"V 1.2.3.4:5 6.7.8.9:10 refused", /* no inode (the old form) */
		"V 1.2.3.4:5 6.7.8.9:10 1 Refused",
		"V 1.2.3.4:5 6.7.8.9:10 1 re fused",
		"V 1.2.3.4:5 6.7.8.9:10 1 refused ",
		"V 1.2.3.4:5 6.7.8.9:10 1 no-endpoint",
		"V 1.2.3.4:5 6.7.8.9:10 1 ok\n",
	};
	char word[CTLPROTO_WORD_MAX + 1];
	for (size_t i = 0; i < sizeof bad_a / sizeof bad_a[0]; i++)
		if (a(bad_a[i], &t, word) != -1)
			fail_msg("answer accepted: \"%s\"", bad_a[i]);

	/* An embedded NUL ends nothing: the length given is the line. */
	static const char nul[] = "W 1.2.3.4:5 6.7.8.9:10 1\0 junk";
	assert_int_equal(ctlproto_parse_question(nul, sizeof nul - 1, &t), -1);
	assert_int_equal(ctlproto_parse_question(nul, strlen(nul), &t), 0);
	assert_int_equal(ctlproto_parse_question(NULL, 0, &t), -1);
}

/* The parsers read exactly len bytes: a line cut out of a larger buffer
 * (no NUL after it) parses by its length alone. */
static void test_not_terminated(void **state)
{
	(void)state;
	const char *line = "W 1.2.3.4:5 6.7.8.9:10 77";
	size_t n = strlen(line);
	char *exact = malloc(n); /* ASan: one byte more would be a report */
	assert_non_null(exact);
	memcpy(exact, line, n);
	struct ctlproto_tuple t;
	assert_int_equal(ctlproto_parse_question(exact, n, &t), 0);
	assert_true(t.inode == 77);
	for (size_t k = 0; k < n; k++) {
		struct ctlproto_tuple u;
		int rc = ctlproto_parse_question(exact, k, &u);
		/* Only a prefix that ends inside the inode is itself a line. */
		if (rc == 0)
			assert_true(k == n - 1);
	}
	free(exact);
}

/* Refuses to write what it could not read back. */
static void test_format_rejects(void **state)
{
	(void)state;
	struct ctlproto_tuple t = {
		ip4("1.2.3.4"), 0, ip4("6.7.8.9"), htons(10), 1, 0, { 0 }, { 0 }
	};
	char out[CTLPROTO_LINE_MAX];
	assert_int_equal(ctlproto_format_question(out, sizeof out, &t), 0);
	t.cport = htons(5);
	assert_true(ctlproto_format_question(out, sizeof out, &t) > 0);
	t.inode = 0; /* a question must name a socket; an answer may say 0 */
	assert_int_equal(ctlproto_format_question(out, sizeof out, &t), 0);
	assert_true(ctlproto_format_answer(out, sizeof out, &t, "none") > 0);
	t.inode = 1;
	assert_int_equal(ctlproto_format_answer(out, sizeof out, &t, ""), 0);
	assert_int_equal(ctlproto_format_answer(out, sizeof out, &t, "Bad"), 0);
	assert_int_equal(ctlproto_format_answer(out, sizeof out, &t, NULL), 0);
	assert_true(ctlproto_format_answer(out, sizeof out, &t, "no_endpoint") > 0);
}

/* IPv6 tuples: written exactly as inet_ntop writes the address (so the text
 * is the key meshd's net_sockaddr_str makes), parsed back to the same
 * bytes; any other spelling, a dotted tail or mixed families refused. */
static void test_ipv6(void **state)
{
	(void)state;
	static const char *const addrs[] = {
		"fd6d:6573:6800::2",
		"::1",
		"fd00::",
		"fd00:0:0:1::",
		"fd00:1:0:0:1::1",
		"1:0:0:2:0:0:0:3",
		"1:2:3:4:5:6:7:8",
		"fd6d:0:1:2:3:4:5:6",
		"1::",
		"::2:3",
		"fe80::1:2",
		"1:0:2:0:3:0:4:0",
	};
	char line[CTLPROTO_LINE_MAX + 1], want[200];
	struct ctlproto_tuple t, back;
	srand(7);
	for (unsigned i = 0; i < 2000; i++) {
		memset(&t, 0, sizeof t);
		t.v6 = 1;
		if (i < sizeof addrs / sizeof addrs[0]) {
			assert_int_equal(inet_pton(AF_INET6, addrs[i], t.caddr6), 1);
		} else {
			for (int k = 0; k < 16; k++) /* many zero groups */
				t.caddr6[k] = rand() % 3 ? 0 : (uint8_t)rand();
			t.caddr6[0] = 0xfd;
		}
		assert_int_equal(inet_pton(AF_INET6, "fd6d:6573:6800::2", t.vaddr6), 1);
		t.cport = htons(40000);
		t.vport = htons(80);
		t.inode = 77;
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, t.caddr6, a, sizeof a);
		snprintf(want, sizeof want, "W [%s]:40000 [fd6d:6573:6800::2]:80 77\n", a);
		size_t n = ctlproto_format_question(line, sizeof line, &t);
		if (strchr(a, '.')) { /* a dotted tail: not an IPv6 tuple */
			assert_int_equal(n, 0);
			continue;
		}
		assert_int_not_equal(n, 0);
		line[n] = '\0';
		assert_string_equal(line, want);
		assert_int_equal(ctlproto_parse_question(line, n - 1, &back), 0);
		assert_true(back.v6);
		assert_memory_equal(back.caddr6, t.caddr6, 16);
		assert_memory_equal(back.vaddr6, t.vaddr6, 16);
		assert_int_equal(back.cport, t.cport);
		assert_int_equal(back.inode, 77);
	}
	char w[CTLPROTO_WORD_MAX + 1];
	const char ok[] = "V [::1]:40000 [fd6d:6573:6800::2]:80 77 refused";
	assert_int_equal(ctlproto_parse_answer(ok, strlen(ok), &back, w), 0);
	assert_string_equal(w, "refused");
	static const char *const bad[] = {
		"W [::1]:40000 127.77.0.2:80 77",
		"W 127.0.0.1:40000 [fd00::2]:80 77",
		"W [::01]:40000 [fd00::2]:80 77",
		"W [FD00::1]:40000 [fd00::2]:80 77",
		"W [fd00:0::1]:40000 [fd00::2]:80 77",
		"W [fd00::0:1]:40000 [fd00::2]:80 77",
		"W [::ffff:127.0.0.1]:4 [fd00::2]:80 7",
		"W [::1.2.3.4]:4 [fd00::2]:80 7",
		"W [::1]:0 [fd00::2]:80 77",
		"W [::1] [fd00::2]:80 77",
		"W [1:2:3:4:5:6:7:8:9]:4 [fd00::2]:80 7",
		"W [1::2::3]:4 [fd00::2]:80 7",
		"W [1:]:4 [fd00::2]:80 7",
		"W [:1]:4 [fd00::2]:80 7",
		"W [1:2:3:4:5:6:7::]:4 [fd00::2]:80 7",
		"W [12345::]:4 [fd00::2]:80 7",
		"W [::1:4 [fd00::2]:80 7",
		"W []:4 [fd00::2]:80 7",
		"W [0:0:0:0:0:0:0:1]:4 [fd00::2]:80 7",
		"W [1::2:0:0:0:3]:4 [fd00::2]:80 7",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (ctlproto_parse_question(bad[i], strlen(bad[i]), &back) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_question),       cmocka_unit_test(test_answer),
		cmocka_unit_test(test_limits),         cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_not_terminated), cmocka_unit_test(test_format_rejects),
		cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
