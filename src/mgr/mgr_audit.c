/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log: who did what through the REST API, as upstream's audit middleware records
 * it (actor USER by the JWT's user, PAT by the token's name, or UNKNOWN; event type API; the
 * method, SUCCESS for 2xx and FAILURE otherwise, the path, the status and the client's
 * address), and GET /api/v1/audits to read it, root only.
 *
 * What is recorded differs from upstream on purpose: every write (POST, PUT, PATCH, DELETE)
 * and every failed request, but not a successful read. Upstream writes a row for every GET
 * too, so the console's own polling (every few seconds per open page) and every scraper
 * fill the table with reads that change nothing, and at the 20,000 reads/s of
 * scripts/bench-manager.sh the table would grow by 1.7 billion rows a day. A read that
 * fails (a bad token, a missing permission, a 404) is kept: that is what an audit of an
 * intrusion looks for. Only the API's routes are audited (/api, /oapi, Harbor's /preheats),
 * not the console's files nor /healthy and /metrics.
 *
 * Never recorded: the body, the query string (?token= and ?access_token= are secrets) and any
 * header. The row is written after the answer: the gate asks the HTTP server to tell it when
 * the response starts (net_http_req_on_respond), whichever handler gives it and however late
 * (a sign-in answers from the password thread's callback). Rows are queued and written in
 * one transaction per loop turn, never inside a handler's own transaction.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "df/df_digest.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/net_route.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

/* Rows waiting for the next loop turn; past this a burst is dropped (and counted). */
#define MGR_AUDIT_QUEUE_MAX 4096
#define MGR_AUDIT_PATH_MAX  512

struct mgr_audit_rec {
    int64_t at; /* ms */
    int64_t user_id;
    uint8_t pat_mac[DF_SHA256_LEN];
    const char *actor; /* static: USER, PAT, UNKNOWN */
    int status;
    char operation[8];
    char ip[64];
    char path[MGR_AUDIT_PATH_MAX];
};

struct mgr_audit {
    struct mgr *ctx;
    struct event *flush;
    struct mgr_audit_rec *q;
    size_t n, cap;
};

bool
mgr_audit_is_recorded(const char *method, int status)
{
    bool is_read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                   strcmp(method, "OPTIONS") == 0;

    return !is_read || status < 200 || status > 299;
}

bool
mgr_audit_is_api(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strncmp(path, "/oapi/", 6) == 0 ||
           strcmp(path, "/preheats") == 0 || strncmp(path, "/preheats/", 10) == 0;
}

void
mgr_audit_ip(const char *peer, char *out, size_t outlen)
{
    const char *end;
    size_t n;

    /* "[v6]:port" or "v4:port", as the server names its connections */
    if (*peer == '[') {
        peer++;
        end = strchr(peer, ']');
    } else {
        end = strrchr(peer, ':');
    }
    n = end != NULL ? (size_t)(end - peer) : strlen(peer);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

/* Write the queue in one transaction. */
static void
mgr_audit_flush(struct mgr_audit *a)
{
    struct store_sql *db = a->ctx->db;
    sqlite3_stmt *st;
    struct df_error err;
    size_t n = a->n;

    a->n = 0;
    if (n == 0 || (st = mgr_db_stmt(db, MGR_STMT_AUDIT_INSERT)) == NULL)
        return;
    if (store_sql_begin(db, &err) != 0) {
        log_warnx("manager: audit: %zu rows lost: %s", n, err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct mgr_audit_rec *r = &a->q[i];

        sqlite3_bind_int64(st, 1, r->at);
        sqlite3_bind_text(st, 2, r->actor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->operation, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->status >= 200 && r->status <= 299 ? "SUCCESS" : "FAILURE", -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, r->status);
        sqlite3_bind_text(st, 7, r->ip, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, r->user_id);
        sqlite3_bind_blob(st, 9, r->pat_mac, sizeof(r->pat_mac), SQLITE_STATIC);
        if (mgr_db_run(db, st) != 0) {
            store_sql_rollback(db);
            log_warnx("manager: audit: %zu rows lost", n);
            return;
        }
    }
    if (store_sql_commit(db, &err) != 0) {
        store_sql_rollback(db);
        log_warnx("manager: audit: %zu rows lost: %s", n, err.msg);
    }
    /* a burst's queue does not stay allocated */
    if (a->cap > 256) {
        free(a->q);
        a->q = NULL;
        a->cap = 0;
    }
}

static void
mgr_audit_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    mgr_audit_flush(arg);
}

/* The answer of req starts: queue its row. */
static void
mgr_audit_respond_cb(struct net_http_req *req, int status, void *arg)
{
    struct mgr *ctx = arg;
    struct mgr_audit *a = ctx->audit;
    const char *method = net_http_req_method(req), *path = net_http_req_head(req)->path;
    struct mgr_audit_rec *r;
    struct timeval zero = {0, 0};

    if (!mgr_audit_is_recorded(method, status))
        return;
    if (a->n == MGR_AUDIT_QUEUE_MAX) {
        ctx->audit_dropped++;
        return;
    }
    if (a->n == a->cap) {
        a->cap = a->cap == 0 ? 64 : a->cap * 2;
        a->q = xrealloc(a->q, a->cap * sizeof(*a->q));
    }
    r = &a->q[a->n++];
    memset(r, 0, sizeof(*r));
    r->at = df_time_wall_ms();
    r->status = status;
    snprintf(r->operation, sizeof(r->operation), "%s", method);
    snprintf(r->path, sizeof(r->path), "%s", path);
    mgr_audit_ip(net_http_req_peer(req), r->ip, sizeof(r->ip));
    /* /oapi and Harbor's routes take personal access tokens only, the rest JWTs */
    if (strncmp(path, "/api/", 5) != 0)
        r->actor = mgr_pat_caller_mac(ctx, req, r->pat_mac) ? "PAT" : "UNKNOWN";
    else
        r->actor = (r->user_id = mgr_api_caller_id(ctx, req)) != 0 ? "USER" : "UNKNOWN";
    ctx->audited++;
    if (!evtimer_pending(a->flush, NULL))
        evtimer_add(a->flush, &zero);
}

void
mgr_audit_watch(struct mgr *ctx, struct net_http_req *req)
{
    if (ctx->audit != NULL && mgr_audit_is_api(net_http_req_head(req)->path))
        net_http_req_on_respond(req, mgr_audit_respond_cb, ctx);
}

int
mgr_audit_init(struct mgr *ctx)
{
    struct mgr_audit *a = xcalloc(1, sizeof(*a));

    a->ctx = ctx;
    if ((a->flush = evtimer_new(ctx->base, mgr_audit_flush_cb, a)) == NULL) {
        free(a);
        return DF_ENOMEM;
    }
    ctx->audit = a;
    return 0;
}

void
mgr_audit_reset(struct mgr *ctx)
{
    struct mgr_audit *a = ctx->audit;

    if (a == NULL)
        return;
    if (ctx->db != NULL)
        mgr_audit_flush(a);
    event_free(a->flush);
    free(a->q);
    free(a);
    ctx->audit = NULL;
}

/* An audit row (MGR_AUDIT_COLS) as upstream's model. */
static void
mgr_audit_write(struct mgr_jbuf *b, sqlite3_stmt *st)
{
    mgr_jbuf_open(b, '{');
    mgr_jbuf_int(b, "id", sqlite3_column_int64(st, 0));
    mgr_jbuf_time(b, "created_at", sqlite3_column_int64(st, 1));
    mgr_jbuf_time(b, "updated_at", sqlite3_column_int64(st, 1));
    mgr_jbuf_int(b, "is_del", 0);
    mgr_jbuf_str(b, "actor_type", mgr_db_col_text(st, 2));
    mgr_jbuf_str(b, "actor_name", mgr_db_col_text(st, 3));
    mgr_jbuf_str(b, "event_type", mgr_db_col_text(st, 4));
    mgr_jbuf_str(b, "operation", mgr_db_col_text(st, 5));
    mgr_jbuf_time(b, "operated_at", sqlite3_column_int64(st, 1));
    mgr_jbuf_str(b, "state", mgr_db_col_text(st, 6));
    mgr_jbuf_str(b, "path", mgr_db_col_text(st, 7));
    mgr_jbuf_int(b, "status_code", sqlite3_column_int64(st, 8));
    mgr_jbuf_str(b, "ip", mgr_db_col_text(st, 9));
    mgr_jbuf_close(b, '}');
}

/*
 * GET /api/v1/audits: root only (MGR_ACCESS_ROOT): a guest reads every other group, but the
 * log names every user and address.
 */
void
mgr_audit_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    static const char *const filters[] = {"actor_type", "actor_name", "event_type", "operation",
                                          "state",      "path",       "status_code"};

    (void)m;
    (void)who;
    mgr_reply_rows_text(ctx, req, MGR_STMT_AUDIT_COUNT, MGR_STMT_AUDIT_COUNT_ALL,
                        MGR_STMT_AUDIT_LIST, filters, DF_NELEM(filters), mgr_audit_write);
}
