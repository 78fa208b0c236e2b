/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Contexts for cluster mutual TLS from the `tls.*` keys. A server context takes clients of
 * every cluster role (the role checks belong to the handlers, which read the caller's
 * identity); a client context names no role itself: each connection says which role it
 * expects of the server.
 */
#include "df/rpc_tls.h"

#include <string.h>

#include "df/log.h"
#include "df/net_tls.h"

int
rpc_tls_setup(const struct rpc_tls_conf *conf, const char *who, struct net_tls_ctx **srv,
              struct net_tls_ctx **cli, struct df_error *err)
{
    struct net_tls_ctx *s = NULL, *c = NULL;
    struct net_tls_opts o;
    int rv;

    if (conf->cert == NULL && conf->key == NULL && conf->ca == NULL) {
        log_warnx("%s: tls.cert is not set: cluster traffic is plaintext and unauthenticated", who);
        *srv = NULL;
        *cli = NULL;
        return 0;
    }
    if (conf->cert == NULL || conf->key == NULL || conf->ca == NULL)
        return df_error_set(err, DF_EINVAL, "tls: tls.cert, tls.key and tls.ca go together");
    memset(&o, 0, sizeof(o));
    o.cert_file = conf->cert;
    o.key_file = conf->key;
    o.ca_file = conf->ca;
    o.verify_client = conf->require_client;
    /* A role check needs a required certificate. */
    o.peer_roles = conf->require_client ? NET_TLS_ROLES_ALL : 0;
    if ((rv = net_tls_ctx_new(true, &o, &s, err)) != 0)
        goto out;
    o.verify_client = false;
    o.peer_roles = NET_TLS_ROLES_ALL;
    if ((rv = net_tls_ctx_new(false, &o, &c, err)) != 0)
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
