/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Choosing a peer's parents: the candidate filter (sched_eval.c's policy, step 1), seed
 * protection, scoring and the peer fanout, over the model of sched_state_int.h. An edge
 * is added only when it keeps the task's graph acyclic (a DFS over the child's
 * descendants). Nothing here creates or removes a peer, a task or a host.
 */
#include "sched_state_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <xxhash.h>

#include "df/log.h"
#include "df/xmalloc.h"
#include "sched_eval.h"

/* Planning a peer whose place another took plans it again: never deeper than this. */
#define PLAN_DEPTH_MAX 8
/*
 * A parent with pieces for a child that sent none for this many typical piece times is
 * measured by its silence (a relay hiccup on a loaded host lasts less) ...
 */
#define PLAN_SILENCE_PIECES 8.0
/*
 * ... or for this many when it holds at least PLAN_LEAD_PIECES the child lacks: a relay
 * that keeps up stays a piece or two ahead of its child, a slow one piles up what it
 * receives. A slow host at the head of the pipeline so loses its place within a few piece
 * times instead of holding the whole stream back for eight.
 */
#define PLAN_LEAD_SILENCE 3.0
#define PLAN_LEAD_PIECES  4
/* A piece at most 1/PLAN_RARE_SHARE of a task's normal peers hold is rare (seed_has_rare)... */
#define PLAN_RARE_SHARE 4
/* ... as counted at most this long ago (a task's fair share too). */
#define PLAN_RARE_MS 250
/* A seed's child is displaced only when this much further below the newcomer's rate (3x). */
#define PLAN_SEED_SWAP 2.0
/*
 * A piece got cut-through whose parent had finished it more than this many typical piece
 * times before measures the parent (relay_tail_cost).
 */
#define PLAN_RELAY_TAIL 2.0
/* A rate in bytes per ms in Mbit/s, for the log. */
#define PLAN_MBIT(r) ((r)*8.0 / 1000.0)

/* ---- candidates ---- */

/*
 * Can parent give child something now or soon: pieces the child lacks, or it is a source,
 * or it is receiving and not behind the child.
 */
static bool
peer_can_give(const struct sched_peer *parent, const struct sched_peer *child)
{
    if (sched_peer_is_source(parent))
        return true;
    if (parent->state != SCHED_PEER_RUNNING && parent->state != SCHED_PEER_SUCCEEDED)
        return false;
    if (sched_peer_useful(parent, child) > 0)
        return true;
    return parent->state == SCHED_PEER_RUNNING && parent->nparents > 0 &&
           parent->nfinished >= child->nfinished &&
           (!child->task->has_geometry || parent->nfinished < child->task->piece_count);
}

static bool
host_has_free_slot(const struct sched_host *h)
{
    return h->load < h->upload_slots && h->concurrent_uploads < h->upload_slots;
}

static bool
peer_is_blocked(const struct sched_peer *p, const struct sched_peer *parent, int64_t now)
{
    const struct sched_block *b = sched_peer_block_find(p, parent->id);

    return b != NULL && (b->blocked || b->blocked_until > now);
}

/* Mark every descendant of p (p included) with a fresh epoch; returns the epoch. */
static uint64_t
peer_mark_descendants(struct sched_state *s, struct sched_peer *p)
{
    uint64_t epoch = ++s->epoch;
    size_t top = 0;

    if (s->stack_cap < (size_t)p->task->npeers + 1) {
        s->stack_cap = (size_t)p->task->npeers + 1;
        s->stack = xrealloc(s->stack, s->stack_cap * sizeof(*s->stack));
    }
    p->mark = epoch;
    s->stack[top++] = p;
    while (top > 0) {
        struct sched_peer *q = s->stack[--top];
        struct sched_edge *e;

        TAILQ_FOREACH (e, &q->children, pentry) {
            if (e->child->mark == epoch)
                continue;
            e->child->mark = epoch;
            DF_ASSERT(top < s->stack_cap);
            s->stack[top++] = e->child;
        }
    }
    return epoch;
}

/* True when parent -> child would close a cycle (parent is child or its descendant). */
static bool
edge_would_cycle(struct sched_state *s, struct sched_peer *parent, struct sched_peer *child)
{
    uint64_t epoch = peer_mark_descendants(s, child);

    return parent->mark == epoch;
}

/* ---- parent planning ---- */

/* Can parent serve child at all (the filter of sched_eval.c's policy, step 1)? */
static bool
cand_is_ok(const struct sched_state *s, const struct sched_peer *q, const struct sched_peer *p,
           uint64_t epoch, int64_t now)
{
    if (q == p || q->mark == epoch || q->host == p->host || q->data_lost)
        return false;
    switch (q->state) {
    case SCHED_PEER_BACK_TO_SOURCE:
    case SCHED_PEER_SUCCEEDED:
        break;
    case SCHED_PEER_RUNNING:
        /* Nothing and nothing coming: not a parent yet. */
        if (q->nfinished == 0 && q->nparents == 0)
            return false;
        break;
    default:
        return false;
    }
    if (peer_is_blocked(p, q, now) || !sched_host_is_healthy(s, q->host, now) ||
        sched_task_distrusts(p->task, q->host))
        return false;
    if (!host_has_free_slot(q->host))
        return false;
    return peer_can_give(q, p);
}

