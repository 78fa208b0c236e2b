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

#include "df/df_conf.h"
#include "df/df_err.h"
#include "df/df_id.h"
#include "df/rpc_err.h"
#include "df/rpc_tls.h"

struct event;
struct event_base;
struct evdns_base;
struct net_addrpolicy;
struct net_fetch_pool;
struct net_tls_ctx;
struct df_metrics;
struct df_work_pool;
struct net_http_req;
struct net_http_server;
struct net_listener;
struct net_route;
struct net_route_match;
struct net_tls_ctx;
struct rpc_server;
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
    char *rpc_listen;          /* manager.v2.Manager (mgr_rpc.c) */
    int64_t keepalive_timeout; /* ms a keepalive counts */
    struct rpc_tls_conf tls;   /* of the RPC listener */
    char *job_ca;              /* CA bundle for registries of image preheats; NULL: the system's */
    int64_t job_max_live;      /* unfinished jobs at once; more is a 429 */
    bool harbor_open; /* /_ping and /preheats without a token (Harbor <= 2.11, auth NONE) */
    struct df_conf_list job_allow, job_deny; /* the registry requests' address policy */
    int64_t gc_interval;                     /* ms between two runs of the periodic GC */
    char *ca_cert, *ca_key; /* the cluster CA (mgr_ca.c); unset: no certificates issued */
    int64_t ca_validity;    /* ms a certificate issued to a host is valid */
    int64_t ca_token_max;   /* ms a join token may live at most */
    char *ca_join_listen;   /* manager.v2 for hosts without a certificate yet */
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

/* True when len bytes at a and b are equal, in a time that does not depend on where they differ. */
bool mgr_auth_ct_equal(const uint8_t *a, const uint8_t *b, size_t len);

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
    MGR_STMT_LINK_OF_SPC,
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
    /* the registry (mgr_registry.c) */
    MGR_STMT_SCHED_UPSERT,
    MGR_STMT_SCHED_ALIVE,
    MGR_STMT_SCHED_GET,
    MGR_STMT_SCHED_LIST,
    MGR_STMT_SCHED_COUNT,
    MGR_STMT_SCHED_COUNT_ALL, /* the count without a filter: no per-row test */
    MGR_STMT_SCHED_DELETE,
    MGR_STMT_SCHED_OF_SC,
    MGR_STMT_SEED_UPSERT,
    MGR_STMT_SEED_ALIVE,
    MGR_STMT_SEED_GET,
    MGR_STMT_SEED_LIST,
    MGR_STMT_SEED_COUNT,
    MGR_STMT_SEED_COUNT_ALL, /* the count without a filter: no per-row test */
    MGR_STMT_SEED_DELETE,
    MGR_STMT_SEED_DELETE_KEY,
    MGR_STMT_SEED_OF_SPC,
    MGR_STMT_PEER_UPSERT,
    MGR_STMT_PEER_GET,
    MGR_STMT_PEER_LIST,
    MGR_STMT_PEER_COUNT,
    MGR_STMT_PEER_COUNT_ALL, /* the count without a filter: no per-row test */
    MGR_STMT_PEER_DELETE,
    MGR_STMT_PEER_OF_SC,
    MGR_STMT_JOB_INSERT,
    MGR_STMT_JOB_GET,
    MGR_STMT_JOB_LIST,
    MGR_STMT_JOB_COUNT,
    MGR_STMT_JOB_PATCH,
    MGR_STMT_JOB_DELETE,
    MGR_STMT_JOB_SET,
    MGR_STMT_JOB_PENDING,
    /* the audit log (mgr_audit.c) */
    MGR_STMT_AUDIT_INSERT,
    MGR_STMT_AUDIT_LIST,
    MGR_STMT_AUDIT_COUNT,
    MGR_STMT_AUDIT_COUNT_ALL,
    /* configs (mgr_config.c) and the GC (mgr_gc.c) */
    MGR_STMT_CONFIG_INSERT,
    MGR_STMT_CONFIG_GET,
    MGR_STMT_CONFIG_BY_NAME,
    MGR_STMT_CONFIG_LIST,
    MGR_STMT_CONFIG_COUNT,
    MGR_STMT_CONFIG_UPDATE,
    MGR_STMT_CONFIG_DELETE,
    MGR_STMT_CONFIG_NAME_TAKEN,
    MGR_STMT_GC_AUDITS,
    MGR_STMT_GC_JOBS,
    /* applications (mgr_app.c) */
    MGR_STMT_APP_INSERT,
    MGR_STMT_APP_GET,
    MGR_STMT_APP_LIST,
    MGR_STMT_APP_COUNT,
    MGR_STMT_APP_UPDATE,
    MGR_STMT_APP_DELETE,
    MGR_STMT_APP_NAME_TAKEN,
    MGR_STMT_APP_PRIORITIZED,
    /* join tokens and issued certificates (mgr_ca.c) */
    MGR_STMT_JOIN_INSERT,
    MGR_STMT_JOIN_GET,
    MGR_STMT_JOIN_LIST,
    MGR_STMT_JOIN_COUNT,
    MGR_STMT_JOIN_DELETE,
    MGR_STMT_JOIN_BY_HASH,
    MGR_STMT_CERT_INSERT,
    MGR_STMT_CERT_GET,
    MGR_STMT_CERT_LIST,
    MGR_STMT_CERT_COUNT,
    MGR_STMT_CERT_REVOKE,
    MGR_STMT_CERT_REVOKED,
    MGR_STMT_CERT_OF_HOST,
    MGR_STMT__COUNT
};

