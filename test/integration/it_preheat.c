/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's jobs and Harbor's two preheat contracts, against a real manager on
 * 127.0.2.1 (127.0.2.0/24 is this suite's): the REST job API with its access rules, bounds,
 * pagination and rate limit; the request sequences Harbor >= 2.12 (/healthy, /oapi/v1/jobs)
 * and Harbor <= 2.11 (/_ping, /preheats) send, bodies byte for byte as clients.md has them,
 * checking every field Harbor reads; a registry password never in any answer nor in the
 * database file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <check.h>

#include "df/df_time.h"
#include "harness/harness.h"

#define PH_IP "127.0.2.1"

struct ph {
    char *dir;
    struct it_proc mgr;
    char addr[64];
    char root[4200]; /* "Bearer <jwt>" of root */
    char link[2048]; /* Link header of the last answer */
};

static struct ph P;

/*
 * One request: method, path, an Authorization value (NULL: none) and a JSON body (NULL:
 * none). Returns the status; the body in *out when out is given (free it).
 */
static int
ph_http(const char *method, const char *path, const char *auth, const char *json, char **out)
{
    char file[700], *text = NULL, *nl;
    FILE *f;
    int status;

    snprintf(file, sizeof(file), "%s/body.json", P.dir);
    if (json != NULL) {
        f = fopen(file, "w");
        ck_assert_ptr_nonnull(f);
        fputs(json, f);
        fclose(f);
    }
    /* the Link header on a line of its own, then the body, then the status */
    ck_assert_int_eq(it_shf(&text, 30,
                            "curl -s -g -X %s %s%s%s %s%s -D %s/h -o %s/o -w '%%{http_code}' "
                            "'http://%s%s' && echo && (grep -i '^Link:' %s/h || echo) && cat %s/o",
                            method, auth != NULL ? "-H 'Authorization: " : "",
                            auth != NULL ? auth : "", auth != NULL ? "'" : "",
                            json != NULL ? "-H 'Content-Type: application/json' "
                                           "-H 'Accept: application/json' --data-binary @"
                                         : "",
                            json != NULL ? file : "", P.dir, P.dir, P.addr, path, P.dir, P.dir),
                     0);
    status = atoi(text);
    nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    P.link[0] = '\0';
    if (strncasecmp(nl + 1, "Link: ", 6) == 0)
        snprintf(P.link, sizeof(P.link), "%.*s", (int)strcspn(nl + 7, "\r\n"), nl + 7);
    nl = strchr(nl + 1, '\n');
    if (out != NULL)
        *out = strdup(nl != NULL ? nl + 1 : "");
    free(text);
    return status;
}

/* ph_http, expecting status want; returns the body parsed (NULL when not JSON). */
static cJSON *
ph_want(const char *method, const char *path, const char *auth, const char *json, int want)
{
    char *out = NULL;
    int status = ph_http(method, path, auth, json, &out);
    cJSON *doc;

    ck_assert_msg(status == want, "%s %s: %d %s, want %d", method, path, status, out, want);
    doc = cJSON_Parse(out);
    free(out);
    return doc;
}

/* ph_http, expecting status want and exactly the body text want_body. */
static void
ph_want_text(const char *method, const char *path, const char *auth, const char *json, int want,
             const char *want_body)
{
    char *out = NULL;
    int status = ph_http(method, path, auth, json, &out);

    ck_assert_msg(status == want && strcmp(out, want_body) == 0, "%s %s: %d %s, want %d %s", method,
                  path, status, out, want, want_body);
    free(out);
}

static int
ph_start(const char *flag)
{
    char dd[600];

    snprintf(dd, sizeof(dd), "%s/data", P.dir);
    memset(&P.mgr, 0, sizeof(P.mgr));
    if (it_df_start(&P.mgr, P.dir, "manager", "manager", "--listen", PH_IP ":0", "--data-dir", dd,
                    "--auth-password-iterations", "1000", flag, NULL) != 0)
        return -1;
    snprintf(P.addr, sizeof(P.addr), "%s", it_proc_ready_str(&P.mgr, "rest"));
    return 0;
}

static void
ph_restart(const char *flag)
{
    ck_assert_int_eq(it_proc_stop(&P.mgr), 0);
    cJSON_Delete(P.mgr.ready);
    P.mgr.ready = NULL;
    ck_assert_int_eq(ph_start(flag), 0);
}

/* Sign in as name: "Bearer <jwt>" into out. */
static void
ph_signin(const char *name, const char *password, char *out, size_t len)
{
    char body[256];
    cJSON *doc;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"%s\"}", name, password);
    doc = ph_want("POST", "/api/v1/users/signin", NULL, body, 200);
    snprintf(out, len, "Bearer %s", cJSON_GetObjectItemCaseSensitive(doc, "token")->valuestring);
    cJSON_Delete(doc);
}

