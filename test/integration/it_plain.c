/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plaintext only by choice (issue 9 §3, review H1 and §3.7), on 127.0.0.13x: a scheduler, and
 * a peer that has a scheduler or listens beyond loopback, refuse to start without a
 * certificate unless plaintext is chosen (one line naming the key and flag, exit 2), while a
 * peer nobody else reaches starts as before; a daemon running plaintext by choice warns once.
 * Without certificates a host id belongs to the address that announced it first: another
 * address cannot announce over it, make it leave, or register or remove its peers (H1).
 * Who may use a peer's unix socket is its socketMode and socketGroup, checked as nobody.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/rpc_client.h"
#include "harness/harness.h"

#define PL_HINT  "tls.mode: plaintext (--plaintext)"
#define PL_SVC   "scheduler.v2.Scheduler/"
#define PL_OWNER "127.0.0.135" /* announces a host of its own */
#define PL_OTHER "127.0.0.134" /* the intruder's address */

struct pl {
    char *dir;
    struct it_proc sched, peer;
    char sched_addr[64];
};

static struct pl P;

static void
pl_setup(void)
{
    memset(&P, 0, sizeof(P));
    P.dir = it_tmpdir();
    ck_assert_ptr_nonnull(P.dir);
}

static void
pl_teardown(void)
{
    it_proc_stop(&P.peer);
    it_proc_stop(&P.sched);
    it_rmtree(P.dir);
    free(P.dir);
}

/* Run `dragonfly <args>` in the test dir, to exit by itself; its status, stderr in *out. */
static int
pl_run(char **out, const char *args)
{
    return it_shf(out, 30, "cd %s && %s %s 2>&1 >/dev/null", P.dir, it_bin(), args);
}

/* The daemon did not start: exit 2 and one line on stderr that names what to set. */
static void
pl_expect_refused(const char *args, const char *want)
{
    char *out = NULL;
    int rc = pl_run(&out, args);

    ck_assert_msg(rc == 2, "%s: exit %d: %s", args, rc, out);
    ck_assert_msg(strstr(out, want) != NULL, "%s: %s", args, out);
    ck_assert_msg(strchr(out, '\n') == strrchr(out, '\n'), "more than one line: %s", out);
    free(out);
}

/* How many lines of p's log contain s. */
static int
pl_log_count(const struct it_proc *p, const char *s)
{
    char *out = NULL;
    int n;

    ck_assert_int_eq(it_shf(&out, 10, "grep -cF -- '%s' %s || true", s, p->log_path), 0);
    n = atoi(out);
    free(out);
    return n;
}

/* No certificate and no choice: the scheduler and reachable peers refuse to start. */
START_TEST(test_plaintext_needs_a_choice)
{
    char args[1024];

    pl_expect_refused("scheduler --tls-mode auto --listen 127.0.0.130:0 --metrics-listen "
                      "127.0.0.130:0",
                      "dragonfly scheduler: tls.cert is not set: give this host a cluster "
                      "certificate (tls.cert, tls.key, tls.ca; see `dragonfly cert`) or run "
                      "unauthenticated with " PL_HINT);
    /* a peer with a scheduler, even on loopback */
    snprintf(args, sizeof(args),
             "peer --ip 127.0.0.131 --rpc-port 0 --upload-port 0 --data-dir %s/p1 "
             "--scheduler 127.0.0.130:8002",
             P.dir);
    pl_expect_refused(args, "dragonfly peer: tls.cert is not set");
    /* a seed too */
    snprintf(args, sizeof(args),
             "seed --ip 127.0.0.131 --rpc-port 0 --upload-port 0 --data-dir %s/p1 "
             "--scheduler 127.0.0.130:8002",
             P.dir);
    pl_expect_refused(args, PL_HINT);
    /* a peer without a scheduler that listens on every address */
    snprintf(args, sizeof(args), "peer --rpc-port 0 --upload-port 0 --data-dir %s/p1", P.dir);
    pl_expect_refused(args, PL_HINT);
    /* --check-config says the same */
    snprintf(args, sizeof(args), "peer --data-dir %s/p1 --check-config", P.dir);
    pl_expect_refused(args, PL_HINT);
    /* mtls without a certificate; plaintext with one */
    pl_expect_refused("scheduler --tls-mode mtls", "tls.mode is mtls but tls.cert");
    pl_expect_refused("scheduler --plaintext --tls-cert a --tls-key b --tls-ca c",
                      "tls.mode is plaintext but tls.cert is set");
    /* nothing was started: no data dir was made */
    ck_assert_int_eq(it_shf(NULL, 10, "test ! -e %s/p1", P.dir), 0);
}

