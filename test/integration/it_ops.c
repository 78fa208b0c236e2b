/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Operating the roles: every role's /metrics is valid Prometheus text (exposition format
 * 0.0.4, checked by the parser below and, when installed, by `promtool check metrics`) and
 * carries upstream's names; /healthy and /readyz answer on every role; logs are JSON lines
 * when asked, SIGHUP reopens the log file and reloads what may change at run time.
 * Processes on 127.0.0.210-217: origin .210, scheduler .211, seed .212, peer .213, a peer
 * whose scheduler never answers .214 (its scheduler address .215 has no listener), the
 * peer and scheduler of the log tests .216 and .217.
 */
#include <ctype.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "harness/harness.h"

#define OPS_MAX_FAMILIES 256

struct ops {
    char *dir;
    struct it_proc origin, sched, seed, peer;
    char origin_addr[64], sched_addr[64];
};

static struct ops O;

static void
ops_setup(void)
{
    char tool[512], ready[700], data[700];
    const char *oargv[] = {it_tool("origin", tool, sizeof(tool)),
                           "--listen",
                           "127.0.0.210:0",
                           "--ready-file",
                           ready,
                           NULL};

    memset(&O, 0, sizeof(O));
    O.dir = it_tmpdir();
    ck_assert_ptr_nonnull(O.dir);
    snprintf(ready, sizeof(ready), "%s/origin.ready", O.dir);
    ck_assert_int_eq(it_proc_start(&O.origin, O.dir, "origin", (char *const *)(uintptr_t)oargv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(O.origin_addr, sizeof(O.origin_addr), "%s", it_proc_ready_str(&O.origin, "http"));
    ck_assert_int_eq(it_df_start(&O.sched, O.dir, "scheduler", "scheduler", "--listen",
                                 "127.0.0.211:0", "--metrics-listen", "127.0.0.211:0", NULL),
                     0);
    snprintf(O.sched_addr, sizeof(O.sched_addr), "%s", it_proc_ready_str(&O.sched, "rpc"));
    snprintf(data, sizeof(data), "%s/seed", O.dir);
    ck_assert_int_eq(it_df_start(&O.seed, O.dir, "seed", "peer", "--seed", "--ip", "127.0.0.212",
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                 "--scheduler", O.sched_addr, "--announce-interval", "1s",
                                 IT_ALLOW_ORIGIN, "127.0.0.210", NULL),
                     0);
    snprintf(data, sizeof(data), "%s/peer", O.dir);
    ck_assert_int_eq(it_df_start(&O.peer, O.dir, "peer", "peer", "--ip", "127.0.0.213",
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                 "--scheduler", O.sched_addr, "--announce-interval", "1s",
                                 IT_ALLOW_ORIGIN, "127.0.0.210", NULL),
                     0);
}

static void
ops_teardown(void)
{
    struct it_proc *procs[] = {&O.peer, &O.seed, &O.sched, &O.origin};

    for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
        if (procs[i]->pid > 0)
            it_proc_stop(procs[i]);
    it_rmtree(O.dir);
    free(O.dir);
}

/* ---- a parser of the Prometheus text exposition format (0.0.4) ---- */

struct ops_family {
    char name[128];
    char type[16];
    bool help, sampled, done; /* done: another family's samples came after this one's */
};

struct ops_page {
    struct ops_family f[OPS_MAX_FAMILIES];
    int n;
    int cur; /* the family of the last sample, or -1 */
    char err[256];
};

static bool
ops_name_ok(const char *s, size_t n, bool label)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = isalpha((unsigned char)c) || c == '_' || (!label && c == ':') ||
                  (i > 0 && isdigit((unsigned char)c));

        if (!ok)
            return false;
    }
    return true;
}

static struct ops_family *
ops_family(struct ops_page *pg, const char *name, size_t n, bool add)
{
    for (int i = 0; i < pg->n; i++)
        if (strlen(pg->f[i].name) == n && strncmp(pg->f[i].name, name, n) == 0)
            return &pg->f[i];
    if (!add || pg->n == OPS_MAX_FAMILIES || n >= sizeof(pg->f[0].name))
        return NULL;
    memcpy(pg->f[pg->n].name, name, n);
    return &pg->f[pg->n++];
}

