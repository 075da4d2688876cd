/*
 * The byte pump (see relay.h for the states). One function moves one
 * direction; relay_pump runs both until neither makes progress or a round
 * limit is hit (so one busy connection cannot starve the loop), then arms
 * each side's watcher for exactly what it is waiting on.
 */
#include "relay.h"
#include "container.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PUMP_ROUNDS 16

/* One writer per tally (the worker): a relaxed load and store, no lock and
 * no locked add, is exact and costs what a plain add does. */
static inline void side_count(struct side *s, uint32_t n)
{
	s->bytes_read += n;
	if (s->tally)
		atomic_store_explicit(s->tally,
		                      atomic_load_explicit(s->tally, memory_order_relaxed) + n,
		                      memory_order_relaxed);
}

static void side_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct side *s = container_of(w, struct side, io);
	s->cb(s, revents);
}

void side_init(struct side *s, int fd, side_cb cb, void *owner)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->cb = cb;
	s->owner = owner;
	s->flags = SIDE_F_RREADY | SIDE_F_WREADY;
	ev_io_init(&s->io, side_io_cb, fd, 0);
}

void side_watch(struct ev_loop *loop, struct side *s, int events)
{
	if (s->fd == -1 || events == s->events)
		return;
	ev_io_stop(loop, &s->io);
	s->events = events;
	if (events) {
		/* ev_io_modify, not ev_io_set: the fd is the same, so libev need
		 * not re-register it when the mask it last gave epoll still holds. */
		ev_io_modify(&s->io, events);
		ev_io_start(loop, &s->io);
	}
}

void side_close(struct ev_loop *loop, struct side *s, bool reset)
{
	if (s->ops) {
		s->ops->close(s->stream);
		s->ops = NULL;
		s->stream = NULL;
	}
	if (s->fd == -1)
		return;
	ev_io_stop(loop, &s->io);
	s->events = 0;
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(s->fd);
	s->fd = -1;
}

/* Read at most len bytes: >0 bytes, 0 EOF, -1 would block, -2 error (detail
 * filled). */
static int side_recv(struct side *s, void *p, size_t len, char *detail, size_t dlen)
{
	for (;;) {
		ssize_t n = read(s->fd, p, len);
		/* A short read means the socket is (very likely) drained: let
		 * epoll say when there is more rather than paying a read that
		 * returns EAGAIN. */
		if (n > 0 && (size_t)n < len)
			s->flags &= ~SIDE_F_RREADY;
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			s->flags &= ~SIDE_F_RREADY;
			return -1;
		}
		snprintf(detail, dlen, "read: %s", strerror(errno));
		return -2;
	}
}

/* Read from src (a socket) into b, for dst. */
static int relay_read(struct side *src, struct side *dst, struct buf *b, char *detail, size_t dlen)
{
	if (buf_reserve(b) == -1) {
		snprintf(detail, dlen, "out of memory for a buffer");
		return -2;
	}
	buf_compact(b);
	uint32_t room = buf_room(b);
	if (dst->ops) {
		/* For a stream: headroom for a frame header, and whole frames,
		 * so each can leave straight from here (stream.c). */
		uint32_t head = dst->ops->headroom, unit = dst->ops->unit;
		if (b->start == b->end && b->start < head) {
			b->start = b->end = head;
			room = buf_room(b);
		}
		if (room >= unit)
			room -= room % unit;
	}
	int n = room ? side_recv(src, b->data + b->end, room, detail, dlen) : -1;
	if (n > 0) {
		b->end += (uint32_t)n;
		side_count(src, (uint32_t)n);
	}
	if (buf_len(b) == 0)
		buf_free(b); /* nothing came: stay without a buffer while idle */
	return n;
}

/* Write from b: >0 bytes, -1 would block, -2 error. */
static int side_write(struct side *s, struct buf *b, char *detail, size_t len)
{
	uint32_t n0 = buf_len(b);
	if (n0 == 0)
		return 0;
	if (s->ops) {
		int n = s->ops->write(s->stream, b);
		if (n > 0)
			return n;
		if (n == 0) {
			s->flags &= ~SIDE_F_WREADY; /* relay_side_writable sets it again */
			return -1;
		}
		snprintf(detail, len, "link lost");
		return -2;
	}
	for (;;) {
		ssize_t n = send(s->fd, b->data + b->start, n0, MSG_NOSIGNAL);
		if (n >= 0) {
			if ((uint32_t)n < n0)
				s->flags &= ~SIDE_F_WREADY; /* the socket buffer is full */
			buf_consume(b, (uint32_t)n);
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			s->flags &= ~SIDE_F_WREADY;
			return -1;
		}
		snprintf(detail, len, "write: %s", strerror(errno));
		return -2;
	}
}

