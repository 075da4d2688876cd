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

struct out {
	char *p;
	size_t left;
	int full;
};

static void put_bytes(struct out *o, const char *s, size_t n);
static void put_uint(struct out *o, uint64_t v);
static int put_addr6(struct out *o, const uint8_t a[16]);

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/*
 * "[v6]:port". The address is read loosely (1..4 lowercase hex digits a
 * group, one "::"), then written back with the formatter: only the text
 * that comes out again, byte for byte, is accepted.
 */
static int get_hostport6(struct cursor *c, uint8_t addr[16], uint16_t *port)
{
	uint16_t w[8];
	int n = 0, gap = -1;
	const char *start;
	if (get_char(c, '[') == -1)
		return -1;
	start = c->p;
	if (c->end - c->p >= 2 && c->p[0] == ':' && c->p[1] == ':') {
		gap = 0;
		c->p += 2;
	}
	while (c->p < c->end && *c->p != ']') {
		unsigned v = 0;
		int digits = 0, h;
		while (c->p < c->end && (h = hexval(*c->p)) >= 0) {
			if (++digits > 4)
				return -1;
			v = v << 4 | (unsigned)h;
			c->p++;
		}
		if (digits == 0 || n == 8)
			return -1;
		w[n++] = (uint16_t)v;
		if (c->p < c->end && *c->p == ':') {
			c->p++;
			if (c->p < c->end && *c->p == ':') {
				if (gap != -1)
					return -1;
				gap = n;
				c->p++;
			} else if (c->p == c->end || *c->p == ']') {
				return -1; /* a trailing single ':' */
			}
		}
	}
	const char *stop = c->p;
	if (get_char(c, ']') == -1 || (gap == -1 && n != 8) || (gap != -1 && n > 7))
		return -1;
	uint16_t full[8] = { 0 };
	int tail = gap == -1 ? 0 : n - gap;
	for (int i = 0; i < n - tail; i++)
		full[i] = w[i];
	for (int i = 0; i < tail; i++)
		full[8 - tail + i] = w[n - tail + i];
	uint8_t a[16];
	for (int i = 0; i < 8; i++) {
		a[2 * i] = (uint8_t)(full[i] >> 8);
		a[2 * i + 1] = (uint8_t)full[i];
	}
	char back[40];
	struct out o = { back, sizeof back, 0 };
	if (put_addr6(&o, a) == -1 || o.full ||
	    (size_t)(sizeof back - o.left) != (size_t)(stop - start) ||
	    memcmp(back, start, (size_t)(stop - start)) != 0)
		return -1;
	uint64_t v;
	if (get_char(c, ':') == -1 || get_uint(c, 65535, &v) == -1 || v == 0)
		return -1;
	memcpy(addr, a, 16);
	unsigned char p[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	memcpy(port, p, 2);
	return 0;
}

/* "<verb> <hostport> <hostport> <inode>", both host:ports of one family. */
static int get_tuple(struct cursor *c, char verb, struct ctlproto_tuple *t)
{
	memset(t, 0, sizeof *t);
	if (get_char(c, verb) == -1 || get_char(c, ' ') == -1)
		return -1;
	t->v6 = c->p < c->end && *c->p == '[';
	if (t->v6) {
		if (get_hostport6(c, t->caddr6, &t->cport) == -1 || get_char(c, ' ') == -1 ||
		    get_hostport6(c, t->vaddr6, &t->vport) == -1)
			return -1;
	} else if (get_hostport(c, &t->caddr, &t->cport) == -1 || get_char(c, ' ') == -1 ||
	           get_hostport(c, &t->vaddr, &t->vport) == -1) {
		return -1;
	}
	return get_char(c, ' ') == -1 || get_uint(c, UINT64_MAX, &t->inode) == -1 ? -1 : 0;
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

/*
 * An IPv6 address as glibc's inet_ntop writes it; -1 (nothing written) for
 * the forms it writes with a dotted IPv4 tail.
 */
static int put_addr6(struct out *o, const uint8_t a[16])
{
	unsigned w[8];
	int best = -1, blen = 0;
	for (int i = 0; i < 8; i++)
		w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > blen) {
			best = i;
			blen = j - i;
		}
		i = j == i ? i + 1 : j;
	}
	if (blen < 2)
		best = -1;
	if (best == 0 && (blen == 6 || (blen == 5 && w[5] == 0xffff)))
		return -1;
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			put_bytes(o, "::", 2);
			i += blen - 1;
			continue;
		}
		if (i && i != best + blen)
			put_bytes(o, ":", 1);
		char tmp[4];
		int n = 0;
		for (int sh = 12; sh >= 0; sh -= 4)
			if (n || (w[i] >> sh) & 0xf || sh == 0)
				tmp[n++] = hex[(w[i] >> sh) & 0xf];
		put_bytes(o, tmp, (size_t)n);
	}
	return 0;
}

static int put_hostport6(struct out *o, const uint8_t a[16], uint16_t port)
{
	unsigned char p[2];
	memcpy(p, &port, 2);
	put_bytes(o, "[", 1);
	if (put_addr6(o, a) == -1)
		return -1;
	put_bytes(o, "]:", 2);
	put_uint(o, (uint64_t)p[0] << 8 | p[1]);
	return 0;
}

static int put_tuple(struct out *o, char verb, const struct ctlproto_tuple *t)
{
	char head[2] = { verb, ' ' };
	put_bytes(o, head, 2);
	if (t->v6) {
		if (put_hostport6(o, t->caddr6, t->cport) == -1)
			return -1;
		put_bytes(o, " ", 1);
		if (put_hostport6(o, t->vaddr6, t->vport) == -1)
			return -1;
	} else {
		put_hostport(o, t->caddr, t->cport);
		put_bytes(o, " ", 1);
		put_hostport(o, t->vaddr, t->vport);
	}
	put_bytes(o, " ", 1);
	put_uint(o, t->inode);
	return 0;
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
	if (put_tuple(&o, 'W', q) == -1)
		return 0;
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
	if (put_tuple(&o, 'V', a) == -1)
		return 0;
	put_bytes(&o, " ", 1);
	put_bytes(&o, word, n);
	put_bytes(&o, "\n", 1);
	return o.full ? 0 : cap - o.left;
}
