/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Users, roles and permissions: sign-in (a JWT in a cookie and in the body), sign-out,
 * refresh, sign-up (role guest), password reset, the user list and profile, a user's roles,
 * roles and their permissions. Anything that hashes a password (sign-in, sign-up, reset)
 * hands the hash to a worker thread as a struct mgr_kdf_job and answers from its done
 * callback on the loop, so a flood of sign-ins costs worker CPU but never stalls the loop.
 * An unknown user name is checked against a dummy hash so that it takes as long as a wrong
 * password.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_time.h"
#include "df/df_work.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

/* Password hashes queued or running at once (~0.2 s of CPU each). */
#define MGR_KDF_MAX_PENDING 32

enum mgr_kdf_kind {
    MGR_KDF_SIGNIN, /* verify password against stored, then issue a token */
    MGR_KDF_SIGNUP, /* hash new_password, then insert the user */
    MGR_KDF_RESET,  /* verify password (the old one), hash new_password, then update */
};

struct mgr_kdf_job {
    struct mgr *ctx;
    struct net_http_req *req; /* NULL once its connection has closed */
    enum mgr_kdf_kind kind;
    unsigned iterations;
    int64_t user_id;
    bool enabled;
    char *password, *new_password;
    char stored[MGR_PW_HASH_MAX]; /* to verify password against */
    char hash[MGR_PW_HASH_MAX];   /* of new_password */
    bool match;
    int rv;
    cJSON *body;                   /* sign-up: the request */
    LIST_ENTRY(mgr_kdf_job) entry; /* in ctx->kdf_live once submitted */
};

/* ---- JSON of a user row (MGR_USER_COLS) ---- */

