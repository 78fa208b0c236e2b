/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The swarm simulator (sim_swarm.h). Peers 0..P-1 are the normal peers, task by task;
 * peers P..P+T-1 the seed peers. Hosts 0..H-1 are normal (host i runs peer i while
 * i < P), hosts H..H+T-1 the seed hosts, and task k's id is chosen so that rendezvous
 * hashing gives it seed host k. Every piece of a peer is missing, in flight or held; a
 * held piece counts in its task's holders. All the simulator's memory is allocated before
 * the first scheduler call, so the heap samples taken between steps measure the
 * scheduler alone.
 */
#include "sim_swarm.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df/df_err.h"
#include "../../src/peer/peer_p2p_pick.h"
#include "../../src/scheduler/sched_eval.h"
#include "sim_rand.h"

#define SIM_ID_LEN   24
#define SIM_XFER_MAX (2 * SCHED_PARENTS_MAX) /* the parents' and those just replaced */
#define SIM_PIECE_B  (4 * (UINT64_C(1) << 20))
#define SIM_TICK_MS  1000
#define SIM_GC_MS    10000
#define SIM_LEN      1000 /* a piece in the pick rules' units (peer_p2p_pick.h) */
#define SIM_STEAL_MS 200  /* the peer's PEER_P2P_STEAL_MS */

enum sim_piece { SIM_MISSING = 0, SIM_FLIGHT, SIM_HELD };

/*
 * A simulated peer's life:  IDLE --register--> ACTIVE --all pieces--> DONE
 *                           ACTIVE --BACK_TO_SOURCE--> SOURCE --all pieces--> DONE
 *                           ACTIVE | SOURCE --FAIL / DATA_LOSS--> FAILED;  --killed--> DEAD
 */
enum sim_peer_state { SIM_IDLE = 0, SIM_ACTIVE, SIM_SOURCE, SIM_DONE, SIM_FAILED, SIM_DEAD };

struct sim_xfer {
    uint32_t from; /* the parent */
    uint32_t piece;
    double left;     /* of the piece */
    double start_ms; /* the piece's cost, as a peer reports it, is the time since */
};

struct sim_host {
    char id[SIM_ID_LEN];
    double rate;  /* pieces per piece_ms */
    uint32_t nup; /* running uploads */
    bool seed, dead;
    int64_t announce_at; /* next AnnounceHost */
};

struct sim_peer {
    char id[SIM_ID_LEN];
    uint32_t host, task;
    enum sim_peer_state state;
    bool late;
    uint8_t *pieces; /* enum sim_piece, F of them */
    uint32_t nheld, next_scan;
    uint32_t parents[SCHED_PARENTS_MAX], nparents;
    uint32_t seen[SCHED_PARENTS_MAX]; /* the parent's nheld at its last fruitless scan, + 1 */
    struct sim_xfer xf[SIM_XFER_MAX];
    uint32_t nxf;
    double src_left; /* SOURCE: of the piece being fetched */
    double first_ms, done_ms;
    uint32_t from_seed; /* pieces it got from the seed peer (for --trace) */

    struct {
        uint32_t peer;
        struct peer_pick_stats st;
    } pk[SIM_XFER_MAX]; /* what it measured of its parents (SIM_DRAW_PICK) */

    uint32_t npk;
};

struct sim_task {
    char id[65];
    char url[64];
    uint32_t first, seed_peer, seed_host;
    uint32_t *holders;
    bool late_joined, deaths_done;
    double bound_ms, ubound; /* u_s + the peers' rates */
};

struct sim {
    const struct sim_swarm_params *p;
    struct sim_swarm_result *r;
    struct sched_state *st;
    struct sched_actions acts;
    struct sim_host *hosts;
    struct sim_peer *peers;
    struct sim_task *tasks;
    uint8_t *piece_mem;
    uint32_t *done;          /* children with a fetch that arrived in this step */
    uint32_t nhosts, npeers; /* all of them, seeds included */
    uint32_t nnormal;        /* normal peers */
    double now_ms;
    double slice_ms;                    /* a quarter of the worst bound */
    double slice_cap[SIM_BUSY_SLICES];  /* uplink capacity in each slice ... */
    double slice_sent[SIM_BUSY_SLICES]; /* ... and what was used of it */
    uint64_t rng;
    size_t heap0;
    int rv;
};

void
sim_swarm_params_default(struct sim_swarm_params *p)
{
    memset(p, 0, sizeof(*p));
    p->tasks = 1;
    p->peers = 16;
    p->hosts = 16;
    p->pieces = 64;
    p->death_at = 0.5;
    p->piece_ms = 4.0 * 8.0 * 1.048576 / 100.0 * 1000.0;
    p->steps = 10;
    p->seed_rate = 1.0;
    p->origin_rate = 4.0;
    p->limit = 20.0;
    p->rng = 0x5eed;
    sched_config_default(&p->cfg);
}

const char *
sim_rates_name(enum sim_rates r)
{
    return r == SIM_RATES_EVEN ? "even" : r == SIM_RATES_UNEVEN ? "uneven" : "skewed";
}

const char *
sim_join_name(enum sim_join j)
{
    return j == SIM_JOIN_ALL ? "all" : "half";
}

const char *
sim_pick_name(enum sim_pick k)
{
    return k == SIM_PICK_RAREST ? "rarest" : k == SIM_PICK_NEXT ? "next" : "peer";
}

const char *
sim_draw_name(enum sim_draw d)
{
    return d == SIM_DRAW_PICK ? "pick" : "each";
}

/* ---- measuring ---- */

