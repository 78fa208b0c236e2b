/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly get` through a real `dragonfly peer` from the origin test server, as a user
 * would run them: every origin fault mode ends with exactly the origin's bytes or a clear
 * error and no output file; concurrent gets share one task; the cache serves repeats with
 * no origin traffic; a peer killed mid-download resumes from its verified pieces; the quota
 * evicts; content across the 2^32 boundary arrives intact.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "df/df_json.h"
#include "harness/harness.h"

struct it_env {
    char *dir;
    struct it_proc origin, origin2, peer;
    char origin_addr[64], origin2_addr[64];
    char sock[600];
};

static void
start_origin(struct it_env *e, struct it_proc *p, const char *ip, const char *name, char *addr,
             const char *extra1, const char *extra2, const char *extra3, const char *extra4)
{
    char tool[512], ready[700], listen[64];
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)),
                          "--listen",
                          listen,
                          "--ready-file",
                          ready,
                          extra1,
                          extra2,
                          extra3,
                          extra4,
                          NULL};

    snprintf(ready, sizeof(ready), "%s/%s.ready", e->dir, name);
    snprintf(listen, sizeof(listen), "%s:0", ip);
    ck_assert_int_eq(
            it_proc_start(p, e->dir, name, (char *const *)(uintptr_t)argv, ready, IT_READY_MS), 0);
    snprintf(addr, 64, "%s", it_proc_ready_str(p, "http"));
}

/* Start the peer with extra flags (NULL-terminated list). */
static void
start_peer(struct it_env *e, ...)
{
    char ready[700], data[700];
    const char *argv[40];
    const char *a;
    size_t n = 0;
    va_list ap;

    snprintf(ready, sizeof(ready), "%s/peer.ready", e->dir);
    snprintf(data, sizeof(data), "%s/peer", e->dir);
    unlink(ready);
    argv[n++] = it_bin();
    argv[n++] = "peer";
    argv[n++] = "--ip";
    argv[n++] = "127.0.0.7";
    argv[n++] = "--rpc-port";
    argv[n++] = "0";
    argv[n++] = "--upload-port";
    argv[n++] = "0";
    argv[n++] = "--data-dir";
    argv[n++] = data;
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    argv[n++] = "--source-idle-timeout";
    argv[n++] = "3s";
    argv[n++] = "--source-retries";
    argv[n++] = "3";
    argv[n++] = IT_ALLOW_ORIGIN; /* the origins of these tests: 127.0.0.2 and .3 */
    argv[n++] = "127.0.0.2,127.0.0.3";
    va_start(ap, e);
    while ((a = va_arg(ap, const char *)) != NULL && n < 38)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(it_proc_start(&e->peer, e->dir, "peer", (char *const *)(uintptr_t)argv, ready,
                                   IT_READY_MS),
                     0);
    snprintf(e->sock, sizeof(e->sock), "%s/peer/dfdaemon.sock", e->dir);
}

static void
env_up(struct it_env *e)
{
    memset(e, 0, sizeof(*e));
    e->dir = it_tmpdir();
    ck_assert_ptr_nonnull(e->dir);
    start_origin(e, &e->origin, "127.0.0.2", "origin", e->origin_addr, NULL, NULL, NULL, NULL);
}

static void
env_down(struct it_env *e)
{
    it_proc_stop(&e->peer);
    it_proc_stop(&e->origin);
    it_proc_stop(&e->origin2);
    it_rmtree(e->dir);
    free(e->dir);
}

/* dragonfly get of url into <dir>/<out>; returns the exit status, stderr in *err. */
static int
get(struct it_env *e, const char *url, const char *out, const char *flags, char **err)
{
    return it_shf(err, 120, "%s get '%s' -O %s/%s --socket %s --no-progress %s 2>&1", it_bin(), url,
                  e->dir, out, e->sock, flags != NULL ? flags : "");
}

/* The expected content of /gen/<size>?seed=<seed> is in <dir>/<out>. */
static void
gen(struct it_env *e, const char *size, int seed, const char *out)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s", e->dir, out);
    ck_assert_int_eq(it_gen(size, seed, path), 0);
}

static bool
same(struct it_env *e, const char *a, const char *b)
{
    return it_shf(NULL, 120, "cmp -s %s/%s %s/%s", e->dir, a, e->dir, b) == 0;
}

static bool
exists(struct it_env *e, const char *name)
{
    char p[700];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", e->dir, name);
    return stat(p, &st) == 0;
}

/* No temp file may be left beside outputs. */
static void
no_leftovers(struct it_env *e)
{
    ck_assert_msg(it_temp_count(e->dir) == 0, "temp files left in %s", e->dir);
}

/* Body bytes the origin sent for target (its /_stats). */
static uint64_t
origin_bytes(struct it_env *e, const char *target)
{
    uint64_t v = 0;

    ck_assert_int_eq(it_origin_bytes(e->origin_addr, target, &v), 0);
    return v;
}

/*
 * Wait until the origin has sent at least min body bytes for target (a download is under
 * way), up to 60 s; returns what it sent. Waiting for the condition, not a fixed time, keeps
 * a loaded machine from leaving the download not yet started.
 */
static uint64_t
wait_origin_bytes(struct it_env *e, const char *target, uint64_t min)
{
    uint64_t v = 0;

    for (int i = 0; i < 600 && (v = origin_bytes(e, target)) < min; i++)
        it_sleep_ms(100);
    ck_assert_msg(v >= min, "the origin sent only %" PRIu64 " bytes of %s", v, target);
    return v;
}

static void
expect_ok(struct it_env *e, const char *query, const char *size, int seed, const char *flags)
{
    char url[512], *err = NULL;
    int rc;

    snprintf(url, sizeof(url), "http://%s/gen/%s%s", e->origin_addr, size, query);
    rc = get(e, url, "out", flags, &err);
    ck_assert_msg(rc == 0, "get %s: exit %d: %s", url, rc, err);
    gen(e, size, seed, "want");
    ck_assert_msg(same(e, "out", "want"), "get %s: wrong bytes", url);
    free(err);
    it_shf(NULL, 10, "rm -f %s/out %s/want", e->dir, e->dir);
    no_leftovers(e);
}

static void
expect_fail(struct it_env *e, const char *query, const char *flags, const char *why)
{
    char url[512], *err = NULL;
    int rc;

    snprintf(url, sizeof(url), "http://%s/gen/2MiB%s", e->origin_addr, query);
    rc = get(e, url, "bad", flags, &err);
    ck_assert_msg(rc != 0, "get %s succeeded", url);
    ck_assert_msg(strstr(err, why) != NULL, "get %s: '%s' lacks '%s'", url, err, why);
    ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n'), "more than one line: %s", err);
    ck_assert_msg(!exists(e, "bad"), "get %s left an output file", url);
    no_leftovers(e);
    free(err);
}

START_TEST(test_plain_and_cache)
{
    struct it_env e;
    uint64_t before;

    env_up(&e);
    start_peer(&e, NULL);
    expect_ok(&e, "?seed=1", "10MiB", 1, NULL);
    before = origin_bytes(&e, "/gen/10MiB?seed=1");
    ck_assert_uint_ge(before, 10 << 20);
    ck_assert_uint_le(before, (10 << 20) + 16);
    /* the same URL again: from the cache, no origin traffic */
    expect_ok(&e, "?seed=1", "10MiB", 1, NULL);
    ck_assert_uint_eq(origin_bytes(&e, "/gen/10MiB?seed=1"), before);
    /* issue_3: the same output twice, no temp file stays; the output is its own file */
    {
        char url[256], *err = NULL;
        snprintf(url, sizeof(url), "http://%s/gen/10MiB?seed=1", e.origin_addr);
        ck_assert_int_eq(get(&e, url, "twice", NULL, NULL), 0);
        ck_assert_msg(get(&e, url, "twice", NULL, &err) == 0, "%s", err);
        free(err);
        gen(&e, "10MiB", 1, "want");
        ck_assert(same(&e, "twice", "want"));
        /* get's own file (0666 & ~umask, like curl -o), never a link to the cache */
        ck_assert_int_eq(it_shf(NULL, 10,
                                "test \"$(stat -c %%a.%%h %s/twice)\" = "
                                "\"$(printf %%o $((0666 & ~0$(umask)))).1\"",
                                e.dir),
                         0);
        it_shf(NULL, 10, "rm -f %s/twice %s/want", e.dir, e.dir);
        no_leftovers(&e);
    }
    /* tiny and empty contents */
    expect_ok(&e, "?seed=3", "100", 3, NULL);
    expect_ok(&e, "?seed=3", "0", 3, NULL);
    env_down(&e);
}

END_TEST

START_TEST(test_retryable_faults)
{
    struct it_env e;

    env_up(&e);
    start_peer(&e, NULL);
    expect_ok(&e, "?seed=2&5xx=2", "6MiB", 2, NULL);
    expect_ok(&e, "?seed=2&429=1&retry_after=1", "6MiB", 2, NULL);
    expect_ok(&e, "?seed=4&norange=1", "9MiB", 4, NULL);
    expect_ok(&e, "?seed=5&chunked=1", "5MiB", 5, NULL);
    expect_ok(&e, "?seed=6&nolength=1", "5MiB", 6, NULL);
    expect_ok(&e, "?seed=7&redirect=3", "5MiB", 7, NULL);
    expect_ok(&e, "?seed=8&redirect=2&redirect_code=307", "1MiB", 8, NULL);
    /* Runs cut short mid-piece (the probe, then three runs of 1 MiB pieces cut at 2.5 MiB):
     * the whole pieces before the cut keep the hashes taken from their buffers, the cut
     * piece is dropped and fetched again by the retry. */
    expect_ok(&e, "?seed=9&truncate=2560KiB&truncate_n=4", "40MiB", 9, NULL);
    ck_assert_uint_gt(origin_bytes(&e, "/gen/40MiB?seed=9&truncate=2560KiB&truncate_n=4"),
                      (UINT64_C(40) << 20) + (UINT64_C(1) << 20)); /* the cut pieces again */
    env_down(&e);
}

END_TEST

START_TEST(test_permanent_faults)
{
    struct it_env e;

    env_up(&e);
    start_peer(&e, NULL);
    expect_fail(&e, "?status=404", NULL, "404");
    expect_fail(&e, "?status=403", NULL, "403");
    expect_fail(&e, "?5xx=100", NULL, "503");
    expect_fail(&e, "?truncate=100KiB", NULL, "attempts");
    expect_fail(&e, "?cl_long=10", NULL, "attempts");
    expect_fail(&e, "?bad_range=1", NULL, "Content-Range");
    expect_fail(&e, "?redirect=11", NULL, "redirects");
    expect_fail(&e, "?stall_after=100KiB", NULL, "attempts");
    expect_fail(&e, "?trickle=10KiB/s", "--timeout 2s", "timed out");
    expect_fail(&e, "",
                "--digest sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "digest mismatch");
    env_down(&e);
}

END_TEST

/* issue_3: an origin slower than the socket low-water mark and the write batch, but above
 * --source-min-rate, is neither taken for stalled nor for too slow. */
START_TEST(test_slow_origin_above_min_rate)
{
    struct it_env e;

    env_up(&e);
    start_peer(&e, "--source-min-rate", "16KiB/s", "--source-retries", "0", NULL);
    expect_ok(&e, "?seed=15&trickle=40KiB/s", "500KiB", 15, NULL);
    /* the rate check needs ten 1 s ticks; --timeout only guards, far above them */
    expect_fail(&e, "?trickle=4KiB/s", "--timeout 90s", "too slow");
    env_down(&e);
}

END_TEST

/* The content changes mid-download: the output is one whole version, or a clear error. */
START_TEST(test_content_swapped)
{
    struct it_env e;
    char url[256], *err = NULL;
    int rc;

    env_up(&e);
    start_peer(&e, "--download-concurrency", "1", NULL);
    snprintf(url, sizeof(url), "http://%s/gen/12MiB?seed=10&swap_after=5MiB", e.origin_addr);
    rc = get(&e, url, "out", NULL, &err);
    if (rc == 0) {
        gen(&e, "12MiB", 10, "v0");
        gen(&e, "12MiB", 11, "v1");
        ck_assert(same(&e, "out", "v0") || same(&e, "out", "v1"));
    } else {
        ck_assert_msg(strstr(err, "changed") != NULL, "unclear error: %s", err);
        ck_assert(!exists(&e, "out"));
    }
    no_leftovers(&e);
    free(err);
    env_down(&e);
}

END_TEST

START_TEST(test_redirect_to_other_host_drops_authorization)
{
    struct it_env e;
    char url[256], *err = NULL, *body = NULL;
    int rc;

    env_up(&e);
    start_origin(&e, &e.origin2, "127.0.0.3", "origin2", e.origin2_addr, NULL, NULL, NULL, NULL);
    start_peer(&e, NULL);
    /* same host: the header follows */
    snprintf(url, sizeof(url), "http://%s/_echo_headers?redirect=1&n=1", e.origin_addr);
    rc = get(&e, url, "same", "-H 'Authorization: Bearer s3cret'", &err);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    it_shf(&body, 10, "cat %s/same", e.dir);
    ck_assert_msg(strstr(body, "s3cret") != NULL, "%s", body);
    free(body);
    /* another host: it must not */
    snprintf(url, sizeof(url), "http://%s/_echo_headers?redirect_host=%s&n=2", e.origin_addr,
             e.origin2_addr);
    rc = get(&e, url, "other", "-H 'Authorization: Bearer s3cret' -H 'X-Keep: yes'", &err);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    it_shf(&body, 10, "cat %s/other", e.dir);
    ck_assert_msg(strstr(body, "s3cret") == NULL, "Authorization followed: %s", body);
    ck_assert_msg(strstr(body, "X-Keep") != NULL || strstr(body, "x-keep") != NULL, "%s", body);
    free(body);
    env_down(&e);
}

END_TEST

START_TEST(test_https_origin)
{
    struct it_env e;
    char cert[700], key[700], ca[700], other[700], okey[700], url[256], *err = NULL;
    const char *port;
    int rc;

    env_up(&e);
    ck_assert_int_eq(it_shf(NULL, 60, "sh scripts/gen-test-certs.sh %s/certs", e.dir), 0);
    snprintf(cert, sizeof(cert), "%s/certs/server.crt", e.dir);
    snprintf(key, sizeof(key), "%s/certs/server.key", e.dir);
    snprintf(other, sizeof(other), "%s/certs/other.crt", e.dir);
    snprintf(okey, sizeof(okey), "%s/certs/other.key", e.dir);
    snprintf(ca, sizeof(ca), "%s/certs/ca.crt", e.dir);
    start_origin(&e, &e.origin2, "127.0.0.1", "tls", e.origin2_addr, "--tls-cert", cert,
                 "--tls-key", key);
    start_peer(&e, "--source-ca-file", ca, NULL);
    port = strchr(e.origin2_addr, ':') + 1;
    snprintf(url, sizeof(url), "https://localhost:%s/gen/3MiB?seed=12", port);
    rc = get(&e, url, "out", NULL, &err);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    gen(&e, "3MiB", 12, "want");
    ck_assert(same(&e, "out", "want"));
    it_proc_stop(&e.origin2);
    /* a certificate for another name: refused, unless --insecure */
    start_origin(&e, &e.origin2, "127.0.0.1", "tls2", e.origin2_addr, "--tls-cert", other,
                 "--tls-key", okey);
    port = strchr(e.origin2_addr, ':') + 1;
    snprintf(url, sizeof(url), "https://localhost:%s/gen/3MiB?seed=13", port);
    rc = get(&e, url, "bad", NULL, &err);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err, "verif") != NULL || strstr(err, "certificate") != NULL ||
                          strstr(err, "tls") != NULL,
                  "unclear: %s", err);
    ck_assert(!exists(&e, "bad"));
    free(err);
    rc = get(&e, url, "ins", "--insecure", &err);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    env_down(&e);
}

END_TEST

START_TEST(test_concurrent_gets_share_one_task)
{
    struct it_env e;
    char url[256], *out = NULL;
    uint64_t bytes;

    env_up(&e);
    start_peer(&e, NULL);
    snprintf(url, sizeof(url), "http://%s/gen/24MiB?seed=20&trickle=48MiB/s", e.origin_addr);
    ck_assert_int_eq(it_shf(&out, 120,
                            "pids=; for i in $(seq 1 16); do %s get '%s' -O %s/c$i --socket %s "
                            "--no-progress 2>/dev/null & pids=\"$pids $!\"; done; fails=0; "
                            "for p in $pids; do wait $p || fails=$((fails+1)); done; echo $fails",
                            it_bin(), url, e.dir, e.sock),
                     0);
    ck_assert_msg(atoi(out) == 0, "%s gets failed", out);
    free(out);
    gen(&e, "24MiB", 20, "want");
    for (int i = 1; i <= 16; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        ck_assert_msg(same(&e, name, "want"), "output %s differs", name);
    }
    bytes = origin_bytes(&e, "/gen/24MiB?seed=20&trickle=48MiB/s");
    ck_assert_msg(bytes <= (24u << 20) + 16, "origin sent %" PRIu64 " bytes", bytes);
    env_down(&e);
}

END_TEST

/* kill -9 mid-download, restart, get again: only the missing pieces come from the origin. */
START_TEST(test_crash_and_resume)
{
    struct it_env e;
    char url[256], url2[256], *err = NULL;
    uint64_t first, second;
    int rc;

    env_up(&e);
    start_peer(&e, "--download-concurrency", "2", NULL);
    snprintf(url, sizeof(url), "http://%s/gen/40MiB?seed=30&trickle=8MiB/s", e.origin_addr);
    snprintf(url2, sizeof(url2), "http://%s/gen/40MiB?seed=30", e.origin_addr);
    it_shf(NULL, 10,
           "(%s get '%s' -O %s/out --socket %s --no-progress "
           "--filtered-query-params trickle > /dev/null 2>&1 &)",
           it_bin(), url, e.dir, e.sock);
    /* 16 of 40 MiB sent (1 MiB pieces, two in flight): several verified pieces recorded, and
     * at the trickle's 8 MiB/s three seconds before the origin could finish */
    wait_origin_bytes(&e, "/gen/40MiB?seed=30&trickle=8MiB/s", 16u << 20);
    it_proc_kill(&e.peer);
    ck_assert(!exists(&e, "out"));
    first = origin_bytes(&e, "/gen/40MiB?seed=30&trickle=8MiB/s");
    ck_assert_msg(first > (4u << 20) && first < (40u << 20), "first run sent %" PRIu64, first);
    start_peer(&e, NULL);
    rc = get(&e, url2, "out", "--filtered-query-params trickle", &err);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    gen(&e, "40MiB", 30, "want");
    ck_assert(same(&e, "out", "want"));
    second = origin_bytes(&e, "/gen/40MiB?seed=30");
    ck_assert_msg(second < (40u << 20) - (4u << 20), "resume refetched %" PRIu64 " bytes", second);
    no_leftovers(&e);
    env_down(&e);
}

END_TEST

START_TEST(test_cache_quota_evicts_lru)
{
    struct it_env e;
    char *out = NULL;
    uint64_t before;

    env_up(&e);
    start_peer(&e, "--cache-quota", "20MiB", NULL);
    expect_ok(&e, "?seed=40", "8MiB", 40, NULL);
    expect_ok(&e, "?seed=41", "8MiB", 41, NULL);
    expect_ok(&e, "?seed=42", "8MiB", 42, NULL);
    ck_assert_int_eq(it_shf(&out, 10, "du -sb %s/peer/content | cut -f1", e.dir), 0);
    ck_assert_msg(strtoull(out, NULL, 10) <= (20u << 20), "cache holds %s bytes", out);
    free(out);
    /* the least recently used (seed 40) was evicted: fetched again from the origin */
    before = origin_bytes(&e, "/gen/8MiB?seed=40");
    expect_ok(&e, "?seed=40", "8MiB", 40, NULL);
    ck_assert_uint_gt(origin_bytes(&e, "/gen/8MiB?seed=40"), before);
    env_down(&e);
}

END_TEST

START_TEST(test_across_4gib)
{
    struct it_env e;
    char *err = NULL;

    if (getenv("DF_SANITIZE") != NULL)
        return; /* 4 GiB under ASan takes minutes: the release run covers it */
    env_up(&e);
    start_peer(&e, "--download-concurrency", "4", NULL);
    expect_ok(&e, "?seed=50", "4198MiB", 50, NULL);
    free(err);
    env_down(&e);
}

END_TEST

/* issue_3: in a private mount namespace (root only), small tmpfs mounts stand for full disks:
 * the cache disk filling fails the get at once and gives the space back; an output on another
 * filesystem is copied; an output disk filling is a clear error and leaves nothing. */
START_TEST(test_disk_full_and_other_filesystem)
{
    struct it_env e;
    char *out = NULL, tool[512];
    int rc;

    env_up(&e);
    if (geteuid() != 0 || it_shf(NULL, 10, "unshare -m --propagation private true") != 0) {
        fprintf(stderr, "it_get: disk-full test skipped (needs root and unshare)\n");
        env_down(&e);
        return;
    }
    it_tool("origin", tool, sizeof(tool));
    rc = it_shf(
            &out, 120,
            "cd %s && mkdir -p dd small && unshare -m --propagation private sh -c '"
            "mount -t tmpfs -o size=8m tmpfs dd && mount -t tmpfs -o size=3m tmpfs small || "
            "exit 99; "
            "%s peer --ip 127.0.0.7 --rpc-port 0 --upload-port 0 --metrics-port 0 --proxy-listen 0 "
            "--data-dir $PWD/dd/p "
            "--ready-file $PWD/ready --log-file $PWD/peer.log & P=$!; trap \"kill $P\" EXIT; "
            "for i in $(seq 600); do [ -s ready ] && break; sleep 0.1; done; "
            "G=\"%s get --socket $PWD/dd/p/dfdaemon.sock --no-progress\"; "
            "$G http://%s/gen/20MiB?seed=16 -O $PWD/big 2>&1; echo rc=$?; "
            /* the space comes back once in-flight hash jobs close the failed task's file */
            "for i in $(seq 600); do [ $(df -k --output=avail dd | tail -1) -ge 4096 ] && break; "
            "sleep 0.1; done; "
            "$G http://%s/gen/2MiB?seed=17 -O $PWD/small/two 2>&1 >/dev/null; echo rc=$?; "
            "%s --gen 2MiB --seed 17 | cmp - small/two && echo same; "
            "$G http://%s/gen/2MiB?seed=18 -O $PWD/small/full 2>&1; echo rc=$?; "
            "ls -a small | tr \"\\n\" \" \"; echo'",
            e.dir, it_bin(), it_bin(), e.origin_addr, e.origin_addr, tool, e.origin_addr);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    /* the data file's write or the piece's record, whichever meets the full disk first (a
     * source fetch asks runs of pieces, so pieces are recorded while the next is written) */
    ck_assert_msg(strstr(out, "write cache file: No space left on device\nrc=1\n") != NULL ||
                          strstr(out, ": no space left on device\nrc=1\n") != NULL,
                  "cache disk full: %s", out);
    ck_assert_msg(strstr(out, "attempts") == NULL, "disk full was retried: %s", out);
    ck_assert_msg(strstr(out, "rc=0\nsame\n") != NULL, "copy to another filesystem: %s", out);
    ck_assert_msg(strstr(out, "small/full: No space left on device\nrc=1\n") != NULL,
                  "output disk full: %s", out);
    ck_assert_msg(strstr(out, ". .. two \n") != NULL, "left in the output dir: %s", out);
    ck_assert(!exists(&e, "big"));
    free(out);
    env_down(&e);
}

END_TEST

START_TEST(test_no_peer_starts_one)
{
    struct it_env e;
    char url[256], *out = NULL;
    int rc;

    env_up(&e);
    snprintf(url, sizeof(url), "http://%s/gen/1MiB?seed=60", e.origin_addr);
    /* issue_3: a peer that cannot start (its RPC port is taken, here by the origin) is
     * reported with its reason at once, not after a 10 s wait */
    ck_assert_int_eq(it_shf(NULL, 10,
                            "printf '{\"ip\": \"127.0.0.2\", \"rpcPort\": %s}' > %s/taken.json",
                            strchr(e.origin_addr, ':') + 1, e.dir),
                     0);
    rc = it_shf(&out, 60,
                "cd %s && %s get '%s' -O out --socket taken/dfdaemon.sock --data-dir taken "
                "--peer-config taken.json --no-progress 2>&1",
                e.dir, it_bin(), url);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(out, "exited") != NULL && strstr(out, "in use") != NULL, "%s", out);
    free(out);
    ck_assert(!exists(&e, "out"));
    /* relative paths, and --peer-config so that it binds 127.0.0.7 with any ports */
    ck_assert_int_eq(it_shf(NULL, 10,
                            "printf '{\"ip\": \"127.0.0.7\", \"rpcPort\": 0, \"uploadPort\": 0, "
                            "\"readyFile\": \"%s/auto.ready\"}' > %s/auto.json",
                            e.dir, e.dir),
                     0);
    rc = it_shf(&out, 60,
                "cd %s && %s get '%s' -O out --socket auto/dfdaemon.sock --data-dir auto "
                "--peer-config auto.json --no-progress 2>&1",
                e.dir, it_bin(), url);
    ck_assert_msg(rc == 0, "%s", out);
    free(out);
    gen(&e, "1MiB", 60, "want");
    ck_assert(same(&e, "out", "want"));
    /* stop the daemon it started, by the PID in its ready file */
    ck_assert_int_eq(it_shf(&out, 10,
                            "sed -n 's/.*\"pid\":[ \t]*\\([0-9]*\\).*/\\1/p' %s/auto.ready", e.dir),
                     0);
    ck_assert_int_gt(atoi(out), 1);
    kill(atoi(out), SIGTERM);
    free(out);
    env_down(&e);
}

END_TEST

/* The one task id in the peer's cache. */
static void
cached_task_id(struct it_env *e, char id[65])
{
    char data[700];

    snprintf(data, sizeof(data), "%s/peer", e->dir);
    ck_assert_msg(it_cache_task_id(data, id) == 0, "no task in the cache");
}

START_TEST(test_upload_server)
{
    struct it_env e;
    char id[65], *out = NULL;
    const char *up;

    env_up(&e);
    start_peer(&e, NULL);
    expect_ok(&e, "?seed=70", "9MiB", 70, NULL);
    cached_task_id(&e, id);
    up = it_proc_ready_str(&e.peer, "upload");
    ck_assert_ptr_nonnull(up);
    /* 1 MiB pieces: piece 1 is bytes [1 MiB, 2 MiB); two requests on one kept-alive connection */
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -sv -o %s/p1 http://%s/pieces/%s/1 -o %s/p2 "
                            "http://%s/pieces/%s/2 2>&1 | grep -c 'Re-using existing connection'",
                            e.dir, up, id, e.dir, up, id),
                     0);
    ck_assert_int_ge(atoi(out), 1);
    free(out);
    {
        char tool[512];
        it_shf(NULL, 30, "%s --gen 9MiB --seed 70 --offset 1MiB --length 1MiB > %s/w1",
               it_tool("origin", tool, sizeof(tool)), e.dir);
        it_shf(NULL, 30, "%s --gen 9MiB --seed 70 --offset 2MiB --length 1MiB > %s/w2",
               it_tool("origin", tool, sizeof(tool)), e.dir);
    }
    ck_assert(same(&e, "p1", "w1"));
    ck_assert(same(&e, "p2", "w2"));
    /* what it lacks, malformed ids and numbers, and paths outside the store */
#define STATUS(path, want)                                                                         \
    do {                                                                                           \
        ck_assert_int_eq(it_shf(&out, 10, "curl -s -o /dev/null -w '%%{http_code}' 'http://%s%s'", \
                                up, path),                                                         \
                         0);                                                                       \
        ck_assert_msg(strcmp(out, want) == 0, "%s: %s, want %s", path, out, want);                 \
        free(out);                                                                                 \
    } while (0)
    {
        char path[256];
        snprintf(path, sizeof(path), "/pieces/%s/9", id); /* 9 MiB: pieces 0-8 */
        STATUS(path, "404");
        snprintf(path, sizeof(path), "/pieces/%s/x1", id);
        STATUS(path, "400");
        snprintf(path, sizeof(path), "/pieces/%.63sG/0", id);
        STATUS(path, "400");
        snprintf(path, sizeof(path), "/pieces/%.63s/0", id);
        STATUS(path, "400");
        STATUS("/pieces/..%2f..%2f..%2fetc%2fpasswd/0", "400");
        STATUS("/pieces/../../etc/passwd", "404");
        STATUS("/healthy", "200");
        STATUS("/nowhere", "404");
        STATUS("/metrics", "404"); /* on its own port */
    }
#undef STATUS
    /* a known path with another method: 405, and Allow names the methods that would do */
    ck_assert_int_eq(it_shf(&out, 10,
                            "curl -s -X POST -D - -o /dev/null 'http://%s/healthy' | tr -d '\\r' "
                            "| sed -n 's/^[Aa]llow: //p; 1s/^HTTP[^ ]* //p'",
                            up),
                     0);
    ck_assert_str_eq(out, "405 Method Not Allowed\nGET, HEAD\n");
    free(out);
    ck_assert_int_eq(it_shf(&out, 10, "curl -s http://%s/metrics | grep -c dragonfly_peer_upload",
                            it_proc_ready_str(&e.peer, "metrics")),
                     0);
    ck_assert_int_ge(atoi(out), 2);
    free(out);
    env_down(&e);
}

END_TEST

/* Seconds on the monotonic clock (the one the peer's token buckets run on). */
static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define IT_RATE  (4.0 * 1048576)        /* --download/upload-rate-limit 4MiB/s */
#define IT_BURST (IT_RATE / 10 + 65536) /* the peer's bucket size (peer_main.c) */
#define IT_BYTES (12.0 * 1048576)

/*
 * A rate limit is bytes over the wall time of one continuous transfer, with the bucket's
 * burst accounted for: in t seconds a full bucket lets through at most burst + rate * t.
 * A loaded machine can only make the transfer slower, so that bound is sound; the lower
 * bound is a loose sanity check (the limiter does not stall). The limiter's exactness is
 * test_net_ratelim's job, on a simulated clock.
 */
static void
check_rate(const char *what, double bytes, double t)
{
    fprintf(stderr, "it_get: %s limit 4 MiB/s: %.0f bytes in %.3f s = %.2f MiB/s\n", what, bytes, t,
            bytes / t / 1048576);
    ck_assert_msg(bytes <= (IT_BURST + IT_RATE * t) * 1.01,
                  "%s: %.0f bytes in %.3f s, above burst %.0f + 4 MiB/s", what, bytes, t, IT_BURST);
    ck_assert_msg(bytes / t >= IT_RATE / 16, "%s: %.2f MiB/s, stalled below the limit 4", what,
                  bytes / t / 1048576);
}

/* A limited peer never goes faster than its limit (the figure is printed for the record). */
START_TEST(test_rate_limits)
{
    struct it_env e;
    char id[65], url[256], *out = NULL, *err = NULL;
    const char *up;
    double t0, t, bytes = 0;
    int rc;

    env_up(&e);
    start_peer(&e, "--download-rate-limit", "4MiB/s", "--upload-rate-limit", "4MiB/s", NULL);
    snprintf(url, sizeof(url), "http://%s/gen/12MiB?seed=80", e.origin_addr);
    t0 = now_s();
    rc = get(&e, url, "out", NULL, &err);
    t = now_s() - t0;
    ck_assert_msg(rc == 0, "get: exit %d: %s", rc, err);
    free(err);
    gen(&e, "12MiB", 80, "want");
    ck_assert(same(&e, "out", "want"));
    check_rate("download", IT_BYTES, t);
    cached_task_id(&e, id);
    up = it_proc_ready_str(&e.peer, "upload");
    /* twelve 1 MiB pieces in one curl, one kept-alive connection: one continuous transfer */
    {
        char cmd[8192];
        size_t len = (size_t)snprintf(cmd, sizeof(cmd),
                                      "curl -sS --max-time 60 -w '%%{size_download}\\n'");
        for (int i = 0; i < 12; i++)
            len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
                                    " -o /dev/null http://%s/pieces/%s/%d", up, id, i);
        ck_assert(len < sizeof(cmd));
        t0 = now_s();
        rc = it_sh(cmd, &out, 90);
        t = now_s() - t0;
    }
    ck_assert_msg(rc == 0, "curl: exit %d", rc);
    {
        double x;
        int n = 0, k;
        const char *q = out;
        while (sscanf(q, "%lf%n", &x, &k) == 1) {
            bytes += x;
            n++;
            q += k;
        }
        ck_assert_int_eq(n, 12);
    }
    free(out);
    ck_assert_msg(bytes == IT_BYTES, "uploaded %.0f bytes", bytes);
    check_rate("upload", bytes, t);
    env_down(&e);
}

END_TEST

/* SIGTERM mid-download: the peer exits cleanly, its metadata stays consistent, and the next
 * peer resumes from what was recorded. */
START_TEST(test_sigterm_mid_download)
{
    struct it_env e;
    char url[256], *err = NULL;
    int status, rc;

    env_up(&e);
    start_peer(&e, NULL);
    snprintf(url, sizeof(url), "http://%s/gen/16MiB?seed=90&trickle=1MiB/s", e.origin_addr);
    it_shf(NULL, 10, "(%s get '%s' -O %s/out --socket %s --no-progress > %s/get.log 2>&1 &)",
           it_bin(), url, e.dir, e.sock, e.dir);
    /* mid-download: 1 of 16 MiB sent at 1 MiB/s */
    wait_origin_bytes(&e, "/gen/16MiB?seed=90&trickle=1MiB/s", 1u << 20);
    status = it_proc_stop(&e.peer);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer exit status %d", status);
    ck_assert(!exists(&e, "out"));
    start_peer(&e, NULL);
    rc = get(&e, url, "out", NULL, &err);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    gen(&e, "16MiB", 90, "want");
    ck_assert(same(&e, "out", "want"));
    no_leftovers(&e);
    env_down(&e);
}

END_TEST

Suite *it_get_suite(void);

Suite *
it_get_suite(void)
{
    Suite *s = suite_create("it_get");
    TCase *tc = tcase_create("get");

    tcase_set_timeout(tc, 300); /* a hang guard, far above a loaded sanitizer run */
    tcase_add_test(tc, test_plain_and_cache);
    tcase_add_test(tc, test_retryable_faults);
    tcase_add_test(tc, test_permanent_faults);
    tcase_add_test(tc, test_content_swapped);
    tcase_add_test(tc, test_slow_origin_above_min_rate);
    tcase_add_test(tc, test_disk_full_and_other_filesystem);
    tcase_add_test(tc, test_redirect_to_other_host_drops_authorization);
    tcase_add_test(tc, test_https_origin);
    tcase_add_test(tc, test_concurrent_gets_share_one_task);
    tcase_add_test(tc, test_crash_and_resume);
    tcase_add_test(tc, test_cache_quota_evicts_lru);
    tcase_add_test(tc, test_no_peer_starts_one);
    tcase_add_test(tc, test_upload_server);
    tcase_add_test(tc, test_rate_limits);
    tcase_add_test(tc, test_sigterm_mid_download);
    suite_add_tcase(s, tc);
    tc = tcase_create("big");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_across_4gib);
    suite_add_tcase(s, tc);
    return s;
}
