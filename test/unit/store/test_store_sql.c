/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sqlite3.h>

#include "df/store_sql.h"

#include "../unit_tmp.h"

static char tmpdir[64], dbpath[128];

/* Three migrations that only work in order: 2 alters 1's table, 3 fills 2's column. */
static const char *const migrations[] = {
        "CREATE TABLE kv (k TEXT PRIMARY KEY NOT NULL, v INTEGER NOT NULL) STRICT;"
        "INSERT INTO kv (k, v) VALUES ('one', 1);",
        "ALTER TABLE kv ADD COLUMN note TEXT;",
        "UPDATE kv SET note = 'from 3';"
        "INSERT INTO kv (k, v, note) VALUES ('three', 3, 'from 3');",
};

/* Migration 3 breaks the primary key migration 1 made. */
static const char *const migrations_bad[] = {
        migrations[0],
        migrations[1],
        "INSERT INTO kv (k, v) VALUES ('two', 2); INSERT INTO kv (k, v) VALUES ('one', 9);",
};

enum test_stmt {
    TEST_STMT_INSERT,
    TEST_STMT_COUNT_ROWS,
    TEST_STMT_LIST,
    TEST_STMT_BROKEN,
    TEST_STMT_HOLE,
    TEST_STMT_PRAGMAS,
    TEST_STMT__COUNT
};

static const char *const stmts[TEST_STMT__COUNT] = {
        [TEST_STMT_INSERT] = "INSERT INTO kv (k, v) VALUES (?1, ?2)",
        [TEST_STMT_COUNT_ROWS] = "SELECT count(*) FROM kv",
        [TEST_STMT_LIST] = "SELECT k, v FROM kv WHERE v >= ?1 ORDER BY v",
        [TEST_STMT_BROKEN] = "SELEC k FROM kv",
        /* TEST_STMT_HOLE has no SQL */
        [TEST_STMT_PRAGMAS] = "SELECT (SELECT foreign_keys FROM pragma_foreign_keys),"
                              " (SELECT journal_mode FROM pragma_journal_mode),"
                              " (SELECT synchronous FROM pragma_synchronous)",
};

static const struct store_sql_schema schema = {
        .name = "test db",
        .migrations = migrations,
        .n_migrations = 3,
        .stmts = stmts,
        .n_stmts = TEST_STMT__COUNT,
};

static void
setup(void)
{
    unit_tmp_make(tmpdir, sizeof(tmpdir), "sql");
    snprintf(dbpath, sizeof(dbpath), "%s/test.db", tmpdir);
}

static void
teardown(void)
{
    unit_tmp_remove(tmpdir);
}

/* The schema with only its first n migrations. */
static struct store_sql_schema
schema_upto(const char *const *migs, size_t n)
{
    struct store_sql_schema s = schema;

    s.migrations = migs;
    s.n_migrations = n;
    return s;
}

