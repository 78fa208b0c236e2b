/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CONNECT on the proxy listener (HTTPS_PROXY). For a host that proxy.hijackHTTPS.hosts names,
 * the connection is intercepted: the peer answers 200, terminates the client's TLS with a
 * leaf certificate minted for the host (SNI, else the CONNECT host) and signed by the
 * configured CA, and serves the requests inside with the intercepted host as upstream, under
 * the same rules as any other (blobs through P2P tasks, the rest passed through). Any other
 * host gets a blind tunnel: the peer connects there (each resolved address checked by the
 * back-to-source policy, like every fetch the proxy makes) and relays bytes both ways.
 * Upstream intercepts every CONNECT; operators asked for a per-host choice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/net_addrpolicy.h"
#include "df/net_connect.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/net_tls.h"
#include "df/net_tls_mint.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_proxy_int.h"
#include "peer_proxy_rule.h"

#define PEER_PROXY_CONNECT_TIMEOUT_MS 10000
#define PEER_PROXY_TUNNEL_HIGH        (256 * 1024) /* queued bytes per side before reads stop */
#define PEER_PROXY_TUNNEL_IDLE_S      600          /* a tunnel with no byte either way ends */
#define PEER_PROXY_TUNNEL_MAX         1024         /* open at once, like the server's conns */

static const char peer_proxy_established[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

/*
 * A blind tunnel: connecting (req waits for the answer), then relaying between side[0] (the
 * client) and side[1] (the host). When one side ends, what it sent is delivered to the other
 * before that one is closed too.
 */
struct peer_proxy_tunnel {
    TAILQ_ENTRY(peer_proxy_tunnel) entry;
    struct peer_proxy *px;
    struct net_http_req *req; /* until connected */
    struct net_connect *connect;
    struct bufferevent *side[2];
    uint64_t last_ns;                 /* the last byte relayed, either way */
    char host[NET_HTTP_HOST_MAX + 8]; /* host:port, for logs */
    char name[NET_HTTP_HOST_MAX + 1]; /* the host as the client named it (the policy's) */
};

static void
peer_proxy_tunnel_free(struct peer_proxy_tunnel *t)
{
    TAILQ_REMOVE(&t->px->tunnels, t, entry);
    if (t->connect != NULL)
        net_connect_cancel(t->connect);
    for (int i = 0; i < 2; i++) {
        if (t->side[i] != NULL)
            bufferevent_free(t->side[i]);
    }
    free(t);
}

static int
peer_proxy_tunnel_side(const struct peer_proxy_tunnel *t, const struct bufferevent *bev)
{
    return t->side[0] == bev ? 0 : 1;
}

static void
peer_proxy_tunnel_read_cb(struct bufferevent *bev, void *arg)
{
    struct peer_proxy_tunnel *t = arg;
    struct bufferevent *other = t->side[1 - peer_proxy_tunnel_side(t, bev)];
    struct evbuffer *in = bufferevent_get_input(bev);

    if (other == NULL) { /* the other side is gone: nothing can deliver this */
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    t->px->ctx->proxy_tunnel_bytes += evbuffer_get_length(in);
    t->last_ns = df_time_mono_ns();
    bufferevent_write_buffer(other, in);
    /* The other side's write callback (its output drained) turns reading back on. */
    if (evbuffer_get_length(bufferevent_get_output(other)) >= PEER_PROXY_TUNNEL_HIGH)
        bufferevent_disable(bev, EV_READ);
}

/* bev's output drained: read again from the side that fills it, or end a closing tunnel. */
static void
peer_proxy_tunnel_write_cb(struct bufferevent *bev, void *arg)
{
    struct peer_proxy_tunnel *t = arg;
    struct bufferevent *other = t->side[1 - peer_proxy_tunnel_side(t, bev)];

    if (other == NULL)
        peer_proxy_tunnel_free(t);
    else
        bufferevent_enable(other, EV_READ);
}

static void
peer_proxy_tunnel_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct peer_proxy_tunnel *t = arg;
    int i = peer_proxy_tunnel_side(t, bev);
    struct bufferevent *other = t->side[1 - i];

    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) == 0)
        return;
    /* One side quiet for the idle time is fine while the other moves bytes (a download). */
    if ((what & BEV_EVENT_TIMEOUT) != 0 && other != NULL &&
        df_time_mono_ns() - t->last_ns < (uint64_t)PEER_PROXY_TUNNEL_IDLE_S * 1000000000u) {
        bufferevent_enable(bev, EV_READ);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) != 0)
        log_debug("proxy", "tunnel %s: idle for %d s: closed", t->host, PEER_PROXY_TUNNEL_IDLE_S);
    if ((what & BEV_EVENT_ERROR) != 0)
        log_debug("proxy", "tunnel %s: %s side failed", t->host, i == 0 ? "client" : "host");
    peer_proxy_tunnel_read_cb(bev, t); /* what arrived with the end */
    bufferevent_free(bev);
    t->side[i] = NULL;
    /* The other side gets what is queued for it, then the tunnel ends (its write callback). */
    if (other == NULL || evbuffer_get_length(bufferevent_get_output(other)) == 0)
        peer_proxy_tunnel_free(t);
    else
        bufferevent_disable(other, EV_READ);
}

