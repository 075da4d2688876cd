/*
 * The control client: how libmesh.so asks meshd for a verdict and hears
 * the answer (verdict.c's opening comment has the protocol, the thread
 * model, the marking and the stale-mark rules; this file is their
 * machinery). It holds the table of verdict slots (one per question asked:
 * the socket's identity, the tuple, the deadline, the answer once in), the
 * one control connection per process (opened lazily, re-checked before
 * every use), the reading and filing of meshd's answer lines, and the
 * single-reader wait that polls the control socket without the lock.
 * Everything here runs under verdict.c's lock (`mu`, taken by its
 * enter()); nothing here calls verdict.c.
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

pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
struct vslot slots[VSLOTS];
static unsigned slots_hi; /* slots[slots_hi..] are free */

int ctl_fd = -1;
static pid_t ctl_pid;
static dev_t ctl_dev;
static ino_t ctl_ino;
unsigned ctl_gen; /* bumped whenever ctl_fd changes */
char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char rbuf[1024]; /* a partial line from meshd */
size_t rlen;
int reading; /* a thread polls ctl_fd unlocked */

/* ---- small helpers ----------------------------------------------------- */

long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *errname(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "?";
}

static void line_hostport(struct shim_line *l, uint32_t addr, uint16_t port)
{
	shim_line_addr(l, AF_INET, &addr);
	shim_line_str(l, ":");
	shim_line_uint(l, ntohs(port));
}

/* "libmesh: verdict C -> V: " */
void line_verdict(struct shim_line *l, const struct vslot *s)
{
	shim_line_start(l);
	shim_line_str(l, "verdict ");
	line_hostport(l, s->caddr, s->cport);
	shim_line_str(l, " -> ");
	line_hostport(l, s->vaddr, s->vport);
	shim_line_str(l, ": ");
}

void debug_ctl(const char *what, int err)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, "control ");
	shim_line_str(&l, ctl_path[0] ? ctl_path : "(none)");
	shim_line_str(&l, ": ");
	shim_line_str(&l, what);
	if (err) {
		shim_line_str(&l, " (");
		shim_line_str(&l, errname(err));
		shim_line_str(&l, ")");
	}
	shim_line_end(&l);
}

/* Same socket as when the slot was made? Also false for a closed fd. */
int same_socket(int fd, const struct vslot *s)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == s->ino &&
	       st.st_dev == s->dev;
}

/* ---- slots (all under mu) ---------------------------------------------- */

void mark_set(int fd, unsigned idx)
{
	struct shim_fd *e = shim_fd_peek(fd);
	if (e)
		atomic_store_explicit(&e->vmark, idx + 1, memory_order_relaxed);
}

void slot_free(unsigned idx)
{
	struct vslot *s = &slots[idx];
	struct shim_fd *e = shim_fd_peek(s->fd);
	if (e && atomic_load_explicit(&e->vmark, memory_order_relaxed) == idx + 1)
		atomic_store_explicit(&e->vmark, 0, memory_order_relaxed);
	s->state = VS_FREE;
	s->gen++;
	while (slots_hi > 0 && slots[slots_hi - 1].state == VS_FREE)
		slots_hi--;
}

/* The live slot fd's mark points at, or -1 (a dangling mark is cleared). */
int slot_of(int fd)
{
	struct shim_fd *e = shim_fd_peek(fd);
	if (!e)
		return -1;
	unsigned m = atomic_load_explicit(&e->vmark, memory_order_relaxed);
	if (m == 0)
		return -1;
	if (m > VSLOTS || slots[m - 1].state == VS_FREE || slots[m - 1].fd != fd) {
		atomic_store_explicit(&e->vmark, 0, memory_order_relaxed);
		return -1;
	}
	return (int)(m - 1);
}

int slot_new(void)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < slots_hi; i++)
			if (slots[i].state == VS_FREE)
				return (int)i;
		if (slots_hi < VSLOTS)
			return (int)slots_hi++;
		/* Full: reclaim failures whose descriptor the program closed
		 * (or reused) without ever doing I/O on it. */
		for (unsigned i = 0; i < slots_hi; i++)
			if (slots[i].state == VS_FAILED && !same_socket(slots[i].fd, &slots[i]))
				slot_free(i);
	}
	return -1;
}

/* Every question asked on the current connection fails open. */
void drop_pending(void)
{
	for (unsigned i = 0; i < slots_hi; i++)
		if (slots[i].state == VS_PENDING)
			slot_free(i);
}

/* ---- the control connection (under mu) --------------------------------- */

/* Forget the control connection; close it only if it is still ours. */
void ctl_drop(const char *why, int err, int close_it)
{
	unsigned pending = 0;
	for (unsigned i = 0; i < slots_hi; i++)
		pending += slots[i].state == VS_PENDING;
	if (ctl_fd >= 0 && close_it)
		close(ctl_fd);
	ctl_fd = -1;
	rlen = 0;
	ctl_gen++;
	drop_pending();
	pthread_cond_broadcast(&cv);
	if (shim_debug) {
		struct shim_line l;
		shim_line_start(&l);
		shim_line_str(&l, "control ");
		shim_line_str(&l, ctl_path);
		shim_line_str(&l, ": ");
		shim_line_str(&l, why);
		if (err) {
			shim_line_str(&l, " (");
			shim_line_str(&l, errname(err));
			shim_line_str(&l, ")");
		}
		shim_line_str(&l, "; ");
		shim_line_uint(&l, pending);
		shim_line_str(&l, " pending verdicts fail open");
		shim_line_end(&l);
	}
}

