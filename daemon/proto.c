/* Host-to-host header, status, frame-header, WINDOW and PING codec (see
 * proto.h). Pure: no I/O. */
#include "proto.h"

#include <string.h>

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}
static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}
static void put64(unsigned char *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, v & 0xffffffffu);
}
static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}
static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* The length of the control character at s (of n bytes): 1 for C0 and
 * DEL, 2 for a C1 control in UTF-8 (C2 80..C2 9F; C2 is never a
 * continuation byte, so any position can start one), else 0. */
static size_t ctl_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x20 || s[0] == 0x7f)
		return 1;
	return n >= 2 && s[0] == 0xc2 && s[1] <= 0x9f ? 2 : 0;
}

static int name_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ctl_len(s + i, n - i))
			return 0;
	return 1;
}

void proto_name_clean(char *s, size_t n)
{
	unsigned char *p = (unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = ctl_len(p + i, n - i);
		if (l)
			memset(p + i, '?', l);
		i += l ? l : 1;
	}
}

int proto_hdr_encode(const struct proto_hdr *h, unsigned char *out, size_t cap)
{
	size_t sl = strnlen(h->service, sizeof h->service);
	size_t pl = strnlen(h->program, sizeof h->program);
	if (sl == 0 || sl > PROTO_NAME_MAX)
		return -1;
	if (pl > PROTO_NAME_MAX)
		pl = PROTO_NAME_MAX;
	size_t len = PROTO_FIXED_LEN + sl + pl;
	if (cap < len)
		return -1;
	out[0] = 'L';
	out[1] = 'M';
	out[2] = PROTO_VERSION;
	out[3] = h->flags;
	put16(out + 4, (uint16_t)len);
	put16(out + 6, h->port);
	put64(out + 8, h->conn_id);
	put32(out + 16, h->pid);
	put32(out + 20, h->uid);
	out[24] = (unsigned char)sl;
	out[25] = (unsigned char)pl;
	memcpy(out + PROTO_FIXED_LEN, h->service, sl);
	/* A program may name itself anything (prctl PR_SET_NAME): control
	 * characters, which the receiver refuses as a malformed header, go as
	 * '?'. */
	memcpy(out + PROTO_FIXED_LEN + sl, h->program, pl);
	proto_name_clean((char *)out + PROTO_FIXED_LEN + sl, pl);
	return (int)len;
}

int proto_hdr_decode(struct proto_hdr *h, const unsigned char *buf, size_t len)
{
	if (len >= 1 && buf[0] != 'L')
		return PROTO_BAD;
	if (len >= 2 && buf[1] != 'M')
		return PROTO_BAD;
	if (len >= 3 && buf[2] != PROTO_VERSION)
		return buf[2] == 0 ? PROTO_BAD : PROTO_BAD_VER;
	if (len < PROTO_FIXED_LEN)
		return PROTO_NEED_MORE;
	size_t total = get16(buf + 4);
	size_t sl = buf[24], pl = buf[25];
	if (sl == 0 || sl > PROTO_NAME_MAX || pl > PROTO_NAME_MAX ||
	    total != PROTO_FIXED_LEN + sl + pl)
		return PROTO_BAD;
	if (len < total)
		return PROTO_NEED_MORE;
	const unsigned char *s = buf + PROTO_FIXED_LEN, *p = s + sl;
	if (!name_ok(s, sl) || !name_ok(p, pl))
		return PROTO_BAD;
	memset(h, 0, sizeof *h);
	h->version = buf[2];
	h->flags = buf[3];
	h->port = get16(buf + 6);
	h->conn_id = get64(buf + 8);
	h->pid = get32(buf + 16);
	h->uid = get32(buf + 20);
	memcpy(h->service, s, sl);
	memcpy(h->program, p, pl);
	return (int)total;
}

