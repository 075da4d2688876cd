/*
 * Outbound: a local program connected to a service VIP. Identify the caller
 * from the kernel, choose an endpoint, reach it (TCP, then mutual TLS with
 * the caller's certificate, then header and status), retry on other
 * endpoints while no application byte has moved, then hand both sockets to
 * the relay. The endpoint set (endpoint.h) picks each endpoint and hears
 * how every attempt ended.
 *
 *   accept -> identify --no identity--> END identity_error (reset caller)
 *      |
 *      v
 *   +-> pick endpoint --none left--> END last failure (reset caller)
 *   |     | local                   \ remote
 *   |     v                          v
 *   |   CONNECTING ---------------> stream on a link (link.c: reused, or TCP + TLS)
 *   |     | ok                        WAIT_STATUS --------------------------------> RELAY
 *   |     v                           | link fails / timeout / status != ok    ok
 *   |   RELAY                         v
 *   |                               BACKOFF (--denied--> END denied)
 *   +------------------------------------+
 */
#include "gen.h"
#include "worker.h"
#include "listener.h"
#include "session.h"
#include "outbound.h"
#include "shimctl.h"
#include "peercred.h"
#include "policy.h"
#include "backoff.h"
#include "endpoint.h"
#include "bounds.h"
#include "link.h"
#include "record.h"
#include "metrics.h"
#include "log.h"
#include "container.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <openssl/err.h>


static void out_side_cb(struct side *sd, int revents);
static void attempt_next(struct session *s);

static void out_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void arm_timer(struct session *s, double secs)
{
	ev_timer_stop(s->m->loop, &s->timer);
	ev_timer_init(&s->timer, out_timer_cb, secs, 0.);
	ev_timer_start(s->m->loop, &s->timer);
}

static void link_key(const struct session *s, char *key, size_t len)
{
	snprintf(key, len, "%s|%s|%s", s->identity, s->endpoint, s->svc->identity);
}

static void relay_done(struct relay *r, enum relay_end why, const char *detail)
{
	session_end_relay(r->owner, why, detail);
}

/* An endpoint was ejected or came back: said once, on stderr and in the
 * traffic log. */
static void health_changed(struct session *s, const struct endpoint_event *ev)
{
	const char *svc = s->svc->name, *ep = ev->ep->cfg->text;
	if (ev->kind == OUTLIER_EJECTED) {
		metrics_service(s->m->metrics, svc, METRICS_SVC_EJECTIONS);
		log_warn(
			"service %s: endpoint %s ejected for %.1fs after %u failed attempts in a "
			"row (last: %s; ejection %u)",
			svc, ep, ev->secs, ev->failures, result_word(ev->result), ev->ejections);
		record_endpoint(s->gen->cfg->host, "eject", svc, ep, ev->result, ev->failures,
		                ev->ejections, ev->secs);
	} else {
		log_info("service %s: endpoint %s returned after %.1fs ejected", svc, ep, ev->secs);
		record_endpoint(s->gen->cfg->host, "return", svc, ep, RESULT_OK, 0, ev->ejections,
		                ev->secs);
	}
}

/* The attempt in flight is done with `result` (RESULT_UNSET: it says
 * nothing about the endpoint); the balancer learns from it (endpoint.h). */
static void attempt_done(struct session *s, enum result result)
{
	struct endpoint_event ev;
	endpoint_attempt_done(&s->use, result, session_clock(), &ev);
	if (ev.kind != OUTLIER_NONE)
		health_changed(s, &ev);
}

/* A connect that failed for want of something on this host (descriptors,
 * buffers, local ports): the program sees it as refused, but it says
 * nothing about the endpoint, which must not be ejected for it. */
static void local_fault(struct session *s, int err)
{
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
	case EADDRNOTAVAIL:
		attempt_done(s, RESULT_UNSET);
		return;
	default:
		return;
	}
}

