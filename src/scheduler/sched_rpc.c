/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scheduler.v2.Scheduler over our Connect-JSON RPC: parses and validates each request, hands
 * it to the sched_state core and delivers the actions the core returns. One AnnouncePeer
 * stream per peer download; ctx->streams maps a registered peer id to its stream, and a
 * stream that closes before its peer finished makes the peer leave. Piece digests learned
 * from the source are batched per task and broadcast to every stream of the task from a
 * zero-timeout event, so one loop iteration sends one message per peer. TRIGGER_SEED calls
 * the seed's DfdaemonUpload/DownloadTask through one rpc_client per seed address.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "df/df_digest.h"
#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_metrics.h"
#include "df/df_time.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/net_tls.h"
#include "df/proto_dfdaemon.h"
#include "df/proto_sched.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"
#include "df/xmalloc.h"
#include "sched.h"
#include "sched_json.h"
#include "sched_prio.h"

_Static_assert(SCHED_TINY_MAX <= PROTO_TINY_MAX, "a tiny task fits its answer");

#define SCHED_MAX_SEEDS      1024
#define SCHED_DIGEST_BATCH   4096 /* pieces per pieceDigestsResponse */
#define SCHED_MAX_RESCHEDULE 64   /* candidate parents honoured per reschedule */

struct sched_rtask;

/*
 * AnnouncePeer stream states; stream_set_state() is the only writer:
 *
 *   OPEN --register accepted (peer_register)--> REGISTERED
 *   REGISTERED --the peer reported its end (peer_dispatch)--> FINISHED
 *   OPEN | REGISTERED | FINISHED --ended, failed or cancelled (stream_close)--> CLOSED
 *
 * OPEN: the first message binds the ids; only a register is accepted. REGISTERED and
 * FINISHED ("bound"): the peer id maps to the stream in ctx->streams and the stream is on
 * its task's list; when it closes, a REGISTERED peer leaves the core, a FINISHED one stays
 * (a parent for others until it leaves or is collected). CLOSED: call is NULL (it is NULL
 * in no other state), the stream is unbound and off ctx->all, and it is freed at once, or
 * when the message callback running on it returns (in_cb).
 */
enum sched_stream_state {
    SCHED_STREAM_OPEN = 0,
    SCHED_STREAM_REGISTERED,
    SCHED_STREAM_FINISHED,
    SCHED_STREAM_CLOSED,
};

static const char *const sched_stream_state_names[] = {"open", "registered", "finished", "closed"};

/* One AnnouncePeer stream. Freed by stream_close, deferred while in_cb. */
struct sched_stream {
    struct sched *ctx;
    struct rpc_call *call; /* NULL once CLOSED */
    char *peer_id, *host_id, *task_id;
    struct sched_rtask *rt; /* set while bound */
    enum sched_stream_state state;
    bool in_cb; /* its message callback runs: not a state (any state may be inside it), only
                 * what makes stream_close defer the free */
    bool sent_to_source;              /* we answered needBackToSourceResponse on this stream */
    uint32_t level;                   /* the register's priority: the metrics' label */
    struct net_tls_identity ident;    /* the caller's verified certificate (role NONE: none) */
    char src[64];                     /* the caller's IP; "" on a unix socket */
    TAILQ_ENTRY(sched_stream) entry;  /* ctx->all */
    TAILQ_ENTRY(sched_stream) tentry; /* rt->streams */
};

/* The RPC layer's view of a task with registered streams. */
struct sched_rtask {
    char id[DF_ID_TASK_LEN + 1];
    struct proto_dfdaemon_download download;  /* the last register's, for the seed */
    struct proto_sched_piece_digest *pending; /* pieces to broadcast */
    size_t npending, pending_cap;
    bool dirty, busy;
    struct sched_stream_list streams;
    size_t nstreams;
    TAILQ_ENTRY(sched_rtask) dentry; /* ctx->dirty */
};

struct sched_seed {
    char addr[80];
    struct rpc_client *client;
    TAILQ_ENTRY(sched_seed) entry;
};

struct sched_trigger {
    struct sched *ctx;
    char task_id[DF_ID_TASK_LEN + 1];
    char addr[80];
};

/* ---- tasks ---- */

static void
rtask_free(struct sched *ctx, struct sched_rtask *rt)
{
    if (rt->dirty)
        TAILQ_REMOVE(&ctx->dirty, rt, dentry);
    df_map_del(&ctx->rtasks, rt->id);
    proto_dfdaemon_download_reset(&rt->download);
    free(rt->pending);
    free(rt);
}

static struct sched_rtask *
rtask_get(struct sched *ctx, const char *task_id, bool create)
{
    struct sched_rtask *rt = df_map_get(&ctx->rtasks, task_id);

    if (rt != NULL || !create)
        return rt;
    rt = xcalloc(1, sizeof(*rt));
    snprintf(rt->id, sizeof(rt->id), "%s", task_id);
    TAILQ_INIT(&rt->streams);
    if (df_map_put(&ctx->rtasks, rt->id, rt) != 0) {
        free(rt);
        return NULL;
    }
    return rt;
}

/* ---- streams ---- */

static void
stream_queue_leave(struct sched *ctx, const char *peer_id)
{
    if (ctx->nleaves == ctx->leaves_cap) {
        ctx->leaves_cap = ctx->leaves_cap == 0 ? 16 : ctx->leaves_cap * 2;
        ctx->leaves = xrealloc(ctx->leaves, ctx->leaves_cap * sizeof(*ctx->leaves));
    }
    ctx->leaves[ctx->nleaves++] = xstrdup(peer_id);
}

#define stream_set_state(st, to) stream_set_state_at(st, to, __LINE__)

static void
stream_set_state_at(struct sched_stream *st, enum sched_stream_state to, int line)
{
    enum sched_stream_state old = st->state;

    switch (to) {
    case SCHED_STREAM_OPEN:
        DF_ASSERT(!"no transition enters open");
        break;
    case SCHED_STREAM_REGISTERED:
        DF_ASSERT(old == SCHED_STREAM_OPEN);
        break;
    case SCHED_STREAM_FINISHED:
        DF_ASSERT(old == SCHED_STREAM_REGISTERED);
        break;
    case SCHED_STREAM_CLOSED:
        DF_ASSERT(old != SCHED_STREAM_CLOSED);
        break;
    }
    log_debug("sched", "sched: stream %s: %s -> %s (line %d)",
              st->peer_id != NULL ? st->peer_id : "-", sched_stream_state_names[old],
              sched_stream_state_names[to], line);
    st->state = to;
}

/* Is the stream's peer in ctx->streams and on its task's list? */
static bool
stream_is_bound(const struct sched_stream *st)
{
    return st->state == SCHED_STREAM_REGISTERED || st->state == SCHED_STREAM_FINISHED;
}

static void
stream_free(struct sched_stream *st)
{
    free(st->peer_id);
    free(st->host_id);
    free(st->task_id);
    free(st);
}

/*
 * The one teardown of a stream whose call is over (finished by us, or cancelled): unbind
 * it, its peer leaving unless it finished (or leave is false), and free it unless its
 * message callback is running (that callback frees it on return).
 */
