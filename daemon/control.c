/*
 * The shim's control channel: a unix stream socket (path in the route
 * snapshot) over which libmesh.so asks for the verdict on a connection it
 * made to a VIP, so that connect() can fail the way a direct connection
 * would (ECONNREFUSED, ETIMEDOUT) instead of succeeding against meshd and
 * breaking later. The kernel tells us who is asking (SO_PEERCRED), and
 * /proc/PID/comm names the program for the traffic record.
 *
 * Text lines, one per message:
 *   shim -> meshd   W <client ip:port> <vip:port>
 *   meshd -> shim   V <client ip:port> <vip:port> <result>
 * result is a traffic-record result: ok, refused, timeout, reset, denied,
 * no_endpoint, tls_failure, identity_error; or unknown when meshd never saw
 * the connection (WATCH_TTL after the question).
 *
 * The question can arrive before meshd accepted the connection or after it
 * already has its verdict: pending questions wait in a table keyed by the
 * connection's 4-tuple, and recent verdicts are kept in a ring for late
 * questions. A verdict is only told to a process of the caller's own uid
 * (or root).
 */
#include "mesh.h"
#include "hash.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))
#define WATCH_BUCKETS 256
#define RECENT 1024
#define WATCH_TTL 120.0
#define TUPLE_MAX 136

struct ctl_conn {
	ev_io            io;
	int              fd;
	uint32_t         pid;
	uint32_t         uid;
	char             program[PROTO_NAME_MAX + 1];
	char             rbuf[512];
	unsigned         rlen;
	unsigned         watches;      /* pending watches pointing here */
	bool             dead;
	struct control  *ctl;
};

struct watch {
	struct watch    *next;
	struct ctl_conn *conn;
	ev_tstamp        since;
	char             tuple[TUPLE_MAX];
};

struct recent {
	char             tuple[TUPLE_MAX];
	const char      *result;
	uint32_t         uid;
};

struct control {
	ev_io            io;
	int              fd;
	char            *path;
	struct ev_loop  *loop;         /* the main thread's */
	/* Workers report verdicts from their own threads: the tables below,
	 * and every ctl_conn's fd/dead/watches, are under this lock. */
	pthread_mutex_t  lock;
	struct watch    *bucket[WATCH_BUCKETS];
	struct recent    recent[RECENT];
	struct session  *live[WATCH_BUCKETS];  /* outbound sessions by tuple */
	unsigned         recent_next;
	ev_timer         sweep;
};

static unsigned tuple_hash(const char *t)
{
	return hash_fnv1a(t) % WATCH_BUCKETS;
}

static void conn_release(struct ctl_conn *c)
{
	if (c->dead && c->watches == 0)
		free(c);
}

static void conn_close(struct control *ctl, struct ctl_conn *c)
{
	ev_io_stop(ctl->loop, &c->io);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	conn_release(c);
}

static void reply(struct ctl_conn *c, const char *tuple, const char *result)
{
	if (c->dead)
		return;
	char line[TUPLE_MAX + 48];
	int n = snprintf(line, sizeof line, "V %s %s\n", tuple, result);
	/* Replies are tiny and the shim reads them promptly; a full socket
	 * buffer means a stuck reader, which loses its answer (it fails open). */
	ssize_t w = send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
}

static bool may_know(const struct ctl_conn *c, uint32_t uid)
{
	return c->uid == 0 || uid == PROTO_UID_UNKNOWN || c->uid == uid;
}

