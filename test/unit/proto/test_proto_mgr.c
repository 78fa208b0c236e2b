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
            /* {"a":<NUL> 1}: a NUL would cut the config when it is sent on */
            {PROTO_MGR_REQ_UPDATE_SCHEDULER,
             "{\"hostname\":\"h\",\"ip\":\"1.2.3.4\",\"port\":1,\"schedulerClusterId\":1,"
             "\"config\":\"eyJhIjoAIDF9\"}",
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
            {PROTO_MGR_REQ_GET_SEED_PEER, "{\"hostname\":\"h\"}", "seedPeerClusterId: at least 1"},
            {PROTO_MGR_REQ_GET_SEED_PEER, "{\"hostname\":\"h\",\"seedPeerClusterId\":0}",
             "seedPeerClusterId: at least 1"},
            {PROTO_MGR_REQ_GET_SEED_PEER, "{\"seedPeerClusterId\":1}", "hostname: required"},
            {PROTO_MGR_REQ_GET_SEED_PEER,
             "{\"hostname\":\"h\",\"seedPeerClusterId\":\"9223372036854775808\"}",
             "seedPeerClusterId: at most"},
            {PROTO_MGR_REQ_LIST_SEED_PEERS, "{\"hostname\":\"h\"}", "ip: required"},
            {PROTO_MGR_REQ_LIST_SEED_PEERS, "{\"hostname\":\"h\",\"ip\":\"1.2.3.4\",\"version\":7}",
             "version: "},
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

/* GetSeedPeer and ListSeedPeers requests: the fields each carries, through the wire. */
START_TEST(test_seed_peer_requests)
{
    struct proto_mgr_req in = {.source = PROTO_MGR_SEED_PEER_SOURCE,
                               .hostname = (char[]){"seed-1"},
                               .ip = (char[]){"127.0.49.3"},
                               .version = (char[]){"0.9.0"},
                               .commit = (char[]){"abc123"},
                               .cluster_id = 5},
                         out;
    struct df_error err;
    cJSON *doc = t_wire(proto_mgr_req_to_json(&in, PROTO_MGR_REQ_GET_SEED_PEER));

    ck_assert_str_eq(cJSON_GetObjectItem(doc, "sourceType")->valuestring, "SEED_PEER_SOURCE");
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "seedPeerClusterId")->valueint, 5);
    ck_assert_msg(proto_mgr_req_from_json(doc, PROTO_MGR_REQ_GET_SEED_PEER, &out, &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(out.hostname, "seed-1");
    ck_assert_str_eq(out.ip, "127.0.49.3");
    ck_assert_int_eq(out.cluster_id, 5);
    proto_mgr_req_reset(&out);
    cJSON_Delete(doc);
    /* ListSeedPeers names no cluster: the caller's own row does */
    doc = t_wire(proto_mgr_req_to_json(&in, PROTO_MGR_REQ_LIST_SEED_PEERS));
    ck_assert_ptr_null(cJSON_GetObjectItem(doc, "seedPeerClusterId"));
    ck_assert_msg(proto_mgr_req_from_json(doc, PROTO_MGR_REQ_LIST_SEED_PEERS, &out, &err) == 0,
                  "%s", err.msg);
    ck_assert_str_eq(out.version, "0.9.0");
    ck_assert_str_eq(out.commit, "abc123");
    ck_assert_int_eq(out.cluster_id, 0);
    proto_mgr_req_reset(&out);
    cJSON_Delete(doc);
}

END_TEST

/* GetSeedPeer's answer: the seed-peer cluster and the schedulers; ListSeedPeers' list. */
START_TEST(test_seed_peer_round_trip)
{
    struct proto_mgr_scheduler sched = {.id = 3,
                                        .hostname = (char[]){"sched-1"},
                                        .ip = (char[]){"127.0.49.2"},
                                        .port = 8002,
                                        .state = (char[]){"active"},
                                        .cluster_id = 1};
    struct proto_mgr_seed_peer p = {.id = 4,
                                    .hostname = (char[]){"seed-1"},
                                    .type = (char[]){"super"},
                                    .idc = (char[]){"idc-a"},
                                    .ip = (char[]){"127.0.49.3"},
                                    .port = 65000,
                                    .download_port = 65002,
                                    .state = (char[]){"active"},
                                    .cluster_id = 1,
                                    .has_cluster = true,
                                    .cluster = {.id = 1,
                                                .name = (char[]){"cluster-1"},
                                                .bio = (char[]){""},
                                                .config = (char[]){"{\"load_limit\":2000}"}},
                                    .schedulers = &sched,
                                    .nschedulers = 1},
                               out, *v = NULL;
    cJSON *doc = t_wire(proto_mgr_seed_peer_to_json(&p)), *items;
    struct df_error err;
    size_t n = 0;

    /* the cluster's config is base64 JSON on the wire, as every `bytes` member */
    ck_assert_ptr_null(strchr(
            cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "seedPeerCluster"), "config")->valuestring,
            '{'));
    ck_assert_msg(proto_mgr_seed_peer_from_json(doc, &out, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(out.hostname, "seed-1");
    ck_assert_str_eq(out.idc, "idc-a");
    ck_assert_int_eq(out.download_port, 65002);
    ck_assert(out.has_cluster);
    ck_assert_str_eq(out.cluster.name, "cluster-1");
    ck_assert_str_eq(out.cluster.config, "{\"load_limit\":2000}");
    ck_assert_ptr_null(out.cluster.client_config);
    ck_assert_uint_eq(out.nschedulers, 1);
    ck_assert_str_eq(out.schedulers[0].hostname, "sched-1");
    ck_assert_int_eq(out.schedulers[0].port, 8002);
    proto_mgr_seed_peer_reset(&out);
    cJSON_Delete(doc);
    /* a list: the same items under seedPeers; a seed peer of a list has no schedulers member */
    p.has_cluster = false;
    p.nschedulers = 0;
    items = cJSON_CreateArray();
    cJSON_AddItemToArray(items, proto_mgr_seed_peer_to_json(&p));
    doc = t_wire(proto_mgr_seed_peers_to_json(items));
    ck_assert_ptr_null(cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "seedPeers"), 0), "schedulers"));
    ck_assert_msg(proto_mgr_seed_peers_from_json(doc, &v, &n, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].ip, "127.0.49.3");
    ck_assert(!v[0].has_cluster);
    proto_mgr_seed_peers_free(v, n);
    cJSON_Delete(doc);
}

