/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include <check.h>

#include "df/rpc_err.h"

START_TEST(test_names_roundtrip)
{
    enum rpc_code c;

    for (int i = 1; i <= RPC_UNAUTHENTICATED; i++) {
        ck_assert_int_eq(rpc_err_parse_name(rpc_err_name((enum rpc_code)i), &c), 0);
        ck_assert_int_eq(c, i);
    }
    ck_assert_str_eq(rpc_err_name(RPC_INVALID_ARGUMENT), "invalid_argument");
    ck_assert_str_eq(rpc_err_name((enum rpc_code)99), "unknown");
    ck_assert_int_eq(rpc_err_parse_name("ok", &c), DF_EINVAL);
    ck_assert_int_eq(rpc_err_parse_name("bogus", &c), DF_EINVAL);
    ck_assert_int_eq(rpc_err_parse_name(NULL, &c), DF_EINVAL);
}

END_TEST

START_TEST(test_http_table)
{
    /* The Connect protocol's table. */
    ck_assert_int_eq(rpc_err_http_status(RPC_CANCELED), 499);
    ck_assert_int_eq(rpc_err_http_status(RPC_UNKNOWN), 500);
    ck_assert_int_eq(rpc_err_http_status(RPC_INVALID_ARGUMENT), 400);
    ck_assert_int_eq(rpc_err_http_status(RPC_DEADLINE_EXCEEDED), 504);
    ck_assert_int_eq(rpc_err_http_status(RPC_NOT_FOUND), 404);
    ck_assert_int_eq(rpc_err_http_status(RPC_ALREADY_EXISTS), 409);
    ck_assert_int_eq(rpc_err_http_status(RPC_PERMISSION_DENIED), 403);
    ck_assert_int_eq(rpc_err_http_status(RPC_RESOURCE_EXHAUSTED), 429);
    ck_assert_int_eq(rpc_err_http_status(RPC_FAILED_PRECONDITION), 400);
    ck_assert_int_eq(rpc_err_http_status(RPC_ABORTED), 409);
    ck_assert_int_eq(rpc_err_http_status(RPC_OUT_OF_RANGE), 400);
    ck_assert_int_eq(rpc_err_http_status(RPC_UNIMPLEMENTED), 501);
    ck_assert_int_eq(rpc_err_http_status(RPC_INTERNAL), 500);
    ck_assert_int_eq(rpc_err_http_status(RPC_UNAVAILABLE), 503);
    ck_assert_int_eq(rpc_err_http_status(RPC_DATA_LOSS), 500);
    ck_assert_int_eq(rpc_err_http_status(RPC_UNAUTHENTICATED), 401);
    ck_assert_int_eq(rpc_err_from_http(404), RPC_UNIMPLEMENTED);
    ck_assert_int_eq(rpc_err_from_http(503), RPC_UNAVAILABLE);
    ck_assert_int_eq(rpc_err_from_http(429), RPC_UNAVAILABLE);
    ck_assert_int_eq(rpc_err_from_http(401), RPC_UNAUTHENTICATED);
    ck_assert_int_eq(rpc_err_from_http(418), RPC_UNKNOWN);
}

END_TEST

START_TEST(test_df_mapping)
{
    ck_assert_int_eq(rpc_err_from_df(0), RPC_OK);
    ck_assert_int_eq(rpc_err_from_df(DF_EINVAL), RPC_INVALID_ARGUMENT);
    ck_assert_int_eq(rpc_err_from_df(DF_ETOOBIG), RPC_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(rpc_err_from_df(DF_ETIMEDOUT), RPC_DEADLINE_EXCEEDED);
    ck_assert_int_eq(rpc_err_from_df(DF_ENOTFOUND), RPC_NOT_FOUND);
    ck_assert_int_eq(rpc_err_from_df(DF_ECLOSED), RPC_UNAVAILABLE);
    ck_assert_int_eq(rpc_err_from_df(-1000), RPC_UNKNOWN);
    ck_assert_int_eq(rpc_err_to_df(RPC_OK), 0);
    ck_assert_int_eq(rpc_err_to_df(RPC_DEADLINE_EXCEEDED), DF_ETIMEDOUT);
    ck_assert_int_eq(rpc_err_to_df(RPC_NOT_FOUND), DF_ENOTFOUND);
    ck_assert_int_eq(rpc_err_to_df(RPC_UNAVAILABLE), DF_EUNAVAIL);
    /* round trip for the codes a DF_E* value names exactly */
    ck_assert_int_eq(rpc_err_from_df(rpc_err_to_df(RPC_PERMISSION_DENIED)), RPC_PERMISSION_DENIED);
    ck_assert_int_eq(rpc_err_from_df(rpc_err_to_df(RPC_CANCELED)), RPC_CANCELED);
}

END_TEST

START_TEST(test_json)
{
    struct rpc_status st;
    cJSON *o = rpc_err_to_json(RPC_NOT_FOUND, "no task \"x\"");
    char *s = cJSON_PrintUnformatted(o);

    ck_assert_str_eq(s, "{\"code\":\"not_found\",\"message\":\"no task \\\"x\\\"\"}");
    ck_assert_int_eq(rpc_err_from_json(o, &st), 0);
    ck_assert_int_eq(st.code, RPC_NOT_FOUND);
    ck_assert_str_eq(st.message, "no task \"x\"");
    cJSON_free(s);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"code\":\"weird\"}");
    ck_assert_int_eq(rpc_err_from_json(o, &st), 0);
    ck_assert_int_eq(st.code, RPC_UNKNOWN);
    ck_assert_str_eq(st.message, "");
    cJSON_Delete(o);
    o = cJSON_Parse("[1]");
    ck_assert_int_eq(rpc_err_from_json(o, &st), DF_EINVAL);
    cJSON_Delete(o);
    ck_assert_int_eq(rpc_err_set(&st, RPC_INTERNAL, "x=%d", 7), RPC_INTERNAL);
    ck_assert_str_eq(st.message, "x=7");
}

END_TEST

Suite *test_rpc_err_suite(void);

Suite *
test_rpc_err_suite(void)
{
    Suite *s = suite_create("rpc_err");
    TCase *tc = tcase_create("mapping");

    tcase_add_test(tc, test_names_roundtrip);
    tcase_add_test(tc, test_http_table);
    tcase_add_test(tc, test_df_mapping);
    tcase_add_test(tc, test_json);
    suite_add_tcase(s, tc);
    return s;
}
