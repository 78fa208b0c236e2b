/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of DownloadTask requests before any task sees them. */
#include <string.h>

#include <check.h>

#include "df/df_json.h"
#include "../../../src/peer/peer.h"

static int
parse_as(const char *json, bool local, struct peer_download_req *r, struct df_error *err)
{
    cJSON *doc = NULL;
    int rv;

    ck_assert_int_eq(df_json_parse(json, strlen(json), NULL, &doc, err), 0);
    rv = peer_download_req_parse(doc, local, r, err);
    cJSON_Delete(doc);
    return rv;
}

static int
parse(const char *json, struct peer_download_req *r, struct df_error *err)
{
    return parse_as(json, true, r, err);
}

/* No path is ever honoured (C1); an output descriptor only for a local caller. */
START_TEST(test_output_rules)
{
    struct peer_download_req r;
    struct df_error err;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(parse_as("{\"download\":{\"url\":\"http://h/x\",\"outputPath\":\"/tmp/x\"}}",
                              true, &r, &err),
                     DF_EPERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "download.outputPath: not accepted"));
    ck_assert_int_eq(parse_as("{\"download\":{\"url\":\"http://h/x\",\"outputPath\":null}}", false,
                              &r, &err),
                     DF_EPERM);
    ck_assert_int_eq(
            parse_as("{\"download\":{\"url\":\"http://h/x\",\"outputFd\":true}}", false, &r, &err),
            DF_EPERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "only a local caller"));
    ck_assert_ptr_null(r.url);
    ck_assert_int_eq(
            parse_as("{\"download\":{\"url\":\"http://h/x\",\"outputFd\":true}}", true, &r, &err),
            0);
    ck_assert(r.output_fd);
    peer_download_req_reset(&r);
    ck_assert_int_eq(parse_as("{\"download\":{\"url\":\"http://h/x\"}}", false, &r, &err), 0);
    ck_assert(!r.output_fd);
    peer_download_req_reset(&r);
}

END_TEST

START_TEST(test_valid_request)
{
    struct peer_download_req r;
    struct df_error err;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(parse("{\"download\":{\"url\":\"http://127.0.0.1:1/a?b=1\","
                           "\"outputFd\":true,\"tag\":\"t\",\"digest\":\"sha256:"
                           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","
                           "\"filteredQueryParams\":[\"b\",\"c\"],"
                           "\"requestHeader\":{\"Authorization\":\"Bearer x\"},\"insecure\":true}}",
                           &r, &err),
                     0);
    ck_assert_str_eq(r.url, "http://127.0.0.1:1/a?b=1");
    ck_assert_str_eq(r.filtered, "b&c");
    ck_assert(r.has_digest);
    ck_assert(r.insecure);
    ck_assert_uint_eq(r.nheaders, 1);
    ck_assert_str_eq(r.headers[0].name, "Authorization");
    peer_download_req_reset(&r);
}

END_TEST

START_TEST(test_bad_requests)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
            {"{}", "download: expected an object"},
            {"{\"download\":{\"outputFd\":true}}", "download.url: required"},
            {"{\"download\":{\"url\":\"ftp://h/x\",\"outputFd\":true}}", "ftp"},
            {"{\"download\":{\"url\":\"http://h/x\",\"outputFd\":\"yes\"}}", "outputFd"},
            {"{\"download\":{\"url\":\"http://h/x\",\"outputPath\":\"rel/x\"}}", "outputPath"},
            {"{\"download\":{\"url\":\"http://h/x\",\"digest\":"
             "\"md5:00\"}}",
             "sha256"},
            {"{\"download\":{\"url\":\"http://h/x\",\"requestHeader\":"
             "{\"Bad Name\":\"v\"}}}",
             "bad header"},
            {"{\"download\":{\"url\":\"http://h/x\",\"requestHeader\":"
             "{\"X\":\"a\\r\\nInjected: 1\"}}}",
             "bad header"},
            {"{\"download\":{\"url\":\"http://h/x\",\"insecure\":1}}", "insecure"},
    };
    struct peer_download_req r;
    struct df_error err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&r, 0, sizeof(r));
        memset(&err, 0, sizeof(err));
        ck_assert_msg(parse(cases[i].json, &r, &err) != 0, "accepted %s", cases[i].json);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        ck_assert_ptr_null(r.url);
    }
}

END_TEST

Suite *test_peer_rpc_suite(void);

Suite *
test_peer_rpc_suite(void)
{
    Suite *s = suite_create("peer_rpc");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, test_valid_request);
    tcase_add_test(tc, test_bad_requests);
    tcase_add_test(tc, test_output_rules);
    suite_add_tcase(s, tc);
    return s;
}
