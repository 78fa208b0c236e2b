/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rpc_server and rpc_client in one loop over a unix socket: the lifetimes a handler and a
 * caller see — cancel notifications, early finishes, frees from inside callbacks, calls that
 * wait for a server that is not there yet.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/rpc_client.h"
#include "df/rpc_server.h"

static struct event_base *base;
static struct rpc_server *srv;
static struct rpc_client *cli;
static char dir[64], sock[128];

static int cancels;
static enum rpc_code cancel_why;
static struct rpc_call *held;

static void
hold_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    (void)arg;
    cancels++;
    cancel_why = why;
    if (call == held)
        held = NULL;
}

/* Never answers by itself: the call ends by cancel, deadline or teardown. */
static void
hold_handler(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_cancel = hold_cancel_cb};

    (void)req;
    (void)arg;
    held = call;
    rpc_call_set_cbs(call, &cbs, NULL);
}

static void
echo_handler(struct rpc_call *call, const cJSON *req, void *arg)
{
    (void)arg;
    rpc_call_reply(call, req);
}

static int bidi_seen;

static void
picky_message_cb(struct rpc_call *call, const cJSON *msg, void *arg)
{
    (void)msg;
    (void)arg;
    /* finish early, while the client still sends */
    if (++bidi_seen == 2)
        rpc_call_finish(call, RPC_FAILED_PRECONDITION, "two is enough");
}

static void
picky_handler(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_message = picky_message_cb};

    (void)req;
    (void)arg;
    ck_assert_int_eq(rpc_call_send(call, NULL) == DF_EINVAL, 0);
    rpc_call_set_cbs(call, &cbs, NULL);
}

static const struct rpc_method methods[] = {
        {"/t.v1.T/Hold", RPC_KIND_UNARY, hold_handler, NULL},
        {"/t.v1.T/Echo", RPC_KIND_UNARY, echo_handler, NULL},
        {"/t.v1.T/Picky", RPC_KIND_BIDI, picky_handler, NULL},
};

static void
server_start(void)
{
    struct df_error err;

    srv = rpc_server_new(base, NULL);
    ck_assert_int_eq(rpc_server_register(srv, methods, 3), 0);
    ck_assert_int_eq(rpc_server_listen(srv, sock, NULL, &err), 0);
    ck_assert_str_eq(rpc_server_addr(srv, 0), sock);
}

static void
setup(void)
{
    struct rpc_client_opts o = {.backoff_min_ms = 20, .backoff_max_ms = 50};
    struct df_error err;

    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/df-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "unix:%s/rpc.sock", dir);
    base = event_base_new();
    cancels = 0;
    held = NULL;
    bidi_seen = 0;
    server_start();
    o.addr = sock;
    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &cli, &err), 0);
}

static void
teardown(void)
{
    rpc_client_free(cli);
    rpc_server_free(srv);
    event_base_free(base);
    snprintf(sock, sizeof(sock), "%s/rpc.sock", dir);
    unlink(sock);
    rmdir(dir);
}

static void
run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/*
 * Run the loop until cond() holds, up to 10 s. Tests wait for what they expect rather than
 * for a fixed time, and their deadlines are far above what an idle machine needs: a loaded
 * machine is slow, not wrong.
 */
static bool
run_until(bool (*cond)(void))
{
    for (int i = 0; i < 1000 && !cond(); i++)
        run_ms(10);
    return cond();
}

struct res {
    int n;
    enum rpc_code code;
    char msg[RPC_ERR_MSG_MAX];
};

/* The one result a test waits for, and the conditions on it. */
static struct res *want;

static bool
answered(void)
{
    return want->n == 1;
}

static bool
answered_and_cancelled(void)
{
    return want->n == 1 && cancels == 1;
}

static bool
answered_and_disconnected(void)
{
    return want->n == 1 && !rpc_client_is_connected(cli);
}

static bool
handler_holds(void)
{
    return held != NULL;
}

static bool
cancelled(void)
{
    return cancels == 1;
}

static bool
no_conns(void)
{
    return rpc_server_conn_count(srv) == 0;
}

static void
res_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct res *r = arg;

    (void)resp;
    r->n++;
    r->code = st->code;
    snprintf(r->msg, sizeof(r->msg), "%s", st->message);
}

START_TEST(test_register)
{
    const struct rpc_method dup = {"/t.v1.T/Echo", RPC_KIND_UNARY, echo_handler, NULL};
    const struct rpc_method bad = {"nope", RPC_KIND_UNARY, echo_handler, NULL};
    const struct rpc_method health = {"/grpc.health.v1.Health/Check", RPC_KIND_UNARY, echo_handler,
                                      NULL};

    ck_assert_int_eq(rpc_server_register(srv, &dup, 1), DF_EEXIST);
    ck_assert_int_eq(rpc_server_register(srv, &bad, 1), DF_EINVAL);
    ck_assert_int_eq(rpc_server_register(srv, &health, 1), DF_EEXIST);
}

END_TEST

