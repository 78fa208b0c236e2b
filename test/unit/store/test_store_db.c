/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "df/df_id.h"
#include "df/log.h"
#include "df/store_db.h"
#include "df/store_piece.h"
#include "df/store_task.h"

#include "../unit_tmp.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static char tmpdir[64], dbpath[128];
static char test_url[] = "https://example.com/blob", test_etag[] = "\"abc\"";

static void
setup(void)
{
    unit_tmp_make(tmpdir, sizeof(tmpdir), "store");
    snprintf(dbpath, sizeof(dbpath), "%s/metadata.db", tmpdir);
}

static void
teardown(void)
{
    unit_tmp_remove(tmpdir);
}

static struct store_db *
open_ok(void)
{
    struct store_db *db = NULL;
    struct df_error err = {{0}};

    ck_assert_msg(store_db_open(dbpath, &db, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(db);
    return db;
}

/* A task id made from n, and a task of the given geometry. */
static void
make_task(struct store_task *t, int n, uint64_t content_length, uint64_t piece_length)
{
    uint8_t md[DF_SHA256_LEN];

    memset(t, 0, sizeof(*t));
    df_sha256(&n, sizeof(n), md);
    df_hex_encode(md, sizeof(md), t->id);
    t->url = test_url;
    t->content_length = content_length;
    t->piece_length = piece_length;
}

/* Piece number of t, with a digest derived from the number. */
static struct store_piece
make_piece(const struct store_task *t, uint64_t number)
{
    struct store_piece p = {.number = number};

    ck_assert_int_eq(
            df_id_piece_range(t->content_length, t->piece_length, number, &p.offset, &p.length), 0);
    df_sha256(&number, sizeof(number), p.digest);
    return p;
}

START_TEST(test_open_pragmas_migrations)
{
    struct store_db *db = open_ok();
    struct store_db *db2 = NULL;
    struct df_error err = {{0}};
    sqlite3 *sq = NULL;
    sqlite3_stmt *st = NULL;
    char path[160];

    ck_assert_int_eq(store_db_schema_version(db), STORE_DB_SCHEMA_VERSION);
    store_db_close(db);
    store_db_close(NULL);

    /* reopening does not migrate again; the file is in WAL mode */
    db = open_ok();
    ck_assert_int_eq(store_db_schema_version(db), STORE_DB_SCHEMA_VERSION);
    store_db_close(db);
    ck_assert_int_eq(sqlite3_open(dbpath, &sq), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(sq, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);

    /* a database from a newer binary is refused, untouched */
    ck_assert_int_eq(sqlite3_exec(sq, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(sq);
    ck_assert_int_eq(store_db_open(dbpath, &db2, &err), DF_EINVAL);
    ck_assert_ptr_null(db2);
    ck_assert_ptr_nonnull(strstr(err.msg, "schema version 99 is newer"));

    /* a directory that does not exist: a message naming the path */
    snprintf(path, sizeof(path), "%s/missing/metadata.db", tmpdir);
    ck_assert_int_eq(store_db_open(path, &db2, &err), DF_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_null(db2);

    /* not a database */
    snprintf(path, sizeof(path), "%s/garbage.db", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 1000; i++)
        fputs("this is not sqlite ", f);
    fclose(f);
    ck_assert_int_ne(store_db_open(path, &db2, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "garbage.db"));
}

END_TEST

START_TEST(test_task_put_get_states)
{
    struct store_db *db = open_ok();
    struct store_task t, got, other;
    struct store_piece p;
    char digest_s[DF_DIGEST_STR_LEN + 1];
    uint8_t md[DF_SHA256_LEN];

    make_task(&t, 1, 10 * MIB + 5, 4 * MIB);
    t.etag = test_etag;
    t.has_digest = true;
    df_sha256("x", 1, md);
    df_digest_set_sha256(&t.digest, md);
    ck_assert_int_eq(store_task_put(db, &t, 1000), 0);
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert_str_eq(got.id, t.id);
    ck_assert_str_eq(got.url, t.url);
    ck_assert_uint_eq(got.content_length, 10 * MIB + 5);
    ck_assert_uint_eq(got.piece_length, 4 * MIB);
    ck_assert_uint_eq(got.piece_count, 3);
    ck_assert(got.has_digest);
    ck_assert_str_eq(df_digest_format(&got.digest, digest_s),
                     "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    ck_assert_str_eq(got.etag, "\"abc\"");
    ck_assert_ptr_null(got.last_modified);
    ck_assert_int_eq(got.state, STORE_TASK_RUNNING);
    ck_assert_int_eq(got.created_at, 1000);
    ck_assert_int_eq(got.accessed_at, 1000);
    ck_assert_uint_eq(got.bytes, 0);
    store_task_reset(&got);

    /* put again: same geometry refreshes, other geometry is refused */
    t.etag = NULL;
    t.has_digest = false;
    ck_assert_int_eq(store_task_put(db, &t, 2000), 0);
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert_ptr_null(got.etag);
    ck_assert(got.has_digest); /* kept when not given */
    ck_assert_int_eq(got.created_at, 1000);
    ck_assert_int_eq(got.accessed_at, 2000);
    store_task_reset(&got);
    other = t;
    other.content_length++;
    ck_assert_int_eq(store_task_put(db, &other, 3000), DF_EEXIST);

    /* bad input */
    other = t;
    other.id[0] = 'X';
    ck_assert_int_eq(store_task_put(db, &other, 0), DF_EINVAL);
    other = t;
    other.piece_length = 0;
    ck_assert_int_eq(store_task_put(db, &other, 0), DF_EINVAL);
    other = t;
    other.content_length = UINT64_MAX;
    ck_assert_int_eq(store_task_put(db, &other, 0), DF_EINVAL);
    ck_assert_int_eq(store_task_get(db, "../../etc/passwd", &got), DF_EINVAL);
    make_task(&other, 2, 1, 4 * MIB);
    ck_assert_int_eq(store_task_get(db, other.id, &got), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_touch(db, other.id, 5), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_mark_done(db, other.id), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_mark_failed(db, other.id), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_delete(db, other.id), DF_ENOTFOUND);

    /* done needs every piece */
    ck_assert_int_eq(store_task_mark_done(db, t.id), DF_EINVAL);
    for (uint64_t i = 0; i < 3; i++) {
        p = make_piece(&t, i);
        ck_assert_int_eq(store_piece_record_verified(db, t.id, &p), 0);
        if (i < 2)
            ck_assert_int_eq(store_task_mark_done(db, t.id), DF_EINVAL);
    }
    ck_assert_int_eq(store_task_mark_done(db, t.id), 0);
    ck_assert_int_eq(store_task_mark_done(db, t.id), 0);
    ck_assert_int_eq(store_task_mark_failed(db, t.id), 0); /* DONE stays DONE */
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert_int_eq(got.state, STORE_TASK_DONE);
    ck_assert_uint_eq(got.bytes, 10 * MIB + 5);
    store_task_reset(&got);

    /* failed -> running again on put */
    make_task(&other, 3, 100, 4 * MIB);
    ck_assert_int_eq(store_task_put(db, &other, 10), 0);
    ck_assert_int_eq(store_task_mark_failed(db, other.id), 0);
    ck_assert_int_eq(store_task_get(db, other.id, &got), 0);
    ck_assert_int_eq(got.state, STORE_TASK_FAILED);
    store_task_reset(&got);
    ck_assert_int_eq(store_task_mark_done(db, other.id), DF_EINVAL);
    ck_assert_int_eq(store_task_put(db, &other, 11), 0);
    ck_assert_int_eq(store_task_get(db, other.id, &got), 0);
    ck_assert_int_eq(got.state, STORE_TASK_RUNNING);
    store_task_reset(&got);
    store_task_reset(NULL);
    store_db_close(db);
}

END_TEST

START_TEST(test_pieces)
{
    struct store_db *db = open_ok();
    struct store_task t, got;
    struct store_piece p, q, *list = NULL;
    size_t n = 99;
    const uint64_t len = 5 * GIB + 123, pl = 64 * MIB;

    make_task(&t, 7, len, pl);
    ck_assert_int_eq(store_task_put(db, &t, 1), 0);
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(list);

    /* the last piece sits above 4 GiB and is short */
    p = make_piece(&t, 80);
    ck_assert_uint_eq(p.offset, 5 * GIB);
    ck_assert_uint_eq(p.length, 123);
    ck_assert_int_eq(store_piece_expect(db, t.id, &p), 0);
    ck_assert_int_eq(store_piece_expect(db, t.id, &p), 0);
    ck_assert_int_eq(store_piece_get(db, t.id, 80, &q), 0);
    ck_assert_int_eq(q.state, STORE_PIECE_EXPECTED);
    ck_assert_uint_eq(q.offset, 5 * GIB);
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 0);

    /* another digest than the expected one is refused */
    q = p;
    q.digest[0] ^= 1;
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &q), DF_EDIGEST);
    ck_assert_int_eq(store_piece_expect(db, t.id, &q), DF_EDIGEST);
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p), 0);
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p), 0); /* idempotent */
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &q), DF_EDIGEST);
    ck_assert_int_eq(store_piece_get(db, t.id, 80, &q), 0);
    ck_assert_int_eq(q.state, STORE_PIECE_FINISHED);

    /* geometry must match the task */
    q = make_piece(&t, 3);
    q.offset++;
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &q), DF_EINVAL);
    q = make_piece(&t, 3);
    q.length--;
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &q), DF_EINVAL);
    q.number = 81;
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &q), DF_EINVAL);
    q = make_piece(&t, 3);
    ck_assert_int_eq(store_piece_record_verified(db, "0123", &q), DF_EINVAL);
    make_task(&got, 8, 1, 1);
    ck_assert_int_eq(store_piece_record_verified(db, got.id, &q), DF_ENOTFOUND);
    ck_assert_int_eq(store_piece_get(db, t.id, 3, &q), DF_ENOTFOUND);

    q = make_piece(&t, 3);
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &q), 0);
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(list[0].number, 3);
    ck_assert_uint_eq(list[0].offset, 3 * pl);
    ck_assert_mem_eq(list[0].digest, q.digest, DF_SHA256_LEN);
    ck_assert_uint_eq(list[1].number, 80);
    ck_assert_uint_eq(list[1].offset, 5 * GIB);
    free(list);
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert_uint_eq(got.bytes, pl + 123);
    store_task_reset(&got);

    /* deleting the task removes its pieces */
    ck_assert_int_eq(store_task_delete(db, t.id), 0);
    ck_assert_int_eq(store_piece_get(db, t.id, 3, &q), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_put(db, &t, 2), 0);
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    store_db_close(db);
}

