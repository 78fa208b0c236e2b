/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manager.v2.Manager on its own listener (65003), Connect JSON over HTTP/2 like the
 * scheduler's RPC, h2 with mutual TLS when the manager has a cluster certificate. Schedulers
 * register (UpdateScheduler) and hold a KeepAlive stream open; seed peers do the same with
 * UpdateSeedPeer, and read their own row (GetSeedPeer: cluster config and the active
 * schedulers) and their cluster's active seeds (ListSeedPeers); peers ask ListSchedulers
 * which scheduler to use, ranked by the searcher (mgr_search.c). Unlike upstream, ListSchedulers
 * never returns an inactive scheduler, and a KeepAlive stream ending marks its host inactive only
 * when no newer stream of the same host is open (a scheduler that reconnects does not flap).
 *
 * KeepAlive is the client-streaming call of upstream's proto, served as our bidi kind: each
 * message {sourceType, hostname, clusterId, ip} renews the host for keepAlive.timeout; the
 * server answers nothing until the client ends its side, then ends the stream cleanly.
 *
 * Under mTLS a caller's certificate must name the role its request speaks for (a scheduler
 * for SCHEDULER_SOURCE, a seed for the seed-peer calls) and the host it names, so one host
 * cannot register or keep alive another.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/net_tls.h"
#include "df/proto_mgr.h"
#include "df/rpc_server.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

/* peers call ListSchedulers every minute: three missed calls and they read inactive */
#define MGR_RPC_PEER_TTL (3 * 60 * 1000)

/* One open KeepAlive stream. */
struct mgr_ka {
    LIST_ENTRY(mgr_ka) link;
    struct mgr *ctx;
    struct rpc_call *call;
    enum mgr_reg_kind kind;
    char *hostname, *ip;
    int64_t cluster_id;
    bool known; /* the first message named a registered host */
};

LIST_HEAD(mgr_ka_list, mgr_ka);

/* The registry kind a source type speaks for (a peer keeps nothing alive). */
static enum mgr_reg_kind
mgr_rpc_kind(enum proto_mgr_source src)
{
    return src == PROTO_MGR_SCHEDULER_SOURCE   ? MGR_REG_SCHEDULER
           : src == PROTO_MGR_SEED_PEER_SOURCE ? MGR_REG_SEED_PEER
                                               : MGR_REG_PEER;
}

/*
 * Under mTLS, may this connection speak for hostname as kind? A connection without a
 * cluster identity (plaintext, or TLS without a client certificate when the server allows
 * that) may: that is the deployment's choice. Returns true, or finishes call and false.
 */
static bool
mgr_rpc_may(struct rpc_call *call, enum mgr_reg_kind kind, const char *hostname)
{
    struct net_tls_identity id;
    enum net_tls_role want = kind == MGR_REG_SCHEDULER   ? NET_TLS_ROLE_SCHEDULER
                             : kind == MGR_REG_SEED_PEER ? NET_TLS_ROLE_SEED
                                                         : NET_TLS_ROLE_PEER;
    char msg[400];

    if (rpc_call_peer_identity(call, &id) != 0 || id.role == NET_TLS_ROLE_NONE)
        return true;
    if (id.role == want && strcmp(id.host, hostname) == 0)
        return true;
    snprintf(msg, sizeof(msg), "certificate of %s does not speak for %s", id.host, hostname);
    rpc_call_finish(call, RPC_PERMISSION_DENIED, msg);
    return false;
}

/* Map a registry error to the call's answer. */
static void
mgr_rpc_fail(struct rpc_call *call, int rv, const char *what)
{
    if (rv == DF_ENOTFOUND)
        rpc_call_finish(call, RPC_NOT_FOUND, what);
    else
        rpc_call_finish(call, RPC_INTERNAL, "database error");
}

/* Parse a unary request of kind; on failure the call is finished. */
static bool
mgr_rpc_req(struct mgr *ctx, struct rpc_call *call, const cJSON *msg, enum proto_mgr_req_kind kind,
            struct proto_mgr_req *r)
{
    struct df_error err;

