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
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_csr.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/net_x509.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

struct mgr_ca {
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    char hash[NET_CSR_HASH_LEN]; /* what hosts pin (--ca-hash) */
    char *pem;                   /* ca.cert as read: what hosts are given */
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
