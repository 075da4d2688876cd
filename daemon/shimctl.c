/*
 * The shim's control channel: a unix stream socket (path in the route
 * snapshot, mode 0666) over which libmesh.so asks for the verdict on a
 * connection it made to a VIP, so that connect() can fail the way a direct
 * connection would (ECONNREFUSED, ETIMEDOUT) instead of succeeding against
 * meshd and breaking later. The kernel tells us who is asking (SO_PEERCRED),
 * and /proc/PID/comm names the program for the traffic record.
 *
 * Text lines, one per message (shim/ctlproto.h: the codec both sides use):
 *   shim -> meshd   W <client ip:port> <vip:port> <inode>
 *   meshd -> shim   V <client ip:port> <vip:port> <inode> <result>
 * inode is the inode of the shim's socket (fstat st_ino), which is what
 * sock_diag reports for it too (idiag_inode, struct caller.inode): a client
 * may reuse a 4-tuple within seconds (a fixed local port), so a question
 * matches a connection on its tuple AND inode, and an answer is only ever
 * about the socket that asked. A connection whose inode meshd could not
 * learn (the caller lookup failed: its verdict is a refusal anyway) matches
 * on the tuple alone. result is a result word (daemon/result.h): a
 * traffic-record result, or one of the two words for the shim only:
 *   unknown  <vip> is a configured service's VIP but meshd holds no
 *            listener on <vip:port> (another process bound it, or the port
 *            is not the service's): meshd cannot have accepted the
 *            connection, whoever did is not meshd. Answered at once; the
 *            shim refuses the connection.
 *   none     meshd has no verdict to give: no connection matched within
 *            the wait (ttl, below), it is another uid's, or <vip> is no
 *            service's VIP (answered at once: an address in the VIP range
 *            that meshd never handed out is not meshd's to judge). The
 *            shim lets the connection stand, as when no answer comes.
 *
 * The question can arrive before meshd accepted the connection or after it
 * already has its verdict: pending questions wait in a table keyed by the
 * 4-tuple's text ("client vip:port", the session's s->tuple: ctlproto
 * accepts one spelling of each field, the one net_sockaddr_str writes, so
 * a question's own bytes are that text), and recent verdicts are kept in a
 * ring (hashed the same way) for late questions. A verdict is only told to
 * a process of the caller's own uid (or root).
 *
 * Anyone may connect, so everything a connection can make meshd hold is
 * bounded (README "Security model"):
 *   connections per uid      max_control_per_uid; a new one beyond it, or
 *                            one whose descriptor lies in the reserve, is
 *                            closed at once (that process's shim fails open)
 *   accept                   paused briefly when descriptors run short (accept.c)
 *   pending questions        max_pending_per_control per connection and
 *                            max_pending_per_uid per uid; the connection that
 *                            goes beyond either is closed with its questions
 *   their lifetime           ttl: the longest the shim waits (the largest
 *                            verdict_ms of the config, at most 30 s) + 2 s
 *   work per read callback   one read of at most RBUF bytes (a few dozen
 *                            lines); the rest waits in the kernel's buffer,
 *                            so one busy connection cannot starve the loop
 *   a line                   longer than RBUF: the connection is closed
 *   table buckets            keyed by a per-process random seed, so chosen
 *                            tuples cannot pile into one chain
 * Complaints are logged at most once per uid every 10 s.
 *
 * Threads: accept, reads, the sweep and shimctl_configure run on the main
 * thread (worker 0's loop); shimctl_verdict/track/untrack run on every
 * worker. The watch, live and recent tables and every connection's watch
 * list are under `lock`; the connection list, the held set and the limits
 * are the main thread's alone.
 */
#include "gen.h"
#include "worker.h"
#include "listener.h"
#include "session.h"
#include "shimctl.h"
#include "heldset.h"
#include "snapshot_pub.h"
#include "bounds.h"
#include "accept.h"
#include "ctlproto.h"
#include "proto.h"
#include "log.h"
#include "container.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 4096
#define RECENT 1024
#define TUPLE_MAX (2 * CTLPROTO_HOSTPORT_MAX) /* two [v6]:port and a space */
#define RBUF 1024
#define ACCEPTS_PER_EVENT 64
#define TTL_DEFAULT 32.0 /* until shimctl_configure */
#define TTL_MARGIN 2.0
#define TTL_WAIT_MAX 30.0 /* the shim's own upper bound */
#define WARN_EVERY 10.0
#define WARN_SLOTS 16

