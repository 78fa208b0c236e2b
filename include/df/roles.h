/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entry points of the subcommands, called by src/main.c with argv[0] set to the
 * subcommand name. Each returns the process exit status: 0 success, 1 failure,
 * 2 usage or configuration error, or one of the codes below.
 */
#ifndef DF_ROLES_H
#define DF_ROLES_H

/* `dragonfly peer`: another peer holds the data dir (so `get` waits for that one). */
#define DF_EXIT_PEER_LOCKED 3
/* In a peer's data dir: flock'd by the peer that owns the dir, and holds its pid. */
#define DF_PEER_LOCK_FILE "peer.lock"

int cli_cert_main(int argc, char **argv);
int cli_get_main(int argc, char **argv);
int cli_version_main(int argc, char **argv);
int peer_main(int argc, char **argv);
int sched_main(int argc, char **argv);

#endif
