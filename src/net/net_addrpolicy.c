/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The back-to-source address policy: CIDR and host-pattern lists, the built-in classes of
 * addresses a remote request may not reach, and the host's own addresses. Addresses are
 * compared as 16-byte IPv6 (IPv4 as ::ffff:a.b.c.d, so a mapped address and its IPv4 form are
 * one value) with a prefix length counted on that form; a v4 CIDR /n is a /96+n here.
 */
#include "df/net_addrpolicy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "df/xmalloc.h"

#define NET_ADDRPOLICY_NAME_MAX 253

/* An address or network: 16 bytes (IPv4 mapped) and a prefix length on them. */
struct net_cidr {
    uint8_t a[16];
    unsigned bits;
};

/* One entry of a list: a network, or a host name (exact, or "*." + suffix). */
struct net_addrpolicy_entry {
    char *text; /* as configured, for messages */
    bool is_name;
    bool wildcard; /* "*.suffix": any name under suffix, not suffix itself */
    char *name;    /* lower case, no trailing dot; the suffix for a wildcard */
    struct net_cidr net;
};

struct net_addrpolicy_list {
    struct net_addrpolicy_entry *v;
    size_t n;
};

struct net_addrpolicy {
    struct net_addrpolicy_list allow, deny;
};

/* What a remote request may not reach unless allowed, first match names the class. */
static const struct {
    const char *cidr;
    const char *what;
} net_addrpolicy_builtin[] = {
        {"0.0.0.0/8", "an unspecified (this-network) address"},
        {"127.0.0.0/8", "a loopback address"},
        {"169.254.0.0/16", "a link-local address (cloud metadata lives here)"},
        {"224.0.0.0/4", "a multicast address"},
        {"255.255.255.255/32", "the broadcast address"},
        {"::/128", "the unspecified address"},
        {"::1/128", "a loopback address"},
        {"::/96", "an IPv4-compatible address"},
        {"fe80::/10", "a link-local address"},
        {"ff00::/8", "a multicast address"},
};

static void
net_cidr_from_v4(const struct in_addr *in, struct net_cidr *c)
{
    memset(c->a, 0, 10);
    c->a[10] = 0xff;
    c->a[11] = 0xff;
    memcpy(c->a + 12, &in->s_addr, 4);
}

static bool
net_cidr_contains(const struct net_cidr *net, const uint8_t a[16])
{
    unsigned full = net->bits / 8, rest = net->bits % 8;
    uint8_t mask;

    if (memcmp(net->a, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    mask = (uint8_t)(0xffu << (8 - rest));
    return (net->a[full] & mask) == (a[full] & mask);
}

/* Parse "addr" or "addr/bits" (v4 or v6). Returns 0, DF_EAGAIN if s is no address at all, or
 * DF_EINVAL with a message. */
static int
net_cidr_parse(const char *s, struct net_cidr *out, struct df_error *err)
{
    char buf[INET6_ADDRSTRLEN + 8], *slash, *e;
    struct in_addr in4;
    struct in6_addr in6;
    struct net_cidr c;
    unsigned long bits;
    bool v4;

    if (strlen(s) >= sizeof(buf))
        return DF_EAGAIN;
    memcpy(buf, s, strlen(s) + 1);
    if ((slash = strchr(buf, '/')) != NULL)
        *slash = '\0';
    if (inet_pton(AF_INET, buf, &in4) == 1) {
        v4 = true;
        net_cidr_from_v4(&in4, &c);
    } else if (inet_pton(AF_INET6, buf, &in6) == 1) {
        v4 = false;
        memcpy(c.a, in6.s6_addr, 16);
    } else {
        return DF_EAGAIN;
    }
    c.bits = 128;
    if (slash != NULL) {
        bits = strtoul(slash + 1, &e, 10);
        if (slash[1] < '0' || slash[1] > '9' || *e != '\0' || bits > (v4 ? 32u : 128u))
            return df_error_set(err, DF_EINVAL, "%s: bad prefix length (0-%d)", s, v4 ? 32 : 128);
        c.bits = (unsigned)bits + (v4 ? 96 : 0);
    }
    for (unsigned i = c.bits; i < 128; i++) {
        if (c.a[i / 8] & (0x80u >> (i % 8)))
            return df_error_set(err, DF_EINVAL, "%s: host bits set past the prefix length", s);
    }
    *out = c;
    return 0;
}

/* A host name (or "*." + name): letters, digits, '-', '_' and dots between labels. */
static int
net_addrpolicy_name_parse(const char *s, struct net_addrpolicy_entry *e, struct df_error *err)
{
    const char *name = s;
    size_t len, label = 0;

    if (strncmp(s, "*.", 2) == 0) {
        e->wildcard = true;
        name = s + 2;
    }
    len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > NET_ADDRPOLICY_NAME_MAX)
        return df_error_set(err, DF_EINVAL, "'%s': expected a CIDR, an address or a host name", s);
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (ch == '.') {
            if (label == 0)
                return df_error_set(err, DF_EINVAL, "'%s': empty label in host name", s);
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_') ||
            ++label > 63)
            return df_error_set(err, DF_EINVAL,
                                "'%s': expected a CIDR, an address, a host name or *.name", s);
    }
    e->is_name = true;
    e->name = xcalloc(1, len + 1);
    for (size_t i = 0; i < len; i++)
        e->name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    return 0;
}

