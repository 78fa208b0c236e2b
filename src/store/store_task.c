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

#define TASK_PUT_COLUMNS                                                                       \
    "id, url, content_length, piece_length, piece_count, digest, etag, last_modified, state, " \
    "created_at, accessed_at, bytes"
#define TASK_COLUMNS TASK_PUT_COLUMNS ", file_dev, file_ino, file_size, file_mtime_ns"

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

/* Fill *t from a row selected with TASK_COLUMNS. */
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
        return store_db_err(sqlite3_bind_null(st, col));
    return store_db_err(sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC));
}

int
store_task_put(struct store_db *db, const struct store_task *t, int64_t now)
{
    static const char sql[] =
            "INSERT INTO tasks (" TASK_PUT_COLUMNS
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9, 0)"
            " ON CONFLICT (id) DO UPDATE SET url = excluded.url,"
            " digest = coalesce(excluded.digest, digest), etag = excluded.etag,"
            " last_modified = excluded.last_modified, accessed_at = excluded.accessed_at,"
            " state = CASE state WHEN 3 THEN 1 ELSE state END"
            " WHERE content_length = excluded.content_length"
            " AND piece_length = excluded.piece_length";
    sqlite3_stmt *st = NULL;
    uint64_t count;
    int rv;

    if (!df_id_task_is_valid(t->id) || t->url == NULL || t->piece_length == 0 ||
        t->content_length > (uint64_t)INT64_MAX || t->piece_length > (uint64_t)INT64_MAX) {
        rv = DF_EINVAL;
        goto out;
    }
    count = df_id_piece_count(t->content_length, t->piece_length);
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_PUT, sql, &st)) != 0)
        goto out;
    if ((rv = task_bind_text(st, 1, t->id)) != 0 || (rv = task_bind_text(st, 2, t->url)) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 3, (sqlite3_int64)t->content_length))) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 4, (sqlite3_int64)t->piece_length))) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 5, (sqlite3_int64)count))) != 0 ||
        (rv = store_db_err(t->has_digest ? sqlite3_bind_blob(st, 6, t->digest.bytes, DF_SHA256_LEN,
                                                             SQLITE_STATIC)
                                         : sqlite3_bind_null(st, 6))) != 0 ||
        (rv = task_bind_text(st, 7, t->etag)) != 0 ||
        (rv = task_bind_text(st, 8, t->last_modified)) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 9, now))) != 0)
        goto out;
    if ((rv = store_db_err(sqlite3_step(st))) != 0)
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
    static const char sql[] = "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1";
    struct store_task t = {0};
    sqlite3_stmt *st = NULL;
    int rc, rv;

    if (!df_id_task_is_valid(id)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_GET, sql, &st)) != 0 ||
        (rv = task_bind_text(st, 1, id)) != 0)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rv = DF_ENOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        rv = store_db_err(rc);
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
task_update(struct store_db *db, enum store_stmt slot, const char *sql, const char *id,
            const int64_t *arg, int *changes)
{
    sqlite3_stmt *st = NULL;
    int rv;

    if (!df_id_task_is_valid(id)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, slot, sql, &st)) != 0 || (rv = task_bind_text(st, 1, id)) != 0)
        goto out;
    if (arg != NULL && (rv = store_db_err(sqlite3_bind_int64(st, 2, *arg))) != 0)
        goto out;
    if ((rv = store_db_err(sqlite3_step(st))) != 0)
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

    rv = task_update(db, STORE_STMT_TASK_TOUCH, "UPDATE tasks SET accessed_at = ?2 WHERE id = ?1",
                     id, &now, &changes);
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

    rv = task_update(db, STORE_STMT_TASK_DONE,
                     "UPDATE tasks SET state = 2 WHERE id = ?1 AND state = 1 AND piece_count ="
                     " (SELECT count(*) FROM pieces WHERE task_id = ?1 AND state = 2)",
                     id, NULL, &changes);
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

    rv = task_update(db, STORE_STMT_TASK_FAILED,
                     "UPDATE tasks SET state = 3 WHERE id = ?1 AND state = 1", id, NULL, &changes);
    if (rv != 0 || changes > 0)
        return rv;
    return task_state_get(db, id, &state);
}

int
store_task_delete(struct store_db *db, const char *id)
{
    int changes = 0, rv;

    rv = task_update(db, STORE_STMT_TASK_DELETE, "DELETE FROM tasks WHERE id = ?1", id, NULL,
                     &changes);
    if (rv == 0 && changes == 0)
        rv = DF_ENOTFOUND;
    return rv;
}

