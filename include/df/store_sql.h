/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A generic sqlite database: one file in WAL mode (synchronous=NORMAL, busy timeout, foreign
 * keys), whose schema is given by its user as a struct store_sql_schema: an ordered list of
 * migrations tracked by PRAGMA user_version and a table of statements, each prepared once on
 * first use and addressed by the user's own enum. Transactions nest as savepoints; sqlite's
 * own log goes to ours. One connection is used by one thread at a time (it is opened without
 * sqlite's mutex). The peer cache (store_db.h) and the manager's database sit on top of it.
 */
#ifndef DF_STORE_SQL_H
#define DF_STORE_SQL_H

#include <stddef.h>

#include <sqlite3.h>

#include "df/df_err.h"

/* What store_sql_step returns besides errors. */
#define STORE_SQL_DONE 0
#define STORE_SQL_ROW  1

/*
 * A database's schema, owned by its user and living as long as every handle opened with it
 * (a static const in practice). migrations[i] is a script (one or more statements, our own
 * text, never built from input) that takes the file from user_version i to i + 1: the list
 * is append-only, and its length is the version this binary writes. stmts[slot] is the SQL of
 * statement slot (one statement each), the slots being the user's enum.
 */
struct store_sql_schema {
    const char *name; /* for messages: "metadata db" */
    const char *const *migrations;
    size_t n_migrations;
    const char *const *stmts;
    size_t n_stmts;
};

struct store_sql;

/*
 * Called by store_sql_each for every row of st (borrowed: read its columns, do not step or
 * reset it); returns 0 to go on, or a negative DF_E* that stops the walk and becomes
 * store_sql_each's result.
 */
typedef int store_sql_row_fn(sqlite3_stmt *st, void *arg);

/*
 * Open (creating if needed) the database file at path and bring it to the schema's version:
 * every missing migration runs, with the version bump, in one transaction, so a failure leaves
 * the file as it was. A file from a newer binary (user_version above the schema's) is refused
 * with DF_EINVAL. On failure returns DF_EIO (DF_EAGAIN when locked, DF_ENOSPC when full),
 * with a one-line message naming the file in err, and *out is untouched. schema is borrowed.
 */
int store_sql_open(const char *path, const struct store_sql_schema *schema, struct store_sql **out,
                   struct df_error *err);

/* Finalize the statements and close; db may be NULL. An open transaction is rolled back. */
void store_sql_close(struct store_sql *db);

/* The schema version stored in the file (PRAGMA user_version), or a negative DF_E*. */
int store_sql_version(struct store_sql *db);

/*
 * The statement of schema slot, prepared on first use and kept until close, reset and with
 * its bindings cleared; borrowed. The caller binds, steps and sqlite3_reset()s it before
 * returning, so no read transaction stays open. DF_EINVAL for a slot outside the table, else
 * the mapped sqlite error, with sqlite's message in err (may be NULL).
 */
int store_sql_stmt(struct store_sql *db, size_t slot, sqlite3_stmt **out, struct df_error *err);

/*
 * Step st once: STORE_SQL_ROW, STORE_SQL_DONE, or a negative DF_E* with sqlite's message in
 * err (may be NULL). The statement is not reset.
 */
int store_sql_step(struct store_sql *db, sqlite3_stmt *st, struct df_error *err);

/*
 * Step st to its end, calling fn(st, arg) on each row, then reset it. Returns 0, fn's
 * negative result (which stops the walk), or a step error with sqlite's message in err.
 */
int store_sql_each(struct store_sql *db, sqlite3_stmt *st, store_sql_row_fn *fn, void *arg,
                   struct df_error *err);

/*
 * An array the rows of a statement are collected into, items of size bytes each: start with
 * {.size = sizeof(item)}. The caller owns items (count filled ones) and frees it on both paths.
 */
struct store_sql_rows {
    void *items;
    size_t count, cap, size;
};

/*
 * Step st to its end like store_sql_each, calling fn(st, item) with a fresh zeroed item at the
 * end of rows for every row; an item counts once fn returns 0 (on failure fn leaves it owning
 * nothing). Returns 0, fn's negative result, or a step error with sqlite's message in err.
 */
int store_sql_collect(struct store_sql *db, sqlite3_stmt *st, struct store_sql_rows *rows,
                      store_sql_row_fn *fn, struct df_error *err);

/*
 * Group writes into one transaction (BEGIN IMMEDIATE ... COMMIT); savepoints nest inside it.
 * begin and commit return 0 or the mapped sqlite error with its message in err (may be NULL);
 * when commit fails the transaction is still open. rollback never fails and does nothing
 * outside a transaction.
 */
int store_sql_begin(struct store_sql *db, struct df_error *err);
int store_sql_commit(struct store_sql *db, struct df_error *err);
void store_sql_rollback(struct store_sql *db);

/*
 * A read transaction (deferred BEGIN) around several reads, so that they take the file's and
 * the WAL's shared locks once, see one snapshot, and keep the page cache without checking it
 * again: sqlite takes and drops those locks (four fcntl calls) around every statement run
 * outside a transaction. Returns 0, or DF_EEXIST when a transaction is already open (nothing
 * to end then), or the mapped sqlite error. read_end commits (a read transaction has nothing
 * to write; a write run inside it is committed too) and rolls back when that fails.
 */
int store_sql_read_begin(struct store_sql *db, struct df_error *err);
void store_sql_read_end(struct store_sql *db);

/*
 * Make a group of statements atomic, inside or outside a transaction: savepoints nest, and
 * each store_sql_savepoint must be closed by one store_sql_savepoint_end, innermost first.
 * end releases the savepoint when rv is 0 and rolls back to it (undoing only what was done
 * since it began) otherwise; it returns rv, or the release error with its message in err.
 */
int store_sql_savepoint(struct store_sql *db, struct df_error *err);
int store_sql_savepoint_end(struct store_sql *db, int rv, struct df_error *err);

/* Rows changed by the last INSERT, UPDATE or DELETE on db. */
int store_sql_changes(struct store_sql *db);

/* Map an sqlite result code to 0 (OK, ROW, DONE) or a negative DF_E*. */
int store_sql_err(int rc);

#endif
