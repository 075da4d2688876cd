/* Metrics (metrics.c) from hand-filled shards: sessions of two fake
 * workers go through the data path's hooks (metrics_carried, bytes through
 * the relay's tallies, metrics_ended), then both renders are read back.
 * Checked: the Prometheus text's shape (every sample line well formed,
 * each family one run after its HELP and TYPE), Istio's labels on both
 * reporters, bytes visible while a connection is open, cumulative
 * histogram buckets, label escaping, the 512-series bound with its
 * overflow series and counter, and sums over two shards (one line per
 * label set, not one per worker). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <regex.h>
#include <cmocka.h>

#include "metrics.h"
#include "metrics_int.h"
#include "sbuf.h"
#include "session.h"
#include "worker.h"
#include "version.h"

#define SRC "spiffe://td/svc/web"
#define DST "spiffe://td/svc/hello"

static struct worker w[2];

static int setup(void **state)
{
	(void)state;
	memset(w, 0, sizeof w);
	for (int i = 0; i < 2; i++) {
		w[i].index = (unsigned)i;
		w[i].metrics = metrics_shard_new();
		assert_non_null(w[i].metrics);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		metrics_shard_free(w[i].metrics);
	return 0;
}

static void fill(struct session *s, int wi, enum sess_kind kind, const char *src, const char *svc,
                 const char *peer)
{
	memset(s, 0, sizeof *s);
	s->m = &w[wi];
	s->kind = kind;
	s->t_start = ev_time() - 30; /* lasted half a minute */
	snprintf(s->source, sizeof s->source, "%s", src);
	snprintf(s->svc_name, sizeof s->svc_name, "%s", svc);
	snprintf(s->peer, sizeof s->peer, "%s", peer);
}

/* What the relay does with the bytes it reads (relay.c side_count). */
static void pump(struct session *s, uint64_t to_service, uint64_t to_caller)
{
	assert_non_null(s->relay.side[0].tally);
	assert_non_null(s->relay.side[1].tally);
	*s->relay.side[0].tally += to_service;
	*s->relay.side[1].tally += to_caller;
}

/* An outbound connection carried and ended with result r. */
static void carried(int wi, const char *src, double connect_s, uint64_t up, uint64_t down,
                    enum result r)
{
	struct session s;
	fill(&s, wi, SESS_OUTBOUND, src, "hello", DST);
	s.t_connected = s.t_start + connect_s;
	metrics_carried(&s);
	pump(&s, up, down);
	s.result = r;
	metrics_ended(&s);
}