static uint64_t
sim_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t
sim_heap(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

static void
sim_op_add(struct sim *s, enum sim_op op, uint64_t t0)
{
    struct sim_op_stat *o = &s->r->ops[op];
    uint64_t d = sim_cpu_ns() - t0;

    d = d > s->r->clock_ns ? d - s->r->clock_ns : 0;
    o->calls++;
    o->ns += d;
    if (d > o->max_ns)
        o->max_ns = d;
}

/* Record the first unexpected answer; the run stops at the end of the step. */
static void
sim_fail(struct sim *s, int rv, const char *what, const char *id)
{
    if (s->rv != 0)
        return;
    s->rv = DF_EINTERNAL;
    snprintf(s->r->err, sizeof(s->r->err), "%s %s at %.0f ms: %s", what, id, s->now_ms,
             df_strerror(rv));
}

/* The scheduler's invariant check; the first failure ends the run. */
static void
sim_check(struct sim *s)
{
    struct df_error err;

    memset(&err, 0, sizeof(err));
    s->r->check_rv = sched_state_check(s->st, &err);
    if (s->r->check_rv != 0 && s->rv == 0) {
        s->rv = DF_EINTERNAL;
        snprintf(s->r->err, sizeof(s->r->err), "state check at %.0f ms: %.200s", s->now_ms,
                 err.msg);
    }
}

static int64_t
sim_now(const struct sim *s)
{
    return (int64_t)s->now_ms;
}

/* ---- the scheduler's answers ---- */

/* Peer index of an id ("p<n>" or "s<k>"), or UINT32_MAX. */
static uint32_t
sim_peer_index(const struct sim *s, const char *id)
{
    unsigned long n;
    char *end;

    if (id == NULL || (id[0] != 'p' && id[0] != 's'))
        return UINT32_MAX;
    n = strtoul(id + 1, &end, 10);
    if (*end != '\0')
        return UINT32_MAX;
    if (id[0] == 's')
        n += s->nnormal;
    return n < s->npeers ? (uint32_t)n : UINT32_MAX;
}

static void sim_handle(struct sim *s);

static void
sim_register_seed(struct sim *s, const struct sched_action *a)
{
    uint32_t k;
    struct sim_peer *sp;
    struct sched_register req;
    uint64_t t0;
    int rv;

    for (k = 0; k < s->p->tasks && strcmp(s->tasks[k].id, a->task_id) != 0; k++)
        ;
    if (k == s->p->tasks || strcmp(a->host_id, s->hosts[s->tasks[k].seed_host].id) != 0) {
        sim_fail(s, DF_EINVAL, "TRIGGER_SEED names an unexpected seed host", a->host_id);
        return;
    }
    sp = &s->peers[s->tasks[k].seed_peer];
    if (sp->state != SIM_IDLE)
        return; /* triggered again: it is there already */
    memset(&req, 0, sizeof(req));
    req.host_id = a->host_id;
    req.task_id = a->task_id;
    req.peer_id = sp->id;
    req.url = s->tasks[k].url;
    req.content_length = (int64_t)s->p->pieces * (int64_t)SIM_PIECE_B;
    req.piece_length = SIM_PIECE_B;
    t0 = sim_cpu_ns();
    rv = sched_state_peer_register(s->st, &req, sim_now(s), &s->acts);
    sim_op_add(s, SIM_OP_REGISTER, t0);
    if (rv != 0)
        sim_fail(s, rv, "register seed", sp->id);
    sp->state = SIM_ACTIVE;
}

/* Stop p's transfers (it died or failed): its parents' uplinks are freed. */
static void
sim_peer_drop_xfers(struct sim *s, struct sim_peer *p)
{
    for (uint32_t i = 0; i < p->nxf; i++) {
        s->hosts[s->peers[p->xf[i].from].host].nup--;
        p->pieces[p->xf[i].piece] = SIM_MISSING;
    }
    p->nxf = 0;
    p->nparents = 0;
}

static void
sim_peer_to_source(struct sim *s, struct sim_peer *p)
{
    uint64_t t0;
    int rv;

    if (p->state != SIM_ACTIVE)
        return;
    if (p->host < s->p->hosts)
        s->r->normal_back_to_source++;
    sim_peer_drop_xfers(s, p);
    p->state = SIM_SOURCE;
    p->src_left = 1.0;
    t0 = sim_cpu_ns();
    rv = sched_state_peer_back_to_source_started(s->st, p->id, -1, 0, sim_now(s), &s->acts);
    sim_op_add(s, SIM_OP_PEER, t0);
    if (rv != 0)
        sim_fail(s, rv, "back-to-source started", p->id);
}

/* --trace: a peer's new parent set, each with its host's rate and what it holds. */
static void
sim_trace_parents(const struct sim *s, const struct sim_peer *p)
{
    FILE *f = s->p->trace;

    if (f == NULL)
        return;
    fprintf(f, "t %.1f %s (%.2f, %u held) <-", s->now_ms / s->p->piece_ms, p->id,
            s->hosts[p->host].rate, p->nheld);
    for (uint32_t j = 0; j < p->nparents; j++) {
        const struct sim_peer *q = &s->peers[p->parents[j]];

        fprintf(f, " %s(%.2f, %u)", q->id, s->hosts[q->host].rate, q->nheld);
    }
    fprintf(f, "%s\n", p->nparents == 0 ? " none" : "");
}

static void
sim_handle_one(struct sim *s, const struct sched_action *a)
{
    uint32_t i = sim_peer_index(s, a->peer_id);
    struct sim_peer *p = i == UINT32_MAX ? NULL : &s->peers[i];

    switch (a->kind) {
    case SCHED_ACT_TRIGGER_SEED:
        sim_register_seed(s, a);
        return;
    case SCHED_ACT_BLOCKED:
        s->r->blocked_actions++;
        return;
    case SCHED_ACT_DIGESTS_CLEARED:
        return;
    default:
        break;
    }
    if (p == NULL) {
        sim_fail(s, DF_EINVAL, "action for an unknown peer", a->peer_id);
        return;
    }
    switch (a->kind) {
    case SCHED_ACT_PARENTS:
        s->r->parents_actions++;
        if (a->nparents > s->r->max_parents_seen)
            s->r->max_parents_seen = (uint32_t)a->nparents;
        p->nparents = 0;
        for (size_t j = 0; j < a->nparents && j < SCHED_PARENTS_MAX; j++) {
            uint32_t q = sim_peer_index(s, a->parents[j].peer_id);

            if (q == UINT32_MAX) {
                sim_fail(s, DF_EINVAL, "unknown parent", a->parents[j].peer_id);
                return;
            }
            p->seen[p->nparents] = 0;
            p->parents[p->nparents++] = q;
        }
        sim_trace_parents(s, p);
        return;
    case SCHED_ACT_BACK_TO_SOURCE:
        sim_peer_to_source(s, p);
        return;
    case SCHED_ACT_FAIL:
    case SCHED_ACT_DATA_LOSS:
        s->r->fail_actions++;
        if (p->state == SIM_ACTIVE || p->state == SIM_SOURCE) {
            sim_peer_drop_xfers(s, p);
            p->state = SIM_FAILED;
        }
        return;
    default:
        sim_fail(s, DF_EINVAL, "unexpected action for", a->peer_id);
        return;
    }
}

/* Deliver what the scheduler said; answering may make it say more. */
static void
sim_handle(struct sim *s)
{
    while (s->acts.n > 0) {
        struct sched_actions cur = s->acts;

        memset(&s->acts, 0, sizeof(s->acts));
        for (size_t i = 0; i < cur.n; i++)
            sim_handle_one(s, &cur.v[i]);
        sched_actions_reset(&cur);
    }
}

/* ---- the swarm ---- */

static void
sim_host_announce(struct sim *s, struct sim_host *h)
{
    struct sched_host_info hi;
    uint64_t t0;
    int rv;

    memset(&hi, 0, sizeof(hi));
    hi.id = h->id;
    hi.ip = "127.0.0.1";
    hi.hostname = h->id;
    hi.type = h->seed ? SCHED_HOST_SEED : SCHED_HOST_NORMAL;
    hi.upload_slots = s->p->slots;
    hi.concurrent_uploads = h->nup;
    hi.rpc_port = 65000;
    hi.download_port = 65002;
    t0 = sim_cpu_ns();
    rv = sched_state_host_announce(s->st, &hi, sim_now(s));
    sim_op_add(s, SIM_OP_HOST, t0);
    if (rv != 0)
        sim_fail(s, rv, "announce host", h->id);
}

static void
sim_peer_register(struct sim *s, struct sim_peer *p)
{
    struct sim_task *t = &s->tasks[p->task];
    struct sched_register req;
    uint64_t t0;
    int rv;

    memset(&req, 0, sizeof(req));
    req.host_id = s->hosts[p->host].id;
    req.task_id = t->id;
    req.peer_id = p->id;
    req.url = t->url;
    req.content_length = (int64_t)s->p->pieces * (int64_t)SIM_PIECE_B;
    req.piece_length = SIM_PIECE_B;
    p->state = SIM_ACTIVE;
    t0 = sim_cpu_ns();
    rv = sched_state_peer_register(s->st, &req, sim_now(s), &s->acts);
    sim_op_add(s, SIM_OP_REGISTER, t0);
    if (rv != 0) {
        sim_fail(s, rv, "register", p->id);
        return;
    }
    sim_handle(s);
    if (p->state != SIM_ACTIVE)
        return;
    t0 = sim_cpu_ns();
    rv = sched_state_peer_started(s->st, p->id, sim_now(s));
    sim_op_add(s, SIM_OP_PEER, t0);
    if (rv != 0)
        sim_fail(s, rv, "started", p->id);
}

/* p holds piece now (from a parent, or the source when from is NULL): tell the scheduler. */
static void
sim_piece_got(struct sim *s, struct sim_peer *p, uint32_t piece, const struct sim_peer *from,
              double cost_ms)
{
    struct sim_task *t = &s->tasks[p->task];
    struct sched_piece pc;
    uint64_t t0;
    int rv;

    p->pieces[piece] = SIM_HELD;
    if (p->nheld++ == 0)
        p->first_ms = s->now_ms;
    if (from != NULL && from->host >= s->p->hosts)
        p->from_seed++;
    t->holders[piece]++;
    memset(&pc, 0, sizeof(pc));
    pc.number = piece;
    pc.parent_id = from != NULL ? from->id : NULL;
    pc.length = SIM_PIECE_B;
    pc.cost = (int64_t)cost_ms;
    t0 = sim_cpu_ns();
    rv = sched_state_piece_finished(s->st, p->id, &pc, sim_now(s), &s->acts);
    sim_op_add(s, SIM_OP_PIECE, t0);
    if (rv != 0)
        sim_fail(s, rv, "piece finished", p->id);
    if (p->nheld == s->p->pieces) {
        p->state = SIM_DONE;
        p->done_ms = s->now_ms;
        t0 = sim_cpu_ns();
        rv = sched_state_peer_finished(s->st, p->id, sim_now(s), &s->acts);
        sim_op_add(s, SIM_OP_PEER, t0);
        if (rv != 0)
            sim_fail(s, rv, "peer finished", p->id);
    }
    sim_handle(s);
}

/* Pieces q holds that c still has to ask for (neither held nor in flight). */
static uint32_t
sim_lead(const struct sim *s, const struct sim_peer *c, const struct sim_peer *q)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < s->p->pieces; i++)
        n += c->pieces[i] == SIM_MISSING && q->pieces[i] == SIM_HELD ? 1 : 0;
    return n;
}

