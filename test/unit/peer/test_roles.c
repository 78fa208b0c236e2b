/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The roles as components (df/roles.h): a scheduler, a seed and a peer live on one
 * event_base in one process, each with its own listeners and data dir; a second peer on a
 * data dir in use is refused; the peers' stops finish on the shared loop (LeaveHost reaches
 * the scheduler) and call their done callbacks once, and everything frees cleanly.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <event2/event.h>

#include "df/df_work.h"
#include "df/roles.h"
#include "../unit_tmp.h"

struct roles_stop {
    struct event_base *base;
    int done; /* done callbacks run */
};

static void
roles_done(void *arg)
{
    struct roles_stop *s = arg;

    if (++s->done == 2)
        event_base_loopexit(s->base, NULL);
}

static void
roles_sched_done(void *arg)
{
    int *n = arg;

    (*n)++;
}

static void
roles_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* A peer (seed when seed) on base with its data dir under dir/name, registered at sched. */
static struct peer_config *
roles_peer_config(const char *dir, const char *name, bool seed, const char *sched)
{
    char data[600];
    const char *argv[] = {seed ? "seed" : "peer",
                          "--plaintext",
                          "--ip",
                          "127.0.0.1",
                          "--rpc-port",
                          "0",
                          "--upload-port",
                          "0",
                          "--proxy-listen",
                          "0",
                          "--metrics-port",
                          "0",
                          "--data-dir",
                          data,
                          "--scheduler",
                          sched,
                          NULL};
    struct peer_config *cfg;
    struct df_error err;

    snprintf(data, sizeof(data), "%s/%s", dir, name);
    cfg = peer_config_new(seed, (int)(sizeof(argv) / sizeof(argv[0])) - 1, (char **)(uintptr_t)argv,
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    return cfg;
}

START_TEST(test_roles_share_one_loop)
{
    const char *sargv[] = {"scheduler",        "--plaintext", "--listen", "127.0.0.1:0",
                           "--metrics-listen", "127.0.0.1:0", NULL};
    struct roles_stop stop;
    struct sched_main_config *scfg;
    struct peer_config *seed_cfg, *peer_cfg, *dup_cfg;
    struct sched *sched;
    struct peer *seed, *peer;
    struct event *watchdog;
    struct timeval limit = {60, 0};
    struct df_error err;
    cJSON *sd = cJSON_CreateObject(), *pd = cJSON_CreateObject(), *schd = cJSON_CreateObject();
    char dir[64], sched_addr[64];
    int sched_done = 0;

    df_work_init();
    unit_tmp_make(dir, sizeof(dir), "roles");
    memset(&stop, 0, sizeof(stop));
    stop.base = event_base_new();
    ck_assert_ptr_nonnull(stop.base);
    scfg = sched_config_new(6, (char **)(uintptr_t)sargv, &err);
    ck_assert_msg(scfg != NULL, "%s", err.msg);
    sched = sched_new(stop.base, scfg, &err);
    ck_assert_msg(sched != NULL, "%s", err.msg);
    sched_addrs(sched, schd);
    snprintf(sched_addr, sizeof(sched_addr), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(schd, "rpc")));

    seed_cfg = roles_peer_config(dir, "seed", true, sched_addr);
    peer_cfg = roles_peer_config(dir, "peer", false, sched_addr);
    dup_cfg = roles_peer_config(dir, "peer", false, sched_addr);
    seed = peer_new(stop.base, seed_cfg, &err);
    ck_assert_msg(seed != NULL, "%s", err.msg);
    peer = peer_new(stop.base, peer_cfg, &err);
    ck_assert_msg(peer != NULL, "%s", err.msg);
    /* one data dir, one peer: also within one process */
    ck_assert_ptr_null(peer_new(stop.base, dup_cfg, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "in use by another peer"));

    /* their own listeners and ids */
    peer_addrs(seed, sd);
    peer_addrs(peer, pd);
    ck_assert_str_ne(cJSON_GetStringValue(cJSON_GetObjectItem(sd, "rpc")),
                     cJSON_GetStringValue(cJSON_GetObjectItem(pd, "rpc")));
    ck_assert_str_ne(cJSON_GetStringValue(cJSON_GetObjectItem(sd, "upload")),
                     cJSON_GetStringValue(cJSON_GetObjectItem(pd, "upload")));
    ck_assert_str_ne(cJSON_GetStringValue(cJSON_GetObjectItem(sd, "hostId")),
                     cJSON_GetStringValue(cJSON_GetObjectItem(pd, "hostId")));

    /* both stops finish on the shared loop; the scheduler's may finish at once */
    peer_stop(peer, roles_done, &stop);
    peer_stop(seed, roles_done, &stop);
    watchdog = evtimer_new(stop.base, roles_watchdog, stop.base);
    evtimer_add(watchdog, &limit);
    if (stop.done < 2)
        event_base_dispatch(stop.base);
    ck_assert_int_eq(stop.done, 2);
    sched_stop(sched, roles_sched_done, &sched_done);
    event_base_loop(stop.base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(sched_done, 1);
    /* a stop after the stop: done at once */
    peer_stop(peer, roles_done, &stop);
    ck_assert_int_eq(stop.done, 3);

    event_free(watchdog);
    peer_free(peer);
    peer_free(seed);
    sched_free(sched);
    peer_config_free(dup_cfg);
    peer_config_free(peer_cfg);
    peer_config_free(seed_cfg);
    sched_config_free(scfg);
    cJSON_Delete(sd);
    cJSON_Delete(pd);
    cJSON_Delete(schd);
    event_base_free(stop.base);
    unit_tmp_remove(dir);
}

END_TEST

/* Bad flags are an error with a message, not a half-made config. */
START_TEST(test_roles_bad_config)
{
    const char *sargv[] = {"scheduler", "--max-parents", "0", NULL};
    const char *pargv[] = {"peer", "--socket-mode", "0999", NULL};
    const char *hargv[] = {"peer", "--help", NULL};
    struct df_error err;

    ck_assert_ptr_null(sched_config_new(3, (char **)(uintptr_t)sargv, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "max"));
    ck_assert_ptr_null(peer_config_new(false, 3, (char **)(uintptr_t)pargv, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "socketMode"));
    ck_assert_ptr_null(peer_config_new(false, 2, (char **)(uintptr_t)hargv, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "--help"));
}

END_TEST

Suite *test_roles_suite(void);

Suite *
test_roles_suite(void)
{
    Suite *s = suite_create("roles");
    TCase *tc = tcase_create("components");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roles_share_one_loop);
    tcase_add_test(tc, test_roles_bad_config);
    suite_add_tcase(s, tc);
    return s;
}
