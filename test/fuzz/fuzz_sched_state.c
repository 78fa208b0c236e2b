/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the scheduler core with event sequences. The first byte picks the configuration;
 * every following event is an opcode byte (low nibble: the event, high nibble: how far the
 * clock moves first) and a few argument bytes, over a small universe: 4 hosts (h0 a seed),
 * 3 valid task ids and an invalid one, 12 peer ids, unknown and empty ids, a table of
 * geometries (unknown, empty, tiny, small, normal, too big, contradicting). After every
 * event the state must pass sched_state_check() and every action must make sense: it names
 * live peers of the right task and host, PARENTS never names the child itself, another
 * task's peer or one twice, TRIGGER_SEED names a live seed host.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_digest.h"
#include "df/df_err.h"
#include "../../src/scheduler/sched_state.h"

#define FZ_HOSTS     4
#define FZ_TASKS     3
#define FZ_PEERS     12
#define FZ_PIECE     1024
#define FZ_MAX_EVENT 2000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    const uint8_t *p;
    size_t n, off;
    struct sched_config cfg;
    struct sched_state *st;
    struct sched_actions acts;
    int64_t now;
    unsigned op;   /* events so far */
    size_t op_off; /* where the current one starts */
    char tasks[FZ_TASKS][65];
};

struct fz_geom {
    int64_t content_length;
    uint64_t piece_length;
};

static const struct fz_geom fz_geoms[] = {
        {-1, 0},                            /* unknown */
        {0, 0},                             /* empty */
        {100, FZ_PIECE},                    /* tiny */
        {1000, FZ_PIECE},                   /* small: one piece */
        {8 * FZ_PIECE, FZ_PIECE},           /* normal: 8 pieces */
        {8 * FZ_PIECE + 1, FZ_PIECE},       /* 9 pieces, contradicts the one above */
        {3 * FZ_PIECE, FZ_PIECE},           /* 3 pieces */
        {5000, 0},                          /* a length without a piece length: ignored */
        {100 * FZ_PIECE, FZ_PIECE},         /* over max_piece_count */
        {8 * FZ_PIECE, 2 * FZ_PIECE},       /* same length, other piece length */
        {0, FZ_PIECE},                      /* empty with a piece length */
        {SCHED_TINY_MAX + 1, FZ_PIECE / 8}, /* just over tiny: 2 pieces */
};

static const int64_t fz_steps[16] = {0,   0,    0,    0,    1,    10,    100,   250,
                                     500, 1000, 2000, 3000, 5000, 10000, 30000, 70000};

static const char *const fz_host_ids[] = {"h0", "h1", "h2", "h3", "h9", ""};
static const char *const fz_peer_ids[] = {"p0", "p1", "p2", "p3",  "p4",  "p5", "p6",
                                          "p7", "p8", "p9", "p10", "p11", "px", ""};

static uint8_t
fz_byte(struct fz *f)
{
    return f->off < f->n ? f->p[f->off++] : 0;
}

static _Noreturn void
fz_fail(const struct fz *f, const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_sched_state: event %u (input byte %zu): %s: %s\n", f->op, f->op_off, what,
            detail != NULL ? detail : "");
    abort();
}

static const char *
fz_host(struct fz *f)
{
    return fz_host_ids[fz_byte(f) % 6];
}

static const char *
fz_peer(struct fz *f)
{
    return fz_peer_ids[fz_byte(f) % 14];
}

static const char *
fz_task(struct fz *f)
{
    uint8_t b = fz_byte(f) % 4;

    return b < FZ_TASKS ? f->tasks[b] : "0123456789ABCDEF"; /* not a task id */
}

static void
fz_config(struct fz *f, uint8_t b)
{
    struct sched_config *c = &f->cfg;

    sched_config_default(c);
    c->max_parents = 1 + (b & 3);
    c->max_back_to_source = 1 + ((b >> 2) & 1);
    c->max_strikes = 1 + ((b >> 3) & 3) % 3;
    c->seed_fanout = 1 + ((b >> 5) & 1);
    if (b & 0x40) {
        /* Tight caps, to reach every DF_ELIMIT. */
        c->max_hosts = 4; /* the four of the setup: h9 is refused */
        c->max_tasks = 2;
        c->max_peers = 6;
        c->max_peers_per_task = 4;
        c->max_blocklist = 2;
    } else {
        c->max_hosts = 8;
        c->max_tasks = 8;
        c->max_peers = 16;
        c->max_peers_per_task = 16;
        c->max_blocklist = 8;
    }
    c->seed_wait = b & 0x80 ? 1000 : 0;
    c->startup_grace = b & 0x80 ? 2500 : 0; /* after sched_state_start() at setup */
    c->max_piece_count = 64;
    c->stall_timeout = 3000;
    c->wait_timeout = 5000;
    c->seed_timeout = 2000;
    c->peer_ttl = 60000;
    c->host_announce_interval = 20000;
    c->task_ttl = 10000;
    if (sched_config_check(c, NULL) != 0)
        fz_fail(f, "config", "rejected");
}

