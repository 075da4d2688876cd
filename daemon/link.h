/*
 * Links: host-to-host mutual-TLS connections, each carrying many streams
 * (one per application connection), multiplexed with the frames of proto.h.
 *
 * Why: one TLS connection per application connection costs about 25 KiB of
 * OpenSSL state on each host for as long as the connection lives, and one
 * write(2) and one read(2) per message on each host. A link shares the TLS
 * state among its streams, and every frame queued during one loop iteration
 * leaves in one SSL_write just before the loop waits again (link_flush_all
 * from the worker's ev_prepare), so busy connections share system calls.
 *
 * The caller's side (outbound) keys links by "caller identity | endpoint |
 * serving identity": a link carries exactly one caller identity, so the
 * receiver's per-stream authorization (allow lists) is unchanged, and the
 * serving identity was checked in the handshake (SNI + certificate URI).
 *
 * Flow control is per stream: a sender may have STREAM_WINDOW bytes the
 * receiver has not yet written on; the receiver's DATA lands directly in the
 * session's relay buffer, which is that large, and WINDOW frames give credit
 * back as the relay writes it out. A slow application therefore stalls only
 * its own stream, never the link. The link's own output queue is bounded:
 * streams stop taking bytes from their sockets while it is over
 * LINK_OUT_HIGH and resume when it drains (STREAM_CREDIT).
 *
 * Hostile peers (README "Security model"): a link is read for at most 64
 * frames or 256 KiB per loop iteration, so one link cannot starve the
 * others; it is not read at all while its queue is over LINK_OUT_STOP (a
 * peer that does not read our answers cannot make us queue more), and it
 * ends when its peer reads nothing for LINK_STALL_TIMEOUT. A receiver
 * takes at most max_streams_per_link streams per link and ends a link
 * whose OPENs are mostly refused; its links and streams count in their
 * peer identity's max_connections_per_peer; handshakes on the mesh port
 * are capped (max_handshakes, max_handshakes_per_source) and time out
 * after handshake_timeout. Anything against proto.h (stream id 0, an OPEN
 * id that does not increase, credit beyond the window) ends the link as a
 * protocol error, with a record.
 *
 * Liveness (link_live.c): a link silent for a third of link_timeout sends a
 * PING, and one that then hears nothing for link_timeout fails (timeout)
 * with its streams; a stream opened on a quiet link probes it at once.
 * Host-to-host sockets have TCP keepalive and TCP_USER_TIMEOUT from
 * link_timeout as well.
 *
 * Lifetime: a link with no streams closes after an idle time (caller 60 s,
 * receiver 75 s, so the caller normally closes first). A reload retires the
 * caller's links (no new streams: new certificates; a generation that
 * discovery derives shares the TLS contexts and keeps them); a drain
 * retires all.
 */
#ifndef MESHD_LINK_H
#define MESHD_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "result.h"

/* Bytes a stream may have in flight towards its receiver: the most its
 * input buffer grows to when the application reads slowly. 1 MiB keeps one
 * stream near the speed of a plain TCP connection on loopback (128 KiB
 * measured 3.5 Gbit/s, 512 KiB 5.1, 1 MiB 5.7 before batched delivery). */
#define STREAM_WINDOW (1024 * 1024)

/* DATA payload per frame: a frame then fills one TLS record (16 KiB). A
 * relay reading for a stream reads a multiple of it, after a frame
 * header's worth of headroom (stream_relay_ops), so that a full frame can
 * be written straight from the relay buffer (no copy) when the link's
 * queue is empty. */
#define STREAM_FRAME_DATA (16384 - 8)

struct link;
struct worker;
struct cfg_addr;
struct relay;
struct buf;

enum stream_event {
	STREAM_FAILED, /* the link failed: result (enum result) and detail say why */
	STREAM_STATUS, /* caller: the receiver's status arrived (code) */
	STREAM_DATA,   /* bytes were appended to the relay buffer */
	STREAM_FIN,    /* the peer half-closed */
	STREAM_CREDIT, /* the stream may write again */
	STREAM_RESET,  /* the peer reset the stream (detail) */
	/* Caller: our FIN or RST for the stream is about to be queued: the
	 * last moment for a CALLER (stream_caller). Told to the owner even
	 * once the stream is attached to a relay. */
	STREAM_ENDING,
};

/* What happens on a stream, told to its owner until stream_attach; from
 * then on the relay hears it instead (relay_side_data, _eof, _writable,
 * _reset), so bytes never pass through the owner. */
struct stream;
typedef void (*stream_cb)(struct stream *st, enum stream_event ev, int code, enum result result,
                          const char *detail);

struct stream {
	struct link *link; /* NULL once closed */
	uint32_t id;
	struct stream *hnext; /* the link's id table */
	struct stream *wnext; /* the link's list of writers waiting for room */
	bool waiting;
	bool fin_sent, fin_recv;
	bool caller_told;    /* a CALLER was sent (caller) or received (receiver) */
	uint32_t credit;     /* bytes we may still send */
	uint32_t consumed;   /* bytes written out, not yet credited back */
	struct relay *relay; /* once attached: takes its bytes and events (side idx) */
	int idx;
	stream_cb cb;
	void *owner;
};