END_TEST

START_TEST(test_lru_and_bytes)
{
    struct store_db *db = open_ok();
    struct store_task t[4], *list = NULL;
    struct store_piece p;
    size_t n = 0;
    uint64_t total = 1;

    ck_assert_int_eq(store_task_list_lru(db, 10, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_task_bytes_total(db, &total), 0);
    ck_assert_uint_eq(total, 0);
    for (int i = 0; i < 4; i++) {
        make_task(&t[i], 100 + i, 9 * MIB, 4 * MIB);
        ck_assert_int_eq(store_task_put(db, &t[i], 100 + i), 0);
        p = make_piece(&t[i], 2);
        ck_assert_int_eq(store_piece_record_verified(db, t[i].id, &p), 0);
    }
    ck_assert_int_eq(store_task_bytes_total(db, &total), 0);
    ck_assert_uint_eq(total, 4 * MIB);
    /* a read hit on the oldest moves it to the back */
    ck_assert_int_eq(store_task_touch(db, t[0].id, 500), 0);
    ck_assert_int_eq(store_task_list_lru(db, 3, &list, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].id, t[1].id);
    ck_assert_str_eq(list[1].id, t[2].id);
    ck_assert_str_eq(list[2].id, t[3].id);
    ck_assert_uint_eq(list[0].bytes, MIB);
    ck_assert_str_eq(list[0].url, "https://example.com/blob");
    store_task_list_free(list, n);
    ck_assert_int_eq(store_task_list_lru(db, 100, &list, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(list[3].id, t[0].id);
    store_task_list_free(list, n);
    ck_assert_int_eq(store_task_delete(db, t[1].id), 0);
    ck_assert_int_eq(store_task_bytes_total(db, &total), 0);
    ck_assert_uint_eq(total, 3 * MIB);
    store_task_list_free(NULL, 0);
    store_db_close(db);
}

END_TEST

START_TEST(test_transactions)
{
    struct store_db *db = open_ok();
    struct store_task t, got;
    struct store_piece p;
    struct store_piece *list = NULL;
    size_t n = 0;

    make_task(&t, 42, 20 * MIB, 4 * MIB);
    ck_assert_int_eq(store_task_put(db, &t, 1), 0);
    /* a batch commits together */
    ck_assert_int_eq(store_db_begin(db), 0);
    for (uint64_t i = 0; i < 3; i++) {
        p = make_piece(&t, i);
        ck_assert_int_eq(store_piece_record_verified(db, t.id, &p), 0);
    }
    /* a failing call inside rolls back only itself */
    p = make_piece(&t, 3);
    p.length = 1;
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p), DF_EINVAL);
    ck_assert_int_eq(store_db_commit(db), 0);
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 3);
    free(list);
    /* a rolled back batch leaves nothing */
    ck_assert_int_eq(store_db_begin(db), 0);
    p = make_piece(&t, 4);
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p), 0);
    store_db_rollback(db);
    store_db_rollback(db);
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 3);
    free(list);
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert_uint_eq(got.bytes, 12 * MIB);
    store_task_reset(&got);
    store_db_close(db);
}

