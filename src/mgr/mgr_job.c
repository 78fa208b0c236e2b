/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Jobs: POST/GET/PATCH/DELETE /api/v1/jobs and /oapi/v1/jobs in upstream's shapes, type
 * preheat (image and file). A job is a row (state PENDING, SUCCESS or FAILURE, args, result)
 * and, while it runs on this process, a struct mgr_job holding what must never reach the
 * database: the registry password and the header values (Harbor's registry token). Upstream
 * stored and echoed the password in clear; we store "" and "<redacted>" in their place.
 *
 * Life of a job, all on the loop:
 *
 *   create -> row PENDING -> start (next loop turn) -> [image: resolve the manifest]
 *          -> dispatch to the schedulers of its clusters -> results -> SUCCESS | FAILURE
 *   any time: timeout timer -> FAILURE "timeout ..."; DELETE -> cancelled and gone
 *   restart: rows still PENDING are failed with a reason at start (the secrets died with
 *            the process that held them, so the job cannot be carried on)
 *
 * The result is upstream's group state: one job_states[] entry for the job with the
 * per-scheduler results (success_tasks, failure_tasks, scheduler_cluster_id); the group
 * state is FAILURE when any entry failed, PENDING while any is not done, else SUCCESS.
 * A final state is written once (the row moves only from PENDING) and at once: nothing
 * polls, so GET shows the end within the loop turn the work ended in.
 *
 * Creation is limited as upstream does it: per scheduler cluster named in
 * scheduler_cluster_ids, a token bucket of the cluster's job_rate_limit per second, 429
 * "rate limit exceeded" (text) when empty; and, beyond upstream, at most job.maxLive
 * unfinished jobs at once, so that job spam cannot grow the process (TOB-DF2-1).
 */
#include "mgr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_time.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/net_addrpolicy.h"
#include "df/net_connect.h"
#include "df/net_fetch.h"
#include "df/net_http_server.h"
#include "df/net_ratelim.h"
#include "df/net_route.h"
#include "df/net_tls.h"
#include "df/store_sql.h"
#include "df/xmalloc.h"

#define MGR_JOB_REDACTED "<redacted>"
#define MGR_JOB_IPS_MAX  100
/* clusters whose creation bucket we keep; a cluster id beyond them shares the last slot */
#define MGR_JOB_LIMIT_SLOTS 64
#define MGR_JOB_ERR_MAX     1024

struct mgr_job_limit {
    int64_t cluster_id; /* 0: free slot */
    struct net_ratelim rl;
};

struct mgr_job_limits {
    struct mgr_job_limit slot[MGR_JOB_LIMIT_SLOTS];
};

struct mgr_job {
    LIST_ENTRY(mgr_job) link;
    struct mgr *ctx;
    int64_t id;
    int64_t created_ms;
    char task_uuid[DF_ID_UUID_LEN + 8];
    struct event *start_ev, *timeout_ev;
    cJSON *args;        /* as stored */
    cJSON *cluster_ids; /* array of numbers */
    struct mgr_job_secret sec;
    struct mgr_image *image; /* the manifest being resolved */
    /* the dispatch: one per cluster, the job_states of those that ended */
    struct mgr_preheat **preheats;
    size_t npreheats, nopen;
    const char *type;         /* preheat, get_task or delete_task (static) */
    struct mgr_task_op **ops; /* get_task, delete_task: one per cluster (mgr_task.c) */
    bool starting; /* inside mgr_job_dispatch: a dispatch that ends does not end the job */
    cJSON *states;
};

void
mgr_job_secret_reset(struct mgr_job_secret *s)
{
    free(s->username);
    free(s->password);
    cJSON_Delete(s->headers);
    memset(s, 0, sizeof(*s));
}

/* ---- args ---- */

/* A header whose value is a credential: never stored, never shown. */
static bool
mgr_job_header_is_secret(const char *name)
{
    static const char *const words[] = {"authorization", "cookie",   "token",
                                        "secret",        "password", "key"};

    for (size_t i = 0; i < DF_NELEM(words); i++) {
        if (strcasestr(name, words[i]) != NULL)
            return true;
    }
    return false;
}

/* An optional integer member in lo..hi: absent or null -> *out = def and *given false. */
static int
mgr_job_int(const cJSON *args, const char *key, int64_t lo, int64_t hi, int64_t def, int64_t *out,
            bool *given, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    *out = def;
    if (given != NULL)
        *given = false;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble)
        return df_error_set(err, DF_EINVAL, "args.%s: expected an integer", key);
    if ((int64_t)v->valuedouble < lo || (int64_t)v->valuedouble > hi)
        return df_error_set(err, DF_EINVAL, "args.%s: expected %lld to %lld, got %.0f", key,
                            (long long)lo, (long long)hi, v->valuedouble);
    *out = (int64_t)v->valuedouble;
    if (given != NULL)
        *given = true;
    return 0;
}

/* An optional string member of at most max bytes; absent -> "". */
static int
mgr_job_str(const cJSON *args, const char *key, size_t max, const char **out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    *out = "";
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return df_error_set(err, DF_EINVAL, "args.%s: expected a string", key);
    if (strlen(v->valuestring) > max)
        return df_error_set(err, DF_EINVAL, "args.%s: longer than %zu bytes", key, max);
    *out = v->valuestring;
    return 0;
}

/* An http(s) URL; for an image, of a manifest: <scheme>://<host>/v2/<repo>/manifests/<ref>. */
static int
mgr_job_url_check(const char *key, const char *url, bool manifest, struct df_error *err)
{
    struct df_url u;
    struct df_error perr;
    const char *p, *m;
    bool ok;

    if (df_url_parse(url, &u, &perr) != 0)
        return df_error_set(err, DF_EINVAL, "args.%s: %s", key, perr.msg);
    ok = strcmp(u.scheme, "http") == 0 || strcmp(u.scheme, "https") == 0;
    p = u.path != NULL ? u.path : "";
    if (ok && manifest) {
        m = strstr(p, "/manifests/");
        ok = strncmp(p, "/v2/", 4) == 0 && m != NULL && m > p + 4 && m[11] != '\0' &&
             strchr(m + 11, '/') == NULL;
    }
    df_url_reset(&u);
    if (!ok)
        return df_error_set(err, DF_EINVAL,
                            manifest ? "args.%s: expected <scheme>://<host>/v2/<repository>"
                                       "/manifests/<tag or digest>, got %s"
                                     : "args.%s: expected an http or https URL, got %s",
                            key, url);
    return 0;
}

