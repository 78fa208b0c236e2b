/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_fetch against a net_http_server on 127.0.0.1:0 in the same event_base: HEAD, a non-2xx
 * answer handed to the caller with its headers and body, the in-memory body and its cap,
 * redirects, ranges, and the status codes a caller that streams only 200/206 is told.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "df/net_addrpolicy.h"
#include "df/net_connect.h"
#include "df/net_fetch.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"

#define BLOB      "hello, world"
#define AUTH      "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}"
#define CHALLENGE "Bearer realm=\"http://127.0.0.1/token\",service=\"registry\""

static struct {
    struct event_base *base;
    struct evdns_base *dns;
    struct event *deadline;
    struct net_http_server *srv;
    struct net_listener *lis;
    struct net_fetch_env env;
    uint16_t port;
    char method[8]; /* of the last request the server saw */
    char range[64]; /* its Range header */
    char auth[64];  /* its Authorization header */
    int ended, rv;  /* on_end */
    char why[600];
    int heads, status; /* on_head */
    int requests;      /* the server saw */
    bool no_body, has_total;
    uint64_t total;
    char challenge[128]; /* WWW-Authenticate of the answer */
    char final_url[128];
    char location[128];   /* Location of the answer */
    struct evbuffer *got; /* the body: streamed or kept in memory */
} t;

static void
fetch_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopexit(t.base, NULL);
}

static void
copy_header(struct net_http_req *req, const char *name, char *out, size_t len)
{
    const char *v = net_http_req_header(req, name);

    snprintf(out, len, "%s", v != NULL ? v : "");
}

/* A chunked body (no Content-Length) of 4096 'c'. */
static void
serve_chunked(struct net_http_req *req)
{
    char buf[4096];

    memset(buf, 'c', sizeof(buf));
    ck_assert_int_eq(net_http_req_start(req, 200, "text/plain", -1, NULL, NULL), 0);
    ck_assert_int_eq(net_http_req_write(req, buf, sizeof(buf)), 0);
    net_http_req_end(req, 0);
}

static void
handler(struct net_http_req *req, void *arg)
{
    const char *path = net_http_req_path(req);

    (void)arg;
    t.requests++;
    snprintf(t.method, sizeof(t.method), "%s", net_http_req_method(req));
    copy_header(req, "Range", t.range, sizeof(t.range));
    copy_header(req, "Authorization", t.auth, sizeof(t.auth));
    if (strcmp(path, "/blob") == 0) {
        net_http_req_add_header(req, "ETag", "\"v1\"");
        net_http_req_respond(req, 200, "text/plain", BLOB, strlen(BLOB));
    } else if (strcmp(path, "/v2/") == 0) {
        net_http_req_add_header(req, "WWW-Authenticate", CHALLENGE);
        net_http_req_respond(req, 401, "application/json", AUTH, strlen(AUTH));
    } else if (strcmp(path, "/moved") == 0) {
        net_http_req_add_header(req, "Location", "/v2/");
        net_http_req_respond(req, 302, NULL, NULL, 0);
    } else if (strcmp(path, "/loop") == 0) {
        net_http_req_add_header(req, "Location", "/loop");
        net_http_req_respond(req, 307, NULL, NULL, 0);
    } else if (strcmp(path, "/busy") == 0) {
        net_http_req_add_header(req, "Retry-After", "7");
        net_http_req_respond(req, 503, "text/plain", "busy\n", 5);
    } else if (strcmp(path, "/chunked") == 0) {
        serve_chunked(req);
    } else if (strcmp(path, "/range") == 0) {
        net_http_req_add_header(req, "Content-Range", "bytes 2-5/12");
        net_http_req_respond(req, 206, "text/plain", BLOB + 2, 4);
    } else {
        net_http_req_respond(req, 404, "text/plain", "nope\n", 5);
    }
}

