/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 message parsing without I/O: request and response heads with limits, strict
 * header validation (the request-smuggling rules: no bare CR/LF, no obs-fold, no
 * whitespace before the colon, one Content-Length, never Content-Length together with
 * Transfer-Encoding), an incremental chunked decoder, and Range / Content-Range values.
 * All sizes are 64-bit; every arithmetic step on them is overflow-checked.
 */
#ifndef DF_NET_HTTP_PARSE_H
#define DF_NET_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"

/* Defaults for struct net_http_limits fields left at 0. */
#define NET_HTTP_DEFAULT_MAX_LINE       8192
#define NET_HTTP_DEFAULT_MAX_FIELD      16384
#define NET_HTTP_DEFAULT_MAX_HEAD_BYTES 65536
#define NET_HTTP_DEFAULT_MAX_HEADERS    100
#define NET_HTTP_DEFAULT_MAX_TRAILER    8192
#define NET_HTTP_CHUNK_LINE_MAX         4096

struct net_http_limits {
    size_t max_line;       /* request line or status line, without CRLF */
    size_t max_field;      /* one header line, without CRLF */
    size_t max_head_bytes; /* the whole head including the final empty line */
    size_t max_headers;    /* header field count */
};

enum net_http_kind {
    NET_HTTP_REQUEST = 0,
    NET_HTTP_RESPONSE = 1,
};

/* How the body that follows a head is delimited. */
enum net_http_body {
    NET_HTTP_BODY_NONE = 0,    /* no body (or Content-Length: 0) */
    NET_HTTP_BODY_LENGTH = 1,  /* exactly content_length bytes */
    NET_HTTP_BODY_CHUNKED = 2, /* chunked transfer coding */
    NET_HTTP_BODY_EOF = 3,     /* responses only: until the connection closes */
};

struct net_http_header {
    const char *name;  /* as received (a valid token) */
    const char *value; /* leading and trailing whitespace removed; may be "" */
};

/*
 * A parsed head. All strings point into one allocation owned by the head and stay valid
 * until net_http_head_reset(). Request fields are NULL in responses and vice versa.
 */
struct net_http_head {
    enum net_http_kind kind;
    int version_minor; /* HTTP/1.<minor>: 0 or 1 */
    /* requests */
    const char *method; /* a token, case-sensitive ("GET") */
    const char *target; /* the request-target as received */
    const char *path;   /* target up to '?' */
    const char *query;  /* after '?', or NULL */
    /* responses */
    int status; /* 100..999 */
    const char *reason;
    /* headers, in order */
    struct net_http_header *headers;
    size_t nheaders;
    /* framing, derived from the headers */
    enum net_http_body body;
    uint64_t content_length; /* valid when has_content_length */
    bool has_content_length;
    bool keep_alive;      /* persistent connection per version and Connection */
    bool expect_continue; /* requests: Expect: 100-continue */
    /* private */
    char *store;
};

/*
 * Incremental head parser. The caller offers the bytes received so far (always starting
 * at the first byte of the message) and calls again with more until a head is complete;
 * work already done is not repeated, so a trickled head costs linear time.
 */
struct net_http_parser {
    enum net_http_kind kind;
    struct net_http_limits lim;
    bool no_body;      /* responses: the request was HEAD (no body whatever the headers say) */
    size_t scanned;    /* bytes already searched for the end of the head */
    size_t line_start; /* offset of the line being scanned */
    size_t head_start; /* offset of the first line (after skipped empty lines) */
    size_t lines;      /* complete non-empty lines so far */
    int status_hint;   /* on error: the status a server should answer (400, 414, 431, 501, 505) */
};

/* Set up a parser; lim may be NULL for the defaults (copied, zero fields defaulted). */
void net_http_parser_init(struct net_http_parser *p, enum net_http_kind kind,
                          const struct net_http_limits *lim);

/*
 * Offer buf[0..len): the message so far. Returns 0 with *head filled (the caller owns it:
 * net_http_head_reset) and *consumed = head length; DF_EAGAIN when more bytes are needed;
 * DF_ETOOBIG over a limit; DF_EPROTO for malformed or ambiguous input (p->status_hint says
 * which status a server should answer). Request parsing skips at most a few empty lines
 * before the request line. On failure *head is untouched.
 */
int net_http_parse_head(struct net_http_parser *p, const char *buf, size_t len,
                        struct net_http_head *head, size_t *consumed);

/* Free what a head owns and zero it; safe on a zeroed head. */
void net_http_head_reset(struct net_http_head *head);

/* First value of the header named name (case-insensitive), or NULL. Borrowed from head. */
const char *net_http_head_get(const struct net_http_head *head, const char *name);

/* Number of header fields named name (case-insensitive). */
size_t net_http_head_count(const struct net_http_head *head, const char *name);

