/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry reads the counters struct peer keeps (the task core and the swarm add to
 * them) when a page is rendered; the task core feeds the duration histogram. Upstream's
 * names come first, so dashboards built for Dragonfly's dfdaemon work unchanged; the
 * dragonfly_peer_* names stay for the scripts and tests written against them.
 */
#include "peer_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "df/df_metrics.h"
#include "df/df_metrics_proc.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"
#include "df/net_route.h"
#include "peer_p2p.h"

#define PEER_METRICS_PREFIX "dragonfly_client_"

static double
peer_metrics_tasks(void *arg)
{
    const struct peer *ctx = arg;

    return (double)(ctx->tasks_done + ctx->tasks_failed + ctx->cache_hits);
}

/* Bytes of the file system under the data dir: its size, or what is used of it. */
static double
peer_metrics_disk(const struct peer *ctx, bool used)
{
    struct statvfs vfs;

    if (statvfs(ctx->cfg.data_dir, &vfs) != 0)
        return NAN;
    return (double)(used ? vfs.f_blocks - vfs.f_bfree : vfs.f_blocks) * (double)vfs.f_frsize;
}

static double
peer_metrics_disk_total(void *arg)
{
    return peer_metrics_disk(arg, false);
}

static double
peer_metrics_disk_used(void *arg)
{
    return peer_metrics_disk(arg, true);
}

/* Upstream's families: names, types and labels as dragonfly-client-metric exports them. */
static void
peer_metrics_upstream(struct peer *ctx, struct df_metrics *r)
{
    static const char *const type_label[] = {"type", NULL};
    static const char *const traffic[] = {"BACK_TO_SOURCE", "REMOTE_PEER", "LOCAL_PEER"};
    const uint64_t *traffic_p[] = {&ctx->bytes_from_source, &ctx->bytes_from_peers,
                                   &ctx->bytes_local};
    struct df_metrics_family *f;

    f = df_metrics_family_new(r, DF_METRICS_COUNTER, PEER_METRICS_PREFIX "download_traffic",
                              "Bytes downloaded, by where they came from (the origin, another "
                              "peer, this peer's cache).",
                              type_label);
    for (size_t i = 0; i < DF_NELEM(traffic); i++) {
        const char *v[] = {traffic[i]};

        df_metrics_series_bind_u64(df_metrics_series_get(f, v), traffic_p[i]);
    }
    df_metrics_u64_new(r, DF_METRICS_COUNTER, PEER_METRICS_PREFIX "upload_traffic",
                       "Bytes of pieces uploaded to other peers.", &ctx->bytes_uploaded);
    f = df_metrics_family_new(r, DF_METRICS_COUNTER, PEER_METRICS_PREFIX "download_task_total",
                              "Download tasks ended (finished, failed or answered from the "
                              "cache).",
                              NULL);
    df_metrics_series_bind_fn(df_metrics_series_get(f, NULL), peer_metrics_tasks, ctx);
    df_metrics_u64_new(r, DF_METRICS_COUNTER, PEER_METRICS_PREFIX "download_task_failure_total",
                       "Download tasks that failed.", &ctx->tasks_failed);
    /* exp(1, 2, 24) as upstream: 1 ms .. 2^23 ms (2.3 h) */
    f = df_metrics_histogram_exp_new(r, PEER_METRICS_PREFIX "download_task_duration_milliseconds",
                                     "Time from the start of a download task to its end, of "
                                     "tasks that finished.",
                                     NULL, 1, 2, 24);
    ctx->task_duration = df_metrics_series_get(f, NULL);
    df_metrics_u64_new(r, DF_METRICS_COUNTER,
                       PEER_METRICS_PREFIX "proxy_request_via_dfdaemon_total",
                       "Proxy requests answered through P2P tasks.", &ctx->proxy_p2p);
    df_metrics_u64_new(r, DF_METRICS_COUNTER, PEER_METRICS_PREFIX "proxy_request_failure_total",
                       "Proxy requests that failed.", &ctx->proxy_errors);
    df_metrics_fn_new(r, PEER_METRICS_PREFIX "disk_space_total",
                      "Bytes of the file system holding the data directory.",
                      peer_metrics_disk_total, ctx);
    df_metrics_fn_new(r, PEER_METRICS_PREFIX "disk_usage_space_total",
                      "Bytes used on the file system holding the data directory.",
                      peer_metrics_disk_used, ctx);
}

