/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scheduler.v2 messages <-> C structs. The peer writes the requests and reads the answers;
 * the scheduler reads the requests and writes the answers; both sides go through this file
 * so a name is spelled once. Piece content travels as standard base64 and is bounded by
 * PROTO_TINY_MAX before it is decoded.
 */
#include "df/proto_sched.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df/df_b64.h"
#include "df/df_id.h"
#include "df/df_time.h"
#include "df/xmalloc.h"
#include "proto_json.h"

/* ---- shared pieces ---- */

/* Decode a base64 member of at most PROTO_TINY_MAX bytes into out. */
static int
proto_b64_get(const cJSON *o, const char *where, const char *key, bool required, bool *has,
              uint8_t out[PROTO_TINY_MAX], size_t *len, struct df_error *err)
{
    char *s = NULL;
    size_t n = 0;
    int rv;

    if ((rv = proto_json_str(o, where, key, required, false, 0, &s, err)) != 0 || s == NULL)
        return rv;
    if (df_b64_decode(s, strlen(s), out, PROTO_TINY_MAX, &n) != 0)
        rv = proto_json_fail(err, DF_EINVAL, where, key, "expected base64 of at most %d bytes",
                             PROTO_TINY_MAX);
    else {
        *len = n;
        if (has != NULL)
            *has = n > 0; /* as "" reads: no content */
    }
    free(s);
    return rv;
}

static bool
proto_b64_add(cJSON *o, const char *key, const uint8_t *p, size_t len)
{
    char text[(PROTO_TINY_MAX + 2) / 3 * 4 + 1];

    return len <= PROTO_TINY_MAX && proto_json_add_str(o, key, df_b64_encode(p, len, text));
}

/* contentLength (at most INT64_MAX; -1 when absent) and pieceLength. */
static int
proto_geometry_get(const cJSON *o, const char *where, int64_t *content_length,
                   uint32_t *piece_length, struct df_error *err)
{
    uint64_t cl = 0, pl = 0;
    bool has = false;
    int rv;

    if ((rv = proto_json_u64(o, where, "contentLength", INT64_MAX, &has, &cl, err)) != 0 ||
        (rv = proto_json_u64(o, where, "pieceLength", UINT32_MAX, NULL, &pl, err)) != 0)
        return rv;
    *content_length = has ? (int64_t)cl : -1;
    *piece_length = (uint32_t)pl;
    return 0;
}

/* The three ids every AnnouncePeer message carries. */
static int
proto_ids_get(const cJSON *msg, char **host_id, char **task_id, char **peer_id,
              struct df_error *err)
{
    int rv;

    if ((rv = proto_json_str(msg, "", "hostId", true, true, PROTO_ID_MAX, host_id, err)) != 0 ||
        (rv = proto_json_str(msg, "", "taskId", true, true, 0, task_id, err)) != 0 ||
        (rv = proto_json_str(msg, "", "peerId", true, true, PROTO_ID_MAX, peer_id, err)) != 0)
        return rv;
    if (!df_id_task_is_valid(*task_id))
        return df_error_set(err, DF_EINVAL, "taskId: expected 64 lowercase hex digits");
    return 0;
}

