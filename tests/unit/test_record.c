/* The traffic records' string escaper (json.c, json_escape): valid UTF-8
 * kept byte for byte, every kind of invalid sequence replaced by U+FFFD
 * (one per maximal subpart), quotes, backslashes and control characters
 * (C0, DEL, C1) escaped, and the output bounded without ever cutting a character or an
 * escape in two.
 * Then whole records (record_close into a file): the calling host's claims
 * under "claimed" on inbound records, and a record whose every field is
 * hostile and too long still one line of valid UTF-8 JSON that says it was
 * truncated (checked by a small strict parser below, whose UTF-8 check is
 * the C library's, not ours). Then the live records: progress records
 * whose deltas add up to their totals, an interval after the last record,
 * at most `limit` a sweep and oldest first; the open record. */
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>
#include <cmocka.h>

#include "log.h"
#include "gen.h"
#include "session.h"
#include "worker.h"
#include "tls.h"
#include "record.h"
#include "json.h"

#define FFFD "\xef\xbf\xbd"

/* Escape with plenty of room; the output must be whole. */
static const char *esc(const char *in)
{
	static char out[512];
	bool cut = true;
	size_t n = json_escape(out, sizeof out, in, &cut);
	assert_false(cut);
	assert_int_equal(n, strlen(out));
	return out;
}

static void ascii_kept(void **state)
{
	(void)state;
	assert_string_equal(esc(""), "");
	assert_string_equal(esc("curl"), "curl");
	assert_string_equal(esc("spiffe://mesh.test/svc/client"), "spiffe://mesh.test/svc/client");
	assert_string_equal(esc("a/b <c> ~"), "a/b <c> ~");
}