END_TEST

/*
 * Crash consistency: a child records some pieces, expects another, is in the middle of a
 * batch, and dies without closing anything. After reopening, the finished pieces are
 * exactly the recorded ones and the accounting matches them.
 */
START_TEST(test_crash_consistency)
{
    struct store_db *db;
    struct store_task t, got;
    struct store_piece p, *list = NULL;
    size_t n = 0;
    pid_t pid;
    int status;

    make_task(&t, 9, 7 * 4 * MIB + 17, 4 * MIB);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        db = open_ok();
        if (store_task_put(db, &t, 1) != 0)
            _exit(2);
        for (uint64_t i = 0; i < 7; i += 2) {
            p = make_piece(&t, i);
            if (store_piece_record_verified(db, t.id, &p) != 0)
                _exit(3);
        }
        p = make_piece(&t, 1);
        if (store_piece_expect(db, t.id, &p) != 0)
            _exit(4);
        if (store_db_begin(db) != 0)
            _exit(5);
        p = make_piece(&t, 3);
        if (store_piece_record_verified(db, t.id, &p) != 0)
            _exit(6);
        _exit(0); /* no commit, no close */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);

    db = open_ok();
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        p = make_piece(&t, 2 * i);
        ck_assert_uint_eq(list[i].number, 2 * i);
        ck_assert_uint_eq(list[i].offset, p.offset);
        ck_assert_uint_eq(list[i].length, p.length);
        ck_assert_mem_eq(list[i].digest, p.digest, DF_SHA256_LEN);
        ck_assert_int_eq(list[i].state, STORE_PIECE_FINISHED);
    }
    free(list);
    ck_assert_int_eq(store_piece_get(db, t.id, 1, &p), 0);
    ck_assert_int_eq(p.state, STORE_PIECE_EXPECTED);
    ck_assert_int_eq(store_piece_get(db, t.id, 3, &p), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert_int_eq(got.state, STORE_TASK_RUNNING);
    ck_assert_uint_eq(got.bytes, 4 * 4 * MIB); /* pieces 0, 2, 4, 6 of 8 */
    store_task_reset(&got);
    ck_assert_int_eq(store_task_mark_done(db, t.id), DF_EINVAL);
    store_db_close(db);
}