/*
 * A seed edge beyond the seed peer's first seed_fanout children exists only because the
 * child had no other candidate (sched_eval.c, step 2): it goes once the child has another.
 */
static bool
edge_is_last_resort(const struct sched_state *s, const struct sched_edge *e)
{
    const struct sched_edge *f;
    uint32_t i = 0;

    if (e->parent->host->type != SCHED_HOST_SEED || e->child->nparents < 2)
        return false;
    TAILQ_FOREACH (f, &e->parent->children, pentry) {
        if (i++ >= s->cfg.seed_fanout)
            break;
        if (f == e)
            return false;
    }
    return true;
}

/* Should an existing edge stay? Nothing to give, gone bad, blocked, last resort: no. */
bool
sched_plan_edge_is_useful(const struct sched_state *s, const struct sched_edge *e, int64_t now)
{
    const struct sched_peer *q = e->parent, *p = e->child;

    if (peer_is_blocked(p, q, now) || !sched_host_is_healthy(s, q->host, now))
        return false;
    if (edge_is_last_resort(s, e))
        return false;
    return peer_can_give(q, p);
}

/* Does seed hold a piece that no normal peer of its task holds (or is it still fetching)? */
static bool
seed_has_unique(const struct sched_peer *seed)
{
    const struct sched_task *t = seed->task;
    const struct sched_peer *q;

    if (sched_peer_is_source(seed) || seed->bits == NULL)
        return true;
    for (size_t w = 0; w < sched_bits_words(t->piece_count); w++) {
        uint64_t left = seed->bits[w];

        TAILQ_FOREACH (q, &t->peers, tentry) {
            if (left == 0)
                break;
            if (q->host->type != SCHED_HOST_SEED && q->bits != NULL)
                left &= ~q->bits[w];
        }
        if (left != 0)
            return true;
    }
    return false;
}

/* Count t's normal peers holding each piece, at most every PLAN_RARE_MS. */
static void
task_count_holders(struct sched_task *t, int64_t now)
{
    const struct sched_peer *q;

    if (t->holders != NULL && now - t->holders_at < PLAN_RARE_MS && now >= t->holders_at)
        return;
    if (t->holders == NULL)
        t->holders = xcalloc(t->piece_count > 0 ? t->piece_count : 1, sizeof(*t->holders));
    memset(t->holders, 0, (size_t)t->piece_count * sizeof(*t->holders));
    t->nholding = 0;
    t->holders_at = now;
    TAILQ_FOREACH (q, &t->peers, tentry) {
        if (q->host->type == SCHED_HOST_SEED || q->bits == NULL)
            continue;
        t->nholding++;
        for (size_t w = 0; w < sched_bits_words(t->piece_count); w++) {
            for (uint64_t b = q->bits[w]; b != 0; b &= b - 1)
                t->holders[w * 64 + (size_t)__builtin_ctzll(b)]++;
        }
    }
}

/*
 * Does seed hold a piece child lacks that at most a 1/PLAN_RARE_SHARE of the task's normal
 * peers hold? The Kumar-Ross bound counts the seed's upload all the time: once every piece
 * is out, an idle seed still serves the pieces the swarm is short of (the ones the whole
 * swarm waits for in the tail), instead of leaving them to the one peer that has them.
 */
static bool
seed_has_rare(const struct sched_peer *seed, const struct sched_peer *child, int64_t now)
{
    struct sched_task *t = seed->task;
    uint32_t lim;

    if (seed->bits == NULL || child->bits == NULL || !t->has_geometry)
        return false;
    task_count_holders(t, now);
    lim = t->nholding / PLAN_RARE_SHARE > 0 ? t->nholding / PLAN_RARE_SHARE : 1;
    for (uint32_t i = 0; i < t->piece_count; i++) {
        if (t->holders[i] <= lim && sched_bit_get(seed->bits, i) && !sched_bit_get(child->bits, i))
            return true;
    }
    return false;
}

/*
 * Seed protection (sched_eval.c, step 2): a seed peer takes a new child while it has fewer
 * than seed_fanout and holds pieces nobody else has, or that few have and the child lacks;
 * otherwise only as the last resort of a child with no other candidate that has waited
 * seed_wait.
 */
static bool
seed_is_allowed(const struct sched_state *s, const struct sched_peer *seed,
                const struct sched_peer *child, uint32_t nonseed, int64_t now)
{
    bool starving =
            child->nparents == 0 && child->waiting && now - child->wait_since >= s->cfg.seed_wait;

    return sched_eval_seed_is_allowed(
            seed->nchildren, s->cfg.seed_fanout,
            seed->nchildren < s->cfg.seed_fanout &&
                    (seed_has_unique(seed) || seed_has_rare(seed, child, now)),
            nonseed, starving);
}

