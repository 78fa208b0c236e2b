/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include <check.h>

#include "df/df_json.h"

static cJSON *
parse_ok(const char *s)
{
    cJSON *doc = NULL;
    struct df_error err;

    ck_assert_int_eq(df_json_parse(s, strlen(s), NULL, &doc, &err), 0);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

START_TEST(test_parse_limits)
{
    struct df_json_limits lim = {.max_bytes = 16, .max_depth = 3};
    struct df_error err;
    cJSON *doc = NULL;
    const char *deep = "[[[[1]]]]", *ok = "[[[1]]]";

    ck_assert_int_eq(df_json_parse("{\"a\":\"0123456789\"}", 18, &lim, &doc, &err), DF_ETOOBIG);
    ck_assert_ptr_null(doc);
    ck_assert_int_eq(df_json_parse(deep, strlen(deep), &lim, &doc, &err), DF_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "nesting"));
    ck_assert_int_eq(df_json_parse(ok, strlen(ok), &lim, &doc, &err), 0);
    cJSON_Delete(doc);
    /* brackets inside strings do not count as nesting */
    doc = NULL;
    ck_assert_int_eq(df_json_parse("[\"[[[[[\"]", 9, &lim, &doc, &err), 0);
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_parse_malformed)
{
    struct df_error err;
    cJSON *doc = NULL;

    ck_assert_int_eq(df_json_parse("{\"a\":", 5, NULL, &doc, &err), DF_EINVAL);
    ck_assert_int_eq(df_json_parse("{} x", 4, NULL, &doc, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "trailing"));
    ck_assert_int_eq(df_json_parse("", 0, NULL, &doc, &err), DF_EINVAL);
    ck_assert_ptr_null(doc);
    /* not NUL-terminated: the parser must stop at len */
    ck_assert_int_eq(df_json_parse("{}}", 2, NULL, &doc, &err), 0);
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_getters)
{
    cJSON *doc = parse_ok("{\"s\":\"x\",\"b\":true,\"n\":42,\"big\":\"18446744073709551615\","
                          "\"neg\":-1,\"f\":1.5,\"nul\":null}");
    struct df_error err;
    const char *s = NULL;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;

    ck_assert_int_eq(df_json_get_str(doc, "s", &s, &err), 0);
    ck_assert_str_eq(s, "x");
    ck_assert_int_eq(df_json_get_bool(doc, "b", &b, &err), 0);
    ck_assert(b);
    ck_assert_int_eq(df_json_get_i64(doc, "n", &i, &err), 0);
    ck_assert_int_eq(i, 42);
    ck_assert_int_eq(df_json_get_u64(doc, "big", &u, &err), 0);
    ck_assert(u == UINT64_MAX);
    ck_assert_int_eq(df_json_get_u64(doc, "neg", &u, &err), DF_EINVAL);
    ck_assert_int_eq(df_json_get_i64(doc, "f", &i, &err), DF_EINVAL);
    ck_assert_int_eq(df_json_get_str(doc, "n", &s, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "n: expected string");
    ck_assert_int_eq(df_json_get_str(doc, "nul", &s, &err), DF_ENOTFOUND);
    ck_assert_int_eq(df_json_get_str(doc, "missing", &s, &err), DF_ENOTFOUND);
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_add_u64)
{
    cJSON *o = cJSON_CreateObject();
    struct df_error err;
    uint64_t u = 0;

    df_json_add_u64(o, "small", 12345);
    df_json_add_u64(o, "large", (UINT64_C(1) << 60) + 1);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "small")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(o, "large")));
    ck_assert_int_eq(df_json_get_u64(o, "large", &u, &err), 0);
    ck_assert(u == (UINT64_C(1) << 60) + 1);
    cJSON_Delete(o);
}

END_TEST

Suite *test_df_json_suite(void);

Suite *
test_df_json_suite(void)
{
    Suite *s = suite_create("df_json");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, test_parse_limits);
    tcase_add_test(tc, test_parse_malformed);
    tcase_add_test(tc, test_getters);
    tcase_add_test(tc, test_add_u64);
    suite_add_tcase(s, tc);
    return s;
}
