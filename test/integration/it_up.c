/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly up` (issue 10 §4): a manager, a scheduler, a seed peer and a peer in one process,
 * with one data dir; the seed finds the scheduler through the manager and is listed there. A `get`
 * through it is served (the seed fetched the origin once, the peer took the bytes from the seed;
 * the roles' log lines say which role wrote them); SIGTERM stops it cleanly; a restart over the
 * same data dir keeps its certificates and serves the file from the cache. Bad flags and a data dir
 * that cannot be created get one line and a non-zero exit. Addresses 127.0.0.200 (origin) and
 * 127.0.0.201 (up), ports 31000-31007.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

#define UP_IP        "127.0.0.201"
#define UP_PORT_BASE "31000"

struct up {
    char *dir;
    char data[600];
    struct it_proc origin, up;
    char origin_addr[64];
};

static void
up_origin(struct up *u)
{
    char tool[512], ready[700];
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)),
                          "--listen",
                          "127.0.0.200:0",
                          "--ready-file",
                          ready,
                          NULL};

    memset(u, 0, sizeof(*u));
    u->dir = it_tmpdir();
    ck_assert_ptr_nonnull(u->dir);
    snprintf(u->data, sizeof(u->data), "%s/data", u->dir);
    snprintf(ready, sizeof(ready), "%s/origin.ready", u->dir);
    ck_assert_int_eq(it_proc_start(&u->origin, u->dir, "origin", (char *const *)(uintptr_t)argv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(u->origin_addr, sizeof(u->origin_addr), "%s", it_proc_ready_str(&u->origin, "http"));
}

static void
up_down(struct up *u)
{
    it_proc_stop(&u->up);
    it_proc_stop(&u->origin);
    it_rmtree(u->dir);
    free(u->dir);
}

/* Start `dragonfly up` over u->data as name; its log (stdout and stderr) is <name>.log. */
static void
up_start(struct up *u, const char *name)
{
    char ready[700];
    const char *argv[] = {
            it_bin(),       "up",          "--data-dir", u->data,         "--ip",
            UP_IP,          "--port-base", UP_PORT_BASE, IT_ALLOW_ORIGIN, "127.0.0.200",
            "--ready-file", ready,         NULL};

    snprintf(ready, sizeof(ready), "%s/%s.ready", u->dir, name);
    ck_assert_int_eq(
            it_proc_start(&u->up, u->dir, name, (char *const *)(uintptr_t)argv, ready, IT_READY_MS),
            0);
}

/* The ready file's role.key. */
static const char *
up_ready_str(const struct up *u, const char *role, const char *key)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(u->up.ready, role);
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, key));

    ck_assert_msg(v != NULL, "ready file: no %s.%s", role, key);
    return v;
}

/* `get` the origin's target through the up peer's socket into out; its exit status. */
static int
up_get(struct up *u, const char *target, const char *out)
{
    return it_shf(NULL, 60,
                  "%s get 'http://%s%s' -O %s/%s --socket %s/dfdaemon.sock --no-progress "
                  "--timeout 50s >> %s/get.log 2>&1",
                  it_bin(), u->origin_addr, target, u->dir, out, u->data, u->dir);
}

static uint64_t
up_origin_bytes(struct up *u, const char *target)
{
    uint64_t v = 0;

    ck_assert_int_eq(it_origin_bytes(u->origin_addr, target, &v), 0);
    return v;
}

/* The lines of <dir>/<name>.log holding what. */
static int
up_log_count(struct up *u, const char *name, const char *what)
{
    char *out = NULL;
    int n;

    it_shf(&out, 10, "grep -c -F -- '%s' %s/%s.log", what, u->dir, name);
    n = out != NULL ? atoi(out) : 0;
    free(out);
    return n;
}

/* SIGTERM: every role stops and the process exits 0. */
static void
up_stop_clean(struct up *u)
{
    int status = it_proc_stop(&u->up);

    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "up: status %#x", status);
}

/*
 * Wait (bounded) until the seed uses a scheduler the manager named and the manager lists it
 * as an active seed peer (GET /api/v1/seed-peers as root).
 */
static void
up_seed_registered(struct up *u)
{
    const char *rest = up_ready_str(u, "manager", "rest");
    char *out = NULL;
    bool active = false;

    for (int i = 0; i < 150 && !active; i++) {
        if (i > 0)
            it_shf(NULL, 10, "sleep 0.2");
        free(out);
        out = NULL;
        if (up_log_count(u, "up1", "seed: manager: scheduler cluster 1: 1 healthy scheduler") == 0)
            continue;
        it_shf(&out, 10,
               "t=$(curl -s -X POST -d '{\"name\":\"root\",\"password\":\"dragonfly\"}' "
               "http://%s/api/v1/users/signin | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/') && "
               "curl -s -H \"Authorization: Bearer $t\" http://%s/api/v1/seed-peers",
               rest, rest);
        active = out != NULL && strstr(out, "\"state\":\"active\"") != NULL &&
                 strstr(out, "\"ip\":\"" UP_IP "\"") != NULL &&
                 strstr(out, "\"port\":31002") != NULL;
    }
    ck_assert_msg(active, "the seed is not an active seed peer of the manager: %s",
                  out != NULL ? out : "(its log never named a scheduler)");
    free(out);
}

START_TEST(test_up_get_stop_restart)
{
    static const char target[] = "/gen/3MiB?seed=11";
    struct up u;
    char *out = NULL, *certs = NULL, *certs2 = NULL, want[700];
    uint64_t sent;
    int lines = 0;

    up_origin(&u);
    up_start(&u, "up1");
    /* one process: the ready file's pid is the one started, and it has no children */
    ck_assert_int_eq((long)cJSON_GetNumberValue(cJSON_GetObjectItem(u.up.ready, "pid")),
                     (long)u.up.pid);
    ck_assert_int_ne(it_shf(NULL, 10, "pgrep -P %ld", (long)u.up.pid), 0);
    /* ... and that pid holds every role's listener: 12 TCP ports and the peers' sockets */
    ck_assert_int_eq(it_shf(&out, 10, "ss -Hltnp | grep 'pid=%ld,' | awk '{print $4}' | sort",
                            (long)u.up.pid),
                     0);
    for (char *s = out, *nl; (nl = strchr(s, '\n')) != NULL; s = nl + 1) {
        *nl = '\0';
        ck_assert_msg(strncmp(s, UP_IP ":310", strlen(UP_IP ":310")) == 0, "listens on %s", s);
        lines++;
    }
    free(out);
    ck_assert_int_eq(lines, 12);
    ck_assert_str_eq(up_ready_str(&u, "manager", "rest"), UP_IP ":31010");
    ck_assert_str_eq(up_ready_str(&u, "manager", "rpc"), UP_IP ":31011");
    ck_assert_str_eq(up_ready_str(&u, "scheduler", "rpc"), UP_IP ":31000");
    ck_assert_str_eq(up_ready_str(&u, "seed", "proxy"), UP_IP ":31006");
    ck_assert_str_eq(up_ready_str(&u, "peer", "proxy"), UP_IP ":31007");
    ck_assert_str_eq(up_ready_str(&u, "seed", "rpc"), UP_IP ":31002");
    ck_assert_str_eq(up_ready_str(&u, "peer", "upload"), UP_IP ":31005");
    ck_assert_str_eq(up_ready_str(&u, "seed", "metrics"), UP_IP ":31008");
    ck_assert_str_eq(up_ready_str(&u, "peer", "metrics"), UP_IP ":31009");
    /* the addresses are printed, and the certificates were made on this first start */
    ck_assert_int_eq(up_log_count(&u, "up1", "local socket /"), 1);
    ck_assert_int_eq(up_log_count(&u, "up1", "dragonfly cert: wrote"), 5); /* CA + 4 roles */
    ck_assert_int_eq(it_shf(&certs, 10, "cat %s/pki/ca/ca.crt %s/pki/*.crt", u.data, u.data), 0);
    /* the seed found the scheduler through the manager, and is registered there, active: the
     * console's seed peers are true (a seed under --scheduler never registered) */
    up_seed_registered(&u);

    /* a get through it: right bytes; the seed fetched the origin once, the peer from the seed */
    ck_assert_int_eq(up_get(&u, target, "out1"), 0);
    snprintf(want, sizeof(want), "%s/want", u.dir);
    ck_assert_int_eq(it_gen("3MiB", 11, want), 0);
    ck_assert_int_eq(it_shf(NULL, 30, "cmp %s/out1 %s/want", u.dir, u.dir), 0);
    /* the whole file once (and the 1-byte length probe: GET Range: bytes=0-0) */
    sent = up_origin_bytes(&u, target);
    ck_assert_uint_eq(sent, (3u << 20) + 1);
    ck_assert_int_eq(it_shf(&out, 10, "cat %s/get.log", u.dir), 0);
    ck_assert_msg(strstr(out, "from source 0B, from peers 3.0MiB (" UP_IP " (seed) 3.0MiB)") !=
                          NULL,
                  "%s", out);
    free(out);
    ck_assert_int_eq(it_shf(NULL, 10, "ls %s/seed/content/tasks/*/* >/dev/null", u.data), 0);
    /* the roles' lines interleave in one log, each tagged with its role */
    ck_assert_int_gt(up_log_count(&u, "up1", "] seed: task "), 0);
    ck_assert_int_gt(up_log_count(&u, "up1", "] peer: task "), 0);
    ck_assert_int_gt(up_log_count(&u, "up1", "] scheduler: ready"), 0);
    ck_assert_int_eq(it_shf(NULL, 10, "ls %s/peer/content/tasks/*/* >/dev/null", u.data), 0);

    up_stop_clean(&u);
    ck_assert_int_eq(up_log_count(&u, "up1", "up: stopped"), 1);
    ck_assert_int_eq(up_log_count(&u, "up1", "scheduler: stopping"), 1);

    /* restart over the same data dir: same certificates, the file from the cache */
    up_start(&u, "up2");
    ck_assert_int_eq(up_log_count(&u, "up2", "dragonfly cert: wrote"), 0);
    ck_assert_int_eq(it_shf(&certs2, 10, "cat %s/pki/ca/ca.crt %s/pki/*.crt", u.data, u.data), 0);
    ck_assert_str_eq(certs, certs2);
    ck_assert_int_eq(up_get(&u, target, "out2"), 0);
    ck_assert_int_eq(it_shf(NULL, 30, "cmp %s/out2 %s/want", u.dir, u.dir), 0);
    ck_assert_uint_eq(up_origin_bytes(&u, target), sent);
    ck_assert_int_eq(it_shf(&out, 10, "cat %s/get.log", u.dir), 0);
    ck_assert_msg(strstr(out, "from the peer's cache") != NULL, "%s", out);
    free(out);
    up_stop_clean(&u);
    free(certs);
    free(certs2);
    up_down(&u);
}

END_TEST

/* Bad input: one line on stderr, a non-zero exit, nothing left running. */
START_TEST(test_up_bad_input)
{
    struct up u;
    char *out = NULL;

    up_origin(&u);
    ck_assert_int_eq(it_shf(&out, 30, "%s up --bogus 2>&1 >/dev/null; echo rc=$?", it_bin()), 0);
    ck_assert_msg(strstr(out, "dragonfly up: ") == out && strstr(out, "rc=2\n") != NULL &&
                          strchr(out, '\n') == strstr(out, "rc=") - 1,
                  "%s", out);
    free(out);
    out = NULL;
    ck_assert_int_eq(it_shf(&out, 30, "%s up --ip not-an-ip --data-dir %s 2>&1; echo rc=$?",
                            it_bin(), u.data),
                     0);
    ck_assert_msg(strstr(out, "--ip") != NULL && strstr(out, "rc=2\n") != NULL, "%s", out);
    free(out);
    out = NULL;
    /* a data dir under a regular file cannot be created */
    ck_assert_int_eq(it_shf(NULL, 10, "touch %s/file", u.dir), 0);
    ck_assert_int_eq(it_shf(&out, 30,
                            "%s up --data-dir %s/file/d --ip " UP_IP " --port-base " UP_PORT_BASE
                            " 2>&1 >/dev/null; echo rc=$?",
                            it_bin(), u.dir),
                     0);
    ck_assert_msg(strstr(out, "dragonfly up: ") == out && strstr(out, "rc=1\n") != NULL &&
                          strchr(out, '\n') == strstr(out, "rc=") - 1,
                  "%s", out);
    free(out);
    up_down(&u);
}

END_TEST

Suite *it_up_suite(void);

Suite *
it_up_suite(void)
{
    Suite *s = suite_create("it_up");
    TCase *tc = tcase_create("up");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_up_get_stop_restart);
    tcase_add_test(tc, test_up_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