/* The headers: an object of strings; the values to sec, the names with redacted values out. */
static int
mgr_job_headers(const cJSON *args, cJSON *out, struct mgr_job_secret *sec, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "headers"), *h;
    cJSON *shown;
    int n = 0;

    if (v == NULL || cJSON_IsNull(v) || (cJSON_IsObject(v) && v->child == NULL)) {
        cJSON_AddNullToObject(out, "headers");
        return 0;
    }
    if (!cJSON_IsObject(v))
        return df_error_set(err, DF_EINVAL, "args.headers: expected an object of strings");
    shown = cJSON_AddObjectToObject(out, "headers");
    sec->headers = cJSON_CreateObject();
    cJSON_ArrayForEach(h, v)
    {
        if (!cJSON_IsString(h) || h->string[0] == '\0' || strlen(h->valuestring) > 8192 ||
            strpbrk(h->string, "\r\n: ") != NULL || strpbrk(h->valuestring, "\r\n") != NULL)
            return df_error_set(err, DF_EINVAL,
                                "args.headers: expected names and one-line "
                                "string values");
        if (++n > 64)
            return df_error_set(err, DF_EINVAL, "args.headers: more than 64");
        cJSON_AddStringToObject(sec->headers, h->string, h->valuestring);
        cJSON_AddStringToObject(shown, h->string,
                                mgr_job_header_is_secret(h->string) ? MGR_JOB_REDACTED
                                                                    : h->valuestring);
    }
    return 0;
}

/* ips: 1..100 IP addresses, or absent. */
static int
mgr_job_ips(const cJSON *args, cJSON *out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "ips"), *e;
    unsigned char buf[16];
    int n;

    if (v == NULL || cJSON_IsNull(v)) {
        cJSON_AddNullToObject(out, "ips");
        return 0;
    }
    n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n < 1 || n > MGR_JOB_IPS_MAX)
        return df_error_set(err, DF_EINVAL, "args.ips: expected 1 to %d addresses",
                            MGR_JOB_IPS_MAX);
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || (inet_pton(AF_INET, e->valuestring, buf) != 1 &&
                                   inet_pton(AF_INET6, e->valuestring, buf) != 1))
            return df_error_set(err, DF_EINVAL, "args.ips: expected IP addresses");
    }
    cJSON_AddItemToObject(out, "ips", cJSON_Duplicate(v, true));
    return 0;
}

/* urls of a file preheat: url appended to urls (upstream), at least one, each http(s). */
static int
mgr_job_urls(const cJSON *args, const char *url, cJSON *out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "urls"), *e;
    cJSON *list = cJSON_CreateArray();
    int rv = 0;

    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsArray(v))
        rv = df_error_set(err, DF_EINVAL, "args.urls: expected an array of URLs");
    cJSON_ArrayForEach(e, v)
    {
        if (rv == 0 && !cJSON_IsString(e))
            rv = df_error_set(err, DF_EINVAL, "args.urls: expected an array of URLs");
        if (rv == 0)
            rv = mgr_job_url_check("urls", e->valuestring, false, err);
        if (rv == 0)
            cJSON_AddItemToArray(list, cJSON_CreateString(e->valuestring));
    }
    if (rv == 0 && *url != '\0' && (rv = mgr_job_url_check("url", url, false, err)) == 0)
        cJSON_AddItemToArray(list, cJSON_CreateString(url));
    if (rv == 0 && cJSON_GetArraySize(list) == 0)
        rv = df_error_set(err, DF_EINVAL, "args.urls: a file preheat needs url or urls");
    if (rv == 0 && cJSON_GetArraySize(list) > 1000)
        rv = df_error_set(err, DF_EINVAL, "args.urls: more than 1000");
    if (rv != 0) {
        cJSON_Delete(list);
        return rv;
    }
    cJSON_AddItemToObject(out, "urls", list);
    return 0;
}

/* Add an optional integer: null when it was not given. */
static void
mgr_job_add_opt(cJSON *out, const char *key, bool given, int64_t v)
{
    if (given)
        cJSON_AddNumberToObject(out, key, (double)v);
    else
        cJSON_AddNullToObject(out, key);
}

int
mgr_job_preheat_args(const cJSON *args, cJSON **out, struct mgr_job_secret *sec,
                     struct df_error *err)
{
    const char *type, *url, *tag, *app, *fqp, *user, *pass, *platform, *scope;
    int64_t piece, count, pct, ntask, npeer, timeout;
    bool has_piece, has_count, has_pct;
    cJSON *o;

    memset(sec, 0, sizeof(*sec));
    if (!cJSON_IsObject(args))
        return df_error_set(err, DF_EINVAL, "args: required");
    if (mgr_job_str(args, "type", 16, &type, err) != 0)
        return DF_EINVAL;
    if (strcmp(type, "image") != 0 && strcmp(type, "file") != 0)
        return df_error_set(err, DF_EINVAL, "args.type: one of image, file");
    if (mgr_job_str(args, "url", 8192, &url, err) != 0 ||
        mgr_job_str(args, "tag", 1024, &tag, err) != 0 ||
        mgr_job_str(args, "application", 1024, &app, err) != 0 ||
        mgr_job_str(args, "filtered_query_params", 8192, &fqp, err) != 0 ||
        mgr_job_str(args, "username", 1024, &user, err) != 0 ||
        mgr_job_str(args, "password", 1024, &pass, err) != 0 ||
        mgr_job_str(args, "platform", 128, &platform, err) != 0 ||
        mgr_job_str(args, "scope", 64, &scope, err) != 0)
        return DF_EINVAL;
    if (strcmp(type, "image") == 0 && *url == '\0')
        return df_error_set(err, DF_EINVAL, "args.url: required for an image");
    if (strcmp(type, "image") == 0 && mgr_job_url_check("url", url, true, err) != 0)
        return DF_EINVAL;
    if (*platform != '\0' &&
        (strchr(platform, '/') == NULL || platform[0] == '/' || strpbrk(platform, " \t")))
        return df_error_set(err, DF_EINVAL, "args.platform: expected os/arch[/variant]");
    if (mgr_job_int(args, "piece_length", MGR_JOB_PIECE_MIN, MGR_JOB_PIECE_MAX, 0, &piece,
                    &has_piece, err) != 0 ||
        mgr_job_int(args, "count", 1, 200, 0, &count, &has_count, err) != 0 ||
        mgr_job_int(args, "percentage", 1, 100, 0, &pct, &has_pct, err) != 0 ||
        mgr_job_int(args, "concurrent_task_count", 0, 100, 0, &ntask, NULL, err) != 0 ||
        mgr_job_int(args, "concurrent_peer_count", 0, 1000, 0, &npeer, NULL, err) != 0 ||
        mgr_job_int(args, "timeout", 0, MGR_JOB_TIMEOUT_MAX, 0, &timeout, NULL, err) != 0)
        return DF_EINVAL;
    /* upstream's defaults, applied before storing; zero counts as unset (Harbor sends 0) */
    if (ntask == 0)
        ntask = MGR_JOB_TASK_COUNT;
    if (npeer == 0)
        npeer = MGR_JOB_PEER_COUNT;
    if (timeout == 0)
        timeout = MGR_JOB_TIMEOUT_DEFAULT;
    if (*scope == '\0')
        scope = "single_seed_peer";
    if (*fqp == '\0')
        fqp = df_url_default_filtered_params();
    /* the keys in order, as Go prints the stored map */
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "application", app);
    cJSON_AddNumberToObject(o, "concurrent_peer_count", (double)npeer);
    cJSON_AddNumberToObject(o, "concurrent_task_count", (double)ntask);
    mgr_job_add_opt(o, "count", has_count, count);
    cJSON_AddStringToObject(o, "filtered_query_params", fqp);
    cJSON_AddNullToObject(o, "hdfs");
    if (mgr_job_headers(args, o, sec, err) != 0 || mgr_job_ips(args, o, err) != 0)
        goto fail;
    cJSON_AddNullToObject(o, "object_storage");
    /* never the password: it lives in sec only */
    cJSON_AddStringToObject(o, "password", "");
    mgr_job_add_opt(o, "percentage", has_pct, pct);
    mgr_job_add_opt(o, "piece_length", has_piece, piece);
    cJSON_AddStringToObject(o, "platform", platform);
    cJSON_AddStringToObject(o, "scope", scope);
    cJSON_AddStringToObject(o, "tag", tag);
    cJSON_AddNumberToObject(o, "timeout", (double)timeout);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "url", strcmp(type, "image") == 0 ? url : "");
    if (strcmp(type, "file") == 0) {
        if (mgr_job_urls(args, url, o, err) != 0)
            goto fail;
    } else {
        cJSON_AddNullToObject(o, "urls");
    }
    cJSON_AddStringToObject(o, "username", user);
    sec->username = xstrdup(user);
    sec->password = xstrdup(pass);
    *out = o;
    return 0;
