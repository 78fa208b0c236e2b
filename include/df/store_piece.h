/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Piece rows of the peer cache. A piece is EXPECTED when its SHA-256 is known (from the
 * task metadata the scheduler carries, never from the parent that sends it) and FINISHED
 * once its bytes are in the data file and verified against that digest. Only
 * store_piece_record_verified makes a piece FINISHED, so after a crash the finished pieces
 * are exactly those recorded. Only FINISHED pieces are ever served or announced.
 */
#ifndef DF_STORE_PIECE_H
#define DF_STORE_PIECE_H

#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/df_err.h"

struct store_db;

enum store_piece_state {
    STORE_PIECE_EXPECTED = 1,   /* digest known, bytes not stored */
    STORE_PIECE_FINISHED = 2,   /* bytes written and verified */
    STORE_PIECE_UNVERIFIED = 3, /* was FINISHED, but the data file may have changed since:
                                   re-hash, then record_verified or drop (store_task.h) */
};

struct store_piece {
    uint64_t number;
    uint64_t offset;
    uint64_t length;
    uint8_t digest[DF_SHA256_LEN];
    enum store_piece_state state; /* output only */
};

/*
 * Remember the expected digest of piece p of task_id. No-op when the piece is already known
 * with the same digest; DF_EDIGEST when known with another one; DF_EINVAL when offset and
 * length do not match the task's geometry; DF_ENOTFOUND when the task is absent.
 */
int store_piece_expect(struct store_db *db, const char *task_id, const struct store_piece *p);

/*
 * Record that piece p of task_id is stored and verified. CONTRACT: call only after p's
 * bytes were written to the task's data file (and synced per the fsync policy) and their
 * SHA-256 equals p->digest, which came from the task metadata (or, for an UNVERIFIED piece,
 * after re-hashing them). Adds p->length to the task's bytes once. Idempotent for the same digest;
 * DF_EDIGEST when the piece was expected or recorded with another digest; DF_EINVAL for geometry
 * that does not match the task; DF_ENOTFOUND when the task is absent.
 */
int store_piece_record_verified(struct store_db *db, const char *task_id,
                                const struct store_piece *p);

/*
 * A re-check of piece number of task_id failed (its bytes do not hash to its digest): back to
 * EXPECTED, taking its length off the task's bytes if it was FINISHED. No-op for an EXPECTED
 * piece; DF_ENOTFOUND when the piece is unknown.
 */
int store_piece_drop(struct store_db *db, const char *task_id, uint64_t number);

/*
 * The pieces of task_id in state, in number order, as a new array *out (free() it; NULL when
 * there are none) of *n elements.
 */
int store_piece_list(struct store_db *db, const char *task_id, enum store_piece_state state,
                     struct store_piece **out, size_t *n);

/* Read piece number of task_id into *out. DF_ENOTFOUND if unknown; *out untouched then. */
int store_piece_get(struct store_db *db, const char *task_id, uint64_t number,
                    struct store_piece *out);

/*
 * The FINISHED pieces of task_id in number order, as a new array *out (free() it; NULL when
 * there are none) of *n elements.
 */
int store_piece_list_finished(struct store_db *db, const char *task_id, struct store_piece **out,
                              size_t *n);

#endif
