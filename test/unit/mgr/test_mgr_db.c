/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sqlite3.h>

#include "df/store_sql.h"

#include "../../../src/mgr/mgr.h"
#include "../unit_tmp.h"

static char tmpdir[64], datadir[128];
static const char *const groups[] = {"users", "clusters"};

static void
setup(void)
{
    unit_tmp_make(tmpdir, sizeof(tmpdir), "mgrdb");
    snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
    unsetenv(MGR_ROOT_ENV);
}

static void
teardown(void)
{
    unit_tmp_remove(tmpdir);
}

static struct store_sql *
open_db(uint8_t key[MGR_JWT_KEY_LEN])
{
    uint8_t pk[MGR_JWT_KEY_LEN];
    struct store_sql *db = NULL;
    struct df_error err;

    ck_assert_msg(mgr_db_open(datadir, 1000, groups, 2, key, pk, &db, &err) == 0, "%s", err.msg);
    return db;
}

/* The password hash of user name, copied, or "" when there is no such user. */
static void
user_password(struct store_sql *db, const char *name, char *out, size_t len)
{
    sqlite3_stmt *st = mgr_db_stmt(db, MGR_STMT_USER_BY_NAME);

    out[0] = '\0';
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (mgr_db_step(db, st) == STORE_SQL_ROW)
        snprintf(out, len, "%s", mgr_db_col_text(st, 10));
    sqlite3_reset(st);
}

static bool
role_can(struct store_sql *db, const char *role, const char *object, const char *action)
{
    sqlite3_stmt *st = mgr_db_stmt(db, MGR_STMT_PERM_OF_ROLE);
    bool found = false;

    sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
    while (mgr_db_step(db, st) == STORE_SQL_ROW) {
        found |= strcmp(mgr_db_col_text(st, 0), object) == 0 &&
                 strcmp(mgr_db_col_text(st, 1), action) == 0;
    }
    sqlite3_reset(st);
    return found;
}

START_TEST(test_first_start_seeds)
{
    uint8_t key[MGR_JWT_KEY_LEN], zero[MGR_JWT_KEY_LEN] = {0}, again[MGR_JWT_KEY_LEN];
    struct store_sql *db = open_db(key);
    char pw[MGR_PW_HASH_MAX];
    sqlite3_stmt *st;

    ck_assert_int_eq(store_sql_version(db), MGR_DB_SCHEMA_VERSION);
    ck_assert_mem_ne(key, zero, sizeof(key));
    user_password(db, "root", pw, sizeof(pw));
    ck_assert(mgr_pw_is_match(MGR_ROOT_PASSWORD, pw));
    ck_assert(role_can(db, "root", "users", "*") && role_can(db, "root", "clusters", "*"));
    ck_assert(role_can(db, "guest", "users", "read") && !role_can(db, "guest", "users", "*"));
    /* cluster-1, the default, linked to seed-peer cluster 1 */
    st = mgr_db_stmt(db, MGR_STMT_SC_GET);
    sqlite3_bind_int64(st, 1, 1);
    ck_assert_int_eq(mgr_db_step(db, st), STORE_SQL_ROW);
    ck_assert_str_eq(mgr_db_col_text(st, 3), "cluster-1");
    ck_assert_int_eq(sqlite3_column_int64(st, 9), 1);
    sqlite3_reset(st);
    st = mgr_db_stmt(db, MGR_STMT_LINK_OF_SC);
    sqlite3_bind_int64(st, 1, 1);
    ck_assert_int_eq(mgr_db_step(db, st), STORE_SQL_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), 1);
    sqlite3_reset(st);
    store_sql_close(db);
    /* a restart keeps the key and does not seed again */
    db = open_db(again);
    ck_assert_mem_eq(key, again, sizeof(key));
    st = mgr_db_stmt(db, MGR_STMT_USER_COUNT);
    ck_assert_int_eq(mgr_db_step(db, st), STORE_SQL_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), 1);
    sqlite3_reset(st);
    store_sql_close(db);
}

END_TEST

START_TEST(test_env_root_password)
{
    uint8_t key[MGR_JWT_KEY_LEN], pk[MGR_JWT_KEY_LEN];
    struct store_sql *db = NULL;
    struct df_error err;
    char pw[MGR_PW_HASH_MAX];

    setenv(MGR_ROOT_ENV, "short", 1);
    ck_assert_int_eq(mgr_db_open(datadir, 1000, groups, 2, key, pk, &db, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, MGR_ROOT_ENV));
    ck_assert_ptr_null(db);
    setenv(MGR_ROOT_ENV, "s3cret-passw0rd", 1);
    db = open_db(key);
    user_password(db, "root", pw, sizeof(pw));
    ck_assert(mgr_pw_is_match("s3cret-passw0rd", pw));
    ck_assert(!mgr_pw_is_match(MGR_ROOT_PASSWORD, pw));
    store_sql_close(db);
}

END_TEST

START_TEST(test_newer_schema_refused)
{
    uint8_t key[MGR_JWT_KEY_LEN], pk[MGR_JWT_KEY_LEN];
    struct store_sql *db = open_db(key);
    struct df_error err;
    char path[192];
    sqlite3 *sq;

    store_sql_close(db);
    db = NULL;
    snprintf(path, sizeof(path), "%s/manager.db", datadir);
    ck_assert_int_eq(sqlite3_open(path, &sq), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(sq, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(sq);
    ck_assert_int_eq(mgr_db_open(datadir, 1000, groups, 2, key, pk, &db, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "newer"));
    ck_assert_ptr_null(db);
}

END_TEST

Suite *test_mgr_db_suite(void);

Suite *
test_mgr_db_suite(void)
{
    Suite *s = suite_create("mgr_db");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_first_start_seeds);
    tcase_add_test(tc, test_env_root_password);
    tcase_add_test(tc, test_newer_schema_refused);
    suite_add_tcase(s, tc);
    return s;
}