struct watch;

struct ctl_conn {
	ev_io io;
	int fd;
	uint32_t pid;
	uint32_t uid;
	char program[PROTO_NAME_MAX + 1];
	char rbuf[RBUF];
	unsigned rlen;
	unsigned npending;
	struct watch *first, *last;   /* its pending questions, oldest first */
	struct ctl_conn *prev, *next; /* ctl->conns (main thread) */
	struct shimctl *ctl;
};

struct watch {
	struct watch *bnext;         /* bucket chain */
	struct watch *cprev, *cnext; /* the connection's list */
	struct ctl_conn *conn;
	ev_tstamp since;
	struct ctlproto_tuple q; /* the question, inode included */
	unsigned bucket;
	char tuple[TUPLE_MAX]; /* its key text */
};

struct recent {
	char tuple[TUPLE_MAX];
	uint64_t inode;     /* 0: the caller's inode was not learnt */
	enum result result; /* RESULT_UNSET: empty */
	uint32_t uid;
	int bnext; /* next entry in its bucket, -1 */
	unsigned bucket;
};

struct warned {
	uint32_t uid;
	ev_tstamp at;
	unsigned quiet; /* events not logged since `at` */
	bool used;
};

struct shimctl {
	ev_io io;
	struct accept_pause pause;
	ev_tstamp pause_warned; /* its warnings and the reserve's */
	int fd;
	char *path;
	struct ev_loop *loop; /* the main thread's */
	uint32_t seed;
	pthread_mutex_t lock;
	struct watch *bucket[BUCKETS];
	int rbucket[BUCKETS];
	struct recent recent[RECENT];
	unsigned recent_next;
	struct session *live[BUCKETS]; /* outbound sessions by tuple */
	ev_timer sweep;
	/* main thread only */
	struct ctl_conn *conns;
	const struct worker *w0;
	struct heldset held; /* the VIP:ports worker 0 listens on */
	struct heldset vips; /* the services' VIPs and VIP6s (port 0) */
	bool held_known;
	double ttl;
	unsigned max_conns_uid, max_pending_conn, max_pending_uid;
	struct warned warned[WARN_SLOTS];
};

/* Control connections and pending questions per uid (all under `lock` or
 * the main thread; the quota's own mutex is then uncontended). */
static struct quota quota_ctl_conns = QUOTA_INIT("uid");
static struct quota quota_ctl_pending = QUOTA_INIT("uid");

static unsigned tuple_hash(const struct shimctl *ctl, const char *t)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 4; i++)
		h = (h ^ ((ctl->seed >> (8 * i)) & 0xff)) * 16777619u;
	for (; *t; t++)
		h = (h ^ (unsigned char)*t) * 16777619u;
	return h % BUCKETS;
}

/* ---- questions and answers (ctlproto) ---------------------------------- */

/* A question line (without its '\n'): the parsed question and its key text
 * (the bytes between "W " and the inode: one spelling, so they are what
 * net_sockaddr_str wrote into the session's tuple). 0, or -1. */
static int question_parse(const char *line, size_t len, struct ctlproto_tuple *q,
                          char tuple[TUPLE_MAX])
{
	if (ctlproto_parse_question(line, len, q) == -1)
		return -1;
	const char *sp = memrchr(line, ' ', len);
	size_t n = (size_t)(sp - line) - 2;
	if (n >= TUPLE_MAX)
		return -1; /* cannot happen: two host:ports of at most CTLPROTO_HOSTPORT_MAX */
	memcpy(tuple, line + 2, n);
	tuple[n] = '\0';
	return 0;
}

