/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state's invariant checker and its views. sched_state_check() recounts what the
 * model keeps beside its lists (counts, loads, back-to-source slots), walks every edge
 * both ways and every task's graph for a cycle; DF_DEBUG builds run it after each event.
 * The views copy out borrowed pointers and never change the state.
 */
#include "sched_state_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "df/xmalloc.h"

/* ---- invariants ---- */

static int
ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;

    return x < y ? -1 : x > y;
}

/* Kahn's algorithm over the task's peers: every peer is removed iff there is no cycle. */
static int
task_check_acyclic(const struct sched_task *t, struct df_error *err)
{
    const struct sched_peer **v = NULL, **queue = NULL;
    uint32_t *indeg = NULL;
    const struct sched_peer *p;
    size_t n = 0, head = 0, tail = 0;
    int rv;

    v = xcalloc(t->npeers + 1, sizeof(*v));
    queue = xcalloc(t->npeers + 1, sizeof(*queue));
    indeg = xcalloc(t->npeers + 1, sizeof(*indeg));
    TAILQ_FOREACH (p, &t->peers, tentry)
        v[n++] = p;
    qsort(v, n, sizeof(*v), ptr_cmp);
    for (size_t i = 0; i < n; i++) {
        indeg[i] = v[i]->nparents;
        if (indeg[i] == 0)
            queue[tail++] = v[i];
    }
    while (head < tail) {
        const struct sched_edge *e;

        p = queue[head++];
        TAILQ_FOREACH (e, &p->children, pentry) {
            const struct sched_peer *c = e->child;
            const struct sched_peer **slot = bsearch(&c, v, n, sizeof(*v), ptr_cmp);

            if (slot == NULL) {
                rv = df_error_set(err, DF_EINTERNAL, "task %.12s: child %s not in the task", t->id,
                                  c->id);
                goto out;
            }
            if (--indeg[slot - v] == 0)
                queue[tail++] = c;
        }
    }
    if (tail != n) {
        rv = df_error_set(err, DF_EINTERNAL, "task %.12s: the graph has a cycle", t->id);
        goto out;
    }
    rv = 0;
out:
    free(v);
    free(queue);
    free(indeg);
    return rv;
}

static int
peer_check(const struct sched_peer *p, struct df_error *err)
{
    const struct sched_edge *e, *f;
    uint32_t np = 0, nc = 0;

    TAILQ_FOREACH (e, &p->parents, centry) {
        bool found = false;

        np++;
        if (e->child != p || e->parent == p || e->parent->task != p->task)
            return df_error_set(err, DF_EINTERNAL, "peer %s: bad in-edge", p->id);
        TAILQ_FOREACH (f, &e->parent->children, pentry)
            found = found || f == e;
        if (!found)
            return df_error_set(err, DF_EINTERNAL, "peer %s: in-edge missing at parent %s", p->id,
                                e->parent->id);
        for (f = TAILQ_NEXT(e, centry); f != NULL; f = TAILQ_NEXT(f, centry)) {
            if (f->parent == e->parent)
                return df_error_set(err, DF_EINTERNAL, "peer %s: duplicate parent %s", p->id,
                                    e->parent->id);
        }
        if (sched_peer_block_find(p, e->parent->id) != NULL &&
            sched_peer_block_find(p, e->parent->id)->blocked)
            return df_error_set(err, DF_EINTERNAL, "peer %s: blocked parent %s kept", p->id,
                                e->parent->id);
    }
    TAILQ_FOREACH (e, &p->children, pentry) {
        bool found = false;

        nc++;
        if (e->parent != p)
            return df_error_set(err, DF_EINTERNAL, "peer %s: bad out-edge", p->id);
        TAILQ_FOREACH (f, &e->child->parents, centry)
            found = found || f == e;
        if (!found)
            return df_error_set(err, DF_EINTERNAL, "peer %s: out-edge missing at child %s", p->id,
                                e->child->id);
    }
    if (np != p->nparents || nc != p->nchildren)
        return df_error_set(err, DF_EINTERNAL, "peer %s: edge counts %u/%u, lists %u/%u", p->id,
                            p->nparents, p->nchildren, np, nc);
    if (np > 0 && !sched_peer_wants_parents(p))
        return df_error_set(err, DF_EINTERNAL, "peer %s: %s with parents", p->id,
                            sched_peer_state_name(p->state));
    if (nc > 0 && (p->state == SCHED_PEER_FAILED || p->state == SCHED_PEER_LEAVE ||
                   sched_peer_state_is_received(p->state)))
        return df_error_set(err, DF_EINTERNAL, "peer %s: %s with children", p->id,
                            sched_peer_state_name(p->state));
    if ((p->bits == NULL) != !p->task->has_geometry ||
        sched_bits_count(p->bits, p->task->piece_count) != p->nfinished)
        return df_error_set(err, DF_EINTERNAL, "peer %s: finished count %u is wrong", p->id,
                            p->nfinished);
    if (p->waiting != (sched_peer_wants_parents(p) && np == 0))
        return df_error_set(err, DF_EINTERNAL, "peer %s: wait stamp disagrees", p->id);
    return 0;
}

