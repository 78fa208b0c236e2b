/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hosts, tasks, peers and the per-task DAG of parent->child edges. Each object is in one
 * id map (df_map) and one list of its table; peers are also on their host's and their
 * task's lists, edges on their parent's children and their child's parents lists. Counts
 * kept beside those lists (npeers, nparents, load, nback_to_source, nfinished) are
 * updated only by the helpers that link and unlink, and sched_state_check() (sched_check.c)
 * recounts them. Only the two *_set_state() functions write a state. This file holds the
 * model and its events; choosing parents is sched_plan.c's, under the policy described in
 * sched_eval.c.
 */
#include "sched_state.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "df/df_id.h"
#include "df/log.h"
#include "df/xmalloc.h"
#include "sched_eval.h"
#include "sched_state_int.h"

#define HOST_SLOTS_NORMAL 200 /* Dragonfly's load limits */
#define HOST_SLOTS_SEED   2000
#define HOST_FAIL_MIN     8 /* uploads before the failure ratio counts */

static const char *const task_state_names[] = {"Pending", "Running", "Succeeded", "Failed",
                                               "Leave"};
static const char *const peer_state_names[] = {
        "Pending", "ReceivedEmpty", "ReceivedTiny", "ReceivedSmall", "ReceivedNormal",
        "Running", "BackToSource",  "Succeeded",    "Failed",        "Leave"};
static const char *const size_scope_names[] = {"NORMAL", "SMALL", "TINY", "EMPTY", "UNKNOW"};

const char *
sched_task_state_name(enum sched_task_state s)
{
    return (size_t)s < DF_NELEM(task_state_names) ? task_state_names[s] : "?";
}

const char *
sched_peer_state_name(enum sched_peer_state s)
{
    return (size_t)s < DF_NELEM(peer_state_names) ? peer_state_names[s] : "?";
}

const char *
sched_size_scope_name(enum sched_size_scope s)
{
    return (size_t)s < DF_NELEM(size_scope_names) ? size_scope_names[s] : "?";
}

enum sched_size_scope
sched_size_scope_of(int64_t content_length, uint32_t piece_count)
{
    if (content_length < 0)
        return SCHED_SIZE_UNKNOWN;
    if (content_length == 0)
        return SCHED_SIZE_EMPTY;
    if (content_length <= SCHED_TINY_MAX)
        return SCHED_SIZE_TINY;
    if (piece_count == 1)
        return SCHED_SIZE_SMALL;
    return SCHED_SIZE_NORMAL;
}

void
sched_config_default(struct sched_config *c)
{
    memset(c, 0, sizeof(*c));
    c->max_hosts = 10000;
    c->max_tasks = 100000;
    c->max_peers = 200000;
    c->max_peers_per_task = 10000;
    c->max_parents = 4;
    c->max_back_to_source = 1;
    c->max_strikes = 3;
    c->max_blocklist = 64;
    c->seed_fanout = 1;
    c->peer_fanout = 1;
    c->seed_wait = 20 * 1000;
    c->max_piece_count = UINT32_C(1) << 18;
    c->stall_timeout = 20 * 1000;
    c->wait_timeout = 60 * 1000;
    c->seed_timeout = 15 * 1000;
    c->peer_ttl = 24 * 3600 * 1000LL;
    c->host_announce_interval = 60 * 1000;
    c->task_ttl = 30 * 60 * 1000;
    c->startup_grace = 10 * 1000; /* the peers' own grace for a lost scheduler is 10 s too */
}

int
sched_config_check(const struct sched_config *c, struct df_error *err)
{
    if (c->max_hosts == 0 || c->max_tasks == 0 || c->max_peers == 0 || c->max_peers_per_task == 0)
        return df_error_set(err, DF_EINVAL, "scheduler: table caps must be at least 1");
    if (c->max_parents == 0 || c->max_parents > SCHED_PARENTS_MAX)
        return df_error_set(err, DF_EINVAL, "scheduler.maxParents: expected 1..%d",
                            SCHED_PARENTS_MAX);
    if (c->max_strikes == 0 || c->max_blocklist == 0)
        return df_error_set(err, DF_EINVAL, "scheduler: maxStrikes and blocklist must be >= 1");
    if (c->max_piece_count == 0 || c->max_piece_count > SCHED_PIECE_MAX)
        return df_error_set(err, DF_EINVAL, "scheduler.maxPieceCount: expected 1..%u",
                            (unsigned)SCHED_PIECE_MAX);
    if (c->stall_timeout <= 0 || c->wait_timeout <= 0 || c->seed_timeout <= 0 || c->peer_ttl <= 0 ||
        c->seed_wait < 0 || c->host_announce_interval <= 0 || c->task_ttl <= 0 ||
        c->startup_grace < 0)
        return df_error_set(err, DF_EINVAL, "scheduler: timeouts and TTLs must be positive");
    return 0;
}

/* ---- actions ---- */

static void
action_clear(struct sched_action *a)
{
    free(a->peer_id);
    free(a->task_id);
    free(a->host_id);
    free(a->ip);
    free(a->url);
    free(a->parent_id);
    for (size_t i = 0; i < a->nparents; i++) {
        free(a->parents[i].peer_id);
        free(a->parents[i].host_id);
        free(a->parents[i].ip);
    }
    free(a->parents);
    free(a->content);
    memset(a, 0, sizeof(*a));
}

void
sched_actions_reset(struct sched_actions *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++)
        action_clear(&a->v[i]);
    free(a->v);
    memset(a, 0, sizeof(*a));
}

const struct sched_action *
sched_actions_find(const struct sched_actions *a, enum sched_action_kind kind, const char *peer_id)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct sched_action *x = &a->v[i];

        if (x->kind != kind)
            continue;
        if (peer_id == NULL || (x->peer_id != NULL && strcmp(x->peer_id, peer_id) == 0))
            return x;
    }
    return NULL;
}

static struct sched_action *
actions_push(struct sched_actions *a, enum sched_action_kind kind, const struct sched_peer *p)
{
    struct sched_action *x;

    if (a->n == a->cap) {
        a->cap = a->cap == 0 ? 8 : a->cap * 2;
        a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    x = &a->v[a->n++];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    if (p != NULL) {
        x->peer_id = xstrdup(p->id);
        x->task_id = xstrdup(p->task->id);
        x->host_id = xstrdup(p->host->id);
    }
    return x;
}

/* Forget the queued actions addressed to a peer that is going away. */
static void
actions_drop_peer(struct sched_actions *a, const char *peer_id)
{
    size_t j = 0;

    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].peer_id != NULL && a->v[i].kind != SCHED_ACT_BLOCKED &&
            strcmp(a->v[i].peer_id, peer_id) == 0) {
            action_clear(&a->v[i]);
            continue;
        }
        a->v[j++] = a->v[i];
    }
    a->n = j;
}

/* ---- small helpers ---- */

size_t
sched_bits_words(uint32_t n)
{
    return ((size_t)n + 63) / 64;
}

bool
sched_bit_get(const uint64_t *b, uint32_t i)
{
    return (b[i / 64] >> (i % 64)) & 1;
}

static void
bit_set(uint64_t *b, uint32_t i)
{
    b[i / 64] |= UINT64_C(1) << (i % 64);
}

uint32_t
sched_bits_count(const uint64_t *b, uint32_t n)
{
    uint32_t c = 0;

    for (size_t i = 0; b != NULL && i < sched_bits_words(n); i++)
        c += (uint32_t)__builtin_popcountll(b[i]);
    return c;
}

/* Pieces parent holds that child lacks. */
uint32_t
sched_peer_useful(const struct sched_peer *parent, const struct sched_peer *child)
{
    const struct sched_task *t = child->task;
    uint32_t c = 0;

    if (parent->bits == NULL || child->bits == NULL)
        return 0;
    for (size_t i = 0; i < sched_bits_words(t->piece_count); i++)
        c += (uint32_t)__builtin_popcountll(parent->bits[i] & ~child->bits[i]);
    return c;
}

static bool
str_is_ok(const char *s, size_t max)
{
    return s != NULL && *s != '\0' && strnlen(s, max + 1) <= max;
}

