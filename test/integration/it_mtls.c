/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mutual TLS between the roles, with certificates from the binary's own `dragonfly cert`:
 * a scheduler, a seed and two peers on 127.0.0.11x download P2P over mTLS; clients without
 * a certificate are refused by the scheduler and the upload port; and the scheduler
 * enforces what each certificate may do: a peer certificate cannot make another host leave
 * (H1), announce a seed, report source digests or tiny content (C3), or make a seed
 * download (only a scheduler may).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/df_id.h"
#include "df/net_tls.h"
#include "df/rpc_client.h"
#include "harness/harness.h"

#define MT_NPEERS 2
#define MT_SVC    "/scheduler.v2.Scheduler/"

struct mt {
    char *dir;
    struct it_proc origin, sched, seed, peers[MT_NPEERS];
    char origin_addr[64], sched_addr[64], ca[700];
    struct event_base *base;
};

static struct mt m;
static const char *mt_peer_flag; /* one more flag for every peer and the seed, or NULL */
static bool mt_plain;            /* no tls.* at all: a plaintext cluster */
static bool mt_no_seed;          /* start no seed */

/* Issue <dir>/<host>.crt and .key for role. */
static void
mt_issue(const char *role, const char *host)
{
    ck_assert_int_eq(it_shf(NULL, 30, "%s cert issue --dir %s/ca --role %s --host %s --out %s/%s",
                            it_bin(), m.dir, role, host, m.dir, host),
                     0);
}

static void
mt_path(char *buf, size_t len, const char *host, const char *ext)
{
    snprintf(buf, len, "%s/%s.%s", m.dir, host, ext);
}

/* Start a peer (seed when seed) at ip with the certificate of host. */
static void
mt_start_peer(struct it_proc *p, const char *name, const char *ip, const char *host, bool seed)
{
    char data[700], crt[700], key[700];

    snprintf(data, sizeof(data), "%s/%s", m.dir, name);
    mt_path(crt, sizeof(crt), host, "crt");
    mt_path(key, sizeof(key), host, "key");
    /* (a NULL ends it_df_start's list: the optional flags go last) */
    ck_assert_int_eq(it_df_start(p, m.dir, name, "peer", "--ip", ip, "--hostname", host,
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                 "--scheduler", m.sched_addr, "--announce-interval", "1s",
                                 IT_ALLOW_ORIGIN, "127.0.0.110", seed ? "--seed" : "--no-seed",
                                 mt_plain ? NULL : "--tls-cert", crt, "--tls-key", key, "--tls-ca",
                                 m.ca, mt_peer_flag, NULL),
                     0);
}

