/*
 * Unit tests of the config loader (daemon/config*.c, vip.c) and the address
 * helpers of net.c: values and defaults of a valid file, one test per kind
 * of error (each checks the reported line), error collection, VIP
 * assignment and stability, and the lookup helpers.
 *
 * Every test writes its INI text to a fresh mkstemps() file inside a
 * temporary directory that also holds placeholder certs/ files (config.c
 * only checks that they exist and are readable).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "policy.h"

static char g_dir[256];       /* realpath of the temp directory */
static char g_path[PATH_MAX]; /* the last config file written */

static const char *cert_files[] = {
	"certs/ca.pem", "certs/web.pem", "certs/web.key", "certs/api.pem", "certs/api.key",
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/test_config.XXXXXX";
	char p[PATH_MAX], *real;

	(void)state;
	if (!mkdtemp(tmpl) || !(real = realpath(tmpl, NULL)))
		return -1;
	if (strlen(real) >= sizeof(g_dir)) {
		free(real);
		return -1;
	}
	memcpy(g_dir, real, strlen(real) + 1);
	free(real);
	snprintf(p, sizeof(p), "%s/certs", g_dir);
	if (mkdir(p, 0700) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(cert_files) / sizeof(cert_files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, cert_files[i]);
		write_file(p, "placeholder\n");
	}
	return 0;
}

static int group_teardown(void **state)
{
	char p[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cert_files) / sizeof(cert_files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, cert_files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/certs", g_dir);
	rmdir(p);
	rmdir(g_dir);
	return 0;
}

/* Write `text` to a new temp file next to certs/ and load it. */
static struct config *load_text(const char *text, config_prev_vip_fn prev, void *arg, char **errs)
{
	struct config *c;
	int fd;

	snprintf(g_path, sizeof(g_path), "%s/confXXXXXX.ini", g_dir);
	fd = mkstemps(g_path, 4);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	c = config_load(g_path, prev, arg, errs);
	unlink(g_path);
	return c;
}

/* Load text that must be valid. */
static struct config *load_ok(const char *text)
{
	char *errs = NULL;
	struct config *c = load_text(text, NULL, NULL, &errs);

	if (!c)
		fail_msg("unexpected errors:\n%s", errs ? errs : "(none)");
	assert_null(errs);
	return c;
}

/* Load text that must be rejected; returns the errors. */
static char *load_bad(const char *text)
{
	char *errs = NULL;
	struct config *c = load_text(text, NULL, NULL, &errs);

	if (c) {
		config_unref(c);
		fail_msg("file was accepted:\n%s", text);
	}
	assert_non_null(errs);
	return errs;
}

/* Line number (1-based) of the first occurrence of `needle` in `text`. */
static int line_of(const char *text, const char *needle)
{
	const char *at = strstr(text, needle);
	int line = 1;

	assert_non_null(at);
	for (const char *p = text; p < at; p++)
		if (*p == '\n')
			line++;
	return line;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Some error line reads "<path>:<line>: " ... and contains `substr`. */
static void assert_error_at(const char *errs, int line, const char *substr)
{
	char prefix[PATH_MAX + 32];
	const char *p = errs;
	size_t pl;

	snprintf(prefix, sizeof(prefix), "%s:%d: ", g_path, line);
	pl = strlen(prefix);
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= pl && strncmp(p, prefix, pl) == 0) {
			const char *hit = strstr(p, substr);
			if (hit && hit < p + len)
				return;
		}
		p = nl ? nl + 1 : NULL;
	}
	fail_msg("no error at line %d containing \"%s\" in:\n%s", line, substr, errs);
}

