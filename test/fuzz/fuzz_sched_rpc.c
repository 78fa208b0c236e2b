/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the scheduler's request decoders where they run: the real scheduler.v2.Scheduler
 * service (sched_rpc.c on a sched_state core) behind the real rpc_server, reached through
 * fz_h2's in-memory transport and an nghttp2 client. The input is text, one request a line:
 *
 *   H {json}   AnnounceHost          h {json}   LeaveHost
 *   T {json}   StatTask              P {json}   StatPeer      S {json}   StatHost
 *   L {json}   LeavePeer
 *   A<k> {json}  one AnnouncePeer message on stream k (0-3; opened on first use)
 *   E<k>  end stream k's request side        X<k>  reset stream k
 *   t  tick     g  gc     ~  fire every pending timer once
 *
 * The bytes after the first space go out as they are (a unary body, or one Connect envelope),
 * so the server's decoding and limits come first, then each method's own decoder, then the
 * core; after every line sched_state_check() must hold. Seed triggering makes the scheduler
 * connect to hosts named in the input: the target first moves itself into a new network
 * namespace (nothing can leave it; needs root), and without one it drops AnnounceHost lines
 * that announce a seed. Name lookups use a resolver without nameservers.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "df/df_json.h"
#include "df/df_metrics.h"
#include "df/log.h"
#include "df/rpc_codec.h"
#include "df/rpc_server.h"
#include "../../src/scheduler/sched.h"
#include "fz_h2.h"

#define FZ_SVC       "/scheduler.v2.Scheduler/"
#define FZ_STREAMS   4
#define FZ_MAX_LINES 64
#define FZ_MAX_INPUT (16 * 1024)
#define FZ_MAX_BODY  4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fz_isolated; /* in a network namespace of our own */

static _Noreturn void
fz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_sched_rpc: %s: %s\n", what, detail != NULL ? detail : "");
    abort();
}

static void
fz_setup_once(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    log_init("fuzz", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
    fz_isolated = unshare(CLONE_NEWNET) == 0;
    if (!fz_isolated)
        fprintf(stderr, "fuzz_sched_rpc: no network namespace (not root?): "
                        "seed hosts are not announced\n");
}

/* Without isolation, a seed host would make the scheduler call out: skip announcing one. */
static bool
fz_announces_seed(const char *body, size_t len)
{
    const cJSON *host, *type;
    cJSON *doc = NULL;
    bool seed = false;

    if (df_json_parse(body, len, NULL, &doc, NULL) != 0)
        return false;
    host = cJSON_GetObjectItemCaseSensitive(doc, "host");
    type = cJSON_GetObjectItemCaseSensitive(host, "type");
    seed = cJSON_IsString(type) && strcmp(type->valuestring, "normal") != 0;
    cJSON_Delete(doc);
    return seed;
}

struct fz {
    struct sched ctx;
    struct fz_h2 h2;
    int streams[FZ_STREAMS];
};

static const char *
fz_unary_path(char op)
{
    switch (op) {
    case 'H':
        return FZ_SVC "AnnounceHost";
    case 'h':
        return FZ_SVC "LeaveHost";
    case 'T':
        return FZ_SVC "StatTask";
    case 'P':
        return FZ_SVC "StatPeer";
    case 'S':
        return FZ_SVC "StatHost";
    case 'L':
        return FZ_SVC "LeavePeer";
    default:
        return NULL;
    }
}

static void
fz_announce_peer(struct fz *f, int k, const char *body, size_t len)
{
    uint8_t hdr[RPC_CODEC_HDR_LEN];

    if (!fz_h2_is_open(&f->h2, f->streams[k]))
        f->streams[k] = fz_h2_open(&f->h2, FZ_SVC "AnnouncePeer", "application/connect+json", NULL);
    rpc_codec_put_header(hdr, 0, (uint32_t)len);
    if (fz_h2_send(&f->h2, f->streams[k], hdr, sizeof(hdr), false))
        fz_h2_send(&f->h2, f->streams[k], body, len, false);
}

static void
fz_line(struct fz *f, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len), *body = sp != NULL ? sp + 1 : line + len;
    size_t blen = (size_t)(line + len - body);
    const char *path = fz_unary_path(line[0]);
    int k = len > 1 && line[1] >= '0' && line[1] < '0' + FZ_STREAMS ? line[1] - '0' : 0;
    int h;

    if (blen > FZ_MAX_BODY)
        blen = FZ_MAX_BODY;
    if (path != NULL) {
        if (line[0] == 'H' && !fz_isolated && fz_announces_seed(body, blen))
            return;
        if ((h = fz_h2_open(&f->h2, path, "application/json", NULL)) >= 0)
            fz_h2_send(&f->h2, h, body, blen, true);
        return;
    }
    switch (line[0]) {
    case 'A':
        fz_announce_peer(f, k, body, blen);
        break;
    case 'E':
        fz_h2_send(&f->h2, f->streams[k], NULL, 0, true);
        break;
    case 'X':
        fz_h2_cancel(&f->h2, f->streams[k]);
        break;
    case 't':
        sched_rpc_tick(&f->ctx);
        break;
    case 'g':
        sched_rpc_gc(&f->ctx);
        break;
    case '~':
        fz_h2_expire(&f->h2);
        break;
    default:
        break;
    }
}

