/* SPDX-License-Identifier: Apache-2.0 */
/*
 * it_sec_ssrf_canary (SECURITY-REVIEW H2): a canary HTTP server on its own 127.0.0.x address
 * holds an "internal" object. Downloads another host asks for (DownloadTask over TCP on both
 * services, directly or through a 302 from an allowed origin, and a seed triggered by the
 * scheduler) must never reach it: 0 canary requests and permission_denied to the requester.
 * The same URL through a local `get` on the unix socket works. Remote requests may not turn
 * off TLS verification or set Host and hop-by-hop headers.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_url.h"
#include "harness/harness.h"

#define SSRF_ORIGIN_IP "127.0.0.70"
#define SSRF_CANARY_IP "127.0.0.71"
#define SSRF_SCHED_IP  "127.0.0.72"
#define SSRF_SEED_IP   "127.0.0.73"
#define SSRF_PEER_IP   "127.0.0.74"
#define SSRF_UPLOAD_DT "/dfdaemon.v2.DfdaemonUpload/DownloadTask"
#define SSRF_GET_DT    "/dfdaemon.v2.DfdaemonDownload/DownloadTask"

static struct {
    char *dir;
    struct it_proc origin, canary, sched, seed, peer;
    char origin_addr[64], canary_addr[64], sched_addr[64], peer_rpc[64], sock[700];
} S;

/* Start argv (NULL-terminated, argv[0] a path) as name and wait for <dir>/<name>.ready. */
static void
ssrf_start(struct it_proc *p, const char *name, const char **argv)
{
    char ready[700];
    const char *full[40];
    size_t n = 0;

    snprintf(ready, sizeof(ready), "%s/%s.ready", S.dir, name);
    while (argv[n] != NULL && n < 36) {
        full[n] = argv[n];
        n++;
    }
    full[n++] = "--ready-file";
    full[n++] = ready;
    full[n] = NULL;
    ck_assert_int_eq(
            it_proc_start(p, S.dir, name, (char *const *)(uintptr_t)full, ready, IT_READY_MS), 0);
}

static void
ssrf_origin(struct it_proc *p, const char *name, const char *ip, char *addr)
{
    char tool[512], listen[64];
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)), "--listen", listen, NULL};

    snprintf(listen, sizeof(listen), "%s:0", ip);
    ssrf_start(p, name, argv);
    snprintf(addr, 64, "%s", it_proc_ready_str(p, "http"));
}

/* Requests the origin test server at addr has answered (its /_stats is not counted). */
static uint64_t
ssrf_requests(const char *addr)
{
    char *body = NULL;
    cJSON *doc = NULL;
    uint64_t n = UINT64_MAX;

    ck_assert_int_eq(it_shf(&body, 10, "curl -sS --max-time 10 'http://%s/_stats'", addr), 0);
    ck_assert_int_eq(df_json_parse(body, strlen(body), NULL, &doc, NULL), 0);
    ck_assert_int_eq(df_json_get_u64(doc, "requests", &n, NULL), 0);
    cJSON_Delete(doc);
    free(body);
    return n;
}

/*
 * The peer with no scheduler: it lets downloads other hosts ask for fetch from the origin
 * only (the harness's allow flag, as every test with a 127.0.0.x origin passes it).
 */
static void
ssrf_up(void)
{
    char data[700];
    const char *argv[] = {
            it_bin(), "peer",       "--ip", SSRF_PEER_IP,    "--rpc-port",   "0", "--upload-port",
            "0",      "--data-dir", data,   IT_ALLOW_ORIGIN, SSRF_ORIGIN_IP, NULL};

    memset(&S, 0, sizeof(S));
    S.dir = it_tmpdir();
    ck_assert_ptr_nonnull(S.dir);
    ssrf_origin(&S.origin, "origin", SSRF_ORIGIN_IP, S.origin_addr);
    ssrf_origin(&S.canary, "canary", SSRF_CANARY_IP, S.canary_addr);
    snprintf(data, sizeof(data), "%s/peer", S.dir);
    ssrf_start(&S.peer, "peer", argv);
    snprintf(S.peer_rpc, sizeof(S.peer_rpc), "%s", it_proc_ready_str(&S.peer, "rpc"));
    snprintf(S.sock, sizeof(S.sock), "%s/peer/dfdaemon.sock", S.dir);
}

