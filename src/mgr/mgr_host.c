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

/* The members every host row starts with: id, times, is_del, host_name. */
static void
mgr_host_head(struct mgr_jbuf *b, sqlite3_stmt *st)
{
    mgr_jbuf_open(b, '{');
    mgr_jbuf_int(b, "id", sqlite3_column_int64(st, 0));
    mgr_jbuf_time(b, "created_at", sqlite3_column_int64(st, 1));
    mgr_jbuf_time(b, "updated_at", sqlite3_column_int64(st, 2));
    mgr_jbuf_int(b, "is_del", 0);
    mgr_jbuf_str(b, "host_name", mgr_db_col_text(st, 3));
}

/*
 * The host's cluster as upstream preloads it, from column col on (mgr_db.c
 * MGR_SC_NESTED_COLS, or MGR_SPC_NESTED_COLS when not sc): the cluster model's members.
 */
static void
mgr_host_cluster(struct mgr_jbuf *b, const char *key, sqlite3_stmt *st, int col, bool sc)
{
    mgr_jbuf_key(b, key);
    mgr_jbuf_open(b, '{');
    mgr_jbuf_int(b, "id", sqlite3_column_int64(st, col));
    mgr_jbuf_time(b, "created_at", sqlite3_column_int64(st, col + 1));
    mgr_jbuf_time(b, "updated_at", sqlite3_column_int64(st, col + 2));
    mgr_jbuf_int(b, "is_del", 0);
    mgr_jbuf_str(b, "name", mgr_db_col_text(st, col + 3));
    mgr_jbuf_str(b, "bio", mgr_db_col_text(st, col + 4));
    mgr_jbuf_json_ours(b, "config", mgr_db_col_text(st, col + 5));
    if (sc) {
        mgr_jbuf_json_ours(b, "client_config", mgr_db_col_text(st, col + 6));
        mgr_jbuf_json_ours(b, "seed_client_config", mgr_db_col_text(st, col + 7));
        mgr_jbuf_json_ours(b, "scopes", mgr_db_col_text(st, col + 8));
        mgr_jbuf_bool(b, "is_default", sqlite3_column_int(st, col + 9) != 0);
    }
    mgr_jbuf_close(b, '}');
}

/* A row of MGR_SCHED_COLS and the nested cluster. */
static void
mgr_host_sched_write(struct mgr_jbuf *b, sqlite3_stmt *st)
{
    mgr_host_head(b, st);
    mgr_jbuf_str(b, "idc", mgr_db_col_text(st, 4));
    mgr_jbuf_str(b, "location", mgr_db_col_text(st, 5));
    mgr_jbuf_str(b, "ip", mgr_db_col_text(st, 6));
    mgr_jbuf_int(b, "port", sqlite3_column_int(st, 7));
    mgr_jbuf_json(b, "features", mgr_db_col_text(st, 8), true);
    mgr_jbuf_json(b, "config", mgr_db_col_text(st, 9), false);
    mgr_jbuf_str(b, "state", mgr_db_col_text(st, 10));
    mgr_jbuf_time(b, "last_keep_alive_at", sqlite3_column_int64(st, 11));
    mgr_jbuf_int(b, "scheduler_cluster_id", sqlite3_column_int64(st, 12));
    mgr_jbuf_str(b, "git_version", mgr_db_col_text(st, 13));
    mgr_jbuf_str(b, "git_commit", mgr_db_col_text(st, 14));
    mgr_host_cluster(b, "scheduler_cluster", st, 15, true);
    mgr_jbuf_close(b, '}');
}

/* Columns 4..8 of seed peers and peers: type, idc, location, ip, port, download_port. */
static void
mgr_host_common(struct mgr_jbuf *b, sqlite3_stmt *st)
{
    mgr_jbuf_str(b, "type", mgr_db_col_text(st, 4));
    mgr_jbuf_str(b, "idc", mgr_db_col_text(st, 5));
    mgr_jbuf_str(b, "location", mgr_db_col_text(st, 6));
    mgr_jbuf_str(b, "ip", mgr_db_col_text(st, 7));
    mgr_jbuf_int(b, "port", sqlite3_column_int(st, 8));
    mgr_jbuf_int(b, "download_port", sqlite3_column_int(st, 9));
}

