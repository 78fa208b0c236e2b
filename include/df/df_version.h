/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The binary's version and git commit (the Makefile's build id, `dragonfly version`), for
 * what a host tells others about itself: schedulers and peers send them to the manager.
 */
#ifndef DF_DF_VERSION_H
#define DF_DF_VERSION_H

const char *df_version(void);
const char *df_git_commit(void);

#endif
