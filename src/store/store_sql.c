/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A sqlite file with a caller's schema. The migrations a file lacks run at open in one
 * transaction with the version bump, so a crash or a failing migration leaves the old
 * version intact. Statements are prepared once (persistent) in the slot the schema gives
 * them; the transaction statements have slots of our own. sqlite's global log goes to ours
 * (set once, before sqlite initialises if we are first).
 */
#include "df/store_sql.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/log.h"
#include "df/xmalloc.h"

#define STORE_SQL_BUSY_MS 5000

/* Our own statements, kept beside the schema's. */
enum store_sql_own {
    STORE_SQL_SAVEPOINT,
    STORE_SQL_RELEASE,
    STORE_SQL_ROLLBACK_TO,
    STORE_SQL_BEGIN,
    STORE_SQL_COMMIT,
    STORE_SQL_ROLLBACK,
    STORE_SQL_BEGIN_READ,
    STORE_SQL__OWN_COUNT
};

/* Every savepoint has the same name: sqlite's RELEASE and ROLLBACK TO pick the innermost. */
static const char *const store_sql_own_sql[STORE_SQL__OWN_COUNT] = {
        [STORE_SQL_SAVEPOINT] = "SAVEPOINT store_atomic",
        [STORE_SQL_RELEASE] = "RELEASE store_atomic",
        [STORE_SQL_ROLLBACK_TO] = "ROLLBACK TO store_atomic",
        [STORE_SQL_BEGIN] = "BEGIN IMMEDIATE",
        [STORE_SQL_COMMIT] = "COMMIT",
        [STORE_SQL_ROLLBACK] = "ROLLBACK",
        [STORE_SQL_BEGIN_READ] = "BEGIN DEFERRED",
};

struct store_sql {
    sqlite3 *sq;
    char *path;
    const struct store_sql_schema *schema;
    sqlite3_stmt **stmts; /* schema->n_stmts slots */
    sqlite3_stmt *own[STORE_SQL__OWN_COUNT];
    unsigned savepoints; /* open store_sql_savepoint()s, to catch unbalanced ends */
};

static pthread_once_t store_sql_log_once = PTHREAD_ONCE_INIT;

static void
store_sql_log_cb(void *arg, int code, const char *msg)
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
store_sql_log_setup(void)
{
    if (sqlite3_config(SQLITE_CONFIG_LOG, store_sql_log_cb, NULL) != SQLITE_OK)
        log_debug("store", "sqlite already initialised: its log stays where it is");
}

int
store_sql_err(int rc)
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

/* Fill err with sqlite's message for rc (a failure) and return its DF_E*. */
static int
store_sql_fail(struct store_sql *db, int rc, struct df_error *err, const char *what)
{
    int code = store_sql_err(rc);

    if (code == 0)
        code = DF_EIO; /* a failure sqlite calls success: a row or done where none was due */
    return df_error_set(err, code, "%s %s: %s: %s", db->schema->name, db->path, what,
                        sqlite3_errmsg(db->sq));
}

/* Name st for a message: its schema slot, or its SQL when it is one of ours. */
static void
store_sql_stmt_name(struct store_sql *db, sqlite3_stmt *st, char *buf, size_t len)
{
    for (size_t i = 0; i < db->schema->n_stmts; i++) {
        if (db->stmts[i] == st) {
            snprintf(buf, len, "statement %zu", i);
            return;
        }
    }
    snprintf(buf, len, "%s", sqlite3_sql(st) != NULL ? sqlite3_sql(st) : "statement");
}

/* Prepare sql into *slot once; reset and clear it on every use. */
static int
store_sql_prepare(struct store_sql *db, sqlite3_stmt **slot, const char *sql, const char *what,
                  struct df_error *err)
{
    int rc;

    if (*slot == NULL) {
        rc = sqlite3_prepare_v3(db->sq, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc == SQLITE_OK && *slot == NULL)
            return df_error_set(err, DF_EINVAL, "%s %s: %s: no SQL", db->schema->name, db->path,
                                what);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(*slot);
            *slot = NULL;
            return store_sql_fail(db, rc, err, what);
        }
    }
    sqlite3_reset(*slot);
    sqlite3_clear_bindings(*slot);
    return 0;
}

int
store_sql_stmt(struct store_sql *db, size_t slot, sqlite3_stmt **out, struct df_error *err)
{
    char what[40];
    int rv;

    if (slot >= db->schema->n_stmts || db->schema->stmts[slot] == NULL)
        return df_error_set(err, DF_EINVAL, "%s %s: no statement in slot %zu", db->schema->name,
                            db->path, slot);
    snprintf(what, sizeof(what), "statement %zu", slot);
    if ((rv = store_sql_prepare(db, &db->stmts[slot], db->schema->stmts[slot], what, err)) != 0)
        return rv;
    *out = db->stmts[slot];
    return 0;
}

