/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS 1.2 with mbedtls 2.28 as a libevent filter bufferevent. The filter's input filter feeds
 * ciphertext from the socket bufferevent to mbedtls through BIO callbacks and decrypts into
 * the user's input; the output filter encrypts the user's output into the socket's output.
 * The BIO never blocks (evbuffers take everything), so mbedtls_ssl_write never asks to be
 * retried and every plaintext byte is drained exactly once. Memory stays bounded: the socket
 * bufferevent has read and write watermarks, and a decrypted record is always read out of
 * mbedtls whole (a slow reader's input may pass its high watermark by at most one record).
 *
 * libevent gives a filter no way to find its context from the bufferevent, so live
 * connections sit in a small pointer-keyed table (the module's only mutable global state).
 *
 * Cluster identities: a verify callback reads the leaf's subject (CN=host, OU=role) while
 * mbedtls checks the chain and fails the handshake there when the role or host is not the
 * one wanted, so a refused peer never reaches CONNECTED; the identity is kept only once the
 * whole chain verified.
 */
#include "df/net_tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/debug.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h>
#include <mbedtls/x509_crt.h>

#include "df/log.h"
#include "df/net_csr.h"
#include "df/net_tls_mint.h"
#include "df/xmalloc.h"

#define NET_TLS_SYSTEM_CA  "/etc/ssl/certs/ca-certificates.crt"
#define NET_TLS_ALPN_MAX   8
#define NET_TLS_RECORD     16384        /* largest plaintext record */
#define NET_TLS_UNDER_RMAX (256 * 1024) /* ciphertext buffered from the socket */
#define NET_TLS_UNDER_WLOW (64 * 1024)  /* refill the socket's output below this */
#define NET_TLS_UNDER_WMAX (256 * 1024) /* ciphertext queued for the socket */
#define NET_TLS_TABLE_SIZE 256

/* A certificate and key that replaced the context's own (net_tls_ctx_reload). */
struct net_tls_pair {
    struct net_tls_pair *next;
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
};

struct net_tls_ctx {
    bool server;
    bool insecure;
    bool check_client; /* server with trust anchors: a client certificate sent must verify */
    bool own_ca;       /* trust anchors from ca_file/ca_dir, not the system bundle */
    unsigned roles;    /* NET_TLS_ROLE_BIT set the other end must name; 0 = no check */
    struct net_tls_mint *mint; /* server: certificates per SNI host (borrowed), or NULL */
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    struct net_tls_pair *renewed; /* certificates loaded since, newest first (kept till free) */
    char **revoked;               /* serials (hex) refused at the leaf, sorted */
    size_t nrevoked;
    char *alpn_store[NET_TLS_ALPN_MAX + 1];
    const char *alpn[NET_TLS_ALPN_MAX + 1];
};

/*
 * Connection states:
 *
 *   HANDSHAKE --(handshake done)--> OPEN --(close_notify received)--> CLOSED
 *       |                            |
 *       +-------(any failure)--------+----> FAILED
 *
 * net_tls_conn_set_state() is the only writer; net_tls_handshake_step() leaves HANDSHAKE,
 * net_tls_input_filter() enters CLOSED, net_tls_conn_fail() enters FAILED.
 */
enum net_tls_state {
    NET_TLS_HANDSHAKE,
    NET_TLS_OPEN,
    NET_TLS_CLOSED,
    NET_TLS_FAILED,
};

struct net_tls_conn {
    struct net_tls_conn *next; /* registry chain */
    struct net_tls_ctx *ctx;
    struct bufferevent *bev;   /* the filter the user holds */
    struct bufferevent *under; /* the socket; freed with bev */
    struct event *resume;      /* re-runs the input filter after the user drains */
    struct evbuffer_cb_entry *drain_cb;
    mbedtls_ssl_context ssl;
    enum net_tls_state state;
    bool in_wrap;                   /* the user has no callbacks yet */
    bool error_pending;             /* failed in net_tls_wrap: report from the resume event */
    unsigned want_roles;            /* roles the other end must name; 0 = any */
    char *want_host;                /* host it must name, or NULL */
    char *mint_host;                /* server: host given by net_tls_wrap to mint for, or NULL */
    struct net_tls_identity seen;   /* what the leaf names, chain not yet checked */
    struct net_tls_identity ident;  /* verified identity, set once OPEN */
    struct net_tls_mint_leaf *leaf; /* minted certificate this handshake uses (a reference) */
    bool sni_sent;                  /* server: the client named a host, in sni */
    bool error_set;                 /* error[] already says why (the SNI callback refused) */
    char sni[NET_TLS_HOST_MAX + 1];
    char why[200]; /* why the verify callback refused the leaf */
    char error[256];
};

static pthread_mutex_t net_tls_table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct net_tls_conn *net_tls_table[NET_TLS_TABLE_SIZE];

/*
 * AEAD suites only, ChaCha20-Poly1305 first: mbedtls 2.28's GCM multiplies one block at a
 * time and moves ~100 MB/s on loopback where ChaCha20 moves ~170 MB/s (net_tls_bench).
 */
static const int net_tls_ciphersuites[] = {
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        0,
};

static const char *const net_tls_state_names[] = {"handshake", "open", "closed", "failed"};

/* Indexed by enum net_tls_role. */
static const char *const net_tls_role_names[] = {"none", "peer", "seed", "scheduler", "manager"};

const char *
net_tls_role_name(enum net_tls_role role)
{
    if ((size_t)role >= DF_NELEM(net_tls_role_names))
        return "none";
    return net_tls_role_names[role];
}

int
net_tls_role_parse(const char *s, enum net_tls_role *out)
{
    for (size_t i = NET_TLS_ROLE_PEER; i < DF_NELEM(net_tls_role_names); i++) {
        if (strcmp(s, net_tls_role_names[i]) == 0) {
            *out = (enum net_tls_role)i;
            return 0;
        }
    }
    return DF_EINVAL;
}

static bool
net_tls_host_char_is_valid(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

/* The host rule of net_tls_host_is_valid() on len bytes that need not be NUL-terminated. */
static bool
net_tls_host_bytes_are_valid(const unsigned char *p, size_t len)
{
    if (len == 0 || len > NET_TLS_HOST_MAX || p[0] == '.' || p[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!net_tls_host_char_is_valid(p[i]))
            return false;
    return true;
}

bool
net_tls_host_is_valid(const char *s)
{
    return s != NULL && net_tls_host_bytes_are_valid((const unsigned char *)s, strlen(s));
}

static size_t
net_tls_table_slot(const struct bufferevent *bev)
{
    return ((uintptr_t)bev >> 4) % NET_TLS_TABLE_SIZE;
}

static void
net_tls_table_add(struct net_tls_conn *c)
{
    size_t i = net_tls_table_slot(c->bev);

    pthread_mutex_lock(&net_tls_table_lock);
    c->next = net_tls_table[i];
    net_tls_table[i] = c;
    pthread_mutex_unlock(&net_tls_table_lock);
}

static void
net_tls_table_remove(struct net_tls_conn *c)
{
    struct net_tls_conn **pp;

    pthread_mutex_lock(&net_tls_table_lock);
    for (pp = &net_tls_table[net_tls_table_slot(c->bev)]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&net_tls_table_lock);
}

static struct net_tls_conn *
net_tls_table_find(const struct bufferevent *bev)
{
    struct net_tls_conn *c;

    if (bev == NULL)
        return NULL;
    pthread_mutex_lock(&net_tls_table_lock);
    for (c = net_tls_table[net_tls_table_slot(bev)]; c != NULL; c = c->next)
        if (c->bev == bev)
            break;
    pthread_mutex_unlock(&net_tls_table_lock);
    return c;
}

static void
net_tls_debug_cb(void *arg, int level, const char *file, int line, const char *msg)
{
    (void)arg;
    log_debug("tls", "tls: mbedtls[%d] %s:%d: %.*s", level, file, line, (int)strcspn(msg, "\n"),
              msg);
}

static int
net_tls_mbedtls_error(struct df_error *err, int code, const char *what, const char *path, int mrv)
{
    char buf[160];

    mbedtls_strerror(mrv, buf, sizeof(buf));
    return df_error_set(err, code, "tls: %s %s: %s", what, path, buf);
}

/* Load a PEM file or directory of trust anchors, failing with a message naming it. */
static int
net_tls_load_ca(struct net_tls_ctx *ctx, const struct net_tls_opts *opts, struct df_error *err)
{
    const char *file = opts->ca_file;
    int mrv;

    if (file == NULL && opts->ca_dir == NULL && !ctx->server)
        file = NET_TLS_SYSTEM_CA;
    if (file != NULL && (mrv = mbedtls_x509_crt_parse_file(&ctx->ca, file)) != 0)
        return net_tls_mbedtls_error(err, DF_ETLS, "ca file", file, mrv);
    /* A directory may hold non-PEM files: count it good if anything in it parsed. */
    if (opts->ca_dir != NULL && mbedtls_x509_crt_parse_path(&ctx->ca, opts->ca_dir) < 0)
        return df_error_set(err, DF_ETLS, "tls: ca dir %s: cannot read", opts->ca_dir);
    if (opts->ca_dir != NULL && ctx->ca.version == 0)
        return df_error_set(err, DF_ETLS, "tls: ca dir %s: no certificates", opts->ca_dir);
    return 0;
}

static int
net_tls_load_alpn(struct net_tls_ctx *ctx, const struct net_tls_opts *opts, struct df_error *err)
{
    size_t n, len;

    if (opts->alpn == NULL || opts->alpn[0] == NULL)
        return 0;
    for (n = 0; opts->alpn[n] != NULL; n++) {
        len = strlen(opts->alpn[n]);
        if (n == NET_TLS_ALPN_MAX || len == 0 || len > 255)
            return df_error_set(err, DF_EINVAL, "tls: alpn: bad protocol list at \"%s\"",
                                opts->alpn[n]);
        ctx->alpn_store[n] = xstrdup(opts->alpn[n]);
        ctx->alpn[n] = ctx->alpn_store[n];
    }
    if (mbedtls_ssl_conf_alpn_protocols(&ctx->conf, ctx->alpn) != 0)
        return df_error_set(err, DF_EINVAL, "tls: alpn: protocol list rejected");
    return 0;
}

/* Client verification and cluster roles need trust anchors of our own and make sense together. */
static int
net_tls_check_cluster_opts(bool server, const struct net_tls_opts *opts, struct df_error *err)
{
    bool own_ca = opts->ca_file != NULL || opts->ca_dir != NULL;

    if (opts->peer_roles & ~NET_TLS_ROLES_ALL)
        return df_error_set(err, DF_EINVAL, "tls: peer_roles: unknown role bits 0x%x",
                            opts->peer_roles & ~NET_TLS_ROLES_ALL);
    if (opts->verify_client && !server)
        return df_error_set(err, DF_EINVAL, "tls: verify_client is a server setting");
    if (server && opts->peer_roles != 0 && !opts->verify_client)
        return df_error_set(err, DF_EINVAL, "tls: client roles need verify_client");
    if (!server && opts->peer_roles != 0 && opts->insecure)
        return df_error_set(err, DF_EINVAL, "tls: server roles cannot be checked when insecure");
    if ((opts->verify_client || opts->peer_roles != 0) && !own_ca)
        return df_error_set(err, DF_EINVAL, "tls: %s needs ca_file or ca_dir (the cluster CA)",
                            opts->verify_client ? "verify_client" : "peer_roles");
    return 0;
}

/* Use a leaf minted for host in c's handshake. Returns 0, or -1 with c->error set. */
static int
net_tls_conn_mint(struct net_tls_conn *c, const char *host)
{
    struct net_tls_mint_leaf *leaf;
    struct df_error err;

    if (net_tls_mint_get(c->ctx->mint, host, &leaf, &err) != 0) {
        snprintf(c->error, sizeof(c->error), "handshake failed: %.200s", err.msg);
        c->error_set = true;
        return -1;
    }
    if (mbedtls_ssl_set_hs_own_cert(&c->ssl, net_tls_mint_leaf_crt(leaf),
                                    net_tls_mint_leaf_key(leaf)) != 0) {
        net_tls_mint_leaf_release(leaf);
        snprintf(c->error, sizeof(c->error), "handshake failed: out of memory");
        c->error_set = true;
        return -1;
    }
    c->leaf = leaf;
    return 0;
}

/*
 * mbedtls calls this with the host a client names in SNI, while it reads the ClientHello.
 * Every server notes it; one with a minter then sets that host's certificate. Returning
 * non-zero fails the handshake (mbedtls sends unrecognized_name) with c->error saying why.
 */
static int
net_tls_sni_cb(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
    struct net_tls_conn *c =
            (struct net_tls_conn *)(void *)((char *)ssl - offsetof(struct net_tls_conn, ssl));
    struct net_tls_ctx *ctx = arg;

    if (len == 0 || len > NET_TLS_HOST_MAX || memchr(name, '\0', len) != NULL) {
        /* Only a server that mints needs the name; others take any client as before. */
        if (ctx->mint == NULL)
            return 0;
        snprintf(c->error, sizeof(c->error), "handshake failed: unusable SNI host name");
        c->error_set = true;
        return -1;
    }
    memcpy(c->sni, name, len);
    c->sni[len] = '\0';
    c->sni_sent = true;
    if (ctx->mint == NULL)
        return 0;
    /*
     * A host given by net_tls_wrap already has its leaf: mbedtls 2.28 can add a certificate
     * to a handshake but not replace one, and a client naming another host than the one it
     * asked to reach is refused rather than served a leaf for a host nobody chose.
     */
    if (c->leaf != NULL) {
        if (strcasecmp(c->sni, c->mint_host) == 0)
            return 0;
        snprintf(c->error, sizeof(c->error),
                 "handshake failed: the client names \"%.64s\" in SNI but asked for \"%.64s\"",
                 c->sni, c->mint_host);
        c->error_set = true;
        return -1;
    }
    return net_tls_conn_mint(c, c->sni);
}

int
net_tls_ctx_new(bool server, const struct net_tls_opts *opts, struct net_tls_ctx **out,
                struct df_error *err)
{
    static const unsigned char pers[] = "dragonfly-net-tls";
    struct net_tls_ctx *ctx;
    int rv, mrv;

    ctx = xcalloc(1, sizeof(*ctx));
    ctx->server = server;
    ctx->insecure = !server && opts->insecure;
    mbedtls_ssl_config_init(&ctx->conf);
    mbedtls_entropy_init(&ctx->entropy);
    mbedtls_ctr_drbg_init(&ctx->drbg);
    mbedtls_x509_crt_init(&ctx->ca);
    mbedtls_x509_crt_init(&ctx->cert);
    mbedtls_pk_init(&ctx->key);

    mrv = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy, pers,
                                sizeof(pers) - 1);
    if (mrv != 0) {
        rv = net_tls_mbedtls_error(err, DF_ETLS, "seed", "rng", mrv);
        goto out;
    }
    mrv = mbedtls_ssl_config_defaults(&ctx->conf,
                                      server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                      MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (mrv != 0) {
        rv = net_tls_mbedtls_error(err, DF_ETLS, "config", "defaults", mrv);
        goto out;
    }
    mbedtls_ssl_conf_rng(&ctx->conf, mbedtls_ctr_drbg_random, &ctx->drbg);
    mbedtls_ssl_conf_min_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&ctx->conf, net_tls_ciphersuites);
    mbedtls_ssl_conf_dbg(&ctx->conf, net_tls_debug_cb, NULL);
    if (log_debug_enabled("tls"))
        mbedtls_debug_set_threshold(2);

    if (opts->mint != NULL && !server) {
        rv = df_error_set(err, DF_EINVAL, "tls: mint is a server setting");
        goto out;
    }
    if (server && opts->mint == NULL && (opts->cert_file == NULL || opts->key_file == NULL)) {
        rv = df_error_set(err, DF_EINVAL, "tls: a server needs cert_file and key_file");
        goto out;
    }
    if ((opts->cert_file == NULL) != (opts->key_file == NULL)) {
        rv = df_error_set(err, DF_EINVAL, "tls: cert_file and key_file go together");
        goto out;
    }
    if ((rv = net_tls_check_cluster_opts(server, opts, err)) != 0)
        goto out;
    ctx->own_ca = opts->ca_file != NULL || opts->ca_dir != NULL;
    ctx->roles = opts->peer_roles;
    ctx->mint = opts->mint;
    if (server)
        mbedtls_ssl_conf_sni(&ctx->conf, net_tls_sni_cb, ctx);
    if (opts->cert_file != NULL) {
        if ((mrv = mbedtls_x509_crt_parse_file(&ctx->cert, opts->cert_file)) != 0) {
            rv = net_tls_mbedtls_error(err, DF_ETLS, "cert file", opts->cert_file, mrv);
            goto out;
        }
        if ((mrv = mbedtls_pk_parse_keyfile(&ctx->key, opts->key_file, NULL)) != 0) {
            rv = net_tls_mbedtls_error(err, DF_ETLS, "key file", opts->key_file, mrv);
            goto out;
        }
        if ((mrv = mbedtls_pk_check_pair(&ctx->cert.pk, &ctx->key)) != 0) {
            rv = net_tls_mbedtls_error(err, DF_ETLS, "key file", opts->key_file, mrv);
            goto out;
        }
        if ((mrv = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->cert, &ctx->key)) != 0) {
            rv = net_tls_mbedtls_error(err, DF_ETLS, "cert file", opts->cert_file, mrv);
            goto out;
        }
    }

    if (ctx->insecure) {
        mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE);
    } else if (!server || ctx->own_ca) {
        if ((rv = net_tls_load_ca(ctx, opts, err)) != 0)
            goto out;
        mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->ca, NULL);
        /* Unless told to require one, servers accept clients without a certificate; one
         * that is sent must verify. */
        ctx->check_client = server;
        mbedtls_ssl_conf_authmode(&ctx->conf, server && !opts->verify_client
                                                      ? MBEDTLS_SSL_VERIFY_OPTIONAL
                                                      : MBEDTLS_SSL_VERIFY_REQUIRED);
    } else {
        mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    if ((rv = net_tls_load_alpn(ctx, opts, err)) != 0)
        goto out;
    *out = ctx;
    ctx = NULL;
    rv = 0;
out:
    net_tls_ctx_free(ctx);
    return rv;
}

void
net_tls_ctx_free(struct net_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    mbedtls_ssl_config_free(&ctx->conf);
    mbedtls_ctr_drbg_free(&ctx->drbg);
    mbedtls_entropy_free(&ctx->entropy);
    mbedtls_x509_crt_free(&ctx->ca);
    mbedtls_x509_crt_free(&ctx->cert);
    mbedtls_pk_free(&ctx->key);
    for (size_t i = 0; i < ctx->nrevoked; i++)
        free(ctx->revoked[i]);
    free(ctx->revoked);
    while (ctx->renewed != NULL) {
        struct net_tls_pair *p = ctx->renewed;

        ctx->renewed = p->next;
        mbedtls_x509_crt_free(&p->crt);
        mbedtls_pk_free(&p->key);
        free(p);
    }
    for (size_t i = 0; ctx->alpn_store[i] != NULL; i++)
        free(ctx->alpn_store[i]);
    free(ctx);
}

static int
net_tls_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void
net_tls_ctx_set_revoked(struct net_tls_ctx *ctx, const char *const *serials, size_t n)
{
    for (size_t i = 0; i < ctx->nrevoked; i++)
        free(ctx->revoked[i]);
    free(ctx->revoked);
    ctx->revoked = n > 0 ? xcalloc(n, sizeof(*ctx->revoked)) : NULL;
    for (size_t i = 0; i < n; i++)
        ctx->revoked[i] = xstrdup(serials[i]);
    ctx->nrevoked = n;
    if (n > 1)
        qsort(ctx->revoked, n, sizeof(*ctx->revoked), net_tls_str_cmp);
}

int
net_tls_ctx_reload(struct net_tls_ctx *ctx, const char *cert_file, const char *key_file,
                   struct df_error *err)
{
    struct net_tls_pair *p;
    int mrv;

    if (ctx->conf.key_cert == NULL)
        return df_error_set(err, DF_EINVAL, "tls: this context has no certificate to replace");
    p = xcalloc(1, sizeof(*p));
    mbedtls_x509_crt_init(&p->crt);
    mbedtls_pk_init(&p->key);
    if ((mrv = mbedtls_x509_crt_parse_file(&p->crt, cert_file)) != 0 ||
        (mrv = mbedtls_pk_parse_keyfile(&p->key, key_file, NULL)) != 0 ||
        (mrv = mbedtls_pk_check_pair(&p->crt.pk, &p->key)) != 0) {
        mbedtls_x509_crt_free(&p->crt);
        mbedtls_pk_free(&p->key);
        free(p);
        return net_tls_mbedtls_error(err, DF_ETLS, "renewed cert", cert_file, mrv);
    }
    /*
     * mbedtls reads the pair through conf.key_cert when a handshake needs it (a server picks
     * from the list, a client sends the first): pointing the entry at the new pair serves
     * new handshakes with it. The old pairs stay until the context goes, as a handshake in
     * progress may still hold them.
     */
    p->next = ctx->renewed;
    ctx->renewed = p;
    ctx->conf.key_cert->cert = &p->crt;
    ctx->conf.key_cert->key = &p->key;
    return 0;
}

#define net_tls_conn_set_state(c, s) net_tls_conn_set_state_at(c, s, __LINE__)

static void
net_tls_conn_set_state_at(struct net_tls_conn *c, enum net_tls_state s, int line)
{
    DF_ASSERT(c->state != NET_TLS_FAILED);
    DF_ASSERT(s != NET_TLS_HANDSHAKE);
    DF_ASSERT(s != NET_TLS_OPEN || c->state == NET_TLS_HANDSHAKE);
    DF_ASSERT(s != NET_TLS_CLOSED || c->state == NET_TLS_OPEN);
    log_debug("tls", "tls: %p %s -> %s (line %d)", (void *)c, net_tls_state_names[c->state],
              net_tls_state_names[s], line);
    c->state = s;
}

/*
 * Describe certificate verification flags the way an operator would search for them. A
 * chain that does not verify is named first; a refusal of the verify callback (role or
 * host) only when the chain itself was fine.
 */
static void
net_tls_verify_reason(struct net_tls_conn *c, uint32_t flags)
{
    const char *who = c->ctx->server ? "client" : "server";
    char info[200], *buf = c->error;
    size_t len = sizeof(c->error);
    int n;

    if ((flags & ~(uint32_t)MBEDTLS_X509_BADCERT_OTHER) == 0 && c->why[0] != '\0') {
        snprintf(buf, len, "%s", c->why);
        return;
    }
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
        n = snprintf(buf, len, "%s certificate verify failed: hostname mismatch", who);
    else if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        n = snprintf(buf, len, "%s certificate verify failed: unknown CA", who);
    else if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
        n = snprintf(buf, len, "%s certificate verify failed: expired", who);
    else if (flags & MBEDTLS_X509_BADCERT_FUTURE)
        n = snprintf(buf, len, "%s certificate verify failed: not yet valid", who);
    else if (flags & MBEDTLS_X509_BADCERT_REVOKED)
        n = snprintf(buf, len, "%s certificate verify failed: revoked", who);
    else
        n = snprintf(buf, len, "%s certificate verify failed", who);
    if (n < 0 || (size_t)n >= len)
        return;
    if (mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags) > 0) {
        info[strcspn(info, "\n")] = '\0';
        snprintf(buf + n, len - (size_t)n, " (%s)", info);
    }
}

