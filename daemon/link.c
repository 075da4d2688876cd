/* Links: many streams over one mutual-TLS connection (see link.h); this
 * file is the connection, link_accept.c the mesh port's side of its
 * start, link_live.c its liveness, stream.c the streams on it. */
#include "gen.h"
#include "worker.h"
#include "net.h"
#include "link_int.h"
#include "tls.h"
#include "policy.h"
#include "bounds.h"
#include "metrics.h"
#include "log.h"
#include "container.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/err.h>


static void link_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void link_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void link_resume_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void link_read(struct link *l);

/* ------------------------------------------------------------ helpers */

static size_t queued(const struct link *l)
{
	return l->olen - l->ooff;
}

void link_watch(struct link *l, int events)
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

void link_arm(struct link *l, double secs)
{
	ev_timer_stop(l->m->loop, &l->timer);
	if (secs > 0) {
		ev_timer_set(&l->timer, secs, 0.);
		ev_timer_start(l->m->loop, &l->timer);
	}
}

void link_mark_dirty(struct link *l)
{
	if (l->dirty || l->state == L_DEAD)
		return;
	l->dirty = true;
	l->dnext = l->m->link_dirty;
	l->m->link_dirty = l;
}

/* Room for n more queued bytes. */
int link_queue_room(struct link *l, size_t n)
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
int link_queue(struct link *l, enum proto_frame type, uint32_t id, const void *p, uint32_t n)
{
	if (queued(l) + PROTO_FRAME_HDR + n > LINK_OUT_HARD) {
		l->overflow = true;
		link_mark_dirty(l);
		return -1;
	}
	if (link_queue_room(l, PROTO_FRAME_HDR + n) == -1)
		return -1;
	proto_frame_hdr(l->out + l->olen, type, n, id);
	if (n)
		memcpy(l->out + l->olen + PROTO_FRAME_HDR, p, n);
	l->olen += PROTO_FRAME_HDR + n;
	link_mark_dirty(l);
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
static void vlink_fail(struct link *l, bool own, enum result result, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void vlink_fail(struct link *l, bool own, enum result result, const char *fmt, va_list ap)
{
	if (l->state == L_DEAD)
		return;
	char detail[160];
	vsnprintf(detail, sizeof detail, fmt, ap);
	bool was_up = l->state == L_UP;
	if (l->receiver && (!was_up || own))
		l->rops->on_failed(l->m, l->addr, l->peer, result, detail);
	l->state = L_DEAD;
	for (unsigned b = 0; b < LINK_BUCKETS; b++)
		while (l->bucket[b]) {
			struct stream *st = l->bucket[b];
			stream_unlink(l, st);
			stream_deliver(st, STREAM_FAILED, 0, result, detail);
		}
	close_link(l, false);
}

void link_fail(struct link *l, enum result result, const char *fmt, ...)
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
void link_protocol_error(struct link *l, const char *fmt, ...)
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
	link_live_stop(l);
	handshake_over(l);
	if (l->counted) {
		metrics_link(m->metrics, l->receiver, -1);
		l->counted = false;
	}
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

/* No streams: the queue's memory goes back once it is written (not by
 * link_maybe_idle after a PING: its idle timer would restart, and PINGs
 * must not keep a link open). */
static void release_queue(struct link *l)
{
	if (l->ooff == l->olen && l->out) {
		free(l->out);
		l->out = NULL;
		l->ooff = l->olen = l->ocap = 0;
	}
}

void link_maybe_idle(struct link *l)
{
	if (l->nstreams || l->state == L_DEAD)
		return;
	if (l->retired || l->m->draining) {
		/* Close once the last FIN or RST is written (link_flush). */
		l->closing = true;
		if (l->state == L_UP)
			link_mark_dirty(l);
		else
			close_link(l, false);
		return;
	}
	if (l->state == L_UP && !l->blocked) {
		link_arm(l, l->receiver ? LINK_IDLE_RECEIVER : LINK_IDLE_CALLER);
		release_queue(l);
	}
}

struct link *link_new(struct worker *m, int fd, const char *key)
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
	link_live_init(l);
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
	bool cur = alen == strlen(PROTO_ALPN) && memcmp(alpn, PROTO_ALPN, alen) == 0;
	bool v3 = alen == strlen(PROTO_ALPN_V3) && memcmp(alpn, PROTO_ALPN_V3, alen) == 0;
	bool prev = alen == strlen(PROTO_ALPN_PREV) && memcmp(alpn, PROTO_ALPN_PREV, alen) == 0;
	if (!cur && !v3 && !prev) {
		link_fail(l, RESULT_TLS_FAILURE, "%s did not agree on ALPN %s, %s or %s", l->addr,
		          PROTO_ALPN, PROTO_ALPN_V3, PROTO_ALPN_PREV);
		return;
	}
	l->pings = cur || v3; /* a meshd of libmesh/2 knows no PING */
	l->callers = cur;     /* nor one of libmesh/3 CALLER */
	char why[96];
	if (tls_peer_spiffe(l->ssl, l->peer, sizeof l->peer, why, sizeof why) == -1) {
		link_fail(l, RESULT_IDENTITY_ERROR, "%s presented no spiffe identity: %s", l->addr,
		          why);
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
			link_fail(l, RESULT_OVERFLOW,
			          "link from %s refused: %s holds %u links and streams "
			          "(max_connections_per_peer)",
			          l->addr, l->peer, limit);
			return;
		}
		l->peer_held = true;
	}
	l->state = L_UP;
	metrics_link(l->m->metrics, l->receiver, 1);
	l->counted = true;
	link_arm(l, 0);
	link_live_start(l);
	link_watch(l, EV_READ);
	link_mark_dirty(l); /* OPEN frames queued while connecting */
	link_maybe_idle(l);
	/* The handshake's last read may have brought frames too (read-ahead):
	 * epoll will not say so, the socket being drained. */
	link_read(l);
}

