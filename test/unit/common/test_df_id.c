/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/df_id.h"
#include "df/df_url.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static void
check_task(struct df_id_task_params p, const char *want)
{
    char id[DF_ID_TASK_LEN + 1];
    struct df_error err = {{0}};

    ck_assert_msg(df_id_task(&p, id, &err) == 0, "%s: %s", p.url, err.msg);
    ck_assert_msg(strcmp(id, want) == 0, "%s flags %u: got %s want %s", p.url, p.url_flags, id,
                  want);
    ck_assert(df_id_task_is_valid(id));
}

/*
 * Vectors from the Rust client's id generator tests. Its current canonical form sorts the
 * query (DF_URL_CANON_SORT); the cases that do not depend on order or escaping hold in
 * both forms.
 */
START_TEST(test_task_id_vectors)
{
    const unsigned nd = DF_URL_CANON_NO_DEFAULTS, srt = DF_URL_CANON_SORT | nd;
    const char *ex = "https://example.com", *file = "https://example.com/file.txt";
    char buf[128];

    for (unsigned f = nd; f <= srt; f += DF_URL_CANON_SORT) {
        check_task((struct df_id_task_params){.url = ex,
                                              .piece_length = 1024,
                                              .tag = "foo",
                                              .application = "bar",
                                              .revision = "v1.0",
                                              .url_flags = f},
                   "5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f");
        check_task(
                (struct df_id_task_params){
                        .url = ex, .tag = "foo", .application = "bar", .url_flags = f},
                "06408fbf247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a87d3203c5ca");
        check_task((struct df_id_task_params){.url = ex, .tag = "foo", .url_flags = f},
                   "3c3f230ef9f191dd2821510346a7bc138e4894bee9aee184ba250a3040701d2a");
        check_task((struct df_id_task_params){.url = ex, .application = "bar", .url_flags = f},
                   "c9f9261b7305c24371244f9f149f5d4589ed601348fdf22d7f6f4b10658fdba2");
        check_task((struct df_id_task_params){.url = ex, .piece_length = 1024, .url_flags = f},
                   "9f7c9aafbc6f30f8f41a96ca77eeae80c5b60964b3034b0ee43ccf7b2f9e52b8");
        check_task((struct df_id_task_params){.url = "https://example.com?foo=foo&bar=bar",
                                              .filtered_query_params = "foo&bar",
                                              .url_flags = f},
                   "457b4328cde278e422c9e243f7bfd1e97f511fec43a80f535cf6b0ef6b086776");
        snprintf(buf, sizeof(buf), "%s?a=1&b=2", file);
        check_task(
                (struct df_id_task_params){
                        .url = buf, .tag = "foo", .filtered_query_params = "a&b", .url_flags = f},
                "c8f4b41117329d54af920010394f6f607bac707e933ab2f18d372e3dd4c7fcb3");
        snprintf(buf, sizeof(buf), "%s?b=2&a=1", file);
        check_task((struct df_id_task_params){.url = buf, .url_flags = f},
                   "980ee327518ccc5a7c30703e1a2232e8ba9047b39431f940636c85b6146f8b9a");
        check_task((struct df_id_task_params){.url = ex, .revision = "v1.0", .url_flags = f},
                   "b171331534b80e0bf91da38ebbfcdbf4d177898f4b9beac44f14733e3f004d4e");
        /* empty optional fields contribute nothing */
        check_task(
                (struct df_id_task_params){
                        .url = ex, .tag = "", .application = "", .revision = "", .url_flags = f},
                "457b4328cde278e422c9e243f7bfd1e97f511fec43a80f535cf6b0ef6b086776");
    }
    snprintf(buf, sizeof(buf), "%s?z=9&b=2&a=1", file);
    check_task((struct df_id_task_params){.url = buf,
                                          .tag = "foo",
                                          .application = "bar",
                                          .filtered_query_params = "z",
                                          .url_flags = srt},
               "8b3f6e9b9b8fe20903bced565cfd1d0aaef354a4c17573f0c2c1979210443f9d");
    snprintf(buf, sizeof(buf), "%s?b=2&a=1&b=1", file);
    check_task(
            (struct df_id_task_params){.url = buf, .filtered_query_params = "c", .url_flags = srt},
            "7c8801d0596be5e8f9449d5c4af23866c72fe5205119c0e5912981f3b16a37aa");
    snprintf(buf, sizeof(buf), "%s?k=a%%20b&m=x*y&n=c~d", file);
    check_task((struct df_id_task_params){.url = buf,
                                          .piece_length = 1024,
                                          .filtered_query_params = "none",
                                          .url_flags = srt},
               "6196a6846023f6d3c1e4d30f6c86f3d4186e4c664a33e5692b0e04e49b26a9af");
    /* the default form keeps the order:
     * sha256("https://example.com/file.txt?b=2&a=1foobarSTANDARD") */
    snprintf(buf, sizeof(buf), "%s?z=9&b=2&a=1", file);
    check_task(
            (struct df_id_task_params){
                    .url = buf, .tag = "foo", .application = "bar", .filtered_query_params = "z"},
            "46c55648464dc545e5dfe1bd12bf3102dfb251f18e004f7656537223b36094ee");
}