END_TEST

/*
 * A peer on loopback without a scheduler reaches nobody and nobody reaches it: it starts
 * without a certificate and without a warning (as the one `get` starts; it_life tests that).
 */
START_TEST(test_local_peer_is_exempt)
{
    char data[700];

    snprintf(data, sizeof(data), "%s/p1", P.dir);
    ck_assert_int_eq(it_df_start(&P.peer, P.dir, "peer", "peer", "--tls-mode", "auto", "--ip",
                                 "127.0.0.131", "--rpc-port", "0", "--upload-port", "0",
                                 "--data-dir", data, NULL),
                     0);
    ck_assert_int_eq(pl_log_count(&P.peer, "WARN"), 0);
    ck_assert_int_eq(pl_log_count(&P.peer, "plaintext, reachable from this host only"), 1);
}

END_TEST

/* Plaintext chosen: the scheduler and the peer start and each says so once. */
START_TEST(test_plaintext_chosen_warns_once)
{
    char data[700];

    ck_assert_int_eq(it_df_start(&P.sched, P.dir, "scheduler", "scheduler", "--plaintext",
                                 "--listen", "127.0.0.130:0", "--metrics-listen", "127.0.0.130:0",
                                 NULL),
                     0);
    snprintf(P.sched_addr, sizeof(P.sched_addr), "%s", it_proc_ready_str(&P.sched, "rpc"));
    snprintf(data, sizeof(data), "%s/p1", P.dir);
    ck_assert_int_eq(it_df_start(&P.peer, P.dir, "peer", "peer", "--tls-mode", "plaintext", "--ip",
                                 "127.0.0.131", "--rpc-port", "0", "--upload-port", "0",
                                 "--data-dir", data, "--scheduler", P.sched_addr,
                                 "--announce-interval", "1s", NULL),
                     0);
    /* a few announces later, still one warning each */
    it_sleep_ms(2500);
    ck_assert_int_eq(pl_log_count(&P.sched, "tls.mode is plaintext"), 1);
    ck_assert_int_eq(pl_log_count(&P.peer, "tls.mode is plaintext"), 1);
    ck_assert_int_eq(pl_log_count(&P.peer, "WARN"), 1);
}

END_TEST

/* A plaintext scheduler on 127.0.0.132 and a peer on 127.0.0.133 announcing every second. */
static void
pl_owner_setup(void)
{
    char data[700];

    pl_setup();
    ck_assert_int_eq(it_df_start(&P.sched, P.dir, "scheduler", "scheduler", "--listen",
                                 "127.0.0.132:0", "--metrics-listen", "127.0.0.132:0", NULL),
                     0);
    snprintf(P.sched_addr, sizeof(P.sched_addr), "%s", it_proc_ready_str(&P.sched, "rpc"));
    snprintf(data, sizeof(data), "%s/p1", P.dir);
    ck_assert_int_eq(it_df_start(&P.peer, P.dir, "peer", "peer", "--ip", "127.0.0.133",
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                 "--scheduler", P.sched_addr, "--announce-interval", "1s", NULL),
                     0);
}