static void
stream_close(struct sched_stream *st, bool leave)
{
    struct sched *ctx = st->ctx;
    struct sched_rtask *rt = st->rt;
    bool bound = stream_is_bound(st), finished = st->state == SCHED_STREAM_FINISHED;

    st->call = NULL;
    stream_set_state(st, SCHED_STREAM_CLOSED);
    if (bound) {
        if (df_map_get(&ctx->streams, st->peer_id) == st)
            df_map_del(&ctx->streams, st->peer_id);
        if (rt != NULL) {
            TAILQ_REMOVE(&rt->streams, st, tentry);
            rt->nstreams--;
            st->rt = NULL;
            if (rt->nstreams == 0 && !rt->busy)
                rtask_free(ctx, rt);
        }
        if (leave && !finished && !ctx->stopping)
            stream_queue_leave(ctx, st->peer_id);
    }
    TAILQ_REMOVE(&ctx->all, st, entry);
    if (!st->in_cb)
        stream_free(st);
}

/* Finish the call with code (RPC_OK: a clean end) and drop the stream. */
static void
stream_end(struct sched_stream *st, enum rpc_code code, const char *message, bool leave)
{
    struct sched *ctx = st->ctx;

    if (st->state == SCHED_STREAM_CLOSED)
        return;
    if (code != RPC_OK) {
        ctx->m.stream_errors++;
        log_debug("sched", "sched: peer %s: stream ends: %s: %s",
                  st->peer_id != NULL ? st->peer_id : "-", rpc_err_name(code),
                  message != NULL ? message : "");
    }
    rpc_call_finish(st->call, code, message);
    stream_close(st, leave);
}

/* An answer of this kind to st's peer; the ids are borrowed from st (never reset r). */
static struct proto_sched_peer_resp
stream_resp(const struct sched_stream *st, enum proto_sched_peer_resp_kind kind)
{
    struct proto_sched_peer_resp r = {.kind = kind};

    r.host_id = st->host_id;
    r.task_id = st->task_id;
    r.peer_id = st->peer_id;
    return r;
}

/* With the task's geometry when known, so a peer that registered before it can use it. */
static void
stream_resp_geometry(const struct sched_stream *st, struct proto_sched_peer_resp *r)
{
    struct sched_task_stat ts;

    if (sched_state_task_stat(st->ctx->state, st->task_id, &ts) != 0 || ts.content_length < 0 ||
        ts.piece_length > UINT32_MAX)
        return;
    r->has_geometry = true;
    r->content_length = (uint64_t)ts.content_length;
    r->piece_length = (uint32_t)ts.piece_length;
    r->piece_count = ts.piece_count;
}

/* Send r; a peer that does not read is dropped. */
static void
stream_send(struct sched_stream *st, const struct proto_sched_peer_resp *r)
{
    cJSON *m;
    int rv;

    if (st->state == SCHED_STREAM_CLOSED)
        return;
    if ((m = proto_sched_peer_resp_to_json(r)) == NULL)
        rv = DF_ENOMEM;
    else
        rv = rpc_call_send(st->call, m);
    if (rv != 0) {
        log_warnx("sched: peer %s: cannot send: %s; dropping its stream", st->peer_id,
                  df_strerror(rv));
        stream_end(st, RPC_RESOURCE_EXHAUSTED, "peer is not reading its stream", true);
    }
    cJSON_Delete(m);
}

/* ---- digests ---- */

static void
digest_send(struct sched_stream *st, struct proto_sched_piece_digest *pieces, size_t n)
{
    struct proto_sched_peer_resp r = stream_resp(st, PROTO_PEER_RESP_DIGESTS);

    stream_resp_geometry(st, &r);
    r.pieces = pieces; /* borrowed */
    r.npieces = n;
    st->ctx->m.digests_sent++;
    stream_send(st, &r);
}

/* Right after a register: every digest the task has, in batches. */
static void
digest_send_all(struct sched_stream *st)
{
    struct sched *ctx = st->ctx;
    struct sched_task_stat ts;
    struct proto_sched_piece_digest *batch, *p;
    uint64_t len;
    size_t n = 0;

    if (sched_state_task_stat(ctx->state, st->task_id, &ts) != 0 || ts.digest_count == 0 ||
        ts.content_length < 0)
        return;
    batch = xcalloc(SCHED_DIGEST_BATCH, sizeof(*batch));
    for (uint32_t i = 0; i < ts.piece_count && st->state != SCHED_STREAM_CLOSED; i++) {
        p = &batch[n];
        if (sched_state_piece_digest(ctx->state, st->task_id, i, &p->digest) != 0 ||
            df_id_piece_range((uint64_t)ts.content_length, ts.piece_length, i, &p->offset, &len) !=
                    0)
            continue;
        p->number = i;
        p->length = (uint32_t)len;
        if (++n == SCHED_DIGEST_BATCH) {
            digest_send(st, batch, n);
            n = 0;
        }
    }
    if (n > 0 && st->state != SCHED_STREAM_CLOSED)
        digest_send(st, batch, n);
    free(batch);
}

static void
digest_queue(struct sched *ctx, const char *task_id, uint32_t number, uint64_t offset,
             uint64_t length, const struct df_digest *d)
{
    struct sched_rtask *rt = rtask_get(ctx, task_id, false);
    struct timeval zero = {0, 0};

    if (rt == NULL)
        return;
    if (rt->npending == rt->pending_cap) {
        rt->pending_cap = rt->pending_cap == 0 ? 16 : rt->pending_cap * 2;
        rt->pending = xrealloc(rt->pending, rt->pending_cap * sizeof(*rt->pending));
    }
    rt->pending[rt->npending++] = (struct proto_sched_piece_digest){
            .number = number, .offset = offset, .length = (uint32_t)length, .digest = *d};
    if (!rt->dirty) {
        rt->dirty = true;
        TAILQ_INSERT_TAIL(&ctx->dirty, rt, dentry);
        evtimer_add(ctx->flush_ev, &zero);
    }
}

static void deliver_all(struct sched *ctx);

/* Broadcast each dirty task's new digests to all of its streams. */
static void
digest_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sched *ctx = arg;
    struct sched_rtask *rt;
    struct sched_stream *st, *next;
    struct proto_sched_piece_digest *pieces;
    size_t n;

    (void)fd;
    (void)what;
    while ((rt = TAILQ_FIRST(&ctx->dirty)) != NULL) {
        TAILQ_REMOVE(&ctx->dirty, rt, dentry);
        rt->dirty = false;
        pieces = rt->pending;
        n = rt->npending;
        rt->pending = NULL;
        rt->npending = rt->pending_cap = 0;
        rt->busy = true;
        for (st = TAILQ_FIRST(&rt->streams); st != NULL && n > 0; st = next) {
            next = TAILQ_NEXT(st, tentry);
            digest_send(st, pieces, n);
        }
        rt->busy = false;
        free(pieces);
        if (rt->nstreams == 0)
            rtask_free(ctx, rt);
    }
    deliver_all(ctx);
}

/* ---- seeds ---- */

