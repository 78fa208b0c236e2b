/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scheduler.v2 messages: each built with _to_json, printed, parsed and read back with
 * _from_json gives the same struct; malformed ones are refused with the field named.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "df/proto_sched.h"
#include "df/xmalloc.h"
#include "proto_test_util.h"

/* json with every "T" replaced by a valid task id, parsed. */
static cJSON *
t_doc_task(const char *json)
{
    char task[65], out[2048];
    size_t n = 0;

    t_task(task, 'e');
    for (const char *p = json; *p != '\0' && n + 65 < sizeof(out); p++) {
        if (strncmp(p, "\"T\"", 3) == 0) {
            n += (size_t)snprintf(out + n, sizeof(out) - n, "\"%s\"", task);
            p += 2;
        } else
            out[n++] = *p;
    }
    out[n] = '\0';
    return t_doc(out);
}

START_TEST(test_announce_host)
{
    struct proto_sched_announce_host a, back;
    struct df_error err;
    cJSON *doc;

    memset(&a, 0, sizeof(a));
    a.host.id = xstrdup("hid");
    a.host.type = PROTO_HOST_SEED;
    a.host.hostname = xstrdup("node-1");
    a.host.ip = xstrdup("127.0.0.1");
    a.host.idc = xstrdup("idc");
    a.host.location = xstrdup("a|b");
    a.host.port = 65000;
    a.host.download_port = 65002;
    a.host.upload_rate_limit = UINT64_MAX;
    a.host.upload_slots = 64;
    a.host.concurrent_uploads = 3;
    a.interval = 30000;
    doc = t_wire(proto_sched_announce_host_to_json(&a));
    memset(&back, 0, sizeof(back));
    ck_assert_msg(proto_sched_announce_host_from_json(doc, &back, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(back.host.id, "hid");
    ck_assert_int_eq(back.host.type, PROTO_HOST_SEED);
    ck_assert_str_eq(back.host.hostname, "node-1");
    ck_assert_str_eq(back.host.ip, "127.0.0.1");
    ck_assert_str_eq(back.host.idc, "idc");
    ck_assert_str_eq(back.host.location, "a|b");
    ck_assert_uint_eq(back.host.port, 65000);
    ck_assert_uint_eq(back.host.download_port, 65002);
    ck_assert_uint_eq(back.host.upload_rate_limit, UINT64_MAX);
    ck_assert_uint_eq(back.host.upload_slots, 64);
    ck_assert_uint_eq(back.host.concurrent_uploads, 3);
    ck_assert_uint_eq(back.interval, 30000);
    proto_sched_announce_host_reset(&back);
    proto_sched_announce_host_reset(&a);
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_announce_host_refused)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
            {"{}", "host: expected an object"},
            {"{\"host\":{\"hostname\":\"n\"}}", "host.ip: required"},
            {"{\"host\":{\"ip\":\"1.2.3.4\"}}", "host.hostname: required"},
            {"{\"host\":{\"ip\":\"1.2.3.4\",\"hostname\":\"n\",\"type\":\"big\"}}",
             "host.type: expected normal or super"},
            {"{\"host\":{\"ip\":\"1.2.3.4\",\"hostname\":\"n\",\"port\":65536}}",
             "host.port: at most 65535"},
            {"{\"host\":{\"ip\":\"1.2.3.4\",\"hostname\":\"n\",\"downloadPort\":\"x\"}}",
             "host.downloadPort: expected an unsigned integer"},
            {"{\"host\":{\"ip\":\"1.2.3.4\",\"hostname\":\"n\",\"uploadSlots\":4294967296}}",
             "host.uploadSlots: at most"},
            {"{\"host\":{\"ip\":\"1.2.3.4\",\"hostname\":7}}", "host.hostname: expected string"},
    };
    struct proto_sched_announce_host a;
    struct df_error err;

    for (size_t i = 0; i < DF_NELEM(cases); i++) {
        cJSON *doc = t_doc(cases[i].json);

        memset(&a, 0, sizeof(a));
        ck_assert_msg(proto_sched_announce_host_from_json(doc, &a, &err) == DF_EINVAL, "case %zu",
                      i);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        ck_assert_ptr_null(a.host.ip);
        cJSON_Delete(doc);
    }
    /* The older type names read as a seed. */
    {
        cJSON *doc =
                t_doc("{\"host\":{\"ip\":\"1.2.3.4\",\"hostname\":\"n\",\"type\":\"strong\"}}");

        ck_assert_int_eq(proto_sched_announce_host_from_json(doc, &a, &err), 0);
        ck_assert_int_eq(a.host.type, PROTO_HOST_SEED);
        proto_sched_announce_host_reset(&a);
        cJSON_Delete(doc);
    }
}

