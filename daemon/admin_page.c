/*
 * The status page: see admin_page.h. It is rendered from the same JSON the
 * API serves (/stats, /endpoints, /connections, /links, /failures), read
 * back with a small JSON reader, so that the page and the API cannot
 * disagree and the page needs no second way into the metrics. Everything shown is escaped
 * for HTML: service names, identities and program names come from configs
 * and callers.
 *
 * Stable for tests and scrapers: table#services, table#endpoints,
 * table#links, table#failures, table#connections, and one
 * tr[data-service="NAME"] per service in table#services, one
 * tr[data-id="ID"] (the record's connection id) per row of table#failures.
 */
#include "admin_page.h"
#include "admin_views.h"
#include "gen.h"
#include "config.h"
#include "metrics.h"
#include "sbuf.h"
#include "version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a small JSON reader, for the views' own output ---- */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jv {
	enum jt t;
	double n;
	char *s;       /* J_STR */
	struct jv **v; /* J_ARR, J_OBJ: values */
	char **k;      /* J_OBJ: keys */
	unsigned len, cap;
};

static void jfree(struct jv *j)
{
	if (!j)
		return;
	for (unsigned i = 0; i < j->len; i++) {
		jfree(j->v[i]);
		if (j->k)
			free(j->k[i]);
	}
	free(j->v);
	free(j->k);
	free(j->s);
	free(j);
}

struct jp {
	const char *p, *end;
	int depth;
};

static void ws(struct jp *p)
{
	while (p->p < p->end && (*p->p == ' ' || *p->p == '\n' || *p->p == '\t' || *p->p == '\r'))
		p->p++;
}

static char *jstring(struct jp *p)
{
	if (p->p >= p->end || *p->p != '"')
		return NULL;
	p->p++;
	struct sbuf b;
	sbuf_init(&b, 1 << 20);
	while (p->p < p->end && *p->p != '"') {
		char c = *p->p++;
		if (c == '\\' && p->p < p->end) {
			char e = *p->p++;
			if (e == 'u' && p->end - p->p >= 4) {
				/* The views escape only control bytes this way: keep
				 * it visible, as U+FFFD. */
				p->p += 4;
				sbuf_puts(&b, "\xef\xbf\xbd");
				continue;
			}
			c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
		}
		sbuf_add(&b, &c, 1);
	}
	if (p->p >= p->end || b.full) {
		sbuf_free(&b);
		return NULL;
	}
	p->p++;
	char *s = b.p ? b.p : strdup("");
	return s;
}

static struct jv *jvalue(struct jp *p);

static bool jpush(struct jv *j, char *key, struct jv *v)
{
	if (j->len == j->cap) {
		unsigned cap = j->cap ? j->cap * 2 : 8;
		struct jv **nv = realloc(j->v, cap * sizeof *nv);
		if (!nv)
			return false;
		j->v = nv;
		if (j->t == J_OBJ) {
			char **nk = realloc(j->k, cap * sizeof *nk);
			if (!nk)
				return false;
			j->k = nk;
		}
		j->cap = cap;
	}
	if (j->t == J_OBJ)
		j->k[j->len] = key;
	j->v[j->len++] = v;
	return true;
}

static struct jv *jcontainer(struct jp *p, enum jt t)
{
	struct jv *j = calloc(1, sizeof *j);
	if (!j || ++p->depth > 32)
		goto fail;
	j->t = t;
	p->p++;
	ws(p);
	char close = t == J_ARR ? ']' : '}';
	if (p->p < p->end && *p->p == close) {
		p->p++;
		p->depth--;
		return j;
	}
	for (;;) {
		char *key = NULL;
		ws(p);
		if (t == J_OBJ) {
			key = jstring(p);
			ws(p);
			if (!key || p->p >= p->end || *p->p != ':') {
				free(key);
				goto fail;
			}
			p->p++;
		}
		struct jv *v = jvalue(p);
		if (!v || !jpush(j, key, v)) {
			free(key);
			jfree(v);
			goto fail;
		}
		ws(p);
		if (p->p < p->end && *p->p == ',') {
			p->p++;
			continue;
		}
		if (p->p < p->end && *p->p == close) {
			p->p++;
			p->depth--;
			return j;
		}
		goto fail;
	}
fail:
	jfree(j);
	return NULL;
}

