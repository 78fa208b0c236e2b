/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asynchronous connect: bufferevent_socket_connect_hostname over evdns, or a unix socket,
 * bounded by a timer. The handle lives until exactly one of {connected, error, timeout,
 * cancel} happens.
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

#include "df/log.h"
#include "df/xmalloc.h"

struct net_connect {
    struct bufferevent *bev;
    struct event *timer;
    net_connect_fn *cb;
    void *arg;
    int early_rv;  /* failed inside net_connect_start: reported by the timer */
    bool starting; /* inside net_connect_start: events wait for the timer */
    bool early_connected;
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

    /*
     * libevent reports a connect that fails at once (ENETUNREACH: no route, a broadcast
     * address) or a DNS failure from inside bufferevent_socket_connect_hostname(): finishing
     * here would free c under net_connect_start. Note it; the timer reports it.
     */
    if (c->starting) {
        if (what & BEV_EVENT_CONNECTED)
            c->early_connected = true;
        else
            c->early_rv = bufferevent_socket_get_dns_error(bev) != 0 ? DF_EDNS : DF_ECONNECT;
        return;
    }
    if (what & BEV_EVENT_CONNECTED) {
        net_connect_finish(c, 0);
        return;
    }
    if (bufferevent_socket_get_dns_error(bev) != 0)
        net_connect_finish(c, DF_EDNS);
    else
        net_connect_finish(c, DF_ECONNECT);
}

static void
net_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_connect *c = arg;

    (void)fd;
    (void)what;
    if (c->early_connected)
        net_connect_finish(c, 0);
    else
        net_connect_finish(c, c->early_rv != 0 ? c->early_rv : DF_ETIMEDOUT);
}

int
net_connect_start(struct event_base *base, struct evdns_base *dns, const char *host, uint16_t port,
                  int timeout_ms, net_connect_fn *cb, void *arg, struct net_connect **out)
{
    struct net_connect *c;
    struct sockaddr_un un;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int rv;

    c = xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->arg = arg;
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
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&un, sizeof(un)) != 0)
            c->early_rv = DF_ECONNECT;
    } else if (dns == NULL) {
        rv = DF_EINVAL;
        goto out;
    } else if (bufferevent_socket_connect_hostname(c->bev, dns, AF_UNSPEC, host, port) != 0) {
        c->early_rv = DF_ECONNECT;
    }
    c->starting = false;
    if (c->early_rv != 0 || c->early_connected) {
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
