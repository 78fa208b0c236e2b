/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scheduler state and decisions: register flows per size scope, seed trigger, the
 * back-to-source cap, DAG cycle prevention, strikes, parent leave, stalls, upload
 * measurement and placement by it, GC, digests, caps, and invariants after thousands of
 * random events.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/df_digest.h"
#include "../../../src/scheduler/sched_eval.h"
#include "sched_test_util.h"

#define PIECE (4 * T_MIB)

static struct sched_config cfg;
static struct sched_state *st;
static struct sched_actions acts;
static int64_t now;
static char task[65];

static void
setup(void)
{
    sched_config_default(&cfg);
    st = NULL;
    memset(&acts, 0, sizeof(acts));
    now = 1000000;
    t_task_id(task, 1);
}

static void
teardown(void)
{
    sched_actions_reset(&acts);
    sched_state_free(st);
}

static void
start(void)
{
    struct df_error err;

    ck_assert_msg(sched_config_check(&cfg, &err) == 0, "%s", err.msg);
    st = sched_state_new(&cfg);
}

static void
check_ok(void)
{
    struct df_error err = {{0}};

    ck_assert_msg(sched_state_check(st, &err) == 0, "%s", err.msg);
}

static enum sched_peer_state
peer_state(const char *id)
{
    struct sched_peer_stat ps;

    ck_assert_int_eq(sched_state_peer_stat(st, id, &ps), 0);
    return ps.state;
}

static enum sched_task_state
task_state(void)
{
    struct sched_task_stat ts;

    ck_assert_int_eq(sched_state_task_stat(st, task, &ts), 0);
    return ts.state;
}

static bool
has_parent(const char *peer, const char *parent)
{
    struct sched_peer_stat ps;

    ck_assert_int_eq(sched_state_peer_stat(st, peer, &ps), 0);
    for (uint32_t i = 0; i < ps.parent_count; i++) {
        if (strcmp(ps.parents[i], parent) == 0)
            return true;
    }
    return false;
}

static uint32_t
nparents(const char *peer)
{
    struct sched_peer_stat ps;

    ck_assert_int_eq(sched_state_peer_stat(st, peer, &ps), 0);
    return ps.parent_count;
}

static bool
action_has_parent(const struct sched_action *a, const char *parent)
{
    for (size_t i = 0; a != NULL && i < a->nparents; i++) {
        if (strcmp(a->parents[i].peer_id, parent) == 0)
            return true;
    }
    return false;
}

static int
reg(const char *peer, const char *host, int64_t len, bool bts)
{
    return t_register(st, peer, host, task, len, PIECE, bts, now, &acts);
}

static void
digest_of(uint32_t n, struct df_digest *d)
{
    char buf[32];
    uint8_t md[DF_SHA256_LEN];

    snprintf(buf, sizeof(buf), "piece %u", n);
    df_sha256(buf, strlen(buf), md);
    df_digest_set_sha256(d, md);
}

/* Piece n reported by peer, from parent (NULL: the source), having taken cost ms. */
static int
piece_cost(const char *peer, uint32_t n, const char *parent, int64_t cost)
{
    struct sched_piece pc;

    memset(&pc, 0, sizeof(pc));
    pc.number = n;
    pc.parent_id = parent;
    pc.length = PIECE;
    pc.cost = cost;
    pc.has_digest = true;
    digest_of(parent == NULL ? n : n + 1000, &pc.digest);
    return sched_state_piece_finished(st, peer, &pc, now, &acts);
}

static int
piece(const char *peer, uint32_t n, const char *parent)
{
    return piece_cost(peer, n, parent, 10);
}

/* The measured upload capacity of host id, bytes/s. */
static uint64_t
host_estimate(const char *id)
{
    struct sched_host_stat hs;

    ck_assert_int_eq(sched_state_host_stat(st, id, &hs), 0);
    return hs.upload_estimate;
}

/* Announce (or refresh) the seed host "seed" and normal hosts h1..h4, 8 upload slots each. */
static void
hosts_announce(void)
{
    t_host(st, "seed", SCHED_HOST_SEED, 8, now);
    for (int i = 1; i <= 4; i++) {
        char h[8];

        snprintf(h, sizeof(h), "h%d", i);
        t_host(st, h, SCHED_HOST_NORMAL, 8, now);
    }
}

/* Seed s1 holding the first `have` of 16 pieces, p1 its child, p2 p1's child. */
static void
chain_setup(uint32_t have)
{
    start();
    hosts_announce();
    ck_assert_int_eq(reg("s1", "seed", 16 * PIECE, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "s1"));
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1"), "s1"));
    ck_assert_int_eq(sched_state_peer_started(st, "p1", now), 0);
    for (uint32_t i = 0; i < have; i++) {
        ck_assert_int_eq(piece("s1", i, NULL), 0);
        ck_assert_int_eq(piece("p1", i, "s1"), 0);
    }
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    /* The seed already feeds p1 (seed_fanout 1): p2 is fed by p1. */
    ck_assert(has_parent("p2", "p1"));
    ck_assert(!has_parent("p2", "s1"));
    ck_assert_int_eq(sched_state_peer_started(st, "p2", now), 0);
    sched_actions_reset(&acts);
    check_ok();
}

START_TEST(test_register_empty)
{
    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", 0, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_EMPTY, "p1"));
    ck_assert_uint_eq(acts.n, 1);
    ck_assert_int_eq(peer_state("p1"), SCHED_PEER_RECEIVED_EMPTY);
    ck_assert_int_eq(task_state(), SCHED_TASK_RUNNING);
    check_ok();
}

END_TEST

START_TEST(test_register_tiny)
{
    static const char content[] = "tiny content, well under 128 bytes";
    struct sched_piece pc;
    const struct sched_action *a;
    uint8_t md[DF_SHA256_LEN];
    size_t len = sizeof(content) - 1;

    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", (int64_t)len, false), 0);
    /* No seed host and nobody has it: p1 fetches it itself. */
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p1"));
    memset(&pc, 0, sizeof(pc));
    pc.length = len;
    pc.content = (const uint8_t *)content;
    pc.content_len = len;
    pc.has_digest = true;
    df_sha256("something else", 14, md);
    df_digest_set_sha256(&pc.digest, md);
    ck_assert_int_eq(sched_state_piece_finished(st, "p1", &pc, now, &acts), DF_EDIGEST);
    df_sha256(content, len, md);
    df_digest_set_sha256(&pc.digest, md);
    ck_assert_int_eq(sched_state_piece_finished(st, "p1", &pc, now, &acts), 0);
    ck_assert_int_eq(sched_state_peer_finished(st, "p1", now, &acts), 0);
    ck_assert_int_eq(task_state(), SCHED_TASK_SUCCEEDED);
    sched_actions_reset(&acts);
    ck_assert_int_eq(reg("p2", "h2", (int64_t)len, false), 0);
    a = sched_actions_find(&acts, SCHED_ACT_TINY, "p2");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->content_len, len);
    ck_assert_mem_eq(a->content, content, len);
    ck_assert_int_eq(peer_state("p2"), SCHED_PEER_RECEIVED_TINY);
    check_ok();
}

END_TEST

