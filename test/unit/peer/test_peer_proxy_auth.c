/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's memory of registry permission checks: keys by URL and credentials, answers
 * kept for the TTL on an injected clock (no sleeping), bounded with eviction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/peer/peer_proxy_auth.h"

#define URL "http://127.0.0.1:5000/v2/private/app/blobs/sha256:0123"

static uint64_t now_ms;
static int freed;

static uint64_t
test_clock(void)
{
    return now_ms;
}

static void
test_free(void *v)
{
    freed++;
    free(v);
}

/* A value that names itself: the tests read back which answer they got. */
static void *
value(int n)
{
    int *v = malloc(sizeof(*v));

    *v = n;
    return v;
}

static int
got(struct peer_proxy_auth_cache *c, const uint8_t key[PEER_PROXY_AUTH_KEY_LEN])
{
    const int *v = peer_proxy_auth_cache_get(c, key);

    return v != NULL ? *v : -1;
}

static void
key_of(const char *url, const char *auth, uint8_t out[PEER_PROXY_AUTH_KEY_LEN])
{
    struct net_http_header h[] = {{"Accept", "*/*"}, {"Authorization", auth}};

    peer_proxy_auth_key(url, h, auth != NULL ? 2 : 1, out);
}

START_TEST(test_key)
{
    uint8_t a[PEER_PROXY_AUTH_KEY_LEN], b[PEER_PROXY_AUTH_KEY_LEN];
    struct net_http_header h[] = {{"authorization", "Basic YTpi"}, {"Accept", "text/plain"}};
    struct net_http_header two[] = {{"Authorization", "A"}, {"Authorization", "B"}};
    struct net_http_header owt[] = {{"Authorization", "B"}, {"Authorization", "A"}};

    /* the same client, the same blob: one key whatever the other headers */
    key_of(URL, "Basic YTpi", a);
    peer_proxy_auth_key(URL, h, 2, b);
    ck_assert_mem_eq(a, b, sizeof(a));
    /* another credential, none, another blob, another repository, another registry */
    key_of(URL, "Basic YTpj", b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    key_of(URL, NULL, b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    key_of("http://127.0.0.1:5000/v2/private/app/blobs/sha256:0124", "Basic YTpi", b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    key_of("http://127.0.0.1:5000/v2/public/app/blobs/sha256:0123", "Basic YTpi", b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    key_of("http://127.0.0.2:5000/v2/private/app/blobs/sha256:0123", "Basic YTpi", b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    /* fields are length-prefixed: moving a byte between URL and credential changes it */
    key_of("http://a/x", "yz", a);
    key_of("http://a/xy", "z", b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    /* two Authorization fields are both part of it, in order */
    peer_proxy_auth_key(URL, two, 2, a);
    peer_proxy_auth_key(URL, owt, 2, b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
}

END_TEST

START_TEST(test_ttl)
{
    struct peer_proxy_auth_cache c;
    uint8_t k[PEER_PROXY_AUTH_KEY_LEN], anon[PEER_PROXY_AUTH_KEY_LEN];

    now_ms = 1000;
    freed = 0;
    peer_proxy_auth_cache_init(&c, 8, 60000, test_clock, test_free);
    key_of(URL, "Basic YTpi", k);
    key_of(URL, NULL, anon);
    ck_assert_int_eq(got(&c, k), -1);
    peer_proxy_auth_cache_put(&c, k, value(1));
    ck_assert_int_eq(got(&c, k), 1);
    /* an authenticated answer says nothing about an anonymous client */
    ck_assert_int_eq(got(&c, anon), -1);
    now_ms += 59999;
    ck_assert_int_eq(got(&c, k), 1);
    ck_assert_uint_eq(peer_proxy_auth_cache_count(&c), 1);
    now_ms += 1; /* exactly the TTL later: gone, and freed on the lookup */
    ck_assert_uint_eq(peer_proxy_auth_cache_count(&c), 0);
    ck_assert_int_eq(got(&c, k), -1);
    ck_assert_int_eq(freed, 1);
    ck_assert_uint_eq(c.hits, 2);
    ck_assert_uint_eq(c.misses, 3);
    /* a new answer for the same key replaces the old one and its clock */
    peer_proxy_auth_cache_put(&c, k, value(2));
    now_ms += 30000;
    peer_proxy_auth_cache_put(&c, k, value(3));
    ck_assert_int_eq(freed, 2);
    now_ms += 59999;
    ck_assert_int_eq(got(&c, k), 3);
    peer_proxy_auth_cache_reset(&c);
    ck_assert_int_eq(freed, 3);
    ck_assert_int_eq(got(&c, k), -1);
}

END_TEST

START_TEST(test_disabled)
{
    struct peer_proxy_auth_cache c;
    uint8_t k[PEER_PROXY_AUTH_KEY_LEN];

    now_ms = 5;
    freed = 0;
    peer_proxy_auth_cache_init(&c, 8, 0, test_clock, test_free);
    key_of(URL, "Basic YTpi", k);
    peer_proxy_auth_cache_put(&c, k, value(1));
    ck_assert_int_eq(freed, 1);
    ck_assert_int_eq(got(&c, k), -1);
    ck_assert_ptr_null(c.entries);
    peer_proxy_auth_cache_reset(&c);
}

END_TEST

START_TEST(test_bounded)
{
    struct peer_proxy_auth_cache c;
    uint8_t k[5][PEER_PROXY_AUTH_KEY_LEN];
    char url[64];

    now_ms = 0;
    freed = 0;
    peer_proxy_auth_cache_init(&c, 4, 1000, test_clock, test_free);
    for (int i = 0; i < 5; i++) {
        snprintf(url, sizeof(url), "http://r/v2/a/blobs/sha256:%d", i);
        key_of(url, "Bearer t", k[i]);
    }
    for (int i = 0; i < 4; i++) {
        now_ms = (uint64_t)i * 10;
        peer_proxy_auth_cache_put(&c, k[i], value(i));
    }
    ck_assert_uint_eq(peer_proxy_auth_cache_count(&c), 4);
    /* full: the fifth takes the slot of the one that expires first (k[0]) */
    peer_proxy_auth_cache_put(&c, k[4], value(4));
    ck_assert_int_eq(freed, 1);
    ck_assert_uint_eq(peer_proxy_auth_cache_count(&c), 4);
    ck_assert_int_eq(got(&c, k[0]), -1);
    for (int i = 1; i < 5; i++)
        ck_assert_int_eq(got(&c, k[i]), i);
    /* once k[1] and k[2] expired, new answers take their slots, not the fresh ones' */
    now_ms = 1025;
    peer_proxy_auth_cache_put(&c, k[0], value(10));
    ck_assert_int_eq(got(&c, k[3]), 3);
    ck_assert_int_eq(got(&c, k[4]), 4);
    ck_assert_int_eq(got(&c, k[0]), 10);
    ck_assert_uint_eq(peer_proxy_auth_cache_count(&c), 3);
    peer_proxy_auth_cache_reset(&c);
    ck_assert_int_eq(freed, 6);
}

END_TEST

Suite *test_peer_proxy_auth_suite(void);

Suite *
test_peer_proxy_auth_suite(void)
{
    Suite *s = suite_create("peer_proxy_auth");
    TCase *tc = tcase_create("cache");

    tcase_add_test(tc, test_key);
    tcase_add_test(tc, test_ttl);
    tcase_add_test(tc, test_disabled);
    tcase_add_test(tc, test_bounded);
    suite_add_tcase(s, tc);
    return s;
}
