/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 with two block functions behind one streaming front end: the x86 SHA extensions
 * (SHA256RNDS2/MSG1/MSG2, about 6x mbedtls on this CPU) when cpuid reports them, else
 * mbedtls's block function. The front end owns buffering and padding, so both paths see the
 * same whole 64-byte blocks and must agree bit for bit (the unit tests compare them). The
 * CPU check runs once (pthread_once); everything else is reentrant.
 */
#include "df/df_digest.h"

#include <pthread.h>
#include <string.h>

#include <mbedtls/sha256.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define DF_DIGEST_HAVE_X86 1
#else
#define DF_DIGEST_HAVE_X86 0
#endif

static const uint32_t sha256_init_state[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static enum df_sha256_impl sha256_best = DF_SHA256_IMPL_MBEDTLS;

static void
sha256_blocks_mbedtls(uint32_t state[8], const uint8_t *p, size_t nblocks)
{
    mbedtls_sha256_context c;

    /* mbedtls 2.28 keeps its chaining state in the public field `state`. */
    mbedtls_sha256_init(&c);
    memcpy(c.state, state, sizeof(c.state));
    for (; nblocks > 0; nblocks--, p += 64)
        mbedtls_internal_sha256_process(&c, p);
    memcpy(state, c.state, sizeof(c.state));
    mbedtls_sha256_free(&c);
}

#if DF_DIGEST_HAVE_X86
/* Round constants: the first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes (FIPS 180-4 §4.2.2), read four at a time as one vector. */
static const uint32_t sha256_k[64] __attribute__((aligned(16))) = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
};

/*
 * Four rounds. abef holds (A,B,E,F) and cdgh (C,D,G,H), high lane first, as SHA256RNDS2
 * wants. Each RNDS2 runs two rounds on the low two lanes of wk and returns the new ABEF;
 * the old ABEF is then the new CDGH, so two calls with swapped roles end with abef/cdgh
 * meaning the same again.
 */
#define SHANI_ROUNDS4(abef, cdgh, w, i)                                                        \
    do {                                                                                       \
        __m128i wk_ = _mm_add_epi32((w), _mm_load_si128((const __m128i *)&sha256_k[4 * (i)])); \
        (cdgh) = _mm_sha256rnds2_epu32((cdgh), (abef), wk_);                                   \
        (abef) = _mm_sha256rnds2_epu32((abef), (cdgh), _mm_shuffle_epi32(wk_, 0x0e));          \
    } while (0)

/*
 * Message schedule: with m0..m3 = W[t-16..t-1] in groups of four, replace m0 by W[t..t+3].
 * MSG1 adds sigma0(W[t-15]) to W[t-16], the alignr supplies W[t-7], and MSG2 adds
 * sigma1(W[t-2]) (including the two words it computes itself).
 */
#define SHANI_SCHEDULE(m0, m1, m2, m3)                                                        \
    ((m0) = _mm_sha256msg2_epu32(                                                             \
             _mm_add_epi32(_mm_sha256msg1_epu32((m0), (m1)), _mm_alignr_epi8((m3), (m2), 4)), \
             (m3)))

/* state[0..7] = A..H in memory order -> (A,B,E,F) and (C,D,G,H), as SHA256RNDS2 wants */
__attribute__((target("sha,sse4.1"))) static inline void
shani_load(const uint32_t state[8], __m128i *abef, __m128i *cdgh)
{
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xb1); /* BADC */
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1b);

    *abef = _mm_alignr_epi8(tmp, hgfe, 8);
    *cdgh = _mm_blend_epi16(hgfe, tmp, 0xf0);
}

/* and back to A..H */
__attribute__((target("sha,sse4.1"))) static inline void
shani_store(uint32_t state[8], __m128i abef, __m128i cdgh)
{
    __m128i tmp = _mm_shuffle_epi32(abef, 0x1b); /* A B E F, low lane first */

    cdgh = _mm_shuffle_epi32(cdgh, 0xb1); /* G H C D */
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(tmp, cdgh, 0xf0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(cdgh, tmp, 8));
}

