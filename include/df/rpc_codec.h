/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connect framing and message decoding. Streaming bodies are envelopes: 1 flag byte, a 4-byte
 * big-endian length, then that many bytes of JSON; flag 0x02 marks the end-of-stream message
 * {"error":{...},"metadata":{...}}. Every message from the network is decoded here, with the
 * size and nesting limits applied, so services only ever see parsed, validated JSON objects.
 */
#ifndef DF_RPC_CODEC_H
#define DF_RPC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"
#include "df/rpc_err.h"

#define RPC_CODEC_FLAG_COMPRESSED 0x01
#define RPC_CODEC_FLAG_END        0x02
#define RPC_CODEC_HDR_LEN         5

#define RPC_CODEC_DEFAULT_MAX_MSG   (4u << 20)
#define RPC_CODEC_DEFAULT_MAX_DEPTH 32

struct rpc_codec_limits {
    size_t max_msg_bytes; /* 0 = RPC_CODEC_DEFAULT_MAX_MSG */
    int max_depth;        /* 0 = RPC_CODEC_DEFAULT_MAX_DEPTH */
};

/*
 * A bounded byte queue: append at the end, consume from the front. Used for request bodies
 * and queued output. max bounds len; storage grows on demand and is kept for reuse.
 */
struct rpc_codec_buf {
    uint8_t *ptr;
    size_t off; /* consumed prefix */
    size_t len; /* end of valid data (bytes queued = len - off) */
    size_t cap;
    size_t max;
};

void rpc_codec_buf_init(struct rpc_codec_buf *b, size_t max);

/* Drop the contents; storage larger than keep bytes is released. */
void rpc_codec_buf_reset(struct rpc_codec_buf *b, size_t keep);

/* Bytes queued. */
size_t rpc_codec_buf_len(const struct rpc_codec_buf *b);

/* Append n bytes. Returns 0, DF_ETOOBIG past max (nothing appended) or DF_ENOMEM. */
int rpc_codec_buf_add(struct rpc_codec_buf *b, const void *p, size_t n);

/* Copy up to n queued bytes to dst and consume them; returns the count. */
size_t rpc_codec_buf_take(struct rpc_codec_buf *b, void *dst, size_t n);

/* Write an envelope header (flags, len) into hdr. */
void rpc_codec_put_header(uint8_t hdr[RPC_CODEC_HDR_LEN], uint8_t flags, uint32_t len);

/*
 * Append msg printed as compact JSON to b; with envelope, framed with flags. Printing goes
 * through a stack buffer, so small messages cost no allocation. Returns 0, DF_ETOOBIG when
 * the message or b's max would be exceeded (b unchanged) or DF_ENOMEM.
 */
int rpc_codec_encode(struct rpc_codec_buf *b, const cJSON *msg, bool envelope, uint8_t flags);

/* Append an already printed JSON text (len bytes), optionally framed. Same returns. */
int rpc_codec_encode_raw(struct rpc_codec_buf *b, const char *json, size_t len, bool envelope,
                         uint8_t flags);

/* Append the end-of-stream envelope for st: {} for RPC_OK, else {"error":{...}}. */
int rpc_codec_encode_end(struct rpc_codec_buf *b, const struct rpc_status *st);

/*
 * Decode one message: at most lim->max_msg_bytes, nesting within lim->max_depth, and a JSON
 * object at the top (an empty body decodes as {}). Returns 0 and *out (caller frees), or
 * DF_ETOOBIG / DF_EINVAL with a message in err.
 */
int rpc_codec_decode(const uint8_t *p, size_t len, const struct rpc_codec_limits *lim, cJSON **out,
                     struct df_error *err);

/*
 * Decode an end-of-stream message into st (RPC_OK for {} or no "error"). Returns 0, or a
 * DF_E* code when the message itself is malformed (err says why).
 */
int rpc_codec_decode_end(const uint8_t *p, size_t len, const struct rpc_codec_limits *lim,
                         struct rpc_status *st, struct df_error *err);

/* Called for each complete envelope; a non-zero return stops rpc_codec_reader_feed with it. */
typedef int rpc_codec_frame_fn(uint8_t flags, const uint8_t *msg, size_t len, void *arg);

/* Incremental envelope parser; whole messages are buffered up to max bytes. */
struct rpc_codec_reader {
    uint8_t hdr[RPC_CODEC_HDR_LEN];
    size_t hdr_len;
    size_t need; /* message length from the header */
    struct rpc_codec_buf msg;
};

void rpc_codec_reader_init(struct rpc_codec_reader *r, size_t max_msg_bytes);

/* Release the buffer; the reader may be initialised again. */
void rpc_codec_reader_reset(struct rpc_codec_reader *r);

/*
 * Feed n bytes; fn runs for every envelope completed. Messages inside one chunk are passed
 * without copying. Returns 0, DF_ETOOBIG for an envelope over the limit (err says so),
 * DF_ENOMEM, or fn's non-zero return. After an error the reader must be reset.
 */
int rpc_codec_reader_feed(struct rpc_codec_reader *r, const uint8_t *p, size_t n,
                          rpc_codec_frame_fn *fn, void *arg, struct df_error *err);

/* True when no partial envelope is buffered (a body may end here). */
bool rpc_codec_reader_is_idle(const struct rpc_codec_reader *r);

#endif
