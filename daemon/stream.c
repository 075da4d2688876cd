/* Streams: the application connections a link carries, each with its own
 * credit (see link.h). link.c owns the connection, its output queue and
 * the frame reader; this file the streams' id table, what each frame
 * means for its stream (DATA straight into the stream's relay buffer), and
 * the stream calls its owner and the relay make. */
#include "worker.h"
#include "link_int.h"
#include "relay.h"

#include <string.h>
#include <openssl/err.h>

/* ------------------------------------------------------------ id table */

struct stream *stream_find(struct link *l, uint32_t id)
{
	for (struct stream *st = l->bucket[id % LINK_BUCKETS]; st; st = st->hnext)
		if (st->id == id)
			return st;
	return NULL;
}

static void insert(struct link *l, struct stream *st)
{
	unsigned b = st->id % LINK_BUCKETS;
	st->hnext = l->bucket[b];
	l->bucket[b] = st;
	l->nstreams++;
	if (l->state == L_UP && !l->blocked)
		link_arm(l, 0); /* not idle (a connecting link keeps its connect timer) */
}

void stream_unlink(struct link *l, struct stream *st)
{
	for (struct stream **p = &l->bucket[st->id % LINK_BUCKETS]; *p; p = &(*p)->hnext)
		if (*p == st) {
			*p = st->hnext;
			l->nstreams--;
			break;
		}
	if (st->waiting) {
		for (struct stream **p = &l->waiters; *p; p = &(*p)->wnext)
			if (*p == st) {
				*p = st->wnext;
				break;
			}
		st->waiting = false;
	}
	st->link = NULL;
}

/* ------------------------------------------------------------ input */

/* Tell a stream what happened to it: its owner until it is attached to a
 * relay, then the relay, which pumps its bytes from there on (a STATUS
 * after that is one too many: the stream ends). */
void stream_deliver(struct stream *st, enum stream_event ev, int code, enum result result,
                    const char *detail)
{
	struct relay *r = st->relay;
	if (!r) {
		st->cb(st, ev, code, result, detail);
		return;
	}
	switch (ev) {
	case STREAM_DATA:
		relay_side_data(r, st->idx);
		return;
	case STREAM_FIN:
		relay_side_eof(r, st->idx);
		return;
	case STREAM_CREDIT:
		relay_side_writable(r, st->idx);
		return;
	default: /* STREAM_RESET, STREAM_FAILED, STREAM_STATUS */
		relay_side_reset(r, st->idx, detail);
		return;
	}
}

/* CALLER (libmesh/4): the calling host's claim of who its caller is, once
 * per stream. Malformed, repeated, or sent the wrong way: the peer does not
 * follow proto.h, and the link ends. For a stream that is gone, or after
 * the caller's FIN, it is dropped, as other frames for it are. */
static void caller_frame(struct link *l, struct stream *st)
{
	if (!l->callers) {
		link_protocol_error(l, "unknown frame type");
		return;
	}
	if (!l->receiver) {
		link_protocol_error(l, "unexpected CALLER");
		return;
	}
	uint32_t pid;
	char program[PROTO_NAME_MAX + 1];
	if (proto_caller_decode(l->small, l->flen, &pid, program) != 0) {
		link_protocol_error(l, "malformed CALLER for stream %u", l->fid);
		return;
	}
	if (!st || st->fin_recv)
		return;
	if (st->caller_told) {
		link_protocol_error(l, "second CALLER for stream %u", l->fid);
		return;
	}
	st->caller_told = true;
	if (l->rops->on_caller && st->owner)
		l->rops->on_caller(st, pid, program);
}