int
store_sql_step(struct store_sql *db, sqlite3_stmt *st, struct df_error *err)
{
    int rc = sqlite3_step(st);
    char what[64];

    if (rc == SQLITE_ROW)
        return STORE_SQL_ROW;
    if (rc == SQLITE_DONE)
        return STORE_SQL_DONE;
    store_sql_stmt_name(db, st, what, sizeof(what));
    return store_sql_fail(db, rc, err, what);
}

int
store_sql_each(struct store_sql *db, sqlite3_stmt *st, store_sql_row_fn *fn, void *arg,
               struct df_error *err)
{
    int rv;

    while ((rv = store_sql_step(db, st, err)) == STORE_SQL_ROW) {
        if ((rv = fn(st, arg)) != 0)
            break;
    }
    sqlite3_reset(st);
    return rv;
}

/* store_sql_collect's walk: the rows and the caller's row reader. */
struct store_sql_collect_ctx {
    struct store_sql_rows *rows;
    store_sql_row_fn *fn;
};

static int
store_sql_collect_row_cb(sqlite3_stmt *st, void *arg)
{
    struct store_sql_collect_ctx *c = arg;
    struct store_sql_rows *r = c->rows;
    void *item;
    int rv;

    if (r->count == r->cap) {
        if (r->cap > SIZE_MAX / 2 / r->size)
            return DF_ETOOBIG;
        r->cap = r->cap == 0 ? 16 : r->cap * 2;
        r->items = xrealloc(r->items, r->cap * r->size);
    }
    item = (char *)r->items + r->count * r->size;
    memset(item, 0, r->size);
    if ((rv = c->fn(st, item)) != 0)
        return rv;
    r->count++;
    return 0;
}

int
store_sql_collect(struct store_sql *db, sqlite3_stmt *st, struct store_sql_rows *rows,
                  store_sql_row_fn *fn, struct df_error *err)
{
    struct store_sql_collect_ctx c = {rows, fn};

    if (rows->size == 0)
        return DF_BUG(rows->size > 0);
    return store_sql_each(db, st, store_sql_collect_row_cb, &c, err);
}

/* Run one of our own statements, which return no rows. */
static int
store_sql_run_own(struct store_sql *db, enum store_sql_own id, struct df_error *err)
{
    int rv;

    if ((rv = store_sql_prepare(db, &db->own[id], store_sql_own_sql[id], store_sql_own_sql[id],
                                err)) != 0)
        return rv;
    rv = store_sql_step(db, db->own[id], err);
    sqlite3_reset(db->own[id]);
    return rv;
}

int
store_sql_savepoint(struct store_sql *db, struct df_error *err)
{
    int rv;

    if ((rv = store_sql_run_own(db, STORE_SQL_SAVEPOINT, err)) == 0)
        db->savepoints++;
    return rv;
}

int
store_sql_savepoint_end(struct store_sql *db, int rv, struct df_error *err)
{
    int rc;

    if (db->savepoints == 0)
        return DF_BUG(db->savepoints > 0);
    if (rv == 0) {
        rc = store_sql_run_own(db, STORE_SQL_RELEASE, err);
        if (rc == 0) {
            db->savepoints--;
            return 0;
        }
        rv = rc;
    }
    /* ROLLBACK TO keeps the savepoint open: the RELEASE after it closes it */
    store_sql_run_own(db, STORE_SQL_ROLLBACK_TO, NULL);
    store_sql_run_own(db, STORE_SQL_RELEASE, NULL);
    db->savepoints--;
    return rv;
}

int
store_sql_begin(struct store_sql *db, struct df_error *err)
{
    return store_sql_run_own(db, STORE_SQL_BEGIN, err);
}

int
store_sql_commit(struct store_sql *db, struct df_error *err)
{
    return store_sql_run_own(db, STORE_SQL_COMMIT, err);
}

void
store_sql_rollback(struct store_sql *db)
{
    if (!sqlite3_get_autocommit(db->sq))
        store_sql_run_own(db, STORE_SQL_ROLLBACK, NULL);
    db->savepoints = 0; /* a ROLLBACK ends every savepoint inside it */
}

int
store_sql_read_begin(struct store_sql *db, struct df_error *err)
{
    if (!sqlite3_get_autocommit(db->sq))
        return df_error_set(err, DF_EEXIST, "%s %s: a transaction is open already",
                            db->schema->name, db->path);
    return store_sql_run_own(db, STORE_SQL_BEGIN_READ, err);
}

void
store_sql_read_end(struct store_sql *db)
{
    if (!sqlite3_get_autocommit(db->sq) && store_sql_run_own(db, STORE_SQL_COMMIT, NULL) != 0)
        store_sql_rollback(db);
}

int
store_sql_changes(struct store_sql *db)
{
    return sqlite3_changes(db->sq);
}