START_TEST(test_register_small)
{
    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h3", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", (int64_t)T_MIB, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p1"));
    ck_assert_int_eq(piece("p1", 0, NULL), 0);
    ck_assert_int_eq(sched_state_peer_finished(st, "p1", now, &acts), 0);
    ck_assert_int_eq(reg("p2", "h2", (int64_t)T_MIB, false), 0);
    ck_assert_int_eq(peer_state("p2"), SCHED_PEER_RECEIVED_SMALL);
    ck_assert_int_eq(sched_state_peer_started(st, "p2", now), 0);
    ck_assert_int_eq(piece("p2", 0, "p1"), 0);
    ck_assert_int_eq(sched_state_peer_finished(st, "p2", now, &acts), 0);
    sched_actions_reset(&acts);
    /* SMALL: a single parent even when two could serve. */
    ck_assert_int_eq(reg("p3", "h3", (int64_t)T_MIB, false), 0);
    ck_assert_uint_eq(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p3")->nparents, 1);
    ck_assert_uint_eq(nparents("p3"), 1);
    check_ok();
}

END_TEST

START_TEST(test_register_unknown_length)
{
    struct sched_task_stat ts;

    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(t_register(st, "p1", "h1", task, -1, 0, false, now, &acts), 0);
    ck_assert_int_eq(sched_state_task_stat(st, task, &ts), 0);
    ck_assert_int_eq(ts.size_scope, SCHED_SIZE_UNKNOWN);
    /* Scheduled like NORMAL: nobody has it, no seed, so it goes to the source. */
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p1"));
    ck_assert_int_eq(piece("p1", 0, NULL), DF_EINVAL); /* geometry still unknown */
    ck_assert_int_eq(sched_state_peer_back_to_source_started(st, "p1", (int64_t)(10 * T_MIB), PIECE,
                                                             now, &acts),
                     0);
    ck_assert_int_eq(sched_state_task_stat(st, task, &ts), 0);
    ck_assert_uint_eq(ts.piece_count, 3);
    ck_assert_int_eq(ts.size_scope, SCHED_SIZE_NORMAL);
    ck_assert_int_eq(piece("p1", 2, NULL), 0);
    ck_assert_int_eq(piece("p1", 3, NULL), DF_EINVAL);
    /* Other geometry for the same task is refused. */
    ck_assert_int_eq(sched_state_peer_back_to_source_started(st, "p1", (int64_t)(11 * T_MIB), PIECE,
                                                             now, &acts),
                     DF_EINVAL);
    check_ok();
}

END_TEST

START_TEST(test_register_seed_trigger)
{
    const struct sched_action *a;
    const char *want = NULL;
    uint64_t best = 0;
    const char *seeds[] = {"seedA", "seedB", "seedC"};

    start();
    for (size_t i = 0; i < DF_NELEM(seeds); i++) {
        uint64_t w = sched_eval_seed_weight(task, seeds[i]);

        t_host(st, seeds[i], SCHED_HOST_SEED, 0, now);
        if (want == NULL || w > best) {
            want = seeds[i];
            best = w;
        }
    }
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    a = sched_actions_find(&acts, SCHED_ACT_TRIGGER_SEED, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->host_id, want);
    ck_assert_str_eq(a->task_id, task);
    ck_assert_str_eq(a->url, "http://origin.example/blob");
    ck_assert_uint_eq(acts.n, 1); /* p1 itself waits */
    ck_assert_int_eq(peer_state("p1"), SCHED_PEER_RECEIVED_NORMAL);
    sched_actions_reset(&acts);
    /* The seed is on its way: no second trigger. */
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert_uint_eq(acts.n, 0);
    /* The seed peer registers: it goes to the source and the waiting peers get it. */
    ck_assert_int_eq(reg("s1", want, 16 * PIECE, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "s1"));
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1"), "s1"));
    /*
     * Seed protection: the seed feeds one child. p1, given a parent, is running and will
     * have pieces: p2 is fed by p1 at once (the pipeline forms as peers register).
     */
    ck_assert_int_eq(peer_state("p1"), SCHED_PEER_RUNNING);
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2"), "p1"));
    ck_assert(!has_parent("p2", "s1"));
    ck_assert_int_eq(sched_state_peer_started(st, "p1", now), 0);
    check_ok();
}

END_TEST

/*
 * Peers that register before anyone knows the length get the seed as a parent at once; once
 * the seed learns the length they are told again (with it), and an empty task is answered.
 */
START_TEST(test_geometry_learned_from_seed)
{
    const struct sched_action *a;

    start();
    t_host(st, "seed", SCHED_HOST_SEED, 8, now);
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", -1, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_TRIGGER_SEED, NULL));
    sched_actions_reset(&acts);
    ck_assert_int_eq(reg("s1", "seed", -1, false), 0);
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1"), "s1"));
    sched_actions_reset(&acts);
    ck_assert_int_eq(
            sched_state_peer_back_to_source_started(st, "s1", 16 * PIECE, PIECE, now, &acts), 0);
    a = sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1");
    ck_assert(action_has_parent(a, "s1"));
    sched_actions_reset(&acts);
    /* Learning the same geometry again tells nobody anything. */
    ck_assert_int_eq(
            sched_state_peer_back_to_source_started(st, "s1", 16 * PIECE, PIECE, now, &acts), 0);
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1"));
    check_ok();

    /* An empty task: the waiting peer gets the empty answer when the seed learns it. */
    t_task_id(task, 2);
    sched_actions_reset(&acts);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p2", "h2", -1, false), 0);
    ck_assert_int_eq(reg("s2", "seed", -1, false), 0);
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_peer_back_to_source_started(st, "s2", 0, 0, now, &acts), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_EMPTY, "p2"));
    check_ok();
}

END_TEST

START_TEST(test_seed_timeout_falls_back)
{
    start();
    t_host(st, "seed", SCHED_HOST_SEED, 0, now);
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_TRIGGER_SEED, NULL));
    sched_actions_reset(&acts);
    now += cfg.seed_timeout;
    t_host(st, "seed", SCHED_HOST_SEED, 0, now);
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    /* The seed never came: the peer goes to the source itself, no new trigger. */
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p1"));
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_TRIGGER_SEED, NULL));
    check_ok();
}

END_TEST

START_TEST(test_no_seed_back_to_source_cap)
{
    cfg.max_back_to_source = 2;
    cfg.peer_fanout = 0; /* p1 takes several children */
    start();
    for (int i = 1; i <= 5; i++) {
        char h[8];

        snprintf(h, sizeof(h), "h%d", i);
        t_host(st, h, SCHED_HOST_NORMAL, 0, now);
    }
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p1"));
    sched_actions_reset(&acts);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2"), "p1"));
    sched_actions_reset(&acts);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, true), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p3"));
    sched_actions_reset(&acts);
    /* Over the cap: a peer asking for the source gets parents instead. */
    ck_assert_int_eq(reg("p4", "h4", 16 * PIECE, true), 0);
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p4"));
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p4"), "p1"));
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p4"), "p3"));
    sched_actions_reset(&acts);
    check_ok();

    /* Both sources fail: the task fails, and the next tick finds a new source. */
    ck_assert_int_eq(sched_state_peer_failed(st, "p1", now, &acts), 0);
    ck_assert_int_eq(task_state(), SCHED_TASK_RUNNING);
    ck_assert_int_eq(sched_state_peer_failed(st, "p3", now, &acts), 0);
    ck_assert_int_eq(task_state(), SCHED_TASK_FAILED);
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_tick(st, now + 1, &acts), 0);
    ck_assert_int_eq(task_state(), SCHED_TASK_RUNNING);
    ck_assert(peer_state("p2") == SCHED_PEER_BACK_TO_SOURCE ||
              peer_state("p4") == SCHED_PEER_BACK_TO_SOURCE);
    check_ok();
}

END_TEST

/* A service started at now with a 5 s grace; p1 on h1 registers and, seedless, waits. */
static void
grace_setup(void)
{
    cfg.startup_grace = 5000;
    start();
    sched_state_start(st, now);
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert_uint_eq(acts.n, 0);
}

/*
 * issue 10: a restarted scheduler knows no seed host until they announce again. In the
 * startup grace a peer of a task without a source waits rather than going to the origin,
 * and the seed host, once it announces, is triggered.
 */
START_TEST(test_startup_grace_waits_for_seed)
{
    const struct sched_action *a;

    grace_setup();
    ck_assert_int_eq(peer_state("p1"), SCHED_PEER_RECEIVED_NORMAL);
    ck_assert_int_eq(sched_state_tick(st, now + 1000, &acts), 0);
    ck_assert_uint_eq(acts.n, 0);
    /* The seed host announces (its peer has not registered yet): it is triggered. */
    now += 2000;
    t_host(st, "seed", SCHED_HOST_SEED, 0, now);
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    a = sched_actions_find(&acts, SCHED_ACT_TRIGGER_SEED, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->host_id, "seed");
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, NULL));
    sched_actions_reset(&acts);
    /* The seed's peer registers and fetches the task; p1 takes it as its parent. */
    ck_assert_int_eq(reg("s1", "seed", 16 * PIECE, true), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "s1"));
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1"), "s1"));
    check_ok();
}

END_TEST

/* With no seed host at all, the grace only delays: at its end a waiting peer goes to source. */
START_TEST(test_startup_grace_ends)
{
    grace_setup();
    ck_assert_int_eq(sched_state_tick(st, now + cfg.startup_grace - 1, &acts), 0);
    ck_assert_uint_eq(acts.n, 0);
    ck_assert_int_eq(sched_state_tick(st, now + cfg.startup_grace, &acts), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p1"));
    ck_assert_int_eq(peer_state("p1"), SCHED_PEER_BACK_TO_SOURCE);
    sched_actions_reset(&acts);
    /* After the grace a new task's first peer goes to source at once, as without it. */
    t_task_id(task, 2);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now + cfg.startup_grace);
    ck_assert_int_eq(t_register(st, "p2", "h2", task, 16 * PIECE, PIECE, false,
                                now + cfg.startup_grace, &acts),
                     0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p2"));
    check_ok();
}

END_TEST

/* A peer that asks for the source gets it in the grace too, and feeds those waiting. */
START_TEST(test_startup_grace_requested_source)
{
    grace_setup();
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, true), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p2"));
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1"), "p2"));
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "p1"));
    check_ok();
}