/* A personal access token of root with scopes (a JSON array): "Bearer <token>" into out. */
static void
ph_pat(const char *scopes, char *out, size_t len)
{
    char body[256];
    cJSON *doc;

    snprintf(body, sizeof(body),
             "{\"name\":\"harbor\",\"scopes\":%s,\"expired_at\":\"2099-01-01T00:00:00Z\","
             "\"user_id\":1}",
             scopes);
    doc = ph_want("POST", "/api/v1/personal-access-tokens", P.root, body, 200);
    snprintf(out, len, "Bearer %s", cJSON_GetObjectItemCaseSensitive(doc, "token")->valuestring);
    cJSON_Delete(doc);
}

static void
ph_setup(void)
{
    memset(&P, 0, sizeof(P));
    P.dir = it_tmpdir();
    ck_assert_int_eq(ph_start(NULL), 0);
    ph_signin("root", "dragonfly", P.root, sizeof(P.root));
}

static void
ph_teardown(void)
{
    if (P.mgr.pid > 0)
        it_proc_kill(&P.mgr);
    cJSON_Delete(P.mgr.ready);
    it_rmtree(P.dir);
    free(P.dir);
}

static const char *
ph_str(const cJSON *doc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

    ck_assert_msg(cJSON_IsString(v), "%s: not a string", key);
    return v->valuestring;
}

/* Poll job path (GET with auth) until its state is not PENDING, for up to 20 s. */
static cJSON *
ph_wait_final(const char *path, const char *auth)
{
    cJSON *doc = NULL;

    for (int i = 0; i < 200; i++) {
        cJSON_Delete(doc);
        doc = ph_want("GET", path, auth, NULL, 200);
        if (strcmp(ph_str(doc, "state"), "PENDING") != 0)
            return doc;
        it_sleep_ms(100);
    }
    ck_abort_msg("%s still PENDING after 20 s", path);
    return NULL;
}

/* True when the manager's database files hold the bytes of s. */
static bool
ph_db_has(const char *s)
{
    char *out = NULL;
    bool has;

    ck_assert_int_eq(
            it_shf(&out, 10, "cat %s/data/manager.db* | grep -c -a -F '%s' || true", P.dir, s), 0);
    has = atoi(out) > 0;
    free(out);
    return has;
}

