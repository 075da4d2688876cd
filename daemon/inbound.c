/*
 * Inbound: another host's meshd (or a stranger) connected to the mesh port.
 * link.c requires mutual TLS from the mesh CA and the mesh ALPN (a failure
 * is recorded here: inbound_link_failed); then each OPEN frame on the link
 * is one application connection: authorize the caller's identity for the
 * service, connect the local upstream, and only then answer OK and relay.
 * Anything else gets a status and a record, and costs no upstream
 * connection.
 *
 *   OPEN --bad header--> STATUS bad_request -> END protocol_error
 *     v --unknown service--> STATUS no_service -> END no_endpoint
 *     v --not allowed--> STATUS denied -> END denied
 *     v --draining--> STATUS unavailable -> END refused
 *     v --link over max_streams_per_link, peer over max_connections_per_peer,
 *       or no descriptor outside the reserve--> STATUS unavailable -> END overflow
 *   UP_CONNECT --refused/timeout--> STATUS -> END refused/timeout
 *     v
 *   STATUS ok, RELAY
 */
#include "gen.h"
#include "worker.h"
#include "listener.h"
#include "session.h"
#include "inbound.h"
#include "bounds.h"
#include "link.h"
#include "record.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "container.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


static void in_side_cb(struct side *sd, int revents);
static void refuse(struct session *s, enum proto_status st, enum result result);

static void in_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct session *s = container_of(w, struct session, timer);
	if (s->state == S_UP_CONNECT) {
		/* Tell the caller, which may retry elsewhere. */
		session_set_detail(s, "upstream %s: connect timed out", s->endpoint);
		side_close(s->m->loop, &s->relay.side[1], false);
		refuse(s, PROTO_ST_TIMEOUT, RESULT_TIMEOUT);
		return;
	}
	session_set_detail(s, "timed out in state %d", s->state);
	session_end(s, RESULT_TIMEOUT, true);
}

static void arm_timer(struct session *s, double secs)
{
	ev_timer_stop(s->m->loop, &s->timer);
	ev_timer_init(&s->timer, in_timer_cb, secs, 0.);
	ev_timer_start(s->m->loop, &s->timer);
}

/* Answer with a refusal: that also ends the stream. */
static void refuse(struct session *s, enum proto_status st, enum result result)
{
	stream_status(&s->stream, st);
	session_end(s, result, false);
}

/* The local upstream's connect failed with err: the caller is told with
 * the status of its result; a result without a status of its own (reset)
 * is told, and recorded, as refused. */
static void refuse_connect(struct session *s, int err)
{
	enum result r = result_from_errno(err);
	if (result_status(r) < 0)
		r = RESULT_REFUSED;
	refuse(s, (enum proto_status)result_status(r), r);
}

static void relay_done(struct relay *r, enum relay_end why, const char *detail)
{
	session_end_relay(r->owner, why, detail);
}

static void upstream_connected(struct session *s)
{
	ev_timer_stop(s->m->loop, &s->timer);
	s->t_connected = ev_time();
	metrics_carried(s);
	stream_status(&s->stream, PROTO_ST_OK);
	s->state = S_RELAY;
	s->relay.done = relay_done;
	s->relay.owner = s;
	stream_attach(&s->stream, &s->relay, 0);
	record_open(s, session_clock()); /* before the relay can end it */
	relay_start(&s->relay, s->svc->idle_timeout);
}

