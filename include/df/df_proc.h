/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon process plumbing shared by every role: the --ready-file handshake with tests and
 * supervisors, the stop/reload signals as loop events, and group names for file ownership.
 */
#ifndef DF_DF_PROC_H
#define DF_DF_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"

struct event_base;
struct df_proc_signals;

/*
 * The id of group name (a name, or a number taken as it is) from group_file (NULL:
 * /etc/group), read as text: a static binary has no NSS, so only files count. Returns 0
 * and *out, or DF_ENOTFOUND / DF_EIO / DF_EINVAL with one line in err naming the group.
 */
int df_proc_group_lookup(const char *name, const char *group_file, gid_t *out,
                         struct df_error *err);

/*
 * Write doc as JSON to path atomically (temp file beside it, fsync, rename), so a reader
 * sees nothing or the whole document. Returns 0 or DF_EIO with a message in err.
 */
int df_proc_write_ready_file(const char *path, const cJSON *doc, struct df_error *err);

/*
 * Ignore SIGPIPE and route SIGTERM/SIGINT to on_stop and SIGHUP to on_reload (may be
 * NULL) as loop callbacks. A second SIGTERM/SIGINT while stopping exits at once (status 1).
 * Returns NULL on OOM. Free with df_proc_signals_free.
 */
struct df_proc_signals *df_proc_signals_new(struct event_base *base, void (*on_stop)(void *),
                                            void (*on_reload)(void *), void *arg);

void df_proc_signals_free(struct df_proc_signals *s);

#endif
