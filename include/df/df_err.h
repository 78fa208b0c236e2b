/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes shared by every layer: functions return 0 or a negative DF_E* value.
 * Mapping to RPC/HTTP status happens only in rpc_err.c. Calls that need an
 * operator-facing message also fill a struct df_error.
 */
#ifndef DF_DF_ERR_H
#define DF_DF_ERR_H

#include <stddef.h>

enum df_errno {
    DF_OK = 0,
    DF_ENOMEM = -1,     /* allocation failed */
    DF_EINVAL = -2,     /* bad argument or input */
    DF_EPROTO = -3,     /* peer broke the protocol */
    DF_EIO = -4,        /* read/write/disk failure */
    DF_EDIGEST = -5,    /* content does not match its digest */
    DF_ETOOBIG = -6,    /* over a configured limit */
    DF_ETIMEDOUT = -7,  /* a deadline passed */
    DF_ENOTFOUND = -8,  /* no such object */
    DF_ECLOSED = -9,    /* connection or stream closed */
    DF_ETLS = -10,      /* TLS handshake or record failure */
    DF_ECONNECT = -11,  /* could not connect */
    DF_EINTERNAL = -12, /* a bug: should not happen */
    DF_EAGAIN = -13,    /* try again later */
    DF_ECANCELED = -14, /* cancelled by the caller */
    DF_EEXIST = -15,    /* already exists */
    DF_EPERM = -16,     /* not allowed */
    DF_EUNAVAIL = -17,  /* service unavailable */
    DF_EDNS = -18,      /* name resolution failed */
    DF_ELIMIT = -19,    /* rate or count limit hit */
    DF_ENOSPC = -20,    /* a disk (data file or database) is full */
};

/* An operator-facing message: one line, no trailing newline. */
struct df_error {
    char msg[512];
};

/* Return a static description of a DF_E* code (never NULL). */
const char *df_strerror(int code);

/* Format a message into err (may be NULL: then nothing happens). Returns code unchanged. */
int df_error_set(struct df_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define DF_ASSERT(c)                                \
    do {                                            \
        if (!(c))                                   \
            df_assert_fail(#c, __FILE__, __LINE__); \
    } while (0)

/* Log a programmer error and evaluate to DF_EINTERNAL. */
#define DF_BUG(c) df_bug(#c, __FILE__, __LINE__)

#define DF_FREE(p, fn) \
    do {               \
        fn(p);         \
        (p) = NULL;    \
    } while (0)

#define DF_NELEM(a) (sizeof(a) / sizeof((a)[0]))

_Noreturn void df_assert_fail(const char *expr, const char *file, int line);
int df_bug(const char *expr, const char *file, int line);

#endif
