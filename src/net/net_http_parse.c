/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 parsing, pure: no I/O, no logging. A head is found by scanning for CRLF line
 * ends incrementally (limits are checked on partial input, so an oversized head is refused
 * before it is complete) and is then parsed once, into a private copy. Anything ambiguous
 * between two parsers (bare CR or LF, obs-fold, whitespace before ':', duplicate
 * Content-Length, Content-Length with Transfer-Encoding, codings other than "chunked") is
 * an error, never a guess.
 */
#include "df/net_http_parse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/xmalloc.h"

#define NET_HTTP_MAX_EMPTY_LINES 4 /* CRLFs tolerated before a request line */
#define NET_HTTP_MAX_CONTENT_LEN ((uint64_t)INT64_MAX)

/* tchar from RFC 9110 §5.6.2. */
static bool
net_http_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value octets: VCHAR, obs-text, SP and HTAB. */
static bool
net_http_is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool
net_http_is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!net_http_is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

bool
net_http_is_field_value(const char *value)
{
    for (const char *p = value; *p != '\0'; p++)
        if (!net_http_is_vchar((unsigned char)*p))
            return false;
    return true;
}

int
net_http_parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return DF_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return DF_EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return DF_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void
net_http_parser_init(struct net_http_parser *p, enum net_http_kind kind,
                     const struct net_http_limits *lim)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    if (lim != NULL)
        p->lim = *lim;
    if (p->lim.max_line == 0)
        p->lim.max_line = NET_HTTP_DEFAULT_MAX_LINE;
    if (p->lim.max_field == 0)
        p->lim.max_field = NET_HTTP_DEFAULT_MAX_FIELD;
    if (p->lim.max_head_bytes == 0)
        p->lim.max_head_bytes = NET_HTTP_DEFAULT_MAX_HEAD_BYTES;
    if (p->lim.max_headers == 0)
        p->lim.max_headers = NET_HTTP_DEFAULT_MAX_HEADERS;
}

void
net_http_head_reset(struct net_http_head *head)
{
    free(head->headers);
    free(head->store);
    memset(head, 0, sizeof(*head));
}

const char *
net_http_head_get(const struct net_http_head *head, const char *name)
{
    for (size_t i = 0; i < head->nheaders; i++)
        if (strcasecmp(head->headers[i].name, name) == 0)
            return head->headers[i].value;
    return NULL;
}

size_t
net_http_head_count(const struct net_http_head *head, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < head->nheaders; i++)
        if (strcasecmp(head->headers[i].name, name) == 0)
            n++;
    return n;
}

bool
net_http_list_has(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = value;

    while (*p != '\0') {
        const char *e;
        size_t n;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        e = p + strcspn(p, ",");
        n = (size_t)(e - p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == tlen && strncasecmp(p, token, tlen) == 0)
            return true;
        p = e;
    }
    return false;
}

/* Fail with a status hint for the server. */
static int
net_http_fail(struct net_http_parser *p, int rv, int status)
{
    p->status_hint = status;
    return rv;
}

/* "HTTP/1.0" or "HTTP/1.1" → minor; other well-formed versions → 505; else 400. */
static int
net_http_parse_version(struct net_http_parser *p, const char *s, size_t len, int *minor)
{
    if (len != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' ||
        s[7] < '0' || s[7] > '9')
        return net_http_fail(p, DF_EPROTO, 400);
    if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
        return net_http_fail(p, DF_EPROTO, 505);
    *minor = s[7] - '0';
    return 0;
}

static int
net_http_parse_request_line(struct net_http_parser *p, char *line, size_t len,
                            struct net_http_head *h, char *pathbuf)
{
    char *sp1, *sp2;
    size_t tlen;
    int rv;

    sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || !net_http_is_token(line, (size_t)(sp1 - line)))
        return net_http_fail(p, DF_EPROTO, 400);
    sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return net_http_fail(p, DF_EPROTO, 400);
    tlen = (size_t)(sp2 - sp1 - 1);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)sp1[1 + i];
        if (c <= 0x20 || c >= 0x7f)
            return net_http_fail(p, DF_EPROTO, 400);
    }
    if ((rv = net_http_parse_version(p, sp2 + 1, len - (size_t)(sp2 + 1 - line),
                                     &h->version_minor)) != 0)
        return rv;
    *sp1 = '\0';
    *sp2 = '\0';
    h->method = line;
    h->target = sp1 + 1;
    memcpy(pathbuf, h->target, tlen + 1);
    h->path = pathbuf;
    if ((sp1 = strchr(pathbuf, '?')) != NULL) {
        *sp1 = '\0';
        h->query = sp1 + 1;
    }
    return 0;
}

static int
net_http_parse_status_line(struct net_http_parser *p, char *line, size_t len,
                           struct net_http_head *h)
{
    int rv;

    if (len < 12 || line[8] != ' ')
        return net_http_fail(p, DF_EPROTO, 502);
    if ((rv = net_http_parse_version(p, line, 8, &h->version_minor)) != 0)
        return net_http_fail(p, rv, 502);
    for (int i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9')
            return net_http_fail(p, DF_EPROTO, 502);
    h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (h->status < 100)
        return net_http_fail(p, DF_EPROTO, 502);
    /* The SP before an empty reason is often omitted; tolerate it. */
    if (len > 12 && line[12] != ' ')
        return net_http_fail(p, DF_EPROTO, 502);
    for (size_t i = 13; i < len; i++)
        if (!net_http_is_vchar((unsigned char)line[i]))
            return net_http_fail(p, DF_EPROTO, 502);
    line[len] = '\0';
    h->reason = len > 13 ? line + 13 : "";
    return 0;
}

/* Split "name: value" in place; the value is trimmed. */
static int
net_http_parse_field(struct net_http_parser *p, char *line, size_t len, struct net_http_header *f)
{
    char *colon, *v, *e;

    if (line[0] == ' ' || line[0] == '\t')
        return net_http_fail(p, DF_EPROTO, 400); /* obs-fold */
    colon = memchr(line, ':', len);
    if (colon == NULL || !net_http_is_token(line, (size_t)(colon - line)))
        return net_http_fail(p, DF_EPROTO, 400);
    v = colon + 1;
    e = line + len;
    for (char *q = v; q < e; q++)
        if (!net_http_is_vchar((unsigned char)*q))
            return net_http_fail(p, DF_EPROTO, 400);
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *colon = '\0';
    *e = '\0';
    f->name = line;
    f->value = v;
    return 0;
}

/* Derive framing and connection semantics from the fields (RFC 9112 §6). */
static int
net_http_parse_framing(struct net_http_parser *p, struct net_http_head *h)
{
    bool req = h->kind == NET_HTTP_REQUEST, chunked = false, close = false, ka = false;
    size_t ncl = 0, nte = 0, nhost = 0;
    int bad = req ? 400 : 502;

    for (size_t i = 0; i < h->nheaders; i++) {
        const char *n = h->headers[i].name, *v = h->headers[i].value;

        if (strcasecmp(n, "content-length") == 0) {
            if (++ncl > 1 || net_http_parse_u64(v, strlen(v), &h->content_length) != 0 ||
                h->content_length > NET_HTTP_MAX_CONTENT_LEN)
                return net_http_fail(p, DF_EPROTO, bad);
            h->has_content_length = true;
        } else if (strcasecmp(n, "transfer-encoding") == 0) {
            /* Only a single "chunked": anything else we cannot decode or might misframe. */
            if (++nte > 1 || strcasecmp(v, "chunked") != 0)
                return net_http_fail(p, DF_EPROTO, req ? 501 : 502);
            chunked = true;
        } else if (strcasecmp(n, "connection") == 0) {
            close = close || net_http_list_has(v, "close");
            ka = ka || net_http_list_has(v, "keep-alive");
        } else if (req && strcasecmp(n, "host") == 0) {
            nhost++;
        } else if (req && strcasecmp(n, "expect") == 0) {
            if (strcasecmp(v, "100-continue") != 0)
                return net_http_fail(p, DF_EPROTO, 417);
            h->expect_continue = true;
        }
    }
    if (ncl > 0 && nte > 0)
        return net_http_fail(p, DF_EPROTO, bad);
    if (req && (nhost > 1 || (h->version_minor == 1 && nhost == 0)))
        return net_http_fail(p, DF_EPROTO, 400);
    if (req && nte > 0 && h->version_minor == 0)
        return net_http_fail(p, DF_EPROTO, 400);
    h->keep_alive = h->version_minor == 1 ? !close : ka && !close;

    if (!req && (p->no_body || h->status < 200 || h->status == 204 || h->status == 304))
        h->body = NET_HTTP_BODY_NONE;
    else if (chunked)
        h->body = NET_HTTP_BODY_CHUNKED;
    else if (h->has_content_length)
        h->body = h->content_length > 0 ? NET_HTTP_BODY_LENGTH : NET_HTTP_BODY_NONE;
    else if (req)
        h->body = NET_HTTP_BODY_NONE;
    else {
        h->body = NET_HTTP_BODY_EOF;
        h->keep_alive = false;
    }
    if (!req && h->status < 200)
        h->keep_alive = true; /* an interim response; the final one decides */
    if (req && h->expect_continue && h->body == NET_HTTP_BODY_NONE)
        h->expect_continue = false;
    return 0;
}

/* Parse the complete head buf[0..len) (lines end with CRLF, the last line is empty). */
static int
net_http_parse_complete(struct net_http_parser *p, const char *buf, size_t len,
                        struct net_http_head *out)
{
    struct net_http_head h;
    char *s, *line, *pathbuf;
    size_t nfields = 0, llen, off;
    int rv;

