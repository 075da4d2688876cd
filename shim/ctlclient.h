/*
 * Private to verdict.c and ctlclient.c: the state they share under one
 * mutex (verdict.c's opening comment has the design). ctlclient.c owns the
 * table of verdict slots (a question asked of meshd and, once in, its
 * answer), the control connection and the reading of meshd's answer lines,
 * and the single-reader wait; verdict.c decides when to ask and what the
 * program sees. Everything here is hidden, like shim.h's.
 */
#ifndef LIBMESH_CTLCLIENT_H
#define LIBMESH_CTLCLIENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "shim.h"

#pragma GCC visibility push(hidden)

#define VSLOTS 1024 /* verdicts pending or not yet reported */

enum { VS_FREE, VS_PENDING, VS_FAILED };

struct vslot {
	int state;
	unsigned gen; /* bumped on free: a waiter's slot was reused */
	int fd;
	dev_t dev; /* the socket's identity when marked */
	ino_t ino;
	uint32_t caddr, vaddr; /* network order */
	uint16_t cport, vport; /* network order */
	int err;               /* VS_FAILED: ECONNREFUSED or ETIMEDOUT */
	int guard;             /* unpublished VIP-range address: I/O waits */
	long wait_ms;          /* how long the verdict may take */
	long deadline;         /* now_ms() at the connect + wait_ms */
	char result[16];       /* meshd's word (debug) */
};

/* All under mu; cv is broadcast whenever a slot or the connection changes. */
extern pthread_mutex_t mu;
extern pthread_cond_t cv;
extern struct vslot slots[VSLOTS];

extern int ctl_fd;
extern unsigned ctl_gen; /* bumped whenever ctl_fd changes */
extern char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
extern size_t rlen; /* bytes of a partial line from meshd */
extern int reading; /* a thread polls ctl_fd unlocked */

long now_ms(void);
const char *errname(int err);
/* "libmesh: verdict C -> V: " */
void line_verdict(struct shim_line *l, const struct vslot *s);
void debug_ctl(const char *what, int err);
/* Same socket as when the slot was made? Also false for a closed fd. */
int same_socket(int fd, const struct vslot *s);

/* The slots (all under mu). */
void mark_set(int fd, unsigned idx);
void slot_free(unsigned idx);
/* The live slot fd's mark points at, or -1 (a dangling mark is cleared). */
int slot_of(int fd);
int slot_new(void);
/* Every question asked on the current connection fails open. */
void drop_pending(void);

/* The control connection (all under mu). */
/* Forget the control connection; close it only if it is still ours. */
void ctl_drop(const char *why, int err, int close_it);
/* Is ctl_fd still our control socket, in our process? */
int ctl_check(void);
int ctl_connect(const char *path);
/* Read what meshd has sent, without waiting. Caller holds mu and is the
 * only reader (reading == 0, or it is the reader). */
void pump(void);
/* Wait (under mu, which it drops while blocked) until slot idx of
 * generation gen is no longer pending, or the deadline passes. */
void wait_slot(unsigned idx, unsigned gen, long deadline);

#pragma GCC visibility pop

#endif
