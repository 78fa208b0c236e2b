/* SPDX-License-Identifier: Apache-2.0 */
/*
 * get_image_distribution: which hosts hold which layers of an image. Synchronous as upstream
 * (the answer is the result, no job row):
 *
 *   the manifest URL -> the image's blob URLs (mgr_image.c: tags, digests, an index by
 *   platform, the token flow with the job's credentials)
 *   -> each blob's task id as a peer computes it for that URL (mgr_task_id_of with the
 *   args' tag, application, filtered_query_params, piece_length: the preheat's values)
 *   -> ListTaskPeers to the active schedulers of every chosen cluster (mgr_task.c's
 *   get_task), at most concurrent_layer_count (layer, cluster) look-ups at once
 *   -> {"image":{"layers":[{url}]},"peers":[{ip, hostname, cached_layers:[{url}],
 *   scheduler_cluster_id}]}: a host lists the layers its peer has finished.
 *
 * The args are a preheat's (mgr_job_preheat_args checks them and keeps the password and
 * header values out of everything shown); the password lives in memory until the answer.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_id.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/xmalloc.h"

/* A scheduler's answer for one layer is quick: the request does not wait an hour. */
#define MGR_IMGDIST_DEADLINE_MS (60 * 1000)

struct mgr_imgdist {
    struct mgr *ctx;
    struct mgr_imgdist *link; /* on ctx->imgdists */
    struct net_http_req *req; /* NULL once its connection closed */
    struct mgr_job_secret sec;
    cJSON *args;     /* checked, no secrets */
    cJSON *clusters; /* scheduler cluster ids */
    struct mgr_image *image;
    cJSON *urls; /* the blob URLs */
    char (*ids)[DF_ID_TASK_LEN + 1];
    size_t nlayers, ncl, limit, next, open, started, answered;
    int deadline_ms;
    struct mgr_task_op **ops; /* per (layer, cluster) */
    cJSON *peers;
    char error[700];
};

int
mgr_imgdist_args(const cJSON *args, cJSON **out, struct mgr_job_secret *sec, size_t *layers,
                 struct df_error *err)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(args, "concurrent_layer_count");
    cJSON *a;
    int rv;

    memset(sec, 0, sizeof(*sec));
    if (!cJSON_IsObject(args))
        return df_error_set(err, DF_EINVAL, "args: required");
    if (n != NULL && !cJSON_IsNull(n) &&
        (!cJSON_IsNumber(n) || n->valuedouble != (double)(int)n->valuedouble ||
         n->valuedouble < 0 || n->valuedouble > 100))
        return df_error_set(err, DF_EINVAL,
                            "args.concurrent_layer_count: expected an integer 0 to 100");
    *layers =
            cJSON_IsNumber(n) && n->valuedouble >= 1 ? (size_t)n->valuedouble : MGR_JOB_TASK_COUNT;
    /* an image preheat's args, checked and defaulted the same way */
    a = cJSON_Duplicate(args, true);
    cJSON_DeleteItemFromObjectCaseSensitive(a, "type");
    cJSON_DeleteItemFromObjectCaseSensitive(a, "concurrent_layer_count");
    cJSON_AddStringToObject(a, "type", "image");
    if (cJSON_GetObjectItemCaseSensitive(a, "url") == NULL) {
        cJSON_Delete(a);
        return df_error_set(err, DF_EINVAL, "args.url: required");
    }
    rv = mgr_job_preheat_args(a, out, sec, err);
    cJSON_Delete(a);
    return rv;
}

