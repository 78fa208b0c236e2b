/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST route table and its one gate. Every route declares its access rule, and the zero
 * rule is the strictest (a valid JWT whose user holds the permission), so a route added
 * without thinking is closed, never open: upstream left its job API unauthenticated twice
 * (TOB-DF2-1, CVE-2026-24124) because each route group opted in to auth. The RBAC object of
 * a route is its group (/api/v1/<group>/...), the action "read" for GET and HEAD and "*"
 * otherwise, as upstream's casbin model has it. Also the reply helpers every handler
 * shares, in upstream's shapes: {"message": ...} for 401/403/404/409/500, {"errors": ...}
 * for 422.
 */
#include "mgr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "df/df_json.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

#define MGR_API_PREFIX  "/api/v"
#define MGR_OAPI_PREFIX "/oapi/v"

static void
mgr_api_healthy(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                const struct mgr_caller *who)
{
    (void)ctx;
    (void)m;
    (void)who;
    /* gin's c.JSON(200, "OK"): a JSON string */
    net_http_req_respond(req, 200, "application/json; charset=utf-8", "\"OK\"", 4);
}

/*
 * Ready: not stopping and the database answers a read (the meta row of the JWT key, by
 * primary key, so a probe every few seconds costs nothing). A locked or broken database
 * is a 503 with sqlite's message, not logged: a probe repeats it every period.
 */
static void
mgr_api_readyz(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    struct df_error err;
    sqlite3_stmt *st;
    char text[sizeof(err.msg) + 16];
    int rv;

    (void)m;
    (void)who;
    if (ctx->stopping) {
        net_route_reply_text(req, 503, "stopping\n");
        return;
    }
    if ((rv = store_sql_stmt(ctx->db, MGR_STMT_META_GET, &st, &err)) == 0) {
        sqlite3_bind_text(st, 1, "jwt_key", -1, SQLITE_STATIC);
        rv = store_sql_step(ctx->db, st, &err);
        sqlite3_reset(st);
    }
    if (rv < 0) {
        snprintf(text, sizeof(text), "database: %s\n", err.msg);
        net_route_reply_text(req, 503, text);
        return;
    }
    net_route_reply_text(req, 200, "OK");
}

static void
mgr_api_metrics(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                const struct mgr_caller *who)
{
    (void)m;
    (void)who;
    net_route_reply_metrics(req, ctx->metrics);
}

#define OPEN MGR_ACCESS_OPEN
#define JWT  MGR_ACCESS_JWT
#define PAT  MGR_ACCESS_PAT
#define OLD  MGR_ACCESS_LEGACY
#define ROOT MGR_ACCESS_ROOT