/* The back-to-source policy's word on each address the host resolves to. */
static int
peer_proxy_tunnel_check_cb(const struct sockaddr *sa, size_t salen, void *arg)
{
    struct peer_proxy_tunnel *t = arg;
    const struct net_addrpolicy *policy = t->px->ctx->src_policy;
    struct df_error err;
    int rv;

    if (policy == NULL || (rv = net_addrpolicy_check(policy, t->name, sa, salen, &err)) == 0)
        return 0;
    log_warnx("%s proxy: CONNECT %s: back-to-source policy: %s", PEER_TAG(t->px->ctx), t->host,
              err.msg);
    return rv;
}

static void
peer_proxy_tunnel_connected_cb(struct bufferevent *bev, int rv, void *arg)
{
    struct peer_proxy_tunnel *t = arg;
    struct peer_proxy *px = t->px;
    struct net_http_req *req = t->req;
    char msg[400];

    t->connect = NULL;
    net_http_req_on_close(req, NULL, NULL);
    t->req = NULL;
    if (rv != 0) {
        snprintf(msg, sizeof(msg), "CONNECT %s: %s", t->host,
                 rv == DF_EPERM ? "refused by the back-to-source policy" : df_strerror(rv));
        peer_proxy_error(px, req, rv == DF_EPERM ? 403 : 502, rv == DF_EPERM ? "proxy" : "backend",
                         msg);
        peer_proxy_tunnel_free(t);
        return;
    }
    t->side[1] = bev;
    if (net_http_req_take_over(req, &t->side[0]) != 0) {
        peer_proxy_error(px, req, 500, "proxy", "cannot take the connection over");
        peer_proxy_tunnel_free(t);
        return;
    }
    px->ctx->proxy_tunnels++;
    log_debug("proxy", "tunnel %s: open", t->host);
    bufferevent_write(t->side[0], peer_proxy_established, sizeof(peer_proxy_established) - 1);
    t->last_ns = df_time_mono_ns();
    for (int i = 0; i < 2; i++) {
        struct timeval idle = {PEER_PROXY_TUNNEL_IDLE_S, 0};

        bufferevent_setcb(t->side[i], peer_proxy_tunnel_read_cb, peer_proxy_tunnel_write_cb,
                          peer_proxy_tunnel_event_cb, t);
        bufferevent_set_timeouts(t->side[i], &idle, NULL);
        bufferevent_enable(t->side[i], EV_READ | EV_WRITE);
    }
    /* Bytes the client sent right after its head (a ClientHello) are waiting already. */
    if (evbuffer_get_length(bufferevent_get_input(t->side[0])) > 0)
        peer_proxy_tunnel_read_cb(t->side[0], t);
}

static void
peer_proxy_tunnel_close_cb(struct net_http_req *req, int reason, void *arg)
{
    (void)req;
    (void)reason;
    peer_proxy_tunnel_free(arg);
}

