/* SPDX-License-Identifier: Apache-2.0 */
/*
 * origin: the HTTP/HTTPS origin that the peer's back-to-source tests and benchmarks fetch
 * from. It serves generated content (/gen/<size>?seed=N: every byte is a pure function of
 * the seed and its offset, so any range of a multi-GiB object is produced directly and
 * nothing is stored), files under --root (sendfile, Range), request statistics (/_stats)
 * and a header echo (/_echo_headers). Faults are chosen per request by query parameters,
 * so one origin serves every test; --help lists them.
 *
 * Well-formed responses go through net_http_server. The faults that break HTTP framing on
 * purpose (truncate, cl_long, cl_short, nolength) are refused by that server, so a
 * connection whose first request asks for one is answered here on the raw bufferevent,
 * one response and an orderly close. On a kept-alive connection they are approximated
 * through the server (logged as such). `origin --gen SIZE --seed N` writes the same bytes
 * to stdout so tests can build the expected file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_conf.h"
#include "df/df_json.h"
#include "df/df_proc.h"
#include "df/df_time.h"
#include "df/df_units.h"
#include "df/log.h"
#include "df/net_addr.h"
#include "df/net_http_parse.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"
#include "df/net_tls.h"
#include "df/xmalloc.h"

#define ORIGIN_CHUNK        (64u * 1024)
#define ORIGIN_HIGH_WATER   (256u * 1024)
#define ORIGIN_TICK_MS      50
#define ORIGIN_POLL_MS      10
#define ORIGIN_LINGER_MS    2000
#define ORIGIN_HEAD_MS      10000
#define ORIGIN_MAX_TARGETS  10000
#define ORIGIN_MAX_STATUSES 8
#define ORIGIN_MAX_HEADERS  8
#define ORIGIN_MAX_TRICKLE  (INT64_C(1) << 40)
/* Last-Modified of generated content, version 0; each version adds a day. */
#define ORIGIN_GEN_MTIME INT64_C(1700000000)

struct origin_config {
    char *listen;
    char *tls_cert;
    char *tls_key;
    char *ready_file;
    char *root;
    char *stats_file;
    char *gen;
    int64_t seed;
    int64_t offset;
    int64_t length;
    int log_level;
    int64_t request_timeout_ms;
    int64_t max_requests;
};

static const char *const origin_levels[] = {"error", "warn", "info", "debug", NULL};

static const struct df_conf_entry origin_entries[] = {
        {.key = "listen",
         .type = DF_CONF_STRING,
         .offset = offsetof(struct origin_config, listen),
         .def = "127.0.0.1:0",
         .metavar = "ADDR",
         .help = "listen address ip:port (port 0: any)"},
        {.key = "tlsCert",
         .type = DF_CONF_STRING,
         .offset = offsetof(struct origin_config, tls_cert),
         .metavar = "PATH",
         .help = "serve HTTPS with this PEM certificate chain"},
        {.key = "tlsKey",
         .type = DF_CONF_STRING,
         .offset = offsetof(struct origin_config, tls_key),
         .metavar = "PATH",
         .help = "PEM private key for --tls-cert"},
        {.key = "readyFile",
         .type = DF_CONF_STRING,
         .offset = offsetof(struct origin_config, ready_file),
         .metavar = "PATH",
         .help = "write {\"http\":\"ip:port\",...} here once listening"},
        {.key = "root",
         .type = DF_CONF_STRING,
         .offset = offsetof(struct origin_config, root),
         .metavar = "DIR",
         .help = "serve the files under DIR for paths outside /gen/ and /_*"},
        {.key = "statsFile",
         .type = DF_CONF_STRING,
         .offset = offsetof(struct origin_config, stats_file),
         .metavar = "PATH",
         .help = "write the /_stats document here on exit"},
        {.key = "gen",
         .type = DF_CONF_STRING,
         .offset = offsetof(struct origin_config, gen),
         .metavar = "SIZE",
         .help = "write the bytes of /gen/SIZE?seed=N to stdout and exit"},
        {.key = "seed",
         .type = DF_CONF_INT,
         .offset = offsetof(struct origin_config, seed),
         .def = "0",
         .min = 0,
         .max = INT64_MAX,
         .help = "--gen: the seed"},
        {.key = "offset",
         .type = DF_CONF_SIZE,
         .offset = offsetof(struct origin_config, offset),
         .def = "0",
         .help = "--gen: first byte to write"},
        {.key = "length",
         .type = DF_CONF_SIZE,
         .offset = offsetof(struct origin_config, length),
         .def = "0",
         .help = "--gen: bytes to write (0: to the end)"},
        {.key = "logLevel",
         .type = DF_CONF_ENUM,
         .offset = offsetof(struct origin_config, log_level),
         .def = "info",
         .choices = origin_levels,
         .help = "log level"},
        {.key = "requestTimeout",
         .type = DF_CONF_DURATION,
         .offset = offsetof(struct origin_config, request_timeout_ms),
         .def = "300s",
         .min = 1,
         .max = INT32_MAX,
         .help = "whole-request deadline (bounds stalls)"},
        {.key = "maxRequests",
         .type = DF_CONF_INT,
         .offset = offsetof(struct origin_config, max_requests),
         .def = "0",
         .min = 0,
         .max = 1000000,
         .help = "requests per connection, then close (0: unlimited)"},
};

static const struct df_conf_spec origin_spec = {
        .cmd = "origin",
        .summary =
                "Origin test server. Paths: /gen/<size>[/name]?seed=N (generated bytes),\n"
                "/_stats[?reset=1], /_echo_headers, and files under --root.\n"
                "Query parameters (any path but /_stats):\n"
                "  seed=N            generator seed (default 0)\n"
                "  5xx=N             first N requests of this target get 503 (after any 429s)\n"
                "  429=N             first N requests get 429; retry_after=S adds Retry-After: S\n"
                "  status=C          always answer C (400..599)\n"
                "  redirect=N        N 302 hops (to redirect=N-1) before the content\n"
                "  redirect_host=H:P the hop goes to H:P (implies redirect=1; dropped after)\n"
                "  redirect_code=C   301, 302, 303, 307 or 308 instead of 302\n"
                "  delay=DUR         wait DUR (\"500ms\") before answering\n"
                "  norange=1         ignore Range (200, full body)\n"
                "  bad_range=1       206 whose Content-Range (and body) is shifted by a byte\n"
                "  chunked=1         chunked coding, no Content-Length\n"
                "  nolength=1        no Content-Length, body ends at close (raw)\n"
                "  truncate=SIZE     full Content-Length, close after SIZE body bytes (raw)\n"
                "  truncate_n=N      truncate only the first N requests of this target\n"
                "  cl_long=K         Content-Length K too long, close after the body (raw)\n"
                "  cl_short=K        Content-Length K too short, whole body sent (raw)\n"
                "  trickle=RATE      body at RATE bytes/s (\"10KiB/s\")\n"
                "  stall_after=SIZE  send SIZE body bytes, then nothing (connection kept)\n"
                "  swap_after=SIZE   responses starting after SIZE content bytes of this target\n"
                "                    serve seed+1 with a new ETag and Last-Modified\n"
                "(raw) faults are exact on a connection's first request.",
        .entries = origin_entries,
        .n_entries = DF_NELEM(origin_entries),
        .size = sizeof(struct origin_config),
        .max_args = 0,
};

