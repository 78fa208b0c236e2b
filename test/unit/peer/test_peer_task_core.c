/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's task core without a network: the test is the piece source. It claims pieces,
 * writes their bytes into the task's data file and records them verified, or fails; two
 * listeners write down what the task tells them, in order; the core's clock is the test's.
 * The store and the worker pool are real (a scratch directory); no scheduler, no origin, no
 * get.
 */
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <event2/event.h>

#include "df/df_digest.h"
#include "df/df_id.h"
#include "df/df_url.h"
#include "df/df_work.h"
#include "df/store_data.h"
#include "df/store_db.h"
#include "df/store_task.h"
#include "../../../src/peer/peer_task.h"
#include "../unit_tmp.h"

#define PIECE  DF_ID_PIECE_LENGTH_MIN
#define LENGTH (3 * PIECE + 5) /* four pieces, the last one 5 bytes */

static char dir[64];
static struct peer ctx;

/* The fake clock: moves only when a test moves it. */
static int64_t fake_wall_ms;

static int64_t
fake_wall(void *arg)
{
    (void)arg;
    return fake_wall_ms;
}

static uint64_t
fake_mono(void *arg)
{
    (void)arg;
    return (uint64_t)fake_wall_ms * 1000000u;
}

static const struct peer_clock fake_clock = {fake_wall, fake_mono, NULL};

/* What the listeners heard, one line per event: "<listener> <event> [<piece>|<why>]". */
static char heard[4096];

struct rec {
    const char *name;
};

static void
rec_add(const struct rec *r, const char *what)
{
    size_t n = strlen(heard);

    snprintf(heard + n, sizeof(heard) - n, "%s %s\n", r->name, what);
}

static void
rec_bytes(struct peer_task *t, void *arg)
{
    (void)t;
    rec_add(arg, "bytes");
}

static void
rec_piece(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN],
          const char *parent_id, void *arg)
{
    char what[128];

    (void)t;
    (void)md;
    snprintf(what, sizeof(what), "piece %llu from %s", (unsigned long long)number,
             parent_id != NULL ? parent_id : "origin");
    rec_add(arg, what);
}

static void
rec_done(struct peer_task *t, void *arg)
{
    (void)t;
    rec_add(arg, "done");
}

static void
rec_failed(struct peer_task *t, const char *why, void *arg)
{
    char what[128];

    (void)t;
    snprintf(what, sizeof(what), "failed %s", why);
    rec_add(arg, what);
}

static void
rec_started(struct peer_task *t, void *arg)
{
    (void)t;
    rec_add(arg, "started");
}

static const struct peer_task_events rec_events = {rec_bytes, rec_piece, rec_done, rec_failed,
                                                   rec_started};
static struct rec rec_a = {"A"}, rec_b = {"B"};
static struct peer_task_listener la = {&rec_events, &rec_a, NULL};
static struct peer_task_listener lb = {&rec_events, &rec_b, NULL};

static void
setup(void)
{
    char path[128];
    struct df_error err;

    unit_tmp_make(dir, sizeof(dir), "task-core");
    memset(&ctx, 0, sizeof(ctx));
    ctx.base = event_base_new();
    ck_assert_ptr_nonnull(ctx.base);
    snprintf(path, sizeof(path), "%s/peer.db", dir);
    ck_assert_msg(store_db_open(path, &ctx.db, &err) == 0, "%s", err.msg);
    ctx.hash_pool = df_work_pool_new(ctx.base, 2);
    ctx.out_pool = df_work_pool_new(ctx.base, 2);
    ck_assert_ptr_nonnull(ctx.hash_pool);
    ck_assert_ptr_nonnull(ctx.out_pool);
    ctx.cfg.data_dir = dir;
    ctx.cfg.concurrency = 4;
    TAILQ_INIT(&ctx.tasks);
    TAILQ_INIT(&ctx.relays);
    fake_wall_ms = INT64_C(1767225600000); /* 2026-01-01 */
    ctx.clock = &fake_clock;
    heard[0] = '\0';
    peer_task_listen(&ctx, &la);
    peer_task_listen(&ctx, &lb);
}

