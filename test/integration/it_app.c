/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's applications on 127.0.45.x: /api/v1/applications CRUD in upstream's shapes
 * (the owner preloaded as "user"), the validator's 422s, 409 on a taken name, a guest who
 * reads and never writes, SQL-looking input stored literally; ListApplications as upstream
 * answers it (NotFound when none), and a scheduler under the manager that fetches it with its
 * config refresh and shows it in its log and /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness/harness.h"

#define AP_MGR_IP   "127.0.45.1"
#define AP_SCHED_IP "127.0.45.2"

struct ap {
    char *dir;
    struct it_proc mgr, sched;
    char rest[64], rpc[64];
    char root[1024], guest[1024]; /* JWTs */
};

static struct ap A;

/* Sign in as name: its JWT into tok. */
static void
ap_signin(const char *name, const char *password, char *tok, size_t len)
{
    char *out = NULL;
    const cJSON *t;
    cJSON *doc;

    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -H 'Content-Type: application/json' -d "
                            "'{\"name\":\"%s\",\"password\":\"%s\"}' "
                            "http://%s/api/v1/users/signin",
                            name, password, A.rest),
                     0);
    doc = cJSON_Parse(out);
    t = cJSON_GetObjectItemCaseSensitive(doc, "token");
    ck_assert_msg(cJSON_IsString(t), "signin %s: %s", name, out);
    snprintf(tok, len, "%s", t->valuestring);
    cJSON_Delete(doc);
    free(out);
}

/* The manager on the test's data dir (again after a stop), root signed in. */
static void
ap_start_mgr(void)
{
    char dd[600];

    snprintf(dd, sizeof(dd), "%s/data", A.dir);
    cJSON_Delete(A.mgr.ready);
    memset(&A.mgr, 0, sizeof(A.mgr));
    ck_assert_int_eq(it_df_start(&A.mgr, A.dir, "manager", "manager", "--listen", AP_MGR_IP ":0",
                                 "--rpc-listen", AP_MGR_IP ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000", NULL),
                     0);
    snprintf(A.rest, sizeof(A.rest), "%s", it_proc_ready_str(&A.mgr, "rest"));
    snprintf(A.rpc, sizeof(A.rpc), "%s", it_proc_ready_str(&A.mgr, "rpc"));
    ap_signin("root", "dragonfly", A.root, sizeof(A.root));
}

static void
ap_setup(void)
{
    memset(&A, 0, sizeof(A));
    A.dir = it_tmpdir();
    ap_start_mgr();
    ck_assert_int_eq(
            it_rest(A.rest, "-", "POST", "/api/v1/users/signup",
                    "{\"name\":\"gina\",\"password\":\"ginapass1\",\"email\":\"g@example.com\"}",
                    NULL),
            200);
    ap_signin("gina", "ginapass1", A.guest, sizeof(A.guest));
}

static void
ap_teardown(void)
{
    if (A.sched.pid > 0)
        it_proc_kill(&A.sched);
    cJSON_Delete(A.sched.ready);
    if (A.mgr.pid > 0)
        it_proc_kill(&A.mgr);
    cJSON_Delete(A.mgr.ready);
    it_rmtree(A.dir);
    free(A.dir);
}

/* method path as tok with body: the status must be want; the answer parsed (the caller frees). */
static cJSON *
ap_expect(const char *tok, const char *method, const char *path, const char *body, int want)
{
    char *out = NULL;
    int status = it_rest(A.rest, tok, method, path, body, &out);
    cJSON *doc;

    ck_assert_msg(status == want, "%s %s %s: %d %s, want %d", method, path,
                  body != NULL ? body : "", status, out != NULL ? out : "", want);
    doc = out != NULL ? cJSON_Parse(out) : NULL;
    free(out);
    return doc;
}

/* The 422 of method path with body, whose {"errors"} must contain want. */
static void
ap_refused(const char *method, const char *path, const char *body, const char *want)
{
    cJSON *doc = ap_expect(A.root, method, path, body, 422);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "errors");

    ck_assert_msg(cJSON_IsString(e) && strstr(e->valuestring, want) != NULL, "%s: %s, want %s",
                  body != NULL ? body : path, cJSON_IsString(e) ? e->valuestring : "(none)", want);
    cJSON_Delete(doc);
}

