/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer daemon (dfdaemon): its configuration, its context (struct peer, a component on
 * an event loop it borrows; several may share one process, see df/roles.h) and the interfaces
 * between its modules: tasks (download orchestration and cache), the RPC service for `dragonfly
 * get`, and the upload server.
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
#include "df/rpc_tls.h"
#include "df/net_fetch.h"

struct df_metrics;
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
struct peer_upload_relay;

#define PEER_DEFAULT_RPC_PORT    65000
#define PEER_DEFAULT_UPLOAD_PORT 65002
#define PEER_SEED_RPC_PORT       65006
#define PEER_SEED_UPLOAD_PORT    65008
#define PEER_MAX_WORKERS         16
#define PEER_OUTPUT_THREADS      64          /* outputs written at once; more wait their turn */
#define PEER_STOP_WAIT_MS        30000       /* longest wait for outputs being written at SIGTERM */
#define PEER_AUTO_IP             "127.0.0.1" /* default ip of an auto-started peer */
#define PEER_AUTO_IDLE_EXIT      "5m"        /* default idleExit of an auto-started peer */

struct peer_config {
    char *ip;
    char *hostname;
    char *data_dir;
    int64_t rpc_port;
    int64_t upload_port;
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
    struct rpc_tls_conf tls;        /* cluster mTLS (tls.*); all unset: plaintext */
    bool tls_pieces;                /* tls.pieces: pieces (upload port, fetches) over mTLS too */
    struct df_conf_list schedulers; /* "ip:port" of each scheduler, in failover order */
    bool no_back_to_source;         /* fail rather than fetch from the origin ourselves */
    struct df_conf_list bts_allow;  /* backToSource.allow: CIDRs and host patterns */
    struct df_conf_list bts_deny;   /* backToSource.deny */
    int64_t announce_interval;      /* ms */
    int sync;                       /* enum store_data_sync */
    char *ready_file;
    struct rpc_server_conf rpc;  /* connection and request limits of the RPC server */
    int64_t upload_max_conns;    /* upload server connections */
    int64_t upload_max_conns_ip; /* ... from one source IP */
    int log_level;
    char *log_file;
    char *log_debug;
    int64_t idle_exit; /* ms without work before a clean stop, 0 = never */
    bool auto_started; /* started by `dragonfly get`: loopback and idleExit by default */
    bool bind_all;     /* no ip given: listeners bind every address (not a table key) */
};

/*
 * The role a peer's log lines start with ("seed: task ...", "peer p2p: ..."): seeds and peers
 * may share one process (`dragonfly up`), and their lines interleave.
 */
#define PEER_TAG(ctx) ((ctx)->cfg.seed ? "seed" : "peer")

struct peer_task;
TAILQ_HEAD(peer_task_list, peer_task);

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
    struct net_tls_ctx *tls_server; /* cluster mTLS for the RPC port and upload; NULL: plaintext */
    struct net_tls_ctx *tls_upload; /* tls_server when pieces go over mTLS (borrowed); or NULL */
    struct net_tls_ctx
            *tls_cluster; /* cluster mTLS client (schedulers, parents); NULL: plaintext */
    struct net_fetch_env src_env;
    struct net_addrpolicy *src_policy; /* back-to-source for other hosts' requests */
    struct rpc_server *rpc;
    struct net_http_server *upload;
    struct net_listener *upload_listener;
    struct df_metrics *metrics; /* /metrics on the upload port: the counters below */
    struct event *gc_timer;
    struct event *stop_timer; /* while stopping: waits for workers and LeaveHost calls */
    struct event *idle_timer; /* with idleExit: checks for work now and then */
    uint64_t busy_ns;         /* monotonic time work was last seen (idleExit) */
    int lock_fd;              /* DF_PEER_LOCK_FILE, flock'd for the life of the component */
    int64_t stop_deadline_ms;
    struct peer_p2p_ctx *p2p;
    TAILQ_HEAD(, peer_upload_relay) relays; /* cut-through responses waiting for bytes */
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
    uint64_t pieces_uploaded;
    uint64_t tasks_done;
    uint64_t tasks_failed;
    uint64_t cache_hits;
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

