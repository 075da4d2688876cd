/*
 * The byte pump: moves bytes between two sides (a socket, or a stream of a
 * link), in both directions, with one bounded buffer per direction. It knows
 * nothing of services or identities; the session that owns it decides when
 * it starts and what its end means.
 *
 *   side[0] --read--> buf[0] --write--> side[1]
 *   side[0] <--write-- buf[1] <--read-- side[1]
 *
 * Per direction:  OPEN --EOF read--> DRAINING --buffer empty--> SHUT
 *   (SHUT = shutdown(SHUT_WR) or a FIN frame sent to the other side,
 *    while the opposite direction keeps running: half-close is forwarded.)
 * The relay is done when both directions are SHUT, or at the first error.
 *
 * A side may be a stream of a link (the host-to-host tunnel, link.h)
 * instead of a socket. The relay sits below the link and never names it:
 * the stream puts its incoming bytes straight into the relay buffer
 * (relay_side_room, relay_side_push) and tells the relay what happened
 * (relay_side_data, _eof, _writable, _reset); the relay writes, half-closes
 * and closes the stream through the struct relay_stream_ops the session
 * gave relay_side_stream (DATA frames within the stream's credit, a FIN
 * frame, a RST unless finished).
 *
 * Backpressure: a side is read only while its buffer has room, so a slow
 * reader stops the writer's reads instead of growing memory. Watchers are
 * armed only for what is actually wanted (read interest when the buffer has
 * room and the last read hit EAGAIN; write interest when data is waiting).
 */
#ifndef MESHD_RELAY_H
#define MESHD_RELAY_H

#include <ev.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* Side flags. */
#define SIDE_F_EOF 0x01    /* read returned EOF / close_notify */
#define SIDE_F_SHUT 0x02   /* we finished writing to it */
#define SIDE_F_RREADY 0x04 /* a read may make progress */
#define SIDE_F_WREADY 0x08 /* a write may make progress */

struct side;
typedef void (*side_cb)(struct side *s, int revents);

/* What the relay calls for a side that is a stream instead of a socket. */
struct relay_stream_ops {
	/* Take bytes from b (consuming them): > 0 taken, 0 none for now
	 * (relay_side_writable follows), -2 the stream is gone. */
	int (*write)(void *stream, struct buf *b);
	void (*fin)(void *stream);                  /* half-close */
	void (*consumed)(void *stream, uint32_t n); /* n of its bytes were written out */
	void (*close)(void *stream);                /* reset unless finished both ways */
	/* Reads for the stream leave `headroom` bytes free before the data
	 * and take a multiple of `unit` when there is room for one, so the
	 * stream can send them with no copy. */
	uint32_t headroom, unit;
};

struct side {
	int fd;
	const struct relay_stream_ops *ops; /* a stream instead of a socket (fd -1) */
	void *stream;                       /* what ops act on */
	ev_io io;
	int events; /* what io is armed for */
	unsigned flags;
	side_cb cb;
	void *owner;
	uint64_t bytes_read; /* application bytes read from this side */
	/* A counter the bytes read are added to as they are read, or NULL
	 * (the owner's metrics series; this worker is its only writer). */
	_Atomic uint64_t *tally;
};

enum relay_end {
	RELAY_DONE = 0, /* both directions closed cleanly */
	RELAY_RESET,    /* a side reset or failed */
	RELAY_IDLE,     /* idle timeout */
};

struct relay;
typedef void (*relay_done_cb)(struct relay *r, enum relay_end why, const char *detail);

struct relay {
	struct ev_loop *loop;
	struct side side[2];
	struct buf buf[2]; /* buf[i]: read from side[i], written to side[1-i] */
	ev_timer idle;
	double idle_timeout;
	ev_tstamp last_activity;
	bool running;
	relay_done_cb done;
	void *owner;
	char detail[128];
};

/* Side helpers, also used by sessions before the relay starts. */
void side_init(struct side *s, int fd, side_cb cb, void *owner);
/* Arm the side's watcher for exactly `events` (EV_READ|EV_WRITE or 0). */
void side_watch(struct ev_loop *loop, struct side *s, int events);
/* Stop the watcher, close fd (with RST when `reset`); a stream
 * side closes its stream (ops->close). */
void side_close(struct ev_loop *loop, struct side *s, bool reset);

/* Prepare: buffers allocated, both sides already initialised by the owner. */
int relay_init(struct relay *r, struct ev_loop *loop, relay_done_cb done, void *owner);
/* Take over both sides' watchers and start pumping. */
void relay_start(struct relay *r, double idle_timeout);

/* Side i is a stream (before relay_start): the relay reads it through
 * what the stream pushes, and writes it through ops. */
void relay_side_stream(struct relay *r, int i, const struct relay_stream_ops *ops, void *stream);
/* The stream of side i puts its bytes at the end of buf[i]. Room for want
 * bytes is made (the buffer grows up to max); *at is where they go.
 * Returns the room (0: the buffer is full at max), -1 out of memory. */
int relay_side_room(struct relay *r, int i, uint32_t want, uint32_t max, char **at);
/* n bytes were put at *at: they count as read from side i. True when the
 * buffer is now full (the relay should hear of them now). */
bool relay_side_push(struct relay *r, int i, uint32_t n);
/* Nothing was put after relay_side_room: an empty buffer goes back. */
void relay_side_unused(struct relay *r, int i);
/* What the stream of side i reports, once the relay runs: bytes were
 * pushed; its peer half-closed; it takes writes again; it is gone (detail
 * says why, NULL: "link lost"). */
void relay_side_data(struct relay *r, int i);
void relay_side_eof(struct relay *r, int i);
void relay_side_writable(struct relay *r, int i);
void relay_side_reset(struct relay *r, int i, const char *detail);
/* Stop watchers and timers (sides stay open; the owner closes them). */
void relay_stop(struct relay *r);
void relay_free(struct relay *r);

#endif