static void check_one_error(const char *text, const char *needle, const char *substr)
{
	char *errs = load_bad(text);

	assert_error_at(errs, line_of(text, needle), substr);
	free(errs);
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static const char *addr_str(const struct cfg_addr *a)
{
	static char buf[128];
	return net_addr_str(a, buf, sizeof(buf));
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

#define MESH                           \
	"[mesh]\n"                     \
	"trust_domain = example.org\n" \
	"ca = certs/ca.pem\n"

#define WEB_ID                   \
	"[identity.web]\n"       \
	"uids = 1000\n"          \
	"cert = certs/web.pem\n" \
	"key = certs/web.key\n"

#define WEB_SVC                       \
	"[service.web]\n"             \
	"ports = 80\n"                \
	"endpoints = local\n"         \
	"upstream = 127.0.0.1:8080\n" \
	"allow = *\n"

/* ---- valid files ------------------------------------------------------ */

static const char full_text[] =
	"; a full example, every key set\n"
	"[mesh]\n"
	"trust_domain = example.org\n"
	"host = alpha\n"
	"ca = certs/ca.pem\n"
	"inbound = 127.0.0.2:15443\n"
	"admin = off\n"
	"log = -\n"
	"vip_range = 127.88.0.0/24\n"
	"snapshot = /tmp/routes-test\n"
	"suffix = svc.local\n"
	"connect_timeout = 250ms\n"
	"retries = 3\n"
	"idle_timeout = 2m\n"
	"lb = least_conn\n"
	"ewma_decay = 2.5s\n"
	"drain_timeout = 1.5s\n"
	"workers = auto\n"
	"\n"
	"# identities\n"
	"[identity.web]\n"
	"uids = 1000 root\n"
	"cert = certs/web.pem\n"
	"key = certs/web.key\n"
	"\n"
	"[identity.batch]\n"
	"uids = *\n"
	"cert = certs/api.pem\n"
	"key = certs/api.key\n"
	"\n"
	"[service.web]\n"
	"  ports = 80, 443\n"
	"  endpoints = 10.0.0.2:15443*3 [::1]:15443, local\n"
	"  intercept = 10.1.2.3:80 [2001:db8::1]:443\n"
	"  vip = 127.88.0.10\n"
	"  connect_timeout = 2s\n"
	"  retries = 0\n"
	"  lb = round_robin\n"
	"  ewma_decay = 500ms\n"
	"  upstream = 127.0.0.1:8080, 443=127.0.0.1:8443\n"
	"  allow = api, batch   ; inline comment\n"
	"\n"
	"[service.api]\n"
	"ports = 9000\n"
	"endpoints = 10.0.0.3:15443,\n"
	"    10.0.0.4:15443*2\n"
	"    10.0.0.5:15443\n"
	"identity = api-server\n"
	"idle_timeout = 1h\n";

static void test_full_file(void **state)
{
	struct config *c = load_ok(full_text);
	const struct cfg_service *web, *api;
	const struct cfg_identity *id, *batch;
	char want[PATH_MAX + 32];

	(void)state;
	assert_int_equal(c->refs, 1);
	assert_string_equal(c->trust_domain, "example.org");
	assert_string_equal(c->host, "alpha");
	snprintf(want, sizeof(want), "%s/certs/ca.pem", g_dir);
	assert_string_equal(c->ca, want);
	assert_true(c->inbound_on);
	assert_string_equal(addr_str(&c->inbound), "127.0.0.2:15443");
	assert_false(c->admin_on);
	assert_string_equal(c->log, "-");
	assert_int_equal(c->vip_net.s_addr, ip("127.88.0.0"));
	assert_int_equal(c->vip_prefix, 24);
	assert_string_equal(c->snapshot, "/tmp/routes-test");
	assert_string_equal(c->suffix, "svc.local");
	assert_true(c->connect_timeout == 0.25);
	assert_int_equal(c->retries, 3);
	assert_true(c->idle_timeout == 120);
	assert_int_equal(c->lb, CFG_LB_LEAST_CONN);
	assert_true(c->ewma_decay == 2.5);
	assert_true(c->drain_timeout == 1.5);
	assert_int_equal(c->workers, 0);
	assert_non_null(c->path);
	assert_true(c->path[0] == '/');

	assert_int_equal(c->nidentities, 2);
	id = config_identity(c, "web");
	assert_non_null(id);
	assert_string_equal(id->spiffe, "spiffe://example.org/svc/web");
	snprintf(want, sizeof(want), "%s/certs/web.pem", g_dir);
	assert_string_equal(id->cert, want);
	snprintf(want, sizeof(want), "%s/certs/web.key", g_dir);
	assert_string_equal(id->key, want);
	assert_int_equal(id->nuids, 2);
	assert_int_equal(id->uids[0], 1000);
	assert_int_equal(id->uids[1], 0); /* root */
	assert_false(id->any_uid);
	assert_int_equal(id->line, line_of(full_text, "[identity.web]"));
	batch = config_identity(c, "batch");
	assert_non_null(batch);
	assert_true(batch->any_uid);
	assert_int_equal(batch->nuids, 0);
	assert_null(config_identity(c, "nope"));

	assert_int_equal(c->nservices, 2);
	web = config_service(c, "web");
	assert_non_null(web);
	assert_int_equal(web->line, line_of(full_text, "[service.web]"));
	assert_int_equal(web->nports, 2);
	assert_int_equal(web->ports[0], 80);
	assert_int_equal(web->ports[1], 443);
	assert_int_equal(web->nendpoints, 3);
	assert_false(web->endpoints[0].local);
	assert_string_equal(web->endpoints[0].text, "10.0.0.2:15443");
	assert_string_equal(addr_str(&web->endpoints[0].addr), "10.0.0.2:15443");
	assert_int_equal(web->endpoints[0].weight, 3);
	assert_string_equal(addr_str(&web->endpoints[1].addr), "[::1]:15443");
	assert_int_equal(web->endpoints[1].weight, 1);
	assert_true(web->endpoints[2].local);
	assert_string_equal(web->endpoints[2].text, "local");
	assert_int_equal(web->nintercepts, 2);
	assert_string_equal(addr_str(&web->intercepts[0]), "10.1.2.3:80");
	assert_string_equal(addr_str(&web->intercepts[1]), "[2001:db8::1]:443");
	assert_true(web->vip_fixed);
	assert_int_equal(web->vip.s_addr, ip("127.88.0.10"));
	assert_true(web->connect_timeout == 2);
	assert_int_equal(web->retries, 0);
	assert_true(web->idle_timeout == 120); /* from [mesh] */
	assert_int_equal(web->lb, CFG_LB_ROUND_ROBIN);
	assert_true(web->ewma_decay == 0.5);
	assert_string_equal(web->identity, "web");
	assert_string_equal(web->peer_spiffe, "spiffe://example.org/svc/web");
	assert_int_equal(web->nupstreams, 2);
	assert_int_equal(web->nallow, 2);
	assert_false(web->allow_any);

	api = config_service(c, "api");
	assert_non_null(api);
	assert_int_equal(api->nendpoints, 3); /* continuation lines */
	assert_string_equal(api->endpoints[1].text, "10.0.0.4:15443");
	assert_int_equal(api->endpoints[1].weight, 2);
	assert_string_equal(api->identity, "api-server");
	assert_string_equal(api->peer_spiffe, "spiffe://example.org/svc/api-server");
	assert_true(api->connect_timeout == 0.25); /* from [mesh] */
	assert_int_equal(api->retries, 3);
	assert_true(api->idle_timeout == 3600);
	assert_int_equal(api->lb, CFG_LB_LEAST_CONN); /* from [mesh] */
	assert_true(api->ewma_decay == 2.5);
	assert_false(api->vip_fixed);
	assert_int_equal(ntohl(api->vip.s_addr) >> 8, ntohl(ip("127.88.0.0")) >> 8);
	assert_int_equal(api->nupstreams, 0);
	assert_null(config_service(c, "nope"));

	config_unref(c);
}

static void test_defaults(void **state)
{
	struct config *c = load_ok(MESH WEB_ID WEB_SVC);
	const struct cfg_service *web;
	char host[256];

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(c->host, host);
	assert_true(c->inbound_on);
	assert_string_equal(addr_str(&c->inbound), "0.0.0.0:15443");
	assert_true(c->admin_on);
	assert_string_equal(addr_str(&c->admin), "127.0.0.1:15000");
	assert_string_equal(c->log, "/var/log/libmesh/traffic.log");
	assert_int_equal(c->vip_net.s_addr, ip("127.77.0.0"));
	assert_int_equal(c->vip_prefix, 16);
	assert_string_equal(c->snapshot, "/run/libmesh/routes");
	assert_string_equal(c->suffix, "mesh");
	assert_true(c->connect_timeout == 1);
	assert_int_equal(c->retries, 2);
	assert_true(c->idle_timeout == 3600);
	assert_true(c->drain_timeout == 30);
	assert_int_equal(c->workers, 1);
	assert_int_equal(c->lb, CFG_LB_P2C_EWMA);
	assert_true(c->ewma_decay == 10);
	assert_true(c->link_timeout == 3);
	assert_true(c->progress_interval == 10);
	assert_false(c->open_records);

	web = config_service(c, "web");
	assert_non_null(web);
	assert_true(web->connect_timeout == 1);
	assert_int_equal(web->retries, 2);
	assert_true(web->idle_timeout == 3600);
	assert_string_equal(web->identity, "web");
	assert_false(web->vip_fixed);
	assert_int_equal(web->nintercepts, 0);
	assert_int_equal(web->lb, CFG_LB_P2C_EWMA);
	assert_true(web->ewma_decay == 10);
	config_unref(c);
}

/* Endpoint health keys: defaults, [mesh] defaults a service inherits,
 * its own values, failover tiers. */
static void test_health_keys(void **state)
{
	(void)state;
	struct config *c = load_ok(MESH WEB_ID WEB_SVC);
	const struct cfg_service *web = config_service(c, "web");
	assert_int_equal(web->consecutive_failures, 5);
	assert_true(web->base_ejection == 30);
	assert_true(web->max_ejection == 300);
	assert_int_equal(web->max_ejection_percent, 50);
	assert_true(web->retry_budget > 0.1999 && web->retry_budget < 0.2001);
	assert_int_equal(web->retry_min_per_s, 10);
	assert_int_equal(web->endpoints[0].tier, 0);
	config_unref(c);

	c = load_ok(MESH
	            "consecutive_failures = 3\nbase_ejection = 2s\nmax_ejection = 10s\n"
	            "max_ejection_percent = 100\nretry_budget = 50%\nretry_min_per_s = 0\n" WEB_ID
	            "[service.api]\nports = 80\nendpoints = 10.0.0.1:1, 10.0.0.2:1 | "
	            "10.0.1.1:1*3 |10.0.2.1:1\nretry_budget = 5\nconsecutive_failures = 0\n");
	const struct cfg_service *api = config_service(c, "api");
	assert_int_equal(api->consecutive_failures, 0);
	assert_true(api->base_ejection == 2);
	assert_true(api->max_ejection == 10);
	assert_int_equal(api->max_ejection_percent, 100);
	assert_true(api->retry_budget > 0.0499 && api->retry_budget < 0.0501);
	assert_int_equal(api->retry_min_per_s, 0);
	assert_int_equal(api->nendpoints, 4);
	const unsigned tiers[] = { 0, 0, 1, 2 };
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(api->endpoints[i].tier, tiers[i]);
	assert_int_equal(api->endpoints[2].weight, 3);
	assert_string_equal(api->endpoints[2].text, "10.0.1.1:1");
	config_unref(c);
}

static void test_health_key_errors(void **state)
{
	(void)state;
	check_one_error(MESH WEB_ID "[service.api]\nports = 80\nendpoints = 10.0.0.1:1 | \n",
	                "endpoints =", "failover group 2 is empty");
	check_one_error(MESH WEB_ID "[service.api]\nports = 80\nendpoints = | 10.0.0.1:1\n",
	                "endpoints =", "failover group 1 is empty");
	check_one_error(MESH WEB_ID
	                "[service.api]\nports = 80\nendpoints = 10.0.0.1:1 | 10.0.0.1:1\n",
	                "endpoints =", "listed twice");
	check_one_error(MESH WEB_ID "[service.api]\nports = 80\nretry_budget = lots\n",
	                "retry_budget", "percentage");
	check_one_error(MESH WEB_ID "[service.api]\nports = 80\nmax_ejection_percent = 101\n",
	                "max_ejection_percent", "0..100");
	check_one_error(MESH WEB_ID
	                "[service.api]\nports = 80\nbase_ejection = 1m\nmax_ejection = 30s\n",
	                "max_ejection =", "shorter than base_ejection");
}

static void test_empty_suffix_and_options(void **state)
{
	struct config *c;

	(void)state;
	c =
		load_ok("[mesh]\ntrust_domain = a.b\nca = certs/ca.pem\nsuffix =\ninbound = off\n"
	                "admin = [::1]:15000\nworkers = 64\n");
	assert_string_equal(c->suffix, "");
	assert_false(c->inbound_on);
	assert_true(c->admin_on);
	assert_string_equal(addr_str(&c->admin), "[::1]:15000");
	assert_int_equal(c->workers, 64);
	assert_int_equal(c->nservices, 0);
	config_unref(c);

	c = load_ok("[mesh]\ntrust_domain = a.b\nca = certs/ca.pem\nsuffix = \"\"\n");
	assert_string_equal(c->suffix, "");
	config_unref(c);
}

/* dns = off | on | PORT | ADDR:PORT, loopback only, off by default. */
static void test_dns_key(void **state)
{
	static const char *const vals[][2] = {
		{ "on", "127.0.0.1:53" },
		{ "5353", "127.0.0.1:5353" },
		{ "127.0.0.53:53", "127.0.0.53:53" },
		{ "[::1]:53", "[::1]:53" },
	};
	struct config *c;
	char text[256];

	(void)state;
	c = load_ok(MESH);
	assert_false(c->dns_on);
	config_unref(c);
	for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		snprintf(text, sizeof text, MESH "dns = %s\n", vals[i][0]);
		c = load_ok(text);
		assert_true(c->dns_on);
		assert_string_equal(addr_str(&c->dns), vals[i][1]);
		config_unref(c);
	}
	c = load_ok(MESH "dns = off\n");
	assert_false(c->dns_on);
	config_unref(c);
	check_one_error(MESH "dns = 10.0.0.1:53\n", "dns", "not a loopback address");
	check_one_error(MESH "dns = 0.0.0.0:53\n", "dns", "not a loopback address");
	check_one_error(MESH "dns = 0\n", "dns", "invalid port");
	check_one_error(MESH "dns = 65536\n", "dns", "invalid port");
	check_one_error(MESH "dns = yes\n", "dns", "invalid address");
}

static void test_refcount(void **state)
{
	struct config *c = load_ok(MESH WEB_ID WEB_SVC);

	(void)state;
	assert_ptr_equal(config_ref(c), c);
	assert_int_equal(c->refs, 2);
	config_unref(c);
	assert_int_equal(c->refs, 1);
	config_unref(c); /* freed; ASan/valgrind check the rest */
	config_unref(NULL);
}

/* ---- one test per kind of error --------------------------------------- */

static void test_err_unknown_key(void **state)
{
	(void)state;
	check_one_error(MESH WEB_ID WEB_SVC "colour = blue\n", "colour", "colour: unknown key");
	check_one_error(MESH "bogus = 1\n", "bogus", "bogus: unknown key in [mesh]");
}

static void test_err_unknown_section(void **state)
{
	(void)state;
	check_one_error(MESH WEB_ID "[frontend]\nports = 80\n" WEB_SVC, "[frontend]",
	                "[frontend]: unknown section");
	check_one_error(MESH "[service]\nports = 80\n", "[service]",
	                "[service]: section needs a name");
}

static void test_err_bad_port(void **state)
{
	(void)state;
	check_one_error(MESH "[service.a]\nports = 80, 70000\n",
	                "ports =", "ports: invalid port '70000'");
	check_one_error(MESH "[service.a]\nports = 0\n", "ports =", "invalid port '0'");
	check_one_error(MESH "[service.a]\nports = 80 81 80\n", "ports =", "port 80 listed twice");
	check_one_error(MESH "[service.a]\nports = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
	                "ports =", "more than 16 ports");
	check_one_error(MESH "[service.a]\nports = ,\n", "ports =", "no ports");
}

static void test_err_bad_address(void **state)
{
	(void)state;
	check_one_error(MESH "[service.a]\nports = 80\nendpoints = 10.0.0.300:15443\n", "endpoints",
	                "endpoints: invalid endpoint '10.0.0.300:15443'");
	check_one_error(MESH "[service.a]\nports = 80\nendpoints = db.example:15443\n", "endpoints",
	                "invalid endpoint");
	check_one_error(MESH "[service.a]\nports = 80\nendpoints = 10.0.0.2:15443*0\n", "endpoints",
	                "invalid weight");
	check_one_error(MESH "[service.a]\nports = 80\nendpoints = 10.0.0.2:15443*1001\n",
	                "endpoints", "invalid weight");
	check_one_error(MESH "inbound = 0.0.0.0\n", "inbound", "inbound: invalid address");
	check_one_error(MESH "admin = 10.0.0.1:15000\n", "admin", "not a loopback address");
	check_one_error(MESH "[service.a]\nports = 80\nupstream = 127.0.0.1\n", "upstream",
	                "invalid upstream");
	check_one_error(MESH "[service.a]\nports = 80\nintercept = 10.0.0.1:80 ::1:80\n",
	                "intercept", "invalid address '::1:80'");
}

static void test_err_bad_duration(void **state)
{
	(void)state;
	check_one_error(MESH "connect_timeout = soon\n", "connect_timeout",
	                "connect_timeout: invalid duration 'soon'");
	check_one_error(MESH "[service.a]\nports = 80\nidle_timeout = 0s\n", "idle_timeout",
	                "invalid duration '0s'");
	check_one_error(MESH "drain_timeout = 5d\n", "drain_timeout", "invalid duration");
}

static void test_err_duplicate_key(void **state)
{
	static const char text[] = MESH WEB_ID WEB_SVC "ports = 81\n";
	char *errs = load_bad(text);
	char want[64];

	(void)state;
	snprintf(want, sizeof(want), "ports: duplicate key (first at line %d)",
	         line_of(text, "ports = 80"));
	assert_error_at(errs, line_of(text, "ports = 81"), want);
	free(errs);
}

static void test_err_duplicate_section(void **state)
{
	static const char text[] = MESH WEB_ID WEB_SVC "\n[service.web]\nports = 81\n";
	char *errs = load_bad(text);
	int second = count_lines(MESH WEB_ID WEB_SVC "\n") + 1;

	(void)state;
	assert_error_at(errs, second, "[service.web]: duplicate section (first at line");
	free(errs);
}

static void test_err_missing_required(void **state)
{
	static const char text[] = MESH WEB_ID WEB_SVC
		"\n"
		"[service.api]\n"
		"endpoints = 10.0.0.2:15443\n"
		"\n"
		"[identity.api]\n"
		"uids = 1002\n";
	char *errs = load_bad(text);

	(void)state;
	assert_error_at(errs, line_of(text, "[service.api]"),
	                "ports: missing (required in [service.api])");
	assert_error_at(errs, line_of(text, "[identity.api]"), "cert: missing");
	assert_error_at(errs, line_of(text, "[identity.api]"), "key: missing");
	free(errs);

	errs = load_bad("[mesh]\nhost = x\n");
	assert_error_at(errs, 1, "trust_domain: missing");
	assert_error_at(errs, 1, "ca: missing");
	free(errs);

	errs = load_bad(WEB_SVC);
	assert_error_at(errs, 0, "[mesh]: missing section");
	free(errs);
}

static void test_err_malformed_line(void **state)
{
	(void)state;
	check_one_error(MESH "retries 3\n" WEB_ID, "retries 3", "retries 3: malformed line");
	check_one_error(MESH "[service.a\nports = 80\n", "[service.a", "missing ']'");
	check_one_error(MESH "= 3\n", "= 3", "missing key name");
	check_one_error("trust_domain = x\n" MESH, "trust_domain = x", "outside of any section");
	check_one_error(MESH "[mesh2] trailing\n", "[mesh2]", "unexpected text after ']'");
}

static void test_err_line_too_long(void **state)
{
	char text[1024];
	char list[400] = "";

	(void)state;
	while (strlen(list) < 300)
		strcat(list, "10.0.0.2:15443*2 ");
	snprintf(text, sizeof(text), MESH "[service.a]\nports = 80\nendpoints = %s\n", list);
	check_one_error(text, "endpoints", "line: too long");
}

static void test_err_vip_out_of_range(void **state)
{
	static const char dup[] = MESH
		"[service.a]\nports = 80\nvip = 127.77.1.1\n"
		"[service.b]\nports = 80\nvip = 127.77.1.1\n";
	char *errs;

	(void)state;
	check_one_error(MESH "[service.a]\nports = 80\nvip = 127.78.0.5\n",
	                "vip =", "vip: 127.78.0.5 is outside vip_range 127.77.0.0/16");
	check_one_error(MESH
	                "vip_range = 127.9.0.0/24\n[service.a]\nports = 80\nvip = 127.9.0.255\n",
	                "vip =", "reserved");
	check_one_error(MESH "vip_range = 127.9.0.0/24\n[service.a]\nports = 80\nvip = 127.9.0.1\n",
	                "vip =", "reserved");
	check_one_error(MESH "[service.a]\nports = 80\nvip = 127.77.1\n", "vip =", "invalid vip");
	errs = load_bad(dup);
	assert_error_at(errs, count_lines(MESH) + 6, "127.77.1.1 is already used by service 'a'");
	free(errs);
}

static void test_err_vip_range(void **state)
{
	(void)state;
	check_one_error(MESH "vip_range = 127.77.0.0/31\n", "vip_range", "prefix /31 out of range");
	check_one_error(MESH "vip_range = 127.77.0.0/7\n", "vip_range", "out of range");
	check_one_error(MESH "vip_range = 127.77.0.1/16\n", "vip_range", "host bits set");
	check_one_error(MESH "vip_range = [::1]/64\n", "vip_range", "invalid range");
	check_one_error(MESH "vip_range = 10.77.0.0/16\n", "vip_range", "not inside 127.0.0.0/8");
}

static void test_err_intercept_port(void **state)
{
	static const char two[] = MESH
		"[service.a]\nports = 80\nintercept = 10.0.0.9:80\n"
		"[service.b]\nports = 80\nintercept = 10.0.0.8:80, 10.0.0.9:80\n";
	char *errs;

	(void)state;
	check_one_error(MESH
	                "[service.a]\nports = 80, 443\nintercept = 10.0.0.9:80 10.0.0.9:8443\n",
	                "intercept", "intercept: 10.0.0.9:8443: port 8443 is not one of ports");
	errs = load_bad(two);
	assert_error_at(errs, count_lines(two),
	                "10.0.0.9:80 is already intercepted by service 'a'");
	free(errs);
}

static void test_err_local_without_upstream(void **state)
{
	(void)state;
	check_one_error(MESH "[service.a]\nports = 80\nendpoints = 10.0.0.2:15443 local\n",
	                "endpoints", "endpoints: 'local' needs an upstream");
}

static void test_err_unknown_user(void **state)
{
	(void)state;
	check_one_error(MESH
	                "[identity.a]\nuids = 1000, no-such-user-libmesh\n"
	                "cert = certs/web.pem\nkey = certs/web.key\n",
	                "uids", "uids: unknown user 'no-such-user-libmesh'");
}

static void test_err_identities(void **state)
{
	static const char text[] = MESH
		"[identity.a]\nuids = 1000 1001\ncert = certs/web.pem\nkey = certs/web.key\n"
		"[identity.b]\nuids = 1001\ncert = certs/web.pem\nkey = certs/web.key\n"
		"[identity.c]\nuids = *\ncert = certs/web.pem\nkey = certs/web.key\n"
		"[identity.d]\nuids = *\ncert = certs/web.pem\nkey = certs/web.key\n"
		"[identity.e]\nuids = * 1002\ncert = certs/missing.pem\nkey = certs\n"
		"[identity.Bad_Name]\nuids = 7\ncert = certs/web.pem\nkey = certs/web.key\n";
	char *errs = load_bad(text);
	int b = line_of(text, "[identity.b]"), d = line_of(text, "[identity.d]");
	int e = line_of(text, "[identity.e]");

	(void)state;
	assert_error_at(errs, b + 1, "uid 1001 already belongs to identity 'a'");
	assert_error_at(errs, d + 1, "'*' is already used by identity 'c'");
	assert_error_at(errs, e + 1, "'*' cannot be combined");
	assert_error_at(errs, e + 2, "cert: cannot read");
	assert_error_at(errs, e + 2, "certs/missing.pem");
	assert_error_at(errs, e + 3, "not a regular file");
	assert_error_at(errs, line_of(text, "[identity.Bad_Name]"), "invalid name 'Bad_Name'");
	free(errs);
}

static void test_err_service_identity(void **state)
{
	(void)state;
	/* Serving (upstream) needs the serving identity's certificate here. */
	check_one_error(MESH WEB_ID "[service.api]\nports = 80\nupstream = 127.0.0.1:9000\n",
	                "[service.api]", "identity: no [identity.api] in this file");
	check_one_error(MESH WEB_ID
	                "[service.api]\nports = 80\nidentity = other\n"
	                "upstream = 127.0.0.1:9000\n",
	                "identity = other", "no [identity.other]");
	check_one_error(MESH WEB_ID "[service.api]\nports = 80\nidentity = Other\n",
	                "identity = Other", "invalid name 'Other'");
	check_one_error(MESH WEB_ID WEB_SVC "upstream = 81=127.0.0.1:81\n", "upstream = 81",
	                "upstream: duplicate key");
	check_one_error(MESH WEB_ID "[service.web]\nports = 80\nupstream = 81=127.0.0.1:81\n",
	                "upstream", "port 81 is not one of ports");
	check_one_error(MESH WEB_ID
	                "[service.web]\nports = 80\n"
	                "upstream = 127.0.0.1:81 127.0.0.1:82\n",
	                "upstream", "more than one upstream");
	check_one_error(MESH "[service.a]\nports = 80\nallow = web, Web\n", "allow",
	                "invalid identity name 'Web'");
	check_one_error(MESH "[service.a]\nports = 80\nallow = web *\n", "allow",
	                "'*' cannot be combined");
	check_one_error(
		MESH "[service.a]\nports = 80\nendpoints = local local\nupstream = 127.0.0.1:1\n",
		"endpoints", "listed twice");
}

static void test_err_mesh_values(void **state)
{
	(void)state;
	check_one_error("[mesh]\ntrust_domain = Example.org\nca = certs/ca.pem\n", "trust_domain",
	                "invalid trust domain");
	check_one_error(MESH "retries = 11\n", "retries", "retries: invalid retries '11' (0..10)");
	check_one_error(MESH "workers = 65\n", "workers", "1..64 or auto");
	check_one_error(MESH "workers = 0\n", "workers", "1..64 or auto");
	check_one_error(MESH "suffix = .mesh\n", "suffix", "no leading");
	check_one_error(MESH "suffix = mesh.\n", "suffix", "no leading");
	check_one_error(MESH "suffix = me_sh\n", "suffix", "invalid suffix");
	check_one_error(MESH "host =\n", "host", "host must be");
	check_one_error(MESH "log =\n", "log", "empty value");
	check_one_error(MESH "[service.a]\nports = 80\nlb = random\n", "lb",
	                "unknown lb 'random' (accepted: p2c_ewma, least_conn, round_robin)");
	check_one_error(MESH "lb = P2C_EWMA\n", "lb", "unknown lb 'P2C_EWMA'");
	check_one_error(MESH "[service.a]\nports = 80\nlb =\n", "lb", "unknown lb ''");
	check_one_error(MESH "ewma_decay = 0\n", "ewma_decay", "ewma_decay");
	check_one_error(MESH "[service.a]\nports = 80\newma_decay = soon\n", "ewma_decay",
	                "ewma_decay");
	check_one_error(MESH "[service.a]\nports = 80\nretries = -1\n", "retries",
	                "invalid retries");
	check_one_error(MESH "link_timeout = 499ms\n", "link_timeout",
	                "499ms is out of range (500ms..300000ms)");
	check_one_error(MESH "link_timeout = 6m\n", "link_timeout", "out of range");
	check_one_error(MESH "link_timeout = soon\n", "link_timeout", "invalid duration");
	check_one_error(MESH "progress_interval = 500ms\n", "progress_interval", "out of range");
	check_one_error(MESH "open_records = yes\n", "open_records", "expected on or off");
}

/* uids = none: an identity that only serves; no uid calls as it. */
static void test_uids_none(void **state)
{
	(void)state;
	struct config *c = load_ok(MESH
	                           "[identity.web]\n"
	                           "uids = none\n"
	                           "cert = certs/web.pem\n"
	                           "key = certs/web.key\n" WEB_SVC);
	assert_int_equal(c->identities[0].nuids, 0);
	assert_false(c->identities[0].any_uid);
	assert_null(policy_identity_for_uid(c, 0));
	assert_null(policy_identity_for_uid(c, 1000));
	config_unref(c);
	check_one_error(MESH
	                "[identity.web]\nuids = none, 1000\ncert = certs/web.pem\n"
	                "key = certs/web.key\n" WEB_SVC,
	                "uids", "cannot be combined");
}

/* link_timeout takes a duration within 500ms..5m, the bounds included. */
static void test_link_timeout(void **state)
{
	(void)state;
	struct config *c = load_ok(MESH "link_timeout = 500ms\n" WEB_ID WEB_SVC);
	assert_true(c->link_timeout == 0.5);
	config_unref(c);
	c = load_ok(MESH "link_timeout = 5m\n" WEB_ID WEB_SVC);
	assert_true(c->link_timeout == 300);
	config_unref(c);
	c = load_ok(MESH "progress_interval = off\nopen_records = on\n" WEB_ID WEB_SVC);
	assert_true(c->progress_interval == 0);
	assert_true(c->open_records);
	config_unref(c);
}

/* The connection limits meshd enforces (outbound.c): max_connections_per_uid
 * and _per_peer default to auto (0, resolved against the descriptor limit
 * by bounds_auto), take a count or "auto", and refuse 0; a service's
 * max_connections defaults to none (0) and takes "none", 0 or a count. */
static void test_connection_limits(void **state)
{
	struct config *c;
	const struct cfg_service *web;

	(void)state;
	c = load_ok(MESH WEB_ID WEB_SVC);
	assert_int_equal(c->max_conns_per_uid, 0);
	assert_int_equal(c->max_conns_per_peer, 0);
	web = config_service(c, "web");
	assert_non_null(web);
	assert_int_equal(web->max_connections, 0);
	config_unref(c);

	c = load_ok(MESH "max_connections_per_uid = auto\nmax_connections_per_peer = 300\n" WEB_ID
	                    WEB_SVC "max_connections = none\n");
	assert_int_equal(c->max_conns_per_uid, 0);
	assert_int_equal(c->max_conns_per_peer, 300);
	assert_int_equal(config_service(c, "web")->max_connections, 0);
	config_unref(c);

	c = load_ok(MESH "max_connections_per_uid = 200\n" WEB_ID WEB_SVC "max_connections = 0\n");
	assert_int_equal(c->max_conns_per_uid, 200);
	assert_int_equal(config_service(c, "web")->max_connections, 0);
	config_unref(c);

	c = load_ok(MESH "max_connections_per_uid = 10000000\n" WEB_ID WEB_SVC
	                 "max_connections = 5\n");
	assert_int_equal(c->max_conns_per_uid, 10000000);
	assert_int_equal(config_service(c, "web")->max_connections, 5);
	config_unref(c);

	check_one_error(MESH "max_connections_per_uid = 0\n", "max_connections_per_uid",
	                "invalid max_connections_per_uid '0' (1..10000000 or auto)");
	check_one_error(MESH "max_connections_per_uid = 10000001\n", "max_connections_per_uid",
	                "1..10000000 or auto");
	check_one_error(MESH "max_connections_per_peer = lots\n", "max_connections_per_peer",
	                "invalid max_connections_per_peer 'lots'");
	check_one_error(MESH WEB_ID WEB_SVC "max_connections = auto\n", "max_connections",
	                "invalid max_connections 'auto' (0..10000000 or none)");
	check_one_error(MESH WEB_ID WEB_SVC "max_connections = -1\n", "max_connections",
	                "invalid max_connections");
}

static void test_err_cannot_open(void **state)
{
	char *errs = NULL;
	struct config *c = config_load("/nonexistent/libmesh.ini", NULL, NULL, &errs);

	(void)state;
	assert_null(c);
	assert_non_null(errs);
	assert_non_null(strstr(errs, "/nonexistent/libmesh.ini:0: file: cannot open"));
	free(errs);
}

/* Every problem of a file in one pass, sorted by line. */
static void test_multiple_errors(void **state)
{
	static const char text[] =
		"[mesh]\n"                     /* 1 */
		"trust_domain = example.org\n" /* 2 */
		"ca = certs/ca.pem\n"          /* 3 */
		"retries = many\n"             /* 4 */
		"[bogus]\n"                    /* 5 */
		"x = 1\n"                      /* 6: inside an unknown section: skipped */
		"[service.a]\n"                /* 7 */
		"ports = 80, 99999\n"          /* 8 */
		"colour = red\n"               /* 9 */
		"this line is broken\n"        /* 10 */
		"connect_timeout = fast\n"     /* 11 */
		"[service.b]\n"                /* 12: ports missing */
		"endpoints = local\n"          /* 13: no upstream */
		"vip = 10.0.0.1\n";            /* 14 */
	char *errs = load_bad(text);
	const char *p;
	int prev = 0, n = 0;

	(void)state;
	assert_error_at(errs, 4, "retries: invalid retries 'many'");
	assert_error_at(errs, 5, "[bogus]: unknown section");
	assert_error_at(errs, 8, "ports: invalid port '99999'");
	assert_error_at(errs, 9, "colour: unknown key in [service.a]");
	assert_error_at(errs, 10, "this line is broken: malformed line");
	assert_error_at(errs, 11, "connect_timeout: invalid duration 'fast'");
	assert_error_at(errs, 12, "ports: missing (required in [service.b])");
	assert_error_at(errs, 13, "endpoints: 'local' needs an upstream");
	assert_error_at(errs, 14, "vip: 10.0.0.1 is outside vip_range");

	/* exactly these nine, in line order */
	for (p = errs; *p; p = strchr(p, '\n') + 1) {
		int line = atoi(p + strlen(g_path) + 1);
		assert_true(line >= prev);
		prev = line;
		n++;
	}
	assert_int_equal(n, 9);
	free(errs);
}

/* ---- reading details -------------------------------------------------- */

static void test_comments_bom_crlf(void **state)
{
	static const char text[] =
		"\xEF\xBB\xBF# comment\r\n"
		"; another\r\n"
		"[mesh]   ; trailing comment\r\n"
		"trust_domain = example.org ; inline\r\n"
		"ca: certs/ca.pem\r\n"
		"\r\n";
	struct config *c = load_ok(text);

	(void)state;
	assert_string_equal(c->trust_domain, "example.org");
	config_unref(c);
}

/* Comments after a continuation line are comments, as on key lines. */
static void test_continuation_comments(void **state)
{
	static const char text[] =
		"[mesh]\n"
		"trust_domain = example.org\n"
		"ca = certs/ca.pem\n"
		"[service.x]\n"
		"ports = 80\n"
		"endpoints = 10.0.0.2:15443,   ; first\n"
		"  10.0.0.3:15443*2             ; second\n"
		"  ; a whole comment line\n";
	struct config *c = load_ok(text);

	(void)state;
	assert_int_equal(c->services[0].nendpoints, 2);
	assert_string_equal(c->services[0].endpoints[1].text, "10.0.0.3:15443");
	assert_int_equal(c->services[0].endpoints[1].weight, 2);
	config_unref(c);
}

/* Continuation lines extend a value; the error line is the key's line. */
static void test_continuation_error_line(void **state)
{
	static const char text[] = MESH
		"[service.a]\n"
		"ports = 80\n"
		"endpoints = 10.0.0.1:15443\n"
		"   10.0.0.2:15443, 10.0.0.x:1\n"
		"  retries = 1\n";
	char *errs = load_bad(text);

	(void)state;
	assert_error_at(errs, line_of(text, "endpoints"), "invalid endpoint '10.0.0.x:1'");
	free(errs);
}

/* ---- VIPs ------------------------------------------------------------- */

struct prev_map {
	const char *name[8];
	uint32_t vip[8];
	unsigned calls;
};

static uint32_t prev_lookup(const char *name, void *arg, struct in6_addr *vip6)
{
	struct prev_map *m = arg;

	memset(vip6, 0, sizeof *vip6);
	m->calls++;
	for (unsigned i = 0; i < 8 && m->name[i]; i++)
		if (strcmp(m->name[i], name) == 0)
			return m->vip[i];
	return 0;
}

/* Usable offsets are 2..size-2; the hash picks offset 2 + h % (size - 3). */
static uint32_t hashed_vip(const char *net, unsigned prefix, const char *name)
{
	uint32_t size = 1u << (32 - prefix);

	return htonl(ntohl(ip(net)) + 2 + fnv1a(name) % (size - 3));
}

static void test_vip_hash_deterministic(void **state)
{
	static const char text[] = MESH
		"[service.zeta]\nports = 80\n"
		"[service.alpha]\nports = 80\n"
		"[service.mid]\nports = 80\n";
	static const char reordered[] = MESH
		"[service.mid]\nports = 80\n"
		"[service.alpha]\nports = 80\n"
		"[service.zeta]\nports = 80\n";
	struct config *a = load_ok(text), *b = load_ok(text), *r = load_ok(reordered);
	const char *names[] = { "zeta", "alpha", "mid" };

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		uint32_t v = config_service(a, names[i])->vip.s_addr;
		assert_int_equal(v, config_service(b, names[i])->vip.s_addr);
		assert_int_equal(v, config_service(r, names[i])->vip.s_addr);
	}
	/* In a /16 these three do not collide: each sits at its hash. */
	assert_int_equal(config_service(a, "alpha")->vip.s_addr,
	                 hashed_vip("127.77.0.0", 16, "alpha"));
	assert_int_equal(config_service(a, "zeta")->vip.s_addr,
	                 hashed_vip("127.77.0.0", 16, "zeta"));
	config_unref(a);
	config_unref(b);
	config_unref(r);
}

