/*
 * The route snapshot the hooks answer from: meshd's file (MESH_SNAPSHOT,
 * default /run/libmesh/routes), re-checked at most every 100 ms, held as a
 * private validated copy (shim_snap_get/put, shim.h).
 *
 * Snapshot life cycle (one slot per private copy):
 *
 *   FREE --copy+validate--> LIVE (published in `cur`) --newer file or none-->
 *   RETIRED --readers == 0, checked at the next refresh--> munmap, FREE
 *
 * The hooks answer from a private copy of the file (an anonymous mapping
 * filled with read(2), then made read-only), never from a mapping of the
 * file itself: a file truncated in place under a file mapping turns every
 * later touch of the lost pages into SIGBUS, and a file changed in place
 * would change the answers under a lookup that already validated them. A
 * copy is validated once (snapshot_view: bounds, checksum, VIP range) and
 * then never changes. It is made only when the file's identity changes
 * (device, inode, size, mtime, ctime), so the cost of a lookup stays one
 * stat(2) per 100 ms.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SNAP_DEFAULT_PATH "/run/libmesh/routes"
#define SNAP_CHECK_MS 100
#define SNAP_SLOTS 8
/* A rejected file modified less than this long ago is read again at the
 * next check rather than once: file timestamps are coarse (a clock tick),
 * so a file rewritten in place with the same size within one tick keeps
 * its identity, and the copy we rejected may be a torn read of a write
 * that was still going on (git's "racy" files). */
#define SNAP_RACY_MS 2000

static char snap_path[PATH_MAX];

/* ---- snapshot slots ---------------------------------------------------- */

enum { SLOT_FREE, SLOT_LIVE, SLOT_RETIRED };

struct snap_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	struct timespec ctim; /* utimes() can set mtime back, not ctime */
};

/*
 * Why reader counts rather than "keep the last N mappings": a thread may be
 * preempted for any length of time in the middle of a lookup (a stopped
 * debugger, a SIGSTOP, heavy load), so no fixed number of generations or
 * grace period is provably safe. A reader increments the slot's count, then
 * re-checks that the slot is still current; the refresher publishes a new
 * slot, then unmaps an old one only when its count is zero. With
 * sequentially consistent atomics one of the two always sees the other, so
 * no mapping is unmapped under a reader. The cost is a bounded number of
 * slots: if every slot is still held, the refresh is skipped and retried at
 * the next check. Slots are static, so the hooks never allocate for this.
 */
struct snap_slot {
	atomic_ulong readers;
	int state; /* only touched by the refresher */
	void *map; /* the private copy (anonymous mapping) */
	size_t len;
	struct snap_id id;
	struct snap_view view;
};

static struct snap_slot slots[SNAP_SLOTS];
static struct snap_slot *_Atomic cur;
static atomic_flag refreshing = ATOMIC_FLAG_INIT;
static atomic_long next_check_ms; /* 0: never checked */
static atomic_int first_done;     /* a refresh has completed once */

/* Refresher-only state (under `refreshing`). */
static struct snap_id seen; /* identity of the file last examined */
static int have_seen;
static int last_state = -1; /* debug: 0 no file, 1 bad, 2 loaded */

/* ---- debug lines ------------------------------------------------------- */

static void debug_errno(const char *what, int err)
{
	struct shim_line l;
	const char *name = strerrorname_np(err);
	shim_line_start(&l);
	shim_line_str(&l, "snapshot ");
	shim_line_str(&l, snap_path);
	shim_line_str(&l, ": ");
	shim_line_str(&l, what);
	shim_line_str(&l, " (");
	if (name)
		shim_line_str(&l, name);
	else
		shim_line_uint(&l, (unsigned long)err);
	shim_line_str(&l, "), everything passes through");
	shim_line_end(&l);
}

/* ---- init and fork ----------------------------------------------------- */

void shim_snap_init(void)
{
	const char *p = secure_getenv("MESH_SNAPSHOT");
	if (!p || !p[0])
		p = SNAP_DEFAULT_PATH;
	size_t n = strlen(p);
	if (n < sizeof snap_path)
		memcpy(snap_path, p, n + 1);
	/* else: left empty, stat("") fails, everything passes through. */
}