/* Faults and options of one request, from its query string. -1 means off. */
struct origin_params {
    uint64_t seed;
    int64_t n5xx;
    int64_t n429;
    int64_t retry_after;
    int status;
    int64_t redirect;
    int redirect_code;
    char redirect_host[80];
    int64_t delay_ms;
    bool norange;
    bool bad_range;
    bool chunked;
    bool nolength;
    int64_t truncate;
    int64_t truncate_n;
    int64_t cl_long;
    int64_t cl_short;
    int64_t trickle;
    int64_t stall_after;
    int64_t swap_after;
    bool reset; /* /_stats */
};

/* Per request-target counters: statistics (reset by /_stats?reset=1) and fault state. */
struct origin_target {
    TAILQ_ENTRY(origin_target) entry;
    char *key;
    uint64_t requests;
    uint64_t bytes;
    uint64_t auth;

    struct {
        int status;
        uint64_t n;
    } statuses[ORIGIN_MAX_STATUSES];

    /* never reset: they drive the faults */
    uint64_t seen;
    uint64_t content_bytes;
};

TAILQ_HEAD(origin_target_list, origin_target);

struct origin_raw;
struct origin_resp;
LIST_HEAD(origin_raw_list, origin_raw);
LIST_HEAD(origin_resp_list, origin_resp);

struct origin {
    struct origin_config cfg;
    struct event_base *base;
    struct net_listener *listener;
    struct net_http_server *srv;
    struct net_tls_ctx *tls;
    struct df_proc_signals *sig;
    int root_fd;
    char addr[80];
    struct origin_target_list targets;
    size_t ntargets;
    uint64_t requests;
    uint64_t bytes;
    struct origin_raw_list raws;
    struct origin_resp_list resps;
    uint8_t chunk[ORIGIN_CHUNK];
};

enum origin_body {
    ORIGIN_BODY_MEM = 0, /* a short text or JSON body */
    ORIGIN_BODY_GEN,
    ORIGIN_BODY_FILE,
};

/*
 * One response, on either sink: a net_http_req (server path) or a raw connection. It lives
 * from the request until the body is complete or the connection closes.
 */
struct origin_resp {
    LIST_ENTRY(origin_resp) entry; /* server path only */
    struct origin *o;
    struct origin_target *t; /* NULL for /_stats */
    struct net_http_req *req;
    struct origin_raw *raw;
    const struct net_http_head *h; /* borrowed from the sink */
    char peer[64];
    struct origin_params p;
    bool head_only;
    bool auth;
    int status;
    const char *ctype;
    char *hname[ORIGIN_MAX_HEADERS];
    char *hval[ORIGIN_MAX_HEADERS];
    size_t nhdr;
    /* body */
    enum origin_body kind;
    char *mem;
    uint64_t seed;
    int fd;
    uint64_t off;   /* offset of the next byte in the representation */
    uint64_t left;  /* body bytes still to produce */
    uint64_t sent;  /* body bytes produced */
    uint64_t limit; /* stop after this many: truncate or stall_after */
    bool limit_closes;
    bool chunked; /* raw path: frame chunks ourselves */
    uint64_t trickle;
    int64_t t0_ms;
    struct event *tick;
    struct event *delay;
};

/*
 * Raw connection states:
 *
 *   PRE --first head complete, raw fault--> SEND --body done--> FLUSH --output and TLS
 *   close_notify written--> LINGER --EOF or 2 s--> freed
 *   PRE --ordinary request--> handed to net_http_server (freed here, bev kept)
 *   any --EOF, error, deadline--> freed
 */
enum origin_raw_state {
    ORIGIN_RAW_PRE = 0,
    ORIGIN_RAW_SEND,
    ORIGIN_RAW_FLUSH,
    ORIGIN_RAW_LINGER,
};

struct origin_raw {
    LIST_ENTRY(origin_raw) entry;
    struct origin *o;
    struct bufferevent *bev;
    struct event *timer;
    enum origin_raw_state state;
    struct net_http_parser parser;
    struct net_http_head head;
    struct origin_resp *resp;
    int64_t deadline_ms;
    bool notified;
    char peer[64];
};

static void origin_resp_produce(struct origin_resp *r);
static void origin_raw_free(struct origin_raw *raw, const char *why);
static void origin_raw_finish(struct origin_raw *raw);

static int64_t
origin_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
origin_timer_add_ms(struct event *ev, int64_t ms)
{
    struct timeval tv;

    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    evtimer_add(ev, &tv);
}

/* -------------------------------------------------------------------------------------- */
/* Generated content: splitmix64 of the 8-byte word index, bytes little-endian. */

static uint64_t
origin_gen_word(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * UINT64_C(0x9E3779B97F4A7C15);

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Write the n bytes of content seed at offset off to buf. */
static void
origin_gen_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t n)
{
    while (n > 0) {
        uint64_t v;
        size_t skip = (size_t)(off & 7), k = 8 - skip;
        uint8_t w[8];

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Whole aligned words: the host order is the stream order. */
        for (; skip == 0 && n >= 8; buf += 8, off += 8, n -= 8) {
            v = origin_gen_word(seed, off >> 3);
            memcpy(buf, &v, 8);
        }
        if (n == 0)
            break;
#endif
        v = origin_gen_word(seed, off >> 3);
        for (unsigned j = 0; j < 8; j++)
            w[j] = (uint8_t)(v >> (8 * j));
        if (k > n)
            k = n;
        memcpy(buf, w + skip, k);
        buf += k;
        off += k;
        n -= k;
    }
}

