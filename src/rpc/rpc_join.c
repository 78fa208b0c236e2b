/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A host's side of joining (see df/rpc_join.h). It runs before the role's loop exists, on
 * an event base of its own, one call at a time: nothing else of the role is up yet, and a
 * role that cannot get its certificate does not start.
 */
#include "df/rpc_join.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "df/df_fs.h"
#include "df/df_work.h"
#include "df/df_json.h"
#include "df/log.h"
#include "df/net_csr.h"
#include "df/net_x509.h"
#include "df/rpc_client.h"
#include "df/rpc_tls.h"
#include "df/xmalloc.h"

/* The three files of a certificate directory. */
struct rpc_join_paths {
    char *ca, *cert, *key;
};

static void
rpc_join_paths(const char *dir, struct rpc_join_paths *p)
{
    p->ca = xasprintf("%s/%s", dir, RPC_JOIN_CA_FILE);
    p->cert = xasprintf("%s/%s", dir, RPC_JOIN_CERT_FILE);
    p->key = xasprintf("%s/%s", dir, RPC_JOIN_KEY_FILE);
}

static void
rpc_join_paths_reset(struct rpc_join_paths *p)
{
    free(p->ca);
    free(p->cert);
    free(p->key);
}

/* "sha256:" and 64 hex digits (either case). */
static bool
rpc_join_hash_is_valid(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != NET_CSR_HASH_LEN - 1)
        return false;
    return strspn(s + 7, "0123456789abcdefABCDEF") == 64;
}

int
rpc_join_conf_apply(struct rpc_join_conf *j, struct rpc_tls_conf *tls, const char *default_dir,
                    struct df_error *err)
{
    struct rpc_join_paths p;

    if (j->token == NULL) {
        if (j->ca_hash != NULL || j->addr != NULL)
            return df_error_set(err, DF_EINVAL, "--ca-hash and --join-addr go with --join-token");
        return 0;
    }
    if (j->token[0] == '\0' || strlen(j->token) > 256)
        return df_error_set(err, DF_EINVAL, "--join-token: expected the token the manager gave");
    if (j->ca_hash == NULL || !rpc_join_hash_is_valid(j->ca_hash))
        return df_error_set(err, DF_EINVAL,
                            "--ca-hash: expected sha256:<64 hex digits>, the ca_hash given with "
                            "the join token");
    if (j->addr == NULL || j->addr[0] == '\0')
        return df_error_set(err, DF_EINVAL,
                            "--join-token needs --join-addr (the manager's ca.joinListen, "
                            "host:65004)");
    if (tls->cert != NULL || tls->key != NULL || tls->ca != NULL)
        return df_error_set(err, DF_EINVAL,
                            "--join-token and tls.cert: give one (a joining host keeps its "
                            "certificate in --cert-dir)");
    if (tls->mode == RPC_TLS_PLAINTEXT)
        return df_error_set(err, DF_EINVAL, "--join-token and plaintext: a join is for mutual TLS");
    if (j->dir == NULL) {
        if (default_dir == NULL)
            return df_error_set(err, DF_EINVAL,
                                "--join-token needs --cert-dir (where the certificate is kept)");
        j->dir = xstrdup(default_dir);
    }
    rpc_join_paths(j->dir, &p);
    tls->ca = p.ca;
    tls->cert = p.cert;
    tls->key = p.key;
    tls->mode = RPC_TLS_MTLS;
    return 0;
}

