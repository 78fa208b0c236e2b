/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Task rows. Geometry (content and piece length, hence piece count) is fixed when a task
 * is created: a put with other geometry is refused rather than silently invalidating the
 * pieces already recorded. 64-bit unsigned values are stored as sqlite's signed 64-bit
 * integers after a range check, so nothing above INT64_MAX is ever written.
 */
#include "df/store_task.h"

#include <stdlib.h>
#include <string.h>

#include "df/xmalloc.h"
#include "store_db_int.h"

void
store_task_reset(struct store_task *t)
{
    if (t == NULL)
        return;
    free(t->url);
    free(t->etag);
    free(t->last_modified);
    memset(t, 0, sizeof(*t));
}

void
store_task_list_free(struct store_task *tasks, size_t n)
{
    for (size_t i = 0; tasks != NULL && i < n; i++)
        store_task_reset(&tasks[i]);
    free(tasks);
}

static char *
task_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    return s != NULL ? xstrdup((const char *)s) : NULL;
}

static uint64_t
task_col_u64(sqlite3_stmt *st, int col)
{
    sqlite3_int64 v = sqlite3_column_int64(st, col);

    return v < 0 ? 0 : (uint64_t)v; /* the schema's CHECKs keep these non-negative */
}

/* Fill *t from a row selected with STORE_TASK_COLUMNS. */
static int
task_from_row(sqlite3_stmt *st, struct store_task *t)
{
    const unsigned char *id = sqlite3_column_text(st, 0);
    const void *digest = sqlite3_column_blob(st, 5);

    memset(t, 0, sizeof(*t));
    if (id == NULL || sqlite3_column_bytes(st, 0) != DF_ID_TASK_LEN)
        return DF_EIO;
    memcpy(t->id, id, DF_ID_TASK_LEN + 1);
    t->url = task_col_strdup(st, 1);
    t->content_length = task_col_u64(st, 2);
    t->piece_length = task_col_u64(st, 3);
    t->piece_count = task_col_u64(st, 4);
    if (digest != NULL && sqlite3_column_bytes(st, 5) == DF_SHA256_LEN) {
        t->has_digest = true;
        df_digest_set_sha256(&t->digest, digest);
    }
    t->etag = task_col_strdup(st, 6);
    t->last_modified = task_col_strdup(st, 7);
    t->state = (enum store_task_state)sqlite3_column_int(st, 8);
    t->created_at = sqlite3_column_int64(st, 9);
    t->accessed_at = sqlite3_column_int64(st, 10);
    t->bytes = task_col_u64(st, 11);
    /* identity values are stored as the bit patterns of their 64-bit unsigned form */
    if (sqlite3_column_type(st, 12) == SQLITE_INTEGER &&
        sqlite3_column_type(st, 13) == SQLITE_INTEGER &&
        sqlite3_column_type(st, 14) == SQLITE_INTEGER &&
        sqlite3_column_type(st, 15) == SQLITE_INTEGER) {
        t->sealed = true;
        t->stamp.dev = (uint64_t)sqlite3_column_int64(st, 12);
        t->stamp.ino = (uint64_t)sqlite3_column_int64(st, 13);
        t->stamp.size = (uint64_t)sqlite3_column_int64(st, 14);
        t->stamp.mtime_ns = sqlite3_column_int64(st, 15);
    }
    return 0;
}

static int
task_bind_text(sqlite3_stmt *st, int col, const char *s)
{
    if (s == NULL)
        return store_sql_err(sqlite3_bind_null(st, col));
    return store_sql_err(sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC));
}

