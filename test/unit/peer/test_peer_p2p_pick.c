/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Piece assignment over several parents (peer_p2p_pick.c): rates, expected arrivals, the
 * choice, the endgame's move, and a child drawing a task from a fast and a slow parent on
 * an injected clock (whole milliseconds, no wall time anywhere).
 */
#include <string.h>

#include <check.h>

#include "../../../src/peer/peer_p2p_pick.h"

#define LEN 1000u /* bytes per piece */

START_TEST(test_measured_leans_to_latest)
{
    struct peer_pick_stats st = {0};

    peer_pick_measured(&st, LEN, 100); /* 10 B/ms */
    ck_assert_uint_eq(st.done, 1);
    ck_assert_double_eq_tol(st.rate, 10.0, 1e-9);
    peer_pick_measured(&st, LEN, 1000); /* 1 B/ms: 10 + (1 - 10) * 0.3 */
    ck_assert_double_eq_tol(st.rate, 7.3, 1e-9);
    peer_pick_measured(&st, LEN, 0); /* a 0 ms cost counts as 1 ms, not a division by 0 */
    ck_assert(st.rate > 7.3);
}

END_TEST

/*
 * Any piece alike from several parents, and from one that offers more than
 * PEER_PICK_SPREAD_LEAD pieces the child lacks; in order from a relay just ahead.
 */
START_TEST(test_spreads_with_one_parent)
{
    ck_assert(peer_pick_spreads(1, PEER_PICK_SPREAD_LEAD + 1));
    ck_assert(peer_pick_spreads(1, 64));
    ck_assert(!peer_pick_spreads(1, PEER_PICK_SPREAD_LEAD));
    ck_assert(!peer_pick_spreads(1, 1));
    ck_assert(peer_pick_spreads(4, 0));
    ck_assert(!peer_pick_spreads(0, 64));
}

END_TEST

START_TEST(test_choose_unmeasured_spreads)
{
    struct peer_pick_stats a = {0}, b = {0};
    struct peer_pick_cand c[2] = {{&a, 500, true}, {&b, 0, true}};

    ck_assert_double_eq(peer_pick_ref(c, 2), 0.0);
    ck_assert(peer_pick_eta(&c[0], 0.0, LEN) < 0);
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 0), 1); /* least left */
    c[1].free = false;
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 0), 0);
    c[0].free = false;
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 0), -1); /* none free */
}

END_TEST

START_TEST(test_choose_by_arrival)
{
    struct peer_pick_stats fast = {10.0, 3}, slow = {1.0, 3}, fresh = {0};
    struct peer_pick_cand c[3] = {{&slow, 0, true}, {&fast, 0, true}, {&fresh, 0, true}};

    /* A parent not measured yet counts as fast as the fastest: it is tried. */
    ck_assert_double_eq(peer_pick_ref(c, 3), 10.0);
    ck_assert_double_eq_tol(peer_pick_eta(&c[2], 10.0, LEN), 100.0, 1e-9);
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 0), 1);
    /* The fast one busy with a piece of its own. The last piece: it sends both in 200 ms,
     * before the slow one's 1000, so the piece waits for it. */
    c[1].free = false;
    c[1].left = LEN;
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 0), -1);
    /* Ten more to ask for: the fast one needs 1200 ms for all, the slow one takes this. */
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 10 * LEN), 0);
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 7 * LEN), -1); /* 900 ms: wait */
    /* A parent three times slower (333 ms) takes one when two more remain (400 ms). */
    slow.rate = 3.0;
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, 2 * LEN), 0);
    ck_assert_int_eq(peer_pick_choose(c, 2, LEN, LEN / 2), -1);
    /* One parent (the even network's pipeline): it takes every piece it is free for. */
    ck_assert_int_eq(peer_pick_choose(&c[0], 1, LEN, 0), 0);
    c[0].free = false;
    ck_assert_int_eq(peer_pick_choose(&c[0], 1, LEN, 0), -1);
}

END_TEST

START_TEST(test_steal)
{
    struct peer_pick_stats fast = {10.0, 2}, none = {0};

    /* The fast one needs 100 ms. Young fetch, unmeasured thief, done fetch: no move. */
    ck_assert(!peer_pick_steal(&fast, LEN, 0, 150, 200));
    ck_assert(!peer_pick_steal(&none, LEN, 0, 5000, 200));
    ck_assert(!peer_pick_steal(&fast, LEN, LEN, 5000, 200));
    /* 100 of 1000 bytes in 400 ms: 3600 ms to go against 100: move. */
    ck_assert(peer_pick_steal(&fast, LEN, 100, 400, 200));
    /* 900 in 900 ms: 100 ms to go, the fast one would take 100: stay. */
    ck_assert(!peer_pick_steal(&fast, LEN, 900, 900, 200));
    /* Nothing at all for 300 ms, the fast one would need 100: move; for 199: stay. */
    ck_assert(peer_pick_steal(&fast, LEN, 0, 300, 200));
    fast.rate = 5.0; /* 200 ms: only nothing for over 400 ms moves it */
    ck_assert(!peer_pick_steal(&fast, LEN, 0, 300, 200));
    ck_assert(peer_pick_steal(&fast, LEN, 0, 401, 200));
}

