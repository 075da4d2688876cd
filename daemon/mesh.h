/*
 * Daemon-wide state shared by the session files: the running config
 * generation (config + TLS contexts + per-service cursors), the listeners,
 * the live sessions. Sessions hold a reference to the generation they
 * started with, so a reload never changes an established connection.
 */
#ifndef MESHD_MESH_H
#define MESHD_MESH_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "identity.h"
#include "link.h"
#include "proto.h"
#include "relay.h"
#include "tls.h"
#include "upstream.h"

struct gen {
	int             refs;
	struct config  *cfg;
	struct tls_env *tls;
	uint64_t       *cursors;     /* one per service, for upstream_pick */
};

struct gen *gen_ref(struct gen *g);
void gen_unref(struct gen *g);

enum listener_kind { LISTEN_VIP, LISTEN_INBOUND };

struct listener {
	ev_io            io;
	ev_timer         pause;      /* EMFILE back-off */
	int              fd;
	enum listener_kind kind;
	struct cfg_addr  addr;
	char             service[CFG_NAME_MAX + 1];
	uint16_t         port;
	bool             mark;       /* reconcile scratch */
	struct meshd    *m;
	struct listener *next;
};

enum sess_state {
	/* outbound */
	S_CONNECTING,      /* TCP connect to a local upstream */
	S_WAIT_STATUS,     /* stream opened on a link, waiting for the peer's status */
	S_BACKOFF,         /* waiting before the next attempt */
	/* inbound */
	S_UP_CONNECT,      /* connecting the local upstream */
	/* both */
	S_RELAY,
	S_CLOSED,
};

enum sess_kind { SESS_OUTBOUND, SESS_INBOUND };

struct quota;
#define SESSION_QUOTAS 4

struct session {
	struct meshd    *m;
	struct gen      *gen;
	struct session  *prev, *next;      /* meshd live list */
	struct session  *reap_next;
	enum sess_kind   kind;
	enum sess_state  state;
	struct relay     relay;            /* side[0]: caller or stream, side[1]: stream or upstream */
	struct stream    stream;           /* the host-to-host stream (link.h), when there is one */
	ev_timer         timer;            /* connect / handshake / backoff */

	uint64_t         id;
	ev_tstamp        t_start, t_connected;
	const struct cfg_service *svc;
	char             svc_name[CFG_NAME_MAX + 1];
	uint16_t         port;

	/* caller */
	bool             caller_known;
	uint32_t         uid;
	uint32_t         pid;
	char             program[PROTO_NAME_MAX + 1];
	uint64_t         caller_inode;     /* the caller's socket (outbound; sock_diag), never 0 once known */
	/* inbound: what the calling host's header says about its caller. Its
	 * claims, recorded as such and never used for a decision (the caller
	 * fields above stay unknown on inbound sessions). */
	bool             claims;           /* a header was read: the claimed_* fields are its */
	uint32_t         claimed_uid;      /* PROTO_UID_UNKNOWN when not claimed */
	uint32_t         claimed_pid;      /* 0 when not claimed */
	char             claimed_program[PROTO_NAME_MAX + 1];
	char             source[160];      /* spiffe URI */
	char             client[64];       /* ip:port of the TCP peer */
	char             tuple[136];       /* "client vip:port", the shim's key (outbound) */
	bool             verdict_told;
	/* control.c's, under its lock: the live-session index and what a
	 * shim's late question taught us about the caller. */
	struct session  *ctl_next;
	bool             ctl_listed;
	const char      *ctl_verdict;
	uint32_t         ctl_pid;
	char             ctl_program[PROTO_NAME_MAX + 1];
	const char      *identity;         /* local identity name (outbound) */

	/* attempts (outbound) */
	unsigned         attempts;
	int              ep;
	uint8_t          tried[UPSTREAM_MAX_TRIED];
	char             endpoint[64];
	char             peer[160];        /* spiffe URI the other side presented */
	bool             tls_up;
	bool             reused;           /* the link carried earlier streams */

	const char      *result;
	char             detail[160];

	/* Quota units this session holds (bounds.h: per uid, per service ...),
	 * taken with session_take and given back once, when it ends. */
	struct {
		struct quota *q;
		uint64_t      key;
	}                held[SESSION_QUOTAS];
};

struct control;
struct record_floods;

/* One worker: an event loop and everything it serves (worker.c). */
struct meshd {
	unsigned         index;            /* 0 runs in the main thread */
	struct ev_loop  *loop;
	struct gen      *gen;              /* the generation new connections use */
	struct listener *listeners;        /* VIP listeners */
	struct listener *inbound;
	struct session  *sessions;
	unsigned         nsessions;
	struct session  *reap;
	ev_prepare       reaper;           /* frees ended sessions before the loop blocks */
	bool             draining;
	ev_timer         drain_timer;
	struct link     *links;            /* host-to-host links (link.c) */
	struct link     *link_dirty;       /* links with frames to write */
	struct link     *link_reap;        /* dead links, freed before the loop blocks */
	struct control  *ctl;              /* the shim's control socket (shared) */
	struct record_floods *floods;      /* refusal floods being counted (record.c) */
	ev_timer         flood_timer;
	uint64_t         rng;

