/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"
#include "df/df_id.h"

/* Check args text: 0 with the args printed into *out (free it), or the error. */
static int
dist_args(const char *text, char **out, size_t *layers, struct mgr_job_secret *sec,
          struct df_error *err)
{
    cJSON *in = cJSON_Parse(text), *args = NULL;
    int rv;

    ck_assert_ptr_nonnull(in);
    rv = mgr_imgdist_args(in, &args, sec, layers, err);
    cJSON_Delete(in);
    *out = rv == 0 ? cJSON_PrintUnformatted(args) : NULL;
    cJSON_Delete(args);
    return rv;
}

START_TEST(test_args)
{
    struct mgr_job_secret sec;
    struct df_error err;
    size_t layers = 0;
    char *out;

    ck_assert_int_eq(dist_args("{\"url\":\"http://r.example/v2/library/busybox/manifests/v1\","
                               "\"platform\":\"linux/arm64\",\"username\":\"u\",\"password\":"
                               "\"Pw-secret\",\"headers\":{\"Authorization\":\"Bearer tok\"}}",
                               &out, &layers, &sec, &err),
                     0);
    /* the layer limit's default; the credentials kept aside, never in what is shown */
    ck_assert_uint_eq(layers, 8);
    ck_assert_str_eq(sec.password, "Pw-secret");
    ck_assert_str_eq(sec.username, "u");
    ck_assert_ptr_null(strstr(out, "Pw-secret"));
    ck_assert_ptr_null(strstr(out, "Bearer tok"));
    ck_assert_ptr_nonnull(strstr(out, "\"platform\":\"linux/arm64\""));
    free(out);
    mgr_job_secret_reset(&sec);
    /* a "type" in the args does not turn it into a file preheat */
    ck_assert_int_eq(dist_args("{\"type\":\"file\",\"url\":\"http://r.example/v2/a/manifests/"
                               "v1\",\"concurrent_layer_count\":100}",
                               &out, &layers, &sec, &err),
                     0);
    ck_assert_uint_eq(layers, 100);
    ck_assert_ptr_nonnull(strstr(out, "\"type\":\"image\""));
    free(out);
    mgr_job_secret_reset(&sec);
    /* refused */
    ck_assert_int_eq(dist_args("{}", &out, &layers, &sec, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "args.url: required");
    ck_assert_int_eq(dist_args("{\"url\":\"http://r.example/a/b\"}", &out, &layers, &sec, &err),
                     DF_EINVAL);
    ck_assert(strncmp(err.msg, "args.url: expected", 18) == 0);
    ck_assert_int_eq(dist_args("{\"url\":\"http://r.example/v2/a/manifests/v1\","
                               "\"concurrent_layer_count\":101}",
                               &out, &layers, &sec, &err),
                     DF_EINVAL);
    ck_assert_str_eq(err.msg, "args.concurrent_layer_count: expected an integer 0 to 100");
    ck_assert_int_eq(dist_args("{\"url\":\"http://r.example/v2/a/manifests/v1\","
                               "\"platform\":\"amd64\"}",
                               &out, &layers, &sec, &err),
                     DF_EINVAL);
    ck_assert_int_eq(dist_args("[1]", &out, &layers, &sec, &err), DF_EINVAL);
}

END_TEST

/* A layer's id from the checked args (the default filter list written out) is the id a
 * get_task by that URL and a peer's download of it compute. */
START_TEST(test_layer_task_id)
{
    const char *u = "http://r.example/v2/a/blobs/sha256:"
                    "0000000000000000000000000000000000000000000000000000000000000001";
    char mine[DF_ID_TASK_LEN + 1], theirs[DF_ID_TASK_LEN + 1], text[512];
    struct mgr_job_secret sec;
    struct df_error err;
    cJSON *in, *args = NULL, *plain;
    size_t layers;

    in = cJSON_Parse("{\"url\":\"http://r.example/v2/a/manifests/v1\"}");
    ck_assert_int_eq(mgr_imgdist_args(in, &args, &sec, &layers, &err), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(args, "url", cJSON_CreateString(u));
    ck_assert_int_eq(mgr_task_id_of(args, mine, &err), 0);
    snprintf(text, sizeof(text), "{\"url\":\"%s\"}", u);
    plain = cJSON_Parse(text);
    ck_assert_int_eq(mgr_task_id_of(plain, theirs, &err), 0);
    ck_assert_str_eq(mine, theirs);
    cJSON_Delete(in);
    cJSON_Delete(args);
    cJSON_Delete(plain);
    mgr_job_secret_reset(&sec);
}

END_TEST

START_TEST(test_merge)
{
    cJSON *peers = cJSON_CreateArray(), *r1, *r2;
    char *out;

    /* layer a: the seed finished (listed twice: two peers of one host), p4 still downloading */
    r1 = cJSON_Parse("{\"peers\":[{\"ip\":\"10.0.0.3\",\"hostname\":\"seed\",\"IsFinished\":true},"
                     "{\"ip\":\"10.0.0.3\",\"hostname\":\"seed\",\"IsFinished\":true},"
                     "{\"ip\":\"10.0.0.4\",\"hostname\":\"p4\",\"IsFinished\":false}],"
                     "\"scheduler_cluster_id\":1}");
    /* layer b: the seed and p4 in cluster 1, the seed's address again in cluster 2 */
    r2 = cJSON_Parse("{\"peers\":[{\"ip\":\"10.0.0.3\",\"hostname\":\"seed\",\"IsFinished\":true},"
                     "{\"ip\":\"10.0.0.4\",\"hostname\":\"p4\",\"IsFinished\":true}],"
                     "\"scheduler_cluster_id\":1}");
    ck_assert_int_eq(mgr_imgdist_add(peers, r1, "http://r/a"), 1);
    ck_assert_int_eq(mgr_imgdist_add(peers, r2, "http://r/b"), 2);
    cJSON_ReplaceItemInObjectCaseSensitive(r2, "scheduler_cluster_id", cJSON_CreateNumber(2));
    ck_assert_int_eq(mgr_imgdist_add(peers, r2, "http://r/b"), 2);
    /* again: nothing new */
    ck_assert_int_eq(mgr_imgdist_add(peers, r1, "http://r/a"), 0);
    out = cJSON_PrintUnformatted(peers);
    ck_assert_str_eq(out, "[{\"ip\":\"10.0.0.3\",\"hostname\":\"seed\",\"cached_layers\":[{\"url\":"
                          "\"http://r/a\"},{\"url\":\"http://r/b\"}],\"scheduler_cluster_id\":1},"
                          "{\"ip\":\"10.0.0.4\",\"hostname\":\"p4\",\"cached_layers\":[{\"url\":"
                          "\"http://r/b\"}],\"scheduler_cluster_id\":1},"
                          "{\"ip\":\"10.0.0.3\",\"hostname\":\"seed\",\"cached_layers\":[{\"url\":"
                          "\"http://r/b\"}],\"scheduler_cluster_id\":2},"
                          "{\"ip\":\"10.0.0.4\",\"hostname\":\"p4\",\"cached_layers\":[{\"url\":"
                          "\"http://r/b\"}],\"scheduler_cluster_id\":2}]");
    free(out);
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(peers);
}

END_TEST

Suite *test_mgr_imgdist_suite(void);

Suite *
test_mgr_imgdist_suite(void)
{
    Suite *s = suite_create("mgr_imgdist");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_args);
    tcase_add_test(tc, test_layer_task_id);
    tcase_add_test(tc, test_merge);
    suite_add_tcase(s, tc);
    return s;
}