END_TEST

START_TEST(test_wait_timeout_fails)
{
    const char *block[] = {"p1"};

    cfg.stall_timeout = 2 * cfg.wait_timeout; /* p1, the source, is not freed meanwhile */
    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert(has_parent("p2", "p1"));
    ck_assert_int_eq(sched_state_peer_reschedule(st, "p2", block, 1, now, &acts), 0);
    ck_assert_uint_eq(nparents("p2"), 0);
    /* a parent the peer blocks is reported like one blocked by strikes */
    ck_assert_str_eq(sched_actions_find(&acts, SCHED_ACT_BLOCKED, "p2")->parent_id, "p1");
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_tick(st, now + cfg.wait_timeout - 1, &acts), 0);
    ck_assert_uint_eq(acts.n, 0);
    ck_assert_int_eq(sched_state_tick(st, now + cfg.wait_timeout, &acts), 0);
    /* The only source is blocked and the cap (1) is taken: scheduling fails. */
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_FAIL, "p2"));
    ck_assert_int_eq(peer_state("p2"), SCHED_PEER_FAILED);
    check_ok();
}

END_TEST

START_TEST(test_dag_no_cycle)
{
    const char *block[] = {"s1"};

    chain_setup(4);
    /* p1 loses the seed: its only other candidate is p2, its own child. */
    ck_assert_int_eq(sched_state_peer_reschedule(st, "p1", block, 1, now, &acts), 0);
    ck_assert(!has_parent("p1", "p2"));
    ck_assert(has_parent("p2", "p1"));
    ck_assert_uint_eq(nparents("p1"), 0);
    check_ok();
}

END_TEST

START_TEST(test_strikes_block)
{
    const struct sched_action *a;
    struct sched_peer_stat ps;

    cfg.max_strikes = 3;
    cfg.stall_timeout = 2 * cfg.seed_wait; /* s1, the source, is not freed meanwhile */
    chain_setup(4);
    ck_assert_int_eq(sched_state_piece_failed(st, "p2", 0, "p1", now, &acts), 0);
    ck_assert_int_eq(sched_state_piece_failed(st, "p2", 1, "p1", now, &acts), 0);
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_BLOCKED, "p2"));
    ck_assert(has_parent("p2", "p1"));
    ck_assert_int_eq(sched_state_piece_failed(st, "p2", 2, "p1", now, &acts), 0);
    a = sched_actions_find(&acts, SCHED_ACT_BLOCKED, "p2");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->parent_id, "p1");
    ck_assert(!has_parent("p2", "p1"));
    /* The seed (already feeding p1) is p2's only candidate: it waits seed_wait for it. */
    ck_assert_uint_eq(nparents("p2"), 0);
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_tick(st, now + cfg.seed_wait - 1, &acts), 0);
    ck_assert_uint_eq(nparents("p2"), 0);
    now += cfg.seed_wait;
    t_host(st, "seed", SCHED_HOST_SEED, 8, now);
    t_host(st, "h1", SCHED_HOST_NORMAL, 8, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 8, now);
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2"), "s1"));
    ck_assert_int_eq(sched_state_peer_stat(st, "p2", &ps), 0);
    ck_assert_uint_eq(ps.blocked_count, 1);
    /* A later reschedule never brings p1 back. */
    ck_assert_int_eq(sched_state_peer_reschedule(st, "p2", NULL, 0, now, &acts), 0);
    ck_assert(!has_parent("p2", "p1"));
    check_ok();
}

END_TEST

/* peer_fanout 1: peers that register together form a pipeline behind the seed. */
START_TEST(test_pipeline)
{
    start();
    hosts_announce();
    ck_assert_int_eq(reg("s1", "seed", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p4", "h4", 16 * PIECE, false), 0);
    ck_assert(has_parent("p1", "s1"));
    ck_assert(has_parent("p2", "p1"));
    ck_assert(has_parent("p3", "p2"));
    ck_assert(has_parent("p4", "p3"));
    ck_assert_uint_eq(nparents("p2"), 1);
    ck_assert_uint_eq(nparents("p3"), 1);
    ck_assert_uint_eq(nparents("p4"), 1);
    /* p2 leaves: p3 takes p1, the one peer with room that is not behind it. */
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_peer_leave(st, "p2", now, &acts), 0);
    ck_assert(has_parent("p3", "p1"));
    ck_assert_uint_eq(nparents("p3"), 1);
    ck_assert(has_parent("p4", "p3"));
    check_ok();
}

END_TEST

START_TEST(test_parent_leave_replans_children)
{
    const struct sched_action *a;

    cfg.peer_fanout = 0; /* p1 feeds p2 and p3 */
    chain_setup(4);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert(has_parent("p3", "p1"));
    ck_assert_int_eq(sched_state_peer_started(st, "p3", now), 0);
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_peer_leave(st, "p1", now, &acts), 0);
    ck_assert_int_eq(sched_state_peer_stat(st, "p1", &(struct sched_peer_stat){0}), DF_ENOTFOUND);
    /* Both children get a new parent set without p1; the seed takes one of them. */
    for (int i = 2; i <= 3; i++) {
        char id[8];

        snprintf(id, sizeof(id), "p%d", i);
        a = sched_actions_find(&acts, SCHED_ACT_PARENTS, id);
        ck_assert_ptr_nonnull(a);
        ck_assert(!action_has_parent(a, "p1"));
        ck_assert_uint_ge(nparents(id), 1);
    }
    check_ok();
}

END_TEST

START_TEST(test_host_leave)
{
    chain_setup(4);
    ck_assert_int_eq(sched_state_host_leave(st, "h1", now, &acts), 0);
    ck_assert_int_eq(sched_state_peer_stat(st, "p1", &(struct sched_peer_stat){0}), DF_ENOTFOUND);
    ck_assert(action_has_parent(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2"), "s1"));
    ck_assert_uint_eq(sched_state_host_count(st), 4);
    ck_assert_int_eq(sched_state_host_leave(st, "h1", now, &acts), DF_ENOTFOUND);
    check_ok();
}

END_TEST

static void
list_host_cb(const struct sched_host_stat *h, void *arg)
{
    char *out = arg;

    strcat(out, h->id);
    strcat(out, h->type == SCHED_HOST_SEED ? "(seed) " : " ");
}

static void
list_peer_cb(const struct sched_peer_stat *p, const struct sched_host_stat *h, void *arg)
{
    char *out = arg;

    strcat(out, p->id);
    strcat(out, "@");
    strcat(out, h->id);
    strcat(out, p->state == SCHED_PEER_SUCCEEDED ? "(done) " : " ");
}

/* The manager's views: every host in announce order; a task's peers with their hosts. */
START_TEST(test_list_views)
{
    char out[256] = "", other[65];

    chain_setup(16);
    ck_assert_int_eq(sched_state_peer_finished(st, "p1", now, &acts), 0);
    sched_state_hosts_each(st, list_host_cb, out);
    ck_assert_str_eq(out, "seed(seed) h1 h2 h3 h4 ");
    out[0] = '\0';
    ck_assert_int_eq(sched_state_task_peers_each(st, task, list_peer_cb, out), 0);
    ck_assert_ptr_nonnull(strstr(out, "p1@h1(done) "));
    ck_assert_ptr_nonnull(strstr(out, "p2@h2 "));
    ck_assert_ptr_nonnull(strstr(out, "s1@seed"));
    ck_assert_int_eq(sched_state_task_peers_each(st, t_task_id(other, 999), list_peer_cb, out),
                     DF_ENOTFOUND);
    check_ok();
}

END_TEST

/* A host keeps the source that announced it first: a later announce does not move it. */
START_TEST(test_host_source_is_first)
{
    struct sched_host_info hi;
    struct sched_host_stat hs;

    start();
    memset(&hi, 0, sizeof(hi));
    hi.ip = "10.0.0.1";
    hi.hostname = "a";
    hi.source = "10.0.0.1";
    ck_assert_int_eq(sched_state_host_announce(st, &hi, now), 0);
    hi.source = "10.0.0.66";
    ck_assert_int_eq(sched_state_host_announce(st, &hi, now), 0);
    ck_assert_int_eq(sched_state_host_stat(st, "10.0.0.1-a", &hs), 0);
    ck_assert_str_eq(hs.source, "10.0.0.1");
    t_host(st, "h1", SCHED_HOST_NORMAL, 8, now);
    ck_assert_int_eq(sched_state_host_stat(st, "h1", &hs), 0);
    ck_assert_ptr_null(hs.source);
    check_ok();
}

END_TEST

/* Every parent named by a PARENTS action in acts still exists. */
static bool
parents_all_exist(void)
{
    for (size_t i = 0; i < acts.n; i++) {
        for (size_t k = 0; acts.v[i].kind == SCHED_ACT_PARENTS && k < acts.v[i].nparents; k++) {
            if (sched_state_peer_stat(st, acts.v[i].parents[k].peer_id,
                                      &(struct sched_peer_stat){0}) != 0)
                return false;
        }
    }
    return true;
}

/*
 * Found by fuzz_sched_state: a host leaving with two peers. Removing the first re-planned
 * c onto the second (a source) and queued PARENTS [b]; removing b emptied c's set again,
 * but the queued PARENTS stayed and named a peer that had left.
 */
START_TEST(test_host_leave_no_stale_parents)
{
    const struct sched_action *a;

    start();
    t_host(st, "seed", SCHED_HOST_SEED, 8, now);
    t_host(st, "h1", SCHED_HOST_NORMAL, 8, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 8, now);
    ck_assert_int_eq(reg("c", "h1", 16 * PIECE, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_TRIGGER_SEED, NULL));
    ck_assert_int_eq(reg("d", "h2", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_host_leave(st, "seed", now, &acts), 0);
    /* No seed left: b finds no parent and fetches from the source itself. */
    ck_assert_int_eq(reg("b", "h2", 16 * PIECE, false), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "b"));
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_host_leave(st, "h2", now, &acts), 0);
    ck_assert_uint_eq(nparents("c"), 0);
    /* c is told its set is empty; the PARENTS [b] queued before is gone. */
    a = sched_actions_find(&acts, SCHED_ACT_PARENTS, "c");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->nparents, 0);
    ck_assert(parents_all_exist());
    check_ok();
}

