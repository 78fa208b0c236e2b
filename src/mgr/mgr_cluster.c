/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clusters: scheduler clusters and seed-peer clusters, each with its CRUD routes, and the
 * /api/v1/clusters facade that upstream's console uses, where one "cluster" is a scheduler
 * cluster (whose id it carries) and a seed-peer cluster of the same name, created, changed
 * and deleted together in one transaction. Configs and scopes are validated against
 * upstream's bounds and stored as compact JSON text we wrote ourselves, so reading them back
 * cannot fail on input.
 */
#include "mgr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_json.h"
#include "df/df_time.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

/* The query filters of the lists, bound in order as ?1... */
static const char *const mgr_cluster_filters[] = {"name"};

struct mgr_bound {
    const char *key;
    int64_t lo, hi;
};

static const struct mgr_bound mgr_sched_bounds[] = {
        {"candidate_parent_limit", 1, 20},
        {"filter_parent_limit", 10, 1000},
        {"job_rate_limit", 1, 1000000},
        {NULL, 0, 0},
};
static const struct mgr_bound mgr_peer_bounds[] = {{"load_limit", 1, 2000}, {NULL, 0, 0}};
static const struct mgr_bound mgr_seed_bounds[] = {{"load_limit", 1, 50000}, {NULL, 0, 0}};

/*
 * Check the config object at body[key] against bounds (integers in range where present, a
 * block_list object); *out gets its compact text (caller frees), NULL when absent. Returns 0,
 * or DF_EINVAL with the validator's text in err (absent and required, or out of bounds).
 */
static int
mgr_cluster_config(const cJSON *body, const char *key, const struct mgr_bound *bounds,
                   bool required, char **out, struct df_error *err)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(body, key), *v;

    *out = NULL;
    if (obj == NULL || cJSON_IsNull(obj))
        return required ? df_error_set(err, DF_EINVAL, "%s: required", key) : 0;
    if (!cJSON_IsObject(obj))
        return df_error_set(err, DF_EINVAL, "%s: expected an object", key);
    for (const struct mgr_bound *b = bounds; b->key != NULL; b++) {
        v = cJSON_GetObjectItemCaseSensitive(obj, b->key);
        if (v == NULL)
            continue;
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < (double)b->lo || v->valuedouble > (double)b->hi)
            return df_error_set(err, DF_EINVAL, "%s.%s: expected an integer from %lld to %lld", key,
                                b->key, (long long)b->lo, (long long)b->hi);
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "block_list");
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsObject(v))
        return df_error_set(err, DF_EINVAL, "%s.block_list: expected an object", key);
    *out = cJSON_PrintUnformatted(obj);
    return 0;
}

/* Scopes {idc, location, cidrs[], hostnames[]}: the types upstream binds. */
static int
mgr_cluster_scopes(const cJSON *body, char **out, struct df_error *err)
{
    static const char *const lists[] = {"cidrs", "hostnames"};
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(body, "scopes"), *v, *e;
    const char *s;

    *out = NULL;
    if (obj == NULL || cJSON_IsNull(obj))
        return 0;
    if (!cJSON_IsObject(obj))
        return df_error_set(err, DF_EINVAL, "scopes: expected an object");
    if (mgr_json_str(obj, "idc", 0, 1024, false, &s, err) != 0 ||
        mgr_json_str(obj, "location", 0, 1024, false, &s, err) != 0)
        return DF_EINVAL;
    for (size_t i = 0; i < DF_NELEM(lists); i++) {
        v = cJSON_GetObjectItemCaseSensitive(obj, lists[i]);
        if (v == NULL || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 1000)
            return df_error_set(err, DF_EINVAL, "scopes.%s: expected an array of strings",
                                lists[i]);
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsString(e) || strlen(e->valuestring) > 1024)
                return df_error_set(err, DF_EINVAL, "scopes.%s: expected an array of strings",
                                    lists[i]);
        }
    }
    *out = cJSON_PrintUnformatted(obj);
    return 0;
}

