/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sqlite3.h>

#include "df/store_sql.h"

#include "../../../src/mgr/mgr.h"
#include "../unit_tmp.h"

START_TEST(test_what_is_recorded)
{
    /* every write, whatever its answer */
    ck_assert(mgr_audit_is_recorded("POST", 200));
    ck_assert(mgr_audit_is_recorded("PATCH", 422));
    ck_assert(mgr_audit_is_recorded("DELETE", 204));
    ck_assert(mgr_audit_is_recorded("PUT", 500));
    /* a read only when it failed */
    ck_assert(!mgr_audit_is_recorded("GET", 200));
    ck_assert(!mgr_audit_is_recorded("HEAD", 204));
    ck_assert(mgr_audit_is_recorded("GET", 401));
    ck_assert(mgr_audit_is_recorded("GET", 403));
    ck_assert(mgr_audit_is_recorded("GET", 304));
    /* the API's paths only */
    ck_assert(mgr_audit_is_api("/api/v1/users/signin"));
    ck_assert(mgr_audit_is_api("/oapi/v1/jobs"));
    ck_assert(mgr_audit_is_api("/preheats"));
    ck_assert(mgr_audit_is_api("/preheats/7"));
    ck_assert(!mgr_audit_is_api("/preheatsx"));
    ck_assert(!mgr_audit_is_api("/healthy"));
    ck_assert(!mgr_audit_is_api("/metrics"));
    ck_assert(!mgr_audit_is_api("/clusters/2"));
    ck_assert(!mgr_audit_is_api("/api"));
}

END_TEST

START_TEST(test_peer_address)
{
    char ip[64], tiny[5];

    mgr_audit_ip("127.0.43.9:51234", ip, sizeof(ip));
    ck_assert_str_eq(ip, "127.0.43.9");
    mgr_audit_ip("[::1]:80", ip, sizeof(ip));
    ck_assert_str_eq(ip, "::1");
    mgr_audit_ip("?", ip, sizeof(ip));
    ck_assert_str_eq(ip, "?");
    mgr_audit_ip("10.0.0.1:5", tiny, sizeof(tiny)); /* cut, never overrun */
    ck_assert_str_eq(tiny, "10.0");
}

END_TEST

/* Insert one row through the statement the queue uses. */
static void
insert(struct store_sql *db, const char *actor, int64_t uid, const uint8_t mac[32], int status)
{
    sqlite3_stmt *st = mgr_db_stmt(db, MGR_STMT_AUDIT_INSERT);

    ck_assert_ptr_nonnull(st);
    sqlite3_bind_int64(st, 1, 1000);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, "POST", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, status == 200 ? "SUCCESS" : "FAILURE", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, "/api/v1/x", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, status);
    sqlite3_bind_text(st, 7, "127.0.0.1", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, uid);
    sqlite3_bind_blob(st, 9, mac, 32, SQLITE_STATIC);
    ck_assert_int_eq(mgr_db_run(db, st), 0);
}

/* The actor names resolved as rows are written: a USER's and a PAT's, else UNKNOWN. */
START_TEST(test_actor_names)
{
    static const char *const groups[] = {"users", "audits"};
    uint8_t key[MGR_JWT_KEY_LEN], pk[MGR_JWT_KEY_LEN], mac[32], other[32];
    char tmpdir[64], datadir[128], rows[512];
    struct store_sql *db = NULL;
    struct df_error err;
    sqlite3_stmt *st;
    size_t n = 0;

    unit_tmp_make(tmpdir, sizeof(tmpdir), "mgraudit");
    snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
    ck_assert_msg(mgr_db_open(datadir, 1000, groups, 2, key, pk, &db, &err) == 0, "%s", err.msg);
    memset(mac, 7, sizeof(mac));
    memset(other, 8, sizeof(other));
    st = mgr_db_stmt(db, MGR_STMT_PAT_INSERT);
    sqlite3_bind_int64(st, 1, 1);
    sqlite3_bind_text(st, 2, "harbor", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, mac, sizeof(mac), SQLITE_STATIC);
    sqlite3_bind_text(st, 5, "[]", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, "active", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, 1);
    sqlite3_bind_int64(st, 8, 1);
    ck_assert_int_eq(mgr_db_step(db, st), STORE_SQL_ROW);
    sqlite3_reset(st);
    insert(db, "USER", 1, other, 200);  /* root */
    insert(db, "USER", 99, other, 401); /* no such user */
    insert(db, "PAT", 0, mac, 200);
    insert(db, "PAT", 0, other, 401); /* no such token */
    insert(db, "UNKNOWN", 0, other, 200);
    /* newest first; a filter on the actor type and the status */
    st = mgr_db_stmt(db, MGR_STMT_AUDIT_LIST);
    sqlite3_bind_int64(st, 8, 10);
    sqlite3_bind_int64(st, 9, 0);
    rows[0] = '\0';
    while (mgr_db_step(db, st) == STORE_SQL_ROW)
        n += (size_t)snprintf(rows + n, sizeof(rows) - n, "%s:%s:%s:%d ", mgr_db_col_text(st, 2),
                              mgr_db_col_text(st, 3), mgr_db_col_text(st, 6),
                              sqlite3_column_int(st, 8));
    sqlite3_reset(st);
    ck_assert_str_eq(rows, "UNKNOWN::SUCCESS:200 UNKNOWN::FAILURE:401 PAT:harbor:SUCCESS:200 "
                           "UNKNOWN::FAILURE:401 USER:root:SUCCESS:200 ");
    st = mgr_db_stmt(db, MGR_STMT_AUDIT_COUNT);
    sqlite3_bind_text(st, 1, "UNKNOWN", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, "401", -1, SQLITE_STATIC); /* a query's text matches the number */
    ck_assert_int_eq(mgr_db_step(db, st), STORE_SQL_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 2);
    sqlite3_reset(st);
    store_sql_close(db);
    unit_tmp_remove(tmpdir);
}

END_TEST

Suite *test_mgr_audit_suite(void);

Suite *
test_mgr_audit_suite(void)
{
    Suite *s = suite_create("mgr_audit");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_what_is_recorded);
    tcase_add_test(tc, test_peer_address);
    tcase_add_test(tc, test_actor_names);
    suite_add_tcase(s, tc);
    return s;
}
