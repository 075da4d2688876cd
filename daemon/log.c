/* Daemon messages and the traffic-log file (see log.h). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

static atomic_int traffic_fd = -1;
static char traffic_path[4096];
static atomic_uint_fast64_t dropped;
static atomic_int_fast64_t last_drop_warn;
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

void log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (lvl < min_level)
		return;
	char line[2048], ts[40];
	int saved = errno;
	log_timestamp(ts, sizeof ts);
	int n = snprintf(line, sizeof line, "%s meshd[%d] %s: ", ts, (int)getpid(),
	                 level_names[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
	errno = saved;
}

int make_parent_dirs(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static int open_path(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(STDOUT_FILENO);
	make_parent_dirs(path);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int traffic_open(const char *path)
{
	return traffic_reopen(path);
}

int traffic_reopen(const char *path)
{
	pthread_mutex_lock(&reopen_lock);
	int fd = open_path(path);
	if (fd == -1) {
		int e = errno;
		pthread_mutex_unlock(&reopen_lock);
		errno = e;
		return -1;
	}
	snprintf(traffic_path, sizeof traffic_path, "%s", path);
	int old = atomic_exchange(&traffic_fd, fd);
	/* A writer racing with us may still hold `old`; writes to a closed fd
	 * fail with EBADF and are counted, which is acceptable on a reopen. */
	if (old != -1)
		close(old);
	pthread_mutex_unlock(&reopen_lock);
	return 0;
}

void traffic_write(const char *line, size_t len)
{
	/* One lock around the write: rare partial writes are undone below, and
	 * that must not cut another worker's record. */
	pthread_mutex_lock(&write_lock);
	int fd = atomic_load(&traffic_fd);
	ssize_t w = -1;
	size_t off = 0;
	errno = EBADF;
	while (fd != -1 && off < len) {
		w = write(fd, line + off, len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	int e = w == -1 ? errno : ENOSPC;
	if (off > 0 && off < len) {
		/* A full disk took part of the line: take it back, so that the
		 * file stays one whole JSON object per line. */
		struct stat st;
		if (fstat(fd, &st) == 0 && st.st_size >= (off_t)off &&
		    ftruncate(fd, st.st_size - (off_t)off) == -1) {
			/* leave it; nothing better to do */
		}
	}
	pthread_mutex_unlock(&write_lock);
	if (off == len)
		return;
	uint64_t n = atomic_fetch_add(&dropped, 1) + 1;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t last = atomic_load(&last_drop_warn);
	if (ts.tv_sec - last >= 10 &&
	    atomic_compare_exchange_strong(&last_drop_warn, &last, ts.tv_sec))
		log_error("traffic log %s: write failed (%s); %llu record(s) lost so far",
		          traffic_path, strerror(e), (unsigned long long)n);
}

uint64_t traffic_dropped(void)
{
	return atomic_load(&dropped);
}

void traffic_close(void)
{
	int fd = atomic_exchange(&traffic_fd, -1);
	if (fd != -1)
		close(fd);
}