static cJSON *
mgr_user_json(sqlite3_stmt *st)
{
    static const char *const text[] = {"name",     "email", "phone", "avatar",
                                       "location", "bio",   "state"};
    cJSON *u = cJSON_CreateObject();

    cJSON_AddNumberToObject(u, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(u, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(u, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(u, "is_del", 0);
    for (int i = 0; i < (int)DF_NELEM(text); i++)
        cJSON_AddStringToObject(u, text[i], mgr_db_col_text(st, 3 + i));
    cJSON_AddNullToObject(u, "configs");
    return u;
}

/* Step a statement that selects MGR_USER_COLS of one user; reset it. NULL when none. */
static cJSON *
mgr_user_fetch(struct mgr *ctx, sqlite3_stmt *st, int *rv)
{
    cJSON *u = NULL;

    *rv = mgr_db_step(ctx->db, st);
    if (*rv == STORE_SQL_ROW)
        u = mgr_user_json(st);
    else if (*rv == STORE_SQL_DONE)
        *rv = DF_ENOTFOUND;
    sqlite3_reset(st);
    return u;
}

cJSON *
mgr_user_by_id(struct mgr *ctx, int64_t id, int *rv)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_USER_GET);

    if (st == NULL) {
        *rv = DF_EIO;
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    return mgr_user_fetch(ctx, st, rv);
}

/* ---- tokens ---- */

static void
mgr_user_reply_token(struct mgr *ctx, struct net_http_req *req, int64_t id)
{
    int64_t now = df_time_wall_ms() / 1000, timeout = ctx->cfg.jwt_timeout / 1000;
    struct mgr_jwt_claims c = {.id = id, .exp = now + timeout, .orig_iat = now};
    char *tok, cookie[MGR_TOKEN_MAX + 128];
    cJSON *doc;

    mgr_jwt_sign(ctx->jwt_key, sizeof(ctx->jwt_key), &c, &tok);
    /* HttpOnly, unlike upstream's: our console takes the user id from this answer's token
     * and no script ever reads the cookie, so an injected one cannot steal it. SameSite
     * keeps it off cross-site requests, which upstream's cookie does not. */
    snprintf(cookie, sizeof(cookie), "jwt=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax", tok,
             (long long)timeout);
    net_http_req_add_header(req, "Set-Cookie", cookie);
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "token", tok);
    mgr_json_add_time(doc, "expire", c.exp * 1000);
    free(tok);
    mgr_reply_doc(req, 200, doc);
}

/* ---- password jobs ---- */

static void
mgr_kdf_free(struct mgr_kdf_job *job)
{
    free(job->password);
    free(job->new_password);
    cJSON_Delete(job->body);
    free(job);
}

static void
mgr_kdf_closed_cb(struct net_http_req *req, int reason, void *arg)
{
    struct mgr_kdf_job *job = arg;

    (void)req;
    (void)reason;
    job->req = NULL;
}

/* On a worker: the slow part, and nothing else. */
static void
mgr_kdf_work(void *arg)
{
    struct mgr_kdf_job *job = arg;

    if (job->password != NULL)
        job->match = mgr_pw_is_match(job->password, job->stored);
    if (job->new_password != NULL && (job->kind == MGR_KDF_SIGNUP || job->match))
        job->rv = mgr_pw_hash_new(job->new_password, job->iterations, job->hash);
}

/* Sign-up after hashing: the user and its role guest in one transaction. */
static void
mgr_user_signup_finish(struct mgr_kdf_job *job)
{
    struct mgr *ctx = job->ctx;
    const char *keys[] = {"email", "phone", "avatar", "location", "bio"}, *name;
    sqlite3_stmt *st;
    int64_t id = 0;
    cJSON *u;
    int rv;

    if (job->rv != 0 || (st = mgr_db_stmt(ctx->db, MGR_STMT_USER_INSERT)) == NULL) {
        mgr_reply_db_error(job->req, DF_EIO);
        return;
    }
    name = cJSON_GetObjectItemCaseSensitive(job->body, "name")->valuestring;
    if ((rv = store_sql_begin(ctx->db, NULL)) != 0) {
        mgr_reply_db_error(job->req, rv);
        return;
    }
    if ((rv = mgr_db_name_check(ctx->db, MGR_STMT_USER_NAME_TAKEN, name, 0)) != 0) {
        store_sql_rollback(ctx->db);
        mgr_reply_db_error(job->req, rv);
        return;
    }
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    mgr_db_bind_text(st, 2, name);
    for (int i = 0; i < (int)DF_NELEM(keys); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(job->body, keys[i]);

        mgr_db_bind_text(st, 3 + i, cJSON_IsString(v) ? v->valuestring : NULL);
    }
    mgr_db_bind_text(st, 8, job->hash);
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rv == STORE_SQL_ROW) {
        if ((st = mgr_db_stmt(ctx->db, MGR_STMT_USER_ROLE_ADD)) == NULL)
            rv = DF_EIO;
        else {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_text(st, 2, "guest", -1, SQLITE_STATIC);
            rv = mgr_db_run(ctx->db, st);
        }
    }
    if (rv == 0)
        rv = store_sql_commit(ctx->db, NULL);
    if (rv != 0 || id == 0) {
        rv = rv != 0 ? rv : DF_EIO;
        store_sql_rollback(ctx->db);
        mgr_reply_db_error(job->req, rv);
        return;
    }
    if ((u = mgr_user_by_id(ctx, id, &rv)) == NULL) {
        mgr_reply_db_error(job->req, rv);
        return;
    }
    log_info("manager: user %lld signed up (role guest)", (long long)id);
    mgr_reply_doc(job->req, 200, u);
}

