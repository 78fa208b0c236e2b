/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's RPC service for local clients (`dragonfly get`), over the unix socket and the
 * RPC port: dfdaemon.v2.DfdaemonDownload/DownloadTask streams the download's progress and
 * ends when the content is in the caller's descriptor; StatTask reports a task. Requests
 * are validated here so tasks only ever see well-formed input. No request ever names a path
 * the peer writes to: an output exists only as a descriptor passed on the unix socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/net_listener.h"
#include "df/rpc_server.h"
#include "df/xmalloc.h"
#include "peer.h"

#define PEER_RPC_MAX_HEADERS 64

void
peer_download_req_reset(struct peer_download_req *r)
{
    free(r->url);
    free(r->tag);
    free(r->application);
    free(r->filtered);
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)(uintptr_t)r->headers[i].name);
        free((char *)(uintptr_t)r->headers[i].value);
    }
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

static int
peer_rpc_opt_str(const cJSON *o, const char *key, char **out, struct df_error *err)
{
    const char *s = NULL;
    int rv = df_json_get_str(o, key, &s, err);

    if (rv == DF_ENOTFOUND)
        return 0;
    if (rv != 0)
        return rv;
    if (strlen(s) > 4096 || strpbrk(s, "\r\n") != NULL)
        return df_error_set(err, DF_EINVAL, "%s: bad value", key);
    *out = xstrdup(s);
    return 0;
}

/* filteredQueryParams: an array of names or one '&'-separated string. */
static int
peer_rpc_filtered(const cJSON *o, char **out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "filteredQueryParams"), *e;
    size_t len = 0;
    char *s;

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v))
        return peer_rpc_opt_str(o, "filteredQueryParams", out, err);
    if (!cJSON_IsArray(v))
        return df_error_set(err, DF_EINVAL, "filteredQueryParams: expected array of strings");
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '&') != NULL)
            return df_error_set(err, DF_EINVAL, "filteredQueryParams: expected names");
        len += strlen(e->valuestring) + 1;
    }
    if (len > 4096)
        return df_error_set(err, DF_EINVAL, "filteredQueryParams: too long");
    s = xcalloc(1, len + 1);
    len = 0;
    cJSON_ArrayForEach(e, v)
    {
        size_t l = strlen(e->valuestring);
        if (len > 0)
            s[len++] = '&';
        memcpy(s + len, e->valuestring, l);
        len += l;
    }
    *out = s;
    return 0;
}

static int
peer_rpc_headers(const cJSON *o, struct peer_download_req *r, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "requestHeader"), *e;
    size_t n = 0;

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v))
        return df_error_set(err, DF_EINVAL, "requestHeader: expected an object");
    cJSON_ArrayForEach(e, v) n++;
    if (n > PEER_RPC_MAX_HEADERS)
        return df_error_set(err, DF_EINVAL, "requestHeader: more than %d headers",
                            PEER_RPC_MAX_HEADERS);
    r->headers = xcalloc(n > 0 ? n : 1, sizeof(*r->headers));
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || !net_http_is_token(e->string, strlen(e->string)) ||
            !net_http_is_field_value(e->valuestring))
            return df_error_set(err, DF_EINVAL, "requestHeader: bad header '%.64s'", e->string);
        r->headers[r->nheaders].name = xstrdup(e->string);
        r->headers[r->nheaders].value = xstrdup(e->valuestring);
        r->nheaders++;
    }
    return 0;
}

/*
 * A registry blob URL names its content (.../blobs/sha256:<64 hex>): the whole content is
 * verified against it, as with an explicit digest, which must then be the same.
 */
static int
peer_rpc_blob_digest(const struct df_url *u, struct peer_download_req *r, struct df_error *err)
{
    static const char mark[] = "/blobs/sha256:";
    const char *tail;
    struct df_digest named;
    size_t n = strlen(u->path), hex = 2 * DF_SHA256_LEN;
    int rv;

    if (n < sizeof(mark) - 1 + hex)
        return 0;
    tail = u->path + n - hex - (sizeof(mark) - 1);
    if (strncmp(tail, mark, sizeof(mark) - 1) != 0 ||
        strspn(tail + sizeof(mark) - 1, "0123456789abcdef") != hex)
        return 0;
    if ((rv = df_digest_parse(tail + 7, &named, err)) != 0) /* "/blobs/" is 7 bytes */
        return rv;
    if (r->has_digest && !df_digest_is_equal(&named, &r->digest))
        return df_error_set(err, DF_EINVAL,
                            "download.digest: differs from the sha256 the blob URL names");
    r->digest = named;
    r->has_digest = true;
    return 0;
}

int
peer_download_req_parse(const cJSON *msg, bool allow_output, struct peer_download_req *out,
                        struct df_error *err)
{
    struct peer_download_req r;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(msg, "download");
    const char *digest = NULL;
    struct df_url u;
    int rv;