/* The name of a TLS alert the other end sent, for "handshake failed: ..." messages. */
static const char *
net_tls_alert_name(unsigned char alert)
{
    switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
        return "handshake failure";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
        return "bad certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
        return "unsupported certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
        return "certificate revoked";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
        return "certificate expired";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
        return "certificate unknown";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
        return "unknown CA";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
        return "access denied";
    case MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL:
        return "no application protocol";
    case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME:
        return "unrecognized name";
    default:
        return NULL;
    }
}

/* Enter FAILED with a reason and tell the user once. The bufferevent may be freed by it. */
static void
net_tls_conn_fail(struct net_tls_conn *c, int mrv, short what)
{
    const char *alert;
    char buf[160];
    uint32_t flags;

    if (c->state == NET_TLS_FAILED)
        return;
    if (c->error_set) {
        /* The SNI callback said why; mbedtls sent the alert. */
    } else if (c->ctx->mint != NULL && c->leaf == NULL && c->state == NET_TLS_HANDSHAKE &&
               mrv == MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE && c->ctx->cert.version == 0) {
        snprintf(c->error, sizeof(c->error),
                 "handshake failed: the client sent no SNI and there is no host to mint for");
    } else if (mrv == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED &&
               (flags = mbedtls_ssl_get_verify_result(&c->ssl)) != 0) {
        net_tls_verify_reason(c, flags);
    } else if (mrv == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
        snprintf(c->error, sizeof(c->error), "handshake failed: no client certificate");
        /* mbedtls 2.28 leaves without a word: tell the client why it was dropped. */
        mbedtls_ssl_send_alert_message(&c->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    } else if (mrv == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && c->ssl.in_msg != NULL &&
               (alert = net_tls_alert_name(c->ssl.in_msg[1])) != NULL) {
        snprintf(c->error, sizeof(c->error), "%s failed: %s refused us: %s",
                 c->state == NET_TLS_HANDSHAKE ? "handshake" : "record",
                 c->ctx->server ? "client" : "server", alert);
    } else if (mrv != 0) {
        mbedtls_strerror(mrv, buf, sizeof(buf));
        snprintf(c->error, sizeof(c->error), "%s: %s",
                 c->state == NET_TLS_HANDSHAKE ? "handshake failed" : "record failed", buf);
    }
    net_tls_conn_set_state(c, NET_TLS_FAILED);
    log_debug("tls", "tls: %p failed: %s", (void *)c, c->error);
    if (c->in_wrap) {
        /* Callbacks are not set yet, and libevent drops events without one. */
        c->error_pending = true;
        event_active(c->resume, EV_WRITE, 0);
        return;
    }
    bufferevent_trigger_event(c->bev, (short)(BEV_EVENT_ERROR | what), 0);
}

static int
net_tls_bio_send(void *arg, const unsigned char *buf, size_t len)
{
    struct net_tls_conn *c = arg;

    if (len > INT_MAX)
        len = INT_MAX;
    if (evbuffer_add(bufferevent_get_output(c->under), buf, len) != 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int
net_tls_bio_recv(void *arg, unsigned char *buf, size_t len)
{
    struct net_tls_conn *c = arg;
    int n;

    if (len > INT_MAX)
        len = INT_MAX;
    n = evbuffer_remove(bufferevent_get_input(c->under), buf, len);
    if (n <= 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return n;
}

/*
 * Advance the handshake. Returns 1 when done (the caller then flushes and reports
 * CONNECTED), 0 if it needs more input, -1 if it failed (already reported).
 */
static int
net_tls_handshake_step(struct net_tls_conn *c, short what)
{
    uint32_t flags;
    int mrv;

    mrv = mbedtls_ssl_handshake(&c->ssl);
    if (mrv == MBEDTLS_ERR_SSL_WANT_READ || mrv == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (mrv != 0) {
        net_tls_conn_fail(c, mrv, what);
        return -1;
    }
    if (c->ctx->check_client && mbedtls_ssl_get_peer_cert(&c->ssl) != NULL &&
        (flags = mbedtls_ssl_get_verify_result(&c->ssl)) != 0) {
        net_tls_verify_reason(c, flags);
        mbedtls_ssl_send_alert_message(&c->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
        net_tls_conn_fail(c, 0, what);
        return -1;
    }
    /* Verified (authmode REQUIRED, or OPTIONAL and checked above) unless insecure. */
    if (!c->ctx->insecure && mbedtls_ssl_get_peer_cert(&c->ssl) != NULL)
        c->ident = c->seen;
    net_tls_conn_set_state(c, NET_TLS_OPEN);
    log_debug("tls", "tls: %p handshake done: %s %s alpn=%s", (void *)c,
              mbedtls_ssl_get_version(&c->ssl), mbedtls_ssl_get_ciphersuite(&c->ssl),
              mbedtls_ssl_get_alpn_protocol(&c->ssl) != NULL
                      ? mbedtls_ssl_get_alpn_protocol(&c->ssl)
                      : "-");
    return 1;
}

/* Handshake finished: send what the user queued meanwhile, then report CONNECTED. */
static void
net_tls_conn_connected(struct net_tls_conn *c)
{
    bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
    bufferevent_trigger_event(c->bev, BEV_EVENT_CONNECTED, 0);
}

/* Ciphertext from the socket to plaintext for the user, at most about dst_limit bytes. */
static enum bufferevent_filter_result
net_tls_input_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t dst_limit,
                     enum bufferevent_flush_mode mode, void *arg)
{
    struct net_tls_conn *c = arg;
    struct evbuffer_iovec v;
    size_t produced = 0, want;
    int mrv;

    (void)mode;
    if (c->state == NET_TLS_FAILED)
        return BEV_ERROR;
    if (c->state == NET_TLS_CLOSED) {
        evbuffer_drain(src, evbuffer_get_length(src)); /* nothing may follow close_notify */
        return BEV_NEED_MORE;
    }
    if (c->state == NET_TLS_HANDSHAKE) {
        mrv = net_tls_handshake_step(c, BEV_EVENT_READING);
        if (mrv < 0)
            return BEV_ERROR;
        if (mrv == 0)
            return BEV_NEED_MORE;
        net_tls_conn_connected(c);
        if (c->state != NET_TLS_OPEN)
            return BEV_ERROR;
    }
    for (;;) {
        /* A record already decrypted is always taken whole, so none is left stranded
         * inside mbedtls where no socket event would ever come back for it. */
        want = mbedtls_ssl_get_bytes_avail(&c->ssl);
        if (want == 0) {
            if (dst_limit >= 0 && produced >= (size_t)dst_limit)
                break;
            want = NET_TLS_RECORD;
        }
        if (evbuffer_reserve_space(dst, (ev_ssize_t)want, &v, 1) < 1) {
            net_tls_conn_fail(c, MBEDTLS_ERR_SSL_ALLOC_FAILED, BEV_EVENT_READING);
            return BEV_ERROR;
        }
        mrv = mbedtls_ssl_read(&c->ssl, v.iov_base, want);
        if (mrv > 0) {
            v.iov_len = (size_t)mrv;
            evbuffer_commit_space(dst, &v, 1);
            produced += (size_t)mrv;
            continue;
        }
        v.iov_len = 0;
        evbuffer_commit_space(dst, &v, 1);
        if (mrv == MBEDTLS_ERR_SSL_WANT_READ || mrv == MBEDTLS_ERR_SSL_WANT_WRITE)
            break;
        if (mrv == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || mrv == 0) {
            net_tls_conn_set_state(c, NET_TLS_CLOSED);
            /* Deferred like every callback: the user sees the data before the EOF. */
            bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
            break;
        }
        net_tls_conn_fail(c, mrv, BEV_EVENT_READING);
        return BEV_ERROR;
    }
    return produced > 0 ? BEV_OK : BEV_NEED_MORE;
}

/* Plaintext from the user to ciphertext for the socket, at most about dst_limit bytes. */
static enum bufferevent_filter_result
net_tls_output_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t dst_limit,
                      enum bufferevent_flush_mode mode, void *arg)
{
    struct net_tls_conn *c = arg;
    size_t start = evbuffer_get_length(dst), len, n;
    unsigned char *p;
    int mrv;

    if (c->state == NET_TLS_FAILED)
        return BEV_ERROR;
    if (c->state == NET_TLS_HANDSHAKE) {
        mrv = net_tls_handshake_step(c, BEV_EVENT_WRITING);
        if (mrv < 0)
            return BEV_ERROR;
        if (mrv == 0)
            return BEV_NEED_MORE;
        bufferevent_trigger_event(c->bev, BEV_EVENT_CONNECTED, 0);
        if (c->state != NET_TLS_OPEN)
            return BEV_ERROR;
    }
    while ((len = evbuffer_get_length(src)) > 0) {
        if (dst_limit >= 0 && evbuffer_get_length(dst) - start >= (size_t)dst_limit)
            break;
        n = len < NET_TLS_RECORD ? len : NET_TLS_RECORD;
        if ((p = evbuffer_pullup(src, (ev_ssize_t)n)) == NULL) {
            net_tls_conn_fail(c, MBEDTLS_ERR_SSL_ALLOC_FAILED, BEV_EVENT_WRITING);
            return BEV_ERROR;
        }
        /* The BIO never pushes back, so a partial write is only ever a record boundary. */
        mrv = mbedtls_ssl_write(&c->ssl, p, n);
        if (mrv == MBEDTLS_ERR_SSL_WANT_READ || mrv == MBEDTLS_ERR_SSL_WANT_WRITE)
            break;
        if (mrv < 0) {
            net_tls_conn_fail(c, mrv, BEV_EVENT_WRITING);
            return BEV_ERROR;
        }
        evbuffer_drain(src, (size_t)mrv);
    }
    if (mode == BEV_FINISHED && evbuffer_get_length(src) == 0 && c->state == NET_TLS_OPEN)
        mbedtls_ssl_close_notify(&c->ssl);
    return BEV_OK;
}

/* The user drained its input: pick up ciphertext left when the input was full. */
static void
net_tls_drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct net_tls_conn *c = arg;
    size_t low, high;

    if (info->n_deleted == 0 || c->state != NET_TLS_OPEN ||
        evbuffer_get_length(bufferevent_get_input(c->under)) == 0)
        return;
    if (bufferevent_getwatermark(c->bev, EV_READ, &low, &high) == 0 && high != 0 &&
        evbuffer_get_length(buf) >= high)
        return;
    event_active(c->resume, EV_READ, 0);
}

static void
net_tls_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_tls_conn *c = arg;
    bufferevent_event_cb under_event;

    (void)fd;
    (void)what;
    /* Once the user has freed the filter, libevent has cleared the socket's callbacks. */
    bufferevent_getcb(c->under, NULL, NULL, &under_event, NULL);
    if (under_event == NULL)
        return;
    if (c->error_pending) {
        c->error_pending = false;
        bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR | BEV_EVENT_WRITING, 0);
        return;
    }
    if (c->state == NET_TLS_HANDSHAKE) {
        /* Ciphertext that was read before the wrap: only new bytes would run the filter. */
        bufferevent_flush(c->bev, EV_READ, BEV_NORMAL);
        return;
    }
    if (c->state != NET_TLS_OPEN)
        return;
    if (bufferevent_flush(c->bev, EV_READ, BEV_NORMAL) > 0)
        bufferevent_trigger(c->bev, EV_READ, 0);
}

static void
net_tls_conn_free(void *arg)
{
    struct net_tls_conn *c = arg;

    net_tls_table_remove(c);
    if (c->resume != NULL)
        event_free(c->resume);
    mbedtls_ssl_free(&c->ssl);
    net_tls_mint_leaf_release(c->leaf);
    free(c->want_host);
    free(c->mint_host);
    free(c);
}

void
net_tls_identity_from_name(const struct mbedtls_asn1_named_data *subject,
                           struct net_tls_identity *out)
{
    const mbedtls_x509_name *n;
    const mbedtls_x509_buf *cn = NULL, *ou = NULL;
    int n_cn = 0, n_ou = 0;
    char role[16];

    memset(out, 0, sizeof(*out));
    for (n = subject; n != NULL; n = n->next) {
        if (n->oid.p == NULL)
            continue;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
            cn = &n->val;
            n_cn++;
        } else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORG_UNIT, &n->oid) == 0) {
            ou = &n->val;
            n_ou++;
        }
    }
    if (n_cn != 1 || n_ou != 1 || ou->len >= sizeof(role) ||
        !net_tls_host_bytes_are_valid(cn->p, cn->len))
        return;
    memcpy(role, ou->p, ou->len);
    role[ou->len] = '\0';
    if (strlen(role) != ou->len || net_tls_role_parse(role, &out->role) != 0)
        return;
    memcpy(out->host, cn->p, cn->len);
    out->host[cn->len] = '\0';
}

