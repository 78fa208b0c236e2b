/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dispatch of a preheat to one scheduler cluster: the URLs go to the active seed peers of
 * the seed-peer cluster linked to it (the registry of wt-reg: seed peers register and keep
 * alive through manager.v2), each as a DownloadTask on the seed's upload service
 * (dfdaemon.v2.DfdaemonUpload/DownloadTask with needBackToSource, the call a scheduler
 * makes when it triggers a seed; under mTLS the seed takes it from a manager certificate
 * too). The seed fetches the URL from the origin as a normal task of its scheduler, so the
 * peers that ask for the blob later find the seed as their parent. The stream ends when the
 * seed holds the whole task: its status is the URL's result on that host.
 *
 * Scope (upstream's words): single_seed_peer (also Harbor 2.12's single_peer, and any other
 * value, as upstream's scheduler does) -> the first active seed peer; all_seed_peers -> every
 * active one; all_peers -> every host the cluster's schedulers know (ListHosts, mgr_task.c:
 * a peer that registered through ListSchedulers has no upload address in the registry, the
 * scheduler has it), seeds first. ips, count and percentage narrow that set, in upstream's
 * precedence. A seed fetches from the origin (needBackToSource); a peer downloads through
 * P2P as any of its gets would, so the seed serves it.
 *
 * Results in upstream's shape: {"success_tasks":[{url, hostname, ip}], "failure_tasks":
 * [{url, hostname, ip, description}], "scheduler_cluster_id": N}. At most
 * concurrent_task_count URLs per seed are in flight.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/df_url.h"
#include "df/log.h"
#include "df/proto_dfdaemon.h"
#include "df/rpc_client.h"
#include "df/rpc_err.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

struct mgr_preheat;

struct mgr_preheat_call {
    struct mgr_preheat *p;
    size_t url, host;
    struct rpc_client_call *call;
};

struct mgr_preheat {
    struct mgr *ctx;
    int64_t cluster_id;
    struct mgr_reg_host *hosts;
    size_t nhosts;
    struct mgr_hosts_req *listing; /* all_peers: the schedulers' host lists being read */
    struct rpc_client **clients;   /* one per host */
    cJSON *urls;                   /* strings */
    size_t nurls;
    const cJSON *args; /* the job's, borrowed while the dispatch lives */
    size_t next;       /* the next (url, host) pair: url = next / nhosts */
    size_t inflight;   /* calls open */
    size_t limit;      /* calls open at most */
    int deadline_ms;
    struct proto_dfdaemon_download dl; /* url set per call */
    cJSON *success, *failure;
    mgr_preheat_done_fn *done;
    void *arg;
};

void
mgr_preheat_choose(const cJSON *args, struct mgr_reg_host *h, size_t *n)
{
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(args, "scope");
    const cJSON *ips = cJSON_GetObjectItemCaseSensitive(args, "ips"), *e;
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(args, "count");
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(args, "percentage");
    size_t keep = 0;

    if (!cJSON_IsString(scope) || (strcmp(scope->valuestring, "all_seed_peers") != 0 &&
                                   strcmp(scope->valuestring, "all_peers") != 0)) {
        *n = *n > 0 ? 1 : 0;
        return;
    }
    if (cJSON_IsArray(ips)) {
        for (size_t i = 0; i < *n; i++) {
            bool listed = false;

            cJSON_ArrayForEach(e, ips)
            {
                listed |= cJSON_IsString(e) && strcmp(e->valuestring, h[i].ip) == 0;
            }
            if (listed)
                h[keep++] = h[i];
        }
        *n = keep;
    } else if (cJSON_IsNumber(count)) {
        if ((size_t)count->valuedouble < *n)
            *n = (size_t)count->valuedouble;
    } else if (cJSON_IsNumber(pct)) {
        keep = (*n * (size_t)pct->valuedouble + 99) / 100;
        *n = keep < *n ? keep : *n;
    }
}

