/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registration and keepalive loop of a scheduler or seed peer with the manager. One
 * timer drives it: each tick registers when not registered, else sends a keepalive on the
 * open stream (opening one when there is none) and repeats the refresh call when due. A stream's
 * deadline is capped by the server (10 min), so the stream is renewed every KA_ROTATE: the new one
 * carries a message before the old one is closed, and the manager, which keeps a host active while
 * any stream of it is open, never sees the host go away.
 */
#include "df/rpc_mgr_link.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/rpc_client.h"
#include "df/xmalloc.h"

#define KA_DEADLINE_MS (10 * 60 * 1000)
#define KA_ROTATE_MS   (5 * 60 * 1000)

struct rpc_mgr_link {
    struct event_base *base;
    struct rpc_client *client;
    struct event *timer;
    char *what, *hostname;
    char *reg_path, *ka_path, *get_path, *extra_path;
    cJSON *reg_msg, *ka_msg, *get_msg, *extra_msg;
    int64_t keepalive_ms, refresh_ms;
    rpc_mgr_link_answer_fn *on_answer, *on_extra;
    void *arg;
    struct rpc_client_call *stream;
    int64_t stream_at, refreshed_at, extra_at;
    bool registered, registering, refreshing, extra_pending, alive, warned;
};

static void
link_warn(struct rpc_mgr_link *l, const char *step, const struct rpc_status *st)
{
    /* once per outage: a manager that is away would otherwise fill the log every tick */
    if (!l->warned)
        log_warnx("%s: manager: %s: %s: %s (retrying every %lld ms)", l->what, step,
                  rpc_err_name(st->code), st->message, (long long)l->keepalive_ms);
    l->warned = true;
}

/* An answer of the registration or a refresh: to the owner. */
static void
link_config(struct rpc_mgr_link *l, const cJSON *resp)
{
    l->refreshed_at = (int64_t)df_time_mono_ms();
    if (l->on_answer != NULL)
        l->on_answer(resp, l->arg);
}

static void link_keepalive(struct rpc_mgr_link *l);

static void
link_extra_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct rpc_mgr_link *l = arg;

    l->extra_pending = false;
    if (st->code != RPC_OK && st->code != RPC_NOT_FOUND && st->code != RPC_UNIMPLEMENTED) {
        link_warn(l, l->extra_path, st);
        return;
    }
    l->extra_at = (int64_t)df_time_mono_ms();
    if (l->on_extra != NULL)
        l->on_extra(st->code == RPC_OK ? resp : NULL, l->arg);
}

/* The extra call when it is due: at registration, then every refresh interval. */
static void
link_extra(struct rpc_mgr_link *l)
{
    if (l->extra_msg != NULL && !l->extra_pending &&
        (l->extra_at == 0 || (int64_t)df_time_mono_ms() - l->extra_at >= l->refresh_ms) &&
        rpc_client_unary(l->client, l->extra_path, l->extra_msg, 10000, link_extra_cb, l, NULL) ==
                0)
        l->extra_pending = true;
}

static void
link_register_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct rpc_mgr_link *l = arg;

    l->registering = false;
    if (st->code != RPC_OK) {
        link_warn(l, "register", st);
        return;
    }
    if (l->warned || !l->registered)
        log_info("%s: manager: registered as %s", l->what, l->hostname);
    l->warned = false;
    l->registered = true;
    link_config(l, resp);
    link_keepalive(l);
    link_extra(l);
}

static void
link_register(struct rpc_mgr_link *l)
{
    if (l->registering)
        return;
    if (rpc_client_unary(l->client, l->reg_path, l->reg_msg, 10000, link_register_cb, l, NULL) == 0)
        l->registering = true;
}

static void
link_stream_close(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    struct rpc_mgr_link *l = arg;

    if (s != l->stream)
        return; /* a rotated-out stream ending: the new one carries the host */
    l->stream = NULL;
    l->alive = false;
    if (st->code == RPC_NOT_FOUND) {
        /* the row was deleted (REST): register again at the next tick */
        l->registered = false;
        log_warnx("%s: manager: not registered any more: registering again", l->what);
    } else if (st->code != RPC_OK && st->code != RPC_DEADLINE_EXCEEDED) {
        link_warn(l, "keepalive", st);
    }
}