/* The schema version this binary writes. */
#define MGR_DB_SCHEMA_VERSION 9

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

/* ---- the registry of schedulers, seed peers and peers (mgr_registry.c) ---- */

/* Longest host name, IDC and location a host may register (longer is refused). */
#define MGR_REG_HOSTNAME_MAX 255
#define MGR_REG_FIELD_MAX    128

enum mgr_reg_kind {
    MGR_REG_SCHEDULER,
    MGR_REG_SEED_PEER,
    MGR_REG_PEER,
};

/* A registered host as the registry lists it (copies; no ownership). */
struct mgr_reg_host {
    int64_t id;
    int64_t cluster_id; /* scheduler cluster (schedulers, peers) or seed-peer cluster */
    char hostname[MGR_REG_HOSTNAME_MAX + 1];
    char ip[64];
    char idc[MGR_REG_FIELD_MAX + 1];
    char location[MGR_REG_FIELD_MAX + 1];
    char type[16];      /* seed peers and peers: "super" / "normal" */
    char features[128]; /* schedulers: a JSON array */
    int port;
    int download_port; /* seed peers and peers */
    bool active;
};

/* What a host announces of itself; NULL strings are "" (features: "[...]" JSON). */
struct mgr_reg_update {
    const char *hostname;
    const char *ip;
    const char *idc;
    const char *location;
    const char *type;
    const char *features; /* schedulers: a JSON array */
    const char *config;   /* schedulers: a JSON object */
    const char *version;  /* "" or NULL: keep the stored one */
    const char *commit;   /* as version */
    int port;
    int download_port;
    int proxy_port;
    int64_t cluster_id;
    int64_t alive_until; /* peers: ms */
};

/*
 * Insert or update the row of u (keyed by hostname, ip and cluster) at now (ms); a new
 * scheduler or seed peer is inactive until its keepalive stream opens. Returns 0 and *id,
 * DF_ENOTFOUND (no such cluster) or a db error.
 */
int mgr_reg_update(struct store_sql *db, enum mgr_reg_kind kind, const struct mgr_reg_update *u,
                   int64_t now, int64_t *id);

/*
 * A keepalive of a scheduler or seed peer (ip NULL: any): alive makes it active until
 * now + ttl; !alive (its stream ended) makes it inactive at once. Returns 0, DF_ENOTFOUND
 * (no such row) or a db error.
 */
int mgr_reg_keepalive(struct store_sql *db, enum mgr_reg_kind kind, const char *hostname,
                      const char *ip, int64_t cluster_id, bool alive, int64_t now, int64_t ttl);

/*
 * The hosts of kind in cluster (0: every cluster), only the active
 * ones when active_only, by id. Returns 0 with *out (the caller frees it) and *n, or a db
 * error. This is what the preheat jobs dispatch to: the active schedulers of a cluster.
 */
int mgr_reg_list(struct store_sql *db, enum mgr_reg_kind kind, int64_t cluster_id, bool active_only,
                 struct mgr_reg_host **out, size_t *n);

/* ---- what the hosts of a cluster know and do (mgr_task.c) ---- */

