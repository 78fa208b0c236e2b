/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer under a manager (--manager ADDR, instead of --scheduler): it asks ListSchedulers
 * (the manager ranks clusters by its searcher; this host's hostname, ip, idc and location),
 * health-checks every scheduler offered, in the order offered, and uses the healthy
 * schedulers of the first cluster that has one, in failover order (peer_p2p_set_schedulers).
 * It asks again every refresh interval, and while it has no scheduler after 250 ms, doubling
 * to every 5 s (a seed started with its cluster, as `dragonfly up` does, finds the scheduler
 * as soon as it has registered, not 5 s later), so a cluster whose schedulers all die is left
 * for the next one. When the manager is away
 * the last set stays. A seed peer also registers (UpdateSeedPeer) and keeps alive
 * (rpc_mgr_link.c), so the manager's list of seed peers is true.
 */
#include "peer_manager.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "df/df_version.h"
#include "df/log.h"
#include "df/net_tls.h"
#include "df/proto_mgr.h"
#include "df/rpc_client.h"
#include "df/rpc_mgr_link.h"
#include "df/rpc_server.h"
#include "df/xmalloc.h"
#include "peer_p2p.h"

#define PEER_MGR_RETRY_MS       5000 /* while no scheduler is known, at most */
#define PEER_MGR_RETRY_FIRST_MS 250  /* ... at first, doubling */
#define PEER_MGR_HEALTH_MS      2000

/* One scheduler being health-checked. */
struct peer_mgr_probe {
    struct peer_mgr *m;
    struct rpc_client *client;
    char addr[80];
    uint64_t cluster;
    bool healthy;
};

struct peer_mgr {
    struct peer *ctx;
    struct rpc_client *client;
    struct rpc_mgr_link *link; /* seeds: registration and keepalive */
    struct event *timer;
    cJSON *list_msg;
    struct peer_mgr_probe *probes;
    size_t nprobes, pending;
    uint64_t round;   /* a ListSchedulers answer older than the current round is ignored */
    int64_t retry_ms; /* the next wait while no scheduler is known */
    bool asking, have_set;
    char *cluster_seen; /* the cluster in use, to log a change once */
};

static void peer_mgr_ask(struct peer_mgr *m);

static void
peer_mgr_probes_free(struct peer_mgr *m)
{
    for (size_t i = 0; i < m->nprobes; i++)
        rpc_client_free(m->probes[i].client);
    free(m->probes);
    m->probes = NULL;
    m->nprobes = m->pending = 0;
}

/* Every probe answered: take the healthy schedulers of the first cluster that has one. */
static void
peer_mgr_choose(struct peer_mgr *m)
{
    char *addrs[16];
    struct df_error err;
    uint64_t cluster = 0;
    size_t n = 0;
    char seen[32];

    for (size_t i = 0; i < m->nprobes && n < DF_NELEM(addrs); i++) {
        if (!m->probes[i].healthy || (cluster != 0 && m->probes[i].cluster != cluster))
            continue;
        cluster = m->probes[i].cluster;
        addrs[n++] = m->probes[i].addr;
    }
    if (n == 0) {
        log_warnx("%s: manager: none of the %zu schedulers offered answers a health check; "
                  "keeping the current ones",
                  PEER_TAG(m->ctx), m->nprobes);
    } else if (peer_p2p_set_schedulers(m->ctx, addrs, n, &err) != 0) {
        log_warnx("%s: manager: %s", PEER_TAG(m->ctx), err.msg);
    } else {
        m->have_set = true;
        snprintf(seen, sizeof(seen), "%llu:%s", (unsigned long long)cluster, addrs[0]);
        if (m->cluster_seen == NULL || strcmp(seen, m->cluster_seen) != 0)
            log_info("%s: manager: scheduler cluster %llu: %zu healthy scheduler(s), first %s",
                     PEER_TAG(m->ctx), (unsigned long long)cluster, n, addrs[0]);
        free(m->cluster_seen);
        m->cluster_seen = xstrdup(seen);
    }
    peer_mgr_probes_free(m);
}

static void
peer_mgr_probe_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_mgr_probe *p = arg;
    const cJSON *s = resp != NULL ? cJSON_GetObjectItemCaseSensitive(resp, "status") : NULL;

    p->healthy = st->code == RPC_OK && cJSON_IsString(s) && strcmp(s->valuestring, "SERVING") == 0;
    /* the last answer chooses; not from inside the client's own callback stack: the probes'
     * clients are freed there, so defer to the loop */
    if (--p->m->pending == 0)
        event_active(p->m->timer, EV_TIMEOUT, 0);
}

