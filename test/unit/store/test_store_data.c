/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "df/df_digest.h"
#include "df/df_id.h"
#include "df/store_data.h"

#include "../unit_tmp.h"

#define GIB (UINT64_C(1) << 30)

static char tmpdir[64];
static const char *const id = "06408fbf247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a87d3203c5ca";

static void
setup(void)
{
    unit_tmp_make(tmpdir, sizeof(tmpdir), "data");
}

static void
teardown(void)
{
    unit_tmp_remove(tmpdir);
}

START_TEST(test_path)
{
    char path[STORE_DATA_PATH_MAX], small[16];

    ck_assert_int_eq(store_data_path("/var/lib/df", id, path, sizeof(path)), 0);
    ck_assert_str_eq(path, "/var/lib/df/content/tasks/064/"
                           "06408fbf247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a87d3203c5ca");
    ck_assert_int_eq(store_data_path("/d", id, small, sizeof(small)), DF_ETOOBIG);
    /* ids are validated: nothing outside the content tree can be named */
    ck_assert_int_eq(store_data_path("/d", "../../../../etc/passwd", path, sizeof(path)),
                     DF_EINVAL);
    ck_assert_int_eq(store_data_path("/d",
                                     "06408FBF247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a8"
                                     "7d3203c5ca",
                                     path, sizeof(path)),
                     DF_EINVAL);
    ck_assert_int_eq(store_data_path("/d", "", path, sizeof(path)), DF_EINVAL);
    ck_assert_int_eq(store_data_remove(tmpdir, "nope"), DF_EINVAL);
}

END_TEST

/* Pieces land above 4 GiB in a sparse file and read back; holes cost no blocks. */
START_TEST(test_sparse_above_4gib)
{
    struct df_error err = {{0}};
    char path[STORE_DATA_PATH_MAX];
    uint8_t buf[8192], back[8192], md1[DF_SHA256_LEN], md2[DF_SHA256_LEN];
    const uint64_t off = 5 * GIB + 4095, size = 6 * GIB + 1;
    struct stat st;
    int fd = -1, fd2 = -1;

    ck_assert_int_eq(store_data_open(tmpdir, id, false, &fd, &err), DF_ENOTFOUND);
    ck_assert_int_eq(fd, -1);
    ck_assert_msg(store_data_open(tmpdir, id, true, &fd, &err) == 0, "%s", err.msg);
    ck_assert_int_ne(fd, -1);
    ck_assert_int_eq(store_data_set_size(fd, size), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    ck_assert_int_eq(store_data_pwrite(fd, buf, sizeof(buf), off), 0);
    ck_assert_int_eq(store_data_pwrite(fd, buf, 100, 0), 0);
    ck_assert_int_eq(store_data_sync(fd, STORE_DATA_SYNC_PIECE), 0);
    ck_assert_int_eq(store_data_sync(fd, STORE_DATA_SYNC_NONE), 0);

    /* read through a second descriptor, as the upload side would */
    ck_assert_int_eq(store_data_open(tmpdir, id, false, &fd2, &err), 0);
    ck_assert_int_eq(store_data_pread(fd2, back, sizeof(back), off), 0);
    df_sha256(buf, sizeof(buf), md1);
    df_sha256(back, sizeof(back), md2);
    ck_assert_mem_eq(md1, md2, sizeof(md1));
    ck_assert_int_eq(store_data_pread(fd2, back, 100, 0), 0);
    ck_assert_mem_eq(back, buf, 100);
    /* a hole reads as zeros; past the end is an error */
    ck_assert_int_eq(store_data_pread(fd2, back, 16, 3 * GIB), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(back[i], 0);
    ck_assert_int_eq(store_data_pread(fd2, back, 2, size - 1), DF_EIO);
    ck_assert_int_eq(store_data_pread(fd2, back, 1, UINT64_MAX), DF_EINVAL);
    ck_assert_int_eq(store_data_pwrite(fd2, buf, 1, (uint64_t)INT64_MAX), DF_EINVAL);

    ck_assert_int_eq(store_data_path(tmpdir, id, path, sizeof(path)), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, size);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_msg((uint64_t)st.st_blocks * 512 < 1024 * 1024, "not sparse: %lld blocks",
                  (long long)st.st_blocks);
    *strrchr(path, '/') = '\0';
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);

    close(fd);
    close(fd2);
    ck_assert_int_eq(store_data_remove(tmpdir, id), 0);
    ck_assert_int_eq(store_data_remove(tmpdir, id), 0);
    ck_assert_int_eq(store_data_open(tmpdir, id, false, &fd, &err), DF_ENOTFOUND);
}

END_TEST

/* "created" is true only for a file that did not exist: then no recorded piece is in it. */
START_TEST(test_open_created_and_stamp)
{
    struct df_error err = {{0}};
    struct store_data_stamp a, b, c;
    char path[STORE_DATA_PATH_MAX];
    bool created = false;
    int fd = -1, fd2 = -1;

    ck_assert_int_eq(store_data_stamp_path(tmpdir, id, &a), DF_ENOTFOUND);
    ck_assert_msg(store_data_open_created(tmpdir, id, &fd, &created, &err) == 0, "%s", err.msg);
    ck_assert(created);
    ck_assert_int_eq(store_data_pwrite(fd, "hello", 5, 0), 0);
    ck_assert_int_eq(store_data_seal(fd, &a), 0);
    ck_assert_uint_eq(a.size, 5);
    ck_assert_int_eq(store_data_open_created(tmpdir, id, &fd2, &created, &err), 0);
    ck_assert(!created);
    ck_assert_int_eq(store_data_stamp(fd2, &b), 0);
    ck_assert(store_data_stamp_is_equal(&a, &b));
    ck_assert_int_eq(store_data_stamp_path(tmpdir, id, &b), 0);
    ck_assert(store_data_stamp_is_equal(&a, &b));
    close(fd2);

    /* a write changes the stamp (mtime or size), even one of the same length */
    usleep(20000); /* past the filesystem's timestamp granularity */
    ck_assert_int_eq(store_data_pwrite(fd, "HELLO", 5, 0), 0);
    ck_assert_int_eq(store_data_stamp(fd, &b), 0);
    ck_assert(!store_data_stamp_is_equal(&a, &b));
    ck_assert_int_eq(store_data_pwrite(fd, "!", 1, 5), 0);
    ck_assert_int_eq(store_data_stamp(fd, &c), 0);
    ck_assert_uint_eq(c.size, 6);
    ck_assert(!store_data_stamp_is_equal(&b, &c) || b.size != c.size);
    close(fd);

    /* the same name, another file: another inode while the old one is still open */
    ck_assert_int_eq(store_data_open(tmpdir, id, false, &fd, &err), 0);
    ck_assert_int_eq(store_data_remove(tmpdir, id), 0);
    ck_assert_int_eq(store_data_open_created(tmpdir, id, &fd2, &created, &err), 0);
    ck_assert(created);
    ck_assert_int_eq(store_data_stamp(fd2, &b), 0);
    ck_assert_uint_ne(b.ino, a.ino);
    close(fd);
    close(fd2);
    ck_assert_int_eq(store_data_path(tmpdir, id, path, sizeof(path)), 0);
    ck_assert_int_eq(store_data_open_created("/proc/nonexistent", id, &fd, &created, &err), DF_EIO);
}

END_TEST

/* store_data_hash re-hashes a range: equal to hashing the bytes, EIO past the end. */
START_TEST(test_hash_range)
{
    struct df_error err = {{0}};
    uint8_t *buf = malloc(700000), md[DF_SHA256_LEN], want[DF_SHA256_LEN];
    int fd = -1;

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < 700000; i++)
        buf[i] = (uint8_t)(i * 31 + (i >> 11));
    ck_assert_int_eq(store_data_open(tmpdir, id, true, &fd, &err), 0);
    ck_assert_int_eq(store_data_pwrite(fd, buf, 700000, 0), 0);
    ck_assert_int_eq(store_data_hash(fd, 1000, 600000, md), 0);
    df_sha256(buf + 1000, 600000, want);
    ck_assert_mem_eq(md, want, sizeof(md));
    ck_assert_int_eq(store_data_hash(fd, 0, 0, md), 0);
    df_sha256(buf, 0, want);
    ck_assert_mem_eq(md, want, sizeof(md));
    /* zeroed bytes (a write lost in a power cut) no longer hash to the digest */
    memset(buf, 0, 4096);
    ck_assert_int_eq(store_data_pwrite(fd, buf, 4096, 300000), 0);
    ck_assert_int_eq(store_data_hash(fd, 1000, 600000, md), 0);
    ck_assert_mem_ne(md, want, sizeof(md));
    ck_assert_int_eq(store_data_hash(fd, 699999, 2, md), DF_EIO);
    ck_assert_int_eq(store_data_hash(fd, UINT64_MAX, 1, md), DF_EINVAL);
    close(fd);
    free(buf);
}

