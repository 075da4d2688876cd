/*
 * fuzz_proto: the host-to-host codec a peer holding a mesh certificate
 * feeds meshd (daemon/proto.c). The input is read three ways, as the link
 * reads a TLS stream: as a stream header (proto_hdr_decode), as a status
 * (proto_status_decode), and as a sequence of frames (proto_frame_decode,
 * then each OPEN, STATUS, WINDOW, PING, PONG and CALLER payload as the link's
 * dispatch decodes it). Besides memory errors it checks what the callers
 * rely on:
 * a decoded header re-encodes to exactly the bytes it came from, every shorter
 * prefix of it is "need more", a status code is in range, a WINDOW
 * or PING payload decodes only at its exact length and re-encodes, a
 * CALLER decodes only with a pid, a program without a control character
 * and the length its prog_len says, and re-encodes to its bytes, the
 * stream id 0 is allowed exactly for PING and PONG, and a frame
 * that is not DATA never claims more payload than a receiver buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "fuzz.h"

static void header(const uint8_t *d, size_t n)
{
	struct proto_hdr h;
	int rc = proto_hdr_decode(&h, d, n);
	CHECK(rc == PROTO_NEED_MORE || rc == PROTO_BAD || rc == PROTO_BAD_VER || rc > 0);
	if (rc <= 0)
		return;
	CHECK((size_t)rc <= n && rc >= PROTO_FIXED_LEN && rc <= PROTO_HDR_MAX);
	CHECK(h.service[0] != '\0' && strlen(h.service) <= PROTO_NAME_MAX &&
	      strlen(h.program) <= PROTO_NAME_MAX);
	unsigned char again[PROTO_HDR_MAX];
	int m = proto_hdr_encode(&h, again, sizeof again);
	CHECK(m == rc && memcmp(again, d, (size_t)rc) == 0);
	for (int k = 0; k < rc; k++) {
		struct proto_hdr x;
		int r = proto_hdr_decode(&x, d, (size_t)k);
		CHECK(r == PROTO_NEED_MORE);
	}
}

static void status(const uint8_t *d, size_t n)
{
	int rc = proto_status_decode(d, n);
	CHECK(rc == PROTO_NEED_MORE || rc == PROTO_BAD || rc == PROTO_BAD_VER ||
	      (rc >= 0 && rc < PROTO_ST_MAX));
	if (rc >= 0) {
		unsigned char again[PROTO_STATUS_LEN];
		proto_status_encode(again, (enum proto_status)rc);
		CHECK(memcmp(again, d, PROTO_STATUS_LEN) == 0);
		CHECK(strcmp(proto_status_name(rc), "invalid") != 0);
	}
}

static void window(const uint8_t *d, size_t n)
{
	uint32_t credit;
	int rc = proto_window_decode(d, n, &credit);
	CHECK(rc == 0 || rc == PROTO_BAD);
	CHECK((rc == 0) == (n == PROTO_WINDOW_LEN));
	if (rc == 0) {
		unsigned char again[PROTO_WINDOW_LEN];
		proto_window_encode(again, credit);
		CHECK(memcmp(again, d, PROTO_WINDOW_LEN) == 0);
	}
}

static void ping(const uint8_t *d, size_t n)
{
	uint64_t v;
	int rc = proto_ping_decode(d, n, &v);
	CHECK(rc == 0 || rc == PROTO_BAD);
	CHECK((rc == 0) == (n == PROTO_PING_LEN));
	if (rc == 0) {
		unsigned char again[PROTO_PING_LEN];
		proto_ping_encode(again, v);
		CHECK(memcmp(again, d, PROTO_PING_LEN) == 0);
	}
}

static void caller(const uint8_t *d, size_t n)
{
	uint32_t pid = 0;
	char program[PROTO_NAME_MAX + 1];
	int rc = proto_caller_decode(d, n, &pid, program);
	CHECK(rc == 0 || rc == PROTO_BAD);
	if (rc == 0) {
		CHECK(pid != 0 && n >= PROTO_CALLER_FIXED && n <= PROTO_CALLER_MAX);
		CHECK(strlen(program) == n - PROTO_CALLER_FIXED);
		unsigned char again[PROTO_CALLER_MAX];
		int m = proto_caller_encode(again, pid, program);
		CHECK(m == (int)n && memcmp(again, d, n) == 0);
	}
}

static void frames(const uint8_t *d, size_t n)
{
	while (n > 0) {
		struct proto_frame_in f;
		int rc = proto_frame_decode(&f, d, n);
		if (rc == PROTO_NEED_MORE) {
			CHECK(n < PROTO_FRAME_HDR);
			return;
		}
		CHECK(rc == 0 || rc == PROTO_BAD);
		CHECK(f.len <= PROTO_FRAME_MAX);
		unsigned char again[PROTO_FRAME_HDR];
		proto_frame_hdr(again, (enum proto_frame)f.type, f.len, f.stream);
		CHECK(memcmp(again, d, PROTO_FRAME_HDR) == 0);
		bool link_frame = f.type == PROTO_FRAME_PING || f.type == PROTO_FRAME_PONG;
		CHECK(proto_frame_id_ok(f.type, f.stream) ==
		      (link_frame ? f.stream == 0 : f.stream != 0));
		if (rc == PROTO_BAD) {
			CHECK(f.type != PROTO_FRAME_DATA && f.len > PROTO_CONTROL_MAX);
			return; /* the link is closed here */
		}
		d += PROTO_FRAME_HDR;
		n -= PROTO_FRAME_HDR;
		size_t have = f.len < n ? f.len : n;
		/* The receiver reads a control payload whole into a buffer of
		 * PROTO_CONTROL_MAX bytes, then decodes exactly that. */
		if (f.type != PROTO_FRAME_DATA) {
			CHECK(f.len <= PROTO_CONTROL_MAX);
			unsigned char *small = malloc(PROTO_CONTROL_MAX);
			if (!small)
				return;
			memcpy(small, d, have);
			if (f.type == PROTO_FRAME_OPEN)
				header(small, have);
			else if (f.type == PROTO_FRAME_STATUS)
				status(small, have);
			else if (f.type == PROTO_FRAME_WINDOW)
				window(small, have);
			else if (f.type == PROTO_FRAME_PING || f.type == PROTO_FRAME_PONG)
				ping(small, have);
			else if (f.type == PROTO_FRAME_CALLER)
				caller(small, have);
			free(small);
		}
		d += have;
		n -= have;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: a read one past the end is an ASan report. */
	uint8_t *d = malloc(size ? size : 1);
	if (!d)
		return 0;
	memcpy(d, data, size);
	header(d, size);
	status(d, size);
	frames(d, size);
	free(d);
	return 0;
}
