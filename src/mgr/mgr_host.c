/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST over the registry: /api/v1/schedulers, /api/v1/seed-peers and /api/v1/peers, each a
 * paginated list (the filters upstream's handlers bind, the exact Link header), a GET by id
 * and a DELETE by id, in upstream's model JSON. state is the liveness the registry reads at
 * that moment (mgr_db.c MGR_REG_STATE), not a stored flag. Schedulers and seed peers come
 * from their own registration (mgr_rpc.c), peers from their ListSchedulers calls: the lists
 * have no POST. A deleted scheduler or seed peer that is still running registers again at
 * its next keepalive.
 */
#include "mgr.h"

#include "df/net_http_server.h"
#include "df/net_route.h"

static const char *const mgr_host_sched_filters[] = {
        "host_name", "idc", "location", "ip", "state", "scheduler_cluster_id",
};
static const char *const mgr_host_seed_filters[] = {
        "host_name",     "type",  "idc",
        "location",      "ip",    "port",
        "download_port", "state", "seed_peer_cluster_id",
};
static const char *const mgr_host_peer_filters[] = {
        "host_name", "type",           "idc",         "location",   "ip",
        "port",      "download_port",  "proxy_port",  "state",      "os",
        "platform",  "kernel_version", "git_version", "git_commit", "scheduler_cluster_id",
};

/* The JSON text of column i parsed into doc[key] (an empty object or array when bad). */
static void
mgr_host_add_raw(cJSON *doc, const char *key, sqlite3_stmt *st, int i, bool array)
{
    cJSON *v = cJSON_Parse(mgr_db_col_text(st, i));

    if (v == NULL)
        v = array ? cJSON_CreateArray() : cJSON_CreateObject();
    cJSON_AddItemToObject(doc, key, v);
}

/* The members every host row starts with: id, times, is_del, host_name. */
static cJSON *
mgr_host_head(sqlite3_stmt *st)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddNumberToObject(c, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(c, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(c, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(c, "is_del", 0);
    cJSON_AddStringToObject(c, "host_name", mgr_db_col_text(st, 3));
    return c;
}

/* A row of MGR_SCHED_COLS. */
static cJSON *
mgr_host_sched_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *c = mgr_host_head(st);

    (void)ctx;
    cJSON_AddStringToObject(c, "idc", mgr_db_col_text(st, 4));
    cJSON_AddStringToObject(c, "location", mgr_db_col_text(st, 5));
    cJSON_AddStringToObject(c, "ip", mgr_db_col_text(st, 6));
    cJSON_AddNumberToObject(c, "port", sqlite3_column_int(st, 7));
    mgr_host_add_raw(c, "features", st, 8, true);
    mgr_host_add_raw(c, "config", st, 9, false);
    cJSON_AddStringToObject(c, "state", mgr_db_col_text(st, 10));
    mgr_json_add_time(c, "last_keep_alive_at", sqlite3_column_int64(st, 11));
    cJSON_AddNumberToObject(c, "scheduler_cluster_id", (double)sqlite3_column_int64(st, 12));
    return c;
}

/* Columns 4..8 of seed peers and peers: type, idc, location, ip, port, download_port. */
static void
mgr_host_common(cJSON *c, sqlite3_stmt *st)
{
    cJSON_AddStringToObject(c, "type", mgr_db_col_text(st, 4));
    cJSON_AddStringToObject(c, "idc", mgr_db_col_text(st, 5));
    cJSON_AddStringToObject(c, "location", mgr_db_col_text(st, 6));
    cJSON_AddStringToObject(c, "ip", mgr_db_col_text(st, 7));
    cJSON_AddNumberToObject(c, "port", sqlite3_column_int(st, 8));
    cJSON_AddNumberToObject(c, "download_port", sqlite3_column_int(st, 9));
}

/* A row of MGR_SEED_COLS. */
static cJSON *
mgr_host_seed_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *c = mgr_host_head(st);

    (void)ctx;
    mgr_host_common(c, st);
    cJSON_AddNumberToObject(c, "object_storage_port", sqlite3_column_int(st, 10));
    cJSON_AddStringToObject(c, "state", mgr_db_col_text(st, 11));
    mgr_json_add_time(c, "last_keep_alive_at", sqlite3_column_int64(st, 12));
    cJSON_AddNumberToObject(c, "seed_peer_cluster_id", (double)sqlite3_column_int64(st, 13));
    return c;
}

/* A row of MGR_PEER_COLS. */
static cJSON *
mgr_host_peer_json(struct mgr *ctx, sqlite3_stmt *st)
{
    static const char *const text[] = {
            "os",          "platform",   "platform_family", "platform_version", "kernel_version",
            "git_version", "git_commit", "build_platform",
    };
    cJSON *c = mgr_host_head(st);

    (void)ctx;
    mgr_host_common(c, st);
    cJSON_AddNumberToObject(c, "proxy_port", sqlite3_column_int(st, 10));
    cJSON_AddNumberToObject(c, "object_storage_port", sqlite3_column_int(st, 11));
    cJSON_AddStringToObject(c, "state", mgr_db_col_text(st, 12));
    for (int i = 0; i < (int)DF_NELEM(text); i++)
        cJSON_AddStringToObject(c, text[i], mgr_db_col_text(st, 13 + i));
    cJSON_AddNumberToObject(c, "scheduler_cluster_id", (double)sqlite3_column_int64(st, 21));
    return c;
}

/* DELETE :id through slot. */
static void
mgr_host_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                enum mgr_stmt slot)
{
    int64_t id;

    if ((id = mgr_param_id(req, m, "id")) != 0)
        mgr_reply_done(req, mgr_cluster_delete_id(ctx, slot, id));
}