static void
fz_ctx_init(struct sched *ctx)
{
    struct rpc_server_opts ro;

    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg.seed_deadline = 1000;
    sched_config_default(&ctx->scfg);
    /* Small tables, so the caps are reached. */
    ctx->scfg.max_hosts = 6;
    ctx->scfg.max_tasks = 4;
    ctx->scfg.max_peers = 12;
    ctx->scfg.max_peers_per_task = 8;
    ctx->scfg.max_piece_count = 64;
    if ((ctx->base = event_base_new()) == NULL || (ctx->dns = evdns_base_new(ctx->base, 0)) == NULL)
        fz_fail("event_base_new", NULL);
    ctx->state = sched_state_new(&ctx->scfg);
    memset(&ro, 0, sizeof(ro));
    ro.max_msg_bytes = FZ_MAX_BODY;
    ro.max_streams = 16;
    ctx->rpc = rpc_server_new(ctx->base, &ro);
    if (sched_rpc_init(ctx) != 0)
        fz_fail("sched_rpc_init", NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + (size > FZ_MAX_INPUT ? FZ_MAX_INPUT : size);
    struct df_error err;
    struct fz f;
    struct df_metrics *reg;
    char *metrics = NULL;
    size_t mlen = 0;
    int lines = 0;

    fz_setup_once();
    fz_ctx_init(&f.ctx);
    for (int i = 0; i < FZ_STREAMS; i++)
        f.streams[i] = -1;
    fz_h2_init(&f.h2, f.ctx.base, f.ctx.rpc, true);
    fz_h2_run(&f.h2);
    while (p < end && lines++ < FZ_MAX_LINES) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl != NULL ? nl : end) - p);

        if (len > 0)
            fz_line(&f, p, len);
        fz_h2_run(&f.h2);
        if (sched_state_check(f.ctx.state, &err) != 0)
            fz_fail("sched_state_check", err.msg);
        p += len + 1;
    }
    /* the page renders whatever state the input left */
    reg = sched_metrics_new(&f.ctx);
    if (df_metrics_render(reg, &metrics, &mlen) != 0)
        fz_fail("metrics", NULL);
    free(metrics);
    df_metrics_free(reg);
    f.ctx.stopping = true;
    rpc_server_free(f.ctx.rpc);
    sched_rpc_reset(&f.ctx);
    sched_state_free(f.ctx.state);
    /* As net_dns_free: lookups still pending fail, and their connects let go. */
    evdns_base_free(f.ctx.dns, 1);
    fz_h2_free(&f.h2);
    event_base_loop(f.ctx.base, EVLOOP_NONBLOCK);
    event_base_free(f.ctx.base);
    return 0;
}
