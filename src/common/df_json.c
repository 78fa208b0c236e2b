/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded JSON parsing on top of cJSON. The depth pre-scan is a linear pass that skips
 * strings, so hostile nesting is refused before cJSON's recursive descent runs; it also
 * refuses a NUL byte anywhere (cJSON skips one as white space) and a \u0000 in a string
 * (cJSON would keep the string as a C string cut short: a value read would not be the value
 * sent). cJSON only says where it stopped; when it fails, a syntax check that accepts what
 * cJSON accepts runs over the (already depth-bounded) text to say at which line and column,
 * and what the grammar expected there, so that a person editing a config file can fix it.
 */
#include "df/df_json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DF_JSON_DEFAULT_DEPTH 64

#define DF_JSON_TOO_DEEP -1
#define DF_JSON_NUL      -2

/*
 * Return the maximum nesting depth of buf, DF_JSON_TOO_DEEP as soon as it exceeds max, or
 * DF_JSON_NUL at a NUL byte or a \u0000 in a string.
 */
static int
df_json_scan(const char *buf, size_t len, int max)
{
    int depth = 0, deepest = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\0') /* never JSON; cJSON would skip it as white space */
            return DF_JSON_NUL;
        if (in_str) {
            if (c == '\\' && len - i >= 6 && memcmp(buf + i, "\\u0000", 6) == 0)
                return DF_JSON_NUL;
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
                return DF_JSON_TOO_DEEP;
            if (depth > deepest)
                deepest = depth;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return deepest;
}

void
df_json_position(const char *buf, size_t off, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;

    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
            c++; /* a UTF-8 continuation byte is part of the character before it */
        }
    }
    *line = l;
    *col = c;
}

/* The first syntax error in a document: where, and what the grammar wanted there. */
struct df_json_syntax {
    size_t off;
    const char *expected;
    bool found_end; /* what was found is the end of the document, wherever off points */
};

static size_t
df_json_skip_ws(const char *b, size_t len, size_t i)
{
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    return i;
}

static int
df_json_syntax_fail(struct df_json_syntax *s, size_t off, const char *expected)
{
    s->off = off;
    s->expected = expected;
    return -1;
}

static bool
df_json_is_hex4(const char *b, size_t len, size_t i, unsigned *v)
{
    char tmp[5];
    char *end = NULL;

    if (i + 4 > len)
        return false;
    for (int k = 0; k < 4; k++) {
        if (!isxdigit((unsigned char)b[i + k]))
            return false;
        tmp[k] = b[i + k];
    }
    tmp[4] = '\0';
    *v = (unsigned)strtoul(tmp, &end, 16);
    return true;
}

