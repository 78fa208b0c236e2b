/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Outputs belong to the caller (issue 8 §2 and §4, issue 9 §1; review C1, M4, L6): `get`
 * creates its own temp file, passes the descriptor on the peer's unix socket and renames it
 * into place. Whatever a user does to an output afterwards never reaches the cache or what
 * the peer uploads; no path sent over TCP (or the socket) makes the peer write anything; a
 * non-root caller writes only where it may, as itself; `-O -` streams the exact bytes; no
 * temp file survives a failed or killed get.
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

#include "harness/harness.h"

struct ot {
    char *dir;
    struct it_proc origin, sched, peer, peer2, seed;
    char origin_addr[64], sched_addr[64];
    char sock[700], sock2[700];
};

/* Origin on 127.0.0.70 and, unless sched is false, a scheduler on 127.0.0.71. */
static void
ot_up(struct ot *o, bool sched)
{
    char tool[512], ready[700];
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)),
                          "--listen",
                          "127.0.0.70:0",
                          "--ready-file",
                          ready,
                          NULL};

    memset(o, 0, sizeof(*o));
    o->dir = it_tmpdir();
    ck_assert_ptr_nonnull(o->dir);
    snprintf(ready, sizeof(ready), "%s/origin.ready", o->dir);
    ck_assert_int_eq(it_proc_start(&o->origin, o->dir, "origin", (char *const *)(uintptr_t)argv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(o->origin_addr, sizeof(o->origin_addr), "%s", it_proc_ready_str(&o->origin, "http"));
    if (!sched)
        return;
    ck_assert_int_eq(it_df_start(&o->sched, o->dir, "scheduler", "scheduler", "--listen",
                                 "127.0.0.71:0", "--metrics-listen", "127.0.0.71:0", "--seed-wait",
                                 "1s", NULL),
                     0);
    snprintf(o->sched_addr, sizeof(o->sched_addr), "%s", it_proc_ready_str(&o->sched, "rpc"));
}

/* A peer named name on ip, with the scheduler when there is one; its socket into sock. */
static void
ot_peer(struct ot *o, struct it_proc *p, const char *name, const char *ip, char *sock,
        const char *f1, const char *f2)
{
    char data[700];

    snprintf(data, sizeof(data), "%s/%s", o->dir, name);
    snprintf(sock, 700, "%s/%s/dfdaemon.sock", o->dir, name);
    if (o->sched_addr[0] != '\0')
        ck_assert_int_eq(it_df_start(p, o->dir, name, "peer", "--ip", ip, "--rpc-port", "0",
                                     "--upload-port", "0", "--data-dir", data, "--scheduler",
                                     o->sched_addr, "--announce-interval", "1s", f1, f2, NULL),
                         0);
    else
        ck_assert_int_eq(it_df_start(p, o->dir, name, "peer", "--ip", ip, "--rpc-port", "0",
                                     "--upload-port", "0", "--data-dir", data, f1, f2, NULL),
                         0);
}

static void
ot_down(struct ot *o)
{
    it_proc_stop(&o->peer2);
    it_proc_stop(&o->peer);
    it_proc_stop(&o->seed);
    it_proc_stop(&o->sched);
    it_proc_stop(&o->origin);
    it_rmtree(o->dir);
    free(o->dir);
}

/* get of /gen/<size>?seed=<seed> through sock into <dir>/<out>; exit status, output in *log. */
static int
ot_get(struct ot *o, const char *sock, const char *size, int seed, const char *out, char **log)
{
    return it_shf(log, 60,
                  "cd %s && %s get 'http://%s/gen/%s?seed=%d' -O %s --socket %s --no-progress "
                  "--timeout 30s 2>&1",
                  o->dir, it_bin(), o->origin_addr, size, seed, out, sock);
}

/* <dir>/<name> holds exactly the bytes of /gen/<size>?seed=<seed>. */
static bool
ot_same(struct ot *o, const char *size, int seed, const char *name)
{
    char want[700];

    snprintf(want, sizeof(want), "%s/want-%s-%d", o->dir, size, seed);
    if (access(want, F_OK) != 0)
        ck_assert_int_eq(it_gen(size, seed, want), 0);
    return it_shf(NULL, 60, "cmp -s %s %s/%s", want, o->dir, name) == 0;
}

/* The get succeeded and wrote the origin's bytes into name. */
static void
ot_expect(struct ot *o, const char *sock, const char *size, int seed, const char *name)
{
    char *log = NULL;
    int rc = ot_get(o, sock, size, seed, name, &log);

    ck_assert_msg(rc == 0, "get into %s: exit %d: %s", name, rc, log);
    ck_assert_msg(ot_same(o, size, seed, name), "get into %s: wrong bytes (%s)", name, log);
    free(log);
}

/* Nothing named *dragonfly-* is left in dir. */
static void
ot_no_temp(const char *dir)
{
    ck_assert_msg(it_temp_count(dir) == 0, "temp files left in %s", dir);
}

/* The one task id in a peer's cache. */
static void
ot_task_id(struct ot *o, const char *peer, char id[65])
{
    char data[700];

    snprintf(data, sizeof(data), "%s/%s", o->dir, peer);
    ck_assert_msg(it_cache_task_id(data, id) == 0, "no task in the cache of %s", peer);
}

static uint64_t
ot_origin_bytes(struct ot *o, const char *size, int seed)
{
    char target[128];
    uint64_t v = 0;

    snprintf(target, sizeof(target), "/gen/%s?seed=%d", size, seed);
    ck_assert_int_eq(it_origin_bytes(o->origin_addr, target, &v), 0);
    return v;
}

/*
 * it_get_output_edit (M4, issue 8 §2): edit in place, truncate, delete, replace and chmod an
 * output, then get the URL again: the origin's bytes every time, promptly (the get's own
 * --timeout is 30 s), with no origin traffic; the upload server serves verified bytes; a
 * second peer fetching from this one (P2P) gets the origin's bytes.
 */
START_TEST(test_output_edit)
{
    struct ot o;
    char id[65], *log = NULL;
    uint64_t before;

    ot_up(&o, true);
    ot_peer(&o, &o.peer, "p1", "127.0.0.72", o.sock, NULL, NULL);
    ot_expect(&o, o.sock, "6MiB", 81, "out");
    ck_assert_int_eq(it_shf(NULL, 10, "test $(stat -c %%h %s/out) = 1", o.dir), 0);
    before = ot_origin_bytes(&o, "6MiB", 81);

    /* edit in place: a cache sharing the inode would now serve these bytes */
    ck_assert_int_eq(it_shf(NULL, 10,
                            "printf MODIFIED-BY-USER | dd of=%s/out conv=notrunc 2>/dev/null",
                            o.dir),
                     0);
    ot_expect(&o, o.sock, "6MiB", 81, "after-edit");
    /* truncate: used to make every later get hang */
    ck_assert_int_eq(it_shf(NULL, 10, ": > %s/out", o.dir), 0);
    ot_expect(&o, o.sock, "6MiB", 81, "after-truncate");
    /* delete, replace, chmod */
    ck_assert_int_eq(it_shf(NULL, 10, "rm %s/out", o.dir), 0);
    ot_expect(&o, o.sock, "6MiB", 81, "after-delete");
    ck_assert_int_eq(
            it_shf(NULL, 10, "echo other > %s/x && mv %s/x %s/after-delete", o.dir, o.dir, o.dir),
            0);
    ck_assert_int_eq(it_shf(NULL, 10, "chmod 000 %s/after-edit", o.dir), 0);
    ot_expect(&o, o.sock, "6MiB", 81, "after-replace");
    /* the same output again replaces the file the user changed */
    ot_expect(&o, o.sock, "6MiB", 81, "after-delete");
    ck_assert_uint_eq(ot_origin_bytes(&o, "6MiB", 81), before);

    /* the upload server serves the verified bytes: piece 0 is the content's first bytes */
    ot_task_id(&o, "p1", id);
    ck_assert_int_eq(it_shf(&log, 30,
                            "cd %s && curl -sS --max-time 10 -o piece0 http://%s/pieces/%s/0 && "
                            "n=$(stat -c %%s piece0) && test $n -gt 0 && "
                            "head -c $n want-6MiB-81 | cmp - piece0",
                            o.dir, it_proc_ready_str(&o.peer, "upload"), id),
                     0);
    free(log);
    log = NULL;

    /* a second peer fetches from this one: the origin's bytes, and not from the origin */
    ot_peer(&o, &o.peer2, "p2", "127.0.0.73", o.sock2, NULL, NULL);
    ot_expect(&o, o.sock2, "6MiB", 81, "from-p1");
    ck_assert_uint_eq(ot_origin_bytes(&o, "6MiB", 81), before);
    ot_no_temp(o.dir);
    ot_down(&o);
}

END_TEST

/*
 * POST a DownloadTask (server-streaming, one envelope of json) to url with curl_extra and
 * expect a refusal: permission_denied, or (only_perm false) invalid_argument.
 */
static void
ot_expect_refused(struct ot *o, const char *curl_extra, const char *url, const char *json,
                  bool only_perm)
{
    char path[700], *out = NULL;
    uint32_t len = (uint32_t)strlen(json);
    uint8_t hdr[5] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    FILE *f;

    snprintf(path, sizeof(path), "%s/envelope", o->dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(hdr, 1, 5, f), 5);
    ck_assert_uint_eq(fwrite(json, 1, len, f), len);
    fclose(f);
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -sS --max-time 10 --http2-prior-knowledge %s "
                            "-H 'content-type: application/connect+json' --data-binary @%s '%s' | "
                            "tr -d '\\000-\\010'",
                            curl_extra, path, url),
                     0);
    ck_assert_msg(strstr(out, "permission_denied") != NULL ||
                          (!only_perm && strstr(out, "invalid_argument") != NULL),
                  "%s accepted %s: %s", url, json, out);
    free(out);
}

