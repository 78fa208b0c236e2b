/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy listener as a registry mirror and a forward proxy. A request is classified once:
 * an origin-form "/v2/..." target goes to the upstream peer_proxy_rule_upstream picks, an
 * absolute-form one ("http://host/path", HTTP_PROXY) to the host it names, CONNECT to
 * peer_proxy_connect.c (a tunnel, or interception whose inner requests come back to
 * peer_proxy_route_url with the intercepted host as upstream). Then a GET whose URL a rule
 * matches (or that carries X-Dragonfly-Use-P2P: true) is first checked with a HEAD
 * carrying the client's credentials (the registry decides who may read a blob, never the
 * cache; its 200 is remembered briefly per blob and credentials, peer_proxy_auth.h), then
 * served from a P2P task (peer_proxy_stream.c). Everything else passes through
 * to the upstream, status and headers as the registry sent them.
 */
#include "peer_proxy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "df/df_b64.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_fetch.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"
#include "df/net_ratelim.h"
#include "df/net_route.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_p2p.h"
#include "peer_proxy_int.h"
#include "peer_proxy_rule.h"
#include "peer_task.h"

#define PEER_PROXY_MAX_HEADERS 64          /* client headers passed upstream */
#define PEER_PROXY_BODY_MAX    (64 * 1024) /* request bodies are never forwarded */
#define PEER_PROXY_OUT_HIGH    (1u << 20)  /* response bytes queued per connection */

struct peer_proxy_pass;

/*
 * A request answered from the upstream (a pass-through), or a P2P candidate checked there
 * with a HEAD first. A pass-through starts the client's response on the upstream's head and
 * ends with the upstream's body; a check ends in a stream (HEAD answered 200) or a
 * pass-through GET (any other answer, which the client then sees as the registry gave it).
 * Freed on the upstream's end or the client's close, whichever comes first.
 */
struct peer_proxy_pass {
    TAILQ_ENTRY(peer_proxy_pass) entry;
    struct peer_proxy *px;
    struct net_http_req *req;
    struct net_fetch *fetch;
    char *url;
    struct peer_download_req dreq; /* a check: the P2P task to open */
    bool check;
    bool insecure; /* the upstream's TLS certificate is not verified */
    bool started;  /* the response to the client started */
    int status;    /* a check: the HEAD's status and headers */
    struct net_http_header *head;
    size_t nhead;
    uint8_t check_key[PEER_PROXY_AUTH_KEY_LEN]; /* a check: its key in px->checked */
};

/* A registry's 200 to a check: the headers of its answer, sent with the content. */
struct peer_proxy_checked {
    struct net_http_header *head;
    size_t nhead;
};

/* Response headers of the upstream that describe the hop, not the content. */
static bool
peer_proxy_header_is_hop(const char *name)
{
    static const char *const hop[] = {
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "content-length",
            "date",
            "proxy-authenticate",
    };

    for (size_t i = 0; i < DF_NELEM(hop); i++) {
        if (strcasecmp(name, hop[i]) == 0)
            return true;
    }
    return false;
}

/* Client headers that stay here: hop-by-hop ones, ours, and what the fetch sets itself. */
static bool
peer_proxy_header_is_local(const char *name)
{
    return peer_req_header_is_reserved(name) || strncasecmp(name, "x-dragonfly-", 12) == 0 ||
           strcasecmp(name, "user-agent") == 0 || strcasecmp(name, "range") == 0;
}

void
peer_proxy_headers_free(struct net_http_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)(uintptr_t)h[i].name);
        free((char *)(uintptr_t)h[i].value);
    }
    free(h);
}

/* Copies of the fields of h that pass is_skipped (NULL: all), in order. */
static struct net_http_header *
peer_proxy_headers_dup(const struct net_http_header *h, size_t n, bool (*is_skipped)(const char *),
                       size_t max, size_t *out_n)
{
    struct net_http_header *out = n > 0 ? xcalloc(n, sizeof(*out)) : NULL;
    size_t k = 0;

    for (size_t i = 0; i < n && k < max; i++) {
        if (is_skipped != NULL && is_skipped(h[i].name))
            continue;
        out[k].name = xstrdup(h[i].name);
        out[k++].value = xstrdup(h[i].value);
    }
    *out_n = k;
    return out;
}

