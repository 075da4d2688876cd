/*
 * One meshd per snapshot: the lock file beside the route snapshot (see
 * lock.h), moved out of main.c as it was.
 */
#include "lock.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The lock may be opened by meshd's user alone: anyone who can open it can
 * flock it and keep every later meshd from starting. */
bool lock_file_safe(const struct stat *st, char *why, size_t len)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, len, "is not a regular file");
		return false;
	}
	if (st->st_uid != geteuid()) {
		snprintf(why, len, "is owned by uid %u", (unsigned)st->st_uid);
		return false;
	}
	if (st->st_mode & 077) {
		snprintf(why, len, "can be opened by others (mode %04o)",
		         (unsigned)(st->st_mode & 07777));
		return false;
	}
	return true;
}

void lock_path(const struct config *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s.lock", c->snapshot);
}
/*
 * Who holds a flock on (dev, ino), from /proc/locks: 1 with *pid and *uid
 * (its effective uid; a holder running as root or as us wins over
 * others), 0 when nobody does, -1 when it cannot be told.
 */
static int lock_holder(dev_t dev, ino_t ino, pid_t *pid, uid_t *uid)
{
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return -1;
	char line[256];
	int found = 0;
	while (fgets(line, sizeof line, f)) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 00:2e:5678 0 EOF"; a waiter's
		 * line has "->" after the number and holds nothing. */
		char type[16], rw[16], where[64];
		int p;
		if (strstr(line, "->") ||
		    sscanf(line, "%*d: %15s %*s %15s %d %63s", type, rw, &p, where) != 4)
			continue;
		unsigned maj, min;
		unsigned long long in;
		if (sscanf(where, "%x:%x:%llu", &maj, &min, &in) != 3 || maj != major(dev) ||
		    min != minor(dev) || in != (unsigned long long)ino)
			continue;
		char sp[64], buf[256];
		snprintf(sp, sizeof sp, "/proc/%d/status", p);
		FILE *sf = fopen(sp, "re");
		unsigned ruid, e = (unsigned)-1;
		while (sf && fgets(buf, sizeof buf, sf))
			if (sscanf(buf, "Uid: %u %u", &ruid, &e) == 2)
				break;
		if (sf)
			fclose(sf);
		if (found && *uid != (uid_t)-1 && (*uid == 0 || *uid == geteuid()))
			continue; /* a trusted holder already found */
		found = 1;
		*pid = p;
		*uid = (uid_t)e;
	}
	fclose(f);
	return found;
}

/*
 * One meshd per snapshot: a second one would share VIP ports with the
 * first through SO_REUSEPORT and split its traffic. The lock is created
 * 0600 with O_EXCL | O_NOFOLLOW, so no one else can open (and flock) it
 * or point it elsewhere. An existing lock others could open (an older
 * meshd made it 0644, or someone planted it) is replaced: unlinked and
 * created afresh, so whoever holds the old one holds nothing that
 * matters. Unless its holder is root or our own user: that is a running
 * meshd (an older one), and starting beside it is what the lock prevents.
 * The directory itself has passed check_paths, so only root or we can
 * make names in it. Returns the locked descriptor, or -1 (said why).
 */
int lock_take(const struct config *c)
{
	char path[4200], why[200];
	lock_path(c, path, sizeof path);
	for (int tries = 0; tries < 4; tries++) {
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		struct stat st;
		if (fd == -1 && errno == EEXIST) {
			if (lstat(path, &st) == -1) {
				if (errno == ENOENT)
					continue;
				log_error("cannot examine lock %s: %m", path);
				return -1;
			}
			if (!lock_file_safe(&st, why, sizeof why)) {
				pid_t pid = 0;
				uid_t uid = (uid_t)-1;
				int held = lock_holder(st.st_dev, st.st_ino, &pid, &uid);
				if (held == 1 && (uid == 0 || uid == geteuid())) {
					log_error(
						"another meshd is running with routes %s (lock %s held by "
						"pid %d)",
						c->snapshot, path, (int)pid);
					return -1;
				}
				if (unlink(path) == -1 && errno != ENOENT) {
					log_error("cannot replace lock %s (it %s): %m", path, why);
					return -1;
				}
				char holder[96] = "";
				if (held == 1)
					snprintf(holder, sizeof holder, ", held by pid %d (uid %d)",
					         (int)pid, (int)uid);
				log_warn(
					"replaced lock %s: it %s%s; a lock others can open lets them "
					"keep meshd from starting",
					path, why, holder);
				continue;
			}
			fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
			struct stat fst;
			if (fd != -1 && (fstat(fd, &fst) == -1 || fst.st_ino != st.st_ino ||
			                 fst.st_dev != st.st_dev)) {
				close(fd); /* replaced between lstat and open: look again */
				continue;
			}
			if (fd == -1 && errno == ENOENT)
				continue;
		}
		if (fd == -1) {
			log_error("cannot open %s: %m", path);
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			log_error("another meshd is running with routes %s (lock %s held)",
			          c->snapshot, path);
			close(fd);
			return -1;
		}
		return fd;
	}
	log_error("cannot take lock %s: it keeps changing under us", path);
	return -1;
}

/* The pid of a meshd running with c's snapshot (the holder of its lock,
 * root or our user), or 0: what it listens on is no conflict for -t. */
pid_t lock_running_meshd(const struct config *c)
{
	char path[4200];
	struct stat st;
	pid_t pid = 0;
	uid_t uid = (uid_t)-1;
	lock_path(c, path, sizeof path);
	if (lstat(path, &st) == -1 || lock_holder(st.st_dev, st.st_ino, &pid, &uid) != 1)
		return 0;
	return uid == 0 || uid == geteuid() ? pid : 0;
}