/* A piece for child from parent q: per the pick policy, or UINT32_MAX. */
static uint32_t
sim_pick(struct sim *s, struct sim_peer *c, const struct sim_peer *q)
{
    const uint32_t *holders = s->tasks[c->task].holders;
    uint32_t n = s->p->pieces, best = UINT32_MAX, pick = UINT32_MAX, nbest = 0;

    if (s->p->pick == SIM_PICK_PEER && peer_pick_spreads(c->nparents, sim_lead(s, c, q))) {
        /* The peer's claim when it spreads (peer_p2p_pick.h): any of them, alike. */
        for (uint32_t i = 0; i < n; i++) {
            if (c->pieces[i] == SIM_MISSING && q->pieces[i] == SIM_HELD &&
                sim_rand_below(&s->rng, ++nbest) == 0)
                pick = i;
        }
        return pick;
    }
    if (s->p->pick != SIM_PICK_RAREST) {
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = (c->next_scan + k) % n;

            if (c->pieces[i] == SIM_MISSING && q->pieces[i] == SIM_HELD) {
                c->next_scan = i + 1;
                return i;
            }
        }
        return UINT32_MAX;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (c->pieces[i] != SIM_MISSING || q->pieces[i] != SIM_HELD)
            continue;
        if (holders[i] < best) {
            best = holders[i];
            nbest = 0;
        }
        if (holders[i] == best && sim_rand_below(&s->rng, ++nbest) == 0)
            pick = i;
    }
    return pick;
}