static const struct mgr_route mgr_routes[] = {
        {"GET", "/healthy", mgr_api_healthy, OPEN},
        {"GET", "/readyz", mgr_api_readyz, OPEN},
        {"GET", "/metrics", mgr_api_metrics, OPEN},
        /* sign-in and friends are open as upstream's; each checks its own secret */
        {"POST", "/api/v1/users/signin", mgr_user_signin, OPEN},
        {"POST", "/api/v1/users/signout", mgr_user_signout, OPEN},
        {"POST", "/api/v1/users/signup", mgr_user_signup, OPEN},
        {"POST", "/api/v1/users/refresh_token", mgr_user_refresh, OPEN},
        {"POST", "/api/v1/users/:id/reset_password", mgr_user_reset_password, OPEN},
        {"GET", "/api/v1/users", mgr_user_list, JWT},
        {"GET", "/api/v1/users/:id", mgr_user_get, JWT},
        {"PATCH", "/api/v1/users/:id", mgr_user_patch, JWT},
        {"GET", "/api/v1/users/:id/roles", mgr_user_roles, JWT},
        {"PUT", "/api/v1/users/:id/roles/:role", mgr_user_role_add, JWT},
        {"DELETE", "/api/v1/users/:id/roles/:role", mgr_user_role_delete, JWT},
        {"GET", "/api/v1/roles", mgr_user_role_list, JWT},
        {"GET", "/api/v1/roles/:role", mgr_user_role_get, JWT},
        {"POST", "/api/v1/roles", mgr_user_role_create, JWT},
        {"DELETE", "/api/v1/roles/:role", mgr_user_role_delete_role, JWT},
        {"POST", "/api/v1/roles/:role/permissions", mgr_user_perm_add, JWT},
        {"DELETE", "/api/v1/roles/:role/permissions", mgr_user_perm_delete, JWT},
        {"GET", "/api/v1/permissions", mgr_user_permissions, JWT},
        {"POST", "/api/v1/clusters", mgr_cluster_create, JWT},
        {"GET", "/api/v1/clusters", mgr_cluster_list, JWT},
        {"GET", "/api/v1/clusters/:id", mgr_cluster_get, JWT},
        {"PATCH", "/api/v1/clusters/:id", mgr_cluster_patch, JWT},
        {"DELETE", "/api/v1/clusters/:id", mgr_cluster_delete, JWT},
        {"POST", "/api/v1/scheduler-clusters", mgr_cluster_sc_create, JWT},
        {"GET", "/api/v1/scheduler-clusters", mgr_cluster_sc_list, JWT},
        {"GET", "/api/v1/scheduler-clusters/:id", mgr_cluster_sc_get, JWT},
        {"PATCH", "/api/v1/scheduler-clusters/:id", mgr_cluster_sc_patch, JWT},
        {"DELETE", "/api/v1/scheduler-clusters/:id", mgr_cluster_sc_delete, JWT},
        {"POST", "/api/v1/seed-peer-clusters", mgr_cluster_spc_create, JWT},
        {"GET", "/api/v1/seed-peer-clusters", mgr_cluster_spc_list, JWT},
        {"GET", "/api/v1/seed-peer-clusters/:id", mgr_cluster_spc_get, JWT},
        {"PATCH", "/api/v1/seed-peer-clusters/:id", mgr_cluster_spc_patch, JWT},
        {"DELETE", "/api/v1/seed-peer-clusters/:id", mgr_cluster_spc_delete, JWT},
        {"PUT", "/api/v1/seed-peer-clusters/:id/scheduler-clusters/:scheduler_cluster_id",
         mgr_cluster_spc_link, JWT},
        {"GET", "/api/v1/schedulers", mgr_host_sched_list, JWT},
        {"GET", "/api/v1/schedulers/:id", mgr_host_sched_get, JWT},
        {"DELETE", "/api/v1/schedulers/:id", mgr_host_sched_delete, JWT},
        {"GET", "/api/v1/seed-peers", mgr_host_seed_list, JWT},
        {"GET", "/api/v1/seed-peers/:id", mgr_host_seed_get, JWT},
        {"DELETE", "/api/v1/seed-peers/:id", mgr_host_seed_delete, JWT},
        {"GET", "/api/v1/peers", mgr_host_peer_list, JWT},
        {"GET", "/api/v1/peers/:id", mgr_host_peer_get, JWT},
        {"DELETE", "/api/v1/peers/:id", mgr_host_peer_delete, JWT},
        {"POST", "/api/v1/personal-access-tokens", mgr_pat_create, JWT},
        {"GET", "/api/v1/personal-access-tokens", mgr_pat_list, JWT},
        {"GET", "/api/v1/personal-access-tokens/:id", mgr_pat_get, JWT},
        {"PATCH", "/api/v1/personal-access-tokens/:id", mgr_pat_patch, JWT},
        {"DELETE", "/api/v1/personal-access-tokens/:id", mgr_pat_delete, JWT},
        /* the cluster CA (mgr_ca.c): writes need "*" on the group, which root has */
        {"POST", "/api/v1/join-tokens", mgr_ca_token_create, JWT},
        {"GET", "/api/v1/join-tokens", mgr_ca_token_list, ROOT},
        {"DELETE", "/api/v1/join-tokens/:id", mgr_ca_token_delete, JWT},
        {"GET", "/api/v1/certificates", mgr_ca_cert_list, ROOT},
        {"POST", "/api/v1/certificates/:serial/revoke", mgr_ca_cert_revoke, JWT},
        {"POST", "/api/v1/jobs", mgr_job_create, JWT},
        {"GET", "/api/v1/jobs", mgr_job_list, JWT},
        {"GET", "/api/v1/jobs/:id", mgr_job_get, JWT},
        {"PATCH", "/api/v1/jobs/:id", mgr_job_patch, JWT},
        {"DELETE", "/api/v1/jobs/:id", mgr_job_delete, JWT},
        {"GET", "/api/v1/audits", mgr_audit_list, ROOT},
        {"POST", "/api/v1/configs", mgr_config_create, JWT},
        {"GET", "/api/v1/configs", mgr_config_list, JWT},
        {"GET", "/api/v1/configs/:id", mgr_config_get, JWT},
        {"PATCH", "/api/v1/configs/:id", mgr_config_patch, JWT},
        {"DELETE", "/api/v1/configs/:id", mgr_config_delete, JWT},
        {"POST", "/api/v1/applications", mgr_app_create, JWT},
        {"GET", "/api/v1/applications", mgr_app_list, JWT},
        {"GET", "/api/v1/applications/:id", mgr_app_get, JWT},
        {"PATCH", "/api/v1/applications/:id", mgr_app_patch, JWT},
        {"DELETE", "/api/v1/applications/:id", mgr_app_delete, JWT},
        /* Harbor <= 2.11 (mgr_harbor.c); /_ping is its health check, open as /healthy */
        {"GET", "/_ping", mgr_api_healthy, OPEN},
        {"POST", "/preheats", mgr_harbor_create, OLD},
        {"GET", "/preheats/:id", mgr_harbor_get, OLD},
        /* /oapi/v1: personal access tokens only, scope = the group without its plural s */
        {"POST", "/oapi/v1/jobs", mgr_job_create, PAT},
        {"GET", "/oapi/v1/jobs", mgr_job_list, PAT},
        {"GET", "/oapi/v1/jobs/:id", mgr_job_get, PAT},
        {"PATCH", "/oapi/v1/jobs/:id", mgr_job_patch, PAT},
        {"DELETE", "/oapi/v1/jobs/:id", mgr_job_delete, PAT},
        {"POST", "/oapi/v1/clusters", mgr_cluster_create, PAT},
        {"GET", "/oapi/v1/clusters", mgr_cluster_list, PAT},
        {"GET", "/oapi/v1/clusters/:id", mgr_cluster_get, PAT},
        {"PATCH", "/oapi/v1/clusters/:id", mgr_cluster_patch, PAT},
        {"DELETE", "/oapi/v1/clusters/:id", mgr_cluster_delete, PAT},
        /* catch-alls, matched after every other route wherever they stand: an API path no
         * route has is a JSON 404; any other GET is the console (a file or index.html) */
        {"GET", "/api/*rest", mgr_console_api_missing, OPEN},
        {"POST", "/api/*rest", mgr_console_api_missing, OPEN},
        {"PUT", "/api/*rest", mgr_console_api_missing, OPEN},
        {"PATCH", "/api/*rest", mgr_console_api_missing, OPEN},
        {"DELETE", "/api/*rest", mgr_console_api_missing, OPEN},
        {"GET", "/oapi/*rest", mgr_console_api_missing, OPEN},
        {"POST", "/oapi/*rest", mgr_console_api_missing, OPEN},
        {"PUT", "/oapi/*rest", mgr_console_api_missing, OPEN},
        {"PATCH", "/oapi/*rest", mgr_console_api_missing, OPEN},
        {"DELETE", "/oapi/*rest", mgr_console_api_missing, OPEN},
        {"GET", "/*path", mgr_console_get, OPEN},
};