    ctx->rpc_calls++;
    if (proto_mgr_req_from_json(msg, kind, r, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        return false;
    }
    return true;
}

/* ---- answers ---- */

/*
 * The cluster id into c (JSON texts copied): a scheduler cluster (MGR_STMT_SC_GET) or a
 * seed-peer cluster (MGR_STMT_SPC_GET: id, name, bio, config). Returns 0 or a db error.
 */
static int
mgr_rpc_cluster_of(struct mgr *ctx, enum mgr_stmt slot, int64_t id, struct proto_mgr_cluster *c)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, slot);
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, id);
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW) {
        c->id = (uint64_t)id;
        c->name = xstrdup(mgr_db_col_text(st, 3));
        c->bio = xstrdup(mgr_db_col_text(st, 4));
        c->config = xstrdup(mgr_db_col_text(st, 5));
        if (slot == MGR_STMT_SC_GET) {
            c->client_config = xstrdup(mgr_db_col_text(st, 6));
            c->seed_client_config = xstrdup(mgr_db_col_text(st, 7));
            c->scopes = xstrdup(mgr_db_col_text(st, 8));
        }
    }
    sqlite3_reset(st);
    return rv == STORE_SQL_ROW ? 0 : rv < 0 ? rv : DF_ENOTFOUND;
}

static void
mgr_rpc_seed_fill(const struct mgr_reg_host *h, struct proto_mgr_seed_peer *p)
{
    p->id = (uint64_t)h->id;
    p->hostname = xstrdup(h->hostname);
    p->type = xstrdup(h->type);
    p->idc = h->idc[0] != '\0' ? xstrdup(h->idc) : NULL;
    p->location = h->location[0] != '\0' ? xstrdup(h->location) : NULL;
    p->ip = xstrdup(h->ip);
    p->port = (uint16_t)h->port;
    p->download_port = (uint16_t)h->download_port;
    p->state = xstrdup(h->active ? "active" : "inactive");
    p->cluster_id = (uint64_t)h->cluster_id;
}

/* The active seed peers of the seed-peer cluster linked to scheduler cluster sc, into s. */
static int
mgr_rpc_seed_peers(struct mgr *ctx, int64_t sc, struct proto_mgr_scheduler *s)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_LINK_OF_SC);
    struct mgr_reg_host *v = NULL;
    int64_t spc = 0;
    size_t n = 0;
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, sc);
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        spc = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rv < 0)
        return rv;
    if (spc == 0)
        return 0;
    if ((rv = mgr_reg_list(ctx->db, MGR_REG_SEED_PEER, spc, true, &v, &n)) != 0)
        return rv;
    s->seed_peers = n > 0 ? xcalloc(n, sizeof(*s->seed_peers)) : NULL;
    for (size_t i = 0; i < n; i++)
        mgr_rpc_seed_fill(&v[i], &s->seed_peers[s->nseed_peers++]);
    free(v);
    return 0;
}

/* The members of a Scheduler that h holds (no cluster, no seed peers). */
static void
mgr_rpc_sched_fill(const struct mgr_reg_host *h, struct proto_mgr_scheduler *s)
{
    s->id = (uint64_t)h->id;
    s->hostname = xstrdup(h->hostname);
    s->idc = h->idc[0] != '\0' ? xstrdup(h->idc) : NULL;
    s->location = h->location[0] != '\0' ? xstrdup(h->location) : NULL;
    s->ip = xstrdup(h->ip);
    s->port = (uint16_t)h->port;
    s->state = xstrdup(h->active ? "active" : "inactive");
    s->cluster_id = (uint64_t)h->cluster_id;
    s->features = xstrdup(h->features[0] != '\0' ? h->features : "[]");
}

/* A Scheduler answer for h: with its cluster (configs) and the cluster's active seed peers. */
static cJSON *
mgr_rpc_scheduler_json(struct mgr *ctx, const struct mgr_reg_host *h, int *rv)
{
    struct proto_mgr_scheduler s = {0};
    cJSON *doc = NULL;

    mgr_rpc_sched_fill(h, &s);
    if ((*rv = mgr_rpc_cluster_of(ctx, MGR_STMT_SC_GET, h->cluster_id, &s.cluster)) == 0 &&
        (*rv = mgr_rpc_seed_peers(ctx, h->cluster_id, &s)) == 0) {
        s.has_cluster = true;
        if ((doc = proto_mgr_scheduler_to_json(&s)) == NULL)
            *rv = DF_ENOMEM;
    }
    proto_mgr_scheduler_reset(&s);
    return doc;
}

