/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The origin test server (test/tools/origin) as curl sees it: generated content and its
 * companion generator, ranges across 2^32, every fault mode, redirects across hosts,
 * HTTPS with the test CA, files, statistics and shutdown. Each test starts its own origin
 * on 127.0.0.x with --ready-file and stops it by PID.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <check.h>

#include "df/df_json.h"
#include "harness/harness.h"

struct it_origin {
    char *dir; /* owned by the first origin of a test */
    struct it_proc proc;
    char addr[64]; /* ip:port */
    char name[32];
};

/* Run a shell command built from fmt; returns its exit status, stdout in *out (or NULL). */
static int __attribute__((format(printf, 2, 3))) run(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return it_sh(cmd, out, 30);
}

static char *
slurp(const char *path)
{
    char *buf = NULL;
    size_t cap = 0, len = 0, n;
    FILE *f = fopen(path, "r");

    ck_assert_ptr_nonnull(f);
    do {
        if (cap - len < 4097) {
            cap = cap * 2 + 8192;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Start an origin on ip with extra flags (NULL-terminated); dir NULL makes a new one. */
static void
origin_start(struct it_origin *o, const char *dir, const char *ip, const char *name, ...)
{
    char tool[512], ready[600], listen[64];
    const char *argv[32];
    const char *a;
    size_t n = 0;
    va_list ap;

    memset(o, 0, sizeof(*o));
    o->dir = dir != NULL ? (char *)(uintptr_t)dir : it_tmpdir();
    ck_assert_ptr_nonnull(o->dir);
    snprintf(o->name, sizeof(o->name), "%s", name);
    snprintf(ready, sizeof(ready), "%s/%s.ready", o->dir, name);
    snprintf(listen, sizeof(listen), "%s:0", ip);
    argv[n++] = it_tool("origin", tool, sizeof(tool));
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    va_start(ap, name);
    while ((a = va_arg(ap, const char *)) != NULL && n < DF_NELEM(argv) - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(it_proc_start(&o->proc, o->dir, name, (char *const *)(uintptr_t)argv, ready,
                                   IT_READY_MS),
                     0);
    snprintf(o->addr, sizeof(o->addr), "%s", it_proc_ready_str(&o->proc, "http"));
    ck_assert_str_ne(o->addr, "(null)");
}

static int
origin_stop(struct it_origin *o, bool rm)
{
    int status = it_proc_stop(&o->proc);

    if (rm) {
        it_rmtree(o->dir);
        free(o->dir);
    }
    return status;
}

/* curl URL path on o into <dir>/<out>, headers into <dir>/h; returns "code size exit". */
static char *
get(const struct it_origin *o, const char *flags, const char *path, const char *out)
{
    char *res = NULL;

    run(&res,
        "curl -s --max-time 20 %s -D %s/h -o %s/%s -w '%%{http_code} %%{size_download} "
        "%%{exitcode}' 'http://%s%s'",
        flags, o->dir, o->dir, out, o->addr, path);
    return res;
}

static void
expect_get(const struct it_origin *o, const char *flags, const char *path, const char *want)
{
    char *res = get(o, flags, path, "body");

    ck_assert_msg(strcmp(res, want) == 0, "%s: got '%s', want '%s'", path, res, want);
    free(res);
}

/* The expected bytes: origin --gen into <dir>/<out>. */
static void
gen(const struct it_origin *o, const char *args, const char *out)
{
    char tool[512];

    ck_assert_int_eq(run(NULL, "%s --gen %s > %s/%s", it_tool("origin", tool, sizeof(tool)), args,
                         o->dir, out),
                     0);
}

static bool
same(const struct it_origin *o, const char *a, const char *b)
{
    return run(NULL, "cmp -s %s/%s %s/%s", o->dir, a, o->dir, b) == 0;
}

/* The response headers of the last get(), and a header test on them. */
static bool
has_header(const struct it_origin *o, const char *line)
{
    char path[600], *h;
    bool found;

    snprintf(path, sizeof(path), "%s/h", o->dir);
    h = slurp(path);
    found = strcasestr(h, line) != NULL;
    free(h);
    return found;
}

static cJSON *
stats(const struct it_origin *o)
{
    char *out = NULL;
    cJSON *doc = NULL;

    ck_assert_int_eq(run(&out, "curl -sS --max-time 10 'http://%s/_stats'", o->addr), 0);
    ck_assert_int_eq(df_json_parse(out, strlen(out), NULL, &doc, NULL), 0);
    free(out);
    return doc;
}

static uint64_t
stat_u64(const cJSON *doc, const char *target, const char *key)
{
    const cJSON *obj = doc;
    uint64_t v = UINT64_MAX;

    if (target != NULL) {
        obj = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "targets"),
                                               target);
        if (obj == NULL)
            return 0;
    }
    ck_assert_int_eq(df_json_get_u64(obj, key, &v, NULL), 0);
    return v;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64 as documented in origin --help, independently of the tool. */
static uint64_t
ref_word(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * UINT64_C(0x9E3779B97F4A7C15);

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

START_TEST(test_gen_matches_generator)
{
    struct it_origin o;
    char path[600];
    uint8_t ref[64];
    FILE *f;

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    expect_get(&o, "", "/gen/1MiB?seed=7", "200 1048576 0");
    ck_assert(has_header(&o, "Content-Length: 1048576\r\n"));
    ck_assert(has_header(&o, "ETag: \"gen-1048576-7\"\r\n"));
    ck_assert(has_header(&o, "Last-Modified: "));
    ck_assert(has_header(&o, "Content-Type: application/octet-stream"));
    gen(&o, "1MiB --seed 7", "exp");
    ck_assert(same(&o, "body", "exp"));
    /* a name after the size is ignored; the seed defaults to 0 */
    expect_get(&o, "", "/gen/64/name.bin", "200 64 0");
    for (unsigned i = 0; i < sizeof(ref); i++)
        ref[i] = (uint8_t)(ref_word(0, i / 8) >> (8 * (i % 8)));
    snprintf(path, sizeof(path), "%s/ref", o.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(ref, 1, sizeof(ref), f), sizeof(ref));
    fclose(f);
    ck_assert(same(&o, "body", "ref"));
    /* an empty object and a bad size */
    expect_get(&o, "", "/gen/0", "200 0 0");
    expect_get(&o, "", "/gen/12XB", "404 24 0");
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_head_and_ranges)
{
    struct it_origin o;

    origin_start(&o, NULL, "127.0.0.3", "origin", NULL);
    expect_get(&o, "-I", "/gen/1MiB?seed=1", "200 0 0");
    ck_assert(has_header(&o, "Content-Length: 1048576\r\n"));
    ck_assert(has_header(&o, "Accept-Ranges: bytes\r\n"));
    ck_assert(has_header(&o, "ETag: "));
    /* Dragonfly's client learns the length with bytes=0-0 */
    expect_get(&o, "-H 'Range: bytes=0-0'", "/gen/1MiB?seed=1", "206 1 0");
    ck_assert(has_header(&o, "Content-Range: bytes 0-0/1048576\r\n"));
    gen(&o, "1MiB --seed 1 --length 1", "exp");
    ck_assert(same(&o, "body", "exp"));
    expect_get(&o, "-H 'Range: bytes=1001-5000'", "/gen/1MiB?seed=1", "206 4000 0");
    ck_assert(has_header(&o, "Content-Range: bytes 1001-5000/1048576\r\n"));
    gen(&o, "1MiB --seed 1 --offset 1001 --length 4000", "exp");
    ck_assert(same(&o, "body", "exp"));
    expect_get(&o, "-H 'Range: bytes=-10'", "/gen/1MiB?seed=1", "206 10 0");
    gen(&o, "1MiB --seed 1 --offset 1048566", "exp");
    ck_assert(same(&o, "body", "exp"));
    expect_get(&o, "-H 'Range: bytes=2000000-'", "/gen/1MiB?seed=1", "416 26 0");
    ck_assert(has_header(&o, "Content-Range: bytes */1048576\r\n"));
    /* malformed and multi-range values are ignored: the whole body */
    expect_get(&o, "-H 'Range: bytes=x-1'", "/gen/1MiB?seed=1", "200 1048576 0");
    expect_get(&o, "-H 'Range: bytes=0-1,5-6'", "/gen/1MiB?seed=1", "200 1048576 0");
    /* If-Range: a matching validator keeps the range, another one gets the whole body */
    expect_get(&o, "-H 'Range: bytes=0-9' -H 'If-Range: \"gen-1048576-1\"'", "/gen/1MiB?seed=1",
               "206 10 0");
    expect_get(&o, "-H 'Range: bytes=0-9' -H 'If-Range: \"other\"'", "/gen/1MiB?seed=1",
               "200 1048576 0");
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_range_across_4gib)
{
    struct it_origin o;

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    expect_get(&o, "-H 'Range: bytes=4294967290-4294967305'", "/gen/5GiB?seed=3", "206 16 0");
    ck_assert(has_header(&o, "Content-Range: bytes 4294967290-4294967305/5368709120\r\n"));
    gen(&o, "5GiB --seed 3 --offset 4294967290 --length 16", "exp");
    ck_assert(same(&o, "body", "exp"));
    expect_get(&o, "-I", "/gen/5GiB?seed=3", "200 0 0");
    ck_assert(has_header(&o, "Content-Length: 5368709120\r\n"));
    expect_get(&o, "-H 'Range: bytes=0-0'", "/gen/5GiB?seed=3", "206 1 0");
    ck_assert(has_header(&o, "Content-Range: bytes 0-0/5368709120\r\n"));
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_status_faults)
{
    struct it_origin o;
    cJSON *doc;

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    expect_get(&o, "", "/gen/1KiB?5xx=2", "503 24 0");
    expect_get(&o, "", "/gen/1KiB?5xx=2", "503 24 0");
    expect_get(&o, "", "/gen/1KiB?5xx=2", "200 1024 0");
    expect_get(&o, "", "/gen/1KiB?5xx=2", "200 1024 0");
    expect_get(&o, "", "/gen/1KiB?status=404", "404 14 0");
    expect_get(&o, "", "/gen/1KiB?status=403", "403 14 0");
    expect_get(&o, "", "/gen/1KiB?status=403", "403 14 0");
    expect_get(&o, "", "/gen/1KiB?429=1&retry_after=3", "429 22 0");
    ck_assert(has_header(&o, "Retry-After: 3\r\n"));
    expect_get(&o, "", "/gen/1KiB?429=1&retry_after=3", "200 1024 0");
    /* 429s come first, then the 503s */
    expect_get(&o, "", "/gen/1KiB?429=1&5xx=1", "429 22 0");
    expect_get(&o, "", "/gen/1KiB?429=1&5xx=1", "503 24 0");
    expect_get(&o, "", "/gen/1KiB?429=1&5xx=1", "200 1024 0");
    /* bad parameters are a 400 that names them; unknown ones are ignored */
    expect_get(&o, "", "/gen/1KiB?truncate=abc", "400 54 0");
    expect_get(&o, "", "/gen/1KiB?status=200", "400 41 0");
    expect_get(&o, "", "/gen/1KiB?whatever=1", "200 1024 0");
    expect_get(&o, "-X POST", "/gen/1KiB", "405 23 0");
    doc = stats(&o);
    ck_assert_uint_eq(stat_u64(doc, "/gen/1KiB?5xx=2", "requests"), 4);
    cJSON_Delete(doc);
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_framing_faults)
{
    struct it_origin o;
    char *res;

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    gen(&o, "1MiB --seed 4", "exp");
    /* full Content-Length, then the connection closes after 1000 bytes: curl error 18 */
    expect_get(&o, "", "/gen/1MiB?seed=4&truncate=1000", "200 1000 18");
    ck_assert(has_header(&o, "Content-Length: 1048576\r\n"));
    gen(&o, "1MiB --seed 4 --length 1000", "exp1000");
    ck_assert(same(&o, "body", "exp1000"));
    /* truncate applies to the ranged body */
    expect_get(&o, "-H 'Range: bytes=100-199'", "/gen/1MiB?seed=4&truncate=10", "206 10 18");
    /* Content-Length too long: the whole body, then close */
    expect_get(&o, "", "/gen/1MiB?seed=4&cl_long=10", "200 1048576 18");
    ck_assert(has_header(&o, "Content-Length: 1048586\r\n"));
    ck_assert(same(&o, "body", "exp"));
    /* too short: curl stops at the declared length, the excess is sent anyway */
    expect_get(&o, "", "/gen/1MiB?seed=4&cl_short=10", "200 1048566 0");
    ck_assert(has_header(&o, "Content-Length: 1048566\r\n"));
    /* close-delimited */
    expect_get(&o, "", "/gen/1MiB?seed=4&nolength=1", "200 1048576 0");
    ck_assert(!has_header(&o, "Content-Length"));
    ck_assert(!has_header(&o, "Transfer-Encoding"));
    ck_assert(same(&o, "body", "exp"));
    /* chunked */
    expect_get(&o, "", "/gen/1MiB?seed=4&chunked=1", "200 1048576 0");
    ck_assert(has_header(&o, "Transfer-Encoding: chunked\r\n"));
    ck_assert(!has_header(&o, "Content-Length"));
    ck_assert(same(&o, "body", "exp"));
    /* chunked and cut */
    expect_get(&o, "", "/gen/1MiB?seed=4&chunked=1&truncate=5000", "200 5000 18");
    /* HEAD with a framing fault: the head only */
    expect_get(&o, "-I", "/gen/1MiB?seed=4&truncate=10", "200 0 0");
    /* on a reused connection the fault is approximated and still fails the transfer */
    res = NULL;
    run(&res,
        "curl -s --max-time 20 -o /dev/null -o /dev/null -w '%%{http_code} %%{num_connects} "
        "%%{exitcode};' 'http://%s/gen/1KiB' 'http://%s/gen/1MiB?truncate=1000'",
        o.addr, o.addr);
    /* the server drops what was queued, so curl retries on a new connection: exact there */
    ck_assert_msg(strncmp(res, "200 1 0;200 ", 12) == 0 && strstr(res, " 18;") != NULL, "reuse: %s",
                  res);
    free(res);
    ck_assert_int_eq(run(NULL, "grep -q 'approximated' %s", o.proc.log_path), 0);
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_range_faults)
{
    struct it_origin o;

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    gen(&o, "1MiB --seed 5", "exp");
    expect_get(&o, "-H 'Range: bytes=0-99'", "/gen/1MiB?seed=5&norange=1", "200 1048576 0");
    ck_assert(has_header(&o, "Accept-Ranges: none\r\n"));
    ck_assert(!has_header(&o, "Content-Range"));
    ck_assert(same(&o, "body", "exp"));
    /* a 206 for the neighbouring range: the header and the body agree with each other */
    expect_get(&o, "-H 'Range: bytes=0-99'", "/gen/1MiB?seed=5&bad_range=1", "206 100 0");
    ck_assert(has_header(&o, "Content-Range: bytes 1-100/1048576\r\n"));
    gen(&o, "1MiB --seed 5 --offset 1 --length 100", "exp1");
    ck_assert(same(&o, "body", "exp1"));
    expect_get(&o, "-H 'Range: bytes=0-0'", "/gen/1MiB?seed=5&bad_range=1", "206 1 0");
    ck_assert(has_header(&o, "Content-Range: bytes 1-1/1048576\r\n"));
    expect_get(&o, "-H 'Range: bytes=-10'", "/gen/1MiB?seed=5&bad_range=1", "206 10 0");
    ck_assert(has_header(&o, "Content-Range: bytes 1048565-1048574/1048576\r\n"));
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_trickle_and_stall)
{
    struct it_origin o;
    double t0, dt;
    char *res;

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    gen(&o, "20000 --seed 6", "exp");
    t0 = now_s();
    expect_get(&o, "", "/gen/20000?seed=6&trickle=40000", "200 20000 0");
    dt = now_s() - t0;
    /* the lower bound is the trickle's (a loaded machine only adds); the upper one only
     * says it did not stall */
    ck_assert_msg(dt >= 0.45 && dt < 15.0, "trickle took %.3f s", dt);
    ck_assert(same(&o, "body", "exp"));
    t0 = now_s();
    expect_get(&o, "", "/gen/20000?seed=6&trickle=20KB/s", "200 20000 0");
    dt = now_s() - t0;
    ck_assert_msg(dt >= 0.95 && dt < 15.0, "trickle took %.3f s", dt);
    /* stall: 1000 bytes, then nothing; curl gives up after its --max-time */
    res = NULL;
    t0 = now_s();
    run(&res,
        "curl -s --max-time 1 -o /dev/null -w '%%{http_code} %%{size_download} %%{exitcode}' "
        "'http://%s/gen/20000?seed=6&stall_after=1000'",
        o.addr);
    ck_assert_str_eq(res, "200 1000 28");
    ck_assert(now_s() - t0 >= 0.9);
    free(res);
    /* a delayed answer */
    t0 = now_s();
    expect_get(&o, "", "/gen/10?delay=300ms", "200 10 0");
    ck_assert(now_s() - t0 >= 0.29);
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_swap_after)
{
    struct it_origin o;
    char *h1, *h2, path[600];

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    snprintf(path, sizeof(path), "%s/h", o.dir);
    gen(&o, "4KiB --seed 8", "v0");
    gen(&o, "4KiB --seed 9", "v1");
    /* the first response starts before the swap point and is served whole */
    expect_get(&o, "-H 'Range: bytes=0-2999'", "/gen/4KiB?seed=8&swap_after=3000", "206 3000 0");
    ck_assert(has_header(&o, "ETag: \"gen-4096-8\""));
    h1 = slurp(path);
    expect_get(&o, "", "/gen/4KiB?seed=8&swap_after=3000", "200 4096 0");
    ck_assert(has_header(&o, "ETag: \"gen-4096-9\""));
    ck_assert(same(&o, "body", "v1"));
    h2 = slurp(path);
    ck_assert_ptr_nonnull(strstr(h1, "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT"));
    ck_assert_ptr_nonnull(strstr(h2, "Last-Modified: Wed, 15 Nov 2023 22:13:20 GMT"));
    free(h1);
    free(h2);
    /* the old validator no longer matches: If-Range gets the whole new content */
    expect_get(&o, "-H 'Range: bytes=3000-' -H 'If-Range: \"gen-4096-8\"'",
               "/gen/4KiB?seed=8&swap_after=3000", "200 4096 0");
    ck_assert(same(&o, "body", "v1"));
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_redirects)
{
    struct it_origin a, b;
    char *res = NULL;

    origin_start(&a, NULL, "127.0.0.1", "a", NULL);
    origin_start(&b, a.dir, "127.0.0.2", "b", NULL);
    expect_get(&a, "", "/gen/1KiB?seed=2&redirect=3", "302 10 0");
    ck_assert(has_header(&a, "Location: http://"));
    ck_assert(has_header(&a, "/gen/1KiB?seed=2&redirect=2\r\n"));
    run(&res,
        "curl -sS -L -o /dev/null -w '%%{http_code} %%{num_redirects}' "
        "'http://%s/gen/1KiB?seed=2&redirect=3&redirect_code=307'",
        a.addr);
    ck_assert_str_eq(res, "200 3");
    free(res);
    /* another host: curl drops Authorization there, keeps it on the same host */
    run(&res,
        "curl -sS -L -H 'Authorization: Bearer sekrit-token' -H 'X-Probe: 1' "
        "'http://%s/_echo_headers?redirect_host=%s'",
        a.addr, b.addr);
    ck_assert_ptr_nonnull(strstr(res, "\"x-probe\":\"1\""));
    ck_assert_ptr_null(strstr(res, "authorization"));
    ck_assert_ptr_nonnull(strstr(res, b.addr));
    free(res);
    res = NULL;
    run(&res,
        "curl -sS -L -H 'Authorization: Bearer sekrit-token' "
        "'http://%s/_echo_headers?redirect=1'",
        a.addr);
    ck_assert_ptr_nonnull(strstr(res, "\"authorization\":\"Bearer sekrit-token\""));
    free(res);
    /* the logs say whether Authorization came, never what it was */
    ck_assert_int_eq(run(NULL, "grep -q 'redirect_host=.* auth=yes' %s", a.proc.log_path), 0);
    ck_assert_int_eq(run(NULL, "grep -q '/_echo_headers -> 200 auth=no' %s", b.proc.log_path), 0);
    ck_assert_int_ne(run(NULL, "grep -q sekrit %s %s", a.proc.log_path, b.proc.log_path), 0);
    origin_stop(&b, false);
    origin_stop(&a, true);
}

END_TEST

START_TEST(test_https)
{
    struct it_origin o, w;
    char *res = NULL, cert[600], key[600], other[600], okey[600];
    const char *port;
    double t0;

    o.dir = it_tmpdir();
    ck_assert_int_eq(run(NULL, "sh scripts/gen-test-certs.sh %s/certs", o.dir), 0);
    snprintf(cert, sizeof(cert), "%s/certs/server.crt", o.dir);
    snprintf(key, sizeof(key), "%s/certs/server.key", o.dir);
    snprintf(other, sizeof(other), "%s/certs/other.crt", o.dir);
    snprintf(okey, sizeof(okey), "%s/certs/other.key", o.dir);
    origin_start(&o, o.dir, "127.0.0.1", "tls", "--tls-cert", cert, "--tls-key", key, NULL);
    ck_assert_str_eq(it_proc_ready_str(&o.proc, "scheme"), "https");
    port = strchr(o.addr, ':') + 1;
    gen(&o, "1MiB --seed 9", "exp");
#define HTTPS_GET(q, want)                                                                 \
    do {                                                                                   \
        res = NULL;                                                                        \
        run(&res,                                                                          \
            "curl -s --max-time 20 --cacert %s/certs/ca.crt -o %s/body -w '%%{http_code} " \
            "%%{size_download} %%{exitcode}' 'https://localhost:%s/gen/1MiB?seed=9%s'",    \
            o.dir, o.dir, port, q);                                                        \
        ck_assert_msg(strcmp(res, want) == 0, "%s: %s", q, res);                           \
        free(res);                                                                         \
    } while (0)
    HTTPS_GET("", "200 1048576 0");
    ck_assert(same(&o, "body", "exp"));
    HTTPS_GET("&truncate=5000", "200 5000 18");
    HTTPS_GET("&nolength=1", "200 1048576 0");
    ck_assert(same(&o, "body", "exp"));
    HTTPS_GET("&chunked=1", "200 1048576 0");
    ck_assert(same(&o, "body", "exp"));
    HTTPS_GET("&cl_long=1", "200 1048576 18");
    /* close-delimited through net_http_server (an HTTP/1.0 client): ends with close_notify */
    t0 = now_s();
    res = NULL;
    run(&res,
        "curl -s --http1.0 --max-time 20 --cacert %s/certs/ca.crt -o %s/body -w '%%{http_code} "
        "%%{size_download} %%{exitcode}' 'https://localhost:%s/gen/1MiB?seed=9&chunked=1'",
        o.dir, o.dir, port);
    ck_assert_str_eq(res, "200 1048576 0");
    free(res);
    ck_assert(same(&o, "body", "exp"));
    /* without close_notify the client would wait for its 20 s --max-time */
    ck_assert_msg(now_s() - t0 < 10.0, "close-delimited TLS body took %.3f s", now_s() - t0);
    HTTPS_GET("&redirect=2&5xx=0", "302 10 0");
    /* an untrusted CA and a wrong name both fail */
    ck_assert_int_eq(
            run(NULL, "curl -s --max-time 10 -o /dev/null 'https://localhost:%s/gen/1'", port), 60);
    origin_start(&w, o.dir, "127.0.0.1", "wrongname", "--tls-cert", other, "--tls-key", okey, NULL);
    ck_assert_int_eq(run(NULL,
                         "curl -s --max-time 10 --cacert %s/certs/ca.crt -o /dev/null "
                         "'https://localhost:%s/gen/1'",
                         o.dir, strchr(w.addr, ':') + 1),
                     60);
    origin_stop(&w, false);
    origin_stop(&o, true);
#undef HTTPS_GET
}

END_TEST

START_TEST(test_root_files)
{
    struct it_origin o;
    char root[600];

    o.dir = it_tmpdir();
    snprintf(root, sizeof(root), "%s/root", o.dir);
    ck_assert_int_eq(
            run(NULL, "mkdir -p %s/sub && head -c 3000000 /dev/urandom > %s/sub/f.bin", root, root),
            0);
    ck_assert_int_eq(run(NULL, "ln -s /etc/passwd %s/link", root), 0);
    origin_start(&o, o.dir, "127.0.0.1", "origin", "--root", root, NULL);
    expect_get(&o, "", "/sub/f.bin", "200 3000000 0");
    ck_assert_int_eq(run(NULL, "cmp -s %s/body %s/sub/f.bin", o.dir, root), 0);
    ck_assert(has_header(&o, "ETag: \""));
    ck_assert(has_header(&o, "Last-Modified: "));
    expect_get(&o, "-H 'Range: bytes=2999990-'", "/sub/f.bin", "206 10 0");
    ck_assert(has_header(&o, "Content-Range: bytes 2999990-2999999/3000000\r\n"));
    ck_assert_int_eq(run(NULL, "tail -c 10 %s/sub/f.bin | cmp -s - %s/body", root, o.dir), 0);
    expect_get(&o, "-I", "/sub/f.bin", "200 0 0");
    ck_assert(has_header(&o, "Content-Length: 3000000\r\n"));
    /* faults apply to files too */
    expect_get(&o, "", "/sub/f.bin?truncate=100", "200 100 18");
    expect_get(&o, "", "/sub/f.bin?chunked=1", "200 3000000 0");
    ck_assert_int_eq(run(NULL, "cmp -s %s/body %s/sub/f.bin", o.dir, root), 0);
    /* nothing outside the root */
    expect_get(&o, "--path-as-is", "/../root/sub/f.bin", "400 26 0");
    expect_get(&o, "--path-as-is", "/sub/./f.bin", "400 26 0");
    expect_get(&o, "", "/link", "404 14 0");
    expect_get(&o, "", "/sub", "404 14 0");
    expect_get(&o, "", "/missing", "404 14 0");
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_stats)
{
    struct it_origin o;
    cJSON *doc;
    char *res = NULL;

    origin_start(&o, NULL, "127.0.0.1", "origin", NULL);
    doc = stats(&o);
    ck_assert_uint_eq(stat_u64(doc, NULL, "requests"), 0);
    ck_assert_uint_eq(stat_u64(doc, NULL, "bytes"), 0);
    cJSON_Delete(doc);
    expect_get(&o, "", "/gen/100KiB?seed=1", "200 102400 0");
    expect_get(&o, "-H 'Authorization: Basic eDp5'", "/gen/100KiB?seed=1", "200 102400 0");
    expect_get(&o, "-H 'Range: bytes=0-0'", "/gen/100KiB?seed=1", "206 1 0");
    expect_get(&o, "", "/gen/10?5xx=1", "503 24 0");
    expect_get(&o, "", "/gen/10?5xx=1", "200 10 0");
    doc = stats(&o);
    ck_assert_uint_eq(stat_u64(doc, NULL, "requests"), 5);
    ck_assert_uint_eq(stat_u64(doc, NULL, "bytes"), 2 * 102400 + 1 + 24 + 10);
    ck_assert_uint_eq(stat_u64(doc, "/gen/100KiB?seed=1", "requests"), 3);
    ck_assert_uint_eq(stat_u64(doc, "/gen/100KiB?seed=1", "bytes"), 2 * 102400 + 1);
    ck_assert_uint_eq(stat_u64(doc, "/gen/100KiB?seed=1", "auth"), 1);
    ck_assert_uint_eq(stat_u64(cJSON_GetObjectItemCaseSensitive(
                                       cJSON_GetObjectItemCaseSensitive(
                                               cJSON_GetObjectItemCaseSensitive(doc, "targets"),
                                               "/gen/10?5xx=1"),
                                       "statuses"),
                               NULL, "503"),
                      1);
    cJSON_Delete(doc);
    /* reset: reported, then zeroed; the fault counters keep going */
    ck_assert_int_eq(run(&res, "curl -sS 'http://%s/_stats?reset=1'", o.addr), 0);
    ck_assert_ptr_nonnull(strstr(res, "\"requests\":5"));
    free(res);
    doc = stats(&o);
    ck_assert_uint_eq(stat_u64(doc, NULL, "requests"), 0);
    ck_assert_uint_eq(stat_u64(doc, "/gen/10?5xx=1", "requests"), 0);
    cJSON_Delete(doc);
    expect_get(&o, "", "/gen/10?5xx=1", "200 10 0");
    origin_stop(&o, true);
}

END_TEST

START_TEST(test_sigterm_and_stats_file)
{
    struct it_origin o;
    char path[600], *text;
    cJSON *doc = NULL;
    bool arrived = false;
    int status;

    o.dir = it_tmpdir();
    snprintf(path, sizeof(path), "%s/stats.json", o.dir);
    origin_start(&o, o.dir, "127.0.0.1", "origin", "--stats-file", path, NULL);
    expect_get(&o, "", "/gen/1000", "200 1000 0");
    /* a stalled response in flight does not hold up the stop */
    ck_assert_int_eq(
            run(NULL,
                "(curl -s --max-time 5 -o /dev/null 'http://%s/gen/1M?stall_after=1' >/dev/null 2>&1 &)",
                o.addr),
            0);
    /* wait until the origin has the stalled request (not a fixed time) */
    for (int i = 0; i < 600 && !arrived; i++) {
        doc = stats(&o);
        arrived = stat_u64(doc, NULL, "requests") == 2;
        DF_FREE(doc, cJSON_Delete);
        if (!arrived)
            it_sleep_ms(100);
    }
    ck_assert_msg(arrived, "the stalled request never reached the origin");
    status = it_proc_stop(&o.proc);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    text = slurp(path);
    ck_assert_int_eq(df_json_parse(text, strlen(text), NULL, &doc, NULL), 0);
    ck_assert_uint_eq(stat_u64(doc, NULL, "requests"), 2);
    ck_assert_uint_eq(stat_u64(doc, "/gen/1000", "bytes"), 1000);
    cJSON_Delete(doc);
    free(text);
    it_rmtree(o.dir);
    free(o.dir);
}

END_TEST

START_TEST(test_usage_and_bad_flags)
{
    char tool[512], *out = NULL;

    it_tool("origin", tool, sizeof(tool));
    ck_assert_int_eq(run(&out, "%s --help", tool), 0);
    ck_assert_ptr_nonnull(strstr(out, "truncate=SIZE"));
    ck_assert_ptr_nonnull(strstr(out, "--ready-file"));
    free(out);
    ck_assert_int_eq(run(NULL, "%s --bogus 2>/dev/null", tool), 2);
    ck_assert_int_eq(run(NULL, "%s --listen 127.0.0.1:99999 2>/dev/null", tool), 1);
    ck_assert_int_eq(run(NULL, "%s --gen 10 --offset 11 2>/dev/null", tool), 2);
    ck_assert_int_eq(run(&out, "%s --gen 10 --offset 4 | wc -c", tool), 0);
    ck_assert_int_eq(strtol(out, NULL, 10), 6);
    free(out);
}

END_TEST

Suite *it_origin_suite(void);

Suite *
it_origin_suite(void)
{
    Suite *s = suite_create("it_origin");
    TCase *tc = tcase_create("origin");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gen_matches_generator);
    tcase_add_test(tc, test_head_and_ranges);
    tcase_add_test(tc, test_range_across_4gib);
    tcase_add_test(tc, test_status_faults);
    tcase_add_test(tc, test_framing_faults);
    tcase_add_test(tc, test_range_faults);
    tcase_add_test(tc, test_trickle_and_stall);
    tcase_add_test(tc, test_swap_after);
    tcase_add_test(tc, test_redirects);
    tcase_add_test(tc, test_https);
    tcase_add_test(tc, test_root_files);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_sigterm_and_stats_file);
    tcase_add_test(tc, test_usage_and_bad_flags);
    suite_add_tcase(s, tc);
    return s;
}