static struct rpc_client *
seed_client(struct sched *ctx, const char *addr)
{
    struct rpc_client_opts o;
    struct sched_seed *sd;
    struct df_error err;

    TAILQ_FOREACH (sd, &ctx->seeds, entry) {
        if (strcmp(sd->addr, addr) == 0)
            return sd->client;
    }
    if (ctx->nseeds >= SCHED_MAX_SEEDS) {
        /* Recycle the oldest client: seed addresses rarely change. */
        sd = TAILQ_FIRST(&ctx->seeds);
        TAILQ_REMOVE(&ctx->seeds, sd, entry);
        ctx->nseeds--;
        rpc_client_free(sd->client);
        free(sd);
    }
    sd = xcalloc(1, sizeof(*sd));
    snprintf(sd->addr, sizeof(sd->addr), "%s", addr);
    memset(&o, 0, sizeof(o));
    o.addr = sd->addr;
    o.default_deadline_ms = 30000;
    o.backoff_max_ms = 2000;
    o.tls = ctx->tls_client;
    o.expect_roles = o.tls != NULL ? NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED) : 0;
    if (rpc_client_new(ctx->base, ctx->dns, &o, &sd->client, &err) != 0) {
        log_warnx("sched: seed %s: %s", addr, err.msg);
        free(sd);
        return NULL;
    }
    TAILQ_INSERT_TAIL(&ctx->seeds, sd, entry);
    ctx->nseeds++;
    return sd->client;
}

static void
seed_close_cb(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    struct sched_trigger *tr = arg;

    (void)s;
    if (st->code != RPC_OK && !tr->ctx->stopping) {
        tr->ctx->m.seed_trigger_failed++;
        /* The core notices a seed that never registers (seedTimeout) and picks another. */
        log_warnx("sched: seed %s: DownloadTask of task %.12s failed: %s: %s", tr->addr,
                  tr->task_id, rpc_err_name(st->code), st->message);
    }
    free(tr);
}

/*
 * Request headers a registrant's task may hand to the seed's back-to-source (C2): content
 * negotiation and the origin's credentials (the seed drops them on a redirect to another
 * host). Everything else (Host, hop-by-hop, cookies, ranges, anything unknown) stays behind.
 */
static const char *const seed_headers[] = {"Accept", "Authorization"};

/*
 * The allowlisted request headers of the registered download reg, into d->headers (the
 * strings are borrowed from reg: free d->headers alone).
 */
static void
seed_add_headers(struct proto_dfdaemon_download *d, const struct proto_dfdaemon_download *reg)
{
    if (reg->nheaders == 0)
        return;
    d->headers = xcalloc(reg->nheaders, sizeof(*d->headers));
    for (size_t j = 0; j < reg->nheaders; j++) {
        for (size_t i = 0; i < DF_NELEM(seed_headers); i++) {
            if (strcasecmp(reg->headers[j].name, seed_headers[i]) == 0)
                d->headers[d->nheaders++] = reg->headers[j];
        }
    }
}

/*
 * The seed's download object for a->task_id, built only from validated fields (C2): the
 * task's url, tag and application as the core holds them, the filtered query parameters and
 * allowlisted headers of the last register, and the piece length when known; never a path,
 * another header or an unknown key. The fields must give back the task id, or the seed would
 * fetch something else than the task it is asked for. Returns a new object, or NULL with a
 * reason in why.
 */
static cJSON *
seed_download_new(struct sched *ctx, const struct sched_action *a,
                  const struct proto_dfdaemon_download *reg, char *why, size_t whylen)
{
    struct proto_dfdaemon_download d;
    struct sched_task_stat ts;
    struct df_id_task_params p;
    struct df_error err;
    char id[DF_ID_TASK_LEN + 1];
    bool have_ts;
    cJSON *req;

    have_ts = sched_state_task_stat(ctx->state, a->task_id, &ts) == 0;
    memset(&p, 0, sizeof(p));
    p.url = a->url;
    p.tag = have_ts ? ts.tag : NULL;
    p.application = have_ts ? ts.application : NULL;
    p.filtered_query_params = reg != NULL ? reg->filtered : NULL;
    p.url_flags = DF_URL_CANON_SORT;
    if (df_id_task(&p, id, &err) != 0 || strcmp(id, a->task_id) != 0) {
        snprintf(why, whylen, "its url, tag, application and filtered params do not give its id");
        return NULL;
    }
    /* url, filtered and the header strings are borrowed: tag, application and the
     * headers array alone are freed below. */
    memset(&d, 0, sizeof(d));
    d.url = a->url;
    d.tag = p.tag != NULL ? xstrdup(p.tag) : NULL;
    d.application = p.application != NULL ? xstrdup(p.application) : NULL;
    d.filtered = reg != NULL ? reg->filtered : NULL;
    if (have_ts && ts.piece_length > 0 && ts.piece_length <= UINT32_MAX)
        d.piece_length = (uint32_t)ts.piece_length;
    if (reg != NULL) {
        seed_add_headers(&d, reg);
        d.priority = reg->priority; /* as upstream tells its seed */
    }
    d.need_back_to_source = true;
    req = cJSON_CreateObject();
    if (req == NULL || !proto_dfdaemon_download_to_json(req, &d)) {
        snprintf(why, whylen, "out of memory");
        DF_FREE(req, cJSON_Delete);
    }
    free(d.tag);
    free(d.application);
    free(d.headers);
    return req;
}

static void
seed_trigger(struct sched *ctx, const struct sched_action *a)
{
    struct rpc_client_stream_cbs cbs = {.on_message = NULL, .on_close = seed_close_cb};
    struct sched_rtask *rt = rtask_get(ctx, a->task_id, false);
    struct rpc_client_call *call = NULL;
    struct rpc_client *c;
    struct sched_trigger *tr;
    char why[128];
    cJSON *req;
    int rv;

    ctx->m.seed_trigger++;
    req = seed_download_new(ctx, a, rt != NULL && rt->download.url != NULL ? &rt->download : NULL,
                            why, sizeof(why));
    if (req == NULL) {
        ctx->m.seed_trigger_failed++;
        log_warnx("sched: task %.12s: seed %s not triggered: %s", a->task_id, a->host_id, why);
        return;
    }
    tr = xcalloc(1, sizeof(*tr));
    tr->ctx = ctx;
    snprintf(tr->task_id, sizeof(tr->task_id), "%s", a->task_id);
    snprintf(tr->addr, sizeof(tr->addr), strchr(a->ip, ':') != NULL ? "[%s]:%u" : "%s:%u", a->ip,
             (unsigned)a->rpc_port);
    log_info("sched: task %.12s: triggering seed %s at %s", a->task_id, a->host_id, tr->addr);
    if ((c = seed_client(ctx, tr->addr)) == NULL) {
        rv = DF_EINVAL;
    } else if ((rv = rpc_client_stream(c, PROTO_DFDAEMON_SEED_DOWNLOAD_TASK,
                                       (int)ctx->cfg.seed_deadline, &cbs, tr, &call)) == 0) {
        rpc_client_send(call, req);
        rpc_client_close_send(call);
        tr = NULL; /* seed_close_cb frees it */
    }
    if (rv != 0) {
        ctx->m.seed_trigger_failed++;
        log_warnx("sched: seed %s: cannot call DownloadTask: %s", a->host_id, df_strerror(rv));
    }
    free(tr);
    cJSON_Delete(req);
}

