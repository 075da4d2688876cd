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

#define CTLCLIENT_SLOTS 1024 /* verdicts pending or not yet reported */

enum { CTLCLIENT_FREE, CTLCLIENT_PENDING, CTLCLIENT_FAILED };

struct ctlclient_slot {
	int state;
	unsigned gen; /* bumped on free: a waiter's slot was reused */
	int fd;
	dev_t dev; /* the socket's identity when marked */
	ino_t ino;
	uint32_t caddr, vaddr; /* network order (IPv4) */
	uint16_t cport, vport; /* network order */
	uint8_t v6;            /* a connection to a VIP6: the addresses below */
	uint8_t caddr6[16], vaddr6[16];
	int err;         /* CTLCLIENT_FAILED: ECONNREFUSED or ETIMEDOUT */
	int guard;       /* unpublished VIP-range address: I/O waits */
	long wait_ms;    /* how long the verdict may take */
	long deadline;   /* ctlclient_now_ms() at the connect + wait_ms */
	char result[16]; /* meshd's word (debug) */
};

/* All under ctlclient_mu; ctlclient_cv is broadcast whenever a slot or the
 * connection changes. */
extern pthread_mutex_t ctlclient_mu;
extern pthread_cond_t ctlclient_cv;
extern struct ctlclient_slot ctlclient_slots[CTLCLIENT_SLOTS];

extern int ctlclient_fd;
extern unsigned ctlclient_gen; /* bumped whenever ctlclient_fd changes */
extern char ctlclient_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
extern size_t ctlclient_rlen; /* bytes of a partial line from meshd */
extern int ctlclient_reading; /* a thread polls ctlclient_fd unlocked */

long ctlclient_now_ms(void);
const char *ctlclient_errname(int err);
/* "libmesh: verdict C -> V: " */
void ctlclient_line_verdict(struct shim_line *l, const struct ctlclient_slot *s);
void ctlclient_debug(const char *what, int err);
/* Same socket as when the slot was made? Also false for a closed fd. */
int ctlclient_same_socket(int fd, const struct ctlclient_slot *s);

/* The slots (all under ctlclient_mu). */
void ctlclient_mark_set(int fd, unsigned idx);
void ctlclient_slot_free(unsigned idx);
/* The live slot fd's mark points at, or -1 (a dangling mark is cleared). */
int ctlclient_slot_of(int fd);
int ctlclient_slot_new(void);
/* Every question asked on the current connection fails open. */
void ctlclient_drop_pending(void);

/* The control connection (all under ctlclient_mu). */
/* Forget the control connection; close it only if it is still ours. */
void ctlclient_drop(const char *why, int err, int close_it);
/* Is ctlclient_fd still our control socket, in our process? */
int ctlclient_check(void);
int ctlclient_connect(const char *path);
/* Read what meshd has sent, without waiting. Caller holds ctlclient_mu
 * and is the only reader (ctlclient_reading == 0, or it is the reader). */
void ctlclient_pump(void);
/* Wait (under ctlclient_mu, which it drops while blocked) until slot idx
 * of generation gen is no longer pending, or the deadline passes. */
void ctlclient_wait_slot(unsigned idx, unsigned gen, long deadline);

#pragma GCC visibility pop

#endif
