/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the manager learns from, and asks of, the hosts of a cluster beyond its registry:
 *
 * - a fan: one unary call to each of a set of hosts, each on its own client (under mTLS the
 *   manager's certificate, the host's role and name checked), ending when every call has;
 * - get_task: ListTaskPeers to every active scheduler of a cluster, the peers holding the
 *   task (finished or not) in upstream's shape {"peers":[{id, hostname, ip, host_type,
 *   created_at, updated_at, IsFinished}], "scheduler_cluster_id"};
 * - delete_task: the same, then DfdaemonUpload/DeleteTask on each holding host, {"success_
 *   tasks":[{hostname, ip, host_type}], "failure_tasks":[{..., description}],
 *   "scheduler_cluster_id"}. The manager calls the peers itself rather than through the
 *   scheduler (upstream's way): it already dials their upload service for preheats, it
 *   gets each host's answer without a second job protocol, and a scheduler stays out of a
 *   decision about content it never stores. The peer refuses a task it is downloading
 *   (failed_precondition, a failure_tasks entry) and evicts a held one safely (DESIGN §4);
 * - sync_peers: ListHosts to the schedulers, every host upserted into the peers table;
 * - the hosts of a cluster for an all_peers preheat (mgr_preheat.c).
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "df/df_digest.h"
#include "df/df_id.h"
#include "df/df_time.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/net_tls.h"
#include "df/proto_dfdaemon.h"
#include "df/proto_sched.h"
#include "df/rpc_client.h"
#include "df/rpc_err.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

/* A host the scheduler lists is alive for as long as a peer's own registration is. */
#define MGR_TASK_PEER_TTL (3 * 60 * 1000)

/* The string at key of o, or def. */
static const char *
mgr_task_str(const cJSON *o, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : def;
}

/* ---- the fan ---- */

struct mgr_fan_call {
    struct mgr_fan *f;
    size_t i;
};

struct mgr_fan {
    struct mgr *ctx;
    struct mgr_reg_host *hosts; /* the targets */
    size_t n, open;
    size_t next, limit; /* the next target to call; calls open at most */
    const char *method; /* static */
    char *req;          /* printed */
    int deadline_ms;
    struct rpc_client **clients;
    struct mgr_fan_call *calls;
    struct rpc_status *st; /* per target */
    cJSON **resp;          /* per target: the answer (RPC_OK), else NULL */
    struct event *done_ev; /* every call failed at once: done runs from the loop */
    mgr_fan_done_fn *done;
    void *arg;
};

void
mgr_fan_free(struct mgr_fan *f)
{
    if (f == NULL)
        return;
    f->done = NULL;
    for (size_t i = 0; i < f->n; i++) {
        struct rpc_client *c = f->clients[i];

        /* its open call fails now, into mgr_fan_reply_cb: which must not free it again */
        f->clients[i] = NULL;
        rpc_client_free(c);
        cJSON_Delete(f->resp[i]);
        f->resp[i] = NULL;
    }
    if (f->done_ev != NULL)
        event_free(f->done_ev);
    cJSON_free(f->req);
    free(f->clients);
    free(f->calls);
    free(f->st);
    free(f->resp);
    free(f->hosts);
    free(f);
}

const struct mgr_reg_host *
mgr_fan_host(const struct mgr_fan *f, size_t i, const struct rpc_status **st, const cJSON **resp)
{
    *st = &f->st[i];
    *resp = f->resp[i];
    return &f->hosts[i];
}

size_t
mgr_fan_count(const struct mgr_fan *f)
{
    return f->n;
}

static void
mgr_fan_end(struct mgr_fan *f)
{
    mgr_fan_done_fn *done = f->done;

    f->done = NULL;
    if (done != NULL)
        done(f->arg, f);
}

static void
mgr_fan_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    mgr_fan_end(arg);
}

static void mgr_fan_pump(struct mgr_fan *f);

