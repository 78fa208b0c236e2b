/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pagination as upstream's handlers do it: ?page (>= 1, default 1) and ?per_page (1..10^7,
 * default 10), and a Link header whose URLs are the request path with the query re-encoded
 * the way Go's url.Values.Encode does (keys sorted, values of a key in their order, '+' for
 * space, %XX for everything but [A-Za-z0-9-_.~]). The console reads rel=last's page, so the
 * bytes must match: no space after ';' or ',', relation names unquoted.
 */
#include "mgr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_digest.h"
#include "df/xmalloc.h"

/* Query parameters of one request; a request line is at most a few KiB. */
#define MGR_QUERY_MAX_PAIRS 64

struct mgr_qpair {
    char *key, *value;
};

/* Decode len bytes at s ('+' is space, %XX a byte). NULL for a malformed escape. */
static char *
mgr_query_unescape(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t i, o = 0;
    int hi, lo;

    for (i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= len || (hi = df_hex_digit(s[i + 1])) < 0 ||
                (lo = df_hex_digit(s[i + 2])) < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void
mgr_query_free(struct mgr_qpair *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
}

/*
 * Split a raw query into pairs (at most MGR_QUERY_MAX_PAIRS; pairs with a bad escape are
 * dropped, as Go's URL.Query() drops them). Returns the count, or -1 when there are too many.
 */
static int
mgr_query_split(const char *query, struct mgr_qpair *v)
{
    const char *p = query, *amp, *eq;
    size_t n = 0, len;
    char *k, *val;

    while (p != NULL && *p != '\0') {
        amp = strchr(p, '&');
        len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            eq = memchr(p, '=', len);
            k = mgr_query_unescape(p, eq != NULL ? (size_t)(eq - p) : len);
            val = eq != NULL ? mgr_query_unescape(eq + 1, len - (size_t)(eq + 1 - p)) : xstrdup("");
            if (k != NULL && val != NULL) {
                if (n == MGR_QUERY_MAX_PAIRS) {
                    free(k);
                    free(val);
                    mgr_query_free(v, n);
                    return -1;
                }
                v[n].key = k;
                v[n++].value = val;
            } else {
                free(k);
                free(val);
            }
        }
        p = amp != NULL ? amp + 1 : NULL;
    }
    return (int)n;
}

char *
mgr_query_get(const char *query, const char *key)
{
    struct mgr_qpair v[MGR_QUERY_MAX_PAIRS];
    char *out = NULL;
    int n;

    if (query == NULL || (n = mgr_query_split(query, v)) < 0)
        return NULL;
    for (int i = 0; i < n && out == NULL; i++) {
        if (strcmp(v[i].key, key) == 0)
            out = xstrdup(v[i].value);
    }
    mgr_query_free(v, (size_t)n);
    return out;
}

/* A decimal integer in lo..hi; the text of Go's binding error otherwise. */
static int
mgr_page_int(const char *query, const char *key, int64_t def, int64_t lo, int64_t hi,
             const char *field, int64_t *out, struct df_error *err)
{
    char *s = mgr_query_get(query, key), *end;
    long long v;

    if (s == NULL || *s == '\0') {
        free(s);
        *out = def;
        return 0;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s) {
        df_error_set(err, DF_EINVAL, "strconv.ParseInt: parsing \"%.40s\": invalid syntax", s);
        free(s);
        return DF_EINVAL;
    }
    free(s);
    if (v < lo)
        return df_error_set(err, DF_EINVAL,
                            "Key: 'GetPaginationQuery.%s' Error:Field validation for '%s' "
                            "failed on the 'gte' tag",
                            field, field);
    if (v > hi)
        return df_error_set(err, DF_EINVAL,
                            "Key: 'GetPaginationQuery.%s' Error:Field validation for '%s' "
                            "failed on the 'lte' tag",
                            field, field);
    *out = v;
    return 0;
}

int
mgr_page_parse(const char *query, struct mgr_page *out, struct df_error *err)
{
    struct mgr_page pg;

    if (mgr_page_int(query, "page", 1, 1, INT32_MAX, "Page", &pg.page, err) != 0 ||
        mgr_page_int(query, "per_page", 10, 1, MGR_PAGE_MAX_PER_PAGE, "PerPage", &pg.per_page,
                     err) != 0)
        return DF_EINVAL;
    *out = pg;
    return 0;
}

/* Make room for need more bytes and a NUL in *buf (len used of cap). */
static void
mgr_buf_reserve(char **buf, size_t *len, size_t *cap, size_t need)
{
    if (*len + need + 1 > *cap) {
        *cap = (*len + need + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
}

/* Append the character c to *buf. */
static void
mgr_buf_putc(char c, char **buf, size_t *len, size_t *cap)
{
    mgr_buf_reserve(buf, len, cap, 1);
    (*buf)[(*len)++] = c;
    (*buf)[*len] = '\0';
}

/* Append s escaped as Go's url.QueryEscape does to *buf (len used of cap). */
static void
mgr_query_escape(const char *s, char **buf, size_t *len, size_t *cap)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char c;

    mgr_buf_reserve(buf, len, cap, strlen(s) * 3);
    for (; *s != '\0'; s++) {
        c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            (*buf)[(*len)++] = (char)c;
        } else if (c == ' ') {
            (*buf)[(*len)++] = '+';
        } else {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = hex[c >> 4];
            (*buf)[(*len)++] = hex[c & 15];
        }
    }
    (*buf)[*len] = '\0';
}

static int
mgr_qpair_cmp(const void *a, const void *b)
{
    const struct mgr_qpair *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    /* qsort is not stable: values of one key keep their order by their position */
    return c != 0 ? c : (x < y ? -1 : x > y);
}

/* path?<query with page and per_page set>, encoded like url.Values.Encode. */
static char *
mgr_page_url(const char *path, struct mgr_qpair *v, size_t n, int64_t page, int64_t per_page)
{
    struct mgr_qpair all[MGR_QUERY_MAX_PAIRS + 2];
    char pbuf[24], ppbuf[24], *buf;
    size_t m = 0, len, cap;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].key, "page") != 0 && strcmp(v[i].key, "per_page") != 0)
            all[m++] = v[i];
    }
    snprintf(pbuf, sizeof(pbuf), "%" PRId64, page);
    snprintf(ppbuf, sizeof(ppbuf), "%" PRId64, per_page);
    all[m++] = (struct mgr_qpair){(char *)(uintptr_t) "page", pbuf};
    all[m++] = (struct mgr_qpair){(char *)(uintptr_t) "per_page", ppbuf};
    qsort(all, m, sizeof(all[0]), mgr_qpair_cmp);
    len = strlen(path);
    cap = len + 64;
    buf = xmalloc(cap);
    memcpy(buf, path, len + 1);
    for (size_t i = 0; i < m; i++) {
        mgr_buf_putc(i == 0 ? '?' : '&', &buf, &len, &cap);
        mgr_query_escape(all[i].key, &buf, &len, &cap);
        mgr_buf_putc('=', &buf, &len, &cap);
        mgr_query_escape(all[i].value, &buf, &len, &cap);
    }
    return buf;
}

char *
mgr_page_link(const char *path, const char *query, const struct mgr_page *pg, int64_t total)
{
    struct mgr_qpair v[MGR_QUERY_MAX_PAIRS];
    int64_t last = total <= 0 ? 0 : (total + pg->per_page - 1) / pg->per_page;
    int64_t prev = pg->page > 1 ? pg->page - 1 : 1;
    int64_t next = pg->page == last ? pg->page : pg->page + 1;
    char *u[4], *out;
    int n = 0;

    if (query != NULL && (n = mgr_query_split(query, v)) < 0)
        return NULL;
    u[0] = mgr_page_url(path, v, (size_t)n, prev, pg->per_page);
    u[1] = mgr_page_url(path, v, (size_t)n, next, pg->per_page);
    u[2] = mgr_page_url(path, v, (size_t)n, 1, pg->per_page);
    u[3] = mgr_page_url(path, v, (size_t)n, last, pg->per_page);
    out = xasprintf("<%s>;rel=prev,<%s>;rel=next,<%s>;rel=first,<%s>;rel=last", u[0], u[1], u[2],
                    u[3]);
    for (int i = 0; i < 4; i++)
        free(u[i]);
    mgr_query_free(v, (size_t)n);
    return out;
}
