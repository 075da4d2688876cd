/* Host-to-host header and status codec: round trip, truncation at every
 * length, oversized and malformed fields, version mismatch; the frame
 * header of the link protocol and the reuse flag; the WINDOW payload and
 * the checks of its credit (no wrap past 2^32) and of OPEN stream ids
 * (never 0, increasing); the PING/PONG payload and the stream id each
 * frame type may carry (0 for PING and PONG only). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static struct proto_hdr sample(void)
{
	struct proto_hdr h;
	memset(&h, 0, sizeof h);
	h.port = 8080;
	h.conn_id = 0x0123456789abcdefull;
	h.pid = 4242;
	h.uid = 1000;
	strcpy(h.service, "payments");
	strcpy(h.program, "curl");
	return h;
}

static void round_trip(void **state)
{
	(void)state;
	struct proto_hdr h = sample(), out;
	unsigned char wire[PROTO_HDR_MAX];
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	assert_int_equal(n, PROTO_FIXED_LEN + 8 + 4);
	assert_int_equal(proto_hdr_decode(&out, wire, (size_t)n), n);
	assert_int_equal(out.port, 8080);
	assert_true(out.conn_id == 0x0123456789abcdefull);
	assert_int_equal(out.pid, 4242);
	assert_int_equal(out.uid, 1000);
	assert_string_equal(out.service, "payments");
	assert_string_equal(out.program, "curl");
}

static void trailing_bytes_not_consumed(void **state)
{
	(void)state;
	struct proto_hdr h = sample(), out;
	unsigned char wire[PROTO_HDR_MAX + 16];
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	memcpy(wire + n, "GET / HTTP/1.1", 14);
	assert_int_equal(proto_hdr_decode(&out, wire, (size_t)n + 14), n);
}

static void truncated_every_length(void **state)
{
	(void)state;
	struct proto_hdr h = sample(), out;
	unsigned char wire[PROTO_HDR_MAX];
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	for (int len = 0; len < n; len++)
		assert_int_equal(proto_hdr_decode(&out, wire, (size_t)len), PROTO_NEED_MORE);
}

static void oversized_names(void **state)
{
	(void)state;
	struct proto_hdr h = sample(), out;
	unsigned char wire[PROTO_HDR_MAX];
	memset(h.service, 'a', PROTO_NAME_MAX);
	h.service[PROTO_NAME_MAX] = '\0';
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	assert_true(n > 0);
	/* A length byte beyond the maximum is malformed, whatever follows. */
	wire[24] = PROTO_NAME_MAX + 1;
	assert_int_equal(proto_hdr_decode(&out, wire, (size_t)n), PROTO_BAD);
	/* Declared total that disagrees with the name lengths. */
	n = proto_hdr_encode(&h, wire, sizeof wire);
	wire[5] ^= 1;
	assert_int_equal(proto_hdr_decode(&out, wire, (size_t)n), PROTO_BAD);
	/* Empty service name. */
	h.service[0] = '\0';
	assert_int_equal(proto_hdr_encode(&h, wire, sizeof wire), -1);
	/* Too small an output buffer. */
	h = sample();
	assert_int_equal(proto_hdr_encode(&h, wire, 10), -1);
}

static void control_chars_rejected(void **state)
{
	(void)state;
	struct proto_hdr h = sample(), out;
	unsigned char wire[PROTO_HDR_MAX];
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	wire[PROTO_FIXED_LEN + 2] = '\n';
	assert_int_equal(proto_hdr_decode(&out, wire, (size_t)n), PROTO_BAD);
}

/* A header as a peer may write it: service and program bytes as given. */
static int raw_hdr(unsigned char *w, const char *svc, const char *prog)
{
	struct proto_hdr h = sample();
	strcpy(h.service, "x");
	h.program[0] = '\0';
	assert_int_equal(proto_hdr_encode(&h, w, PROTO_HDR_MAX), PROTO_FIXED_LEN + 1);
	size_t sl = strlen(svc), pl = strlen(prog), n = PROTO_FIXED_LEN + sl + pl;
	w[4] = (unsigned char)(n >> 8);
	w[5] = (unsigned char)n;
	w[24] = (unsigned char)sl;
	w[25] = (unsigned char)pl;
	memcpy(w + PROTO_FIXED_LEN, svc, sl);
	memcpy(w + PROTO_FIXED_LEN + sl, prog, pl);
	return (int)n;
}

/* The C1 controls in UTF-8 (C2 80..C2 9F: U+009B is CSI, U+009D OSC) in
 * the service or the program claim are refused as C0 is; U+00A0, a lone
 * C2 (invalid, not a control: the record shows U+FFFD) and U+201B pass. */
