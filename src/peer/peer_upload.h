/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upload server: verified pieces for other peers (and pieces still arriving, relayed
 * cut-through), and /healthy.
 */
#ifndef PEER_UPLOAD_H
#define PEER_UPLOAD_H

#include <stdint.h>

#include "df/df_id.h"
#include "peer.h"

/* Start the upload server on bind_host:upload_port ("" = all addresses). */
int peer_upload_start(struct peer *ctx, const char *bind_host, struct df_error *err);
/*
 * Parse the part of an upload path after "/pieces/": "<task_id>/<number>", the id 64
 * lowercase hex and the number canonical decimal (no sign, no leading zero) within 2^64-1.
 * Returns 0 with id and *number filled, DF_EINVAL when rest is not "<64 chars>/<more>", or
 * DF_EPROTO for a bad id or number (id and *number are then unchanged). rest is borrowed.
 */
int peer_upload_path_parse(const char *rest, char id[DF_ID_TASK_LEN + 1], uint64_t *number);
/* Drop the relays still waiting (shutdown). */
void peer_upload_relay_stop(struct peer *ctx);

#endif
