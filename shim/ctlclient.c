/*
 * The control client: how libmesh.so asks meshd for a verdict and hears
 * the answer (verdict.c's opening comment has the protocol, the thread
 * model, the marking and the stale-mark rules; this file is their
 * machinery). It holds the table of verdict slots (one per question asked:
 * the socket's identity, the tuple, the deadline, the answer once in), the
 * one control connection per process (opened lazily, re-checked before
 * every use), the reading and filing of meshd's answer lines, and the
 * single-reader wait that polls the control socket without the lock.
 * Everything here runs under `ctlclient_mu`, which verdict.c's enter()
 * takes; nothing here calls verdict.c.
 */
#include "shim.h"
#include "ctlclient.h"
#include "ctlproto.h"
#include "result.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/un.h>

#define SLICE_MS 100 /* a reader re-checks its world this often */

pthread_mutex_t ctlclient_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t ctlclient_cv = PTHREAD_COND_INITIALIZER;
struct ctlclient_slot ctlclient_slots[CTLCLIENT_SLOTS];
static unsigned slots_hi; /* ctlclient_slots[slots_hi..] are free */

int ctlclient_fd = -1;
static pid_t ctl_pid;
static dev_t ctl_dev;
static ino_t ctl_ino;
unsigned ctlclient_gen; /* bumped whenever ctlclient_fd changes */
char ctlclient_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char rbuf[1024]; /* a partial line from meshd */
size_t ctlclient_rlen;
int ctlclient_reading; /* a thread polls ctlclient_fd unlocked */

/* ---- small helpers ----------------------------------------------------- */

long ctlclient_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *ctlclient_errname(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "?";
}

static void line_hostport(struct shim_line *l, int v6, const void *addr, uint16_t port)
{
	if (v6)
		shim_line_str(l, "[");
	shim_line_addr(l, v6 ? AF_INET6 : AF_INET, addr);
	shim_line_str(l, v6 ? "]:" : ":");
	shim_line_uint(l, ntohs(port));
}

/* "libmesh: verdict C -> V: " */
void ctlclient_line_verdict(struct shim_line *l, const struct ctlclient_slot *s)
{
	shim_line_start(l);
	shim_line_str(l, "verdict ");
	line_hostport(l, s->v6, s->v6 ? (const void *)s->caddr6 : &s->caddr, s->cport);
	shim_line_str(l, " -> ");
	line_hostport(l, s->v6, s->v6 ? (const void *)s->vaddr6 : &s->vaddr, s->vport);
	shim_line_str(l, ": ");
}

/* Start a debug line "control PATH: what (ERRNAME)"; the caller may add
 * to it before shim_line_end. */
static void control_line(struct shim_line *l, const char *what, int err)
{
	shim_line_start(l);
	shim_line_str(l, "control ");
	shim_line_str(l, ctlclient_path[0] ? ctlclient_path : "(none)");
	shim_line_str(l, ": ");
	shim_line_str(l, what);
	if (err) {
		shim_line_str(l, " (");
		shim_line_str(l, ctlclient_errname(err));
		shim_line_str(l, ")");
	}
}

void ctlclient_debug(const char *what, int err)
{
	struct shim_line l;
	control_line(&l, what, err);
	shim_line_end(&l);
}

/* Same socket as when the slot was made? Also false for a closed fd. */
int ctlclient_same_socket(int fd, const struct ctlclient_slot *s)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == s->ino &&
	       st.st_dev == s->dev;
}

/* ---- slots (all under ctlclient_mu) ------------------------------------ */

void ctlclient_mark_set(int fd, unsigned idx)
{
	struct shim_fd *e = shim_fd_peek(fd);
	if (e)
		atomic_store_explicit(&e->vmark, idx + 1, memory_order_relaxed);
}

void ctlclient_slot_free(unsigned idx)
{
	struct ctlclient_slot *s = &ctlclient_slots[idx];
	struct shim_fd *e = shim_fd_peek(s->fd);
	if (e && atomic_load_explicit(&e->vmark, memory_order_relaxed) == idx + 1)
		atomic_store_explicit(&e->vmark, 0, memory_order_relaxed);
	s->state = CTLCLIENT_FREE;
	s->gen++;
	while (slots_hi > 0 && ctlclient_slots[slots_hi - 1].state == CTLCLIENT_FREE)
		slots_hi--;
}