static void c1_controls_rejected(void **state)
{
	(void)state;
	const char *bad[] = {
		"\xc2\x9b"
		"2J",
		"a\xc2\x80",
		"\xc2\x9d"
		"0;T\xc2\x9c",
		"x\xc2\x9f"
	};
	const char *good[] = { "caf\xc3\xa9", "\xc2\xa0", "a\xc2", "\xe2\x80\x9b" };
	unsigned char w[PROTO_HDR_MAX];
	struct proto_hdr out;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int n = raw_hdr(w, bad[i], "curl");
		assert_int_equal(proto_hdr_decode(&out, w, (size_t)n), PROTO_BAD);
		n = raw_hdr(w, "hello", bad[i]);
		assert_int_equal(proto_hdr_decode(&out, w, (size_t)n), PROTO_BAD);
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int n = raw_hdr(w, good[i], good[i]);
		assert_int_equal(proto_hdr_decode(&out, w, (size_t)n), n);
		assert_string_equal(out.service, good[i]);
		assert_string_equal(out.program, good[i]);
	}
}

static void wrong_magic_and_version(void **state)
{
	(void)state;
	struct proto_hdr h = sample(), out;
	unsigned char wire[PROTO_HDR_MAX];
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	unsigned char bad[PROTO_HDR_MAX];
	memcpy(bad, wire, (size_t)n);
	bad[0] = 'G'; /* a plaintext HTTP request, say */
	assert_int_equal(proto_hdr_decode(&out, bad, 1), PROTO_BAD);
	memcpy(bad, wire, (size_t)n);
	bad[2] = PROTO_VERSION + 1;
	assert_int_equal(proto_hdr_decode(&out, bad, 3), PROTO_BAD_VER);
	assert_int_equal(proto_hdr_decode(&out, bad, (size_t)n), PROTO_BAD_VER);
}

static void status_codec(void **state)
{
	(void)state;
	unsigned char st[PROTO_STATUS_LEN];
	for (int code = 0; code < PROTO_ST_MAX; code++) {
		proto_status_encode(st, (enum proto_status)code);
		assert_int_equal(proto_status_decode(st, sizeof st), code);
		for (size_t len = 0; len < sizeof st; len++)
			assert_int_equal(proto_status_decode(st, len), PROTO_NEED_MORE);
	}
	st[3] = PROTO_ST_MAX;
	assert_int_equal(proto_status_decode(st, sizeof st), PROTO_BAD);
	proto_status_encode(st, PROTO_ST_OK);
	st[2] = 9;
	assert_int_equal(proto_status_decode(st, sizeof st), PROTO_BAD_VER);
	st[0] = 'X';
	assert_int_equal(proto_status_decode(st, 1), PROTO_BAD);
	assert_string_equal(proto_status_name(PROTO_ST_DENIED), "denied");
	assert_string_equal(proto_status_name(99), "invalid");
}

static void reused_flag_round_trip(void **state)
{
	(void)state;
	struct proto_hdr h = sample(), out;
	unsigned char wire[PROTO_HDR_MAX];
	h.flags = PROTO_HDR_F_REUSED;
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	assert_int_equal(proto_hdr_decode(&out, wire, (size_t)n), n);
	assert_int_equal(out.flags, PROTO_HDR_F_REUSED);
	h.flags = 0;
	n = proto_hdr_encode(&h, wire, sizeof wire);
	assert_int_equal(proto_hdr_decode(&out, wire, (size_t)n), n);
	assert_int_equal(out.flags, 0);
}

static void frame_header_layout(void **state)
{
	(void)state;
	unsigned char fh[PROTO_FRAME_HDR];
	/* type in the top byte, 24-bit length, then the 32-bit stream id,
	 * all big-endian */
	proto_frame_hdr(fh, PROTO_FRAME_WINDOW, 0x123456, 0xdeadbeef);
	const unsigned char want[PROTO_FRAME_HDR] = { 5, 0x12, 0x34, 0x56, 0xde, 0xad, 0xbe, 0xef };
	assert_memory_equal(fh, want, sizeof want);
	uint32_t w = proto_get32(fh);
	assert_int_equal(w >> 24, PROTO_FRAME_WINDOW);
	assert_int_equal(w & PROTO_FRAME_MAX, 0x123456);
	assert_int_equal(proto_get32(fh + 4), 0xdeadbeefu);
	/* the length never spills into the type */
	proto_frame_hdr(fh, PROTO_FRAME_DATA, PROTO_FRAME_MAX, 1);
	assert_int_equal(proto_get32(fh) >> 24, PROTO_FRAME_DATA);
	assert_int_equal(proto_get32(fh) & PROTO_FRAME_MAX, PROTO_FRAME_MAX);
	/* every type survives */
	for (int t = PROTO_FRAME_DATA; t <= PROTO_FRAME_PONG; t++) {
		proto_frame_hdr(fh, (enum proto_frame)t, 7, (uint32_t)t * 1000u);
		assert_int_equal(proto_get32(fh) >> 24, t);
		assert_int_equal(proto_get32(fh + 4), (uint32_t)t * 1000u);
	}
}

