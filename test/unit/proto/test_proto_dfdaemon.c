/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dfdaemon.v2 messages: each built with _to_json, printed, parsed and read back with
 * _from_json gives the same struct; malformed ones are refused with the field named.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "df/proto_dfdaemon.h"
#include "df/xmalloc.h"
#include "proto_test_util.h"

static void
download_eq(const struct proto_dfdaemon_download *a, const struct proto_dfdaemon_download *b)
{
    t_str_eq(a->url, b->url);
    t_str_eq(a->tag, b->tag);
    t_str_eq(a->application, b->application);
    t_str_eq(a->filtered, b->filtered);
    ck_assert_int_eq(a->has_digest, b->has_digest);
    if (a->has_digest)
        ck_assert(df_digest_is_equal(&a->digest, &b->digest));
    ck_assert_uint_eq(a->nheaders, b->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        ck_assert_str_eq(a->headers[i].name, b->headers[i].name);
        ck_assert_str_eq(a->headers[i].value, b->headers[i].value);
    }
    ck_assert_int_eq(a->output_fd, b->output_fd);
    ck_assert_int_eq(a->output_rewind, b->output_rewind);
    ck_assert_int_eq(a->insecure, b->insecure);
    ck_assert_int_eq(a->disable_back_to_source, b->disable_back_to_source);
    ck_assert_int_eq(a->need_back_to_source, b->need_back_to_source);
    ck_assert_uint_eq(a->piece_length, b->piece_length);
    ck_assert_uint_eq(a->priority, b->priority);
}

/* d -> {"download": d} -> text -> d'; d' == d. */
static void
download_roundtrip(const struct proto_dfdaemon_download *d)
{
    struct proto_dfdaemon_download back;
    struct df_error err;
    cJSON *m = cJSON_CreateObject(), *doc;

    ck_assert(proto_dfdaemon_download_to_json(m, d));
    doc = t_wire(m);
    memset(&back, 0, sizeof(back));
    ck_assert_msg(proto_dfdaemon_download_from_json(doc, &back, &err) == 0, "%s", err.msg);
    download_eq(d, &back);
    proto_dfdaemon_download_reset(&back);
    cJSON_Delete(doc);
}

START_TEST(test_download_roundtrip)
{
    struct proto_dfdaemon_download d;
    uint8_t md[DF_SHA256_LEN];

    memset(&d, 0, sizeof(d));
    d.url = xstrdup("http://127.0.0.1:1/a?b=1");
    download_roundtrip(&d);
    d.tag = xstrdup("t");
    d.application = xstrdup("app");
    d.filtered = xstrdup("b&c");
    df_sha256("abc", 3, md);
    df_digest_set_sha256(&d.digest, md);
    d.has_digest = true;
    d.nheaders = 2;
    d.headers = xcalloc(2, sizeof(*d.headers));
    d.headers[0].name = xstrdup("Authorization");
    d.headers[0].value = xstrdup("Bearer x");
    d.headers[1].name = xstrdup("X-Empty");
    d.headers[1].value = xstrdup("");
    d.output_fd = d.output_rewind = d.insecure = d.disable_back_to_source = d.need_back_to_source =
            true;
    d.piece_length = UINT32_MAX;
    d.priority = PROTO_PRIORITY_MAX;
    download_roundtrip(&d);
    d.priority = 1;
    download_roundtrip(&d);
    proto_dfdaemon_download_reset(&d);
}

END_TEST

/* The two spellings of filteredQueryParams (empty names skipped), and null members, read as
 * absent. */
START_TEST(test_download_forms)
{
    struct proto_dfdaemon_download d;
    struct df_error err;
    cJSON *doc = t_doc(
            "{\"download\":{\"url\":\"http://h/x\",\"filteredQueryParams\":[\"\",\"a\",\"\",\"b\"],"
            "\"tag\":null,\"requestHeader\":null,\"digest\":null}}");

    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(proto_dfdaemon_download_from_json(doc, &d, &err), 0);
    ck_assert_str_eq(d.filtered, "a&b");
    ck_assert_ptr_null(d.tag);
    ck_assert(!d.has_digest);
    ck_assert_uint_eq(d.priority, 0);
    proto_dfdaemon_download_reset(&d);
    cJSON_Delete(doc);
}

END_TEST