int
mgr_imgdist_add(cJSON *peers, const cJSON *result, const char *layer_url)
{
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(result, "scheduler_cluster_id"), *p, *e;
    int added = 0;

    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(result, "peers"))
    {
        const cJSON *ip = cJSON_GetObjectItemCaseSensitive(p, "ip");
        const cJSON *hn = cJSON_GetObjectItemCaseSensitive(p, "hostname");
        cJSON *host = NULL, *cached, *h, *l;
        bool have = false;

        /* a peer still downloading holds no layer yet */
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "IsFinished")) ||
            !cJSON_IsString(ip) || !cJSON_IsString(hn) || !cJSON_IsNumber(cid))
            continue;
        cJSON_ArrayForEach(h, peers)
        {
            if (strcmp(cJSON_GetObjectItemCaseSensitive(h, "ip")->valuestring, ip->valuestring) ==
                        0 &&
                strcmp(cJSON_GetObjectItemCaseSensitive(h, "hostname")->valuestring,
                       hn->valuestring) == 0 &&
                cJSON_GetObjectItemCaseSensitive(h, "scheduler_cluster_id")->valuedouble ==
                        cid->valuedouble) {
                host = h;
                break;
            }
        }
        if (host == NULL) {
            host = cJSON_CreateObject();
            cJSON_AddStringToObject(host, "ip", ip->valuestring);
            cJSON_AddStringToObject(host, "hostname", hn->valuestring);
            cJSON_AddArrayToObject(host, "cached_layers");
            cJSON_AddNumberToObject(host, "scheduler_cluster_id", cid->valuedouble);
            cJSON_AddItemToArray(peers, host);
        }
        cached = cJSON_GetObjectItemCaseSensitive(host, "cached_layers");
        /* a host may run more than one peer of the task: the layer once */
        cJSON_ArrayForEach(e, cached)
        {
            have = have ||
                   strcmp(cJSON_GetObjectItemCaseSensitive(e, "url")->valuestring, layer_url) == 0;
        }
        if (!have) {
            l = cJSON_CreateObject();
            cJSON_AddStringToObject(l, "url", layer_url);
            cJSON_AddItemToArray(cached, l);
            added++;
        }
    }
    return added;
}

static void
mgr_imgdist_free(struct mgr_imgdist *d)
{
    struct mgr_imgdist **pp = &d->ctx->imgdists;

    while (*pp != NULL && *pp != d)
        pp = &(*pp)->link;
    if (*pp == d)
        *pp = d->link;
    if (d->req != NULL)
        net_http_req_on_close(d->req, NULL, NULL);
    mgr_image_cancel(d->image);
    for (size_t i = 0; d->ops != NULL && i < d->nlayers * d->ncl; i++)
        mgr_task_cancel(d->ops[i]);
    free(d->ops);
    free(d->ids);
    cJSON_Delete(d->urls);
    cJSON_Delete(d->peers);
    cJSON_Delete(d->args);
    cJSON_Delete(d->clusters);
    mgr_job_secret_reset(&d->sec);
    free(d);
}

static void
mgr_imgdist_close_cb(struct net_http_req *req, int reason, void *arg)
{
    struct mgr_imgdist *d = arg;

    (void)req;
    (void)reason;
    d->req = NULL;
}

/* Answer (status 200: the result; else {"message"}) unless the client left, then go. */
static void
mgr_imgdist_finish(struct mgr_imgdist *d, int status, const char *msg)
{
    const cJSON *u;
    cJSON *res, *layers, *l;

    log_info("manager: get_image_distribution of %s: %zu layers, %d hosts%s%s",
             cJSON_GetObjectItemCaseSensitive(d->args, "url")->valuestring, d->nlayers,
             cJSON_GetArraySize(d->peers), msg != NULL ? "; " : "", msg != NULL ? msg : "");
    if (d->req != NULL) {
        net_http_req_on_close(d->req, NULL, NULL);
        if (status != 200) {
            mgr_reply_message(d->req, status, msg);
        } else {
            res = cJSON_CreateObject();
            layers = cJSON_AddArrayToObject(cJSON_AddObjectToObject(res, "image"), "layers");
            cJSON_ArrayForEach(u, d->urls)
            {
                l = cJSON_CreateObject();
                cJSON_AddStringToObject(l, "url", u->valuestring);
                cJSON_AddItemToArray(layers, l);
            }
            cJSON_AddItemToObject(res, "peers", d->peers);
            d->peers = NULL;
            net_route_reply_json(d->req, 200, res);
            cJSON_Delete(res);
        }
        d->req = NULL;
    }
    mgr_imgdist_free(d);
}

static void mgr_imgdist_pump(struct mgr_imgdist *d);

static void
mgr_imgdist_task_cb(void *arg, struct mgr_task_op *op, cJSON *result, const char *error)
{
    struct mgr_imgdist *d = arg;
    size_t i = 0, len;

    while (i < d->nlayers * d->ncl && d->ops[i] != op)
        i++;
    d->ops[i] = NULL;
    d->open--;
    if (error != NULL) {
        len = strlen(d->error);
        if (len < sizeof(d->error) - 1)
            snprintf(d->error + len, sizeof(d->error) - len, "%s%s", len > 0 ? "; " : "", error);
    } else {
        d->answered++;
    }
    mgr_imgdist_add(d->peers, result, cJSON_GetArrayItem(d->urls, (int)(i / d->ncl))->valuestring);
    cJSON_Delete(result);
    mgr_imgdist_pump(d);
}