int
sched_state_check(const struct sched_state *s, struct df_error *err)
{
    const struct sched_host *h;
    const struct sched_task *t;
    const struct sched_peer *p;
    size_t nh = 0, nt = 0, np = 0;
    int rv;

    TAILQ_FOREACH (h, &s->host_list, entry) {
        uint32_t n = 0, load = 0;

        nh++;
        if (sched_host_get(s, h->id) != h)
            return df_error_set(err, DF_EINTERNAL, "host %s: not in the map", h->id);
        TAILQ_FOREACH (p, &h->peers, hentry) {
            n++;
            load += p->nchildren;
            if (p->host != h)
                return df_error_set(err, DF_EINTERNAL, "peer %s: on the wrong host", p->id);
        }
        if (n != h->npeers || load != h->load)
            return df_error_set(err, DF_EINTERNAL, "host %s: peers %u/%u, load %u/%u", h->id,
                                h->npeers, n, h->load, load);
    }
    TAILQ_FOREACH (t, &s->task_list, entry) {
        uint32_t n = 0, bts = 0;

        nt++;
        if (sched_task_get(s, t->id) != t)
            return df_error_set(err, DF_EINTERNAL, "task %.12s: not in the map", t->id);
        TAILQ_FOREACH (p, &t->peers, tentry) {
            n++;
            bts += p->state == SCHED_PEER_BACK_TO_SOURCE;
            if (p->task != t)
                return df_error_set(err, DF_EINTERNAL, "peer %s: on the wrong task", p->id);
        }
        if (n != t->npeers || bts != t->nback_to_source)
            return df_error_set(err, DF_EINTERNAL, "task %.12s: peers %u/%u, sources %u/%u", t->id,
                                t->npeers, n, t->nback_to_source, bts);
        if ((t->npeers == 0) != (t->state == SCHED_TASK_LEAVE || t->state == SCHED_TASK_PENDING))
            return df_error_set(err, DF_EINTERNAL, "task %.12s: %s with %u peers", t->id,
                                sched_task_state_name(t->state), t->npeers);
        if (t->has_geometry && sched_bits_count(t->digest_bits, t->piece_count) != t->ndigests)
            return df_error_set(err, DF_EINTERNAL, "task %.12s: digest count", t->id);
        if ((rv = task_check_acyclic(t, err)) != 0)
            return rv;
    }
    TAILQ_FOREACH (p, &s->peer_list, entry) {
        np++;
        if (sched_peer_get(s, p->id) != p)
            return df_error_set(err, DF_EINTERNAL, "peer %s: not in the map", p->id);
        if (p->state == SCHED_PEER_LEAVE || p->state == SCHED_PEER_PENDING)
            return df_error_set(err, DF_EINTERNAL, "peer %s: %s after an event", p->id,
                                sched_peer_state_name(p->state));
        if ((rv = peer_check(p, err)) != 0)
            return rv;
    }
    if (nh != df_map_count(&s->hosts) || nt != df_map_count(&s->tasks) ||
        np != df_map_count(&s->peers))
        return df_error_set(err, DF_EINTERNAL, "map and list sizes differ");
    return 0;
}

/* ---- views ---- */

int
sched_state_task_stat(const struct sched_state *s, const char *task_id, struct sched_task_stat *out)
{
    const struct sched_task *t = sched_task_get(s, task_id);
    const struct sched_peer *p;

    if (t == NULL)
        return DF_ENOTFOUND;
    memset(out, 0, sizeof(*out));
    out->id = t->id;
    out->url = t->url;
    out->tag = t->tag;
    out->application = t->application;
    out->state = t->state;
    out->size_scope = sched_size_scope_of(t->content_length, t->piece_count);
    out->content_length = t->content_length;
    out->piece_length = t->piece_length;
    out->piece_count = t->piece_count;
    out->digest_count = t->ndigests;
    out->peer_count = t->npeers;
    out->back_to_source_count = t->nback_to_source;
    out->distrusted_count = t->ndistrusted;
    TAILQ_FOREACH (p, &t->peers, tentry) {
        if (p->state == SCHED_PEER_SUCCEEDED || p->state == SCHED_PEER_RUNNING ||
            p->state == SCHED_PEER_BACK_TO_SOURCE)
            out->has_available_peer = true;
    }
    out->created_at = t->created_at;
    out->updated_at = t->updated_at;
    return 0;
}

