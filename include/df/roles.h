/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entry points of the subcommands, called by src/main.c with argv[0] set to the
 * subcommand name. Each returns the process exit status: 0 success, 1 failure,
 * 2 usage or configuration error, or one of the codes below.
 *
 * And the roles as components: each runs on an event loop it borrows (several may share
 * one, in one process), from a configuration loaded from flags the way its subcommand
 * takes them. new starts it (listeners bound, or NULL with a message in err); stop begins
 * a graceful stop and calls done(arg) once, when it has finished (maybe before returning);
 * free releases it (after stop's done, or instead of it once the loop has ended). The
 * configuration is borrowed: it must outlive the component.
 */
#ifndef DF_ROLES_H
#define DF_ROLES_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"

struct event_base;

/* `dragonfly peer`: another peer holds the data dir (so `get` waits for that one). */
#define DF_EXIT_PEER_LOCKED 3
/* In a peer's data dir: flock'd by the peer that owns the dir, and holds its pid. */
#define DF_PEER_LOCK_FILE "peer.lock"

/* The scheduler. argv[0] is skipped; NULL with a message in err on bad input. */
struct sched;
struct sched_main_config;
struct sched_main_config *sched_config_new(int argc, char **argv, struct df_error *err);
void sched_config_free(struct sched_main_config *cfg);
struct sched *sched_new(struct event_base *base, const struct sched_main_config *cfg,
                        struct df_error *err);
void sched_stop(struct sched *s, void (*done)(void *), void *arg);
void sched_free(struct sched *s);
/* Add "rpc" and "metrics" (the bound addresses) to doc. */
void sched_addrs(const struct sched *s, cJSON *doc);

/*
 * A peer, or a seed peer (seed: flags as `dragonfly seed` takes them). One peer owns a data
 * dir: peer_new fails when another holds it. A peer with idleExit that stops by itself
 * ends the loop (set it only for a peer alone in its process).
 */
struct peer;
struct peer_config;
struct peer_config *peer_config_new(bool seed, int argc, char **argv, struct df_error *err);
void peer_config_free(struct peer_config *cfg);
struct peer *peer_new(struct event_base *base, const struct peer_config *cfg, struct df_error *err);
void peer_stop(struct peer *p, void (*done)(void *), void *arg);
void peer_free(struct peer *p);
/* Add "rpc", "socket", "upload", "ip", "bind" and "hostId" to doc. */
void peer_addrs(const struct peer *p, cJSON *doc);

/* The manager (its REST API and manager.v2 RPC). */
struct mgr;
struct mgr_main_config;
struct mgr_main_config *mgr_config_new(int argc, char **argv, struct df_error *err);
void mgr_config_free(struct mgr_main_config *cfg);
struct mgr *mgr_new(struct event_base *base, const struct mgr_main_config *cfg,
                    struct df_error *err);
void mgr_stop(struct mgr *m, void (*done)(void *), void *arg);
void mgr_free(struct mgr *m);
/* Add "rest" and "rpc" (the bound addresses) to doc. */
void mgr_addrs(const struct mgr *m, cJSON *doc);

int cli_cert_main(int argc, char **argv);
int cli_get_main(int argc, char **argv);
int cli_up_main(int argc, char **argv);
int cli_version_main(int argc, char **argv);
int mgr_main(int argc, char **argv);
int peer_main(int argc, char **argv);
int sched_main(int argc, char **argv);

#endif
