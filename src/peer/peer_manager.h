/* SPDX-License-Identifier: Apache-2.0 */
/* --manager: the peer finds its schedulers through the manager (peer_manager.c). */
#ifndef PEER_MANAGER_H
#define PEER_MANAGER_H

#include "peer.h"

/* Start asking the manager (nothing without cfg.manager). Returns 0 or an error in err. */
int peer_manager_start(struct peer *ctx, struct df_error *err);
/* Stop; a seed's keepalive stream ends (the manager marks it inactive). */
void peer_manager_free(struct peer *ctx);

#endif
