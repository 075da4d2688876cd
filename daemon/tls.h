/*
 * TLS for the host-to-host hop: TLS 1.3 only, mutual authentication against
 * the mesh CA, ALPN "libmesh/3" (or "libmesh/2"), identities as spiffe:// URI SANs (exactly
 * one per certificate, as X.509-SVIDs have).
 *
 * A tls_env is built from one config (all certificates and keys loaded up
 * front, so a reload with an unreadable key is rejected before it swaps in)
 * and shared by every connection of that config generation.
 *
 * Client side: one SSL_CTX per local identity, presenting that identity's
 * certificate (the real caller's), SNI = the identity expected to serve.
 * Server side: one SSL_CTX; the SNI callback picks the certificate of the
 * identity that serves the requested service.
 */
#ifndef MESHD_TLS_H
#define MESHD_TLS_H

#include <stddef.h>
#include <time.h>
#include <openssl/ssl.h>

struct config;
struct tls_env;

/* Returns NULL and a malloc'ed message in *err on failure. */
struct tls_env *tls_env_new(const struct config *c, char **err);
/* One more holder (a generation derived from the same file text: the same
 * identities, certificates and CA); tls_env_free drops one. */
struct tls_env *tls_env_ref(struct tls_env *e);
void tls_env_free(struct tls_env *e);

/* A client SSL for `fd` speaking as identity `id_name` to a peer that must
 * present spiffe URI `expect`. NULL on failure (message in err). */
SSL *tls_client_new(struct tls_env *e, const char *id_name, const char *expect_identity, int fd,
                    char *err, size_t len);
SSL *tls_server_new(struct tls_env *e, int fd, char *err, size_t len);

/* The peer certificate's SPIFFE ID into buf. -1 (buf empty, the reason in
 * why) unless the certificate has exactly one URI SAN and it is a
 * well-formed spiffe:// ID. */
int tls_peer_spiffe(SSL *ssl, char *buf, size_t len, char *why, size_t wlen);

/* Identity i's certificate (config order): its name and validity in
 * seconds since the epoch. -1 when there is no such identity or a time
 * cannot be read. */
int tls_identity_validity(const struct tls_env *e, unsigned i, const char **name,
                          double *not_before, double *not_after);

/* Each certificate of the PEM file at path, in file order (i from 0):
 * fn gets its subject's CN (or the whole subject when it has none) and its
 * validity in seconds since the epoch. Returns the number of certificates,
 * or -1 with err filled (unreadable file, a time that cannot be read). */
typedef void tls_pem_cert_fn(void *arg, unsigned i, const char *subject, double not_before,
                             double not_after);
int tls_pem_each_cert(const char *path, tls_pem_cert_fn *fn, void *arg, char *err, size_t len);

/* Describe the last TLS failure (drains OpenSSL's error queue). */
const char *tls_last_error(SSL *ssl, int ret, char *buf, size_t len);

#endif
