/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/applications, as upstream's (D:manager/handlers/application.go): {name, url, bio,
 * priority:{value, urls:[{regex, value}]}, user_id}, CRUD with PATCH. The priority is what
 * schedulers fetch with ListApplications (mgr_rpc.c) to rank the downloads of an
 * application, so it is checked here: levels 0..20 and url patterns that compile, a bad
 * one is a 422 and never a pattern a scheduler has to drop. Names are unique (409).
 */
#include "mgr.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_json.h"
#include "df/df_time.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/proto_mgr.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

/* Upstream's columns: name varchar(256), url and bio varchar(1024). */
#define MGR_APP_NAME_MAX  256
#define MGR_APP_TEXT_MAX  1024
#define MGR_APP_REGEX_MAX 1024

static cJSON *
mgr_app_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *a = cJSON_CreateObject(), *user;
    const char *priority = mgr_db_col_text(st, 6);
    int64_t user_id = sqlite3_column_int64(st, 7);
    int rv;

    cJSON_AddNumberToObject(a, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(a, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(a, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(a, "is_del", 0);
    cJSON_AddStringToObject(a, "name", mgr_db_col_text(st, 3));
    cJSON_AddStringToObject(a, "url", mgr_db_col_text(st, 4));
    cJSON_AddStringToObject(a, "bio", mgr_db_col_text(st, 5));
    /* stored normalised by mgr_app_priority_parse; '' (none) is null as upstream's nil */
    if (priority[0] != '\0')
        cJSON_AddItemToObject(a, "priority", cJSON_Parse(priority));
    else
        cJSON_AddNullToObject(a, "priority");
    cJSON_AddNumberToObject(a, "user_id", (double)user_id);
    /* upstream preloads the owner; a deleted user leaves null */
    user = user_id > 0 ? mgr_user_by_id(ctx, user_id, &rv) : NULL;
    if (user != NULL)
        cJSON_AddItemToObject(a, "user", user);
    else
        cJSON_AddNullToObject(a, "user");
    return a;
}

/* Member "value" of o: an integer of 0..MGR_APP_PRIORITY_MAX (where names o in the error). */
static int
mgr_app_level(const cJSON *o, const char *where, int *out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");

    if (v == NULL || cJSON_IsNull(v))
        return df_error_set(err, DF_EINVAL, "%s.value: required", where);
    /* the range first: a huge double is never cast */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= MGR_APP_PRIORITY_MAX) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return df_error_set(err, DF_EINVAL, "%s.value: expected an integer of 0 to %d", where,
                            MGR_APP_PRIORITY_MAX);
    *out = (int)v->valuedouble;
    return 0;
}

/* One {regex, value} of priority.urls, appended to urls. */
static int
mgr_app_url(const cJSON *e, size_t i, cJSON *urls, struct df_error *err)
{
    char where[48];
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(e, "regex");
    regex_t compiled;
    cJSON *u;
    int level;

    snprintf(where, sizeof(where), "priority.urls[%zu]", i);
    if (!cJSON_IsObject(e))
        return df_error_set(err, DF_EINVAL, "%s: expected an object", where);
    if (!cJSON_IsString(re) || re->valuestring[0] == '\0' ||
        strlen(re->valuestring) > MGR_APP_REGEX_MAX)
        return df_error_set(err, DF_EINVAL, "%s.regex: expected 1 to %d characters", where,
                            MGR_APP_REGEX_MAX);
    /* the schedulers match with POSIX extended expressions: one that does not compile here
     * would be dropped there */
    if (regcomp(&compiled, re->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
        return df_error_set(err, DF_EINVAL, "%s.regex: not a regular expression", where);
    regfree(&compiled);
    if (mgr_app_level(e, where, &level, err) != 0)
        return DF_EINVAL;
    u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "regex", re->valuestring);
    cJSON_AddNumberToObject(u, "value", level);
    cJSON_AddItemToArray(urls, u);
    return 0;
}

int
mgr_app_priority_parse(const cJSON *v, char **out, struct df_error *err)
{
    const cJSON *list, *e;
    cJSON *doc = NULL, *urls;
    size_t i = 0;
    int level, rv;

    if (!cJSON_IsObject(v))
        return df_error_set(err, DF_EINVAL, "priority: expected an object");
    if ((rv = mgr_app_level(v, "priority", &level, err)) != 0)
        return rv;
    list = cJSON_GetObjectItemCaseSensitive(v, "urls");
    if (list != NULL && !cJSON_IsNull(list) && !cJSON_IsArray(list))
        return df_error_set(err, DF_EINVAL, "priority.urls: expected an array");
    if (cJSON_GetArraySize(list) > MGR_APP_URLS_MAX)
        return df_error_set(err, DF_EINVAL, "priority.urls: at most %d", MGR_APP_URLS_MAX);
    doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "value", level);
    urls = cJSON_AddArrayToObject(doc, "urls");
    for (e = cJSON_IsArray(list) ? list->child : NULL; e != NULL; e = e->next) {
        if ((rv = mgr_app_url(e, i++, urls, err)) != 0)
            goto out;
    }
    *out = cJSON_PrintUnformatted(doc);
    rv = *out != NULL ? 0 : DF_ENOMEM;
out:
    cJSON_Delete(doc);
    return rv;
}

struct mgr_app_fields {
    const char *name, *url, *bio;
    char *priority;  /* normalised JSON text, owned; NULL: absent */
    int64_t user_id; /* 0: absent */
};

/*
 * The members of a create (name, url, priority and user_id required) or a patch (each
 * optional); user_id must name a user. Fills f (free f->priority) or err.
 */
static int
mgr_app_parse(struct mgr *ctx, const cJSON *body, bool create, struct mgr_app_fields *f,
              struct df_error *err)
{
    const cJSON *pri = cJSON_GetObjectItemCaseSensitive(body, "priority");
    cJSON *user;
    int rv;

    memset(f, 0, sizeof(*f));
    if ((rv = mgr_json_str(body, "name", 1, MGR_APP_NAME_MAX, create, &f->name, err)) != 0 ||
        (rv = mgr_json_str(body, "url", 1, MGR_APP_TEXT_MAX, create, &f->url, err)) != 0 ||
        (rv = mgr_json_str(body, "bio", 0, MGR_APP_TEXT_MAX, false, &f->bio, err)) != 0)
        return rv;
    if (pri == NULL || cJSON_IsNull(pri)) {
        if (create)
            return df_error_set(err, DF_EINVAL, "priority: required");
    } else if ((rv = mgr_app_priority_parse(pri, &f->priority, err)) != 0)
        return rv;
    if (df_json_get_i64(body, "user_id", &f->user_id, err) == DF_EINVAL || f->user_id < 0 ||
        (create && f->user_id == 0))
        return df_error_set(err, DF_EINVAL, "user_id: required, a positive integer");
    if (f->user_id > 0) {
        if ((user = mgr_user_by_id(ctx, f->user_id, &rv)) == NULL)
            return df_error_set(err, DF_EINVAL, "user_id: no user %lld", (long long)f->user_id);
        cJSON_Delete(user);
    }
    return 0;
}

void
mgr_app_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    struct mgr_app_fields f = {0};
    struct df_error err;
    sqlite3_stmt *st;
    cJSON *body;

    (void)m;
    (void)who;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_app_parse(ctx, body, true, &f, &err) != 0) {
        mgr_reply_errors(req, err.msg);
        goto out;
    }
    if ((st = mgr_reply_named_stmt(ctx, req, MGR_STMT_APP_NAME_TAKEN, f.name, 0,
                                   MGR_STMT_APP_INSERT)) == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    mgr_db_bind_text(st, 2, f.name);
    mgr_db_bind_text(st, 3, f.url);
    mgr_db_bind_text(st, 4, f.bio != NULL ? f.bio : "");
    mgr_db_bind_text(st, 5, f.priority);
    sqlite3_bind_int64(st, 6, f.user_id);
    mgr_reply_write(ctx, req, st, 0, MGR_STMT_APP_GET, mgr_app_json);
out:
    free(f.priority);
    cJSON_Delete(body);
}

