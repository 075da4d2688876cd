/* Links: many streams over one mutual-TLS connection (see link.h). */
#include "gen.h"
#include "worker.h"
#include "listener.h"
#include "inbound.h"
#include "link.h"
#include "proto.h"
#include "tls.h"
#include "policy.h"
#include "bounds.h"
#include "hash.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/err.h>

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))
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
#define LINK_DIRECT_MIN 4096       /* smaller DATA waits to leave with others */
#define LINK_MAX_STREAMS 256       /* per caller link; more open another link */
#define LINK_IDLE_CALLER 60.0
#define LINK_IDLE_RECEIVER 75.0    /* longer: the caller normally closes first */

enum link_state { L_CONNECTING, L_HANDSHAKE, L_UP, L_DEAD };

struct link {
	struct worker   *m;
	struct gen     *gen;            /* whose certificates made it (a reference:
	                                 * the TLS callbacks use its contexts) */
	bool            receiver;
	bool            retired;        /* no new streams; close when empty */
	bool            closing;        /* close once the queue is written */
	bool            write_failed;   /* an eager flush failed: fail at loop end */
	bool            dirty;          /* on the worker's flush list */
	bool            blocked;        /* the kernel took not all: timer = stall */
	bool            read_paused;    /* queue over LINK_OUT_STOP: not reading */
	bool            overflow;       /* queue passed LINK_OUT_HARD: fail at loop end */
	bool            hs_held;        /* receiver: holds a handshake slot (quota_handshake) */
	uint64_t        hs_key;         /* its per-source key */
	bool            peer_held;      /* receiver: holds a unit of quota_peer */
	uint64_t        peer_key;
	enum link_state state;
	int             fd;
	SSL            *ssl;
	ev_io           io;
	int             events;
	ev_timer        timer;          /* connect + handshake, then idle or stall */
	ev_timer        resume;         /* read on next iteration (budget used up) */
	double          connect_timeout;
	unsigned        nstreams;
	uint32_t        next_id;
	uint32_t        last_open;      /* receiver: the highest stream id opened */
	unsigned        refused, accepted; /* receiver: answers in this window */
	ev_tstamp       answers_since;
	struct stream  *bucket[LINK_BUCKETS];
	struct stream  *waiters;        /* streams waiting for output room */
	/* output queue: frames, written by link_flush */
	unsigned char  *out;
	size_t          ooff, olen, ocap;
	/* input: the frame being read */
	unsigned char   fh[PROTO_FRAME_HDR];
	unsigned        fhlen;
	bool            in_payload;
	uint8_t         ftype;
	uint32_t        fid, flen, fleft;
	uint32_t        undelivered;    /* stream with DATA not yet told (0: none) */
	unsigned char   small[PROTO_HDR_MAX];
	struct link    *prev, *next;    /* the worker's links */
	struct link    *dnext;          /* flush list */
	struct link    *rnext;          /* reap list */
	char            addr[64];       /* endpoint (caller) or caller's ip:port */
	char            peer[160];      /* the other side's spiffe URI */
	char            expect[160];    /* caller: the URI the peer must present */
	char            sni[CFG_NAME_MAX + 1];
	char            key[];
};

static void link_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void link_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void link_resume_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void link_read(struct link *l);

/* ------------------------------------------------------------ helpers */

static size_t queued(const struct link *l)
{
	return l->olen - l->ooff;
}

static void link_watch(struct link *l, int events)
{
	if (l->read_paused)
		events &= ~EV_READ;
	if (l->fd == -1 || events == l->events)
		return;
	ev_io_stop(l->m->loop, &l->io);
	l->events = events;
	if (events) {
		ev_io_modify(&l->io, events);
		ev_io_start(l->m->loop, &l->io);
	}
}

static void arm(struct link *l, double secs)
{
	ev_timer_stop(l->m->loop, &l->timer);
	if (secs > 0) {
		ev_timer_set(&l->timer, secs, 0.);
		ev_timer_start(l->m->loop, &l->timer);
	}
}

static struct stream *find(struct link *l, uint32_t id)
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
		arm(l, 0); /* not idle (a connecting link keeps its connect timer) */
}

static void unlink_stream(struct link *l, struct stream *st)
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