/* A guest's write: refused as upstream's RBAC refuses it. */
static void
ap_denied(const char *method, const char *path, const char *body)
{
    cJSON *doc = ap_expect(A.guest, method, path, body, 401);

    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(doc, "message")->valuestring,
                     "permission deny");
    cJSON_Delete(doc);
}

static const char *
ap_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    ck_assert_msg(cJSON_IsString(v), "%s: not a string", key);
    return v->valuestring;
}

static int
ap_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    ck_assert_msg(cJSON_IsNumber(v), "%s: not a number", key);
    return v->valueint;
}

#define AP_APP1                                                                    \
    "{\"name\":\"app-1\",\"url\":\"https://example.com/app-1\",\"bio\":\"first\"," \
    "\"priority\":{\"value\":2,\"urls\":[{\"regex\":\"^https://a\\\\.io/\",\"value\":4}]},\"user_id\":1}"

START_TEST(test_crud)
{
    cJSON *doc, *list;
    const cJSON *pri, *url0;
    char path[64];
    int id;

    doc = ap_expect(A.root, "POST", "/api/v1/applications", AP_APP1, 200);
    id = ap_int(doc, "id");
    ck_assert_int_gt(id, 0);
    ck_assert_str_eq(ap_str(doc, "name"), "app-1");
    ck_assert_str_eq(ap_str(doc, "url"), "https://example.com/app-1");
    ck_assert_str_eq(ap_str(doc, "bio"), "first");
    ck_assert_int_eq(ap_int(doc, "is_del"), 0);
    ck_assert_int_eq(ap_int(doc, "user_id"), 1);
    ck_assert_str_eq(ap_str(cJSON_GetObjectItemCaseSensitive(doc, "user"), "name"), "root");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(doc, "user"), "password"));
    ap_str(doc, "created_at");
    pri = cJSON_GetObjectItemCaseSensitive(doc, "priority");
    ck_assert_int_eq(ap_int(pri, "value"), 2);
    url0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pri, "urls"), 0);
    ck_assert_str_eq(ap_str(url0, "regex"), "^https://a\\.io/");
    ck_assert_int_eq(ap_int(url0, "value"), 4);
    cJSON_Delete(doc);
    /* the name is taken: 409 on create and on a rename onto it */
    cJSON_Delete(ap_expect(A.root, "POST", "/api/v1/applications", AP_APP1, 409));
    doc = ap_expect(A.root, "POST", "/api/v1/applications",
                    "{\"name\":\"app-2\",\"url\":\"u\",\"priority\":{\"value\":0},\"user_id\":2}",
                    200);
    ck_assert_str_eq(ap_str(cJSON_GetObjectItemCaseSensitive(doc, "user"), "name"), "gina");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                             cJSON_GetObjectItemCaseSensitive(doc, "priority"), "urls")),
                     0);
    snprintf(path, sizeof(path), "/api/v1/applications/%d", ap_int(doc, "id"));
    cJSON_Delete(doc);
    cJSON_Delete(ap_expect(A.root, "PATCH", path, "{\"name\":\"app-1\"}", 409));
    /* list, filter and paging */
    list = ap_expect(A.root, "GET", "/api/v1/applications", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 2);
    cJSON_Delete(list);
    list = ap_expect(A.root, "GET", "/api/v1/applications?name=app-2", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    ck_assert_str_eq(ap_str(cJSON_GetArrayItem(list, 0), "name"), "app-2");
    cJSON_Delete(list);
    list = ap_expect(A.root, "GET", "/api/v1/applications?page=2&per_page=1", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    ck_assert_str_eq(ap_str(cJSON_GetArrayItem(list, 0), "name"), "app-2");
    cJSON_Delete(list);
    cJSON_Delete(ap_expect(A.root, "GET", "/api/v1/applications?per_page=0", NULL, 422));
    /* patch: only the members given change */
    snprintf(path, sizeof(path), "/api/v1/applications/%d", id);
    doc = ap_expect(A.root, "PATCH", path,
                    "{\"bio\":\"changed\",\"priority\":{\"value\":5,\"urls\":[]}}", 200);
    ck_assert_str_eq(ap_str(doc, "bio"), "changed");
    ck_assert_str_eq(ap_str(doc, "name"), "app-1");
    ck_assert_str_eq(ap_str(doc, "url"), "https://example.com/app-1");
    cJSON_Delete(doc);
    doc = ap_expect(A.root, "GET", path, NULL, 200);
    pri = cJSON_GetObjectItemCaseSensitive(doc, "priority");
    ck_assert_int_eq(ap_int(pri, "value"), 5);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pri, "urls")), 0);
    ck_assert_str_eq(ap_str(doc, "bio"), "changed");
    cJSON_Delete(doc);
    /* delete: empty 200, then 404 everywhere */
    cJSON_Delete(ap_expect(A.root, "DELETE", path, NULL, 200));
    cJSON_Delete(ap_expect(A.root, "GET", path, NULL, 404));
    cJSON_Delete(ap_expect(A.root, "PATCH", path, "{\"bio\":\"x\"}", 404));
    cJSON_Delete(ap_expect(A.root, "DELETE", path, NULL, 404));
    list = ap_expect(A.root, "GET", "/api/v1/applications", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
}

