/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Field readers and writers of the wire messages. Every reader names the field by its path
 * so that a refused message says which field was wrong; 64-bit integers follow the
 * protobuf JSON mapping (a number below 2^53, a decimal string above).
 */
#include "proto_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/xmalloc.h"

int
proto_json_fail(struct df_error *err, int code, const char *where, const char *key, const char *fmt,
                ...)
{
    char what[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return df_error_set(err, code, "%s%s%s: %s", where, where[0] != '\0' ? "." : "", key, what);
}

/* The member, or NULL when absent or null. */
static const cJSON *
proto_json_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;

    return v == NULL || cJSON_IsNull(v) ? NULL : v;
}

int
proto_json_str(const cJSON *o, const char *where, const char *key, bool required, bool line,
               size_t max, char **out, struct df_error *err)
{
    const cJSON *v = proto_json_member(o, key);
    const char *s;

    if (v != NULL && (!cJSON_IsString(v) || v->valuestring == NULL))
        return proto_json_fail(err, DF_EINVAL, where, key, "expected string");
    s = v != NULL ? v->valuestring : NULL;
    if (s == NULL || s[0] == '\0') {
        if (required)
            return proto_json_fail(err, DF_EINVAL, where, key, "required");
        return 0;
    }
    if ((max > 0 && strlen(s) > max) || (line && strpbrk(s, "\r\n") != NULL))
        return proto_json_fail(err, DF_EINVAL, where, key, "bad value");
    *out = xstrdup(s);
    return 0;
}

int
proto_json_u64(const cJSON *o, const char *where, const char *key, uint64_t max, bool *has,
               uint64_t *out, struct df_error *err)
{
    struct df_error e;
    uint64_t v;
    int rv = df_json_get_u64(o, key, &v, &e);

    if (rv == DF_ENOTFOUND)
        return 0;
    if (rv != 0)
        return proto_json_fail(err, DF_EINVAL, where, key, "expected an unsigned integer");
    if (v > max)
        return proto_json_fail(err, DF_EINVAL, where, key, "at most %" PRIu64, max);
    if (has != NULL)
        *has = true;
    *out = v;
    return 0;
}

int
proto_json_bool(const cJSON *o, const char *where, const char *key, bool *out, struct df_error *err)
{
    const cJSON *v = proto_json_member(o, key);

    if (v == NULL)
        return 0;
    if (!cJSON_IsBool(v))
        return proto_json_fail(err, DF_EINVAL, where, key, "expected bool");
    *out = cJSON_IsTrue(v);
    return 0;
}

int
proto_json_obj(const cJSON *o, const char *where, const char *key, const cJSON **out,
               struct df_error *err)
{
    const cJSON *v = proto_json_member(o, key);

    if (!cJSON_IsObject(v))
        return proto_json_fail(err, DF_EINVAL, where, key, "expected an object");
    *out = v;
    return 0;
}

int
proto_json_array(const cJSON *o, const char *where, const char *key, const cJSON **out,
                 struct df_error *err)
{
    const cJSON *v = proto_json_member(o, key);

    if (v != NULL && !cJSON_IsArray(v))
        return proto_json_fail(err, DF_EINVAL, where, key, "expected an array");
    *out = v;
    return 0;
}

int
proto_json_digest(const cJSON *o, const char *where, const char *key, bool required, bool *has,
                  struct df_digest *out, struct df_error *err)
{
    struct df_error e;
    char *s = NULL;
    int rv;

    if ((rv = proto_json_str(o, where, key, required, true, 0, &s, err)) != 0 || s == NULL)
        return rv;
    if (df_digest_parse(s, out, &e) != 0)
        rv = proto_json_fail(err, DF_EINVAL, where, key, "%s", e.msg);
    else if (has != NULL)
        *has = true;
    free(s);
    return rv;
}

int
proto_json_kind(const cJSON *msg, const char *const *names, size_t nnames, bool strict,
                size_t *kind, const cJSON **body, struct df_error *err)
{
    const cJSON *it;
    int found = 0;

    if (!cJSON_IsObject(msg))
        return df_error_set(err, DF_EINVAL, "expected an object");
    cJSON_ArrayForEach(it, msg)
    {
        size_t k;

        if (strcmp(it->string, "hostId") == 0 || strcmp(it->string, "taskId") == 0 ||
            strcmp(it->string, "peerId") == 0)
            continue;
        for (k = 0; k < nnames && strcmp(it->string, names[k]) != 0; k++)
            ;
        if (k == nnames) {
            if (strict)
                return df_error_set(err, DF_EINVAL, "unknown message kind \"%.64s\"", it->string);
            continue;
        }
        if (!cJSON_IsObject(it))
            return df_error_set(err, DF_EINVAL, "%s: expected an object", it->string);
        *kind = k;
        *body = it;
        found++;
    }
    if (found != 1)
        return df_error_set(err, DF_EINVAL, "expected exactly one %s kind, got %d",
                            strict ? "request" : "answer", found);
    return 0;
}

bool
proto_json_add_str(cJSON *o, const char *key, const char *v)
{
    return v == NULL || cJSON_AddStringToObject(o, key, v) != NULL;
}

bool
proto_json_add_u64(cJSON *o, const char *key, uint64_t v)
{
    return df_json_add_u64(o, key, v) != NULL;
}

bool
proto_json_add_bool(cJSON *o, const char *key, bool v)
{
    return cJSON_AddBoolToObject(o, key, v) != NULL;
}

bool
proto_json_add_digest(cJSON *o, const char *key, const struct df_digest *d)
{
    char text[DF_DIGEST_STR_LEN + 1];

    return cJSON_AddStringToObject(o, key, df_digest_format(d, text)) != NULL;
}

/* common.v2.Priority by name; a number on the wire means the same level */
static const char *const proto_json_levels[] = {"LEVEL0", "LEVEL1", "LEVEL2", "LEVEL3",
                                                "LEVEL4", "LEVEL5", "LEVEL6"};

int
proto_json_level(const cJSON *o, const char *where, const char *key, uint32_t max, uint32_t *out,
                 struct df_error *err)
{
    const cJSON *v = proto_json_member(o, key);
    uint64_t n = 0;
    int rv;

    if (v == NULL)
        return 0;
    if (cJSON_IsString(v) && strncmp(v->valuestring, "LEVEL", 5) == 0) {
        for (size_t i = 0; i < DF_NELEM(proto_json_levels) && i <= max; i++) {
            if (strcmp(v->valuestring, proto_json_levels[i]) == 0) {
                *out = (uint32_t)i;
                return 0;
            }
        }
        return proto_json_fail(err, DF_EINVAL, where, key, "expected LEVEL0 to LEVEL%zu",
                               max < DF_NELEM(proto_json_levels) ? (size_t)max
                                                                 : DF_NELEM(proto_json_levels) - 1);
    }
    if ((rv = proto_json_u64(o, where, key, max, NULL, &n, err)) != 0)
        return rv;
    *out = (uint32_t)n;
    return 0;
}

bool
proto_json_add_level(cJSON *o, const char *key, uint32_t v)
{
    return v < DF_NELEM(proto_json_levels) ? proto_json_add_str(o, key, proto_json_levels[v])
                                           : proto_json_add_u64(o, key, v);
}

void
proto_json_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n && v != NULL; i++)
        free(v[i]);
    free(v);
}
