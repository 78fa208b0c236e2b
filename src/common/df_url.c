/* SPDX-License-Identifier: Apache-2.0 */
/*
 * URL parsing for http/https and the canonical URL of a task id. Normalisation follows the
 * WHATWG URL standard for special schemes as far as our inputs go (lowercase scheme and host,
 * IPv4 numbers in any WHATWG form, compressed IPv6, default port dropped, dot segments
 * resolved, unsafe bytes percent-encoded), because the task id must equal the one Rust's
 * `url` crate gives other Dragonfly components. Input is bounded by DF_URL_MAX_LEN, so the
 * small growable buffers here use x*alloc.
 */
#include "df/df_url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/df_digest.h"
#include "df/xmalloc.h"

static const char url_default_filtered[] =
        "X-Amz-Algorithm&X-Amz-Credential&X-Amz-Date&X-Amz-Expires&X-Amz-SignedHeaders&"
        "X-Amz-Signature&X-Amz-Security-Token&X-Amz-User-Agent&"
        "X-Goog-Algorithm&X-Goog-Credential&X-Goog-Date&X-Goog-Expires&X-Goog-SignedHeaders&"
        "X-Goog-Signature&"
        "OSSAccessKeyId&Expires&Signature&SecurityToken&"
        "AccessKeyId&X-Obs-Date&X-Obs-Security-Token&"
        "q-sign-algorithm&q-ak&q-sign-time&q-key-time&q-header-list&q-url-param-list&"
        "q-signature&x-cos-security-token&"
        "ns";

/* A growable string; always NUL-terminated once anything was added. */
struct url_buf {
    char *p;
    size_t len, cap;
};

static void
ub_putn(struct url_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
ub_puts(struct url_buf *b, const char *s)
{
    ub_putn(b, s, strlen(s));
}

static void
ub_putc(struct url_buf *b, char c)
{
    ub_putn(b, &c, 1);
}

static void
ub_put_pct(struct url_buf *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};

    ub_putn(b, e, 3);
}

/* Return the string (an empty one if nothing was added) and leave b empty. */
static char *
ub_take(struct url_buf *b)
{
    char *p;

    if (b->p == NULL)
        ub_putn(b, "", 0);
    p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

/* WHATWG percent-encode sets, as used by the url crate for special schemes. */
enum url_enc {
    URL_ENC_FRAGMENT,
    URL_ENC_QUERY,
    URL_ENC_PATH,
    URL_ENC_USERINFO,
};

static bool
url_enc_needed(unsigned char c, enum url_enc set)
{
    if (c < 0x20 || c >= 0x7f)
        return true;
    switch (set) {
    case URL_ENC_USERINFO:
        if (strchr("/:;=@[\\]^|", c) != NULL)
            return true;
        /* fall through */
    case URL_ENC_PATH:
        if (strchr("#?{}", c) != NULL)
            return true;
        /* fall through */
    case URL_ENC_FRAGMENT:
        return strchr(" \"<>`", c) != NULL;
    case URL_ENC_QUERY:
        return strchr(" \"#<>'", c) != NULL;
    }
    return false;
}

static void
ub_put_encoded(struct url_buf *b, const char *s, size_t n, enum url_enc set)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (url_enc_needed(c, set))
            ub_put_pct(b, c);
        else
            ub_putc(b, (char)c);
    }
}

