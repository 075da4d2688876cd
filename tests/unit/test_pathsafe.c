/*
 * Unit tests of daemon/pathsafe.c: the rule for one object
 * (pathsafe_judge, pure: owner, mode, euid), then the walks
 * over real directories made in a temporary tree (pathsafe_check_file,
 * pathsafe_check_dir_of). The walks need root to chown to another uid;
 * run as another user those cases are skipped.
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

#include "pathsafe.h"

#define NOBODY 65534u

static enum pathsafe_verdict J(enum pathsafe_use use, uid_t owner, mode_t mode)
{
	char why[256];
	return pathsafe_judge(use, owner, mode, 0, why, sizeof why);
}

static void test_owner(void **state)
{
	char why[256];
	(void)state;
	/* root, or meshd's own euid; anyone else owns (and can chmod) it */
	assert_int_equal(J(PATHSAFE_DIR, 0, S_IFDIR | 0755), PATHSAFE_OK);
	assert_int_equal(J(PATHSAFE_DIR, NOBODY, S_IFDIR | 0755), PATHSAFE_UNSAFE);
	assert_int_equal(pathsafe_judge(PATHSAFE_DIR, 999, S_IFDIR | 0700, 999, why, sizeof why),
	                 PATHSAFE_OK);
	assert_int_equal(pathsafe_judge(PATHSAFE_READ, NOBODY, S_IFREG | 0600, 999, why,
	                                sizeof why),
	                 PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "owned by uid 65534"));
	assert_int_equal(J(PATHSAFE_ANCESTOR, NOBODY, S_IFDIR | 0755), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_SECRET, NOBODY, S_IFREG | 0600), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_APPEND, NOBODY, S_IFREG | 0640), PATHSAFE_UNSAFE);
}

static void test_dirs(void **state)
{
	char why[256];
	(void)state;
	/* where meshd creates names: group/other write is unsafe, sticky or not */
	assert_int_equal(J(PATHSAFE_DIR, 0, S_IFDIR | 0711), PATHSAFE_OK);
	assert_int_equal(J(PATHSAFE_DIR, 0, S_IFDIR | 0775), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_DIR, 0, S_IFDIR | 0777), PATHSAFE_UNSAFE);
	assert_int_equal(pathsafe_judge(PATHSAFE_DIR, 0, S_IFDIR | 01777, 0, why, sizeof why),
	                 PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "sticky bit does not stop"));
	assert_int_equal(J(PATHSAFE_DIR, 0, S_IFREG | 0755), PATHSAFE_UNSAFE);
	/* above it: others' write only with the sticky bit; group write is fine */
	assert_int_equal(J(PATHSAFE_ANCESTOR, 0, S_IFDIR | 01777), PATHSAFE_OK);
	assert_int_equal(J(PATHSAFE_ANCESTOR, 0, S_IFDIR | 0775), PATHSAFE_OK);
	assert_int_equal(J(PATHSAFE_ANCESTOR, 0, S_IFDIR | 0777), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_ANCESTOR, 0, S_IFDIR | 0757), PATHSAFE_UNSAFE);
}

static void test_files(void **state)
{
	char why[256];
	(void)state;
	/* config, CA, certificates */
	assert_int_equal(J(PATHSAFE_READ, 0, S_IFREG | 0644), PATHSAFE_OK);
	assert_int_equal(J(PATHSAFE_READ, 0, S_IFREG | 0664), PATHSAFE_WARN);
	assert_int_equal(J(PATHSAFE_READ, 0, S_IFREG | 0666), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_READ, 0, S_IFREG | 0646), PATHSAFE_UNSAFE);
	/* keys: read by group or others is unsafe, whatever the directories */
	assert_int_equal(J(PATHSAFE_SECRET, 0, S_IFREG | 0600), PATHSAFE_OK);
	assert_int_equal(J(PATHSAFE_SECRET, 0, S_IFREG | 0400), PATHSAFE_OK);
	assert_int_equal(pathsafe_judge(PATHSAFE_SECRET, 0, S_IFREG | 0644, 0, why, sizeof why),
	                 PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "readable by others (mode 0644)"));
	assert_int_equal(pathsafe_judge(PATHSAFE_SECRET, 0, S_IFREG | 0640, 0, why, sizeof why),
	                 PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "readable by its group (mode 0640)"));
	assert_int_equal(J(PATHSAFE_SECRET, 0, S_IFREG | 0604), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_SECRET, 0, S_IFREG | 0602), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_SECRET, 0, S_IFREG | 0620), PATHSAFE_WARN);
	/* ... but a certificate others read is what certificates are for */
	assert_int_equal(J(PATHSAFE_READ, 0, S_IFREG | 0644), PATHSAFE_OK);
	/* the traffic log: others' write forges records; devices by owner only */
	assert_int_equal(J(PATHSAFE_APPEND, 0, S_IFREG | 0640), PATHSAFE_OK);
	assert_int_equal(J(PATHSAFE_APPEND, 0, S_IFREG | 0666), PATHSAFE_UNSAFE);
	assert_int_equal(J(PATHSAFE_APPEND, 0, S_IFCHR | 0666), PATHSAFE_OK);
}

/* ---- walks over a real tree ------------------------------------------- */

