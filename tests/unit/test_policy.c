/*
 * Unit tests of daemon/policy.c, the identity decisions: a uid's identity,
 * the one-URI-SAN rule and its reasons (which the records carry, so they
 * are checked word for word), what a SPIFFE ID may look like, the name a
 * URI stands for, the allow lists and the two ends of a link. The config
 * structs are built in memory: policy.c only reads them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

/* ---- who is calling: local uid */

static void test_identity_for_uid(void **state)
{
	uid_t web_uids[] = { 1000, 0 }, batch_uids[] = { 4242 };
	struct cfg_identity ids[3] = {
		{ .name = "any", .any_uid = true },
		{ .name = "web", .uids = web_uids, .nuids = 2 },
		{ .name = "batch", .uids = batch_uids, .nuids = 1 },
	};
	struct config c = { .identities = ids, .nidentities = 3 };

	(void)state;
	/* A listed uid wins over uids = *, whichever comes first. */
	assert_string_equal(policy_identity_for_uid(&c, 1000)->name, "web");
	assert_string_equal(policy_identity_for_uid(&c, 0)->name, "web");
	assert_string_equal(policy_identity_for_uid(&c, 4242)->name, "batch");
	assert_string_equal(policy_identity_for_uid(&c, 7)->name, "any");
	ids[0].any_uid = false;
	assert_null(policy_identity_for_uid(&c, 7));
	assert_null(policy_identity_for_uid(NULL, 1000));
	c.nidentities = 0;
	assert_null(policy_identity_for_uid(&c, 1000));
}

/* ---- who is calling: a peer certificate's URI SANs */

static int svid(int nuri, const char *uri, size_t len, char *buf, char *why)
{
	strcpy(buf, "stale");
	why[0] = '\0';
	return policy_svid_id(nuri, (const unsigned char *)uri, uri ? (int)strlen(uri) : 0, buf,
	                      len, why, 128);
}

static void test_svid_one_uri(void **state)
{
	char buf[160], why[128];

	(void)state;
	assert_int_equal(svid(1, "spiffe://example.org/svc/web", sizeof buf, buf, why), 0);
	assert_string_equal(buf, "spiffe://example.org/svc/web");

	assert_int_equal(svid(0, NULL, sizeof buf, buf, why), -1);
	assert_string_equal(buf, "");
	assert_string_equal(why, "certificate has no URI SAN (a SPIFFE ID is required)");

	/* Two URIs, even two good ones: who would the certificate be? */
	assert_int_equal(svid(2, "spiffe://example.org/svc/web", sizeof buf, buf, why), -1);
	assert_string_equal(buf, "");
	assert_string_equal(why, "certificate has 2 URI SANs; SPIFFE requires exactly one");
	assert_int_equal(svid(3, "spiffe://example.org/svc/web", sizeof buf, buf, why), -1);
	assert_string_equal(why, "certificate has 3 URI SANs; SPIFFE requires exactly one");
}

static void test_svid_reasons(void **state)
{
	char buf[160], why[128];

	(void)state;
	assert_int_equal(svid(1, "https://example.org/svc/web", sizeof buf, buf, why), -1);
	assert_string_equal(buf, "");
	assert_string_equal(why, "certificate's URI SAN is not a well-formed SPIFFE ID");
	assert_int_equal(svid(1, "", sizeof buf, buf, why), -1);
	assert_string_equal(why, "certificate's URI SAN is not a well-formed SPIFFE ID");

	/* The ID and its terminator must fit: len - 1 bytes do, len do not. */
	const char *id = "spiffe://example.org/svc/web"; /* 28 bytes */
	assert_int_equal(svid(1, id, 29, buf, why), 0);
	assert_string_equal(buf, id);
	assert_int_equal(svid(1, id, 28, buf, why), -1);
	assert_string_equal(buf, "");
	assert_string_equal(why, "certificate's URI SAN is not a short enough SPIFFE ID");
	/* Too long is said before malformed. */
	assert_int_equal(svid(1, "https://example.org/svc/web-and-more", 20, buf, why), -1);
	assert_string_equal(why, "certificate's URI SAN is not a short enough SPIFFE ID");
}

static void test_svid_not_terminated(void **state)
{
	/* ASN.1 strings carry a length, not a terminator: only n bytes count. */
	const char raw[] = "spiffe://example.org/svc/webXXXX";
	char buf[64], why[128];

	(void)state;
	assert_int_equal(policy_svid_id(1, (const unsigned char *)raw, 28, buf, sizeof buf, why,
	                                sizeof why),
	                 0);
	assert_string_equal(buf, "spiffe://example.org/svc/web");
	/* A NUL inside the URI is not a SPIFFE ID character. */
	assert_int_equal(policy_svid_id(1, (const unsigned char *)"spiffe://a/b\0c", 14, buf,
	                                sizeof buf, why, sizeof why),
	                 -1);
	assert_string_equal(why, "certificate's URI SAN is not a well-formed SPIFFE ID");
}

static bool id_ok(const char *s)
{
	return policy_spiffe_id_ok((const unsigned char *)s, strlen(s));
}

