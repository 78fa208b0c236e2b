/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Human units for sizes, rates and durations, as operators write them in config files
 * and flags: "64MiB", "1GB", "100MiB/s", "800Mbit/s", "30s", "1h30m". Values are whole
 * numbers (bytes, bytes per second, milliseconds) in [0, INT64_MAX]; formatting gives
 * text that parses back to the same value.
 */
#ifndef DF_DF_UNITS_H
#define DF_DF_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Room for any formatted value, NUL included. */
#define DF_UNITS_FMT_MAX 32

/*
 * Parse a size into bytes: a decimal number (up to 9 fraction digits) and an optional
 * unit, case-insensitive, optionally after spaces: none or B (bytes), K/KB, M/MB, G/GB,
 * T/TB, P/PB, E/EB (powers of 1000), Ki/KiB ... Ei/EiB (powers of 1024). "1.5KiB" is
 * 1536; a fraction that does not give whole bytes is invalid. Returns 0 and sets *out,
 * DF_EINVAL for malformed text, DF_ETOOBIG above INT64_MAX; *out is untouched on error.
 */
int df_units_size_parse(const char *s, int64_t *out);

/*
 * Parse a rate into bytes per second: a plain number of bytes per second, a size with
 * "/s" ("100MiB/s", "10MB/s"), or bits with "bit/s" and the same prefixes ("800Mbit/s",
 * "1Gbit/s"; must come to whole bytes). Errors as df_units_size_parse.
 */
int df_units_rate_parse(const char *s, int64_t *out);

/*
 * Parse a duration into milliseconds: "0", or one or more number+unit pairs with units
 * ms, s, m, h, d (case-sensitive), as in "250ms", "30s", "1h30m", "1.5s", "7d".
 * Sub-millisecond results are invalid. Errors as df_units_size_parse.
 */
int df_units_duration_parse(const char *s, int64_t *out_ms);

/*
 * Format into buf (len bytes, DF_UNITS_FMT_MAX is always enough; output is truncated
 * and NUL-terminated otherwise) and return buf. Sizes use the largest exact unit, binary
 * or decimal, whichever gives the smaller number ("64MiB", "1GB", "1000B"); rates are a
 * size with "/s"; durations look like "1h30m", "1.5s", "250ms", "0s". Negative values,
 * which the parsers never produce, print as a plain signed number.
 */
char *df_units_size_format(int64_t bytes, char *buf, size_t len);
char *df_units_rate_format(int64_t bytes_per_sec, char *buf, size_t len);
char *df_units_duration_format(int64_t ms, char *buf, size_t len);

#endif
