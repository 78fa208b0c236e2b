/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Piece rows. Every write checks the piece against its task's geometry and any digest
 * already known, inside one savepoint with the task's byte accounting, so a task's bytes
 * always equal the sum of its FINISHED pieces.
 */
#include "df/store_piece.h"

#include <stdlib.h>
#include <string.h>

#include "df/df_id.h"
#include "df/xmalloc.h"
#include "store_db_int.h"

static int
piece_from_row(sqlite3_stmt *st, struct store_piece *p)
{
    const void *digest = sqlite3_column_blob(st, 3);
    sqlite3_int64 number = sqlite3_column_int64(st, 0), off = sqlite3_column_int64(st, 1),
                  len = sqlite3_column_int64(st, 2);

    if (digest == NULL || sqlite3_column_bytes(st, 3) != DF_SHA256_LEN || number < 0 || off < 0 ||
        len < 0)
        return DF_EIO;
    p->number = (uint64_t)number;
    p->offset = (uint64_t)off;
    p->length = (uint64_t)len;
    memcpy(p->digest, digest, DF_SHA256_LEN);
    p->state = (enum store_piece_state)sqlite3_column_int(st, 4);
    return 0;
}

/* Bind ?1 = task id, ?2 = number. */
static int
piece_bind_key(sqlite3_stmt *st, const char *task_id, uint64_t number)
{
    int rv;

    if ((rv = store_sql_err(sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC))) != 0)
        return rv;
    return store_sql_err(sqlite3_bind_int64(st, 2, (sqlite3_int64)number));
}

int
store_piece_get(struct store_db *db, const char *task_id, uint64_t number, struct store_piece *out)
{
    struct store_piece p;
    sqlite3_stmt *st = NULL;
    int rc, rv;

    if (!df_id_task_is_valid(task_id) || number > (uint64_t)INT64_MAX) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, STORE_STMT_PIECE_GET, &st)) != 0 ||
        (rv = piece_bind_key(st, task_id, number)) != 0)
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
    if ((rv = piece_from_row(st, &p)) != 0)
        goto out;
    *out = p;
    rv = 0;
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

/* p must be piece p->number of the task's geometry. */
static int
piece_check_geometry(struct store_db *db, const char *task_id, const struct store_piece *p)
{
    uint64_t content_length, piece_length, off, len;
    int rv;

    if ((rv = store_task_geometry_get(db, task_id, &content_length, &piece_length)) != 0)
        return rv;
    if (df_id_piece_range(content_length, piece_length, p->number, &off, &len) != 0 ||
        off != p->offset || len != p->length)
        return DF_EINVAL;
    return 0;
}

static int
piece_insert(struct store_db *db, const char *task_id, const struct store_piece *p,
             enum store_piece_state state)
{
    sqlite3_stmt *st = NULL;
    int rv;

    if ((rv = store_db_stmt(db, STORE_STMT_PIECE_INSERT, &st)) != 0 ||
        (rv = piece_bind_key(st, task_id, p->number)) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 3, (sqlite3_int64)p->offset))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 4, (sqlite3_int64)p->length))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_blob(st, 5, p->digest, DF_SHA256_LEN, SQLITE_STATIC))) !=
                0 ||
        (rv = store_sql_err(sqlite3_bind_int(st, 6, (int)state))) != 0)
        goto out;
    rv = store_sql_err(sqlite3_step(st));
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

/* EXPECTED -> FINISHED and add the length to the task's bytes. */
static int
piece_finish(struct store_db *db, const char *task_id, const struct store_piece *p)
{
    sqlite3_stmt *st = NULL;
    int rv;

    if ((rv = store_db_stmt(db, STORE_STMT_PIECE_FINISH, &st)) != 0 ||
        (rv = piece_bind_key(st, task_id, p->number)) != 0 ||
        (rv = store_sql_err(sqlite3_step(st))) != 0)
        goto out;
    sqlite3_reset(st);
    if ((rv = store_db_stmt(db, STORE_STMT_TASK_ADD_BYTES, &st)) != 0 ||
        (rv = store_sql_err(sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int64(st, 2, (sqlite3_int64)p->length))) != 0)
        goto out;
    rv = store_sql_err(sqlite3_step(st));
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}