static struct jv *jvalue(struct jp *p)
{
	ws(p);
	if (p->p >= p->end)
		return NULL;
	char c = *p->p;
	if (c == '{')
		return jcontainer(p, J_OBJ);
	if (c == '[')
		return jcontainer(p, J_ARR);
	struct jv *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	if (c == '"') {
		j->t = J_STR;
		if (!(j->s = jstring(p))) {
			free(j);
			return NULL;
		}
	} else if (p->end - p->p >= 4 && !memcmp(p->p, "null", 4)) {
		j->t = J_NULL;
		p->p += 4;
	} else if (p->end - p->p >= 4 && !memcmp(p->p, "true", 4)) {
		j->t = J_BOOL;
		j->n = 1;
		p->p += 4;
	} else if (p->end - p->p >= 5 && !memcmp(p->p, "false", 5)) {
		j->t = J_BOOL;
		p->p += 5;
	} else {
		char *e;
		j->t = J_NUM;
		j->n = strtod(p->p, &e);
		if (e == p->p) {
			free(j);
			return NULL;
		}
		p->p = e;
	}
	return j;
}

static struct jv *jparse(const struct sbuf *b)
{
	struct jp p = { b->p, b->p + b->len, 0 };
	return b->len ? jvalue(&p) : NULL;
}

static const struct jv *jget(const struct jv *j, const char *key)
{
	if (!j || j->t != J_OBJ)
		return NULL;
	for (unsigned i = 0; i < j->len; i++)
		if (strcmp(j->k[i], key) == 0)
			return j->v[i];
	return NULL;
}

static double jnum(const struct jv *j, const char *key)
{
	const struct jv *v = jget(j, key);
	return v && (v->t == J_NUM || v->t == J_BOOL) ? v->n : 0;
}

static const char *jstr(const struct jv *j, const char *key)
{
	const struct jv *v = jget(j, key);
	return v && v->t == J_STR ? v->s : NULL;
}

static unsigned jlen(const struct jv *j)
{
	return j && j->t == J_ARR ? j->len : 0;
}

/* ---- HTML ---- */

static void esc(struct sbuf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			sbuf_puts(out, "&lt;");
			break;
		case '>':
			sbuf_puts(out, "&gt;");
			break;
		case '&':
			sbuf_puts(out, "&amp;");
			break;
		case '"':
			sbuf_puts(out, "&quot;");
			break;
		case '\'':
			sbuf_puts(out, "&#39;");
			break;
		default:
			sbuf_add(out, s, 1);
		}
	}
}

static void td(struct sbuf *out, const char *s)
{
	sbuf_puts(out, "<td>");
	esc(out, s && *s ? s : "-");
	sbuf_puts(out, "</td>");
}

static void tdn(struct sbuf *out, double n)
{
	sbuf_printf(out, "<td class=\"n\">%.0f</td>", n);
}

static void bytes_td(struct sbuf *out, double n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;
	while (n >= 1024 && u < 4) {
		n /= 1024;
		u++;
	}
	sbuf_printf(out, u ? "<td class=\"n\">%.1f %s</td>" : "<td class=\"n\">%.0f %s</td>", n,
	            unit[u]);
}

/* A quantile of cumulative buckets, interpolated linearly in its bucket
 * (as Prometheus' histogram_quantile); < 0 when there is no sample. */
static double quantile(const double *le, const double *cum, unsigned n, double q)
{
	if (n == 0 || cum[n - 1] <= 0)
		return -1;
	double rank = q * cum[n - 1];
	for (unsigned i = 0; i < n; i++) {
		if (cum[i] >= rank) {
			double lo = i ? le[i - 1] : 0, below = i ? cum[i - 1] : 0;
			double hi = isinf(le[i]) ? lo : le[i];
			double in = cum[i] - below;
			return in > 0 ? lo + (hi - lo) * (rank - below) / in : hi;
		}
	}
	return le[n - 1];
}

#define PAGE_MAX_LE 32
struct svc_row {
	double open, opened, closed, sent, received;
	double le[PAGE_MAX_LE], cum[PAGE_MAX_LE];
	unsigned nle;
	char flags[256];
};

