/*
 * Unit tests of daemon/startcheck.c: a certificate's validity at a time
 * (pure), the line list (no repeats), the services warned about, and the
 * snapshot directory: said to be missing by -t's check, then created 0755
 * whatever the umask, in a temporary tree, and judged again once made.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "startcheck.h"

#define DAY 86400.0

static void test_validity(void **state)
{
	(void)state;
	double nb = 1000 * DAY, na = 1365 * DAY;
	assert_int_equal(startcheck_validity(1100 * DAY, nb, na), STARTCHECK_VALID);
	assert_int_equal(startcheck_validity(nb - 1, nb, na), STARTCHECK_NOT_YET_VALID);
	assert_int_equal(startcheck_validity(nb, nb, na), STARTCHECK_VALID);
	assert_int_equal(startcheck_validity(na + 1, nb, na), STARTCHECK_EXPIRED);
	/* within 7 days of the end: valid, but said */
	assert_int_equal(startcheck_validity(na - 7 * DAY - 1, nb, na), STARTCHECK_VALID);
	assert_int_equal(startcheck_validity(na - 7 * DAY + 1, nb, na), STARTCHECK_EXPIRES_SOON);
	assert_int_equal(startcheck_validity(na, nb, na), STARTCHECK_EXPIRES_SOON);
}

static void test_add(void **state)
{
	(void)state;
	char *b = NULL;
	startcheck_add(&b, "one %d", 1);
	startcheck_add(&b, "two");
	startcheck_add(&b, "one 1"); /* already there */
	startcheck_add(&b, "one");   /* a prefix of a line is another line */
	assert_string_equal(b, "one 1\ntwo\none\n");
	free(b);
}

static void test_services(void **state)
{
	(void)state;
	struct cfg_endpoint ep = { .text = "127.0.0.2:15443" };
	struct cfg_upstream up = { 0 };
	struct cfg_service s[3] = {
		{ .name = "calls", .endpoints = &ep, .nendpoints = 1 },
		{ .name = "serves", .upstreams = &up, .nupstreams = 1 },
		{ .name = "idle" },
	};
	struct config c = { .services = s, .nservices = 3 };
	char *w = NULL;
	startcheck_services(&c, &w);
	assert_string_equal(w,
	                    "warning: service idle has neither endpoints nor an upstream: "
	                    "every connection to it fails\n");
	free(w);
	assert_true(startcheck_serving(&c));
	c.nservices = 1;
	assert_false(startcheck_serving(&c));
}

static void test_dirs(void **state)
{
	(void)state;
	char base[] = "/tmp/test_startcheck.XXXXXX", snap[PATH_MAX], ctl[PATH_MAX], p[PATH_MAX];
	char err[256], *errs = NULL, *notes = NULL, *made = NULL;
	assert_non_null(mkdtemp(base));
	snprintf(snap, sizeof snap, "%s/run/libmesh/routes", base);
	snprintf(ctl, sizeof ctl, "%s/run/libmesh/routes.ctl", base);
	struct config c = { .snapshot = snap, .control = ctl };

	startcheck_dirs(&c, &errs, &notes);
	assert_null(errs);
	snprintf(p, sizeof p,
	         "note: route snapshot directory %s/run/libmesh does not exist; meshd will create "
	         "it (mode 0755)\n",
	         base);
	assert_string_equal(notes, p); /* once: the socket's directory is the same */
	free(notes);
	notes = NULL;

	mode_t old = umask(077);
	int rc = startcheck_make_dirs(&c, &made, err, sizeof err);
	umask(old);
	assert_int_equal(rc, 0);
	snprintf(p, sizeof p,
	         "created route snapshot directory %s/run (mode 0755)\n"
	         "created route snapshot directory %s/run/libmesh (mode 0755)\n",
	         base, base);
	assert_string_equal(made, p);
	free(made);
	made = NULL;
	struct stat st;
	snprintf(p, sizeof p, "%s/run/libmesh", base);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, geteuid());

	/* there now: nothing to say, nothing to make */
	startcheck_dirs(&c, &errs, &notes);
	assert_null(errs);
	assert_null(notes);
	assert_int_equal(startcheck_make_dirs(&c, &made, err, sizeof err), 0);
	assert_null(made);

	/* a file where a directory should be */
	snprintf(p, sizeof p, "%s/file", base);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(snap, sizeof snap, "%s/file/routes", base);
	snprintf(ctl, sizeof ctl, "%s/file/routes.ctl", base);
	assert_int_equal(startcheck_make_dirs(&c, &made, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot create route snapshot directory"));

	/* A directory that exists but is another user's (as one made by
	 * someone else between -t's or start-up's check and mkdir would be):
	 * judged again after making, and refused. */
	if (geteuid() == 0) {
		snprintf(p, sizeof p, "%s/theirs", base);
		assert_int_equal(mkdir(p, 0755), 0);
		assert_int_equal(chown(p, 65534, 65534), 0);
		snprintf(snap, sizeof snap, "%s/theirs/routes", base);
		snprintf(ctl, sizeof ctl, "%s/theirs/routes.ctl", base);
		assert_int_equal(startcheck_make_dirs(&c, &made, err, sizeof err), -1);
		snprintf(p, sizeof p, "unsafe: route snapshot %s/theirs/routes: ", base);
		assert_memory_equal(err, p, strlen(p));
		assert_null(made);
	}

	snprintf(p, sizeof p, "rm -rf '%s'", base);
	assert_int_equal(system(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
