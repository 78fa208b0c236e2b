/* SPDX-License-Identifier: Apache-2.0 */
/* Route matching: literals, :params, *rest, order, HEAD for GET, 404 against 405 + Allow. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "df/df_err.h"
#include "df/net_route.h"

static void
h(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    (void)req;
    (void)m;
    (void)arg;
}

static const struct net_route routes[] = {
        {"GET", "/metrics", h},              /* 0 */
        {"GET", "/healthy", h},              /* 1 */
        {"GET", "/pieces/:task/:number", h}, /* 2 */
        {"PUT", "/pieces/:task/:number", h}, /* 3 */
        {"GET", "/api/v1/users/me", h},      /* 4: before the :id route */
        {"GET", "/api/v1/users/:id", h},     /* 5 */
        {"DELETE", "/api/v1/users/:id", h},  /* 6 */
        {"POST", "/api/v1/users", h},        /* 7 */
        {"GET", "/files/*rest", h},          /* 8 */
        {"GET", "/", h},                     /* 9 */
};

#define N (sizeof(routes) / sizeof(routes[0]))

/* Find method path; check the index and return the match (the caller resets it). */
static struct net_route_match
find(const char *method, const char *path, int want)
{
    struct net_route_match m;
    char allow[64];
    int rv;

    memset(&m, 0, sizeof(m));
    rv = net_route_find(routes, N, method, path, &m, allow, sizeof(allow));
    ck_assert_msg(rv == want, "%s %s: got %d want %d", method, path, rv, want);
    return m;
}

/* Outcomes only: which route, or 404 / 405. */
START_TEST(test_outcomes)
{
    static const struct {
        const char *method, *path;
        int want;
    } cases[] = {
            {"GET", "/healthy", 1},
            {"GET", "/", 9},
            {"GET", "/metrics/", DF_ENOTFOUND}, /* a trailing slash is another path */
            {"GET", "/metricsx", DF_ENOTFOUND},
            {"GET", "/metric", DF_ENOTFOUND},
            {"GET", "//metrics", DF_ENOTFOUND},
            {"GET", "", DF_ENOTFOUND},
            {"GET", "/pieces/../../etc/passwd", DF_ENOTFOUND},
            {"GET", "/pieces//7", DF_ENOTFOUND},
            {"GET", "/pieces/ab12/", DF_ENOTFOUND},
            {"GET", "/pieces/ab12", DF_ENOTFOUND},
            {"GET", "/pieces/ab12/7/8", DF_ENOTFOUND},
            {"GET", "/api/v1/users/me", 4},
            {"DELETE", "/api/v1/users/42", 6},
            {"POST", "/api/v1/users", 7},
            {"GET", "/files", DF_ENOTFOUND},
            {"HEAD", "/metrics", 0}, /* a GET route answers HEAD, and nothing else */
            {"HEAD", "/pieces/a/1", 2},
            {"HEAD", "/api/v1/users", DF_EPERM},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct net_route_match m = find(cases[i].method, cases[i].path, cases[i].want);

        if (cases[i].want >= 0)
            net_route_match_reset(&m);
    }
}

END_TEST

START_TEST(test_table_is_valid)
{
    ck_assert_int_eq(net_route_check(routes, N), 0);
}

END_TEST

START_TEST(test_literals)
{
    struct net_route_match m = find("GET", "/metrics", 0);

    ck_assert_ptr_eq(m.route, &routes[0]);
    ck_assert_uint_eq(m.nparams, 0);
    net_route_match_reset(&m);
}

END_TEST