void
mgr_app_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
             const struct mgr_caller *who)
{
    static const char *const filters[] = {"name"};

    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_APP_COUNT, MGR_STMT_APP_LIST, filters, DF_NELEM(filters),
                   mgr_app_json);
}

void
mgr_app_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
            const struct mgr_caller *who)
{
    (void)who;
    mgr_cluster_get_reply(ctx, req, m, MGR_STMT_APP_GET, mgr_app_json);
}

void
mgr_app_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
              const struct mgr_caller *who)
{
    struct mgr_app_fields f = {0};
    struct df_error err;
    sqlite3_stmt *st;
    cJSON *body = NULL;
    int64_t id;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_app_parse(ctx, body, false, &f, &err) != 0) {
        mgr_reply_errors(req, err.msg);
        goto out;
    }
    if ((st = mgr_reply_named_stmt(ctx, req, MGR_STMT_APP_NAME_TAKEN, f.name, id,
                                   MGR_STMT_APP_UPDATE)) == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, df_time_wall_ms());
    mgr_db_bind_text(st, 3, f.name);
    mgr_db_bind_text(st, 4, f.url);
    mgr_db_bind_text(st, 5, f.bio);
    mgr_db_bind_text(st, 6, f.priority);
    if (f.user_id > 0)
        sqlite3_bind_int64(st, 7, f.user_id);
    else
        sqlite3_bind_null(st, 7);
    mgr_reply_write(ctx, req, st, id, MGR_STMT_APP_GET, mgr_app_json);