/* The three handlers of a resource: list (filters, json), GET :id and DELETE :id. */
#define MGR_HOST_HANDLERS(name, COUNT, LIST, GET, DELETE, filters, json)                         \
    void mgr_host_##name##_list(struct mgr *ctx, struct net_http_req *req,                       \
                                const struct net_route_match *m, const struct mgr_caller *who)   \
    {                                                                                            \
        (void)m;                                                                                 \
        (void)who;                                                                               \
        mgr_reply_rows(ctx, req, COUNT, LIST, filters, DF_NELEM(filters), json);                 \
    }                                                                                            \
    void mgr_host_##name##_get(struct mgr *ctx, struct net_http_req *req,                        \
                               const struct net_route_match *m, const struct mgr_caller *who)    \
    {                                                                                            \
        (void)who;                                                                               \
        mgr_cluster_get_reply(ctx, req, m, GET, json);                                           \
    }                                                                                            \
    void mgr_host_##name##_delete(struct mgr *ctx, struct net_http_req *req,                     \
                                  const struct net_route_match *m, const struct mgr_caller *who) \
    {                                                                                            \
        (void)who;                                                                               \
        mgr_host_delete(ctx, req, m, DELETE);                                                    \
    }

MGR_HOST_HANDLERS(sched, MGR_STMT_SCHED_COUNT, MGR_STMT_SCHED_LIST, MGR_STMT_SCHED_GET,
                  MGR_STMT_SCHED_DELETE, mgr_host_sched_filters, mgr_host_sched_json)
MGR_HOST_HANDLERS(seed, MGR_STMT_SEED_COUNT, MGR_STMT_SEED_LIST, MGR_STMT_SEED_GET,
                  MGR_STMT_SEED_DELETE, mgr_host_seed_filters, mgr_host_seed_json)
MGR_HOST_HANDLERS(peer, MGR_STMT_PEER_COUNT, MGR_STMT_PEER_LIST, MGR_STMT_PEER_GET,
                  MGR_STMT_PEER_DELETE, mgr_host_peer_filters, mgr_host_peer_json)