void control_verdict(struct session *s, const char *result)
{
	struct control *ctl = s->m->ctl;
	if (!ctl || s->verdict_told || !s->tuple[0])
		return;
	s->verdict_told = true;
	pthread_mutex_lock(&ctl->lock);
	s->ctl_verdict = result;
	unsigned b = tuple_hash(s->tuple);
	bool told = false;
	for (struct watch **pp = &ctl->bucket[b]; *pp;) {
		struct watch *w = *pp;
		if (strcmp(w->tuple, s->tuple) != 0) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (may_know(w->conn, s->uid)) {
			reply(w->conn, w->tuple, result);
			s->ctl_pid = w->conn->pid;
			memcpy(s->ctl_program, w->conn->program, sizeof s->ctl_program);
			told = true;
		} else {
			reply(w->conn, w->tuple, "unknown");
		}
		w->conn->watches--;
		conn_release(w->conn);
		free(w);
	}
	if (!told) {
		struct recent *r = &ctl->recent[ctl->recent_next++ % RECENT];
		snprintf(r->tuple, sizeof r->tuple, "%s", s->tuple);
		r->result = result;
		r->uid = s->uid;
	}
	pthread_mutex_unlock(&ctl->lock);
}

static struct session *live_find(struct control *ctl, const char *tuple)
{
	for (struct session *s = ctl->live[tuple_hash(tuple)]; s; s = s->ctl_next)
		if (strcmp(s->tuple, tuple) == 0)
			return s;
	return NULL;
}

void control_track(struct session *s)
{
	struct control *ctl = s->m->ctl;
	if (!ctl || !s->tuple[0])
		return;
	pthread_mutex_lock(&ctl->lock);
	unsigned b = tuple_hash(s->tuple);
	s->ctl_next = ctl->live[b];
	ctl->live[b] = s;
	s->ctl_listed = true;
	pthread_mutex_unlock(&ctl->lock);
}

void control_untrack(struct session *s)
{
	struct control *ctl = s->m->ctl;
	if (!ctl || !s->ctl_listed)
		return;
	pthread_mutex_lock(&ctl->lock);
	for (struct session **pp = &ctl->live[tuple_hash(s->tuple)]; *pp; pp = &(*pp)->ctl_next) {
		if (*pp == s) {
			*pp = s->ctl_next;
			break;
		}
	}
	s->ctl_listed = false;
	if (!s->pid && s->ctl_pid) {
		s->pid = s->ctl_pid;
		memcpy(s->program, s->ctl_program, sizeof s->program);
	}
	pthread_mutex_unlock(&ctl->lock);
}

static void handle_watch(struct control *ctl, struct ctl_conn *c, const char *tuple)
{
	/* A live connection: learn the caller, answer at once if its verdict
	 * is already known (a stream on an open link can be faster than the question). */
	struct session *live = live_find(ctl, tuple);
	if (live && may_know(c, live->uid)) {
		live->ctl_pid = c->pid;
		memcpy(live->ctl_program, c->program, sizeof live->ctl_program);
		if (live->ctl_verdict) {
			reply(c, tuple, live->ctl_verdict);
			return;
		}
	}
	for (unsigned i = 0; i < RECENT; i++) {
		struct recent *r = &ctl->recent[i];
		if (r->result && strcmp(r->tuple, tuple) == 0) {
			reply(c, tuple, may_know(c, r->uid) ? r->result : "unknown");
			r->result = NULL;
			return;
		}
	}
	struct watch *w = calloc(1, sizeof *w);
	if (!w) {
		reply(c, tuple, "unknown");
		return;
	}
	snprintf(w->tuple, sizeof w->tuple, "%s", tuple);
	w->conn = c;
	w->since = ev_now(ctl->loop);
	unsigned b = tuple_hash(tuple);
	w->next = ctl->bucket[b];
	ctl->bucket[b] = w;
	c->watches++;
}

static void handle_line(struct control *ctl, struct ctl_conn *c, char *line)
{
	char client[TUPLE_MAX / 2], vip[TUPLE_MAX / 2];
	if (sscanf(line, "W %55s %55s", client, vip) != 2) {
		log_debug("control: pid %u sent a malformed line", c->pid);
		return;
	}
	char tuple[TUPLE_MAX];
	snprintf(tuple, sizeof tuple, "%s %s", client, vip);
	pthread_mutex_lock(&ctl->lock);
	handle_watch(ctl, c, tuple);
	pthread_mutex_unlock(&ctl->lock);
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ctl_conn *c = container_of(w, struct ctl_conn, io);
	struct control *ctl = c->ctl;
	for (;;) {
		ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - 1 - c->rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			pthread_mutex_lock(&ctl->lock);
			conn_close(ctl, c);
			pthread_mutex_unlock(&ctl->lock);
			return;
		}
		c->rlen += (unsigned)n;
		c->rbuf[c->rlen] = '\0';
		char *start = c->rbuf, *nl;
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			handle_line(ctl, c, start);
			start = nl + 1;
		}
		c->rlen -= (unsigned)(start - c->rbuf);
		memmove(c->rbuf, start, c->rlen);
		if (c->rlen == sizeof c->rbuf - 1) {
			pthread_mutex_lock(&ctl->lock);
			conn_close(ctl, c); /* a line this long is not ours */
			pthread_mutex_unlock(&ctl->lock);
			return;
		}
	}
}

