/*
 * meshd's DNS listener: see dns_serve.h. One thread, one loop; the UDP
 * socket is read in batches, each TCP connection goes
 *
 *   READ (a whole query) -> WRITE (its answer) -> READ ... -> LINGER -> closed
 *
 * with one idle timer (restarted by each whole query) and one lifetime
 * timer. LINGER (after the last answer: the client's end of input, or its
 * share of queries used up) shuts our side down and reads and drops what
 * the client still sends for at most a second, so that closing with
 * unread queries does not reset the connection before the client has read
 * its answers. The routes come from the main thread through a one-slot mailbox
 * (`next`, under `lock`): the loop takes what is there before it answers,
 * so the main thread never waits on a query and a query never reads bytes
 * being replaced.
 */
#include "dns_serve.h"
#include "dns_msg.h"
#include "config.h"
#include "container.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "peercred.h"
#include "snapshot.h"
#include "thread.h"

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_ANSWER_MAX 4096 /* what an EDNS client may ask over UDP */
#define UDP_RECV_BATCH 32   /* datagrams per recvmmsg */
#define RATE_SLOTS 4096     /* UDP rate buckets, by hash of the source */

/* A UDP source's token bucket: DNS_UDP_RATE queries a second, bursts of
 * DNS_UDP_BURST. */
struct rate_slot {
	double tokens, last;
};

struct dconn {
	struct dns_serve *d;
	struct dconn *prev, *next;
	int fd;
	uid_t uid;
	bool eof;
	bool lingering;
	unsigned queries;
	ev_io io;
	ev_timer idle, life;
	size_t inlen;
	unsigned char in[2 + DNS_QUERY_MAX];
	size_t outlen, outoff;
	unsigned char out[2 + DNS_ANSWER_MAX];
};

/* clang-format off */
#define STATS(X) \
	X(udp_queries) X(tcp_queries) X(noerror) X(nxdomain) X(refused) X(formerr) \
	X(notimp) X(other) X(truncated) X(dropped) X(rate_limited) X(tcp_refused) \
	X(tcp_timeouts)
/* clang-format on */

struct dns_serve {
	int udp, tcp;
	char addr[64];
	struct ev_loop *loop;
	ev_io udp_io, tcp_io;
	ev_timer accept_pause;
	ev_async stop;
	pthread_t thread;
	bool running;
	struct dconn *conns;
	unsigned nconns;
	double refused_said, limited_said;
	int rcvbuf; /* the UDP receive queue the kernel gave (bytes, as it counts them) */
	struct rate_slot *rate; /* RATE_SLOTS */
	struct udp_batch *batch;

	/* the routes in use (this thread only) */
	void *cur;
	bool cur_ok;
	struct snap_view view;

	pthread_mutex_t lock; /* the mailbox */
	bool has_next;
	void *next;
	size_t next_len;

#define STAT_FIELD(n) atomic_uint_fast64_t n;
	STATS(STAT_FIELD)
#undef STAT_FIELD
};

static void bump(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void dns_serve_stats(struct dns_serve *d, struct dns_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!d)
		return;
#define STAT_READ(n) out->n = atomic_load_explicit(&d->n, memory_order_relaxed);
	STATS(STAT_READ)
#undef STAT_READ
}

unsigned dns_serve_metrics(struct dns_serve *d, struct metrics_extra *out, unsigned max)
{
	static const char q[] = "Queries meshd's DNS listener read, by transport.",
			  r[] = "Answers of meshd's DNS listener, by response code.",
			  n[] = "Queries meshd's DNS listener did not answer: no header, a "
				"response, too long (malformed), or over the per-source rate.",
			  t[] = "DNS answers sent truncated (TC): the client asks again over TCP.",
			  c[] = "TCP connections to the DNS listener closed at once (over its "
				"bounds) or cut at a deadline.";
	struct dns_stats s;
	if (!d)
		return 0;
	dns_serve_stats(d, &s);
	const struct metrics_extra all[] = {
		{ "libmesh_dns_queries_total", "transport=\"udp\"", q, s.udp_queries },
		{ "libmesh_dns_queries_total", "transport=\"tcp\"", q, s.tcp_queries },
		{ "libmesh_dns_responses_total", "rcode=\"NOERROR\"", r, s.noerror },
		{ "libmesh_dns_responses_total", "rcode=\"NXDOMAIN\"", r, s.nxdomain },
		{ "libmesh_dns_responses_total", "rcode=\"REFUSED\"", r, s.refused },
		{ "libmesh_dns_responses_total", "rcode=\"FORMERR\"", r, s.formerr },
		{ "libmesh_dns_responses_total", "rcode=\"NOTIMP\"", r, s.notimp },
		{ "libmesh_dns_responses_total", "rcode=\"other\"", r, s.other },
		{ "libmesh_dns_unanswered_total", "reason=\"malformed\"", n, s.dropped },
		{ "libmesh_dns_unanswered_total", "reason=\"rate_limited\"", n, s.rate_limited },
		{ "libmesh_dns_truncated_total", NULL, t, s.truncated },
		{ "libmesh_dns_tcp_closed_total", "reason=\"over_bound\"", c, s.tcp_refused },
		{ "libmesh_dns_tcp_closed_total", "reason=\"deadline\"", c, s.tcp_timeouts },
	};
	unsigned k = 0;
	for (; k < sizeof all / sizeof all[0] && k < max; k++)
		out[k] = all[k];
	return k;
}