static bool
url_seg_eq(const char *s, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

static bool
url_seg_is_dot(const char *s, size_t n)
{
    return url_seg_eq(s, n, ".") || url_seg_eq(s, n, "%2e");
}

static bool
url_seg_is_dotdot(const char *s, size_t n)
{
    return url_seg_eq(s, n, "..") || url_seg_eq(s, n, ".%2e") || url_seg_eq(s, n, "%2e.") ||
           url_seg_eq(s, n, "%2e%2e");
}

/* Normalise the path [s, s+n) (empty or starting with '/') the way WHATWG does. */
static char *
url_path_normalise(const char *s, size_t n)
{
    struct url_buf b = {0};
    const char *seg = s + 1, *end = s + n, *slash;
    size_t len;
    bool last;

    if (n == 0)
        return xstrdup("/");
    for (;;) {
        slash = memchr(seg, '/', (size_t)(end - seg));
        len = (size_t)((slash != NULL ? slash : end) - seg);
        last = slash == NULL;
        if (url_seg_is_dotdot(seg, len)) {
            while (b.len > 0 && b.p[--b.len] != '/')
                ;
            if (b.p != NULL)
                b.p[b.len] = '\0';
            if (last)
                ub_putc(&b, '/');
        } else if (url_seg_is_dot(seg, len)) {
            if (last)
                ub_putc(&b, '/');
        } else {
            ub_putc(&b, '/');
            ub_put_encoded(&b, seg, len, URL_ENC_PATH);
        }
        if (last)
            break;
        seg = slash + 1;
    }
    if (b.len == 0)
        ub_putc(&b, '/');
    return ub_take(&b);
}

/* One WHATWG IPv4 number ("0x1f", "017", "255"); false on failure or above 2^32. */
static bool
url_ipv4_number(const char *s, size_t n, uint64_t *out)
{
    unsigned radix = 10;
    uint64_t v = 0;
    int d;

    if (n == 0)
        return false;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        radix = 16;
        s += 2;
        n -= 2;
    } else if (n >= 2 && s[0] == '0') {
        radix = 8;
        s++;
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        d = df_hex_digit(s[i]);
        if (d < 0 || (unsigned)d >= radix)
            return false;
        v = v * radix + (unsigned)d;
        if (v > UINT32_MAX)
            return false;
    }
    *out = v;
    return true;
}

/* WHATWG "ends in a number": the last label (ignoring one trailing dot) is numeric. */
static bool
url_host_ends_in_number(const char *h, size_t n)
{
    const char *label;
    size_t len;

    if (n > 0 && h[n - 1] == '.')
        n--;
    label = h + n;
    while (label > h && label[-1] != '.')
        label--;
    len = (size_t)(h + n - label);
    if (len == 0)
        return false;
    if (strspn(label, "0123456789") >= len)
        return true;
    if (len >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
        for (size_t i = 2; i < len; i++)
            if (df_hex_digit(label[i]) < 0)
                return false;
        return true;
    }
    return false;
}

/* Parse a WHATWG IPv4 host (1-4 parts) into dotted-decimal text. */
static int
url_ipv4_parse(const char *h, size_t n, char out[16], struct df_error *err)
{
    uint64_t parts[4], v;
    size_t np = 0, len;
    const char *p = h, *dot, *end;

    if (n > 0 && h[n - 1] == '.')
        n--;
    end = h + n;
    for (;;) {
        dot = memchr(p, '.', (size_t)(end - p));
        len = (size_t)((dot != NULL ? dot : end) - p);
        if (np == 4 || !url_ipv4_number(p, len, &parts[np]))
            return df_error_set(err, DF_EINVAL, "url: invalid IPv4 address \"%.*s\"",
                                (int)(n > 64 ? 64 : n), h);
        np++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    v = parts[np - 1];
    if (v >= (UINT64_C(1) << (8 * (5 - np))))
        return df_error_set(err, DF_EINVAL, "url: invalid IPv4 address (number too large)");
    for (size_t i = 0; i + 1 < np; i++) {
        if (parts[i] > 255)
            return df_error_set(err, DF_EINVAL, "url: invalid IPv4 address (part above 255)");
        v += parts[i] << (8 * (3 - i));
    }
    snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(v >> 24), (unsigned)(v >> 16 & 255),
             (unsigned)(v >> 8 & 255), (unsigned)(v & 255));
    return 0;
}

