/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
#define KEYLEN (sizeof(key) - 1)

/* Signed by an independent implementation (Python's hmac) over the same claims. */
static const char ref_token[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjIwMDAwMDAwMDAsImlkIjo3LCJvcmlnX2lhdCI6M"
        "TcwMDAwMDAwMH0.yD0h29XeF_SIOabIRLORN3jud35xVwiv43lisZLPdlo";

START_TEST(test_pw_hash_vector)
{
    uint8_t salt[MGR_PW_SALT_LEN];
    char out[MGR_PW_HASH_MAX];

    for (int i = 0; i < MGR_PW_SALT_LEN; i++)
        salt[i] = (uint8_t)i;
    ck_assert_int_eq(mgr_pw_hash("dragonfly", salt, 1000, out), 0);
    /* hashlib.pbkdf2_hmac('sha256', b'dragonfly', bytes(range(16)), 1000) */
    ck_assert_str_eq(out, "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
                          "28e0ef203ba987d26c582652ccaba5509c241d8d74852fcbf0c3fc0b0f45dac1");
    ck_assert(mgr_pw_is_match("dragonfly", out));
    ck_assert(!mgr_pw_is_match("dragonflY", out));
    ck_assert(!mgr_pw_is_match("", out));
    ck_assert_int_eq(mgr_pw_hash("x", salt, 0, out), DF_EINVAL);
}

END_TEST

START_TEST(test_pw_salted_and_malformed)
{
    char a[MGR_PW_HASH_MAX], b[MGR_PW_HASH_MAX], bad[MGR_PW_HASH_MAX + 1];

    ck_assert_int_eq(mgr_pw_hash_new("password1", 1000, a), 0);
    ck_assert_int_eq(mgr_pw_hash_new("password1", 1000, b), 0);
    ck_assert_str_ne(a, b); /* a fresh salt each time */
    ck_assert(mgr_pw_is_match("password1", a) && mgr_pw_is_match("password1", b));
    /* stored values not in our form never match, whatever the password */
    ck_assert(!mgr_pw_is_match("password1", "password1"));
    ck_assert(!mgr_pw_is_match("password1", ""));
    ck_assert(!mgr_pw_is_match("password1", "pbkdf2-sha256$0$00$00"));
    memcpy(bad, a, sizeof(a));
    bad[strlen(bad) - 1] = 'g'; /* not hex */
    ck_assert(!mgr_pw_is_match("password1", bad));
    snprintf(bad, sizeof(bad), "%s0", a); /* too long */
    ck_assert(!mgr_pw_is_match("password1", bad));
}

END_TEST

START_TEST(test_jwt_sign_matches_reference)
{
    struct mgr_jwt_claims c = {.id = 7, .exp = 2000000000, .orig_iat = 1700000000}, got;
    char *tok;

    ck_assert_int_eq(mgr_jwt_sign(key, KEYLEN, &c, &tok), 0);
    ck_assert_str_eq(tok, ref_token);
    free(tok);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, ref_token, 1800000000, false, &got), 0);
    ck_assert_int_eq(got.id, 7);
    ck_assert_int_eq(got.exp, 2000000000);
    ck_assert_int_eq(got.orig_iat, 1700000000);
}

END_TEST

START_TEST(test_jwt_refuses_forgeries)
{
    static const uint8_t other[] = "another key, another installation";
    struct mgr_jwt_claims got = {0};
    char buf[512];

    /* another key (another manager's token), alg none, alg switch, tampered claims */
    ck_assert_int_eq(mgr_jwt_verify(other, sizeof(other) - 1, ref_token, 1800000000, false, &got),
                     DF_EPERM);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN,
                                    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjIwMDAwMDAwMDAs"
                                    "ImlkIjo3LCJvcmlnX2lhdCI6MTcwMDAwMDAwMH0.",
                                    1800000000, false, &got),
                     DF_EPERM);
    /* {"alg":"HS512","typ":"JWT"} with the HS256 signature */
    snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9%s", strchr(ref_token, '.'));
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, buf, 1800000000, false, &got), DF_EPERM);
    /* id 8 instead of 7: {"exp":2000000000,"id":8,"orig_iat":1700000000} */
    snprintf(buf, sizeof(buf),
             "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjIwMDAwMDAwMDAsImlkIjo4LCJvcmlnX2lhdCI6"
             "MTcwMDAwMDAwMH0%s",
             strrchr(ref_token, '.'));
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, buf, 1800000000, false, &got), DF_EPERM);
    ck_assert_int_eq(got.id, 0); /* untouched on failure */
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, "", 1, false, &got), DF_EINVAL);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, "a.b", 1, false, &got), DF_EINVAL);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, "a.b.c.d", 1, false, &got), DF_EINVAL);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, "!!.??.**", 1, false, &got), DF_EINVAL);
}

END_TEST

START_TEST(test_jwt_expiry)
{
    struct mgr_jwt_claims c = {.id = 1, .exp = 1000, .orig_iat = 900}, got;
    char *tok;

    ck_assert_int_eq(mgr_jwt_sign(key, KEYLEN, &c, &tok), 0);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, tok, 999, false, &got), 0);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, tok, 1000, false, &got), DF_ETIMEDOUT);
    /* refresh looks past exp (and checks orig_iat itself) */
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, tok, 5000, true, &got), 0);
    ck_assert_int_eq(got.orig_iat, 900);
    free(tok);
    /* a claim that is no positive integer */
    c.id = 0;
    ck_assert_int_eq(mgr_jwt_sign(key, KEYLEN, &c, &tok), 0);
    ck_assert_int_eq(mgr_jwt_verify(key, KEYLEN, tok, 1, false, &got), DF_EINVAL);
    free(tok);
}

END_TEST

Suite *test_mgr_auth_suite(void);

Suite *
test_mgr_auth_suite(void)
{
    Suite *s = suite_create("mgr_auth");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_pw_hash_vector);
    tcase_add_test(tc, test_pw_salted_and_malformed);
    tcase_add_test(tc, test_jwt_sign_matches_reference);
    tcase_add_test(tc, test_jwt_refuses_forgeries);
    tcase_add_test(tc, test_jwt_expiry);
    suite_add_tcase(s, tc);
    return s;
}
