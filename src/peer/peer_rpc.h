/* SPDX-License-Identifier: Apache-2.0 */
/* The peer's RPC service for `dragonfly get` (DfdaemonDownload: DownloadTask, StatTask). */
#ifndef PEER_RPC_H
#define PEER_RPC_H

#include "peer.h"

/* Register the RPC methods (DfdaemonDownload) on ctx->rpc. */
int peer_rpc_register(struct peer *ctx);

#endif