static void
fetch_setup(void)
{
    struct timeval tv = {10, 0};
    struct df_error err;

    signal(SIGPIPE, SIG_IGN);
    memset(&t, 0, sizeof(t));
    t.base = event_base_new();
    ck_assert_ptr_nonnull(t.base);
    t.dns = net_dns_new(t.base);
    ck_assert_ptr_nonnull(t.dns);
    t.deadline = evtimer_new(t.base, fetch_deadline_cb, NULL);
    evtimer_add(t.deadline, &tv);
    ck_assert_int_eq(net_http_server_new(t.base, NULL, handler, NULL, &t.srv), 0);
    ck_assert_int_eq(net_listener_new(t.base, "127.0.0.1:0", 0, net_http_server_accept_cb, t.srv,
                                      &t.lis, &err),
                     0);
    t.port = net_listener_port(t.lis);
    t.env.pool = net_fetch_pool_new();
    t.env.base = t.base;
    t.env.dns = t.dns;
    t.env.connect_timeout_ms = 5000;
    t.env.head_timeout_ms = 5000;
    t.env.idle_timeout_ms = 5000;
    t.got = evbuffer_new();
    t.rv = 1;
}

static void
fetch_teardown(void)
{
    net_fetch_pool_free(t.env.pool);
    net_listener_free(t.lis);
    net_http_server_free(t.srv);
    evbuffer_free(t.got);
    event_free(t.deadline);
    net_dns_free(t.dns);
    event_base_free(t.base);
}

static int
on_head(struct net_fetch *s, const struct net_fetch_meta *m, void *arg)
{
    const char *v = net_http_head_get(m->head, "WWW-Authenticate");

    (void)s;
    (void)arg;
    t.heads++;
    t.status = m->status;
    t.no_body = m->no_body;
    t.has_total = m->has_total;
    t.total = m->total;
    snprintf(t.challenge, sizeof(t.challenge), "%s", v != NULL ? v : "");
    snprintf(t.final_url, sizeof(t.final_url), "%s", m->final_url);
    v = net_http_head_get(m->head, "Location");
    snprintf(t.location, sizeof(t.location), "%s", v != NULL ? v : "");
    return 0;
}

static int
on_data(struct net_fetch *s, struct evbuffer *data, void *arg)
{
    (void)s;
    (void)arg;
    evbuffer_add_buffer(t.got, data);
    return 0;
}

static void
on_end(struct net_fetch *s, int rv, const char *why, uint64_t retry_after_ms, void *arg)
{
    struct evbuffer *body = net_fetch_body(s);

    (void)retry_after_ms;
    (void)arg;
    t.ended++;
    t.rv = rv;
    snprintf(t.why, sizeof(t.why), "%s", why);
    if (body != NULL)
        evbuffer_add_buffer(t.got, body);
    event_base_loopexit(t.base, NULL);
}

static const struct net_fetch_cbs streamed = {on_head, on_data, on_end};
static const struct net_fetch_cbs in_memory = {on_head, NULL, on_end};

/* Fetch path from the test server; returns what net_fetch_start returned. */
static int
fetch(const char *path, struct net_fetch_req *req, const struct net_fetch_cbs *cbs)
{
    char url[128];
    struct net_fetch *s;
    struct df_error err;
    int rv;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", t.port, path);
    req->url = url;
    if ((rv = net_fetch_start(&t.env, req, cbs, NULL, &s, &err)) != 0)
        return rv;
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.ended, 1);
    return 0;
}

static bool
got_is(const char *want)
{
    size_t n = evbuffer_get_length(t.got);

    return n == strlen(want) && memcmp(evbuffer_pullup(t.got, -1), want, n) == 0;
}