static void test_vip_prev_honoured(void **state)
{
	static const char text[] = MESH
		"[service.web]\nports = 80\n"
		"[service.api]\nports = 80\n"
		"[service.db]\nports = 5432\nvip = 127.77.9.9\n"
		"[service.old]\nports = 80\n";
	struct prev_map m = {
		.name = { "web", "api", "db", "old" },
		.vip = { 0, 0, 0, 0 },
	};
	struct config *c;
	char *errs = NULL;

	(void)state;
	m.vip[0] = ip("127.77.5.5"); /* honoured */
	m.vip[1] = ip("127.77.9.9"); /* taken by a fixed VIP: ignored */
	m.vip[2] = ip("127.77.1.2"); /* fixed VIP wins over prev */
	m.vip[3] = ip("10.0.0.1");   /* outside the range: ignored */
	c = load_text(text, prev_lookup, &m, &errs);
	assert_non_null(c);
	assert_null(errs);
	assert_true(m.calls >= 3);
	assert_int_equal(config_service(c, "web")->vip.s_addr, ip("127.77.5.5"));
	assert_int_equal(config_service(c, "db")->vip.s_addr, ip("127.77.9.9"));
	assert_int_equal(config_service(c, "api")->vip.s_addr, hashed_vip("127.77.0.0", 16, "api"));
	assert_int_equal(config_service(c, "old")->vip.s_addr, hashed_vip("127.77.0.0", 16, "old"));
	config_unref(c);
}

