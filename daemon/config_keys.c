/*
 * Phase 2 of a config load: one table per section ([mesh], [identity.NAME],
 * [service.NAME]) whose rows {key, parser, offset, flags, default} drive
 * parsing, defaults, inheritance from [mesh] and the required-key check,
 * and the parsers of single values the rows name (the list-valued keys'
 * are in config_lists.c). A parser fills the field its row points at, or
 * fills `why` and returns -1; cfg_apply_table() makes that a
 * "file:line: key: reason" line.
 */
#include "config_keys.h"
#include "config_lists.h"
#include "config_state.h"
#include "vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int config_parse_duration(const char *text, double *seconds)
{
	const char *p = text;
	double v = 0, mul, scale = 0.1;
	int digits = 0, frac = 0;

	if (!text || !seconds)
		return -1;
	for (; is_digit(*p); p++) {
		if (++digits > 12)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (digits == 0)
		return -1;
	if (*p == '.') {
		for (p++; is_digit(*p); p++, scale /= 10) {
			if (++frac > 9)
				return -1;
			v += (*p - '0') * scale;
		}
		if (frac == 0)
			return -1;
	}
	if (*p == '\0' || strcmp(p, "s") == 0)
		mul = 1;
	else if (strcmp(p, "ms") == 0)
		mul = 0.001;
	else if (strcmp(p, "m") == 0)
		mul = 60;
	else if (strcmp(p, "h") == 0)
		mul = 3600;
	else
		return -1;
	v *= mul;
	if (!(v > 0))
		return -1;
	*seconds = v;
	return 0;
}

#define FIELD(obj, off, type) ((type *)(void *)((char *)(obj) + (off)))

static int set_string(void *obj, size_t off, const char *val, char *why, size_t whylen)
{
	char *d = strdup(val);

	if (!d) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	free(*FIELD(obj, off, char *));
	*FIELD(obj, off, char *) = d;
	return 0;
}

static int p_host(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                  size_t whylen)
{
	(void)L;
	if (!*val || strlen(val) > 255) {
		snprintf(why, whylen, "host must be 1..255 characters");
		return -1;
	}
	for (const char *p = val; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, whylen,
			         "host '%.64s' contains whitespace or control characters", val);
			return -1;
		}
	}
	return set_string(obj, k->off, val, why, whylen);
}

/* A path meshd writes (traffic log, route snapshot); relative paths are
 * relative to the config file like every other path, "-" stays as is. */
static int p_outpath(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                     size_t whylen)
{
	if (!*val) {
		snprintf(why, whylen, "empty value");
		return -1;
	}
	if (val[0] == '/' || strcmp(val, "-") == 0)
		return set_string(obj, k->off, val, why, whylen);
	char *abs = cfg_join3(L->dir, "/", val);
	if (!abs) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	int rc = set_string(obj, k->off, abs, why, whylen);
	free(abs);
	return rc;
}

/* A readable regular file; relative paths are relative to the config file. */
static int p_file(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                  size_t whylen)
{
	struct stat st;
	char *abs;

	if (!*val) {
		snprintf(why, whylen, "empty value");
		return -1;
	}
	abs = val[0] == '/' ? strdup(val) : cfg_join3(L->dir, "/", val);
	if (!abs) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (access(abs, R_OK) == -1 || stat(abs, &st) == -1) {
		snprintf(why, whylen, "cannot read '%.160s': %s", abs, strerror(errno));
		free(abs);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "'%.160s' is not a regular file", abs);
		free(abs);
		return -1;
	}
	free(*FIELD(obj, k->off, char *));
	*FIELD(obj, k->off, char *) = abs;
	return 0;
}

/* [a-z0-9.-]+ */
static int p_trust_domain(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                          char *why, size_t whylen)
{
	(void)L;
	if (!*val || strlen(val) > 255) {
		snprintf(why, whylen, "trust domain must be 1..255 characters");
		return -1;
	}
	for (const char *p = val; *p; p++) {
		if (!is_lower(*p) && !is_digit(*p) && *p != '.' && *p != '-') {
			snprintf(why, whylen,
			         "invalid trust domain '%.64s' (use a-z, 0-9, '.', '-')", val);
			return -1;
		}
	}
	return set_string(obj, k->off, val, why, whylen);
}