static void reply(struct ctl_conn *c, const struct ctlproto_tuple *q, enum result result)
{
	char line[CTLPROTO_LINE_MAX];
	size_t n = ctlproto_format_answer(line, sizeof line, q, result_word(result));
	if (n == 0)
		return; /* not a result word: no answer, the shim fails open */
	/* Replies are tiny and the shim reads them promptly; a full socket
	 * buffer means a stuck reader, which loses its answer (it fails open)
	 * and costs us nothing. */
	ssize_t w = send(c->fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
}

/* ---- tables (under lock) ----------------------------------------------- */

static bool may_know(const struct ctl_conn *c, uint32_t uid)
{
	return c->uid == 0 || uid == PROTO_UID_UNKNOWN || c->uid == uid;
}

static void watch_free(struct shimctl *ctl, struct watch *w)
{
	for (struct watch **pp = &ctl->bucket[w->bucket]; *pp; pp = &(*pp)->bnext)
		if (*pp == w) {
			*pp = w->bnext;
			break;
		}
	struct ctl_conn *c = w->conn;
	if (w->cprev)
		w->cprev->cnext = w->cnext;
	else
		c->first = w->cnext;
	if (w->cnext)
		w->cnext->cprev = w->cprev;
	else
		c->last = w->cprev;
	c->npending--;
	quota_give(&quota_ctl_pending, c->uid);
	free(w);
}

static void recent_unlink(struct shimctl *ctl, int i)
{
	struct recent *r = &ctl->recent[i];
	for (int *pp = &ctl->rbucket[r->bucket]; *pp != -1; pp = &ctl->recent[*pp].bnext)
		if (*pp == i) {
			*pp = r->bnext;
			break;
		}
	r->result = RESULT_UNSET;
}

static void recent_put(struct shimctl *ctl, const char *tuple, uint64_t inode, enum result result,
                       uint32_t uid)
{
	size_t n = strlen(tuple);
	if (n >= TUPLE_MAX)
		return; /* longer than any question can be: none names it */
	int i = (int)(ctl->recent_next++ % RECENT);
	struct recent *r = &ctl->recent[i];
	if (r->result != RESULT_UNSET)
		recent_unlink(ctl, i);
	memcpy(r->tuple, tuple, n + 1);
	r->inode = inode;
	r->result = result;
	r->uid = uid;
	r->bucket = tuple_hash(ctl, r->tuple);
	r->bnext = ctl->rbucket[r->bucket];
	ctl->rbucket[r->bucket] = i;
}

/* The recent verdict for (tuple, inode), or -1. */
static int recent_find(struct shimctl *ctl, const char *tuple, uint64_t inode)
{
	for (int i = ctl->rbucket[tuple_hash(ctl, tuple)]; i != -1; i = ctl->recent[i].bnext) {
		const struct recent *r = &ctl->recent[i];
		if ((r->inode == 0 || r->inode == inode) && strcmp(r->tuple, tuple) == 0)
			return i;
	}
	return -1;
}

void shimctl_verdict(struct session *s, enum result result)
{
	struct shimctl *ctl = s->m->ctl;
	if (!ctl || s->verdict_told || !s->tuple[0])
		return;
	s->verdict_told = true;
	pthread_mutex_lock(&ctl->lock);
	/* Written under the lock, after caller_inode and uid: a reader that
	 * sees the verdict (live_find) sees them too. */
	s->ctl_verdict = result;
	bool told = false;
	for (struct watch *w = ctl->bucket[tuple_hash(ctl, s->tuple)], *next; w; w = next) {
		next = w->bnext;
		if (strcmp(w->tuple, s->tuple) != 0 ||
		    (s->caller_inode && w->q.inode != s->caller_inode))
			continue;
		if (may_know(w->conn, s->uid)) {
			reply(w->conn, &w->q, result);
			s->ctl_pid = w->conn->pid;
			memcpy(s->ctl_program, w->conn->program, sizeof s->ctl_program);
			/* This worker's own fields (it is the one calling): the
			 * records written while the connection is open (open,
			 * progress) name the caller too. A question that comes
			 * later is the main thread's, and waits for untrack. */
			s->pid = s->ctl_pid;
			memcpy(s->program, s->ctl_program, sizeof s->program);
			told = true;
		} else {
			reply(w->conn, &w->q, RESULT_NONE);
		}
		watch_free(ctl, w);
	}
	if (!told)
		recent_put(ctl, s->tuple, s->caller_inode, result, s->uid);
	pthread_mutex_unlock(&ctl->lock);
}

/* A live session for (tuple, inode) whose verdict is known. Sessions without
 * a verdict are not looked at: their inode and uid are still being written
 * by their worker, and their verdict will find the question's watch. */
static struct session *live_find(struct shimctl *ctl, const char *tuple, uint64_t inode)
{
	for (struct session *s = ctl->live[tuple_hash(ctl, tuple)]; s; s = s->ctl_next)
		if (s->ctl_verdict && (s->caller_inode == 0 || s->caller_inode == inode) &&
		    strcmp(s->tuple, tuple) == 0)
			return s;
	return NULL;
}

void shimctl_track(struct session *s)
{
	struct shimctl *ctl = s->m->ctl;
	if (!ctl || !s->tuple[0])
		return;
	pthread_mutex_lock(&ctl->lock);
	unsigned b = tuple_hash(ctl, s->tuple);
	s->ctl_next = ctl->live[b];
	ctl->live[b] = s;
	s->ctl_listed = true;
	pthread_mutex_unlock(&ctl->lock);
}

void shimctl_untrack(struct session *s)
{
	struct shimctl *ctl = s->m->ctl;
	if (!ctl || !s->ctl_listed)
		return;
	pthread_mutex_lock(&ctl->lock);
	for (struct session **pp = &ctl->live[tuple_hash(ctl, s->tuple)]; *pp;
	     pp = &(*pp)->ctl_next) {
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

void shimctl_caller(struct session *s, uint32_t *pid, char *program, size_t len)
{
	struct shimctl *ctl = s->m->ctl;
	*pid = s->pid;
	snprintf(program, len, "%s", s->program);
	if (*pid || !ctl || !s->ctl_listed)
		return;
	pthread_mutex_lock(&ctl->lock);
	*pid = s->ctl_pid;
	snprintf(program, len, "%.*s", (int)sizeof s->ctl_program, s->ctl_program);
	pthread_mutex_unlock(&ctl->lock);
}

/* ---- questions (main thread) ------------------------------------------- */

enum q_outcome { Q_DONE, Q_OVER_CONN, Q_OVER_UID };

/* Under lock. Answer now if we can, else file the question q (tuple: its
 * key text). */
static enum q_outcome handle_question(struct shimctl *ctl, struct ctl_conn *c,
                                      const struct ctlproto_tuple *q, const char *tuple)
{
	uint64_t inode = q->inode;
	/* A live connection with its verdict in: the question came late (a
	 * stream on an open link can be faster than the question). */
	struct session *live = live_find(ctl, tuple, inode);
	if (live) {
		if (!may_know(c, live->uid)) {
			reply(c, q, RESULT_NONE);
			return Q_DONE;
		}
		live->ctl_pid = c->pid;
		memcpy(live->ctl_program, c->program, sizeof live->ctl_program);
		reply(c, q, live->ctl_verdict);
		/* Its verdict went to the ring too: it is answered now. */
		int i = recent_find(ctl, tuple, inode);
		if (i != -1)
			recent_unlink(ctl, i);
		return Q_DONE;
	}
	int i = recent_find(ctl, tuple, inode);
	if (i != -1) {
		if (may_know(c, ctl->recent[i].uid)) {
			reply(c, q, ctl->recent[i].result);
			recent_unlink(ctl, i);
		} else {
			reply(c, q, RESULT_NONE);
		}
		return Q_DONE;
	}
	/* Whoever accepted a connection to a VIP:port we do not listen on, it
	 * was not meshd. While draining, listeners close worker by worker,
	 * so a question may be about a connection another worker took. */
	const void *va = q->v6 ? (const void *)q->vaddr6 : &q->vaddr;
	if (ctl->held_known && !(ctl->w0 && ctl->w0->draining) &&
	    !heldset_has(&ctl->held, q->v6, va, ntohs(q->vport))) {
		bool ours = heldset_has(&ctl->vips, q->v6, va, 0);
		reply(c, q, ours ? RESULT_UNKNOWN : RESULT_NONE);
		return Q_DONE;
	}
	if (ctl->max_pending_conn && c->npending >= ctl->max_pending_conn)
		return Q_OVER_CONN;
	if (!quota_take(&quota_ctl_pending, c->uid, ctl->max_pending_uid))
		return Q_OVER_UID;
	struct watch *w = calloc(1, sizeof *w);
	if (!w) {
		quota_give(&quota_ctl_pending, c->uid);
		reply(c, q, RESULT_NONE);
		return Q_DONE;
	}
	snprintf(w->tuple, sizeof w->tuple, "%s", tuple);
	w->q = *q;
	w->conn = c;
	w->since = ev_now(ctl->loop);
	w->bucket = tuple_hash(ctl, w->tuple);
	w->bnext = ctl->bucket[w->bucket];
	ctl->bucket[w->bucket] = w;
	w->cprev = c->last;
	if (c->last)
		c->last->cnext = w;
	else
		c->first = w;
	c->last = w;
	c->npending++;
	return Q_DONE;
}

/* Log about uid at most once per WARN_EVERY (main thread). */
static bool warn_due(struct shimctl *ctl, uint32_t uid, unsigned *quiet)
{
	ev_tstamp now = ev_now(ctl->loop);
	struct warned *slot = NULL, *oldest = &ctl->warned[0];
	for (unsigned i = 0; i < WARN_SLOTS; i++) {
		struct warned *w = &ctl->warned[i];
		if (w->used && w->uid == uid) {
			slot = w;
			break;
		}
		if (!w->used || w->at < oldest->at)
			oldest = w;
	}
	if (slot && now - slot->at < WARN_EVERY) {
		slot->quiet++;
		return false;
	}
	if (!slot) {
		slot = oldest;
		slot->quiet = 0;
	}
	*quiet = slot->quiet;
	slot->used = true;
	slot->uid = uid;
	slot->at = now;
	slot->quiet = 0;
	return true;
}

/* Close c and drop its questions; under lock (shimctl_verdict may be
 * replying on it). Frees c: the caller returns at once. */
static void conn_close(struct shimctl *ctl, struct ctl_conn *c)
{
	while (c->first)
		watch_free(ctl, c->first);
	ev_io_stop(ctl->loop, &c->io);
	close(c->fd);
	quota_give(&quota_ctl_conns, c->uid);
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static void conn_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	struct ctl_conn *c = container_of(io, struct ctl_conn, io);
	struct shimctl *ctl = c->ctl;
	/* One read per callback: whatever else is waiting stays in the
	 * kernel's buffer and the level-triggered watcher comes back to it
	 * after the loop has served everyone else. */
	ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - 1 - c->rlen);
	if (n == -1 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		pthread_mutex_lock(&ctl->lock);
		conn_close(ctl, c);
		pthread_mutex_unlock(&ctl->lock);
		return;
	}
	c->rlen += (unsigned)n;
	enum q_outcome out = Q_DONE;
	unsigned bad = 0;
	char *start = c->rbuf, *end = c->rbuf + c->rlen, *nl;
	pthread_mutex_lock(&ctl->lock);
	while (out == Q_DONE && (nl = memchr(start, '\n', (size_t)(end - start)))) {
		struct ctlproto_tuple q;
		char tuple[TUPLE_MAX];
		if (question_parse(start, (size_t)(nl - start), &q, tuple) == 0)
			out = handle_question(ctl, c, &q, tuple);
		else
			bad++;
		start = nl + 1;
	}
	bool too_long = out == Q_DONE && start == c->rbuf && c->rlen == sizeof c->rbuf - 1;
	uint32_t uid = c->uid, pid = c->pid;
	unsigned npending = c->npending;
	if (out != Q_DONE || too_long) {
		conn_close(ctl, c);
		c = NULL;
	}
	pthread_mutex_unlock(&ctl->lock);
	if (bad)
		log_debug("control: pid %u sent %u malformed line(s)", pid, bad);
	unsigned quiet;
	if (!c && warn_due(ctl, uid, &quiet)) {
		if (out == Q_OVER_CONN)
			log_warn(
				"control: pid %u (uid %u) has %u unanswered questions on one "
				"connection (max_pending_per_control); closed it (%u more since)",
				pid, uid, npending, quiet);
		else if (out == Q_OVER_UID)
			log_warn(
				"control: uid %u has %u unanswered questions (max_pending_per_uid); "
				"closed the connection of pid %u (%u more since)",
				uid, quota_count(&quota_ctl_pending, uid), pid, quiet);
		else
			log_warn(
				"control: pid %u (uid %u) sent a line of more than %u bytes; closed "
				"its connection (%u more since)",
				pid, uid, RBUF - 2, quiet);
	}
	if (!c)
		return;
	c->rlen = (unsigned)(end - start);
	memmove(c->rbuf, start, c->rlen);
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
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	proto_name_clean(out, strlen(out)); /* prctl(PR_SET_NAME) takes any byte */
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)revents;
	struct shimctl *ctl = container_of(io, struct shimctl, io);
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/* Short of descriptors, the connection stays in the backlog;
			 * the shim waiting on it fails open after its wait. */
			enum accept_next next =
				accept_failed(loop, &ctl->pause, &ctl->pause_warned);
			if (next == ACCEPT_AGAIN)
				continue;
			if (next == ACCEPT_PAUSED_WARN)
				log_warn(
					"control socket %s: accept paused: %s (raise the file "
					"limit, ulimit -n)",
					ctl->path, strerror(errno));
			return;
		}
		if (!bounds_fd_ok_control(fd)) {
			/* The second half of the reserve is for what must not fail
			 * (links, the log, reloads); the first half may serve
			 * the shims. Without a verdict the shim fails open. */
			close(fd);
			if (accept_warn_due(loop, &ctl->pause_warned))
				log_warn(
					"control socket %s: descriptors short (fd %d in the reserve); "
					"new shim connections are refused",
					ctl->path, fd);
			continue;
		}
		struct ucred cred;
		socklen_t cl = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == -1) {
			close(fd);
			continue;
		}
		if (!quota_take(&quota_ctl_conns, cred.uid, ctl->max_conns_uid)) {
			close(fd);
			unsigned quiet;
			if (warn_due(ctl, cred.uid, &quiet))
				log_warn(
					"control: uid %u has %u control connections "
					"(max_control_per_uid); closed a new one of pid %d (%u more since)",
					(unsigned)cred.uid, quota_count(&quota_ctl_conns, cred.uid),
					(int)cred.pid, quiet);
			continue;
		}
		struct ctl_conn *c = calloc(1, sizeof *c);
		if (!c) {
			quota_give(&quota_ctl_conns, cred.uid);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pid = (uint32_t)cred.pid;
		c->uid = (uint32_t)cred.uid;
		c->ctl = ctl;
		read_comm(c->pid, c->program, sizeof c->program);
		c->next = ctl->conns;
		if (ctl->conns)
			ctl->conns->prev = c;
		ctl->conns = c;
		ev_io_init(&c->io, conn_cb, fd, EV_READ);
		ev_io_start(loop, &c->io);
	}
}

