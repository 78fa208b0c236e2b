/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager as the cluster's certificate authority. With ca.cert and ca.key (a CA made by
 * `dragonfly cert ca`) it signs the certificates of hosts that join: root creates a join
 * token scoped to a role and a scheduler cluster, with an expiry, and gives it to the host
 * with the CA's hash; the host makes its key and sends only a CSR. Upstream issues
 * certificates to anyone who asks (its audit); here every issuance needs a live token whose
 * role the CSR names, or, to renew, the host's own certificate.
 *
 * Tokens are 32 random bytes shown once and stored as HMAC(pat key, token) as PATs are; a
 * token may be used by many hosts until it expires or is deleted (kubeadm's model). Every
 * certificate signed is a row of certificates (serial, host, role, cluster, not_after),
 * which is also what revocation marks.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "df/df_digest.h"
#include "df/df_json.h"
#include "df/df_metrics.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_csr.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/net_x509.h"
#include "df/proto_mgr.h"
#include "df/rpc_server.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

struct mgr_ca {
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    char hash[NET_CSR_HASH_LEN]; /* what hosts pin (--ca-hash) */
    char *pem;                   /* ca.cert as PEM: what hosts are given */
    struct rpc_server *rpc;      /* the join listener (ca.joinListen) */
    struct net_tls_ctx *tls;     /* its server side: our certificate, client ones optional */
};

static const char *const mgr_ca_roles[] = {"scheduler", "seed", "peer"};

const char *
mgr_ca_token_refusal(const struct mgr_ca_token *token, int64_t now, const char *csr_role,
                     int64_t cluster_id)
{
    if (token->expired_at <= now)
        return "join token has expired";
    if (strcmp(token->role, csr_role) != 0)
        return "join token is for another role";
    if (cluster_id != 0 && cluster_id != token->cluster_id)
        return "join token is for another scheduler cluster";
    return NULL;
}

int
mgr_ca_init(struct mgr *ctx, struct df_error *err)
{
    struct mgr_ca *ca;
    int rv;

    if (ctx->cfg.ca_cert == NULL && ctx->cfg.ca_key == NULL)
        return 0;
    if (ctx->cfg.ca_cert == NULL || ctx->cfg.ca_key == NULL)
        return df_error_set(err, DF_EINVAL, "ca.cert and ca.key go together: set both");
    ca = xcalloc(1, sizeof(*ca));
    mbedtls_x509_crt_init(&ca->crt);
    mbedtls_pk_init(&ca->key);
    ctx->ca = ca;
    if ((rv = net_x509_ca_load(&ca->crt, &ca->key, ctx->cfg.ca_cert, ctx->cfg.ca_key, err)) != 0)
        return rv;
    if ((ca->pem = net_csr_crt_pem(&ca->crt)) == NULL)
        return df_error_set(err, DF_EINVAL, "ca.cert %s: too long", ctx->cfg.ca_cert);
    net_csr_ca_hash(&ca->crt, ca->hash);
    log_info("manager: cluster CA %s (%s): issues host certificates valid %lld s", ctx->cfg.ca_cert,
             ca->hash, (long long)(ctx->cfg.ca_validity / 1000));
    return 0;
}

void
mgr_ca_free(struct mgr *ctx)
{
    struct mgr_ca *ca = ctx->ca;

    if (ca == NULL)
        return;
    rpc_server_free(ca->rpc);
    net_tls_ctx_free(ca->tls);
    mbedtls_x509_crt_free(&ca->crt);
    mbedtls_pk_free(&ca->key);
    free(ca->pem);
    free(ca);
    ctx->ca = NULL;
}

/* Without a CA nothing is issued, and the routes that would lead there say why. */
static bool
mgr_ca_is_on(struct mgr *ctx, struct net_http_req *req)
{
    if (ctx->ca != NULL)
        return true;
    mgr_reply_message(req, 409,
                      "the manager has no CA: set ca.cert and ca.key to issue certificates");
    return false;
}

/* ---- join tokens over REST ---- */

/* A join token row (MGR_JOIN_COLS), never its value. */
static cJSON *
mgr_ca_token_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *t = cJSON_CreateObject();

    (void)ctx;
    cJSON_AddNumberToObject(t, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(t, "created_at", sqlite3_column_int64(st, 1));
    cJSON_AddStringToObject(t, "role", mgr_db_col_text(st, 2));
    cJSON_AddNumberToObject(t, "scheduler_cluster_id", (double)sqlite3_column_int64(st, 3));
    mgr_json_add_time(t, "expired_at", sqlite3_column_int64(st, 4));
    cJSON_AddNumberToObject(t, "user_id", (double)sqlite3_column_int64(st, 5));
    return t;
}

/* Check a creation body: role, scheduler_cluster_id, expires_in (s, bounded). */
static int
mgr_ca_token_parse(struct mgr *ctx, const cJSON *body, const char **role, int64_t *cluster,
                   int64_t *expires_in, struct df_error *err)
{
    size_t i;
    int rv;

    if (mgr_json_str(body, "role", 1, 16, true, role, err) != 0)
        return DF_EINVAL;
    for (i = 0; i < DF_NELEM(mgr_ca_roles) && strcmp(*role, mgr_ca_roles[i]) != 0; i++)
        ;
    if (i == DF_NELEM(mgr_ca_roles))
        return df_error_set(err, DF_EINVAL, "role: one of scheduler, seed, peer");
    if (df_json_get_i64(body, "scheduler_cluster_id", cluster, err) != 0 || *cluster <= 0)
        return df_error_set(err, DF_EINVAL, "scheduler_cluster_id: required, a positive id");
    *expires_in = MGR_CA_TOKEN_DEFAULT_S;
    if ((rv = df_json_get_i64(body, "expires_in", expires_in, err)) == DF_EINVAL)
        return rv;
    if (*expires_in < MGR_CA_TOKEN_MIN_S || *expires_in > ctx->cfg.ca_token_max / 1000)
        return df_error_set(err, DF_EINVAL, "expires_in: %d to %lld seconds", MGR_CA_TOKEN_MIN_S,
                            (long long)(ctx->cfg.ca_token_max / 1000));
    return 0;
}

void
mgr_ca_token_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                    const struct mgr_caller *who)
{
    uint8_t mac[DF_SHA256_LEN];
    char tok[MGR_PAT_TOKEN_LEN];
    const char *role;
    char role_name[16];
    int64_t cluster, expires_in, now = df_time_wall_ms(), id = 0;
    struct df_error err;
    sqlite3_stmt *st;
    cJSON *body, *doc;
    int rv;

    (void)m;
    if (!mgr_ca_is_on(ctx, req) || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_ca_token_parse(ctx, body, &role, &cluster, &expires_in, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if (mgr_pat_new_token(ctx, tok, mac) != 0 ||
        (st = mgr_db_stmt(ctx->db, MGR_STMT_JOIN_INSERT)) == NULL) {
        cJSON_Delete(body);
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_blob(st, 2, mac, sizeof(mac), SQLITE_TRANSIENT);
    mgr_db_bind_text(st, 3, role);
    sqlite3_bind_int64(st, 4, cluster);
    sqlite3_bind_int64(st, 5, now + expires_in * 1000);
    sqlite3_bind_int64(st, 6, who->user_id);
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    snprintf(role_name, sizeof(role_name), "%s", role);
    cJSON_Delete(body);
    if (rv < 0 || id == 0) {
        /* a scheduler_cluster_id that names no cluster fails the foreign key */
        mgr_reply_db_error(req, rv == DF_EEXIST ? DF_ENOTFOUND : DF_EIO);
        return;
    }
    if ((doc = mgr_db_fetch(ctx, MGR_STMT_JOIN_GET, id, mgr_ca_token_json, &rv)) == NULL) {
        mgr_reply_db_error(req, rv);
        return;
    }
    /* the one time the token is shown; the hash is what the host pins the CA by */
    cJSON_AddStringToObject(doc, "token", tok);
    cJSON_AddStringToObject(doc, "ca_hash", ctx->ca->hash);
    log_info("manager: join token %lld created for %s in cluster %lld by user %lld", (long long)id,
             role_name, (long long)cluster, (long long)who->user_id);
    mgr_reply_doc(req, 200, doc);
}

void
mgr_ca_token_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    static const char *const filters[] = {"role", "scheduler_cluster_id"};

    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_JOIN_COUNT, MGR_STMT_JOIN_LIST, filters, DF_NELEM(filters),
                   mgr_ca_token_json);
}

void
mgr_ca_token_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                    const struct mgr_caller *who)
{
    (void)who;
    mgr_reply_delete(ctx, req, m, MGR_STMT_JOIN_DELETE);
}

