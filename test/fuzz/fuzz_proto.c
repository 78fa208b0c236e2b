/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the wire-message parsers of src/proto. The input after its first byte is a message
 * body, decoded as the RPC layer decodes it; the first byte picks the parser (all of them
 * when it is 0xff). What a parser accepts must satisfy its documented bounds, and must
 * survive a round trip: _to_json of the parsed struct, parsed again, is accepted and
 * prints the same text as the first _to_json (the struct is a fixed point).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/proto_dfdaemon.h"
#include "df/proto_mgr.h"
#include "df/proto_sched.h"
#include "df/rpc_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct rpc_codec_limits fz_lim = {0, 0}; /* the RPC server's defaults */

static _Noreturn void
fz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_proto: %s: %s\n", what, detail != NULL ? detail : "(null)");
    abort();
}

/* A refusal has a one-line message. */
static void
fz_check_refusal(const char *what, const struct df_error *err)
{
    if (err->msg[0] == '\0')
        fz_fail(what, "a refusal without a message");
}

/* Print m (deleting it) into a new string. */
static char *
fz_print(cJSON *m, const char *what)
{
    char *text;

    if (m == NULL)
        fz_fail(what, "_to_json failed");
    text = df_json_print(m);
    cJSON_Delete(m);
    if (text == NULL)
        fz_fail(what, "print failed");
    return text;
}

