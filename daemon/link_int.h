/*
 * Private to the link module (link.c, link_accept.c, link_live.c and
 * stream.c), not for its users: the
 * link's limits, struct link, and the helpers each half calls in the other.
 * Everything else includes link.h only.
 *
 * link.c: the host-to-host connection (life, handshake, output queue and
 * flush, input reading, retire and reap).
 * link_accept.c: a connection accepted on the mesh port, its quotas.
 * link_live.c: liveness (PING and PONG, the round-trip time, when a silent
 * link is dead).
 * stream.c: the streams on a link (open, accept, credit, the frames to and
 * from one stream).
 */
#ifndef MESHD_LINK_INT_H
#define MESHD_LINK_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "config.h"
#include "link.h"
#include "proto.h"

#define LINK_BUCKETS 64
#define LINK_OUT_HIGH (256 * 1024) /* queued bytes above which streams wait */
/* Queued bytes above which we stop reading the link: a peer that sends
 * without reading our answers cannot make us queue more. Above what DATA
 * alone can queue (LINK_OUT_HIGH + one frame), so that two busy meshd
 * never both stop reading and wait for each other. */
#define LINK_OUT_STOP (LINK_OUT_HIGH + 64 * 1024)
/* Queued bytes that end the link: only frames made without reading (RST,
 * FIN, WINDOW of local streams) can pass LINK_OUT_STOP; this much means
 * something is wrong, and the queue must never grow without bound. */
#define LINK_OUT_HARD (4 * 1024 * 1024)
/* A link whose peer reads nothing of what we queued for this long is ended:
 * a meshd always reads its links, so such a peer is stuck or hostile, and
 * what it holds (queue, streams, upstream connections) would otherwise
 * stay until the streams' idle timeout. */
#define LINK_STALL_TIMEOUT 10.0
/* Work one link may do in one loop iteration: then the other links,
 * listeners and timers get their turn, and the sessions ended meanwhile
 * are freed, before the rest is read. */
#define LINK_READ_FRAMES 64
#define LINK_READ_BYTES (256 * 1024)
/* A receiver link whose peer keeps opening streams we refuse (unknown
 * service, not allowed, over a limit) is ended: more than this many
 * refusals in a window, and far more than the streams accepted in it. */
#define LINK_REFUSED_MAX 1024
#define LINK_REFUSED_RATIO 4
#define LINK_REFUSED_WINDOW 10.0
/* A caller link stops taking streams before its ids would wrap: the
 * receiver requires increasing ids. */
#define LINK_LAST_ID 0xfffff000u
#define LINK_OUT_EAGER (32 * 1024) /* queued bytes written at once, not at loop end */
#define LINK_OUT_INITIAL (64 * 1024)
#define LINK_FRAME_DATA STREAM_FRAME_DATA
#define LINK_DIRECT_MIN 4096 /* smaller DATA waits to leave with others */
#define LINK_MAX_STREAMS 256 /* per caller link; more open another link */
#define LINK_IDLE_CALLER 60.0
#define LINK_IDLE_RECEIVER 75.0 /* longer: the caller normally closes first */
/* A stream waiting on a link that has been silent this long probes it
 * with a PING (at once when it opens on a link silent for longer): the
 * answer, or none, arrives well within the smallest connect timeouts. */
#define LINK_PROBE 0.05
/* link_get gives out no link whose PING has been unanswered for longer
 * than 4 round trips, and never less than this. */
#define LINK_SUSPECT_MIN 0.2
enum link_state { L_CONNECTING, L_HANDSHAKE, L_UP, L_DEAD };