static void
ssrf_down(void)
{
    it_proc_stop(&S.peer);
    it_proc_stop(&S.seed);
    it_proc_stop(&S.sched);
    it_proc_stop(&S.canary);
    it_proc_stop(&S.origin);
    it_rmtree(S.dir);
    free(S.dir);
}

/*
 * Send msg (JSON text) as one Connect envelope to the streaming method path at addr, as
 * another host would (curl, h2c), giving up after max_s seconds. Returns the printable text
 * of the answer (the caller frees it).
 */
static char *
ssrf_call(const char *addr, const char *path, const char *msg, int max_s)
{
    char req[700], resp[700], *out = NULL;
    unsigned char hdr[5];
    size_t n = strlen(msg);
    FILE *f;

    hdr[0] = 0;
    hdr[1] = (unsigned char)((n >> 24) & 0xff);
    hdr[2] = (unsigned char)((n >> 16) & 0xff);
    hdr[3] = (unsigned char)((n >> 8) & 0xff);
    hdr[4] = (unsigned char)(n & 0xff);
    snprintf(req, sizeof(req), "%s/req.bin", S.dir);
    snprintf(resp, sizeof(resp), "%s/resp.bin", S.dir);
    f = fopen(req, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    ck_assert_uint_eq(fwrite(msg, 1, n, f), n);
    fclose(f);
    /* curl's own exit code is not the verdict: the answer is (and a stream left open ends
     * with a timeout). */
    ck_assert_int_eq(it_shf(&out, max_s + 10,
                            "curl -sS --max-time %d --http2-prior-knowledge -H "
                            "'content-type: application/connect+json' --data-binary @%s "
                            "-o %s 'http://%s%s'; tr -c '[:print:]' ' ' < %s",
                            max_s, req, resp, addr, path, resp),
                     0);
    return out;
}

/* A DownloadTask (path) with {"download": download} on the TCP RPC port rpc. */
static char *
ssrf_remote(const char *rpc, const char *path, const char *download)
{
    char *msg = NULL, *out;

    ck_assert_int_ne(asprintf(&msg, "{\"download\":%s}", download), -1);
    out = ssrf_call(rpc, path, msg, 50);
    free(msg);
    return out;
}

/* The answer is permission_denied and says why (when want is not NULL). */
static void
ssrf_assert_denied(const char *out, const char *want)
{
    ck_assert_msg(strstr(out, "permission_denied") != NULL, "not denied: %s", out);
    if (want != NULL)
        ck_assert_msg(strstr(out, want) != NULL, "no '%s' in: %s", want, out);
}

/* A DownloadTask over TCP naming the canary: refused, and the canary never hears of it. */
START_TEST(test_direct)
{
    char dl[600], *out;

    ssrf_up();
    snprintf(dl, sizeof(dl), "{\"url\":\"http://%s/gen/4KiB?seed=1\"}", S.canary_addr);
    out = ssrf_remote(S.peer_rpc, SSRF_UPLOAD_DT, dl);
    ssrf_assert_denied(out, "back-to-source policy: " SSRF_CANARY_IP " is a loopback address");
    free(out);
    /* The other service too (with an output: refused whatever the reason; nothing written). */
    snprintf(dl, sizeof(dl), "{\"url\":\"http://%s/gen/4KiB?seed=2\",\"outputPath\":\"%s/o\"}",
             S.canary_addr, S.dir);
    out = ssrf_remote(S.peer_rpc, SSRF_GET_DT, dl);
    ssrf_assert_denied(out, NULL);
    free(out);
    ck_assert_int_eq(it_shf(NULL, 5, "test ! -e %s/o", S.dir), 0);
    ck_assert_uint_eq(ssrf_requests(S.canary_addr), 0);
    ssrf_down();
}

END_TEST

/* An allowed origin that answers 302 to the canary: the hop is refused. */
START_TEST(test_redirect)
{
    char dl[600], *out;

    ssrf_up();
    snprintf(dl, sizeof(dl), "{\"url\":\"http://%s/gen/4KiB?seed=3&redirect_host=%s\"}",
             S.origin_addr, S.canary_addr);
    out = ssrf_remote(S.peer_rpc, SSRF_UPLOAD_DT, dl);
    ssrf_assert_denied(out, "back-to-source policy (after a redirect): " SSRF_CANARY_IP);
    free(out);
    ck_assert_uint_ge(ssrf_requests(S.origin_addr), 1); /* the 302 itself */
    ck_assert_uint_eq(ssrf_requests(S.canary_addr), 0);
    ssrf_down();
}

END_TEST

/*
 * The same peer fetches the canary for a local caller on the unix socket; a remote request
 * after it still cannot reach the canary, not even over the connection the local fetch kept.
 */
START_TEST(test_local_get)
{
    char *err = NULL, *out, want[700], dl[600];
    uint64_t n;

    ssrf_up();
    snprintf(want, sizeof(want), "%s/want", S.dir);
    ck_assert_int_eq(it_gen("4KiB", 4, want), 0);
    ck_assert_msg(it_shf(&err, 60,
                         "%s get 'http://%s/gen/4KiB?seed=4' -O %s/got --socket %s "
                         "--no-progress 2>&1",
                         it_bin(), S.canary_addr, S.dir, S.sock) == 0,
                  "get: %s", err);
    free(err);
    ck_assert_int_eq(it_shf(NULL, 10, "cmp %s %s/got", want, S.dir), 0);
    n = ssrf_requests(S.canary_addr);
    ck_assert_uint_ge(n, 1);
    /* That fetch left a kept-alive connection to the canary in the peer's pool: a remote
     * request for another object there may not ride on it. */
    snprintf(dl, sizeof(dl), "{\"url\":\"http://%s/gen/4KiB?seed=8\"}", S.canary_addr);
    out = ssrf_remote(S.peer_rpc, SSRF_UPLOAD_DT, dl);
    ssrf_assert_denied(out, "back-to-source policy: " SSRF_CANARY_IP);
    free(out);
    ck_assert_uint_eq(ssrf_requests(S.canary_addr), n);
    ssrf_down();
}

END_TEST

/* What a remote request may not ask for, and that an allowed origin works over TCP. */
START_TEST(test_remote_fields)
{
    static const char *const bad[][2] = {
            {"\"insecure\":true", "download.insecure"},
            {"\"requestHeader\":{\"Host\":\"metadata.internal\"}", "'Host' may not be set"},
            {"\"requestHeader\":{\"Connection\":\"close\"}", "'Connection' may not be set"},
            {"\"requestHeader\":{\"transfer-encoding\":\"chunked\"}", "may not be set"},
    };
    char dl[700], *out;

    ssrf_up();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(dl, sizeof(dl), "{\"url\":\"http://%s/gen/4KiB?seed=5\",%s}", S.origin_addr,
                 bad[i][0]);
        out = ssrf_remote(S.peer_rpc, SSRF_UPLOAD_DT, dl);
        ssrf_assert_denied(out, bad[i][1]);
        free(out);
    }
    ck_assert_uint_eq(ssrf_requests(S.origin_addr), 0);
    /* The allow list opens the origin to the same remote request. */
    snprintf(dl, sizeof(dl),
             "{\"url\":\"http://%s/gen/4KiB?seed=5\",\"requestHeader\":{\"Accept\":\"*/*\"}}",
             S.origin_addr);
    out = ssrf_remote(S.peer_rpc, SSRF_UPLOAD_DT, dl);
    ck_assert_msg(strstr(out, "\"error\"") == NULL, "allowed origin failed: %s", out);
    free(out);
    ck_assert_uint_ge(ssrf_requests(S.origin_addr), 1);
    ssrf_down();
}

