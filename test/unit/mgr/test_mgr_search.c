/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

#define EPS 1e-9

START_TEST(test_cidr)
{
    ck_assert(mgr_search_cidr_match("10.0.0.0/8", "10.1.2.3"));
    ck_assert(!mgr_search_cidr_match("10.0.0.0/8", "11.1.2.3"));
    ck_assert(mgr_search_cidr_match("127.0.1.0/28", "127.0.1.15"));
    ck_assert(!mgr_search_cidr_match("127.0.1.0/28", "127.0.1.16"));
    /* host bits in the prefix are ignored, as netip.Prefix.Contains does */
    ck_assert(mgr_search_cidr_match("127.0.1.5/24", "127.0.1.200"));
    ck_assert(mgr_search_cidr_match("0.0.0.0/0", "192.168.1.1"));
    /* an IPv4-mapped peer address is its IPv4 address */
    ck_assert(mgr_search_cidr_match("10.0.0.0/8", "::ffff:10.9.9.9"));
    ck_assert(mgr_search_cidr_match("fd00::/8", "fd12::1"));
    ck_assert(!mgr_search_cidr_match("fd00::/8", "10.0.0.1"));
    /* malformed prefixes match nothing */
    ck_assert(!mgr_search_cidr_match("10.0.0.0", "10.0.0.0"));
    ck_assert(!mgr_search_cidr_match("10.0.0.0/33", "10.0.0.0"));
    ck_assert(!mgr_search_cidr_match("10.0.0.0/x", "10.0.0.0"));
    ck_assert(!mgr_search_cidr_match("nonsense/8", "10.0.0.0"));
    ck_assert(!mgr_search_cidr_match("10.0.0.0/8", "not-an-ip"));
}

END_TEST

START_TEST(test_score_weights)
{
    struct mgr_search_host h = {"node-7", "10.1.2.3", "idc2", "cn|zj|hz|x"};

    ck_assert_double_eq_tol(mgr_search_score("{}", false, &h), 0, EPS);
    ck_assert_double_eq_tol(mgr_search_score("{}", true, &h), 0.01, EPS);
    ck_assert_double_eq_tol(
            mgr_search_score("{\"cidrs\":[\"11.0.0.0/8\",\"10.0.0.0/8\"]}", false, &h), 0.3, EPS);
    ck_assert_double_eq_tol(mgr_search_score("{\"hostnames\":[\"^node-[0-9]+$\"]}", false, &h), 0.3,
                            EPS);
    ck_assert_double_eq_tol(mgr_search_score("{\"hostnames\":[\"^other\",\"(\"]}", false, &h), 0,
                            EPS);
    /* IDC: one of the |-elements, case-insensitive */
    ck_assert_double_eq_tol(mgr_search_score("{\"idc\":\"idc1|IDC2\"}", false, &h), 0.25, EPS);
    ck_assert_double_eq_tol(mgr_search_score("{\"idc\":\"idc22\"}", false, &h), 0, EPS);
    /* location: 3 leading elements of 5 */
    ck_assert_double_eq_tol(mgr_search_score("{\"location\":\"cn|zj|hz\"}", false, &h),
                            0.14 * 3 / 5, EPS);
    ck_assert_double_eq_tol(mgr_search_score("{\"location\":\"CN|ZJ|HZ|X\"}", false, &h), 0.14,
                            EPS);
    ck_assert_double_eq_tol(mgr_search_score("{\"location\":\"us|zj\"}", false, &h), 0, EPS);
    ck_assert_double_eq_tol(mgr_search_score("{\"cidrs\":[\"10.0.0.0/8\"],\"hostnames\":[\"node\"],"
                                             "\"idc\":\"idc2\",\"location\":\"cn|zj|hz|x\"}",
                                             true, &h),
                            1.0, EPS);
    /* a peer that says nothing of itself matches nothing; bad scopes are no scopes */
    h = (struct mgr_search_host){NULL, NULL, NULL, NULL};
    ck_assert_double_eq_tol(
            mgr_search_score("{\"cidrs\":[\"0.0.0.0/0\"],\"idc\":\"a\"}", false, &h), 0, EPS);
    ck_assert_double_eq_tol(mgr_search_score("not json", true, &h), 0.01, EPS);
}

END_TEST

/* Matching clusters come before the default one; ties keep the lower id first. */
START_TEST(test_sort)
{
    struct mgr_search_host h = {"peer-1", "127.0.1.40", NULL, "cn|zj"};
    struct mgr_search_item v[] = {
            {1, (char[]){"{}"}, true, 0},
            {2, (char[]){"{\"cidrs\":[\"127.0.1.32/27\"]}"}, false, 0},
            {3, (char[]){"{\"cidrs\":[\"127.0.2.0/24\"]}"}, false, 0},
            {4, (char[]){"{\"location\":\"cn\"}"}, false, 0},
            {5, (char[]){"{}"}, false, 0},
            {6, (char[]){"{\"cidrs\":[\"127.0.1.0/24\"]}"}, false, 0},
    };

    mgr_search_sort(v, 6, &h);
    ck_assert_int_eq(v[0].id, 2);
    ck_assert_int_eq(v[1].id, 6);
    ck_assert_int_eq(v[2].id, 4);
    ck_assert_int_eq(v[3].id, 1);
    ck_assert_int_eq(v[4].id, 3);
    ck_assert_int_eq(v[5].id, 5);
}

END_TEST

Suite *test_mgr_search_suite(void);

Suite *
test_mgr_search_suite(void)
{
    Suite *s = suite_create("mgr_search");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_cidr);
    tcase_add_test(tc, test_score_weights);
    tcase_add_test(tc, test_sort);
    suite_add_tcase(s, tc);
    return s;
}