/* An optional boolean: -1 absent, 0, 1; DF_EINVAL for another type. */
static int
mgr_cluster_bool(const cJSON *body, const char *key, int *out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);

    *out = -1;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return df_error_set(err, DF_EINVAL, "%s: expected true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* The fields of a scheduler cluster (or of the facade, under its own key names). */
struct mgr_sc_fields {
    const char *name, *bio;
    char *config, *client_config, *seed_client_config, *scopes;
    int is_default;
};

static void
mgr_sc_fields_reset(struct mgr_sc_fields *f)
{
    cJSON_free(f->config);
    cJSON_free(f->client_config);
    cJSON_free(f->seed_client_config);
    cJSON_free(f->scopes);
    memset(f, 0, sizeof(*f));
}

/*
 * Read a scheduler cluster from body. facade: the keys of /api/v1/clusters
 * (scheduler_cluster_config, peer_cluster_config, seed_peer_cluster_config). create: the
 * required fields must be there.
 */
static int
mgr_sc_fields_parse(const cJSON *body, bool facade, bool create, struct mgr_sc_fields *f,
                    struct df_error *err)
{
    memset(f, 0, sizeof(*f));
    if (mgr_json_str(body, "name", 1, 1024, create, &f->name, err) != 0 ||
        mgr_json_str(body, "bio", 0, 1024, false, &f->bio, err) != 0 ||
        mgr_cluster_config(body, facade ? "scheduler_cluster_config" : "config", mgr_sched_bounds,
                           create, &f->config, err) != 0 ||
        mgr_cluster_config(body, facade ? "peer_cluster_config" : "client_config", mgr_peer_bounds,
                           create, &f->client_config, err) != 0 ||
        mgr_cluster_config(body, facade ? "seed_peer_cluster_config" : "seed_client_config",
                           mgr_seed_bounds, create, &f->seed_client_config, err) != 0 ||
        mgr_cluster_scopes(body, &f->scopes, err) != 0 ||
        mgr_cluster_bool(body, "is_default", &f->is_default, err) != 0) {
        mgr_sc_fields_reset(f);
        return DF_EINVAL;
    }
    return 0;
}

/* Add key: the JSON document text (ours) as a value. */
static void
mgr_cluster_add_raw(cJSON *doc, const char *key, const char *text)
{
    cJSON *v = cJSON_Parse(text);

    cJSON_AddItemToObject(doc, key, v != NULL ? v : cJSON_CreateObject());
}

/* A scheduler cluster row (MGR_SC_COLS) as upstream's model. */
static cJSON *
mgr_sc_json(sqlite3_stmt *st)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddNumberToObject(c, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(c, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(c, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(c, "is_del", 0);
    cJSON_AddStringToObject(c, "name", mgr_db_col_text(st, 3));
    cJSON_AddStringToObject(c, "bio", mgr_db_col_text(st, 4));
    mgr_cluster_add_raw(c, "config", mgr_db_col_text(st, 5));
    mgr_cluster_add_raw(c, "client_config", mgr_db_col_text(st, 6));
    mgr_cluster_add_raw(c, "seed_client_config", mgr_db_col_text(st, 7));
    mgr_cluster_add_raw(c, "scopes", mgr_db_col_text(st, 8));
    cJSON_AddBoolToObject(c, "is_default", sqlite3_column_int64(st, 9) != 0);
    return c;
}

/* A seed-peer cluster row (MGR_SPC_COLS). */
static cJSON *
mgr_spc_json(sqlite3_stmt *st)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddNumberToObject(c, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(c, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(c, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(c, "is_del", 0);
    cJSON_AddStringToObject(c, "name", mgr_db_col_text(st, 3));
    cJSON_AddStringToObject(c, "bio", mgr_db_col_text(st, 4));
    mgr_cluster_add_raw(c, "config", mgr_db_col_text(st, 5));
    return c;
}

/* The seed-peer cluster linked to scheduler cluster id (the lowest id), or 0. */
static int64_t
mgr_cluster_link_of(struct mgr *ctx, int64_t id)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_LINK_OF_SC);
    int64_t spc = 0;

    if (st == NULL)
        return 0;
    sqlite3_bind_int64(st, 1, id);
    if (mgr_db_step(ctx->db, st) == STORE_SQL_ROW)
        spc = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return spc;
}

/* The facade's view of a scheduler cluster row and its seed-peer cluster. */
static cJSON *
mgr_facade_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *c = cJSON_CreateObject();
    int64_t id = sqlite3_column_int64(st, 0);

    cJSON_AddNumberToObject(c, "id", (double)id);
    cJSON_AddStringToObject(c, "name", mgr_db_col_text(st, 3));
    cJSON_AddStringToObject(c, "bio", mgr_db_col_text(st, 4));
    mgr_cluster_add_raw(c, "scopes", mgr_db_col_text(st, 8));
    cJSON_AddNumberToObject(c, "scheduler_cluster_id", (double)id);
    cJSON_AddNumberToObject(c, "seed_peer_cluster_id", (double)mgr_cluster_link_of(ctx, id));
    mgr_cluster_add_raw(c, "scheduler_cluster_config", mgr_db_col_text(st, 5));
    mgr_cluster_add_raw(c, "seed_peer_cluster_config", mgr_db_col_text(st, 7));
    mgr_cluster_add_raw(c, "peer_cluster_config", mgr_db_col_text(st, 6));
    mgr_json_add_time(c, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(c, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddBoolToObject(c, "is_default", sqlite3_column_int64(st, 9) != 0);
    return c;
}

static cJSON *
mgr_sc_row(struct mgr *ctx, sqlite3_stmt *st)
{
    (void)ctx;
    return mgr_sc_json(st);
}

static cJSON *
mgr_spc_row(struct mgr *ctx, sqlite3_stmt *st)
{
    (void)ctx;
    return mgr_spc_json(st);
}

/* GET :id of any of the three. */
static void
mgr_cluster_get_reply(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                      enum mgr_stmt slot, mgr_row_json_fn *fn)
{
    int64_t id;
    cJSON *doc;
    int rv;

    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    if ((doc = mgr_db_fetch(ctx, slot, id, fn, &rv)) == NULL)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_doc(req, 200, doc);
}

/* DELETE :id through slot: 404 when nothing was there. */
static int
mgr_cluster_delete_id(struct mgr *ctx, enum mgr_stmt slot, int64_t id)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, slot);
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, id);
    if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
        rv = DF_ENOTFOUND;
    return rv;
}

/* ---- writes, each inside the caller's transaction ---- */

/* Only one default scheduler cluster: setting one clears the others. */
static int
mgr_sc_default(struct mgr *ctx, int64_t id, int is_default)
{
    sqlite3_stmt *st;

    if (is_default != 1)
        return 0;
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_SC_CLEAR_DEFAULT)) == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, id);
    return mgr_db_run(ctx->db, st);
}

