/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_ratelim: burst, refill, waits, debt and long-run rate within 1%, on a simulated clock;
 * and the two ways the peer drives it (an upload produced in whole slices, a download that
 * takes what the bucket holds), replayed with late timers and idle gaps: in no window of
 * time does a sender move more than burst + rate * window, and a busy sender gets the rate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/net_ratelim.h"

#define MS 1000000ull
#define S  1000000000ull

START_TEST(test_burst_and_refill)
{
    struct net_ratelim rl;
    uint64_t t0 = 5 * S;

    net_ratelim_init(&rl, 1000000, 65536, t0);
    ck_assert_uint_eq(net_ratelim_available(&rl, t0), 65536);
    ck_assert(net_ratelim_try(&rl, 65536, t0));
    ck_assert(!net_ratelim_try(&rl, 1, t0));
    /* 1 MB/s: 1000 bytes take 1 ms. */
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, 1000, t0), 1 * MS);
    ck_assert_uint_eq(net_ratelim_available(&rl, t0 + 10 * MS), 10000);
    /* Never above the burst, however long the idle time. */
    ck_assert_uint_eq(net_ratelim_available(&rl, t0 + 3600 * S), 65536);
    /* A clock that goes backwards adds nothing. */
    ck_assert_uint_eq(net_ratelim_available(&rl, t0), 65536);
}

END_TEST

START_TEST(test_wait_is_enough)
{
    struct net_ratelim rl;
    uint64_t now = 0, w;

    net_ratelim_init(&rl, 333333, 4096, now);
    net_ratelim_consume(&rl, 4096, now);
    for (int i = 0; i < 1000; i++) {
        w = net_ratelim_wait_ns(&rl, 777, now);
        now += w;
        ck_assert_msg(net_ratelim_try(&rl, 777, now), "iteration %d", i);
    }
}

END_TEST

START_TEST(test_large_request_and_debt)
{
    struct net_ratelim rl;

    net_ratelim_init(&rl, 1000, 100, 0);
    /* More than the burst: waits for a full bucket, then is allowed (into debt). */
    net_ratelim_consume(&rl, 100, 0);
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, 5000, 0), 100 * MS);
    ck_assert(net_ratelim_try(&rl, 5000, 100 * MS));
    ck_assert_uint_eq(net_ratelim_available(&rl, 100 * MS), 0);
    /* Paying off 4900 bytes of debt at 1000 B/s takes 4.9 s, then one byte 1 ms. */
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, 1, 100 * MS), 4901 * MS);
}

END_TEST

START_TEST(test_unlimited_and_set)
{
    struct net_ratelim rl;

    net_ratelim_init(&rl, 0, 0, 0);
    ck_assert_uint_eq(net_ratelim_available(&rl, 0), UINT64_MAX);
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, UINT64_MAX, 0), 0);
    ck_assert(net_ratelim_try(&rl, 1u << 30, 0));
    net_ratelim_set(&rl, 1000, 0, 0); /* burst 0 means one second's worth */
    ck_assert_uint_eq(net_ratelim_available(&rl, 0), 0);
    ck_assert_uint_eq(net_ratelim_available(&rl, 2 * S), 1000);
    net_ratelim_set(&rl, 1000, 10, 2 * S);
    ck_assert_uint_eq(net_ratelim_available(&rl, 2 * S), 10);
}

END_TEST

/* A sender that always sends as soon as allowed moves rate * time + burst bytes. */
START_TEST(test_long_run_rate)
{
    static const struct {
        uint64_t rate, burst, chunk;
    } cases[] = {
            {1000000, 65536, 16384},
            {100u * 1024 * 1024, 4u * 1024 * 1024, 256 * 1024},
            {1000, 1000, 1},
            {12345, 2000, 1500},
    };
    struct net_ratelim rl;
    uint64_t now = 7 * S, end = now + 10 * S, sent = 0;
    double want;

    net_ratelim_init(&rl, cases[_i].rate, cases[_i].burst, now);
    while (now < end) {
        uint64_t w = net_ratelim_wait_ns(&rl, cases[_i].chunk, now);

        if (w > 0) {
            now += w;
            continue;
        }
        net_ratelim_consume(&rl, cases[_i].chunk, now);
        sent += cases[_i].chunk;
    }
    want = (double)cases[_i].rate * 10.0 + (double)cases[_i].burst;
    ck_assert_msg((double)sent >= want * 0.99 && (double)sent <= want * 1.01,
                  "rate %lu: sent %lu want %.0f", (unsigned long)cases[_i].rate,
                  (unsigned long)sent, want);
}

