/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer cache's schema on store_sql: the migrations (append-only: entry i takes the file
 * from user_version i to i + 1) and the statement of every slot of enum store_stmt, side by
 * side so that the SQL can be read against the tables it uses.
 */
#include "df/store_db.h"

#include <stdlib.h>

#include "df/xmalloc.h"
#include "store_db_int.h"

struct store_db {
    struct store_sql *sql;
};

static const char *const store_db_migrations[] = {
        /* 1: tasks and their pieces */
        "CREATE TABLE tasks ("
        " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),"
        " url TEXT NOT NULL,"
        " content_length INTEGER NOT NULL CHECK (content_length >= 0),"
        " piece_length INTEGER NOT NULL CHECK (piece_length > 0),"
        " piece_count INTEGER NOT NULL CHECK (piece_count >= 0),"
        " digest BLOB CHECK (digest IS NULL OR length(digest) = 32),"
        " etag TEXT,"
        " last_modified TEXT,"
        " state INTEGER NOT NULL,"
        " created_at INTEGER NOT NULL,"
        " accessed_at INTEGER NOT NULL,"
        " bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0)"
        ") STRICT;"
        "CREATE INDEX tasks_lru ON tasks (accessed_at, id);"
        "CREATE TABLE pieces ("
        " task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
        " number INTEGER NOT NULL CHECK (number >= 0),"
        " off INTEGER NOT NULL,"
        " len INTEGER NOT NULL,"
        " digest BLOB NOT NULL CHECK (length(digest) = 32),"
        " state INTEGER NOT NULL,"
        " PRIMARY KEY (task_id, number)"
        ") STRICT, WITHOUT ROWID;",
        /* 2: the data file's stamp when its pieces were last sealed (store_task_seal); NULL
         * while it is being written or after an unclean stop. Rows of version 1 had no seal:
         * their pieces are re-checked before they are trusted again. */
        "ALTER TABLE tasks ADD COLUMN file_dev INTEGER;"
        "ALTER TABLE tasks ADD COLUMN file_ino INTEGER;"
        "ALTER TABLE tasks ADD COLUMN file_size INTEGER;"
        "ALTER TABLE tasks ADD COLUMN file_mtime_ns INTEGER;",
};