static int
mgr_sc_insert(struct mgr *ctx, const struct mgr_sc_fields *f, int64_t *id)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_SC_INSERT);
    int rv;

    if (st == NULL)
        return DF_EIO;
    if ((rv = mgr_db_name_check(ctx->db, MGR_STMT_SC_NAME_TAKEN, f->name, 0)) != 0)
        return rv;
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    mgr_db_bind_text(st, 2, f->name);
    mgr_db_bind_text(st, 3, f->bio != NULL ? f->bio : "");
    mgr_db_bind_text(st, 4, f->config);
    mgr_db_bind_text(st, 5, f->client_config);
    mgr_db_bind_text(st, 6, f->seed_client_config);
    mgr_db_bind_text(st, 7, f->scopes != NULL ? f->scopes : "{}");
    sqlite3_bind_int(st, 8, f->is_default == 1);
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rv < 0)
        return rv;
    return mgr_sc_default(ctx, *id, f->is_default);
}

static int
mgr_sc_update(struct mgr *ctx, int64_t id, const struct mgr_sc_fields *f)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_SC_UPDATE);
    int rv;

    if (st == NULL)
        return DF_EIO;
    if ((rv = mgr_db_name_check(ctx->db, MGR_STMT_SC_NAME_TAKEN, f->name, id)) != 0)
        return rv;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, df_time_wall_ms());
    mgr_db_bind_text(st, 3, f->name);
    mgr_db_bind_text(st, 4, f->bio);
    mgr_db_bind_text(st, 5, f->config);
    mgr_db_bind_text(st, 6, f->client_config);
    mgr_db_bind_text(st, 7, f->seed_client_config);
    mgr_db_bind_text(st, 8, f->scopes);
    if (f->is_default >= 0)
        sqlite3_bind_int(st, 9, f->is_default);
    if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
        rv = DF_ENOTFOUND;
    if (rv == 0)
        rv = mgr_sc_default(ctx, id, f->is_default);
    return rv;
}

