/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CSRs with mbedtls 2.28. mbedtls parses a CSR without checking its signature, so
 * net_csr_identity verifies it against the CSR's own key: a request that its key did not
 * sign is refused, and the manager never signs a key for someone who does not hold it.
 */
#include "df/net_csr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "df/net_x509.h"
#include "df/xmalloc.h"

static int
net_csr_fail(struct df_error *err, int rv, const char *what, int mrv)
{
    char buf[160];

    mbedtls_strerror(mrv, buf, sizeof(buf));
    return df_error_set(err, rv, "%s: %s", what, buf);
}

/* mbedtls's generator shape over getrandom(): keys, signatures and serials. */
static int
net_csr_rng(void *arg, unsigned char *out, size_t len)
{
    size_t got = 0;
    ssize_t n;

    (void)arg;
    while (got < len) {
        n = getrandom(out + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
        got += (size_t)n;
    }
    return 0;
}

int
net_csr_new(enum net_tls_role role, const char *host, char **key_pem, char **csr_pem,
            struct df_error *err)
{
    mbedtls_x509write_csr w;
    mbedtls_pk_context key;
    char subject[NET_TLS_HOST_MAX + 64];
    unsigned char *kbuf = xmalloc(NET_CSR_PEM_MAX), *cbuf = xmalloc(NET_CSR_PEM_MAX);
    int mrv, rv = 0;

    *key_pem = NULL;
    *csr_pem = NULL;
    if (role == NET_TLS_ROLE_NONE || !net_tls_host_is_valid(host)) {
        free(kbuf);
        free(cbuf);
        return df_error_set(err, DF_EINVAL, "no valid host name and role to ask a certificate for");
    }
    snprintf(subject, sizeof(subject), "CN=%s,OU=%s,O=dragonfly", host, net_tls_role_name(role));
    mbedtls_pk_init(&key);
    mbedtls_x509write_csr_init(&w);
    if ((rv = net_x509_key_new(&key, net_csr_rng, NULL, err)) != 0)
        goto out;
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&w, &key);
    if ((mrv = mbedtls_x509write_csr_set_subject_name(&w, subject)) != 0 ||
        (mrv = mbedtls_pk_write_key_pem(&key, kbuf, NET_CSR_PEM_MAX)) != 0 ||
        (mrv = mbedtls_x509write_csr_pem(&w, cbuf, NET_CSR_PEM_MAX, net_csr_rng, NULL)) != 0) {
        rv = net_csr_fail(err, DF_ETLS, "make the certificate request", mrv);
        goto out;
    }
    *key_pem = xstrdup((const char *)kbuf);
    *csr_pem = xstrdup((const char *)cbuf);
out:
    mbedtls_platform_zeroize(kbuf, NET_CSR_PEM_MAX);
    free(kbuf);
    free(cbuf);
    mbedtls_x509write_csr_free(&w);
    mbedtls_pk_free(&key);
    return rv;
}

/* Parse csr_pem into csr (initialised) and check it as net_csr_identity says. */
static int
net_csr_load(mbedtls_x509_csr *csr, const char *csr_pem, struct net_tls_identity *id,
             struct df_error *err)
{
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    const mbedtls_md_info_t *md;
    size_t len = strlen(csr_pem);
    int mrv;

    if (len == 0 || len >= NET_CSR_PEM_MAX)
        return df_error_set(err, DF_EINVAL, "csr: expected a PEM certificate request");
    if ((mrv = mbedtls_x509_csr_parse(csr, (const unsigned char *)csr_pem, len + 1)) != 0)
        return net_csr_fail(err, DF_EINVAL, "csr", mrv);
    if ((md = mbedtls_md_info_from_type(csr->sig_md)) == NULL ||
        mbedtls_md(md, csr->cri.p, csr->cri.len, hash) != 0)
        return df_error_set(err, DF_EINVAL, "csr: unsupported signature algorithm");
    mrv = mbedtls_pk_verify_ext(csr->sig_pk, csr->sig_opts, &csr->pk, csr->sig_md, hash,
                                mbedtls_md_get_size(md), csr->sig.p, csr->sig.len);
    if (mrv != 0)
        return df_error_set(err, DF_EINVAL, "csr: not signed by the key it carries");
    net_tls_identity_from_name(&csr->subject, id);
    if (id->role == NET_TLS_ROLE_NONE)
        return df_error_set(err, DF_EINVAL,
                            "csr: the subject must name one host (CN) and one role (OU)");
    return 0;
}

