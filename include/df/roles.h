/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entry points of the subcommands, called by src/main.c with argv[0] set to the
 * subcommand name. Each returns the process exit status: 0 success, 1 failure,
 * 2 usage or configuration error.
 */
#ifndef DF_ROLES_H
#define DF_ROLES_H

int cli_cert_main(int argc, char **argv);
int cli_get_main(int argc, char **argv);
int cli_version_main(int argc, char **argv);
int peer_main(int argc, char **argv);
int sched_main(int argc, char **argv);

#endif