/* The family a sample name belongs to: itself, or a histogram's or summary's base. */
static struct ops_family *
ops_sample_family(struct ops_page *pg, const char *name, size_t n, bool *bucket)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    struct ops_family *f = ops_family(pg, name, n, false);

    *bucket = false;
    if (f != NULL && f->type[0] != '\0')
        return f;
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(sfx[i]);

        if (n > k && strncmp(name + n - k, sfx[i], k) == 0 &&
            (f = ops_family(pg, name, n - k, false)) != NULL &&
            (strcmp(f->type, "histogram") == 0 || strcmp(f->type, "summary") == 0)) {
            *bucket = i == 0;
            return f;
        }
    }
    return NULL;
}

/* A float as the format writes one: Go's ParseFloat syntax, +Inf, -Inf, NaN. */
static bool
ops_value_ok(const char *s)
{
    char *end;

    if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0)
        return true;
    strtod(s, &end);
    return end != s && *end == '\0';
}

/* One sample line; false with pg->err set when it breaks the format. */
static bool
ops_sample(struct ops_page *pg, char *line)
{
    char *p = line, *v;
    size_t n = strcspn(line, "{ ");
    struct ops_family *f;
    bool bucket, has_le = false;

    if (!ops_name_ok(line, n, false))
        return snprintf(pg->err, sizeof(pg->err), "bad metric name: %s", line), false;
    if ((f = ops_sample_family(pg, line, n, &bucket)) == NULL || !f->help)
        return snprintf(pg->err, sizeof(pg->err), "sample before its HELP and TYPE: %s", line),
               false;
    if (f->done)
        return snprintf(pg->err, sizeof(pg->err), "family %s not contiguous", f->name), false;
    if (pg->cur >= 0 && &pg->f[pg->cur] != f)
        pg->f[pg->cur].done = true;
    pg->cur = (int)(f - pg->f);
    f->sampled = true;
    p += n;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            size_t ln = strcspn(p, "=");

            if (!ops_name_ok(p, ln, true) || p[ln] != '=' || p[ln + 1] != '"')
                return snprintf(pg->err, sizeof(pg->err), "bad label: %s", line), false;
            has_le |= ln == 2 && strncmp(p, "le", 2) == 0;
            p += ln + 2;
            while (*p != '"') {
                if (*p == '\0' || *p == '\n')
                    return snprintf(pg->err, sizeof(pg->err), "open label value: %s", line), false;
                if (*p == '\\') {
                    if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                        return snprintf(pg->err, sizeof(pg->err), "bad escape: %s", line), false;
                    p++;
                }
                p++;
            }
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return snprintf(pg->err, sizeof(pg->err), "bad label list: %s", line), false;
        }
        p++;
    }
    if (bucket && !has_le)
        return snprintf(pg->err, sizeof(pg->err), "bucket without le: %s", line), false;
    if (*p != ' ')
        return snprintf(pg->err, sizeof(pg->err), "no value: %s", line), false;
    v = p + 1;
    v[strcspn(v, " ")] = '\0'; /* a timestamp may follow */
    if (!ops_value_ok(v))
        return snprintf(pg->err, sizeof(pg->err), "bad value: %s", line), false;
    return true;
}

/* "# HELP name text" / "# TYPE name type"; other comments pass. */
static bool
ops_comment(struct ops_page *pg, char *line)
{
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    bool help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
    char *name = line + 7;
    size_t n = strcspn(name, " ");
    struct ops_family *f;
    bool known = false;

    if (!help && !type)
        return true;
    if (!ops_name_ok(name, n, false) || name[n] != ' ' ||
        (f = ops_family(pg, name, n, true)) == NULL)
        return snprintf(pg->err, sizeof(pg->err), "bad comment: %s", line), false;
    if (f->sampled)
        return snprintf(pg->err, sizeof(pg->err), "HELP/TYPE after samples: %s", line), false;
    if (help) {
        if (f->help)
            return snprintf(pg->err, sizeof(pg->err), "second HELP: %s", line), false;
        f->help = true;
        return true;
    }
    if (f->type[0] != '\0')
        return snprintf(pg->err, sizeof(pg->err), "second TYPE: %s", line), false;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        known |= strcmp(name + n + 1, types[i]) == 0;
    if (!known)
        return snprintf(pg->err, sizeof(pg->err), "unknown type: %s", line), false;
    snprintf(f->type, sizeof(f->type), "%s", name + n + 1);
    return true;
}