START_TEST(test_jobs_rest)
{
    char guest[4200], path[64], *out = NULL;
    cJSON *job, *args, *list;
    int id;

    ph_want("POST", "/api/v1/users/signup", NULL,
            "{\"name\":\"gail\",\"password\":\"gailpass1\",\"email\":\"g@example.com\"}", 200);
    ph_signin("gail", "gailpass1", guest, sizeof(guest));
    /* nobody but a writer creates jobs: the hole upstream had twice */
    ph_want_text("POST", "/api/v1/jobs", NULL, "{\"type\":\"preheat\"}", 401,
                 "{\"message\":\"Unauthorized\"}");
    ph_want_text("POST", "/api/v1/jobs", guest,
                 "{\"type\":\"preheat\",\"args\":{\"type\":\"file\",\"url\":\"http://o/a\"}}", 401,
                 "{\"message\":\"permission deny\"}");
    /* a file preheat with a registry password: created PENDING, the password nowhere */
    job = ph_want("POST", "/api/v1/jobs", P.root,
                  "{\"type\":\"preheat\",\"bio\":\"b1\",\"scheduler_cluster_ids\":[1],\"args\":{"
                  "\"type\":\"file\",\"urls\":[\"http://127.0.2.9:1/a\"],\"username\":\"u\","
                  "\"password\":\"Pw-0f-the-registry\",\"headers\":{\"Authorization\":"
                  "\"Basic c2VjcmV0LWhlYWRlcg==\"}}}",
                  200);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(job, "id")));
    id = cJSON_GetObjectItemCaseSensitive(job, "id")->valueint;
    ck_assert_str_eq(ph_str(job, "state"), "PENDING");
    ck_assert_str_eq(ph_str(job, "type"), "preheat");
    ck_assert_str_eq(ph_str(job, "bio"), "b1");
    ck_assert(strncmp(ph_str(job, "task_id"), "group_", 6) == 0);
    args = cJSON_GetObjectItemCaseSensitive(job, "args");
    ck_assert_str_eq(ph_str(args, "password"), "");
    ck_assert_str_eq(ph_str(args, "scope"), "single_seed_peer");
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(args, "timeout")->valuedouble, 3.6e12);
    ck_assert_str_eq(ph_str(cJSON_GetObjectItemCaseSensitive(args, "headers"), "Authorization"),
                     "<redacted>");
    ck_assert_int_eq(
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(job, "scheduler_clusters")), 1);
    cJSON_Delete(job);
    snprintf(path, sizeof(path), "/api/v1/jobs/%d", id);
    job = ph_wait_final(path, P.root);
    out = cJSON_PrintUnformatted(job);
    ck_assert_ptr_null(strstr(out, "Pw-0f-the-registry"));
    ck_assert_ptr_null(strstr(out, "c2VjcmV0LWhlYWRlcg"));
    free(out);
    cJSON_Delete(job);
    ck_assert(!ph_db_has("Pw-0f-the-registry"));
    ck_assert(!ph_db_has("c2VjcmV0LWhlYWRlcg"));
    /* a guest reads jobs (upstream's RBAC) */
    list = ph_want("GET", "/api/v1/jobs?per_page=1", guest, NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    ck_assert_str_eq(P.link, "</api/v1/jobs?page=1&per_page=1>;rel=prev,</api/v1/jobs?page=1&"
                             "per_page=1>;rel=next,</api/v1/jobs?page=1&per_page=1>;rel=first,"
                             "</api/v1/jobs?page=1&per_page=1>;rel=last");
    list = ph_want("GET", "/api/v1/jobs?state=PENDING&type=preheat", P.root, NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    /* PATCH bio and user_id, then DELETE */
    job = ph_want("PATCH", path, P.root, "{\"bio\":\"x'); DROP TABLE jobs;--\"}", 200);
    ck_assert_str_eq(ph_str(job, "bio"), "x'); DROP TABLE jobs;--");
    cJSON_Delete(job);
    ph_want_text("PATCH", path, guest, "{\"bio\":\"g\"}", 401, "{\"message\":\"permission deny\"}");
    ph_want_text("DELETE", path, guest, NULL, 401, "{\"message\":\"permission deny\"}");
    ph_want_text("DELETE", path, P.root, NULL, 200, "");
    ph_want_text("GET", path, P.root, NULL, 404, "{\"message\":\"record not found\"}");
    ph_want_text("DELETE", path, P.root, NULL, 404, "{\"message\":\"record not found\"}");
    /* upstream's errors */
    ph_want_text("POST", "/api/v1/jobs", P.root, "{\"type\":\"nope\"}", 422,
                 "{\"errors\":\"Unknow type\"}");
    ph_want_text("POST", "/api/v1/jobs", P.root,
                 "{\"type\":\"preheat\",\"scheduler_cluster_ids\":[77],\"args\":{\"type\":\"file\","
                 "\"url\":\"http://o/a\"}}",
                 404, "{\"message\":\"scheduler cluster id 77: record not found\"}");
    ph_want_text("POST", "/api/v1/jobs", P.root,
                 "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://r/v2/a/"
                 "manifests/v1\",\"piece_length\":1}}",
                 422, "{\"errors\":\"args.piece_length: expected 4194304 to 67108864, got 1\"}");
    ph_want("POST", "/api/v1/jobs", P.root, "{\"type\":\"preheat\",\"args\":[]}", 422);
    ph_want("POST", "/api/v1/jobs", P.root, "not json", 422);
    ph_want("GET", "/api/v1/jobs/abc", P.root, NULL, 422);
}

END_TEST

/* Creation is limited per cluster by its job_rate_limit (per second): 429 in text. */
START_TEST(test_jobs_rate_limit)
{
    const char *body = "{\"type\":\"preheat\",\"scheduler_cluster_ids\":[2],\"args\":{\"type\":"
                       "\"file\",\"url\":\"http://127.0.2.9:1/a\"}}";
    char *out = NULL;
    cJSON *doc;
    int status, ok = 0, limited = 0;

    doc = ph_want("POST", "/api/v1/clusters", P.root,
                  "{\"name\":\"slow\",\"scheduler_cluster_config\":{\"candidate_parent_limit\":3,"
                  "\"filter_parent_limit\":15,\"job_rate_limit\":1},\"seed_peer_cluster_config\":"
                  "{\"load_limit\":10},\"peer_cluster_config\":{\"load_limit\":10}}",
                  200);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(doc, "id")->valueint, 2);
    cJSON_Delete(doc);
    /* a bucket of one: of four creations within a second or so, at most two pass */
    for (int i = 0; i < 4; i++) {
        status = ph_http("POST", "/api/v1/jobs", P.root, body, &out);
        if (status == 429) {
            ck_assert_str_eq(out, "rate limit exceeded");
            limited++;
        } else {
            ck_assert_msg(status == 200, "%d %s", status, out);
            ok++;
        }
        free(out);
    }
    ck_assert_int_ge(ok, 1);
    ck_assert_int_ge(limited, 1);
    out = NULL;
    ck_assert_int_eq(it_shf(&out, 10,
                            "curl -s http://%s/metrics | grep "
                            "'^dragonfly_manager_jobs_limited_total'",
                            P.addr),
                     0);
    ck_assert_int_eq(atoi(strchr(out, ' ') + 1), limited);
    free(out);
}