/* The registered host of kind (hostname, ip or any, cluster) into *out. */
static int
mgr_rpc_find(struct mgr *ctx, enum mgr_reg_kind kind, const char *hostname, const char *ip,
             int64_t cluster, struct mgr_reg_host *out)
{
    struct mgr_reg_host *v = NULL;
    size_t n = 0;
    int rv;

    if ((rv = mgr_reg_list(ctx->db, kind, cluster, false, &v, &n)) != 0)
        return rv;
    rv = DF_ENOTFOUND;
    for (size_t i = 0; i < n && rv != 0; i++) {
        if (strcmp(v[i].hostname, hostname) == 0 && (ip == NULL || strcmp(v[i].ip, ip) == 0)) {
            *out = v[i];
            rv = 0;
        }
    }
    free(v);
    return rv;
}

static void
mgr_rpc_reply_scheduler(struct mgr *ctx, struct rpc_call *call, const struct mgr_reg_host *h)
{
    cJSON *doc;
    int rv;

    if ((doc = mgr_rpc_scheduler_json(ctx, h, &rv)) == NULL) {
        mgr_rpc_fail(call, rv, "scheduler cluster not found");
        return;
    }
    rpc_call_reply(call, doc);
    cJSON_Delete(doc);
}

/* ---- UpdateScheduler, GetScheduler ---- */

static void
mgr_rpc_update_scheduler(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct proto_mgr_req r;
    struct mgr_reg_update u = {0};
    struct mgr_reg_host h;
    cJSON *features;
    char *ftext;
    int64_t id;
    int rv;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_UPDATE_SCHEDULER, &r))
        return;
    if (!mgr_rpc_may(call, MGR_REG_SCHEDULER, r.hostname)) {
        proto_mgr_req_reset(&r);
        return;
    }
    /* upstream: no features means both */
    features = cJSON_CreateArray();
    if (r.nfeatures == 0) {
        cJSON_AddItemToArray(features, cJSON_CreateString("schedule"));
        cJSON_AddItemToArray(features, cJSON_CreateString("preheat"));
    }
    for (size_t i = 0; i < r.nfeatures; i++)
        cJSON_AddItemToArray(features, cJSON_CreateString(r.features[i]));
    ftext = cJSON_PrintUnformatted(features);
    cJSON_Delete(features);
    u.hostname = r.hostname;
    u.ip = r.ip;
    u.idc = r.idc;
    u.location = r.location;
    u.port = r.port;
    u.features = ftext;
    u.config = r.config;
    u.version = r.version;
    u.commit = r.commit;
    u.cluster_id = (int64_t)r.cluster_id;
    rv = mgr_reg_update(ctx->db, MGR_REG_SCHEDULER, &u, df_time_wall_ms(), &id);
    free(ftext);
    if (rv == 0)
        rv = mgr_rpc_find(ctx, MGR_REG_SCHEDULER, r.hostname, r.ip, u.cluster_id, &h);
    if (rv != 0)
        mgr_rpc_fail(call, rv, "scheduler cluster not found");
    else {
        log_info("manager: scheduler %s (%s:%d) registered in cluster %lld", h.hostname, h.ip,
                 h.port, (long long)h.cluster_id);
        mgr_rpc_reply_scheduler(ctx, call, &h);
    }
    proto_mgr_req_reset(&r);
}

static void
mgr_rpc_get_scheduler(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct proto_mgr_req r;
    struct mgr_reg_host h;
    int rv;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_GET_SCHEDULER, &r))
        return;
    rv = mgr_rpc_find(ctx, MGR_REG_SCHEDULER, r.hostname, r.ip, (int64_t)r.cluster_id, &h);
    if (rv != 0)
        mgr_rpc_fail(call, rv, "scheduler not found");
    else
        mgr_rpc_reply_scheduler(ctx, call, &h);
    proto_mgr_req_reset(&r);
}

/* ---- UpdateSeedPeer, DeleteSeedPeer ---- */

