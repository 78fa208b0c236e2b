/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer daemon (dfdaemon): its configuration, its context (struct peer, a component on
 * an event loop it borrows; several may share one process, see df/roles.h) and what a `get`
 * asks for. The modules on top of it, each with its header:
 * the task core (peer_task.h: cache, origin, outputs), the swarm side (peer_p2p.h:
 * scheduler, parents, SyncPieces), the RPC service for `dragonfly get` (peer_rpc.h) and the
 * upload server (peer_upload.h); peer_main.c puts them together.
 */
#ifndef PEER_H
#define PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>

#include "df/df_conf.h"
#include "df/df_digest.h"
#include "df/df_id.h"
#include "df/roles.h"
#include "df/net_http_parse.h"
#include "df/net_listener.h"
#include "df/net_ratelim.h"
#include "df/rpc_server.h"
#include "df/rpc_join.h"
#include "df/rpc_tls.h"
#include "df/net_fetch.h"

struct df_metrics;
struct df_metrics_series;
struct event;
struct evdns_base;
struct net_addrpolicy;
struct net_http_server;
struct net_listener;
struct rpc_call;
struct rpc_server;
struct store_db;
struct df_work_pool;
struct peer_p2p_ctx;
struct peer_proxy;
struct peer_swarm_ops;
struct peer_task_listener;
struct peer_upload_relay;

#define PEER_DEFAULT_RPC_PORT     65000
#define PEER_DEFAULT_UPLOAD_PORT  65002
#define PEER_SEED_RPC_PORT        65006
#define PEER_SEED_UPLOAD_PORT     65008
#define PEER_DEFAULT_METRICS_PORT 4002 /* upstream dfdaemon's */
#define PEER_SEED_METRICS_PORT    4008 /* a seed's ports are the peer's + 6 */
#define PEER_MAX_WORKERS          16
#define PEER_OUTPUT_THREADS       64    /* outputs written at once; more wait their turn */
#define PEER_STOP_WAIT_MS         30000 /* longest wait for outputs being written at SIGTERM */
#define PEER_AUTO_IP              "127.0.0.1" /* default ip of an auto-started peer */
#define PEER_AUTO_IDLE_EXIT       "5m"        /* default idleExit of an auto-started peer */

struct peer_config {
    char *ip;
    char *hostname;
    char *data_dir;
    int64_t rpc_port;
    int64_t upload_port;
    int64_t metrics_port; /* /metrics, /healthy, /readyz (peer_metrics.h) */
    char *socket;
    char *socket_mode;  /* octal text, "0600" */
    char *socket_group; /* group name or id; NULL: the process's */
    bool seed;
    int64_t cache_quota;     /* bytes, 0 = unlimited */
    int64_t cache_ttl;       /* ms */
    int64_t upload_rate;     /* bytes/s, 0 = unlimited */
    char *upload_congestion; /* TCP congestion control of upload connections, "" = system's */
    int64_t download_rate;   /* bytes/s, 0 = unlimited */
    int64_t concurrency;     /* pieces fetched at once per task */
    int64_t retries;         /* per piece, transient failures */
    int64_t connect_timeout; /* ms */
    int64_t idle_timeout;    /* ms */
    int64_t min_rate;        /* bytes/s below which a body is abandoned */
    char *ca_file;
    struct rpc_tls_conf tls;         /* cluster mTLS (tls.*); all unset: plaintext */
    struct rpc_join_conf join;       /* a certificate from the manager (rpc_join.c) */
    bool tls_pieces;                 /* tls.pieces: pieces (upload port, fetches) over mTLS too */
    struct df_conf_list schedulers;  /* "ip:port" of each scheduler, in failover order */
    char *manager;                   /* manager.addr: find the schedulers there (peer_manager.c) */
    int64_t manager_refresh;         /* ms between ListSchedulers */
    int64_t manager_cluster_id;      /* schedulerClusterId asked for; 0: the searcher's choice */
    int64_t manager_seed_cluster_id; /* a seed's seed-peer cluster */
    char *idc, *location;            /* told to the manager's searcher */
    bool no_back_to_source;          /* fail rather than fetch from the origin ourselves */
    struct df_conf_list bts_allow;   /* backToSource.allow: CIDRs and host patterns */
    struct df_conf_list bts_deny;    /* backToSource.deny */
    int64_t announce_interval;       /* ms */
    int sync;                        /* enum store_data_sync */
    char *ready_file;
    struct rpc_server_conf rpc;  /* connection and request limits of the RPC server */
    int64_t upload_max_conns;    /* upload server connections */
    int64_t upload_max_conns_ip; /* ... from one source IP */
    int log_level;
    int log_format; /* enum log_format */
    char *log_file;
    char *log_debug;
    int64_t idle_exit; /* ms without work before a clean stop, 0 = never */
    bool auto_started; /* started by `dragonfly get`: loopback and idleExit by default */
    bool bind_all;     /* no ip given: listeners bind every address (not a table key) */

