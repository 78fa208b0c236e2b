/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GC of the audit log and of finished jobs, by the TTLs of the config row "gc"
 * ({"audit":{"ttl":ns},"job":{"ttl":ns}}, upstream's shape and seed): run by a job
 * (POST /jobs {"type":"gc","args":{"type":"audit"|"job"}}, which answers the job row in its
 * final state, the count removed in its result) and by a timer every gc.interval. A job
 * still PENDING is never removed, however old. One DELETE by an indexed time: the audit
 * log's created_at, the jobs' updated_at (the time a job ended, not began).
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/store_sql.h"

/* Upstream's seed (ns) and the bounds we take: a second to ten years. */
#define MGR_GC_AUDIT_TTL (INT64_C(7) * 24 * 3600 * 1000000000)
#define MGR_GC_JOB_TTL   (INT64_C(6) * 3600 * 1000000000)
#define MGR_GC_TTL_MIN   INT64_C(1000000000)
#define MGR_GC_TTL_MAX   (INT64_C(10) * 365 * 24 * 3600 * 1000000000)

int
mgr_gc_ttl_parse(const char *value, struct mgr_gc_ttl *out, struct df_error *err)
{
    static const char *const keys[] = {"audit", "job"};
    cJSON *doc = cJSON_Parse(value);
    int64_t ttl[2];
    int rv = 0;

    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return df_error_set(
                err, DF_EINVAL,
                "value: the gc config is JSON {\"audit\":{\"ttl\":ns},\"job\":{\"ttl\":ns}}");
    }
    for (size_t i = 0; i < DF_NELEM(keys) && rv == 0; i++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);

        if (!cJSON_IsObject(o) || df_json_get_i64(o, "ttl", &ttl[i], err) != 0 ||
            ttl[i] < MGR_GC_TTL_MIN || ttl[i] > MGR_GC_TTL_MAX)
            rv = df_error_set(err, DF_EINVAL,
                              "value: %s.ttl: expected nanoseconds from %lld (1s) to %lld (10 "
                              "years)",
                              keys[i], (long long)MGR_GC_TTL_MIN, (long long)MGR_GC_TTL_MAX);
    }
    cJSON_Delete(doc);
    if (rv == 0) {
        out->audit_ns = ttl[0];
        out->job_ns = ttl[1];
    }
    return rv;
}

/* The TTLs of the gc row; upstream's defaults when the row is gone or unreadable (warned). */
static void
mgr_gc_ttl_load(struct mgr *ctx, struct mgr_gc_ttl *out)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_CONFIG_BY_NAME);
    struct df_error err;
    int rv = DF_ENOTFOUND;

    out->audit_ns = MGR_GC_AUDIT_TTL;
    out->job_ns = MGR_GC_JOB_TTL;
    if (st == NULL)
        return;
    sqlite3_bind_text(st, 1, MGR_GC_CONFIG, -1, SQLITE_STATIC);
    if (mgr_db_step(ctx->db, st) == STORE_SQL_ROW &&
        (rv = mgr_gc_ttl_parse(mgr_db_col_text(st, 4), out, &err)) != 0)
        log_warnx("manager: gc: config %s: %s: using the defaults", MGR_GC_CONFIG, err.msg);
    sqlite3_reset(st);
}

int
mgr_gc_run(struct mgr *ctx, bool audit, int64_t now_ms, int64_t *purged)
{
    struct mgr_gc_ttl ttl;
    sqlite3_stmt *st;
    int rv;

    mgr_gc_ttl_load(ctx, &ttl);
    if ((st = mgr_db_stmt(ctx->db, audit ? MGR_STMT_GC_AUDITS : MGR_STMT_GC_JOBS)) == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, now_ms - (audit ? ttl.audit_ns : ttl.job_ns) / 1000000);
    if ((rv = mgr_db_run(ctx->db, st)) != 0)
        return rv;
    *purged = store_sql_changes(ctx->db);
    ctx->gc_purged += (uint64_t)*purged;
    return 0;
}

static void
mgr_gc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mgr *ctx = arg;
    int64_t n;

    (void)fd;
    (void)what;
    for (int audit = 1; audit >= 0; audit--) {
        if (mgr_gc_run(ctx, audit, df_time_wall_ms(), &n) != 0)
            log_warnx("manager: gc: %s: cannot remove the expired rows", audit ? "audit" : "job");
        else if (n > 0)
            log_info("manager: gc: removed %lld expired %s rows", (long long)n,
                     audit ? "audit" : "job");
    }
}