/*
 * A fan: one unary call of method with req to each of n hosts (taken; type "" a scheduler,
 * "normal" a peer, else a seed: the certificate role expected under mTLS), each on its own
 * client, at most limit open at once (0: all). done runs once, from the loop, when every call
 * ended; read the answers with mgr_fan_host, then free the fan (mgr_fan_free may be called from
 * done).
 */
struct mgr;
struct mgr_fan;
struct net_http_req;
struct rpc_client;
/*
 * A client for host h's RPC port: under mTLS the manager's certificate, h's name and the role
 * its type says ("" a scheduler, "normal" a peer, else a seed). 0 and *out, or an error.
 */
int mgr_host_client_new(struct mgr *ctx, const struct mgr_reg_host *h, int deadline_ms,
                        struct rpc_client **out, struct df_error *err);
typedef void mgr_fan_done_fn(void *arg, struct mgr_fan *f);
int mgr_fan_start(struct mgr *ctx, struct mgr_reg_host *hosts, size_t n, size_t limit,
                  const char *method, const cJSON *req, int deadline_ms, mgr_fan_done_fn *done,
                  void *arg, struct mgr_fan **out, struct df_error *err);
/* The same to the active schedulers of a cluster; DF_ENOTFOUND (err set) when none. */
int mgr_fan_schedulers(struct mgr *ctx, int64_t cluster_id, const char *method, const cJSON *req,
                       int deadline_ms, mgr_fan_done_fn *done, void *arg, struct mgr_fan **out,
                       struct df_error *err);
size_t mgr_fan_count(const struct mgr_fan *f);
/* Target i, its call's status and answer (NULL unless RPC_OK); borrowed from f. */
const struct mgr_reg_host *mgr_fan_host(const struct mgr_fan *f, size_t i,
                                        const struct rpc_status **st, const cJSON **resp);
/* Free f; its open calls are cancelled without done. NULL is a no-op. */
void mgr_fan_free(struct mgr_fan *f);

/*
 * The hosts of a cluster as its schedulers list them (ListHosts), deduplicated by ip and
 * port: done(arg, 0, "", hosts (taken), n), or an error and why when no scheduler answered.
 * Returns 0 and *out, or DF_ENOTFOUND (no active scheduler) with err set.
 */
struct mgr_hosts_req;
typedef void mgr_hosts_done_fn(void *arg, int rv, const char *why, struct mgr_reg_host *hosts,
                               size_t n);
int mgr_hosts_start(struct mgr *ctx, int64_t cluster_id, int deadline_ms, mgr_hosts_done_fn *done,
                    void *arg, struct mgr_hosts_req **out, struct df_error *err);
void mgr_hosts_cancel(struct mgr_hosts_req *r);

/*
 * The task id get_task and delete_task args name: task_id, else the SHA-256 of
 * content_for_calculating_task_id, else url with tag, application, filtered_query_params
 * and piece_length as a peer computes it. DF_EINVAL with upstream's text when none is given.
 */
int mgr_task_id_of(const cJSON *args, char out[DF_ID_TASK_LEN + 1], struct df_error *err);

/*
 * get_task (del false) or delete_task of task_id in a cluster (at most limit DeleteTask
 * calls open at once): done(arg, op, result (taken),
 * error or NULL when a scheduler did not answer) runs once from the loop, then op is gone.
 * Returns 0 and *out, or DF_ENOTFOUND (no active scheduler) with err set.
 */
struct mgr_task_op;
typedef void mgr_task_done_fn(void *arg, struct mgr_task_op *op, cJSON *result, const char *error);
int mgr_task_start(struct mgr *ctx, int64_t cluster_id, bool del, const char *task_id, size_t limit,
                   int deadline_ms, mgr_task_done_fn *done, void *arg, struct mgr_task_op **out,
                   struct df_error *err);
void mgr_task_cancel(struct mgr_task_op *op);

/* sync_peers of the clusters (array of ids): answers req 200 "OK" once done, or 500. */
void mgr_task_sync_peers(struct mgr *ctx, struct net_http_req *req, const cJSON *cluster_ids);
/* Drop the sync_peers requests still waiting (shutdown): their calls are cancelled. */
void mgr_task_reset(struct mgr *ctx);

/* ---- the searcher (mgr_search.c; pure) ---- */

/* The caller of ListSchedulers as the searcher sees it (any member may be NULL). */
struct mgr_search_host {
    const char *hostname;
    const char *ip;
    const char *idc;
    const char *location;
};

/* A scheduler cluster to rank: its id, scopes JSON and default flag; score is written. */
struct mgr_search_item {
    int64_t id;
    char *scopes;
    bool is_default;
    double score;
};