/* Announce one host; the flag byte picks its type, slots, load and labels. */
static int
fz_announce(struct fz *f, unsigned idx, uint8_t flags)
{
    static const char *const idcs[] = {NULL, "idc-a", "idc-b", ""};
    struct sched_host_info hi;

    memset(&hi, 0, sizeof(hi));
    hi.id = fz_host_ids[idx];
    hi.ip = idx == 5 ? "" : "127.0.0.1"; /* "": invalid */
    hi.hostname = idx == 4 ? "h9" : fz_host_ids[idx];
    if (idx == 4 && (flags & 0x80))
        hi.id = NULL; /* built from ip and hostname */
    hi.idc = idcs[flags & 3];
    hi.location = idcs[(flags >> 2) & 3];
    hi.type = (flags & 0x10) ? SCHED_HOST_SEED : SCHED_HOST_NORMAL;
    hi.upload_slots = (flags >> 5) & 3;
    hi.concurrent_uploads = (flags >> 6) & 1;
    hi.rpc_port = 65000;
    hi.download_port = 65002;
    return sched_state_host_announce(f->st, &hi, f->now);
}

static int
fz_register(struct fz *f)
{
    struct sched_register r;
    uint8_t g;

    memset(&r, 0, sizeof(r));
    r.peer_id = fz_peer(f);
    r.host_id = fz_host(f);
    r.task_id = fz_task(f);
    g = fz_byte(f);
    r.content_length = fz_geoms[(g & 15) % DF_NELEM(fz_geoms)].content_length;
    r.piece_length = fz_geoms[(g & 15) % DF_NELEM(fz_geoms)].piece_length;
    r.need_back_to_source = (g & 0x10) != 0;
    r.tag = (g & 0x20) ? "tag" : NULL;
    r.url = (g & 0x40) ? "" : "http://origin.example/blob";
    r.application = (g & 0x80) ? "app" : NULL;
    return sched_state_peer_register(f->st, &r, f->now, &f->acts);
}

/* A piece number: mostly in range for the peer's task, sometimes anything. */
static uint32_t
fz_number(struct fz *f, const char *peer)
{
    struct sched_peer_stat ps;
    uint8_t b = fz_byte(f);

    if (b & 0x80)
        return (b & 0x7f) == 0x7f ? UINT32_MAX : b & 0x7f;
    if (sched_state_peer_stat(f->st, peer, &ps) == 0 && ps.piece_count > 0)
        return b % ps.piece_count;
    return b;
}

/* A parent id: one of the peer's parents, any peer id, or NULL (the source). */
static const char *
fz_parent(struct fz *f, const char *peer, bool allow_null)
{
    struct sched_peer_stat ps;
    uint8_t b = fz_byte(f);

    if (b < 0x80) {
        if (sched_state_peer_stat(f->st, peer, &ps) == 0 && ps.parent_count > 0)
            return ps.parents[b % ps.parent_count];
        b |= 0x80;
    }
    if (allow_null && (b & 0x7f) == 0x7f)
        return NULL;
    return fz_peer_ids[(b & 0x7f) % 14];
}

static int
fz_piece_from_parent(struct fz *f)
{
    const char *peer = fz_peer(f);
    struct sched_piece pc;

    memset(&pc, 0, sizeof(pc));
    pc.number = fz_number(f, peer);
    pc.parent_id = fz_parent(f, peer, false);
    pc.length = FZ_PIECE;
    pc.cost = (int64_t)fz_byte(f) - 16;
    return sched_state_piece_finished(f->st, peer, &pc, f->now, &f->acts);
}

