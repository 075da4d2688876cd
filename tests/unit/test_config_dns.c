/*
 * dns: and srv: entries of `endpoints` and the discovery keys of [mesh]
 * (daemon/config_lists.c, config_keys.c): their syntax and errors, what
 * discovery found substituted (config_load_with's callback): weights,
 * failover tiers from '|' groups and SRV priority ranks, addresses given
 * twice, the bound on endpoints; and a load from a running config's text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "net.h"

static char g_dir[256];
static char g_ini[300];

#define MESH "[mesh]\ntrust_domain = t.test\nca = ca.pem\nsnapshot = /tmp/x/routes\n"
#define SVC(ep) "[service.api]\nports = 80\nendpoints = " ep "\n"

static int setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/test_config_dns.XXXXXX", p[PATH_MAX];
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(g_dir, sizeof g_dir, "%s", tmpl);
	snprintf(p, sizeof p, "%s/ca.pem", g_dir);
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	fputs("placeholder\n", f);
	fclose(f);
	snprintf(g_ini, sizeof g_ini, "%s/mesh.ini", g_dir); /* never written */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/ca.pem", g_dir);
	unlink(p);
	rmdir(g_dir);
	return 0;
}

/* What the callback hands out: per source text, a list. */
struct fake {
	const char *source;
	struct cfg_found f[300];
	unsigned n;
};
static struct fake fakes[4];
static unsigned nfakes;

static unsigned found_cb(void *arg, const char *source, const struct cfg_found **found)
{
	(void)arg;
	for (unsigned i = 0; i < nfakes; i++) {
		if (strcmp(fakes[i].source, source) == 0) {
			*found = fakes[i].f;
			return fakes[i].n;
		}
	}
	return 0;
}

static void fake(const char *source, const char *addr, unsigned weight, unsigned rank)
{
	struct fake *f = NULL;
	for (unsigned i = 0; i < nfakes; i++)
		if (strcmp(fakes[i].source, source) == 0)
			f = &fakes[i];
	if (!f) {
		f = &fakes[nfakes++];
		f->source = source;
		f->n = 0;
	}
	assert_int_equal(net_parse_addr(addr, &f->f[f->n].addr), 0);
	f->f[f->n].weight = weight;
	f->f[f->n].rank = rank;
	f->n++;
}

static struct config *load(const char *text, char **errs)
{
	return config_load_with(g_ini, text, strlen(text), NULL, NULL, found_cb, NULL, errs);
}

static struct config *load_ok(const char *text)
{
	char *errs = NULL;
	struct config *c = load(text, &errs);
	if (!c)
		fail_msg("unexpected errors:\n%s", errs ? errs : "(none)");
	return c;
}

static void load_bad(const char *text, const char *substr)
{
	char *errs = NULL;
	struct config *c = load(text, &errs);
	if (c) {
		config_unref(c);
		fail_msg("accepted:\n%s", text);
	}
	if (!strstr(errs, substr))
		fail_msg("'%s' not in:\n%s", substr, errs);
	free(errs);
}

static const char *addr(const struct cfg_endpoint *e)
{
	static char b[64];
	return net_addr_str(&e->addr, b, sizeof b);
}

static void syntax(void **state)
{
	(void)state;
	nfakes = 0;
	struct config *c =
		load_ok(MESH SVC("10.0.0.9:15443, dns:API.Service.Consul.:15443*3 | "
	                         "srv:_api._tcp.Example.com"));
	const struct cfg_service *s = config_service(c, "api");
	assert_int_equal(s->nendpoints, 1);
	assert_int_equal(s->ndns, 2);
	assert_string_equal(s->dns[0].text, "dns:api.service.consul:15443");
	assert_string_equal(s->dns[0].name, "api.service.consul");
	assert_int_equal(s->dns[0].kind, CFG_DNS_A);
	assert_int_equal(s->dns[0].port, 15443);
	assert_int_equal(s->dns[0].weight, 3);
	assert_int_equal(s->dns[0].group, 0);
	assert_string_equal(s->dns[1].text, "srv:_api._tcp.example.com");
	assert_int_equal(s->dns[1].kind, CFG_DNS_SRV);
	assert_int_equal(s->dns[1].group, 1);
	assert_null(s->endpoints[0].source);
	/* Defaults of the [mesh] keys */
	assert_int_equal(c->nresolvers, 0);
	assert_true(c->dns_ttl_min == 5 && c->dns_ttl_max == 300 && c->dns_timeout == 2);
	/* The text is kept, and loads again to the same */
	assert_non_null(c->text);
	struct config *c2 =
		config_load_with(c->path, c->text, c->textlen, NULL, NULL, NULL, NULL, NULL);
	assert_non_null(c2);
	assert_int_equal(config_service(c2, "api")->ndns, 2);
	config_unref(c2);
	config_unref(c);
	/* A group of dns: entries only is not empty. */
	c = load_ok(MESH SVC("dns:a.example:1 | dns:b.example:1"));
	assert_int_equal(config_service(c, "api")->nendpoints, 0);
	config_unref(c);
}