static void header_received(struct session *s, const struct proto_hdr *h)
{
	const struct config *c = s->gen->cfg;
	/* The connection id joins both hosts' records; like uid, pid and
	 * program it is only what the calling host says. Those three are kept
	 * apart as claims (the record says so) and the caller fields stay
	 * unknown: the decisions below look at the certificate's identity
	 * (s->source, from the link) and at the service asked for, nothing
	 * else the peer wrote. */
	s->id = h->conn_id;
	s->port = h->port;
	s->claims = true;
	s->claimed_pid = h->pid;
	s->claimed_uid = h->uid;
	snprintf(s->svc_name, sizeof s->svc_name, "%s", h->service);
	snprintf(s->claimed_program, sizeof s->claimed_program, "%s", h->program);

	const struct cfg_service *svc = config_service(c, h->service);
	const struct cfg_upstream *up = svc ? config_upstream(svc, h->port) : NULL;
	bool port_ok = false;
	for (unsigned i = 0; svc && i < svc->nports; i++)
		port_ok |= svc->ports[i] == h->port;
	if (!svc || !up || !port_ok) {
		session_set_detail(s, "service %s port %u is not served here", h->service, h->port);
		refuse(s, PROTO_ST_NO_SERVICE, RESULT_NO_ENDPOINT);
		return;
	}
	s->svc = svc;
	if (s->m->draining) {
		session_set_detail(s, "draining: new connections are refused");
		refuse(s, PROTO_ST_UNAVAILABLE, RESULT_REFUSED);
		return;
	}
	/* A caller opens another link beyond LINK_MAX_STREAMS (256); more on
	 * one link is a peer that does not behave (stream.c ends its link if it
	 * keeps at it). */
	if (s->stream.link && link_streams(s->stream.link) > c->max_streams_per_link) {
		session_set_detail(s, "link from %s already has %u streams (max_streams_per_link)",
		                   s->client, c->max_streams_per_link);
		refuse(s, PROTO_ST_UNAVAILABLE, RESULT_OVERFLOW);
		return;
	}
	/* The caller verified our certificate for the identity it asked for in
	 * SNI; it must be the identity that serves this service. */
	const char *sni = s->stream.link ? link_sni(s->stream.link) : "";
	if (!policy_sni_ok(svc, sni)) {
		session_set_detail(s, "caller asked for identity %s, service %s is served as %s",
		                   *sni ? sni : "(none)", svc->name, svc->identity);
		refuse(s, PROTO_ST_NO_SERVICE, RESULT_NO_ENDPOINT);
		return;
	}
	const char *caller = policy_spiffe_name(c->trust_domain, s->source);
	bool allowed = caller && policy_allows(svc, caller);
	metrics_service(s->m->metrics, svc->name,
	                allowed ? METRICS_SVC_AUTHZ_ALLOW : METRICS_SVC_AUTHZ_DENY);
	if (!allowed) {
		session_set_detail(s, "%s may not call %s", s->source, svc->name);
		refuse(s, PROTO_ST_DENIED, RESULT_DENIED);
		return;
	}
	/* Each stream costs an upstream descriptor: one peer identity, over
	 * all its links and all workers, may hold only so many (its links
	 * count too, link.c). */
	unsigned per_peer = bounds_auto(c->max_conns_per_peer);
	if (!session_take(s, &quota_peer, quota_key(s->source), per_peer)) {
		session_set_detail(s, "%s holds %u links and streams (max_connections_per_peer)",
		                   s->source, per_peer);
		refuse(s, PROTO_ST_UNAVAILABLE, RESULT_OVERFLOW);
		return;
	}
	net_addr_str(&up->addr, s->endpoint, sizeof s->endpoint);
	char err[128];
	int fd = net_connect(&up->addr, err, sizeof err);
	if (fd == -1) {
		session_set_detail(s, "upstream %s: %s", s->endpoint, err);
		refuse_connect(s, errno);
		return;
	}
	if (!bounds_fd_ok(fd)) {
		/* What is left is for links, reloads and the log. */
		close(fd);
		session_set_detail(s, "upstream %s: descriptor %d is in the reserve (limit %u)",
		                   s->endpoint, fd, bounds_nofile());
		refuse(s, PROTO_ST_UNAVAILABLE, RESULT_OVERFLOW);
		return;
	}
	side_init(&s->relay.side[1], fd, in_side_cb, s);
	s->state = S_UP_CONNECT;
	side_watch(s->m->loop, &s->relay.side[1], EV_WRITE);
	arm_timer(s, svc->connect_timeout);
}