static int
mgr_spc_insert(struct mgr *ctx, const char *name, const char *bio, const char *config, int64_t *id)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_SPC_INSERT);
    int rv;

    if (st == NULL)
        return DF_EIO;
    if ((rv = mgr_db_name_check(ctx->db, MGR_STMT_SPC_NAME_TAKEN, name, 0)) != 0)
        return rv;
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    mgr_db_bind_text(st, 2, name);
    mgr_db_bind_text(st, 3, bio != NULL ? bio : "");
    mgr_db_bind_text(st, 4, config != NULL ? config : "{}");
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rv < 0 ? rv : 0;
}

static int
mgr_spc_update(struct mgr *ctx, int64_t id, const char *name, const char *bio, const char *config)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_SPC_UPDATE);
    int rv;

    if (st == NULL)
        return DF_EIO;
    if ((rv = mgr_db_name_check(ctx->db, MGR_STMT_SPC_NAME_TAKEN, name, id)) != 0)
        return rv;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, df_time_wall_ms());
    mgr_db_bind_text(st, 3, name);
    mgr_db_bind_text(st, 4, bio);
    mgr_db_bind_text(st, 5, config);
    if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
        rv = DF_ENOTFOUND;
    return rv;
}

static int
mgr_cluster_link(struct mgr *ctx, int64_t spc, int64_t sc)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_LINK_PUT);

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, spc);
    sqlite3_bind_int64(st, 2, sc);
    return mgr_db_run(ctx->db, st);
}

/* End a transaction with rv: commit on 0, else roll back. Returns the final result. */
static int
mgr_cluster_end(struct mgr *ctx, int rv)
{
    if (rv == 0 && (rv = store_sql_commit(ctx->db, NULL)) == 0)
        return 0;
    store_sql_rollback(ctx->db);
    return rv;
}

/* Reply with the row id through slot after a write (rv its result). */
static void
mgr_cluster_reply_after(struct mgr *ctx, struct net_http_req *req, int rv, enum mgr_stmt slot,
                        int64_t id, mgr_row_json_fn *fn)
{
    cJSON *doc;

    if (rv == 0 && (doc = mgr_db_fetch(ctx, slot, id, fn, &rv)) != NULL)
        mgr_reply_doc(req, 200, doc);
    else
        mgr_reply_db_error(req, rv);
}

/* ---- scheduler clusters ---- */

/*
 * POST a scheduler cluster, or (facade) a scheduler cluster with its seed-peer cluster of the
 * same name: one transaction either way. A scheduler cluster may name a seed-peer cluster to
 * link (404 when there is none).
 */
