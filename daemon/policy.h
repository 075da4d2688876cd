/*
 * Who is calling and may they: the mesh's identity decisions in one place,
 * pure (no I/O, no OpenSSL, no logging). peercred.c finds which uid owns a
 * local caller's socket and tls.c collects the URI SANs of a peer's
 * certificate; which identity those stand for, and whether that identity
 * may call a service, is decided here.
 *
 *   local caller:  uid --policy_identity_for_uid--> [identity.NAME]
 *   remote caller: URI SANs --policy_svid_id--> spiffe://TD/svc/NAME
 *                  --policy_spiffe_name--> NAME
 *   may it:        policy_allows (service's allow list), policy_sni_ok
 *                  (receiver: the identity the caller asked for serves the
 *                  service), policy_peer_ok (caller: the receiver is the
 *                  identity we meant to reach)
 */
#ifndef MESHD_POLICY_H
#define MESHD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;
struct cfg_identity;
struct cfg_service;

/* ---- who is calling */

/* The identity that local uid speaks as, or NULL. */
const struct cfg_identity *policy_identity_for_uid(const struct config *c, uid_t uid);

/* The SPIFFE ID a certificate with nuri URI SANs stands for, `uri` (n bytes,
 * not terminated) being the last of them: 0 with the ID in buf, or -1 (buf
 * empty, the reason in why) unless there is exactly one and it is a
 * well-formed spiffe:// ID shorter than len. */
int policy_svid_id(int nuri, const unsigned char *uri, int n, char *buf, size_t len, char *why,
                   size_t wlen);

/* Whether d (n bytes) is a well-formed SPIFFE ID with a path. */
bool policy_spiffe_id_ok(const unsigned char *d, size_t n);

/* The identity name a spiffe:// URI stands for in trust_domain (a pointer
 * into uri), or NULL when it is not spiffe://<trust_domain>/svc/NAME. */
const char *policy_spiffe_name(const char *trust_domain, const char *uri);

/* ---- may they */

/* Whether identity identity_name (NULL: none) may call service s. */
bool policy_allows(const struct cfg_service *s, const char *identity_name);

/* Whether a stream a caller opened after asking for identity `sni` (its
 * TLS SNI, "" when none) may be for service s. */
bool policy_sni_ok(const struct cfg_service *s, const char *sni);

/* Whether the SPIFFE ID a peer presented, `peer`, is the one we connected
 * to reach, `expect` (the serving identity's, cfg_service.peer_spiffe). */
bool policy_peer_ok(const char *peer, const char *expect);

#endif
