/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exponential backoff with full jitter (the AWS architecture blog's "full jitter": spread
 * retries uniformly below an exponentially growing ceiling, so synchronized clients
 * de-synchronize) and Retry-After parsing. No state, no clock, no RNG of its own.
 */
#include "df/net_backoff.h"

#include <stdbool.h>
#include <string.h>

#define NET_BACKOFF_BASE_MS  100
#define NET_BACKOFF_MAX_MS   30000
#define NET_BACKOFF_SECS_MAX (UINT64_MAX / 1000)

uint64_t
net_backoff_delay_ms(const struct net_backoff *b, unsigned attempt, uint64_t retry_after_ms,
                     uint64_t rnd)
{
    uint64_t base = b->base_ms != 0 ? b->base_ms : NET_BACKOFF_BASE_MS;
    uint64_t cap = b->max_ms != 0 ? b->max_ms : NET_BACKOFF_MAX_MS;
    uint64_t ceiling = base, delay;

    /* Double until the cap, without ever overflowing. */
    for (unsigned i = 0; i < attempt && ceiling < cap; i++)
        ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
    if (ceiling > cap)
        ceiling = cap;
    /* Uniform in [0, ceiling]; the modulo bias is below 2^-40 for any sane ceiling. */
    delay = ceiling == UINT64_MAX ? rnd : rnd % (ceiling + 1);
    if (b->retry_after_max_ms != 0 && retry_after_ms > b->retry_after_max_ms)
        retry_after_ms = b->retry_after_max_ms;
    return delay > retry_after_ms ? delay : retry_after_ms;
}

/* Parse exactly n digits at *p into *out. */
static bool
net_backoff_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool
net_backoff_lit(const char **p, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
net_backoff_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* IMF-fixdate, the only date form a sender may generate (RFC 9110 §5.6.7). */
static bool
net_backoff_parse_date(const char *s, int64_t *out_unix)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const char *p = s;
    int day, mon = -1, year, hh, mm, ss;
    bool ok = false;

    for (size_t i = 0; i < 7 && !ok; i++)
        ok = strncmp(p, days[i], 3) == 0;
    if (!ok)
        return false;
    p += 3;
    if (!net_backoff_lit(&p, ", ") || !net_backoff_digits(&p, 2, &day) || !net_backoff_lit(&p, " "))
        return false;
    for (int i = 0; i < 12; i++)
        if (strncmp(p, months[i], 3) == 0)
            mon = i + 1;
    if (mon < 0)
        return false;
    p += 3;
    if (!net_backoff_lit(&p, " ") || !net_backoff_digits(&p, 4, &year) ||
        !net_backoff_lit(&p, " ") || !net_backoff_digits(&p, 2, &hh) || !net_backoff_lit(&p, ":") ||
        !net_backoff_digits(&p, 2, &mm) || !net_backoff_lit(&p, ":") ||
        !net_backoff_digits(&p, 2, &ss) || !net_backoff_lit(&p, " GMT") || *p != '\0')
        return false;
    if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return false;
    *out_unix = net_backoff_days(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return true;
}

int
net_backoff_parse_retry_after(const char *value, int64_t now_unix, uint64_t *out_ms)
{
    uint64_t secs = 0;
    int64_t when;
    const char *p;

    if (value[0] >= '0' && value[0] <= '9') {
        for (p = value; *p >= '0' && *p <= '9'; p++) {
            /* Saturate absurd values; retry_after_max_ms bounds them later. */
            if (secs < NET_BACKOFF_SECS_MAX)
                secs = secs * 10 + (uint64_t)(*p - '0');
        }
        if (*p != '\0')
            return DF_EINVAL;
        *out_ms = secs >= NET_BACKOFF_SECS_MAX ? UINT64_MAX : secs * 1000;
        return 0;
    }
    if (!net_backoff_parse_date(value, &when))
        return DF_EINVAL;
    *out_ms = when > now_unix ? (uint64_t)(when - now_unix) * 1000 : 0;
    return 0;
}