fail:
    cJSON_Delete(o);
    mgr_job_secret_reset(sec);
    return DF_EINVAL;
}

/*
 * The args of get_task and delete_task (upstream's GetTaskArgs / DeleteTaskArgs): one of
 * task_id, content_for_calculating_task_id or url (with tag, application,
 * filtered_query_params, piece_length), concurrent_peer_count (1..1000, default 500) and
 * timeout (ns, default 60 min), stored with the keys sorted. 0 and *out, or DF_EINVAL.
 */
static int
mgr_job_task_args(const cJSON *args, cJSON **out, struct df_error *err)
{
    const char *tid, *url, *tag, *app, *fqp, *content;
    int64_t piece, npeer, timeout;
    char id[DF_ID_TASK_LEN + 1];
    bool has_piece;
    cJSON *o;

    if (args != NULL && !cJSON_IsNull(args) && !cJSON_IsObject(args))
        return df_error_set(err, DF_EINVAL, "args: expected an object");
    if (mgr_job_str(args, "task_id", DF_ID_TASK_LEN, &tid, err) != 0 ||
        mgr_job_str(args, "url", 8192, &url, err) != 0 ||
        mgr_job_str(args, "tag", 1024, &tag, err) != 0 ||
        mgr_job_str(args, "application", 1024, &app, err) != 0 ||
        mgr_job_str(args, "filtered_query_params", 8192, &fqp, err) != 0 ||
        mgr_job_str(args, "content_for_calculating_task_id", 65536, &content, err) != 0 ||
        mgr_job_int(args, "piece_length", MGR_JOB_PIECE_MIN, MGR_JOB_PIECE_MAX, 0, &piece,
                    &has_piece, err) != 0 ||
        mgr_job_int(args, "concurrent_peer_count", 0, 1000, 0, &npeer, NULL, err) != 0 ||
        mgr_job_int(args, "timeout", 0, MGR_JOB_TIMEOUT_MAX, 0, &timeout, NULL, err) != 0)
        return DF_EINVAL;
    if (*tid == '\0' && *content == '\0' && *url != '\0' &&
        mgr_job_url_check("url", url, false, err) != 0)
        return DF_EINVAL;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "application", app);
    cJSON_AddNumberToObject(o, "concurrent_peer_count",
                            (double)(npeer == 0 ? MGR_JOB_PEER_COUNT : npeer));
    cJSON_AddStringToObject(o, "content_for_calculating_task_id", content);
    cJSON_AddStringToObject(o, "filtered_query_params", fqp);
    mgr_job_add_opt(o, "piece_length", has_piece, piece);
    cJSON_AddStringToObject(o, "tag", tag);
    cJSON_AddStringToObject(o, "task_id", tid);
    cJSON_AddNumberToObject(o, "timeout",
                            (double)(timeout == 0 ? MGR_JOB_TIMEOUT_DEFAULT : timeout));
    cJSON_AddStringToObject(o, "url", url);
    /* the id the job will look for: its errors are the caller's, at creation */
    if (mgr_task_id_of(o, id, err) != 0) {
        cJSON_Delete(o);
        return DF_EINVAL;
    }
    *out = o;
    return 0;
}

const char *
mgr_job_group_state(const cJSON *job_states)
{
    const cJSON *e, *s;
    bool pending = !cJSON_IsArray(job_states) || cJSON_GetArraySize(job_states) == 0;

    cJSON_ArrayForEach(e, job_states)
    {
        s = cJSON_GetObjectItemCaseSensitive(e, "state");
        if (cJSON_IsString(s) && strcmp(s->valuestring, "FAILURE") == 0)
            return "FAILURE";
        if (!cJSON_IsString(s) || strcmp(s->valuestring, "SUCCESS") != 0)
            pending = true;
    }
    return pending ? "PENDING" : "SUCCESS";
}

/* ---- the row ---- */

