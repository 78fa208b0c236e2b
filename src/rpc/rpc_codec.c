/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Envelope framing, bounded byte queues and JSON decoding with limits. Nothing here touches
 * the network: the same functions serve the server, the client and the fuzzer. A message
 * never reaches a service unless it is within the size limit, within the nesting limit and a
 * JSON object.
 */
#include "df/rpc_codec.h"

#include <stdlib.h>
#include <string.h>

#include "df/df_json.h"

#define RPC_CODEC_PRINT_STACK 4096

void
rpc_codec_buf_init(struct rpc_codec_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void
rpc_codec_buf_reset(struct rpc_codec_buf *b, size_t keep)
{
    b->off = 0;
    b->len = 0;
    if (b->cap > keep) {
        free(b->ptr);
        b->ptr = NULL;
        b->cap = 0;
    }
}

size_t
rpc_codec_buf_len(const struct rpc_codec_buf *b)
{
    return b->len - b->off;
}

/* Make room for n more bytes: compact first, grow geometrically up to max. */
static int
rpc_codec_buf_reserve(struct rpc_codec_buf *b, size_t n)
{
    size_t used = b->len - b->off, cap;
    uint8_t *p;

    if (n > b->max || used > b->max - n)
        return DF_ETOOBIG;
    if (b->cap - b->len >= n)
        return 0;
    if (b->off > 0) {
        memmove(b->ptr, b->ptr + b->off, used);
        b->off = 0;
        b->len = used;
        if (b->cap - b->len >= n)
            return 0;
    }
    cap = b->cap > 0 ? b->cap : 256;
    while (cap - used < n)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > b->max)
        cap = b->max; /* used + n <= max was checked above */
    if ((p = realloc(b->ptr, cap)) == NULL)
        return DF_ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int
rpc_codec_buf_add(struct rpc_codec_buf *b, const void *p, size_t n)
{
    int rv;

    if (n == 0)
        return 0;
    if ((rv = rpc_codec_buf_reserve(b, n)) != 0)
        return rv;
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
    return 0;
}

size_t
rpc_codec_buf_take(struct rpc_codec_buf *b, void *dst, size_t n)
{
    size_t avail = b->len - b->off;

    if (n > avail)
        n = avail;
    if (n > 0)
        memcpy(dst, b->ptr + b->off, n);
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
    return n;
}

void
rpc_codec_put_header(uint8_t hdr[RPC_CODEC_HDR_LEN], uint8_t flags, uint32_t len)
{
    hdr[0] = flags;
    hdr[1] = (uint8_t)(len >> 24);
    hdr[2] = (uint8_t)(len >> 16);
    hdr[3] = (uint8_t)(len >> 8);
    hdr[4] = (uint8_t)len;
}

int
rpc_codec_encode_raw(struct rpc_codec_buf *b, const char *json, size_t len, bool envelope,
                     uint8_t flags)
{
    uint8_t hdr[RPC_CODEC_HDR_LEN];
    size_t total = len + (envelope ? RPC_CODEC_HDR_LEN : 0);
    int rv;

    if (len > UINT32_MAX)
        return DF_ETOOBIG;
    /* Reserve the whole frame first so a failure leaves b unchanged. */
    if ((rv = rpc_codec_buf_reserve(b, total)) != 0)
        return rv;
    if (envelope) {
        rpc_codec_put_header(hdr, flags, (uint32_t)len);
        memcpy(b->ptr + b->len, hdr, sizeof(hdr));
        b->len += sizeof(hdr);
    }
    if (len > 0)
        memcpy(b->ptr + b->len, json, len);
    b->len += len;
    return 0;
}

int
rpc_codec_encode(struct rpc_codec_buf *b, const cJSON *msg, bool envelope, uint8_t flags)
{
    char stack[RPC_CODEC_PRINT_STACK];
    char *heap = NULL;
    const char *text = stack;
    int rv;

    /* cJSON_PrintPreallocated does not write through its item; the cast is its API's. */
    if (!cJSON_PrintPreallocated((cJSON *)(uintptr_t)msg, stack, (int)sizeof(stack), false)) {
        if ((heap = cJSON_PrintUnformatted(msg)) == NULL)
            return DF_ENOMEM;
        text = heap;
    }
    rv = rpc_codec_encode_raw(b, text, strlen(text), envelope, flags);
    free(heap);
    return rv;
}

int
rpc_codec_encode_end(struct rpc_codec_buf *b, const struct rpc_status *st)
{
    cJSON *end = NULL, *e;
    int rv;

    if (st == NULL || st->code == RPC_OK)
        return rpc_codec_encode_raw(b, "{}", 2, true, RPC_CODEC_FLAG_END);
    if ((end = cJSON_CreateObject()) == NULL ||
        (e = rpc_err_to_json(st->code, st->message)) == NULL) {
        rv = DF_ENOMEM;
        goto out;
    }
    cJSON_AddItemToObject(end, "error", e);
    rv = rpc_codec_encode(b, end, true, RPC_CODEC_FLAG_END);
out:
    cJSON_Delete(end);
    return rv;
}

static size_t
rpc_codec_max_msg(const struct rpc_codec_limits *lim)
{
    return lim != NULL && lim->max_msg_bytes > 0 ? lim->max_msg_bytes : RPC_CODEC_DEFAULT_MAX_MSG;
}

int
rpc_codec_decode(const uint8_t *p, size_t len, const struct rpc_codec_limits *lim, cJSON **out,
                 struct df_error *err)
{
    struct df_json_limits jl = {
            .max_bytes = rpc_codec_max_msg(lim),
            .max_depth = lim != NULL && lim->max_depth > 0 ? lim->max_depth
                                                           : RPC_CODEC_DEFAULT_MAX_DEPTH,
    };
    cJSON *doc = NULL;
    int rv;

    if (len > jl.max_bytes)
        return df_error_set(err, DF_ETOOBIG, "message of %zu bytes exceeds the limit of %zu", len,
                            jl.max_bytes);
    if (len == 0) {
        if ((doc = cJSON_CreateObject()) == NULL)
            return DF_ENOMEM;
        *out = doc;
        return 0;
    }
    if ((rv = df_json_parse((const char *)p, len, &jl, &doc, err)) != 0)
        return rv;
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return df_error_set(err, DF_EINVAL, "message must be a JSON object");
    }
    *out = doc;
    return 0;
}