static struct store_sql *
open_with(const struct store_sql_schema *s)
{
    struct store_sql *db = NULL;
    struct df_error err = {{0}};

    ck_assert_msg(store_sql_open(dbpath, s, &db, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(db);
    return db;
}

/* Run one SQL text on the file with sqlite directly, outside store_sql. */
static void
raw_exec(const char *sql)
{
    sqlite3 *sq = NULL;

    ck_assert_int_eq(sqlite3_open(dbpath, &sq), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(sq);
}

/* A one-integer query on the file with sqlite directly; -1 when it fails (no such table). */
static long long
raw_int(const char *sql)
{
    sqlite3 *sq = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    ck_assert_int_eq(sqlite3_open(dbpath, &sq), SQLITE_OK);
    if (sqlite3_prepare_v2(sq, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(sq);
    return v;
}

/* Rows in kv, through the schema's statement. */
static long long
count_rows(struct store_sql *db)
{
    sqlite3_stmt *st = NULL;
    long long n;

    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_COUNT_ROWS, &st, NULL), 0);
    ck_assert_int_eq(store_sql_step(db, st, NULL), STORE_SQL_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

static int
insert(struct store_sql *db, const char *k, int v, struct df_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv;

    if ((rv = store_sql_stmt(db, TEST_STMT_INSERT, &st, err)) != 0)
        return rv;
    ck_assert_int_eq(sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC), SQLITE_OK);
    ck_assert_int_eq(sqlite3_bind_int(st, 2, v), SQLITE_OK);
    rv = store_sql_step(db, st, err);
    sqlite3_reset(st);
    return rv;
}

START_TEST(test_migrations_in_order)
{
    struct store_sql_schema one = schema_upto(migrations, 1);
    struct store_sql *db;
    sqlite3_stmt *st = NULL;

    /* a new file gets every migration, in order, and the last version */
    db = open_with(&schema);
    ck_assert_int_eq(store_sql_version(db), 3);
    ck_assert_int_eq(count_rows(db), 2);
    /* and the connection's pragmas: foreign keys, WAL, synchronous NORMAL (1) */
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_PRAGMAS, &st, NULL), 0);
    ck_assert_int_eq(store_sql_step(db, st, NULL), STORE_SQL_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "wal");
    ck_assert_int_eq(sqlite3_column_int(st, 2), 1);
    sqlite3_reset(st);
    store_sql_close(db);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE note = 'from 3'"), 2);
    ck_assert_int_eq(raw_int("PRAGMA user_version"), 3);

    /* a file at version 1 gets only 2 and 3: re-running 1 would fail on its CREATE TABLE */
    snprintf(dbpath, sizeof(dbpath), "%s/second.db", tmpdir);
    db = open_with(&one);
    ck_assert_int_eq(store_sql_version(db), 1);
    store_sql_close(db);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv"), 1);
    db = open_with(&schema);
    ck_assert_int_eq(store_sql_version(db), 3);
    ck_assert_int_eq(count_rows(db), 2);
    store_sql_close(db);
    store_sql_close(NULL);
}

END_TEST

START_TEST(test_reopen_does_nothing)
{
    struct store_sql *db;

    db = open_with(&schema);
    ck_assert_int_eq(insert(db, "mine", 7, NULL), STORE_SQL_DONE);
    store_sql_close(db);

    /* migration 3 inserts a row: run again it would add a second 'three' and fail */
    db = open_with(&schema);
    ck_assert_int_eq(store_sql_version(db), 3);
    ck_assert_int_eq(count_rows(db), 3);
    store_sql_close(db);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE k = 'three'"), 1);
}

END_TEST

START_TEST(test_newer_version_refused)
{
    struct store_sql *db = NULL;
    struct df_error err = {{0}};

    store_sql_close(open_with(&schema));
    raw_exec("PRAGMA user_version = 9");
    ck_assert_int_eq(store_sql_open(dbpath, &schema, &db, &err), DF_EINVAL);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(err.msg, "schema version 9 is newer than this binary's 3") != NULL, "%s",
                  err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, dbpath));
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    /* untouched */
    ck_assert_int_eq(raw_int("PRAGMA user_version"), 9);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv"), 2);
}

END_TEST

START_TEST(test_failed_migration_rolls_back)
{
    struct store_sql_schema bad = schema_upto(migrations_bad, 3);
    struct store_sql_schema one = schema_upto(migrations, 1);
    struct store_sql *db = NULL;
    struct df_error err = {{0}};

    /* a new file: nothing of 1 or 2 stays either, the version stays 0 */
    ck_assert_int_eq(store_sql_open(dbpath, &bad, &db, &err), DF_EINVAL);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(err.msg, "migration to version 3") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "UNIQUE constraint failed: kv.k") != NULL, "%s", err.msg);
    ck_assert_int_eq(raw_int("PRAGMA user_version"), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv"), -1);

    /* a file at version 1: it stays at 1, without 2's column or 3's first row */
    db = open_with(&one);
    store_sql_close(db);
    db = NULL;
    ck_assert_int_eq(store_sql_open(dbpath, &bad, &db, &err), DF_EINVAL);
    ck_assert_ptr_null(db);
    ck_assert_int_eq(raw_int("PRAGMA user_version"), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv"), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE note IS NULL"), -1);

    /* and the good list still applies afterwards */
    db = open_with(&schema);
    ck_assert_int_eq(count_rows(db), 2);
    store_sql_close(db);
}

END_TEST