/* ---- actions ---- */

static void
deliver_parents(struct sched *ctx, struct sched_stream *st, const struct sched_action *a)
{
    struct proto_sched_peer_resp r = stream_resp(st, PROTO_PEER_RESP_NORMAL);

    stream_resp_geometry(st, &r);
    r.parents = xcalloc(a->nparents + 1, sizeof(*r.parents));
    r.nparents = a->nparents;
    for (size_t i = 0; i < a->nparents; i++) {
        const struct sched_parent *p = &a->parents[i];

        /* Borrowed strings: r.parents alone is freed. */
        r.parents[i] = (struct proto_sched_parent){.id = p->peer_id,
                                                   .host_id = p->host_id,
                                                   .ip = p->ip,
                                                   .port = p->rpc_port,
                                                   .download_port = p->download_port,
                                                   .is_seed = p->is_seed};
    }
    ctx->m.parents_responses++;
    stream_send(st, &r);
    free(r.parents);
}

static void
deliver_one(struct sched *ctx, const struct sched_action *a)
{
    struct sched_stream *st = NULL;
    uint8_t md[DF_SHA256_LEN];
    struct proto_sched_peer_resp r;

    if (a->kind == SCHED_ACT_TRIGGER_SEED) {
        seed_trigger(ctx, a);
        return;
    }
    if (a->kind == SCHED_ACT_DIGESTS_CLEARED) {
        /* Digests not yet broadcast may be the lost ones: never send them. */
        struct sched_rtask *rt = rtask_get(ctx, a->task_id, false);

        log_warnx("sched: task %.12s: source reports conflicted; its digests are cleared and "
                  "its peers fetch it again",
                  a->task_id);
        ctx->m.source_conflicts++;
        if (rt != NULL) {
            DF_FREE(rt->pending, free);
            rt->npending = rt->pending_cap = 0;
        }
        return;
    }
    if (a->kind == SCHED_ACT_BLOCKED) {
        ctx->m.blocked++;
        log_info("sched: task %.12s: parent %s blocked for peer %s", a->task_id,
                 a->parent_id != NULL ? a->parent_id : "-", a->peer_id);
        return;
    }
    if (a->peer_id != NULL)
        st = df_map_get(&ctx->streams, a->peer_id);
    if (st == NULL || st->state == SCHED_STREAM_CLOSED)
        return; /* the peer has no stream now (finished and gone, or never had one) */
    switch (a->kind) {
    case SCHED_ACT_EMPTY:
        ctx->m.empty_responses++;
        r = stream_resp(st, PROTO_PEER_RESP_EMPTY);
        stream_send(st, &r);
        break;
    case SCHED_ACT_TINY:
        ctx->m.tiny_responses++;
        r = stream_resp(st, PROTO_PEER_RESP_TINY);
        r.content_len = a->content_len; /* at most SCHED_TINY_MAX == PROTO_TINY_MAX */
        memcpy(r.content, a->content, r.content_len);
        df_sha256(r.content, r.content_len, md);
        df_digest_set_sha256(&r.digest, md);
        stream_send(st, &r);
        break;
    case SCHED_ACT_PARENTS:
        deliver_parents(ctx, st, a);
        break;
    case SCHED_ACT_BACK_TO_SOURCE:
        st->sent_to_source = true;
        r = stream_resp(st, PROTO_PEER_RESP_BACK_TO_SOURCE);
        r.description = xstrdup(a->reason != NULL ? a->reason : "back to source");
        stream_send(st, &r);
        free(r.description);
        break;
    case SCHED_ACT_FAIL:
        stream_end(st, RPC_FAILED_PRECONDITION, a->reason != NULL ? a->reason : "scheduling failed",
                   true);
        break;
    case SCHED_ACT_DATA_LOSS:
        stream_end(st, RPC_DATA_LOSS, a->reason, true);
        break;
    case SCHED_ACT_TRIGGER_SEED:
    case SCHED_ACT_BLOCKED:
    case SCHED_ACT_DIGESTS_CLEARED:
        break;
    }
}

/* Deliver every queued action, and make peers whose stream ended leave (which may act). */
static void
deliver_all(struct sched *ctx)
{
    struct sched_actions batch;
    char *id;

    if (ctx->stopping)
        return;
    for (;;) {
        while (ctx->nleaves > 0) {
            id = ctx->leaves[--ctx->nleaves];
            if (sched_state_peer_leave(ctx->state, id, df_time_wall_steady_ms(), &ctx->acts) == 0)
                ctx->m.peer_left++;
            free(id);
        }
        if (ctx->acts.n == 0)
            break;
        batch = ctx->acts;
        memset(&ctx->acts, 0, sizeof(ctx->acts));
        for (size_t i = 0; i < batch.n; i++)
            deliver_one(ctx, &batch.v[i]);
        sched_actions_reset(&batch);
        free(batch.v);
    }
}

/* ---- request parsing ---- */

struct req_err {
    enum rpc_code code;
    char msg[RPC_ERR_MSG_MAX];
};