/* [a-z0-9.-]*, no leading or trailing dot; "" (or a literal "") is none. */
static int p_suffix(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                    size_t whylen)
{
	size_t n;

	(void)L;
	if (strcmp(val, "\"\"") == 0)
		val = "";
	n = strlen(val);
	if (n > 253) {
		snprintf(why, whylen, "suffix longer than 253 characters");
		return -1;
	}
	for (const char *p = val; *p; p++) {
		if (!is_lower(*p) && !is_digit(*p) && *p != '.' && *p != '-') {
			snprintf(why, whylen, "invalid suffix '%.64s' (use a-z, 0-9, '.', '-')",
			         val);
			return -1;
		}
	}
	if (n && (val[0] == '.' || val[n - 1] == '.' || strstr(val, ".."))) {
		snprintf(why, whylen, "invalid suffix '%.64s' (no leading, trailing or double dot)",
		         val);
		return -1;
	}
	return set_string(obj, k->off, val, why, whylen);
}

/* ADDR:PORT or "off"; `aux` is the bool that says whether it is on. */
static int p_listen(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                    size_t whylen)
{
	struct cfg_addr a;

	(void)L;
	if (strcmp(val, "off") == 0) {
		memset(FIELD(obj, k->off, struct cfg_addr), 0, sizeof(a));
		*FIELD(obj, k->aux, bool) = false;
		return 0;
	}
	if (net_parse_addr(val, &a) == -1) {
		snprintf(why, whylen,
		         "invalid address '%.64s' (expected IPv4:PORT, [IPv6]:PORT or off)", val);
		return -1;
	}
	if ((k->flags & CFG_F_LOOPBACK) && !net_addr_is_loopback(&a)) {
		snprintf(why, whylen,
		         "'%.64s' is not a loopback address (the %s listener stays local)", val,
		         k->name);
		return -1;
	}
	*FIELD(obj, k->off, struct cfg_addr) = a;
	*FIELD(obj, k->aux, bool) = true;
	return 0;
}

/* dns: "on" (127.0.0.1:53), a port (127.0.0.1:PORT), or what p_listen
 * reads (ADDR:PORT, loopback only, or "off"). */
static int p_dns(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                 size_t whylen)
{
	char buf[32];
	size_t n = strspn(val, "0123456789");
	if (strcmp(val, "on") == 0) {
		val = "127.0.0.1:53";
	} else if (n > 0 && val[n] == '\0') {
		unsigned long port = n <= 5 ? strtoul(val, NULL, 10) : 0;
		if (port < 1 || port > 65535) {
			snprintf(why, whylen, "invalid port '%.16s' (1..65535)", val);
			return -1;
		}
		snprintf(buf, sizeof buf, "127.0.0.1:%lu", port);
		val = buf;
	}
	return p_listen(L, obj, k, val, why, whylen);
}

/* IPv4 CIDR, prefix 8..30, host bits clear; `aux` is the prefix. */
static int p_cidr(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                  size_t whylen)
{
	const char *slash = strchr(val, '/');
	char host[INET_ADDRSTRLEN];
	struct in_addr net;
	unsigned long prefix;
	uint32_t mask;
	size_t n;

	(void)L;
	n = slash ? (size_t)(slash - val) : 0;
	if (!slash || n == 0 || n >= sizeof(host)) {
		snprintf(why, whylen,
		         "invalid range '%.64s' (expected IPv4 CIDR like 127.77.0.0/16)", val);
		return -1;
	}
	memcpy(host, val, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &net) != 1 || !cfg_parse_ulong(slash + 1, 32, &prefix)) {
		snprintf(why, whylen,
		         "invalid range '%.64s' (expected IPv4 CIDR like 127.77.0.0/16)", val);
		return -1;
	}
	if (prefix < 8 || prefix > 30) {
		snprintf(why, whylen, "prefix /%lu out of range (8..30)", prefix);
		return -1;
	}
	mask = ~0u << (32 - prefix);
	if (ntohl(net.s_addr) & ~mask) {
		struct in_addr fixed = { .s_addr = htonl(ntohl(net.s_addr) & mask) };
		char buf[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &fixed, buf, sizeof(buf));
		snprintf(why, whylen, "host bits set in '%.64s' (network address is %s/%lu)", val,
		         buf, prefix);
		return -1;
	}
	if ((ntohl(net.s_addr) >> 24) != 127) {
		/* VIPs are loopback addresses (meshd listens on them, and the
		 * shim never answers a name with anything else). */
		snprintf(why, whylen,
		         "'%.64s' is not inside 127.0.0.0/8 (VIPs are loopback addresses)", val);
		return -1;
	}
	*FIELD(obj, k->off, struct in_addr) = net;
	*FIELD(obj, k->aux, unsigned) = (unsigned)prefix;
	return 0;
}