    memset(&r, 0, sizeof(r));
    memset(&u, 0, sizeof(u));
    if (!cJSON_IsObject(d)) {
        rv = df_error_set(err, DF_EINVAL, "download: expected an object");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(d, "outputPath") != NULL) {
        rv = df_error_set(err, DF_EPERM,
                          "download.outputPath: not accepted; the output goes only into a "
                          "descriptor passed by a local caller (outputFd)");
        goto out;
    }
    if ((rv = peer_rpc_opt_str(d, "url", &r.url, err)) != 0 ||
        (rv = peer_rpc_opt_str(d, "tag", &r.tag, err)) != 0 ||
        (rv = peer_rpc_opt_str(d, "application", &r.application, err)) != 0 ||
        (rv = peer_rpc_filtered(d, &r.filtered, err)) != 0 ||
        (rv = peer_rpc_headers(d, &r, err)) != 0)
        goto out;
    if (r.url == NULL) {
        rv = df_error_set(err, DF_EINVAL, "download.url: required");
        goto out;
    }
    if ((rv = df_url_parse(r.url, &u, err)) != 0)
        goto out;
    if ((rv = df_json_get_bool(d, "outputFd", &r.output_fd, err)) != 0 && rv != DF_ENOTFOUND)
        goto out;
    if (r.output_fd && !allow_output) {
        rv = df_error_set(err, DF_EPERM,
                          "download.outputFd: only a local caller on the unix socket may ask "
                          "for an output");
        goto out;
    }
    if ((rv = df_json_get_bool(d, "outputRewind", &r.output_rewind, err)) != 0 &&
        rv != DF_ENOTFOUND)
        goto out;
    r.output_rewind = r.output_rewind && r.output_fd;
    rv = df_json_get_str(d, "digest", &digest, err);
    if (rv == 0) {
        if ((rv = df_digest_parse(digest, &r.digest, err)) != 0)
            goto out;
        r.has_digest = true;
    } else if (rv != DF_ENOTFOUND)
        goto out;
    if ((rv = peer_rpc_blob_digest(&u, &r, err)) != 0)
        goto out;
    if ((rv = df_json_get_bool(d, "insecure", &r.insecure, err)) != 0 && rv != DF_ENOTFOUND)
        goto out;
    if ((rv = df_json_get_bool(d, "disableBackToSource", &r.disable_back_to_source, err)) != 0 &&
        rv != DF_ENOTFOUND)
        goto out;
    if ((rv = df_json_get_bool(d, "needBackToSource", &r.need_back_to_source, err)) != 0 &&
        rv != DF_ENOTFOUND)
        goto out;
    *out = r;
    memset(&r, 0, sizeof(r));
    rv = 0;
out:
    df_url_reset(&u);
    peer_download_req_reset(&r);
    return rv;
}

/* Request fields the client, not the requester, decides: Host and the hop-by-hop ones. */
static bool
peer_rpc_header_is_reserved(const char *name)
{
    static const char *const reserved[] = {
            "host",
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "upgrade",
            "transfer-encoding",
            "content-length",
            "proxy-authorization",
            "proxy-authenticate",
    };

    for (size_t i = 0; i < DF_NELEM(reserved); i++) {
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    }
    return false;
}

int
peer_download_req_restrict(struct peer_download_req *r, const struct peer_ctx *ctx,
                           struct df_error *err)
{
    if (r->insecure)
        return df_error_set(err, DF_EPERM,
                            "download.insecure: only a local caller may turn off TLS "
                            "verification");
    for (size_t i = 0; i < r->nheaders; i++) {
        if (peer_rpc_header_is_reserved(r->headers[i].name))
            return df_error_set(err, DF_EPERM,
                                "download.requestHeader: '%.64s' may not be set by another host",
                                r->headers[i].name);
    }
    r->policy = ctx->src_policy;
    return 0;
}

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
    struct peer_ctx *ctx = arg;
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
    log_debug("peer", "peer: output for pid %ld uid %lu: %s", (long)caller->pid,
              (unsigned long)caller->uid, r.url);
    peer_task_download_fd(ctx, call, &r, fd);
}

static void
peer_rpc_stat_task(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct peer_ctx *ctx = arg;
    const char *id = NULL;
    cJSON *o;

    if (df_json_get_str(req, "taskId", &id, NULL) != 0 || !df_id_task_is_valid(id)) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, "taskId: expected 64 lowercase hex");
        return;
    }
    if ((o = peer_task_stat(ctx, id)) == NULL) {
        rpc_call_finish(call, RPC_NOT_FOUND, "no such task");
        return;
    }
    rpc_call_reply(call, o);
    cJSON_Delete(o);
}

int
peer_rpc_register(struct peer_ctx *ctx)
{
    const struct rpc_method methods[] = {
            {"/dfdaemon.v2.DfdaemonDownload/DownloadTask", RPC_KIND_SERVER_STREAM,
             peer_rpc_download_task, ctx},
            {"/dfdaemon.v2.DfdaemonDownload/StatTask", RPC_KIND_UNARY, peer_rpc_stat_task, ctx},
    };

    return rpc_server_register(ctx->rpc, methods, DF_NELEM(methods));
}
