/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The leaf minter for HTTPS interception: given a CA (its certificate and key, as
 * `dragonfly cert ca` writes them), it makes a short-lived certificate for a host name on
 * demand: ECDSA P-256, a random serial, a DNS SAN for a name or an IP SAN for an address,
 * signed by the CA, with the CA appended to the chain. Leaves are cached per host (LRU,
 * bounded) so a second handshake for the same host does not sign again. A server TLS
 * context uses it through net_tls_opts.mint. Loop-thread only, like the context using it.
 */
#ifndef DF_NET_TLS_MINT_H
#define DF_NET_TLS_MINT_H

#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"

struct mbedtls_pk_context;
struct mbedtls_x509_crt;
struct net_tls_mint;
struct net_tls_mint_leaf;

#define NET_TLS_MINT_CACHE_DEFAULT 256
#define NET_TLS_MINT_VALID_DEFAULT (24 * 3600) /* seconds */

struct net_tls_mint_opts {
    const char *ca_file;     /* PEM CA certificate that signs the leaves */
    const char *ca_key_file; /* its private key */
    size_t cache_max;        /* leaves kept; 0 = NET_TLS_MINT_CACHE_DEFAULT */
    unsigned valid_secs;     /* a leaf's lifetime (never past the CA's); 0 = the default */
};

struct net_tls_mint_stats {
    uint64_t minted;  /* leaves signed */
    uint64_t hits;    /* leaves served from the cache */
    uint64_t evicted; /* leaves dropped to keep the cache bounded or fresh */
    size_t cached;    /* leaves held now */
};

/*
 * Load the CA and make a minter. Returns 0 and *out, or DF_EINVAL/DF_ETLS with a one-line
 * message in err naming the file.
 */
int net_tls_mint_new(const struct net_tls_mint_opts *opts, struct net_tls_mint **out,
                     struct df_error *err);

/* Free a minter. Leaves still held stay valid until released. NULL is a no-op. */
void net_tls_mint_free(struct net_tls_mint *mint);

/*
 * A leaf for host (a DNS name, or an IPv4/IPv6 address), from the cache or signed now, with
 * a reference for the caller (net_tls_mint_leaf_release). Names are matched without case.
 * Returns 0 and *out, or DF_EINVAL (not a host name or address) / DF_ETLS with err.
 */
int net_tls_mint_get(struct net_tls_mint *mint, const char *host, struct net_tls_mint_leaf **out,
                     struct df_error *err);

/* Drop a reference; the last one frees the leaf. NULL is a no-op. */
void net_tls_mint_leaf_release(struct net_tls_mint_leaf *leaf);

/* The leaf's chain (leaf, then the CA) and key, borrowed while the reference is held. */
struct mbedtls_x509_crt *net_tls_mint_leaf_crt(struct net_tls_mint_leaf *leaf);
struct mbedtls_pk_context *net_tls_mint_leaf_key(struct net_tls_mint_leaf *leaf);

/* The counters so far. */
void net_tls_mint_stats(const struct net_tls_mint *mint, struct net_tls_mint_stats *out);

#endif