/* Write data to path whole or not at all: a synced temp file beside it, renamed over it. */
static int
rpc_join_write(const char *path, const char *data, mode_t mode, struct df_error *err)
{
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    size_t len = strlen(data), done = 0;
    ssize_t n;
    int fd, rv = 0;

    if ((fd = mkstemp(tmp)) == -1) {
        rv = df_error_set(err, DF_EIO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return rv;
    }
    if (fchmod(fd, mode) != 0)
        rv = df_error_set(err, DF_EIO, "%s: chmod: %s", tmp, strerror(errno));
    while (rv == 0 && done < len) {
        n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rv = df_error_set(err, DF_EIO, "%s: write: %s", tmp, strerror(n < 0 ? errno : EIO));
        else
            done += (size_t)n;
    }
    if (rv == 0 && fsync(fd) != 0)
        rv = df_error_set(err, DF_EIO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rv == 0)
        rv = df_error_set(err, DF_EIO, "%s: close: %s", tmp, strerror(errno));
    if (rv == 0 && rename(tmp, path) != 0)
        rv = df_error_set(err, DF_EIO, "%s: rename: %s", path, strerror(errno));
    if (rv != 0)
        unlink(tmp);
    free(tmp);
    return rv;
}

/*
 * Is the certificate of p usable for role and host: it and the CA load, it chains to the CA,
 * names that identity and is not expired, and its key is there? why says what is not.
 */
static bool
rpc_join_have(const struct rpc_join_paths *p, enum net_tls_role role, const char *host, char *why,
              size_t whylen)
{
    mbedtls_x509_crt ca, crt;
    mbedtls_pk_context key;
    struct net_tls_identity id;
    uint32_t flags = 0;
    bool ok = false;

    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    if (mbedtls_x509_crt_parse_file(&crt, p->cert) != 0 ||
        mbedtls_x509_crt_parse_file(&ca, p->ca) != 0 ||
        mbedtls_pk_parse_keyfile(&key, p->key, NULL) != 0) {
        snprintf(why, whylen, "no certificate in the certificate directory");
        goto out;
    }
    /* a crash between the key's rename and the certificate's leaves a pair that is none */
    if (mbedtls_pk_check_pair(&crt.pk, &key) != 0) {
        snprintf(why, whylen, "the key there is not the certificate's");
        goto out;
    }
    net_tls_identity_from_name(&crt.subject, &id);
    if (id.role != role || strcmp(id.host, host) != 0) {
        snprintf(why, whylen, "the certificate there is for %s %.64s, not %s %.64s",
                 net_tls_role_name(id.role), id.host, net_tls_role_name(role), host);
        goto out;
    }
    if (mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL) != 0) {
        snprintf(why, whylen, "the certificate there %s",
                 (flags & MBEDTLS_X509_BADCERT_EXPIRED) != 0 ? "has expired"
                                                             : "does not verify with its CA");
        goto out;
    }
    ok = true;
out:
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    return ok;
}

/* One unary call on a base of its own, to its end. */
struct rpc_join_call {
    bool done;
    struct rpc_status st;
    cJSON *resp;
};

static void
rpc_join_call_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct rpc_join_call *c = arg;

    c->done = true;
    c->st = *st;
    c->resp = resp != NULL ? cJSON_Duplicate(resp, 1) : NULL;
}

/*
 * Call path with req on a new connection to addr made from tls (expecting a manager's
 * certificate when roles). Returns 0 and *resp (the caller frees it), or an error in err.
 */
static int
rpc_join_call(const char *addr, struct net_tls_ctx *tls, unsigned roles, const char *path,
              const cJSON *req, int timeout_ms, cJSON **resp, struct df_error *err)
{
    struct event_base *base = event_base_new();
    struct rpc_client_opts o;
    struct rpc_client *cli = NULL;
    struct rpc_join_call c;
    int rv;

    memset(&c, 0, sizeof(c));
    memset(&o, 0, sizeof(o));
    *resp = NULL;
    if (base == NULL)
        return df_error_set(err, DF_ENOMEM, "out of memory");
    o.addr = addr;
    o.tls = tls;
    o.expect_roles = roles;
    o.default_deadline_ms = timeout_ms;
    o.connect_timeout_ms = timeout_ms;
    if ((rv = rpc_client_new(base, NULL, &o, &cli, err)) != 0)
        goto out;
    if ((rv = rpc_client_unary(cli, path, req, timeout_ms, rpc_join_call_done, &c, NULL)) != 0) {
        df_error_set(err, rv, "%s: cannot call %s", addr, path);
        goto out;
    }
    while (!c.done && event_base_loop(base, EVLOOP_ONCE) == 0)
        ;
    if (!c.done || c.st.code != RPC_OK || c.resp == NULL) {
        rv = df_error_set(err, DF_EIO, "%s%s: %s: %s", addr, path,
                          c.done ? rpc_err_name(c.st.code) : "unavailable",
                          c.done ? c.st.message : "no answer");
        goto out;
    }
    *resp = c.resp;
    c.resp = NULL;
out:
    rpc_client_free(cli);
    event_base_loop(base, EVLOOP_NONBLOCK); /* what the client deferred to the loop */
    event_base_free(base);
    cJSON_Delete(c.resp);
    return rv;
}