static void
mgr_cluster_create_as(struct mgr *ctx, struct net_http_req *req, bool facade)
{
    struct mgr_sc_fields f;
    struct df_error err;
    int64_t id = 0, spc = 0;
    cJSON *body, *doc;
    int rv;

    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_sc_fields_parse(body, facade, true, &f, &err) != 0 ||
        (!facade && df_json_get_i64(body, "seed_peer_cluster_id", &spc, &err) == DF_EINVAL)) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if ((rv = store_sql_begin(ctx->db, NULL)) == 0) {
        if (spc > 0) {
            doc = mgr_db_fetch(ctx, MGR_STMT_SPC_GET, spc, mgr_spc_row, &rv);
            rv = doc != NULL ? 0 : rv;
            cJSON_Delete(doc);
        }
        if (rv == 0)
            rv = mgr_sc_insert(ctx, &f, &id);
        if (rv == 0 && facade)
            rv = mgr_spc_insert(ctx, f.name, f.bio, f.seed_client_config, &spc);
        if (rv == 0 && spc > 0)
            rv = mgr_cluster_link(ctx, spc, id);
        rv = mgr_cluster_end(ctx, rv);
    }
    mgr_sc_fields_reset(&f);
    cJSON_Delete(body);
    mgr_cluster_reply_after(ctx, req, rv, MGR_STMT_SC_GET, id,
                            facade ? mgr_facade_json : mgr_sc_row);
}

/* PATCH a scheduler cluster; through the facade its seed-peer cluster follows. */
static void
mgr_cluster_patch_as(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     bool facade)
{
    struct mgr_sc_fields f;
    struct df_error err;
    int64_t id, spc;
    cJSON *body;
    int rv;

    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_sc_fields_parse(body, facade, false, &f, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if ((rv = store_sql_begin(ctx->db, NULL)) == 0) {
        rv = mgr_sc_update(ctx, id, &f);
        /* the facade's name, bio and seed config are its seed-peer cluster's too */
        if (rv == 0 && facade && (spc = mgr_cluster_link_of(ctx, id)) > 0)
            rv = mgr_spc_update(ctx, spc, f.name, f.bio, f.seed_client_config);
        rv = mgr_cluster_end(ctx, rv);
    }
    mgr_sc_fields_reset(&f);
    cJSON_Delete(body);
    mgr_cluster_reply_after(ctx, req, rv, MGR_STMT_SC_GET, id,
                            facade ? mgr_facade_json : mgr_sc_row);
}

void
mgr_cluster_sc_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                      const struct mgr_caller *who)
{
    (void)m;
    (void)who;
    mgr_cluster_create_as(ctx, req, false);
}

void
mgr_cluster_sc_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                    const struct mgr_caller *who)
{
    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_SC_COUNT, MGR_STMT_SC_LIST, mgr_cluster_filters, 1,
                   mgr_sc_row);
}

void
mgr_cluster_sc_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                   const struct mgr_caller *who)
{
    (void)who;
    mgr_cluster_get_reply(ctx, req, m, MGR_STMT_SC_GET, mgr_sc_row);
}

void
mgr_cluster_sc_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who)
{
    (void)who;
    mgr_cluster_patch_as(ctx, req, m, false);
}

void
mgr_cluster_sc_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                      const struct mgr_caller *who)
{
    int64_t id;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    mgr_reply_done(req, mgr_cluster_delete_id(ctx, MGR_STMT_SC_DELETE, id));
}

/* ---- seed-peer clusters ---- */

/* {name, bio, config}: name required on create. */
static int
mgr_spc_parse(const cJSON *body, bool create, const char **name, const char **bio, char **config,
              struct df_error *err)
{
    *config = NULL;
    if (mgr_json_str(body, "name", 1, 1024, create, name, err) != 0 ||
        mgr_json_str(body, "bio", 0, 1024, false, bio, err) != 0 ||
        mgr_cluster_config(body, "config", mgr_seed_bounds, false, config, err) != 0)
        return DF_EINVAL;
    return 0;
}