static void errors(void **state)
{
	(void)state;
	nfakes = 0;
	load_bad(MESH SVC("dns:api.example"), "expected dns:NAME:PORT");
	load_bad(MESH SVC("dns:api.example:0"), "expected dns:NAME:PORT");
	load_bad(MESH SVC("dns:api..example:80"), "invalid DNS name");
	load_bad(MESH SVC("dns::80"), "invalid DNS name");
	load_bad(MESH SVC("srv:a/b.example"), "invalid DNS name");
	load_bad(MESH SVC("srv:_a._tcp.example*2"), "takes its weights from the records");
	load_bad(MESH SVC("dns:a.example:80, dns:A.example.:80"), "listed twice");
	load_bad(MESH SVC("dns:a.example:80 |"), "failover group 2 is empty");
	load_bad(MESH "resolvers = nope\n" SVC("10.0.0.1:1"), "invalid resolver");
	load_bad(MESH "resolvers = 10.0.0.1 10.0.0.1:53\n" SVC("10.0.0.1:1"), "listed twice");
	load_bad(MESH "dns_ttl_min = 10s\ndns_ttl_max = 5s\n" SVC("10.0.0.1:1"),
	         "dns_ttl_max (5s) is shorter than dns_ttl_min (10s)");
	load_bad(MESH "dns_ttl_min = 500ms\n" SVC("10.0.0.1:1"), "out of range");
	load_bad(MESH "dns_timeout = 1m\n" SVC("10.0.0.1:1"), "out of range");
	/* More than CFG_MAX_DNS entries in the config */
	char big[8192] = MESH "[service.api]\nports = 80\nendpoints =";
	for (int i = 0; i <= CFG_MAX_DNS; i++) {
		char e[40];
		snprintf(e, sizeof e, "\n  dns:n%d.example:80", i);
		strcat(big, e);
	}
	strcat(big, "\n");
	load_bad(big, "more than 64 dns: and srv: entries");
}

static void resolvers(void **state)
{
	(void)state;
	struct config *c = load_ok(MESH
	                           "resolvers = 10.0.0.53, [::1]:5353 127.0.0.1:54\n"
	                           "dns_ttl_min = 1s\ndns_ttl_max = 1h\n"
	                           "dns_timeout = 250ms\n" SVC("10.0.0.1:1"));
	char b[64];
	assert_int_equal(c->nresolvers, 3);
	assert_string_equal(net_addr_str(&c->resolvers[0], b, sizeof b), "10.0.0.53:53");
	assert_string_equal(net_addr_str(&c->resolvers[1], b, sizeof b), "[::1]:5353");
	assert_string_equal(net_addr_str(&c->resolvers[2], b, sizeof b), "127.0.0.1:54");
	assert_true(c->dns_ttl_min == 1 && c->dns_ttl_max == 3600 && c->dns_timeout == 0.25);
	config_unref(c);
}

static void substituted(void **state)
{
	(void)state;
	nfakes = 0;
	fake("dns:api.example:15443", "10.0.0.9:15443", 1, 0); /* also written */
	fake("dns:api.example:15443", "10.0.0.2:15443", 1, 0);
	fake("srv:_api._tcp.example", "10.0.1.1:15443", 5, 0);
	fake("srv:_api._tcp.example", "10.0.1.2:15443", 0, 1);
	fake("srv:_api._tcp.example", "10.0.0.2:15443", 1, 1); /* found twice */
	struct config *c =
		load_ok(MESH SVC("10.0.0.9:15443, dns:api.example:15443*3, "
	                         "srv:_api._tcp.example | 10.0.0.7:15443"));
	const struct cfg_service *s = config_service(c, "api");
	assert_int_equal(s->nendpoints, 5);
	/* written first, then the entries' in order */
	assert_string_equal(addr(&s->endpoints[0]), "10.0.0.9:15443");
	assert_int_equal(s->endpoints[0].tier, 0);
	assert_string_equal(addr(&s->endpoints[1]), "10.0.0.7:15443");
	assert_int_equal(s->endpoints[1].tier, 2); /* after the srv: ranks of group 0 */
	assert_string_equal(addr(&s->endpoints[2]), "10.0.0.2:15443");
	assert_string_equal(s->endpoints[2].source, "dns:api.example:15443");
	assert_string_equal(s->endpoints[2].text, "10.0.0.2:15443");
	assert_int_equal(s->endpoints[2].weight, 3);
	assert_int_equal(s->endpoints[2].tier, 0);
	assert_string_equal(addr(&s->endpoints[3]), "10.0.1.1:15443");
	assert_int_equal(s->endpoints[3].weight, 5);
	assert_int_equal(s->endpoints[3].tier, 0); /* rank 0 shares its group's tier */
	assert_string_equal(addr(&s->endpoints[4]), "10.0.1.2:15443");
	assert_int_equal(s->endpoints[4].weight, 1); /* SRV weight 0 */
	assert_int_equal(s->endpoints[4].tier, 1);
	assert_int_equal(s->dns_dropped, 0);
	config_unref(c);
}

static void bound(void **state)
{
	(void)state;
	nfakes = 0;
	for (unsigned i = 0; i < 300; i++) {
		char a[40];
		snprintf(a, sizeof a, "10.2.%u.%u:15443", i / 200, i % 200 + 1);
		fake("dns:flood.example:15443", a, 1, 0);
	}
	struct config *c = load_ok(MESH SVC("10.9.9.9:1, dns:flood.example:15443"));
	const struct cfg_service *s = config_service(c, "api");
	assert_int_equal(s->nendpoints, CFG_MAX_ENDPOINTS);
	assert_int_equal(s->dns_dropped, 300 - (CFG_MAX_ENDPOINTS - 1));
	assert_string_equal(addr(&s->endpoints[0]), "10.9.9.9:1");
	config_unref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(syntax),    cmocka_unit_test(errors),
		cmocka_unit_test(resolvers), cmocka_unit_test(substituted),
		cmocka_unit_test(bound),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