static int __attribute__((format(printf, 3, 4)))
req_fail(struct req_err *e, enum rpc_code code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* Map a core error to the call's status. */
static int
core_fail(struct req_err *e, int rv, const char *what, const char *id)
{
    return req_fail(e, rpc_err_from_df(rv), "%s %s: %s", what, id, df_strerror(rv));
}

/* A request naming one object; *r owns the id (proto_sched_ref_reset). */
static int
ref_get(const cJSON *req, enum proto_sched_ref_kind kind, struct proto_sched_ref *r,
        struct req_err *e)
{
    struct df_error err;

    memset(r, 0, sizeof(*r));
    if (proto_sched_ref_from_json(req, kind, r, &err) != 0)
        return req_fail(e, RPC_INVALID_ARGUMENT, "%s", err.msg);
    return 0;
}

/* ---- who may do what (README "Security") ---- */

/*
 * A caller acts only for its own host. With a cluster certificate, the host's announced
 * hostname must be the certificate's host. Without one (a plaintext scheduler, or
 * tls.requireClientCert off), a host belongs to the address that announced it first (H1):
 * a caller from another IP may not announce over it, make it leave or register peers on
 * it. Callers on a unix socket (src "") count as one address, this machine's. An unknown
 * host passes: the core answers not_found. Returns 0, or -1 with permission_denied in e.
 */
static int
auth_host(struct sched *ctx, const struct net_tls_identity *id, const char *src,
          const char *host_id, struct req_err *e)
{
    struct sched_host_stat hs;
    const char *owner;

    if (sched_state_host_stat(ctx->state, host_id, &hs) != 0)
        return 0;
    if (id->role != NET_TLS_ROLE_NONE) {
        if (hs.hostname == NULL || strcmp(hs.hostname, id->host) != 0)
            return req_fail(e, RPC_PERMISSION_DENIED,
                            "host %s belongs to %s, not to the caller's certificate (%s)", host_id,
                            hs.hostname != NULL ? hs.hostname : "-", id->host);
        return 0;
    }
    owner = hs.source != NULL ? hs.source : "";
    if (strcmp(owner, src) != 0)
        return req_fail(e, RPC_PERMISSION_DENIED,
                        "host %s was announced from %s, not from the caller's address %s", host_id,
                        *owner != '\0' ? owner : "a unix socket",
                        *src != '\0' ? src : "(unix socket)");
    return 0;
}

/*
 * Source piece digests and tiny content decide what every other peer accepts (C3). With
 * mTLS on the scheduler they come only from a seed certificate; without it (plaintext,
 * unauthenticated) only on a stream the scheduler itself sent to the source.
 */
static int
auth_source_report(const struct sched_stream *st, struct req_err *e)
{
    if (st->ctx->tls_server != NULL) {
        if (st->ident.role != NET_TLS_ROLE_SEED)
            return req_fail(e, RPC_PERMISSION_DENIED,
                            "source reports need a seed certificate, the caller has %s%s%s",
                            net_tls_role_name(st->ident.role),
                            st->ident.role != NET_TLS_ROLE_NONE ? " for " : "", st->ident.host);
        return 0;
    }
    if (!st->sent_to_source)
        return req_fail(e, RPC_PERMISSION_DENIED,
                        "peer %s: source report, but the scheduler did not send it to the source",
                        st->peer_id);
    return 0;
}

/* ---- AnnouncePeer ---- */

/*
 * The first download of a task goes as its effective priority says (sched_prio.h): LEVEL1
 * and LEVEL2 end the stream with upstream's refusals, which our peers take as final (they do
 * not fetch from the origin themselves then); LEVEL3, or a seed that failed lately, sends the
 * peer to the source; the others go the usual way, where a seed is triggered. Returns -1
 * with e set for a refusal.
 */
static int
peer_priority(struct sched_stream *st, const struct proto_sched_peer_req *req,
              struct sched_register *r, struct req_err *e)
{
    const struct proto_dfdaemon_download *d = &req->download;
    int64_t now = df_time_wall_steady_ms(), seed_fail_at = 0;
    uint32_t level;

    if (d->need_back_to_source || !sched_state_is_first_download(st->ctx->state, st->task_id,
                                                                 st->host_id, now, &seed_fail_at))
        return 0;
    level = sched_manager_priority(st->ctx, d->priority, d->application, d->url);
    switch (sched_prio_decide(level, seed_fail_at, now)) {
    case SCHED_PRIO_FORBIDDEN:
        return req_fail(e, RPC_FAILED_PRECONDITION, "%s", PROTO_SCHED_PRIORITY_FORBIDDEN);
    case SCHED_PRIO_NO_PEERS:
        return req_fail(e, RPC_NOT_FOUND, "%s", PROTO_SCHED_PRIORITY_NO_PEERS);
    case SCHED_PRIO_SOURCE:
        log_debug("sched", "sched: peer %s: task %.12s: %s: to the source itself", st->peer_id,
                  st->task_id, sched_prio_level_name(level));
        r->need_back_to_source = true;
        break;
    case SCHED_PRIO_SEED:
        break;
    }
    return 0;
}

/* A register; on success the task keeps req's download for its seed. */
static int
peer_register(struct sched_stream *st, struct proto_sched_peer_req *req, struct req_err *e)
{
    struct sched *ctx = st->ctx;
    struct sched_register r;
    struct sched_rtask *rt;
    uint32_t level = req->download.priority;
    int rv;

    if (st->state != SCHED_STREAM_OPEN)
        return req_fail(e, RPC_ALREADY_EXISTS, "peer %s: already registered", st->peer_id);
    if (sched_manager_blocked(ctx, req->download.url, req->download.tag, req->download.application))
        return req_fail(e, RPC_FAILED_PRECONDITION, "peer %s: the task is in the block list",
                        st->peer_id);
    memset(&r, 0, sizeof(r));
    r.url = req->download.url;
    r.tag = req->download.tag;
    r.application = req->download.application;
    r.need_back_to_source = req->download.need_back_to_source;
    r.host_id = st->host_id;
    r.task_id = st->task_id;
    r.peer_id = st->peer_id;
    r.content_length = req->content_length;
    r.piece_length = req->piece_length;
    if (peer_priority(st, req, &r, e) != 0) {
        ctx->m.register_failed++;
        ctx->m.register_failed_by_level[level]++;
        return -1;
    }
    if ((rv = sched_state_peer_register(ctx->state, &r, df_time_wall_steady_ms(), &ctx->acts)) !=
        0) {
        ctx->m.register_failed++;
        ctx->m.register_failed_by_level[level]++;
        return core_fail(e, rv, "register peer", st->peer_id);
    }
    ctx->m.register_by_level[level]++;
    st->level = level;
    ctx->m.register_total++;
    rt = rtask_get(ctx, st->task_id, true);
    if (rt == NULL || df_map_put(&ctx->streams, st->peer_id, st) != 0) {
        if (rt != NULL && rt->nstreams == 0)
            rtask_free(ctx, rt);
        stream_queue_leave(ctx, st->peer_id);
        return req_fail(e, RPC_RESOURCE_EXHAUSTED, "too many streams");
    }
    proto_dfdaemon_download_reset(&rt->download);
    rt->download = req->download;
    memset(&req->download, 0, sizeof(req->download));
    TAILQ_INSERT_TAIL(&rt->streams, st, tentry);
    rt->nstreams++;
    st->rt = rt;
    stream_set_state(st, SCHED_STREAM_REGISTERED);
    log_debug("sched", "sched: peer %s registered for task %.12s", st->peer_id, st->task_id);
    digest_send_all(st);
    return 0;
}

static int
peer_piece(struct sched_stream *st, const struct proto_sched_piece *p, struct req_err *e)
{
    struct sched *ctx = st->ctx;
    bool from_source = p->parent_id == NULL;
    struct sched_piece pc;
    int rv;

    memset(&pc, 0, sizeof(pc));
    pc.number = p->number;
    pc.parent_id = p->parent_id;
    pc.length = p->length;
    pc.cost = p->cost;
    pc.has_digest = from_source && p->has_digest;
    pc.digest = p->digest;
    if (from_source && p->has_content) {
        pc.content = p->content;
        pc.content_len = p->content_len;
    }
    if ((rv = sched_state_piece_finished(ctx->state, st->peer_id, &pc, df_time_wall_steady_ms(),
                                         &ctx->acts)) != 0)
        return core_fail(e, rv, "piece finished of peer", st->peer_id);
    if (from_source) {
        ctx->m.pieces_from_source++;
        ctx->m.bytes_from_source += p->length;
        digest_queue(ctx, st->task_id, p->number, p->offset, p->length, &p->digest);
    } else {
        ctx->m.pieces_from_peers++;
        ctx->m.bytes_from_peers += p->length;
    }
    return 0;
}

static int
peer_reschedule(struct sched_stream *st, const struct proto_sched_peer_req *req, struct req_err *e)
{
    struct sched *ctx = st->ctx;
    const char *ids[SCHED_MAX_RESCHEDULE];
    size_t n = 0;
    int rv;

    for (size_t i = 0; i < req->ncandidate_parents && n < SCHED_MAX_RESCHEDULE; i++)
        ids[n++] = req->candidate_parents[i];
    log_debug("sched", "sched: peer %s reschedules (%zu blocked): %s", st->peer_id, n,
              req->description != NULL ? req->description : "");
    if ((rv = sched_state_peer_reschedule(ctx->state, st->peer_id, ids, n, df_time_wall_steady_ms(),
                                          &ctx->acts)) != 0)
        return core_fail(e, rv, "reschedule peer", st->peer_id);
    return 0;
}

static int
peer_dispatch(struct sched_stream *st, struct proto_sched_peer_req *req, struct req_err *e)
{
    struct sched *ctx = st->ctx;
    int64_t now = df_time_wall_steady_ms();
    struct sched_peer_stat pstat;
    int rv = 0;

    switch (req->kind) {
    case PROTO_PEER_REGISTER:
        return peer_register(st, req, e);
    case PROTO_PEER_STARTED:
        rv = sched_state_peer_started(ctx->state, st->peer_id, now);
        break;
    case PROTO_PEER_BTS_STARTED:
        rv = sched_state_peer_back_to_source_started(ctx->state, st->peer_id, req->content_length,
                                                     req->piece_length, now, &ctx->acts);
        if (rv == 0) {
            ctx->m.back_to_source++;
            ctx->m.bts_by_level[st->level]++;
        }
        break;
    case PROTO_PEER_RESCHEDULE:
        return peer_reschedule(st, req, e);
    case PROTO_PEER_PIECE_FINISHED:
        return peer_piece(st, &req->piece, e);
    case PROTO_PEER_BTS_PIECE_FINISHED:
        if (auth_source_report(st, e) != 0)
            return -1;
        return peer_piece(st, &req->piece, e);
    case PROTO_PEER_PIECE_FAILED:
        ctx->m.piece_failed++;
        rv = sched_state_piece_failed(ctx->state, st->peer_id, req->piece_number, req->parent_id,
                                      now, &ctx->acts);
        break;
    case PROTO_PEER_FINISHED:
    case PROTO_PEER_BTS_FINISHED:
        /* registered at created_at: its download took until now */
        if (sched_state_peer_stat(ctx->state, st->peer_id, &pstat) != 0)
            pstat.created_at = now;
        rv = sched_state_peer_finished(ctx->state, st->peer_id, now, &ctx->acts);
        if (rv == 0) {
            df_metrics_observe(ctx->peer_duration, (double)(now - pstat.created_at));
            if (st->state == SCHED_STREAM_REGISTERED) /* a second report changes nothing */
                stream_set_state(st, SCHED_STREAM_FINISHED);
            ctx->m.peer_finished++;
            ctx->m.finished_by_level[st->level]++;
        }
        break;
    case PROTO_PEER_FAILED:
    case PROTO_PEER_BTS_FAILED:
        rv = sched_state_peer_failed(ctx->state, st->peer_id, now, &ctx->acts);
        if (rv == 0) {
            ctx->m.peer_failed++;
            ctx->m.failed_by_level[st->level]++;
        }
        break;
    case PROTO_PEER_REQ_KINDS:
        break;
    }
    if (rv != 0)
        return core_fail(e, rv, proto_sched_peer_req_kind_name(req->kind), st->peer_id);
    return 0;
}

/* One stream message: parsed whole, then it must be this stream's peer (the first message
 * binds the stream to its ids, for a host the caller may act for). */
static int
peer_message(struct sched_stream *st, const cJSON *msg, struct req_err *e)
{
    struct proto_sched_peer_req req;
    struct df_error err;
    int rv;

    if ((rv = proto_sched_peer_req_from_json(msg, &req, &err)) != 0)
        return req_fail(e, rv == DF_EPERM ? RPC_PERMISSION_DENIED : RPC_INVALID_ARGUMENT, "%s",
                        err.msg);
    if (st->peer_id == NULL) {
        rv = auth_host(st->ctx, &st->ident, st->src, req.host_id, e);
        if (rv == 0) {
            st->peer_id = xstrdup(req.peer_id);
            st->host_id = xstrdup(req.host_id);
            st->task_id = xstrdup(req.task_id);
        }
    } else if (strcmp(st->peer_id, req.peer_id) != 0 || strcmp(st->host_id, req.host_id) != 0 ||
               strcmp(st->task_id, req.task_id) != 0) {
        rv = req_fail(e, RPC_INVALID_ARGUMENT, "this stream belongs to peer %s", st->peer_id);
    }
    if (rv == 0 && req.kind != PROTO_PEER_REGISTER && !stream_is_bound(st))
        rv = req_fail(e, RPC_FAILED_PRECONDITION, "%s before %s",
                      proto_sched_peer_req_kind_name(req.kind),
                      proto_sched_peer_req_kind_name(PROTO_PEER_REGISTER));
    if (rv == 0)
        rv = peer_dispatch(st, &req, e);
    proto_sched_peer_req_reset(&req);
    return rv;
}

static void
stream_message_cb(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct sched_stream *st = arg;
    struct sched *ctx = st->ctx;
    struct req_err e;

    (void)call;
    st->in_cb = true;
    memset(&e, 0, sizeof(e));
    if (peer_message(st, msg, &e) != 0) {
        log_debug("sched", "sched: stream %s: %s", st->peer_id != NULL ? st->peer_id : "-", e.msg);
        stream_end(st, e.code, e.msg, true);
    }
    deliver_all(ctx);
    st->in_cb = false;
    if (st->state == SCHED_STREAM_CLOSED)
        stream_free(st); /* closed while the callback ran */
}

static void
stream_end_cb(struct rpc_call *call, void *arg)
{
    struct sched_stream *st = arg;
    struct sched *ctx = st->ctx;

    (void)call;
    stream_end(st, RPC_OK, NULL, true);
    deliver_all(ctx);
}

static void
stream_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    struct sched_stream *st = arg;
    struct sched *ctx = st->ctx;
    bool in_cb;

    (void)call;
    log_debug("sched", "sched: peer %s: stream lost (%s)", st->peer_id != NULL ? st->peer_id : "-",
              rpc_err_name(why));
    in_cb = st->in_cb;
    stream_close(st, true);
    if (!in_cb)
        deliver_all(ctx); /* else the running callback delivers (and frees st) */
}