/* True when ip (v4, v6 or v4-mapped) is inside cidr; a malformed cidr matches nothing. */
bool mgr_search_cidr_match(const char *cidr, const char *ip);

/* Upstream's affinity of a cluster (scopes JSON, default flag) for h, 0..1. */
double mgr_search_score(const char *scopes, bool is_default, const struct mgr_search_host *h);

/* Score v (n items) for h and sort it best first; ties: the lower id first. */
void mgr_search_sort(struct mgr_search_item *v, size_t n, const struct mgr_search_host *h);

/* ---- the process (mgr_main.c) ---- */

struct mgr_kdf_job;
LIST_HEAD(mgr_kdf_list, mgr_kdf_job);
struct mgr_job;
LIST_HEAD(mgr_job_list, mgr_job);
struct mgr_job_limits;
struct mgr_jwt_cache;
struct mgr_jbuf;
struct mgr_audit;
struct mgr_ca;

struct mgr {
    struct mgr_main_config cfg;
    struct event_base *base;
    struct store_sql *db;
    struct df_work_pool *work;
    struct net_http_server *http;
    struct net_listener *listener;
    struct net_route *routes;          /* net_route view of the api table, catch-alls (*) last */
    const struct mgr_route **route_of; /* the table's route of each of routes */
    struct mgr_jwt_cache *jwt_cache;   /* tokens verified already (mgr_api.c) */
    struct mgr_jbuf *out;              /* reply text of the lists, reused (mgr_api.c) */
    struct df_metrics *metrics;
    uint8_t jwt_key[MGR_JWT_KEY_LEN];
    uint8_t pat_key[MGR_JWT_KEY_LEN]; /* HMAC key of stored personal access tokens */
    char dummy_hash[MGR_PW_HASH_MAX]; /* what an unknown user name is checked against */
    struct mgr_kdf_list kdf_live;     /* submitted password jobs whose done has not run */
    uint64_t requests, denied, kdf_jobs, kdf_refused;
    bool stopping;
    /* manager.v2.Manager (mgr_rpc.c) */
    struct rpc_server *rpc;
    struct net_tls_ctx *tls_server, *tls_client;
    struct mgr_ka_list *ka_live; /* open KeepAlive streams */
    uint64_t rpc_calls, keepalives;
    /* jobs (mgr_job.c): the ones running on this process, the creation limits */
    struct mgr_job_list jobs_live;
    struct mgr_sync *syncs; /* sync_peers requests waiting for their schedulers (mgr_task.c) */
    struct mgr_imgdist *imgdists; /* get_image_distribution requests waiting (mgr_imgdist.c) */
    struct mgr_job_limits *job_limits;
    struct net_fetch_pool *fetch_pool;
    struct evdns_base *dns;
    struct net_tls_ctx *tls;
    struct net_addrpolicy *job_policy;
    uint64_t jobs_created, jobs_succeeded, jobs_failed, jobs_limited;
    /* the audit log (mgr_audit.c) */
    struct mgr_audit *audit;
    uint64_t audited, audit_dropped;
    struct event *gc_timer; /* the periodic GC (mgr_gc.c) */
    uint64_t gc_purged;
    /* the cluster CA (mgr_ca.c): NULL when not configured */
    struct mgr_ca *ca;
    uint64_t certs_issued, certs_refused;
};

/* ---- manager.v2.Manager (mgr_rpc.c) ---- */

/* Start the RPC server on cfg.rpc_listen (TLS per cfg.tls). Returns 0 or an error in err. */
int mgr_rpc_start(struct mgr *ctx, struct df_error *err);
/* Stop listening; open streams end as their clients go. */
void mgr_rpc_shutdown(struct mgr *ctx);
/* Close everything (open keepalive streams make their hosts inactive) and free. */
void mgr_rpc_free(struct mgr *ctx);

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
    MGR_ACCESS_ROOT,    /* a JWT whose user may write the group, even to read: 403 otherwise */
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

/* The user id of the request's valid, unexpired JWT (cookie, Bearer, ?token=), or 0. */
int64_t mgr_api_caller_id(struct mgr *ctx, struct net_http_req *req);

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
 * JSON text written in place, for the hot lists: no tree of nodes (two or three allocations
 * per member) and no print pass. The text is what cJSON_PrintUnformatted gives for the same
 * members (its escapes; integers below 10^15 alike). Members and items are separated by
 * themselves: a key or an object opened after a value gets its comma.
 */