/* Parse text into pg: 0, or -1 with pg->err. Every family must have HELP, TYPE and samples. */
static int
ops_parse(struct ops_page *pg, char *text)
{
    char *save = NULL;

    memset(pg, 0, sizeof(*pg));
    pg->cur = -1;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (!(line[0] == '#' ? ops_comment(pg, line) : ops_sample(pg, line)))
            return -1;
    }
    for (int i = 0; i < pg->n; i++)
        if (!pg->f[i].help || pg->f[i].type[0] == '\0' || !pg->f[i].sampled) {
            snprintf(pg->err, sizeof(pg->err), "family %s lacks HELP, TYPE or samples",
                     pg->f[i].name);
            return -1;
        }
    return 0;
}

static const char *
ops_type_of(const struct ops_page *pg, const char *name)
{
    for (int i = 0; i < pg->n; i++)
        if (strcmp(pg->f[i].name, name) == 0)
            return pg->f[i].type;
    return NULL;
}

/* The parser refuses what it must: it would pass anything otherwise. */
START_TEST(test_parser_refuses)
{
    static const char *const bad[] = {
            "x 1\n",                                      /* no HELP/TYPE */
            "# HELP x h\n# TYPE x counter\nx{a=\"1} 1\n", /* open label value */
            "# HELP x h\n# TYPE x counter\nx one\n",      /* bad value */
            "# HELP x h\n# TYPE x counter\n# TYPE x gauge\nx 1\n",
            "# HELP x h\n# TYPE x histogram\nx_bucket 1\nx_sum 1\nx_count 1\n",
            "# HELP x h\n# TYPE x counter\nx 1\n# HELP y h\n# TYPE y gauge\ny 1\nx 2\n",
            "# HELP x h\n# TYPE x counter\n", /* no sample */
            "# HELP 1x h\n# TYPE 1x counter\n1x 1\n",
    };
    struct ops_page *pg = malloc(sizeof(*pg));
    char good[] = "# HELP x h\n# TYPE x histogram\nx_bucket{a=\"q\\\"\",le=\"1\"} 0\n"
                  "x_bucket{a=\"q\\\"\",le=\"+Inf\"} 2\nx_sum{a=\"q\\\"\"} NaN\n"
                  "x_count{a=\"q\\\"\"} 2\n";

    ck_assert_ptr_nonnull(pg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t = strdup(bad[i]);

        ck_assert_msg(ops_parse(pg, t) == -1, "accepted: %s", bad[i]);
        free(t);
    }
    ck_assert_msg(ops_parse(pg, good) == 0, "%s", pg->err);
    ck_assert_str_eq(ops_type_of(pg, "x"), "histogram");
    free(pg);
}

END_TEST

/*
 * promtool's lint wants "_total" on counters and only on them; upstream's traffic counters
 * have none, its disk gauges have one and its durations are in milliseconds; dashboards
 * query them by those names, so these lints (only) are expected.
 */
static const char *const ops_lint_expected[][2] = {
        {"dragonfly_client_download_traffic", "counter metrics should have \"_total\" suffix"},
        {"dragonfly_client_upload_traffic", "counter metrics should have \"_total\" suffix"},
        {"dragonfly_scheduler_traffic", "counter metrics should have \"_total\" suffix"},
        {"dragonfly_client_disk_space_total",
         "non-counter metrics should not have \"_total\" suffix"},
        {"dragonfly_client_disk_usage_space_total",
         "non-counter metrics should not have \"_total\" suffix"},
        {"dragonfly_client_download_task_duration_milliseconds",
         "use base unit \"seconds\" instead of \"milliseconds\""},
        {"dragonfly_scheduler_download_peer_duration_milliseconds",
         "use base unit \"seconds\" instead of \"milliseconds\""},
};

static bool
ops_lint_is_expected(const char *line)
{
    for (size_t i = 0; i < sizeof(ops_lint_expected) / sizeof(ops_lint_expected[0]); i++) {
        size_t n = strlen(ops_lint_expected[i][0]);

        if (strncmp(line, ops_lint_expected[i][0], n) == 0 && line[n] == ' ' &&
            strcmp(line + n + 1, ops_lint_expected[i][1]) == 0)
            return true;
    }
    return false;
}

