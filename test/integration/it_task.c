/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's jobs that need the hosts only the schedulers know, with real processes on
 * 127.0.42.0/24 (this suite's): a manager, a scheduler registered through it, a seed and two
 * peers (one finds the scheduler through the manager, the other is given it, so only the
 * scheduler knows it), an origin test server. A file fetched through P2P -> get_task by URL
 * and by task id lists the hosts holding it; delete_task empties their caches (the next get
 * goes to the origin again); sync_peers copies the scheduler's hosts into /api/v1/peers;
 * an all_peers preheat puts a file on every host while the origin serves it once.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

#define TK_MGR    "127.0.42.1"
#define TK_SCHED  "127.0.42.2"
#define TK_SEED   "127.0.42.3"
#define TK_PEER4  "127.0.42.4"
#define TK_PEER5  "127.0.42.5"
#define TK_ORIGIN "127.0.42.9"

struct tk {
    char *dir;
    struct it_proc origin, mgr, sched, seed, p4, p5;
    char rest[64], origin_addr[64];
    char auth[4200]; /* "Bearer <jwt>" of root */
};

static struct tk K;
static bool tk_tls; /* the cluster under mutual TLS, certificates from `dragonfly cert` */

/* The TLS flags of host: its certificate, key and the CA into crt/key/ca (NULL crt: none). */
static const char *
tk_tls_of(const char *host, char *crt, char *key, char *ca, size_t len)
{
    if (!tk_tls)
        return NULL;
    snprintf(crt, len, "%s/%s.crt", K.dir, host);
    snprintf(key, len, "%s/%s.key", K.dir, host);
    snprintf(ca, len, "%s/ca/ca.crt", K.dir);
    return "--tls-cert";
}

static void
tk_issue(const char *role, const char *host)
{
    ck_assert_int_eq(it_shf(NULL, 30, "%s cert issue --dir %s/ca --role %s --host %s --out %s/%s",
                            it_bin(), K.dir, role, host, K.dir, host),
                     0);
}

/* One REST call as root; returns the status and the body in *out (free it). */
static int
tk_http(const char *method, const char *path, const char *json, char **out)
{
    char file[700], *text = NULL, *nl;
    FILE *f;
    int status;

    snprintf(file, sizeof(file), "%s/body.json", K.dir);
    if (json != NULL) {
        f = fopen(file, "w");
        ck_assert_ptr_nonnull(f);
        fputs(json, f);
        fclose(f);
    }
    ck_assert_int_eq(
            it_shf(&text, 60,
                   "curl -s -g -X %s %s%s%s %s%s -o %s/o -w "
                   "'%%{http_code}' 'http://%s%s' && echo && cat %s/o",
                   method, K.auth[0] != '\0' ? "-H 'Authorization: " : "", K.auth,
                   K.auth[0] != '\0' ? "'" : "",
                   json != NULL ? "-H 'Content-Type: application/json' --data-binary @" : "",
                   json != NULL ? file : "", K.dir, K.rest, path, K.dir),
            0);
    status = atoi(text);
    nl = strchr(text, '\n');
    *out = strdup(nl != NULL ? nl + 1 : "");
    free(text);
    return status;
}

/* tk_http expecting want; the body parsed. */
static cJSON *
tk_want(const char *method, const char *path, const char *json, int want)
{
    char *out = NULL;
    int status = tk_http(method, path, json, &out);
    cJSON *doc;

    ck_assert_msg(status == want, "%s %s: %d %s, want %d", method, path, status, out, want);
    doc = cJSON_Parse(out);
    free(out);
    return doc;
}

static const char *
tk_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    ck_assert_msg(cJSON_IsString(v), "%s: not a string", key);
    return v->valuestring;
}

/* Create a job of type with args (JSON) and wait for its end: the job. */
static cJSON *
tk_job_end(const char *type, const char *args)
{
    char body[2048], path[64];
    cJSON *job;
    int i;

    snprintf(body, sizeof(body), "{\"type\":\"%s\",\"args\":%s}", type, args);
    job = tk_want("POST", "/api/v1/jobs", body, 200);
    ck_assert_str_eq(tk_str(job, "type"), type);
    snprintf(path, sizeof(path), "/api/v1/jobs/%d",
             cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
    for (i = 0; i < 600; i++) {
        cJSON_Delete(job);
        job = tk_want("GET", path, NULL, 200);
        if (strcmp(tk_str(job, "state"), "PENDING") != 0)
            break;
        it_sleep_ms(100);
    }
    return job;
}

/* tk_job_end, the job checked SUCCESS. */
static cJSON *
tk_job(const char *type, const char *args)
{
    cJSON *job = tk_job_end(type, args);

    ck_assert_msg(strcmp(tk_str(job, "state"), "SUCCESS") == 0, "%s job: %s", type,
                  cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(job, "result")));
    return job;
}