/* A piece from the source: digest right, wrong or absent; TINY content or not. */
static int
fz_piece_from_source(struct fz *f)
{
    static const uint8_t content[SCHED_TINY_MAX + 2] = {0};
    const char *peer = fz_peer(f);
    struct sched_peer_stat ps;
    struct sched_task_stat ts;
    struct sched_piece pc;
    uint8_t b;

    memset(&pc, 0, sizeof(pc));
    pc.number = fz_number(f, peer);
    b = fz_byte(f);
    pc.length = FZ_PIECE;
    pc.cost = b >> 4;
    if (b & 1) {
        size_t len = 100;

        if (sched_state_peer_stat(f->st, peer, &ps) == 0 &&
            sched_state_task_stat(f->st, ps.task_id, &ts) == 0 && ts.content_length >= 0 &&
            ts.content_length <= SCHED_TINY_MAX)
            len = (size_t)ts.content_length;
        if (b & 2)
            len++; /* the wrong length */
        pc.content = content;
        pc.content_len = len;
    }
    if (b & 4) {
        pc.has_digest = true;
        pc.digest.algo = DF_DIGEST_SHA256;
        if (b & 8)
            memset(pc.digest.bytes, b, sizeof(pc.digest.bytes)); /* some other digest */
        else
            df_sha256(content, pc.content != NULL ? pc.content_len : 100, pc.digest.bytes);
    }
    return sched_state_piece_finished(f->st, peer, &pc, f->now, &f->acts);
}

static int
fz_reschedule(struct fz *f)
{
    const char *peer = fz_peer(f);
    const char *block[3];
    size_t n = fz_byte(f) % 4;

    for (size_t i = 0; i < n; i++)
        block[i] = fz_parent(f, peer, false);
    return sched_state_peer_reschedule(f->st, peer, n > 0 ? block : NULL, n, f->now, &f->acts);
}

/* The views must agree with themselves for any id, known or not. */
static void
fz_probe(struct fz *f)
{
    const char *peer = fz_peer(f), *task = fz_task(f), *host = fz_host(f);
    uint32_t number = fz_number(f, peer);
    struct sched_peer_stat ps;
    struct sched_task_stat ts;
    struct sched_host_stat hs;
    struct df_digest d;

    if (sched_state_peer_stat(f->st, peer, &ps) == 0) {
        if (ps.finished_pieces > ps.piece_count || ps.parent_count > f->cfg.max_parents)
            fz_fail(f, "peer stat", peer);
        if (sched_state_task_stat(f->st, ps.task_id, &ts) != 0 ||
            sched_state_host_stat(f->st, ps.host_id, &hs) != 0)
            fz_fail(f, "peer stat: task or host missing", peer);
    } else if (sched_state_peer_has_piece(f->st, peer, number)) {
        fz_fail(f, "unknown peer has a piece", peer);
    }
    if (sched_state_task_stat(f->st, task, &ts) == 0) {
        if (sched_state_piece_holders(f->st, task, number) > ts.peer_count)
            fz_fail(f, "holders", task);
        if (sched_state_piece_digest(f->st, task, number, &d) == 0 && number >= ts.piece_count)
            fz_fail(f, "digest out of range", task);
    }
    (void)sched_state_host_stat(f->st, host, &hs);
}

static bool
fz_rv_is_ok(int rv)
{
    switch (rv) {
    case 0:
    case DF_EINVAL:
    case DF_ENOTFOUND:
    case DF_EEXIST:
    case DF_ELIMIT:
    case DF_EPROTO:
    case DF_ETOOBIG:
    case DF_EDIGEST:
    case DF_EPERM: /* a source report from a host distrusted for the task */
        return true;
    default:
        return false;
    }
}

static void
fz_check_parents(struct fz *f, const struct sched_action *a, const struct sched_peer_stat *child)
{
    struct sched_peer_stat ps;

    if (a->nparents > f->cfg.max_parents || (a->nparents > 0 && a->parents == NULL))
        fz_fail(f, "PARENTS: bad count", a->peer_id);
    /* An emptied set is sent too: the child then has no parent left. */
    if (a->nparents == 0 && child->parent_count != 0)
        fz_fail(f, "PARENTS: empty while the child has parents", a->peer_id);
    for (size_t i = 0; i < a->nparents; i++) {
        const struct sched_parent *x = &a->parents[i];

        if (x->peer_id == NULL || x->host_id == NULL || x->ip == NULL)
            fz_fail(f, "PARENTS: missing field", a->peer_id);
        if (strcmp(x->peer_id, a->peer_id) == 0)
            fz_fail(f, "PARENTS: the child is its own parent", a->peer_id);
        if (sched_state_peer_stat(f->st, x->peer_id, &ps) != 0)
            fz_fail(f, "PARENTS: parent does not exist", x->peer_id);
        if (strcmp(ps.task_id, child->task_id) != 0)
            fz_fail(f, "PARENTS: parent of another task", x->peer_id);
        if (strcmp(ps.host_id, x->host_id) != 0 || strcmp(ps.host_id, child->host_id) == 0)
            fz_fail(f, "PARENTS: wrong host", x->peer_id);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(a->parents[j].peer_id, x->peer_id) == 0)
                fz_fail(f, "PARENTS: duplicate parent", x->peer_id);
        }
    }
}