/*
 * mbedtls calls this for each certificate of the chain it verifies; at the leaf, note the
 * identity it names and refuse it (BADCERT_OTHER, with the reason in c->why) when it is not
 * the role or host wanted. mbedtls then fails the handshake and sends the alert itself.
 */
static int
net_tls_verify_cb(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct net_tls_conn *c = arg;
    const char *who = c->ctx->server ? "client" : "server";
    char want[64] = "";

    if (depth != 0)
        return 0;
    net_tls_identity_from_name(&crt->subject, &c->seen);
    if (c->ctx->nrevoked > 0) {
        char serial[NET_CSR_SERIAL_LEN];
        const char *key = serial;

        net_csr_serial_hex(crt, serial);
        if (bsearch(&key, c->ctx->revoked, c->ctx->nrevoked, sizeof(*c->ctx->revoked),
                    net_tls_str_cmp) != NULL) {
            snprintf(c->why, sizeof(c->why), "revoked: %s certificate %s of \"%.64s\" is revoked",
                     who, serial, c->seen.host);
            *flags |= MBEDTLS_X509_BADCERT_OTHER;
            return 0;
        }
    }
    if (c->want_roles != 0 && (c->seen.role == NET_TLS_ROLE_NONE ||
                               (c->want_roles & NET_TLS_ROLE_BIT(c->seen.role)) == 0)) {
        for (size_t r = NET_TLS_ROLE_PEER; r < DF_NELEM(net_tls_role_names); r++)
            if (c->want_roles & NET_TLS_ROLE_BIT(r))
                snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
                         want[0] != '\0' ? "|" : "", net_tls_role_names[r]);
        if (c->seen.role == NET_TLS_ROLE_NONE)
            snprintf(c->why, sizeof(c->why),
                     "wrong role: %s certificate names no cluster role (want %s)", who, want);
        else
            snprintf(c->why, sizeof(c->why), "wrong role: %s certificate is for a %s, want %s", who,
                     net_tls_role_names[c->seen.role], want);
        *flags |= MBEDTLS_X509_BADCERT_OTHER;
    } else if (c->want_host != NULL && strcmp(c->seen.host, c->want_host) != 0) {
        snprintf(c->why, sizeof(c->why),
                 "wrong host: %s certificate is for \"%.64s\", want \"%.64s\"", who, c->seen.host,
                 c->want_host);
        *flags |= MBEDTLS_X509_BADCERT_OTHER;
    }
    return 0;
}

