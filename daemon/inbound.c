/*
 * Inbound: another host's meshd (or a stranger) connected to the mesh port.
 * Require mutual TLS from the mesh CA and the mesh ALPN, read the header,
 * authorize the caller's identity for the service, connect the local
 * upstream, and only then answer OK and relay. Anything else gets a status
 * (when TLS came up) and a record, and costs no upstream connection.
 *
 *   accept -> TLS_ACCEPT --fail/timeout--> END tls_failure
 *                 v
 *            READ_HEADER --bad--> SEND_STATUS bad_request -> END
 *                 v --unknown service--> SEND_STATUS no_service -> END no_endpoint
 *                 v --not allowed--> SEND_STATUS denied -> END denied
 *            UP_CONNECT --refused/timeout--> SEND_STATUS -> END refused/timeout
 *                 v
 *            RELAY (the OK status is the first thing relayed to the caller)
 */
#include "mesh.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))
#define HANDSHAKE_TIMEOUT 10.0
/* How long a tunnel may wait for its next header; longer than the caller's
 * pool idle time (pool.c), so the caller, not us, normally closes it. */
#define TUNNEL_IDLE 75.0

static void in_side_cb(struct side *sd, int revents);
static void read_header(struct session *s);
static void refuse(struct session *s, enum proto_status st, const char *result);

static void in_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct session *s = container_of(w, struct session, timer);
	switch (s->state) {
	case S_TLS_ACCEPT:
		session_set_detail(s, "no TLS handshake within %.0f s", HANDSHAKE_TIMEOUT);
		session_end(s, "tls_failure", true);
		return;
	case S_READ_HEADER:
		if (s->quiet) {
			session_end(s, "ok", false); /* an idle tunnel, not a connection */
			return;
		}
		session_set_detail(s, "no header within %.0f s", HANDSHAKE_TIMEOUT);
		session_end(s, "timeout", true);
		return;
	case S_UP_CONNECT:
		/* Tell the caller, which may retry elsewhere. */
		session_set_detail(s, "upstream %s: connect timed out", s->endpoint);
		side_close(s->m->loop, &s->relay.side[1], false);
		refuse(s, PROTO_ST_TIMEOUT, "timeout");
		return;
	default:
		session_set_detail(s, "timed out in state %d", s->state);
		session_end(s, "timeout", true);
		return;
	}
}

static void arm_timer(struct session *s, double secs)
{
	ev_timer_stop(s->m->loop, &s->timer);
	ev_timer_init(&s->timer, in_timer_cb, secs, 0.);
	ev_timer_start(s->m->loop, &s->timer);
}

/* Answer with a refusal, then close. */
static void refuse(struct session *s, enum proto_status st, const char *result)
{
	unsigned char wire[PROTO_STATUS_LEN];
	proto_status_encode(wire, st);
	struct buf *b = &s->relay.buf[1];
	buf_free(b);
	buf_append(b, wire, sizeof wire);
	s->result = result;
	s->state = S_SEND_STATUS;
	arm_timer(s, HANDSHAKE_TIMEOUT);
	in_side_cb(&s->relay.side[0], EV_WRITE);
}

/* The stream ended cleanly: the tunnel waits for the caller's next header
 * in a session of its own (no record unless a header arrives). */
static void tunnel_next(struct session *done, int fd, SSL *ssl)
{
	struct meshd *m = done->m;
	struct session *s = session_new(m, SESS_INBOUND, fd);
	if (!s) {
		SSL_free(ssl);
		close(fd);
		return;
	}
	s->relay.side[0].ssl = ssl;
	s->relay.side[0].cb = in_side_cb;
	s->id = mesh_random(m);
	s->tls_up = true;
	s->reused = true;
	s->quiet = true;
	memcpy(s->client, done->client, sizeof s->client);
	memcpy(s->source, done->source, sizeof s->source);
	memcpy(s->peer, done->peer, sizeof s->peer);
	s->state = S_READ_HEADER;
	arm_timer(s, TUNNEL_IDLE);
	read_header(s);
}

static void relay_done(struct relay *r, enum relay_end why, const char *detail)
{
	struct session *s = r->owner;
	bool reuse = why == RELAY_DONE && !s->m->draining;
	int fd = -1;
	SSL *ssl = NULL;
	if (reuse)
		relay_detach(&s->relay, 0, &fd, &ssl);
	session_end_relay(s, why, detail);
	if (reuse)
		tunnel_next(s, fd, ssl);
}