/* proto_frame_decode, as link_read uses it: the fields, a short buffer,
 * and the one check (a control frame longer than a receiver buffers). */
static void frame_decode(void **state)
{
	(void)state;
	unsigned char fh[PROTO_FRAME_HDR];
	struct proto_frame_in f;
	proto_frame_hdr(fh, PROTO_FRAME_OPEN, PROTO_CONTROL_MAX, 0x01020304);
	assert_int_equal(proto_frame_decode(&f, fh, sizeof fh), 0);
	assert_int_equal(f.type, PROTO_FRAME_OPEN);
	assert_int_equal(f.len, PROTO_CONTROL_MAX);
	assert_int_equal(f.stream, 0x01020304u);
	for (size_t n = 0; n < sizeof fh; n++)
		assert_int_equal(proto_frame_decode(&f, fh, n), PROTO_NEED_MORE);
	proto_frame_hdr(fh, PROTO_FRAME_OPEN, PROTO_CONTROL_MAX + 1, 9);
	assert_int_equal(proto_frame_decode(&f, fh, sizeof fh), PROTO_BAD);
	assert_int_equal(f.len, PROTO_CONTROL_MAX + 1); /* filled all the same */
	assert_int_equal(f.stream, 9);
	proto_frame_hdr(fh, PROTO_FRAME_WINDOW, PROTO_FRAME_MAX, 9);
	assert_int_equal(proto_frame_decode(&f, fh, sizeof fh), PROTO_BAD);
	/* DATA may be as long as a frame can say. */
	proto_frame_hdr(fh, PROTO_FRAME_DATA, PROTO_FRAME_MAX, 9);
	assert_int_equal(proto_frame_decode(&f, fh, sizeof fh), 0);
	assert_int_equal(f.len, PROTO_FRAME_MAX);
	/* An unknown type is the caller's to refuse (after its payload). */
	fh[0] = 0x77;
	fh[1] = fh[2] = 0;
	fh[3] = 4;
	assert_int_equal(proto_frame_decode(&f, fh, sizeof fh), 0);
	assert_int_equal(f.type, 0x77);
	assert_int_equal(f.len, 4);
}

/* A program named with control bytes still gets a header the receiver
 * accepts: they travel as '?'. */
static void program_control_bytes_encoded(void **state)
{
	(void)state;
	struct proto_hdr h, back;
	unsigned char wire[PROTO_HDR_MAX];
	memset(&h, 0, sizeof h);
	snprintf(h.service, sizeof h.service, "hello");
	memcpy(h.program, "a\tb\001c\177", 7);
	int n = proto_hdr_encode(&h, wire, sizeof wire);
	assert_true(n > 0);
	assert_int_equal(proto_hdr_decode(&back, wire, (size_t)n), n);
	assert_string_equal(back.program, "a?b?c?");

	/* C1 controls: one '?' a byte; U+00A0 and a lone C2 at the end kept. */
	memcpy(h.program,
	       "\xc2\x9b"
	       "31m\xc2\xa0\xc2\x9d\xc2",
	       10);
	n = proto_hdr_encode(&h, wire, sizeof wire);
	assert_true(n > 0);
	assert_int_equal(proto_hdr_decode(&back, wire, (size_t)n), n);
	assert_string_equal(back.program, "??31m\xc2\xa0??\xc2");

	char s[] = "\x1b]2;x\x07\xc2\x9b\xc2\xa0\x7f\xc2";
	proto_name_clean(s, strlen(s));
	assert_string_equal(s, "?]2;x???\xc2\xa0?\xc2");
	proto_name_clean(s, 0); /* nothing */
}

