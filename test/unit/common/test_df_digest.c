/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <mbedtls/sha256.h>

#include "df/df_digest.h"

static const char *const empty_hex =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* Hash len bytes with impl in pieces of the given sizes (cycled), return the hex. */
static void
hash_split(enum df_sha256_impl impl, const uint8_t *p, size_t len, const size_t *steps,
           size_t nsteps, char hex[DF_SHA256_HEX_LEN + 1])
{
    struct df_sha256 ctx;
    uint8_t md[DF_SHA256_LEN];
    size_t off = 0, i = 0, n;

    ck_assert_int_eq(df_sha256_init_impl(&ctx, impl), 0);
    while (off < len) {
        n = nsteps > 0 ? steps[i++ % nsteps] : len;
        if (n > len - off)
            n = len - off;
        df_sha256_update(&ctx, p + off, n);
        off += n;
    }
    df_sha256_final(&ctx, md);
    df_hex_encode(md, sizeof(md), hex);
}

static void
check_vectors(enum df_sha256_impl impl)
{
    static const char *const abc =
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    static const char *const two_blocks =
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    static const char *const million_a =
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    const char *msg2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    const size_t one = 1, odd[] = {7, 61, 1, 64, 129};
    char hex[DF_SHA256_HEX_LEN + 1];
    uint8_t *a = malloc(1000000);

    ck_assert_ptr_nonnull(a);
    hash_split(impl, (const uint8_t *)"", 0, NULL, 0, hex);
    ck_assert_str_eq(hex, empty_hex);
    hash_split(impl, (const uint8_t *)"abc", 3, NULL, 0, hex);
    ck_assert_str_eq(hex, abc);
    hash_split(impl, (const uint8_t *)"abc", 3, &one, 1, hex);
    ck_assert_str_eq(hex, abc);
    hash_split(impl, (const uint8_t *)msg2, strlen(msg2), NULL, 0, hex);
    ck_assert_str_eq(hex, two_blocks);
    memset(a, 'a', 1000000);
    hash_split(impl, a, 1000000, NULL, 0, hex);
    ck_assert_str_eq(hex, million_a);
    hash_split(impl, a, 1000000, odd, DF_NELEM(odd), hex);
    ck_assert_str_eq(hex, million_a);
    free(a);
}

START_TEST(test_vectors_mbedtls)
{
    check_vectors(DF_SHA256_IMPL_MBEDTLS);
}

END_TEST

START_TEST(test_vectors_shani)
{
    if (!df_sha256_impl_is_available(DF_SHA256_IMPL_SHANI))
        return; /* nothing to test on this CPU */
    check_vectors(DF_SHA256_IMPL_SHANI);
}

END_TEST

/* xorshift64: the next value of *x. */
static uint64_t
next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Two messages of n pseudo-random bytes each, from the generator at *x. */
static void
fill_two(uint8_t *pa, uint8_t *pb, size_t n, uint64_t *x)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = next_rand(x);
        pa[i] = (uint8_t)v;
        pb[i] = (uint8_t)(v >> 32);
    }
}

/*
 * Two messages fed side by side in chunks of unrelated sizes (as two sockets' buffers come),
 * of different lengths, or of one length through df_sha256_update_x2: each digest must be
 * its message's own, whichever implementation each side uses and however the chunks fall
 * on the block boundaries.
 */