void dns_serve_set_routes(struct dns_serve *d, void *buf, size_t len)
{
	if (!d) {
		free(buf);
		return;
	}
	pthread_mutex_lock(&d->lock);
	void *old = d->has_next ? d->next : NULL; /* never taken: nobody reads it */
	d->next = buf;
	d->next_len = len;
	d->has_next = true;
	pthread_mutex_unlock(&d->lock);
	free(old);
}

/* The newest routes, before answering (this thread). */
static const struct snap_view *routes(struct dns_serve *d)
{
	pthread_mutex_lock(&d->lock);
	bool take = d->has_next;
	void *buf = d->next;
	size_t len = d->next_len;
	d->has_next = false;
	d->next = NULL;
	pthread_mutex_unlock(&d->lock);
	if (take) {
		free(d->cur);
		d->cur = buf;
		/* meshd's own bytes, but checked as the shim checks them. */
		d->cur_ok = buf && snapshot_view(&d->view, buf, len) == 0;
	}
	return d->cur_ok ? &d->view : NULL;
}

static size_t answer(struct dns_serve *d, const unsigned char *q, size_t qlen, bool tcp,
                     unsigned char *out, size_t outmax)
{
	struct dns_result r;
	size_t n = dns_msg_answer(routes(d), q, qlen, tcp, out, outmax, &r);
	if (tcp)
		bump(&d->tcp_queries);
	if (!r.answered) {
		bump(&d->dropped);
		return 0;
	}
	switch (r.rcode) {
	case 0:
		bump(&d->noerror);
		break;
	case 1:
		bump(&d->formerr);
		break;
	case 3:
		bump(&d->nxdomain);
		break;
	case 4:
		bump(&d->notimp);
		break;
	case 5:
		bump(&d->refused);
		break;
	default:
		bump(&d->other);
	}
	if (r.truncated)
		bump(&d->truncated);
	return n;
}

/* ---- UDP ---- */

struct udp_batch {
	struct mmsghdr m[UDP_RECV_BATCH];
	struct iovec iov[UDP_RECV_BATCH];
	struct sockaddr_storage peer[UDP_RECV_BATCH];
	unsigned char q[UDP_RECV_BATCH][DNS_QUERY_MAX];
	unsigned char a[UDP_ANSWER_MAX];
};

static uint32_t fnv(const void *p, size_t n, uint32_t h)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/*
 * Whether a query from src may be answered: its source's bucket has a
 * token. A source is an address and port; over loopback every program is
 * 127.0.0.1, but a flooding socket keeps its port, while stub resolvers
 * take a new port per query. Sources whose address and port hash alike
 * share a slot's bucket (the table is bounded): taking turns from sockets
 * that hash alike gains nothing, and a flooder empties at most one slot
 * per socket it holds, so a stub resolver's fresh port lands on an empty
 * bucket with a chance of (its sockets) / RATE_SLOTS.
 */
