/* SPDX-License-Identifier: Apache-2.0 */
/* Error code descriptions and the assertion/bug helpers. */
#include "df/df_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "df/log.h"

const char *
df_strerror(int code)
{
    switch (code) {
    case DF_OK:
        return "success";
    case DF_ENOMEM:
        return "out of memory";
    case DF_EINVAL:
        return "invalid argument";
    case DF_EPROTO:
        return "protocol error";
    case DF_EIO:
        return "i/o error";
    case DF_EDIGEST:
        return "digest mismatch";
    case DF_ETOOBIG:
        return "too big";
    case DF_ETIMEDOUT:
        return "timed out";
    case DF_ENOTFOUND:
        return "not found";
    case DF_ECLOSED:
        return "connection closed";
    case DF_ETLS:
        return "tls error";
    case DF_ECONNECT:
        return "connection failed";
    case DF_EINTERNAL:
        return "internal error";
    case DF_EAGAIN:
        return "try again";
    case DF_ECANCELED:
        return "cancelled";
    case DF_EEXIST:
        return "already exists";
    case DF_EPERM:
        return "permission denied";
    case DF_EUNAVAIL:
        return "unavailable";
    case DF_EDNS:
        return "name resolution failed";
    case DF_ELIMIT:
        return "limit reached";
    case DF_ENOSPC:
        return "no space left on device";
    default:
        return "unknown error";
    }
}

int
df_error_set(struct df_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void
df_assert_fail(const char *expr, const char *file, int line)
{
    log_warnx("assertion failed: %s (%s:%d)", expr, file, line);
    abort();
}

int
df_bug(const char *expr, const char *file, int line)
{
    log_warnx("BUG: %s (%s:%d)", expr, file, line);
    return DF_EINTERNAL;
}