/* The only result of a job's only job_states entry. */
static const cJSON *
tk_result(const cJSON *job)
{
    const cJSON *states = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(job, "result"), "job_states");
    const cJSON *results;

    ck_assert_int_eq(cJSON_GetArraySize(states), 1);
    results = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(states, 0), "results");
    ck_assert_int_eq(cJSON_GetArraySize(results), 1);
    ck_assert_int_eq(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(results, 0), "scheduler_cluster_id")
                    ->valueint,
            1);
    return cJSON_GetArrayItem(results, 0);
}

/* The entry of list whose hostname is name, or NULL. */
static const cJSON *
tk_host(const cJSON *list, const char *name)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, list)
    {
        if (strcmp(tk_str(e, "hostname"), name) == 0)
            return e;
    }
    return NULL;
}

/* `dragonfly get` of url through the peer whose data dir is dir/name. */
static void
tk_get(const char *name, const char *url)
{
    ck_assert_int_eq(it_shf(NULL, 60,
                            "%s get --socket %s/%s/dfdaemon.sock --no-progress -O %s/out-%s "
                            "'%s' >/dev/null 2>&1",
                            it_bin(), K.dir, name, K.dir, name, url),
                     0);
}

static uint64_t
tk_origin_bytes(const char *target)
{
    uint64_t n = 0;

    ck_assert_int_eq(it_origin_bytes(K.origin_addr, target, &n), 0);
    return n;
}

/* A peer on ip named name (its data dir dir/name) that finds its scheduler by flag value. */
static void
tk_peer(struct it_proc *p, const char *name, const char *ip, const char *flag, const char *value)
{
    char data[700], host[32], crt[700], key[700], ca[700];
    const char *tls;

    snprintf(data, sizeof(data), "%s/%s", K.dir, name);
    snprintf(host, sizeof(host), "tk-%s", name);
    tls = tk_tls_of(host, crt, key, ca, sizeof(crt));
    ck_assert_int_eq(it_df_start(p, K.dir, name, "peer", "--ip", ip, "--hostname", host,
                                 "--data-dir", data, "--rpc-port", "0", "--upload-port", "0",
                                 "--metrics-port", "0", "--proxy-listen", "off", flag, value,
                                 IT_ALLOW_ORIGIN, TK_ORIGIN, tls, crt, "--tls-key", key, "--tls-ca",
                                 ca, NULL),
                     0);
}