/* One parser: parse doc into a struct, print it, parse and print again, compare. */
#define FZ_ROUNDTRIP(name, type, from, to, reset, check)                                     \
    static void name(const cJSON *doc)                                                       \
    {                                                                                        \
        type a, b;                                                                           \
        struct df_error err;                                                                 \
        char *t1, *t2;                                                                       \
        cJSON *again;                                                                        \
                                                                                             \
        memset(&a, 0, sizeof(a));                                                            \
        memset(&b, 0, sizeof(b));                                                            \
        err.msg[0] = '\0';                                                                   \
        if (from(doc, &a, &err) != 0) {                                                      \
            fz_check_refusal(#from, &err);                                                   \
            return;                                                                          \
        }                                                                                    \
        check(&a);                                                                           \
        t1 = fz_print(to(&a), #to);                                                          \
        if (rpc_codec_decode((const uint8_t *)t1, strlen(t1), &fz_lim, &again, NULL) != 0 || \
            from(again, &b, &err) != 0)                                                      \
            fz_fail(#from " refused its own output", t1);                                    \
        t2 = fz_print(to(&b), #to);                                                          \
        if (strcmp(t1, t2) != 0)                                                             \
            fz_fail(#to " is not a fixed point", t1);                                        \
        cJSON_Delete(again);                                                                 \
        free(t1);                                                                            \
        free(t2);                                                                            \
        reset(&a);                                                                           \
        reset(&b);                                                                           \
    }

static void
fz_check_download(const struct proto_dfdaemon_download *d)
{
    if (d->url == NULL || strlen(d->url) > PROTO_DOWNLOAD_STR_MAX || strpbrk(d->url, "\r\n"))
        fz_fail("download.url", d->url);
    if (d->nheaders > PROTO_DOWNLOAD_HEADERS_MAX)
        fz_fail("download.requestHeader", "too many");
    if (d->has_digest && d->digest.algo != DF_DIGEST_SHA256)
        fz_fail("download.digest", "not sha256");
    if (d->priority > PROTO_PRIORITY_MAX)
        fz_fail("download.priority", "out of range");
}

/* The download object alone, as the message {"download": ...}. */
static int
fz_download_from(const cJSON *doc, struct proto_dfdaemon_download *d, struct df_error *err)
{
    return proto_dfdaemon_download_from_json(doc, d, err);
}

static cJSON *
fz_download_to(const struct proto_dfdaemon_download *d)
{
    cJSON *m = cJSON_CreateObject();

    if (m != NULL && !proto_dfdaemon_download_to_json(m, d)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

static void
fz_check_none(const void *p)
{
    (void)p;
}

static void
fz_check_peer_req(const struct proto_sched_peer_req *r)
{
    if (!df_id_task_is_valid(r->task_id) || strlen(r->peer_id) > PROTO_ID_MAX ||
        strlen(r->host_id) > PROTO_ID_MAX)
        fz_fail("peer request ids", r->peer_id);
    if (r->kind >= PROTO_PEER_REQ_KINDS || r->piece.content_len > PROTO_TINY_MAX)
        fz_fail("peer request", "kind or content");
    if (r->kind == PROTO_PEER_REGISTER)
        fz_check_download(&r->download);
    if (r->kind == PROTO_PEER_BTS_PIECE_FINISHED && !r->piece.has_digest)
        fz_fail("source piece", "without a digest");
    if (r->kind == PROTO_PEER_PIECE_FINISHED && r->piece.parent_id == NULL)
        fz_fail("parent piece", "without a parent");
}

static void
fz_check_peer_resp(const struct proto_sched_peer_resp *r)
{
    if (r->kind >= PROTO_PEER_RESP_KINDS || r->content_len > PROTO_TINY_MAX)
        fz_fail("peer answer", "kind or content");
    for (size_t i = 0; i < r->nparents; i++) {
        if (r->parents[i].id == NULL || r->parents[i].ip == NULL)
            fz_fail("candidate parent", "without id or ip");
    }
}

static void
fz_check_host(const struct proto_sched_announce_host *a)
{
    if (a->host.ip == NULL || a->host.hostname == NULL)
        fz_fail("host", "without ip or hostname");
}

static void
fz_check_task_ref(const struct proto_dfdaemon_task_ref *r)
{
    if (!df_id_task_is_valid(r->task_id))
        fz_fail("taskId", r->task_id);
}

static void
fz_task_ref_reset(struct proto_dfdaemon_task_ref *r)
{
    (void)r;
}

static void
fz_sync_piece_reset(struct proto_dfdaemon_sync_piece *p)
{
    (void)p;
}

static int
fz_ref_from(const cJSON *doc, struct proto_sched_ref *r, struct df_error *err)
{
    return proto_sched_ref_from_json(doc, PROTO_SCHED_REF_STAT_PEER, r, err);
}

static cJSON *
fz_ref_to(const struct proto_sched_ref *r)
{
    return proto_sched_ref_to_json(r, PROTO_SCHED_REF_STAT_PEER);
}

static void
fz_check_apps(const struct proto_mgr_apps *a)
{
    if (a->n > PROTO_MGR_APPS_MAX)
        fz_fail("applications", "too many");
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].name == NULL || a->v[i].priority > PROTO_MGR_PRIORITY_MAX ||
            a->v[i].nurls > PROTO_MGR_APP_URLS_MAX)
            fz_fail("application", a->v[i].name);
        for (size_t j = 0; j < a->v[i].nurls; j++) {
            if (a->v[i].urls[j].regex == NULL || a->v[i].urls[j].value > PROTO_MGR_PRIORITY_MAX)
                fz_fail("application url", a->v[i].name);
        }
    }
}

/* A SeedPeer: its nested schedulers hold no seed peers (the nesting bound). */
static void
fz_check_seed_peer(const struct proto_mgr_seed_peer *p)
{
    if (p->hostname == NULL || p->ip == NULL || p->port == 0)
        fz_fail("seedPeer", "without hostname, ip or port");
    for (size_t i = 0; i < p->nschedulers; i++) {
        if (p->schedulers[i].nseed_peers != 0)
            fz_fail("seedPeer.schedulers", "nested deeper than two levels");
    }
}

static void
fz_check_scheduler(const struct proto_mgr_scheduler *s)
{
    if (s->hostname == NULL || s->ip == NULL || s->port == 0)
        fz_fail("scheduler", "without hostname, ip or port");
    for (size_t i = 0; i < s->nseed_peers; i++) {
        if (s->seed_peers[i].nschedulers != 0)
            fz_fail("scheduler.seedPeers", "nested deeper than two levels");
    }
}

/* ListSeedPeersResponse as one value. */
struct fz_seed_list {
    struct proto_mgr_seed_peer *v;
    size_t n;
};

static int
fz_seed_list_from(const cJSON *doc, struct fz_seed_list *l, struct df_error *err)
{
    return proto_mgr_seed_peers_from_json(doc, &l->v, &l->n, err);
}

static cJSON *
fz_seed_list_to(const struct fz_seed_list *l)
{
    cJSON *items = cJSON_CreateArray();

    for (size_t i = 0; items != NULL && i < l->n; i++)
        cJSON_AddItemToArray(items, proto_mgr_seed_peer_to_json(&l->v[i]));
    return items != NULL ? proto_mgr_seed_peers_to_json(items) : NULL;
}

static void
fz_seed_list_reset(struct fz_seed_list *l)
{
    proto_mgr_seed_peers_free(l->v, l->n);
}

static void
fz_check_seed_list(const struct fz_seed_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        fz_check_seed_peer(&l->v[i]);
}

FZ_ROUNDTRIP(fz_download, struct proto_dfdaemon_download, fz_download_from, fz_download_to,
             proto_dfdaemon_download_reset, fz_check_download)
FZ_ROUNDTRIP(fz_download_resp, struct proto_dfdaemon_download_resp,
             proto_dfdaemon_download_resp_from_json, proto_dfdaemon_download_resp_to_json,
             proto_dfdaemon_download_resp_reset, fz_check_none)
FZ_ROUNDTRIP(fz_task_ref, struct proto_dfdaemon_task_ref, proto_dfdaemon_task_ref_from_json,
             proto_dfdaemon_task_ref_to_json, fz_task_ref_reset, fz_check_task_ref)
FZ_ROUNDTRIP(fz_sync_piece, struct proto_dfdaemon_sync_piece, proto_dfdaemon_sync_piece_from_json,
             proto_dfdaemon_sync_piece_to_json, fz_sync_piece_reset, fz_check_none)
FZ_ROUNDTRIP(fz_announce_host, struct proto_sched_announce_host,
             proto_sched_announce_host_from_json, proto_sched_announce_host_to_json,
             proto_sched_announce_host_reset, fz_check_host)
FZ_ROUNDTRIP(fz_ref, struct proto_sched_ref, fz_ref_from, fz_ref_to, proto_sched_ref_reset,
             fz_check_none)
FZ_ROUNDTRIP(fz_peer_req, struct proto_sched_peer_req, proto_sched_peer_req_from_json,
             proto_sched_peer_req_to_json, proto_sched_peer_req_reset, fz_check_peer_req)
FZ_ROUNDTRIP(fz_stat_task, struct proto_sched_task, proto_sched_task_from_json,
             proto_sched_task_to_json, proto_sched_task_reset, fz_check_none)
FZ_ROUNDTRIP(fz_stat_peer, struct proto_sched_peer, proto_sched_peer_from_json,
             proto_sched_peer_to_json, proto_sched_peer_reset, fz_check_none)
FZ_ROUNDTRIP(fz_stat_host, struct proto_sched_host_stat, proto_sched_host_stat_from_json,
             proto_sched_host_stat_to_json, proto_sched_host_stat_reset, fz_check_none)
FZ_ROUNDTRIP(fz_dfdaemon_task, struct proto_dfdaemon_task, proto_dfdaemon_task_from_json,
             proto_dfdaemon_task_to_json, proto_dfdaemon_task_reset, fz_check_none)
FZ_ROUNDTRIP(fz_peer_resp, struct proto_sched_peer_resp, proto_sched_peer_resp_from_json,
             proto_sched_peer_resp_to_json, proto_sched_peer_resp_reset, fz_check_peer_resp)
FZ_ROUNDTRIP(fz_mgr_apps, struct proto_mgr_apps, proto_mgr_apps_from_json, proto_mgr_apps_to_json,
             proto_mgr_apps_reset, fz_check_apps)
FZ_ROUNDTRIP(fz_mgr_seed_peer, struct proto_mgr_seed_peer, proto_mgr_seed_peer_from_json,
             proto_mgr_seed_peer_to_json, proto_mgr_seed_peer_reset, fz_check_seed_peer)
FZ_ROUNDTRIP(fz_mgr_seed_peers, struct fz_seed_list, fz_seed_list_from, fz_seed_list_to,
             fz_seed_list_reset, fz_check_seed_list)
FZ_ROUNDTRIP(fz_mgr_scheduler, struct proto_mgr_scheduler, proto_mgr_scheduler_from_json,
             proto_mgr_scheduler_to_json, proto_mgr_scheduler_reset, fz_check_scheduler)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void (*const parsers[])(const cJSON *) = {
            fz_download,
            fz_download_resp,
            fz_task_ref,
            fz_sync_piece,
            fz_announce_host,
            fz_ref,
            fz_peer_req,
            fz_peer_resp,
            fz_stat_task,
            fz_stat_peer,
            fz_stat_host,
            fz_dfdaemon_task,
            fz_mgr_apps,
            /* appended: the corpus's first bytes keep their parser */
            fz_mgr_seed_peer,
            fz_mgr_seed_peers,
            fz_mgr_scheduler,
    };
    cJSON *doc = NULL;

    if (size == 0 || rpc_codec_decode(data + 1, size - 1, &fz_lim, &doc, NULL) != 0)
        return 0;
    if (data[0] == 0xff) {
        for (size_t i = 0; i < sizeof(parsers) / sizeof(parsers[0]); i++)
            parsers[i](doc);
    } else
        parsers[data[0] % (sizeof(parsers) / sizeof(parsers[0]))](doc);
    cJSON_Delete(doc);
    return 0;
}
