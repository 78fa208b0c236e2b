/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/configs: named string values kept for the console and the manager itself, as
 * upstream's (D:manager/handlers/config.go): {name, value, bio, user_id}, CRUD with PATCH.
 * The row named "gc" holds the GC's TTLs (mgr_gc.c); a write of it is checked here, so that
 * a typo is a 422 and never a GC that silently falls back to its defaults.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_json.h"
#include "df/df_time.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/store_sql.h"

/* Upstream's bounds (D:manager/types/config.go). */
#define MGR_CONFIG_TEXT_MAX 1024

static cJSON *
mgr_config_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *c = cJSON_CreateObject();

    (void)ctx;
    cJSON_AddNumberToObject(c, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(c, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(c, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(c, "is_del", 0);
    cJSON_AddStringToObject(c, "name", mgr_db_col_text(st, 3));
    cJSON_AddStringToObject(c, "value", mgr_db_col_text(st, 4));
    cJSON_AddStringToObject(c, "bio", mgr_db_col_text(st, 5));
    cJSON_AddNumberToObject(c, "user_id", (double)sqlite3_column_int64(st, 6));
    return c;
}

struct mgr_config_fields {
    const char *name, *value, *bio;
    int64_t user_id; /* 0: absent */
};

/* The members of a create (every one required but bio) or a patch (each optional). */
static int
mgr_config_parse(const cJSON *body, bool create, struct mgr_config_fields *f, struct df_error *err)
{
    int rv;

    memset(f, 0, sizeof(*f));
    if ((rv = mgr_json_str(body, "name", 1, MGR_CONFIG_TEXT_MAX, create, &f->name, err)) != 0 ||
        (rv = mgr_json_str(body, "value", 1, MGR_CONFIG_TEXT_MAX, create, &f->value, err)) != 0 ||
        (rv = mgr_json_str(body, "bio", 0, MGR_CONFIG_TEXT_MAX, false, &f->bio, err)) != 0)
        return rv;
    if (df_json_get_i64(body, "user_id", &f->user_id, err) == DF_EINVAL || f->user_id < 0)
        return df_error_set(err, DF_EINVAL, "user_id: expected a positive integer");
    return 0;
}

/* The GC's row must stay one the GC reads: check value when the row is (or becomes) "gc". */
static int
mgr_config_check_gc(const char *name, const char *value, struct df_error *err)
{
    struct mgr_gc_ttl ttl;

    if (name == NULL || strcmp(name, MGR_GC_CONFIG) != 0 || value == NULL)
        return 0;
    return mgr_gc_ttl_parse(value, &ttl, err);
}

/* The name and value of row id, copied ("" when there is no such row). */
static void
mgr_config_current(struct mgr *ctx, int64_t id, char *name, char *value, size_t len)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_CONFIG_GET);

    name[0] = value[0] = '\0';
    if (st == NULL)
        return;
    sqlite3_bind_int64(st, 1, id);
    if (mgr_db_step(ctx->db, st) == STORE_SQL_ROW) {
        snprintf(name, len, "%s", mgr_db_col_text(st, 3));
        snprintf(value, len, "%s", mgr_db_col_text(st, 4));
    }
    sqlite3_reset(st);
}

void
mgr_config_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    struct mgr_config_fields f;
    struct df_error err;
    sqlite3_stmt *st;
    cJSON *body;

    (void)m;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_config_parse(body, true, &f, &err) != 0 ||
        mgr_config_check_gc(f.name, f.value, &err) != 0) {
        mgr_reply_errors(req, err.msg);
        goto out;
    }
    if ((st = mgr_reply_named_stmt(ctx, req, MGR_STMT_CONFIG_NAME_TAKEN, f.name, 0,
                                   MGR_STMT_CONFIG_INSERT)) == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    mgr_db_bind_text(st, 2, f.name);
    mgr_db_bind_text(st, 3, f.value);
    mgr_db_bind_text(st, 4, f.bio != NULL ? f.bio : "");
    /* the caller unless the body names a user, as the jobs take it */
    sqlite3_bind_int64(st, 5, f.user_id > 0 ? f.user_id : who->user_id);
    mgr_reply_write(ctx, req, st, 0, MGR_STMT_CONFIG_GET, mgr_config_json);
out:
    cJSON_Delete(body);
}

void
mgr_config_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                const struct mgr_caller *who)
{
    static const char *const filters[] = {"name"};

    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_CONFIG_COUNT, MGR_STMT_CONFIG_LIST, filters,
                   DF_NELEM(filters), mgr_config_json);
}

void
mgr_config_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    (void)who;
    mgr_cluster_get_reply(ctx, req, m, MGR_STMT_CONFIG_GET, mgr_config_json);
}

void
mgr_config_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                 const struct mgr_caller *who)
{
    struct mgr_config_fields f;
    struct df_error err;
    sqlite3_stmt *st;
    char name[MGR_CONFIG_TEXT_MAX * 4 + 1], value[MGR_CONFIG_TEXT_MAX * 4 + 1];
    cJSON *body = NULL;
    int64_t id;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_config_parse(body, false, &f, &err) != 0) {
        mgr_reply_errors(req, err.msg);
        goto out;
    }
    /* the row as it will be: a row renamed to gc must hold the GC's value too */
    mgr_config_current(ctx, id, name, value, sizeof(name));
    if (mgr_config_check_gc(f.name != NULL ? f.name : name, f.value != NULL ? f.value : value,
                            &err) != 0) {
        mgr_reply_errors(req, err.msg);
        goto out;
    }
    if ((st = mgr_reply_named_stmt(ctx, req, MGR_STMT_CONFIG_NAME_TAKEN, f.name, id,
                                   MGR_STMT_CONFIG_UPDATE)) == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, df_time_wall_ms());
    mgr_db_bind_text(st, 3, f.name);
    mgr_db_bind_text(st, 4, f.value);
    mgr_db_bind_text(st, 5, f.bio);
    if (f.user_id > 0)
        sqlite3_bind_int64(st, 6, f.user_id);
    else
        sqlite3_bind_null(st, 6);
    mgr_reply_write(ctx, req, st, id, MGR_STMT_CONFIG_GET, mgr_config_json);
out:
    cJSON_Delete(body);
}

void
mgr_config_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    (void)who;
    mgr_reply_delete(ctx, req, m, MGR_STMT_CONFIG_DELETE);
}