/* --gen mode: write [offset, offset+length) of content (size, seed) to stdout. */
static int
origin_gen_main(const struct origin_config *cfg)
{
    static uint8_t buf[ORIGIN_CHUNK];
    int64_t size;
    uint64_t off, end;

    if (df_units_size_parse(cfg->gen, &size) != 0) {
        fprintf(stderr, "origin: --gen: bad size '%s'\n", cfg->gen);
        return 2;
    }
    off = (uint64_t)cfg->offset;
    end = cfg->length > 0 ? off + (uint64_t)cfg->length : (uint64_t)size;
    if (off > (uint64_t)size || end > (uint64_t)size) {
        fprintf(stderr, "origin: --gen: range beyond %" PRId64 " bytes\n", size);
        return 2;
    }
    while (off < end) {
        size_t n = end - off < ORIGIN_CHUNK ? (size_t)(end - off) : ORIGIN_CHUNK;

        origin_gen_fill((uint64_t)cfg->seed, off, buf, n);
        if (fwrite(buf, 1, n, stdout) != n) {
            fprintf(stderr, "origin: --gen: write: %s\n", strerror(errno));
            return 1;
        }
        off += n;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* -------------------------------------------------------------------------------------- */
/* Query parameters. */

static int
origin_param_size(const char *name, const char *v, int64_t *out, char *err, size_t errlen)
{
    if (df_units_size_parse(v, out) != 0) {
        snprintf(err, errlen, "%.32s: expected a size, got '%.64s'", name, v);
        return DF_EINVAL;
    }
    return 0;
}

static bool
origin_param_bool(const char *v)
{
    return strcmp(v, "0") != 0 && strcmp(v, "false") != 0 && strcmp(v, "no") != 0;
}

static bool
origin_is_hostport(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= 80)
        return false;
    return strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:[]") == n;
}

/* One name=value pair. Unknown names are ignored (clients may add their own). */
static int
origin_param_set(struct origin_params *p, const char *k, const char *v, char *err, size_t errlen)
{
    int64_t x;
    uint64_t u;
    int rv = 0;

    if (strcmp(k, "seed") == 0) {
        if (net_http_parse_u64(v, strlen(v), &u) != 0)
            goto bad;
        p->seed = u;
    } else if (strcmp(k, "5xx") == 0 || strcmp(k, "429") == 0 || strcmp(k, "redirect") == 0 ||
               strcmp(k, "retry_after") == 0) {
        if (net_http_parse_u64(v, strlen(v), &u) != 0 || u > 1000000)
            goto bad;
        if (k[0] == '5')
            p->n5xx = (int64_t)u;
        else if (k[0] == '4')
            p->n429 = (int64_t)u;
        else if (k[0] == 'r' && k[2] == 'd')
            p->redirect = (int64_t)u;
        else
            p->retry_after = (int64_t)u;
    } else if (strcmp(k, "status") == 0 || strcmp(k, "redirect_code") == 0) {
        if (net_http_parse_u64(v, strlen(v), &u) != 0 || u < 300 || u > 599)
            goto bad;
        if (k[0] == 's') {
            if (u < 400)
                goto bad;
            p->status = (int)u;
        } else {
            if (u != 301 && u != 302 && u != 303 && u != 307 && u != 308)
                goto bad;
            p->redirect_code = (int)u;
        }
    } else if (strcmp(k, "redirect_host") == 0) {
        if (!origin_is_hostport(v))
            goto bad;
        snprintf(p->redirect_host, sizeof(p->redirect_host), "%s", v);
    } else if (strcmp(k, "delay") == 0) {
        if (df_units_duration_parse(v, &x) != 0 || x > 3600 * 1000)
            goto bad;
        p->delay_ms = x;
    } else if (strcmp(k, "trickle") == 0) {
        if (df_units_rate_parse(v, &x) != 0 || x == 0 || x > ORIGIN_MAX_TRICKLE)
            goto bad;
        p->trickle = x;
    } else if (strcmp(k, "truncate") == 0) {
        rv = origin_param_size(k, v, &p->truncate, err, errlen);
    } else if (strcmp(k, "truncate_n") == 0) {
        if (net_http_parse_u64(v, strlen(v), &u) != 0 || u > 1000000)
            goto bad;
        p->truncate_n = (int64_t)u;
    } else if (strcmp(k, "cl_long") == 0) {
        rv = origin_param_size(k, v, &p->cl_long, err, errlen);
    } else if (strcmp(k, "cl_short") == 0) {
        rv = origin_param_size(k, v, &p->cl_short, err, errlen);
    } else if (strcmp(k, "stall_after") == 0) {
        rv = origin_param_size(k, v, &p->stall_after, err, errlen);
    } else if (strcmp(k, "swap_after") == 0) {
        rv = origin_param_size(k, v, &p->swap_after, err, errlen);
    } else if (strcmp(k, "norange") == 0) {
        p->norange = origin_param_bool(v);
    } else if (strcmp(k, "bad_range") == 0) {
        p->bad_range = origin_param_bool(v);
    } else if (strcmp(k, "chunked") == 0) {
        p->chunked = origin_param_bool(v);
    } else if (strcmp(k, "nolength") == 0) {
        p->nolength = origin_param_bool(v);
    } else if (strcmp(k, "reset") == 0) {
        p->reset = origin_param_bool(v);
    }
    return rv;
bad:
    snprintf(err, errlen, "%.32s: bad value '%.64s'", k, v);
    return DF_EINVAL;
}

/* Parse a query string (may be NULL). Returns 0, or DF_EINVAL with a message in err. */
static int
origin_params_parse(const char *query, struct origin_params *p, char *err, size_t errlen)
{
    const char *s = query;
    int rv = 0;

    memset(p, 0, sizeof(*p));
    p->n5xx = p->n429 = p->retry_after = -1;
    p->truncate = p->truncate_n = p->stall_after = p->swap_after = -1;
    p->redirect_code = 302;
    while (s != NULL && *s != '\0') {
        const char *amp = strchr(s, '&'), *eq;
        size_t len = amp != NULL ? (size_t)(amp - s) : strlen(s);
        char pair[256];

        if (len >= sizeof(pair)) {
            snprintf(err, errlen, "query parameter too long");
            return DF_EINVAL;
        }
        memcpy(pair, s, len);
        pair[len] = '\0';
        eq = strchr(pair, '=');
        if (len > 0) {
            if (eq != NULL)
                pair[eq - pair] = '\0';
            rv = origin_param_set(p, pair, eq != NULL ? pair + (eq - pair) + 1 : "1", err, errlen);
            if (rv != 0)
                return rv;
        }
        s = amp != NULL ? amp + 1 : NULL;
    }
    if (p->redirect_host[0] != '\0' && p->redirect <= 0)
        p->redirect = 1;
    return 0;
}

/* The faults net_http_server cannot express; exact only as a connection's first request. */
static bool
origin_params_need_raw(const struct origin_params *p)
{
    return p->truncate >= 0 || p->cl_long > 0 || p->cl_short > 0 || p->nolength;
}

/* -------------------------------------------------------------------------------------- */
/* Targets and statistics. */

static struct origin_target *
origin_target_get(struct origin *o, const char *key)
{
    struct origin_target *t;

    TAILQ_FOREACH (t, &o->targets, entry)
        if (strcmp(t->key, key) == 0)
            return t;
    if (o->ntargets >= ORIGIN_MAX_TARGETS) {
        /* Bounded: beyond the cap every new target shares one entry. */
        key = "(other)";
        TAILQ_FOREACH (t, &o->targets, entry)
            if (strcmp(t->key, key) == 0)
                return t;
    }
    t = xcalloc(1, sizeof(*t));
    t->key = xstrdup(key);
    TAILQ_INSERT_TAIL(&o->targets, t, entry);
    o->ntargets++;
    return t;
}

static void
origin_target_count_status(struct origin_target *t, int status)
{
    for (size_t i = 0; i < ORIGIN_MAX_STATUSES; i++) {
        if (t->statuses[i].status == status || t->statuses[i].status == 0) {
            t->statuses[i].status = status;
            t->statuses[i].n++;
            return;
        }
    }
}

static cJSON *
origin_stats_json(const struct origin *o)
{
    cJSON *doc = cJSON_CreateObject(), *targets = cJSON_AddObjectToObject(doc, "targets");
    const struct origin_target *t;
    char code[8];

    df_json_add_u64(doc, "requests", o->requests);
    df_json_add_u64(doc, "bytes", o->bytes);
    TAILQ_FOREACH (t, &o->targets, entry) {
        cJSON *e = cJSON_AddObjectToObject(targets, t->key), *st;

        if (e == NULL)
            continue;
        df_json_add_u64(e, "requests", t->requests);
        df_json_add_u64(e, "bytes", t->bytes);
        df_json_add_u64(e, "auth", t->auth);
        st = cJSON_AddObjectToObject(e, "statuses");
        for (size_t i = 0; i < ORIGIN_MAX_STATUSES && t->statuses[i].status != 0; i++) {
            snprintf(code, sizeof(code), "%d", t->statuses[i].status);
            df_json_add_u64(st, code, t->statuses[i].n);
        }
    }
    return doc;
}

static void
origin_stats_reset(struct origin *o)
{
    struct origin_target *t;

    o->requests = o->bytes = 0;
    TAILQ_FOREACH (t, &o->targets, entry) {
        t->requests = t->bytes = t->auth = 0;
        memset(t->statuses, 0, sizeof(t->statuses));
    }
}

/* -------------------------------------------------------------------------------------- */
/* Responses. */

static void
origin_resp_free(struct origin_resp *r)
{
    if (r == NULL)
        return;
    if (r->req != NULL)
        LIST_REMOVE(r, entry);
    if (r->raw != NULL)
        r->raw->resp = NULL;
    for (size_t i = 0; i < r->nhdr; i++) {
        free(r->hname[i]);
        free(r->hval[i]);
    }
    if (r->tick != NULL)
        event_free(r->tick);
    if (r->delay != NULL)
        event_free(r->delay);
    if (r->fd != -1)
        close(r->fd);
    free(r->mem);
    free(r);
}

static void
origin_resp_add_header(struct origin_resp *r, const char *name, const char *value)
{
    DF_ASSERT(r->nhdr < ORIGIN_MAX_HEADERS);
    r->hname[r->nhdr] = xstrdup(name);
    r->hval[r->nhdr] = xstrdup(value);
    r->nhdr++;
}

static size_t
origin_raw_out_len(const struct origin_raw *raw)
{
    return evbuffer_get_length(bufferevent_get_output(raw->bev));
}

static bool
origin_resp_is_congested(const struct origin_resp *r)
{
    if (r->req != NULL)
        return net_http_req_is_congested(r->req);
    return origin_raw_out_len(r->raw) >= ORIGIN_HIGH_WATER;
}

/* Finish the body (rv == 0) or cut it (rv < 0). Frees r. */
static void
origin_resp_end(struct origin_resp *r, int rv)
{
    struct origin_raw *raw = r->raw;

    if (r->req != NULL) {
        net_http_req_end(r->req, rv);
        LIST_REMOVE(r, entry);
        r->req = NULL;
        origin_resp_free(r);
        return;
    }
    if (r->chunked && rv == 0)
        evbuffer_add(bufferevent_get_output(raw->bev), "0\r\n\r\n", 5);
    origin_resp_free(r);
    origin_raw_finish(raw);
}

static void
origin_resp_account(struct origin_resp *r, uint64_t n)
{
    if (r->t != NULL) {
        r->o->bytes += n;
        r->t->bytes += n;
        if (r->kind != ORIGIN_BODY_MEM)
            r->t->content_bytes += n;
    }
}

/* Bytes of body the trickle rate allows by now. */
static uint64_t
origin_resp_trickle_allowed(const struct origin_resp *r)
{
    uint64_t ms = (uint64_t)(origin_now_ms() - r->t0_ms);

    return r->trickle / 1000 * ms + r->trickle % 1000 * ms / 1000;
}

static void
origin_resp_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    origin_resp_produce(arg);
}