static void
ops_promtool(const char *addr, const char *page_path)
{
    char *out = NULL;
    int rc;

    if (it_sh("command -v promtool >/dev/null", NULL, 10) != 0) {
        fprintf(stderr, "it_ops: promtool not installed: only our parser checks %s\n", addr);
        return;
    }
    rc = it_shf(&out, 30, "promtool check metrics < %s 2>&1", page_path);
    ck_assert_msg(rc == 0 || rc == 3, "promtool on %s (rc %d): %s", addr, rc, out);
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save))
        ck_assert_msg(ops_lint_is_expected(l), "promtool on %s: %s", addr, l);
    free(out);
}

/* Fetch addr's /metrics, check it parses, that every name in want is there with its type. */
static void
ops_check_page(const char *role, const char *addr, const char *const want[][2])
{
    struct ops_page *pg = malloc(sizeof(*pg));
    char path[700], *text = NULL;
    const char *type;

    ck_assert_ptr_nonnull(pg);
    ck_assert_ptr_nonnull(addr);
    snprintf(path, sizeof(path), "%s/%s.metrics", O.dir, role);
    ck_assert_int_eq(
            it_shf(NULL, 30, "curl -sSf --max-time 10 -o %s http://%s/metrics", path, addr), 0);
    ck_assert_int_eq(it_shf(&text, 10, "cat %s", path), 0);
    ck_assert_msg(ops_parse(pg, text) == 0, "%s /metrics: %s", role, pg->err);
    for (size_t i = 0; want[i][0] != NULL; i++) {
        type = ops_type_of(pg, want[i][0]);
        ck_assert_msg(type != NULL, "%s /metrics has no %s", role, want[i][0]);
        ck_assert_msg(strcmp(type, want[i][1]) == 0, "%s: %s is a %s, want %s", role, want[i][0],
                      type, want[i][1]);
    }
    free(text);
    free(pg);
    ops_promtool(addr, path);
}

/* The value of a sample line that starts with prefix on the page at addr, or -1. */
static double
ops_value(const char *addr, const char *prefix)
{
    char *out = NULL;
    double v = -1;

    ck_assert_int_eq(
            it_shf(&out, 30,
                   "curl -sS --max-time 10 http://%s/metrics | grep -v '^#' | grep -F '%s ' | "
                   "awk '{print $NF}'",
                   addr, prefix),
            0);
    if (out[0] != '\0')
        v = strtod(out, NULL);
    free(out);
    return v;
}