/*
 * Make the connection. roles/host are what the other end's certificate must name (0/NULL:
 * anything); a client with roles is verified by them instead of by hostname. why, when not
 * NULL, fails the handshake at once with that reason (reported like any failure).
 */
static struct bufferevent *
net_tls_conn_new(struct net_tls_ctx *ctx, struct bufferevent *under, const char *hostname,
                 unsigned roles, const char *host, const char *why)
{
    struct net_tls_conn *c;

    c = xcalloc(1, sizeof(*c));
    c->ctx = ctx;
    c->under = under;
    c->state = NET_TLS_HANDSHAKE;
    c->in_wrap = true;
    c->want_roles = roles;
    c->want_host = host != NULL ? xstrdup(host) : NULL;
    mbedtls_ssl_init(&c->ssl);
    if (mbedtls_ssl_setup(&c->ssl, &ctx->conf) != 0)
        goto fail;
    if (why == NULL && !ctx->server && roles == 0 && hostname != NULL &&
        mbedtls_ssl_set_hostname(&c->ssl, hostname) != 0)
        why = "no valid hostname to verify the server against (set one, or insecure)";
    if (why == NULL && ctx->mint != NULL && hostname != NULL) {
        c->mint_host = xstrdup(hostname);
        if (net_tls_conn_mint(c, hostname) != 0)
            why = c->error;
    }
    if (!ctx->insecure)
        mbedtls_ssl_set_verify(&c->ssl, net_tls_verify_cb, c);
    mbedtls_ssl_set_bio(&c->ssl, c, net_tls_bio_send, net_tls_bio_recv, NULL);
    c->resume = event_new(bufferevent_get_base(under), -1, 0, net_tls_resume_cb, c);
    if (c->resume == NULL)
        goto fail;
    /* Deferred callbacks: the user is never called back from inside its own
     * bufferevent_write() or from inside mbedtls, as with a plain socket. */
    c->bev = bufferevent_filter_new(under, net_tls_input_filter, net_tls_output_filter,
                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS,
                                    net_tls_conn_free, c);
    if (c->bev == NULL)
        goto fail;
    /* From here on, freeing bev frees c (and under). */
    net_tls_table_add(c);
    bufferevent_setwatermark(under, EV_READ, 0, NET_TLS_UNDER_RMAX);
    bufferevent_setwatermark(under, EV_WRITE, NET_TLS_UNDER_WLOW, NET_TLS_UNDER_WMAX);
    bufferevent_set_max_single_read(under, NET_TLS_UNDER_RMAX);
    bufferevent_set_max_single_write(under, NET_TLS_UNDER_WMAX);
    c->drain_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), net_tls_drain_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (why != NULL) {
        if (why != c->error)
            snprintf(c->error, sizeof(c->error), "%s", why);
        net_tls_conn_fail(c, 0, BEV_EVENT_WRITING);
    } else if (!ctx->server) {
        /* Send the ClientHello now; a failure is reported by a deferred event. */
        net_tls_handshake_step(c, BEV_EVENT_WRITING);
    } else if (evbuffer_get_length(bufferevent_get_input(under)) > 0) {
        /* A ClientHello read with what came before (a CONNECT head): start on it. */
        event_active(c->resume, EV_READ, 0);
    }
    c->in_wrap = false;
    return c->bev;
