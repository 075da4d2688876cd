/*
 * The shim's control socket (shimctl.c): connect verdicts for programs
 * waiting in the shim, and the caller's pid/program they tell meshd.
 */
#ifndef MESHD_SHIMCTL_H
#define MESHD_SHIMCTL_H

#include <stddef.h>

#include "result.h"

struct ev_loop;
struct worker;
struct session;

struct shimctl;

struct shimctl *shimctl_open(struct ev_loop *loop, const char *path, char *err, size_t len);
void shimctl_close(struct shimctl *ctl);
const char *shimctl_path(const struct shimctl *ctl);
/* The generation in force, from the main thread after worker 0 applied it
 * (main.c's publish): w0's listeners are the VIP:ports meshd holds, w0's
 * config gives the control socket's limits and how long questions wait. */
void shimctl_configure(struct shimctl *ctl, const struct worker *w0);
/* Tell a waiting shim how this outbound connection went (once). */
void shimctl_verdict(struct session *s, enum result result);
/* An outbound session joins/leaves the index the shim's questions search
 * (leaving also copies what the shim told us into pid/program). */
void shimctl_track(struct session *s);
void shimctl_untrack(struct session *s);
/* The caller's pid and program as known now (the admin API's view of an
 * open connection): the session's own, else what a shim's question has
 * told meanwhile. pid 0 and "" when neither. On s's worker. */
void shimctl_caller(struct session *s, uint32_t *pid, char *program, size_t len);

#endif
