/*
 * Listening sockets: one per service VIP:port (and [VIP6]:port for a
 * service with an IPv6 VIP: both feed the same outbound path), and the
 * mesh (inbound) port.
 * listener_sync reconciles the open set with a config: sockets that stay are
 * kept open (a reload never refuses a connection on an unchanged VIP), new
 * ones are bound, removed ones closed.
 *
 * Descriptors: a connection whose descriptor lies in the reserve (bounds.h)
 * is reset at once, so the reserve stays free for reload and the control
 * socket and the program sees a refusal rather than a hang. When accept
 * fails for lack of file descriptors all the same (the reserve spent by
 * something else) the listener pauses briefly instead of spinning, and
 * says so.
 *
 * A VIP:port another process holds (bound while meshd was down, say) cannot
 * be listened on: listener_sync says who holds it, and listener_held() is
 * what the route snapshot and the control socket ask, so that meshd never
 * publishes a name, or vouches for a connection, on a VIP:port it does not
 * hold. Worker 0's listeners are the authority: every worker binds every
 * VIP:port (SO_REUSEPORT, same uid), so worker 0 holding it means meshd
 * does, and worker 0 runs on the main thread with the snapshot and the
 * control socket.
 */
#include "worker.h"
#include "listener.h"
#include "outbound.h"
#include "inbound.h"
#include "peercred.h"
#include "bounds.h"
#include "accept.h"
#include "log.h"
#include "container.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_EVENT 64

/* A connection accepted into the reserve: reset it. A VIP one goes through
 * the session path for its overflow record (aggregated when it floods) and
 * the shim's verdict; a mesh-port one is only counted. */
static void refuse_reserved(struct ev_loop *loop, struct listener *l, int fd,
                            const struct sockaddr_storage *peer)
{
	char detail[160];
	snprintf(detail, sizeof detail,
	         "descriptor %d lies in the reserve (limit %u, the last "
	         "%u kept for reload and the control socket)",
	         fd, bounds_nofile(), bounds_reserve());
	unsigned long n = bounds_reserve_refused(ev_now(loop));
	if (n)
		log_warn(
			"refused %lu connection(s): descriptors in use reached the reserve "
			"(limit %u, %u kept for reload and the control socket), last on %s:%u; "
			"raise LimitNOFILE / ulimit -n, or lower max_connections_per_uid",
			n, bounds_nofile(), bounds_reserve(),
			l->kind == LISTEN_VIP ? l->service : "mesh port", l->port);
	if (l->kind == LISTEN_VIP) {
		outbound_refuse(l->m, l, fd, peer, RESULT_OVERFLOW, detail);
		return;
	}
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct listener *l = container_of(w, struct listener, io);
	static ev_tstamp last_warn;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		/* The peer's address comes with the accept (no getpeername). */
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		int fd =
			accept4(l->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/* Out of descriptors: the connection stays in the backlog
			 * and accept retries soon; the program sees a slow
			 * connect, not a refusal. */
			enum accept_next next = accept_failed(loop, &l->pause, &last_warn);
			if (next == ACCEPT_AGAIN)
				continue;
			if (next == ACCEPT_PAUSED_WARN)
				log_warn(
					"accept on %s:%u paused: %s (raise the file limit, "
					"ulimit -n)",
					l->kind == LISTEN_VIP ? l->service : "mesh port", l->port,
					strerror(errno));
			return;
		}
		if (!bounds_fd_ok(fd)) {
			refuse_reserved(loop, l, fd, &peer);
			continue;
		}
		if (l->kind == LISTEN_VIP)
			outbound_accept(l->m, l, fd, &peer);
		else
			inbound_accept(l->m, l, fd, &peer);
	}
}