END_TEST

/*
 * Harbor >= 2.12: GET /healthy, POST /oapi/v1/jobs, then GET /oapi/v1/jobs/<id> every 10 s
 * until the state is not PENDING. The bodies as 2.13 and 2.12 send them (clients.md A.3).
 */
START_TEST(test_harbor_oapi)
{
    static const char *const bodies[] = {
            /* 2.13+: scope from the policy, cluster ids */
            "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://127.0.2.9:1/v2/"
            "library/busybox/manifests/latest\",\"tag\":\"\",\"filtered_query_params\":\"\","
            "\"headers\":{\"Authorization\":\"Bearer eyJhbGciOiJSUzI1NiIs.harbor\"},\"scope\":"
            "\"all_peers\",\"concurrent_count\":0,\"timeout\":0},\"scheduler_cluster_ids\":[1]}",
            /* 2.12: single_peer, no cluster ids */
            "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://127.0.2.9:1/v2/"
            "library/busybox/manifests/latest\",\"tag\":\"\",\"filtered_query_params\":\"\","
            "\"headers\":{\"Authorization\":\"Bearer eyJhbGciOiJSUzI1NiIs.harbor\"},\"scope\":"
            "\"single_peer\",\"concurrent_count\":0,\"timeout\":0},\"scheduler_cluster_ids\":"
            "null}",
    };
    char pat[128], cpat[128], path[64], *text;
    const cJSON *e;
    cJSON *job;
    int64_t t;

    ph_pat("[\"job\"]", pat, sizeof(pat));
    ph_pat("[\"cluster\"]", cpat, sizeof(cpat));
    /* "Test connection" and the check before every POST: the same header */
    ph_want_text("GET", "/healthy", pat, NULL, 200, "\"OK\"");
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        /* only a PAT with scope job: a JWT is no PAT, a cluster scope is not enough */
        ph_want_text("POST", "/oapi/v1/jobs", P.root, bodies[i], 401,
                     "{\"message\":\"Unauthorized\"}");
        ph_want_text("POST", "/oapi/v1/jobs", cpat, bodies[i], 403,
                     "{\"message\":\"Token doesn't have permission to access this resource. "
                     "Required permission: job\"}");
        job = ph_want("POST", "/oapi/v1/jobs", pat, bodies[i], 200);
        /* what Harbor decodes: id a number, the times RFC 3339, the state */
        ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(job, "id")));
        ck_assert_int_eq(df_time_parse_rfc3339_any(ph_str(job, "created_at"), &t), 0);
        ck_assert_int_eq(df_time_parse_rfc3339_any(ph_str(job, "updated_at"), &t), 0);
        ck_assert_str_eq(ph_str(job, "state"), "PENDING");
        snprintf(path, sizeof(path), "/oapi/v1/jobs/%d",
                 cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
        text = cJSON_PrintUnformatted(job);
        ck_assert_ptr_null(strstr(text, "eyJhbGciOiJSUzI1NiIs"));
        free(text);
        cJSON_Delete(job);
        job = ph_wait_final(path, pat);
        /* FAILURE: Harbor joins result.job_states[].error */
        ck_assert_str_eq(ph_str(job, "state"), "FAILURE");
        e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "result"),
                                             "job_states");
        ck_assert_int_eq(cJSON_GetArraySize(e), 1);
        ck_assert_str_ne(ph_str(cJSON_GetArrayItem(e, 0), "error"), "");
        ck_assert(cJSON_IsArray(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(e, 0), "results")));
        cJSON_Delete(job);
    }
}