static void
mgr_kdf_done(void *arg)
{
    struct mgr_kdf_job *job = arg;
    struct mgr *ctx = job->ctx;
    sqlite3_stmt *st;

    ctx->kdf_jobs++;
    LIST_REMOVE(job, entry);
    if (job->req == NULL || ctx->stopping) {
        mgr_kdf_free(job);
        return;
    }
    switch (job->kind) {
    case MGR_KDF_SIGNIN:
        if (job->match && job->enabled)
            mgr_user_reply_token(ctx, job->req, job->user_id);
        else
            mgr_reply_unauthorized(job->req);
        break;
    case MGR_KDF_SIGNUP:
        mgr_user_signup_finish(job);
        break;
    case MGR_KDF_RESET:
        if (!job->match) {
            mgr_reply_unauthorized(job->req);
        } else if (job->rv != 0 ||
                   (st = mgr_db_stmt(ctx->db, MGR_STMT_USER_SET_PASSWORD)) == NULL) {
            mgr_reply_db_error(job->req, DF_EIO);
        } else {
            sqlite3_bind_int64(st, 1, job->user_id);
            sqlite3_bind_text(st, 2, job->hash, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, df_time_wall_ms());
            if (mgr_db_run(ctx->db, st) != 0) {
                mgr_reply_db_error(job->req, DF_EIO);
            } else {
                log_info("manager: user %lld changed their password", (long long)job->user_id);
                mgr_reply_empty(job->req);
            }
        }
        break;
    }
    mgr_kdf_free(job);
}

static void
mgr_kdf_submit(struct mgr *ctx, struct net_http_req *req, struct mgr_kdf_job *job)
{
    /* A flood of sign-ins must not queue without end: beyond the cap it is told to wait,
     * in upstream's rate-limit words. */
    if (df_work_pending(ctx->work) >= MGR_KDF_MAX_PENDING) {
        mgr_kdf_free(job);
        ctx->kdf_refused++;
        net_http_req_respond(req, 429, "text/plain", "rate limit exceeded", 19);
        return;
    }
    job->ctx = ctx;
    job->req = req;
    job->iterations = (unsigned)ctx->cfg.kdf_iterations;
    if (df_work_submit(ctx->work, mgr_kdf_work, mgr_kdf_done, job) != 0) {
        mgr_kdf_free(job);
        mgr_reply_message(req, 500, "Internal Server Error");
        return;
    }
    LIST_INSERT_HEAD(&ctx->kdf_live, job, entry);
    net_http_req_on_close(req, mgr_kdf_closed_cb, job);
}

void
mgr_user_reset(struct mgr *ctx)
{
    struct mgr_kdf_job *job;

    while ((job = LIST_FIRST(&ctx->kdf_live)) != NULL) {
        LIST_REMOVE(job, entry);
        mgr_kdf_free(job);
    }
}

/* Load the stored hash and state of user (by id, or by name when name != NULL). */
static int
mgr_kdf_load(struct mgr *ctx, struct mgr_kdf_job *job, const char *name)
{
    sqlite3_stmt *st =
            mgr_db_stmt(ctx->db, name != NULL ? MGR_STMT_USER_BY_NAME : MGR_STMT_USER_GET);
    int rv;

    if (st == NULL)
        return DF_EIO;
    if (name != NULL)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, job->user_id);
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW) {
        job->user_id = sqlite3_column_int64(st, 0);
        job->enabled = strcmp(mgr_db_col_text(st, 9), "enable") == 0;
        snprintf(job->stored, sizeof(job->stored), "%s", mgr_db_col_text(st, 10));
        rv = 0;
    } else if (rv == STORE_SQL_DONE) {
        rv = DF_ENOTFOUND;
    }
    sqlite3_reset(st);
    return rv;
}

/* ---- handlers ---- */