static void
mgr_rpc_update_seed_peer(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct proto_mgr_seed_peer p = {0};
    struct proto_mgr_req r;
    struct mgr_reg_update u = {0};
    struct mgr_reg_host h;
    cJSON *doc;
    int64_t id;
    int rv;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_UPDATE_SEED_PEER, &r))
        return;
    if (!mgr_rpc_may(call, MGR_REG_SEED_PEER, r.hostname)) {
        proto_mgr_req_reset(&r);
        return;
    }
    u.hostname = r.hostname;
    u.ip = r.ip;
    u.idc = r.idc;
    u.location = r.location;
    u.type = "super";
    u.port = r.port;
    u.download_port = r.download_port;
    u.version = r.version;
    u.commit = r.commit;
    u.cluster_id = (int64_t)r.cluster_id;
    rv = mgr_reg_update(ctx->db, MGR_REG_SEED_PEER, &u, df_time_wall_ms(), &id);
    if (rv == 0)
        rv = mgr_rpc_find(ctx, MGR_REG_SEED_PEER, r.hostname, r.ip, u.cluster_id, &h);
    if (rv != 0) {
        mgr_rpc_fail(call, rv, "seed peer cluster not found");
    } else {
        log_info("manager: seed peer %s (%s:%d) registered in seed-peer cluster %lld", h.hostname,
                 h.ip, h.port, (long long)h.cluster_id);
        mgr_rpc_seed_fill(&h, &p);
        doc = proto_mgr_seed_peer_to_json(&p);
        rpc_call_reply(call, doc);
        cJSON_Delete(doc);
        proto_mgr_seed_peer_reset(&p);
    }
    proto_mgr_req_reset(&r);
}

static void
mgr_rpc_delete_seed_peer(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct proto_mgr_req r;
    sqlite3_stmt *st;
    int rv = DF_EIO;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_DELETE_SEED_PEER, &r))
        return;
    if (!mgr_rpc_may(call, MGR_REG_SEED_PEER, r.hostname)) {
        proto_mgr_req_reset(&r);
        return;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_SEED_DELETE_KEY)) != NULL) {
        mgr_db_bind_text(st, 1, r.hostname);
        mgr_db_bind_text(st, 2, r.ip);
        sqlite3_bind_int64(st, 3, (int64_t)r.cluster_id);
        if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
            rv = DF_ENOTFOUND;
    }
    if (rv != 0) {
        mgr_rpc_fail(call, rv, "seed peer not found");
    } else {
        cJSON *empty = cJSON_CreateObject();

        log_info("manager: seed peer %s left seed-peer cluster %llu", r.hostname,
                 (unsigned long long)r.cluster_id);
        rpc_call_reply(call, empty);
        cJSON_Delete(empty);
    }
    proto_mgr_req_reset(&r);
}

/* ---- GetSeedPeer, ListSeedPeers ---- */

static int
mgr_rpc_id_row(sqlite3_stmt *st, void *item)
{
    *(int64_t *)item = sqlite3_column_int64(st, 0);
    return 0;
}

/* The active schedulers of the scheduler clusters linked to seed-peer cluster spc, into p. */
static int
mgr_rpc_seed_schedulers(struct mgr *ctx, int64_t spc, struct proto_mgr_seed_peer *p)
{
    struct store_sql_rows links = {.size = sizeof(int64_t)};
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_LINK_OF_SPC);
    struct mgr_reg_host *v = NULL;
    struct df_error err;
    int64_t *sc;
    size_t n;
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, spc);
    if ((rv = store_sql_collect(ctx->db, st, &links, mgr_rpc_id_row, &err)) != 0) {
        log_warnx("manager: cluster links: %s", err.msg);
        free(links.items);
        return rv;
    }
    sc = links.items;
    for (size_t i = 0; i < links.count && rv == 0; i++) {
        if ((rv = mgr_reg_list(ctx->db, MGR_REG_SCHEDULER, sc[i], true, &v, &n)) != 0)
            break;
        if (n > 0)
            p->schedulers = xrealloc(p->schedulers, (p->nschedulers + n) * sizeof(*p->schedulers));
        for (size_t j = 0; j < n; j++) {
            memset(&p->schedulers[p->nschedulers], 0, sizeof(*p->schedulers));
            mgr_rpc_sched_fill(&v[j], &p->schedulers[p->nschedulers++]);
        }
        free(v);
    }
    free(links.items);
    return rv;
}

/*
 * A seed peer asks for its own row (upstream's dfdaemon v1 dynconfig): with its seed-peer
 * cluster's config and the active schedulers it serves. Under mTLS only that seed may ask.
 */