static void
net_addrpolicy_list_reset(struct net_addrpolicy_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].text);
        free(l->v[i].name);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Add one entry (s, len bytes) to l. */
static int
net_addrpolicy_list_add(struct net_addrpolicy_list *l, const char *s, size_t len,
                        struct df_error *err)
{
    struct net_addrpolicy_entry *e;
    char *text = xcalloc(1, len + 1);
    int rv;

    memcpy(text, s, len);
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    e = &l->v[l->n];
    memset(e, 0, sizeof(*e));
    if ((rv = net_cidr_parse(text, &e->net, err)) == DF_EAGAIN)
        rv = net_addrpolicy_name_parse(text, e, err);
    if (rv != 0) {
        free(e->name);
        free(text);
        return rv;
    }
    e->text = text;
    l->n++;
    return 0;
}

/* The entries of v (n strings, each one entry or a comma-separated list of them). */
static int
net_addrpolicy_list_init(struct net_addrpolicy_list *l, const char *what, const char *const *v,
                         size_t n, struct df_error *err)
{
    struct df_error e2;
    const char *p, *comma;
    int rv;

    for (size_t i = 0; i < n; i++) {
        for (p = v[i];; p = comma + 1) {
            comma = strchr(p, ',');
            rv = net_addrpolicy_list_add(l, p, comma != NULL ? (size_t)(comma - p) : strlen(p),
                                         &e2);
            if (rv != 0)
                return df_error_set(err, rv, "%s: %s", what, e2.msg);
            if (comma == NULL)
                break;
        }
    }
    return 0;
}

int
net_addrpolicy_new(const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny,
                   struct net_addrpolicy **out, struct df_error *err)
{
    struct net_addrpolicy *p = xcalloc(1, sizeof(*p));
    int rv;

    if ((rv = net_addrpolicy_list_init(&p->allow, "allow", allow, nallow, err)) != 0 ||
        (rv = net_addrpolicy_list_init(&p->deny, "deny", deny, ndeny, err)) != 0)
        goto out;
    *out = p;
    p = NULL;
    rv = 0;
out:
    net_addrpolicy_free(p);
    return rv;
}

void
net_addrpolicy_free(struct net_addrpolicy *p)
{
    if (p == NULL)
        return;
    net_addrpolicy_list_reset(&p->allow);
    net_addrpolicy_list_reset(&p->deny);
    free(p);
}

/* Does the name pattern e match host (any case, a trailing dot ignored)? */
static bool
net_addrpolicy_name_matches(const struct net_addrpolicy_entry *e, const char *host)
{
    size_t hlen = strlen(host), nlen = strlen(e->name);

    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--;
    if (!e->wildcard)
        return hlen == nlen && strncasecmp(host, e->name, nlen) == 0;
    return hlen > nlen + 1 && host[hlen - nlen - 1] == '.' &&
           strncasecmp(host + hlen - nlen, e->name, nlen) == 0;
}

