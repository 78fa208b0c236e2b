/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "df/df_b64.h"
#include "df/df_err.h"

/* RFC 4648 §10 test vectors, both ways. */
START_TEST(test_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char out[16];
    uint8_t dec[16];
    size_t n;

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        size_t len = strlen(plain[i]);

        ck_assert_uint_eq(df_b64_encoded_size(len), strlen(coded[i]) + 1);
        ck_assert_str_eq(df_b64_encode((const uint8_t *)plain[i], len, out), coded[i]);
        n = 99;
        ck_assert_int_eq(df_b64_decode(coded[i], strlen(coded[i]), dec, sizeof(dec), &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert(memcmp(dec, plain[i], len) == 0);
    }
}

END_TEST

/* Every byte value and every length up to 130 survives a round trip. */
START_TEST(test_roundtrip)
{
    uint8_t in[130], dec[130];
    char out[200];
    size_t n;

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 97 + 13);
    for (size_t len = 0; len <= sizeof(in); len++) {
        df_b64_encode(in, len, out);
        ck_assert_uint_eq(strlen(out) + 1, df_b64_encoded_size(len));
        ck_assert_int_eq(df_b64_decode(out, strlen(out), dec, sizeof(dec), &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert(memcmp(dec, in, len) == 0);
    }
    for (unsigned b = 0; b < 256; b++) {
        uint8_t one = (uint8_t)b, back = 0;

        df_b64_encode(&one, 1, out);
        ck_assert_int_eq(df_b64_decode(out, strlen(out), &back, 1, &n), 0);
        ck_assert_uint_eq(back, b);
    }
}

END_TEST

/* Decoding is strict: what another encoder would never produce is refused. */
START_TEST(test_decode_strict)
{
    static const char *const bad[] = {
            "Zg=",      /* length not a multiple of 4 */
            "Zm9",      /* same, unpadded */
            "Zm 9v",    /* whitespace */
            "Zm9v\n",   /* trailing newline */
            "Zh==",     /* non-canonical: the padding bits are not zero */
            "Zm9=",     /* same, one pad */
            "Z===",     /* three pads */
            "====",     /* only padding */
            "Zg==Zm8=", /* padding in the middle */
            "Zm=v",     /* '=' before a data character */
            "Zm9-",     /* URL-safe alphabet is not this one */
            "Zm9_",
    };
    uint8_t dec[16];
    size_t n = 77;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(df_b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n) == DF_EINVAL,
                      "accepted %s", bad[i]);
    ck_assert_uint_eq(n, 77);
}

END_TEST

/* A too-small output is DF_ETOOBIG, with the exact size accepted. */
START_TEST(test_decode_capacity)
{
    uint8_t dec[6];
    size_t n;

    ck_assert_int_eq(df_b64_decode("Zm9vYmFy", 8, dec, 5, &n), DF_ETOOBIG);
    ck_assert_int_eq(df_b64_decode("Zm9vYmE=", 8, dec, 4, &n), DF_ETOOBIG);
    ck_assert_int_eq(df_b64_decode("Zm9vYmE=", 8, dec, 5, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(df_b64_decode("Zm9vYmFy", 8, dec, 6, &n), 0);
    ck_assert(memcmp(dec, "foobar", 6) == 0);
    ck_assert_int_eq(df_b64_decode("", 0, dec, 0, &n), 0);
    ck_assert_uint_eq(n, 0);
}

END_TEST

Suite *test_df_b64_suite(void);

Suite *
test_df_b64_suite(void)
{
    Suite *s = suite_create("df_b64");
    TCase *tc = tcase_create("b64");

    tcase_add_test(tc, test_rfc4648_vectors);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_decode_strict);
    tcase_add_test(tc, test_decode_capacity);
    suite_add_tcase(s, tc);
    return s;
}