END_TEST

/* sqlite's own log lines arrive through our logger. */
START_TEST(test_sqlite_log_routed)
{
    struct store_db *db = NULL;
    struct df_error err;
    char logpath[160], path[160], line[4096] = {0};
    FILE *f;
    size_t n;

    snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
    snprintf(path, sizeof(path), "%s/garbage.db", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 1000; i++)
        fputs("this is not sqlite ", f);
    fclose(f);
    log_init("unit", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    ck_assert_int_eq(log_open(logpath), 0);
    ck_assert_int_ne(store_db_open(path, &db, &err), 0);
    f = fopen(logpath, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    ck_assert_msg(n > 0 && strstr(line, "store: sqlite (26)") != NULL, "log: %s", line);
}

END_TEST

/* The seal, state and bytes of task id are as expected. */
static void
assert_trust(struct store_db *db, const char *id, bool sealed, enum store_task_state state,
             uint64_t bytes)
{
    struct store_task got;

    ck_assert_int_eq(store_task_get(db, id, &got), 0);
    ck_assert_int_eq(got.sealed, sealed);
    ck_assert_int_eq(got.state, state);
    ck_assert_uint_eq(got.bytes, bytes);
    store_task_reset(&got);
}

/* A DONE task sealed with a stamp; unverify / reset_pieces / drop take trust away (H3, M5). */
START_TEST(test_seal_and_distrust)
{
    struct store_db *db = open_ok();
    struct store_task t, got, other;
    struct store_piece p[3], *list = NULL;
    struct store_data_stamp stamp = {.dev = 2049,
                                     .ino = UINT64_MAX - 5,
                                     .size = 3 * MIB,
                                     .mtime_ns = INT64_C(1767225600123456789)};
    size_t n = 0;

    make_task(&t, 11, 3 * MIB, MIB);
    ck_assert_int_eq(store_task_put(db, &t, 1), 0);
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert(!got.sealed);
    store_task_reset(&got);
    /* only a DONE task is sealed */
    ck_assert_int_eq(store_task_seal(db, t.id, &stamp), DF_EINVAL);
    make_task(&other, 12, 1, 1);
    ck_assert_int_eq(store_task_seal(db, other.id, &stamp), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_unseal(db, other.id), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_unverify(db, other.id), DF_ENOTFOUND);
    ck_assert_int_eq(store_task_reset_pieces(db, other.id), DF_ENOTFOUND);
    for (uint64_t i = 0; i < 3; i++) {
        p[i] = make_piece(&t, i);
        ck_assert_int_eq(store_piece_record_verified(db, t.id, &p[i]), 0);
    }
    ck_assert_int_eq(store_task_mark_done(db, t.id), 0);
    ck_assert_int_eq(store_task_seal(db, t.id, &stamp), 0);
    ck_assert_int_eq(store_task_get(db, t.id, &got), 0);
    ck_assert(got.sealed);
    ck_assert(store_data_stamp_is_equal(&got.stamp, &stamp)); /* above INT64_MAX round-trips */
    ck_assert_uint_eq(got.bytes, 3 * MIB);
    store_task_reset(&got);
    ck_assert_int_eq(store_task_unseal(db, t.id), 0);
    assert_trust(db, t.id, false, STORE_TASK_DONE, 3 * MIB);

    /* unverify: nothing FINISHED is left to serve; DONE -> RUNNING; bytes 0 */
    ck_assert_int_eq(store_task_seal(db, t.id, &stamp), 0);
    ck_assert_int_eq(store_task_unverify(db, t.id), 0);
    assert_trust(db, t.id, false, STORE_TASK_RUNNING, 0);
    ck_assert_int_eq(store_piece_list_finished(db, t.id, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_piece_list(db, t.id, STORE_PIECE_UNVERIFIED, &list, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(list[2].digest, p[2].digest, DF_SHA256_LEN);
    free(list);
    ck_assert_int_eq(store_task_mark_done(db, t.id), DF_EINVAL);

    /* a re-hash that matches records the piece again; one that does not drops it */
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p[0]), 0);
    ck_assert_int_eq(store_piece_drop(db, t.id, 1), 0);
    ck_assert_int_eq(store_piece_drop(db, t.id, 1), 0); /* EXPECTED already: no-op */
    ck_assert_int_eq(store_piece_drop(db, t.id, 7), DF_ENOTFOUND);
    assert_trust(db, t.id, false, STORE_TASK_RUNNING, MIB);
    ck_assert_int_eq(store_piece_list(db, t.id, STORE_PIECE_EXPECTED, &list, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(list[0].number, 1);
    free(list);
    /* the digest stays what the metadata said: another one is still refused */
    p[1].digest[0] ^= 1;
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p[1]), DF_EDIGEST);
    p[1].digest[0] ^= 1;

    /* dropping a FINISHED piece takes its bytes off */
    ck_assert_int_eq(store_piece_drop(db, t.id, 0), 0);
    assert_trust(db, t.id, false, STORE_TASK_RUNNING, 0);

    /* reset_pieces: a new data file holds nothing, whatever the rows said */
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p[0]), 0);
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p[1]), 0);
    ck_assert_int_eq(store_piece_record_verified(db, t.id, &p[2]), 0);
    ck_assert_int_eq(store_task_mark_done(db, t.id), 0);
    ck_assert_int_eq(store_task_seal(db, t.id, &stamp), 0);
    ck_assert_int_eq(store_task_reset_pieces(db, t.id), 0);
    assert_trust(db, t.id, false, STORE_TASK_RUNNING, 0);
    ck_assert_int_eq(store_piece_list(db, t.id, STORE_PIECE_EXPECTED, &list, &n), 0);
    ck_assert_uint_eq(n, 3);
    free(list);
    ck_assert_int_eq(store_task_bytes_total(db, &stamp.size), 0);
    ck_assert_uint_eq(stamp.size, 0);
    store_db_close(db);
}