/* Questions nobody answered within the ttl (meshd never saw a connection
 * of the asker's for them): RESULT_NONE, the shim has stopped waiting anyway. */
static void sweep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct shimctl *ctl = container_of(t, struct shimctl, sweep);
	ev_tstamp now = ev_now(loop);
	pthread_mutex_lock(&ctl->lock);
	for (struct ctl_conn *c = ctl->conns; c; c = c->next) {
		while (c->first && now - c->first->since >= ctl->ttl) {
			reply(c, &c->first->q, RESULT_NONE);
			watch_free(ctl, c->first);
		}
	}
	pthread_mutex_unlock(&ctl->lock);
}

void shimctl_configure(struct shimctl *ctl, const struct worker *w0)
{
	if (!ctl)
		return;
	const struct config *cfg = w0->gen->cfg;
	heldset_clear(&ctl->held);
	heldset_clear(&ctl->vips);
	int rc = 0;
	for (const struct listener *l = w0->listeners; l; l = l->next) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr.ss;
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr.ss;
		if (l->addr.ss.ss_family == AF_INET)
			rc |= heldset_add(&ctl->held, false, &sin->sin_addr, ntohs(sin->sin_port));
		else if (l->addr.ss.ss_family == AF_INET6)
			rc |= heldset_add(&ctl->held, true, &sin6->sin6_addr,
			                  ntohs(sin6->sin6_port));
	}
	for (unsigned i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];
		rc |= heldset_add(&ctl->vips, false, &s->vip, 0);
		if (!IN6_IS_ADDR_UNSPECIFIED(&s->vip6))
			rc |= heldset_add(&ctl->vips, true, &s->vip6, 0);
	}
	heldset_seal(&ctl->held);
	heldset_seal(&ctl->vips);
	/* Without the tables (out of memory) questions just wait, as before. */
	ctl->held_known = rc == 0;
	ctl->w0 = w0;
	unsigned longest = 0;
	for (unsigned i = 0; i < cfg->nservices; i++) {
		unsigned ms = snapshot_verdict_ms(&cfg->services[i]);
		if (ms > longest)
			longest = ms;
	}
	double wait = longest / 1000.0;
	ctl->ttl = (wait > TTL_WAIT_MAX ? TTL_WAIT_MAX : wait) + TTL_MARGIN;
	ctl->max_conns_uid = cfg->max_control_per_uid;
	ctl->max_pending_conn = cfg->max_pending_per_control;
	ctl->max_pending_uid = cfg->max_pending_per_uid;
}

