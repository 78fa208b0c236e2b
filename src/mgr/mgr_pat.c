/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Personal access tokens: what Harbor and scripts use on /oapi/v1. A token is 32 random
 * bytes in base64url, shown once in the answer to its creation; the database keeps only
 * HMAC-SHA256(pat key, token), looked up by that value, so a stolen database or a guest's
 * list gives no token (upstream stores and lists them in clear, to guests too). The gate
 * answers as upstream's middleware: a missing or unknown token 401, an inactive one 403
 * "Token is inactive", an expired one 403 "Token has expired", a missing scope 403 with the
 * scope it needed. A JWT is no PAT and a PAT no JWT, so neither works on the other's routes.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/md.h>

#include "df/df_b64.h"
#include "df/df_digest.h"
#include "df/df_json.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

static const char *const mgr_pat_scopes[] = {"job", "cluster"};

void
mgr_pat_mac(const struct mgr *ctx, const char *token, uint8_t mac[DF_SHA256_LEN])
{
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), ctx->pat_key,
                    sizeof(ctx->pat_key), (const unsigned char *)token, strlen(token), mac);
}

int
mgr_pat_new_token(const struct mgr *ctx, char b64[MGR_PAT_TOKEN_LEN], uint8_t mac[DF_SHA256_LEN])
{
    uint8_t raw[MGR_PAT_RAW_LEN];
    char *p;

    if (mgr_auth_random(raw, sizeof(raw)) != 0)
        return DF_EIO;
    /* base64url without padding: 43 characters */
    df_b64_encode(raw, sizeof(raw), b64);
    for (p = b64; *p != '\0'; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    if ((p = strchr(b64, '=')) != NULL)
        *p = '\0';
    mgr_pat_mac(ctx, b64, mac);
    return 0;
}

/* A PAT row (MGR_PAT_COLS) as upstream's model, never with the token. */
static cJSON *
mgr_pat_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *t = cJSON_CreateObject(), *scopes = cJSON_Parse(mgr_db_col_text(st, 5));

    (void)ctx;
    cJSON_AddNumberToObject(t, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(t, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(t, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(t, "is_del", 0);
    cJSON_AddStringToObject(t, "name", mgr_db_col_text(st, 3));
    cJSON_AddStringToObject(t, "bio", mgr_db_col_text(st, 4));
    cJSON_AddItemToObject(t, "scopes", scopes != NULL ? scopes : cJSON_CreateArray());
    cJSON_AddStringToObject(t, "state", mgr_db_col_text(st, 6));
    mgr_json_add_time(t, "expired_at", sqlite3_column_int64(st, 7));
    cJSON_AddNumberToObject(t, "user_id", (double)sqlite3_column_int64(st, 8));
    return t;
}

/* The writable fields: bio, scopes (job, cluster), state, expired_at, user_id. */
struct mgr_pat_fields {
    const char *name, *bio, *state;
    char *scopes;
    int64_t expired_at, user_id; /* 0: absent */
};

static int
mgr_pat_parse(const cJSON *body, bool create, struct mgr_pat_fields *f, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "scopes"), *e;
    const char *exp;
    size_t i;
    cJSON *list;

    memset(f, 0, sizeof(*f));
    if ((create && mgr_json_str(body, "name", 1, 256, true, &f->name, err) != 0) ||
        mgr_json_str(body, "bio", 0, 1024, false, &f->bio, err) != 0 ||
        mgr_json_str(body, "state", 1, 16, false, &f->state, err) != 0 ||
        mgr_json_str(body, "expired_at", 1, 64, create, &exp, err) != 0)
        return DF_EINVAL;
    if (f->state != NULL && strcmp(f->state, "active") != 0 && strcmp(f->state, "inactive") != 0)
        return df_error_set(err, DF_EINVAL, "state: one of active, inactive");
    if (exp != NULL && df_time_parse_rfc3339_any(exp, &f->expired_at) != 0)
        return df_error_set(err, DF_EINVAL, "expired_at: expected an RFC 3339 time");
    if ((v == NULL || cJSON_IsNull(v)) && create)
        v = NULL;
    if (v != NULL && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v))
            return df_error_set(err, DF_EINVAL, "scopes: expected an array");
        cJSON_ArrayForEach(e, v)
        {
            for (i = 0; i < DF_NELEM(mgr_pat_scopes) &&
                        !(cJSON_IsString(e) && strcmp(e->valuestring, mgr_pat_scopes[i]) == 0);
                 i++)
                ;
            if (i == DF_NELEM(mgr_pat_scopes))
                return df_error_set(err, DF_EINVAL, "scopes: each one of job, cluster");
        }
    }
    if (df_json_get_i64(body, "user_id", &f->user_id, err) == DF_EINVAL ||
        (create && f->user_id <= 0))
        return df_error_set(err, DF_EINVAL, "user_id: required");
    /* upstream: an empty list on create means every scope */
    if (v != NULL && !cJSON_IsNull(v) && cJSON_GetArraySize(v) > 0) {
        f->scopes = cJSON_PrintUnformatted(v);
    } else if (create) {
        list = cJSON_CreateArray();
        for (i = 0; i < DF_NELEM(mgr_pat_scopes); i++)
            cJSON_AddItemToArray(list, cJSON_CreateString(mgr_pat_scopes[i]));
        f->scopes = cJSON_PrintUnformatted(list);
        cJSON_Delete(list);
    }
    return 0;
}