END_TEST

/*
 * Origin, canary, scheduler and a seed that allows the origin; with_peer adds a peer that
 * may not go to the origin itself (its downloads come through the seed or not at all).
 */
static void
ssrf_swarm_up(bool with_peer)
{
    char sdata[700], pdata[700];
    const char *sched[] = {it_bin(),
                           "scheduler",
                           "--listen",
                           SSRF_SCHED_IP ":0",
                           "--metrics-listen",
                           SSRF_SCHED_IP ":0",
                           "--seed-wait",
                           "2s",
                           "--stall-timeout",
                           "5s",
                           NULL};
    const char *seed[] = {it_bin(),
                          "peer",
                          "--seed",
                          "--ip",
                          SSRF_SEED_IP,
                          "--rpc-port",
                          "0",
                          "--upload-port",
                          "0",
                          "--data-dir",
                          sdata,
                          "--scheduler",
                          S.sched_addr,
                          "--announce-interval",
                          "1s",
                          IT_ALLOW_ORIGIN,
                          SSRF_ORIGIN_IP,
                          NULL};
    const char *peer[] = {it_bin(),
                          "peer",
                          "--ip",
                          "127.0.0.76",
                          "--rpc-port",
                          "0",
                          "--upload-port",
                          "0",
                          "--data-dir",
                          pdata,
                          "--scheduler",
                          S.sched_addr,
                          "--no-back-to-source",
                          "--announce-interval",
                          "1s",
                          NULL};

    memset(&S, 0, sizeof(S));
    S.dir = it_tmpdir();
    ck_assert_ptr_nonnull(S.dir);
    ssrf_origin(&S.origin, "origin", SSRF_ORIGIN_IP, S.origin_addr);
    ssrf_origin(&S.canary, "canary", SSRF_CANARY_IP, S.canary_addr);
    ssrf_start(&S.sched, "scheduler", sched);
    snprintf(S.sched_addr, sizeof(S.sched_addr), "%s", it_proc_ready_str(&S.sched, "rpc"));
    snprintf(sdata, sizeof(sdata), "%s/seed", S.dir);
    snprintf(pdata, sizeof(pdata), "%s/peer", S.dir);
    ssrf_start(&S.seed, "seed", seed);
    if (with_peer) {
        ssrf_start(&S.peer, "peer", peer);
        snprintf(S.sock, sizeof(S.sock), "%s/peer/dfdaemon.sock", S.dir);
    }
}