int
store_task_put(struct store_db *db, const struct store_task *t, int64_t now)
{
    sqlite3_stmt *st = NULL;
    uint64_t count;
    int rv;

    if (!df_id_task_is_valid(t->id) || t->url == NULL || t->piece_length == 0 ||
        t->content_length > (uint64_t)INT64_MAX || t->piece_length > (uint64_t)INT64_MAX) {
        rv = DF_EINVAL;
        goto out;
    }
    count = df_id_piece_count(t->content_length, t->piece_length);
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_PUT, &st)) != 0)
        goto out;
    if ((rv = task_bind_text(st, 1, t->id)) != 0 || (rv = task_bind_text(st, 2, t->url)) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 3, (sqlite3_int64)t->content_length))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 4, (sqlite3_int64)t->piece_length))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 5, (sqlite3_int64)count))) != 0 ||
        (rv = store_sql_err(t->has_digest ? sqlite3_bind_blob(st, 6, t->digest.bytes, DF_SHA256_LEN,
                                                              SQLITE_STATIC)
                                          : sqlite3_bind_null(st, 6))) != 0 ||
        (rv = task_bind_text(st, 7, t->etag)) != 0 ||
        (rv = task_bind_text(st, 8, t->last_modified)) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 9, now))) != 0)
        goto out;
    if ((rv = store_sql_err(sqlite3_step(st))) != 0)
        goto out;
    if (sqlite3_changes(sqlite3_db_handle(st)) == 0) {
        rv = DF_EEXIST; /* the conflict's WHERE failed: other geometry */
        goto out;
    }
    rv = 0;
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

int
store_task_get(struct store_db *db, const char *id, struct store_task *out)
{
    struct store_task t = {0};
    sqlite3_stmt *st = NULL;
    int rc, rv;

    if (!df_id_task_is_valid(id)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_GET, &st)) != 0 ||
        (rv = task_bind_text(st, 1, id)) != 0)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rv = DF_ENOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        rv = store_sql_err(rc);
        goto out;
    }
    if ((rv = task_from_row(st, &t)) != 0)
        goto out;
    *out = t;
    memset(&t, 0, sizeof(t));
    rv = 0;
out:
    store_task_reset(&t);
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

int
store_task_geometry_get(struct store_db *db, const char *id, uint64_t *content_length,
                        uint64_t *piece_length)
{
    struct store_task t;
    int rv;

    if ((rv = store_task_get(db, id, &t)) != 0)
        return rv;
    *content_length = t.content_length;
    *piece_length = t.piece_length;
    store_task_reset(&t);
    return 0;
}

/* Run an UPDATE/DELETE keyed by id (?1) with an optional int64 ?2; *changes = rows hit. */
static int
task_update(struct store_db *db, enum store_stmt slot, const char *id, const int64_t *arg,
            int *changes)
{
    sqlite3_stmt *st = NULL;
    int rv;

    if (!df_id_task_is_valid(id)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, slot, &st)) != 0 || (rv = task_bind_text(st, 1, id)) != 0)
        goto out;
    if (arg != NULL && (rv = store_sql_err(sqlite3_bind_int64(st, 2, *arg))) != 0)
        goto out;
    if ((rv = store_sql_err(sqlite3_step(st))) != 0)
        goto out;
    *changes = sqlite3_changes(sqlite3_db_handle(st));
    rv = 0;
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

int
store_task_touch(struct store_db *db, const char *id, int64_t now)
{
    int changes = 0, rv;

    rv = task_update(db, STORE_STMT_TASK_TOUCH, id, &now, &changes);
    if (rv == 0 && changes == 0)
        rv = DF_ENOTFOUND;
    return rv;
}

/* When an UPDATE hit nothing: DF_ENOTFOUND if the task is absent, else its state in *state. */
static int
task_state_get(struct store_db *db, const char *id, enum store_task_state *state)
{
    struct store_task t;
    int rv;

    if ((rv = store_task_get(db, id, &t)) != 0)
        return rv;
    *state = t.state;
    store_task_reset(&t);
    return 0;
}

int
store_task_mark_done(struct store_db *db, const char *id)
{
    enum store_task_state state;
    int changes = 0, rv;

    rv = task_update(db, STORE_STMT_TASK_DONE, id, NULL, &changes);
    if (rv != 0 || changes > 0)
        return rv;
    if ((rv = task_state_get(db, id, &state)) != 0)
        return rv;
    return state == STORE_TASK_DONE ? 0 : DF_EINVAL;
}