    /* the proxy / registry mirror (peer_proxy.c) */
    char *proxy_listen;                   /* "off", "PORT" or "IP:PORT"; NULL/"": the role's port */
    char *proxy_mirror;                   /* registryMirror.addr: upstream of mirror requests */
    bool proxy_mirror_insecure;           /* do not verify the upstream's TLS certificate */
    struct df_conf_list proxy_rules;      /* regexes of URLs served through P2P tasks */
    struct df_conf_list proxy_registries; /* "ns=origin": where an ns= parameter goes */
    int64_t proxy_rate;                   /* requests/s, 0 = unlimited */
    int64_t proxy_auth_ttl;               /* ms a registry's blob check holds, 0 = none */
    char *proxy_hijack_cert;              /* hijackHTTPS.cert: CA that signs minted leaves */
    char *proxy_hijack_key;               /* ... and its key */
    struct df_conf_list proxy_hijack_hosts; /* regexes of CONNECT hosts to intercept */
    bool proxy_hijack_insecure;             /* do not verify intercepted hosts' certificates */
    char *proxy_auth_user;                  /* basicAuth: clients must send Proxy-Authorization */
    char *proxy_auth_password;
};

/*
 * The role a peer's log lines start with ("seed: task ...", "peer p2p: ..."): seeds and peers
 * may share one process (`dragonfly up`), and their lines interleave.
 */
#define PEER_TAG(ctx) ((ctx)->cfg.seed ? "seed" : "peer")

struct peer_task;
TAILQ_HEAD(peer_task_list, peer_task);

/* The clocks the task core reads: the process's (df_time), or a test's own. */
struct peer_clock {
    int64_t (*wall_ms)(void *arg);  /* timestamps of the cache's rows, ages (TTL) */
    uint64_t (*mono_ns)(void *arg); /* intervals (progress reports) */
    void *arg;
};

struct peer {
    struct event_base *base;
    struct df_work_pool *hash_pool; /* hashing pieces, sealing: one thread per processor */
    struct df_work_pool *out_pool;  /* output copies: each may wait on its reader */
    struct evdns_base *dns;
    struct peer_config cfg;
    struct net_listener_perm sock_perm; /* socketMode and socketGroup, resolved */
    struct store_db *db;
    struct net_tls_ctx *tls;
    struct net_tls_ctx *tls_insecure;
    struct net_tls_ctx *tls_server; /* cluster mTLS for the RPC port; NULL: plaintext */
    struct net_tls_ctx *tls_upload; /* the upload port's when pieces go over mTLS; or NULL */
    struct net_tls_ctx
            *tls_cluster; /* cluster mTLS client (schedulers, parents); NULL: plaintext */
    struct rpc_join_renewer *renewer; /* renews a joined certificate (rpc_join.c), or NULL */
    struct rpc_join_revoker *revoker; /* the manager's revoked serials (rpc_join.c), or NULL */
    struct net_fetch_env src_env;
    struct net_addrpolicy *src_policy; /* back-to-source for other hosts' requests */
    struct rpc_server *rpc;
    struct net_http_server *upload;
    struct net_listener *upload_listener;
    struct peer_proxy *proxy;   /* the proxy listener (peer_proxy.h), or NULL when off */
    struct df_metrics *metrics; /* /metrics on the metrics port: the counters below */
    struct net_http_server *metrics_http;
    struct net_listener *metrics_listener;
    struct df_metrics_series *task_duration; /* histogram of finished tasks, ms */
    struct event *gc_timer;
    struct event *stop_timer; /* while stopping: waits for workers and LeaveHost calls */
    struct event *idle_timer; /* with idleExit: checks for work now and then */
    uint64_t busy_ns;         /* monotonic time work was last seen (idleExit) */
    int lock_fd;              /* DF_PEER_LOCK_FILE, flock'd for the life of the component */
    int64_t stop_deadline_ms;
    struct peer_p2p_ctx *p2p;
    struct peer_mgr *manager;                  /* --manager (peer_manager.c) */
    const struct peer_swarm_ops *swarm;        /* set by the P2P module; NULL: no swarm */
    struct peer_task_listener *task_listeners; /* told of every task's progress */
    const struct peer_clock *clock;            /* NULL: the process's clocks */
    TAILQ_HEAD(, peer_upload_relay) relays;    /* cut-through responses waiting for bytes */
    struct peer_task_listener *relay_listener; /* the relays' (peer_upload_start), or NULL */
    struct peer_task_list tasks;
    char *host_id;
    struct net_ratelim down_rl;
    struct net_ratelim up_rl;
    bool stopping;
    bool stopped;              /* the stop has finished */
    void (*stop_done)(void *); /* peer_stop's caller, told when stopped */
    void *stop_done_arg;
    /* counters for /metrics */
    uint64_t bytes_from_source;
    uint64_t bytes_uploaded;
    uint64_t bytes_from_peers;
    uint64_t bytes_local; /* content of downloads answered from the cache */
    uint64_t pieces_uploaded;
    uint64_t tasks_done;
    uint64_t tasks_failed;
    uint64_t cache_hits;
    uint64_t proxy_p2p;          /* proxy requests answered from a P2P task */
    uint64_t proxy_pass;         /* ... passed through to the upstream */
    uint64_t proxy_errors;       /* ... that failed (our error answers, aborted responses) */
    uint64_t proxy_p2p_bytes;    /* content bytes sent from P2P tasks */
    uint64_t proxy_pass_bytes;   /* body bytes passed through from upstreams */
    uint64_t proxy_tunnels;      /* CONNECT requests tunnelled blind */
    uint64_t proxy_hijacks;      /* CONNECT requests intercepted (TLS terminated here) */
    uint64_t proxy_tunnel_bytes; /* bytes relayed by blind tunnels, both ways */
    uint64_t proxy_checks;       /* registry HEADs checking a client may read a P2P blob */
    uint64_t proxy_check_hits;   /* ... spared: the registry's 200 remembered */
};

