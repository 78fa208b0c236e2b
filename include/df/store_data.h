/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Task data files: one sparse file per task at <data-dir>/content/tasks/<id[0:3]>/<id>,
 * each piece written at its offset. Offsets are 64-bit. A stamp (device, inode, size, mtime)
 * identifies the file as it was when its pieces were last known good: the rows of a task are
 * trusted without re-hashing only while its data file still matches the stamp recorded with
 * them (store_task_seal). Blocking calls: the peer runs the long ones on df_work threads.
 */
#ifndef DF_STORE_DATA_H
#define DF_STORE_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/df_err.h"

/* Enough for any data dir path we accept plus the content path suffix. */
#define STORE_DATA_PATH_MAX 4096

/* When piece bytes reach stable storage, relative to recording the piece as verified. */
enum store_data_sync {
    STORE_DATA_SYNC_NONE = 0,  /* leave it to the kernel until the task is sealed: a power
                                  loss may lose pieces the database lists, and unsealed rows
                                  are re-hashed before they are trusted (the default) */
    STORE_DATA_SYNC_PIECE = 1, /* fdatasync before each piece is recorded */
};

/*
 * Write the path of task_id's data file under data_dir into out (outlen bytes). DF_EINVAL
 * for a malformed task id, DF_ETOOBIG when it does not fit.
 */
int store_data_path(const char *data_dir, const char *task_id, char *out, size_t outlen);

/* What identifies a data file's content between two looks at it (see store_task_seal). */
struct store_data_stamp {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
};

/*
 * Open task_id's data file read-write into *fd (the caller closes it). With create, the
 * shard directory and the file are created (0700/0600) if missing, and the directory is
 * synced so the entry survives a crash. DF_ENOTFOUND when absent without create, DF_EINVAL
 * for a bad id, DF_EIO otherwise, with a message in err; *fd untouched on failure.
 */
int store_data_open(const char *data_dir, const char *task_id, bool create, int *fd,
                    struct df_error *err);

/*
 * store_data_open with create, also telling in *created whether the file was missing (then
 * no piece recorded for the task can be in it). Same errors; outputs untouched on failure.
 */
int store_data_open_created(const char *data_dir, const char *task_id, int *fd, bool *created,
                            struct df_error *err);

/* Write all len bytes at off (retrying short writes). DF_EINVAL past 2^63, DF_EIO (errno). */
int store_data_pwrite(int fd, const void *buf, size_t len, uint64_t off);

struct iovec;

/*
 * Write the n buffers of iov back to back at off (retrying short writes). The iovecs are
 * consumed (modified). Returns 0, DF_EINVAL for an offset past INT64_MAX, or DF_EIO.
 */
int store_data_pwritev(int fd, struct iovec *iov, int n, uint64_t off);

/* Read exactly len bytes at off. DF_EIO on error or when the file ends first. */
int store_data_pread(int fd, void *buf, size_t len, uint64_t off);

/* Apply policy after writing a piece and before recording it. DF_EIO (errno) on failure. */
int store_data_sync(int fd, enum store_data_sync policy);

/* Set the file's size to the content length (sparse; no blocks allocated). */
int store_data_set_size(int fd, uint64_t size);

/* The stamp of the open file fd into *out. DF_EIO (errno) on failure. */
int store_data_stamp(int fd, struct store_data_stamp *out);

/* The stamp of task_id's data file into *out: DF_ENOTFOUND when it is missing, DF_EIO. */
int store_data_stamp_path(const char *data_dir, const char *task_id, struct store_data_stamp *out);

/* Whether two stamps describe the same file with the same content as far as stat tells. */
bool store_data_stamp_is_equal(const struct store_data_stamp *a, const struct store_data_stamp *b);

/*
 * Make everything written to fd durable (fsync: data and mtime), then take its stamp into
 * *out, for recording the pieces as sealed. DF_EIO (errno) on failure, *out untouched.
 */
int store_data_seal(int fd, struct store_data_stamp *out);

/*
 * SHA-256 of the len bytes at off of fd into md, read in slices of a buffer it allocates.
 * DF_EIO (errno; EIO when the file ends first), DF_EINVAL past INT64_MAX. Blocking.
 */
int store_data_hash(int fd, uint64_t off, uint64_t len, uint8_t md[DF_SHA256_LEN]);

/* One range to hash: fd, off and len in; md, rv (as store_data_hash's) and err (its errno)
 * out. */
struct store_data_range {
    int fd;
    uint64_t off, len;
    uint8_t md[DF_SHA256_LEN];
    int rv, err;
};

/*
 * Hash two ranges side by side (df_sha256_update_x2: faster than one after the other); a
 * range that fails does not stop the other. Blocking.
 */
void store_data_hash_x2(struct store_data_range r[2]);

/* Remove task_id's data file; a missing file is not an error. DF_EIO otherwise. */
int store_data_remove(const char *data_dir, const char *task_id);

#endif
