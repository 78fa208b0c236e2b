/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry of schedulers, seed peers and peers, in the tables of migration 3. Writes come
 * from the manager.v2 RPC (mgr_rpc.c) and the REST API; reads from both and from the preheat
 * jobs, which dispatch to the active schedulers of a cluster. Liveness is evaluated when a
 * row is read (see MGR_REG_STATE in mgr_db.c), so a host that stops sending keepalives reads
 * inactive once its last one expires, with no sweeper to fall behind.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/log.h"
#include "df/store_sql.h"

static const enum mgr_stmt mgr_reg_upsert[] = {
        [MGR_REG_SCHEDULER] = MGR_STMT_SCHED_UPSERT,
        [MGR_REG_SEED_PEER] = MGR_STMT_SEED_UPSERT,
        [MGR_REG_PEER] = MGR_STMT_PEER_UPSERT,
};

static const enum mgr_stmt mgr_reg_of_cluster[] = {
        [MGR_REG_SCHEDULER] = MGR_STMT_SCHED_OF_SC,
        [MGR_REG_SEED_PEER] = MGR_STMT_SEED_OF_SPC,
        [MGR_REG_PEER] = MGR_STMT_PEER_OF_SC,
};

static const char *
mgr_reg_str(const char *s)
{
    return s != NULL ? s : "";
}

/* 0 when the cluster of a host of kind exists, else DF_ENOTFOUND or a db error. */
static int
mgr_reg_cluster_exists(struct store_sql *db, enum mgr_reg_kind kind, int64_t id)
{
    sqlite3_stmt *st =
            mgr_db_stmt(db, kind == MGR_REG_SEED_PEER ? MGR_STMT_SPC_GET : MGR_STMT_SC_GET);
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, id);
    rv = mgr_db_step(db, st);
    sqlite3_reset(st);
    return rv == STORE_SQL_ROW ? 0 : rv < 0 ? rv : DF_ENOTFOUND;
}

