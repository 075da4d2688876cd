/*
 * The admin API's JSON views: see admin_views.h. /config shows the
 * generation in force as meshd understood it (defaults filled in, VIPs
 * assigned), with paths to certificates and keys, never their contents.
 * /connections, /links and /failures are asked of each worker
 * (worker_query), which answers from its own loop; /endpoints reads the generation's endpoint
 * sets (endpoint_view: atomics, and the outlier state under its lock).
 */
#include "admin_views.h"
#include "worker.h"
#include "session.h"
#include "gen.h"
#include "config.h"
#include "endpoint.h"
#include "link.h"
#include "shimctl.h"
#include "recent.h"
#include "tls.h"
#include "net.h"
#include "sbuf.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void admin_json_lines(struct sbuf *out, const char *lines)
{
	sbuf_puts(out, "[");
	bool first = true;
	for (const char *p = lines; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n) {
			char line[1024];
			snprintf(line, sizeof line, "%.*s",
			         (int)(n < sizeof line ? n : sizeof line - 1), p);
			sbuf_puts(out, first ? "" : ",");
			sbuf_json_str(out, line);
			first = false;
		}
		p = e ? e + 1 : p + n;
	}
	sbuf_puts(out, "]");
}

/* ---- /config ---- */

enum kind { K_STR, K_ADDR, K_CIDR, K_CIDR6, K_DUR, K_COUNT, K_AUTO, K_BOOL, K_LB, K_RATIO, K_ADDRS };
struct mesh_key {
	const char *name;
	enum kind kind;
	size_t off, aux; /* aux: K_ADDR's "on" flag, K_CIDR's prefix */
};
#define CO(f) offsetof(struct config, f)
/* Every key of [mesh] (tests/unit/test_admin_http.c checks this against
 * the loader's table). */
static const struct mesh_key mesh_keys[] = {
	{ "trust_domain", K_STR, CO(trust_domain), 0 },
	{ "host", K_STR, CO(host), 0 },
	{ "ca", K_STR, CO(ca), 0 },
	{ "inbound", K_ADDR, CO(inbound), CO(inbound_on) },
	{ "admin", K_ADDR, CO(admin), CO(admin_on) },
	{ "log", K_STR, CO(log), 0 },
	{ "vip_range", K_CIDR, CO(vip_net), CO(vip_prefix) },
	{ "vip6_range", K_CIDR6, CO(vip6_net), CO(vip6_prefix) },
	{ "snapshot", K_STR, CO(snapshot), 0 },
	{ "suffix", K_STR, CO(suffix), 0 },
	{ "connect_timeout", K_DUR, CO(connect_timeout), 0 },
	{ "retries", K_COUNT, CO(retries), 0 },
	{ "idle_timeout", K_DUR, CO(idle_timeout), 0 },
	{ "lb", K_LB, CO(lb), 0 },
	{ "ewma_decay", K_DUR, CO(ewma_decay), 0 },
	{ "drain_timeout", K_DUR, CO(drain_timeout), 0 },
	{ "workers", K_AUTO, CO(workers), 0 },
	{ "control", K_STR, CO(control), 0 },
	{ "handshake_timeout", K_DUR, CO(handshake_timeout), 0 },
	{ "max_handshakes", K_COUNT, CO(max_handshakes), 0 },
	{ "max_handshakes_per_source", K_COUNT, CO(max_handshakes_per_source), 0 },
	{ "max_streams_per_link", K_COUNT, CO(max_streams_per_link), 0 },
	{ "max_connections_per_uid", K_AUTO, CO(max_conns_per_uid), 0 },
	{ "max_connections_per_peer", K_AUTO, CO(max_conns_per_peer), 0 },
	{ "max_control_per_uid", K_COUNT, CO(max_control_per_uid), 0 },
	{ "max_pending_per_control", K_COUNT, CO(max_pending_per_control), 0 },
	{ "max_pending_per_uid", K_COUNT, CO(max_pending_per_uid), 0 },
	{ "consecutive_failures", K_COUNT, CO(consecutive_failures), 0 },
	{ "base_ejection", K_DUR, CO(base_ejection), 0 },
	{ "max_ejection", K_DUR, CO(max_ejection), 0 },
	{ "max_ejection_percent", K_COUNT, CO(max_ejection_percent), 0 },
	{ "retry_budget", K_RATIO, CO(retry_budget), 0 },
	{ "retry_min_per_s", K_COUNT, CO(retry_min_per_s), 0 },
	{ "link_timeout", K_DUR, CO(link_timeout), 0 },
	{ "progress_interval", K_DUR, CO(progress_interval), 0 },
	{ "open_records", K_BOOL, CO(open_records), 0 },
	{ "dns", K_ADDR, CO(dns), CO(dns_on) },
	{ "resolvers", K_ADDRS, CO(resolvers), CO(nresolvers) },
	{ "dns_ttl_min", K_DUR, CO(dns_ttl_min), 0 },
	{ "dns_ttl_max", K_DUR, CO(dns_ttl_max), 0 },
	{ "dns_timeout", K_DUR, CO(dns_timeout), 0 },
};
#define NKEYS (sizeof mesh_keys / sizeof mesh_keys[0])