/*
 * The caller's pid and program for the serving host. The shim reports them
 * over the control socket (shimctl.c), usually after the stream's OPEN
 * left with none in its header: a CALLER frame follows (libmesh/4 links)
 * as soon as this worker knows them: at the verdict when the shim's
 * question came first, else at the checks CALLER_CHECKS lists (the
 * question of a connection made on an open link can come a little after
 * the peer's answer), and at the latest just before our FIN or RST
 * (STREAM_ENDING). Once per stream; what a question told meanwhile is
 * also this side's own from then on (records, admin API).
 */
static const double caller_checks[] = { 0.01, 0.1, 1.0 };
#define CALLER_CHECKS (sizeof caller_checks / sizeof caller_checks[0])

/* True when there is nothing more to tell (told now, or never can be). */
static bool caller_tell(struct session *s)
{
	struct stream *st = &s->stream;
	if (!s->relay.side[1].stream || !stream_caller_wanted(st))
		return true;
	if (!s->pid) {
		uint32_t pid;
		char program[sizeof s->program];
		shimctl_caller(s, &pid, program, sizeof program);
		if (!pid)
			return false;
		s->pid = pid;
		memcpy(s->program, program, sizeof s->program);
	}
	stream_caller(st, s->pid, s->program);
	return true;
}

static void caller_check(struct session *s)
{
	if (caller_tell(s) || s->caller_checks >= CALLER_CHECKS)
		return;
	arm_timer(s, caller_checks[s->caller_checks++]);
}

static void start_relay(struct session *s)
{
	attempt_done(s, RESULT_OK);
	ev_timer_stop(s->m->loop, &s->timer);
	s->t_connected = ev_time();
	metrics_carried(s);
	shimctl_verdict(s, RESULT_OK);
	s->state = S_RELAY;
	s->relay.done = relay_done;
	s->relay.owner = s;
	if (s->relay.side[1].stream)
		stream_attach(s->relay.side[1].stream, &s->relay, 1);
	record_open(s, session_clock()); /* before the relay can end it */
	caller_check(s);
	relay_start(&s->relay, s->svc->idle_timeout);
}

/* The current attempt failed with `result`; try another endpoint. */
static void attempt_failed(struct session *s, enum result result)
{
	/* A reused link that went stale without an answer is the link's
	 * failure, not the endpoint's (see below). */
	attempt_done(s, s->reused && !s->tls_up ? RESULT_UNSET : result);
	struct ev_loop *loop = s->m->loop;
	ev_timer_stop(loop, &s->timer);
	side_close(loop, &s->relay.side[1], false);
	buf_free(&s->relay.buf[0]);
	buf_free(&s->relay.buf[1]);
	bool answered = s->tls_up; /* the peer sent a status */
	s->tls_up = false;
	s->peer[0] = '\0';
	if (s->reused && !answered) {
		/* An open link went stale (peer restarted or timed it out):
		 * not a failure of the endpoint; try again on a fresh one. A
		 * status, whatever it says, is about the endpoint, not the
		 * link, so it counts as an attempt even on a reused link. */
		log_debug("conn %016llx: reused link to %s failed (%s); reconnecting",
		          (unsigned long long)s->id, s->endpoint, s->detail);
		s->reused = false;
		s->attempts--;
		endpoint_mask_clear(&s->tried, (unsigned)s->ep);
		s->detail[0] = '\0';
		attempt_next(s);
		return;
	}
	s->result = result;
	log_debug("conn %016llx: attempt %u to %s failed: %s (%s)", (unsigned long long)s->id,
	          s->attempts, s->endpoint, result_word(result), s->detail);
	if (s->attempts >= s->svc->retries + 1) {
		session_end(s, result, true);
		return;
	}
	/* Counted now, before the backoff: connections waiting to retry
	 * spend the budget too. */
	char why[160];
	if (!endpoint_retry_allowed(gen_endpoints(s->gen, s->svc), session_clock(), why,
	                            sizeof why)) {
		metrics_service(s->m->metrics, s->svc->name, METRICS_SVC_BUDGET_EXHAUSTED);
		char last[sizeof s->detail];
		snprintf(last, sizeof last, "%s", s->detail);
		session_set_detail(s, "%s; %s", last, why);
		session_end(s, result, true);
		return;
	}
	s->state = S_BACKOFF;
	arm_timer(s, backoff_delay(s->attempts, session_random(s->m)));
}