static unsigned
peer_proxy_tunnel_count(const struct peer_proxy *px)
{
    const struct peer_proxy_tunnel *t;
    unsigned n = 0;

    TAILQ_FOREACH (t, &px->tunnels, entry)
        n++;
    return n;
}

static void
peer_proxy_tunnel_start(struct peer_proxy *px, struct net_http_req *req,
                        const struct net_http_target *target)
{
    struct peer_proxy_tunnel *t;

    if (peer_proxy_tunnel_count(px) >= PEER_PROXY_TUNNEL_MAX) {
        peer_proxy_error(px, req, 503, "proxy", "too many open tunnels");
        return;
    }
    t = xcalloc(1, sizeof(*t));

    t->px = px;
    t->req = req;
    snprintf(t->name, sizeof(t->name), "%s", target->host);
    snprintf(t->host, sizeof(t->host), target->host_is_ipv6 ? "[%s]:%u" : "%s:%u", target->host,
             (unsigned)target->port);
    TAILQ_INSERT_TAIL(&px->tunnels, t, entry);
    if (net_connect_start_checked(px->ctx->base, px->ctx->dns, target->host, target->port,
                                  PEER_PROXY_CONNECT_TIMEOUT_MS, peer_proxy_tunnel_check_cb, t,
                                  peer_proxy_tunnel_connected_cb, t, &t->connect) != 0) {
        t->connect = NULL;
        peer_proxy_error(px, req, 502, "backend", "cannot start the connection");
        peer_proxy_tunnel_free(t);
        return;
    }
    net_http_req_on_close(req, peer_proxy_tunnel_close_cb, t);
}

/* ---- interception */

/* Does proxy.hijackHTTPS.hosts name host (a name or address, no port)? */
static bool
peer_proxy_hijack_is_match(const struct peer_proxy *px, const char *host)
{
    return px->hijack_hosts != NULL && peer_proxy_rule_set_is_match(px->hijack_hosts, host);
}

static void
peer_proxy_hijack(struct peer_proxy *px, struct net_http_req *req,
                  const struct net_http_target *target)
{
    struct bufferevent *bev, *tls;
    char peer[80];

    snprintf(peer, sizeof(peer), "%s",
             net_http_req_peer(req) != NULL ? net_http_req_peer(req) : "");
    if (net_http_req_take_over(req, &bev) != 0) {
        peer_proxy_error(px, req, 500, "proxy", "cannot take the connection over");
        return;
    }
    px->ctx->proxy_hijacks++;
    bufferevent_write(bev, peer_proxy_established, sizeof(peer_proxy_established) - 1);
    /* A client that sends no SNI (an address) gets a leaf for the CONNECT host. */
    if ((tls = net_tls_wrap(px->hijack_tls, bev, target->host)) == NULL) {
        log_warnx("%s proxy: CONNECT %s: cannot start TLS", PEER_TAG(px->ctx), target->host);
        bufferevent_free(bev);
        return;
    }
    log_debug("proxy", "CONNECT %s:%u: intercepted", target->host, (unsigned)target->port);
    net_http_server_adopt(px->hijack_srv, tls, peer);
}

/*
 * A GET or HEAD inside an intercepted connection: to the host its Host header names, over
 * https. That host must be one interception is configured for (a client may not use a
 * connection minted for one host to reach another that would have been tunnelled blind).
 */
static void
peer_proxy_hijack_route(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    struct peer_proxy *px = arg;
    const char *host = net_http_req_header(req, "Host"), *rest = net_route_param(m, "rest");
    struct net_http_target t;
    const char *after;
    char *hostport, *upstream, *path;
    int rv;

    if (host == NULL) {
        peer_proxy_error(px, req, 400, "proxy", "an intercepted request needs a Host header");
        return;
    }
    /* the Host header as a CONNECT target: host[:port] ("[v6]:port"), 443 by default */
    after = strrchr(host, ']') != NULL ? strrchr(host, ']') : host;
    hostport = strchr(after, ':') != NULL ? xstrdup(host) : xasprintf("%s:443", host);
    rv = net_http_target_parse(hostport, true, &t);
    free(hostport);
    if (rv != 0) {
        peer_proxy_error(px, req, 400, "proxy", "bad Host header");
        return;
    }
    if (!peer_proxy_hijack_is_match(px, t.host)) {
        peer_proxy_error(px, req, 421, "proxy", "Host is not an intercepted host");
        return;
    }
    upstream = t.port == 443 ? xasprintf(t.host_is_ipv6 ? "https://[%s]" : "https://%s", t.host)
                             : xasprintf(t.host_is_ipv6 ? "https://[%s]:%u" : "https://%s:%u",
                                         t.host, (unsigned)t.port);
    path = xasprintf("/%s", rest != NULL ? rest : "");
    peer_proxy_route_url(px, req, upstream, path, net_http_req_query(req),
                         px->ctx->cfg.proxy_hijack_insecure);
    free(path);
    free(upstream);
}