#undef OPEN
#undef JWT
#undef PAT
#undef OLD

const struct mgr_route *
mgr_api_routes(size_t *n)
{
    *n = DF_NELEM(mgr_routes);
    return mgr_routes;
}

int
mgr_api_group(const char *pattern, char *out, size_t outlen)
{
    const char *p = pattern, *end;
    size_t len;

    if (strncmp(p, MGR_API_PREFIX, strlen(MGR_API_PREFIX)) == 0)
        p += strlen(MGR_API_PREFIX);
    else if (strncmp(p, MGR_OAPI_PREFIX, strlen(MGR_OAPI_PREFIX)) == 0)
        p += strlen(MGR_OAPI_PREFIX);
    else
        return DF_EINVAL;
    if (*p < '0' || *p > '9')
        return DF_EINVAL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '/')
        return DF_EINVAL;
    end = p + strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_");
    if ((len = (size_t)(end - p)) == 0 || len >= outlen)
        return DF_EINVAL;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

const char *const *
mgr_api_groups(size_t *n)
{
    static char groups[DF_NELEM(mgr_routes)][32];
    static const char *list[DF_NELEM(mgr_routes)];
    static size_t count;
    char g[32];

    if (count == 0) {
        for (size_t i = 0; i < DF_NELEM(mgr_routes); i++) {
            size_t j;

            if ((mgr_routes[i].access != MGR_ACCESS_JWT &&
                 mgr_routes[i].access != MGR_ACCESS_ROOT) ||
                mgr_api_group(mgr_routes[i].pattern, g, sizeof(g)) != 0)
                continue;
            for (j = 0; j < count && strcmp(list[j], g) != 0; j++)
                ;
            if (j == count) {
                memcpy(groups[count], g, sizeof(g));
                list[count] = groups[count];
                count++;
            }
        }
    }
    *n = count;
    return list;
}

void
mgr_reply_doc(struct net_http_req *req, int status, cJSON *doc)
{
    net_route_reply_json(req, status, doc);
    cJSON_Delete(doc);
}

void
mgr_reply_message(struct net_http_req *req, int status, const char *msg)
{
    cJSON *doc = cJSON_CreateObject();

    cJSON_AddStringToObject(doc, "message", msg);
    mgr_reply_doc(req, status, doc);
}

void
mgr_reply_errors(struct net_http_req *req, const char *text)
{
    cJSON *doc = cJSON_CreateObject();

    cJSON_AddStringToObject(doc, "errors", text);
    mgr_reply_doc(req, 422, doc);
}

void
mgr_reply_empty(struct net_http_req *req)
{
    net_http_req_respond(req, 200, NULL, "", 0);
}