/* The victim is byte for byte and second for second what it was, and nothing was created. */
static void
ot_victim_unchanged(struct ot *o)
{
    ck_assert_int_eq(
            it_shf(NULL, 10,
                   "cd %s/victim && test \"$(cat config.txt)\" = 'original victim content' "
                   "&& test $(stat -c %%Y config.txt) = 946684800 && "
                   "test \"$(ls -A | tr '\\n' ' ')\" = 'config.txt '",
                   o->dir),
            0);
}

/*
 * it_sec_tob_df2_12_output_path (C1, TOB-DF2-12): DownloadTask with outputPath over the TCP
 * RPC port through both services, of a peer and of a seed, and over the unix socket; and an
 * outputFd request over TCP. Every answer refuses; the target keeps its bytes and mtime and
 * nothing is created.
 */
START_TEST(test_sec_tob_df2_12_output_path)
{
    static const char *const paths[] = {"/dfdaemon.v2.DfdaemonDownload/DownloadTask",
                                        "/dfdaemon.v2.DfdaemonUpload/DownloadTask"};
    struct ot o;
    char json[1024], url[256], extra[800], data[700];
    const char *rpcs[2];

    ot_up(&o, false);
    ot_peer(&o, &o.peer, "p1", "127.0.0.74", o.sock, NULL, NULL);
    snprintf(data, sizeof(data), "%s/seed", o.dir);
    ck_assert_int_eq(it_df_start(&o.seed, o.dir, "seed", "peer", "--seed", "--ip", "127.0.0.75",
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data, NULL),
                     0);
    rpcs[0] = it_proc_ready_str(&o.peer, "rpc");
    rpcs[1] = it_proc_ready_str(&o.seed, "rpc");
    ck_assert_int_eq(it_shf(NULL, 10,
                            "mkdir %s/victim && printf 'original victim content' > "
                            "%s/victim/config.txt && touch -d @946684800 %s/victim/config.txt",
                            o.dir, o.dir, o.dir),
                     0);
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 2; k++) {
            const char *targets[] = {"config.txt", "new.txt"};
            snprintf(url, sizeof(url), "http://%s%s", rpcs[r], paths[k]);
            for (int t = 0; t < 2; t++) {
                snprintf(json, sizeof(json),
                         "{\"download\":{\"url\":\"http://%s/gen/1KiB?seed=5\","
                         "\"outputPath\":\"%s/victim/%s\"}}",
                         o.origin_addr, o.dir, targets[t]);
                ot_expect_refused(&o, "--interface 127.0.0.76", url, json, false);
            }
            /* an output descriptor cannot be asked for over TCP either */
            snprintf(json, sizeof(json),
                     "{\"download\":{\"url\":\"http://%s/gen/1KiB?seed=5\",\"outputFd\":true}}",
                     o.origin_addr);
            ot_expect_refused(&o, "", url, json, false);
        }
    }
    /* the unix socket takes no path either */
    snprintf(json, sizeof(json),
             "{\"download\":{\"url\":\"http://%s/gen/1KiB?seed=5\","
             "\"outputPath\":\"%s/victim/config.txt\"}}",
             o.origin_addr, o.dir);
    snprintf(extra, sizeof(extra), "--unix-socket %s", o.sock);
    ot_expect_refused(&o, extra, "http://localhost/dfdaemon.v2.DfdaemonDownload/DownloadTask", json,
                      true);
    ot_victim_unchanged(&o);
    ot_down(&o);
}