static void mark_dirty(struct link *l)
{
	if (l->dirty || l->state == L_DEAD)
		return;
	l->dirty = true;
	l->dnext = l->m->link_dirty;
	l->m->link_dirty = l;
}

/* Room for n more queued bytes. */
static int queue_room(struct link *l, size_t n)
{
	size_t need = l->olen + n;
	if (need > l->ocap) {
		if (l->ooff) {
			memmove(l->out, l->out + l->ooff, l->olen - l->ooff);
			l->olen -= l->ooff;
			l->ooff = 0;
			need = l->olen + n;
		}
		if (need > l->ocap) {
			size_t cap = l->ocap ? l->ocap : LINK_OUT_INITIAL;
			while (cap < need)
				cap *= 2;
			unsigned char *o = realloc(l->out, cap);
			if (!o)
				return -1;
			l->out = o;
			l->ocap = cap;
		}
	}
	return 0;
}

/* Queue a frame (header + payload). DATA waits below LINK_OUT_HIGH
 * (stream_write), and we stop reading above LINK_OUT_STOP, so control frames
 * stay few; past LINK_OUT_HARD even they are refused and the link ends at
 * the end of the loop iteration (its streams are in their callbacks now). */
static int queue(struct link *l, enum proto_frame type, uint32_t id, const void *p,
                 uint32_t n)
{
	if (queued(l) + PROTO_FRAME_HDR + n > LINK_OUT_HARD) {
		l->overflow = true;
		mark_dirty(l);
		return -1;
	}
	if (queue_room(l, PROTO_FRAME_HDR + n) == -1)
		return -1;
	proto_frame_hdr(l->out + l->olen, type, n, id);
	if (n)
		memcpy(l->out + l->olen + PROTO_FRAME_HDR, p, n);
	l->olen += PROTO_FRAME_HDR + n;
	mark_dirty(l);
	return 0;
}

static void close_link(struct link *l, bool notify);

/* Receiver: the handshake is over (done or failed): its slot goes back. */
static void handshake_over(struct link *l)
{
	if (!l->hs_held)
		return;
	l->hs_held = false;
	quota_give(&quota_handshake, l->hs_key);
	quota_give(&quota_handshake, 0);
}

/* The link failed: every stream hears it, then the link goes. A receiver
 * link that never came up has a record of its own (its streams' records
 * say it otherwise); so has one that the peer's conduct ended (`own`),
 * even when no stream was open. */
static void vlink_fail(struct link *l, bool own, enum result result, const char *fmt,
                       va_list ap) __attribute__((format(printf, 4, 0)));

static void vlink_fail(struct link *l, bool own, enum result result, const char *fmt,
                       va_list ap)
{
	if (l->state == L_DEAD)
		return;
	char detail[160];
	vsnprintf(detail, sizeof detail, fmt, ap);
	bool was_up = l->state == L_UP;
	if (l->receiver && (!was_up || own))
		inbound_link_failed(l->m, l->addr, l->peer, result, detail);
	l->state = L_DEAD;
	for (unsigned b = 0; b < LINK_BUCKETS; b++)
		while (l->bucket[b]) {
			struct stream *st = l->bucket[b];
			unlink_stream(l, st);
			st->cb(st, STREAM_FAILED, 0, result, detail);
		}
	close_link(l, false);
}