/* A string at b[*i] == '"', escapes as cJSON decodes them (surrogates paired). */
static int
df_json_check_string(const char *b, size_t len, size_t *i, struct df_json_syntax *s)
{
    size_t start = *i, j = *i + 1;
    unsigned u, lo;

    for (; j < len && b[j] != '"'; j++) {
        if (b[j] != '\\')
            continue;
        if (j + 1 >= len) {
            j = len; /* a backslash at the very end: the string never closes */
            break;
        }
        switch (b[j + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            j++;
            break;
        case 'u':
            if (!df_json_is_hex4(b, len, j + 2, &u)) {
                size_t k = j + 2;
                while (k < len && k < j + 6 && isxdigit((unsigned char)b[k]))
                    k++;
                return df_json_syntax_fail(s, k, "4 hex digits after \\u");
            }
            if (u >= 0xDC00 && u <= 0xDFFF)
                return df_json_syntax_fail(s, j + 2, "a \\u escape other than a low surrogate");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (j + 7 >= len || b[j + 6] != '\\' || b[j + 7] != 'u' ||
                    !df_json_is_hex4(b, len, j + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return df_json_syntax_fail(s, j + 6,
                                               "a \\u escape of a low surrogate (\\uDC00-\\uDFFF)");
                j += 6;
            }
            j += 5;
            break;
        default:
            return df_json_syntax_fail(s, j + 1,
                                       "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
        }
    }
    if (j >= len) {
        s->found_end = true;
        return df_json_syntax_fail(s, start, "a closing '\"' for the string that starts here");
    }
    *i = j + 1;
    return 0;
}

/* A number as cJSON reads one: the longest prefix strtod takes of a run of [0-9+-.eE]. */
static int
df_json_check_number(const char *b, size_t len, size_t *i, struct df_json_syntax *s)
{
    char tmp[64];
    char *end = NULL;
    size_t n = 0;

    while (*i + n < len && n + 1 < sizeof(tmp) && strchr("0123456789+-.eE", b[*i + n]) != NULL &&
           b[*i + n] != '\0') {
        tmp[n] = b[*i + n];
        n++;
    }
    tmp[n] = '\0';
    (void)strtod(tmp, &end);
    if (end == tmp)
        return df_json_syntax_fail(s, *i, "a value");
    *i += (size_t)(end - tmp);
    return 0;
}

static int df_json_check_value(const char *b, size_t len, size_t *i, struct df_json_syntax *s);

/* An object or array at b[*i]; nesting is bounded by the depth pre-scan. */
static int
df_json_check_container(const char *b, size_t len, size_t *i, struct df_json_syntax *s)
{
    bool object = b[*i] == '{';
    char close = object ? '}' : ']';
    size_t j = df_json_skip_ws(b, len, *i + 1);

    if (j < len && b[j] == close) {
        *i = j + 1;
        return 0;
    }
    for (bool first = true;; first = false) {
        j = df_json_skip_ws(b, len, j);
        if (object) {
            if (j >= len || b[j] != '"')
                return df_json_syntax_fail(s, j,
                                           first ? "a quoted key or '}'"
                                           : j < len && b[j] == '}'
                                                   ? "a quoted key (no ',' before '}')"
                                                   : "a quoted key");
            if (df_json_check_string(b, len, &j, s) != 0)
                return -1;
            j = df_json_skip_ws(b, len, j);
            if (j >= len || b[j] != ':')
                return df_json_syntax_fail(s, j, "':' after the key");
            j++;
        } else if (!first && j < len && b[j] == ']') {
            return df_json_syntax_fail(s, j, "a value (no ',' before ']')");
        }
        if (df_json_check_value(b, len, &j, s) != 0)
            return -1;
        j = df_json_skip_ws(b, len, j);
        if (j < len && b[j] == close) {
            *i = j + 1;
            return 0;
        }
        if (j >= len || b[j] != ',')
            return df_json_syntax_fail(s, j, object ? "',' or '}'" : "',' or ']'");
        j++;
    }
}

static int
df_json_check_value(const char *b, size_t len, size_t *i, struct df_json_syntax *s)
{
    static const char *const lits[] = {"true", "false", "null"};
    size_t j = df_json_skip_ws(b, len, *i);

    *i = j;
    if (j >= len)
        return df_json_syntax_fail(s, j, "a value");
    if (b[j] == '{' || b[j] == '[')
        return df_json_check_container(b, len, i, s);
    if (b[j] == '"')
        return df_json_check_string(b, len, i, s);
    if (b[j] == '-' || (b[j] >= '0' && b[j] <= '9'))
        return df_json_check_number(b, len, i, s);
    for (size_t k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
        size_t n = strlen(lits[k]);
        if (len - j >= n && memcmp(b + j, lits[k], n) == 0) {
            *i = j + n;
            return 0;
        }
    }
    return df_json_syntax_fail(s, j,
                               "a value (object, array, string, number, true, false or null)");
}

/*
 * Say where a document that cJSON refused (cjson_off: where it stopped) or that has
 * trailing data first breaks the grammar, and what was expected there.
 */
static int
df_json_syntax_error(const char *buf, size_t len, size_t cjson_off, struct df_error *err)
{
    struct df_json_syntax s = {.off = cjson_off, .expected = NULL, .found_end = false};
    char found[32];
    unsigned line, col;
    size_t i = 0;

    if (df_json_check_value(buf, len, &i, &s) == 0) {
        i = df_json_skip_ws(buf, len, i);
        if (i < len) {
            s.off = i;
            s.expected = "the end of the document";
        }
    }
    df_json_position(buf, s.off, &line, &col);
    if (s.expected == NULL) /* the check found nothing cJSON did: say where cJSON stopped */
        return df_error_set(err, DF_EINVAL, "json: malformed at line %u, column %u", line, col);
    if (s.off >= len || s.found_end)
        snprintf(found, sizeof(found), "the end of the document");
    else if (buf[s.off] >= 0x20 && buf[s.off] < 0x7f)
        snprintf(found, sizeof(found), "'%c'", buf[s.off]);
    else
        snprintf(found, sizeof(found), "byte 0x%02x", (unsigned char)buf[s.off]);
    return df_error_set(err, DF_EINVAL, "json: %s at line %u, column %u: expected %s, found %s",
                        strcmp(s.expected, "the end of the document") == 0 ? "trailing data"
                                                                           : "malformed",
                        line, col, s.expected, found);
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
    switch (df_json_scan(buf, len, max_depth)) {
    case DF_JSON_TOO_DEEP:
        return df_error_set(err, DF_ETOOBIG, "json: nesting deeper than %d", max_depth);
    case DF_JSON_NUL:
        return df_error_set(err, DF_EINVAL, "json: NUL character");
    default:
        break;
    }
    doc = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (doc == NULL) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at != NULL && at >= buf && at <= buf + len ? (size_t)(at - buf) : 0;
        return df_json_syntax_error(buf, len, off, err);
    }
    /* Only whitespace may follow the value. */
    if (end != NULL && df_json_skip_ws(buf, len, (size_t)(end - buf)) < len) {
        cJSON_Delete(doc);
        return df_json_syntax_error(buf, len, (size_t)(end - buf), err);
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