struct mgr_jbuf {
    char *p;
    size_t len, cap;
};

void mgr_jbuf_open(struct mgr_jbuf *b, char c); /* '{' or '[' (a comma before when due) */
void mgr_jbuf_close(struct mgr_jbuf *b, char c);
/* A member's "key": before the value written next (an object opened with mgr_jbuf_open). */
void mgr_jbuf_key(struct mgr_jbuf *b, const char *key);
void mgr_jbuf_str(struct mgr_jbuf *b, const char *key, const char *s);
void mgr_jbuf_bool(struct mgr_jbuf *b, const char *key, bool v);
void mgr_jbuf_int(struct mgr_jbuf *b, const char *key, int64_t v);
void mgr_jbuf_time(struct mgr_jbuf *b, const char *key, int64_t ms);
/* Stored JSON text as a member: normalised as cJSON prints it, {} or [] when it is not JSON. */
void mgr_jbuf_json(struct mgr_jbuf *b, const char *key, const char *text, bool array);
/*
 * Stored JSON text the manager printed itself (cJSON_PrintUnformatted: the clusters' configs
 * and scopes, mgr_cluster.c, and the seed rows of migration 1), copied as it is, with no
 * parse: "" (a missing row of a LEFT JOIN) is {}. The hot lists carry a cluster per row.
 */
void mgr_jbuf_json_ours(struct mgr_jbuf *b, const char *key, const char *text);

/* A row of a statement written as one JSON object. */
typedef void mgr_row_write_fn(struct mgr_jbuf *b, sqlite3_stmt *st);

/* The row fn writes, parsed into a tree (the GET of one row; the lists use the text). */
cJSON *mgr_row_tree(sqlite3_stmt *st, mgr_row_write_fn *fn);

/*
 * mgr_reply_rows with rows written as text into the context's reused buffer; count_all counts
 * the rows when no filter is given (sqlite counts a table's b-tree without visiting its rows).
 */
void mgr_reply_rows_text(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt count_slot,
                         enum mgr_stmt count_all, enum mgr_stmt list_slot,
                         const char *const *filters, size_t n, mgr_row_write_fn *fn);

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

/* Reply 200 with row id of slot rendered by fn, or the db error (404 when none). */
void mgr_reply_row(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt slot, int64_t id,
                   mgr_row_json_fn *fn);

/*
 * The statement slot of a write to a named row, after the check that name (NULL: not
 * written) is free but for row id (0: a new row): the statement, or NULL after replying 409
 * or 500.
 */
sqlite3_stmt *mgr_reply_named_stmt(struct mgr *ctx, struct net_http_req *req, enum mgr_stmt taken,
                                   const char *name, int64_t id, enum mgr_stmt slot);

/*
 * Run st (bound by the caller; reset here) and reply the row written as get and fn render
 * it: st is an INSERT ... RETURNING id when id is 0, else an UPDATE of row id (404 when it
 * changed nothing); a db error is replied as mgr_reply_db_error.
 */
void mgr_reply_write(struct mgr *ctx, struct net_http_req *req, sqlite3_stmt *st, int64_t id,
                     enum mgr_stmt get, mgr_row_json_fn *fn);

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
/*
 * User id as GET /users/:id shows it (no password): the caller frees it; NULL with *rv
 * DF_ENOTFOUND when there is none, or a db error.
 */
cJSON *mgr_user_by_id(struct mgr *ctx, int64_t id, int *rv);
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

#define MGR_PAT_RAW_LEN   32
#define MGR_PAT_TOKEN_LEN 64 /* room for the base64 of MGR_PAT_RAW_LEN bytes and a NUL */

/* HMAC-SHA256(ctx->pat_key, token) into mac: how tokens are stored (PATs, join tokens). */
void mgr_pat_mac(const struct mgr *ctx, const char *token, uint8_t mac[32]);

/* A fresh random token (base64url, 43 characters) and its mac. Returns 0 or DF_EIO. */
int mgr_pat_new_token(const struct mgr *ctx, char b64[MGR_PAT_TOKEN_LEN], uint8_t mac[32]);

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

/* The stored hash of the request's PAT into mac; false when it carries none. */
bool mgr_pat_caller_mac(struct mgr *ctx, struct net_http_req *req, uint8_t mac[32]);

/* ---- the audit log (mgr_audit.c) ---- */