END_TEST

START_TEST(test_validation)
{
    static const char *const p = "/api/v1/applications";

    ap_refused("POST", p, "{\"url\":\"u\",\"priority\":{\"value\":1},\"user_id\":1}",
               "name: required");
    ap_refused("POST", p, "{\"name\":\"n\",\"priority\":{\"value\":1},\"user_id\":1}",
               "url: required");
    ap_refused("POST", p, "{\"name\":\"n\",\"url\":\"u\",\"user_id\":1}", "priority: required");
    ap_refused("POST", p, "{\"name\":\"n\",\"url\":\"u\",\"priority\":{\"value\":1}}", "user_id");
    ap_refused("POST", p,
               "{\"name\":\"n\",\"url\":\"u\",\"priority\":{\"value\":1},\"user_id\":99}",
               "user_id: no user 99");
    ap_refused("POST", p, "{\"name\":\"\",\"url\":\"u\",\"priority\":{\"value\":1},\"user_id\":1}",
               "name: expected 1 to 256 characters");
    ap_refused("POST", p, "{\"name\":\"n\",\"url\":\"u\",\"priority\":{},\"user_id\":1}",
               "priority.value: required");
    ap_refused("POST", p,
               "{\"name\":\"n\",\"url\":\"u\",\"priority\":{\"value\":21},\"user_id\":1}",
               "priority.value: expected an integer of 0 to 20");
    ap_refused("POST", p,
               "{\"name\":\"n\",\"url\":\"u\",\"priority\":{\"value\":1,\"urls\":[{\"regex\":"
               "\"(\",\"value\":1}]},\"user_id\":1}",
               "priority.urls[0].regex: not a regular expression");
    ap_refused("POST", p, "{\"name\":1}", "name: expected a string");
    ap_refused("POST", p, "not json", "");
    ap_refused("GET", "/api/v1/applications/abc", NULL, "");
    /* nothing of these was stored; the manager still serves */
    cJSON *list = ap_expect(A.root, "GET", p, NULL, 200);

    ck_assert_int_eq(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    cJSON_Delete(ap_expect(A.root, "POST", p, AP_APP1, 200));
    ap_refused("PATCH", "/api/v1/applications/1", "{\"priority\":{\"value\":-1}}",
               "priority.value");
    ap_refused("PATCH", "/api/v1/applications/1", "{\"user_id\":42}", "user_id: no user 42");
    ap_refused("PATCH", "/api/v1/applications/1", "{\"url\":\"\"}", "url: expected 1 to");
}

END_TEST

START_TEST(test_guest_reads_sql_literal)
{
    /* a quote as \u0027 so that the shell's quoting carries it */
    static const char *const evil =
            "{\"name\":\"x\\u0027); DROP TABLE applications; --\",\"url\":\"\\u0027 OR 1=1 --\","
            "\"priority\":{\"value\":1},\"user_id\":1}";
    cJSON *doc, *list;

    doc = ap_expect(A.root, "POST", "/api/v1/applications", evil, 200);
    ck_assert_str_eq(ap_str(doc, "name"), "x'); DROP TABLE applications; --");
    cJSON_Delete(doc);
    /* the filter binds it as a value: exactly that row */
    list = ap_expect(A.guest, "GET",
                     "/api/v1/applications?name=x%27%29%3B%20DROP%20TABLE%20applications%3B%20--",
                     NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    ck_assert_str_eq(ap_str(cJSON_GetArrayItem(list, 0), "url"), "' OR 1=1 --");
    cJSON_Delete(list);
    list = ap_expect(A.guest, "GET", "/api/v1/applications?name=%27%20OR%20%271%27=%271", NULL,
                     200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    /* a guest reads and never writes (upstream's casbin answer); nobody signed in does
     * neither */
    cJSON_Delete(ap_expect(A.guest, "GET", "/api/v1/applications/1", NULL, 200));
    ap_denied("POST", "/api/v1/applications", AP_APP1);
    ap_denied("PATCH", "/api/v1/applications/1", "{\"bio\":\"g\"}");
    ap_denied("DELETE", "/api/v1/applications/1", NULL);
    cJSON_Delete(ap_expect("not-a-jwt", "GET", "/api/v1/applications", NULL, 401));
    cJSON_Delete(ap_expect("not-a-jwt", "DELETE", "/api/v1/applications/1", NULL, 401));
    doc = ap_expect(A.root, "GET", "/api/v1/applications/1", NULL, 200);
    ck_assert_str_eq(ap_str(doc, "bio"), "");
    cJSON_Delete(doc);
}

END_TEST

/* ListApplications with body: "<answer> <http status>". */
static char *
ap_list_apps(const char *body)
{
    char *out = NULL;

    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -w ' %%{http_code}' --http2-prior-knowledge -H "
                            "'Content-Type: application/json' -d '%s' "
                            "http://%s/manager.v2.Manager/ListApplications",
                            body, A.rpc),
                     0);
    return out;
}

/* The scheduler's gauge of the applications it holds, -1 when unreadable. */
static int
ap_sched_apps(void)
{
    char *out = NULL;
    int n;

    if (it_shf(&out, 10,
               "curl -s http://%s/metrics | grep '^dragonfly_scheduler_manager_applications '",
               it_proc_ready_str(&A.sched, "metrics")) != 0) {
        free(out);
        return -1;
    }
    n = atoi(strchr(out, ' ') + 1);
    free(out);
    return n;
}

/* Wait up to 20 s (the refresh is 1 s) for the scheduler to hold n applications. */
static bool
ap_sched_apps_wait(int n)
{
    for (int i = 0; i < 100; i++) {
        if (ap_sched_apps() == n)
            return true;
        it_sleep_ms(200);
    }
    return false;
}

START_TEST(test_list_applications_scheduler)
{
    static const char *const req = "{\"sourceType\":\"SCHEDULER_SOURCE\",\"hostname\":"
                                   "\"sched-app\",\"ip\":\"" AP_SCHED_IP "\"}";
    char conf[700], *out;
    cJSON *doc;

    /* none: NotFound, as upstream (a scheduler takes it as "no applications") */
    out = ap_list_apps(req);
    ck_assert_str_eq(out, "{\"code\":\"not_found\",\"message\":\"application not found\"} 404");
    free(out);
    out = ap_list_apps("{\"hostname\":\"sched-app\"}");
    ck_assert_str_eq(out, "{\"code\":\"invalid_argument\",\"message\":\"ip: required\"} 400");
    free(out);
    /* a scheduler refreshing every second */
    snprintf(conf, sizeof(conf), "%s/sched.json", A.dir);
    ck_assert_int_eq(
            it_shf(NULL, 10, "echo '{\"manager\":{\"refreshInterval\":\"1s\"}}' > %s", conf), 0);
    ck_assert_int_eq(it_df_start(&A.sched, A.dir, "sched-app", "scheduler", "--config", conf,
                                 "--listen", AP_SCHED_IP ":0", "--metrics-listen", AP_SCHED_IP ":0",
                                 "--manager", A.rpc, "--hostname", "sched-app", NULL),
                     0);
    ck_assert(it_log_wait(&A.sched, "manager: 0 applications with a priority", 20000));
    ck_assert_int_eq(ap_sched_apps(), 0);
    /* one with a priority: the answer in upstream's shape, levels by name, 7..20 as numbers */
    doc = ap_expect(A.root, "POST", "/api/v1/applications",
                    "{\"name\":\"app-1\",\"url\":\"https://example.com/app-1\",\"bio\":\"b\","
                    "\"priority\":{\"value\":2,\"urls\":[{\"regex\":\"^https://a/\",\"value\":"
                    "12},{\"regex\":\"^https://b/\",\"value\":0}]},\"user_id\":1}",
                    200);
    cJSON_Delete(doc);
    out = ap_list_apps(req);
    ck_assert_str_eq(out, "{\"applications\":[{\"id\":1,\"name\":\"app-1\",\"url\":"
                          "\"https://example.com/app-1\",\"bio\":\"b\",\"priority\":{\"value\":"
                          "\"LEVEL2\",\"urls\":[{\"regex\":\"^https://a/\",\"value\":12},{"
                          "\"regex\":\"^https://b/\",\"value\":\"LEVEL0\"}]}}]} 200");
    free(out);
    ck_assert_msg(ap_sched_apps_wait(1), "the scheduler never held the application");
    ck_assert(it_log_wait(&A.sched, "manager: 1 applications with a priority: app-1=2(+2 urls)",
                          20000));
    /* deleted: NotFound again, and the scheduler drops what it held */
    cJSON_Delete(ap_expect(A.root, "DELETE", "/api/v1/applications/1", NULL, 200));
    out = ap_list_apps(req);
    ck_assert_ptr_nonnull(strstr(out, "not_found"));
    free(out);
    ck_assert_msg(ap_sched_apps_wait(0), "the scheduler still holds the deleted application");
}

END_TEST

/* Applications survive a restart; a database of schema 7 gets the table at start. */
START_TEST(test_restart_and_upgrade)
{
    cJSON *doc;

    cJSON_Delete(ap_expect(A.root, "POST", "/api/v1/applications", AP_APP1, 200));
    ck_assert_int_eq(it_proc_stop(&A.mgr), 0);
    ap_start_mgr();
    doc = ap_expect(A.root, "GET", "/api/v1/applications/1", NULL, 200);
    ck_assert_str_eq(ap_str(doc, "name"), "app-1");
    ck_assert_int_eq(ap_int(cJSON_GetObjectItemCaseSensitive(doc, "priority"), "value"), 2);
    cJSON_Delete(doc);
    /* the database as the binary before migration 8 left it (nor had it 9's columns) */
    ck_assert_int_eq(it_proc_stop(&A.mgr), 0);
    ck_assert_int_eq(it_shf(NULL, 10,
                            "sqlite3 %s/data/manager.db 'DROP TABLE applications; "
                            "ALTER TABLE schedulers DROP COLUMN git_version; "
                            "ALTER TABLE schedulers DROP COLUMN git_commit; "
                            "ALTER TABLE seed_peers DROP COLUMN git_version; "
                            "ALTER TABLE seed_peers DROP COLUMN git_commit; "
                            "PRAGMA user_version = 7'",
                            A.dir),
                     0);
    ap_start_mgr();
    doc = ap_expect(A.root, "GET", "/api/v1/applications", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(doc), 0);
    cJSON_Delete(doc);
    cJSON_Delete(ap_expect(A.root, "POST", "/api/v1/applications", AP_APP1, 200));
    /* the users, cluster and root of schema 7 are untouched */
    doc = ap_expect(A.root, "GET", "/api/v1/users/2", NULL, 200);
    ck_assert_str_eq(ap_str(doc, "name"), "gina");
    cJSON_Delete(doc);
}

END_TEST

Suite *it_app_suite(void);

Suite *
it_app_suite(void)
{
    Suite *s = suite_create("it_app");
    TCase *tc = tcase_create("applications");

    tcase_add_checked_fixture(tc, ap_setup, ap_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_crud);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_guest_reads_sql_literal);
    tcase_add_test(tc, test_list_applications_scheduler);
    tcase_add_test(tc, test_restart_and_upgrade);
    suite_add_tcase(s, tc);
    return s;
}
