/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly scheduler`: the configuration table, start-up (RPC listener, metrics listener,
 * ready file), the tick and GC timers, and graceful stop. Everything after start-up runs
 * on the one event loop owned by struct sched; the state lives only in memory, and
 * peers re-announce after a restart.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_conf.h"
#include "df/df_json.h"
#include "df/df_metrics.h"
#include "df/df_proc.h"
#include "df/log.h"
#include "df/net_connect.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"
#include "df/net_route.h"
#include "df/net_tls.h"
#include "df/roles.h"
#include "df/rpc_mgr_link.h"
#include "df/rpc_server.h"
#include "df/proto_mgr.h"
#include "df/rpc_tls.h"
#include "df/xmalloc.h"
#include "sched.h"

#define F(x) offsetof(struct sched_main_config, x)

#define SCHED_U32(k, fl, field, d, lo, hi, h)                                                 \
    {                                                                                         \
        .key = "scheduler." k, .flag = fl, .type = DF_CONF_INT, .offset = F(field), .def = d, \
        .min = lo, .max = hi, .help = h                                                       \
    }
#define SCHED_DUR(k, fl, field, d, lo, h)                                                          \
    {                                                                                              \
        .key = "scheduler." k, .flag = fl, .type = DF_CONF_DURATION, .offset = F(field), .def = d, \
        .min = lo, .max = INT64_C(10) * 365 * 24 * 3600 * 1000, .help = h                          \
    }

static const struct df_conf_entry sched_entries[] = {
        {.key = "listen",
         .type = DF_CONF_STRING,
         .offset = F(listen),
         .def = "0.0.0.0:8002",
         .metavar = "ADDR",
         .help = "RPC address (ip:port; port 0 binds any)"},
        {.key = "metricsListen",
         .type = DF_CONF_STRING,
         .offset = F(metrics_listen),
         .def = "0.0.0.0:8000",
         .metavar = "ADDR",
         .help = "HTTP address of /metrics, /healthy and /readyz (ip:port; port 0 binds any)"},
        {.key = "readyFile",
         .type = DF_CONF_STRING,
         .offset = F(ready_file),
         .metavar = "PATH",
         .help = "write the bound addresses as JSON here once listening"},
        RPC_TLS_CONF_ENTRIES(F(tls)),
        RPC_JOIN_CONF_ENTRIES(F(join), "where the certificate of --join-token is kept "
                                       "(required with it)"),
        RPC_MGR_LINK_CONF_ENTRIES(F(manager), F(manager_refresh),
                                  "the manager's RPC address (host:65003): register there, keep "
                                  "alive and apply the cluster's config",
                                  "how often the cluster's config is read again from the manager"),
        {.key = "manager.schedulerClusterId",
         .flag = "scheduler-cluster-id",
         .type = DF_CONF_INT,
         .offset = F(manager_cluster_id),
         .def = "1",
         .min = 1,
         .max = INT64_MAX,
         .help = "the scheduler cluster this scheduler belongs to"},
        {.key = "manager.keepAliveInterval",
         .type = DF_CONF_DURATION,
         .offset = F(manager_keepalive),
         .def = "5s",
         .min = 100,
         .max = 3600 * 1000,
         .help = "how often a keepalive goes to the manager"},
        {.key = "advertiseIP",
         .flag = "advertise-ip",
         .type = DF_CONF_STRING,
         .offset = F(advertise_ip),
         .metavar = "IP",
         .help = "the address peers reach this scheduler at, told to the manager (default: the "
                 "listen address's)"},
        {.key = "hostname",
         .type = DF_CONF_STRING,
         .offset = F(hostname),
         .metavar = "NAME",
         .help = "the name given to the manager (default: this host's)"},
        SCHED_DUR("tickInterval", "tick-interval", tick_interval, "200ms", 10,
                  "how often parents are re-planned and stalls detected"),
        SCHED_DUR("gcInterval", "gc-interval", gc_interval, "1m", 100,
                  "how often idle peers, silent hosts and empty tasks are collected"),
        SCHED_DUR("seedDeadline", "seed-deadline", seed_deadline, "6h", 1000,
                  "longest DownloadTask call to a seed peer"),
        SCHED_U32("maxHosts", "max-hosts", max_hosts, "10000", 1, UINT32_MAX,
                  "hosts known at once"),
        SCHED_U32("maxHostsPerSource", "max-hosts-per-source", max_hosts_per_source, "256", 0,
                  UINT32_MAX,
                  "hosts announced from one caller IP at once (0: no quota); a full table "
                  "evicts silent hosts that serve nothing"),
        SCHED_U32("maxTasks", "max-tasks", max_tasks, "100000", 1, UINT32_MAX,
                  "tasks known at once"),
        SCHED_U32("maxPeers", "max-peers", max_peers, "200000", 1, UINT32_MAX,
                  "peers known at once"),
        SCHED_U32("maxPeersPerTask", "max-peers-per-task", max_peers_per_task, "10000", 1,
                  UINT32_MAX, "peers of one task"),
        SCHED_U32("maxParents", "max-parents", max_parents, "4", 1, SCHED_PARENTS_MAX,
                  "parents per child"),
        SCHED_U32("maxBackToSource", "max-back-to-source", max_back_to_source, "1", 0, 1000,
                  "peers of one task fetching from the origin at once"),
        SCHED_U32("maxStrikes", "max-strikes", max_strikes, "3", 1, 1000,
                  "piece failures before a parent is blocked for the task"),
        SCHED_U32("maxBlocklist", "max-blocklist", max_blocklist, "64", 1, 100000,
                  "entries in one peer's block-list"),
        SCHED_U32("seedFanout", "seed-fanout", seed_fanout, "1", 0, 100000,
                  "children a seed peer takes before it is the last resort"),
        SCHED_U32("peerFanout", "peer-fanout", peer_fanout, "1", 0, 100000,
                  "children a normal peer takes in one task unless a child has no other "
                  "candidate (0: no limit)"),
        SCHED_DUR("seedWait", "seed-wait", seed_wait, "20s", 0,
                  "how long a child without candidates waits before a seed is the last resort"),
        SCHED_U32("maxPieceCount", "max-piece-count", max_piece_count, "262144", 1, SCHED_PIECE_MAX,
                  "pieces of one task"),
        SCHED_DUR("stallTimeout", "stall-timeout", stall_timeout, "20s", 1,
                  "a parent without progress this long is replaced"),
        SCHED_DUR("waitTimeout", "wait-timeout", wait_timeout, "1m", 1,
                  "a peer waiting for parents this long goes back to source"),
        SCHED_DUR("seedTimeout", "seed-timeout", seed_timeout, "15s", 1,
                  "a triggered seed must register within this"),
        SCHED_DUR("peerTTL", "peer-ttl", peer_ttl, "24h", 1, "idle peers are collected after this"),
        SCHED_DUR("hostAnnounceInterval", "host-announce-interval", host_announce_interval, "1m", 1,
                  "hosts silent for twice this are collected"),
        SCHED_DUR(
                "startupGrace", "startup-grace", startup_grace, "10s", 0,
                "after a start, peers of a task without a source wait this long for seed hosts to "
                "announce before going to the origin (0: no wait)"),
        SCHED_DUR("taskTTL", "task-ttl", task_ttl, "30m", 1,
                  "tasks without peers are kept this long"),
        RPC_SERVER_CONF_ENTRIES(F(rpc), "256"),
        LOG_CONF_ENTRIES(F(log_level), F(log_file)),
        LOG_FORMAT_CONF_ENTRY(F(log_format)),
        {.key = "log.debug",
         .flag = "log-debug",
         .type = DF_CONF_STRING,
         .offset = F(log_debug),
         .metavar = "MODS",
         .help = "debug modules (\"sched,rpc\" or \"all\")"},
};

static const struct df_conf_spec sched_spec = {
        .cmd = "dragonfly scheduler",
        .summary = "The scheduler: tracks hosts, tasks and peers in memory and tells every peer "
                   "which parents to fetch pieces from, or to go back to the origin.",
        .entries = sched_entries,
        .n_entries = DF_NELEM(sched_entries),
        .size = sizeof(struct sched_main_config),
};

static void
sched_main_config_copy(const struct sched_main_config *m, struct sched_config *c)
{
    sched_config_default(c);
    c->max_hosts = (uint32_t)m->max_hosts;
    c->max_hosts_per_source = (uint32_t)m->max_hosts_per_source;
    c->max_tasks = (uint32_t)m->max_tasks;
    c->max_peers = (uint32_t)m->max_peers;
    c->max_peers_per_task = (uint32_t)m->max_peers_per_task;
    c->max_parents = (uint32_t)m->max_parents;
    c->max_back_to_source = (uint32_t)m->max_back_to_source;
    c->max_strikes = (uint32_t)m->max_strikes;
    c->max_blocklist = (uint32_t)m->max_blocklist;
    c->seed_fanout = (uint32_t)m->seed_fanout;
    c->peer_fanout = (uint32_t)m->peer_fanout;
    c->seed_wait = m->seed_wait;
    c->max_piece_count = (uint32_t)m->max_piece_count;
    c->stall_timeout = m->stall_timeout;
    c->wait_timeout = m->wait_timeout;
    c->seed_timeout = m->seed_timeout;
    c->peer_ttl = m->peer_ttl;
    c->host_announce_interval = m->host_announce_interval;
    c->task_ttl = m->task_ttl;
    c->startup_grace = m->startup_grace;
}

static void
sched_main_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sched_rpc_tick(arg);
}

static void
sched_main_gc_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sched_rpc_gc(arg);
}

static void
sched_main_metrics_cb(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    const struct sched *ctx = arg;

    (void)m;
    net_route_reply_metrics(req, ctx->metrics);
}

/* Ready: listening (we answer) and not stopping. The scheduler needs nothing else to serve. */
static void
sched_main_readyz_cb(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    const struct sched *ctx = arg;

    (void)m;
    net_route_reply_text(req, ctx->stopping ? 503 : 200, ctx->stopping ? "stopping\n" : "OK");
}

static void
sched_main_http_cb(struct net_http_req *req, void *arg)
{
    static const struct net_route routes[] = {
            {"GET", "/metrics", sched_main_metrics_cb},
            {"GET", "/healthy", net_route_healthy},
            {"GET", "/readyz", sched_main_readyz_cb},
    };

    net_route_dispatch(req, routes, DF_NELEM(routes), arg);
}

/* The addresses sched serves, into a ready file or `dragonfly up`'s summary. */
void
sched_addrs(const struct sched *ctx, cJSON *doc)
{
    cJSON_AddStringToObject(doc, "rpc", rpc_server_addr(ctx->rpc, 0));
    cJSON_AddStringToObject(doc, "metrics", net_listener_addr(ctx->metrics_listener));
}

static struct timeval
sched_main_tv(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

    return tv;
}

/* Start everything on ctx->base; on failure a message is in err. */
static int
sched_start(struct sched *ctx, struct df_error *err)
{
    struct rpc_server_opts ropts;
    struct net_http_server_opts hopts;
    struct rpc_join_host join = {0};
    struct timeval tv;
    int rv;

    if ((rv = sched_config_check(&ctx->scfg, err)) != 0)
        return rv;
    if ((ctx->dns = net_dns_new(ctx->base)) == NULL)
        return df_error_set(err, DF_ENOMEM, "cannot create the resolver");
    ctx->state = sched_state_new(&ctx->scfg);
    ctx->metrics = sched_metrics_new(ctx);
    memset(&ropts, 0, sizeof(ropts));
    rpc_server_conf_apply(&ctx->cfg.rpc, &ropts);
    /* A register may be answered with every digest of a large task at once. */
    ropts.max_stream_out = 64u << 20;
    ctx->rpc = rpc_server_new(ctx->base, &ropts);
    if ((rv = sched_rpc_init(ctx)) != 0 || (rv = sched_list_init(ctx)) != 0)
        return df_error_set(err, rv, "rpc: cannot register methods");
    join.role = NET_TLS_ROLE_SCHEDULER;
    join.host = ctx->cfg.hostname;
    join.cluster_id = ctx->cfg.manager_cluster_id;
    join.get_ca_path = PROTO_MGR_GET_CA_CERTIFICATE;
    join.issue_path = PROTO_MGR_ISSUE_CERTIFICATE;
    if ((rv = rpc_join_ensure(&ctx->cfg.join, &join, err)) != 0 ||
        (rv = rpc_tls_setup(&ctx->cfg.tls, "scheduler", &ctx->tls_server, &ctx->tls_client, err)) !=
                0)
        return rv;
    {
        /* what renewals reload and revocations apply to: every context with our identity */
        struct net_tls_ctx *own[] = {ctx->tls_server, ctx->tls_client};

        if ((rv = rpc_join_renewer_new(ctx->base, &ctx->cfg.join, &join, own, DF_NELEM(own),
                                       &ctx->renewer, err)) != 0)
            return rv;
        if (ctx->cfg.manager != NULL && ctx->tls_client != NULL &&
            (rv = rpc_join_revoker_new(ctx->base, ctx->dns, ctx->cfg.manager, ctx->tls_client,
                                       PROTO_MGR_LIST_REVOKED_CERTIFICATES,
                                       ctx->cfg.join.revoke_refresh, own, DF_NELEM(own),
                                       "scheduler", &ctx->revoker, err)) != 0)
            return rv;
    }
    if ((rv = rpc_server_listen(ctx->rpc, ctx->cfg.listen, ctx->tls_server, err)) != 0)
        return rv;
    memset(&hopts, 0, sizeof(hopts));
    hopts.name = "metrics";
    if ((rv = net_http_server_new(ctx->base, &hopts, sched_main_http_cb, ctx,
                                  &ctx->metrics_http)) != 0)
        return df_error_set(err, rv, "metrics: cannot create the server");
    if ((rv = net_listener_new(ctx->base, ctx->cfg.metrics_listen, 0, net_http_server_accept_cb,
                               ctx->metrics_http, &ctx->metrics_listener, err)) != 0)
        return rv;
    if ((rv = sched_manager_start(ctx, err)) != 0)
        return rv;
    ctx->tick_timer = event_new(ctx->base, -1, EV_PERSIST, sched_main_tick_cb, ctx);
    ctx->gc_timer = event_new(ctx->base, -1, EV_PERSIST, sched_main_gc_cb, ctx);
    if (ctx->tick_timer == NULL || ctx->gc_timer == NULL)
        return df_error_set(err, DF_ENOMEM, "out of memory");
    tv = sched_main_tv(ctx->cfg.tick_interval);
    event_add(ctx->tick_timer, &tv);
    tv = sched_main_tv(ctx->cfg.gc_interval);
    event_add(ctx->gc_timer, &tv);
    log_info("scheduler: ready: rpc %s, metrics %s", rpc_server_addr(ctx->rpc, 0),
             net_listener_addr(ctx->metrics_listener));
    return 0;
}

struct sched *
sched_new(struct event_base *base, const struct sched_main_config *cfg, struct df_error *err)
{
    struct sched *ctx = xcalloc(1, sizeof(*ctx));

    ctx->cfg = *cfg;
    ctx->base = base;
    sched_main_config_copy(cfg, &ctx->scfg);
    if (sched_start(ctx, err) != 0) {
        sched_free(ctx);
        return NULL;
    }
    return ctx;
}

void
sched_stop(struct sched *ctx, void (*done)(void *), void *arg)
{
    if (!ctx->stopping) {
        log_info("scheduler: stopping");
        ctx->stopping = true;
        if (ctx->tick_timer != NULL)
            event_del(ctx->tick_timer);
        if (ctx->gc_timer != NULL)
            event_del(ctx->gc_timer);
        net_listener_disable(ctx->metrics_listener);
        rpc_server_shutdown(ctx->rpc);
    }
    done(arg);
}

void
sched_free(struct sched *ctx)
{
    if (ctx == NULL)
        return;
    ctx->stopping = true;
    sched_manager_free(ctx);
    rpc_server_free(ctx->rpc);
    sched_rpc_reset(ctx);
    net_listener_free(ctx->metrics_listener);
    net_http_server_free(ctx->metrics_http);
    if (ctx->tick_timer != NULL)
        event_free(ctx->tick_timer);
    if (ctx->gc_timer != NULL)
        event_free(ctx->gc_timer);
    df_metrics_free(ctx->metrics);
    sched_state_free(ctx->state);
    rpc_join_revoker_free(ctx->revoker);
    rpc_join_renewer_free(ctx->renewer);
    net_tls_ctx_free(ctx->tls_server);
    net_tls_ctx_free(ctx->tls_client);
    net_dns_free(ctx->dns);
    free(ctx);
}

/*
 * A join token points tls.* at the certificate directory; the certificate names the host,
 * so the name the manager is told is fixed here (the same gethostname() sched_manager.c
 * would use).
 */
static int
sched_main_join_conf(struct sched_main_config *cfg, struct df_error *err)
{
    char host[256];

    if (cfg->join.token != NULL && cfg->hostname == NULL) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        cfg->hostname = xstrdup(host);
    }
    return rpc_join_conf_apply(&cfg->join, &cfg->tls, NULL, err);
}

/*
 * Load a configuration from flags (and --config FILE) over the defaults, and check it.
 * Returns 0 with *out (free with sched_config_free), or 2 with a message in err; with
 * --help or --check-config, what it asked for is in *args (reset by the caller).
 */
static int
sched_config_load_args(int argc, char **argv, struct sched_main_config **out,
                       struct df_conf_args *args, struct df_error *err)
{
    struct sched_main_config *cfg = xcalloc(1, sizeof(*cfg));
    struct sched_config scfg;

    *out = NULL;
    if (df_conf_load(&sched_spec, cfg, argc, argv, args, err) != 0) {
        free(cfg);
        return 2;
    }
    if (!args->help) {
        sched_main_config_copy(cfg, &scfg);
        /* Every peer talks to the scheduler: plaintext only when chosen. */
        if (sched_config_check(&scfg, err) != 0 || sched_main_join_conf(cfg, err) != 0 ||
            rpc_tls_conf_check(&cfg->tls, false, err) != 0) {
            df_conf_args_reset(args);
            sched_config_free(cfg);
            return 2;
        }
    }
    *out = cfg;
    return 0;
}

struct sched_main_config *
sched_config_new(int argc, char **argv, struct df_error *err)
{
    struct sched_main_config *cfg;
    struct df_conf_args args;

    if (sched_config_load_args(argc, argv, &cfg, &args, err) != 0)
        return NULL;
    if (args.help || args.check_config) {
        df_error_set(err, DF_EINVAL, "--help and --check-config are not component flags");
        sched_config_free(cfg);
        cfg = NULL;
    }
    df_conf_args_reset(&args);
    return cfg;
}

void
sched_config_free(struct sched_main_config *cfg)
{
    if (cfg == NULL)
        return;
    df_conf_reset(&sched_spec, cfg);
    free(cfg);
}

/* `dragonfly scheduler`: one scheduler component in its own daemon process. */
struct sched_main {
    struct sched_main_config *cfg;
    struct sched *sched;
    int argc; /* the command line, read again by a reload (with the file it names) */
    char **argv;
    struct sched_main_config *next; /* while a reload compares: the configuration read again */
};

static int
sched_main_start(void *arg, struct event_base *base, struct df_error *err)
{
    struct sched_main *m = arg;

    return (m->sched = sched_new(base, m->cfg, err)) != NULL ? 0 : 1;
}

static void
sched_main_ready(void *arg, cJSON *doc)
{
    struct sched_main *m = arg;

    sched_addrs(m->sched, doc);
}

static void
sched_main_stop(void *arg, void (*done)(void *), void *done_arg)
{
    struct sched_main *m = arg;

    sched_stop(m->sched, done, done_arg);
}

/* One key a reload changed: the log's apply at once; the rest need a restart (tables are
 * sized and timers armed at start), and the log says so. */
static void
sched_main_reload_key(const struct df_conf_entry *e, void *arg)
{
    struct sched_main *m = arg;

    if (!df_proc_reload_log_key("scheduler", e->key, &m->cfg->log_level, &m->cfg->log_debug,
                                m->next->log_level, &m->next->log_debug))
        log_warnx("scheduler: reload: %s changed: it takes effect after a restart", e->key);
}

/* SIGHUP: read the config file and flags again and apply what may change while running. */
static void
sched_main_reload(void *arg)
{
    struct sched_main *m = arg;
    struct df_conf_args args;
    struct df_error err;
    int n;

    if (sched_config_load_args(m->argc, m->argv, &m->next, &args, &err) != 0) {
        log_warnx("scheduler: reload: %s; the running configuration stays", err.msg);
        return;
    }
    df_conf_args_reset(&args);
    n = df_conf_diff(&sched_spec, m->cfg, m->next, sched_main_reload_key, m);
    if (n == 0)
        log_info("scheduler: reload: no setting changed");
    else if (n < 0)
        log_warnx("scheduler: reload: out of memory comparing the settings");
    m->sched->cfg.log_level = m->cfg->log_level; /* its copy shares the strings */
    m->sched->cfg.log_debug = m->cfg->log_debug;
    sched_config_free(m->next);
    m->next = NULL;
}

static void
sched_main_free(void *arg)
{
    struct sched_main *m = arg;

    sched_free(m->sched);
    m->sched = NULL;
}

int
sched_main(int argc, char **argv)
{
    struct sched_main m = {NULL, NULL, argc, argv, NULL};
    struct df_proc_daemon d;
    struct df_conf_args args;
    struct df_error err;
    char *json;
    int rv;

    if (sched_config_load_args(argc, argv, &m.cfg, &args, &err) != 0) {
        fprintf(stderr, "dragonfly scheduler: %s\n", err.msg);
        return 2;
    }
    if (args.help || args.check_config) {
        if (args.help)
            df_conf_usage(&sched_spec, stdout);
        else {
            json = df_conf_to_json(&sched_spec, m.cfg);
            printf("%s\n", json);
            free(json);
        }
        df_conf_args_reset(&args);
        sched_config_free(m.cfg);
        return 0;
    }
    df_conf_args_reset(&args);
    memset(&d, 0, sizeof(d));
    d.cmd = "dragonfly scheduler";
    d.component = "scheduler";
    d.log_level = m.cfg->log_level;
    d.log_format = m.cfg->log_format;
    d.log_file = m.cfg->log_file;
    d.log_debug = m.cfg->log_debug;
    d.ready_file = m.cfg->ready_file;
    d.reload = sched_main_reload;
    d.start = sched_main_start;
    d.ready = sched_main_ready;
    d.stop = sched_main_stop;
    d.free = sched_main_free;
    d.arg = &m;
    rv = df_proc_daemon_run(&d);
    sched_config_free(m.cfg);
    return rv;
}