const unsigned admin_mesh_key_count = NKEYS;

const char *admin_mesh_key_name(unsigned i)
{
	return i < NKEYS ? mesh_keys[i].name : NULL;
}

static const char *lb_name(enum cfg_lb lb)
{
	return lb == CFG_LB_ROUND_ROBIN  ? "round_robin"
	       : lb == CFG_LB_LEAST_CONN ? "least_conn"
	                                 : "p2c_ewma";
}

static void addr_json(struct sbuf *out, const struct cfg_addr *a)
{
	char b[64];
	sbuf_json_str(out, net_addr_str(a, b, sizeof b));
}

/* ---- the keys a reload cannot change ---- */

static const char *const restart_keys[ADMIN_RESTART_KEYS] = { "admin", "control", "workers",
	                                                      "dns" };

unsigned admin_pending_restart(const struct admin_running *run, const struct config *c,
                               const char *names[ADMIN_RESTART_KEYS])
{
	unsigned n = 0;
	if (run->admin_on != c->admin_on || (c->admin_on && !net_addr_eq(&run->admin, &c->admin)))
		names[n++] = restart_keys[0];
	if (strcmp(run->control ? run->control : "", c->control ? c->control : "") != 0)
		names[n++] = restart_keys[1];
	if (run->workers != c->workers)
		names[n++] = restart_keys[2];
	if (run->dns_on != c->dns_on || (c->dns_on && !net_addr_eq(&run->dns, &c->dns)))
		names[n++] = restart_keys[3];
	return n;
}

const char *admin_restart_value(const char *key, const struct admin_running *run,
                                const struct config *c, char *buf, size_t len)
{
	if (strcmp(key, "admin") == 0) {
		bool on = run ? run->admin_on : c->admin_on;
		if (!on)
			snprintf(buf, len, "off");
		else
			net_addr_str(run ? &run->admin : &c->admin, buf, len);
	} else if (strcmp(key, "dns") == 0) {
		bool on = run ? run->dns_on : c->dns_on;
		if (!on)
			snprintf(buf, len, "off");
		else
			net_addr_str(run ? &run->dns : &c->dns, buf, len);
	} else if (strcmp(key, "control") == 0) {
		snprintf(buf, len, "%s", run ? run->control : c->control);
	} else {
		unsigned w = run ? run->workers : c->workers;
		if (w)
			snprintf(buf, len, "%u", w);
		else
			snprintf(buf, len, "auto");
	}
	return buf;
}

/* Every [mesh] key of c; those a reload cannot change as they run
 * (run), when known. */