static void
mgr_rpc_get_seed_peer(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct proto_mgr_seed_peer p = {0};
    struct proto_mgr_req r;
    struct mgr_reg_host h;
    cJSON *doc = NULL;
    int rv;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_GET_SEED_PEER, &r))
        return;
    if (!mgr_rpc_may(call, MGR_REG_SEED_PEER, r.hostname)) {
        proto_mgr_req_reset(&r);
        return;
    }
    rv = mgr_rpc_find(ctx, MGR_REG_SEED_PEER, r.hostname, r.ip, (int64_t)r.cluster_id, &h);
    if (rv == 0) {
        mgr_rpc_seed_fill(&h, &p);
        if ((rv = mgr_rpc_cluster_of(ctx, MGR_STMT_SPC_GET, h.cluster_id, &p.cluster)) == 0 &&
            (rv = mgr_rpc_seed_schedulers(ctx, h.cluster_id, &p)) == 0) {
            p.has_cluster = true;
            if ((doc = proto_mgr_seed_peer_to_json(&p)) == NULL)
                rv = DF_ENOMEM;
        }
    }
    if (rv == DF_ENOMEM)
        rpc_call_finish(call, RPC_INTERNAL, "out of memory");
    else if (rv != 0)
        mgr_rpc_fail(call, rv, "seed peer not found");
    else
        rpc_call_reply(call, doc);
    cJSON_Delete(doc);
    proto_mgr_seed_peer_reset(&p);
    proto_mgr_req_reset(&r);
}

/*
 * The active seed peers of the caller's seed-peer cluster, the caller found by its hostname
 * and ip (any cluster, as upstream). Under mTLS only that seed may ask.
 */
static void
mgr_rpc_list_seed_peers(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct proto_mgr_seed_peer p;
    struct proto_mgr_req r;
    struct mgr_reg_host self, *v = NULL;
    cJSON *list, *doc, *item;
    size_t n = 0;
    int rv;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_LIST_SEED_PEERS, &r))
        return;
    if (!mgr_rpc_may(call, MGR_REG_SEED_PEER, r.hostname)) {
        proto_mgr_req_reset(&r);
        return;
    }
    if ((rv = mgr_rpc_find(ctx, MGR_REG_SEED_PEER, r.hostname, r.ip, 0, &self)) != 0 ||
        (rv = mgr_reg_list(ctx->db, MGR_REG_SEED_PEER, self.cluster_id, true, &v, &n)) != 0) {
        mgr_rpc_fail(call, rv, "seed peer not found");
        proto_mgr_req_reset(&r);
        return;
    }
    list = cJSON_CreateArray();
    for (size_t i = 0; list != NULL && i < n; i++) {
        memset(&p, 0, sizeof(p));
        mgr_rpc_seed_fill(&v[i], &p);
        item = proto_mgr_seed_peer_to_json(&p);
        proto_mgr_seed_peer_reset(&p);
        if (item == NULL || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            cJSON_Delete(list);
            list = NULL;
        }
    }
    free(v);
    if (list == NULL || (doc = proto_mgr_seed_peers_to_json(list)) == NULL) {
        rpc_call_finish(call, RPC_INTERNAL, "out of memory");
    } else {
        rpc_call_reply(call, doc);
        cJSON_Delete(doc);
    }
    proto_mgr_req_reset(&r);
}

/* ---- ListSchedulers ---- */

/* Append the schedulers of cluster sc (active ones only when active_only) to items. */
static int
mgr_rpc_list_cluster(struct mgr *ctx, int64_t sc, bool active_only, cJSON *items)
{
    struct mgr_reg_host *v = NULL;
    size_t n = 0;
    cJSON *doc;
    int rv;

    if ((rv = mgr_reg_list(ctx->db, MGR_REG_SCHEDULER, sc, active_only, &v, &n)) != 0)
        return rv;
    for (size_t i = 0; i < n && rv == 0; i++) {
        if ((doc = mgr_rpc_scheduler_json(ctx, &v[i], &rv)) != NULL)
            cJSON_AddItemToArray(items, doc);
    }
    free(v);
    return rv;
}

static int
mgr_rpc_cluster_row(sqlite3_stmt *st, void *item)
{
    struct mgr_search_item *it = item;

    it->id = sqlite3_column_int64(st, 0);
    it->scopes = xstrdup(mgr_db_col_text(st, 8));
    it->is_default = sqlite3_column_int(st, 9) != 0;
    return 0;
}