END_TEST

START_TEST(test_sched_ref)
{
    static const char *const keys[] = {"id", "taskId", "peerId", "hostId", "peerId"};
    struct proto_sched_ref r = {NULL}, back = {NULL};
    struct df_error err;
    cJSON *doc;

    for (int k = PROTO_SCHED_REF_LEAVE_HOST; k <= PROTO_SCHED_REF_LEAVE_PEER; k++) {
        r.id = xstrdup("some-id");
        doc = t_wire(proto_sched_ref_to_json(&r, (enum proto_sched_ref_kind)k));
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(doc, keys[k]));
        ck_assert_int_eq(proto_sched_ref_from_json(doc, (enum proto_sched_ref_kind)k, &back, &err),
                         0);
        ck_assert_str_eq(back.id, "some-id");
        proto_sched_ref_reset(&back);
        proto_sched_ref_reset(&r);
        cJSON_Delete(doc);
        doc = t_doc("{\"other\":\"x\"}");
        ck_assert_int_eq(proto_sched_ref_from_json(doc, (enum proto_sched_ref_kind)k, &back, &err),
                         DF_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, keys[k]));
        ck_assert_ptr_nonnull(strstr(err.msg, ": required"));
        cJSON_Delete(doc);
    }
}

END_TEST

static void
piece_eq(const struct proto_sched_piece *a, const struct proto_sched_piece *b)
{
    ck_assert_uint_eq(a->number, b->number);
    ck_assert_uint_eq(a->offset, b->offset);
    ck_assert_uint_eq(a->length, b->length);
    ck_assert_int_eq(a->cost, b->cost);
    t_str_eq(a->parent_id, b->parent_id);
    ck_assert_int_eq(a->has_digest, b->has_digest);
    if (a->has_digest)
        ck_assert(df_digest_is_equal(&a->digest, &b->digest));
    ck_assert_int_eq(a->has_content, b->has_content);
    ck_assert_uint_eq(a->content_len, b->content_len);
    ck_assert_mem_eq(a->content, b->content, a->content_len);
}

static void
peer_req_eq(const struct proto_sched_peer_req *a, const struct proto_sched_peer_req *b)
{
    ck_assert_str_eq(a->host_id, b->host_id);
    ck_assert_str_eq(a->task_id, b->task_id);
    ck_assert_str_eq(a->peer_id, b->peer_id);
    ck_assert_int_eq(a->kind, b->kind);
    t_str_eq(a->download.url, b->download.url);
    t_str_eq(a->download.tag, b->download.tag);
    ck_assert_int_eq(a->download.need_back_to_source, b->download.need_back_to_source);
    ck_assert_int_eq(a->content_length, b->content_length);
    ck_assert_uint_eq(a->piece_length, b->piece_length);
    ck_assert_int_eq(a->has_piece_count, b->has_piece_count);
    ck_assert_uint_eq(a->piece_count, b->piece_count);
    piece_eq(&a->piece, &b->piece);
    ck_assert_uint_eq(a->piece_number, b->piece_number);
    t_str_eq(a->parent_id, b->parent_id);
    ck_assert_int_eq(a->temporary, b->temporary);
    ck_assert_uint_eq(a->ncandidate_parents, b->ncandidate_parents);
    for (size_t i = 0; i < a->ncandidate_parents; i++)
        ck_assert_str_eq(a->candidate_parents[i], b->candidate_parents[i]);
    t_str_eq(a->description, b->description);
}

