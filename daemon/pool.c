/*
 * Idle host-to-host tunnels, kept for reuse. A tunnel whose stream ended
 * cleanly (both FIN frames passed, see proto.h) is parked here under the key
 * "caller identity | endpoint | expected peer identity"; the next connection
 * with the same key sends its header on it instead of paying a TCP connect
 * and a TLS handshake. One stream at a time per tunnel, so a tunnel carries
 * exactly one caller identity and per-connection authorization still holds.
 *
 * A parked tunnel is watched for readability: the peer closing it (idle
 * timeout, restart) or sending anything unexpected drops it. Tunnels idle
 * for POOL_IDLE seconds are closed; the pool is emptied on reload (new
 * certificates) and drain.
 */
#include "mesh.h"
#include "hash.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))
#define POOL_BUCKETS 64
#define POOL_IDLE 60.0
#define POOL_MAX_PER_BUCKET 512 /* parked tunnels per hash bucket (keys share buckets) */

struct pooled {
	ev_io           io;
	ev_timer        idle;
	int             fd;
	SSL            *ssl;
	struct meshd   *m;
	unsigned        bucket;
	struct pooled  *prev, *next;
	char            key[];
};

struct pool {
	struct pooled *bucket[POOL_BUCKETS];
	unsigned       count[POOL_BUCKETS];
	unsigned       total;
};

static unsigned key_hash(const char *k)
{
	return hash_fnv1a(k) % POOL_BUCKETS;
}

static struct pool *pool_of(struct meshd *m)
{
	if (!m->pool)
		m->pool = calloc(1, sizeof *m->pool);
	return m->pool;
}

static void unlink_entry(struct pool *p, struct pooled *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		p->bucket[e->bucket] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	p->count[e->bucket]--;
	p->total--;
}

static void drop(struct pooled *e, bool notify)
{
	struct meshd *m = e->m;
	ev_io_stop(m->loop, &e->io);
	ev_timer_stop(m->loop, &e->idle);
	unlink_entry(m->pool, e);
	if (notify)
		SSL_shutdown(e->ssl);
	SSL_free(e->ssl);
	close(e->fd);
	free(e);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct pooled *e = container_of(w, struct pooled, io);
	unsigned char c;
	ERR_clear_error();
	int n = SSL_read(e->ssl, &c, 1);
	if (n <= 0 && SSL_get_error(e->ssl, n) == SSL_ERROR_WANT_READ)
		return; /* a TLS record with no application data */
	ERR_clear_error();
	drop(e, false);
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	drop(container_of(w, struct pooled, idle), true);
}

void pool_give(struct meshd *m, const char *key, int fd, SSL *ssl)
{
	struct pool *p = pool_of(m);
	size_t kl = strlen(key) + 1;
	unsigned b = key_hash(key);
	struct pooled *e = p && p->count[b] < POOL_MAX_PER_BUCKET ? malloc(sizeof *e + kl) : NULL;
	if (!e) {
		SSL_free(ssl);
		close(fd);
		return;
	}
	memcpy(e->key, key, kl);
	e->fd = fd;
	e->ssl = ssl;
	e->m = m;
	e->bucket = b;
	e->prev = NULL;
	e->next = p->bucket[b];
	if (e->next)
		e->next->prev = e;
	p->bucket[b] = e;
	p->count[b]++;
	p->total++;
	ev_io_init(&e->io, io_cb, fd, EV_READ);
	ev_io_start(m->loop, &e->io);
	ev_timer_init(&e->idle, idle_cb, POOL_IDLE, 0.);
	ev_timer_start(m->loop, &e->idle);
}

int pool_take(struct meshd *m, const char *key, int *fd, SSL **ssl)
{
	struct pool *p = m->pool;
	if (!p || !p->total)
		return -1;
	for (struct pooled *e = p->bucket[key_hash(key)]; e; e = e->next) {
		if (strcmp(e->key, key) != 0)
			continue;
		ev_io_stop(m->loop, &e->io);
		ev_timer_stop(m->loop, &e->idle);
		unlink_entry(p, e);
		*fd = e->fd;
		*ssl = e->ssl;
		free(e);
		return 0;
	}
	return -1;
}

unsigned pool_size(const struct meshd *m)
{
	return m->pool ? m->pool->total : 0;
}

void pool_flush(struct meshd *m)
{
	struct pool *p = m->pool;
	if (!p)
		return;
	for (unsigned b = 0; b < POOL_BUCKETS; b++)
		while (p->bucket[b])
			drop(p->bucket[b], true);
}

void pool_free(struct meshd *m)
{
	pool_flush(m);
	free(m->pool);
	m->pool = NULL;
}