/*
 * Hold a request that another host made (DownloadTask over TCP, a seed trigger from the
 * scheduler) to what such a request may ask: TLS verification stays on, no Host or hop-by-hop
 * header; and its back-to-source obeys ctx->src_policy. Returns 0, or DF_EPERM with a message
 * naming the field (r is unchanged then).
 */
int peer_download_req_restrict(struct peer_download_req *r, const struct peer *ctx,
                               struct df_error *err);

/* Register the RPC methods (DfdaemonDownload) on ctx->rpc. */
int peer_rpc_register(struct peer *ctx);

/*
 * Start (or join) the download of req for call; the task streams progress to call and
 * finishes it. Takes req (reset on return).
 */
void peer_task_download(struct peer *ctx, struct rpc_call *call, struct peer_download_req *req);

/*
 * The same with an output: the verified content is written, in order, into out_fd (taken:
 * closed by the task) as it grows; the call succeeds once all of it is there (and matches
 * req->digest).
 */
void peer_task_download_fd(struct peer *ctx, struct rpc_call *call, struct peer_download_req *req,
                           int out_fd);

/*
 * Cancel every running fetch and free the tasks (waiting calls get `unavailable`), except
 * those still writing outputs on workers: they free themselves once done.
 */
void peer_task_shutdown(struct peer *ctx);

/* Evict by TTL and quota (tasks not running). */
void peer_task_gc(struct peer *ctx);

/* Task status as JSON (StatTask); NULL if unknown. The caller deletes it. */
cJSON *peer_task_stat(struct peer *ctx, const char *task_id);

/* The P2P side: scheduler clients, host announces, DfdaemonUpload (SyncPieces, DownloadTask). */
int peer_p2p_init(struct peer *ctx, struct df_error *err);
/*
 * Stop serving the swarm and leave the schedulers. Returns how many LeaveHost calls are in
 * flight (each ends within PEER_P2P_LEAVE_MS).
 */
int peer_p2p_stop(struct peer *ctx);
/* LeaveHost calls started by peer_p2p_stop() still unanswered. */
int peer_p2p_leaving(const struct peer *ctx);
void peer_p2p_shutdown(struct peer *ctx);

/* A piece being fetched from a parent (for cut-through). */
struct peer_p2p_progress {
    uint64_t seq;     /* names the fetch attempt */
    uint64_t written; /* bytes from the piece start in the data file */
    uint64_t off, len;
};

/*
 * Where piece number of task_id stands: 1 verified here, 0 being fetched from a parent
 * (*out filled), -1 neither (not fetching, or the task is not running here).
 */
int peer_p2p_piece_progress(struct peer *ctx, const char *task_id, uint64_t number,
                            struct peer_p2p_progress *out);

/* Start the upload server on bind_host:upload_port ("" = all addresses). */
int peer_upload_start(struct peer *ctx, const char *bind_host, struct df_error *err);
/*
 * Parse the part of an upload path after "/pieces/": "<task_id>/<number>", the id 64
 * lowercase hex and the number canonical decimal (no sign, no leading zero) within 2^64-1.
 * Returns 0 with id and *number filled, DF_EINVAL when rest is not "<64 chars>/<more>", or
 * DF_EPROTO for a bad id or number (id and *number are then unchanged). rest is borrowed.
 */
int peer_upload_path_parse(const char *rest, char id[DF_ID_TASK_LEN + 1], uint64_t *number);
/* More of a piece of task_id being received is written (or it ended): relays send on. */
void peer_upload_relay_kick(struct peer *ctx, const char *task_id);
/* Drop the relays still waiting (shutdown). */
void peer_upload_relay_stop(struct peer *ctx);

#endif