START_TEST(test_deadline_cancels_handler)
{
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 100, res_cb, &r, NULL), 0);
    want = &r;
    ck_assert(run_until(answered_and_cancelled));
    run_ms(100); /* and nothing more comes */
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_DEADLINE_EXCEEDED);
    /* the handler learns it, once, whichever side's timer won */
    ck_assert_int_eq(cancels, 1);
    ck_assert_ptr_null(held);
}

END_TEST

START_TEST(test_client_cancel_reaches_handler)
{
    struct rpc_client_call *call = NULL;
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 30000, res_cb, &r, &call),
                     0);
    ck_assert(run_until(handler_holds));
    ck_assert_int_lt(rpc_call_remaining_ms(held), 30001);
    ck_assert_int_gt(rpc_call_remaining_ms(held), 20000);
    ck_assert_str_eq(rpc_call_path(held), "/t.v1.T/Hold");
    rpc_client_cancel(call);
    ck_assert(run_until(cancelled));
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(cancels, 1);
    ck_assert_int_eq(cancel_why, RPC_CANCELED);
}

END_TEST

static enum rpc_code stream_code;
static char stream_msg[RPC_ERR_MSG_MAX];
static int stream_closes;

static bool
stream_closed(void)
{
    return stream_closes == 1;
}

static void
stream_close_cb(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    (void)s;
    (void)arg;
    stream_closes++;
    stream_code = st->code;
    snprintf(stream_msg, sizeof(stream_msg), "%s", st->message);
}

START_TEST(test_bidi_early_finish)
{
    struct rpc_client_stream_cbs cbs = {.on_close = stream_close_cb};
    struct rpc_client_call *s = NULL;
    cJSON *m = cJSON_CreateObject();

    stream_closes = 0;
    ck_assert_int_eq(rpc_client_stream(cli, "/t.v1.T/Picky", 30000, &cbs, NULL, &s), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rpc_client_send(s, m), 0);
    ck_assert(run_until(stream_closed));
    cJSON_Delete(m);
    ck_assert_int_eq(stream_closes, 1);
    ck_assert_int_eq(stream_code, RPC_FAILED_PRECONDITION);
    ck_assert_str_eq(stream_msg, "two is enough");
    ck_assert_int_eq(bidi_seen, 2);
}

END_TEST

static struct res others;

static bool
freed_and_cancelled(void)
{
    return cli == NULL && others.n == 3;
}

static void
free_in_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    (void)resp;
    (void)arg;
    ck_assert_int_eq(st->code, RPC_OK);
    rpc_client_free(cli);
    cli = NULL;
}

START_TEST(test_free_inside_callback)
{
    memset(&others, 0, sizeof(others));
    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{}", 2, 0, free_in_cb, NULL, NULL),
                     0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(
                rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 0, res_cb, &others, NULL), 0);
    ck_assert(run_until(freed_and_cancelled));
    ck_assert_ptr_null(cli);
    ck_assert_int_eq(others.n, 3);
    ck_assert_int_eq(others.code, RPC_CANCELED);
}

END_TEST

START_TEST(test_server_free_with_live_calls)
{
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 30000, res_cb, &r, NULL),
                     0);
    ck_assert(run_until(handler_holds));
    ck_assert_uint_eq(rpc_server_conn_count(srv), 1);
    rpc_server_free(srv);
    srv = NULL;
    ck_assert_int_eq(cancels, 1);
    ck_assert_int_eq(cancel_why, RPC_UNAVAILABLE);
    want = &r;
    ck_assert(run_until(answered_and_disconnected));
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_UNAVAILABLE);
    ck_assert(!rpc_client_is_connected(cli));
}

END_TEST

START_TEST(test_waits_for_server)
{
    struct res r = {0};

    rpc_server_free(srv);
    srv = NULL;
    ck_assert_int_eq(
            rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{\"a\":1}", 7, 30000, res_cb, &r, NULL), 0);
    run_ms(200);
    ck_assert_int_eq(r.n, 0);
    server_start();
    want = &r;
    ck_assert(run_until(answered));
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_int_eq(rpc_client_connects(cli), 1);
}

END_TEST

START_TEST(test_shutdown_drains)
{
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{}", 2, 0, res_cb, &r, NULL), 0);
    want = &r;
    ck_assert(run_until(answered));
    rpc_server_shutdown(srv);
    ck_assert(run_until(no_conns));
    ck_assert_uint_eq(rpc_server_conn_count(srv), 0);
}

END_TEST

Suite *test_rpc_server_suite(void);

Suite *
test_rpc_server_suite(void)
{
    Suite *s = suite_create("rpc_server");
    TCase *tc = tcase_create("server");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_register);
    tcase_add_test(tc, test_deadline_cancels_handler);
    tcase_add_test(tc, test_client_cancel_reaches_handler);
    tcase_add_test(tc, test_bidi_early_finish);
    tcase_add_test(tc, test_free_inside_callback);
    tcase_add_test(tc, test_server_free_with_live_calls);
    tcase_add_test(tc, test_waits_for_server);
    tcase_add_test(tc, test_shutdown_drains);
    suite_add_tcase(s, tc);
    return s;
}
