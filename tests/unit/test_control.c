/*
 * Unit tests of the control socket's pure parts: the shim's question line
 * (control_parse_question: canonical tuple, inode, VIP and port; every
 * malformed form rejected) and the route snapshot leaving out services
 * meshd does not hold (snapshot_publish with a held() filter: the service
 * and its intercepts are gone, the others' intercepts still point at the
 * right service).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh.h"
#include "snapshot.h"

static void question_ok(void **state)
{
	(void)state;
	char tuple[64];
	uint64_t inode = 0;
	uint32_t vip = 0;
	uint16_t port = 0;
	assert_int_equal(control_parse_question("W 127.0.0.1:40000 127.77.0.5:8080 123456", tuple,
	                                        sizeof tuple, &inode, &vip, &port),
	                 0);
	assert_string_equal(tuple, "127.0.0.1:40000 127.77.0.5:8080");
	assert_true(inode == 123456);
	assert_int_equal(vip, inet_addr("127.77.0.5"));
	assert_int_equal(port, 8080);

	/* The largest values still fit. */
	assert_int_equal(control_parse_question("W 255.255.255.255:65535 255.255.255.255:65535 "
	                                        "18446744073709551615",
	                                        tuple, sizeof tuple, &inode, &vip, &port),
	                 0);
	assert_true(inode == UINT64_MAX);
	assert_string_equal(tuple, "255.255.255.255:65535 255.255.255.255:65535");
}

