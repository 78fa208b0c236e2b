/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Task, host and peer ids and piece geometry. The task id hashes the fields back to back
 * with no separators, absent ones contributing nothing, in Dragonfly's order: url', tag,
 * application, revision, decimal piece length, "STANDARD". Piece arithmetic divides before
 * it multiplies so nothing overflows for any 64-bit content length.
 */
#include "df/df_id.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "df/df_digest.h"
#include "df/df_url.h"
#include "df/xmalloc.h"

static void
id_hash_opt(struct df_sha256 *ctx, const char *s)
{
    if (s != NULL)
        df_sha256_update(ctx, s, strlen(s));
}

int
df_id_task(const struct df_id_task_params *p, char out[DF_ID_TASK_LEN + 1], struct df_error *err)
{
    struct df_sha256 ctx;
    uint8_t md[DF_SHA256_LEN];
    char *url = NULL, num[24];
    int rv;

    if (p->url == NULL) {
        rv = df_error_set(err, DF_EINVAL, "task id: url is required");
        goto out;
    }
    if ((rv = df_url_canonical_new(p->url, p->filtered_query_params, p->url_flags, &url, err)) != 0)
        goto out;
    df_sha256_init(&ctx);
    df_sha256_update(&ctx, url, strlen(url));
    id_hash_opt(&ctx, p->tag);
    id_hash_opt(&ctx, p->application);
    id_hash_opt(&ctx, p->revision);
    if (p->piece_length != 0) {
        snprintf(num, sizeof(num), "%" PRIu64, p->piece_length);
        id_hash_opt(&ctx, num);
    }
    id_hash_opt(&ctx, "STANDARD");
    df_sha256_final(&ctx, md);
    df_hex_encode(md, sizeof(md), out);
    rv = 0;
out:
    free(url);
    return rv;
}

bool
df_id_task_is_valid(const char *s)
{
    return s != NULL && strlen(s) == DF_ID_TASK_LEN && df_hex_is_lower(s, DF_ID_TASK_LEN);
}

char *
df_id_host_new(const char *ip, const char *hostname, bool seed)
{
    return xasprintf("%s-%s%s", ip, hostname, seed ? "-seed" : "");
}

int
df_id_uuid4(char out[DF_ID_UUID_LEN + 1])
{
    uint8_t b[16];
    size_t got = 0;
    ssize_t n;
    char hex[33];

    while (got < sizeof(b)) {
        n = getrandom(b + got, sizeof(b) - got, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return DF_EIO;
        got += (size_t)n;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    df_hex_encode(b, sizeof(b), hex);
    snprintf(out, DF_ID_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    return 0;
}

int
df_id_peer_new(const char *ip, const char *hostname, bool seed, char **out)
{
    char uuid[DF_ID_UUID_LEN + 1];
    int rv;

    if ((rv = df_id_uuid4(uuid)) != 0)
        return rv;
    *out = xasprintf("%s-%s-%s%s", ip, hostname, uuid, seed ? "-seed" : "");
    return 0;
}

bool
df_id_piece_length_is_valid(uint64_t n)
{
    return n >= DF_ID_PIECE_LENGTH_MIN && n <= DF_ID_PIECE_LENGTH_MAX;
}

uint64_t
df_id_piece_length(uint64_t content_length)
{
    uint64_t want = content_length / DF_ID_PIECE_COUNT_TARGET, p = 1;

    /* next_power_of_two, stopping once past the cap (no overflow near 2^64) */
    while (p < want && p <= DF_ID_PIECE_LENGTH_MAX)
        p <<= 1;
    if (p <= DF_ID_PIECE_LENGTH_MIN)
        return DF_ID_PIECE_LENGTH_MIN;
    if (p >= DF_ID_PIECE_LENGTH_MAX)
        return DF_ID_PIECE_LENGTH_MAX;
    return p;
}

uint64_t
df_id_piece_count(uint64_t content_length, uint64_t piece_length)
{
    if (piece_length == 0)
        return 0;
    return content_length / piece_length + (content_length % piece_length != 0);
}

int
df_id_piece_range(uint64_t content_length, uint64_t piece_length, uint64_t number, uint64_t *offset,
                  uint64_t *length)
{
    uint64_t off;

    if (number >= df_id_piece_count(content_length, piece_length))
        return DF_EINVAL;
    off = number * piece_length; /* < content_length: number < ceil(len / piece_length) */
    *offset = off;
    *length = content_length - off < piece_length ? content_length - off : piece_length;
    return 0;
}

int
df_id_piece_span(uint64_t content_length, uint64_t piece_length, uint64_t start, uint64_t len,
                 uint64_t *first, uint64_t *count)
{
    uint64_t end;

    if (piece_length == 0 || (content_length > 0 && start >= content_length) ||
        (content_length == 0 && start > 0))
        return DF_EINVAL;
    end = len > content_length - start ? content_length : start + len;
    *first = start / piece_length;
    *count = end == start ? 0 : (end - 1) / piece_length - *first + 1;
    return 0;
}
