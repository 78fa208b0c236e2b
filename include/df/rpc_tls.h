/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster mutual TLS settings that every role reads the same way: the `tls.*` config keys
 * (one table fragment) and the contexts built from them, a server context for the role's
 * listeners and a client context for its calls to other roles. Both trust only the cluster
 * CA. With no tls.* key set a role runs plaintext and says so once at start.
 */
#ifndef DF_RPC_TLS_H
#define DF_RPC_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "df/df_conf.h"
#include "df/df_err.h"

struct net_tls_ctx;

/* The `tls.*` keys, embedded in a role's config struct. */
struct rpc_tls_conf {
    char *cert;          /* this host's cluster certificate (PEM) */
    char *key;           /* its private key */
    char *ca;            /* the cluster CA certificate */
    bool require_client; /* servers refuse clients without a cluster certificate */
};

/* The df_conf entries of the `tls.*` keys for a config struct whose field f is a
 * struct rpc_tls_conf (off = offsetof(role_config, f)). */
#define RPC_TLS_CONF_ENTRIES(off)                                                             \
    {.key = "tls.cert",                                                                       \
     .type = DF_CONF_STRING,                                                                  \
     .offset = (off) + offsetof(struct rpc_tls_conf, cert),                                   \
     .metavar = "PATH",                                                                       \
     .help = "this host's cluster certificate (`dragonfly cert issue --role ROLE`): mutual "  \
             "TLS on its listeners and its connections to other roles (unset: plaintext)"},   \
            {.key = "tls.key",                                                                \
             .type = DF_CONF_STRING,                                                          \
             .offset = (off) + offsetof(struct rpc_tls_conf, key),                            \
             .metavar = "PATH",                                                               \
             .help = "private key of tls.cert"},                                              \
            {.key = "tls.ca",                                                                 \
             .type = DF_CONF_STRING,                                                          \
             .offset = (off) + offsetof(struct rpc_tls_conf, ca),                             \
             .metavar = "PATH",                                                               \
             .help = "the cluster CA certificate (ca.crt), the only trust anchor of cluster " \
                     "connections"},                                                          \
    {                                                                                         \
        .key = "tls.requireClientCert", .type = DF_CONF_BOOL,                                 \
        .offset = (off) + offsetof(struct rpc_tls_conf, require_client), .def = "true",       \
        .help = "with tls.cert: refuse clients without a cluster certificate (off: they "     \
                "connect but may only do what a plaintext client may)"                        \
    }

/*
 * Build the contexts of conf for the role named who (for messages): *srv for listeners
 * (any cluster role as client; a certificate required when conf->require_client) and *cli
 * for calls (presents our certificate; servers are checked by role per connection, see
 * rpc_client_opts.expect_roles). Neither is built, and a warning is logged, when no tls.*
 * key is set. Returns 0, or DF_EINVAL/DF_ETLS with a message in err (a key without the
 * others, a file that does not load); the caller frees both with net_tls_ctx_free.
 */
int rpc_tls_setup(const struct rpc_tls_conf *conf, const char *who, struct net_tls_ctx **srv,
                  struct net_tls_ctx **cli, struct df_error *err);

#endif
