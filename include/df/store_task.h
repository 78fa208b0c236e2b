/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Task rows of the peer cache: what is cached for one task id, its piece geometry, the
 * whole-content digest and validators when known, its state, times for LRU eviction and the
 * bytes of verified pieces (our own quota accounting, never the filesystem's).
 *
 * State diagram:
 *
 *     store_task_put ---> RUNNING ---store_task_mark_done---> DONE
 *                          | ^ ^ \---store_task_unverify / _reset_pieces---/
 *     store_task_mark_failed | store_task_put (re-download)
 *                          v |
 *                          FAILED
 *
 * DONE requires every piece to be recorded verified. Deleting is allowed in every state.
 *
 * Trust: the FINISHED rows of a task describe bytes in its data file. They are trusted
 * without re-hashing only while the task is sealed (store_task_seal, after the file was
 * fsynced) and the file still has the stamp recorded then. Whoever finds a task unsealed
 * with rows it did not write in this process lifetime, or a stamp that differs, calls
 * store_task_unverify (re-hash each piece before trusting it) or, when the file is gone,
 * store_task_reset_pieces.
 */
#ifndef DF_STORE_TASK_H
#define DF_STORE_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/df_err.h"
#include "df/df_id.h"
#include "df/store_data.h"

struct store_db;

enum store_task_state {
    STORE_TASK_RUNNING = 1, /* some pieces may be verified, more may come */
    STORE_TASK_DONE = 2,    /* every piece verified; servable in full */
    STORE_TASK_FAILED = 3,  /* given up; verified pieces stay until evicted */
};

struct store_task {
    char id[DF_ID_TASK_LEN + 1];
    char *url;               /* the canonical URL (filtered params, i.e. signatures, removed) */
    uint64_t content_length; /* known before a task is stored; <= INT64_MAX */
    uint64_t piece_length;
    uint64_t piece_count; /* derived from the two above by store_task_put */
    bool has_digest;      /* whole-content digest known */
    struct df_digest digest;
    char *etag;          /* origin validators; NULL if none */
    char *last_modified; /* NULL if none */
    enum store_task_state state;
    int64_t created_at;  /* unix ms */
    int64_t accessed_at; /* unix ms */
    uint64_t bytes;      /* sum of the lengths of verified pieces */
    bool sealed;         /* stamp is the data file's when its pieces were sealed */
    struct store_data_stamp stamp;
};

/* Free the strings of t and zero it; t may be NULL. */
void store_task_reset(struct store_task *t);

/* Free an array returned by a store_task_list_* call (each element reset); NULL is fine. */
void store_task_list_free(struct store_task *tasks, size_t n);

/*
 * Create the task t->id (state RUNNING, created_at = accessed_at = now) or, when it exists
 * with the same content and piece length, refresh its url, digest, validators and
 * accessed_at (a FAILED task becomes RUNNING again). Reads id, url, content_length,
 * piece_length, has_digest/digest, etag, last_modified; the rest is ignored. Returns
 * DF_EINVAL for a malformed id or geometry, DF_EEXIST when the task exists with another
 * geometry (the origin changed: delete it first), DF_EIO on database errors.
 */
int store_task_put(struct store_db *db, const struct store_task *t, int64_t now);

/* Read task id into *out (the caller resets it). DF_ENOTFOUND if absent; *out untouched. */
int store_task_get(struct store_db *db, const char *id, struct store_task *out);

/* Set accessed_at = now (a read hit). DF_ENOTFOUND if absent. */
int store_task_touch(struct store_db *db, const char *id, int64_t now);

/*
 * RUNNING -> DONE, only when every piece is recorded verified: DF_EINVAL otherwise (the
 * message is not needed: the caller counts its pieces). Already DONE: 0. DF_ENOTFOUND if
 * absent.
 */
int store_task_mark_done(struct store_db *db, const char *id);

/* RUNNING -> FAILED (DONE stays DONE: its pieces are all good). DF_ENOTFOUND if absent. */
int store_task_mark_failed(struct store_db *db, const char *id);

/*
 * Delete the task and its piece rows. Delete the rows before the data file: a crash in
 * between leaves an orphan file for GC, never a row promising bytes that are gone.
 * DF_ENOTFOUND if absent.
 */
int store_task_delete(struct store_db *db, const char *id);

/*
 * Seal a DONE task: its pieces are in a data file that was made durable and then had stamp
 * (store_data_seal). DF_EINVAL when the task is not DONE, DF_ENOTFOUND if absent.
 */
int store_task_seal(struct store_db *db, const char *id, const struct store_data_stamp *stamp);

/* Forget the seal before writing to the data file again. DF_ENOTFOUND if absent. */
int store_task_unseal(struct store_db *db, const char *id);

/*
 * The data file may no longer hold what the rows say: unseal, turn every FINISHED piece
 * into UNVERIFIED (the bytes are there, maybe; re-hash before trusting), bytes = 0, and
 * DONE -> RUNNING. Atomic. DF_ENOTFOUND if absent.
 */
int store_task_unverify(struct store_db *db, const char *id);

/*
 * The data file is new or gone: no piece of the task is stored. Unseal, every piece back to
 * EXPECTED (digests kept), bytes = 0, DONE -> RUNNING. Atomic. DF_ENOTFOUND if absent.
 */
int store_task_reset_pieces(struct store_db *db, const char *id);

/*
 * Up to limit tasks, least recently accessed first (ties by id), into a new array *out of
 * *n elements (free with store_task_list_free; *out is NULL when none).
 */
int store_task_list_lru(struct store_db *db, size_t limit, struct store_task **out, size_t *n);

/* Sum of the bytes of every task: what counts against the cache quota. */
int store_task_bytes_total(struct store_db *db, uint64_t *out);

#endif