/* A job row (MGR_JOB_COLS) as upstream's model. */
static cJSON *
mgr_job_json(struct mgr *ctx, sqlite3_stmt *st)
{
    cJSON *j = cJSON_CreateObject(), *ids, *scs;
    const cJSON *e;
    int rv;

    cJSON_AddNumberToObject(j, "id", (double)sqlite3_column_int64(st, 0));
    mgr_json_add_time(j, "created_at", sqlite3_column_int64(st, 1));
    mgr_json_add_time(j, "updated_at", sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(j, "is_del", 0);
    cJSON_AddStringToObject(j, "task_id", mgr_db_col_text(st, 3));
    cJSON_AddStringToObject(j, "bio", mgr_db_col_text(st, 4));
    cJSON_AddStringToObject(j, "type", mgr_db_col_text(st, 5));
    cJSON_AddStringToObject(j, "state", mgr_db_col_text(st, 6));
    cJSON_AddItemToObject(j, "args", cJSON_Parse(mgr_db_col_text(st, 7)));
    cJSON_AddItemToObject(j, "result", cJSON_Parse(mgr_db_col_text(st, 8)));
    cJSON_AddNumberToObject(j, "user_id", (double)sqlite3_column_int64(st, 9));
    cJSON_AddNullToObject(j, "seed_peer_clusters");
    ids = cJSON_Parse(mgr_db_col_text(st, 10));
    scs = cJSON_AddArrayToObject(j, "scheduler_clusters");
    cJSON_ArrayForEach(e, ids)
    {
        cJSON *sc = mgr_db_fetch(ctx, MGR_STMT_SC_GET, (int64_t)e->valuedouble, mgr_cluster_sc_row,
                                 &rv);

        /* a cluster deleted since: its id alone */
        if (sc == NULL) {
            sc = cJSON_CreateObject();
            cJSON_AddNumberToObject(sc, "id", e->valuedouble);
        }
        cJSON_AddItemToArray(scs, sc);
    }
    cJSON_Delete(ids);
    return j;
}

/* One job_states entry (upstream's machinery task) with results (taken; NULL: none). */
static cJSON *
mgr_job_state_new(const char *task, int64_t created_ms, const char *state, const char *error,
                  cJSON *results)
{
    cJSON *js = cJSON_CreateObject();

    cJSON_AddStringToObject(js, "task_uuid", task);
    cJSON_AddStringToObject(js, "task_name", "preheat");
    cJSON_AddStringToObject(js, "state", state);
    cJSON_AddStringToObject(js, "error", error != NULL ? error : "");
    mgr_json_add_time(js, "created_at", created_ms);
    cJSON_AddNumberToObject(js, "ttl", 0);
    cJSON_AddItemToObject(js, "results", results != NULL ? results : cJSON_CreateArray());
    return js;
}

/* The result document of a group with its job_states (taken); its state is theirs. */
static cJSON *
mgr_job_result_of(const char *group, int64_t created_ms, cJSON *states)
{
    cJSON *r = cJSON_CreateObject();

    cJSON_AddStringToObject(r, "group_uuid", group);
    mgr_json_add_time(r, "created_at", created_ms);
    mgr_json_add_time(r, "updated_at", df_time_wall_ms());
    cJSON_AddItemToObject(r, "job_states", states);
    cJSON_AddStringToObject(r, "state", mgr_job_group_state(states));
    return r;
}

/* The result document of a job in state with one job_states entry. */
static cJSON *
mgr_job_result(const char *group, const char *task, int64_t created_ms, const char *state,
               const char *error, cJSON *results)
{
    cJSON *states = cJSON_CreateArray();

    cJSON_AddItemToArray(states, mgr_job_state_new(task, created_ms, state, error, results));
    return mgr_job_result_of(group, created_ms, states);
}

/* Move row id from PENDING to state with result (taken). Returns 0 or a db error. */
static int
mgr_job_store(struct mgr *ctx, int64_t id, const char *state, cJSON *result)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_JOB_SET);
    char *text = cJSON_PrintUnformatted(result);
    int rv = DF_EIO;

    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, df_time_wall_ms());
        sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
        mgr_db_bind_text(st, 4, text);
        rv = mgr_db_run(ctx->db, st);
    }
    cJSON_free(text);
    cJSON_Delete(result);
    return rv;
}

/* ---- running jobs ---- */

static void
mgr_job_free(struct mgr_job *j)
{
    if (j == NULL)
        return;
    LIST_REMOVE(j, link);
    mgr_image_cancel(j->image);
    for (size_t i = 0; j->preheats != NULL && i < j->npreheats; i++)
        mgr_preheat_cancel(j->preheats[i]);
    free(j->preheats);
    for (size_t i = 0; j->ops != NULL && i < j->npreheats; i++)
        mgr_task_cancel(j->ops[i]);
    free(j->ops);
    cJSON_Delete(j->states);
    if (j->start_ev != NULL)
        event_free(j->start_ev);
    if (j->timeout_ev != NULL)
        event_free(j->timeout_ev);
    cJSON_Delete(j->args);
    cJSON_Delete(j->cluster_ids);
    mgr_job_secret_reset(&j->sec);
    free(j);
}

static struct mgr_job *
mgr_job_find(struct mgr *ctx, int64_t id)
{
    struct mgr_job *j;

    LIST_FOREACH (j, &ctx->jobs_live, link) {
        if (j->id == id)
            return j;
    }
    return NULL;
}

/* End job j with its job_states (taken): the group's state; frees j. */
static void
mgr_job_end(struct mgr_job *j, cJSON *states)
{
    struct mgr *ctx = j->ctx;
    char group[DF_ID_UUID_LEN + 8];
    const cJSON *e;
    const char *state;
    cJSON *result, *named;

    snprintf(group, sizeof(group), "group_%s", j->task_uuid + 5);
    cJSON_ArrayForEach(named, states)
    {
        cJSON_ReplaceItemInObjectCaseSensitive(named, "task_name", cJSON_CreateString(j->type));
    }
    result = mgr_job_result_of(group, j->created_ms, states);
    state = cJSON_GetObjectItemCaseSensitive(result, "state")->valuestring;
    if (strcmp(state, "SUCCESS") == 0) {
        ctx->jobs_succeeded++;
        log_info("manager: job %lld: SUCCESS", (long long)j->id);
    } else {
        ctx->jobs_failed++;
        cJSON_ArrayForEach(e, states)
        {
            const char *why = cJSON_GetObjectItemCaseSensitive(e, "error")->valuestring;

            if (*why != '\0')
                log_warnx("manager: job %lld: FAILURE: %s", (long long)j->id, why);
        }
    }
    if (mgr_job_store(ctx, j->id, strcmp(state, "PENDING") == 0 ? "FAILURE" : state, result) != 0)
        log_warnx("manager: job %lld: cannot store its end (%s)", (long long)j->id, state);
    mgr_job_free(j);
}

/* End job j in state (SUCCESS or FAILURE) with error and results (taken); frees j. */
static void
mgr_job_finish(struct mgr_job *j, const char *state, const char *error, cJSON *results)
{
    cJSON *states = cJSON_CreateArray();

    cJSON_AddItemToArray(states,
                         mgr_job_state_new(j->task_uuid, j->created_ms, state, error, results));
    mgr_job_end(j, states);
}

static void
mgr_job_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mgr_job *j = arg;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j->args, "timeout");
    char msg[128];

    (void)fd;
    (void)what;
    snprintf(msg, sizeof(msg), "timeout: the job did not end within %.0f s",
             cJSON_IsNumber(t) ? t->valuedouble / 1e9 : 0);
    mgr_job_finish(j, "FAILURE", msg, NULL);
}

/* A cluster's dispatch ended with result (taken), why "" for a success: its job_states
 * entry; the last one ends the job. */
static void
mgr_job_cluster_ended(struct mgr_job *j, cJSON *result, const char *why)
{
    cJSON *results = cJSON_CreateArray();

    j->nopen--;
    cJSON_AddItemToArray(results, result);
    cJSON_AddItemToArray(j->states,
                         mgr_job_state_new(j->task_uuid, j->created_ms,
                                           *why != '\0' ? "FAILURE" : "SUCCESS", why, results));
    if (!j->starting && j->nopen == 0) {
        cJSON *states = j->states;

        j->states = NULL;
        mgr_job_end(j, states);
    }
}

/* "<n> of <total> <what> failed, the first on <ip>: <description>" of a failure_tasks list
 * into buf, or "" when it is empty. */