static bool
sim_peer_fetches_from(const struct sim_peer *c, uint32_t q)
{
    for (uint32_t i = 0; i < c->nxf; i++) {
        if (c->xf[i].from == q)
            return true;
    }
    return false;
}

/* What c measured of parent q (a new entry takes the oldest place). */
static struct peer_pick_stats *
sim_pk(struct sim_peer *c, uint32_t q)
{
    uint32_t n = c->npk < SIM_XFER_MAX ? c->npk : SIM_XFER_MAX, k;

    for (uint32_t i = 0; i < n; i++) {
        if (c->pk[i].peer == q)
            return &c->pk[i].st;
    }
    k = c->npk++ % SIM_XFER_MAX;
    c->pk[k].peer = q;
    memset(&c->pk[k].st, 0, sizeof(c->pk[k].st));
    return &c->pk[k].st;
}

/* Start a fetch of piece from parent qi. */
static void
sim_xfer_start(struct sim *s, struct sim_peer *c, uint32_t qi, uint32_t piece)
{
    c->pieces[piece] = SIM_FLIGHT;
    c->xf[c->nxf].from = qi;
    c->xf[c->nxf].piece = piece;
    c->xf[c->nxf].left = 1.0;
    c->xf[c->nxf].start_ms = s->now_ms;
    c->nxf++;
    s->hosts[s->peers[qi].host].nup++;
}

/* Does parent q hold a piece c still has to ask for? */
static bool
sim_has_missing(const struct sim *s, const struct sim_peer *c, const struct sim_peer *q)
{
    for (uint32_t i = 0; i < s->p->pieces; i++) {
        if (c->pieces[i] == SIM_MISSING && q->pieces[i] == SIM_HELD)
            return true;
    }
    return false;
}

/*
 * The peer's rules (peer_p2p_pick.h): piece by piece, the parent expected to have it
 * soonest among those holding it, or none yet; then the endgame, a free parent with
 * nothing to give taking a piece in flight off a clearly slower one.
 */
static void
sim_peer_start_pick(struct sim *s, struct sim_peer *c)
{
    uint32_t missing = 0;

    for (uint32_t i = 0; i < s->p->pieces; i++)
        missing += c->pieces[i] == SIM_MISSING ? 1 : 0;
    for (uint32_t j = 0; j < c->nparents && c->nxf < SIM_XFER_MAX && missing > 0; j++) {
        uint32_t qi = c->parents[j], piece, who[SCHED_PARENTS_MAX], n = 0;
        struct peer_pick_cand cand[SCHED_PARENTS_MAX];
        int k;

        if (s->peers[qi].state == SIM_DEAD || sim_peer_fetches_from(c, qi))
            continue;
        if ((piece = sim_pick(s, c, &s->peers[qi])) == UINT32_MAX)
            continue;
        for (uint32_t m = 0; m < c->nparents; m++) {
            const struct sim_peer *q = &s->peers[c->parents[m]];

            if (q->state == SIM_DEAD || q->pieces[piece] != SIM_HELD)
                continue;
            cand[n].st = sim_pk(c, c->parents[m]);
            cand[n].left = 0;
            for (uint32_t x = 0; x < c->nxf; x++) {
                if (c->xf[x].from == c->parents[m])
                    cand[n].left += (uint64_t)(c->xf[x].left * SIM_LEN);
            }
            cand[n].free = !sim_peer_fetches_from(c, c->parents[m]);
            who[n++] = c->parents[m];
        }
        k = peer_pick_choose(cand, n, SIM_LEN, (uint64_t)(missing - 1) * SIM_LEN);
        if (k < 0)
            continue;
        sim_xfer_start(s, c, who[k], piece);
        missing--;
    }
    for (uint32_t j = 0; j < c->nparents; j++) {
        uint32_t bi = c->parents[j];
        const struct sim_peer *b = &s->peers[bi];

        if (b->state == SIM_DEAD || sim_peer_fetches_from(c, bi) || sim_has_missing(s, c, b))
            continue;
        for (uint32_t x = 0; x < c->nxf; x++) {
            struct sim_xfer *f = &c->xf[x];

            if (f->from == bi || b->pieces[f->piece] != SIM_HELD ||
                !peer_pick_steal(sim_pk(c, bi), SIM_LEN, (uint64_t)((1.0 - f->left) * SIM_LEN),
                                 (uint64_t)(s->now_ms - f->start_ms), SIM_STEAL_MS))
                continue;
            /* Dropped first, then asked of b: one writer. */
            s->hosts[s->peers[f->from].host].nup--;
            s->r->moved++;
            f->from = bi;
            f->left = 1.0;
            f->start_ms = s->now_ms;
            s->hosts[b->host].nup++;
            break;
        }
    }
}

/* Start a fetch from every parent that has something and is not sending already. */
static void
sim_peer_start(struct sim *s, struct sim_peer *c)
{
    if (s->p->draw == SIM_DRAW_PICK) {
        sim_peer_start_pick(s, c);
        return;
    }
    for (uint32_t j = 0; j < c->nparents && c->nxf < SIM_XFER_MAX; j++) {
        uint32_t qi = c->parents[j], piece;
        struct sim_peer *q = &s->peers[qi];

        if (q->state == SIM_DEAD || q->nheld + 1 == c->seen[j] || sim_peer_fetches_from(c, qi))
            continue;
        piece = sim_pick(s, c, q);
        if (piece == UINT32_MAX) {
            c->seen[j] = q->nheld + 1;
            continue;
        }
        sim_xfer_start(s, c, qi, piece);
    }
}

static void
sim_kill(struct sim *s, struct sim_peer *v)
{
    uint32_t vi = (uint32_t)(v - s->peers);
    uint64_t t0;
    int rv;

    sim_peer_drop_xfers(s, v);
    v->state = SIM_DEAD;
    s->hosts[v->host].dead = true;
    /* Its uploads break off: the children fetch those pieces elsewhere. */
    for (uint32_t i = 0; i < s->npeers; i++) {
        struct sim_peer *c = &s->peers[i];

        for (uint32_t k = 0; k < c->nxf;) {
            if (c->xf[k].from != vi) {
                k++;
                continue;
            }
            s->hosts[v->host].nup--;
            c->pieces[c->xf[k].piece] = SIM_MISSING;
            c->xf[k] = c->xf[--c->nxf];
            memset(c->seen, 0, sizeof(c->seen));
        }
    }
    t0 = sim_cpu_ns();
    rv = sched_state_peer_leave(s->st, v->id, sim_now(s), &s->acts);
    sim_op_add(s, SIM_OP_PEER, t0);
    if (rv != 0)
        sim_fail(s, rv, "leave", v->id);
    sim_handle(s);
}