	/* main thread -> worker */
	ev_async         wake;
	pthread_mutex_t  lock;
	struct gen      *pending_gen;
	bool             pending_drain;
	uint64_t         applied;          /* generation in force (applied_lock) */
	pthread_t        thread;
	bool             threaded;
};

/* sessions (outbound.c, inbound.c, session.c) */
void outbound_accept(struct meshd *m, struct listener *l, int fd,
                     const struct sockaddr_storage *peer);
void inbound_accept(struct meshd *m, struct listener *l, int fd,
                    const struct sockaddr_storage *peer);
/* A VIP connection meshd will not carry (its descriptor lies in the
 * reserve): recorded with `result` and `detail`, told to a waiting shim,
 * and reset. */
void outbound_refuse(struct meshd *m, struct listener *l, int fd,
                     const struct sockaddr_storage *peer, const char *result,
                     const char *detail);
struct session *session_new(struct meshd *m, enum sess_kind kind, int fd);
/* End the session: record it, close both sides (resetting the caller when
 * `reset`), and queue it for freeing after the current callback. */
void session_end(struct session *s, const char *result, bool reset);
/* End a session whose relay finished: ok, timeout (idle) or reset. */
void session_end_relay(struct session *s, enum relay_end why, const char *detail);
void session_set_detail(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* One unit of q for key, held by s until it ends (session_end gives back
 * all it holds, exactly once). False when key is at its limit (0: none). */
bool session_take(struct session *s, struct quota *q, uint64_t key, unsigned limit);
void session_reap(struct meshd *m);
void session_abort_all(struct meshd *m);
uint64_t mesh_random(struct meshd *m);

/* record.c: one JSON line for the session's end */
void record_close(const struct session *s);
/* A refusal (a session that ended before the relay): false when its
 * source has used its burst for this window (it is counted, and written
 * later as one "aggregate" record). */
bool record_admit(struct meshd *m, const struct session *s);
/* Write the aggregates of windows that are over (all: every pending one). */
void record_flush_floods(struct meshd *m, bool all);
void record_floods_free(struct meshd *m);

/* listener.c */
int listener_sync(struct meshd *m, const struct config *c, char **err);
void listener_close_all(struct meshd *m);
/* Does m listen on vip:port (port in host order)? On worker 0, from the
 * main thread: whether meshd holds it. */
bool listener_held(const struct meshd *m, struct in_addr vip, uint16_t port);
/* m listens on every VIP:port of s. */
bool listener_service_held(const struct meshd *m, const struct cfg_service *s);
/* Helpers that never log: a nonblocking socket connecting to addr.
 * Returns fd (connect in progress or done) or -1 with err filled. */
int net_connect(const struct cfg_addr *a, char *err, size_t len);
/* The outcome of a non-blocking connect once writable: 0 or an errno. */
int net_connect_error(int fd);
const char *net_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);

/* worker.c */
int worker_init(struct meshd *m, unsigned index, struct ev_loop *loop, struct control *ctl);
int worker_start(struct meshd *m, struct gen *g);
void worker_post_gen(struct meshd *m, struct gen *g);
void worker_post_drain(struct meshd *m);
int worker_wait_applied(struct meshd *w, unsigned n, uint64_t generation, double secs);
void worker_finish(struct meshd *m);

/* control.c: connect verdicts for the shim */
struct control *control_open(struct ev_loop *loop, const char *path, char *err, size_t len);
void control_close(struct control *ctl);
const char *control_path(const struct control *ctl);
/* The generation in force, from the main thread after worker 0 applied it
 * (main.c's publish): w0's listeners are the VIP:ports meshd holds, w0's
 * config gives the control socket's limits and how long questions wait. */
void control_configure(struct control *ctl, const struct meshd *w0);
/* Tell a waiting shim how this outbound connection went (once). */
void control_verdict(struct session *s, const char *result);
/* An outbound session joins/leaves the index the shim's questions search
 * (leaving also copies what the shim told us into pid/program). */
void control_track(struct session *s);
void control_untrack(struct session *s);

/* snapshot_pub.c */
/* Publish c's routes, leaving out every service for which held() is false
 * (meshd does not hold all its VIP:ports) and its intercepts; held NULL:
 * all. *left_out (may be NULL) gets the number left out. */
int snapshot_publish(const struct config *c, const char *control, uint64_t generation,
                     bool (*held)(const struct cfg_service *s, void *arg), void *arg,
                     unsigned *left_out, char **err);
void snapshot_unpublish(const struct config *c);
/* How long the shim may wait for a verdict on a connection to s (ms). */
unsigned snapshot_verdict_ms(const struct cfg_service *s);
/* VIPs of a previously published snapshot, for stable assignment. */
uint32_t snapshot_prev_vip(const char *name, void *arg);

#endif