static void
peer_req_roundtrip(const struct proto_sched_peer_req *r)
{
    struct proto_sched_peer_req back;
    struct df_error err;
    cJSON *doc = t_wire(proto_sched_peer_req_to_json(r));

    memset(&back, 0, sizeof(back));
    ck_assert_msg(proto_sched_peer_req_from_json(doc, &back, &err) == 0, "%s: %s",
                  proto_sched_peer_req_kind_name(r->kind), err.msg);
    peer_req_eq(r, &back);
    proto_sched_peer_req_reset(&back);
    cJSON_Delete(doc);
}

/* Reset r to a fresh request of kind. */
static void
peer_req_init(struct proto_sched_peer_req *r, enum proto_sched_peer_req_kind kind)
{
    char task[65];

    t_task(task, 'e');
    proto_sched_peer_req_reset(r);
    r->host_id = xstrdup("host-1");
    r->task_id = xstrdup(task);
    r->peer_id = xstrdup("peer-1");
    r->kind = kind;
    r->content_length = -1;
}

START_TEST(test_peer_req_roundtrip)
{
    struct proto_sched_peer_req r;
    uint8_t md[DF_SHA256_LEN];

    memset(&r, 0, sizeof(r));
    df_sha256("piece", 5, md);
    for (int k = 0; k < PROTO_PEER_REQ_KINDS; k++) {
        /* The least each kind may carry; register and pieces have required fields, below. */
        if (k == PROTO_PEER_REGISTER || k == PROTO_PEER_PIECE_FINISHED ||
            k == PROTO_PEER_BTS_PIECE_FINISHED)
            continue;
        peer_req_init(&r, (enum proto_sched_peer_req_kind)k);
        peer_req_roundtrip(&r);
    }
    peer_req_init(&r, PROTO_PEER_REGISTER);
    r.download.url = xstrdup("https://origin/x");
    r.download.tag = xstrdup("t");
    r.download.need_back_to_source = true;
    r.content_length = INT64_MAX;
    r.piece_length = 4u << 20;
    peer_req_roundtrip(&r);
    peer_req_init(&r, PROTO_PEER_BTS_STARTED);
    r.content_length = 0;
    r.piece_length = 1;
    peer_req_roundtrip(&r);
    peer_req_init(&r, PROTO_PEER_RESCHEDULE);
    r.ncandidate_parents = 2;
    r.candidate_parents = xcalloc(2, sizeof(char *));
    r.candidate_parents[0] = xstrdup("p-a");
    r.candidate_parents[1] = xstrdup("p-b");
    r.description = xstrdup("two failed");
    peer_req_roundtrip(&r);
    peer_req_init(&r, PROTO_PEER_PIECE_FINISHED);
    r.piece = (struct proto_sched_piece){.number = UINT32_MAX,
                                         .offset = INT64_MAX,
                                         .length = 7,
                                         .cost = 12,
                                         .parent_id = xstrdup("p-a"),
                                         .has_digest = true};
    df_digest_set_sha256(&r.piece.digest, md);
    peer_req_roundtrip(&r);
    peer_req_init(&r, PROTO_PEER_BTS_PIECE_FINISHED);
    r.piece = (struct proto_sched_piece){
            .number = 0, .length = 5, .has_digest = true, .has_content = true, .content_len = 5};
    df_digest_set_sha256(&r.piece.digest, md);
    memcpy(r.piece.content, "piece", 5);
    peer_req_roundtrip(&r);
    memset(r.piece.content, 0xff, PROTO_TINY_MAX);
    r.piece.content_len = PROTO_TINY_MAX;
    peer_req_roundtrip(&r);
    peer_req_init(&r, PROTO_PEER_PIECE_FAILED);
    r.piece_number = 9;
    r.parent_id = xstrdup("p-b");
    r.temporary = true;
    peer_req_roundtrip(&r);
    peer_req_init(&r, PROTO_PEER_BTS_FINISHED);
    r.content_length = (int64_t)(UINT64_C(1) << 60);
    r.has_piece_count = true;
    r.piece_count = 3;
    peer_req_roundtrip(&r);
    peer_req_init(&r, PROTO_PEER_FAILED);
    r.description = xstrdup("origin said 404");
    peer_req_roundtrip(&r);
    proto_sched_peer_req_reset(&r);
}

END_TEST