END_TEST

START_TEST(test_task_id_errors)
{
    char id[DF_ID_TASK_LEN + 1] = "untouched";
    struct df_error err;

    ck_assert_int_eq(df_id_task(&(struct df_id_task_params){.url = "ftp://x/"}, id, &err),
                     DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "http"));
    ck_assert_int_eq(df_id_task(&(struct df_id_task_params){.url = NULL}, id, &err), DF_EINVAL);
    ck_assert_str_eq(id, "untouched");
}

END_TEST

START_TEST(test_task_id_valid)
{
    const char *good = "06408fbf247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a87d3203c5ca";
    char s[80];

    ck_assert(df_id_task_is_valid(good));
    ck_assert(!df_id_task_is_valid(NULL));
    ck_assert(!df_id_task_is_valid(""));
    ck_assert(!df_id_task_is_valid("06408fbf"));
    snprintf(s, sizeof(s), "%s0", good);
    ck_assert(!df_id_task_is_valid(s));
    snprintf(s, sizeof(s), "%.63s", good);
    ck_assert(!df_id_task_is_valid(s));
    snprintf(s, sizeof(s), "%.63sA", good);
    ck_assert(!df_id_task_is_valid(s));
    snprintf(s, sizeof(s), "%.63sg", good);
    ck_assert(!df_id_task_is_valid(s));
    snprintf(s, sizeof(s), "../%.61s", good);
    ck_assert(!df_id_task_is_valid(s));
    snprintf(s, sizeof(s), "%.32s/%.31s", good, good);
    ck_assert(!df_id_task_is_valid(s));
    snprintf(s, sizeof(s), "sha256:%.57s", good);
    ck_assert(!df_id_task_is_valid(s));
}

END_TEST

START_TEST(test_host_peer_ids)
{
    char *s, *t, uuid[DF_ID_UUID_LEN + 1];

    s = df_id_host_new("127.0.0.1", "localhost", false);
    ck_assert_str_eq(s, "127.0.0.1-localhost");
    free(s);
    s = df_id_host_new("127.0.0.1", "localhost", true);
    ck_assert_str_eq(s, "127.0.0.1-localhost-seed");
    free(s);

    ck_assert_int_eq(df_id_uuid4(uuid), 0);
    ck_assert_uint_eq(strlen(uuid), 36);
    ck_assert(uuid[8] == '-' && uuid[13] == '-' && uuid[18] == '-' && uuid[23] == '-');
    ck_assert(uuid[14] == '4');
    ck_assert_ptr_nonnull(strchr("89ab", uuid[19]));

    ck_assert_int_eq(df_id_peer_new("10.0.0.1", "h", false, &s), 0);
    ck_assert_int_eq(df_id_peer_new("10.0.0.1", "h", true, &t), 0);
    ck_assert_int_eq(strncmp(s, "10.0.0.1-h-", 11), 0);
    ck_assert_uint_eq(strlen(s), 11 + 36);
    ck_assert_int_eq(strncmp(t, "10.0.0.1-h-", 11), 0);
    ck_assert_str_eq(t + 11 + 36, "-seed");
    ck_assert_int_ne(strncmp(s + 11, t + 11, 36), 0);
    free(s);
    free(t);
}

END_TEST

