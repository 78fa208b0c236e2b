/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Only the origin decides what the bytes are. A whole-content digest (`get --digest`, or a
 * registry blob URL that names its sha256) that a cached copy fails evicts that copy and
 * fetches the content once more from the origin; a get fails only when the origin's bytes
 * fail too. A scheduler never settles conflicting source reports by "first wins", and an
 * intruder holding the only back-to-source slot with fake digests delays an honest get by
 * a stall timeout at most, without a registration storm. Processes on 127.0.0.180-189:
 * origin .180 (files under <dir>/root), scheduler .181, seed .182, a lone peer .183, a swarm
 * peer .184, the intruder .189.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_url.h"
#include "df/rpc_client.h"
#include "harness/harness.h"

#define MIB (UINT64_C(1) << 20)

struct tr {
    char *dir;
    struct it_proc origin, peer, sched, seed, peer2;
    char origin_addr[64], sock[700], sched_addr[64];
};

static struct tr tr;
static const char *tr_wait = "1m"; /* the scheduler's wait timeout */

/* The origin, serving generated content and the files under <dir>/root. */
static void
tr_origin(void)
{
    char tool[512], ready[700], root[700];
    const char *oargv[] = {it_tool("origin", tool, sizeof(tool)),
                           "--listen",
                           "127.0.0.180:0",
                           "--root",
                           root,
                           "--ready-file",
                           ready,
                           NULL};

    memset(&tr, 0, sizeof(tr));
    tr.dir = it_tmpdir();
    ck_assert_ptr_nonnull(tr.dir);
    snprintf(root, sizeof(root), "%s/root", tr.dir);
    ck_assert_int_eq(mkdir(root, 0755), 0);
    snprintf(ready, sizeof(ready), "%s/origin.ready", tr.dir);
    ck_assert_int_eq(it_proc_start(&tr.origin, tr.dir, "origin", (char *const *)(uintptr_t)oargv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(tr.origin_addr, sizeof(tr.origin_addr), "%s", it_proc_ready_str(&tr.origin, "http"));
}

static void
tr_setup(void)
{
    char data[700];

    tr_origin();
    snprintf(data, sizeof(data), "%s/peer", tr.dir);
    ck_assert_int_eq(it_df_start(&tr.peer, tr.dir, "peer", "peer", "--ip", "127.0.0.183",
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                 "--source-idle-timeout", "5s", IT_ALLOW_ORIGIN, "127.0.0.180",
                                 NULL),
                     0);
    snprintf(tr.sock, sizeof(tr.sock), "%s/peer/dfdaemon.sock", tr.dir);
}

/* A peer of the swarm, name on ip, with its data in <dir>/<name>. */
static void
tr_swarm_peer(struct it_proc *p, const char *name, const char *ip)
{
    char data[700];

    snprintf(data, sizeof(data), "%s/%s", tr.dir, name);
    ck_assert_int_eq(it_df_start(p, tr.dir, name, "peer", "--ip", ip, "--rpc-port", "0",
                                 "--upload-port", "0", "--data-dir", data, "--scheduler",
                                 tr.sched_addr, "--announce-interval", "1s",
                                 "--source-idle-timeout", "5s", IT_ALLOW_ORIGIN, "127.0.0.180",
                                 NULL),
                     0);
}

/* A plaintext scheduler (stall timeout 5 s), a seed and one peer. */
static void
tr_swarm_setup(void)
{
    char data[700];

    tr_origin();
    ck_assert_int_eq(it_df_start(&tr.sched, tr.dir, "scheduler", "scheduler", "--listen",
                                 "127.0.0.181:0", "--metrics-listen", "127.0.0.181:0",
                                 "--seed-wait", "2s", "--stall-timeout", "5s", "--wait-timeout",
                                 tr_wait, NULL),
                     0);
    snprintf(tr.sched_addr, sizeof(tr.sched_addr), "%s", it_proc_ready_str(&tr.sched, "rpc"));
    snprintf(data, sizeof(data), "%s/seed", tr.dir);
    ck_assert_int_eq(it_df_start(&tr.seed, tr.dir, "seed", "peer", "--seed", "--ip", "127.0.0.182",
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                 "--scheduler", tr.sched_addr, "--announce-interval", "1s",
                                 IT_ALLOW_ORIGIN, "127.0.0.180", NULL),
                     0);
    tr_swarm_peer(&tr.peer, "peer", "127.0.0.184");
    snprintf(tr.sock, sizeof(tr.sock), "%s/peer/dfdaemon.sock", tr.dir);
}

/* The swarm with a second peer (.185) and a scheduler that waits 3 s for parents. */
static void
tr_swarm2_setup(void)
{
    tr_wait = "3s";
    tr_swarm_setup();
    tr_wait = "1m";
    tr_swarm_peer(&tr.peer2, "peer2", "127.0.0.185");
}

static void
tr_teardown(void)
{
    it_proc_stop(&tr.peer2);
    it_proc_stop(&tr.seed);
    it_proc_stop(&tr.sched);
    it_proc_stop(&tr.peer);
    it_proc_stop(&tr.origin);
    it_rmtree(tr.dir);
    free(tr.dir);
}

/* <dir>/root/<rel> := /gen/<size>?seed=<seed> (directories made as needed). */
static void
tr_put(const char *rel, const char *size, int seed)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/root/%s", tr.dir, rel);
    ck_assert_int_eq(it_shf(NULL, 10, "mkdir -p \"$(dirname '%s')\"", path), 0);
    ck_assert_int_eq(it_gen(size, seed, path), 0);
}

/* "sha256:<hex>" of /gen/<size>?seed=<seed> into out (72 bytes). */
static void
tr_digest(const char *size, int seed, char *out, size_t len)
{
    char path[1024], *hex = NULL;

    snprintf(path, sizeof(path), "%s/digest.tmp", tr.dir);
    ck_assert_int_eq(it_gen(size, seed, path), 0);
    ck_assert_int_eq(it_shf(&hex, 30, "sha256sum '%s' | cut -c1-64 | tr -d '\\n'", path), 0);
    ck_assert_uint_eq(strlen(hex), 64);
    snprintf(out, len, "sha256:%s", hex);
    free(hex);
    unlink(path);
}

/* get of <origin>/<rel> into <dir>/<out> ("-": stdout into <dir>/stdout); exit status. */
static int
tr_get(const char *rel, const char *out, const char *flags, char **err)
{
    if (strcmp(out, "-") == 0)
        return it_shf(err, 120,
                      "%s get 'http://%s/%s' -O - --socket %s --no-progress %s 2>&1 "
                      ">%s/stdout",
                      it_bin(), tr.origin_addr, rel, tr.sock, flags != NULL ? flags : "", tr.dir);
    return it_shf(err, 120, "%s get 'http://%s/%s' -O %s/%s --socket %s --no-progress %s 2>&1",
                  it_bin(), tr.origin_addr, rel, tr.dir, out, tr.sock, flags != NULL ? flags : "");
}

/* <dir>/<name> holds /gen/<size>?seed=<seed>. */
static void
tr_expect(const char *name, const char *size, int seed)
{
    char want[700];

    snprintf(want, sizeof(want), "%s/want", tr.dir);
    ck_assert_int_eq(it_gen(size, seed, want), 0);
    ck_assert_msg(it_shf(NULL, 30, "cmp -s %s/%s %s", tr.dir, name, want) == 0,
                  "%s: not the bytes of seed %d", name, seed);
}

/* How many whole copies of /<rel> (size bytes) the origin sent (probes of a byte aside). */
static uint64_t
tr_origin_copies(const char *rel, uint64_t size)
{
    char target[700];
    uint64_t v = 0;

    snprintf(target, sizeof(target), "/%s", rel);
    ck_assert_int_eq(it_origin_bytes(tr.origin_addr, target, &v), 0);
    return v / size;
}

/*
 * Cache /<rel> as /gen/<size>?seed=<old> through the peer, then have the origin serve seed
 * <now> instead; flags := "--digest <the origin's digest now>".
 */
static void
tr_poison(const char *rel, const char *size, int old, int now, char *flags, size_t len)
{
    char dg[80];

    tr_put(rel, size, old);
    ck_assert_int_eq(tr_get(rel, "cached", NULL, NULL), 0);
    tr_expect("cached", size, old);
    tr_put(rel, size, now);
    tr_digest(size, now, dg, sizeof(dg));
    snprintf(flags, len, "--digest %s", dg);
}

/*
 * The cache holds bytes the origin no longer serves (as a doctored or poisoned cache
 * would): a get with the origin's digest evicts them, refetches from the origin and exits 0
 * with the origin's bytes; the verified copy then serves the next get from the cache.
 */
START_TEST(test_digest_mismatch_refetches_origin)
{
    char flags[128], *err = NULL;
    int rc;

    tr_poison("f.bin", "3MiB", 1, 2, flags, sizeof(flags));
    rc = tr_get("f.bin", "out1", flags, &err);
    ck_assert_msg(rc == 0, "get --digest: exit %d: %s", rc, err);
    free(err);
    tr_expect("out1", "3MiB", 2);
    ck_assert_uint_eq(tr_origin_copies("f.bin", 3 * MIB), 2);
    /* the refetched copy passed the check: a cache hit now, no origin traffic */
    rc = tr_get("f.bin", "out2", flags, &err);
    ck_assert_msg(rc == 0 && strstr(err, "from the peer's cache") != NULL, "exit %d: %s", rc, err);
    free(err);
    tr_expect("out2", "3MiB", 2);
    ck_assert_uint_eq(tr_origin_copies("f.bin", 3 * MIB), 2);
    ck_assert_int_eq(it_temp_count(tr.dir), 0);
}

END_TEST

/*
 * Standard output cannot be started over: the get fails with one clear line, the wrong copy
 * is evicted all the same, so the next get to stdout has the origin's bytes.
 */
START_TEST(test_digest_mismatch_stdout)
{
    char flags[128], *err = NULL;
    int rc;

    tr_poison("s.bin", "1MiB", 3, 4, flags, sizeof(flags));
    rc = tr_get("s.bin", "-", flags, &err);
    ck_assert_msg(rc != 0 && strstr(err, "digest mismatch") != NULL &&
                          strstr(err, "standard output") != NULL,
                  "exit %d: %s", rc, err);
    ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n'), "not one line: %s", err);
    free(err);
    rc = tr_get("s.bin", "-", flags, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    tr_expect("stdout", "1MiB", 4);
}

END_TEST

/*
 * A registry blob URL is verified whole against the sha256 it names: bytes that do not match
 * fail the get (after one more fetch from the origin) and leave no output; once the origin
 * serves the right bytes, the wrong copy left in the cache is evicted and the get succeeds.
 */
START_TEST(test_blob_url_verified)
{
    char dg[80], rel[256], *err = NULL;
    int rc;

    tr_digest("2MiB", 6, dg, sizeof(dg));
    snprintf(rel, sizeof(rel), "v2/lib/blobs/%s", dg);
    tr_put(rel, "2MiB", 5);
    rc = tr_get(rel, "out0", NULL, &err);
    ck_assert_msg(rc != 0 && strstr(err, "digest mismatch") != NULL &&
                          strstr(err, "fetched again from the origin") != NULL,
                  "exit %d: %s", rc, err);
    free(err);
    ck_assert_int_ne(it_shf(NULL, 10, "test -e %s/out0", tr.dir), 0);
    ck_assert_int_eq(it_temp_count(tr.dir), 0);
    ck_assert_uint_eq(tr_origin_copies(rel, 2 * MIB), 2);
    tr_put(rel, "2MiB", 6);
    rc = tr_get(rel, "out1", NULL, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    tr_expect("out1", "2MiB", 6);
    /* an explicit digest that differs from the one the URL names is refused */
    rc = tr_get(rel, "out2",
                "--digest sha256:"
                "0000000000000000000000000000000000000000000000000000000000000000",
                &err);
    ck_assert_msg(rc != 0 && strstr(err, "blob URL") != NULL, "exit %d: %s", rc, err);
    free(err);
}

END_TEST

/* ---- a raw scheduler client: the intruder ---- */

struct tr_call {
    bool done;
    enum rpc_code code;
    char msg[512];
};

static void
tr_unary_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct tr_call *r = arg;

    (void)resp;
    r->done = true;
    r->code = st->code;
}

static void
tr_stream_close_cb(struct rpc_client_call *c, const struct rpc_status *st, void *arg)
{
    struct tr_call *r = arg;

    (void)c;
    r->done = true;
    r->code = st->code;
    snprintf(r->msg, sizeof(r->msg), "%s", st->message);
}

/* Run base until *done or ms pass. */
static void
tr_pump(struct event_base *base, const bool *done, int ms)
{
    for (int i = 0; i < ms / 50 && !*done; i++) {
        struct timeval tv = {0, 50000};

        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static void
tr_send(struct rpc_client_call *s, const char *json)
{
    cJSON *o = cJSON_Parse(json);

    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(rpc_client_send(s, o), 0);
    cJSON_Delete(o);
}

/* A scheduler metric's value. */
static uint64_t
tr_metric(const char *name)
{
    char *out = NULL;
    uint64_t v;

    ck_assert_int_eq(it_shf(&out, 10, "curl -s http://%s/metrics | awk '$1 == \"%s\" {print $2}'",
                            it_proc_ready_str(&tr.sched, "metrics"), name),
                     0);
    v = strtoull(out, NULL, 10);
    free(out);
    return v;
}

/*
 * M2 (and C3 on a plaintext scheduler): an intruder registers first for a 3-piece task,
 * asks for the source (so it is sent there and may report), reports three fake digests and
 * holds its stream. The honest get through the peer ends with the origin's bytes once the
 * intruder's slot is freed after the stall timeout and the seed's reports outweigh the fake
 * ones; the peer registers only a few times meanwhile, and the seed is never blocked.
 */
START_TEST(it_sec_digest_conflict_backoff)
{
    static const struct rpc_client_stream_cbs cbs = {NULL, tr_stream_close_cb};
    struct event_base *base = event_base_new();
    struct rpc_client_opts o;
    struct rpc_client *c = NULL;
    struct rpc_client_call *s = NULL;
    struct df_id_task_params tp;
    struct tr_call host, stream;
    char url[256], task[DF_ID_TASK_LEN + 1], msg[2048], rc_path[800], *out = NULL;
    bool finished = false;
    uint64_t regs;
    int rc = -1;

    snprintf(url, sizeof(url), "http://%s/gen/12MiB?seed=41", tr.origin_addr);
    memset(&tp, 0, sizeof(tp));
    tp.url = url;
    tp.url_flags = DF_URL_CANON_SORT;
    ck_assert_int_eq(df_id_task(&tp, task, NULL), 0);
    memset(&o, 0, sizeof(o));
    o.addr = tr.sched_addr;
    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &c, NULL), 0);
    memset(&host, 0, sizeof(host));
    snprintf(msg, sizeof(msg),
             "{\"host\":{\"id\":\"127.0.0.189-intruder\",\"ip\":\"127.0.0.189\","
             "\"hostname\":\"intruder\",\"port\":9,\"downloadPort\":9}}");
    ck_assert_int_eq(rpc_client_unary_raw(c, "/scheduler.v2.Scheduler/AnnounceHost", msg,
                                          strlen(msg), 5000, tr_unary_cb, &host, NULL),
                     0);
    tr_pump(base, &host.done, 10000);
    ck_assert_int_eq(host.code, RPC_OK);
    memset(&stream, 0, sizeof(stream));
    ck_assert_int_eq(
            rpc_client_stream(c, "/scheduler.v2.Scheduler/AnnouncePeer", 300000, &cbs, &stream, &s),
            0);
    snprintf(msg, sizeof(msg),
             "{\"hostId\":\"127.0.0.189-intruder\",\"taskId\":\"%s\",\"peerId\":\"evil-1\","
             "\"registerPeerRequest\":{\"download\":{\"url\":\"%s\",\"needBackToSource\":true},"
             "\"contentLength\":12582912,\"pieceLength\":4194304}}",
             task, url);
    tr_send(s, msg);
    for (int i = 0; i < 3; i++) {
        snprintf(msg, sizeof(msg),
                 "{\"hostId\":\"127.0.0.189-intruder\",\"taskId\":\"%s\",\"peerId\":\"evil-1\","
                 "\"downloadPieceBackToSourceFinishedRequest\":{\"piece\":{\"number\":%d,"
                 "\"offset\":%d,\"length\":4194304,\"cost\":1,\"digest\":\"sha256:"
                 "%064d\"}}}",
                 task, i, i * 4194304, i + 1);
        tr_send(s, msg);
    }
    tr_pump(base, &stream.done, 1000);
    ck_assert_msg(!stream.done, "the intruder's stream ended at once: %s", stream.msg);
    ck_assert_uint_eq(tr_metric("dragonfly_scheduler_pieces_from_source_total"), 3);
    /* The honest get, in the background; the intruder keeps its stream meanwhile. */
    snprintf(rc_path, sizeof(rc_path), "%s/rc", tr.dir);
    ck_assert_int_eq(it_shf(NULL, 10,
                            "(%s get '%s' -O %s/out --socket %s --no-progress --timeout 110s "
                            ">%s/get.log 2>&1; echo $? >%s.tmp; mv %s.tmp %s) >/dev/null 2>&1 &",
                            it_bin(), url, tr.dir, tr.sock, tr.dir, rc_path, rc_path, rc_path),
                     0);
    for (int i = 0; i < 1200 && !finished; i++) {
        bool never = false;

        tr_pump(base, &never, 100);
        finished = access(rc_path, F_OK) == 0;
    }
    ck_assert_msg(finished, "the honest get did not end within 120 s");
    ck_assert_int_eq(it_shf(&out, 10, "cat %s", rc_path), 0);
    rc = atoi(out);
    free(out);
    ck_assert_msg(rc == 0, "the honest get failed (%d)", rc);
    tr_expect("out", "12MiB", 41);
    /* from the seed, once its reports outweighed the fake ones (not from the origin after
     * the wait timeout, the peer's only way out while the intruder held the slot) */
    ck_assert_msg(it_shf(NULL, 10, "grep -q '(seed)' %s/get.log", tr.dir) == 0,
                  "the get was not served by the seed");
    /* the intruder's slot was taken back (it made no progress) */
    ck_assert_msg(stream.done, "the intruder still holds its stream");
    regs = tr_metric("dragonfly_scheduler_register_total");
    /* the intruder, the seed, the peer and its one re-registration: a few, not a storm */
    ck_assert_msg(regs <= 8, "%" PRIu64 " registrations", regs);
    /* nobody blocked the seed */
    ck_assert_int_ne(it_shf(NULL, 10,
                            "grep 'blocked for peer' %s/scheduler.log | grep -q "
                            "'parent 127.0.0.182'",
                            tr.dir),
                     0);
    rpc_client_free(c);
    event_base_free(base);
}

END_TEST

/*
 * Every parent serves a piece that fails its digest (the peer's and the seed's caches were
 * damaged after they verified them): the child blocks them all and asks the scheduler for
 * others, which, with none left, sends it to the source; the get ends with the origin's
 * bytes instead of failing.
 */
START_TEST(test_piece_bad_from_every_parent)
{
    char url[256], *err = NULL;
    int rc;

    snprintf(url, sizeof(url), "http://%s/gen/16MiB?seed=43", tr.origin_addr);
    rc = it_shf(&err, 120, "%s get '%s' -O %s/out0 --socket %s --no-progress 2>&1", it_bin(), url,
                tr.dir, tr.sock);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    /* same length, other bytes, in both parents' data files */
    ck_assert_int_eq(it_shf(NULL, 30,
                            "for f in %s/peer/content/tasks/*/* %s/seed/content/tasks/*/*; do "
                            "dd if=/dev/urandom of=$f bs=1M count=16 conv=notrunc 2>/dev/null "
                            "|| exit 1; done",
                            tr.dir, tr.dir),
                     0);
    rc = it_shf(&err, 150,
                "%s get '%s' -O %s/out1 --socket %s/peer2/dfdaemon.sock --no-progress "
                "--timeout 140s 2>&1",
                it_bin(), url, tr.dir, tr.dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    tr_expect("out1", "16MiB", 43);
    /* each parent was blocked at its first bad piece once no other one offered it */
    ck_assert_int_eq(
            it_shf(NULL, 10, "grep -q 'failed its digest from every parent' %s/peer2.log", tr.dir),
            0);
}

END_TEST

Suite *it_trust_suite(void);

Suite *
it_trust_suite(void)
{
    Suite *s = suite_create("it_trust");
    TCase *tc = tcase_create("digest");

    tcase_add_checked_fixture(tc, tr_setup, tr_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_digest_mismatch_refetches_origin);
    tcase_add_test(tc, test_digest_mismatch_stdout);
    tcase_add_test(tc, test_blob_url_verified);
    suite_add_tcase(s, tc);
    tc = tcase_create("swarm");
    tcase_add_checked_fixture(tc, tr_swarm_setup, tr_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, it_sec_digest_conflict_backoff);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_parents");
    tcase_add_checked_fixture(tc, tr_swarm2_setup, tr_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_piece_bad_from_every_parent);
    suite_add_tcase(s, tc);
    return s;
}
