/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P2P side as a parent: SyncPieces streams to children (the pieces held, then each new
 * one, or one being received for cut-through) and DownloadTask from the scheduler (a seed
 * told to fetch a task).
 */

#include <stdlib.h>
#include <string.h>

#include "df/df_id.h"
#include "df/net_tls.h"
#include "df/proto_dfdaemon.h"
#include "df/rpc_server.h"
#include "df/store_piece.h"
#include "df/store_task.h"
#include "df/xmalloc.h"
#include "peer_p2p.h"
#include "peer_task.h"
#include "peer_p2p_int.h"

static const struct rpc_call_cbs peer_p2p_no_cbs;

static void
peer_sync_send(struct peer_sync *s, uint64_t number, uint64_t off, uint64_t len, bool receiving)
{
    struct proto_dfdaemon_sync_piece sp = {.number = (uint32_t)number,
                                           .offset = off,
                                           .length = (uint32_t)len,
                                           .receiving = receiving};
    cJSON *m = proto_dfdaemon_sync_piece_to_json(&sp);

    if (m != NULL)
        rpc_call_send(s->call, m);
    cJSON_Delete(m);
}

static void
peer_sync_send_piece(struct peer_sync *s, uint64_t number, uint64_t off, uint64_t len)
{
    peer_sync_send(s, number, off, len, false);
}

/* Tell every child following task_id about a piece. */
void
peer_sync_broadcast(struct peer_p2p_ctx *pc, const char *task_id, uint64_t number, uint64_t off,
                    uint64_t len, bool receiving)
{
    struct peer_sync *s, *next;

    for (s = TAILQ_FIRST(&pc->syncs); s != NULL; s = next) {
        next = TAILQ_NEXT(s, entry);
        if (strcmp(s->task_id, task_id) == 0)
            peer_sync_send(s, number, off, len, receiving);
    }
}

/*
 * Cut-through: a piece this peer is fetching from a parent is offered to its children as
 * "receiving" (they may fetch it at once; the upload server relays the bytes as they are
 * written, and the last byte only once the piece is verified here). Only without an upload
 * limit: the relay does not take the rate limiter's path.
 */
void
peer_p2p_offer_receiving(struct peer_p2p *p, const struct peer_fetch *f)
{
    if (p->pc->ctx->cfg.upload_rate == 0)
        peer_sync_broadcast(p->pc, p->task_id, f->piece, f->off, f->len, true);
}

/* A new child of a running task also learns the pieces we are receiving now. */
static void
peer_sync_offer_receiving(struct peer_sync *s, const struct peer_p2p *p)
{
    if (p->pc->ctx->cfg.upload_rate > 0)
        return;
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
        const struct peer_fetch *f = &p->fetch[i];
        if (f->busy && p->fetch_parent[i] != NULL)
            peer_sync_send(s, f->piece, f->off, f->len, true);
    }
}

static void
peer_sync_free(struct peer_sync *s)
{
    TAILQ_REMOVE(&s->pc->syncs, s, entry);
    free(s);
}

static void
peer_sync_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    (void)call;
    (void)why;
    peer_sync_free(arg);
}

void
peer_sync_finish(struct peer_sync *s, enum rpc_code code, const char *msg)
{
    rpc_call_set_cbs(s->call, &peer_p2p_no_cbs, NULL);
    rpc_call_finish(s->call, code, msg);
    peer_sync_free(s);
}

/* End the SyncPieces calls of every child following task_id. */
void
peer_sync_finish_task(struct peer_p2p_ctx *pc, const char *task_id, enum rpc_code code,
                      const char *msg)
{
    struct peer_sync *s, *next;

    if (pc == NULL)
        return;
    for (s = TAILQ_FIRST(&pc->syncs); s != NULL; s = next) {
        next = TAILQ_NEXT(s, entry);
        if (strcmp(s->task_id, task_id) == 0)
            peer_sync_finish(s, code, msg);
    }
}

