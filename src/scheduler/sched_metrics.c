/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler's /metrics: its counters (struct sched_metrics, kept by sched_rpc.c) and the
 * sizes of its tables, registered once into a df_metrics registry that reads them when the
 * page is rendered. Upstream's names (D:scheduler/metrics/metrics.go) come first where a
 * counter means what upstream's does, so Grafana dashboards built for Dragonfly work; the
 * names this scheduler exported first stay, for the scripts and tests that read them.
 */
#include <stddef.h>
#include <stdio.h>

#include "df/df_err.h"
#include "df/df_metrics.h"
#include "df/df_metrics_proc.h"
#include "sched.h"
#include "sched_prio.h"

#define SCHED_METRICS_PREFIX "dragonfly_scheduler_"

static const struct {
    const char *name, *help;
    size_t off; /* of a uint64_t in struct sched_metrics */
} sched_metrics_counters[] = {
        {"announce_host_total", "AnnounceHost calls served",
         offsetof(struct sched_metrics, announce_host)},
        {"leave_host_total", "LeaveHost calls served", offsetof(struct sched_metrics, leave_host)},
        {"register_total", "peers registered", offsetof(struct sched_metrics, register_total)},
        {"register_failed_total", "registrations refused",
         offsetof(struct sched_metrics, register_failed)},
        {"announce_peer_streams_total", "AnnouncePeer streams opened",
         offsetof(struct sched_metrics, streams_total)},
        {"announce_peer_errors_total", "AnnouncePeer streams ended with an error",
         offsetof(struct sched_metrics, stream_errors)},
        {"back_to_source_total", "peers that started fetching from the source",
         offsetof(struct sched_metrics, back_to_source)},
        {"seed_trigger_total", "seed peers asked to fetch a task",
         offsetof(struct sched_metrics, seed_trigger)},
        {"seed_trigger_failed_total", "seed DownloadTask calls that failed",
         offsetof(struct sched_metrics, seed_trigger_failed)},
        {"pieces_from_source_total", "pieces reported fetched from the source",
         offsetof(struct sched_metrics, pieces_from_source)},
        {"pieces_from_peers_total", "pieces reported fetched from peers",
         offsetof(struct sched_metrics, pieces_from_peers)},
        {"bytes_from_source_total", "bytes reported fetched from the source",
         offsetof(struct sched_metrics, bytes_from_source)},
        {"bytes_from_peers_total", "bytes reported fetched from peers",
         offsetof(struct sched_metrics, bytes_from_peers)},
        {"piece_failed_total", "piece failures reported",
         offsetof(struct sched_metrics, piece_failed)},
        {"parent_blocked_total", "parents blocked for a task",
         offsetof(struct sched_metrics, blocked)},
        {"source_conflict_total",
         "source reports that contradicted a task's digests (reporters distrusted, peers refetch)",
         offsetof(struct sched_metrics, source_conflicts)},
        {"peer_finished_total", "peers that finished",
         offsetof(struct sched_metrics, peer_finished)},
        {"peer_failed_total", "peers that failed", offsetof(struct sched_metrics, peer_failed)},
        {"peer_left_total", "peers that left", offsetof(struct sched_metrics, peer_left)},
        {"empty_task_responses_total", "empty task answers",
         offsetof(struct sched_metrics, empty_responses)},
        {"tiny_task_responses_total", "tiny task answers",
         offsetof(struct sched_metrics, tiny_responses)},
        {"normal_task_responses_total", "parent sets sent",
         offsetof(struct sched_metrics, parents_responses)},
        {"piece_digests_responses_total", "piece digest messages sent",
         offsetof(struct sched_metrics, digests_sent)},
        {"gc_peers_total", "peers collected", offsetof(struct sched_metrics, gc_peers)},
        {"gc_hosts_total", "hosts collected", offsetof(struct sched_metrics, gc_hosts)},
        {"gc_tasks_total", "tasks collected", offsetof(struct sched_metrics, gc_tasks)},
};

/* Upstream's counters that one of ours is exactly. */
static const struct {
    const char *name, *help;
    size_t off;
} sched_metrics_upstream[] = {
        {"announce_peer_total", "AnnouncePeer streams opened.",
         offsetof(struct sched_metrics, streams_total)},
        {"announce_peer_failure_total", "AnnouncePeer streams ended with an error.",
         offsetof(struct sched_metrics, stream_errors)},
        {"leave_peer_total", "Peers that left.", offsetof(struct sched_metrics, peer_left)},
        {"download_piece_finished_failure_total", "Piece downloads reported failed.",
         offsetof(struct sched_metrics, piece_failed)},
};

static double
sched_metrics_pieces(void *arg)
{
    const struct sched *ctx = arg;

    return (double)(ctx->m.pieces_from_source + ctx->m.pieces_from_peers);
}

/* Counter families from the tables: a uint64_t of ctx->m each, named prefix + name. */
static void
sched_metrics_counters_add(struct df_metrics *r, struct sched *ctx, const char *name,
                           const char *help, size_t off)
{
    char full[96];

    snprintf(full, sizeof(full), SCHED_METRICS_PREFIX "%s", name);
    df_metrics_u64_new(r, DF_METRICS_COUNTER, full, help,
                       (const uint64_t *)((const char *)&ctx->m + off));
}