END_TEST

/* A version-1 database gains the seal columns; its tasks come out unsealed. */
START_TEST(test_migration_from_v1)
{
    struct store_db *db = NULL;
    struct store_task got;
    sqlite3 *sq = NULL;
    char sql[512];
    const char *id = "06408fbf247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a87d3203c5ca";

    ck_assert_int_eq(sqlite3_open(dbpath, &sq), SQLITE_OK);
    ck_assert_int_eq(
            sqlite3_exec(sq,
                         "CREATE TABLE tasks (id TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL,"
                         " content_length INTEGER NOT NULL, piece_length INTEGER NOT NULL,"
                         " piece_count INTEGER NOT NULL, digest BLOB, etag TEXT,"
                         " last_modified TEXT, state INTEGER NOT NULL,"
                         " created_at INTEGER NOT NULL, accessed_at INTEGER NOT NULL,"
                         " bytes INTEGER NOT NULL DEFAULT 0) STRICT;"
                         "CREATE TABLE pieces (task_id TEXT NOT NULL, number INTEGER NOT NULL,"
                         " off INTEGER NOT NULL, len INTEGER NOT NULL, digest BLOB NOT NULL,"
                         " state INTEGER NOT NULL, PRIMARY KEY (task_id, number))"
                         " STRICT, WITHOUT ROWID;"
                         "PRAGMA user_version = 1;",
                         NULL, NULL, NULL),
            SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO tasks VALUES ('%s', 'u', 10, 4194304, 1, NULL, NULL, NULL, 2, 1, 1, 10)",
             id);
    ck_assert_int_eq(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(sq);
    db = open_ok();
    ck_assert_int_eq(store_db_schema_version(db), 2);
    ck_assert_int_eq(store_task_get(db, id, &got), 0);
    ck_assert_int_eq(got.state, STORE_TASK_DONE);
    ck_assert(!got.sealed);
    store_task_reset(&got);
    store_db_close(db);
}

END_TEST

Suite *test_store_db_suite(void);

Suite *
test_store_db_suite(void)
{
    Suite *s = suite_create("store_db");
    TCase *tc = tcase_create("db");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_open_pragmas_migrations);
    tcase_add_test(tc, test_task_put_get_states);
    tcase_add_test(tc, test_pieces);
    tcase_add_test(tc, test_lru_and_bytes);
    tcase_add_test(tc, test_transactions);
    tcase_add_test(tc, test_crash_consistency);
    tcase_add_test(tc, test_sqlite_log_routed);
    tcase_add_test(tc, test_seal_and_distrust);
    tcase_add_test(tc, test_migration_from_v1);
    suite_add_tcase(s, tc);
    return s;
}