/* ---- certificates over REST ---- */

/* A certificate row (MGR_CERT_COLS). */
static cJSON *
mgr_ca_cert_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *c = cJSON_CreateObject();
    int64_t revoked = sqlite3_column_int64(st, 6);

    (void)ctx;
    cJSON_AddStringToObject(c, "serial", mgr_db_col_text(st, 0));
    mgr_json_add_time(c, "created_at", sqlite3_column_int64(st, 1));
    cJSON_AddStringToObject(c, "host_name", mgr_db_col_text(st, 2));
    cJSON_AddStringToObject(c, "role", mgr_db_col_text(st, 3));
    cJSON_AddNumberToObject(c, "scheduler_cluster_id", (double)sqlite3_column_int64(st, 4));
    mgr_json_add_time(c, "not_after", sqlite3_column_int64(st, 5));
    cJSON_AddStringToObject(c, "state", revoked != 0 ? "revoked" : "active");
    if (revoked != 0)
        mgr_json_add_time(c, "revoked_at", revoked);
    cJSON_AddNumberToObject(c, "join_token_id", (double)sqlite3_column_int64(st, 7));
    return c;
}

void
mgr_ca_cert_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                 const struct mgr_caller *who)
{
    static const char *const filters[] = {"host_name", "role", "state"};

    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_CERT_COUNT, MGR_STMT_CERT_LIST, filters, DF_NELEM(filters),
                   mgr_ca_cert_json);
}