static void
mgr_fan_reply_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct mgr_fan_call *c = arg;
    struct mgr_fan *f = c->f;

    f->st[c->i] = *st;
    if (st->code == RPC_OK && resp != NULL)
        f->resp[c->i] = cJSON_Duplicate(resp, true);
    /* its connection is done with: at most limit are open */
    rpc_client_free(f->clients[c->i]);
    f->clients[c->i] = NULL;
    if (--f->open == 0 && f->next >= f->n) {
        mgr_fan_end(f);
        return;
    }
    if (f->done != NULL)
        mgr_fan_pump(f);
}

/* Open calls up to the limit; when every call failed at once, the end runs from the loop. */
static void
mgr_fan_pump(struct mgr_fan *f)
{
    struct df_error err;
    size_t i;
    int rv;

    while (f->open < f->limit && f->next < f->n) {
        i = f->next++;
        f->calls[i].f = f;
        f->calls[i].i = i;
        f->open++;
        if ((rv = mgr_host_client_new(f->ctx, &f->hosts[i], f->deadline_ms, &f->clients[i],
                                      &err)) != 0 ||
            (rv = rpc_client_unary_raw(f->clients[i], f->method, f->req, strlen(f->req),
                                       f->deadline_ms, mgr_fan_reply_cb, &f->calls[i], NULL)) !=
                    0) {
            f->open--;
            f->st[i].code = RPC_INTERNAL;
            snprintf(f->st[i].message, sizeof(f->st[i].message), "cannot call %s: %s", f->method,
                     df_strerror(rv));
        }
    }
    if (f->open == 0 && f->next >= f->n)
        event_active(f->done_ev, EV_TIMEOUT, 0);
}

int
mgr_host_client_new(struct mgr *ctx, const struct mgr_reg_host *h, int deadline_ms,
                    struct rpc_client **out, struct df_error *err)
{
    struct rpc_client_opts o;
    char addr[96];

    snprintf(addr, sizeof(addr), strchr(h->ip, ':') != NULL ? "[%s]:%d" : "%s:%d", h->ip, h->port);
    memset(&o, 0, sizeof(o));
    o.addr = addr;
    o.tls = ctx->tls_client;
    o.expect_roles = o.tls == NULL                    ? 0
                     : h->type[0] == '\0'             ? NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER)
                     : strcmp(h->type, "normal") == 0 ? NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER)
                                                      : NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED);
    o.expect_host = o.tls != NULL ? h->hostname : NULL;
    o.default_deadline_ms = deadline_ms;
    o.backoff_max_ms = 2000;
    /* a scheduler's host list of a large cluster is one message */
    o.max_msg_bytes = 64u << 20;
    return rpc_client_new(ctx->base, ctx->dns, &o, out, err);
}