static const char *const ops_process[][2] = {
        {"process_cpu_seconds_total", "counter"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_virtual_memory_bytes", "gauge"},
        {"process_open_fds", "gauge"},
        {"process_max_fds", "gauge"},
        {"process_start_time_seconds", "gauge"},
        {NULL, NULL},
};

/*
 * Every metric the Grafana dashboard queries is on the pages just fetched
 * (scripts/check-deploy.py --dashboard; the suites run from the top of the tree).
 */
static void
ops_check_dashboard(void)
{
    char *out = NULL;

    ck_assert_msg(access("scripts/check-deploy.py", R_OK) == 0,
                  "run the suite from the top of the tree (scripts/check-deploy.py)");
    ck_assert_msg(
            it_shf(&out, 60,
                   "python3 scripts/check-deploy.py --dashboard deploy/grafana/dragonfly.json "
                   "--metrics %s/peer.metrics %s/seed.metrics %s/scheduler.metrics 2>&1",
                   O.dir, O.dir, O.dir) == 0,
            "dashboard: %s", out);
    free(out);
}

/* Get the origin's target through the peer whose data dir is data into <dir>/<name>. */
static void
ops_get_from(const char *data, const char *target, const char *name)
{
    char *out = NULL;

    ck_assert_msg(it_shf(&out, 120,
                         "%s get 'http://%s%s' -O %s/%s --socket %s/dfdaemon.sock "
                         "--no-progress 2>&1",
                         it_bin(), O.origin_addr, target, O.dir, name, data) == 0,
                  "get: %s", out);
    free(out);
}

/* Get the origin's 3 MiB (always the same URL) through the peer into <dir>/<name>. */
static void
ops_get(const char *name)
{
    char data[700];

    snprintf(data, sizeof(data), "%s/peer", O.dir);
    ops_get_from(data, "/gen/3MiB?seed=21", name);
}

START_TEST(test_metrics_every_role)
{
    static const char *const peer_want[][2] = {
            {"dragonfly_client_download_traffic", "counter"},
            {"dragonfly_client_upload_traffic", "counter"},
            {"dragonfly_client_download_task_total", "counter"},
            {"dragonfly_client_download_task_failure_total", "counter"},
            {"dragonfly_client_download_task_duration_milliseconds", "histogram"},
            {"dragonfly_client_disk_space_total", "gauge"},
            {"dragonfly_client_version", "gauge"},
            {"dragonfly_peer_source_bytes_total", "counter"},
            {NULL, NULL},
    };
    static const char *const sched_want[][2] = {
            {"dragonfly_scheduler_traffic", "counter"},
            {"dragonfly_scheduler_register_peer_total", "counter"},
            {"dragonfly_scheduler_download_peer_finished_total", "counter"},
            {"dragonfly_scheduler_download_piece_finished_total", "counter"},
            {"dragonfly_scheduler_announce_host_total", "counter"},
            {"dragonfly_scheduler_version", "gauge"},
            {"dragonfly_scheduler_download_peer_duration_milliseconds", "histogram"},
            {NULL, NULL},
    };
    const char *pm = it_proc_ready_str(&O.peer, "metrics");

    /* a download, so that traffic, task counters and the histogram have something */
    ops_get("out");
    ops_check_page("peer", pm, peer_want);
    ops_check_page("peer", pm, ops_process);
    ops_check_page("seed", it_proc_ready_str(&O.seed, "metrics"), peer_want);
    ops_check_page("scheduler", it_proc_ready_str(&O.sched, "metrics"), sched_want);
    ops_check_page("scheduler", it_proc_ready_str(&O.sched, "metrics"), ops_process);
    ops_check_dashboard();
    /* the values say what happened: 3 MiB came into the peer, one task took some time */
    ck_assert_double_eq(
            ops_value(pm, "dragonfly_client_download_traffic{type=\"BACK_TO_SOURCE\"}") +
                    ops_value(pm, "dragonfly_client_download_traffic{type=\"REMOTE_PEER\"}"),
            3.0 * 1024 * 1024);
    ck_assert_double_eq(ops_value(pm, "dragonfly_client_download_task_duration_milliseconds_count"),
                        1);
    ck_assert_double_eq(ops_value(pm, "dragonfly_client_download_task_total"), 1);
    ck_assert_double_gt(ops_value(pm, "process_resident_memory_bytes"), 1024 * 1024);
    ck_assert_double_gt(ops_value(pm, "process_open_fds"), 3);
    /* the scheduler timed the peer's download once it reported it finished */
    for (int i = 0; i < 100 && ops_value(it_proc_ready_str(&O.sched, "metrics"),
                                         "dragonfly_scheduler_download_peer_duration_"
                                         "milliseconds_count") < 1;
         i++)
        it_sleep_ms(100);
    ck_assert_double_ge(ops_value(it_proc_ready_str(&O.sched, "metrics"),
                                  "dragonfly_scheduler_download_peer_duration_milliseconds_count"),
                        1);
    /* a second get of the same URL is a cache hit: LOCAL_PEER traffic */
    ops_get("out2");
    ck_assert_double_eq(ops_value(pm, "dragonfly_client_download_traffic{type=\"LOCAL_PEER\"}"),
                        3.0 * 1024 * 1024);
}

END_TEST

/* The HTTP status of GET http://addr/path. */
static int
ops_status(const char *addr, const char *path)
{
    char *out = NULL;
    int code;

    ck_assert_int_eq(
            it_shf(&out, 30, "curl -s -o /dev/null -w '%%{http_code}' http://%s%s", addr, path), 0);
    code = atoi(out);
    free(out);
    return code;
}

START_TEST(test_health_every_role)
{
    const struct it_proc *procs[] = {&O.sched, &O.seed, &O.peer};
    struct it_proc lone;
    char data[700];
    int code = 0;

    for (size_t i = 0; i < 3; i++) {
        const char *addr = it_proc_ready_str(procs[i], "metrics");

        ck_assert_int_eq(ops_status(addr, "/healthy"), 200);
        /* a peer is ready once a scheduler answered its announce (every second here) */
        for (int t = 0; t < 300 && (code = ops_status(addr, "/readyz")) != 200; t++)
            it_sleep_ms(100);
        ck_assert_int_eq(code, 200);
    }
    /* a peer whose scheduler never answers is alive but not ready */
    snprintf(data, sizeof(data), "%s/lone", O.dir);
    ck_assert_int_eq(it_df_start(&lone, O.dir, "lone", "peer", "--ip", "127.0.0.214", "--rpc-port",
                                 "0", "--upload-port", "0", "--data-dir", data, "--scheduler",
                                 "127.0.0.215:9", "--announce-interval", "1s", NULL),
                     0);
    ck_assert_int_eq(ops_status(it_proc_ready_str(&lone, "metrics"), "/healthy"), 200);
    ck_assert_int_eq(ops_status(it_proc_ready_str(&lone, "metrics"), "/readyz"), 503);
    it_proc_stop(&lone);
    /* the manager answers on its REST listener, ready once its database answers a read */
    snprintf(data, sizeof(data), "%s/readymgr", O.dir);
    ck_assert_int_eq(it_df_start(&lone, O.dir, "readymgr", "manager", "--listen", "127.0.0.218:0",
                                 "--rpc-listen", "127.0.0.218:0", "--data-dir", data, NULL),
                     0);
    ck_assert_int_eq(ops_status(it_proc_ready_str(&lone, "rest"), "/healthy"), 200);
    ck_assert_int_eq(ops_status(it_proc_ready_str(&lone, "rest"), "/readyz"), 200);
    /* a database that no longer reads: page 1 overwritten, the WAL emptied and the shared
     * wal-index header garbled (without the last, the reader keeps its cached snapshot and
     * never looks at the file); alive, but not ready */
    ck_assert_int_eq(it_shf(NULL, 10,
                            "cd '%s' && head -c 4096 /dev/urandom | dd of=manager.db conv=notrunc"
                            " status=none && : > manager.db-wal && head -c 136 /dev/urandom |"
                            " dd of=manager.db-shm conv=notrunc status=none",
                            data),
                     0);
    ck_assert_int_eq(ops_status(it_proc_ready_str(&lone, "rest"), "/readyz"), 503);
    ck_assert_int_eq(ops_status(it_proc_ready_str(&lone, "rest"), "/healthy"), 200);
    ck_assert_int_eq(it_proc_stop(&lone), 0);
}

END_TEST

/* ---- logs: format, reopen, reload ---- */

static void
ops_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* Wait up to 30 s for a line of the file at path to contain want; true when one does. */
static bool
ops_log_has(const char *path, const char *want)
{
    for (int i = 0; i < 300; i++) {
        if (it_shf(NULL, 10, "grep -qF -- '%s' '%s' 2>/dev/null", want, path) == 0)
            return true;
        it_sleep_ms(100);
    }
    return false;
}

/* Every line of the file at path is one JSON object with ts, level, component, pid, msg. */
static int
ops_json_lines(const char *path)
{
    char *text = NULL, *save = NULL;
    int n = 0;

    ck_assert_int_eq(it_shf(&text, 10, "cat '%s'", path), 0);
    for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        cJSON *doc = cJSON_Parse(l);

        ck_assert_msg(cJSON_IsObject(doc), "not a JSON line: %s", l);
        ck_assert_msg(cJSON_IsString(cJSON_GetObjectItem(doc, "ts")) &&
                              cJSON_IsString(cJSON_GetObjectItem(doc, "level")) &&
                              cJSON_IsString(cJSON_GetObjectItem(doc, "component")) &&
                              cJSON_IsNumber(cJSON_GetObjectItem(doc, "pid")) &&
                              cJSON_IsString(cJSON_GetObjectItem(doc, "msg")),
                      "fields missing: %s", l);
        cJSON_Delete(doc);
        n++;
    }
    free(text);
    return n;
}

