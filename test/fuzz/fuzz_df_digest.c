/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the digest string parser and hex helpers. The input, up to its first NUL, is parsed
 * as "sha256:<hex>"; what parses must format back to the very same string, and a refusal
 * must leave the output alone. The same bytes go through df_hex_decode/df_hex_is_lower,
 * whose answers must agree with each other and with a re-encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/df_digest.h"

#define FZ_MAX_INPUT 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_hex(const char *s, size_t len)
{
    uint8_t bin[FZ_MAX_INPUT / 2];
    char back[FZ_MAX_INPUT + 1];
    bool lower = df_hex_is_lower(s, len);

    if (len % 2 != 0) {
        if (df_hex_decode(s, len, bin, len / 2) == 0)
            abort();
        return;
    }
    if (df_hex_decode(s, len, bin, len / 2) != 0) {
        if (lower)
            abort();
        return;
    }
    df_hex_encode(bin, len / 2, back);
    /* lowercase hex round-trips exactly; other valid hex only up to case */
    if (strlen(back) != len || (lower && memcmp(back, s, len) != 0) ||
        (!lower && strncasecmp(back, s, len) != 0))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[FZ_MAX_INPUT + 1], out[DF_DIGEST_STR_LEN + 1];
    struct df_digest d, e;
    struct df_error err;

    if (size > FZ_MAX_INPUT)
        size = FZ_MAX_INPUT;
    memcpy(s, data, size);
    s[size] = '\0';
    memset(&d, 0xa5, sizeof(d));
    memcpy(&e, &d, sizeof(d));
    if (df_digest_parse(s, &d, &err) != 0) {
        /* untouched, and a refusal is one plain line whatever the input holds */
        if (memcmp(&d, &e, sizeof(d)) != 0 || memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
            err.msg[0] == '\0' || strpbrk(err.msg, "\r\n") != NULL)
            abort();
    } else {
        if (d.algo != DF_DIGEST_SHA256 || strcmp(df_digest_format(&d, out), s) != 0)
            abort();
        df_digest_set_sha256(&e, d.bytes);
        if (!df_digest_is_equal(&d, &e))
            abort();
    }
    fuzz_hex(s, strlen(s));
    return 0;
}
