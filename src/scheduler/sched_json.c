/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stat views to the StatTask / StatPeer / StatHost answers. The wire form (field names,
 * 64-bit integers, timestamps, the cost as a Duration) is proto_sched's; this file only
 * maps the core's views onto its structs. Absent optional strings are left out rather than
 * sent empty.
 */
#include "sched_json.h"

#include <stdlib.h>
#include <string.h>

#include "df/proto_sched.h"
#include "df/xmalloc.h"

static char *
sched_json_dup(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

cJSON *
sched_json_task_new(const struct sched_task_stat *t)
{
    struct proto_sched_task p = {
            .id = sched_json_dup(t->id),
            .url = sched_json_dup(t->url),
            .tag = sched_json_dup(t->tag),
            .application = sched_json_dup(t->application),
            .state = sched_json_dup(sched_task_state_name(t->state)),
            .size_scope = sched_json_dup(sched_size_scope_name(t->size_scope)),
            .has_content_length = t->content_length >= 0,
            .content_length = t->content_length >= 0 ? (uint64_t)t->content_length : 0,
            .piece_length = t->piece_length,
            .piece_count = t->piece_count,
            .digest_count = t->digest_count,
            .peer_count = t->peer_count,
            .back_to_source_peer_count = t->back_to_source_count,
            .has_available_peer = t->has_available_peer,
            .created_at = t->created_at,
            .updated_at = t->updated_at,
    };
    cJSON *o = proto_sched_task_to_json(&p);

    proto_sched_task_reset(&p);
    return o;
}

cJSON *
sched_json_peer_new(const struct sched_peer_stat *s)
{
    struct proto_sched_peer p = {
            .id = sched_json_dup(s->id),
            .state = sched_json_dup(sched_peer_state_name(s->state)),
            .task_id = sched_json_dup(s->task_id),
            .host_id = sched_json_dup(s->host_id),
            .need_back_to_source = s->need_back_to_source,
            .finished_piece_count = s->finished_pieces,
            .piece_count = s->piece_count,
            .child_count = s->child_count,
            .blocked_parent_count = s->blocked_count,
            .bytes_from_source = s->bytes_from_source,
            .bytes_from_peers = s->bytes_from_peers,
            .cost = s->cost_total,
            .created_at = s->created_at,
            .updated_at = s->updated_at,
    };
    cJSON *o;

    p.parents = xcalloc(SCHED_PARENTS_MAX, sizeof(*p.parents));
    for (uint32_t i = 0; i < s->parent_count && i < SCHED_PARENTS_MAX; i++)
        p.parents[p.nparents++] = xstrdup(s->parents[i]);
    o = proto_sched_peer_to_json(&p);
    proto_sched_peer_reset(&p);
    return o;
}

cJSON *
sched_json_host_new(const struct sched_host_stat *h)
{
    struct proto_sched_host_stat p = {
            .host =
                    {
                            .id = sched_json_dup(h->id),
                            .type = h->type == SCHED_HOST_SEED ? PROTO_HOST_SEED
                                                               : PROTO_HOST_NORMAL,
                            .hostname = sched_json_dup(h->hostname),
                            .ip = sched_json_dup(h->ip),
                            .idc = sched_json_dup(h->idc),
                            .location = sched_json_dup(h->location),
                            .port = h->rpc_port,
                            .download_port = h->download_port,
                            .upload_rate_limit = h->upload_rate_limit,
                            .upload_slots = h->upload_slots,
                    },
            .load = h->load,
            .concurrent_upload_count = h->concurrent_uploads,
            .peer_count = h->peer_count,
            .upload_count = h->upload_ok + h->upload_failed,
            .upload_failed_count = h->upload_failed,
            .uploaded_bytes = h->uploaded_bytes,
            .announced_at = h->announced_at,
    };
    cJSON *o = proto_sched_host_stat_to_json(&p);

    proto_sched_host_stat_reset(&p);
    return o;
}