int
net_csr_identity(const char *csr_pem, struct net_tls_identity *id, struct df_error *err)
{
    mbedtls_x509_csr csr;
    int rv;

    mbedtls_x509_csr_init(&csr);
    rv = net_csr_load(&csr, csr_pem, id, err);
    mbedtls_x509_csr_free(&csr);
    return rv;
}

int
net_csr_crt_parse(struct mbedtls_x509_crt *crt, const char *pem, struct df_error *err)
{
    int mrv;

    if ((mrv = mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1)) != 0)
        return net_csr_fail(err, DF_EINVAL, "certificate", mrv);
    return 0;
}

void
net_csr_serial_hex(const struct mbedtls_x509_crt *crt, char out[NET_CSR_SERIAL_LEN])
{
    size_t i, n = crt->serial.len;

    if (n > (NET_CSR_SERIAL_LEN - 1) / 2)
        n = (NET_CSR_SERIAL_LEN - 1) / 2;
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", crt->serial.p[i]);
    out[2 * n] = '\0';
}

int
net_csr_sign(const struct mbedtls_x509_crt *ca, struct mbedtls_pk_context *ca_key,
             const char *csr_pem, time_t not_before, time_t not_after, char **crt_pem,
             char serial[NET_CSR_SERIAL_LEN], struct net_tls_identity *id, struct df_error *err)
{
    char subject[NET_TLS_HOST_MAX + 64];
    const char *dns[1] = {NULL};
    unsigned char *buf = xmalloc(NET_CSR_PEM_MAX);
    mbedtls_x509write_cert w;
    mbedtls_x509_csr csr;
    mbedtls_x509_crt out;
    int mrv, rv;

    *crt_pem = NULL;
    mbedtls_x509_csr_init(&csr);
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509_crt_init(&out);
    if ((rv = net_csr_load(&csr, csr_pem, id, err)) != 0)
        goto done;
    if (not_after > net_x509_time_get(&ca->valid_to)) {
        rv = df_error_set(err, DF_EINVAL, "the certificate would outlive the CA");
        goto done;
    }
    snprintf(subject, sizeof(subject), "CN=%s,OU=%s,O=dragonfly", id->host,
             net_tls_role_name(id->role));
    if ((rv = net_x509_set_common(&w, &csr.pk, subject, not_before, not_after, net_csr_rng, NULL,
                                  err)) != 0)
        goto done;
    mbedtls_x509write_crt_set_issuer_key(&w, ca_key);
    if ((rv = net_x509_set_issuer(&w, ca, err)) != 0)
        goto done;
    if ((mrv = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1)) != 0 ||
        (mrv = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) != 0 ||
        (mrv = mbedtls_x509write_crt_set_authority_key_identifier(&w)) != 0) {
        rv = net_csr_fail(err, DF_ETLS, "build the certificate", mrv);
        goto done;
    }
    /* an IP literal is no DNS name: net_tls reads the identity from the subject anyway */
    dns[0] = id->host;
    if ((rv = net_x509_set_eku(&w, true, err)) != 0 ||
        (rv = net_x509_set_san(&w, dns, net_x509_ip_parse(id->host, buf) == 0 ? 1 : 0, NULL, 0,
                               err)) != 0)
        goto done;
    if ((mrv = mbedtls_x509write_crt_pem(&w, buf, NET_CSR_PEM_MAX, net_csr_rng, NULL)) != 0) {
        rv = net_csr_fail(err, DF_ETLS, "sign the certificate", mrv);
        goto done;
    }
    /* the serial was drawn inside net_x509_set_common: read it back from what was signed */
    if ((rv = net_csr_crt_parse(&out, (const char *)buf, err)) != 0)
        goto done;
    net_csr_serial_hex(&out, serial);
    *crt_pem = xstrdup((const char *)buf);
done:
    free(buf);
    mbedtls_x509_crt_free(&out);
    mbedtls_x509write_crt_free(&w);
    mbedtls_x509_csr_free(&csr);
    return rv;
}

void
net_csr_ca_hash(const struct mbedtls_x509_crt *ca, char out[NET_CSR_HASH_LEN])
{
    unsigned char h[32];

    mbedtls_sha256_ret(ca->raw.p, ca->raw.len, h, 0);
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < sizeof(h); i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", h[i]);
}

char *
net_csr_crt_pem(const struct mbedtls_x509_crt *crt)
{
    unsigned char *buf = xmalloc(NET_CSR_PEM_MAX);
    size_t olen;

    if (mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
                                 crt->raw.p, crt->raw.len, buf, NET_CSR_PEM_MAX, &olen) != 0) {
        free(buf);
        return NULL;
    }
    return (char *)buf;
}