void
mgr_pat_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    uint8_t mac[DF_SHA256_LEN];
    char b64[MGR_PAT_TOKEN_LEN];
    struct mgr_pat_fields f;
    struct df_error err;
    sqlite3_stmt *st;
    int64_t id = 0;
    cJSON *body, *doc;
    int rv;

    (void)m;
    (void)who;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_pat_parse(body, true, &f, &err) != 0) {
        cJSON_free(f.scopes);
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if (mgr_pat_new_token(ctx, b64, mac) != 0 ||
        (st = mgr_db_stmt(ctx->db, MGR_STMT_PAT_INSERT)) == NULL) {
        cJSON_free(f.scopes);
        cJSON_Delete(body);
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    mgr_db_bind_text(st, 2, f.name);
    mgr_db_bind_text(st, 3, f.bio != NULL ? f.bio : "");
    sqlite3_bind_blob(st, 4, mac, sizeof(mac), SQLITE_TRANSIENT);
    mgr_db_bind_text(st, 5, f.scopes);
    mgr_db_bind_text(st, 6, f.state != NULL ? f.state : "active");
    sqlite3_bind_int64(st, 7, f.expired_at);
    sqlite3_bind_int64(st, 8, f.user_id);
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    cJSON_free(f.scopes);
    cJSON_Delete(body);
    if (rv < 0 || id == 0) {
        /* a user_id that names no user fails the foreign key */
        mgr_reply_db_error(req, rv == DF_EEXIST ? DF_ENOTFOUND : DF_EIO);
        return;
    }
    if ((doc = mgr_db_fetch(ctx, MGR_STMT_PAT_GET, id, mgr_pat_json, &rv)) == NULL) {
        mgr_reply_db_error(req, rv);
        return;
    }
    /* the one time the token is shown */
    cJSON_AddStringToObject(doc, "token", b64);
    log_info("manager: personal access token %lld created for user %lld", (long long)id,
             (long long)f.user_id);
    mgr_reply_doc(req, 200, doc);
}

void
mgr_pat_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
             const struct mgr_caller *who)
{
    static const char *const filters[] = {"state", "user_id"};

    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_PAT_COUNT, MGR_STMT_PAT_LIST, filters, DF_NELEM(filters),
                   mgr_pat_json);
}

void
mgr_pat_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
            const struct mgr_caller *who)
{
    int64_t id;
    cJSON *doc;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    if ((doc = mgr_db_fetch(ctx, MGR_STMT_PAT_GET, id, mgr_pat_json, &rv)) == NULL)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_doc(req, 200, doc);
}