/* Serialise 16 address bytes as WHATWG does: lowercase, longest zero run (>1) as "::". */
static char *
url_ipv6_serialise(const uint8_t a[16])
{
    struct url_buf b = {0};
    unsigned piece[8];
    int best = -1, bestlen = 1, run, i, j;
    char tmp[8];

    for (i = 0; i < 8; i++)
        piece[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (i = 0; i < 8; i++) {
        for (j = i; j < 8 && piece[j] == 0; j++)
            ;
        run = j - i;
        if (run > bestlen) {
            best = i;
            bestlen = run;
        }
    }
    for (i = 0; i < 8; i++) {
        if (i == best) {
            ub_puts(&b, i == 0 ? "::" : ":");
            i += bestlen - 1;
            continue;
        }
        snprintf(tmp, sizeof(tmp), "%x", piece[i]);
        ub_puts(&b, tmp);
        if (i < 7)
            ub_putc(&b, ':');
    }
    return ub_take(&b);
}

/* Parse the host [h, h+n) into u->host (and u->host_is_ipv6). */
static int
url_host_parse(const char *h, size_t n, struct df_url *u, struct df_error *err)
{
    char tmp[INET6_ADDRSTRLEN + 1], v4[16];
    uint8_t a6[16];
    char *host;

    if (n == 0)
        return df_error_set(err, DF_EINVAL, "url: empty host");
    if (h[0] == '[') {
        if (h[n - 1] != ']' || n - 2 >= sizeof(tmp))
            return df_error_set(err, DF_EINVAL, "url: bad IPv6 address literal");
        memcpy(tmp, h + 1, n - 2);
        tmp[n - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, a6) != 1)
            return df_error_set(err, DF_EINVAL, "url: invalid IPv6 address \"%s\"", tmp);
        u->host = url_ipv6_serialise(a6);
        u->host_is_ipv6 = true;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c >= 0x80)
            return df_error_set(err, DF_EINVAL,
                                "url: non-ASCII host name (use its punycode xn-- form)");
        if (strchr("#%/:<>?@[\\]^|", c) != NULL)
            return df_error_set(err, DF_EINVAL, "url: character '%c' not allowed in host", c);
    }
    if (url_host_ends_in_number(h, n)) {
        if (url_ipv4_parse(h, n, v4, err) != 0)
            return DF_EINVAL;
        u->host = xstrdup(v4);
        return 0;
    }
    host = xstrndup(h, n);
    for (char *p = host; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    u->host = host;
    return 0;
}

/* Parse the userinfo [s, s+n): "user[:password]", each part re-encoded. */
static void
url_userinfo_parse(const char *s, size_t n, struct df_url *u)
{
    struct url_buf b = {0};
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon != NULL ? (size_t)(colon - s) : n;

    ub_put_encoded(&b, s, ulen, URL_ENC_USERINFO);
    if (colon != NULL && n - ulen > 1) {
        ub_putc(&b, ':');
        ub_put_encoded(&b, colon + 1, n - ulen - 1, URL_ENC_USERINFO);
    }
    u->userinfo = b.len > 0 ? ub_take(&b) : NULL;
    free(b.p);
}

void
df_url_reset(struct df_url *u)
{
    if (u == NULL)
        return;
    free(u->scheme);
    free(u->userinfo);
    free(u->host);
    free(u->path);
    free(u->query);
    free(u->fragment);
    memset(u, 0, sizeof(*u));
}