static bool rate_ok(struct dns_serve *d, const struct sockaddr_storage *ss, double now)
{
	struct sockaddr_in6 k = { .sin6_family = AF_INET6 };
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		k.sin6_addr.s6_addr[10] = k.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&k.sin6_addr.s6_addr[12], &sin->sin_addr, 4);
		k.sin6_port = sin->sin_port;
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		k.sin6_addr = sin6->sin6_addr;
		k.sin6_port = sin6->sin6_port;
	}
	uint32_t h = fnv(&k.sin6_addr, 16, fnv(&k.sin6_port, 2, 2166136261u));
	struct rate_slot *s = &d->rate[h % RATE_SLOTS];
	if (s->last == 0) {
		s->tokens = DNS_UDP_BURST;
		s->last = now;
	}
	s->tokens += (now - s->last) * DNS_UDP_RATE;
	if (s->tokens > DNS_UDP_BURST)
		s->tokens = DNS_UDP_BURST;
	s->last = now;
	if (s->tokens < 1.0)
		return false;
	s->tokens -= 1.0;
	return true;
}

static void limited(struct dns_serve *d)
{
	bump(&d->rate_limited);
	double now = ev_now(d->loop);
	if (now - d->limited_said >= 60.) {
		d->limited_said = now;
		log_warn(
			"dns %s: UDP queries over %u a second from one source (address and port) "
			"dropped: %llu so far",
			d->addr, DNS_UDP_RATE, (unsigned long long)atomic_load(&d->rate_limited));
	}
}

static void udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct dns_serve *d = container_of(w, struct dns_serve, udp_io);
	struct udp_batch *b = d->batch;
	double now = ev_now(loop);
	for (int done = 0; done < DNS_UDP_BATCH;) {
		for (int i = 0; i < UDP_RECV_BATCH; i++) {
			b->iov[i] = (struct iovec){ b->q[i], sizeof b->q[i] };
			b->m[i].msg_hdr = (struct msghdr){ .msg_name = &b->peer[i],
				                           .msg_namelen = sizeof b->peer[i],
				                           .msg_iov = &b->iov[i],
				                           .msg_iovlen = 1 };
		}
		int n = recvmmsg(d->udp, b->m, UDP_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			done++; /* a queued error (ICMP): try again */
			continue;
		}
		if (n == 0)
			return;
		done += n;
		for (int i = 0; i < n; i++) {
			bump(&d->udp_queries);
			if (b->m[i].msg_hdr.msg_flags & MSG_TRUNC) { /* longer than any query */
				bump(&d->dropped);
				continue;
			}
			if (!rate_ok(d, &b->peer[i], now)) {
				limited(d);
				continue;
			}
			size_t len = answer(d, b->q[i], b->m[i].msg_len, false, b->a, sizeof b->a);
			if (len)
				sendto(d->udp, b->a, len, MSG_DONTWAIT | MSG_NOSIGNAL,
				       (const struct sockaddr *)&b->peer[i],
				       b->m[i].msg_hdr.msg_namelen);
		}
		if (n < UDP_RECV_BATCH)
			return;
	}
}

/* ---- TCP ---- */

static void conn_close(struct dconn *c)
{
	struct dns_serve *d = c->d;
	ev_io_stop(d->loop, &c->io);
	ev_timer_stop(d->loop, &c->idle);
	ev_timer_stop(d->loop, &c->life);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->nconns--;
	free(c);
}

static void conn_watch(struct dconn *c, int events)
{
	ev_io_stop(c->d->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->d->loop, &c->io);
}

static void conn_linger(struct dconn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->lingering = true;
	conn_watch(c, EV_READ);
	c->idle.repeat = 1.0;
	ev_timer_again(c->d->loop, &c->idle);
}

/* Send the pending answer; 0 sent (or waiting for room), -1 closed. */
static int conn_flush(struct dconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			conn_watch(c, EV_WRITE); /* and read nothing until it is sent */
			return 0;
		}
		if (w <= 0) {
			conn_close(c);
			return -1;
		}
		c->outoff += (size_t)w;
	}
	c->outlen = c->outoff = 0;
	return 0;
}

/*
 * Answer the whole queries in the input, one at a time, each sent before
 * the next is looked at; then read again, or close (end of input, or the
 * connection's share of queries used up). Returns -1 when closed.
 */