END_TEST

/*
 * Found by fuzz_sched_state: a reschedule refused for its second block-list entry had
 * already blocked the first and returned without re-planning, keeping a blocked parent.
 */
START_TEST(test_reschedule_refused_changes_nothing)
{
    const char *bad[] = {"p1", ""}, *over[] = {"p1", "x"}, *twice[] = {"p1", "p1"};
    struct sched_peer_stat ps;

    cfg.max_blocklist = 1;
    chain_setup(4);
    ck_assert_int_eq(sched_state_peer_reschedule(st, "p2", bad, 2, now, &acts), DF_EINVAL);
    check_ok();
    ck_assert_int_eq(sched_state_peer_reschedule(st, "p2", over, 2, now, &acts), DF_ELIMIT);
    check_ok();
    ck_assert(has_parent("p2", "p1"));
    ck_assert_int_eq(sched_state_peer_stat(st, "p2", &ps), 0);
    ck_assert_uint_eq(ps.blocked_count, 0);
    /* The same id twice needs one entry. */
    ck_assert_int_eq(sched_state_peer_reschedule(st, "p2", twice, 2, now, &acts), 0);
    ck_assert(!has_parent("p2", "p1"));
    ck_assert_int_eq(sched_state_peer_stat(st, "p2", &ps), 0);
    ck_assert_uint_eq(ps.blocked_count, 1);
    check_ok();
}

END_TEST

START_TEST(test_stalled_parent)
{
    const struct sched_action *a;

    chain_setup(4);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_peer_started(st, "p3", now), 0);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_int_eq(piece("p3", i, "p1"), 0);
    ck_assert(has_parent("p2", "p1"));
    sched_actions_reset(&acts);
    /* p1 sends p2 nothing for a stall timeout while p1 keeps getting pieces. */
    now += cfg.stall_timeout;
    ck_assert_int_eq(piece("s1", 4, NULL), 0);
    ck_assert_int_eq(piece("p1", 4, "s1"), 0);
    ck_assert_int_eq(piece("p3", 4, "p1"), 0);
    hosts_announce();
    sched_actions_reset(&acts);
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert(!has_parent("p2", "p1"));
    a = sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2");
    ck_assert_ptr_nonnull(a);
    ck_assert(!action_has_parent(a, "p1"));
    check_ok();
}

END_TEST

/* chain_setup(4), and the seed holds pieces 4..7 too: some nobody else has yet. */
static void
chain_setup_ahead(void)
{
    chain_setup(4);
    for (uint32_t i = 4; i < 8; i++)
        ck_assert_int_eq(piece("s1", i, NULL), 0);
    sched_actions_reset(&acts);
}

START_TEST(test_measure_estimates)
{
    /* s1 sent p1 four pieces of 4 MiB in 10 ms each. */
    chain_setup_ahead();
    ck_assert_uint_eq(host_estimate("seed"), 419430400);
    ck_assert_uint_eq(host_estimate("h1"), 0); /* uploaded nothing yet */
    /* p1 -> p2 a little slower: measured, and not clearly slower: nothing moves. */
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 12), 0);
    ck_assert_uint_eq(host_estimate("h1"), 349525333);
    ck_assert(has_parent("p2", "p1"));
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2"));
    /* A faster piece moves the estimate half way up, a slower one an eighth down. */
    ck_assert_int_eq(piece_cost("p2", 1, "p1", 10), 0);
    ck_assert_uint_eq(host_estimate("h1"), 384477867);
    ck_assert_int_eq(piece_cost("p2", 2, "p1", 12), 0);
    ck_assert_uint_eq(host_estimate("h1"), 380108800);
    /* No cost reported (an older peer): nothing measured. */
    ck_assert_int_eq(piece_cost("p2", 3, "p1", 0), 0);
    ck_assert_uint_eq(host_estimate("h1"), 380108800);
    /* A tick well within eight typical piece times: nothing moves either. */
    now += 30;
    hosts_announce();
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert(has_parent("p2", "p1"));
    ck_assert(has_parent("p1", "s1"));
    check_ok();
}

END_TEST

START_TEST(test_slow_parent_displaced)
{
    const struct sched_action *a;

    chain_setup_ahead();
    /* p1 gives p2 a tenth of what the seed gives: p2 takes p1's place under the seed. */
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 100), 0);
    ck_assert(has_parent("p2", "s1"));
    ck_assert(!has_parent("p2", "p1"));
    a = sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2");
    ck_assert(action_has_parent(a, "s1") && !action_has_parent(a, "p1"));
    /* p1, measured slow, waits for a parent with room rather than halve a fast one. */
    ck_assert_uint_eq(nparents("p1"), 0);
    check_ok();
    now += cfg.seed_wait / 2;
    hosts_announce();
    ck_assert_int_eq(piece("s1", 8, NULL), 0); /* the seed's source fetch goes on */
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert_uint_eq(nparents("p1"), 0);
    /* ... for seed_wait at most: then it takes one. */
    now += cfg.seed_wait / 2;
    hosts_announce();
    ck_assert_int_eq(piece("s1", 9, NULL), 0);
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert_uint_eq(nparents("p1"), 1);
    ck_assert_int_eq(peer_state("p1"), SCHED_PEER_RUNNING);
    check_ok();
}

END_TEST

/*
 * A newcomer takes a slower child's place at 1.5x (3x under a seed): p1 gives p2 a piece
 * in 35 ms where the seed gives one in 10, 3.5 times slower (under the 4x asked before),
 * and p2 takes p1's place under the seed.
 */
START_TEST(test_slower_parent_displaced)
{
    chain_setup_ahead();
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 35), 0);
    ck_assert(has_parent("p2", "s1"));
    ck_assert(!has_parent("p2", "p1"));
    check_ok();
}

END_TEST

/*
 * A plan that takes a peer's last parent away tells it so: PARENTS with the empty set. The
 * peer draws from the parents it was last given until told otherwise, so p1, displaced
 * from under the seed by the faster p2 and given no other parent yet, would go on sharing
 * the seed's uplink with p2.
 */
START_TEST(test_emptied_set_sent)
{
    const struct sched_action *a;

    chain_setup_ahead();
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 100), 0);
    ck_assert(has_parent("p2", "s1"));
    ck_assert_uint_eq(nparents("p1"), 0);
    a = sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->nparents, 0);
    /* A plan that changes nothing sends nothing: the next tick has no PARENTS for p1. */
    sched_actions_reset(&acts);
    now += 10;
    hosts_announce();
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert_uint_eq(nparents("p1"), 0);
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p1"));
    check_ok();
}