/* Every scheduler cluster with an active scheduler that schedules, best first for h. */
static int
mgr_rpc_search(struct mgr *ctx, const struct mgr_search_host *h, struct store_sql_rows *out)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_SC_LIST);
    struct mgr_search_item *items;
    struct mgr_reg_host *v = NULL;
    struct df_error err;
    size_t n, keep = 0;
    bool usable;
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 2, -1); /* no LIMIT */
    sqlite3_bind_int64(st, 3, 0);
    if ((rv = store_sql_collect(ctx->db, st, out, mgr_rpc_cluster_row, &err)) != 0) {
        log_warnx("manager: clusters: %s", err.msg);
        return rv;
    }
    items = out->items;
    for (size_t i = 0; i < out->count; i++) {
        usable = false;
        if ((rv = mgr_reg_list(ctx->db, MGR_REG_SCHEDULER, items[i].id, true, &v, &n)) != 0) {
            /* [keep, i) were moved down or freed; [i, count) still own their scopes */
            for (size_t k = i; k < out->count; k++)
                free(items[k].scopes);
            out->count = keep;
            return rv;
        }
        for (size_t j = 0; j < n && !usable; j++)
            usable = strstr(v[j].features, "\"schedule\"") != NULL;
        free(v);
        if (usable)
            items[keep++] = items[i];
        else
            free(items[i].scopes);
    }
    out->count = keep;
    mgr_search_sort(items, keep, h);
    return 0;
}

static void
mgr_rpc_clusters_free(struct store_sql_rows *rows)
{
    struct mgr_search_item *items = rows->items;

    for (size_t i = 0; i < rows->count; i++)
        free(items[i].scopes);
    free(rows->items);
}

/* Remember the peer that asked (the REST list of peers), in the cluster it was offered. */
static void
mgr_rpc_note_peer(struct mgr *ctx, const struct proto_mgr_req *r, int64_t cluster)
{
    struct mgr_reg_update u = {0};
    int64_t now = df_time_wall_ms(), id;

    if (cluster <= 0 || r->source == PROTO_MGR_SCHEDULER_SOURCE)
        return;
    u.hostname = r->hostname;
    u.ip = r->ip;
    u.idc = r->idc;
    u.location = r->location;
    u.type = r->source == PROTO_MGR_SEED_PEER_SOURCE ? "super" : "normal";
    u.version = r->version;
    u.commit = r->commit;
    u.cluster_id = cluster;
    u.alive_until = now + MGR_RPC_PEER_TTL;
    if (mgr_reg_update(ctx->db, MGR_REG_PEER, &u, now, &id) != 0)
        log_warnx("manager: cannot record peer %s", r->hostname);
}

static void
mgr_rpc_list_schedulers(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct store_sql_rows clusters = {.size = sizeof(struct mgr_search_item)};
    struct proto_mgr_req r;
    struct mgr_search_host h;
    struct mgr_search_item *items;
    cJSON *list, *doc;
    int64_t first = 0;
    int rv = 0;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_LIST_SCHEDULERS, &r))
        return;
    list = cJSON_CreateArray();
    if (r.cluster_id != 0) {
        /* a peer pinned to a cluster gets its schedulers; upstream gives inactive ones too,
         * which a peer can only health-check in vain */
        first = (int64_t)r.cluster_id;
        rv = mgr_rpc_list_cluster(ctx, first, true, list);
    } else {
        h = (struct mgr_search_host){r.hostname, r.ip, r.idc, r.location};
        if ((rv = mgr_rpc_search(ctx, &h, &clusters)) == 0) {
            items = clusters.items;
            first = clusters.count > 0 ? items[0].id : 0;
            for (size_t i = 0; i < clusters.count && rv == 0; i++)
                rv = mgr_rpc_list_cluster(ctx, items[i].id, true, list);
        }
        mgr_rpc_clusters_free(&clusters);
    }
    if (rv != 0) {
        cJSON_Delete(list);
        mgr_rpc_fail(call, rv, "scheduler cluster not found");
        proto_mgr_req_reset(&r);
        return;
    }
    mgr_rpc_note_peer(ctx, &r, first);
    doc = proto_mgr_schedulers_to_json(list);
    if (doc == NULL)
        rpc_call_finish(call, RPC_INTERNAL, "out of memory");
    else
        rpc_call_reply(call, doc);
    cJSON_Delete(doc);
    proto_mgr_req_reset(&r);
}