static void
fz_check_actions(struct fz *f)
{
    for (size_t i = 0; i < f->acts.n; i++) {
        const struct sched_action *a = &f->acts.v[i];
        struct sched_peer_stat ps;
        struct sched_task_stat ts;
        struct sched_host_stat hs;

        if (a->kind < SCHED_ACT_EMPTY || a->kind > SCHED_ACT_DIGESTS_CLEARED)
            fz_fail(f, "action", "bad kind");
        if (a->kind == SCHED_ACT_DIGESTS_CLEARED) {
            if (a->peer_id != NULL || a->task_id == NULL)
                fz_fail(f, "DIGESTS_CLEARED", "missing task or has a peer");
            if (sched_state_task_stat(f->st, a->task_id, &ts) != 0)
                fz_fail(f, "DIGESTS_CLEARED: task does not exist", a->task_id);
            continue;
        }
        if (a->kind == SCHED_ACT_TRIGGER_SEED) {
            if (a->peer_id != NULL || a->task_id == NULL || a->host_id == NULL || a->ip == NULL ||
                a->url == NULL)
                fz_fail(f, "TRIGGER_SEED", "missing field");
            if (sched_state_task_stat(f->st, a->task_id, &ts) != 0)
                fz_fail(f, "TRIGGER_SEED: task does not exist", a->task_id);
            if (sched_state_host_stat(f->st, a->host_id, &hs) != 0)
                fz_fail(f, "TRIGGER_SEED: host does not exist", a->host_id);
            if (hs.type != SCHED_HOST_SEED)
                fz_fail(f, "TRIGGER_SEED: not a seed host", a->host_id);
            continue;
        }
        if (a->peer_id == NULL || a->task_id == NULL || a->host_id == NULL)
            fz_fail(f, "action", "missing addressee");
        if (a->kind == SCHED_ACT_BLOCKED) {
            if (a->parent_id == NULL)
                fz_fail(f, "BLOCKED", "no parent");
            continue; /* a report: the peer may be gone */
        }
        if (sched_state_peer_stat(f->st, a->peer_id, &ps) != 0)
            fz_fail(f, "action for a peer that does not exist", a->peer_id);
        if (strcmp(ps.task_id, a->task_id) != 0 || strcmp(ps.host_id, a->host_id) != 0)
            fz_fail(f, "action: wrong task or host", a->peer_id);
        if (sched_state_task_stat(f->st, a->task_id, &ts) != 0)
            fz_fail(f, "action: task does not exist", a->task_id);
        switch (a->kind) {
        case SCHED_ACT_EMPTY:
            if (ts.content_length != 0)
                fz_fail(f, "EMPTY for a task that is not empty", a->peer_id);
            break;
        case SCHED_ACT_TINY:
            if (a->content == NULL || ts.content_length < 0 ||
                (int64_t)a->content_len != ts.content_length || a->content_len > SCHED_TINY_MAX)
                fz_fail(f, "TINY: bad content", a->peer_id);
            break;
        case SCHED_ACT_PARENTS:
            fz_check_parents(f, a, &ps);
            for (size_t j = 0; j < i; j++) {
                if (f->acts.v[j].kind == SCHED_ACT_PARENTS &&
                    strcmp(f->acts.v[j].peer_id, a->peer_id) == 0)
                    fz_fail(f, "PARENTS twice in one event", a->peer_id);
            }
            break;
        default:
            break;
        }
    }
}

/* Build with -DFZ_TRACE to print every event and what it produced. */
static void
fz_trace(const struct fz *f, int rv)
{
#ifdef FZ_TRACE
    fprintf(stderr, "event %u t=%lld:", f->op, (long long)f->now);
    for (size_t i = f->op_off; i < f->off; i++)
        fprintf(stderr, " %02x", f->p[i]);
    fprintf(stderr, " -> %d\n", rv);
    for (size_t i = 0; i < f->acts.n; i++) {
        const struct sched_action *a = &f->acts.v[i];

        fprintf(stderr, "  action %d peer=%s host=%s", (int)a->kind,
                a->peer_id != NULL ? a->peer_id : "-", a->host_id != NULL ? a->host_id : "-");
        for (size_t k = 0; k < a->nparents; k++)
            fprintf(stderr, " %s", a->parents[k].peer_id);
        fprintf(stderr, "\n");
    }
    for (size_t i = 0; i < DF_NELEM(fz_peer_ids); i++) {
        struct sched_peer_stat ps;

        if (sched_state_peer_stat(f->st, fz_peer_ids[i], &ps) != 0)
            continue;
        fprintf(stderr, "  peer %s task %.4s host %s %s pieces %u/%u parents", ps.id,
                ps.task_id + 60, ps.host_id, sched_peer_state_name(ps.state), ps.finished_pieces,
                ps.piece_count);
        for (uint32_t k = 0; k < ps.parent_count && k < SCHED_PARENTS_MAX; k++)
            fprintf(stderr, " %s", ps.parents[k]);
        fprintf(stderr, "\n");
    }
#else
    (void)f;
    (void)rv;
#endif
}