/*
 * Refuse revoked certificates on the manager's own listeners too: a revoked scheduler may not
 * register or keep alive, and a revoked host may not renew over the join listener with the
 * certificate it was revoked for. Read from the database at start and after each revocation.
 */
static void
mgr_ca_apply_revoked(struct mgr *ctx)
{
    struct net_tls_ctx *own[] = {ctx->tls_server, ctx->ca->tls};
    char **v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st;
    int rv;

    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_CERT_REVOKED)) == NULL)
        return;
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    while ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW) {
        if (n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = xstrdup(mgr_db_col_text(st, 0));
    }
    sqlite3_reset(st);
    if (rv == STORE_SQL_DONE)
        for (size_t i = 0; i < DF_NELEM(own); i++)
            if (own[i] != NULL)
                net_tls_ctx_set_revoked(own[i], (const char *const *)v, n);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
mgr_ca_cert_revoke(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                   const struct mgr_caller *who)
{
    const char *serial = net_route_param(m, "serial");
    sqlite3_stmt *st;
    cJSON *doc = NULL;
    int rv;

    if (serial == NULL || serial[0] == '\0' || strlen(serial) >= NET_CSR_SERIAL_LEN ||
        strspn(serial, "0123456789abcdef") != strlen(serial)) {
        mgr_reply_errors(req, "serial: expected the lowercase hex serial of a certificate");
        return;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_CERT_REVOKE)) == NULL) {
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    mgr_db_bind_text(st, 1, serial);
    sqlite3_bind_int64(st, 2, df_time_wall_ms());
    if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) > 0) {
        log_info("manager: certificate %s revoked by user %lld", serial, (long long)who->user_id);
        if (ctx->ca != NULL)
            mgr_ca_apply_revoked(ctx);
    }
    /* revoking a revoked certificate answers its row again */
    if (rv == 0 && (st = mgr_db_stmt(ctx->db, MGR_STMT_CERT_GET)) != NULL) {
        mgr_db_bind_text(st, 1, serial);
        rv = mgr_db_step(ctx->db, st);
        if (rv == STORE_SQL_ROW)
            doc = mgr_ca_cert_json(ctx, st);
        sqlite3_reset(st);
        rv = rv == STORE_SQL_ROW ? 0 : rv == STORE_SQL_DONE ? DF_ENOTFOUND : rv;
    }
    if (doc != NULL)
        mgr_reply_doc(req, 200, doc);
    else
        mgr_reply_db_error(req, rv != 0 ? rv : DF_EIO);
}

