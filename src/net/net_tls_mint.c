/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leaves are refcounted: the cache holds one reference and each handshake using a leaf holds
 * another from its SNI callback to its end, so a leaf evicted mid-handshake stays valid for
 * that handshake. The cache is a list in use order (most recent first); a lookup is a linear
 * walk, which at a few hundred entries costs far less than the signature it saves.
 */
#include "df/net_tls_mint.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "df/log.h"
#include "df/net_tls.h"
#include "df/net_x509.h"
#include "df/xmalloc.h"

#define NET_TLS_MINT_SKEW      3600 /* not-before is backdated this much for clock skew */
#define NET_TLS_MINT_DER_MAX   4096 /* a P-256 leaf with one SAN is well under 1 KiB */
#define NET_TLS_MINT_VALID_MIN 60

struct net_tls_mint_leaf {
    struct net_tls_mint_leaf *prev, *next; /* cache order, most recently used first */
    unsigned refs;
    time_t renew_at;      /* half its life: sign a fresh one from then on */
    mbedtls_x509_crt crt; /* the leaf, then the CA */
    mbedtls_pk_context key;
    char host[NET_TLS_HOST_MAX + 1];
};

struct net_tls_mint {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_pk_context ca_key;
    time_t ca_not_after;
    size_t cache_max;
    unsigned valid_secs;
    struct net_tls_mint_leaf *head, *tail;
    struct net_tls_mint_stats stats;
};

int
net_tls_mint_new(const struct net_tls_mint_opts *opts, struct net_tls_mint **out,
                 struct df_error *err)
{
    static const unsigned char pers[] = "dragonfly-tls-mint";
    struct net_tls_mint *m;
    mbedtls_x509write_cert probe; /* checks once that the CA's name can be an issuer */
    struct df_error why;
    int rv, mrv;

    mbedtls_x509write_crt_init(&probe);
    m = xcalloc(1, sizeof(*m));
    mbedtls_entropy_init(&m->entropy);
    mbedtls_ctr_drbg_init(&m->drbg);
    mbedtls_x509_crt_init(&m->ca);
    mbedtls_pk_init(&m->ca_key);
    m->cache_max = opts->cache_max != 0 ? opts->cache_max : NET_TLS_MINT_CACHE_DEFAULT;
    m->valid_secs = opts->valid_secs != 0 ? opts->valid_secs : NET_TLS_MINT_VALID_DEFAULT;
    if (opts->ca_file == NULL || opts->ca_key_file == NULL) {
        rv = df_error_set(err, DF_EINVAL, "tls mint: needs a CA certificate and its key");
        goto out;
    }
    if (m->valid_secs < NET_TLS_MINT_VALID_MIN) {
        rv = df_error_set(err, DF_EINVAL, "tls mint: leaf lifetime %u s is under %d s",
                          m->valid_secs, NET_TLS_MINT_VALID_MIN);
        goto out;
    }
    if (net_x509_ca_load(&m->ca, &m->ca_key, opts->ca_file, opts->ca_key_file, &why) != 0) {
        rv = df_error_set(err, DF_ETLS, "tls mint: %s", why.msg);
        goto out;
    }
    if (net_x509_set_issuer(&probe, &m->ca, &why) != 0) {
        rv = df_error_set(err, DF_ETLS, "tls mint: %s: %s", opts->ca_file, why.msg);
        goto out;
    }
    m->ca_not_after = net_x509_time_get(&m->ca.valid_to);
    if (m->ca_not_after <= time(NULL)) {
        rv = df_error_set(err, DF_ETLS, "tls mint: %s: the CA has expired", opts->ca_file);
        goto out;
    }
    mrv = mbedtls_ctr_drbg_seed(&m->drbg, mbedtls_entropy_func, &m->entropy, pers,
                                sizeof(pers) - 1);
    if (mrv != 0) {
        rv = df_error_set(err, DF_ETLS, "tls mint: cannot seed the random generator");
        goto out;
    }
    *out = m;
    m = NULL;
    rv = 0;
out:
    mbedtls_x509write_crt_free(&probe);
    net_tls_mint_free(m);
    return rv;
}

static void
net_tls_mint_unlink(struct net_tls_mint *m, struct net_tls_mint_leaf *l)
{
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        m->head = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    else
        m->tail = l->prev;
    l->prev = l->next = NULL;
    m->stats.cached--;
}

static void
net_tls_mint_push(struct net_tls_mint *m, struct net_tls_mint_leaf *l)
{
    l->prev = NULL;
    l->next = m->head;
    if (m->head != NULL)
        m->head->prev = l;
    else
        m->tail = l;
    m->head = l;
    m->stats.cached++;
}

/* Drop the cache's reference to l. */
static void
net_tls_mint_evict(struct net_tls_mint *m, struct net_tls_mint_leaf *l)
{
    net_tls_mint_unlink(m, l);
    m->stats.evicted++;
    net_tls_mint_leaf_release(l);
}

void
net_tls_mint_free(struct net_tls_mint *mint)
{
    if (mint == NULL)
        return;
    while (mint->head != NULL)
        net_tls_mint_evict(mint, mint->head);
    mbedtls_pk_free(&mint->ca_key);
    mbedtls_x509_crt_free(&mint->ca);
    mbedtls_ctr_drbg_free(&mint->drbg);
    mbedtls_entropy_free(&mint->entropy);
    free(mint);
}