static void
fz_check(struct fz *f, int rv)
{
    struct df_error err;

    fz_trace(f, rv);
    if (!fz_rv_is_ok(rv))
        fz_fail(f, "unexpected result", df_strerror(rv));
    memset(&err, 0, sizeof(err));
    if (sched_state_check(f->st, &err) != 0)
        fz_fail(f, "sched_state_check", err.msg);
    fz_check_actions(f);
    if (sched_state_host_count(f->st) > f->cfg.max_hosts ||
        sched_state_task_count(f->st) > f->cfg.max_tasks ||
        sched_state_peer_count(f->st) > f->cfg.max_peers)
        fz_fail(f, "tables", "over a cap");
    sched_actions_reset(&f->acts);
}

static int
fz_event(struct fz *f, uint8_t op)
{
    switch (op & 15) {
    case 0: {
        unsigned idx = fz_byte(f) % 6;

        return fz_announce(f, idx, fz_byte(f));
    }
    case 1:
        return sched_state_host_leave(f->st, fz_host(f), f->now, &f->acts);
    case 2:
        return fz_register(f);
    case 3:
        return sched_state_peer_started(f->st, fz_peer(f), f->now);
    case 4: {
        const char *peer = fz_peer(f);
        const struct fz_geom *g = &fz_geoms[fz_byte(f) % DF_NELEM(fz_geoms)];

        return sched_state_peer_back_to_source_started(f->st, peer, g->content_length,
                                                       g->piece_length, f->now, &f->acts);
    }
    case 5:
        return fz_piece_from_parent(f);
    case 6:
        return fz_piece_from_source(f);
    case 7: {
        const char *peer = fz_peer(f);
        uint32_t number = fz_number(f, peer);

        return sched_state_piece_failed(f->st, peer, number, fz_parent(f, peer, true), f->now,
                                        &f->acts);
    }
    case 8:
        return sched_state_peer_finished(f->st, fz_peer(f), f->now, &f->acts);
    case 9:
        return sched_state_peer_failed(f->st, fz_peer(f), f->now, &f->acts);
    case 10:
        return sched_state_peer_leave(f->st, fz_peer(f), f->now, &f->acts);
    case 11:
        return fz_reschedule(f);
    case 12:
        return sched_state_tick(f->st, f->now, &f->acts);
    case 13:
        return sched_state_gc(f->st, f->now, &f->acts, NULL);
    case 14:
        fz_probe(f);
        return 0;
    default: {
        /* Every known host announces again (keeps them alive across long steps). */
        uint8_t flags = fz_byte(f);
        int rv = 0;

        for (unsigned i = 0; i < FZ_HOSTS && rv == 0; i++)
            rv = fz_announce(f, i, (uint8_t)((flags & ~0x10) | (i == 0 ? 0x10 : 0)));
        return rv;
    }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f;

    memset(&f, 0, sizeof(f));
    f.p = data;
    f.n = size;
    f.now = 1000000;
    fz_config(&f, fz_byte(&f));
    for (unsigned i = 0; i < FZ_TASKS; i++)
        snprintf(f.tasks[i], sizeof(f.tasks[i]), "%064x", 0xa0 + i);
    f.st = sched_state_new(&f.cfg);
    sched_state_start(f.st, f.now);
    /* h0 is a seed host, h1..h3 normal ones; events may change that. */
    for (unsigned i = 0; i < FZ_HOSTS; i++) {
        if (fz_announce(&f, i, i == 0 ? 0x10 : 0) != 0)
            fz_fail(&f, "setup", fz_host_ids[i]);
    }
    for (; f.off < f.n && f.op < FZ_MAX_EVENT; f.op++) {
        uint8_t b;

        f.op_off = f.off;
        b = fz_byte(&f);
        f.now += fz_steps[b >> 4];
        fz_check(&f, fz_event(&f, b));
    }
    sched_actions_reset(&f.acts);
    sched_state_free(f.st);
    return 0;
}