/*
 * The serials revoked and not yet expired, for schedulers and peers to refuse (they ask every
 * manager.revocationRefresh). Any cluster certificate may ask: the list names serials only.
 */
static void
mgr_ca_rpc_revoked(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct mgr *ctx = arg;
    struct net_tls_identity who;
    sqlite3_stmt *st;
    cJSON *resp, *list;
    int rv;

    (void)req;
    ctx->rpc_calls++;
    if (rpc_call_peer_identity(call, &who) != 0 || who.role == NET_TLS_ROLE_NONE) {
        rpc_call_finish(call, RPC_PERMISSION_DENIED, "a cluster certificate is needed");
        return;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_CERT_REVOKED)) == NULL) {
        rpc_call_finish(call, RPC_INTERNAL, "database error");
        return;
    }
    resp = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(resp, "serials");
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    while ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        cJSON_AddItemToArray(list, cJSON_CreateString(mgr_db_col_text(st, 0)));
    sqlite3_reset(st);
    if (rv < 0)
        rpc_call_finish(call, RPC_INTERNAL, "database error");
    else
        rpc_call_reply(call, resp);
    cJSON_Delete(resp);
}

/* ---- issuance over RPC (the join listener) ---- */

/* A refused issuance: counted, logged, answered. */
static void
mgr_ca_refuse(struct mgr *ctx, struct rpc_call *call, enum rpc_code code, const char *why)
{
    ctx->certs_refused++;
    log_warnx("manager: certificate refused: %s", why);
    rpc_call_finish(call, code, why);
}

static void
mgr_ca_rpc_get_ca(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct mgr *ctx = arg;
    cJSON *resp = cJSON_CreateObject();

    (void)req;
    ctx->rpc_calls++;
    cJSON_AddStringToObject(resp, "caCertificate", ctx->ca->pem);
    rpc_call_reply(call, resp);
    cJSON_Delete(resp);
}

/*
 * May the caller have a certificate for csr? With a join token: the token's role must be
 * the CSR's, its cluster the one asked (if any), and it must be live. Without one: the
 * caller's own certificate (verified by the join listener's TLS against our CA) must name
 * the identity the CSR names, and a certificate of that identity issued here must still be
 * good (not revoked, not expired): a renewal. Returns true with the cluster and the token
 * (0 for a renewal), or finishes call and returns false.
 */