/* Write the Connect envelope of one JSON message to <dir>/<name>. */
static void
pl_envelope(const char *name, const char *json)
{
    char path[700];
    uint32_t len = (uint32_t)strlen(json);
    uint8_t hdr[5] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", P.dir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(hdr, 1, 5, f), 5);
    ck_assert_uint_eq(fwrite(json, 1, len, f), len);
    fclose(f);
}

/*
 * The unary scheduler method with the JSON body json, from address from (curl --interface);
 * the answer (the reply, or the error's code and message) into *out.
 */
static void
pl_unary(const char *from, const char *method, const char *json, char **out)
{
    ck_assert_int_eq(it_shf(out, 30,
                            "curl -sS --max-time 10 --http2-prior-knowledge --interface %s "
                            "-H 'content-type: application/json' --data-binary '%s' "
                            "http://%s/" PL_SVC "%s",
                            from, json, P.sched_addr, method),
                     0);
}

/* The call from from was refused with permission_denied. */
static void
pl_expect_denied(const char *from, const char *method, const char *json)
{
    char *out = NULL;

    pl_unary(from, method, json, &out);
    ck_assert_msg(strstr(out, "permission_denied") != NULL, "%s %s from %s: %s", method, json, from,
                  out);
    free(out);
}

/* The call from from succeeded (an empty reply, or the stat asked for). */
static void
pl_expect_ok(const char *from, const char *method, const char *json)
{
    char *out = NULL;

    pl_unary(from, method, json, &out);
    ck_assert_msg(strstr(out, "\"code\"") == NULL, "%s %s from %s: %s", method, json, from, out);
    free(out);
}

/* The AnnouncePeer message that registers peer on host into buf. */
static void
pl_register_msg(char *buf, size_t len, const char *host, const char *peer)
{
    snprintf(buf, len,
             "{\"hostId\":\"%s\",\"taskId\":\"%064d\",\"peerId\":\"%s\","
             "\"registerPeerRequest\":{\"download\":{\"url\":\"http://127.0.0.136/x\"},"
             "\"contentLength\":6000000,\"pieceLength\":4194304}}",
             host, 7, peer);
}

/* An AnnouncePeer stream from from that registers peer on host and ends; the answer. */
static char *
pl_register(const char *from, const char *host, const char *peer)
{
    char msg[1024], *out = NULL;

    pl_register_msg(msg, sizeof(msg), host, peer);
    pl_envelope("register", msg);
    ck_assert_int_eq(
            it_shf(&out, 30,
                   "curl -sS --max-time 10 --http2-prior-knowledge --interface %s "
                   "-H 'content-type: application/connect+json' --data-binary @%s/register "
                   "http://%s/" PL_SVC "AnnouncePeer | tr -d '\\000-\\010'",
                   from, P.dir, P.sched_addr),
            0);
    return out;
}

static void
pl_stream_close_cb(struct rpc_client_call *c, const struct rpc_status *st, void *arg)
{
    (void)c;
    (void)st;
    *(bool *)arg = true;
}