static void
tk_setup(void)
{
    char tool[512], ready[700], dd[700], body[128], crt[700], key[700], ca[700];
    const char *oargv[] = {it_tool("origin", tool, sizeof(tool)),
                           "--listen",
                           TK_ORIGIN ":0",
                           "--ready-file",
                           ready,
                           NULL};
    const char *rpc;
    cJSON *doc;

    memset(&K, 0, sizeof(K));
    K.dir = it_tmpdir();
    snprintf(ready, sizeof(ready), "%s/origin.ready", K.dir);
    ck_assert_int_eq(it_proc_start(&K.origin, K.dir, "origin", (char *const *)(uintptr_t)oargv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(K.origin_addr, sizeof(K.origin_addr), "%s", it_proc_ready_str(&K.origin, "http"));
    if (tk_tls) {
        ck_assert_int_eq(it_shf(NULL, 30, "%s cert ca --dir %s/ca", it_bin(), K.dir), 0);
        tk_issue("manager", "tk-mgr");
        tk_issue("scheduler", "tk-sched");
        tk_issue("seed", "tk-seed");
        tk_issue("peer", "tk-p4");
        tk_issue("peer", "tk-p5");
    }
    snprintf(dd, sizeof(dd), "%s/mgr", K.dir);
    ck_assert_int_eq(it_df_start(&K.mgr, K.dir, "manager", "manager", "--listen", TK_MGR ":0",
                                 "--rpc-listen", TK_MGR ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000",
                                 tk_tls_of("tk-mgr", crt, key, ca, sizeof(crt)), crt, "--tls-key",
                                 key, "--tls-ca", ca, NULL),
                     0);
    snprintf(K.rest, sizeof(K.rest), "%s", it_proc_ready_str(&K.mgr, "rest"));
    rpc = it_proc_ready_str(&K.mgr, "rpc");
    snprintf(body, sizeof(body), "{\"name\":\"root\",\"password\":\"dragonfly\"}");
    doc = tk_want("POST", "/api/v1/users/signin", body, 200);
    snprintf(K.auth, sizeof(K.auth), "Bearer %s", tk_str(doc, "token"));
    cJSON_Delete(doc);
    ck_assert_int_eq(it_df_start(&K.sched, K.dir, "scheduler", "scheduler", "--listen",
                                 TK_SCHED ":0", "--metrics-listen", TK_SCHED ":0", "--manager", rpc,
                                 "--hostname", "tk-sched",
                                 tk_tls_of("tk-sched", crt, key, ca, sizeof(crt)), crt, "--tls-key",
                                 key, "--tls-ca", ca, NULL),
                     0);
    snprintf(dd, sizeof(dd), "%s/seed", K.dir);
    ck_assert_int_eq(it_df_start(&K.seed, K.dir, "seed", "peer", "--seed", "--ip", TK_SEED,
                                 "--hostname", "tk-seed", "--data-dir", dd, "--rpc-port", "0",
                                 "--upload-port", "0", "--metrics-port", "0", "--proxy-listen",
                                 "off", "--manager", rpc, IT_ALLOW_ORIGIN, TK_ORIGIN,
                                 tk_tls_of("tk-seed", crt, key, ca, sizeof(crt)), crt, "--tls-key",
                                 key, "--tls-ca", ca, NULL),
                     0);
    /* the scheduler is active in the manager before a peer asks it for one */
    for (int i = 0; i < 300; i++) {
        doc = tk_want("GET", "/api/v1/schedulers", NULL, 200);
        body[0] = cJSON_GetArraySize(doc) == 1 &&
                  strcmp(tk_str(cJSON_GetArrayItem(doc, 0), "state"), "active") == 0;
        cJSON_Delete(doc);
        if (body[0])
            break;
        ck_assert_msg(i < 299, "the scheduler never became active");
        it_sleep_ms(100);
    }
    tk_peer(&K.p4, "p4", TK_PEER4, "--manager", rpc);
    tk_peer(&K.p5, "p5", TK_PEER5, "--scheduler", it_proc_ready_str(&K.sched, "rpc"));
    /* p4 has its scheduler before a test's get: without one it fetches from the origin alone,
     * and the scheduler would not know it holds the task */
    ck_assert(it_log_wait(&K.p4, "scheduler cluster 1: 1 healthy scheduler(s), first " TK_SCHED,
                          30000));
}

static void
tk_teardown(void)
{
    struct it_proc *all[] = {&K.p5, &K.p4, &K.seed, &K.sched, &K.mgr, &K.origin};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i]->pid > 0)
            it_proc_stop(all[i]);
        cJSON_Delete(all[i]->ready);
    }
    it_rmtree(K.dir);
    free(K.dir);
}