/* The live slot fd's mark points at, or -1 (a dangling mark is cleared). */
int ctlclient_slot_of(int fd)
{
	struct shim_fd *e = shim_fd_peek(fd);
	if (!e)
		return -1;
	unsigned m = atomic_load_explicit(&e->vmark, memory_order_relaxed);
	if (m == 0)
		return -1;
	if (m > CTLCLIENT_SLOTS || ctlclient_slots[m - 1].state == CTLCLIENT_FREE ||
	    ctlclient_slots[m - 1].fd != fd) {
		atomic_store_explicit(&e->vmark, 0, memory_order_relaxed);
		return -1;
	}
	return (int)(m - 1);
}

int ctlclient_slot_new(void)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < slots_hi; i++)
			if (ctlclient_slots[i].state == CTLCLIENT_FREE)
				return (int)i;
		if (slots_hi < CTLCLIENT_SLOTS)
			return (int)slots_hi++;
		/* Full: reclaim failures whose descriptor the program closed
		 * (or reused) without ever doing I/O on it. */
		for (unsigned i = 0; i < slots_hi; i++)
			if (ctlclient_slots[i].state == CTLCLIENT_FAILED &&
			    !ctlclient_same_socket(ctlclient_slots[i].fd, &ctlclient_slots[i]))
				ctlclient_slot_free(i);
	}
	return -1;
}

/* Every question asked on the current connection fails open. */
void ctlclient_drop_pending(void)
{
	for (unsigned i = 0; i < slots_hi; i++)
		if (ctlclient_slots[i].state == CTLCLIENT_PENDING)
			ctlclient_slot_free(i);
}

/* ---- the control connection (under ctlclient_mu) ----------------------- */

/* Forget the control connection; close it only if it is still ours. */
void ctlclient_drop(const char *why, int err, int close_it)
{
	unsigned pending = 0;
	for (unsigned i = 0; i < slots_hi; i++)
		pending += ctlclient_slots[i].state == CTLCLIENT_PENDING;
	if (ctlclient_fd >= 0 && close_it)
		close(ctlclient_fd);
	ctlclient_fd = -1;
	ctlclient_rlen = 0;
	ctlclient_gen++;
	ctlclient_drop_pending();
	pthread_cond_broadcast(&ctlclient_cv);
	if (shim_debug) {
		struct shim_line l;
		control_line(&l, why, err);
		shim_line_str(&l, "; ");
		shim_line_uint(&l, pending);
		shim_line_str(&l, " pending verdicts fail open");
		shim_line_end(&l);
	}
}

/* Is ctlclient_fd still our control socket, in our process? */
int ctlclient_check(void)
{
	if (ctlclient_fd < 0)
		return 0;
	if (ctl_pid != getpid()) {
		/* Forked without our atfork handler (raw clone): the
		 * description is the parent's; leave it alone. */
		ctlclient_drop("inherited from the parent process", 0, 0);
		return 0;
	}
	struct stat st;
	if (fstat(ctlclient_fd, &st) == -1 || !S_ISSOCK(st.st_mode) || st.st_ino != ctl_ino ||
	    st.st_dev != ctl_dev) {
		/* The program closed it (closefrom, close_range) or put
		 * something else on the number: that is its fd now. */
		ctlclient_drop("descriptor closed or replaced by the program", 0, 0);
		return 0;
	}
	return 1;
}

int ctlclient_connect(const char *path)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (n >= sizeof sa.sun_path || n >= sizeof ctlclient_path)
		return 0;
	memcpy(ctlclient_path, path, n + 1);
	memcpy(sa.sun_path, path, n + 1);
	/* Non-blocking: connecting to a full backlog must not block the
	 * program's connect; we then just go without a verdict. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		if (shim_debug)
			ctlclient_debug("cannot create a socket, no verdicts", errno);
		return 0;
	}
	struct stat st;
	if (real_connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 || fstat(fd, &st) == -1) {
		int err = errno;
		close(fd);
		if (shim_debug)
			ctlclient_debug("cannot connect, no verdicts", err);
		return 0;
	}
	ctlclient_fd = fd;
	ctl_pid = getpid();
	ctl_dev = st.st_dev;
	ctl_ino = st.st_ino;
	ctlclient_gen++;
	ctlclient_rlen = 0;
	if (shim_debug) {
		struct shim_line l;
		control_line(&l, "connected (fd ", 0);
		shim_line_uint(&l, (unsigned long)fd);
		shim_line_str(&l, ")");
		shim_line_end(&l);
	}
	return 1;
}

/* ---- meshd's answers (under ctlclient_mu) ------------------------------ */

/* One answer line from meshd (without its '\n'; shim/ctlproto.h). The
 * errno for each word is daemon/result.h's; a word it does not know lets
 * the connection stand. */
