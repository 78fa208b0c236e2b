/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz Connect framing and message decoding: the input is a streaming request body, fed to
 * the envelope reader in chunks whose sizes come from the first input byte; every message is
 * decoded with small limits, end-of-stream messages as such, and re-encoded.
 */
#include <stdint.h>
#include <stdlib.h>

#include "df/rpc_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_frame_cb(uint8_t flags, const uint8_t *msg, size_t len, void *arg)
{
    struct rpc_codec_limits lim = {.max_msg_bytes = 4096, .max_depth = 8};
    struct rpc_codec_buf *out = arg;
    struct rpc_status st;
    cJSON *doc = NULL;

    if (flags & RPC_CODEC_FLAG_END) {
        if (rpc_codec_decode_end(msg, len, &lim, &st, NULL) == 0)
            rpc_codec_encode_end(out, &st);
        return 0;
    }
    if (rpc_codec_decode(msg, len, &lim, &doc, NULL) != 0)
        return 0;
    rpc_codec_encode(out, doc, true, 0);
    cJSON_Delete(doc);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rpc_codec_reader r;
    struct rpc_codec_buf out;
    size_t chunk;

    if (size == 0)
        return 0;
    chunk = (size_t)(data[0] % 16) + 1;
    data++;
    size--;
    rpc_codec_reader_init(&r, 4096);
    rpc_codec_buf_init(&out, 1 << 16);
    while (size > 0) {
        size_t n = size < chunk ? size : chunk;
        if (rpc_codec_reader_feed(&r, data, n, fuzz_frame_cb, &out, NULL) != 0)
            break;
        data += n;
        size -= n;
    }
    rpc_codec_reader_reset(&r);
    rpc_codec_buf_reset(&out, 0);
    return 0;
}
