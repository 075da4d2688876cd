/*
 * Faithful failure. A connection to a VIP always reaches meshd (it really
 * listens there), so without help a program whose service is down would
 * see its connect succeed and its first read fail with ECONNRESET. Here
 * the shim asks meshd how the upstream path ended and fails the way a
 * direct connection would have:
 *
 *   blocking connect      waits for the verdict (at most the wait below)
 *                         and returns -1 ECONNREFUSED or ETIMEDOUT, or 0
 *   non-blocking connect  returns what the kernel said (EINPROGRESS); then
 *                         getsockopt(SO_ERROR) waits for the verdict like
 *                         the blocking connect (the program asked for the
 *                         connect's result, which a direct connection
 *                         would only have once the far end answered), and
 *                         the first read/write/send/recv... after a failed
 *                         verdict fails with its errno; until the verdict is
 *                         in, I/O passes through, and an ECONNRESET (meshd
 *                         resets a connection it could not carry) becomes
 *                         the verdict's errno
 *
 * The wait: min(MESH_VERDICT_TIMEOUT if set, the service's verdict_ms from
 * the route snapshot (the longest meshd can take to judge it), 30 s),
 * counted from the connect. A VIP-range address no published service has
 * (a VIP whose service meshd left out because another process holds it)
 * is asked about too, waits at most UNPUBLISHED_MS (meshd answers those at
 * once: "unknown" for a service's VIP, "none" for an address that is no
 * VIP of meshd's), and its descriptor passes no I/O at all until the
 * answer is in: whoever accepted it may be that other process.
 *
 * Protocol (text lines over a unix stream socket; daemon/shimctl.c;
 * shim/ctlproto.c reads and writes them for both sides):
 *   shim -> meshd   W <client ip:port> <vip:port> <inode>
 *   meshd -> shim   V <client ip:port> <vip:port> <inode> <result>
 * inode is our socket's st_ino, which meshd also learns from the kernel for
 * the connection it accepted (sock_diag): a 4-tuple can be reused within
 * seconds, so answers are matched on tuple AND inode, never on the tuple
 * alone. ok and none (meshd has no verdict to give), no answer in time, or
 * no control connection at all, fail open: the connection stands. refused,
 * reset, denied, no_endpoint, tls_failure, identity_error, overflow and
 * unknown (a running meshd does not hold that VIP:port, so whatever
 * accepted the connection is not meshd) become ECONNREFUSED; timeout
 * ETIMEDOUT.
 *
 * Thread model: ONE control connection per process, not one per thread. A
 * descriptor connected in one thread is often read or polled in another (a
 * worker pool, an event loop), and meshd answers on the connection that
 * asked, so per-thread connections would strand answers; they would also
 * multiply descriptors in the program and connections in meshd. Everything
 * below and in ctlclient.c (the slot table, the control connection and the
 * reader) is guarded by one mutex `ctlclient_mu`, which is never held across
 * anything that blocks: a thread that must wait becomes the single reader
 * (`ctlclient_reading`) and polls the control socket WITHOUT the lock, in
 * slices of 100 ms; the others sleep on a condition variable. Whoever reads
 * a line files it in the table of pending verdicts (keyed by the tuple
 * meshd echoes back) and broadcasts, so every waiter finds its own answer
 * whichever thread read it. Non-blocking checks (the I/O hooks, iohooks.c)
 * take the lock, drain the socket with MSG_DONTWAIT unless a reader is
 * active, and never wait.
 *
 * Marking: the per-fd table (shim.h) holds `vmark` = pending slot + 1 for a
 * descriptor awaiting or holding a verdict, 0 otherwise. Every hook tests it
 * first; an unmarked descriptor costs that one load and branch, no syscall,
 * no lock, errno untouched. A slot is freed (and the mark cleared) as soon
 * as its verdict is ok/none, when a failure has been reported once, when
 * data arrives on the descriptor (meshd forwards bytes only after the whole
 * path is up, i.e. after "ok"), when the control connection goes away, and
 * when our wait times out.
 *
 * Stale marks: close() is not hooked, so a descriptor number may be closed
 * and reused while marked. Each slot records the socket's identity (st_dev,
 * st_ino of the sockfs inode, unique among live sockets) when it is marked,
 * and every slow path (before reporting a failure, before waiting, on each
 * non-blocking check) compares it with fstat() of the descriptor: a
 * different inode means the mark is stale and it is dropped. A connect on a
 * marked descriptor does the same check: the same socket means a repeated
 * connect (EALREADY/EISCONN polling), anything else clears the mark. Tuple
 * matching would not do here: once meshd has reset the connection the
 * kernel forgets the peer (ENOTCONN) and may release the local port.
 *
 * The control connection is opened lazily (before the first connect to a
 * VIP, so meshd usually has our pid before it judges the connection), with
 * SOCK_CLOEXEC, and re-checked before every use: it must still be our
 * socket (fstat: same inode; programs close every descriptor or dup2 over
 * ours) in our process (getpid: a child forked without the atfork handlers
 * must not read its parent's answers). In a child forked normally, the
 * atfork handler closes the inherited copy and forgets pending questions
 * (their answers go to the parent); failures already known stay, since the
 * child inherited those sockets too. A lost connection makes every pending
 * verdict fail open; it is reopened on the next connect to a VIP.
 *
 * Safety: no stdio, no malloc (fixed tables), no exit/abort; errno is
 * preserved on every pass-through path; cancellation is disabled while we
 * hold or wait for the lock; a signal handler that re-enters the shim while
 * its thread is inside this file just passes through (in_verdict).
 */