static const struct config *g_prev_cfg;

static uint32_t prev_from_config(const char *name, void *arg, struct in6_addr *vip6)
{
	const struct cfg_service *s = config_service(g_prev_cfg, name);

	(void)arg;
	memset(vip6, 0, sizeof *vip6);
	if (s)
		*vip6 = s->vip6;
	return s ? s->vip.s_addr : 0;
}

/* A new service whose hash lands on an existing service's VIP must not move
 * that service when the previous assignment is given. */
static void test_vip_new_service_keeps_existing(void **state)
{
	static const char head[] = MESH "vip_range = 127.99.0.0/28\n"; /* 13 usable */
	char text1[512], text2[512], newname[16];
	struct config *c1, *c2, *c3;
	uint32_t slot;

	(void)state;
	snprintf(text1, sizeof(text1), "%s[service.mmm]\nports = 80\n[service.nnn]\nports = 80\n",
	         head);
	c1 = load_ok(text1);
	slot = ntohl(config_service(c1, "mmm")->vip.s_addr) - ntohl(ip("127.99.0.0")) - 2;

	/* a name sorting before "mmm" whose hash is mmm's slot */
	for (unsigned i = 0;; i++) {
		assert_true(i < 100000);
		snprintf(newname, sizeof(newname), "a%u", i);
		if (fnv1a(newname) % 13 == slot)
			break;
	}
	snprintf(text2, sizeof(text2),
	         "%s[service.mmm]\nports = 80\n[service.nnn]\nports = 80\n"
	         "[service.%s]\nports = 80\n",
	         head, newname);

	/* without the previous assignment the newcomer takes mmm's address */
	c2 = load_ok(text2);
	assert_int_equal(config_service(c2, newname)->vip.s_addr,
	                 config_service(c1, "mmm")->vip.s_addr);
	assert_int_not_equal(config_service(c2, "mmm")->vip.s_addr,
	                     config_service(c1, "mmm")->vip.s_addr);

	/* with it, nobody moves */
	g_prev_cfg = c1;
	{
		char *errs = NULL;
		c3 = load_text(text2, prev_from_config, NULL, &errs);
		assert_non_null(c3);
	}
	assert_int_equal(config_service(c3, "mmm")->vip.s_addr,
	                 config_service(c1, "mmm")->vip.s_addr);
	assert_int_equal(config_service(c3, "nnn")->vip.s_addr,
	                 config_service(c1, "nnn")->vip.s_addr);
	assert_int_not_equal(config_service(c3, newname)->vip.s_addr,
	                     config_service(c1, "mmm")->vip.s_addr);
	assert_int_not_equal(config_service(c3, newname)->vip.s_addr,
	                     config_service(c1, "nnn")->vip.s_addr);
	g_prev_cfg = NULL;
	config_unref(c1);
	config_unref(c2);
	config_unref(c3);
}