/* Late joiners and deaths, by each task's progress and bound. */
static void
sim_events(struct sim *s)
{
    const struct sim_swarm_params *p = s->p;

    for (uint32_t k = 0; k < p->tasks; k++) {
        struct sim_task *t = &s->tasks[k];

        if (p->join == SIM_JOIN_HALF_LATE && !t->late_joined) {
            uint64_t held = 0, early = 0, missing = 0;

            for (uint32_t i = 0; i < p->peers; i++) {
                const struct sim_peer *q = &s->peers[t->first + i];

                if (!q->late) {
                    held += q->nheld;
                    early++;
                }
            }
            if (2 * held >= early * p->pieces) {
                t->late_joined = true;
                for (uint32_t i = 0; i < p->peers; i++) {
                    struct sim_peer *q = &s->peers[t->first + i];

                    missing += p->pieces - q->nheld;
                    if (q->late)
                        sim_peer_register(s, q);
                }
                /* What is left needs the whole swarm's uplink at least. */
                t->bound_ms =
                        fmax(t->bound_ms, s->now_ms + (double)missing * p->piece_ms / t->ubound);
            }
        }
        if (p->deaths > 0 && !t->deaths_done && s->now_ms >= p->death_at * t->bound_ms) {
            uint32_t left = p->deaths;

            t->deaths_done = true;
            for (uint32_t tries = 0; left > 0 && tries < 100 * p->peers; tries++) {
                struct sim_peer *v = &s->peers[t->first + sim_rand_below(&s->rng, p->peers)];

                if (v->state != SIM_ACTIVE)
                    continue;
                sim_kill(s, v);
                left--;
            }
        }
    }
}

/* Does host i hold or fetch the task now: its peer running, a source or done? */
static bool
sim_host_in_swarm(const struct sim *s, uint32_t i)
{
    const struct sim_host *h = &s->hosts[i];
    uint32_t pi = h->seed ? s->nnormal + (i - s->p->hosts) : i;
    enum sim_peer_state st;

    if (h->dead || pi >= s->npeers || (!h->seed && i >= s->nnormal))
        return false;
    st = s->peers[pi].state;
    return st == SIM_ACTIVE || st == SIM_SOURCE || st == SIM_DONE;
}

/* Count one step of the uplinks: what every host in the swarm could send and what it did. */
static void
sim_count_uplinks(struct sim *s, double frac)
{
    uint32_t k = (uint32_t)(s->now_ms / s->slice_ms);
    double cap = 0, sent = 0;

    for (uint32_t i = 0; i < s->nhosts; i++) {
        if (!sim_host_in_swarm(s, i))
            continue;
        cap += s->hosts[i].rate * frac;
        if (s->hosts[i].nup > 0)
            sent += s->hosts[i].rate * frac; /* shared by its uploads, all of it used */
    }
    k = k < SIM_BUSY_SLICES ? k : SIM_BUSY_SLICES - 1;
    s->slice_cap[k] += cap;
    s->slice_sent[k] += sent;
    s->r->up_capacity += cap;
    s->r->up_sent += sent;
    if (k + 1 > s->r->nbusy)
        s->r->nbusy = k + 1;
}

/* One step of transfers: progress at the fair share, then the arrivals, then new fetches. */
static void
sim_step(struct sim *s)
{
    double frac = 1.0 / (double)s->p->steps;
    uint32_t ndone = 0;

    sim_count_uplinks(s, frac);
    for (uint32_t i = 0; i < s->npeers; i++) {
        struct sim_peer *c = &s->peers[i];
        bool arrived = false;

        if (c->state == SIM_SOURCE) {
            c->src_left -= s->p->origin_rate * frac;
            while (c->src_left <= 1e-9 && c->state == SIM_SOURCE) {
                uint32_t n;

                for (n = 0; c->pieces[n] == SIM_HELD; n++)
                    ;
                s->r->origin_fetches++;
                c->src_left += 1.0;
                sim_piece_got(s, c, n, NULL, s->p->piece_ms / s->p->origin_rate);
            }
            continue;
        }
        for (uint32_t k = 0; k < c->nxf; k++) {
            const struct sim_host *h = &s->hosts[s->peers[c->xf[k].from].host];

            c->xf[k].left -= h->rate / (double)h->nup * frac;
            arrived = arrived || c->xf[k].left <= 1e-9;
        }
        if (arrived)
            s->done[ndone++] = i;
    }
    /* Arrivals, after every share was computed; telling the scheduler may fail a child. */
    for (uint32_t d = 0; d < ndone; d++) {
        struct sim_peer *c = &s->peers[s->done[d]];

        for (uint32_t k = 0; k < c->nxf;) {
            struct sim_xfer x = c->xf[k];
            struct sim_peer *q = &s->peers[x.from];

            if (x.left > 1e-9) {
                k++;
                continue;
            }
            c->xf[k] = c->xf[--c->nxf];
            s->hosts[q->host].nup--;
            if (q->host >= s->p->hosts)
                s->r->seed_uploads++;
            else
                s->r->peer_uploads++;
            if (c->state == SIM_ACTIVE && s->p->draw == SIM_DRAW_PICK)
                peer_pick_measured(sim_pk(c, x.from), SIM_LEN, (uint64_t)(s->now_ms - x.start_ms));
            if (c->state == SIM_ACTIVE)
                sim_piece_got(s, c, x.piece, q, s->now_ms - x.start_ms);
            else
                c->pieces[x.piece] = SIM_MISSING;
        }
    }
    for (uint32_t i = 0; i < s->npeers; i++) {
        if (s->peers[i].state == SIM_ACTIVE)
            sim_peer_start(s, &s->peers[i]);
    }
}

