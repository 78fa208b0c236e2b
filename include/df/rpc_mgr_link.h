/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A host's link to the manager, shared by the scheduler and the seed peer: it registers the
 * host (a unary call), holds a keepalive stream open with one message every keepalive
 * interval, and optionally repeats a refresh call (a scheduler's cluster config) and an
 * extra call (its applications) every refresh interval. Everything is retried at the
 * next tick when the manager is away: the data plane never waits for the control plane.
 */
#ifndef DF_RPC_MGR_LINK_H
#define DF_RPC_MGR_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "df/df_conf.h"
#include "df/df_err.h"

struct event_base;
struct evdns_base;
struct net_tls_ctx;
struct rpc_mgr_link;

/* The answer of the registration or of a refresh (borrowed for the callback). */
typedef void rpc_mgr_link_answer_fn(const cJSON *resp, void *arg);

/*
 * The link speaks the manager's messages without knowing them: the caller builds them
 * (df/proto_mgr.h) and names their methods. Messages are copied.
 */
struct rpc_mgr_link_opts {
    const char *addr;        /* the manager's RPC address, "host:port" */
    struct net_tls_ctx *tls; /* cluster mTLS */
    unsigned expect_roles;   /* with tls: the roles the server must hold (NET_TLS_ROLE_BIT) */
    const char *what;        /* for the log: "scheduler" */
    const char *hostname;    /* for the log */
    const char *register_path, *keepalive_path, *refresh_path; /* refresh: may be NULL */
    const cJSON *register_msg, *keepalive_msg, *refresh_msg;
    int64_t keepalive_ms;              /* 0 = 5 s */
    int64_t refresh_ms;                /* 0 = 1 min */
    rpc_mgr_link_answer_fn *on_answer; /* may be NULL */
    /*
     * A second call repeated with the refresh (a scheduler's ListApplications); NULL path:
     * none. on_extra gets its answer, or NULL when the manager answers NotFound or
     * Unimplemented (it has nothing to give); other failures are retried at the next tick.
     */
    const char *extra_path;
    const cJSON *extra_msg;
    rpc_mgr_link_answer_fn *on_extra;
    void *arg;
};

/*
 * The config keys every role with a manager link has: manager.addr (--manager) and
 * manager.refreshInterval, at the offsets of a char * and an int64_t ms field; what means
 * what for the role is in help.
 */
#define RPC_MGR_LINK_CONF_ENTRIES(addr_off, refresh_off, addr_help, refresh_help)            \
    {.key = "manager.addr",                                                                  \
     .flag = "manager",                                                                      \
     .type = DF_CONF_STRING,                                                                 \
     .offset = (addr_off),                                                                   \
     .metavar = "ADDR",                                                                      \
     .help = addr_help},                                                                     \
    {                                                                                        \
        .key = "manager.refreshInterval", .type = DF_CONF_DURATION, .offset = (refresh_off), \
        .def = "1m", .min = 100, .max = INT64_C(24) * 3600 * 1000, .help = refresh_help      \
    }

/* Start the link on base. Returns 0 and *out, or DF_EINVAL with a message in err. */
int rpc_mgr_link_new(struct event_base *base, struct evdns_base *dns,
                     const struct rpc_mgr_link_opts *opts, struct rpc_mgr_link **out,
                     struct df_error *err);

/* True once the manager accepted the registration and a keepalive went out. */
bool rpc_mgr_link_is_alive(const struct rpc_mgr_link *l);

/* Stop: the KeepAlive stream ends (the manager marks the host inactive); NULL is a no-op. */
void rpc_mgr_link_free(struct rpc_mgr_link *l);

#endif