/* GET routes answer HEAD too; other methods get 405 (bodies are not forwarded). */
static const struct net_route peer_proxy_hijack_routes[] = {
        {"GET", "/", peer_proxy_hijack_route},
        {"GET", "/*rest", peer_proxy_hijack_route},
};

static void
peer_proxy_hijack_handler(struct net_http_req *req, void *arg)
{
    if (!peer_proxy_is_over_rate(arg, req))
        net_route_dispatch(req, peer_proxy_hijack_routes, DF_NELEM(peer_proxy_hijack_routes), arg);
}

void
peer_proxy_connect(struct peer_proxy *px, struct net_http_req *req)
{
    struct net_http_target target;

    if (net_http_req_target(req, &target) != 0 || target.scheme[0] != '\0') {
        peer_proxy_error(px, req, 400, "proxy", "CONNECT needs a host:port target");
        return;
    }
    if (peer_proxy_hijack_is_match(px, target.host))
        peer_proxy_hijack(px, req, &target);
    else
        peer_proxy_tunnel_start(px, req, &target);
}

int
peer_proxy_hijack_start(struct peer_proxy *px, struct df_error *err)
{
    const struct peer_config *cfg = &px->ctx->cfg;
    struct net_tls_mint_opts mo;
    struct net_tls_opts to;
    struct net_http_server_opts so;
    int rv;

    if (cfg->proxy_hijack_hosts.n == 0)
        return 0;
    if ((rv = peer_proxy_rule_set_new_for("proxy.hijackHTTPS.hosts", &cfg->proxy_hijack_hosts,
                                          &px->hijack_hosts, err)) != 0)
        return rv;
    memset(&mo, 0, sizeof(mo));
    mo.ca_file = cfg->proxy_hijack_cert;
    mo.ca_key_file = cfg->proxy_hijack_key;
    if ((rv = net_tls_mint_new(&mo, &px->hijack_mint, err)) != 0)
        return rv;
    memset(&to, 0, sizeof(to));
    to.mint = px->hijack_mint;
    if ((rv = net_tls_ctx_new(true, &to, &px->hijack_tls, err)) != 0)
        return rv;
    memset(&so, 0, sizeof(so));
    so.name = "proxy-https";
    so.max_body = 64 * 1024;
    so.request_timeout_ms = 3600 * 1000;
    if ((rv = net_http_server_new(px->ctx->base, &so, peer_proxy_hijack_handler, px,
                                  &px->hijack_srv)) != 0)
        return df_error_set(err, rv, "proxy https server: %s", df_strerror(rv));
    return 0;
}

void
peer_proxy_connect_stop(struct peer_proxy *px)
{
    struct peer_proxy_tunnel *t;

    net_http_server_free(px->hijack_srv);
    px->hijack_srv = NULL;
    while ((t = TAILQ_FIRST(&px->tunnels)) != NULL)
        peer_proxy_tunnel_free(t);
    net_tls_ctx_free(px->hijack_tls);
    px->hijack_tls = NULL;
    net_tls_mint_free(px->hijack_mint);
    px->hijack_mint = NULL;
    peer_proxy_rule_set_free(px->hijack_hosts);
    px->hijack_hosts = NULL;
}

unsigned
peer_proxy_connect_count(const struct peer_proxy *px)
{
    return (px->hijack_srv != NULL ? net_http_server_conn_count(px->hijack_srv) : 0) +
           peer_proxy_tunnel_count(px);
}