static void
ops_hup(const struct it_proc *p)
{
    ck_assert_int_eq(kill(p->pid, SIGHUP), 0);
}

/*
 * A peer logging JSON lines to a file: the file renamed (as logrotate does), SIGHUP, and
 * the new lines go to a new file at the old name; the config changed, SIGHUP, and the log
 * level and rate limit apply at once while a key that needs a restart says so.
 */
START_TEST(test_peer_log_reopen_reload)
{
    struct it_proc p;
    char conf[700], log[700], old[700], data[700], task_line[200];

    snprintf(conf, sizeof(conf), "%s/peer.json", O.dir);
    snprintf(log, sizeof(log), "%s/peer-file.log", O.dir);
    snprintf(old, sizeof(old), "%s/peer-file.log.1", O.dir);
    snprintf(data, sizeof(data), "%s/logpeer", O.dir);
    ops_write(conf, "{\"log\": {\"level\": \"info\", \"format\": \"json\"},\n"
                    " \"upload\": {\"rateLimit\": \"0\"}, \"announceInterval\": \"30s\"}\n");
    ck_assert_int_eq(it_df_start(&p, O.dir, "logpeer", "peer", "--config", conf, "--ip",
                                 "127.0.0.216", "--rpc-port", "0", "--upload-port", "0",
                                 "--data-dir", data, "--log-file", log, NULL),
                     0);
    ck_assert(ops_log_has(log, "ready"));
    /* a task's lines carry its id and URL (the query's values redacted) */
    ops_get_from(data, "/gen/1MiB?seed=5&token=secret", "logout");
    snprintf(task_line, sizeof(task_line), "\"url\":\"http://%s/gen/1MiB?seed=***&token=***\"",
             O.origin_addr);
    ck_assert_msg(ops_log_has(log, task_line), "no task line with %s", task_line);
    ck_assert_int_ne(it_shf(NULL, 10, "grep -qF secret '%s'", log), 0);
    ck_assert_int_gt(ops_json_lines(log), 2);

    /* logrotate: rename, then SIGHUP (postrotate) */
    ck_assert_int_eq(rename(log, old), 0);
    ops_hup(&p);
    ck_assert_msg(ops_log_has(log, "log file reopened"), "no new log file");
    ck_assert_int_ne(it_shf(NULL, 10, "grep -qF 'log file reopened' '%s'", old), 0);
    ck_assert_int_gt(ops_json_lines(log), 0);

    /* reload: debug level and a rate limit apply; the announce interval needs a restart */
    ops_write(conf, "{\"log\": {\"level\": \"debug\", \"format\": \"json\"},\n"
                    " \"upload\": {\"rateLimit\": \"10MiB/s\"}, \"announceInterval\": \"5s\"}\n");
    ck_assert_int_ne(it_shf(NULL, 10, "grep -qF '\"level\":\"DEBUG\"' '%s'", log), 0);
    ops_hup(&p);
    ck_assert(ops_log_has(log, "reload: log.level changed: applied"));
    ck_assert(ops_log_has(log, "reload: upload.rateLimit changed: applied"));
    ck_assert(
            ops_log_has(log, "reload: announceInterval changed: it takes effect after a restart"));
    /* at debug, the next get logs DEBUG lines */
    ops_get_from(data, "/gen/1MiB?seed=6", "logout2");
    ck_assert(ops_log_has(log, "\"level\":\"DEBUG\""));
    /* a config that no longer loads: the running one stays, the peer keeps serving */
    ops_write(conf, "{\"log\": {\"level\": \"loud\"}}\n");
    ops_hup(&p);
    ck_assert(ops_log_has(log, "the running configuration stays"));
    ck_assert_int_eq(ops_status(it_proc_ready_str(&p, "metrics"), "/healthy"), 200);
    ck_assert_int_eq(it_proc_stop(&p), 0);
}

