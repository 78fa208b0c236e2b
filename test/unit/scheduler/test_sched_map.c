/* SPDX-License-Identifier: Apache-2.0 */
/* The open-addressing map against a plain array, through growth and backward-shift deletes. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "df/df_err.h"
#include "sched_test_util.h"
#include "../../../src/scheduler/sched_map.h"

START_TEST(test_basic)
{
    struct sched_map m;
    int a = 1, b = 2;

    sched_map_init(&m, 2);
    ck_assert_ptr_null(sched_map_get(&m, "a"));
    ck_assert_ptr_null(sched_map_del(&m, "a"));
    ck_assert_int_eq(sched_map_put(&m, "a", &a), 0);
    ck_assert_int_eq(sched_map_put(&m, "a", &b), DF_EEXIST);
    ck_assert_int_eq(sched_map_put(&m, "b", &b), 0);
    ck_assert_int_eq(sched_map_put(&m, "c", &b), DF_ELIMIT);
    ck_assert_ptr_eq(sched_map_get(&m, "a"), &a);
    ck_assert_ptr_eq(sched_map_get(&m, "b"), &b);
    ck_assert_ptr_eq(sched_map_del(&m, "a"), &a);
    ck_assert_ptr_null(sched_map_get(&m, "a"));
    ck_assert_uint_eq(sched_map_count(&m), 1);
    ck_assert_int_eq(sched_map_put(&m, "c", &a), 0);
    sched_map_reset(&m);
}

END_TEST

/* Random puts and deletes over 2000 keys, compared with a reference array. */
START_TEST(test_random_against_reference)
{
    enum { NKEYS = 2000, NOPS = 60000 };

    static char keys[NKEYS][16];
    static bool in[NKEYS];
    struct sched_map m;
    uint64_t rng = 7;
    size_t n = 0;

    memset(in, 0, sizeof(in));
    sched_map_init(&m, NKEYS);
    for (unsigned i = 0; i < NKEYS; i++)
        snprintf(keys[i], sizeof(keys[i]), "key-%u", i);
    for (unsigned op = 0; op < NOPS; op++) {
        unsigned k = t_rand_below(&rng, NKEYS);

        if (t_rand_below(&rng, 3) != 0) {
            int rv = sched_map_put(&m, keys[k], keys[k]);

            ck_assert_int_eq(rv, in[k] ? DF_EEXIST : 0);
            n += !in[k];
            in[k] = true;
        } else {
            ck_assert_ptr_eq(sched_map_del(&m, keys[k]), in[k] ? keys[k] : NULL);
            n -= in[k];
            in[k] = false;
        }
        if (op % 997 == 0) {
            for (unsigned i = 0; i < NKEYS; i++)
                ck_assert_ptr_eq(sched_map_get(&m, keys[i]), in[i] ? keys[i] : NULL);
        }
        ck_assert_uint_eq(sched_map_count(&m), n);
    }
    sched_map_reset(&m);
}

END_TEST

Suite *test_sched_map_suite(void);

Suite *
test_sched_map_suite(void)
{
    Suite *s = suite_create("sched_map");
    TCase *tc = tcase_create("map");

    tcase_add_test(tc, test_basic);
    tcase_add_test(tc, test_random_against_reference);
    suite_add_tcase(s, tc);
    return s;
}