static void
cand_describe(const struct sched_peer *q, const struct sched_peer *p,
              struct sched_eval_candidate *c)
{
    const struct sched_task *t = p->task;

    memset(c, 0, sizeof(*c));
    c->useful = sched_peer_useful(q, p);
    c->child_missing = t->has_geometry ? t->piece_count - p->nfinished : 0;
    c->will_have = sched_peer_is_source(q);
    c->parent_finished = q->nfinished;
    c->piece_count = t->piece_count;
    c->upload_ok = q->host->upload_ok;
    c->upload_failed = q->host->upload_failed;
    c->load = q->host->load;
    c->slots = q->host->upload_slots;
    c->is_seed = q->host->type == SCHED_HOST_SEED;
    c->parent_idc = q->host->idc;
    c->child_idc = p->host->idc;
    c->parent_location = q->host->location;
    c->child_location = p->host->location;
}

/* ---- measurement (sched_eval.c, step 5) ---- */

/*
 * Child edges of h that delivered a piece since `since` (e's included): the uploads that
 * shared h's uplink with e's last piece. Idle edges (a child with nothing to fetch from
 * it) share nothing, so the host's load would overstate it.
 */
static uint32_t
host_active_edges(const struct sched_host *h, int64_t since)
{
    const struct sched_peer *q;
    const struct sched_edge *f;
    uint32_t n = 0;

    TAILQ_FOREACH (q, &h->peers, hentry) {
        TAILQ_FOREACH (f, &q->children, pentry) {
            if (f->progress_at >= since)
                n++;
        }
    }
    return n > 0 ? n : 1;
}

/*
 * The one writer of a host's upload estimate: set h's to est, from a piece of length bytes
 * that took cost ms to reach `toward`'s host, or (cost 0) from a silence toward it.
 */
static void
host_set_estimate(struct sched_host *h, double est, const struct sched_host *toward,
                  uint64_t length, int64_t cost)
{
    if (cost > 0)
        log_debug("sched",
                  "sched: host %s upload estimate %.1f -> %.1f Mbit/s (%" PRIu64 " B in %" PRId64
                  " ms to %s)",
                  h->id, PLAN_MBIT(h->up_est), PLAN_MBIT(est), length, cost, toward->id);
    else
        log_debug("sched", "sched: host %s upload estimate %.1f -> %.1f Mbit/s (silent toward %s)",
                  h->id, PLAN_MBIT(h->up_est), PLAN_MBIT(est), toward->id);
    h->up_est = est;
    h->silent_toward = cost > 0 ? 0 : XXH3_64bits(toward->id, strlen(toward->id));
}

/*
 * h has just been measured slow: a silence toward it said as much of its link as of its
 * parent's (plan_note_silence), so the estimates such silences set are dropped, and their
 * hosts, unmeasured again, take children again.
 */
static void
plan_forget_silences_toward(struct sched_state *s, const struct sched_host *h)
{
    uint64_t id = XXH3_64bits(h->id, strlen(h->id));
    struct sched_host *g;

    TAILQ_FOREACH (g, &s->host_list, entry) {
        if (g->silent_toward != id || g == h)
            continue;
        log_debug("sched",
                  "sched: host %s upload estimate %.1f Mbit/s forgotten (its silence "
                  "was toward %s, now measured slow)",
                  g->id, PLAN_MBIT(g->up_est), h->id);
        g->up_est = 0.0;
        g->silent_toward = 0;
    }
}

/* Is h measured clearly slower than t's typical piece rate? */
static bool
plan_host_is_slow(const struct sched_host *h, const struct sched_task *t)
{
    return sched_eval_rate_is_poor(h->up_est, t->rate_ref);
}

/*
 * The cost of a relayed piece (reported without one: a cut-through relay goes at its
 * parent's own download pace) ending now: the time since e's parent had it whole when that
 * is more than PLAN_RELAY_TAIL typical piece times (the parent gave the rest at the pace of
 * its upload); not toward a child measured slow, whose own full uplink slows what it gets
 * (plan_note_silence). 0: nothing to measure.
 */
static int64_t
relay_tail_cost(const struct sched_edge *e, uint32_t piece, int64_t now)
{
    const struct sched_peer *q = e->parent;
    const struct sched_task *t = q->task;
    int64_t tail = 0;

    for (uint32_t i = 0; i < SCHED_RECENT; i++) {
        if (q->recent_at[i] > 0 && q->recent_piece[i] == piece) {
            tail = now - q->recent_at[i];
            break;
        }
    }
    if (tail <= 0 || t->rate_ref <= 0 ||
        (double)tail <= PLAN_RELAY_TAIL * (double)t->piece_length / t->rate_ref ||
        plan_host_is_slow(e->child->host, t))
        return 0;
    log_debug("sched",
              "sched: task %.12s: piece %" PRIu32 " relayed by host %s to %s %" PRId64
              " ms after it had it",
              t->id, piece, q->host->id, e->child->host->id, tail);
    return tail;
}