int
mgr_fan_start(struct mgr *ctx, struct mgr_reg_host *hosts, size_t n, size_t limit,
              const char *method, const cJSON *req, int deadline_ms, mgr_fan_done_fn *done,
              void *arg, struct mgr_fan **out, struct df_error *err)
{
    struct mgr_fan *f = xcalloc(1, sizeof(*f));

    f->ctx = ctx;
    f->hosts = hosts;
    f->n = n;
    f->limit = limit > 0 ? limit : n;
    f->method = method;
    f->req = cJSON_PrintUnformatted(req);
    f->deadline_ms = deadline_ms;
    f->clients = xcalloc(n + 1, sizeof(*f->clients));
    f->calls = xcalloc(n + 1, sizeof(*f->calls));
    f->st = xcalloc(n + 1, sizeof(*f->st));
    f->resp = xcalloc(n + 1, sizeof(*f->resp));
    f->done = done;
    f->arg = arg;
    if (f->req == NULL || (f->done_ev = evtimer_new(ctx->base, mgr_fan_done_cb, f)) == NULL) {
        mgr_fan_free(f);
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    *out = f;
    mgr_fan_pump(f);
    return 0;
}

/* The active schedulers of cluster_id, or DF_ENOTFOUND with err set. */
static int
mgr_task_schedulers(struct mgr *ctx, int64_t cluster_id, struct mgr_reg_host **hosts, size_t *n,
                    struct df_error *err)
{
    int rv;

    *hosts = NULL;
    *n = 0;
    if ((rv = mgr_reg_list(ctx->db, MGR_REG_SCHEDULER, cluster_id, true, hosts, n)) != 0)
        return df_error_set(err, rv, "scheduler cluster %lld: cannot list its schedulers",
                            (long long)cluster_id);
    if (*n == 0) {
        free(*hosts);
        *hosts = NULL;
        return df_error_set(err, DF_ENOTFOUND, "no active scheduler in scheduler cluster %lld",
                            (long long)cluster_id);
    }
    /* no type: the fan expects a scheduler certificate */
    for (size_t i = 0; i < *n; i++)
        (*hosts)[i].type[0] = '\0';
    return 0;
}

int
mgr_fan_schedulers(struct mgr *ctx, int64_t cluster_id, const char *method, const cJSON *req,
                   int deadline_ms, mgr_fan_done_fn *done, void *arg, struct mgr_fan **out,
                   struct df_error *err)
{
    struct mgr_reg_host *hosts;
    size_t n;
    int rv;

    if ((rv = mgr_task_schedulers(ctx, cluster_id, &hosts, &n, err)) != 0)
        return rv;
    return mgr_fan_start(ctx, hosts, n, 0, method, req, deadline_ms, done, arg, out, err);
}

/* A host of a scheduler's answer (Host as StatHost spells it) as a registry host. */
static bool
mgr_task_host_of(const cJSON *h, int64_t cluster_id, struct mgr_reg_host *out)
{
    const cJSON *hn = cJSON_GetObjectItemCaseSensitive(h, "hostname");
    const cJSON *ip = cJSON_GetObjectItemCaseSensitive(h, "ip");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(h, "type");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(h, "port");
    const cJSON *dport = cJSON_GetObjectItemCaseSensitive(h, "downloadPort");
    const cJSON *idc = cJSON_GetObjectItemCaseSensitive(h, "idc");
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(h, "location");

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsString(hn) || !cJSON_IsString(ip) || !cJSON_IsNumber(port) ||
        strlen(hn->valuestring) > MGR_REG_HOSTNAME_MAX ||
        strlen(ip->valuestring) >= sizeof(out->ip) || port->valuedouble < 1 ||
        port->valuedouble > 65535)
        return false;
    out->cluster_id = cluster_id;
    snprintf(out->hostname, sizeof(out->hostname), "%s", hn->valuestring);
    snprintf(out->ip, sizeof(out->ip), "%s", ip->valuestring);
    snprintf(out->type, sizeof(out->type), "%s",
             cJSON_IsString(type) && strcmp(type->valuestring, "normal") != 0 ? "super" : "normal");
    if (cJSON_IsString(idc))
        snprintf(out->idc, sizeof(out->idc), "%s", idc->valuestring);
    if (cJSON_IsString(loc))
        snprintf(out->location, sizeof(out->location), "%s", loc->valuestring);
    out->port = (int)port->valuedouble;
    out->download_port = cJSON_IsNumber(dport) ? (int)dport->valuedouble : 0;
    out->active = true;
    return true;
}

/* Add h to the list unless a host of the same ip and port is there. */
static void
mgr_task_host_add(struct mgr_reg_host **v, size_t *n, const struct mgr_reg_host *h)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*v)[i].port == h->port && strcmp((*v)[i].ip, h->ip) == 0)
            return;
    }
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = *h;
}

/* "name (ip): code: message" of the failed calls of f, joined into buf. */
static void
mgr_task_fan_errors(const struct mgr_fan *f, char *buf, size_t len)
{
    const struct rpc_status *st;
    const cJSON *resp;
    size_t used = strlen(buf);

    for (size_t i = 0; i < mgr_fan_count(f) && used < len - 1; i++) {
        const struct mgr_reg_host *h = mgr_fan_host(f, i, &st, &resp);

        if (st->code != RPC_OK)
            used += (size_t)snprintf(buf + used, len - used, "%s%s (%s): %s: %s",
                                     used > 0 ? "; " : "", h->hostname, h->ip,
                                     rpc_err_name(st->code), st->message);
    }
}

/* ---- the hosts of a cluster (all_peers preheat) ---- */

