/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"
#include "df/df_id.h"
#include "df/df_url.h"

/* Check args text: 0 and the stored args printed into *out (free it), or the error. */
static int
job_args(const char *text, char **out, struct mgr_job_secret *sec, struct df_error *err)
{
    cJSON *in = cJSON_Parse(text), *args = NULL;
    int rv;

    ck_assert_ptr_nonnull(in);
    rv = mgr_job_preheat_args(in, &args, sec, err);
    cJSON_Delete(in);
    *out = rv == 0 ? cJSON_PrintUnformatted(args) : NULL;
    cJSON_Delete(args);
    return rv;
}

START_TEST(test_args_defaults_and_secrets)
{
    struct mgr_job_secret sec;
    struct df_error err;
    char *out;

    /* Harbor 2.13's body: zeros mean the defaults, unknown keys are dropped */
    ck_assert_int_eq(job_args("{\"type\":\"image\",\"url\":\"https://h.example/v2/library/busybox/"
                              "manifests/latest\",\"tag\":\"\",\"filtered_query_params\":\"\","
                              "\"headers\":{\"Authorization\":\"Bearer eyJh\",\"X-Trace\":\"1\"},"
                              "\"scope\":\"all_peers\",\"concurrent_count\":0,\"timeout\":0,"
                              "\"username\":\"alice\",\"password\":\"s3cret-pw\"}",
                              &out, &sec, &err),
                     0);
    ck_assert_ptr_null(strstr(out, "s3cret-pw"));
    ck_assert_ptr_null(strstr(out, "eyJh"));
    ck_assert_ptr_null(strstr(out, "concurrent_count"));
    ck_assert_ptr_nonnull(strstr(out, "\"headers\":{\"Authorization\":\"<redacted>\","
                                      "\"X-Trace\":\"1\"}"));
    ck_assert_ptr_nonnull(strstr(out, "\"password\":\"\""));
    ck_assert_ptr_nonnull(strstr(out, "\"scope\":\"all_peers\""));
    ck_assert_ptr_nonnull(strstr(out, "\"timeout\":3600000000000"));
    ck_assert_ptr_nonnull(strstr(out, "\"concurrent_peer_count\":500,"
                                      "\"concurrent_task_count\":8,\"count\":null"));
    ck_assert_ptr_nonnull(strstr(out, "&ns\""));
    /* the keys come out sorted, as upstream's stored map */
    ck_assert(strncmp(out, "{\"application\":", 15) == 0);
    ck_assert(strstr(out, "\"username\":\"alice\"}") == out + strlen(out) - 19);
    ck_assert_str_eq(sec.password, "s3cret-pw");
    ck_assert_str_eq(sec.username, "alice");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(sec.headers, "Authorization")->valuestring,
                     "Bearer eyJh");
    mgr_job_secret_reset(&sec);
    free(out);
    /* a file: url joins urls; the empty scope is single_seed_peer */
    ck_assert_int_eq(job_args("{\"type\":\"file\",\"urls\":[\"http://o/a\"],\"url\":\"http://o/b\","
                              "\"piece_length\":4194304,\"count\":3}",
                              &out, &sec, &err),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "\"urls\":[\"http://o/a\",\"http://o/b\"]"));
    ck_assert_ptr_nonnull(strstr(out, "\"scope\":\"single_seed_peer\""));
    ck_assert_ptr_nonnull(strstr(out, "\"piece_length\":4194304"));
    ck_assert_ptr_nonnull(strstr(out, "\"count\":3"));
    mgr_job_secret_reset(&sec);
    free(out);
}

END_TEST