END_TEST

/*
 * The seed and p1 hold all 16 pieces, both finished, p2 (under p1) got the first
 * `common` of them, and p3 registers and ticks twice: does it get the seed?
 */
static bool
seed_after_finish(uint32_t common)
{
    chain_setup(16);
    ck_assert_int_eq(sched_state_peer_finished(st, "s1", now, &acts), 0);
    ck_assert_int_eq(sched_state_peer_finished(st, "p1", now, &acts), 0);
    for (uint32_t i = 0; i < common; i++)
        ck_assert_int_eq(piece("p2", i, "p1"), 0);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_peer_started(st, "p3", now), 0);
    for (int i = 0; i < 2; i++) {
        now += 1000;
        hosts_announce();
        ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    }
    check_ok();
    return has_parent("p3", "s1");
}

START_TEST(test_seed_serves_rare)
{
    /*
     * Nothing is the seed's alone any more, but pieces 8..15 only p1 has (one of the
     * three normal peers, at most a quarter: rare): the idle seed serves p3 too.
     */
    ck_assert(seed_after_finish(8));
}

END_TEST

START_TEST(test_seed_spared_when_common)
{
    /* Every piece held by two of the three: the seed is left alone. */
    ck_assert(!seed_after_finish(16));
}

END_TEST

/*
 * After chain_setup_ahead and a piece p1 -> p2: the seed feeds p1 four more pieces over a
 * second while p1 sends p2 nothing, then the tick.
 */
static void
p1_silent_for_a_second(void)
{
    for (uint32_t i = 0; i < 4; i++) {
        now += 250;
        ck_assert_int_eq(piece("s1", 8 + i, NULL), 0);
        ck_assert_int_eq(piece("p1", 4 + i, "s1"), 0);
    }
    ck_assert(has_parent("p2", "p1")); /* pieces alone move nothing */
    hosts_announce();
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
}

START_TEST(test_silent_parent_moved)
{
    chain_setup_ahead();
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 10), 0);
    ck_assert(has_parent("p2", "p1"));
    /*
     * p1 holds pieces 1..3 for p2 but sends nothing for a second, a hundred typical piece
     * times yet far below the stall timeout, while the seed keeps feeding p1: the next
     * tick moves p2 under the seed.
     */
    ck_assert_int_lt(1000, cfg.stall_timeout);
    p1_silent_for_a_second();
    ck_assert(has_parent("p2", "s1"));
    ck_assert(!has_parent("p2", "p1"));
    ck_assert_uint_le(host_estimate("h1"), (uint64_t)PIECE);
    check_ok();
}

END_TEST

/*
 * As test_silent_parent_moved, but p2's own host is measured slow first (p3 had a piece
 * from it at a tenth of the typical rate, then left): such a host downloads slowly once its
 * uplink is full, so p1's silence toward it leaves h1's estimate where its pieces put it.
 */
START_TEST(test_silence_toward_slow_host)
{
    uint64_t est;

    chain_setup_ahead();
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 10), 0);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_peer_started(st, "p3", now), 0);
    ck_assert(has_parent("p3", "p2"));
    ck_assert_int_eq(piece_cost("p3", 0, "p2", 100), 0);
    /* p3 has done its part (it would be placed elsewhere, under p1 perhaps): it leaves. */
    ck_assert_int_eq(sched_state_peer_leave(st, "p3", now, &acts), 0);
    est = host_estimate("h1");
    ck_assert_uint_gt(est, 0);
    ck_assert_uint_lt(host_estimate("h2"), est / 4);
    ck_assert(has_parent("p2", "p1"));
    p1_silent_for_a_second();
    ck_assert_uint_eq(host_estimate("h1"), est);
    check_ok();
}

END_TEST

/*
 * p1 is starved: p2 got all it had (0..3), then nothing came to p1 for ten typical piece
 * times. A piece p1 has just got is no silence toward p2; the same piece still not sent
 * nine typical piece times later is.
 */
START_TEST(test_starved_relay_not_silent)
{
    chain_setup(4);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_int_eq(piece_cost("p2", i, "p1", 0), 0); /* cut-through, in step */
    now += 100;
    ck_assert_int_eq(piece("s1", 4, NULL), 0);
    ck_assert_int_eq(piece("p1", 4, "s1"), 0);
    now += 1;
    hosts_announce();
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert(has_parent("p2", "p1"));
    ck_assert_uint_eq(host_estimate("h1"), 0);
    now += 90;
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert_uint_eq(host_estimate("h1"), (uint64_t)((double)PIECE * 1000.0 / 91.0 + 0.5));
    check_ok();
}

END_TEST

/*
 * As test_silent_parent_moved: p1's silence toward p2 sets h1's estimate. When p2's own
 * host is then measured slow (p3 had a piece from it at a tenth of the typical rate), that
 * silence said as much of h2's link: h1 is unmeasured again.
 */
START_TEST(test_silence_forgotten_when_child_slow)
{
    chain_setup_ahead();
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 10), 0);
    p1_silent_for_a_second();
    ck_assert(has_parent("p2", "s1"));
    ck_assert_uint_le(host_estimate("h1"), (uint64_t)PIECE);
    ck_assert_uint_gt(host_estimate("h1"), 0);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_peer_started(st, "p3", now), 0);
    ck_assert(has_parent("p3", "p2"));
    ck_assert_int_eq(piece_cost("p3", 0, "p2", 100), 0);
    ck_assert_uint_eq(host_estimate("h1"), 0);
    check_ok();
}

END_TEST

/*
 * Pieces p2 gets cut-through from p1 (reported without a cost): one that ends right after
 * p1 finished it measures nothing; one that ends ten typical piece times after p1 finished
 * it measures p1's host at a piece over that tail.
 */
START_TEST(test_relay_tail_measures)
{
    chain_setup(4);
    ck_assert_int_eq(piece("s1", 4, NULL), 0);
    ck_assert_int_eq(piece("p1", 4, "s1"), 0);
    now += 5;
    ck_assert_int_eq(piece_cost("p2", 4, "p1", 0), 0);
    ck_assert_uint_eq(host_estimate("h1"), 0);
    ck_assert_int_eq(piece("s1", 5, NULL), 0);
    ck_assert_int_eq(piece("p1", 5, "s1"), 0);
    now += 100;
    ck_assert_int_eq(piece_cost("p2", 5, "p1", 0), 0);
    ck_assert_uint_eq(host_estimate("h1"), (uint64_t)PIECE * 1000 / 100);
    /* A piece p1 finished ten pieces ago is no longer matched (it keeps the last few). */
    for (uint32_t i = 6; i < 16; i++) {
        ck_assert_int_eq(piece("s1", i, NULL), 0);
        ck_assert_int_eq(piece("p1", i, "s1"), 0);
    }
    now += 1000;
    ck_assert_int_eq(piece_cost("p2", 6, "p1", 0), 0);
    ck_assert_uint_eq(host_estimate("h1"), (uint64_t)PIECE * 1000 / 100);
    check_ok();
}

END_TEST

/*
 * chain_setup(4) (a typical piece time is 10 ms), p2 got pieces 0..got-1 from p1, then p1
 * `more` from the seed while p2 got nothing from p1 for five typical piece times, far
 * below the eight of a plain silence: is p2 still under p1 after the tick?
 */
static bool
lead_keeps_parent(uint32_t got, uint32_t more)
{
    chain_setup(4);
    for (uint32_t i = 0; i < got; i++)
        ck_assert_int_eq(piece_cost("p2", i, "p1", 10), 0);
    ck_assert(has_parent("p2", "p1"));
    for (uint32_t i = 4; i < 4 + more; i++) {
        now += 10;
        ck_assert_int_eq(piece_cost("s1", i, NULL, 10), 0);
        ck_assert_int_eq(piece_cost("p1", i, "s1", 10), 0);
    }
    now += 50 - 10 * (int64_t)more;
    hosts_announce();
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    check_ok();
    return has_parent("p2", "p1");
}

START_TEST(test_lead_moves_sooner)
{
    /* p1 piles up pieces p2 lacks (1..7: seven) and sends none: p2 moves to the seed. */
    ck_assert(!lead_keeps_parent(1, 4));
    ck_assert(has_parent("p2", "s1"));
}

END_TEST