/* A row of MGR_SEED_COLS and the nested cluster. */
static void
mgr_host_seed_write(struct mgr_jbuf *b, sqlite3_stmt *st)
{
    mgr_host_head(b, st);
    mgr_host_common(b, st);
    mgr_jbuf_int(b, "object_storage_port", sqlite3_column_int(st, 10));
    mgr_jbuf_str(b, "state", mgr_db_col_text(st, 11));
    mgr_jbuf_time(b, "last_keep_alive_at", sqlite3_column_int64(st, 12));
    mgr_jbuf_int(b, "seed_peer_cluster_id", sqlite3_column_int64(st, 13));
    mgr_jbuf_str(b, "git_version", mgr_db_col_text(st, 14));
    mgr_jbuf_str(b, "git_commit", mgr_db_col_text(st, 15));
    mgr_host_cluster(b, "seed_peer_cluster", st, 16, false);
    mgr_jbuf_close(b, '}');
}

/* A row of MGR_PEER_COLS and the nested cluster. */
static void
mgr_host_peer_write(struct mgr_jbuf *b, sqlite3_stmt *st)
{
    static const char *const text[] = {
            "os",          "platform",   "platform_family", "platform_version", "kernel_version",
            "git_version", "git_commit", "build_platform",
    };

    mgr_host_head(b, st);
    mgr_host_common(b, st);
    mgr_jbuf_int(b, "proxy_port", sqlite3_column_int(st, 10));
    mgr_jbuf_int(b, "object_storage_port", sqlite3_column_int(st, 11));
    mgr_jbuf_str(b, "state", mgr_db_col_text(st, 12));
    for (int i = 0; i < (int)DF_NELEM(text); i++)
        mgr_jbuf_str(b, text[i], mgr_db_col_text(st, 13 + i));
    mgr_jbuf_int(b, "scheduler_cluster_id", sqlite3_column_int64(st, 21));
    mgr_host_cluster(b, "scheduler_cluster", st, 22, true);
    mgr_jbuf_close(b, '}');
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

/*
 * The handlers of a resource: list (filters, rows written as text), GET :id (the same row as
 * a tree) and DELETE :id.
 */
#define MGR_HOST_HANDLERS(name, COUNT, LIST, GET, DELETE, filters, write)                        \
    static cJSON *mgr_host_##name##_json(struct mgr *ctx, sqlite3_stmt *st)                      \
    {                                                                                            \
        (void)ctx;                                                                               \
        return mgr_row_tree(st, write);                                                          \
    }                                                                                            \
    void mgr_host_##name##_list(struct mgr *ctx, struct net_http_req *req,                       \
                                const struct net_route_match *m, const struct mgr_caller *who)   \
    {                                                                                            \
        (void)m;                                                                                 \
        (void)who;                                                                               \
        mgr_reply_rows_text(ctx, req, COUNT, COUNT##_ALL, LIST, filters, DF_NELEM(filters),      \
                            write);                                                              \
    }                                                                                            \
    void mgr_host_##name##_get(struct mgr *ctx, struct net_http_req *req,                        \
                               const struct net_route_match *m, const struct mgr_caller *who)    \
    {                                                                                            \
        (void)who;                                                                               \
        mgr_cluster_get_reply(ctx, req, m, GET, mgr_host_##name##_json);                         \
    }                                                                                            \
    void mgr_host_##name##_delete(struct mgr *ctx, struct net_http_req *req,                     \
                                  const struct net_route_match *m, const struct mgr_caller *who) \
    {                                                                                            \
        (void)who;                                                                               \
        mgr_host_delete(ctx, req, m, DELETE);                                                    \
    }

MGR_HOST_HANDLERS(sched, MGR_STMT_SCHED_COUNT, MGR_STMT_SCHED_LIST, MGR_STMT_SCHED_GET,
                  MGR_STMT_SCHED_DELETE, mgr_host_sched_filters, mgr_host_sched_write)
MGR_HOST_HANDLERS(seed, MGR_STMT_SEED_COUNT, MGR_STMT_SEED_LIST, MGR_STMT_SEED_GET,
                  MGR_STMT_SEED_DELETE, mgr_host_seed_filters, mgr_host_seed_write)
MGR_HOST_HANDLERS(peer, MGR_STMT_PEER_COUNT, MGR_STMT_PEER_LIST, MGR_STMT_PEER_GET,
                  MGR_STMT_PEER_DELETE, mgr_host_peer_filters, mgr_host_peer_write)