void
sched_plan_measure(struct sched_state *s, struct sched_edge *e, uint32_t piece, uint64_t length,
                   int64_t cost, int64_t now)
{
    struct sched_host *h = e->parent->host;
    struct sched_task *t = e->child->task;
    bool was_slow;
    double r, cap;

    if (length == 0 || (cost <= 0 && (cost = relay_tail_cost(e, piece, now)) <= 0))
        return;
    was_slow = plan_host_is_slow(h, t);
    r = (double)length / (double)cost;
    e->rate = sched_eval_rate_update(e->rate, r);
    e->timed++;
    /* The uploads that ran alongside shared the uplink: this one got about its share. */
    cap = r * (double)host_active_edges(h, now - cost);
    if (h->upload_rate_limit > 0 && cap > (double)h->upload_rate_limit / 1000.0)
        cap = (double)h->upload_rate_limit / 1000.0;
    host_set_estimate(h, sched_eval_rate_update(h->up_est, cap), e->child->host, length, cost);
    if (!was_slow && plan_host_is_slow(h, t))
        plan_forget_silences_toward(s, h);
    t->rate_ref = t->rate_ref > 0 ? t->rate_ref + (r - t->rate_ref) / 8.0 : r;
}

/* What q receives the task at: its measured in-edges; 0 when unknown or unlimited. */
static double
peer_inrate(const struct sched_peer *q)
{
    const struct sched_edge *e;
    double sum = 0.0;

    if (q->state != SCHED_PEER_RUNNING)
        return 0.0; /* a source, or it holds everything: no limit */
    TAILQ_FOREACH (e, &q->parents, centry)
        sum += e->rate;
    return sum;
}

/*
 * Did e's child get at least `rate` from its other parents over edges that delivered
 * since `since`? Such a child asks each parent only for what the others do not already
 * bring (one piece in flight a parent, a piece claimed from one): a parent that held the
 * same pieces as the others was not asked, and its silence says nothing of its uplink.
 */
static bool
peer_fed_by_others(const struct sched_edge *e, int64_t since, double rate)
{
    const struct sched_edge *f;
    double sum = 0.0;

    TAILQ_FOREACH (f, &e->child->parents, centry) {
        if (f != e && f->progress_at >= since)
            sum += f->rate;
    }
    return sum >= rate;
}

/*
 * Since when parent has had something for child: the time it finished the first of the
 * lead pieces it holds that child lacks, when all of them are among its recent ones
 * (a relay starved by its own parents is not silent before it had anything to send);
 * else since.
 */
static int64_t
peer_lead_since(const struct sched_peer *parent, const struct sched_peer *child, uint32_t lead,
                int64_t since)
{
    int64_t first = 0;
    uint32_t n = 0;

    for (uint32_t i = 0; i < SCHED_RECENT; i++) {
        if (parent->recent_at[i] > 0 && !sched_bit_get(child->bits, parent->recent_piece[i])) {
            n++;
            if (first == 0 || parent->recent_at[i] < first)
                first = parent->recent_at[i];
        }
    }
    return n == lead && first > since ? first : since;
}

/*
 * The silence bound of an edge: when the parent has pieces for the child but sent none for
 * PLAN_SILENCE_PIECES typical piece times (PLAN_LEAD_SILENCE when it holds PLAN_LEAD_PIECES
 * the child lacks), it gives at most one piece over that silence (a parent too slow to have
 * delivered anything yet is known slow without waiting for its first piece), unless the
 * child's other parents fed it half the typical rate meanwhile (peer_fed_by_others). 0: no
 * bound.
 */
static double
edge_silence_bound(const struct sched_edge *e, int64_t now)
{
    const struct sched_task *t = e->child->task;
    int64_t since = e->progress_at > 0 ? e->progress_at : e->created_at, idle;
    uint32_t lead;

    /* Silence counts from when the parent had something to send. */
    if (e->parent->first_at == 0)
        return 0.0;
    if (e->parent->first_at > since)
        since = e->parent->first_at;
    idle = now - since;
    if (t->rate_ref <= 0 || t->piece_length == 0 ||
        (double)idle <= PLAN_LEAD_SILENCE * (double)t->piece_length / t->rate_ref)
        return 0.0;
    if ((lead = sched_peer_useful(e->parent, e->child)) == 0)
        return 0.0;
    /* ... and a piece the child lacks. */
    since = peer_lead_since(e->parent, e->child, lead, since);
    idle = now - since;
    if ((double)idle <= PLAN_LEAD_SILENCE * (double)t->piece_length / t->rate_ref ||
        (lead < PLAN_LEAD_PIECES &&
         (double)idle <= PLAN_SILENCE_PIECES * (double)t->piece_length / t->rate_ref))
        return 0.0;
    if (peer_fed_by_others(e, since, t->rate_ref / 2.0))
        return 0.0;
    return (double)t->piece_length / (double)idle;
}

/* What e gives its child: its measured rate, no more than its parent receives or than the
 * silence bound allows (now 0: no silence bound); 0 when unknown. */
