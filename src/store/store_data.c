/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Task data files. The path is built only from a validated task id, so an id from the
 * network can never name a file outside the content tree. Files are sparse: pieces land at
 * their offsets in any order and holes read as zeros (never served: only recorded pieces
 * are).
 */
#include "df/store_data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "df/df_fs.h"
#include "df/df_id.h"

int
store_data_path(const char *data_dir, const char *task_id, char *out, size_t outlen)
{
    int n;

    if (!df_id_task_is_valid(task_id))
        return DF_EINVAL;
    n = snprintf(out, outlen, "%s/content/tasks/%.3s/%s", data_dir, task_id, task_id);
    if (n < 0 || (size_t)n >= outlen)
        return DF_ETOOBIG;
    return 0;
}

int
store_data_open(const char *data_dir, const char *task_id, bool create, int *fd,
                struct df_error *err)
{
    char path[STORE_DATA_PATH_MAX], *slash;
    int f = -1, rv;
    bool created = false;

    if ((rv = store_data_path(data_dir, task_id, path, sizeof(path))) != 0) {
        df_error_set(err, rv, "data file: bad task id or path too long");
        goto out;
    }
    f = open(path, O_RDWR | O_CLOEXEC);
    if (f == -1 && errno == ENOENT && create) {
        slash = strrchr(path, '/');
        *slash = '\0';
        if (df_fs_mkdirs(path, 0700) != 0) {
            rv = df_error_set(err, DF_EIO, "%s: cannot create: %s", path, strerror(errno));
            goto out;
        }
        *slash = '/';
        f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        created = f != -1;
    }
    if (f == -1) {
        rv = df_error_set(err, errno == ENOENT ? DF_ENOTFOUND : DF_EIO, "%s: %s", path,
                          strerror(errno));
        goto out;
    }
    if (created) {
        /* make the new entry (and a new shard directory) durable */
        slash = strrchr(path, '/');
        *slash = '\0';
        rv = df_fs_fsync_dir(path);
        if (rv == 0 && (slash = strrchr(path, '/')) != NULL) {
            *slash = '\0';
            rv = df_fs_fsync_dir(path);
        }
        if (rv != 0) {
            df_error_set(err, rv, "%s: fsync: %s", path, strerror(errno));
            goto out;
        }
    }
    *fd = f;
    f = -1;
    rv = 0;
out:
    if (f != -1)
        close(f);
    return rv;
}

int
store_data_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    ssize_t n;

    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        return DF_EINVAL;
    while (len > 0) {
        n = pwrite(fd, p, len, (off_t)off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return DF_EIO;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int
store_data_pwritev(int fd, struct iovec *iov, int n, uint64_t off)
{
    ssize_t w;

    if (off > (uint64_t)INT64_MAX)
        return DF_EINVAL;
    while (n > 0) {
        w = pwritev(fd, iov, n, (off_t)off);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return DF_EIO;
        }
        off += (uint64_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int
store_data_pread(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    ssize_t n;

    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        return DF_EINVAL;
    while (len > 0) {
        n = pread(fd, p, len, (off_t)off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* the file ends before the piece: truncated behind our back */
            return DF_EIO;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int
store_data_sync(int fd, enum store_data_sync policy)
{
    if (policy == STORE_DATA_SYNC_NONE)
        return 0;
    while (fdatasync(fd) == -1) {
        if (errno != EINTR)
            return DF_EIO;
    }
    return 0;
}

int
store_data_set_size(int fd, uint64_t size)
{
    if (size > (uint64_t)INT64_MAX)
        return DF_EINVAL;
    return ftruncate(fd, (off_t)size) == 0 ? 0 : DF_EIO;
}

int
store_data_remove(const char *data_dir, const char *task_id)
{
    char path[STORE_DATA_PATH_MAX];
    int rv;

    if ((rv = store_data_path(data_dir, task_id, path, sizeof(path))) != 0)
        return rv;
    if (unlink(path) == -1 && errno != ENOENT)
        return DF_EIO;
    return 0;
}