static void valid_utf8_kept(void **state)
{
	(void)state;
	/* 2, 3 and 4 bytes, at the edges of their ranges. */
	assert_string_equal(esc("caf\xc3\xa9"), "caf\xc3\xa9");             /* U+00E9 */
	assert_string_equal(esc("\xc2\xa0"), "\xc2\xa0");                   /* U+00A0 */
	assert_string_equal(esc("\xdf\xbf"), "\xdf\xbf");                   /* U+07FF */
	assert_string_equal(esc("\xe0\xa0\x80"), "\xe0\xa0\x80");           /* U+0800 */
	assert_string_equal(esc("\xe2\x82\xac"), "\xe2\x82\xac");           /* U+20AC */
	assert_string_equal(esc("\xed\x9f\xbf"), "\xed\x9f\xbf");           /* U+D7FF */
	assert_string_equal(esc("\xee\x80\x80"), "\xee\x80\x80");           /* U+E000 */
	assert_string_equal(esc("\xef\xbf\xbd"), "\xef\xbf\xbd");           /* U+FFFD */
	assert_string_equal(esc("\xf0\x90\x80\x80"), "\xf0\x90\x80\x80");   /* U+10000 */
	assert_string_equal(esc("\xf0\x9f\x98\x80x"), "\xf0\x9f\x98\x80x"); /* U+1F600 */
	assert_string_equal(esc("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");   /* U+10FFFF */
	assert_string_equal(esc("\xe6\x97\xa5\xe6\x9c\xac"), "\xe6\x97\xa5\xe6\x9c\xac");
}

static void invalid_replaced(void **state)
{
	(void)state;
	/* Stray continuation bytes and bytes that never start anything. */
	assert_string_equal(esc("\x80"), FFFD);
	assert_string_equal(esc("a\xbf"
	                        "b"),
	                    "a" FFFD "b");
	assert_string_equal(esc("\xff\xfe"
	                        "curl"),
	                    FFFD FFFD "curl");
	assert_string_equal(esc("\xf5\x80\x80\x80"), FFFD FFFD FFFD FFFD);
	/* Overlong forms: C0/C1 leads, E0 80..9F, F0 80..8F. */
	assert_string_equal(esc("\xc0\xaf"), FFFD FFFD); /* overlong '/' */
	assert_string_equal(esc("\xc1\xbf"), FFFD FFFD);
	assert_string_equal(esc("\xe0\x80\xaf"), FFFD FFFD FFFD);
	assert_string_equal(esc("\xf0\x80\x80\xaf"), FFFD FFFD FFFD FFFD);
	/* Surrogates (ED A0..BF) and code points above U+10FFFF. */
	assert_string_equal(esc("\xed\xa0\x80"), FFFD FFFD FFFD); /* U+D800 */
	assert_string_equal(esc("\xed\xbf\xbf"), FFFD FFFD FFFD); /* U+DFFF */
	assert_string_equal(esc("\xf4\x90\x80\x80"), FFFD FFFD FFFD FFFD);
	/* Sequences cut short: one U+FFFD for the maximal subpart, and the
	 * byte that broke it is read again on its own. */
	assert_string_equal(esc("curl\xc3"), "curl" FFFD);
	assert_string_equal(esc("\xe2\x82"
	                        "x"),
	                    FFFD "x");
	assert_string_equal(esc("\xf0\x9f\x98"), FFFD);
	assert_string_equal(esc("\xf0\x9f"
	                        "\xc3\xa9"),
	                    FFFD "\xc3\xa9");
	assert_string_equal(esc("\xe2\x82\""), FFFD "\\\"");
	assert_string_equal(esc("\xff\xfe"
	                        "curl\xc3"),
	                    FFFD FFFD "curl" FFFD);
}

static void specials_escaped(void **state)
{
	(void)state;
	assert_string_equal(esc("say \"hi\""), "say \\\"hi\\\"");
	assert_string_equal(esc("a\\b"), "a\\\\b");
	assert_string_equal(esc("\n"), "\\u000a");
	assert_string_equal(esc("\x01\x1f"), "\\u0001\\u001f");
	assert_string_equal(esc("tab\there"), "tab\\u0009here");
	assert_string_equal(esc("\x7f"), "\\u007f");
	assert_string_equal(esc("\x1b[31m"), "\\u001b[31m");
	/* The C1 controls, U+0080..U+009F (U+009B is CSI, U+009D OSC); their
	 * neighbours are kept. */
	assert_string_equal(esc("\xc2\x80"), "\\u0080");
	assert_string_equal(esc("\xc2\x9b"
	                        "2J\xc2\x9d"
	                        "0;T\xc2\x9c"),
	                    "\\u009b2J\\u009d0;T\\u009c");
	assert_string_equal(esc("\xc2\x9f\xc2\xa0\xc2\x7f"), "\\u009f\xc2\xa0" FFFD "\\u007f");
	assert_string_equal(esc("\xe0\xc2\x85"), FFFD "\\u0085"); /* after a cut sequence */
}

/* Every prefix of the room: the output is at most cap - 1 bytes, ends
 * with a NUL, is the longest whole-unit prefix of the full escape, and says
 * it was cut exactly when it is shorter than that. */
static void output_bounded(void **state)
{
	(void)state;
	const char *in = "a\"\xc3\xa9\x01\xff\xf0\x9f\x98\x80z";
	/* Unit boundaries of the full output: a " é \u0001 FFFD 😀 z */
	const size_t ends[] = { 0, 1, 3, 5, 11, 14, 18, 19 };
	char full[64];
	size_t flen = json_escape(full, sizeof full, in, NULL);
	assert_int_equal(flen, 19);
	for (size_t cap = 0; cap <= flen + 2; cap++) {
		char out[64];
		memset(out, 'X', sizeof out);
		bool cut = false;
		size_t n = json_escape(out, cap, in, &cut);
		if (cap == 0) {
			assert_int_equal(n, 0);
			assert_true(cut);
			assert_int_equal(out[0], 'X'); /* nothing written */
			continue;
		}
		size_t want = 0;
		for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
			if (ends[i] <= cap - 1)
				want = ends[i];
		assert_int_equal(n, want);
		assert_int_equal(out[n], '\0');
		assert_memory_equal(out, full, n);
		assert_true(cut == (n < flen));
		assert_int_equal(out[cap], 'X'); /* never past cap */
	}
	/* The worst case grows six times (a control character each). */
	char ctl[64], big[6 * 63 + 1];
	memset(ctl, '\x02', 63);
	ctl[63] = '\0';
	bool cut = true;
	assert_int_equal(json_escape(big, sizeof big, ctl, &cut), 6 * 63);
	assert_false(cut);
}

/* ------------------------------------------------ a strict JSON check */

static const char *jv(const char *p, int depth);

static const char *jws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *jstring(const char *p)
{
	if (*p++ != '"')
		return NULL;
	mbstate_t st;
	memset(&st, 0, sizeof st);
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return NULL; /* raw controls: not in our records */
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 5;
			} else if (*p && strchr("\"\\/bfnrt", *p)) {
				p++;
			} else {
				return NULL;
			}
			continue;
		}
		wchar_t w;
		size_t n = mbrtowc(&w, p, MB_LEN_MAX, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
			return NULL;
		if (w >= 0xd800 && w <= 0xdfff)
			return NULL;
		p += n;
	}
	return p + 1;
}

