/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For unit tests that work in a scratch directory: make a fresh one under /tmp in the
 * fixture's setup and remove it with all it holds in teardown. Header-only: each test file
 * that includes it gets its own static copy.
 */
#ifndef DF_UNIT_TMP_H
#define DF_UNIT_TMP_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include <check.h>

static inline int
unit_tmp_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Make a new directory /tmp/df-<tag>-XXXXXX and put its path in dir (len bytes). */
static inline void
unit_tmp_make(char *dir, size_t len, const char *tag)
{
    ck_assert_int_lt(snprintf(dir, len, "/tmp/df-%s-XXXXXX", tag), (int)len);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Remove dir and everything under it (symlinks are removed, not followed). */
static inline void
unit_tmp_remove(const char *dir)
{
    nftw(dir, unit_tmp_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
