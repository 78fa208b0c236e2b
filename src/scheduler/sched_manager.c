/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler under a manager (--manager ADDR): it registers in its scheduler cluster
 * (UpdateScheduler with its hostname, advertised ip and RPC port), keeps alive every 5 s
 * and applies its cluster's config at registration and every minute (rpc_mgr_link.c):
 *
 *   config.candidate_parent_limit    -> parents per child (scheduler.maxParents)
 *   client_config.load_limit         -> upload slots of a normal host that announces none
 *   seed_client_config.load_limit    -> ... of a seed host
 *   client_config.block_list.task.download.{urls (regexes), applications, tags}
 *                                    -> RegisterPeer of a matching task is refused
 *
 * With the config it fetches ListApplications (upstream's dynconfig does both every minute):
 * the applications that have a priority, their URL regexes compiled once per answer
 * (sched_prio.c), counted on /metrics (dragonfly_scheduler_manager_applications); NotFound
 * means none. A download of priority LEVEL0 takes its application's (sched_manager_priority).
 *
 * filter_parent_limit bounds how many candidates upstream samples before scoring; our
 * planner looks at every candidate of the task, so it has nothing to apply. Without the
 * manager the scheduler keeps serving with the last config it had.
 */
#include "sched.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df/df_json.h"
#include "df/df_version.h"
#include "df/log.h"
#include "df/net_tls.h"
#include "df/proto_mgr.h"
#include "df/rpc_mgr_link.h"
#include "df/xmalloc.h"
#include "sched_prio.h"

#define SCHED_MGR_BLOCK_MAX 64 /* entries of each block list we keep */

struct sched_manager {
    struct rpc_mgr_link *link;
    char *config_seen; /* the last cluster config texts applied, to log changes once */
    regex_t urls[SCHED_MGR_BLOCK_MAX];
    size_t nurls;
    char *apps[SCHED_MGR_BLOCK_MAX], *tags[SCHED_MGR_BLOCK_MAX];
    size_t napps, ntags;
    struct sched_prio_apps *applications; /* ListApplications' last answer, compiled */
    char *applications_seen;              /* its summary, to log changes once */
};

static void
sched_manager_blocks_free(struct sched_manager *m)
{
    for (size_t i = 0; i < m->nurls; i++)
        regfree(&m->urls[i]);
    for (size_t i = 0; i < m->napps; i++)
        free(m->apps[i]);
    for (size_t i = 0; i < m->ntags; i++)
        free(m->tags[i]);
    m->nurls = m->napps = m->ntags = 0;
}

/* The member path a.b.c of doc, or NULL. */
static const cJSON *
sched_manager_path(const cJSON *doc, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && doc != NULL; i++)
        doc = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);
    return doc;
}

/* Copy the strings of array arr into v (at most SCHED_MGR_BLOCK_MAX). */
static void
sched_manager_strs(const cJSON *arr, char **v, size_t *n)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && *n < SCHED_MGR_BLOCK_MAX)
            v[(*n)++] = xstrdup(it->valuestring);
    }
}

static void
sched_manager_blocks(struct sched_manager *m, const cJSON *client)
{
    static const char *const path[] = {"block_list", "task", "download"};
    const cJSON *dl = sched_manager_path(client, path, DF_NELEM(path)), *it;

    sched_manager_blocks_free(m);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(dl, "urls"))
    {
        if (!cJSON_IsString(it) || m->nurls == SCHED_MGR_BLOCK_MAX)
            continue;
        if (regcomp(&m->urls[m->nurls], it->valuestring, REG_EXTENDED | REG_NOSUB) == 0)
            m->nurls++;
        else
            log_warnx("scheduler: manager: block list url %s: not a regular expression",
                      it->valuestring);
    }
    sched_manager_strs(cJSON_GetObjectItemCaseSensitive(dl, "applications"), m->apps, &m->napps);
    sched_manager_strs(cJSON_GetObjectItemCaseSensitive(dl, "tags"), m->tags, &m->ntags);
}

/* A load_limit of a client config (0 when absent or out of upstream's bounds). */
static uint32_t
sched_manager_load(const cJSON *doc, int64_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "load_limit");

    return cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= (double)max
                   ? (uint32_t)v->valuedouble
                   : 0;
}