/* The names this project exported before it took upstream's. */
static void
peer_metrics_legacy(struct peer *ctx, struct df_metrics *r)
{
    const struct {
        const char *name, *help;
        const uint64_t *p;
    } counters[] = {
            {"dragonfly_peer_source_bytes_total", "bytes fetched from the source",
             &ctx->bytes_from_source},
            {"dragonfly_peer_p2p_bytes_total", "bytes fetched from other peers",
             &ctx->bytes_from_peers},
            {"dragonfly_peer_upload_bytes_total", "bytes of pieces sent to other peers",
             &ctx->bytes_uploaded},
            {"dragonfly_peer_upload_pieces_total", "pieces sent to other peers",
             &ctx->pieces_uploaded},
            {"dragonfly_peer_tasks_done_total", "tasks finished", &ctx->tasks_done},
            {"dragonfly_peer_tasks_failed_total", "tasks failed", &ctx->tasks_failed},
            {"dragonfly_peer_cache_hits_total", "downloads answered from the cache",
             &ctx->cache_hits},
            {"dragonfly_peer_proxy_p2p_requests_total", "proxy requests answered from a P2P task",
             &ctx->proxy_p2p},
            {"dragonfly_peer_proxy_pass_requests_total",
             "proxy requests passed through to the upstream", &ctx->proxy_pass},
            {"dragonfly_peer_proxy_error_requests_total", "proxy requests that failed",
             &ctx->proxy_errors},
            {"dragonfly_peer_proxy_p2p_bytes_total", "content bytes the proxy sent from P2P tasks",
             &ctx->proxy_p2p_bytes},
            {"dragonfly_peer_proxy_pass_bytes_total",
             "body bytes the proxy passed through from upstreams", &ctx->proxy_pass_bytes},
            {"dragonfly_peer_proxy_tunnel_requests_total", "CONNECT requests tunnelled blind",
             &ctx->proxy_tunnels},
            {"dragonfly_peer_proxy_hijack_requests_total",
             "CONNECT requests whose TLS the proxy terminated (hijackHTTPS)", &ctx->proxy_hijacks},
            {"dragonfly_peer_proxy_tunnel_bytes_total", "bytes relayed by blind CONNECT tunnels",
             &ctx->proxy_tunnel_bytes},
            {"dragonfly_peer_proxy_registry_checks_total",
             "HEADs asking the registry whether a client may read a P2P blob", &ctx->proxy_checks},
            {"dragonfly_peer_proxy_registry_check_hits_total",
             "P2P blob requests the registry's remembered 200 let through without a HEAD "
             "(proxy.registryAuthCacheTTL)",
             &ctx->proxy_check_hits},
    };

    for (size_t i = 0; i < DF_NELEM(counters); i++)
        df_metrics_u64_new(r, DF_METRICS_COUNTER, counters[i].name, counters[i].help,
                           counters[i].p);
}

static void
peer_metrics_route(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    const struct peer *ctx = arg;

    (void)m;
    net_route_reply_metrics(req, ctx->metrics);
}

/* Ready: serving (not stopping) and, with schedulers, one of them answering. */
static void
peer_metrics_readyz_route(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    const struct peer *ctx = arg;
    char why[200], text[256];

    (void)m;
    if (ctx->stopping) {
        net_route_reply_text(req, 503, "stopping\n");
        return;
    }
    if (!peer_p2p_sched_is_reachable(ctx, why, sizeof(why))) {
        snprintf(text, sizeof(text), "%s\n", why);
        net_route_reply_text(req, 503, text);
        return;
    }
    net_route_reply_text(req, 200, "OK");
}

static void
peer_metrics_handler(struct net_http_req *req, void *arg)
{
    static const struct net_route routes[] = {
            {"GET", "/metrics", peer_metrics_route},
            {"GET", "/healthy", net_route_healthy},
            {"GET", "/readyz", peer_metrics_readyz_route},
    };

    net_route_dispatch(req, routes, DF_NELEM(routes), arg);
}

int
peer_metrics_start(struct peer *ctx, const char *bind_host, struct df_error *err)
{
    struct net_http_server_opts opts;
    char addr[128];
    int rv;

    ctx->metrics = df_metrics_new();
    peer_metrics_upstream(ctx, ctx->metrics);
    df_metrics_proc_register(ctx->metrics, PEER_METRICS_PREFIX "version");
    peer_metrics_legacy(ctx, ctx->metrics);
    memset(&opts, 0, sizeof(opts));
    opts.name = "metrics";
    opts.max_body = 1;
    opts.max_conns = 64;
    if ((rv = net_http_server_new(ctx->base, &opts, peer_metrics_handler, ctx,
                                  &ctx->metrics_http)) != 0)
        return df_error_set(err, rv, "metrics server: %s", df_strerror(rv));
    snprintf(addr, sizeof(addr), strchr(bind_host, ':') != NULL ? "[%s]:%" PRId64 : "%s:%" PRId64,
             bind_host, ctx->cfg.metrics_port);
    return net_listener_new(ctx->base, addr, 0, net_http_server_accept_cb, ctx->metrics_http,
                            &ctx->metrics_listener, err);
}

const char *
peer_metrics_addr(const struct peer *ctx)
{
    return ctx->metrics_listener != NULL ? net_listener_addr(ctx->metrics_listener) : NULL;
}

void
peer_metrics_stop(struct peer *ctx)
{
    if (ctx->metrics_listener != NULL)
        net_listener_disable(ctx->metrics_listener);
}

void
peer_metrics_free(struct peer *ctx)
{
    net_listener_free(ctx->metrics_listener);
    ctx->metrics_listener = NULL;
    net_http_server_free(ctx->metrics_http);
    ctx->metrics_http = NULL;
    df_metrics_free(ctx->metrics);
    ctx->metrics = NULL;
    ctx->task_duration = NULL;
}
