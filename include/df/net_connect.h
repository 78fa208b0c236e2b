/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Outbound TCP and unix-socket connections with a deadline. Names resolve through evdns
 * (never getaddrinfo: the binary is static and the loop must not block). The result is a
 * connected plain socket bufferevent; TLS is layered on by the caller with net_tls. A caller
 * may check each resolved address before it is connected to (the back-to-source policy): the
 * address checked is the very one the socket connects to, so a name that resolves differently
 * a second time (DNS rebinding) cannot slip past the check.
 */
#ifndef DF_NET_CONNECT_H
#define DF_NET_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"

struct bufferevent;
struct event_base;
struct sockaddr;
struct evdns_base;
struct net_connect;

/*
 * Completion: on success bev is connected (TCP_NODELAY set, no callbacks installed,
 * BEV_OPT_CLOSE_ON_FREE) and owned by the callee, rv == 0. On failure bev is NULL and rv
 * is DF_EDNS, DF_ECONNECT or DF_ETIMEDOUT. Called once, on the loop, never from inside
 * net_connect_start(); the handle is freed before the call.
 */
typedef void net_connect_fn(struct bufferevent *bev, int rv, void *arg);

/*
 * A check of one resolved address (sa, salen bytes; the port is set) before it is connected
 * to: 0 allows it, a negative DF_E* refuses it. The first allowed address is connected to;
 * when every address is refused the connect fails with the first refusal's code. Called on
 * the loop, possibly from inside net_connect_start(); it must not cancel the connect.
 */
typedef int net_connect_check_fn(const struct sockaddr *sa, size_t salen, void *arg);

/*
 * Create the resolver for a loop: nameservers from /etc/resolv.conf (none is fine:
 * numeric addresses and /etc/hosts still work). Returns NULL only on OOM.
 */
struct evdns_base *net_dns_new(struct event_base *base);

/* Free a resolver made by net_dns_new; pending lookups fail. NULL is a no-op. */
void net_dns_free(struct evdns_base *dns);

/*
 * Connect to host:port (host is a name, an IPv4/IPv6 literal, or "unix:/path" with port
 * ignored) within timeout_ms. Returns 0 and a handle in *out (may be NULL if the caller
 * will not cancel), or DF_EINVAL (unix path too long, dns NULL for a TCP host) / DF_ENOMEM
 * if it could not start. A connect that fails at once is still reported through cb.
 */
int net_connect_start(struct event_base *base, struct evdns_base *dns, const char *host,
                      uint16_t port, int timeout_ms, net_connect_fn *cb, void *arg,
                      struct net_connect **out);

/*
 * The same, with check (NULL: none) run on every address before connecting to it, with
 * check_arg. A unix path is checked too (its sockaddr is AF_UNIX).
 */
int net_connect_start_checked(struct event_base *base, struct evdns_base *dns, const char *host,
                              uint16_t port, int timeout_ms, net_connect_check_fn *check,
                              void *check_arg, net_connect_fn *cb, void *arg,
                              struct net_connect **out);

/* Abandon a pending connect: cb is not called. The handle is freed. */
void net_connect_cancel(struct net_connect *c);

#endif