/* The scheduler's periodic work and the hosts' announces, once a simulated second. */
static void
sim_second(struct sim *s, bool gc)
{
    uint64_t t0;
    int rv;

    for (uint32_t i = 0; i < s->nhosts; i++) {
        struct sim_host *h = &s->hosts[i];

        if (!h->dead && h->announce_at <= sim_now(s)) {
            sim_host_announce(s, h);
            h->announce_at += s->p->cfg.host_announce_interval / 2;
        }
    }
    t0 = sim_cpu_ns();
    rv = sched_state_tick(s->st, sim_now(s), &s->acts);
    sim_op_add(s, SIM_OP_TICK, t0);
    if (rv != 0)
        sim_fail(s, rv, "tick", "");
    sim_handle(s);
    if (s->p->check_each_tick && s->rv == 0)
        sim_check(s);
    if (gc) {
        t0 = sim_cpu_ns();
        rv = sched_state_gc(s->st, sim_now(s), &s->acts, NULL);
        sim_op_add(s, SIM_OP_GC, t0);
        if (rv != 0)
            sim_fail(s, rv, "gc", "");
        sim_handle(s);
    }
    {
        size_t heap = sim_heap();

        if (heap > s->heap0 && heap - s->heap0 > s->r->heap_peak)
            s->r->heap_peak = heap - s->heap0;
    }
}

/* Host rates for one task's peers, the seed's and the bound. */
static void
sim_task_rates(struct sim *s, struct sim_task *t)
{
    const struct sim_swarm_params *p = s->p;
    uint32_t nslow = p->rates == SIM_RATES_UNEVEN ? p->peers / 4 : 0;
    double us = p->seed_rate, sum = us;

    for (uint32_t i = 0; i < p->peers; i++) {
        struct sim_host *h = &s->hosts[s->peers[t->first + i].host];

        if (p->rates == SIM_RATES_SKEWED)
            h->rate = 0.1 * pow(20.0, sim_rand_unit(&s->rng));
        else
            h->rate = 1.0;
    }
    /* A random quarter is slow: pick without repeats. */
    while (nslow > 0) {
        struct sim_host *h = &s->hosts[s->peers[t->first + sim_rand_below(&s->rng, p->peers)].host];

        if (h->rate == 1.0) {
            h->rate = 0.1;
            nslow--;
        }
    }
    for (uint32_t i = 0; i < p->peers; i++)
        sum += s->hosts[s->peers[t->first + i].host].rate;
    s->hosts[t->seed_host].rate = us;
    t->ubound = sum;
    t->bound_ms = fmax((double)p->pieces / us, (double)p->peers * p->pieces / sum) * p->piece_ms;
}

/* The Kumar-Ross bound over the survivors: deaths take their uplinks away. */
static double
sim_task_bound_alive(const struct sim *s, const struct sim_task *t)
{
    const struct sim_swarm_params *p = s->p;
    double sum = p->seed_rate, n = 0;

    if (p->deaths == 0)
        return t->bound_ms;
    for (uint32_t i = 0; i < p->peers; i++) {
        const struct sim_peer *q = &s->peers[t->first + i];

        if (q->state != SIM_DEAD) {
            sum += s->hosts[q->host].rate;
            n++;
        }
    }
    return fmax((double)p->pieces / p->seed_rate, n * p->pieces / sum) * p->piece_ms;
}

/* Task k's id: one that rendezvous hashing gives to seed host k. */
static void
sim_task_id(struct sim *s, uint32_t k)
{
    struct sim_task *t = &s->tasks[k];

    for (uint32_t n = k * 1000;; n++) {
        uint64_t best_w = 0;
        uint32_t best = 0;

        snprintf(t->id, sizeof(t->id), "%064x", n);
        for (uint32_t j = 0; j < s->p->tasks; j++) {
            uint64_t w = sched_eval_seed_weight(t->id, s->hosts[s->p->hosts + j].id);

            if (j == 0 || w > best_w) {
                best_w = w;
                best = j;
            }
        }
        if (best == k)
            return;
    }
}

static int
sim_params_check(const struct sim_swarm_params *p, struct sim_swarm_result *r)
{
    const char *why = NULL;

    if (p->tasks == 0 || p->peers == 0 || p->pieces < 2 || p->pieces > p->cfg.max_piece_count)
        why = "tasks, peers >= 1 and pieces 2..maxPieceCount";
    else if ((uint64_t)p->tasks * p->peers > p->hosts || p->hosts > 1000000)
        why = "hosts must be >= tasks * peers (and at most 1000000)";
    else if (p->steps == 0 || !(p->piece_ms > 0) || !(p->seed_rate > 0) || !(p->origin_rate > 0) ||
             !(p->limit > 1) || p->rng == 0 || p->deaths > p->peers / 2 || !(p->death_at >= 0))
        why = "steps, piece_ms, rates, limit, rng > 0; deaths <= peers / 2";
    if (why == NULL)
        return 0;
    snprintf(r->err, sizeof(r->err), "bad parameters: %s", why);
    return DF_EINVAL;
}

static void
sim_free(struct sim *s)
{
    sched_actions_reset(&s->acts);
    sched_state_free(s->st);
    if (s->tasks != NULL) {
        for (uint32_t k = 0; k < s->p->tasks; k++)
            free(s->tasks[k].holders);
    }
    free(s->tasks);
    free(s->hosts);
    free(s->peers);
    free(s->piece_mem);
    free(s->done);
}

static int
double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/*
 * --trace, every piece time: each normal peer's pieces held, parents, fetches running and
 * uploads running ("held/parents/fetching/uploading"), by peer index.
 */
static void
sim_trace_snapshot(const struct sim *s)
{
    FILE *f = s->p->trace;

    fprintf(f, "snap %.0f", s->now_ms / s->p->piece_ms);
    for (uint32_t i = 0; i < s->nnormal; i++) {
        const struct sim_peer *q = &s->peers[i];

        fprintf(f, " %u/%u/%u/%u", q->nheld, q->nparents, q->nxf, s->hosts[q->host].nup);
    }
    fprintf(f, "\n");
}