/* Run base's loop for ms milliseconds. */
static void
pl_pump(struct event_base *base, int ms)
{
    struct timeval tv = {0, ms * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Stat<what> of id finds it. */
static bool
pl_stat_found(const char *what, const char *id)
{
    char req[256], method[32], *out = NULL;
    bool found;

    snprintf(req, sizeof(req), "{\"%sId\":\"%s\"}", what[0] == 'H' ? "host" : "peer", id);
    snprintf(method, sizeof(method), "Stat%s", what);
    pl_unary(PL_OTHER, method, req, &out);
    found = strstr(out, "\"code\"") == NULL;
    free(out);
    return found;
}

/*
 * H1 without TLS (the review's it_sec_leavehost_foreign, plaintext case): from another
 * address nobody can make the peer's host leave, announce over its id (given, or made from
 * its ip and hostname), register a peer on it, or remove a peer of a host it does not own;
 * the owners still can, and the honest peer keeps announcing.
 */
START_TEST(it_sec_leavehost_foreign_plaintext)
{
    static const struct rpc_client_stream_cbs cbs = {NULL, pl_stream_close_cb};
    const char *victim = it_proc_ready_str(&P.peer, "hostId");
    struct rpc_client_opts o;
    struct rpc_client *c = NULL;
    struct rpc_client_call *st = NULL;
    struct event_base *base;
    bool closed = false;
    char req[1024], *out;
    cJSON *msg;

    ck_assert_ptr_nonnull(victim);
    for (int i = 0; i < 300 && !pl_stat_found("Host", victim); i++)
        it_sleep_ms(100);
    ck_assert_msg(pl_stat_found("Host", victim), "the peer never announced its host");
    snprintf(req, sizeof(req), "{\"id\":\"%s\"}", victim);
    pl_expect_denied(PL_OTHER, "LeaveHost", req);
    snprintf(req, sizeof(req),
             "{\"host\":{\"id\":\"%s\",\"ip\":\"" PL_OTHER "\",\"hostname\":\"x\","
             "\"port\":9,\"downloadPort\":9}}",
             victim);
    pl_expect_denied(PL_OTHER, "AnnounceHost", req);
    /* no id: the one its ip and hostname make is the victim's */
    ck_assert_int_eq(strncmp(victim, "127.0.0.133-", 12), 0);
    snprintf(req, sizeof(req),
             "{\"host\":{\"ip\":\"127.0.0.133\",\"hostname\":\"%s\",\"port\":9,"
             "\"downloadPort\":9}}",
             victim + 12);
    pl_expect_denied(PL_OTHER, "AnnounceHost", req);
    out = pl_register(PL_OTHER, victim, "pl-intruder");
    ck_assert_msg(strstr(out, "permission_denied") != NULL, "register: %s", out);
    free(out);
    /* the host is still there, as its peer announced it */
    snprintf(req, sizeof(req), "{\"hostId\":\"%s\"}", victim);
    pl_unary(PL_OTHER, "StatHost", req, &out);
    ck_assert_msg(strstr(out, "\"ip\":\"127.0.0.133\"") != NULL, "%s", out);
    free(out);

    /* A host of PL_OWNER: 127.0.0.1 may not register on it; its owner makes it leave. */
    pl_expect_ok(PL_OWNER, "AnnounceHost",
                 "{\"host\":{\"ip\":\"127.0.0.137\",\"hostname\":\"own\",\"port\":9,"
                 "\"downloadPort\":9}}");
    out = pl_register("127.0.0.1", "127.0.0.137-own", "pl-stolen");
    ck_assert_msg(strstr(out, "permission_denied") != NULL, "register: %s", out);
    free(out);
    pl_expect_ok(PL_OWNER, "LeaveHost", "{\"id\":\"127.0.0.137-own\"}");
    /*
     * The same host announced again, now from 127.0.0.1, with a peer on a stream this process
     * keeps open (its calls go out from 127.0.0.1): PL_OTHER can remove neither; the owner can.
     */
    pl_expect_ok("127.0.0.1", "AnnounceHost",
                 "{\"host\":{\"ip\":\"127.0.0.137\",\"hostname\":\"own\",\"port\":9,"
                 "\"downloadPort\":9}}");
    memset(&o, 0, sizeof(o));
    o.addr = P.sched_addr;
    base = event_base_new();
    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &c, NULL), 0);
    ck_assert_int_eq(rpc_client_stream(c, "/" PL_SVC "AnnouncePeer", 60000, &cbs, &closed, &st), 0);
    pl_register_msg(req, sizeof(req), "127.0.0.137-own", "pl-owned");
    msg = cJSON_Parse(req);
    ck_assert_int_eq(rpc_client_send(st, msg), 0);
    cJSON_Delete(msg);
    for (int i = 0; i < 100 && !pl_stat_found("Peer", "pl-owned"); i++)
        pl_pump(base, 100);
    ck_assert_msg(pl_stat_found("Peer", "pl-owned"), "the owner's peer never registered");
    pl_expect_denied(PL_OTHER, "LeavePeer", "{\"peerId\":\"pl-owned\"}");
    pl_expect_ok(PL_OTHER, "StatPeer", "{\"peerId\":\"pl-owned\"}");
    pl_expect_denied(PL_OTHER, "LeaveHost", "{\"id\":\"127.0.0.137-own\"}");
    pl_expect_ok("127.0.0.1", "LeavePeer", "{\"peerId\":\"pl-owned\"}");
    pl_expect_ok("127.0.0.1", "LeaveHost", "{\"id\":\"127.0.0.137-own\"}");
    ck_assert(!pl_stat_found("Host", "127.0.0.137-own"));
    for (int i = 0; i < 100 && !closed; i++)
        pl_pump(base, 100);
    ck_assert(closed);
    rpc_client_free(c);
    event_base_free(base);
    /* the honest peer was never refused */
    it_sleep_ms(1500);
    ck_assert_int_eq(pl_log_count(&P.peer, "permission_denied"), 0);
}