END_TEST

/* Two ranges side by side: each equals its own hash, whatever the other's length; a range
 * that fails (past the end) leaves the other's digest right. */
START_TEST(test_hash_x2)
{
    struct df_error err = {{0}};
    uint8_t *buf = malloc(900000), want[DF_SHA256_LEN];
    struct store_data_range r[2];
    static const uint64_t spans[][4] = {
            {0, 600000, 123, 600000}, /* equal lengths */
            {5, 300001, 7, 899993},   /* the second much longer, odd tails */
            {0, 0, 64, 262144},       /* one empty */
            {899999, 2, 1000, 5000},  /* the first fails */
    };
    int fd = -1;

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < 900000; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 9));
    ck_assert_int_eq(store_data_open(tmpdir, id, true, &fd, &err), 0);
    ck_assert_int_eq(store_data_pwrite(fd, buf, 900000, 0), 0);
    for (size_t k = 0; k < sizeof(spans) / sizeof(spans[0]); k++) {
        r[0] = (struct store_data_range){.fd = fd, .off = spans[k][0], .len = spans[k][1]};
        r[1] = (struct store_data_range){.fd = fd, .off = spans[k][2], .len = spans[k][3]};
        store_data_hash_x2(r);
        for (int i = 0; i < 2; i++) {
            if (r[i].off + r[i].len > 900000) {
                ck_assert_int_eq(r[i].rv, DF_EIO);
                ck_assert_int_eq(r[i].err, EIO);
                continue;
            }
            ck_assert_int_eq(r[i].rv, 0);
            df_sha256(buf + r[i].off, r[i].len, want);
            ck_assert_mem_eq(r[i].md, want, sizeof(want));
        }
    }
    close(fd);
    free(buf);
}

END_TEST

Suite *test_store_data_suite(void);

Suite *
test_store_data_suite(void)
{
    Suite *s = suite_create("store_data");
    TCase *tc = tcase_create("data");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_path);
    tcase_add_test(tc, test_sparse_above_4gib);
    tcase_add_test(tc, test_open_created_and_stamp);
    tcase_add_test(tc, test_hash_range);
    tcase_add_test(tc, test_hash_x2);
    suite_add_tcase(s, tc);
    return s;
}