/* ---- ListApplications ---- */

/*
 * The applications with a priority, for a scheduler's dynconfig (any host may ask, as
 * upstream: names, urls and priorities are not secrets). None is NotFound, which upstream's
 * schedulers take as "no applications".
 */
static void
mgr_rpc_list_applications(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr *ctx = arg;
    struct proto_mgr_apps apps = {0};
    struct proto_mgr_req r;
    cJSON *doc = NULL;
    int rv;

    if (!mgr_rpc_req(ctx, call, msg, PROTO_MGR_REQ_LIST_APPLICATIONS, &r))
        return;
    if ((rv = mgr_app_prioritized(ctx, &apps)) != 0)
        mgr_rpc_fail(call, rv, "application not found");
    else if (apps.n == 0)
        rpc_call_finish(call, RPC_NOT_FOUND, "application not found");
    else if ((doc = proto_mgr_apps_to_json(&apps)) == NULL)
        rpc_call_finish(call, RPC_INTERNAL, "out of memory");
    else
        rpc_call_reply(call, doc);
    cJSON_Delete(doc);
    proto_mgr_apps_reset(&apps);
    proto_mgr_req_reset(&r);
}

/* ---- KeepAlive ---- */

static void
mgr_ka_free(struct mgr_ka *ka)
{
    LIST_REMOVE(ka, link);
    free(ka->hostname);
    free(ka->ip);
    free(ka);
}

/* The stream of ka is over: its host is inactive unless another stream of it is open. */
static void
mgr_ka_gone(struct mgr_ka *ka)
{
    struct mgr *ctx = ka->ctx;
    struct mgr_ka *o;
    bool other = false;

    if (ka->known) {
        LIST_FOREACH (o, ctx->ka_live, link) {
            other |= o != ka && o->known && o->kind == ka->kind &&
                     o->cluster_id == ka->cluster_id && strcmp(o->hostname, ka->hostname) == 0;
        }
        if (!other && mgr_reg_keepalive(ctx->db, ka->kind, ka->hostname, ka->ip, ka->cluster_id,
                                        false, df_time_wall_ms(), 0) == 0)
            log_info("manager: %s %s: keepalive stream ended: inactive",
                     ka->kind == MGR_REG_SCHEDULER ? "scheduler" : "seed peer", ka->hostname);
    }
    mgr_ka_free(ka);
}

static void
mgr_ka_message(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct mgr_ka *ka = arg;
    struct mgr *ctx = ka->ctx;
    struct proto_mgr_req r;
    struct df_error err;
    int rv;

    if (proto_mgr_req_from_json(msg, PROTO_MGR_REQ_KEEPALIVE, &r, &err) != 0) {
        mgr_ka_free(ka);
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    if (!ka->known) {
        ka->kind = mgr_rpc_kind(r.source);
        if (ka->kind == MGR_REG_PEER) {
            proto_mgr_req_reset(&r);
            mgr_ka_free(ka);
            rpc_call_finish(call, RPC_INVALID_ARGUMENT,
                            "sourceType: only schedulers and seed peers keep alive");
            return;
        }
        if (!mgr_rpc_may(call, ka->kind, r.hostname)) {
            proto_mgr_req_reset(&r);
            mgr_ka_free(ka);
            return;
        }
        ka->hostname = xstrdup(r.hostname);
        ka->ip = r.ip != NULL ? xstrdup(r.ip) : NULL;
        ka->cluster_id = (int64_t)r.cluster_id;
    } else if (mgr_rpc_kind(r.source) != ka->kind || strcmp(r.hostname, ka->hostname) != 0 ||
               (int64_t)r.cluster_id != ka->cluster_id) {
        proto_mgr_req_reset(&r);
        mgr_ka_gone(ka);
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, "a keepalive stream speaks for one host");
        return;
    }
    proto_mgr_req_reset(&r);
    ctx->keepalives++;
    rv = mgr_reg_keepalive(ctx->db, ka->kind, ka->hostname, ka->ip, ka->cluster_id, true,
                           df_time_wall_ms(), ctx->cfg.keepalive_timeout);
    if (rv != 0) {
        mgr_ka_gone(ka);
        mgr_rpc_fail(call, rv, "host not registered: call UpdateScheduler or UpdateSeedPeer first");
        return;
    }
    if (!ka->known)
        log_info("manager: %s %s: keepalive stream open: active",
                 ka->kind == MGR_REG_SCHEDULER ? "scheduler" : "seed peer", ka->hostname);
    ka->known = true;
}