void shim_snap_atfork_child(void)
{
	/*
	 * Only the forking thread survives, and it is not inside a hook, so
	 * every reader count left by the parent's other threads is stale;
	 * without this reset their slots could never be recycled. A refresh
	 * another thread was running at fork time is gone too: release its
	 * flag. The mappings themselves are inherited and stay valid.
	 */
	for (int i = 0; i < SNAP_SLOTS; i++)
		atomic_store(&slots[i].readers, 0);
	atomic_flag_clear(&refreshing);
}

/* ---- snapshot refresh -------------------------------------------------- */

static void id_from_stat(struct snap_id *id, const struct stat *st)
{
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtim = st->st_mtim;
	id->ctim = st->st_ctim;
}

static int id_equal(const struct snap_id *a, const struct snap_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
	       a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* Make `s` (or NULL) current and retire the previous slot. */
static void publish(struct snap_slot *s)
{
	struct snap_slot *old = atomic_exchange(&cur, s);
	if (old)
		old->state = SLOT_RETIRED;
}

static void reap(void)
{
	for (int i = 0; i < SNAP_SLOTS; i++) {
		struct snap_slot *s = &slots[i];
		if (s->state != SLOT_RETIRED || atomic_load(&s->readers) != 0)
			continue;
		/* Free the slot before unmapping: a fork() in between then
		 * leaks a mapping in the child instead of letting the child
		 * unmap an address range that may have been reused. */
		void *map = s->map;
		size_t len = s->len;
		s->map = NULL;
		s->state = SLOT_FREE;
		munmap(map, len);
	}
}

static void note_state(int state, const char *what, int err)
{
	if (state == last_state)
		return;
	last_state = state;
	if (shim_debug)
		debug_errno(what, err);
}

static ssize_t sys_read(int fd, void *buf, size_t n)
{
	return real_read ? real_read(fd, buf, n) : syscall(SYS_read, fd, buf, n);
}

/*
 * Read exactly len bytes of fd into buf and check that the file ends
 * there. Returns 0, 1 when the file is shorter or longer than len (it is
 * being rewritten), or -1 with errno on a read error.
 */
static int read_exact(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = sys_read(fd, buf + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 1;
		got += (size_t)n;
	}
	unsigned char extra;
	for (;;) {
		ssize_t n = sys_read(fd, &extra, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		return n == 0 ? 0 : 1;
	}
}

/* The file was modified so recently that a rejection may be a torn read. */
static int racy(const struct stat *st)
{
	struct timespec now;
	if (clock_gettime(CLOCK_REALTIME, &now) == -1)
		return 1;
	long long ms = ((long long)now.tv_sec - st->st_mtim.tv_sec) * 1000 +
	               (now.tv_nsec - st->st_mtim.tv_nsec) / 1000000;
	return ms < SNAP_RACY_MS; /* includes a clock set back */
}

/* Copy and validate the file; caller holds `refreshing`. */
static void load(void)
{
	struct stat st, after;
	struct snap_slot *s = NULL;

	int fd = open(snap_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		have_seen = 0;
		publish(NULL);
		note_state(0, "cannot open", errno);
		return;
	}
	if (fstat(fd, &st) == -1) {
		int err = errno;
		close(fd);
		have_seen = 0;
		publish(NULL);
		note_state(1, "cannot stat", err);
		return;
	}
	/* Remember what we looked at (the fd's file, which may be newer than
	 * the path we stat'ed), so a bad file is examined only once. */
	id_from_stat(&seen, &st);
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct snap_hdr) ||
	    st.st_size > (off_t)SNAP_MAX_LEN) {
		close(fd);
		if (racy(&st))
			have_seen = 0;
		publish(NULL);
		note_state(1, "not a snapshot file", EINVAL);
		return;
	}
	for (int i = 0; i < SNAP_SLOTS; i++)
		if (slots[i].state == SLOT_FREE) {
			s = &slots[i];
			break;
		}
	if (!s) {
		/* Every slot still has a reader: keep the current one. */
		close(fd);
		have_seen = 0;
		return;
	}
	size_t len = (size_t)st.st_size;
	/* Anonymous, not malloc: the hooks must not allocate (the program's
	 * allocator may be what called us), and a whole mapping can be made
	 * read-only and handed back with munmap. */
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		int err = errno;
		close(fd);
		have_seen = 0; /* maybe transient (ENOMEM): retry next time */
		publish(NULL);
		note_state(1, "cannot map", err);
		return;
	}
	int rc = read_exact(fd, map, len);
	int err = errno;
	if (rc == 0 && (fstat(fd, &after) == -1 || after.st_size != st.st_size ||
	                after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	                after.st_mtim.tv_nsec != st.st_mtim.tv_nsec))
		rc = 1;
	close(fd); /* the copy is ours; the program keeps no fd */
	if (rc != 0) {
		munmap(map, len);
		have_seen = 0;
		if (rc == 1)
			return; /* changing under us: keep the current routes,
			           * read it again at the next check */
		publish(NULL);
		note_state(1, "cannot read", err);
		return;
	}
	/* Nothing writes the copy again; a stray write now faults. */
	mprotect(map, len, PROT_READ);
	if (snapshot_view(&s->view, map, len) == -1) {
		munmap(map, len);
		if (racy(&st))
			have_seen = 0;
		publish(NULL);
		note_state(1, "malformed", EINVAL);
		return;
	}
	s->map = map;
	s->len = len;
	s->id = seen;
	s->state = SLOT_LIVE;
	publish(s);
	last_state = 2;
	if (shim_debug) {
		struct shim_line l;
		shim_line_start(&l);
		shim_line_str(&l, "snapshot ");
		shim_line_str(&l, snap_path);
		shim_line_str(&l, ": generation ");
		shim_line_uint(&l, (unsigned long)s->view.hdr->generation);
		shim_line_str(&l, ", ");
		shim_line_uint(&l, s->view.hdr->nservices);
		shim_line_str(&l, " services, ");
		shim_line_uint(&l, s->view.hdr->nintercepts);
		shim_line_str(&l, " intercepts");
		shim_line_end(&l);
	}
}