static void
mt_setup(void)
{
    char tool[512], ready[700], crt[700], key[700];
    const char *oargv[] = {it_tool("origin", tool, sizeof(tool)),
                           "--listen",
                           "127.0.0.110:0",
                           "--ready-file",
                           ready,
                           NULL};
    char name[16], ip[32], host[16];

    signal(SIGPIPE, SIG_IGN);
    memset(&m, 0, sizeof(m));
    m.dir = it_tmpdir();
    ck_assert_ptr_nonnull(m.dir);
    ck_assert_int_eq(it_shf(NULL, 30, "%s cert ca --dir %s/ca", it_bin(), m.dir), 0);
    snprintf(m.ca, sizeof(m.ca), "%s/ca/ca.crt", m.dir);
    mt_issue("scheduler", "sched1");
    mt_issue("seed", "seed1");
    mt_issue("peer", "p0");
    mt_issue("peer", "p1");
    mt_issue("peer", "intruder");
    snprintf(ready, sizeof(ready), "%s/origin.ready", m.dir);
    ck_assert_int_eq(it_proc_start(&m.origin, m.dir, "origin", (char *const *)(uintptr_t)oargv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(m.origin_addr, sizeof(m.origin_addr), "%s", it_proc_ready_str(&m.origin, "http"));
    mt_path(crt, sizeof(crt), "sched1", "crt");
    mt_path(key, sizeof(key), "sched1", "key");
    ck_assert_int_eq(it_df_start(&m.sched, m.dir, "scheduler", "scheduler", "--listen",
                                 "127.0.0.111:0", "--metrics-listen", "127.0.0.111:0",
                                 "--seed-wait", "2s", mt_plain ? NULL : "--tls-cert", crt,
                                 "--tls-key", key, "--tls-ca", m.ca, NULL),
                     0);
    snprintf(m.sched_addr, sizeof(m.sched_addr), "%s", it_proc_ready_str(&m.sched, "rpc"));
    if (!mt_no_seed)
        mt_start_peer(&m.seed, "seed", "127.0.0.112", "seed1", true);
    for (int i = 0; i < MT_NPEERS; i++) {
        snprintf(name, sizeof(name), "peer%d", i);
        snprintf(ip, sizeof(ip), "127.0.0.%d", 113 + i);
        snprintf(host, sizeof(host), "p%d", i);
        mt_start_peer(&m.peers[i], name, ip, host, false);
    }
    m.base = event_base_new();
}

static void
mt_teardown(void)
{
    for (int i = 0; i < MT_NPEERS; i++)
        it_proc_stop(&m.peers[i]);
    it_proc_stop(&m.seed);
    it_proc_stop(&m.sched);
    it_proc_stop(&m.origin);
    if (m.base != NULL)
        event_base_free(m.base);
    it_rmtree(m.dir);
    free(m.dir);
}

/* A cluster client context presenting host's certificate (NULL: none). */
static struct net_tls_ctx *
mt_client_tls(const char *host)
{
    char crt[700], key[700];
    struct net_tls_opts o;
    struct net_tls_ctx *tls = NULL;
    struct df_error err;

    memset(&o, 0, sizeof(o));
    o.ca_file = m.ca;
    o.peer_roles = NET_TLS_ROLES_ALL;
    if (host != NULL) {
        mt_path(crt, sizeof(crt), host, "crt");
        mt_path(key, sizeof(key), host, "key");
        o.cert_file = crt;
        o.key_file = key;
    }
    ck_assert_msg(net_tls_ctx_new(false, &o, &tls, &err) == 0, "%s", err.msg);
    return tls;
}

static struct rpc_client *
mt_sched_client(struct net_tls_ctx *tls)
{
    struct rpc_client_opts o;
    struct rpc_client *c = NULL;

    memset(&o, 0, sizeof(o));
    o.addr = m.sched_addr;
    o.tls = tls;
    o.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER);
    o.backoff_max_ms = 200;
    ck_assert_int_eq(rpc_client_new(m.base, NULL, &o, &c, NULL), 0);
    return c;
}

struct mt_res {
    bool done;
    enum rpc_code code;
    char msg[512];
};

static void
mt_unary_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct mt_res *r = arg;

    (void)resp;
    r->done = true;
    r->code = st->code;
    snprintf(r->msg, sizeof(r->msg), "%s", st->message);
}

static void
mt_expire_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Run the loop until *done or 15 s. */
static void
mt_run(const bool *done)
{
    struct timeval tv = {15, 0};
    bool expired = false;
    struct event *ev = evtimer_new(m.base, mt_expire_cb, &expired);

    evtimer_add(ev, &tv);
    while (!*done && !expired)
        event_base_loop(m.base, EVLOOP_ONCE);
    event_free(ev);
}

/* A unary call of method with the JSON text req; returns the code (message in r). */
static enum rpc_code
mt_call(struct rpc_client *c, const char *method, const char *req, int deadline_ms,
        struct mt_res *r)
{
    char path[128];

    memset(r, 0, sizeof(*r));
    snprintf(path, sizeof(path), MT_SVC "%s", method);
    ck_assert_int_eq(
            rpc_client_unary_raw(c, path, req, strlen(req), deadline_ms, mt_unary_cb, r, NULL), 0);
    mt_run(&r->done);
    ck_assert(r->done);
    return r->code;
}

/* `get url` through peer i into <dir>/<out>; returns the exit status. */
static int
mt_get(int i, const char *url, const char *out)
{
    return it_shf(NULL, 120,
                  "%s get '%s' -O %s/%s --socket %s/peer%d/dfdaemon.sock --no-progress "
                  "--timeout 100s >> %s/get.log 2>&1",
                  it_bin(), url, m.dir, out, m.dir, i, m.dir);
}