END_TEST

/* The scheduler: text lines, reopen on SIGHUP, its log level reloads. */
START_TEST(test_sched_log_reopen_reload)
{
    struct it_proc s;
    char conf[700], log[700], old[700];

    snprintf(conf, sizeof(conf), "%s/sched.json", O.dir);
    snprintf(log, sizeof(log), "%s/sched-file.log", O.dir);
    snprintf(old, sizeof(old), "%s/sched-file.log.1", O.dir);
    ops_write(conf, "{\"log\": {\"level\": \"info\"}, \"scheduler\": {\"maxParents\": 4}}\n");
    ck_assert_int_eq(it_df_start(&s, O.dir, "logsched", "scheduler", "--config", conf, "--listen",
                                 "127.0.0.217:0", "--metrics-listen", "127.0.0.217:0", "--log-file",
                                 log, NULL),
                     0);
    ck_assert(ops_log_has(log, "scheduler: ready"));
    ck_assert_int_eq(rename(log, old), 0);
    ops_write(conf, "{\"log\": {\"level\": \"warn\"}, \"scheduler\": {\"maxParents\": 5}}\n");
    ops_hup(&s);
    ck_assert(ops_log_has(log, "log file reopened"));
    ck_assert(ops_log_has(log, "reload: log.level changed: applied"));
    /* at warn, the restart notice (a warning) is written and info lines are not */
    ck_assert(ops_log_has(log, "changed: it takes effect after a restart"));
    ck_assert_int_ne(it_shf(NULL, 10,
                            "grep -qF ' INFO ' '%s' && grep -F ' INFO ' '%s' | "
                            "grep -qv 'reload\\|reopened'",
                            log, log),
                     0);
    ck_assert_int_eq(it_proc_stop(&s), 0);
}

