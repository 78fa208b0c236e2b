/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clock reads. The only state is the high-water mark of df_time_wall_steady_ms, an atomic
 * raised with compare-and-swap so roles on different threads share one non-decreasing view.
 */
#include "df/df_time.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "df/df_err.h"

static _Atomic int64_t df_time_wall_last;

/* Nanoseconds of clock id; 0 if the kernel refuses it (it does not for these ids). */
static int64_t
df_time_read_ns(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t
df_time_mono_ns(void)
{
    return (uint64_t)df_time_read_ns(CLOCK_MONOTONIC);
}

uint64_t
df_time_mono_us(void)
{
    return df_time_mono_ns() / 1000u;
}

uint64_t
df_time_mono_ms(void)
{
    return df_time_mono_ns() / 1000000u;
}

uint64_t
df_time_mono_coarse_ms(void)
{
    return (uint64_t)df_time_read_ns(CLOCK_MONOTONIC_COARSE) / 1000000u;
}

int64_t
df_time_wall_ms(void)
{
    return df_time_read_ns(CLOCK_REALTIME) / 1000000;
}

int64_t
df_time_wall_us(void)
{
    return df_time_read_ns(CLOCK_REALTIME) / 1000;
}

int64_t
df_time_wall_steady_ms(void)
{
    int64_t now = df_time_wall_ms(), last = atomic_load(&df_time_wall_last);

    while (now > last) {
        if (atomic_compare_exchange_weak(&df_time_wall_last, &last, now))
            return now;
    }
    return last > now ? last : now;
}

/* n decimal digits of v (>= 0) at o. */
static void
df_time_digits_put(char *o, int v, int n)
{
    while (n-- > 0) {
        o[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/*
 * The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
 * civil_from_days): plain arithmetic, where gmtime_r takes glibc's time zone lock.
 */
static void
df_time_civil(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds: four-digit years */
#define DF_TIME_SECS_MIN (-62167219200LL)
#define DF_TIME_SECS_MAX 253402300799LL

char *
df_time_format_rfc3339(int64_t ms, char out[DF_TIME_RFC3339_LEN])
{
    int64_t secs = ms / 1000, days, sod;
    int frac = (int)(ms % 1000), y, mo, d;
    time_t tt;
    struct tm tm;

    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    if (secs < DF_TIME_SECS_MIN || secs > DF_TIME_SECS_MAX) {
        tt = (time_t)secs;
        if (gmtime_r(&tt, &tm) == NULL)
            snprintf(out, DF_TIME_RFC3339_LEN, "1970-01-01T00:00:00.000Z");
        else
            snprintf(out, DF_TIME_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     frac);
        return out;
    }
    /* the same text with the digits placed by hand: the manager's lists format 30 a page */
    days = (secs >= 0 ? secs : secs - 86399) / 86400;
    sod = secs - days * 86400;
    df_time_civil(days, &y, &mo, &d);
    memcpy(out, "0000-00-00T00:00:00.000Z", 25);
    df_time_digits_put(out, y, 4);
    df_time_digits_put(out + 5, mo, 2);
    df_time_digits_put(out + 8, d, 2);
    df_time_digits_put(out + 11, (int)(sod / 3600), 2);
    df_time_digits_put(out + 14, (int)(sod / 60 % 60), 2);
    df_time_digits_put(out + 17, (int)(sod % 60), 2);
    df_time_digits_put(out + 20, frac, 3);
    return out;
}

/* n decimal digits of s as an int, or -1. */
static int
df_time_digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/*
 * The seconds since the epoch of "YYYY-MM-DDTHH:MM:SS" at the start of s (what follows is
 * the caller's) into *secs: 0, or DF_EINVAL when s does not start so or names no valid time
 * (a leap second only when leap). Shared by the strict and the lenient parser.
 */
static int
df_time_parse_fields(const char *s, bool leap, int64_t *secs)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    struct tm tm;

    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return DF_EINVAL;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = df_time_digits(s, 4) - 1900;
    tm.tm_mon = df_time_digits(s + 5, 2) - 1;
    tm.tm_mday = df_time_digits(s + 8, 2);
    tm.tm_hour = df_time_digits(s + 11, 2);
    tm.tm_min = df_time_digits(s + 14, 2);
    tm.tm_sec = df_time_digits(s + 17, 2);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > (leap ? 60 : 59))
        return DF_EINVAL;
    *secs = (int64_t)timegm(&tm);
    return 0;
}

int
df_time_parse_rfc3339(const char *s, int64_t *ms)
{
    int64_t secs;

    /* exactly "dddd-dd-ddTdd:dd:dd.dddZ" */
    if (strlen(s) != 24 || s[19] != '.' || df_time_digits(s + 20, 3) < 0 || s[23] != 'Z' ||
        df_time_parse_fields(s, false, &secs) != 0)
        return DF_EINVAL;
    *ms = secs * 1000 + df_time_digits(s + 20, 3);
    return 0;
}

int
df_time_parse_rfc3339_any(const char *s, int64_t *ms)
{
    const char *p = s + 19;
    int64_t secs;
    int off = 0, oh, om;

    if (strnlen(s, 20) < 20 || df_time_parse_fields(s, true, &secs) != 0)
        return DF_EINVAL;
    if (*p == '.') { /* a fraction of any length, dropped below the second */
        if (*++p < '0' || *p > '9')
            return DF_EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == '+' || *p == '-') {
        if ((oh = df_time_digits(p + 1, 2)) < 0 || p[3] != ':' ||
            (om = df_time_digits(p + 4, 2)) < 0 || oh > 23 || om > 59)
            return DF_EINVAL;
        off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        p += 6;
    } else if (*p++ != 'Z') {
        return DF_EINVAL;
    }
    if (*p != '\0')
        return DF_EINVAL;
    *ms = (secs - off) * 1000;
    return 0;
}

const char *
df_time_format_http(int64_t secs, char *buf, size_t len)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)secs;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
        tm.tm_mon > 11) {
        snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 GMT");
        return buf;
    }
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}