static void
mgr_job_first_failure(const cJSON *fail, int total, const char *what, char *buf, size_t len)
{
    const cJSON *first = cJSON_GetArrayItem(fail, 0);

    buf[0] = '\0';
    if (first != NULL)
        snprintf(buf, len, "%d of %d %s failed, the first on %s: %s", cJSON_GetArraySize(fail),
                 total, what, cJSON_GetObjectItemCaseSensitive(first, "ip")->valuestring,
                 cJSON_GetObjectItemCaseSensitive(first, "description")->valuestring);
}

/* A dispatch ended: its job_states entry; the last one ends the job. */
static void
mgr_job_preheat_cb(void *arg, struct mgr_preheat *p, cJSON *result)
{
    struct mgr_job *j = arg;
    const cJSON *fail = cJSON_GetObjectItemCaseSensitive(result, "failure_tasks");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(result, "success_tasks");
    char error[700] = "";

    for (size_t i = 0; i < j->npreheats; i++) {
        if (j->preheats[i] == p)
            j->preheats[i] = NULL;
    }
    mgr_job_first_failure(fail, cJSON_GetArraySize(fail) + cJSON_GetArraySize(ok), "downloads",
                          error, sizeof(error));
    mgr_job_cluster_ended(j, result, error);
}

/* A cluster's dispatch did not start (rv): without a host to ask (DF_ENOTFOUND) it is
 * skipped, its reason added to missing; else it failed. */
static void
mgr_job_not_started(struct mgr_job *j, int rv, const char *why, char *missing, size_t len)
{
    size_t used = strlen(missing);

    j->nopen--;
    if (rv == DF_ENOTFOUND && used < len - 1)
        snprintf(missing + used, len - used, "%s%s", used > 0 ? "; " : "", why);
    else if (rv != DF_ENOTFOUND)
        cJSON_AddItemToArray(j->states,
                             mgr_job_state_new(j->task_uuid, j->created_ms, "FAILURE", why, NULL));
}

/* Every cluster's dispatch started: the job ends now if none is open (FAILURE "<none> not
 * found (missing)" when none could even start), else with the last one. */
static void
mgr_job_dispatched(struct mgr_job *j, const char *none, const char *missing)
{
    cJSON *states;
    char msg[800];

    j->starting = false;
    if (j->nopen > 0)
        return;
    if (cJSON_GetArraySize(j->states) == 0) {
        snprintf(msg, sizeof(msg), "%s not found (%s)", none, missing);
        mgr_job_finish(j, "FAILURE", msg, NULL);
        return;
    }
    states = j->states;
    j->states = NULL;
    mgr_job_end(j, states);
}

/*
 * Dispatch the URLs (an array of strings, taken) of job j to the seed peers of each of its
 * clusters (mgr_preheat.c), auth being the Authorization the manifest was read with. A
 * cluster with no active seed peer is skipped, as upstream skips a cluster without a
 * candidate scheduler; none at all ends the job FAILURE with each cluster's reason.
 */
static void
mgr_job_dispatch(struct mgr_job *j, cJSON *urls, const char *auth)
{
    size_t n = (size_t)cJSON_GetArraySize(j->cluster_ids), i = 0;
    char missing[700] = "";
    struct df_error err;
    const cJSON *id;
    int rv;

    j->states = cJSON_CreateArray();
    j->preheats = xcalloc(n + 1, sizeof(*j->preheats));
    j->npreheats = n;
    j->starting = true;
    cJSON_ArrayForEach(id, j->cluster_ids)
    {
        j->nopen++;
        rv = mgr_preheat_start(j->ctx, (int64_t)id->valuedouble, j->args, &j->sec, auth, urls,
                               mgr_job_preheat_cb, j, &j->preheats[i++], &err);
        if (rv != 0)
            mgr_job_not_started(j, rv, err.msg, missing, sizeof(missing));
    }
    cJSON_Delete(urls);
    mgr_job_dispatched(j, "candidate seed peers", missing);
}

/* A cluster's get_task or delete_task ended: its job_states entry; the last ends the job. */
static void
mgr_job_task_cb(void *arg, struct mgr_task_op *op, cJSON *result, const char *error)
{
    struct mgr_job *j = arg;
    const cJSON *fail = cJSON_GetObjectItemCaseSensitive(result, "failure_tasks");
    char why[800] = "";

    for (size_t i = 0; i < j->npreheats; i++) {
        if (j->ops[i] == op)
            j->ops[i] = NULL;
    }
    if (error != NULL)
        snprintf(why, sizeof(why), "%s", error);
    else
        mgr_job_first_failure(fail,
                              cJSON_GetArraySize(fail) +
                                      cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                                              result, "success_tasks")),
                              "deletions", why, sizeof(why));
    mgr_job_cluster_ended(j, result, why);
}

/* get_task or delete_task on every cluster of j (mgr_task.c); a cluster without an active
 * scheduler is skipped, none at all fails the job as upstream ("candidate schedulers"). */
static void
mgr_job_dispatch_task(struct mgr_job *j)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j->args, "timeout"), *id;
    const cJSON *npeer = cJSON_GetObjectItemCaseSensitive(j->args, "concurrent_peer_count");
    char task_id[DF_ID_TASK_LEN + 1], missing[700] = "";
    struct df_error err;
    size_t i = 0;
    int rv;

    if (mgr_task_id_of(j->args, task_id, &err) != 0) {
        mgr_job_finish(j, "FAILURE", err.msg, NULL);
        return;
    }
    j->states = cJSON_CreateArray();
    j->npreheats = (size_t)cJSON_GetArraySize(j->cluster_ids);
    j->ops = xcalloc(j->npreheats + 1, sizeof(*j->ops));
    j->starting = true;
    cJSON_ArrayForEach(id, j->cluster_ids)
    {
        j->nopen++;
        rv = mgr_task_start(
                j->ctx, (int64_t)id->valuedouble, strcmp(j->type, "delete_task") == 0, task_id,
                cJSON_IsNumber(npeer) && npeer->valuedouble >= 1 ? (size_t)npeer->valuedouble
                                                                 : MGR_JOB_PEER_COUNT,
                cJSON_IsNumber(t) && t->valuedouble / 1e6 < 2e9 ? (int)(t->valuedouble / 1e6)
                                                                : 3600 * 1000,
                mgr_job_task_cb, j, &j->ops[i++], &err);
        if (rv != 0)
            mgr_job_not_started(j, rv, err.msg, missing, sizeof(missing));
    }
    mgr_job_dispatched(j, "candidate schedulers", missing);
}

/* The image's blobs, or why not. */
static void
mgr_job_image_cb(void *arg, int rv, const char *why, cJSON *urls, const char *auth)
{
    struct mgr_job *j = arg;

    j->image = NULL;
    if (rv != 0) {
        mgr_job_finish(j, "FAILURE", why, NULL);
        return;
    }
    log_info("manager: job %lld: %s: %d blobs to preheat", (long long)j->id,
             cJSON_GetObjectItemCaseSensitive(j->args, "url")->valuestring,
             cJSON_GetArraySize(urls));
    mgr_job_dispatch(j, urls, auth);
}