/* Run every statement of a fixed SQL script (ours, never built from input). */
static int
store_sql_exec_script(struct store_sql *db, const char *sql)
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
store_sql_pragma_text(struct store_sql *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *s;
    int rc;

    rc = sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            s = sqlite3_column_text(st, 0);
            snprintf(out, outlen, "%s", s != NULL ? (const char *)s : "");
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_ERROR; /* a pragma we rely on returned nothing */
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int
store_sql_version(struct store_sql *db)
{
    char buf[24];
    long v;
    int rc;

    rc = store_sql_pragma_text(db, "PRAGMA user_version", buf, sizeof(buf));
    if (rc != SQLITE_OK)
        return store_sql_err(rc) != 0 ? store_sql_err(rc) : DF_EIO;
    v = strtol(buf, NULL, 10);
    if (v < 0 || v > 1000000)
        return DF_EIO; /* not a version any schema of ours wrote */
    return (int)v;
}

/* The file's schema version, refused (DF_EINVAL) when it is newer than want. */
static int
store_sql_version_check(struct store_sql *db, int want, struct df_error *err)
{
    int v;

    if ((v = store_sql_version(db)) < 0)
        return df_error_set(err, v, "%s %s: cannot read schema version: %s", db->schema->name,
                            db->path, sqlite3_errmsg(db->sq));
    if (v > want)
        return df_error_set(err, DF_EINVAL,
                            "%s %s: schema version %d is newer than this binary's %d",
                            db->schema->name, db->path, v, want);
    return v;
}

/*
 * Apply the migrations the file lacks, all in one transaction. The version is read again
 * once the write lock is held, since another process may have migrated the file meanwhile.
 */
static int
store_sql_migrate(struct store_sql *db, struct df_error *err)
{
    const int want = (int)db->schema->n_migrations;
    char bump[48];
    int from, v, rc, rv;

    if ((v = store_sql_version_check(db, want, err)) < 0 || v == want)
        return v < 0 ? v : 0;
    if ((rv = store_sql_begin(db, err)) != 0)
        return rv;
    if ((rv = store_sql_version_check(db, want, err)) < 0)
        goto out;
    for (from = v = rv; v < want; v++) {
        if ((rc = store_sql_exec_script(db, db->schema->migrations[v])) != SQLITE_OK) {
            rv = df_error_set(err, store_sql_err(rc) != 0 ? store_sql_err(rc) : DF_EIO,
                              "%s %s: migration to version %d: %s", db->schema->name, db->path,
                              v + 1, sqlite3_errmsg(db->sq));
            goto out;
        }
    }
    /* the version number is ours, never input */
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", want);
    if ((rc = store_sql_exec_script(db, bump)) != SQLITE_OK) {
        rv = store_sql_fail(db, rc, err, "schema version bump");
        goto out;
    }
    if ((rv = store_sql_commit(db, err)) != 0)
        goto out;
    if (from < want)
        log_info("store: %s %s migrated from schema version %d to %d", db->schema->name, db->path,
                 from, want);
    rv = 0;
out:
    if (rv != 0)
        store_sql_rollback(db);
    return rv;
}

int
store_sql_open(const char *path, const struct store_sql_schema *schema, struct store_sql **out,
               struct df_error *err)
{
    struct store_sql *db = NULL;
    char mode[16];
    int rc, rv;

    pthread_once(&store_sql_log_once, store_sql_log_setup);
    db = xcalloc(1, sizeof(*db));
    db->path = xstrdup(path);
    db->schema = schema;
    db->stmts = xcalloc(schema->n_stmts + 1, sizeof(*db->stmts));
    rc = sqlite3_open_v2(path, &db->sq,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rv = df_error_set(err, DF_EIO, "%s %s: cannot open: %s", schema->name, path,
                          db->sq != NULL ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(db->sq, 1);
    sqlite3_busy_timeout(db->sq, STORE_SQL_BUSY_MS);
    rc = store_sql_exec_script(db, "PRAGMA foreign_keys = ON");
    if (rc == SQLITE_OK)
        rc = store_sql_pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
    if (rc == SQLITE_OK && strcmp(mode, "wal") != 0) {
        rv = df_error_set(err, DF_EIO, "%s %s: cannot use WAL (journal mode %s)", schema->name,
                          path, mode);
        goto out;
    }
    if (rc == SQLITE_OK)
        rc = store_sql_exec_script(db, "PRAGMA synchronous = NORMAL");
    if (rc != SQLITE_OK) {
        rv = df_error_set(err, store_sql_err(rc) != 0 ? store_sql_err(rc) : DF_EIO, "%s %s: %s",
                          schema->name, path, sqlite3_errmsg(db->sq));
        goto out;
    }
    if ((rv = store_sql_migrate(db, err)) != 0)
        goto out;
    *out = db;
    db = NULL;
    rv = 0;
out:
    store_sql_close(db);
    return rv;
}

void
store_sql_close(struct store_sql *db)
{
    if (db == NULL)
        return;
    for (size_t i = 0; i < db->schema->n_stmts; i++)
        sqlite3_finalize(db->stmts[i]);
    for (size_t i = 0; i < DF_NELEM(db->own); i++)
        sqlite3_finalize(db->own[i]);
    if (db->sq != NULL && sqlite3_close(db->sq) != SQLITE_OK)
        log_warnx("store: %s %s: close: %s", db->schema->name, db->path, sqlite3_errmsg(db->sq));
    free(db->stmts);
    free(db->path);
    free(db);
}
