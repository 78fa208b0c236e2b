/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

START_TEST(test_page_defaults_and_bounds)
{
    struct mgr_page pg = {0, 0};
    struct df_error err;

    ck_assert_int_eq(mgr_page_parse(NULL, &pg, &err), 0);
    ck_assert_int_eq(pg.page, 1);
    ck_assert_int_eq(pg.per_page, 10);
    ck_assert_int_eq(mgr_page_parse("page=3&per_page=10000000&x=1", &pg, &err), 0);
    ck_assert_int_eq(pg.page, 3);
    ck_assert_int_eq(pg.per_page, 10000000);
    ck_assert_int_eq(mgr_page_parse("per_page=10000001", &pg, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "'lte'"));
    ck_assert_int_eq(mgr_page_parse("page=0", &pg, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "'gte'"));
    ck_assert_int_eq(mgr_page_parse("page=abc", &pg, &err), DF_EINVAL);
    ck_assert_int_eq(mgr_page_parse("page=1%27%20OR%201", &pg, &err), DF_EINVAL);
    ck_assert_int_eq(pg.page, 3); /* untouched on failure */
}

END_TEST

START_TEST(test_query_get)
{
    char *v;

    v = mgr_query_get("a=1&name=a+b%2Fc&name=second", "name");
    ck_assert_str_eq(v, "a b/c");
    free(v);
    v = mgr_query_get("flag&b=", "flag");
    ck_assert_str_eq(v, "");
    free(v);
    ck_assert_ptr_null(mgr_query_get("a=%zz", "a"));
    ck_assert_ptr_null(mgr_query_get("a=%2", "a"));
    ck_assert_ptr_null(mgr_query_get(NULL, "a"));
}

END_TEST

START_TEST(test_link_exact)
{
    struct mgr_page pg = {2, 2};
    char *l;

    /* keys sorted, page and per_page replaced, Go's QueryEscape, no spaces */
    l = mgr_page_link("/api/v1/users", "per_page=2&page=2&name=a+b&email=x%2By", &pg, 5);
    ck_assert_str_eq(l, "</api/v1/users?email=x%2By&name=a+b&page=1&per_page=2>;rel=prev,"
                        "</api/v1/users?email=x%2By&name=a+b&page=3&per_page=2>;rel=next,"
                        "</api/v1/users?email=x%2By&name=a+b&page=1&per_page=2>;rel=first,"
                        "</api/v1/users?email=x%2By&name=a+b&page=3&per_page=2>;rel=last");
    free(l);
    /* an empty list: last is 0; page 1 is its own prev */
    pg.page = 1;
    pg.per_page = 10;
    l = mgr_page_link("/api/v1/users", NULL, &pg, 0);
    ck_assert_str_eq(l, "</api/v1/users?page=1&per_page=10>;rel=prev,"
                        "</api/v1/users?page=2&per_page=10>;rel=next,"
                        "</api/v1/users?page=1&per_page=10>;rel=first,"
                        "</api/v1/users?page=0&per_page=10>;rel=last");
    free(l);
    /* on the last page next stays there */
    l = mgr_page_link("/x", "page=1", &pg, 10);
    ck_assert_str_eq(l, "</x?page=1&per_page=10>;rel=prev,</x?page=1&per_page=10>;rel=next,"
                        "</x?page=1&per_page=10>;rel=first,</x?page=1&per_page=10>;rel=last");
    free(l);
    /* values of one key keep their order */
    l = mgr_page_link("/x", "b=2&a=z&b=1", &pg, 10);
    ck_assert_ptr_nonnull(strstr(l, "</x?a=z&b=2&b=1&page=1&per_page=10>;rel=prev"));
    free(l);
}

END_TEST

Suite *test_mgr_page_suite(void);

Suite *
test_mgr_page_suite(void)
{
    Suite *s = suite_create("mgr_page");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_page_defaults_and_bounds);
    tcase_add_test(tc, test_query_get);
    tcase_add_test(tc, test_link_exact);
    suite_add_tcase(s, tc);
    return s;
}