int
sched_state_peer_stat(const struct sched_state *s, const char *peer_id, struct sched_peer_stat *out)
{
    const struct sched_peer *p = sched_peer_get(s, peer_id);
    const struct sched_edge *e;
    uint32_t i = 0;

    if (p == NULL)
        return DF_ENOTFOUND;
    memset(out, 0, sizeof(*out));
    out->id = p->id;
    out->task_id = p->task->id;
    out->host_id = p->host->id;
    out->state = p->state;
    out->need_back_to_source = p->need_back_to_source;
    out->finished_pieces = p->nfinished;
    out->piece_count = p->task->piece_count;
    out->parent_count = p->nparents;
    out->child_count = p->nchildren;
    for (uint32_t k = 0; k < p->nblocks; k++)
        out->blocked_count += p->blocks[k].blocked;
    TAILQ_FOREACH (e, &p->parents, centry) {
        if (i < SCHED_PARENTS_MAX)
            out->parents[i++] = e->parent->id;
    }
    out->bytes_from_source = p->bytes_from_source;
    out->bytes_from_peers = p->bytes_from_peers;
    out->cost_total = p->cost_total;
    out->created_at = p->created_at;
    out->updated_at = p->updated_at;
    return 0;
}

int
sched_state_host_stat(const struct sched_state *s, const char *host_id, struct sched_host_stat *out)
{
    const struct sched_host *h = sched_host_get(s, host_id);

    if (h == NULL)
        return DF_ENOTFOUND;
    memset(out, 0, sizeof(*out));
    out->id = h->id;
    out->ip = h->ip;
    out->hostname = h->hostname;
    out->idc = h->idc;
    out->location = h->location;
    out->type = h->type;
    out->rpc_port = h->rpc_port;
    out->download_port = h->download_port;
    out->upload_rate_limit = h->upload_rate_limit;
    out->upload_slots = h->upload_slots;
    out->load = h->load;
    out->concurrent_uploads = h->concurrent_uploads;
    out->peer_count = h->npeers;
    out->upload_ok = h->upload_ok;
    out->upload_failed = h->upload_failed;
    out->uploaded_bytes = h->uploaded_bytes;
    out->upload_estimate = (uint64_t)(h->up_est * 1000.0 + 0.5);
    out->announced_at = h->announced_at;
    out->source = h->src != NULL ? h->src->key : NULL;
    return 0;
}

void
sched_state_hosts_each(const struct sched_state *s, sched_host_visit_fn *fn, void *arg)
{
    const struct sched_host *h;
    struct sched_host_stat hs;

    TAILQ_FOREACH (h, &s->host_list, entry) {
        if (sched_state_host_stat(s, h->id, &hs) == 0)
            fn(&hs, arg);
    }
}

int
sched_state_task_peers_each(const struct sched_state *s, const char *task_id,
                            sched_peer_visit_fn *fn, void *arg)
{
    const struct sched_task *t = sched_task_get(s, task_id);
    const struct sched_peer *p;
    struct sched_peer_stat ps;
    struct sched_host_stat hs;

    if (t == NULL)
        return DF_ENOTFOUND;
    TAILQ_FOREACH (p, &t->peers, tentry) {
        if (sched_state_peer_stat(s, p->id, &ps) == 0 &&
            sched_state_host_stat(s, p->host->id, &hs) == 0)
            fn(&ps, &hs, arg);
    }
    return 0;
}

int
sched_state_piece_digest(const struct sched_state *s, const char *task_id, uint32_t number,
                         struct df_digest *out)
{
    const struct sched_task *t = sched_task_get(s, task_id);

    if (t == NULL || !t->has_geometry || number >= t->piece_count ||
        !sched_bit_get(t->digest_bits, number))
        return DF_ENOTFOUND;
    out->algo = DF_DIGEST_SHA256;
    memcpy(out->bytes, t->digests + (size_t)number * DF_SHA256_LEN, DF_SHA256_LEN);
    return 0;
}

bool
sched_state_peer_has_piece(const struct sched_state *s, const char *peer_id, uint32_t number)
{
    const struct sched_peer *p = sched_peer_get(s, peer_id);

    return p != NULL && p->bits != NULL && number < p->task->piece_count &&
           sched_bit_get(p->bits, number);
}

uint32_t
sched_state_piece_holders(const struct sched_state *s, const char *task_id, uint32_t number)
{
    const struct sched_task *t = sched_task_get(s, task_id);
    const struct sched_peer *p;
    uint32_t n = 0;

    if (t == NULL || !t->has_geometry || number >= t->piece_count)
        return 0;
    TAILQ_FOREACH (p, &t->peers, tentry)
        n += p->bits != NULL && sched_bit_get(p->bits, number);
    return n;
}

size_t
sched_state_host_count(const struct sched_state *s)
{
    return df_map_count(&s->hosts);
}

size_t
sched_state_task_count(const struct sched_state *s)
{
    return df_map_count(&s->tasks);
}

size_t
sched_state_peer_count(const struct sched_state *s)
{
    return df_map_count(&s->peers);
}
