/*
 * Host-to-host protocol, spoken inside mutual TLS right after the handshake
 * (ALPN "libmesh/1"). The caller sends one header; the receiver answers with
 * one status before any application byte flows in either direction, so a
 * failed upstream connect can be retried elsewhere without the application
 * ever noticing.
 *
 * Header (big-endian):
 *   0  'L' 'M'           magic
 *   2  u8  version       PROTO_VERSION
 *   3  u8  flags         0 (reserved)
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
 * After an OK status, application bytes flow in frames, both ways:
 *   u8 type (DATA, FIN, RST), u24 length (big-endian), payload (DATA only).
 * FIN carries a half-close; RST aborts the stream (and the TLS connection).
 * When both FINs have passed, the stream is over and the TLS connection is
 * still clean: the caller may send the next header on it. That is how a new
 * application connection avoids a new TLS handshake (connections are reused
 * one stream at a time; see pool.c).
 * A receiver that gets a higher version answers with its own version and
 * PROTO_ST_BAD_VERSION, so a newer caller can tell.
 */
#ifndef MESHD_PROTO_H
#define MESHD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_ALPN        "libmesh/1"
#define PROTO_VERSION     1
#define PROTO_FIXED_LEN   26
#define PROTO_NAME_MAX    63
#define PROTO_HDR_MAX     (PROTO_FIXED_LEN + 2 * PROTO_NAME_MAX)
#define PROTO_STATUS_LEN  4
#define PROTO_UID_UNKNOWN 0xffffffffu

#define PROTO_FRAME_HDR   4
#define PROTO_FRAME_MAX   ((1u << 24) - 1)

enum proto_frame {
	PROTO_FRAME_DATA = 0,
	PROTO_FRAME_FIN = 1,
	PROTO_FRAME_RST = 2,
};

static inline void proto_frame_hdr(unsigned char out[PROTO_FRAME_HDR],
                                   enum proto_frame type, uint32_t len)
{
	out[0] = (unsigned char)type;
	out[1] = (unsigned char)(len >> 16);
	out[2] = (unsigned char)(len >> 8);
	out[3] = (unsigned char)len;
}

enum proto_status {
	PROTO_ST_OK = 0,
	PROTO_ST_REFUSED = 1,      /* upstream refused the connection */
	PROTO_ST_TIMEOUT = 2,      /* upstream connect timed out */
	PROTO_ST_DENIED = 3,       /* caller identity not allowed */
	PROTO_ST_NO_SERVICE = 4,   /* service or port not served here */
	PROTO_ST_BAD_REQUEST = 5,  /* malformed header */
	PROTO_ST_BAD_VERSION = 6,
	PROTO_ST_UNAVAILABLE = 7,  /* draining, or out of resources */
	PROTO_ST_MAX
};

struct proto_hdr {
	uint8_t  version;
	uint8_t  flags;
	uint16_t port;
	uint64_t conn_id;
	uint32_t pid;
	uint32_t uid;
	char     service[PROTO_NAME_MAX + 1];
	char     program[PROTO_NAME_MAX + 1];
};

enum proto_rc {
	PROTO_NEED_MORE = -3,  /* not enough bytes yet (never 0: 0 is PROTO_ST_OK) */
	PROTO_BAD = -1,        /* malformed */
	PROTO_BAD_VER = -2,    /* well-formed prefix, unsupported version */
};

/* Encode into out (>= PROTO_HDR_MAX bytes). Returns the length, or -1 when
 * the service name is empty/too long (a long program name is truncated). */
int proto_hdr_encode(const struct proto_hdr *h, unsigned char *out, size_t cap);

/* Decode from buf. Returns bytes consumed (> 0), PROTO_NEED_MORE, PROTO_BAD
 * or PROTO_BAD_VER. Never reads past len. */
int proto_hdr_decode(struct proto_hdr *h, const unsigned char *buf, size_t len);

void proto_status_encode(unsigned char out[PROTO_STATUS_LEN], enum proto_status st);
/* Returns the status code (>= 0), PROTO_NEED_MORE, PROTO_BAD or PROTO_BAD_VER. */
int proto_status_decode(const unsigned char *buf, size_t len);

const char *proto_status_name(int st);

#endif