START_TEST(test_args_refused)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
            {"{}", "args.type: one of image, file"},
            {"{\"type\":\"blob\"}", "args.type: one of image, file"},
            {"{\"type\":\"image\"}", "args.url: required for an image"},
            {"{\"type\":\"image\",\"url\":\"http://r/v2/a/blobs/sha256:00\"}", "/manifests/"},
            {"{\"type\":\"image\",\"url\":\"ftp://r/v2/a/manifests/v1\"}", "not http or https"},
            {"{\"type\":\"image\",\"url\":\"http://r/v2/manifests/v1\"}", "/manifests/"},
            {"{\"type\":\"file\"}", "a file preheat needs url or urls"},
            {"{\"type\":\"file\",\"urls\":[\"file:///etc/passwd\"]}", "http or https"},
            {"{\"type\":\"file\",\"urls\":[1]}", "args.urls"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"piece_length\":1024}",
             "args.piece_length: expected 4194304 to 67108864"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"count\":201}", "args.count"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"percentage\":0}", "args.percentage"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"concurrent_task_count\":101}",
             "args.concurrent_task_count"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"concurrent_peer_count\":1.5}",
             "expected an integer"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"timeout\":-1}", "args.timeout"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"ips\":[]}", "args.ips"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"ips\":[\"10.0.0.300\"]}", "args.ips"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"headers\":{\"A\":\"x\\r\\nB: y\"}}",
             "args.headers"},
            {"{\"type\":\"file\",\"url\":\"http://o/a\",\"headers\":[\"x\"]}", "args.headers"},
            {"{\"type\":\"image\",\"url\":\"http://r/v2/a/manifests/v1\",\"platform\":\"linux\"}",
             "args.platform"},
            {"{\"type\":\"image\",\"url\":\"http://r/v2/a/manifests/v1\",\"password\":5}",
             "args.password: expected a string"},
    };
    struct mgr_job_secret sec;
    struct df_error err;
    char *out;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(job_args(cases[i].args, &out, &sec, &err) == DF_EINVAL, "%s accepted",
                      cases[i].args);
        ck_assert_msg(strstr(err.msg, cases[i].want) != NULL, "%s: %s", cases[i].args, err.msg);
        ck_assert_ptr_null(sec.password);
        ck_assert_ptr_null(sec.headers);
    }
    {
        cJSON *args = NULL;

        ck_assert_int_eq(mgr_job_preheat_args(NULL, &args, &sec, &err), DF_EINVAL);
        ck_assert_ptr_null(args);
    }
}

END_TEST

static const char *
group_state(const char *text)
{
    cJSON *doc = cJSON_Parse(text);
    const char *s = mgr_job_group_state(doc);

    cJSON_Delete(doc);
    return s;
}

START_TEST(test_group_state)
{
    ck_assert_str_eq(group_state("[]"), "PENDING");
    ck_assert_str_eq(group_state("null"), "PENDING");
    ck_assert_str_eq(group_state("[{\"state\":\"SUCCESS\"}]"), "SUCCESS");
    ck_assert_str_eq(group_state("[{\"state\":\"SUCCESS\"},{\"state\":\"STARTED\"}]"), "PENDING");
    ck_assert_str_eq(group_state("[{\"state\":\"PENDING\"},{\"state\":\"FAILURE\"}]"), "FAILURE");
    ck_assert_str_eq(group_state("[{\"state\":\"FAILURE\"},{\"state\":\"SUCCESS\"}]"), "FAILURE");
    ck_assert_str_eq(group_state("[{}]"), "PENDING");
}

END_TEST

/* The hosts of ips (a space-separated list) that args keep, joined by spaces. */
static void
choose(const char *args, const char *ips, char *out, size_t len)
{
    struct mgr_reg_host h[8];
    cJSON *a = cJSON_Parse(args);
    char list[128], *ip, *save = NULL;
    size_t n = 0, o = 0;

    ck_assert_ptr_nonnull(a);
    snprintf(list, sizeof(list), "%s", ips);
    memset(h, 0, sizeof(h));
    for (ip = strtok_r(list, " ", &save); ip != NULL && n < 8; ip = strtok_r(NULL, " ", &save))
        snprintf(h[n++].ip, sizeof(h[0].ip), "%s", ip);
    mgr_preheat_choose(a, h, &n);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i > 0 ? " " : "", h[i].ip);
    cJSON_Delete(a);
}