static void
origin_resp_fill(struct origin_resp *r, uint8_t *buf, size_t n)
{
    ssize_t got;

    switch (r->kind) {
    case ORIGIN_BODY_GEN:
        origin_gen_fill(r->seed, r->off, buf, n);
        break;
    case ORIGIN_BODY_FILE:
        got = pread(r->fd, buf, n, (off_t)r->off);
        if (got < (ssize_t)n) /* the file shrank: keep the promised length */
            memset(buf + (got > 0 ? (size_t)got : 0), 0, n - (got > 0 ? (size_t)got : 0));
        break;
    default:
        memcpy(buf, r->mem + r->off, n);
        break;
    }
}

/* Queue body bytes while the sink takes them and the faults allow; end when done. */
static void
origin_resp_produce(struct origin_resp *r)
{
    uint8_t *buf = r->o->chunk;

    while (r->left > 0 && r->sent < r->limit) {
        uint64_t n = r->left;

        if (origin_resp_is_congested(r))
            return;
        if (n > ORIGIN_CHUNK)
            n = ORIGIN_CHUNK;
        if (n > r->limit - r->sent)
            n = r->limit - r->sent;
        if (r->trickle > 0) {
            uint64_t allowed = origin_resp_trickle_allowed(r);

            if (allowed <= r->sent) {
                if (r->tick == NULL)
                    r->tick = evtimer_new(r->o->base, origin_resp_tick_cb, r);
                origin_timer_add_ms(r->tick, ORIGIN_TICK_MS);
                return;
            }
            if (n > allowed - r->sent)
                n = allowed - r->sent;
        }
        origin_resp_fill(r, buf, (size_t)n);
        if (r->req != NULL) {
            if (net_http_req_write(r->req, buf, (size_t)n) != 0)
                return; /* cannot happen below the declared length; the close cb frees r */
        } else {
            struct evbuffer *out = bufferevent_get_output(r->raw->bev);

            if (r->chunked)
                evbuffer_add_printf(out, "%" PRIx64 "\r\n", n);
            evbuffer_add(out, buf, (size_t)n);
            if (r->chunked)
                evbuffer_add(out, "\r\n", 2);
        }
        r->off += n;
        r->left -= n;
        r->sent += n;
        origin_resp_account(r, n);
    }
    if (r->left == 0)
        origin_resp_end(r, 0);
    else if (r->limit_closes)
        origin_resp_end(r, DF_EIO);
    /* else stalled: the connection stays open until the client or a deadline ends it */
}

static void
origin_more_cb(struct net_http_req *req, void *arg)
{
    (void)req;
    origin_resp_produce(arg);
}

static void
origin_req_close_cb(struct net_http_req *req, int reason, void *arg)
{
    struct origin_resp *r = arg;

    (void)req;
    log_info("origin: %s: connection closed after %" PRIu64 " body bytes (%s)", r->peer, r->sent,
             df_strerror(reason));
    origin_resp_free(r);
}

/* Queue a raw response head: framing per the faults, always Connection: close. */
static void
origin_raw_head(struct origin_resp *r, int64_t length)
{
    struct evbuffer *out = bufferevent_get_output(r->raw->bev);
    const struct origin_params *p = &r->p;
    char date[40];

    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", r->status,
                        net_http_reason(r->status),
                        df_time_format_http((int64_t)time(NULL), date, sizeof(date)));
    if (r->ctype != NULL)
        evbuffer_add_printf(out, "Content-Type: %s\r\n", r->ctype);
    if (p->nolength) {
        /* close-delimited */
    } else if (p->chunked && r->h->version_minor >= 1) {
        evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
        r->chunked = !r->head_only;
    } else if (!p->chunked) {
        uint64_t cl = (uint64_t)length, s = p->cl_short > 0 ? (uint64_t)p->cl_short : 0;

        cl = s < cl ? cl - s : 0;
        if (p->cl_long > 0)
            cl += (uint64_t)p->cl_long;
        evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n", cl);
    }
    for (size_t i = 0; i < r->nhdr; i++)
        evbuffer_add_printf(out, "%s: %s\r\n", r->hname[i], r->hval[i]);
    evbuffer_add_printf(out, "Connection: close\r\n\r\n");
}