/* Task states: 1 RUNNING, 2 DONE, 3 FAILED; piece states: 1 EXPECTED, 2 FINISHED, 3 UNVERIFIED */
static const char *const store_db_stmts[STORE_STMT__COUNT] = {
        [STORE_STMT_TASK_PUT] =
                "INSERT INTO tasks (" STORE_TASK_PUT_COLUMNS
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9, 0)"
                " ON CONFLICT (id) DO UPDATE SET url = excluded.url,"
                " digest = coalesce(excluded.digest, digest), etag = excluded.etag,"
                " last_modified = excluded.last_modified, accessed_at = excluded.accessed_at,"
                " state = CASE state WHEN 3 THEN 1 ELSE state END"
                " WHERE content_length = excluded.content_length"
                " AND piece_length = excluded.piece_length",
        [STORE_STMT_TASK_GET] = "SELECT " STORE_TASK_COLUMNS " FROM tasks WHERE id = ?1",
        [STORE_STMT_TASK_TOUCH] = "UPDATE tasks SET accessed_at = ?2 WHERE id = ?1",
        [STORE_STMT_TASK_DONE] =
                "UPDATE tasks SET state = 2 WHERE id = ?1 AND state = 1 AND piece_count ="
                " (SELECT count(*) FROM pieces WHERE task_id = ?1 AND state = 2)",
        [STORE_STMT_TASK_FAILED] = "UPDATE tasks SET state = 3 WHERE id = ?1 AND state = 1",
        [STORE_STMT_TASK_DELETE] = "DELETE FROM tasks WHERE id = ?1",
        [STORE_STMT_TASK_LRU] =
                "SELECT " STORE_TASK_COLUMNS " FROM tasks ORDER BY accessed_at, id LIMIT ?1",
        [STORE_STMT_TASK_BYTES_TOTAL] = "SELECT coalesce(sum(bytes), 0) FROM tasks",
        [STORE_STMT_TASK_ADD_BYTES] = "UPDATE tasks SET bytes = bytes + ?2 WHERE id = ?1",
        [STORE_STMT_TASK_SEAL] = "UPDATE tasks SET file_dev = ?2, file_ino = ?3, file_size = ?4,"
                                 " file_mtime_ns = ?5 WHERE id = ?1 AND state = 2",
        [STORE_STMT_TASK_UNSEAL] =
                "UPDATE tasks SET file_dev = NULL, file_ino = NULL, file_size = NULL,"
                " file_mtime_ns = NULL WHERE id = ?1",
        /* the task half of unverify and reset: unseal, bytes = 0, DONE -> RUNNING */
        [STORE_STMT_TASK_DISTRUST] =
                "UPDATE tasks SET file_dev = NULL, file_ino = NULL, file_size = NULL,"
                " file_mtime_ns = NULL, bytes = 0,"
                " state = CASE state WHEN 2 THEN 1 ELSE state END WHERE id = ?1",
        [STORE_STMT_PIECES_UNVERIFY] =
                "UPDATE pieces SET state = 3 WHERE task_id = ?1 AND state = 2",
        [STORE_STMT_PIECES_RESET] = "UPDATE pieces SET state = 1 WHERE task_id = ?1 AND state != 1",
        [STORE_STMT_PIECE_DROP] = "UPDATE pieces SET state = 1 WHERE task_id = ?1 AND number = ?2",
        [STORE_STMT_PIECE_GET] =
                "SELECT " STORE_PIECE_COLUMNS " FROM pieces WHERE task_id = ?1 AND number = ?2",
        [STORE_STMT_PIECE_INSERT] = "INSERT INTO pieces (task_id, " STORE_PIECE_COLUMNS
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [STORE_STMT_PIECE_FINISH] =
                "UPDATE pieces SET state = 2 WHERE task_id = ?1 AND number = ?2",
        [STORE_STMT_PIECE_LIST] = "SELECT " STORE_PIECE_COLUMNS
                                  " FROM pieces WHERE task_id = ?1 AND state = ?2 ORDER BY number",
};

static const struct store_sql_schema store_db_schema = {
        .name = "metadata db",
        .migrations = store_db_migrations,
        .n_migrations = DF_NELEM(store_db_migrations),
        .stmts = store_db_stmts,
        .n_stmts = DF_NELEM(store_db_stmts),
};

_Static_assert(DF_NELEM(store_db_migrations) == STORE_DB_SCHEMA_VERSION,
               "STORE_DB_SCHEMA_VERSION is the number of migrations");

struct store_sql *
store_db_sql(struct store_db *db)
{
    return db->sql;
}

int
store_db_stmt(struct store_db *db, enum store_stmt id, sqlite3_stmt **out)
{
    return store_sql_stmt(db->sql, id, out, NULL);
}

int
store_db_atomic_begin(struct store_db *db)
{
    return store_sql_savepoint(db->sql, NULL);
}

int
store_db_atomic_end(struct store_db *db, int rv)
{
    return store_sql_savepoint_end(db->sql, rv, NULL);
}

int
store_db_begin(struct store_db *db)
{
    return store_sql_begin(db->sql, NULL);
}

int
store_db_commit(struct store_db *db)
{
    return store_sql_commit(db->sql, NULL);
}

void
store_db_rollback(struct store_db *db)
{
    store_sql_rollback(db->sql);
}

int
store_db_schema_version(struct store_db *db)
{
    return store_sql_version(db->sql);
}

int
store_db_open(const char *path, struct store_db **out, struct df_error *err)
{
    struct store_sql *sql = NULL;
    struct store_db *db;
    int rv;

    if ((rv = store_sql_open(path, &store_db_schema, &sql, err)) != 0)
        return rv;
    db = xcalloc(1, sizeof(*db));
    db->sql = sql;
    *out = db;
    return 0;
}

void
store_db_close(struct store_db *db)
{
    if (db == NULL)
        return;
    store_sql_close(db->sql);
    free(db);
}