/* A whole control frame (or an empty DATA) has arrived. */
void stream_dispatch(struct link *l)
{
	struct stream *st = stream_find(l, l->fid);
	switch (l->ftype) {
	case PROTO_FRAME_DATA:
		return;
	case PROTO_FRAME_FIN:
		if (st && !st->fin_recv) {
			st->fin_recv = true;
			stream_deliver(st, STREAM_FIN, 0, RESULT_UNSET, NULL);
		}
		return;
	case PROTO_FRAME_RST:
		if (st) {
			st->fin_recv = st->fin_sent = true; /* over: no RST back */
			stream_unlink(l, st);
			stream_deliver(st, STREAM_RESET, 0, RESULT_UNSET, "peer reset the stream");
			link_maybe_idle(l);
		}
		return;
	case PROTO_FRAME_OPEN:
		if (!l->receiver) {
			link_protocol_error(l, "unexpected OPEN");
			return;
		}
		if (st || !proto_open_id_ok(l->fid, l->last_open)) {
			link_protocol_error(l, "OPEN for stream %u (%s)", l->fid,
			                    st ? "in use" : "ids must increase");
			return;
		}
		l->last_open = l->fid;
		l->rops->on_stream(l->m, l, l->fid, l->small, l->flen);
		/* Each refusal is cheap, but a peer that opens nothing but
		 * refused streams only costs us: end its link. */
		if (l->state == L_UP && l->refused > LINK_REFUSED_MAX &&
		    l->refused > LINK_REFUSED_RATIO * l->accepted)
			link_protocol_error(l,
			                    "too many refused streams (%u refused, %u accepted "
			                    "in %.0f s)",
			                    l->refused, l->accepted, LINK_REFUSED_WINDOW);
		return;
	case PROTO_FRAME_STATUS: {
		if (l->receiver) {
			link_protocol_error(l, "unexpected STATUS");
			return;
		}
		if (!st)
			return;
		int code = proto_status_decode(l->small, l->flen);
		if (code != PROTO_ST_OK)
			st->fin_recv = st->fin_sent = true; /* a refusal ends the stream */
		stream_deliver(st, STREAM_STATUS, code, RESULT_UNSET, NULL);
		return;
	}
	case PROTO_FRAME_WINDOW: {
		uint32_t add;
		if (proto_window_decode(l->small, l->flen, &add) != 0) {
			link_protocol_error(l, "bad WINDOW");
			return;
		}
		if (st) {
			bool was_blocked = st->credit == 0;
			if (!proto_credit_ok(st->credit, add, STREAM_WINDOW)) {
				link_protocol_error(l, "credit beyond the window (%u + %u)",
				                    st->credit, add);
				return;
			}
			st->credit += add;
			if (was_blocked && !st->waiting)
				stream_deliver(st, STREAM_CREDIT, 0, RESULT_UNSET, NULL);
		}
		return;
	}
	case PROTO_FRAME_CALLER:
		caller_frame(l, st);
		return;
	default:
		link_protocol_error(l, "unknown frame type");
		return;
	}
}

/* DATA is told to its stream once per batch of records read, so the relay
 * writes it out in one large write instead of one per record. */
void stream_flush_delivery(struct link *l)
{
	if (!l->undelivered)
		return;
	struct stream *st = stream_find(l, l->undelivered);
	l->undelivered = 0;
	if (st)
		stream_deliver(st, STREAM_DATA, 0, RESULT_UNSET, NULL);
}

static __thread unsigned char discard[16384];

/* Read what the link holds of the DATA frame being read, straight into its
 * stream's relay buffer. Returns the bytes read (> 0), or -1 when the link
 * is to stop reading for now (nothing more to read, or it failed). */
int stream_read_data(struct link *l)
{
	struct stream *st = stream_find(l, l->fid);
	if (!st || !st->relay || st->fin_recv) {
		/* A stream we already closed: drop its bytes. */
		uint32_t want = l->fleft < sizeof discard ? l->fleft : (uint32_t)sizeof discard;
		int n = link_ssl_read(l, discard, want);
		if (n <= 0) {
			stream_flush_delivery(l);
			return -1;
		}
		l->fleft -= (uint32_t)n;
		if (l->fleft == 0)
			l->in_payload = false;
		return n;
	}
	/* The buffer starts small and grows (to the window at most) only
	 * while the application reads slower than the link delivers. */
	uint32_t need = l->fleft < LINK_FRAME_DATA ? l->fleft : LINK_FRAME_DATA;
	char *at;
	int room = relay_side_room(st->relay, st->idx, need, STREAM_WINDOW, &at);
	if (room == -1) {
		link_fail(l, RESULT_RESET, "out of memory for a stream buffer");
		return -1;
	}
	if (room == 0) {
		link_protocol_error(l, "DATA beyond the stream's window");
		return -1;
	}
	uint32_t want = l->fleft < (uint32_t)room ? l->fleft : (uint32_t)room;
	int n = link_ssl_read(l, at, want);
	if (n <= 0) {
		relay_side_unused(st->relay, st->idx);
		stream_flush_delivery(l);
		return -1;
	}
	bool full = relay_side_push(st->relay, st->idx, (uint32_t)n);
	l->fleft -= (uint32_t)n;
	if (l->fleft == 0)
		l->in_payload = false;
	/* One delivery per frame (or when TLS holds nothing more), not
	 * per TLS record: fewer, larger writes to the application. */
	if (!SSL_has_pending(l->ssl) || full)
		stream_deliver(st, STREAM_DATA, 0, RESULT_UNSET, NULL);
	else
		l->undelivered = st->id;
	return n;
}