END_TEST

/*
 * Harbor <= 2.11: GET /_ping, POST /preheats (its PreheatImage body), GET /preheats/<id>:
 * the id a string, the status one of WAITING, RUNNING, SUCCESS, FAIL. A PAT by default; with
 * harbor.openLegacyRoutes no token, as Dragonfly 1 served them.
 */
START_TEST(test_harbor_legacy)
{
    const char *body = "{\"type\":\"image\",\"url\":\"http://127.0.2.9:1/v2/library/busybox/"
                       "manifests/1.36\",\"headers\":{\"Authorization\":\"Bearer hb.tok\"},"
                       "\"image\":\"library/busybox\",\"tag\":\"1.36\",\"digest\":\"sha256:"
                       "0000000000000000000000000000000000000000000000000000000000000000\"}";
    char pat[128], path[64];
    const char *status;
    cJSON *doc = NULL;

    ph_pat("[\"job\"]", pat, sizeof(pat));
    ph_want_text("GET", "/_ping", NULL, NULL, 200, "\"OK\"");
    ph_want_text("POST", "/preheats", NULL, body, 401, "{\"message\":\"Unauthorized\"}");
    ph_want_text("POST", "/preheats", P.root, body, 401, "{\"message\":\"Unauthorized\"}");
    doc = ph_want("POST", "/preheats", pat, body, 200);
    ck_assert_int_gt(atoi(ph_str(doc, "id")), 0);
    snprintf(path, sizeof(path), "/preheats/%s", ph_str(doc, "id"));
    cJSON_Delete(doc);
    ph_want_text("GET", path, NULL, NULL, 401, "{\"message\":\"Unauthorized\"}");
    doc = NULL;
    for (int i = 0; i < 200; i++) {
        cJSON_Delete(doc);
        doc = ph_want("GET", path, pat, NULL, 200);
        status = ph_str(doc, "status");
        ck_assert_msg(strcmp(status, "WAITING") == 0 || strcmp(status, "RUNNING") == 0 ||
                              strcmp(status, "SUCCESS") == 0 || strcmp(status, "FAIL") == 0,
                      "%s", status);
        if (strcmp(status, "FAIL") == 0 || strcmp(status, "SUCCESS") == 0)
            break;
        it_sleep_ms(100);
    }
    ck_assert_str_eq(ph_str(doc, "status"), "FAIL");
    ck_assert_str_ne(ph_str(doc, "errorMsg"), "");
    ck_assert_ptr_nonnull(strstr(ph_str(doc, "startTime"), " +0000 UTC"));
    ck_assert_ptr_nonnull(strstr(ph_str(doc, "finishTime"), " +0000 UTC"));
    cJSON_Delete(doc);
    ph_want("POST", "/preheats", pat, "{\"type\":\"image\"}", 422);
    ph_want_text("GET", "/preheats/999", pat, NULL, 404, "{\"message\":\"record not found\"}");
    /* opened for a Harbor whose auth mode is NONE */
    ph_restart("--harbor-open-legacy-routes");
    doc = ph_want("POST", "/preheats", NULL, body, 200);
    snprintf(path, sizeof(path), "/preheats/%s", ph_str(doc, "id"));
    cJSON_Delete(doc);
    doc = ph_want("GET", path, NULL, NULL, 200);
    cJSON_Delete(doc);
    /* the rest of the API stays closed */
    ph_want("GET", "/api/v1/jobs", NULL, NULL, 401);
    ph_want("GET", "/oapi/v1/jobs", NULL, NULL, 401);
}

END_TEST

Suite *it_preheat_suite(void);

Suite *
it_preheat_suite(void)
{
    Suite *s = suite_create("it_preheat");
    TCase *tc = tcase_create("jobs");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_add_test(tc, test_jobs_rest);
    tcase_add_test(tc, test_jobs_rate_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("harbor");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_add_test(tc, test_harbor_oapi);
    tcase_add_test(tc, test_harbor_legacy);
    suite_add_tcase(s, tc);
    return s;
}