/* The first entry of l matching the address a or the host name; NULL if none. */
static const struct net_addrpolicy_entry *
net_addrpolicy_match(const struct net_addrpolicy_list *l, const char *host, const uint8_t a[16])
{
    for (size_t i = 0; i < l->n; i++) {
        const struct net_addrpolicy_entry *e = &l->v[i];
        if (e->is_name ? host != NULL && net_addrpolicy_name_matches(e, host)
                       : net_cidr_contains(&e->net, a))
            return e;
    }
    return NULL;
}

/* The address of sa as 16 bytes (IPv4 mapped). Returns false for other families. */
static bool
net_addrpolicy_key(const struct sockaddr *sa, size_t salen, uint8_t a[16])
{
    struct net_cidr c;

    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        net_cidr_from_v4(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, &c);
        memcpy(a, c.a, 16);
        return true;
    }
    if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        memcpy(a, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr, 16);
        return true;
    }
    return false;
}

/* Is a one of this host's interface addresses? Read fresh: interfaces change. */
static bool
net_addrpolicy_is_own(const uint8_t a[16])
{
    struct ifaddrs *ifa = NULL;
    uint8_t k[16];
    bool own = false;

    if (getifaddrs(&ifa) != 0)
        return false;
    for (struct ifaddrs *i = ifa; i != NULL && !own; i = i->ifa_next) {
        if (i->ifa_addr == NULL)
            continue;
        if (net_addrpolicy_key(i->ifa_addr,
                               i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                 : sizeof(struct sockaddr_in6),
                               k))
            own = memcmp(k, a, 16) == 0;
    }
    freeifaddrs(ifa);
    return own;
}

/* Text of the 16-byte address a (IPv4 for a mapped one). */
static const char *
net_addrpolicy_text(const uint8_t a[16], char *buf, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (memcmp(a, mapped, 12) == 0)
        inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
    else
        inet_ntop(AF_INET6, a, buf, (socklen_t)len);
    return buf;
}

int
net_addrpolicy_check(const struct net_addrpolicy *p, const char *host, const struct sockaddr *sa,
                     size_t salen, struct df_error *err)
{
    const struct net_addrpolicy_entry *e;
    char text[INET6_ADDRSTRLEN], who[NET_ADDRPOLICY_NAME_MAX + sizeof(text) + 4];
    struct net_cidr c;
    uint8_t a[16];

    if (!net_addrpolicy_key(sa, salen, a))
        return df_error_set(err, DF_EPERM, "%s: not an IP address", host != NULL ? host : "?");
    net_addrpolicy_text(a, text, sizeof(text));
    if (host != NULL && strcmp(host, text) != 0)
        snprintf(who, sizeof(who), "%.*s (%s)", NET_ADDRPOLICY_NAME_MAX, host, text);
    else
        snprintf(who, sizeof(who), "%s", text);
    if ((e = net_addrpolicy_match(&p->deny, host, a)) != NULL)
        return df_error_set(err, DF_EPERM, "%s is denied by backToSource.deny entry '%s'", who,
                            e->text);
    if (net_addrpolicy_match(&p->allow, host, a) != NULL)
        return 0;
    for (size_t i = 0; i < DF_NELEM(net_addrpolicy_builtin); i++) {
        if (net_cidr_parse(net_addrpolicy_builtin[i].cidr, &c, NULL) == 0 &&
            net_cidr_contains(&c, a))
            return df_error_set(err, DF_EPERM,
                                "%s is %s: not reachable for another host's request unless in "
                                "backToSource.allow",
                                who, net_addrpolicy_builtin[i].what);
    }
    if (net_addrpolicy_is_own(a))
        return df_error_set(err, DF_EPERM,
                            "%s is an address of this host: not reachable for another host's "
                            "request unless in backToSource.allow",
                            who);
    return 0;
}