static double
edge_gives(const struct sched_edge *e, int64_t now)
{
    double r = e->rate, in = peer_inrate(e->parent),
           bound = now > 0 ? edge_silence_bound(e, now) : 0;

    if (in > 0 && (r <= 0 || in < r))
        r = in;
    if (bound > 0 && (r <= 0 || bound < r))
        r = bound;
    return r;
}

bool
sched_plan_edge_is_poor(const struct sched_edge *e)
{
    return e->timed > 0 && e->parent->host->type != SCHED_HOST_SEED &&
           sched_eval_rate_is_poor(edge_gives(e, 0), e->child->task->rate_ref);
}

/*
 * Take what a silent parent of p gave into its host's estimate: a measurement too, unless
 * p's own host is measured slow. Such a host downloads slowly once its uplink is full (the
 * acknowledgements of what it receives queue behind what it sends), so its parents' silence
 * says as much of its link as of theirs; and a host set slow gets no child, so nothing would
 * measure it again (scripts/bench/README.md, seventh slice).
 */
static void
plan_note_silence(struct sched_peer *p, int64_t now)
{
    struct sched_edge *e;

    if (plan_host_is_slow(p->host, p->task))
        return;
    TAILQ_FOREACH (e, &p->parents, centry) {
        struct sched_host *h = e->parent->host;
        double bound = edge_silence_bound(e, now);

        if (bound <= 0)
            continue;
        /* What else it sent over the silence (one piece over bound) shared its uplink. */
        bound *= (double)host_active_edges(h,
                                           now - (int64_t)((double)p->task->piece_length / bound));
        if (h->up_est <= 0 || bound < h->up_est)
            host_set_estimate(h, bound, p->host, 0, 0);
    }
}

/* Drop p's parents that give clearly less than alt, the best a candidate with room is
 * expected to give (sched_eval.c, step 5). Seeds have their own rules. */
static bool
plan_drop_poor(struct sched_peer *p, double alt, int64_t now)
{
    struct sched_edge *e, *tmp;
    bool dropped = false;

    for (e = TAILQ_FIRST(&p->parents); e != NULL; e = tmp) {
        tmp = TAILQ_NEXT(e, centry);
        if (e->parent->host->type == SCHED_HOST_SEED ||
            !sched_eval_rate_is_poor(edge_gives(e, now), alt))
            continue;
        sched_edge_del(e, now);
        dropped = true;
    }
    return dropped;
}

/*
 * A child of q that p may take the place of (sched_eval.c, step 5): the slowest of q's
 * children whose host is measured clearly slower (sched_eval_rate_is_below) than what q
 * would give p, when p's own host is not measured as slow as that. Slow hosts so end up
 * as leaves and fast ones take the places near the source. NULL: none.
 */
static struct sched_edge *
cand_victim(const struct sched_peer *q, const struct sched_peer *p, double gives)
{
    /* A seed resends the pieces its new child lacks: only for a child far slower (4x). */
    double strict = q->host->type == SCHED_HOST_SEED ? PLAN_SEED_SWAP : 1.0;
    struct sched_edge *e, *v = NULL;

    TAILQ_FOREACH (e, &q->children, pentry) {
        const struct sched_host *h = e->child->host;

        if (e->child == p || !sched_eval_rate_is_below(h->up_est * strict, gives) ||
            (p->host->up_est > 0 && !sched_eval_rate_is_below(h->up_est, p->host->up_est)))
            continue;
        if (v == NULL || h->up_est < v->child->host->up_est)
            v = e;
    }
    return v;
}

bool
sched_plan_waits_for_room(const struct sched_state *s, const struct sched_peer *p, int64_t now)
{
    return plan_host_is_slow(p->host, p->task) && now - p->wait_since < s->cfg.seed_wait;
}

/* What q is expected to give a new child (in place of one of its children: swap). */
static double
cand_expect(const struct sched_peer *q, bool swap)
{
    const struct sched_host *h = q->host;
    double cap = h->up_est > 0 ? h->up_est : q->task->rate_ref;
    uint32_t load = h->load - (swap && h->load > 0 ? 1 : 0);

    return sched_eval_rate_expect(cap, load, peer_inrate(q));
}

/* Is one of q's children on a host measured slow (a leaf drawing from it)? */
static bool
peer_has_slow_child(const struct sched_peer *q)
{
    const struct sched_edge *e;

    TAILQ_FOREACH (e, &q->children, pentry) {
        if (plan_host_is_slow(e->child->host, q->task))
            return true;
    }
    return false;
}

/*
 * t's fair share (sched_eval_fair_share): the uploads of its seed and normal hosts
 * (measured, else the typical piece rate) over its peers still receiving, reckoned at most
 * every PLAN_RARE_MS. 0: unknown.
 */