void
mgr_pat_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
              const struct mgr_caller *who)
{
    struct mgr_pat_fields f;
    struct df_error err;
    sqlite3_stmt *st;
    int64_t id;
    cJSON *body, *doc;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_pat_parse(body, false, &f, &err) != 0) {
        cJSON_free(f.scopes);
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_PAT_UPDATE)) == NULL) {
        rv = DF_EIO;
    } else {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, df_time_wall_ms());
        mgr_db_bind_text(st, 3, f.bio);
        mgr_db_bind_text(st, 4, f.scopes);
        mgr_db_bind_text(st, 5, f.state);
        if (f.expired_at != 0)
            sqlite3_bind_int64(st, 6, f.expired_at);
        if (f.user_id > 0)
            sqlite3_bind_int64(st, 7, f.user_id);
        if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
            rv = DF_ENOTFOUND;
        if (rv == DF_EEXIST)
            rv = DF_ENOTFOUND; /* a user_id that names no user */
    }
    cJSON_free(f.scopes);
    cJSON_Delete(body);
    if (rv == 0 && (doc = mgr_db_fetch(ctx, MGR_STMT_PAT_GET, id, mgr_pat_json, &rv)) != NULL)
        mgr_reply_doc(req, 200, doc);
    else
        mgr_reply_db_error(req, rv);
}

void
mgr_pat_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    (void)who;
    mgr_reply_delete(ctx, req, m, MGR_STMT_PAT_DELETE);
}

/* The PAT of a request: ?access_token=, else "Authorization: Bearer <token>" (any case). */
static char *
mgr_pat_token(struct net_http_req *req)
{
    const char *h;
    char *q = mgr_query_get(net_http_req_query(req), "access_token");
    size_t n;

    if (q != NULL && *q != '\0')
        return q;
    free(q);
    if ((h = net_http_req_header(req, "Authorization")) == NULL)
        return NULL;
    /* exactly two fields, the first Bearer */
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    n = strlen(h);
    if (n == 0 || n >= MGR_TOKEN_MAX || strchr(h, ' ') != NULL)
        return NULL;
    return xstrdup(h);
}

bool
mgr_pat_caller_mac(struct mgr *ctx, struct net_http_req *req, uint8_t mac[DF_SHA256_LEN])
{
    char *tok = mgr_pat_token(req);

    if (tok == NULL)
        return false;
    mgr_pat_mac(ctx, tok, mac);
    free(tok);
    return true;
}

bool
mgr_pat_check(struct mgr *ctx, struct net_http_req *req, const char *scope)
{
    uint8_t mac[DF_SHA256_LEN];
    char *tok = mgr_pat_token(req), msg[160];
    sqlite3_stmt *st;
    cJSON *scopes = NULL;
    const cJSON *e;
    bool ok = false, active, expired, has = false;
    int rv;

    if (tok == NULL || (st = mgr_db_stmt(ctx->db, MGR_STMT_PAT_BY_HASH)) == NULL) {
        free(tok);
        mgr_reply_message(req, 401, "Unauthorized");
        return false;
    }
    mgr_pat_mac(ctx, tok, mac);
    free(tok);
    sqlite3_bind_blob(st, 1, mac, sizeof(mac), SQLITE_STATIC);
    if ((rv = mgr_db_step(ctx->db, st)) != STORE_SQL_ROW) {
        sqlite3_reset(st);
        mgr_reply_message(req, rv == STORE_SQL_DONE ? 401 : 500,
                          rv == STORE_SQL_DONE ? "Unauthorized" : "Internal Server Error");
        return false;
    }
    active = strcmp(mgr_db_col_text(st, 0), "active") == 0;
    expired = sqlite3_column_int64(st, 1) <= df_time_wall_ms();
    scopes = cJSON_Parse(mgr_db_col_text(st, 2));
    sqlite3_reset(st);
    cJSON_ArrayForEach(e, scopes)
    {
        has |= cJSON_IsString(e) && strcmp(e->valuestring, scope) == 0;
    }
    if (!active) {
        mgr_reply_message(req, 403, "Token is inactive");
    } else if (expired) {
        mgr_reply_message(req, 403, "Token has expired");
    } else if (!has && cJSON_GetArraySize(scopes) > 0) {
        snprintf(msg, sizeof(msg),
                 "Token doesn't have permission to access this resource. Required permission: %s",
                 scope);
        mgr_reply_message(req, 403, msg);
    } else {
        ok = true;
    }
    cJSON_Delete(scopes);
    return ok;
}