fail:
    if (c->resume != NULL)
        event_free(c->resume);
    mbedtls_ssl_free(&c->ssl);
    net_tls_mint_leaf_release(c->leaf);
    free(c->want_host);
    free(c->mint_host);
    free(c);
    return NULL;
}

struct bufferevent *
net_tls_wrap(struct net_tls_ctx *ctx, struct bufferevent *under, const char *hostname)
{
    const char *why = NULL;

    if (!ctx->server && !ctx->insecure && ctx->roles == 0 && hostname == NULL)
        why = "no valid hostname to verify the server against (set one, or insecure)";
    return net_tls_conn_new(ctx, under, hostname, ctx->roles, NULL, why);
}

struct bufferevent *
net_tls_wrap_expect(struct net_tls_ctx *ctx, struct bufferevent *under, unsigned roles,
                    const char *host)
{
    const char *why = NULL;

    if (roles == 0)
        roles = ctx->roles;
    if (ctx->server || ctx->insecure || !ctx->own_ca)
        why = "wrong role: this context cannot verify a cluster server (needs the cluster CA)";
    else if (roles == 0 || (roles & ~NET_TLS_ROLES_ALL) != 0)
        why = "wrong role: no valid role to verify the server against";
    else if (host != NULL && !net_tls_host_is_valid(host))
        why = "wrong host: not a valid host name to verify the server against";
    return net_tls_conn_new(ctx, under, NULL, roles, host, why);
}