/* What a `get` asks for (DfdaemonDownload/DownloadTask's "download" object). */
struct peer_download_req {
    char *url;
    bool output_fd; /* the output goes into the descriptor the local caller passed */
    /* that descriptor is the caller's own new file: the peer may truncate it and start over
     * (a --digest mismatch refetched from the origin); standard output never is */
    bool output_rewind;
    char *tag;
    char *application;
    char *filtered;  /* '&'-separated query params dropped from the task id */
    bool has_digest; /* given, or named by a registry blob URL (/blobs/sha256:<hex>) */
    struct df_digest digest;
    struct net_http_header *headers;
    size_t nheaders;
    bool insecure;
    bool disable_back_to_source;
    bool need_back_to_source; /* the scheduler asks a seed to fetch from the origin */
    uint32_t priority;        /* common.v2.Priority for the scheduler (proto_dfdaemon.h) */
    /* Where back-to-source may connect: ctx->src_policy for a request another host made,
     * NULL for a local caller's (peer_download_req_restrict). Borrowed from the ctx. */
    const struct net_addrpolicy *policy;
};

/*
 * Parse and validate a DownloadTask request (proto_dfdaemon_download_from_json); a message in err
 * names the bad field. An outputPath is refused (DF_EPERM: the peer never writes by path);
 * outputFd only when allow_output (the call came from a local caller), else DF_EPERM too.
 */
int peer_download_req_parse(const cJSON *msg, bool allow_output, struct peer_download_req *out,
                            struct df_error *err);
void peer_download_req_reset(struct peer_download_req *r);

/* Request fields the client, not the requester, decides: Host and the hop-by-hop ones. */
bool peer_req_header_is_reserved(const char *name);

/*
 * A registry blob URL names its content (.../blobs/sha256:<64 hex>): set r's digest from it
 * (it must equal one r already has). 0, or DF_EINVAL with a message in err.
 */
int peer_req_blob_digest(struct peer_download_req *r, struct df_error *err);

/*
 * Hold a request that another host made (DownloadTask over TCP, a seed trigger from the
 * scheduler) to what such a request may ask: TLS verification stays on, no Host or hop-by-hop
 * header; and its back-to-source obeys ctx->src_policy. Returns 0, or DF_EPERM with a message
 * naming the field (r is unchanged then).
 */
int peer_download_req_restrict(struct peer_download_req *r, const struct peer *ctx,
                               struct df_error *err);

#endif