/* --trace, at the end: each normal peer's rate, first piece, completion, pieces from the seed. */
static void
sim_trace_end(const struct sim *s)
{
    FILE *f = s->p->trace;

    for (uint32_t i = 0; i < s->nnormal; i++) {
        const struct sim_peer *q = &s->peers[i];

        fprintf(f, "end %s rate %.2f first %.1f done %.1f from seed %u%s\n", q->id,
                s->hosts[q->host].rate, q->first_ms / s->p->piece_ms, q->done_ms / s->p->piece_ms,
                q->from_seed, q->state == SIM_DONE ? "" : " (not done)");
    }
}

/* The figures of a finished run. */
static void
sim_collect(struct sim *s)
{
    const struct sim_swarm_params *p = s->p;
    struct sim_swarm_result *r = s->r;
    double *times = calloc(s->nnormal, sizeof(double));
    uint32_t n = 0;
    double ratio_sum = 0;

    r->peers = s->nnormal;
    for (uint32_t k = 0; k < p->tasks; k++) {
        const struct sim_task *t = &s->tasks[k];
        double last = 0, bound = sim_task_bound_alive(s, t), ratio;
        bool all = true;

        for (uint32_t i = 0; i < p->peers; i++) {
            const struct sim_peer *q = &s->peers[t->first + i];

            if (q->state == SIM_DEAD) {
                r->dead++;
            } else if (q->state == SIM_DONE) {
                r->done++;
                last = fmax(last, q->done_ms);
                if (times != NULL)
                    times[n++] = q->done_ms;
            } else {
                if (q->state == SIM_FAILED)
                    r->failed++;
                all = false;
            }
        }
        ratio = (all ? last : s->now_ms) / bound;
        ratio_sum += ratio;
        if (ratio > r->worst_ratio) {
            r->worst_ratio = ratio;
            r->bound_ms = bound;
        }
    }
    r->mean_ratio = ratio_sum / p->tasks;
    for (uint32_t k = 0; k < r->nbusy; k++)
        r->busy[k] = s->slice_cap[k] > 0 ? s->slice_sent[k] / s->slice_cap[k] : 0.0;
    r->all_done = r->done + r->dead == r->peers;
    if (n > 0) {
        qsort(times, n, sizeof(double), double_cmp);
        r->first_ms = times[0];
        r->median_ms = times[n / 2];
        r->last_ms = times[n - 1];
    }
    free(times);
}

int
sim_swarm_run(const struct sim_swarm_params *p, struct sim_swarm_result *r)
{
    struct sim s;
    struct sched_config cfg = p->cfg;
    double end_ms = 0;
    uint64_t t0;
    int rv;

    memset(r, 0, sizeof(*r));
    memset(&s, 0, sizeof(s));
    if ((rv = sim_params_check(p, r)) != 0)
        return rv;
    s.p = p;
    s.r = r;
    s.rng = p->rng;
    s.nnormal = p->tasks * p->peers;
    s.npeers = s.nnormal + p->tasks;
    s.nhosts = p->hosts + p->tasks;
    /* Everything the simulator needs, before the scheduler's first allocation. */
    s.hosts = calloc(s.nhosts, sizeof(*s.hosts));
    s.peers = calloc(s.npeers, sizeof(*s.peers));
    s.tasks = calloc(p->tasks, sizeof(*s.tasks));
    s.piece_mem = calloc((size_t)s.npeers * p->pieces, 1);
    s.done = calloc(s.npeers, sizeof(*s.done));
    if (s.hosts == NULL || s.peers == NULL || s.tasks == NULL || s.piece_mem == NULL ||
        s.done == NULL) {
        sim_free(&s);
        return DF_ENOMEM;
    }
    for (uint32_t i = 0; i < s.nhosts; i++) {
        struct sim_host *h = &s.hosts[i];

        h->seed = i >= p->hosts;
        if (h->seed)
            snprintf(h->id, sizeof(h->id), "seed%u", i - p->hosts);
        else
            snprintf(h->id, sizeof(h->id), "h%u", i);
        h->rate = 1.0;
        /* Announces spread over the interval, as hosts started at different times. */
        h->announce_at =
                (int64_t)((uint64_t)i * (uint64_t)(cfg.host_announce_interval / 2) / s.nhosts);
    }
    for (uint32_t k = 0; k < p->tasks; k++) {
        struct sim_task *t = &s.tasks[k];

        t->first = k * p->peers;
        t->seed_peer = s.nnormal + k;
        t->seed_host = p->hosts + k;
        snprintf(t->url, sizeof(t->url), "http://origin.example/blob%u", k);
        t->holders = calloc(p->pieces, sizeof(uint32_t));
        if (t->holders == NULL) {
            sim_free(&s);
            return DF_ENOMEM;
        }
        sim_task_id(&s, k);
    }
    for (uint32_t i = 0; i < s.npeers; i++) {
        struct sim_peer *q = &s.peers[i];

        q->pieces = s.piece_mem + (size_t)i * p->pieces;
        if (i < s.nnormal) {
            snprintf(q->id, sizeof(q->id), "p%u", i);
            q->host = i;
            q->task = i / p->peers;
            q->late = p->join == SIM_JOIN_HALF_LATE && i % p->peers >= p->peers / 2;
        } else {
            snprintf(q->id, sizeof(q->id), "s%u", i - s.nnormal);
            q->host = p->hosts + (i - s.nnormal);
            q->task = i - s.nnormal;
        }
    }
    for (uint32_t k = 0; k < p->tasks; k++)
        sim_task_rates(&s, &s.tasks[k]);

    /* The cost of reading the clock, taken off every timed call. */
    t0 = sim_cpu_ns();
    for (int i = 0; i < 1000; i++)
        (void)sim_cpu_ns();
    r->clock_ns = (sim_cpu_ns() - t0) / 1000;

    cfg.max_hosts = s.nhosts > cfg.max_hosts ? s.nhosts : cfg.max_hosts;
    cfg.max_peers = s.npeers > cfg.max_peers ? s.npeers : cfg.max_peers;
    cfg.max_peers_per_task =
            p->peers + 1 > cfg.max_peers_per_task ? p->peers + 1 : cfg.max_peers_per_task;
    cfg.max_tasks = p->tasks > cfg.max_tasks ? p->tasks : cfg.max_tasks;
    s.heap0 = sim_heap();
    s.st = sched_state_new(&cfg);
    for (uint32_t i = 0; i < s.nhosts; i++) {
        sim_host_announce(&s, &s.hosts[i]);
        s.hosts[i].announce_at += cfg.host_announce_interval / 2;
    }
    r->heap_hosts = sim_heap() - s.heap0;
    for (uint32_t i = 0; i < s.nnormal && s.rv == 0; i++) {
        if (!s.peers[i].late)
            sim_peer_register(&s, &s.peers[i]);
    }
    for (uint32_t k = 0; k < p->tasks; k++)
        end_ms = fmax(end_ms, p->limit * s.tasks[k].bound_ms);
    s.slice_ms = end_ms / p->limit / 4.0;

    for (uint64_t step = 1; s.rv == 0; step++) {
        double prev = s.now_ms;
        bool all = true;

        s.now_ms = (double)step * p->piece_ms / (double)p->steps;
        sim_events(&s);
        sim_step(&s);
        if (p->trace != NULL && step % p->steps == 0)
            sim_trace_snapshot(&s);
        if ((int64_t)s.now_ms / SIM_TICK_MS != (int64_t)prev / SIM_TICK_MS)
            sim_second(&s, (int64_t)s.now_ms / SIM_GC_MS != (int64_t)prev / SIM_GC_MS);
        for (uint32_t i = 0; i < s.nnormal && all; i++)
            all = s.peers[i].state == SIM_DONE || s.peers[i].state == SIM_DEAD ||
                  s.peers[i].state == SIM_FAILED;
        if (all || s.now_ms > end_ms)
            break;
    }
    sim_collect(&s);
    if (p->trace != NULL)
        sim_trace_end(&s);
    if (s.rv == 0)
        sim_check(&s);
    sim_free(&s);
    return s.rv;
}

