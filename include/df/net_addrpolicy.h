/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a download that another host asked for may connect (the back-to-source policy against
 * SSRF). A policy is built once from the operator's allow and deny lists; each entry is a
 * CIDR ("10.0.0.0/8", "fd00::/8"), an address ("127.0.0.2", "::1") or a host name pattern
 * ("origin.example.com", "*.example.com"). A check decides for one resolved address and the
 * URL host it was resolved from:
 *
 *   1. an entry of the deny list matches (the address or the host): denied;
 *   2. an entry of the allow list matches: allowed;
 *   3. the address is loopback, link-local, unspecified, multicast, broadcast or one of this
 *      host's own interface addresses: denied;
 *   4. anything else: allowed.
 *
 * So deny wins over allow, and allow is how an operator opens a default-denied address. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is checked as the IPv4 address it carries.
 */
#ifndef DF_NET_ADDRPOLICY_H
#define DF_NET_ADDRPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "df/df_err.h"

struct sockaddr;
struct net_addrpolicy;

/*
 * Build a policy from allow (nallow strings) and deny (ndeny strings), each an entry or a
 * comma-separated list of entries; the strings are copied.
 * Returns 0 and *out (free with net_addrpolicy_free), or DF_EINVAL with a message in err that
 * names the bad entry (a CIDR with host bits set, a prefix too long, a malformed name).
 */
int net_addrpolicy_new(const char *const *allow, size_t nallow, const char *const *deny,
                       size_t ndeny, struct net_addrpolicy **out, struct df_error *err);

/* Free a policy; NULL is a no-op. */
void net_addrpolicy_free(struct net_addrpolicy *p);

/*
 * May a connection made for host (the URL's host: a name or an address literal; may be NULL)
 * go to the address sa (salen bytes, AF_INET or AF_INET6)? Returns 0 if so, or DF_EPERM with a
 * one-line reason in err. The host's own interface addresses are read (getifaddrs) at each
 * call, so an address added while running is covered. Any thread.
 */
int net_addrpolicy_check(const struct net_addrpolicy *p, const char *host,
                         const struct sockaddr *sa, size_t salen, struct df_error *err);

#endif
