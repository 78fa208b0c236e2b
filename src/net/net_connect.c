/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asynchronous connect: evdns_getaddrinfo, the caller's check of each address, then
 * bufferevent_socket_connect to the first allowed one (or a unix socket), all bounded by one
 * timer. The handle lives until exactly one of {connected, error, timeout, cancel} happens.
 * Failures found inside net_connect_start (a literal resolves at once) are reported from a
 * zero-timeout run of the timer, so the owner's callback never runs inside the start call.
 */
#include "df/net_connect.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "df/log.h"
#include "df/xmalloc.h"

struct net_connect {
    struct bufferevent *bev;
    struct event *timer;
    struct evdns_getaddrinfo_request *req; /* while resolving */
    net_connect_check_fn *check;
    void *check_arg;
    net_connect_fn *cb;
    void *arg;
    uint16_t port;
    int early_rv;    /* failed inside net_connect_start: reported by the timer */
    bool starting;   /* inside net_connect_start */
    bool in_connect; /* inside bufferevent_socket_connect: its return value tells */
    bool is_unix;
};

struct evdns_base *
net_dns_new(struct event_base *base)
{
    struct evdns_base *dns;

    dns = evdns_base_new(base,
                         EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns == NULL) {
        /* No usable resolv.conf: literals and /etc/hosts still resolve. */
        dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (dns != NULL)
            evdns_base_load_hosts(dns, NULL);
    }
    return dns;
}

void
net_dns_free(struct evdns_base *dns)
{
    if (dns != NULL)
        evdns_base_free(dns, 1);
}

static void
net_connect_free(struct net_connect *c)
{
    if (c->req != NULL)
        evdns_getaddrinfo_cancel(c->req); /* runs our callback with EVUTIL_EAI_CANCEL */
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    free(c);
}

static void
net_connect_finish(struct net_connect *c, int rv)
{
    struct bufferevent *bev = NULL;
    net_connect_fn *cb = c->cb;
    void *arg = c->arg;
    int one = 1;

    if (rv == 0) {
        bev = c->bev;
        c->bev = NULL;
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        if (!c->is_unix)
            setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    net_connect_free(c);
    cb(bev, rv, arg);
}

static void
net_connect_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct net_connect *c = arg;

    (void)bev;

    /*
     * libevent reports a connect that fails at once (ENETUNREACH: no route, a broadcast
     * address) from inside bufferevent_socket_connect(): finishing here would free c under
     * net_connect_addr, which sees the failure in the return value.
     */
    if (c->in_connect)
        return;
    net_connect_finish(c, (what & BEV_EVENT_CONNECTED) ? 0 : DF_ECONNECT);
}

/* Fail now, or from the timer while still inside net_connect_start. */
static void
net_connect_fail(struct net_connect *c, int rv)
{
    if (c->starting)
        c->early_rv = rv;
    else
        net_connect_finish(c, rv);
}

/* Check then connect one address; returns 0 once a connect is under way. */
static int
net_connect_addr(struct net_connect *c, const struct sockaddr *sa, size_t salen)
{
    int rv;

    if (c->check != NULL && (rv = c->check(sa, salen, c->check_arg)) != 0)
        return rv;
    c->in_connect = true;
    rv = bufferevent_socket_connect(c->bev, sa, (int)salen);
    c->in_connect = false;
    return rv != 0 ? DF_ECONNECT : 0;
}

static void
net_connect_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct net_connect *c = arg;
    struct sockaddr_storage ss;
    int rv = DF_EDNS, first = 0;

    if (result == EVUTIL_EAI_CANCEL)
        return; /* from net_connect_free: c is going away */
    c->req = NULL;
    for (struct evutil_addrinfo *ai = result == 0 ? res : NULL; ai != NULL; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(ss))
            continue;
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *)(void *)&ss)->sin_port = htons(c->port);
        else
            ((struct sockaddr_in6 *)(void *)&ss)->sin6_port = htons(c->port);
        if ((rv = net_connect_addr(c, (struct sockaddr *)&ss, ai->ai_addrlen)) == 0)
            break;
        if (first == 0)
            first = rv;
        if (rv == DF_ECONNECT)
            break; /* the socket could not even start: no use trying the next one */
    }
    if (res != NULL)
        evutil_freeaddrinfo(res);
    if (rv != 0)
        net_connect_fail(c, first != 0 ? first : rv);
}

static void
net_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_connect *c = arg;

    (void)fd;
    (void)what;
    net_connect_finish(c, c->early_rv != 0 ? c->early_rv : DF_ETIMEDOUT);
}

int
net_connect_start(struct event_base *base, struct evdns_base *dns, const char *host, uint16_t port,
                  int timeout_ms, net_connect_fn *cb, void *arg, struct net_connect **out)
{
    return net_connect_start_checked(base, dns, host, port, timeout_ms, NULL, NULL, cb, arg, out);
}

int
net_connect_start_checked(struct event_base *base, struct evdns_base *dns, const char *host,
                          uint16_t port, int timeout_ms, net_connect_check_fn *check,
                          void *check_arg, net_connect_fn *cb, void *arg, struct net_connect **out)
{
    struct net_connect *c;
    struct sockaddr_un un;
    struct evutil_addrinfo hints;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int rv;

    c = xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->arg = arg;
    c->check = check;
    c->check_arg = check_arg;
    c->port = port;
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(base, net_connect_timeout_cb, c);
    if (c->bev == NULL || c->timer == NULL) {
        rv = DF_ENOMEM;
        goto out;
    }
    bufferevent_setcb(c->bev, NULL, NULL, net_connect_event_cb, c);
    c->starting = true;
    if (strncmp(host, "unix:", 5) == 0) {
        c->is_unix = true;
        memset(&un, 0, sizeof(un));
        un.sun_family = AF_UNIX;
        if (strlen(host + 5) >= sizeof(un.sun_path)) {
            rv = DF_EINVAL;
            goto out;
        }
        memcpy(un.sun_path, host + 5, strlen(host + 5) + 1);
        if ((rv = net_connect_addr(c, (struct sockaddr *)&un, sizeof(un))) != 0)
            c->early_rv = rv;
    } else if (dns == NULL) {
        rv = DF_EINVAL;
        goto out;
    } else {
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_protocol = IPPROTO_TCP;
        /* A literal or an /etc/hosts name is answered inside this call. */
        c->req = evdns_getaddrinfo(dns, host, NULL, &hints, net_connect_resolved_cb, c);
    }
    c->starting = false;
    if (c->early_rv != 0) {
        /* The callback is never run from inside this call: report from the loop. */
        tv.tv_sec = 0;
        tv.tv_usec = 0;
    }
    evtimer_add(c->timer, &tv);
    if (out != NULL)
        *out = c;
    return 0;
out:
    net_connect_free(c);
    return rv;
}

void
net_connect_cancel(struct net_connect *c)
{
    if (c != NULL)
        net_connect_free(c);
}
