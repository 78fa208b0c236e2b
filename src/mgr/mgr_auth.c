/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's secrets, as pure functions: password hashes (PBKDF2-HMAC-SHA256 with a
 * random 16-byte salt, the iteration count stored with the hash so it can rise later) and
 * JSON Web Tokens signed with HS256. Verification accepts exactly one algorithm: the header
 * must say HS256, so "none" and algorithm switches fail before the signature is looked at,
 * and every comparison of secret bytes runs in constant time.
 */
#include "mgr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "df/df_b64.h"
#include "df/df_digest.h"
#include "df/df_json.h"
#include "df/xmalloc.h"

#define MGR_PW_SCHEME   "pbkdf2-sha256"
#define MGR_PW_MAX_ITER 10000000u
/* A token is a few hundred bytes; anything far longer is not ours. */
#define MGR_JWT_MAX_LEN 4096

bool
mgr_auth_ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    volatile uint8_t diff = 0;

    for (size_t i = 0; i < len; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

int
mgr_auth_random(uint8_t *p, size_t len)
{
    size_t got = 0;
    ssize_t n;

    while (got < len) {
        n = getrandom(p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return DF_EIO;
        got += (size_t)n;
    }
    return 0;
}

static int
mgr_pw_derive(const char *password, const uint8_t *salt, size_t saltlen, unsigned iterations,
              uint8_t out[DF_SHA256_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_context_t c;
    int rc;

    mbedtls_md_init(&c);
    if (md == NULL || mbedtls_md_setup(&c, md, 1) != 0) {
        mbedtls_md_free(&c);
        return DF_EINTERNAL;
    }
    rc = mbedtls_pkcs5_pbkdf2_hmac(&c, (const unsigned char *)password, strlen(password), salt,
                                   saltlen, iterations, DF_SHA256_LEN, out);
    mbedtls_md_free(&c);
    return rc == 0 ? 0 : DF_EINTERNAL;
}

int
mgr_pw_hash(const char *password, const uint8_t salt[MGR_PW_SALT_LEN], unsigned iterations,
            char out[MGR_PW_HASH_MAX])
{
    uint8_t dk[DF_SHA256_LEN];
    char salt_hex[2 * MGR_PW_SALT_LEN + 1], dk_hex[DF_SHA256_HEX_LEN + 1];
    int rv;

    if (iterations == 0 || iterations > MGR_PW_MAX_ITER)
        return DF_EINVAL;
    if ((rv = mgr_pw_derive(password, salt, MGR_PW_SALT_LEN, iterations, dk)) != 0)
        return rv;
    df_hex_encode(salt, MGR_PW_SALT_LEN, salt_hex);
    df_hex_encode(dk, sizeof(dk), dk_hex);
    snprintf(out, MGR_PW_HASH_MAX, MGR_PW_SCHEME "$%u$%s$%s", iterations, salt_hex, dk_hex);
    return 0;
}

int
mgr_pw_hash_new(const char *password, unsigned iterations, char out[MGR_PW_HASH_MAX])
{
    uint8_t salt[MGR_PW_SALT_LEN];

    if (mgr_auth_random(salt, sizeof(salt)) != 0)
        return DF_EIO;
    return mgr_pw_hash(password, salt, iterations, out);
}

bool
mgr_pw_is_match(const char *password, const char *stored)
{
    uint8_t salt[MGR_PW_SALT_LEN], want[DF_SHA256_LEN], got[DF_SHA256_LEN];
    const char *p = stored, *salt_hex, *dk_hex;
    unsigned long iter;
    char *end;

    if (strncmp(p, MGR_PW_SCHEME "$", sizeof(MGR_PW_SCHEME)) != 0)
        return false;
    p += sizeof(MGR_PW_SCHEME);
    if (*p < '1' || *p > '9')
        return false;
    errno = 0;
    iter = strtoul(p, &end, 10);
    if (errno != 0 || *end != '$' || iter > MGR_PW_MAX_ITER)
        return false;
    salt_hex = end + 1;
    if (strlen(salt_hex) != 2 * MGR_PW_SALT_LEN + 1 + DF_SHA256_HEX_LEN ||
        salt_hex[2 * MGR_PW_SALT_LEN] != '$')
        return false;
    dk_hex = salt_hex + 2 * MGR_PW_SALT_LEN + 1;
    if (df_hex_decode(salt_hex, 2 * MGR_PW_SALT_LEN, salt, sizeof(salt)) != 0 ||
        df_hex_decode(dk_hex, DF_SHA256_HEX_LEN, want, sizeof(want)) != 0)
        return false;
    if (mgr_pw_derive(password, salt, sizeof(salt), (unsigned)iter, got) != 0)
        return false;
    return mgr_auth_ct_equal(got, want, sizeof(got));
}

/* base64url without padding of len bytes; the caller frees the result. */
static char *
mgr_b64url_new(const uint8_t *p, size_t len)
{
    char *s = xmalloc(df_b64_encoded_size(len));
    size_t n;

    df_b64_encode(p, len, s);
    for (n = 0; s[n] != '\0'; n++) {
        if (s[n] == '+')
            s[n] = '-';
        else if (s[n] == '/')
            s[n] = '_';
        else if (s[n] == '=')
            break;
    }
    s[n] = '\0';
    return s;
}

/*
 * Decode len characters of unpadded base64url at s into a fresh buffer of *outlen bytes
 * (NUL-terminated for JSON). Returns it, or NULL when malformed.
 */
static uint8_t *
mgr_b64url_decode_new(const char *s, size_t len, size_t *outlen)
{
    char *std;
    uint8_t *out;
    size_t pad = (4 - len % 4) % 4, i;

    if (pad == 3)
        return NULL;
    std = xmalloc(len + pad + 1);
    for (i = 0; i < len; i++) {
        if (s[i] == '+' || s[i] == '/' || s[i] == '=') {
            free(std);
            return NULL; /* not the url alphabet */
        }
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    }
    for (; i < len + pad; i++)
        std[i] = '=';
    std[i] = '\0';
    out = xmalloc(len + 1);
    if (df_b64_decode(std, len + pad, out, len, outlen) != 0) {
        free(std);
        free(out);
        return NULL;
    }
    out[*outlen] = '\0';
    free(std);
    return out;
}

static void
mgr_jwt_mac(const uint8_t *key, size_t keylen, const char *msg, size_t len,
            uint8_t out[DF_SHA256_LEN])
{
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, keylen,
                    (const unsigned char *)msg, len, out);
}

int
mgr_jwt_sign(const uint8_t *key, size_t keylen, const struct mgr_jwt_claims *c, char **out)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[160], *h, *p, *s, *msg;
    uint8_t mac[DF_SHA256_LEN];

    snprintf(claims, sizeof(claims),
             "{\"exp\":%" PRId64 ",\"id\":%" PRId64 ",\"orig_iat\":%" PRId64 "}", c->exp, c->id,
             c->orig_iat);
    h = mgr_b64url_new((const uint8_t *)header, sizeof(header) - 1);
    p = mgr_b64url_new((const uint8_t *)claims, strlen(claims));
    msg = xasprintf("%s.%s", h, p);
    mgr_jwt_mac(key, keylen, msg, strlen(msg), mac);
    s = mgr_b64url_new(mac, sizeof(mac));
    *out = xasprintf("%s.%s", msg, s);
    free(h);
    free(p);
    free(msg);
    free(s);
    return 0;
}

/* A claim that must be a positive integer that fits an int64 exactly as a double does. */
static int
mgr_jwt_claim(const cJSON *doc, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    double d;

    if (!cJSON_IsNumber(v))
        return DF_EINVAL;
    d = v->valuedouble;
    if (!(d >= 1 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
        return DF_EINVAL;
    *out = (int64_t)d;
    return 0;
}

int
mgr_jwt_verify(const uint8_t *key, size_t keylen, const char *token, int64_t now,
               bool allow_expired, struct mgr_jwt_claims *out)
{
    const char *dot1, *dot2;
    uint8_t *hdr = NULL, *body = NULL, *sig = NULL, mac[DF_SHA256_LEN];
    size_t tlen, hlen, blen, slen;
    cJSON *hj = NULL, *bj = NULL;
    const cJSON *alg;
    struct mgr_jwt_claims c;
    int rv = DF_EINVAL;

    if ((tlen = strnlen(token, MGR_JWT_MAX_LEN + 1)) > MGR_JWT_MAX_LEN)
        goto out;
    if ((dot1 = strchr(token, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
        strchr(dot2 + 1, '.') != NULL)
        goto out;
    if ((hdr = mgr_b64url_decode_new(token, (size_t)(dot1 - token), &hlen)) == NULL ||
        (body = mgr_b64url_decode_new(dot1 + 1, (size_t)(dot2 - dot1 - 1), &blen)) == NULL ||
        (sig = mgr_b64url_decode_new(dot2 + 1, tlen - (size_t)(dot2 + 1 - token), &slen)) == NULL)
        goto out;
    if (df_json_parse((const char *)hdr, hlen, NULL, &hj, NULL) != 0 || !cJSON_IsObject(hj))
        goto out;
    alg = cJSON_GetObjectItemCaseSensitive(hj, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0) {
        rv = DF_EPERM;
        goto out;
    }
    mgr_jwt_mac(key, keylen, token, (size_t)(dot2 - token), mac);
    if (slen != sizeof(mac) || !mgr_auth_ct_equal(mac, sig, sizeof(mac))) {
        rv = DF_EPERM;
        goto out;
    }
    if (df_json_parse((const char *)body, blen, NULL, &bj, NULL) != 0 || !cJSON_IsObject(bj) ||
        mgr_jwt_claim(bj, "id", &c.id) != 0 || mgr_jwt_claim(bj, "exp", &c.exp) != 0 ||
        mgr_jwt_claim(bj, "orig_iat", &c.orig_iat) != 0)
        goto out;
    if (!allow_expired && c.exp <= now) {
        rv = DF_ETIMEDOUT;
        goto out;
    }
    *out = c;
    rv = 0;
out:
    cJSON_Delete(hj);
    cJSON_Delete(bj);
    free(hdr);
    free(body);
    free(sig);
    return rv;
}