static struct listener *listener_open(struct worker *m, enum listener_kind kind,
                                      const struct cfg_addr *a, char *err, size_t len)
{
	int fd = net_listen_free(a, kind == LISTEN_VIP && a->ss.ss_family == AF_INET6, err, len);
	if (fd == -1)
		return NULL;
	struct listener *l = calloc(1, sizeof *l);
	if (!l) {
		close(fd);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	l->fd = fd;
	l->kind = kind;
	l->addr = *a;
	l->m = m;
	ev_io_init(&l->io, accept_cb, fd, EV_READ);
	accept_pause_init(&l->pause, &l->io);
	ev_io_start(m->loop, &l->io);
	return l;
}

static void listener_free(struct worker *m, struct listener *l)
{
	ev_io_stop(m->loop, &l->io);
	ev_timer_stop(m->loop, &l->pause.timer);
	close(l->fd);
	free(l);
}

static bool same_addr(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static char *append_err(char *errs, const char *line)
{
	size_t old = errs ? strlen(errs) : 0, n = strlen(line);
	char *p = realloc(errs, old + n + 2);
	if (!p)
		return errs;
	memcpy(p + old, line, n);
	p[old + n] = '\n';
	p[old + n + 1] = '\0';
	return p;
}

/* ", held by uid U (pid P, inode I)" for the listener that has sin. Only
 * worker 0's failures are logged, so only worker 0 asks (a /proc scan). */
static void describe_holder(const struct sockaddr_in *sin, char *out, size_t len)
{
	struct listener_owner o;
	char err[128];
	int rc = peercred_listener_owner(sin->sin_addr.s_addr, ntohs(sin->sin_port), &o, err,
	                                 sizeof err);
	if (rc == 1 && o.pid)
		snprintf(out, len, ", held by uid %u (pid %d, inode %llu)", (unsigned)o.uid,
		         (int)o.pid, (unsigned long long)o.inode);
	else if (rc == 1)
		snprintf(out, len, ", held by uid %u (inode %llu, no visible process)",
		         (unsigned)o.uid, (unsigned long long)o.inode);
	else if (rc == 0)
		snprintf(out, len, " (no listener found: a connection or a bound socket holds it)");
	else
		snprintf(out, len, " (holder unknown: %.80s)", err);
}

/*
 * Bring the listeners in line with c. Binding failures are collected in
 * *err (one line each) but do not stop the others: the daemon serves what
 * it can and says what it could not. Returns the number of failures.
 */
int listener_sync(struct worker *m, const struct config *c, char **err)
{
	int failures = 0;
	char why[160], line[480], as[64];
	*err = NULL;

	for (struct listener *l = m->listeners; l; l = l->next)
		l->mark = false;
	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		bool has6 = c->vip6_on && !IN6_IS_ADDR_UNSPECIFIED(&s->vip6);
		for (unsigned q = 0; q < s->nports * (has6 ? 2u : 1u); q++) {
			unsigned p = q % s->nports;
			struct cfg_addr a = { 0 };
			struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
			if (q < s->nports) {
				sin->sin_family = AF_INET;
				sin->sin_addr = s->vip;
				sin->sin_port = htons(s->ports[p]);
				a.len = sizeof *sin;
			} else {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;
				sin6->sin6_family = AF_INET6;
				sin6->sin6_addr = s->vip6;
				sin6->sin6_port = htons(s->ports[p]);
				a.len = sizeof *sin6;
			}
			struct listener *l;
			for (l = m->listeners; l; l = l->next)
				if (!l->mark && same_addr(&l->addr, &a))
					break;
			if (!l) {
				l = listener_open(m, LISTEN_VIP, &a, why, sizeof why);
				if (!l) {
					int e = errno;
					char holder[128] = "";
					if (e == EADDRINUSE && m->index == 0 &&
					    a.ss.ss_family == AF_INET)
						describe_holder(sin, holder, sizeof holder);
					snprintf(
						line, sizeof line,
						"service %s: cannot listen on %s: %s%s; not published",
						s->name, net_addr_str(&a, as, sizeof as), why,
						holder);
					*err = append_err(*err, line);
					failures++;
					continue;
				}
				l->next = m->listeners;
				m->listeners = l;
			}
			l->mark = true;
			snprintf(l->service, sizeof l->service, "%s", s->name);
			l->port = s->ports[p];
		}
	}
	for (struct listener **pp = &m->listeners; *pp;) {
		struct listener *l = *pp;
		if (l->mark) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		listener_free(m, l);
	}

	if (m->inbound && (!c->inbound_on || !same_addr(&m->inbound->addr, &c->inbound))) {
		listener_free(m, m->inbound);
		m->inbound = NULL;
	}
	if (c->inbound_on && !m->inbound) {
		m->inbound = listener_open(m, LISTEN_INBOUND, &c->inbound, why, sizeof why);
		if (!m->inbound) {
			snprintf(line, sizeof line, "mesh port: cannot listen on %s: %s",
			         net_addr_str(&c->inbound, as, sizeof as), why);
			*err = append_err(*err, line);
			failures++;
		} else {
			m->inbound->port = ntohs(((struct sockaddr_in *)&c->inbound.ss)->sin_port);
		}
	}
	return failures;
}

bool listener_held(const struct worker *m, struct in_addr vip, uint16_t port)
{
	for (const struct listener *l = m->listeners; l; l = l->next) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr.ss;
		if (l->addr.ss.ss_family == AF_INET && sin->sin_addr.s_addr == vip.s_addr &&
		    ntohs(sin->sin_port) == port)
			return true;
	}
	return false;
}

bool listener_held6(const struct worker *m, const struct in6_addr *vip6, uint16_t port)
{
	for (const struct listener *l = m->listeners; l; l = l->next) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr.ss;
		if (l->addr.ss.ss_family == AF_INET6 &&
		    memcmp(&sin6->sin6_addr, vip6, sizeof *vip6) == 0 &&
		    ntohs(sin6->sin6_port) == port)
			return true;
	}
	return false;
}

bool listener_service_held(const struct worker *m, const struct cfg_service *s)
{
	bool has6 = !IN6_IS_ADDR_UNSPECIFIED(&s->vip6);
	for (unsigned p = 0; p < s->nports; p++)
		if (!listener_held(m, s->vip, s->ports[p]) ||
		    (has6 && !listener_held6(m, &s->vip6, s->ports[p])))
			return false;
	return true;
}

void listener_close_all(struct worker *m)
{
	while (m->listeners) {
		struct listener *l = m->listeners;
		m->listeners = l->next;
		listener_free(m, l);
	}
	if (m->inbound) {
		listener_free(m, m->inbound);
		m->inbound = NULL;
	}
}