/* Step 1: the manager's CA, kept at p->ca only when its hash is the one given. */
static int
rpc_join_fetch_ca(const struct rpc_join_conf *j, const struct rpc_join_host *h,
                  const struct rpc_join_paths *p, struct df_error *err)
{
    char hash[NET_CSR_HASH_LEN], *pem = NULL;
    struct net_tls_ctx *tls = NULL;
    struct net_tls_opts o;
    mbedtls_x509_crt ca;
    cJSON *req = cJSON_CreateObject(), *resp = NULL;
    const char *s;
    int rv;

    mbedtls_x509_crt_init(&ca);
    memset(&o, 0, sizeof(o));
    /* nothing to verify the manager with yet: what it says is checked by the hash instead */
    o.insecure = true;
    if ((rv = net_tls_ctx_new(false, &o, &tls, err)) != 0 ||
        (rv = rpc_join_call(j->addr, tls, 0, h->get_ca_path, req, RPC_JOIN_TIMEOUT_MS, &resp,
                            err)) != 0)
        goto out;
    if (df_json_get_str(resp, "caCertificate", &s, err) != 0 ||
        net_csr_crt_parse(&ca, s, err) != 0) {
        rv = df_error_set(err, DF_EINVAL, "%s: the manager's answer holds no CA certificate",
                          j->addr);
        goto out;
    }
    net_csr_ca_hash(&ca, hash);
    if (strcasecmp(hash, j->ca_hash) != 0) {
        rv = df_error_set(err, DF_EINVAL,
                          "%s: the manager's CA is %s, not the --ca-hash given: refusing to send "
                          "it the join token",
                          j->addr, hash);
        goto out;
    }
    if ((pem = net_csr_crt_pem(&ca)) == NULL) {
        rv = df_error_set(err, DF_EINVAL, "%s: CA certificate too long", j->addr);
        goto out;
    }
    rv = rpc_join_write(p->ca, pem, 0644, err);
out:
    free(pem);
    mbedtls_x509_crt_free(&ca);
    cJSON_Delete(req);
    cJSON_Delete(resp);
    net_tls_ctx_free(tls);
    return rv;
}

/*
 * Step 2 and 3: a key and CSR for role and host, signed by the manager (verified by the CA
 * at p->ca and its manager role) on the strength of the join token, or of the certificate
 * at p when renew; the new key and certificate then replace p's.
 */