int
store_task_mark_failed(struct store_db *db, const char *id)
{
    enum store_task_state state;
    int changes = 0, rv;

    rv = task_update(db, STORE_STMT_TASK_FAILED, id, NULL, &changes);
    if (rv != 0 || changes > 0)
        return rv;
    return task_state_get(db, id, &state);
}

int
store_task_delete(struct store_db *db, const char *id)
{
    int changes = 0, rv;

    rv = task_update(db, STORE_STMT_TASK_DELETE, id, NULL, &changes);
    if (rv == 0 && changes == 0)
        rv = DF_ENOTFOUND;
    return rv;
}

int
store_task_seal(struct store_db *db, const char *id, const struct store_data_stamp *stamp)
{
    enum store_task_state state;
    sqlite3_stmt *st = NULL;
    int rv;

    if (!df_id_task_is_valid(id)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_SEAL, &st)) != 0 ||
        (rv = task_bind_text(st, 1, id)) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 2, (sqlite3_int64)stamp->dev))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 3, (sqlite3_int64)stamp->ino))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 4, (sqlite3_int64)stamp->size))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 5, stamp->mtime_ns))) != 0 ||
        (rv = store_sql_err(sqlite3_step(st))) != 0)
        goto out;
    if (sqlite3_changes(sqlite3_db_handle(st)) == 0) {
        sqlite3_reset(st);
        st = NULL;
        if ((rv = task_state_get(db, id, &state)) == 0)
            rv = DF_EINVAL; /* not DONE */
        goto out;
    }
    rv = 0;
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

int
store_task_unseal(struct store_db *db, const char *id)
{
    int changes = 0, rv;

    rv = task_update(db, STORE_STMT_TASK_UNSEAL, id, NULL, &changes);
    if (rv == 0 && changes == 0)
        rv = DF_ENOTFOUND;
    return rv;
}

/* Unseal, bytes = 0, DONE -> RUNNING, and move the pieces with statement pieces_slot. */
static int
task_distrust(struct store_db *db, const char *id, enum store_stmt pieces_slot)
{
    int changes = 0, rv;

    if ((rv = store_db_atomic_begin(db)) != 0)
        return rv;
    rv = task_update(db, STORE_STMT_TASK_DISTRUST, id, NULL, &changes);
    if (rv == 0 && changes == 0)
        rv = DF_ENOTFOUND;
    if (rv == 0)
        rv = task_update(db, pieces_slot, id, NULL, &changes);
    return store_db_atomic_end(db, rv);
}

int
store_task_unverify(struct store_db *db, const char *id)
{
    return task_distrust(db, id, STORE_STMT_PIECES_UNVERIFY);
}

int
store_task_reset_pieces(struct store_db *db, const char *id)
{
    return task_distrust(db, id, STORE_STMT_PIECES_RESET);
}

static int
task_from_row_cb(sqlite3_stmt *st, void *item)
{
    return task_from_row(st, item);
}

int
store_task_list_lru(struct store_db *db, size_t limit, struct store_task **out, size_t *n)
{
    struct store_sql_rows rows = {.size = sizeof(struct store_task)};
    sqlite3_stmt *st = NULL;
    int rv;

    if (limit > (size_t)INT64_MAX)
        limit = (size_t)INT64_MAX;
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_LRU, &st)) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 1, (sqlite3_int64)limit))) != 0 ||
        (rv = store_sql_collect(store_db_sql(db), st, &rows, task_from_row_cb, NULL)) != 0)
        goto out;
    *out = rows.items;
    *n = rows.count;
    rows.items = NULL;
    rows.count = 0;
    rv = 0;
out:
    store_task_list_free(rows.items, rows.count);
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

int
store_task_bytes_total(struct store_db *db, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc, rv;

    if ((rv = store_db_stmt(db, STORE_STMT_TASK_BYTES_TOTAL, &st)) != 0)
        goto out;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rv = store_sql_err(rc) != 0 ? store_sql_err(rc) : DF_EIO;
        goto out;
    }
    *out = task_col_u64(st, 0);
    rv = 0;
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}