int
df_url_parse(const char *s, struct df_url *out, struct df_error *err)
{
    struct df_url u = {0};
    const char *sep, *auth, *auth_end, *host, *at, *colon, *path_end, *hash;
    size_t len = strlen(s), hlen;
    unsigned long port = 0;
    bool https;
    int rv;

    if (len > DF_URL_MAX_LEN) {
        rv = df_error_set(err, DF_ETOOBIG, "url: longer than %d bytes", DF_URL_MAX_LEN);
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f) {
            rv = df_error_set(err, DF_EINVAL, "url: %s at offset %zu (percent-encode it)",
                              c == ' ' ? "space" : "control character", i);
            goto out;
        }
        if (c == '\\') {
            rv = df_error_set(err, DF_EINVAL, "url: backslash at offset %zu", i);
            goto out;
        }
    }
    sep = strstr(s, "://");
    if (sep == NULL || (size_t)(sep - s) > 5) {
        rv = df_error_set(err, DF_EINVAL, "url: expected http:// or https://");
        goto out;
    }
    if (url_seg_eq(s, (size_t)(sep - s), "http"))
        https = false;
    else if (url_seg_eq(s, (size_t)(sep - s), "https"))
        https = true;
    else {
        rv = df_error_set(err, DF_EINVAL, "url: scheme \"%.*s\" is not http or https",
                          (int)(sep - s), s);
        goto out;
    }
    u.scheme = xstrdup(https ? "https" : "http");

    auth = sep + 3;
    auth_end = auth + strcspn(auth, "/?#");
    host = auth;
    at = memrchr(auth, '@', (size_t)(auth_end - auth));
    if (at != NULL) {
        url_userinfo_parse(auth, (size_t)(at - auth), &u);
        host = at + 1;
    }
    /* the port separator is the last ':' outside an IPv6 literal */
    colon = memrchr(host, ':', (size_t)(auth_end - host));
    if (colon != NULL && host[0] == '[' && memchr(colon, ']', (size_t)(auth_end - colon)) != NULL)
        colon = NULL;
    if (host[0] != '[' && colon != NULL && memchr(host, ':', (size_t)(colon - host)) != NULL) {
        rv = df_error_set(err, DF_EINVAL, "url: bad port (IPv6 addresses need [brackets])");
        goto out;
    }
    hlen = (size_t)((colon != NULL ? colon : auth_end) - host);
    if ((rv = url_host_parse(host, hlen, &u, err)) != 0)
        goto out;
    if (colon != NULL && colon + 1 < auth_end) {
        for (const char *p = colon + 1; p < auth_end; p++) {
            if (*p < '0' || *p > '9' || port > 65535) {
                rv = df_error_set(err, DF_EINVAL, "url: bad port \"%.*s\"",
                                  (int)(auth_end - colon - 1 > 16 ? 16 : auth_end - colon - 1),
                                  colon + 1);
                goto out;
            }
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port == 0 || port > 65535) {
            rv = df_error_set(err, DF_EINVAL, "url: port %lu out of range 1-65535", port);
            goto out;
        }
    } else
        port = https ? 443 : 80;
    u.port = (uint16_t)port;

    path_end = auth_end + strcspn(auth_end, "?#");
    u.path = url_path_normalise(auth_end, (size_t)(path_end - auth_end));
    hash = strchr(path_end, '#');
    if (*path_end == '?')
        u.query = xstrndup(path_end + 1, (size_t)((hash != NULL ? hash : s + len) - path_end - 1));
    if (hash != NULL)
        u.fragment = xstrdup(hash + 1);

    *out = u;
    memset(&u, 0, sizeof(u));
    rv = 0;
out:
    df_url_reset(&u);
    return rv;
}

static void
url_put_authority(struct url_buf *b, const struct df_url *u)
{
    char port[8];

    if (u->host_is_ipv6)
        ub_putc(b, '[');
    ub_puts(b, u->host);
    if (u->host_is_ipv6)
        ub_putc(b, ']');
    if (u->port != (strcmp(u->scheme, "https") == 0 ? 443 : 80)) {
        snprintf(port, sizeof(port), ":%u", (unsigned)u->port);
        ub_puts(b, port);
    }
}

/* scheme://[userinfo@]authority path; the query and fragment are the caller's. */
static void
url_put_base(struct url_buf *b, const struct df_url *u)
{
    ub_puts(b, u->scheme);
    ub_puts(b, "://");
    if (u->userinfo != NULL) {
        ub_puts(b, u->userinfo);
        ub_putc(b, '@');
    }
    url_put_authority(b, u);
    ub_puts(b, u->path);
}