static bool
mgr_ca_rpc_admit(struct mgr *ctx, struct rpc_call *call, const cJSON *req,
                 const struct net_tls_identity *csr, int64_t *cluster, int64_t *token_id)
{
    uint8_t mac[DF_SHA256_LEN];
    struct net_tls_identity who;
    struct mgr_ca_token t;
    const char *tok = NULL, *why;
    char role[16], msg[400];
    int64_t want = 0, now = df_time_wall_ms();
    struct df_error err;
    sqlite3_stmt *st;
    int rv;

    if (df_json_get_str(req, "joinToken", &tok, &err) == DF_EINVAL ||
        df_json_get_i64(req, "schedulerClusterId", &want, &err) == DF_EINVAL || want < 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT,
                        "joinToken: a string; schedulerClusterId: an id");
        return false;
    }
    if (tok != NULL) {
        if (strlen(tok) >= MGR_TOKEN_MAX ||
            (st = mgr_db_stmt(ctx->db, MGR_STMT_JOIN_BY_HASH)) == NULL) {
            mgr_ca_refuse(ctx, call, RPC_PERMISSION_DENIED, "unknown join token");
            return false;
        }
        mgr_pat_mac(ctx, tok, mac);
        sqlite3_bind_blob(st, 1, mac, sizeof(mac), SQLITE_STATIC);
        if ((rv = mgr_db_step(ctx->db, st)) != STORE_SQL_ROW) {
            sqlite3_reset(st);
            mgr_ca_refuse(ctx, call, rv == STORE_SQL_DONE ? RPC_PERMISSION_DENIED : RPC_INTERNAL,
                          rv == STORE_SQL_DONE ? "unknown join token" : "database error");
            return false;
        }
        *token_id = sqlite3_column_int64(st, 0);
        snprintf(role, sizeof(role), "%s", mgr_db_col_text(st, 1));
        t.role = role;
        t.cluster_id = sqlite3_column_int64(st, 2);
        t.expired_at = sqlite3_column_int64(st, 3);
        sqlite3_reset(st);
        if ((why = mgr_ca_token_refusal(&t, now, net_tls_role_name(csr->role), want)) != NULL) {
            snprintf(msg, sizeof(msg), "%s (token %lld, csr for %s %.64s)", why,
                     (long long)*token_id, net_tls_role_name(csr->role), csr->host);
            mgr_ca_refuse(ctx, call, RPC_PERMISSION_DENIED, msg);
            return false;
        }
        *cluster = t.cluster_id;
        return true;
    }
    if (rpc_call_peer_identity(call, &who) != 0 || who.role == NET_TLS_ROLE_NONE) {
        mgr_ca_refuse(ctx, call, RPC_UNAUTHENTICATED,
                      "a join token or the host's current certificate is needed");
        return false;
    }
    if (who.role != csr->role || strcmp(who.host, csr->host) != 0) {
        snprintf(msg, sizeof(msg), "the certificate of %s %.64s renews only itself, not %s %.64s",
                 net_tls_role_name(who.role), who.host, net_tls_role_name(csr->role), csr->host);
        mgr_ca_refuse(ctx, call, RPC_PERMISSION_DENIED, msg);
        return false;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_CERT_OF_HOST)) == NULL) {
        rpc_call_finish(call, RPC_INTERNAL, "database error");
        return false;
    }
    mgr_db_bind_text(st, 1, csr->host);
    mgr_db_bind_text(st, 2, net_tls_role_name(csr->role));
    sqlite3_bind_int64(st, 3, now);
    rv = mgr_db_step(ctx->db, st);
    if (rv == STORE_SQL_ROW)
        *cluster = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rv != STORE_SQL_ROW) {
        snprintf(msg, sizeof(msg), "no good certificate of %s %.64s was issued here to renew",
                 net_tls_role_name(csr->role), csr->host);
        mgr_ca_refuse(ctx, call, RPC_PERMISSION_DENIED, msg);
        return false;
    }
    *token_id = 0;
    return true;
}

static void
mgr_ca_rpc_issue(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct mgr *ctx = arg;
    char serial[NET_CSR_SERIAL_LEN], *crt = NULL;
    const char *csr = NULL;
    struct net_tls_identity id;
    int64_t cluster = 0, token_id = 0, now = df_time_wall_ms();
    int64_t back = ctx->cfg.ca_validity / 10 < 300000 ? ctx->cfg.ca_validity / 10 : 300000;
    time_t nb = (time_t)((now - back) / 1000),
           na = (time_t)((now + ctx->cfg.ca_validity + 999) / 1000);
    struct df_error err;
    sqlite3_stmt *st;
    cJSON *resp;
    int rv;

    ctx->rpc_calls++;
    if (df_json_get_str(req, "csr", &csr, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, "csr: required, a PEM certificate request");
        return;
    }
    if (net_csr_identity(csr, &id, &err) != 0) {
        mgr_ca_refuse(ctx, call, RPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    if (!mgr_ca_rpc_admit(ctx, call, req, &id, &cluster, &token_id))
        return;
    /* not_before back by a tenth of the life, 5 min at most: a host whose clock is a little
     * behind still accepts it, and hosts renewing at 2/3 of the life renew well before the
     * end even of a short one */
    if ((rv = net_csr_sign(&ctx->ca->crt, &ctx->ca->key, csr, nb, na, &crt, serial, &id, &err)) !=
        0) {
        mgr_ca_refuse(ctx, call, rv == DF_EINVAL ? RPC_INVALID_ARGUMENT : RPC_INTERNAL, err.msg);
        return;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_CERT_INSERT)) == NULL) {
        rv = DF_EIO;
    } else {
        mgr_db_bind_text(st, 1, serial);
        sqlite3_bind_int64(st, 2, now);
        mgr_db_bind_text(st, 3, id.host);
        mgr_db_bind_text(st, 4, net_tls_role_name(id.role));
        sqlite3_bind_int64(st, 5, cluster);
        sqlite3_bind_int64(st, 6, (int64_t)na * 1000);
        sqlite3_bind_int64(st, 7, token_id);
        rv = mgr_db_run(ctx->db, st);
    }
    if (rv != 0) {
        /* a certificate that is not on record could never be revoked: none is given */
        free(crt);
        rpc_call_finish(call, RPC_INTERNAL, "database error");
        return;
    }
    ctx->certs_issued++;
    log_info("manager: certificate %s issued to %s %s (cluster %lld, %s, valid %lld s)", serial,
             net_tls_role_name(id.role), id.host, (long long)cluster,
             token_id != 0 ? "join token" : "renewal", (long long)(na - now / 1000));
    resp = cJSON_CreateObject();
    cJSON_AddStringToObject(resp, "certificate", crt);
    cJSON_AddStringToObject(resp, "caCertificate", ctx->ca->pem);
    cJSON_AddStringToObject(resp, "serial", serial);
    cJSON_AddNumberToObject(resp, "notAfter", (double)na);
    cJSON_AddNumberToObject(resp, "schedulerClusterId", (double)cluster);
    rpc_call_reply(call, resp);
    cJSON_Delete(resp);
    free(crt);
}