static void in_stream_cb(struct stream *st, enum stream_event ev, int code, enum result result,
                         const char *detail)
{
	(void)code;
	(void)result;
	struct session *s = st->owner;
	/* Once relaying, the stream tells the relay, not us (stream_attach). */
	if (ev == STREAM_FAILED || ev == STREAM_RESET) {
		/* The caller gave up (or the link died) while we connected. */
		session_set_detail(s, "%s", detail ? detail : "caller reset");
		session_end(s, RESULT_RESET, true);
	}
}

/* An OPEN frame arrived on a receiver link (link_receiver_ops). */
static void inbound_stream(struct worker *m, struct link *l, uint32_t id, const unsigned char *wire,
                           size_t len)
{
	struct session *s = session_new(m, SESS_INBOUND, -1);
	if (!s) {
		log_error("out of memory for an inbound connection; refused");
		struct stream tmp;
		stream_accept(l, &tmp, id, in_stream_cb, NULL);
		stream_status(&tmp, PROTO_ST_UNAVAILABLE);
		stream_close(&tmp);
		return;
	}
	s->id = session_random(m);
	s->tls_up = true;
	snprintf(s->client, sizeof s->client, "%s", link_addr(l));
	snprintf(s->source, sizeof s->source, "%s", link_peer(l));
	snprintf(s->peer, sizeof s->peer, "%s", link_peer(l));
	stream_accept(l, &s->stream, id, in_stream_cb, s);
	relay_side_stream(&s->relay, 0, &stream_relay_ops, &s->stream);
	struct proto_hdr h;
	int rc = proto_hdr_decode(&h, wire, len);
	if (rc != (int)len) {
		session_set_detail(s, "%s header from %s",
		                   rc == PROTO_BAD_VER ? "unsupported version of" : "malformed",
		                   s->client);
		refuse(s, rc == PROTO_BAD_VER ? PROTO_ST_BAD_VERSION : PROTO_ST_BAD_REQUEST,
		       RESULT_PROTOCOL_ERROR);
		return;
	}
	s->reused = h.flags & PROTO_HDR_F_REUSED;
	header_received(s, &h);
}

/* A receiver link failed before it carried a stream (stranger, wrong
 * certificate, handshake timeout): record it (link_receiver_ops). */
static void inbound_link_failed(struct worker *m, const char *client, const char *source,
                                enum result result, const char *detail)
{
	struct session *s = session_new(m, SESS_INBOUND, -1);
	if (!s)
		return;
	s->id = session_random(m);
	snprintf(s->client, sizeof s->client, "%s", client);
	snprintf(s->source, sizeof s->source, "%s", source);
	session_set_detail(s, "%s", detail);
	session_end(s, result, false);
}

/* A CALLER frame (link_receiver_ops): the calling host learnt its caller's
 * pid and program after the OPEN. Claims like the header's, kept with
 * them for the records written from now on (progress, close). */
static void inbound_caller(struct stream *st, uint32_t pid, const char *program)
{
	struct session *s = st->owner;
	if (s->state == S_CLOSED || !s->claims)
		return; /* no header read: nothing to add to */
	s->claimed_pid = pid;
	snprintf(s->claimed_program, sizeof s->claimed_program, "%s", program);
}

static const struct link_receiver_ops inbound_link_ops = {
	.on_stream = inbound_stream,
	.on_failed = inbound_link_failed,
	.on_caller = inbound_caller,
};

static void in_side_cb(struct side *sd, int revents)
{
	(void)revents;
	struct session *s = sd->owner;
	if (s->state != S_UP_CONNECT)
		return;
	int err = net_connect_error(sd->fd);
	if (err) {
		session_set_detail(s, "upstream %s: %s", s->endpoint, strerror(err));
		side_close(s->m->loop, &s->relay.side[1], false);
		refuse_connect(s, err);
		return;
	}
	upstream_connected(s);
}

void inbound_accept(struct worker *m, struct listener *l, int fd,
                    const struct sockaddr_storage *peer)
{
	(void)l;
	link_accept(m, fd, peer, &inbound_link_ops);
}
