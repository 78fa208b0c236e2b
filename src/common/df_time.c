/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clock reads. The only state is the high-water mark of df_time_wall_steady_ms, an atomic
 * raised with compare-and-swap so roles on different threads share one non-decreasing view.
 */
#include "df/df_time.h"

#include <stdatomic.h>
#include <time.h>

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