START_TEST(test_choose_hosts)
{
    const char *four = "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4";
    char out[128];

    choose("{\"scope\":\"single_seed_peer\"}", four, out, sizeof(out));
    ck_assert_str_eq(out, "10.0.0.1");
    /* Harbor 2.12's word, and anything unknown: one seed, as upstream's scheduler does */
    choose("{\"scope\":\"single_peer\"}", four, out, sizeof(out));
    ck_assert_str_eq(out, "10.0.0.1");
    choose("{\"scope\":\"all_seed_peers\"}", four, out, sizeof(out));
    ck_assert_str_eq(out, four);
    /* ips first, then count, then percentage */
    choose("{\"scope\":\"all_peers\",\"ips\":[\"10.0.0.3\",\"10.9.9.9\"],\"count\":1}", four, out,
           sizeof(out));
    ck_assert_str_eq(out, "10.0.0.3");
    choose("{\"scope\":\"all_peers\",\"count\":2,\"percentage\":100}", four, out, sizeof(out));
    ck_assert_str_eq(out, "10.0.0.1 10.0.0.2");
    choose("{\"scope\":\"all_seed_peers\",\"count\":9}", four, out, sizeof(out));
    ck_assert_str_eq(out, four);
    choose("{\"scope\":\"all_peers\",\"percentage\":50}", four, out, sizeof(out));
    ck_assert_str_eq(out, "10.0.0.1 10.0.0.2");
    choose("{\"scope\":\"all_peers\",\"percentage\":1}", four, out, sizeof(out));
    ck_assert_str_eq(out, "10.0.0.1"); /* rounded up: never none */
    choose("{\"scope\":\"single_seed_peer\"}", "", out, sizeof(out));
    ck_assert_str_eq(out, "");
}

END_TEST

/* mgr_task_id_of of args text: 0 and the id, or the error text in err. */
static int
task_id(const char *args, char id[DF_ID_TASK_LEN + 1], struct df_error *err)
{
    cJSON *a = cJSON_Parse(args);
    int rv;

    ck_assert_ptr_nonnull(a);
    rv = mgr_task_id_of(a, id, err);
    cJSON_Delete(a);
    return rv;
}

/* get_task / delete_task: the id a peer would file the task under, in upstream's order. */
START_TEST(test_task_id)
{
    struct df_id_task_params p;
    char id[DF_ID_TASK_LEN + 1], want[DF_ID_TASK_LEN + 1];
    struct df_error err;

    ck_assert_int_eq(task_id("{\"task_id\":\""
                             "0123456789abcdef0123456789abcdef0123456789ab"
                             "cdef0123456789abcdef\",\"url\":\"http://a/b\"}",
                             id, &err),
                     0);
    ck_assert_str_eq(id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    /* the content's SHA-256 */
    ck_assert_int_eq(
            task_id("{\"content_for_calculating_task_id\":\"abc\",\"url\":\"x\"}", id, &err), 0);
    ck_assert_str_eq(id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* the URL with tag, application, filtered params and piece length, as df_id_task */
    memset(&p, 0, sizeof(p));
    p.url = "http://origin/f?b=2&a=1&X-Amz-Date=9&token=1";
    p.tag = "t";
    p.application = "app";
    p.filtered_query_params = "token";
    p.piece_length = 4u << 20;
    p.url_flags = DF_URL_CANON_SORT;
    ck_assert_int_eq(df_id_task(&p, want, NULL), 0);
    ck_assert_int_eq(task_id("{\"url\":\"http://origin/f?b=2&a=1&X-Amz-Date=9&token=1\","
                             "\"tag\":\"t\",\"application\":\"app\","
                             "\"filtered_query_params\":\"token\",\"piece_length\":4194304}",
                             id, &err),
                     0);
    ck_assert_str_eq(id, want);
    /* refused: none of the three, a bad id, a bad URL */
    ck_assert_int_eq(task_id("{\"tag\":\"t\"}", id, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "invalid params: task_id, content_for_calculating_task_id or url "
                              "is required");
    ck_assert_int_eq(task_id("{\"task_id\":\"ABC\"}", id, &err), DF_EINVAL);
    ck_assert_int_eq(task_id("{\"url\":\"ftp://x/y\"}", id, &err), DF_EINVAL);
    ck_assert(strncmp(err.msg, "args.url: ", 10) == 0);
}

END_TEST

Suite *test_mgr_job_suite(void);

Suite *
test_mgr_job_suite(void)
{
    Suite *s = suite_create("mgr_job");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_args_defaults_and_secrets);
    tcase_add_test(tc, test_args_refused);
    tcase_add_test(tc, test_group_state);
    tcase_add_test(tc, test_choose_hosts);
    tcase_add_test(tc, test_task_id);
    suite_add_tcase(s, tc);
    return s;
}