    memset(&h, 0, sizeof(h));
    h.kind = p->kind;
    /* One copy: the head, then room for the request path (at most the head length). */
    h.store = xmalloc(len * 2 + 2);
    memcpy(h.store, buf, len);
    h.store[len] = '\0';
    pathbuf = h.store + len + 1;
    if (p->lines > 1)
        h.headers = xcalloc(p->lines - 1, sizeof(*h.headers));
    s = h.store;
    off = 0;
    for (size_t i = 0; off < len; i++) {
        line = s + off;
        llen = (size_t)((char *)memchr(line, '\n', len - off) - line) - 1; /* before CR */
        off += llen + 2;
        if (llen == 0)
            break; /* the empty line ends the head */
        if (memchr(line, '\r', llen) != NULL || memchr(line, '\0', llen) != NULL) {
            rv = net_http_fail(p, DF_EPROTO, p->kind == NET_HTTP_REQUEST ? 400 : 502);
            goto out;
        }
        line[llen] = '\0';
        if (i == 0) {
            rv = p->kind == NET_HTTP_REQUEST
                         ? net_http_parse_request_line(p, line, llen, &h, pathbuf)
                         : net_http_parse_status_line(p, line, llen, &h);
            if (rv != 0)
                goto out;
            continue;
        }
        if ((rv = net_http_parse_field(p, line, llen, &h.headers[nfields])) != 0)
            goto out;
        nfields++;
    }
    h.nheaders = nfields;
    if ((rv = net_http_parse_framing(p, &h)) != 0)
        goto out;
    *out = h;
    memset(&h, 0, sizeof(h));
    rv = 0;
out:
    net_http_head_reset(&h);
    return rv;
}

int
net_http_parse_head(struct net_http_parser *p, const char *buf, size_t len,
                    struct net_http_head *head, size_t *consumed)
{
    const struct net_http_limits *lim = &p->lim;
    bool req = p->kind == NET_HTTP_REQUEST;
    size_t pos = p->scanned, limit, max;
    const char *lf;
    int rv;

