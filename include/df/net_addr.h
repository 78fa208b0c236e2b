/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listen/connect address text: "ip:port", "[v6]:port", ":port" (all interfaces),
 * "host:port" (connect only) and "unix:/path". Pure parsing, no name lookups.
 */
#ifndef DF_NET_ADDR_H
#define DF_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"

struct sockaddr;

struct net_addr {
    char host[256]; /* without brackets; empty for ":port"; the path for unix */
    uint16_t port;
    bool is_unix;
};

/*
 * Parse s into *out. A port is required except for unix addresses; default_port (0 = none)
 * fills a missing one. Returns 0 or DF_EINVAL with a message in err.
 */
int net_addr_parse(const char *s, uint16_t default_port, struct net_addr *out,
                   struct df_error *err);

/* The IP of a TCP peer, without the port: what per-source-IP connection caps count. */
struct net_addr_ip {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
};

/*
 * Fill *out with the IP of sa (an IPv4-mapped IPv6 address counts as its IPv4 address).
 * Returns false for anything else (unix sockets, NULL): such peers are not capped.
 */
bool net_addr_ip_from(const struct sockaddr *sa, size_t salen, struct net_addr_ip *out);

/* Format ip as text ("127.0.0.1", "::1") into buf (>= 46 bytes). Returns buf. */
const char *net_addr_ip_format(const struct net_addr_ip *ip, char *buf, size_t len);

/* True when a and b are the same IP. */
bool net_addr_ip_is_equal(const struct net_addr_ip *a, const struct net_addr_ip *b);

/*
 * True when ip is a numeric loopback address (127.0.0.0/8, ::1, or an IPv4-mapped
 * 127.x.y.z): a listener bound there is reachable from this host only. False for anything
 * else, names and "" (all addresses) included.
 */
bool net_addr_is_loopback(const char *ip);

/* Format a socket address as "ip:port", "[v6]:port" or "unix:/path" into buf. */
const char *net_addr_format(const struct sockaddr *sa, size_t salen, char *buf, size_t len);

#endif