/* priority as protobuf's JSON mapping writes the enum (its name) and as a number; LEVEL0 is
 * the default, so it is left out of the wire. */
START_TEST(test_download_priority)
{
    static const struct {
        const char *value;
        uint32_t level;
    } cases[] = {{"\"LEVEL3\"", 3}, {"2", 2}, {"\"6\"", 6}, {"\"LEVEL0\"", 0}, {"null", 0}};
    struct proto_dfdaemon_download d;
    struct df_error err;
    char json[128];
    cJSON *doc, *m;

    for (size_t i = 0; i < DF_NELEM(cases); i++) {
        snprintf(json, sizeof(json), "{\"download\":{\"url\":\"http://h/x\",\"priority\":%s}}",
                 cases[i].value);
        doc = t_doc(json);
        memset(&d, 0, sizeof(d));
        ck_assert_msg(proto_dfdaemon_download_from_json(doc, &d, &err) == 0, "%s: %s", json,
                      err.msg);
        ck_assert_uint_eq(d.priority, cases[i].level);
        proto_dfdaemon_download_reset(&d);
        cJSON_Delete(doc);
    }
    memset(&d, 0, sizeof(d));
    d.url = xstrdup("http://h/x");
    d.priority = 4;
    m = cJSON_CreateObject();
    ck_assert(proto_dfdaemon_download_to_json(m, &d));
    ck_assert_str_eq(
            cJSON_GetObjectItem(cJSON_GetObjectItem(m, "download"), "priority")->valuestring,
            "LEVEL4");
    cJSON_Delete(m);
    d.priority = 0;
    m = cJSON_CreateObject();
    ck_assert(proto_dfdaemon_download_to_json(m, &d));
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "download"), "priority"));
    cJSON_Delete(m);
    proto_dfdaemon_download_reset(&d);
}

END_TEST

START_TEST(test_download_refused)
{
    static const struct {
        const char *json, *msg;
        int rv;
    } cases[] = {
            {"{}", "download: expected an object", DF_EINVAL},
            {"{\"download\":[]}", "download: expected an object", DF_EINVAL},
            {"{\"download\":{\"outputFd\":true}}", "download.url: required", DF_EINVAL},
            {"{\"download\":{\"url\":\"\"}}", "download.url: required", DF_EINVAL},
            {"{\"download\":{\"url\":7}}", "download.url: expected string", DF_EINVAL},
            {"{\"download\":{\"url\":\"ftp://h/x\"}}", "download.url: ", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://[::1/x\"}}", "download.url: ", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\\r\\n\"}}", "download.url: bad value", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"outputPath\":\"/tmp/x\"}}",
             "download.outputPath: not accepted", DF_EPERM},
            {"{\"download\":{\"url\":\"http://h/x\",\"outputPath\":null}}", "download.outputPath",
             DF_EPERM},
            {"{\"download\":{\"url\":\"http://h/x\",\"outputFd\":\"yes\"}}",
             "download.outputFd: expected bool", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"tag\":\"a\\nb\"}}", "download.tag",
             DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"digest\":\"md5:00\"}}", "sha256", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"requestHeader\":{\"Bad Name\":\"v\"}}}",
             "download.requestHeader: bad header 'Bad Name'", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"requestHeader\":{\"X\":\"a\\r\\nI: 1\"}}}",
             "bad header", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"requestHeader\":{\"X\":1}}}", "bad header",
             DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"requestHeader\":[]}}",
             "download.requestHeader: expected an object", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"filteredQueryParams\":[\"a&b\"]}}",
             "download.filteredQueryParams: expected names", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"filteredQueryParams\":[\"a\\r\"]}}",
             "download.filteredQueryParams: expected names", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"filteredQueryParams\":7}}",
             "download.filteredQueryParams: expected array of strings", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"insecure\":1}}", "download.insecure",
             DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"pieceLength\":4294967296}}",
             "download.pieceLength: at most 4294967295", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"pieceLength\":-1}}",
             "download.pieceLength: expected an unsigned integer", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"priority\":7}}",
             "download.priority: at most 6", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"priority\":\"LEVEL7\"}}",
             "download.priority: expected LEVEL0 to LEVEL6", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"priority\":\"high\"}}",
             "download.priority: expected an unsigned integer", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"priority\":-1}}",
             "download.priority: expected an unsigned integer", DF_EINVAL},
            {"{\"download\":{\"url\":\"http://h/x\",\"priority\":true}}", "download.priority",
             DF_EINVAL},
    };
    struct proto_dfdaemon_download d;
    struct df_error err;

    for (size_t i = 0; i < DF_NELEM(cases); i++) {
        cJSON *doc = t_doc(cases[i].json);

        memset(&d, 0, sizeof(d));
        memset(&err, 0, sizeof(err));
        ck_assert_msg(proto_dfdaemon_download_from_json(doc, &d, &err) == cases[i].rv,
                      "case %zu: %s", i, cases[i].json);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        ck_assert_ptr_null(d.url);
        cJSON_Delete(doc);
    }
}

