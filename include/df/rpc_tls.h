/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster mutual TLS settings that every role reads the same way: the `tls.*` config keys
 * (one table fragment) and the contexts built from them, a server context for the role's
 * listeners and a client context for its calls to other roles. Both trust only the cluster
 * CA. Plaintext is a choice made explicitly (tls.mode: plaintext, --plaintext), logged once
 * at start; without it a role that other hosts can reach refuses to start with no
 * certificate. Only a peer that nobody else reaches (loopback only, no scheduler: the one
 * `dragonfly get` starts) runs plaintext by default.
 */
#ifndef DF_RPC_TLS_H
#define DF_RPC_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "df/df_conf.h"
#include "df/df_err.h"

struct net_tls_ctx;

/* tls.mode, in the order of its choices. */
enum rpc_tls_mode {
    RPC_TLS_AUTO,      /* mTLS with tls.cert; without it, only a host nobody else reaches */
    RPC_TLS_MTLS,      /* mTLS, and tls.cert is required */
    RPC_TLS_PLAINTEXT, /* no TLS: unauthenticated, for a trusted network */
};

extern const char *const rpc_tls_modes[];

/* The `tls.*` keys, embedded in a role's config struct. */
struct rpc_tls_conf {
    int mode;            /* enum rpc_tls_mode */
    char *cert;          /* this host's cluster certificate (PEM) */
    char *key;           /* its private key */
    char *ca;            /* the cluster CA certificate */
    bool require_client; /* servers refuse clients without a cluster certificate */
};

/* The df_conf entries of the `tls.*` keys for a config struct whose field f is a
 * struct rpc_tls_conf (off = offsetof(role_config, f)). */
#define RPC_TLS_CONF_ENTRIES(off)                                                                    \
    {.key = "tls.mode",                                                                              \
     .type = DF_CONF_ENUM,                                                                           \
     .offset = (off) + offsetof(struct rpc_tls_conf, mode),                                          \
     .def = "auto",                                                                                  \
     .choices = rpc_tls_modes,                                                                       \
     .help = "mtls: mutual TLS with tls.cert (required); plaintext: no TLS, unauthenticated "        \
             "(a trusted network only); auto: mtls when tls.cert is set, else refuse to "            \
             "start unless nobody else can reach this host",                                         \
     .alias = "plaintext",                                                                           \
     .alias_value = "plaintext"},                                                                    \
            {.key = "tls.cert",                                                                      \
             .type = DF_CONF_STRING,                                                                 \
             .offset = (off) + offsetof(struct rpc_tls_conf, cert),                                  \
             .metavar = "PATH",                                                                      \
             .help = "this host's cluster certificate (`dragonfly cert issue --role ROLE`): mutual " \
                     "TLS on its listeners and its connections to other roles"},                     \
            {.key = "tls.key",                                                                       \
             .type = DF_CONF_STRING,                                                                 \
             .offset = (off) + offsetof(struct rpc_tls_conf, key),                                   \
             .metavar = "PATH",                                                                      \
             .help = "private key of tls.cert"},                                                     \
            {.key = "tls.ca",                                                                        \
             .type = DF_CONF_STRING,                                                                 \
             .offset = (off) + offsetof(struct rpc_tls_conf, ca),                                    \
             .metavar = "PATH",                                                                      \
             .help = "the cluster CA certificate (ca.crt), the only trust anchor of cluster "        \
                     "connections"},                                                                 \
    {                                                                                                \
        .key = "tls.requireClientCert", .type = DF_CONF_BOOL,                                        \
        .offset = (off) + offsetof(struct rpc_tls_conf, require_client), .def = "true",              \
        .help = "with tls.cert: refuse clients without a cluster certificate (off: they "            \
                "connect but may only do what a plaintext client may)"                               \
    }

/*
 * Check that conf says clearly whether to run mTLS or plaintext, before a role starts:
 * tls.cert, tls.key and tls.ca go together; mtls needs them, plaintext refuses them, and
 * auto without them is allowed only when local_only (the role listens on loopback only and
 * talks to no other host). Returns 0, or DF_EINVAL with one line in err that names the key
 * and the flag to set; roles print it and exit 2.
 */
int rpc_tls_conf_check(const struct rpc_tls_conf *conf, bool local_only, struct df_error *err);

/* True when conf (checked) runs without TLS. */
bool rpc_tls_conf_is_plaintext(const struct rpc_tls_conf *conf);

/*
 * Build the contexts of conf for the role named who (for messages): *srv for RPC listeners
 * (any cluster role as client; a certificate required when conf->require_client; ALPN
 * selects h2 for clients that offer it) and *cli
 * for calls (presents our certificate; servers are checked by role per connection, see
 * rpc_client_opts.expect_roles). Neither is built when conf runs plaintext: a warning says
 * so once when plaintext was chosen explicitly. Returns 0, or DF_EINVAL/DF_ETLS with a
 * message in err (what rpc_tls_conf_check refuses, a file that does not load); the caller
 * frees both with net_tls_ctx_free.
 */
int rpc_tls_setup(const struct rpc_tls_conf *conf, const char *who, struct net_tls_ctx **srv,
                  struct net_tls_ctx **cli, struct df_error *err);

/*
 * Another server context of conf's identity for a listener that is not the RPC port,
 * offering alpn (NULL-terminated, or NULL for none); *out is NULL when conf runs plaintext.
 * Errors as rpc_tls_setup's; the caller frees *out with net_tls_ctx_free.
 */
int rpc_tls_server_new(const struct rpc_tls_conf *conf, const char *const *alpn,
                       struct net_tls_ctx **out, struct df_error *err);

#endif
