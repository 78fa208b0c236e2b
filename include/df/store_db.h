/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's metadata database: the peer cache's schema (tasks and their pieces) on the
 * generic store_sql (WAL, busy timeout, foreign keys, migrations tracked by PRAGMA
 * user_version, prepared statements only, sqlite's own log routed to ours). One connection
 * is used by one thread at a time (it is opened without sqlite's mutex).
 * store_task.h and store_piece.h hold the model on top of it.
 */
#ifndef DF_STORE_DB_H
#define DF_STORE_DB_H

#include "df/df_err.h"

/* The schema version this binary writes; a newer database is refused. */
#define STORE_DB_SCHEMA_VERSION 2

struct store_db;

/*
 * Open (creating if needed) the database file at path and migrate it to
 * STORE_DB_SCHEMA_VERSION. On failure returns DF_EIO (or DF_EINVAL for a database from a
 * newer binary, DF_EAGAIN when locked) with an operator-facing message in err, and *out is
 * untouched.
 */
int store_db_open(const char *path, struct store_db **out, struct df_error *err);

/* Finalize the statements and close; db may be NULL. Must not be inside a transaction. */
void store_db_close(struct store_db *db);

/* The schema version stored in the file (PRAGMA user_version), or a negative DF_E*. */
int store_db_schema_version(struct store_db *db);

/*
 * Group many writes into one transaction (BEGIN IMMEDIATE ... COMMIT); the store_task and
 * store_piece calls nest inside it. Return 0 or DF_EIO/DF_EAGAIN. rollback never fails.
 */
int store_db_begin(struct store_db *db);
int store_db_commit(struct store_db *db);
void store_db_rollback(struct store_db *db);

#endif