END_TEST

/*
 * A scheduler that listens on a unix socket: its callers have no IP, and count as one
 * address, the machine's own. One of them announces a host, another changes it and makes it
 * leave; nothing is refused for want of an address.
 */
START_TEST(test_unix_callers_are_local)
{
    char listen[700], *out = NULL;
    const char *host = "{\"host\":{\"ip\":\"127.0.0.139\",\"hostname\":\"u\",\"port\":9,"
                       "\"downloadPort\":9}}";

    snprintf(listen, sizeof(listen), "unix:%s/sched.sock", P.dir);
    ck_assert_int_eq(it_df_start(&P.sched, P.dir, "scheduler", "scheduler", "--listen", listen,
                                 "--metrics-listen", "127.0.0.139:0", NULL),
                     0);
    for (int i = 0; i < 3; i++) {
        const char *method = i < 2 ? "AnnounceHost" : "LeaveHost";
        const char *body = i < 2 ? host : "{\"id\":\"127.0.0.139-u\"}";

        ck_assert_int_eq(it_shf(&out, 30,
                                "curl -sS --max-time 10 --http2-prior-knowledge --unix-socket "
                                "%s/sched.sock -H 'content-type: application/json' "
                                "--data-binary '%s' http://localhost/" PL_SVC "%s",
                                P.dir, body, method),
                         0);
        ck_assert_msg(strcmp(out, "{}") == 0, "%s: %s", method, out);
        free(out);
        out = NULL;
    }
}

END_TEST

/* ---- the peer's unix socket ---- */

/* A health check on sock as nobody (uid 65534) with the supplementary groups in groups
 * ("" for none): true when it connected and was answered. */
static bool
pl_sock_usable(const char *sock, const char *groups)
{
    char *out = NULL;
    int rc;

    rc = it_shf(&out, 30,
                "setpriv --reuid=65534 --regid=65534 %s%s curl -s --max-time 10 "
                "--http2-prior-knowledge --unix-socket %s -H 'content-type: application/json' "
                "-d '{}' http://localhost/grpc.health.v1.Health/Check",
                groups[0] != '\0' ? "--groups " : "--clear-groups", groups, sock);
    rc = rc == 0 && strstr(out, "SERVING") != NULL;
    free(out);
    return rc;
}