struct link {
	struct worker *m;
	struct gen *gen; /* whose certificates made it (a reference:
	                                 * the TLS callbacks use its contexts) */
	bool receiver;
	bool retired;      /* no new streams; close when empty */
	bool closing;      /* close once the queue is written */
	bool write_failed; /* an eager flush failed: fail at loop end */
	bool dirty;        /* on the worker's flush list */
	bool blocked;      /* the kernel took not all: timer = stall */
	bool read_paused;  /* queue over LINK_OUT_STOP: not reading */
	bool overflow;     /* queue passed LINK_OUT_HARD: fail at loop end */
	bool pings;        /* the peer speaks libmesh/3 or later: PING/PONG */
	bool callers;      /* the peer speaks libmesh/4: CALLER */
	bool hs_held;      /* receiver: holds a handshake slot (quota_handshake) */
	uint64_t hs_key;   /* its per-source key */
	bool peer_held;    /* receiver: holds a unit of quota_peer */
	bool counted;      /* up: counted in libmesh_links_open (metrics.h) */
	uint64_t peer_key;
	const struct link_receiver_ops *rops; /* receiver: the layer above */
	enum link_state state;
	int fd;
	SSL *ssl;
	ev_io io;
	int events;
	ev_timer timer;  /* connect + handshake, then idle or stall */
	ev_timer resume; /* read on next iteration (budget used up) */
	double connect_timeout;
	/* liveness (link_live.c) */
	ev_timer live;     /* the next PING, or the deadline of the one out */
	double timeout;    /* link_timeout of the link's generation */
	ev_tstamp born;    /* link_new: the handshake's time seeds srtt */
	ev_tstamp heard;   /* last read of any byte (or write progress after
	                      * the kernel refused: the peer ACKs) */
	ev_tstamp ping_at; /* our PING out was queued then (0: none) */
	ev_tstamp want;    /* a stream opened then waits to hear the peer */
	double srtt;       /* smoothed PING round trip, seconds */
	uint64_t ping_seq; /* the payload of our last PING */
	uint64_t pong_seq; /* the payload of the PING to answer */
	bool pong_pending; /* a PONG to queue at the next flush */
	unsigned nstreams;
	uint32_t next_id;
	uint32_t last_open;         /* receiver: the highest stream id opened */
	unsigned refused, accepted; /* receiver: answers in this window */
	ev_tstamp answers_since;
	struct stream *bucket[LINK_BUCKETS];
	struct stream *waiters; /* streams waiting for output room */
	/* output queue: frames, written by link_flush */
	unsigned char *out;
	size_t ooff, olen, ocap;
	/* input: the frame being read */
	unsigned char fh[PROTO_FRAME_HDR];
	unsigned fhlen;
	bool in_payload;
	uint8_t ftype;
	uint32_t fid, flen, fleft;
	uint32_t undelivered; /* stream with DATA not yet told (0: none) */
	unsigned char small[PROTO_HDR_MAX];
	struct link *prev, *next; /* the worker's links */
	struct link *dnext;       /* flush list */
	struct link *rnext;       /* reap list */
	char addr[64];            /* endpoint (caller) or caller's ip:port */
	char peer[160];           /* the other side's spiffe URI */
	char expect[160];         /* caller: the URI the peer must present */
	char sni[CFG_NAME_MAX + 1];
	char key[];
};

/* link.c */
struct link *link_new(struct worker *m, int fd, const char *key);
void link_handshake(struct link *l); /* (again): until it is done or fails */
void link_watch(struct link *l, int events);
void link_arm(struct link *l, double secs);
void link_mark_dirty(struct link *l);
/* Room for n more queued bytes. */
int link_queue_room(struct link *l, size_t n);
int link_queue(struct link *l, enum proto_frame type, uint32_t id, const void *p, uint32_t n);
void link_fail(struct link *l, enum result result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void link_protocol_error(struct link *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void link_maybe_idle(struct link *l);
void link_flush(struct link *l, bool eager);
/* SSL_read: bytes read (> 0), 0 when TLS has nothing more now, -1 when the
 * link failed (closed by the peer, or an error). */
int link_ssl_read(struct link *l, void *p, uint32_t n);

/* link_live.c */
void link_live_init(struct link *l);   /* link_new */
void link_live_start(struct link *l);  /* up: PINGs from now on */
void link_live_stop(struct link *l);   /* closed */
void link_live_heard(struct link *l);  /* bytes arrived: the peer is there */
void link_live_opened(struct link *l); /* a stream opened: probe a quiet link */
void link_live_frame(struct link *l);  /* a PING or PONG frame was read whole */
void link_live_flush(struct link *l);  /* before a flush: the PONG owed, if room */
/* link_get: our PING has gone unanswered for more than
 * max(LINK_SUSPECT_MIN, 4 x srtt): l is retired (left to die), err says
 * so, errno is ETIMEDOUT, and true is returned. */
bool link_live_suspect(struct link *l, char *err, size_t len);
/* TCP keepalive on a host-to-host socket (net_keepalive). */
void link_live_socket(int fd, double timeout, const char *addr);

/* stream.c */
struct stream *stream_find(struct link *l, uint32_t id);
void stream_unlink(struct link *l, struct stream *st);
void stream_deliver(struct stream *st, enum stream_event ev, int code, enum result result,
                    const char *detail);
void stream_dispatch(struct link *l);
void stream_flush_delivery(struct link *l);
int stream_read_data(struct link *l);

#endif
