/*
 * Byte buffers: data[start, end) holds bytes, [end, cap) is room. A buffer
 * exists only while it holds bytes (an idle connection owns none); standard
 * ones come from, and go back to, a small per-thread free list.
 */
#ifndef MESHD_BUF_H
#define MESHD_BUF_H

#include <stdint.h>

#define BUF_SIZE (32 * 1024)

struct buf {
	char *data;
	uint32_t start, end, cap;
};

static inline uint32_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}
static inline uint32_t buf_room(const struct buf *b)
{
	return b->cap - b->end;
}
/* Take a buffer if b has none (buffers exist only while they hold bytes). */
int buf_reserve(struct buf *b);
/* Room for n more bytes at the end: compact, else grow (up to max). */
int buf_make_room(struct buf *b, uint32_t n, uint32_t max);
/* Give b's buffer back (to a per-thread free list). */
void buf_free(struct buf *b);
/* Free this thread's spare buffers (a worker stopping). */
void buf_trim(void);
void buf_consume(struct buf *b, uint32_t n);
void buf_compact(struct buf *b);

#endif