struct shimctl *shimctl_open(struct ev_loop *loop, const char *path, char *err, size_t len)
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
	struct shimctl *ctl = calloc(1, sizeof *ctl);
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		close(fd);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	if (getrandom(&ctl->seed, sizeof ctl->seed, GRND_NONBLOCK) != sizeof ctl->seed)
		ctl->seed = (uint32_t)getpid() ^ (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)ctl;
	for (unsigned b = 0; b < BUCKETS; b++)
		ctl->rbucket[b] = -1;
	ctl->fd = fd;
	ctl->loop = loop;
	ctl->ttl = TTL_DEFAULT;
	ctl->max_conns_uid = 128;
	ctl->max_pending_conn = 1024;
	ctl->max_pending_uid = 8192;
	ctl->pause_warned = -WARN_EVERY;
	pthread_mutex_init(&ctl->lock, NULL);
	ev_io_init(&ctl->io, accept_cb, fd, EV_READ);
	ev_io_start(loop, &ctl->io);
	accept_pause_init(&ctl->pause, &ctl->io);
	ev_timer_init(&ctl->sweep, sweep_cb, 1., 1.);
	ev_timer_start(loop, &ctl->sweep);
	return ctl;
}

const char *shimctl_path(const struct shimctl *ctl)
{
	return ctl ? ctl->path : NULL;
}

/* Called after every worker has stopped. */
void shimctl_close(struct shimctl *ctl)
{
	if (!ctl)
		return;
	ev_io_stop(ctl->loop, &ctl->io);
	ev_timer_stop(ctl->loop, &ctl->pause.timer);
	ev_timer_stop(ctl->loop, &ctl->sweep);
	close(ctl->fd);
	unlink(ctl->path);
	pthread_mutex_lock(&ctl->lock);
	while (ctl->conns) {
		struct ctl_conn *c = ctl->conns;
		for (struct watch *w = c->first; w; w = w->cnext)
			reply(c, &w->q, RESULT_NONE);
		conn_close(ctl, c);
	}
	pthread_mutex_unlock(&ctl->lock);
	pthread_mutex_destroy(&ctl->lock);
	heldset_clear(&ctl->held);
	heldset_clear(&ctl->vips);
	free(ctl->path);
	free(ctl);
}
