/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Contexts for cluster mutual TLS from the `tls.*` keys, and the rule that plaintext is
 * chosen, never fallen into. A server context takes clients of every cluster role (the role
 * checks belong to the handlers, which read the caller's identity); a client context names
 * no role itself: each connection says which role it expects of the server.
 */
#include "df/rpc_tls.h"

#include <string.h>

#include "df/log.h"
#include "df/net_tls.h"

const char *const rpc_tls_modes[] = {"auto", "mtls", "plaintext", NULL};

int
rpc_tls_conf_check(const struct rpc_tls_conf *conf, bool local_only, struct df_error *err)
{
    bool any = conf->cert != NULL || conf->key != NULL || conf->ca != NULL;

    if (any && (conf->cert == NULL || conf->key == NULL || conf->ca == NULL))
        return df_error_set(err, DF_EINVAL, "tls: tls.cert, tls.key and tls.ca go together");
    switch ((enum rpc_tls_mode)conf->mode) {
    case RPC_TLS_MTLS:
        if (!any)
            return df_error_set(err, DF_EINVAL,
                                "tls.mode is mtls but tls.cert, tls.key and tls.ca are not set");
        return 0;
    case RPC_TLS_PLAINTEXT:
        if (any)
            return df_error_set(err, DF_EINVAL,
                                "tls.mode is plaintext but tls.cert is set: drop one of them");
        return 0;
    case RPC_TLS_AUTO:
        break;
    }
    /* Others reach this host: plaintext must be a choice, never a forgotten certificate. */
    if (!any && !local_only)
        return df_error_set(err, DF_EINVAL,
                            "tls.cert is not set: give this host a cluster certificate (tls.cert, "
                            "tls.key, tls.ca; see `dragonfly cert`) or run unauthenticated with "
                            "tls.mode: plaintext (--plaintext)");
    return 0;
}

bool
rpc_tls_conf_is_plaintext(const struct rpc_tls_conf *conf)
{
    return conf->mode == RPC_TLS_PLAINTEXT || conf->cert == NULL;
}

/* The cluster identity of conf as a server or a client context, offering alpn (may be NULL). */
static int
rpc_tls_ctx_new(const struct rpc_tls_conf *conf, bool server, const char *const *alpn,
                struct net_tls_ctx **out, struct df_error *err)
{
    struct net_tls_opts o;

    memset(&o, 0, sizeof(o));
    o.cert_file = conf->cert;
    o.key_file = conf->key;
    o.ca_file = conf->ca;
    o.alpn = alpn;
    /* A role check needs a required certificate; a client checks the server's per connection. */
    o.verify_client = server && conf->require_client;
    o.peer_roles = !server || conf->require_client ? NET_TLS_ROLES_ALL : 0;
    return net_tls_ctx_new(server, &o, out, err);
}

int
rpc_tls_server_new(const struct rpc_tls_conf *conf, const char *const *alpn,
                   struct net_tls_ctx **out, struct df_error *err)
{
    *out = NULL;
    if (rpc_tls_conf_is_plaintext(conf))
        return 0;
    return rpc_tls_ctx_new(conf, true, alpn, out, err);
}

int
rpc_tls_setup(const struct rpc_tls_conf *conf, const char *who, struct net_tls_ctx **srv,
              struct net_tls_ctx **cli, struct df_error *err)
{
    /* The RPC listener speaks HTTP/2 only; clients that require ALPN (gRPC, curl over https)
     * must see h2 selected. Our own clients offer none and are answered the same. */
    static const char *const rpc_alpn[] = {"h2", NULL};
    struct net_tls_ctx *s = NULL, *c = NULL;
    int rv;

    /* The role has already checked who may reach it (local_only). */
    if ((rv = rpc_tls_conf_check(conf, true, err)) != 0)
        return rv;
    if (rpc_tls_conf_is_plaintext(conf)) {
        if (conf->mode == RPC_TLS_PLAINTEXT)
            log_warnx("%s: tls.mode is plaintext: cluster traffic is unauthenticated and "
                      "unencrypted",
                      who);
        else
            log_info("%s: no tls.cert: plaintext, reachable from this host only", who);
        *srv = NULL;
        *cli = NULL;
        return 0;
    }
    if ((rv = rpc_tls_ctx_new(conf, true, rpc_alpn, &s, err)) != 0 ||
        (rv = rpc_tls_ctx_new(conf, false, NULL, &c, err)) != 0)
        goto out;
    log_info("%s: mutual TLS with the cluster CA %s%s", who, conf->ca,
             conf->require_client ? "" : " (client certificates optional)");
    *srv = s;
    *cli = c;
    s = NULL;
    c = NULL;
    rv = 0;
out:
    net_tls_ctx_free(s);
    net_tls_ctx_free(c);
    return rv;
}