static void status_received(struct session *s, int st)
{
	s->tls_up = true;
	if (s->stream.link)
		snprintf(s->peer, sizeof s->peer, "%s", link_peer(s->stream.link));
	if (st < 0) {
		session_set_detail(s, "%s sent a malformed status", s->endpoint);
		attempt_failed(s, RESULT_TLS_FAILURE);
		return;
	}
	switch (st) {
	case PROTO_ST_OK:
		start_relay(s);
		return;
	case PROTO_ST_DENIED:
		session_set_detail(s, "%s denied %s", s->endpoint, s->source);
		attempt_done(s, RESULT_DENIED);
		session_end(s, RESULT_DENIED, true);
		return;
	case PROTO_ST_TIMEOUT:
		session_set_detail(s, "%s: upstream connect timed out", s->endpoint);
		attempt_failed(s, RESULT_TIMEOUT);
		return;
	case PROTO_ST_REFUSED:
		session_set_detail(s, "%s: upstream refused", s->endpoint);
		attempt_failed(s, RESULT_REFUSED);
		return;
	default:
		session_set_detail(s, "%s answered %s", s->endpoint, proto_status_name(st));
		if (st == PROTO_ST_UNAVAILABLE && s->stream.link)
			link_retire(s->stream.link);       /* draining: no new streams there */
		attempt_failed(s, result_from_status(st)); /* no_endpoint, else refused */
		return;
	}
}

static void out_side_cb(struct side *sd, int revents)
{
	(void)revents;
	struct session *s = sd->owner;

	switch (s->state) {
	case S_CONNECTING: {
		int err = net_connect_error(sd->fd);
		if (err) {
			session_set_detail(s, "connect %s: %s", s->endpoint, strerror(err));
			attempt_failed(s, result_from_errno(err));
			return;
		}
		start_relay(s); /* a local endpoint: plain TCP */
		return;
	}
	default:
		return;
	}
}

static void out_stream_cb(struct stream *st, enum stream_event ev, int code, enum result result,
                          const char *detail)
{
	struct session *s = st->owner;
	if (ev == STREAM_ENDING) {
		if (s->state == S_RELAY)
			caller_tell(s);
		return;
	}
	/* Once relaying, the stream tells the relay, not us (stream_attach). */
	if (s->state != S_WAIT_STATUS)
		return;
	switch (ev) {
	case STREAM_FAILED:
		session_set_detail(s, "%s", detail);
		if (result == RESULT_TIMEOUT)
			s->reused = false; /* found dead (link_live.c): the endpoint's failure */
		attempt_failed(s, result);
		return;
	case STREAM_RESET:
		session_set_detail(s, "%s reset the stream before answering", s->endpoint);
		attempt_failed(s, RESULT_RESET);
		return;
	case STREAM_STATUS:
		status_received(s, code);
		return;
	default:
		return; /* nothing flows before the status */
	}
}

static void out_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct session *s = container_of(w, struct session, timer);
	if (s->state == S_BACKOFF) {
		attempt_next(s);
		return;
	}
	if (s->state == S_RELAY) {
		caller_check(s);
		return;
	}
	struct link *l = s->state == S_WAIT_STATUS ? s->stream.link : NULL;
	double full = 2 * s->svc->connect_timeout + 1.0, waited = ev_now(loop) - s->t_opened;
	if (l && s->reused && waited < full - 0.001) {
		/* A reused link at the connect timeout: heard from since the
		 * stream opened (it probes a quiet link, link_live.c), it is
		 * alive and the peer is still connecting its upstream: wait
		 * the rest. Silent, it is gone: the endpoint failed. */
		if (link_heard_since(l, s->t_opened)) {
			arm_timer(s, full - waited);
			return;
		}
		session_set_detail(s, "%s: link silent for the connect timeout (%g s)", s->endpoint,
		                   s->svc->connect_timeout);
		link_retire(l);
		s->reused = false; /* the endpoint's failure, not a stale link's */
		attempt_failed(s, RESULT_TIMEOUT);
		return;
	}
	session_set_detail(s, "%s: no answer within the connect timeout", s->endpoint);
	/* A link that does not answer may be dead without a word (the peer's
	 * host went away): no new streams on it; the retry makes a new one. */
	if (l)
		link_retire(l);
	attempt_failed(s, RESULT_TIMEOUT);
}