char *
df_url_to_str(const struct df_url *u, bool with_fragment)
{
    struct url_buf b = {0};

    url_put_base(&b, u);
    if (u->query != NULL) {
        ub_putc(&b, '?');
        ub_put_encoded(&b, u->query, strlen(u->query), URL_ENC_QUERY);
    }
    if (with_fragment && u->fragment != NULL) {
        ub_putc(&b, '#');
        ub_put_encoded(&b, u->fragment, strlen(u->fragment), URL_ENC_FRAGMENT);
    }
    return ub_take(&b);
}

char *
df_url_target_to_str(const struct df_url *u)
{
    struct url_buf b = {0};

    ub_puts(&b, u->path);
    if (u->query != NULL) {
        ub_putc(&b, '?');
        ub_put_encoded(&b, u->query, strlen(u->query), URL_ENC_QUERY);
    }
    return ub_take(&b);
}

char *
df_url_authority_to_str(const struct df_url *u)
{
    struct url_buf b = {0};

    url_put_authority(&b, u);
    return ub_take(&b);
}

const char *
df_url_default_filtered_params(void)
{
    return url_default_filtered;
}

/* One decoded query pair; k and v point into a pair's own allocation. */
struct url_pair {
    char *k, *v;
    size_t klen, vlen, idx;
};

/*
 * application/x-www-form-urlencoded decoding of [s, s+n) into b: '+' is a space, valid %XX
 * a byte, and the bytes are then read as UTF-8 with each maximal invalid subsequence
 * replaced by U+FFFD, as Rust's from_utf8_lossy does.
 */
static void
url_form_decode(const char *s, size_t n, struct url_buf *b)
{
    struct url_buf raw = {0};
    const unsigned char *p;
    size_t i = 0, len, need, k;
    unsigned char lo, hi;

    ub_putn(&raw, "", 0);
    for (i = 0; i < n; i++) {
        if (s[i] == '+')
            ub_putc(&raw, ' ');
        else if (s[i] == '%' && i + 2 < n && df_hex_digit(s[i + 1]) >= 0 &&
                 df_hex_digit(s[i + 2]) >= 0) {
            ub_putc(&raw, (char)(df_hex_digit(s[i + 1]) << 4 | df_hex_digit(s[i + 2])));
            i += 2;
        } else
            ub_putc(&raw, s[i]);
    }
    ub_putn(b, "", 0);
    p = (const unsigned char *)raw.p;
    len = raw.len;
    for (i = 0; i < len;) {
        if (p[i] < 0x80) {
            ub_putc(b, (char)p[i++]);
            continue;
        }
        /* expected length and the allowed range of the second byte */
        lo = 0x80;
        hi = 0xbf;
        if (p[i] >= 0xc2 && p[i] <= 0xdf)
            need = 2;
        else if (p[i] >= 0xe0 && p[i] <= 0xef) {
            need = 3;
            if (p[i] == 0xe0)
                lo = 0xa0;
            if (p[i] == 0xed)
                hi = 0x9f;
        } else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
            need = 4;
            if (p[i] == 0xf0)
                lo = 0x90;
            if (p[i] == 0xf4)
                hi = 0x8f;
        } else
            need = 0;
        k = 1;
        while (need > 0 && k < need && i + k < len && p[i + k] >= (k == 1 ? lo : 0x80) &&
               p[i + k] <= (k == 1 ? hi : 0xbf))
            k++;
        if (need > 0 && k == need)
            ub_putn(b, (const char *)p + i, k);
        else
            ub_puts(b, "\xef\xbf\xbd");
        i += k;
    }
    free(raw.p);
}

/* Split [s, s+n) at the first '=' and decode both halves into *pair. */
static void
url_pair_decode(const char *s, size_t n, size_t idx, struct url_pair *pair)
{
    struct url_buf k = {0}, v = {0};
    const char *eq = memchr(s, '=', n);
    size_t klen = eq != NULL ? (size_t)(eq - s) : n;

    url_form_decode(s, klen, &k);
    if (eq != NULL)
        url_form_decode(eq + 1, n - klen - 1, &v);
    else
        ub_putn(&v, "", 0);
    pair->klen = k.len;
    pair->vlen = v.len;
    pair->k = ub_take(&k);
    pair->v = ub_take(&v);
    pair->idx = idx;
}