END_TEST

/* More headers than PROTO_DOWNLOAD_HEADERS_MAX and over-long strings are refused. */
START_TEST(test_download_bounds)
{
    cJSON *doc = t_doc("{\"download\":{\"url\":\"http://h/x\"}}"), *h;
    cJSON *dl = cJSON_GetObjectItem(doc, "download");
    struct proto_dfdaemon_download d;
    struct df_error err;
    char name[16], *big = xcalloc(1, PROTO_DOWNLOAD_STR_MAX + 2);

    h = cJSON_AddObjectToObject(dl, "requestHeader");
    for (int i = 0; i <= PROTO_DOWNLOAD_HEADERS_MAX; i++) {
        snprintf(name, sizeof(name), "X-%d", i);
        cJSON_AddStringToObject(h, name, "v");
    }
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(proto_dfdaemon_download_from_json(doc, &d, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "download.requestHeader: more than 64 headers"));
    cJSON_DeleteItemFromObject(dl, "requestHeader");
    memset(big, 'a', PROTO_DOWNLOAD_STR_MAX + 1);
    cJSON_AddStringToObject(dl, "application", big);
    ck_assert_int_eq(proto_dfdaemon_download_from_json(doc, &d, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "download.application: bad value"));
    free(big);
    cJSON_Delete(doc);
}

END_TEST

