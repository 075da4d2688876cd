/* Buffers for the relay (see buf.h): taken from a per-thread pool while
 * they hold bytes, given back when empty. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

/*
 * Buffers are taken only while they hold bytes: an idle connection (the
 * common case for pooled or keep-alive connections) owns none. A small
 * per-thread free list makes take/give a few instructions on the hot path.
 */
#define BUF_FREE_MAX 64
static __thread void *buf_free_list[BUF_FREE_MAX];
static __thread unsigned buf_free_n;

int buf_reserve(struct buf *b)
{
	if (b->data)
		return 0;
	b->data = buf_free_n ? buf_free_list[--buf_free_n] : malloc(BUF_SIZE);
	b->start = b->end = 0;
	b->cap = b->data ? BUF_SIZE : 0;
	return b->data ? 0 : -1;
}

void buf_free(struct buf *b)
{
	if (b->data) {
		/* Only standard buffers are kept; grown ones go back at once. */
		if (b->cap == BUF_SIZE && buf_free_n < BUF_FREE_MAX)
			buf_free_list[buf_free_n++] = b->data;
		else
			free(b->data);
	}
	b->data = NULL;
	b->start = b->end = b->cap = 0;
}

int buf_make_room(struct buf *b, uint32_t n, uint32_t max)
{
	if (b->cap - b->end >= n)
		return 0;
	if (b->start) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
		if (b->cap - b->end >= n)
			return 0;
	}
	if (b->cap >= max)
		return 0; /* full: the caller decides */
	uint32_t cap = b->cap * 2;
	while (cap < b->end + n && cap < max)
		cap *= 2;
	if (cap > max)
		cap = max;
	char *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_trim(void)
{
	while (buf_free_n)
		free(buf_free_list[--buf_free_n]);
}

void buf_consume(struct buf *b, uint32_t n)
{
	b->start += n;
	if (b->start == b->end)
		buf_free(b);
}

void buf_compact(struct buf *b)
{
	if (b->start && b->end == b->cap) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
}