START_TEST(test_small_lead_waits)
{
    /* p2 holds 0..3 and waits on 4..6 (a lead of three): a relay that keeps up, it stays. */
    ck_assert(lead_keeps_parent(4, 3));
}

END_TEST

START_TEST(test_nothing_more_to_give)
{
    chain_setup(2);
    /* p2 got pieces 0, 1 from p1 and 2 from elsewhere: p1 (still receiving) stays. */
    ck_assert_int_eq(piece("p2", 0, "p1"), 0);
    ck_assert_int_eq(piece("p2", 1, "p1"), 0);
    ck_assert(has_parent("p2", "p1"));
    /* p1 leaves the source behind and finishes: it has everything, so it stays too. */
    ck_assert_int_eq(sched_state_peer_finished(st, "p1", now, &acts), 0);
    ck_assert(has_parent("p2", "p1"));
    for (uint32_t i = 2; i < 16; i++)
        ck_assert_int_eq(piece("p2", i, "p1"), 0);
    check_ok();
}

END_TEST

/*
 * A finished parent's uplink goes at once to the peer furthest behind. A chain s1 -> p1 ->
 * p2 -> p3 -> p4, p1 holding everything and finished; p2 gets its last pieces from p1, so
 * p1 has nothing more for it and is free: it becomes p4's second parent (p4 lacks 12 pieces
 * and p3 8, each at one parent's rate), in the same event, not at the next tick.
 */
/*
 * chain_setup(16) and a chain p1 -> p2 -> p3 -> p4 below it, p2 holding 0..got2-1, p3
 * 0..got3-1 and p4 0..3; then p1 finishes.
 */
static void
chain4_setup(uint32_t got2, uint32_t got3)
{
    chain_setup(16);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_peer_started(st, "p3", now), 0);
    ck_assert(has_parent("p3", "p2"));
    ck_assert_int_eq(reg("p4", "h4", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_peer_started(st, "p4", now), 0);
    ck_assert(has_parent("p4", "p3"));
    for (uint32_t i = 0; i < got2; i++)
        ck_assert_int_eq(piece("p2", i, "p1"), 0);
    for (uint32_t i = 0; i < got3; i++)
        ck_assert_int_eq(piece("p3", i, "p2"), 0);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_int_eq(piece("p4", i, "p3"), 0);
    ck_assert_int_eq(sched_state_peer_finished(st, "p1", now, &acts), 0);
}

START_TEST(test_finished_parent_offered)
{
    const struct sched_action *a;

    chain4_setup(12, 8);
    sched_actions_reset(&acts);
    for (uint32_t i = 12; i < 16; i++)
        ck_assert_int_eq(piece("p2", i, "p1"), 0);
    ck_assert(!has_parent("p2", "p1"));
    ck_assert(has_parent("p4", "p1") && has_parent("p4", "p3"));
    ck_assert(!has_parent("p3", "p1"));
    a = sched_actions_find(&acts, SCHED_ACT_PARENTS, "p4");
    ck_assert(action_has_parent(a, "p1") && action_has_parent(a, "p3"));
    check_ok();
}

END_TEST

/*
 * A parent silent while the child's other parents feed it was not asked (a child claims
 * each piece from one parent): p4 draws from finished p1, a piece every 2.5 typical piece
 * times, and from p3, which holds 4..11 for it and sends nothing for ten: p3's host keeps
 * its estimate and p3 stays p4's parent.
 */
START_TEST(test_silence_while_fed)
{
    uint64_t est;

    chain4_setup(16, 12);
    ck_assert(has_parent("p4", "p1") && has_parent("p4", "p3"));
    est = host_estimate("h3");
    for (uint32_t i = 12; i < 16; i++) {
        now += 25;
        ck_assert_int_eq(piece_cost("p4", i, "p1", 10), 0);
    }
    hosts_announce();
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert(has_parent("p4", "p3"));
    ck_assert_uint_eq(host_estimate("h3"), est);
    check_ok();
}

END_TEST

/*
 * The seed's child, the head of the pipeline, takes no child over its fanout: every piece
 * enters the swarm through its uplink (the seed sends each once), and a leaf drawing from
 * it halves what the rest of the swarm gets. p2 takes slow p1's place under the seed and
 * p3 becomes p2's child; p1, measured slow, gets no place at p2 one over the fanout.
 */
START_TEST(test_head_takes_no_leaf)
{
    chain_setup_ahead();
    ck_assert_int_eq(piece_cost("p2", 0, "p1", 100), 0);
    ck_assert(has_parent("p2", "s1"));
    ck_assert_uint_eq(nparents("p1"), 0);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert_int_eq(sched_state_peer_started(st, "p3", now), 0);
    ck_assert(has_parent("p3", "p2"));
    for (uint32_t i = 1; i < 8; i++)
        ck_assert_int_eq(piece("p2", i, "s1"), 0);
    now += 10;
    hosts_announce();
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert(!has_parent("p1", "p2"));
    check_ok();
}

END_TEST

START_TEST(test_piece_digests)
{
    struct df_digest d, want;
    struct sched_piece pc;

    chain_setup(2);
    ck_assert_int_eq(sched_state_piece_digest(st, task, 0, &d), 0);
    digest_of(0, &want);
    ck_assert(df_digest_is_equal(&d, &want));
    ck_assert_int_eq(sched_state_piece_digest(st, task, 2, &d), DF_ENOTFOUND);
    /* A child's report (with its parent's idea of the digest) changes nothing. */
    ck_assert_int_eq(piece("p2", 0, "p1"), 0);
    ck_assert_int_eq(sched_state_piece_digest(st, task, 0, &d), 0);
    ck_assert(df_digest_is_equal(&d, &want));
    /* The source saying otherwise is refused. */
    memset(&pc, 0, sizeof(pc));
    pc.number = 0;
    pc.length = PIECE;
    pc.has_digest = true;
    digest_of(7, &pc.digest);
    ck_assert_int_eq(sched_state_piece_finished(st, "s1", &pc, now, &acts), DF_EDIGEST);
    check_ok();
}

END_TEST

/* A source report of piece n whose digest is digest_of(fake). */
static int
source_piece(const char *peer, uint32_t n, uint32_t fake)
{
    struct sched_piece pc;

    memset(&pc, 0, sizeof(pc));
    pc.number = n;
    pc.length = PIECE;
    pc.has_digest = true;
    digest_of(fake, &pc.digest);
    return sched_state_piece_finished(st, peer, &pc, now, &acts);
}

static uint32_t
distrusted(void)
{
    struct sched_task_stat ts;

    ck_assert_int_eq(sched_state_task_stat(st, task, &ts), 0);
    return ts.distrusted_count;
}

static void
expect_digest(uint32_t n, uint32_t of)
{
    struct df_digest d, want;

    ck_assert_int_eq(sched_state_piece_digest(st, task, n, &d), 0);
    digest_of(of, &want);
    ck_assert(df_digest_is_equal(&d, &want));
}

/*
 * C3/M2: a normal host reported fake digests first; the seed's report contradicts them. The
 * seed wins (never "first wins"): the normal host is distrusted (no parent, no reports),
 * its digests are gone, and every other peer fails with DATA_LOSS to refetch.
 */
START_TEST(test_conflict_seed_wins)
{
    struct df_digest d;

    cfg.max_back_to_source = 2;
    cfg.stall_timeout = 2 * cfg.seed_wait; /* s1 stays a source while p3 waits for it */
    start();
    hosts_announce();
    ck_assert_int_eq(reg("x1", "h1", 16 * PIECE, true), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "x1"));
    ck_assert_int_eq(source_piece("x1", 0, 100), 0);
    ck_assert_int_eq(source_piece("x1", 1, 101), 0);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert(has_parent("p2", "x1"));
    ck_assert_int_eq(reg("s1", "seed", 16 * PIECE, true), 0);
    ck_assert_int_eq(peer_state("s1"), SCHED_PEER_BACK_TO_SOURCE);
    sched_actions_reset(&acts);
    ck_assert_int_eq(source_piece("s1", 0, 0), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_DIGESTS_CLEARED, NULL));
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_DATA_LOSS, "x1"));
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_DATA_LOSS, "p2"));
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_PARENTS, "p2"));
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_DATA_LOSS, "s1"));
    ck_assert_int_eq(peer_state("x1"), SCHED_PEER_FAILED);
    ck_assert_int_eq(peer_state("p2"), SCHED_PEER_FAILED);
    ck_assert_int_eq(peer_state("s1"), SCHED_PEER_BACK_TO_SOURCE);
    expect_digest(0, 0);
    ck_assert_int_eq(sched_state_piece_digest(st, task, 1, &d), DF_ENOTFOUND);
    ck_assert_uint_eq(distrusted(), 1);
    check_ok();
    /* The distrusted host: no more reports, no slot, never a parent. */
    sched_actions_reset(&acts);
    ck_assert_int_eq(reg("x2", "h1", 16 * PIECE, true), 0);
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_BACK_TO_SOURCE, "x2"));
    ck_assert_int_eq(source_piece("x2", 2, 102), DF_EPERM);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), 0);
    ck_assert(!has_parent("p3", "x2"));
    /* the seed, a last resort for seed_wait, is p3's parent then; x2 never is */
    now += cfg.seed_wait;
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert(has_parent("p3", "s1"));
    ck_assert(!has_parent("p3", "x2"));
    check_ok();
}