static void
mgr_job_start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mgr_job *j = arg;
    const cJSON *urls = cJSON_GetObjectItemCaseSensitive(j->args, "urls");
    struct df_error err;

    (void)fd;
    (void)what;
    if (strcmp(j->type, "preheat") != 0) {
        mgr_job_dispatch_task(j);
        return;
    }
    if (cJSON_IsArray(urls)) {
        mgr_job_dispatch(j, cJSON_Duplicate(urls, true), NULL);
        return;
    }
    /* an image: its manifest names the blobs */
    if (mgr_image_resolve(j->ctx, cJSON_GetObjectItemCaseSensitive(j->args, "url")->valuestring,
                          cJSON_GetObjectItemCaseSensitive(j->args, "platform")->valuestring,
                          &j->sec, mgr_job_image_cb, j, &j->image, &err) != 0)
        mgr_job_finish(j, "FAILURE", err.msg, NULL);
}

/* Start running row id (its args and clusters taken). */
static void
mgr_job_run(struct mgr *ctx, int64_t id, int64_t created_ms, const char *type, const char *task_id,
            cJSON *args, cJSON *cluster_ids, struct mgr_job_secret *sec)
{
    struct mgr_job *j = xcalloc(1, sizeof(*j));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(args, "timeout");
    int64_t ms = (int64_t)(t->valuedouble / 1e6);
    struct timeval zero = {0, 0}, tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

    j->ctx = ctx;
    j->id = id;
    j->type = type;
    j->created_ms = created_ms;
    snprintf(j->task_uuid, sizeof(j->task_uuid), "task_%s", task_id + 6);
    j->args = args;
    j->cluster_ids = cluster_ids;
    j->sec = *sec;
    memset(sec, 0, sizeof(*sec));
    LIST_INSERT_HEAD(&ctx->jobs_live, j, link);
    j->start_ev = evtimer_new(ctx->base, mgr_job_start_cb, j);
    j->timeout_ev = evtimer_new(ctx->base, mgr_job_timeout_cb, j);
    evtimer_add(j->start_ev, &zero);
    evtimer_add(j->timeout_ev, &tv);
}

/* ---- creation ---- */

/* The bucket of cluster id, set to rate per second (re-read each time: PATCH changes it). */
static struct net_ratelim *
mgr_job_bucket(struct mgr *ctx, int64_t id, int64_t rate)
{
    struct mgr_job_limit *s = NULL;
    uint64_t now = df_time_mono_ns();
    size_t i;

    if (ctx->job_limits == NULL)
        ctx->job_limits = xcalloc(1, sizeof(*ctx->job_limits));
    for (i = 0; i < MGR_JOB_LIMIT_SLOTS; i++) {
        s = &ctx->job_limits->slot[i];
        if (s->cluster_id == id || s->cluster_id == 0)
            break;
    }
    if (s->cluster_id != id) {
        s->cluster_id = id;
        net_ratelim_init(&s->rl, (uint64_t)rate, (uint64_t)rate, now);
    } else {
        net_ratelim_set(&s->rl, (uint64_t)rate, (uint64_t)rate, now);
    }
    return &s->rl;
}

/* The job_rate_limit of a scheduler cluster's config text (upstream's default 10). */
static int64_t
mgr_job_rate_of(const char *config)
{
    cJSON *c = cJSON_Parse(config);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "job_rate_limit");
    int64_t rate = cJSON_IsNumber(v) && v->valuedouble >= 1 ? (int64_t)v->valuedouble : 10;

    cJSON_Delete(c);
    return rate;
}

/*
 * The clusters of a job: the ids given (each must exist: 404 as upstream words it), or every
 * scheduler cluster. Checks each given cluster's creation bucket. Returns 0 and *out, or
 * replies and returns the error.
 */
static int
mgr_job_clusters(struct mgr *ctx, struct net_http_req *req, const cJSON *ids, cJSON **out)
{
    sqlite3_stmt *st;
    const cJSON *e;
    cJSON *list = cJSON_CreateArray();
    char msg[128];
    int rv = 0;

    if (ids != NULL && !cJSON_IsNull(ids) && !cJSON_IsArray(ids)) {
        mgr_reply_errors(req, "scheduler_cluster_ids: expected an array of ids");
        rv = DF_EINVAL;
    }
    cJSON_ArrayForEach(e, ids)
    {
        if (rv != 0)
            break;
        if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 9e15 ||
            e->valuedouble != (double)(int64_t)e->valuedouble) {
            mgr_reply_errors(req, "scheduler_cluster_ids: expected an array of ids");
            rv = DF_EINVAL;
            break;
        }
        if ((st = mgr_db_stmt(ctx->db, MGR_STMT_SC_GET)) == NULL) {
            mgr_reply_db_error(req, rv = DF_EIO);
            break;
        }
        sqlite3_bind_int64(st, 1, (int64_t)e->valuedouble);
        if ((rv = mgr_db_step(ctx->db, st)) != STORE_SQL_ROW) {
            sqlite3_reset(st);
            snprintf(msg, sizeof(msg), "scheduler cluster id %lld: record not found",
                     (long long)e->valuedouble);
            if (rv == STORE_SQL_DONE)
                mgr_reply_message(req, 404, msg);
            else
                mgr_reply_db_error(req, rv);
            rv = rv == STORE_SQL_DONE ? DF_ENOTFOUND : rv;
            break;
        }
        rv = 0;
        if (!net_ratelim_try(mgr_job_bucket(ctx, (int64_t)e->valuedouble,
                                            mgr_job_rate_of(mgr_db_col_text(st, 5))),
                             1, df_time_mono_ns())) {
            sqlite3_reset(st);
            ctx->jobs_limited++;
            net_route_reply_text(req, 429, "rate limit exceeded");
            rv = DF_EAGAIN;
            break;
        }
        sqlite3_reset(st);
        cJSON_AddItemToArray(list, cJSON_CreateNumber(e->valuedouble));
    }
    if (rv == 0 && cJSON_GetArraySize(list) == 0) {
        /* none named: every scheduler cluster (upstream: those with a candidate) */
        if ((st = mgr_db_stmt(ctx->db, MGR_STMT_SC_LIST)) == NULL) {
            mgr_reply_db_error(req, rv = DF_EIO);
        } else {
            sqlite3_bind_null(st, 1);
            sqlite3_bind_int64(st, 2, 10000);
            sqlite3_bind_int64(st, 3, 0);
            while ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
                cJSON_AddItemToArray(list, cJSON_CreateNumber((double)sqlite3_column_int64(st, 0)));
            sqlite3_reset(st);
            if (rv < 0)
                mgr_reply_db_error(req, rv);
            else
                rv = 0;
        }
    }
    if (rv != 0) {
        cJSON_Delete(list);
        return rv;
    }
    *out = list;
    return 0;
}