static void link_fail(struct link *l, enum result result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void link_fail(struct link *l, enum result result, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlink_fail(l, false, result, fmt, ap);
	va_end(ap);
}

static void link_end(struct link *l, enum result result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void link_end(struct link *l, enum result result, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlink_fail(l, true, result, fmt, ap);
	va_end(ap);
}

/* The peer broke the protocol or a bound: the link ends, with a record. */
static void protocol_error(struct link *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void protocol_error(struct link *l, const char *fmt, ...)
{
	char what[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	link_end(l, RESULT_PROTOCOL_ERROR, "link with %s: %s", l->addr, what);
}

/* Close the connection and queue the link for freeing (link_reap). */
static void close_link(struct link *l, bool notify)
{
	struct worker *m = l->m;
	l->state = L_DEAD;
	ev_io_stop(m->loop, &l->io);
	ev_timer_stop(m->loop, &l->timer);
	ev_timer_stop(m->loop, &l->resume);
	handshake_over(l);
	if (l->peer_held) {
		quota_give(&quota_peer, l->peer_key);
		l->peer_held = false;
	}
	if (l->ssl) {
		if (notify) {
			ERR_clear_error();
			SSL_shutdown(l->ssl); /* close_notify, best effort */
		}
		SSL_free(l->ssl);
		l->ssl = NULL;
	}
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	if (l->prev)
		l->prev->next = l->next;
	else if (m->links == l)
		m->links = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
	l->rnext = m->link_reap;
	m->link_reap = l;
}

static void maybe_idle(struct link *l)
{
	if (l->nstreams || l->state == L_DEAD)
		return;
	if (l->retired || l->m->draining) {
		/* Close once the last FIN or RST is written (link_flush). */
		l->closing = true;
		if (l->state == L_UP)
			mark_dirty(l);
		else
			close_link(l, false);
		return;
	}
	if (l->state == L_UP && !l->blocked) {
		arm(l, l->receiver ? LINK_IDLE_RECEIVER : LINK_IDLE_CALLER);
		if (l->ooff == l->olen && l->out) {
			/* No streams: the queue's memory goes back. */
			free(l->out);
			l->out = NULL;
			l->ooff = l->olen = l->ocap = 0;
		}
	}
}

static struct link *link_new(struct worker *m, int fd, const char *key)
{
	size_t kl = strlen(key) + 1;
	struct link *l = calloc(1, sizeof *l + kl);
	if (!l)
		return NULL;
	memcpy(l->key, key, kl);
	l->m = m;
	l->gen = gen_ref(m->gen);
	l->fd = fd;
	l->next_id = 1;
	ev_io_init(&l->io, link_io_cb, fd, 0);
	ev_init(&l->timer, link_timer_cb);
	ev_init(&l->resume, link_resume_cb);
	l->next = m->links;
	if (m->links)
		m->links->prev = l;
	m->links = l;
	return l;
}

/* ------------------------------------------------------------ handshake */

static void became_up(struct link *l)
{
	handshake_over(l);
	const unsigned char *alpn;
	unsigned alen;
	SSL_get0_alpn_selected(l->ssl, &alpn, &alen);
	if (alen != strlen(PROTO_ALPN) || memcmp(alpn, PROTO_ALPN, alen) != 0) {
		link_fail(l, RESULT_TLS_FAILURE, "%s did not agree on ALPN %s", l->addr, PROTO_ALPN);
		return;
	}
	char why[96];
	if (tls_peer_spiffe(l->ssl, l->peer, sizeof l->peer, why, sizeof why) == -1) {
		link_fail(l, RESULT_IDENTITY_ERROR, "%s presented no spiffe identity: %s", l->addr, why);
		return;
	}
	if (!l->receiver && !policy_peer_ok(l->peer, l->expect)) {
		link_fail(l, RESULT_IDENTITY_ERROR, "peer %s is %s, expected %s", l->addr, l->peer,
		          l->expect);
		return;
	}
	if (l->receiver) {
		const char *sni = SSL_get_servername(l->ssl, TLSEXT_NAMETYPE_host_name);
		snprintf(l->sni, sizeof l->sni, "%s", sni ? sni : "");
		/* A link holds a descriptor for its peer even with no stream:
		 * it counts in the peer identity's quota with its streams, so
		 * idle links cannot take what streams are refused. */
		unsigned limit = bounds_auto(l->gen->cfg->max_conns_per_peer);
		l->peer_key = quota_key(l->peer);
		if (!quota_take(&quota_peer, l->peer_key, limit)) {
			link_fail(l, RESULT_OVERFLOW, "link from %s refused: %s holds %u links and streams "
			          "(max_connections_per_peer)", l->addr, l->peer, limit);
			return;
		}
		l->peer_held = true;
	}
	l->state = L_UP;
	arm(l, 0);
	link_watch(l, EV_READ);
	mark_dirty(l); /* OPEN frames queued while connecting */
	maybe_idle(l);
	/* The handshake's last read may have brought frames too (read-ahead):
	 * epoll will not say so, the socket being drained. */
	link_read(l);
}

static void handshake(struct link *l)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(l->ssl);
	if (rc == 1) {
		became_up(l);
		return;
	}
	int e = SSL_get_error(l->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		link_watch(l, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
		return;
	}
	char why[160];
	tls_last_error(l->ssl, rc, why, sizeof why);
	if (l->receiver)
		link_fail(l, RESULT_TLS_FAILURE, "TLS handshake from %s: %s", l->addr, why);
	else
		link_fail(l, RESULT_TLS_FAILURE, "TLS with %s: %s", l->addr, why);
}

/* ------------------------------------------------------------ output */

static void wake_waiters(struct link *l)
{
	while (l->waiters && l->olen - l->ooff < LINK_OUT_HIGH / 2 && l->state == L_UP) {
		struct stream *st = l->waiters;
		l->waiters = st->wnext;
		st->waiting = false;
		st->cb(st, STREAM_CREDIT, 0, RESULT_UNSET, NULL);
	}
}

/* After a flush: while something is left that the kernel would not take,
 * the link's timer watches for a peer that reads nothing (re-armed
 * whenever some was written); once all is written, the idle timer is back.
 * Reading resumes, if it had stopped, under LINK_OUT_HIGH (OpenSSL may
 * hold records it read ahead, which epoll will not report: read them on
 * the next iteration). */
static void backlog_check(struct link *l, bool progressed)
{
	if (queued(l) > 0) {
		if (!l->blocked || progressed)
			arm(l, LINK_STALL_TIMEOUT);
		l->blocked = true;
	} else if (l->blocked) {
		l->blocked = false;
		arm(l, 0);
		maybe_idle(l);
	}
	if (l->read_paused && queued(l) <= LINK_OUT_HIGH) {
		l->read_paused = false;
		ev_timer_set(&l->resume, 0., 0.);
		ev_timer_start(l->m->loop, &l->resume);
	}
}

static void link_flush(struct link *l, bool eager)
{
	if (l->state != L_UP)
		return;
	if (l->write_failed && !eager) {
		link_fail(l, RESULT_RESET, "link to %s: write failed", l->addr);
		return;
	}
	if (l->overflow && !eager) {
		protocol_error(l, "the peer does not read (%zu bytes queued)", queued(l));
		return;
	}
	bool progressed = false;
	while (l->ooff < l->olen) {
		ERR_clear_error();
		int n = SSL_write(l->ssl, l->out + l->ooff, (int)(l->olen - l->ooff));
		if (n > 0) {
			l->ooff += (size_t)n;
			progressed = true;
			continue;
		}
		int e = SSL_get_error(l->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE) {
			backlog_check(l, progressed);
			link_watch(l, EV_READ | EV_WRITE);
			return;
		}
		if (e == SSL_ERROR_WANT_READ && eager)
			return;
		if (e == SSL_ERROR_WANT_READ)
			return; /* TLS 1.3 has no renegotiation; the read side runs anyway */
		if (eager) {
			/* Called from a stream's write: the streams hear of it
			 * from the loop-end flush, not inside their own pump. */
			l->write_failed = true;
			mark_dirty(l);
			return;
		}
		char why[160];
		tls_last_error(l->ssl, n, why, sizeof why);
		link_fail(l, RESULT_RESET, "link to %s: write: %s", l->addr, why);
		return;
	}
	l->ooff = l->olen = 0;
	backlog_check(l, progressed);
	if (eager)
		return;
	if (l->closing && !l->nstreams) {
		close_link(l, true);
		return;
	}
	link_watch(l, EV_READ);
	wake_waiters(l);
}

void link_flush_all(struct worker *m)
{
	/* Waking writers can queue more; loop until nothing is left dirty. */
	while (m->link_dirty) {
		struct link *l = m->link_dirty;
		m->link_dirty = l->dnext;
		l->dirty = false;
		link_flush(l, false);
	}
}

/* ------------------------------------------------------------ input */

/* Tell a stream what arrived for it. */
static void deliver(struct stream *st, enum stream_event ev, int code, const char *detail)
{
	st->cb(st, ev, code, RESULT_UNSET, detail);
}

/* A whole control frame (or an empty DATA) has arrived. */
static void dispatch(struct link *l)
{
	struct stream *st = find(l, l->fid);
	switch (l->ftype) {
	case PROTO_FRAME_DATA:
		return;
	case PROTO_FRAME_FIN:
		if (st && !st->fin_recv) {
			st->fin_recv = true;
			deliver(st, STREAM_FIN, 0, NULL);
		}
		return;
	case PROTO_FRAME_RST:
		if (st) {
			st->fin_recv = st->fin_sent = true; /* over: no RST back */
			unlink_stream(l, st);
			deliver(st, STREAM_RESET, 0, "peer reset the stream");
			maybe_idle(l);
		}
		return;
	case PROTO_FRAME_OPEN:
		if (!l->receiver) {
			protocol_error(l, "unexpected OPEN");
			return;
		}
		if (st || !proto_open_id_ok(l->fid, l->last_open)) {
			protocol_error(l, "OPEN for stream %u (%s)", l->fid,
			               st ? "in use" : "ids must increase");
			return;
		}
		l->last_open = l->fid;
		inbound_stream(l->m, l, l->fid, l->small, l->flen);
		/* Each refusal is cheap, but a peer that opens nothing but
		 * refused streams only costs us: end its link. */
		if (l->state == L_UP && l->refused > LINK_REFUSED_MAX &&
		    l->refused > LINK_REFUSED_RATIO * l->accepted)
			protocol_error(l, "too many refused streams (%u refused, %u accepted in %.0f s)",
			               l->refused, l->accepted, LINK_REFUSED_WINDOW);
		return;
	case PROTO_FRAME_STATUS: {
		if (l->receiver) {
			protocol_error(l, "unexpected STATUS");
			return;
		}
		if (!st)
			return;
		int code = proto_status_decode(l->small, l->flen);
		if (code != PROTO_ST_OK)
			st->fin_recv = st->fin_sent = true; /* a refusal ends the stream */
		deliver(st, STREAM_STATUS, code, NULL);
		return;
	}
	case PROTO_FRAME_WINDOW:
		if (l->flen != PROTO_WINDOW_LEN) {
			protocol_error(l, "bad WINDOW");
			return;
		}
		if (st) {
			uint32_t add = proto_get32(l->small);
			bool was_blocked = st->credit == 0;
			if (!proto_credit_ok(st->credit, add, STREAM_WINDOW)) {
				protocol_error(l, "credit beyond the window (%u + %u)", st->credit, add);
				return;
			}
			st->credit += add;
			if (was_blocked && !st->waiting)
				deliver(st, STREAM_CREDIT, 0, NULL);
		}
		return;
	default:
		protocol_error(l, "unknown frame type");
		return;
	}
}

static int ssl_read_or_fail(struct link *l, void *p, uint32_t n)
{
	ERR_clear_error();
	int r = SSL_read(l->ssl, p, (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(l->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && r == 0))
		link_fail(l, RESULT_RESET, "link with %s closed", l->addr);
	else {
		char why[160];
		tls_last_error(l->ssl, r, why, sizeof why);
		link_fail(l, RESULT_RESET, "link with %s: read: %s", l->addr, why);
	}
	return -1;
}

static __thread unsigned char discard[16384];

/* DATA is told to its stream once per batch of records read, so the relay
 * writes it out in one large write instead of one per record. */
static void flush_delivery(struct link *l)
{
	if (!l->undelivered)
		return;
	struct stream *st = find(l, l->undelivered);
	l->undelivered = 0;
	if (st)
		deliver(st, STREAM_DATA, 0, NULL);
}

/* Stop reading: our answers pile up because the peer does not read them. */
static void pause_reading(struct link *l)
{
	l->read_paused = true;
	link_watch(l, l->events);
	ev_timer_stop(l->m->loop, &l->resume);
}

static void link_read(struct link *l)
{
	unsigned frames = 0;
	size_t bytes = 0;
	while (l->state == L_UP) {
		if (queued(l) > LINK_OUT_STOP) {
			flush_delivery(l);
			pause_reading(l);
			return;
		}
		if (frames >= LINK_READ_FRAMES || bytes >= LINK_READ_BYTES) {
			/* Our share of this iteration is used up. What is left in
			 * the socket wakes us again; what OpenSSL already holds
			 * would not, hence the timer. */
			flush_delivery(l);
			if (SSL_has_pending(l->ssl)) {
				ev_timer_set(&l->resume, 0., 0.);
				ev_timer_start(l->m->loop, &l->resume);
			}
			return;
		}
		if (!l->in_payload) {
			int n = ssl_read_or_fail(l, l->fh + l->fhlen, PROTO_FRAME_HDR - l->fhlen);
			if (n <= 0) {
				flush_delivery(l);
				return;
			}
			l->fhlen += (unsigned)n;
			bytes += (size_t)n;
			if (l->fhlen < PROTO_FRAME_HDR)
				continue;
			l->fhlen = 0;
			struct proto_frame_in f;
			int bad = proto_frame_decode(&f, l->fh, PROTO_FRAME_HDR) != 0;
			l->ftype = f.type;
			l->flen = l->fleft = f.len;
			l->fid = f.stream;
			frames++;
			if (l->undelivered && (l->ftype != PROTO_FRAME_DATA || l->fid != l->undelivered))
				flush_delivery(l);
			if (l->fid == 0) {
				protocol_error(l, "frame for stream id 0");
				return;
			}
			if (bad) {
				protocol_error(l, "control frame too long");
				return;
			}
			if (l->flen == 0) {
				dispatch(l);
				continue;
			}
			l->in_payload = true;
		}
		if (l->ftype != PROTO_FRAME_DATA) {
			int n = ssl_read_or_fail(l, l->small + (l->flen - l->fleft), l->fleft);
			if (n <= 0) {
				flush_delivery(l);
				return;
			}
			l->fleft -= (uint32_t)n;
			bytes += (size_t)n;
			if (l->fleft == 0) {
				l->in_payload = false;
				dispatch(l);
			}
			continue;
		}
		/* DATA: straight into the stream's relay buffer. */
		struct stream *st = find(l, l->fid);
		if (!st || !st->relay || st->fin_recv) {
			/* A stream we already closed: drop its bytes. */
			uint32_t want = l->fleft < sizeof discard ? l->fleft : (uint32_t)sizeof discard;
			int n = ssl_read_or_fail(l, discard, want);
			if (n <= 0) {
				flush_delivery(l);
				return;
			}
			l->fleft -= (uint32_t)n;
			bytes += (size_t)n;
			if (l->fleft == 0)
				l->in_payload = false;
			continue;
		}
		/* The buffer starts small and grows (to the window at most) only
		 * while the application reads slower than the link delivers. */
		struct buf *b = &st->relay->buf[st->idx];
		uint32_t need = l->fleft < LINK_FRAME_DATA ? l->fleft : LINK_FRAME_DATA;
		if (buf_reserve(b) == -1 ||
		    (b->cap - b->end < need && buf_make_room(b, need, STREAM_WINDOW) == -1)) {
			link_fail(l, RESULT_RESET, "out of memory for a stream buffer");
			return;
		}
		uint32_t room = b->cap - b->end;
		if (room == 0) {
			protocol_error(l, "DATA beyond the stream's window");
			return;
		}
		uint32_t want = l->fleft < room ? l->fleft : room;
		int n = ssl_read_or_fail(l, b->data + b->end, want);
		if (n <= 0) {
			if (buf_len(b) == 0)
				buf_free(b);
			flush_delivery(l);
			return;
		}
		b->end += (uint32_t)n;
		st->relay->side[st->idx].bytes_read += (uint64_t)n;
		l->fleft -= (uint32_t)n;
		bytes += (size_t)n;
		if (l->fleft == 0)
			l->in_payload = false;
		/* One delivery per frame (or when TLS holds nothing more), not
		 * per TLS record: fewer, larger writes to the application. */
		if (!SSL_has_pending(l->ssl) || b->end == b->cap)
			deliver(st, STREAM_DATA, 0, NULL);
		else
			l->undelivered = st->id;
	}
}

static void link_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct link *l = container_of(w, struct link, io);
	switch (l->state) {
	case L_CONNECTING: {
		int err = net_connect_error(l->fd);
		if (err) {
			link_fail(l, result_from_errno(err),
			          "connect %s: %s", l->addr, strerror(err));
			return;
		}
		l->state = L_HANDSHAKE;
		arm(l, l->connect_timeout); /* the handshake gets as long again */
		handshake(l);
		return;
	}
	case L_HANDSHAKE:
		handshake(l);
		return;
	case L_UP:
		if (revents & EV_WRITE)
			link_flush(l, false);
		if (revents & EV_READ)
			link_read(l);
		return;
	case L_DEAD:
		return;
	}
}

static void link_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct link *l = container_of(w, struct link, resume);
	if (l->state == L_UP && !l->read_paused)
		link_read(l);
}

static void link_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct link *l = container_of(w, struct link, timer);
	switch (l->state) {
	case L_CONNECTING:
		link_fail(l, RESULT_TIMEOUT, "%s: no answer within the connect timeout", l->addr);
		return;
	case L_HANDSHAKE:
		link_fail(l, l->receiver ? RESULT_TLS_FAILURE : RESULT_TIMEOUT,
		          "no TLS handshake %s %s within %g s", l->receiver ? "from" : "with",
		          l->addr, l->receiver ? l->gen->cfg->handshake_timeout : l->connect_timeout);
		return;
	case L_UP:
		if (l->blocked)
			link_end(l, RESULT_TIMEOUT, "link with %s: the peer read nothing of %zu queued "
			         "bytes for %.0f s", l->addr, queued(l), LINK_STALL_TIMEOUT);
		else if (!l->nstreams)
			close_link(l, true); /* idle */
		return;
	case L_DEAD:
		return;
	}
}

/* ------------------------------------------------------------ API */

struct link *link_get(struct worker *m, const char *key, const struct cfg_addr *dst,
                      const char *endpoint, const char *identity,
                      const char *serving_identity, const char *peer_spiffe,
                      double connect_timeout, bool *fresh, char *err, size_t len)
{
	for (struct link *l = m->links; l; l = l->next)
		if (!l->receiver && !l->retired && l->state != L_DEAD && l->gen == m->gen &&
		    l->nstreams < LINK_MAX_STREAMS && l->next_id < LINK_LAST_ID &&
		    strcmp(l->key, key) == 0) {
			*fresh = false;
			return l;
		}
	*fresh = true;
	int fd = net_connect(dst, err, len);
	if (fd == -1)
		return NULL;
	char why[160];
	SSL *ssl = tls_client_new(m->gen->tls, identity, serving_identity, fd, why, sizeof why);
	if (!ssl) {
		close(fd);
		snprintf(err, len, "%s", why);
		errno = EPROTO;
		return NULL;
	}
	struct link *l = link_new(m, fd, key);
	if (!l) {
		SSL_free(ssl);
		close(fd);
		snprintf(err, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	l->ssl = ssl;
	l->connect_timeout = connect_timeout;
	snprintf(l->addr, sizeof l->addr, "%s", endpoint);
	snprintf(l->expect, sizeof l->expect, "%s", peer_spiffe);
	l->state = L_CONNECTING;
	link_watch(l, EV_WRITE);
	arm(l, connect_timeout); /* then as long again for the handshake */
	return l;
}

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
	if (queue(l, PROTO_FRAME_OPEN, st->id, hdr, (uint32_t)hlen) == -1)
		link_fail(l, RESULT_RESET, "out of memory for the link queue");
}

/* Close an accepted connection at once, with a RST (no FIN handshake, no
 * TIME_WAIT), and leave a record (aggregated when they come in floods). */
static void refuse_accept(struct worker *m, int fd, const char *addr, const char *why)
{
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
	inbound_link_failed(m, addr, "", RESULT_OVERFLOW, why);
}

void link_accept(struct worker *m, int fd, const struct sockaddr_storage *peer)
{
	const struct config *c = m->gen->cfg;
	char addr[64], why[256];
	net_sockaddr_str((const struct sockaddr *)peer, addr, sizeof addr);
	if (!bounds_fd_ok(fd)) {
		snprintf(why, sizeof why, "connection from %s refused: descriptor %d is in the "
		         "reserve (limit %u)", addr, fd, bounds_nofile());
		refuse_accept(m, fd, addr, why);
		return;
	}
	/* A handshake costs a descriptor and TLS state until it ends or times
	 * out, and needs no certificate to start: cap them, and per source
	 * address (without the port) so one source cannot take them all. */
	char ip[64];
	snprintf(ip, sizeof ip, "%s", addr);
	char *colon = strrchr(ip, ':');
	if (colon)
		*colon = '\0';
	uint64_t key = quota_key(ip);
	if (!quota_take(&quota_handshake, 0, c->max_handshakes)) {
		snprintf(why, sizeof why, "connection from %s refused: %u TLS handshakes in "
		         "progress (max_handshakes)", addr, c->max_handshakes);
		refuse_accept(m, fd, addr, why);
		return;
	}
	if (!quota_take(&quota_handshake, key, c->max_handshakes_per_source)) {
		quota_give(&quota_handshake, 0);
		snprintf(why, sizeof why, "connection from %s refused: %u TLS handshakes in "
		         "progress from %s (max_handshakes_per_source)", addr,
		         c->max_handshakes_per_source, ip);
		refuse_accept(m, fd, addr, why);
		return;
	}
	struct link *l = link_new(m, fd, "");
	if (!l) {
		quota_give(&quota_handshake, key);
		quota_give(&quota_handshake, 0);
		log_error("out of memory for an inbound connection; refused");
		close(fd);
		return;
	}
	l->hs_held = true;
	l->hs_key = key;
	l->receiver = true;
	snprintf(l->addr, sizeof l->addr, "%s", addr);
	char err[128];
	l->ssl = tls_server_new(m->gen->tls, fd, err, sizeof err);
	if (!l->ssl) {
		l->state = L_HANDSHAKE;
		link_fail(l, RESULT_TLS_FAILURE, "%s", err);
		return;
	}
	l->state = L_HANDSHAKE;
	arm(l, c->handshake_timeout);
	handshake(l);
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

unsigned link_streams(const struct link *l)
{
	return l->nstreams;
}

bool link_up(const struct link *l)
{
	return l->state == L_UP;
}

const char *link_peer(const struct link *l)
{
	return l->peer;
}

const char *link_sni(const struct link *l)
{
	return l->sni;
}

const char *link_addr(const struct link *l)
{
	return l->addr;
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
			if (queue_room(l, len - (uint32_t)w) == -1) {
				l->write_failed = true;
				mark_dirty(l);
				return 0;
			}
			memcpy(l->out + l->olen, f + w, len - (uint32_t)w);
			l->olen += len - (uint32_t)w;
			mark_dirty(l);
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
	mark_dirty(l);
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
		} else if (queue(l, PROTO_FRAME_DATA, st->id, b->data + b->start, n) == -1)
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
	st->fin_sent = true;
	queue(st->link, PROTO_FRAME_FIN, st->id, NULL, 0);
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
	queue(l, PROTO_FRAME_STATUS, st->id, wire, sizeof wire);
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
		proto_put32(v, st->consumed);
		st->consumed = 0;
		queue(st->link, PROTO_FRAME_WINDOW, st->id, v, sizeof v);
	}
}

void stream_close(struct stream *st)
{
	struct link *l = st->link;
	if (!l)
		return;
	if (!(st->fin_sent && st->fin_recv) && l->state != L_DEAD)
		queue(l, PROTO_FRAME_RST, st->id, NULL, 0);
	unlink_stream(l, st);
	maybe_idle(l);
}

void link_reap(struct worker *m)
{
	while (m->link_reap) {
		struct link *l = m->link_reap;
		m->link_reap = l->rnext;
		gen_unref(l->gen);
		free(l->out);
		free(l);
	}
}

void link_retire(struct link *l)
{
	l->retired = true;
	if (!l->nstreams && l->state != L_DEAD)
		maybe_idle(l);
}

void link_retire_all(struct worker *m, bool receivers_too)
{
	for (struct link *l = m->links, *next; l; l = next) {
		next = l->next;
		if (l->receiver && !receivers_too)
			continue;
		l->retired = true;
		if (!l->nstreams && l->state != L_DEAD)
			maybe_idle(l);
	}
}

unsigned link_close_idle(struct worker *m)
{
	unsigned n = 0;
	for (struct link *l = m->links, *next; l; l = next) {
		next = l->next;
		if (!l->nstreams && l->state == L_UP) {
			close_link(l, true);
			n++;
		}
	}
	return n;
}

void link_free_all(struct worker *m)
{
	while (m->links)
		link_fail(m->links, RESULT_RESET, "meshd stopping");
	m->link_dirty = NULL;
	link_reap(m);
}