END_TEST

/* ---- the peer's two call patterns, on a simulated clock ---- */

#define SIM_MAX 40000

/* What a sender moved, and when (times ascending). */
struct sim {
    uint64_t rate, burst;
    uint64_t t[SIM_MAX], bytes[SIM_MAX];
    size_t n;
    uint64_t seed;
};

static uint64_t
sim_rand(struct sim *s, uint64_t below)
{
    /* splitmix64: deterministic, so a failure replays */
    uint64_t z = (s->seed += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return below == 0 ? 0 : (z ^ (z >> 31)) % below;
}

static void
sim_record(struct sim *s, uint64_t now, uint64_t n)
{
    ck_assert_uint_lt(s->n, SIM_MAX);
    ck_assert(s->n == 0 || s->t[s->n - 1] <= now);
    s->t[s->n] = now;
    s->bytes[s->n] = n;
    s->n++;
}

/*
 * The definition of the limit: over every window [t_i, t_j], the bytes moved are at most
 * burst + rate * (t_j - t_i). With P the bytes moved before record i, that is
 * P_{j+1} - rate * t_j <= burst + min over i <= j of (P_i - rate * t_i): one pass keeps the
 * minimum (and where it was, to name the window that breaks it).
 */
static void
sim_check_windows(const struct sim *s)
{
    double pre = 0, low = 0, allowed, moved;
    size_t low_at = 0;

    for (size_t j = 0; j < s->n; j++) {
        double t = (double)s->t[j] / (double)S, here = pre - (double)s->rate * t;

        if (j == 0 || here < low) {
            low = here;
            low_at = j;
        }
        pre += (double)s->bytes[j];
        moved = pre - (low + (double)s->rate * (double)s->t[low_at] / (double)S);
        allowed = (double)s->burst + (double)s->rate * (double)(s->t[j] - s->t[low_at]) / (double)S;
        if (moved > allowed + 1e-3)
            ck_abort_msg("window %zu..%zu (%.6f s): %.0f bytes > %.0f allowed", low_at, j,
                         (double)(s->t[j] - s->t[low_at]) / (double)S, moved, allowed);
    }
}

/*
 * As peer_upload_stream_more: each response is produced in slices of up to 64 KiB, a slice
 * only when the bucket holds all of it, else a timer for wait_ns(slice) + 1 us, which a
 * loaded machine fires late (up to late_ms). Requests follow each other after idle gaps of
 * up to gap_ms (as separate curl runs do). Returns the time the last byte went.
 */
static uint64_t
sim_upload(struct sim *s, struct net_ratelim *rl, uint64_t now, int requests, uint64_t size,
           uint64_t gap_ms, uint64_t late_ms)
{
    for (int r = 0; r < requests; r++) {
        uint64_t left = size;

        now += sim_rand(s, gap_ms * MS + 1);
        while (left > 0) {
            uint64_t n = left < 65536 ? left : 65536;

            if (net_ratelim_available(rl, now) < n) {
                now += net_ratelim_wait_ns(rl, n, now) + 1000 + sim_rand(s, late_ms * MS + 1);
                continue;
            }
            net_ratelim_consume(rl, n, now);
            sim_record(s, now, n);
            left -= n;
        }
    }
    return now;
}

/*
 * As peer_task_fetch_write: the source has delivered more than the bucket holds; take what
 * it allows now (possibly all), pause the source for wait_ns(64 KiB) + 1 us (fired late by
 * up to late_ms), then go on. Runs until end.
 */
static void
sim_download(struct sim *s, struct net_ratelim *rl, uint64_t now, uint64_t end, uint64_t late_ms)
{
    while (now < end) {
        uint64_t len = 256 * 1024 + sim_rand(s, 256 * 1024); /* what the socket delivered */
        uint64_t avail = net_ratelim_available(rl, now);

        if (avail < len) {
            uint64_t wait = net_ratelim_wait_ns(rl, 65536, now) + 1000;

            if (avail > 0) {
                net_ratelim_consume(rl, avail, now);
                sim_record(s, now, avail);
            }
            now += wait + sim_rand(s, late_ms * MS + 1);
            continue;
        }
        net_ratelim_consume(rl, len, now);
        sim_record(s, now, len);
        now += 100 * 1000; /* the next read */
    }
}

static uint64_t
sim_total(const struct sim *s)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < s->n; i++)
        sum += s->bytes[i];
    return sum;
}