static int
rpc_join_issue(const struct rpc_join_conf *j, const struct rpc_join_host *h,
               const struct rpc_join_paths *p, bool renew, struct df_error *err)
{
    char *key = NULL, *csr = NULL, serial[NET_CSR_SERIAL_LEN];
    struct net_tls_ctx *tls = NULL;
    struct net_tls_identity id;
    struct net_tls_opts o;
    mbedtls_x509_crt ca, crt;
    uint32_t flags = 0;
    cJSON *req = cJSON_CreateObject(), *resp = NULL;
    const char *s;
    int rv;

    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&crt);
    memset(&o, 0, sizeof(o));
    o.ca_file = p->ca;
    o.peer_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_MANAGER);
    if (renew) {
        o.cert_file = p->cert;
        o.key_file = p->key;
    }
    if ((rv = net_tls_ctx_new(false, &o, &tls, err)) != 0 ||
        (rv = net_csr_new(h->role, h->host, &key, &csr, err)) != 0)
        goto out;
    cJSON_AddStringToObject(req, "csr", csr);
    if (!renew)
        cJSON_AddStringToObject(req, "joinToken", j->token);
    if (h->cluster_id > 0)
        cJSON_AddNumberToObject(req, "schedulerClusterId", (double)h->cluster_id);
    if ((rv = rpc_join_call(j->addr, tls, o.peer_roles, h->issue_path, req, RPC_JOIN_TIMEOUT_MS,
                            &resp, err)) != 0)
        goto out;
    /* what came back must be a certificate of our CA for us, or nothing is replaced */
    if (df_json_get_str(resp, "certificate", &s, err) != 0 ||
        net_csr_crt_parse(&crt, s, err) != 0 || mbedtls_x509_crt_parse_file(&ca, p->ca) != 0 ||
        mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL) != 0) {
        rv = df_error_set(err, DF_EINVAL, "%s: the manager's answer holds no certificate of its CA",
                          j->addr);
        goto out;
    }
    net_tls_identity_from_name(&crt.subject, &id);
    if (id.role != h->role || strcmp(id.host, h->host) != 0) {
        rv = df_error_set(err, DF_EINVAL, "%s: the certificate given is for %s %.64s", j->addr,
                          net_tls_role_name(id.role), id.host);
        goto out;
    }
    /* the key first: a certificate in place always has its key beside it */
    if ((rv = rpc_join_write(p->key, key, 0600, err)) != 0 ||
        (rv = rpc_join_write(p->cert, s, 0644, err)) != 0)
        goto out;
    if (df_fs_fsync_dir(j->dir) != 0)
        log_warnx("%s: fsync: %s", j->dir, strerror(errno));
    net_csr_serial_hex(&crt, serial);
    log_info("%s %s: %s certificate %s from the manager (valid until %04d-%02d-%02d %02d:%02d:%02d "
             "UTC) in %s",
             net_tls_role_name(h->role), h->host, renew ? "renewed the" : "joined with", serial,
             crt.valid_to.year, crt.valid_to.mon, crt.valid_to.day, crt.valid_to.hour,
             crt.valid_to.min, crt.valid_to.sec, j->dir);
out:
    if (key != NULL)
        explicit_bzero(key, strlen(key));
    free(key);
    free(csr);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&crt);
    cJSON_Delete(req);
    cJSON_Delete(resp);
    net_tls_ctx_free(tls);
    return rv;
}

int
rpc_join_ensure(const struct rpc_join_conf *j, const struct rpc_join_host *h, struct df_error *err)
{
    struct rpc_join_paths p;
    char why[200];
    int rv;

    if (j->token == NULL)
        return 0;
    rpc_join_paths(j->dir, &p);
    if (rpc_join_have(&p, h->role, h->host, why, sizeof(why))) {
        log_info("%s %s: cluster certificate %s", net_tls_role_name(h->role), h->host, p.cert);
        rpc_join_paths_reset(&p);
        return 0;
    }
    log_info("%s %s: %s: joining through the manager at %s", net_tls_role_name(h->role), h->host,
             why, j->addr);
    if ((rv = df_fs_dir_ensure_private(j->dir, err)) == 0 &&
        (rv = rpc_join_fetch_ca(j, h, &p, err)) == 0)
        rv = rpc_join_issue(j, h, &p, false, err);
    rpc_join_paths_reset(&p);
    return rv;
}

/* ---- renewal ---- */

#define RPC_JOIN_CTX_MAX 4

struct rpc_join_renewer {
    struct event_base *base;
    struct df_work_pool *work;
    struct event *timer;
    struct rpc_join_conf j; /* copies */
    struct rpc_join_host h;
    char *host; /* h.host */
    struct rpc_join_paths p;
    struct net_tls_ctx *ctxs[RPC_JOIN_CTX_MAX];
    size_t n;
    bool stopping;
    int rv; /* the worker's result, read in done */
    struct df_error err;
};

/* The validity of the certificate at path (unix s); false when it does not load. */
static bool
rpc_join_validity(const char *path, time_t *nb, time_t *na)
{
    mbedtls_x509_crt crt;
    bool ok;

    mbedtls_x509_crt_init(&crt);
    ok = mbedtls_x509_crt_parse_file(&crt, path) == 0;
    if (ok) {
        *nb = net_x509_time_get(&crt.valid_from);
        *na = net_x509_time_get(&crt.valid_to);
    }
    mbedtls_x509_crt_free(&crt);
    return ok;
}