void
net_tls_mint_leaf_release(struct net_tls_mint_leaf *leaf)
{
    if (leaf == NULL || --leaf->refs > 0)
        return;
    mbedtls_x509_crt_free(&leaf->crt);
    mbedtls_pk_free(&leaf->key);
    free(leaf);
}

/* Sign a new leaf for host (checked by the caller) into l->crt and l->key. */
static int
net_tls_mint_sign(struct net_tls_mint *m, struct net_tls_mint_leaf *l, bool is_ip,
                  struct df_error *err)
{
    const char *name = l->host;
    char subject[NET_TLS_HOST_MAX + 16];
    mbedtls_x509write_cert w;
    unsigned char *der = NULL;
    time_t now = time(NULL), not_after;
    int rv, n;

    mbedtls_x509write_crt_init(&w);
    not_after = now + (time_t)m->valid_secs;
    if (not_after > m->ca_not_after)
        not_after = m->ca_not_after;
    l->renew_at = now + (not_after - now) / 2;
    snprintf(subject, sizeof(subject), "CN=%s", l->host);
    if ((rv = net_x509_key_new(&l->key, mbedtls_ctr_drbg_random, &m->drbg, err)) != 0 ||
        (rv = net_x509_set_common(&w, &l->key, subject, now - NET_TLS_MINT_SKEW, not_after,
                                  mbedtls_ctr_drbg_random, &m->drbg, err)) != 0 ||
        (rv = net_x509_set_eku(&w, false, err)) != 0 ||
        (rv = net_x509_set_san(&w, is_ip ? NULL : &name, is_ip ? 0 : 1, is_ip ? &name : NULL,
                               is_ip ? 1 : 0, err)) != 0)
        goto out;
    mbedtls_x509write_crt_set_issuer_key(&w, &m->ca_key);
    if ((rv = net_x509_set_issuer(&w, &m->ca, err)) != 0)
        goto out;
    if (mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1) != 0 ||
        mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
        mbedtls_x509write_crt_set_authority_key_identifier(&w) != 0) {
        rv = df_error_set(err, DF_ETLS, "build the certificate for %s", l->host);
        goto out;
    }
    der = xmalloc(NET_TLS_MINT_DER_MAX);
    n = mbedtls_x509write_crt_der(&w, der, NET_TLS_MINT_DER_MAX, mbedtls_ctr_drbg_random, &m->drbg);
    /* The DER is written at the end of the buffer. */
    if (n <= 0 ||
        mbedtls_x509_crt_parse_der(&l->crt, der + NET_TLS_MINT_DER_MAX - n, (size_t)n) != 0 ||
        mbedtls_x509_crt_parse_der(&l->crt, m->ca.raw.p, m->ca.raw.len) != 0) {
        rv = df_error_set(err, DF_ETLS, "sign the certificate for %s", l->host);
        goto out;
    }
    rv = 0;
out:
    free(der);
    mbedtls_x509write_crt_free(&w);
    return rv;
}

int
net_tls_mint_get(struct net_tls_mint *mint, const char *host, struct net_tls_mint_leaf **out,
                 struct df_error *err)
{
    struct net_tls_mint_leaf *l, *next;
    unsigned char addr[16];
    time_t now = time(NULL);
    bool is_ip;
    int rv;

    is_ip = net_x509_ip_parse(host, addr) != 0;
    if (!is_ip && (!net_tls_host_is_valid(host) || strchr(host, '_') != NULL))
        return df_error_set(err, DF_EINVAL, "tls mint: not a host name or address: \"%.64s\"",
                            host);
    for (l = mint->head; l != NULL; l = next) {
        next = l->next;
        if (strcasecmp(l->host, host) != 0)
            continue;
        /* Past half its life: sign a fresh one rather than hand out one about to expire. */
        if (now >= l->renew_at) {
            net_tls_mint_evict(mint, l);
            break;
        }
        net_tls_mint_unlink(mint, l);
        net_tls_mint_push(mint, l);
        mint->stats.hits++;
        l->refs++;
        *out = l;
        return 0;
    }
    l = xcalloc(1, sizeof(*l));
    l->refs = 1;
    snprintf(l->host, sizeof(l->host), "%s", host);
    mbedtls_x509_crt_init(&l->crt);
    mbedtls_pk_init(&l->key);
    if ((rv = net_tls_mint_sign(mint, l, is_ip, err)) != 0) {
        net_tls_mint_leaf_release(l);
        return rv;
    }
    mint->stats.minted++;
    log_debug("tls", "tls mint: signed a leaf for %s", l->host);
    while (mint->stats.cached >= mint->cache_max)
        net_tls_mint_evict(mint, mint->tail);
    net_tls_mint_push(mint, l);
    l->refs++;
    *out = l;
    return 0;
}

struct mbedtls_x509_crt *
net_tls_mint_leaf_crt(struct net_tls_mint_leaf *leaf)
{
    return &leaf->crt;
}

struct mbedtls_pk_context *
net_tls_mint_leaf_key(struct net_tls_mint_leaf *leaf)
{
    return &leaf->key;
}

void
net_tls_mint_stats(const struct net_tls_mint *mint, struct net_tls_mint_stats *out)
{
    *out = mint->stats;
}
