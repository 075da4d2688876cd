/* Sorted (family, address, port) keys; see heldset.h. */
#include "heldset.h"

#include <stdlib.h>
#include <string.h>

static void key_make(struct held_key *k, bool v6, const void *addr, uint16_t port)
{
	memset(k, 0, sizeof *k);
	k->v6 = v6;
	memcpy(k->a, addr, v6 ? 16 : 4);
	k->port = port;
}

static int key_cmp(const void *x, const void *y)
{
	const struct held_key *a = x, *b = y;
	if (a->v6 != b->v6)
		return a->v6 - b->v6;
	int c = memcmp(a->a, b->a, sizeof a->a);
	if (c)
		return c;
	return (int)a->port - (int)b->port;
}

int heldset_add(struct heldset *s, bool v6, const void *addr, uint16_t port)
{
	if (s->n == s->cap) {
		unsigned cap = s->cap ? 2 * s->cap : 16;
		struct held_key *k = realloc(s->k, cap * sizeof *k);
		if (!k)
			return -1;
		s->k = k;
		s->cap = cap;
	}
	key_make(&s->k[s->n++], v6, addr, port);
	return 0;
}

void heldset_seal(struct heldset *s)
{
	if (s->n)
		qsort(s->k, s->n, sizeof *s->k, key_cmp);
}

bool heldset_has(const struct heldset *s, bool v6, const void *addr, uint16_t port)
{
	struct held_key want;
	key_make(&want, v6, addr, port);
	return s->n && bsearch(&want, s->k, s->n, sizeof *s->k, key_cmp) != NULL;
}

void heldset_clear(struct heldset *s)
{
	free(s->k);
	s->k = NULL;
	s->n = s->cap = 0;
}