int
mgr_ca_rpc_start(struct mgr *ctx, struct df_error *err)
{
    const struct rpc_method methods[] = {
            {PROTO_MGR_GET_CA_CERTIFICATE, RPC_KIND_UNARY, mgr_ca_rpc_get_ca, ctx},
            {PROTO_MGR_ISSUE_CERTIFICATE, RPC_KIND_UNARY, mgr_ca_rpc_issue, ctx},
    };
    const struct rpc_method revoked = {PROTO_MGR_LIST_REVOKED_CERTIFICATES, RPC_KIND_UNARY,
                                       mgr_ca_rpc_revoked, ctx};
    struct mgr_ca *ca = ctx->ca;
    struct rpc_server_opts opts;
    struct net_tls_opts o;
    int rv;

    /* the revocation list is asked for where hosts already talk to us, with their
     * certificate; without a CA it is empty, but hosts get an answer, not an error */
    if ((rv = rpc_server_register(ctx->rpc, &revoked, 1)) != 0)
        return df_error_set(err, rv, "rpc: cannot register %s", revoked.path);
    if (ca == NULL)
        return 0;
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER,
                       "dragonfly_manager_certificates_issued_total",
                       "host certificates signed (joins and renewals)", &ctx->certs_issued);
    df_metrics_u64_new(ctx->metrics, DF_METRICS_COUNTER,
                       "dragonfly_manager_certificates_refused_total",
                       "certificate requests refused (token, identity, CSR)", &ctx->certs_refused);
    mgr_ca_apply_revoked(ctx);
    if (ctx->cfg.ca_join_listen == NULL || ctx->cfg.ca_join_listen[0] == '\0')
        return 0;
    if (rpc_tls_conf_is_plaintext(&ctx->cfg.tls))
        return df_error_set(err, DF_EINVAL,
                            "ca.cert: the join listener needs the manager's own certificate "
                            "(tls.cert, `dragonfly cert issue --role manager`)");
    /* Hosts come here without a certificate, so none is required; one that is sent must
     * chain to our CA, and is then what authenticates a renewal. */
    memset(&o, 0, sizeof(o));
    o.cert_file = ctx->cfg.tls.cert;
    o.key_file = ctx->cfg.tls.key;
    o.ca_file = ctx->cfg.ca_cert;
    if ((rv = net_tls_ctx_new(true, &o, &ca->tls, err)) != 0)
        return rv;
    memset(&opts, 0, sizeof(opts));
    opts.max_msg_bytes = 64u << 10; /* a CSR and a token */
    opts.max_conns_per_ip = 16;
    ca->rpc = rpc_server_new(ctx->base, &opts);
    if ((rv = rpc_server_register(ca->rpc, methods, DF_NELEM(methods))) != 0)
        return df_error_set(err, rv, "join rpc: cannot register methods");
    mgr_ca_apply_revoked(ctx);
    return rpc_server_listen(ca->rpc, ctx->cfg.ca_join_listen, ca->tls, err);
}

const char *
mgr_ca_join_addr(const struct mgr *ctx)
{
    return ctx->ca != NULL && ctx->ca->rpc != NULL ? rpc_server_addr(ctx->ca->rpc, 0) : NULL;
}