static void
mgr_preheat_free(struct mgr_preheat *p)
{
    mgr_hosts_cancel(p->listing);
    for (size_t i = 0; p->clients != NULL && i < p->nhosts; i++)
        rpc_client_free(p->clients[i]);
    free(p->clients);
    free(p->hosts);
    cJSON_Delete(p->urls);
    cJSON_Delete(p->success);
    cJSON_Delete(p->failure);
    for (size_t i = 0; i < p->dl.nheaders; i++) {
        free(p->dl.headers[i].name);
        free(p->dl.headers[i].value);
    }
    free(p->dl.headers);
    free(p->dl.tag);
    free(p->dl.application);
    free(p->dl.filtered);
    free(p);
}

void
mgr_preheat_cancel(struct mgr_preheat *p)
{
    if (p == NULL)
        return;
    /* rpc_client_free fails the open calls; their callbacks see p->done NULL */
    p->done = NULL;
    mgr_preheat_free(p);
}

static void mgr_preheat_pump(struct mgr_preheat *p);

static void
mgr_preheat_close_cb(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    struct mgr_preheat_call *c = arg;
    struct mgr_preheat *p = c->p;
    const struct mgr_reg_host *h = &p->hosts[c->host];
    const char *url = cJSON_GetArrayItem(p->urls, (int)c->url)->valuestring;
    cJSON *t = cJSON_CreateObject();
    char desc[600];

    (void)s;
    cJSON_AddStringToObject(t, "url", url);
    cJSON_AddStringToObject(t, "hostname", h->hostname);
    cJSON_AddStringToObject(t, "ip", h->ip);
    if (st->code == RPC_OK) {
        cJSON_AddItemToArray(p->success, t);
    } else {
        snprintf(desc, sizeof(desc), "%s: %s", rpc_err_name(st->code), st->message);
        cJSON_AddStringToObject(t, "description", desc);
        cJSON_AddItemToArray(p->failure, t);
        if (p->done != NULL)
            log_warnx("manager: preheat of %s on seed %s (%s): %s", url, h->hostname, h->ip, desc);
    }
    free(c);
    p->inflight--;
    if (p->done != NULL)
        mgr_preheat_pump(p);
}

static void
mgr_preheat_on_message_cb(struct rpc_client_call *s, const cJSON *msg, void *arg)
{
    /* progress of the seed's download: its end is what counts */
    (void)s;
    (void)msg;
    (void)arg;
}

/* Open calls up to the limit; when all pairs are done, report and free. */
static void
mgr_preheat_pump(struct mgr_preheat *p)
{
    static const struct rpc_client_stream_cbs cbs = {mgr_preheat_on_message_cb,
                                                     mgr_preheat_close_cb};
    struct mgr_preheat_call *c;
    struct rpc_status st;
    cJSON *req, *result;
    int rv;

    while (p->inflight < p->limit && p->next < p->nurls * p->nhosts) {
        c = xcalloc(1, sizeof(*c));
        c->p = p;
        c->url = p->next / p->nhosts;
        c->host = p->next % p->nhosts;
        p->next++;
        p->dl.url = cJSON_GetArrayItem(p->urls, (int)c->url)->valuestring;
        /* a seed fetches from the origin, a peer through P2P (from the seed) */
        p->dl.need_back_to_source = strcmp(p->hosts[c->host].type, "normal") != 0;
        req = cJSON_CreateObject();
        proto_dfdaemon_download_to_json(req, &p->dl);
        p->dl.url = NULL;
        p->inflight++;
        if ((rv = rpc_client_stream(p->clients[c->host], PROTO_DFDAEMON_SEED_DOWNLOAD_TASK,
                                    p->deadline_ms, &cbs, c, &c->call)) == 0) {
            rpc_client_send(c->call, req);
            rpc_client_close_send(c->call);
        } else {
            st.code = RPC_UNAVAILABLE;
            snprintf(st.message, sizeof(st.message), "cannot call DownloadTask: %s",
                     df_strerror(rv));
            cJSON_Delete(req);
            mgr_preheat_close_cb(NULL, &st, c);
            return; /* the callback pumped on */
        }
        cJSON_Delete(req);
    }
    if (p->inflight > 0 || p->next < p->nurls * p->nhosts)
        return;
    result = cJSON_CreateObject();
    cJSON_AddItemToObject(result, "success_tasks", p->success);
    cJSON_AddItemToObject(result, "failure_tasks", p->failure);
    cJSON_AddNumberToObject(result, "scheduler_cluster_id", (double)p->cluster_id);
    p->success = p->failure = NULL;
    p->done(p->arg, p, result);
    mgr_preheat_free(p);
}