/*
 * Send the head of r (status, r->hname/hval, length = body length before faults) and start
 * the body. r may be freed on return.
 */
static void
origin_resp_begin(struct origin_resp *r, int status, int64_t length)
{
    const struct origin_params *p = &r->p;
    int64_t declared = length;
    const char *range = net_http_head_get(r->h, "Range");
    int fd;

    r->status = status;
    if (r->t != NULL)
        origin_target_count_status(r->t, status);
    log_info("origin: %s %s %s%s%s -> %d auth=%s%s", r->peer, r->h->method, r->h->target,
             range != NULL ? " range=" : "", range != NULL ? range : "", status,
             r->auth ? "yes" : "no", r->raw != NULL ? " (raw)" : "");
    if (r->head_only)
        r->left = 0;
    if (r->p.trickle > 0) {
        r->trickle = (uint64_t)r->p.trickle;
        r->t0_ms = origin_now_ms();
    }
    if (r->raw != NULL) {
        origin_raw_head(r, length);
        origin_resp_produce(r);
        return;
    }
    if (origin_params_need_raw(p))
        log_warnx("origin: %s %s: framing fault on a reused connection: approximated", r->peer,
                  r->h->target);
    for (size_t i = 0; i < r->nhdr; i++)
        net_http_req_add_header(r->req, r->hname[i], r->hval[i]);
    if (p->cl_short > 0) {
        /* The server never writes past Content-Length: send the shorter body. */
        uint64_t s =
                (uint64_t)p->cl_short < (uint64_t)length ? (uint64_t)p->cl_short : (uint64_t)length;

        declared = length - (int64_t)s;
        r->left = r->left > s ? r->left - s : 0;
    } else if (p->cl_long > 0 && length <= INT64_MAX - p->cl_long)
        declared = length + p->cl_long;
    if (p->chunked || p->nolength)
        declared = -1;
    if (r->kind == ORIGIN_BODY_FILE && declared == length && r->trickle == 0 &&
        r->limit == UINT64_MAX) {
        /* The plain case: sendfile through the server. */
        fd = r->fd;
        r->fd = -1;
        if (!r->head_only)
            origin_resp_account(r, (uint64_t)length);
        net_http_req_respond_file(r->req, status, r->ctype, fd, r->off, (uint64_t)length);
        LIST_REMOVE(r, entry);
        r->req = NULL;
        origin_resp_free(r);
        return;
    }
    if (net_http_req_start(r->req, status, r->ctype, declared, origin_more_cb, r) != 0) {
        LIST_REMOVE(r, entry);
        r->req = NULL;
        origin_resp_free(r);
        return;
    }
    origin_resp_produce(r);
}

/* A short text or JSON body (copied). Frees r eventually. */
static void
origin_resp_simple(struct origin_resp *r, int status, const char *ctype, const char *text)
{
    size_t len = strlen(text);

    r->kind = ORIGIN_BODY_MEM;
    free(r->mem);
    r->mem = xstrdup(text);
    r->off = 0;
    r->left = len;
    r->ctype = ctype;
    origin_resp_begin(r, status, (int64_t)len);
}

static void
origin_resp_error(struct origin_resp *r, int status, const char *msg)
{
    char text[512];

    snprintf(text, sizeof(text), "%d %s%s%s\n", status, net_http_reason(status),
             msg != NULL ? ": " : "", msg != NULL ? msg : "");
    origin_resp_simple(r, status, "text/plain", text);
}

static void
origin_resp_json(struct origin_resp *r, cJSON *doc)
{
    char *text = df_json_print(doc);

    cJSON_Delete(doc);
    if (text == NULL) {
        origin_resp_error(r, 500, "out of memory");
        return;
    }
    origin_resp_simple(r, 200, "application/json", text);
    free(text);
}

static bool
origin_if_range_is_met(const char *if_range, const char *etag, const char *lastmod)
{
    if (if_range == NULL)
        return true;
    if (if_range[0] == '"')
        return strcmp(if_range, etag) == 0;
    return strcmp(if_range, lastmod) == 0;
}

/*
 * Content of total bytes (r->kind, r->seed or r->fd set): validators, Range, then the
 * faults that shape the body.
 */
static void
origin_resp_content(struct origin_resp *r, uint64_t total, const char *etag, int64_t mtime)
{
    const struct origin_params *p = &r->p;
    const char *range = net_http_head_get(r->h, "Range");
    struct net_http_range rg;
    char lastmod[40], cr[96];
    int status = 200, rv;
    uint64_t start = 0, len = total;

    df_time_format_http(mtime, lastmod, sizeof(lastmod));
    origin_resp_add_header(r, "ETag", etag);
    origin_resp_add_header(r, "Last-Modified", lastmod);
    origin_resp_add_header(r, "Accept-Ranges", p->norange ? "none" : "bytes");
    r->ctype = "application/octet-stream";
    if (p->norange || !origin_if_range_is_met(net_http_head_get(r->h, "If-Range"), etag, lastmod))
        range = NULL;
    if (range != NULL && total <= INT64_MAX) {
        rv = net_http_range_parse(range, total, &rg);
        if (rv == DF_ENOTFOUND) {
            snprintf(cr, sizeof(cr), "bytes */%" PRIu64, total);
            origin_resp_add_header(r, "Content-Range", cr);
            if (r->fd != -1) {
                close(r->fd);
                r->fd = -1;
            }
            origin_resp_error(r, 416, NULL);
            return;
        }
        if (rv == 0) {
            status = 206;
            start = rg.start;
            len = rg.length;
            if (p->bad_range) {
                /* Serve (and declare) a neighbouring range instead of the one asked for. */
                if (len < total && start + len < total)
                    start++;
                else if (len < total)
                    start--;
                else if (len > 1)
                    len--;
            }
            snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
                     start + len - 1, total);
            origin_resp_add_header(r, "Content-Range", cr);
        }
    }
    r->off = start;
    r->left = len;
    r->limit = UINT64_MAX;
    if (p->truncate >= 0 && (uint64_t)p->truncate < len &&
        (p->truncate_n < 0 || (r->t != NULL && r->t->seen <= (uint64_t)p->truncate_n))) {
        r->limit = (uint64_t)p->truncate;
        r->limit_closes = true;
    } else if (p->stall_after >= 0 && (uint64_t)p->stall_after < len) {
        r->limit = (uint64_t)p->stall_after;
    }
    if (len > INT64_MAX) {
        origin_resp_error(r, 500, "too large");
        return;
    }
    origin_resp_begin(r, status, (int64_t)len);
}

/* Which content version a response starting now serves (swap_after). */
static unsigned
origin_resp_version(const struct origin_resp *r)
{
    return r->p.swap_after >= 0 && r->t->content_bytes >= (uint64_t)r->p.swap_after ? 1 : 0;
}