/* Arm the timer: at 2/3 of the life, or after a failure a tenth of what is left. */
static void
rpc_join_renewer_arm(struct rpc_join_renewer *r, bool failed)
{
    time_t nb = 0, na = 0, now = time(NULL), at;
    struct timeval tv = {1, 0};
    int64_t left;

    if (!rpc_join_validity(r->p.cert, &nb, &na)) {
        log_warnx("%s %s: cannot read %s to renew it", net_tls_role_name(r->h.role), r->h.host,
                  r->p.cert);
        return;
    }
    if (failed) {
        left = (int64_t)(na - now) / 10;
        tv.tv_sec = left < 1 ? 1 : left > 60 ? 60 : (time_t)left;
    } else {
        at = nb + (na - nb) * 2 / 3;
        tv.tv_sec = at > now ? at - now : 0;
    }
    evtimer_add(r->timer, &tv);
}

static void
rpc_join_renew_work(void *arg)
{
    struct rpc_join_renewer *r = arg;
    time_t nb, na;

    /* an expired certificate renews nothing (the manager refuses it): join again with the
     * token, which works while the token lives */
    r->rv = rpc_join_validity(r->p.cert, &nb, &na) && na <= time(NULL)
                    ? rpc_join_issue(&r->j, &r->h, &r->p, false, &r->err)
                    : rpc_join_issue(&r->j, &r->h, &r->p, true, &r->err);
}

static void
rpc_join_renew_done(void *arg)
{
    struct rpc_join_renewer *r = arg;
    struct df_error err;

    if (r->stopping)
        return;
    if (r->rv != 0) {
        log_warnx("%s %s: renewal failed, retrying: %s", net_tls_role_name(r->h.role), r->h.host,
                  r->err.msg);
        rpc_join_renewer_arm(r, true);
        return;
    }
    for (size_t i = 0; i < r->n; i++)
        if (net_tls_ctx_reload(r->ctxs[i], r->p.cert, r->p.key, &err) != 0)
            log_warnx("%s %s: %s", net_tls_role_name(r->h.role), r->h.host, err.msg);
    rpc_join_renewer_arm(r, false);
}

static void
rpc_join_renew_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_join_renewer *r = arg;

    (void)fd;
    (void)what;
    if (df_work_submit(r->work, rpc_join_renew_work, rpc_join_renew_done, r) != 0)
        rpc_join_renewer_arm(r, true);
}

int
rpc_join_renewer_new(struct event_base *base, const struct rpc_join_conf *j,
                     const struct rpc_join_host *h, struct net_tls_ctx *const *ctxs, size_t n,
                     struct rpc_join_renewer **out, struct df_error *err)
{
    struct rpc_join_renewer *r;

    *out = NULL;
    if (j->token == NULL)
        return 0;
    r = xcalloc(1, sizeof(*r));
    r->base = base;
    r->j.token = xstrdup(j->token);
    r->j.ca_hash = xstrdup(j->ca_hash);
    r->j.addr = xstrdup(j->addr);
    r->j.dir = xstrdup(j->dir);
    r->h = *h;
    r->host = xstrdup(h->host);
    r->h.host = r->host;
    rpc_join_paths(r->j.dir, &r->p);
    for (size_t i = 0; i < n && r->n < RPC_JOIN_CTX_MAX; i++)
        if (ctxs[i] != NULL)
            r->ctxs[r->n++] = ctxs[i];
    if ((r->work = df_work_pool_new(base, 1)) == NULL ||
        (r->timer = evtimer_new(base, rpc_join_renew_cb, r)) == NULL) {
        rpc_join_renewer_free(r);
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    rpc_join_renewer_arm(r, false);
    *out = r;
    return 0;
}

void
rpc_join_renewer_free(struct rpc_join_renewer *r)
{
    if (r == NULL)
        return;
    r->stopping = true;
    if (r->timer != NULL)
        event_free(r->timer);
    df_work_pool_free(r->work); /* a renewal in flight ends here; its done never runs */
    rpc_join_paths_reset(&r->p);
    free(r->j.token);
    free(r->j.ca_hash);
    free(r->j.addr);
    free(r->j.dir);
    free(r->host);
    free(r);
}

/* ---- revocation ---- */

/* More serials than this in one answer is no list we take. */
#define RPC_JOIN_REVOKED_MAX 100000

struct rpc_join_revoker {
    struct rpc_client *cli;
    struct event *timer;
    struct rpc_client_call *call; /* in flight, or NULL */
    char *path, *who;
    struct net_tls_ctx *ctxs[RPC_JOIN_CTX_MAX];
    size_t n;
    int64_t interval_ms;
    size_t last; /* serials in the last list set */
    bool failing;
};

static void
rpc_join_revoked_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct rpc_join_revoker *r = arg;
    const cJSON *list = resp != NULL ? cJSON_GetObjectItem(resp, "serials") : NULL, *e;
    const char **v;
    size_t n = 0;