/* An endpoint is really tried (not passed over): per service, and a
 * retry when it is not the connection's first. */
static void count_attempt(struct session *s)
{
	metrics_service(s->m->metrics, s->svc->name, METRICS_SVC_ATTEMPTS);
	if (s->attempts > 1)
		metrics_service(s->m->metrics, s->svc->name, METRICS_SVC_RETRIES);
}

static void attempt_next(struct session *s)
{
	const struct cfg_service *svc = s->svc;
	struct endpoint_set *set = gen_endpoints(s->gen, svc);
	s->reused = false; /* until this attempt takes a link that was up */
	int ep = endpoint_pick(set, &s->tried, session_random(s->m), session_clock());
	if (ep < 0 && svc->nendpoints) {
		/* Every endpoint failed once: go round again (a peer restarting
		 * is back within the backoff) until the attempts run out. */
		memset(&s->tried, 0, sizeof s->tried);
		ep = endpoint_pick(set, &s->tried, session_random(s->m), session_clock());
	}
	if (ep < 0) {
		if (!s->result)
			session_set_detail(s, "service %s has no endpoints", svc->name);
		session_end(s, s->result ? s->result : RESULT_NO_ENDPOINT, true);
		return;
	}
	endpoint_mask_set(&s->tried, (unsigned)ep);
	s->ep = ep;
	s->attempts++;
	const struct cfg_endpoint *e = &svc->endpoints[ep];
	const struct cfg_addr *dst;
	if (e->local) {
		/* Served on this host: the same allow list as for remote callers. */
		bool allowed = policy_allows(svc, s->identity);
		metrics_service(s->m->metrics, svc->name,
		                allowed ? METRICS_SVC_AUTHZ_ALLOW : METRICS_SVC_AUTHZ_DENY);
		if (!allowed) {
			session_set_detail(s, "%s may not call %s", s->source, svc->name);
			session_end(s, RESULT_DENIED, true);
			return;
		}
		const struct cfg_upstream *u = config_upstream(svc, s->port);
		if (!u) {
			session_set_detail(s, "service %s has no local upstream for port %u",
			                   svc->name, s->port);
			session_end(s, RESULT_NO_ENDPOINT, true);
			return;
		}
		dst = &u->addr;
		net_addr_str(dst, s->endpoint, sizeof s->endpoint);
	} else {
		dst = &e->addr;
		snprintf(s->endpoint, sizeof s->endpoint, "%s", e->text);
	}
	/* The attempt begins: every way it ends reports to the endpoint set
	 * (attempt_done, or session_end's endpoint_release). */
	endpoint_attempt_start(&s->use, set, (unsigned)ep, session_clock());
	char err[160];
	if (!e->local) {
		char key[256];
		bool fresh;
		link_key(s, key, sizeof key);
		struct link *l = link_get(s->m, key, dst, s->endpoint, s->identity, svc->identity,
		                          svc->peer_spiffe, svc->connect_timeout, &fresh, err,
		                          sizeof err);
		if (!l && (errno == EMFILE || errno == ENFILE) && link_close_idle(s->m))
			/* Out of descriptors: idle links are the ones we can spare. */
			l = link_get(s->m, key, dst, s->endpoint, s->identity, svc->identity,
			             svc->peer_spiffe, svc->connect_timeout, &fresh, err,
			             sizeof err);
		if (!l && !fresh && s->skipped < svc->nendpoints) {
			/* Its link is being found dead (a PING overdue,
			 * link_live.c): not an attempt, no retry spent, no
			 * backoff; straight to another endpoint. Once per
			 * endpoint at most, so that a service whose every link
			 * is suspect still makes real attempts. */
			session_set_detail(s, "%s", err);
			attempt_done(s, RESULT_UNSET);
			s->skipped++;
			s->attempts--;
			attempt_next(s);
			return;
		}
		count_attempt(s);
		if (!l) {
			if (errno == EPROTO) {
				session_set_detail(s, "%s", err);
				attempt_done(s, RESULT_TLS_FAILURE);
				session_end(s, RESULT_TLS_FAILURE, true);
				return;
			}
			session_set_detail(s, "connect %s: %s", s->endpoint, err);
			local_fault(s, errno);
			attempt_failed(s, result_from_errno(errno));
			return;
		}
		s->reused = link_up(l);
		struct proto_hdr h;
		memset(&h, 0, sizeof h);
		h.flags = s->reused ? PROTO_HDR_F_REUSED : 0;
		h.port = s->port;
		h.conn_id = s->id;
		h.pid = s->pid;
		h.uid = s->uid;
		snprintf(h.service, sizeof h.service, "%s", s->svc_name);
		snprintf(h.program, sizeof h.program, "%s", s->program);
		unsigned char wire[PROTO_HDR_MAX];
		int n = proto_hdr_encode(&h, wire, sizeof wire);
		if (n < 0) {
			session_set_detail(s, "cannot encode header");
			session_end(s, RESULT_RESET, true);
			return;
		}
		side_init(&s->relay.side[1], -1, out_side_cb, s);
		stream_open(l, &s->stream, wire, (size_t)n, out_stream_cb, s);
		if (h.pid)
			stream_caller_done(&s->stream); /* the header said it */
		relay_side_stream(&s->relay, 1, &stream_relay_ops, &s->stream);
		s->state = S_WAIT_STATUS;
		/* A new link needs its connect and handshake (each bounded by the
		 * connect timeout in link.c); then the peer connects its upstream,
		 * bounded by its own connect timeout. A reused link is looked at
		 * after the connect timeout first (out_timer_cb): one that has
		 * said nothing since is gone. */
		s->t_opened = ev_now(s->m->loop);
		arm_timer(s, fresh ? 3 * svc->connect_timeout + 1.0 : svc->connect_timeout);
		return;
	}
	count_attempt(s);
	int fd = net_connect(dst, err, sizeof err);
	if (fd == -1) {
		session_set_detail(s, "connect %s: %s", s->endpoint, err);
		local_fault(s, errno);
		attempt_failed(s, result_from_errno(errno));
		return;
	}
	if (!bounds_fd_ok(fd)) {
		/* The descriptors left are the reserve (reload, control socket):
		 * refuse rather than spend them. Another endpoint would need a
		 * descriptor too, so this is not an attempt that failed. */
		close(fd);
		session_set_detail(s,
		                   "no descriptor for %s outside the reserve (descriptor %d, "
		                   "limit %u, the last %u kept for reload and the control socket)",
		                   s->endpoint, fd, bounds_nofile(), bounds_reserve());
		unsigned long n = bounds_reserve_refused(ev_now(s->m->loop));
		if (n)
			log_warn(
				"refused %lu connection(s): descriptors in use reached the reserve "
				"(limit %u, %u kept for reload and the control socket); raise "
				"LimitNOFILE / ulimit -n, or lower max_connections_per_uid",
				n, bounds_nofile(), bounds_reserve());
		session_end(s, RESULT_OVERFLOW, true);
		return;
	}
	side_init(&s->relay.side[1], fd, out_side_cb, s);
	s->state = S_CONNECTING;
	side_watch(s->m->loop, &s->relay.side[1], EV_WRITE);
	arm_timer(s, svc->connect_timeout);
}