void
peer_p2p_sync_pieces(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_cancel = peer_sync_cancel_cb};
    struct peer_p2p_ctx *pc = arg;
    struct store_piece *pieces = NULL;
    struct store_task st;
    struct peer_task *t;
    struct peer_sync *s;
    struct proto_dfdaemon_task_ref ref;
    struct df_error err;
    const char *id = ref.task_id;
    size_t n = 0;
    bool done;

    if (proto_dfdaemon_task_ref_from_json(req, &ref, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    memset(&st, 0, sizeof(st));
    if (store_task_get(pc->ctx->db, id, &st) != 0 && peer_task_find(pc->ctx, id) == NULL) {
        rpc_call_finish(call, RPC_NOT_FOUND, "task not on this peer");
        return;
    }
    done = st.state == STORE_TASK_DONE;
    store_task_reset(&st);
    s = xcalloc(1, sizeof(*s));
    s->pc = pc;
    s->call = call;
    memcpy(s->task_id, id, sizeof(s->task_id));
    TAILQ_INSERT_TAIL(&pc->syncs, s, entry);
    rpc_call_set_cbs(call, &cbs, s);
    if (store_piece_list_finished(pc->ctx->db, id, &pieces, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            peer_sync_send_piece(s, pieces[i].number, pieces[i].offset, pieces[i].length);
        free(pieces);
    }
    if (done) {
        peer_sync_finish(s, RPC_OK, NULL);
        return;
    }
    if ((t = peer_task_find(pc->ctx, id)) != NULL && t->p2p != NULL)
        peer_sync_offer_receiving(s, t->p2p);
}

void
peer_p2p_download_task(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct peer_p2p_ctx *pc = arg;
    struct peer_download_req r;
    struct net_tls_identity id;
    struct df_error err;

    if (pc->stopping) {
        rpc_call_finish(call, RPC_UNAVAILABLE, "peer is shutting down");
        return;
    }
    /* Under mTLS only the scheduler (and later the manager, for preheat) sends a download. */
    rpc_call_peer_identity(call, &id);
    if (pc->ctx->tls_server != NULL && id.role != NET_TLS_ROLE_SCHEDULER &&
        id.role != NET_TLS_ROLE_MANAGER) {
        rpc_call_finish(call, RPC_PERMISSION_DENIED,
                        "DownloadTask needs a scheduler or manager certificate");
        return;
    }
    if (peer_download_req_parse(req, false, &r, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    /* Another host (the scheduler) asks: its back-to-source obeys the policy. */
    if (peer_download_req_restrict(&r, pc->ctx, &err) != 0) {
        rpc_call_finish(call, RPC_PERMISSION_DENIED, err.msg);
        peer_download_req_reset(&r);
        return;
    }
    peer_task_download(pc->ctx, call, &r);
}

/*
 * DeleteTask from the manager (delete_task job) or the scheduler: under mTLS only their
 * certificates, since it empties a cache other hosts fetch from. The store rules hold: a
 * task being downloaded is refused (failed_precondition) rather than cut from under its
 * pieces, a held one goes by the eviction path (peer_task_delete).
 */
void
peer_p2p_delete_task(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct peer_p2p_ctx *pc = arg;
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(req, "taskId");
    struct net_tls_identity id;
    struct df_error err;
    int rv;

    rpc_call_peer_identity(call, &id);
    if (pc->ctx->tls_server != NULL && id.role != NET_TLS_ROLE_SCHEDULER &&
        id.role != NET_TLS_ROLE_MANAGER) {
        rpc_call_finish(call, RPC_PERMISSION_DENIED,
                        "DeleteTask needs a scheduler or manager certificate");
        return;
    }
    if (!cJSON_IsString(tid) || !df_id_task_is_valid(tid->valuestring)) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, "taskId: expected 64 lowercase hex digits");
        return;
    }
    if ((rv = peer_task_delete(pc->ctx, tid->valuestring, &err)) != 0) {
        rpc_call_finish(call,
                        rv == DF_EAGAIN      ? RPC_FAILED_PRECONDITION
                        : rv == DF_ENOTFOUND ? RPC_NOT_FOUND
                                             : RPC_INTERNAL,
                        err.msg);
        return;
    }
    rpc_call_reply_raw(call, "{}", 2);
}