    /* Find complete lines from where the last call stopped. */
    while (pos < len && (lf = memchr(buf + pos, '\n', len - pos)) != NULL) {
        size_t end = (size_t)(lf - buf), llen;

        if (end == p->line_start || buf[end - 1] != '\r')
            return net_http_fail(p, DF_EPROTO, req ? 400 : 502); /* bare LF */
        llen = end - 1 - p->line_start;
        pos = end + 1;
        if (p->lines == 0 && llen == 0 && req) {
            /* Empty lines before a request line (RFC 9112 §2.2), a few at most. */
            if (p->line_start >= 2 * NET_HTTP_MAX_EMPTY_LINES)
                return net_http_fail(p, DF_EPROTO, 400);
            p->line_start = pos;
            p->head_start = pos;
            p->scanned = pos;
            continue;
        }
        if (p->lines == 0 && llen == 0)
            return net_http_fail(p, DF_EPROTO, 502); /* responses: no status line */
        if (p->lines == 0 && llen > lim->max_line)
            return net_http_fail(p, DF_ETOOBIG, req ? 414 : 502);
        if (p->lines > 0 && llen > lim->max_field)
            return net_http_fail(p, DF_ETOOBIG, req ? 431 : 502);
        p->line_start = pos;
        p->scanned = pos;
        if (llen == 0 && p->lines > 0) {
            /* The head spans from after the skipped empty lines to here. */
            if (pos - p->head_start > lim->max_head_bytes)
                return net_http_fail(p, DF_ETOOBIG, req ? 431 : 502);
            if ((rv = net_http_parse_complete(p, buf + p->head_start, pos - p->head_start, head)) !=
                0)
                return rv;
            *consumed = pos;
            return 0;
        }
        if (++p->lines > lim->max_headers + 1)
            return net_http_fail(p, DF_ETOOBIG, req ? 431 : 502);
    }
    p->scanned = len;
    /* Refuse an incomplete head as soon as it cannot fit any more. */
    max = p->lines == 0 ? lim->max_line : lim->max_field;
    limit = len - p->line_start;
    if (limit > max + 1)
        return net_http_fail(p, DF_ETOOBIG, p->lines == 0 ? (req ? 414 : 502) : (req ? 431 : 502));
    if (len - p->head_start > lim->max_head_bytes)
        return net_http_fail(p, DF_ETOOBIG, req ? 431 : 502);
    return DF_EAGAIN;
}

/* Chunked decoder states. */
enum {
    CH_SIZE = 0,      /* first hex digit of a chunk size */
    CH_SIZE_MORE,     /* more digits, or what follows them */
    CH_SIZE_WS,       /* whitespace after the digits */
    CH_EXT,           /* chunk extension, skipped */
    CH_SIZE_LF,       /* LF after the size line */
    CH_DATA,          /* chunk data */
    CH_DATA_CR,       /* CR after the data */
    CH_DATA_LF,       /* LF after the data */
    CH_TRAILER_START, /* start of a trailer line or the final CRLF */
    CH_TRAILER_LINE,  /* inside a trailer field */
    CH_TRAILER_LF,    /* LF ending a trailer field */
    CH_FINAL_LF,      /* LF of the final empty line */
    CH_DONE,
};

void
net_http_chunked_init(struct net_http_chunked *c, size_t max_trailer)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
    c->max_trailer = max_trailer != 0 ? max_trailer : NET_HTTP_DEFAULT_MAX_TRAILER;
}

bool
net_http_chunked_is_done(const struct net_http_chunked *c)
{
    return c->state == CH_DONE;
}