static int
mgr_job_count_live(const struct mgr *ctx)
{
    const struct mgr_job *j;
    int n = 0;

    LIST_FOREACH (j, &ctx->jobs_live, link) {
        n++;
    }
    return n;
}

/* Create a job of type (a static string): check, store, run. As mgr_job_create_preheat. */
static int
mgr_job_create_typed(struct mgr *ctx, struct net_http_req *req, const cJSON *body, const char *type,
                     int64_t *id)
{
    struct mgr_job_secret sec;
    struct df_error err;
    char uuid[DF_ID_UUID_LEN + 1], task_id[DF_ID_UUID_LEN + 8], *args_text, *ids_text;
    const char *bio;
    cJSON *args, *ids = NULL, *result;
    sqlite3_stmt *st;
    int64_t user_id = 0, now = df_time_wall_ms();
    int rv;

    if (mgr_json_str(body, "bio", 0, 1024, false, &bio, &err) != 0 ||
        df_json_get_i64(body, "user_id", &user_id, &err) == DF_EINVAL) {
        mgr_reply_errors(req, err.msg);
        return DF_EINVAL;
    }
    memset(&sec, 0, sizeof(sec));
    if ((strcmp(type, "preheat") == 0
                 ? mgr_job_preheat_args(cJSON_GetObjectItemCaseSensitive(body, "args"), &args, &sec,
                                        &err)
                 : mgr_job_task_args(cJSON_GetObjectItemCaseSensitive(body, "args"), &args,
                                     &err)) != 0) {
        mgr_reply_errors(req, err.msg);
        return DF_EINVAL;
    }
    if (mgr_job_count_live(ctx) >= ctx->cfg.job_max_live) {
        ctx->jobs_limited++;
        net_route_reply_text(req, 429, "rate limit exceeded");
        rv = DF_EAGAIN;
        goto fail;
    }
    if ((rv = mgr_job_clusters(ctx, req,
                               cJSON_GetObjectItemCaseSensitive(body, "scheduler_cluster_ids"),
                               &ids)) != 0)
        goto fail;
    if ((rv = df_id_uuid4(uuid)) != 0 || (st = mgr_db_stmt(ctx->db, MGR_STMT_JOB_INSERT)) == NULL) {
        mgr_reply_db_error(req, rv = DF_EIO);
        goto fail;
    }
    snprintf(task_id, sizeof(task_id), "group_%s", uuid);
    args_text = cJSON_PrintUnformatted(args);
    ids_text = cJSON_PrintUnformatted(ids);
    result = cJSON_CreateObject();
    sqlite3_bind_int64(st, 1, now);
    mgr_db_bind_text(st, 2, task_id);
    mgr_db_bind_text(st, 3, bio != NULL ? bio : "");
    sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
    mgr_db_bind_text(st, 5, args_text);
    sqlite3_bind_text(st, 6, "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, user_id);
    mgr_db_bind_text(st, 8, ids_text);
    *id = 0;
    if ((rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    cJSON_free(args_text);
    cJSON_free(ids_text);
    cJSON_Delete(result);
    if (*id == 0) {
        mgr_reply_db_error(req, rv = rv < 0 ? rv : DF_EIO);
        goto fail;
    }
    ctx->jobs_created++;
    log_info("manager: job %lld: %s %s created", (long long)*id, type,
             strcmp(type, "preheat") == 0
                     ? cJSON_GetObjectItemCaseSensitive(args, "type")->valuestring
                     : "");
    mgr_job_run(ctx, *id, now, type, task_id, args, ids, &sec);
    return 0;
fail:
    cJSON_Delete(args);
    cJSON_Delete(ids);
    mgr_job_secret_reset(&sec);
    return rv;
}

int
mgr_job_create_preheat(struct mgr *ctx, struct net_http_req *req, const cJSON *body, int64_t *id)
{
    return mgr_job_create_typed(ctx, req, body, "preheat", id);
}

/* ---- handlers ---- */

void
mgr_job_reply_row(struct mgr *ctx, struct net_http_req *req, int64_t id)
{
    mgr_reply_row(ctx, req, MGR_STMT_JOB_GET, id, mgr_job_json);
}

void
mgr_job_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    const char *type;
    struct df_error err;
    cJSON *body;
    int64_t id;

    (void)m;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_gc_is_job(body)) {
        mgr_gc_job_create(ctx, req, body, who); /* mgr_gc.c: runs now, answers the final row */
        cJSON_Delete(body);
        return;
    }
    if (mgr_json_str(body, "type", 1, 64, true, &type, &err) != 0) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if (strcmp(type, "sync_peers") == 0) {
        cJSON *ids = NULL;

        /* synchronous as upstream: 200 "OK" once the schedulers answered, no job row */
        if (mgr_job_clusters(ctx, req,
                             cJSON_GetObjectItemCaseSensitive(body, "scheduler_cluster_ids"),
                             &ids) == 0)
            mgr_task_sync_peers(ctx, req, ids);
        cJSON_Delete(ids);
        cJSON_Delete(body);
        return;
    }
    if (strcmp(type, "get_task") == 0 || strcmp(type, "delete_task") == 0) {
        if (cJSON_GetObjectItemCaseSensitive(body, "user_id") == NULL && who->user_id > 0)
            cJSON_AddNumberToObject(body, "user_id", (double)who->user_id);
        if (mgr_job_create_typed(ctx, req, body,
                                 strcmp(type, "get_task") == 0 ? "get_task" : "delete_task",
                                 &id) == 0)
            mgr_job_reply_row(ctx, req, id);
        cJSON_Delete(body);
        return;
    }
    if (strcmp(type, "get_image_distribution") == 0) {
        cJSON *ids = NULL;

        /* synchronous as upstream: the result itself once the schedulers answered */
        if (mgr_job_clusters(ctx, req,
                             cJSON_GetObjectItemCaseSensitive(body, "scheduler_cluster_ids"),
                             &ids) == 0)
            mgr_imgdist_start(ctx, req, cJSON_GetObjectItemCaseSensitive(body, "args"), ids);
        cJSON_Delete(ids);
        cJSON_Delete(body);
        return;
    }
    if (strcmp(type, "preheat") != 0) {
        /* upstream's words (sic) for a type it does not know */
        mgr_reply_errors(req, "Unknow type");
        cJSON_Delete(body);
        return;
    }
    /* the caller's user unless the body names one, as the console sends it */
    if (cJSON_GetObjectItemCaseSensitive(body, "user_id") == NULL && who->user_id > 0)
        cJSON_AddNumberToObject(body, "user_id", (double)who->user_id);
    if (mgr_job_create_preheat(ctx, req, body, &id) == 0)
        mgr_job_reply_row(ctx, req, id);
    cJSON_Delete(body);
}

void
mgr_job_list(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
             const struct mgr_caller *who)
{
    static const char *const filters[] = {"type", "state", "user_id"};

    (void)m;
    (void)who;
    mgr_reply_rows(ctx, req, MGR_STMT_JOB_COUNT, MGR_STMT_JOB_LIST, filters, DF_NELEM(filters),
                   mgr_job_json);
}

void
mgr_job_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
            const struct mgr_caller *who)
{
    int64_t id;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) != 0)
        mgr_job_reply_row(ctx, req, id);
}