void link_handshake(struct link *l)
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
		stream_deliver(st, STREAM_CREDIT, 0, RESULT_UNSET, NULL);
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
	if (progressed && l->blocked)
		link_live_heard(l); /* room again: the peer ACKed */
	if (queued(l) > 0) {
		if (!l->blocked || progressed)
			link_arm(l, LINK_STALL_TIMEOUT);
		l->blocked = true;
	} else if (l->blocked) {
		l->blocked = false;
		link_arm(l, 0);
		link_maybe_idle(l);
	}
	if (l->read_paused && queued(l) <= LINK_OUT_HIGH) {
		l->read_paused = false;
		ev_timer_set(&l->resume, 0., 0.);
		ev_timer_start(l->m->loop, &l->resume);
	}
}

void link_flush(struct link *l, bool eager)
{
	if (l->state != L_UP)
		return;
	if (l->write_failed && !eager) {
		link_fail(l, RESULT_RESET, "link to %s: write failed", l->addr);
		return;
	}
	if (l->overflow && !eager) {
		link_protocol_error(l, "the peer does not read (%zu bytes queued)", queued(l));
		return;
	}
	link_live_flush(l);
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
			link_mark_dirty(l);
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
	if (l->pong_pending)
		link_mark_dirty(l); /* it waited for room: there is some now */
	else if (!l->nstreams)
		release_queue(l); /* a PING or PONG on an idle link */
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

int link_ssl_read(struct link *l, void *p, uint32_t n)
{
	ERR_clear_error();
	int r = SSL_read(l->ssl, p, (int)n);
	if (r > 0) {
		link_live_heard(l); /* any byte is life */
		return r;
	}
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

/* Stop reading: our answers pile up because the peer does not read them. */
static void pause_reading(struct link *l)
{
	l->read_paused = true;
	link_watch(l, l->events);
	ev_timer_stop(l->m->loop, &l->resume);
}

/* A whole frame is in: stream id 0 is the link's own (PING, PONG). */
static void dispatch(struct link *l)
{
	if (l->fid == 0)
		link_live_frame(l);
	else
		stream_dispatch(l);
}

static void link_read(struct link *l)
{
	unsigned frames = 0;
	size_t bytes = 0;
	while (l->state == L_UP) {
		if (queued(l) > LINK_OUT_STOP) {
			stream_flush_delivery(l);
			pause_reading(l);
			return;
		}
		if (frames >= LINK_READ_FRAMES || bytes >= LINK_READ_BYTES) {
			/* Our share of this iteration is used up. What is left in
			 * the socket wakes us again; what OpenSSL already holds
			 * would not, hence the timer. */
			stream_flush_delivery(l);
			if (SSL_has_pending(l->ssl)) {
				ev_timer_set(&l->resume, 0., 0.);
				ev_timer_start(l->m->loop, &l->resume);
			}
			return;
		}
		if (!l->in_payload) {
			int n = link_ssl_read(l, l->fh + l->fhlen, PROTO_FRAME_HDR - l->fhlen);
			if (n <= 0) {
				stream_flush_delivery(l);
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
			if (l->undelivered &&
			    (l->ftype != PROTO_FRAME_DATA || l->fid != l->undelivered))
				stream_flush_delivery(l);
			if (!proto_frame_id_ok(l->ftype, l->fid)) {
				link_protocol_error(l, "%s for stream id %u",
				                    l->fid ? "PING or PONG" : "frame", l->fid);
				return;
			}
			if (bad) {
				link_protocol_error(l, "control frame too long");
				return;
			}
			if (l->flen == 0) {
				dispatch(l);
				continue;
			}
			l->in_payload = true;
		}
		if (l->ftype != PROTO_FRAME_DATA) {
			int n = link_ssl_read(l, l->small + (l->flen - l->fleft), l->fleft);
			if (n <= 0) {
				stream_flush_delivery(l);
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
		int n = stream_read_data(l);
		if (n < 0)
			return;
		bytes += (size_t)n;
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
			link_fail(l, result_from_errno(err), "connect %s: %s", l->addr,
			          strerror(err));
			return;
		}
		l->state = L_HANDSHAKE;
		link_arm(l, l->connect_timeout); /* the handshake gets as long again */
		link_handshake(l);
		return;
	}
	case L_HANDSHAKE:
		link_handshake(l);
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
		          l->addr,
		          l->receiver ? l->gen->cfg->handshake_timeout : l->connect_timeout);
		return;
	case L_UP:
		if (l->blocked)
			link_end(l, RESULT_TIMEOUT,
			         "link with %s: the peer read nothing of %zu queued "
			         "bytes for %.0f s",
			         l->addr, queued(l), LINK_STALL_TIMEOUT);
		else if (!l->nstreams)
			close_link(l, true); /* idle */
		return;
	case L_DEAD:
		return;
	}
}

/* ------------------------------------------------------------ API */

struct link *link_get(struct worker *m, const char *key, const struct cfg_addr *dst,
                      const char *endpoint, const char *identity, const char *serving_identity,
                      const char *peer_spiffe, double connect_timeout, bool *fresh, char *err,
                      size_t len)
{
	for (struct link *l = m->links; l; l = l->next)
		if (!l->receiver && !l->retired && l->state != L_DEAD &&
		    l->gen->tls == m->gen->tls && l->nstreams < LINK_MAX_STREAMS &&
		    l->next_id < LINK_LAST_ID && strcmp(l->key, key) == 0) {
			*fresh = false;
			return link_live_suspect(l, err, len) ? NULL : l;
		}
	*fresh = true;
	int fd = net_connect(dst, err, len);
	if (fd == -1)
		return NULL;
	link_live_socket(fd, m->gen->cfg->link_timeout, endpoint);
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
	link_arm(l, connect_timeout); /* then as long again for the handshake */
	return l;
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
		link_maybe_idle(l);
}

void link_retire_all(struct worker *m, bool receivers_too)
{
	for (struct link *l = m->links, *next; l; l = next) {
		next = l->next;
		if (l->receiver && !receivers_too)
			continue;
		l->retired = true;
		if (!l->nstreams && l->state != L_DEAD)
			link_maybe_idle(l);
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
