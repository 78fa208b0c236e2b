/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/proto_mgr.h"
#include "proto_test_util.h"

/* UpdateScheduler through the wire: features, the config as base64 JSON, the cluster id. */
START_TEST(test_update_scheduler_round_trip)
{
    char *features[] = {(char[]){"schedule"}, (char[]){"preheat"}};
    struct proto_mgr_req in = {.source = PROTO_MGR_SCHEDULER_SOURCE,
                               .hostname = (char[]){"sched-1"},
                               .ip = (char[]){"127.0.1.2"},
                               .idc = (char[]){"idc1"},
                               .port = 8002,
                               .cluster_id = 2,
                               .features = features,
                               .nfeatures = 2,
                               .config = (char[]){"{\"manager_keep_alive_interval\":5000000000}"}},
                         out;
    struct df_error err;
    cJSON *doc = t_wire(proto_mgr_req_to_json(&in, PROTO_MGR_REQ_UPDATE_SCHEDULER));

    ck_assert_str_eq(cJSON_GetObjectItem(doc, "sourceType")->valuestring, "SCHEDULER_SOURCE");
    /* bytes are base64 on the wire */
    ck_assert_ptr_null(strchr(cJSON_GetObjectItem(doc, "config")->valuestring, '{'));
    ck_assert_msg(proto_mgr_req_from_json(doc, PROTO_MGR_REQ_UPDATE_SCHEDULER, &out, &err) == 0,
                  "%s", err.msg);
    ck_assert_str_eq(out.hostname, "sched-1");
    ck_assert_str_eq(out.ip, "127.0.1.2");
    ck_assert_str_eq(out.idc, "idc1");
    ck_assert_int_eq(out.port, 8002);
    ck_assert_int_eq(out.cluster_id, 2);
    ck_assert_uint_eq(out.nfeatures, 2);
    ck_assert_str_eq(out.features[1], "preheat");
    ck_assert_str_eq(out.config, in.config);
    proto_mgr_req_reset(&out);
    cJSON_Delete(doc);
}

END_TEST

/* What each kind requires, and bad values, refused with the field's name. */
START_TEST(test_requests_refused)
{
    static const struct {
        enum proto_mgr_req_kind kind;
        const char *json, *want;
    } cases[] = {
            {PROTO_MGR_REQ_UPDATE_SCHEDULER,
             "{\"ip\":\"1.2.3.4\",\"port\":1,\"schedulerClusterId\":1}", "hostname: required"},
            {PROTO_MGR_REQ_UPDATE_SCHEDULER, "{\"hostname\":\"h\",\"ip\":\"1.2.3.4\",\"port\":1}",
             "schedulerClusterId: at least 1"},
            {PROTO_MGR_REQ_UPDATE_SCHEDULER,
             "{\"hostname\":\"h\",\"ip\":\"1.2.3.4\",\"port\":70000,\"schedulerClusterId\":1}",
             "port: at most 65535"},
            {PROTO_MGR_REQ_UPDATE_SCHEDULER,
             "{\"hostname\":\"h\",\"ip\":\"1.2.3.4\",\"port\":1,\"schedulerClusterId\":1,"
             "\"config\":\"bm90IGpzb24=\"}",
             "config: expected JSON in base64"},
            {PROTO_MGR_REQ_UPDATE_SEED_PEER,
             "{\"hostname\":\"h\",\"ip\":\"1.2.3.4\",\"port\":1,\"seedPeerClusterId\":1,"
             "\"type\":\"weak\"}",
             "type: expected super"},
            {PROTO_MGR_REQ_KEEPALIVE, "{\"hostname\":\"h\",\"sourceType\":\"NOPE\"}",
             "sourceType: expected"},
            {PROTO_MGR_REQ_KEEPALIVE, "{\"hostname\":\"h\"}", "clusterId: at least 1"},
            {PROTO_MGR_REQ_LIST_SCHEDULERS, "{\"hostname\":\"h\"}", "ip: required"},
            {PROTO_MGR_REQ_LIST_SCHEDULERS, "{\"hostname\":\"h\\nx\",\"ip\":\"1.2.3.4\"}",
             "hostname: bad value"},
            {PROTO_MGR_REQ_LIST_APPLICATIONS, "{\"hostname\":\"h\"}", "ip: required"},
            {PROTO_MGR_REQ_LIST_APPLICATIONS, "{\"ip\":\"1.2.3.4\"}", "hostname: required"},
    };
    struct proto_mgr_req out;
    struct df_error err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *doc = t_doc(cases[i].json);

        ck_assert_int_eq(proto_mgr_req_from_json(doc, cases[i].kind, &out, &err), DF_EINVAL);
        ck_assert_msg(strstr(err.msg, cases[i].want) != NULL, "%zu: %s", i, err.msg);
        cJSON_Delete(doc);
    }
    /* KeepAlive with the enum as its number, no ip */
    {
        cJSON *doc = t_doc("{\"hostname\":\"h\",\"sourceType\":2,\"clusterId\":\"3\"}");

        ck_assert_int_eq(proto_mgr_req_from_json(doc, PROTO_MGR_REQ_KEEPALIVE, &out, &err), 0);
        ck_assert_int_eq(out.source, PROTO_MGR_SEED_PEER_SOURCE);
        ck_assert_int_eq(out.cluster_id, 3);
        ck_assert_ptr_null(out.ip);
        proto_mgr_req_reset(&out);
        cJSON_Delete(doc);
    }
}