/* Health-check every scheduler of the answer, in its order. */
static void
peer_mgr_list_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_mgr *m = arg;
    struct proto_mgr_scheduler *v = NULL;
    struct rpc_client_opts co;
    struct df_error err;
    cJSON *empty;
    size_t n = 0;

    m->asking = false;
    if (st->code != RPC_OK) {
        log_warnx("%s: manager: ListSchedulers: %s: %s", PEER_TAG(m->ctx), rpc_err_name(st->code),
                  st->message);
        return;
    }
    if (proto_mgr_schedulers_from_json(resp, &v, &n, &err) != 0) {
        log_warnx("%s: manager: bad ListSchedulers answer: %s", PEER_TAG(m->ctx), err.msg);
        return;
    }
    /* said once the retries have slowed down: not for the first second of a cluster */
    if (n == 0 && m->retry_ms >= PEER_MGR_RETRY_MS)
        log_warnx("%s: manager: no active scheduler in any cluster", PEER_TAG(m->ctx));
    m->probes = n > 0 ? xcalloc(n, sizeof(*m->probes)) : NULL;
    empty = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        struct peer_mgr_probe *p = &m->probes[m->nprobes];

        p->m = m;
        p->cluster = v[i].cluster_id;
        snprintf(p->addr, sizeof(p->addr), strchr(v[i].ip, ':') != NULL ? "[%s]:%u" : "%s:%u",
                 v[i].ip, v[i].port);
        memset(&co, 0, sizeof(co));
        co.addr = p->addr;
        co.connect_timeout_ms = PEER_MGR_HEALTH_MS;
        co.tls = m->ctx->tls_cluster;
        co.expect_roles = co.tls != NULL ? NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER) : 0;
        if (rpc_client_new(m->ctx->base, m->ctx->dns, &co, &p->client, &err) != 0)
            continue;
        m->nprobes++;
        m->pending++;
        if (rpc_client_unary(p->client, RPC_SERVER_HEALTH_CHECK, empty, PEER_MGR_HEALTH_MS,
                             peer_mgr_probe_done, p, NULL) != 0)
            m->pending--;
    }
    cJSON_Delete(empty);
    proto_mgr_schedulers_free(v, n);
    if (m->nprobes > 0 && m->pending == 0)
        event_active(m->timer, EV_TIMEOUT, 0);
}

static void
peer_mgr_ask(struct peer_mgr *m)
{
    if (m->asking || m->nprobes > 0 || m->ctx->stopping)
        return;
    if (rpc_client_unary(m->client, PROTO_MGR_LIST_SCHEDULERS, m->list_msg, 10000,
                         peer_mgr_list_done, m, NULL) == 0)
        m->asking = true;
}

static void
peer_mgr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_mgr *m = arg;
    struct timeval tv;
    int64_t ms;

    (void)fd;
    (void)what;
    if (m->nprobes > 0 && m->pending == 0)
        peer_mgr_choose(m);
    else
        peer_mgr_ask(m);
    if (m->have_set) {
        ms = m->ctx->cfg.manager_refresh;
    } else {
        ms = m->retry_ms = m->retry_ms == 0 ? PEER_MGR_RETRY_FIRST_MS : m->retry_ms;
        if (m->retry_ms < PEER_MGR_RETRY_MS)
            m->retry_ms = m->retry_ms * 2 < PEER_MGR_RETRY_MS ? m->retry_ms * 2 : PEER_MGR_RETRY_MS;
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    event_add(m->timer, &tv);
}

/* The port of a bound "ip:port" address. */
static uint16_t
peer_mgr_port(const char *addr)
{
    const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;

    return (uint16_t)(colon != NULL ? atoi(colon + 1) : 0);
}