static void add_series(struct svc_row *r, const struct jv *s)
{
	const char *flags = jstr(s, "response_flags");
	r->open += jnum(s, "open");
	r->opened += jnum(s, "opened");
	r->closed += jnum(s, "closed");
	r->sent += jnum(s, "sent_bytes");
	r->received += jnum(s, "received_bytes");
	if (flags && strcmp(flags, "-") != 0 && jnum(s, "closed") > 0) {
		size_t l = strlen(r->flags);
		snprintf(r->flags + l, sizeof r->flags - l, "%s%s:%.0f", l ? " " : "", flags,
		         jnum(s, "closed"));
	}
	const struct jv *h = jget(s, "connect_seconds");
	const struct jv *le = jget(h, "le"), *b = jget(h, "buckets");
	unsigned n = jlen(b);
	if (n == 0 || n > PAGE_MAX_LE || jlen(le) + 1 != n)
		return;
	r->nle = n;
	for (unsigned i = 0; i < n; i++) {
		r->le[i] = i + 1 < n ? le->v[i]->n : INFINITY;
		r->cum[i] += b->v[i]->n;
	}
}

static void ms_td(struct sbuf *out, double secs)
{
	if (secs < 0)
		sbuf_puts(out, "<td class=\"n\">-</td>");
	else
		sbuf_printf(out, "<td class=\"n\">%.1f</td>", secs * 1e3);
}

static void services_table(struct sbuf *out, const struct admin_ctx *x, const struct jv *stats)
{
	const struct config *c = x->gen->cfg;
	const struct jv *series = jget(stats, "series");
	sbuf_puts(out,
	          "<h2>Services</h2><table id=\"services\"><tr><th>service</th><th>as</th>"
	          "<th>open</th><th>opened</th><th>closed</th><th>failures (flag:count)</th>"
	          "<th>sent</th><th>received</th><th>p50 connect ms</th>"
	          "<th>p99 connect ms</th></tr>\n");
	for (unsigned i = 0; i < c->nservices; i++) {
		const char *name = c->services[i].name;
		for (int rep = 0; rep < 2; rep++) {
			const char *reporter = rep ? "destination" : "source";
			struct svc_row r;
			memset(&r, 0, sizeof r);
			unsigned seen = 0;
			for (unsigned k = 0; k < jlen(series); k++) {
				const struct jv *s = series->v[k];
				const char *svc = jstr(s, "destination_service");
				const char *who = jstr(s, "reporter");
				if (svc && who && !strcmp(svc, name) && !strcmp(who, reporter)) {
					add_series(&r, s);
					seen++;
				}
			}
			/* A service this host only calls shows as "source", one it
			 * serves as "destination"; both when it does both. */
			bool serves = c->services[i].nupstreams > 0;
			if (!seen && (rep ? !serves : serves))
				continue;
			sbuf_puts(out, "<tr data-service=\"");
			esc(out, name);
			sbuf_printf(out, "\" data-reporter=\"%s\">", reporter);
			td(out, name);
			td(out, rep ? "served" : "called");
			tdn(out, r.open);
			tdn(out, r.opened);
			tdn(out, r.closed);
			td(out, r.flags);
			bytes_td(out, r.sent);
			bytes_td(out, r.received);
			ms_td(out, quantile(r.le, r.cum, r.nle, 0.5));
			ms_td(out, quantile(r.le, r.cum, r.nle, 0.99));
			sbuf_puts(out, "</tr>\n");
		}
	}
	sbuf_puts(out, "</table>\n");
}

/* The 20 newest failed connections of all workers (/failures): when (UTC,
 * and how long ago), who called what, and what went wrong. */
static void failures_table(struct sbuf *out, const struct admin_ctx *x, const struct jv *fails)
{
	const struct jv *l = jget(fails, "failures");
	sbuf_puts(out,
	          "<h2>Recent failures</h2><table id=\"failures\"><tr><th>time (UTC)</th>"
	          "<th>ago</th><th>service</th><th>direction</th><th>source</th><th>endpoint</th>"
	          "<th>result</th><th>detail</th></tr>\n");
	for (unsigned i = 0; i < jlen(l); i++) {
		const struct jv *f = l->v[i];
		double t = jnum(f, "time");
		time_t secs = (time_t)t;
		struct tm tm;
		char hms[16] = "-";
		if (gmtime_r(&secs, &tm))
			strftime(hms, sizeof hms, "%H:%M:%S", &tm);
		double ago = x->now - t;
		sbuf_puts(out, "<tr class=\"bad\" data-id=\"");
		esc(out, jstr(f, "id"));
		sbuf_printf(out, "\"><td>%s</td><td class=\"n\">%.0f s ago</td>", hms,
		            ago > 0 ? ago : 0);
		td(out, jstr(f, "service"));
		td(out, jstr(f, "direction"));
		td(out, jstr(f, "source"));
		td(out, jstr(f, "endpoint"));
		td(out, jstr(f, "result"));
		td(out, jstr(f, "detail"));
		sbuf_puts(out, "</tr>\n");
	}
	if (jlen(l) == 0)
		sbuf_puts(out, "<tr><td colspan=\"8\">(none since start)</td></tr>\n");
	sbuf_puts(out, "</table>\n");
}