static const char *jnumber(const char *p)
{
	const char *q = p;
	while (*q >= '0' && *q <= '9')
		q++;
	if (q == p)
		return NULL;
	if (*q == '.') {
		const char *r = ++q;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q == r)
			return NULL;
	}
	return q;
}

static const char *jobject(const char *p, int depth)
{
	if (*p++ != '{' || depth > 4)
		return NULL;
	p = jws(p);
	if (*p == '}')
		return p + 1;
	for (;;) {
		if (!(p = jstring(jws(p))) || *(p = jws(p)) != ':')
			return NULL;
		if (!(p = jv(jws(p + 1), depth)))
			return NULL;
		p = jws(p);
		if (*p == '}')
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *jv(const char *p, int depth)
{
	if (*p == '{')
		return jobject(p, depth + 1);
	if (*p == '"')
		return jstring(p);
	if (strncmp(p, "true", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return jnumber(p);
}

/* One record line: a JSON object, then the newline, then nothing. */
static bool json_line_ok(const char *line)
{
	const char *end = jobject(line, 0);
	return end && strcmp(end, "\n") == 0;
}

static void parser_is_strict(void **state)
{
	(void)state;
	assert_true(json_line_ok("{\"a\":\"caf\xc3\xa9\",\"b\":{\"c\":1},\"d\":true}\n"));
	assert_false(json_line_ok("{\"a\":\"\xff\"}\n"));
	assert_false(json_line_ok("{\"a\":\"\xed\xa0\x80\"}\n"));
	assert_false(json_line_ok("{\"a\":\"\xc0\xaf\"}\n"));
	assert_false(json_line_ok("{\"a\":\"x\x01\"}\n"));
	assert_false(json_line_ok("{\"a\":1\"}\n"));
	assert_false(json_line_ok("{\"a\":\"\\u00\"}\n"));
	assert_false(json_line_ok("{\"a\":{\"b\":1}\n"));
}

/* ------------------------------------------------ whole records */

static char logpath[] = "/tmp/test_record.XXXXXX";
static struct config cfg;
static struct gen gen;

static int setup_log(void **state)
{
	(void)state;
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		return -1;
	int fd = mkstemp(logpath);
	if (fd == -1)
		return -1;
	close(fd);
	cfg.host = "b";
	gen.cfg = &cfg;
	return traffic_open(logpath);
}

static int teardown_log(void **state)
{
	(void)state;
	traffic_close();
	unlink(logpath);
	return 0;
}

/* record_close(s) and the line it wrote. */
static char *record_of(struct session *s)
{
	FILE *f = fopen(logpath, "w"); /* empty the file; the log appends */
	assert_non_null(f);
	fclose(f);
	record_close(s);
	static char line[8192];
	f = fopen(logpath, "r");
	assert_non_null(f);
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = '\0';
	assert_true(n > 0 && n <= 2048);
	assert_ptr_equal(strchr(line, '\n'), line + n - 1); /* one line */
	return line;
}

static struct session *new_session(enum sess_kind kind)
{
	struct session *s = calloc(1, sizeof *s);
	assert_non_null(s);
	s->gen = &gen;
	s->kind = kind;
	s->uid = PROTO_UID_UNKNOWN;
	s->t_start = ev_time();
	return s;
}

static void inbound_claims_apart(void **state)
{
	(void)state;
	struct session *s = new_session(SESS_INBOUND);
	s->id = 0x1234;
	snprintf(s->source, sizeof s->source, "spiffe://mesh.test/svc/client");
	s->claims = true;
	s->claimed_uid = 0;
	s->claimed_pid = 1;
	snprintf(s->claimed_program, sizeof s->claimed_program, "sshd");
	char *l = record_of(s);
	assert_true(json_line_ok(l));
	assert_non_null(strstr(l, ",\"claimed\":{\"uid\":0,\"pid\":1,\"program\":\"sshd\"},"));
	assert_non_null(strstr(l, "\"id\":\"0000000000001234\""));
	/* Once each: only inside "claimed". */
	assert_null(strstr(strstr(l, "\"uid\":") + 1, "\"uid\":"));
	assert_null(strstr(strstr(l, "\"program\":") + 1, "\"program\":"));
	assert_null(strstr(l, "truncated"));

	/* Nothing claimed (uid unknown, no pid, no program): no "claimed". */
	s->claimed_uid = PROTO_UID_UNKNOWN;
	s->claimed_pid = 0;
	s->claimed_program[0] = '\0';
	l = record_of(s);
	assert_true(json_line_ok(l));
	assert_null(strstr(l, "claimed"));
	assert_null(strstr(l, "\"uid\""));
	free(s);
}

static void outbound_facts_top_level(void **state)
{
	(void)state;
	struct session *s = new_session(SESS_OUTBOUND);
	s->uid = 0;
	s->pid = 4242;
	snprintf(s->program, sizeof s->program,
	         "\xff\xfe"
	         "curl\xc3");
	char *l = record_of(s);
	assert_true(json_line_ok(l));
	assert_non_null(strstr(l, ",\"uid\":0,\"pid\":4242,\"program\":\"" FFFD FFFD "curl" FFFD
	                          "\""));
	assert_null(strstr(l, "claimed"));
	free(s);
}

/* Every string field as long as it can be and made of what escapes
 * worst (six bytes per byte), or of invalid UTF-8 (three): far more than
 * a record holds. The line stays whole, valid and says so. */
static void hostile_fields_truncated_validly(void **state)
{
	(void)state;
	for (int variant = 0; variant < 4; variant++) {
		struct session *s = new_session(variant & 1 ? SESS_INBOUND : SESS_OUTBOUND);
		char fill = variant & 2 ? '\x01' : '\xff';
		char *fields[] = { s->client, s->source, s->svc_name, s->endpoint,
			           s->peer,   s->detail, s->program,  s->claimed_program };
		size_t sizes[] = { sizeof s->client,   sizeof s->source,         sizeof s->svc_name,
			           sizeof s->endpoint, sizeof s->peer,           sizeof s->detail,
			           sizeof s->program,  sizeof s->claimed_program };
		for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
			memset(fields[i], fill, sizes[i] - 1);
			fields[i][sizes[i] - 1] = '\0';
		}
		s->claims = true;
		s->claimed_uid = 7;
		s->claimed_pid = 8;
		s->tls_up = true;
		s->result = RESULT_DENIED;
		char *l = record_of(s);
		assert_true(json_line_ok(l));
		size_t n = strlen(l);
		if (variant & 2) {
			/* 6 x (64+160+64+64+160+160+64) bytes cannot fit. */
			assert_true(n > 2000);
			assert_string_equal(l + n - strlen(",\"truncated\":true}\n"),
			                    ",\"truncated\":true}\n");
		}
		free(s);
	}
}

/* ------------------------------------------------ live records */

static struct worker worker;

static void log_empty(void)
{
	FILE *f = fopen(logpath, "w");
	assert_non_null(f);
	fclose(f);
}

/* The log's whole text (records since log_empty) and its line count. */
static char *log_text(unsigned *lines)
{
	static char text[1 << 22];
	FILE *f = fopen(logpath, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	*lines = 0;
	for (char *p = text; (p = strchr(p, '\n')); p++)
		(*lines)++;
	return text;
}

static struct session *relaying(uint64_t id)
{
	struct session *s = new_session(SESS_OUTBOUND);
	s->m = &worker;
	s->id = id;
	s->t_connected = s->t_start;
	s->tls_up = true;
	snprintf(s->svc_name, sizeof s->svc_name, "stream");
	return s;
}

/* One connection: no record until an interval has passed since the relay
 * started, then one per interval with the bytes since the last; each
 * progress total is the sum of the deltas so far, and the close record
 * says the totals. */
static void progress_deltas_add_up(void **state)
{
	(void)state;
	cfg.open_records = false;
	log_empty();
	struct session *s = relaying(0xabc);
	record_open(s, 100.0);
	unsigned n;
	log_text(&n);
	assert_int_equal(n, 0); /* open_records off: no open record */

	s->relay.side[0].bytes_read = 1000;
	s->relay.side[1].bytes_read = 10;
	assert_int_equal(record_progress(&worker, 100.999, 1.0, 1024), 0);
	assert_int_equal(record_progress(&worker, 101.0, 1.0, 1024), 1);
	char *l = log_text(&n);
	assert_int_equal(n, 1);
	assert_true(json_line_ok(l));
	assert_non_null(strstr(l, "\"event\":\"progress\",\"id\":\"0000000000000abc\""));
	assert_non_null(strstr(l,
	                       ",\"bytes_sent\":1000,\"bytes_received\":10,"
	                       "\"bytes_sent_delta\":1000,\"bytes_received_delta\":10,"
	                       "\"tls\":\"TLSv1.3\""));
	assert_non_null(strstr(l, "\"duration_ms\":"));
	assert_null(strstr(l, "\"result\""));

	/* The next is an interval after the last record, not after the start. */
	log_empty();
	s->relay.side[0].bytes_read = 1500;
	assert_int_equal(record_progress(&worker, 101.9, 1.0, 1024), 0);
	assert_int_equal(record_progress(&worker, 102.0, 1.0, 1024), 1);
	l = log_text(&n);
	assert_non_null(strstr(l,
	                       ",\"bytes_sent\":1500,\"bytes_received\":10,"
	                       "\"bytes_sent_delta\":500,\"bytes_received_delta\":0,"));
	/* Nothing moved: a record still comes, with deltas of 0. */
	log_empty();
	assert_int_equal(record_progress(&worker, 103.5, 1.0, 1024), 1);
	l = log_text(&n);
	assert_non_null(strstr(l, "\"bytes_sent_delta\":0,\"bytes_received_delta\":0,"));

	/* Out of the queue at its end: the close record has the totals. */
	record_unqueue(s);
	assert_null(worker.progress_head);
	assert_null(worker.progress_tail);
	assert_int_equal(record_progress(&worker, 200.0, 1.0, 1024), 0);
	l = record_of(s);
	assert_non_null(strstr(l, "\"event\":\"close\""));
	assert_non_null(strstr(l, ",\"bytes_sent\":1500,\"bytes_received\":10,\"tls\""));
	assert_null(strstr(l, "delta"));
	free(s);
}

/* open_records = on: one "open" record as the relay starts, the close
 * record's fields but no result. */
static void open_record_fields(void **state)
{
	(void)state;
	cfg.open_records = true;
	log_empty();
	struct session *s = relaying(0x77);
	s->uid = 0;
	s->pid = 99;
	snprintf(s->program, sizeof s->program, "python3");
	record_open(s, 5.0);
	unsigned n;
	char *l = log_text(&n);
	assert_int_equal(n, 1);
	assert_true(json_line_ok(l));
	assert_non_null(strstr(l,
	                       "\"event\":\"open\",\"id\":\"0000000000000077\",\"direction\":"
	                       "\"outbound\",\"host\":\"b\""));
	assert_non_null(strstr(l,
	                       ",\"uid\":0,\"pid\":99,\"program\":\"python3\",\"service\":"
	                       "\"stream\","));
	assert_non_null(strstr(l, ",\"bytes_sent\":0,\"bytes_received\":0,\"tls\""));
	assert_null(strstr(l, "\"result\""));
	assert_null(strstr(l, "delta"));
	assert_ptr_equal(worker.progress_head, s); /* and it is in the queue */
	record_unqueue(s);
	record_unqueue(s); /* twice: a no-op */
	assert_null(worker.progress_head);
	cfg.open_records = false;
	free(s);
}

/* Many connections due at once: at most `limit` records a sweep, oldest
 * first, the rest at the next; each written one goes to the end, so
 * nobody is written twice before everybody once. Sessions leaving from
 * the head, the middle and the end keep the queue whole. */
#define MANY 3000
static void sweep_bounded_oldest_first(void **state)
{
	(void)state;
	static struct session *ss[MANY];
	for (unsigned i = 0; i < MANY; i++) {
		ss[i] = relaying(i);
		record_open(ss[i], (double)i / 1000.0); /* 0 .. 2.999 */
	}
	log_empty();
	unsigned n;
	/* At 3.5 with an interval of 1 s, the first 2501 are due. */
	assert_int_equal(record_progress(&worker, 3.5, 1.0, 1024), 1024);
	char *l = log_text(&n);
	assert_int_equal(n, 1024);
	assert_non_null(strstr(l, "\"id\":\"0000000000000000\""));
	assert_non_null(strstr(l, "\"id\":\"00000000000003ff\""));
	assert_null(strstr(l, "\"id\":\"0000000000000400\""));
	assert_int_equal(record_progress(&worker, 3.5, 1.0, 1024), 1024);
	assert_int_equal(record_progress(&worker, 3.5, 1.0, 1024), 453);
	assert_int_equal(record_progress(&worker, 3.5, 1.0, 1024), 0);
	log_text(&n);
	assert_int_equal(n, 2501);
	assert_ptr_equal(worker.progress_head, ss[2501]);
	assert_ptr_equal(worker.progress_tail, ss[2500]);

	record_unqueue(ss[2501]); /* head */
	record_unqueue(ss[2500]); /* tail */
	record_unqueue(ss[10]);   /* middle */
	unsigned count = 0;
	const struct session *prev = NULL;
	for (const struct session *q = worker.progress_head; q; q = q->rec_next) {
		assert_ptr_equal(q->rec_prev, prev);
		prev = q;
		count++;
	}
	assert_int_equal(count, MANY - 3);
	assert_ptr_equal(worker.progress_tail, prev);
	/* Much later every one is due: all of them, in three sweeps. */
	assert_int_equal(record_progress(&worker, 100.0, 1.0, 1024) +
	                         record_progress(&worker, 100.0, 1.0, 1024) +
	                         record_progress(&worker, 100.0, 1.0, 1024),
	                 MANY - 3);
	assert_int_equal(record_progress(&worker, 100.0, 1.0, 1024), 0);
	for (unsigned i = 0; i < MANY; i++) {
		record_unqueue(ss[i]);
		free(ss[i]);
	}
	assert_null(worker.progress_head);
	assert_null(worker.progress_tail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ascii_kept),
		cmocka_unit_test(valid_utf8_kept),
		cmocka_unit_test(invalid_replaced),
		cmocka_unit_test(specials_escaped),
		cmocka_unit_test(output_bounded),
		cmocka_unit_test(parser_is_strict),
		cmocka_unit_test(inbound_claims_apart),
		cmocka_unit_test(outbound_facts_top_level),
		cmocka_unit_test(hostile_fields_truncated_validly),
		cmocka_unit_test(progress_deltas_add_up),
		cmocka_unit_test(open_record_fields),
		cmocka_unit_test(sweep_bounded_oldest_first),
	};
	return cmocka_run_group_tests_name("record", tests, setup_log, teardown_log);
}