__attribute__((target("sha,sse4.1"))) static void
sha256_blocks_shani(uint32_t state[8], const uint8_t *p, size_t nblocks)
{
    /* byte-swap each 32-bit word: the message is big-endian */
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abef, cdgh, save_abef, save_cdgh, m0, m1, m2, m3;

    shani_load(state, &abef, &cdgh);

    for (; nblocks > 0; nblocks--, p += 64) {
        save_abef = abef;
        save_cdgh = cdgh;
        m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        SHANI_ROUNDS4(abef, cdgh, m0, 0);
        m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        SHANI_ROUNDS4(abef, cdgh, m1, 1);
        m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        SHANI_ROUNDS4(abef, cdgh, m2, 2);
        m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        SHANI_ROUNDS4(abef, cdgh, m3, 3);
        for (int i = 4; i < 16; i += 4) {
            SHANI_SCHEDULE(m0, m1, m2, m3);
            SHANI_ROUNDS4(abef, cdgh, m0, i);
            SHANI_SCHEDULE(m1, m2, m3, m0);
            SHANI_ROUNDS4(abef, cdgh, m1, i + 1);
            SHANI_SCHEDULE(m2, m3, m0, m1);
            SHANI_ROUNDS4(abef, cdgh, m2, i + 2);
            SHANI_SCHEDULE(m3, m0, m1, m2);
            SHANI_ROUNDS4(abef, cdgh, m3, i + 3);
        }
        abef = _mm_add_epi32(abef, save_abef);
        cdgh = _mm_add_epi32(cdgh, save_cdgh);
    }

    shani_store(state, abef, cdgh);
}

/*
 * Two messages at once, block for block: one message's rounds are a chain of dependent
 * SHA256RNDS2 (each waits for the last), so a core that can issue more than one of them
 * per latency period sits idle between them; a second, independent chain fills that gap.
 */
__attribute__((target("sha,sse4.1"))) static void
sha256_blocks_shani_x2(uint32_t sa[8], const uint8_t *pa, uint32_t sb[8], const uint8_t *pb,
                       size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abef_a, cdgh_a, abef_b, cdgh_b, save_abef_a, save_cdgh_a, save_abef_b, save_cdgh_b, a0,
            a1, a2, a3, b0, b1, b2, b3;

    shani_load(sa, &abef_a, &cdgh_a);
    shani_load(sb, &abef_b, &cdgh_b);

    for (; nblocks > 0; nblocks--, pa += 64, pb += 64) {
        save_abef_a = abef_a;
        save_cdgh_a = cdgh_a;
        save_abef_b = abef_b;
        save_cdgh_b = cdgh_b;
        a0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pa + 0)), bswap);
        b0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pb + 0)), bswap);
        SHANI_ROUNDS4(abef_a, cdgh_a, a0, 0);
        SHANI_ROUNDS4(abef_b, cdgh_b, b0, 0);
        a1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pa + 16)), bswap);
        b1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pb + 16)), bswap);
        SHANI_ROUNDS4(abef_a, cdgh_a, a1, 1);
        SHANI_ROUNDS4(abef_b, cdgh_b, b1, 1);
        a2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pa + 32)), bswap);
        b2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pb + 32)), bswap);
        SHANI_ROUNDS4(abef_a, cdgh_a, a2, 2);
        SHANI_ROUNDS4(abef_b, cdgh_b, b2, 2);
        a3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pa + 48)), bswap);
        b3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pb + 48)), bswap);
        SHANI_ROUNDS4(abef_a, cdgh_a, a3, 3);
        SHANI_ROUNDS4(abef_b, cdgh_b, b3, 3);
        for (int i = 4; i < 16; i += 4) {
            SHANI_SCHEDULE(a0, a1, a2, a3);
            SHANI_SCHEDULE(b0, b1, b2, b3);
            SHANI_ROUNDS4(abef_a, cdgh_a, a0, i);
            SHANI_ROUNDS4(abef_b, cdgh_b, b0, i);
            SHANI_SCHEDULE(a1, a2, a3, a0);
            SHANI_SCHEDULE(b1, b2, b3, b0);
            SHANI_ROUNDS4(abef_a, cdgh_a, a1, i + 1);
            SHANI_ROUNDS4(abef_b, cdgh_b, b1, i + 1);
            SHANI_SCHEDULE(a2, a3, a0, a1);
            SHANI_SCHEDULE(b2, b3, b0, b1);
            SHANI_ROUNDS4(abef_a, cdgh_a, a2, i + 2);
            SHANI_ROUNDS4(abef_b, cdgh_b, b2, i + 2);
            SHANI_SCHEDULE(a3, a0, a1, a2);
            SHANI_SCHEDULE(b3, b0, b1, b2);
            SHANI_ROUNDS4(abef_a, cdgh_a, a3, i + 3);
            SHANI_ROUNDS4(abef_b, cdgh_b, b3, i + 3);
        }
        abef_a = _mm_add_epi32(abef_a, save_abef_a);
        cdgh_a = _mm_add_epi32(cdgh_a, save_cdgh_a);
        abef_b = _mm_add_epi32(abef_b, save_abef_b);
        cdgh_b = _mm_add_epi32(cdgh_b, save_cdgh_b);
    }

    shani_store(sa, abef_a, cdgh_a);
    shani_store(sb, abef_b, cdgh_b);
}

