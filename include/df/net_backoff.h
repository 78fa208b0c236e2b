/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Retry delays: exponential backoff with full jitter (a uniform delay in [0, min(cap,
 * base * 2^attempt)]), never shorter than a server's Retry-After. Pure functions: the
 * caller passes the random value and the clock, so every result is reproducible in tests.
 */
#ifndef DF_NET_BACKOFF_H
#define DF_NET_BACKOFF_H

#include <stdint.h>

#include "df/df_err.h"

struct net_backoff {
    uint64_t base_ms;            /* ceiling of the first delay (attempt 0); 0 means 100 */
    uint64_t max_ms;             /* ceiling of every jittered delay; 0 means 30000 */
    uint64_t retry_after_max_ms; /* longest Retry-After honoured; 0 means no limit */
};

/*
 * The delay before retry number attempt (0 for the first retry), in ms. rnd is a uniform
 * random 64-bit value; retry_after_ms is the server's Retry-After (0 if none) and is a
 * floor on the result (clamped to retry_after_max_ms).
 */
uint64_t net_backoff_delay_ms(const struct net_backoff *b, unsigned attempt,
                              uint64_t retry_after_ms, uint64_t rnd);

/*
 * Parse a Retry-After header value: delta-seconds ("120") or an IMF-fixdate ("Sun, 06 Nov
 * 1994 08:49:37 GMT") taken relative to now_unix (seconds since the epoch; a date in the
 * past gives 0). Stores milliseconds in *out_ms. Returns 0 or DF_EINVAL (*out_ms untouched).
 */
int net_backoff_parse_retry_after(const char *value, int64_t now_unix, uint64_t *out_ms);

#endif
