/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/net_http_parse.h"

/* Parse s whole; returns the parser result and leaves the status hint in *hint. */
static int
parse(enum net_http_kind kind, const char *s, const struct net_http_limits *lim,
      struct net_http_head *h, int *hint)
{
    struct net_http_parser p;
    size_t used = 0;
    int rv;

    net_http_parser_init(&p, kind, lim);
    rv = net_http_parse_head(&p, s, strlen(s), h, &used);
    if (hint != NULL)
        *hint = p.status_hint;
    if (rv == 0)
        ck_assert_uint_le(used, strlen(s));
    return rv;
}

/* Parse s one byte at a time, as a trickling peer would send it. */
static int
parse_trickle(enum net_http_kind kind, const char *s, struct net_http_head *h, size_t *used)
{
    struct net_http_parser p;
    int rv = DF_EAGAIN;

    net_http_parser_init(&p, kind, NULL);
    for (size_t n = 1; n <= strlen(s) && rv == DF_EAGAIN; n++)
        rv = net_http_parse_head(&p, s, n, h, used);
    return rv;
}

static int
req_rv(const char *s)
{
    struct net_http_head h = {0};
    int rv = parse(NET_HTTP_REQUEST, s, NULL, &h, NULL);

    net_http_head_reset(&h);
    return rv;
}

static int
resp_rv(const char *s)
{
    struct net_http_head h = {0};
    int rv = parse(NET_HTTP_RESPONSE, s, NULL, &h, NULL);

    net_http_head_reset(&h);
    return rv;
}

START_TEST(test_request_basic)
{
    struct net_http_head h = {0};
    const char *s = "GET /pieces/ab/3?x=1&y HTTP/1.1\r\nHost: h:1\r\n"
                    "X-Long:   spaced value \t\r\nconnection: keep-alive\r\n\r\nNEXT";
    size_t used;

    ck_assert_int_eq(parse(NET_HTTP_REQUEST, s, NULL, &h, NULL), 0);
    ck_assert_str_eq(h.method, "GET");
    ck_assert_str_eq(h.target, "/pieces/ab/3?x=1&y");
    ck_assert_str_eq(h.path, "/pieces/ab/3");
    ck_assert_str_eq(h.query, "x=1&y");
    ck_assert_int_eq(h.version_minor, 1);
    ck_assert_uint_eq(h.nheaders, 3);
    ck_assert_str_eq(net_http_head_get(&h, "x-long"), "spaced value");
    ck_assert_str_eq(net_http_head_get(&h, "HOST"), "h:1");
    ck_assert_ptr_null(net_http_head_get(&h, "missing"));
    ck_assert(h.keep_alive);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_NONE);
    net_http_head_reset(&h);

    /* Byte-by-byte gives the same head and stops before the next message. */
    ck_assert_int_eq(parse_trickle(NET_HTTP_REQUEST, s, &h, &used), 0);
    ck_assert_uint_eq(used, strlen(s) - 4);
    ck_assert_str_eq(h.query, "x=1&y");
    net_http_head_reset(&h);
}

END_TEST

START_TEST(test_request_versions)
{
    struct net_http_head h = {0};
    int hint;

    ck_assert_int_eq(parse(NET_HTTP_REQUEST, "GET / HTTP/1.0\r\n\r\n", NULL, &h, NULL), 0);
    ck_assert(!h.keep_alive);
    net_http_head_reset(&h);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                           NULL, &h, NULL),
                     0);
    ck_assert(h.keep_alive);
    net_http_head_reset(&h);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST,
                           "GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n", NULL, &h,
                           NULL),
                     0);
    ck_assert(!h.keep_alive);
    net_http_head_reset(&h);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, "GET / HTTP/2.0\r\n\r\n", NULL, &h, &hint), DF_EPROTO);
    ck_assert_int_eq(hint, 505);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, "GET / HTTP/1.1x\r\n\r\n", NULL, &h, &hint),
                     DF_EPROTO);
    ck_assert_int_eq(hint, 400);
    ck_assert_int_eq(req_rv("GET / http/1.1\r\nHost: a\r\n\r\n"), DF_EPROTO);
    /* Host: required once in 1.1 */
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), DF_EPROTO);
}