START_TEST(test_update_pair)
{
    static const enum df_sha256_impl impls[] = {DF_SHA256_IMPL_MBEDTLS, DF_SHA256_IMPL_SHANI};

    const size_t max = (128 << 10) + 5;
    uint8_t *pa = malloc(max), *pb = malloc(max), want_a[DF_SHA256_LEN], want_b[DF_SHA256_LEN],
            got_a[DF_SHA256_LEN], got_b[DF_SHA256_LEN];
    uint64_t x = 0x9e3779b97f4a7c15u;
    struct df_sha256 a, b;

    ck_assert_ptr_nonnull(pa);
    ck_assert_ptr_nonnull(pb);
    fill_two(pa, pb, max, &x);
    for (int round = 0; round < 48; round++) {
        size_t la = round < 4 ? (size_t[]){0, 64, 65, max}[round] : (size_t)(x % max);
        size_t lb = round < 4 ? (size_t[]){max, 1, 128, 0}[round] : (size_t)((x >> 20) % max);
        enum df_sha256_impl ia = impls[round % 2], ib = impls[(round / 2) % 2];
        bool same = round >= 4 && round % 4 == 3; /* df_sha256_update_x2 */
        size_t oa = 0, ob = 0;

        if (same)
            lb = la;
        next_rand(&x);
        if (!df_sha256_impl_is_available(ia) || !df_sha256_impl_is_available(ib))
            continue;
        df_sha256(pa, la, want_a);
        df_sha256(pb, lb, want_b);
        ck_assert_int_eq(df_sha256_init_impl(&a, ia), 0);
        ck_assert_int_eq(df_sha256_init_impl(&b, ib), 0);
        while (oa < la || ob < lb) {
            size_t sa = round % 5 == 0 ? la - oa : (size_t)((x >> (oa % 29)) % 20000);
            size_t sb = round % 5 == 0 ? lb - ob : (size_t)((x >> (ob % 31)) % 20000);

            sa = sa > la - oa ? la - oa : sa;
            sb = sb > lb - ob ? lb - ob : sb;
            if (same)
                sb = sa;
            if (sa == 0 && sb == 0) {
                sa = la - oa;
                sb = lb - ob;
            }
            if (same)
                df_sha256_update_x2(&a, pa + oa, &b, pb + ob, sa);
            else
                df_sha256_update_pair(&a, pa + oa, sa, &b, pb + ob, sb);
            oa += sa;
            ob += sb;
        }
        df_sha256_final(&a, got_a);
        df_sha256_final(&b, got_b);
        ck_assert_mem_eq(got_a, want_a, DF_SHA256_LEN);
        ck_assert_mem_eq(got_b, want_b, DF_SHA256_LEN);
    }
    free(pa);
    free(pb);
}

END_TEST

START_TEST(test_vectors_auto)
{
    uint8_t md[DF_SHA256_LEN];
    char hex[DF_SHA256_HEX_LEN + 1];

    check_vectors(DF_SHA256_IMPL_AUTO);
    df_sha256("", 0, md);
    df_hex_encode(md, sizeof(md), hex);
    ck_assert_str_eq(hex, empty_hex);
    ck_assert(df_sha256_impl_best() != DF_SHA256_IMPL_AUTO);
    ck_assert_str_eq(df_sha256_impl_name(DF_SHA256_IMPL_SHANI), "sha-ni");
}

END_TEST

/* Random lengths and split points: both paths and mbedtls's own one-shot must agree. */
START_TEST(test_random_cross)
{
    const size_t max = (1 << 20) + 333;
    uint8_t *buf = malloc(max), ref[DF_SHA256_LEN];
    uint64_t x = 0x9e3779b97f4a7c15u;
    char want[DF_SHA256_HEX_LEN + 1], got[DF_SHA256_HEX_LEN + 1];
    size_t steps[5], len;
    bool shani = df_sha256_impl_is_available(DF_SHA256_IMPL_SHANI);

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < max; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (int round = 0; round < 40; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        len = round < 3 ? (size_t[]){55, 56, 64}[round] : (size_t)(x % max);
        for (size_t i = 0; i < DF_NELEM(steps); i++)
            steps[i] = 1 + (size_t)((x >> (8 * i)) % (round % 2 ? 200 : 70000));
        ck_assert_int_eq(mbedtls_sha256_ret(buf, len, ref, 0), 0);
        df_hex_encode(ref, sizeof(ref), want);
        hash_split(DF_SHA256_IMPL_MBEDTLS, buf, len, steps, DF_NELEM(steps), got);
        ck_assert_str_eq(got, want);
        if (shani) {
            hash_split(DF_SHA256_IMPL_SHANI, buf, len, steps, DF_NELEM(steps), got);
            ck_assert_str_eq(got, want);
            hash_split(DF_SHA256_IMPL_SHANI, buf, len, NULL, 0, got);
            ck_assert_str_eq(got, want);
        }
    }
    free(buf);
}

END_TEST