static int p_duration(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                      char *why, size_t whylen)
{
	double s;

	(void)L;
	if (config_parse_duration(val, &s) == -1) {
		snprintf(
			why, whylen,
			"invalid duration '%.64s' (a number > 0 with ms, s, m or h; bare = seconds)",
			val);
		return -1;
	}
	*FIELD(obj, k->off, double) = s;
	return 0;
}

/* A duration within k->min..k->max milliseconds: for timers whose use
 * breaks outside a range (link_timeout: below, a busy host misses its
 * PONGs; above, a dead peer is noticed no sooner than TCP would). */
static int p_duration_in(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                         char *why, size_t whylen)
{
	if (p_duration(L, obj, k, val, why, whylen) == -1)
		return -1;
	double s = *FIELD(obj, k->off, double);
	if (s * 1000 < (double)k->min - 1e-6 || s * 1000 > (double)k->max + 1e-6) {
		snprintf(why, whylen, "%.64s is out of range (%lums..%lums)", val, k->min, k->max);
		return -1;
	}
	return 0;
}

/* A duration within k->min..k->max milliseconds, or "off" (0). */
static int p_duration_off(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                          char *why, size_t whylen)
{
	if (strcmp(val, "off") == 0) {
		*FIELD(obj, k->off, double) = 0;
		return 0;
	}
	return p_duration_in(L, obj, k, val, why, whylen);
}

/* "on" or "off" into a bool. */
static int p_onoff(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen)
{
	(void)L;
	(void)k;
	if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) {
		snprintf(why, whylen, "invalid value '%.64s' (expected on or off)", val);
		return -1;
	}
	*FIELD(obj, k->off, bool) = strcmp(val, "on") == 0;
	return 0;
}

/* A count in k->min..k->max; k->zero, when set, is a word that stands for
 * 0 ("auto": resolved at start-up, "none": no limit). */
static int p_count(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                   size_t whylen)
{
	unsigned long v;

	(void)L;
	if (k->zero && strcmp(val, k->zero) == 0) {
		*FIELD(obj, k->off, unsigned) = 0;
		return 0;
	}
	if (!cfg_parse_ulong(val, k->max, &v) || v < k->min) {
		snprintf(why, whylen, "invalid %s '%.64s' (%lu..%lu%s%s)", k->name, val, k->min,
		         k->max, k->zero ? " or " : "", k->zero ? k->zero : "");
		return -1;
	}
	*FIELD(obj, k->off, unsigned) = (unsigned)v;
	return 0;
}

/* A share: "20%", or a bare number of percent, 0 to 1000; stored as a
 * ratio (0.2). */
static int p_percent(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                     size_t whylen)
{
	char num[32];
	size_t n = strlen(val);
	unsigned long v;

	(void)L;
	if (n > 0 && val[n - 1] == '%')
		n--;
	if (n == 0 || n >= sizeof num)
		goto bad;
	memcpy(num, val, n);
	num[n] = '\0';
	if (!cfg_parse_ulong(num, 1000, &v))
		goto bad;
	*FIELD(obj, k->off, double) = (double)v / 100.0;
	return 0;
bad:
	snprintf(why, whylen, "invalid %s '%.64s' (a percentage 0..1000, e.g. 20%%)", k->name, val);
	return -1;
}

static int p_lb(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                size_t whylen)
{
	static const struct {
		const char *name;
		enum cfg_lb lb;
	} lbs[] = {
		{ "p2c_ewma", CFG_LB_P2C_EWMA },
		{ "least_conn", CFG_LB_LEAST_CONN },
		{ "round_robin", CFG_LB_ROUND_ROBIN },
	};
	(void)L;
	for (size_t i = 0; i < sizeof lbs / sizeof lbs[0]; i++) {
		if (strcmp(val, lbs[i].name) == 0) {
			*FIELD(obj, k->off, enum cfg_lb) = lbs[i].lb;
			return 0;
		}
	}
	snprintf(why, whylen, "unknown lb '%.64s' (accepted: p2c_ewma, least_conn, round_robin)",
	         val);
	return -1;
}