/* Caller: an open link for key that can take a stream, or a new one
 * (connecting). NULL when the TCP connect fails at once (errno set, err
 * filled) or TLS cannot be set up (errno EPROTO). *fresh says which. An
 * open link that is not answering its PING (link_live_suspect) is retired
 * instead, and NULL returned with errno ETIMEDOUT: the peer is likely gone,
 * and another endpoint is the better bet than a new link to it. */
struct link *link_get(struct worker *m, const char *key, const struct cfg_addr *dst,
                      const char *endpoint, const char *identity, const char *serving_identity,
                      const char *peer_spiffe, double connect_timeout, bool *fresh, char *err,
                      size_t len);
/* Caller: open a stream on l with the encoded header (OPEN frame). */
void stream_open(struct link *l, struct stream *st, const unsigned char *hdr, size_t hlen,
                 stream_cb cb, void *owner);
/* Caller: tell the receiver the caller's pid and program (CALLER frame),
 * once per stream, before its FIN or RST. False when it cannot go: the
 * link does not speak libmesh/4, the stream is over or already told. */
bool stream_caller(struct stream *st, uint32_t pid, const char *program);
/* Caller: a CALLER could still go on st (what stream_caller checks). */
bool stream_caller_wanted(const struct stream *st);
/* Caller: no CALLER for this stream (the header said it all). */
void stream_caller_done(struct stream *st);
/* Receiver: what the layer above does with a receiver link's streams and
 * failures (inbound.c gives it; the link never calls up by name). */
struct link_receiver_ops {
	/* An OPEN frame arrived for id, with its header: take the stream
	 * (stream_accept) and answer it (stream_status). */
	void (*on_stream)(struct worker *m, struct link *l, uint32_t id, const unsigned char *hdr,
	                  size_t len);
	/* A receiver link failed before it carried a stream (stranger, wrong
	 * certificate, handshake timeout), the peer's conduct ended it, or a
	 * connection was refused before TLS: record it. */
	void (*on_failed)(struct worker *m, const char *client, const char *source,
	                  enum result result, const char *detail);
	/* A CALLER frame arrived for stream st (the first for it, well-formed,
	 * before the caller's FIN): the calling host's claim of its caller's
	 * pid and program. */
	void (*on_caller)(struct stream *st, uint32_t pid, const char *program);
};
/* Receiver: accepted TCP connection on the mesh port; ops outlives it. */
void link_accept(struct worker *m, int fd, const struct sockaddr_storage *peer,
                 const struct link_receiver_ops *ops);
/* Receiver: take stream id from an OPEN frame. */
void stream_accept(struct link *l, struct stream *st, uint32_t id, stream_cb cb, void *owner);

/* Both. */
const char *link_peer(const struct link *l); /* the other side's spiffe URI */
const char *link_sni(const struct link *l);  /* receiver: identity asked for */
const char *link_addr(const struct link *l); /* receiver: caller ip:port */
bool link_up(const struct link *l);          /* TLS is up (a stream opened now reuses it) */
unsigned link_streams(const struct link *l); /* streams open on it now */
/* Something arrived on l after time t (ev_now): a stream opened at t knows
 * the peer is there even if it has not answered the stream yet. */
bool link_heard_since(const struct link *l, double t);
/* The relay r pumps this stream as its side idx from now on: DATA goes
 * into r's buffer, events to r (the session gave r stream_relay_ops and
 * this stream with relay_side_stream). */
void stream_attach(struct stream *st, struct relay *r, int idx);
/* What the relay calls for a side that is a stream: stream_write,
 * stream_fin, stream_consumed and stream_close, with a frame header's
 * headroom and whole frames per read. */
extern const struct relay_stream_ops stream_relay_ops;
/* DATA from b: bytes taken (> 0), 0 when out of credit or room (the relay
 * hears relay_side_writable when there is some), -2 when the link is gone. */
int stream_write(struct stream *st, struct buf *b);
void stream_fin(struct stream *st);
/* Receiver: answer the OPEN; a refusal also ends the stream. */
void stream_status(struct stream *st, int code);
/* The relay wrote n bytes of this stream's input out: give credit back. */
void stream_consumed(struct stream *st, uint32_t n);
/* Detach from the link; a stream not finished both ways is reset. */
void stream_close(struct stream *st);

/* Worker hooks. */
void link_flush_all(struct worker *m); /* ev_prepare: write what was queued */
void link_reap(struct worker *m);      /* free links that died */
void link_retire_all(struct worker *m, bool receivers_too);
/* No new streams on l (it did not answer in time); it closes when empty. */
void link_retire(struct link *l);
unsigned link_close_idle(struct worker *m); /* out of descriptors: drop idle links */
void link_free_all(struct worker *m);
/* The worker's links as JSON objects, comma-separated, appended to out
 * (the admin API's /links; runs in the worker's loop, link_live.c). */
struct sbuf;
void link_view(struct worker *m, struct sbuf *out);

#endif
