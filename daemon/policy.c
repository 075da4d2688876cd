/*
 * Identity decisions (see policy.h): a local uid's identity, what a peer
 * certificate's URI SANs stand for, the allow lists, and the checks that
 * a link's two ends are the identities the service wants.
 */
#include "policy.h"
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* An identity that lists the uid wins over the one with uids = *. */
const struct cfg_identity *policy_identity_for_uid(const struct config *c, uid_t uid)
{
	const struct cfg_identity *any = NULL;

	if (!c)
		return NULL;
	for (unsigned i = 0; i < c->nidentities; i++) {
		const struct cfg_identity *id = &c->identities[i];
		if (id->any_uid)
			any = id;
		for (unsigned j = 0; j < id->nuids; j++)
			if (id->uids[j] == uid)
				return id;
	}
	return any;
}

/* An X.509-SVID names its identity in exactly one URI SAN, the SPIFFE ID
 * (X.509-SVID spec, section 2): a certificate with two would let whoever
 * reads "the first spiffe:// URI" and whoever reads "the URI" disagree on
 * who it is, so anything but one well-formed SPIFFE ID is refused, with
 * the reason in why. */
int policy_svid_id(int nuri, const unsigned char *uri, int n, char *buf, size_t len, char *why,
                   size_t wlen)
{
	buf[0] = '\0';
	if (nuri != 1) {
		if (nuri == 0)
			snprintf(why, wlen, "certificate has no URI SAN (a SPIFFE ID is required)");
		else
			snprintf(why, wlen,
			         "certificate has %d URI SANs; SPIFFE requires exactly one", nuri);
		return -1;
	}
	if (n <= 0 || (size_t)n >= len || !policy_spiffe_id_ok(uri, (size_t)n)) {
		snprintf(why, wlen, "certificate's URI SAN is not a %sSPIFFE ID",
		         n > 0 && (size_t)n >= len ? "short enough " : "well-formed ");
		return -1;
	}
	memcpy(buf, uri, (size_t)n);
	buf[n] = '\0';
	return 0;
}

/* The SPIFFE ID's characters (SPIFFE ID spec, section 2): trust domain
 * [a-z0-9.-_], path segments [A-Za-z0-9.-_], none empty, none "." or "..". */
bool policy_spiffe_id_ok(const unsigned char *d, size_t n)
{
	size_t i = 9, seg = 0;
	if (n <= 9 || memcmp(d, "spiffe://", 9) != 0)
		return false;
	for (; i < n && d[i] != '/'; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9') || d[i] == '.' ||
		      d[i] == '-' || d[i] == '_'))
			return false;
	if (i == 9 || i == n)
		return false; /* no trust domain, or no path (a workload has one) */
	for (size_t start = ++i; i <= n; i++) {
		if (i == n || d[i] == '/') {
			seg = i - start;
			if (seg == 0 || (seg == 1 && d[start] == '.') ||
			    (seg == 2 && d[start] == '.' && d[start + 1] == '.'))
				return false;
			start = i + 1;
			continue;
		}
		if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z') ||
		      (d[i] >= '0' && d[i] <= '9') || d[i] == '.' || d[i] == '-' || d[i] == '_'))
			return false;
	}
	return true;
}

/* spiffe://TD/svc/NAME in our trust domain TD stands for identity NAME
 * (the inverse of what config.c makes of [identity.NAME]); anything else
 * names no identity of ours. */
const char *policy_spiffe_name(const char *trust_domain, const char *uri)
{
	size_t plen = strlen("spiffe://") + strlen(trust_domain) + strlen("/svc/");
	if (strncmp(uri, "spiffe://", 9) == 0 &&
	    strncmp(uri + 9, trust_domain, strlen(trust_domain)) == 0 &&
	    strncmp(uri + 9 + strlen(trust_domain), "/svc/", 5) == 0)
		return uri + plen;
	return NULL;
}

/* "*" admits any authenticated identity; no identity (NULL) is never allowed. */
bool policy_allows(const struct cfg_service *s, const char *identity_name)
{
	if (!s || !identity_name)
		return false;
	if (s->allow_any)
		return true;
	for (unsigned i = 0; i < s->nallow; i++)
		if (strcmp(s->allow[i], identity_name) == 0)
			return true;
	return false;
}

/* The caller's SNI names the identity whose certificate it verified: the
 * stream is for this service only if that is the one serving it. */
bool policy_sni_ok(const struct cfg_service *s, const char *sni)
{
	return strcmp(sni, s->identity) == 0;
}

/* A caller's link is to the host it chose only if the peer proved the
 * identity that serves the service: the SPIFFE ID itself, compared whole. */
bool policy_peer_ok(const char *peer, const char *expect)
{
	return strcmp(peer, expect) == 0;
}