void
mgr_job_patch(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
              const struct mgr_caller *who)
{
    struct df_error err;
    const char *bio;
    sqlite3_stmt *st;
    int64_t id, user_id = 0;
    cJSON *body;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0 || (body = mgr_body_object(req)) == NULL)
        return;
    if (mgr_json_str(body, "bio", 0, 1024, false, &bio, &err) != 0 ||
        df_json_get_i64(body, "user_id", &user_id, &err) == DF_EINVAL) {
        cJSON_Delete(body);
        mgr_reply_errors(req, err.msg);
        return;
    }
    if ((st = mgr_db_stmt(ctx->db, MGR_STMT_JOB_PATCH)) == NULL) {
        rv = DF_EIO;
    } else {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, df_time_wall_ms());
        mgr_db_bind_text(st, 3, bio);
        if (user_id > 0)
            sqlite3_bind_int64(st, 4, user_id);
        if ((rv = mgr_db_run(ctx->db, st)) == 0 && store_sql_changes(ctx->db) == 0)
            rv = DF_ENOTFOUND;
    }
    cJSON_Delete(body);
    if (rv != 0)
        mgr_reply_db_error(req, rv);
    else
        mgr_job_reply_row(ctx, req, id);
}

void
mgr_job_delete(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    int64_t id;

    (void)who;
    /* a running job is cancelled with its row: no one would see its end */
    if ((id = mgr_reply_delete(ctx, req, m, MGR_STMT_JOB_DELETE)) != 0)
        mgr_job_free(mgr_job_find(ctx, id));
}

int
mgr_job_state(struct mgr *ctx, int64_t id, char state[16], char **errors, int64_t *created_ms,
              int64_t *updated_ms)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_JOB_GET);
    cJSON *result;
    const cJSON *e, *msg;
    size_t len = 0;
    int rv;

    *errors = NULL;
    if (st == NULL)
        return DF_EIO;
    sqlite3_bind_int64(st, 1, id);
    if ((rv = mgr_db_step(ctx->db, st)) != STORE_SQL_ROW) {
        sqlite3_reset(st);
        return rv == STORE_SQL_DONE ? DF_ENOTFOUND : rv;
    }
    *created_ms = sqlite3_column_int64(st, 1);
    *updated_ms = sqlite3_column_int64(st, 2);
    snprintf(state, 16, "%s", mgr_db_col_text(st, 6));
    result = cJSON_Parse(mgr_db_col_text(st, 8));
    sqlite3_reset(st);
    *errors = xcalloc(1, MGR_JOB_ERR_MAX);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(result, "job_states"))
    {
        msg = cJSON_GetObjectItemCaseSensitive(e, "error");
        if (cJSON_IsString(msg) && msg->valuestring[0] != '\0' && len < MGR_JOB_ERR_MAX - 1)
            len += (size_t)snprintf(*errors + len, MGR_JOB_ERR_MAX - len, "%s%s",
                                    len > 0 ? "; " : "", msg->valuestring);
    }
    cJSON_Delete(result);
    return 0;
}

/* ---- start and stop ---- */

int
mgr_job_init(struct mgr *ctx, struct df_error *err)
{
    sqlite3_stmt *st = mgr_db_stmt(ctx->db, MGR_STMT_JOB_PENDING);

    struct {
        int64_t id, created_ms;
        char group[DF_ID_UUID_LEN + 8];
    } rows[64];
    struct net_tls_opts topts;
    char task[DF_ID_UUID_LEN + 8];
    size_t n;
    int rv;

    if (st == NULL)
        return df_error_set(err, DF_EIO, "manager: cannot read the jobs");
    /* what the registry requests of image preheats go through */
    memset(&topts, 0, sizeof(topts));
    topts.ca_file = ctx->cfg.job_ca;
    if ((rv = net_tls_ctx_new(false, &topts, &ctx->tls, err)) != 0)
        return rv;
    if ((ctx->dns = net_dns_new(ctx->base)) == NULL)
        return df_error_set(err, DF_ENOMEM, "manager: cannot create a resolver");
    ctx->fetch_pool = net_fetch_pool_new();
    /* a job names the URLs the manager fetches: the outbound policy against SSRF applies */
    if ((rv = net_addrpolicy_new((const char *const *)ctx->cfg.job_allow.v, ctx->cfg.job_allow.n,
                                 (const char *const *)ctx->cfg.job_deny.v, ctx->cfg.job_deny.n,
                                 &ctx->job_policy, err)) != 0)
        return rv;
    /* a previous process died with these running: their secrets died with it */
    do {
        n = 0;
        while (n < DF_NELEM(rows) && (rv = mgr_db_step(ctx->db, st)) == STORE_SQL_ROW) {
            rows[n].id = sqlite3_column_int64(st, 0);
            snprintf(rows[n].group, sizeof(rows[n].group), "%s", mgr_db_col_text(st, 1));
            rows[n++].created_ms = sqlite3_column_int64(st, 2);
        }
        sqlite3_reset(st);
        for (size_t i = 0; i < n; i++) {
            snprintf(task, sizeof(task), "task_%s",
                     strlen(rows[i].group) > 6 ? rows[i].group + 6 : "");
            if ((rv = mgr_job_store(ctx, rows[i].id, "FAILURE",
                                    mgr_job_result(rows[i].group, task, rows[i].created_ms,
                                                   "FAILURE",
                                                   "the manager restarted while the job ran; "
                                                   "create it again",
                                                   NULL))) != 0)
                return df_error_set(err, rv, "manager: cannot end job %lld", (long long)rows[i].id);
            log_warnx("manager: job %lld: FAILURE: the manager restarted while it ran",
                      (long long)rows[i].id);
        }
    } while (n == DF_NELEM(rows));
    return 0;
}

void
mgr_job_reset(struct mgr *ctx)
{
    mgr_task_reset(ctx);
    mgr_imgdist_reset(ctx);
    while (!LIST_EMPTY(&ctx->jobs_live))
        mgr_job_free(LIST_FIRST(&ctx->jobs_live));
    free(ctx->job_limits);
    ctx->job_limits = NULL;
    net_fetch_pool_free(ctx->fetch_pool);
    ctx->fetch_pool = NULL;
    net_dns_free(ctx->dns);
    ctx->dns = NULL;
    net_tls_ctx_free(ctx->tls);
    ctx->tls = NULL;
    net_addrpolicy_free(ctx->job_policy);
    ctx->job_policy = NULL;
}