END_TEST

/*
 * A non-root caller (nobody) on a socket it may use (a root peer whose socket is open to
 * everyone: socketMode 0666): -O /etc/... fails with one line naming --output and creates
 * nothing; a file in a directory nobody owns is written, owned by nobody.
 */
START_TEST(test_nonroot_caller)
{
    struct ot o;
    char sock[700], flag[720], *log = NULL;
    int rc;

    if (geteuid() != 0 || it_shf(NULL, 10, "command -v setpriv >/dev/null") != 0) {
        fprintf(stderr, "it_output: non-root test skipped (needs root and setpriv)\n");
        return;
    }
    ot_up(&o, false);
    ck_assert_int_eq(chmod(o.dir, 0755), 0);
    snprintf(sock, sizeof(sock), "%s/public.sock", o.dir);
    snprintf(flag, sizeof(flag), "--socket=%s", sock);
    ot_peer(&o, &o.peer, "p1", "127.0.0.77", o.sock, flag, "--socket-mode=0666");
    ck_assert_int_eq(it_shf(NULL, 10, "mkdir %s/nb && chown 65534:65534 %s/nb", o.dir, o.dir), 0);
    rc = it_shf(&log, 60,
                "setpriv --reuid=65534 --regid=65534 --clear-groups %s get "
                "'http://%s/gen/1MiB?seed=9' -O /etc/df-it-output-x --socket %s --no-progress 2>&1",
                it_bin(), o.origin_addr, sock);
    ck_assert_msg(rc != 0, "nobody wrote into /etc: %s", log);
    ck_assert_msg(strstr(log, "--output /etc/df-it-output-x") != NULL, "%s", log);
    ck_assert_msg(strchr(log, '\n') == strrchr(log, '\n'), "more than one line: %s", log);
    ck_assert_int_eq(access("/etc/df-it-output-x", F_OK), -1);
    ot_no_temp("/etc");
    free(log);
    log = NULL;
    rc = it_shf(&log, 60,
                "cd %s/nb && setpriv --reuid=65534 --regid=65534 --clear-groups %s get "
                "'http://%s/gen/3MiB?seed=10' -O mine --socket %s --no-progress 2>&1",
                o.dir, it_bin(), o.origin_addr, sock);
    ck_assert_msg(rc == 0, "nobody's get: exit %d: %s", rc, log);
    ck_assert(ot_same(&o, "3MiB", 10, "nb/mine"));
    ck_assert_int_eq(
            it_shf(NULL, 10, "test $(stat -c %%u.%%g.%%h %s/nb/mine) = 65534.65534.1", o.dir), 0);
    ot_no_temp(o.dir);
    free(log);
    ot_down(&o);
}

