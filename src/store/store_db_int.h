/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the peer cache: its statement slots and the handle store_task.c and store_piece.c
 * share. The SQL of every slot is in store_db.c's table, beside the migrations it must agree
 * with; the column lists below fix the order the row readers expect.
 */
#ifndef DF_STORE_DB_INT_H
#define DF_STORE_DB_INT_H

#include <stdint.h>

#include <sqlite3.h>

#include "df/store_db.h"
#include "df/store_sql.h"

/* task_from_row (store_task.c) reads the columns in this order */
#define STORE_TASK_PUT_COLUMNS                                                                 \
    "id, url, content_length, piece_length, piece_count, digest, etag, last_modified, state, " \
    "created_at, accessed_at, bytes"
#define STORE_TASK_COLUMNS STORE_TASK_PUT_COLUMNS ", file_dev, file_ino, file_size, file_mtime_ns"
/* piece_from_row (store_piece.c) reads the columns in this order */
#define STORE_PIECE_COLUMNS "number, off, len, digest, state"

enum store_stmt {
    STORE_STMT_TASK_PUT,
    STORE_STMT_TASK_GET,
    STORE_STMT_TASK_TOUCH,
    STORE_STMT_TASK_DONE,
    STORE_STMT_TASK_FAILED,
    STORE_STMT_TASK_DELETE,
    STORE_STMT_TASK_LRU,
    STORE_STMT_TASK_BYTES_TOTAL,
    STORE_STMT_TASK_ADD_BYTES,
    STORE_STMT_TASK_SEAL,
    STORE_STMT_TASK_UNSEAL,
    STORE_STMT_TASK_DISTRUST,
    STORE_STMT_PIECES_UNVERIFY,
    STORE_STMT_PIECES_RESET,
    STORE_STMT_PIECE_DROP,
    STORE_STMT_PIECE_GET,
    STORE_STMT_PIECE_INSERT,
    STORE_STMT_PIECE_FINISH,
    STORE_STMT_PIECE_LIST,
    STORE_STMT__COUNT
};

/* The generic handle under db; borrowed for db's lifetime. */
struct store_sql *store_db_sql(struct store_db *db);

/*
 * The statement in slot id, prepared on first use, reset and with bindings cleared
 * (store_sql_stmt). The caller sqlite3_reset()s it before returning so no read transaction
 * stays open. DF_EIO if it cannot be prepared (sqlite's log has the reason).
 */
int store_db_stmt(struct store_db *db, enum store_stmt id, sqlite3_stmt **out);

/*
 * Make a group of statements atomic, inside or outside a caller's transaction (a savepoint).
 * store_db_atomic_end releases it when rv is 0 and rolls it back otherwise; it returns rv,
 * or the release error.
 */
int store_db_atomic_begin(struct store_db *db);
int store_db_atomic_end(struct store_db *db, int rv);

/* Content and piece length of task id (store_task.c). DF_ENOTFOUND if absent. */
int store_task_geometry_get(struct store_db *db, const char *id, uint64_t *content_length,
                            uint64_t *piece_length);

#endif