static void mesh_json(struct sbuf *out, const struct config *c, const struct admin_running *run)
{
	const char *base = (const char *)c;
	sbuf_puts(out, "{");
	for (unsigned i = 0; i < NKEYS; i++) {
		const struct mesh_key *k = &mesh_keys[i];
		const void *f = base + k->off;
		char b[PATH_MAX];
		sbuf_printf(out, "%s\"%s\":", i ? "," : "", k->name);
		bool restart_only = false;
		for (unsigned r = 0; r < ADMIN_RESTART_KEYS; r++)
			restart_only |= strcmp(k->name, restart_keys[r]) == 0;
		if (run && restart_only) {
			admin_restart_value(k->name, run, c, b, sizeof b);
			if (k->kind == K_AUTO && run->workers)
				sbuf_puts(out, b); /* a number, as the file's would be */
			else
				sbuf_json_str(out, b);
			continue;
		}
		switch (k->kind) {
		case K_STR:
			sbuf_json_str(out, *(char *const *)f);
			break;
		case K_ADDR:
			if (*(const bool *)(base + k->aux))
				addr_json(out, f);
			else
				sbuf_puts(out, "\"off\"");
			break;
		case K_CIDR:
			inet_ntop(AF_INET, f, b, sizeof b);
			sbuf_printf(out, "\"%s/%u\"", b, *(const unsigned *)(base + k->aux));
			break;
		case K_CIDR6: /* prefix 0: off */
			if (*(const unsigned *)(base + k->aux)) {
				char b6[INET6_ADDRSTRLEN];
				inet_ntop(AF_INET6, f, b6, sizeof b6);
				sbuf_printf(out, "\"%s/%u\"", b6,
				            *(const unsigned *)(base + k->aux));
			} else {
				sbuf_puts(out, "\"off\"");
			}
			break;
		case K_DUR:
		case K_RATIO:
			sbuf_printf(out, "%g", *(const double *)f);
			break;
		case K_COUNT:
			sbuf_printf(out, "%u", *(const unsigned *)f);
			break;
		case K_AUTO:
			if (*(const unsigned *)f)
				sbuf_printf(out, "%u", *(const unsigned *)f);
			else
				sbuf_puts(out, "\"auto\"");
			break;
		case K_BOOL:
			sbuf_puts(out, *(const bool *)f ? "true" : "false");
			break;
		case K_LB:
			sbuf_printf(out, "\"%s\"", lb_name(*(const enum cfg_lb *)f));
			break;
		case K_ADDRS: /* none: /etc/resolv.conf's, read at start and reload */
			sbuf_puts(out, "[");
			for (unsigned a = 0; a < *(const unsigned *)(base + k->aux); a++) {
				sbuf_puts(out, a ? "," : "");
				addr_json(out, (const struct cfg_addr *)f + a);
			}
			sbuf_puts(out, "]");
			break;
		}
	}
	sbuf_puts(out, "}");
}

static void identities_json(struct sbuf *out, const struct gen *g)
{
	const struct config *c = g->cfg;
	sbuf_puts(out, "[");
	for (unsigned i = 0; i < c->nidentities; i++) {
		const struct cfg_identity *id = &c->identities[i];
		sbuf_printf(out, "%s{\"name\":", i ? "," : "");
		sbuf_json_str(out, id->name);
		sbuf_puts(out, ",\"spiffe\":");
		sbuf_json_str(out, id->spiffe);
		sbuf_puts(out, ",\"uids\":");
		if (id->any_uid) {
			sbuf_puts(out, "\"*\"");
		} else {
			sbuf_puts(out, "[");
			for (unsigned u = 0; u < id->nuids; u++)
				sbuf_printf(out, "%s%u", u ? "," : "", (unsigned)id->uids[u]);
			sbuf_puts(out, "]");
		}
		sbuf_puts(out, ",\"cert\":");
		sbuf_json_str(out, id->cert);
		sbuf_puts(out, ",\"key\":");
		sbuf_json_str(out, id->key);
		const char *name;
		double nb, na;
		if (g->tls && tls_identity_validity(g->tls, i, &name, &nb, &na) == 0)
			sbuf_printf(out, ",\"not_after\":%.0f}", na);
		else
			sbuf_puts(out, ",\"not_after\":null}");
	}
	sbuf_puts(out, "]");
}

static void names_json(struct sbuf *out, char *const *names, unsigned n, bool any)
{
	if (any) {
		sbuf_puts(out, "\"*\"");
		return;
	}
	sbuf_puts(out, "[");
	for (unsigned i = 0; i < n; i++) {
		sbuf_puts(out, i ? "," : "");
		sbuf_json_str(out, names[i]);
	}
	sbuf_puts(out, "]");
}