void
mgr_user_signin(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                const struct mgr_caller *who)
{
    const char *name = NULL, *pw = NULL;
    struct mgr_kdf_job *job;
    struct df_error err;
    cJSON *body;

    (void)m;
    (void)who;
    /* upstream answers every bad sign-in body with 401, not 422 */
    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_json_str(body, "name", 3, 10, true, &name, &err) != 0 ||
        mgr_json_str(body, "password", 8, 20, true, &pw, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_unauthorized(req);
        return;
    }
    job = xcalloc(1, sizeof(*job));
    job->kind = MGR_KDF_SIGNIN;
    job->password = xstrdup(pw);
    if (mgr_kdf_load(ctx, job, name) != 0) {
        /* an unknown name costs a hash too: a name's existence does not show in the timing */
        memcpy(job->stored, ctx->dummy_hash, sizeof(job->stored));
        job->user_id = 0;
        job->enabled = false;
    }
    cJSON_Delete(body);
    mgr_kdf_submit(ctx, req, job);
}

void
mgr_user_signout(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                 const struct mgr_caller *who)
{
    (void)ctx;
    (void)m;
    (void)who;
    net_http_req_add_header(req, "Set-Cookie", "jwt=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    mgr_reply_empty(req);
}

void
mgr_user_refresh(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                 const struct mgr_caller *who)
{
    int64_t now = df_time_wall_ms() / 1000;
    struct mgr_jwt_claims c;
    char token[MGR_TOKEN_MAX];
    cJSON *u;
    int rv;

    (void)m;
    (void)who;
    /* an expired token refreshes while its sign-in is within maxRefresh, as gin-jwt does */
    if (mgr_api_token(req, token, sizeof(token)) != 0 ||
        mgr_jwt_verify(ctx->jwt_key, sizeof(ctx->jwt_key), token, now, true, &c) != 0 ||
        c.orig_iat < now - ctx->cfg.jwt_max_refresh / 1000) {
        mgr_reply_unauthorized(req);
        return;
    }
    if ((u = mgr_user_by_id(ctx, c.id, &rv)) == NULL ||
        strcmp(cJSON_GetObjectItemCaseSensitive(u, "state")->valuestring, "enable") != 0) {
        cJSON_Delete(u);
        mgr_reply_unauthorized(req);
        return;
    }
    cJSON_Delete(u);
    mgr_user_reply_token(ctx, req, c.id);
}

/* A plausible e-mail address: local@domain with a dot in the domain, no spaces. */
static bool
mgr_user_email_is_valid(const char *s)
{
    const char *at = strchr(s, '@');

    return at != NULL && at != s && strchr(at + 1, '@') == NULL && strchr(at + 1, '.') != NULL &&
           at[1] != '.' && s[strlen(s) - 1] != '.' && strpbrk(s, " \t\r\n<>\"") == NULL;
}

/* The optional profile fields of sign-up and patch: strings up to 1 KiB. */
static int
mgr_user_profile_check(const cJSON *body, struct df_error *err)
{
    static const char *const keys[] = {"email", "phone", "avatar", "location", "bio"};
    const char *v;

    for (size_t i = 0; i < DF_NELEM(keys); i++) {
        if (mgr_json_str(body, keys[i], 0, 1024, false, &v, err) != 0)
            return DF_EINVAL;
        if (i == 0 && v != NULL && !mgr_user_email_is_valid(v))
            return df_error_set(err, DF_EINVAL, "email: not an e-mail address");
    }
    return 0;
}

void
mgr_user_signup(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                const struct mgr_caller *who)
{
    const char *name, *pw, *email;
    struct mgr_kdf_job *job;
    struct df_error err;
    cJSON *body;

    (void)m;
    (void)who;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_json_str(body, "name", 3, 10, true, &name, &err) != 0 ||
        mgr_json_str(body, "password", 8, 20, true, &pw, &err) != 0 ||
        mgr_json_str(body, "email", 3, 1024, true, &email, &err) != 0 ||
        mgr_user_profile_check(body, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    job = xcalloc(1, sizeof(*job));
    job->kind = MGR_KDF_SIGNUP;
    job->new_password = xstrdup(pw);
    job->body = body;
    mgr_kdf_submit(ctx, req, job);
}

void
mgr_user_reset_password(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                        const struct mgr_caller *who)
{
    const char *old_pw, *new_pw;
    struct mgr_kdf_job *job;
    struct df_error err;
    int64_t id;
    cJSON *body;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_json_str(body, "old_password", 8, 20, true, &old_pw, &err) != 0 ||
        mgr_json_str(body, "new_password", 8, 20, true, &new_pw, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    job = xcalloc(1, sizeof(*job));
    job->kind = MGR_KDF_RESET;
    job->user_id = id;
    job->password = xstrdup(old_pw);
    job->new_password = xstrdup(new_pw);
    cJSON_Delete(body);
    if ((rv = mgr_kdf_load(ctx, job, NULL)) != 0) {
        mgr_kdf_free(job);
        mgr_reply_db_error(req, rv);
        return;
    }
    mgr_kdf_submit(ctx, req, job);
}

static cJSON *
mgr_user_row(struct mgr *ctx, sqlite3_stmt *st)
{
    (void)ctx;
    return mgr_user_json(st);
}

void
mgr_user_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
              const struct mgr_caller *who)
{
    static const char *const filters[] = {"name", "email", "location", "state"};

    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_USER_LIST_COUNT, MGR_STMT_USER_LIST, filters,
                   DF_NELEM(filters), mgr_user_row);
}

void
mgr_user_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
             const struct mgr_caller *who)
{
    int64_t id;
    cJSON *u;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    if ((u = mgr_user_by_id(ctx, id, &rv)) == NULL)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_doc(req, 200, u);
}