static int
net_http_hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int
net_http_chunked_next(struct net_http_chunked *c, const uint8_t *in, size_t len, size_t *used,
                      size_t *data_off, size_t *data_len)
{
    size_t i = 0;

    *data_off = 0;
    *data_len = 0;
    while (i < len && c->state != CH_DONE) {
        unsigned char ch = in[i];
        int hv;

        if (c->state == CH_DATA) {
            uint64_t n = len - i;

            if (n > c->remaining)
                n = c->remaining;
            *data_off = i;
            *data_len = (size_t)n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            *used = i + (size_t)n;
            return 0;
        }
        if (c->state <= CH_SIZE_LF && ++c->line_bytes > NET_HTTP_CHUNK_LINE_MAX)
            return DF_ETOOBIG;
        if (c->state >= CH_TRAILER_START && c->state <= CH_FINAL_LF &&
            ++c->trailer_bytes > c->max_trailer)
            return DF_ETOOBIG;
        switch (c->state) {
        case CH_SIZE:
        case CH_SIZE_MORE:
            hv = net_http_hexval(ch);
            if (hv >= 0) {
                /* Keep sizes below 2^63 so offsets never overflow a signed 64-bit. */
                if (c->remaining > ((uint64_t)INT64_MAX >> 4))
                    return DF_ETOOBIG;
                c->remaining = (c->remaining << 4) | (uint64_t)hv;
                c->digits++;
                c->state = CH_SIZE_MORE;
            } else if (c->state == CH_SIZE) {
                return DF_EPROTO;
            } else if (ch == ' ' || ch == '\t') {
                c->state = CH_SIZE_WS;
            } else if (ch == ';') {
                c->state = CH_EXT;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else
                return DF_EPROTO;
            break;
        case CH_SIZE_WS:
            if (ch == ';')
                c->state = CH_EXT;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch != ' ' && ch != '\t')
                return DF_EPROTO;
            break;
        case CH_EXT:
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (!net_http_is_vchar(ch))
                return DF_EPROTO;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return DF_EPROTO;
            c->line_bytes = 0;
            c->digits = 0;
            c->state = c->remaining == 0 ? CH_TRAILER_START : CH_DATA;
            break;
        case CH_DATA_CR:
            if (ch != '\r')
                return DF_EPROTO;
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return DF_EPROTO;
            c->state = CH_SIZE;
            break;
        case CH_TRAILER_START:
            if (ch == '\r')
                c->state = CH_FINAL_LF;
            else if (ch == ' ' || ch == '\t' || ch == ':' || !net_http_is_tchar(ch))
                return DF_EPROTO; /* obs-fold or not a field name */
            else
                c->state = CH_TRAILER_LINE;
            break;
        case CH_TRAILER_LINE:
            if (ch == '\r')
                c->state = CH_TRAILER_LF;
            else if (!net_http_is_vchar(ch))
                return DF_EPROTO;
            break;
        case CH_TRAILER_LF:
        case CH_FINAL_LF:
            if (ch != '\n')
                return DF_EPROTO;
            c->state = c->state == CH_FINAL_LF ? CH_DONE : CH_TRAILER_START;
            break;
        default:
            return DF_EPROTO;
        }
        i++;
    }
    *used = i;
    return c->state == CH_DONE ? 1 : 0;
}

/* Trim SP/HTAB around s[0..*len). */
static const char *
net_http_trim(const char *s, size_t *len)
{
    while (*len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        (*len)--;
    }
    while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    return s;
}

int
net_http_range_parse(const char *value, uint64_t total, struct net_http_range *out)
{
    const char *s, *dash;
    size_t len;
    uint64_t a, b;

    /* Exact prefix, not a character set (TOB-DF2-10). */
    if (strncasecmp(value, "bytes=", 6) != 0)
        return DF_EINVAL;
    len = strlen(value + 6);
    s = net_http_trim(value + 6, &len);
    if (memchr(s, ',', len) != NULL)
        return DF_ELIMIT;
    dash = memchr(s, '-', len);
    if (dash == NULL)
        return DF_EINVAL;
    if (dash == s) {
        /* suffix: the last n bytes */
        if (net_http_parse_u64(s + 1, len - 1, &b) != 0)
            return DF_EINVAL;
        if (b == 0 || total == 0)
            return DF_ENOTFOUND;
        out->length = b < total ? b : total;
        out->start = total - out->length;
        return 0;
    }
    if (net_http_parse_u64(s, (size_t)(dash - s), &a) != 0)
        return DF_EINVAL;
    if (dash + 1 == s + len) {
        b = UINT64_MAX;
    } else {
        if (net_http_parse_u64(dash + 1, len - (size_t)(dash + 1 - s), &b) != 0 || b < a)
            return DF_EINVAL;
    }
    if (a >= total)
        return DF_ENOTFOUND;
    if (b > total - 1)
        b = total - 1;
    out->start = a;
    out->length = b - a + 1;
    return 0;
}

