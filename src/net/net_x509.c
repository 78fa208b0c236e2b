/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x509write helpers. Extensions mbedtls 2.28 has no setter for (subjectAltName,
 * extendedKeyUsage) are DER written back to front with asn1write, as mbedtls itself does.
 */
#include "df/net_x509.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "df/xmalloc.h"

static int
net_x509_fail(struct df_error *err, const char *what, int mrv)
{
    char buf[160];

    mbedtls_strerror(mrv, buf, sizeof(buf));
    return df_error_set(err, DF_ETLS, "%.300s: %s", what, buf);
}

size_t
net_x509_ip_parse(const char *s, unsigned char addr[16])
{
    if (inet_pton(AF_INET, s, addr) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, addr) == 1)
        return 16;
    return 0;
}

const char *
net_x509_time_fmt(time_t t, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y%m%d%H%M%S", &tm);
    return buf;
}

time_t
net_x509_time_get(const struct mbedtls_x509_time *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return timegm(&tm);
}

int
net_x509_key_new(struct mbedtls_pk_context *key, net_x509_rng_fn *rng, void *rng_arg,
                 struct df_error *err)
{
    int mrv;

    if ((mrv = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
        (mrv = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), rng, rng_arg)) !=
                0)
        return net_x509_fail(err, "generate a P-256 key", mrv);
    return 0;
}

int
net_x509_set_common(struct mbedtls_x509write_cert *w, struct mbedtls_pk_context *key,
                    const char *subject, time_t not_before, time_t not_after, net_x509_rng_fn *rng,
                    void *rng_arg, struct df_error *err)
{
    unsigned char serial[16];
    char t0[32], t1[32];
    mbedtls_mpi mpi;
    int mrv;

    mbedtls_mpi_init(&mpi);
    mbedtls_x509write_crt_set_version(w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(w, key);
    if ((mrv = rng(rng_arg, serial, sizeof(serial))) != 0)
        goto out;
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40); /* positive, full length */
    if ((mrv = mbedtls_mpi_read_binary(&mpi, serial, sizeof(serial))) != 0 ||
        (mrv = mbedtls_x509write_crt_set_serial(w, &mpi)) != 0)
        goto out;
    mrv = mbedtls_x509write_crt_set_validity(w, net_x509_time_fmt(not_before, t0, sizeof(t0)),
                                             net_x509_time_fmt(not_after, t1, sizeof(t1)));
    if (mrv != 0)
        goto out;
    if ((mrv = mbedtls_x509write_crt_set_subject_name(w, subject)) != 0)
        goto out;
    mrv = mbedtls_x509write_crt_set_subject_key_identifier(w);
out:
    mbedtls_mpi_free(&mpi);
    if (mrv != 0)
        return net_x509_fail(err, "build the certificate", mrv);
    return 0;
}

/* Prepend one tagged value to the DER being written back to front at *p. */
static int
net_x509_asn1_put(unsigned char **p, unsigned char *start, int tag, const void *v, size_t len,
                  size_t *total)
{
    int n1, n2, n3;

    if ((n1 = mbedtls_asn1_write_raw_buffer(p, start, v, len)) < 0 ||
        (n2 = mbedtls_asn1_write_len(p, start, len)) < 0 ||
        (n3 = mbedtls_asn1_write_tag(p, start, (unsigned char)tag)) < 0)
        return -1;
    *total += (size_t)n1 + (size_t)n2 + (size_t)n3;
    return 0;
}

int
net_x509_set_san(struct mbedtls_x509write_cert *w, const char *const *dns, size_t ndns,
                 const char *const *ip, size_t nip, struct df_error *err)
{
    unsigned char *buf, *p, addr[16];
    size_t total = 0, alen;
    int n1, n2, mrv, rv;

    if (ndns == 0 && nip == 0)
        return 0;
    buf = xmalloc(NET_X509_SAN_MAX);
    p = buf + NET_X509_SAN_MAX;
    for (size_t i = nip; i-- > 0;) {
        if ((alen = net_x509_ip_parse(ip[i], addr)) == 0) {
            rv = df_error_set(err, DF_EINVAL, "expected an IP address, got \"%.200s\"", ip[i]);
            goto out;
        }
        if (net_x509_asn1_put(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, addr, alen, &total) != 0)
            goto too_big;
    }
    for (size_t i = ndns; i-- > 0;)
        if (net_x509_asn1_put(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, dns[i], strlen(dns[i]),
                              &total) != 0)
            goto too_big;
    if ((n1 = mbedtls_asn1_write_len(&p, buf, total)) < 0 ||
        (n2 = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) <
                0)
        goto too_big;
    total += (size_t)n1 + (size_t)n2;
    mrv = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p,
                                              total);
    rv = mrv != 0 ? net_x509_fail(err, "subjectAltName", mrv) : 0;
    goto out;