static void
origin_serve_gen(struct origin_resp *r, const char *spec)
{
    char sz[64], etag[96];
    const char *slash = strchr(spec, '/');
    size_t n = slash != NULL ? (size_t)(slash - spec) : strlen(spec);
    unsigned version = origin_resp_version(r);
    int64_t size;

    if (n == 0 || n >= sizeof(sz)) {
        origin_resp_error(r, 404, "bad size");
        return;
    }
    memcpy(sz, spec, n);
    sz[n] = '\0';
    if (df_units_size_parse(sz, &size) != 0) {
        origin_resp_error(r, 404, "bad size");
        return;
    }
    r->kind = ORIGIN_BODY_GEN;
    r->seed = r->p.seed + version;
    snprintf(etag, sizeof(etag), "\"gen-%" PRId64 "-%" PRIu64 "\"", size, r->seed);
    origin_resp_content(r, (uint64_t)size, etag, ORIGIN_GEN_MTIME + (int64_t)version * 86400);
}

/* A regular file under --root; path segments "." and ".." are refused. */
static void
origin_serve_file(struct origin_resp *r, const char *path)
{
    struct origin *o = r->o;
    const char *rel = path + 1, *seg = rel;
    unsigned version = origin_resp_version(r);
    struct stat st;
    char etag[96];
    int fd;

    while (*rel != '\0') {
        size_t n = strcspn(seg, "/");

        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
            origin_resp_error(r, 400, "bad path");
            return;
        }
        if (seg[n] == '\0')
            break;
        seg += n + 1;
    }
    if (*rel == '\0' ||
        (fd = openat(o->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) == -1) {
        origin_resp_error(r, 404, NULL);
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        origin_resp_error(r, 404, NULL);
        return;
    }
    r->kind = ORIGIN_BODY_FILE;
    r->fd = fd;
    snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "%s\"", (uint64_t)st.st_mtime,
             (uint64_t)st.st_size, version > 0 ? "-v1" : "");
    origin_resp_content(r, (uint64_t)st.st_size, etag,
                        (int64_t)st.st_mtime + (int64_t)version * 86400);
}

static void
origin_serve_echo(struct origin_resp *r)
{
    const struct net_http_head *h = r->h;
    cJSON *doc = cJSON_CreateObject(), *hdrs;
    char name[128];

    cJSON_AddStringToObject(doc, "method", h->method);
    cJSON_AddStringToObject(doc, "target", h->target);
    cJSON_AddStringToObject(doc, "version", h->version_minor >= 1 ? "HTTP/1.1" : "HTTP/1.0");
    hdrs = cJSON_AddObjectToObject(doc, "headers");
    for (size_t i = 0; i < h->nheaders; i++) {
        const cJSON *prev;
        size_t j;

        for (j = 0; h->headers[i].name[j] != '\0' && j + 1 < sizeof(name); j++)
            name[j] = (char)((h->headers[i].name[j] >= 'A' && h->headers[i].name[j] <= 'Z')
                                     ? h->headers[i].name[j] + 32
                                     : h->headers[i].name[j]);
        name[j] = '\0';
        prev = cJSON_GetObjectItemCaseSensitive(hdrs, name);
        if (prev != NULL && cJSON_IsString(prev)) {
            char *joined = xasprintf("%s, %s", prev->valuestring, h->headers[i].value);

            cJSON_ReplaceItemInObjectCaseSensitive(hdrs, name, cJSON_CreateString(joined));
            free(joined);
        } else
            cJSON_AddStringToObject(hdrs, name, h->headers[i].value);
    }
    origin_resp_json(r, doc);
}

/* 3xx to the same path with redirect=N-1 (and without redirect_host), maybe on another host. */
static void
origin_serve_redirect(struct origin_resp *r)
{
    const struct net_http_head *h = r->h;
    const char *host =
            r->p.redirect_host[0] != '\0' ? r->p.redirect_host : net_http_head_get(h, "Host");
    const char *s = h->query;
    struct evbuffer *loc = evbuffer_new();
    char *text = NULL;
    bool first = true;
    size_t len;

    if (host == NULL || !origin_is_hostport(host))
        host = r->o->addr;
    evbuffer_add_printf(loc, "%s://%s%s", r->o->tls != NULL ? "https" : "http", host, h->path);
    while (s != NULL && *s != '\0') {
        const char *amp = strchr(s, '&');
        size_t n = amp != NULL ? (size_t)(amp - s) : strlen(s);

        if (n > 0 && strncmp(s, "redirect=", 9) != 0 && strncmp(s, "redirect_host=", 14) != 0) {
            evbuffer_add(loc, first ? "?" : "&", 1);
            evbuffer_add(loc, s, n);
            first = false;
        }
        s = amp != NULL ? amp + 1 : NULL;
    }
    if (r->p.redirect > 1)
        evbuffer_add_printf(loc, "%sredirect=%" PRId64, first ? "?" : "&", r->p.redirect - 1);
    len = evbuffer_get_length(loc);
    text = xmalloc(len + 1);
    evbuffer_remove(loc, text, len);
    text[len] = '\0';
    evbuffer_free(loc);
    if (!net_http_is_field_value(text)) {
        free(text);
        origin_resp_error(r, 400, "bad redirect target");
        return;
    }
    origin_resp_add_header(r, "Location", text);
    free(text);
    origin_resp_error(r, r->p.redirect_code, NULL);
}

/* Everything after the optional delay: faults in order, then the endpoint. */
static void
origin_resp_route(struct origin_resp *r)
{
    const struct origin_params *p = &r->p;
    const struct origin_target *t = r->t;
    const char *path = r->h->path;
    char num[32];

    if (p->n429 > 0 && t->seen <= (uint64_t)p->n429) {
        if (p->retry_after >= 0) {
            snprintf(num, sizeof(num), "%" PRId64, p->retry_after);
            origin_resp_add_header(r, "Retry-After", num);
        }
        origin_resp_error(r, 429, NULL);
    } else if (p->n5xx > 0 &&
               t->seen <= (uint64_t)(p->n429 > 0 ? p->n429 : 0) + (uint64_t)p->n5xx) {
        origin_resp_error(r, 503, NULL);
    } else if (p->status != 0) {
        origin_resp_error(r, p->status, NULL);
    } else if (p->redirect > 0) {
        origin_serve_redirect(r);
    } else if (strcmp(path, "/_echo_headers") == 0) {
        origin_serve_echo(r);
    } else if (strncmp(path, "/gen/", 5) == 0) {
        origin_serve_gen(r, path + 5);
    } else if (r->o->root_fd != -1 && strncmp(path, "/_", 2) != 0) {
        origin_serve_file(r, path);
    } else {
        origin_resp_error(r, 404, NULL);
    }
}

static void
origin_resp_delay_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    origin_resp_route(arg);
}

/* A request from either sink: req (server) or raw. h stays valid while the response lives. */
static void
origin_handle(struct origin *o, const struct net_http_head *h, const char *peer,
              struct net_http_req *req, struct origin_raw *raw)
{
    struct origin_resp *r = xcalloc(1, sizeof(*r));
    char err[160];

