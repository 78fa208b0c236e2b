/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

#define D64(c)                                                                                    \
    "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
            c c c c c c c c c c c c c c c c c c c c c c

START_TEST(test_ref_parse)
{
    struct mgr_image_ref r;
    struct df_error err;

    ck_assert_int_eq(mgr_image_ref_parse("https://reg.example:5000/v2/library/alpine/manifests/"
                                         "3.19",
                                         &r, &err),
                     0);
    ck_assert_str_eq(r.base, "https://reg.example:5000");
    ck_assert_str_eq(r.repo, "library/alpine");
    ck_assert_str_eq(r.ref, "3.19");
    mgr_image_ref_reset(&r);
    ck_assert_int_eq(mgr_image_ref_parse("http://r/v2/a/manifests/" D64("a"), &r, &err), 0);
    ck_assert_str_eq(r.base, "http://r");
    ck_assert_str_eq(r.ref, D64("a"));
    mgr_image_ref_reset(&r);
    ck_assert_int_eq(mgr_image_ref_parse("http://r/v2/manifests/x", &r, &err), DF_EINVAL);
    ck_assert_int_eq(mgr_image_ref_parse("http://r/v2/a/manifests/", &r, &err), DF_EINVAL);
    ck_assert_int_eq(mgr_image_ref_parse("http://r/v2/a/blobs/x", &r, &err), DF_EINVAL);
    ck_assert_int_eq(mgr_image_ref_parse("http://r/v2/a/manifests/x/y", &r, &err), DF_EINVAL);
    ck_assert_ptr_null(r.base);
}

END_TEST

START_TEST(test_digest)
{
    ck_assert(mgr_image_digest_is_valid(D64("0")));
    ck_assert(!mgr_image_digest_is_valid(D64("A")));
    ck_assert(!mgr_image_digest_is_valid("sha256:abc"));
    ck_assert(!mgr_image_digest_is_valid("md5:d41d8cd98f00b204e9800998ecf8427e"));
    ck_assert(!mgr_image_digest_is_valid(D64("0") "0"));
    ck_assert(!mgr_image_digest_is_valid("sha256:../../etc/passwd"));
}

END_TEST

START_TEST(test_challenge)
{
    struct mgr_image_challenge c;

    ck_assert_int_eq(mgr_image_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
                                               "service=\"registry.docker.io\",scope=\""
                                               "repository:library/alpine:pull\"",
                                               &c),
                     0);
    ck_assert(c.bearer);
    ck_assert_str_eq(c.realm, "https://auth.docker.io/token");
    ck_assert_str_eq(c.service, "registry.docker.io");
    ck_assert_str_eq(c.scope, "repository:library/alpine:pull");
    mgr_image_challenge_reset(&c);
    /* tokens unquoted, spaces after commas, unknown params skipped */
    ck_assert_int_eq(mgr_image_challenge_parse("bearer realm=http://t/token, error=x", &c), 0);
    ck_assert_str_eq(c.realm, "http://t/token");
    ck_assert_ptr_null(c.service);
    mgr_image_challenge_reset(&c);
    ck_assert_int_eq(mgr_image_challenge_parse("Basic realm=\"it\"", &c), 0);
    ck_assert(!c.bearer);
    mgr_image_challenge_reset(&c);
    ck_assert_int_eq(mgr_image_challenge_parse("Bearer service=\"s\"", &c), DF_EINVAL);
    ck_assert_int_eq(mgr_image_challenge_parse("Bearer realm=\"open", &c), DF_EINVAL);
    ck_assert_int_eq(mgr_image_challenge_parse("Bearer realm=\"a\\\"b\"", &c), DF_EINVAL);
    ck_assert_int_eq(mgr_image_challenge_parse("Negotiate abc", &c), DF_EINVAL);
    ck_assert_int_eq(mgr_image_challenge_parse("Bearer =x", &c), DF_EINVAL);
    ck_assert_ptr_null(c.realm);
}

END_TEST