START_TEST(test_peer_req_refused)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
            {"[]", "expected an object"},
            {"{\"taskId\":\"T\",\"peerId\":\"p\",\"downloadPeerStartedRequest\":{}}",
             "hostId: required"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"\","
             "\"downloadPeerStartedRequest\":{}}",
             "peerId: required"},
            {"{\"hostId\":\"h\",\"taskId\":\"abc\",\"peerId\":\"p\","
             "\"downloadPeerStartedRequest\":{}}",
             "taskId: expected 64 lowercase hex digits"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\"}",
             "expected exactly one request kind, got 0"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"fooRequest\":{}}",
             "unknown message kind \"fooRequest\""},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPeerStartedRequest\":{},\"downloadPeerFailedRequest\":{}}",
             "expected exactly one request kind, got 2"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPeerStartedRequest\":true}",
             "downloadPeerStartedRequest: expected an object"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"registerPeerRequest\":{}}",
             "download: expected an object"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"registerPeerRequest\":"
             "{\"download\":{}}}",
             "download.url: required"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"registerPeerRequest\":"
             "{\"download\":{\"url\":\"http://h/x\"},\"contentLength\":\"9223372036854775808\"}}",
             "contentLength: at most 9223372036854775807"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceFinishedRequest\":{}}",
             "piece: expected an object"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceFinishedRequest\":{\"piece\":{\"parentId\":\"x\"}}}",
             "piece.number: required"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceFinishedRequest\":{\"piece\":{\"number\":1}}}",
             "piece.parentId: required"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceFinishedRequest\":{\"piece\":{\"number\":1.5,\"parentId\":\"x\"}}}",
             "piece.number: expected an unsigned integer"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceBackToSourceFinishedRequest\":{\"piece\":{\"number\":1}}}",
             "piece.digest: required from the source"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceBackToSourceFinishedRequest\":{\"piece\":{\"number\":1,"
             "\"digest\":\"sha256:00\"}}}",
             "piece.digest:"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceBackToSourceFinishedRequest\":{\"piece\":{\"number\":1,\"digest\":"
             "\"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","
             "\"content\":\"!!!\"}}}",
             "piece.content: expected base64 of at most 128 bytes"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"downloadPieceFailedRequest\":{\"parentId\":\"x\"}}",
             "pieceNumber: required"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"reschedulePeerRequest\":{\"candidateParents\":{}}}",
             "candidateParents: expected an array"},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\","
             "\"reschedulePeerRequest\":{\"candidateParents\":[{\"ip\":\"x\"}]}}",
             "candidateParents[].id: required"},
    };
    struct proto_sched_peer_req r;
    struct df_error err;

    for (size_t i = 0; i < DF_NELEM(cases); i++) {
        cJSON *doc = t_doc_task(cases[i].json);

        memset(&r, 0, sizeof(r));
        memset(&err, 0, sizeof(err));
        ck_assert_msg(proto_sched_peer_req_from_json(doc, &r, &err) == DF_EINVAL, "case %zu", i);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        ck_assert_ptr_null(r.host_id);
        cJSON_Delete(doc);
    }
}

END_TEST

/* Content over PROTO_TINY_MAX bytes is refused, and a long peer id too. */
START_TEST(test_peer_req_bounds)
{
    struct proto_sched_peer_req r;
    struct df_error err;
    uint8_t md[DF_SHA256_LEN];
    char *id = xcalloc(1, PROTO_ID_MAX + 2);
    cJSON *m, *pc;

    memset(&r, 0, sizeof(r));
    peer_req_init(&r, PROTO_PEER_BTS_PIECE_FINISHED);
    df_sha256("x", 1, md);
    r.piece.has_digest = true;
    df_digest_set_sha256(&r.piece.digest, md);
    m = proto_sched_peer_req_to_json(&r);
    pc = cJSON_GetObjectItem(cJSON_GetObjectItem(m, proto_sched_peer_req_kind_name(r.kind)),
                             "piece");
    /* 129 bytes of base64 'A's decode to more than 128 bytes. */
    memset(id, 'A', 4 * 44);
    id[4 * 44] = '\0';
    cJSON_AddStringToObject(pc, "content", id);
    proto_sched_peer_req_reset(&r);
    ck_assert_int_eq(proto_sched_peer_req_from_json(m, &r, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "piece.content: expected base64 of at most 128"));
    cJSON_Delete(m);
    memset(id, 'p', PROTO_ID_MAX + 1);
    id[PROTO_ID_MAX + 1] = '\0';
    peer_req_init(&r, PROTO_PEER_STARTED);
    free(r.peer_id);
    r.peer_id = id;
    m = proto_sched_peer_req_to_json(&r);
    proto_sched_peer_req_reset(&r);
    ck_assert_int_eq(proto_sched_peer_req_from_json(m, &r, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "peerId: bad value"));
    cJSON_Delete(m);
}