static bool
sha256_cpu_has_shani(void)
{
    unsigned int a, b, c, d;

    /* leaf 1: SSSE3 (ecx 9) and SSE4.1 (ecx 19); leaf 7.0: SHA (ebx 29) */
    if (__get_cpuid(1, &a, &b, &c, &d) == 0)
        return false;
    if ((c & (1u << 9)) == 0 || (c & (1u << 19)) == 0)
        return false;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0)
        return false;
    return (b & (1u << 29)) != 0;
}
#endif

static void
sha256_detect(void)
{
#if DF_DIGEST_HAVE_X86
    if (sha256_cpu_has_shani())
        sha256_best = DF_SHA256_IMPL_SHANI;
#endif
}

enum df_sha256_impl
df_sha256_impl_best(void)
{
    pthread_once(&sha256_once, sha256_detect);
    return sha256_best;
}

bool
df_sha256_impl_is_available(enum df_sha256_impl impl)
{
    switch (impl) {
    case DF_SHA256_IMPL_AUTO:
    case DF_SHA256_IMPL_MBEDTLS:
        return true;
    case DF_SHA256_IMPL_SHANI:
        return df_sha256_impl_best() == DF_SHA256_IMPL_SHANI;
    }
    return false;
}

const char *
df_sha256_impl_name(enum df_sha256_impl impl)
{
    switch (impl) {
    case DF_SHA256_IMPL_AUTO:
        return "auto";
    case DF_SHA256_IMPL_MBEDTLS:
        return "mbedtls";
    case DF_SHA256_IMPL_SHANI:
        return "sha-ni";
    }
    return "unknown";
}

static void
sha256_blocks(struct df_sha256 *ctx, const uint8_t *p, size_t nblocks)
{
#if DF_DIGEST_HAVE_X86
    if (ctx->impl == DF_SHA256_IMPL_SHANI) {
        sha256_blocks_shani(ctx->state, p, nblocks);
        return;
    }
#endif
    sha256_blocks_mbedtls(ctx->state, p, nblocks);
}

int
df_sha256_init_impl(struct df_sha256 *ctx, enum df_sha256_impl impl)
{
    if (!df_sha256_impl_is_available(impl))
        return DF_EUNAVAIL;
    memcpy(ctx->state, sha256_init_state, sizeof(ctx->state));
    ctx->nbytes = 0;
    ctx->blocklen = 0;
    ctx->impl = impl == DF_SHA256_IMPL_AUTO ? df_sha256_impl_best() : impl;
    return 0;
}

void
df_sha256_init(struct df_sha256 *ctx)
{
    df_sha256_init_impl(ctx, DF_SHA256_IMPL_AUTO);
}