void
mgr_user_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    static const char *const keys[] = {"email", "phone", "avatar", "location", "bio"};
    sqlite3_stmt *st;
    struct df_error err;
    const cJSON *v;
    int64_t id;
    cJSON *body, *u;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_user_profile_check(body, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_USER_PATCH)) == NULL) {
        cJSON_Delete(body);
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    sqlite3_bind_int64(st, 1, id);
    for (int i = 0; i < (int)DF_NELEM(keys); i++) {
        v = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
        mgr_db_bind_text(st, 2 + i, cJSON_IsString(v) ? v->valuestring : NULL);
    }
    sqlite3_bind_int64(st, 7, df_time_wall_ms());
    rv = mgr_db_run(ctx->db, st);
    cJSON_Delete(body);
    if (rv == 0 && store_sql_changes(ctx->db) == 0)
        rv = DF_ENOTFOUND;
    if (rv != 0 || (u = mgr_user_by_id(ctx, id, &rv)) == NULL)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_doc(req, 200, u);
}

/* Collect column 0 of every row of st (bound by the caller) as a JSON array of strings. */
static cJSON *
mgr_user_strings(struct mgr *ctx, sqlite3_stmt *st, int *rv)
{
    cJSON *arr = cJSON_CreateArray();

    while ((*rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        cJSON_AddItemToArray(arr, cJSON_CreateString(mgr_db_col_text(st, 0)));
    sqlite3_reset(st);
    if (*rv < 0) {
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

void
mgr_user_roles(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    sqlite3_stmt *st;
    cJSON *arr;
    int64_t id;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_USER_ROLES)) == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    sqlite3_bind_int64(st, 1, id);
    if ((arr = mgr_user_strings(ctx, st, &rv)) == NULL)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_doc(req, 200, arr);
}

/* True when role exists; false (and a reply sent) when not or on error. */
static bool
mgr_role_exists(struct mgr *ctx, struct net_http_req *req, const char *role)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_ROLE_EXISTS);
    int rv;

    if (st == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return false;
    }
    sqlite3_bind_text(st, 1, role, -1, SQLITE_TRANSIENT);
    rv = mgr_db_step(ctx->db, st);
    sqlite3_reset(st);
    if (rv != STORE_SQL_ROW)
        mgr_reply_db_error(req, rv == STORE_SQL_DONE ? DF_ENOTFOUND : rv);
    return rv == STORE_SQL_ROW;
}

