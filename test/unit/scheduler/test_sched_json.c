/* SPDX-License-Identifier: Apache-2.0 */
/* StatTask / StatPeer / host JSON: field names, types and timestamps. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "sched_test_util.h"
#include "../../../src/scheduler/sched_json.h"

START_TEST(test_stat_views)
{
    struct sched_config cfg;
    struct sched_state *st;
    struct sched_actions acts = {0};
    struct sched_task_stat ts;
    struct sched_peer_stat ps;
    struct sched_host_stat hs;
    char task[65], *txt;
    cJSON *o;
    int64_t now = 1767323045678LL;

    sched_config_default(&cfg);
    st = sched_state_new(&cfg);
    t_task_id(task, 9);
    t_host(st, "h1", SCHED_HOST_NORMAL, 0, now);
    t_host(st, "h2", SCHED_HOST_NORMAL, 0, now);
    ck_assert_int_eq(
            t_register(st, "p1", "h1", task, (int64_t)(40 * T_MIB), 4 * T_MIB, false, now, &acts),
            0);
    ck_assert_int_eq(
            t_register(st, "p2", "h2", task, (int64_t)(40 * T_MIB), 4 * T_MIB, false, now, &acts),
            0);

    ck_assert_int_eq(sched_state_task_stat(st, task, &ts), 0);
    o = sched_json_task_new(&ts);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "id")->valuestring, task);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "state")->valuestring, "Running");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "sizeScope")->valuestring, "NORMAL");
    ck_assert(cJSON_GetObjectItem(o, "contentLength")->valuedouble == 40.0 * 1048576);
    ck_assert(cJSON_GetObjectItem(o, "pieceLength")->valuedouble == 4.0 * 1048576);
    ck_assert(cJSON_GetObjectItem(o, "pieceCount")->valuedouble == 10);
    ck_assert(cJSON_GetObjectItem(o, "peerCount")->valuedouble == 2);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "hasAvailablePeer")));
    ck_assert_str_eq(cJSON_GetObjectItem(o, "createdAt")->valuestring, "2026-01-02T03:04:05.678Z");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "url")->valuestring, "http://origin.example/blob");
    ck_assert_ptr_null(cJSON_GetObjectItem(o, "tag"));
    cJSON_Delete(o);

    ck_assert_int_eq(sched_state_peer_stat(st, "p2", &ps), 0);
    o = sched_json_peer_new(&ps);
    ck_assert_ptr_nonnull(o);
    /* Given a parent, a normal download counts as running (sched_eval.c, step 2b). */
    ck_assert_str_eq(cJSON_GetObjectItem(o, "state")->valuestring, "Running");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "taskId")->valuestring, task);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "hostId")->valuestring, "h2");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "parents")), 1);
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "parents"), 0)->valuestring, "p1");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "cost")->valuestring, "0.000s");
    txt = cJSON_PrintUnformatted(o);
    ck_assert_ptr_nonnull(strstr(txt, "\"finishedPieceCount\":0"));
    free(txt);
    cJSON_Delete(o);

    ck_assert_int_eq(sched_state_host_stat(st, "h1", &hs), 0);
    o = sched_json_host_new(&hs);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "type")->valuestring, "normal");
    ck_assert(cJSON_GetObjectItem(o, "load")->valuedouble == 1);
    ck_assert(cJSON_GetObjectItem(o, "uploadSlots")->valuedouble == 200);
    cJSON_Delete(o);

    sched_actions_reset(&acts);
    sched_state_free(st);
}

END_TEST

Suite *test_sched_json_suite(void);

Suite *
test_sched_json_suite(void)
{
    Suite *s = suite_create("sched_json");
    TCase *tc = tcase_create("json");

    tcase_add_test(tc, test_stat_views);
    suite_add_tcase(s, tc);
    return s;
}
