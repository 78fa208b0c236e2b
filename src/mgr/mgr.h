/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly manager`, private to src/mgr: the process (mgr_main.c), its sqlite database
 * (mgr_db.c), the pure pieces of authentication (mgr_auth.c: password hashes, JWT HS256),
 * pagination (mgr_page.c), the REST route table with its access rule per route (mgr_api.c)
 * and the resource handlers (mgr_user.c, mgr_cluster.c, mgr_pat.c). Everything runs on the loop of
 * struct mgr but the password hashing, which goes to a df_work thread.
 */
#ifndef DF_MGR_H
#define DF_MGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "df/df_err.h"

struct event_base;
struct evdns_base;
struct net_fetch_pool;
struct net_tls_ctx;
struct df_metrics;
struct df_work_pool;
struct net_http_req;
struct net_http_server;
struct net_listener;
struct net_route;
struct net_route_match;
struct store_sql;

/* ---- configuration (mgr_main.c) ---- */

struct mgr_main_config {
    char *listen;   /* REST, /healthy, /readyz and /metrics */
    char *data_dir; /* holds manager.db */
    char *ready_file;
    char *jwt_key;           /* configured HS256 key, or NULL: the one kept in the database */
    int64_t jwt_timeout;     /* ms a token is valid */
    int64_t jwt_max_refresh; /* ms after orig_iat a token may still be refreshed */
    int64_t max_body;        /* bytes of a request body */
    int64_t kdf_iterations;  /* PBKDF2 iterations of new password hashes */
    int log_level;
    int log_format; /* enum log_format */
    char *log_file;
    char *log_debug;
    char *job_ca;         /* CA bundle for registries of image preheats; NULL: the system's */
    int64_t job_max_live; /* unfinished jobs at once; more is a 429 */
    bool harbor_open;     /* /_ping and /preheats without a token (Harbor <= 2.11, auth NONE) */
};

/* ---- passwords and tokens (mgr_auth.c; pure, thread-safe) ---- */

#define MGR_PW_SALT_LEN 16
/* "pbkdf2-sha256$<iterations>$<32 hex salt>$<64 hex hash>" and a NUL */
#define MGR_PW_HASH_MAX 128
#define MGR_JWT_KEY_LEN 32

/*
 * Hash password with PBKDF2-HMAC-SHA256 over iterations (1..10^7) and salt into out, in the
 * stored form above. Returns 0 or DF_EINVAL (iterations out of range), DF_EINTERNAL.
 */
int mgr_pw_hash(const char *password, const uint8_t salt[MGR_PW_SALT_LEN], unsigned iterations,
                char out[MGR_PW_HASH_MAX]);

/* Hash password with a fresh random salt. Returns as mgr_pw_hash, or DF_EIO (no entropy). */
int mgr_pw_hash_new(const char *password, unsigned iterations, char out[MGR_PW_HASH_MAX]);

/*
 * True when password hashes to stored (compared in constant time). A stored value not in
 * our form never matches.
 */
bool mgr_pw_is_match(const char *password, const char *stored);

/* Fill len bytes at p from getrandom(). Returns 0 or DF_EIO. */
int mgr_auth_random(uint8_t *p, size_t len);

/* The claims we sign and check: {"id", "exp", "orig_iat"}, seconds since the epoch. */
struct mgr_jwt_claims {
    int64_t id;
    int64_t exp;
    int64_t orig_iat;
};

/*
 * Sign c as a compact JWS with HS256 under key (keylen bytes). Returns 0 and *out (the
 * caller frees it), or DF_ENOMEM.
 */
int mgr_jwt_sign(const uint8_t *key, size_t keylen, const struct mgr_jwt_claims *c, char **out);

/*
 * Check token: three base64url parts, a header whose alg is exactly HS256 (no "none", no
 * other algorithm), a signature equal (constant time) to ours over the first two parts, and
 * claims with a positive integer id, exp and orig_iat. Unless allow_expired, exp must be
 * after now (seconds). Returns 0 and *out, or DF_EPERM (bad signature or algorithm),
 * DF_ETIMEDOUT (expired), DF_EINVAL (malformed); *out is untouched on failure.
 */
int mgr_jwt_verify(const uint8_t *key, size_t keylen, const char *token, int64_t now,
                   bool allow_expired, struct mgr_jwt_claims *out);

/* ---- pagination (mgr_page.c; pure) ---- */

#define MGR_PAGE_MAX_PER_PAGE 10000000

struct mgr_page {
    int64_t page;     /* >= 1 */
    int64_t per_page; /* 1..MGR_PAGE_MAX_PER_PAGE */
};

/*
 * Read page and per_page from a raw query string (may be NULL): defaults 1 and 10.
 * Returns 0, or DF_EINVAL with the validator's text in err (a 422 for the caller).
 */
int mgr_page_parse(const char *query, struct mgr_page *out, struct df_error *err);

/*
 * The value of key in a raw query (percent- and '+'-decoded), or NULL when absent (also
 * for a malformed escape). The caller frees it.
 */
char *mgr_query_get(const char *query, const char *key);

/*
 * The Link header upstream sends: "<U>;rel=prev,<U>;rel=next,<U>;rel=first,<U>;rel=last",
 * each U being path + "?" + the query with page and per_page replaced, re-encoded with its
 * keys sorted (Go's url.Values.Encode). Returns a string the caller frees, or NULL for a
 * malformed query.
 */
char *mgr_page_link(const char *path, const char *query, const struct mgr_page *pg, int64_t total);

/* ---- the database (mgr_db.c) ---- */

/* Statement slots of the manager's schema. */
enum mgr_stmt {
    MGR_STMT_META_GET,
    MGR_STMT_META_PUT,
    MGR_STMT_USER_COUNT,
    MGR_STMT_USER_INSERT,
    MGR_STMT_USER_GET,
    MGR_STMT_USER_BY_NAME,
    MGR_STMT_USER_NAME_TAKEN,
    MGR_STMT_USER_LIST,
    MGR_STMT_USER_LIST_COUNT,
    MGR_STMT_USER_PATCH,
    MGR_STMT_USER_SET_PASSWORD,
    MGR_STMT_ROLE_INSERT,
    MGR_STMT_ROLE_LIST,
    MGR_STMT_ROLE_EXISTS,
    MGR_STMT_ROLE_DELETE,
    MGR_STMT_PERM_INSERT,
    MGR_STMT_PERM_DELETE,
    MGR_STMT_PERM_OF_ROLE,
    MGR_STMT_USER_ROLE_ADD,
    MGR_STMT_USER_ROLE_DELETE,
    MGR_STMT_USER_ROLES,
    MGR_STMT_USER_CAN,
    MGR_STMT_SC_INSERT,
    MGR_STMT_SC_GET,
    MGR_STMT_SC_LIST,
    MGR_STMT_SC_COUNT,
    MGR_STMT_SC_UPDATE,
    MGR_STMT_SC_DELETE,
    MGR_STMT_SC_CLEAR_DEFAULT,
    MGR_STMT_SPC_INSERT,
    MGR_STMT_SPC_GET,
    MGR_STMT_SPC_LIST,
    MGR_STMT_SPC_COUNT,
    MGR_STMT_SPC_UPDATE,
    MGR_STMT_SPC_DELETE,
    MGR_STMT_LINK_PUT,
    MGR_STMT_LINK_OF_SC,
    MGR_STMT_LINK_DELETE_SC,
    MGR_STMT_SC_NAME_TAKEN,
    MGR_STMT_SPC_NAME_TAKEN,
    MGR_STMT_PAT_INSERT,
    MGR_STMT_PAT_GET,
    MGR_STMT_PAT_LIST,
    MGR_STMT_PAT_COUNT,
    MGR_STMT_PAT_UPDATE,
    MGR_STMT_PAT_DELETE,
    MGR_STMT_PAT_BY_HASH,
    MGR_STMT_JOB_INSERT,
    MGR_STMT_JOB_GET,
    MGR_STMT_JOB_LIST,
    MGR_STMT_JOB_COUNT,
    MGR_STMT_JOB_PATCH,
    MGR_STMT_JOB_DELETE,
    MGR_STMT_JOB_SET,
    MGR_STMT_JOB_PENDING,
    MGR_STMT__COUNT
};

/* The schema version this binary writes. */
#define MGR_DB_SCHEMA_VERSION 3

/* The name of the root user and the password it is seeded with unless the env says. */
#define MGR_ROOT_NAME     "root"
#define MGR_ROOT_PASSWORD "dragonfly"
#define MGR_ROOT_ENV      "DRAGONFLY_INITIAL_ROOT_PASSWORD"

/*
 * Open (or create) <dir>/manager.db, migrate it, seed it on first start (cluster-1, roles
 * root and guest, user root, the JWT key), grant root and guest their permissions on
 * every group in groups (n names), and load the JWT key into key and the key of the
 * personal access token hashes into pat_key. Warns when root still
 * has the default password. Returns 0 and *out, or an error with one line in err.
 */
int mgr_db_open(const char *dir, unsigned kdf_iterations, const char *const *groups, size_t n,
                uint8_t key[MGR_JWT_KEY_LEN], uint8_t pat_key[MGR_JWT_KEY_LEN],
                struct store_sql **out, struct df_error *err);

/* The prepared statement of slot (see store_sql_stmt); logs sqlite's message on failure. */
sqlite3_stmt *mgr_db_stmt(struct store_sql *db, enum mgr_stmt slot);

/*
 * Step st once: STORE_SQL_ROW, STORE_SQL_DONE, DF_EEXIST for a constraint (a name taken), or
 * another negative DF_E* (logged).
 */
int mgr_db_step(struct store_sql *db, sqlite3_stmt *st);

/*
 * A name check before a write, so that a taken name is a 409 and never a constraint error
 * (which sqlite logs): slot selects rows of that name but id's (0 for a new row). Returns 0
 * when name is NULL or free, DF_EEXIST when taken, or a db error.
 */
int mgr_db_name_check(struct store_sql *db, enum mgr_stmt slot, const char *name, int64_t id);

/* Step a write statement once and reset it: 0 or the negative result of mgr_db_step. */
int mgr_db_run(struct store_sql *db, sqlite3_stmt *st);

/* Bind text s (NULL binds NULL) to parameter i; copied. */
void mgr_db_bind_text(sqlite3_stmt *st, int i, const char *s);

/* Column i of the current row as text, "" when NULL; borrowed until the next step. */
const char *mgr_db_col_text(sqlite3_stmt *st, int i);

/* ---- the process (mgr_main.c) ---- */

struct mgr_kdf_job;
LIST_HEAD(mgr_kdf_list, mgr_kdf_job);
struct mgr_job;
LIST_HEAD(mgr_job_list, mgr_job);
struct mgr_job_limits;

struct mgr {
    struct mgr_main_config cfg;
    struct event_base *base;
    struct store_sql *db;
    struct df_work_pool *work;
    struct net_http_server *http;
    struct net_listener *listener;
    struct net_route *routes;          /* net_route view of the api table, catch-alls (*) last */
    const struct mgr_route **route_of; /* the table's route of each of routes */
    struct df_metrics *metrics;
    uint8_t jwt_key[MGR_JWT_KEY_LEN];
    uint8_t pat_key[MGR_JWT_KEY_LEN]; /* HMAC key of stored personal access tokens */
    char dummy_hash[MGR_PW_HASH_MAX]; /* what an unknown user name is checked against */
    struct mgr_kdf_list kdf_live;     /* submitted password jobs whose done has not run */
    uint64_t requests, denied, kdf_jobs, kdf_refused;
    bool stopping;
    /* jobs (mgr_job.c): the ones running on this process, the creation limits */
    struct mgr_job_list jobs_live;
    struct mgr_job_limits *job_limits;
    struct net_fetch_pool *fetch_pool;
    struct evdns_base *dns;
    struct net_tls_ctx *tls;
    uint64_t jobs_created, jobs_succeeded, jobs_failed, jobs_limited;
};

/* ---- the REST API (mgr_api.c) ---- */

/* Who is calling: the user id a valid JWT names (0 for an open route without one). */
struct mgr_caller {
    int64_t user_id;
};

typedef void mgr_handler_fn(struct mgr *ctx, struct net_http_req *req,
                            const struct net_route_match *m, const struct mgr_caller *who);

/* Access rule of a route. The zero value is the strictest: deny by default. */
enum mgr_access {
    MGR_ACCESS_JWT = 0, /* a valid JWT whose user has the permission on the route's group */
    MGR_ACCESS_OPEN,    /* anyone (sign-in, health, metrics) */
    MGR_ACCESS_PAT,     /* /oapi/v1: a personal access token with the group's scope */
    MGR_ACCESS_LEGACY,  /* Harbor <= 2.11's routes: a PAT with scope job, or open by config */
};

struct mgr_route {
    const char *method;
    const char *pattern;
    mgr_handler_fn *fn;
    enum mgr_access access;
};

/* The route table (static), its length in *n. */
const struct mgr_route *mgr_api_routes(size_t *n);

/*
 * The RBAC object of a pattern: the group after /api/vN/ or /oapi/vN/ ("users" for
 * /api/v1/users/:id), written to out (outlen bytes). Returns 0, or DF_EINVAL when the pattern has
 * none.
 */
int mgr_api_group(const char *pattern, char *out, size_t outlen);

/* The distinct groups of the route table (static strings), their number in *n. */
const char *const *mgr_api_groups(size_t *n);

/* True when user id (enabled) holds a permission (object, action "read" or "*"). */
bool mgr_api_can(struct mgr *ctx, int64_t id, const char *object, const char *action);

/* Longest token we look at. */
#define MGR_TOKEN_MAX 4096

/*
 * The caller's token: cookie jwt, else Authorization: Bearer, else ?token= (upstream's
 * order), copied to out. Returns 0, or DF_ENOTFOUND.
 */
int mgr_api_token(struct net_http_req *req, char *out, size_t outlen);

/* 401 {"message":"Unauthorized"} with WWW-Authenticate, as gin-jwt answers. */
void mgr_reply_unauthorized(struct net_http_req *req);

/* Build ctx->routes and dispatch every request through the access rules. */
int mgr_api_init(struct mgr *ctx);
void mgr_api_request_cb(struct net_http_req *req, void *arg);

/* Replies: {"message": msg} and {"errors": text}; both complete req. */
void mgr_reply_message(struct net_http_req *req, int status, const char *msg);
void mgr_reply_errors(struct net_http_req *req, const char *text);
/* 200 with doc (taken: freed here). */
void mgr_reply_doc(struct net_http_req *req, int status, cJSON *doc);
/* 200 with an empty body. */
void mgr_reply_empty(struct net_http_req *req);
/* 200 with an empty body when rv is 0, else as mgr_reply_db_error. */
void mgr_reply_done(struct net_http_req *req, int rv);
/* Map a database error to upstream's answers: 404, 409, 500. */
void mgr_reply_db_error(struct net_http_req *req, int rv);

/*
 * DELETE of the row whose id is the :id parameter through slot: replies 200 (empty), 404,
 * 422 or 500, and returns the id deleted, or 0.
 */
int64_t mgr_reply_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                         enum mgr_stmt slot);

/*
 * The request body as a JSON object: returns it (the caller frees), or NULL after replying
 * 422 {"errors": ...}.
 */
cJSON *mgr_body_object(struct net_http_req *req);

/*
 * The :name parameter of m as a positive id: returns it, or 0 after replying 422 (upstream
 * binds ids with `binding:"required"` into uint).
 */
int64_t mgr_param_id(struct net_http_req *req, const struct net_route_match *m, const char *name);

/* Add a "created_at"/"updated_at" pair from ms since the epoch. */
void mgr_json_add_time(cJSON *doc, const char *key, int64_t ms);

/*
 * An optional string member of body: absent -> *out NULL and 0; a string of lo..hi
 * characters -> 0; else writes the validator's text to err and returns DF_EINVAL.
 */
int mgr_json_str(const cJSON *body, const char *key, size_t lo, size_t hi, bool required,
                 const char **out, struct df_error *err);

/* A row of a statement as JSON (the caller owns the result). */
typedef cJSON *mgr_row_json_fn(struct mgr *ctx, sqlite3_stmt *st);

/*
 * Answer GET of a list: the query's filters (n names, bound as ?1..?n, NULL when absent or
 * empty) to both statements, page and per_page as ?n+1 (LIMIT) and ?n+2 (OFFSET) to the
 * list, each row through fn, the Link header from the count. 422 for bad paging.
 */
void mgr_reply_rows(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt count_slot,
                    enum mgr_stmt list_slot, const char *const *filters, size_t n,
                    mgr_row_json_fn *fn);

/* Fetch one row by id through slot and render it; NULL with *rv DF_ENOTFOUND when none. */
cJSON *mgr_db_fetch(struct mgr *ctx, enum mgr_stmt slot, int64_t id, mgr_row_json_fn *fn, int *rv);

/* Answer a list: the Link header, then the array (taken). */
void mgr_reply_list(struct net_http_req *req, const struct mgr_page *pg, int64_t total,
                    cJSON *array);

/* ---- users, roles, permissions (mgr_user.c) ---- */

/* Free the password jobs whose done never ran (after the work pool is freed). */
void mgr_user_reset(struct mgr *ctx);

void mgr_user_signin(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who);
void mgr_user_signout(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                      const struct mgr_caller *who);
void mgr_user_refresh(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                      const struct mgr_caller *who);
void mgr_user_signup(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                     const struct mgr_caller *who);
void mgr_user_reset_password(struct mgr *ctx, struct net_http_req *req,
                             const struct net_route_match *m, const struct mgr_caller *who);
void mgr_user_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                   const struct mgr_caller *who);
void mgr_user_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who);
void mgr_user_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                    const struct mgr_caller *who);
void mgr_user_roles(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                    const struct mgr_caller *who);
void mgr_user_role_add(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                       const struct mgr_caller *who);
void mgr_user_role_delete(struct mgr *ctx, struct net_http_req *req,
                          const struct net_route_match *m, const struct mgr_caller *who);
void mgr_user_role_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                        const struct mgr_caller *who);
void mgr_user_role_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                       const struct mgr_caller *who);
void mgr_user_role_create(struct mgr *ctx, struct net_http_req *req,
                          const struct net_route_match *m, const struct mgr_caller *who);
void mgr_user_role_delete_role(struct mgr *ctx, struct net_http_req *req,
                               const struct net_route_match *m, const struct mgr_caller *who);
void mgr_user_perm_add(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                       const struct mgr_caller *who);
void mgr_user_perm_delete(struct mgr *ctx, struct net_http_req *req,
                          const struct net_route_match *m, const struct mgr_caller *who);
void mgr_user_permissions(struct mgr *ctx, struct net_http_req *req,
                          const struct net_route_match *m, const struct mgr_caller *who);

/* ---- personal access tokens (mgr_pat.c) ---- */

mgr_handler_fn mgr_pat_create;
mgr_handler_fn mgr_pat_list;
mgr_handler_fn mgr_pat_get;
mgr_handler_fn mgr_pat_patch;
mgr_handler_fn mgr_pat_delete;

/*
 * The /oapi gate: true when the request carries an active, unexpired PAT with scope (or
 * with no scopes); else replies as upstream (401, or 403 with the reason) and returns false.
 */
bool mgr_pat_check(struct mgr *ctx, struct net_http_req *req, const char *scope);

/* ---- clusters (mgr_cluster.c): scheduler (sc), seed-peer (spc) and the facade ---- */

mgr_handler_fn mgr_cluster_sc_create;
mgr_handler_fn mgr_cluster_sc_list;
mgr_handler_fn mgr_cluster_sc_get;
mgr_handler_fn mgr_cluster_sc_patch;
mgr_handler_fn mgr_cluster_sc_delete;
mgr_handler_fn mgr_cluster_spc_create;
mgr_handler_fn mgr_cluster_spc_list;
mgr_handler_fn mgr_cluster_spc_get;
mgr_handler_fn mgr_cluster_spc_patch;
mgr_handler_fn mgr_cluster_spc_delete;
mgr_handler_fn mgr_cluster_spc_link;
mgr_handler_fn mgr_cluster_create;
mgr_handler_fn mgr_cluster_list;
mgr_handler_fn mgr_cluster_get;
mgr_handler_fn mgr_cluster_patch;
mgr_handler_fn mgr_cluster_delete;

/* ---- the console (mgr_console.c) ---- */

/* One file of console/, as scripts/gen-console.py compiles it in. */
struct mgr_console_asset {
    const char *path; /* "/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *raw;
    size_t raw_len;
    const unsigned char *gz; /* gzip form, NULL when it would not be smaller */
    size_t gz_len;
    const char *etag; /* quoted, of raw; etag_gz of gz */
    const char *etag_gz;
};

/*
 * The asset to answer a GET of path with: the file of that path ("/" is /index.html), else
 * index.html for an app route (no dot in the last segment), else NULL (a missing file).
 */
const struct mgr_console_asset *mgr_console_find(const char *path);

/* True when an Accept-Encoding value (may be NULL) takes gzip. */
bool mgr_console_accepts_gzip(const char *accept_encoding);

/* True when an If-None-Match value matches the quoted etag. */
bool mgr_console_etag_is_match(const char *if_none_match, const char *etag);

/* Content-Security-Policy, no framing, same-origin referrers (nosniff is on every answer). */
void mgr_console_add_security_headers(struct net_http_req *req);

mgr_handler_fn mgr_console_get;         /* GET of any other path: a file or index.html */
mgr_handler_fn mgr_console_api_missing; /* /api/... and /oapi/... with no route: JSON 404 */

/* The exported view of a scheduler cluster row (MGR_SC_COLS). */
mgr_row_json_fn mgr_cluster_sc_row;

/* ---- jobs (mgr_job.c): preheat; Harbor's routes (mgr_harbor.c) ---- */

/* Upstream's defaults and bounds of preheat args (D:manager/types/job.go). */
#define MGR_JOB_PIECE_MIN       (INT64_C(4) << 20)
#define MGR_JOB_PIECE_MAX       (INT64_C(64) << 20)
#define MGR_JOB_TIMEOUT_DEFAULT (INT64_C(3600) * 1000000000) /* ns: 60 min */
#define MGR_JOB_TIMEOUT_MAX     (INT64_C(7) * 24 * 3600 * 1000000000)
#define MGR_JOB_TASK_COUNT      8
#define MGR_JOB_PEER_COUNT      500

/* What a job keeps only in memory: the registry password and every header value. */
struct mgr_job_secret {
    char *username, *password;
    cJSON *headers; /* object of strings, or NULL */
};

void mgr_job_secret_reset(struct mgr_job_secret *s);

/*
 * Check the args of a preheat job (upstream's bindings: type image|file, the manifest URL's
 * shape, piece_length, scope, ips, count, percentage, concurrency, timeout in ns) and build
 * the args to store and show: upstream's keys sorted, defaults filled in, "password" empty and
 * secret header values replaced. The secrets go to *sec (the caller resets it). Returns 0 and
 * *out (the caller frees it), or DF_EINVAL with the validator's text in err.
 */
int mgr_job_preheat_args(const cJSON *args, cJSON **out, struct mgr_job_secret *sec,
                         struct df_error *err);

/*
 * A group's state from its job_states (an array of {state}): FAILURE when any failed, else
 * PENDING when any is not SUCCESS (or there is none), else SUCCESS. Static strings.
 */
const char *mgr_job_group_state(const cJSON *job_states);

/* Set up (fail the jobs a previous process left unfinished) and tear down the jobs. */
int mgr_job_init(struct mgr *ctx, struct df_error *err);
void mgr_job_reset(struct mgr *ctx);

/*
 * Create a preheat job from a request body (type, bio, user_id, scheduler_cluster_ids,
 * args): on success returns 0 with the id; otherwise replies (422, 404, 429, 500) itself and
 * returns the error. Used by POST /jobs and Harbor's POST /preheats.
 */
int mgr_job_create_preheat(struct mgr *ctx, struct net_http_req *req, const cJSON *body,
                           int64_t *id);

/* The state and, for a FAILURE, the joined errors of job id. Returns 0 or a db error. */
int mgr_job_state(struct mgr *ctx, int64_t id, char state[16], char **errors, int64_t *created_ms,
                  int64_t *updated_ms);

mgr_handler_fn mgr_job_create;
mgr_handler_fn mgr_job_list;
mgr_handler_fn mgr_job_get;
mgr_handler_fn mgr_job_patch;
mgr_handler_fn mgr_job_delete;
mgr_handler_fn mgr_harbor_create;
mgr_handler_fn mgr_harbor_get;

#endif