END_TEST

/* `get -O -` into a pipe: exactly the origin's bytes (sha256) of /gen/<size>?seed=<seed>. */
static void
ot_expect_stdout(struct ot *o, const char *query, const char *size, int seed)
{
    char *got = NULL, *want = NULL, tool[512];

    ck_assert_int_eq(it_shf(&got, 60,
                            "cd %s && %s get 'http://%s/gen/%s?seed=%d%s' -O - --socket %s "
                            "--no-progress 2>/dev/null | sha256sum",
                            o->dir, it_bin(), o->origin_addr, size, seed, query, o->sock),
                     0);
    ck_assert_int_eq(it_shf(&want, 60, "%s --gen %s --seed %d | sha256sum",
                            it_tool("origin", tool, sizeof(tool)), size, seed),
                     0);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
}

/*
 * -O - streams in order to stdout: a cache miss (multi-piece, and trickled so that bytes
 * must flow before the end), a cache hit, a tiny file; nothing named "-" is created.
 */
START_TEST(test_stdout)
{
    struct ot o;
    char *out = NULL;

    ot_up(&o, false);
    ot_peer(&o, &o.peer, "p1", "127.0.0.78", o.sock, NULL, NULL);
    ot_expect_stdout(&o, "", "9MiB", 21);
    ot_expect_stdout(&o, "", "9MiB", 21); /* from the cache */
    ot_expect_stdout(&o, "", "100", 22);
    /* Streaming: the first MiB reaches the reader while the get still runs (1 MiB/s for
     * 6 MiB: the get ends seconds after; no clock is compared). */
    ck_assert_int_eq(it_shf(&out, 60,
                            "cd %s && (%s get 'http://%s/gen/6MiB?seed=23&trickle=1MiB/s' -O - "
                            "--socket %s --no-progress 2>/dev/null; touch get-ended) | "
                            "(head -c 1048576 >/dev/null; test -e get-ended && echo late || echo "
                            "streaming; cat >/dev/null)",
                            o.dir, it_bin(), o.origin_addr, o.sock),
                     0);
    ck_assert_str_eq(out, "streaming\n");
    free(out);
    ck_assert_int_eq(it_shf(NULL, 10, "test ! -e %s/-", o.dir), 0);
    ot_down(&o);
}