int
net_http_content_range_parse(const char *value, struct net_http_content_range *out)
{
    struct net_http_content_range r;
    const char *s, *slash, *dash;
    size_t len;

    memset(&r, 0, sizeof(r));
    if (strncasecmp(value, "bytes ", 6) != 0)
        return DF_EINVAL;
    s = value + 6;
    len = strlen(s);
    slash = memchr(s, '/', len);
    if (slash == NULL)
        return DF_EINVAL;
    if (slash + 2 == s + len && slash[1] == '*') {
        r.total_known = false;
    } else {
        if (net_http_parse_u64(slash + 1, len - (size_t)(slash + 1 - s), &r.total) != 0)
            return DF_EINVAL;
        r.total_known = true;
    }
    if (slash == s + 1 && s[0] == '*') {
        if (!r.total_known)
            return DF_EINVAL;
        r.unsatisfied = true;
        *out = r;
        return 0;
    }
    dash = memchr(s, '-', (size_t)(slash - s));
    if (dash == NULL || net_http_parse_u64(s, (size_t)(dash - s), &r.first) != 0 ||
        net_http_parse_u64(dash + 1, (size_t)(slash - dash - 1), &r.last) != 0)
        return DF_EINVAL;
    if (r.last < r.first || (r.total_known && r.last >= r.total))
        return DF_EINVAL;
    *out = r;
    return 0;
}

const char *
net_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* host[:port] from s[0..len) into out; the port is required for authority-form. */
static int
net_http_authority_parse(const char *s, size_t len, bool port_required, struct net_http_target *out)
{
    const char *host = s, *colon, *rb;
    unsigned char addr[16];
    uint64_t port;
    size_t hlen;

    if (len > 0 && s[0] == '[') {
        if ((rb = memchr(s, ']', len)) == NULL)
            return DF_EINVAL;
        host = s + 1;
        hlen = (size_t)(rb - host);
        colon = rb + 1 < s + len ? rb + 1 : NULL;
        if (colon != NULL && *colon != ':')
            return DF_EINVAL;
        out->host_is_ipv6 = true;
    } else {
        colon = memchr(s, ':', len);
        hlen = colon != NULL ? (size_t)(colon - s) : len;
    }
    if (hlen == 0 || hlen > NET_HTTP_HOST_MAX)
        return DF_EINVAL;
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)host[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || (out->host_is_ipv6 && c == ':')))
            return DF_EINVAL;
        out->host[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out->host[hlen] = '\0';
    if (out->host_is_ipv6 && inet_pton(AF_INET6, out->host, addr) != 1)
        return DF_EINVAL;
    if (colon != NULL) {
        if (net_http_parse_u64(colon + 1, (size_t)(s + len - colon - 1), &port) != 0 || port == 0 ||
            port > 65535)
            return DF_EINVAL;
        out->port = (uint16_t)port;
        out->port_given = true;
    } else if (port_required) {
        return DF_EINVAL;
    }
    return 0;
}

int
net_http_target_parse(const char *target, bool authority_form, struct net_http_target *out)
{
    const char *auth, *end;
    bool tls;
    int rv;

    memset(out, 0, sizeof(*out));
    if (authority_form)
        return net_http_authority_parse(target, strlen(target), true, out);
    if (strncasecmp(target, "http://", 7) == 0)
        tls = false;
    else if (strncasecmp(target, "https://", 8) == 0)
        tls = true;
    else
        return DF_EINVAL;
    auth = target + (tls ? 8 : 7);
    end = auth + strcspn(auth, "/?#");
    /* No userinfo (a proxy must not take credentials from a URL), no fragment, and a query
     * needs a path to be sent on as origin-form. */
    if (*end == '?' || strchr(end, '#') != NULL || memchr(auth, '@', (size_t)(end - auth)) != NULL)
        return DF_EINVAL;
    if ((rv = net_http_authority_parse(auth, (size_t)(end - auth), false, out)) != 0)
        return rv;
    snprintf(out->scheme, sizeof(out->scheme), "%s", tls ? "https" : "http");
    if (!out->port_given)
        out->port = tls ? 443 : 80;
    out->path = *end == '\0' ? "/" : end;
    return 0;
}
