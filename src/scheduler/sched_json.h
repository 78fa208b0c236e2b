/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON for the StatTask / StatPeer / ListHosts answers, in Dragonfly v2's lowerCamelCase
 * with protobuf's JSON mapping (64-bit integers above 2^53 as strings, timestamps as
 * RFC 3339 UTC with milliseconds). Built from the stat views of sched_state.h, so the RPC
 * layer needs no access to scheduler internals.
 */
#ifndef DF_SCHED_JSON_H
#define DF_SCHED_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "df/df_json.h"
#include "sched_state.h"

/* A new object for the view; the caller frees it with cJSON_Delete. NULL on OOM. */
cJSON *sched_json_task_new(const struct sched_task_stat *t);
cJSON *sched_json_peer_new(const struct sched_peer_stat *p);
cJSON *sched_json_host_new(const struct sched_host_stat *h);

#endif