/* Parse text for platform: the digest picked or the blobs joined by ' ', or the error. */
static int
manifest(const char *text, const char *platform, char *out, size_t len, struct df_error *err)
{
    char *digest = NULL;
    cJSON *blobs = NULL;
    const cJSON *e;
    size_t n = 0;
    int rv = mgr_image_manifest_parse(text, strlen(text), platform, &digest, &blobs, err);

    out[0] = '\0';
    if (digest != NULL)
        snprintf(out, len, "%s", digest);
    cJSON_ArrayForEach(e, blobs)
    {
        n += (size_t)snprintf(out + n, len - n, "%s%s", n > 0 ? " " : "", e->valuestring);
    }
    free(digest);
    cJSON_Delete(blobs);
    return rv;
}

START_TEST(test_manifest_and_platform)
{
    static const char index[] =
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
            "\"manifests\":[{\"digest\":\"" D64(
                    "1") "\",\"platform\":{\"architecture\":\"arm\","
                         "\"os\":\"linux\",\"variant\":\"v7\"}},{\"digest\":\"" D64(
                                 "2") "\",\"platform\":{"
                                      "\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},{\"digest\":\"" D64(
                                              "3") "\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
    static const char list[] =
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest."
            "list.v2+json\",\"manifests\":[{\"digest\":\"" D64(
                    "4") "\",\"platform\":{"
                         "\"architecture\":\"amd64\",\"os\":\"windows\"}},{\"digest\":\"" D64(
                                 "5") "\","
                                      "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
    static const char image[] =
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2"
            "+json\",\"config\":{\"digest\":\"" D64("c") "\"},\"layers\":[{\"digest\":\"" D64(
                    "a") "\"},{\"digest\":\"" D64("b") "\"}]}";
    char out[1024];
    struct df_error err;

    ck_assert_int_eq(manifest(index, "linux/amd64", out, sizeof(out), &err), 0);
    ck_assert_str_eq(out, D64("3"));
    ck_assert_int_eq(manifest(index, "linux/arm64", out, sizeof(out), &err), 0);
    ck_assert_str_eq(out, D64("2"));
    ck_assert_int_eq(manifest(index, "linux/arm/v7", out, sizeof(out), &err), 0);
    ck_assert_str_eq(out, D64("1"));
    ck_assert_int_eq(manifest(index, "linux/arm/v6", out, sizeof(out), &err), DF_ENOTFOUND);
    ck_assert_str_eq(err.msg, "no manifest for platform linux/arm/v6 in the index (it has: "
                              "linux/arm/v7, linux/arm64/v8, linux/amd64)");
    ck_assert_int_eq(manifest(list, "linux/amd64", out, sizeof(out), &err), 0);
    ck_assert_str_eq(out, D64("5"));
    ck_assert_int_eq(manifest(list, "amd64", out, sizeof(out), &err), DF_EINVAL);
    /* config first, then the layers in order */
    ck_assert_int_eq(manifest(image, "linux/s390x", out, sizeof(out), &err), 0);
    ck_assert_str_eq(out, D64("c") " " D64("a") " " D64("b"));
}

END_TEST

START_TEST(test_manifest_refused)
{
    static const char *const bad[] = {
            "",
            "[]",
            "{\"schemaVersion\":1,\"fsLayers\":[{\"blobSum\":\"" D64("a") "\"}]}",
            "{\"config\":{\"digest\":\"md5:00\"},\"layers\":[]}",
            "{\"config\":{\"digest\":\"" D64("a") "\"},\"layers\":[{\"digest\":\"sha256:zz\"}]}",
            "{\"config\":{\"digest\":\"" D64("a") "\"},\"layers\":{}}",
            "{\"manifests\":[{\"digest\":\"../x\",\"platform\":{\"os\":\"linux\","
            "\"architecture\":\"amd64\"}}]}",
    };
    char out[256];
    struct df_error err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(manifest(bad[i], "linux/amd64", out, sizeof(out), &err) != 0, "%s", bad[i]);
    ck_assert_ptr_nonnull(strstr(mgr_image_default_platform(), "linux/"));
}

END_TEST

Suite *test_mgr_image_suite(void);

Suite *
test_mgr_image_suite(void)
{
    Suite *s = suite_create("mgr_image");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_ref_parse);
    tcase_add_test(tc, test_digest);
    tcase_add_test(tc, test_challenge);
    tcase_add_test(tc, test_manifest_and_platform);
    tcase_add_test(tc, test_manifest_refused);
    suite_add_tcase(s, tc);
    return s;
}