static void read_comm(uint32_t pid, char *out, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%u/comm", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	out[0] = '\0';
	if (fd == -1)
		return;
	ssize_t n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0)
		return;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct control *ctl = container_of(w, struct control, io);
	for (;;) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return; /* EAGAIN, or out of files: the shim fails open */
		struct ucred cred;
		socklen_t cl = sizeof cred;
		struct ctl_conn *c = calloc(1, sizeof *c);
		if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == -1) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pid = (uint32_t)cred.pid;
		c->uid = (uint32_t)cred.uid;
		c->ctl = ctl;
		read_comm(c->pid, c->program, sizeof c->program);
		ev_io_init(&c->io, conn_cb, fd, EV_READ);
		ev_io_start(loop, &c->io);
	}
}

/* Questions nobody answered (meshd never saw the connection) expire. */
static void sweep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct control *ctl = container_of(t, struct control, sweep);
	ev_tstamp now = ev_now(loop);
	pthread_mutex_lock(&ctl->lock);
	for (unsigned b = 0; b < WATCH_BUCKETS; b++) {
		for (struct watch **pp = &ctl->bucket[b]; *pp;) {
			struct watch *w = *pp;
			if (now - w->since < WATCH_TTL && !w->conn->dead) {
				pp = &w->next;
				continue;
			}
			*pp = w->next;
			reply(w->conn, w->tuple, "unknown");
			w->conn->watches--;
			conn_release(w->conn);
			free(w);
		}
	}
	pthread_mutex_unlock(&ctl->lock);
}

struct control *control_open(struct ev_loop *loop, const char *path, char *err, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, len, "control socket path too long: %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, len, "socket: %s", strerror(errno));
		return NULL;
	}
	unlink(path); /* a stale socket from a previous run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 || listen(fd, 512) == -1) {
		snprintf(err, len, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	/* Every local program may ask; answers are limited to its own uid. */
	chmod(path, 0666);
	struct control *ctl = calloc(1, sizeof *ctl);
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		close(fd);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	ctl->fd = fd;
	ctl->loop = loop;
	pthread_mutex_init(&ctl->lock, NULL);
	ev_io_init(&ctl->io, accept_cb, fd, EV_READ);
	ev_io_start(loop, &ctl->io);
	ev_timer_init(&ctl->sweep, sweep_cb, 10., 10.);
	ev_timer_start(loop, &ctl->sweep);
	return ctl;
}

const char *control_path(const struct control *ctl)
{
	return ctl ? ctl->path : NULL;
}

/* Called after every worker has stopped. */
void control_close(struct control *ctl)
{
	if (!ctl)
		return;
	ev_io_stop(ctl->loop, &ctl->io);
	ev_timer_stop(ctl->loop, &ctl->sweep);
	close(ctl->fd);
	unlink(ctl->path);
	for (unsigned b = 0; b < WATCH_BUCKETS; b++) {
		while (ctl->bucket[b]) {
			struct watch *w = ctl->bucket[b];
			ctl->bucket[b] = w->next;
			reply(w->conn, w->tuple, "unknown");
			w->conn->watches--;
			conn_release(w->conn);
			free(w);
		}
	}
	/* Live shim connections are left to close with the process. */
	pthread_mutex_destroy(&ctl->lock);
	free(ctl->path);
	free(ctl);
}