void
df_sha256_update(struct df_sha256 *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t n;

    if (len == 0)
        return;
    ctx->nbytes += len;
    if (ctx->blocklen > 0) {
        n = sizeof(ctx->block) - ctx->blocklen;
        if (n > len)
            n = len;
        memcpy(ctx->block + ctx->blocklen, p, n);
        ctx->blocklen += n;
        p += n;
        len -= n;
        if (ctx->blocklen < sizeof(ctx->block))
            return;
        sha256_blocks(ctx, ctx->block, 1);
        ctx->blocklen = 0;
    }
    if (len >= 64) {
        sha256_blocks(ctx, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
    }
    if (len > 0) {
        memcpy(ctx->block, p, len);
        ctx->blocklen = len;
    }
}

#if DF_DIGEST_HAVE_X86
/* Complete ctx's partial block (if any) from *p, as far as *len allows. */
static void
sha256_fill_block(struct df_sha256 *ctx, const uint8_t **p, size_t *len)
{
    size_t n = sizeof(ctx->block) - ctx->blocklen;

    if (ctx->blocklen == 0 || *len == 0)
        return;
    if (n > *len)
        n = *len;
    df_sha256_update(ctx, *p, n);
    *p += n;
    *len -= n;
}
#endif

/*
 * Whole blocks of both messages go through the two-lane block function; a partial block
 * waiting in either context is completed on its own lane first, so chunk boundaries that
 * are not multiples of 64 cost one single-lane block each, not the pairing.
 */
void
df_sha256_update_pair(struct df_sha256 *a, const void *pa, size_t la, struct df_sha256 *b,
                      const void *pb, size_t lb)
{
    const uint8_t *p = pa, *q = pb;

#if DF_DIGEST_HAVE_X86
    if (a->impl == DF_SHA256_IMPL_SHANI && b->impl == DF_SHA256_IMPL_SHANI) {
        for (;;) {
            size_t n;

            sha256_fill_block(a, &p, &la);
            sha256_fill_block(b, &q, &lb);
            if (la < 64 || lb < 64)
                break;
            n = (la < lb ? la : lb) / 64;
            sha256_blocks_shani_x2(a->state, p, b->state, q, n);
            a->nbytes += n * 64;
            b->nbytes += n * 64;
            p += n * 64;
            q += n * 64;
            la -= n * 64;
            lb -= n * 64;
        }
    }
#endif
    df_sha256_update(a, p, la);
    df_sha256_update(b, q, lb);
}

void
df_sha256_update_x2(struct df_sha256 *a, const void *pa, struct df_sha256 *b, const void *pb,
                    size_t len)
{
    df_sha256_update_pair(a, pa, len, b, pb, len);
}

void
df_sha256_final(struct df_sha256 *ctx, uint8_t md[DF_SHA256_LEN])
{
    uint64_t bits = ctx->nbytes * 8;

    /* 0x80, zeros up to 56 mod 64, then the bit length big-endian */
    ctx->block[ctx->blocklen++] = 0x80;
    if (ctx->blocklen > 56) {
        memset(ctx->block + ctx->blocklen, 0, 64 - ctx->blocklen);
        sha256_blocks(ctx, ctx->block, 1);
        ctx->blocklen = 0;
    }
    memset(ctx->block + ctx->blocklen, 0, 56 - ctx->blocklen);
    for (int i = 0; i < 8; i++)
        ctx->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_blocks(ctx, ctx->block, 1);
    for (int i = 0; i < 8; i++) {
        md[4 * i] = (uint8_t)(ctx->state[i] >> 24);
        md[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
        md[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8);
        md[4 * i + 3] = (uint8_t)ctx->state[i];
    }
    ctx->blocklen = 0;
}

void
df_sha256(const void *p, size_t len, uint8_t md[DF_SHA256_LEN])
{
    struct df_sha256 ctx;

    df_sha256_init(&ctx);
    df_sha256_update(&ctx, p, len);
    df_sha256_final(&ctx, md);
}

void
df_hex_encode(const uint8_t *p, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * len] = '\0';
}

int
df_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
df_hex_decode(const char *s, size_t slen, uint8_t *out, size_t outlen)
{
    int hi, lo;

    if (slen / 2 != outlen || slen % 2 != 0)
        return DF_EINVAL;
    for (size_t i = 0; i < outlen; i++) {
        hi = df_hex_digit(s[2 * i]);
        lo = df_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return DF_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

bool
df_hex_is_lower(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int
df_digest_parse(const char *s, struct df_digest *out, struct df_error *err)
{
    const char *colon = strchr(s, ':');
    size_t hexlen;
    uint8_t md[DF_SHA256_LEN];

    if (colon == NULL)
        return df_error_set(err, DF_EINVAL, "digest: expected \"sha256:<64 hex>\"");
    if ((size_t)(colon - s) != 6 || memcmp(s, "sha256", 6) != 0) {
        /* Echo only what can be an algorithm name: the message stays one plain line. */
        size_t n = (size_t)(colon - s) > 16 ? 16 : (size_t)(colon - s);
        if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+._-") < n)
            return df_error_set(err, DF_EINVAL, "digest: unsupported algorithm (only sha256)");
        return df_error_set(err, DF_EINVAL, "digest: unsupported algorithm \"%.*s\" (only sha256)",
                            (int)n, s);
    }
    hexlen = strlen(colon + 1);
    if (hexlen != DF_SHA256_HEX_LEN)
        return df_error_set(err, DF_EINVAL, "digest: sha256 needs 64 hex characters, got %zu",
                            hexlen);
    if (!df_hex_is_lower(colon + 1, hexlen))
        return df_error_set(err, DF_EINVAL, "digest: sha256 must be lowercase hex [0-9a-f]");
    if (df_hex_decode(colon + 1, hexlen, md, sizeof(md)) != 0)
        return DF_BUG("hex checked");
    df_digest_set_sha256(out, md);
    return 0;
}

void
df_digest_set_sha256(struct df_digest *out, const uint8_t md[DF_SHA256_LEN])
{
    out->algo = DF_DIGEST_SHA256;
    memcpy(out->bytes, md, DF_SHA256_LEN);
}

char *
df_digest_format(const struct df_digest *d, char out[DF_DIGEST_STR_LEN + 1])
{
    memcpy(out, "sha256:", 7);
    df_hex_encode(d->bytes, DF_SHA256_LEN, out + 7);
    return out;
}

bool
df_digest_is_equal(const struct df_digest *a, const struct df_digest *b)
{
    return a->algo == b->algo && memcmp(a->bytes, b->bytes, DF_SHA256_LEN) == 0;
}
