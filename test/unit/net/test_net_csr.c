/* SPDX-License-Identifier: Apache-2.0 */
/* CSRs of joining hosts and the manager's signing of them (net_csr.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "../unit_cert.h"
#include "../unit_tmp.h"
#include "df/net_csr.h"
#include "df/net_x509.h"

static char dir[PATH_MAX];
static mbedtls_x509_crt ca;
static mbedtls_pk_context ca_key;

static void
csr_setup(void)
{
    char crt[PATH_MAX + 16], key[PATH_MAX + 16];
    struct df_error err;

    unit_tmp_make(dir, sizeof(dir), "csr");
    unit_cert("ca", "--dir", dir, NULL);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    mbedtls_x509_crt_init(&ca);
    mbedtls_pk_init(&ca_key);
    ck_assert_int_eq(net_x509_ca_load(&ca, &ca_key, crt, key, &err), 0);
}

static void
csr_teardown(void)
{
    mbedtls_x509_crt_free(&ca);
    mbedtls_pk_free(&ca_key);
    unit_tmp_remove(dir);
}

/* A CSR names the identity it was made for; the signed certificate names the same. */
START_TEST(test_csr_round_trip)
{
    char *key = NULL, *csr = NULL, *crt = NULL, serial[NET_CSR_SERIAL_LEN], hex[NET_CSR_SERIAL_LEN];
    struct net_tls_identity id;
    struct df_error err;
    mbedtls_x509_crt out;
    time_t now = time(NULL);

    ck_assert_int_eq(net_csr_new(NET_TLS_ROLE_PEER, "node-7", &key, &csr, &err), 0);
    ck_assert_ptr_nonnull(strstr(key, "PRIVATE KEY"));
    ck_assert_ptr_nonnull(strstr(csr, "CERTIFICATE REQUEST"));
    ck_assert_int_eq(net_csr_identity(csr, &id, &err), 0);
    ck_assert_int_eq(id.role, NET_TLS_ROLE_PEER);
    ck_assert_str_eq(id.host, "node-7");
    memset(&id, 0, sizeof(id));
    ck_assert_int_eq(net_csr_sign(&ca, &ca_key, csr, now - 60, now + 3600, &crt, serial, &id, &err),
                     0);
    ck_assert_int_eq(id.role, NET_TLS_ROLE_PEER);
    ck_assert_uint_eq(strlen(serial), 32);
    mbedtls_x509_crt_init(&out);
    ck_assert_int_eq(net_csr_crt_parse(&out, crt, &err), 0);
    net_csr_serial_hex(&out, hex);
    ck_assert_str_eq(hex, serial);
    {
        uint32_t flags = 0;

        /* it chains to the CA */
        ck_assert_int_eq(mbedtls_x509_crt_verify(&out, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    }
    mbedtls_x509_crt_free(&out);
    free(key);
    free(csr);
    free(crt);
}

END_TEST

/* A CSR whose signature does not match its key, or garbage, is refused. */
START_TEST(test_csr_refused)
{
    char *key = NULL, *csr = NULL, *crt = NULL, serial[NET_CSR_SERIAL_LEN];
    struct net_tls_identity id;
    struct df_error err;
    char *p;

    ck_assert_int_ne(net_csr_identity("", &id, &err), 0);
    ck_assert_int_ne(net_csr_identity("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                      "-----END CERTIFICATE REQUEST-----\n",
                                      &id, &err),
                     0);
    ck_assert_int_eq(net_csr_new(NET_TLS_ROLE_SCHEDULER, "s1", &key, &csr, &err), 0);
    /* flip a base64 digit inside the signed part (after the header line) */
    p = strchr(csr, '\n') + 40;
    *p = *p == 'A' ? 'B' : 'A';
    ck_assert_int_eq(
            net_csr_sign(&ca, &ca_key, csr, time(NULL), time(NULL) + 60, &crt, serial, &id, &err),
            DF_EINVAL);
    ck_assert_ptr_null(crt);
    free(key);
    free(csr);
    /* no host, no role: nothing to ask for, and nothing handed back */
    ck_assert_int_eq(net_csr_new(NET_TLS_ROLE_NONE, "s1", &key, &csr, &err), DF_EINVAL);
    ck_assert_ptr_null(key);
    ck_assert_ptr_null(csr);
    ck_assert_int_eq(net_csr_new(NET_TLS_ROLE_PEER, "-bad", &key, &csr, &err), DF_EINVAL);
    ck_assert_ptr_null(key);
    ck_assert_ptr_null(csr);
}

END_TEST

/* Nothing signed outlives the CA. */
START_TEST(test_csr_not_past_ca)
{
    char *key = NULL, *csr = NULL, *crt = NULL, serial[NET_CSR_SERIAL_LEN];
    struct net_tls_identity id;
    struct df_error err;
    time_t end = net_x509_time_get(&ca.valid_to);

    ck_assert_int_eq(net_csr_new(NET_TLS_ROLE_SEED, "seed-1", &key, &csr, &err), 0);
    ck_assert_int_eq(net_csr_sign(&ca, &ca_key, csr, time(NULL), end + 1, &crt, serial, &id, &err),
                     DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "outlive"));
    free(key);
    free(csr);
}

END_TEST

/* The pin is the SHA-256 of the CA's DER, in the form hosts are given it. */
START_TEST(test_ca_hash)
{
    char h[NET_CSR_HASH_LEN], *pem;
    mbedtls_x509_crt again;
    struct df_error err;

    net_csr_ca_hash(&ca, h);
    ck_assert_uint_eq(strlen(h), 71);
    ck_assert(strncmp(h, "sha256:", 7) == 0);
    pem = net_csr_crt_pem(&ca);
    ck_assert_ptr_nonnull(pem);
    mbedtls_x509_crt_init(&again);
    ck_assert_int_eq(net_csr_crt_parse(&again, pem, &err), 0);
    {
        char h2[NET_CSR_HASH_LEN];

        net_csr_ca_hash(&again, h2);
        ck_assert_str_eq(h, h2);
    }
    mbedtls_x509_crt_free(&again);
    free(pem);
}

END_TEST

/* A renewal's reload: a pair that is no pair, or a context without a certificate, is refused
 * and changes nothing; a good pair is taken. The revoked set takes and replaces lists. */
START_TEST(test_ctx_reload)
{
    char a_crt[PATH_MAX + 16], a_key[PATH_MAX + 16], b_crt[PATH_MAX + 16], b_key[PATH_MAX + 16],
            ca_crt[PATH_MAX + 16], out_a[PATH_MAX + 8], out_b[PATH_MAX + 8];
    const char *serials[] = {"ff01", "0a"};
    struct net_tls_ctx *srv = NULL, *cli = NULL;
    struct net_tls_opts o;
    struct df_error err;

    snprintf(out_a, sizeof(out_a), "%s/a", dir);
    snprintf(out_b, sizeof(out_b), "%s/b", dir);
    unit_cert("issue", "--dir", dir, "--role", "peer", "--host", "a", "--out", out_a, NULL);
    unit_cert("issue", "--dir", dir, "--role", "peer", "--host", "b", "--out", out_b, NULL);
    snprintf(a_crt, sizeof(a_crt), "%s.crt", out_a);
    snprintf(a_key, sizeof(a_key), "%s.key", out_a);
    snprintf(b_crt, sizeof(b_crt), "%s.crt", out_b);
    snprintf(b_key, sizeof(b_key), "%s.key", out_b);
    snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", dir);
    memset(&o, 0, sizeof(o));
    o.cert_file = a_crt;
    o.key_file = a_key;
    o.ca_file = ca_crt;
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &srv, &err), 0);
    ck_assert_int_eq(net_tls_ctx_reload(srv, b_crt, a_key, &err), DF_ETLS);
    ck_assert_int_eq(net_tls_ctx_reload(srv, "/nonexistent", b_key, &err), DF_ETLS);
    ck_assert_int_eq(net_tls_ctx_reload(srv, b_crt, b_key, &err), 0);
    ck_assert_int_eq(net_tls_ctx_reload(srv, a_crt, a_key, &err), 0);
    net_tls_ctx_set_revoked(srv, serials, 2);
    net_tls_ctx_set_revoked(srv, serials, 1);
    net_tls_ctx_set_revoked(srv, NULL, 0);
    net_tls_ctx_set_revoked(srv, serials, 2);
    /* a client without a certificate has nothing to replace */
    o.cert_file = NULL;
    o.key_file = NULL;
    ck_assert_int_eq(net_tls_ctx_new(false, &o, &cli, &err), 0);
    ck_assert_int_eq(net_tls_ctx_reload(cli, b_crt, b_key, &err), DF_EINVAL);
    net_tls_ctx_free(cli);
    net_tls_ctx_free(srv);
}

END_TEST

Suite *test_net_csr_suite(void);

Suite *
test_net_csr_suite(void)
{
    Suite *s = suite_create("net_csr");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, csr_setup, csr_teardown);
    tcase_add_test(tc, test_csr_round_trip);
    tcase_add_test(tc, test_csr_refused);
    tcase_add_test(tc, test_csr_not_past_ca);
    tcase_add_test(tc, test_ca_hash);
    tcase_add_test(tc, test_ctx_reload);
    suite_add_tcase(s, tc);
    return s;
}