/* A /29 has 8 addresses: .0 network, .1 reserved, .7 broadcast: 5 usable. */
static void test_vip_range_full(void **state)
{
	static const char five[] = MESH
		"vip_range = 127.1.1.8/29\n"
		"[service.s1]\nports = 1\n[service.s2]\nports = 1\n[service.s3]\nports = 1\n"
		"[service.s4]\nports = 1\n[service.s5]\nports = 1\n";
	static const char six[] = MESH
		"vip_range = 127.1.1.8/29\n"
		"[service.s1]\nports = 1\n[service.s2]\nports = 1\n[service.s3]\nports = 1\n"
		"[service.s4]\nports = 1\n[service.s5]\nports = 1\n[service.s6]\nports = 1\n";
	struct config *c = load_ok(five);
	unsigned seen = 0;
	char *errs;

	(void)state;
	for (unsigned i = 0; i < c->nservices; i++) {
		uint32_t off = ntohl(c->services[i].vip.s_addr) - ntohl(ip("127.1.1.8"));
		assert_true(off >= 2 && off <= 6);
		assert_false(seen & (1u << off));
		seen |= 1u << off;
	}
	config_unref(c);

	errs = load_bad(six);
	assert_non_null(strstr(errs, "no free VIP: vip_range 127.1.1.8/29 is full"));
	free(errs);
}