int
rpc_codec_decode_end(const uint8_t *p, size_t len, const struct rpc_codec_limits *lim,
                     struct rpc_status *st, struct df_error *err)
{
    cJSON *doc = NULL;
    const cJSON *e;
    int rv;

    if ((rv = rpc_codec_decode(p, len, lim, &doc, err)) != 0)
        return rv;
    e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    if (e == NULL || cJSON_IsNull(e)) {
        st->code = RPC_OK;
        st->message[0] = '\0';
    } else if (rpc_err_from_json(e, st) != 0) {
        rv = df_error_set(err, DF_EINVAL, "end-of-stream error is not an object");
    }
    cJSON_Delete(doc);
    return rv;
}

void
rpc_codec_reader_init(struct rpc_codec_reader *r, size_t max_msg_bytes)
{
    memset(r, 0, sizeof(*r));
    rpc_codec_buf_init(&r->msg, max_msg_bytes > 0 ? max_msg_bytes : RPC_CODEC_DEFAULT_MAX_MSG);
}

void
rpc_codec_reader_reset(struct rpc_codec_reader *r)
{
    rpc_codec_buf_reset(&r->msg, 0);
    r->hdr_len = 0;
    r->need = 0;
}

bool
rpc_codec_reader_is_idle(const struct rpc_codec_reader *r)
{
    return r->hdr_len == 0;
}

int
rpc_codec_reader_feed(struct rpc_codec_reader *r, const uint8_t *p, size_t n,
                      rpc_codec_frame_fn *fn, void *arg, struct df_error *err)
{
    size_t k, have;
    int rv;

    while (n > 0) {
        if (r->hdr_len < RPC_CODEC_HDR_LEN) {
            k = RPC_CODEC_HDR_LEN - r->hdr_len;
            if (k > n)
                k = n;
            memcpy(r->hdr + r->hdr_len, p, k);
            r->hdr_len += k;
            p += k;
            n -= k;
            if (r->hdr_len < RPC_CODEC_HDR_LEN)
                return 0;
            r->need = (size_t)r->hdr[1] << 24 | (size_t)r->hdr[2] << 16 | (size_t)r->hdr[3] << 8 |
                      r->hdr[4];
            if (r->need > r->msg.max)
                return df_error_set(err, DF_ETOOBIG,
                                    "message of %zu bytes exceeds the limit of %zu", r->need,
                                    r->msg.max);
        }
        have = rpc_codec_buf_len(&r->msg);
        if (have == 0 && n >= r->need) {
            /* The whole message is in this chunk: no copy. */
            const uint8_t *m = p;
            size_t mlen = r->need;
            uint8_t flags = r->hdr[0];
            p += mlen;
            n -= mlen;
            r->hdr_len = 0;
            r->need = 0;
            if ((rv = fn(flags, m, mlen, arg)) != 0)
                return rv;
            continue;
        }
        k = r->need - have;
        if (k > n)
            k = n;
        if ((rv = rpc_codec_buf_add(&r->msg, p, k)) != 0)
            return rv;
        p += k;
        n -= k;
        if (rpc_codec_buf_len(&r->msg) == r->need) {
            uint8_t flags = r->hdr[0];
            r->hdr_len = 0;
            r->need = 0;
            rv = fn(flags, r->msg.ptr + r->msg.off, rpc_codec_buf_len(&r->msg), arg);
            rpc_codec_buf_reset(&r->msg, 64 * 1024);
            if (rv != 0)
                return rv;
        }
    }
    return 0;
}