static void
resp_roundtrip(const struct proto_dfdaemon_download_resp *r)
{
    struct proto_dfdaemon_download_resp back;
    struct df_error err;
    cJSON *doc = t_wire(proto_dfdaemon_download_resp_to_json(r));

    memset(&back, 0, sizeof(back));
    ck_assert_msg(proto_dfdaemon_download_resp_from_json(doc, &back, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(back.host_id, r->host_id);
    ck_assert_str_eq(back.task_id, r->task_id);
    ck_assert_int_eq(back.kind, r->kind);
    ck_assert_int_eq(back.has_content_length, r->has_content_length);
    ck_assert_uint_eq(back.content_length, r->content_length);
    ck_assert_uint_eq(back.piece_length, r->piece_length);
    ck_assert_uint_eq(back.piece_count, r->piece_count);
    ck_assert_uint_eq(back.finished_pieces, r->finished_pieces);
    ck_assert_uint_eq(back.finished_bytes, r->finished_bytes);
    ck_assert_uint_eq(back.bytes_from_source, r->bytes_from_source);
    ck_assert_int_eq(back.has_output_bytes, r->has_output_bytes);
    ck_assert_uint_eq(back.output_bytes, r->output_bytes);
    ck_assert_uint_eq(back.nfrom, r->nfrom);
    for (size_t i = 0; i < r->nfrom; i++) {
        ck_assert_str_eq(back.from[i].peer_id, r->from[i].peer_id);
        ck_assert_str_eq(back.from[i].ip, r->from[i].ip);
        ck_assert_int_eq(back.from[i].is_seed, r->from[i].is_seed);
        ck_assert_uint_eq(back.from[i].bytes, r->from[i].bytes);
    }
    proto_dfdaemon_download_resp_reset(&back);
    cJSON_Delete(doc);
}

/* Reset r to a fresh answer of kind. */
static void
resp_init(struct proto_dfdaemon_download_resp *r, enum proto_dfdaemon_download_resp_kind kind)
{
    char task[65];

    t_task(task, 'a');
    proto_dfdaemon_download_resp_reset(r);
    r->host_id = xstrdup("h");
    r->task_id = xstrdup(task);
    r->kind = kind;
}

START_TEST(test_download_resp_roundtrip)
{
    struct proto_dfdaemon_download_resp r;

    memset(&r, 0, sizeof(r));
    resp_init(&r, PROTO_DOWNLOAD_STARTED);
    r.piece_length = 4u << 20;
    r.piece_count = 3;
    r.finished_pieces = 1;
    resp_roundtrip(&r);
    r.has_content_length = true;
    r.content_length = (UINT64_C(1) << 53) + 1; /* a decimal string on the wire */
    resp_roundtrip(&r);
    resp_init(&r, PROTO_DOWNLOAD_PROGRESS);
    r.finished_bytes = 12345;
    r.finished_pieces = 2;
    resp_roundtrip(&r);
    resp_init(&r, PROTO_DOWNLOAD_FINISHED);
    r.has_content_length = true;
    r.content_length = 10;
    r.piece_count = 1;
    r.bytes_from_source = 7;
    r.nfrom = 2;
    r.from = xcalloc(2, sizeof(*r.from));
    r.from[0] = (struct proto_dfdaemon_download_from){xstrdup("p1"), xstrdup("127.0.0.1"), true,
                                                      UINT64_C(1) << 60};
    r.from[1] = (struct proto_dfdaemon_download_from){xstrdup("p2"), xstrdup("::1"), false, 5};
    r.has_output_bytes = true;
    r.output_bytes = 10;
    resp_roundtrip(&r);
    proto_dfdaemon_download_resp_reset(&r);
}

END_TEST

START_TEST(test_download_resp_refused)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
            {"{\"taskId\":\"T\",\"downloadProgressResponse\":{}}", "hostId: required"},
            {"{\"hostId\":\"h\",\"taskId\":\"x\",\"downloadProgressResponse\":{}}",
             "taskId: expected 64 lowercase hex"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\"}", "expected exactly one answer kind, got 0"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"downloadProgressResponse\":{},"
             "\"downloadTaskStartedResponse\":{}}",
             "got 2"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"downloadProgressResponse\":1}",
             "downloadProgressResponse: expected an object"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"downloadProgressResponse\":"
             "{\"finishedBytes\":\"x\"}}",
             "downloadProgressResponse.finishedBytes: expected an unsigned integer"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"downloadTaskFinishedResponse\":"
             "{\"bytesFromPeers\":[{\"ip\":\"1.2.3.4\",\"bytes\":-1}]}}",
             "downloadTaskFinishedResponse.bytesFromPeers[].bytes: expected an unsigned integer"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"downloadTaskFinishedResponse\":"
             "{\"bytesFromPeers\":{}}}",
             "downloadTaskFinishedResponse.bytesFromPeers: expected an array"},
    };
    struct proto_dfdaemon_download_resp r;
    struct df_error err;
    char task[65], json[512], *t;

    t_task(task, 'b');
    for (size_t i = 0; i < DF_NELEM(cases); i++) {
        cJSON *doc;

        /* "T" stands for a valid task id. */
        snprintf(json, sizeof(json), "%s", cases[i].json);
        if ((t = strstr(json, "\"T\"")) != NULL) {
            char rest[512];

            snprintf(rest, sizeof(rest), "%s", t + 3);
            snprintf(t, sizeof(json) - (size_t)(t - json), "\"%s\"%s", task, rest);
        }
        doc = t_doc(json);
        memset(&r, 0, sizeof(r));
        ck_assert_msg(proto_dfdaemon_download_resp_from_json(doc, &r, &err) == DF_EINVAL,
                      "case %zu", i);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        ck_assert_ptr_null(r.host_id);
        cJSON_Delete(doc);
    }
}

END_TEST