/* True when key [k, k+klen) is one of the names in the '&'-separated list. */
static bool
url_list_has(const char *list, const char *k, size_t klen)
{
    const char *p = list, *amp;
    size_t n;

    while (list != NULL && *p != '\0') {
        amp = strchr(p, '&');
        n = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (n == klen && n > 0 && memcmp(p, k, n) == 0)
            return true;
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    return false;
}

static bool
url_list_is_empty(const char *list)
{
    return list == NULL || strspn(list, "&") == strlen(list);
}

static int
url_pair_cmp(const void *a, const void *b)
{
    const struct url_pair *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->k, y->k, n);

    if (c != 0)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx; /* stable */
}

/* form_urlencoded's byte serializer, or Go's url.QueryEscape when go_style. */
static void
url_form_encode(struct url_buf *b, const char *s, size_t n, bool go_style)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || (go_style ? c == '~' : c == '*'))
            ub_putc(b, (char)c);
        else if (c == ' ')
            ub_putc(b, '+');
        else
            ub_put_pct(b, c);
    }
}

int
df_url_canonical_new(const char *url, const char *filtered, unsigned flags, char **out,
                     struct df_error *err)
{
    struct df_url u = {0};
    struct url_buf b = {0};
    struct url_pair *pairs = NULL;
    const char *defaults = (flags & DF_URL_CANON_NO_DEFAULTS) ? NULL : url_default_filtered;
    const char *p, *amp;
    size_t npairs = 0, cap = 0, n;
    bool sort = (flags & DF_URL_CANON_SORT) != 0;
    int rv;

    if ((rv = df_url_parse(url, &u, err)) != 0)
        goto out;
    if (sort && url_list_is_empty(defaults) && url_list_is_empty(filtered)) {
        /* the newer rule leaves the URL exactly as given when nothing is filtered */
        *out = xstrdup(url);
        rv = 0;
        goto out;
    }
    for (p = u.query; p != NULL && *p != '\0'; p = amp + 1) {
        amp = strchr(p, '&');
        n = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (n > 0 && !(sort && memchr(p, ';', n) != NULL)) {
            if (npairs == cap) {
                cap = cap == 0 ? 8 : cap * 2;
                pairs = xrealloc(pairs, cap * sizeof(*pairs));
            }
            url_pair_decode(p, n, npairs, &pairs[npairs]);
            if (url_list_has(defaults, pairs[npairs].k, pairs[npairs].klen) ||
                url_list_has(filtered, pairs[npairs].k, pairs[npairs].klen)) {
                free(pairs[npairs].k);
                free(pairs[npairs].v);
            } else
                npairs++;
        }
        if (amp == NULL)
            break;
    }
    if (sort && npairs > 1)
        qsort(pairs, npairs, sizeof(*pairs), url_pair_cmp);

    url_put_base(&b, &u);
    for (size_t i = 0; i < npairs; i++) {
        ub_putc(&b, i == 0 ? '?' : '&');
        url_form_encode(&b, pairs[i].k, pairs[i].klen, sort);
        ub_putc(&b, '=');
        url_form_encode(&b, pairs[i].v, pairs[i].vlen, sort);
    }
    if (u.fragment != NULL) {
        ub_putc(&b, '#');
        ub_put_encoded(&b, u.fragment, strlen(u.fragment), URL_ENC_FRAGMENT);
    }
    /* Rust: a bare "/" path loses its trailing slashes */
    if (strcmp(u.path, "/") == 0)
        while (b.len > 0 && b.p[b.len - 1] == '/')
            b.p[--b.len] = '\0';
    *out = ub_take(&b);
    rv = 0;
out:
    for (size_t i = 0; i < npairs; i++) {
        free(pairs[i].k);
        free(pairs[i].v);
    }
    free(pairs);
    free(b.p);
    df_url_reset(&u);
    return rv;
}
