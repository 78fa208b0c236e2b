/* SPDX-License-Identifier: Apache-2.0 */
/* Route matching: literals, :params, *rest, order, HEAD for GET, 404 against 405 + Allow. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_err.h"
#include "df/df_metrics.h"
#include "df/net_http_server.h"
#include "df/net_route.h"

static void
h(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    (void)req;
    (void)m;
    (void)arg;
}

static const struct net_route routes[] = {
        {"GET", "/metrics", h},              /* 0 */
        {"GET", "/healthy", h},              /* 1 */
        {"GET", "/pieces/:task/:number", h}, /* 2 */
        {"PUT", "/pieces/:task/:number", h}, /* 3 */
        {"GET", "/api/v1/users/me", h},      /* 4: before the :id route */
        {"GET", "/api/v1/users/:id", h},     /* 5 */
        {"DELETE", "/api/v1/users/:id", h},  /* 6 */
        {"POST", "/api/v1/users", h},        /* 7 */
        {"GET", "/files/*rest", h},          /* 8 */
        {"GET", "/", h},                     /* 9 */
};

#define N (sizeof(routes) / sizeof(routes[0]))

/* Find method path; check the index and return the match (the caller resets it). */
static struct net_route_match
find(const char *method, const char *path, int want)
{
    struct net_route_match m;
    char allow[64];
    int rv;

    memset(&m, 0, sizeof(m));
    rv = net_route_find(routes, N, method, path, &m, allow, sizeof(allow));
    ck_assert_msg(rv == want, "%s %s: got %d want %d", method, path, rv, want);
    return m;
}

/* Outcomes only: which route, or 404 / 405. */
START_TEST(test_outcomes)
{
    static const struct {
        const char *method, *path;
        int want;
    } cases[] = {
            {"GET", "/healthy", 1},
            {"GET", "/", 9},
            {"GET", "/metrics/", DF_ENOTFOUND}, /* a trailing slash is another path */
            {"GET", "/metricsx", DF_ENOTFOUND},
            {"GET", "/metric", DF_ENOTFOUND},
            {"GET", "//metrics", DF_ENOTFOUND},
            {"GET", "", DF_ENOTFOUND},
            {"GET", "/pieces/../../etc/passwd", DF_ENOTFOUND},
            {"GET", "/pieces//7", DF_ENOTFOUND},
            {"GET", "/pieces/ab12/", DF_ENOTFOUND},
            {"GET", "/pieces/ab12", DF_ENOTFOUND},
            {"GET", "/pieces/ab12/7/8", DF_ENOTFOUND},
            {"GET", "/api/v1/users/me", 4},
            {"DELETE", "/api/v1/users/42", 6},
            {"POST", "/api/v1/users", 7},
            {"GET", "/files", DF_ENOTFOUND},
            {"HEAD", "/metrics", 0}, /* a GET route answers HEAD, and nothing else */
            {"HEAD", "/pieces/a/1", 2},
            {"HEAD", "/api/v1/users", DF_EPERM},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct net_route_match m = find(cases[i].method, cases[i].path, cases[i].want);

        if (cases[i].want >= 0)
            net_route_match_reset(&m);
    }
}

END_TEST

START_TEST(test_table_is_valid)
{
    ck_assert_int_eq(net_route_check(routes, N), 0);
}

END_TEST

START_TEST(test_literals)
{
    struct net_route_match m = find("GET", "/metrics", 0);

    ck_assert_ptr_eq(m.route, &routes[0]);
    ck_assert_uint_eq(m.nparams, 0);
    net_route_match_reset(&m);
}

END_TEST

START_TEST(test_params)
{
    struct net_route_match m = find("GET", "/pieces/ab12/7", 2);

    ck_assert_uint_eq(m.nparams, 2);
    ck_assert_str_eq(net_route_param(&m, "task"), "ab12");
    ck_assert_str_eq(net_route_param(&m, "number"), "7");
    ck_assert_ptr_null(net_route_param(&m, "num"));
    ck_assert_ptr_null(net_route_param(&m, "numbers"));
    net_route_match_reset(&m);
    ck_assert_uint_eq(m.nparams, 0);
    /* raw: no decoding, and a parameter is one non-empty segment */
    m = find("GET", "/pieces/..%2f..%2fetc/0", 2);
    ck_assert_str_eq(net_route_param(&m, "task"), "..%2f..%2fetc");
    net_route_match_reset(&m);
}