END_TEST

START_TEST(test_request_line_syntax)
{
    ck_assert_int_eq(req_rv("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), DF_EPROTO);
    /* a few leading empty lines are skipped, many are not */
    ck_assert_int_eq(req_rv("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    ck_assert_int_eq(req_rv("\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\n\r"), DF_EAGAIN);
    ck_assert_int_eq(req_rv(""), DF_EAGAIN);
}

END_TEST

START_TEST(test_header_injection)
{
    /* bare LF, bare CR, NUL, obs-fold, whitespace before colon, empty or bad names */
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\nHost: a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nX-\"y\": a\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n"), DF_EPROTO);
    /* obs-text in values is allowed, empty values too */
    ck_assert_int_eq(req_rv("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\nY:\r\n\r\n"), 0);
    ck_assert(net_http_is_field_value("a b\tc"));
    ck_assert(!net_http_is_field_value("a\r\nX: y"));
    ck_assert(net_http_is_token("X-Dragonfly-Tag", 15));
    ck_assert(!net_http_is_token("a b", 3));
    ck_assert(!net_http_is_token("", 0));
}

END_TEST

START_TEST(test_smuggling)
{
    struct net_http_head h = {0};
    int hint;

    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            "Content-Length: 5\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            "Content-Length: 6\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\n"
                            "Content-Length: 99999999999999999999999\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\n"
                            "Content-Length: 9223372036854775808\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST,
                           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                           NULL, &h, &hint),
                     DF_EPROTO);
    ck_assert_int_eq(hint, 501);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(req_rv("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"),
                     DF_EPROTO);

    ck_assert_int_eq(parse(NET_HTTP_REQUEST,
                           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", NULL,
                           &h, NULL),
                     0);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_CHUNKED);
    net_http_head_reset(&h);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST,
                           "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n"
                           "Expect: 100-continue\r\n\r\n",
                           NULL, &h, NULL),
                     0);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_LENGTH);
    ck_assert_uint_eq(h.content_length, 9223372036854775807ULL);
    ck_assert(h.expect_continue);
    net_http_head_reset(&h);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST,
                           "PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", NULL, &h,
                           &hint),
                     DF_EPROTO);
    ck_assert_int_eq(hint, 417);
}

END_TEST

START_TEST(test_limits)
{
    struct net_http_limits lim = {
            .max_line = 32, .max_field = 40, .max_head_bytes = 120, .max_headers = 3};
    struct net_http_head h = {0};
    char big[300];
    int hint;

    /* request line: exactly at the limit passes, one over fails before the CRLF arrives */
    snprintf(big, sizeof(big), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n",
             "aaaaaaaaaaaaaaaaaaaa"); /* 4 + 21 + 9 = 34 > 32 */
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, big, &lim, &h, &hint), DF_ETOOBIG);
    ck_assert_int_eq(hint, 414);
    snprintf(big, sizeof(big), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaaaa");
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, big, &lim, &h, NULL), 0);
    net_http_head_reset(&h);
    memset(big, 'a', 100);
    memcpy(big, "GET /", 5);
    big[100] = '\0';
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, big, &lim, &h, &hint), DF_ETOOBIG);
    ck_assert_int_eq(hint, 414);

    /* one field too long, even incomplete */
    ck_assert_int_eq(
            parse(NET_HTTP_REQUEST,
                  "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789012345678901234567890123456789", &lim,
                  &h, &hint),
            DF_ETOOBIG);
    ck_assert_int_eq(hint, 431);
    /* field count */
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n",
                           &lim, &h, NULL),
                     0);
    net_http_head_reset(&h);
    ck_assert_int_eq(parse(NET_HTTP_REQUEST,
                           "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &lim, &h,
                           &hint),
                     DF_ETOOBIG);
    ck_assert_int_eq(hint, 431);
    /* total bytes */
    lim.max_headers = 100;
    ck_assert_int_eq(parse(NET_HTTP_REQUEST,
                           "GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789012345678901234567890\r\n"
                           "B: 0123456789012345678901234567890\r\nC: 01234567890123456789\r\n\r\n",
                           &lim, &h, &hint),
                     DF_ETOOBIG);
    ck_assert_int_eq(hint, 431);
    /* defaults apply when the limits are 0 */
    memset(big, 0, sizeof(big));
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL, &h, NULL),
                     0);
    net_http_head_reset(&h);
}