/* {"hostId","taskId","peerId", kind: {}}; *body is the kind's object. NULL on OOM. */
static cJSON *
proto_ids_msg_new(const char *host_id, const char *task_id, const char *peer_id, const char *kind,
                  cJSON **body)
{
    cJSON *m = cJSON_CreateObject();

    if (m == NULL || !proto_json_add_str(m, "hostId", host_id) ||
        !proto_json_add_str(m, "taskId", task_id) || !proto_json_add_str(m, "peerId", peer_id) ||
        (*body = cJSON_AddObjectToObject(m, kind)) == NULL) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* ---- AnnounceHost ---- */

static void
proto_sched_host_reset(struct proto_sched_host *h)
{
    free(h->id);
    free(h->hostname);
    free(h->ip);
    free(h->idc);
    free(h->location);
    memset(h, 0, sizeof(*h));
}

void
proto_sched_announce_host_reset(struct proto_sched_announce_host *a)
{
    proto_sched_host_reset(&a->host);
    a->interval = 0;
}

static int
proto_sched_host_type_get(const cJSON *h, const char *where, enum proto_sched_host_type *out,
                          struct df_error *err)
{
    char *type = NULL;
    int rv = proto_json_str(h, where, "type", false, true, 0, &type, err);

    if (rv != 0)
        return rv;
    if (type == NULL || strcmp(type, "normal") == 0)
        *out = PROTO_HOST_NORMAL;
    else if (strcmp(type, "super") == 0 || strcmp(type, "strong") == 0 ||
             strcmp(type, "weak") == 0 || strcmp(type, "seed") == 0)
        *out = PROTO_HOST_SEED;
    else
        rv = proto_json_fail(err, DF_EINVAL, where, "type", "expected normal or super");
    free(type);
    return rv;
}

/* The fields a host announces and StatHost reports (all but concurrentUploads). */
static int
proto_sched_host_get(const cJSON *o, const char *w, struct proto_sched_host *h,
                     struct df_error *err)
{
    uint64_t port = 0, dport = 0, slots = 0;
    int rv;

    if ((rv = proto_json_str(o, w, "id", false, true, PROTO_ID_MAX, &h->id, err)) != 0 ||
        (rv = proto_json_str(o, w, "ip", true, true, PROTO_ID_MAX, &h->ip, err)) != 0 ||
        (rv = proto_json_str(o, w, "hostname", true, true, PROTO_ID_MAX, &h->hostname, err)) != 0 ||
        (rv = proto_json_str(o, w, "idc", false, true, PROTO_ID_MAX, &h->idc, err)) != 0 ||
        (rv = proto_json_str(o, w, "location", false, true, PROTO_ID_MAX, &h->location, err)) !=
                0 ||
        (rv = proto_sched_host_type_get(o, w, &h->type, err)) != 0 ||
        (rv = proto_json_u64(o, w, "port", 65535, NULL, &port, err)) != 0 ||
        (rv = proto_json_u64(o, w, "downloadPort", 65535, NULL, &dport, err)) != 0 ||
        (rv = proto_json_u64(o, w, "uploadRateLimit", UINT64_MAX, NULL, &h->upload_rate_limit,
                             err)) != 0 ||
        (rv = proto_json_u64(o, w, "uploadSlots", UINT32_MAX, NULL, &slots, err)) != 0)
        return rv;
    h->port = (uint16_t)port;
    h->download_port = (uint16_t)dport;
    h->upload_slots = (uint32_t)slots;
    return 0;
}

static bool
proto_sched_host_add(cJSON *o, const struct proto_sched_host *h)
{
    return proto_json_add_str(o, "id", h->id) &&
           proto_json_add_str(o, "type", h->type == PROTO_HOST_SEED ? "super" : "normal") &&
           proto_json_add_str(o, "hostname", h->hostname) && proto_json_add_str(o, "ip", h->ip) &&
           proto_json_add_str(o, "idc", h->idc) && proto_json_add_str(o, "location", h->location) &&
           proto_json_add_u64(o, "port", h->port) &&
           proto_json_add_u64(o, "downloadPort", h->download_port) &&
           proto_json_add_u64(o, "uploadRateLimit", h->upload_rate_limit) &&
           proto_json_add_u64(o, "uploadSlots", h->upload_slots);
}

int
proto_sched_announce_host_from_json(const cJSON *msg, struct proto_sched_announce_host *out,
                                    struct df_error *err)
{
    struct proto_sched_announce_host a;
    const cJSON *o = NULL;
    uint64_t uploads = 0;
    int rv;

    memset(&a, 0, sizeof(a));
    if ((rv = proto_json_obj(msg, "", "host", &o, err)) != 0 ||
        (rv = proto_sched_host_get(o, "host", &a.host, err)) != 0 ||
        (rv = proto_json_u64(o, "host", "concurrentUploads", UINT32_MAX, NULL, &uploads, err)) !=
                0 ||
        (rv = proto_json_u64(msg, "", "interval", UINT64_MAX, NULL, &a.interval, err)) != 0)
        goto out;
    a.host.concurrent_uploads = (uint32_t)uploads;
    *out = a;
    memset(&a, 0, sizeof(a));
    rv = 0;
out:
    proto_sched_announce_host_reset(&a);
    return rv;
}

cJSON *
proto_sched_announce_host_to_json(const struct proto_sched_announce_host *a)
{
    const struct proto_sched_host *h = &a->host;
    cJSON *m = cJSON_CreateObject(), *o = NULL;
    bool ok;

    ok = m != NULL && (o = cJSON_AddObjectToObject(m, "host")) != NULL &&
         proto_sched_host_add(o, h) &&
         (h->concurrent_uploads == 0 ||
          proto_json_add_u64(o, "concurrentUploads", h->concurrent_uploads)) &&
         (a->interval == 0 || proto_json_add_u64(m, "interval", a->interval));
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* ---- one-id requests ---- */

static const char *const proto_sched_ref_keys[] = {
        [PROTO_SCHED_REF_LEAVE_HOST] = "id",     [PROTO_SCHED_REF_STAT_TASK] = "taskId",
        [PROTO_SCHED_REF_STAT_PEER] = "peerId",  [PROTO_SCHED_REF_STAT_HOST] = "hostId",
        [PROTO_SCHED_REF_LEAVE_PEER] = "peerId",
};

void
proto_sched_ref_reset(struct proto_sched_ref *r)
{
    free(r->id);
    r->id = NULL;
}

int
proto_sched_ref_from_json(const cJSON *msg, enum proto_sched_ref_kind kind,
                          struct proto_sched_ref *out, struct df_error *err)
{
    char *id = NULL;
    int rv = proto_json_str(msg, "", proto_sched_ref_keys[kind], true, false, 0, &id, err);

    if (rv == 0)
        out->id = id;
    return rv;
}

cJSON *
proto_sched_ref_to_json(const struct proto_sched_ref *r, enum proto_sched_ref_kind kind)
{
    cJSON *m = cJSON_CreateObject();

    if (m != NULL && !proto_json_add_str(m, proto_sched_ref_keys[kind], r->id)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* ---- AnnouncePeer requests ---- */

static const char *const proto_sched_peer_req_names[PROTO_PEER_REQ_KINDS] = {
        [PROTO_PEER_REGISTER] = "registerPeerRequest",
        [PROTO_PEER_STARTED] = "downloadPeerStartedRequest",
        [PROTO_PEER_BTS_STARTED] = "downloadPeerBackToSourceStartedRequest",
        [PROTO_PEER_RESCHEDULE] = "reschedulePeerRequest",
        [PROTO_PEER_PIECE_FINISHED] = "downloadPieceFinishedRequest",
        [PROTO_PEER_BTS_PIECE_FINISHED] = "downloadPieceBackToSourceFinishedRequest",
        [PROTO_PEER_PIECE_FAILED] = "downloadPieceFailedRequest",
        [PROTO_PEER_FINISHED] = "downloadPeerFinishedRequest",
        [PROTO_PEER_BTS_FINISHED] = "downloadPeerBackToSourceFinishedRequest",
        [PROTO_PEER_FAILED] = "downloadPeerFailedRequest",
        [PROTO_PEER_BTS_FAILED] = "downloadPeerBackToSourceFailedRequest",
};

const char *
proto_sched_peer_req_kind_name(enum proto_sched_peer_req_kind kind)
{
    return kind < PROTO_PEER_REQ_KINDS ? proto_sched_peer_req_names[kind] : "?";
}

void
proto_sched_peer_req_reset(struct proto_sched_peer_req *r)
{
    free(r->host_id);
    free(r->task_id);
    free(r->peer_id);
    proto_dfdaemon_download_reset(&r->download);
    free(r->piece.parent_id);
    free(r->parent_id);
    proto_json_strv_free(r->candidate_parents, r->ncandidate_parents);
    free(r->description);
    memset(r, 0, sizeof(*r));
}

static int
proto_sched_piece_get(const cJSON *body, bool from_source, struct proto_sched_piece *pc,
                      struct df_error *err)
{
    const cJSON *o = NULL;
    uint64_t number = 0, length = 0, cost = 0;
    bool has = false;
    int rv;

    if ((rv = proto_json_obj(body, "", "piece", &o, err)) != 0 ||
        (rv = proto_json_u64(o, "piece", "number", UINT32_MAX, &has, &number, err)) != 0 ||
        (rv = proto_json_u64(o, "piece", "offset", INT64_MAX, NULL, &pc->offset, err)) != 0 ||
        (rv = proto_json_u64(o, "piece", "length", UINT32_MAX, NULL, &length, err)) != 0 ||
        (rv = proto_json_u64(o, "piece", "cost", INT64_MAX, NULL, &cost, err)) != 0)
        return rv;
    if (!has)
        return df_error_set(err, DF_EINVAL, "piece.number: required");
    pc->number = (uint32_t)number;
    pc->length = (uint32_t)length;
    pc->cost = (int64_t)cost;
    if (!from_source) {
        if ((rv = proto_json_str(o, "piece", "parentId", true, true, PROTO_ID_MAX, &pc->parent_id,
                                 err)) != 0)
            return rv;
        return proto_json_digest(o, "piece", "digest", false, &pc->has_digest, &pc->digest, err);
    }
    if ((rv = proto_json_digest(o, "piece", "digest", false, &pc->has_digest, &pc->digest, err)) !=
        0)
        return rv;
    if (!pc->has_digest)
        return df_error_set(err, DF_EINVAL, "piece.digest: required from the source");
    return proto_b64_get(o, "piece", "content", false, &pc->has_content, pc->content,
                         &pc->content_len, err);
}

static int
proto_reschedule_get(const cJSON *body, struct proto_sched_peer_req *r, struct df_error *err)
{
    const cJSON *arr = NULL, *it;
    int rv, n;

    if ((rv = proto_json_array(body, "", "candidateParents", &arr, err)) != 0 ||
        (rv = proto_json_str(body, "", "description", false, false, 0, &r->description, err)) != 0)
        return rv;
    if ((n = cJSON_GetArraySize(arr)) <= 0)
        return 0;
    r->candidate_parents = xcalloc((size_t)n, sizeof(*r->candidate_parents));
    cJSON_ArrayForEach(it, arr)
    {
        char *id = NULL;

        if (!cJSON_IsObject(it) ||
            proto_json_str(it, "", "id", true, true, PROTO_ID_MAX, &id, NULL) != 0)
            return df_error_set(err, DF_EINVAL, "candidateParents[].id: required");
        r->candidate_parents[r->ncandidate_parents++] = id;
    }
    return 0;
}

static int
proto_sched_peer_req_body(const cJSON *body, struct proto_sched_peer_req *r, struct df_error *err)
{
    uint64_t v = 0;
    uint32_t pl = 0;
    bool has = false;
    int rv = 0;

    switch (r->kind) {
    case PROTO_PEER_REGISTER:
        if ((rv = proto_dfdaemon_download_from_json(body, &r->download, err)) != 0)
            return rv;
        return proto_geometry_get(body, "", &r->content_length, &r->piece_length, err);
    case PROTO_PEER_BTS_STARTED:
        return proto_geometry_get(body, "", &r->content_length, &r->piece_length, err);
    case PROTO_PEER_RESCHEDULE:
        return proto_reschedule_get(body, r, err);
    case PROTO_PEER_PIECE_FINISHED:
    case PROTO_PEER_BTS_PIECE_FINISHED:
        return proto_sched_piece_get(body, r->kind == PROTO_PEER_BTS_PIECE_FINISHED, &r->piece,
                                     err);
    case PROTO_PEER_PIECE_FAILED:
        if ((rv = proto_json_u64(body, "", "pieceNumber", UINT32_MAX, &has, &v, err)) != 0 ||
            (rv = proto_json_str(body, "", "parentId", false, true, PROTO_ID_MAX, &r->parent_id,
                                 err)) != 0 ||
            (rv = proto_json_bool(body, "", "temporary", &r->temporary, err)) != 0)
            return rv;
        if (!has)
            return df_error_set(err, DF_EINVAL, "pieceNumber: required");
        r->piece_number = (uint32_t)v;
        return 0;
    case PROTO_PEER_FINISHED:
    case PROTO_PEER_BTS_FINISHED:
        if ((rv = proto_geometry_get(body, "", &r->content_length, &pl, err)) != 0 ||
            (rv = proto_json_u64(body, "", "pieceCount", UINT32_MAX, &r->has_piece_count, &v,
                                 err)) != 0)
            return rv;
        r->piece_count = (uint32_t)v;
        return 0;
    case PROTO_PEER_FAILED:
    case PROTO_PEER_BTS_FAILED:
        return proto_json_str(body, "", "description", false, false, 0, &r->description, err);
    case PROTO_PEER_STARTED:
    case PROTO_PEER_REQ_KINDS:
        break;
    }
    return 0;
}

int
proto_sched_peer_req_from_json(const cJSON *msg, struct proto_sched_peer_req *out,
                               struct df_error *err)
{
    struct proto_sched_peer_req r;
    const cJSON *body = NULL;
    size_t kind = 0;
    int rv;

    memset(&r, 0, sizeof(r));
    r.content_length = -1;
    if (!cJSON_IsObject(msg)) {
        rv = df_error_set(err, DF_EINVAL, "expected an object");
        goto out;
    }
    if ((rv = proto_ids_get(msg, &r.host_id, &r.task_id, &r.peer_id, err)) != 0 ||
        (rv = proto_json_kind(msg, proto_sched_peer_req_names, PROTO_PEER_REQ_KINDS, true, &kind,
                              &body, err)) != 0)
        goto out;
    r.kind = (enum proto_sched_peer_req_kind)kind;
    if ((rv = proto_sched_peer_req_body(body, &r, err)) != 0)
        goto out;
    *out = r;
    memset(&r, 0, sizeof(r));
    rv = 0;
out:
    proto_sched_peer_req_reset(&r);
    return rv;
}

static bool
proto_sched_piece_add(cJSON *body, const struct proto_sched_piece *pc)
{
    cJSON *o = cJSON_AddObjectToObject(body, "piece");

    return o != NULL && proto_json_add_u64(o, "number", pc->number) &&
           proto_json_add_str(o, "parentId", pc->parent_id) &&
           proto_json_add_u64(o, "offset", pc->offset) &&
           proto_json_add_u64(o, "length", pc->length) &&
           (pc->cost <= 0 || proto_json_add_u64(o, "cost", (uint64_t)pc->cost)) &&
           (!pc->has_digest || proto_json_add_digest(o, "digest", &pc->digest)) &&
           (!pc->has_content || proto_b64_add(o, "content", pc->content, pc->content_len));
}

static bool
proto_sched_peer_req_body_add(cJSON *b, const struct proto_sched_peer_req *r)
{
    bool ok = true, geo = r->content_length >= 0;
    cJSON *arr, *e;

    switch (r->kind) {
    case PROTO_PEER_REGISTER:
        ok = proto_dfdaemon_download_to_json(b, &r->download);
        /* fall through */
    case PROTO_PEER_BTS_STARTED:
        return ok &&
               (!geo || proto_json_add_u64(b, "contentLength", (uint64_t)r->content_length)) &&
               ((!geo && r->piece_length == 0) ||
                proto_json_add_u64(b, "pieceLength", r->piece_length));
    case PROTO_PEER_RESCHEDULE:
        ok = (arr = cJSON_AddArrayToObject(b, "candidateParents")) != NULL &&
             proto_json_add_str(b, "description", r->description);
        for (size_t i = 0; ok && i < r->ncandidate_parents; i++)
            ok = (e = cJSON_CreateObject()) != NULL && cJSON_AddItemToArray(arr, e) &&
                 proto_json_add_str(e, "id", r->candidate_parents[i]);
        return ok;
    case PROTO_PEER_PIECE_FINISHED:
    case PROTO_PEER_BTS_PIECE_FINISHED:
        return proto_sched_piece_add(b, &r->piece);
    case PROTO_PEER_PIECE_FAILED:
        return proto_json_add_u64(b, "pieceNumber", r->piece_number) &&
               proto_json_add_str(b, "parentId", r->parent_id) &&
               (!r->temporary || proto_json_add_bool(b, "temporary", true));
    case PROTO_PEER_FINISHED:
    case PROTO_PEER_BTS_FINISHED:
        return (!geo || proto_json_add_u64(b, "contentLength", (uint64_t)r->content_length)) &&
               (!r->has_piece_count || proto_json_add_u64(b, "pieceCount", r->piece_count));
    case PROTO_PEER_FAILED:
    case PROTO_PEER_BTS_FAILED:
        return proto_json_add_str(b, "description", r->description);
    case PROTO_PEER_STARTED:
    case PROTO_PEER_REQ_KINDS:
        break;
    }
    return true;
}

cJSON *
proto_sched_peer_req_to_json(const struct proto_sched_peer_req *r)
{
    cJSON *body = NULL, *m;

    m = proto_ids_msg_new(r->host_id, r->task_id, r->peer_id,
                          proto_sched_peer_req_kind_name(r->kind), &body);
    if (m != NULL && !proto_sched_peer_req_body_add(body, r)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* ---- AnnouncePeer answers ---- */

static const char *const proto_sched_peer_resp_names[PROTO_PEER_RESP_KINDS] = {
        [PROTO_PEER_RESP_EMPTY] = "emptyTaskResponse",
        [PROTO_PEER_RESP_TINY] = "tinyTaskResponse",
        [PROTO_PEER_RESP_NORMAL] = "normalTaskResponse",
        [PROTO_PEER_RESP_BACK_TO_SOURCE] = "needBackToSourceResponse",
        [PROTO_PEER_RESP_DIGESTS] = "pieceDigestsResponse",
};

void
proto_sched_peer_resp_reset(struct proto_sched_peer_resp *r)
{
    free(r->host_id);
    free(r->task_id);
    free(r->peer_id);
    for (size_t i = 0; i < r->nparents; i++) {
        free(r->parents[i].id);
        free(r->parents[i].host_id);
        free(r->parents[i].ip);
    }
    free(r->parents);
    free(r->description);
    free(r->pieces);
    memset(r, 0, sizeof(*r));
}

static int
proto_sched_parents_get(const cJSON *body, struct proto_sched_peer_resp *r, struct df_error *err)
{
    const char *w = "candidateParents[]";
    const cJSON *arr = NULL, *e;
    int rv, n;

    if ((rv = proto_json_array(body, "", "candidateParents", &arr, err)) != 0 ||
        (n = cJSON_GetArraySize(arr)) <= 0)
        return rv;
    r->parents = xcalloc((size_t)n, sizeof(*r->parents));
    cJSON_ArrayForEach(e, arr)
    {
        struct proto_sched_parent *p = &r->parents[r->nparents++];
        uint64_t port = 0, dport = 0;

        if (!cJSON_IsObject(e))
            return df_error_set(err, DF_EINVAL, "%s: expected an object", w);
        if ((rv = proto_json_str(e, w, "id", true, true, PROTO_ID_MAX, &p->id, err)) != 0 ||
            (rv = proto_json_str(e, w, "hostId", false, true, PROTO_ID_MAX, &p->host_id, err)) !=
                    0 ||
            (rv = proto_json_str(e, w, "ip", true, true, PROTO_ID_MAX, &p->ip, err)) != 0 ||
            (rv = proto_json_u64(e, w, "port", 65535, NULL, &port, err)) != 0 ||
            (rv = proto_json_u64(e, w, "downloadPort", 65535, NULL, &dport, err)) != 0 ||
            (rv = proto_json_bool(e, w, "isSeed", &p->is_seed, err)) != 0)
            return rv;
        p->port = (uint16_t)port;
        p->download_port = (uint16_t)dport;
    }
    return 0;
}

static int
proto_sched_digests_get(const cJSON *body, struct proto_sched_peer_resp *r, struct df_error *err)
{
    const char *w = "pieces[]";
    const cJSON *arr = NULL, *e;
    int rv, n;

    if ((rv = proto_json_array(body, "", "pieces", &arr, err)) != 0 ||
        (n = cJSON_GetArraySize(arr)) <= 0)
        return rv;
    r->pieces = xcalloc((size_t)n, sizeof(*r->pieces));
    cJSON_ArrayForEach(e, arr)
    {
        struct proto_sched_piece_digest *p = &r->pieces[r->npieces++];
        uint64_t number = 0, length = 0;
        bool has = false;

        if (!cJSON_IsObject(e))
            return df_error_set(err, DF_EINVAL, "%s: expected an object", w);
        if ((rv = proto_json_u64(e, w, "number", UINT32_MAX, &has, &number, err)) != 0 ||
            (rv = proto_json_u64(e, w, "offset", INT64_MAX, NULL, &p->offset, err)) != 0 ||
            (rv = proto_json_u64(e, w, "length", UINT32_MAX, NULL, &length, err)) != 0 ||
            (rv = proto_json_digest(e, w, "digest", true, NULL, &p->digest, err)) != 0)
            return rv;
        if (!has)
            return df_error_set(err, DF_EINVAL, "%s.number: required", w);
        p->number = (uint32_t)number;
        p->length = (uint32_t)length;
    }
    return 0;
}

static int
proto_sched_peer_resp_body(const cJSON *body, struct proto_sched_peer_resp *r, struct df_error *err)
{
    int64_t cl = -1;
    uint64_t count = 0;
    int rv;

    switch (r->kind) {
    case PROTO_PEER_RESP_TINY:
        if ((rv = proto_b64_get(body, "", "content", false, NULL, r->content, &r->content_len,
                                err)) != 0)
            return rv;
        return proto_json_digest(body, "", "digest", true, NULL, &r->digest, err);
    case PROTO_PEER_RESP_BACK_TO_SOURCE:
        return proto_json_str(body, "", "description", false, false, 0, &r->description, err);
    case PROTO_PEER_RESP_NORMAL:
    case PROTO_PEER_RESP_DIGESTS:
        if ((rv = proto_geometry_get(body, "", &cl, &r->piece_length, err)) != 0 ||
            (rv = proto_json_u64(body, "", "pieceCount", UINT32_MAX, NULL, &count, err)) != 0)
            return rv;
        r->has_geometry = cl >= 0;
        r->content_length = cl >= 0 ? (uint64_t)cl : 0;
        r->piece_count = (uint32_t)count;
        return r->kind == PROTO_PEER_RESP_NORMAL ? proto_sched_parents_get(body, r, err)
                                                 : proto_sched_digests_get(body, r, err);
    case PROTO_PEER_RESP_EMPTY:
    case PROTO_PEER_RESP_KINDS:
        break;
    }
    return 0;
}

int
proto_sched_peer_resp_from_json(const cJSON *msg, struct proto_sched_peer_resp *out,
                                struct df_error *err)
{
    struct proto_sched_peer_resp r;
    const cJSON *body = NULL;
    size_t kind = 0;
    int rv;

    memset(&r, 0, sizeof(r));
    if (!cJSON_IsObject(msg)) {
        rv = df_error_set(err, DF_EINVAL, "expected an object");
        goto out;
    }
    if ((rv = proto_ids_get(msg, &r.host_id, &r.task_id, &r.peer_id, err)) != 0 ||
        (rv = proto_json_kind(msg, proto_sched_peer_resp_names, PROTO_PEER_RESP_KINDS, false, &kind,
                              &body, err)) != 0)
        goto out;
    r.kind = (enum proto_sched_peer_resp_kind)kind;
    if ((rv = proto_sched_peer_resp_body(body, &r, err)) != 0)
        goto out;
    *out = r;
    memset(&r, 0, sizeof(r));
    rv = 0;
out:
    proto_sched_peer_resp_reset(&r);
    return rv;
}

enum proto_sched_peer_resp_kind
proto_sched_peer_resp_kind_of(const cJSON *msg)
{
    const cJSON *body = NULL;
    size_t kind = 0;

    if (proto_json_kind(msg, proto_sched_peer_resp_names, PROTO_PEER_RESP_KINDS, false, &kind,
                        &body, NULL) != 0)
        return PROTO_PEER_RESP_KINDS;
    return (enum proto_sched_peer_resp_kind)kind;
}

bool
proto_sched_piece_digest_add(cJSON *array, const struct proto_sched_piece_digest *p)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddItemToArray(array, o)) {
        cJSON_Delete(o);
        return false;
    }
    return proto_json_add_u64(o, "number", p->number) &&
           proto_json_add_u64(o, "offset", p->offset) &&
           proto_json_add_u64(o, "length", p->length) &&
           proto_json_add_digest(o, "digest", &p->digest);
}

static bool
proto_sched_parent_add(cJSON *array, const struct proto_sched_parent *p)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddItemToArray(array, o)) {
        cJSON_Delete(o);
        return false;
    }
    return proto_json_add_str(o, "id", p->id) && proto_json_add_str(o, "hostId", p->host_id) &&
           proto_json_add_str(o, "ip", p->ip) && proto_json_add_u64(o, "port", p->port) &&
           proto_json_add_u64(o, "downloadPort", p->download_port) &&
           proto_json_add_bool(o, "isSeed", p->is_seed);
}

static bool
proto_sched_peer_resp_body_add(cJSON *b, const struct proto_sched_peer_resp *r)
{
    cJSON *arr;
    bool ok = true;

    switch (r->kind) {
    case PROTO_PEER_RESP_TINY:
        return proto_b64_add(b, "content", r->content, r->content_len) &&
               proto_json_add_digest(b, "digest", &r->digest);
    case PROTO_PEER_RESP_BACK_TO_SOURCE:
        return proto_json_add_str(b, "description", r->description);
    case PROTO_PEER_RESP_NORMAL:
        ok = (arr = cJSON_AddArrayToObject(b, "candidateParents")) != NULL;
        for (size_t i = 0; ok && i < r->nparents; i++)
            ok = proto_sched_parent_add(arr, &r->parents[i]);
        return ok &&
               (!r->has_geometry || (proto_json_add_u64(b, "contentLength", r->content_length) &&
                                     proto_json_add_u64(b, "pieceLength", r->piece_length) &&
                                     proto_json_add_u64(b, "pieceCount", r->piece_count)));
    case PROTO_PEER_RESP_DIGESTS:
        ok = !r->has_geometry || (proto_json_add_u64(b, "contentLength", r->content_length) &&
                                  proto_json_add_u64(b, "pieceLength", r->piece_length));
        ok = ok && (arr = cJSON_AddArrayToObject(b, "pieces")) != NULL;
        for (size_t i = 0; ok && i < r->npieces; i++)
            ok = proto_sched_piece_digest_add(arr, &r->pieces[i]);
        return ok;
    case PROTO_PEER_RESP_EMPTY:
    case PROTO_PEER_RESP_KINDS:
        break;
    }
    return true;
}

cJSON *
proto_sched_peer_resp_to_json(const struct proto_sched_peer_resp *r)
{
    cJSON *body = NULL, *m;

    m = proto_ids_msg_new(
            r->host_id, r->task_id, r->peer_id,
            r->kind < PROTO_PEER_RESP_KINDS ? proto_sched_peer_resp_names[r->kind] : "?", &body);
    if (m != NULL && !proto_sched_peer_resp_body_add(body, r)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* ---- StatTask / StatPeer / StatHost answers ---- */

static int
proto_sched_time_get(const cJSON *o, const char *key, int64_t *ms, struct df_error *err)
{
    char *s = NULL;
    int rv = proto_json_str(o, "", key, false, true, 0, &s, err);

    if (rv == 0 && s != NULL && df_time_parse_rfc3339(s, ms) != 0)
        rv = proto_json_fail(err, DF_EINVAL, "", key, "expected RFC 3339 UTC with milliseconds");
    free(s);
    return rv;
}

static bool
proto_sched_time_add(cJSON *o, const char *key, int64_t ms)
{
    char buf[DF_TIME_RFC3339_LEN];

    return proto_json_add_str(o, key, df_time_format_rfc3339(ms, buf));
}

/* A u32 member (absent: 0). */
static int
proto_sched_u32_get(const cJSON *o, const char *key, uint32_t *out, struct df_error *err)
{
    uint64_t v = 0;
    int rv = proto_json_u64(o, "", key, UINT32_MAX, NULL, &v, err);

    *out = (uint32_t)v;
    return rv;
}

void
proto_sched_task_reset(struct proto_sched_task *t)
{
    free(t->id);
    free(t->url);
    free(t->tag);
    free(t->application);
    free(t->state);
    free(t->size_scope);
    memset(t, 0, sizeof(*t));
}

int
proto_sched_task_from_json(const cJSON *o, struct proto_sched_task *out, struct df_error *err)
{
    struct proto_sched_task t;
    int rv;

    memset(&t, 0, sizeof(t));
    if ((rv = proto_json_str(o, "", "id", true, true, 0, &t.id, err)) != 0 ||
        (rv = proto_json_str(o, "", "url", false, true, 0, &t.url, err)) != 0 ||
        (rv = proto_json_str(o, "", "tag", false, true, 0, &t.tag, err)) != 0 ||
        (rv = proto_json_str(o, "", "application", false, true, 0, &t.application, err)) != 0 ||
        (rv = proto_json_str(o, "", "state", false, true, 0, &t.state, err)) != 0 ||
        (rv = proto_json_str(o, "", "sizeScope", false, true, 0, &t.size_scope, err)) != 0 ||
        (rv = proto_json_u64(o, "", "contentLength", INT64_MAX, &t.has_content_length,
                             &t.content_length, err)) != 0 ||
        (rv = proto_json_u64(o, "", "pieceLength", UINT64_MAX, NULL, &t.piece_length, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "pieceCount", &t.piece_count, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "digestCount", &t.digest_count, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "peerCount", &t.peer_count, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "backToSourcePeerCount", &t.back_to_source_peer_count, err)) !=
                0 ||
        (rv = proto_json_bool(o, "", "hasAvailablePeer", &t.has_available_peer, err)) != 0 ||
        (rv = proto_sched_time_get(o, "createdAt", &t.created_at, err)) != 0 ||
        (rv = proto_sched_time_get(o, "updatedAt", &t.updated_at, err)) != 0)
        goto out;
    *out = t;
    memset(&t, 0, sizeof(t));
out:
    proto_sched_task_reset(&t);
    return rv;
}

cJSON *
proto_sched_task_to_json(const struct proto_sched_task *t)
{
    cJSON *o = cJSON_CreateObject();
    bool ok;

    ok = o != NULL && proto_json_add_str(o, "id", t->id) &&
         proto_json_add_str(o, "type", "STANDARD") && proto_json_add_str(o, "url", t->url) &&
         proto_json_add_str(o, "tag", t->tag) &&
         proto_json_add_str(o, "application", t->application) &&
         proto_json_add_str(o, "state", t->state) &&
         proto_json_add_str(o, "sizeScope", t->size_scope) &&
         (!t->has_content_length || proto_json_add_u64(o, "contentLength", t->content_length)) &&
         proto_json_add_u64(o, "pieceLength", t->piece_length) &&
         proto_json_add_u64(o, "pieceCount", t->piece_count) &&
         proto_json_add_u64(o, "digestCount", t->digest_count) &&
         proto_json_add_u64(o, "peerCount", t->peer_count) &&
         proto_json_add_u64(o, "backToSourcePeerCount", t->back_to_source_peer_count) &&
         proto_json_add_bool(o, "hasAvailablePeer", t->has_available_peer) &&
         proto_sched_time_add(o, "createdAt", t->created_at) &&
         proto_sched_time_add(o, "updatedAt", t->updated_at);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void
proto_sched_peer_reset(struct proto_sched_peer *p)
{
    free(p->id);
    free(p->state);
    free(p->task_id);
    free(p->host_id);
    proto_json_strv_free(p->parents, p->nparents);
    memset(p, 0, sizeof(*p));
}

/* A protobuf Duration of whole milliseconds: "<seconds>.<3 digits>s". */
static int
proto_sched_cost_get(const cJSON *o, int64_t *ms, struct df_error *err)
{
    char *s = NULL, *end;
    size_t n;
    int rv = proto_json_str(o, "", "cost", false, true, 32, &s, err);
    unsigned long long secs;

    if (rv != 0 || s == NULL)
        return rv;
    n = strlen(s);
    if (n < 6 || s[0] < '0' || s[0] > '9' || s[n - 5] != '.' || s[n - 1] != 's' ||
        strspn(s + n - 4, "0123456789") < 3 || (secs = strtoull(s, &end, 10)) > INT64_MAX / 1000 ||
        end != s + n - 5)
        rv = proto_json_fail(err, DF_EINVAL, "", "cost", "expected seconds like \"1.250s\"");
    else
        *ms = (int64_t)secs * 1000 + strtol(s + n - 4, NULL, 10);
    free(s);
    return rv;
}

static int
proto_sched_peer_parents_get(const cJSON *o, struct proto_sched_peer *p, struct df_error *err)
{
    const cJSON *arr = NULL, *e;
    int rv, n;

    if ((rv = proto_json_array(o, "", "parents", &arr, err)) != 0 ||
        (n = cJSON_GetArraySize(arr)) <= 0)
        return rv;
    p->parents = xcalloc((size_t)n, sizeof(*p->parents));
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e) || e->valuestring[0] == '\0')
            return df_error_set(err, DF_EINVAL, "parents[]: expected a peer id");
        p->parents[p->nparents++] = xstrdup(e->valuestring);
    }
    return 0;
}

int
proto_sched_peer_from_json(const cJSON *o, struct proto_sched_peer *out, struct df_error *err)
{
    struct proto_sched_peer p;
    int rv;

    memset(&p, 0, sizeof(p));
    if ((rv = proto_json_str(o, "", "id", true, true, 0, &p.id, err)) != 0 ||
        (rv = proto_json_str(o, "", "state", false, true, 0, &p.state, err)) != 0 ||
        (rv = proto_json_str(o, "", "taskId", false, true, 0, &p.task_id, err)) != 0 ||
        (rv = proto_json_str(o, "", "hostId", false, true, 0, &p.host_id, err)) != 0 ||
        (rv = proto_json_bool(o, "", "needBackToSource", &p.need_back_to_source, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "finishedPieceCount", &p.finished_piece_count, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "pieceCount", &p.piece_count, err)) != 0 ||
        (rv = proto_sched_peer_parents_get(o, &p, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "childCount", &p.child_count, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "blockedParentCount", &p.blocked_parent_count, err)) != 0 ||
        (rv = proto_json_u64(o, "", "bytesFromSource", UINT64_MAX, NULL, &p.bytes_from_source,
                             err)) != 0 ||
        (rv = proto_json_u64(o, "", "bytesFromPeers", UINT64_MAX, NULL, &p.bytes_from_peers,
                             err)) != 0 ||
        (rv = proto_sched_cost_get(o, &p.cost, err)) != 0 ||
        (rv = proto_sched_time_get(o, "createdAt", &p.created_at, err)) != 0 ||
        (rv = proto_sched_time_get(o, "updatedAt", &p.updated_at, err)) != 0)
        goto out;
    *out = p;
    memset(&p, 0, sizeof(p));
out:
    proto_sched_peer_reset(&p);
    return rv;
}

cJSON *
proto_sched_peer_to_json(const struct proto_sched_peer *p)
{
    cJSON *o = cJSON_CreateObject(), *parents = NULL;
    char cost[32];
    bool ok;

    snprintf(cost, sizeof(cost), "%" PRId64 ".%03" PRId64 "s", p->cost / 1000, p->cost % 1000);
    ok = o != NULL && proto_json_add_str(o, "id", p->id) &&
         proto_json_add_str(o, "state", p->state) && proto_json_add_str(o, "taskId", p->task_id) &&
         proto_json_add_str(o, "hostId", p->host_id) &&
         proto_json_add_bool(o, "needBackToSource", p->need_back_to_source) &&
         proto_json_add_u64(o, "finishedPieceCount", p->finished_piece_count) &&
         proto_json_add_u64(o, "pieceCount", p->piece_count) &&
         (parents = cJSON_AddArrayToObject(o, "parents")) != NULL &&
         proto_json_add_u64(o, "childCount", p->child_count) &&
         proto_json_add_u64(o, "blockedParentCount", p->blocked_parent_count) &&
         proto_json_add_u64(o, "bytesFromSource", p->bytes_from_source) &&
         proto_json_add_u64(o, "bytesFromPeers", p->bytes_from_peers) &&
         proto_json_add_str(o, "cost", cost) &&
         proto_sched_time_add(o, "createdAt", p->created_at) &&
         proto_sched_time_add(o, "updatedAt", p->updated_at);
    for (size_t i = 0; ok && i < p->nparents; i++) {
        cJSON *id = cJSON_CreateString(p->parents[i]);

        ok = id != NULL && cJSON_AddItemToArray(parents, id);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void
proto_sched_host_stat_reset(struct proto_sched_host_stat *h)
{
    proto_sched_host_reset(&h->host);
    memset(h, 0, sizeof(*h));
}

int
proto_sched_host_stat_from_json(const cJSON *o, struct proto_sched_host_stat *out,
                                struct df_error *err)
{
    struct proto_sched_host_stat h;
    int rv;

    memset(&h, 0, sizeof(h));
    if ((rv = proto_sched_host_get(o, "", &h.host, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "load", &h.load, err)) != 0 ||
        (rv = proto_sched_u32_get(o, "concurrentUploadCount", &h.concurrent_upload_count, err)) !=
                0 ||
        (rv = proto_sched_u32_get(o, "peerCount", &h.peer_count, err)) != 0 ||
        (rv = proto_json_u64(o, "", "uploadCount", UINT64_MAX, NULL, &h.upload_count, err)) != 0 ||
        (rv = proto_json_u64(o, "", "uploadFailedCount", UINT64_MAX, NULL, &h.upload_failed_count,
                             err)) != 0 ||
        (rv = proto_json_u64(o, "", "uploadedBytes", UINT64_MAX, NULL, &h.uploaded_bytes, err)) !=
                0 ||
        (rv = proto_sched_time_get(o, "announcedAt", &h.announced_at, err)) != 0)
        goto out;
    *out = h;
    memset(&h, 0, sizeof(h));
out:
    proto_sched_host_stat_reset(&h);
    return rv;
}

cJSON *
proto_sched_host_stat_to_json(const struct proto_sched_host_stat *h)
{
    cJSON *o = cJSON_CreateObject();
    bool ok;

    ok = o != NULL && proto_sched_host_add(o, &h->host) && proto_json_add_u64(o, "load", h->load) &&
         proto_json_add_u64(o, "concurrentUploadCount", h->concurrent_upload_count) &&
         proto_json_add_u64(o, "peerCount", h->peer_count) &&
         proto_json_add_u64(o, "uploadCount", h->upload_count) &&
         proto_json_add_u64(o, "uploadFailedCount", h->upload_failed_count) &&
         proto_json_add_u64(o, "uploadedBytes", h->uploaded_bytes) &&
         proto_sched_time_add(o, "announcedAt", h->announced_at);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