static void
peer_proxy_checked_free(void *arg)
{
    struct peer_proxy_checked *c = arg;

    peer_proxy_headers_free(c->head, c->nhead);
    free(c);
}

void
peer_proxy_error(struct peer_proxy *px, struct net_http_req *req, int status, const char *type,
                 const char *msg)
{
    char body[600];
    int n = snprintf(body, sizeof(body), "%s\n", msg);

    px->ctx->proxy_errors++;
    log_warnx("%s proxy: %s %s: %d %s", PEER_TAG(px->ctx), net_http_req_method(req),
              net_http_req_head(req)->target, status, msg);
    net_http_req_add_header(req, "X-Dragonfly-Error-Type", type);
    net_http_req_respond(req, status, "text/plain", body,
                         n > 0 && (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

/* ---- pass-through (and the HEAD check before a P2P task) */

static void
peer_proxy_pass_free(struct peer_proxy_pass *p)
{
    if (p->fetch != NULL)
        net_fetch_cancel(p->fetch);
    TAILQ_REMOVE(&p->px->passes, p, entry);
    peer_download_req_reset(&p->dreq);
    peer_proxy_headers_free(p->head, p->nhead);
    free(p->url);
    free(p);
}

static void
peer_proxy_pass_close_cb(struct net_http_req *req, int reason, void *arg)
{
    (void)req;
    (void)reason;
    peer_proxy_pass_free(arg);
}

static void
peer_proxy_pass_more_cb(struct net_http_req *req, void *arg)
{
    struct peer_proxy_pass *p = arg;

    (void)req;
    if (p->fetch != NULL)
        net_fetch_resume(p->fetch);
}

static int
peer_proxy_pass_head_cb(struct net_fetch *f, const struct net_fetch_meta *m, void *arg)
{
    struct peer_proxy_pass *p = arg;
    const struct net_http_head *h = m->head;

    (void)f;
    if (p->check) {
        p->status = m->status;
        p->head = peer_proxy_headers_dup(h->headers, h->nheaders, peer_proxy_header_is_hop,
                                         h->nheaders, &p->nhead);
        return 0;
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        if (!peer_proxy_header_is_hop(h->headers[i].name))
            net_http_req_add_header(p->req, h->headers[i].name, h->headers[i].value);
    }
    if (net_http_req_start(p->req, m->status, NULL, m->has_length ? (int64_t)m->length : -1,
                           peer_proxy_pass_more_cb, p) != 0)
        return DF_EINVAL;
    p->started = true;
    return 0;
}

static int
peer_proxy_pass_data_cb(struct net_fetch *f, struct evbuffer *data, void *arg)
{
    struct peer_proxy_pass *p = arg;
    int rv;

    if (!p->started) {
        evbuffer_drain(data, evbuffer_get_length(data)); /* a check's HEAD has none */
        return 0;
    }
    /* A write past the announced length closes the connection at once: its close callback
     * must not free p (and cancel this fetch) from inside the fetch's own callback. */
    p->px->ctx->proxy_pass_bytes += evbuffer_get_length(data);
    net_http_req_on_close(p->req, NULL, NULL);
    if ((rv = net_http_req_write_buffer(p->req, data)) != 0) {
        /* The response was aborted (the upstream sent more than it announced): req is gone.
         * The fetch ends now, and its end callback frees p. */
        p->started = false;
        p->req = NULL;
        return rv;
    }
    net_http_req_on_close(p->req, peer_proxy_pass_close_cb, p);
    if (net_http_req_is_congested(p->req))
        net_fetch_pause(f);
    return 0;
}

static int peer_proxy_pass_start(struct peer_proxy *px, struct net_http_req *req, const char *url,
                                 bool insecure, struct peer_download_req *dreq);

static void
peer_proxy_pass_end_cb(struct net_fetch *f, int rv, const char *why, uint64_t retry_after_ms,
                       void *arg)
{
    struct peer_proxy_pass *p = arg;
    struct peer_proxy *px = p->px;
    struct net_http_req *req = p->req;
    struct peer_download_req dreq;
    struct peer_proxy_checked *c;
    struct net_http_header *head;
    size_t nhead;
    char msg[600];

    (void)f;
    (void)retry_after_ms;
    p->fetch = NULL; /* freed by the fetch after this call */
    if (req == NULL) {
        peer_proxy_pass_free(p);
        return;
    }
    net_http_req_on_close(req, NULL, NULL);
    if (p->check && rv == 0) {
        dreq = p->dreq;
        memset(&p->dreq, 0, sizeof(p->dreq));
        head = p->head;
        nhead = p->nhead;
        p->head = NULL;
        p->nhead = 0;
        if (p->status == 200) {
            /* only a 200 is remembered: a refusal is asked again next time */
            c = xcalloc(1, sizeof(*c));
            c->head = peer_proxy_headers_dup(head, nhead, NULL, nhead, &c->nhead);
            peer_proxy_auth_cache_put(&px->checked, p->check_key, c);
            peer_proxy_pass_free(p);
            peer_proxy_stream_open(px, req, &dreq, head, nhead);
            return;
        }
        /* Not readable as such (401, 404, a redirect not followed): the client gets the
         * registry's own answer to its GET. */
        peer_proxy_headers_free(head, nhead);
        if (peer_proxy_pass_start(px, req, p->url, p->insecure, NULL) != 0)
            peer_proxy_error(px, req, 500, "proxy", "cannot start the upstream request");
        peer_download_req_reset(&dreq);
        peer_proxy_pass_free(p);
        return;
    }
    if (rv == 0) {
        px->ctx->proxy_pass++;
        net_http_req_end(req, 0);
    } else if (p->started) {
        log_warnx("%s proxy: %s: %s", PEER_TAG(px->ctx), p->url, why);
        px->ctx->proxy_errors++;
        net_http_req_end(req, rv);
    } else {
        snprintf(msg, sizeof(msg), "upstream: %s", why != NULL ? why : df_strerror(rv));
        peer_proxy_error(px, req, 502, "backend", msg);
    }
    peer_proxy_pass_free(p);
}

/*
 * Ask url upstream for req: a HEAD with the client's headers when dreq (borrowed) is a P2P
 * candidate, else the client's own request passed through. 0, or DF_E* (nothing started).
 */
static int
peer_proxy_pass_start(struct peer_proxy *px, struct net_http_req *req, const char *url,
                      bool insecure, struct peer_download_req *dreq)
{
    static const struct net_fetch_cbs cbs = {peer_proxy_pass_head_cb, peer_proxy_pass_data_cb,
                                             peer_proxy_pass_end_cb};
    const struct net_http_head *h = net_http_req_head(req);
    struct peer_proxy_pass *p = xcalloc(1, sizeof(*p));
    struct net_fetch_req fr;
    struct df_error err;
    int rv;

    p->px = px;
    p->req = req;
    p->url = xstrdup(url);
    p->insecure = insecure;
    TAILQ_INSERT_TAIL(&px->passes, p, entry);
    memset(&fr, 0, sizeof(fr));
    fr.url = url;
    fr.any_status = true;
    fr.insecure = insecure;
    fr.policy = px->ctx->src_policy;
    if (dreq != NULL && dreq->url != NULL) {
        p->check = true;
        p->dreq = *dreq;
        memset(dreq, 0, sizeof(*dreq));
        fr.method = "HEAD";
        fr.url = p->dreq.url; /* the URL the task will fetch (a rule's useTLS, redirect) */
        fr.headers = p->dreq.headers;
        fr.nheaders = p->dreq.nheaders;
        peer_proxy_auth_key(p->dreq.url, p->dreq.headers, p->dreq.nheaders, p->check_key);
    } else {
        p->head = peer_proxy_headers_dup(h->headers, h->nheaders, peer_proxy_header_is_local,
                                         PEER_PROXY_MAX_HEADERS, &p->nhead);
        fr.method = net_http_req_method(req);
        fr.headers = p->head;
        fr.nheaders = p->nhead;
    }
    if ((rv = net_fetch_start(&px->ctx->src_env, &fr, &cbs, p, &p->fetch, &err)) != 0) {
        log_warnx("%s proxy: %s: %s", PEER_TAG(px->ctx), url, err.msg);
        if (p->check && dreq != NULL) { /* the caller's request back, as it was */
            *dreq = p->dreq;
            memset(&p->dreq, 0, sizeof(p->dreq));
        }
        p->fetch = NULL;
        peer_proxy_pass_free(p);
        return rv;
    }
    if (p->check) {
        px->ctx->proxy_checks++;
        /* The headers of a check's answer are what it keeps. */
        peer_proxy_headers_free(p->head, p->nhead);
        p->head = NULL;
        p->nhead = 0;
    }
    net_http_req_on_close(req, peer_proxy_pass_close_cb, p);
    return 0;
}

/* ---- requests */

int
peer_proxy_priority(struct net_http_req *req)
{
    const char *v = net_http_req_header(req, "X-Dragonfly-Priority");

    if (v != NULL && v[0] >= '0' && v[0] <= '6' && v[1] == '\0')
        return v[0] - '0';
    return PEER_PROXY_PRIORITY_DEFAULT;
}

/*
 * The P2P request for url: the client's headers, tag, application, filters (the header's,
 * else the rule's); its digest; its priority. The scheduler decides what the priority means
 * for a task's first download (dragonfly.md 3.5, src/scheduler/sched_prio.c): LEVEL1
 * forbidden (403), LEVEL2 no candidate (404), LEVEL3 this peer from the origin. A peer
 * without a scheduler applies LEVEL1 and LEVEL2 itself (peer_p2p_prioritize):
 * only what it holds or is fetching is served (LEVEL3 changes nothing: it fetches alone).
 */
static int
peer_proxy_dreq(struct peer_proxy *px, struct net_http_req *req, const char *url, bool insecure,
                const struct peer_proxy_rule *rule, struct peer_download_req *out,
                struct df_error *err)
{
    const struct net_http_head *h = net_http_req_head(req);
    const char *v;
    char *filtered;
    size_t len;
    int rv;

    memset(out, 0, sizeof(*out));
    out->url = xstrdup(url);
    if ((v = net_http_req_header(req, "X-Dragonfly-Tag")) != NULL)
        out->tag = xstrdup(v);
    if ((v = net_http_req_header(req, "X-Dragonfly-Application")) != NULL)
        out->application = xstrdup(v);
    /* containerd's ns= names the registry, not the content; the header's list is comma-
     * separated (the manager's is '&'-separated). */
    if ((v = net_http_req_header(req, "X-Dragonfly-Filtered-Query-Params")) != NULL) {
        /* "x, y": each name trimmed (upstream's header.rs), empty ones dropped */
        filtered = xmalloc(strlen(v) + 4); /* "ns", a '&' more than commas, NUL */
        strcpy(filtered, "ns");
        for (const char *c = v, *e; *c != '\0'; c = *e == ',' ? e + 1 : e) {
            c += strspn(c, " \t");
            e = c + strcspn(c, ",");
            for (len = (size_t)(e - c); len > 0 && (c[len - 1] == ' ' || c[len - 1] == '\t');)
                len--;
            if (len > 0)
                snprintf(filtered + strlen(filtered), len + 2, "&%s", c);
        }
        out->filtered = filtered;
    } else if (rule != NULL && rule->filtered != NULL) {
        out->filtered = xasprintf("ns%s%s", rule->filtered[0] != '\0' ? "&" : "", rule->filtered);
    } else {
        out->filtered = xstrdup("ns");
    }
    out->headers = peer_proxy_headers_dup(h->headers, h->nheaders, peer_proxy_header_is_local,
                                          PEER_PROXY_MAX_HEADERS, &out->nheaders);
    out->insecure = insecure;
    out->policy = px->ctx->src_policy;
    out->priority = (uint32_t)peer_proxy_priority(req);
    peer_p2p_prioritize(px->ctx, out);
    if ((rv = peer_req_blob_digest(out, err)) != 0) {
        peer_download_req_reset(out);
        return rv;
    }
    return 0;
}

/* A GET that a rule (*rule, NULL for none) or X-Dragonfly-Use-P2P: true sends to P2P? */
static bool
peer_proxy_wants_p2p(struct peer_proxy *px, struct net_http_req *req, const char *bare,
                     const struct peer_proxy_rule **rule)
{
    const char *v = net_http_req_header(req, "X-Dragonfly-Use-P2P");

    *rule = NULL;
    if (strcmp(net_http_req_method(req), "GET") != 0)
        return false;
    *rule = peer_proxy_rule_set_match(px->rules, bare);
    return *rule != NULL || (v != NULL && strcasecmp(v, "true") == 0);
}

/*
 * Serve the P2P request dreq (taken on success) at once when the registry accepted these
 * credentials for this blob less than proxy.registryAuthCacheTTL ago: true, req answered.
 * False: nothing remembered, dreq untouched.
 */
static bool
peer_proxy_checked_open(struct peer_proxy *px, struct net_http_req *req,
                        struct peer_download_req *dreq)
{
    uint8_t key[PEER_PROXY_AUTH_KEY_LEN];
    const struct peer_proxy_checked *c;
    struct net_http_header *head;
    size_t nhead;

    peer_proxy_auth_key(dreq->url, dreq->headers, dreq->nheaders, key);
    if ((c = peer_proxy_auth_cache_get(&px->checked, key)) == NULL)
        return false;
    px->ctx->proxy_check_hits++;
    head = peer_proxy_headers_dup(c->head, c->nhead, NULL, c->nhead, &nhead);
    peer_proxy_stream_open(px, req, dreq, head, nhead);
    return true;
}

void
peer_proxy_route_url(struct peer_proxy *px, struct net_http_req *req, const char *upstream,
                     const char *path, const char *query, bool insecure)
{
    char *url = NULL, *bare = NULL, *p2p_url = NULL;
    const struct peer_proxy_rule *rule;
    struct peer_download_req dreq;
    struct df_error err;

    memset(&dreq, 0, sizeof(dreq));
    if (peer_proxy_rule_url_new(upstream, path, query, &url, &bare, &err) != 0) {
        peer_proxy_error(px, req, 400, "proxy", err.msg);
        return;
    }
    /* a P2P task fetches the URL the rule makes (useTLS, redirect); its HEAD check too */
    if (peer_proxy_wants_p2p(px, req, bare, &rule) &&
        ((rule != NULL && peer_proxy_rule_apply(rule, url, &p2p_url, &err) != 0) ||
         peer_proxy_dreq(px, req, p2p_url != NULL ? p2p_url : url, insecure, rule, &dreq, &err) !=
                 0)) {
        peer_proxy_error(px, req, 400, "proxy", err.msg);
        goto out;
    }
    if (dreq.url != NULL && peer_proxy_checked_open(px, req, &dreq))
        goto out;
    if (peer_proxy_pass_start(px, req, url, insecure, &dreq) != 0)
        peer_proxy_error(px, req, 502, "backend", "cannot start the upstream request");
out:
    peer_download_req_reset(&dreq);
    free(p2p_url);
    free(url);
    free(bare);
}

/* A mirror request (GET or HEAD of /v2 or /v2/...): to P2P or passed through. */
static void
peer_proxy_mirror_route(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    struct peer_proxy *px = arg;
    struct peer *ctx = px->ctx;
    const char *rest = net_route_param(m, "rest");
    char *path = NULL, *upstream = NULL;
    struct df_error err;

    path = rest != NULL ? xasprintf("/v2/%s", rest) : xstrdup("/v2");
    if (peer_proxy_rule_upstream(net_http_req_header(req, "X-Dragonfly-Registry"),
                                 net_http_req_query(req), &ctx->cfg.proxy_registries,
                                 ctx->cfg.proxy_mirror, &upstream, &err) != 0)
        peer_proxy_error(px, req, 400, "proxy", err.msg);
    else
        peer_proxy_route_url(px, req, upstream, path, net_http_req_query(req),
                             ctx->cfg.proxy_mirror_insecure);
    free(path);
    free(upstream);
}

/*
 * An absolute-form request ("http://host[:port]/path", a client with HTTP_PROXY): GET and
 * HEAD go to the host it names under the same rules. A request body is never forwarded, so
 * other methods are refused.
 */
static void
peer_proxy_forward(struct peer_proxy *px, struct net_http_req *req, const struct net_http_target *t)
{
    const char *method = net_http_req_method(req), *q;
    char *upstream, *path;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        net_http_req_add_header(req, "Allow", "GET, HEAD, CONNECT");
        peer_proxy_error(px, req, 405, "proxy",
                         "the forward proxy takes GET and HEAD (bodies are not forwarded)");
        return;
    }
    /* the default port left out, so that the task's URL is the one a mirror request makes */
    if (t->port_given)
        upstream = xasprintf(t->host_is_ipv6 ? "%s://[%s]:%u" : "%s://%s:%u", t->scheme, t->host,
                             (unsigned)t->port);
    else
        upstream = xasprintf(t->host_is_ipv6 ? "%s://[%s]" : "%s://%s", t->scheme, t->host);
    q = strchr(t->path, '?');
    path = q != NULL ? xstrndup(t->path, (size_t)(q - t->path)) : xstrdup(t->path);
    peer_proxy_route_url(px, req, upstream, path, q != NULL ? q + 1 : NULL,
                         px->ctx->cfg.proxy_mirror_insecure);
    free(path);
    free(upstream);
}

static void
peer_proxy_not_found_route(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    (void)m;
    peer_proxy_error(arg, req, 404, "proxy", "not a registry API path (/v2/...)");
}

static void
peer_proxy_read_only_route(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    (void)m;
    net_http_req_add_header(req, "Allow", "GET, HEAD");
    peer_proxy_error(arg, req, 405, "proxy", "the mirror is read-only (GET and HEAD)");
}

/* GET routes answer HEAD too; other methods get 405 from net_route. */
static const struct net_route peer_proxy_routes[] = {
        {"GET", "/v2", peer_proxy_mirror_route},
        {"GET", "/v2/*rest", peer_proxy_mirror_route},
        {"GET", "/*rest", peer_proxy_not_found_route},
        {"POST", "/v2/*rest", peer_proxy_read_only_route},
        {"PUT", "/v2/*rest", peer_proxy_read_only_route},
        {"PATCH", "/v2/*rest", peer_proxy_read_only_route},
        {"DELETE", "/v2/*rest", peer_proxy_read_only_route},
};

/* Over proxy.requestRateLimit: 429, logged at most once a second. */
bool
peer_proxy_is_over_rate(struct peer_proxy *px, struct net_http_req *req)
{
    uint64_t left_out;

    if (net_ratelim_try(&px->rl, 1, df_time_mono_ns()))
        return false;
    px->ctx->proxy_errors++;
    if (net_ratelim_log_allow(&px->rl_log, df_time_mono_ns() / 1000000u, 1000, &left_out))
        log_warnx("%s proxy: over %" PRId64 " requests/s: 429 (%" PRIu64 " similar not logged)",
                  PEER_TAG(px->ctx), px->ctx->cfg.proxy_rate, left_out);
    net_http_req_add_header(req, "X-Dragonfly-Error-Type", "proxy");
    net_http_req_respond(req, 429, "text/plain", "too many requests\n", 18);
    return true;
}

/*
 * proxy.basicAuth: does req carry the credentials? The comparison takes the same time
 * wherever the token differs, so that it cannot be guessed byte by byte.
 */
static bool
peer_proxy_is_authorized(const struct peer_proxy *px, struct net_http_req *req)
{
    const char *v = net_http_req_header(req, "Proxy-Authorization");
    size_t n, want;
    unsigned diff = 0;

    if (px->auth == NULL)
        return true;
    if (v == NULL || strncasecmp(v, "Basic ", 6) != 0)
        return false;
    for (v += 6; *v == ' '; v++)
        ;
    n = strlen(v);
    want = strlen(px->auth);
    for (size_t i = 0; i < want; i++)
        diff |= (unsigned)(i < n ? (unsigned char)v[i] : 0) ^ (unsigned char)px->auth[i];
    return diff == 0 && n == want;
}

static void
peer_proxy_handler(struct net_http_req *req, void *arg)
{
    struct peer_proxy *px = arg;
    struct net_http_target target;

    if (peer_proxy_is_over_rate(px, req))
        return;
    if (!peer_proxy_is_authorized(px, req)) {
        net_http_req_add_header(req, "Proxy-Authenticate", "Basic realm=\"dragonfly\"");
        peer_proxy_error(px, req, 407, "proxy", "proxy authentication required");
        return;
    }
    if (strcmp(net_http_req_method(req), "CONNECT") == 0)
        peer_proxy_connect(px, req);
    else if (net_http_req_target(req, &target) == 0)
        peer_proxy_forward(px, req, &target);
    else
        net_route_dispatch(req, peer_proxy_routes, DF_NELEM(peer_proxy_routes), arg);
}

/* ---- lifecycle */

static int
peer_proxy_listen_addr(const struct peer_config *cfg, const char *bind_host, char *buf, size_t size,
                       struct df_error *err)
{
    const char *l = cfg->proxy_listen;
    int64_t port = cfg->seed ? PEER_PROXY_SEED_PORT : PEER_PROXY_PORT;
    char *end;
    long v;

    if (l != NULL && l[0] != '\0' && strchr(l, ':') == NULL) {
        v = strtol(l, &end, 10);
        if (*end != '\0' || v < 0 || v > 65535)
            return df_error_set(err, DF_EINVAL,
                                "proxy.listen: expected \"off\", a port or ip:port, got \"%s\"", l);
        port = v;
    } else if (l != NULL && l[0] != '\0') {
        snprintf(buf, size, "%s", l);
        return 0;
    }
    snprintf(buf, size, strchr(bind_host, ':') != NULL ? "[%s]:%" PRId64 : "%s:%" PRId64, bind_host,
             port);
    return 0;
}

static void
peer_proxy_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct peer_proxy *px = arg;

    net_http_server_accept_cb(fd, peer, peerlen, px->srv);
}

int
peer_proxy_config_check(const struct peer_config *cfg, struct df_error *err)
{
    struct peer_proxy_rule_set *rules = NULL;
    char addr[300], *probe = NULL;
    int rv;

    if (cfg->proxy_listen != NULL && strcmp(cfg->proxy_listen, "off") == 0)
        return 0;
    if ((rv = peer_proxy_listen_addr(cfg, "", addr, sizeof(addr), err)) != 0)
        return rv;
    if (cfg->proxy_mirror != NULL && cfg->proxy_mirror[0] != '\0') {
        if ((rv = peer_proxy_rule_upstream(NULL, NULL, NULL, cfg->proxy_mirror, &probe, err)) != 0)
            return rv;
        free(probe);
    }
    if ((rv = peer_proxy_rule_registries_check(&cfg->proxy_registries, err)) != 0 ||
        (rv = peer_proxy_rule_set_new(&cfg->proxy_rules, &rules, err)) != 0)
        return rv;
    peer_proxy_rule_set_free(rules);
    if ((cfg->proxy_auth_user != NULL && cfg->proxy_auth_user[0] != '\0') !=
        (cfg->proxy_auth_password != NULL && cfg->proxy_auth_password[0] != '\0'))
        return df_error_set(err, DF_EINVAL, "proxy.basicAuth: username and password go together");
    if (cfg->proxy_auth_user != NULL && strchr(cfg->proxy_auth_user, ':') != NULL)
        return df_error_set(err, DF_EINVAL, "proxy.basicAuth.username: may not contain ':'");
    if (cfg->proxy_hijack_hosts.n == 0)
        return 0;
    if (cfg->proxy_hijack_cert == NULL || cfg->proxy_hijack_cert[0] == '\0' ||
        cfg->proxy_hijack_key == NULL || cfg->proxy_hijack_key[0] == '\0')
        return df_error_set(err, DF_EINVAL,
                            "proxy.hijackHTTPS.hosts needs proxy.hijackHTTPS.cert and key (a CA "
                            "clients trust: dragonfly cert ca)");
    if ((rv = peer_proxy_rule_set_new_for("proxy.hijackHTTPS.hosts", &cfg->proxy_hijack_hosts,
                                          &rules, err)) != 0)
        return rv;
    peer_proxy_rule_set_free(rules);
    return 0;
}

int
peer_proxy_start(struct peer *ctx, const char *bind_host, struct df_error *err)
{
    struct net_http_server_opts opts;
    struct peer_proxy *px;
    char addr[300];
    int rv;

    if (ctx->cfg.proxy_listen != NULL && strcmp(ctx->cfg.proxy_listen, "off") == 0)
        return 0;
    if ((rv = peer_proxy_config_check(&ctx->cfg, err)) != 0 ||
        (rv = peer_proxy_listen_addr(&ctx->cfg, bind_host, addr, sizeof(addr), err)) != 0)
        return rv;
    px = xcalloc(1, sizeof(*px));
    px->ctx = ctx;
    TAILQ_INIT(&px->streams);
    TAILQ_INIT(&px->passes);
    TAILQ_INIT(&px->tunnels);
    TAILQ_INIT(&px->verified_order);
    df_map_init(&px->verified, PEER_PROXY_VERIFIED_MAX);
    peer_proxy_auth_cache_init(&px->checked, PEER_PROXY_AUTH_MAX, (uint64_t)ctx->cfg.proxy_auth_ttl,
                               df_time_mono_ms, peer_proxy_checked_free);
    ctx->proxy = px;
    net_ratelim_init(&px->rl, (uint64_t)ctx->cfg.proxy_rate, 0, df_time_mono_ns());
    if (ctx->cfg.proxy_auth_user != NULL && ctx->cfg.proxy_auth_user[0] != '\0') {
        char *pair = xasprintf("%s:%s", ctx->cfg.proxy_auth_user, ctx->cfg.proxy_auth_password);

        px->auth = xmalloc(df_b64_encoded_size(strlen(pair)));
        df_b64_encode((const uint8_t *)pair, strlen(pair), px->auth);
        free(pair);
    }
    if ((rv = peer_proxy_rule_set_new(&ctx->cfg.proxy_rules, &px->rules, err)) != 0)
        return rv;
    memset(&opts, 0, sizeof(opts));
    opts.name = "proxy";
    opts.max_body = PEER_PROXY_BODY_MAX;
    opts.request_timeout_ms = 3600 * 1000; /* a layer of gigabytes over a slow swarm */
    /* a layer goes out in 1 MiB slices, a quarter of the wakeups of the server's default
     * 256 KiB; more would buy little and cost up to 1024 connections times as much memory */
    opts.out_high_water = PEER_PROXY_OUT_HIGH;
    if ((rv = net_http_server_new(ctx->base, &opts, peer_proxy_handler, px, &px->srv)) != 0)
        return df_error_set(err, rv, "proxy server: %s", df_strerror(rv));
    if ((rv = peer_proxy_hijack_start(px, err)) != 0)
        return rv;
    px->task_listener.ev = &peer_proxy_stream_events;
    px->task_listener.arg = px;
    peer_task_listen(ctx, &px->task_listener);
    return net_listener_new(ctx->base, addr, 0, peer_proxy_accept_cb, px, &px->listener, err);
}

void
peer_proxy_stop(struct peer *ctx)
{
    struct peer_proxy *px = ctx->proxy;
    struct peer_proxy_pass *p;

    if (px == NULL)
        return;
    net_listener_free(px->listener);
    /* Closing the connections runs the close callbacks: streams and passes free themselves,
     * but for a pass whose response was aborted, which waits for its fetch to end. */
    net_http_server_free(px->srv);
    peer_proxy_connect_stop(px);
    while ((p = TAILQ_FIRST(&px->passes)) != NULL)
        peer_proxy_pass_free(p);
    DF_ASSERT(TAILQ_EMPTY(&px->streams));
    if (px->task_listener.ev != NULL)
        peer_task_unlisten(ctx, &px->task_listener);
    peer_proxy_rule_set_free(px->rules);
    peer_proxy_verified_reset(px);
    peer_proxy_auth_cache_reset(&px->checked);
    free(px->auth);
    free(px);
    ctx->proxy = NULL;
}

const char *
peer_proxy_addr(const struct peer *ctx)
{
    return ctx->proxy != NULL && ctx->proxy->listener != NULL
                   ? net_listener_addr(ctx->proxy->listener)
                   : NULL;
}

unsigned
peer_proxy_conn_count(const struct peer *ctx)
{
    return ctx->proxy != NULL && ctx->proxy->srv != NULL
                   ? net_http_server_conn_count(ctx->proxy->srv) +
                             peer_proxy_connect_count(ctx->proxy)
                   : 0;
}
