/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's operations port (metricsPort, 4002 as upstream's dfdaemon, 4008 for a seed):
 * /metrics in Prometheus text under upstream's dragonfly_client_* names (and the
 * dragonfly_peer_* names this project exported first), /healthy and /readyz. It is apart
 * from the upload port, which serves pieces to other peers (under mTLS when the cluster
 * has it), so a scraper needs no cluster certificate and sees nothing of the pieces.
 */
#ifndef PEER_METRICS_H
#define PEER_METRICS_H

#include "peer.h"

/* Build the registry and listen on bind_host:metrics_port ("" = all addresses). */
int peer_metrics_start(struct peer *ctx, const char *bind_host, struct df_error *err);

/* The bound address ("ip:port"), or NULL before peer_metrics_start. */
const char *peer_metrics_addr(const struct peer *ctx);

/* Stop accepting scrapes (graceful stop). */
void peer_metrics_stop(struct peer *ctx);

/* Free the listener, the server and the registry (peer_free). */
void peer_metrics_free(struct peer *ctx);

#endif