/* The download every call sends (url set per call). */
static void
mgr_preheat_download(struct mgr_preheat *p, const cJSON *args, const struct mgr_job_secret *sec,
                     const char *auth)
{
    const cJSON *tag = cJSON_GetObjectItemCaseSensitive(args, "tag");
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(args, "application");
    const cJSON *fqp = cJSON_GetObjectItemCaseSensitive(args, "filtered_query_params");
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(args, "piece_length"), *h;
    size_t n = 0;

    p->dl.need_back_to_source = true;
    if (cJSON_IsString(tag) && tag->valuestring[0] != '\0')
        p->dl.tag = xstrdup(tag->valuestring);
    if (cJSON_IsString(app) && app->valuestring[0] != '\0')
        p->dl.application = xstrdup(app->valuestring);
    /* the default list is what a peer's proxy uses unasked: the task ids must match */
    if (cJSON_IsString(fqp) && strcmp(fqp->valuestring, df_url_default_filtered_params()) != 0)
        p->dl.filtered = xstrdup(fqp->valuestring);
    if (cJSON_IsNumber(pl))
        p->dl.piece_length = (uint32_t)pl->valuedouble;
    p->dl.headers = xcalloc((size_t)cJSON_GetArraySize(sec->headers) + 1, sizeof(*p->dl.headers));
    cJSON_ArrayForEach(h, sec->headers)
    {
        /* the registry token the manifest was read with replaces the job's own */
        if (auth != NULL && strcasecmp(h->string, "Authorization") == 0)
            continue;
        p->dl.headers[n].name = xstrdup(h->string);
        p->dl.headers[n++].value = xstrdup(h->valuestring);
    }
    if (auth != NULL) {
        p->dl.headers[n].name = xstrdup("Authorization");
        p->dl.headers[n++].value = xstrdup(auth);
    }
    p->dl.nheaders = n;
}

/* Have the n chosen hosts (taken) download every URL. 0, or an error with err set. */
static int
mgr_preheat_begin(struct mgr_preheat *p, struct mgr_reg_host *hosts, size_t n, struct df_error *err)
{
    struct mgr *ctx = p->ctx;
    int rv;

    p->hosts = hosts;
    p->nhosts = n;
    p->limit *= n;
    p->clients = xcalloc(n + 1, sizeof(*p->clients));
    for (size_t i = 0; i < n; i++) {
        if ((rv = mgr_host_client_new(ctx, &hosts[i], p->deadline_ms, &p->clients[i], err)) != 0) {
            p->nhosts = i;
            return rv;
        }
    }
    log_info("manager: preheat of %zu URLs on %zu hosts of scheduler cluster %lld", p->nurls, n,
             (long long)p->cluster_id);
    mgr_preheat_pump(p);
    return 0;
}

/* Seeds before peers, each kind in the schedulers' order. */
static int
mgr_preheat_seed_first(const void *a, const void *b)
{
    const struct mgr_reg_host *x = a, *y = b;
    bool xs = strcmp(x->type, "normal") != 0, ys = strcmp(y->type, "normal") != 0;

    if (xs != ys)
        return xs ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The end of an all_peers dispatch, every URL a failure for why. */
static void
mgr_preheat_fail(struct mgr_preheat *p, const char *why)
{
    const cJSON *url;
    cJSON *t;

    cJSON_ArrayForEach(url, p->urls)
    {
        t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "url", url->valuestring);
        cJSON_AddStringToObject(t, "hostname", "");
        cJSON_AddStringToObject(t, "ip", "");
        cJSON_AddStringToObject(t, "description", why);
        cJSON_AddItemToArray(p->failure, t);
    }
    mgr_preheat_pump(p);
}

