/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/df_time.h"
#include "df/store_sql.h"

#include "../../../src/mgr/mgr.h"
#include "../unit_tmp.h"

#define TTL 12000

static char tmpdir[64], datadir[128];
static const char *const groups[] = {"schedulers"};
static struct store_sql *db;

static void
setup(void)
{
    uint8_t key[MGR_JWT_KEY_LEN], pk[MGR_JWT_KEY_LEN];
    struct df_error err;

    unit_tmp_make(tmpdir, sizeof(tmpdir), "mgrreg");
    snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
    unsetenv(MGR_ROOT_ENV);
    db = NULL;
    ck_assert_msg(mgr_db_open(datadir, 1000, groups, 1, key, pk, &db, &err) == 0, "%s", err.msg);
}

static void
teardown(void)
{
    store_sql_close(db);
    unit_tmp_remove(tmpdir);
}

static int64_t
add_scheduler(const char *hostname, const char *ip, int64_t cluster, int64_t now)
{
    struct mgr_reg_update u = {.hostname = hostname, .ip = ip, .port = 8002, .cluster_id = cluster};
    int64_t id = 0;

    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SCHEDULER, &u, now, &id), 0);
    ck_assert_int_gt(id, 0);
    return id;
}

/* The number of schedulers of cluster 1, and of those active. */
static size_t
count_schedulers(bool active_only)
{
    struct mgr_reg_host *h = NULL;
    size_t n = 99;

    ck_assert_int_eq(mgr_reg_list(db, MGR_REG_SCHEDULER, 1, active_only, &h, &n), 0);
    free(h);
    return n;
}

/* A new scheduler is inactive until its keepalive stream opens; an update keeps its row. */
START_TEST(test_register_then_keepalive)
{
    int64_t now = df_time_wall_ms(), id = add_scheduler("sched-a", "127.0.1.2", 1, now);
    struct mgr_reg_host *h = NULL;
    size_t n = 0;

    ck_assert_int_eq(add_scheduler("sched-a", "127.0.1.2", 1, now + 1), id);
    ck_assert_uint_eq(count_schedulers(false), 1);
    ck_assert_uint_eq(count_schedulers(true), 0);
    ck_assert_int_eq(mgr_reg_keepalive(db, MGR_REG_SCHEDULER, "sched-a", NULL, 1, true, now, TTL),
                     0);
    ck_assert_int_eq(mgr_reg_list(db, MGR_REG_SCHEDULER, 1, true, &h, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(h[0].hostname, "sched-a");
    ck_assert_str_eq(h[0].ip, "127.0.1.2");
    ck_assert_int_eq(h[0].port, 8002);
    ck_assert(h[0].active);
    free(h);
    /* a keepalive of a host that never registered is refused */
    ck_assert_int_eq(mgr_reg_keepalive(db, MGR_REG_SCHEDULER, "nobody", NULL, 1, true, now, TTL),
                     DF_ENOTFOUND);
    /* an unknown cluster is not found either, not a constraint error */
    {
        struct mgr_reg_update u = {.hostname = "x", .ip = "127.0.1.9", .cluster_id = 42};
        int64_t other;

        ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SCHEDULER, &u, now, &other), DF_ENOTFOUND);
    }
}

END_TEST

/* Keepalives that stop count for TTL ms after the last one (the clock is the caller's). */
START_TEST(test_keepalive_expires)
{
    int64_t now = df_time_wall_ms();

    add_scheduler("sched-a", "127.0.1.2", 1, now);
    /* the last keepalive 11 s ago: still within the 12 s */
    ck_assert_int_eq(mgr_reg_keepalive(db, MGR_REG_SCHEDULER, "sched-a", "127.0.1.2", 1, true,
                                       now - 11000, TTL),
                     0);
    ck_assert_uint_eq(count_schedulers(true), 1);
    /* 13 s ago: expired, although the stream never said it ended */
    ck_assert_int_eq(mgr_reg_keepalive(db, MGR_REG_SCHEDULER, "sched-a", "127.0.1.2", 1, true,
                                       now - 13000, TTL),
                     0);
    ck_assert_uint_eq(count_schedulers(true), 0);
    ck_assert_uint_eq(count_schedulers(false), 1);
}

END_TEST

/* The end of the stream makes the host inactive at once. */
START_TEST(test_stream_end_inactive)
{
    int64_t now = df_time_wall_ms();

    add_scheduler("sched-a", "127.0.1.2", 1, now);
    add_scheduler("sched-b", "127.0.1.3", 1, now);
    ck_assert_int_eq(mgr_reg_keepalive(db, MGR_REG_SCHEDULER, "sched-a", NULL, 1, true, now, TTL),
                     0);
    ck_assert_int_eq(mgr_reg_keepalive(db, MGR_REG_SCHEDULER, "sched-b", NULL, 1, true, now, TTL),
                     0);
    ck_assert_uint_eq(count_schedulers(true), 2);
    ck_assert_int_eq(mgr_reg_keepalive(db, MGR_REG_SCHEDULER, "sched-a", NULL, 1, false, now, TTL),
                     0);
    ck_assert_uint_eq(count_schedulers(true), 1);
}

END_TEST

