/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry permission checks the proxy remembers (peer_proxy_auth.h). A fixed array
 * scanned in full: at most PEER_PROXY_AUTH_MAX keys of 32 bytes, a few microseconds beside
 * the registry round trip a hit saves, and no allocation per answer but the value.
 */
#include "peer_proxy_auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/xmalloc.h"

/* A field of the key: its length first, so that ("ab", "c") and ("a", "bc") differ. */
static void
peer_proxy_auth_key_field(struct df_sha256 *sha, const char *s)
{
    uint64_t len = strlen(s);

    df_sha256_update(sha, &len, sizeof(len));
    df_sha256_update(sha, s, (size_t)len);
}

void
peer_proxy_auth_key(const char *url, const struct net_http_header *h, size_t n,
                    uint8_t out[PEER_PROXY_AUTH_KEY_LEN])
{
    struct df_sha256 sha;

    df_sha256_init(&sha);
    peer_proxy_auth_key_field(&sha, "dragonfly proxy registry check");
    peer_proxy_auth_key_field(&sha, url);
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(h[i].name, "authorization") == 0)
            peer_proxy_auth_key_field(&sha, h[i].value);
    }
    df_sha256_final(&sha, out);
    /* the last block of the credentials may still sit in the context */
    explicit_bzero(&sha, sizeof(sha));
}

void
peer_proxy_auth_cache_init(struct peer_proxy_auth_cache *c, size_t max, uint64_t ttl_ms,
                           peer_proxy_auth_clock_fn *clock, peer_proxy_auth_free_fn *free_value)
{
    memset(c, 0, sizeof(*c));
    c->max = max;
    c->ttl_ms = ttl_ms;
    c->clock = clock;
    c->free_value = free_value;
}

static void
peer_proxy_auth_entry_clear(struct peer_proxy_auth_cache *c, struct peer_proxy_auth_entry *e)
{
    if (e->value != NULL)
        c->free_value(e->value);
    memset(e, 0, sizeof(*e));
}

void
peer_proxy_auth_cache_reset(struct peer_proxy_auth_cache *c)
{
    for (size_t i = 0; c->entries != NULL && i < c->max; i++)
        peer_proxy_auth_entry_clear(c, &c->entries[i]);
    free(c->entries);
    c->entries = NULL;
}

/* The slot holding key, or NULL. */
static struct peer_proxy_auth_entry *
peer_proxy_auth_cache_find(struct peer_proxy_auth_cache *c,
                           const uint8_t key[PEER_PROXY_AUTH_KEY_LEN])
{
    for (size_t i = 0; c->entries != NULL && i < c->max; i++) {
        if (c->entries[i].value != NULL &&
            memcmp(c->entries[i].key, key, PEER_PROXY_AUTH_KEY_LEN) == 0)
            return &c->entries[i];
    }
    return NULL;
}

const void *
peer_proxy_auth_cache_get(struct peer_proxy_auth_cache *c,
                          const uint8_t key[PEER_PROXY_AUTH_KEY_LEN])
{
    struct peer_proxy_auth_entry *e = peer_proxy_auth_cache_find(c, key);

    if (e != NULL && c->clock() >= e->expires_ms)
        peer_proxy_auth_entry_clear(c, e);
    else if (e != NULL) {
        c->hits++;
        return e->value;
    }
    c->misses++;
    return NULL;
}

void
peer_proxy_auth_cache_put(struct peer_proxy_auth_cache *c,
                          const uint8_t key[PEER_PROXY_AUTH_KEY_LEN], void *value)
{
    struct peer_proxy_auth_entry *e;
    uint64_t now;

    if (c->ttl_ms == 0 || c->max == 0) {
        c->free_value(value);
        return;
    }
    if (c->entries == NULL)
        c->entries = xcalloc(c->max, sizeof(*c->entries));
    if ((e = peer_proxy_auth_cache_find(c, key)) == NULL) {
        /* a free slot, else the answer that expires first (expired ones before all) */
        e = &c->entries[0];
        for (size_t i = 0; i < c->max && e->value != NULL; i++) {
            if (c->entries[i].value == NULL || c->entries[i].expires_ms < e->expires_ms)
                e = &c->entries[i];
        }
    }
    peer_proxy_auth_entry_clear(c, e);
    now = c->clock();
    memcpy(e->key, key, PEER_PROXY_AUTH_KEY_LEN);
    e->expires_ms = now + c->ttl_ms;
    e->value = value;
}

size_t
peer_proxy_auth_cache_count(struct peer_proxy_auth_cache *c)
{
    uint64_t now = c->clock();
    size_t n = 0;

    for (size_t i = 0; c->entries != NULL && i < c->max; i++) {
        if (c->entries[i].value != NULL && now < c->entries[i].expires_ms)
            n++;
    }
    return n;
}