/* True when a request of method answered with status gets a row: writes and failures. */
bool mgr_audit_is_recorded(const char *method, int status);
/* True when path is the API's (/api/, /oapi/, Harbor's /preheats), which is audited. */
bool mgr_audit_is_api(const char *path);
/* The address of a peer text ("1.2.3.4:5", "[::1]:5") without its port, into out. */
void mgr_audit_ip(const char *peer, char *out, size_t outlen);

/* Set up the queue and its flush event (0 or DF_ENOMEM); reset writes what is queued. */
int mgr_audit_init(struct mgr *ctx);
void mgr_audit_reset(struct mgr *ctx);
/* Have req's answer recorded when it comes (the gate calls it before any check). */
void mgr_audit_watch(struct mgr *ctx, struct net_http_req *req);

mgr_handler_fn mgr_audit_list;

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

/* ---- the registry over REST (mgr_host.c) ---- */

/* GET :id through slot, rendered by fn (mgr_cluster.c); 422 / 404 as upstream. */
void mgr_cluster_get_reply(struct mgr *ctx, struct net_http_req *req,
                           const struct net_route_match *m, enum mgr_stmt slot,
                           mgr_row_json_fn *fn);
/* DELETE one row by id through slot: 0, DF_ENOTFOUND when nothing was there, or a db error. */
int mgr_cluster_delete_id(struct mgr *ctx, enum mgr_stmt slot, int64_t id);

mgr_handler_fn mgr_host_sched_list;
mgr_handler_fn mgr_host_sched_get;
mgr_handler_fn mgr_host_sched_delete;
mgr_handler_fn mgr_host_seed_list;
mgr_handler_fn mgr_host_seed_get;
mgr_handler_fn mgr_host_seed_delete;
mgr_handler_fn mgr_host_peer_list;
mgr_handler_fn mgr_host_peer_get;
mgr_handler_fn mgr_host_peer_delete;
/* The seed-peer cluster linked to scheduler cluster id (the lowest id), or 0. */
int64_t mgr_cluster_link_of(struct mgr *ctx, int64_t id);

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

/* ---- the registry side of an image preheat (mgr_image.c) ---- */

/* A manifest URL taken apart: base "<scheme>://<host[:port]>", repository, tag or digest. */
struct mgr_image_ref {
    char *base, *repo, *ref;
};

/* Parse url (.../v2/<repo>/manifests/<ref>) into *out (reset it). 0 or DF_EINVAL. */
int mgr_image_ref_parse(const char *url, struct mgr_image_ref *out, struct df_error *err);
void mgr_image_ref_reset(struct mgr_image_ref *r);

/* True for "sha256:<64 hex>" and "sha512:<128 hex>" (lowercase), nothing else. */
bool mgr_image_digest_is_valid(const char *d);

/* A WWW-Authenticate challenge: Bearer (realm required) or Basic. */
struct mgr_image_challenge {
    bool bearer;
    char *realm, *service, *scope; /* NULL when absent */
};

/* Parse header h into *c (reset it). Returns 0, or DF_EINVAL (another scheme, bad syntax). */
int mgr_image_challenge_parse(const char *h, struct mgr_image_challenge *c);
void mgr_image_challenge_reset(struct mgr_image_challenge *c);

/*
 * Parse a manifest body: an OCI index or Docker manifest list gives *digest, the digest of
 * the manifest for platform ("os/arch[/variant]"; DF_ENOTFOUND naming the platforms it has
 * when none matches); an image manifest gives *blobs, the digests of its config and layers
 * (strings; at most 1000). The caller frees both. Returns 0 or DF_EINVAL/DF_ENOTFOUND with
 * err set (bad JSON, a digest that is not sha256/sha512, schema 1).
 */
int mgr_image_manifest_parse(const char *body, size_t len, const char *platform, char **digest,
                             cJSON **blobs, struct df_error *err);

/* "linux/<the machine's architecture in Go's words>" (static). */
const char *mgr_image_default_platform(void);

struct mgr_image;

/*
 * The end of a resolution: rv 0 and urls (an array of blob URL strings, taken) with auth, the
 * Authorization the manager obtained (token flow, Basic) or NULL when the job's own headers
 * did, or an error and its one-line reason (the registry's when it gave one).
 */
typedef void mgr_image_done_fn(void *arg, int rv, const char *why, cJSON *urls, const char *auth);