#include "shim.h"
#include "ctlclient.h"
#include "ctlproto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/stat.h>

#define DEFAULT_MS 30000
#define UNPUBLISHED_MS 3000 /* meshd answers "unknown" at once for these */

static long timeout_ms = DEFAULT_MS;
static int verdicts_off;

static __thread int in_verdict __attribute__((tls_model("initial-exec")));
static __thread int cancel_state __attribute__((tls_model("initial-exec")));

/* ---- the lock ---------------------------------------------------------- */

/* Take the lock unless this thread is already inside (a signal handler
 * that interrupted us): then the caller passes through. */
static int enter(void)
{
	if (in_verdict)
		return 0;
	in_verdict = 1;
	/* A cancelled waiter would leave `ctlclient_mu` locked (cond waits
	 * re-lock before unwinding) or `ctlclient_reading` set: no
	 * cancellation in here. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	pthread_mutex_lock(&ctlclient_mu);
	return 1;
}

static void leave(void)
{
	int ignored;
	pthread_mutex_unlock(&ctlclient_mu);
	pthread_setcancelstate(cancel_state, &ignored);
	in_verdict = 0;
}


/*
 * The one place a verdict is consumed. Under the lock: find fd's slot,
 * drop it if the descriptor is no longer the socket it was made for, then
 * either check without waiting, or (`wait`, or a guarded slot) wait until
 * the slot's deadline. Returns the errno to report (ECONNREFUSED/ETIMEDOUT)
 * once, or 0: pass. `what` completes the debug line ("connect fails with").
 */
int verdict_settle(int fd, int wait, const char *what)
{
	int saved = errno;
	int ret = 0;
	if (!enter())
		return 0;
	int i = ctlclient_slot_of(fd);
	if (i < 0)
		goto out;
	unsigned idx = (unsigned)i;
	struct ctlclient_slot *s = &ctlclient_slots[idx];
	if (!ctlclient_same_socket(fd, s)) {
		ctlclient_slot_free(idx); /* fd was closed and its number reused */
		goto out;
	}
	unsigned gen = s->gen;
	wait = wait || s->guard;
	if (s->state == CTLCLIENT_PENDING) {
		if (wait && ctlclient_now_ms() < s->deadline)
			ctlclient_wait_slot(idx, gen, s->deadline);
		else if (!ctlclient_reading)
			ctlclient_pump();
	}
	if (s->gen != gen || s->state == CTLCLIENT_FREE)
		goto out; /* ok, none or dropped: nothing to say */
	if (s->state == CTLCLIENT_FAILED) {
		ret = s->err;
		if (shim_debug) {
			struct shim_line l;
			ctlclient_line_verdict(&l, s);
			shim_line_str(&l, s->result);
			shim_line_str(&l, " (");
			shim_line_str(&l, what);
			shim_line_str(&l, " ");
			shim_line_str(&l, ctlclient_errname(ret));
			shim_line_str(&l, ")");
			shim_line_end(&l);
		}
		ctlclient_slot_free(idx);
	} else if (wait) {
		if (shim_debug) {
			struct shim_line l;
			ctlclient_line_verdict(&l, s);
			shim_line_str(&l, "no answer within ");
			shim_line_uint(&l, (unsigned long)s->wait_ms);
			shim_line_str(&l, " ms (fails open: the connection stands)");
			shim_line_end(&l);
		}
		ctlclient_slot_free(idx);
	}
out:
	leave();
	errno = saved;
	return ret;
}

/* Data arrived on fd: meshd relays only once the path is up, so the
 * verdict can only be ok; stop checking. */
void verdict_settle_data(int fd)
{
	int saved = errno;
	if (!enter())
		return;
	int i = ctlclient_slot_of(fd);
	/* Not for a guarded slot: its bytes may come from someone else. */
	if (i >= 0 && ctlclient_slots[i].state == CTLCLIENT_PENDING && !ctlclient_slots[i].guard) {
		if (shim_debug) {
			struct shim_line l;
			ctlclient_line_verdict(&l, &ctlclient_slots[i]);
			shim_line_str(&l, "data arrived, the path is up (ok)");
			shim_line_end(&l);
		}
		ctlclient_slot_free((unsigned)i);
	}
	leave();
	errno = saved;
}

/* The kernel reported its own failure for fd: no verdict applies. */
void verdict_settle_forget(int fd)
{
	int saved = errno;
	if (!enter())
		return;
	int i = ctlclient_slot_of(fd);
	if (i >= 0)
		ctlclient_slot_free((unsigned)i);
	leave();
	errno = saved;
}

/* ---- interface to libmesh.c and intercept.c ---------------------------- */

void verdict_init(void)
{
	const char *t = secure_getenv("MESH_VERDICT_TIMEOUT");
	if (t && t[0]) {
		char *end;
		double v = strtod(t, &end);
		double scale = 1000.0; /* seconds by default */
		if (strcmp(end, "ms") == 0)
			scale = 1.0;
		else if (strcmp(end, "s") != 0 && *end)
			v = -1; /* unparseable: keep the default */
		if (v == 0)
			verdicts_off = 1;
		else if (v > 0 && v * scale < 86400000.0)
			timeout_ms = (long)(v * scale) > 0 ? (long)(v * scale) : 1;
	}
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) == 0) {
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ctlclient_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
}

