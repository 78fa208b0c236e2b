/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory creation and the private-directory rule for data dirs. stat() follows a
 * symlinked data dir on purpose (operators move /var/lib/dragonfly to a bigger disk); the
 * rule is checked on the directory it points to.
 */
#include "df/df_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df/xmalloc.h"

int
df_fs_mkdirs(const char *path, mode_t mode)
{
    char *p = NULL, *s;
    int rv;

    if (path == NULL || *path == '\0') {
        errno = EINVAL;
        rv = DF_EINVAL;
        goto out;
    }
    p = xstrdup(path);
    /* each prefix ending before a '/', then the whole path */
    for (s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) == -1 && errno != EEXIST) {
            rv = DF_EIO;
            goto out;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    rv = 0;
out:
    free(p);
    return rv;
}

int
df_fs_dir_check_private(const char *path, struct df_error *err)
{
    struct stat st;

    if (stat(path, &st) == -1) {
        if (errno == ENOENT)
            return df_error_set(err, DF_ENOTFOUND, "%s: does not exist", path);
        return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return df_error_set(err, DF_EPERM, "%s: not a directory", path);
    if (st.st_uid != geteuid())
        return df_error_set(err, DF_EPERM, "%s: owned by uid %u, not by us (uid %u)", path,
                            (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return df_error_set(err, DF_EPERM,
                            "%s: writable by group or others (mode %04o); chmod go-w it", path,
                            (unsigned)(st.st_mode & 07777));
    return 0;
}

int
df_fs_dir_ensure_private(const char *path, struct df_error *err)
{
    if (path == NULL || *path == '\0')
        return df_error_set(err, DF_EINVAL, "empty directory path");
    if (df_fs_mkdirs(path, 0700) != 0)
        return df_error_set(err, DF_EIO, "%s: cannot create: %s", path, strerror(errno));
    return df_fs_dir_check_private(path, err);
}

int
df_fs_fsync_dir(const char *path)
{
    int fd, rv;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return DF_EIO;
    rv = fsync(fd) == 0 ? 0 : DF_EIO;
    close(fd);
    return rv;
}
