/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plaintext only by choice (issue 9 §3, review H1 and §3.7), on 127.0.0.13x: a scheduler, and
 * a peer that has a scheduler or listens beyond loopback, refuse to start without a
 * certificate unless plaintext is chosen (one line naming the key and flag, exit 2), while a
 * peer nobody else reaches starts as before; a daemon running plaintext by choice warns once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

#define PL_HINT "tls.mode: plaintext (--plaintext)"

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
    suite_add_tcase(s, tc);
    return s;
}