/* A session for a VIP connection just accepted, known to the shim's
 * questions (shimctl_track), or NULL (out of memory: fd is closed). */
static struct session *accepted(struct worker *m, struct listener *l, int fd,
                                const struct sockaddr_storage *peer)
{
	struct session *s = session_new(m, SESS_OUTBOUND, fd);
	if (!s) {
		log_error("out of memory for a connection to %s:%u; refused", l->service, l->port);
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(fd);
		return NULL;
	}
	s->id = session_random(m);
	s->port = l->port;
	snprintf(s->svc_name, sizeof s->svc_name, "%s", l->service);
	/* The caller's address came with the accept, and the listener is
	 * bound to exactly VIP:port, so no getpeername or getsockname: they
	 * serve the record, the shim's verdict key and the caller lookup. */
	const struct sockaddr_storage *local = &l->addr.ss;
	char vip[64];
	net_sockaddr_str((const struct sockaddr *)peer, s->client, sizeof s->client);
	net_sockaddr_str((const struct sockaddr *)local, vip, sizeof vip);
	snprintf(s->tuple, sizeof s->tuple, "%s %s", s->client, vip);
	shimctl_track(s);
	return s;
}

void outbound_refuse(struct worker *m, struct listener *l, int fd,
                     const struct sockaddr_storage *peer, enum result result, const char *detail)
{
	/* No identity lookup: this is the path that sheds load, and the
	 * record's source (the client address) is enough to aggregate it. */
	struct session *s = accepted(m, l, fd, peer);
	if (!s)
		return;
	session_set_detail(s, "%s", detail);
	session_end(s, result, true);
}

