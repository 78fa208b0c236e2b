/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identifiers and piece geometry, as Dragonfly2 defines them (its pkg/idgen and piece sizes):
 * the v2 URL-based task id (SHA-256 of the canonical URL, tag, application, revision, the
 * user's piece length and "STANDARD"), host ids "<ip>-<hostname>[-seed]", peer ids
 * "<ip>-<hostname>-<uuidv4>[-seed]", and the piece length chosen from the content length.
 * All offsets and counts are 64-bit: content above 4 GiB is ordinary.
 */
#ifndef DF_DF_ID_H
#define DF_DF_ID_H

#include <stdbool.h>
#include <stdint.h>

#include "df/df_err.h"

/*
 * Piece length: next_pow2(length / 500) within [1 MiB, 64 MiB]. Upstream Dragonfly clamps
 * at 4 MiB; we allow 1 MiB because a relay passes on a piece's last byte only once the whole
 * piece is verified, so smaller pieces mean less waiting per hop (a whole piece time is 84 ms
 * at 100 Mbit/s for 1 MiB, 336 ms for 4 MiB) and a piece lost to a bad parent costs less.
 */
#define DF_ID_TASK_LEN           64 /* lowercase hex SHA-256 */
#define DF_ID_UUID_LEN           36
#define DF_ID_PIECE_LENGTH_MIN   (UINT64_C(1) << 20)
#define DF_ID_PIECE_LENGTH_MAX   (UINT64_C(64) << 20)
#define DF_ID_PIECE_COUNT_TARGET 500 /* content_length / this, rounded up to a power of 2 */

struct df_id_task_params {
    const char *url; /* required: http or https */
    const char *tag; /* NULL or "" when absent, as the others */
    const char *application;
    const char *revision;              /* hub backends only */
    uint64_t piece_length;             /* set by the user (check it with
                                          df_id_piece_length_is_valid); 0 = not set */
    const char *filtered_query_params; /* '&'-separated, on top of the defaults; may be NULL */
    unsigned url_flags;                /* DF_URL_CANON_* (df/df_url.h) */
};

/*
 * Compute the task id of p into out (64 lowercase hex + NUL). Returns DF_EINVAL (or
 * DF_ETOOBIG) with a message in err for a bad URL; out is untouched on failure.
 */
int df_id_task(const struct df_id_task_params *p, char out[DF_ID_TASK_LEN + 1],
               struct df_error *err);

/* True when s is exactly 64 characters of [0-9a-f] (what every received task id must be). */
bool df_id_task_is_valid(const char *s);

/* "<ip>-<hostname>" or "<ip>-<hostname>-seed"; the caller frees it. */
char *df_id_host_new(const char *ip, const char *hostname, bool seed);

/* A random (getrandom) version 4 UUID in its 36-character form. DF_EIO if getrandom fails. */
int df_id_uuid4(char out[DF_ID_UUID_LEN + 1]);

/*
 * A new peer id "<ip>-<hostname>-<uuidv4>" (+ "-seed") into *out (the caller frees it).
 * DF_EIO if no randomness is available; *out is then untouched.
 */
int df_id_peer_new(const char *ip, const char *hostname, bool seed, char **out);

/* True when a user-fixed piece length is allowed: 1 MiB <= n <= 64 MiB. */
bool df_id_piece_length_is_valid(uint64_t n);

/* Piece length for content_length: next_power_of_two(len / 500) clamped to [4, 64] MiB. */
uint64_t df_id_piece_length(uint64_t content_length);

/* Number of pieces: ceil(content_length / piece_length); 0 for empty content or length 0. */
uint64_t df_id_piece_count(uint64_t content_length, uint64_t piece_length);

/*
 * Offset and length of piece number (the last one may be short). DF_EINVAL when
 * piece_length is 0 or number is not below the piece count; outputs untouched then.
 */
int df_id_piece_range(uint64_t content_length, uint64_t piece_length, uint64_t number,
                      uint64_t *offset, uint64_t *length);

/*
 * The pieces overlapping bytes [start, start + len): the first number and how many. A range
 * reaching past the end is clipped; an empty result has *count = 0. DF_EINVAL when
 * piece_length is 0 or start is past the end of non-empty content.
 */
int df_id_piece_span(uint64_t content_length, uint64_t piece_length, uint64_t start, uint64_t len,
                     uint64_t *first, uint64_t *count);

#endif