/*
 * Start look-ups up to the limit; the end once none is open. A cluster without an active
 * scheduler is skipped; none at all answers as a job would ("candidate schedulers").
 */
static void
mgr_imgdist_pump(struct mgr_imgdist *d)
{
    struct df_error err;
    size_t total = d->nlayers * d->ncl, i;
    int64_t cid;
    char msg[800];

    while (d->open < d->limit && d->next < total) {
        i = d->next++;
        cid = (int64_t)cJSON_GetArrayItem(d->clusters, (int)(i % d->ncl))->valuedouble;
        if (mgr_task_start(d->ctx, cid, false, d->ids[i / d->ncl], 1, d->deadline_ms,
                           mgr_imgdist_task_cb, d, &d->ops[i], &err) == 0) {
            d->open++;
            d->started++;
        }
    }
    if (d->open > 0 || d->next < total)
        return;
    if (d->started == 0 && total > 0) {
        mgr_imgdist_finish(d, 500, "candidate schedulers not found");
    } else if (d->answered == 0 && d->error[0] != '\0') {
        snprintf(msg, sizeof(msg), "get image distribution: %s", d->error);
        mgr_imgdist_finish(d, 500, msg);
    } else {
        mgr_imgdist_finish(d, 200, d->error[0] != '\0' ? d->error : NULL);
    }
}

/* The blob URLs, or why not: each one's task id, then the look-ups. */
static void
mgr_imgdist_image_cb(void *arg, int rv, const char *why, cJSON *urls, const char *auth)
{
    struct mgr_imgdist *d = arg;
    struct df_error err;
    const cJSON *u;
    cJSON *p;
    size_t i = 0;

    (void)auth;
    d->image = NULL;
    if (rv != 0) {
        /* the registry's reason: a missing tag is not found, anything else its failure */
        mgr_imgdist_finish(d, rv == DF_ENOTFOUND ? 404 : 502, why);
        return;
    }
    d->urls = urls;
    d->nlayers = (size_t)cJSON_GetArraySize(urls);
    d->ids = xcalloc(d->nlayers + 1, sizeof(*d->ids));
    d->ops = xcalloc(d->nlayers * d->ncl + 1, sizeof(*d->ops));
    p = cJSON_Duplicate(d->args, true);
    cJSON_ArrayForEach(u, urls)
    {
        cJSON_ReplaceItemInObjectCaseSensitive(p, "url", cJSON_CreateString(u->valuestring));
        if (mgr_task_id_of(p, d->ids[i++], &err) != 0) {
            cJSON_Delete(p);
            mgr_imgdist_finish(d, 500, err.msg);
            return;
        }
    }
    cJSON_Delete(p);
    mgr_imgdist_pump(d);
}

void
mgr_imgdist_start(struct mgr *ctx, struct net_http_req *req, const cJSON *args,
                  const cJSON *cluster_ids)
{
    struct mgr_imgdist *d = xcalloc(1, sizeof(*d));
    const cJSON *platform, *t;
    struct df_error err;

    d->ctx = ctx;
    if (mgr_imgdist_args(args, &d->args, &d->sec, &d->limit, &err) != 0) {
        mgr_reply_errors(req, err.msg);
        mgr_job_secret_reset(&d->sec);
        free(d);
        return;
    }
    d->clusters = cJSON_Duplicate(cluster_ids, true);
    d->ncl = (size_t)cJSON_GetArraySize(d->clusters);
    d->peers = cJSON_CreateArray();
    t = cJSON_GetObjectItemCaseSensitive(d->args, "timeout");
    d->deadline_ms = t->valuedouble / 1e6 < MGR_IMGDIST_DEADLINE_MS ? (int)(t->valuedouble / 1e6)
                                                                    : MGR_IMGDIST_DEADLINE_MS;
    if (d->deadline_ms < 1)
        d->deadline_ms = 1;
    platform = cJSON_GetObjectItemCaseSensitive(d->args, "platform");
    if (mgr_image_resolve(ctx, cJSON_GetObjectItemCaseSensitive(d->args, "url")->valuestring,
                          platform->valuestring, &d->sec, mgr_imgdist_image_cb, d, &d->image,
                          &err) != 0) {
        mgr_reply_errors(req, err.msg);
        mgr_imgdist_free(d);
        return;
    }
    d->req = req;
    net_http_req_on_close(req, mgr_imgdist_close_cb, d);
    d->link = ctx->imgdists;
    ctx->imgdists = d;
}

void
mgr_imgdist_reset(struct mgr *ctx)
{
    while (ctx->imgdists != NULL)
        mgr_imgdist_free(ctx->imgdists);
}