void verdict_atfork_child(void)
{
	/*
	 * Only the forking thread lives on, and any lock or reader role
	 * another thread had is gone with it. The inherited control socket
	 * is the parent's conversation: close our copy (the parent keeps
	 * its own) so the child never reads the parent's answers, and let
	 * pending questions fail open here. Known failures stay: the child
	 * has the same sockets.
	 */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	memcpy(&ctlclient_mu, &fresh, sizeof ctlclient_mu);
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) == 0) {
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ctlclient_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	ctlclient_reading = 0;
	if (ctlclient_fd >= 0)
		close(ctlclient_fd);
	ctlclient_fd = -1;
	ctlclient_rlen = 0;
	ctlclient_gen++;
	ctlclient_drop_pending();
}

int verdict_ready(const char *path)
{
	if (verdicts_off || !real_connect || !real_recv || !real_send)
		return 0;
	int saved = errno;
	if (!enter())
		return 0;
	/* ctlclient_check() forgets a descriptor that is no longer ours. */
	if (ctlclient_check() && strcmp(path, ctlclient_path) != 0)
		ctlclient_drop("meshd now names another control socket", 0, 1);
	if (ctlclient_fd < 0)
		ctlclient_connect(path);
	int ok = ctlclient_fd >= 0;
	leave();
	errno = saved;
	return ok;
}

int verdict_connect_begin(int fd)
{
	int saved = errno;
	int same = 0;
	if (!enter())
		return 0;
	int i = ctlclient_slot_of(fd);
	if (i >= 0) {
		if (ctlclient_same_socket(fd, &ctlclient_slots[i]))
			same = 1;
		else
			ctlclient_slot_free((unsigned)i);
	}
	leave();
	errno = saved;
	return same;
}

/* A connect (or fast-open send) again on a socket that awaits a verdict. */
static long connect_again(int fd, long rc, int *err)
{
	if (rc == -1 && (*err == EALREADY || *err == EINPROGRESS || *err == EINTR))
		return rc; /* still connecting */
	if (rc >= 0 || *err == EISCONN || *err == ECONNRESET || *err == EPIPE) {
		/* Connected (or reset): the program wants the result now. */
		int e = verdict_settle(fd, 1, "connect fails with");
		if (e) {
			*err = e;
			return -1;
		}
		return rc;
	}
	verdict_settle_forget(fd); /* the kernel's own failure */
	return rc;
}

/* Our side of the connection as meshd sees it: IPv4 (a v4-mapped IPv6
 * socket is an IPv4 connection to meshd), or for a VIP6 (v6) the IPv6
 * address. */