static void credit_within_window(void **state)
{
	(void)state;
	const uint32_t W = 1024 * 1024;
	assert_true(proto_credit_ok(0, W, W)); /* all of it back */
	assert_true(proto_credit_ok(W, 0, W)); /* an empty WINDOW */
	assert_true(proto_credit_ok(W - 10, 10, W));
	assert_false(proto_credit_ok(W - 10, 11, W)); /* one byte too many */
	assert_false(proto_credit_ok(W, 1, W));
	/* What a u32 sum would wrap to a small, "valid" credit. */
	assert_false(proto_credit_ok(W, 0xffffffffu, W));
	assert_false(proto_credit_ok(1, 0xffffffffu, W));
	assert_false(proto_credit_ok(0, 0xffffffffu, W));
	assert_false(proto_credit_ok(W / 2, 0x100000000ull - W / 2 + 5, W));
	/* A credit already beyond the window is never made valid. */
	assert_false(proto_credit_ok(W + 1, 0, W));
}

/* The WINDOW payload, as stream.c sends and reads it: a big-endian u32,
 * and exactly PROTO_WINDOW_LEN bytes of it. */
static void window_codec(void **state)
{
	(void)state;
	unsigned char v[PROTO_WINDOW_LEN + 1];
	uint32_t credit = 0;
	proto_window_encode(v, 0x01020304);
	const unsigned char want[PROTO_WINDOW_LEN] = { 1, 2, 3, 4 };
	assert_memory_equal(v, want, sizeof want);
	assert_int_equal(proto_window_decode(v, PROTO_WINDOW_LEN, &credit), 0);
	assert_int_equal(credit, 0x01020304u);
	const uint32_t samples[] = { 0, 1, 512 * 1024, 0xffffffffu };
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		proto_window_encode(v, samples[i]);
		assert_int_equal(proto_window_decode(v, PROTO_WINDOW_LEN, &credit), 0);
		assert_int_equal(credit, samples[i]);
	}
	/* Shorter or longer is a protocol error, and credit is left alone. */
	credit = 77;
	for (size_t n = 0; n <= sizeof v; n++)
		if (n != PROTO_WINDOW_LEN)
			assert_int_equal(proto_window_decode(v, n, &credit), PROTO_BAD);
	assert_int_equal(credit, 77);
}

/* PING and PONG carry 8 opaque bytes: a big-endian u64 here, decoded
 * only at exactly that length. */
static void caller_codec(void **state)
{
	(void)state;
	unsigned char v[PROTO_CALLER_MAX + 8];
	char prog[PROTO_NAME_MAX + 1];
	uint32_t pid = 0;
	/* Layout: u32 pid, u8 prog_len, program. */
	int n = proto_caller_encode(v, 0x01020304, "curl");
	assert_int_equal(n, PROTO_CALLER_FIXED + 4);
	assert_memory_equal(v,
	                    "\x01\x02\x03\x04\x04"
	                    "curl",
	                    9);
	assert_int_equal(proto_caller_decode(v, (size_t)n, &pid, prog), 0);
	assert_int_equal(pid, 0x01020304);
	assert_string_equal(prog, "curl");
	/* No program is fine; pid 0 is not. */
	n = proto_caller_encode(v, 7, "");
	assert_int_equal(proto_caller_decode(v, (size_t)n, &pid, prog), 0);
	assert_string_equal(prog, "");
	n = proto_caller_encode(v, 0, "curl");
	assert_int_equal(proto_caller_decode(v, (size_t)n, &pid, prog), PROTO_BAD);
	/* The length must be exactly what prog_len says. */
	n = proto_caller_encode(v, 9, "curl");
	for (int k = 0; k < n; k++)
		assert_int_equal(proto_caller_decode(v, (size_t)k, &pid, prog), PROTO_BAD);
	assert_int_equal(proto_caller_decode(v, (size_t)n + 1, &pid, prog), PROTO_BAD);
	/* A long program is truncated to PROTO_NAME_MAX by encode; 64 on the
	 * wire is refused. */
	char big[100];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	n = proto_caller_encode(v, 9, big);
	assert_int_equal(n, PROTO_CALLER_MAX);
	assert_int_equal(proto_caller_decode(v, (size_t)n, &pid, prog), 0);
	assert_int_equal(strlen(prog), PROTO_NAME_MAX);
	v[4] = PROTO_NAME_MAX + 1;
	v[n] = 'x';
	assert_int_equal(proto_caller_decode(v, (size_t)n + 1, &pid, prog), PROTO_BAD);
	/* Control characters: encode sends '?', decode refuses them. */
	n = proto_caller_encode(v, 9, "a\x1b[0m");
	assert_int_equal(proto_caller_decode(v, (size_t)n, &pid, prog), 0);
	assert_string_equal(prog, "a?[0m");
	static const char *const bad[] = { "a\x1b", "\x7f", "a\xc2\x85", "\t" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t l = strlen(bad[i]);
		proto_put32(v, 9);
		v[4] = (unsigned char)l;
		memcpy(v + PROTO_CALLER_FIXED, bad[i], l);
		assert_int_equal(proto_caller_decode(v, PROTO_CALLER_FIXED + l, &pid, prog),
		                 PROTO_BAD);
	}
	/* A NUL inside the program too. */
	proto_put32(v, 9);
	v[4] = 2;
	memcpy(v + PROTO_CALLER_FIXED, "a\0", 2);
	assert_int_equal(proto_caller_decode(v, PROTO_CALLER_FIXED + 2, &pid, prog), PROTO_BAD);
}