END_TEST

/*
 * A get's own temp file gets each verified piece at its offset, not only the prefix: with
 * every origin response stalled after 3 MiB, the source runs (16 pieces each, 4 at once) end
 * up with pieces 0-2, 16-18, 32-34 and 48-50 verified, and the temp file holds the origin's
 * bytes at 16 MiB while piece 3 never comes. (Written in order, the end of a download
 * waited for everything behind its last piece to be copied at once.)
 */
START_TEST(test_pieces_at_their_offsets)
{
    struct ot o;
    char want[700], *log = NULL;
    int rc;

    ot_up(&o, false);
    ot_peer(&o, &o.peer, "p1", "127.0.0.80", o.sock, "--source-idle-timeout", "60s");
    snprintf(want, sizeof(want), "%s/want", o.dir);
    ck_assert_int_eq(it_gen("64MiB", 24, want), 0);
    rc = it_shf(&log, 60,
                "cd %s || exit 1; (%s get 'http://%s/gen/64MiB?seed=24&stall_after=3MiB' -O out "
                "--socket %s --no-progress 2>get.err & echo $! > get.pid; wait $!; echo $? > "
                "get.rc) & found=no; for i in $(seq 300); do t=$(ls -a | grep "
                "'^\\.out\\.dragonfly-' | head -1); if [ -n \"$t\" ] && cmp -s -n 3145728 -i "
                "16777216:16777216 \"$t\" want; then found=yes; break; fi; sleep 0.1; done; "
                "echo $found; kill -TERM $(cat get.pid); for i in $(seq 100); do [ -e get.rc ] "
                "&& break; sleep 0.1; done; cat get.rc",
                o.dir, it_bin(), o.origin_addr, o.sock);
    ck_assert_msg(rc == 0 && strcmp(log, "yes\n143\n") == 0, "%s", log);
    free(log);
    ck_assert_int_eq(it_shf(NULL, 10, "test ! -e %s/out", o.dir), 0);
    ot_no_temp(o.dir);
    ot_down(&o);
}