static int conn_process(struct dconn *c)
{
	while (c->outlen == 0) {
		if (c->queries >= DNS_TCP_MAX_QUERIES)
			break;
		if (c->inlen < 2)
			break;
		size_t mlen = (size_t)c->in[0] << 8 | c->in[1];
		if (mlen < 12 || mlen > DNS_QUERY_MAX) { /* not a query we read */
			conn_close(c);
			return -1;
		}
		if (c->inlen < 2 + mlen)
			break;
		size_t n = answer(c->d, c->in + 2, mlen, true, c->out + 2, DNS_ANSWER_MAX);
		if (!n) { /* a response, or no header: not a DNS client */
			conn_close(c);
			return -1;
		}
		c->queries++;
		c->out[0] = (unsigned char)(n >> 8);
		c->out[1] = (unsigned char)n;
		c->outlen = n + 2;
		c->outoff = 0;
		c->inlen -= 2 + mlen;
		memmove(c->in, c->in + 2 + mlen, c->inlen);
		ev_timer_again(c->d->loop, &c->idle);
		if (conn_flush(c) == -1)
			return -1;
	}
	if (c->outlen)
		return 0; /* EV_WRITE is on */
	if (c->eof || c->queries >= DNS_TCP_MAX_QUERIES) {
		conn_linger(c);
		return 0;
	}
	conn_watch(c, EV_READ);
	return 0;
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct dconn *c = container_of(w, struct dconn, io);
	if (revents & EV_WRITE) {
		if (conn_flush(c) == -1 || c->outlen)
			return;
		conn_process(c);
		return;
	}
	if (c->lingering) {
		unsigned char junk[4096];
		ssize_t r = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT);
		if (r == 0 ||
		    (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			conn_close(c);
		return;
	}
	if (c->outlen || !(revents & EV_READ))
		return;
	ssize_t r = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, MSG_DONTWAIT);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r == -1) {
		conn_close(c);
		return;
	}
	if (r == 0)
		c->eof = true;
	c->inlen += (size_t)r;
	conn_process(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct dconn *c = w->data;
	if (!c->lingering)
		bump(&c->d->tcp_timeouts);
	conn_close(c);
}

static bool trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Whether a connection of uid may be taken now (the bounds of dns_serve.h). */
static bool room_for(const struct dns_serve *d, uid_t uid)
{
	unsigned mine = 0, others = 0;
	if (d->nconns >= DNS_TCP_MAX_CONNS)
		return false;
	for (const struct dconn *c = d->conns; c; c = c->next) {
		mine += c->uid == uid;
		others += !trusted_uid(c->uid);
	}
	if (mine >= DNS_TCP_MAX_PER_UID)
		return false;
	return trusted_uid(uid) || others < DNS_TCP_MAX_OTHERS;
}

static uid_t owner(int fd, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof local;
	struct caller who;
	char err[200];
	if (getsockname(fd, (struct sockaddr *)&local, &llen) == -1 ||
	    peercred_lookup(peer, &local, &who, err, sizeof err) == -1)
		return (uid_t)-1;
	return who.uid;
}

static void refuse(struct dns_serve *d, int fd)
{
	close(fd);
	bump(&d->tcp_refused);
	double now = ev_now(d->loop);
	if (now - d->refused_said >= 60.) {
		d->refused_said = now;
		log_warn(
			"dns %s: TCP connections over the bound (%u, %u of one user, %u of users "
			"other than root and meshd's) closed at once: %llu so far",
			d->addr, DNS_TCP_MAX_CONNS, DNS_TCP_MAX_PER_UID, DNS_TCP_MAX_OTHERS,
			(unsigned long long)atomic_load(&d->tcp_refused));
	}
}

static void tcp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct dns_serve *d = container_of(w, struct dns_serve, tcp_io);
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int fd = accept4(d->tcp, (struct sockaddr *)&peer, &plen,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				ev_io_stop(loop, &d->tcp_io);
				ev_timer_start(loop, &d->accept_pause);
			}
			return;
		}
		if (d->nconns >= DNS_TCP_MAX_CONNS) { /* no lookup for what is refused anyway */
			refuse(d, fd);
			continue;
		}
		uid_t uid = owner(fd, &peer);
		struct dconn *c = room_for(d, uid) ? calloc(1, sizeof *c) : NULL;
		if (!c) {
			refuse(d, fd);
			continue;
		}
		c->d = d;
		c->fd = fd;
		c->uid = uid;
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		d->nconns++;
		ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
		ev_io_start(loop, &c->io);
		ev_init(&c->idle, conn_timer_cb);
		c->idle.repeat = DNS_TCP_IDLE;
		c->idle.data = c;
		ev_timer_again(loop, &c->idle);
		ev_timer_init(&c->life, conn_timer_cb, DNS_TCP_LIFETIME, 0.);
		c->life.data = c;
		ev_timer_start(loop, &c->life);
	}
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct dns_serve *d = container_of(w, struct dns_serve, accept_pause);
	ev_io_start(loop, &d->tcp_io);
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *dns_main(void *arg)
{
	struct dns_serve *d = arg;
	ev_run(d->loop, 0);
	while (d->conns)
		conn_close(d->conns);
	peercred_close();
	return NULL;
}