static bool
opt_str_is_ok(const char *s, size_t max)
{
    return s == NULL || strnlen(s, max + 1) <= max;
}

static char *
opt_strdup(const char *s)
{
    return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

/* A source: fetching from the origin now, so it will have what it lacks. */
bool
sched_peer_is_source(const struct sched_peer *p)
{
    return p->state == SCHED_PEER_BACK_TO_SOURCE;
}

/* States that want parents. */
bool
sched_peer_wants_parents(const struct sched_peer *p)
{
    return p->state == SCHED_PEER_RECEIVED_SMALL || p->state == SCHED_PEER_RECEIVED_NORMAL ||
           p->state == SCHED_PEER_RUNNING;
}

static void
state_debug_check(const struct sched_state *s)
{
#ifdef DF_DEBUG
    struct df_error err;

    if (sched_state_check(s, &err) != 0)
        df_assert_fail(err.msg, __FILE__, __LINE__);
#else
    (void)s;
#endif
}

/* ---- state machines ---- */

#define task_set_state(t, st) task_set_state_at(t, st, __LINE__)

static void
task_set_state_at(struct sched_task *t, enum sched_task_state st, int line)
{
    enum sched_task_state old = t->state;

    DF_ASSERT(old != st);
    DF_ASSERT(st != SCHED_TASK_PENDING);
    DF_ASSERT(st != SCHED_TASK_FAILED || old == SCHED_TASK_RUNNING);
    DF_ASSERT(st != SCHED_TASK_SUCCEEDED || old == SCHED_TASK_RUNNING || old == SCHED_TASK_FAILED ||
              old == SCHED_TASK_LEAVE);
    log_debug("sched", "sched: task %.12s %s -> %s (line %d)", t->id, task_state_names[old],
              task_state_names[st], line);
    t->state = st;
}

bool
sched_peer_state_is_received(enum sched_peer_state st)
{
    return st >= SCHED_PEER_RECEIVED_EMPTY && st <= SCHED_PEER_RECEIVED_NORMAL;
}

/* Keep the waiting flag and stamp: called by every writer of state and parents. */
static void
peer_update_wait(struct sched_peer *p, int64_t now)
{
    bool w = sched_peer_wants_parents(p) && p->nparents == 0;

    if (w && !p->waiting)
        p->wait_since = now;
    p->waiting = w;
}

void
sched_peer_set_state_at(struct sched_peer *p, enum sched_peer_state st, int64_t now, int line)
{
    enum sched_peer_state old = p->state;

    DF_ASSERT(old != st && old != SCHED_PEER_LEAVE);
    switch (st) {
    case SCHED_PEER_PENDING:
        DF_ASSERT(!"no transition enters Pending");
        break;
    case SCHED_PEER_RECEIVED_EMPTY:
    case SCHED_PEER_RECEIVED_TINY:
    case SCHED_PEER_RECEIVED_SMALL:
    case SCHED_PEER_RECEIVED_NORMAL:
        DF_ASSERT(old == SCHED_PEER_PENDING);
        break;
    case SCHED_PEER_RUNNING:
        DF_ASSERT(old == SCHED_PEER_RECEIVED_SMALL || old == SCHED_PEER_RECEIVED_NORMAL);
        break;
    case SCHED_PEER_BACK_TO_SOURCE:
        DF_ASSERT(sched_peer_state_is_received(old) || old == SCHED_PEER_RUNNING);
        break;
    case SCHED_PEER_SUCCEEDED:
        DF_ASSERT(sched_peer_state_is_received(old) || old == SCHED_PEER_RUNNING ||
                  old == SCHED_PEER_BACK_TO_SOURCE);
        break;
    case SCHED_PEER_FAILED:
    case SCHED_PEER_LEAVE:
        break;
    }
    if (old == SCHED_PEER_BACK_TO_SOURCE)
        p->task->nback_to_source--;
    if (st == SCHED_PEER_BACK_TO_SOURCE) {
        p->task->nback_to_source++;
        p->source_at = now;
    }
    log_debug("sched", "sched: peer %s %s -> %s (line %d)", p->id, peer_state_names[old],
              peer_state_names[st], line);
    p->state = st;
    peer_update_wait(p, now);
}

/* ---- lookups ---- */

struct sched_host *
sched_host_get(const struct sched_state *s, const char *id)
{
    return id != NULL ? df_map_get(&s->hosts, id) : NULL;
}

struct sched_task *
sched_task_get(const struct sched_state *s, const char *id)
{
    return id != NULL ? df_map_get(&s->tasks, id) : NULL;
}

struct sched_peer *
sched_peer_get(const struct sched_state *s, const char *id)
{
    return id != NULL ? df_map_get(&s->peers, id) : NULL;
}

bool
sched_task_distrusts(const struct sched_task *t, const struct sched_host *h)
{
    for (uint32_t i = 0; i < t->ndistrusted; i++) {
        if (strcmp(t->distrusted[i], h->id) == 0)
            return true;
    }
    return false;
}

/* Distrust h for t (at most max_blocklist hosts: the oldest entry makes room). */
static void
task_distrust(const struct sched_state *s, struct sched_task *t, const struct sched_host *h)
{
    if (sched_task_distrusts(t, h))
        return;
    log_debug("sched", "sched: task %.12s: host %s distrusted (conflicting source reports)", t->id,
              h->id);
    if (t->ndistrusted == s->cfg.max_blocklist) {
        free(t->distrusted[0]);
        memmove(t->distrusted, t->distrusted + 1, (t->ndistrusted - 1) * sizeof(char *));
        t->ndistrusted--;
    }
    if (t->distrusted == NULL)
        t->distrusted = xcalloc(s->cfg.max_blocklist, sizeof(char *));
    t->distrusted[t->ndistrusted++] = xstrdup(h->id);
}

static bool
host_is_alive(const struct sched_state *s, const struct sched_host *h, int64_t now)
{
    return now - h->announced_at <= 2 * s->cfg.host_announce_interval;
}

bool
sched_host_is_healthy(const struct sched_state *s, const struct sched_host *h, int64_t now)
{
    uint64_t total = h->upload_ok + h->upload_failed;

    if (!host_is_alive(s, h, now))
        return false;
    /* A host failing most of its uploads is not offered until it succeeds again. */
    return total < HOST_FAIL_MIN || h->upload_failed * 2 <= total;
}

struct sched_block *
sched_peer_block_find(const struct sched_peer *p, const char *id)
{
    for (uint32_t i = 0; i < p->nblocks; i++) {
        if (strcmp(p->blocks[i].peer_id, id) == 0)
            return &p->blocks[i];
    }
    return NULL;
}

/* Get or add the block-list entry for id; NULL when the list is full. */
static struct sched_block *
peer_block_get(struct sched_state *s, struct sched_peer *p, const char *id)
{
    struct sched_block *b = sched_peer_block_find(p, id);

    if (b != NULL)
        return b;
    if (p->nblocks >= s->cfg.max_blocklist)
        return NULL;
    p->blocks = xrealloc(p->blocks, (p->nblocks + 1) * sizeof(*p->blocks));
    b = &p->blocks[p->nblocks++];
    b->peer_id = xstrdup(id);
    b->strikes = 0;
    b->blocked = false;
    return b;
}

/* ---- edges and the DAG ---- */

void
sched_edge_add(struct sched_peer *parent, struct sched_peer *child, int64_t now)
{
    struct sched_edge *e = xcalloc(1, sizeof(*e));

    e->parent = parent;
    e->child = child;
    e->created_at = now;
    TAILQ_INSERT_TAIL(&parent->children, e, pentry);
    TAILQ_INSERT_TAIL(&child->parents, e, centry);
    parent->nchildren++;
    child->nparents++;
    parent->host->load++;
    peer_update_wait(child, now);
    log_debug("sched", "sched: task %.12s: host %s takes parent host %s (%u parents, %u children)",
              child->task->id, child->host->id, parent->host->id, child->nparents,
              parent->nchildren);
}

void
sched_edge_del(struct sched_edge *e, int64_t now)
{
    struct sched_peer *child = e->child;

    TAILQ_REMOVE(&e->parent->children, e, pentry);
    TAILQ_REMOVE(&child->parents, e, centry);
    e->parent->nchildren--;
    child->nparents--;
    e->parent->host->load--;
    log_debug("sched", "sched: task %.12s: host %s drops parent host %s (%u parents, %u children)",
              child->task->id, child->host->id, e->parent->host->id, child->nparents,
              e->parent->nchildren);
    free(e);
    peer_update_wait(child, now);
}

static struct sched_edge *
edge_find(const struct sched_peer *parent, const struct sched_peer *child)
{
    struct sched_edge *e;

    TAILQ_FOREACH (e, &child->parents, centry) {
        if (e->parent == parent)
            return e;
    }
    return NULL;
}

static void
peer_drop_parents(struct sched_peer *p, int64_t now)
{
    struct sched_edge *e;

    while ((e = TAILQ_FIRST(&p->parents)) != NULL)
        sched_edge_del(e, now);
}

/* ---- actions about peers ---- */

/* Forget the PARENTS queued for p in this event: a later plan replaces it. */
void
sched_actions_drop_parents(struct sched_actions *out, const struct sched_peer *p)
{
    for (size_t k = 0; k < out->n; k++) {
        if (out->v[k].kind == SCHED_ACT_PARENTS && strcmp(out->v[k].peer_id, p->id) == 0) {
            action_clear(&out->v[k]);
            memmove(&out->v[k], &out->v[k + 1], (out->n - k - 1) * sizeof(out->v[0]));
            out->n--;
            break;
        }
    }
}

void
sched_emit_parents(struct sched_actions *out, const struct sched_peer *p)
{
    struct sched_action *a = NULL;
    struct sched_edge *e;
    size_t i = 0;

    /* One PARENTS per peer per event. */
    sched_actions_drop_parents(out, p);
    a = actions_push(out, SCHED_ACT_PARENTS, p);
    a->parents = xcalloc(p->nparents, sizeof(*a->parents));
    TAILQ_FOREACH (e, &p->parents, centry) {
        struct sched_parent *x = &a->parents[i++];
        const struct sched_host *h = e->parent->host;

        x->peer_id = xstrdup(e->parent->id);
        x->host_id = xstrdup(h->id);
        x->ip = xstrdup(h->ip);
        x->rpc_port = h->rpc_port;
        x->download_port = h->download_port;
        x->is_seed = h->type == SCHED_HOST_SEED;
    }
    a->nparents = i;
}

static bool
task_has_source(const struct sched_state *s, const struct sched_task *t, int64_t now)
{
    const struct sched_peer *q;

    if (t->nback_to_source > 0)
        return true;
    if (t->seed_host_id != NULL && t->seed_trig_at != 0 &&
        now - t->seed_trig_at < s->cfg.seed_timeout)
        return true; /* the seed is on its way */
    TAILQ_FOREACH (q, &t->peers, tentry) {
        if (q->state == SCHED_PEER_SUCCEEDED || (q->nfinished > 0 && q->state != SCHED_PEER_FAILED))
            return true;
    }
    return false;
}

static bool
task_can_back_to_source(const struct sched_state *s, const struct sched_task *t)
{
    return t->nback_to_source < s->cfg.max_back_to_source;
}

/* May p take a back-to-source slot of its task (its host's reports would be refused)? */
static bool
peer_can_back_to_source(const struct sched_state *s, const struct sched_peer *p)
{
    return task_can_back_to_source(s, p->task) && !sched_task_distrusts(p->task, p->host);
}

static void
peer_send_back_to_source(struct sched_peer *p, const char *reason, int64_t now,
                         struct sched_actions *out)
{
    struct sched_action *a;

    peer_drop_parents(p, now);
    sched_peer_set_state(p, SCHED_PEER_BACK_TO_SOURCE, now);
    if (p->task->state != SCHED_TASK_RUNNING)
        task_set_state(p->task, SCHED_TASK_RUNNING);
    a = actions_push(out, SCHED_ACT_BACK_TO_SOURCE, p);
    a->reason = reason;
}

/* Peers of t without parents try again (a new source or holder appeared). */
static void
task_plan_waiting(struct sched_state *s, struct sched_task *t, int64_t now,
                  struct sched_actions *out)
{
    struct sched_peer *q;

    TAILQ_FOREACH (q, &t->peers, tentry) {
        /* A slow host waiting for a parent with room is tried by the tick (step 5). */
        if (sched_peer_wants_parents(q) && q->nparents == 0 &&
            !sched_plan_waits_for_room(s, q, now))
            sched_plan_peer(s, q, false, false, now, out);
    }
}

/* The seed host serving t by rendezvous hashing, or NULL when no seed host is alive. */
static struct sched_host *
task_pick_seed(const struct sched_state *s, const struct sched_task *t, int64_t now)
{
    struct sched_host *h, *best = NULL;
    uint64_t best_w = 0;

    TAILQ_FOREACH (h, &s->host_list, entry) {
        uint64_t w;

        if (h->type != SCHED_HOST_SEED || !host_is_alive(s, h, now))
            continue;
        w = sched_eval_seed_weight(t->id, h->id);
        if (best == NULL || w > best_w) {
            best = h;
            best_w = w;
        }
    }
    return best;
}

/*
 * Trigger t's seed host (not `except`, the host asking) unless none is alive or it failed
 * recently. Returns whether it did.
 */
static bool
task_trigger_seed(struct sched_state *s, struct sched_task *t, const struct sched_host *except,
                  const char *reason, int64_t now, struct sched_actions *out)
{
    struct sched_host *seed = task_pick_seed(s, t, now);
    struct sched_action *a;

    if (seed == NULL || seed == except ||
        (t->seed_fail_at != 0 && now - t->seed_fail_at < s->cfg.seed_timeout))
        return false;
    free(t->seed_host_id);
    t->seed_host_id = xstrdup(seed->id);
    t->seed_trig_at = now;
    a = actions_push(out, SCHED_ACT_TRIGGER_SEED, NULL);
    a->task_id = xstrdup(t->id);
    a->host_id = xstrdup(seed->id);
    a->ip = xstrdup(seed->ip);
    a->rpc_port = seed->rpc_port;
    a->url = xstrdup(t->url);
    a->reason = reason;
    return true;
}

/*
 * In the startup grace no seed host alive may only mean that none has announced to this
 * (restarted) scheduler yet, while one is still fetching t.
 */
static bool
task_awaits_seed_host(const struct sched_state *s, const struct sched_task *t, int64_t now)
{
    return now < s->grace_until && task_pick_seed(s, t, now) == NULL;
}

/*
 * p found no parent: make sure some source will exist. Trigger the task's seed host unless
 * one is on its way or failed recently; without a seed, send p itself back to source
 * within max_back_to_source, unless seed hosts may still announce (startup grace).
 * Otherwise p keeps waiting.
 */
static void
task_ensure_source(struct sched_state *s, struct sched_peer *p, int64_t now,
                   struct sched_actions *out)
{
    struct sched_task *t = p->task;

    if (t->seed_host_id != NULL && t->seed_trig_at != 0 &&
        now - t->seed_trig_at >= s->cfg.seed_timeout) {
        log_debug("sched", "sched: task %.12s: seed %s did not come", t->id, t->seed_host_id);
        t->seed_fail_at = now;
        t->seed_trig_at = 0;
    }
    if (task_has_source(s, t, now))
        return;
    if (task_trigger_seed(s, t, p->host, "no peer holds the task", now, out))
        return;
    if (task_awaits_seed_host(s, t, now))
        return;
    if (peer_can_back_to_source(s, p)) {
        peer_send_back_to_source(p, "no seed peer available", now, out);
        task_plan_waiting(s, t, now, out); /* the new source feeds those already waiting */
    }
}

/* A source stopped without finishing: the task fails when nothing else feeds it. */
static void
task_source_lost(struct sched_state *s, struct sched_task *t, struct sched_peer *p, int64_t now)
{
    if (t->seed_host_id != NULL && strcmp(p->host->id, t->seed_host_id) == 0) {
        t->seed_fail_at = now;
        t->seed_trig_at = 0;
    }
    if (t->state == SCHED_TASK_RUNNING && !task_has_source(s, t, now))
        task_set_state(t, SCHED_TASK_FAILED);
}

/* p failed: it keeps no edge, its children are planned again, a lost source may fail t. */
static void
peer_fail(struct sched_state *s, struct sched_peer *p, int64_t now, struct sched_actions *out)
{
    bool was_source = sched_peer_is_source(p);

    peer_drop_parents(p, now);
    sched_peer_set_state(p, SCHED_PEER_FAILED, now);
    sched_plan_drop_children(s, p, now, out);
    if (was_source)
        task_source_lost(s, p->task, p, now);
    task_plan_waiting(s, p->task, now, out);
}

/* ---- object lifetime ---- */

static void
peer_free(struct sched_peer *p)
{
    if (p == NULL)
        return;
    for (uint32_t i = 0; i < p->nblocks; i++)
        free(p->blocks[i].peer_id);
    free(p->blocks);
    free(p->bits);
    free(p->id);
    free(p);
}

/* Remove p from every table and free it; its children are planned again. */
static void
peer_remove(struct sched_state *s, struct sched_peer *p, int64_t now, struct sched_actions *out)
{
    struct sched_task *t = p->task;
    bool was_source = sched_peer_is_source(p);

    actions_drop_peer(out, p->id);
    peer_drop_parents(p, now);
    sched_peer_set_state(p, SCHED_PEER_LEAVE, now);
    sched_plan_drop_children(s, p, now, out);
    df_map_del(&s->peers, p->id);
    TAILQ_REMOVE(&s->peer_list, p, entry);
    TAILQ_REMOVE(&p->host->peers, p, hentry);
    p->host->npeers--;
    TAILQ_REMOVE(&t->peers, p, tentry);
    t->npeers--;
    t->updated_at = now;
    if (was_source)
        task_source_lost(s, t, p, now);
    if (t->npeers == 0 && t->state != SCHED_TASK_LEAVE)
        task_set_state(t, SCHED_TASK_LEAVE);
    peer_free(p);
    if (t->npeers > 0)
        task_plan_waiting(s, t, now, out);
}

static void
task_free(struct sched_task *t)
{
    if (t == NULL)
        return;
    free(t->url);
    free(t->tag);
    free(t->application);
    free(t->digests);
    free(t->digest_bits);
    free(t->seed_bits);
    free(t->holders);
    for (uint32_t i = 0; i < t->ndistrusted; i++)
        free(t->distrusted[i]);
    free(t->distrusted);
    free(t->tiny);
    free(t->seed_host_id);
    free(t);
}

static void
task_remove(struct sched_state *s, struct sched_task *t)
{
    DF_ASSERT(t->npeers == 0);
    df_map_del(&s->tasks, t->id);
    TAILQ_REMOVE(&s->task_list, t, entry);
    task_free(t);
}

/* The host leaves the table: its source's count drops, and the source goes with its last. */
static void
host_source_release(struct sched_state *s, struct sched_host *h)
{
    struct sched_source *src = h->src;

    if (src == NULL)
        return;
    h->src = NULL;
    if (--src->nhosts > 0)
        return;
    df_map_del(&s->sources, src->key);
    free(src->key);
    free(src);
}

/*
 * The host to give up for a new one when the table is full: the longest silent among
 * those that missed an announce and serve nothing (no peers, no children). NULL if none.
 */
static struct sched_host *
host_stalest(const struct sched_state *s, int64_t now)
{
    struct sched_host *h, *best = NULL;

    TAILQ_FOREACH (h, &s->host_list, entry) {
        if (h->npeers > 0 || h->load > 0 || now - h->announced_at <= s->cfg.host_announce_interval)
            continue;
        if (best == NULL || h->announced_at < best->announced_at)
            best = h;
    }
    return best;
}

static void
host_free(struct sched_host *h)
{
    if (h == NULL)
        return;
    free(h->id);
    free(h->ip);
    free(h->hostname);
    free(h->idc);
    free(h->location);
    free(h);
}

static void
host_remove(struct sched_state *s, struct sched_host *h, int64_t now, struct sched_actions *out)
{
    struct sched_peer *p;
    struct sched_task *t;

    while ((p = TAILQ_FIRST(&h->peers)) != NULL)
        peer_remove(s, p, now, out);
    TAILQ_FOREACH (t, &s->task_list, entry) {
        if (t->seed_host_id != NULL && strcmp(t->seed_host_id, h->id) == 0) {
            DF_FREE(t->seed_host_id, free);
            t->seed_trig_at = 0;
        }
    }
    df_map_del(&s->hosts, h->id);
    TAILQ_REMOVE(&s->host_list, h, entry);
    host_source_release(s, h);
    host_free(h);
}

struct sched_state *
sched_state_new(const struct sched_config *cfg)
{
    struct sched_state *s = xcalloc(1, sizeof(*s));

    s->cfg = *cfg;
    df_map_init(&s->hosts, cfg->max_hosts);
    df_map_init(&s->sources, cfg->max_hosts);
    df_map_init(&s->tasks, cfg->max_tasks);
    df_map_init(&s->peers, cfg->max_peers);
    TAILQ_INIT(&s->host_list);
    TAILQ_INIT(&s->task_list);
    TAILQ_INIT(&s->peer_list);
    return s;
}

void
sched_state_set_limits(struct sched_state *s, uint32_t max_parents, uint32_t slots_normal,
                       uint32_t slots_seed)
{
    if (max_parents >= 1 && max_parents <= SCHED_PARENTS_MAX)
        s->cfg.max_parents = max_parents;
    s->cfg.slots_normal = slots_normal;
    s->cfg.slots_seed = slots_seed;
}

void
sched_state_free(struct sched_state *s)
{
    struct sched_host *h;
    struct sched_task *t;
    struct sched_peer *p;

    if (s == NULL)
        return;
    while ((p = TAILQ_FIRST(&s->peer_list)) != NULL) {
        struct sched_edge *e;

        while ((e = TAILQ_FIRST(&p->parents)) != NULL)
            sched_edge_del(e, 0);
        while ((e = TAILQ_FIRST(&p->children)) != NULL)
            sched_edge_del(e, 0);
        TAILQ_REMOVE(&s->peer_list, p, entry);
        peer_free(p);
    }
    while ((t = TAILQ_FIRST(&s->task_list)) != NULL) {
        TAILQ_REMOVE(&s->task_list, t, entry);
        task_free(t);
    }
    while ((h = TAILQ_FIRST(&s->host_list)) != NULL) {
        TAILQ_REMOVE(&s->host_list, h, entry);
        host_source_release(s, h);
        host_free(h);
    }
    df_map_reset(&s->hosts);
    df_map_reset(&s->sources);
    df_map_reset(&s->tasks);
    df_map_reset(&s->peers);
    free(s->stack);
    free(s->cands);
    free(s);
}

void
sched_state_start(struct sched_state *s, int64_t now)
{
    s->grace_until = now + s->cfg.startup_grace;
}

/* ---- hosts ---- */

int
sched_state_host_announce(struct sched_state *s, const struct sched_host_info *info, int64_t now)
{
    struct sched_host *h = NULL, *victim;
    struct sched_source *src = NULL;
    char *id = NULL;
    bool seed = info->type == SCHED_HOST_SEED;
    int rv;

    if (!str_is_ok(info->ip, SCHED_ID_MAX) || !str_is_ok(info->hostname, SCHED_ID_MAX) ||
        !opt_str_is_ok(info->id, SCHED_ID_MAX) || !opt_str_is_ok(info->idc, SCHED_ID_MAX) ||
        !opt_str_is_ok(info->location, SCHED_ID_MAX) ||
        !opt_str_is_ok(info->source, SCHED_ID_MAX) ||
        (info->type != SCHED_HOST_NORMAL && info->type != SCHED_HOST_SEED)) {
        rv = DF_EINVAL;
        goto out;
    }
    id = info->id != NULL && *info->id != '\0' ? xstrdup(info->id)
                                               : df_id_host_new(info->ip, info->hostname, seed);
    h = sched_host_get(s, id);
    if (h == NULL) {
        if (info->source != NULL && *info->source != '\0')
            src = df_map_get(&s->sources, info->source);
        if (src != NULL && s->cfg.max_hosts_per_source > 0 &&
            src->nhosts >= s->cfg.max_hosts_per_source) {
            rv = DF_ELIMIT;
            goto out;
        }
        if (df_map_count(&s->hosts) >= s->cfg.max_hosts) {
            if ((victim = host_stalest(s, now)) == NULL) {
                rv = DF_ELIMIT;
                goto out;
            }
            log_debug("sched", "sched: host %s evicted for a new one (silent, serves nothing)",
                      victim->id);
            host_remove(s, victim, now, NULL); /* no peers: no actions */
            /* The victim may have been the last host of src. */
            if (src != NULL)
                src = df_map_get(&s->sources, info->source);
        }
        if (src == NULL && info->source != NULL && *info->source != '\0') {
            src = xcalloc(1, sizeof(*src));
            src->key = xstrdup(info->source);
            rv = df_map_put(&s->sources, src->key, src);
            DF_ASSERT(rv == 0); /* fewer sources than hosts, and the host table has room */
        }
        h = xcalloc(1, sizeof(*h));
        h->id = id;
        id = NULL;
        if ((h->src = src) != NULL)
            src->nhosts++;
        TAILQ_INIT(&h->peers);
        rv = df_map_put(&s->hosts, h->id, h);
        DF_ASSERT(rv == 0);
        TAILQ_INSERT_TAIL(&s->host_list, h, entry);
    } else if (h->type != info->type && h->load > 0) {
        rv = DF_EINVAL; /* a host does not change type while it serves children */
        goto out;
    }
    free(h->ip);
    free(h->hostname);
    free(h->idc);
    free(h->location);
    h->ip = xstrdup(info->ip);
    h->hostname = xstrdup(info->hostname);
    h->idc = opt_strdup(info->idc);
    h->location = opt_strdup(info->location);
    h->type = info->type;
    h->rpc_port = info->rpc_port;
    h->download_port = info->download_port;
    h->upload_rate_limit = info->upload_rate_limit;
    h->upload_slots = info->upload_slots > 0 ? info->upload_slots
                      : seed ? (s->cfg.slots_seed > 0 ? s->cfg.slots_seed : HOST_SLOTS_SEED)
                      : s->cfg.slots_normal > 0 ? s->cfg.slots_normal
                                                : HOST_SLOTS_NORMAL;
    h->concurrent_uploads = info->concurrent_uploads;
    h->announced_at = now;
    rv = 0;
out:
    free(id);
    state_debug_check(s);
    return rv;
}

int
sched_state_host_leave(struct sched_state *s, const char *host_id, int64_t now,
                       struct sched_actions *out)
{
    struct sched_host *h = sched_host_get(s, host_id);
    int rv;

    if (h == NULL) {
        rv = DF_ENOTFOUND;
        goto out;
    }
    host_remove(s, h, now, out);
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

/* ---- tasks ---- */

/* Fix the task's geometry; every peer of the task gets its bitmap. */
/*
 * The geometry has just become known. Waiting peers of an empty task are answered now (they
 * report their own finish); peers that were given parents before the geometry was known
 * cannot use them yet (a peer sizes its piece maps from it), so they are told again.
 */
static void
task_geometry_learned(struct sched_task *t, struct sched_actions *out)
{
    bool empty = sched_size_scope_of(t->content_length, t->piece_count) == SCHED_SIZE_EMPTY;
    struct sched_peer *q;

    TAILQ_FOREACH (q, &t->peers, tentry) {
        if (!sched_peer_wants_parents(q))
            continue;
        if (empty)
            actions_push(out, SCHED_ACT_EMPTY, q);
        else if (q->nparents > 0)
            sched_emit_parents(out, q);
    }
}

/* Learn t's geometry (a no-op when unknown or known and equal); waiting peers are told. */
static int
task_set_geometry(struct sched_state *s, struct sched_task *t, int64_t content_length,
                  uint64_t piece_length, struct sched_actions *out)
{
    uint64_t count;
    struct sched_peer *p;

    if (content_length < 0)
        return 0;
    if (content_length > 0 && piece_length == 0)
        return 0;
    if (t->has_geometry) {
        if (t->content_length != content_length ||
            (content_length > 0 && t->piece_length != piece_length))
            return DF_EINVAL;
        return 0;
    }
    count = df_id_piece_count((uint64_t)content_length, piece_length);
    if (count > s->cfg.max_piece_count)
        return DF_ETOOBIG;
    t->has_geometry = true;
    t->content_length = content_length;
    t->piece_length = piece_length;
    t->piece_count = (uint32_t)count;
    t->digests = xcalloc(count > 0 ? count : 1, DF_SHA256_LEN);
    t->digest_bits = xcalloc(sched_bits_words(t->piece_count) + 1, sizeof(uint64_t));
    t->seed_bits = xcalloc(sched_bits_words(t->piece_count) + 1, sizeof(uint64_t));
    TAILQ_FOREACH (p, &t->peers, tentry) {
        DF_ASSERT(p->bits == NULL);
        p->bits = xcalloc(sched_bits_words(t->piece_count) + 1, sizeof(uint64_t));
    }
    task_geometry_learned(t, out);
    return 0;
}

/* ---- peers ---- */

static int
register_check(const struct sched_register *req)
{
    if (!str_is_ok(req->host_id, SCHED_ID_MAX) || !str_is_ok(req->peer_id, SCHED_ID_MAX) ||
        req->task_id == NULL || !df_id_task_is_valid(req->task_id) ||
        !str_is_ok(req->url, SCHED_URL_MAX) || !opt_str_is_ok(req->tag, SCHED_ID_MAX) ||
        !opt_str_is_ok(req->application, SCHED_ID_MAX))
        return DF_EINVAL;
    return 0;
}

int
sched_state_peer_register(struct sched_state *s, const struct sched_register *req, int64_t now,
                          struct sched_actions *out)
{
    struct sched_host *h;
    struct sched_task *t = NULL;
    struct sched_peer *p = NULL;
    struct sched_action *a;
    bool new_task = false;
    enum sched_size_scope scope;
    int rv;

    if ((rv = register_check(req)) != 0)
        goto out;
    if ((h = sched_host_get(s, req->host_id)) == NULL) {
        rv = DF_ENOTFOUND;
        goto out;
    }
    if (sched_peer_get(s, req->peer_id) != NULL) {
        rv = DF_EEXIST;
        goto out;
    }
    if (df_map_count(&s->peers) >= s->cfg.max_peers) {
        rv = DF_ELIMIT;
        goto out;
    }
    t = sched_task_get(s, req->task_id);
    if (t == NULL) {
        if (df_map_count(&s->tasks) >= s->cfg.max_tasks) {
            rv = DF_ELIMIT;
            goto out;
        }
        t = xcalloc(1, sizeof(*t));
        memcpy(t->id, req->task_id, DF_ID_TASK_LEN + 1);
        t->content_length = -1;
        t->created_at = now;
        TAILQ_INIT(&t->peers);
        rv = df_map_put(&s->tasks, t->id, t);
        DF_ASSERT(rv == 0);
        TAILQ_INSERT_TAIL(&s->task_list, t, entry);
        new_task = true;
    } else if (t->npeers >= s->cfg.max_peers_per_task) {
        rv = DF_ELIMIT;
        goto out;
    }
    if ((rv = task_set_geometry(s, t, req->content_length, req->piece_length, out)) != 0)
        goto out;
    /* A re-register refreshes what the seed will be told. */
    free(t->url);
    free(t->tag);
    free(t->application);
    t->url = xstrdup(req->url);
    t->tag = opt_strdup(req->tag);
    t->application = opt_strdup(req->application);
    t->updated_at = now;

    p = xcalloc(1, sizeof(*p));
    p->id = xstrdup(req->peer_id);
    p->host = h;
    p->task = t;
    p->state = SCHED_PEER_PENDING;
    p->need_back_to_source = req->need_back_to_source;
    p->created_at = p->updated_at = now;
    TAILQ_INIT(&p->parents);
    TAILQ_INIT(&p->children);
    if (t->has_geometry)
        p->bits = xcalloc(sched_bits_words(t->piece_count) + 1, sizeof(uint64_t));
    rv = df_map_put(&s->peers, p->id, p);
    DF_ASSERT(rv == 0);
    TAILQ_INSERT_TAIL(&s->peer_list, p, entry);
    TAILQ_INSERT_TAIL(&h->peers, p, hentry);
    h->npeers++;
    TAILQ_INSERT_TAIL(&t->peers, p, tentry);
    t->npeers++;
    new_task = false;
    if (t->state != SCHED_TASK_RUNNING)
        task_set_state(t, SCHED_TASK_RUNNING);

    scope = sched_size_scope_of(t->content_length, t->piece_count);
    if (scope == SCHED_SIZE_EMPTY) {
        sched_peer_set_state(p, SCHED_PEER_RECEIVED_EMPTY, now);
        actions_push(out, SCHED_ACT_EMPTY, p);
        rv = 0;
        goto out;
    }
    if (scope == SCHED_SIZE_TINY && t->has_tiny) {
        sched_peer_set_state(p, SCHED_PEER_RECEIVED_TINY, now);
        a = actions_push(out, SCHED_ACT_TINY, p);
        a->content = xmalloc(t->tiny_len + 1);
        memcpy(a->content, t->tiny, t->tiny_len);
        a->content_len = t->tiny_len;
        rv = 0;
        goto out;
    }
    sched_peer_set_state(
            p, scope == SCHED_SIZE_SMALL ? SCHED_PEER_RECEIVED_SMALL : SCHED_PEER_RECEIVED_NORMAL,
            now);
    if (h->type == SCHED_HOST_SEED && t->seed_host_id != NULL &&
        strcmp(t->seed_host_id, h->id) == 0)
        t->seed_trig_at = 0; /* the triggered seed has arrived */
    if ((req->need_back_to_source || (h->type == SCHED_HOST_SEED && !task_has_source(s, t, now))) &&
        peer_can_back_to_source(s, p)) {
        peer_send_back_to_source(p,
                                 req->need_back_to_source ? "requested by the peer"
                                                          : "seed peer fetches the task",
                                 now, out);
        task_plan_waiting(s, t, now, out);
        rv = 0;
        goto out;
    }
    sched_plan_peer(s, p, true, false, now, out);
    if (p->nparents == 0)
        task_ensure_source(s, p, now, out);
    rv = 0;
out:
    if (new_task && t != NULL)
        task_remove(s, t);
    state_debug_check(s);
    return rv;
}

bool
sched_state_is_first_download(const struct sched_state *s, const char *task_id, const char *host_id,
                              int64_t now, int64_t *seed_fail_at)
{
    const struct sched_host *h = sched_host_get(s, host_id);
    const struct sched_task *t = sched_task_get(s, task_id);

    if (h == NULL || h->type == SCHED_HOST_SEED || (t != NULL && task_has_source(s, t, now)))
        return false;
    *seed_fail_at = t != NULL ? t->seed_fail_at : 0;
    return true;
}

static int
peer_lookup(const struct sched_state *s, const char *peer_id, struct sched_peer **out)
{
    struct sched_peer *p = sched_peer_get(s, peer_id);

    if (p == NULL)
        return DF_ENOTFOUND;
    *out = p;
    return 0;
}

int
sched_state_peer_started(struct sched_state *s, const char *peer_id, int64_t now)
{
    struct sched_peer *p = NULL;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    p->updated_at = now;
    if (p->state == SCHED_PEER_RECEIVED_SMALL || p->state == SCHED_PEER_RECEIVED_NORMAL)
        sched_peer_set_state(p, SCHED_PEER_RUNNING, now);
    else if (p->state != SCHED_PEER_RUNNING && p->state != SCHED_PEER_BACK_TO_SOURCE) {
        rv = DF_EPROTO;
        goto out;
    }
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

int
sched_state_peer_back_to_source_started(struct sched_state *s, const char *peer_id,
                                        int64_t content_length, uint64_t piece_length, int64_t now,
                                        struct sched_actions *out)
{
    struct sched_peer *p = NULL;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    if ((rv = task_set_geometry(s, p->task, content_length, piece_length, out)) != 0)
        goto out;
    p->updated_at = now;
    if (p->state != SCHED_PEER_BACK_TO_SOURCE) {
        if (!sched_peer_state_is_received(p->state) && p->state != SCHED_PEER_RUNNING) {
            rv = DF_EPROTO;
            goto out;
        }
        /* The peer decided itself (its own back-to-source rule): it counts all the same. */
        peer_drop_parents(p, now);
        sched_peer_set_state(p, SCHED_PEER_BACK_TO_SOURCE, now);
        if (p->task->state != SCHED_TASK_RUNNING)
            task_set_state(p->task, SCHED_TASK_RUNNING);
    }
    task_plan_waiting(s, p->task, now, out);
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

int
sched_state_peer_reschedule(struct sched_state *s, const char *peer_id, const char *const *block,
                            size_t nblock, int64_t now, struct sched_actions *out)
{
    struct sched_peer *p = NULL;
    size_t nnew = 0;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    if (!sched_peer_wants_parents(p)) {
        rv = DF_EPROTO;
        goto out;
    }
    p->updated_at = now;
    /* Check the whole list first: a refused call blocks nothing and keeps the plan valid. */
    for (size_t i = 0; i < nblock; i++) {
        bool seen;

        if (!str_is_ok(block[i], SCHED_ID_MAX)) {
            rv = DF_EINVAL;
            goto out;
        }
        seen = sched_peer_block_find(p, block[i]) != NULL;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(block[j], block[i]) == 0;
        nnew += !seen;
    }
    if (nnew > s->cfg.max_blocklist - p->nblocks) {
        rv = DF_ELIMIT;
        goto out;
    }
    for (size_t i = 0; i < nblock; i++) {
        struct sched_block *b = peer_block_get(s, p, block[i]);

        DF_ASSERT(b != NULL);
        if (!b->blocked) {
            /* reported like a block by strikes (a peer blocks a parent that served a piece
             * that failed its digest from every parent) */
            struct sched_action *a = actions_push(out, SCHED_ACT_BLOCKED, p);

            a->parent_id = xstrdup(block[i]);
            a->reason = "blocked by the peer";
        }
        b->blocked = true;
    }
    sched_plan_peer(s, p, true, false, now, out);
    if (p->nparents == 0)
        task_ensure_source(s, p, now, out);
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

/*
 * Record a piece from the source: its digest, and the inline content of a TINY task.
 * Nothing changes when the content contradicts the reporter's own digest (DF_EDIGEST) or the
 * digest contradicts the known one (DF_EEXIST: a conflict, see task_source_conflict()).
 */
static int
piece_from_source(struct sched_task *t, const struct sched_peer *p, const struct sched_piece *pc)
{
    uint8_t *d = t->digests + (size_t)pc->number * DF_SHA256_LEN;
    bool keep_tiny = false;

    if (pc->has_digest && sched_bit_get(t->digest_bits, pc->number) &&
        memcmp(d, pc->digest.bytes, DF_SHA256_LEN) != 0)
        return DF_EEXIST;
    if (pc->content != NULL && pc->has_digest && !t->has_tiny &&
        sched_size_scope_of(t->content_length, t->piece_count) == SCHED_SIZE_TINY &&
        (int64_t)pc->content_len == t->content_length) {
        uint8_t sum[DF_SHA256_LEN];

        /* Only content matching the source's digest is kept for inline answers. */
        df_sha256(pc->content, pc->content_len, sum);
        if (memcmp(sum, pc->digest.bytes, DF_SHA256_LEN) != 0)
            return DF_EDIGEST;
        keep_tiny = true;
    }
    if (pc->has_digest && !sched_bit_get(t->digest_bits, pc->number)) {
        memcpy(d, pc->digest.bytes, DF_SHA256_LEN);
        bit_set(t->digest_bits, pc->number);
        if (p->host->type == SCHED_HOST_SEED)
            bit_set(t->seed_bits, pc->number);
        t->ndigests++;
    }
    if (keep_tiny) {
        t->tiny = xmalloc(pc->content_len);
        memcpy(t->tiny, pc->content, pc->content_len);
        t->tiny_len = pc->content_len;
        t->has_tiny = true;
    }
    return 0;
}

/* Forget the digests (all, or those no seed host reported) and the tiny content. */
static void
task_digests_clear(struct sched_task *t, bool keep_seeds, struct sched_actions *out)
{
    struct sched_action *a;

    for (uint32_t i = 0; i < t->piece_count; i++) {
        if (!sched_bit_get(t->digest_bits, i) || (keep_seeds && sched_bit_get(t->seed_bits, i)))
            continue;
        t->digest_bits[i / 64] &= ~(UINT64_C(1) << (i % 64));
        t->seed_bits[i / 64] &= ~(UINT64_C(1) << (i % 64));
        t->ndigests--;
    }
    DF_FREE(t->tiny, free);
    t->tiny_len = 0;
    t->has_tiny = false;
    a = actions_push(out, SCHED_ACT_DIGESTS_CLEARED, NULL);
    a->task_id = xstrdup(t->id);
}

/*
 * reporter's source report contradicts t's digest table (sched_state_piece_finished()
 * says who loses). Returns whether the reporter's report stands; it is then recorded by
 * the caller, on a table without the losers' digests.
 */
static bool
task_source_conflict(struct sched_state *s, struct sched_task *t, struct sched_peer *reporter,
                     uint32_t number, int64_t now, struct sched_actions *out)
{
    bool by_seed = reporter->host->type == SCHED_HOST_SEED;
    bool seed_before = sched_bit_get(t->seed_bits, number);
    bool reporter_wins, keep_seeds;
    struct sched_peer *q;
    struct sched_action *a;

    /* A seed against normal hosts wins; a normal host against a seed loses; else both do. */
    reporter_wins = by_seed && !seed_before;
    keep_seeds = !by_seed && seed_before;
    log_debug("sched", "sched: task %.12s: conflicting source report from peer %s (%s)", t->id,
              reporter->id,
              reporter_wins ? "it wins"
              : keep_seeds  ? "it loses"
                            : "nobody wins");
    if (!keep_seeds) {
        TAILQ_FOREACH (q, &t->peers, tentry) {
            if (q != reporter && q->bytes_from_source > 0 && q->host->type != SCHED_HOST_SEED)
                task_distrust(s, t, q->host);
        }
        task_digests_clear(t, reporter_wins, out);
    }
    if (!reporter_wins && reporter->host->type != SCHED_HOST_SEED)
        task_distrust(s, t, reporter->host);
    /*
     * Who may hold or verify against the lost digests fails with DATA_LOSS: everyone but a
     * winner (only the reporter when the table stands). Mark them all first (planning skips them),
     * fail them, then drop what planning queued for them meanwhile.
     */
    TAILQ_FOREACH (q, &t->peers, tentry) {
        q->data_lost = q->state != SCHED_PEER_FAILED && q->state != SCHED_PEER_LEAVE &&
                       (keep_seeds ? q == reporter : q != reporter || !reporter_wins);
    }
    TAILQ_FOREACH (q, &t->peers, tentry) {
        if (q->data_lost)
            peer_fail(s, q, now, out);
    }
    TAILQ_FOREACH (q, &t->peers, tentry) {
        if (!q->data_lost)
            continue;
        q->data_lost = false;
        actions_drop_peer(out, q->id);
        a = actions_push(out, SCHED_ACT_DATA_LOSS, q);
        a->reason = "the task's source data conflicted: drop its pieces and register again";
    }
    if (!reporter_wins && !keep_seeds) {
        /* A fresh fetch: the seed when there is one, else the first peer to register. */
        t->seed_fail_at = 0;
        t->seed_trig_at = 0;
        task_trigger_seed(s, t, NULL, "source reports conflicted", now, out);
    }
    return reporter_wins;
}

int
sched_state_piece_finished(struct sched_state *s, const char *peer_id, const struct sched_piece *pc,
                           int64_t now, struct sched_actions *out)
{
    struct sched_peer *p = NULL, *parent = NULL;
    struct sched_task *t;
    struct sched_edge *e;
    bool first, replan = false;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    t = p->task;
    if (!t->has_geometry || pc->number >= t->piece_count) {
        rv = DF_EINVAL;
        goto out;
    }
    if (p->state == SCHED_PEER_SUCCEEDED || p->state == SCHED_PEER_FAILED ||
        p->state == SCHED_PEER_PENDING || p->state == SCHED_PEER_RECEIVED_EMPTY ||
        p->state == SCHED_PEER_RECEIVED_TINY) {
        rv = DF_EPROTO;
        goto out;
    }
    if (pc->parent_id == NULL) {
        if (sched_task_distrusts(t, p->host)) {
            rv = DF_EPERM;
            goto out;
        }
        rv = piece_from_source(t, p, pc);
        if (rv == DF_EEXIST)
            rv = task_source_conflict(s, t, p, pc->number, now, out) ? piece_from_source(t, p, pc)
                                                                     : DF_EDIGEST;
        if (rv != 0)
            goto out;
        if (p->state != SCHED_PEER_BACK_TO_SOURCE) {
            /* A piece from the source makes the peer a source, whatever it said before. */
            peer_drop_parents(p, now);
            sched_peer_set_state(p, SCHED_PEER_BACK_TO_SOURCE, now);
        }
        p->bytes_from_source += pc->length;
        p->source_at = now;
    } else {
        parent = sched_peer_get(s, pc->parent_id);
        if (parent != NULL && parent->task != t) {
            rv = DF_EINVAL;
            goto out;
        }
        if (p->state == SCHED_PEER_RECEIVED_SMALL || p->state == SCHED_PEER_RECEIVED_NORMAL)
            sched_peer_set_state(p, SCHED_PEER_RUNNING, now);
        p->bytes_from_peers += pc->length;
        if (parent != NULL) {
            parent->updated_at = now;
            parent->host->upload_ok++;
            parent->host->uploaded_bytes += pc->length;
            if ((e = edge_find(parent, p)) != NULL) {
                e->bytes += pc->length;
                e->pieces++;
                e->progress_at = now;
                sched_plan_measure(s, e, pc->number, pc->length, pc->cost, now);
                /*
                 * Measurably slow: look for a better parent now (sched_eval.c, step 5), at
                 * its 1st, 2nd, 4th, 8th ... timed piece: the tick looks every second too.
                 */
                if ((e->timed & (e->timed - 1)) == 0 && sched_plan_edge_is_poor(e))
                    replan = true;
            }
        }
    }
    p->updated_at = now;
    t->updated_at = now;
    if (pc->cost > 0)
        p->cost_total += pc->cost;
    first = p->nfinished == 0;
    if (first)
        p->first_at = now;
    if (!sched_bit_get(p->bits, pc->number)) {
        bit_set(p->bits, pc->number);
        p->nfinished++;
        p->recent_piece[p->recent_next] = pc->number;
        p->recent_at[p->recent_next] = now;
        p->recent_next = (p->recent_next + 1) % SCHED_RECENT;
    }
    /* A parent that has nothing more to give is replaced. */
    TAILQ_FOREACH (e, &p->parents, centry) {
        if (!sched_plan_edge_is_useful(s, e, now))
            replan = true;
    }
    if (replan || (sched_peer_wants_parents(p) && p->nparents == 0))
        sched_plan_peer(s, p, false, false, now, out);
    if (first)
        task_plan_waiting(s, t, now, out);
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

int
sched_state_piece_failed(struct sched_state *s, const char *peer_id, uint32_t number,
                         const char *parent_id, int64_t now, struct sched_actions *out)
{
    struct sched_peer *p = NULL, *parent;
    struct sched_block *b;
    struct sched_edge *e;
    struct sched_action *a;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    if (p->task->has_geometry && number >= p->task->piece_count) {
        rv = DF_EINVAL;
        goto out;
    }
    p->updated_at = now;
    if (parent_id == NULL) {
        rv = 0; /* a source failure: the peer retries or reports itself failed */
        goto out;
    }
    if (!str_is_ok(parent_id, SCHED_ID_MAX)) {
        rv = DF_EINVAL;
        goto out;
    }
    if ((parent = sched_peer_get(s, parent_id)) != NULL)
        parent->host->upload_failed++;
    if ((b = peer_block_get(s, p, parent_id)) == NULL) {
        rv = DF_ELIMIT;
        goto out;
    }
    if (b->blocked) {
        rv = 0;
        goto out;
    }
    b->strikes++;
    if (b->strikes >= s->cfg.max_strikes) {
        b->blocked = true;
        log_debug("sched", "sched: peer %s blocks parent %s after %u strikes", p->id, parent_id,
                  b->strikes);
        a = actions_push(out, SCHED_ACT_BLOCKED, p);
        a->parent_id = xstrdup(parent_id);
        a->reason = "too many failed pieces";
        if (parent != NULL && (e = edge_find(parent, p)) != NULL) {
            sched_edge_del(e, now);
            sched_plan_peer(s, p, false, true, now, out);
            if (p->nparents == 0 && sched_peer_wants_parents(p))
                task_ensure_source(s, p, now, out);
        }
    }
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

int
sched_state_peer_finished(struct sched_state *s, const char *peer_id, int64_t now,
                          struct sched_actions *out)
{
    struct sched_peer *p = NULL, *freed[SCHED_PARENTS_MAX];
    struct sched_task *t;
    struct sched_edge *e;
    uint32_t nfreed = 0;
    bool was_source;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    t = p->task;
    if (p->state == SCHED_PEER_SUCCEEDED) {
        rv = 0;
        goto out;
    }
    if (p->state == SCHED_PEER_PENDING || p->state == SCHED_PEER_FAILED) {
        rv = DF_EPROTO;
        goto out;
    }
    was_source = sched_peer_is_source(p);
    p->updated_at = now;
    t->updated_at = now;
    TAILQ_FOREACH (e, &p->parents, centry) {
        if (nfreed < SCHED_PARENTS_MAX)
            freed[nfreed++] = e->parent;
    }
    peer_drop_parents(p, now);
    sched_peer_set_state(p, SCHED_PEER_SUCCEEDED, now);
    if (p->bits != NULL) {
        /* Finished means every piece: the peer serves all of them from now on. */
        for (uint32_t i = 0; i < t->piece_count; i++)
            bit_set(p->bits, i);
        p->nfinished = t->piece_count;
    }
    if (was_source && t->state != SCHED_TASK_SUCCEEDED)
        task_set_state(t, SCHED_TASK_SUCCEEDED);
    task_plan_waiting(s, t, now, out);
    /* Its uplink, and those of its finished parents, go to the peer furthest behind. */
    sched_plan_offer(s, p, now, out);
    for (uint32_t i = 0; i < nfreed; i++)
        sched_plan_offer(s, freed[i], now, out);
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

int
sched_state_peer_failed(struct sched_state *s, const char *peer_id, int64_t now,
                        struct sched_actions *out)
{
    struct sched_peer *p = NULL;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    if (p->state == SCHED_PEER_FAILED) {
        rv = 0;
        goto out;
    }
    p->updated_at = now;
    actions_drop_peer(out, p->id);
    peer_fail(s, p, now, out);
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

int
sched_state_peer_leave(struct sched_state *s, const char *peer_id, int64_t now,
                       struct sched_actions *out)
{
    struct sched_peer *p = NULL;
    int rv;

    if ((rv = peer_lookup(s, peer_id, &p)) != 0)
        goto out;
    peer_remove(s, p, now, out);
    rv = 0;
out:
    state_debug_check(s);
    return rv;
}

/*
 * Drop p's stalled in-edges: no piece over the edge for stall_timeout. The parent sits out
 * one stall timeout; one that had pieces to give is also struck (max_strikes: blocked).
 */
static bool
peer_drop_stalled(struct sched_state *s, struct sched_peer *p, int64_t now,
                  struct sched_actions *out)
{
    struct sched_edge *e, *tmp;
    bool dropped = false;

    for (e = TAILQ_FIRST(&p->parents); e != NULL; e = tmp) {
        int64_t since = e->progress_at > e->created_at ? e->progress_at : e->created_at;
        struct sched_block *b;

        tmp = TAILQ_NEXT(e, centry);
        if (now - since < s->cfg.stall_timeout)
            continue;
        log_debug("sched", "sched: peer %s: parent %s stalled", p->id, e->parent->id);
        if ((b = peer_block_get(s, p, e->parent->id)) != NULL) {
            b->blocked_until = now + s->cfg.stall_timeout;
            if (sched_peer_useful(e->parent, p) > 0 && ++b->strikes >= s->cfg.max_strikes) {
                struct sched_action *a = actions_push(out, SCHED_ACT_BLOCKED, p);

                b->blocked = true;
                a->parent_id = xstrdup(e->parent->id);
                a->reason = "parent stalled";
            }
        }
        sched_edge_del(e, now);
        dropped = true;
    }
    return dropped;
}

/* Does a peer of t other than p want parents? */
static bool
task_is_wanted(const struct sched_task *t, const struct sched_peer *p)
{
    const struct sched_peer *q;

    TAILQ_FOREACH (q, &t->peers, tentry) {
        if (q != p && sched_peer_wants_parents(q))
            return true;
    }
    return false;
}

int
sched_state_tick(struct sched_state *s, int64_t now, struct sched_actions *out)
{
    struct sched_peer *p, *tmp;

    for (p = TAILQ_FIRST(&s->peer_list); p != NULL; p = tmp) {
        uint32_t quota;

        tmp = TAILQ_NEXT(p, entry);
        if (sched_peer_is_source(p) && now - p->source_at >= s->cfg.stall_timeout &&
            task_is_wanted(p->task, p)) {
            struct sched_action *a = actions_push(out, SCHED_ACT_FAIL, p);

            a->reason = "back-to-source without progress for the stall timeout";
            peer_fail(s, p, now, out);
            continue;
        }
        if (!sched_peer_wants_parents(p))
            continue;
        quota = sched_size_scope_of(p->task->content_length, p->task->piece_count) ==
                                SCHED_SIZE_SMALL
                        ? 1
                        : s->cfg.max_parents;
        if (peer_drop_stalled(s, p, now, out))
            sched_plan_peer(s, p, false, true, now, out);
        else if (p->nparents < quota)
            sched_plan_peer(s, p, false, false, now, out);
        if (p->nparents > 0)
            continue;
        if (p->waiting && now - p->wait_since >= s->cfg.wait_timeout) {
            if (peer_can_back_to_source(s, p)) {
                peer_send_back_to_source(p, "no parent within the wait timeout", now, out);
                task_plan_waiting(s, p->task, now, out);
            } else {
                struct sched_action *a;

                a = actions_push(out, SCHED_ACT_FAIL, p);
                a->reason = "scheduling exceeded the wait timeout";
                peer_fail(s, p, now, out);
            }
            /* The list may have changed under tmp only by edges, never by removal. */
            continue;
        }
        task_ensure_source(s, p, now, out);
    }
    state_debug_check(s);
    return 0;
}

int
sched_state_gc(struct sched_state *s, int64_t now, struct sched_actions *out,
               struct sched_gc_stats *stats)
{
    struct sched_gc_stats st = {0};
    struct sched_host *h, *htmp;
    struct sched_task *t, *ttmp;
    struct sched_peer *p, *ptmp;

    for (h = TAILQ_FIRST(&s->host_list); h != NULL; h = htmp) {
        htmp = TAILQ_NEXT(h, entry);
        if (host_is_alive(s, h, now))
            continue;
        log_debug("sched", "sched: host %s not announced: collected", h->id);
        st.peers += h->npeers;
        host_remove(s, h, now, out);
        st.hosts++;
    }
    /* Removing a peer re-plans others but never removes them: the next pointer stays. */
    for (p = TAILQ_FIRST(&s->peer_list); p != NULL; p = ptmp) {
        ptmp = TAILQ_NEXT(p, entry);
        if (p->state == SCHED_PEER_FAILED || now - p->updated_at > s->cfg.peer_ttl) {
            peer_remove(s, p, now, out);
            st.peers++;
        }
    }
    for (t = TAILQ_FIRST(&s->task_list); t != NULL; t = ttmp) {
        ttmp = TAILQ_NEXT(t, entry);
        if (t->npeers == 0 && now - t->updated_at > s->cfg.task_ttl) {
            task_remove(s, t);
            st.tasks++;
        }
    }
    if (stats != NULL)
        *stats = st;
    state_debug_check(s);
    return 0;
}
