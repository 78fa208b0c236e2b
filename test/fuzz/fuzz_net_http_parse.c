/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the HTTP/1.1 parsers. The first byte picks the target: request head, response head
 * (then a chunked body after it), chunked decoder alone, Range, Content-Range. Heads are
 * parsed whole and again in two parts, and both results must agree; decoded chunk spans
 * must lie inside the input; ranges must lie inside the representation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "df/net_http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_chunked(const uint8_t *p, size_t len)
{
    struct net_http_chunked c;
    size_t off = 0;

    net_http_chunked_init(&c, 256);
    while (off < len) {
        size_t used = 0, doff, dlen;
        /* vary the feed size with the data so splits land everywhere */
        size_t step = 1 + (p[off] % 7) * 3, n = len - off < step ? len - off : step;
        int rv = net_http_chunked_next(&c, p + off, n, &used, &doff, &dlen);

        if (rv < 0)
            return;
        if (used > n || doff + dlen > used)
            abort();
        off += used;
        if (rv == 1)
            return;
    }
}

/* A proxy target parses in both forms into a bounded host and a port, or not at all. */
static void
fuzz_target(const char *target)
{
    struct net_http_target t;

    for (int form = 0; form < 2; form++) {
        if (net_http_target_parse(target, form == 1, &t) != 0)
            continue;
        if (t.host[0] == '\0' || strlen(t.host) > NET_HTTP_HOST_MAX || t.port == 0 ||
            (form == 0 && (t.path == NULL || t.path[0] != '/')) || (form == 1 && t.path != NULL))
            abort();
    }
}

static void
fuzz_head(enum net_http_kind kind, const uint8_t *p, size_t len)
{
    struct net_http_limits lim = {
            .max_line = 512, .max_field = 512, .max_head_bytes = 2048, .max_headers = 20};
    struct net_http_parser a, b;
    struct net_http_head h1, h2;
    size_t u1 = 0, u2 = 0, split = len / 2;
    int r1, r2;

    memset(&h1, 0, sizeof(h1));
    memset(&h2, 0, sizeof(h2));
    net_http_parser_init(&a, kind, &lim);
    net_http_parser_init(&b, kind, &lim);
    r1 = net_http_parse_head(&a, (const char *)p, len, &h1, &u1);
    r2 = net_http_parse_head(&b, (const char *)p, split, &h2, &u2);
    if (r2 == DF_EAGAIN)
        r2 = net_http_parse_head(&b, (const char *)p, len, &h2, &u2);
    /* A complete head seen early is the same head; errors may only come earlier. */
    if (r1 == 0 && (r2 != 0 || u1 != u2 || h1.nheaders != h2.nheaders || h1.body != h2.body))
        abort();
    if (r1 == 0) {
        if (u1 > len || h1.nheaders > lim.max_headers)
            abort();
        for (size_t i = 0; i < h1.nheaders; i++)
            if (!net_http_is_token(h1.headers[i].name, strlen(h1.headers[i].name)) ||
                !net_http_is_field_value(h1.headers[i].value))
                abort();
        if (h1.has_content_length && net_http_head_get(&h1, "transfer-encoding") != NULL)
            abort();
        (void)net_http_head_get(&h1, "content-range");
        if (kind == NET_HTTP_RESPONSE && h1.body == NET_HTTP_BODY_CHUNKED)
            fuzz_chunked(p + u1, len - u1);
        if (kind == NET_HTTP_REQUEST)
            fuzz_target(h1.target);
    }
    net_http_head_reset(&h1);
    net_http_head_reset(&h2);
}

static void
fuzz_ranges(const uint8_t *p, size_t len, bool content)
{
    char buf[256];
    struct net_http_range r;
    struct net_http_content_range cr;
    uint64_t total = 0;

    if (len < 8)
        return;
    memcpy(&total, p, 8);
    p += 8;
    len -= 8;
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (content) {
        if (net_http_content_range_parse(buf, &cr) == 0 && !cr.unsatisfied &&
            (cr.last < cr.first || (cr.total_known && cr.last >= cr.total)))
            abort();
        return;
    }
    if (net_http_range_parse(buf, total, &r) == 0 &&
        (r.length == 0 || r.start >= total || r.length > total - r.start))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0:
        fuzz_head(NET_HTTP_REQUEST, data + 1, size - 1);
        break;
    case 1:
        fuzz_head(NET_HTTP_RESPONSE, data + 1, size - 1);
        break;
    case 2:
        fuzz_chunked(data + 1, size - 1);
        break;
    case 3:
        fuzz_ranges(data + 1, size - 1, false);
        break;
    default:
        fuzz_ranges(data + 1, size - 1, true);
        break;
    }
    return 0;
}