/* A get through p4 (P2P from the seed), then get_task by URL and by id, delete_task. */
START_TEST(test_get_and_delete_task)
{
    char url[256], args[512], id[65];
    const char *target = "/gen/3MiB?seed=7";
    const cJSON *res, *e;
    uint64_t before;
    cJSON *job;

    snprintf(url, sizeof(url), "http://%s%s", K.origin_addr, target);
    /* the seed may still be announcing itself: a get works either way */
    tk_get("p4", url);
    {
        char dd[700];

        snprintf(dd, sizeof(dd), "%s/p4", K.dir);
        ck_assert_int_eq(it_cache_task_id(dd, id), 0);
    }
    snprintf(args, sizeof(args), "{\"url\":\"%s\"}", url);
    job = tk_job("get_task", args);
    ck_assert_str_eq(
            tk_str(cJSON_GetArrayItem(
                           cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(job, "result"), "job_states"),
                           0),
                   "task_name"),
            "get_task");
    res = cJSON_GetObjectItemCaseSensitive(tk_result(job), "peers");
    e = tk_host(res, "tk-p4");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(tk_str(e, "ip"), TK_PEER4);
    ck_assert_str_eq(tk_str(e, "host_type"), "normal");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "IsFinished")));
    ck_assert_ptr_nonnull(strstr(tk_str(e, "id"), TK_PEER4 "-tk-p4-"));
    ck_assert_int_gt((int)strlen(tk_str(e, "created_at")), 0);
    ck_assert_int_gt((int)strlen(tk_str(e, "updated_at")), 0);
    /* p4 fetched through the seed, which fetched from the origin */
    e = tk_host(res, "tk-seed");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(tk_str(e, "host_type"), "super");
    ck_assert_ptr_null(tk_host(res, "tk-p5"));
    cJSON_Delete(job);
    /* the same by task id: the id the peer filed it under */
    snprintf(args, sizeof(args), "{\"task_id\":\"%s\"}", id);
    job = tk_job("get_task", args);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tk_result(job), "peers")),
                     2);
    cJSON_Delete(job);
    /* bad args: upstream's words */
    job = tk_want("POST", "/api/v1/jobs", "{\"type\":\"get_task\",\"args\":{\"tag\":\"x\"}}", 422);
    ck_assert_str_eq(tk_str(job, "errors"), "invalid params: task_id, "
                                            "content_for_calculating_task_id or url is required");
    cJSON_Delete(job);
    job = tk_want("POST", "/api/v1/jobs", "{\"type\":\"delete_task\",\"args\":{\"task_id\":\"x\"}}",
                  422);
    cJSON_Delete(job);
    /* delete, one host at a time: both holders succeed, their caches are empty, get_task
     * finds nobody */
    snprintf(args, sizeof(args), "{\"url\":\"%s\",\"concurrent_peer_count\":1}", url);
    job = tk_job("delete_task", args);
    res = tk_result(job);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "failure_tasks")), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "success_tasks")), 2);
    e = tk_host(cJSON_GetObjectItemCaseSensitive(res, "success_tasks"), "tk-p4");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(tk_str(e, "ip"), TK_PEER4);
    ck_assert_str_eq(tk_str(e, "host_type"), "normal");
    ck_assert_ptr_nonnull(
            tk_host(cJSON_GetObjectItemCaseSensitive(res, "success_tasks"), "tk-seed"));
    cJSON_Delete(job);
    snprintf(args, sizeof(args), "{\"url\":\"%s\"}", url);
    {
        char dd[700];

        snprintf(dd, sizeof(dd), "%s/p4", K.dir);
        ck_assert_int_eq(it_cache_task_id(dd, id), -1);
        snprintf(dd, sizeof(dd), "%s/seed", K.dir);
        ck_assert_int_eq(it_cache_task_id(dd, id), -1);
    }
    job = tk_job("get_task", args);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tk_result(job), "peers")),
                     0);
    cJSON_Delete(job);
    /* nobody holds it now: the next get goes to the origin again, all 3 MiB of it */
    before = tk_origin_bytes(target);
    tk_get("p4", url);
    ck_assert_uint_ge(tk_origin_bytes(target), before + (3u << 20));
    /* the executions history lists the deletion */
    job = tk_want("GET", "/api/v1/jobs?type=delete_task", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(job), 1);
    cJSON_Delete(job);
    /* a cluster without a scheduler: nobody to ask, the job fails and says so */
    job = tk_want("POST", "/api/v1/scheduler-clusters",
                  "{\"name\":\"tk-empty\",\"config\":{},\"client_config\":{},"
                  "\"seed_client_config\":{},\"seed_peer_cluster_id\":1}",
                  200);
    snprintf(args, sizeof(args),
             "{\"type\":\"get_task\",\"args\":{\"url\":\"%s\"},\"scheduler_cluster_ids\":[%d]}",
             url, cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
    cJSON_Delete(job);
    job = tk_want("POST", "/api/v1/jobs", args, 200);
    snprintf(args, sizeof(args), "/api/v1/jobs/%d",
             cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
    for (int i = 0; i < 100 && strcmp(tk_str(job, "state"), "PENDING") == 0; i++) {
        cJSON_Delete(job);
        it_sleep_ms(50);
        job = tk_want("GET", args, NULL, 200);
    }
    ck_assert_str_eq(tk_str(job, "state"), "FAILURE");
    {
        char *text = cJSON_PrintUnformatted(job);

        ck_assert_msg(strstr(text, "candidate schedulers not found (no active scheduler in "
                                   "scheduler cluster 2)") != NULL,
                      "%s", text);
        free(text);
    }
    cJSON_Delete(job);
}

END_TEST

/*
 * A task being downloaded is not cut from under its pieces: delete_task fails on the hosts
 * fetching it, with the peer's reason, and the download ends whole.
 */
START_TEST(test_delete_while_downloading)
{
    char url[256], args[512], want[700];
    const cJSON *res, *e;
    cJSON *job = NULL;
    bool fetching = false;

    snprintf(url, sizeof(url), "http://%s/gen/1MiB?seed=11&trickle=150KiB/s", K.origin_addr);
    ck_assert_int_eq(it_shf(NULL, 10,
                            "(%s get --socket %s/p4/dfdaemon.sock --no-progress -O %s/slow "
                            "'%s'; echo $? > %s/slow.rc) >/dev/null 2>&1 &",
                            it_bin(), K.dir, K.dir, url, K.dir),
                     0);
    snprintf(args, sizeof(args), "{\"url\":\"%s\"}", url);
    /* the scheduler knows p4's peer once it registered: unfinished */
    for (int i = 0; i < 50 && !fetching; i++) {
        cJSON_Delete(job);
        job = tk_job("get_task", args);
        e = tk_host(cJSON_GetObjectItemCaseSensitive(tk_result(job), "peers"), "tk-p4");
        fetching = e != NULL && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "IsFinished"));
        if (!fetching)
            it_sleep_ms(100);
    }
    cJSON_Delete(job);
    ck_assert_msg(fetching, "p4 never showed as fetching the task");
    job = tk_job_end("delete_task", args);
    ck_assert_str_eq(tk_str(job, "state"), "FAILURE");
    res = tk_result(job);
    e = tk_host(cJSON_GetObjectItemCaseSensitive(res, "failure_tasks"), "tk-p4");
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(strstr(tk_str(e, "description"), "failed_precondition") != NULL &&
                          strstr(tk_str(e, "description"), "being downloaded") != NULL,
                  "%s", tk_str(e, "description"));
    cJSON_Delete(job);
    /* the get ends with the origin's bytes */
    snprintf(want, sizeof(want), "%s/slow.rc", K.dir);
    for (int i = 0; i < 300 && access(want, F_OK) != 0; i++)
        it_sleep_ms(100);
    ck_assert_int_eq(it_shf(NULL, 5, "test \"$(cat %s/slow.rc)\" = 0", K.dir), 0);
    snprintf(want, sizeof(want), "%s/want", K.dir);
    ck_assert_int_eq(it_gen("1MiB", 11, want), 0);
    ck_assert_int_eq(it_shf(NULL, 10, "cmp -s %s %s/slow", want, K.dir), 0);
}