/* ---- lookups ---------------------------------------------------------- */

static void test_upstream_lookup(void **state)
{
	struct config *c = load_ok(full_text);
	const struct cfg_service *web = config_service(c, "web"), *api = config_service(c, "api");
	const struct cfg_upstream *u;
	struct config *c2;

	(void)state;
	u = config_upstream(web, 443);
	assert_non_null(u);
	assert_int_equal(u->port, 443);
	assert_string_equal(addr_str(&u->addr), "127.0.0.1:8443");
	u = config_upstream(web, 80);
	assert_non_null(u);
	assert_int_equal(u->port, 0);
	assert_string_equal(addr_str(&u->addr), "127.0.0.1:8080");
	assert_null(config_upstream(api, 9000));
	assert_null(config_upstream(NULL, 80));
	config_unref(c);

	c2 = load_ok(MESH WEB_ID "[service.web]\nports = 80 81\nupstream = 80=[::1]:8080\n");
	web = config_service(c2, "web");
	assert_string_equal(addr_str(&config_upstream(web, 80)->addr), "[::1]:8080");
	assert_null(config_upstream(web, 81));
	config_unref(c2);
}

static void test_allows(void **state)
{
	struct config *c = load_ok(full_text);
	const struct cfg_service *web = config_service(c, "web"), *api = config_service(c, "api");
	struct config *c2;

	(void)state;
	assert_true(policy_allows(web, "api")); /* not an identity of this file */
	assert_true(policy_allows(web, "batch"));
	assert_false(policy_allows(web, "web"));
	assert_false(policy_allows(web, NULL));
	assert_false(policy_allows(api, "web")); /* no allow: deny all */
	config_unref(c);

	c2 = load_ok(MESH WEB_ID WEB_SVC);
	assert_true(policy_allows(config_service(c2, "web"), "anyone"));
	assert_false(policy_allows(config_service(c2, "web"), NULL));
	config_unref(c2);
}

