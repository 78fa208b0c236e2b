/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token bucket arithmetic. Tokens are doubles: exact for byte counts below 2^53 and
 * fractional, so slow rates accrue smoothly. Time never runs backwards here: an older
 * now_ns than the last one seen adds nothing.
 */
#include "df/net_ratelim.h"

#include <math.h>

#define NET_RATELIM_NS      1e9
#define NET_RATELIM_EPSILON 1e-6 /* rounding slack: waiting the time we said always works */

static void
net_ratelim_refill(struct net_ratelim *rl, uint64_t now_ns)
{
    if (now_ns <= rl->last_ns)
        return;
    rl->tokens += (double)(now_ns - rl->last_ns) * rl->rate / NET_RATELIM_NS;
    if (rl->tokens > rl->burst)
        rl->tokens = rl->burst;
    rl->last_ns = now_ns;
}

void
net_ratelim_set(struct net_ratelim *rl, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
    net_ratelim_refill(rl, now_ns);
    rl->rate = (double)rate;
    rl->burst = (double)(burst != 0 ? burst : rate);
    if (rl->tokens > rl->burst)
        rl->tokens = rl->burst;
}

void
net_ratelim_init(struct net_ratelim *rl, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
    rl->rate = (double)rate;
    rl->burst = (double)(burst != 0 ? burst : rate);
    rl->tokens = rl->burst;
    rl->last_ns = now_ns;
}

uint64_t
net_ratelim_available(struct net_ratelim *rl, uint64_t now_ns)
{
    if (rl->rate == 0)
        return UINT64_MAX;
    net_ratelim_refill(rl, now_ns);
    return rl->tokens > 0 ? (uint64_t)rl->tokens : 0;
}

uint64_t
net_ratelim_wait_ns(struct net_ratelim *rl, uint64_t n, uint64_t now_ns)
{
    double need, ns;

    if (rl->rate == 0)
        return 0;
    net_ratelim_refill(rl, now_ns);
    need = (double)n < rl->burst ? (double)n : rl->burst;
    if (rl->tokens >= need - NET_RATELIM_EPSILON)
        return 0;
    /* Round up so that waiting exactly this long always suffices. */
    ns = ceil((need - rl->tokens) * NET_RATELIM_NS / rl->rate);
    return ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns;
}

bool
net_ratelim_try(struct net_ratelim *rl, uint64_t n, uint64_t now_ns)
{
    if (net_ratelim_wait_ns(rl, n, now_ns) != 0)
        return false;
    net_ratelim_consume(rl, n, now_ns);
    return true;
}

void
net_ratelim_consume(struct net_ratelim *rl, uint64_t n, uint64_t now_ns)
{
    if (rl->rate == 0)
        return;
    net_ratelim_refill(rl, now_ns);
    rl->tokens -= (double)n;
}

bool
net_ratelim_log_allow(struct net_ratelim_log *l, uint64_t now_ms, uint64_t interval_ms,
                      uint64_t *suppressed)
{
    if (now_ms < l->next_ms) {
        l->suppressed++;
        return false;
    }
    *suppressed = l->suppressed;
    l->suppressed = 0;
    l->next_ms = now_ms + interval_ms;
    return true;
}