static void
sched_manager_apply(struct sched *ctx, const struct proto_mgr_scheduler *s)
{
    struct sched_manager *m = ctx->manager;
    cJSON *cfg, *client, *seed;
    const cJSON *v;
    uint32_t parents = 0, slots, seed_slots;
    size_t len;
    char *seen;

    if (!s->has_cluster)
        return;
    cfg = cJSON_Parse(s->cluster.config != NULL ? s->cluster.config : "{}");
    client = cJSON_Parse(s->cluster.client_config != NULL ? s->cluster.client_config : "{}");
    seed = cJSON_Parse(s->cluster.seed_client_config != NULL ? s->cluster.seed_client_config
                                                             : "{}");
    v = cJSON_GetObjectItemCaseSensitive(cfg, "candidate_parent_limit");
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= SCHED_PARENTS_MAX)
        parents = (uint32_t)v->valuedouble;
    slots = sched_manager_load(client, 2000);
    seed_slots = sched_manager_load(seed, 50000);
    sched_state_set_limits(ctx->state, parents > 0 ? parents : (uint32_t)ctx->cfg.max_parents,
                           slots, seed_slots);
    sched_manager_blocks(m, client);
    len = strlen(s->cluster.config ? s->cluster.config : "") +
          strlen(s->cluster.client_config ? s->cluster.client_config : "") +
          strlen(s->cluster.seed_client_config ? s->cluster.seed_client_config : "") + 3;
    seen = xmalloc(len);
    snprintf(seen, len, "%s|%s|%s", s->cluster.config ? s->cluster.config : "",
             s->cluster.client_config ? s->cluster.client_config : "",
             s->cluster.seed_client_config ? s->cluster.seed_client_config : "");
    if (m->config_seen == NULL || strcmp(seen, m->config_seen) != 0)
        log_info("scheduler: manager: cluster %llu (%s): parents %u, load limit %u, seed load "
                 "limit %u, block list %zu urls %zu applications %zu tags",
                 (unsigned long long)s->cluster.id, s->cluster.name ? s->cluster.name : "",
                 parents > 0 ? parents : (unsigned)ctx->cfg.max_parents, slots, seed_slots,
                 m->nurls, m->napps, m->ntags);
    free(m->config_seen);
    m->config_seen = seen;
    cJSON_Delete(cfg);
    cJSON_Delete(client);
    cJSON_Delete(seed);
}

/* The answer of UpdateScheduler and GetScheduler: our cluster's config. */
static void
sched_manager_answer(const cJSON *resp, void *arg)
{
    struct proto_mgr_scheduler s;
    struct df_error err;

    if (proto_mgr_scheduler_from_json(resp, &s, &err) != 0) {
        log_warnx("scheduler: manager: bad Scheduler answer: %s", err.msg);
        return;
    }
    sched_manager_apply(arg, &s);
    proto_mgr_scheduler_reset(&s);
}

/* "name=LEVEL(+n urls)" of each application, joined: what the log shows (the caller frees). */
static char *
sched_manager_apps_summary(const struct proto_mgr_apps *a)
{
    size_t len = 1, off = 0;
    char *out;

    for (size_t i = 0; i < a->n; i++)
        len += strlen(a->v[i].name) + 48;
    out = xmalloc(len);
    out[0] = '\0';
    for (size_t i = 0; i < a->n; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%s=%u(+%zu urls)", i > 0 ? " " : "",
                                a->v[i].name, a->v[i].priority, a->v[i].nurls);
    return out;
}

/* ListApplications' answer (NULL: the manager has none). */
static void
sched_manager_apps(const cJSON *resp, void *arg)
{
    struct sched *ctx = arg;
    struct sched_manager *m = ctx->manager;
    struct proto_mgr_apps a = {0};
    struct df_error err;
    char *seen;

    if (resp != NULL && proto_mgr_apps_from_json(resp, &a, &err) != 0) {
        log_warnx("scheduler: manager: bad ListApplications answer: %s", err.msg);
        return;
    }
    sched_prio_apps_free(m->applications);
    m->applications = sched_prio_apps_new(&a);
    seen = sched_manager_apps_summary(&a);
    if (m->applications_seen == NULL || strcmp(seen, m->applications_seen) != 0)
        log_info("scheduler: manager: %zu applications with a priority%s%s", a.n,
                 a.n > 0 ? ": " : "", seen);
    free(m->applications_seen);
    m->applications_seen = seen;
    proto_mgr_apps_reset(&a);
}

size_t
sched_manager_app_count(const struct sched *ctx)
{
    return ctx->manager != NULL ? sched_prio_apps_count(ctx->manager->applications) : 0;
}

uint32_t
sched_manager_priority(const struct sched *ctx, uint32_t level, const char *application,
                       const char *url)
{
    return sched_prio_effective(ctx->manager != NULL ? ctx->manager->applications : NULL, level,
                                application, url);
}

bool
sched_manager_blocked(const struct sched *ctx, const char *url, const char *tag,
                      const char *application)
{
    const struct sched_manager *m = ctx->manager;

    if (m == NULL)
        return false;
    for (size_t i = 0; url != NULL && i < m->nurls; i++) {
        if (regexec(&m->urls[i], url, 0, NULL, 0) == 0)
            return true;
    }
    for (size_t i = 0; application != NULL && i < m->napps; i++) {
        if (strcmp(m->apps[i], application) == 0)
            return true;
    }
    for (size_t i = 0; tag != NULL && i < m->ntags; i++) {
        if (strcmp(m->tags[i], tag) == 0)
            return true;
    }
    return false;
}

