/*
 * Who else controls a path (see pathsafe.h). The rules, and why:
 *
 *  - Owner: root or meshd's euid, for every object. Whoever owns a file or
 *    directory can chmod it, so any other owner controls it.
 *  - A directory meshd creates names in (snapshot, lock, control socket,
 *    traffic log): not writable by group or others, sticky or not. The
 *    sticky bit only stops others from removing what meshd made; they can
 *    still create the names meshd is about to use (a lock file they hold
 *    open, a log file they own, a symlink), so a world-writable /tmp is
 *    refused rather than trusting every open to notice.
 *  - A directory above those, or above a file meshd reads: not writable by
 *    others unless sticky (without it they could rename the directory
 *    below away and put their own in its place; with it they cannot touch
 *    an entry they do not own, which is why /tmp/x, root's, is fine as an
 *    ancestor). Group-writable ancestors are accepted: Debian's /var/log
 *    is root:syslog 0775 and its group members are system accounts.
 *  - Config, CA and certificates: writable by others is unsafe (whoever
 *    writes the config decides which uid is which identity); writable by
 *    group is a warning (an operators' group is a choice, not a mistake).
 *  - A private key: readable by group or others, or writable by others, is
 *    unsafe (they could present the identity), as sshd refuses unprotected
 *    keys. The key's own mode decides, not whether a directory above keeps
 *    them out today: that is the mode an operator sees, copies and keeps
 *    when the key moves. Group-writable is a warning.
 *  - The traffic log: writable by others is unsafe (they could forge or
 *    erase records). Character devices (/dev/null) are judged by owner
 *    only.
 */
#include "pathsafe.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum pathsafe_verdict pathsafe_judge(enum pathsafe_use use, uid_t owner, mode_t mode, uid_t euid,
                                     char *why, size_t len)
{
	unsigned perm = (unsigned)(mode & 07777);
	bool dir = use == PATHSAFE_DIR || use == PATHSAFE_ANCESTOR;
	if (dir && !S_ISDIR(mode)) {
		snprintf(why, len, "is not a directory");
		return PATHSAFE_UNSAFE;
	}
	if (owner != 0 && owner != euid) {
		snprintf(why, len,
		         "is owned by uid %u (only root or meshd's own user may own it: "
		         "its owner can change it at will)",
		         (unsigned)owner);
		return PATHSAFE_UNSAFE;
	}
	switch (use) {
	case PATHSAFE_DIR:
		if (mode & (S_IWGRP | S_IWOTH)) {
			snprintf(why, len,
			         "is writable by %s (mode %04o): they can create the names "
			         "meshd uses there%s",
			         (mode & S_IWOTH) ? "others" : "its group", perm,
			         (mode & S_ISVTX) ? ", which the sticky bit does not stop" : "");
			return PATHSAFE_UNSAFE;
		}
		return PATHSAFE_OK;
	case PATHSAFE_ANCESTOR:
		if ((mode & S_IWOTH) && !(mode & S_ISVTX)) {
			snprintf(
				why, len,
				"is writable by others without the sticky bit (mode %04o): "
				"they can move what is below it away and put their own in its place",
				perm);
			return PATHSAFE_UNSAFE;
		}
		return PATHSAFE_OK;
	case PATHSAFE_READ:
	case PATHSAFE_SECRET:
		if (mode & S_IWOTH) {
			snprintf(why, len, "is writable by others (mode %04o)", perm);
			return PATHSAFE_UNSAFE;
		}
		if (use == PATHSAFE_SECRET && (mode & (S_IRGRP | S_IROTH))) {
			snprintf(why, len,
			         "is readable by %s (mode %04o): %s could present this identity "
			         "(chmod 600)",
			         (mode & S_IROTH) ? "others" : "its group", perm,
			         (mode & S_IROTH) ? "any local user" : "its members");
			return PATHSAFE_UNSAFE;
		}
		if (mode & S_IWGRP) {
			snprintf(why, len, "is writable by its group (mode %04o)", perm);
			return PATHSAFE_WARN;
		}
		return PATHSAFE_OK;
	case PATHSAFE_APPEND:
		if (S_ISREG(mode) && (mode & S_IWOTH)) {
			snprintf(why, len,
			         "is writable by others (mode %04o): they could forge or "
			         "erase records",
			         perm);
			return PATHSAFE_UNSAFE;
		}
		return PATHSAFE_OK;
	}
	return PATHSAFE_OK;
}

/* Keep the worst verdict and the first message of that severity. */
static void worse(enum pathsafe_verdict *worst, enum pathsafe_verdict v, const char *what,
                  const char *path, const char *phrase, char *why, size_t len)
{
	if (v <= *worst)
		return;
	*worst = v;
	snprintf(why, len, "%s %s %s", what, path, phrase);
}

