/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sizes, rates and durations in human units. Arithmetic is exact 64-bit integer math:
 * a number is split into a whole part and a fraction (numerator / 10^digits), each is
 * scaled by the unit with overflow checks, and a fraction that leaves a remainder is
 * refused rather than rounded, so every accepted text has exactly one value.
 */
#include "df/df_units.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "df/df_err.h"

#define UNITS_FRAC_DIGITS 9

/* A parsed decimal: whole + num / den, with den = 10^digits (1 when no fraction). */
struct units_number {
    uint64_t whole;
    uint64_t num;
    uint64_t den;
};

static bool
units_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parse digits with an optional fraction at *p and advance *p past them. */
static int
units_number_parse(const char **p, struct units_number *n)
{
    const char *s = *p;
    int digits = 0;

    if (!units_is_digit(*s))
        return DF_EINVAL;
    n->whole = 0;
    n->num = 0;
    n->den = 1;
    for (; units_is_digit(*s); s++) {
        if (__builtin_mul_overflow(n->whole, 10, &n->whole) ||
            __builtin_add_overflow(n->whole, (uint64_t)(*s - '0'), &n->whole))
            return DF_ETOOBIG;
    }
    if (*s == '.') {
        s++;
        if (!units_is_digit(*s))
            return DF_EINVAL;
        for (; units_is_digit(*s); s++) {
            if (++digits > UNITS_FRAC_DIGITS)
                return DF_EINVAL;
            n->num = n->num * 10 + (uint64_t)(*s - '0');
            n->den *= 10;
        }
    }
    *p = s;
    return 0;
}

/* Compute n * mult exactly into *out; DF_EINVAL when the fraction leaves a remainder. */
static int
units_number_scale(const struct units_number *n, uint64_t mult, uint64_t *out)
{
    uint64_t whole, q = mult / n->den, r = mult % n->den, frac;

    /* num < den <= 10^9 and r < den, so num * r cannot overflow. */
    if ((n->num * r) % n->den != 0)
        return DF_EINVAL;
    if (__builtin_mul_overflow(n->whole, mult, &whole) ||
        __builtin_mul_overflow(n->num, q, &frac) ||
        __builtin_add_overflow(frac, n->num * r / n->den, &frac) ||
        __builtin_add_overflow(whole, frac, out))
        return DF_ETOOBIG;
    return 0;
}

static uint64_t
units_pow(uint64_t base, unsigned exp)
{
    uint64_t v = 1;

    while (exp-- > 0)
        v *= base;
    return v;
}

/*
 * Resolve a size unit (u, n bytes, case-insensitive) to its multiplier. Bit units
 * ("bit", "Mbit", "Kibit") are accepted only when bits is non-NULL, which is then set.
 */
static int
units_size_unit(const char *u, size_t n, uint64_t *mult, bool *bits)
{
    static const char prefixes[] = "kmgtpe";
    const char *pre;
    unsigned exp = 0;
    uint64_t base = 1000;

    if (bits != NULL)
        *bits = false;
    if (n > 0 && (pre = strchr(prefixes, u[0] | 0x20)) != NULL) {
        exp = (unsigned)(pre - prefixes) + 1;
        u++;
        n--;
        if (n > 0 && (u[0] | 0x20) == 'i') {
            base = 1024;
            u++;
            n--;
        }
    }
    *mult = units_pow(base, exp);
    if (n == 0 || (n == 1 && (u[0] | 0x20) == 'b'))
        return 0;
    if (bits != NULL && n == 3 && strncasecmp(u, "bit", 3) == 0) {
        *bits = true;
        return 0;
    }
    return DF_EINVAL;
}

/* Skip the spaces allowed between a number and its unit; NULL if nothing follows them. */
static const char *
units_unit_start(const char *s)
{
    const char *u = s;

    while (*u == ' ')
        u++;
    return u != s && *u == '\0' ? NULL : u;
}

int
df_units_size_parse(const char *s, int64_t *out)
{
    struct units_number n;
    uint64_t mult, v;
    int rv;

    if ((rv = units_number_parse(&s, &n)) != 0)
        return rv;
    if ((s = units_unit_start(s)) == NULL)
        return DF_EINVAL;
    if ((rv = units_size_unit(s, strlen(s), &mult, NULL)) != 0)
        return rv;
    if ((rv = units_number_scale(&n, mult, &v)) != 0)
        return rv;
    if (v > INT64_MAX)
        return DF_ETOOBIG;
    *out = (int64_t)v;
    return 0;
}