static void
announce_peer(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_message = stream_message_cb,
                               .on_end = stream_end_cb,
                               .on_cancel = stream_cancel_cb};
    struct sched *ctx = arg;
    struct sched_stream *st = xcalloc(1, sizeof(*st));

    (void)req;
    st->ctx = ctx;
    st->call = call;
    rpc_call_peer_identity(call, &st->ident);
    rpc_call_peer_ip(call, st->src, sizeof(st->src));
    TAILQ_INSERT_TAIL(&ctx->all, st, entry);
    ctx->m.streams_total++;
    rpc_call_set_cbs(call, &cbs, st);
}

/* ---- unary methods ---- */

static void
reply_empty(struct rpc_call *call)
{
    rpc_call_reply_raw(call, "{}", 2);
}

static void
reply_err(struct rpc_call *call, const struct req_err *e)
{
    rpc_call_finish(call, e->code, e->msg);
}

/* The core's view of an announced host; strings are borrowed from a. */
static void
host_info_of(const struct proto_sched_announce_host *a, struct sched_host_info *info)
{
    const struct proto_sched_host *h = &a->host;

    memset(info, 0, sizeof(*info));
    info->id = h->id;
    info->ip = h->ip;
    info->hostname = h->hostname;
    info->idc = h->idc;
    info->location = h->location;
    info->type = h->type == PROTO_HOST_SEED ? SCHED_HOST_SEED : SCHED_HOST_NORMAL;
    info->rpc_port = h->port;
    info->download_port = h->download_port;
    info->upload_rate_limit = h->upload_rate_limit;
    info->upload_slots = h->upload_slots;
    info->concurrent_uploads = h->concurrent_uploads;
}