END_TEST

static void
peer_resp_roundtrip(const struct proto_sched_peer_resp *r)
{
    struct proto_sched_peer_resp b;
    struct df_error err;
    cJSON *doc = t_wire(proto_sched_peer_resp_to_json(r));

    memset(&b, 0, sizeof(b));
    ck_assert_int_eq(proto_sched_peer_resp_kind_of(doc), r->kind);
    ck_assert_msg(proto_sched_peer_resp_from_json(doc, &b, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(b.host_id, r->host_id);
    ck_assert_str_eq(b.task_id, r->task_id);
    ck_assert_str_eq(b.peer_id, r->peer_id);
    ck_assert_int_eq(b.kind, r->kind);
    ck_assert_int_eq(b.has_geometry, r->has_geometry);
    ck_assert_uint_eq(b.content_length, r->content_length);
    ck_assert_uint_eq(b.piece_length, r->piece_length);
    ck_assert_uint_eq(b.piece_count, r->piece_count);
    ck_assert_uint_eq(b.nparents, r->nparents);
    for (size_t i = 0; i < r->nparents; i++) {
        ck_assert_str_eq(b.parents[i].id, r->parents[i].id);
        t_str_eq(b.parents[i].host_id, r->parents[i].host_id);
        ck_assert_str_eq(b.parents[i].ip, r->parents[i].ip);
        ck_assert_uint_eq(b.parents[i].port, r->parents[i].port);
        ck_assert_uint_eq(b.parents[i].download_port, r->parents[i].download_port);
        ck_assert_int_eq(b.parents[i].is_seed, r->parents[i].is_seed);
    }
    ck_assert_uint_eq(b.content_len, r->content_len);
    ck_assert_mem_eq(b.content, r->content, r->content_len);
    if (r->kind == PROTO_PEER_RESP_TINY)
        ck_assert(df_digest_is_equal(&b.digest, &r->digest));
    t_str_eq(b.description, r->description);
    ck_assert_uint_eq(b.npieces, r->npieces);
    for (size_t i = 0; i < r->npieces; i++) {
        ck_assert_uint_eq(b.pieces[i].number, r->pieces[i].number);
        ck_assert_uint_eq(b.pieces[i].offset, r->pieces[i].offset);
        ck_assert_uint_eq(b.pieces[i].length, r->pieces[i].length);
        ck_assert(df_digest_is_equal(&b.pieces[i].digest, &r->pieces[i].digest));
    }
    proto_sched_peer_resp_reset(&b);
    cJSON_Delete(doc);
}

static void
peer_resp_init(struct proto_sched_peer_resp *r, enum proto_sched_peer_resp_kind kind)
{
    char task[65];

    t_task(task, 'f');
    proto_sched_peer_resp_reset(r);
    r->host_id = xstrdup("host-1");
    r->task_id = xstrdup(task);
    r->peer_id = xstrdup("peer-1");
    r->kind = kind;
}

START_TEST(test_peer_resp_roundtrip)
{
    struct proto_sched_peer_resp r;
    uint8_t md[DF_SHA256_LEN];

    memset(&r, 0, sizeof(r));
    df_sha256("tiny", 4, md);
    for (int k = 0; k < PROTO_PEER_RESP_KINDS; k++) {
        peer_resp_init(&r, (enum proto_sched_peer_resp_kind)k);
        df_digest_set_sha256(&r.digest, md);
        peer_resp_roundtrip(&r);
    }
    peer_resp_init(&r, PROTO_PEER_RESP_TINY);
    memcpy(r.content, "tiny", 4);
    r.content_len = 4;
    df_digest_set_sha256(&r.digest, md);
    peer_resp_roundtrip(&r);
    peer_resp_init(&r, PROTO_PEER_RESP_BACK_TO_SOURCE);
    r.description = xstrdup("no parent");
    peer_resp_roundtrip(&r);
    peer_resp_init(&r, PROTO_PEER_RESP_NORMAL);
    r.nparents = 2;
    r.parents = xcalloc(2, sizeof(*r.parents));
    r.parents[0] = (struct proto_sched_parent){xstrdup("p-a"), xstrdup("h-a"), xstrdup("127.0.0.2"),
                                               65000,          65002,          true};
    r.parents[1] = (struct proto_sched_parent){xstrdup("p-b"), NULL, xstrdup("::1"), 1, 2, false};
    r.has_geometry = true;
    r.content_length = (UINT64_C(1) << 53) + 3;
    r.piece_length = 4u << 20;
    r.piece_count = 1u << 20;
    peer_resp_roundtrip(&r);
    peer_resp_init(&r, PROTO_PEER_RESP_DIGESTS);
    r.has_geometry = true;
    r.content_length = 9;
    r.piece_length = 4;
    r.npieces = 3;
    r.pieces = xcalloc(3, sizeof(*r.pieces));
    for (uint32_t i = 0; i < 3; i++) {
        r.pieces[i].number = i;
        r.pieces[i].offset = 4 * i;
        r.pieces[i].length = i < 2 ? 4 : 1;
        df_digest_set_sha256(&r.pieces[i].digest, md);
    }
    peer_resp_roundtrip(&r);
    proto_sched_peer_resp_reset(&r);
}

END_TEST

START_TEST(test_peer_resp_refused)
{
    static const struct {
        const char *json, *msg;
        enum proto_sched_peer_resp_kind kind; /* what kind_of still reads */
    } cases[] = {
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\"}",
             "expected exactly one answer kind, got 0", PROTO_PEER_RESP_KINDS},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"tinyTaskResponse\":{}}",
             "digest: required", PROTO_PEER_RESP_TINY},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"tinyTaskResponse\":"
             "{\"content\":\"!!\",\"digest\":\"sha256:"
             "0000000000000000000000000000000000000000000000000000000000000000\"}}",
             "content: expected base64", PROTO_PEER_RESP_TINY},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"tinyTaskResponse\":{},"
             "\"emptyTaskResponse\":{}}",
             "expected exactly one answer kind, got 2", PROTO_PEER_RESP_KINDS},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"normalTaskResponse\":"
             "{\"candidateParents\":[{\"id\":\"a\",\"ip\":\"x\",\"port\":70000}]}}",
             "candidateParents[].port: at most 65535", PROTO_PEER_RESP_NORMAL},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"normalTaskResponse\":"
             "{\"candidateParents\":[{\"id\":\"a\"}]}}",
             "candidateParents[].ip: required", PROTO_PEER_RESP_NORMAL},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"pieceDigestsResponse\":"
             "{\"pieces\":[{\"number\":1}]}}",
             "pieces[].digest: required", PROTO_PEER_RESP_DIGESTS},
            {"{\"hostId\":\"h\",\"taskId\":\"T\",\"peerId\":\"p\",\"pieceDigestsResponse\":"
             "{\"pieces\":[7]}}",
             "pieces[]: expected an object", PROTO_PEER_RESP_DIGESTS},
    };
    struct proto_sched_peer_resp r;
    struct df_error err;

    for (size_t i = 0; i < DF_NELEM(cases); i++) {
        cJSON *doc = t_doc_task(cases[i].json);

        memset(&r, 0, sizeof(r));
        ck_assert_msg(proto_sched_peer_resp_kind_of(doc) == cases[i].kind, "case %zu kind", i);
        ck_assert_msg(proto_sched_peer_resp_from_json(doc, &r, &err) == DF_EINVAL, "case %zu", i);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        ck_assert_ptr_null(r.host_id);
        cJSON_Delete(doc);
    }
}

