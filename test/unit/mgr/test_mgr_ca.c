/* SPDX-License-Identifier: Apache-2.0 */
/* Join token checks of the manager's CA (mgr_ca.c). */
#include <check.h>

#include "../../../src/mgr/mgr.h"

START_TEST(test_token_refusal)
{
    const struct mgr_ca_token t = {.role = "peer", .cluster_id = 2, .expired_at = 10000};

    /* a live token for the role and cluster asked (0: the token's) admits */
    ck_assert_ptr_null(mgr_ca_token_refusal(&t, 9999, "peer", 2));
    ck_assert_ptr_null(mgr_ca_token_refusal(&t, 9999, "peer", 0));
    /* expired: at its expiry already */
    ck_assert_str_eq(mgr_ca_token_refusal(&t, 10000, "peer", 2), "join token has expired");
    /* a CSR naming another role */
    ck_assert_str_eq(mgr_ca_token_refusal(&t, 1, "scheduler", 2), "join token is for another role");
    ck_assert_str_eq(mgr_ca_token_refusal(&t, 1, "seed", 0), "join token is for another role");
    /* another cluster */
    ck_assert_str_eq(mgr_ca_token_refusal(&t, 1, "peer", 3),
                     "join token is for another scheduler cluster");
}

END_TEST

Suite *test_mgr_ca_suite(void);

Suite *
test_mgr_ca_suite(void)
{
    Suite *s = suite_create("mgr_ca");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_token_refusal);
    suite_add_tcase(s, tc);
    return s;
}
