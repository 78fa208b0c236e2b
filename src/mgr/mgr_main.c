/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly manager`: the configuration table, start-up (the database, then the REST
 * listener that also serves /healthy and /metrics, then the ready file) and graceful stop.
 * Everything after start-up runs on the one event loop owned by struct mgr; the state is
 * in the sqlite database of the data dir, so a restart with the same dir carries on.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "df/df_conf.h"
#include "df/df_digest.h"
#include "df/df_metrics.h"
#include "df/df_proc.h"
#include "df/df_work.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_addr.h"
#include "df/net_listener.h"
#include "df/roles.h"
#include "df/rpc_server.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"
#include "mgr.h"

#define F(x) offsetof(struct mgr_main_config, x)

static const struct df_conf_entry mgr_entries[] = {
        {.key = "listen",
         .type = DF_CONF_STRING,
         .offset = F(listen),
         .def = "0.0.0.0:8080",
         .metavar = "ADDR",
         .help = "REST address, also /healthy, /readyz and /metrics (ip:port; port 0 binds any)"},
        {.key = "dataDir",
         .type = DF_CONF_STRING,
         .offset = F(data_dir),
         .def = "/var/lib/dragonfly-manager",
         .metavar = "DIR",
         .help = "private directory of the database (manager.db)"},
        {.key = "readyFile",
         .type = DF_CONF_STRING,
         .offset = F(ready_file),
         .metavar = "PATH",
         .help = "write the bound addresses as JSON here once listening"},
        {.key = "auth.jwt.key",
         .type = DF_CONF_STRING,
         .offset = F(jwt_key),
         .metavar = "KEY",
         .flags = DF_CONF_SECRET,
         .help = "HS256 key of the tokens (at least 32 bytes); unset: a random key kept in the "
                 "database"},
        {.key = "auth.jwt.timeout",
         .type = DF_CONF_DURATION,
         .offset = F(jwt_timeout),
         .def = "336h",
         .min = 1000,
         .max = INT64_C(10) * 365 * 24 * 3600 * 1000,
         .help = "how long a token is valid"},
        {.key = "auth.jwt.maxRefresh",
         .type = DF_CONF_DURATION,
         .offset = F(jwt_max_refresh),
         .def = "168h",
         .min = 0,
         .max = INT64_C(10) * 365 * 24 * 3600 * 1000,
         .help = "how long after sign-in an expired token may still be refreshed"},
        {.key = "auth.passwordIterations",
         .type = DF_CONF_INT,
         .offset = F(kdf_iterations),
         .def = "100000",
         .min = 1000,
         .max = 10000000,
         .help = "PBKDF2-HMAC-SHA256 iterations of new password hashes"},
        {.key = "server.maxBody",
         .type = DF_CONF_SIZE,
         .offset = F(max_body),
         .def = "1MiB",
         .min = 1024,
         .max = 64 << 20,
         .help = "largest request body; more is refused with 413"},
        {.key = "rpcListen",
         .type = DF_CONF_STRING,
         .offset = F(rpc_listen),
         .def = "0.0.0.0:65003",
         .metavar = "ADDR",
         .help = "address of manager.v2.Manager, where schedulers and seed peers register and "
                 "peers find their scheduler (ip:port; port 0 binds any)"},
        {.key = "keepAlive.timeout",
         .type = DF_CONF_DURATION,
         .offset = F(keepalive_timeout),
         .def = "15s",
         .min = 1000,
         .max = 3600 * 1000,
         .help = "a scheduler or seed peer reads inactive this long after its last keepalive "
                 "(they send one every 5s), or at once when its keepalive stream ends"},
        RPC_TLS_CONF_ENTRIES(F(tls)),
        {.key = "job.caFile",
         .type = DF_CONF_STRING,
         .offset = F(job_ca),
         .metavar = "PATH",
         .help = "PEM trust anchors for the registries of image preheats (unset: the system's)"},
        {.key = "job.maxLive",
         .type = DF_CONF_INT,
         .offset = F(job_max_live),
         .def = "1000",
         .min = 1,
         .max = 100000,
         .help = "unfinished jobs at once; a job created beyond is refused with 429"},
        {.key = "job.allow",
         .type = DF_CONF_LIST,
         .offset = F(job_allow),
         .metavar = "NET",
         .help = "CIDRs, addresses and host names (*.example.com) a preheat's registry may be at "
                 "although denied by default (loopback, link-local, this host's addresses)"},
        {.key = "job.deny",
         .type = DF_CONF_LIST,
         .offset = F(job_deny),
         .metavar = "NET",
         .help = "CIDRs, addresses and host names a preheat's registry (or its token realm) may "
                 "never be at (wins over job.allow)"},
        {.key = "gc.interval",
         .type = DF_CONF_DURATION,
         .offset = F(gc_interval),
         .def = "1h",
         .min = 1000,
         .max = INT64_C(7) * 24 * 3600 * 1000,
         .help = "how often audit rows and finished jobs older than the TTLs of the config "
                 "named gc are removed (POST /api/v1/jobs {\"type\":\"gc\"} runs it at once)"},
        {.key = "harbor.openLegacyRoutes",
         .type = DF_CONF_BOOL,
         .offset = F(harbor_open),
         .help = "serve Harbor <= 2.11's POST /preheats and GET /preheats/:id without a token "
                 "(its auth mode NONE); by default they need a personal access token with "
                 "scope job"},
        {.key = "ca.cert",
         .type = DF_CONF_STRING,
         .offset = F(ca_cert),
         .metavar = "PATH",
         .help = "the cluster CA certificate (`dragonfly cert ca`): the manager signs the "
                 "certificates of hosts that join with a join token (unset: it issues none)"},
        {.key = "ca.key",
         .type = DF_CONF_STRING,
         .offset = F(ca_key),
         .metavar = "PATH",
         .help = "private key of ca.cert"},
        {.key = "ca.certValidity",
         .type = DF_CONF_DURATION,
         .offset = F(ca_validity),
         .def = "168h",
         .min = 1000,
         .max = INT64_C(365) * 24 * 3600 * 1000,
         .help = "how long a certificate issued to a host is valid (hosts renew it when 2/3 "
                 "of that have passed)"},
        {.key = "ca.joinTokenMaxAge",
         .type = DF_CONF_DURATION,
         .offset = F(ca_token_max),
         .def = "168h",
         .min = MGR_CA_TOKEN_MIN_S * 1000,
         .max = INT64_C(365) * 24 * 3600 * 1000,
         .help = "the longest expires_in a join token may be created with"},
        {.key = "ca.joinListen",
         .type = DF_CONF_STRING,
         .offset = F(ca_join_listen),
         .def = "0.0.0.0:65004",
         .metavar = "ADDR",
         .help = "with ca.cert: manager.v2 over TLS without client certificates, where hosts "
                 "get the CA and their certificate (--join-addr of scheduler and peer)"},
        LOG_CONF_ENTRIES(F(log_level), F(log_file)),
        LOG_FORMAT_CONF_ENTRY(F(log_format)),
        {.key = "log.debug",
         .flag = "log-debug",
         .type = DF_CONF_STRING,
         .offset = F(log_debug),
         .metavar = "MODS",
         .help = "debug modules (\"http,store\" or \"all\")"},
};

static const struct df_conf_spec mgr_spec = {
        .cmd = "dragonfly manager",
        .summary = "The manager: clusters, users and roles, on one sqlite database, behind the "
                   "REST API of Dragonfly's manager (/api/v1). `dragonfly manager --routes` "
                   "lists the routes with the access each requires.",
        .entries = mgr_entries,
        .n_entries = DF_NELEM(mgr_entries),
        .size = sizeof(struct mgr_main_config),
};

/* True when the RPC address is a loopback one ("127.0.1.1:0"): nobody else reaches it. */
static bool
mgr_config_local(const char *addr)
{
    char ip[64];
    const char *colon = strrchr(addr, ':');
    size_t n = colon != NULL ? (size_t)(colon - addr) : 0;

    if (n == 0 || n >= sizeof(ip))
        return false;
    memcpy(ip, addr, n);
    ip[n] = '\0';
    if (ip[0] == '[' && n > 2 && ip[n - 1] == ']') {
        memmove(ip, ip + 1, n - 2);
        ip[n - 2] = '\0';
    }
    return net_addr_is_loopback(ip);
}

static int
mgr_config_check(const struct mgr_main_config *cfg, struct df_error *err)
{
    if (cfg->jwt_key != NULL && strlen(cfg->jwt_key) < MGR_JWT_KEY_LEN)
        return df_error_set(err, DF_EINVAL, "auth.jwt.key: at least %d bytes, not %zu",
                            MGR_JWT_KEY_LEN, strlen(cfg->jwt_key));
    if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0')
        return df_error_set(err, DF_EINVAL, "dataDir: required");
    if (cfg->rpc_listen == NULL || cfg->rpc_listen[0] == '\0')
        return df_error_set(err, DF_EINVAL, "rpcListen: required");
    /* as every role: hosts that others reach run mTLS, or plaintext chosen out loud */
    return rpc_tls_conf_check(&cfg->tls, mgr_config_local(cfg->rpc_listen), err);
}

static double
mgr_main_conns(void *arg)
{
    const struct mgr *ctx = arg;

    return ctx->http != NULL ? net_http_server_conn_count(ctx->http) : 0;
}

static void
mgr_main_metrics(struct mgr *ctx)
{
    ctx->metrics = df_metrics_new();
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_requests_total",
                       "REST requests received", &ctx->requests);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_denied_total",
                       "REST requests refused for a missing or bad token or permission",
                       &ctx->denied);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_password_hashes_total",
                       "password hashes computed (sign-in, sign-up, reset)", &ctx->kdf_jobs);
    df_metrics_u64_new(
            ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_password_hashes_refused_total",
            "sign-ins, sign-ups and resets refused with 429 while the hash queue was full",
            &ctx->kdf_refused);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_jobs_created_total",
                       "jobs created", &ctx->jobs_created);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_jobs_succeeded_total",
                       "jobs ended in SUCCESS", &ctx->jobs_succeeded);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_jobs_failed_total",
                       "jobs ended in FAILURE", &ctx->jobs_failed);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_jobs_limited_total",
                       "job creations refused with 429", &ctx->jobs_limited);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_audits_total",
                       "REST requests written to the audit log", &ctx->audited);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_audits_dropped_total",
                       "audit rows dropped: a burst beyond the queue of one loop turn",
                       &ctx->audit_dropped);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER, "dragonfly_manager_gc_purged_total",
                       "audit rows and finished jobs removed by the GC", &ctx->gc_purged);
    df_metrics_fn_new(ctx->metrics, "dragonfly_manager_connections", "open REST connections",
                      mgr_main_conns, ctx);
}

/* Start everything on ctx->base; on failure a message is in err. */
static int
mgr_start(struct mgr *ctx, struct df_error *err)
{
    struct net_http_server_opts hopts;
    const char *const *groups;
    size_t ngroups;
    int rv;

    if ((rv = mgr_config_check(&ctx->cfg, err)) != 0)
        return rv;
    if ((rv = mgr_api_init(ctx)) != 0)
        return df_error_set(err, rv, "manager: bad route table");
    groups = mgr_api_groups(&ngroups);
    if ((rv = mgr_db_open(ctx->cfg.data_dir, (unsigned)ctx->cfg.kdf_iterations, groups, ngroups,
                          ctx->jwt_key, ctx->pat_key, &ctx->db, err)) != 0)
        return rv;
    if ((rv = mgr_job_init(ctx, err)) != 0 || (rv = mgr_ca_init(ctx, err)) != 0)
        return rv;
    if ((rv = mgr_audit_init(ctx)) != 0 || (rv = mgr_gc_init(ctx)) != 0)
        return df_error_set(err, rv, "manager: cannot set up the audit log and its GC");
    if (ctx->cfg.jwt_key != NULL) {
        /* a configured key is hashed to our key length: any length >= 32 works */
        df_sha256(ctx->cfg.jwt_key, strlen(ctx->cfg.jwt_key), ctx->jwt_key);
    }
    /* at start, not on the loop: a sign-in of an unknown name costs as much as a real one */
    if ((rv = mgr_pw_hash_new("-", (unsigned)ctx->cfg.kdf_iterations, ctx->dummy_hash)) != 0)
        return df_error_set(err, rv, "cannot hash: %s", df_strerror(rv));
    /* Password hashing takes ~0.2 s of CPU: two threads at most, off the loop. */
    if ((ctx->work = df_work_pool_new(ctx->base, 2)) == NULL)
        return df_error_set(err, DF_ENOMEM, "out of memory");
    mgr_main_metrics(ctx);
    memset(&hopts, 0, sizeof(hopts));
    hopts.name = "rest";
    hopts.max_body = (uint64_t)ctx->cfg.max_body;
    if ((rv = net_http_server_new(ctx->base, &hopts, mgr_api_request_cb, ctx, &ctx->http)) != 0)
        return df_error_set(err, rv, "rest: cannot create the server");
    if ((rv = net_listener_new(ctx->base, ctx->cfg.listen, 0, net_http_server_accept_cb, ctx->http,
                               &ctx->listener, err)) != 0)
        return rv;
    if ((rv = mgr_rpc_start(ctx, err)) != 0 || (rv = mgr_ca_rpc_start(ctx, err)) != 0)
        return rv;
    log_info("manager: ready: rest %s, rpc %s, data dir %s", net_listener_addr(ctx->listener),
             rpc_server_addr(ctx->rpc, 0), ctx->cfg.data_dir);
    return 0;
}

void
mgr_free(struct mgr *ctx)
{
    if (ctx == NULL)
        return;
    ctx->stopping = true;
    /* jobs first: their calls to seed peers use the RPC's client TLS context */
    mgr_job_reset(ctx);
    mgr_rpc_free(ctx); /* its open streams write their hosts inactive: before the db goes */
    mgr_ca_free(ctx);
    net_listener_free(ctx->listener);
    net_http_server_free(ctx->http);
    /* after the server: jobs whose request is gone find nothing to answer; the pool runs
     * no done callback once the loop is over, so their jobs are freed here */
    df_work_pool_free(ctx->work);
    mgr_user_reset(ctx);
    mgr_gc_reset(ctx);
    mgr_audit_reset(ctx); /* after the server: the last answers' rows are queued */
    store_sql_close(ctx->db);
    df_metrics_free(ctx->metrics);
    free(ctx->routes);
    free(ctx->route_of);
    free(ctx->jwt_cache);
    if (ctx->out != NULL)
        free(ctx->out->p);
    free(ctx->out);
    free(ctx);
}

struct mgr *
mgr_new(struct event_base *base, const struct mgr_main_config *cfg, struct df_error *err)
{
    struct mgr *ctx = xcalloc(1, sizeof(*ctx));

    ctx->cfg = *cfg;
    ctx->base = base;
    LIST_INIT(&ctx->kdf_live);
    LIST_INIT(&ctx->jobs_live);
    if (mgr_start(ctx, err) != 0) {
        mgr_free(ctx);
        return NULL;
    }
    return ctx;
}

/* `dragonfly manager`: one manager in its own daemon process. */
struct mgr_main {
    struct mgr_main_config *cfg;
    struct mgr *mgr;
    int argc;
    char **argv;
    struct mgr_main_config *next; /* during a reload: the settings read again */
};

/* The config of argv, checked, into a new *out. Returns 0 or -1 with err set. */
static int
mgr_main_config_load(int argc, char **argv, struct mgr_main_config **out, struct df_conf_args *args,
                     struct df_error *err)
{
    struct mgr_main_config *cfg = xcalloc(1, sizeof(*cfg));

    if (df_conf_load(&mgr_spec, cfg, argc, argv, args, err) != 0) {
        free(cfg);
        return -1;
    }
    if (!args->help && mgr_config_check(cfg, err) != 0) {
        df_conf_args_reset(args);
        df_conf_reset(&mgr_spec, cfg);
        free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

static void
mgr_main_config_free(struct mgr_main_config *cfg)
{
    if (cfg == NULL)
        return;
    df_conf_reset(&mgr_spec, cfg);
    free(cfg);
}

struct mgr_main_config *
mgr_config_new(int argc, char **argv, struct df_error *err)
{
    struct mgr_main_config *cfg;
    struct df_conf_args args;

    if (mgr_main_config_load(argc, argv, &cfg, &args, err) != 0)
        return NULL;
    if (args.help || args.check_config) {
        df_error_set(err, DF_EINVAL, "--help and --check-config are not component flags");
        mgr_main_config_free(cfg);
        cfg = NULL;
    }
    df_conf_args_reset(&args);
    return cfg;
}

void
mgr_config_free(struct mgr_main_config *cfg)
{
    mgr_main_config_free(cfg);
}

static int
mgr_main_start(void *arg, struct event_base *base, struct df_error *err)
{
    struct mgr_main *m = arg;

    return (m->mgr = mgr_new(base, m->cfg, err)) != NULL ? 0 : 1;
}

void
mgr_addrs(const struct mgr *ctx, cJSON *doc)
{
    cJSON_AddStringToObject(doc, "rest", net_listener_addr(ctx->listener));
    cJSON_AddStringToObject(doc, "rpc", rpc_server_addr(ctx->rpc, 0));
    if (mgr_ca_join_addr(ctx) != NULL)
        cJSON_AddStringToObject(doc, "join", mgr_ca_join_addr(ctx));
}

static void
mgr_main_ready(void *arg, cJSON *doc)
{
    struct mgr_main *m = arg;

    mgr_addrs(m->mgr, doc);
}

void
mgr_stop(struct mgr *ctx, void (*done)(void *), void *arg)
{
    if (!ctx->stopping) {
        log_info("manager: stopping");
        ctx->stopping = true;
        net_listener_disable(ctx->listener);
        mgr_rpc_shutdown(ctx);
    }
    done(arg);
}

static void
mgr_main_stop(void *arg, void (*done)(void *), void *done_arg)
{
    struct mgr_main *m = arg;

    mgr_stop(m->mgr, done, done_arg);
}

static void
mgr_main_reload_key(const struct df_conf_entry *e, void *arg)
{
    struct mgr_main *m = arg;

    if (!df_proc_reload_log_key("manager", e->key, &m->cfg->log_level, &m->cfg->log_debug,
                                m->next->log_level, &m->next->log_debug))
        log_warnx("manager: reload: %s changed: it takes effect after a restart", e->key);
}

/* SIGHUP (after the log file was reopened): read the config again, apply the log settings. */
static void
mgr_main_reload(void *arg)
{
    struct mgr_main *m = arg;
    struct df_conf_args args;
    struct df_error err;
    int n;

    if (mgr_main_config_load(m->argc, m->argv, &m->next, &args, &err) != 0) {
        log_warnx("manager: reload: %s; the running configuration stays", err.msg);
        return;
    }
    df_conf_args_reset(&args);
    n = df_conf_diff(&mgr_spec, m->cfg, m->next, mgr_main_reload_key, m);
    if (n == 0)
        log_info("manager: reload: no setting changed");
    else if (n < 0)
        log_warnx("manager: reload: out of memory comparing the settings");
    m->mgr->cfg.log_level = m->cfg->log_level; /* its copy shares the strings */
    m->mgr->cfg.log_debug = m->cfg->log_debug;
    mgr_main_config_free(m->next);
    m->next = NULL;
}

static void
mgr_main_free(void *arg)
{
    struct mgr_main *m = arg;

    mgr_free(m->mgr);
    m->mgr = NULL;
}

/* `--routes`: every route, its access rule and RBAC group, one per line (tests read it). */
static void
mgr_main_print_routes(void)
{
    const struct mgr_route *r;
    char group[32];
    size_t n;

    r = mgr_api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        if (r[i].access == MGR_ACCESS_OPEN)
            printf("%s %s open\n", r[i].method, r[i].pattern);
        else if (r[i].access == MGR_ACCESS_PAT)
            printf("%s %s pat\n", r[i].method, r[i].pattern);
        else if (r[i].access == MGR_ACCESS_LEGACY)
            printf("%s %s legacy\n", r[i].method, r[i].pattern);
        else if (mgr_api_group(r[i].pattern, group, sizeof(group)) == 0)
            printf("%s %s %s %s\n", r[i].method, r[i].pattern,
                   r[i].access == MGR_ACCESS_ROOT ? "root" : "jwt", group);
        else
            printf("%s %s jwt (no group: nobody)\n", r[i].method, r[i].pattern);
    }
}

int
mgr_main(int argc, char **argv)
{
    struct mgr_main m = {NULL, NULL, argc, argv, NULL};
    struct df_proc_daemon d;
    struct df_conf_args args;
    struct df_error err;
    char *json;
    int rv = 0;

    if (argc == 2 && strcmp(argv[1], "--routes") == 0) {
        mgr_main_print_routes();
        return 0;
    }
    if (mgr_main_config_load(argc, argv, &m.cfg, &args, &err) != 0) {
        fprintf(stderr, "dragonfly manager: %s\n", err.msg);
        return 2;
    }
    if (args.help) {
        df_conf_usage(&mgr_spec, stdout);
    } else if (args.check_config) {
        json = df_conf_to_json(&mgr_spec, m.cfg);
        printf("%s\n", json);
        free(json);
    } else {
        memset(&d, 0, sizeof(d));
        d.cmd = "dragonfly manager";
        d.component = "manager";
        d.log_level = m.cfg->log_level;
        d.log_format = m.cfg->log_format;
        d.log_file = m.cfg->log_file;
        d.log_debug = m.cfg->log_debug;
        d.ready_file = m.cfg->ready_file;
        d.start = mgr_main_start;
        d.ready = mgr_main_ready;
        d.stop = mgr_main_stop;
        d.reload = mgr_main_reload;
        d.free = mgr_main_free;
        d.arg = &m;
        rv = df_proc_daemon_run(&d);
    }
    df_conf_args_reset(&args);
    mgr_main_config_free(m.cfg);
    return rv;
}