static void question_malformed(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",
		"W",
		"W ",
		"V 127.0.0.1:1 127.77.0.5:80 5",          /* an answer, not a question */
		"W 127.0.0.1:1 127.77.0.5:80",            /* the old form: no inode */
		"W 127.0.0.1:1 127.77.0.5:80 ",
		"W 127.0.0.1:1 127.77.0.5:80 0",          /* inode 0 */
		"W 127.0.0.1:1 127.77.0.5:80 12x",
		"W 127.0.0.1:1 127.77.0.5:80 5 extra",
		"W 127.0.0.1:1 127.77.0.5:80 18446744073709551616", /* 2^64 */
		"W 127.0.0.1:0 127.77.0.5:80 5",          /* port 0 */
		"W 127.0.0.1:65536 127.77.0.5:80 5",
		"W 127.0.0.1:0080000 127.77.0.5:80 5",    /* too many digits */
		"W 127.0.0.1: 127.77.0.5:80 5",
		"W :1 127.77.0.5:80 5",
		"W 127.0.0.1 127.77.0.5:80 5",
		"W 127.0.0.256:1 127.77.0.5:80 5",
		"W 1234567890123456:1 127.77.0.5:80 5",
		"W [::1]:1 127.77.0.5:80 5",
		"W 127.0.0.1:1  127.77.0.5:80 5",         /* two spaces */
		"W 127.0.0.1:-1 127.77.0.5:80 5",
		"W 127.0.0.1:1 127.77.0.5:80 -5",
		"w 127.0.0.1:1 127.77.0.5:80 5",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char tuple[64];
		uint64_t inode;
		uint32_t vip;
		uint16_t port;
		if (control_parse_question(bad[i], tuple, sizeof tuple, &inode, &vip, &port) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
	/* A tuple buffer too small for any tuple is refused, not overrun. */
	char small[8];
	uint64_t inode;
	uint32_t vip;
	uint16_t port;
	assert_int_equal(control_parse_question("W 1.2.3.4:5 1.2.3.4:5 1", small, sizeof small,
	                                        &inode, &vip, &port),
	                 -1);
}

/* Leading zeros are written back canonically, so that the question's
 * tuple compares equal to the session's (inet_ntop, %u). */
static void question_canonical(void **state)
{
	(void)state;
	char tuple[64];
	uint64_t inode;
	uint32_t vip;
	uint16_t port;
	assert_int_equal(control_parse_question("W 127.0.0.1:00080 127.77.0.5:0443 7", tuple,
	                                        sizeof tuple, &inode, &vip, &port),
	                 0);
	assert_string_equal(tuple, "127.0.0.1:80 127.77.0.5:443");
}

/* ---- snapshot_publish leaves out what meshd does not hold -------------- */

static bool held_but_b(const struct cfg_service *s, void *arg)
{
	(void)arg;
	return strcmp(s->name, "b") != 0;
}

static void snapshot_leaves_out_unheld(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_control.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char snap[128];
	snprintf(snap, sizeof snap, "%s/routes", dir);

	struct cfg_addr icpt[3];
	memset(icpt, 0, sizeof icpt);
	const char *icpt_ip[3] = { "10.0.0.1", "10.0.0.2", "10.0.0.3" };
	for (int i = 0; i < 3; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&icpt[i].ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(80);
		sin->sin_addr.s_addr = inet_addr(icpt_ip[i]);
		icpt[i].len = sizeof *sin;
	}
	struct cfg_service svcs[3];
	memset(svcs, 0, sizeof svcs);
	char *names[3] = { "a", "b", "c" };
	for (int i = 0; i < 3; i++) {
		svcs[i].name = names[i];
		svcs[i].ports[0] = 80;
		svcs[i].nports = 1;
		svcs[i].vip.s_addr = htonl(0x7f4d0001u + (uint32_t)i); /* 127.77.0.1.. */
		svcs[i].connect_timeout = 1.0;
		svcs[i].intercepts = &icpt[i];
		svcs[i].nintercepts = 1;
	}
	struct config c;
	memset(&c, 0, sizeof c);
	c.services = svcs;
	c.nservices = 3;
	c.suffix = "mesh";
	c.snapshot = snap;
	c.vip_net.s_addr = inet_addr("127.77.0.0");
	c.vip_prefix = 16;

	char *err = NULL;
	unsigned left = 99;
	assert_int_equal(snapshot_publish(&c, "/x.ctl", 1, held_but_b, NULL, &left, &err), 0);
	assert_null(err);
	assert_int_equal(left, 1);

	int fd = open(snap, O_RDONLY);
	assert_true(fd >= 0);
	static unsigned char buf[65536];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	assert_true(n > 0);
	struct snap_view v;
	assert_int_equal(snapshot_view(&v, buf, (size_t)n), 0);
	assert_int_equal(v.hdr->nservices, 2);
	assert_non_null(snapshot_find_name(&v, "a"));
	assert_null(snapshot_find_name(&v, "b"));
	assert_non_null(snapshot_find_name(&v, "c"));
	assert_null(snapshot_find_vip(&v, svcs[1].vip.s_addr));
	assert_int_equal(v.hdr->nintercepts, 2);
	for (int i = 0; i < 3; i++) {
		uint32_t a = inet_addr(icpt_ip[i]);
		const struct snap_icpt *ic = snapshot_find_intercept(&v, AF_INET, &a, htons(80));
		if (i == 1) {
			assert_null(ic);
			continue;
		}
		assert_non_null(ic);
		assert_string_equal(snapshot_svc_name(&v, &v.svcs[ic->svc]), names[i]);
	}

	/* held NULL: everything. */
	assert_int_equal(snapshot_publish(&c, NULL, 2, NULL, NULL, &left, &err), 0);
	assert_int_equal(left, 0);

	char p[160];
	unlink(snap);
	snprintf(p, sizeof p, "%s.vips", snap);
	/* The VIPs file keeps every service's VIP, published or not. */
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char line[64];
	int lines = 0;
	while (fgets(line, sizeof line, f))
		lines++;
	fclose(f);
	assert_int_equal(lines, 3);
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(question_ok),
		cmocka_unit_test(question_malformed),
		cmocka_unit_test(question_canonical),
		cmocka_unit_test(snapshot_leaves_out_unheld),
	};
	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
