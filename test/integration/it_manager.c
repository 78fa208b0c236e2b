/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly manager` as a process: a real binary on 127.0.0.212 with a data dir in the
 * test's temp dir, driven with curl. Start and restart on the same database, a database
 * from a newer version refused, and the REST API's answers, codes and shapes as upstream
 * gives them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <check.h>

#include "harness/harness.h"

#define MG_IP "127.0.0.212"
/* the audit's case: an address of its own (issue 13's range) */
#define MG_AUDIT_IP "127.0.43.1"

struct mg {
    const char *ip; /* MG_IP unless the case's fixture says */
    char *dir;
    struct it_proc mgr;
    char addr[64];
    char headers[8192]; /* of the last response */
};

static struct mg G;

/* Start the manager on the test's data dir with extra flags (NULL-terminated, up to 4). */
static int
mg_start(const char *f1, const char *f2)
{
    char dd[600];

    snprintf(dd, sizeof(dd), "%s/data", G.dir);
    memset(&G.mgr, 0, sizeof(G.mgr));
    char listen[64];

    snprintf(listen, sizeof(listen), "%s:0", G.ip != NULL ? G.ip : MG_IP);
    if (it_df_start(&G.mgr, G.dir, "manager", "manager", "--listen", listen, "--rpc-listen", listen,
                    "--data-dir", dd, "--auth-password-iterations", "1000", f1, f2, NULL) != 0)
        return -1;
    snprintf(G.addr, sizeof(G.addr), "%s", it_proc_ready_str(&G.mgr, "rest"));
    return 0;
}

static void
mg_setup(void)
{
    memset(&G, 0, sizeof(G));
    G.dir = it_tmpdir();
    ck_assert_int_eq(mg_start(NULL, NULL), 0);
}

static void
mg_setup_audit(void)
{
    memset(&G, 0, sizeof(G));
    G.ip = MG_AUDIT_IP;
    G.dir = it_tmpdir();
    ck_assert_int_eq(mg_start(NULL, NULL), 0);
}

static void
mg_teardown(void)
{
    if (G.mgr.pid > 0)
        it_proc_kill(&G.mgr);
    cJSON_Delete(G.mgr.ready);
    it_rmtree(G.dir);
    free(G.dir);
}

/*
 * method path with body (NULL: none) and auth ("Bearer <jwt>", another header such as
 * "Cookie: jwt=..", or NULL):
 * returns the status, the body in *out (free it; may be NULL) and the headers in G.headers.
 */
static int
mg_req(const char *method, const char *path, const char *auth, const char *body, char **out)
{
    char bpath[600], hpath[700], hdr[5000], *code = NULL, *text = NULL;
    FILE *f;
    size_t n;
    int status;

    snprintf(bpath, sizeof(bpath), "%.500s/req.body", G.dir);
    snprintf(hpath, sizeof(hpath), "%s/resp.headers", G.dir);
    if (body != NULL) {
        f = fopen(bpath, "w");
        ck_assert_ptr_nonnull(f);
        fputs(body, f);
        fclose(f);
    }
    hdr[0] = '\0';
    if (auth != NULL)
        snprintf(hdr, sizeof(hdr), "-H '%s%s'",
                 strncmp(auth, "Bearer ", 7) == 0 ? "Authorization: " : "", auth);
    ck_assert_int_eq(
            it_shf(&code, 30,
                   "curl -s -g -X %s %s %s%s %s -D %s -o %s.out -w '%%{http_code}' "
                   "'http://%s%s'",
                   method, hdr,
                   body != NULL ? "-H 'Content-Type: application/json' --data-binary @" : "",
                   body != NULL ? bpath : "", "", hpath, bpath, G.addr, path),
            0);
    status = atoi(code);
    free(code);
    G.headers[0] = '\0';
    if ((f = fopen(hpath, "r")) != NULL) {
        n = fread(G.headers, 1, sizeof(G.headers) - 1, f);
        G.headers[n] = '\0';
        fclose(f);
    }
    snprintf(hpath, sizeof(hpath), "%s.out", bpath);
    if ((f = fopen(hpath, "r")) != NULL) {
        text = calloc(1, 1 << 20);
        n = fread(text, 1, (1 << 20) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    if (out != NULL)
        *out = text;
    else
        free(text);
    return status;
}

/* The value of header name in the last response (copied into a static buffer), or NULL. */
static const char *
mg_header(const char *name)
{
    static char val[4096];
    size_t nlen = strlen(name);
    const char *p = G.headers, *end;

    for (; p != NULL && *p != '\0'; p = strchr(p, '\n') != NULL ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            p += strspn(p, " ");
            end = p + strcspn(p, "\r\n");
            snprintf(val, sizeof(val), "%.*s", (int)(end - p), p);
            return val;
        }
    }
    return NULL;
}

START_TEST(test_healthy_metrics_restart)
{
    char *body = NULL, *log = NULL;
    int status;

    ck_assert_int_eq(mg_req("GET", "/healthy", NULL, NULL, &body), 200);
    ck_assert_str_eq(body, "\"OK\"");
    free(body);
    ck_assert_int_eq(mg_req("GET", "/metrics", NULL, NULL, &body), 200);
    ck_assert_ptr_nonnull(strstr(body, "dragonfly_manager_requests_total"));
    free(body);
    /* the first start warns about root's default password, and so does every start */
    ck_assert_int_eq(
            it_shf(&log, 10, "grep -c 'root still has the default password' %s", G.mgr.log_path),
            0);
    ck_assert_int_eq(atoi(log), 1);
    free(log);
    ck_assert_int_eq(it_proc_stop(&G.mgr), 0);
    cJSON_Delete(G.mgr.ready);
    G.mgr.ready = NULL;
    ck_assert_int_eq(mg_start(NULL, NULL), 0);
    ck_assert_int_eq(mg_req("GET", "/healthy", NULL, NULL, NULL), 200);
    ck_assert_int_eq(
            it_shf(&log, 10, "grep -c 'root still has the default password' %s", G.mgr.log_path),
            0);
    ck_assert_int_eq(atoi(log), 2);
    free(log);
    ck_assert_int_eq(it_shf(&log, 10, "grep -c 'first start' %s", G.mgr.log_path), 0);
    ck_assert_int_eq(atoi(log), 1); /* seeded once */
    free(log);
    /* an API path no route has, and a missing file: 404 (any other path is the console's) */
    status = mg_req("GET", "/api/v1/nope", NULL, NULL, &body);
    ck_assert_int_eq(status, 404);
    ck_assert_str_eq(body, "{\"message\":\"Not Found\"}");
    free(body);
    ck_assert_int_eq(mg_req("GET", "/nope.js", NULL, NULL, NULL), 404);
}

END_TEST

START_TEST(test_newer_database_refused)
{
    char *out = NULL;
    int rv;

    ck_assert_int_eq(it_proc_stop(&G.mgr), 0);
    ck_assert_int_eq(
            it_shf(NULL, 10, "sqlite3 %s/data/manager.db 'PRAGMA user_version = 1000'", G.dir), 0);
    rv = it_shf(&out, 30,
                "%s manager --listen " MG_IP ":0 --rpc-listen " MG_IP
                ":0 --data-dir %s/data 2>&1; echo status=$?",
                it_bin(), G.dir);
    ck_assert_int_eq(rv, 0);
    ck_assert_msg(strstr(out, "schema version 1000 is newer than this binary's") != NULL, "%s",
                  out);
    ck_assert_msg(strstr(out, "status=0") == NULL, "%s", out);
    free(out);
}

END_TEST

/* The string value of key in the JSON document text (copied, static), or NULL. */
static const char *
mg_json_str(const char *text, const char *key)
{
    static char val[4096];
    cJSON *doc = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

    if (!cJSON_IsString(v)) {
        cJSON_Delete(doc);
        return NULL;
    }
    snprintf(val, sizeof(val), "%s", v->valuestring);
    cJSON_Delete(doc);
    return val;
}

/* Sign in: returns "Bearer <token>" (static; copy it before the next call), or NULL. */
static const char *
mg_signin(const char *name, const char *password)
{
    static char auth[4200];
    char body[256], *out = NULL;
    const char *tok;
    int status;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"%s\"}", name, password);
    status = mg_req("POST", "/api/v1/users/signin", NULL, body, &out);
    tok = status == 200 ? mg_json_str(out, "token") : NULL;
    free(out);
    if (tok == NULL)
        return NULL;
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    return auth;
}

static void
mg_expect(const char *method, const char *path, const char *auth, const char *body, int want,
          const char *want_body)
{
    char *out = NULL;
    int status = mg_req(method, path, auth, body, &out);

    ck_assert_msg(status == want, "%s %s: %d %s, want %d", method, path, status,
                  out != NULL ? out : "", want);
    if (want_body != NULL)
        ck_assert_msg(out != NULL && strcmp(out, want_body) == 0, "%s %s: %s, want %s", method,
                      path, out != NULL ? out : "(none)", want_body);
    free(out);
}

START_TEST(test_signin_tokens_and_users)
{
    char root[4200], guest[4200], cookie[4300], path[4300], *out = NULL;
    const char *cookie_hdr;

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    ck_assert(strncmp(root, "Bearer ey", 9) == 0);
    /* the session cookie: Path=/, two weeks, out of scripts' reach, not sent cross-site */
    cookie_hdr = mg_header("Set-Cookie");
    ck_assert_ptr_nonnull(cookie_hdr);
    ck_assert_ptr_nonnull(strstr(cookie_hdr, "; Path=/; Max-Age=1209600; HttpOnly; SameSite=Lax"));
    /* the list, with upstream's Link header, by Bearer, cookie and ?token= */
    mg_expect("GET", "/api/v1/users", root, NULL, 200, NULL);
    ck_assert_str_eq(
            mg_header("Link"),
            "</api/v1/users?page=1&per_page=10>;rel=prev,</api/v1/users?page=1&per_page=10>"
            ";rel=next,</api/v1/users?page=1&per_page=10>;rel=first,</api/v1/users?page=1&"
            "per_page=10>;rel=last");
    snprintf(cookie, sizeof(cookie), "Cookie: jwt=%s", root + 7);
    mg_expect("GET", "/api/v1/users/1", cookie, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/api/v1/users/1/roles?token=%s", root + 7);
    mg_expect("GET", path, NULL, NULL, 200, "[\"root\"]");
    /* wrong password, bad body, unknown user: 401 Unauthorized with the realm */
    mg_expect("POST", "/api/v1/users/signin", NULL,
              "{\"name\":\"root\",\"password\":\"dragonflY\"}", 401,
              "{\"message\":\"Unauthorized\"}");
    ck_assert_str_eq(mg_header("WWW-Authenticate"), "JWT realm=Dragonfly");
    mg_expect("POST", "/api/v1/users/signin", NULL, "{\"name\":\"ro\",\"password\":\"dragonfly\"}",
              401, "{\"message\":\"Unauthorized\"}");
    mg_expect("POST", "/api/v1/users/signin", NULL,
              "{\"name\":\"nobody\",\"password\":\"dragonfly\"}", 401, NULL);
    mg_expect("POST", "/api/v1/users/signin", NULL, "not json", 422, NULL);
    /* sign-up: a guest; the name is taken once; the validator's 422 */
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"alice\",\"password\":\"alicepass1\",\"email\":\"a@example.com\"}", 200,
              NULL);
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"alice\",\"password\":\"alicepass2\",\"email\":\"b@example.com\"}", 409,
              "{\"message\":\"Conflict\"}");
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"bob\",\"password\":\"bobpass12\",\"email\":\"not-an-email\"}", 422,
              NULL);
    mg_expect("POST", "/api/v1/users/signup", NULL, "{\"name\":\"bob\",\"password\":\"short\"}",
              422, NULL);
    snprintf(guest, sizeof(guest), "%s", mg_signin("alice", "alicepass1"));
    mg_expect("GET", "/api/v1/users/2/roles", guest, NULL, 200, "[\"guest\"]");
    /* a guest reads, never writes */
    mg_expect("GET", "/api/v1/users", guest, NULL, 200, NULL);
    mg_expect("PATCH", "/api/v1/users/2", guest, "{\"bio\":\"x\"}", 401,
              "{\"message\":\"permission deny\"}");
    mg_expect("PUT", "/api/v1/users/2/roles/root", guest, NULL, 401,
              "{\"message\":\"permission deny\"}");
    /* root writes; SQL-looking input is stored as it came */
    mg_req("PATCH", "/api/v1/users/2", root, "{\"bio\":\"x'); DROP TABLE users;--\"}", &out);
    ck_assert_str_eq(mg_json_str(out, "bio"), "x'); DROP TABLE users;--");
    free(out);
    mg_expect("PUT", "/api/v1/users/2/roles/root", root, NULL, 200, "");
    mg_expect("PUT", "/api/v1/users/2/roles/root", root, NULL, 409, NULL);
    mg_expect("PATCH", "/api/v1/users/2", guest, "{\"bio\":\"now root\"}", 200, NULL);
    mg_expect("DELETE", "/api/v1/users/2/roles/root", root, NULL, 200, "");
    mg_expect("DELETE", "/api/v1/users/2/roles/root", root, NULL, 404,
              "{\"message\":\"record not found\"}");
    mg_expect("PATCH", "/api/v1/users/2", guest, "{\"bio\":\"y\"}", 401, NULL);
    mg_expect("GET", "/api/v1/users/99", root, NULL, 404, "{\"message\":\"record not found\"}");
    mg_expect("GET", "/api/v1/users/abc", root, NULL, 422, NULL);
    mg_expect("GET", "/api/v1/users?per_page=10000001", root, NULL, 422, NULL);
    mg_req("GET", "/api/v1/users?per_page=1&page=2&name=alice", root, NULL, &out);
    ck_assert_str_eq(out, "[]"); /* one alice, on page 1 */
    free(out);
    ck_assert_str_eq(
            mg_header("Link"),
            "</api/v1/users?name=alice&page=1&per_page=1>;rel=prev,</api/v1/users?name="
            "alice&page=3&per_page=1>;rel=next,</api/v1/users?name=alice&page=1&per_page=1>"
            ";rel=first,</api/v1/users?name=alice&page=1&per_page=1>;rel=last");
    /* signout clears the cookie */
    mg_expect("POST", "/api/v1/users/signout", NULL, NULL, 200, "");
    ck_assert_str_eq(mg_header("Set-Cookie"), "jwt=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}

END_TEST

START_TEST(test_forged_and_foreign_tokens)
{
    char root[4200], forged[4300], *dot;
    struct it_proc first;
    char first_addr[64];

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    /* alg none with the same claims */
    dot = strchr(root, '.');
    snprintf(forged, sizeof(forged), "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0%.*s.",
             (int)(strrchr(root, '.') - dot), dot);
    mg_expect("GET", "/api/v1/users", forged, NULL, 401, "{\"message\":\"Unauthorized\"}");
    /* a flipped signature character */
    snprintf(forged, sizeof(forged), "%s", root);
    forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';
    mg_expect("GET", "/api/v1/users", forged, NULL, 401, NULL);
    mg_expect("GET", "/api/v1/users", "Bearer garbage", NULL, 401, NULL);
    mg_expect("GET", "/api/v1/users", NULL, NULL, 401, "{\"message\":\"Unauthorized\"}");
    /* another installation (its own data dir, its own key) refuses this one's token */
    first = G.mgr;
    snprintf(first_addr, sizeof(first_addr), "%s", G.addr);
    {
        char dd[600];
        struct it_proc other;

        snprintf(dd, sizeof(dd), "%s/other", G.dir);
        memset(&other, 0, sizeof(other));
        ck_assert_int_eq(it_df_start(&other, G.dir, "other", "manager", "--listen", MG_IP ":0",
                                     "--rpc-listen", MG_IP ":0", "--data-dir", dd,
                                     "--auth-password-iterations", "1000", NULL),
                         0);
        snprintf(G.addr, sizeof(G.addr), "%s", it_proc_ready_str(&other, "rest"));
        mg_expect("GET", "/api/v1/users", root, NULL, 401, NULL);
        it_proc_kill(&other);
        cJSON_Delete(other.ready);
    }
    G.mgr = first;
    snprintf(G.addr, sizeof(G.addr), "%s", first_addr);
    mg_expect("GET", "/api/v1/users", root, NULL, 200, NULL);
}

END_TEST

START_TEST(test_expiry_refresh_reset_password)
{
    char root[4200], *log = NULL;

    /* tokens of one second: expired after two, refreshable for a week */
    ck_assert_int_eq(it_proc_stop(&G.mgr), 0);
    cJSON_Delete(G.mgr.ready);
    ck_assert_int_eq(mg_start("--auth-jwt-timeout", "1s"), 0);
    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    it_sleep_ms(2200);
    mg_expect("GET", "/api/v1/users", root, NULL, 401, NULL);
    mg_expect("POST", "/api/v1/users/refresh_token", root, NULL, 200, NULL);
    mg_expect("POST", "/api/v1/users/refresh_token", NULL, NULL, 401, NULL);
    /* password reset needs the old password */
    mg_expect("POST", "/api/v1/users/1/reset_password", NULL,
              "{\"old_password\":\"wrongpass\",\"new_password\":\"n3w-passw0rd\"}", 401, NULL);
    mg_expect("POST", "/api/v1/users/1/reset_password", NULL,
              "{\"old_password\":\"dragonfly\",\"new_password\":\"n3w\"}", 422, NULL);
    mg_expect("POST", "/api/v1/users/9/reset_password", NULL,
              "{\"old_password\":\"dragonfly\",\"new_password\":\"n3w-passw0rd\"}", 404, NULL);
    mg_expect("POST", "/api/v1/users/1/reset_password", NULL,
              "{\"old_password\":\"dragonfly\",\"new_password\":\"n3w-passw0rd\"}", 200, "");
    ck_assert_ptr_null(mg_signin("root", "dragonfly"));
    ck_assert_ptr_nonnull(mg_signin("root", "n3w-passw0rd"));
    /* a restart no longer warns about the default password */
    ck_assert_int_eq(it_proc_stop(&G.mgr), 0);
    cJSON_Delete(G.mgr.ready);
    ck_assert_int_eq(mg_start(NULL, NULL), 0);
    ck_assert_ptr_nonnull(mg_signin("root", "n3w-passw0rd"));
    ck_assert_int_eq(
            it_shf(&log, 10, "grep -c 'root still has the default password' %s", G.mgr.log_path),
            0);
    ck_assert_int_eq(atoi(log), 2); /* the two starts before the reset */
    free(log);
}

END_TEST

START_TEST(test_oversized_body_refused)
{
    char *big = malloc((2 << 20) + 64), *out = NULL;

    memset(big, 'a', 2 << 20);
    memcpy(big, "{\"name\":\"", 9);
    strcpy(big + (2 << 20), "\"}");
    ck_assert_int_eq(mg_req("POST", "/api/v1/users/signup", NULL, big, &out), 413);
    free(out);
    free(big);
    mg_expect("GET", "/healthy", NULL, NULL, 200, NULL);
}

END_TEST

START_TEST(test_roles_and_permissions)
{
    char root[4200], user[4200];

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"olga\",\"password\":\"olgapass1\",\"email\":\"o@example.com\"}", 200,
              NULL);
    snprintf(user, sizeof(user), "%s", mg_signin("olga", "olgapass1"));
    mg_expect("POST", "/api/v1/roles", root,
              "{\"role\":\"ops\",\"permissions\":[{\"object\":\"users\",\"action\":\"*\"}]}", 200,
              "");
    mg_expect("POST", "/api/v1/roles", root, "{\"role\":\"ops\",\"permissions\":[]}", 409, NULL);
    mg_expect("POST", "/api/v1/roles", root,
              "{\"role\":\"bad\",\"permissions\":[{\"object\":\"users\",\"action\":\"write\"}]}",
              422, NULL);
    mg_expect("POST", "/api/v1/roles", root,
              "{\"role\":\"bad\",\"permissions\":[{\"object\":\"nothing\",\"action\":\"*\"}]}", 422,
              NULL);
    mg_expect("GET", "/api/v1/roles", user, NULL, 200, "[\"guest\",\"ops\",\"root\"]");
    mg_expect("GET", "/api/v1/roles/ops", user, NULL, 200,
              "[{\"object\":\"users\",\"action\":\"*\"}]");
    mg_expect("PATCH", "/api/v1/users/2", user, "{\"bio\":\"a\"}", 401, NULL);
    mg_expect("PUT", "/api/v1/users/2/roles/ops", root, NULL, 200, "");
    mg_expect("PATCH", "/api/v1/users/2", user, "{\"bio\":\"b\"}", 200, NULL);
    mg_expect("DELETE", "/api/v1/roles/ops/permissions", root,
              "{\"object\":\"users\",\"action\":\"*\"}", 200, "");
    mg_expect("DELETE", "/api/v1/roles/ops/permissions", root,
              "{\"object\":\"users\",\"action\":\"*\"}", 404, NULL);
    mg_expect("PATCH", "/api/v1/users/2", user, "{\"bio\":\"c\"}", 401, NULL);
    mg_expect("POST", "/api/v1/roles/ops/permissions", root,
              "{\"object\":\"users\",\"action\":\"*\"}", 200, "");
    mg_expect("PATCH", "/api/v1/users/2", user, "{\"bio\":\"d\"}", 200, NULL);
    mg_expect("DELETE", "/api/v1/roles/guest", root, NULL, 422, NULL);
    mg_expect("DELETE", "/api/v1/roles/ops", root, NULL, 200, "");
    mg_expect("GET", "/api/v1/roles/ops", root, NULL, 404, NULL);
    mg_expect("PATCH", "/api/v1/users/2", user, "{\"bio\":\"e\"}", 401, NULL);
    mg_expect("GET", "/api/v1/permissions", user, NULL, 200, NULL);
}

END_TEST

/* The number of elements of the JSON array text, or -1. */
static int
mg_count(const char *text)
{
    cJSON *doc = cJSON_Parse(text);
    int n = cJSON_IsArray(doc) ? cJSON_GetArraySize(doc) : -1;

    cJSON_Delete(doc);
    return n;
}

/* GET path as auth and return the number of elements of the array it answers. */
static int
mg_list_len(const char *path, const char *auth)
{
    char *out = NULL;
    int n;

    ck_assert_int_eq(mg_req("GET", path, auth, NULL, &out), 200);
    n = mg_count(out);
    free(out);
    return n;
}

#define MG_CLUSTER2                                                                                     \
    "{\"name\":\"cluster-2\",\"bio\":\"\",\"scopes\":{\"idc\":\"idc1|idc2\",\"location\":\"cn|zj|hz\"," \
    "\"cidrs\":[\"10.0.0.0/8\"],\"hostnames\":[\"^node-.*$\"]},\"scheduler_cluster_config\":{"          \
    "\"candidate_parent_limit\":3,\"filter_parent_limit\":15,\"job_rate_limit\":10},"                   \
    "\"seed_peer_cluster_config\":{\"load_limit\":2000,\"block_list\":{}},\"peer_cluster_config\":{"    \
    "\"load_limit\":200,\"block_list\":{}},\"is_default\":false}"

START_TEST(test_clusters)
{
    char root[4200], guest[4200], *out = NULL, *log = NULL;
    cJSON *doc;
    int sc;

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"gus\",\"password\":\"guspass12\",\"email\":\"g@example.com\"}", 200,
              NULL);
    snprintf(guest, sizeof(guest), "%s", mg_signin("gus", "guspass12"));
    /* the seeded cluster-1 */
    ck_assert_int_eq(mg_req("GET", "/api/v1/clusters/1", guest, NULL, &out), 200);
    doc = cJSON_Parse(out);
    ck_assert_str_eq(cJSON_GetObjectItem(doc, "name")->valuestring, "cluster-1");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "is_default")));
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "seed_peer_cluster_id")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "scheduler_cluster_config"),
                                         "candidate_parent_limit")
                             ->valueint,
                     3);
    cJSON_Delete(doc);
    free(out);
    /* the facade: a scheduler cluster and a seed-peer cluster, the id the scheduler's */
    mg_expect("POST", "/api/v1/clusters", guest, MG_CLUSTER2, 401,
              "{\"message\":\"permission deny\"}");
    ck_assert_int_eq(mg_req("POST", "/api/v1/clusters", root, MG_CLUSTER2, &out), 200);
    doc = cJSON_Parse(out);
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "id")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "scheduler_cluster_id")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "seed_peer_cluster_id")->valueint, 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "scopes"), "idc")->valuestring,
                     "idc1|idc2");
    ck_assert_int_eq(
            cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "peer_cluster_config"), "load_limit")
                    ->valueint,
            200);
    cJSON_Delete(doc);
    free(out);
    /* the same name again: 409, and nothing half-made */
    mg_expect("POST", "/api/v1/clusters", root, MG_CLUSTER2, 409, "{\"message\":\"Conflict\"}");
    ck_assert_int_eq(mg_list_len("/api/v1/seed-peer-clusters", root), 2);
    /* upstream's bounds */
    mg_expect("POST", "/api/v1/clusters", root,
              "{\"name\":\"c3\",\"scheduler_cluster_config\":{\"candidate_parent_limit\":21},"
              "\"seed_peer_cluster_config\":{},\"peer_cluster_config\":{}}",
              422, NULL);
    mg_expect("POST", "/api/v1/clusters", root,
              "{\"name\":\"c3\",\"scheduler_cluster_config\":{\"filter_parent_limit\":9},"
              "\"seed_peer_cluster_config\":{},\"peer_cluster_config\":{}}",
              422, NULL);
    mg_expect("POST", "/api/v1/clusters", root,
              "{\"name\":\"c3\",\"scheduler_cluster_config\":{},\"seed_peer_cluster_config\":{"
              "\"load_limit\":50001},\"peer_cluster_config\":{}}",
              422, NULL);
    mg_expect("POST", "/api/v1/clusters", root,
              "{\"name\":\"c3\",\"scheduler_cluster_config\":{},\"seed_peer_cluster_config\":{},"
              "\"peer_cluster_config\":{\"load_limit\":2001}}",
              422, NULL);
    mg_expect("POST", "/api/v1/clusters", root,
              "{\"name\":\"c3\",\"scheduler_cluster_config\":{},\"seed_peer_cluster_config\":{}}",
              422, "{\"errors\":\"peer_cluster_config: required\"}");
    /* one default: cluster-2 takes it from cluster-1 */
    mg_expect("PATCH", "/api/v1/clusters/2", root, "{\"is_default\":true,\"bio\":\"two\"}", 200,
              NULL);
    ck_assert_int_eq(mg_req("GET", "/api/v1/scheduler-clusters/1", root, NULL, &out), 200);
    ck_assert_ptr_nonnull(strstr(out, "\"is_default\":false"));
    free(out);
    ck_assert_int_eq(mg_req("GET", "/api/v1/seed-peer-clusters/2", root, NULL, &out), 200);
    ck_assert_ptr_nonnull(strstr(out, "\"bio\":\"two\""));
    free(out);
    /* pagination over scheduler clusters */
    ck_assert_int_eq(mg_list_len("/api/v1/scheduler-clusters?per_page=1&page=2", root), 1);
    ck_assert_str_eq(mg_header("Link"),
                     "</api/v1/scheduler-clusters?page=1&per_page=1>;rel=prev,</api/v1/"
                     "scheduler-clusters?page=2&per_page=1>;rel=next,</api/v1/scheduler-clusters?"
                     "page=1&per_page=1>;rel=first,</api/v1/scheduler-clusters?page=2&per_page=1>"
                     ";rel=last");
    ck_assert_int_eq(mg_list_len("/api/v1/scheduler-clusters?name=cluster-2", root), 1);
    /* scheduler clusters on their own */
    mg_expect("POST", "/api/v1/scheduler-clusters", root,
              "{\"name\":\"sc-x\",\"config\":{},\"client_config\":{}}", 422, NULL);
    mg_expect("POST", "/api/v1/scheduler-clusters", root,
              "{\"name\":\"sc-x\",\"config\":{},\"client_config\":{},\"seed_client_config\":{},"
              "\"seed_peer_cluster_id\":99}",
              404, NULL);
    ck_assert_int_eq(mg_req("POST", "/api/v1/scheduler-clusters", root,
                            "{\"name\":\"sc-x\",\"config\":{},\"client_config\":{},"
                            "\"seed_client_config\":{},\"seed_peer_cluster_id\":1}",
                            &out),
                     200);
    doc = cJSON_Parse(out);
    sc = cJSON_GetObjectItem(doc, "id")->valueint;
    cJSON_Delete(doc);
    free(out);
    mg_expect("PATCH", "/api/v1/scheduler-clusters/99", root, "{\"bio\":\"x\"}", 404,
              "{\"message\":\"record not found\"}");
    mg_expect("PATCH", "/api/v1/scheduler-clusters/3", root, "{\"name\":\"cluster-1\"}", 409, NULL);
    /* seed-peer clusters */
    mg_expect("POST", "/api/v1/seed-peer-clusters", root,
              "{\"name\":\"spc-x\",\"config\":{\"load_limit\":50001}}", 422, NULL);
    mg_expect("POST", "/api/v1/seed-peer-clusters", root,
              "{\"name\":\"spc-x\",\"config\":{\"load_limit\":10}}", 200, NULL);
    mg_expect("PATCH", "/api/v1/seed-peer-clusters/3", root, "{\"name\":\"cluster-1\"}", 409, NULL);
    {
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/seed-peer-clusters/3/scheduler-clusters/%d", sc);
        mg_expect("PUT", path, root, NULL, 200, "");
        mg_expect("PUT", "/api/v1/seed-peer-clusters/3/scheduler-clusters/99", root, NULL, 404,
                  NULL);
    }
    mg_expect("DELETE", "/api/v1/seed-peer-clusters/3", root, NULL, 200, "");
    mg_expect("GET", "/api/v1/seed-peer-clusters/3", root, NULL, 404, NULL);
    /* deleting a cluster deletes both halves */
    mg_expect("DELETE", "/api/v1/clusters/2", guest, NULL, 401, NULL);
    mg_expect("DELETE", "/api/v1/clusters/2", root, NULL, 200, "");
    mg_expect("GET", "/api/v1/clusters/2", root, NULL, 404, NULL);
    mg_expect("GET", "/api/v1/seed-peer-clusters/2", root, NULL, 404, NULL);
    mg_expect("DELETE", "/api/v1/clusters/2", root, NULL, 404, NULL);
    /* all of it survives a restart */
    ck_assert_int_eq(it_proc_stop(&G.mgr), 0);
    cJSON_Delete(G.mgr.ready);
    ck_assert_int_eq(mg_start(NULL, NULL), 0);
    ck_assert_int_eq(mg_list_len("/api/v1/clusters", root), 2);
    ck_assert_int_eq(mg_list_len("/api/v1/scheduler-clusters?name=sc-x", root), 1);
    /* conflicts and misses were the client's: the only WARN is root's default password */
    ck_assert_int_eq(it_shf(&log, 10, "grep WARN %s | grep -vc 'default password'", G.mgr.log_path),
                     1);
    ck_assert_int_eq(atoi(log), 0);
    free(log);
}

END_TEST

/* Create a PAT of user 1 as auth with scopes (JSON) and expiry: "Bearer <token>" in out. */
static void
mg_pat(const char *auth, const char *scopes, const char *expired_at, char *out, size_t len)
{
    char body[512], *resp = NULL;
    const char *tok;

    snprintf(body, sizeof(body),
             "{\"name\":\"t\",\"scopes\":%s,\"expired_at\":\"%s\",\"user_id\":1}", scopes,
             expired_at);
    ck_assert_int_eq(mg_req("POST", "/api/v1/personal-access-tokens", auth, body, &resp), 200);
    tok = mg_json_str(resp, "token");
    ck_assert_ptr_nonnull(tok);
    ck_assert_uint_eq(strlen(tok), 43);
    snprintf(out, len, "Bearer %s", tok);
    free(resp);
}

START_TEST(test_personal_access_tokens)
{
    char root[4200], guest[4200], pat[128], job[128], old[128], path[256], *out = NULL;
    cJSON *doc;

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"pete\",\"password\":\"petepass1\",\"email\":\"p@example.com\"}", 200,
              NULL);
    snprintf(guest, sizeof(guest), "%s", mg_signin("pete", "petepass1"));
    mg_expect("POST", "/api/v1/personal-access-tokens", guest,
              "{\"name\":\"t\",\"expired_at\":\"2099-01-01T00:00:00Z\",\"user_id\":2}", 401,
              "{\"message\":\"permission deny\"}");
    mg_expect("POST", "/api/v1/personal-access-tokens", root, "{\"name\":\"t\",\"user_id\":1}", 422,
              NULL);
    mg_expect("POST", "/api/v1/personal-access-tokens", root,
              "{\"name\":\"t\",\"expired_at\":\"2099-01-01T00:00:00Z\",\"user_id\":99}", 404, NULL);
    mg_expect("POST", "/api/v1/personal-access-tokens", root,
              "{\"name\":\"t\",\"scopes\":[\"admin\"],\"expired_at\":\"2099-01-01T00:00:00Z\","
              "\"user_id\":1}",
              422, NULL);
    mg_pat(root, "[\"cluster\"]", "2099-01-01T00:00:00Z", pat, sizeof(pat));
    mg_pat(root, "[\"job\"]", "2099-01-01T00:00:00+08:00", job, sizeof(job));
    mg_pat(root, "[]", "2020-01-01T00:00:00.5Z", old, sizeof(old));
    /* the list never shows a token, to a guest or to root; empty scopes mean both */
    ck_assert_int_eq(mg_req("GET", "/api/v1/personal-access-tokens", guest, NULL, &out), 200);
    ck_assert_ptr_null(strstr(out, "token\""));
    ck_assert_ptr_null(strstr(out, pat + 7));
    doc = cJSON_Parse(out);
    ck_assert_int_eq(cJSON_GetArraySize(doc), 3);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 2), "scopes")),
                     2);
    cJSON_Delete(doc);
    free(out);
    mg_expect("GET", "/api/v1/personal-access-tokens?user_id=2", root, NULL, 200, "[]");
    /* /oapi: the PAT with its scope, by header or ?access_token= */
    ck_assert_int_eq(mg_list_len("/oapi/v1/clusters", pat), 1);
    snprintf(path, sizeof(path), "/oapi/v1/clusters/1?access_token=%s", pat + 7);
    mg_expect("GET", path, NULL, NULL, 200, NULL);
    mg_expect("POST", "/oapi/v1/clusters", pat, MG_CLUSTER2, 200, NULL);
    mg_expect("GET", "/oapi/v1/clusters", job, NULL, 403,
              "{\"message\":\"Token doesn't have permission to access this resource. Required "
              "permission: cluster\"}");
    mg_expect("GET", "/oapi/v1/clusters", old, NULL, 403, "{\"message\":\"Token has expired\"}");
    mg_expect("GET", "/oapi/v1/clusters", root, NULL, 401, "{\"message\":\"Unauthorized\"}");
    mg_expect("GET", "/oapi/v1/clusters", "Bearer nope", NULL, 401, NULL);
    mg_expect("GET", "/oapi/v1/clusters", NULL, NULL, 401, NULL);
    /* a PAT is no JWT */
    mg_expect("GET", "/api/v1/clusters", pat, NULL, 401, NULL);
    /* inactive, then deleted */
    mg_expect("PATCH", "/api/v1/personal-access-tokens/1", root, "{\"state\":\"inactive\"}", 200,
              NULL);
    mg_expect("GET", "/oapi/v1/clusters", pat, NULL, 403, "{\"message\":\"Token is inactive\"}");
    mg_expect("PATCH", "/api/v1/personal-access-tokens/1", root, "{\"state\":\"active\"}", 200,
              NULL);
    ck_assert_int_eq(mg_list_len("/oapi/v1/clusters", pat), 2);
    mg_expect("DELETE", "/api/v1/personal-access-tokens/1", root, NULL, 200, "");
    mg_expect("GET", "/oapi/v1/clusters", pat, NULL, 401, NULL);
    mg_expect("GET", "/api/v1/personal-access-tokens/1", root, NULL, 404, NULL);
    /* the database holds no token, only its HMAC (the dump itself works: its table is there) */
    ck_assert_int_eq(it_shf(NULL, 10,
                            "sqlite3 %s/data/manager.db .dump | grep -q 'INSERT INTO "
                            "personal_access_tokens'",
                            G.dir),
                     0);
    ck_assert_int_eq(
            it_shf(NULL, 10, "sqlite3 %s/data/manager.db .dump | grep -qF -e '%s'", G.dir, job + 7),
            1);
}

END_TEST

/* Fill the parameters of a route pattern: ids that exist nowhere, a role no one has. */
static void
mg_fill(const char *pattern, char *out, size_t len)
{
    size_t o = 0;

    for (const char *p = pattern; *p != '\0' && o + 16 < len;) {
        if (*p == ':' || *p == '*') {
            const char *end = p + strcspn(p, "/");
            const char *v = strncmp(p, ":role", 5) == 0   ? "nosuchrole"
                            : strncmp(p, ":name", 5) == 0 ? "github"
                                                          : "999999";

            o += (size_t)snprintf(out + o, len - o, "%s", v);
            p = end;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/*
 * Every route of the table, as `dragonfly manager --routes` lists it: anonymous callers get
 * 401 except on the open routes, a guest reads and never writes, root does both.
 */
START_TEST(test_rbac_route_table)
{
    static const char *const open_routes[] = {"GET /healthy",
                                              "GET /readyz",
                                              "GET /metrics",
                                              "GET /_ping",
                                              "POST /api/v1/users/signin",
                                              "POST /api/v1/users/signout",
                                              "POST /api/v1/users/signup",
                                              "POST /api/v1/users/refresh_token",
                                              "POST /api/v1/users/:id/reset_password",
                                              "GET /*path",
                                              "GET /api/*rest",
                                              "POST /api/*rest",
                                              "PUT /api/*rest",
                                              "PATCH /api/*rest",
                                              "DELETE /api/*rest",
                                              "GET /oapi/*rest",
                                              "POST /oapi/*rest",
                                              "PUT /oapi/*rest",
                                              "PATCH /oapi/*rest",
                                              "DELETE /oapi/*rest"};
    char root[4200], guest[4200], pat[128], *table = NULL, *line, *save = NULL, method[16],
                                            pattern[256], access[32], path[512], *out;
    size_t nopen = 0, nroutes = 0;
    int status;

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"gina\",\"password\":\"ginapass1\",\"email\":\"g@example.com\"}", 200,
              NULL);
    snprintf(guest, sizeof(guest), "%s", mg_signin("gina", "ginapass1"));
    mg_pat(root, "[]", "2099-01-01T00:00:00Z", pat, sizeof(pat));
    ck_assert_int_eq(it_shf(&table, 10, "%s manager --routes", it_bin()), 0);
    for (line = strtok_r(table, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        ck_assert_int_eq(sscanf(line, "%15s %255s %31s", method, pattern, access), 3);
        mg_fill(pattern, path, sizeof(path));
        nroutes++;
        if (strcmp(access, "open") == 0) {
            bool listed = false;
            char key[300];

            snprintf(key, sizeof(key), "%s %s", method, pattern);
            for (size_t i = 0; i < sizeof(open_routes) / sizeof(open_routes[0]); i++)
                listed |= strcmp(open_routes[i], key) == 0;
            ck_assert_msg(listed, "%s is open but not on the allowlist", key);
            nopen++;
            continue;
        }
        if (strcmp(access, "pat") == 0 || strcmp(access, "legacy") == 0) {
            /* /oapi (and Harbor's old routes by default): no JWT opens it, not even root's */
            const char *who[] = {NULL, guest, root};

            for (size_t i = 0; i < 3; i++) {
                out = NULL;
                status = mg_req(method, path, who[i], NULL, &out);
                ck_assert_msg(status == 401, "%s %s as %zu: %d %s", method, path, i, status, out);
                free(out);
            }
            out = NULL;
            status = mg_req(method, path, pat, NULL, &out);
            ck_assert_msg(status != 401 && status != 403 && status < 500, "pat %s %s: %d %s",
                          method, path, status, out);
            free(out);
            continue;
        }
        ck_assert_msg(strcmp(access, "jwt") == 0 || strcmp(access, "root") == 0, "%s %s: %s",
                      method, pattern, access);
        out = NULL;
        status = mg_req(method, path, NULL, NULL, &out);
        ck_assert_msg(status == 401 && strcmp(out, "{\"message\":\"Unauthorized\"}") == 0,
                      "anonymous %s %s: %d %s", method, path, status, out);
        free(out);
        out = NULL;
        status = mg_req(method, path, guest, NULL, &out);
        if (strcmp(method, "GET") == 0 && strcmp(access, "root") == 0)
            ck_assert_msg(status == 403 && strcmp(out, "{\"message\":\"Forbidden\"}") == 0,
                          "guest %s %s: %d %s (root only)", method, path, status, out);
        else if (strcmp(method, "GET") == 0)
            ck_assert_msg(status != 401 && status != 403, "guest %s %s: %d %s", method, path,
                          status, out);
        else
            ck_assert_msg(status == 401 && strcmp(out, "{\"message\":\"permission deny\"}") == 0,
                          "guest %s %s: %d %s", method, path, status, out);
        free(out);
        out = NULL;
        status = mg_req(method, path, root, NULL, &out);
        ck_assert_msg(status != 401 && status != 403 && status < 500, "root %s %s: %d %s", method,
                      path, status, out);
        free(out);
    }
    free(table);
    ck_assert_int_eq(nopen, sizeof(open_routes) / sizeof(open_routes[0]));
    ck_assert_int_gt(nroutes, nopen);
}

END_TEST

/*
 * The console on the REST port: files with their type, CSP, ETag and gzip; app routes answer
 * index.html; a cookie write needs X-Requested-With (CSRF), a Bearer write does not.
 */
START_TEST(test_console_and_csrf)
{
    char root[4200], cookie[4400], etag[128], *out = NULL;
    const char *h;

    ck_assert_int_eq(mg_req("GET", "/", NULL, NULL, &out), 200);
    ck_assert_ptr_nonnull(strstr(out, "<script type=\"module\" src=\"/js/app.js\"></script>"));
    free(out);
    ck_assert_str_eq(mg_header("Content-Type"), "text/html; charset=utf-8");
    ck_assert_str_eq(mg_header("Cache-Control"), "no-cache");
    ck_assert_str_eq(mg_header("X-Content-Type-Options"), "nosniff");
    ck_assert_str_eq(mg_header("X-Frame-Options"), "DENY");
    h = mg_header("Content-Security-Policy");
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(strstr(h, "script-src 'self';"));
    ck_assert_ptr_nonnull(strstr(h, "frame-ancestors 'none'"));
    ck_assert_ptr_null(strstr(h, "unsafe"));
    snprintf(etag, sizeof(etag), "%s", mg_header("ETag"));
    /* a deep link is the same page; a revalidation is a 304 */
    ck_assert_int_eq(mg_req("GET", "/clusters/2/schedulers", NULL, NULL, NULL), 200);
    ck_assert_str_eq(mg_header("ETag"), etag);
    {
        char inm[200];

        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
        ck_assert_int_eq(mg_req("GET", "/clusters", inm, NULL, NULL), 304);
        ck_assert_str_eq(mg_header("Content-Length") != NULL ? mg_header("Content-Length") : "0",
                         "0");
    }
    ck_assert_int_eq(mg_req("GET", "/js/app.js", "Accept-Encoding: gzip", NULL, NULL), 200);
    ck_assert_str_eq(mg_header("Content-Encoding"), "gzip");
    ck_assert_str_eq(mg_header("Content-Type"), "text/javascript; charset=utf-8");
    /* HEAD: the headers of a GET, no body */
    ck_assert_int_eq(it_shf(&out, 10,
                            "curl -s -I -o /dev/null -w '%%{http_code} %%{size_download}' "
                            "'http://%s/app.css'",
                            G.addr),
                     0);
    ck_assert_str_eq(out, "200 0");
    free(out);
    ck_assert_int_eq(mg_req("POST", "/clusters", NULL, "{}", NULL), 405);
    mg_expect("DELETE", "/oapi/v1/nothing", NULL, NULL, 404, "{\"message\":\"Not Found\"}");
    /* CSRF: the cookie alone writes nothing, with the header it does; Bearer needs none */
    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    snprintf(cookie, sizeof(cookie), "Cookie: jwt=%s", root + 7);
    mg_expect("PATCH", "/api/v1/users/1", cookie, "{\"bio\":\"csrf\"}", 403,
              "{\"message\":\"a write with the jwt cookie needs the header X-Requested-With\"}");
    mg_expect("POST", "/api/v1/users/signout", cookie, NULL, 403, NULL);
    mg_expect("GET", "/api/v1/users/1", cookie, NULL, 200, NULL); /* reads are not writes */
    snprintf(cookie, sizeof(cookie), "Cookie: jwt=%s' -H 'X-Requested-With: console", root + 7);
    mg_expect("PATCH", "/api/v1/users/1", cookie, "{\"bio\":\"csrf\"}", 200, NULL);
    mg_expect("PATCH", "/api/v1/users/1", root, "{\"bio\":\"bearer\"}", 200, NULL);
}

END_TEST

/* The rows of GET /api/v1/audits?<query> as root, as "ACTOR:name:OP:path:status" lines. */
static void
mg_audits(const char *root, const char *query, char *out, size_t len)
{
    char path[512], *body = NULL;
    const cJSON *e;
    cJSON *doc;
    size_t n = 0;

    snprintf(path, sizeof(path), "/api/v1/audits?per_page=100&%s", query);
    ck_assert_int_eq(mg_req("GET", path, root, NULL, &body), 200);
    doc = cJSON_Parse(body);
    ck_assert_msg(cJSON_IsArray(doc), "%s", body);
    out[0] = '\0';
    cJSON_ArrayForEach(e, doc)
    {
        ck_assert_str_eq(cJSON_GetObjectItem(e, "event_type")->valuestring, "API");
        ck_assert_str_eq(cJSON_GetObjectItem(e, "state")->valuestring,
                         cJSON_GetObjectItem(e, "status_code")->valueint / 100 == 2 ? "SUCCESS"
                                                                                    : "FAILURE");
        ck_assert_str_eq(cJSON_GetObjectItem(e, "ip")->valuestring, "127.0.0.1");
        n += (size_t)snprintf(out + n, len - n, "%s:%s:%s:%s:%d\n",
                              cJSON_GetObjectItem(e, "actor_type")->valuestring,
                              cJSON_GetObjectItem(e, "actor_name")->valuestring,
                              cJSON_GetObjectItem(e, "operation")->valuestring,
                              cJSON_GetObjectItem(e, "path")->valuestring,
                              cJSON_GetObjectItem(e, "status_code")->valueint);
        ck_assert_uint_lt(n, len);
    }
    cJSON_Delete(doc);
    free(body);
}

/*
 * The audit log: a sign-in, writes by root, a guest and a PAT, failed reads; successful reads
 * and the console's files are not recorded; no token, password or query string is stored;
 * the filters and the Link header; a guest gets 403.
 */
START_TEST(test_audit_log)
{
    char root[4200], guest[4200], pat[128], path[4400], rows[8192], *dump = NULL;

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    mg_expect("POST", "/api/v1/clusters", root, MG_CLUSTER2, 200, NULL);
    mg_expect("GET", "/api/v1/clusters", root, NULL, 200, NULL); /* a read: not recorded */
    mg_expect("GET", "/clusters/2", NULL, NULL, 200, NULL);      /* the console: not either */
    mg_expect("GET", "/api/v1/schedulers", NULL, NULL, 401, NULL);
    /* a token in the query (a secret): the path is recorded without it */
    snprintf(path, sizeof(path), "/api/v1/nope?token=%s", root + 7);
    mg_expect("GET", path, NULL, NULL, 404, NULL);
    mg_expect("POST", "/api/v1/users/signup", NULL,
              "{\"name\":\"gail\",\"password\":\"gailpass1\",\"email\":\"g@example.com\"}", 200,
              NULL);
    snprintf(guest, sizeof(guest), "%s", mg_signin("gail", "gailpass1"));
    mg_expect("PATCH", "/api/v1/clusters/2", guest, "{\"bio\":\"x\"}", 401, NULL);
    mg_expect("GET", "/api/v1/audits", guest, NULL, 403, "{\"message\":\"Forbidden\"}");
    mg_pat(root, "[\"job\"]", "2099-01-01T00:00:00Z", pat, sizeof(pat));
    mg_expect("GET", "/oapi/v1/jobs/999", pat, NULL, 404, NULL);
    mg_expect("GET", "/oapi/v1/jobs", "Bearer not-a-token", NULL, 401, NULL);
    mg_audits(root, "", rows, sizeof(rows));
    ck_assert_str_eq(rows, "UNKNOWN::GET:/oapi/v1/jobs:401\n"
                           "PAT:t:GET:/oapi/v1/jobs/999:404\n"
                           "USER:root:POST:/api/v1/personal-access-tokens:200\n"
                           "USER:gail:GET:/api/v1/audits:403\n"
                           "USER:gail:PATCH:/api/v1/clusters/2:401\n"
                           "UNKNOWN::POST:/api/v1/users/signin:200\n"
                           "UNKNOWN::POST:/api/v1/users/signup:200\n"
                           "USER:root:GET:/api/v1/nope:404\n"
                           "UNKNOWN::GET:/api/v1/schedulers:401\n"
                           "USER:root:POST:/api/v1/clusters:200\n"
                           "UNKNOWN::POST:/api/v1/users/signin:200\n");
    /* the filters, one and together */
    mg_audits(root, "actor_type=USER&operation=POST", rows, sizeof(rows));
    ck_assert_str_eq(rows, "USER:root:POST:/api/v1/personal-access-tokens:200\n"
                           "USER:root:POST:/api/v1/clusters:200\n");
    mg_audits(root, "actor_name=gail&state=FAILURE&status_code=401", rows, sizeof(rows));
    ck_assert_str_eq(rows, "USER:gail:PATCH:/api/v1/clusters/2:401\n");
    mg_audits(root, "path=%2Fapi%2Fv1%2Fusers%2Fsignin&event_type=API", rows, sizeof(rows));
    ck_assert_str_eq(rows, "UNKNOWN::POST:/api/v1/users/signin:200\n"
                           "UNKNOWN::POST:/api/v1/users/signin:200\n");
    mg_audits(root, "state=SUCCESS&status_code=404", rows, sizeof(rows));
    ck_assert_str_eq(rows, "");
    /* paging: the Link header counts the rows (the 11 above: root's successful GETs of the
     * log add none) */
    mg_expect("GET", "/api/v1/audits?per_page=5&page=2", root, NULL, 200, NULL);
    ck_assert_str_eq(mg_header("Link"), "</api/v1/audits?page=1&per_page=5>;rel=prev,"
                                        "</api/v1/audits?page=3&per_page=5>;rel=next,"
                                        "</api/v1/audits?page=1&per_page=5>;rel=first,"
                                        "</api/v1/audits?page=3&per_page=5>;rel=last");
    mg_expect("GET", "/api/v1/audits?per_page=0", root, NULL, 422, NULL);
    /* nothing secret in the database: not the JWT, not the PAT, not a password */
    ck_assert_int_eq(it_shf(&dump, 10, "sqlite3 %s/data/manager.db .dump", G.dir), 0);
    ck_assert_ptr_null(strstr(dump, root + 7));
    ck_assert_ptr_null(strstr(dump, pat + 7));
    ck_assert_ptr_null(strstr(dump, "gailpass1"));
    ck_assert_ptr_null(strstr(dump, "token="));
    free(dump);
}

END_TEST

/*
 * The GC: the seeded gc config and its checks, a gc job of each kind removing what is older
 * than the TTLs (finished jobs only), and the periodic GC of a manager started with a short
 * gc.interval.
 */
START_TEST(test_gc_jobs_and_timer)
{
    char root[4200], *out = NULL;
    cJSON *doc;

    snprintf(root, sizeof(root), "%s", mg_signin("root", "dragonfly"));
    ck_assert_int_eq(mg_req("GET", "/api/v1/configs?name=gc", root, NULL, &out), 200);
    ck_assert_msg(strstr(out,
                         "\"name\":\"gc\",\"value\":\"{\\\"audit\\\":{\\\"ttl\\\":"
                         "604800000000000},\\\"job\\\":{\\\"ttl\\\":21600000000000}}\"") != NULL,
                  "%s", out);
    free(out);
    /* the gc row stays one the GC reads; other rows are free text, names unique */
    mg_expect("PATCH", "/api/v1/configs/1", root, "{\"value\":\"{\\\"audit\\\":{}}\"}", 422, NULL);
    mg_expect("POST", "/api/v1/configs", root, "{\"name\":\"gc\",\"value\":\"x\"}", 422, NULL);
    mg_expect("POST", "/api/v1/configs", root, "{\"name\":\"theme\",\"value\":\"dark\"}", 200,
              NULL);
    mg_expect("POST", "/api/v1/configs", root, "{\"name\":\"theme\",\"value\":\"x\"}", 409, NULL);
    mg_expect("PATCH", "/api/v1/configs/2", root, "{\"name\":\"gc\"}", 422, NULL);
    mg_expect("GET", "/api/v1/configs/9", root, NULL, 404, NULL);
    mg_expect("POST", "/api/v1/jobs", root, "{\"type\":\"gc\",\"args\":{\"type\":\"all\"}}", 422,
              "{\"errors\":\"args.type: expected audit or job\"}");
    mg_expect("POST", "/api/v1/jobs", root, "{\"type\":\"gc\"}", 422, NULL);
    /* with the seeded TTLs nothing is old enough: the job row says 0, in its final state */
    ck_assert_int_eq(mg_req("POST", "/api/v1/jobs", root,
                            "{\"type\":\"gc\",\"args\":{\"type\":\"job\"}}", &out),
                     200);
    doc = cJSON_Parse(out);
    ck_assert_str_eq(cJSON_GetObjectItem(doc, "type")->valuestring, "gc");
    ck_assert_str_eq(cJSON_GetObjectItem(doc, "state")->valuestring, "SUCCESS");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "result"), "purged")->valueint,
                     0);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "args"), "type")->valuestring,
                     "job");
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "user_id")->valueint, 1);
    cJSON_Delete(doc);
    free(out);
    ck_assert_int_gt(mg_list_len("/api/v1/audits", root), 5);
    /* TTLs of one second: after it, a gc of the audit log leaves only its own row */
    mg_expect("PATCH", "/api/v1/configs/1", root,
              "{\"value\":\"{\\\"audit\\\":{\\\"ttl\\\":1000000000},\\\"job\\\":{\\\"ttl\\\":"
              "1000000000}}\"}",
              200, NULL);
    ck_assert_int_eq(it_shf(NULL, 10, "sleep 1.5"), 0);
    ck_assert_int_eq(mg_req("POST", "/api/v1/jobs", root,
                            "{\"type\":\"gc\",\"args\":{\"type\":\"audit\"}}", &out),
                     200);
    ck_assert_ptr_nonnull(strstr(out, "\"state\":\"SUCCESS\""));
    free(out);
    ck_assert_int_eq(mg_list_len("/api/v1/audits", root), 1); /* the gc job's POST */
    mg_expect("GET", "/api/v1/jobs/1", root, NULL, 200, NULL);
    ck_assert_int_eq(mg_req("POST", "/api/v1/jobs", root,
                            "{\"type\":\"gc\",\"args\":{\"type\":\"job\"}}", &out),
                     200);
    /* job 1 at least (job 2 ended just now: gone too only on a machine slower than 1 s) */
    doc = cJSON_Parse(out);
    ck_assert_int_ge(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "result"), "purged")->valueint,
                     1);
    cJSON_Delete(doc);
    free(out);
    mg_expect("GET", "/api/v1/jobs/1", root, NULL, 404, NULL);
    mg_expect("GET", "/api/v1/jobs/3", root, NULL, 200, NULL); /* PENDING while it ran */
    /* the timer: a manager on the same database with gc.interval 1s removes both by itself */
    ck_assert_int_eq(it_proc_stop(&G.mgr), 0);
    cJSON_Delete(G.mgr.ready);
    G.mgr.ready = NULL;
    ck_assert_int_eq(mg_start("--gc-interval", "1s"), 0);
    for (int i = 0; i < 100 && (mg_list_len("/api/v1/audits", root) > 0 ||
                                mg_list_len("/api/v1/jobs?type=gc", root) > 0);
         i++)
        it_shf(NULL, 10, "sleep 0.2");
    ck_assert_int_eq(mg_list_len("/api/v1/audits", root), 0);
    ck_assert_int_eq(mg_list_len("/api/v1/jobs?type=gc", root), 0);
    ck_assert_int_eq(it_shf(&out, 10, "grep -c 'gc: removed' %s", G.mgr.log_path), 0);
    ck_assert_int_ge(atoi(out), 1);
    free(out);
}

END_TEST

Suite *it_manager_suite(void);

Suite *
it_manager_suite(void)
{
    Suite *s = suite_create("it_manager");
    TCase *tc = tcase_create("process");

    tcase_add_checked_fixture(tc, mg_setup, mg_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_healthy_metrics_restart);
    tcase_add_test(tc, test_newer_database_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("auth");
    tcase_add_checked_fixture(tc, mg_setup, mg_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_signin_tokens_and_users);
    tcase_add_test(tc, test_forged_and_foreign_tokens);
    tcase_add_test(tc, test_expiry_refresh_reset_password);
    tcase_add_test(tc, test_oversized_body_refused);
    tcase_add_test(tc, test_roles_and_permissions);
    tcase_add_test(tc, test_rbac_route_table);
    tcase_add_test(tc, test_console_and_csrf);
    suite_add_tcase(s, tc);
    tc = tcase_create("clusters");
    tcase_add_checked_fixture(tc, mg_setup, mg_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_clusters);
    tcase_add_test(tc, test_personal_access_tokens);
    suite_add_tcase(s, tc);
    tc = tcase_create("audit");
    tcase_add_checked_fixture(tc, mg_setup_audit, mg_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_audit_log);
    tcase_add_test(tc, test_gc_jobs_and_timer);
    suite_add_tcase(s, tc);
    return s;
}