/*
 * Under mTLS a host announces itself only: hostname is the certificate's host, the id is
 * the one its ip and hostname make (so nobody squats an id before its host arrives), an
 * existing id stays with its host, and only a seed certificate announces a seed. With TLS
 * on but no client certificate, a host may still not announce a seed. Without a
 * certificate, an existing id stays with the address that announced it (auth_host).
 */
static int
auth_announce(struct sched *ctx, const struct net_tls_identity *id, const char *src,
              const struct sched_host_info *info, struct req_err *e)
{
    char *want;
    int rv;

    if (ctx->tls_server != NULL && info->type == SCHED_HOST_SEED && id->role != NET_TLS_ROLE_SEED)
        return req_fail(e, RPC_PERMISSION_DENIED,
                        "a seed host needs a seed certificate, the caller has %s",
                        net_tls_role_name(id->role));
    if (id->role == NET_TLS_ROLE_NONE) {
        /* The id the core files the host under. */
        want = info->id != NULL && *info->id != '\0'
                       ? xstrdup(info->id)
                       : df_id_host_new(info->ip, info->hostname, info->type == SCHED_HOST_SEED);
        rv = auth_host(ctx, id, src, want, e);
        free(want);
        return rv;
    }
    if (strcmp(info->hostname, id->host) != 0)
        return req_fail(e, RPC_PERMISSION_DENIED,
                        "host.hostname %.64s is not the caller's certificate host %s",
                        info->hostname, id->host);
    if (info->id == NULL || *info->id == '\0')
        return 0;
    want = df_id_host_new(info->ip, info->hostname, info->type == SCHED_HOST_SEED);
    if (strcmp(info->id, want) != 0)
        rv = req_fail(e, RPC_PERMISSION_DENIED, "host.id %.64s: a host of %s is %s", info->id,
                      id->host, want);
    else
        rv = auth_host(ctx, id, src, info->id, e);
    free(want);
    return rv;
}

static void
announce_host(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct sched *ctx = arg;
    struct net_tls_identity id;
    struct sched_host_info info;
    struct proto_sched_announce_host a;
    struct df_error err;
    struct req_err e;
    char src[64];
    int rv;

    rpc_call_peer_identity(call, &id);
    rpc_call_peer_ip(call, src, sizeof(src));
    memset(&a, 0, sizeof(a));
    if (proto_sched_announce_host_from_json(req, &a, &err) != 0) {
        req_fail(&e, RPC_INVALID_ARGUMENT, "%s", err.msg);
        reply_err(call, &e);
        return;
    }
    host_info_of(&a, &info);
    if (auth_announce(ctx, &id, src, &info, &e) != 0) {
        proto_sched_announce_host_reset(&a);
        reply_err(call, &e);
        return;
    }
    /* New hosts count against their caller's quota (M3) and belong to it (H1). */
    info.source = src[0] != '\0' ? src : NULL;
    rv = sched_state_host_announce(ctx->state, &info, df_time_wall_steady_ms());
    if (rv != 0) {
        core_fail(&e, rv, "announce host", info.id != NULL ? info.id : info.ip);
        reply_err(call, &e);
    } else {
        ctx->m.announce_host++;
        reply_empty(call);
    }
    proto_sched_announce_host_reset(&a);
}

typedef void ref_handler(struct sched *ctx, struct rpc_call *call, const char *id);

/* A unary call naming one object: parse it, then fn answers for that id. */
static void
ref_call(struct rpc_call *call, const cJSON *req, enum proto_sched_ref_kind kind, ref_handler *fn,
         struct sched *ctx)
{
    struct proto_sched_ref r;
    struct req_err e;

    if (ref_get(req, kind, &r, &e) != 0) {
        reply_err(call, &e);
        return;
    }
    fn(ctx, call, r.id);
    proto_sched_ref_reset(&r);
}

static void
leave_host_id(struct sched *ctx, struct rpc_call *call, const char *id)
{
    struct sched_stream *st, *next;
    struct net_tls_identity ident;
    struct req_err e;
    char src[64];
    int rv;

    rpc_call_peer_identity(call, &ident);
    rpc_call_peer_ip(call, src, sizeof(src));
    if (auth_host(ctx, &ident, src, id, &e) != 0) {
        reply_err(call, &e);
        return;
    }
    if ((rv = sched_state_host_leave(ctx->state, id, df_time_wall_steady_ms(), &ctx->acts)) != 0) {
        core_fail(&e, rv, "host", id);
        reply_err(call, &e);
        return;
    }
    ctx->m.leave_host++;
    /* The host's peers are gone from the core: end their streams without a second leave. */
    for (st = TAILQ_FIRST(&ctx->all); st != NULL; st = next) {
        next = TAILQ_NEXT(st, entry);
        if (st->host_id != NULL && strcmp(st->host_id, id) == 0)
            stream_end(st, RPC_OK, NULL, false);
    }
    reply_empty(call);
    deliver_all(ctx);
}

static void
leave_host(struct rpc_call *call, const cJSON *req, void *arg)
{
    ref_call(call, req, PROTO_SCHED_REF_LEAVE_HOST, leave_host_id, arg);
}

static void
stat_task_id(struct sched *ctx, struct rpc_call *call, const char *id)
{
    struct sched_task_stat ts;
    struct req_err e;
    cJSON *o;
    int rv;

    if ((rv = sched_state_task_stat(ctx->state, id, &ts)) != 0) {
        core_fail(&e, rv, "task", id);
        reply_err(call, &e);
        return;
    }
    o = sched_json_task_new(&ts);
    if (o == NULL) {
        rpc_call_finish(call, RPC_INTERNAL, "out of memory");
        return;
    }
    rpc_call_reply(call, o);
    cJSON_Delete(o);
}

static void
stat_task(struct rpc_call *call, const cJSON *req, void *arg)
{
    ref_call(call, req, PROTO_SCHED_REF_STAT_TASK, stat_task_id, arg);
}

static void
stat_peer_id(struct sched *ctx, struct rpc_call *call, const char *id)
{
    struct sched_peer_stat ps;
    struct req_err e;
    cJSON *o;
    int rv;

    if ((rv = sched_state_peer_stat(ctx->state, id, &ps)) != 0) {
        core_fail(&e, rv, "peer", id);
        reply_err(call, &e);
        return;
    }
    o = sched_json_peer_new(&ps);
    if (o == NULL) {
        rpc_call_finish(call, RPC_INTERNAL, "out of memory");
        return;
    }
    rpc_call_reply(call, o);
    cJSON_Delete(o);
}