END_TEST

/* The fake digests outlive their reporter (gone after its slot was freed): a seed still wins. */
START_TEST(test_conflict_seed_wins_reporter_gone)
{
    start();
    hosts_announce();
    ck_assert_int_eq(reg("x1", "h1", 16 * PIECE, true), 0);
    ck_assert_int_eq(source_piece("x1", 0, 100), 0);
    ck_assert_int_eq(sched_state_peer_leave(st, "x1", now, &acts), 0);
    ck_assert_int_eq(reg("s1", "seed", 16 * PIECE, true), 0);
    ck_assert_int_eq(peer_state("s1"), SCHED_PEER_BACK_TO_SOURCE);
    sched_actions_reset(&acts);
    ck_assert_int_eq(source_piece("s1", 0, 0), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_DIGESTS_CLEARED, NULL));
    ck_assert_int_eq(peer_state("s1"), SCHED_PEER_BACK_TO_SOURCE);
    expect_digest(0, 0);
    check_ok();
}

END_TEST

/* A normal host contradicting a seed loses alone: the seed's table stands. */
START_TEST(test_conflict_against_seed_loses)
{
    cfg.max_back_to_source = 2;
    chain_setup(2);
    ck_assert_int_eq(reg("x1", "h3", 16 * PIECE, true), 0);
    ck_assert_int_eq(peer_state("x1"), SCHED_PEER_BACK_TO_SOURCE);
    sched_actions_reset(&acts);
    ck_assert_int_eq(source_piece("x1", 0, 100), DF_EDIGEST);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_DATA_LOSS, "x1"));
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_DATA_LOSS, "p1"));
    ck_assert_ptr_null(sched_actions_find(&acts, SCHED_ACT_DIGESTS_CLEARED, NULL));
    ck_assert_int_eq(peer_state("x1"), SCHED_PEER_FAILED);
    ck_assert_int_eq(peer_state("s1"), SCHED_PEER_BACK_TO_SOURCE);
    ck_assert_int_eq(peer_state("p1"), SCHED_PEER_RUNNING);
    expect_digest(0, 0);
    ck_assert_uint_eq(distrusted(), 1);
    check_ok();
}

END_TEST

/*
 * Two normal hosts disagree: neither is trusted, the table is cleared, every peer fails
 * with DATA_LOSS and the seed host is triggered for a fresh fetch.
 */
START_TEST(test_conflict_nobody_wins)
{
    struct df_digest d;
    const struct sched_action *a;

    cfg.max_back_to_source = 2;
    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 8, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 8, now);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, true), 0);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, true), 0);
    ck_assert_int_eq(source_piece("p1", 0, 100), 0);
    t_host(st, "seed", SCHED_HOST_SEED, 8, now);
    sched_actions_reset(&acts);
    ck_assert_int_eq(source_piece("p2", 0, 0), DF_EDIGEST);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_DATA_LOSS, "p1"));
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_DATA_LOSS, "p2"));
    a = sched_actions_find(&acts, SCHED_ACT_TRIGGER_SEED, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->host_id, "seed");
    ck_assert_int_eq(sched_state_piece_digest(st, task, 0, &d), DF_ENOTFOUND);
    ck_assert_uint_eq(distrusted(), 2);
    check_ok();
}

END_TEST

/* M2: a back-to-source peer that makes no progress does not hold the only slot forever. */
START_TEST(test_stalled_source_freed)
{
    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 8, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 8, now);
    ck_assert_int_eq(reg("x1", "h1", 16 * PIECE, true), 0);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert(has_parent("p2", "x1"));
    sched_actions_reset(&acts);
    /* progress keeps it: a piece half-way */
    now += cfg.stall_timeout / 2;
    ck_assert_int_eq(source_piece("x1", 0, 0), 0);
    now += cfg.stall_timeout / 2;
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert_int_eq(peer_state("x1"), SCHED_PEER_BACK_TO_SOURCE);
    now += cfg.stall_timeout;
    ck_assert_int_eq(sched_state_tick(st, now, &acts), 0);
    ck_assert_ptr_nonnull(sched_actions_find(&acts, SCHED_ACT_FAIL, "x1"));
    ck_assert_int_eq(peer_state("x1"), SCHED_PEER_FAILED);
    /* the slot is free again: p2 (which x1 no longer feeds) goes to the source */
    ck_assert_int_eq(peer_state("p2"), SCHED_PEER_BACK_TO_SOURCE);
    check_ok();
}

END_TEST

START_TEST(test_errors_and_caps)
{
    struct sched_host_info hi;

    cfg.max_hosts = 3;
    cfg.max_peers_per_task = 2;
    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h3", SCHED_HOST_NORMAL, 0, now);
    memset(&hi, 0, sizeof(hi));
    hi.ip = "10.0.0.4";
    hi.hostname = "h4";
    ck_assert_int_eq(sched_state_host_announce(st, &hi, now), DF_ELIMIT);
    hi.ip = NULL;
    ck_assert_int_eq(sched_state_host_announce(st, &hi, now), DF_EINVAL);
    ck_assert_int_eq(reg("p1", "nohost", 16 * PIECE, false), DF_ENOTFOUND);
    ck_assert_int_eq(t_register(st, "p1", "h1", "ABC", 16 * PIECE, PIECE, false, now, &acts),
                     DF_EINVAL);
    ck_assert_uint_eq(sched_state_task_count(st), 0);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p1", "h2", 16 * PIECE, false), DF_EEXIST);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p3", "h3", 16 * PIECE, false), DF_ELIMIT);
    /* Geometry that contradicts the task's. */
    {
        char other[65];

        t_task_id(other, 2);
        ck_assert_int_eq(t_register(st, "q1", "h1", other, 16 * PIECE, PIECE, false, now, &acts),
                         0);
        ck_assert_int_eq(t_register(st, "q2", "h2", other, 17 * PIECE, PIECE, false, now, &acts),
                         DF_EINVAL);
    }
    ck_assert_int_eq(sched_state_piece_failed(st, "nope", 0, "p1", now, &acts), DF_ENOTFOUND);
    ck_assert_uint_eq(sched_state_peer_count(st), 3);
    check_ok();
}

END_TEST

START_TEST(test_gc_by_time)
{
    struct sched_gc_stats gs;

    cfg.host_announce_interval = 1000;
    cfg.peer_ttl = 10000;
    cfg.task_ttl = 5000;
    start();
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(reg("p1", "h1", 16 * PIECE, false), 0);
    ck_assert_int_eq(reg("p2", "h2", 16 * PIECE, false), 0);
    ck_assert(has_parent("p2", "p1"));
    /* h2 keeps announcing, h1 does not: h1 and p1 go, p2 is re-planned. */
    ck_assert_int_eq(sched_state_gc(st, now + 2000, &acts, &gs), 0);
    ck_assert_uint_eq(gs.hosts, 0);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now + 2000);
    ck_assert_int_eq(sched_state_gc(st, now + 2001, &acts, &gs), 0);
    ck_assert_uint_eq(gs.hosts, 1);
    ck_assert_uint_eq(gs.peers, 1);
    ck_assert_uint_eq(sched_state_host_count(st), 1);
    ck_assert_uint_eq(nparents("p2"), 0);
    check_ok();
    /* p2 (last active at registration) idles past the peer TTL; its host announces. */
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now + 10000);
    ck_assert_int_eq(sched_state_gc(st, now + 10000, &acts, &gs), 0);
    ck_assert_uint_eq(gs.peers, 0);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now + 12500);
    ck_assert_int_eq(sched_state_gc(st, now + 12500, &acts, &gs), 0);
    ck_assert_uint_eq(gs.peers, 1);
    ck_assert_uint_eq(sched_state_peer_count(st), 0);
    ck_assert_int_eq(task_state(), SCHED_TASK_LEAVE);
    /* The empty task is kept for the task TTL from its last change. */
    ck_assert_int_eq(sched_state_gc(st, now + 12500 + 5000, &acts, &gs), 0);
    ck_assert_uint_eq(gs.tasks, 0);
    ck_assert_int_eq(sched_state_gc(st, now + 12500 + 5001, &acts, &gs), 0);
    ck_assert_uint_eq(gs.tasks, 1);
    ck_assert_uint_eq(sched_state_task_count(st), 0);
    check_ok();
}