/* A counter family by priority: one series per level of by[], all shown from zero. */
static void
sched_metrics_by_level(struct df_metrics *r, const char *name, const char *help, const uint64_t *by)
{
    static const char *const prio_label[] = {"priority", NULL};
    struct df_metrics_family *f =
            df_metrics_family_new(r, DF_METRICS_COUNTER, name, help, prio_label);

    for (uint32_t l = 0; l <= PROTO_PRIORITY_MAX; l++) {
        const char *v[] = {sched_prio_level_name(l)};

        df_metrics_series_bind_u64(df_metrics_series_get(f, v), &by[l]);
    }
}

static void
sched_metrics_upstream_add(struct df_metrics *r, struct sched *ctx)
{
    static const char *const type_label[] = {"type", NULL};
    static const char *const bts[] = {"BACK_TO_SOURCE"}, *const remote[] = {"REMOTE_PEER"};
    struct df_metrics_family *f;

    for (size_t i = 0; i < DF_NELEM(sched_metrics_upstream); i++)
        sched_metrics_counters_add(r, ctx, sched_metrics_upstream[i].name,
                                   sched_metrics_upstream[i].help, sched_metrics_upstream[i].off);
    /* by the priority the download asked (upstream's label), not the application's */
    sched_metrics_by_level(r, SCHED_METRICS_PREFIX "register_peer_total", "Peers registered.",
                           ctx->m.register_by_level);
    sched_metrics_by_level(r, SCHED_METRICS_PREFIX "register_peer_failure_total",
                           "Peer registrations refused.", ctx->m.register_failed_by_level);
    sched_metrics_by_level(r, SCHED_METRICS_PREFIX "download_peer_back_to_source_started_total",
                           "Peers that started downloading from the source.", ctx->m.bts_by_level);
    sched_metrics_by_level(r, SCHED_METRICS_PREFIX "download_peer_finished_total",
                           "Peers that finished downloading.", ctx->m.finished_by_level);
    sched_metrics_by_level(r, SCHED_METRICS_PREFIX "download_peer_finished_failure_total",
                           "Peers whose download failed.", ctx->m.failed_by_level);
    f = df_metrics_family_new(r, DF_METRICS_COUNTER,
                              SCHED_METRICS_PREFIX "download_piece_finished_total",
                              "Pieces reported downloaded (from the source or from peers).", NULL);
    df_metrics_series_bind_fn(df_metrics_series_get(f, NULL), sched_metrics_pieces, ctx);
    f = df_metrics_family_new(r, DF_METRICS_COUNTER, SCHED_METRICS_PREFIX "traffic",
                              "Bytes peers reported downloaded, by where they came from.",
                              type_label);
    df_metrics_series_bind_u64(df_metrics_series_get(f, bts), &ctx->m.bytes_from_source);
    df_metrics_series_bind_u64(df_metrics_series_get(f, remote), &ctx->m.bytes_from_peers);
    /* upstream's is a summary; a histogram aggregates across schedulers. exp(1, 2, 24) ms
     * as the client's task durations */
    f = df_metrics_histogram_exp_new(r, SCHED_METRICS_PREFIX "download_peer_duration_milliseconds",
                                     "Time from a peer's registration to its finish, of peers "
                                     "that finished.",
                                     NULL, 1, 2, 24);
    ctx->peer_duration = df_metrics_series_get(f, NULL);
}

static double
sched_metrics_hosts(void *arg)
{
    const struct sched *ctx = arg;

    return (double)sched_state_host_count(ctx->state);
}

static double
sched_metrics_tasks(void *arg)
{
    const struct sched *ctx = arg;

    return (double)sched_state_task_count(ctx->state);
}

static double
sched_metrics_peers(void *arg)
{
    const struct sched *ctx = arg;

    return (double)sched_state_peer_count(ctx->state);
}

static double
sched_metrics_apps(void *arg)
{
    return (double)sched_manager_app_count(arg);
}

static double
sched_metrics_streams(void *arg)
{
    return (double)sched_rpc_stream_count(arg);
}

struct df_metrics *
sched_metrics_new(struct sched *ctx)
{
    struct df_metrics *r = df_metrics_new();

    sched_metrics_upstream_add(r, ctx);
    df_metrics_proc_register(r, SCHED_METRICS_PREFIX "version");
    df_metrics_fn_new(r, SCHED_METRICS_PREFIX "hosts", "hosts known", sched_metrics_hosts, ctx);
    df_metrics_fn_new(r, SCHED_METRICS_PREFIX "tasks", "tasks known", sched_metrics_tasks, ctx);
    df_metrics_fn_new(r, SCHED_METRICS_PREFIX "peers", "peers known", sched_metrics_peers, ctx);
    df_metrics_fn_new(r, SCHED_METRICS_PREFIX "streams", "open AnnouncePeer streams",
                      sched_metrics_streams, ctx);
    df_metrics_fn_new(r, SCHED_METRICS_PREFIX "manager_applications",
                      "applications with a priority the manager gave (ListApplications)",
                      sched_metrics_apps, ctx);
    for (size_t i = 0; i < DF_NELEM(sched_metrics_counters); i++)
        sched_metrics_counters_add(r, ctx, sched_metrics_counters[i].name,
                                   sched_metrics_counters[i].help, sched_metrics_counters[i].off);
    return r;
}