int
mgr_reg_update(struct store_sql *db, enum mgr_reg_kind kind, const struct mgr_reg_update *u,
               int64_t now, int64_t *id)
{
    sqlite3_stmt *st;
    int rv;

    /* the cluster first: a missing one is the caller's 404, not a constraint sqlite logs */
    if ((rv = mgr_reg_cluster_exists(db, kind, u->cluster_id)) != 0)
        return rv;
    if ((st = mgr_db_stmt(db, mgr_reg_upsert[kind])) == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, now);
    mgr_db_bind_text(st, 2, mgr_reg_str(u->hostname));
    switch (kind) {
    case MGR_REG_SCHEDULER:
        mgr_db_bind_text(st, 3, mgr_reg_str(u->idc));
        mgr_db_bind_text(st, 4, mgr_reg_str(u->location));
        mgr_db_bind_text(st, 5, mgr_reg_str(u->ip));
        sqlite3_bind_int(st, 6, u->port);
        mgr_db_bind_text(st, 7, u->features != NULL ? u->features : "[]");
        mgr_db_bind_text(st, 8, u->config != NULL ? u->config : "{}");
        sqlite3_bind_int64(st, 9, u->cluster_id);
        mgr_db_bind_text(st, 10, mgr_reg_str(u->version));
        mgr_db_bind_text(st, 11, mgr_reg_str(u->commit));
        break;
    case MGR_REG_SEED_PEER:
    case MGR_REG_PEER:
        /* both start with type, idc, location, ip, port, download_port */
        mgr_db_bind_text(st, 3,
                         u->type != NULL             ? u->type
                         : kind == MGR_REG_SEED_PEER ? "super"
                                                     : "normal");
        mgr_db_bind_text(st, 4, mgr_reg_str(u->idc));
        mgr_db_bind_text(st, 5, mgr_reg_str(u->location));
        mgr_db_bind_text(st, 6, mgr_reg_str(u->ip));
        sqlite3_bind_int(st, 7, u->port);
        sqlite3_bind_int(st, 8, u->download_port);
        if (kind == MGR_REG_SEED_PEER) {
            sqlite3_bind_int(st, 9, 0); /* object storage port: we have none */
            sqlite3_bind_int64(st, 10, u->cluster_id);
            mgr_db_bind_text(st, 11, mgr_reg_str(u->version));
            mgr_db_bind_text(st, 12, mgr_reg_str(u->commit));
            break;
        }
        sqlite3_bind_int(st, 9, u->proxy_port);
        mgr_db_bind_text(st, 10, mgr_reg_str(u->version));
        mgr_db_bind_text(st, 11, mgr_reg_str(u->commit));
        sqlite3_bind_int64(st, 12, u->alive_until);
        sqlite3_bind_int64(st, 13, u->cluster_id);
        break;
    }
    rv = mgr_db_step(db, st);
    if (rv == STORE_SQL_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rv == STORE_SQL_ROW ? 0 : rv < 0 ? rv : DF_EIO;
}

int
mgr_reg_keepalive(struct store_sql *db, enum mgr_reg_kind kind, const char *hostname,
                  const char *ip, int64_t cluster_id, bool alive, int64_t now, int64_t ttl)
{
    sqlite3_stmt *st;
    int rv;

    if (kind == MGR_REG_PEER)
        return DF_EINVAL;
    st = mgr_db_stmt(db, kind == MGR_REG_SCHEDULER ? MGR_STMT_SCHED_ALIVE : MGR_STMT_SEED_ALIVE);
    if (st == NULL)
        return DF_EIO;
    mgr_db_bind_text(st, 1, hostname);
    mgr_db_bind_text(st, 2, ip != NULL && *ip != '\0' ? ip : NULL);
    sqlite3_bind_int64(st, 3, cluster_id);
    sqlite3_bind_text(st, 4, alive ? "active" : "inactive", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, alive ? now + ttl : 0);
    if ((rv = mgr_db_run(db, st)) != 0)
        return rv;
    return store_sql_changes(db) > 0 ? 0 : DF_ENOTFOUND;
}

/* Columns of a row of each kind's _COLS (mgr_db.c) that a struct mgr_reg_host holds. */
struct mgr_reg_cols {
    int hostname, type, idc, location, ip, port, download_port, state, cluster;
};

static const struct mgr_reg_cols mgr_reg_cols[] = {
        [MGR_REG_SCHEDULER] = {3, -1, 4, 5, 6, 7, -1, 10, 12},
        [MGR_REG_SEED_PEER] = {3, 4, 5, 6, 7, 8, 9, 11, 13},
        [MGR_REG_PEER] = {3, 4, 5, 6, 7, 8, 9, 12, 21},
};

static void
mgr_reg_copy(char *dst, size_t len, sqlite3_stmt *st, int col)
{
    snprintf(dst, len, "%s", col >= 0 ? mgr_db_col_text(st, col) : "");
}

static int
mgr_reg_row(sqlite3_stmt *st, void *item, const struct mgr_reg_cols *c)
{
    struct mgr_reg_host *h = item;

    h->id = sqlite3_column_int64(st, 0);
    mgr_reg_copy(h->hostname, sizeof(h->hostname), st, c->hostname);
    mgr_reg_copy(h->type, sizeof(h->type), st, c->type);
    mgr_reg_copy(h->idc, sizeof(h->idc), st, c->idc);
    mgr_reg_copy(h->location, sizeof(h->location), st, c->location);
    mgr_reg_copy(h->ip, sizeof(h->ip), st, c->ip);
    h->port = sqlite3_column_int(st, c->port);
    h->download_port = c->download_port >= 0 ? sqlite3_column_int(st, c->download_port) : 0;
    h->active = strcmp(mgr_db_col_text(st, c->state), "active") == 0;
    h->cluster_id = sqlite3_column_int64(st, c->cluster);
    if (c->type < 0) /* schedulers */
        mgr_reg_copy(h->features, sizeof(h->features), st, 8);
    return 0;
}

static int
mgr_reg_row_sched(sqlite3_stmt *st, void *item)
{
    return mgr_reg_row(st, item, &mgr_reg_cols[MGR_REG_SCHEDULER]);
}

static int
mgr_reg_row_seed(sqlite3_stmt *st, void *item)
{
    return mgr_reg_row(st, item, &mgr_reg_cols[MGR_REG_SEED_PEER]);
}

static int
mgr_reg_row_peer(sqlite3_stmt *st, void *item)
{
    return mgr_reg_row(st, item, &mgr_reg_cols[MGR_REG_PEER]);
}

static store_sql_row_fn *const mgr_reg_row_fns[] = {
        [MGR_REG_SCHEDULER] = mgr_reg_row_sched,
        [MGR_REG_SEED_PEER] = mgr_reg_row_seed,
        [MGR_REG_PEER] = mgr_reg_row_peer,
};

int
mgr_reg_list(struct store_sql *db, enum mgr_reg_kind kind, int64_t cluster_id, bool active_only,
             struct mgr_reg_host **out, size_t *n)
{
    struct store_sql_rows rows = {.size = sizeof(struct mgr_reg_host)};
    sqlite3_stmt *st = mgr_db_stmt(db, mgr_reg_of_cluster[kind]);
    struct df_error err;
    int rv;

    if (st == NULL)
        return DF_EIO;
    if (cluster_id > 0)
        sqlite3_bind_int64(st, 1, cluster_id);
    if (active_only)
        sqlite3_bind_int(st, 2, 1);
    if ((rv = store_sql_collect(db, st, &rows, mgr_reg_row_fns[kind], &err)) != 0) {
        log_warnx("manager: registry: %s", err.msg);
        free(rows.items);
        return rv;
    }
    *out = rows.items;
    *n = rows.count;
    return 0;
}
