/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate writing with mbedtls 2.28's x509write, in one place for everything that makes
 * certificates: `dragonfly cert` (cluster CA and host certificates on disk) and net_tls's
 * leaf minter (a certificate per intercepted host, in memory). Keys are ECDSA P-256, serials
 * random 128-bit, signatures SHA-256.
 */
#ifndef DF_NET_X509_H
#define DF_NET_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "df/df_err.h"

struct mbedtls_pk_context;
struct mbedtls_x509_crt;
struct mbedtls_x509_time;
struct mbedtls_x509write_cert;

/* mbedtls's random-generator shape (mbedtls_ctr_drbg_random with its context). */
typedef int net_x509_rng_fn(void *arg, unsigned char *out, size_t len);

/* Longest subjectAltName extension net_x509_set_san() writes. */
#define NET_X509_SAN_MAX 16384

/* An IP address text as the 4 or 16 bytes of an iPAddress SAN; returns the length or 0. */
size_t net_x509_ip_parse(const char *s, unsigned char addr[16]);

/* t as mbedtls's validity wants it, "YYYYMMDDhhmmss" UTC, into buf (15+ bytes). Returns buf. */
const char *net_x509_time_fmt(time_t t, char *buf, size_t len);

/*
 * Set key (initialised, empty) up as a fresh P-256 key from rng. Returns 0, or DF_ETLS with
 * a message in err.
 */
int net_x509_key_new(struct mbedtls_pk_context *key, net_x509_rng_fn *rng, void *rng_arg,
                     struct df_error *err);

/*
 * What every certificate gets, into w: version 3, SHA-256, key as its subject key, a random
 * positive 128-bit serial, the validity window, subject (an mbedtls name string such as
 * "CN=x,O=y") and its subject key identifier. w and key stay the caller's. Returns 0, or
 * DF_ETLS with a message in err.
 */
int net_x509_set_common(struct mbedtls_x509write_cert *w, struct mbedtls_pk_context *key,
                        const char *subject, time_t not_before, time_t not_after,
                        net_x509_rng_fn *rng, void *rng_arg, struct df_error *err);

/*
 * subjectAltName into w: a dNSName for each of dns[0..ndns) and an iPAddress for each of
 * ip[0..nip) (address text). No extension when both are empty. Returns 0, DF_EINVAL (an ip
 * that is no address) or DF_ETOOBIG (over NET_X509_SAN_MAX), with a message in err.
 */
int net_x509_set_san(struct mbedtls_x509write_cert *w, const char *const *dns, size_t ndns,
                     const char *const *ip, size_t nip, struct df_error *err);

/* extendedKeyUsage serverAuth, and clientAuth too when client. Returns 0 or DF_ETLS + err. */
int net_x509_set_eku(struct mbedtls_x509write_cert *w, bool client, struct df_error *err);

/*
 * Set w's issuer to ca's subject, attribute for attribute with each value's string type, so
 * that any CA's name is reproduced exactly (a name string would lose escaped commas).
 * Returns 0, or DF_EINVAL with err for a subject with multi-valued RDNs (not supported).
 */
int net_x509_set_issuer(struct mbedtls_x509write_cert *w, const struct mbedtls_x509_crt *ca,
                        struct df_error *err);

/*
 * Load a CA certificate and its key from PEM files into crt and key (initialised, empty)
 * and check that the certificate is a CA and the key is its own. Returns 0, or DF_ETLS with
 * a one-line message in err naming the file.
 */
int net_x509_ca_load(struct mbedtls_x509_crt *crt, struct mbedtls_pk_context *key,
                     const char *crt_path, const char *key_path, struct df_error *err);

/* The time an mbedtls validity field names (UTC). */
time_t net_x509_time_get(const struct mbedtls_x509_time *t);

#endif