END_TEST

/* ListSchedulersResponse: schedulers with their cluster (configs as JSON) and seed peers. */
START_TEST(test_schedulers_round_trip)
{
    struct proto_mgr_seed_peer seed = {.id = 4,
                                       .hostname = (char[]){"seed-1"},
                                       .type = (char[]){"super"},
                                       .ip = (char[]){"127.0.1.4"},
                                       .port = 65000,
                                       .download_port = 65002,
                                       .state = (char[]){"active"},
                                       .cluster_id = 1};
    struct proto_mgr_scheduler s = {
            .id = 7,
            .hostname = (char[]){"sched-1"},
            .ip = (char[]){"127.0.1.2"},
            .port = 8002,
            .state = (char[]){"active"},
            .cluster_id = 2,
            .has_cluster = true,
            .cluster = {.id = 2,
                        .name = (char[]){"cluster-2"},
                        .config = (char[]){"{\"candidate_parent_limit\":4}"},
                        .client_config = (char[]){"{\"load_limit\":50}"},
                        .scopes = (char[]){"{}"}},
            .seed_peers = &seed,
            .nseed_peers = 1,
            .features = (char[]){"[\"schedule\"]"}};
    cJSON *items = cJSON_CreateArray(), *doc;
    struct proto_mgr_scheduler *v = NULL;
    struct df_error err;
    size_t n = 0;

    cJSON_AddItemToArray(items, proto_mgr_scheduler_to_json(&s));
    doc = t_wire(proto_mgr_schedulers_to_json(items));
    ck_assert_msg(proto_mgr_schedulers_from_json(doc, &v, &n, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].hostname, "sched-1");
    ck_assert_int_eq(v[0].port, 8002);
    ck_assert_int_eq(v[0].cluster_id, 2);
    ck_assert(v[0].has_cluster);
    ck_assert_str_eq(v[0].cluster.name, "cluster-2");
    ck_assert_str_eq(v[0].cluster.config, "{\"candidate_parent_limit\":4}");
    ck_assert_str_eq(v[0].cluster.client_config, "{\"load_limit\":50}");
    ck_assert_ptr_null(v[0].cluster.seed_client_config);
    ck_assert_uint_eq(v[0].nseed_peers, 1);
    ck_assert_str_eq(v[0].seed_peers[0].hostname, "seed-1");
    ck_assert_int_eq(v[0].seed_peers[0].download_port, 65002);
    ck_assert_str_eq(v[0].features, "[\"schedule\"]");
    proto_mgr_schedulers_free(v, n);
    cJSON_Delete(doc);
    /* a bad item names its place */
    doc = t_doc("{\"schedulers\":[{\"hostname\":\"a\",\"ip\":\"1.2.3.4\",\"port\":1},"
                "{\"hostname\":\"b\",\"ip\":\"1.2.3.4\"}]}");
    ck_assert_int_eq(proto_mgr_schedulers_from_json(doc, &v, &n, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "schedulers[1].port: required");
    cJSON_Delete(doc);
}

END_TEST

/* ListApplications: the request names no cluster; the answer's levels by name or number. */
START_TEST(test_applications_round_trip)
{
    struct proto_mgr_url_priority urls[] = {{(char[]){"^https://a/"}, 12},
                                            {(char[]){"^https://b/"}, 0}};
    struct proto_mgr_app app = {.id = 7,
                                .name = (char[]){"app-1"},
                                .url = (char[]){"https://example.com"},
                                .bio = (char[]){"b"},
                                .priority = 6,
                                .urls = urls,
                                .nurls = 2};
    struct proto_mgr_apps in = {&app, 1}, out;
    struct proto_mgr_req req = {.source = PROTO_MGR_SCHEDULER_SOURCE,
                                .hostname = (char[]){"s"},
                                .ip = (char[]){"1.2.3.4"},
                                .cluster_id = 3},
                         rout;
    struct df_error err;
    cJSON *doc = t_wire(proto_mgr_req_to_json(&req, PROTO_MGR_REQ_LIST_APPLICATIONS));
    const cJSON *pri;

    ck_assert_ptr_null(cJSON_GetObjectItem(doc, "schedulerClusterId"));
    ck_assert_int_eq(proto_mgr_req_from_json(doc, PROTO_MGR_REQ_LIST_APPLICATIONS, &rout, &err), 0);
    ck_assert_str_eq(rout.hostname, "s");
    ck_assert_str_eq(rout.ip, "1.2.3.4");
    proto_mgr_req_reset(&rout);
    cJSON_Delete(doc);
    doc = t_wire(proto_mgr_apps_to_json(&in));
    pri = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "applications"), 0),
                              "priority");
    ck_assert_str_eq(cJSON_GetObjectItem(pri, "value")->valuestring, "LEVEL6");
    ck_assert_int_eq(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pri, "urls"), 0), "value")
                    ->valueint,
            12);
    ck_assert_msg(proto_mgr_apps_from_json(doc, &out, &err) == 0, "%s", err.msg);
    cJSON_Delete(doc);
    ck_assert_uint_eq(out.n, 1);
    ck_assert_uint_eq(out.v[0].id, 7);
    ck_assert_str_eq(out.v[0].name, "app-1");
    ck_assert_str_eq(out.v[0].url, "https://example.com");
    ck_assert_str_eq(out.v[0].bio, "b");
    ck_assert_uint_eq(out.v[0].priority, 6);
    ck_assert_uint_eq(out.v[0].nurls, 2);
    ck_assert_str_eq(out.v[0].urls[0].regex, "^https://a/");
    ck_assert_uint_eq(out.v[0].urls[0].value, 12);
    ck_assert_uint_eq(out.v[0].urls[1].value, 0);
    proto_mgr_apps_reset(&out);
    /* upstream's Go client: ids as strings, LEVEL0 left out, no urls */
    doc = t_doc("{\"applications\":[{\"id\":\"9\",\"name\":\"n\",\"priority\":{}}]}");
    ck_assert_int_eq(proto_mgr_apps_from_json(doc, &out, &err), 0);
    ck_assert_uint_eq(out.v[0].id, 9);
    ck_assert_uint_eq(out.v[0].priority, 0);
    ck_assert_uint_eq(out.v[0].nurls, 0);
    proto_mgr_apps_reset(&out);
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_applications_refused)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
            {"[]", "expected an object"},
            {"{\"applications\":{}}", "applications: expected an array"},
            {"{\"applications\":[1]}", "applications[0]: expected an object"},
            {"{\"applications\":[{\"id\":1}]}", "applications[0].name: required"},
            {"{\"applications\":[{\"name\":\"n\",\"priority\":{\"value\":\"LEVEL9\"}}]}",
             "applications[0].priority.value: expected LEVEL0 to LEVEL6"},
            {"{\"applications\":[{\"name\":\"n\",\"priority\":{\"value\":21}}]}",
             "applications[0].priority.value: at most 20"},
            {"{\"applications\":[{\"name\":\"n\",\"priority\":{\"urls\":[{\"value\":1}]}}]}",
             "applications[0].priority.urls[0].regex: required"},
            {"{\"applications\":[{\"name\":\"n\",\"priority\":{\"urls\":[3]}}]}",
             "applications[0].priority.urls[0]: expected an object"},
            {"{\"applications\":[{\"name\":\"n\",\"priority\":7}]}",
             "applications[0].priority: expected an object"},
    };
    struct proto_mgr_apps out;
    struct df_error err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *doc = t_doc(cases[i].json);

        ck_assert_int_eq(proto_mgr_apps_from_json(doc, &out, &err), DF_EINVAL);
        ck_assert_msg(strstr(err.msg, cases[i].want) != NULL, "%zu: %s", i, err.msg);
        cJSON_Delete(doc);
    }
}

END_TEST

Suite *test_proto_mgr_suite(void);

Suite *
test_proto_mgr_suite(void)
{
    Suite *s = suite_create("proto_mgr");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_update_scheduler_round_trip);
    tcase_add_test(tc, test_requests_refused);
    tcase_add_test(tc, test_schedulers_round_trip);
    tcase_add_test(tc, test_applications_round_trip);
    tcase_add_test(tc, test_applications_refused);
    suite_add_tcase(s, tc);
    return s;
}