END_TEST

/* Thousands of random events on a few tasks: every invariant holds after each one. */
START_TEST(test_random_invariants)
{
    enum { NHOSTS = 12, NTASKS = 3, NPEERS = 60, NOPS = 6000 };

    char tasks[NTASKS][65], hosts[NHOSTS][8], peers[NPEERS][8];
    uint64_t rng = 0x5eed5eedULL + (uint64_t)_i;
    struct df_error err = {{0}};
    unsigned ok = 0;

    cfg.max_parents = 3;
    cfg.max_back_to_source = 2;
    cfg.stall_timeout = 3000;
    cfg.wait_timeout = 5000;
    cfg.seed_timeout = 2000;
    cfg.host_announce_interval = 20000;
    cfg.peer_ttl = 60000;
    cfg.task_ttl = 10000;
    start();
    for (unsigned i = 0; i < NTASKS; i++)
        t_task_id(tasks[i], 100 + i);
    for (unsigned i = 0; i < NHOSTS; i++) {
        snprintf(hosts[i], sizeof(hosts[i]), "h%u", i);
        t_host(st, hosts[i], i < 2 ? SCHED_HOST_SEED : SCHED_HOST_NORMAL, 2 + t_rand_below(&rng, 4),
               now);
    }
    for (unsigned i = 0; i < NPEERS; i++)
        snprintf(peers[i], sizeof(peers[i]), "q%u", i);
    for (unsigned op = 0; op < NOPS; op++) {
        const char *p = peers[t_rand_below(&rng, NPEERS)];
        const char *q = peers[t_rand_below(&rng, NPEERS)];
        uint32_t r = t_rand_below(&rng, 100), n = t_rand_below(&rng, 8);
        struct sched_peer_stat ps;
        int rv = 0;

        now += t_rand_below(&rng, 300);
        if (r < 14) {
            unsigned ti = t_rand_below(&rng, NTASKS);

            rv = t_register(st, p, hosts[t_rand_below(&rng, NHOSTS)], tasks[ti],
                            ti == 2 ? -1 : (int64_t)(8 * PIECE), ti == 2 ? 0 : PIECE,
                            t_rand_below(&rng, 10) == 0, now, &acts);
        } else if (r < 20) {
            rv = sched_state_peer_started(st, p, now);
        } else if (r < 45) {
            /* A piece from one of its parents, or from the source for a source. */
            if (sched_state_peer_stat(st, p, &ps) == 0) {
                struct sched_piece pc = {0};

                pc.number = n;
                pc.length = PIECE;
                if (ps.state != SCHED_PEER_BACK_TO_SOURCE)
                    pc.parent_id = ps.parent_count > 0
                                           ? ps.parents[t_rand_below(&rng, ps.parent_count)]
                                           : q;
                rv = sched_state_piece_finished(st, p, &pc, now, &acts);
            }
        } else if (r < 52) {
            if (sched_state_peer_stat(st, p, &ps) == 0 && ps.parent_count > 0)
                rv = sched_state_piece_failed(
                        st, p, n, ps.parents[t_rand_below(&rng, ps.parent_count)], now, &acts);
        } else if (r < 56) {
            const char *block[1] = {q};

            rv = sched_state_peer_reschedule(st, p, block, t_rand_below(&rng, 2), now, &acts);
        } else if (r < 61) {
            rv = sched_state_peer_finished(st, p, now, &acts);
        } else if (r < 64) {
            rv = sched_state_peer_failed(st, p, now, &acts);
        } else if (r < 69) {
            rv = sched_state_peer_leave(st, p, now, &acts);
        } else if (r < 71) {
            rv = sched_state_peer_back_to_source_started(st, p, -1, 0, now, &acts);
        } else if (r < 72) {
            unsigned hi = t_rand_below(&rng, NHOSTS);

            rv = sched_state_host_leave(st, hosts[hi], now, &acts);
            t_host(st, hosts[hi], hi < 2 ? SCHED_HOST_SEED : SCHED_HOST_NORMAL, 3, now);
        } else if (r < 85) {
            unsigned hi = t_rand_below(&rng, NHOSTS);

            t_host(st, hosts[hi], hi < 2 ? SCHED_HOST_SEED : SCHED_HOST_NORMAL, 3, now);
        } else if (r < 97) {
            rv = sched_state_tick(st, now, &acts);
        } else {
            rv = sched_state_gc(st, now, &acts, NULL);
        }
        ck_assert_msg(rv != DF_EINTERNAL, "op %u", op);
        ok += rv == 0;
        ck_assert_msg(sched_state_check(st, &err) == 0, "op %u: %s", op, err.msg);
        sched_actions_reset(&acts);
    }
    /* Most events are legal ones; the rest are refused cleanly. */
    ck_assert_uint_gt(ok, NOPS / 3);
}

END_TEST

Suite *test_sched_state_suite(void);

Suite *
test_sched_state_suite(void)
{
    Suite *s = suite_create("sched_state");
    TCase *tc = tcase_create("flows");
    TCase *tr = tcase_create("random");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_register_empty);
    tcase_add_test(tc, test_seed_serves_rare);
    tcase_add_test(tc, test_seed_spared_when_common);
    tcase_add_test(tc, test_host_source_is_first);
    tcase_add_test(tc, test_register_tiny);
    tcase_add_test(tc, test_register_small);
    tcase_add_test(tc, test_register_unknown_length);
    tcase_add_test(tc, test_register_seed_trigger);
    tcase_add_test(tc, test_geometry_learned_from_seed);
    tcase_add_test(tc, test_seed_timeout_falls_back);
    tcase_add_test(tc, test_no_seed_back_to_source_cap);
    tcase_add_test(tc, test_startup_grace_waits_for_seed);
    tcase_add_test(tc, test_startup_grace_ends);
    tcase_add_test(tc, test_startup_grace_requested_source);
    tcase_add_test(tc, test_wait_timeout_fails);
    tcase_add_test(tc, test_dag_no_cycle);
    tcase_add_test(tc, test_strikes_block);
    tcase_add_test(tc, test_pipeline);
    tcase_add_test(tc, test_parent_leave_replans_children);
    tcase_add_test(tc, test_host_leave);
    tcase_add_test(tc, test_host_leave_no_stale_parents);
    tcase_add_test(tc, test_reschedule_refused_changes_nothing);
    tcase_add_test(tc, test_stalled_parent);
    tcase_add_test(tc, test_nothing_more_to_give);
    tcase_add_test(tc, test_finished_parent_offered);
    tcase_add_test(tc, test_silence_while_fed);
    tcase_add_test(tc, test_slower_parent_displaced);
    tcase_add_test(tc, test_head_takes_no_leaf);
    tcase_add_test(tc, test_measure_estimates);
    tcase_add_test(tc, test_slow_parent_displaced);
    tcase_add_test(tc, test_emptied_set_sent);
    tcase_add_test(tc, test_silent_parent_moved);
    tcase_add_test(tc, test_silence_toward_slow_host);
    tcase_add_test(tc, test_relay_tail_measures);
    tcase_add_test(tc, test_starved_relay_not_silent);
    tcase_add_test(tc, test_silence_forgotten_when_child_slow);
    tcase_add_test(tc, test_lead_moves_sooner);
    tcase_add_test(tc, test_small_lead_waits);
    tcase_add_test(tc, test_piece_digests);
    tcase_add_test(tc, test_conflict_seed_wins);
    tcase_add_test(tc, test_conflict_seed_wins_reporter_gone);
    tcase_add_test(tc, test_conflict_against_seed_loses);
    tcase_add_test(tc, test_conflict_nobody_wins);
    tcase_add_test(tc, test_stalled_source_freed);
    tcase_add_test(tc, test_errors_and_caps);
    tcase_add_test(tc, test_gc_by_time);
    tcase_add_test(tc, test_list_views);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_set_timeout(tr, 120);
    tcase_add_loop_test(tr, test_random_invariants, 0, 4);
    suite_add_tcase(s, tr);
    return s;
}
