/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "df/df_conf.h"
#include "df/df_units.h"
#include "df/xmalloc.h"

/* A role-like config covering every type. */
struct test_config {
    bool verbose;
    bool disable_shared;
    int64_t workers;
    int64_t piece_length;
    int64_t rate_limit;
    int64_t gc_interval;
    int64_t offset;
    char *data_dir;
    char *output;
    char *token;
    int algorithm;
    struct df_conf_list headers;
    struct df_conf_list tags;
    struct df_conf_list filtered;
    struct df_conf_addr listen;
    int64_t not_in_table;
};

static const char *const algorithms[] = {"default", "ml", "nt", NULL};
static const char *const filtered_def[] = {"Expires", "Signature", NULL};

#define F(field) offsetof(struct test_config, field)

static const struct df_conf_entry entries[] = {
        {.key = "verbose",
         .short_flag = 'v',
         .type = DF_CONF_BOOL,
         .offset = F(verbose),
         .help = "log more"},
        {.key = "upload.disableShared",
         .type = DF_CONF_BOOL,
         .offset = F(disable_shared),
         .def = "true",
         .help = "never upload to other peers"},
        {.key = "download.workers",
         .type = DF_CONF_INT,
         .offset = F(workers),
         .def = "4",
         .min = 1,
         .max = 64,
         .help = "parallel piece downloads"},
        {.key = "download.pieceLength",
         .type = DF_CONF_SIZE,
         .offset = F(piece_length),
         .def = "4MiB",
         .min = 4 << 20,
         .max = 64 << 20,
         .help = "piece size"},
        {.key = "upload.rateLimit",
         .type = DF_CONF_RATE,
         .offset = F(rate_limit),
         .def = "1GiB/s",
         .help = "upload bandwidth"},
        {.key = "scheduler.gc.interval",
         .type = DF_CONF_DURATION,
         .offset = F(gc_interval),
         .def = "30s",
         .min = 1000,
         .max = 86400000,
         .help = "how often to collect garbage"},
        {.key = "offset", .type = DF_CONF_INT, .offset = F(offset), .help = "any integer"},
        {.key = "storage.dataDir",
         .type = DF_CONF_STRING,
         .offset = F(data_dir),
         .def = "/var/lib/dragonfly",
         .metavar = "DIR",
         .help = "where pieces live"},
        {.key = "output",
         .short_flag = 'O',
         .type = DF_CONF_STRING,
         .offset = F(output),
         .metavar = "PATH",
         .help = "output file"},
        {.key = "manager.token",
         .type = DF_CONF_STRING,
         .offset = F(token),
         .def = "s3cret",
         .flags = DF_CONF_SECRET,
         .help = "manager token"},
        {.key = "scheduler.algorithm",
         .type = DF_CONF_ENUM,
         .offset = F(algorithm),
         .def = "default",
         .choices = algorithms,
         .help = "parent selection",
         .alias = "nt",
         .alias_value = "nt"},
        {.key = "headers",
         .flag = "header",
         .short_flag = 'H',
         .type = DF_CONF_LIST,
         .offset = F(headers),
         .metavar = "'K: V'",
         .help = "request header"},
        {.key = "tags",
         .type = DF_CONF_LIST,
         .offset = F(tags),
         .help = "task tag (repeatable, in order)"},
        {.key = "filteredQueryParams",
         .flag = "filter",
         .type = DF_CONF_LIST,
         .offset = F(filtered),
         .def_list = filtered_def,
         .help = "query params to drop"},
        {.key = "server.listen",
         .type = DF_CONF_ADDR,
         .offset = F(listen),
         .def = "127.0.0.1:8002",
         .help = "RPC address"},
};

static const struct df_conf_spec spec = {
        .cmd = "dragonfly test",
        .args = "URL...",
        .summary = "A test role.",
        .entries = entries,
        .n_entries = DF_NELEM(entries),
        .size = sizeof(struct test_config),
        .max_args = 2,
};

/* One df_conf_load call: optional JSON file (passed first as -c FILE) plus flags. */
struct run {
    struct test_config cfg;
    struct df_conf_args args;
    struct df_error err;
    char *argv[32];
    int argc;
    char path[64];
    int rv;
};