/* ------------------------------------------------------------ API */

void stream_open(struct link *l, struct stream *st, const unsigned char *hdr, size_t hlen,
                 stream_cb cb, void *owner)
{
	memset(st, 0, sizeof *st);
	st->link = l;
	st->id = l->next_id++;
	if (l->next_id == 0)
		l->next_id = 1;
	st->credit = STREAM_WINDOW;
	st->cb = cb;
	st->owner = owner;
	insert(l, st);
	if (link_queue(l, PROTO_FRAME_OPEN, st->id, hdr, (uint32_t)hlen) == -1) {
		link_fail(l, RESULT_RESET, "out of memory for the link queue");
		return;
	}
	link_live_opened(l);
}

bool stream_caller_wanted(const struct stream *st)
{
	const struct link *l = st->link;
	return l && !l->receiver && l->callers && l->state != L_DEAD && !st->caller_told &&
	       !st->fin_sent;
}

bool stream_caller(struct stream *st, uint32_t pid, const char *program)
{
	if (!stream_caller_wanted(st) || !pid)
		return false;
	struct link *l = st->link;
	unsigned char p[PROTO_CALLER_MAX];
	int n = proto_caller_encode(p, pid, program);
	st->caller_told = true;
	return link_queue(l, PROTO_FRAME_CALLER, st->id, p, (uint32_t)n) == 0;
}

void stream_caller_done(struct stream *st)
{
	st->caller_told = true;
}

/* Our FIN or RST is next: the owner's last word first (STREAM_ENDING). */
static void ending(struct stream *st)
{
	if (st->cb && stream_caller_wanted(st))
		st->cb(st, STREAM_ENDING, 0, RESULT_UNSET, NULL);
}

void stream_accept(struct link *l, struct stream *st, uint32_t id, stream_cb cb, void *owner)
{
	memset(st, 0, sizeof *st);
	st->link = l;
	st->id = id;
	st->credit = STREAM_WINDOW;
	st->cb = cb;
	st->owner = owner;
	insert(l, st);
}

void stream_attach(struct stream *st, struct relay *r, int idx)
{
	st->relay = r;
	st->idx = idx;
}

/* A large DATA frame when nothing is queued: its header goes into the
 * headroom before the payload (bytes already sent) and one SSL_write sends
 * it straight from the relay buffer. 0 when sent (or its unsent tail
 * queued), -1 when the caller must queue it. */