static double
task_fair_share(struct sched_task *t, int64_t now)
{
    const struct sched_peer *q;
    double seed_up = 0.0, up = 0.0;
    uint32_t n = 0;

    if (t->rate_ref <= 0)
        return 0.0;
    if (t->fair_at > 0 && now - t->fair_at < PLAN_RARE_MS && now >= t->fair_at)
        return t->fair;
    TAILQ_FOREACH (q, &t->peers, tentry) {
        double cap = q->host->up_est > 0 ? q->host->up_est : t->rate_ref;

        if (q->host->type == SCHED_HOST_SEED) {
            seed_up = cap > seed_up ? cap : seed_up;
        } else if (q->state == SCHED_PEER_RUNNING) {
            n++;
        } else if (q->state != SCHED_PEER_SUCCEEDED && q->state != SCHED_PEER_BACK_TO_SOURCE) {
            continue; /* not in the swarm (yet, or any more) */
        }
        up += cap;
    }
    t->fair = sched_eval_fair_share(seed_up, up, n);
    t->fair_at = now;
    return t->fair;
}

/*
 * What p's parents deliver to it (edge_gives), or -1 while one of them is not measured
 * yet (no timed piece, no silence): too early to say p is short.
 */
static double
peer_delivery(const struct sched_peer *p, int64_t now)
{
    const struct sched_edge *e;
    double sum = 0.0;

    TAILQ_FOREACH (e, &p->parents, centry) {
        double g = edge_gives(e, now);

        if (e->timed == 0 && edge_silence_bound(e, now) <= 0)
            return -1.0;
        sum += g;
    }
    return sum;
}

/*
 * The upload h has to spare: its estimate less what its child edges that delivered within
 * the last two typical piece times get. 0 when unmeasured.
 */
static double
host_spare(const struct sched_host *h, const struct sched_task *t, int64_t now)
{
    const struct sched_peer *q;
    const struct sched_edge *e;
    int64_t since;
    double used = 0.0;

    if (h->up_est <= 0 || t->rate_ref <= 0)
        return 0.0;
    since = now - (int64_t)(2.0 * (double)t->piece_length / t->rate_ref);
    TAILQ_FOREACH (q, &h->peers, hentry) {
        TAILQ_FOREACH (e, &q->children, pentry) {
            if (e->progress_at >= since)
                used += e->rate;
        }
    }
    return h->up_est > used ? h->up_est - used : 0.0;
}

/* Is q the head of a pipeline: a normal peer the seed feeds? */
static bool
peer_is_head(const struct sched_peer *q)
{
    const struct sched_edge *e;

    TAILQ_FOREACH (e, &q->parents, centry) {
        if (e->parent->host->type == SCHED_HOST_SEED)
            return true;
    }
    return false;
}

/*
 * A seed (its own protection applies) or a normal peer below peer_fanout children; for a
 * child p on a host measured slow, also a peer one child over that, if none of its
 * children is such a leaf yet (sched_eval.c, step 5: leaves draw from several parents);
 * for a child p clearly short of its fair share (short: its fair share; 0: not short),
 * also a peer whose host has measured upload to spare (sched_eval_spare_ok). Neither
 * over the fanout at the head of a pipeline (peer_is_head).
 */
static bool
cand_has_room(const struct sched_state *s, const struct sched_cand *c, const struct sched_peer *p,
              double in, double fair, int64_t now)
{
    const struct sched_peer *q = c->peer;

    if (q->host->type == SCHED_HOST_SEED || q->nchildren < s->cfg.peer_fanout || c->victim != NULL)
        return true;
    /* The pipeline's head: what enters the swarm leaves the seed's child's uplink once. */
    if (peer_is_head(q))
        return false;
    if (plan_host_is_slow(p->host, p->task) && q->nchildren <= s->cfg.peer_fanout &&
        !peer_has_slow_child(q))
        return true;
    return in >= 0 && sched_eval_spare_ok(in, fair, host_spare(q->host, p->task, now));
}

/*
 * Keep of the n candidates of p those its host's speed allows (sched_eval_slow_pair_ok):
 * a child on a slow host draws from fast hosts when there are any. Returns the new count.
 */
static size_t
plan_spare_slow_pairs(struct sched_state *s, const struct sched_peer *p, size_t n)
{
    bool child_slow = plan_host_is_slow(p->host, p->task);
    uint32_t nfast = 0;

    if (!child_slow)
        return n;
    for (size_t i = 0; i < n; i++)
        nfast += plan_host_is_slow(s->cands[i].peer->host, p->task) ? 0 : 1;
    for (size_t i = 0; i < n;) {
        if (sched_eval_slow_pair_ok(child_slow, plan_host_is_slow(s->cands[i].peer->host, p->task),
                                    nfast))
            i++;
        else
            s->cands[i] = s->cands[--n];
    }
    return n;
}

static int
cand_cmp(const void *a, const void *b)
{
    const struct sched_cand *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return strcmp(x->peer->id, y->peer->id); /* deterministic order */
}

/*
 * Revise p's parent set (sched_eval.c, step 4): drop the parents that are no longer
 * useful (all of them when fresh), then fill the free places with the best candidates.
 * Emits PARENTS when the set changed (or the caller changed it: dirty), empty or not.
 */
