/*
 * TLS contexts for one config generation (see tls.h). Everything that can
 * fail (files, keys that do not match certificates) fails in tls_env_new,
 * at load time, never on a connection.
 */
#include "tls.h"
#include "config.h"
#include "policy.h"
#include "proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct tls_ident {
	char *name;
	X509 *cert;
	EVP_PKEY *key;
	SSL_CTX *client;
};

struct tls_env {
	int refs; /* generations sharing it (gen_derive: same identities) */
	struct tls_ident *ids;
	unsigned nids;
	SSL_CTX *server;
};

/* Ours first: the server takes the first of its list the client offers. */
static const unsigned char alpn_wire[] = "\x09" PROTO_ALPN "\x09" PROTO_ALPN_V3
					 "\x09" PROTO_ALPN_PREV;

static char *errdup(const char *what, const char *path)
{
	char buf[512], detail[256] = "";
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, detail, sizeof detail);
	ERR_clear_error();
	snprintf(buf, sizeof buf, "%s %s%s%s", what, path, *detail ? ": " : "", detail);
	return strdup(buf);
}

#define TLS_READ_BUFFER (128 * 1024)

static int common_setup(SSL_CTX *ctx, const char *ca)
{
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
		return -1;
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		return -1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* Links are few (one per identity pair and endpoint, shared by all
	 * their streams), so their record buffers stay allocated (no
	 * SSL_MODE_RELEASE_BUFFERS) and the read buffer is large: one read(2)
	 * takes several records, not one. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUFFER);
	/* AES-128-GCM first: the fastest with AES-NI, and as strong as the
	 * mesh needs; the others stay acceptable to peers. */
	SSL_CTX_set_ciphersuites(ctx,
	                         "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	                         "TLS_CHACHA20_POLY1305_SHA256");
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	return 0;
}

static struct tls_ident *find_ident(struct tls_env *e, const char *name)
{
	for (unsigned i = 0; i < e->nids; i++)
		if (strcmp(e->ids[i].name, name) == 0)
			return &e->ids[i];
	return NULL;
}

/* SNI names the identity whose certificate the caller expects. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_env *e = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct tls_ident *id = sni ? find_ident(e, sni) : NULL;
	if (!id) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (SSL_use_certificate(ssl, id->cert) != 1 || SSL_use_PrivateKey(ssl, id->key) != 1) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, alpn_wire, sizeof alpn_wire - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static X509 *load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static int cert_spiffe(X509 *x, char *buf, size_t len, char *why, size_t wlen);

struct tls_env *tls_env_new(const struct config *c, char **err)
{
	struct tls_env *e = calloc(1, sizeof *e);
	*err = NULL;
	if (!e)
		goto nomem;
	e->refs = 1;
	e->ids = calloc(c->nidentities ? c->nidentities : 1, sizeof *e->ids);
	if (!e->ids)
		goto nomem;
	for (unsigned i = 0; i < c->nidentities; i++) {
		const struct cfg_identity *ci = &c->identities[i];
		struct tls_ident *ti = &e->ids[e->nids++];
		ti->name = strdup(ci->name);
		if (!(ti->cert = load_cert(ci->cert))) {
			*err = errdup("cannot read certificate", ci->cert);
			goto fail;
		}
		char uri[256], why[128], msg[800];
		if (cert_spiffe(ti->cert, uri, sizeof uri, why, sizeof why) == -1) {
			snprintf(msg, sizeof msg, "certificate %s (identity %s): %s", ci->cert,
			         ci->name, why);
			*err = strdup(msg);
			goto fail;
		}
		if (strcmp(uri, ci->spiffe) != 0) {
			snprintf(msg, sizeof msg, "certificate %s is for %s, not %s (identity %s)",
			         ci->cert, uri, ci->spiffe, ci->name);
			*err = strdup(msg);
			goto fail;
		}
		if (!(ti->key = load_key(ci->key))) {
			*err = errdup("cannot read private key", ci->key);
			goto fail;
		}
		ti->client = SSL_CTX_new(TLS_client_method());
		if (!ti->client || common_setup(ti->client, c->ca) == -1) {
			*err = errdup("cannot load CA", c->ca);
			goto fail;
		}
		if (SSL_CTX_use_certificate(ti->client, ti->cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ti->client, ti->key) != 1 ||
		    SSL_CTX_check_private_key(ti->client) != 1) {
			*err = errdup("key does not match certificate", ci->key);
			goto fail;
		}
		SSL_CTX_set_alpn_protos(ti->client, alpn_wire, sizeof alpn_wire - 1);
	}
	e->server = SSL_CTX_new(TLS_server_method());
	if (!e->server || common_setup(e->server, c->ca) == -1) {
		*err = errdup("cannot load CA", c->ca);
		goto fail;
	}
	SSL_CTX_set_tlsext_servername_callback(e->server, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(e->server, e);
	SSL_CTX_set_alpn_select_cb(e->server, alpn_cb, NULL);
	SSL_CTX_set_session_cache_mode(e->server, SSL_SESS_CACHE_OFF);
	return e;
nomem:
	*err = strdup("out of memory");
fail:
	tls_env_free(e);
	return NULL;
}

struct tls_env *tls_env_ref(struct tls_env *e)
{
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	return e;
}

void tls_env_free(struct tls_env *e)
{
	if (!e || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (unsigned i = 0; i < e->nids; i++) {
		free(e->ids[i].name);
		X509_free(e->ids[i].cert);
		EVP_PKEY_free(e->ids[i].key);
		SSL_CTX_free(e->ids[i].client);
	}
	free(e->ids);
	SSL_CTX_free(e->server);
	free(e);
}

static int asn1_epoch(const ASN1_TIME *t, double *out)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	time_t v = timegm(&tm);
	if (v == (time_t)-1)
		return -1;
	*out = (double)v;
	return 0;
}

int tls_identity_validity(const struct tls_env *e, unsigned i, const char **name,
                          double *not_before, double *not_after)
{
	if (!e || i >= e->nids || !e->ids[i].cert)
		return -1;
	if (name)
		*name = e->ids[i].name;
	if (asn1_epoch(X509_get0_notBefore(e->ids[i].cert), not_before) == -1 ||
	    asn1_epoch(X509_get0_notAfter(e->ids[i].cert), not_after) == -1)
		return -1;
	return 0;
}

int tls_pem_each_cert(const char *path, tls_pem_cert_fn *fn, void *arg, char *err, size_t len)
{
	BIO *b = BIO_new_file(path, "r");
	if (!b) {
		snprintf(err, len, "cannot read %s", path);
		ERR_clear_error();
		return -1;
	}
	unsigned n = 0;
	X509 *x;
	int rc = 0;
	while (rc == 0 && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		char subject[256] = "";
		double nb, na;
		const X509_NAME *sn = X509_get_subject_name(x);
		if (X509_NAME_get_text_by_NID((X509_NAME *)sn, NID_commonName, subject,
		                              sizeof subject) < 0)
			X509_NAME_oneline(sn, subject, sizeof subject);
		if (asn1_epoch(X509_get0_notBefore(x), &nb) == -1 ||
		    asn1_epoch(X509_get0_notAfter(x), &na) == -1) {
			snprintf(err, len, "certificate %u of %s: its validity cannot be read",
			         n + 1, path);
			rc = -1;
		} else {
			fn(arg, n++, subject, nb, na);
		}
		X509_free(x);
	}
	ERR_clear_error(); /* the end of the file reads as an error */
	BIO_free(b);
	return rc == -1 ? -1 : (int)n;
}