int
mgr_gc_init(struct mgr *ctx)
{
    struct timeval tv = {.tv_sec = ctx->cfg.gc_interval / 1000,
                         .tv_usec = (ctx->cfg.gc_interval % 1000) * 1000};

    if ((ctx->gc_timer = event_new(ctx->base, -1, EV_PERSIST, mgr_gc_timer_cb, ctx)) == NULL)
        return DF_ENOMEM;
    return event_add(ctx->gc_timer, &tv) == 0 ? 0 : DF_EINTERNAL;
}

void
mgr_gc_reset(struct mgr *ctx)
{
    if (ctx->gc_timer != NULL)
        event_free(ctx->gc_timer);
    ctx->gc_timer = NULL;
}

/* Insert the job row (PENDING) of a gc of kind. Returns its id, or 0. */
static int64_t
mgr_gc_job_insert(struct mgr *ctx, const char *kind, const char *bio, int64_t user_id)
{
    sqlite3_stmt *st;
    char uuid[64], task_id[80], args[32];
    int64_t id = 0;

    if (df_id_uuid4(uuid) != 0 || (st = mgr_db_stmt(ctx->db, MGR_STMT_JOB_INSERT)) == NULL)
        return 0;
    snprintf(task_id, sizeof(task_id), "gc_%s", uuid);
    snprintf(args, sizeof(args), "{\"type\":\"%s\"}", kind);
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    mgr_db_bind_text(st, 2, task_id);
    mgr_db_bind_text(st, 3, bio != NULL ? bio : "");
    sqlite3_bind_text(st, 4, "gc", -1, SQLITE_STATIC);
    mgr_db_bind_text(st, 5, args);
    sqlite3_bind_text(st, 6, "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, user_id);
    sqlite3_bind_text(st, 8, "[]", -1, SQLITE_STATIC);
    if (mgr_db_step(ctx->db, st) == STORE_SQL_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return id;
}

bool
mgr_gc_is_job(const cJSON *body)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "type");

    return cJSON_IsString(t) && strcmp(t->valuestring, "gc") == 0;
}

void
mgr_gc_job_create(struct mgr *ctx, struct net_http_req *req, const cJSON *body,
                  const struct mgr_caller *who)
{
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(body, "args");
    const char *kind = NULL, *bio = NULL;
    struct df_error err;
    char result[64];
    sqlite3_stmt *st;
    int64_t id, user_id = who->user_id, purged = 0;
    int rv;

    if (!cJSON_IsObject(args) || mgr_json_str(args, "type", 1, 16, true, &kind, &err) != 0 ||
        (strcmp(kind, "audit") != 0 && strcmp(kind, "job") != 0)) {
        mgr_reply_errors(req, "args.type: expected audit or job");
        return;
    }
    if (mgr_json_str(body, "bio", 0, 1024, false, &bio, &err) != 0 ||
        df_json_get_i64(body, "user_id", &user_id, &err) == DF_EINVAL) {
        mgr_reply_errors(req, err.msg);
        return;
    }
    if ((id = mgr_gc_job_insert(ctx, kind, bio, user_id)) == 0) {
        mgr_reply_db_error(req, DF_EIO);
        return;
    }
    rv = mgr_gc_run(ctx, strcmp(kind, "audit") == 0, df_time_wall_ms(), &purged);
    if (rv == 0)
        snprintf(result, sizeof(result), "{\"purged\":%lld}", (long long)purged);
    else
        snprintf(result, sizeof(result), "{\"error\":\"%s\"}", df_strerror(rv));
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_JOB_SET)) != NULL) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, df_time_wall_ms());
        sqlite3_bind_text(st, 3, rv == 0 ? "SUCCESS" : "FAILURE", -1, SQLITE_STATIC);
        mgr_db_bind_text(st, 4, result);
        mgr_db_run(ctx->db, st);
    }
    log_info("manager: gc job %lld (%s): %s, %lld rows removed", (long long)id, kind,
             rv == 0 ? "SUCCESS" : "FAILURE", (long long)purged);
    mgr_job_reply_row(ctx, req, id);
}
