/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The preheat API of Harbor <= 2.11 (its "Dragonfly" provider speaks Dragonfly 1's API):
 * GET /_ping, POST /preheats, GET /preheats/:id. Upstream removed these routes in v2.4.1,
 * leaving those Harbors with nothing to talk to; we keep them, on the same jobs as
 * /oapi/v1/jobs (Harbor >= 2.12). Upstream served them without any authentication
 * (TOB-DF2-1): here they need a personal access token with scope job, which Harbor sends in
 * its OAUTH auth mode, unless harbor.openLegacyRoutes opens them for a Harbor whose instance
 * has auth mode NONE (the route table marks them "legacy").
 *
 * GET /_ping is /healthy's handler (mgr_api.c). What Harbor reads (clients.md A.4): the create
 * answer's "ID" as a string (Go matches JSON keys case-insensitively), and the status answer's
 * "status" among WAITING, RUNNING, SUCCESS and FAIL; "errorMsg" is shown in its job log. Times are
 * Go's time.String(), which Harbor does not parse.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df/df_json.h"
#include "df/net_http_server.h"
#include "df/xmalloc.h"

/* ms since the epoch as Go's time.String() in UTC: "2006-01-02 15:04:05.123 +0000 UTC". */
static void
mgr_harbor_time(int64_t ms, char *out, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char frac[8] = "";
    size_t n;

    gmtime_r(&secs, &tm);
    if (ms % 1000 != 0) {
        snprintf(frac, sizeof(frac), ".%03d", (int)(ms % 1000));
        /* Go's .999999999 drops trailing zeros */
        for (n = strlen(frac); frac[n - 1] == '0'; n--)
            frac[n - 1] = '\0';
    }
    snprintf(out, len, "%04d-%02d-%02d %02d:%02d:%02d%s +0000 UTC", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void
mgr_harbor_create(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                  const struct mgr_caller *who)
{
    const cJSON *v;
    cJSON *body, *job, *args;
    char id_text[32];
    int64_t id;

    (void)m;
    (void)who;
    if ((body = mgr_body_object(req)) == NULL)
        return;
    /* Dragonfly 1's binding: type (image|file) and url required, filteredQueryParams and
     * headers; image, tag and digest are Harbor's own and ignored */
    job = cJSON_CreateObject();
    args = cJSON_AddObjectToObject(job, "args");
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "type")) != NULL)
        cJSON_AddItemToObject(args, "type", cJSON_Duplicate(v, true));
    v = cJSON_GetObjectItemCaseSensitive(body, "url");
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        mgr_reply_errors(req, "url: required");
        goto out;
    }
    cJSON_AddItemToObject(args, "url", cJSON_Duplicate(v, true));
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "filteredQueryParams")) != NULL)
        cJSON_AddItemToObject(args, "filtered_query_params", cJSON_Duplicate(v, true));
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "headers")) != NULL)
        cJSON_AddItemToObject(args, "headers", cJSON_Duplicate(v, true));
    if (mgr_job_create_preheat(ctx, req, job, &id) != 0)
        goto out;
    cJSON_Delete(job);
    job = cJSON_CreateObject();
    snprintf(id_text, sizeof(id_text), "%lld", (long long)id);
    cJSON_AddStringToObject(job, "id", id_text);
    mgr_reply_doc(req, 200, job);
    job = NULL;
out:
    cJSON_Delete(job);
    cJSON_Delete(body);
}

void
mgr_harbor_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
               const struct mgr_caller *who)
{
    char state[16], t[64], *errors = NULL;
    int64_t id, created, updated;
    const char *status;
    cJSON *doc;
    int rv;

    (void)who;
    if ((id = mgr_param_id(req, m, "id")) == 0)
        return;
    if ((rv = mgr_job_state(ctx, id, state, &errors, &created, &updated)) != 0) {
        mgr_reply_db_error(req, rv);
        return;
    }
    /* our PENDING job is running from its creation on: Dragonfly 1's RUNNING */
    status = strcmp(state, "SUCCESS") == 0   ? "SUCCESS"
             : strcmp(state, "FAILURE") == 0 ? "FAIL"
                                             : "RUNNING";
    doc = cJSON_CreateObject();
    snprintf(t, sizeof(t), "%lld", (long long)id);
    cJSON_AddStringToObject(doc, "id", t);
    cJSON_AddStringToObject(doc, "status", status);
    mgr_harbor_time(created, t, sizeof(t));
    cJSON_AddStringToObject(doc, "startTime", t);
    if (strcmp(status, "RUNNING") != 0)
        mgr_harbor_time(updated, t, sizeof(t));
    cJSON_AddStringToObject(doc, "finishTime", strcmp(status, "RUNNING") != 0 ? t : "");
    cJSON_AddStringToObject(doc, "errorMsg", errors);
    free(errors);
    mgr_reply_doc(req, 200, doc);
}