/* Seed peers and peers: listed per cluster, peers active until their alive_until. */
START_TEST(test_seed_peers_and_peers)
{
    int64_t now = df_time_wall_ms(), id;
    struct mgr_reg_update seed = {.hostname = "seed-1",
                                  .ip = "127.0.1.4",
                                  .port = 65000,
                                  .download_port = 65002,
                                  .cluster_id = 1};
    struct mgr_reg_update peer = {.hostname = "peer-1",
                                  .ip = "127.0.1.5",
                                  .version = "1.0",
                                  .cluster_id = 1,
                                  .alive_until = now + 60000};
    struct mgr_reg_host *h = NULL;
    size_t n = 0;

    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SEED_PEER, &seed, now, &id), 0);
    ck_assert_int_eq(
            mgr_reg_keepalive(db, MGR_REG_SEED_PEER, "seed-1", "127.0.1.4", 1, true, now, TTL), 0);
    ck_assert_int_eq(mgr_reg_list(db, MGR_REG_SEED_PEER, 0, true, &h, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(h[0].type, "super");
    ck_assert_int_eq(h[0].download_port, 65002);
    free(h);
    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_PEER, &peer, now, &id), 0);
    peer.hostname = "peer-2";
    peer.alive_until = now - 1;
    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_PEER, &peer, now, &id), 0);
    ck_assert_int_eq(mgr_reg_list(db, MGR_REG_PEER, 1, false, &h, &n), 0);
    ck_assert_uint_eq(n, 2);
    free(h);
    ck_assert_int_eq(mgr_reg_list(db, MGR_REG_PEER, 1, true, &h, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(h[0].hostname, "peer-1");
    ck_assert_str_eq(h[0].type, "normal");
    free(h);
}

END_TEST

/* Column col of row id of a GET statement (slot), copied into out. */
static void
get_col(enum mgr_stmt slot, int64_t id, int col, char *out, size_t len)
{
    sqlite3_stmt *st = mgr_db_stmt(db, slot);

    ck_assert_ptr_nonnull(st);
    sqlite3_bind_int64(st, 1, id);
    ck_assert_int_eq(mgr_db_step(db, st), STORE_SQL_ROW);
    snprintf(out, len, "%s", mgr_db_col_text(st, col));
    sqlite3_reset(st);
}

/*
 * Schedulers and seed peers store the version and commit they register with; an upsert
 * without them keeps the stored ones. The REST GETs carry the cluster's columns after the
 * host's (mgr_host.c reads git_version, git_commit, then the cluster's id and name).
 */
START_TEST(test_versions_and_clusters)
{
    int64_t now = df_time_wall_ms(), sid = 0, pid = 0;
    struct mgr_reg_update s = {.hostname = "sched-v",
                               .ip = "127.0.1.2",
                               .port = 8002,
                               .version = "1.2.3",
                               .commit = "abc",
                               .cluster_id = 1};
    struct mgr_reg_update p = {.hostname = "seed-v",
                               .ip = "127.0.1.4",
                               .port = 65000,
                               .version = "1.2.3",
                               .commit = "abc",
                               .cluster_id = 1};
    char v[64];

    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SCHEDULER, &s, now, &sid), 0);
    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SEED_PEER, &p, now, &pid), 0);
    get_col(MGR_STMT_SCHED_GET, sid, 13, v, sizeof(v));
    ck_assert_str_eq(v, "1.2.3");
    get_col(MGR_STMT_SEED_GET, pid, 15, v, sizeof(v));
    ck_assert_str_eq(v, "abc");
    /* an update without them keeps them; a new version replaces them */
    s.version = s.commit = NULL;
    p.version = "";
    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SCHEDULER, &s, now + 1, &sid), 0);
    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SEED_PEER, &p, now + 1, &pid), 0);
    get_col(MGR_STMT_SCHED_GET, sid, 14, v, sizeof(v));
    ck_assert_str_eq(v, "abc");
    get_col(MGR_STMT_SEED_GET, pid, 14, v, sizeof(v));
    ck_assert_str_eq(v, "1.2.3");
    s.version = "2.0.0";
    ck_assert_int_eq(mgr_reg_update(db, MGR_REG_SCHEDULER, &s, now + 2, &sid), 0);
    get_col(MGR_STMT_SCHED_GET, sid, 13, v, sizeof(v));
    ck_assert_str_eq(v, "2.0.0");
    /* the nested cluster: id, then name three columns on */
    get_col(MGR_STMT_SCHED_GET, sid, 15, v, sizeof(v));
    ck_assert_str_eq(v, "1");
    get_col(MGR_STMT_SCHED_GET, sid, 18, v, sizeof(v));
    ck_assert_str_eq(v, "cluster-1");
    get_col(MGR_STMT_SEED_GET, pid, 19, v, sizeof(v));
    ck_assert_str_eq(v, "cluster-1");
}

END_TEST

Suite *test_mgr_registry_suite(void);

Suite *
test_mgr_registry_suite(void)
{
    Suite *s = suite_create("mgr_registry");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_register_then_keepalive);
    tcase_add_test(tc, test_keepalive_expires);
    tcase_add_test(tc, test_stream_end_inactive);
    tcase_add_test(tc, test_seed_peers_and_peers);
    tcase_add_test(tc, test_versions_and_clusters);
    suite_add_tcase(s, tc);
    return s;
}