static void endpoints_table(struct sbuf *out, const struct jv *eps)
{
	const struct jv *svcs = jget(eps, "services");
	sbuf_puts(out,
	          "<h2>Endpoints</h2><table id=\"endpoints\"><tr><th>service</th>"
	          "<th>endpoint</th><th>tier</th><th>weight</th><th>state</th>"
	          "<th>in flight</th><th>connections</th><th>EWMA ms</th><th>failures in a row</th>"
	          "<th>ejections</th><th>last</th></tr>\n");
	for (unsigned i = 0; i < jlen(svcs); i++) {
		const struct jv *e = jget(svcs->v[i], "endpoints");
		for (unsigned k = 0; k < jlen(e); k++) {
			const struct jv *ep = e->v[k];
			const char *st = jstr(ep, "state");
			sbuf_printf(out, "<tr class=\"%s\">",
			            st && strcmp(st, "healthy") ? "bad" : "good");
			td(out, jstr(svcs->v[i], "service"));
			td(out, jstr(ep, "endpoint"));
			tdn(out, jnum(ep, "tier"));
			tdn(out, jnum(ep, "weight"));
			td(out, st);
			tdn(out, jnum(ep, "in_flight"));
			tdn(out, jnum(ep, "connections"));
			sbuf_printf(out, "<td class=\"n\">%.2f</td>", jnum(ep, "ewma_ms"));
			tdn(out, jnum(ep, "consecutive_failures"));
			tdn(out, jnum(ep, "ejections"));
			td(out, jstr(ep, "last_result"));
			sbuf_puts(out, "</tr>\n");
		}
	}
	sbuf_puts(out, "</table>\n");
}

static void links_table(struct sbuf *out, const struct jv *links)
{
	const struct jv *l = jget(links, "links");
	sbuf_puts(out,
	          "<h2>Links</h2><table id=\"links\"><tr><th>worker</th><th>direction</th>"
	          "<th>peer</th><th>address</th><th>streams</th><th>age s</th>"
	          "<th>RTT ms</th><th>state</th></tr>\n");
	for (unsigned i = 0; i < jlen(l); i++) {
		const struct jv *k = l->v[i];
		sbuf_puts(out, "<tr>");
		tdn(out, jnum(k, "worker"));
		td(out, jstr(k, "direction"));
		td(out, jstr(k, "peer"));
		td(out, jstr(k, "address"));
		tdn(out, jnum(k, "streams"));
		tdn(out, jnum(k, "age_s"));
		const struct jv *rtt = jget(k, "rtt_ms");
		if (rtt && rtt->t == J_NUM)
			sbuf_printf(out, "<td class=\"n\">%.2f</td>", rtt->n);
		else
			td(out, NULL);
		td(out, jstr(k, "state"));
		sbuf_puts(out, "</tr>\n");
	}
	sbuf_puts(out, "</table>\n");
}

static void connections_table(struct sbuf *out, const struct jv *conns)
{
	const struct jv *l = jget(conns, "connections");
	sbuf_puts(out,
	          "<h2>Open connections</h2><table id=\"connections\"><tr><th>id</th>"
	          "<th>direction</th><th>service</th><th>state</th><th>age s</th>"
	          "<th>source</th><th>peer</th><th>program</th><th>endpoint</th>"
	          "<th>sent</th><th>received</th></tr>\n");
	for (unsigned i = 0; i < jlen(l); i++) {
		const struct jv *k = l->v[i];
		sbuf_puts(out, "<tr data-service=\"");
		esc(out, jstr(k, "service"));
		sbuf_puts(out, "\">");
		td(out, jstr(k, "id"));
		td(out, jstr(k, "direction"));
		td(out, jstr(k, "service"));
		td(out, jstr(k, "state"));
		sbuf_printf(out, "<td class=\"n\">%.1f</td>", jnum(k, "age_s"));
		td(out, jstr(k, "source"));
		td(out, jstr(k, "peer"));
		td(out, jstr(k, "program"));
		td(out, jstr(k, "endpoint"));
		bytes_td(out, jnum(k, "bytes_sent"));
		bytes_td(out, jnum(k, "bytes_received"));
		sbuf_puts(out, "</tr>\n");
	}
	if (jget(conns, "truncated") && jnum(conns, "truncated"))
		sbuf_puts(out, "<tr><td colspan=\"11\">(the first 50 only)</td></tr>\n");
	sbuf_puts(out, "</table>\n");
}