/* ---- life ---- */

static int bind_one(const struct cfg_addr *addr, int type, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(addr->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* No SO_REUSEPORT: a port someone else holds is an error, not shared. */
	if (fd == -1 ||
	    (type == SOCK_STREAM &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1) ||
	    bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1 ||
	    (type == SOCK_STREAM && listen(fd, 64) == -1)) {
		char as[64];
		int e = errno;
		snprintf(err, errlen, "cannot listen on dns %s (%s): %s",
		         net_addr_str(addr, as, sizeof as), type == SOCK_STREAM ? "TCP" : "UDP",
		         strerror(e));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

struct dns_serve *dns_serve_open(const struct cfg_addr *addr, char *err, size_t errlen)
{
	struct dns_serve *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->tcp = -1;
	d->udp = bind_one(addr, SOCK_DGRAM, err, errlen);
	/* Room for a burst: the loop may be off the CPU for a few ms while
	 * a flood fills the queue, and what overflows is lost for everyone.
	 * FORCE (root) passes net.core.rmem_max. */
	int rcv = DNS_UDP_RCVBUF;
	if (d->udp != -1 && setsockopt(d->udp, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) == -1)
		setsockopt(d->udp, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	socklen_t rl = sizeof d->rcvbuf;
	if (d->udp != -1 && getsockopt(d->udp, SOL_SOCKET, SO_RCVBUF, &d->rcvbuf, &rl) == -1)
		d->rcvbuf = 0;
	if (d->udp != -1)
		d->tcp = bind_one(addr, SOCK_STREAM, err, errlen);
	if (d->udp == -1 || d->tcp == -1) {
		if (d->udp != -1)
			close(d->udp);
		free(d);
		return NULL;
	}
	net_addr_str(addr, d->addr, sizeof d->addr);
	d->rate = calloc(RATE_SLOTS, sizeof *d->rate);
	d->batch = malloc(sizeof *d->batch);
	if (!d->rate || !d->batch) {
		snprintf(err, errlen, "out of memory");
		close(d->udp);
		close(d->tcp);
		free(d->rate);
		free(d->batch);
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

int dns_serve_start(struct dns_serve *d, char *err, size_t errlen)
{
	d->loop = ev_loop_new(EVFLAG_AUTO);
	if (!d->loop) {
		snprintf(err, errlen, "dns: cannot create an event loop");
		return -1;
	}
	ev_io_init(&d->udp_io, udp_cb, d->udp, EV_READ);
	ev_io_start(d->loop, &d->udp_io);
	ev_io_init(&d->tcp_io, tcp_cb, d->tcp, EV_READ);
	ev_io_start(d->loop, &d->tcp_io);
	ev_timer_init(&d->accept_pause, accept_pause_cb, 1., 0.);
	ev_async_init(&d->stop, stop_cb);
	ev_async_start(d->loop, &d->stop);
	int rc = thread_start(&d->thread, dns_main, d); /* signals stay the main thread's */
	if (rc != 0) {
		snprintf(err, errlen, "dns: cannot start its thread: %s", strerror(rc));
		return -1;
	}
	d->running = true;
	/* Linux reports twice what was set (its bookkeeping); without
	 * CAP_NET_ADMIN (meshd.service) the set value is capped at
	 * net.core.rmem_max. */
	if (d->rcvbuf / 2 < DNS_UDP_RCVBUF)
		log_warn(
			"dns %s: the UDP receive queue is %d KiB, not %d (net.core.rmem_max); a "
			"flood can crowd out other programs' queries: sysctl "
			"net.core.rmem_max=%d raises it",
			d->addr, d->rcvbuf / 2048, DNS_UDP_RCVBUF >> 10, DNS_UDP_RCVBUF);
	return 0;
}

void dns_serve_stop(struct dns_serve *d)
{
	if (!d)
		return;
	if (d->running) {
		ev_async_send(d->loop, &d->stop);
		pthread_join(d->thread, NULL);
	}
	if (d->loop)
		ev_loop_destroy(d->loop);
	close(d->udp);
	close(d->tcp);
	free(d->cur);
	free(d->next);
	free(d->rate);
	free(d->batch);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