START_TEST(test_savepoints_nest)
{
    struct store_sql *db = open_with(&schema);

    /* inner rolled back, outer kept */
    ck_assert_int_eq(store_sql_savepoint(db, NULL), 0);
    ck_assert_int_eq(insert(db, "a", 10, NULL), 0);
    ck_assert_int_eq(store_sql_savepoint(db, NULL), 0);
    ck_assert_int_eq(insert(db, "b", 11, NULL), 0);
    ck_assert_int_eq(count_rows(db), 4);
    ck_assert_int_eq(store_sql_savepoint_end(db, DF_EIO, NULL), DF_EIO);
    ck_assert_int_eq(count_rows(db), 3);
    ck_assert_int_eq(store_sql_savepoint_end(db, 0, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE k IN ('a', 'b')"), 1);

    /* inner released, outer rolled back: both gone */
    ck_assert_int_eq(store_sql_savepoint(db, NULL), 0);
    ck_assert_int_eq(insert(db, "c", 12, NULL), 0);
    ck_assert_int_eq(store_sql_savepoint(db, NULL), 0);
    ck_assert_int_eq(insert(db, "d", 13, NULL), 0);
    ck_assert_int_eq(store_sql_savepoint_end(db, 0, NULL), 0);
    ck_assert_int_eq(count_rows(db), 5);
    ck_assert_int_eq(store_sql_savepoint_end(db, DF_EINVAL, NULL), DF_EINVAL);
    ck_assert_int_eq(count_rows(db), 3);

    /* savepoints inside a transaction: a rolled-back inner one, then the commit keeps the rest */
    ck_assert_int_eq(store_sql_begin(db, NULL), 0);
    ck_assert_int_eq(insert(db, "e", 14, NULL), 0);
    ck_assert_int_eq(store_sql_savepoint(db, NULL), 0);
    ck_assert_int_eq(insert(db, "f", 15, NULL), 0);
    ck_assert_int_eq(store_sql_savepoint_end(db, DF_EIO, NULL), DF_EIO);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE k = 'e'"), 0); /* not committed */
    ck_assert_int_eq(store_sql_commit(db, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE k IN ('e', 'f')"), 1);

    /* a rollback ends the transaction and the savepoints in it; a second one is a no-op */
    ck_assert_int_eq(store_sql_begin(db, NULL), 0);
    ck_assert_int_eq(store_sql_savepoint(db, NULL), 0);
    ck_assert_int_eq(insert(db, "g", 16, NULL), 0);
    store_sql_rollback(db);
    store_sql_rollback(db);
    ck_assert_int_eq(count_rows(db), 4);

    /* an unbalanced end is a bug, reported, not a crash */
    ck_assert_int_eq(store_sql_savepoint_end(db, 0, NULL), DF_EINTERNAL);
    store_sql_close(db);
}

END_TEST

START_TEST(test_read_transaction)
{
    struct store_sql *db = open_with(&schema);
    struct df_error err = {{0}};

    /* one snapshot: a row another connection commits meanwhile shows after the end */
    ck_assert_int_eq(store_sql_read_begin(db, &err), 0);
    ck_assert_int_eq(count_rows(db), 2);
    raw_exec("INSERT INTO kv (k, v) VALUES ('r', 20)");
    ck_assert_int_eq(count_rows(db), 2);
    /* no nesting: refused with a message, the open one goes on */
    ck_assert_int_eq(store_sql_read_begin(db, &err), DF_EEXIST);
    ck_assert_ptr_nonnull(strstr(err.msg, "a transaction is open already"));
    ck_assert_int_ne(store_sql_begin(db, NULL), 0);
    store_sql_read_end(db);
    ck_assert_int_eq(count_rows(db), 3);
    /* an end outside a transaction does nothing */
    store_sql_read_end(db);
    /* a write run inside one is committed at its end */
    ck_assert_int_eq(store_sql_read_begin(db, NULL), 0);
    ck_assert_int_eq(insert(db, "w", 21, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE k = 'w'"), 0);
    store_sql_read_end(db);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM kv WHERE k = 'w'"), 1);
    ck_assert_int_eq(store_sql_begin(db, NULL), 0);
    store_sql_rollback(db);
    store_sql_close(db);
}

END_TEST

START_TEST(test_statement_cache_reuse)
{
    struct store_sql *db = open_with(&schema);
    sqlite3_stmt *st = NULL, *again = NULL;

    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_LIST, &st, NULL), 0);
    ck_assert_int_eq(sqlite3_bind_int(st, 1, 3), SQLITE_OK);
    ck_assert_int_eq(store_sql_step(db, st, NULL), STORE_SQL_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "three");

    /* the same statement comes back, reset mid-walk and with its binding cleared (NULL) */
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_LIST, &again, NULL), 0);
    ck_assert_ptr_eq(again, st);
    ck_assert_int_eq(store_sql_step(db, again, NULL), STORE_SQL_DONE);
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_LIST, &again, NULL), 0);
    ck_assert_ptr_eq(again, st);
    ck_assert_int_eq(sqlite3_bind_int(again, 1, 0), SQLITE_OK);
    ck_assert_int_eq(store_sql_step(db, again, NULL), STORE_SQL_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(again, 0), "one");
    sqlite3_reset(again);

    /* other slots are other statements */
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_COUNT_ROWS, &again, NULL), 0);
    ck_assert_ptr_ne(again, st);
    sqlite3_reset(again);
    store_sql_close(db);
}