/* The host part of an "ip:port" / "[v6]:port" address into out. */
static void
sched_manager_host_of(const char *addr, char *out, size_t len)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon != NULL ? (size_t)(colon - addr) : strlen(addr);

    if (n > 1 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    snprintf(out, len, "%.*s", (int)n, addr);
}

int
sched_manager_start(struct sched *ctx, struct df_error *err)
{
    struct rpc_mgr_link_opts o;
    struct proto_mgr_req reg = {0}, ka = {0};
    cJSON *msgs[4];
    char host[256], ip[64], config[64];
    const char *bound = rpc_server_addr(ctx->rpc, 0);
    const char *colon = bound != NULL ? strrchr(bound, ':') : NULL;
    int rv;

    if (ctx->cfg.manager == NULL || ctx->cfg.manager[0] == '\0')
        return 0;
    if (ctx->cfg.hostname != NULL)
        snprintf(host, sizeof(host), "%s", ctx->cfg.hostname);
    else if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "scheduler");
    host[sizeof(host) - 1] = '\0';
    if (ctx->cfg.advertise_ip != NULL)
        snprintf(ip, sizeof(ip), "%s", ctx->cfg.advertise_ip);
    else
        sched_manager_host_of(bound != NULL ? bound : "", ip, sizeof(ip));
    if (strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0 || ip[0] == '\0')
        return df_error_set(err, DF_EINVAL,
                            "--manager: listening on %s: set --advertise-ip, the address peers "
                            "reach this scheduler at",
                            bound != NULL ? bound : "?");
    ctx->manager = xcalloc(1, sizeof(*ctx->manager));
    reg.source = PROTO_MGR_SCHEDULER_SOURCE;
    reg.hostname = host;
    reg.ip = ip;
    reg.port = (uint16_t)(colon != NULL ? atoi(colon + 1) : 0);
    reg.cluster_id = (uint64_t)ctx->cfg.manager_cluster_id;
    /* upstream's scheduler tells its keepalive interval, in nanoseconds */
    snprintf(config, sizeof(config), "{\"manager_keep_alive_interval\":%lld}",
             (long long)ctx->cfg.manager_keepalive * 1000000);
    reg.config = config;
    /* the manager shows them (REST git_version, git_commit); the strings are only read */
    reg.version = (char *)(uintptr_t)df_version();
    reg.commit = (char *)(uintptr_t)df_git_commit();
    ka.source = reg.source;
    ka.hostname = host;
    ka.ip = ip;
    ka.cluster_id = reg.cluster_id;
    memset(&o, 0, sizeof(o));
    o.addr = ctx->cfg.manager;
    o.tls = ctx->tls_client;
    o.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_MANAGER);
    o.what = "scheduler";
    o.hostname = host;
    o.register_path = PROTO_MGR_UPDATE_SCHEDULER;
    o.keepalive_path = PROTO_MGR_KEEPALIVE;
    o.refresh_path = PROTO_MGR_GET_SCHEDULER;
    o.register_msg = msgs[0] = proto_mgr_req_to_json(&reg, PROTO_MGR_REQ_UPDATE_SCHEDULER);
    o.keepalive_msg = msgs[1] = proto_mgr_req_to_json(&ka, PROTO_MGR_REQ_KEEPALIVE);
    o.refresh_msg = msgs[2] = proto_mgr_req_to_json(&ka, PROTO_MGR_REQ_GET_SCHEDULER);
    o.keepalive_ms = ctx->cfg.manager_keepalive;
    o.refresh_ms = ctx->cfg.manager_refresh;
    o.on_answer = sched_manager_answer;
    /* ListApplications names the host and its ip, no cluster */
    o.extra_path = PROTO_MGR_LIST_APPLICATIONS;
    o.extra_msg = msgs[3] = proto_mgr_req_to_json(&ka, PROTO_MGR_REQ_LIST_APPLICATIONS);
    o.on_extra = sched_manager_apps;
    o.arg = ctx;
    rv = rpc_mgr_link_new(ctx->base, ctx->dns, &o, &ctx->manager->link, err);
    for (size_t i = 0; i < DF_NELEM(msgs); i++)
        cJSON_Delete(msgs[i]);
    if (rv != 0)
        return rv;
    log_info("scheduler: manager %s: registering as %s (%s:%u) in cluster %lld", ctx->cfg.manager,
             host, ip, reg.port, (long long)ctx->cfg.manager_cluster_id);
    return 0;
}

void
sched_manager_free(struct sched *ctx)
{
    struct sched_manager *m = ctx->manager;

    if (m == NULL)
        return;
    rpc_mgr_link_free(m->link);
    sched_manager_blocks_free(m);
    free(m->config_seen);
    sched_prio_apps_free(m->applications);
    free(m->applications_seen);
    free(m);
    ctx->manager = NULL;
}