START_TEST(test_head)
{
    struct net_fetch_req req = {.method = "HEAD"};

    ck_assert_int_eq(fetch("/blob", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert_str_eq(t.method, "HEAD");
    ck_assert_int_eq(t.status, 200);
    ck_assert(t.no_body);
    /* The length a GET would get is announced; no byte follows. */
    ck_assert(t.has_total);
    ck_assert_uint_eq(t.total, strlen(BLOB));
    ck_assert_uint_eq(evbuffer_get_length(t.got), 0);
}

END_TEST

START_TEST(test_bad_method)
{
    struct net_fetch_req req = {.method = "POST"};

    ck_assert_int_eq(fetch("/blob", &req, &streamed), DF_EINVAL);
    req.method = NULL;
    ck_assert_int_eq(fetch("/blob", &req, &in_memory), DF_EINVAL); /* no max_body */
    ck_assert_int_eq(t.ended, 0);
}

END_TEST

/* A registry's 401: status, challenge and error body reach the caller, as an answer. */
START_TEST(test_401_handed_over)
{
    struct net_fetch_req req = {.any_status = true, .max_body = 4096};

    ck_assert_int_eq(fetch("/v2/", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert_int_eq(t.status, 401);
    ck_assert_str_eq(t.challenge, CHALLENGE);
    ck_assert(got_is(AUTH));
}

END_TEST

/* Without any_status the same answer is an error with its reason, as the peer wants it. */
START_TEST(test_401_refused)
{
    struct net_fetch_req req = {.max_body = 4096};

    ck_assert_int_eq(fetch("/v2/", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, DF_EPERM);
    ck_assert_int_eq(t.heads, 0);
    ck_assert_ptr_nonnull(strstr(t.why, "401"));
}

END_TEST

START_TEST(test_503_retryable)
{
    struct net_fetch_req req = {0};

    ck_assert_int_eq(fetch("/busy", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, DF_EAGAIN);
    ck_assert(net_fetch_is_retryable(t.rv));
}

END_TEST

/* A redirect is followed; the answer at its end is handed over, Authorization kept (same host). */
START_TEST(test_redirect_any_status)
{
    struct net_http_header h = {"Authorization", "Basic dTpw"};
    struct net_fetch_req req = {.any_status = true, .max_body = 4096, .headers = &h, .nheaders = 1};

    ck_assert_int_eq(fetch("/moved", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert_int_eq(t.status, 401);
    ck_assert_ptr_nonnull(strstr(t.final_url, "/v2/"));
    ck_assert_str_eq(t.auth, "Basic dTpw");
    ck_assert(got_is(AUTH));
}

END_TEST

/* Kept, the redirect itself is the answer: its Location goes to the caller. */
START_TEST(test_keep_redirect)
{
    struct net_fetch_req req = {.any_status = true, .keep_redirects = true, .max_body = 4096};

    ck_assert_int_eq(fetch("/moved", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert_int_eq(t.status, 302);
    ck_assert_str_eq(t.location, "/v2/");
    ck_assert_ptr_nonnull(strstr(t.final_url, "/moved"));
    /* Without any_status a kept redirect is no answer the caller can take. */
    t.ended = 0;
    req.any_status = false;
    ck_assert_int_eq(fetch("/moved", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, DF_EPROTO);
    ck_assert_ptr_nonnull(strstr(t.why, "302"));
}

END_TEST

/* A redirect loop ends after the hops allowed, as an error not worth a retry. */
START_TEST(test_redirect_limit)
{
    struct net_fetch_req req = {.max_redirects = 2};

    ck_assert_int_eq(fetch("/loop", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, DF_ETOOBIG);
    ck_assert(!net_fetch_is_retryable(t.rv));
    ck_assert_str_eq(t.why, "more than 2 redirects");
    ck_assert_int_eq(t.requests, 3);
    t.ended = 0;
    t.requests = 0;
    req.max_redirects = 0; /* the default */
    ck_assert_int_eq(fetch("/loop", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, DF_ETOOBIG);
    ck_assert_int_eq(t.requests, NET_FETCH_MAX_REDIRECTS + 1);
}

END_TEST

START_TEST(test_memory_body)
{
    struct net_fetch_req req = {.max_body = strlen(BLOB)};

    ck_assert_int_eq(fetch("/blob", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert_str_eq(t.method, "GET");
    ck_assert(got_is(BLOB));
}

END_TEST

/* Over the cap by its Content-Length: refused at the head, nothing kept. */
START_TEST(test_memory_cap_length)
{
    struct net_fetch_req req = {.max_body = strlen(BLOB) - 1};

    ck_assert_int_eq(fetch("/blob", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, DF_ETOOBIG);
    ck_assert_int_eq(t.heads, 0);
    ck_assert_uint_eq(evbuffer_get_length(t.got), 0);
    ck_assert_ptr_nonnull(strstr(t.why, "allowed"));
}

END_TEST

/* Over the cap with no length announced: cut as the bytes arrive. */
START_TEST(test_memory_cap_chunked)
{
    struct net_fetch_req req = {.max_body = 1000};

    ck_assert_int_eq(fetch("/chunked", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, DF_ETOOBIG);
    ck_assert_int_eq(t.heads, 1);
    ck_assert_uint_le(evbuffer_get_length(t.got), 1000);
    req.max_body = 4096;
    t.ended = 0;
    evbuffer_drain(t.got, evbuffer_get_length(t.got));
    ck_assert_int_eq(fetch("/chunked", &req, &in_memory), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert_uint_eq(evbuffer_get_length(t.got), 4096);
}

END_TEST

/* The policy sees the address connected to; its refusal is named as the owner calls it. */
START_TEST(test_policy)
{
    const char *allow = "127.0.0.1/32";
    struct net_addrpolicy *deny_all, *allow_lo;
    struct net_fetch_req req = {0};
    struct df_error err;

    ck_assert_int_eq(net_addrpolicy_new(NULL, 0, NULL, 0, &deny_all, &err), 0);
    ck_assert_int_eq(net_addrpolicy_new(&allow, 1, NULL, 0, &allow_lo, &err), 0);
    t.env.policy_name = "registry policy";
    req.policy = deny_all;
    ck_assert_int_eq(fetch("/blob", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, DF_EPERM);
    ck_assert_msg(strstr(t.why, "registry policy: 127.0.0.1") == t.why, "%s", t.why);
    ck_assert_str_eq(t.method, ""); /* no request reached the server */
    t.ended = 0;
    req.policy = allow_lo;
    ck_assert_int_eq(fetch("/blob", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert(got_is(BLOB));
    net_addrpolicy_free(deny_all);
    net_addrpolicy_free(allow_lo);
}

END_TEST

START_TEST(test_range)
{
    struct net_fetch_req req = {.has_range = true, .start = 2, .end = 5};

    ck_assert_int_eq(fetch("/range", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, 0);
    ck_assert_str_eq(t.range, "bytes=2-5");
    ck_assert_int_eq(t.status, 206);
    ck_assert_uint_eq(t.total, strlen(BLOB));
    ck_assert(got_is("llo,"));
    /* The same 206 for another range than was asked is refused. */
    t.ended = 0;
    req.start = 1;
    ck_assert_int_eq(fetch("/range", &req, &streamed), 0);
    ck_assert_int_eq(t.rv, DF_EPROTO);
    ck_assert_ptr_nonnull(strstr(t.why, "Content-Range"));
}

END_TEST

Suite *test_net_fetch_suite(void);

Suite *
test_net_fetch_suite(void)
{
    Suite *s = suite_create("net_fetch");
    TCase *tc = tcase_create("fetch");

    tcase_add_checked_fixture(tc, fetch_setup, fetch_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_head);
    tcase_add_test(tc, test_bad_method);
    tcase_add_test(tc, test_401_handed_over);
    tcase_add_test(tc, test_401_refused);
    tcase_add_test(tc, test_503_retryable);
    tcase_add_test(tc, test_redirect_any_status);
    tcase_add_test(tc, test_keep_redirect);
    tcase_add_test(tc, test_redirect_limit);
    tcase_add_test(tc, test_memory_body);
    tcase_add_test(tc, test_memory_cap_length);
    tcase_add_test(tc, test_memory_cap_chunked);
    tcase_add_test(tc, test_policy);
    tcase_add_test(tc, test_range);
    suite_add_tcase(s, tc);
    return s;
}