static void
stat_peer(struct rpc_call *call, const cJSON *req, void *arg)
{
    ref_call(call, req, PROTO_SCHED_REF_STAT_PEER, stat_peer_id, arg);
}

static void
stat_host_id(struct sched *ctx, struct rpc_call *call, const char *id)
{
    struct sched_host_stat hs;
    struct req_err e;
    cJSON *o;
    int rv;

    if ((rv = sched_state_host_stat(ctx->state, id, &hs)) != 0) {
        core_fail(&e, rv, "host", id);
        reply_err(call, &e);
        return;
    }
    o = sched_json_host_new(&hs);
    if (o == NULL) {
        rpc_call_finish(call, RPC_INTERNAL, "out of memory");
        return;
    }
    rpc_call_reply(call, o);
    cJSON_Delete(o);
}

static void
stat_host(struct rpc_call *call, const cJSON *req, void *arg)
{
    ref_call(call, req, PROTO_SCHED_REF_STAT_HOST, stat_host_id, arg);
}

static void
leave_peer_id(struct sched *ctx, struct rpc_call *call, const char *id)
{
    struct sched_stream *st;
    struct net_tls_identity ident;
    struct sched_peer_stat ps;
    struct req_err e;
    char src[64];
    int rv;

    rpc_call_peer_identity(call, &ident);
    rpc_call_peer_ip(call, src, sizeof(src));
    if ((sched_state_peer_stat(ctx->state, id, &ps) == 0 &&
         auth_host(ctx, &ident, src, ps.host_id, &e) != 0)) {
        reply_err(call, &e);
        return;
    }
    if ((rv = sched_state_peer_leave(ctx->state, id, df_time_wall_steady_ms(), &ctx->acts)) != 0) {
        core_fail(&e, rv, "peer", id);
        reply_err(call, &e);
        return;
    }
    ctx->m.peer_left++;
    if ((st = df_map_get(&ctx->streams, id)) != NULL)
        stream_end(st, RPC_OK, NULL, false);
    reply_empty(call);
    deliver_all(ctx);
}

static void
leave_peer(struct rpc_call *call, const cJSON *req, void *arg)
{
    ref_call(call, req, PROTO_SCHED_REF_LEAVE_PEER, leave_peer_id, arg);
}

/* ---- service ---- */

int
sched_rpc_init(struct sched *ctx)
{
    const struct rpc_method methods[] = {
            {PROTO_SCHED_ANNOUNCE_HOST, RPC_KIND_UNARY, announce_host, ctx},
            {PROTO_SCHED_LEAVE_HOST, RPC_KIND_UNARY, leave_host, ctx},
            {PROTO_SCHED_STAT_TASK, RPC_KIND_UNARY, stat_task, ctx},
            {PROTO_SCHED_STAT_PEER, RPC_KIND_UNARY, stat_peer, ctx},
            {PROTO_SCHED_STAT_HOST, RPC_KIND_UNARY, stat_host, ctx},
            {PROTO_SCHED_LEAVE_PEER, RPC_KIND_UNARY, leave_peer, ctx},
            {PROTO_SCHED_ANNOUNCE_PEER, RPC_KIND_BIDI, announce_peer, ctx},
    };
    int rv;

    df_map_init(&ctx->streams, ctx->scfg.max_peers);
    df_map_init(&ctx->rtasks, ctx->scfg.max_tasks);
    TAILQ_INIT(&ctx->all);
    TAILQ_INIT(&ctx->dirty);
    TAILQ_INIT(&ctx->seeds);
    ctx->flush_ev = evtimer_new(ctx->base, digest_flush_cb, ctx);
    if (ctx->flush_ev == NULL)
        return DF_ENOMEM;
    if ((rv = rpc_server_register(ctx->rpc, methods, DF_NELEM(methods))) != 0)
        return rv;
    /* From here seed hosts may announce; until then a restarted scheduler knows none. */
    sched_state_start(ctx->state, df_time_wall_steady_ms());
    /* A register's download object is kept for the task's life: bound it. */
    return rpc_server_limit_method(ctx->rpc, PROTO_SCHED_ANNOUNCE_PEER, PROTO_SCHED_ANNOUNCE_MAX);
}

void
sched_rpc_tick(struct sched *ctx)
{
    if (ctx->stopping)
        return;
    sched_state_tick(ctx->state, df_time_wall_steady_ms(), &ctx->acts);
    deliver_all(ctx);
}

void
sched_rpc_gc(struct sched *ctx)
{
    struct sched_gc_stats gs;

    if (ctx->stopping)
        return;
    memset(&gs, 0, sizeof(gs));
    sched_state_gc(ctx->state, df_time_wall_steady_ms(), &ctx->acts, &gs);
    ctx->m.gc_peers += gs.peers;
    ctx->m.gc_hosts += gs.hosts;
    ctx->m.gc_tasks += gs.tasks;
    if (gs.peers + gs.hosts + gs.tasks > 0)
        log_info("sched: gc collected %u peers, %u hosts, %u tasks", gs.peers, gs.hosts, gs.tasks);
    deliver_all(ctx);
}

void
sched_rpc_reset(struct sched *ctx)
{
    struct sched_stream *st;
    struct sched_seed *sd;
    struct sched_rtask *rt;

    ctx->stopping = true;
    /* Streams are normally gone with rpc_server_free; free any left. */
    while (ctx->all.tqh_first != NULL) {
        st = TAILQ_FIRST(&ctx->all);
        st->in_cb = false; /* nothing runs now: free it here */
        stream_close(st, false);
    }
    while ((sd = TAILQ_FIRST(&ctx->seeds)) != NULL) {
        TAILQ_REMOVE(&ctx->seeds, sd, entry);
        rpc_client_free(sd->client);
        free(sd);
    }
    while ((rt = TAILQ_FIRST(&ctx->dirty)) != NULL)
        rtask_free(ctx, rt);
    for (size_t i = 0; i < ctx->rtasks.nslots; i++) {
        if (ctx->rtasks.slots != NULL && ctx->rtasks.slots[i].key != NULL) {
            rt = ctx->rtasks.slots[i].value;
            rtask_free(ctx, rt);
            i = (size_t)-1; /* deletion shifts slots: rescan */
        }
    }
    while (ctx->nleaves > 0)
        free(ctx->leaves[--ctx->nleaves]);
    free(ctx->leaves);
    ctx->leaves = NULL;
    if (ctx->flush_ev != NULL)
        event_free(ctx->flush_ev);
    ctx->flush_ev = NULL;
    sched_actions_reset(&ctx->acts);
    free(ctx->acts.v);
    memset(&ctx->acts, 0, sizeof(ctx->acts));
    df_map_reset(&ctx->streams);
    df_map_reset(&ctx->rtasks);
}

size_t
sched_rpc_stream_count(const struct sched *ctx)
{
    const struct sched_stream *st;
    size_t n = 0;

    TAILQ_FOREACH (st, &ctx->all, entry)
        n++;
    return n;
}
