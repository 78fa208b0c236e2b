/* SPDX-License-Identifier: Apache-2.0 */
/* Address text parsing and formatting shared by listeners and connectors. */
#include "df/net_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int
net_addr_parse(const char *s, uint16_t default_port, struct net_addr *out, struct df_error *err)
{
    struct net_addr a;
    const char *host, *colon, *end;
    size_t hlen;
    char *e;
    long port;

    memset(&a, 0, sizeof(a));
    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/' || strlen(s + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return df_error_set(err, DF_EINVAL, "address %s: expected unix:/absolute/path", s);
        snprintf(a.host, sizeof(a.host), "%s", s + 5);
        a.is_unix = true;
        *out = a;
        return 0;
    }
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL)
            return df_error_set(err, DF_EINVAL, "address %s: missing ']'", s);
        host = s + 1;
        hlen = (size_t)(end - host);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL)
            return df_error_set(err, DF_EINVAL, "address %s: junk after ']'", s);
    } else {
        host = s;
        colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon)
            return df_error_set(err, DF_EINVAL, "address %s: write IPv6 as [addr]:port", s);
        hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
    }
    if (hlen >= sizeof(a.host))
        return df_error_set(err, DF_EINVAL, "address %s: host too long", s);
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)host[i] <= ' ' || host[i] == '/' || host[i] == '@')
            return df_error_set(err, DF_EINVAL, "address %s: bad character in host", s);
    memcpy(a.host, host, hlen);
    a.host[hlen] = '\0';
    if (colon == NULL) {
        if (default_port == 0)
            return df_error_set(err, DF_EINVAL, "address %s: expected host:port", s);
        a.port = default_port;
    } else {
        port = strtol(colon + 1, &e, 10);
        if (colon[1] == '\0' || *e != '\0' || port < 0 || port > 65535)
            return df_error_set(err, DF_EINVAL, "address %s: bad port", s);
        a.port = (uint16_t)port;
    }
    *out = a;
    return 0;
}

const char *
net_addr_format(const struct sockaddr *sa, size_t salen, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX && salen > offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
        snprintf(buf, len, "unix:%.*s", (int)(salen - offsetof(struct sockaddr_un, sun_path)),
                 un->sun_path);
    } else
        snprintf(buf, len, "unknown");
    return buf;
}

bool
net_addr_ip_from(const struct sockaddr *sa, size_t salen, struct net_addr_ip *out)
{
    memset(out, 0, sizeof(*out));
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        out->family = AF_INET;
        memcpy(out->bytes, &in->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: same host, same cap. */
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            out->family = AF_INET;
            memcpy(out->bytes, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->bytes, in6->sin6_addr.s6_addr, 16);
        }
        return true;
    }
    return false;
}

bool
net_addr_ip_is_equal(const struct net_addr_ip *a, const struct net_addr_ip *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

const char *
net_addr_ip_format(const struct net_addr_ip *ip, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    if (inet_ntop(ip->family == AF_INET6 ? AF_INET6 : AF_INET, ip->bytes, buf, (socklen_t)len) ==
        NULL)
        buf[0] = '\0';
    return buf;
}

bool
net_addr_is_loopback(const char *ip)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, ip, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, ip, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_V4MAPPED(&a6))
        return a6.s6_addr[12] == 127;
    return IN6_IS_ADDR_LOOPBACK(&a6);
}
