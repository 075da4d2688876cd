/*
 * Control-socket line codec (see ctlproto.h). Linked into libmesh.so and
 * meshd. Written without inet_pton, strtoul or snprintf: the shim calls it
 * from inside arbitrary programs (possibly from a signal handler's connect),
 * and every field must have exactly one accepted spelling, which the libc
 * parsers do not promise (strtoul takes signs, spaces and leading zeros).
 */
#include "ctlproto.h"

#include <string.h>

struct cursor {
	const char *p;
	const char *end;
};

/* A decimal number without leading zeros (except "0" itself), at most
 * max; stops at the first non-digit. */
static int get_uint(struct cursor *c, uint64_t max, uint64_t *out)
{
	const char *s = c->p;
	uint64_t v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if (c->p > s && v == 0)
			return -1; /* leading zero */
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
		c->p++;
	}
	if (c->p == s)
		return -1;
	*out = v;
	return 0;
}

static int get_char(struct cursor *c, char ch)
{
	if (c->p == c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/* "a.b.c.d:port" (port 1..65535), network order out. */
static int get_hostport(struct cursor *c, uint32_t *addr, uint16_t *port)
{
	unsigned char a[4];
	uint64_t v;
	for (int i = 0; i < 4; i++) {
		if ((i && get_char(c, '.') == -1) || get_uint(c, 255, &v) == -1)
			return -1;
		a[i] = (unsigned char)v;
	}
	if (get_char(c, ':') == -1 || get_uint(c, 65535, &v) == -1 || v == 0)
		return -1;
	memcpy(addr, a, 4);
	unsigned char p[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	memcpy(port, p, 2);
	return 0;
}

/* "<verb> <hostport> <hostport> <inode>" */
static int get_tuple(struct cursor *c, char verb, struct ctlproto_tuple *t)
{
	return get_char(c, verb) == -1 || get_char(c, ' ') == -1 ||
	                       get_hostport(c, &t->caddr, &t->cport) == -1 ||
	                       get_char(c, ' ') == -1 ||
	                       get_hostport(c, &t->vaddr, &t->vport) == -1 ||
	                       get_char(c, ' ') == -1 || get_uint(c, UINT64_MAX, &t->inode) == -1
	               ? -1
	               : 0;
}

static int word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
}

int ctlproto_parse_question(const char *line, size_t len, struct ctlproto_tuple *q)
{
	struct cursor c = { line, line + len };
	struct ctlproto_tuple t;
	if (!line || get_tuple(&c, 'W', &t) == -1 || c.p != c.end || t.inode == 0)
		return -1;
	*q = t;
	return 0;
}

int ctlproto_parse_answer(const char *line, size_t len, struct ctlproto_tuple *a,
                          char word[CTLPROTO_WORD_MAX + 1])
{
	struct cursor c = { line, line + len };
	struct ctlproto_tuple t;
	if (!line || get_tuple(&c, 'V', &t) == -1 || get_char(&c, ' ') == -1)
		return -1;
	size_t n = (size_t)(c.end - c.p);
	if (n == 0 || n > CTLPROTO_WORD_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!word_char(c.p[i]))
			return -1;
	memcpy(word, c.p, n);
	word[n] = '\0';
	*a = t;
	return 0;
}

/* ---- formatting -------------------------------------------------------- */

struct out {
	char *p;
	size_t left;
	int full;
};

static void put_bytes(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->left) {
		o->full = 1;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
	o->left -= n;
}

static void put_uint(struct out *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_bytes(o, tmp + i, sizeof tmp - i);
}

static void put_hostport(struct out *o, uint32_t addr, uint16_t port)
{
	unsigned char a[4], p[2];
	memcpy(a, &addr, 4);
	memcpy(p, &port, 2);
	for (int i = 0; i < 4; i++) {
		if (i)
			put_bytes(o, ".", 1);
		put_uint(o, a[i]);
	}
	put_bytes(o, ":", 1);
	put_uint(o, (uint64_t)p[0] << 8 | p[1]);
}

static void put_tuple(struct out *o, char verb, const struct ctlproto_tuple *t)
{
	char head[2] = { verb, ' ' };
	put_bytes(o, head, 2);
	put_hostport(o, t->caddr, t->cport);
	put_bytes(o, " ", 1);
	put_hostport(o, t->vaddr, t->vport);
	put_bytes(o, " ", 1);
	put_uint(o, t->inode);
}

/* Ports 0 cannot be parsed back; refuse to write them. */
static int tuple_ok(const struct ctlproto_tuple *t)
{
	return t->cport != 0 && t->vport != 0;
}

size_t ctlproto_format_question(char *out, size_t cap, const struct ctlproto_tuple *q)
{
	struct out o = { out, cap, 0 };
	if (!tuple_ok(q) || q->inode == 0)
		return 0;
	put_tuple(&o, 'W', q);
	put_bytes(&o, "\n", 1);
	return o.full ? 0 : cap - o.left;
}

size_t ctlproto_format_answer(char *out, size_t cap, const struct ctlproto_tuple *a,
                              const char *word)
{
	struct out o = { out, cap, 0 };
	size_t n = word ? strnlen(word, CTLPROTO_WORD_MAX + 1) : 0;
	if (!tuple_ok(a) || n == 0 || n > CTLPROTO_WORD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!word_char(word[i]))
			return 0;
	put_tuple(&o, 'V', a);
	put_bytes(&o, " ", 1);
	put_bytes(&o, word, n);
	put_bytes(&o, "\n", 1);
	return o.full ? 0 : cap - o.left;
}