/* Send one keepalive, on the open stream or a new one (rotated when old). */
static void
link_keepalive(struct rpc_mgr_link *l)
{
    static const struct rpc_client_stream_cbs cbs = {.on_close = link_stream_close};
    struct rpc_client_call *old = NULL, *s;
    int64_t now = (int64_t)df_time_mono_ms();

    if (l->stream != NULL && now - l->stream_at >= KA_ROTATE_MS) {
        old = l->stream;
        l->stream = NULL;
    }
    if (l->stream == NULL) {
        if (rpc_client_stream(l->client, l->ka_path, KA_DEADLINE_MS, &cbs, l, &s) != 0) {
            l->stream = old; /* keep the old one while it lasts */
            return;
        }
        l->stream = s;
        l->stream_at = now;
    }
    if (rpc_client_send(l->stream, l->ka_msg) == 0 && !l->alive) {
        l->alive = true;
        l->warned = false;
    }
    if (old != NULL)
        rpc_client_close_send(old);
}

static void
link_refresh_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct rpc_mgr_link *l = arg;

    l->refreshing = false;
    if (st->code == RPC_OK)
        link_config(l, resp);
    else
        link_warn(l, "refresh the cluster config", st);
}

static void
link_tick(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_mgr_link *l = arg;

    (void)fd;
    (void)what;
    if (!l->registered) {
        link_register(l);
        return;
    }
    link_keepalive(l);
    if (l->get_msg != NULL && !l->refreshing &&
        (int64_t)df_time_mono_ms() - l->refreshed_at >= l->refresh_ms &&
        rpc_client_unary(l->client, l->get_path, l->get_msg, 10000, link_refresh_cb, l, NULL) == 0)
        l->refreshing = true;
    link_extra(l);
}

static cJSON *
link_dup(const cJSON *m)
{
    return m != NULL ? cJSON_Duplicate(m, true) : NULL;
}

int
rpc_mgr_link_new(struct event_base *base, struct evdns_base *dns,
                 const struct rpc_mgr_link_opts *opts, struct rpc_mgr_link **out,
                 struct df_error *err)
{
    struct rpc_mgr_link *l = xcalloc(1, sizeof(*l));
    struct rpc_client_opts co;
    struct timeval tv;

    l->base = base;
    l->what = xstrdup(opts->what);
    l->hostname = xstrdup(opts->hostname);
    l->reg_path = xstrdup(opts->register_path);
    l->ka_path = xstrdup(opts->keepalive_path);
    l->get_path = opts->refresh_path != NULL ? xstrdup(opts->refresh_path) : NULL;
    l->reg_msg = link_dup(opts->register_msg);
    l->ka_msg = link_dup(opts->keepalive_msg);
    l->get_msg = l->get_path != NULL ? link_dup(opts->refresh_msg) : NULL;
    l->extra_path = opts->extra_path != NULL ? xstrdup(opts->extra_path) : NULL;
    l->extra_msg = l->extra_path != NULL ? link_dup(opts->extra_msg) : NULL;
    l->on_extra = opts->on_extra;
    l->keepalive_ms = opts->keepalive_ms > 0 ? opts->keepalive_ms : 5000;
    l->refresh_ms = opts->refresh_ms > 0 ? opts->refresh_ms : 60000;
    l->on_answer = opts->on_answer;
    l->arg = opts->arg;
    memset(&co, 0, sizeof(co));
    co.addr = opts->addr;
    co.tls = opts->tls;
    co.expect_roles = opts->tls != NULL ? opts->expect_roles : 0;
    co.backoff_max_ms = (int)l->keepalive_ms;
    if (l->reg_msg == NULL || l->ka_msg == NULL) {
        rpc_mgr_link_free(l);
        return df_error_set(err, DF_EINVAL, "manager: no registration or keepalive message");
    }
    if (rpc_client_new(base, dns, &co, &l->client, err) != 0) {
        rpc_mgr_link_free(l);
        return DF_EINVAL;
    }
    l->timer = event_new(base, -1, EV_PERSIST, link_tick, l);
    tv.tv_sec = (time_t)(l->keepalive_ms / 1000);
    tv.tv_usec = (suseconds_t)(l->keepalive_ms % 1000) * 1000;
    event_add(l->timer, &tv);
    link_register(l);
    *out = l;
    return 0;
}

bool
rpc_mgr_link_is_alive(const struct rpc_mgr_link *l)
{
    return l != NULL && l->alive;
}

void
rpc_mgr_link_free(struct rpc_mgr_link *l)
{
    if (l == NULL)
        return;
    if (l->timer != NULL)
        event_free(l->timer);
    if (l->stream != NULL)
        rpc_client_close_send(l->stream);
    /* pending calls complete with canceled here; their callbacks only touch l's flags */
    l->stream = NULL;
    rpc_client_free(l->client);
    cJSON_Delete(l->reg_msg);
    cJSON_Delete(l->ka_msg);
    cJSON_Delete(l->get_msg);
    cJSON_Delete(l->extra_msg);
    free(l->extra_path);
    free(l->reg_path);
    free(l->ka_path);
    free(l->get_path);
    free(l->what);
    free(l->hostname);
    free(l);
}