END_TEST

/*
 * A child draws PIECES pieces from a fast (10 B/ms) and a slow (1 B/ms) parent, one piece
 * in flight from each, on a 1 ms clock: every piece is asked of one parent at a time, the
 * slow one gets a share in proportion, and the endgame moves the last piece off it.
 */
#define PIECES 40

struct sim_parent {
    struct peer_pick_stats st;
    double rate;
    int piece; /* in flight, -1 none */
    uint64_t pos, start;
    unsigned got, moved;
};

static void
draw(double later, bool endgame, unsigned *done_ms, unsigned *got_slow, unsigned *moved)
{
    struct sim_parent par[2] = {{.rate = 10.0, .piece = -1}, {.rate = 1.0, .piece = -1}};
    int state[PIECES]; /* 0 missing, 1 in flight, 2 held */
    unsigned held = 0;
    uint64_t now = 0;

    memset(state, 0, sizeof(state));
    while (held < PIECES && now < 1000000) {
        /* Arrivals (bytes at the parent's rate, whole pieces measured). */
        for (int k = 0; k < 2; k++) {
            struct sim_parent *q = &par[k];

            if (q->piece < 0)
                continue;
            q->pos = (uint64_t)((double)(now - q->start) * q->rate);
            if (q->pos < LEN)
                continue;
            ck_assert_int_eq(state[q->piece], 1);
            state[q->piece] = 2;
            held++;
            q->got++;
            peer_pick_measured(&q->st, LEN, now - q->start);
            q->piece = -1;
            if (k == 1)
                q->rate = later; /* its uplink got busy elsewhere, or not */
        }
        /* New fetches: the next missing piece, to the parent the rules choose. */
        for (int next = 0; next < PIECES; next++) {
            struct peer_pick_cand c[2];
            unsigned rest = 0;
            int k;

            if (state[next] != 0)
                continue;
            for (int i = next + 1; i < PIECES; i++)
                rest += state[i] == 0 ? 1 : 0;
            for (int i = 0; i < 2; i++) {
                c[i].st = &par[i].st;
                c[i].left = par[i].piece >= 0 ? LEN - par[i].pos : 0;
                c[i].free = par[i].piece < 0;
            }
            if ((k = peer_pick_choose(c, 2, LEN, (uint64_t)rest * LEN)) < 0)
                break;
            state[next] = 1;
            par[k].piece = next;
            par[k].pos = 0;
            par[k].start = now;
        }
        /* Endgame: nothing missing that is not in flight, the fast one idle. */
        if (endgame && par[0].piece < 0 && par[1].piece >= 0 &&
            peer_pick_steal(&par[0].st, LEN, par[1].pos, now - par[1].start, 20)) {
            int piece = par[1].piece;
            bool missing = false;

            for (int i = 0; i < PIECES; i++)
                missing = missing || state[i] == 0;
            if (!missing) {
                par[1].piece = -1; /* dropped first: one writer */
                par[1].moved++;
                par[0].piece = piece;
                par[0].pos = 0;
                par[0].start = now;
            }
        }
        now++;
    }
    ck_assert_uint_eq(held, PIECES);
    ck_assert_uint_eq(par[0].got + par[1].got, PIECES);
    *done_ms = (unsigned)now;
    *got_slow = par[1].got;
    *moved = par[1].moved;
}

START_TEST(test_draw_fast_and_slow)
{
    unsigned ms, slow, moved;

    /* 11 B/ms together: 40 pieces in ~3636 ms at best; the fast one alone takes 4000. */
    draw(1.0, true, &ms, &slow, &moved);
    ck_assert_uint_ge(slow, 2);
    ck_assert_uint_le(slow, 4); /* about its share (1/11 of 40), not half */
    ck_assert_uint_le(ms, 3800);
    ck_assert_uint_eq(moved, 0);
}

END_TEST

START_TEST(test_draw_endgame)
{
    unsigned ms, slow, moved, ms0, slow0, moved0;

    /* The slow parent falls to 0.05 B/ms after its first piece: a piece it was given
     * would take 20 s. The endgame moves it to the fast one when nothing else is left. */
    draw(0.05, true, &ms, &slow, &moved);
    ck_assert_uint_ge(moved, 1);
    ck_assert_uint_le(ms, 4200);
    draw(0.05, false, &ms0, &slow0, &moved0);
    ck_assert_uint_eq(moved0, 0);
    ck_assert_uint_ge(ms0, 10000);
}

END_TEST

Suite *test_peer_p2p_pick_suite(void);

Suite *
test_peer_p2p_pick_suite(void)
{
    Suite *s = suite_create("peer_p2p_pick");
    TCase *tc = tcase_create("pick");

    tcase_add_test(tc, test_measured_leans_to_latest);
    tcase_add_test(tc, test_spreads_with_one_parent);
    tcase_add_test(tc, test_choose_unmeasured_spreads);
    tcase_add_test(tc, test_choose_by_arrival);
    tcase_add_test(tc, test_steal);
    tcase_add_test(tc, test_draw_fast_and_slow);
    tcase_add_test(tc, test_draw_endgame);
    suite_add_tcase(s, tc);
    return s;
}