/* out equals the origin's /gen/<size>?seed=<seed>. */
static void
mt_expect_bytes(const char *size, int seed, const char *out)
{
    char want[700];

    snprintf(want, sizeof(want), "%s/want-%s-%d", m.dir, size, seed);
    ck_assert_int_eq(it_gen(size, seed, want), 0);
    ck_assert_msg(it_shf(NULL, 30, "cmp -s %s %s/%s", want, m.dir, out) == 0,
                  "%s: not the origin's bytes", out);
}

START_TEST(test_swarm_mtls)
{
    char url[256], target[64];
    uint64_t sent = 0;

    snprintf(target, sizeof(target), "/gen/6MiB?seed=11");
    snprintf(url, sizeof(url), "http://%s%s", m.origin_addr, target);
    ck_assert_int_eq(mt_get(0, url, "out0"), 0);
    ck_assert_int_eq(mt_get(1, url, "out1"), 0);
    mt_expect_bytes("6MiB", 11, "out0");
    mt_expect_bytes("6MiB", 11, "out1");
    /* Only the seed went to the origin: the peers were fed over mTLS. */
    ck_assert_int_eq(it_origin_bytes(m.origin_addr, target, &sent), 0);
    /* (one copy, plus the byte of the seed's length probe) */
    if (sent < 6u << 20 || sent >= 7u << 20)
        it_shf(NULL, 10, "cat %s/get.log %s/*.log >&2", m.dir, m.dir);
    ck_assert_msg(sent >= 6u << 20 && sent < 7u << 20,
                  "origin sent %" PRIu64 " bytes, want one copy", sent);
    ck_assert_int_eq(it_shf(NULL, 10, "grep -q 'from source 0B' %s/get.log", m.dir), 0);
}

END_TEST

START_TEST(test_no_client_cert)
{
    struct net_tls_ctx *anon = mt_client_tls(NULL), *tls = mt_client_tls("p0");
    struct rpc_client *c = mt_sched_client(anon);
    const char *upload = it_proc_ready_str(&m.peers[0], "upload");
    char crt[700], key[700], *out = NULL;
    struct mt_res r;

    /* The scheduler refuses the handshake: the call never connects. */
    ck_assert_int_ne(mt_call(c, "StatHost", "{\"hostId\":\"x\"}", 1500, &r), RPC_OK);
    ck_assert_int_eq(rpc_client_connects(c), 0);
    rpc_client_free(c);
    /* The same call with a peer certificate gets an answer. */
    c = mt_sched_client(tls);
    ck_assert_int_eq(mt_call(c, "StatHost", "{\"hostId\":\"x\"}", 5000, &r), RPC_NOT_FOUND);
    rpc_client_free(c);
    /* The upload port: refused without a certificate, served with one. */
    ck_assert_ptr_nonnull(upload);
    ck_assert_int_ne(it_shf(NULL, 15, "curl -sk -m 5 https://%s/healthy", upload), 0);
    ck_assert_int_ne(it_shf(NULL, 15, "curl -s -m 5 http://%s/healthy", upload), 0);
    mt_path(crt, sizeof(crt), "p1", "crt");
    mt_path(key, sizeof(key), "p1", "key");
    ck_assert_int_eq(it_shf(&out, 15, "curl -sk -m 5 --cert %s --key %s https://%s/healthy", crt,
                            key, upload),
                     0);
    ck_assert_str_eq(out, "OK");
    free(out);
    net_tls_ctx_free(anon);
    net_tls_ctx_free(tls);
}

END_TEST

