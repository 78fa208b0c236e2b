/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process's clocks, read in one place. Monotonic readings measure intervals, deadlines
 * and rate-limit buckets and never go back; wall readings are for timestamps that leave the
 * process (the cache's rows, the scheduler's model) and may be stepped by the operator.
 * Every function is thread-safe and never fails (a clock the kernel refuses reads as 0).
 * The formatters write the two time formats that leave the process.
 */
#ifndef DF_DF_TIME_H
#define DF_DF_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Bytes df_time_format_rfc3339 may write, NUL included. */
#define DF_TIME_RFC3339_LEN 64

/* Monotonic nanoseconds since an arbitrary start (CLOCK_MONOTONIC). */
uint64_t df_time_mono_ns(void);

/* Monotonic microseconds (CLOCK_MONOTONIC). */
uint64_t df_time_mono_us(void);

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
uint64_t df_time_mono_ms(void);

/*
 * Monotonic milliseconds from the coarse clock (CLOCK_MONOTONIC_COARSE: a few ms of
 * resolution, but no syscall), for hot paths that only rate-limit or age things by seconds.
 */
uint64_t df_time_mono_coarse_ms(void);

/* Wall-clock milliseconds since the Unix epoch (CLOCK_REALTIME); may go back if stepped. */
int64_t df_time_wall_ms(void);

/* Wall-clock microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t df_time_wall_us(void);

/*
 * Wall-clock milliseconds that never go back within the process: a stepped-back clock reads
 * as the latest value already returned until real time catches up. For a model that keeps
 * wall timestamps but must not see time run backwards.
 */
int64_t df_time_wall_steady_ms(void);

/*
 * Format ms since the Unix epoch as RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z")
 * into out: log lines, and the timestamps of protobuf's JSON mapping. Returns out.
 */
char *df_time_format_rfc3339(int64_t ms, char out[DF_TIME_RFC3339_LEN]);

/* Read that form back into *ms; DF_EINVAL for anything else. */
int df_time_parse_rfc3339(const char *s, int64_t *ms);

/*
 * Read any RFC 3339 time clients send ("2030-01-02T03:04:05Z", with a fraction of any
 * length, or an offset "+08:00") into *ms, the fraction dropped. DF_EINVAL otherwise.
 */
int df_time_parse_rfc3339_any(const char *s, int64_t *ms);

/*
 * Format secs since the Unix epoch as an HTTP IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT")
 * into buf (len >= 30). Returns buf.
 */
const char *df_time_format_http(int64_t secs, char *buf, size_t len);

#endif