static char *render(bool json)
{
	static struct sbuf b;
	sbuf_free(&b);
	struct metrics_process p = {
		.w = w, .nw = 2, .start_time = 1764650000.5, .host = "host-a"
	};
	if (json)
		metrics_render_json(&b, &p);
	else
		metrics_render_prometheus(&b, &p);
	assert_false(b.full);
	assert_non_null(b.p);
	return b.p;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static unsigned count_prefix(const char *text, const char *prefix)
{
	unsigned n = 0;
	size_t len = strlen(prefix);
	for (const char *p = text; *p;) {
		if (strncmp(p, prefix, len) == 0)
			n++;
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

#define SERIES(flags)                                  \
	"{reporter=\"source\",source_principal=\"" SRC \
	"\",destination_service=\"hello\","            \
	"destination_principal=\"" DST "\",response_flags=\"" flags "\"}"

static void outbound_series(void **state)
{
	(void)state;
	carried(0, SRC, 0.003, 100, 2000, RESULT_OK);
	/* Refused before it was carried: opened and closed at its end, in
	 * the series of its flag. */
	struct session s;
	fill(&s, 0, SESS_OUTBOUND, SRC, "hello", DST);
	s.result = RESULT_REFUSED;
	metrics_ended(&s);

	char *t = render(false);
	assert_true(has_line(t, "libmesh_tcp_received_bytes_total" SERIES("-") " 100"));
	assert_true(has_line(t, "libmesh_tcp_sent_bytes_total" SERIES("-") " 2000"));
	assert_true(has_line(t, "libmesh_tcp_connections_opened_total" SERIES("-") " 1"));
	assert_true(has_line(t, "libmesh_tcp_connections_closed_total" SERIES("-") " 1"));
	assert_true(has_line(t, "libmesh_tcp_connections_opened_total" SERIES("UF") " 1"));
	assert_true(has_line(t, "libmesh_tcp_connections_closed_total" SERIES("UF") " 1"));
	assert_true(has_line(t, "libmesh_tcp_sent_bytes_total" SERIES("UF") " 0"));
	/* The connect histogram has the carried one only. */
	assert_true(has_line(t, "libmesh_tcp_connect_duration_seconds_count" SERIES("-") " 1"));
	assert_null(strstr(t, "libmesh_tcp_connect_duration_seconds_count" SERIES("UF")));
	assert_true(has_line(t, "libmesh_tcp_connection_duration_seconds_count" SERIES("UF") " 1"));
	assert_true(has_line(t,
	                     "libmesh_tcp_connections_open{reporter=\"source\","
	                     "destination_service=\"hello\"} 0"));
	assert_true(has_line(t, "libmesh_build_info{version=\"" MESHD_VERSION "\"} 1"));
}

/* Every line a comment (HELP/TYPE) or a sample; each family's samples
 * follow its TYPE in one run, and no family is typed twice. */
static void prometheus_shape(void **state)
{
	(void)state;
	carried(0, SRC, 0.001, 1, 1, RESULT_OK);
	carried(1, "spiffe://td/svc/batch", 0.2, 5, 5, RESULT_RESET);
	metrics_service(w[0].metrics, "hello", METRICS_SVC_ATTEMPTS);
	metrics_link(w[1].metrics, false, 1);
	char *t = strdup(render(false));
	regex_t sample, help, type;
	assert_int_equal(regcomp(&sample,
	                         "^(libmesh_[a-z_]+)(\\{[a-z_]+=\"([^\"\\\\]|\\\\.)*\""
	                         "(,[a-z_]+=\"([^\"\\\\]|\\\\.)*\")*\\})? "
	                         "(-?[0-9]+(\\.[0-9]+)?|\\+Inf)$",
	                         REG_EXTENDED),
	                 0);
	assert_int_equal(regcomp(&help, "^# HELP (libmesh_[a-z_]+) [^ ].*$", REG_EXTENDED), 0);
	assert_int_equal(regcomp(&type, "^# TYPE (libmesh_[a-z_]+) (counter|gauge|histogram)$",
	                         REG_EXTENDED),
	                 0);
	char family[128] = "", typed[64][128];
	unsigned ntyped = 0, samples = 0;
	bool histogram = false;
	for (char *save, *line = strtok_r(t, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[2];
		if (regexec(&help, line, 2, m, 0) == 0) {
			snprintf(family, sizeof family, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
			         line + m[1].rm_so);
			continue;
		}
		if (regexec(&type, line, 2, m, 0) == 0) {
			/* TYPE names the family its HELP just named, once. */
			assert_int_equal(strncmp(line + 7, family, strlen(family)), 0);
			for (unsigned i = 0; i < ntyped; i++)
				assert_string_not_equal(typed[i], family);
			assert_true(ntyped < 64);
			snprintf(typed[ntyped++], sizeof typed[0], "%s", family);
			histogram = strstr(line, " histogram") != NULL;
			continue;
		}
		if (regexec(&sample, line, 2, m, 0) != 0)
			fail_msg("not a sample line: %s", line);
		char name[128];
		snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
		         line + m[1].rm_so);
		size_t fl = strlen(family);
		bool ok = strcmp(name, family) == 0 ||
		          (histogram && strncmp(name, family, fl) == 0 &&
		           (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
		            !strcmp(name + fl, "_count")));
		if (!ok)
			fail_msg("sample %s outside its family (after %s)", name, family);
		samples++;
	}
	assert_true(samples > 40);
	assert_true(ntyped >= 20);
	regfree(&sample);
	regfree(&help);
	regfree(&type);
	free(t);
}

static void bytes_while_open(void **state)
{
	(void)state;
	struct session s;
	fill(&s, 1, SESS_OUTBOUND, SRC, "hello", DST);
	s.t_connected = s.t_start + 0.002;
	metrics_carried(&s);
	pump(&s, 4096, 10);
	char *t = render(false);
	assert_true(has_line(t, "libmesh_tcp_received_bytes_total" SERIES("-") " 4096"));
	assert_true(has_line(t, "libmesh_tcp_connections_closed_total" SERIES("-") " 0"));
	assert_true(has_line(t,
	                     "libmesh_tcp_connections_open{reporter=\"source\","
	                     "destination_service=\"hello\"} 1"));
	pump(&s, 1, 0);
	t = render(false);
	assert_true(has_line(t, "libmesh_tcp_received_bytes_total" SERIES("-") " 4097"));
	s.result = RESULT_OK;
	metrics_ended(&s);
	assert_null(s.relay.side[0].tally); /* the relay counts no more */
	t = render(false);
	assert_true(has_line(t,
	                     "libmesh_tcp_connections_open{reporter=\"source\","
	                     "destination_service=\"hello\"} 0"));
	assert_true(has_line(t, "libmesh_tcp_connections_closed_total" SERIES("-") " 1"));
}

static void histograms_cumulative(void **state)
{
	(void)state;
	carried(0, SRC, 0.0001, 0, 0, RESULT_OK);
	carried(0, SRC, 0.003, 0, 0, RESULT_OK);
	carried(1, SRC, 20, 0, 0, RESULT_OK); /* another shard, the same series */
	char *t = render(false);
#define B(le, n)                                                                                \
	assert_true(has_line(t,                                                                 \
	                     "libmesh_tcp_connect_duration_seconds_bucket{reporter=\"source\"," \
	                     "source_principal=\"" SRC "\",destination_service=\"hello\","      \
	                     "destination_principal=\"" DST "\",response_flags=\"-\",le=\"" le  \
	                     "\"} " #n))
	B("0.0005", 1);
	B("0.001", 1);
	B("0.0025", 1);
	B("0.005", 2);
	B("10", 2);
	B("+Inf", 3);
#undef B
	assert_true(has_line(t, "libmesh_tcp_connect_duration_seconds_count" SERIES("-") " 3"));
	char *sum = strstr(t, "libmesh_tcp_connect_duration_seconds_sum" SERIES("-") " ");
	assert_non_null(sum);
	double v = strtod(strchr(sum, '}') + 2, NULL);
	assert_true(v > 20.0030 && v < 20.0032);
	/* Each lasted ~30 s: le 60, not 10. */
	assert_true(strstr(t, "le=\"10\"} 0\nlibmesh_tcp_connection_duration_seconds_bucket"));
	assert_true(strstr(t, "response_flags=\"-\",le=\"60\"} 3\n"));
	char *j = render(true);
	assert_non_null(strstr(j,
	                       "\"connect_seconds\":{\"le\":[0.0005,0.001,0.0025,0.005,0.01,0.025,"
	                       "0.05,0.1,0.25,0.5,1,2.5,5,10],\"buckets\":[1,1,1,2,2,2,2,2,2,2,2,2,"
	                       "2,2,3],\"count\":3,\"sum\":20.00"));
	assert_non_null(strstr(j,
	                       "\"duration_seconds\":{\"le\":[0.01,0.1,1,10,60,300,1800,3600],"
	                       "\"buckets\":[0,0,0,0,3,3,3,3,3],\"count\":3,"));
}

static void labels_escaped(void **state)
{
	(void)state;
	carried(0, "a\"b\\c\nd", 0.001, 7, 0, RESULT_OK);
	char *t = render(false);
	assert_non_null(strstr(t,
	                       "libmesh_tcp_received_bytes_total{reporter=\"source\","
	                       "source_principal=\"a\\\"b\\\\c\\nd\",destination_service"));
	char *j = render(true);
	assert_non_null(strstr(j, "\"source_principal\":\"a\\\"b\\\\c\\u000ad\""));
}

static void inbound_unknown_service(void **state)
{
	(void)state;
	/* A peer asked for a service not served here: its word is no label. */
	struct session s;
	fill(&s, 0, SESS_INBOUND, SRC, "made-up-by-peer", SRC);
	s.result = RESULT_NO_ENDPOINT;
	metrics_ended(&s);
	char *t = render(false);
	assert_null(strstr(t, "made-up-by-peer"));
	assert_true(has_line(t,
	                     "libmesh_tcp_connections_closed_total{reporter=\"destination\","
	                     "source_principal=\"" SRC "\",destination_service=\"unknown\","
	                     "destination_principal=\"unknown\",response_flags=\"NR\"} 1"));
}

static void overflow_bounded(void **state)
{
	(void)state;
	for (int i = 0; i < METRICS_SERIES_MAX + 88; i++) {
		char src[64];
		snprintf(src, sizeof src, "spiffe://td/svc/c%d", i);
		carried(0, src, 0.001, 1, 0, RESULT_OK);
	}
	for (int i = 0; i < METRICS_SERIES_MAX + 3; i++) {
		char svc[32];
		snprintf(svc, sizeof svc, "s%d", i);
		metrics_service(w[0].metrics, svc, METRICS_SVC_ATTEMPTS);
	}
	char *t = render(false);
	assert_int_equal(count_prefix(t, "libmesh_tcp_connections_opened_total{"),
	                 METRICS_SERIES_MAX + 1);
	assert_true(has_line(t,
	                     "libmesh_tcp_connections_opened_total{reporter=\"overflow\","
	                     "source_principal=\"overflow\",destination_service=\"overflow\","
	                     "destination_principal=\"overflow\",response_flags=\"overflow\"} "
	                     "88"));
	assert_int_equal(count_prefix(t, "libmesh_connect_attempts_total{"),
	                 METRICS_SERIES_MAX + 1);
	assert_true(has_line(t,
	                     "libmesh_connect_attempts_total{destination_service=\"overflow\"} 3"));
	/* 88 connections each opened and closed in the overflow series, and
	 * 3 services. */
	assert_true(has_line(t, "libmesh_metrics_series_overflow_total 179"));
	/* One of those already in the table still has its own series. */
	carried(0, "spiffe://td/svc/c7", 0.001, 1, 0, RESULT_OK);
	t = render(false);
	assert_true(has_line(t, "libmesh_metrics_series_overflow_total 179"));
}

/* Five workers, each with its 512 series and 512 services, all distinct
 * and with labels of the longest (SPIFFE IDs of 159 bytes, service names
 * of 63): the render keeps 2048 label sets (the
 * busiest: the 100 with two connections among them) and services, sums
 * the rest into "overflow", and the text fits METRICS_RENDER_MAX, the
 * ceiling /metrics has (it once grew past the 16 MiB of any answer: 500). */
static void render_bounded(void **state)
{
	(void)state;
	metrics_render_forget(); /* what the tests before named */
	enum { NS = 5 };
	static struct worker ws[NS];
	memset(ws, 0, sizeof ws);
	for (unsigned i = 0; i < NS; i++) {
		ws[i].index = i;
		ws[i].metrics = metrics_shard_new();
		assert_non_null(ws[i].metrics);
	}
	for (unsigned i = 0; i < NS; i++) {
		for (unsigned k = 0; k < METRICS_SERIES_MAX; k++) {
			struct session s;
			for (unsigned rep = 0; rep < (i == 0 && k < 100 ? 2u : 1u); rep++) {
				memset(&s, 0, sizeof s);
				s.m = &ws[i];
				s.kind = SESS_OUTBOUND;
				s.t_start = ev_time() - 30;
				s.t_connected = s.t_start + 0.001;
				snprintf(s.source, sizeof s.source, "spiffe://td/%0147u",
				         i * 1000 + k);
				snprintf(s.svc_name, sizeof s.svc_name, "%c%062u", 'a' + i, k);
				snprintf(s.peer, sizeof s.peer, "spiffe://td/%0147u", k);
				metrics_carried(&s);
				s.result = RESULT_RESET;
				metrics_ended(&s);
				metrics_service(ws[i].metrics, s.svc_name, METRICS_SVC_ATTEMPTS);
			}
		}
	}
	struct sbuf b;
	sbuf_init(&b, METRICS_RENDER_MAX);
	struct metrics_process p = { .w = ws, .nw = NS, .start_time = 1, .host = "host-a" };
	metrics_render_prometheus(&b, &p);
	assert_false(b.full);
	print_message("render of %u label sets: %zu bytes (ceiling %u)\n",
	              METRICS_RENDER_MAX_SETS + 1, b.len, METRICS_RENDER_MAX);
	/* Opened in the "-" series, closed in the flag's: two label sets a
	 * connection, 512 a shard (the rest in its overflow entry), 2560 in
	 * all: 2048 kept and the overflow one. */
	assert_int_equal(count_prefix(b.p, "libmesh_tcp_connections_opened_total{"),
	                 METRICS_RENDER_MAX_SETS + 1);
	assert_int_equal(count_prefix(b.p, "libmesh_tcp_connections_closed_total{"),
	                 METRICS_RENDER_MAX_SETS + 1);
	assert_int_equal(count_prefix(b.p, "libmesh_connect_attempts_total{"),
	                 METRICS_RENDER_MAX_SETS + 1);
	/* The 100 busiest are all kept (each a "-" set and a flag set). */
	char line[600];
	snprintf(line, sizeof line,
	         "libmesh_tcp_connections_opened_total{reporter=\"source\",source_principal="
	         "\"spiffe://td/%0147u\",destination_service=\"a%062u\",destination_principal="
	         "\"spiffe://td/%0147u\",response_flags=\"-\"} 2",
	         99, 99, 99);
	assert_true(has_line(b.p, line));
	snprintf(line, sizeof line,
	         "libmesh_connect_attempts_total{destination_service=\"a%062u\"} 2", 99);
	assert_true(has_line(b.p, line));
	/* 5 * 512 + 100 connections: what was not kept is in overflow, so
	 * the totals stay. */
	unsigned long long opened = 0, attempts = 0, v;
	for (const char *q = b.p; (q = strstr(q, "\nlibmesh_tcp_connections_opened_total{")); q++)
		if (sscanf(strchr(q, '}') + 1, " %llu", &v) == 1)
			opened += v;
	for (const char *q = b.p; (q = strstr(q, "\nlibmesh_connect_attempts_total{")); q++)
		if (sscanf(strchr(q, '}') + 1, " %llu", &v) == 1)
			attempts += v;
	assert_int_equal(opened, NS * METRICS_SERIES_MAX + 100);
	assert_int_equal(attempts, NS * METRICS_SERIES_MAX + 100);
	assert_non_null(strstr(b.p,
	                       "\nlibmesh_tcp_connections_opened_total{reporter=\"overflow\","));
	assert_non_null(
		strstr(b.p, "\nlibmesh_connect_attempts_total{destination_service=\"overflow\"}"));
	sbuf_free(&b);
	for (unsigned i = 0; i < NS; i++)
		metrics_shard_free(ws[i].metrics);
}

/* One outbound connection of worker ws[wi] from source number src to
 * service number svc (labels short, distinct per number), ok, carrying
 * up bytes to the service; one attempt counted for the service. */
static void conn_to(struct worker *ws, unsigned wi, unsigned src, unsigned svc, uint64_t up)
{
	struct session s;
	memset(&s, 0, sizeof s);
	s.m = &ws[wi];
	s.kind = SESS_OUTBOUND;
	s.t_start = ev_time() - 1;
	s.t_connected = s.t_start + 0.001;
	snprintf(s.source, sizeof s.source, "spiffe://td/c%u", src);
	snprintf(s.svc_name, sizeof s.svc_name, "s%u", svc);
	snprintf(s.peer, sizeof s.peer, "spiffe://td/p");
	metrics_carried(&s);
	pump(&s, up, 0);
	s.result = RESULT_OK;
	metrics_ended(&s);
	metrics_service(ws[wi].metrics, s.svc_name, METRICS_SVC_ATTEMPTS);
}

/* The value of the sample line that starts with prefix; -1: none. */
static long long sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned long long v;
		if (strncmp(p, prefix, n) == 0 && sscanf(strchr(p, '}') + 1, " %llu", &v) == 1)
			return (long long)v;
	}
	return -1;
}

#define OVERFLOW_SET                                                                             \
	"{reporter=\"overflow\",source_principal=\"overflow\",destination_service=\"overflow\"," \
	"destination_principal=\"overflow\",response_flags=\"overflow\"}"

struct overflow_now {
	long long opened, closed, received, attempts;
};

static void overflow_read(const char *t, struct overflow_now *o)
{
	o->opened = sample(t, "libmesh_tcp_connections_opened_total" OVERFLOW_SET);
	o->closed = sample(t, "libmesh_tcp_connections_closed_total" OVERFLOW_SET);
	o->received = sample(t, "libmesh_tcp_received_bytes_total" OVERFLOW_SET);
	o->attempts = sample(t, "libmesh_connect_attempts_total{destination_service=\"overflow\"}");
}

/* Over the render bound, which label sets keep their names is sticky:
 * sets change rank between scrapes (a folded one becomes the busiest, one
 * named early is overtaken by thousands), and still every overflow
 * counter only grows (a decrease is a counter reset to Prometheus), what
 * was named stays named, and the totals stay exact. Re-ranking at each
 * render fails this: the set that carried the overflow's bytes moves out
 * of it when it becomes busy. */
static void overflow_never_decreases(void **state)
{
	(void)state;
	enum { NS = 6 };
	static struct worker ws[NS];
	memset(ws, 0, sizeof ws);
	for (unsigned i = 0; i < NS; i++) {
		ws[i].index = i;
		ws[i].metrics = metrics_shard_new();
		assert_non_null(ws[i].metrics);
	}
	metrics_render_forget();
	struct sbuf b;
	sbuf_init(&b, METRICS_RENDER_MAX);
	struct metrics_process p = { .w = ws, .nw = NS, .start_time = 1, .host = "host-a" };
	char line[300];
	/* 1. Ten quiet sets, rendered (by name: under the bound). */
	for (unsigned k = 0; k < 10; k++)
		conn_to(ws, 5, 90000 + k, 90000 + k, 0);
	metrics_render_prometheus(&b, &p);
	assert_int_equal(count_prefix(b.p, "libmesh_tcp_connections_opened_total{"), 10);
	assert_int_equal(sample(b.p, "libmesh_tcp_connections_opened_total" OVERFLOW_SET), -1);
	/* 2. 2560 busier sets (two connections each) on shards 0-4; set 0 of
	 * shard 4 is quiet (one connection) but carries a megabyte. */
	for (unsigned i = 0; i < 5; i++)
		for (unsigned k = 0; k < METRICS_SERIES_MAX; k++) {
			unsigned id = i * 1000 + k;
			bool big = i == 4 && k == 0;
			for (unsigned r = 0; r < (big ? 1u : 2u); r++)
				conn_to(ws, i, id, id, big ? 1000000 : 0);
		}
	sbuf_free(&b);
	metrics_render_prometheus(&b, &p);
	assert_false(b.full);
	struct overflow_now o1, o2, o3;
	overflow_read(b.p, &o1);
	/* The ten named first keep their names; 2038 of the new ones (the
	 * busiest: not the quiet big one) fill the rest. */
	assert_int_equal(count_prefix(b.p, "libmesh_tcp_connections_opened_total{"),
	                 METRICS_RENDER_MAX_SETS + 1);
	snprintf(line, sizeof line,
	         "libmesh_tcp_connections_opened_total{reporter=\"source\",source_principal="
	         "\"spiffe://td/c%u\",destination_service=\"s%u\"",
	         90003, 90003);
	assert_int_equal(sample(b.p, line), 1);
	snprintf(line, sizeof line,
	         "libmesh_tcp_connections_opened_total{reporter=\"source\",source_principal="
	         "\"spiffe://td/c%u\",",
	         4000);
	assert_int_equal(sample(b.p, line), -1);
	assert_true(o1.received >= 1000000);
	assert_int_equal(o1.opened,
	                 2 * (5 * METRICS_SERIES_MAX - (METRICS_RENDER_MAX_SETS - 10)) - 1);
	assert_true(o1.attempts > 0);
	/* 3. The quiet big set becomes the busiest of all, and a named set
	 * gets busier too: both keep where they were. */
	for (unsigned r = 0; r < 50; r++) {
		conn_to(ws, 4, 4000, 4000, 0);
		conn_to(ws, 0, 0, 0, 0);
	}
	sbuf_free(&b);
	metrics_render_prometheus(&b, &p);
	overflow_read(b.p, &o2);
	assert_int_equal(sample(b.p, line), -1); /* still folded */
	assert_true(o2.received >= o1.received);
	assert_true(o2.opened >= o1.opened && o2.closed >= o1.closed);
	assert_true(o2.attempts >= o1.attempts);
	assert_int_equal(o2.opened, o1.opened + 50);
	assert_int_equal(o2.attempts, o1.attempts + 50);
	snprintf(line, sizeof line,
	         "libmesh_tcp_connections_opened_total{reporter=\"source\",source_principal="
	         "\"spiffe://td/c%u\",destination_service=\"s%u\"",
	         0, 0);
	assert_int_equal(sample(b.p, line), 52);
	/* 4. New sets of a full shard land in its overflow entry: overflow
	 * only grows, the names stay 2048. */
	for (unsigned k = 0; k < 20; k++)
		conn_to(ws, 0, 50000 + k, 50000 + k, 10);
	sbuf_free(&b);
	metrics_render_prometheus(&b, &p);
	overflow_read(b.p, &o3);
	assert_int_equal(count_prefix(b.p, "libmesh_tcp_connections_opened_total{"),
	                 METRICS_RENDER_MAX_SETS + 1);
	assert_int_equal(o3.opened, o2.opened + 20);
	assert_int_equal(o3.received, o2.received + 200);
	/* The totals are exact throughout. */
	unsigned long long opened = 0, v;
	for (const char *q = b.p; (q = strstr(q, "\nlibmesh_tcp_connections_opened_total{")); q++)
		if (sscanf(strchr(q, '}') + 1, " %llu", &v) == 1)
			opened += v;
	assert_int_equal(opened, 10 + 2 * 5 * METRICS_SERIES_MAX - 1 + 100 + 20);
	sbuf_free(&b);
	for (unsigned i = 0; i < NS; i++)
		metrics_shard_free(ws[i].metrics);
	metrics_render_forget();
}

static void summed_over_shards(void **state)
{
	(void)state;
	carried(0, SRC, 0.001, 10, 1, RESULT_OK);
	carried(1, SRC, 0.001, 32, 2, RESULT_OK);
	carried(1, SRC, 0.001, 0, 0, RESULT_TIMEOUT);
	metrics_service(w[0].metrics, "hello", METRICS_SVC_RETRIES);
	metrics_service(w[1].metrics, "hello", METRICS_SVC_RETRIES);
	metrics_service(w[1].metrics, "hello", METRICS_SVC_AUTHZ_DENY);
	metrics_link(w[0].metrics, true, 1);
	metrics_link(w[1].metrics, true, 1);
	metrics_link(w[1].metrics, false, 1);
	metrics_link(w[1].metrics, false, -1);
	char *t = render(false);
	assert_int_equal(count_prefix(t, "libmesh_tcp_received_bytes_total{"), 2); /* "-", UT */
	assert_true(has_line(t, "libmesh_tcp_received_bytes_total" SERIES("-") " 42"));
	assert_true(has_line(t, "libmesh_tcp_connections_opened_total" SERIES("-") " 3"));
	assert_true(has_line(t, "libmesh_tcp_connections_closed_total" SERIES("-") " 2"));
	assert_true(has_line(t, "libmesh_tcp_connections_closed_total" SERIES("UT") " 1"));
	assert_true(has_line(t, "libmesh_connect_retries_total{destination_service=\"hello\"} 2"));
	assert_true(has_line(t,
	                     "libmesh_authorization_total{decision=\"deny\","
	                     "destination_service=\"hello\"} 1"));
	assert_true(has_line(t,
	                     "libmesh_authorization_total{decision=\"allow\","
	                     "destination_service=\"hello\"} 0"));
	assert_true(has_line(t, "libmesh_links_open{direction=\"in\"} 2"));
	assert_true(has_line(t, "libmesh_links_open{direction=\"out\"} 0"));
	char *j = render(true);
	assert_non_null(strstr(j,
	                       "{\"host\":\"host-a\",\"version\":\"" MESHD_VERSION "\",\"now\":"));
	assert_non_null(
		strstr(j,
	               ",\"start_time\":1764650000.500,\"generation\":0,\"series\":[{"
	               "\"reporter\":\"source\",\"source_principal\":\"" SRC
	               "\",\"destination_service\":\"hello\",\"destination_principal\":\"" DST
	               "\",\"response_flags\":\"-\",\"opened\":3,\"closed\":2,\"open\":0,"
	               "\"sent_bytes\":3,\"received_bytes\":42,\"connect_seconds\":{"));
	assert_non_null(strstr(j,
	                       "\"services\":[{\"service\":\"hello\",\"attempts\":0,\"retries\":2,"
	                       "\"budget_exhausted\":0,\"ejections\":0,\"authz_allow\":0,"
	                       "\"authz_deny\":1}]"));
	assert_non_null(strstr(j, "\"links_open\":{\"out\":0,\"in\":2},\"records_dropped\":0"));
	assert_int_equal(j[strlen(j) - 1], '}');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(outbound_series, setup, teardown),
		cmocka_unit_test_setup_teardown(prometheus_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(bytes_while_open, setup, teardown),
		cmocka_unit_test_setup_teardown(histograms_cumulative, setup, teardown),
		cmocka_unit_test_setup_teardown(labels_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(inbound_unknown_service, setup, teardown),
		cmocka_unit_test_setup_teardown(overflow_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(summed_over_shards, setup, teardown),
		cmocka_unit_test(render_bounded),
		cmocka_unit_test(overflow_never_decreases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
