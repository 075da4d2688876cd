/*
 * Host-to-host protocol, spoken inside mutual TLS right after the handshake
 * (ALPN "libmesh/3", or "libmesh/2" without PING/PONG). For each application connection the caller opens a
 * stream with one header; the receiver answers with one status before any
 * application byte flows in either direction, so a failed upstream connect
 * can be retried elsewhere without the application ever noticing.
 *
 * Header (big-endian):
 *   0  'L' 'M'           magic
 *   2  u8  version       PROTO_VERSION
 *   3  u8  flags         PROTO_HDR_F_REUSED: the link carried streams before
 *   4  u16 length        whole header, bytes
 *   6  u16 port          service port the caller dialled
 *   8  u64 conn_id       the connection id, shared by both hosts' records
 *  16  u32 pid           caller pid, 0 = unknown
 *  20  u32 uid           caller uid, 0xffffffff = unknown
 *  24  u8  svc_len       1..63
 *  25  u8  prog_len      0..63
 *  26  service name, then program name (no NULs)
 *
 * Status (4 bytes): 'L' 'M' version code.
 *
 * Everything travels in frames, many streams over one TLS connection (a
 * "link", see link.h): 8-byte header, then the payload.
 *   u8 type, u24 payload length, u32 stream id (all big-endian)
 *   OPEN    caller -> receiver: payload = the header above; a new stream
 *   STATUS  receiver -> caller: payload = the status above; sent before any
 *           DATA of the stream, so a refusal can be retried elsewhere
 *   DATA    application bytes, either way, at most what the receiver has
 *           granted (flow control: each stream may have STREAM_WINDOW bytes
 *           unacknowledged; WINDOW frames give credit back)
 *   FIN     half-close of one direction
 *   RST     abort the stream (the link stays)
 *   WINDOW  payload = u32 credit the receiver gives back
 *   PING    either way, stream id 0: payload = 8 opaque bytes; "are you
 *           there?" (daemon/link_live.c)
 *   PONG    the answer to a PING, stream id 0, with the PING's 8 bytes
 *   CALLER  caller -> receiver, libmesh/4 only, at most once per stream,
 *           before the caller's FIN or RST: the caller's pid and program,
 *           which the calling host often learns only after the OPEN (the
 *           shim reports them over its control socket). Payload: u32 pid
 *           (never 0), u8 prog_len 0..63, program (no control characters,
 *           as in the header). Like the header's, they are the calling
 *           host's claims. A second CALLER for a stream, a malformed one,
 *           or one sent to the calling side is a protocol error; one for a
 *           stream that is gone or already half-closed by the caller is
 *           dropped.
 * A stream is over when both FINs have passed, or at a RST, or at a non-OK
 * STATUS. Frames for a stream id the receiver no longer knows are dropped.
 * Stream ids start at 1 and each OPEN's id is higher than the last: a
 * stream frame for stream 0, a PING or PONG for any other id or not of
 * PROTO_PING_LEN bytes, an OPEN whose id does not increase, or WINDOW
 * credit beyond STREAM_WINDOW is a protocol error that ends the link.
 * A receiver that gets a higher version answers with its own version and
 * PROTO_ST_BAD_VERSION, so a newer caller can tell.
 */
#ifndef MESHD_PROTO_H
#define MESHD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libmesh/4 has CALLER; libmesh/3 is the same without it, and libmesh/2
 * also without PING and PONG. Both are still accepted so that hosts can be
 * upgraded one at a time: a link that agreed on one of them is sent no
 * frame its peer does not know (an older meshd ends a link on an unknown
 * frame type), and one on libmesh/2 no PING (it relies on TCP keepalive). */
#define PROTO_ALPN "libmesh/4"
#define PROTO_ALPN_V3 "libmesh/3"
#define PROTO_ALPN_PREV "libmesh/2"
#define PROTO_VERSION 2
#define PROTO_FIXED_LEN 26
#define PROTO_NAME_MAX 63
#define PROTO_HDR_MAX (PROTO_FIXED_LEN + 2 * PROTO_NAME_MAX)
#define PROTO_STATUS_LEN 4
#define PROTO_UID_UNKNOWN 0xffffffffu
#define PROTO_HDR_F_REUSED 0x01

#define PROTO_FRAME_HDR 8
#define PROTO_FRAME_MAX ((1u << 24) - 1)
#define PROTO_WINDOW_LEN 4
#define PROTO_PING_LEN 8
#define PROTO_CALLER_FIXED 5
#define PROTO_CALLER_MAX (PROTO_CALLER_FIXED + PROTO_NAME_MAX)

enum proto_frame {
	PROTO_FRAME_DATA = 0,
	PROTO_FRAME_FIN = 1,
	PROTO_FRAME_RST = 2,
	PROTO_FRAME_OPEN = 3,
	PROTO_FRAME_STATUS = 4,
	PROTO_FRAME_WINDOW = 5,
	PROTO_FRAME_PING = 6, /* frames of the link itself: stream id 0 */
	PROTO_FRAME_PONG = 7,
	PROTO_FRAME_CALLER = 8, /* libmesh/4 */
};

static inline void proto_put32(unsigned char *o, uint32_t v)
{
	o[0] = (unsigned char)(v >> 24);
	o[1] = (unsigned char)(v >> 16);
	o[2] = (unsigned char)(v >> 8);
	o[3] = (unsigned char)v;
}

static inline uint32_t proto_get32(const unsigned char *i)
{
	return (uint32_t)i[0] << 24 | (uint32_t)i[1] << 16 | (uint32_t)i[2] << 8 | i[3];
}

/* The longest payload of a frame other than DATA (OPEN carries the
 * largest, a whole header): a receiver buffers those whole. */
