/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process's clocks, read in one place. Monotonic readings measure intervals, deadlines
 * and rate-limit buckets and never go back; wall readings are for timestamps that leave the
 * process (the cache's rows, the scheduler's model) and may be stepped by the operator.
 * Every function is thread-safe and never fails (a clock the kernel refuses reads as 0).
 */
#ifndef DF_DF_TIME_H
#define DF_DF_TIME_H

#include <stdint.h>

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

#endif
