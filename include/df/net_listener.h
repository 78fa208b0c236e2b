/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP and unix-socket listeners on libevent. A listener hands each accepted, non-blocking,
 * close-on-exec socket to its owner; TCP sockets get TCP_NODELAY. The bound address is
 * known right after creation, so daemons can bind port 0 and report the real port.
 */
#ifndef DF_NET_LISTENER_H
#define DF_NET_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"

struct event_base;
struct sockaddr;
struct net_listener;

/* Called on the loop thread for each accepted socket; the callee owns fd. */
typedef void net_listener_accept_fn(int fd, const struct sockaddr *peer, size_t peerlen, void *arg);

/*
 * Listen on addr ("ip:port", "[v6]:port", ":port" or "unix:/path"). A unix socket file is
 * replaced if stale and chmod'ed to mode (0 = 0600). Returns 0 and *out, or DF_EINVAL /
 * DF_EIO with a message in err naming the address.
 */
int net_listener_new(struct event_base *base, const char *addr, int mode,
                     net_listener_accept_fn *cb, void *arg, struct net_listener **out,
                     struct df_error *err);

/* The bound address as text ("127.0.0.1:43211", "unix:/path"); borrowed. */
const char *net_listener_addr(const struct net_listener *l);

/* The bound TCP port (0 for unix). */
uint16_t net_listener_port(const struct net_listener *l);

/* Stop accepting (e.g. during graceful shutdown); idempotent. */
void net_listener_disable(struct net_listener *l);

/* Close the socket (unlinking a unix socket path) and free. NULL is a no-op. */
void net_listener_free(struct net_listener *l);

#endif