SSL *tls_client_new(struct tls_env *e, const char *id_name, const char *expect_identity, int fd,
                    char *err, size_t len)
{
	struct tls_ident *id = find_ident(e, id_name);
	if (!id) {
		snprintf(err, len, "no certificate for identity %s", id_name);
		return NULL;
	}
	SSL *ssl = SSL_new(id->client);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, expect_identity) != 1) {
		snprintf(err, len, "SSL_new failed");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

SSL *tls_server_new(struct tls_env *e, int fd, char *err, size_t len)
{
	SSL *ssl = SSL_new(e->server);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		snprintf(err, len, "SSL_new failed");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

/* The URI SANs of x (other SAN types, DNS names, do not count), for
 * policy_svid_id to judge. Two subjectAltName extensions are refused here:
 * OpenSSL returns neither, so there is no one list of URIs to judge. */
static int cert_spiffe(X509 *x, char *buf, size_t len, char *why, size_t wlen)
{
	int crit = -1, nuri = 0, n = 0;
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	const unsigned char *uri = NULL;
	if (!names && crit == -2) {
		buf[0] = '\0';
		snprintf(why, wlen, "certificate has more than one subjectAltName extension");
		return -1;
	}
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_URI) {
			nuri++;
			uri = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
			n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		}
	}
	int rc = policy_svid_id(nuri, uri, n, buf, len, why, wlen);
	GENERAL_NAMES_free(names);
	return rc;
}

int tls_peer_spiffe(SSL *ssl, char *buf, size_t len, char *why, size_t wlen)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	if (!x) {
		buf[0] = '\0';
		snprintf(why, wlen, "no certificate");
		return -1;
	}
	return cert_spiffe(x, buf, len, why, wlen);
}

const char *tls_last_error(SSL *ssl, int ret, char *buf, size_t len)
{
	int se = ssl ? SSL_get_error(ssl, ret) : SSL_ERROR_SSL;
	unsigned long e = ERR_get_error();
	if (e) {
		char tmp[256];
		ERR_error_string_n(e, tmp, sizeof tmp);
		const char *reason = ERR_reason_error_string(e);
		snprintf(buf, len, "%s", reason ? reason : tmp);
	} else if (se == SSL_ERROR_SYSCALL) {
		snprintf(buf, len, "connection closed during TLS handshake");
	} else if (se == SSL_ERROR_ZERO_RETURN) {
		snprintf(buf, len, "peer closed TLS");
	} else {
		snprintf(buf, len, "TLS error %d", se);
	}
	if (ssl) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK && strlen(buf) + 40 < len) {
			size_t n = strlen(buf);
			snprintf(buf + n, len - n, " (verify: %s)",
			         X509_verify_cert_error_string(v));
		}
	}
	ERR_clear_error();
	return buf;
}