/*
 * Resolve manifest url for platform (NULL or "": the manager's own) with the job's secrets
 * (borrowed until done runs or the resolution is cancelled). done runs once, from the loop,
 * after which the resolution is gone. Returns 0 and *out, or DF_EINVAL with err set.
 */
int mgr_image_resolve(struct mgr *ctx, const char *url, const char *platform,
                      const struct mgr_job_secret *sec, mgr_image_done_fn *done, void *arg,
                      struct mgr_image **out, struct df_error *err);

/* Abandon a resolution whose done has not run (no callback). NULL is a no-op. */
void mgr_image_cancel(struct mgr_image *r);

/* ---- get_image_distribution (mgr_imgdist.c) ---- */

/*
 * Check its args (a preheat's of type image without "type", url required, and
 * concurrent_layer_count 0..100, 0 or absent -> 8 into *layers): *out as mgr_job_preheat_args
 * builds it (no password), the secrets into *sec (the caller resets it). 0 or DF_EINVAL.
 */
int mgr_imgdist_args(const cJSON *args, cJSON **out, struct mgr_job_secret *sec, size_t *layers,
                     struct df_error *err);

/*
 * Merge a get_task result ({"peers":[{ip, hostname, IsFinished}], "scheduler_cluster_id"})
 * for layer_url into peers, the answer's [{ip, hostname, cached_layers:[{url}],
 * scheduler_cluster_id}]: each finished peer's host gets the layer once. Returns how many
 * layers were added.
 */
int mgr_imgdist_add(cJSON *peers, const cJSON *result, const char *layer_url);

/*
 * POST /jobs of type get_image_distribution with its args on cluster_ids (checked): replies
 * the result once every scheduler answered (422 bad args, 404/502 with the registry's reason,
 * 500 without a scheduler). Abandoned by mgr_imgdist_reset.
 */
void mgr_imgdist_start(struct mgr *ctx, struct net_http_req *req, const cJSON *args,
                       const cJSON *cluster_ids);
void mgr_imgdist_reset(struct mgr *ctx);

/* ---- dispatch of a preheat to the seed peers of a cluster (mgr_preheat.c) ---- */

struct mgr_preheat;

/* The end of a dispatch: result (taken) is {success_tasks, failure_tasks, scheduler_cluster_id}. */
typedef void mgr_preheat_done_fn(void *arg, struct mgr_preheat *p, cJSON *result);

/*
 * Have the active seed peers of scheduler cluster cluster_id (its linked seed-peer cluster,
 * narrowed by the args' scope, ips, count, percentage) download every URL of urls
 * (strings, copied) with the job's headers, auth (the Authorization the manifest was read
 * with, or NULL) replacing theirs. done runs once, from the loop, after every call ended;
 * the dispatch is then gone. Returns 0 and *out (set before any callback), DF_ENOTFOUND
 * with err set when no seed peer is active, or another error.
 */
int mgr_preheat_start(struct mgr *ctx, int64_t cluster_id, const cJSON *args,
                      const struct mgr_job_secret *sec, const char *auth, const cJSON *urls,
                      mgr_preheat_done_fn *done, void *arg, struct mgr_preheat **out,
                      struct df_error *err);

/*
 * Keep, in place and in order, the n hosts the args choose: scope single_seed_peer (or any
 * value but all_seed_peers and all_peers) -> the first; else those in ips, or else the
 * first count, or else ceil(percentage% of them); *n is updated.
 */
void mgr_preheat_choose(const cJSON *args, struct mgr_reg_host *h, size_t *n);

/* Abandon a dispatch whose done has not run (its calls are cancelled). NULL is a no-op. */
void mgr_preheat_cancel(struct mgr_preheat *p);

/* ---- the cluster CA, join tokens and certificates (mgr_ca.c) ---- */

/* Bounds of a join token's life (expires_in, seconds) and its default. */
#define MGR_CA_TOKEN_MIN_S     60
#define MGR_CA_TOKEN_DEFAULT_S (24 * 3600)

/* What a join token row says, for mgr_ca_token_refusal. */
struct mgr_ca_token {
    const char *role;   /* "scheduler", "seed", "peer" */
    int64_t cluster_id; /* scheduler cluster */
    int64_t expired_at; /* ms */
};

/*
 * Why token does not admit a request at now (ms) for a CSR naming csr_role from a host that
 * asks for cluster_id (0: the token's), or NULL when it does. Static strings.
 */
