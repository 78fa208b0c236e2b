/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's memory of the registry's permission checks. Before a blob this peer (or the
 * swarm) holds is served, the registry must accept the client's credentials for it (a HEAD
 * of the blob's URL with the client's Authorization). A 200 is remembered for a short TTL
 * (proxy.registryAuthCacheTTL) under a hash of the URL and the credentials, so a pull's
 * layers, and the next pull by the same client, do not pay a registry round trip each;
 * a refusal (401, 403, 404, anything but 200) is never remembered. Only the hash is kept,
 * never a credential. Pure (the clock is injected), unit-tested on its own.
 *
 * The key holds the blob's URL (registry, repository and digest), not only the repository:
 * a client allowed to read repository A must not read a private layer of repository B
 * through the path /v2/A/blobs/<B's digest> because some entry for A is fresh.
 */
#ifndef PEER_PROXY_AUTH_H
#define PEER_PROXY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/net_http_parse.h"

#define PEER_PROXY_AUTH_KEY_LEN DF_SHA256_LEN
#define PEER_PROXY_AUTH_MAX     1024 /* answers remembered at once */

/* Milliseconds of a monotonic clock. */
typedef uint64_t peer_proxy_auth_clock_fn(void);

/* Frees a value the cache holds. */
typedef void peer_proxy_auth_free_fn(void *value);

struct peer_proxy_auth_entry {
    uint8_t key[PEER_PROXY_AUTH_KEY_LEN];
    uint64_t expires_ms; /* on the cache's clock */
    void *value;         /* owned; NULL: a free slot */
};

struct peer_proxy_auth_cache {
    struct peer_proxy_auth_entry *entries; /* max slots, allocated on the first put */
    size_t max;
    uint64_t ttl_ms; /* 0: nothing is remembered */
    peer_proxy_auth_clock_fn *clock;
    peer_proxy_auth_free_fn *free_value;
    uint64_t hits, misses; /* lookups answered and not answered */
};

/*
 * The key of a check: a SHA-256 of url and the values of the Authorization fields of the
 * client's headers h (n of them; none: the anonymous key), in order. Nothing of the
 * credentials stays in memory but out.
 */
void peer_proxy_auth_key(const char *url, const struct net_http_header *h, size_t n,
                         uint8_t out[PEER_PROXY_AUTH_KEY_LEN]);

/*
 * Set up c (embedded) for at most max answers kept ttl_ms each on clock; free_value frees
 * the values put. Allocates nothing yet.
 */
void peer_proxy_auth_cache_init(struct peer_proxy_auth_cache *c, size_t max, uint64_t ttl_ms,
                                peer_proxy_auth_clock_fn *clock,
                                peer_proxy_auth_free_fn *free_value);

/* Free every value and the slots; c may be initialised again. */
void peer_proxy_auth_cache_reset(struct peer_proxy_auth_cache *c);

/*
 * The value of a fresh answer for key (borrowed until the next put or reset), or NULL when
 * none is (an expired one is freed here).
 */
const void *peer_proxy_auth_cache_get(struct peer_proxy_auth_cache *c,
                                      const uint8_t key[PEER_PROXY_AUTH_KEY_LEN]);

/*
 * Remember the registry's 200 for key with value (taken; freed at once when the TTL is 0):
 * it replaces one for the same key; when all slots are taken, the one that expires first
 * goes.
 */
void peer_proxy_auth_cache_put(struct peer_proxy_auth_cache *c,
                               const uint8_t key[PEER_PROXY_AUTH_KEY_LEN], void *value);

/* Fresh answers held now. */
size_t peer_proxy_auth_cache_count(struct peer_proxy_auth_cache *c);

#endif