void
mgr_cluster_spc_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                       const struct mgr_caller *who)
{
    const char *name, *bio;
    char *config = NULL;
    struct df_error err;
    int64_t id = 0;
    cJSON *body;
    int rv;

    (void)m;
    (void)who;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_spc_parse(body, true, &name, &bio, &config, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    rv = mgr_spc_insert(ctx, name, bio, config, &id);
    cJSON_free(config);
    cJSON_Delete(body);
    mgr_cluster_reply_after(ctx, req, rv, MGR_STMT_SPC_GET, id, mgr_spc_row);
}

void
mgr_cluster_spc_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who)
{
    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_SPC_COUNT, MGR_STMT_SPC_LIST, mgr_cluster_filters, 1,
                   mgr_spc_row);
}

void
mgr_cluster_spc_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                    const struct mgr_caller *who)
{
    (void)who;
    mgr_cluster_get_reply(ctx, req, m, MGR_STMT_SPC_GET, mgr_spc_row);
}

void
mgr_cluster_spc_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                      const struct mgr_caller *who)
{
    const char *name, *bio;
    char *config = NULL;
    struct df_error err;
    int64_t id;
    cJSON *body;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_spc_parse(body, false, &name, &bio, &config, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    rv = mgr_spc_update(ctx, id, name, bio, config);
    cJSON_free(config);
    cJSON_Delete(body);
    mgr_cluster_reply_after(ctx, req, rv, MGR_STMT_SPC_GET, id, mgr_spc_row);
}

void
mgr_cluster_spc_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                       const struct mgr_caller *who)
{
    int64_t id;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    mgr_reply_done(req, mgr_cluster_delete_id(ctx, MGR_STMT_SPC_DELETE, id));
}

/* PUT /seed-peer-clusters/:id/scheduler-clusters/:scheduler_cluster_id */
void
mgr_cluster_spc_link(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who)
{
    int64_t spc, sc;
    cJSON *doc;
    int rv;

    (void)who;
    if ((spc = mgr_param_id(req, m, "id")) == 0 ||
        (sc = mgr_param_id(req, m, "scheduler_cluster_id")) == 0)
        return;
    if ((doc = mgr_db_fetch(ctx, MGR_STMT_SPC_GET, spc, mgr_spc_row, &rv)) == NULL ||
        (cJSON_Delete(doc), doc = mgr_db_fetch(ctx, MGR_STMT_SC_GET, sc, mgr_sc_row, &rv)) ==
                NULL) {
        mgr_reply_db_error(req, rv);
        return;
    }
    cJSON_Delete(doc);
    mgr_reply_done(req, mgr_cluster_link(ctx, spc, sc));
}

/* ---- the /api/v1/clusters facade ---- */

void
mgr_cluster_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                   const struct mgr_caller *who)
{
    (void)m;
    (void)who;
    mgr_cluster_create_as(ctx, req, true);
}

void
mgr_cluster_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                 const struct mgr_caller *who)
{
    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_SC_COUNT, MGR_STMT_SC_LIST, mgr_cluster_filters, 1,
                   mgr_facade_json);
}

void
mgr_cluster_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                const struct mgr_caller *who)
{
    (void)who;
    mgr_cluster_get_reply(ctx, req, m, MGR_STMT_SC_GET, mgr_facade_json);
}

void
mgr_cluster_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    (void)who;
    mgr_cluster_patch_as(ctx, req, m, true);
}

void
mgr_cluster_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                   const struct mgr_caller *who)
{
    int64_t id, spc;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    spc = mgr_cluster_link_of(ctx, id);
    if ((rv = store_sql_begin(ctx->db, NULL)) == 0) {
        rv = mgr_cluster_delete_id(ctx, MGR_STMT_SC_DELETE, id);
        if (rv == 0 && spc > 0)
            rv = mgr_cluster_delete_id(ctx, MGR_STMT_SPC_DELETE, spc);
        rv = mgr_cluster_end(ctx, rv);
    }
    mgr_reply_done(req, rv);
}

cJSON *
mgr_cluster_sc_row(struct mgr *ctx, sqlite3_stmt *st)
{
    return mgr_sc_row(ctx, st);
}