static void upstream_connected(struct session *s)
{
	unsigned char wire[PROTO_STATUS_LEN];
	proto_status_encode(wire, PROTO_ST_OK);
	buf_append(&s->relay.buf[1], wire, sizeof wire);
	ev_timer_stop(s->m->loop, &s->timer);
	s->t_connected = ev_time();
	s->relay.side[0].framed = true;
	s->state = S_RELAY;
	s->relay.done = relay_done;
	s->relay.owner = s;
	relay_start(&s->relay, s->svc->idle_timeout);
}

static void header_received(struct session *s, const struct proto_hdr *h)
{
	const struct config *c = s->gen->cfg;
	s->id = h->conn_id;
	s->port = h->port;
	s->pid = h->pid;
	s->uid = h->uid;
	s->caller_known = h->uid != PROTO_UID_UNKNOWN;
	snprintf(s->svc_name, sizeof s->svc_name, "%s", h->service);
	snprintf(s->program, sizeof s->program, "%s", h->program);

	const struct cfg_service *svc = config_service(c, h->service);
	const struct cfg_upstream *up = svc ? config_upstream(svc, h->port) : NULL;
	bool port_ok = false;
	for (unsigned i = 0; svc && i < svc->nports; i++)
		port_ok |= svc->ports[i] == h->port;
	if (!svc || !up || !port_ok) {
		session_set_detail(s, "service %s port %u is not served here", h->service, h->port);
		refuse(s, PROTO_ST_NO_SERVICE, "no_endpoint");
		return;
	}
	s->svc = svc;
	/* The caller verified our certificate for the identity it asked for in
	 * SNI; it must be the identity that serves this service. */
	const char *sni = SSL_get_servername(s->relay.side[0].ssl, TLSEXT_NAMETYPE_host_name);
	if (!sni || strcmp(sni, svc->identity) != 0) {
		session_set_detail(s, "caller asked for identity %s, service %s is served as %s",
		                   sni ? sni : "(none)", svc->name, svc->identity);
		refuse(s, PROTO_ST_NO_SERVICE, "no_endpoint");
		return;
	}
	size_t plen = strlen("spiffe://") + strlen(c->trust_domain) + strlen("/svc/");
	const char *caller = NULL;
	if (strncmp(s->source, "spiffe://", 9) == 0 &&
	    strncmp(s->source + 9, c->trust_domain, strlen(c->trust_domain)) == 0 &&
	    strncmp(s->source + 9 + strlen(c->trust_domain), "/svc/", 5) == 0)
		caller = s->source + plen;
	if (!caller || !config_allows(svc, caller)) {
		session_set_detail(s, "%s may not call %s", s->source, svc->name);
		refuse(s, PROTO_ST_DENIED, "denied");
		return;
	}
	config_addr_str(&up->addr, s->endpoint, sizeof s->endpoint);
	char err[128];
	int fd = net_connect(&up->addr, err, sizeof err);
	if (fd == -1) {
		session_set_detail(s, "upstream %s: %s", s->endpoint, err);
		refuse(s, errno == ETIMEDOUT ? PROTO_ST_TIMEOUT : PROTO_ST_REFUSED,
		       errno == ETIMEDOUT ? "timeout" : "refused");
		return;
	}
	side_init(&s->relay.side[1], fd, in_side_cb, s);
	s->state = S_UP_CONNECT;
	side_watch(s->m->loop, &s->relay.side[1], EV_WRITE);
	side_watch(s->m->loop, &s->relay.side[0], 0);
	arm_timer(s, svc->connect_timeout);
}

