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
    /*
     * A NUL, raw (cJSON skips it as white space) or escaped in a string (cJSON cuts the
     * string there): refused, as the value read would not be the value sent.
     */
    doc = NULL;
    ck_assert_int_eq(df_json_parse("{\"a\":\0 1}", 9, NULL, &doc, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
    ck_assert_int_eq(df_json_parse("[\"x\0y\"]", 7, NULL, &doc, &err), DF_EINVAL);
    ck_assert_int_eq(df_json_parse("[\"x\\u0000y\"]", 12, NULL, &doc, &err), DF_EINVAL);
    ck_assert_ptr_null(doc);
    /* an escaped backslash before u0000 is text, not a NUL */
    ck_assert_int_eq(df_json_parse("[\"\\\\u0000\"]", 11, NULL, &doc, &err), 0);
    ck_assert_str_eq(cJSON_GetArrayItem(doc, 0)->valuestring, "\\u0000");
    cJSON_Delete(doc);
}

END_TEST

/* A syntax error names its line and column (from 1, in characters) and what was expected. */
START_TEST(test_parse_error_position)
{
    static const struct {
        const char *doc, *msg;
    } cases[] = {
            {"{\"ip\": \"1.2.3.4\",\n  \"port\": 12\n  \"x\": 1}",
             "json: malformed at line 3, column 3: expected ',' or '}', found '\"'"},
            {"{\n \"a\": [1, 2,, 3]\n}",
             "json: malformed at line 2, column 13: expected a value (object, array, string, "
             "number, true, false or null), found ','"},
            {"{\"a\": 1,}", "json: malformed at line 1, column 9: expected a quoted key (no ',' "
                            "before '}'), found '}'"},
            {"[1,]", "json: malformed at line 1, column 4: expected a value (no ',' before ']'), "
                     "found ']'"},
            {"{\"a\" 1}",
             "json: malformed at line 1, column 6: expected ':' after the key, found '1'"},
            {"{a: 1}",
             "json: malformed at line 1, column 2: expected a quoted key or '}', found 'a'"},
            {"{\"a\":",
             "json: malformed at line 1, column 6: expected a value, found the end of the "
             "document"},
            {"[\"x\\q\"]", "json: malformed at line 1, column 5: expected an escape (\\\" \\\\ \\/ "
                           "\\b \\f \\n \\r \\t \\u), found 'q'"},
            {"[\"\\u12\"]", "json: malformed at line 1, column 7: expected 4 hex digits after \\u, "
                            "found '\"'"},
            {"[\"\\uD800x\"]",
             "json: malformed at line 1, column 9: expected a \\u escape of a low "
             "surrogate (\\uDC00-\\uDFFF), found 'x'"},
            {"{\n\t\"s\": \"open\n}",
             "json: malformed at line 2, column 7: expected a closing '\"' "
             "for the string that starts here, found the end of the "
             "document"},
            {"[\"ab\\", "json: malformed at line 1, column 2: expected a closing '\"' for the "
                        "string that starts here, found the end of the document"},
            /* columns count characters: "é" is two bytes, one column */
            {"{\"\xc3\xa9\": yes}",
             "json: malformed at line 1, column 7: expected a value (object, "
             "array, string, number, true, false or null), found 'y'"},
            {"[1.5.2]", "json: malformed at line 1, column 5: expected ',' or ']', found '.'"},
            {"[tru]",
             "json: malformed at line 1, column 2: expected a value (object, array, string, "
             "number, true, false or null), found 't'"},
            {"[1]\x01",
             "json: trailing data at line 1, column 4: expected the end of the document, "
             "found byte 0x01"},
            {"{}\n\n  x",
             "json: trailing data at line 3, column 3: expected the end of the document, "
             "found 'x'"},
    };
    struct df_error err;
    cJSON *doc = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&err, 0, sizeof(err));
        ck_assert_int_eq(df_json_parse(cases[i].doc, strlen(cases[i].doc), NULL, &doc, &err),
                         DF_EINVAL);
        ck_assert_ptr_null(doc);
        ck_assert_msg(strcmp(err.msg, cases[i].msg) == 0, "case %zu: got '%s'\n want '%s'", i,
                      err.msg, cases[i].msg);
    }
    /* what cJSON accepts, the check accepts: valid escapes, pairs, numbers, literals */
    doc = parse_ok(
            "{\"s\": \"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\", "
            "\"n\": [-1, 0.5, 1e3, 2E-2], \"l\": [true, false, null], \"e\": {}, \"a\": []}");
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_position)
{
    static const char text[] = "ab\n\xc3\xa9x\n";
    unsigned line, col;

    df_json_position(text, 0, &line, &col);
    ck_assert_uint_eq(line, 1);
    ck_assert_uint_eq(col, 1);
    df_json_position(text, 2, &line, &col);
    ck_assert_uint_eq(line, 1);
    ck_assert_uint_eq(col, 3);
    df_json_position(text, 5, &line, &col); /* the 'x' after a two-byte character */
    ck_assert_uint_eq(line, 2);
    ck_assert_uint_eq(col, 2);
    df_json_position(text, 7, &line, &col);
    ck_assert_uint_eq(line, 3);
    ck_assert_uint_eq(col, 1);
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
    tcase_add_test(tc, test_parse_error_position);
    tcase_add_test(tc, test_position);
    tcase_add_test(tc, test_getters);
    tcase_add_test(tc, test_add_u64);
    suite_add_tcase(s, tc);
    return s;
}