struct mgr_hosts_req {
    int64_t cluster_id;
    struct mgr_fan *fan;
    mgr_hosts_done_fn *done;
    void *arg;
};

static void
mgr_hosts_cb(void *arg, struct mgr_fan *f)
{
    struct mgr_hosts_req *r = arg;
    struct mgr_reg_host *v = NULL, h;
    const struct rpc_status *st;
    const cJSON *resp, *e;
    char why[600] = "";
    size_t n = 0, ok = 0;

    for (size_t i = 0; i < mgr_fan_count(f); i++) {
        mgr_fan_host(f, i, &st, &resp);
        if (st->code != RPC_OK)
            continue;
        ok++;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(resp, "hosts"))
        {
            if (mgr_task_host_of(e, r->cluster_id, &h))
                mgr_task_host_add(&v, &n, &h);
        }
    }
    if (ok == 0)
        mgr_task_fan_errors(f, why, sizeof(why));
    r->fan = NULL;
    mgr_fan_free(f);
    r->done(r->arg, ok > 0 ? 0 : DF_EUNAVAIL, why, v, n);
    free(r);
}

int
mgr_hosts_start(struct mgr *ctx, int64_t cluster_id, int deadline_ms, mgr_hosts_done_fn *done,
                void *arg, struct mgr_hosts_req **out, struct df_error *err)
{
    struct mgr_hosts_req *r = xcalloc(1, sizeof(*r));
    cJSON *req = cJSON_CreateObject();
    int rv;

    r->cluster_id = cluster_id;
    r->done = done;
    r->arg = arg;
    rv = mgr_fan_schedulers(ctx, cluster_id, PROTO_SCHED_LIST_HOSTS, req, deadline_ms, mgr_hosts_cb,
                            r, &r->fan, err);
    cJSON_Delete(req);
    if (rv != 0) {
        free(r);
        return rv;
    }
    *out = r;
    return 0;
}

void
mgr_hosts_cancel(struct mgr_hosts_req *r)
{
    if (r == NULL)
        return;
    mgr_fan_free(r->fan);
    free(r);
}

/* ---- get_task and delete_task ---- */

int
mgr_task_id_of(const cJSON *args, char out[DF_ID_TASK_LEN + 1], struct df_error *err)
{
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(args, "task_id");
    const cJSON *content =
            cJSON_GetObjectItemCaseSensitive(args, "content_for_calculating_task_id");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(args, "url");
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(args, "piece_length");
    struct df_id_task_params p;
    uint8_t md[DF_SHA256_LEN];

    /* upstream's precedence: the id itself, then the content, then the URL */
    if (cJSON_IsString(tid) && tid->valuestring[0] != '\0') {
        if (!df_id_task_is_valid(tid->valuestring))
            return df_error_set(err, DF_EINVAL, "args.task_id: expected 64 lowercase hex digits");
        snprintf(out, DF_ID_TASK_LEN + 1, "%s", tid->valuestring);
        return 0;
    }
    if (cJSON_IsString(content) && content->valuestring[0] != '\0') {
        df_sha256(content->valuestring, strlen(content->valuestring), md);
        df_hex_encode(md, sizeof(md), out);
        out[DF_ID_TASK_LEN] = '\0';
        return 0;
    }
    if (!cJSON_IsString(url) || url->valuestring[0] == '\0')
        return df_error_set(err, DF_EINVAL,
                            "invalid params: task_id, content_for_calculating_task_id or url is "
                            "required");
    memset(&p, 0, sizeof(p));
    p.url = url->valuestring;
    p.tag = mgr_task_str(args, "tag", NULL);
    p.application = mgr_task_str(args, "application", NULL);
    p.filtered_query_params = mgr_task_str(args, "filtered_query_params", NULL);
    p.piece_length = cJSON_IsNumber(pl) ? (uint64_t)pl->valuedouble : 0;
    p.url_flags = DF_URL_CANON_SORT;
    if (df_id_task(&p, out, err) != 0) {
        char msg[sizeof(err->msg)];

        snprintf(msg, sizeof(msg), "%s", err->msg);
        return df_error_set(err, DF_EINVAL, "args.url: %s", msg);
    }
    return 0;
}