void
sched_plan_peer(struct sched_state *s, struct sched_peer *p, bool fresh, bool dirty, int64_t now,
                struct sched_actions *out)
{
    struct sched_task *t = p->task;
    struct sched_edge *e, *tmp;
    struct sched_peer *q;
    uint32_t quota, nonseed = 0;
    size_t n = 0;
    uint64_t epoch;
    double best = 0.0, alt = 0.0;
    struct sched_peer *evicted[SCHED_PARENTS_MAX], *freed[SCHED_PARENTS_MAX];
    size_t nevicted = 0, nfreed = 0;
    bool changed = dirty;

    if (!sched_peer_wants_parents(p) || p->data_lost)
        return;
    plan_note_silence(p, now);
    for (e = TAILQ_FIRST(&p->parents); e != NULL; e = tmp) {
        tmp = TAILQ_NEXT(e, centry);
        if (fresh || !sched_plan_edge_is_useful(s, e, now)) {
            if (e->parent->state == SCHED_PEER_SUCCEEDED && nfreed < SCHED_PARENTS_MAX)
                freed[nfreed++] = e->parent;
            sched_edge_del(e, now);
            changed = true;
        }
    }
    quota = sched_size_scope_of(t->content_length, t->piece_count) == SCHED_SIZE_SMALL
                    ? 1
                    : s->cfg.max_parents;
    if (p->nparents < quota) {
        if (s->cands_cap < t->npeers) {
            s->cands_cap = t->npeers;
            s->cands = xrealloc(s->cands, s->cands_cap * sizeof(*s->cands));
        }
        epoch = peer_mark_descendants(s, p);
        TAILQ_FOREACH (e, &p->parents, centry) {
            e->parent->mark = epoch; /* already a parent: not a candidate again */
            if (e->parent->host->type != SCHED_HOST_SEED)
                nonseed++;
        }
        TAILQ_FOREACH (q, &t->peers, tentry) {
            if (!cand_is_ok(s, q, p, epoch, now))
                continue;
            if (q->host->type != SCHED_HOST_SEED)
                nonseed++;
            s->cands[n++].peer = q;
        }
        /*
         * Seed protection (sched_eval.c, step 2), a full parent's slow child p may take the
         * place of, and what each is expected to give (step 5).
         */
        for (size_t i = 0; i < n;) {
            struct sched_cand *c = &s->cands[i];
            bool seed = c->peer->host->type == SCHED_HOST_SEED;
            uint32_t limit = seed ? s->cfg.seed_fanout : s->cfg.peer_fanout;

            q = c->peer;
            c->victim = NULL;
            if (limit > 0 && q->nchildren >= limit && s->plan_depth < PLAN_DEPTH_MAX)
                c->victim = cand_victim(q, p, cand_expect(q, true));
            if (seed && !(c->victim != NULL ? (seed_has_unique(q) || seed_has_rare(q, p, now))
                                            : seed_is_allowed(s, q, p, nonseed, now))) {
                s->cands[i] = s->cands[--n];
                continue;
            }
            c->rate = cand_expect(q, c->victim != NULL);
            if (c->rate > best)
                best = c->rate;
            i++;
        }
        for (size_t i = 0; i < n; i++) {
            struct sched_eval_candidate c;

            cand_describe(s->cands[i].peer, p, &c);
            c.rate = s->cands[i].rate;
            c.rate_best = best;
            s->cands[i].score = sched_eval_score(&c);
        }
        n = plan_spare_slow_pairs(s, p, n);
        /*
         * Peer fanout (sched_eval.c, step 2b): a normal parent takes another child only
         * while it has fewer than peer_fanout, unless the child has no parent and no other
         * candidate. With equal uplinks this makes the swarm a pipeline.
         */
        if (s->cfg.peer_fanout > 0) {
            size_t m = 0;
            double in = peer_delivery(p, now), fair = in >= 0 ? task_fair_share(t, now) : 0.0;

            /* Those with room first (qsort orders them below); keep only them if any. */
            for (size_t i = 0; i < n; i++) {
                if (cand_has_room(s, &s->cands[i], p, in, fair, now)) {
                    struct sched_cand c = s->cands[m];
                    s->cands[m++] = s->cands[i];
                    s->cands[i] = c;
                }
            }
            /*
             * Over every fanout: one parent, not a crowd, and not for a host measured
             * slow, for a while: it would halve a fast parent's stream (step 5). It waits
             * for a parent with room (the chain's tail, a peer that finished).
             */
            if (m > 0 || p->nparents > 0 || sched_plan_waits_for_room(s, p, now))
                n = m;
            /*
             * One new parent per plan: the next comes with the next plan (a piece report,
             * the tick), once this one's place is known. Peers registering together so line
             * up one behind another instead of all taking the first few.
             */
            if (quota > p->nparents + 1)
                quota = p->nparents + 1;
        }
        /* A parent clearly slower than a candidate with room makes way for it (step 5). */
        for (size_t i = 0; i < n; i++) {
            if (s->cands[i].rate > alt && host_has_free_slot(s->cands[i].peer->host))
                alt = s->cands[i].rate;
        }
        if (alt > 0 && plan_drop_poor(p, alt, now))
            changed = true;
        qsort(s->cands, n, sizeof(*s->cands), cand_cmp);
        for (size_t i = 0; i < n && p->nparents < quota; i++) {
            struct sched_edge *v = s->cands[i].victim;

            q = s->cands[i].peer;
            if (!host_has_free_slot(q->host) && v == NULL)
                continue;
            DF_ASSERT(!edge_would_cycle(s, q, p));
            if (v != NULL) {
                /* p takes v's place: v is planned again below, as a leaf elsewhere. */
                evicted[nevicted++] = v->child;
                sched_edge_del(v, now);
            }
            sched_edge_add(q, p, now);
            changed = true;
        }
    }
    /* Given parents, a normal download is under way: it can be a parent itself. */
    if (p->nparents > 0 && p->state == SCHED_PEER_RECEIVED_NORMAL)
        sched_peer_set_state(p, SCHED_PEER_RUNNING, now);
    /*
     * The whole new set, an emptied one too: a peer draws from every parent it was last
     * given (peer_p2p_set_parents drops the ones no longer named), so a parent taken away
     * and not replaced would go on sharing an uplink the plan gave to another child. The
     * PARENTS replaces one queued earlier in this event (naming a parent since gone, say).
     */
    if (changed)
        sched_emit_parents(out, p);
    s->plan_depth++;
    for (size_t i = 0; i < nevicted; i++)
        sched_plan_peer(s, evicted[i], false, true, now, out);
    s->plan_depth--;
    /* A finished parent p is through with goes to the peer furthest behind (step 5). */
    for (size_t i = 0; i < nfreed; i++)
        sched_plan_offer(s, freed[i], now, out);
}