static int p_name(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                  size_t whylen)
{
	(void)L;
	if (!cfg_is_name(val)) {
		snprintf(why, whylen, "invalid name '%.64s' (1..63 characters of a-z, 0-9, '-')",
		         val);
		return -1;
	}
	return set_string(obj, k->off, val, why, whylen);
}

static int p_vip(struct load *L, void *obj, const struct cfg_key *k, const char *val, char *why,
                 size_t whylen)
{
	struct cfg_service *s = obj;
	struct in_addr a;

	(void)L;
	(void)k;
	if (inet_pton(AF_INET, val, &a) != 1) {
		snprintf(why, whylen, "invalid vip '%.64s' (expected an IPv4 address)", val);
		return -1;
	}
	s->vip = a;
	s->vip_fixed = true;
	return 0;
}

/* ---- defaults computed from other keys (a row's .fill) ---------------- */

static void fill_host(struct load *L, void *obj)
{
	struct config *c = obj;
	char h[256];

	if (gethostname(h, sizeof(h)) == -1) {
		cfg_error(L, 0, "host", "gethostname: %s", strerror(errno));
	} else {
		h[sizeof(h) - 1] = '\0';
		c->host = cfg_strdup(L, h);
	}
}

/* The control socket sits next to the snapshot, which names it. */
static void fill_control(struct load *L, void *obj)
{
	struct config *c = obj;
	char *ctl;

	if (!c->snapshot)
		return;
	ctl = cfg_join3(c->snapshot, ".ctl", "");
	if (!ctl)
		L->oom = true;
	c->control = ctl;
}

/* A service is served under its own name unless it says otherwise. */
static void fill_identity(struct load *L, void *obj)
{
	struct cfg_service *s = obj;

	if (s->name)
		s->identity = cfg_strdup(L, s->name);
}

/* ---- the tables ------------------------------------------------------- */

/* The bounds on what hostile input can make meshd hold, and a service's
 * max_connections, are counts up to this. */
#define LIMIT_MAX 10000000ul

/* The tables are kept out of clang-format: it would put every field of a
 * row on a line of its own. */
/* clang-format off */
#define CO(f)  offsetof(struct config, f)
#define IO(f)  offsetof(struct cfg_identity, f)
#define SO(f)  offsetof(struct cfg_service, f)