START_TEST(test_piece_length)
{
    ck_assert_uint_eq(df_id_piece_length(0), 1 * MIB);
    ck_assert_uint_eq(df_id_piece_length(1), 1 * MIB);
    ck_assert_uint_eq(df_id_piece_length(256 * MIB), 1 * MIB); /* upstream: 4 MiB */
    ck_assert_uint_eq(df_id_piece_length(500 * MIB), 1 * MIB);
    ck_assert_uint_eq(df_id_piece_length(500 * MIB + 500), 2 * MIB);
    ck_assert_uint_eq(df_id_piece_length(2000 * MIB), 4 * MIB); /* 4 MiB exactly */
    ck_assert_uint_eq(df_id_piece_length(2000 * MIB + 500), 8 * MIB);
    ck_assert_uint_eq(df_id_piece_length(2 * GIB), 8 * MIB);
    ck_assert_uint_eq(df_id_piece_length(10 * GIB), 32 * MIB);
    ck_assert_uint_eq(df_id_piece_length(16000 * MIB), 32 * MIB);
    ck_assert_uint_eq(df_id_piece_length(16000 * MIB + 500), 64 * MIB);
    ck_assert_uint_eq(df_id_piece_length(100 * GIB), 64 * MIB);
    ck_assert_uint_eq(df_id_piece_length(UINT64_MAX), 64 * MIB);
    ck_assert(df_id_piece_length_is_valid(1 * MIB));
    ck_assert(df_id_piece_length_is_valid(4 * MIB));
    ck_assert(df_id_piece_length_is_valid(64 * MIB));
    ck_assert(!df_id_piece_length_is_valid(1 * MIB - 1));
    ck_assert(!df_id_piece_length_is_valid(64 * MIB + 1));
}

END_TEST

START_TEST(test_piece_geometry)
{
    uint64_t off = 7, len = 7, first, count;
    const uint64_t big = 5 * GIB + 123, pl = 64 * MIB;

    ck_assert_uint_eq(df_id_piece_count(0, pl), 0);
    ck_assert_uint_eq(df_id_piece_count(1, pl), 1);
    ck_assert_uint_eq(df_id_piece_count(pl, pl), 1);
    ck_assert_uint_eq(df_id_piece_count(pl + 1, pl), 2);
    ck_assert_uint_eq(df_id_piece_count(10, 0), 0);
    ck_assert_uint_eq(df_id_piece_count(big, pl), 81);
    ck_assert_uint_eq(df_id_piece_count(UINT64_MAX, 4 * MIB), (UINT64_C(1) << 42));

    ck_assert_int_eq(df_id_piece_range(big, pl, 80, &off, &len), 0);
    ck_assert_uint_eq(off, 5 * GIB);
    ck_assert_uint_eq(len, 123);
    ck_assert_int_eq(df_id_piece_range(big, pl, 79, &off, &len), 0);
    ck_assert_uint_eq(off, 79 * pl);
    ck_assert_uint_eq(len, pl);
    ck_assert_int_eq(df_id_piece_range(big, pl, 81, &off, &len), DF_EINVAL);
    ck_assert_int_eq(df_id_piece_range(0, pl, 0, &off, &len), DF_EINVAL);
    ck_assert_int_eq(df_id_piece_range(10, 0, 0, &off, &len), DF_EINVAL);
    ck_assert_int_eq(df_id_piece_range(UINT64_MAX, 4 * MIB, (UINT64_C(1) << 42) - 1, &off, &len),
                     0);
    ck_assert_uint_eq(off, UINT64_MAX - (4 * MIB - 1));
    ck_assert_uint_eq(len, 4 * MIB - 1);

    ck_assert_int_eq(df_id_piece_span(big, pl, 0, big, &first, &count), 0);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(count, 81);
    ck_assert_int_eq(df_id_piece_span(big, pl, pl - 1, 2, &first, &count), 0);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(count, 2);
    ck_assert_int_eq(df_id_piece_span(big, pl, 5 * GIB, UINT64_MAX, &first, &count), 0);
    ck_assert_uint_eq(first, 80);
    ck_assert_uint_eq(count, 1);
    ck_assert_int_eq(df_id_piece_span(big, pl, 4 * GIB, 0, &first, &count), 0);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(df_id_piece_span(big, pl, big, 1, &first, &count), DF_EINVAL);
    ck_assert_int_eq(df_id_piece_span(0, pl, 0, 10, &first, &count), 0);
    ck_assert_uint_eq(count, 0);
}

END_TEST

Suite *test_df_id_suite(void);

Suite *
test_df_id_suite(void)
{
    Suite *s = suite_create("df_id");
    TCase *tc = tcase_create("id");
    TCase *tp = tcase_create("piece");

    tcase_add_test(tc, test_task_id_vectors);
    tcase_add_test(tc, test_task_id_errors);
    tcase_add_test(tc, test_task_id_valid);
    tcase_add_test(tc, test_host_peer_ids);
    suite_add_tcase(s, tc);
    tcase_add_test(tp, test_piece_length);
    tcase_add_test(tp, test_piece_geometry);
    suite_add_tcase(s, tp);
    return s;
}