static void read_header(struct session *s)
{
	struct side *tun = &s->relay.side[0];
	for (;;) {
		struct proto_hdr h;
		int rc = proto_hdr_decode(&h, s->pbuf, s->plen);
		if (rc > 0) {
			s->quiet = false;
			header_received(s, &h);
			return;
		}
		if (rc == PROTO_BAD || rc == PROTO_BAD_VER) {
			s->quiet = false;
			session_set_detail(s, "%s header from %s", rc == PROTO_BAD ?
			                   "malformed" : "unsupported version of", s->client);
			refuse(s, rc == PROTO_BAD ? PROTO_ST_BAD_REQUEST : PROTO_ST_BAD_VERSION,
			       "protocol_error");
			return;
		}
		/* Read exactly the header: the fixed part, then the names. */
		size_t want = s->plen < PROTO_FIXED_LEN ? PROTO_FIXED_LEN - s->plen
		            : (size_t)(s->pbuf[4] << 8 | s->pbuf[5]) - s->plen;
		int n = side_recv(tun, s->pbuf + s->plen, want, s->detail, sizeof s->detail);
		if (n > 0) {
			if (s->quiet) {
				/* A reused tunnel: the connection starts now, not
				 * when the tunnel began to wait. */
				s->quiet = false;
				s->t_start = ev_time();
			}
			s->plen += (unsigned)n;
			continue;
		}
		if (n == -1) {
			side_watch(s->m->loop, tun, side_wants(tun, EV_READ));
			return;
		}
		if (n == 0 && s->plen == 0)
			session_set_detail(s, "%s closed before sending a header", s->client);
		session_end(s, "reset", true);
		return;
	}
}

static void handshake(struct session *s)
{
	struct side *tun = &s->relay.side[0];
	ERR_clear_error();
	int rc = SSL_do_handshake(tun->ssl);
	if (rc != 1) {
		int e = SSL_get_error(tun->ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			side_watch(s->m->loop, tun, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
			return;
		}
		char why[160];
		tls_last_error(tun->ssl, rc, why, sizeof why);
		session_set_detail(s, "TLS handshake from %s: %s", s->client, why);
		session_end(s, "tls_failure", true);
		return;
	}
	s->tls_up = true;
	const unsigned char *alpn;
	unsigned alen;
	SSL_get0_alpn_selected(tun->ssl, &alpn, &alen);
	if (alen != strlen(PROTO_ALPN) || memcmp(alpn, PROTO_ALPN, alen) != 0) {
		session_set_detail(s, "%s did not offer ALPN %s", s->client, PROTO_ALPN);
		session_end(s, "tls_failure", true);
		return;
	}
	if (tls_peer_spiffe(tun->ssl, s->source, sizeof s->source) == -1) {
		session_set_detail(s, "client certificate of %s has no spiffe identity", s->client);
		session_end(s, "identity_error", true);
		return;
	}
	snprintf(s->peer, sizeof s->peer, "%s", s->source);
	s->state = S_READ_HEADER;
	read_header(s);
}

static void in_side_cb(struct side *sd, int revents)
{
	(void)revents;
	struct session *s = sd->owner;
	switch (s->state) {
	case S_TLS_ACCEPT:
		handshake(s);
		return;
	case S_READ_HEADER:
		read_header(s);
		return;
	case S_UP_CONNECT: {
		int err = net_connect_error(sd->fd);
		if (err) {
			session_set_detail(s, "upstream %s: %s", s->endpoint, strerror(err));
			side_close(s->m->loop, &s->relay.side[1], false);
			refuse(s, err == ETIMEDOUT ? PROTO_ST_TIMEOUT : PROTO_ST_REFUSED,
			       err == ETIMEDOUT ? "timeout" : "refused");
			return;
		}
		upstream_connected(s);
		return;
	}
	case S_SEND_STATUS: {
		struct side *tun = &s->relay.side[0];
		int n = side_write(tun, &s->relay.buf[1], s->detail, sizeof s->detail);
		if (n == -2 || buf_len(&s->relay.buf[1]) == 0) {
			if (n != -2)
				SSL_shutdown(tun->ssl);
			session_end(s, s->result, false);
			return;
		}
		side_watch(s->m->loop, tun, side_wants(tun, EV_WRITE));
		return;
	}
	default:
		return;
	}
}

void inbound_accept(struct meshd *m, struct listener *l, int fd,
                    const struct sockaddr_storage *peer)
{
	(void)l;
	struct session *s = session_new(m, SESS_INBOUND, fd);
	if (!s) {
		log_error("out of memory for an inbound connection; refused");
		close(fd);
		return;
	}
	s->id = mesh_random(m);
	net_sockaddr_str((const struct sockaddr *)peer, s->client, sizeof s->client);
	char err[128];
	s->relay.side[0].ssl = tls_server_new(s->gen->tls, fd, err, sizeof err);
	s->relay.side[0].cb = in_side_cb;
	if (!s->relay.side[0].ssl) {
		session_set_detail(s, "%s", err);
		session_end(s, "tls_failure", true);
		return;
	}
	s->state = S_TLS_ACCEPT;
	arm_timer(s, HANDSHAKE_TIMEOUT);
	handshake(s);
}