END_TEST

START_TEST(test_stat_task)
{
    struct proto_sched_task t = {
            .id = xstrdup("tid"),
            .url = xstrdup("http://origin/x"),
            .application = xstrdup("app"),
            .state = xstrdup("Running"),
            .size_scope = xstrdup("NORMAL"),
            .has_content_length = true,
            .content_length = INT64_MAX,
            .piece_length = 4u << 20,
            .piece_count = 10,
            .digest_count = 9,
            .peer_count = 2,
            .back_to_source_peer_count = 1,
            .has_available_peer = true,
            .created_at = 1767323045678LL,
            .updated_at = 1767323045999LL,
    };
    struct proto_sched_task b;
    struct df_error err;
    cJSON *doc = t_wire(proto_sched_task_to_json(&t));

    ck_assert_str_eq(cJSON_GetObjectItem(doc, "type")->valuestring, "STANDARD");
    memset(&b, 0, sizeof(b));
    ck_assert_msg(proto_sched_task_from_json(doc, &b, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(b.id, t.id);
    ck_assert_str_eq(b.url, t.url);
    ck_assert_ptr_null(b.tag);
    ck_assert_str_eq(b.application, t.application);
    ck_assert_str_eq(b.state, t.state);
    ck_assert_str_eq(b.size_scope, t.size_scope);
    ck_assert(b.has_content_length);
    ck_assert_uint_eq(b.content_length, t.content_length);
    ck_assert_uint_eq(b.piece_length, t.piece_length);
    ck_assert_uint_eq(b.piece_count, t.piece_count);
    ck_assert_uint_eq(b.digest_count, t.digest_count);
    ck_assert_uint_eq(b.peer_count, t.peer_count);
    ck_assert_uint_eq(b.back_to_source_peer_count, t.back_to_source_peer_count);
    ck_assert(b.has_available_peer);
    ck_assert_int_eq(b.created_at, t.created_at);
    ck_assert_int_eq(b.updated_at, t.updated_at);
    proto_sched_task_reset(&b);
    cJSON_Delete(doc);
    doc = t_doc("{\"id\":\"x\",\"createdAt\":\"yesterday\"}");
    ck_assert_int_eq(proto_sched_task_from_json(doc, &b, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "createdAt: expected RFC 3339 UTC with milliseconds");
    cJSON_Delete(doc);
    doc = t_doc("{\"url\":\"x\"}");
    ck_assert_int_eq(proto_sched_task_from_json(doc, &b, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "id: required");
    cJSON_Delete(doc);
    proto_sched_task_reset(&t);
}

END_TEST

START_TEST(test_stat_peer)
{
    struct proto_sched_peer p = {
            .id = xstrdup("p2"),
            .state = xstrdup("Running"),
            .task_id = xstrdup("tid"),
            .host_id = xstrdup("h2"),
            .need_back_to_source = true,
            .finished_piece_count = 3,
            .piece_count = 10,
            .child_count = 4,
            .blocked_parent_count = 1,
            .bytes_from_source = UINT64_MAX,
            .bytes_from_peers = 5,
            .cost = 61250,
            .created_at = -1,
            .updated_at = 0,
    };
    struct proto_sched_peer b;
    struct df_error err;
    cJSON *doc;

    p.nparents = 2;
    p.parents = xcalloc(2, sizeof(char *));
    p.parents[0] = xstrdup("p1");
    p.parents[1] = xstrdup("p0");
    doc = t_wire(proto_sched_peer_to_json(&p));
    ck_assert_str_eq(cJSON_GetObjectItem(doc, "cost")->valuestring, "61.250s");
    memset(&b, 0, sizeof(b));
    ck_assert_msg(proto_sched_peer_from_json(doc, &b, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(b.id, p.id);
    ck_assert_str_eq(b.state, p.state);
    ck_assert_str_eq(b.task_id, p.task_id);
    ck_assert_str_eq(b.host_id, p.host_id);
    ck_assert(b.need_back_to_source);
    ck_assert_uint_eq(b.finished_piece_count, 3);
    ck_assert_uint_eq(b.piece_count, 10);
    ck_assert_uint_eq(b.nparents, 2);
    ck_assert_str_eq(b.parents[0], "p1");
    ck_assert_str_eq(b.parents[1], "p0");
    ck_assert_uint_eq(b.child_count, 4);
    ck_assert_uint_eq(b.blocked_parent_count, 1);
    ck_assert_uint_eq(b.bytes_from_source, UINT64_MAX);
    ck_assert_uint_eq(b.bytes_from_peers, 5);
    ck_assert_int_eq(b.cost, 61250);
    ck_assert_int_eq(b.created_at, -1);
    ck_assert_int_eq(b.updated_at, 0);
    proto_sched_peer_reset(&b);
    cJSON_Delete(doc);
    doc = t_doc("{\"id\":\"x\",\"cost\":\"1.5s\"}");
    ck_assert_int_eq(proto_sched_peer_from_json(doc, &b, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "cost: expected seconds"));
    cJSON_Delete(doc);
    doc = t_doc("{\"id\":\"x\",\"parents\":[1]}");
    ck_assert_int_eq(proto_sched_peer_from_json(doc, &b, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "parents[]: expected a peer id");
    cJSON_Delete(doc);
    proto_sched_peer_reset(&p);
}

END_TEST

START_TEST(test_stat_host)
{
    struct proto_sched_host_stat h = {
            .host = {.id = xstrdup("hid"),
                     .type = PROTO_HOST_SEED,
                     .hostname = xstrdup("n"),
                     .ip = xstrdup("::1"),
                     .port = 1,
                     .download_port = 2,
                     .upload_rate_limit = 3,
                     .upload_slots = 200},
            .load = 1,
            .concurrent_upload_count = 2,
            .peer_count = 3,
            .upload_count = 4,
            .upload_failed_count = 1,
            .uploaded_bytes = UINT64_C(1) << 55,
            .announced_at = 1767323045678LL,
    };
    struct proto_sched_host_stat b;
    struct df_error err;
    cJSON *doc = t_wire(proto_sched_host_stat_to_json(&h));

    memset(&b, 0, sizeof(b));
    ck_assert_msg(proto_sched_host_stat_from_json(doc, &b, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(b.host.id, "hid");
    ck_assert_int_eq(b.host.type, PROTO_HOST_SEED);
    ck_assert_str_eq(b.host.hostname, "n");
    ck_assert_str_eq(b.host.ip, "::1");
    ck_assert_ptr_null(b.host.idc);
    ck_assert_uint_eq(b.host.port, 1);
    ck_assert_uint_eq(b.host.download_port, 2);
    ck_assert_uint_eq(b.host.upload_rate_limit, 3);
    ck_assert_uint_eq(b.host.upload_slots, 200);
    ck_assert_uint_eq(b.load, 1);
    ck_assert_uint_eq(b.concurrent_upload_count, 2);
    ck_assert_uint_eq(b.peer_count, 3);
    ck_assert_uint_eq(b.upload_count, 4);
    ck_assert_uint_eq(b.upload_failed_count, 1);
    ck_assert_uint_eq(b.uploaded_bytes, UINT64_C(1) << 55);
    ck_assert_int_eq(b.announced_at, h.announced_at);
    proto_sched_host_stat_reset(&b);
    cJSON_Delete(doc);
    doc = t_doc("{\"ip\":\"1.2.3.4\",\"hostname\":\"n\",\"type\":\"x\"}");
    ck_assert_int_eq(proto_sched_host_stat_from_json(doc, &b, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "type: expected normal or super");
    cJSON_Delete(doc);
    proto_sched_host_stat_reset(&h);
}

END_TEST

Suite *test_proto_sched_suite(void);

Suite *
test_proto_sched_suite(void)
{
    Suite *s = suite_create("proto_sched");
    TCase *tc = tcase_create("messages");

    tcase_add_test(tc, test_announce_host);
    tcase_add_test(tc, test_announce_host_refused);
    tcase_add_test(tc, test_sched_ref);
    tcase_add_test(tc, test_peer_req_roundtrip);
    tcase_add_test(tc, test_peer_req_refused);
    tcase_add_test(tc, test_peer_req_bounds);
    tcase_add_test(tc, test_peer_resp_roundtrip);
    tcase_add_test(tc, test_peer_resp_refused);
    tcase_add_test(tc, test_stat_task);
    tcase_add_test(tc, test_stat_peer);
    tcase_add_test(tc, test_stat_host);
    suite_add_tcase(s, tc);
    return s;
}