/* Is ctl_fd still our control socket, in our process? */
int ctl_check(void)
{
	if (ctl_fd < 0)
		return 0;
	if (ctl_pid != getpid()) {
		/* Forked without our atfork handler (raw clone): the
		 * description is the parent's; leave it alone. */
		ctl_drop("inherited from the parent process", 0, 0);
		return 0;
	}
	struct stat st;
	if (fstat(ctl_fd, &st) == -1 || !S_ISSOCK(st.st_mode) || st.st_ino != ctl_ino ||
	    st.st_dev != ctl_dev) {
		/* The program closed it (closefrom, close_range) or put
		 * something else on the number: that is its fd now. */
		ctl_drop("descriptor closed or replaced by the program", 0, 0);
		return 0;
	}
	return 1;
}

int ctl_connect(const char *path)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (n >= sizeof sa.sun_path || n >= sizeof ctl_path)
		return 0;
	memcpy(ctl_path, path, n + 1);
	memcpy(sa.sun_path, path, n + 1);
	/* Non-blocking: connecting to a full backlog must not block the
	 * program's connect; we then just go without a verdict. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		if (shim_debug)
			debug_ctl("cannot create a socket, no verdicts", errno);
		return 0;
	}
	struct stat st;
	if (real_connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 || fstat(fd, &st) == -1) {
		int err = errno;
		close(fd);
		if (shim_debug)
			debug_ctl("cannot connect, no verdicts", err);
		return 0;
	}
	ctl_fd = fd;
	ctl_pid = getpid();
	ctl_dev = st.st_dev;
	ctl_ino = st.st_ino;
	ctl_gen++;
	rlen = 0;
	if (shim_debug) {
		struct shim_line l;
		shim_line_start(&l);
		shim_line_str(&l, "control ");
		shim_line_str(&l, ctl_path);
		shim_line_str(&l, ": connected (fd ");
		shim_line_uint(&l, (unsigned long)fd);
		shim_line_str(&l, ")");
		shim_line_end(&l);
	}
	return 1;
}

/* ---- meshd's answers (under mu) ---------------------------------------- */

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
		struct vslot *s = &slots[i];
		if (s->state != VS_PENDING || s->caddr != a.caddr || s->cport != a.cport ||
		    s->vaddr != a.vaddr || s->vport != a.vport || (uint64_t)s->ino != a.inode)
			continue;
		size_t n = strlen(word);
		if (n >= sizeof s->result)
			n = sizeof s->result - 1;
		memcpy(s->result, word, n);
		s->result[n] = '\0';
		if (err == 0) {
			if (shim_debug) {
				struct shim_line l;
				line_verdict(&l, s);
				shim_line_str(&l, word);
				shim_line_str(&l, r == RESULT_OK
				                          ? " (the connection stands)"
				                          : " (fails open: the connection stands)");
				shim_line_end(&l);
			}
			slot_free(i);
		} else {
			/* Kept until reported: on the next SO_ERROR, connect
			 * or I/O, or by the waiter that asked. */
			s->state = VS_FAILED;
			s->err = err;
		}
		return;
	}
	/* No one asks any more (data came first, or the mark was cleared). */
}

/* Read what meshd has sent, without waiting. Caller holds mu and is the
 * only reader (reading == 0, or it is the reader). */
void pump(void)
{
	if (!ctl_check())
		return;
	for (;;) {
		ssize_t n = real_recv(ctl_fd, rbuf + rlen, sizeof rbuf - 1 - rlen, MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			ctl_drop(n == 0 ? "meshd closed the control connection"
			                : "control connection failed",
			         n == 0 ? 0 : errno, 1);
			break;
		}
		rlen += (size_t)n;
		char *start = rbuf, *nl;
		while ((nl = memchr(start, '\n', rlen - (size_t)(start - rbuf)))) {
			handle_line(start, (size_t)(nl - start));
			start = nl + 1;
		}
		rlen -= (size_t)(start - rbuf);
		memmove(rbuf, start, rlen);
		if (rlen == sizeof rbuf - 1) {
			ctl_drop("line too long from meshd", 0, 1);
			break;
		}
	}
	pthread_cond_broadcast(&cv);
}

/*
 * Wait (under mu, which it drops while blocked) until slot idx of
 * generation gen is no longer pending, or the deadline passes.
 */
void wait_slot(unsigned idx, unsigned gen, long deadline)
{
	for (;;) {
		struct vslot *s = &slots[idx];
		if (s->gen != gen || s->state != VS_PENDING)
			return;
		long now = now_ms();
		if (now >= deadline)
			return;
		long slice = deadline - now;
		if (slice > SLICE_MS)
			slice = SLICE_MS;
		if (reading) {
			/* Someone else is reading; it will broadcast. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += slice / 1000;
			ts.tv_nsec += (slice % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&cv, &mu, &ts);
			continue;
		}
		if (!ctl_check())
			return; /* dropped: pending slots are gone */
		reading = 1;
		int fd = ctl_fd;
		unsigned g = ctl_gen;
		pthread_mutex_unlock(&mu);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		/* EINTR (a signal): just go round with the time left. */
		int r = poll(&pfd, 1, (int)slice);
		pthread_mutex_lock(&mu);
		reading = 0;
		if (g == ctl_gen && r != 0)
			pump();
		pthread_cond_broadcast(&cv);
	}
}