int proto_frame_decode(struct proto_frame_in *f, const unsigned char *buf, size_t len)
{
	if (len < PROTO_FRAME_HDR)
		return PROTO_NEED_MORE;
	uint32_t w = get32(buf);
	f->type = (uint8_t)(w >> 24);
	f->len = w & PROTO_FRAME_MAX;
	f->stream = get32(buf + 4);
	if (f->type != PROTO_FRAME_DATA && f->len > PROTO_CONTROL_MAX)
		return PROTO_BAD;
	return 0;
}

void proto_window_encode(unsigned char out[PROTO_WINDOW_LEN], uint32_t credit)
{
	put32(out, credit);
}

int proto_window_decode(const unsigned char *buf, size_t len, uint32_t *credit)
{
	if (len != PROTO_WINDOW_LEN)
		return PROTO_BAD;
	*credit = get32(buf);
	return 0;
}

void proto_ping_encode(unsigned char out[PROTO_PING_LEN], uint64_t v)
{
	put64(out, v);
}

int proto_ping_decode(const unsigned char *buf, size_t len, uint64_t *v)
{
	if (len != PROTO_PING_LEN)
		return PROTO_BAD;
	*v = get64(buf);
	return 0;
}

int proto_caller_encode(unsigned char out[PROTO_CALLER_MAX], uint32_t pid, const char *program)
{
	size_t pl = strnlen(program, PROTO_NAME_MAX);
	put32(out, pid);
	out[4] = (unsigned char)pl;
	memcpy(out + PROTO_CALLER_FIXED, program, pl);
	proto_name_clean((char *)out + PROTO_CALLER_FIXED, pl);
	return (int)(PROTO_CALLER_FIXED + pl);
}

int proto_caller_decode(const unsigned char *buf, size_t len, uint32_t *pid,
                        char program[PROTO_NAME_MAX + 1])
{
	if (len < PROTO_CALLER_FIXED)
		return PROTO_BAD;
	size_t pl = buf[4];
	if (pl > PROTO_NAME_MAX || len != PROTO_CALLER_FIXED + pl || get32(buf) == 0 ||
	    !name_ok(buf + PROTO_CALLER_FIXED, pl))
		return PROTO_BAD;
	*pid = get32(buf);
	memcpy(program, buf + PROTO_CALLER_FIXED, pl);
	program[pl] = '\0';
	return 0;
}

void proto_status_encode(unsigned char out[PROTO_STATUS_LEN], enum proto_status st)
{
	out[0] = 'L';
	out[1] = 'M';
	out[2] = PROTO_VERSION;
	out[3] = (unsigned char)st;
}

int proto_status_decode(const unsigned char *buf, size_t len)
{
	if ((len >= 1 && buf[0] != 'L') || (len >= 2 && buf[1] != 'M'))
		return PROTO_BAD;
	if (len < PROTO_STATUS_LEN)
		return PROTO_NEED_MORE;
	if (buf[2] != PROTO_VERSION)
		return PROTO_BAD_VER;
	if (buf[3] >= PROTO_ST_MAX)
		return PROTO_BAD;
	return buf[3];
}

const char *proto_status_name(int st)
{
	static const char *const names[PROTO_ST_MAX] = {
		[PROTO_ST_OK] = "ok",
		[PROTO_ST_REFUSED] = "refused",
		[PROTO_ST_TIMEOUT] = "timeout",
		[PROTO_ST_DENIED] = "denied",
		[PROTO_ST_NO_SERVICE] = "no_service",
		[PROTO_ST_BAD_REQUEST] = "bad_request",
		[PROTO_ST_BAD_VERSION] = "bad_version",
		[PROTO_ST_UNAVAILABLE] = "unavailable",
	};
	return (st >= 0 && st < PROTO_ST_MAX) ? names[st] : "invalid";
}

bool proto_credit_ok(uint32_t credit, uint32_t add, uint32_t window)
{
	return credit <= window && add <= window - credit;
}

bool proto_open_id_ok(uint32_t id, uint32_t last)
{
	return id != 0 && id > last;
}

bool proto_frame_id_ok(uint8_t type, uint32_t id)
{
	if (type == PROTO_FRAME_PING || type == PROTO_FRAME_PONG)
		return id == 0;
	return id != 0;
}