const struct cfg_key cfg_mesh_keys[MK_COUNT] = {
	[MK_TRUST_DOMAIN] = { .name = "trust_domain", .parse = p_trust_domain, .off = CO(trust_domain),
	                      .flags = CFG_F_REQUIRED },
	[MK_HOST] = { .name = "host", .parse = p_host, .off = CO(host), .fill = fill_host,
	              .def_doc = "gethostname()" },
	[MK_CA] = { .name = "ca", .parse = p_file, .off = CO(ca), .flags = CFG_F_REQUIRED },
	[MK_INBOUND] = { .name = "inbound", .parse = p_listen, .off = CO(inbound), .aux = CO(inbound_on),
	                 .def = "0.0.0.0:15443" },
	[MK_ADMIN] = { .name = "admin", .parse = p_listen, .off = CO(admin), .aux = CO(admin_on),
	               .flags = CFG_F_LOOPBACK, .def = "127.0.0.1:15000" },
	[MK_LOG] = { .name = "log", .parse = p_outpath, .off = CO(log),
	             .def = "/var/log/libmesh/traffic.log" },
	[MK_VIP_RANGE] = { .name = "vip_range", .parse = p_cidr, .off = CO(vip_net), .aux = CO(vip_prefix),
	                   .def = "127.77.0.0/16" },
	[MK_VIP6_RANGE] = { .name = "vip6_range", .parse = vip6_parse_range, .def = "off" },
	[MK_SNAPSHOT] = { .name = "snapshot", .parse = p_outpath, .off = CO(snapshot),
	                  .def = "/run/libmesh/routes" },
	[MK_SUFFIX] = { .name = "suffix", .parse = p_suffix, .off = CO(suffix), .def = "mesh" },
	[MK_CONNECT_TIMEOUT] = { .name = "connect_timeout", .parse = p_duration, .off = CO(connect_timeout),
	                         .def = "1s" },
	[MK_RETRIES] = { .name = "retries", .parse = p_count, .off = CO(retries), .min = 0, .max = 10,
	                 .def = "2" },
	[MK_IDLE_TIMEOUT] = { .name = "idle_timeout", .parse = p_duration, .off = CO(idle_timeout),
	                      .def = "1h" },
	[MK_LB] = { .name = "lb", .parse = p_lb, .off = CO(lb), .def = "p2c_ewma" },
	[MK_EWMA_DECAY] = { .name = "ewma_decay", .parse = p_duration, .off = CO(ewma_decay),
	                    .def = "10s" },
	[MK_DRAIN_TIMEOUT] = { .name = "drain_timeout", .parse = p_duration, .off = CO(drain_timeout),
	                       .def = "30s" },
	[MK_WORKERS] = { .name = "workers", .parse = p_count, .off = CO(workers), .min = 1, .max = 64,
	                 .zero = "auto", .def = "1" },
	[MK_CONTROL] = { .name = "control", .parse = p_outpath, .off = CO(control), .fill = fill_control,
	                 .def_doc = "SNAPSHOT.ctl" },
	[MK_HANDSHAKE_TIMEOUT] = { .name = "handshake_timeout", .parse = p_duration,
	                           .off = CO(handshake_timeout), .def = "3s" },
	[MK_MAX_HANDSHAKES] = { .name = "max_handshakes", .parse = p_count, .off = CO(max_handshakes),
	                        .min = 1, .max = LIMIT_MAX, .def = "256" },
	[MK_MAX_HANDSHAKES_PER_SOURCE] = { .name = "max_handshakes_per_source", .parse = p_count,
	                                   .off = CO(max_handshakes_per_source),
	                                   .min = 1, .max = LIMIT_MAX, .def = "32" },
	[MK_MAX_STREAMS_PER_LINK] = { .name = "max_streams_per_link", .parse = p_count,
	                              .off = CO(max_streams_per_link),
	                              .min = 1, .max = LIMIT_MAX, .def = "512" },
	[MK_MAX_CONNS_PER_UID] = { .name = "max_connections_per_uid", .parse = p_count,
	                           .off = CO(max_conns_per_uid),
	                           .min = 1, .max = LIMIT_MAX, .zero = "auto", .def = "auto" },
	[MK_MAX_CONNS_PER_PEER] = { .name = "max_connections_per_peer", .parse = p_count,
	                            .off = CO(max_conns_per_peer),
	                            .min = 1, .max = LIMIT_MAX, .zero = "auto", .def = "auto" },
	[MK_MAX_CONTROL_PER_UID] = { .name = "max_control_per_uid", .parse = p_count,
	                             .off = CO(max_control_per_uid),
	                             .min = 1, .max = LIMIT_MAX, .def = "128" },
	[MK_MAX_PENDING_PER_CONTROL] = { .name = "max_pending_per_control", .parse = p_count,
	                                 .off = CO(max_pending_per_control),
	                                 .min = 1, .max = LIMIT_MAX, .def = "1024" },
	[MK_MAX_PENDING_PER_UID] = { .name = "max_pending_per_uid", .parse = p_count,
	                             .off = CO(max_pending_per_uid),
	                             .min = 1, .max = LIMIT_MAX, .def = "8192" },
	[MK_CONSECUTIVE_FAILURES] = { .name = "consecutive_failures", .parse = p_count,
	                              .off = CO(consecutive_failures), .min = 0, .max = 1000,
	                              .def = "5" },
	[MK_BASE_EJECTION] = { .name = "base_ejection", .parse = p_duration, .off = CO(base_ejection),
	                       .def = "30s" },
	[MK_MAX_EJECTION] = { .name = "max_ejection", .parse = p_duration, .off = CO(max_ejection),
	                      .def = "5m" },
	[MK_MAX_EJECTION_PERCENT] = { .name = "max_ejection_percent", .parse = p_count,
	                              .off = CO(max_ejection_percent), .min = 0, .max = 100,
	                              .def = "50" },
	[MK_RETRY_BUDGET] = { .name = "retry_budget", .parse = p_percent, .off = CO(retry_budget),
	                      .def = "20%" },
	[MK_RETRY_MIN_PER_S] = { .name = "retry_min_per_s", .parse = p_count,
	                         .off = CO(retry_min_per_s), .min = 0, .max = 100000, .def = "10" },
	[MK_LINK_TIMEOUT] = { .name = "link_timeout", .parse = p_duration_in, .off = CO(link_timeout),
	                      .min = 500, .max = 300000, .def = "3s" },
	[MK_PROGRESS_INTERVAL] = { .name = "progress_interval", .parse = p_duration_off,
	                           .off = CO(progress_interval), .min = 1000, .max = 3600000,
	                           .def = "10s" },
	[MK_OPEN_RECORDS] = { .name = "open_records", .parse = p_onoff, .off = CO(open_records),
	                      .def = "off" },
	[MK_DNS] = { .name = "dns", .parse = p_dns, .off = CO(dns), .aux = CO(dns_on),
	             .flags = CFG_F_LOOPBACK, .def = "off" },
	[MK_RESOLVERS] = { .name = "resolvers", .parse = cfg_list_resolvers, .off = CO(resolvers),
	                   .def_doc = "the nameservers of /etc/resolv.conf" },
	[MK_DNS_TTL_MIN] = { .name = "dns_ttl_min", .parse = p_duration_in, .off = CO(dns_ttl_min),
	                     .min = 1000, .max = 3600000, .def = "5s" },
	[MK_DNS_TTL_MAX] = { .name = "dns_ttl_max", .parse = p_duration_in, .off = CO(dns_ttl_max),
	                     .min = 1000, .max = 86400000, .def = "5m" },
	[MK_DNS_TIMEOUT] = { .name = "dns_timeout", .parse = p_duration_in, .off = CO(dns_timeout),
	                     .min = 100, .max = 30000, .def = "2s" },
};