/* H1: a peer certificate for host B cannot make host A leave, nor take over its id. */
START_TEST(it_sec_leavehost_foreign)
{
    struct net_tls_ctx *tls = mt_client_tls("intruder");
    struct rpc_client *c = mt_sched_client(tls);
    const char *victim = it_proc_ready_str(&m.peers[0], "hostId");
    char req[512];
    struct mt_res r;

    ck_assert_ptr_nonnull(victim);
    snprintf(req, sizeof(req), "{\"id\":\"%s\"}", victim);
    ck_assert_int_eq(mt_call(c, "LeaveHost", req, 5000, &r), RPC_PERMISSION_DENIED);
    snprintf(req, sizeof(req), "{\"hostId\":\"%s\"}", victim);
    ck_assert_int_eq(mt_call(c, "StatHost", req, 5000, &r), RPC_OK);
    /* Announcing over A's id, as A's hostname, or as a seed: refused too. */
    snprintf(req, sizeof(req),
             "{\"host\":{\"id\":\"%s\",\"ip\":\"127.0.0.119\",\"hostname\":\"intruder\","
             "\"port\":9,\"downloadPort\":9}}",
             victim);
    ck_assert_int_eq(mt_call(c, "AnnounceHost", req, 5000, &r), RPC_PERMISSION_DENIED);
    ck_assert_int_eq(mt_call(c, "AnnounceHost",
                             "{\"host\":{\"ip\":\"127.0.0.119\",\"hostname\":\"p0\",\"port\":9,"
                             "\"downloadPort\":9}}",
                             5000, &r),
                     RPC_PERMISSION_DENIED);
    ck_assert_int_eq(
            mt_call(c, "AnnounceHost",
                    "{\"host\":{\"id\":\"127.0.0.119-intruder-seed\",\"ip\":\"127.0.0.119\","
                    "\"hostname\":\"intruder\",\"type\":\"super\",\"port\":9,"
                    "\"downloadPort\":9}}",
                    5000, &r),
            RPC_PERMISSION_DENIED);
    /* An id that another host's ip and name make, before that host arrives: refused. */
    ck_assert_int_eq(mt_call(c, "AnnounceHost",
                             "{\"host\":{\"id\":\"127.0.0.118-p9\",\"ip\":\"127.0.0.119\","
                             "\"hostname\":\"intruder\",\"port\":9,\"downloadPort\":9}}",
                             5000, &r),
                     RPC_PERMISSION_DENIED);
    /* Its own host: announce and leave work. */
    ck_assert_int_eq(mt_call(c, "AnnounceHost",
                             "{\"host\":{\"id\":\"127.0.0.119-intruder\",\"ip\":\"127.0.0.119\","
                             "\"hostname\":\"intruder\",\"port\":9,\"downloadPort\":9}}",
                             5000, &r),
                     RPC_OK);
    ck_assert_int_eq(mt_call(c, "LeaveHost", "{\"id\":\"127.0.0.119-intruder\"}", 5000, &r),
                     RPC_OK);
    rpc_client_free(c);
    net_tls_ctx_free(tls);
}

END_TEST

struct mt_stream {
    bool closed;
    enum rpc_code code;
    char msg[512];
};

static void
mt_stream_close_cb(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    struct mt_stream *ms = arg;

    (void)s;
    ms->closed = true;
    ms->code = st->code;
    snprintf(ms->msg, sizeof(ms->msg), "%s", st->message);
}

/* The same message text for the stream (JSON, parsed here). */
static void
mt_send(struct rpc_client_call *s, const char *json)
{
    cJSON *o = cJSON_Parse(json);

    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(rpc_client_send(s, o), 0);
    cJSON_Delete(o);
}

/* Only the scheduler triggers a seed: a peer certificate's DownloadTask is refused. */
START_TEST(test_seed_download_needs_scheduler)
{
    static const struct rpc_client_stream_cbs cbs = {NULL, mt_stream_close_cb};
    struct net_tls_ctx *tls = mt_client_tls("intruder");
    struct rpc_client_opts o;
    struct rpc_client *c = NULL;
    struct rpc_client_call *s = NULL;
    struct mt_stream ms;
    char msg[512];

    memset(&o, 0, sizeof(o));
    o.addr = it_proc_ready_str(&m.seed, "rpc");
    ck_assert_ptr_nonnull(o.addr);
    o.tls = tls;
    o.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED);
    ck_assert_int_eq(rpc_client_new(m.base, NULL, &o, &c, NULL), 0);
    memset(&ms, 0, sizeof(ms));
    ck_assert_int_eq(
            rpc_client_stream(c, "/dfdaemon.v2.DfdaemonUpload/DownloadTask", 10000, &cbs, &ms, &s),
            0);
    snprintf(msg, sizeof(msg), "{\"download\":{\"url\":\"http://%s/gen/1MiB?seed=5\"}}",
             m.origin_addr);
    mt_send(s, msg);
    rpc_client_close_send(s);
    mt_run(&ms.closed);
    ck_assert(ms.closed);
    ck_assert_msg(ms.code == RPC_PERMISSION_DENIED, "ended with %d: %s", (int)ms.code, ms.msg);
    rpc_client_free(c);
    net_tls_ctx_free(tls);
}