static char g_dir[256];

static void path(char *buf, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s/%s", g_dir, rel);
}

static void mk(const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	path(p, rel);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void touch(const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	path(p, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

static enum pathsafe_verdict dir_of(const char *rel, char *why, size_t len)
{
	char p[PATH_MAX];
	path(p, rel);
	return pathsafe_check_dir_of(p, why, len);
}

static enum pathsafe_verdict file(const char *rel, enum pathsafe_use use, char *why, size_t len)
{
	char p[PATH_MAX];
	path(p, rel);
	return pathsafe_check_file(p, use, why, len);
}

static int tree_setup(void **state)
{
	char tmpl[] = "/tmp/test_pathsafe.XXXXXX", *real;
	(void)state;
	if (!mkdtemp(tmpl) || !(real = realpath(tmpl, NULL)))
		return -1;
	snprintf(g_dir, sizeof g_dir, "%s", real);
	free(real);
	return chmod(g_dir, 0711);
}

static int tree_teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_walk_dirs(void **state)
{
	char why[1024];
	(void)state;
	mk("ok", 0755);
	assert_int_equal(dir_of("ok/routes", why, sizeof why), PATHSAFE_OK);
	/* missing directories: judged at the nearest existing one */
	assert_int_equal(dir_of("ok/a/b/routes", why, sizeof why), PATHSAFE_OK);
	mk("w", 0777);
	assert_int_equal(dir_of("w/routes", why, sizeof why), PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "/w is writable by others (mode 0777)"));
	assert_int_equal(dir_of("w/not/yet/routes", why, sizeof why), PATHSAFE_UNSAFE);
	mk("t", 01777);
	assert_int_equal(dir_of("t/routes", why, sizeof why), PATHSAFE_UNSAFE);
	/* a sticky one further up is fine; a plain 0777 one is not */
	mk("t/x", 0755);
	assert_int_equal(dir_of("t/x/routes", why, sizeof why), PATHSAFE_OK);
	mk("w/x", 0755);
	assert_int_equal(dir_of("w/x/routes", why, sizeof why), PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "/w is writable by others without the sticky bit"));
	/* the system's own /tmp (1777) as a place for meshd's files: refused */
	struct stat st;
	if (stat("/tmp", &st) == 0 && (st.st_mode & S_IWOTH))
		assert_int_equal(pathsafe_check_dir_of("/tmp/routes", why, sizeof why),
		                 PATHSAFE_UNSAFE);
	assert_int_equal(pathsafe_check_dir_of("/routes", why, sizeof why), PATHSAFE_OK);
}

static void test_walk_files(void **state)
{
	char why[1024], p[PATH_MAX], l[PATH_MAX];
	(void)state;
	mk("certs", 0755);
	touch("certs/k.key", 0600);
	assert_int_equal(file("certs/k.key", PATHSAFE_SECRET, why, sizeof why), PATHSAFE_OK);
	touch("certs/open.key", 0644);
	assert_int_equal(file("certs/open.key", PATHSAFE_SECRET, why, sizeof why), PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "open.key is readable by others"));
	/* the key's own mode decides, even behind a directory others cannot
	 * search (it keeps that mode when it is copied out) */
	mk("private", 0700);
	touch("private/k.key", 0640);
	assert_int_equal(file("private/k.key", PATHSAFE_SECRET, why, sizeof why), PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "k.key is readable by its group (mode 0640)"));
	touch("certs/conf.ini", 0666);
	assert_int_equal(file("certs/conf.ini", PATHSAFE_READ, why, sizeof why), PATHSAFE_UNSAFE);
	touch("certs/group.ini", 0664);
	assert_int_equal(file("certs/group.ini", PATHSAFE_READ, why, sizeof why), PATHSAFE_WARN);
	assert_int_equal(file("certs/missing.pem", PATHSAFE_READ, why, sizeof why),
	                 PATHSAFE_UNSAFE);
	/* a symlink in a directory others can write: they decide where it points */
	mk("pub", 0777);
	path(p, "certs/k.key");
	path(l, "pub/k.key");
	assert_int_equal(symlink(p, l), 0);
	assert_int_equal(file("pub/k.key", PATHSAFE_SECRET, why, sizeof why), PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "symlink"));
	if (geteuid() != 0) {
		skip();
		return;
	}
	path(p, "certs/k.key");
	assert_int_equal(chown(p, NOBODY, (gid_t)-1), 0);
	assert_int_equal(file("certs/k.key", PATHSAFE_SECRET, why, sizeof why), PATHSAFE_UNSAFE);
	assert_non_null(strstr(why, "owned by uid 65534"));
	mk("nob", 0755);
	path(p, "nob");
	assert_int_equal(chown(p, NOBODY, (gid_t)-1), 0);
	assert_int_equal(dir_of("nob/routes", why, sizeof why), PATHSAFE_UNSAFE);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_dirs),
		cmocka_unit_test(test_files),
	};
	const struct CMUnitTest walks[] = {
		cmocka_unit_test(test_walk_dirs),
		cmocka_unit_test(test_walk_files),
	};
	int failed = cmocka_run_group_tests(pure, NULL, NULL);
	return failed + cmocka_run_group_tests(walks, tree_setup, tree_teardown);
}