out:
    free(f.priority);
    cJSON_Delete(body);
}

void
mgr_app_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    (void)who;
    mgr_reply_delete(ctx, req, m, MGR_STMT_APP_DELETE);
}

/* The stored priority text (written by mgr_app_priority_parse) into a. */
static void
mgr_app_priority_read(const char *text, struct proto_mgr_app *a)
{
    cJSON *doc = cJSON_Parse(text);
    const cJSON *urls = cJSON_GetObjectItemCaseSensitive(doc, "urls"), *e, *re, *v;

    a->priority = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "value"));
    if (cJSON_GetArraySize(urls) > 0)
        a->urls = xcalloc((size_t)cJSON_GetArraySize(urls), sizeof(*a->urls));
    cJSON_ArrayForEach(e, urls)
    {
        re = cJSON_GetObjectItemCaseSensitive(e, "regex");
        v = cJSON_GetObjectItemCaseSensitive(e, "value");
        if (!cJSON_IsString(re) || !cJSON_IsNumber(v))
            continue;
        a->urls[a->nurls].regex = xstrdup(re->valuestring);
        a->urls[a->nurls++].value = (uint32_t)v->valuedouble;
    }
    cJSON_Delete(doc);
}

int
mgr_app_prioritized(struct mgr *ctx, struct proto_mgr_apps *out)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_APP_PRIORITIZED);
    struct proto_mgr_apps a = {0};
    struct proto_mgr_app *p;
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, PROTO_MGR_APPS_MAX);
    a.v = xcalloc(PROTO_MGR_APPS_MAX, sizeof(*a.v));
    while ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW) {
        p = &a.v[a.n++];
        p->id = (uint64_t)sqlite3_column_int64(st, 0);
        p->name = xstrdup(mgr_db_col_text(st, 3));
        p->url = xstrdup(mgr_db_col_text(st, 4));
        p->bio = xstrdup(mgr_db_col_text(st, 5));
        mgr_app_priority_read(mgr_db_col_text(st, 6), p);
    }
    sqlite3_reset(st);
    if (rv < 0) {
        proto_mgr_apps_reset(&a);
        return rv;
    }
    *out = a;
    return 0;
}
