/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's RPC service for local clients (`dragonfly get`), over the unix socket and the
 * RPC port: dfdaemon.v2.DfdaemonDownload/DownloadTask streams the download's progress and
 * ends when the content is in the caller's descriptor; StatTask reports a task. Requests
 * are read and validated by proto_dfdaemon (the wire schema) and checked here for who may
 * ask what, so tasks only ever see well-formed input. No request ever names a path the peer
 * writes to: an output exists only as a descriptor passed on the unix socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df/df_digest.h"
#include "df/df_json.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/net_listener.h"
#include "df/proto_dfdaemon.h"
#include "df/rpc_server.h"
#include "df/xmalloc.h"
#include "peer_p2p.h"
#include "peer_rpc.h"
#include "peer_task.h"

/* A descriptor the peer may write an output into: open for writing, not a directory. */
static int
peer_rpc_check_output(int fd, struct df_error *err)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);

    if (fl == -1 || fstat(fd, &st) != 0)
        return df_error_set(err, DF_EINVAL, "output descriptor: %s", strerror(errno));
    if ((fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH) != 0)
        return df_error_set(err, DF_EINVAL, "output descriptor: not open for writing");
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode) &&
        !S_ISSOCK(st.st_mode))
        return df_error_set(err, DF_EINVAL, "output descriptor: not a file, pipe or terminal");
    return 0;
}

/*
 * DownloadTask. Over TCP only cache downloads; on the unix socket the output goes into the
 * descriptor the caller passed with the connection (its file, created with its rights).
 */
static void
peer_rpc_download_task(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct peer *ctx = arg;
    const struct net_caller *caller = rpc_call_caller(call);
    struct peer_download_req r;
    struct df_error err;
    int rv, fd = -1;

    if (ctx->stopping) {
        rpc_call_finish(call, RPC_UNAVAILABLE, "peer is shutting down");
        return;
    }
    if ((rv = peer_download_req_parse(req, caller != NULL, &r, &err)) != 0) {
        rpc_call_finish(call, rpc_err_from_df(rv), err.msg);
        return;
    }
    peer_p2p_prioritize(ctx, &r);
    /* Over TCP another host asks: its back-to-source obeys the policy. */
    if (caller == NULL && peer_download_req_restrict(&r, ctx, &err) != 0) {
        rpc_call_finish(call, RPC_PERMISSION_DENIED, err.msg);
        peer_download_req_reset(&r);
        return;
    }
    if (!r.output_fd) {
        peer_task_download(ctx, call, &r);
        return;
    }
    if ((fd = rpc_call_take_fd(call)) == -1) {
        rpc_call_finish(call, RPC_FAILED_PRECONDITION,
                        "download.outputFd: no descriptor came with this connection");
        peer_download_req_reset(&r);
        return;
    }
    if (peer_rpc_check_output(fd, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        peer_download_req_reset(&r);
        close(fd);
        return;
    }
    log_debug("peer", "%s: output for pid %ld uid %lu: %s", PEER_TAG(ctx), (long)caller->pid,
              (unsigned long)caller->uid, r.url);
    peer_task_download_fd(ctx, call, &r, fd);
}

static void
peer_rpc_stat_task(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct peer *ctx = arg;
    struct proto_dfdaemon_task_ref ref;
    struct df_error err;
    cJSON *o;

    if (proto_dfdaemon_task_ref_from_json(req, &ref, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    if ((o = peer_task_stat(ctx, ref.task_id)) == NULL) {
        rpc_call_finish(call, RPC_NOT_FOUND, "no such task");
        return;
    }
    rpc_call_reply(call, o);
    cJSON_Delete(o);
}

int
peer_rpc_register(struct peer *ctx)
{
    const struct rpc_method methods[] = {
            {PROTO_DFDAEMON_DOWNLOAD_TASK, RPC_KIND_SERVER_STREAM, peer_rpc_download_task, ctx},
            {PROTO_DFDAEMON_STAT_TASK, RPC_KIND_UNARY, peer_rpc_stat_task, ctx},
    };

    return rpc_server_register(ctx->rpc, methods, DF_NELEM(methods));
}