struct mgr_task_op {
    struct mgr *ctx;
    int64_t cluster_id;
    bool del;
    char task_id[DF_ID_TASK_LEN + 1];
    int deadline_ms;
    size_t limit; /* DeleteTask calls open at once (concurrent_peer_count) */
    struct mgr_fan *fan;
    cJSON *peers;             /* get_task: the result's peers */
    cJSON *success, *failure; /* delete_task */
    char error[700];          /* schedulers that did not answer */
    mgr_task_done_fn *done;
    void *arg;
};

void
mgr_task_cancel(struct mgr_task_op *op)
{
    if (op == NULL)
        return;
    mgr_fan_free(op->fan);
    cJSON_Delete(op->peers);
    cJSON_Delete(op->success);
    cJSON_Delete(op->failure);
    free(op);
}

static void
mgr_task_end(struct mgr_task_op *op)
{
    cJSON *result = cJSON_CreateObject();

    if (op->del) {
        cJSON_AddItemToObject(result, "success_tasks", op->success);
        cJSON_AddItemToObject(result, "failure_tasks", op->failure);
        op->success = op->failure = NULL;
    } else {
        cJSON_AddItemToObject(result, "peers", op->peers);
        op->peers = NULL;
    }
    cJSON_AddNumberToObject(result, "scheduler_cluster_id", (double)op->cluster_id);
    op->fan = NULL;
    op->done(op->arg, op, result, op->error[0] != '\0' ? op->error : NULL);
    mgr_task_cancel(op);
}

/* The host entry of a delete result. */
static cJSON *
mgr_task_host_entry(const struct mgr_reg_host *h)
{
    cJSON *t = cJSON_CreateObject();

    cJSON_AddStringToObject(t, "hostname", h->hostname);
    cJSON_AddStringToObject(t, "ip", h->ip);
    cJSON_AddStringToObject(t, "host_type", h->type);
    return t;
}

static void
mgr_task_deleted_cb(void *arg, struct mgr_fan *f)
{
    struct mgr_task_op *op = arg;
    const struct rpc_status *st;
    const cJSON *resp;
    char desc[600];

    for (size_t i = 0; i < mgr_fan_count(f); i++) {
        const struct mgr_reg_host *h = mgr_fan_host(f, i, &st, &resp);
        cJSON *t = mgr_task_host_entry(h);

        if (st->code == RPC_OK) {
            cJSON_AddItemToArray(op->success, t);
            continue;
        }
        snprintf(desc, sizeof(desc), "%s: %s", rpc_err_name(st->code), st->message);
        cJSON_AddStringToObject(t, "description", desc);
        cJSON_AddItemToArray(op->failure, t);
    }
    mgr_fan_free(f);
    mgr_task_end(op);
}

/* Every scheduler answered ListTaskPeers: the peers, and for a delete their hosts' calls. */
static void
mgr_task_listed_cb(void *arg, struct mgr_fan *f)
{
    struct mgr_task_op *op = arg;
    struct mgr_reg_host *holders = NULL, h;
    const struct rpc_status *st;
    const cJSON *resp, *p, *ho;
    size_t nholders = 0, answered = 0;
    struct df_error err;
    cJSON *req;

    for (size_t i = 0; i < mgr_fan_count(f); i++) {
        mgr_fan_host(f, i, &st, &resp);
        if (st->code != RPC_OK)
            continue;
        answered++;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(resp, "peers"))
        {
            const cJSON *state = cJSON_GetObjectItemCaseSensitive(p, "state");
            cJSON *e;

            ho = cJSON_GetObjectItemCaseSensitive(p, "host");
            if (!mgr_task_host_of(ho, op->cluster_id, &h))
                continue;
            if (op->del) {
                mgr_task_host_add(&holders, &nholders, &h);
                continue;
            }
            e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "id", mgr_task_str(p, "id", ""));
            cJSON_AddStringToObject(e, "hostname", h.hostname);
            cJSON_AddStringToObject(e, "ip", h.ip);
            cJSON_AddStringToObject(e, "host_type", h.type);
            cJSON_AddStringToObject(e, "created_at", mgr_task_str(p, "createdAt", ""));
            cJSON_AddStringToObject(e, "updated_at", mgr_task_str(p, "updatedAt", ""));
            /* upstream's key, capitalised as its Go struct field */
            cJSON_AddBoolToObject(e, "IsFinished",
                                  cJSON_IsString(state) &&
                                          strcmp(state->valuestring, "Succeeded") == 0);
            cJSON_AddItemToArray(op->peers, e);
        }
    }
    /* some scheduler did not answer: the job fails, with what the others told */
    mgr_task_fan_errors(f, op->error, sizeof(op->error));
    if (answered == 0 && op->error[0] == '\0')
        snprintf(op->error, sizeof(op->error), "no scheduler answered");
    mgr_fan_free(f);
    op->fan = NULL;
    if (!op->del || nholders == 0) {
        free(holders);
        mgr_task_end(op);
        return;
    }
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "taskId", op->task_id);
    if (mgr_fan_start(op->ctx, holders, nholders, op->limit, PROTO_DFDAEMON_DELETE_TASK, req,
                      op->deadline_ms, mgr_task_deleted_cb, op, &op->fan, &err) != 0) {
        snprintf(op->error, sizeof(op->error), "%s", err.msg);
        mgr_task_end(op);
    }
    cJSON_Delete(req);
}