static void
sim_op_print(FILE *f, const char *name, const struct sim_op_stat *o)
{
    fprintf(f, "  %-9s %10llu calls %9.2f us/call %10.1f us max\n", name,
            (unsigned long long)o->calls,
            o->calls > 0 ? (double)o->ns / (double)o->calls / 1e3 : 0.0, (double)o->max_ns / 1e3);
}

void
sim_swarm_print(FILE *f, const struct sim_swarm_params *p, const struct sim_swarm_result *r)
{
    static const char *const names[SIM_OP_COUNT] = {"host", "register", "piece",
                                                    "peer", "tick",     "gc"};
    double pt = p->piece_ms, fpieces = (double)p->tasks * p->pieces;
    uint64_t all_ns = 0, all_calls = 0;
    uint32_t registered = r->peers + p->tasks;

    fprintf(f,
            "sched sim: %u task(s) x %u peers, %u hosts, %u pieces, rates %s, join %s, pick %s, "
            "draw %s, deaths %u at %.2f of the bound, parents %u, peer fanout %u, seed fanout %u, "
            "rng %llu\n",
            p->tasks, p->peers, p->hosts + p->tasks, p->pieces, sim_rates_name(p->rates),
            sim_join_name(p->join), sim_pick_name(p->pick), sim_draw_name(p->draw), p->deaths,
            p->death_at, p->cfg.max_parents, p->cfg.peer_fanout, p->cfg.seed_fanout,
            (unsigned long long)p->rng);
    fprintf(f,
            "  done %s (%u of %u, %u killed, %u failed); completion first/median/last "
            "%.1f/%.1f/%.1f piece times; last/bound %.3f worst task, %.3f mean (bound %.1f)\n",
            r->all_done ? "all" : "NOT ALL", r->done, r->peers, r->dead, r->failed,
            r->first_ms / pt, r->median_ms / pt, r->last_ms / pt, r->worst_ratio, r->mean_ratio,
            r->bound_ms / pt);
    fprintf(f,
            "  origin %.3f x F, seed uploads %.3f x F, peer uploads %llu, PARENTS %llu, "
            "FAIL %llu, BLOCKED %llu, normal peers to the source %llu, most parents %u, "
            "endgame moves %llu\n",
            (double)r->origin_fetches / fpieces, (double)r->seed_uploads / fpieces,
            (unsigned long long)r->peer_uploads, (unsigned long long)r->parents_actions,
            (unsigned long long)r->fail_actions, (unsigned long long)r->blocked_actions,
            (unsigned long long)r->normal_back_to_source, r->max_parents_seen,
            (unsigned long long)r->moved);
    fprintf(f, "  uplinks busy %.1f%% of the swarm's capacity; by quarters of the bound:",
            r->up_capacity > 0 ? 100.0 * r->up_sent / r->up_capacity : 0.0);
    for (uint32_t k = 0; k < r->nbusy; k++)
        fprintf(f, " %.0f%s", 100.0 * r->busy[k], k + 1 == SIM_BUSY_SLICES ? "+" : "");
    fprintf(f, "\n");
    fprintf(f, "  scheduler CPU (thread clock, %llu ns per reading taken off):\n",
            (unsigned long long)r->clock_ns);
    for (int i = 0; i < SIM_OP_COUNT; i++) {
        sim_op_print(f, names[i], &r->ops[i]);
        if (i != SIM_OP_TICK && i != SIM_OP_GC) {
            all_ns += r->ops[i].ns;
            all_calls += r->ops[i].calls;
        }
    }
    fprintf(f, "  per announce (host + peer messages): %.2f us; tick per peer: %.3f us\n",
            all_calls > 0 ? (double)all_ns / (double)all_calls / 1e3 : 0.0,
            r->ops[SIM_OP_TICK].calls > 0
                    ? (double)r->ops[SIM_OP_TICK].ns / (double)r->ops[SIM_OP_TICK].calls / 1e3 /
                              registered
                    : 0.0);
    fprintf(f,
            "  scheduler heap: %.1f MiB with the hosts (%.0f B/host), peak %.1f MiB "
            "(%.0f B/peer beyond the hosts)\n",
            (double)r->heap_hosts / 1048576.0, (double)r->heap_hosts / (p->hosts + p->tasks),
            (double)r->heap_peak / 1048576.0,
            r->heap_peak > r->heap_hosts ? (double)(r->heap_peak - r->heap_hosts) / registered
                                         : 0.0);
    if (r->err[0] != '\0')
        fprintf(f, "  error: %s\n", r->err);
}
