/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata database. Schema changes are append-only entries of store_db_migrations:
 * entry i takes the file from user_version i to i + 1, in one transaction with the
 * version bump, so a crash mid-migration leaves the old version intact. sqlite's global log
 * goes to ours (set once, before sqlite initialises if we are first).
 */
#include "df/store_db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/log.h"
#include "df/xmalloc.h"
#include "store_db_int.h"

#define STORE_DB_BUSY_MS 5000

struct store_db {
    sqlite3 *sq;
    char *path;
    sqlite3_stmt *stmts[STORE_STMT__COUNT];
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

static pthread_once_t store_db_log_once = PTHREAD_ONCE_INIT;

static void
store_db_log_cb(void *arg, int code, const char *msg)
{
    (void)arg;
    switch (code & 0xff) {
    case SQLITE_NOTICE:
        log_info("store: sqlite: %s", msg);
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_SCHEMA:
        log_debug("store", "sqlite (%d): %s", code, msg);
        break;
    default:
        log_warnx("store: sqlite (%d): %s", code, msg);
        break;
    }
}

static void
store_db_log_setup(void)
{
    if (sqlite3_config(SQLITE_CONFIG_LOG, store_db_log_cb, NULL) != SQLITE_OK)
        log_debug("store", "sqlite already initialised: its log stays where it is");
}

int
store_db_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return DF_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return DF_EAGAIN;
    case SQLITE_CONSTRAINT:
        return DF_EINVAL;
    case SQLITE_TOOBIG:
        return DF_ETOOBIG;
    case SQLITE_FULL:
        return DF_ENOSPC;
    default:
        return DF_EIO;
    }
}

