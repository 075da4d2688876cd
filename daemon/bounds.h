/*
 * Bounds on what hostile input can make meshd hold, shared by every worker
 * (README "Security model").
 *
 * Quotas: a count per key (a local uid, a peer identity, a service, a peer
 * address) across all workers. quota_take() admits one more unit when the
 * key is below its limit; quota_give() returns it. A key's entry exists
 * only while its count is above zero, so the table holds at most as many
 * entries as there are live connections, and a source can only ever hold
 * its own limit.
 *
 * Descriptors: meshd raises its soft RLIMIT_NOFILE to the hard limit at
 * start, and keeps a reserve below it for what must never fail for lack of
 * a descriptor (reload reading the config, the control socket, the log,
 * links to other hosts). The kernel hands out the lowest free descriptor,
 * so a new descriptor numbered N proves that N others are open: one
 * comparison per accept tells whether the reserve is being eaten into.
 */
#ifndef MESHD_BOUNDS_H
#define MESHD_BOUNDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct quota_entry;

struct quota {
	pthread_mutex_t lock;
	struct quota_entry *bucket[1024];
	const char *what; /* for messages: "uid", "peer identity" ... */
};

#define QUOTA_INIT(name)                               \
	{                                              \
		PTHREAD_MUTEX_INITIALIZER, { 0 }, name \
	}

/* Open VIP connections per local uid; inbound streams per peer identity;
 * open connections per service (outbound, max_connections); handshakes
 * in progress per peer address (key 0: all of them). */
extern struct quota quota_uid, quota_peer, quota_service, quota_handshake;

/* One more unit for key, unless it already holds `limit` (0: no limit).
 * Returns true when taken (the caller must quota_give it back later). */
bool quota_take(struct quota *q, uint64_t key, unsigned limit);
void quota_give(struct quota *q, uint64_t key);
unsigned quota_count(struct quota *q, uint64_t key);

/* A 64-bit key for a string (peer identity, service name, address). */
uint64_t quota_key(const char *s);

/* Raise the soft descriptor limit to the hard one. Fills msg with what was
 * done (for the start-up log). Returns the limit now in force. */
unsigned bounds_raise_nofile(char *msg, size_t len);
/* The descriptor limit and the reserve kept below it. */
unsigned bounds_nofile(void);
unsigned bounds_reserve(void);
/* fd is a descriptor just opened: false when it lies in the reserve (the
 * caller closes it and refuses what it was for). */
bool bounds_fd_ok(int fd);
/* For accepts on the control socket, which may use the reserve: false only
 * in its last half, left to reload (config, certificates, snapshot). */
bool bounds_fd_ok_control(int fd);
/* A per-source limit configured as "auto" (0): a quarter of the descriptor
 * limit; otherwise the configured value. */
unsigned bounds_auto(unsigned configured);

/* Count one connection refused because its descriptor lay in the reserve.
 * Returns 0, or, at most once per 10 s across all workers, the number
 * refused since the last time it returned non-zero: the caller then warns
 * (one line per 10 s however hard the flood). */
unsigned long bounds_reserve_refused(double now);

#endif