/* Judge every directory from / down to dir (absolute, canonical); dir
 * itself as `last`. */
static enum pathsafe_verdict walk(const char *dir, enum pathsafe_use last, char *why, size_t len)
{
	enum pathsafe_verdict worst = PATHSAFE_OK;
	char prefix[PATH_MAX], phrase[256];
	size_t n = strlen(dir);
	uid_t euid = geteuid();
	if (n == 0 || n >= sizeof prefix || dir[0] != '/') {
		snprintf(why, len, "directory %s is not an absolute path", dir);
		return PATHSAFE_UNSAFE;
	}
	for (size_t i = 0; i <= n; i++) {
		/* "/" first, then each component: prefix = dir[0, i) */
		size_t plen;
		if (i == 0)
			plen = 1;
		else if (i == n || dir[i] == '/')
			plen = i;
		else
			continue;
		if (i > 0 && plen == 1)
			continue; /* dir is "/": done at i == 0 */
		memcpy(prefix, dir, plen);
		prefix[plen] = '\0';
		struct stat st;
		if (stat(prefix, &st) == -1) {
			snprintf(phrase, sizeof phrase, "cannot be examined: %s", strerror(errno));
			worse(&worst, PATHSAFE_UNSAFE, "directory", prefix, phrase, why, len);
			return worst;
		}
		enum pathsafe_verdict v = pathsafe_judge(plen == n ? last : PATHSAFE_ANCESTOR,
		                                         st.st_uid, st.st_mode, euid, phrase,
		                                         sizeof phrase);
		worse(&worst, v, "directory", prefix, phrase, why, len);
	}
	return worst;
}

/* The canonical directory part of a canonical path (a copy in buf). */
static const char *dir_part(const char *canon, char *buf, size_t len)
{
	snprintf(buf, len, "%s", canon);
	char *slash = strrchr(buf, '/');
	if (slash == buf)
		buf[1] = '\0';
	else if (slash)
		*slash = '\0';
	return buf;
}

enum pathsafe_verdict pathsafe_check_file(const char *path, enum pathsafe_use use, char *why,
                                          size_t len)
{
	enum pathsafe_verdict worst = PATHSAFE_OK, v;
	char dir[PATH_MAX], phrase[256];
	char *real = realpath(path, NULL);
	struct stat st;
	if (!real || stat(real, &st) == -1) {
		snprintf(why, len, "file %s cannot be examined: %s", path, strerror(errno));
		free(real);
		return PATHSAFE_UNSAFE;
	}
	v = walk(dir_part(real, dir, sizeof dir), PATHSAFE_ANCESTOR, phrase, sizeof phrase);
	if (v > worst) {
		worst = v;
		snprintf(why, len, "%s", phrase);
	}
	v = pathsafe_judge(use, st.st_uid, st.st_mode, geteuid(), phrase, sizeof phrase);
	worse(&worst, v, "file", real, phrase, why, len);

	/* A symlink: whoever controls the directory it sits in controls
	 * where it points. */
	struct stat lst;
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		char ldir[PATH_MAX], *lreal;
		dir_part(path, ldir, sizeof ldir);
		if (!strchr(path, '/'))
			snprintf(ldir, sizeof ldir, ".");
		if ((lreal = realpath(ldir, NULL)) != NULL) {
			v = walk(lreal, PATHSAFE_ANCESTOR, phrase, sizeof phrase);
			if (v > worst) {
				worst = v;
				snprintf(why, len, "%s (where the symlink %s is)", phrase, path);
			}
			free(lreal);
		}
	}
	free(real);
	return worst;
}

enum pathsafe_verdict pathsafe_check_dir_of(const char *path, char *why, size_t len)
{
	char dir[PATH_MAX];
	if (!strchr(path, '/'))
		snprintf(dir, sizeof dir, ".");
	else
		dir_part(path, dir, sizeof dir);
	for (;;) {
		struct stat st;
		if (stat(dir, &st) == 0)
			break;
		if (errno != ENOENT || strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0) {
			snprintf(why, len, "directory %s cannot be examined: %s", dir,
			         strerror(errno));
			return PATHSAFE_UNSAFE;
		}
		char up[PATH_MAX];
		if (!strchr(dir, '/'))
			snprintf(dir, sizeof dir, ".");
		else
			snprintf(dir, sizeof dir, "%s", dir_part(dir, up, sizeof up));
	}
	char *real = realpath(dir, NULL);
	if (!real) {
		snprintf(why, len, "directory %s cannot be resolved: %s", dir, strerror(errno));
		return PATHSAFE_UNSAFE;
	}
	enum pathsafe_verdict v = walk(real, PATHSAFE_DIR, why, len);
	free(real);
	return v;
}