int
store_db_stmt(struct store_db *db, enum store_stmt id, const char *sql, sqlite3_stmt **out)
{
    sqlite3_stmt *st = db->stmts[id];

    if (st == NULL) {
        if (sqlite3_prepare_v3(db->sq, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
            return DF_EIO; /* sqlite's log has the reason */
        db->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *out = st;
    return 0;
}

/* Run a statement that returns no rows we need. */
static int
store_db_run(struct store_db *db, enum store_stmt id, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rv;

    if ((rv = store_db_stmt(db, id, sql, &st)) != 0)
        return rv;
    rv = store_db_err(sqlite3_step(st));
    sqlite3_reset(st);
    return rv;
}

int
store_db_atomic_begin(struct store_db *db)
{
    return store_db_run(db, STORE_STMT_SAVEPOINT, "SAVEPOINT store_atomic");
}

int
store_db_atomic_end(struct store_db *db, int rv)
{
    int rc;

    if (rv == 0) {
        rc = store_db_run(db, STORE_STMT_RELEASE, "RELEASE store_atomic");
        if (rc == 0)
            return 0;
        rv = rc;
    }
    store_db_run(db, STORE_STMT_ROLLBACK_TO, "ROLLBACK TO store_atomic");
    store_db_run(db, STORE_STMT_RELEASE, "RELEASE store_atomic");
    return rv;
}

int
store_db_begin(struct store_db *db)
{
    return store_db_run(db, STORE_STMT_BEGIN, "BEGIN IMMEDIATE");
}

int
store_db_commit(struct store_db *db)
{
    return store_db_run(db, STORE_STMT_COMMIT, "COMMIT");
}

void
store_db_rollback(struct store_db *db)
{
    if (!sqlite3_get_autocommit(db->sq))
        store_db_run(db, STORE_STMT_ROLLBACK, "ROLLBACK");
}

/* Run every statement of a fixed SQL script (ours, never built from input). */
static int
store_db_exec_script(struct store_db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    const char *tail = sql;
    int rc = SQLITE_OK;

    while (rc == SQLITE_OK && tail != NULL && *tail != '\0') {
        rc = sqlite3_prepare_v2(db->sq, tail, -1, &st, &tail);
        if (rc != SQLITE_OK || st == NULL)
            break;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_finalize(st);
        st = NULL;
    }
    return rc;
}

/* Run a one-row pragma and copy its text result into out. */
static int
store_db_pragma_text(struct store_db *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int
store_db_schema_version(struct store_db *db)
{
    char buf[24];
    int rc;

    rc = store_db_pragma_text(db, "PRAGMA user_version", buf, sizeof(buf));
    if (rc != SQLITE_OK)
        return store_db_err(rc) != 0 ? store_db_err(rc) : DF_EIO;
    return (int)strtol(buf, NULL, 10);
}

static int
store_db_migrate(struct store_db *db, struct df_error *err)
{
    const int want = (int)DF_NELEM(store_db_migrations);
    char bump[48];
    int v, rc = SQLITE_OK;

    v = store_db_schema_version(db);
    if (v < 0)
        return df_error_set(err, v, "metadata db %s: cannot read schema version: %s", db->path,
                            sqlite3_errmsg(db->sq));
    if (v > want)
        return df_error_set(err, DF_EINVAL,
                            "metadata db %s: schema version %d is newer than this binary's %d",
                            db->path, v, want);
    for (; v < want; v++) {
        /* the version number is ours, never input */
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        rc = store_db_exec_script(db, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK && (rc = store_db_exec_script(db, store_db_migrations[v])) == SQLITE_OK)
            rc = store_db_exec_script(db, bump);
        if (rc == SQLITE_OK)
            rc = store_db_exec_script(db, "COMMIT");
        if (rc != SQLITE_OK) {
            df_error_set(err, store_db_err(rc), "metadata db %s: migration to version %d: %s",
                         db->path, v + 1, sqlite3_errmsg(db->sq));
            if (!sqlite3_get_autocommit(db->sq))
                store_db_exec_script(db, "ROLLBACK");
            return store_db_err(rc);
        }
        log_info("store: metadata db %s migrated to schema version %d", db->path, v + 1);
    }
    return 0;
}

int
store_db_open(const char *path, struct store_db **out, struct df_error *err)
{
    struct store_db *db = NULL;
    char mode[16];
    int rc, rv;

    pthread_once(&store_db_log_once, store_db_log_setup);
    db = xcalloc(1, sizeof(*db));
    db->path = xstrdup(path);
    rc = sqlite3_open_v2(path, &db->sq,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rv = df_error_set(err, DF_EIO, "metadata db %s: cannot open: %s", path,
                          db->sq != NULL ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(db->sq, 1);
    sqlite3_busy_timeout(db->sq, STORE_DB_BUSY_MS);
    rc = store_db_exec_script(db, "PRAGMA foreign_keys = ON");
    if (rc == SQLITE_OK)
        rc = store_db_pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
    if (rc == SQLITE_OK && strcmp(mode, "wal") != 0) {
        rv = df_error_set(err, DF_EIO, "metadata db %s: cannot use WAL (journal mode %s)", path,
                          mode);
        goto out;
    }
    if (rc == SQLITE_OK)
        rc = store_db_exec_script(db, "PRAGMA synchronous = NORMAL");
    if (rc != SQLITE_OK) {
        rv = df_error_set(err, store_db_err(rc), "metadata db %s: %s", path,
                          sqlite3_errmsg(db->sq));
        goto out;
    }
    if ((rv = store_db_migrate(db, err)) != 0)
        goto out;
    *out = db;
    db = NULL;
    rv = 0;
out:
    store_db_close(db);
    return rv;
}

void
store_db_close(struct store_db *db)
{
    if (db == NULL)
        return;
    for (size_t i = 0; i < DF_NELEM(db->stmts); i++)
        sqlite3_finalize(db->stmts[i]);
    if (db->sq != NULL && sqlite3_close(db->sq) != SQLITE_OK)
        log_warnx("store: metadata db %s: close: %s", db->path, sqlite3_errmsg(db->sq));
    free(db->path);
    free(db);
}
