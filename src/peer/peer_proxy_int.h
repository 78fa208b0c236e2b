/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the proxy's files share (peer_proxy.c: listener, routing, pass-through;
 * peer_proxy_stream.c: P2P responses; peer_proxy_connect.c: CONNECT tunnels and HTTPS
 * interception). Private to them.
 */
#ifndef PEER_PROXY_INT_H
#define PEER_PROXY_INT_H

#include <stddef.h>
#include <sys/queue.h>

#include "df/df_map.h"
#include "df/net_http_parse.h"
#include "df/net_ratelim.h"
#include "df/proto_dfdaemon.h"
#include "peer.h"
#include "peer_proxy_auth.h"
#include "peer_task.h"

#define PEER_PROXY_VERIFIED_MAX 4096 /* verified blob tasks remembered */

struct net_http_req;
struct net_http_server;
struct net_listener;
struct net_tls_ctx;
struct net_tls_mint;
struct peer_proxy_pass;
struct peer_proxy_rule_set;
struct peer_proxy_stream;
struct peer_proxy_tunnel;
struct peer_proxy_verified;

struct peer_proxy {
    struct peer *ctx;
    struct net_http_server *srv;
    struct net_listener *listener;
    struct peer_proxy_rule_set *rules;
    struct net_ratelim rl;         /* proxy.requestRateLimit, in requests */
    struct net_ratelim_log rl_log; /* refusals are logged at most once a second */
    struct peer_task_listener task_listener;
    TAILQ_HEAD(, peer_proxy_stream) streams;
    TAILQ_HEAD(, peer_proxy_pass) passes;
    TAILQ_HEAD(, peer_proxy_tunnel) tunnels;
    /* proxy.hijackHTTPS: CONNECTs to these hosts are intercepted, their TLS terminated by
     * hijack_tls (leaves from hijack_mint) and the inner requests served by hijack_srv. NULL
     * when no host is configured. */
    struct peer_proxy_rule_set *hijack_hosts;
    struct net_tls_mint *hijack_mint;
    struct net_tls_ctx *hijack_tls;
    struct net_http_server *hijack_srv;
    char *auth; /* proxy.basicAuth: the Proxy-Authorization token ("user:password" in
                 * base64), NULL: none asked for */
    /* Blob tasks whose whole content this process checked against the digest their URL
     * names, by task id, with the identity of the data file then (peer_proxy_stream.c);
     * the oldest go first past PEER_PROXY_VERIFIED_MAX. */
    struct df_map verified;
    TAILQ_HEAD(, peer_proxy_verified) verified_order;
    /* The registry's 200s to the HEAD checks before P2P blobs, by blob URL and client
     * credentials, for proxy.registryAuthCacheTTL (peer_proxy_auth.h); values are struct
     * peer_proxy_checked (peer_proxy.c). */
    struct peer_proxy_auth_cache checked;
};

/* Answer an error of ours: status, X-Dragonfly-Error-Type and a one-line text body. */
void peer_proxy_error(struct peer_proxy *px, struct net_http_req *req, int status, const char *type,
                      const char *msg);

/* Free n headers (names and values) and the array; NULL is a no-op. */
void peer_proxy_headers_free(struct net_http_header *h, size_t n);

#define PEER_PROXY_PRIORITY_DEFAULT PROTO_PRIORITY_DEFAULT /* LEVEL6, as upstream's proxy */

/* req's X-Dragonfly-Priority, 0-6; missing or anything else: PEER_PROXY_PRIORITY_DEFAULT. */
int peer_proxy_priority(struct net_http_req *req);

/* Over proxy.requestRateLimit: answered 429 (true), else false. */
bool peer_proxy_is_over_rate(struct peer_proxy *px, struct net_http_req *req);

/*
 * Serve req (GET or HEAD) from path[?query] at upstream ("scheme://host[:port]"): a P2P task
 * when the rules pick it, else passed through. insecure: do not verify the upstream's TLS.
 * req is always answered.
 */
void peer_proxy_route_url(struct peer_proxy *px, struct net_http_req *req, const char *upstream,
                          const char *path, const char *query, bool insecure);

/* ---- peer_proxy_connect.c */

/*
 * Set up HTTPS interception from the config (nothing without proxy.hijackHTTPS.hosts).
 * 0, or DF_E* with a message in err naming the key.
 */
int peer_proxy_hijack_start(struct peer_proxy *px, struct df_error *err);

/* Serve a CONNECT request: a blind tunnel, or interception for a hijackHTTPS host. */
void peer_proxy_connect(struct peer_proxy *px, struct net_http_req *req);

/* Close the tunnels and intercepted connections, free what hijack_start made. */
void peer_proxy_connect_stop(struct peer_proxy *px);

/* Open tunnels and intercepted connections. */
unsigned peer_proxy_connect_count(const struct peer_proxy *px);

/* ---- peer_proxy_stream.c */

/*
 * Serve req from the task dreq asks for (taken), with the headers of the registry's answer
 * to its HEAD (head, taken). Answers req at once when the task cannot be opened.
 */
void peer_proxy_stream_open(struct peer_proxy *px, struct net_http_req *req,
                            struct peer_download_req *dreq, struct net_http_header *head,
                            size_t nhead);

/* Forget every verified blob task (at stop). */
void peer_proxy_verified_reset(struct peer_proxy *px);

/* The streams' task listener events (arg: the struct peer_proxy). */
extern const struct peer_task_events peer_proxy_stream_events;

#endif
