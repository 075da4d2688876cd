/*
 * One connection meshd carries, outbound (program -> endpoint) or inbound
 * (stream -> local upstream), and what both directions share: creation,
 * the single end path, reaping, ids, quota units held.
 */
#ifndef MESHD_SESSION_H
#define MESHD_SESSION_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "link.h"
#include "proto.h"
#include "relay.h"
#include "endpoint.h"
#include "result.h"

struct worker;
struct gen;
struct listener;

enum sess_state {
	/* outbound */
	S_CONNECTING,  /* TCP connect to a local upstream */
	S_WAIT_STATUS, /* stream opened on a link, waiting for the peer's status */
	S_BACKOFF,     /* waiting before the next attempt */
	/* inbound */
	S_UP_CONNECT, /* connecting the local upstream */
	/* both */
	S_RELAY,
	S_CLOSED,
};

enum sess_kind { SESS_OUTBOUND, SESS_INBOUND };

struct quota;
#define SESSION_QUOTAS 4

struct session {
	struct worker *m;
	struct gen *gen;
	struct session *prev, *next; /* meshd live list */
	struct session *reap_next;
	enum sess_kind kind;
	enum sess_state state;
	struct relay relay;   /* side[0]: caller or stream, side[1]: stream or upstream */
	struct stream stream; /* the host-to-host stream (link.h), when there is one */
	ev_timer timer;       /* connect / handshake / backoff */

	uint64_t id;
	ev_tstamp t_start, t_connected;
	const struct cfg_service *svc;
	char svc_name[CFG_NAME_MAX + 1];
	uint16_t port;

	/* caller */
	bool caller_known;
	uint32_t uid;
	uint32_t pid;
	char program[PROTO_NAME_MAX + 1];
	uint64_t caller_inode; /* the caller's socket (outbound; sock_diag), never 0 once known */
	/* inbound: what the calling host's header says about its caller. Its
	 * claims, recorded as such and never used for a decision (the caller
	 * fields above stay unknown on inbound sessions). */
	bool claims;          /* a header was read: the claimed_* fields are its */
	uint32_t claimed_uid; /* PROTO_UID_UNKNOWN when not claimed */
	uint32_t claimed_pid; /* 0 when not claimed */
	char claimed_program[PROTO_NAME_MAX + 1];
	char source[160]; /* spiffe URI */
	char client[64];  /* ip:port of the TCP peer */
	char tuple[136];  /* "client vip:port", the shim's key (outbound) */
	bool verdict_told;
	/* shimctl.c's, under its lock: the live-session index and what a
	 * shim's late question taught us about the caller. */
	struct session *ctl_next;
	bool ctl_listed;
	enum result ctl_verdict; /* RESULT_UNSET: not told yet */
	uint32_t ctl_pid;
	char ctl_program[PROTO_NAME_MAX + 1];
	const char *identity; /* local identity name (outbound) */

	/* attempts (outbound) */
	unsigned attempts;
	unsigned skipped; /* endpoints passed over for a link being found dead */
	int ep;
	struct endpoint_mask tried; /* endpoints this connection tried */
	struct endpoint_use use;    /* the attempt in flight, then the connection (endpoint.h) */
	char endpoint[64];
	char peer[160]; /* spiffe URI the other side presented */
	bool tls_up;
	bool reused;            /* the link carried earlier streams */
	ev_tstamp t_opened;     /* the stream was opened (outbound's status timer) */
	unsigned caller_checks; /* outbound.c: the CALLER checks made while relaying */

	/* record.c's: relaying sessions in the order of their last record
	 * (the worker's progress queue), and the totals that record said. */
	struct session *rec_prev, *rec_next;
	bool rec_queued;
	ev_tstamp t_record;
	uint64_t rec_sent, rec_received;

	enum result result; /* RESULT_UNSET: none yet (the record says ok) */
	char detail[160];

	/* Carried: the metrics series it counts open in (metrics.h). */
	struct metrics_series *mseries;

	/* Quota units this session holds (bounds.h: per uid, per service ...),
	 * taken with session_take and given back once, when it ends. */
	struct {
		struct quota *q;
		uint64_t key;
	} held[SESSION_QUOTAS];
};

struct session *session_new(struct worker *m, enum sess_kind kind, int fd);
/* End the session: record it, close both sides (resetting the caller when
 * `reset`), and queue it for freeing after the current callback. */
void session_end(struct session *s, enum result result, bool reset);
/* End a session whose relay finished: ok, timeout (idle) or reset. */
void session_end_relay(struct session *s, enum relay_end why, const char *detail);
void session_set_detail(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* One unit of q for key, held by s until it ends (session_end gives back
 * all it holds, exactly once). False when key is at its limit (0: none). */
bool session_take(struct session *s, struct quota *q, uint64_t key, unsigned limit);
void session_reap(struct worker *m);
void session_abort_all(struct worker *m);
uint64_t session_random(struct worker *m);
/* Seconds on the monotonic clock: what endpoint health (ejection times,
 * the retry budget, probes) is measured in, so that a step of the wall
 * clock (NTP) neither keeps an endpoint out nor lets it back early. */
double session_clock(void);

#endif
