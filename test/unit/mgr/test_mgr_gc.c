/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

START_TEST(test_ttl_parse)
{
    struct mgr_gc_ttl t = {0};
    struct df_error err;

    /* upstream's seed */
    ck_assert_int_eq(
            mgr_gc_ttl_parse(
                    "{\"audit\":{\"ttl\":604800000000000},\"job\":{\"ttl\":21600000000000}}", &t,
                    &err),
            0);
    ck_assert_int_eq(t.audit_ns, INT64_C(604800000000000));
    ck_assert_int_eq(t.job_ns, INT64_C(21600000000000));
    /* both sections, integers of 1 s to 10 years; *out untouched on failure */
    ck_assert_int_eq(mgr_gc_ttl_parse("{\"audit\":{\"ttl\":1000000000}}", &t, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "job.ttl"));
    ck_assert_int_eq(
            mgr_gc_ttl_parse("{\"audit\":{\"ttl\":5},\"job\":{\"ttl\":1000000000}}", &t, &err),
            DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "audit.ttl"));
    ck_assert_int_eq(
            mgr_gc_ttl_parse("{\"audit\":{\"ttl\":\"7d\"},\"job\":{\"ttl\":1000000000}}", &t, &err),
            DF_EINVAL);
    ck_assert_int_eq(
            mgr_gc_ttl_parse("{\"audit\":{\"ttl\":1e30},\"job\":{\"ttl\":1000000000}}", &t, &err),
            DF_EINVAL);
    ck_assert_int_eq(mgr_gc_ttl_parse("[]", &t, &err), DF_EINVAL);
    ck_assert_int_eq(mgr_gc_ttl_parse("not json", &t, &err), DF_EINVAL);
    ck_assert_int_eq(t.audit_ns, INT64_C(604800000000000));
}

END_TEST

Suite *test_mgr_gc_suite(void);

Suite *
test_mgr_gc_suite(void)
{
    Suite *s = suite_create("mgr_gc");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_ttl_parse);
    suite_add_tcase(s, tc);
    return s;
}
