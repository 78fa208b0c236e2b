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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "df/df_fs.h"
#include "df/df_id.h"
#include "df/xmalloc.h"

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

/* Open (or create when allowed) the file; *created tells which. */
static int
store_data_open_impl(const char *data_dir, const char *task_id, bool create, int *fd,
                     bool *created_out, struct df_error *err)
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
        /* O_EXCL: "created" must mean that no earlier file (and no piece in it) existed */
        f = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        created = f != -1;
        if (f == -1 && errno == EEXIST)
            f = open(path, O_RDWR | O_CLOEXEC);
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
    if (created_out != NULL)
        *created_out = created;
    f = -1;
    rv = 0;
out:
    if (f != -1)
        close(f);
    return rv;
}

int
store_data_open(const char *data_dir, const char *task_id, bool create, int *fd,
                struct df_error *err)
{
    return store_data_open_impl(data_dir, task_id, create, fd, NULL, err);
}

int
store_data_open_created(const char *data_dir, const char *task_id, int *fd, bool *created,
                        struct df_error *err)
{
    return store_data_open_impl(data_dir, task_id, true, fd, created, err);
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

static void
store_data_stamp_from_stat(const struct stat *sb, struct store_data_stamp *out)
{
    memset(out, 0, sizeof(*out));
    out->dev = (uint64_t)sb->st_dev;
    out->ino = (uint64_t)sb->st_ino;
    out->size = sb->st_size > 0 ? (uint64_t)sb->st_size : 0;
    out->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

int
store_data_stamp(int fd, struct store_data_stamp *out)
{
    struct stat sb;

    if (fstat(fd, &sb) == -1)
        return DF_EIO;
    store_data_stamp_from_stat(&sb, out);
    return 0;
}

int
store_data_stamp_path(const char *data_dir, const char *task_id, struct store_data_stamp *out)
{
    char path[STORE_DATA_PATH_MAX];
    struct stat sb;
    int rv;

    if ((rv = store_data_path(data_dir, task_id, path, sizeof(path))) != 0)
        return rv;
    if (stat(path, &sb) == -1)
        return errno == ENOENT ? DF_ENOTFOUND : DF_EIO;
    store_data_stamp_from_stat(&sb, out);
    return 0;
}

bool
store_data_stamp_is_equal(const struct store_data_stamp *a, const struct store_data_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

int
store_data_seal(int fd, struct store_data_stamp *out)
{
    /* fsync, not fdatasync: the mtime in the stamp must survive a power loss too, or a
     * sealed task would look changed (and be re-hashed) after one */
    while (fsync(fd) == -1) {
        if (errno != EINTR)
            return DF_EIO;
    }
    return store_data_stamp(fd, out);
}

/*
 * Hash n (1 or 2) ranges; while two are left they go through df_sha256_update_x2. Slices
 * of 256 KiB stay in L2: cheaper than a mapping's page work.
 */
static void
store_data_hash_ranges(struct store_data_range *r, size_t n)
{
    const size_t cap = 256 * 1024;
    struct df_sha256 sha[2];
    uint8_t *buf[2] = {NULL, NULL};
    uint64_t pos[2] = {0, 0};
    size_t i, want, live;

    for (i = 0; i < n; i++) {
        r[i].rv = r[i].err = 0;
        if (r[i].off > (uint64_t)INT64_MAX || r[i].len > (uint64_t)INT64_MAX - r[i].off)
            r[i].rv = DF_EINVAL;
        buf[i] = xmalloc(cap);
        df_sha256_init(&sha[i]);
    }
    for (;;) {
        live = 0;
        want = cap;
        for (i = 0; i < n; i++) {
            if (r[i].rv != 0 || pos[i] == r[i].len)
                continue;
            live |= (size_t)1 << i;
            if (r[i].len - pos[i] < want)
                want = (size_t)(r[i].len - pos[i]);
        }
        if (live == 0)
            break;
        for (i = 0; i < n; i++) {
            if ((live & ((size_t)1 << i)) == 0)
                continue;
            errno = 0;
            if ((r[i].rv = store_data_pread(r[i].fd, buf[i], want, r[i].off + pos[i])) != 0) {
                r[i].err = errno != 0 ? errno : EIO;
                live &= ~((size_t)1 << i);
            }
        }
        if (live == 3)
            df_sha256_update_x2(&sha[0], buf[0], &sha[1], buf[1], want);
        else if (live != 0)
            df_sha256_update(&sha[live >> 1], buf[live >> 1], want);
        for (i = 0; i < n; i++) {
            if (live & ((size_t)1 << i))
                pos[i] += want;
        }
    }
    for (i = 0; i < n; i++) {
        if (r[i].rv == 0)
            df_sha256_final(&sha[i], r[i].md);
        free(buf[i]);
    }
}

int
store_data_hash(int fd, uint64_t off, uint64_t len, uint8_t md[DF_SHA256_LEN])
{
    struct store_data_range r = {.fd = fd, .off = off, .len = len};

    store_data_hash_ranges(&r, 1);
    if (r.rv == 0)
        memcpy(md, r.md, DF_SHA256_LEN);
    else
        errno = r.err;
    return r.rv;
}

void
store_data_hash_x2(struct store_data_range r[2])
{
    store_data_hash_ranges(r, 2);
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