void outbound_accept(struct worker *m, struct listener *l, int fd,
                     const struct sockaddr_storage *peer)
{
	struct session *s = accepted(m, l, fd, peer);
	if (!s)
		return;
	const struct sockaddr_storage *local = &l->addr.ss;

	s->svc = config_service(s->gen->cfg, s->svc_name);
	if (!s->svc) {
		session_set_detail(s, "service %s is no longer configured", s->svc_name);
		session_end(s, RESULT_NO_ENDPOINT, true);
		return;
	}
	struct caller c;
	char err[160];
	if (peercred_lookup(peer, local, &c, err, sizeof err) == -1) {
		session_set_detail(s, "%s", err);
		session_end(s, RESULT_IDENTITY_ERROR, true);
		return;
	}
	/* The kernel vouched for a live socket with an owner (peercred.c);
	 * its inode ties later questions about this caller to the socket. */
	s->caller_known = true;
	s->uid = c.uid;
	s->caller_inode = c.inode;
	const struct cfg_identity *id = policy_identity_for_uid(s->gen->cfg, c.uid);
	if (!id) {
		session_set_detail(s, "uid %u has no identity", (unsigned)c.uid);
		session_end(s, RESULT_IDENTITY_ERROR, true);
		return;
	}
	s->identity = id->name;
	snprintf(s->source, sizeof s->source, "%s", id->spiffe);

	/* Connection limits (README "Security model"): one uid may hold only
	 * its share of the descriptors, so that another user's idle
	 * connections cannot deny root's programs; a service may cap what
	 * this host sends it. Both are counted across workers and given back
	 * when the session ends (session.c). */
	const struct config *cfg = s->gen->cfg;
	unsigned per_uid = bounds_auto(cfg->max_conns_per_uid);
	if (!session_take(s, &quota_uid, c.uid, per_uid)) {
		session_set_detail(s,
		                   "uid %u already holds %u connections (max_connections_per_uid = "
		                   "%u%s)",
		                   (unsigned)c.uid, per_uid, per_uid,
		                   cfg->max_conns_per_uid ? "" : ", auto");
		session_end(s, RESULT_OVERFLOW, true);
		return;
	}
	if (s->svc->max_connections &&
	    !session_take(s, &quota_service, quota_key(s->svc->name), s->svc->max_connections)) {
		session_set_detail(s,
		                   "service %s already has %u connections from this host "
		                   "(max_connections = %u)",
		                   s->svc->name, s->svc->max_connections, s->svc->max_connections);
		session_end(s, RESULT_OVERFLOW, true);
		return;
	}
	endpoint_first_attempt(gen_endpoints(s->gen, s->svc), session_clock());
	attempt_next(s);
}