START_TEST(test_task_ref)
{
    struct proto_dfdaemon_task_ref r, back;
    struct df_error err;
    cJSON *doc;

    t_task(r.task_id, 'c');
    doc = t_wire(proto_dfdaemon_task_ref_to_json(&r));
    ck_assert_int_eq(proto_dfdaemon_task_ref_from_json(doc, &back, &err), 0);
    ck_assert_str_eq(back.task_id, r.task_id);
    cJSON_Delete(doc);
    doc = t_doc("{\"taskId\":\"ABC\"}");
    ck_assert_int_eq(proto_dfdaemon_task_ref_from_json(doc, &back, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "taskId: expected 64 lowercase hex");
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_sync_piece)
{
    struct proto_dfdaemon_sync_piece p = {7, (UINT64_C(1) << 62), 4u << 20, true}, back;
    struct df_error err;
    cJSON *doc;

    for (int i = 0; i < 2; i++) {
        p.receiving = i == 0;
        doc = t_wire(proto_dfdaemon_sync_piece_to_json(&p));
        memset(&back, 0, sizeof(back));
        ck_assert_int_eq(proto_dfdaemon_sync_piece_from_json(doc, &back, &err), 0);
        ck_assert_uint_eq(back.number, p.number);
        ck_assert_uint_eq(back.offset, p.offset);
        ck_assert_uint_eq(back.length, p.length);
        ck_assert_int_eq(back.receiving, p.receiving);
        cJSON_Delete(doc);
    }
    doc = t_doc("{\"offset\":0}");
    ck_assert_int_eq(proto_dfdaemon_sync_piece_from_json(doc, &back, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "number: required");
    cJSON_Delete(doc);
    doc = t_doc("{\"number\":4294967296}");
    ck_assert_int_eq(proto_dfdaemon_sync_piece_from_json(doc, &back, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "number: at most 4294967295");
    cJSON_Delete(doc);
    doc = t_doc("{\"number\":1,\"receiving\":\"yes\"}");
    ck_assert_int_eq(proto_dfdaemon_sync_piece_from_json(doc, &back, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "receiving: expected bool");
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_stat_task)
{
    struct proto_dfdaemon_task t = {.id = xstrdup("tid"),
                                    .state = xstrdup("RUNNING"),
                                    .content_length = UINT64_MAX,
                                    .piece_length = 4u << 20,
                                    .piece_count = 2,
                                    .has_finished_pieces = true,
                                    .finished_pieces = 1,
                                    .has_bytes_from_source = true,
                                    .bytes_from_source = 7},
                               b;
    struct df_error err;
    cJSON *doc;

    for (int i = 0; i < 2; i++) {
        doc = t_wire(proto_dfdaemon_task_to_json(&t));
        memset(&b, 0, sizeof(b));
        ck_assert_msg(proto_dfdaemon_task_from_json(doc, &b, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(b.id, t.id);
        ck_assert_str_eq(b.state, t.state);
        ck_assert_uint_eq(b.content_length, t.content_length);
        ck_assert_uint_eq(b.piece_length, t.piece_length);
        ck_assert_uint_eq(b.piece_count, t.piece_count);
        ck_assert_int_eq(b.has_finished_pieces, t.has_finished_pieces);
        ck_assert_uint_eq(b.finished_pieces, t.finished_pieces);
        ck_assert_int_eq(b.has_bytes_from_source, t.has_bytes_from_source);
        ck_assert_uint_eq(b.bytes_from_source, t.bytes_from_source);
        ck_assert_int_eq(b.has_finished_bytes, t.has_finished_bytes);
        ck_assert_uint_eq(b.finished_bytes, t.finished_bytes);
        proto_dfdaemon_task_reset(&b);
        cJSON_Delete(doc);
        /* The cached form. */
        t.has_finished_pieces = t.has_bytes_from_source = false;
        t.finished_pieces = t.bytes_from_source = 0;
        t.has_finished_bytes = true;
        t.finished_bytes = 5;
    }
    doc = t_doc("{\"id\":\"x\",\"finishedBytes\":true}");
    ck_assert_int_eq(proto_dfdaemon_task_from_json(doc, &b, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "finishedBytes: expected an unsigned integer");
    cJSON_Delete(doc);
    proto_dfdaemon_task_reset(&t);
}

END_TEST

Suite *test_proto_dfdaemon_suite(void);

Suite *
test_proto_dfdaemon_suite(void)
{
    Suite *s = suite_create("proto_dfdaemon");
    TCase *tc = tcase_create("messages");

    tcase_add_test(tc, test_download_roundtrip);
    tcase_add_test(tc, test_download_forms);
    tcase_add_test(tc, test_download_priority);
    tcase_add_test(tc, test_download_refused);
    tcase_add_test(tc, test_download_bounds);
    tcase_add_test(tc, test_download_resp_roundtrip);
    tcase_add_test(tc, test_download_resp_refused);
    tcase_add_test(tc, test_task_ref);
    tcase_add_test(tc, test_sync_piece);
    tcase_add_test(tc, test_stat_task);
    suite_add_tcase(s, tc);
    return s;
}