const struct cfg_key cfg_identity_keys[IK_COUNT] = {
	[IK_UIDS] = { .name = "uids", .parse = cfg_list_uids, .off = IO(uids), .flags = CFG_F_REQUIRED },
	[IK_CERT] = { .name = "cert", .parse = p_file, .off = IO(cert), .flags = CFG_F_REQUIRED },
	[IK_KEY] = { .name = "key", .parse = p_file, .off = IO(key), .flags = CFG_F_REQUIRED },
};

const struct cfg_key cfg_service_keys[SK_COUNT] = {
	[SK_PORTS] = { .name = "ports", .parse = cfg_list_ports, .off = SO(ports),
	               .flags = CFG_F_REQUIRED },
	[SK_ENDPOINTS] = { .name = "endpoints", .parse = cfg_list_endpoints, .off = SO(endpoints),
	                   .def_doc = "none" },
	[SK_INTERCEPT] = { .name = "intercept", .parse = cfg_list_intercepts, .off = SO(intercepts),
	                   .def_doc = "none" },
	/* Unset, phase 4 (vip.c) assigns one. */
	[SK_VIP] = { .name = "vip", .parse = p_vip, .off = SO(vip), .def_doc = "derived from name" },
	[SK_VIP6] = { .name = "vip6", .parse = vip6_parse_vip, .def_doc = "derived from name" },
	[SK_CONNECT_TIMEOUT] = { .name = "connect_timeout", .parse = p_duration, .off = SO(connect_timeout),
	                         .flags = CFG_F_INHERIT, .inherit = CO(connect_timeout),
	                         .size = sizeof(double) },
	[SK_RETRIES] = { .name = "retries", .parse = p_count, .off = SO(retries), .min = 0, .max = 10,
	                 .flags = CFG_F_INHERIT, .inherit = CO(retries), .size = sizeof(unsigned) },
	[SK_IDLE_TIMEOUT] = { .name = "idle_timeout", .parse = p_duration, .off = SO(idle_timeout),
	                      .flags = CFG_F_INHERIT, .inherit = CO(idle_timeout),
	                      .size = sizeof(double) },
	[SK_LB] = { .name = "lb", .parse = p_lb, .off = SO(lb), .flags = CFG_F_INHERIT,
	            .inherit = CO(lb), .size = sizeof(enum cfg_lb) },
	[SK_EWMA_DECAY] = { .name = "ewma_decay", .parse = p_duration, .off = SO(ewma_decay),
	                    .flags = CFG_F_INHERIT, .inherit = CO(ewma_decay),
	                    .size = sizeof(double) },
	[SK_IDENTITY] = { .name = "identity", .parse = p_name, .off = SO(identity),
	                  .fill = fill_identity, .def_doc = "NAME" },
	[SK_UPSTREAM] = { .name = "upstream", .parse = cfg_list_upstream, .off = SO(upstreams),
	                  .def_doc = "none" },
	[SK_ALLOW] = { .name = "allow", .parse = cfg_list_allow, .off = SO(allow),
	               .def_doc = "none: deny all" },
	[SK_MAX_CONNECTIONS] = { .name = "max_connections", .parse = p_count, .off = SO(max_connections),
	                         .min = 0, .max = LIMIT_MAX, .zero = "none", .def = "none" },
	[SK_CONSECUTIVE_FAILURES] = { .name = "consecutive_failures", .parse = p_count,
	                              .off = SO(consecutive_failures), .min = 0, .max = 1000,
	                              .flags = CFG_F_INHERIT, .inherit = CO(consecutive_failures),
	                              .size = sizeof(unsigned) },
	[SK_BASE_EJECTION] = { .name = "base_ejection", .parse = p_duration, .off = SO(base_ejection),
	                       .flags = CFG_F_INHERIT, .inherit = CO(base_ejection),
	                       .size = sizeof(double) },
	[SK_MAX_EJECTION] = { .name = "max_ejection", .parse = p_duration, .off = SO(max_ejection),
	                      .flags = CFG_F_INHERIT, .inherit = CO(max_ejection),
	                      .size = sizeof(double) },
	[SK_MAX_EJECTION_PERCENT] = { .name = "max_ejection_percent", .parse = p_count,
	                              .off = SO(max_ejection_percent), .min = 0, .max = 100,
	                              .flags = CFG_F_INHERIT, .inherit = CO(max_ejection_percent),
	                              .size = sizeof(unsigned) },
	[SK_RETRY_BUDGET] = { .name = "retry_budget", .parse = p_percent, .off = SO(retry_budget),
	                      .flags = CFG_F_INHERIT, .inherit = CO(retry_budget),
	                      .size = sizeof(double) },
	[SK_RETRY_MIN_PER_S] = { .name = "retry_min_per_s", .parse = p_count,
	                         .off = SO(retry_min_per_s), .min = 0, .max = 100000,
	                         .flags = CFG_F_INHERIT, .inherit = CO(retry_min_per_s),
	                         .size = sizeof(unsigned) },
};
/* clang-format on */