START_TEST(test_hex)
{
    const uint8_t bytes[] = {0x00, 0x9f, 0xab, 0xff};
    uint8_t out[4];
    char hex[9];

    df_hex_encode(bytes, sizeof(bytes), hex);
    ck_assert_str_eq(hex, "009fabff");
    ck_assert_int_eq(df_hex_decode("009FabfF", 8, out, sizeof(out)), 0);
    ck_assert_mem_eq(out, bytes, sizeof(bytes));
    ck_assert_int_eq(df_hex_decode("009fab", 6, out, sizeof(out)), DF_EINVAL);
    ck_assert_int_eq(df_hex_decode("009fabfg", 8, out, sizeof(out)), DF_EINVAL);
    ck_assert_int_eq(df_hex_decode("009fabff0", 9, out, sizeof(out)), DF_EINVAL);
    ck_assert(df_hex_is_lower("0123456789abcdef", 16));
    ck_assert(!df_hex_is_lower("0123456789abcdeF", 16));
}

END_TEST

START_TEST(test_digest_parse)
{
    char good[80], buf[DF_DIGEST_STR_LEN + 1];
    struct df_digest d, e;
    struct df_error err;
    uint8_t md[DF_SHA256_LEN];

    snprintf(good, sizeof(good), "sha256:%s", empty_hex);
    ck_assert_int_eq(df_digest_parse(good, &d, &err), 0);
    ck_assert_int_eq(d.algo, DF_DIGEST_SHA256);
    df_sha256("", 0, md);
    df_digest_set_sha256(&e, md);
    ck_assert(df_digest_is_equal(&d, &e));
    ck_assert_str_eq(df_digest_format(&d, buf), good);
    e.bytes[31] ^= 1;
    ck_assert(!df_digest_is_equal(&d, &e));

    ck_assert_int_eq(df_digest_parse(empty_hex, &d, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected"));
    ck_assert_int_eq(df_digest_parse("md5:d41d8cd98f00b204e9800998ecf8427e", &d, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "unsupported algorithm \"md5\""));
    ck_assert_int_eq(df_digest_parse("SHA256:abc", &d, &err), DF_EINVAL);
    ck_assert_int_eq(df_digest_parse("sha256:abc", &d, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "64 hex"));
    good[7] = 'E';
    ck_assert_int_eq(df_digest_parse(good, &d, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "lowercase"));
    good[7] = 'g';
    ck_assert_int_eq(df_digest_parse(good, &d, &err), DF_EINVAL);
    snprintf(good, sizeof(good), "sha256:%s0", empty_hex);
    ck_assert_int_eq(df_digest_parse(good, &d, &err), DF_EINVAL);
    ck_assert_int_eq(df_digest_parse("sha256:", &d, &err), DF_EINVAL);
    ck_assert_int_eq(df_digest_parse("", &d, &err), DF_EINVAL);
    /* untouched on failure */
    ck_assert(d.algo == DF_DIGEST_SHA256);
}

END_TEST

/* issue_9 (found by fuzz_peer_rpc): the message never carries control bytes of the input. */
START_TEST(test_issue_9_digest_message_one_line)
{
    struct df_digest d;
    struct df_error err;

    ck_assert_int_eq(df_digest_parse("s\nX-Injected: 1\r\nsha:00", &d, &err), DF_EINVAL);
    ck_assert_ptr_null(strpbrk(err.msg, "\r\n"));
    ck_assert_ptr_nonnull(strstr(err.msg, "unsupported algorithm"));
    ck_assert_int_eq(df_digest_parse("sha-512:00", &d, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "\"sha-512\""));
}

END_TEST

Suite *test_df_digest_suite(void);

Suite *
test_df_digest_suite(void)
{
    Suite *s = suite_create("df_digest");
    TCase *tc = tcase_create("sha256");
    TCase *tp = tcase_create("parse");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_vectors_mbedtls);
    tcase_add_test(tc, test_vectors_shani);
    tcase_add_test(tc, test_vectors_auto);
    tcase_add_test(tc, test_random_cross);
    tcase_add_test(tc, test_update_pair);
    suite_add_tcase(s, tc);
    tcase_add_test(tp, test_hex);
    tcase_add_test(tp, test_digest_parse);
    tcase_add_test(tp, test_issue_9_digest_message_one_line);
    suite_add_tcase(s, tp);
    return s;
}