/* See shim_snap_refresh(): only ever waits before the very first mapping
 * is done. */
static void wait_first_load(void)
{
	for (int i = 0; i < 2000 && !atomic_load(&first_done); i++)
		sched_yield();
}

void shim_snap_refresh(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == -1)
		return;
	/* +1 so that a machine booted less than 100 ms ago still checks. */
	long now = (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
	if (now < atomic_load_explicit(&next_check_ms, memory_order_relaxed)) {
		wait_first_load();
		return;
	}
	/* Try-lock only: a hook must never block, not even in a signal
	 * handler that interrupted a refresh on this very thread. One
	 * exception, bounded: while no routes were ever mapped and another
	 * thread is mapping them, yield briefly (at most ~20 ms) rather than
	 * answer "not a mesh name" from an empty table. */
	if (atomic_flag_test_and_set(&refreshing)) {
		wait_first_load();
		return;
	}
	if (now < atomic_load(&next_check_ms)) {
		atomic_flag_clear(&refreshing);
		return;
	}
	atomic_store(&next_check_ms, now + SNAP_CHECK_MS);

	struct stat st;
	if (stat(snap_path, &st) == -1) {
		have_seen = 0;
		publish(NULL);
		note_state(0, "not available", errno);
	} else {
		struct snap_id id;
		id_from_stat(&id, &st);
		if (!have_seen || !id_equal(&id, &seen)) {
			have_seen = 1;
			load();
		}
	}
	reap();
	atomic_store(&first_done, 1);
	atomic_flag_clear(&refreshing);
}

const struct snap_view *shim_snap_get(struct shim_snap_ref *ref)
{
	int saved = errno;
	ref->slot = NULL;
	shim_snap_refresh();
	/* Bounded: a refresher publishing many times in a row cannot keep
	 * us here; giving up just means passing through once. */
	for (int tries = 0; tries < 16; tries++) {
		struct snap_slot *s = atomic_load(&cur);
		if (!s)
			break;
		atomic_fetch_add(&s->readers, 1);
		if (atomic_load(&cur) == s) {
			ref->slot = s;
			errno = saved;
			return &s->view;
		}
		atomic_fetch_sub(&s->readers, 1);
	}
	errno = saved;
	return NULL;
}

void shim_snap_put(struct shim_snap_ref *ref)
{
	struct snap_slot *s = ref->slot;
	if (s)
		atomic_fetch_sub(&s->readers, 1);
	ref->slot = NULL;
}