END_TEST

/*
 * The poisoning of the review's C3 on c: announce host "intruder", register for url (a
 * 6-byte task; asking to go to the source when need_bts) and report piece 0 fetched from
 * the source with the content "PWNED\n" and its sha256. Returns how the stream ended.
 */
static struct mt_stream
mt_fake_source_report(struct rpc_client *c, const char *url, bool need_bts)
{
    static const struct rpc_client_stream_cbs cbs = {NULL, mt_stream_close_cb};
    struct df_id_task_params tp;
    struct rpc_client_call *s = NULL;
    char task[DF_ID_TASK_LEN + 1], msg[2048];
    struct mt_stream ms;
    struct mt_res r;

    memset(&tp, 0, sizeof(tp));
    tp.url = url;
    ck_assert_int_eq(df_id_task(&tp, task, NULL), 0);
    ck_assert_int_eq(mt_call(c, "AnnounceHost",
                             "{\"host\":{\"id\":\"127.0.0.119-intruder\",\"ip\":\"127.0.0.119\","
                             "\"hostname\":\"intruder\",\"port\":9,\"downloadPort\":9}}",
                             5000, &r),
                     RPC_OK);
    memset(&ms, 0, sizeof(ms));
    ck_assert_int_eq(rpc_client_stream(c, MT_SVC "AnnouncePeer", 10000, &cbs, &ms, &s), 0);
    snprintf(msg, sizeof(msg),
             "{\"hostId\":\"127.0.0.119-intruder\",\"taskId\":\"%s\",\"peerId\":\"evil-1\","
             "\"registerPeerRequest\":{\"download\":{\"url\":\"%s\",\"needBackToSource\":%s},"
             "\"contentLength\":6,\"pieceLength\":4194304}}",
             task, url, need_bts ? "true" : "false");
    mt_send(s, msg);
    snprintf(msg, sizeof(msg),
             "{\"hostId\":\"127.0.0.119-intruder\",\"taskId\":\"%s\",\"peerId\":\"evil-1\","
             "\"downloadPieceBackToSourceFinishedRequest\":{\"piece\":{\"number\":0,"
             "\"offset\":0,\"length\":6,\"cost\":1,\"digest\":\"sha256:"
             "311a638d7e9b18528e9d49da77eaac7663229a724e8b503d3675ecb55b1f26df\","
             "\"content\":\"UFdORUQK\"}}}",
             task);
    mt_send(s, msg);
    mt_run(&ms.closed);
    ck_assert(ms.closed);
    return ms;
}

/*
 * C3, light: a client with a peer certificate registers for a tiny task and reports it
 * fetched from the source with its own content and digest: refused; an honest get of the
 * URL then gets the origin's bytes.
 */
START_TEST(it_sec_fake_source_digest)
{
    struct net_tls_ctx *tls = mt_client_tls("intruder");
    struct rpc_client *c = mt_sched_client(tls);
    struct mt_stream ms;
    char url[256];

    snprintf(url, sizeof(url), "http://%s/gen/100B?seed=23", m.origin_addr);
    ms = mt_fake_source_report(c, url, true);
    ck_assert_msg(ms.code == RPC_PERMISSION_DENIED, "stream ended with %d: %s", (int)ms.code,
                  ms.msg);
    ck_assert_ptr_nonnull(strstr(ms.msg, "seed certificate"));
    rpc_client_free(c);
    net_tls_ctx_free(tls);
    /* The honest get is served the origin's bytes. */
    ck_assert_int_eq(mt_get(1, url, "tiny"), 0);
    mt_expect_bytes("100B", 23, "tiny");
}

END_TEST

/*
 * C3 on a plaintext scheduler: nobody has a certificate, so source reports are taken only
 * on a stream the scheduler sent to the source. With a seed in the cluster, an intruder
 * that registers is not sent there (the seed is triggered), and its report is refused.
 */