static const char css[] =
	"body{font:13px/1.4 sans-serif;margin:1em;color:#222;background:#fafafa}"
	"h1{font-size:18px;margin:0 0 .3em}h2{font-size:15px;margin:1.2em 0 .3em}"
	"table{border-collapse:collapse;background:#fff}"
	"th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;white-space:nowrap}"
	"th{background:#e8eef4}td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"tr.bad td{background:#fde2e2}tr.good td{background:#e6f4e6}"
	".meta td{border:none;padding:0 1em 0 0}.err{color:#a00}";

void admin_page_render(struct sbuf *out, const struct admin_ctx *x)
{
	const struct config *c = x->gen->cfg;
	struct sbuf b[5];
	for (int i = 0; i < 5; i++)
		sbuf_init(&b[i], 0);
	struct metrics_process mp = {
		.w = x->w, .nw = x->nw, .gen = x->gen, .start_time = x->start_time, .host = c->host
	};
	metrics_render_json(&b[0], &mp);
	admin_view_endpoints(&b[1], x);
	admin_view_links(&b[2], x);
	admin_view_connections(&b[3], x, 50);
	admin_view_failures(&b[4], x, 20);
	struct jv *stats = jparse(&b[0]), *eps = jparse(&b[1]), *links = jparse(&b[2]),
		  *conns = jparse(&b[3]), *fails = jparse(&b[4]);

	sbuf_puts(out,
	          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	          "<meta http-equiv=\"refresh\" content=\"5\"><title>meshd ");
	esc(out, c->host);
	sbuf_printf(out, "</title><style>%s</style></head><body>\n<h1>meshd ", css);
	esc(out, c->host);
	sbuf_puts(out,
	          "</h1>\n<table class=\"meta\" id=\"meta\"><tr><td>version</td><td>" MESHD_VERSION
	          "</td></tr>");
	double up = x->now - x->start_time;
	sbuf_printf(out,
	            "<tr><td>generation</td><td id=\"generation\">%llu</td></tr>"
	            "<tr><td>uptime</td><td>%.0f s</td></tr><tr><td>ready</td><td>%s",
	            (unsigned long long)c->generation, up, x->ready ? "yes" : "no: ");
	if (!x->ready)
		esc(out, x->not_ready);
	sbuf_puts(out, "</td></tr><tr><td>last reload</td><td id=\"last_reload\">");
	if (!x->reloaded) {
		sbuf_puts(out, "none since start");
	} else {
		sbuf_printf(out, "%s, %.0f s ago", x->reload_accepted ? "accepted" : "rejected",
		            x->now - x->reload_time);
		if (x->reload_errors) {
			sbuf_puts(out, "<pre class=\"err\">");
			esc(out, x->reload_errors);
			sbuf_puts(out, "</pre>");
		}
	}
	sbuf_printf(out,
	            "</td></tr><tr><td>links open</td><td>%u</td></tr>"
	            "<tr><td>records dropped</td><td>%.0f</td></tr></table>\n",
	            jlen(jget(links, "links")), jnum(stats, "records_dropped"));
	services_table(out, x, stats);
	endpoints_table(out, eps);
	links_table(out, links);
	failures_table(out, x, fails);
	connections_table(out, conns);
	sbuf_puts(out,
	          "<p>JSON: <a href=\"/stats\">/stats</a> <a href=\"/config\">/config</a> "
	          "<a href=\"/connections\">/connections</a> <a href=\"/endpoints\">/endpoints</a> "
	          "<a href=\"/links\">/links</a> <a href=\"/failures\">/failures</a>; "
	          "Prometheus: <a href=\"/metrics\">/metrics</a></p>\n</body></html>\n");
	jfree(stats);
	jfree(eps);
	jfree(links);
	jfree(conns);
	jfree(fails);
	for (int i = 0; i < 5; i++)
		sbuf_free(&b[i]);
}
