/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded JSON parsing on top of cJSON. The depth pre-scan is a linear pass that skips
 * strings, so hostile nesting is refused before cJSON's recursive descent runs.
 */
#include "df/df_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DF_JSON_DEFAULT_DEPTH 64

/* Return the maximum nesting depth of buf, or -1 as soon as it exceeds max. */
static int
df_json_depth(const char *buf, size_t len, int max)
{
    int depth = 0, deepest = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > max)
                return -1;
            if (depth > deepest)
                deepest = depth;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return deepest;
}

int
df_json_parse(const char *buf, size_t len, const struct df_json_limits *lim, cJSON **out,
              struct df_error *err)
{
    int max_depth = lim != NULL && lim->max_depth > 0 ? lim->max_depth : DF_JSON_DEFAULT_DEPTH;
    const char *end = NULL;
    cJSON *doc;

    if (lim != NULL && lim->max_bytes > 0 && len > lim->max_bytes)
        return df_error_set(err, DF_ETOOBIG, "json: document of %zu bytes exceeds limit %zu", len,
                            lim->max_bytes);
    if (len == 0)
        return df_error_set(err, DF_EINVAL, "json: empty document");
    if (df_json_depth(buf, len, max_depth) < 0)
        return df_error_set(err, DF_ETOOBIG, "json: nesting deeper than %d", max_depth);
    doc = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (doc == NULL) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at != NULL && at >= buf && at <= buf + len ? (size_t)(at - buf) : 0;
        return df_error_set(err, DF_EINVAL, "json: malformed at byte %zu", off);
    }
    /* Only whitespace may follow the value. */
    for (; end != NULL && end < buf + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(doc);
            return df_error_set(err, DF_EINVAL, "json: trailing data at byte %zu",
                                (size_t)(end - buf));
        }
    }
    *out = doc;
    return 0;
}

char *
df_json_print(const cJSON *item)
{
    return cJSON_PrintUnformatted(item);
}

static const cJSON *
df_json_member(const cJSON *obj, const char *key)
{
    const cJSON *v;

    if (obj == NULL || !cJSON_IsObject(obj))
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL || cJSON_IsNull(v))
        return NULL;
    return v;
}

int
df_json_get_str(const cJSON *obj, const char *key, const char **out, struct df_error *err)
{
    const cJSON *v = df_json_member(obj, key);

    if (v == NULL)
        return DF_ENOTFOUND;
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return df_error_set(err, DF_EINVAL, "%s: expected string", key);
    *out = v->valuestring;
    return 0;
}

int
df_json_get_bool(const cJSON *obj, const char *key, bool *out, struct df_error *err)
{
    const cJSON *v = df_json_member(obj, key);

    if (v == NULL)
        return DF_ENOTFOUND;
    if (!cJSON_IsBool(v))
        return df_error_set(err, DF_EINVAL, "%s: expected boolean", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Parse a JSON number or decimal string into a signed 64-bit value in [lo, hi]. */
static int
df_json_int(const cJSON *v, const char *key, int64_t lo, int64_t hi, int64_t *out,
            struct df_error *err)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
            return df_error_set(err, DF_EINVAL, "%s: expected integer", key);
        if ((int64_t)d < lo || (int64_t)d > hi)
            return df_error_set(err, DF_EINVAL, "%s: out of range", key);
        *out = (int64_t)d;
        return 0;
    }
    if (cJSON_IsString(v) && v->valuestring != NULL && v->valuestring[0] != '\0') {
        char *end;
        long long n;
        errno = 0;
        n = strtoll(v->valuestring, &end, 10);
        if (errno != 0 || *end != '\0')
            return df_error_set(err, DF_EINVAL, "%s: expected integer", key);
        if (n < lo || n > hi)
            return df_error_set(err, DF_EINVAL, "%s: out of range", key);
        *out = n;
        return 0;
    }
    return df_error_set(err, DF_EINVAL, "%s: expected integer", key);
}

int
df_json_get_i64(const cJSON *obj, const char *key, int64_t *out, struct df_error *err)
{
    const cJSON *v = df_json_member(obj, key);

    if (v == NULL)
        return DF_ENOTFOUND;
    return df_json_int(v, key, INT64_MIN, INT64_MAX, out, err);
}

int
df_json_get_u64(const cJSON *obj, const char *key, uint64_t *out, struct df_error *err)
{
    const cJSON *v = df_json_member(obj, key);
    int64_t n;
    int rv;

    if (v == NULL)
        return DF_ENOTFOUND;
    /* Large unsigned values arrive as strings; accept the full uint64 range there. */
    if (cJSON_IsString(v) && v->valuestring != NULL && v->valuestring[0] != '-' &&
        v->valuestring[0] != '\0') {
        char *end;
        unsigned long long u;
        errno = 0;
        u = strtoull(v->valuestring, &end, 10);
        if (errno != 0 || *end != '\0')
            return df_error_set(err, DF_EINVAL, "%s: expected unsigned integer", key);
        *out = u;
        return 0;
    }
    if ((rv = df_json_int(v, key, 0, INT64_MAX, &n, err)) != 0)
        return rv;
    *out = (uint64_t)n;
    return 0;
}

cJSON *
df_json_add_u64(cJSON *obj, const char *key, uint64_t v)
{
    char num[24];

    if (v < (UINT64_C(1) << 53))
        return cJSON_AddNumberToObject(obj, key, (double)v);
    snprintf(num, sizeof(num), "%" PRIu64, v);
    return cJSON_AddStringToObject(obj, key, num);
}