int
mgr_task_start(struct mgr *ctx, int64_t cluster_id, bool del, const char *task_id, size_t limit,
               int deadline_ms, mgr_task_done_fn *done, void *arg, struct mgr_task_op **out,
               struct df_error *err)
{
    struct mgr_task_op *op = xcalloc(1, sizeof(*op));
    cJSON *req = cJSON_CreateObject();
    int rv;

    op->ctx = ctx;
    op->cluster_id = cluster_id;
    op->del = del;
    snprintf(op->task_id, sizeof(op->task_id), "%s", task_id);
    op->deadline_ms = deadline_ms;
    op->limit = limit;
    op->peers = cJSON_CreateArray();
    op->success = cJSON_CreateArray();
    op->failure = cJSON_CreateArray();
    op->done = done;
    op->arg = arg;
    cJSON_AddStringToObject(req, "taskId", task_id);
    rv = mgr_fan_schedulers(ctx, cluster_id, PROTO_SCHED_LIST_TASK_PEERS, req, deadline_ms,
                            mgr_task_listed_cb, op, &op->fan, err);
    cJSON_Delete(req);
    if (rv != 0) {
        mgr_task_cancel(op);
        return rv;
    }
    log_info("manager: %s of task %.12s in scheduler cluster %lld",
             del ? "delete_task" : "get_task", task_id, (long long)cluster_id);
    *out = op;
    return 0;
}

/* ---- sync_peers ---- */

struct mgr_sync {
    struct mgr *ctx;
    struct mgr_sync *next;    /* on ctx->syncs */
    struct net_http_req *req; /* NULL once its connection closed */
    struct mgr_fan **fans;
    int64_t *clusters;
    size_t n, open;
    size_t hosts;
    char error[700];
};

static void
mgr_sync_free(struct mgr_sync *s)
{
    struct mgr_sync **pp = &s->ctx->syncs;

    while (*pp != NULL && *pp != s)
        pp = &(*pp)->next;
    if (*pp == s)
        *pp = s->next;
    if (s->req != NULL)
        net_http_req_on_close(s->req, NULL, NULL);
    for (size_t i = 0; i < s->n; i++)
        mgr_fan_free(s->fans[i]);
    free(s->fans);
    free(s->clusters);
    free(s);
}

static void
mgr_sync_close_cb(struct net_http_req *req, int reason, void *arg)
{
    struct mgr_sync *s = arg;

    (void)req;
    (void)reason;
    s->req = NULL;
}