const char *mgr_ca_token_refusal(const struct mgr_ca_token *token, int64_t now,
                                 const char *csr_role, int64_t cluster_id);

/* Load the CA of cfg.ca_cert/ca_key (none when unset). Returns 0 or an error in err. */
int mgr_ca_init(struct mgr *ctx, struct df_error *err);
void mgr_ca_free(struct mgr *ctx);

/*
 * Serve ListRevokedCertificates on the RPC listener (empty without a CA) and, with a CA, the
 * join listener (ca.joinListen). 0 or an error in err.
 */
int mgr_ca_rpc_start(struct mgr *ctx, struct df_error *err);

/* The join listener's address, or NULL when there is none. */
const char *mgr_ca_join_addr(const struct mgr *ctx);

mgr_handler_fn mgr_ca_token_create;
mgr_handler_fn mgr_ca_token_list;
mgr_handler_fn mgr_ca_token_delete;
mgr_handler_fn mgr_ca_cert_list;
mgr_handler_fn mgr_ca_cert_revoke;

mgr_handler_fn mgr_job_create;
mgr_handler_fn mgr_job_list;
mgr_handler_fn mgr_job_get;
mgr_handler_fn mgr_job_patch;
mgr_handler_fn mgr_job_delete;
mgr_handler_fn mgr_harbor_create;
mgr_handler_fn mgr_harbor_get;

/* Reply 200 with job id as GET /jobs/:id shows it, or the db error. */
void mgr_job_reply_row(struct mgr *ctx, struct net_http_req *req, int64_t id);

/* ---- configs (mgr_config.c) and the GC of audits and jobs (mgr_gc.c) ---- */

mgr_handler_fn mgr_config_create;
mgr_handler_fn mgr_config_list;
mgr_handler_fn mgr_config_get;
mgr_handler_fn mgr_config_patch;
mgr_handler_fn mgr_config_delete;

/* The config row holding the GC's TTLs. */
#define MGR_GC_CONFIG "gc"

struct mgr_gc_ttl {
    int64_t audit_ns, job_ns;
};

/*
 * Parse the gc row's value {"audit":{"ttl":ns},"job":{"ttl":ns}} (each 1 s to 10 years).
 * Returns 0 and *out, or DF_EINVAL with the validator's text in err.
 */
int mgr_gc_ttl_parse(const char *value, struct mgr_gc_ttl *out, struct df_error *err);

/*
 * Remove the audit rows (audit) or the finished jobs (!audit) older than their TTL at
 * now_ms. Returns 0 and the count in *purged, or a db error.
 */
int mgr_gc_run(struct mgr *ctx, bool audit, int64_t now_ms, int64_t *purged);

/* Start (0 or DF_ENOMEM) and stop the periodic GC (every cfg.gc_interval). */
int mgr_gc_init(struct mgr *ctx);
void mgr_gc_reset(struct mgr *ctx);

/* True when a POST /jobs body is of type gc (the dispatch sends it to mgr_gc_job_create). */
bool mgr_gc_is_job(const cJSON *body);

/*
 * POST /jobs of type gc: runs it now and replies the job row (SUCCESS with {"purged": n} as
 * its result, or FAILURE), or 422 for args.type other than audit and job.
 */
void mgr_gc_job_create(struct mgr *ctx, struct net_http_req *req, const cJSON *body,
                       const struct mgr_caller *who);

/* ---- applications (mgr_app.c) ---- */

mgr_handler_fn mgr_app_create;
mgr_handler_fn mgr_app_list;
mgr_handler_fn mgr_app_get;
mgr_handler_fn mgr_app_patch;
mgr_handler_fn mgr_app_delete;

/* Upstream's bounds of a priority (value and each url's value) and of its url list. */
#define MGR_APP_PRIORITY_MAX 20
#define MGR_APP_URLS_MAX     100

/*
 * An application's priority object {value (required, 0..20), urls:[{regex (an extended
 * regular expression), value (0..20)}]}: returns 0 and its normalised JSON text in *out
 * (the caller frees), or DF_EINVAL with the validator's text in err.
 */
int mgr_app_priority_parse(const cJSON *v, char **out, struct df_error *err);

struct proto_mgr_apps;

/*
 * The applications that have a priority, at most PROTO_MGR_APPS_MAX, for ListApplications:
 * 0 and *out (the caller resets it; it may hold none), or a db error.
 */
int mgr_app_prioritized(struct mgr *ctx, struct proto_mgr_apps *out);

#endif