    r->call = NULL;
    if (st->code != RPC_OK || !cJSON_IsArray(list) ||
        cJSON_GetArraySize(list) > RPC_JOIN_REVOKED_MAX) {
        if (!r->failing)
            log_warnx("%s: cannot fetch the revoked certificates (keeping the last %zu): %s: %s",
                      r->who, r->last, rpc_err_name(st->code),
                      st->code != RPC_OK ? st->message : "no list of serials");
        r->failing = true;
        return;
    }
    v = xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*v));
    cJSON_ArrayForEach(e, list)
    {
        if (cJSON_IsString(e))
            v[n++] = e->valuestring;
    }
    for (size_t i = 0; i < r->n; i++)
        net_tls_ctx_set_revoked(r->ctxs[i], v, n);
    if (n != r->last || r->failing)
        log_info("%s: %zu revoked certificate(s) refused", r->who, n);
    r->last = n;
    r->failing = false;
    free(v);
}

static void
rpc_join_revoked_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_join_revoker *r = arg;
    struct timeval tv = {(time_t)(r->interval_ms / 1000),
                         (suseconds_t)(r->interval_ms % 1000) * 1000};
    cJSON *req;

    (void)fd;
    (void)what;
    evtimer_add(r->timer, &tv);
    if (r->call != NULL)
        return;
    req = cJSON_CreateObject();
    if (rpc_client_unary(r->cli, r->path, req, r->interval_ms < 5000 ? 5000 : (int)r->interval_ms,
                         rpc_join_revoked_done, r, &r->call) != 0)
        r->call = NULL;
    cJSON_Delete(req);
}

int
rpc_join_revoker_new(struct event_base *base, struct evdns_base *dns, const char *addr,
                     struct net_tls_ctx *tls, const char *path, int64_t interval_ms,
                     struct net_tls_ctx *const *ctxs, size_t n, const char *who,
                     struct rpc_join_revoker **out, struct df_error *err)
{
    struct rpc_join_revoker *r = xcalloc(1, sizeof(*r));
    struct rpc_client_opts o;
    struct timeval now = {0, 0};
    int rv;

    *out = NULL;
    memset(&o, 0, sizeof(o));
    o.addr = addr;
    o.tls = tls;
    o.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_MANAGER);
    r->path = xstrdup(path);
    r->who = xstrdup(who);
    r->interval_ms = interval_ms;
    for (size_t i = 0; i < n && r->n < RPC_JOIN_CTX_MAX; i++)
        if (ctxs[i] != NULL)
            r->ctxs[r->n++] = ctxs[i];
    if ((rv = rpc_client_new(base, dns, &o, &r->cli, err)) != 0) {
        rpc_join_revoker_free(r);
        return rv;
    }
    if ((r->timer = evtimer_new(base, rpc_join_revoked_cb, r)) == NULL) {
        rpc_join_revoker_free(r);
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    evtimer_add(r->timer, &now);
    *out = r;
    return 0;
}

void
rpc_join_revoker_free(struct rpc_join_revoker *r)
{
    if (r == NULL)
        return;
    if (r->call != NULL)
        rpc_client_cancel(r->call);
    rpc_client_free(r->cli);
    if (r->timer != NULL)
        event_free(r->timer);
    free(r->path);
    free(r->who);
    free(r);
}