static void
mgr_sync_finish(struct mgr_sync *s)
{
    char msg[800];

    if (s->req != NULL) {
        net_http_req_on_close(s->req, NULL, NULL);
        if (s->error[0] == '\0') {
            cJSON *ok = cJSON_CreateString("OK");

            net_route_reply_json(s->req, 200, ok);
            cJSON_Delete(ok);
        } else {
            snprintf(msg, sizeof(msg), "sync peers: %s", s->error);
            mgr_reply_message(s->req, 500, msg);
        }
        s->req = NULL; /* answered: gone once sent */
    }
    log_info("manager: sync_peers: %zu hosts from the schedulers of %zu clusters%s%s", s->hosts,
             s->n, s->error[0] != '\0' ? "; " : "", s->error);
    mgr_sync_free(s);
}

static void
mgr_sync_cb(void *arg, struct mgr_fan *f)
{
    struct mgr_sync *s = arg;
    struct mgr_reg_update u;
    struct mgr_reg_host h;
    const struct rpc_status *st;
    const cJSON *resp, *e;
    int64_t now = df_time_wall_ms(), id;
    size_t k = 0, len;
    bool in_txn;

    while (k < s->n && s->fans[k] != f)
        k++;
    /* one transaction per answer: a thousand upserts commit once (milliseconds on the loop) */
    in_txn = store_sql_begin(s->ctx->db, NULL) == 0;
    for (size_t i = 0; i < mgr_fan_count(f); i++) {
        mgr_fan_host(f, i, &st, &resp);
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(resp, "hosts"))
        {
            if (!mgr_task_host_of(e, s->clusters[k], &h))
                continue;
            memset(&u, 0, sizeof(u));
            u.hostname = h.hostname;
            u.ip = h.ip;
            u.idc = h.idc;
            u.location = h.location;
            u.type = h.type;
            u.port = h.port;
            u.download_port = h.download_port;
            u.cluster_id = s->clusters[k];
            u.alive_until = now + MGR_TASK_PEER_TTL;
            if (mgr_reg_update(s->ctx->db, MGR_REG_PEER, &u, now, &id) == 0)
                s->hosts++;
        }
    }
    if (in_txn && store_sql_commit(s->ctx->db, NULL) != 0) {
        store_sql_rollback(s->ctx->db);
        len = strlen(s->error);
        snprintf(s->error + len, sizeof(s->error) - len, "%scannot store the peers",
                 len > 0 ? "; " : "");
    }
    mgr_task_fan_errors(f, s->error, sizeof(s->error));
    mgr_fan_free(f);
    s->fans[k] = NULL;
    if (--s->open == 0)
        mgr_sync_finish(s);
}

void
mgr_task_sync_peers(struct mgr *ctx, struct net_http_req *req, const cJSON *cluster_ids)
{
    struct mgr_sync *s = xcalloc(1, sizeof(*s));
    struct df_error err;
    const cJSON *e;
    size_t len;
    cJSON *body = cJSON_CreateObject();
    int rv;

    s->ctx = ctx;
    s->req = req;
    s->n = (size_t)cJSON_GetArraySize(cluster_ids);
    s->fans = xcalloc(s->n + 1, sizeof(*s->fans));
    s->clusters = xcalloc(s->n + 1, sizeof(*s->clusters));
    s->open = 1; /* until every fan started */
    cJSON_ArrayForEach(e, cluster_ids)
    {
        size_t i = s->open - 1;

        s->clusters[i] = (int64_t)e->valuedouble;
        if ((rv = mgr_fan_schedulers(ctx, s->clusters[i], PROTO_SCHED_LIST_HOSTS, body, 30000,
                                     mgr_sync_cb, s, &s->fans[i], &err)) == 0) {
            s->open++;
        } else if (rv != DF_ENOTFOUND) {
            /* a cluster without an active scheduler has nothing to sync: not an error */
            len = strlen(s->error);
            snprintf(s->error + len, sizeof(s->error) - len, "%s%s", len > 0 ? "; " : "", err.msg);
        }
    }
    cJSON_Delete(body);
    if (--s->open == 0) {
        mgr_sync_finish(s);
        return;
    }
    net_http_req_on_close(req, mgr_sync_close_cb, s);
    s->next = ctx->syncs;
    ctx->syncs = s;
}

void
mgr_task_reset(struct mgr *ctx)
{
    while (ctx->syncs != NULL)
        mgr_sync_free(ctx->syncs);
}