/* Children of p lose it as a parent and are planned again. */
void
sched_plan_drop_children(struct sched_state *s, struct sched_peer *p, int64_t now,
                         struct sched_actions *out)
{
    struct sched_edge *e;

    while ((e = TAILQ_FIRST(&p->children)) != NULL) {
        struct sched_peer *c = e->child;

        sched_edge_del(e, now);
        sched_plan_peer(s, c, false, true, now, out);
    }
}

/*
 * Can q, a finished peer with room, be p's parent now (the filter of step 1 for a peer
 * that has no parents, so no cycle): another host, not blocked, healthy, a free slot, a
 * piece p lacks, not its parent already, and not a slow pair (sched_eval_slow_pair_ok).
 */
static bool
offer_is_ok(const struct sched_peer *q, const struct sched_peer *p, int64_t now)
{
    const struct sched_edge *e;

    if (q->host == p->host || peer_is_blocked(p, q, now) ||
        !sched_eval_slow_pair_ok(plan_host_is_slow(p->host, p->task),
                                 plan_host_is_slow(q->host, p->task), 0) ||
        sched_peer_useful(q, p) == 0)
        return false;
    TAILQ_FOREACH (e, &p->parents, centry) {
        if (e->parent == q)
            return false;
    }
    return true;
}

/*
 * How long p still needs, in ms: the pieces it lacks over what its parents deliver (each
 * edge as edge_gives says, the task's typical rate while unmeasured).
 */
static double
peer_time_left(const struct sched_peer *p)
{
    const struct sched_task *t = p->task;
    const struct sched_edge *e;
    double in = 0.0;

    TAILQ_FOREACH (e, &p->parents, centry) {
        double g = edge_gives(e, 0);

        in += g > 0 ? g : t->rate_ref;
    }
    return in > 0 ? (double)(t->piece_count - p->nfinished) * (double)t->piece_length / in : 0.0;
}

void
sched_plan_offer(struct sched_state *s, struct sched_peer *q, int64_t now,
                 struct sched_actions *out)
{
    struct sched_task *t = q->task;
    struct sched_peer *p, *best = NULL;
    double left = 0.0;

    if (q->state != SCHED_PEER_SUCCEEDED || q->host->type == SCHED_HOST_SEED ||
        (s->cfg.peer_fanout > 0 && q->nchildren >= s->cfg.peer_fanout) ||
        !host_has_free_slot(q->host) || !sched_host_is_healthy(s, q->host, now) ||
        sched_task_distrusts(t, q->host) ||
        sched_size_scope_of(t->content_length, t->piece_count) != SCHED_SIZE_NORMAL)
        return;
    TAILQ_FOREACH (p, &t->peers, tentry) {
        double l;

        if (p->state != SCHED_PEER_RUNNING || p->nparents == 0 ||
            p->nparents >= s->cfg.max_parents || p->data_lost || !offer_is_ok(q, p, now))
            continue;
        l = peer_time_left(p);
        if (best == NULL || l > left) {
            best = p;
            left = l;
        }
    }
    if (best == NULL)
        return;
    sched_edge_add(q, best, now);
    sched_emit_parents(out, best);
}