static void
mgr_ka_end(struct rpc_call *call, void *arg)
{
    mgr_ka_gone(arg);
    rpc_call_finish(call, RPC_OK, NULL);
}

static void
mgr_ka_cancel(struct rpc_call *call, enum rpc_code why, void *arg)
{
    (void)call;
    (void)why;
    mgr_ka_gone(arg);
}

static void
mgr_rpc_keepalive(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {
            .on_message = mgr_ka_message,
            .on_end = mgr_ka_end,
            .on_cancel = mgr_ka_cancel,
    };
    struct mgr *ctx = arg;
    struct mgr_ka *ka = xcalloc(1, sizeof(*ka));

    (void)req;
    ctx->rpc_calls++;
    ka->ctx = ctx;
    ka->call = call;
    LIST_INSERT_HEAD(ctx->ka_live, ka, link);
    rpc_call_set_cbs(call, &cbs, ka);
}

/* ---- the server ---- */

int
mgr_rpc_start(struct mgr *ctx, struct df_error *err)
{
    const struct rpc_method methods[] = {
            {PROTO_MGR_UPDATE_SCHEDULER, RPC_KIND_UNARY, mgr_rpc_update_scheduler, ctx},
            {PROTO_MGR_GET_SCHEDULER, RPC_KIND_UNARY, mgr_rpc_get_scheduler, ctx},
            {PROTO_MGR_UPDATE_SEED_PEER, RPC_KIND_UNARY, mgr_rpc_update_seed_peer, ctx},
            {PROTO_MGR_DELETE_SEED_PEER, RPC_KIND_UNARY, mgr_rpc_delete_seed_peer, ctx},
            {PROTO_MGR_GET_SEED_PEER, RPC_KIND_UNARY, mgr_rpc_get_seed_peer, ctx},
            {PROTO_MGR_LIST_SEED_PEERS, RPC_KIND_UNARY, mgr_rpc_list_seed_peers, ctx},
            {PROTO_MGR_LIST_SCHEDULERS, RPC_KIND_UNARY, mgr_rpc_list_schedulers, ctx},
            {PROTO_MGR_LIST_APPLICATIONS, RPC_KIND_UNARY, mgr_rpc_list_applications, ctx},
            {PROTO_MGR_KEEPALIVE, RPC_KIND_BIDI, mgr_rpc_keepalive, ctx},
    };
    struct rpc_server_opts opts;
    int rv;

    ctx->ka_live = xcalloc(1, sizeof(*ctx->ka_live));
    LIST_INIT(ctx->ka_live);
    memset(&opts, 0, sizeof(opts));
    /* requests are small; a host keeps one KeepAlive stream and makes a call a minute */
    opts.max_msg_bytes = 256u << 10;
    ctx->rpc = rpc_server_new(ctx->base, &opts);
    if ((rv = rpc_server_register(ctx->rpc, methods, DF_NELEM(methods))) != 0)
        return df_error_set(err, rv, "rpc: cannot register methods");
    if ((rv = rpc_tls_setup(&ctx->cfg.tls, "manager", &ctx->tls_server, &ctx->tls_client, err)) !=
        0)
        return rv;
    return rpc_server_listen(ctx->rpc, ctx->cfg.rpc_listen, ctx->tls_server, err);
}

void
mgr_rpc_shutdown(struct mgr *ctx)
{
    if (ctx->rpc != NULL)
        rpc_server_shutdown(ctx->rpc);
}

void
mgr_rpc_free(struct mgr *ctx)
{
    /* each open stream gets on_cancel and writes its host inactive: the db is still open */
    rpc_server_free(ctx->rpc);
    ctx->rpc = NULL;
    free(ctx->ka_live);
    ctx->ka_live = NULL;
    net_tls_ctx_free(ctx->tls_server);
    net_tls_ctx_free(ctx->tls_client);
}