static int local_addr(int fd, int v6, uint32_t *addr, uint8_t addr6[16], uint16_t *port)
{
	union {
		struct sockaddr_storage ss;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
	socklen_t len = sizeof u;
	if (getsockname(fd, (struct sockaddr *)&u, &len) == -1)
		return -1;
	if (v6) {
		if (u.ss.ss_family != AF_INET6 || len < sizeof u.in6 ||
		    IN6_IS_ADDR_V4MAPPED(&u.in6.sin6_addr))
			return -1;
		memcpy(addr6, &u.in6.sin6_addr, 16);
		*port = u.in6.sin6_port;
		return 0;
	}
	if (u.ss.ss_family == AF_INET && len >= sizeof u.in) {
		*addr = u.in.sin_addr.s_addr;
		*port = u.in.sin_port;
		return 0;
	}
	if (u.ss.ss_family == AF_INET6 && len >= sizeof u.in6 &&
	    IN6_IS_ADDR_V4MAPPED(&u.in6.sin6_addr)) {
		memcpy(addr, &u.in6.sin6_addr.s6_addr[12], 4);
		*port = u.in6.sin6_port;
		return 0;
	}
	return -1;
}

long verdict_after_connect(int fd, const struct verdict_dest *d, int again, long rc, int *err)
{
	if (again)
		return connect_again(fd, rc, err);
	if (!d)
		return rc;
	/* Only a connection meshd has (or will have) accepted has a verdict
	 * coming; a kernel failure (nobody listens on the VIP) is final. */
	if (!(rc >= 0 || *err == EINPROGRESS || *err == EINTR))
		return rc;

	int saved = errno;
	uint32_t caddr = 0;
	uint8_t caddr6[16] = { 0 };
	uint16_t cport;
	struct stat st;
	if (local_addr(fd, d->v6, &caddr, caddr6, &cport) == -1 || fstat(fd, &st) == -1) {
		errno = saved;
		return rc;
	}
	/* The question, written before anything is marked: a tuple the codec
	 * will not write (a port 0) is one meshd could not have accepted. */
	struct ctlproto_tuple q = {
		.caddr = caddr,
		.cport = cport,
		.vaddr = d->vip,
		.vport = d->vport,
		.inode = (uint64_t)st.st_ino,
		.v6 = (uint8_t)(d->v6 != 0),
	};
	if (d->v6) {
		memcpy(q.caddr6, caddr6, 16);
		memcpy(q.vaddr6, d->vip6, 16);
	}
	char line[CTLPROTO_LINE_MAX];
	size_t len = ctlproto_format_question(line, sizeof line, &q);
	if (len == 0) {
		errno = saved;
		return rc;
	}
	int fl = fcntl(fd, F_GETFL);
	int blocking = rc >= 0 && fl != -1 && !(fl & O_NONBLOCK);
	if (!shim_fd_table_get() || !enter()) {
		errno = saved;
		return rc;
	}
	int i = ctlclient_check() ? ctlclient_slot_new() : -1;
	if (i < 0) {
		if (shim_debug && ctlclient_fd >= 0)
			ctlclient_debug("too many verdicts pending, this one fails open", 0);
		leave();
		errno = saved;
		return rc;
	}
	unsigned idx = (unsigned)i;
	struct ctlclient_slot *s = &ctlclient_slots[idx];
	s->state = CTLCLIENT_PENDING;
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->caddr = caddr;
	s->cport = cport;
	s->vaddr = d->vip;
	s->vport = d->vport;
	s->v6 = q.v6;
	memcpy(s->caddr6, q.caddr6, 16);
	memcpy(s->vaddr6, q.vaddr6, 16);
	s->err = 0;
	s->guard = d->unpublished;
	s->wait_ms = timeout_ms;
	if (d->unpublished && s->wait_ms > UNPUBLISHED_MS)
		s->wait_ms = UNPUBLISHED_MS;
	else if (d->wait_ms && s->wait_ms > (long)d->wait_ms)
		s->wait_ms = (long)d->wait_ms;
	s->deadline = ctlclient_now_ms() + s->wait_ms;
	s->result[0] = '\0';
	ctlclient_mark_set(fd, idx);

	ssize_t n;
	do
		n = real_send(ctlclient_fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len) {
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (shim_debug) {
				struct shim_line l;
				ctlclient_line_verdict(&l, s);
				shim_line_str(&l, "control socket full, not asked (fails open)");
				shim_line_end(&l);
			}
			ctlclient_slot_free(idx);
		} else {
			ctlclient_drop("cannot send to meshd", n == -1 ? errno : 0, 1);
		}
		leave();
		errno = saved;
		return rc;
	}
	if (shim_debug) {
		struct shim_line l;
		ctlclient_line_verdict(&l, s);
		shim_line_str(&l,
		              blocking ? "asked meshd (blocking " : "asked meshd (non-blocking ");
		shim_line_str(&l, d->call);
		shim_line_str(&l, blocking ? " waits for the answer)"
		                           : ": SO_ERROR will wait for it, I/O checks)");
		shim_line_end(&l);
	}
	leave();
	errno = saved;
	if (!blocking)
		return rc;
	int e = verdict_settle(fd, 1, rc > 0 ? "send fails with" : "connect fails with");
	if (e) {
		*err = e;
		return -1;
	}
	return rc;
}