    r->o = o;
    r->h = h;
    r->req = req;
    r->raw = raw;
    r->fd = -1;
    r->limit = UINT64_MAX;
    snprintf(r->peer, sizeof(r->peer), "%s", peer);
    if (raw != NULL)
        raw->resp = r;
    else {
        LIST_INSERT_HEAD(&o->resps, r, entry);
        net_http_req_on_close(req, origin_req_close_cb, r);
    }
    r->head_only = strcmp(h->method, "HEAD") == 0;
    r->auth = net_http_head_get(h, "Authorization") != NULL;
    if (origin_params_parse(h->query, &r->p, err, sizeof(err)) != 0) {
        origin_resp_error(r, 400, err);
        return;
    }
    if (strcmp(h->path, "/_stats") == 0) {
        /* Not counted, so "no origin traffic" is simply zero requests. */
        cJSON *doc = origin_stats_json(o);

        if (r->p.reset)
            origin_stats_reset(o);
        r->p = (struct origin_params){
                .n5xx = -1, .n429 = -1, .truncate = -1, .truncate_n = -1, .stall_after = -1};
        origin_resp_json(r, doc);
        return;
    }
    r->t = origin_target_get(o, h->target);
    r->t->seen++;
    r->t->requests++;
    r->t->auth += r->auth;
    o->requests++;
    if (strcmp(h->method, "GET") != 0 && !r->head_only) {
        origin_resp_add_header(r, "Allow", "GET, HEAD");
        origin_resp_error(r, 405, NULL);
        return;
    }
    if (r->p.delay_ms > 0) {
        r->delay = evtimer_new(o->base, origin_resp_delay_cb, r);
        origin_timer_add_ms(r->delay, r->p.delay_ms);
        return;
    }
    origin_resp_route(r);
}

static void
origin_http_cb(struct net_http_req *req, void *arg)
{
    origin_handle(arg, net_http_req_head(req), net_http_req_peer(req), req, NULL);
}

/* -------------------------------------------------------------------------------------- */
/* Raw connections: every connection starts here until its first head is known. */

static void
origin_raw_free(struct origin_raw *raw, const char *why)
{
    if (raw == NULL)
        return;
    log_debug("origin", "origin: %s: raw connection closed: %s", raw->peer, why);
    origin_resp_free(raw->resp);
    LIST_REMOVE(raw, entry);
    if (raw->bev != NULL)
        bufferevent_free(raw->bev);
    event_free(raw->timer);
    net_http_head_reset(&raw->head);
    free(raw);
}

static void
origin_raw_discard_input(struct origin_raw *raw)
{
    struct evbuffer *in = bufferevent_get_input(raw->bev);

    evbuffer_drain(in, evbuffer_get_length(in));
}

/* The body is queued: flush it (and TLS close_notify), then shut down our side. */
static void
origin_raw_finish(struct origin_raw *raw)
{
    raw->state = ORIGIN_RAW_FLUSH;
    origin_timer_add_ms(raw->timer, 0);
}

/* Hand a connection whose first request is ordinary to net_http_server. */
static void
origin_raw_adopt(struct origin_raw *raw)
{
    struct net_http_server *srv = raw->o->srv;
    struct bufferevent *bev = raw->bev;
    char peer[64];

    snprintf(peer, sizeof(peer), "%s", raw->peer);
    raw->bev = NULL;
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    origin_raw_free(raw, "handed to the server");
    net_http_server_adopt(srv, bev, peer);
}

static void
origin_raw_read_cb(struct bufferevent *bev, void *arg)
{
    struct origin_raw *raw = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct origin_params p;
    size_t len = evbuffer_get_length(in), used = 0;
    char err[160];
    char *buf;
    int rv;

    if (raw->state != ORIGIN_RAW_PRE) {
        origin_raw_discard_input(raw);
        return;
    }
    buf = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
    rv = net_http_parse_head(&raw->parser, buf, len, &raw->head, &used);
    if (rv == DF_EAGAIN)
        return;
    /* Bad heads, bodies and ordinary requests are the server's business. */
    if (rv != 0 || raw->head.body != NET_HTTP_BODY_NONE || strcmp(raw->head.path, "/_stats") == 0 ||
        origin_params_parse(raw->head.query, &p, err, sizeof(err)) != 0 ||
        !origin_params_need_raw(&p)) {
        origin_raw_adopt(raw);
        return;
    }
    evbuffer_drain(in, used);
    raw->state = ORIGIN_RAW_SEND;
    raw->deadline_ms = origin_now_ms() + raw->o->cfg.request_timeout_ms;
    origin_timer_add_ms(raw->timer, raw->o->cfg.request_timeout_ms);
    bufferevent_setwatermark(bev, EV_WRITE, ORIGIN_HIGH_WATER / 2, 0);
    origin_handle(raw->o, &raw->head, raw->peer, NULL, raw);
}

static void
origin_raw_write_cb(struct bufferevent *bev, void *arg)
{
    struct origin_raw *raw = arg;

    (void)bev;
    if (raw->state == ORIGIN_RAW_SEND && raw->resp != NULL)
        origin_resp_produce(raw->resp);
}

static void
origin_raw_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct origin_raw *raw = arg;

    (void)bev;
    if (what & BEV_EVENT_EOF) {
        if (raw->state == ORIGIN_RAW_FLUSH || raw->state == ORIGIN_RAW_SEND) {
            /* Perhaps a half-close: keep sending; write errors end it otherwise. */
            bufferevent_disable(raw->bev, EV_READ);
            return;
        }
        origin_raw_free(raw, "closed by the client");
    } else if (what & BEV_EVENT_ERROR) {
        if (net_tls_is_tls(raw->bev) && raw->state == ORIGIN_RAW_PRE)
            log_info("origin: %s: TLS: %s", raw->peer, net_tls_error(raw->bev));
        origin_raw_free(raw, "connection error");
    }
}

/* One timer per raw connection: deadlines, and polling the flush in FLUSH. */
static void
origin_raw_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct origin_raw *raw = arg;
    struct bufferevent *under = bufferevent_get_underlying(raw->bev);
    int64_t now = origin_now_ms();
    int sock;

    (void)fd;
    (void)what;
    switch (raw->state) {
    case ORIGIN_RAW_PRE:
        origin_raw_free(raw, "request head timeout");
        return;
    case ORIGIN_RAW_SEND:
        if (now < raw->deadline_ms) {
            origin_timer_add_ms(raw->timer, raw->deadline_ms - now);
            return;
        }
        origin_raw_free(raw, "request timeout");
        return;
    case ORIGIN_RAW_FLUSH:
        if (now >= raw->deadline_ms) {
            origin_raw_free(raw, "send timeout");
            return;
        }
        if (origin_raw_out_len(raw) > 0) {
            origin_timer_add_ms(raw->timer, ORIGIN_POLL_MS);
            return;
        }
        if (under != NULL && !raw->notified) {
            raw->notified = true;
            bufferevent_flush(raw->bev, EV_WRITE, BEV_FINISHED);
        }
        if (under != NULL && evbuffer_get_length(bufferevent_get_output(under)) > 0) {
            origin_timer_add_ms(raw->timer, ORIGIN_POLL_MS);
            return;
        }
        sock = (int)bufferevent_getfd(under != NULL ? under : raw->bev);
        if (sock >= 0)
            shutdown(sock, SHUT_WR);
        raw->state = ORIGIN_RAW_LINGER;
        raw->deadline_ms = now + ORIGIN_LINGER_MS;
        bufferevent_enable(raw->bev, EV_READ);
        origin_timer_add_ms(raw->timer, ORIGIN_LINGER_MS);
        return;
    case ORIGIN_RAW_LINGER:
        origin_raw_free(raw, "linger done");
        return;
    }
}