/* A seed peer registers and keeps alive. */
static int
peer_mgr_seed_link(struct peer_mgr *m, struct df_error *err)
{
    struct peer *ctx = m->ctx;
    struct rpc_mgr_link_opts o;
    struct proto_mgr_req reg = {0}, ka = {0};
    cJSON *msgs[2];
    int rv;

    reg.source = ka.source = PROTO_MGR_SEED_PEER_SOURCE;
    reg.hostname = ka.hostname = ctx->cfg.hostname;
    reg.ip = ka.ip = ctx->cfg.ip;
    reg.idc = ctx->cfg.idc;
    reg.location = ctx->cfg.location;
    reg.type = (char[]){"super"};
    /* the manager shows them (REST git_version, git_commit); the strings are only read */
    reg.version = (char *)(uintptr_t)df_version();
    reg.commit = (char *)(uintptr_t)df_git_commit();
    reg.port = peer_mgr_port(rpc_server_addr(ctx->rpc, 0));
    reg.download_port = peer_mgr_port(net_listener_addr(ctx->upload_listener));
    reg.cluster_id = ka.cluster_id = (uint64_t)ctx->cfg.manager_seed_cluster_id;
    memset(&o, 0, sizeof(o));
    o.addr = ctx->cfg.manager;
    o.tls = ctx->tls_cluster;
    o.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_MANAGER);
    o.what = "seed";
    o.hostname = ctx->cfg.hostname;
    o.register_path = PROTO_MGR_UPDATE_SEED_PEER;
    o.keepalive_path = PROTO_MGR_KEEPALIVE;
    o.register_msg = msgs[0] = proto_mgr_req_to_json(&reg, PROTO_MGR_REQ_UPDATE_SEED_PEER);
    o.keepalive_msg = msgs[1] = proto_mgr_req_to_json(&ka, PROTO_MGR_REQ_KEEPALIVE);
    rv = rpc_mgr_link_new(ctx->base, ctx->dns, &o, &m->link, err);
    cJSON_Delete(msgs[0]);
    cJSON_Delete(msgs[1]);
    return rv;
}

int
peer_manager_start(struct peer *ctx, struct df_error *err)
{
    struct peer_mgr *m;
    struct proto_mgr_req req = {0};
    struct rpc_client_opts co;
    int rv;

    if (ctx->cfg.manager == NULL || ctx->cfg.manager[0] == '\0')
        return 0;
    m = ctx->manager = xcalloc(1, sizeof(*m));
    m->ctx = ctx;
    req.source = ctx->cfg.seed ? PROTO_MGR_SEED_PEER_SOURCE : PROTO_MGR_PEER_SOURCE;
    req.hostname = ctx->cfg.hostname;
    req.ip = ctx->cfg.ip;
    req.idc = ctx->cfg.idc;
    req.location = ctx->cfg.location;
    req.cluster_id = (uint64_t)ctx->cfg.manager_cluster_id;
    /* as upstream's dfdaemon: the manager's peer rows and the console's version chart */
    req.version = (char *)(uintptr_t)df_version();
    req.commit = (char *)(uintptr_t)df_git_commit();
    if ((m->list_msg = proto_mgr_req_to_json(&req, PROTO_MGR_REQ_LIST_SCHEDULERS)) == NULL)
        return df_error_set(err, DF_ENOMEM, "out of memory");
    memset(&co, 0, sizeof(co));
    co.addr = ctx->cfg.manager;
    co.tls = ctx->tls_cluster;
    co.expect_roles = co.tls != NULL ? NET_TLS_ROLE_BIT(NET_TLS_ROLE_MANAGER) : 0;
    co.backoff_max_ms = PEER_MGR_RETRY_MS;
    if ((rv = rpc_client_new(ctx->base, ctx->dns, &co, &m->client, err)) != 0)
        return rv;
    if (ctx->cfg.seed && (rv = peer_mgr_seed_link(m, err)) != 0)
        return rv;
    m->timer = event_new(ctx->base, -1, 0, peer_mgr_timer_cb, m);
    peer_mgr_timer_cb(-1, 0, m); /* asks now, and arms the retry */
    log_info("%s: manager %s: finding a scheduler cluster", PEER_TAG(ctx), ctx->cfg.manager);
    return 0;
}

void
peer_manager_free(struct peer *ctx)
{
    struct peer_mgr *m = ctx->manager;

    if (m == NULL)
        return;
    /* The clients' calls end with their callbacks, which may arm the timer: it goes last. */
    rpc_mgr_link_free(m->link);
    peer_mgr_probes_free(m);
    rpc_client_free(m->client);
    if (m->timer != NULL)
        event_free(m->timer);
    m->timer = NULL;
    cJSON_Delete(m->list_msg);
    free(m->cluster_seen);
    free(m);
    ctx->manager = NULL;
}
