/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (streaming and one-shot), hex encoding, and "sha256:<64 lowercase hex>" digests.
 * The hash uses the CPU's SHA extensions when cpuid reports them and mbedtls otherwise; both
 * give identical results, and a caller may pin one (tests, benchmarks). Everything here is
 * thread-safe: hashing large data runs on df_work threads.
 */
#ifndef DF_DF_DIGEST_H
#define DF_DF_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"

#define DF_SHA256_LEN     32
#define DF_SHA256_HEX_LEN 64
/* "sha256:" + 64 hex characters, without the NUL. */
#define DF_DIGEST_STR_LEN 71

enum df_sha256_impl {
    DF_SHA256_IMPL_AUTO = 0,    /* the fastest available one */
    DF_SHA256_IMPL_MBEDTLS = 1, /* portable fallback */
    DF_SHA256_IMPL_SHANI = 2,   /* x86 SHA extensions */
};

/* Streaming state: a value type, embed it or put it on the stack. */
struct df_sha256 {
    uint32_t state[8];
    uint64_t nbytes; /* bytes hashed so far */
    uint8_t block[64];
    size_t blocklen; /* bytes waiting in block */
    enum df_sha256_impl impl;
};

enum df_digest_algo {
    DF_DIGEST_SHA256 = 1,
};

/* A parsed digest. Only SHA-256 exists today; algo leaves room for more. */
struct df_digest {
    enum df_digest_algo algo;
    uint8_t bytes[DF_SHA256_LEN];
};

/* True when impl can run on this CPU (AUTO and MBEDTLS always can). */
bool df_sha256_impl_is_available(enum df_sha256_impl impl);

/* The implementation AUTO resolves to on this CPU (never AUTO). */
enum df_sha256_impl df_sha256_impl_best(void);

/* A static name for impl: "auto", "mbedtls", "sha-ni". */
const char *df_sha256_impl_name(enum df_sha256_impl impl);

/* Start a hash with the fastest implementation. */
void df_sha256_init(struct df_sha256 *ctx);

/* Start a hash with a given implementation; DF_EUNAVAIL if this CPU cannot run it. */
int df_sha256_init_impl(struct df_sha256 *ctx, enum df_sha256_impl impl);

/* Add len bytes at p (p may be NULL when len is 0). */
void df_sha256_update(struct df_sha256 *ctx, const void *p, size_t len);

/*
 * Add la bytes at pa to a and lb bytes at pb to b: the same as two df_sha256_update calls,
 * but when both use SHA-NI their whole blocks run interleaved on one core (about twice the
 * throughput of one after the other) for as long as both have some; a partial block
 * waiting in either is completed first, on its own.
 */
void df_sha256_update_pair(struct df_sha256 *a, const void *pa, size_t la, struct df_sha256 *b,
                           const void *pb, size_t lb);

/* df_sha256_update_pair with len bytes on each side. */
void df_sha256_update_x2(struct df_sha256 *a, const void *pa, struct df_sha256 *b, const void *pb,
                         size_t len);

/* Write the digest to md. ctx must be initialised again before reuse. */
void df_sha256_final(struct df_sha256 *ctx, uint8_t md[DF_SHA256_LEN]);

/* One-shot SHA-256 of len bytes at p. */
void df_sha256(const void *p, size_t len, uint8_t md[DF_SHA256_LEN]);

/* Write 2*len lowercase hex characters and a NUL to out (which holds 2*len + 1 bytes). */
void df_hex_encode(const uint8_t *p, size_t len, char *out);

/*
 * Decode exactly 2*outlen hex characters (either case) from s into out. Returns DF_EINVAL
 * when slen != 2*outlen or a character is not hex; out is then unspecified.
 */
int df_hex_decode(const char *s, size_t slen, uint8_t *out, size_t outlen);

/* The value of one hex digit (either case), or -1. */
int df_hex_digit(char c);

/* True when s holds exactly len characters of [0-9a-f]. */
bool df_hex_is_lower(const char *s, size_t len);

/*
 * Parse "sha256:<64 lowercase hex>" (the OCI form; NUL-terminated s) into *out. Anything else
 * (other algorithms, uppercase, wrong length, missing prefix) returns DF_EINVAL with a message
 * in err; *out is untouched on failure.
 */
int df_digest_parse(const char *s, struct df_digest *out, struct df_error *err);

/* Set *out to the SHA-256 digest md. */
void df_digest_set_sha256(struct df_digest *out, const uint8_t md[DF_SHA256_LEN]);

/* Write "sha256:<hex>" and a NUL to out (DF_DIGEST_STR_LEN + 1 bytes). Returns out. */
char *df_digest_format(const struct df_digest *d, char out[DF_DIGEST_STR_LEN + 1]);

/* True when a and b are the same algorithm and bytes. */
bool df_digest_is_equal(const struct df_digest *a, const struct df_digest *b);

#endif