static void
write_file(char *path, size_t len, const char *text)
{
    int fd;

    snprintf(path, len, "/tmp/df-conf-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ne(fd, -1);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Run the loader; the variadic list of argv strings ends with NULL. */
static int
run_load(struct run *r, const char *json, ...)
{
    const char *a;
    va_list ap;

    r->argv[r->argc++] = xstrdup("test");
    if (json != NULL) {
        write_file(r->path, sizeof(r->path), json);
        r->argv[r->argc++] = xstrdup("-c");
        r->argv[r->argc++] = xstrdup(r->path);
    }
    va_start(ap, json);
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_int_lt(r->argc, 31);
        r->argv[r->argc++] = xstrdup(a);
    }
    va_end(ap);
    r->rv = df_conf_load(&spec, &r->cfg, r->argc, r->argv, &r->args, &r->err);
    return r->rv;
}

static void
run_end(struct run *r)
{
    if (r->rv == 0) {
        df_conf_reset(&spec, &r->cfg);
        df_conf_args_reset(&r->args);
    }
    for (int i = 0; i < r->argc; i++)
        free(r->argv[i]);
    if (r->path[0] != '\0')
        unlink(r->path);
}

/* Load and expect failure with exactly msg. */
#define LOAD_FAILS(code_, msg_, json_, ...)                         \
    do {                                                            \
        struct run r_ = {.rv = 0};                                  \
        ck_assert_int_eq(run_load(&r_, json_, __VA_ARGS__), code_); \
        ck_assert_str_eq(r_.err.msg, msg_);                         \
        run_end(&r_);                                               \
    } while (0)

START_TEST(test_flag_from_key)
{
    char buf[64];

    ck_assert_str_eq(df_conf_flag_from_key("upload.rateLimit", buf, sizeof(buf)),
                     "upload-rate-limit");
    ck_assert_str_eq(df_conf_flag_from_key("scheduler.gc.interval", buf, sizeof(buf)),
                     "scheduler-gc-interval");
    ck_assert_str_eq(df_conf_flag_from_key("tls.caCert", buf, sizeof(buf)), "tls-ca-cert");
    ck_assert_str_eq(df_conf_flag_from_key("proxy.HTTPSProxy", buf, sizeof(buf)),
                     "proxy-https-proxy");
    ck_assert_str_eq(df_conf_flag_from_key("maxTxBandwidth", buf, sizeof(buf)), "max-tx-bandwidth");
    ck_assert_str_eq(df_conf_flag_from_key("ipv6Enabled", buf, sizeof(buf)), "ipv6-enabled");
    ck_assert_str_eq(df_conf_flag_from_key("peerID", buf, sizeof(buf)), "peer-id");
    ck_assert_str_eq(df_conf_flag_from_key("upload.rateLimit", buf, 7), "upload");
}

END_TEST

START_TEST(test_defaults)
{
    struct run r = {.cfg.not_in_table = 77};

    ck_assert_int_eq(run_load(&r, NULL, NULL), 0);
    ck_assert(!r.cfg.verbose);
    ck_assert(r.cfg.disable_shared);
    ck_assert_int_eq(r.cfg.workers, 4);
    ck_assert_int_eq(r.cfg.piece_length, 4 << 20);
    ck_assert_int_eq(r.cfg.rate_limit, INT64_C(1) << 30);
    ck_assert_int_eq(r.cfg.gc_interval, 30000);
    ck_assert_int_eq(r.cfg.offset, 0);
    ck_assert_str_eq(r.cfg.data_dir, "/var/lib/dragonfly");
    ck_assert_ptr_null(r.cfg.output);
    ck_assert_str_eq(r.cfg.token, "s3cret");
    ck_assert_int_eq(r.cfg.algorithm, 0);
    ck_assert_uint_eq(r.cfg.headers.n, 0);
    ck_assert_uint_eq(r.cfg.filtered.n, 2);
    ck_assert_str_eq(r.cfg.filtered.v[1], "Signature");
    ck_assert_str_eq(r.cfg.listen.host, "127.0.0.1");
    ck_assert_uint_eq(r.cfg.listen.port, 8002);
    ck_assert_int_eq(r.cfg.not_in_table, 77); /* fields outside the table are kept */
    ck_assert_ptr_null(r.args.config_path);
    ck_assert_uint_eq(r.args.n_pos, 0);
    ck_assert(!r.args.help && !r.args.check_config);
    run_end(&r);
}

END_TEST

static const char every_type_json[] =
        "{\n"
        "  // comments are allowed\n"
        "  \"verbose\": true,\n"
        "  \"upload\": {\"disableShared\": false, \"rateLimit\": \"800Mbit/s\"},\n"
        "  \"download\": {\"workers\": 8, \"pieceLength\": \"16MiB\"},\n"
        "  /* block comment with \"quotes\" */\n"
        "  \"scheduler\": {\"gc\": {\"interval\": \"1h30m\"}, \"algorithm\": \"ml\"},\n"
        "  \"offset\": \"-9000000000000000000\",\n"
        "  \"storage\": {\"dataDir\": \"/data // not a comment\"},\n"
        "  \"output\": \"/tmp/out\",\n"
        "  \"manager\": {\"token\": null},\n"
        "  \"headers\": [\"A: 1\", \"B: 2\"],\n"
        "  \"filteredQueryParams\": [],\n"
        "  \"server\": {\"listen\": \"[::1]:0\"}\n"
        "}\n";

START_TEST(test_file_every_type)
{
    struct run r = {.rv = 0};

    ck_assert_int_eq(run_load(&r, every_type_json, NULL), 0);
    ck_assert_str_eq(r.args.config_path, r.path);
    ck_assert(r.cfg.verbose);
    ck_assert(!r.cfg.disable_shared);
    ck_assert_int_eq(r.cfg.rate_limit, 100000000);
    ck_assert_int_eq(r.cfg.workers, 8);
    ck_assert_int_eq(r.cfg.piece_length, 16 << 20);
    ck_assert_int_eq(r.cfg.gc_interval, 5400000);
    ck_assert_int_eq(r.cfg.algorithm, 1);
    ck_assert_int_eq(r.cfg.offset, INT64_C(-9000000000000000000));
    ck_assert_str_eq(r.cfg.data_dir, "/data // not a comment");
    ck_assert_str_eq(r.cfg.output, "/tmp/out");
    ck_assert_ptr_null(r.cfg.token);
    ck_assert_uint_eq(r.cfg.headers.n, 2);
    ck_assert_str_eq(r.cfg.headers.v[0], "A: 1");
    ck_assert_str_eq(r.cfg.headers.v[1], "B: 2");
    ck_assert_uint_eq(r.cfg.filtered.n, 0);
    ck_assert_str_eq(r.cfg.listen.host, "::1");
    ck_assert(r.cfg.listen.ipv6);
    ck_assert_uint_eq(r.cfg.listen.port, 0);
    run_end(&r);
}

END_TEST

START_TEST(test_flags_every_type)
{
    struct run r = {.rv = 0};

    ck_assert_int_eq(run_load(&r, NULL, "-v", "--no-upload-disable-shared", "--download-workers",
                              "16", "--download-piece-length=8MiB", "--upload-rate-limit", "10MB/s",
                              "--scheduler-gc-interval=5m", "--offset", "-5", "--storage-data-dir",
                              "", "-O/tmp/o", "--manager-token", "t", "--scheduler-algorithm=nt",
                              "-H", "A: 1", "--header=B: 2", "--server-listen", "10.0.0.1:65000",
                              NULL),
                     0);
    ck_assert(r.cfg.verbose);
    ck_assert(!r.cfg.disable_shared);
    ck_assert_int_eq(r.cfg.workers, 16);
    ck_assert_int_eq(r.cfg.piece_length, 8 << 20);
    ck_assert_int_eq(r.cfg.rate_limit, 10000000);
    ck_assert_int_eq(r.cfg.gc_interval, 300000);
    ck_assert_int_eq(r.cfg.offset, -5);
    ck_assert_str_eq(r.cfg.data_dir, "");
    ck_assert_str_eq(r.cfg.output, "/tmp/o");
    ck_assert_str_eq(r.cfg.token, "t");
    ck_assert_int_eq(r.cfg.algorithm, 2);
    ck_assert_uint_eq(r.cfg.headers.n, 2);
    ck_assert_str_eq(r.cfg.headers.v[1], "B: 2");
    ck_assert_str_eq(r.cfg.listen.host, "10.0.0.1");
    ck_assert(!r.cfg.listen.ipv6);
    ck_assert_uint_eq(r.cfg.listen.port, 65000);
    run_end(&r);
}

END_TEST

START_TEST(test_bool_forms)
{
    struct run r = {.rv = 0};

    ck_assert_int_eq(run_load(&r, "{\"verbose\": true}", "--verbose=false",
                              "--upload-disable-shared=true", NULL),
                     0);
    ck_assert(!r.cfg.verbose);
    ck_assert(r.cfg.disable_shared);
    run_end(&r);
    memset(&r, 0, sizeof(r));
    /* a bool flag never eats the next argument */
    ck_assert_int_eq(run_load(&r, NULL, "--verbose", "false", NULL), 0);
    ck_assert(r.cfg.verbose);
    ck_assert_uint_eq(r.args.n_pos, 1);
    ck_assert_str_eq(r.args.pos[0], "false");
    run_end(&r);
    LOAD_FAILS(DF_EINVAL, "--verbose: expected true or false, got \"yes\"", NULL, "--verbose=yes",
               NULL);
    LOAD_FAILS(DF_EINVAL, "--no-verbose: takes no value", NULL, "--no-verbose=true", NULL);
    LOAD_FAILS(DF_EINVAL, "-v: takes no value", NULL, "-vv", NULL);
    LOAD_FAILS(DF_EINVAL, "--no-download-workers: unknown flag", NULL, "--no-download-workers",
               NULL);
}

END_TEST

START_TEST(test_precedence)
{
    struct run r = {.rv = 0};

    /* defaults < file < flags, wherever -c appears */
    ck_assert_int_eq(run_load(&r, "{\"download\": {\"workers\": 8, \"pieceLength\": 8388608}}",
                              "--download-workers", "2", NULL),
                     0);
    ck_assert_int_eq(r.cfg.workers, 2);
    ck_assert_int_eq(r.cfg.piece_length, 8 << 20);
    ck_assert_int_eq(r.cfg.gc_interval, 30000);
    run_end(&r);

    memset(&r, 0, sizeof(r));
    write_file(r.path, sizeof(r.path), "{\"scheduler\": {\"gc\": {\"interval\": \"2m\"}}}");
    r.argv[r.argc++] = xstrdup("test");
    r.argv[r.argc++] = xstrdup("--scheduler-gc-interval=1m");
    r.argv[r.argc++] = xasprintf("--config=%s", r.path);
    r.rv = df_conf_load(&spec, &r.cfg, r.argc, r.argv, &r.args, &r.err);
    ck_assert_int_eq(r.rv, 0);
    ck_assert_int_eq(r.cfg.gc_interval, 60000);
    ck_assert_str_eq(r.args.config_path, r.path);
    run_end(&r);
}

END_TEST

START_TEST(test_list_flags)
{
    struct run r = {.rv = 0};

    /* the first flag replaces the file's list, later ones append */
    ck_assert_int_eq(run_load(&r, "{\"headers\": [\"F: 1\"], \"filteredQueryParams\": [\"x\"]}",
                              "-H", "A: 1", "-HB: 2", "--header", "C: 3", NULL),
                     0);
    ck_assert_uint_eq(r.cfg.headers.n, 3);
    ck_assert_str_eq(r.cfg.headers.v[0], "A: 1");
    ck_assert_str_eq(r.cfg.headers.v[2], "C: 3");
    ck_assert_uint_eq(r.cfg.filtered.n, 1);
    ck_assert_str_eq(r.cfg.filtered.v[0], "x");
    run_end(&r);
    memset(&r, 0, sizeof(r));
    /* flags also replace the default list */
    ck_assert_int_eq(run_load(&r, NULL, "--filter", "a", NULL), 0);
    ck_assert_uint_eq(r.cfg.filtered.n, 1);
    ck_assert_str_eq(r.cfg.filtered.v[0], "a");
    run_end(&r);
}

END_TEST

START_TEST(test_positional)
{
    struct run r = {.rv = 0};

    ck_assert_int_eq(run_load(&r, NULL, "http://a/b", "-O", "/tmp/x", "-", NULL), 0);
    ck_assert_uint_eq(r.args.n_pos, 2);
    ck_assert_str_eq(r.args.pos[0], "http://a/b");
    ck_assert_str_eq(r.args.pos[1], "-");
    ck_assert_str_eq(r.cfg.output, "/tmp/x");
    run_end(&r);
    memset(&r, 0, sizeof(r));
    /* "--" ends flags */
    ck_assert_int_eq(run_load(&r, NULL, "--", "--verbose", NULL), 0);
    ck_assert(!r.cfg.verbose);
    ck_assert_uint_eq(r.args.n_pos, 1);
    ck_assert_str_eq(r.args.pos[0], "--verbose");
    run_end(&r);
    LOAD_FAILS(DF_EINVAL, "unexpected argument \"c\"", NULL, "a", "b", "c", NULL);
}

END_TEST

START_TEST(test_unknown)
{
    LOAD_FAILS(DF_EINVAL, "upload.rateLimt: unknown key (did you mean \"upload.rateLimit\"?)",
               "{\"upload\": {\"rateLimt\": \"1MiB/s\"}}", NULL);
    LOAD_FAILS(DF_EINVAL, "uplaod: unknown key (did you mean \"upload\"?)",
               "{\"uplaod\": {\"rateLimit\": \"1MiB/s\"}}", NULL);
    LOAD_FAILS(DF_EINVAL, "colour: unknown key", "{\"colour\": 1}", NULL);
    LOAD_FAILS(DF_EINVAL, "scheduler.gc.interval: expected duration like 30s, got an object",
               "{\"scheduler\": {\"gc\": {\"interval\": {\"x\": 1}}}}", NULL);
    LOAD_FAILS(DF_EINVAL, "\"upload.rateLimit\": unknown key", "{\"upload.rateLimit\": 1}", NULL);
    LOAD_FAILS(DF_EINVAL, "\"a\\x0ab\": unknown key", "{\"a\\nb\": 1}", NULL);
    LOAD_FAILS(DF_EINVAL, "--upload-rate-limt: unknown flag (did you mean --upload-rate-limit?)",
               NULL, "--upload-rate-limt=1MiB/s", NULL);
    LOAD_FAILS(DF_EINVAL, "--colour: unknown flag", NULL, "--colour", NULL);
    LOAD_FAILS(DF_EINVAL, "-x: unknown flag", NULL, "-x", NULL);
    LOAD_FAILS(DF_EINVAL, "--upload: unknown flag", NULL, "--upload", "x", NULL);
}

END_TEST

START_TEST(test_bad_values)
{
    LOAD_FAILS(DF_EINVAL, "scheduler.gc.interval: expected duration like 30s, got \"abc\"",
               "{\"scheduler\": {\"gc\": {\"interval\": \"abc\"}}}", NULL);
    LOAD_FAILS(DF_EINVAL, "--scheduler-gc-interval: expected duration like 30s, got \"abc\"", NULL,
               "--scheduler-gc-interval", "abc", NULL);
    LOAD_FAILS(DF_EINVAL, "scheduler.gc.interval: expected duration like 30s, got 30",
               "{\"scheduler\": {\"gc\": {\"interval\": 30}}}", NULL);
    LOAD_FAILS(DF_EINVAL, "upload.rateLimit: expected rate like 100MiB/s, got \"100MiB\"",
               "{\"upload\": {\"rateLimit\": \"100MiB\"}}", NULL);
    LOAD_FAILS(DF_EINVAL, "--download-piece-length: expected size like 64MiB, got \"4 MB/s\"", NULL,
               "--download-piece-length=4 MB/s", NULL);
    LOAD_FAILS(DF_EINVAL, "download.pieceLength: expected size like 64MiB, got -4",
               "{\"download\": {\"pieceLength\": -4}}", NULL);
    LOAD_FAILS(DF_EINVAL, "download.workers: expected integer, got 1.5",
               "{\"download\": {\"workers\": 1.5}}", NULL);
    LOAD_FAILS(DF_EINVAL, "download.workers: expected integer, got \"4x\"",
               "{\"download\": {\"workers\": \"4x\"}}", NULL);
    LOAD_FAILS(DF_EINVAL, "output: expected string, got 3", "{\"output\": 3}", NULL);
    LOAD_FAILS(DF_EINVAL, "verbose: expected true or false, got \"yes\"", "{\"verbose\": \"yes\"}",
               NULL);
    LOAD_FAILS(DF_EINVAL, "scheduler.algorithm: expected one of default, ml, nt, got \"random\"",
               "{\"scheduler\": {\"algorithm\": \"random\"}}", NULL);
    LOAD_FAILS(DF_EINVAL,
               "--server-listen: expected address like 127.0.0.1:8002, got \"localhost:8002\"",
               NULL, "--server-listen", "localhost:8002", NULL);
    LOAD_FAILS(DF_EINVAL, "headers[1]: expected string, got 2", "{\"headers\": [\"a\", 2]}", NULL);
    LOAD_FAILS(DF_EINVAL, "headers: expected list of strings, got \"a\"", "{\"headers\": \"a\"}",
               NULL);
    LOAD_FAILS(DF_EINVAL, "upload: expected object, got 1", "{\"upload\": 1}", NULL);
    LOAD_FAILS(DF_EINVAL, "upload.rateLimit: expected rate like 100MiB/s, got an object",
               "{\"upload\": {\"rateLimit\": {}}}", NULL);
    LOAD_FAILS(DF_EINVAL, "verbose: expected true or false, got null", "{\"verbose\": null}", NULL);
    LOAD_FAILS(DF_EINVAL, "--download-workers: value too large, got \"99999999999999999999\"", NULL,
               "--download-workers", "99999999999999999999", NULL);
    LOAD_FAILS(DF_EINVAL, "--download-workers: missing value", NULL, "--download-workers", NULL);
    LOAD_FAILS(DF_EINVAL, "-O: missing value", NULL, "-O", NULL);
    LOAD_FAILS(DF_EINVAL, "--config: missing value", NULL, "--config", NULL);
    LOAD_FAILS(DF_EINVAL, "verbose: duplicate key", "{\"verbose\": true, \"verbose\": false}",
               NULL);
    /* long or odd values are escaped and cut */
    LOAD_FAILS(DF_EINVAL,
               "--download-workers: expected integer, got "
               "\"0123456789012345678901234567890123456789\\x0a1234567...\"",
               NULL, "--download-workers",
               "0123456789012345678901234567890123456789\n123456789012345", NULL);
}

END_TEST

START_TEST(test_bounds)
{
    LOAD_FAILS(DF_EINVAL, "download.workers: must be at most 64, got 65",
               "{\"download\": {\"workers\": 65}}", NULL);
    LOAD_FAILS(DF_EINVAL, "--download-workers: must be at least 1, got 0", NULL,
               "--download-workers=0", NULL);
    LOAD_FAILS(DF_EINVAL, "--download-piece-length: must be at least 4MiB, got 1MiB", NULL,
               "--download-piece-length=1MiB", NULL);
    LOAD_FAILS(DF_EINVAL, "download.pieceLength: must be at most 64MiB, got 1GB",
               "{\"download\": {\"pieceLength\": \"1GB\"}}", NULL);
    LOAD_FAILS(DF_EINVAL, "scheduler.gc.interval: must be at least 1s, got 500ms",
               "{\"scheduler\": {\"gc\": {\"interval\": \"500ms\"}}}", NULL);
    LOAD_FAILS(DF_EINVAL, "--scheduler-gc-interval: must be at most 24h, got 7d", NULL,
               "--scheduler-gc-interval=7d", NULL);
}

END_TEST

START_TEST(test_file_errors)
{
    struct run r = {.rv = 0};
    char *big;

    r.argv[r.argc++] = xstrdup("test");
    r.argv[r.argc++] = xstrdup("-c/nonexistent/df.json");
    ck_assert_int_eq(df_conf_load(&spec, &r.cfg, r.argc, r.argv, &r.args, &r.err), DF_EIO);
    ck_assert_str_eq(r.err.msg, "/nonexistent/df.json: No such file or directory");
    r.rv = DF_EIO;
    run_end(&r);

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(run_load(&r, "{\"verbose\": true,}", NULL), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(r.err.msg, r.path));
    ck_assert_ptr_nonnull(strstr(r.err.msg, ": json: malformed at line 1, column 18: expected a "
                                            "quoted key (no ',' before '}'), found '}'"));
    run_end(&r);

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(run_load(&r, "[1]", NULL), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(r.err.msg, ": expected a JSON object at the top level"));
    run_end(&r);

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(run_load(&r, "{} /* open", NULL), DF_EINVAL);
    ck_assert_ptr_nonnull(
            strstr(r.err.msg, ": unterminated comment at line 1, column 4: expected '*/'"));
    run_end(&r);

    /* comments do not move the position of a later error */
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(
            run_load(&r, "{\n  // the log\n  \"verbose\": true /* on */\n  \"x\": 1}", NULL),
            DF_EINVAL);
    ck_assert_ptr_nonnull(
            strstr(r.err.msg, ": json: malformed at line 4, column 3: expected ',' or '}', found"));
    run_end(&r);

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(run_load(&r, "", NULL), DF_EINVAL);
    run_end(&r);

    memset(&r, 0, sizeof(r));
    big = xmalloc(DF_CONF_FILE_MAX + 2);
    memset(big, ' ', DF_CONF_FILE_MAX + 1);
    big[0] = '{';
    big[DF_CONF_FILE_MAX] = '}';
    big[DF_CONF_FILE_MAX + 1] = '\0';
    ck_assert_int_eq(run_load(&r, big, NULL), DF_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(r.err.msg, ": larger than 1048576 bytes"));
    run_end(&r);
    /* exactly at the limit is fine */
    memset(&r, 0, sizeof(r));
    big[DF_CONF_FILE_MAX - 1] = '}';
    big[DF_CONF_FILE_MAX] = '\0';
    ck_assert_int_eq(run_load(&r, big, NULL), 0);
    run_end(&r);
    free(big);

    /* a directory */
    memset(&r, 0, sizeof(r));
    r.argv[r.argc++] = xstrdup("test");
    r.argv[r.argc++] = xstrdup("--config=/tmp");
    ck_assert_int_eq(df_conf_load(&spec, &r.cfg, r.argc, r.argv, &r.args, &r.err), DF_EIO);
    ck_assert_str_eq(r.err.msg, "/tmp: Is a directory");
    r.rv = DF_EIO;
    run_end(&r);
}

END_TEST

START_TEST(test_untouched_on_error)
{
    struct test_config cfg = {.workers = 99, .data_dir = NULL, .not_in_table = 5};
    struct df_conf_args args = {.n_pos = 42};
    struct df_error err;
    char *argv[] = {xstrdup("test"), xstrdup("pos"), xstrdup("--download-workers=1000")};

    ck_assert_int_eq(df_conf_load(&spec, &cfg, 3, argv, &args, &err), DF_EINVAL);
    ck_assert_int_eq(cfg.workers, 99);
    ck_assert_ptr_null(cfg.data_dir);
    ck_assert_int_eq(cfg.not_in_table, 5);
    ck_assert_uint_eq(args.n_pos, 42);
    for (size_t i = 0; i < DF_NELEM(argv); i++)
        free(argv[i]);
}

END_TEST

/* DF_CONF_OBJECTS: a list's object items are kept as their compact JSON text; others refuse. */
START_TEST(test_list_objects)
{
    struct obj_config {
        struct df_conf_list rules, plain;
    } cfg;
    static const struct df_conf_entry oents[] = {
            {.key = "rules",
             .type = DF_CONF_LIST,
             .flags = DF_CONF_OBJECTS,
             .offset = offsetof(struct obj_config, rules),
             .help = "strings or objects"},
            {.key = "plain",
             .type = DF_CONF_LIST,
             .offset = offsetof(struct obj_config, plain),
             .help = "strings only"},
    };
    static const struct df_conf_spec ospec = {
            .cmd = "dragonfly test",
            .summary = "objects",
            .entries = oents,
            .n_entries = DF_NELEM(oents),
            .size = sizeof(struct obj_config),
    };
    static const char doc[] = "{\"rules\": [\"a\", {\"regex\": \"b\", \"useTLS\": true}]}";
    static const char bad[] = "{\"plain\": [{\"regex\": \"b\"}]}";
    struct df_error err;

    memset(&cfg, 0, sizeof(cfg));
    ck_assert_msg(df_conf_load_json(&ospec, &cfg, doc, strlen(doc), "objects", &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(cfg.rules.n, 2);
    ck_assert_str_eq(cfg.rules.v[0], "a");
    ck_assert_str_eq(cfg.rules.v[1], "{\"regex\":\"b\",\"useTLS\":true}");
    ck_assert_int_eq(df_conf_load_json(&ospec, &cfg, bad, strlen(bad), "objects", &err), DF_EINVAL);
    ck_assert_msg(strstr(err.msg, "plain[0]: expected string") != NULL, "%s", err.msg);
    df_conf_reset(&ospec, &cfg);
}

END_TEST

START_TEST(test_reload)
{
    static const char doc[] = "{\"storage\": {\"dataDir\": \"/a\"}, \"headers\": [\"x\"]}";
    struct test_config cfg = {.verbose = false};
    struct df_error err;

    ck_assert_int_eq(df_conf_load_json(&spec, &cfg, doc, strlen(doc), "reload", &err), 0);
    ck_assert_str_eq(cfg.data_dir, "/a");
    ck_assert_uint_eq(cfg.headers.n, 1);
    /* a failed reload keeps the running config */
    ck_assert_int_eq(df_conf_load_json(&spec, &cfg, "{\"x\": 1}", 8, "reload", &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "x: unknown key");
    ck_assert_str_eq(cfg.data_dir, "/a");
    ck_assert_int_eq(df_conf_load_json(&spec, &cfg, "{", 1, "reload", &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "reload: json: malformed at line 1, column 2: expected a quoted key "
                              "or '}', found the end of the document");
    /* hostile nesting is refused before cJSON recurses */
    {
        char deep[2 * (DF_CONF_DEPTH_MAX + 1) + 1];

        memset(deep, '[', DF_CONF_DEPTH_MAX + 1);
        memset(deep + DF_CONF_DEPTH_MAX + 1, ']', DF_CONF_DEPTH_MAX + 1);
        deep[sizeof(deep) - 1] = '\0';
        ck_assert_int_eq(df_conf_load_json(&spec, &cfg, deep, strlen(deep), "deep", &err),
                         DF_ETOOBIG);
        ck_assert_str_eq(err.msg, "deep: json: nesting deeper than 32");
    }
    ck_assert_str_eq(cfg.data_dir, "/a");
    df_conf_reset(&spec, &cfg);
    ck_assert_ptr_null(cfg.data_dir);
    ck_assert_ptr_null(cfg.headers.v);
    ck_assert_uint_eq(cfg.headers.n, 0);
    df_conf_reset(&spec, &cfg); /* twice is harmless */
}

END_TEST

START_TEST(test_help)
{
    struct run r = {.cfg.workers = 3};
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    /* --help wins even over a bad flag, and loads nothing */
    ck_assert_int_eq(run_load(&r, "{\"bad\": 1}", "--colour", "--help", NULL), 0);
    ck_assert(r.args.help);
    ck_assert_int_eq(r.cfg.workers, 3);
    run_end(&r);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(run_load(&r, NULL, "pos", "-h", "pos2", NULL), 0);
    ck_assert(r.args.help);
    ck_assert_ptr_null(r.args.pos);
    run_end(&r);
    /* after "--" it is a positional argument */
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(run_load(&r, NULL, "--", "--help", NULL), 0);
    ck_assert(!r.args.help);
    run_end(&r);

    f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    df_conf_usage(&spec, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "usage: dragonfly test [flags] URL...\n\nA test role.\n"));
    ck_assert_ptr_nonnull(strstr(text, "  -c, --config FILE "));
    ck_assert_ptr_nonnull(strstr(text, "      --check-config "));
    ck_assert_ptr_nonnull(strstr(text, "  -v, --verbose "));
    ck_assert_ptr_nonnull(strstr(text, "      --download-workers N   "));
    ck_assert_ptr_nonnull(strstr(text, "parallel piece downloads (default 4)\n"));
    ck_assert_ptr_nonnull(strstr(text, "      --upload-rate-limit RATE "));
    ck_assert_ptr_nonnull(strstr(text, "upload bandwidth (default 1GiB/s)\n"));
    ck_assert_ptr_nonnull(strstr(text, "--scheduler-gc-interval DURATION"));
    ck_assert_ptr_nonnull(strstr(text, "how often to collect garbage (default 30s)\n"));
    ck_assert_ptr_nonnull(
            strstr(text, "      --download-piece-length SIZE\n" /* too long: help wraps */));
    ck_assert_ptr_nonnull(strstr(text, "--storage-data-dir DIR "));
    ck_assert_ptr_nonnull(strstr(text, "  -O, --output PATH "));
    ck_assert_ptr_nonnull(strstr(text, "--scheduler-algorithm default|ml|nt"));
    ck_assert_ptr_nonnull(strstr(text, "      --nt "));
    ck_assert_ptr_nonnull(strstr(text, "the same as --scheduler-algorithm nt\n"));
    ck_assert_ptr_nonnull(strstr(text, "  -H, --header 'K: V' "));
    ck_assert_ptr_nonnull(strstr(text, "request header (repeatable) [key headers]\n"));
    /* a help text that says it already is not told again */
    ck_assert_ptr_nonnull(strstr(text, "task tag (repeatable, in order)\n"));
    ck_assert_ptr_null(strstr(text, "(repeatable) (repeatable)"));
    ck_assert_ptr_nonnull(strstr(text, "(default Expires, Signature) [key filteredQueryParams]"));
    ck_assert_ptr_nonnull(strstr(text, "--server-listen IP:PORT "));
    ck_assert_ptr_nonnull(strstr(text, "RPC address (default 127.0.0.1:8002)\n"));
    ck_assert_ptr_nonnull(strstr(text, "manager token\n")); /* secret default hidden */
    ck_assert_ptr_null(strstr(text, "s3cret"));
    free(text);
}

END_TEST

START_TEST(test_check_config_flag)
{
    struct run r = {.rv = 0};

    ck_assert_int_eq(run_load(&r, NULL, "--check-config", NULL), 0);
    ck_assert(r.args.check_config);
    run_end(&r);
    LOAD_FAILS(DF_EINVAL, "--check-config: takes no value", NULL, "--check-config=1", NULL);
}

END_TEST

START_TEST(test_to_json)
{
    struct run r = {.rv = 0};
    struct test_config again = {.verbose = false};
    struct df_error err;
    char *json, *json2;

    ck_assert_int_eq(run_load(&r, every_type_json, "--manager-token=tok", NULL), 0);
    json = df_conf_to_json(&spec, &r.cfg);
    ck_assert_ptr_nonnull(json);
    ck_assert_ptr_nonnull(strstr(json, "\"rateLimit\":\t\"100MB/s\""));
    ck_assert_ptr_nonnull(strstr(json, "\"interval\":\t\"1h30m\""));
    ck_assert_ptr_nonnull(strstr(json, "\"pieceLength\":\t\"16MiB\""));
    ck_assert_ptr_nonnull(strstr(json, "\"offset\":\t\"-9000000000000000000\""));
    ck_assert_ptr_nonnull(strstr(json, "\"algorithm\":\t\"ml\""));
    ck_assert_ptr_nonnull(strstr(json, "\"listen\":\t\"[::1]:0\""));
    ck_assert_ptr_nonnull(strstr(json, "\"token\":\t\"***\""));
    ck_assert_ptr_null(strstr(json, "tok\""));
    ck_assert_ptr_nonnull(strstr(json, "\"filteredQueryParams\":\t[]"));
    /* what is printed loads back to the same config (the secret aside) */
    ck_assert_int_eq(df_conf_load_json(&spec, &again, json, strlen(json), "printed", &err), 0);
    ck_assert_str_eq(again.token, "***");
    DF_FREE(again.token, free);
    again.token = xstrdup("tok");
    json2 = df_conf_to_json(&spec, &again);
    ck_assert_str_eq(json, json2);
    free(json);
    free(json2);
    df_conf_reset(&spec, &again);
    run_end(&r);
}

END_TEST

START_TEST(test_to_json_unset)
{
    struct test_config cfg = {.verbose = false};
    struct df_error err;
    char *json;

    static const char doc[] = "{\"server\": {\"listen\": null}, \"manager\": {\"token\": \"\"}}";

    ck_assert_int_eq(df_conf_load_json(&spec, &cfg, doc, strlen(doc), "t", &err), 0);
    json = df_conf_to_json(&spec, &cfg);
    ck_assert_ptr_nonnull(strstr(json, "\"listen\":\tnull"));
    ck_assert_ptr_nonnull(strstr(json, "\"output\":\tnull"));
    ck_assert_ptr_nonnull(strstr(json, "\"token\":\t\"\"")); /* empty secret is not hidden */
    free(json);
    df_conf_reset(&spec, &cfg);
}

END_TEST

START_TEST(test_addr_parse)
{
    struct df_conf_addr a = {.port = 7};

    ck_assert_int_eq(df_conf_addr_parse("0.0.0.0:65535", &a), 0);
    ck_assert_str_eq(a.host, "0.0.0.0");
    ck_assert_uint_eq(a.port, 65535);
    ck_assert_int_eq(df_conf_addr_parse("[fe80::1]:80", &a), 0);
    ck_assert_str_eq(a.host, "fe80::1");
    ck_assert(a.ipv6);
    ck_assert_int_eq(df_conf_addr_parse("127.0.0.1", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("127.0.0.1:", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("127.0.0.1:65536", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("127.0.0.1:-1", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("127.0.0.1:8a", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse(":80", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("::1:80", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("[::1]80", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("[1.2.3.4]:80", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("256.0.0.1:80", &a), DF_EINVAL);
    ck_assert_int_eq(df_conf_addr_parse("host.example:80", &a), DF_EINVAL);
    ck_assert_str_eq(a.host, "fe80::1"); /* untouched on error */
}

END_TEST

/* Tables with programmer errors are refused with DF_EINTERNAL. */
struct bad_config {
    int64_t a;
    int64_t b;
    char *s;
    int e;
};

static int
check_table(const struct df_conf_entry *e, size_t n, char *msg, size_t len)
{
    struct df_conf_spec s = {
            .cmd = "t", .entries = e, .n_entries = n, .size = sizeof(struct bad_config)};
    struct df_error err = {.msg = ""};
    int rv = df_conf_spec_check(&s, &err);

    snprintf(msg, len, "%s", err.msg);
    return rv;
}

START_TEST(test_spec_check)
{
    static const char *const none[] = {NULL};
    const struct df_conf_entry dup_key[] = {
            {.key = "a", .type = DF_CONF_INT, .offset = offsetof(struct bad_config, a)},
            {.key = "a",
             .flag = "other",
             .type = DF_CONF_INT,
             .offset = offsetof(struct bad_config, b)},
    };
    const struct df_conf_entry dup_flag[] = {
            {.key = "x.yZ", .type = DF_CONF_INT, .offset = offsetof(struct bad_config, a)},
            {.key = "xY.z", .type = DF_CONF_INT, .offset = offsetof(struct bad_config, b)},
    };
    const struct df_conf_entry prefix[] = {
            {.key = "a", .type = DF_CONF_INT, .offset = offsetof(struct bad_config, a)},
            {.key = "a.b", .type = DF_CONF_INT, .offset = offsetof(struct bad_config, b)},
    };
    const struct df_conf_entry bad_default[] = {
            {.key = "a",
             .type = DF_CONF_DURATION,
             .offset = offsetof(struct bad_config, a),
             .def = "30"},
    };
    const struct df_conf_entry below_min[] = {
            {.key = "a",
             .type = DF_CONF_INT,
             .offset = offsetof(struct bad_config, a),
             .min = 1,
             .max = 5},
    };
    const struct df_conf_entry builtin[] = {
            {.key = "config", .type = DF_CONF_STRING, .offset = offsetof(struct bad_config, s)},
    };
    const struct df_conf_entry short_c[] = {
            {.key = "a",
             .short_flag = 'c',
             .type = DF_CONF_INT,
             .offset = offsetof(struct bad_config, a)},
    };
    const struct df_conf_entry offset[] = {
            {.key = "a", .type = DF_CONF_INT, .offset = sizeof(struct bad_config) - 4},
    };
    const struct df_conf_entry no_choices[] = {
            {.key = "a",
             .type = DF_CONF_ENUM,
             .offset = offsetof(struct bad_config, e),
             .choices = none},
    };
    const struct df_conf_entry bad_key[] = {
            {.key = "a..b", .type = DF_CONF_INT, .offset = offsetof(struct bad_config, a)},
    };
    const struct df_conf_entry secret_int[] = {
            {.key = "a",
             .type = DF_CONF_INT,
             .offset = offsetof(struct bad_config, a),
             .flags = DF_CONF_SECRET},
    };
    const struct df_conf_entry good[] = {
            {.key = "a",
             .type = DF_CONF_INT,
             .offset = offsetof(struct bad_config, a),
             .min = 1,
             .max = 5,
             .def = "5"},
            {.key = "s",
             .short_flag = 'S',
             .type = DF_CONF_STRING,
             .offset = offsetof(struct bad_config, s)},
    };
    const struct df_conf_entry alias_dup[] = {
            {.key = "a", .type = DF_CONF_INT, .offset = offsetof(struct bad_config, a)},
            {.key = "b",
             .type = DF_CONF_INT,
             .offset = offsetof(struct bad_config, b),
             .alias = "a",
             .alias_value = "1"},
    };
    const struct df_conf_entry alias_bad[] = {
            {.key = "a",
             .type = DF_CONF_INT,
             .offset = offsetof(struct bad_config, a),
             .alias = "one",
             .alias_value = "x"},
    };
    char msg[512];

    ck_assert_int_eq(check_table(alias_dup, 2, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "conf table: b: duplicate flag --a");
    ck_assert_int_eq(check_table(alias_bad, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "bad alias value: --one: expected integer, got \"x\"");
    ck_assert_int_eq(check_table(dup_key, 2, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "conf table: a: duplicate key");
    ck_assert_int_eq(check_table(dup_flag, 2, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "conf table: xY.z: duplicate flag --x-y-z");
    ck_assert_int_eq(check_table(prefix, 2, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "conf table: a.b: both a value and an object (a)");
    ck_assert_int_eq(check_table(bad_default, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "bad default: a: expected duration like 30s, got \"30\"");
    ck_assert_int_eq(check_table(below_min, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "bad default: a: must be at least 1, got 0");
    ck_assert_int_eq(check_table(builtin, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_int_eq(check_table(short_c, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_int_eq(check_table(offset, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_int_eq(check_table(no_choices, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_int_eq(check_table(bad_key, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_int_eq(check_table(secret_int, 1, msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_str_eq(msg, "conf table: a: only strings can be secret");
    ck_assert_int_eq(check_table(good, 2, msg, sizeof(msg)), 0);
    ck_assert_int_eq(check_table(entries, DF_NELEM(entries), msg, sizeof(msg)), DF_EINTERNAL);
    ck_assert_int_eq(df_conf_spec_check(&spec, NULL), 0);
}

END_TEST

/* An alias flag sets its entry to a fixed value, in order with the entry's own flag. */
START_TEST(test_alias)
{
    struct run r = {.rv = 0};

    ck_assert_int_eq(run_load(&r, "{\"scheduler\": {\"algorithm\": \"ml\"}}", "--nt", NULL), 0);
    ck_assert_int_eq(r.cfg.algorithm, 2);
    run_end(&r);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(run_load(&r, NULL, "--nt", "--scheduler-algorithm", "ml", NULL), 0);
    ck_assert_int_eq(r.cfg.algorithm, 1);
    run_end(&r);
    LOAD_FAILS(DF_EINVAL, "--nt: takes no value", NULL, "--nt=ml", NULL);
    LOAD_FAILS(DF_EINVAL, "--no-nt: unknown flag", NULL, "--no-nt", NULL);
}

END_TEST

START_TEST(test_required)
{
    static const struct df_conf_entry req[] = {
            {.key = "manager.addr",
             .type = DF_CONF_ADDR,
             .offset = 0,
             .flags = DF_CONF_REQUIRED,
             .help = "manager"},
    };
    static const struct df_conf_spec s = {
            .cmd = "t", .entries = req, .n_entries = 1, .size = sizeof(struct df_conf_addr)};
    static const char doc[] = "{\"manager\": {\"addr\": \"1.2.3.4:5\"}}";
    struct df_conf_addr a = {.port = 0};
    struct df_error err;

    ck_assert_int_eq(df_conf_load_json(&s, &a, "{}", 2, "t", &err), DF_EINVAL);
    ck_assert_str_eq(err.msg,
                     "manager.addr: required; set it in the config file or with --manager-addr");
    ck_assert_int_eq(df_conf_load_json(&s, &a, doc, strlen(doc), "t", &err), 0);
    ck_assert_uint_eq(a.port, 5);
}

END_TEST

Suite *test_df_conf_suite(void);

Suite *
test_df_conf_suite(void)
{
    Suite *s = suite_create("df_conf");
    TCase *tc = tcase_create("load");

    tcase_add_test(tc, test_flag_from_key);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_file_every_type);
    tcase_add_test(tc, test_flags_every_type);
    tcase_add_test(tc, test_bool_forms);
    tcase_add_test(tc, test_precedence);
    tcase_add_test(tc, test_list_flags);
    tcase_add_test(tc, test_positional);
    tcase_add_test(tc, test_untouched_on_error);
    tcase_add_test(tc, test_reload);
    tcase_add_test(tc, test_list_objects);
    tcase_add_test(tc, test_required);
    tcase_add_test(tc, test_alias);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_unknown);
    tcase_add_test(tc, test_bad_values);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_spec_check);
    tcase_add_test(tc, test_addr_parse);
    suite_add_tcase(s, tc);
    tc = tcase_create("output");
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_check_config_flag);
    tcase_add_test(tc, test_to_json);
    tcase_add_test(tc, test_to_json_unset);
    suite_add_tcase(s, tc);
    return s;
}
