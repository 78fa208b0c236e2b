/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

/* Parse text as a priority: the return code, the normalised text in *out when 0. */
static int
parse(const char *text, char **out, struct df_error *err)
{
    cJSON *doc = cJSON_Parse(text);
    int rv;

    ck_assert_ptr_nonnull(doc);
    *out = NULL;
    rv = mgr_app_priority_parse(doc, out, err);
    cJSON_Delete(doc);
    return rv;
}

/* parse must refuse text with an error naming want. */
static void
refused(const char *text, const char *want)
{
    struct df_error err;
    char *out = NULL;

    ck_assert_int_eq(parse(text, &out, &err), DF_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s: %s", text, err.msg);
}

START_TEST(test_priority_valid)
{
    struct df_error err;
    char *out = NULL;

    /* normalised: urls always present, unknown members dropped, bounds inclusive */
    ck_assert_int_eq(parse("{\"value\":0}", &out, &err), 0);
    ck_assert_str_eq(out, "{\"value\":0,\"urls\":[]}");
    free(out);
    ck_assert_int_eq(parse("{\"value\":20,\"urls\":[{\"regex\":\"^https://a\\\\.io/.*$\","
                           "\"value\":6,\"x\":1}],\"y\":2}",
                           &out, &err),
                     0);
    ck_assert_str_eq(out, "{\"value\":20,\"urls\":[{\"regex\":\"^https://a\\\\.io/.*$\","
                          "\"value\":6}]}");
    free(out);
    ck_assert_int_eq(parse("{\"value\":1,\"urls\":null}", &out, &err), 0);
    ck_assert_str_eq(out, "{\"value\":1,\"urls\":[]}");
    free(out);
}

END_TEST

START_TEST(test_priority_invalid)
{
    refused("[]", "priority: expected an object");
    refused("{}", "priority.value: required");
    refused("{\"value\":null}", "priority.value: required");
    refused("{\"value\":21}", "priority.value: expected an integer of 0 to 20");
    refused("{\"value\":-1}", "priority.value");
    refused("{\"value\":1.5}", "priority.value");
    refused("{\"value\":1e300}", "priority.value");
    refused("{\"value\":\"3\"}", "priority.value");
    refused("{\"value\":3,\"urls\":{}}", "priority.urls: expected an array");
    refused("{\"value\":3,\"urls\":[1]}", "priority.urls[0]: expected an object");
    refused("{\"value\":3,\"urls\":[{\"value\":1}]}", "priority.urls[0].regex");
    refused("{\"value\":3,\"urls\":[{\"regex\":\"\",\"value\":1}]}", "priority.urls[0].regex");
    refused("{\"value\":3,\"urls\":[{\"regex\":\"a\",\"value\":1},{\"regex\":\"(\",\"value\":1}]}",
            "priority.urls[1].regex: not a regular expression");
    refused("{\"value\":3,\"urls\":[{\"regex\":\"a\"}]}", "priority.urls[0].value: required");
    refused("{\"value\":3,\"urls\":[{\"regex\":\"a\",\"value\":99}]}", "priority.urls[0].value");
    /* more than MGR_APP_URLS_MAX entries */
    {
        size_t n = (size_t)MGR_APP_URLS_MAX + 1, len = 32 + n * 24;
        char *text = malloc(len), *p = text;

        p += snprintf(p, len, "{\"value\":3,\"urls\":[");
        for (size_t i = 0; i < n; i++)
            p += snprintf(p, len - (size_t)(p - text), "%s{\"regex\":\"a\",\"value\":1}",
                          i > 0 ? "," : "");
        snprintf(p, len - (size_t)(p - text), "]}");
        refused(text, "priority.urls: at most 100");
        free(text);
    }
}

END_TEST

Suite *test_mgr_app_suite(void);

Suite *
test_mgr_app_suite(void)
{
    Suite *s = suite_create("mgr_app");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_priority_valid);
    tcase_add_test(tc, test_priority_invalid);
    suite_add_tcase(s, tc);
    return s;
}
