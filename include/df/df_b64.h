/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard base64 (RFC 4648, with padding): the inline content of tiny tasks, which
 * protobuf's JSON mapping carries as base64 text, and anything else the roles exchange as
 * base64. Decoding is strict: no whitespace, and the padding must be canonical.
 */
#ifndef DF_DF_B64_H
#define DF_DF_B64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes df_b64_encode writes for len input bytes, NUL included. */
size_t df_b64_encoded_size(size_t len);

/* Encode len bytes of p into out (df_b64_encoded_size(len) bytes). Returns out. */
char *df_b64_encode(const uint8_t *p, size_t len, char *out);

/*
 * Decode s (slen characters) into out (outcap bytes). Returns 0 and *outlen, DF_EINVAL for
 * malformed text, DF_ETOOBIG when out is too small; out is unspecified on failure.
 */
int df_b64_decode(const char *s, size_t slen, uint8_t *out, size_t outcap, size_t *outlen);

#endif
