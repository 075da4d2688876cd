/*
 * One meshd per snapshot (lock.c): the lock file SNAPSHOT.lock, who holds
 * it, and whether others could open it. Logs what it refuses.
 */
#ifndef MESHD_LOCK_H
#define MESHD_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct config;

/* The lock may be opened by meshd's user alone: false with why. */
bool lock_file_safe(const struct stat *st, char *why, size_t len);
/* SNAPSHOT.lock of c into buf. */
void lock_path(const struct config *c, char *buf, size_t len);
/* Take c's lock: the descriptor that holds it, or -1 (logged). */
int lock_take(const struct config *c);
/* The pid of a meshd running with c's snapshot (root or our user), or 0. */
pid_t lock_running_meshd(const struct config *c);

#endif
