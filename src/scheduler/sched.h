/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler component: its configuration, the context (struct sched, which runs on an
 * event loop it borrows and owns the RPC server, the metrics server and the sched_state
 * core), and the counters the service keeps. sched_main.c builds it (sched_new, the API in
 * df/roles.h); sched_rpc.c serves scheduler.v2.Scheduler on it.
 */
#ifndef DF_SCHED_H
#define DF_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "df/df_err.h"
#include "df/rpc_server.h"
#include "df/rpc_join.h"
#include "df/rpc_tls.h"
#include "df/df_map.h"
#include "df/proto_dfdaemon.h"
#include "df/roles.h"
#include "sched_state.h"

struct df_metrics;
struct df_metrics_series;
struct event;
struct event_base;
struct evdns_base;
struct net_http_server;
struct net_listener;
struct net_tls_ctx;
struct rpc_server;
struct sched_stream;
struct sched_seed;
struct sched_rtask;
struct sched_manager;

/* As loaded by df_conf (every number an int64_t); copied into struct sched_config. */
struct sched_main_config {
    char *listen;
    char *metrics_listen;
    char *ready_file;
    struct rpc_tls_conf tls;   /* cluster mTLS (tls.*); all unset: plaintext */
    struct rpc_join_conf join; /* a certificate from the manager (rpc_join.c) */
    int log_level;
    int log_format; /* enum log_format */
    char *log_file;
    char *log_debug;
    int64_t tick_interval; /* ms */
    int64_t gc_interval;   /* ms */
    int64_t seed_deadline; /* ms a DownloadTask call to a seed may last */
    int64_t max_hosts, max_hosts_per_source, max_tasks, max_peers, max_peers_per_task;
    int64_t max_parents, max_back_to_source, max_strikes, max_blocklist, seed_fanout, peer_fanout;
    int64_t seed_wait, max_piece_count, stall_timeout, wait_timeout, seed_timeout;
    int64_t peer_ttl, host_announce_interval, task_ttl, startup_grace;
    struct rpc_server_conf rpc; /* connection and request limits of the RPC server */
    char *manager;              /* manager.addr: register there (sched_manager.c); NULL: none */
    int64_t manager_cluster_id, manager_keepalive, manager_refresh;
    char *advertise_ip; /* the ip peers reach us at; NULL: the listen address's */
    char *hostname;     /* NULL: gethostname() */
};

/* Counters for /metrics; monotonic. */
struct sched_metrics {
    uint64_t announce_host, leave_host, register_total, register_failed;
    uint64_t streams_total, stream_errors;
    uint64_t back_to_source, seed_trigger, seed_trigger_failed;
    uint64_t pieces_from_source, pieces_from_peers, bytes_from_source, bytes_from_peers;
    uint64_t piece_failed, blocked, peer_finished, peer_failed, peer_left;
    uint64_t source_conflicts; /* source reports that contradicted the digest table */
    uint64_t empty_responses, tiny_responses, parents_responses, digests_sent;
    uint64_t gc_peers, gc_hosts, gc_tasks;
    /* upstream's families with a priority label: by the level each register asked
     * (register_peer_total / _failure_total, download_peer_back_to_source_started_total,
     * download_peer_finished_total / _failure_total) */
    uint64_t register_by_level[PROTO_PRIORITY_MAX + 1];
    uint64_t register_failed_by_level[PROTO_PRIORITY_MAX + 1];
    uint64_t bts_by_level[PROTO_PRIORITY_MAX + 1];
    uint64_t finished_by_level[PROTO_PRIORITY_MAX + 1], failed_by_level[PROTO_PRIORITY_MAX + 1];
};

TAILQ_HEAD(sched_stream_list, sched_stream);
TAILQ_HEAD(sched_seed_list, sched_seed);
TAILQ_HEAD(sched_rtask_list, sched_rtask);

struct sched {
    struct sched_main_config cfg;
    struct sched_config scfg;
    struct event_base *base;
    struct evdns_base *dns;
    struct rpc_server *rpc;
    struct net_tls_ctx *tls_server;   /* cluster mTLS on the RPC listener; NULL: plaintext */
    struct net_tls_ctx *tls_client;   /* cluster mTLS to seeds; NULL: plaintext */
    struct rpc_join_renewer *renewer; /* renews a joined certificate (rpc_join.c), or NULL */
    struct rpc_join_revoker *revoker; /* the manager's revoked serials (rpc_join.c), or NULL */
    struct net_listener *metrics_listener;
    struct net_http_server *metrics_http;
    struct event *tick_timer, *gc_timer, *flush_ev;
    struct sched_state *state;
    struct sched_actions acts; /* produced by the last state call, not yet delivered */
    char **leaves;             /* peers whose stream ended: leave them next */
    size_t nleaves, leaves_cap;
    struct df_map streams;         /* peer id -> struct sched_stream (registered ones) */
    struct sched_stream_list all;  /* every open AnnouncePeer stream */
    struct df_map rtasks;          /* task id -> struct sched_rtask */
    struct sched_rtask_list dirty; /* tasks with digests to broadcast */
    struct sched_seed_list seeds;  /* one RPC client per seed address */
    size_t nseeds;
    struct sched_metrics m;
    struct df_metrics *metrics;              /* renders m and the table sizes */
    struct df_metrics_series *peer_duration; /* ms from registration to finish, of peers */
    struct sched_manager *manager;           /* --manager: the link and its cluster config */
    bool stopping;
};

/* --manager: register with the manager and apply its cluster config (sched_manager.c). */
int sched_manager_start(struct sched *ctx, struct df_error *err);
void sched_manager_free(struct sched *ctx);
/* How many applications with a priority the manager gave (0 without a manager). */
size_t sched_manager_app_count(const struct sched *ctx);
/*
 * The effective priority of a download of level (sched_prio_effective): level itself unless
 * LEVEL0, else that of the manager's application for application and url, else LEVEL0.
 */
uint32_t sched_manager_priority(const struct sched *ctx, uint32_t level, const char *application,
                                const char *url);
/* True when the manager's block list refuses a task of url, tag and application. */
bool sched_manager_blocked(const struct sched *ctx, const char *url, const char *tag,
                           const char *application);

/*
 * Register the scheduler.v2.Scheduler methods on ctx->rpc, create the maps and start the
 * state's clock (its startup grace, sched_state_start()).
 */
int sched_rpc_init(struct sched *ctx);
/* The manager's view of the cluster: ListHosts and ListTaskPeers (sched_list.c). */
int sched_list_init(struct sched *ctx);

/* Periodic work: re-plan (tick) and collect (gc); actions are delivered. */
void sched_rpc_tick(struct sched *ctx);
void sched_rpc_gc(struct sched *ctx);

/* Free the streams' bookkeeping, the seed clients and the maps (after rpc_server_free). */
void sched_rpc_reset(struct sched *ctx);

/* Open AnnouncePeer streams, for /metrics. */
size_t sched_rpc_stream_count(const struct sched *ctx);

/* The /metrics registry over ctx's counters and tables; the caller frees it. */
struct df_metrics *sched_metrics_new(struct sched *ctx);

#endif
