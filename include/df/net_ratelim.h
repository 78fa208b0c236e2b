/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A token bucket in bytes: tokens accrue at rate bytes/second up to burst. Pure arithmetic
 * on a monotonic clock value the caller passes in (nanoseconds, e.g. from
 * df_time_mono_ns()), so tests drive time by hand. Embedded value type.
 */
#ifndef DF_NET_RATELIM_H
#define DF_NET_RATELIM_H

#include <stdbool.h>
#include <stdint.h>

struct net_ratelim {
    double rate;   /* bytes per second; 0 = unlimited */
    double burst;  /* bucket size in bytes */
    double tokens; /* may go negative after net_ratelim_consume() */
    uint64_t last_ns;
};

/* Set up a full bucket at now_ns. rate 0 disables limiting; burst 0 means one second. */
void net_ratelim_init(struct net_ratelim *rl, uint64_t rate, uint64_t burst, uint64_t now_ns);

/* Change the rate and burst keeping the tokens (clamped to the new burst). */
void net_ratelim_set(struct net_ratelim *rl, uint64_t rate, uint64_t burst, uint64_t now_ns);

/* Whole bytes allowed right now (UINT64_MAX when unlimited). */
uint64_t net_ratelim_available(struct net_ratelim *rl, uint64_t now_ns);

/*
 * Nanoseconds to wait before n bytes are allowed (0 = now). n above burst is treated as
 * burst: send large amounts in pieces.
 */
uint64_t net_ratelim_wait_ns(struct net_ratelim *rl, uint64_t n, uint64_t now_ns);

/* Take n bytes if allowed now; returns whether they were taken. */
bool net_ratelim_try(struct net_ratelim *rl, uint64_t n, uint64_t now_ns);

/* Account n bytes already sent or received; the bucket may go into debt. */
void net_ratelim_consume(struct net_ratelim *rl, uint64_t n, uint64_t now_ns);

/*
 * Rate-limited logging of a repeated event (refused connections, accept errors): at most
 * one line per interval, saying how many were left out since the last one.
 */
struct net_ratelim_log {
    uint64_t next_ms;    /* the next line is allowed at this monotonic time */
    uint64_t suppressed; /* events since the last line */
};

/*
 * Count one event at now_ms. Returns true when a line may be logged now, with *suppressed
 * set to the events left out before this one; false when this one is to be left out.
 */
bool net_ratelim_log_allow(struct net_ratelim_log *l, uint64_t now_ms, uint64_t interval_ms,
                           uint64_t *suppressed);

#endif