END_TEST

START_TEST(test_limits_default_big)
{
    struct net_http_head h = {0};
    size_t n = 70000;
    char *s = malloc(n + 1);
    int hint;

    /* 1 MiB-class headers are refused by the default 64 KiB head limit, in pieces */
    memcpy(s, "GET / HTTP/1.1\r\nHost: a\r\n", 25);
    memset(s + 25, 'a', n - 25);
    for (size_t i = 25; i + 10 <= n; i += 10)
        memcpy(s + i, "X: 12345\r\n", 10);
    s[n] = '\0';
    ck_assert_int_eq(parse(NET_HTTP_REQUEST, s, NULL, &h, &hint), DF_ETOOBIG);
    ck_assert_int_eq(hint, 431);
    free(s);
}

END_TEST

START_TEST(test_response)
{
    struct net_http_head h = {0};
    struct net_http_parser p;
    size_t used;
    const char *s;

    ck_assert_int_eq(parse(NET_HTTP_RESPONSE,
                           "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\n"
                           "Content-Range: bytes 0-9/100\r\nETag: \"x\"\r\n\r\n",
                           NULL, &h, NULL),
                     0);
    ck_assert_int_eq(h.status, 206);
    ck_assert_str_eq(h.reason, "Partial Content");
    ck_assert_int_eq(h.body, NET_HTTP_BODY_LENGTH);
    ck_assert_uint_eq(h.content_length, 10);
    ck_assert_str_eq(net_http_head_get(&h, "etag"), "\"x\"");
    ck_assert(h.keep_alive);
    net_http_head_reset(&h);

    /* no length: read until close, not persistent */
    ck_assert_int_eq(parse(NET_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\n\r\n", NULL, &h, NULL), 0);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_EOF);
    ck_assert(!h.keep_alive);
    net_http_head_reset(&h);
    /* empty reason with and without the space */
    ck_assert_int_eq(parse(NET_HTTP_RESPONSE, "HTTP/1.1 204\r\n\r\n", NULL, &h, NULL), 0);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_NONE);
    ck_assert_str_eq(h.reason, "");
    net_http_head_reset(&h);
    ck_assert_int_eq(resp_rv("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), 0);
    ck_assert_int_eq(resp_rv("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), 0);
    ck_assert_int_eq(resp_rv("HTTP/1.1 2000 OK\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(resp_rv("HTTP/1.1 20 OK\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(resp_rv("HTTP/1.1 099 OK\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(resp_rv("HTTP/1.1 2x0 OK\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(resp_rv("ICY 200 OK\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(resp_rv("\r\nHTTP/1.1 200 OK\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(resp_rv("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"),
                     DF_EPROTO);
    ck_assert_int_eq(resp_rv("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), DF_EPROTO);
    ck_assert_int_eq(resp_rv("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
                     DF_EPROTO);

    /* HEAD: no body whatever the length says */
    net_http_parser_init(&p, NET_HTTP_RESPONSE, NULL);
    p.no_body = true;
    s = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    ck_assert_int_eq(net_http_parse_head(&p, s, strlen(s), &h, &used), 0);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_NONE);
    ck_assert(h.has_content_length);
    ck_assert_uint_eq(h.content_length, 100);
    net_http_head_reset(&h);

    /* interim 100 response, then chunked */
    ck_assert_int_eq(parse(NET_HTTP_RESPONSE, "HTTP/1.1 100 Continue\r\n\r\n", NULL, &h, NULL), 0);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_NONE);
    net_http_head_reset(&h);
    ck_assert_int_eq(parse(NET_HTTP_RESPONSE,
                           "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", NULL, &h, NULL),
                     0);
    ck_assert_int_eq(h.body, NET_HTTP_BODY_CHUNKED);
    ck_assert(!h.keep_alive);
    net_http_head_reset(&h);
    ck_assert_uint_eq(net_http_head_count(&h, "x"), 0);
}

END_TEST

/* Decode s in pieces of step bytes; returns the decoded body or NULL with *rv set. */
static char *
chunked_decode(const char *s, size_t len, size_t step, int *rv, size_t *rest)
{
    struct net_http_chunked c;
    char *out = calloc(1, len + 1);
    size_t olen = 0, off = 0;

    net_http_chunked_init(&c, 64);
    *rv = 0;
    while (off < len) {
        size_t avail = len - off < step ? len - off : step, used, doff, dlen;

        *rv = net_http_chunked_next(&c, (const uint8_t *)s + off, avail, &used, &doff, &dlen);
        if (*rv < 0) {
            free(out);
            return NULL;
        }
        ck_assert_uint_le(doff + dlen, used);
        memcpy(out + olen, s + off + doff, dlen);
        olen += dlen;
        off += used;
        if (*rv == 1)
            break;
    }
    *rest = len - off;
    return out;
}

START_TEST(test_chunked)
{
#define CASE(x)          \
    {                    \
        x, sizeof(x) - 1 \
    }

    static const struct {
        const char *s;
        size_t len;
    } ok[] = {
            CASE("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            CASE("5;ext=1;q=\"a b\"\r\nhello\r\n0006\r\n world\r\n0\r\n\r\n"),
            CASE("5 ;x\r\nhello\r\nA\r\n world\0\0\0\0\r\n0\r\nTrailer: x\r\nT2: y\r\n\r\n"),
            CASE("00000000000000000000005\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
    };

#undef CASE
    static const char *bad[] = {
            "\r\n",                     /* no size */
            "x\r\n",                    /* not hex */
            "-5\r\nhello\r\n",          /* sign */
            "5\nhello\r\n0\r\n\r\n",    /* bare LF after size */
            "5\r\nhelloX\r\n0\r\n\r\n", /* data longer than size */
            "5\r\nhello\n0\r\n\r\n",    /* bare LF after data */
            "5 x\r\nhello\r\n",         /* junk after size */
            "5;\x01\r\n",               /* control in extension */
            "0\r\n foo: x\r\n\r\n",     /* obs-fold trailer */
            "0\r\nfoo: x\n\r\n",        /* bare LF in trailer */
            "0\r\n\r\r\n",              /* CR CR */
            "0\r\nfoo: \x01\r\n\r\n",   /* control in trailer */
    };
    size_t rest;
    char *out;
    int rv;

    for (size_t i = 0; i < DF_NELEM(ok); i++) {
        size_t len = ok[i].len;

        for (size_t step = 1; step <= len; step++) {
            out = chunked_decode(ok[i].s, len, step, &rv, &rest);
            ck_assert_msg(out != NULL && rv == 1, "case %zu step %zu rv %d", i, step, rv);
            ck_assert_uint_eq(rest, 0);
            ck_assert_mem_eq(out, i == 2 ? "hello world\0\0\0\0" : "hello world", i == 2 ? 15 : 11);
            free(out);
        }
    }
    for (size_t i = 0; i < DF_NELEM(bad); i++) {
        out = chunked_decode(bad[i], strlen(bad[i]), 1000, &rv, &rest);
        ck_assert_msg(out == NULL && rv == DF_EPROTO, "bad case %zu rv %d", i, rv);
    }
    /* next message bytes are left over */
    out = chunked_decode("1\r\na\r\n0\r\n\r\nGET", 14, 3, &rv, &rest);
    ck_assert_int_eq(rv, 1);
    ck_assert_uint_eq(rest, 3);
    free(out);
    /* incomplete */
    out = chunked_decode("5\r\nhel", 6, 2, &rv, &rest);
    ck_assert_int_eq(rv, 0);
    free(out);
}

END_TEST

START_TEST(test_chunked_limits)
{
    struct net_http_chunked c;
    size_t used, doff, dlen;
    char line[5000];
    int rv;

    /* sizes over 2^63 are refused without overflowing */
    net_http_chunked_init(&c, 0);
    rv = net_http_chunked_next(&c, (const uint8_t *)"8000000000000000\r\n", 18, &used, &doff,
                               &dlen);
    ck_assert_int_eq(rv, DF_ETOOBIG);
    net_http_chunked_init(&c, 0);
    rv = net_http_chunked_next(&c, (const uint8_t *)"FFFFFFFFFFFFFFFFF\r\n", 19, &used, &doff,
                               &dlen);
    ck_assert_int_eq(rv, DF_ETOOBIG);
    net_http_chunked_init(&c, 0);
    rv = net_http_chunked_next(&c, (const uint8_t *)"7fffffffffffffff\r\nab", 20, &used, &doff,
                               &dlen);
    ck_assert_int_eq(rv, 0);
    ck_assert_uint_eq(doff, 18);
    ck_assert_uint_eq(dlen, 2);
    ck_assert_uint_eq(c.remaining, 0x7fffffffffffffffULL - 2);
    /* extension bounded */
    memset(line, 'a', sizeof(line));
    line[0] = '1';
    line[1] = ';';
    net_http_chunked_init(&c, 0);
    rv = net_http_chunked_next(&c, (const uint8_t *)line, sizeof(line), &used, &doff, &dlen);
    ck_assert_int_eq(rv, DF_ETOOBIG);
    /* trailers bounded */
    net_http_chunked_init(&c, 16);
    rv = net_http_chunked_next(&c, (const uint8_t *)"0\r\nX: 0123456789abcdef\r\n\r\n", 26, &used,
                               &doff, &dlen);
    ck_assert_int_eq(rv, DF_ETOOBIG);
    ck_assert(!net_http_chunked_is_done(&c));
}

END_TEST

START_TEST(test_range)
{
    struct net_http_range r;

    ck_assert_int_eq(net_http_range_parse("bytes=0-99", 1000, &r), 0);
    ck_assert_uint_eq(r.start, 0);
    ck_assert_uint_eq(r.length, 100);
    ck_assert_int_eq(net_http_range_parse("Bytes=10-", 1000, &r), 0);
    ck_assert_uint_eq(r.start, 10);
    ck_assert_uint_eq(r.length, 990);
    ck_assert_int_eq(net_http_range_parse("bytes=-100", 1000, &r), 0);
    ck_assert_uint_eq(r.start, 900);
    ck_assert_uint_eq(r.length, 100);
    ck_assert_int_eq(net_http_range_parse("bytes=-5000", 1000, &r), 0);
    ck_assert_uint_eq(r.start, 0);
    ck_assert_uint_eq(r.length, 1000);
    ck_assert_int_eq(net_http_range_parse("bytes=990-5000", 1000, &r), 0);
    ck_assert_uint_eq(r.length, 10);
    ck_assert_int_eq(net_http_range_parse("bytes= 5-5 ", 1000, &r), 0);
    ck_assert_uint_eq(r.length, 1);
    ck_assert_int_eq(net_http_range_parse("bytes=0-18446744073709551615", 1000, &r), 0);
    ck_assert_uint_eq(r.length, 1000);
    ck_assert_int_eq(net_http_range_parse("bytes=0-18446744073709551615", UINT64_MAX, &r), 0);
    ck_assert_uint_eq(r.length, UINT64_MAX);
    /* unsatisfiable */
    ck_assert_int_eq(net_http_range_parse("bytes=1000-", 1000, &r), DF_ENOTFOUND);
    ck_assert_int_eq(net_http_range_parse("bytes=-0", 1000, &r), DF_ENOTFOUND);
    ck_assert_int_eq(net_http_range_parse("bytes=0-", 0, &r), DF_ENOTFOUND);
    /* malformed (TOB-DF2-10 and the audit's cases) */
    ck_assert_int_eq(net_http_range_parse("bytes=--1", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bytes=bbytes=1-2", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bbytes=1-2", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bytes=5-4", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bytes=-", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bytes=1", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bytes=+1-2", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bytes=1 -2", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("bytes=18446744073709551616-", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("items=1-2", 1000, &r), DF_EINVAL);
    ck_assert_int_eq(net_http_range_parse("", 1000, &r), DF_EINVAL);
    /* multi-range refused */
    ck_assert_int_eq(net_http_range_parse("bytes=0-1,5-6", 1000, &r), DF_ELIMIT);
    ck_assert_int_eq(net_http_range_parse("bytes=0-1, 0-1, 0-1", 1000, &r), DF_ELIMIT);
}

END_TEST

START_TEST(test_content_range)
{
    struct net_http_content_range r;

    ck_assert_int_eq(net_http_content_range_parse("bytes 0-99/1000", &r), 0);
    ck_assert(!r.unsatisfied);
    ck_assert_uint_eq(r.first, 0);
    ck_assert_uint_eq(r.last, 99);
    ck_assert(r.total_known);
    ck_assert_uint_eq(r.total, 1000);
    ck_assert_int_eq(net_http_content_range_parse("bytes 5-9/*", &r), 0);
    ck_assert(!r.total_known);
    ck_assert_uint_eq(r.last, 9);
    ck_assert_int_eq(net_http_content_range_parse("bytes */1000", &r), 0);
    ck_assert(r.unsatisfied);
    ck_assert_uint_eq(r.total, 1000);
    ck_assert_int_eq(
            net_http_content_range_parse("bytes 0-18446744073709551614/18446744073709551615", &r),
            0);
    ck_assert_int_eq(net_http_content_range_parse("bytes 10-9/1000", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes 0-1000/1000", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes */*", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes 0-1/", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes 0-/10", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes -1/10", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes=0-1/10", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes  0-1/10", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes 0-1/10 ", &r), DF_EINVAL);
    ck_assert_int_eq(net_http_content_range_parse("bytes 0-1/18446744073709551616", &r), DF_EINVAL);
}

END_TEST

START_TEST(test_helpers)
{
    uint64_t v;

    ck_assert(net_http_list_has("keep-alive, Upgrade", "upgrade"));
    ck_assert(net_http_list_has(" close ", "close"));
    ck_assert(!net_http_list_has("closed", "close"));
    ck_assert(!net_http_list_has("", "close"));
    ck_assert_int_eq(net_http_parse_u64("18446744073709551615", 20, &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(net_http_parse_u64("18446744073709551616", 20, &v), DF_EINVAL);
    ck_assert_int_eq(net_http_parse_u64("", 0, &v), DF_EINVAL);
    ck_assert_str_eq(net_http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(net_http_reason(299), "Unknown");
}

END_TEST

Suite *test_net_http_parse_suite(void);

Suite *
test_net_http_parse_suite(void)
{
    Suite *s = suite_create("net_http_parse");
    TCase *tc = tcase_create("head");

    tcase_add_test(tc, test_request_basic);
    tcase_add_test(tc, test_request_versions);
    tcase_add_test(tc, test_request_line_syntax);
    tcase_add_test(tc, test_header_injection);
    tcase_add_test(tc, test_smuggling);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_limits_default_big);
    tcase_add_test(tc, test_response);
    suite_add_tcase(s, tc);
    tc = tcase_create("body");
    tcase_add_test(tc, test_chunked);
    tcase_add_test(tc, test_chunked_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("range");
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_content_range);
    tcase_add_test(tc, test_helpers);
    suite_add_tcase(s, tc);
    return s;
}
