/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's proxy listener (proxy.listen, 65001 or 65007 on a seed): a registry mirror for
 * origin-form "/v2/..." requests and a forward proxy (absolute-form requests, CONNECT as a
 * blind tunnel or intercepted for proxy.hijackHTTPS hosts). GETs the rules pick become P2P
 * tasks streamed back in order as pieces are verified; everything else passes through.
 */
#ifndef PEER_PROXY_H
#define PEER_PROXY_H

#include "df/df_err.h"

struct peer;
struct peer_config;

#define PEER_PROXY_PORT      65001
#define PEER_PROXY_SEED_PORT 65007

/*
 * Check the proxy's keys of cfg (listen, upstream, registries, rules) as a start would.
 * Returns 0, or DF_EINVAL with a message in err naming the key.
 */
int peer_proxy_config_check(const struct peer_config *cfg, struct df_error *err);

/*
 * Start the proxy of ctx on bind_host (the peer's bind address, "" for all) unless
 * proxy.listen is "off". Returns 0, or DF_E* with a message in err (bad rules or upstream,
 * cannot listen).
 */
int peer_proxy_start(struct peer *ctx, const char *bind_host, struct df_error *err);

/*
 * Close the listener and every proxy connection (streams let go of their tasks). Safe to call
 * twice or when never started.
 */
void peer_proxy_stop(struct peer *ctx);

/* The bound address ("ip:port"), or NULL when the proxy is off. Borrowed. */
const char *peer_proxy_addr(const struct peer *ctx);

/* Open proxy connections (idleExit counts them as work). */
unsigned peer_proxy_conn_count(const struct peer *ctx);

#endif