int
df_units_rate_parse(const char *s, int64_t *out)
{
    struct units_number n;
    const char *slash;
    uint64_t mult, v;
    bool bits;
    int rv;

    if ((rv = units_number_parse(&s, &n)) != 0)
        return rv;
    if ((s = units_unit_start(s)) == NULL)
        return DF_EINVAL;
    /* A bare number is bytes per second; anything with a unit needs "/s". */
    if (*s == '\0') {
        mult = 1;
        bits = false;
    } else {
        slash = strchr(s, '/');
        if (slash == NULL || strcmp(slash, "/s") != 0)
            return DF_EINVAL;
        if ((rv = units_size_unit(s, (size_t)(slash - s), &mult, &bits)) != 0)
            return rv;
    }
    if ((rv = units_number_scale(&n, mult, &v)) != 0)
        return rv;
    if (bits) {
        if (v % 8 != 0)
            return DF_EINVAL;
        v /= 8;
    }
    if (v > INT64_MAX)
        return DF_ETOOBIG;
    *out = (int64_t)v;
    return 0;
}

int
df_units_duration_parse(const char *s, int64_t *out_ms)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {
            {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    struct units_number n;
    uint64_t total = 0, v;
    int rv;

    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    if (*s == '\0')
        return DF_EINVAL;
    while (*s != '\0') {
        size_t len = 0, i;

        if ((rv = units_number_parse(&s, &n)) != 0)
            return rv;
        while (s[len] >= 'a' && s[len] <= 'z')
            len++;
        for (i = 0; i < DF_NELEM(units); i++)
            if (strlen(units[i].name) == len && strncmp(s, units[i].name, len) == 0)
                break;
        if (i == DF_NELEM(units))
            return DF_EINVAL;
        s += len;
        if ((rv = units_number_scale(&n, units[i].ms, &v)) != 0)
            return rv;
        if (__builtin_add_overflow(total, v, &total))
            return DF_ETOOBIG;
    }
    if (total > INT64_MAX)
        return DF_ETOOBIG;
    *out_ms = (int64_t)total;
    return 0;
}

/* Largest power k (<= 6) of base that divides v exactly; v > 0. */
static unsigned
units_exact_power(uint64_t v, uint64_t base, uint64_t *mant)
{
    unsigned k = 0;

    while (k < 6 && v % base == 0) {
        v /= base;
        k++;
    }
    *mant = v;
    return k;
}

char *
df_units_size_format(int64_t bytes, char *buf, size_t len)
{
    static const char *const bin[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    static const char *const dec[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    uint64_t mb, md;
    unsigned kb, kd;

    if (bytes <= 0) {
        snprintf(buf, len, "%" PRId64 "%s", bytes, bytes == 0 ? "B" : "");
        return buf;
    }
    kb = units_exact_power((uint64_t)bytes, 1024, &mb);
    kd = units_exact_power((uint64_t)bytes, 1000, &md);
    if (md < mb)
        snprintf(buf, len, "%" PRIu64 "%s", md, dec[kd]);
    else
        snprintf(buf, len, "%" PRIu64 "%s", mb, bin[kb]);
    return buf;
}

char *
df_units_rate_format(int64_t bytes_per_sec, char *buf, size_t len)
{
    char size[DF_UNITS_FMT_MAX];

    if (bytes_per_sec < 0)
        snprintf(buf, len, "%" PRId64, bytes_per_sec);
    else
        snprintf(buf, len, "%s/s", df_units_size_format(bytes_per_sec, size, sizeof(size)));
    return buf;
}

/* Append formatted text at *off, keeping buf NUL-terminated when it does not fit. */
static void __attribute__((format(printf, 4, 5)))
units_append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n > 0)
        *off = (size_t)n < len - *off ? *off + (size_t)n : len - 1;
}

char *
df_units_duration_format(int64_t ms, char *buf, size_t len)
{
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    size_t off = 0;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (ms < 1000) {
        units_append(buf, len, &off, "%" PRId64 "%s", ms, ms == 0 ? "s" : ms > 0 ? "ms" : "");
        return buf;
    }
    if (h > 0)
        units_append(buf, len, &off, "%" PRId64 "h", h);
    if (m > 0)
        units_append(buf, len, &off, "%" PRId64 "m", m);
    if (frac > 0) {
        char digits[4];

        /* Milliseconds as a fraction of a second without trailing zeros: 1.5s, 1.25s. */
        snprintf(digits, sizeof(digits), "%03" PRId64, frac);
        for (int i = 2; i > 0 && digits[i] == '0'; i--)
            digits[i] = '\0';
        units_append(buf, len, &off, "%" PRId64 ".%ss", s, digits);
    } else if (s > 0) {
        units_append(buf, len, &off, "%" PRId64 "s", s);
    }
    return buf;
}
