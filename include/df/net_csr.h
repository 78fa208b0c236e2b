/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate signing requests for a cluster that joins through the manager: a host makes
 * its key and a CSR naming its identity (CN=<host>, OU=<role>, O=dragonfly, as net_tls reads
 * it) locally and sends only the CSR; the manager, the cluster's CA, checks the request and
 * signs a short-lived certificate for that identity. The key never leaves the host. Keys are
 * ECDSA P-256 and signatures SHA-256 as in net_x509; randomness comes from getrandom().
 */
#ifndef DF_NET_CSR_H
#define DF_NET_CSR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "df/df_err.h"
#include "df/net_tls.h"

struct mbedtls_pk_context;
struct mbedtls_x509_crt;

/* Longest PEM of a CSR or a certificate these functions make or take. */
#define NET_CSR_PEM_MAX 8192
/* "sha256:" and 64 hex digits, and a NUL. */
#define NET_CSR_HASH_LEN (7 + 64 + 1)
/* A serial as lowercase hex (at most 20 bytes, RFC 5280), and a NUL. */
#define NET_CSR_SERIAL_LEN (40 + 1)

/*
 * A fresh key and a CSR for role and host: *key_pem and *csr_pem (the caller frees both).
 * Returns 0, DF_EINVAL (no valid host or role) or DF_ETLS, with a message in err.
 */
int net_csr_new(enum net_tls_role role, const char *host, char **key_pem, char **csr_pem,
                struct df_error *err);

/*
 * The identity a CSR (PEM) asks for, after checking that it is signed by the key it carries
 * (whoever sent it holds that key) and that its subject names exactly one valid host and one
 * role. Returns 0 and *id, or DF_EINVAL with a one-line reason in err.
 */
int net_csr_identity(const char *csr_pem, struct net_tls_identity *id, struct df_error *err);

/*
 * Sign the CSR (PEM, checked as net_csr_identity does) with the CA ca/ca_key for the window
 * [not_before, not_after]: subject CN=<host>,OU=<role>,O=dragonfly with a DNS SAN of the
 * host when it is one, server and client auth, a random serial. Returns 0 with *crt_pem (the
 * caller frees it), the serial as hex and the identity signed, or DF_EINVAL (a bad CSR, a
 * window past the CA's) / DF_ETLS with a message in err.
 */
int net_csr_sign(const struct mbedtls_x509_crt *ca, struct mbedtls_pk_context *ca_key,
                 const char *csr_pem, time_t not_before, time_t not_after, char **crt_pem,
                 char serial[NET_CSR_SERIAL_LEN], struct net_tls_identity *id,
                 struct df_error *err);

/* The pin of a CA certificate: "sha256:" and the hex SHA-256 of its DER. */
void net_csr_ca_hash(const struct mbedtls_x509_crt *ca, char out[NET_CSR_HASH_LEN]);

/*
 * Load the first certificate of a PEM text into crt (initialised, empty). Returns 0, or
 * DF_EINVAL with a message in err.
 */
int net_csr_crt_parse(struct mbedtls_x509_crt *crt, const char *pem, struct df_error *err);

/* crt (its first certificate) as PEM (the caller frees it), or NULL when too long. */
char *net_csr_crt_pem(const struct mbedtls_x509_crt *crt);

/* The serial of crt as lowercase hex (longer ones are cut). */
void net_csr_serial_hex(const struct mbedtls_x509_crt *crt, char out[NET_CSR_SERIAL_LEN]);

#endif
