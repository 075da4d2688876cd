/*
 * Unit tests of the control socket's pure parts: a question's key text
 * (its own bytes; shim/ctlproto.c parses it and test_ctlproto.c covers
 * every malformed line) is the session's tuple text, and the route
 * snapshot leaves out services meshd does not hold (snapshot_publish with
 * a held() filter: the service and its intercepts are gone, the others'
 * intercepts still point at the right service).
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

#include "ctlproto.h"
#include "listener.h"
#include "snapshot_pub.h"
#include "snapshot.h"

/* ---- the key a question and a session share ------------------------- */

/* shimctl.c files a question under its own bytes between "W " and the
 * inode, and a session under "client vip:port" as outbound.c writes it
 * with net_sockaddr_str; ctlproto (tests/unit/test_ctlproto.c) accepts
 * only the spelling it formats. So the two keys meet only if ctlproto
 * formats a tuple as net_sockaddr_str does: checked here on addresses
 * and ports with zeros, one digit and the largest values. */
static void question_key_is_session_tuple(void **state)
{
	(void)state;
	static const struct {
		const char *client, *vip;
		uint16_t cport, vport;
	} cases[] = {
		{ "127.0.0.1", "127.77.0.5", 40000, 8080 },
		{ "10.0.0.1", "127.77.0.10", 1, 80 },
		{ "0.0.0.0", "127.77.100.200", 10, 443 },
		{ "255.255.255.255", "255.255.255.255", 65535, 65535 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_in c = { .sin_family = AF_INET, .sin_port = htons(cases[i].cport) };
		struct sockaddr_in v = { .sin_family = AF_INET, .sin_port = htons(cases[i].vport) };
		assert_int_equal(inet_pton(AF_INET, cases[i].client, &c.sin_addr), 1);
		assert_int_equal(inet_pton(AF_INET, cases[i].vip, &v.sin_addr), 1);
		char cs[64], vs[64], tuple[136], want[sizeof tuple + 32];
		net_sockaddr_str((const struct sockaddr *)&c, cs, sizeof cs);
		net_sockaddr_str((const struct sockaddr *)&v, vs, sizeof vs);
		snprintf(tuple, sizeof tuple, "%s %s", cs, vs); /* outbound.c's s->tuple */
		snprintf(want, sizeof want, "W %s 4242\n", tuple);

		struct ctlproto_tuple q = {
			.caddr = c.sin_addr.s_addr,
			.cport = c.sin_port,
			.vaddr = v.sin_addr.s_addr,
			.vport = v.sin_port,
			.inode = 4242,
		};
		char line[CTLPROTO_LINE_MAX];
		size_t n = ctlproto_format_question(line, sizeof line, &q);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(line, want, n);
		struct ctlproto_tuple back;
		assert_int_equal(ctlproto_parse_question(line, n - 1, &back), 0);
		assert_memory_equal(&back, &q, sizeof q);
	}
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
		cmocka_unit_test(question_key_is_session_tuple),
		cmocka_unit_test(snapshot_leaves_out_unheld),
	};
	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
