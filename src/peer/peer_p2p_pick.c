/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which parent a piece is asked of (peer_p2p_pick.h): expected arrival times from what a
 * child measured of its parents, and the endgame's move of a piece off a slow parent.
 */
#include "peer_p2p_pick.h"

/* "Clearly" faster or slower, as the scheduler's sched_eval_rate_is_poor says it too. */
#define PEER_PICK_CLEARLY 2.0
/* Weight of a new measurement: a parent whose uplink got busier shows it within a few. */
#define PEER_PICK_ALPHA 0.3

bool
peer_pick_spreads(unsigned drawing, uint64_t lead)
{
    return drawing > 1 || (drawing == 1 && lead > PEER_PICK_SPREAD_LEAD);
}

void
peer_pick_measured(struct peer_pick_stats *st, uint64_t len, uint64_t cost_ms)
{
    double r = (double)len / (double)(cost_ms > 0 ? cost_ms : 1);

    st->rate = st->done == 0 ? r : st->rate + (r - st->rate) * PEER_PICK_ALPHA;
    st->done++;
}

double
peer_pick_ref(const struct peer_pick_cand *c, unsigned n)
{
    double ref = 0.0;

    for (unsigned i = 0; i < n; i++) {
        if (c[i].st->done > 0 && c[i].st->rate > ref)
            ref = c[i].st->rate;
    }
    return ref;
}

double
peer_pick_eta(const struct peer_pick_cand *c, double ref, uint64_t len)
{
    double r = c->st->done > 0 && c->st->rate > 0 ? c->st->rate : ref;

    if (!(r > 0))
        return -1.0;
    return (double)(c->left + len) / r;
}

int
peer_pick_choose(const struct peer_pick_cand *c, unsigned n, uint64_t len, uint64_t rest)
{
    double ref = peer_pick_ref(c, n), free_eta = 0.0, busy_eta = -1.0;
    int best = -1;

    if (!(ref > 0)) {
        /* Nothing measured yet: spread the pieces, the least loaded first. */
        for (unsigned i = 0; i < n; i++) {
            if (c[i].free && (best < 0 || c[i].left < c[best].left))
                best = (int)i;
        }
        return best;
    }
    for (unsigned i = 0; i < n; i++) {
        double eta = peer_pick_eta(&c[i], ref, len);

        if (!c[i].free) {
            /* Draining all: what it sends, this piece and the rest. */
            eta = peer_pick_eta(&c[i], ref, len + rest);
            if (busy_eta < 0 || eta < busy_eta)
                busy_eta = eta;
        } else if (best < 0 || eta < free_eta) {
            best = (int)i;
            free_eta = eta;
        }
    }
    /* A busy parent would be through with it all before the free one had it: wait. */
    if (best >= 0 && busy_eta >= 0 && busy_eta < free_eta)
        return -1;
    return best;
}

bool
peer_pick_steal(const struct peer_pick_stats *st, uint64_t len, uint64_t pos, uint64_t elapsed_ms,
                uint64_t min_ms)
{
    double need, eta;

    if (elapsed_ms < min_ms || st->done == 0 || !(st->rate > 0) || pos >= len)
        return false;
    eta = (double)len / st->rate;
    if (pos == 0)
        return eta * PEER_PICK_CLEARLY < (double)elapsed_ms; /* nothing yet: it is that slow */
    need = (double)(len - pos) * (double)elapsed_ms / (double)pos;
    return eta * PEER_PICK_CLEARLY < need;
}