END_TEST

/* Sum v over the rows; stop with DF_ELIMIT once the sum passes *limit. */
struct sum {
    long long total, limit;
    int rows;
};

static int
sum_row_cb(sqlite3_stmt *st, void *arg)
{
    struct sum *s = arg;

    s->total += sqlite3_column_int64(st, 1);
    s->rows++;
    return s->total > s->limit ? DF_ELIMIT : 0;
}

static int
key_row_cb(sqlite3_stmt *st, void *item)
{
    char **k = item;

    *k = strdup((const char *)sqlite3_column_text(st, 0));
    return 0;
}

START_TEST(test_each_and_collect)
{
    struct store_sql *db = open_with(&schema);
    struct store_sql_rows rows = {.size = sizeof(char *)};
    struct sum s = {.limit = 1000};
    sqlite3_stmt *st = NULL;
    char k[8];

    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof(k), "k%02d", i);
        ck_assert_int_eq(insert(db, k, 100 + i, NULL), 0);
    }
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_LIST, &st, NULL), 0);
    ck_assert_int_eq(sqlite3_bind_int(st, 1, 0), SQLITE_OK);
    ck_assert_int_eq(store_sql_each(db, st, sum_row_cb, &s, NULL), DF_ELIMIT);
    ck_assert_int_eq(s.rows, 12); /* 1 + 3 + 100 + ... + 109 = 1049 */

    /* all rows, then the statement is reset: it walks again from the start */
    s = (struct sum){.limit = 1 << 30};
    ck_assert_int_eq(store_sql_each(db, st, sum_row_cb, &s, NULL), 0);
    ck_assert_int_eq(s.rows, 42);
    ck_assert_int_eq(s.total, 1 + 3 + 40 * 100 + 39 * 40 / 2);

    /* collected past the array's first growth, in order */
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_LIST, &st, NULL), 0);
    ck_assert_int_eq(sqlite3_bind_int(st, 1, 3), SQLITE_OK);
    ck_assert_int_eq(store_sql_collect(db, st, &rows, key_row_cb, NULL), 0);
    ck_assert_uint_eq(rows.count, 41);
    ck_assert_str_eq(((char **)rows.items)[0], "three");
    ck_assert_str_eq(((char **)rows.items)[40], "k39");
    for (size_t i = 0; i < rows.count; i++)
        free(((char **)rows.items)[i]);
    free(rows.items);
    store_sql_close(db);
}

END_TEST

START_TEST(test_statement_error_message)
{
    struct store_sql *db = open_with(&schema);
    struct df_error err = {{0}};
    sqlite3_stmt *st = NULL;

    /* SQL that does not prepare: sqlite's reason and the slot */
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_BROKEN, &st, &err), DF_EIO);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.msg, "statement 3: near \"SELEC\": syntax error") != NULL, "%s",
                  err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "test db"));
    ck_assert_ptr_null(strchr(err.msg, '\n'));

    /* a step that breaks a constraint */
    ck_assert_int_eq(insert(db, "one", 5, &err), DF_EINVAL);
    ck_assert_msg(strstr(err.msg, "statement 0: UNIQUE constraint failed: kv.k") != NULL, "%s",
                  err.msg);

    /* slots without SQL or outside the table */
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT_HOLE, &st, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "no statement in slot 4"));
    ck_assert_int_eq(store_sql_stmt(db, TEST_STMT__COUNT, &st, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "no statement in slot 6"));
    ck_assert_ptr_null(st);

    /* a transaction error */
    ck_assert_int_eq(store_sql_commit(db, &err), DF_EIO);
    ck_assert_msg(strstr(err.msg, "COMMIT: cannot commit - no transaction is active") != NULL, "%s",
                  err.msg);

    /* the handle still works after all of them */
    ck_assert_int_eq(count_rows(db), 2);
    store_sql_close(db);
}

END_TEST

Suite *test_store_sql_suite(void);

Suite *
test_store_sql_suite(void)
{
    Suite *s = suite_create("store_sql");
    TCase *tc = tcase_create("store_sql");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_migrations_in_order);
    tcase_add_test(tc, test_reopen_does_nothing);
    tcase_add_test(tc, test_newer_version_refused);
    tcase_add_test(tc, test_failed_migration_rolls_back);
    tcase_add_test(tc, test_savepoints_nest);
    tcase_add_test(tc, test_read_transaction);
    tcase_add_test(tc, test_statement_cache_reuse);
    tcase_add_test(tc, test_each_and_collect);
    tcase_add_test(tc, test_statement_error_message);
    suite_add_tcase(s, tc);
    return s;
}
