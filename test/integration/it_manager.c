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

#include <check.h>

#include "harness/harness.h"

#define MG_IP "127.0.0.212"

struct mg {
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
    if (it_df_start(&G.mgr, G.dir, "manager", "manager", "--listen", MG_IP ":0", "--data-dir", dd,
                    "--auth-password-iterations", "1000", f1, f2, NULL) != 0)
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
mg_teardown(void)
{
    if (G.mgr.pid > 0)
        it_proc_kill(&G.mgr);
    cJSON_Delete(G.mgr.ready);
    it_rmtree(G.dir);
    free(G.dir);
}

/*
 * method path with body (NULL: none) and auth ("Bearer <jwt>", "Cookie: jwt=..", or NULL):
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
                 strncmp(auth, "Cookie:", 7) == 0 ? "" : "Authorization: ", auth);
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
    /* unknown path */
    status = mg_req("GET", "/nope", NULL, NULL, NULL);
    ck_assert_int_eq(status, 404);
}

END_TEST

START_TEST(test_newer_database_refused)
{
    char *out = NULL;
    int rv;

    ck_assert_int_eq(it_proc_stop(&G.mgr), 0);
    ck_assert_int_eq(
            it_shf(NULL, 10, "sqlite3 %s/data/manager.db 'PRAGMA user_version = 7'", G.dir), 0);
    rv = it_shf(&out, 30, "%s manager --listen " MG_IP ":0 --data-dir %s/data 2>&1; echo status=$?",
                it_bin(), G.dir);
    ck_assert_int_eq(rv, 0);
    ck_assert_msg(strstr(out, "schema version 7 is newer than this binary's 1") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "status=0") == NULL, "%s", out);
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
    (void)mg_header;
    return s;
}