static void ping_codec(void **state)
{
	(void)state;
	unsigned char v[PROTO_PING_LEN + 1];
	uint64_t x = 0;
	proto_ping_encode(v, 0x0102030405060708ull);
	const unsigned char want[PROTO_PING_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_memory_equal(v, want, sizeof want);
	assert_int_equal(proto_ping_decode(v, PROTO_PING_LEN, &x), 0);
	assert_true(x == 0x0102030405060708ull);
	const uint64_t samples[] = { 0, 1, 0xffffffffull, 0xffffffffffffffffull };
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		proto_ping_encode(v, samples[i]);
		assert_int_equal(proto_ping_decode(v, PROTO_PING_LEN, &x), 0);
		assert_true(x == samples[i]);
	}
	/* Any other length is a protocol error, and x is left alone. */
	x = 77;
	for (size_t n = 0; n <= sizeof v; n++)
		if (n != PROTO_PING_LEN)
			assert_int_equal(proto_ping_decode(v, n, &x), PROTO_BAD);
	assert_true(x == 77);
	/* A PING's frame fits what a receiver buffers of a control frame. */
	unsigned char fh[PROTO_FRAME_HDR];
	struct proto_frame_in f;
	proto_frame_hdr(fh, PROTO_FRAME_PING, PROTO_PING_LEN, 0);
	assert_int_equal(proto_frame_decode(&f, fh, sizeof fh), 0);
	assert_int_equal(f.type, PROTO_FRAME_PING);
	assert_int_equal(f.len, PROTO_PING_LEN);
	assert_int_equal(f.stream, 0);
}

/* Stream id 0 is the link's own (PING, PONG); every other frame, known or
 * not, must name a stream. */
static void frame_ids(void **state)
{
	(void)state;
	assert_true(proto_frame_id_ok(PROTO_FRAME_PING, 0));
	assert_true(proto_frame_id_ok(PROTO_FRAME_PONG, 0));
	assert_false(proto_frame_id_ok(PROTO_FRAME_PING, 1));
	assert_false(proto_frame_id_ok(PROTO_FRAME_PONG, 0xffffffffu));
	for (int t = PROTO_FRAME_DATA; t <= PROTO_FRAME_WINDOW; t++) {
		assert_false(proto_frame_id_ok((uint8_t)t, 0));
		assert_true(proto_frame_id_ok((uint8_t)t, 1));
		assert_true(proto_frame_id_ok((uint8_t)t, 0xffffffffu));
	}
	assert_false(proto_frame_id_ok(0x77, 0));
	assert_true(proto_frame_id_ok(0x77, 3));
}

static void open_ids_increase(void **state)
{
	(void)state;
	assert_false(proto_open_id_ok(0, 0)); /* id 0 is no stream */
	assert_true(proto_open_id_ok(1, 0));  /* the first */
	assert_true(proto_open_id_ok(3, 1));  /* gaps are fine */
	assert_false(proto_open_id_ok(3, 3)); /* the same again */
	assert_false(proto_open_id_ok(2, 3)); /* going back */
	assert_true(proto_open_id_ok(0xffffffffu, 0xfffffffeu));
	assert_false(proto_open_id_ok(1, 0xffffffffu)); /* no wrap around */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(trailing_bytes_not_consumed),
		cmocka_unit_test(truncated_every_length),
		cmocka_unit_test(oversized_names),
		cmocka_unit_test(control_chars_rejected),
		cmocka_unit_test(c1_controls_rejected),
		cmocka_unit_test(wrong_magic_and_version),
		cmocka_unit_test(status_codec),
		cmocka_unit_test(reused_flag_round_trip),
		cmocka_unit_test(frame_header_layout),
		cmocka_unit_test(frame_decode),
		cmocka_unit_test(program_control_bytes_encoded),
		cmocka_unit_test(credit_within_window),
		cmocka_unit_test(window_codec),
		cmocka_unit_test(open_ids_increase),
		cmocka_unit_test(ping_codec),
		cmocka_unit_test(caller_codec),
		cmocka_unit_test(frame_ids),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
