/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filesystem helpers with the rules our data directories follow: created 0700, and refused
 * when another user owns them or group/other may write them (someone else could then plant
 * or swap cached content). Blocking: call at startup or from df_work threads.
 */
#ifndef DF_DF_FS_H
#define DF_DF_FS_H

#include <sys/types.h>

#include "df/df_err.h"

/*
 * Create path and any missing parents with mode (umask applies). Existing directories are
 * fine. Returns DF_EIO (errno set) on failure, DF_EINVAL for an empty path.
 */
int df_fs_mkdirs(const char *path, mode_t mode);

/*
 * Check that path is a directory owned by the effective user and not writable by group or
 * other. Returns DF_ENOTFOUND if it is missing, DF_EPERM if it breaks a rule, DF_EIO on
 * other errors, each with a message in err naming path.
 */
int df_fs_dir_check_private(const char *path, struct df_error *err);

/* Create path (and parents) 0700 when missing, then df_fs_dir_check_private() it. */
int df_fs_dir_ensure_private(const char *path, struct df_error *err);

/* fsync the directory at path so entries created in it survive a crash. DF_EIO on failure. */
int df_fs_fsync_dir(const char *path);

#endif