static void
teardown(void)
{
    peer_task_unlisten(&ctx, &la);
    peer_task_unlisten(&ctx, &lb);
    peer_task_shutdown(&ctx);
    df_work_pool_free(ctx.hash_pool);
    df_work_pool_free(ctx.out_pool);
    store_db_close(ctx.db);
    event_base_free(ctx.base);
    unit_tmp_remove(dir);
}

/* A task for url, taken to the swarm (the test), with its geometry known. */
static struct peer_task *
task_open(const char *url)
{
    struct peer_download_req req;
    struct df_error err;
    char id[DF_ID_TASK_LEN + 1];
    uint8_t md[DF_SHA256_LEN];
    struct peer_task *t;

    memset(&req, 0, sizeof(req));
    req.url = (char *)(uintptr_t)url;
    df_sha256(url, strlen(url), md);
    df_hex_encode(md, sizeof(md), id);
    t = peer_task_new(&ctx, id, url, &req);
    peer_task_join_swarm(t);
    ck_assert_msg(peer_task_set_geometry(t, LENGTH, PIECE, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(t->piece_count, 4);
    return t;
}

/* Piece n's bytes: every byte is n + its offset in the piece (mod 251). */
static void
piece_bytes(uint64_t n, uint8_t *buf, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((n + i) % 251);
}

/* The fake source fetched claimed piece n: write it, give the claim back, record it. */
static int
piece_fetched(struct peer_task *t, uint64_t n, const char *parent_id)
{
    static uint8_t buf[PIECE];
    uint8_t md[DF_SHA256_LEN];
    uint64_t off = 0, len = 0;

    df_id_piece_range(t->content_length, t->piece_length, n, &off, &len);
    piece_bytes(n, buf, len);
    ck_assert_int_eq(store_data_pwrite(t->fd, buf, (size_t)len, off), 0);
    df_sha256(buf, (size_t)len, md);
    peer_task_release(t, n);
    return peer_task_record_piece(t, n, off, len, md, parent_id);
}

/* The loop's tick while draining: workers' done callbacks run on it (as in test_df_work). */
static void
drain_tick(evutil_socket_t fd, short what, void *arg)
{
    unsigned *ticks = arg;

    (void)fd;
    (void)what;
    if (TAILQ_EMPTY(&ctx.tasks) || ++*ticks > 60000) /* a loose bound: a minute of ticks */
        event_base_loopbreak(ctx.base);
}

/* Run the loop until every task is gone (a finished one is sealed on a worker first). */
static void
drain(void)
{
    struct timeval tv = {0, 1000};
    unsigned ticks = 0;
    struct event *tick = event_new(ctx.base, -1, EV_PERSIST, drain_tick, &ticks);

    ck_assert_ptr_nonnull(tick);
    event_add(tick, &tv);
    event_base_dispatch(ctx.base);
    event_free(tick);
    ck_assert(TAILQ_EMPTY(&ctx.tasks));
}

static void
seal_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until t's hash jobs (its seal) are done. */
static void
run_until_sealed(struct peer_task *t)
{
    struct timeval tv = {0, 1000};
    struct event *tick = event_new(ctx.base, -1, EV_PERSIST, seal_tick, NULL);
    unsigned ticks = 0;

    ck_assert_ptr_nonnull(tick);
    event_add(tick, &tv);
    while (!TAILQ_EMPTY(&t->hashing) && ++ticks < 60000) /* a loose bound: a minute of ticks */
        event_base_loop(ctx.base, EVLOOP_ONCE);
    event_free(tick);
    ck_assert(TAILQ_EMPTY(&t->hashing));
}

static bool
want_odd(uint64_t number, void *arg)
{
    (void)arg;
    return number % 2 == 1;
}

START_TEST(test_claims)
{
    struct peer_task *t = task_open("http://origin.test/claims");
    uint64_t n = 99;

    /* In order from where the last claim left off, each once. */
    for (uint64_t i = 0; i < 4; i++) {
        ck_assert(peer_task_claim(t, NULL, NULL, &n));
        ck_assert_uint_eq(n, i);
    }
    ck_assert(!peer_task_claim(t, NULL, NULL, &n));
    /* A released piece (its fetch failed) may be claimed again. */
    peer_task_release(t, 2);
    ck_assert(peer_task_claim(t, NULL, NULL, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert(!peer_task_claim(t, NULL, NULL, &n));
    /* want() picks among the free ones; a verified piece is never offered again. */
    peer_task_release(t, 0);
    peer_task_release(t, 1);
    peer_task_release(t, 3);
    ck_assert(peer_task_claim(t, want_odd, NULL, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert(peer_task_claim(t, want_odd, NULL, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert(!peer_task_claim(t, want_odd, NULL, &n));
    ck_assert_int_eq(piece_fetched(t, 1, "parent-a"), 0);
    ck_assert(peer_task_claim(t, NULL, NULL, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert(!peer_task_claim(t, NULL, NULL, &n));
    ck_assert_str_eq(heard, "A piece 1 from parent-a\nB piece 1 from parent-a\n");
}

END_TEST

/* With an in-order reader a claim takes the first missing piece, not the one after the last. */
START_TEST(test_claims_in_order)
{
    struct peer_task *t = task_open("http://origin.test/claims-in-order");
    uint64_t n = 99;

    ck_assert(peer_task_claim(t, want_odd, NULL, &n));
    ck_assert_uint_eq(n, 1);
    /* round robin: after 1 comes 2 */
    ck_assert(peer_task_claim(t, NULL, NULL, &n));
    ck_assert_uint_eq(n, 2);
    peer_task_release(t, 2);
    t->in_order++;
    ck_assert(peer_task_claim(t, NULL, NULL, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert(peer_task_claim(t, NULL, NULL, &n));
    ck_assert_uint_eq(n, 2);
    t->in_order--;
}

END_TEST

START_TEST(test_claims_spread)
{
    struct peer_task *t = task_open("http://origin.test/spread");
    uint64_t n = 99;

    /* The r-th (mod the count) of the free pieces want accepts, each once. */
    ck_assert(peer_task_claim_spread(t, NULL, NULL, 2, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert(peer_task_claim_spread(t, NULL, NULL, 5, &n)); /* 0 1 3: 5 mod 3 = 2 */
    ck_assert_uint_eq(n, 3);
    ck_assert(peer_task_claim_spread(t, want_odd, NULL, 7, &n)); /* 1 */
    ck_assert_uint_eq(n, 1);
    ck_assert(!peer_task_claim_spread(t, want_odd, NULL, 0, &n));
    ck_assert(peer_task_claim_spread(t, NULL, NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert(!peer_task_claim_spread(t, NULL, NULL, 3, &n));
    /* A verified piece is never offered again; a released one is. */
    ck_assert_int_eq(piece_fetched(t, 3, "parent-a"), 0);
    peer_task_release(t, 0);
    peer_task_release(t, 3);
    ck_assert(peer_task_claim_spread(t, NULL, NULL, 1, &n)); /* 0 only: 1 mod 1 = 0 */
    ck_assert_uint_eq(n, 0);
    ck_assert(!peer_task_claim_spread(t, NULL, NULL, 1, &n));
    /* With an in-order reader the first missing piece goes first, whatever r says. */
    peer_task_release(t, 1);
    peer_task_release(t, 2);
    t->in_order++;
    ck_assert(peer_task_claim_spread(t, NULL, NULL, 1, &n));
    ck_assert_uint_eq(n, 1);
    t->in_order--;
}

END_TEST

START_TEST(test_pieces_done)
{
    struct peer_task *t = task_open("http://origin.test/done");
    char id[DF_ID_TASK_LEN + 1];
    struct store_task st;
    uint64_t n;

    memcpy(id, t->id, sizeof(id));
    /* The length is known: a proxy stream sends its headers before any piece. */
    peer_task_started(t);
    /* Out of order, from two parents and the origin; one piece recorded twice. */
    while (peer_task_claim(t, NULL, NULL, &n))
        ;
    ck_assert_int_eq(piece_fetched(t, 2, "parent-a"), 0);
    peer_task_bytes_written(t);
    ck_assert_int_eq(piece_fetched(t, 0, NULL), 0);
    ck_assert_int_eq(piece_fetched(t, 3, "parent-b"), 0);
    ck_assert_int_eq(piece_fetched(t, 3, "parent-b"), 0); /* already there: told once */
    ck_assert_int_eq(piece_fetched(t, 1, "parent-a"), 0);
    ck_assert_uint_eq(t->done_pieces, 4);
    ck_assert_uint_eq(t->done_bytes, LENGTH);
    peer_task_complete(t);
    ck_assert_str_eq(heard, "A started\nB started\n"
                            "A piece 2 from parent-a\nB piece 2 from parent-a\n"
                            "A bytes\nB bytes\n"
                            "A piece 0 from origin\nB piece 0 from origin\n"
                            "A piece 3 from parent-b\nB piece 3 from parent-b\n"
                            "A piece 1 from parent-a\nB piece 1 from parent-a\n"
                            "A done\nB done\n");
    drain();
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(store_task_get(ctx.db, id, &st), 0);
    ck_assert_int_eq(st.state, STORE_TASK_DONE);
    ck_assert_uint_eq(st.bytes, LENGTH);
    ck_assert_int_eq(st.accessed_at, fake_wall_ms); /* stamped by the core's clock */
    store_task_reset(&st);
    /* Cache TTL on the same clock: kept up to the TTL, evicted past it. */
    ctx.cfg.cache_ttl = 60000;
    fake_wall_ms += 60000;
    peer_task_gc(&ctx);
    ck_assert_int_eq(store_task_get(ctx.db, id, &st), 0);
    store_task_reset(&st);
    fake_wall_ms += 1;
    peer_task_gc(&ctx);
    ck_assert_int_eq(store_task_get(ctx.db, id, &st), DF_ENOTFOUND);
}

END_TEST

START_TEST(test_source_fails)
{
    struct peer_task *t = task_open("http://origin.test/fails");
    char id[DF_ID_TASK_LEN + 1];
    struct store_task st;
    uint64_t n;

    memcpy(id, t->id, sizeof(id));
    ck_assert(peer_task_claim(t, NULL, NULL, &n));
    ck_assert_int_eq(piece_fetched(t, n, NULL), 0);
    ck_assert(peer_task_claim(t, NULL, NULL, &n));
    /* B stops listening; the source gives up on piece 1. */
    peer_task_unlisten(&ctx, &lb);
    peer_task_release(t, n);
    peer_task_fail(t, DF_EIO, "origin: connection reset");
    ck_assert_str_eq(heard, "A piece 0 from origin\nB piece 0 from origin\n"
                            "A failed origin: connection reset\n");
    drain(); /* nobody waits for it: the task is gone at once */
    peer_task_listen(&ctx, &lb);
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(store_task_get(ctx.db, id, &st), 0);
    ck_assert_int_eq(st.state, STORE_TASK_FAILED);
    ck_assert_uint_eq(st.bytes, PIECE); /* the verified piece stays for a resume */
    store_task_reset(&st);
}

END_TEST

/*
 * A reader without a waiter (the proxy): it holds the task past its end, follows the verified
 * prefix, then finds the finished task in the cache with peer_task_open, and rejects it.
 */
START_TEST(test_hold_open_reject)
{
    static const char url[] = "http://origin.test/held";
    struct df_id_task_params p;
    struct peer_download_req req;
    struct peer_task *t, *again = NULL;
    struct store_task st;
    struct df_error err;
    char id[DF_ID_TASK_LEN + 1];
    uint64_t n;

    /* the id peer_task_open computes */
    memset(&p, 0, sizeof(p));
    p.url = url;
    p.url_flags = DF_URL_CANON_SORT;
    ck_assert_int_eq(df_id_task(&p, id, &err), 0);
    memset(&req, 0, sizeof(req));
    req.url = (char *)(uintptr_t)url;
    t = peer_task_new(&ctx, id, url, &req);
    peer_task_join_swarm(t);
    ck_assert_msg(peer_task_set_geometry(t, LENGTH, PIECE, &err) == 0, "%s", err.msg);
    peer_task_hold(t);
    while (peer_task_claim(t, NULL, NULL, &n))
        ;
    ck_assert_uint_eq(peer_task_verified_end(t, 0), 0);
    ck_assert_int_eq(piece_fetched(t, 0, NULL), 0);
    ck_assert_int_eq(piece_fetched(t, 2, NULL), 0);
    /* the prefix ends at the first gap, wherever the reader is */
    ck_assert_uint_eq(peer_task_verified_end(t, 0), PIECE);
    ck_assert_uint_eq(peer_task_verified_end(t, PIECE / 2), PIECE);
    ck_assert_uint_eq(peer_task_verified_end(t, PIECE), PIECE);
    ck_assert_int_eq(piece_fetched(t, 1, NULL), 0);
    ck_assert_uint_eq(peer_task_verified_end(t, 0), 3 * PIECE);
    ck_assert_int_eq(piece_fetched(t, 3, NULL), 0);
    peer_task_complete(t);
    ck_assert_uint_eq(peer_task_verified_end(t, 0), LENGTH);
    /* held: still there once everything else (its seal on a worker) is done with it, and
     * gone at once when let go */
    run_until_sealed(t);
    ck_assert_ptr_eq(peer_task_find(&ctx, id), t);
    peer_task_unhold(t);
    ck_assert(TAILQ_EMPTY(&ctx.tasks));

    /* from the cache, held once for the caller; then rejected: gone from the store */
    req.disable_back_to_source = true;
    ck_assert_msg(peer_task_open(&ctx, &req, &again, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(again);
    ck_assert_int_eq(again->state, PEER_TASK_DONE);
    ck_assert_uint_eq(again->content_length, LENGTH);
    ck_assert_uint_eq(again->holds, 1);
    ck_assert_uint_eq(peer_task_verified_end(again, 0), LENGTH);
    peer_task_reject(again, "digest mismatch (test)");
    ck_assert_ptr_null(peer_task_find(&ctx, id));
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(store_task_get(ctx.db, id, &st), DF_ENOTFOUND);
    peer_task_unhold(again);
    drain();

    /* not cached, and back-to-source disabled: refused, nothing created */
    again = NULL;
    ck_assert_int_eq(peer_task_open(&ctx, &req, &again, &err), DF_ENOTFOUND);
    ck_assert_ptr_null(again);
    ck_assert(TAILQ_EMPTY(&ctx.tasks));
    req.url = (char *)(uintptr_t) "ftp://origin.test/x";
    ck_assert_int_eq(peer_task_open(&ctx, &req, &again, &err), DF_EINVAL);
}

END_TEST

Suite *test_peer_task_core_suite(void);

Suite *
test_peer_task_core_suite(void)
{
    Suite *s = suite_create("peer_task_core");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_claims);
    tcase_add_test(tc, test_claims_in_order);
    tcase_add_test(tc, test_claims_spread);
    tcase_add_test(tc, test_pieces_done);
    tcase_add_test(tc, test_source_fails);
    tcase_add_test(tc, test_hold_open_reject);
    suite_add_tcase(s, tc);
    return s;
}