/* PUT (add) or DELETE a role of a user: 409 when it already has it, 404 when it had not. */
static void
mgr_user_role_change(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     enum mgr_stmt slot)
{
    const char *role = net_route_param(m, "role");
    sqlite3_stmt *st;
    int64_t id;
    int rv;
    cJSON *u;

    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    if ((u = mgr_user_by_id(ctx, id, &rv)) == NULL) {
        mgr_reply_db_error(req, rv);
        return;
    }
    cJSON_Delete(u);
    if (!mgr_role_exists(ctx, req, role))
        return;
    if ((st = mgr_db_stmt(ctx->db, slot)) == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
    if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
        rv = slot == MGR_STMT_USER_ROLE_ADD ? DF_EEXIST : DF_ENOTFOUND;
    mgr_reply_done(req, rv);
}

void
mgr_user_role_add(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    (void)who;
    mgr_user_role_change(ctx, req, m, MGR_STMT_USER_ROLE_ADD);
}

void
mgr_user_role_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who)
{
    (void)who;
    mgr_user_role_change(ctx, req, m, MGR_STMT_USER_ROLE_DELETE);
}

void
mgr_user_role_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                   const struct mgr_caller *who)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_ROLE_LIST);
    cJSON *arr;
    int rv = DF_EIO;

    (void)m;
    (void)who;
    if (st == NULL || (arr = mgr_user_strings(ctx, st, &rv)) == NULL)
        mgr_reply_db_error(req, rv);
    else
        mgr_reply_doc(req, 200, arr);
}

static cJSON *
mgr_perm_json(const char *object, const char *action)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "object", object);
    cJSON_AddStringToObject(p, "action", action);
    return p;
}

void
mgr_user_role_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    const char *role = net_route_param(m, "role");
    sqlite3_stmt *st;
    cJSON *arr;
    int rv;

    (void)who;
    if (!mgr_role_exists(ctx, req, role))
        return;
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_PERM_OF_ROLE)) == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    sqlite3_bind_text(st, 1, role, -1, SQLITE_TRANSIENT);
    arr = cJSON_CreateArray();
    while ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        cJSON_AddItemToArray(arr, mgr_perm_json(mgr_db_col_text(st, 0), mgr_db_col_text(st, 1)));
    sqlite3_reset(st);
    if (rv < 0) {
        cJSON_Delete(arr);
        mgr_reply_db_error(req, rv);
        return;
    }
    mgr_reply_doc(req, 200, arr);
}

void
mgr_user_permissions(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who)
{
    const char *const *groups;
    size_t n;
    cJSON *arr = cJSON_CreateArray();

    (void)ctx;
    (void)m;
    (void)who;
    groups = mgr_api_groups(&n);
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, mgr_perm_json(groups[i], "*"));
        cJSON_AddItemToArray(arr, mgr_perm_json(groups[i], "read"));
    }
    mgr_reply_doc(req, 200, arr);
}

/* {object, action} of a permission body: a group of the route table and read or *. */
static int
mgr_perm_parse(const cJSON *p, const char **object, const char **action, struct df_error *err)
{
    const char *const *groups;
    size_t n, i;

    if (!cJSON_IsObject(p))
        return df_error_set(err, DF_EINVAL, "permissions: expected objects");
    if (mgr_json_str(p, "object", 1, 64, true, object, err) != 0 ||
        mgr_json_str(p, "action", 1, 4, true, action, err) != 0)
        return DF_EINVAL;
    if (strcmp(*action, "read") != 0 && strcmp(*action, "*") != 0)
        return df_error_set(err, DF_EINVAL, "action: one of read, *");
    groups = mgr_api_groups(&n);
    for (i = 0; i < n && strcmp(groups[i], *object) != 0; i++)
        ;
    if (i == n)
        return df_error_set(err, DF_EINVAL, "object: %s is no API group", *object);
    return 0;
}