static void service_json(struct sbuf *out, const struct cfg_service *s)
{
	char vip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &s->vip, vip, sizeof vip);
	sbuf_puts(out, "{\"name\":");
	sbuf_json_str(out, s->name);
	sbuf_printf(out, ",\"vip\":\"%s\"", vip);
	if (!IN6_IS_ADDR_UNSPECIFIED(&s->vip6)) {
		char vip6[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &s->vip6, vip6, sizeof vip6);
		sbuf_printf(out, ",\"vip6\":\"%s\"", vip6);
	}
	sbuf_puts(out, ",\"ports\":[");
	for (unsigned p = 0; p < s->nports; p++)
		sbuf_printf(out, "%s%u", p ? "," : "", s->ports[p]);
	sbuf_puts(out, "],\"endpoints\":[");
	for (unsigned e = 0; e < s->nendpoints; e++) {
		const struct cfg_endpoint *ep = &s->endpoints[e];
		sbuf_printf(out, "%s{\"address\":", e ? "," : "");
		sbuf_json_str(out, ep->text);
		sbuf_printf(out, ",\"weight\":%u,\"tier\":%u,\"local\":%s",
		            ep->weight ? ep->weight : 1, ep->tier, ep->local ? "true" : "false");
		if (ep->source) {
			sbuf_puts(out, ",\"source\":");
			sbuf_json_str(out, ep->source);
		}
		sbuf_puts(out, "}");
	}
	sbuf_puts(out, "],\"upstream\":");
	if (!s->nupstreams) {
		sbuf_puts(out, "null");
	} else {
		sbuf_puts(out, "[");
		for (unsigned u = 0; u < s->nupstreams; u++) {
			sbuf_printf(out, "%s{\"port\":%u,\"address\":", u ? "," : "",
			            s->upstreams[u].port);
			addr_json(out, &s->upstreams[u].addr);
			sbuf_puts(out, "}");
		}
		sbuf_puts(out, "]");
	}
	sbuf_puts(out, ",\"identity\":");
	sbuf_json_str(out, s->identity);
	sbuf_puts(out, ",\"allow\":");
	names_json(out, s->allow, s->nallow, s->allow_any);
	sbuf_printf(out,
	            ",\"lb\":\"%s\",\"connect_timeout\":%g,\"retries\":%u,\"idle_timeout\":%g,"
	            "\"max_connections\":%u,\"consecutive_failures\":%u,\"base_ejection\":%g,"
	            "\"max_ejection\":%g,\"max_ejection_percent\":%u,\"retry_budget\":%g,"
	            "\"retry_min_per_s\":%u,\"line\":%d}",
	            lb_name(s->lb), s->connect_timeout, s->retries, s->idle_timeout,
	            s->max_connections, s->consecutive_failures, s->base_ejection, s->max_ejection,
	            s->max_ejection_percent, s->retry_budget, s->retry_min_per_s, s->line);
}

void admin_view_config(struct sbuf *out, const struct admin_ctx *x)
{
	const struct config *c = x->gen->cfg;
	sbuf_puts(out, "{\"path\":");
	sbuf_json_str(out, c->path);
	sbuf_printf(out, ",\"generation\":%llu,\"loaded\":%.3f,\"last_reload\":",
	            (unsigned long long)c->generation, x->start_time);
	if (!x->reloaded) {
		sbuf_puts(out, "null");
	} else {
		sbuf_printf(out, "{\"time\":%.3f,\"result\":\"%s\",\"errors\":", x->reload_time,
		            x->reload_accepted ? "accepted" : "rejected");
		admin_json_lines(out, x->reload_errors);
		sbuf_puts(out, ",\"warnings\":");
		admin_json_lines(out, x->reload_warnings);
		sbuf_puts(out, "}");
	}
	/* mesh shows admin, control and workers as they run; a different
	 * value in the file waits for a restart. */
	const char *pend[ADMIN_RESTART_KEYS];
	unsigned npend = x->running ? admin_pending_restart(x->running, c, pend) : 0;
	sbuf_puts(out, ",\"pending_restart\":[");
	for (unsigned i = 0; i < npend; i++)
		sbuf_printf(out, "%s\"%s\"", i ? "," : "", pend[i]);
	sbuf_puts(out, "],\"mesh\":");
	mesh_json(out, c, x->running);
	sbuf_puts(out, ",\"identities\":");
	identities_json(out, x->gen);
	sbuf_puts(out, ",\"services\":[");
	for (unsigned i = 0; i < c->nservices; i++) {
		sbuf_puts(out, i ? "," : "");
		service_json(out, &c->services[i]);
	}
	sbuf_puts(out, "]}\n");
}

/* ---- /connections and /links: asked of each worker ---- */

struct conns_arg {
	unsigned limit;
	double now; /* the worker's loop time is ev_now; age is measured on it */
};

