/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/mgr/mgr.h"

START_TEST(test_console_find)
{
    const struct mgr_console_asset *index = mgr_console_find("/index.html"), *a;

    ck_assert_ptr_nonnull(index);
    ck_assert_str_eq(index->type, "text/html; charset=utf-8");
    ck_assert_ptr_eq(mgr_console_find("/"), index);
    ck_assert_ptr_eq(mgr_console_find(""), index);
    /* the app's routes, deep ones too, are index.html */
    ck_assert_ptr_eq(mgr_console_find("/clusters/2/schedulers"), index);
    ck_assert_ptr_eq(mgr_console_find("/jobs/preheats/7"), index);
    /* files are themselves, with their type; a missing file is none */
    a = mgr_console_find("/js/app.js");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->type, "text/javascript; charset=utf-8");
    ck_assert_ptr_ne(a, index);
    a = mgr_console_find("/app.css");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->type, "text/css; charset=utf-8");
    ck_assert_ptr_null(mgr_console_find("/js/missing.js"));
    ck_assert_ptr_null(mgr_console_find("/favicon.ico"));
    /* a quoted hash, and the gzip form's is another */
    ck_assert_int_eq(index->etag[0], '"');
    ck_assert_str_ne(index->etag, index->etag_gz);
}

END_TEST

START_TEST(test_console_assets_intact)
{
    const struct mgr_console_asset *a = mgr_console_find("/index.html");

    /* the page loads the module and the style sheet, and nothing inline */
    ck_assert_ptr_nonnull(memmem(a->raw, a->raw_len, "src=\"/js/app.js\"", 16));
    ck_assert_ptr_null(memmem(a->raw, a->raw_len, "style=", 6));
    ck_assert_ptr_null(memmem(a->raw, a->raw_len, "<script>", 8));
    /* gzip when it is smaller: the magic bytes, and a smaller body */
    ck_assert_ptr_nonnull(a->gz);
    ck_assert_int_eq(a->gz[0], 0x1f);
    ck_assert_int_eq(a->gz[1], 0x8b);
    ck_assert_uint_lt(a->gz_len, a->raw_len);
}

END_TEST

START_TEST(test_console_accepts_gzip)
{
    ck_assert(!mgr_console_accepts_gzip(NULL));
    ck_assert(!mgr_console_accepts_gzip(""));
    ck_assert(mgr_console_accepts_gzip("gzip"));
    ck_assert(mgr_console_accepts_gzip("gzip, deflate, br"));
    ck_assert(mgr_console_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    ck_assert(mgr_console_accepts_gzip("x-gzip"));
    ck_assert(mgr_console_accepts_gzip("gzip;q=0.001"));
    ck_assert(!mgr_console_accepts_gzip("gzip;q=0"));
    ck_assert(!mgr_console_accepts_gzip("gzip; q=0.000, br"));
    ck_assert(!mgr_console_accepts_gzip("deflate, br"));
    ck_assert(!mgr_console_accepts_gzip("gzipx, xgzip"));
    ck_assert(!mgr_console_accepts_gzip("identity"));
}

END_TEST

START_TEST(test_console_etag_is_match)
{
    ck_assert(mgr_console_etag_is_match("\"abc\"", "\"abc\""));
    ck_assert(mgr_console_etag_is_match("\"x\", \"abc\"", "\"abc\""));
    ck_assert(mgr_console_etag_is_match("W/\"abc\"", "\"abc\""));
    ck_assert(mgr_console_etag_is_match("*", "\"abc\""));
    ck_assert(!mgr_console_etag_is_match("\"abc-gz\"", "\"abc\""));
    ck_assert(!mgr_console_etag_is_match("\"ab\"", "\"abc\""));
    ck_assert(!mgr_console_etag_is_match("", "\"abc\""));
    ck_assert(!mgr_console_etag_is_match("abc", "\"abc\""));
}

END_TEST

Suite *test_mgr_console_suite(void);

Suite *
test_mgr_console_suite(void)
{
    Suite *s = suite_create("mgr_console");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_console_find);
    tcase_add_test(tc, test_console_assets_intact);
    tcase_add_test(tc, test_console_accepts_gzip);
    tcase_add_test(tc, test_console_etag_is_match);
    suite_add_tcase(s, tc);
    return s;
}