/* Shared body: record p as EXPECTED or FINISHED, given what is already stored. */
static int
piece_record(struct store_db *db, const char *task_id, const struct store_piece *p,
             enum store_piece_state state)
{
    struct store_piece old;
    int rv;

    if (!df_id_task_is_valid(task_id) || p->number > (uint64_t)INT64_MAX)
        return DF_EINVAL;
    if ((rv = store_db_atomic_begin(db)) != 0)
        return rv;
    if ((rv = piece_check_geometry(db, task_id, p)) != 0)
        goto out;
    rv = store_piece_get(db, task_id, p->number, &old);
    if (rv == DF_ENOTFOUND) {
        rv = piece_insert(db, task_id, p, STORE_PIECE_EXPECTED);
        if (rv == 0 && state == STORE_PIECE_FINISHED)
            rv = piece_finish(db, task_id, p);
        goto out;
    }
    if (rv != 0)
        goto out;
    if (memcmp(old.digest, p->digest, DF_SHA256_LEN) != 0) {
        rv = DF_EDIGEST;
        goto out;
    }
    if (state == STORE_PIECE_FINISHED && old.state != STORE_PIECE_FINISHED)
        rv = piece_finish(db, task_id, p);
out:
    return store_db_atomic_end(db, rv);
}

int
store_piece_expect(struct store_db *db, const char *task_id, const struct store_piece *p)
{
    return piece_record(db, task_id, p, STORE_PIECE_EXPECTED);
}

int
store_piece_record_verified(struct store_db *db, const char *task_id, const struct store_piece *p)
{
    return piece_record(db, task_id, p, STORE_PIECE_FINISHED);
}

int
store_piece_drop(struct store_db *db, const char *task_id, uint64_t number)
{
    struct store_piece old;
    sqlite3_stmt *st = NULL;
    int rv;

    if (!df_id_task_is_valid(task_id) || number > (uint64_t)INT64_MAX)
        return DF_EINVAL;
    if ((rv = store_db_atomic_begin(db)) != 0)
        return rv;
    if ((rv = store_piece_get(db, task_id, number, &old)) != 0 || old.state == STORE_PIECE_EXPECTED)
        goto out;
    if ((rv = store_db_stmt(db, STORE_STMT_PIECE_DROP, &st)) != 0 ||
        (rv = piece_bind_key(st, task_id, number)) != 0 ||
        (rv = store_sql_err(sqlite3_step(st))) != 0)
        goto out;
    sqlite3_reset(st);
    st = NULL;
    if (old.state == STORE_PIECE_FINISHED) {
        if ((rv = store_db_stmt(db, STORE_STMT_TASK_ADD_BYTES, &st)) != 0 ||
            (rv = store_sql_err(sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC))) != 0 ||
            (rv = store_sql_err(sqlite3_bind_int64(st, 2, -(sqlite3_int64)old.length))) != 0)
            goto out;
        rv = store_sql_err(sqlite3_step(st));
    }
out:
    if (st != NULL)
        sqlite3_reset(st);
    return store_db_atomic_end(db, rv);
}

int
store_piece_list_finished(struct store_db *db, const char *task_id, struct store_piece **out,
                          size_t *n)
{
    return store_piece_list(db, task_id, STORE_PIECE_FINISHED, out, n);
}

static int
piece_from_row_cb(sqlite3_stmt *st, void *item)
{
    return piece_from_row(st, item);
}

int
store_piece_list(struct store_db *db, const char *task_id, enum store_piece_state state,
                 struct store_piece **out, size_t *n)
{
    struct store_sql_rows rows = {.size = sizeof(struct store_piece)};
    sqlite3_stmt *st = NULL;
    int rv;

    if (!df_id_task_is_valid(task_id)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((rv = store_db_stmt(db, STORE_STMT_PIECE_LIST, &st)) != 0 ||
        (rv = store_sql_err(sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC))) != 0 ||
        (rv = store_sql_err(sqlite3_bind_int(st, 2, (int)state))) != 0 ||
        (rv = store_sql_collect(store_db_sql(db), st, &rows, piece_from_row_cb, NULL)) != 0)
        goto out;
    *out = rows.items;
    *n = rows.count;
    rows.items = NULL;
    rv = 0;
out:
    free(rows.items);
    if (st != NULL)
        sqlite3_reset(st);
    return rv;
}