END_TEST

/* sync_peers: a peer only the scheduler knows appears in /api/v1/peers. */
START_TEST(test_sync_peers)
{
    char *out = NULL;
    cJSON *peers;
    const cJSON *e;
    int status;

    peers = tk_want("GET", "/api/v1/peers?per_page=100", NULL, 200);
    cJSON_ArrayForEach(e, peers)
    {
        ck_assert_str_ne(tk_str(e, "host_name"), "tk-p5");
    }
    cJSON_Delete(peers);
    /* p5 announces itself to the scheduler as it starts: wait for the scheduler to know it */
    for (int i = 0; i < 100; i++) {
        status = tk_http("POST", "/api/v1/jobs", "{\"type\":\"sync_peers\"}", &out);
        ck_assert_msg(status == 200 && strcmp(out, "\"OK\"") == 0, "sync_peers: %d %s", status,
                      out);
        free(out);
        peers = tk_want("GET", "/api/v1/peers?per_page=100", NULL, 200);
        e = NULL;
        cJSON_ArrayForEach(e, peers)
        {
            if (strcmp(tk_str(e, "host_name"), "tk-p5") == 0)
                break;
        }
        if (e != NULL) {
            ck_assert_str_eq(tk_str(e, "ip"), TK_PEER5);
            ck_assert_str_eq(tk_str(e, "type"), "normal");
            ck_assert_str_eq(tk_str(e, "state"), "active");
            ck_assert_int_gt(cJSON_GetObjectItemCaseSensitive(e, "port")->valueint, 0);
            ck_assert_int_gt(cJSON_GetObjectItemCaseSensitive(e, "download_port")->valueint, 0);
            cJSON_Delete(peers);
            break;
        }
        cJSON_Delete(peers);
        ck_assert_msg(i < 99, "sync_peers never brought tk-p5");
        it_sleep_ms(100);
    }
    /* no job row: sync_peers is synchronous */
    peers = tk_want("GET", "/api/v1/jobs", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(peers), 0);
    cJSON_Delete(peers);
}

END_TEST