START_TEST(it_sec_fake_source_digest_plaintext)
{
    struct rpc_client_opts o;
    struct rpc_client *c = NULL;
    struct mt_stream ms;
    char url[256];

    memset(&o, 0, sizeof(o));
    o.addr = m.sched_addr;
    ck_assert_int_eq(rpc_client_new(m.base, NULL, &o, &c, NULL), 0);
    snprintf(url, sizeof(url), "http://%s/gen/100B?seed=29", m.origin_addr);
    ms = mt_fake_source_report(c, url, false);
    ck_assert_msg(ms.code == RPC_PERMISSION_DENIED, "stream ended with %d: %s", (int)ms.code,
                  ms.msg);
    rpc_client_free(c);
    ck_assert_int_eq(mt_get(0, url, "tiny"), 0);
    mt_expect_bytes("100B", 29, "tiny");
}

END_TEST

/* tls.pieces false: the control plane stays mTLS, pieces travel over plain http. */
START_TEST(test_plaintext_pieces)
{
    struct net_tls_ctx *anon = mt_client_tls(NULL);
    struct rpc_client *c = mt_sched_client(anon);
    const char *upload = it_proc_ready_str(&m.peers[0], "upload");
    char url[256];
    struct mt_res r;

    snprintf(url, sizeof(url), "http://%s/gen/3MiB?seed=31", m.origin_addr);
    ck_assert_int_eq(mt_get(0, url, "out0"), 0);
    ck_assert_int_eq(mt_get(1, url, "out1"), 0);
    mt_expect_bytes("3MiB", 31, "out0");
    mt_expect_bytes("3MiB", 31, "out1");
    ck_assert_int_eq(it_shf(NULL, 10, "grep -q 'from source 0B' %s/get.log", m.dir), 0);
    ck_assert_int_eq(it_shf(NULL, 15, "curl -sf -m 5 http://%s/healthy", upload), 0);
    ck_assert_int_ne(mt_call(c, "StatHost", "{\"hostId\":\"x\"}", 1500, &r), RPC_OK);
    rpc_client_free(c);
    net_tls_ctx_free(anon);
}

END_TEST

/*
 * mTLS without a seed: peers sent to the origin fetch it themselves; their source reports
 * are refused (only seeds speak for the origin), and that refusal must not stop a get.
 */
START_TEST(test_no_seed_peers_fetch_themselves)
{
    char url[256];

    snprintf(url, sizeof(url), "http://%s/gen/2MiB?seed=37", m.origin_addr);
    ck_assert_int_eq(mt_get(0, url, "out0"), 0);
    ck_assert_int_eq(mt_get(1, url, "out1"), 0);
    mt_expect_bytes("2MiB", 37, "out0");
    mt_expect_bytes("2MiB", 37, "out1");
    /* A refused peer does not register again and again: wait, then count registrations
     * (one per get, and at most one more per peer after it finished). */
    sleep(3);
    ck_assert_msg(it_shf(NULL, 10,
                         "curl -s http://%s/metrics | awk '/^dragonfly_scheduler_register_total/ "
                         "{ exit !($2 >= 2 && $2 <= 4) }'",
                         it_proc_ready_str(&m.sched, "metrics")) == 0,
                  "too many registrations");
}

END_TEST

struct mt_body {
    bool done;
    enum rpc_code code;
    char *text; /* the answer, printed */
};

static void
mt_body_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct mt_body *b = arg;

    b->done = true;
    b->code = st->code;
    b->text = resp != NULL ? cJSON_PrintUnformatted(resp) : strdup(st->message);
}

/* A unary call of path on c with the JSON text req: its code, the answer in b->text. */
static enum rpc_code
mt_call_body(struct rpc_client *c, const char *path, const char *req, struct mt_body *b)
{
    free(b->text);
    memset(b, 0, sizeof(*b));
    ck_assert_int_eq(rpc_client_unary_raw(c, path, req, strlen(req), 10000, mt_body_cb, b, NULL),
                     0);
    mt_run(&b->done);
    ck_assert(b->done);
    return b->code;
}

/*
 * The manager's views of the scheduler (ListHosts, ListTaskPeers) and a peer's DeleteTask:
 * a peer certificate is refused; a manager certificate lists the cluster's hosts and may
 * ask a peer to delete (a task it does not hold: not_found).
 */