/* Add (insert) or remove one permission of an existing role; 0 or a DF_E* (no reply). */
static int
mgr_perm_change(struct mgr *ctx, enum mgr_stmt slot, const char *role, const char *object,
                const char *action)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, slot);
    int rv;

    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_text(st, 1, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, object, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
    if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
        rv = slot == MGR_STMT_PERM_INSERT ? DF_EEXIST : DF_ENOTFOUND;
    return rv;
}

void
mgr_user_role_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who)
{
    const char *role, *object, *action;
    const cJSON *perms, *p;
    struct df_error err;
    sqlite3_stmt *st;
    cJSON *body;
    int rv;

    (void)m;
    (void)who;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    perms = cJSON_GetObjectItemCaseSensitive(body, "permissions");
    if (mgr_json_str(body, "role", 1, 64, true, &role, &err) != 0 ||
        (!cJSON_IsArray(perms) && df_error_set(&err, DF_EINVAL, "permissions: required") != 0)) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    cJSON_ArrayForEach(p, perms)
    {
        if (mgr_perm_parse(p, &object, &action, &err) != 0) {
            cJSON_Delete(body);
            mgr_reply_errors(req, err.msg);
            return;
        }
    }
    if ((rv = store_sql_begin(ctx->db, NULL)) == 0) {
        if ((st = mgr_db_stmt(ctx->db, MGR_STMT_ROLE_INSERT)) == NULL)
            rv = DF_EIO;
        else {
            sqlite3_bind_text(st, 1, role, -1, SQLITE_TRANSIENT);
            if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
                rv = DF_EEXIST;
        }
        cJSON_ArrayForEach(p, perms)
        {
            if (rv == 0 && mgr_perm_parse(p, &object, &action, &err) == 0 &&
                (rv = mgr_perm_change(ctx, MGR_STMT_PERM_INSERT, role, object, action)) ==
                        DF_EEXIST)
                rv = 0; /* the same permission twice in the list */
        }
        rv = rv == 0 ? store_sql_commit(ctx->db, NULL) : rv;
        if (rv != 0)
            store_sql_rollback(ctx->db);
    }
    cJSON_Delete(body);
    mgr_reply_done(req, rv);
}

/* The built-in roles stay: every start would grant them again anyway. */
static bool
mgr_role_is_builtin(struct net_http_req *req, const char *role)
{
    if (strcmp(role, "root") != 0 && strcmp(role, "guest") != 0)
        return false;
    mgr_reply_errors(req, "role: root and guest are built in");
    return true;
}

void
mgr_user_role_delete_role(struct mgr *ctx, struct net_http_req *req,
                          const struct net_route_match *m, const struct mgr_caller *who)
{
    const char *role = net_route_param(m, "role");
    sqlite3_stmt *st;

    (void)who;
    if (mgr_role_is_builtin(req, role) || !mgr_role_exists(ctx, req, role))
        return;
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_ROLE_DELETE)) == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    sqlite3_bind_text(st, 1, role, -1, SQLITE_TRANSIENT);
    mgr_reply_done(req, mgr_db_run(ctx->db, st));
}

/* POST or DELETE /roles/:role/permissions {object, action}. */
static void
mgr_user_perm_body(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                   enum mgr_stmt slot)
{
    const char *role = net_route_param(m, "role"), *object, *action;
    struct df_error err;
    cJSON *body;

    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_perm_parse(body, &object, &action, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if (mgr_role_exists(ctx, req, role)) {
        mgr_reply_done(req, mgr_perm_change(ctx, slot, role, object, action));
    }
    cJSON_Delete(body);
}

void
mgr_user_perm_add(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    (void)who;
    mgr_user_perm_body(ctx, req, m, MGR_STMT_PERM_INSERT);
}

void
mgr_user_perm_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who)
{
    (void)who;
    mgr_user_perm_body(ctx, req, m, MGR_STMT_PERM_DELETE);
}