too_big:
    rv = df_error_set(err, DF_ETOOBIG, "too many SANs");
out:
    free(buf);
    return rv;
}

int
net_x509_set_eku(struct mbedtls_x509write_cert *w, bool client, struct df_error *err)
{
    unsigned char buf[64], *p = buf + sizeof(buf);
    size_t total = 0;
    int n, mrv;

    if (client) {
        if ((n = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH))) < 0)
            return net_x509_fail(err, "extendedKeyUsage", n);
        total += (size_t)n;
    }
    if ((n = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                    MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH))) < 0)
        return net_x509_fail(err, "extendedKeyUsage", n);
    total += (size_t)n;
    if ((n = mbedtls_asn1_write_len(&p, buf, total)) < 0)
        return net_x509_fail(err, "extendedKeyUsage", n);
    total += (size_t)n;
    if ((n = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
        return net_x509_fail(err, "extendedKeyUsage", n);
    total += (size_t)n;
    mrv = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                              p, total);
    if (mrv != 0)
        return net_x509_fail(err, "extendedKeyUsage", mrv);
    return 0;
}

/* A copy of len bytes from p, in memory mbedtls frees (its default allocator is libc's). */
static unsigned char *
net_x509_bytes_dup(const unsigned char *p, size_t len)
{
    unsigned char *q = xmalloc(len > 0 ? len : 1);

    memcpy(q, p, len);
    return q;
}

int
net_x509_set_issuer(struct mbedtls_x509write_cert *w, const struct mbedtls_x509_crt *ca,
                    struct df_error *err)
{
    const mbedtls_x509_name *n;
    mbedtls_asn1_named_data *d;

    mbedtls_asn1_free_named_data_list(&w->issuer);
    /* x509write writes the list back to front: prepending in subject order keeps it. */
    for (n = &ca->subject; n != NULL && n->oid.p != NULL; n = n->next) {
        if (n->next_merged) {
            mbedtls_asn1_free_named_data_list(&w->issuer);
            return df_error_set(err, DF_EINVAL,
                                "the CA's subject has a multi-valued name (not supported)");
        }
        d = xcalloc(1, sizeof(*d));
        d->oid.tag = n->oid.tag;
        d->oid.len = n->oid.len;
        d->oid.p = net_x509_bytes_dup(n->oid.p, n->oid.len);
        d->val.tag = n->val.tag;
        d->val.len = n->val.len;
        d->val.p = net_x509_bytes_dup(n->val.p, n->val.len);
        d->next = w->issuer;
        w->issuer = d;
    }
    return 0;
}

int
net_x509_ca_load(struct mbedtls_x509_crt *crt, struct mbedtls_pk_context *key, const char *crt_path,
                 const char *key_path, struct df_error *err)
{
    int mrv;

    if (access(crt_path, R_OK) != 0)
        return df_error_set(err, DF_ETLS, "%.200s: %s", crt_path, strerror(errno));
    if ((mrv = mbedtls_x509_crt_parse_file(crt, crt_path)) != 0)
        return net_x509_fail(err, crt_path, mrv);
    if (access(key_path, R_OK) != 0)
        return df_error_set(err, DF_ETLS, "%.200s: %s", key_path, strerror(errno));
    if ((mrv = mbedtls_pk_parse_keyfile(key, key_path, NULL)) != 0)
        return net_x509_fail(err, key_path, mrv);
    if (!crt->ca_istrue)
        return df_error_set(err, DF_ETLS, "%.200s: not a CA certificate", crt_path);
    if (mbedtls_pk_check_pair(&crt->pk, key) != 0)
        return df_error_set(err, DF_ETLS, "%.200s does not belong to %.200s", key_path, crt_path);
    return 0;
}