START_TEST(test_manager_only_views)
{
    struct net_tls_ctx *peer_tls = mt_client_tls("intruder"), *mgr_tls;
    struct rpc_client *c, *pc;
    struct rpc_client_opts o;
    char zero[80];
    struct mt_body b;

    memset(&b, 0, sizeof(b));
    snprintf(zero, sizeof(zero), "{\"taskId\":\"%064d\"}", 0);
    c = mt_sched_client(peer_tls);
    ck_assert_int_eq(mt_call_body(c, MT_SVC "ListHosts", "{}", &b), RPC_PERMISSION_DENIED);
    ck_assert_msg(strstr(b.text, "manager certificate") != NULL, "%s", b.text);
    ck_assert_int_eq(mt_call_body(c, MT_SVC "ListTaskPeers", zero, &b), RPC_PERMISSION_DENIED);
    rpc_client_free(c);
    mt_issue("manager", "mgr1");
    mgr_tls = mt_client_tls("mgr1");
    c = mt_sched_client(mgr_tls);
    ck_assert_int_eq(mt_call_body(c, MT_SVC "ListHosts", "{}", &b), RPC_OK);
    ck_assert_msg(strstr(b.text, "\"hostname\":\"p0\"") != NULL &&
                          strstr(b.text, "\"hostname\":\"seed1\"") != NULL,
                  "%s", b.text);
    ck_assert_int_eq(mt_call_body(c, MT_SVC "ListTaskPeers", zero, &b), RPC_OK);
    ck_assert_str_eq(b.text, "{\"peers\":[]}");
    ck_assert_int_eq(mt_call_body(c, MT_SVC "ListTaskPeers", "{\"taskId\":\"x\"}", &b),
                     RPC_INVALID_ARGUMENT);
    rpc_client_free(c);
    /* a peer's DeleteTask: not for a peer certificate */
    memset(&o, 0, sizeof(o));
    o.addr = it_proc_ready_str(&m.peers[0], "rpc");
    o.tls = peer_tls;
    o.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER);
    ck_assert_int_eq(rpc_client_new(m.base, NULL, &o, &pc, NULL), 0);
    ck_assert_int_eq(mt_call_body(pc, "/dfdaemon.v2.DfdaemonUpload/DeleteTask", zero, &b),
                     RPC_PERMISSION_DENIED);
    rpc_client_free(pc);
    o.tls = mgr_tls;
    ck_assert_int_eq(rpc_client_new(m.base, NULL, &o, &pc, NULL), 0);
    ck_assert_int_eq(mt_call_body(pc, "/dfdaemon.v2.DfdaemonUpload/DeleteTask", zero, &b),
                     RPC_NOT_FOUND);
    rpc_client_free(pc);
    free(b.text);
    net_tls_ctx_free(peer_tls);
    net_tls_ctx_free(mgr_tls);
}

END_TEST

static void
mt_setup_no_seed(void)
{
    mt_no_seed = true;
    mt_setup();
}

static void
mt_setup_plaintext(void)
{
    mt_plain = true;
    mt_setup();
}

static void
mt_setup_plain_pieces(void)
{
    mt_peer_flag = "--no-tls-pieces";
    mt_setup();
}

Suite *it_mtls_suite(void);

Suite *
it_mtls_suite(void)
{
    Suite *s = suite_create("it_mtls");
    TCase *tc = tcase_create("mtls");

    tcase_add_checked_fixture(tc, mt_setup, mt_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_swarm_mtls);
    tcase_add_test(tc, test_no_client_cert);
    tcase_add_test(tc, it_sec_leavehost_foreign);
    tcase_add_test(tc, it_sec_fake_source_digest);
    tcase_add_test(tc, test_seed_download_needs_scheduler);
    tcase_add_test(tc, test_manager_only_views);
    suite_add_tcase(s, tc);
    tc = tcase_create("plain_pieces");
    tcase_add_checked_fixture(tc, mt_setup_plain_pieces, mt_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_plaintext_pieces);
    suite_add_tcase(s, tc);
    tc = tcase_create("no_seed");
    tcase_add_checked_fixture(tc, mt_setup_no_seed, mt_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_no_seed_peers_fetch_themselves);
    suite_add_tcase(s, tc);
    tc = tcase_create("plaintext");
    tcase_add_checked_fixture(tc, mt_setup_plaintext, mt_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, it_sec_fake_source_digest_plaintext);
    suite_add_tcase(s, tc);
    return s;
}