void
mgr_reply_db_error(struct net_http_req *req, int rv)
{
    if (rv == DF_ENOTFOUND)
        mgr_reply_message(req, 404, "record not found");
    else if (rv == DF_EEXIST)
        mgr_reply_message(req, 409, "Conflict");
    else
        mgr_reply_message(req, 500, "Internal Server Error");
}

void
mgr_reply_done(struct net_http_req *req, int rv)
{
    if (rv != 0)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_empty(req);
}

/* The Link header of a page. */
static void
mgr_reply_link(struct net_http_req *req, const struct mgr_page *pg, int64_t total)
{
    /* the Link URLs echo the path the client sent (upstream uses the request URL) */
    char *link = mgr_page_link(net_http_req_head(req)->path, net_http_req_query(req), pg, total);

    if (link != NULL)
        net_http_req_add_header(req, "Link", link);
    free(link);
}

void
mgr_reply_list(struct net_http_req *req, const struct mgr_page *pg, int64_t total, cJSON *array)
{
    mgr_reply_link(req, pg, total);
    mgr_reply_doc(req, 200, array);
}

cJSON *
mgr_db_fetch(struct mgr *ctx, enum mgr_stmt slot, int64_t id, mgr_row_json_fn *fn, int *rv)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, slot);
    cJSON *doc = NULL;

    if (st == NULL) {
        *rv = DF_EIO;
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if ((*rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        doc = fn(ctx, st);
    else if (*rv == STORE_SQL_DONE)
        *rv = DF_ENOTFOUND;
    sqlite3_reset(st);
    return doc;
}

void
mgr_reply_row(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt slot, int64_t id,
              mgr_row_json_fn *fn)
{
    cJSON *doc;
    int rv;

    if ((doc = mgr_db_fetch(ctx, slot, id, fn, &rv)) == NULL)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_doc(req, 200, doc);
}

sqlite3_stmt *
mgr_reply_named_stmt(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt taken,
                     const char *name, int64_t id, enum mgr_stmt slot)
{
    sqlite3_stmt *st = NULL;
    int rv;

    if ((rv = mgr_db_name_check(ctx->db, taken, name, id)) != 0 ||
        (st = mgr_db_stmt(ctx->db, slot)) == NULL)
        mgr_reply_db_error(req, rv != 0 ? rv : DF_EIO);
    return st;
}

void
mgr_reply_write(struct mgr *ctx, struct net_http_req *req, sqlite3_stmt *st, int64_t id,
                enum mgr_stmt get, mgr_row_json_fn *fn)
{
    int rv;

    if (id == 0) {
        /* an INSERT ... RETURNING id */
        if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
            id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        rv = rv < 0 ? rv : id == 0 ? DF_EIO : 0;
    } else if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
        rv = DF_ENOTFOUND;
    if (rv != 0)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_row(ctx, req, get, id, fn);
}

/*
 * The start of a list answer: paging parsed, the filters bound to both statements, the total
 * counted, LIMIT and OFFSET bound. Returns the list statement to step, or NULL after replying.
 */
static sqlite3_stmt *
mgr_rows_start(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt count_slot,
               enum mgr_stmt count_all, enum mgr_stmt list_slot, const char *const *filters,
               size_t n, struct mgr_page *pg, int64_t *total)
{
    const char *q = net_http_req_query(req);
    sqlite3_stmt *count = mgr_db_stmt(ctx->db, count_slot);
    sqlite3_stmt *list = mgr_db_stmt(ctx->db, list_slot);
    struct df_error err;
    size_t nfilters = 0;
    char *v;

    if (mgr_page_parse(q, pg, &err) != 0) {
        mgr_reply_errors(req, err.msg);
        return NULL;
    }
    if (count == NULL || list == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return NULL;
    }
    /* no query, no filter: every statement's binding is cleared when it is handed out */
    for (int i = 0; q != NULL && *q != '\0' && i < (int)n; i++) {
        v = mgr_query_get(q, filters[i]);
        mgr_db_bind_text(count, i + 1, v != NULL && *v != '\0' ? v : NULL);
        mgr_db_bind_text(list, i + 1, v != NULL && *v != '\0' ? v : NULL);
        nfilters += v != NULL && *v != '\0';
        free(v);
    }
    if (nfilters == 0 && count_all != MGR_STMT__COUNT &&
        (count = mgr_db_stmt(ctx->db, count_all)) == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return NULL;
    }
    *total = 0;
    if (mgr_db_step(ctx->db, count) == STORE_SQL_ROW)
        *total = sqlite3_column_int64(count, 0);
    sqlite3_reset(count);
    sqlite3_bind_int64(list, (int)n + 1, pg->per_page);
    sqlite3_bind_int64(list, (int)n + 2, (pg->page - 1) * pg->per_page);
    return list;
}

void
mgr_reply_rows(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt count_slot,
               enum mgr_stmt list_slot, const char *const *filters, size_t n, mgr_row_json_fn *fn)
{
    sqlite3_stmt *list;
    struct mgr_page pg;
    int64_t total;
    cJSON *arr;
    int rv;

    list = mgr_rows_start(ctx, req, count_slot, MGR_STMT__COUNT, list_slot, filters, n, &pg,
                          &total);
    if (list == NULL)
        return;
    arr = cJSON_CreateArray();
    /* fn may run other statements (the facade's link): not this one, so the walk goes on */
    while ((rv = mgr_db_step(ctx->db, list)) == STORE_SQL_ROW)
        cJSON_AddItemToArray(arr, fn(ctx, list));
    sqlite3_reset(list);
    if (rv < 0) {
        cJSON_Delete(arr);
        mgr_reply_db_error(req, rv);
        return;
    }
    mgr_reply_list(req, &pg, total, arr);
}

/* A list answer's text past this stays allocated no longer than its request. */
#define MGR_JBUF_KEEP (256 * 1024)

void
mgr_reply_rows_text(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt count_slot,
                    enum mgr_stmt count_all, enum mgr_stmt list_slot, const char *const *filters,
                    size_t n, mgr_row_write_fn *fn)
{
    struct mgr_jbuf *b;
    sqlite3_stmt *list;
    struct mgr_page pg;
    int64_t total;
    int rv;

    list = mgr_rows_start(ctx, req, count_slot, count_all, list_slot, filters, n, &pg, &total);
    if (list == NULL)
        return;
    if (ctx->out == NULL)
        ctx->out = xcalloc(1, sizeof(*ctx->out));
    b = ctx->out;
    b->len = 0;
    mgr_jbuf_open(b, '[');
    while ((rv = mgr_db_step(ctx->db, list)) == STORE_SQL_ROW)
        fn(b, list);
    sqlite3_reset(list);
    mgr_jbuf_close(b, ']');
    if (rv < 0) {
        mgr_reply_db_error(req, rv);
    } else {
        mgr_reply_link(req, &pg, total);
        net_http_req_respond(req, 200, "application/json", b->p, b->len);
    }
    if (b->cap > MGR_JBUF_KEEP) {
        free(b->p);
        *b = (struct mgr_jbuf){0};
    }
}

/* Room for n more bytes. */
static char *
mgr_jbuf_room(struct mgr_jbuf *b, size_t n)
{
    if (b->cap - b->len < n) {
        while (b->cap - b->len < n)
            b->cap = b->cap == 0 ? 4096 : b->cap * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    return b->p + b->len;
}

static void
mgr_jbuf_put(struct mgr_jbuf *b, const char *s, size_t n)
{
    memcpy(mgr_jbuf_room(b, n), s, n);
    b->len += n;
}

/* The comma before a member or an item, unless it is the first of its object or array. */
static void
mgr_jbuf_sep(struct mgr_jbuf *b)
{
    if (b->len > 0 && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[' && b->p[b->len - 1] != ':')
        mgr_jbuf_put(b, ",", 1);
}

void
mgr_jbuf_open(struct mgr_jbuf *b, char c)
{
    mgr_jbuf_sep(b);
    mgr_jbuf_put(b, &c, 1);
}

void
mgr_jbuf_close(struct mgr_jbuf *b, char c)
{
    mgr_jbuf_put(b, &c, 1);
}

/* A quoted string with cJSON's escapes (other bytes, UTF-8 included, as they are). */
static void
mgr_jbuf_quote(struct mgr_jbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    char *o = mgr_jbuf_room(b, 6 * n + 2), *start = o;
    unsigned char ch;

    *o++ = '"';
    for (; (ch = (unsigned char)*s) != '\0'; s++) {
        if (ch >= 32 && ch != '"' && ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        *o++ = '\\';
        switch (ch) {
        case '"':
        case '\\':
            *o++ = (char)ch;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[ch >> 4];
            o[4] = hex[ch & 15];
            o += 5;
            break;
        }
    }
    *o++ = '"';
    b->len += (size_t)(o - start);
}

/* "key": (our keys need no escape) */
void
mgr_jbuf_key(struct mgr_jbuf *b, const char *key)
{
    size_t n = strlen(key);
    char *o;

    mgr_jbuf_sep(b);
    o = mgr_jbuf_room(b, n + 3);
    o[0] = '"';
    memcpy(o + 1, key, n);
    o[n + 1] = '"';
    o[n + 2] = ':';
    b->len += n + 3;
}

void
mgr_jbuf_str(struct mgr_jbuf *b, const char *key, const char *s)
{
    mgr_jbuf_key(b, key);
    mgr_jbuf_quote(b, s);
}

/* The decimal digits placed by hand: a list page writes some 60 numbers, snprintf's share */
void
mgr_jbuf_int(struct mgr_jbuf *b, const char *key, int64_t v)
{
    char num[24], *o = num + sizeof(num);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--o = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--o = '-';
    mgr_jbuf_key(b, key);
    mgr_jbuf_put(b, o, (size_t)(num + sizeof(num) - o));
}

void
mgr_jbuf_bool(struct mgr_jbuf *b, const char *key, bool v)
{
    mgr_jbuf_key(b, key);
    mgr_jbuf_put(b, v ? "true" : "false", v ? 4 : 5);
}

/* A time as df_time_format_rfc3339 writes it (nothing to escape). */
void
mgr_jbuf_time(struct mgr_jbuf *b, const char *key, int64_t ms)
{
    char t[DF_TIME_RFC3339_LEN];
    size_t n = strlen(df_time_format_rfc3339(ms, t));
    char *o;

    mgr_jbuf_key(b, key);
    o = mgr_jbuf_room(b, n + 2);
    o[0] = '"';
    memcpy(o + 1, t, n);
    o[n + 1] = '"';
    b->len += n + 2;
}

void
mgr_jbuf_json(struct mgr_jbuf *b, const char *key, const char *text, bool array)
{
    cJSON *v;
    char *s;

    mgr_jbuf_key(b, key);
    /* what our registration writes, as cJSON would print it back: no parse needed */
    if (strcmp(text, array ? "[]" : "{}") == 0) {
        mgr_jbuf_put(b, text, 2);
        return;
    }
    if ((v = cJSON_Parse(text)) == NULL || (s = cJSON_PrintUnformatted(v)) == NULL) {
        cJSON_Delete(v);
        mgr_jbuf_put(b, array ? "[]" : "{}", 2);
        return;
    }
    mgr_jbuf_put(b, s, strlen(s));
    cJSON_free(s);
    cJSON_Delete(v);
}

void
mgr_jbuf_json_ours(struct mgr_jbuf *b, const char *key, const char *text)
{
    mgr_jbuf_key(b, key);
    if (text[0] == '\0')
        mgr_jbuf_put(b, "{}", 2);
    else
        mgr_jbuf_put(b, text, strlen(text));
}

cJSON *
mgr_row_tree(sqlite3_stmt *st, mgr_row_write_fn *fn)
{
    struct mgr_jbuf b = {0};
    cJSON *doc;

    fn(&b, st);
    mgr_jbuf_put(&b, "", 1);
    doc = cJSON_Parse(b.p);
    free(b.p);
    return doc != NULL ? doc : cJSON_CreateObject();
}

int64_t
mgr_reply_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                 enum mgr_stmt slot)
{
    sqlite3_stmt *st;
    int64_t id;
    int rv;

    if ((id = mgr_param_id(req, m, "id")) == 0)
        return 0;
    if ((st = mgr_db_stmt(ctx->db, slot)) == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return 0;
    }
    sqlite3_bind_int64(st, 1, id);
    if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
        rv = DF_ENOTFOUND;
    mgr_reply_done(req, rv);
    return rv == 0 ? id : 0;
}

cJSON *
mgr_body_object(struct net_http_req *req)
{
    struct evbuffer *b = net_http_req_body(req);
    size_t len = evbuffer_get_length(b);
    struct df_error err;
    cJSON *doc = NULL;
    const char *p;

    if (len == 0) {
        mgr_reply_errors(req, "EOF");
        return NULL;
    }
    p = (const char *)evbuffer_pullup(b, -1);
    if (df_json_parse(p, len, NULL, &doc, &err) != 0) {
        mgr_reply_errors(req, err.msg);
        return NULL;
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        mgr_reply_errors(req, "json: the body must be an object");
        return NULL;
    }
    return doc;
}

int64_t
mgr_param_id(struct net_http_req *req, const struct net_route_match *m, const char *name)
{
    const char *s = net_route_param(m, name);
    char *end, msg[128];
    long long v;

    errno = 0;
    v = s != NULL && *s >= '1' && *s <= '9' ? strtoll(s, &end, 10) : 0;
    if (v <= 0 || errno != 0 || *end != '\0') {
        snprintf(msg, sizeof(msg), "%s: expected a positive integer id", name);
        mgr_reply_errors(req, msg);
        return 0;
    }
    return v;
}

void
mgr_json_add_time(cJSON *doc, const char *key, int64_t ms)
{
    char buf[DF_TIME_RFC3339_LEN];

    cJSON_AddStringToObject(doc, key, df_time_format_rfc3339(ms, buf));
}

/* Characters (UTF-8 code points) of s, as the validator's min/max count them. */
static size_t
mgr_utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

int
mgr_json_str(const cJSON *body, const char *key, size_t lo, size_t hi, bool required,
             const char **out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    size_t n;

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        if (required)
            return df_error_set(err, DF_EINVAL, "%s: required", key);
        return 0;
    }
    if (!cJSON_IsString(v))
        return df_error_set(err, DF_EINVAL, "%s: expected a string", key);
    n = mgr_utf8_len(v->valuestring);
    if (n < lo || n > hi)
        return df_error_set(err, DF_EINVAL, "%s: expected %zu to %zu characters, got %zu", key, lo,
                            hi, n);
    *out = v->valuestring;
    return 0;
}

/* The value of cookie name in a Cookie header, copied to out; false when absent. */
static bool
mgr_api_cookie(const char *header, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name), vlen;
    const char *p = header;

    while (p != NULL && *p != '\0') {
        p += strspn(p, " ;");
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            p += nlen + 1;
            vlen = strcspn(p, ";");
            if (vlen == 0 || vlen >= outlen)
                return false;
            memcpy(out, p, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

int
mgr_api_token(struct net_http_req *req, char *out, size_t outlen)
{
    const char *h = net_http_req_header(req, "Cookie");
    char *q;

    /* upstream's TokenLookup order: cookie jwt, header Authorization: Bearer, query token */
    if (h != NULL && mgr_api_cookie(h, "jwt", out, outlen))
        return 0;
    if ((h = net_http_req_header(req, "Authorization")) != NULL && strncmp(h, "Bearer ", 7) == 0 &&
        strlen(h + 7) > 0 && strlen(h + 7) < outlen) {
        snprintf(out, outlen, "%s", h + 7);
        return 0;
    }
    if ((q = mgr_query_get(net_http_req_query(req), "token")) != NULL && *q != '\0' &&
        strlen(q) < outlen) {
        snprintf(out, outlen, "%s", q);
        free(q);
        return 0;
    }
    free(q);
    return DF_ENOTFOUND;
}

void
mgr_reply_unauthorized(struct net_http_req *req)
{
    net_http_req_add_header(req, "WWW-Authenticate", "JWT realm=Dragonfly");
    mgr_reply_message(req, 401, "Unauthorized");
}

bool
mgr_api_can(struct mgr *ctx, int64_t id, const char *object, const char *action)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_USER_CAN);
    bool ok;

    if (st == NULL)
        return false;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, object, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    ok = mgr_db_step(ctx->db, st) == 1;
    sqlite3_reset(st);
    return ok;
}

/*
 * CSRF: a browser sends the jwt cookie (SameSite=Lax) with a top-level cross-site GET only,
 * but older browsers and same-site hosts send it with any request. A write that carries the
 * cookie must also carry X-Requested-With, a header no form can set and no cross-origin
 * fetch can send without a CORS preflight, which this server never allows. Bearer and PAT
 * clients send no cookie and are not affected.
 */
static bool
mgr_api_csrf_is_ok(struct net_http_req *req, const char *method)
{
    const char *cookie = net_http_req_header(req, "Cookie"), *xrw;
    char token[MGR_TOKEN_MAX];

    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0)
        return true;
    if (cookie == NULL || !mgr_api_cookie(cookie, "jwt", token, sizeof(token)))
        return true;
    xrw = net_http_req_header(req, "X-Requested-With");
    return xrw != NULL && *xrw != '\0';
}

/*
 * Verified JWTs, so that a client sending the same token with every request (the console, a
 * script, a dashboard) pays the HMAC, three base64 decodes and two JSON parses once per token
 * rather than once per request. Direct-mapped by a hash of the token: an entry holds the whole
 * token, compared in constant time (a hit must not tell how much of a guess matched), and its
 * claims, and serves until the token's exp as a fresh verification would. Only successes are
 * kept; the key does not change while the process runs. Bounded: MGR_JWT_CACHE_SLOTS entries,
 * a newer token taking the slot of an older one; a longer token is verified every time.
 */
#define MGR_JWT_CACHE_SLOTS 64
#define MGR_JWT_CACHE_TOKEN 480

struct mgr_jwt_cache {
    struct mgr_jwt_cache_entry {
        size_t len; /* 0: empty */
        struct mgr_jwt_claims claims;
        char token[MGR_JWT_CACHE_TOKEN];
    } slot[MGR_JWT_CACHE_SLOTS];
};

/* mgr_jwt_verify (not expired at now) through ctx's cache. */
static int
mgr_api_jwt_verify(struct mgr *ctx, const char *token, int64_t now, struct mgr_jwt_claims *out)
{
    struct mgr_jwt_cache_entry *e = NULL;
    size_t len = strnlen(token, MGR_JWT_CACHE_TOKEN);
    uint32_t h = 2166136261u; /* FNV-1a */
    int rv;

    if (ctx->jwt_cache != NULL && len < MGR_JWT_CACHE_TOKEN) {
        for (size_t i = 0; i < len; i++)
            h = (h ^ (uint8_t)token[i]) * 16777619u;
        e = &ctx->jwt_cache->slot[h % MGR_JWT_CACHE_SLOTS];
        if (e->len == len && e->claims.exp > now &&
            mgr_auth_ct_equal((const uint8_t *)e->token, (const uint8_t *)token, len)) {
            *out = e->claims;
            return 0;
        }
    }
    rv = mgr_jwt_verify(ctx->jwt_key, sizeof(ctx->jwt_key), token, now, false, out);
    if (rv == 0 && e != NULL) {
        memcpy(e->token, token, len);
        e->len = len;
        e->claims = *out;
    }
    return rv;
}

int64_t
mgr_api_caller_id(struct mgr *ctx, struct net_http_req *req)
{
    struct mgr_jwt_claims c;
    char token[MGR_TOKEN_MAX];

    if (mgr_api_token(req, token, sizeof(token)) != 0 ||
        mgr_api_jwt_verify(ctx, token, df_time_wall_ms() / 1000, &c) != 0)
        return 0;
    return c.id;
}

/* The one gate: the audit's watch, the access rule, then the handler. */
static void
mgr_api_route_cb(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    struct mgr *ctx = arg;
    const struct mgr_route *r = ctx->route_of[m->route - ctx->routes];
    struct mgr_caller who = {0};
    struct mgr_jwt_claims c;
    const char *method = net_http_req_method(req);
    char token[MGR_TOKEN_MAX], group[32];
    bool is_read = false, in_txn = false;

    mgr_audit_watch(ctx, req);
    if (r->access != MGR_ACCESS_PAT && !mgr_api_csrf_is_ok(req, method)) {
        ctx->denied++;
        mgr_reply_message(req, 403,
                          "a write with the jwt cookie needs the header X-Requested-With");
        return;
    }
    if (r->access == MGR_ACCESS_LEGACY) {
        if (!ctx->cfg.harbor_open && !mgr_pat_check(ctx, req, "job")) {
            ctx->denied++;
            return;
        }
    } else if (r->access == MGR_ACCESS_PAT) {
        /* jobs -> job, clusters -> cluster */
        if (mgr_api_group(r->pattern, group, sizeof(group)) != 0 || strlen(group) < 2) {
            mgr_reply_message(req, 401, "Unauthorized");
            return;
        }
        group[strlen(group) - 1] = '\0';
        if (!mgr_pat_check(ctx, req, group)) {
            ctx->denied++;
            return;
        }
    } else if (r->access != MGR_ACCESS_OPEN) {
        is_read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (mgr_api_token(req, token, sizeof(token)) != 0 ||
            mgr_api_jwt_verify(ctx, token, df_time_wall_ms() / 1000, &c) != 0) {
            ctx->denied++;
            mgr_reply_unauthorized(req);
            return;
        }
        who.user_id = c.id;
        /* a read's permission check and its handler's statements in one read transaction
         * (one lock round instead of one per statement); a write's handler has its own */
        in_txn = is_read && store_sql_read_begin(ctx->db, NULL) == 0;
        if (mgr_api_group(r->pattern, group, sizeof(group)) != 0 ||
            !mgr_api_can(ctx, c.id, group,
                         is_read && r->access != MGR_ACCESS_ROOT ? "read" : "*")) {
            if (in_txn)
                store_sql_read_end(ctx->db);
            ctx->denied++;
            /* a guest reads every group but the root-only ones, which say so */
            if (is_read && r->access == MGR_ACCESS_ROOT)
                mgr_reply_message(req, 403, "Forbidden");
            else
                mgr_reply_message(req, 401, "permission deny");
            return;
        }
    }
    r->fn(ctx, req, m, &who);
    if (in_txn)
        store_sql_read_end(ctx->db);
}

int
mgr_api_init(struct mgr *ctx)
{
    size_t k = 0;

    ctx->routes = xcalloc(DF_NELEM(mgr_routes), sizeof(*ctx->routes));
    ctx->route_of = xcalloc(DF_NELEM(mgr_routes), sizeof(*ctx->route_of));
    ctx->jwt_cache = xcalloc(1, sizeof(*ctx->jwt_cache));
    /* the first match wins: routes with a catch-all (*) go last, in table order, so that a
     * route appended after them is not hidden by them */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < DF_NELEM(mgr_routes); i++) {
            if ((strchr(mgr_routes[i].pattern, '*') != NULL) != (pass == 1))
                continue;
            ctx->routes[k].method = mgr_routes[i].method;
            ctx->routes[k].pattern = mgr_routes[i].pattern;
            ctx->routes[k].fn = mgr_api_route_cb;
            ctx->route_of[k++] = &mgr_routes[i];
        }
    }
    return net_route_check(ctx->routes, DF_NELEM(mgr_routes));
}

void
mgr_api_request_cb(struct net_http_req *req, void *arg)
{
    struct mgr *ctx = arg;

    ctx->requests++;
    /* on every answer, the API's JSON as much as the console's files */
    net_http_req_add_header(req, "X-Content-Type-Options", "nosniff");
    net_route_dispatch(req, ctx->routes, DF_NELEM(mgr_routes), ctx);
}