#define PROTO_CONTROL_MAX PROTO_HDR_MAX

struct proto_frame_in {
	uint8_t type; /* enum proto_frame, or unknown: the caller decides */
	uint32_t len; /* payload bytes */
	uint32_t stream;
};

static inline void proto_frame_hdr(unsigned char out[PROTO_FRAME_HDR], enum proto_frame type,
                                   uint32_t len, uint32_t stream)
{
	proto_put32(out, (uint32_t)type << 24 | (len & PROTO_FRAME_MAX));
	proto_put32(out + 4, stream);
}

enum proto_status {
	PROTO_ST_OK = 0,
	PROTO_ST_REFUSED = 1,     /* upstream refused the connection */
	PROTO_ST_TIMEOUT = 2,     /* upstream connect timed out */
	PROTO_ST_DENIED = 3,      /* caller identity not allowed */
	PROTO_ST_NO_SERVICE = 4,  /* service or port not served here */
	PROTO_ST_BAD_REQUEST = 5, /* malformed header */
	PROTO_ST_BAD_VERSION = 6,
	PROTO_ST_UNAVAILABLE = 7, /* draining, or out of resources */
	PROTO_ST_MAX
};

struct proto_hdr {
	uint8_t version;
	uint8_t flags;
	uint16_t port;
	uint64_t conn_id;
	uint32_t pid;
	uint32_t uid;
	char service[PROTO_NAME_MAX + 1];
	char program[PROTO_NAME_MAX + 1];
};

enum proto_rc {
	PROTO_NEED_MORE = -3, /* not enough bytes yet (never 0: 0 is PROTO_ST_OK) */
	PROTO_BAD = -1,       /* malformed */
	PROTO_BAD_VER = -2,   /* well-formed prefix, unsupported version */
};

/* Encode into out (>= PROTO_HDR_MAX bytes). Returns the length, or -1 when
 * the service name is empty/too long (a long program name is truncated). */
int proto_hdr_encode(const struct proto_hdr *h, unsigned char *out, size_t cap);

/* Decode from buf. Returns bytes consumed (> 0), PROTO_NEED_MORE, PROTO_BAD
 * or PROTO_BAD_VER. Never reads past len. A name holding a control
 * character (C0, DEL, or a C1 control U+0080..U+009F in UTF-8) is
 * PROTO_BAD. */
int proto_hdr_decode(struct proto_hdr *h, const unsigned char *buf, size_t len);

/* Replace each control character of s[0..n) that proto_hdr_decode refuses
 * with '?' (one per byte: a C1 control becomes "??"), in place. */
void proto_name_clean(char *s, size_t n);

/* Decode a frame header from buf. Returns 0; PROTO_NEED_MORE when len is
 * short of PROTO_FRAME_HDR; PROTO_BAD when a frame other than DATA has more
 * than PROTO_CONTROL_MAX bytes of payload (f is filled all the same, so the
 * caller can say which frame it was). */
int proto_frame_decode(struct proto_frame_in *f, const unsigned char *buf, size_t len);

/* A WINDOW payload: the credit given back. Decode returns 0, or PROTO_BAD
 * when the payload is not PROTO_WINDOW_LEN bytes (a protocol error). */
void proto_window_encode(unsigned char out[PROTO_WINDOW_LEN], uint32_t credit);
int proto_window_decode(const unsigned char *buf, size_t len, uint32_t *credit);

/* A PING or PONG payload: 8 opaque bytes, here a u64 (the sender's
 * sequence number, echoed back). Decode returns 0, or PROTO_BAD when the
 * payload is not PROTO_PING_LEN bytes (a protocol error). */
void proto_ping_encode(unsigned char out[PROTO_PING_LEN], uint64_t v);
int proto_ping_decode(const unsigned char *buf, size_t len, uint64_t *v);

/* A CALLER payload. Encode returns its length; pid must not be 0, a
 * program longer than PROTO_NAME_MAX is truncated and its control
 * characters go as '?' (as in the header). Decode fills program (NUL
 * terminated) and returns 0, or PROTO_BAD: a length that does not match
 * prog_len, pid 0, prog_len over PROTO_NAME_MAX, or a control character
 * in the program. */
int proto_caller_encode(unsigned char out[PROTO_CALLER_MAX], uint32_t pid, const char *program);
int proto_caller_decode(const unsigned char *buf, size_t len, uint32_t *pid,
                        char program[PROTO_NAME_MAX + 1]);

void proto_status_encode(unsigned char out[PROTO_STATUS_LEN], enum proto_status st);
/* Returns the status code (>= 0), PROTO_NEED_MORE, PROTO_BAD or PROTO_BAD_VER. */
int proto_status_decode(const unsigned char *buf, size_t len);

const char *proto_status_name(int st);

/* Checks of the link frames that a peer could get wrong or abuse. */
/* The stream id a frame of `type` may carry: PING and PONG belong to the
 * link and carry 0, every other frame (unknown types too) a stream's id,
 * never 0 (ids start at 1). */
bool proto_frame_id_ok(uint8_t type, uint32_t id);
/* A WINDOW frame giving `add` bytes more to a sender that holds `credit`
 * of at most `window`: false when the sum would pass the window, which
 * also catches a sum that would wrap around 2^32. */
bool proto_credit_ok(uint32_t credit, uint32_t add, uint32_t window);
/* The id of an OPEN on a receiver whose last OPEN had id `last` (0: none
 * yet): ids are never 0 and always increase (a caller counts up from 1),
 * so an OPEN can name no stream in use and reuse no ended one. */
bool proto_open_id_ok(uint32_t id, uint32_t last);

#endif