static void test_identity_for_uid(void **state)
{
	struct config *c = load_ok(full_text);
	struct config *c2;

	(void)state;
	assert_string_equal(policy_identity_for_uid(c, 1000)->name, "web");
	assert_string_equal(policy_identity_for_uid(c, 0)->name, "web");      /* root */
	assert_string_equal(policy_identity_for_uid(c, 4242)->name, "batch"); /* '*' */
	config_unref(c);

	c2 = load_ok(MESH WEB_ID WEB_SVC);
	assert_string_equal(policy_identity_for_uid(c2, 1000)->name, "web");
	assert_null(policy_identity_for_uid(c2, 1001));
	config_unref(c2);
}

/* ---- pure helpers ----------------------------------------------------- */

static void test_parse_addr(void **state)
{
	struct cfg_addr a;
	char buf[64];
	static const char *bad[] = {
		"",
		"1.2.3.4",
		"1.2.3.4:",
		"1.2.3.4:0",
		"1.2.3.4:65536",
		"1.2.3.4:-1",
		"1.2.3.4:+80",
		"1.2.3:80",
		"01.2.3.4:80x",
		"::1:80",
		"[::1]",
		"[::1]80",
		"[]:80",
		"[1.2.3.4]:80",
		"host:80",
		" 1.2.3.4:80",
		"1.2.3.4:80 ",
		"[::1]:99999",
	};

	(void)state;
	assert_int_equal(net_parse_addr("1.2.3.4:80", &a), 0);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_string_equal(net_addr_str(&a, buf, sizeof(buf)), "1.2.3.4:80");
	assert_int_equal(net_parse_addr("[::1]:65535", &a), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_string_equal(net_addr_str(&a, buf, sizeof(buf)), "[::1]:65535");
	assert_int_equal(net_parse_addr("[2001:DB8::a]:1", &a), 0);
	assert_string_equal(net_addr_str(&a, buf, sizeof(buf)), "[2001:db8::a]:1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (net_parse_addr(bad[i], &a) != -1)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_equal(net_parse_addr(NULL, &a), -1);
}

static void test_parse_duration(void **state)
{
	double s;
	static const char *bad[] = {
		"",   "0",    "0s", "0.0ms", "-1s", "1.s", ".5s",  "1 s",
		"1d", "1sec", "s",  "1e3",   "inf", "nan", "0x10", "1mss",
	};

	(void)state;
	assert_int_equal(config_parse_duration("250ms", &s), 0);
	assert_true(s > 0.2499 && s < 0.2501);
	assert_int_equal(config_parse_duration("1s", &s), 0);
	assert_true(s == 1);
	assert_int_equal(config_parse_duration("2m", &s), 0);
	assert_true(s == 120);
	assert_int_equal(config_parse_duration("1h", &s), 0);
	assert_true(s == 3600);
	assert_int_equal(config_parse_duration("5", &s), 0);
	assert_true(s == 5);
	assert_int_equal(config_parse_duration("0.5", &s), 0);
	assert_true(s == 0.5);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_duration(bad[i], &s) != -1)
			fail_msg("accepted '%s'", bad[i]);
}

/* vip6_range: off by default (no IPv6 VIPs); on, every service gets a
 * stable address in it (fixed, previous, hashed), never offsets 0 and 1;
 * ranges outside fc00::/7 or with a bad prefix are refused. */
struct prev6 {
	const char *name;
	const char *vip6;
};

static uint32_t prev6_lookup(const char *name, void *arg, struct in6_addr *vip6)
{
	const struct prev6 *p = arg;
	memset(vip6, 0, sizeof *vip6);
	for (; p->name; p++)
		if (strcmp(p->name, name) == 0)
			assert_int_equal(inet_pton(AF_INET6, p->vip6, vip6), 1);
	return 0;
}

static void test_vip6(void **state)
{
	static const char off[] = MESH "[service.web]\nports = 80\n";
	static const char on[] = MESH
		"vip6_range = fd6d:6573:6800::/64\n"
		"[service.web]\nports = 80\n"
		"[service.api]\nports = 80\n"
		"[service.db]\nports = 5432\nvip6 = fd6d:6573:6800::99\n";
	char *errs = NULL;
	char a[INET6_ADDRSTRLEN];

	(void)state;
	struct config *c = load_ok(off);
	assert_false(c->vip6_on);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&config_service(c, "web")->vip6));
	config_unref(c);

	c = load_ok(on);
	assert_true(c->vip6_on);
	assert_int_equal(c->vip6_prefix, 64);
	inet_ntop(AF_INET6, &config_service(c, "db")->vip6, a, sizeof a);
	assert_string_equal(a, "fd6d:6573:6800::99");
	struct in6_addr web = config_service(c, "web")->vip6;
	struct in6_addr api = config_service(c, "api")->vip6;
	assert_int_equal(memcmp(web.s6_addr, c->vip6_net.s6_addr, 8), 0);
	assert_int_equal(memcmp(api.s6_addr, c->vip6_net.s6_addr, 8), 0);
	assert_int_not_equal(memcmp(&web, &api, 16), 0);
	config_unref(c);
	/* The same again (deterministic), and a previous one is kept. */
	c = load_ok(on);
	assert_int_equal(memcmp(&config_service(c, "web")->vip6, &web, 16), 0);
	config_unref(c);
	struct prev6 prev[] = { { "web", "fd6d:6573:6800::5" },
		                { "api", "fd6d:6573:6800::1" },
		                { NULL, NULL } };
	c = load_text(on, prev6_lookup, prev, &errs);
	assert_non_null(c);
	inet_ntop(AF_INET6, &config_service(c, "web")->vip6, a, sizeof a);
	assert_string_equal(a, "fd6d:6573:6800::5");
	/* ::1 is reserved: api gets its hashed address. */
	assert_int_equal(memcmp(&config_service(c, "api")->vip6, &api, 16), 0);
	config_unref(c);

	/* A /120 holds 254. */
	c = load_ok(MESH "vip6_range = fd00::100/120\n[service.web]\nports = 80\n");
	assert_int_equal(config_service(c, "web")->vip6.s6_addr[14], 1);
	assert_true(config_service(c, "web")->vip6.s6_addr[15] >= 2);
	config_unref(c);

	static const char *const bad[] = {
		MESH "vip6_range = 2001:db8::/64\n",
		MESH "vip6_range = fec0::/64\n",
		MESH "vip6_range = fd00::/48\n",
		MESH "vip6_range = fd00::/124\n",
		MESH "vip6_range = fd00::1/64\n",
		MESH "vip6_range = fd00::\n",
		MESH "vip6_range = 127.0.0.0/8\n",
		MESH "[service.web]\nports = 80\nvip6 = fd00::5\n",
		MESH "vip6_range = fd00::/64\n[service.web]\nports = 80\nvip6 = fd01::5\n",
		MESH "vip6_range = fd00::/64\n[service.web]\nports = 80\nvip6 = fd00::1\n",
		MESH
		"vip6_range = fd00::/64\n[service.web]\nports = 80\nvip6 = fd00::7\n"
		"[service.api]\nports = 80\nvip6 = fd00::7\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *e = load_bad(bad[i]);
		assert_non_null(strstr(e, "vip6"));
		free(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_health_keys),
		cmocka_unit_test(test_health_key_errors),
		cmocka_unit_test(test_empty_suffix_and_options),
		cmocka_unit_test(test_dns_key),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_unknown_section),
		cmocka_unit_test(test_err_bad_port),
		cmocka_unit_test(test_err_bad_address),
		cmocka_unit_test(test_err_bad_duration),
		cmocka_unit_test(test_err_duplicate_key),
		cmocka_unit_test(test_err_duplicate_section),
		cmocka_unit_test(test_err_missing_required),
		cmocka_unit_test(test_err_malformed_line),
		cmocka_unit_test(test_err_line_too_long),
		cmocka_unit_test(test_err_vip_out_of_range),
		cmocka_unit_test(test_err_vip_range),
		cmocka_unit_test(test_err_intercept_port),
		cmocka_unit_test(test_err_local_without_upstream),
		cmocka_unit_test(test_err_unknown_user),
		cmocka_unit_test(test_continuation_comments),
		cmocka_unit_test(test_err_identities),
		cmocka_unit_test(test_err_service_identity),
		cmocka_unit_test(test_err_mesh_values),
		cmocka_unit_test(test_link_timeout),
		cmocka_unit_test(test_uids_none),
		cmocka_unit_test(test_connection_limits),
		cmocka_unit_test(test_err_cannot_open),
		cmocka_unit_test(test_multiple_errors),
		cmocka_unit_test(test_comments_bom_crlf),
		cmocka_unit_test(test_continuation_error_line),
		cmocka_unit_test(test_vip_hash_deterministic),
		cmocka_unit_test(test_vip_prev_honoured),
		cmocka_unit_test(test_vip6),
		cmocka_unit_test(test_vip_new_service_keeps_existing),
		cmocka_unit_test(test_vip_range_full),
		cmocka_unit_test(test_upstream_lookup),
		cmocka_unit_test(test_allows),
		cmocka_unit_test(test_identity_for_uid),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_parse_duration),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
