/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

START_TEST(test_group_of_pattern)
{
    char g[32];

    ck_assert_int_eq(mgr_api_group("/api/v1/users/:id/roles", g, sizeof(g)), 0);
    ck_assert_str_eq(g, "users");
    ck_assert_int_eq(mgr_api_group("/api/v12/scheduler-clusters", g, sizeof(g)), 0);
    ck_assert_str_eq(g, "scheduler-clusters");
    ck_assert_int_eq(mgr_api_group("/oapi/v1/jobs/:id", g, sizeof(g)), 0);
    ck_assert_str_eq(g, "jobs");
    ck_assert_int_eq(mgr_api_group("/api/v1/", g, sizeof(g)), DF_EINVAL);
    ck_assert_int_eq(mgr_api_group("/api/vx/users", g, sizeof(g)), DF_EINVAL);
    ck_assert_int_eq(mgr_api_group("/healthy", g, sizeof(g)), DF_EINVAL);
    ck_assert_int_eq(mgr_api_group("/api/v1/users", g, 5), DF_EINVAL);
}

END_TEST

/* The lists' JSON writer gives the bytes cJSON_PrintUnformatted gives for the same members. */
START_TEST(test_jbuf_is_cjson_text)
{
    static const char *const strs[] = {
            "",
            "plain",
            "q\"b\\s/",
            "\b\f\n\r\t",
            "\x01\x1f\x7f",
            "h\xc3\xa9 \xe2\x82\xac",
            "'; DROP TABLE schedulers; --",
    };
    static const int64_t nums[] = {0, 1, -7, 65535, 2147483647, 4294967296, 999999999999999};
    struct mgr_jbuf b = {0};
    cJSON *arr = cJSON_CreateArray(), *o;
    char *want, *ms;

    mgr_jbuf_open(&b, '[');
    for (size_t i = 0; i < DF_NELEM(strs); i++) {
        o = cJSON_CreateObject();
        mgr_jbuf_open(&b, '{');
        cJSON_AddStringToObject(o, "s", strs[i]);
        mgr_jbuf_str(&b, "s", strs[i]);
        cJSON_AddNumberToObject(o, "n", (double)nums[i]);
        mgr_jbuf_int(&b, "n", nums[i]);
        mgr_json_add_time(o, "t", 1700000000123 + (int64_t)i);
        mgr_jbuf_time(&b, "t", 1700000000123 + (int64_t)i);
        cJSON_AddItemToObject(o, "f", cJSON_Parse(i % 2 ? "[ \"schedule\", 1.5 ]" : "[]"));
        mgr_jbuf_json(&b, "f", i % 2 ? "[ \"schedule\", 1.5 ]" : "[]", true);
        cJSON_AddItemToObject(o, "c", cJSON_CreateObject()); /* not JSON: {} */
        mgr_jbuf_json(&b, "c", i % 2 ? "{bad" : "", false);
        mgr_jbuf_close(&b, '}');
        cJSON_AddItemToArray(arr, o);
    }
    /* times: the epoch, before it, a leap day, the last ms of 9999, past 9999 */
    {
        static const int64_t ts[] = {0, -1, 951782400999, 253402300799999, 253402300800000};

        o = cJSON_CreateObject();
        mgr_jbuf_open(&b, '{');
        for (size_t i = 0; i < DF_NELEM(ts); i++) {
            char key[8];

            snprintf(key, sizeof(key), "t%zu", i);
            mgr_json_add_time(o, key, ts[i]);
            mgr_jbuf_time(&b, key, ts[i]);
        }
        mgr_jbuf_close(&b, '}');
        cJSON_AddItemToArray(arr, o);
    }
    mgr_jbuf_close(&b, ']');
    want = cJSON_PrintUnformatted(arr);
    ms = strndup(b.p, b.len);
    ck_assert_str_eq(ms, want);
    /* an empty list */
    b.len = 0;
    mgr_jbuf_open(&b, '[');
    mgr_jbuf_close(&b, ']');
    ck_assert_uint_eq(b.len, 2);
    ck_assert_int_eq(memcmp(b.p, "[]", 2), 0);
    free(ms);
    cJSON_free(want);
    cJSON_Delete(arr);
    free(b.p);
}

END_TEST

/* Deny by default: a route is open only when it says so, and every closed one has a group. */
START_TEST(test_every_route_has_a_rule)
{
    const struct mgr_route *r;
    const char *const *groups;
    size_t n, ng, nopen = 0, nconsole = 0;
    char g[32];

    r = mgr_api_routes(&n);
    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert(r[i].fn != NULL);
        if (r[i].fn == mgr_console_get || r[i].fn == mgr_console_api_missing) {
            /* the console's catch-alls: open, and they answer files or a 404, never data */
            ck_assert_int_eq(r[i].access, MGR_ACCESS_OPEN);
            ck_assert_ptr_nonnull(strchr(r[i].pattern, '*'));
            nconsole++;
        } else if (r[i].access == MGR_ACCESS_OPEN) {
            nopen++;
            /* open: health, readiness, metrics and the sign-in family only */
            ck_assert_msg(strcmp(r[i].pattern, "/healthy") == 0 ||
                                  strcmp(r[i].pattern, "/readyz") == 0 ||
                                  strcmp(r[i].pattern, "/metrics") == 0 ||
                                  strcmp(r[i].pattern, "/_ping") == 0 ||
                                  strncmp(r[i].pattern, "/api/v1/users/", 14) == 0,
                          "%s %s is open", r[i].method, r[i].pattern);
            ck_assert_msg(strcmp(r[i].method, "GET") == 0 || strcmp(r[i].method, "POST") == 0, "%s",
                          r[i].pattern);
        } else if (r[i].access == MGR_ACCESS_LEGACY) {
            /* Harbor <= 2.11's preheat routes, and nothing else */
            ck_assert_msg(strncmp(r[i].pattern, "/preheats", 9) == 0, "%s", r[i].pattern);
        } else {
            /* personal access tokens on /oapi only, JWTs on /api only */
            ck_assert_msg((r[i].access == MGR_ACCESS_PAT) ==
                                  (strncmp(r[i].pattern, "/oapi/", 6) == 0),
                          "%s %s", r[i].method, r[i].pattern);
            ck_assert_msg(mgr_api_group(r[i].pattern, g, sizeof(g)) == 0, "%s %s has no RBAC group",
                          r[i].method, r[i].pattern);
        }
    }
    ck_assert_uint_eq(nopen, 9);
    ck_assert_uint_eq(nconsole, 11); /* one GET for files, five methods each for api and oapi */
    groups = mgr_api_groups(&ng);
    ck_assert_uint_ge(ng, 3);
    for (size_t i = 0; i < ng; i++) /* RBAC groups come from JWT routes only */
        for (size_t j = i + 1; j < ng; j++)
            ck_assert_str_ne(groups[i], groups[j]);
}

END_TEST

Suite *test_mgr_api_suite(void);

Suite *
test_mgr_api_suite(void)
{
    Suite *s = suite_create("mgr_api");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_group_of_pattern);
    tcase_add_test(tc, test_every_route_has_a_rule);
    tcase_add_test(tc, test_jbuf_is_cjson_text);
    suite_add_tcase(s, tc);
    return s;
}
