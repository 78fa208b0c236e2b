/* SPDX-License-Identifier: Apache-2.0 */
/* The open-addressing map against a plain array, through growth and backward-shift deletes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "df/df_err.h"
#include "df/df_map.h"

/* xorshift64*, so a failure replays the same way on every machine. */
static uint32_t
map_rand_below(uint64_t *st, uint32_t n)
{
    uint64_t x = *st;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return (uint32_t)(x * UINT64_C(2685821657736338717) % n);
}

START_TEST(test_basic)
{
    struct df_map m;
    int a = 1, b = 2;

    df_map_init(&m, 2);
    ck_assert_ptr_null(df_map_get(&m, "a"));
    ck_assert_ptr_null(df_map_del(&m, "a"));
    ck_assert_int_eq(df_map_put(&m, "a", &a), 0);
    ck_assert_int_eq(df_map_put(&m, "a", &b), DF_EEXIST);
    ck_assert_int_eq(df_map_put(&m, "b", &b), 0);
    ck_assert_int_eq(df_map_put(&m, "c", &b), DF_ELIMIT);
    ck_assert_ptr_eq(df_map_get(&m, "a"), &a);
    ck_assert_ptr_eq(df_map_get(&m, "b"), &b);
    ck_assert_ptr_eq(df_map_del(&m, "a"), &a);
    ck_assert_ptr_null(df_map_get(&m, "a"));
    ck_assert_uint_eq(df_map_count(&m), 1);
    ck_assert_int_eq(df_map_put(&m, "c", &a), 0);
    df_map_reset(&m);
}

END_TEST

/* Random puts and deletes over 2000 keys, compared with a reference array. */
START_TEST(test_random_against_reference)
{
    enum { NKEYS = 2000, NOPS = 60000 };

    static char keys[NKEYS][16];
    static bool in[NKEYS];
    struct df_map m;
    uint64_t rng = 7;
    size_t n = 0;

    memset(in, 0, sizeof(in));
    df_map_init(&m, NKEYS);
    for (unsigned i = 0; i < NKEYS; i++)
        snprintf(keys[i], sizeof(keys[i]), "key-%u", i);
    for (unsigned op = 0; op < NOPS; op++) {
        unsigned k = map_rand_below(&rng, NKEYS);

        if (map_rand_below(&rng, 3) != 0) {
            int rv = df_map_put(&m, keys[k], keys[k]);

            ck_assert_int_eq(rv, in[k] ? DF_EEXIST : 0);
            n += !in[k];
            in[k] = true;
        } else {
            ck_assert_ptr_eq(df_map_del(&m, keys[k]), in[k] ? keys[k] : NULL);
            n -= in[k];
            in[k] = false;
        }
        if (op % 997 == 0) {
            for (unsigned i = 0; i < NKEYS; i++)
                ck_assert_ptr_eq(df_map_get(&m, keys[i]), in[i] ? keys[i] : NULL);
        }
        ck_assert_uint_eq(df_map_count(&m), n);
    }
    df_map_reset(&m);
}

END_TEST

Suite *test_df_map_suite(void);

Suite *
test_df_map_suite(void)
{
    Suite *s = suite_create("df_map");
    TCase *tc = tcase_create("map");

    tcase_add_test(tc, test_basic);
    tcase_add_test(tc, test_random_against_reference);
    suite_add_tcase(s, tc);
    return s;
}