static const char *state_name(const struct session *s)
{
	switch (s->state) {
	case S_CONNECTING:
	case S_UP_CONNECT:
		return "connecting";
	case S_WAIT_STATUS:
		return "waiting";
	case S_BACKOFF:
		return "backoff";
	case S_RELAY:
		return "relay";
	default:
		return "closed";
	}
}

static void opt_str(struct sbuf *out, const char *key, const char *v)
{
	sbuf_printf(out, ",\"%s\":", key);
	sbuf_json_str(out, v && *v ? v : NULL);
}

/* In the worker's loop: its sessions, up to limit, as objects. When the
 * buffer's ceiling (the worker's share of the answer) is reached, the
 * object being written is taken back, so that what is there is whole
 * objects, and out->full says the list was cut. */
static void conns_query(struct worker *m, struct sbuf *out, const void *argp)
{
	const struct conns_arg *arg = argp;
	unsigned n = 0;
	double now = ev_now(m->loop);
	for (struct session *s = m->sessions; s && n < arg->limit; s = s->next, n++) {
		size_t mark = out->len;
		bool outb = s->kind == SESS_OUTBOUND;
		sbuf_printf(out,
		            "%s{\"id\":\"%016llx\",\"direction\":\"%s\",\"worker\":%u,"
		            "\"state\":\"%s\",\"age_s\":%.3f",
		            n ? "," : "", (unsigned long long)s->id, outb ? "outbound" : "inbound",
		            m->index, state_name(s), now - s->t_start);
		opt_str(out, "service", s->svc_name);
		if (s->port)
			sbuf_printf(out, ",\"port\":%u", s->port);
		else
			sbuf_puts(out, ",\"port\":null");
		opt_str(out, "endpoint", s->endpoint);
		opt_str(out, "source", s->source);
		opt_str(out, "peer", s->peer);
		if (outb && s->uid != PROTO_UID_UNKNOWN)
			sbuf_printf(out, ",\"uid\":%u", s->uid);
		else
			sbuf_puts(out, ",\"uid\":null");
		uint32_t pid = 0;
		char program[sizeof s->program] = "";
		if (outb)
			shimctl_caller(s, &pid, program, sizeof program);
		if (pid)
			sbuf_printf(out, ",\"pid\":%u", pid);
		else
			sbuf_puts(out, ",\"pid\":null");
		opt_str(out, "program", program);
		opt_str(out, "client", s->client);
		/* As in records: side[0] is the caller (outbound) or the stream
		 * (inbound), so what was read from it went towards the service. */
		sbuf_printf(out, ",\"attempts\":%u,\"bytes_sent\":%llu,\"bytes_received\":%llu}",
		            s->attempts, (unsigned long long)s->relay.side[0].bytes_read,
		            (unsigned long long)s->relay.side[1].bytes_read);
		if (out->full) {
			out->len = mark;
			if (out->p)
				out->p[mark] = '\0';
			break;
		}
	}
	(void)arg->now;
}

static void links_query(struct worker *m, struct sbuf *out, const void *arg)
{
	(void)arg;
	link_view(m, out);
}

/* Ask every worker (at most 64), each answering into a buffer of ceiling
 * `each` (0: sbuf's default); returns how many were asked. */
static unsigned ask(const struct admin_ctx *x, worker_query_fn *fn, const void *arg, size_t arglen,
                    size_t each, struct sbuf *outs, bool *ok)
{
	unsigned nw = x->nw > 64 ? 64 : x->nw;
	for (unsigned i = 0; i < nw; i++)
		sbuf_init(&outs[i], each);
	worker_query(x->w, nw, fn, arg, arglen, outs, ok, 1.0);
	return nw;
}

/* Ask every worker; their answers joined with commas into out. Returns
 * whether each answered (a worker that did not is named in *missing). */
static bool ask_all(struct sbuf *out, const struct admin_ctx *x, worker_query_fn *fn,
                    const void *arg, size_t arglen, unsigned *missing)
{
	struct sbuf outs[64];
	bool ok[64];
	bool all = true, any = false;
	unsigned nw = ask(x, fn, arg, arglen, 0, outs, ok);
	for (unsigned i = 0; i < nw; i++) {
		if (!ok[i]) {
			all = false;
			*missing = i;
		} else if (outs[i].len) {
			sbuf_puts(out, any ? "," : "");
			sbuf_add(out, outs[i].p, outs[i].len);
			any = true;
		}
		out->full |= outs[i].full;
		sbuf_free(&outs[i]);
	}
	return all;
}