START_TEST(test_params)
{
    struct net_route_match m = find("GET", "/pieces/ab12/7", 2);

    ck_assert_uint_eq(m.nparams, 2);
    ck_assert_str_eq(net_route_param(&m, "task"), "ab12");
    ck_assert_str_eq(net_route_param(&m, "number"), "7");
    ck_assert_ptr_null(net_route_param(&m, "num"));
    ck_assert_ptr_null(net_route_param(&m, "numbers"));
    net_route_match_reset(&m);
    ck_assert_uint_eq(m.nparams, 0);
    /* raw: no decoding, and a parameter is one non-empty segment */
    m = find("GET", "/pieces/..%2f..%2fetc/0", 2);
    ck_assert_str_eq(net_route_param(&m, "task"), "..%2f..%2fetc");
    net_route_match_reset(&m);
}

END_TEST

/* Table order decides: a literal listed before a :param wins, the :param takes the rest. */
START_TEST(test_order)
{
    struct net_route_match m = find("GET", "/api/v1/users/42", 5);

    ck_assert_str_eq(net_route_param(&m, "id"), "42");
    net_route_match_reset(&m);
}

END_TEST

START_TEST(test_rest)
{
    struct net_route_match m = find("GET", "/files/a/b/c.txt", 8);

    ck_assert_str_eq(net_route_param(&m, "rest"), "a/b/c.txt");
    net_route_match_reset(&m);
    m = find("GET", "/files/", 8);
    ck_assert_str_eq(net_route_param(&m, "rest"), "");
    net_route_match_reset(&m);
}

END_TEST

/* 405 when the path is known to another method, with the methods that would do. */
START_TEST(test_method_not_allowed)
{
    static const struct {
        const char *method, *path;
        int want;
        const char *allow;
    } cases[] = {
            {"POST", "/metrics", DF_EPERM, "GET, HEAD"},
            {"POST", "/pieces/a/1", DF_EPERM, "GET, HEAD, PUT"},
            {"PATCH", "/api/v1/users/me", DF_EPERM, "GET, HEAD, DELETE"}, /* GET once for two */
            {"GET", "/api/v1/users", DF_EPERM, "POST"},
            {"POST", "/nowhere", DF_ENOTFOUND, ""},
    };
    struct net_route_match m;
    char allow[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(
                net_route_find(routes, N, cases[i].method, cases[i].path, &m, allow, sizeof(allow)),
                cases[i].want);
        ck_assert_str_eq(allow, cases[i].allow);
    }
    /* a short buffer truncates the list but stays a string */
    ck_assert_int_eq(net_route_find(routes, N, "POST", "/pieces/a/1", &m, allow, 6), DF_EPERM);
    ck_assert_uint_lt(strlen(allow), 6);
}

END_TEST

START_TEST(test_check_rejects)
{
    static const struct net_route bad[][1] = {
            {{"GET", "metrics", h}},                     /* no leading slash */
            {{"get", "/metrics", h}},                    /* method case */
            {{"", "/metrics", h}},                       /* no method */
            {{"GET", "/metrics", NULL}},                 /* no handler */
            {{"GET", "/pieces/:/x", h}},                 /* unnamed parameter */
            {{"GET", "/pieces/a:b", h}},                 /* parameter inside a segment */
            {{"GET", "/pieces/:a-b", h}},                /* bad name */
            {{"GET", "/f/*rest/x", h}},                  /* rest not last */
            {{"GET", "/f/x*", h}},                       /* star inside a segment */
            {{"GET", "/:a/:b/:c/:d/:e/:f/:g/:h/:i", h}}, /* too many parameters */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(net_route_check(bad[i], 1) == DF_EINVAL, "accepted %s %s", bad[i][0].method,
                      bad[i][0].pattern);
}

END_TEST

Suite *test_net_route_suite(void);

Suite *
test_net_route_suite(void)
{
    Suite *s = suite_create("net_route");
    TCase *tc = tcase_create("match");

    tcase_add_test(tc, test_table_is_valid);
    tcase_add_test(tc, test_literals);
    tcase_add_test(tc, test_outcomes);
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_rest);
    tcase_add_test(tc, test_method_not_allowed);
    tcase_add_test(tc, test_check_rejects);
    suite_add_tcase(s, tc);
    return s;
}