END_TEST

/* Table order decides: a literal listed before a :param wins, the :param takes the rest. */
START_TEST(test_order)
{
    struct net_route_match m = find("GET", "/api/v1/users/42", 5);

    ck_assert_str_eq(net_route_param(&m, "id"), "42");
    net_route_match_reset(&m);
}

END_TEST

START_TEST(test_rest)
{
    struct net_route_match m = find("GET", "/files/a/b/c.txt", 8);

    ck_assert_str_eq(net_route_param(&m, "rest"), "a/b/c.txt");
    net_route_match_reset(&m);
    m = find("GET", "/files/", 8);
    ck_assert_str_eq(net_route_param(&m, "rest"), "");
    net_route_match_reset(&m);
}

END_TEST

/* 405 when the path is known to another method, with the methods that would do. */
START_TEST(test_method_not_allowed)
{
    static const struct {
        const char *method, *path;
        int want;
        const char *allow;
    } cases[] = {
            {"POST", "/metrics", DF_EPERM, "GET, HEAD"},
            {"POST", "/pieces/a/1", DF_EPERM, "GET, HEAD, PUT"},
            {"PATCH", "/api/v1/users/me", DF_EPERM, "GET, HEAD, DELETE"}, /* GET once for two */
            {"GET", "/api/v1/users", DF_EPERM, "POST"},
            {"POST", "/nowhere", DF_ENOTFOUND, ""},
    };
    struct net_route_match m;
    char allow[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(
                net_route_find(routes, N, cases[i].method, cases[i].path, &m, allow, sizeof(allow)),
                cases[i].want);
        ck_assert_str_eq(allow, cases[i].allow);
    }
    /* a short buffer truncates the list but stays a string */
    ck_assert_int_eq(net_route_find(routes, N, "POST", "/pieces/a/1", &m, allow, 6), DF_EPERM);
    ck_assert_uint_lt(strlen(allow), 6);
}

END_TEST

START_TEST(test_check_rejects)
{
    static const struct net_route bad[][1] = {
            {{"GET", "metrics", h}},                     /* no leading slash */
            {{"get", "/metrics", h}},                    /* method case */
            {{"", "/metrics", h}},                       /* no method */
            {{"GET", "/metrics", NULL}},                 /* no handler */
            {{"GET", "/pieces/:/x", h}},                 /* unnamed parameter */
            {{"GET", "/pieces/a:b", h}},                 /* parameter inside a segment */
            {{"GET", "/pieces/:a-b", h}},                /* bad name */
            {{"GET", "/f/*rest/x", h}},                  /* rest not last */
            {{"GET", "/f/x*", h}},                       /* star inside a segment */
            {{"GET", "/:a/:b/:c/:d/:e/:f/:g/:h/:i", h}}, /* too many parameters */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(net_route_check(bad[i], 1) == DF_EINVAL, "accepted %s %s", bad[i][0].method,
                      bad[i][0].pattern);
}

END_TEST

/* ---- dispatch through a real server, over a bufferevent pair ---- */

static struct event_base *base;
static struct net_http_server *srv;
static struct df_metrics *reg;
static uint64_t served;

static void
thing_get(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    cJSON *doc = cJSON_CreateObject();

    ck_assert_ptr_eq(arg, &served);
    served++;
    cJSON_AddStringToObject(doc, "id", net_route_param(m, "id"));
    net_route_reply_json(req, 200, doc);
    cJSON_Delete(doc);
}

static void
metrics_get(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    (void)m;
    (void)arg;
    net_route_reply_metrics(req, reg);
}

static void
dispatch_handler(struct net_http_req *req, void *arg)
{
    static const struct net_route table[] = {
            {"GET", "/things/:id", thing_get},
            {"GET", "/metrics", metrics_get},
            {"GET", "/healthy", net_route_healthy},
    };

    net_route_dispatch(req, table, sizeof(table) / sizeof(table[0]), arg);
}

static void
dispatch_setup(void)
{
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    ck_assert_int_eq(net_http_server_new(base, NULL, dispatch_handler, &served, &srv), 0);
    reg = df_metrics_new();
    df_metrics_u64_new(reg, DF_METRICS_COUNTER, "t_served_total", "things served", &served);
    served = 0;
}

static void
dispatch_teardown(void)
{
    net_http_server_free(srv);
    df_metrics_free(reg);
    event_base_free(base);
}

struct client {
    struct evbuffer *got;
    bool head; /* a HEAD request: the response has no body whatever its length says */
};

/* Stop the loop once the head and Content-Length bytes of body have arrived. */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
    struct client *c = arg;
    struct evbuffer_ptr end;
    char head[1024];
    const char *cl;
    size_t n;

    evbuffer_add_buffer(c->got, bufferevent_get_input(bev));
    end = evbuffer_search(c->got, "\r\n\r\n", 4, NULL);
    if (end.pos < 0 || (size_t)end.pos >= sizeof(head))
        return;
    n = evbuffer_copyout(c->got, head, (size_t)end.pos);
    head[n] = '\0';
    cl = strstr(head, "Content-Length: ");
    ck_assert_ptr_nonnull(cl);
    if (evbuffer_get_length(c->got) >=
        (size_t)end.pos + 4 + (c->head ? 0 : strtoul(cl + 16, NULL, 10)))
        event_base_loopexit(base, NULL);
}

