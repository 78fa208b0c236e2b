/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For unit tests that need cluster certificates: run `dragonfly cert ARGS...` in-process
 * (cli_cert_main) and fail the test unless it exits 0. Header-only: each test file that
 * includes it gets its own static copy.
 */
#ifndef DF_UNIT_CERT_H
#define DF_UNIT_CERT_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/roles.h"

/* `dragonfly cert first ...` (NULL-terminated, at most 30 arguments). */
static inline void
unit_cert(const char *first, ...)
{
    char *argv[32];
    int argc = 0, rv;
    const char *a;
    va_list ap;

    argv[argc++] = strdup("cert");
    va_start(ap, first);
    for (a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = strdup(a);
    va_end(ap);
    argv[argc] = NULL;
    rv = cli_cert_main(argc, argv);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    ck_assert_int_eq(rv, 0);
}

#endif
