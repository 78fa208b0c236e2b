/* SPDX-License-Identifier: Apache-2.0 */
/* The upload server's piece path: "<task_id>/<number>" after "/pieces/", one spelling each. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "../../../src/peer/peer_upload.h"

#define TID "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static int
parse(const char *rest, char id[DF_ID_TASK_LEN + 1], uint64_t *n)
{
    memset(id, 'x', DF_ID_TASK_LEN + 1);
    *n = 77;
    return peer_upload_path_parse(rest, id, n);
}

START_TEST(test_valid_paths)
{
    char id[DF_ID_TASK_LEN + 1];
    uint64_t n;

    ck_assert_int_eq(parse(TID "/0", id, &n), 0);
    ck_assert_str_eq(id, TID);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(parse(TID "/10", id, &n), 0);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(parse(TID "/18446744073709551615", id, &n), 0);
    ck_assert_uint_eq(n, UINT64_MAX);
}

END_TEST

/* issue_9: the review found "01" served as piece 1; a number has one spelling only. */
START_TEST(test_issue_9_leading_zero)
{
    char id[DF_ID_TASK_LEN + 1];
    uint64_t n;

    ck_assert_int_eq(parse(TID "/01", id, &n), DF_EPROTO);
    ck_assert_int_eq(parse(TID "/00", id, &n), DF_EPROTO);
    ck_assert_int_eq(parse(TID "/0001", id, &n), DF_EPROTO);
    /* out-params untouched on failure */
    ck_assert_uint_eq(n, 77);
    ck_assert_int_eq(id[0], 'x');
}

END_TEST

START_TEST(test_bad_paths)
{
    static const char *const shape[] = {"", TID, TID "/", "abc/1", TID "x1", "/" TID "/1"};
    static const char *const value[] = {
            TID "/-1",
            TID "/+1",
            TID "/0x1",
            TID "/1/",
            TID "/1 ",
            TID "/ 1",
            TID "/1/2",
            TID "/..",
            TID "/18446744073709551616",
            TID "/99999999999999999999",
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD/1",
            "../../../../../../../../../../../../../../../../../../../../.././1",
    };
    char id[DF_ID_TASK_LEN + 1];
    uint64_t n;

    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++)
        ck_assert_msg(parse(shape[i], id, &n) == DF_EINVAL, "%s", shape[i]);
    for (size_t i = 0; i < sizeof(value) / sizeof(value[0]); i++)
        ck_assert_msg(parse(value[i], id, &n) == DF_EPROTO, "%s", value[i]);
}

END_TEST

Suite *test_peer_upload_suite(void);

Suite *
test_peer_upload_suite(void)
{
    Suite *s = suite_create("peer_upload");
    TCase *tc = tcase_create("path");

    tcase_add_test(tc, test_valid_paths);
    tcase_add_test(tc, test_issue_9_leading_zero);
    tcase_add_test(tc, test_bad_paths);
    suite_add_tcase(s, tc);
    return s;
}