END_TEST

/* No temp file survives an origin 404, a --digest mismatch, or a SIGTERM'd get. */
START_TEST(test_no_temp_after_failure)
{
    struct ot o;
    char *log = NULL;
    int rc;

    ot_up(&o, false);
    ot_peer(&o, &o.peer, "p1", "127.0.0.79", o.sock, NULL, NULL);
    rc = it_shf(&log, 60,
                "cd %s && %s get 'http://%s/gen/1MiB?seed=1&status=404' -O out --socket %s "
                "--no-progress 2>&1",
                o.dir, it_bin(), o.origin_addr, o.sock);
    ck_assert_msg(rc == 1, "404: exit %d: %s", rc, log);
    free(log);
    rc = it_shf(&log, 60,
                "cd %s && %s get 'http://%s/gen/2MiB?seed=2' -O out --socket %s --no-progress "
                "--digest sha256:%064d 2>&1",
                o.dir, it_bin(), o.origin_addr, o.sock, 0);
    ck_assert_msg(rc == 1 && strstr(log, "digest mismatch") != NULL, "digest: exit %d: %s", rc,
                  log);
    free(log);
    ck_assert_int_eq(access("out", F_OK), -1);
    ot_no_temp(o.dir);
    /* SIGTERM while the content trickles in: the temp file exists, then is gone */
    rc = it_shf(&log, 60,
                "cd %s || exit 1; (%s get 'http://%s/gen/8MiB?seed=3&trickle=1MiB/s' -O out "
                "--socket %s "
                "--no-progress 2>get.err & echo $! > get.pid; wait $!; echo $? > get.rc) & "
                "for i in $(seq 100); do ls -a | grep -q '^\\.out\\.dragonfly-' && break; "
                "sleep 0.1; done; ls -a | grep -c '^\\.out\\.dragonfly-'; sleep 0.5; "
                "kill -TERM $(cat get.pid); for i in $(seq 100); do [ -e get.rc ] && break; "
                "sleep 0.1; done; cat get.rc get.err",
                o.dir, it_bin(), o.origin_addr, o.sock);
    ck_assert_msg(rc == 0 && strncmp(log, "1\n143\n", 6) == 0 && strstr(log, "terminated"),
                  "SIGTERM: %s", log);
    free(log);
    ck_assert_int_eq(it_shf(NULL, 10, "test ! -e %s/out", o.dir), 0);
    ot_no_temp(o.dir);
    ot_down(&o);
}

END_TEST

Suite *it_output_suite(void);

Suite *
it_output_suite(void)
{
    Suite *s = suite_create("it_output");
    TCase *tc = tcase_create("output");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_output_edit);
    tcase_add_test(tc, test_sec_tob_df2_12_output_path);
    tcase_add_test(tc, test_nonroot_caller);
    tcase_add_test(tc, test_stdout);
    tcase_add_test(tc, test_no_temp_after_failure);
    tcase_add_test(tc, test_pieces_at_their_offsets);
    suite_add_tcase(s, tc);
    return s;
}