END_TEST

/* The manager: JSON lines, reopen on SIGHUP, its log level reloads, a JWT change waits. */
START_TEST(test_mgr_log_reopen_reload)
{
    struct it_proc m;
    char conf[700], log[700], old[700], data[700];

    snprintf(conf, sizeof(conf), "%s/mgr.json", O.dir);
    snprintf(log, sizeof(log), "%s/mgr-file.log", O.dir);
    snprintf(old, sizeof(old), "%s/mgr-file.log.1", O.dir);
    snprintf(data, sizeof(data), "%s/mgr", O.dir);
    ops_write(conf, "{\"log\": {\"level\": \"info\", \"format\": \"json\"}}\n");
    ck_assert_int_eq(it_df_start(&m, O.dir, "logmgr", "manager", "--config", conf, "--listen",
                                 "127.0.0.218:0", "--rpc-listen", "127.0.0.218:0", "--data-dir",
                                 data, "--log-file", log, NULL),
                     0);
    ck_assert(ops_log_has(log, "ready"));
    ck_assert_int_gt(ops_json_lines(log), 0);
    ck_assert_int_eq(rename(log, old), 0);
    ops_write(conf, "{\"log\": {\"level\": \"debug\", \"format\": \"json\"},\n"
                    " \"auth\": {\"jwt\": {\"timeout\": \"1h\"}}}\n");
    ops_hup(&m);
    ck_assert(ops_log_has(log, "log file reopened"));
    ck_assert(ops_log_has(log, "reload: log.level changed: applied"));
    ck_assert(
            ops_log_has(log, "reload: auth.jwt.timeout changed: it takes effect after a restart"));
    ck_assert_int_ne(it_shf(NULL, 10, "grep -qF 'log file reopened' '%s'", old), 0);
    ck_assert_int_gt(ops_json_lines(log), 0);
    ops_write(conf, "{\"log\": {\"level\": \"loud\"}}\n");
    ops_hup(&m);
    ck_assert(ops_log_has(log, "the running configuration stays"));
    ck_assert_int_eq(ops_status(it_proc_ready_str(&m, "rest"), "/healthy"), 200);
    ck_assert_int_eq(it_proc_stop(&m), 0);
}

END_TEST

Suite *it_ops_suite(void);

Suite *
it_ops_suite(void)
{
    Suite *s = suite_create("it_ops");
    TCase *tc = tcase_create("parser");

    tcase_add_test(tc, test_parser_refuses);
    suite_add_tcase(s, tc);
    tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, ops_setup, ops_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_metrics_every_role);
    tcase_add_test(tc, test_health_every_role);
    tcase_add_test(tc, test_peer_log_reopen_reload);
    tcase_add_test(tc, test_sched_log_reopen_reload);
    tcase_add_test(tc, test_mgr_log_reopen_reload);
    suite_add_tcase(s, tc);
    return s;
}