/* The peer's bucket: rate/10 + 64 KiB of burst (peer_main.c). */
static void
sim_init(struct sim *s, struct net_ratelim *rl, uint64_t rate, uint64_t now, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->rate = rate;
    s->burst = rate / 10 + 65536;
    s->seed = seed;
    net_ratelim_init(rl, s->rate, s->burst, now);
}

/*
 * Twelve 1 MiB pieces at 4 MiB/s with idle gaps between them, timers on time and late: no
 * window exceeds burst + rate * window, however the gaps refill the bucket, and the whole
 * transfer never beats (12 MiB - burst) / rate.
 */
START_TEST(test_peer_upload_pattern)
{
    static struct sim s;
    static const uint64_t gaps[] = {0, 50, 300}, lates[] = {0, 20};
    struct net_ratelim rl;
    uint64_t t0 = 3 * S, end;

    for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
        for (size_t l = 0; l < sizeof(lates) / sizeof(lates[0]); l++) {
            sim_init(&s, &rl, 4u << 20, t0, 1 + g * 10 + l);
            end = sim_upload(&s, &rl, t0, 12, 1u << 20, gaps[g], lates[l]);
            ck_assert_uint_eq(sim_total(&s), 12u << 20);
            sim_check_windows(&s);
            ck_assert_msg((double)(end - t0) / (double)S >=
                                  (double)((12u << 20) - s.burst) / (double)s.rate - 1e-6,
                          "12 MiB in %.3f s at 4 MiB/s", (double)(end - t0) / (double)S);
        }
    }
    /* on time and without gaps, the sender gets the rate: within one slice of exact */
    sim_init(&s, &rl, 4u << 20, t0, 99);
    end = sim_upload(&s, &rl, t0, 12, 1u << 20, 0, 0);
    ck_assert_msg((double)(end - t0) / (double)S <=
                          (double)((12u << 20) - s.burst + 65536) / (double)s.rate + 1e-3,
                  "12 MiB took %.3f s at 4 MiB/s", (double)(end - t0) / (double)S);
}

END_TEST

/*
 * A download that takes what the bucket holds, at several rates, timers on time and late:
 * never above burst + rate * window, and over 10 s it gets the rate (a timer late by up to
 * 20 ms is absorbed by the burst).
 */
START_TEST(test_peer_download_pattern)
{
    static struct sim s;
    static const uint64_t rates[] = {1u << 20, 4u << 20, 100u << 20}, lates[] = {0, 20};
    struct net_ratelim rl;
    uint64_t t0 = 11 * S, end = t0 + 10 * S;

    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        for (size_t l = 0; l < sizeof(lates) / sizeof(lates[0]); l++) {
            double got;

            sim_init(&s, &rl, rates[r], t0, 7 + r * 10 + l);
            sim_download(&s, &rl, t0, end, lates[l]);
            sim_check_windows(&s);
            got = (double)sim_total(&s) / 10.0;
            ck_assert_msg(got >= (double)rates[r] * 0.97,
                          "rate %lu, timers late by %lu ms: got %.0f B/s", (unsigned long)rates[r],
                          (unsigned long)lates[l], got);
        }
    }
}

END_TEST

Suite *test_net_ratelim_suite(void);

Suite *
test_net_ratelim_suite(void)
{
    Suite *s = suite_create("net_ratelim");
    TCase *tc = tcase_create("bucket");

    tcase_add_test(tc, test_burst_and_refill);
    tcase_add_test(tc, test_wait_is_enough);
    tcase_add_test(tc, test_large_request_and_debt);
    tcase_add_test(tc, test_unlimited_and_set);
    tcase_add_loop_test(tc, test_long_run_rate, 0, 4);
    tcase_add_test(tc, test_peer_upload_pattern);
    tcase_add_test(tc, test_peer_download_pattern);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