static void host_head(struct sbuf *out, const struct admin_ctx *x)
{
	sbuf_puts(out, "{\"host\":");
	sbuf_json_str(out, x->gen->cfg->host);
	sbuf_printf(out, ",\"now\":%.3f", x->now);
}

static void missing_tail(struct sbuf *out, bool all, unsigned missing)
{
	if (all)
		sbuf_puts(out, ",\"unanswered\":[]");
	else
		sbuf_printf(out, ",\"unanswered\":[%u]", missing);
}

/*
 * Each worker gives up to limit + 1 objects (one more says there were
 * more), within its share of out's ceiling less 64 KiB for the rest, so
 * the whole always fits: a busy host's answer is cut ("truncated": true),
 * never too big (500). The join stops at limit objects. Ids are hex and
 * strings are escaped, so "{\"id\":" starts exactly one object.
 */
void admin_view_connections(struct sbuf *out, const struct admin_ctx *x, unsigned limit)
{
	struct conns_arg arg = { .limit = limit + 1, .now = x->now };
	size_t total = out->max ? out->max : SBUF_MAX_DEFAULT;
	size_t rest = total / 16 < ADMIN_VIEW_RESERVE ? total / 16 : ADMIN_VIEW_RESERVE;
	unsigned nw = x->nw > 64 ? 64 : x->nw ? x->nw : 1;
	struct sbuf outs[64];
	bool ok[64];
	nw = ask(x, conns_query, &arg, sizeof arg, (total - rest) / nw, outs, ok);
	bool all = true, truncated = false;
	unsigned n = 0, missing = 0;
	host_head(out, x);
	sbuf_puts(out, ",\"connections\":[");
	for (unsigned i = 0; i < nw; i++) {
		const struct sbuf *b = &outs[i];
		if (!ok[i]) {
			all = false;
			missing = i;
			continue;
		}
		truncated |= b->full; /* cut at its share */
		size_t cut = b->len;
		unsigned k = 0;
		for (const char *p = b->p; p && (p = strstr(p, "{\"id\":")) != NULL; p++, k++)
			if (n + k == limit) {
				truncated = true;
				cut = p > b->p ? (size_t)(p - b->p) - 1 : 0; /* and its comma */
				break;
			}
		if (k) {
			sbuf_puts(out, n ? "," : "");
			sbuf_add(out, b->p, cut);
			n += k;
		}
	}
	for (unsigned i = 0; i < nw; i++)
		sbuf_free(&outs[i]);
	sbuf_printf(out, "],\"truncated\":%s", truncated ? "true" : "false");
	missing_tail(out, all, missing);
	sbuf_puts(out, "}\n");
}

void admin_view_links(struct sbuf *out, const struct admin_ctx *x)
{
	unsigned missing = 0;
	host_head(out, x);
	sbuf_puts(out, ",\"links\":[");
	bool ok = ask_all(out, x, links_query, NULL, 0, &missing);
	sbuf_puts(out, "]");
	missing_tail(out, ok, missing);
	sbuf_puts(out, "}\n");
}

/* ---- /failures ---- */

/* In the worker's loop: copies of its newest entries (up to the limit),
 * as they are: the admin thread merges all workers' by time. */
static void failures_query(struct worker *m, struct sbuf *out, const void *argp)
{
	unsigned limit = *(const unsigned *)argp;
	for (unsigned i = 0; m->recent && i < limit; i++) {
		const struct recent_entry *e = recent_at(m->recent, i);
		if (!e || !sbuf_add(out, e, sizeof *e))
			break;
	}
}

