/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "df/df_fs.h"

#include "../unit_tmp.h"

static char tmpdir[64];

static void
setup(void)
{
    unit_tmp_make(tmpdir, sizeof(tmpdir), "fs");
}

static void
teardown(void)
{
    unit_tmp_remove(tmpdir);
}

START_TEST(test_ensure_creates_0700)
{
    char path[128];
    struct df_error err = {{0}};
    struct stat st;

    snprintf(path, sizeof(path), "%s/a/b/data", tmpdir);
    ck_assert_int_eq(df_fs_dir_check_private(path, &err), DF_ENOTFOUND);
    ck_assert_msg(df_fs_dir_ensure_private(path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/a", tmpdir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0077, 0);
    /* again: already there is fine */
    snprintf(path, sizeof(path), "%s/a/b/data/", tmpdir);
    ck_assert_int_eq(df_fs_dir_ensure_private(path, &err), 0);
    ck_assert_int_eq(df_fs_fsync_dir(path), 0);
    ck_assert_int_eq(df_fs_dir_ensure_private("", &err), DF_EINVAL);
}

END_TEST

START_TEST(test_refuse_unsafe)
{
    char path[128];
    struct df_error err = {{0}};
    FILE *f;

    snprintf(path, sizeof(path), "%s/d", tmpdir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(chmod(path, 0770), 0);
    ck_assert_int_eq(df_fs_dir_ensure_private(path, &err), DF_EPERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "writable by group or others"));
    ck_assert_int_eq(chmod(path, 0702), 0);
    ck_assert_int_eq(df_fs_dir_check_private(path, &err), DF_EPERM);
    ck_assert_int_eq(chmod(path, 0755), 0); /* readable is allowed */
    ck_assert_int_eq(df_fs_dir_check_private(path, &err), 0);

    if (geteuid() == 0) {
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        ck_assert_int_eq(df_fs_dir_check_private(path, &err), DF_EPERM);
        ck_assert_ptr_nonnull(strstr(err.msg, "owned by uid 65534"));
    }

    snprintf(path, sizeof(path), "%s/file", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(df_fs_dir_check_private(path, &err), DF_EPERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a directory"));
    snprintf(path, sizeof(path), "%s/file/sub", tmpdir);
    ck_assert_int_eq(df_fs_dir_ensure_private(path, &err), DF_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot create"));
}

END_TEST

Suite *test_df_fs_suite(void);

Suite *
test_df_fs_suite(void)
{
    Suite *s = suite_create("df_fs");
    TCase *tc = tcase_create("dirs");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ensure_creates_0700);
    tcase_add_test(tc, test_refuse_unsafe);
    suite_add_tcase(s, tc);
    return s;
}