static void
origin_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct origin *o = arg;
    struct origin_raw *raw;
    struct bufferevent *bev;
    char addr[64];

    net_addr_format(peer, peerlen, addr, sizeof(addr));
    bev = bufferevent_socket_new(o->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        close(fd);
        return;
    }
    if (o->tls != NULL && (bev = net_tls_wrap(o->tls, bev, NULL)) == NULL)
        return;
    raw = xcalloc(1, sizeof(*raw));
    raw->o = o;
    raw->bev = bev;
    snprintf(raw->peer, sizeof(raw->peer), "%s", addr);
    raw->timer = evtimer_new(o->base, origin_raw_timer_cb, raw);
    net_http_parser_init(&raw->parser, NET_HTTP_REQUEST, NULL);
    LIST_INSERT_HEAD(&o->raws, raw, entry);
    bufferevent_setcb(bev, origin_raw_read_cb, origin_raw_write_cb, origin_raw_event_cb, raw);
    bufferevent_setwatermark(bev, EV_READ, 0, NET_HTTP_DEFAULT_MAX_HEAD_BYTES + 16384);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    origin_timer_add_ms(raw->timer, ORIGIN_HEAD_MS);
}

/* -------------------------------------------------------------------------------------- */
/* Lifecycle. */

static void
origin_write_stats_file(struct origin *o)
{
    struct df_error err;
    cJSON *doc;

    if (o->cfg.stats_file == NULL)
        return;
    doc = origin_stats_json(o);
    if (df_proc_write_ready_file(o->cfg.stats_file, doc, &err) != 0)
        log_warnx("origin: stats file: %s", err.msg);
    cJSON_Delete(doc);
}

static void
origin_stop_cb(void *arg)
{
    struct origin *o = arg;

    log_info("origin: stopping: %" PRIu64 " requests, %" PRIu64 " body bytes", o->requests,
             o->bytes);
    net_listener_disable(o->listener);
    origin_write_stats_file(o);
    while (!LIST_EMPTY(&o->raws))
        origin_raw_free(LIST_FIRST(&o->raws), "stopping");
    DF_FREE(o->srv, net_http_server_free); /* close callbacks free the responses */
    event_base_loopexit(o->base, NULL);
}

static int
origin_serve(struct origin *o)
{
    struct net_http_server_opts opts = {0};
    struct net_tls_opts topts = {0};
    struct df_error err;
    cJSON *ready = NULL;
    struct origin_target *t;
    int rv;

    o->root_fd = -1;
    TAILQ_INIT(&o->targets);
    LIST_INIT(&o->raws);
    LIST_INIT(&o->resps);
    o->base = event_base_new();
    if (o->base == NULL) {
        rv = DF_ENOMEM;
        goto out;
    }
    if (o->cfg.root != NULL &&
        (o->root_fd = open(o->cfg.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
        log_error("origin: --root %s: %s", o->cfg.root, strerror(errno));
        rv = DF_EINVAL;
        goto out;
    }
    if ((o->cfg.tls_cert != NULL) != (o->cfg.tls_key != NULL)) {
        log_error("origin: --tls-cert and --tls-key go together");
        rv = DF_EINVAL;
        goto out;
    }
    if (o->cfg.tls_cert != NULL) {
        topts.cert_file = o->cfg.tls_cert;
        topts.key_file = o->cfg.tls_key;
        if ((rv = net_tls_ctx_new(true, &topts, &o->tls, &err)) != 0) {
            log_error("origin: %s", err.msg);
            goto out;
        }
    }
    opts.name = "origin";
    opts.request_timeout_ms = (int)o->cfg.request_timeout_ms;
    opts.max_requests = (unsigned)o->cfg.max_requests;
    opts.out_high_water = ORIGIN_HIGH_WATER;
    if ((rv = net_http_server_new(o->base, &opts, origin_http_cb, o, &o->srv)) != 0)
        goto out;
    if ((rv = net_listener_new(o->base, o->cfg.listen, 0, origin_accept_cb, o, &o->listener,
                               &err)) != 0) {
        log_error("origin: %s", err.msg);
        goto out;
    }
    snprintf(o->addr, sizeof(o->addr), "%s", net_listener_addr(o->listener));
    if ((o->sig = df_proc_signals_new(o->base, origin_stop_cb, NULL, o)) == NULL) {
        rv = DF_ENOMEM;
        goto out;
    }
    if (o->cfg.ready_file != NULL) {
        ready = cJSON_CreateObject();
        cJSON_AddStringToObject(ready, "http", o->addr);
        cJSON_AddStringToObject(ready, "scheme", o->tls != NULL ? "https" : "http");
        cJSON_AddNumberToObject(ready, "pid", (double)getpid());
        if ((rv = df_proc_write_ready_file(o->cfg.ready_file, ready, &err)) != 0) {
            log_error("origin: %s", err.msg);
            goto out;
        }
    }
    log_info("origin: listening on %s://%s", o->tls != NULL ? "https" : "http", o->addr);
    event_base_dispatch(o->base);
    rv = 0;
out:
    cJSON_Delete(ready);
    while (!LIST_EMPTY(&o->raws))
        origin_raw_free(LIST_FIRST(&o->raws), "exit");
    net_http_server_free(o->srv);
    net_listener_free(o->listener);
    df_proc_signals_free(o->sig);
    net_tls_ctx_free(o->tls);
    while ((t = TAILQ_FIRST(&o->targets)) != NULL) {
        TAILQ_REMOVE(&o->targets, t, entry);
        free(t->key);
        free(t);
    }
    if (o->root_fd != -1)
        close(o->root_fd);
    if (o->base != NULL)
        event_base_free(o->base);
    return rv;
}

int
main(int argc, char **argv)
{
    struct origin *o = xcalloc(1, sizeof(*o));
    struct df_conf_args args = {0};
    struct df_error err;
    int rv;

    if (df_conf_load(&origin_spec, &o->cfg, argc, argv, &args, &err) != 0) {
        fprintf(stderr, "origin: %s\n", err.msg);
        rv = 2;
        goto out;
    }
    if (args.help) {
        df_conf_usage(&origin_spec, stdout);
        rv = 0;
        goto out;
    }
    log_init("origin", (enum log_level)o->cfg.log_level, LOG_FORMAT_TEXT);
    if (o->cfg.gen != NULL)
        rv = origin_gen_main(&o->cfg);
    else
        rv = origin_serve(o) == 0 ? 0 : 1;
out:
    df_conf_reset(&origin_spec, &o->cfg);
    df_conf_args_reset(&args);
    free(o);
    return rv;
}
