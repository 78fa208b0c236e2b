/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64, written for clarity over speed: the inputs are small (a tiny task's inline
 * content is at most 128 bytes).
 */
#include "df/df_b64.h"

#include "df/df_err.h"

static const char b64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
df_b64_encoded_size(size_t len)
{
    return (len + 2) / 3 * 4 + 1;
}

char *
df_b64_encode(const uint8_t *p, size_t len, char *out)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
df_b64_decode(const char *s, size_t slen, uint8_t *out, size_t outcap, size_t *outlen)
{
    size_t o = 0;

    if (slen % 4 != 0)
        return DF_EINVAL;
    for (size_t i = 0; i < slen; i += 4) {
        int v[4];
        size_t pad = 0;
        uint32_t w;

        for (int k = 0; k < 4; k++) {
            v[k] = b64_value(s[i + k]);
            if (v[k] < 0) {
                /* '=' only as the last one or two characters of the text */
                if (s[i + k] != '=' || i + 4 != slen || k < 2)
                    return DF_EINVAL;
                pad++;
                v[k] = 0;
            } else if (pad > 0) {
                return DF_EINVAL;
            }
        }
        w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
            return DF_EINVAL;
        if (o + 3 - pad > outcap)
            return DF_ETOOBIG;
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8 & 0xff);
        if (pad < 1)
            out[o++] = (uint8_t)(w & 0xff);
    }
    *outlen = o;
    return 0;
}