/* all_peers: the cluster's hosts as its schedulers list them. */
static void
mgr_preheat_hosts_cb(void *arg, int rv, const char *why, struct mgr_reg_host *hosts, size_t n)
{
    struct mgr_preheat *p = arg;
    struct df_error err;
    char msg[800];

    p->listing = NULL;
    for (size_t i = 0; i < n; i++)
        hosts[i].id = (int64_t)i;
    qsort(hosts, n, sizeof(*hosts), mgr_preheat_seed_first);
    mgr_preheat_choose(p->args, hosts, &n);
    if (rv != 0 || n == 0) {
        free(hosts);
        snprintf(msg, sizeof(msg), "no peer of scheduler cluster %lld to preheat on%s%s",
                 (long long)p->cluster_id, rv != 0 ? ": " : "", rv != 0 ? why : "");
        mgr_preheat_fail(p, msg);
        return;
    }
    if (mgr_preheat_begin(p, hosts, n, &err) != 0)
        mgr_preheat_fail(p, err.msg);
}

int
mgr_preheat_start(struct mgr *ctx, int64_t cluster_id, const cJSON *args,
                  const struct mgr_job_secret *sec, const char *auth, const cJSON *urls,
                  mgr_preheat_done_fn *done, void *arg, struct mgr_preheat **out,
                  struct df_error *err)
{
    struct mgr_preheat *p;
    const cJSON *ntask = cJSON_GetObjectItemCaseSensitive(args, "concurrent_task_count");
    const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(args, "timeout");
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(args, "scope");
    bool all = cJSON_IsString(scope) && strcmp(scope->valuestring, "all_peers") == 0;
    int64_t spc = mgr_cluster_link_of(ctx, cluster_id);
    struct mgr_reg_host *hosts = NULL;
    size_t n = 0;
    int rv;

    if (!all) {
        if (spc == 0 || (rv = mgr_reg_list(ctx->db, MGR_REG_SEED_PEER, spc, true, &hosts, &n)) != 0)
            n = 0;
        mgr_preheat_choose(args, hosts, &n);
        if (n == 0) {
            free(hosts);
            return df_error_set(err, DF_ENOTFOUND, "no active seed peer in scheduler cluster %lld",
                                (long long)cluster_id);
        }
    }
    p = xcalloc(1, sizeof(*p));
    p->ctx = ctx;
    p->cluster_id = cluster_id;
    p->args = args;
    p->urls = cJSON_Duplicate(urls, true);
    p->nurls = (size_t)cJSON_GetArraySize(urls);
    /* per host */
    p->limit = cJSON_IsNumber(ntask) && ntask->valuedouble >= 1 ? (size_t)ntask->valuedouble
                                                                : MGR_JOB_TASK_COUNT;
    /* the job's timer ends the job; a call lasts no longer than it */
    p->deadline_ms = cJSON_IsNumber(timeout) && timeout->valuedouble / 1e6 < 2e9
                             ? (int)(timeout->valuedouble / 1e6)
                             : 3600 * 1000;
    p->success = cJSON_CreateArray();
    p->failure = cJSON_CreateArray();
    p->done = done;
    p->arg = arg;
    mgr_preheat_download(p, args, sec, auth);
    *out = p;
    if (all) {
        /* no scheduler: nobody knows the peers (upstream: no candidate scheduler) */
        if ((rv = mgr_hosts_start(ctx, cluster_id, 30000, mgr_preheat_hosts_cb, p, &p->listing,
                                  err)) != 0) {
            *out = NULL;
            mgr_preheat_free(p);
            return rv;
        }
        return 0;
    }
    if ((rv = mgr_preheat_begin(p, hosts, n, err)) != 0) {
        *out = NULL;
        mgr_preheat_free(p);
        return rv;
    }
    return 0;
}
