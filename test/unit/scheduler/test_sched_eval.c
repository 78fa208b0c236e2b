/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evaluator's pure rules: score ordering, the upload estimator and what a parent is
 * expected to give, affinity, seed protection, seed hashing.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "sched_test_util.h"
#include "../../../src/scheduler/sched_eval.h"

static struct sched_eval_candidate
base(void)
{
    struct sched_eval_candidate c;

    memset(&c, 0, sizeof(c));
    c.useful = 8;
    c.child_missing = 16;
    c.parent_finished = 8;
    c.piece_count = 16;
    c.load = 1;
    c.slots = 4;
    return c;
}

START_TEST(test_score_order)
{
    struct sched_eval_candidate a = base(), b;
    double s = sched_eval_score(&a);

    ck_assert(s > 0.0 && s <= 1.0);
    b = a;
    b.useful = 16; /* more to give */
    ck_assert(sched_eval_score(&b) > s);
    b = a;
    b.load = 3; /* busier */
    ck_assert(sched_eval_score(&b) < s);
    b = a;
    b.upload_failed = 5; /* worse history */
    b.upload_ok = 5;
    ck_assert(sched_eval_score(&b) < s);
    b = a;
    b.is_seed = true; /* a seed is the parent of last resort */
    ck_assert(sched_eval_score(&b) < s);
    b = a;
    b.parent_idc = "idc1";
    b.child_idc = "IDC1";
    ck_assert(sched_eval_score(&b) > s);
    b = a;
    b.useful = 0;
    b.will_have = true; /* a source counts as half of everything */
    ck_assert(sched_eval_score(&b) > sched_eval_score(&(struct sched_eval_candidate){
                                             .useful = 0, .child_missing = 16, .slots = 4}));
}

END_TEST

START_TEST(test_score_rate)
{
    struct sched_eval_candidate a = base(), b;

    /* Nothing measured (rate or best 0): the term is neutral, as it was before. */
    ck_assert(sched_eval_score(&a) > 0.0);
    b = a;
    b.rate = 100.0;
    b.rate_best = 100.0;
    ck_assert(sched_eval_score(&b) == sched_eval_score(&a));
    /* A parent expected to give a fifth of the best loses to one giving it all ... */
    a.rate = 20.0;
    a.rate_best = 100.0;
    ck_assert(sched_eval_score(&a) < sched_eval_score(&b));
    /* ... even with everything else in its favour but affinity. */
    a.useful = 16;
    a.load = 0;
    ck_assert(sched_eval_score(&a) < sched_eval_score(&b));
    ck_assert(sched_eval_score(&b) <= 1.0);
}

END_TEST

START_TEST(test_rate_estimator)
{
    /* The first sample sets it; none (0, NaN) changes nothing. */
    ck_assert(sched_eval_rate_update(0.0, 100.0) == 100.0);
    ck_assert(sched_eval_rate_update(100.0, 0.0) == 100.0);
    ck_assert(sched_eval_rate_update(100.0, NAN) == 100.0);
    /* Up half way, down an eighth: one slow piece does not sink a fast host. */
    ck_assert(sched_eval_rate_update(100.0, 200.0) == 150.0);
    ck_assert(sched_eval_rate_update(100.0, 20.0) == 90.0);
    /* Steady samples converge on themselves. */
    double e = 10.0;
    for (int i = 0; i < 100; i++)
        e = sched_eval_rate_update(e, 50.0);
    ck_assert(e > 49.9 && e <= 50.0);
    for (int i = 0; i < 100; i++)
        e = sched_eval_rate_update(e, 5.0);
    ck_assert(e < 5.1 && e >= 5.0);
}

END_TEST

START_TEST(test_rate_expect)
{
    /* Unknown capacity: nothing known to expect. */
    ck_assert(sched_eval_rate_expect(0.0, 0, 0.0) == 0.0);
    /* Capacity split over the children and the newcomer. */
    ck_assert(sched_eval_rate_expect(300.0, 0, 0.0) == 300.0);
    ck_assert(sched_eval_rate_expect(300.0, 2, 0.0) == 100.0);
    /* ... but no more than the parent receives itself. */
    ck_assert(sched_eval_rate_expect(300.0, 2, 50.0) == 50.0);
    ck_assert(sched_eval_rate_expect(300.0, 0, 500.0) == 300.0);
    /* Poor: clearly (2x) below the alternative, and measured at all. */
    ck_assert(sched_eval_rate_is_poor(10.0, 21.0));
    ck_assert(!sched_eval_rate_is_poor(10.0, 20.0));
    ck_assert(!sched_eval_rate_is_poor(10.0, 10.0));
    ck_assert(!sched_eval_rate_is_poor(0.0, 100.0));
}

END_TEST

START_TEST(test_affinity)
{
    ck_assert(sched_eval_idc("a", "A") == 1.0);
    ck_assert(sched_eval_idc("a", "b") == 0.0);
    ck_assert(sched_eval_idc("", "") == 0.0);
    ck_assert(sched_eval_idc(NULL, "a") == 0.0);
    ck_assert(sched_eval_location("cn|zj|hz", "cn|zj|hz") == 3.0 / 5);
    ck_assert(sched_eval_location("cn|zj|hz", "cn|zj|nb") == 2.0 / 5);
    ck_assert(sched_eval_location("cn|zj", "us|zj") == 0.0);
    ck_assert(sched_eval_location("a|b|c|d|e|f", "a|b|c|d|e|f") == 1.0);
    ck_assert(sched_eval_location(NULL, "a") == 0.0);
}

