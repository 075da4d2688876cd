/* Shared quotas and the descriptor reserve (see bounds.h). */
#include "bounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct quota_entry {
	struct quota_entry *next;
	uint64_t key;
	unsigned count;
};

struct quota quota_uid = QUOTA_INIT("uid");
struct quota quota_peer = QUOTA_INIT("peer identity");
struct quota quota_service = QUOTA_INIT("service");
struct quota quota_handshake = QUOTA_INIT("peer address");

static unsigned nofile = 1024;

static unsigned bucket_of(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (unsigned)(key % 1024);
}

bool quota_take(struct quota *q, uint64_t key, unsigned limit)
{
	unsigned b = bucket_of(key);
	bool taken = false;
	pthread_mutex_lock(&q->lock);
	struct quota_entry *e;
	for (e = q->bucket[b]; e; e = e->next)
		if (e->key == key)
			break;
	if (!e) {
		e = calloc(1, sizeof *e);
		if (e) {
			e->key = key;
			e->next = q->bucket[b];
			q->bucket[b] = e;
		}
	}
	if (e && (limit == 0 || e->count < limit)) {
		e->count++;
		taken = true;
	}
	if (e && e->count == 0) {
		/* Refused before anything was held: leave no entry behind. */
		for (struct quota_entry **p = &q->bucket[b]; *p; p = &(*p)->next)
			if (*p == e) {
				*p = e->next;
				break;
			}
		free(e);
	}
	pthread_mutex_unlock(&q->lock);
	return taken;
}

void quota_give(struct quota *q, uint64_t key)
{
	unsigned b = bucket_of(key);
	pthread_mutex_lock(&q->lock);
	for (struct quota_entry **p = &q->bucket[b]; *p; p = &(*p)->next) {
		struct quota_entry *e = *p;
		if (e->key != key)
			continue;
		if (e->count > 0)
			e->count--;
		if (e->count == 0) {
			*p = e->next;
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&q->lock);
}

unsigned quota_count(struct quota *q, uint64_t key)
{
	unsigned b = bucket_of(key), n = 0;
	pthread_mutex_lock(&q->lock);
	for (struct quota_entry *e = q->bucket[b]; e; e = e->next)
		if (e->key == key) {
			n = e->count;
			break;
		}
	pthread_mutex_unlock(&q->lock);
	return n;
}

uint64_t quota_key(const char *s)
{
	/* FNV-1a, 64 bits. */
	uint64_t h = 14695981039346656037ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

unsigned bounds_raise_nofile(char *msg, size_t len)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		snprintf(msg, len, "cannot read the descriptor limit; assuming %u", nofile);
		return nofile;
	}
	rlim_t before = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		if (want == RLIM_INFINITY || want > (1u << 24))
			want = 1u << 24;
		struct rlimit nr = { want, rl.rlim_max };
		if (want > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &nr) == 0)
			rl.rlim_cur = want;
	}
	nofile = rl.rlim_cur > (1u << 24) ? 1u << 24 : (unsigned)rl.rlim_cur;
	if (rl.rlim_cur != before)
		snprintf(msg, len, "descriptor limit raised from %llu to %u (the hard limit)",
		         (unsigned long long)before, nofile);
	else
		snprintf(msg, len, "descriptor limit %u (already the hard limit)", nofile);
	return nofile;
}

unsigned bounds_nofile(void)
{
	return nofile;
}

unsigned bounds_reserve(void)
{
	unsigned r = nofile / 16;
	return r < 16 ? 16 : r > 256 ? 256 : r;
}

bool bounds_fd_ok(int fd)
{
	return fd >= 0 && (unsigned)fd + bounds_reserve() < nofile;
}

bool bounds_fd_ok_control(int fd)
{
	return fd >= 0 && (unsigned)fd + bounds_reserve() / 2 < nofile;
}

unsigned bounds_auto(unsigned configured)
{
	if (configured)
		return configured;
	unsigned q = nofile / 4;
	return q < 16 ? 16 : q;
}

static pthread_mutex_t reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long reserve_count;
static double reserve_warned = -1e9;

unsigned long bounds_reserve_refused(double now)
{
	unsigned long n = 0;
	pthread_mutex_lock(&reserve_lock);
	reserve_count++;
	if (now - reserve_warned >= 10.0) {
		n = reserve_count;
		reserve_count = 0;
		reserve_warned = now;
	}
	pthread_mutex_unlock(&reserve_lock);
	return n;
}