static int newest_first(const void *a, const void *b)
{
	const struct recent_entry *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void failure_json(struct sbuf *out, const struct recent_entry *e)
{
	sbuf_printf(out, "{\"time\":%.3f,\"id\":\"%016llx\",\"direction\":\"%s\",\"worker\":%u",
	            e->time, (unsigned long long)e->id, e->outbound ? "outbound" : "inbound",
	            e->worker);
	opt_str(out, "service", e->service);
	if (e->port)
		sbuf_printf(out, ",\"port\":%u", e->port);
	else
		sbuf_puts(out, ",\"port\":null");
	opt_str(out, "source", e->source);
	opt_str(out, "endpoint", e->endpoint);
	opt_str(out, "peer", e->peer);
	opt_str(out, "result", result_word(e->result));
	opt_str(out, "flag", result_flag(e->result));
	opt_str(out, "detail", e->detail);
	if (e->outbound && e->uid != PROTO_UID_UNKNOWN)
		sbuf_printf(out, ",\"uid\":%u", e->uid);
	else
		sbuf_puts(out, ",\"uid\":null");
	if (e->pid)
		sbuf_printf(out, ",\"pid\":%u", e->pid);
	else
		sbuf_puts(out, ",\"pid\":null");
	opt_str(out, "program", e->program);
	sbuf_puts(out, "}");
}

void admin_view_failures(struct sbuf *out, const struct admin_ctx *x, unsigned limit)
{
	unsigned nw = x->nw > 64 ? 64 : x->nw;
	unsigned each = limit < RECENT_MAX ? limit : RECENT_MAX;
	struct sbuf outs[64];
	bool ok[64];
	for (unsigned i = 0; i < nw; i++)
		sbuf_init(&outs[i], 0);
	worker_query(x->w, nw, failures_query, &each, sizeof each, outs, ok, 1.0);
	/* At most RECENT_MAX from each of at most 64 workers. */
	struct recent_entry *all = calloc((size_t)nw * RECENT_MAX + 1, sizeof *all);
	size_t n = 0;
	bool answered = true;
	unsigned missing = 0;
	for (unsigned i = 0; i < nw; i++) {
		if (!ok[i]) {
			answered = false;
			missing = i;
		}
		size_t k = outs[i].len / sizeof *all;
		if (all && ok[i] && k > 0 && k <= RECENT_MAX) { /* p is NULL when k is 0 */
			memcpy(all + n, outs[i].p, k * sizeof *all);
			n += k;
		}
		sbuf_free(&outs[i]);
	}
	if (!all)
		out->full = true; /* says "too large" rather than an empty list */
	if (n > 1)
		qsort(all, n, sizeof *all, newest_first);
	host_head(out, x);
	sbuf_puts(out, ",\"failures\":[");
	for (size_t i = 0; i < n && i < limit; i++) {
		sbuf_puts(out, i ? "," : "");
		failure_json(out, &all[i]);
	}
	sbuf_puts(out, "]");
	missing_tail(out, answered, missing);
	sbuf_puts(out, "}\n");
	free(all);
}

/* ---- /endpoints ---- */

void admin_view_endpoints(struct sbuf *out, const struct admin_ctx *x)
{
	const struct config *c = x->gen->cfg;
	double now = session_clock();
	host_head(out, x);
	sbuf_puts(out, ",\"services\":[");
	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		struct endpoint_set *set = gen_endpoints(x->gen, s);
		sbuf_printf(out, "%s{\"service\":", i ? "," : "");
		sbuf_json_str(out, s->name);
		sbuf_printf(out, ",\"lb\":\"%s\",\"endpoints\":[", lb_name(s->lb));
		for (unsigned e = 0; set && e < set->n; e++) {
			const struct cfg_endpoint *ce = set->eps[e].cfg;
			struct endpoint_view v;
			endpoint_view(set, e, now, &v);
			sbuf_printf(out, "%s{\"endpoint\":", e ? "," : "");
			sbuf_json_str(out, ce->text);
			sbuf_printf(
				out,
				",\"tier\":%u,\"weight\":%u,\"local\":%s,\"state\":\"%s\","
				"\"ejected_for_s\":%.3f,\"ejections\":%u,\"consecutive_failures\":%u,"
				"\"in_flight\":%u,\"connections\":%u,\"ewma_ms\":%.3f,\"last_result\":",
				ce->tier, ce->weight ? ce->weight : 1, ce->local ? "true" : "false",
				v.state, v.ejected_for, v.ejections, v.fails, v.in_flight, v.conns,
				v.ewma_ms);
			sbuf_json_str(out, v.last_result == RESULT_UNSET
			                           ? NULL
			                           : result_word(v.last_result));
			if (ce->source) {
				sbuf_puts(out, ",\"source\":");
				sbuf_json_str(out, ce->source);
			}
			sbuf_puts(out, "}");
		}
		sbuf_puts(out, "]}");
	}
	sbuf_puts(out, "]}\n");
}
