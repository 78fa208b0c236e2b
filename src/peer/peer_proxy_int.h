/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the proxy's files share (peer_proxy.c: listener, routing, pass-through;
 * peer_proxy_stream.c: P2P responses). Private to them.
 */
#ifndef PEER_PROXY_INT_H
#define PEER_PROXY_INT_H

#include <stddef.h>
#include <sys/queue.h>

#include "df/net_http_parse.h"
#include "df/net_ratelim.h"
#include "peer.h"
#include "peer_task.h"

struct net_http_req;
struct net_http_server;
struct net_listener;
struct peer_proxy_pass;
struct peer_proxy_rule_set;
struct peer_proxy_stream;

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
};

/* Answer an error of ours: status, X-Dragonfly-Error-Type and a one-line text body. */
void peer_proxy_error(struct peer_proxy *px, struct net_http_req *req, int status, const char *type,
                      const char *msg);

/* Free n headers (names and values) and the array; NULL is a no-op. */
void peer_proxy_headers_free(struct net_http_header *h, size_t n);

/* ---- peer_proxy_stream.c */

/*
 * Serve req from the task dreq asks for (taken), with the headers of the registry's answer
 * to its HEAD (head, taken). Answers req at once when the task cannot be opened.
 */
void peer_proxy_stream_open(struct peer_proxy *px, struct net_http_req *req,
                            struct peer_download_req *dreq, struct net_http_header *head,
                            size_t nhead);

/* The streams' task listener events (arg: the struct peer_proxy). */
extern const struct peer_task_events peer_proxy_stream_events;

#endif