int
store_task_seal(struct store_db *db, const char *id, const struct store_data_stamp *stamp)
{
    static const char sql[] = "UPDATE tasks SET file_dev = ?2, file_ino = ?3, file_size = ?4,"
                              " file_mtime_ns = ?5 WHERE id = ?1 AND state = 2";
    enum store_task_state state;
    sqlite3_stmt *st = NULL;
    int rv;

    if (!df_id_task_is_valid(id)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_SEAL, sql, &st)) != 0 ||
        (rv = task_bind_text(st, 1, id)) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 2, (sqlite3_int64)stamp->dev))) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 3, (sqlite3_int64)stamp->ino))) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 4, (sqlite3_int64)stamp->size))) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 5, stamp->mtime_ns))) != 0 ||
        (rv = store_db_err(sqlite3_step(st))) != 0)
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

    rv = task_update(db, STORE_STMT_TASK_UNSEAL,
                     "UPDATE tasks SET file_dev = NULL, file_ino = NULL, file_size = NULL,"
                     " file_mtime_ns = NULL WHERE id = ?1",
                     id, NULL, &changes);
    if (rv == 0 && changes == 0)
        rv = DF_ENOTFOUND;
    return rv;
}

/* Unseal, bytes = 0, DONE -> RUNNING, and move the pieces with sql (one statement). */
static int
task_distrust(struct store_db *db, const char *id, enum store_stmt slot, const char *pieces_sql,
              enum store_stmt task_slot)
{
    int changes = 0, rv;

    if ((rv = store_db_atomic_begin(db)) != 0)
        return rv;
    rv = task_update(db, task_slot,
                     "UPDATE tasks SET file_dev = NULL, file_ino = NULL, file_size = NULL,"
                     " file_mtime_ns = NULL, bytes = 0,"
                     " state = CASE state WHEN 2 THEN 1 ELSE state END WHERE id = ?1",
                     id, NULL, &changes);
    if (rv == 0 && changes == 0)
        rv = DF_ENOTFOUND;
    if (rv == 0)
        rv = task_update(db, slot, pieces_sql, id, NULL, &changes);
    return store_db_atomic_end(db, rv);
}

int
store_task_unverify(struct store_db *db, const char *id)
{
    return task_distrust(db, id, STORE_STMT_PIECES_UNVERIFY,
                         "UPDATE pieces SET state = 3 WHERE task_id = ?1 AND state = 2",
                         STORE_STMT_TASK_UNVERIFY);
}

int
store_task_reset_pieces(struct store_db *db, const char *id)
{
    return task_distrust(db, id, STORE_STMT_PIECES_RESET,
                         "UPDATE pieces SET state = 1 WHERE task_id = ?1 AND state != 1",
                         STORE_STMT_TASK_RESET);
}

int
store_task_list_lru(struct store_db *db, size_t limit, struct store_task **out, size_t *n)
{
    static const char sql[] =
            "SELECT " TASK_COLUMNS " FROM tasks ORDER BY accessed_at, id LIMIT ?1";
    struct store_task *tasks = NULL;
    sqlite3_stmt *st = NULL;
    size_t count = 0, cap = 0;
    int rc, rv;

    if (limit > (size_t)INT64_MAX)
        limit = (size_t)INT64_MAX;
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_LRU, sql, &st)) != 0 ||
        (rv = store_db_err(sqlite3_bind_int64(st, 1, (sqlite3_int64)limit))) != 0)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            tasks = xrealloc(tasks, cap * sizeof(*tasks));
        }
        if ((rv = task_from_row(st, &tasks[count])) != 0)
            goto out;
        count++;
    }
    if ((rv = store_db_err(rc)) != 0)
        goto out;
    *out = tasks;
    *n = count;
    tasks = NULL;
    count = 0;
    rv = 0;
out:
    store_task_list_free(tasks, count);
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

int
store_task_bytes_total(struct store_db *db, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc, rv;

    if ((rv = store_db_stmt(db, STORE_STMT_TASK_BYTES_TOTAL,
                            "SELECT coalesce(sum(bytes), 0) FROM tasks", &st)) != 0)
        goto out;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rv = store_db_err(rc) != 0 ? store_db_err(rc) : DF_EIO;
        goto out;
    }
    *out = task_col_u64(st, 0);
    rv = 0;
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}