const char *
net_tls_sni(struct bufferevent *bev)
{
    struct net_tls_conn *c = net_tls_table_find(bev);

    if (c == NULL || !c->sni_sent)
        return NULL;
    return c->sni;
}

bool
net_tls_is_tls(struct bufferevent *bev)
{
    return net_tls_table_find(bev) != NULL;
}

const char *
net_tls_alpn(struct bufferevent *bev)
{
    struct net_tls_conn *c = net_tls_table_find(bev);

    if (c == NULL || c->state == NET_TLS_HANDSHAKE)
        return NULL;
    return mbedtls_ssl_get_alpn_protocol(&c->ssl);
}

const char *
net_tls_error(struct bufferevent *bev)
{
    struct net_tls_conn *c = net_tls_table_find(bev);

    if (c == NULL)
        return "not a TLS connection";
    if (c->error[0] == '\0')
        return "no error";
    return c->error;
}

int
net_tls_peer_identity(struct bufferevent *bev, struct net_tls_identity *out)
{
    struct net_tls_conn *c = net_tls_table_find(bev);

    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return DF_EINVAL;
    if (c->state == NET_TLS_HANDSHAKE || c->state == NET_TLS_FAILED)
        return DF_EAGAIN;
    *out = c->ident;
    return 0;
}
