/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the store: the sqlite handle and the statement cache that store_task.c and
 * store_piece.c share. Each statement has a fixed slot; its SQL lives next to its user.
 */
#ifndef DF_STORE_DB_INT_H
#define DF_STORE_DB_INT_H

#include <stdint.h>

#include <sqlite3.h>

#include "df/store_db.h"

enum store_stmt {
    STORE_STMT_SAVEPOINT,
    STORE_STMT_RELEASE,
    STORE_STMT_ROLLBACK_TO,
    STORE_STMT_BEGIN,
    STORE_STMT_COMMIT,
    STORE_STMT_ROLLBACK,
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
    STORE_STMT_TASK_UNVERIFY,
    STORE_STMT_TASK_RESET,
    STORE_STMT_PIECES_UNVERIFY,
    STORE_STMT_PIECES_RESET,
    STORE_STMT_PIECE_DROP,
    STORE_STMT_PIECE_GET,
    STORE_STMT_PIECE_INSERT,
    STORE_STMT_PIECE_FINISH,
    STORE_STMT_PIECE_LIST_FINISHED,
    STORE_STMT__COUNT
};

/*
 * The statement in slot id, prepared from sql on first use (sql must be the same text every
 * time), reset and with bindings cleared. The caller sqlite3_reset()s it before returning so
 * no read transaction stays open. DF_EIO if it cannot be prepared.
 */
int store_db_stmt(struct store_db *db, enum store_stmt id, const char *sql, sqlite3_stmt **out);

/* Map an sqlite result code to DF_E*. */
int store_db_err(int rc);

/*
 * Make a group of statements atomic, inside or outside a caller's transaction (SAVEPOINT).
 * store_db_atomic_end releases it when rv is 0 and rolls it back otherwise; it returns rv,
 * or the release error.
 */
int store_db_atomic_begin(struct store_db *db);
int store_db_atomic_end(struct store_db *db, int rv);

/* Content and piece length of task id (store_task.c). DF_ENOTFOUND if absent. */
int store_task_geometry_get(struct store_db *db, const char *id, uint64_t *content_length,
                            uint64_t *piece_length);

#endif