/* True if the comma-separated list value contains token (case-insensitive). */
bool net_http_list_has(const char *value, const char *token);

/* True if s is a non-empty RFC 9110 token (header names, methods). */
bool net_http_is_token(const char *s, size_t len);

/* True if value may be sent as a header value: no CR, LF, NUL or other controls but HTAB. */
bool net_http_is_field_value(const char *value);

/*
 * Chunked transfer decoding, incremental, with bounded chunk lines and trailers. Trailer
 * fields are checked and discarded.
 */
struct net_http_chunked {
    int state;
    uint64_t remaining; /* data bytes left in the current chunk */
    size_t line_bytes;  /* bytes in the current size line */
    size_t trailer_bytes;
    size_t max_trailer;
    unsigned digits;
};

/* Set up a decoder; max_trailer 0 means NET_HTTP_DEFAULT_MAX_TRAILER. */
void net_http_chunked_init(struct net_http_chunked *c, size_t max_trailer);

/*
 * Decode from in[0..len). Framing bytes are consumed; when chunk data is reached, the data
 * span in[*data_off .. *data_off + *data_len) is returned (and counts as consumed) and the
 * call stops there, so at most one span is returned per call. *used is the number of bytes
 * consumed (framing + data). Returns 1 when the final chunk and trailers are complete
 * (bytes after *used belong to the next message), 0 when the caller should call again with
 * the rest of the input (or with more input if *used == len), DF_EPROTO for malformed
 * framing and DF_ETOOBIG when a chunk line or the trailers exceed their bounds.
 */
int net_http_chunked_next(struct net_http_chunked *c, const uint8_t *in, size_t len, size_t *used,
                          size_t *data_off, size_t *data_len);

/* True once the final chunk and trailers have been decoded. */
bool net_http_chunked_is_done(const struct net_http_chunked *c);

/* A single byte range request, resolved against a representation length. */
struct net_http_range {
    uint64_t start;  /* first byte offset */
    uint64_t length; /* > 0 */
};

/*
 * Parse a Range value ("bytes=a-b", "bytes=a-", "bytes=-n"; unit case-insensitive) against
 * a representation of size total and resolve it (b clamped to total-1). Returns 0 and *out;
 * DF_EINVAL for a malformed value (RFC 9110: ignore the header); DF_ELIMIT for a
 * multi-range request (refused: answer the whole representation or 416); DF_ENOTFOUND
 * when the range is not satisfiable (answer 416 with "bytes x/total" Content-Range).
 */
int net_http_range_parse(const char *value, uint64_t total, struct net_http_range *out);

struct net_http_content_range {
    bool unsatisfied; /* "bytes x/total": first/last unset */
    uint64_t first;   /* inclusive */
    uint64_t last;    /* inclusive, >= first */
    bool total_known; /* false for "/x" */
    uint64_t total;   /* complete length, last < total when known */
};

/*
 * Parse a Content-Range value ("bytes a-b/total", "bytes a-b/x", "bytes x/total").
 * Returns 0 and *out, or DF_EINVAL (malformed, last < first, last >= total, overflow).
 */
int net_http_content_range_parse(const char *value, struct net_http_content_range *out);

/* Parse an unsigned decimal with no sign, spaces or overflow (1..20 digits). 0 or DF_EINVAL. */
int net_http_parse_u64(const char *s, size_t len, uint64_t *out);

/* The standard reason phrase for status ("Not Found"), or "Unknown". */
const char *net_http_reason(int status);

/* Longest host in a request target (a DNS name's limit; an IPv6 address is shorter). */
#define NET_HTTP_HOST_MAX 253

/* A request target in absolute-form ("http://host:port/path?q") or authority-form (CONNECT). */
struct net_http_target {
    char scheme[8];                   /* "http" or "https"; "" for authority-form */
    char host[NET_HTTP_HOST_MAX + 1]; /* name (lowercase), dotted IPv4, or IPv6 without [] */
    bool host_is_ipv6;                /* needs brackets in a URL or Host header */
    uint16_t port;                    /* the explicit port, or 80/443 by scheme */
    bool port_given;                  /* the target named a port */
    const char *path;                 /* origin-form "/path[?query]" borrowed from the target,
                                       * "/" when it has no path; NULL for authority-form */
};

/*
 * Parse target, a request-target as received: absolute-form with scheme http or https
 * (case-insensitive) when authority_form is false, else "host:port" with the port required
 * (CONNECT). Userinfo, fragments, empty hosts, bad ports (not 1..65535) and bytes outside
 * a host name or address are refused, as is a query with no path ("http://h?q"). Returns 0
 * and *out (path borrows from target), or DF_EINVAL (*out unspecified).
 */
int net_http_target_parse(const char *target, bool authority_form, struct net_http_target *out);

#endif