END_TEST

/* Bounds of the answers: a bad item names its path; nesting stops at two levels. */
START_TEST(test_seed_peer_refused)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
            {"{\"seedPeers\":[{\"hostname\":\"a\",\"ip\":\"1.2.3.4\",\"port\":1},"
             "{\"hostname\":\"b\",\"ip\":\"1.2.3.4\",\"port\":70000}]}",
             "seedPeers[1].port: at most 65535"},
            {"{\"seedPeers\":[{\"hostname\":\"a\",\"ip\":\"1.2.3.4\",\"port\":1,"
             "\"seedPeerCluster\":{\"id\":1,\"config\":\"e30\"}}]}",
             "seedPeers[0].seedPeerCluster.config: expected base64"},
            {"{\"seedPeers\":[{\"hostname\":\"a\",\"ip\":\"1.2.3.4\",\"port\":1,"
             "\"schedulers\":[{\"hostname\":\"s\",\"ip\":\"1.2.3.4\"}]}]}",
             "seedPeers[0].schedulers[0].port: required"},
            /* a seed peer's scheduler's seed peers: deeper than the manager ever writes */
            {"{\"seedPeers\":[{\"hostname\":\"a\",\"ip\":\"1.2.3.4\",\"port\":1,"
             "\"schedulers\":[{\"hostname\":\"s\",\"ip\":\"1.2.3.4\",\"port\":2,"
             "\"seedPeers\":[{}]}]}]}",
             "seedPeers[0].schedulers[0].seedPeers: nested too deep"},
            {"{\"seedPeers\":{}}", "seedPeers: "},
    };
    struct proto_mgr_seed_peer *v = NULL, one;
    struct df_error err;
    size_t n = 7;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *doc = t_doc(cases[i].json);

        ck_assert_int_eq(proto_mgr_seed_peers_from_json(doc, &v, &n, &err), DF_EINVAL);
        ck_assert_msg(strstr(err.msg, cases[i].want) != NULL, "%zu: %s", i, err.msg);
        ck_assert_uint_eq(n, 0);
        cJSON_Delete(doc);
    }
    /* the same bound from a Scheduler: its seed peers' schedulers */
    {
        cJSON *doc = t_doc("{\"hostname\":\"s\",\"ip\":\"1.2.3.4\",\"port\":2,\"seedPeers\":"
                           "[{\"hostname\":\"a\",\"ip\":\"1.2.3.4\",\"port\":1,"
                           "\"schedulers\":[{}]}]}");
        struct proto_mgr_scheduler s;

        ck_assert_int_eq(proto_mgr_scheduler_from_json(doc, &s, &err), DF_EINVAL);
        ck_assert_str_eq(err.msg, "seedPeers[0].schedulers: nested too deep");
        cJSON_Delete(doc);
    }
    /* an empty nested list is no nesting: GetSeedPeer's schedulers carry "seedPeers": [] */
    {
        cJSON *doc = t_doc("{\"hostname\":\"a\",\"ip\":\"1.2.3.4\",\"port\":1,\"schedulers\":"
                           "[{\"hostname\":\"s\",\"ip\":\"1.2.3.4\",\"port\":2,"
                           "\"seedPeers\":[]}]}");

        ck_assert_msg(proto_mgr_seed_peer_from_json(doc, &one, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(one.nschedulers, 1);
        proto_mgr_seed_peer_reset(&one);
        cJSON_Delete(doc);
    }
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
    tcase_add_test(tc, test_seed_peer_requests);
    tcase_add_test(tc, test_seed_peer_round_trip);
    tcase_add_test(tc, test_seed_peer_refused);
    tcase_add_test(tc, test_applications_round_trip);
    tcase_add_test(tc, test_applications_refused);
    suite_add_tcase(s, tc);
    return s;
}