/* all_peers: every host holds the file, the origin served it once; ips narrows it. */
START_TEST(test_preheat_all_peers)
{
    char url[256], args[512];
    const char *target = "/gen/2MiB?seed=8";
    const cJSON *res, *e;
    cJSON *job;
    int i;

    snprintf(url, sizeof(url), "http://%s%s", K.origin_addr, target);
    snprintf(args, sizeof(args), "{\"type\":\"file\",\"url\":\"%s\",\"scope\":\"all_peers\"}", url);
    /* the seed registers with the manager, p5 announces to the scheduler: retry until the
     * preheat reaches all three */
    for (i = 0; i < 100; i++) {
        job = tk_job("preheat", args);
        res = tk_result(job);
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "success_tasks")) == 3)
            break;
        cJSON_Delete(job);
        job = NULL;
        it_sleep_ms(100);
    }
    ck_assert_ptr_nonnull(job);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "failure_tasks")), 0);
    ck_assert_ptr_nonnull(tk_host(cJSON_GetObjectItemCaseSensitive(res, "success_tasks"), "tk-p5"));
    cJSON_Delete(job);
    /* every host holds it, finished */
    snprintf(args, sizeof(args), "{\"url\":\"%s\"}", url);
    job = tk_job("get_task", args);
    res = cJSON_GetObjectItemCaseSensitive(tk_result(job), "peers");
    ck_assert_int_eq(cJSON_GetArraySize(res), 3);
    cJSON_ArrayForEach(e, res)
    {
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "IsFinished")));
    }
    cJSON_Delete(job);
    /* the peers took it from the seed: the origin sent the file once, not three times */
    ck_assert_uint_lt(tk_origin_bytes(target), 2u * (2u << 20));
    /* ips: only the host named */
    snprintf(url, sizeof(url), "http://%s/gen/1MiB?seed=8", K.origin_addr);
    snprintf(args, sizeof(args),
             "{\"type\":\"file\",\"url\":\"%s\",\"scope\":\"all_peers\",\"ips\":[\"" TK_PEER4
             "\"]}",
             url);
    job = tk_job("preheat", args);
    res = cJSON_GetObjectItemCaseSensitive(tk_result(job), "success_tasks");
    ck_assert_int_eq(cJSON_GetArraySize(res), 1);
    ck_assert_str_eq(tk_str(cJSON_GetArrayItem(res, 0), "hostname"), "tk-p4");
    cJSON_Delete(job);
}

END_TEST

/* A scheduler that does not answer (stopped): the job's timeout ends it, FAILURE. */
START_TEST(test_timeout_with_silent_scheduler)
{
    char args[512];
    cJSON *job;
    char *text;

    ck_assert_int_eq(kill(K.sched.pid, SIGSTOP), 0);
    snprintf(args, sizeof(args), "{\"url\":\"http://%s/gen/1KiB\",\"timeout\":1000000000}",
             K.origin_addr);
    job = tk_job_end("get_task", args);
    ck_assert_int_eq(kill(K.sched.pid, SIGCONT), 0);
    text = cJSON_PrintUnformatted(job);
    ck_assert_msg(strcmp(tk_str(job, "state"), "FAILURE") == 0 &&
                          strstr(text, "timeout: the job did not end within 1 s") != NULL,
                  "%s", text);
    free(text);
    cJSON_Delete(job);
    /* and the manager carries on: the scheduler answers again */
    snprintf(args, sizeof(args), "{\"url\":\"http://%s/gen/1KiB\"}", K.origin_addr);
    job = tk_job("get_task", args);
    cJSON_Delete(job);
}

END_TEST

static void
tk_setup_tls(void)
{
    tk_tls = true;
    tk_setup();
}

Suite *it_task_suite(void);

Suite *
it_task_suite(void)
{
    Suite *s = suite_create("it_task");
    TCase *tc = tcase_create("task");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, tk_setup, tk_teardown);
    tcase_add_test(tc, test_get_and_delete_task);
    tcase_add_test(tc, test_delete_while_downloading);
    tcase_add_test(tc, test_sync_peers);
    tcase_add_test(tc, test_preheat_all_peers);
    tcase_add_test(tc, test_timeout_with_silent_scheduler);
    suite_add_tcase(s, tc);
    /* the same jobs when every role speaks mutual TLS: the manager's certificate opens the
     * schedulers' views and the peers' DeleteTask and DownloadTask */
    tc = tcase_create("mtls");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, tk_setup_tls, tk_teardown);
    tcase_add_test(tc, test_get_and_delete_task);
    tcase_add_test(tc, test_preheat_all_peers);
    suite_add_tcase(s, tc);
    return s;
}