/* Finish writing to s: a FIN frame for a stream, FIN for TCP. 1 done,
 * -2 error. */
static int side_shutdown(struct side *s, char *detail, size_t len)
{
	if (s->ops) {
		s->ops->fin(s->stream);
		return 1;
	}
	if (shutdown(s->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
		snprintf(detail, len, "shutdown: %s", strerror(errno));
		return -2;
	}
	return 1;
}

static bool can_read(const struct side *s)
{
	if (s->ops)
		return false; /* its stream pushes */
	return s->flags & SIDE_F_RREADY;
}

/* Move one direction. Returns 1 on progress, 0 none, -1 error. */
static int pump_dir(struct relay *r, int i)
{
	struct side *src = &r->side[i], *dst = &r->side[1 - i];
	struct buf *b = &r->buf[i];
	int progress = 0;

	if (!(src->flags & SIDE_F_EOF) && can_read(src)) {
		int n = relay_read(src, dst, b, r->detail, sizeof r->detail);
		if (n > 0)
			progress = 1;
		else if (n == 0) {
			src->flags |= SIDE_F_EOF;
			progress = 1;
		} else if (n == -2)
			return -1;
	}
	if (buf_len(b) && (dst->flags & SIDE_F_WREADY)) {
		int n = side_write(dst, b, r->detail, sizeof r->detail);
		if (n > 0) {
			progress = 1;
			if (src->ops)
				src->ops->consumed(src->stream, (uint32_t)n);
		} else if (n == -2)
			return -1;
	}
	if ((src->flags & SIDE_F_EOF) && !buf_len(b) && !(dst->flags & SIDE_F_SHUT) &&
	    (dst->flags & SIDE_F_WREADY)) {
		int n = side_shutdown(dst, r->detail, sizeof r->detail);
		if (n == 1) {
			dst->flags |= SIDE_F_SHUT;
			progress = 1;
		} else if (n == -2)
			return -1;
	}

	return progress;
}

static int interest(const struct relay *r, int j)
{
	const struct side *s = &r->side[j];
	const struct buf *in = &r->buf[j], *out = &r->buf[1 - j];
	int ev = 0;
	bool want_r = !(s->flags & SIDE_F_EOF) && buf_len(in) < BUF_SIZE;
	bool want_w = buf_len(out) ||
	              (!(s->flags & SIDE_F_SHUT) && (r->side[1 - j].flags & SIDE_F_EOF));
	if (want_r)
		ev |= EV_READ;
	if (want_w)
		ev |= EV_WRITE;
	return ev;
}

static void finish(struct relay *r, enum relay_end why)
{
	relay_stop(r);
	r->done(r, why, r->detail);
}

static void relay_pump(struct relay *r)
{
	int rounds = 0, progress = 0;
	do {
		int a = pump_dir(r, 0), b = pump_dir(r, 1);
		if (a < 0 || b < 0) {
			finish(r, RELAY_RESET);
			return;
		}
		progress = a | b;
		if (progress)
			r->last_activity = ev_now(r->loop);
	} while (progress && ++rounds < PUMP_ROUNDS);

	bool done0 = (r->side[0].flags & SIDE_F_EOF) && !buf_len(&r->buf[0]) &&
	             (r->side[1].flags & SIDE_F_SHUT);
	bool done1 = (r->side[1].flags & SIDE_F_EOF) && !buf_len(&r->buf[1]) &&
	             (r->side[0].flags & SIDE_F_SHUT);
	if (done0 && done1) {
		finish(r, RELAY_DONE);
		return;
	}
	/* After yielding on the round limit the level-triggered watchers fire
	 * again at once for whatever is still ready. */
	if (progress) {
		r->side[0].flags |= SIDE_F_RREADY | SIDE_F_WREADY;
		r->side[1].flags |= SIDE_F_RREADY | SIDE_F_WREADY;
	}
	side_watch(r->loop, &r->side[0], interest(r, 0));
	side_watch(r->loop, &r->side[1], interest(r, 1));
}

static void relay_side_cb(struct side *s, int revents)
{
	struct relay *r = s->owner;
	if (revents & EV_READ)
		s->flags |= SIDE_F_RREADY;
	if (revents & EV_WRITE)
		s->flags |= SIDE_F_WREADY;
	relay_pump(r);
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct relay *r = container_of(w, struct relay, idle);
	ev_tstamp left = r->last_activity + r->idle_timeout - ev_now(loop);
	if (left > 0) {
		w->repeat = left;
		ev_timer_again(loop, w);
		return;
	}
	snprintf(r->detail, sizeof r->detail, "idle for %.0f s", r->idle_timeout);
	finish(r, RELAY_IDLE);
}

int relay_init(struct relay *r, struct ev_loop *loop, relay_done_cb done, void *owner)
{
	r->loop = loop;
	r->done = done;
	r->owner = owner;
	r->running = false;
	r->detail[0] = '\0';
	ev_init(&r->idle, idle_cb);
	return 0;
}

void relay_start(struct relay *r, double idle_timeout)
{
	r->running = true;
	r->idle_timeout = idle_timeout;
	r->last_activity = ev_now(r->loop);
	for (int i = 0; i < 2; i++) {
		struct side *sd = &r->side[i];
		sd->cb = relay_side_cb;
		sd->owner = r;
		sd->flags |= SIDE_F_WREADY;
		/* Read at once only where bytes are likely: side 0's socket (a
		 * caller that wrote before the stream was ready). Side 1 is a
		 * socket just connected: the watcher tells when it has
		 * something, which saves a read that would only say EAGAIN. A
		 * stream side is fed by its link. */
		if (i == 0 && !sd->ops)
			sd->flags |= SIDE_F_RREADY;
		else
			sd->flags &= ~SIDE_F_RREADY;
	}
	if (idle_timeout > 0) {
		r->idle.repeat = idle_timeout;
		ev_timer_again(r->loop, &r->idle);
	}
	relay_pump(r);
}

void relay_side_stream(struct relay *r, int i, const struct relay_stream_ops *ops, void *stream)
{
	r->side[i].ops = ops;
	r->side[i].stream = stream;
}

int relay_side_room(struct relay *r, int i, uint32_t want, uint32_t max, char **at)
{
	struct buf *b = &r->buf[i];
	if (buf_reserve(b) == -1 || (buf_room(b) < want && buf_make_room(b, want, max) == -1))
		return -1;
	*at = b->data + b->end;
	return (int)buf_room(b);
}

bool relay_side_push(struct relay *r, int i, uint32_t n)
{
	struct buf *b = &r->buf[i];
	b->end += n;
	side_count(&r->side[i], n);
	return b->end == b->cap;
}

void relay_side_unused(struct relay *r, int i)
{
	if (buf_len(&r->buf[i]) == 0)
		buf_free(&r->buf[i]);
}

/* The stream of side i reported something that sets `flag`: pump. */
static void side_event(struct relay *r, int i, unsigned flag)
{
	if (!r->running)
		return;
	r->side[i].flags |= flag;
	r->last_activity = ev_now(r->loop);
	relay_pump(r);
}

void relay_side_data(struct relay *r, int i)
{
	side_event(r, i, 0);
}

void relay_side_eof(struct relay *r, int i)
{
	side_event(r, i, SIDE_F_EOF);
}

void relay_side_writable(struct relay *r, int i)
{
	side_event(r, i, SIDE_F_WREADY);
}

void relay_side_reset(struct relay *r, int i, const char *detail)
{
	(void)i;
	if (!r->running)
		return;
	snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "link lost");
	finish(r, RELAY_RESET);
}

void relay_stop(struct relay *r)
{
	r->running = false;
	ev_timer_stop(r->loop, &r->idle);
	side_watch(r->loop, &r->side[0], 0);
	side_watch(r->loop, &r->side[1], 0);
}

void relay_free(struct relay *r)
{
	buf_free(&r->buf[0]);
	buf_free(&r->buf[1]);
}