/* Parse one section through its table: values, unknown keys, defaults,
 * required keys, inheritance from [mesh]. */
void cfg_apply_table(struct load *L, const struct cfg_key *tab, unsigned ntab,
                     const struct raw_sec *sec, const char *secname, int secline, void *obj,
                     struct key_meta *meta)
{
	char why[WHY_MAX];

	memset(meta, 0, sizeof(*meta));
	for (unsigned i = 0; sec && i < sec->nkv; i++) {
		const struct raw_kv *kv = &sec->kv[i];
		unsigned j;

		for (j = 0; j < ntab; j++)
			if (strcmp(tab[j].name, kv->key) == 0)
				break;
		if (j == ntab) {
			cfg_error(L, kv->line, kv->key, "unknown key in [%s]", secname);
			continue;
		}
		meta->line[j] = kv->line;
		why[0] = '\0';
		if (tab[j].parse(L, obj, &tab[j], kv->val, why, sizeof(why)) == 0) {
			meta->state[j] = KEY_OK;
		} else {
			meta->state[j] = KEY_BAD;
			cfg_error(L, kv->line, kv->key, "%s", why);
		}
	}
	for (unsigned j = 0; j < ntab; j++) {
		if (meta->state[j] != KEY_UNSET)
			continue;
		meta->line[j] = secline;
		if (tab[j].flags & CFG_F_REQUIRED) {
			meta->state[j] = KEY_BAD;
			cfg_error(L, secline, tab[j].name, "missing (required in [%s])", secname);
		} else if (tab[j].flags & CFG_F_INHERIT) {
			memcpy((char *)obj + tab[j].off, (char *)L->c + tab[j].inherit,
			       tab[j].size);
		} else if (tab[j].def &&
		           tab[j].parse(L, obj, &tab[j], tab[j].def, why, sizeof(why)) == -1) {
			cfg_error(L, secline, tab[j].name, "default '%s': %s", tab[j].def, why);
		}
	}
	/* Last, the defaults computed from other keys: every value they may
	 * depend on (control's snapshot, say) is in by now. */
	for (unsigned j = 0; j < ntab; j++)
		if (meta->state[j] == KEY_UNSET && tab[j].fill)
			tab[j].fill(L, obj);
}
