/*
 * Two outputs: the daemon's own messages (stderr, one line each, with a
 * level), and the traffic log (JSON lines, one record per write(2) so that
 * concurrent writers never interleave a line). A traffic-log write that fails
 * (full disk, file removed) loses that record, counts it, and says so on
 * stderr at most once every 10 seconds; serving goes on.
 */
#ifndef MESHD_LOG_H
#define MESHD_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Traffic log. path "-" means stdout. Returns 0 or -1 (errno set). */
int traffic_open(const char *path);
/* Reopen (SIGUSR1 / path change); on failure keeps the old file. */
int traffic_reopen(const char *path);
void traffic_write(const char *line, size_t len);
uint64_t traffic_dropped(void);
void traffic_close(void);

/* Create the missing directories above path (mode 0755). 0 or -1. */
int make_parent_dirs(const char *path);

/* "2026-11-23T01:02:03.123Z" into buf (>= 32 bytes). */
void log_timestamp(char *buf, size_t len);

#endif