static int direct_write(struct link *l, uint32_t id, struct buf *b, uint32_t n)
{
	if (n < LINK_DIRECT_MIN || b->start < PROTO_FRAME_HDR || l->state != L_UP ||
	    l->ooff != l->olen || l->write_failed)
		return -1;
	unsigned char *f = (unsigned char *)b->data + b->start - PROTO_FRAME_HDR;
	uint32_t len = PROTO_FRAME_HDR + n;
	proto_frame_hdr(f, PROTO_FRAME_DATA, n, id);
	ERR_clear_error();
	int w = SSL_write(l->ssl, f, (int)len);
	if (w > 0) {
		if ((uint32_t)w < len) {
			/* Part went: queue the rest as it is (no new header). */
			if (link_queue_room(l, len - (uint32_t)w) == -1) {
				l->write_failed = true;
				link_mark_dirty(l);
				return 0;
			}
			memcpy(l->out + l->olen, f + w, len - (uint32_t)w);
			l->olen += len - (uint32_t)w;
			link_mark_dirty(l);
		}
		return 0;
	}
	int e = SSL_get_error(l->ssl, w);
	if (e == SSL_ERROR_WANT_WRITE) {
		/* OpenSSL keeps the record; the queue's flush retries it with
		 * the same bytes first (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
		link_watch(l, EV_READ | EV_WRITE);
		return -1;
	}
	if (e == SSL_ERROR_WANT_READ)
		return -1;
	l->write_failed = true; /* the loop-end flush fails the link */
	link_mark_dirty(l);
	return 0;
}

int stream_write(struct stream *st, struct buf *b)
{
	struct link *l = st->link;
	if (!l || l->state == L_DEAD)
		return -2;
	int total = 0;
	while (buf_len(b) && st->credit && l->olen - l->ooff < LINK_OUT_HIGH) {
		uint32_t n = buf_len(b);
		if (n > st->credit)
			n = st->credit;
		/* A frame fills one TLS record exactly (16 KiB): a 32 KiB read
		 * goes out as two records, not two and an 8-byte third. */
		if (n > LINK_FRAME_DATA)
			n = LINK_FRAME_DATA;
		if (direct_write(l, st->id, b, n) == 0) {
			/* written from the relay buffer */
		} else if (link_queue(l, PROTO_FRAME_DATA, st->id, b->data + b->start, n) == -1)
			break;
		st->credit -= n;
		total += (int)n;
		/* b may be freed once empty: consume last. */
		buf_consume(b, n);
		/* Bulk: write as it comes rather than hold a big queue to the
		 * end of the loop iteration (small frames still leave together). */
		if (l->olen - l->ooff >= LINK_OUT_EAGER)
			link_flush(l, true);
	}
	if (buf_len(b) && st->credit && !st->waiting) {
		/* Out of link room (not credit): wait for the flush. */
		st->waiting = true;
		st->wnext = l->waiters;
		l->waiters = st;
	}
	return total;
}

void stream_fin(struct stream *st)
{
	if (!st->link || st->fin_sent)
		return;
	ending(st);
	st->fin_sent = true;
	link_queue(st->link, PROTO_FRAME_FIN, st->id, NULL, 0);
}

void stream_status(struct stream *st, int code)
{
	if (!st->link)
		return;
	unsigned char wire[PROTO_STATUS_LEN];
	proto_status_encode(wire, (enum proto_status)code);
	struct link *l = st->link;
	ev_tstamp now = ev_now(l->m->loop);
	if (now - l->answers_since >= LINK_REFUSED_WINDOW) {
		l->answers_since = now;
		l->refused = l->accepted = 0;
	}
	/* What the peer asked for that we refuse counts against its link
	 * (dispatch); our own upstream failing, or a drain, does not. */
	if (code == PROTO_ST_OK)
		l->accepted++;
	else if (code != PROTO_ST_REFUSED && code != PROTO_ST_TIMEOUT && !l->m->draining)
		l->refused++;
	link_queue(l, PROTO_FRAME_STATUS, st->id, wire, sizeof wire);
	if (code != PROTO_ST_OK)
		st->fin_sent = st->fin_recv = true;
}

void stream_consumed(struct stream *st, uint32_t n)
{
	if (!st->link || st->fin_recv)
		return;
	st->consumed += n;
	/* Credit back in batches: half a window, so a request/response
	 * exchange rarely sends any WINDOW frame at all. */
	if (st->consumed >= STREAM_WINDOW / 2) {
		unsigned char v[PROTO_WINDOW_LEN];
		proto_window_encode(v, st->consumed);
		st->consumed = 0;
		link_queue(st->link, PROTO_FRAME_WINDOW, st->id, v, sizeof v);
	}
}

void stream_close(struct stream *st)
{
	struct link *l = st->link;
	if (!l)
		return;
	if (!(st->fin_sent && st->fin_recv) && l->state != L_DEAD) {
		ending(st);
		link_queue(l, PROTO_FRAME_RST, st->id, NULL, 0);
	}
	stream_unlink(l, st);
	link_maybe_idle(l);
}

/* The relay's view of a stream side (relay_side_stream). */
static int relay_write(void *st, struct buf *b)
{
	return stream_write(st, b);
}

static void relay_fin(void *st)
{
	stream_fin(st);
}

static void relay_consumed(void *st, uint32_t n)
{
	stream_consumed(st, n);
}

static void relay_close(void *st)
{
	stream_close(st);
}

const struct relay_stream_ops stream_relay_ops = {
	.write = relay_write,
	.fin = relay_fin,
	.consumed = relay_consumed,
	.close = relay_close,
	.headroom = PROTO_FRAME_HDR,
	.unit = STREAM_FRAME_DATA,
};
