/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly peer`: the daemon's configuration table, start-up (data dir lock, metadata db,
 * RPC on a port and a unix socket, upload server, ready file), the idle exit and graceful
 * stop. One peer owns a data dir: it holds an flock on DF_PEER_LOCK_FILE for its whole life,
 * taken before the socket or the db is touched. Everything after start-up runs on the one
 * event loop the peer borrows (peer_new); `dragonfly peer` runs one alone in its process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_conf.h"
#include "df/df_fs.h"
#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_metrics.h"
#include "df/df_proc.h"
#include "df/df_time.h"
#include "df/df_units.h"
#include "df/df_work.h"
#include "df/log.h"
#include "df/net_addr.h"
#include "df/net_addrpolicy.h"
#include "df/net_connect.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"
#include "df/net_tls.h"
#include "df/roles.h"
#include "df/rpc_mgr_link.h"
#include "df/rpc_server.h"
#include "df/proto_mgr.h"
#include "df/rpc_tls.h"
#include "df/store_db.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_metrics.h"
#include "peer_manager.h"
#include "peer_p2p.h"
#include "peer_rpc.h"
#include "peer_task.h"
#include "peer_proxy.h"
#include "peer_upload.h"

#define F(x) offsetof(struct peer_config, x)

/* In the order of enum store_data_sync. */
static const char *const peer_sync_modes[] = {"none", "piece", NULL};
static const char *const peer_proxy_default_rules[] = {"blobs/sha256.*", NULL};

static const struct df_conf_entry peer_entries[] = {
        {.key = "ip",
         .type = DF_CONF_STRING,
         .offset = F(ip),
         .metavar = "IP",
         .help = "address to advertise and bind (default: first non-loopback address; "
                 "listeners then bind all addresses)"},
        {.key = "hostname",
         .type = DF_CONF_STRING,
         .offset = F(hostname),
         .help = "host name to advertise (default: the system's)"},
        {.key = "dataDir",
         .type = DF_CONF_STRING,
         .offset = F(data_dir),
         .def = "/var/lib/dragonfly",
         .metavar = "DIR",
         .help = "cache and metadata directory (created 0700)"},
        {.key = "rpcPort",
         .type = DF_CONF_INT,
         .offset = F(rpc_port),
         .def = "-1",
         .min = -1,
         .max = 65535,
         .help = "RPC port (-1: 65000, or 65006 with --seed; 0: any)"},
        {.key = "uploadPort",
         .type = DF_CONF_INT,
         .offset = F(upload_port),
         .def = "-1",
         .min = -1,
         .max = 65535,
         .help = "upload server port (-1: 65002, or 65008 with --seed; 0: any)"},
        {.key = "metricsPort",
         .type = DF_CONF_INT,
         .offset = F(metrics_port),
         .def = "-1",
         .min = -1,
         .max = 65535,
         .help = "port of /metrics, /healthy and /readyz (-1: 4002, or 4008 with --seed; 0: "
                 "any)"},
        {.key = "socket",
         .type = DF_CONF_STRING,
         .offset = F(socket),
         .metavar = "PATH",
         .help = "unix socket for local clients (default: <data-dir>/dfdaemon.sock)"},
        {.key = "socketMode",
         .type = DF_CONF_STRING,
         .offset = F(socket_mode),
         .def = "0600",
         .metavar = "MODE",
         .help = "file mode of the unix socket (octal; 0660 with socketGroup: that group may "
                 "use the peer; the socket must then lie outside the 0700 data dir)"},
        {.key = "socketGroup",
         .type = DF_CONF_STRING,
         .offset = F(socket_group),
         .metavar = "GROUP",
         .help = "group of the unix socket, a name from /etc/group or a number (default: the "
                 "peer's own)"},
        {.key = "seed", .type = DF_CONF_BOOL, .offset = F(seed), .help = "run as a seed peer"},
        {.key = "cache.quota",
         .flag = "cache-quota",
         .type = DF_CONF_SIZE,
         .offset = F(cache_quota),
         .def = "0",
         .help = "evict least recently used tasks above this many bytes (0: no quota)"},
        {.key = "cache.ttl",
         .flag = "cache-ttl",
         .type = DF_CONF_DURATION,
         .offset = F(cache_ttl),
         .def = "168h",
         .help = "evict tasks not used for this long (0: never)"},
        {.key = "upload.rateLimit",
         .flag = "upload-rate-limit",
         .type = DF_CONF_RATE,
         .offset = F(upload_rate),
         .def = "0",
         .help = "host-wide upload limit (0: unlimited)"},
        {.key = "upload.congestion",
         .flag = "upload-congestion",
         .type = DF_CONF_STRING,
         .offset = F(upload_congestion),
         .def = "cubic",
         .metavar = "ALGO",
         .help = "TCP congestion control for piece uploads (\"\": the system's); BBR stalls "
                 "when a child's ACKs queue behind its own uploads"},
        {.key = "upload.maxConns",
         .type = DF_CONF_INT,
         .offset = F(upload_max_conns),
         .def = "1024",
         .min = 1,
         .max = 1000000,
         .help = "upload connections open at once"},
        {.key = "upload.maxConnsPerIP",
         .type = DF_CONF_INT,
         .offset = F(upload_max_conns_ip),
         .def = "64",
         .min = 1,
         .max = 1000000,
         .help = "upload connections from one source IP"},
        {.key = "download.rateLimit",
         .flag = "download-rate-limit",
         .type = DF_CONF_RATE,
         .offset = F(download_rate),
         .def = "0",
         .help = "host-wide download limit (0: unlimited)"},
        {.key = "download.concurrency",
         .type = DF_CONF_INT,
         .offset = F(concurrency),
         .def = "4",
         .min = 1,
         .max = PEER_MAX_WORKERS,
         .help = "pieces fetched at once per task"},
        {.key = "source.retries",
         .type = DF_CONF_INT,
         .offset = F(retries),
         .def = "5",
         .min = 0,
         .max = 100,
         .help = "retries of a piece after transient failures"},
        {.key = "source.connectTimeout",
         .type = DF_CONF_DURATION,
         .offset = F(connect_timeout),
         .def = "10s",
         .min = 100,
         .max = 3600000,
         .help = "origin connect timeout"},
        {.key = "source.idleTimeout",
         .type = DF_CONF_DURATION,
         .offset = F(idle_timeout),
         .def = "30s",
         .min = 100,
         .max = 3600000,
         .help = "abandon an origin response idle this long"},
        {.key = "source.minRate",
         .type = DF_CONF_RATE,
         .offset = F(min_rate),
         .def = "16KiB/s",
         .help = "abandon an origin body slower than this (0: off)"},
        {.key = "source.caFile",
         .type = DF_CONF_STRING,
         .offset = F(ca_file),
         .metavar = "PATH",
         .help = "trust anchors for https origins (default: the system bundle)"},
        RPC_TLS_CONF_ENTRIES(F(tls)),
        RPC_JOIN_CONF_ENTRIES(F(join), "where the certificate of --join-token is kept "
                                       "(default: the data dir)"),
        {.key = "tls.pieces",
         .type = DF_CONF_BOOL,
         .offset = F(tls_pieces),
         .def = "true",
         .help = "with tls.cert: the upload port and piece fetches use mTLS too (false: "
                 "plaintext pieces, still checked against the seeds' digests; the same on "
                 "every host of the cluster)"},
        {.key = "storage.sync",
         .flag = "storage-sync",
         .type = DF_CONF_ENUM,
         .offset = F(sync),
         .def = "none",
         .choices = peer_sync_modes,
         .help = "piece: fdatasync each piece before recording it (survives power loss); "
                 "none: a process crash still loses nothing"},
        {.key = "scheduler",
         .type = DF_CONF_LIST,
         .offset = F(schedulers),
         .metavar = "ADDR",
         .help = "scheduler ip:port (repeatable or comma-separated; in failover order)"},
        RPC_MGR_LINK_CONF_ENTRIES(
                F(manager), F(manager_refresh),
                "the manager's RPC address (host:65003): ask it for the schedulers instead of "
                "--scheduler; a seed also registers there and keeps alive",
                "how often the schedulers are asked for again and health-checked"),
        {.key = "manager.schedulerClusterId",
         .flag = "scheduler-cluster-id",
         .type = DF_CONF_INT,
         .offset = F(manager_cluster_id),
         .def = "0",
         .min = 0,
         .max = INT64_MAX,
         .help = "use this scheduler cluster (0: the one the manager's searcher ranks first)"},
        {.key = "manager.seedPeerClusterId",
         .flag = "seed-peer-cluster-id",
         .type = DF_CONF_INT,
         .offset = F(manager_seed_cluster_id),
         .def = "1",
         .min = 1,
         .max = INT64_MAX,
         .help = "a seed's seed-peer cluster in the manager"},
        {.key = "host.idc",
         .flag = "idc",
         .type = DF_CONF_STRING,
         .offset = F(idc),
         .metavar = "IDC",
         .help = "this host's IDC, for the manager's searcher"},
        {.key = "host.location",
         .flag = "location",
         .type = DF_CONF_STRING,
         .offset = F(location),
         .metavar = "LOC",
         .help = "this host's location (\"country|province|city\"), for the manager's searcher"},
        {.key = "noBackToSource",
         .flag = "no-back-to-source",
         .type = DF_CONF_BOOL,
         .offset = F(no_back_to_source),
         .help = "fail a download rather than fetch from the origin when no scheduler "
                 "or parent can serve it"},
        {.key = "backToSource.allow",
         .flag = "back-to-source-allow",
         .type = DF_CONF_LIST,
         .offset = F(bts_allow),
         .metavar = "NET",
         .help = "CIDRs, addresses and host names (*.example.com) that downloads other hosts "
                 "ask for may fetch from although denied by default (loopback, link-local, "
                 "this host's addresses)"},
        {.key = "backToSource.deny",
         .flag = "back-to-source-deny",
         .type = DF_CONF_LIST,
         .offset = F(bts_deny),
         .metavar = "NET",
         .help = "CIDRs, addresses and host names that downloads other hosts ask for may never "
                 "fetch from (wins over backToSource.allow)"},
        {.key = "announceInterval",
         .type = DF_CONF_DURATION,
         .offset = F(announce_interval),
         .def = "30s",
         .min = 1000,
         .max = 3600000,
         .help = "how often the host is announced to the schedulers"},
        {.key = "proxy.listen",
         .flag = "proxy-listen",
         .type = DF_CONF_STRING,
         .offset = F(proxy_listen),
         .metavar = "ADDR",
         .help = "proxy / registry mirror listener: \"off\", a port, or ip:port (default: "
                 "port 65001, or 65007 with --seed, on the peer's address; 0: any port)"},
        {.key = "proxy.registryMirror.addr",
         .flag = "registry-mirror",
         .type = DF_CONF_STRING,
         .offset = F(proxy_mirror),
         .def = "https://index.docker.io",
         .metavar = "URL",
         .help = "upstream registry of mirror requests (/v2/...) that name none with an "
                 "X-Dragonfly-Registry header or containerd's ns= parameter"},
        {.key = "proxy.registryMirror.insecure",
         .flag = "registry-mirror-insecure",
         .type = DF_CONF_BOOL,
         .offset = F(proxy_mirror_insecure),
         .help = "do not verify the TLS certificates of upstream registries"},
        {.key = "proxy.requestRateLimit",
         .flag = "proxy-request-rate-limit",
         .type = DF_CONF_INT,
         .offset = F(proxy_rate),
         .def = "4000",
         .min = 0,
         .max = 1000000,
         .metavar = "N",
         .help = "proxy requests per second (a second's worth may come at once); more get 429 "
                 "(0: unlimited)"},
        {.key = "proxy.registryAuthCacheTTL",
         .flag = "proxy-registry-auth-cache-ttl",
         .type = DF_CONF_DURATION,
         .offset = F(proxy_auth_ttl),
         .def = "60s",
         .min = 0,
         .max = 3600000,
         .help = "before a P2P blob is served, the registry must accept the client's "
                 "credentials for it (a HEAD of the blob); its 200 is trusted this long per "
                 "blob and credentials, refusals never (0: check every request)"},
        {.key = "proxy.registries",
         .flag = "proxy-registry",
         .type = DF_CONF_LIST,
         .offset = F(proxy_registries),
         .metavar = "NS=URL",
         .help = "a registry containerd names with ns=NS is reached at URL instead of "
                 "https://NS (ghcr.io=https://ghcr.io, lab:5000=http://10.0.0.9:5000)"},
        {.key = "proxy.rules",
         .flag = "proxy-rule",
         .type = DF_CONF_LIST,
         .offset = F(proxy_rules),
         .flags = DF_CONF_OBJECTS,
         .def_list = peer_proxy_default_rules,
         .metavar = "RULE",
         .help = "GETs whose upstream URL (without query) matches one of these rules go "
                 "through P2P tasks; the rest is passed through. A rule is a regex, or an "
                 "object {\"regex\", \"useTLS\": fetch http URLs over https, \"redirect\": "
                 "\"host[:port]\" to fetch from, \"filteredQueryParams\": [names left out of "
                 "the task id]}"},
        {.key = "proxy.basicAuth.username",
         .flag = "proxy-user",
         .type = DF_CONF_STRING,
         .offset = F(proxy_auth_user),
         .metavar = "NAME",
         .help = "with proxy.basicAuth.password: every proxy request needs Proxy-Authorization "
                 "Basic with these credentials, else 407"},
        {.key = "proxy.basicAuth.password",
         .flag = "proxy-password",
         .type = DF_CONF_STRING,
         .flags = DF_CONF_SECRET,
         .offset = F(proxy_auth_password),
         .metavar = "SECRET",
         .help = "the password of proxy.basicAuth.username"},
        {.key = "proxy.hijackHTTPS.cert",
         .flag = "proxy-hijack-cert",
         .type = DF_CONF_STRING,
         .offset = F(proxy_hijack_cert),
         .metavar = "PATH",
         .help = "CA certificate (PEM, `dragonfly cert ca`) that signs the leaf certificates "
                 "minted for intercepted CONNECT hosts; clients must trust it"},
        {.key = "proxy.hijackHTTPS.key",
         .flag = "proxy-hijack-key",
         .type = DF_CONF_STRING,
         .offset = F(proxy_hijack_key),
         .metavar = "PATH",
         .help = "the private key of proxy.hijackHTTPS.cert"},
        {.key = "proxy.hijackHTTPS.hosts",
         .flag = "proxy-hijack-host",
         .type = DF_CONF_LIST,
         .offset = F(proxy_hijack_hosts),
         .metavar = "REGEX",
         .help = "CONNECT requests whose host name matches one of these regexes are "
                 "intercepted (TLS terminated here, inner requests follow the rules); other "
                 "CONNECTs are blind tunnels"},
        {.key = "proxy.hijackHTTPS.insecure",
         .flag = "proxy-hijack-insecure",
         .type = DF_CONF_BOOL,
         .offset = F(proxy_hijack_insecure),
         .help = "do not verify the TLS certificates of intercepted hosts"},
        {.key = "readyFile",
         .type = DF_CONF_STRING,
         .offset = F(ready_file),
         .metavar = "PATH",
         .help = "write the bound addresses as JSON here once listening"},
        RPC_SERVER_CONF_ENTRIES(F(rpc), "64"),
        LOG_CONF_ENTRIES(F(log_level), F(log_file)),
        LOG_FORMAT_CONF_ENTRY(F(log_format)),
        {.key = "log.debug",
         .flag = "log-debug",
         .type = DF_CONF_STRING,
         .offset = F(log_debug),
         .metavar = "MODS",
         .help = "debug modules (\"peer,rpc\" or \"all\")"},
        {.key = "idleExit",
         .type = DF_CONF_DURATION,
         .offset = F(idle_exit),
         .def = "0",
         .help = "stop cleanly after this long with no task, no output being written and "
                 "no connection (0: never; " PEER_AUTO_IDLE_EXIT " when auto-started)"},
        {.key = "autoStarted",
         .type = DF_CONF_BOOL,
         .offset = F(auto_started),
         .help = "started by `dragonfly get`: ip defaults to " PEER_AUTO_IP " (loopback "
                 "only), idleExit to " PEER_AUTO_IDLE_EXIT ", proxy.listen to off and "
                 "metricsPort to 0 (any)"},
};

static const struct df_conf_spec peer_spec = {
        .cmd = "dragonfly peer",
        .summary = "The peer daemon: downloads tasks for `dragonfly get`, keeps verified pieces "
                   "in its cache and serves them to other peers.",
        .entries = peer_entries,
        .n_entries = DF_NELEM(peer_entries),
        .size = sizeof(struct peer_config),
};

/* The first up, non-loopback IPv4 address (then IPv6), or 127.0.0.1. */
static char *
peer_main_default_ip(void)
{
    struct ifaddrs *ifa = NULL, *i;
    char buf[INET6_ADDRSTRLEN];
    char *v6 = NULL, *out = NULL;

    if (getifaddrs(&ifa) == 0) {
        for (i = ifa; i != NULL && out == NULL; i = i->ifa_next) {
            if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                continue;
            if (i->ifa_addr->sa_family == AF_INET) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, buf,
                          sizeof(buf));
                out = xstrdup(buf);
            } else if (i->ifa_addr->sa_family == AF_INET6 && v6 == NULL) {
                struct in6_addr *a = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
                if (!IN6_IS_ADDR_LINKLOCAL(a)) {
                    inet_ntop(AF_INET6, a, buf, sizeof(buf));
                    v6 = xstrdup(buf);
                }
            }
        }
        freeifaddrs(ifa);
    }
    if (out == NULL)
        out = v6 != NULL ? v6 : xstrdup("127.0.0.1");
    else
        free(v6);
    return out;
}

/* The back-to-source policy for downloads other hosts ask for, from backToSource.*. */
static int
peer_main_policy(const struct peer_config *cfg, struct net_addrpolicy **out, struct df_error *err)
{
    struct df_error e2;
    int rv;

    rv = net_addrpolicy_new((const char *const *)cfg->bts_allow.v, cfg->bts_allow.n,
                            (const char *const *)cfg->bts_deny.v, cfg->bts_deny.n, out, &e2);
    if (rv != 0)
        return df_error_set(err, rv, "backToSource.%s", e2.msg);
    return 0;
}

/*
 * Who may use the unix socket, from socketMode and socketGroup. A mode that lets others in
 * is refused for a socket inside the data dir: that dir is 0700, so they could never reach
 * it, and the operator would not know why.
 */
static int
peer_main_socket_perm(const struct peer_config *cfg, struct net_listener_perm *perm,
                      struct df_error *err)
{
    const char *m = cfg->socket_mode;
    size_t dlen = strlen(cfg->data_dir);
    struct df_error e2;
    unsigned long mode;
    char *end;
    int rv;

    errno = 0;
    mode = strtoul(m, &end, 8);
    if (*m < '0' || *m > '7' || *end != '\0' || errno != 0 || mode > 0777)
        return df_error_set(err, DF_EINVAL,
                            "socketMode: expected an octal mode like 0660, got "
                            "\"%.32s\"",
                            m);
    perm->mode = (int)mode;
    perm->gid = (gid_t)-1;
    if (cfg->socket_group != NULL &&
        (rv = df_proc_group_lookup(cfg->socket_group, NULL, &perm->gid, &e2)) != 0)
        return df_error_set(err, rv, "socketGroup: %s", e2.msg);
    if ((mode & 077) != 0 && strncmp(cfg->socket, cfg->data_dir, dlen) == 0 &&
        cfg->socket[dlen] == '/')
        return df_error_set(err, DF_EINVAL,
                            "socketMode %04lo lets others use the socket, but %s is inside the "
                            "data dir (0700: its owner only): set socket to a path outside it, "
                            "e.g. /run/dragonfly/dfdaemon.sock",
                            mode, cfg->socket);
    return 0;
}

/*
 * The stop has finished: tell who asked. A peer that stopped by itself (idleExit) with
 * nobody asking ends the loop: only a peer alone in its process sets idleExit.
 */
static void
peer_main_stopped(struct peer *ctx)
{
    void (*done)(void *) = ctx->stop_done;

    ctx->stopped = true;
    if (ctx->stop_timer != NULL)
        event_del(ctx->stop_timer);
    ctx->stop_done = NULL;
    if (done != NULL)
        done(ctx->stop_done_arg);
    else
        event_base_loopexit(ctx->base, NULL);
}

/* While stopping: done once our workers (output copies, hashing) and LeaveHost are. */
static void
peer_main_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer *ctx = arg;
    unsigned jobs = df_work_pending(ctx->hash_pool) + df_work_pending(ctx->out_pool);

    (void)fd;
    (void)what;
    if ((jobs == 0 && peer_p2p_leaving(ctx) == 0) || df_time_wall_ms() >= ctx->stop_deadline_ms) {
        if (jobs > 0)
            log_warnx("%s: stopping with %u worker jobs still running", PEER_TAG(ctx), jobs);
        peer_main_stopped(ctx);
    }
}

/* Begin a graceful stop (SIGTERM, idleExit); peer_main_stopped runs when it has finished. */
static void
peer_main_stop(struct peer *ctx)
{
    struct timeval tick = {0, 20000};

    if (ctx->stopping)
        return;
    ctx->stopping = true;
    peer_manager_free(ctx); /* a seed's keepalive ends: the manager marks it inactive */
    peer_p2p_stop(ctx);
    peer_proxy_stop(ctx); /* first: its streams hold tasks */
    net_listener_disable(ctx->upload_listener);
    peer_metrics_stop(ctx);
    rpc_server_shutdown(ctx->rpc);
    /* Unfinished pieces are dropped: only recorded pieces count, so metadata stays exact. */
    peer_task_shutdown(ctx);
    ctx->stop_deadline_ms = df_time_wall_ms() + PEER_STOP_WAIT_MS;
    ctx->stop_timer = event_new(ctx->base, -1, EV_PERSIST, peer_main_stop_cb, ctx);
    if (ctx->stop_timer == NULL) {
        peer_main_stopped(ctx);
        return;
    }
    event_add(ctx->stop_timer, &tick);
    peer_main_stop_cb(-1, 0, ctx);
}

void
peer_stop(struct peer *ctx, void (*done)(void *), void *arg)
{
    if (ctx->stopped) {
        done(arg);
        return;
    }
    ctx->stop_done = done;
    ctx->stop_done_arg = arg;
    peer_main_stop(ctx);
}

/*
 * Work that keeps a peer with idleExit alive: a task (running, or writing outputs on a
 * worker), a connection to the RPC server (a `get` waiting, a child syncing pieces) or to
 * the upload server (pieces being sent), a relay waiting for bytes.
 */
static bool
peer_main_is_busy(const struct peer *ctx)
{
    return !TAILQ_EMPTY(&ctx->tasks) || df_work_pending(ctx->hash_pool) > 0 ||
           df_work_pending(ctx->out_pool) > 0 || rpc_server_conn_count(ctx->rpc) > 0 ||
           net_http_server_conn_count(ctx->upload) > 0 || !TAILQ_EMPTY(&ctx->relays) ||
           peer_proxy_conn_count(ctx) > 0;
}

/* Stop the way SIGTERM does once nothing has kept the peer busy for idleExit. */
static void
peer_main_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer *ctx = arg;
    uint64_t now = df_time_mono_ns();
    char dur[DF_UNITS_FMT_MAX];

    (void)fd;
    (void)what;
    if (ctx->stopping)
        return;
    if (peer_main_is_busy(ctx)) {
        ctx->busy_ns = now;
        return;
    }
    if (now - ctx->busy_ns < (uint64_t)ctx->cfg.idle_exit * 1000000u)
        return;
    log_info("%s: idle for %s: stopping", PEER_TAG(ctx),
             df_units_duration_format(ctx->cfg.idle_exit, dur, sizeof(dur)));
    peer_main_stop(ctx);
}

/* Check for work a few times per idleExit period (between 50 ms and 5 s apart). */
static int
peer_main_idle_start(struct peer *ctx, struct df_error *err)
{
    int64_t tick = ctx->cfg.idle_exit / 4;
    struct timeval tv;

    if (ctx->cfg.idle_exit == 0)
        return 0;
    tick = tick < 50 ? 50 : tick > 5000 ? 5000 : tick;
    tv.tv_sec = (time_t)(tick / 1000);
    tv.tv_usec = (suseconds_t)(tick % 1000 * 1000);
    ctx->idle_timer = event_new(ctx->base, -1, EV_PERSIST, peer_main_idle_cb, ctx);
    if (ctx->idle_timer == NULL)
        return df_error_set(err, DF_ENOMEM, "out of memory");
    ctx->busy_ns = df_time_mono_ns();
    event_add(ctx->idle_timer, &tv);
    return 0;
}

/*
 * Make the data dir ours: create it, flock DF_PEER_LOCK_FILE without waiting and write our pid
 * into it. The lock lives as long as ctx->lock_fd (the component). When another peer holds
 * it, err names that peer's pid and the result is DF_EEXIST.
 */
static int
peer_main_lock(struct peer *ctx, struct df_error *err)
{
    char path[4096], pid[32];
    long other = 0;
    ssize_t n;
    int fd = -1, rv;

    if ((rv = df_fs_dir_ensure_private(ctx->cfg.data_dir, err)) != 0)
        goto out;
    snprintf(path, sizeof(path), "%s/%s", ctx->cfg.data_dir, DF_PEER_LOCK_FILE);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1) {
        rv = df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        if (errno != EWOULDBLOCK) {
            rv = df_error_set(err, DF_EIO, "%s: flock: %s", path, strerror(errno));
            goto out;
        }
        /* The holder writes its pid just after locking: it may not be there yet. */
        n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        other = strtol(pid, NULL, 10);
        if (other > 0)
            rv = df_error_set(err, DF_EEXIST, "data dir %s is in use by another peer (pid %ld)",
                              ctx->cfg.data_dir, other);
        else
            rv = df_error_set(err, DF_EEXIST, "data dir %s is in use by another peer",
                              ctx->cfg.data_dir);
        goto out;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid)) {
        rv = df_error_set(err, DF_EIO, "%s: write: %s", path, strerror(errno));
        goto out;
    }
    ctx->lock_fd = fd;
    fd = -1;
    rv = 0;
out:
    if (fd != -1)
        close(fd);
    return rv;
}

static void
peer_main_gc_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    peer_task_gc(arg);
}

void
peer_addrs(const struct peer *ctx, cJSON *doc)
{
    cJSON_AddStringToObject(doc, "rpc", rpc_server_addr(ctx->rpc, 0));
    cJSON_AddStringToObject(doc, "socket", rpc_server_addr(ctx->rpc, 1));
    cJSON_AddStringToObject(doc, "upload", net_listener_addr(ctx->upload_listener));
    cJSON_AddStringToObject(doc, "metrics", peer_metrics_addr(ctx));
    if (peer_proxy_addr(ctx) != NULL)
        cJSON_AddStringToObject(doc, "proxy", peer_proxy_addr(ctx));
    cJSON_AddStringToObject(doc, "ip", ctx->cfg.ip);
    cJSON_AddStringToObject(doc, "bind", ctx->cfg.bind_all ? "" : ctx->cfg.ip);
    cJSON_AddStringToObject(doc, "hostId", ctx->host_id);
}

/* Start everything on ctx->base (the data dir locked); on failure a message is in err. */
static int
peer_main_start(struct peer *ctx, struct df_error *err)
{
    static const char *const upload_alpn[] = {"http/1.1", NULL};
    struct net_tls_opts topts;
    struct rpc_server_opts ropts;
    struct rpc_join_host join = {0};
    char path[4096], addr[300];
    const char *bind_host;
    struct timeval gc = {60, 0};
    int rv;

    if ((rv = peer_main_policy(&ctx->cfg, &ctx->src_policy, err)) != 0 ||
        (rv = peer_main_socket_perm(&ctx->cfg, &ctx->sock_perm, err)) != 0)
        return rv;
    snprintf(path, sizeof(path), "%s/metadata.db", ctx->cfg.data_dir);
    if ((rv = store_db_open(path, &ctx->db, err)) != 0)
        return rv;
    ctx->dns = net_dns_new(ctx->base);
    if (ctx->dns != NULL) {
        ctx->hash_pool = df_work_pool_new(ctx->base, df_work_ncpu());
        ctx->out_pool = df_work_pool_new(ctx->base, PEER_OUTPUT_THREADS);
    }
    if (ctx->hash_pool == NULL || ctx->out_pool == NULL)
        return df_error_set(err, DF_ENOMEM, "cannot create the event loop");
    memset(&topts, 0, sizeof(topts));
    topts.ca_file = ctx->cfg.ca_file;
    if ((rv = net_tls_ctx_new(false, &topts, &ctx->tls, err)) != 0)
        return rv;
    topts.insecure = true;
    if ((rv = net_tls_ctx_new(false, &topts, &ctx->tls_insecure, err)) != 0)
        return rv;
    ctx->src_env.pool = net_fetch_pool_new();
    ctx->src_env.base = ctx->base;
    ctx->src_env.dns = ctx->dns;
    ctx->src_env.tls = ctx->tls;
    ctx->src_env.tls_insecure = ctx->tls_insecure;
    join.role = ctx->cfg.seed ? NET_TLS_ROLE_SEED : NET_TLS_ROLE_PEER;
    join.host = ctx->cfg.hostname;
    join.cluster_id = ctx->cfg.manager_cluster_id;
    join.get_ca_path = PROTO_MGR_GET_CA_CERTIFICATE;
    join.issue_path = PROTO_MGR_ISSUE_CERTIFICATE;
    if ((rv = rpc_join_ensure(&ctx->cfg.join, &join, err)) != 0 ||
        (rv = rpc_tls_setup(&ctx->cfg.tls, "peer", &ctx->tls_server, &ctx->tls_cluster, err)) != 0)
        return rv;
    /* The upload port speaks HTTP/1.1: a client asking ALPN for h2 must not be told yes. */
    if (ctx->cfg.tls_pieces &&
        (rv = rpc_tls_server_new(&ctx->cfg.tls, upload_alpn, &ctx->tls_upload, err)) != 0)
        return rv;
    {
        /* what renewals reload and revocations apply to: every context with our identity */
        struct net_tls_ctx *own[] = {ctx->tls_server, ctx->tls_cluster, ctx->tls_upload};

        if ((rv = rpc_join_renewer_new(ctx->base, &ctx->cfg.join, &join, own, DF_NELEM(own),
                                       &ctx->renewer, err)) != 0)
            return rv;
        if (ctx->cfg.manager != NULL && ctx->tls_cluster != NULL &&
            (rv = rpc_join_revoker_new(ctx->base, ctx->dns, ctx->cfg.manager, ctx->tls_cluster,
                                       PROTO_MGR_LIST_REVOKED_CERTIFICATES,
                                       ctx->cfg.join.revoke_refresh, own, DF_NELEM(own), "peer",
                                       &ctx->revoker, err)) != 0)
            return rv;
    }
    ctx->src_env.tls_cluster = ctx->tls_cluster;
    if (ctx->tls_server != NULL && ctx->tls_upload == NULL)
        log_warnx("%s: tls.pieces is false: pieces travel in plaintext, and anyone who can "
                  "reach the upload port can read them",
                  PEER_TAG(ctx));
    ctx->src_env.connect_timeout_ms = (int)ctx->cfg.connect_timeout;
    ctx->src_env.head_timeout_ms = (int)ctx->cfg.idle_timeout;
    ctx->src_env.idle_timeout_ms = (int)ctx->cfg.idle_timeout;
    ctx->src_env.min_rate = (uint64_t)ctx->cfg.min_rate;
    ctx->src_env.policy_name = "back-to-source policy";
    net_ratelim_init(&ctx->down_rl, (uint64_t)ctx->cfg.download_rate,
                     (uint64_t)ctx->cfg.download_rate / 10 + 65536, df_time_mono_ns());
    net_ratelim_init(&ctx->up_rl, (uint64_t)ctx->cfg.upload_rate,
                     (uint64_t)ctx->cfg.upload_rate / 10 + 65536, df_time_mono_ns());
    ctx->host_id = df_id_host_new(ctx->cfg.ip, ctx->cfg.hostname, ctx->cfg.seed);

    memset(&ropts, 0, sizeof(ropts));
    rpc_server_conf_apply(&ctx->cfg.rpc, &ropts);
    ctx->rpc = rpc_server_new(ctx->base, &ropts);
    if ((rv = peer_rpc_register(ctx)) != 0)
        return df_error_set(err, rv, "rpc: cannot register methods");
    bind_host = ctx->cfg.bind_all ? "" : ctx->cfg.ip;
    snprintf(addr, sizeof(addr), strchr(bind_host, ':') != NULL ? "[%s]:%" PRId64 : "%s:%" PRId64,
             bind_host, ctx->cfg.rpc_port);
    if ((rv = rpc_server_listen(ctx->rpc, addr, ctx->tls_server, err)) != 0)
        return rv;
    snprintf(addr, sizeof(addr), "unix:%s", ctx->cfg.socket);
    if ((rv = rpc_server_listen_local(ctx->rpc, addr, &ctx->sock_perm, err)) != 0)
        return rv;
    if ((rv = peer_upload_start(ctx, bind_host, err)) != 0 ||
        (rv = peer_metrics_start(ctx, bind_host, err)) != 0)
        return rv;
    if ((rv = peer_proxy_start(ctx, bind_host, err)) != 0)
        return rv;
    if ((rv = peer_p2p_init(ctx, err)) != 0)
        return rv;
    if ((rv = peer_manager_start(ctx, err)) != 0)
        return rv;
    ctx->gc_timer = event_new(ctx->base, -1, EV_PERSIST, peer_main_gc_cb, ctx);
    if (ctx->gc_timer == NULL)
        return df_error_set(err, DF_ENOMEM, "out of memory");
    event_add(ctx->gc_timer, &gc);
    if ((rv = peer_main_idle_start(ctx, err)) != 0)
        return rv;
    peer_task_gc(ctx);
    log_info("%s: %s ready: rpc %s, socket %s, upload %s, metrics %s, data %s", PEER_TAG(ctx),
             ctx->host_id, rpc_server_addr(ctx->rpc, 0), ctx->cfg.socket,
             net_listener_addr(ctx->upload_listener), peer_metrics_addr(ctx), ctx->cfg.data_dir);
    return 0;
}

void
peer_free(struct peer *ctx)
{
    if (ctx == NULL)
        return;
    peer_upload_relay_stop(ctx);
    peer_proxy_stop(ctx);
    peer_task_shutdown(ctx);
    peer_manager_free(ctx);
    peer_p2p_shutdown(ctx);
    net_fetch_pool_free(ctx->src_env.pool);
    ctx->src_env.pool = NULL;
    df_work_pool_free(ctx->hash_pool); /* first: their threads are done with the rest */
    df_work_pool_free(ctx->out_pool);
    rpc_server_free(ctx->rpc);
    net_listener_free(ctx->upload_listener);
    net_http_server_free(ctx->upload);
    peer_metrics_free(ctx);
    if (ctx->gc_timer != NULL)
        event_free(ctx->gc_timer);
    if (ctx->stop_timer != NULL)
        event_free(ctx->stop_timer);
    if (ctx->idle_timer != NULL)
        event_free(ctx->idle_timer);
    net_tls_ctx_free(ctx->tls);
    net_tls_ctx_free(ctx->tls_insecure);
    rpc_join_revoker_free(ctx->revoker);
    rpc_join_renewer_free(ctx->renewer);
    net_tls_ctx_free(ctx->tls_server);
    net_tls_ctx_free(ctx->tls_cluster);
    net_tls_ctx_free(ctx->tls_upload);
    net_addrpolicy_free(ctx->src_policy);
    net_dns_free(ctx->dns);
    store_db_close(ctx->db);
    free(ctx->host_id);
    if (ctx->lock_fd != -1)
        close(ctx->lock_fd); /* last: the data dir is free once everything above is closed */
    free(ctx);
}

/* A peer on base, its data dir not locked yet. */
static struct peer *
peer_alloc(struct event_base *base, const struct peer_config *cfg)
{
    struct peer *ctx = xcalloc(1, sizeof(*ctx));

    TAILQ_INIT(&ctx->tasks);
    TAILQ_INIT(&ctx->relays);
    ctx->lock_fd = -1;
    ctx->base = base;
    ctx->cfg = *cfg;
    return ctx;
}

struct peer *
peer_new(struct event_base *base, const struct peer_config *cfg, struct df_error *err)
{
    struct peer *ctx = peer_alloc(base, cfg);

    if (peer_main_lock(ctx, err) != 0 || peer_main_start(ctx, err) != 0) {
        peer_free(ctx);
        return NULL;
    }
    return ctx;
}

/*
 * Load the config: defaults < file < flags. `dragonfly seed` is `dragonfly peer --seed` (the
 * flag goes first, so a later --no-seed still wins). An auto-started peer (autoStarted, from
 * the file or a flag) loads again over its own defaults (loopback ip, idleExit), so that its
 * file and flags still win over them. *spec is the table used; its entries are *entries,
 * which the caller frees.
 */
static int
peer_main_load(bool as_seed, struct peer_config *cfg, int argc, char **argv,
               struct df_conf_args *args, struct df_conf_spec *spec, struct df_conf_entry **entries,
               struct df_error *err)
{
    static char seed_flag[] = "--seed";
    struct df_conf_entry *e = xmalloc(sizeof(peer_entries));
    char **av = xcalloc((size_t)argc + 2, sizeof(*av));
    int ac = 0, rv;

    memcpy(e, peer_entries, sizeof(peer_entries));
    *entries = e;
    *spec = peer_spec;
    spec->entries = e;
    av[ac++] = argv[0];
    if (as_seed) {
        spec->cmd = "dragonfly seed";
        spec->summary = "The seed peer (`dragonfly peer --seed`): the peer that goes back to "
                        "source for the swarm, on ports 65006 (RPC) and 65008 (upload) unless "
                        "set.";
        av[ac++] = seed_flag;
    }
    for (int i = 1; i < argc; i++)
        av[ac++] = argv[i];
    if ((rv = df_conf_load(spec, cfg, ac, av, args, err)) != 0 || args->help || !cfg->auto_started)
        goto out;
    for (size_t i = 0; i < DF_NELEM(peer_entries); i++) {
        if (strcmp(e[i].key, "ip") == 0)
            e[i].def = PEER_AUTO_IP;
        else if (strcmp(e[i].key, "idleExit") == 0)
            e[i].def = PEER_AUTO_IDLE_EXIT;
        else if (strcmp(e[i].key, "proxy.listen") == 0)
            e[i].def = "off"; /* a `get` needs no proxy, and must not take its port */
        else if (strcmp(e[i].key, "metricsPort") == 0)
            e[i].def = "0"; /* nor the metrics port of the host's own peer */
    }
    df_conf_args_reset(args);
    df_conf_reset(spec, cfg);
    rv = df_conf_load(spec, cfg, ac, av, args, err);
out:
    free(av);
    return rv;
}

/*
 * Fill in what depends on other keys (ip, ports, socket, hostname) and check what the
 * table cannot: the back-to-source policy, the socket's mode and group, TLS. Returns 0 or
 * DF_EINVAL with a message in err.
 */
static int
peer_main_config_finish(struct peer_config *cfg, struct df_error *err)
{
    struct net_addrpolicy *policy = NULL;
    struct net_listener_perm perm;
    char host[256];
    int rv;

    cfg->bind_all = cfg->ip == NULL || cfg->ip[0] == '\0';
    if (cfg->bind_all) {
        free(cfg->ip);
        cfg->ip = peer_main_default_ip();
    }
    if (cfg->rpc_port < 0)
        cfg->rpc_port = cfg->seed ? PEER_SEED_RPC_PORT : PEER_DEFAULT_RPC_PORT;
    if (cfg->upload_port < 0)
        cfg->upload_port = cfg->seed ? PEER_SEED_UPLOAD_PORT : PEER_DEFAULT_UPLOAD_PORT;
    if (cfg->metrics_port < 0)
        cfg->metrics_port = cfg->seed ? PEER_SEED_METRICS_PORT : PEER_DEFAULT_METRICS_PORT;
    if (cfg->socket == NULL)
        cfg->socket = xasprintf("%s/dfdaemon.sock", cfg->data_dir);
    if (cfg->hostname == NULL) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        cfg->hostname = xstrdup(host);
    }
    /* Listening on loopback only and talking to no scheduler, nobody else reaches us. */
    rv = peer_main_policy(cfg, &policy, err);
    if (rv == 0)
        rv = peer_main_socket_perm(cfg, &perm, err);
    if (rv == 0)
        rv = peer_proxy_config_check(cfg, err);
    if (rv == 0 && cfg->manager != NULL && cfg->schedulers.n > 0)
        rv = df_error_set(err, DF_EINVAL,
                          "--manager and --scheduler: give one (the manager names the schedulers)");
    if (rv == 0)
        rv = rpc_join_conf_apply(&cfg->join, &cfg->tls, cfg->data_dir, err);
    if (rv == 0)
        rv = rpc_tls_conf_check(&cfg->tls,
                                !cfg->bind_all && net_addr_is_loopback(cfg->ip) &&
                                        cfg->schedulers.n == 0 && cfg->manager == NULL,
                                err);
    net_addrpolicy_free(policy);
    return rv != 0 ? DF_EINVAL : 0;
}

/*
 * Load and check a configuration as `dragonfly peer` (or `dragonfly seed`) takes it.
 * Returns 0 with *out, or 2 with a message in err and *cmd naming the command; --help and
 * --check-config are in *args (reset by the caller).
 */
static int
peer_config_load_args(bool as_seed, int argc, char **argv, struct peer_config **out,
                      struct df_conf_args *args, struct df_conf_spec *spec, struct df_error *err)
{
    struct peer_config *cfg = xcalloc(1, sizeof(*cfg));
    struct df_conf_entry *entries = NULL;
    int rv;

    memset(args, 0, sizeof(*args));
    *out = NULL;
    rv = peer_main_load(as_seed, cfg, argc, argv, args, spec, &entries, err);
    free(entries);
    spec->entries = peer_entries;
    if (rv != 0) {
        free(cfg);
        return 2;
    }
    if (!args->help && peer_main_config_finish(cfg, err) != 0) {
        df_conf_args_reset(args);
        peer_config_free(cfg);
        return 2;
    }
    *out = cfg;
    return 0;
}

struct peer_config *
peer_config_new(bool seed, int argc, char **argv, struct df_error *err)
{
    struct peer_config *cfg;
    struct df_conf_args args;
    struct df_conf_spec spec;

    if (peer_config_load_args(seed, argc, argv, &cfg, &args, &spec, err) != 0)
        return NULL;
    if (args.help || args.check_config) {
        df_error_set(err, DF_EINVAL, "--help and --check-config are not component flags");
        peer_config_free(cfg);
        cfg = NULL;
    }
    df_conf_args_reset(&args);
    return cfg;
}

void
peer_config_free(struct peer_config *cfg)
{
    if (cfg == NULL)
        return;
    df_conf_reset(&peer_spec, cfg);
    free(cfg);
}

/*
 * An auto-started peer logs to its file; once it is up, its stdin and stdout go to
 * /dev/null and its stderr (the pipe through which `dragonfly get` reads a start-up error)
 * to the log file, so that `get` may exit and anything still written there is kept.
 */
static void
peer_main_detach(const char *log_file)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int lf = open(log_file, O_WRONLY | O_APPEND | O_CLOEXEC);

    if (null != -1) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(lf != -1 ? lf : null, 2);
    }
    if (null > 2)
        close(null);
    if (lf > 2)
        close(lf);
}

/* `dragonfly peer`: one peer component in its own daemon process. */
struct peer_main {
    struct peer_config *cfg;
    struct peer *peer;
    int argc; /* the command line, read again by a reload (with the file it names) */
    char **argv;
    struct peer_config *next; /* while a reload compares: the configuration read again */
};

/* Before the log (which may live in the data dir), the socket and the db. */
static int
peer_main_prepare(void *arg, struct df_error *err)
{
    struct peer_main *m = arg;
    int rv;

    m->peer = peer_alloc(NULL, m->cfg);
    if ((rv = peer_main_lock(m->peer, err)) != 0)
        return rv == DF_EEXIST ? DF_EXIT_PEER_LOCKED : 1;
    return 0;
}

static int
peer_main_run_start(void *arg, struct event_base *base, struct df_error *err)
{
    struct peer_main *m = arg;

    m->peer->base = base;
    return peer_main_start(m->peer, err) != 0 ? 1 : 0;
}

static void
peer_main_run_ready(void *arg, cJSON *doc)
{
    struct peer_main *m = arg;

    peer_addrs(m->peer, doc);
}

static void
peer_main_run_started(void *arg)
{
    struct peer_main *m = arg;

    if (m->cfg->auto_started && m->cfg->log_file != NULL)
        peer_main_detach(m->cfg->log_file);
}

static void
peer_main_run_stop(void *arg, void (*done)(void *), void *done_arg)
{
    struct peer_main *m = arg;

    peer_stop(m->peer, done, done_arg);
}

/*
 * Apply one key a reload changed, when it can change at run time: the log level and debug
 * modules, the rate limits, the cache's quota and TTL (a collection runs at once). Any
 * other key keeps its running value until a restart, and the log says so.
 */
static void
peer_main_reload_key(const struct df_conf_entry *e, void *arg)
{
    struct peer_main *m = arg;
    struct peer *ctx = m->peer;
    struct peer_config *cur = m->cfg, *next = m->next;
    uint64_t now = df_time_mono_ns();

    if (df_proc_reload_log_key(PEER_TAG(ctx), e->key, &cur->log_level, &cur->log_debug,
                               next->log_level, &next->log_debug))
        return;
    if (strcmp(e->key, "upload.rateLimit") == 0) {
        cur->upload_rate = next->upload_rate;
        net_ratelim_set(&ctx->up_rl, (uint64_t)cur->upload_rate,
                        (uint64_t)cur->upload_rate / 10 + 65536, now);
    } else if (strcmp(e->key, "download.rateLimit") == 0) {
        cur->download_rate = next->download_rate;
        net_ratelim_set(&ctx->down_rl, (uint64_t)cur->download_rate,
                        (uint64_t)cur->download_rate / 10 + 65536, now);
    } else if (strcmp(e->key, "cache.quota") == 0) {
        cur->cache_quota = next->cache_quota;
    } else if (strcmp(e->key, "cache.ttl") == 0) {
        cur->cache_ttl = next->cache_ttl;
    } else {
        log_warnx("%s: reload: %s changed: it takes effect after a restart", PEER_TAG(ctx), e->key);
        return;
    }
    log_info("%s: reload: %s changed: applied", PEER_TAG(ctx), e->key);
}

/* SIGHUP: read the config file and flags again and apply what may change while running. */
static void
peer_main_run_reload(void *arg)
{
    struct peer_main *m = arg;
    struct peer_config *next = NULL;
    struct df_conf_args args;
    struct df_conf_spec spec;
    struct df_error err;
    int n;

    if (peer_config_load_args(m->cfg->seed, m->argc, m->argv, &next, &args, &spec, &err) != 0) {
        log_warnx("%s: reload: %s; the running configuration stays", PEER_TAG(m->peer), err.msg);
        return;
    }
    df_conf_args_reset(&args);
    m->next = next;
    n = df_conf_diff(&peer_spec, m->cfg, next, peer_main_reload_key, m);
    m->next = NULL;
    /* the component reads its own copy of the settings */
    m->peer->cfg.log_level = m->cfg->log_level;
    m->peer->cfg.log_debug = m->cfg->log_debug;
    m->peer->cfg.upload_rate = m->cfg->upload_rate;
    m->peer->cfg.download_rate = m->cfg->download_rate;
    m->peer->cfg.cache_quota = m->cfg->cache_quota;
    m->peer->cfg.cache_ttl = m->cfg->cache_ttl;
    if (n < 0)
        log_warnx("%s: reload: out of memory comparing the settings", PEER_TAG(m->peer));
    else if (n == 0)
        log_info("%s: reload: no setting changed", PEER_TAG(m->peer));
    else
        peer_task_gc(m->peer);
    peer_config_free(next);
}

static void
peer_main_run_free(void *arg)
{
    struct peer_main *m = arg;

    peer_free(m->peer);
    m->peer = NULL;
}

int
peer_main(int argc, char **argv)
{
    struct peer_main m = {NULL, NULL, argc, argv, NULL};
    struct df_proc_daemon d;
    struct df_conf_args args;
    struct df_conf_spec spec;
    struct df_error err;
    char *json;
    int rv;

    if (peer_config_load_args(strcmp(argv[0], "seed") == 0, argc, argv, &m.cfg, &args, &spec,
                              &err) != 0) {
        fprintf(stderr, "%s: %s\n", spec.cmd, err.msg);
        return 2;
    }
    if (args.help || args.check_config) {
        if (args.help) {
            df_conf_usage(&spec, stdout);
        } else {
            json = df_conf_to_json(&peer_spec, m.cfg);
            printf("%s\n", json);
            free(json);
        }
        df_conf_args_reset(&args);
        peer_config_free(m.cfg);
        return 0;
    }
    df_conf_args_reset(&args);
    memset(&d, 0, sizeof(d));
    d.cmd = spec.cmd;
    d.component = m.cfg->seed ? "seed-peer" : "peer";
    d.log_level = m.cfg->log_level;
    d.log_format = m.cfg->log_format;
    d.log_file = m.cfg->log_file;
    d.log_debug = m.cfg->log_debug;
    d.ready_file = m.cfg->ready_file;
    d.prepare = peer_main_prepare;
    d.start = peer_main_run_start;
    d.ready = peer_main_run_ready;
    d.started = peer_main_run_started;
    d.stop = peer_main_run_stop;
    d.reload = peer_main_run_reload;
    d.free = peer_main_run_free;
    d.arg = &m;
    rv = df_proc_daemon_run(&d);
    peer_config_free(m.cfg);
    return rv;
}