static void test_spiffe_id_ok(void **state)
{
	(void)state;
	assert_true(id_ok("spiffe://example.org/svc/web"));
	assert_true(id_ok("spiffe://example.org/a"));
	assert_true(id_ok("spiffe://a-b_c.9/Path/With.Dots/x-y_z"));
	assert_true(id_ok("spiffe://example.org/svc/...")); /* only . and .. are special */

	assert_false(id_ok(""));
	assert_false(id_ok("spiffe://"));
	assert_false(id_ok("spiffe:/"));
	assert_false(id_ok("SPIFFE://example.org/svc/web"));
	assert_false(id_ok("spiffe://example.org"));         /* no path */
	assert_false(id_ok("spiffe://example.org/"));        /* empty segment */
	assert_false(id_ok("spiffe:///svc/web"));            /* no trust domain */
	assert_false(id_ok("spiffe://Example.org/svc/web")); /* trust domain is lower case */
	assert_false(id_ok("spiffe://example.org:443/svc/web"));
	assert_false(id_ok("spiffe://user@example.org/svc/web"));
	assert_false(id_ok("spiffe://example.org/svc/web/"));
	assert_false(id_ok("spiffe://example.org/svc//web"));
	assert_false(id_ok("spiffe://example.org/svc/./web"));
	assert_false(id_ok("spiffe://example.org/svc/../web"));
	assert_false(id_ok("spiffe://example.org/svc/."));
	assert_false(id_ok("spiffe://example.org/svc/.."));
	assert_false(id_ok("spiffe://example.org/svc/web?x=1"));
	assert_false(id_ok("spiffe://example.org/svc/web#frag"));
	assert_false(id_ok("spiffe://example.org/svc/w%65b"));
	assert_false(id_ok("spiffe://example.org/svc/w b"));
}

static void test_spiffe_name(void **state)
{
	const char *uri = "spiffe://example.org/svc/web";

	(void)state;
	assert_ptr_equal(policy_spiffe_name("example.org", uri), uri + 25);
	assert_string_equal(policy_spiffe_name("example.org", uri), "web");
	/* Another trust domain, or one ours is a prefix of, names none of ours. */
	assert_null(policy_spiffe_name("example.com", uri));
	assert_null(policy_spiffe_name("example.or", uri));
	assert_null(policy_spiffe_name("example.org", "spiffe://example.org.evil/svc/web"));
	assert_null(policy_spiffe_name("example.org", "spiffe://example.orgsvc/web"));
	/* Not a /svc/ identity. */
	assert_null(policy_spiffe_name("example.org", "spiffe://example.org/ns/web"));
	assert_null(policy_spiffe_name("example.org", "spiffe://example.org/svc"));
	assert_null(policy_spiffe_name("example.org", "https://example.org/svc/web"));
	assert_null(policy_spiffe_name("example.org", ""));
	/* What follows /svc/ is the name as it is: the allow list decides. */
	assert_string_equal(policy_spiffe_name("example.org", "spiffe://example.org/svc/a/b"),
	                    "a/b");
	assert_string_equal(policy_spiffe_name("example.org", "spiffe://example.org/svc/"), "");
}

/* ---- may they */

static void test_allows(void **state)
{
	char *allow[] = { "api", "batch" };
	struct cfg_service web = { .name = "web", .allow = allow, .nallow = 2 };
	struct cfg_service none = { .name = "api" };
	struct cfg_service any = { .name = "open", .allow_any = true };

	(void)state;
	assert_true(policy_allows(&web, "api"));
	assert_true(policy_allows(&web, "batch"));
	assert_false(policy_allows(&web, "web"));
	assert_false(policy_allows(&web, "ap"));
	assert_false(policy_allows(&web, "api2"));
	assert_false(policy_allows(&web, ""));
	assert_false(policy_allows(&web, NULL));
	assert_false(policy_allows(&none, "web"));  /* no allow: deny all */
	assert_true(policy_allows(&any, "anyone")); /* "*": any authenticated identity */
	assert_true(policy_allows(&any, ""));
	assert_false(policy_allows(&any, NULL)); /* but never no identity */
	assert_false(policy_allows(NULL, "api"));
}

static void test_sni_ok(void **state)
{
	struct cfg_service svc = { .name = "payments", .identity = "payments-api" };

	(void)state;
	assert_true(policy_sni_ok(&svc, "payments-api"));
	assert_false(policy_sni_ok(&svc, "payments"));
	assert_false(policy_sni_ok(&svc, "payments-api2"));
	assert_false(policy_sni_ok(&svc, ""));
}

static void test_peer_ok(void **state)
{
	(void)state;
	assert_true(policy_peer_ok("spiffe://example.org/svc/web", "spiffe://example.org/svc/web"));
	assert_false(policy_peer_ok("spiffe://example.org/svc/api",
	                            "spiffe://example.org/svc/web"));
	assert_false(policy_peer_ok("spiffe://example.org/svc/web2",
	                            "spiffe://example.org/svc/web"));
	assert_false(policy_peer_ok("spiffe://example.org/svc/we", "spiffe://example.org/svc/web"));
	assert_false(policy_peer_ok("", "spiffe://example.org/svc/web"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_for_uid), cmocka_unit_test(test_svid_one_uri),
		cmocka_unit_test(test_svid_reasons),     cmocka_unit_test(test_svid_not_terminated),
		cmocka_unit_test(test_spiffe_id_ok),     cmocka_unit_test(test_spiffe_name),
		cmocka_unit_test(test_allows),           cmocka_unit_test(test_sni_ok),
		cmocka_unit_test(test_peer_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