/* Start the peer with its socket at <dir>/pub/s.sock (a dir everyone may enter). */
static void
pl_sock_peer(char *sock, size_t len, const char *f1, const char *f2, const char *f3, const char *f4)
{
    char data[700];

    snprintf(data, sizeof(data), "%s/data", P.dir);
    snprintf(sock, len, "%s/pub/s.sock", P.dir);
    it_proc_stop(&P.peer);
    ck_assert_int_eq(it_df_start(&P.peer, P.dir, "peer", "peer", "--ip", "127.0.0.138",
                                 "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                 "--socket", sock, f1, f2, f3, f4, NULL),
                     0);
}

/*
 * socketMode and socketGroup (review §3.7): by default only the owner (root) uses the
 * socket; with a group and 0660 its members do, and nobody else; 0666 opens it to everyone;
 * a group that does not exist, a bad mode, or a shared socket in the 0700 data dir stop the
 * peer at start with one line.
 */
START_TEST(test_socket_mode_and_group)
{
    char sock[700], args[1024], gid[32], *out = NULL;

    if (geteuid() != 0 || it_shf(NULL, 10, "command -v setpriv >/dev/null") != 0) {
        fprintf(stderr, "it_plain: socket test skipped (needs root and setpriv)\n");
        return;
    }
    /* a group nobody is not in by default: users (100 on Debian) */
    ck_assert_int_eq(it_shf(&out, 10, "getent group users | cut -d: -f3"), 0);
    snprintf(gid, sizeof(gid), "%d", atoi(out));
    free(out);
    ck_assert_int_gt(atoi(gid), 0);
    ck_assert_int_eq(chmod(P.dir, 0755), 0);
    ck_assert_int_eq(it_shf(NULL, 10, "mkdir -m 755 %s/pub", P.dir), 0);

    pl_sock_peer(sock, sizeof(sock), NULL, NULL, NULL, NULL);
    ck_assert_int_eq(it_shf(NULL, 10, "test $(stat -c %%a %s) = 600", sock), 0);
    ck_assert(!pl_sock_usable(sock, ""));
    ck_assert(!pl_sock_usable(sock, gid));

    pl_sock_peer(sock, sizeof(sock), "--socket-group", "users", "--socket-mode", "0660");
    ck_assert_int_eq(it_shf(NULL, 10, "test \"$(stat -c '%%a %%G' %s)\" = '660 users'", sock), 0);
    ck_assert(pl_sock_usable(sock, gid));
    ck_assert(!pl_sock_usable(sock, ""));

    pl_sock_peer(sock, sizeof(sock), "--socket-mode", "666", NULL, NULL);
    ck_assert(pl_sock_usable(sock, ""));
    it_proc_stop(&P.peer);

    snprintf(args, sizeof(args),
             "peer --ip 127.0.0.138 --data-dir %s/data --socket %s --socket-group "
             "no-such-group-df",
             P.dir, sock);
    pl_expect_refused(args, "socketGroup: no group \"no-such-group-df\" in /etc/group");
    snprintf(args, sizeof(args), "peer --ip 127.0.0.138 --data-dir %s/data --socket-mode 0680",
             P.dir);
    pl_expect_refused(args, "socketMode: expected an octal mode like 0660");
    snprintf(args, sizeof(args),
             "peer --ip 127.0.0.138 --data-dir %s/data --socket-group users --socket-mode 0660",
             P.dir);
    pl_expect_refused(args, "is inside the data dir");
}

END_TEST

Suite *it_plain_suite(void);

Suite *
it_plain_suite(void)
{
    Suite *s = suite_create("it_plain");
    TCase *tc = tcase_create("start");

    tcase_add_checked_fixture(tc, pl_setup, pl_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_plaintext_needs_a_choice);
    tcase_add_test(tc, test_local_peer_is_exempt);
    tcase_add_test(tc, test_plaintext_chosen_warns_once);
    tcase_add_test(tc, test_socket_mode_and_group);
    tcase_add_test(tc, test_unix_callers_are_local);
    suite_add_tcase(s, tc);
    tc = tcase_create("owner");
    tcase_add_checked_fixture(tc, pl_owner_setup, pl_teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, it_sec_leavehost_foreign_plaintext);
    suite_add_tcase(s, tc);
    return s;
}