/*
 * Through the scheduler: a peer that may not go to the origin itself asks for the canary;
 * the scheduler triggers the seed, whose policy refuses it. The origin works the same way.
 */
START_TEST(test_seed)
{
    char *err = NULL, *log = NULL;

    ssrf_swarm_up(true);

    /* The seed path works for the allowed origin. */
    ck_assert_msg(it_shf(&err, 90,
                         "%s get 'http://%s/gen/64KiB?seed=6' -O %s/ok --socket %s "
                         "--no-progress --timeout 60s 2>&1",
                         it_bin(), S.origin_addr, S.dir, S.sock) == 0,
                  "get via the seed: %s", err);
    free(err);
    err = NULL;
    /* The canary: the seed refuses, the peer may not fetch it itself, the get fails. */
    ck_assert_int_ne(it_shf(&err, 90,
                            "%s get 'http://%s/gen/64KiB?seed=7' -O %s/no --socket %s "
                            "--no-progress --timeout 30s 2>&1",
                            it_bin(), S.canary_addr, S.dir, S.sock),
                     0);
    free(err);
    ck_assert_uint_eq(ssrf_requests(S.canary_addr), 0);
    ck_assert_int_eq(it_shf(&log, 10, "grep -c 'back-to-source policy: %s is a loopback' %s",
                            SSRF_CANARY_IP, S.seed.log_path),
                     0);
    free(log);
    ssrf_down();
}

