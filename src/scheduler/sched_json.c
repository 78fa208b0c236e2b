/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stat views to cJSON objects. Field names follow scheduler.v2's messages (Task, Peer,
 * Host) where they exist; fields that are ours (finishedPieceCount, bytesFromSource, ...)
 * use the same style. Absent optional strings are left out rather than sent empty.
 */
#include "sched_json.h"

#include <stdio.h>

#include "df/df_time.h"

/* Each add returns false on OOM; the callers stop at the first. */
static bool
json_add_str(cJSON *o, const char *key, const char *v)
{
    return v == NULL || cJSON_AddStringToObject(o, key, v) != NULL;
}

static bool
json_add_u32(cJSON *o, const char *key, uint32_t v)
{
    return cJSON_AddNumberToObject(o, key, (double)v) != NULL;
}

static bool
json_add_time(cJSON *o, const char *key, int64_t ms)
{
    char buf[DF_TIME_RFC3339_LEN];

    return cJSON_AddStringToObject(o, key, df_time_format_rfc3339(ms, buf)) != NULL;
}

cJSON *
sched_json_task_new(const struct sched_task_stat *t)
{
    cJSON *o = cJSON_CreateObject();
    bool ok;

    if (o == NULL)
        return NULL;
    ok = json_add_str(o, "id", t->id) && json_add_str(o, "type", "STANDARD") &&
         json_add_str(o, "url", t->url) && json_add_str(o, "tag", t->tag) &&
         json_add_str(o, "application", t->application) &&
         json_add_str(o, "state", sched_task_state_name(t->state)) &&
         json_add_str(o, "sizeScope", sched_size_scope_name(t->size_scope)) &&
         (t->content_length < 0 ||
          df_json_add_u64(o, "contentLength", (uint64_t)t->content_length) != NULL) &&
         df_json_add_u64(o, "pieceLength", t->piece_length) != NULL &&
         json_add_u32(o, "pieceCount", t->piece_count) &&
         json_add_u32(o, "digestCount", t->digest_count) &&
         json_add_u32(o, "peerCount", t->peer_count) &&
         json_add_u32(o, "backToSourcePeerCount", t->back_to_source_count) &&
         cJSON_AddBoolToObject(o, "hasAvailablePeer", t->has_available_peer) != NULL &&
         json_add_time(o, "createdAt", t->created_at) &&
         json_add_time(o, "updatedAt", t->updated_at);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *
sched_json_peer_new(const struct sched_peer_stat *p)
{
    cJSON *o = cJSON_CreateObject(), *parents = NULL;
    char cost[32];
    bool ok;

    if (o == NULL)
        return NULL;
    /* Durations in protobuf JSON are seconds with a fraction and an "s". */
    snprintf(cost, sizeof(cost), "%lld.%03llds", (long long)(p->cost_total / 1000),
             (long long)(p->cost_total % 1000));
    ok = json_add_str(o, "id", p->id) &&
         json_add_str(o, "state", sched_peer_state_name(p->state)) &&
         json_add_str(o, "taskId", p->task_id) && json_add_str(o, "hostId", p->host_id) &&
         cJSON_AddBoolToObject(o, "needBackToSource", p->need_back_to_source) != NULL &&
         json_add_u32(o, "finishedPieceCount", p->finished_pieces) &&
         json_add_u32(o, "pieceCount", p->piece_count) &&
         (parents = cJSON_AddArrayToObject(o, "parents")) != NULL &&
         json_add_u32(o, "childCount", p->child_count) &&
         json_add_u32(o, "blockedParentCount", p->blocked_count) &&
         df_json_add_u64(o, "bytesFromSource", p->bytes_from_source) != NULL &&
         df_json_add_u64(o, "bytesFromPeers", p->bytes_from_peers) != NULL &&
         json_add_str(o, "cost", cost) && json_add_time(o, "createdAt", p->created_at) &&
         json_add_time(o, "updatedAt", p->updated_at);
    for (uint32_t i = 0; ok && i < p->parent_count && i < SCHED_PARENTS_MAX; i++) {
        cJSON *id = cJSON_CreateString(p->parents[i]);

        ok = id != NULL && cJSON_AddItemToArray(parents, id);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *
sched_json_host_new(const struct sched_host_stat *h)
{
    cJSON *o = cJSON_CreateObject();
    bool ok;

    if (o == NULL)
        return NULL;
    ok = json_add_str(o, "id", h->id) &&
         json_add_str(o, "type", h->type == SCHED_HOST_SEED ? "super" : "normal") &&
         json_add_str(o, "ip", h->ip) && json_add_str(o, "hostname", h->hostname) &&
         json_add_u32(o, "port", h->rpc_port) &&
         json_add_u32(o, "downloadPort", h->download_port) && json_add_str(o, "idc", h->idc) &&
         json_add_str(o, "location", h->location) &&
         df_json_add_u64(o, "uploadRateLimit", h->upload_rate_limit) != NULL &&
         json_add_u32(o, "uploadSlots", h->upload_slots) && json_add_u32(o, "load", h->load) &&
         json_add_u32(o, "concurrentUploadCount", h->concurrent_uploads) &&
         json_add_u32(o, "peerCount", h->peer_count) &&
         df_json_add_u64(o, "uploadCount", h->upload_ok + h->upload_failed) != NULL &&
         df_json_add_u64(o, "uploadFailedCount", h->upload_failed) != NULL &&
         df_json_add_u64(o, "uploadedBytes", h->uploaded_bytes) != NULL &&
         json_add_time(o, "announcedAt", h->announced_at);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