END_TEST

START_TEST(test_seed_protection)
{
    /* Under its fanout and holding unique pieces: yes. */
    ck_assert(sched_eval_seed_is_allowed(0, 1, true, 5, false));
    /* At the fanout, or nothing unique: only for a starving child with no alternative. */
    ck_assert(!sched_eval_seed_is_allowed(1, 1, true, 5, false));
    ck_assert(!sched_eval_seed_is_allowed(0, 1, false, 5, false));
    ck_assert(!sched_eval_seed_is_allowed(1, 1, true, 0, false));
    ck_assert(!sched_eval_seed_is_allowed(1, 1, true, 3, true));
    ck_assert(sched_eval_seed_is_allowed(1, 1, true, 0, true));
}

END_TEST

START_TEST(test_slow_pair)
{
    /* A child not measured slow takes any parent; a slow one a fast one. */
    ck_assert(sched_eval_slow_pair_ok(false, true, 3));
    ck_assert(sched_eval_slow_pair_ok(false, false, 0));
    ck_assert(sched_eval_slow_pair_ok(true, false, 1));
    /* Slow to slow only while no candidate is on a fast host. */
    ck_assert(!sched_eval_slow_pair_ok(true, true, 1));
    ck_assert(sched_eval_slow_pair_ok(true, true, 0));
}

END_TEST

START_TEST(test_rate_below)
{
    /* A place changes hands at 1.5x; leaving a parent (rate_is_poor) asks for 2x. */
    ck_assert(sched_eval_rate_is_below(10.0, 15.1));
    ck_assert(!sched_eval_rate_is_below(10.0, 15.0));
    ck_assert(!sched_eval_rate_is_poor(10.0, 15.1));
    ck_assert(!sched_eval_rate_is_below(0.0, 15.0)); /* unmeasured: never */
}

END_TEST

START_TEST(test_fair_share)
{
    /* 16 receiving peers, seed 100, peers 12 x 100 + 4 x 10: the uploads over 16. */
    ck_assert_double_eq_tol(sched_eval_fair_share(100, 100 + 1240, 16), 83.75, 1e-9);
    /* Few peers: the seed sends the content no faster than its own upload. */
    ck_assert_double_eq_tol(sched_eval_fair_share(100, 500, 2), 100, 1e-9);
    /* Seed unmeasured: the uploads alone. */
    ck_assert_double_eq_tol(sched_eval_fair_share(0, 500, 2), 250, 1e-9);
    /* Nothing known, or nobody receiving: no share. */
    ck_assert(sched_eval_fair_share(100, 0, 4) == 0.0);
    ck_assert(sched_eval_fair_share(100, 500, 0) == 0.0);
}

END_TEST

START_TEST(test_spare_ok)
{
    /* A child at a third of its share, a parent with half a share to spare: one more. */
    ck_assert(sched_eval_spare_ok(30, 90, 45));
    /* No parent at all (nothing delivered) counts as short. */
    ck_assert(sched_eval_spare_ok(0, 90, 45));
    /* Not clearly short (half the share or more): no. */
    ck_assert(!sched_eval_spare_ok(45, 90, 90));
    /* Not enough to spare: no. */
    ck_assert(!sched_eval_spare_ok(10, 90, 44));
    /* Share unknown: no. */
    ck_assert(!sched_eval_spare_ok(0, 0, 100));
}

END_TEST

/* Rendezvous hashing: removing a seed host moves only the tasks it won. */
START_TEST(test_seed_hashing_is_consistent)
{
    const char *hosts[] = {"s1", "s2", "s3", "s4"};
    unsigned won[4] = {0}, moved = 0;

    for (unsigned t = 0; t < 400; t++) {
        char id[65];
        unsigned best = 0, best2 = 0;
        uint64_t w, bw = 0, bw2 = 0;

        t_task_id(id, t);
        for (unsigned h = 0; h < 4; h++) {
            w = sched_eval_seed_weight(id, hosts[h]);
            ck_assert_uint_eq(w, sched_eval_seed_weight(id, hosts[h]));
            if (h == 0 || w > bw) {
                best = h;
                bw = w;
            }
        }
        won[best]++;
        /* Without s4: the winner changes only where s4 had won. */
        for (unsigned h = 0; h < 3; h++) {
            w = sched_eval_seed_weight(id, hosts[h]);
            if (h == 0 || w > bw2) {
                best2 = h;
                bw2 = w;
            }
        }
        if (best != 3)
            ck_assert_uint_eq(best, best2);
        else
            moved++;
    }
    ck_assert_uint_eq(moved, won[3]);
    for (unsigned h = 0; h < 4; h++)
        ck_assert_uint_gt(won[h], 50); /* roughly even */
}

END_TEST

Suite *test_sched_eval_suite(void);

Suite *
test_sched_eval_suite(void)
{
    Suite *s = suite_create("sched_eval");
    TCase *tc = tcase_create("eval");

    tcase_add_test(tc, test_score_order);
    tcase_add_test(tc, test_score_rate);
    tcase_add_test(tc, test_rate_estimator);
    tcase_add_test(tc, test_rate_expect);
    tcase_add_test(tc, test_affinity);
    tcase_add_test(tc, test_seed_protection);
    tcase_add_test(tc, test_slow_pair);
    tcase_add_test(tc, test_rate_below);
    tcase_add_test(tc, test_fair_share);
    tcase_add_test(tc, test_spare_ok);
    tcase_add_test(tc, test_seed_hashing_is_consistent);
    suite_add_tcase(s, tc);
    return s;
}