END_TEST

/*
 * C2: a host registers a task with the scheduler whose download object names an outputPath:
 * the register is refused (permission_denied). Registered again with extra headers and
 * unknown keys, the scheduler triggers the seed, which fetches the task (the origin is
 * asked) but gets only the validated fields: nothing is written at the path.
 */
START_TEST(test_seed_request)
{
    struct df_id_task_params tp;
    struct df_error derr;
    char url[200], id[DF_ID_TASK_LEN + 1], host[300], reg[1200], *out = NULL;

    ssrf_swarm_up(false);
    snprintf(url, sizeof(url), "http://%s/gen/64KiB?seed=9", S.origin_addr);
    memset(&tp, 0, sizeof(tp));
    tp.url = url;
    tp.url_flags = DF_URL_CANON_SORT;
    ck_assert_int_eq(df_id_task(&tp, id, &derr), 0);
    snprintf(host, sizeof(host),
             "{\"host\":{\"id\":\"127.0.0.77-intruder\",\"type\":\"normal\","
             "\"hostname\":\"intruder\",\"ip\":\"127.0.0.77\",\"port\":1,"
             "\"downloadPort\":1}}");
    ck_assert_int_eq(it_shf(&out, 20,
                            "curl -sS --max-time 10 --http2-prior-knowledge -H "
                            "'content-type: application/json' -d '%s' "
                            "'http://%s/scheduler.v2.Scheduler/AnnounceHost'",
                            host, S.sched_addr),
                     0);
    free(out);
    snprintf(reg, sizeof(reg),
             "{\"hostId\":\"127.0.0.77-intruder\",\"taskId\":\"%s\",\"peerId\":\"intruder-1\","
             "\"registerPeerRequest\":{\"download\":{\"url\":\"%s\",\"outputPath\":"
             "\"%s/pwned\",\"requestHeader\":{\"X-Intruder\":\"1\"},\"unknownKey\":1}}}",
             id, url, S.dir);
    out = ssrf_call(S.sched_addr, "/scheduler.v2.Scheduler/AnnouncePeer", reg, 8);
    ssrf_assert_denied(out, "outputPath");
    free(out);
    ck_assert_int_eq(ssrf_requests(S.origin_addr), 0);
    snprintf(reg, sizeof(reg),
             "{\"hostId\":\"127.0.0.77-intruder\",\"taskId\":\"%s\",\"peerId\":\"intruder-2\","
             "\"registerPeerRequest\":{\"download\":{\"url\":\"%s\","
             "\"requestHeader\":{\"X-Intruder\":\"1\"},\"unknownKey\":1}}}",
             id, url);
    /* The stream stays open (the intruder never leaves): curl gives up after a while. */
    out = ssrf_call(S.sched_addr, "/scheduler.v2.Scheduler/AnnouncePeer", reg, 8);
    free(out);
    for (int i = 0; i < 200 && ssrf_requests(S.origin_addr) == 0; i++)
        usleep(100 * 1000);
    ck_assert_uint_ge(ssrf_requests(S.origin_addr), 1); /* the seed was triggered */
    ck_assert_int_eq(it_shf(&out, 30, "grep -c 'task %.12s done' %s", id, S.seed.log_path), 0);
    free(out);
    ck_assert_int_eq(it_shf(NULL, 5, "test ! -e %s/pwned", S.dir), 0);
    ssrf_down();
}

END_TEST

Suite *it_ssrf_suite(void);

Suite *
it_ssrf_suite(void)
{
    Suite *s = suite_create("it_ssrf");
    TCase *tc = tcase_create("it_sec_ssrf_canary");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_direct);
    tcase_add_test(tc, test_redirect);
    tcase_add_test(tc, test_local_get);
    tcase_add_test(tc, test_remote_fields);
    tcase_add_test(tc, test_seed);
    tcase_add_test(tc, test_seed_request);
    suite_add_tcase(s, tc);
    return s;
}