static void handle_line(const char *line, size_t len)
{
	struct ctlproto_tuple a;
	char got[CTLPROTO_WORD_MAX + 1];
	if (ctlproto_parse_answer(line, len, &a, got) == -1)
		return;
	enum result r = result_from_word(got);
	int err = result_errno(r);
	const char *word = r != RESULT_UNSET ? result_word(r) : "unrecognized";
	for (unsigned i = 0; i < slots_hi; i++) {
		struct ctlclient_slot *s = &ctlclient_slots[i];
		if (s->state != CTLCLIENT_PENDING || s->v6 != a.v6 || s->caddr != a.caddr ||
		    s->cport != a.cport || s->vaddr != a.vaddr || s->vport != a.vport ||
		    (uint64_t)s->ino != a.inode ||
		    (a.v6 && (memcmp(s->caddr6, a.caddr6, 16) != 0 ||
		              memcmp(s->vaddr6, a.vaddr6, 16) != 0)))
			continue;
		size_t n = strlen(word);
		if (n >= sizeof s->result)
			n = sizeof s->result - 1;
		memcpy(s->result, word, n);
		s->result[n] = '\0';
		if (err == 0) {
			if (shim_debug) {
				struct shim_line l;
				ctlclient_line_verdict(&l, s);
				shim_line_str(&l, word);
				shim_line_str(&l, r == RESULT_OK
				                          ? " (the connection stands)"
				                          : " (fails open: the connection stands)");
				shim_line_end(&l);
			}
			ctlclient_slot_free(i);
		} else {
			/* Kept until reported: on the next SO_ERROR, connect
			 * or I/O, or by the waiter that asked. */
			s->state = CTLCLIENT_FAILED;
			s->err = err;
		}
		return;
	}
	/* No one asks any more (data came first, or the mark was cleared). */
}

/* Read what meshd has sent, without waiting. Caller holds ctlclient_mu
 * and is the only reader (ctlclient_reading == 0, or it is the reader). */
void ctlclient_pump(void)
{
	if (!ctlclient_check())
		return;
	for (;;) {
		ssize_t n = real_recv(ctlclient_fd, rbuf + ctlclient_rlen,
		                      sizeof rbuf - 1 - ctlclient_rlen, MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			ctlclient_drop(n == 0 ? "meshd closed the control connection"
			                      : "control connection failed",
			               n == 0 ? 0 : errno, 1);
			break;
		}
		ctlclient_rlen += (size_t)n;
		char *start = rbuf, *nl;
		while ((nl = memchr(start, '\n', ctlclient_rlen - (size_t)(start - rbuf)))) {
			handle_line(start, (size_t)(nl - start));
			start = nl + 1;
		}
		ctlclient_rlen -= (size_t)(start - rbuf);
		memmove(rbuf, start, ctlclient_rlen);
		if (ctlclient_rlen == sizeof rbuf - 1) {
			ctlclient_drop("line too long from meshd", 0, 1);
			break;
		}
	}
	pthread_cond_broadcast(&ctlclient_cv);
}

/*
 * Wait (under ctlclient_mu, which it drops while blocked) until slot idx
 * of generation gen is no longer pending, or the deadline passes.
 */
void ctlclient_wait_slot(unsigned idx, unsigned gen, long deadline)
{
	for (;;) {
		struct ctlclient_slot *s = &ctlclient_slots[idx];
		if (s->gen != gen || s->state != CTLCLIENT_PENDING)
			return;
		long now = ctlclient_now_ms();
		if (now >= deadline)
			return;
		long slice = deadline - now;
		if (slice > SLICE_MS)
			slice = SLICE_MS;
		if (ctlclient_reading) {
			/* Someone else is reading; it will broadcast. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += slice / 1000;
			ts.tv_nsec += (slice % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&ctlclient_cv, &ctlclient_mu, &ts);
			continue;
		}
		if (!ctlclient_check())
			return; /* dropped: pending slots are gone */
		ctlclient_reading = 1;
		int fd = ctlclient_fd;
		unsigned g = ctlclient_gen;
		pthread_mutex_unlock(&ctlclient_mu);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		/* EINTR (a signal): just go round with the time left. */
		int r = poll(&pfd, 1, (int)slice);
		pthread_mutex_lock(&ctlclient_mu);
		ctlclient_reading = 0;
		if (g == ctlclient_gen && r != 0)
			ctlclient_pump();
		pthread_cond_broadcast(&ctlclient_cv);
	}
}