/* Send one request; the whole response as a string (caller frees). */
static char *
roundtrip(const char *method, const char *path)
{
    struct bufferevent *pair[2];
    struct client c = {evbuffer_new(), strcmp(method, "HEAD") == 0};
    struct timeval limit = {10, 0};
    char *text;
    size_t n;

    ck_assert_int_eq(bufferevent_pair_new(base, 0, pair), 0);
    ck_assert_int_eq(net_http_server_adopt(srv, pair[0], "test"), 0);
    bufferevent_setcb(pair[1], client_read_cb, NULL, NULL, &c);
    bufferevent_enable(pair[1], EV_READ);
    evbuffer_add_printf(bufferevent_get_output(pair[1]), "%s %s HTTP/1.1\r\nHost: t\r\n\r\n",
                        method, path);
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    bufferevent_free(pair[1]);
    n = evbuffer_get_length(c.got);
    text = malloc(n + 1);
    evbuffer_remove(c.got, text, n);
    text[n] = '\0';
    evbuffer_free(c.got);
    return text;
}

/* Whether the response r has status line status, header line header (or NULL) and body. */
static void
check_response(char *r, const char *status, const char *header, const char *body)
{
    const char *b = strstr(r, "\r\n\r\n");

    ck_assert_msg(strncmp(r, status, strlen(status)) == 0, "status: %s", r);
    ck_assert_msg(header == NULL || strstr(r, header) != NULL, "no %s in %s", header, r);
    ck_assert_msg(b != NULL && strcmp(b + 4, body) == 0, "body: %s", r);
    free(r);
}

START_TEST(test_dispatch)
{
    check_response(roundtrip("GET", "/things/42"), "HTTP/1.1 200",
                   "Content-Type: application/json\r\n", "{\"id\":\"42\"}");
    check_response(roundtrip("DELETE", "/things/42"), "HTTP/1.1 405", "Allow: GET, HEAD\r\n",
                   "method not allowed\n");
    check_response(roundtrip("GET", "/things"), "HTTP/1.1 404", NULL, "not found\n");
    check_response(roundtrip("GET", "/healthy"), "HTTP/1.1 200", "Content-Type: text/plain\r\n",
                   "OK");
    check_response(roundtrip("HEAD", "/healthy"), "HTTP/1.1 200", "Content-Length: 2\r\n", "");
    check_response(roundtrip("GET", "/metrics"), "HTTP/1.1 200",
                   "Content-Type: " DF_METRICS_CONTENT_TYPE "\r\n",
                   "# HELP t_served_total things served\n# TYPE t_served_total counter\n"
                   "t_served_total 1\n");
}

END_TEST

Suite *test_net_route_suite(void);

Suite *
test_net_route_suite(void)
{
    Suite *s = suite_create("net_route");
    TCase *tc = tcase_create("match");
    TCase *td = tcase_create("dispatch");

    tcase_add_test(tc, test_table_is_valid);
    tcase_add_test(tc, test_literals);
    tcase_add_test(tc, test_outcomes);
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_rest);
    tcase_add_test(tc, test_method_not_allowed);
    tcase_add_test(tc, test_check_rejects);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(td, dispatch_setup, dispatch_teardown);
    tcase_set_timeout(td, 30);
    tcase_add_test(td, test_dispatch);
    suite_add_tcase(s, td);
    return s;
}
