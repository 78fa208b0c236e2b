/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's view of a scheduler's cluster (our addition to scheduler.v2, see
 * proto_sched.h): ListHosts, every host that announced itself, which is what the manager
 * dispatches an all_peers preheat to and copies into its peers table (sync_peers); and
 * ListTaskPeers, the peers of one task with their hosts, finished or not (get_task,
 * delete_task). Only the scheduler knows this: peers that find it through the manager never
 * tell the manager their upload address.
 *
 * Who may ask: it lists every host of the cluster and who holds which content, so under
 * mTLS only a manager certificate; without TLS there is no identity to check and the
 * listener's network is the boundary, as for every other method (DESIGN §4a).
 */
#include <string.h>

#include "df/df_id.h"
#include "df/net_tls.h"
#include "df/proto_sched.h"
#include "df/rpc_server.h"
#include "sched.h"
#include "sched_json.h"

/* Under mTLS, only the manager: false (and the call answered) for anyone else. */
static bool
sched_list_allowed(struct sched *ctx, struct rpc_call *call, const char *method)
{
    struct net_tls_identity id;
    char msg[160];

    if (ctx->tls_server == NULL)
        return true;
    rpc_call_peer_identity(call, &id);
    if (id.role == NET_TLS_ROLE_MANAGER)
        return true;
    snprintf(msg, sizeof(msg), "%s needs a manager certificate, the caller has %s", method,
             net_tls_role_name(id.role));
    rpc_call_finish(call, RPC_PERMISSION_DENIED, msg);
    return false;
}

static void
sched_list_host_cb(const struct sched_host_stat *h, void *arg)
{
    cJSON *o = sched_json_host_new(h);

    if (o != NULL)
        cJSON_AddItemToArray(arg, o);
}

static void
sched_list_hosts(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct sched *ctx = arg;
    cJSON *doc, *hosts;

    (void)req;
    if (!sched_list_allowed(ctx, call, "ListHosts"))
        return;
    doc = cJSON_CreateObject();
    hosts = cJSON_AddArrayToObject(doc, "hosts");
    sched_state_hosts_each(ctx->state, sched_list_host_cb, hosts);
    rpc_call_reply(call, doc);
    cJSON_Delete(doc);
}

static void
sched_list_peer_cb(const struct sched_peer_stat *p, const struct sched_host_stat *h, void *arg)
{
    cJSON *o = sched_json_peer_new(p), *ho = sched_json_host_new(h);

    if (o == NULL || ho == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(ho);
        return;
    }
    cJSON_AddItemToObject(o, "host", ho);
    cJSON_AddItemToArray(arg, o);
}

static void
sched_list_task_peers(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct sched *ctx = arg;
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(req, "taskId");
    cJSON *doc, *peers;

    if (!sched_list_allowed(ctx, call, "ListTaskPeers"))
        return;
    if (!cJSON_IsString(tid) || !df_id_task_is_valid(tid->valuestring)) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, "taskId: expected 64 lowercase hex digits");
        return;
    }
    doc = cJSON_CreateObject();
    peers = cJSON_AddArrayToObject(doc, "peers");
    /* a task this scheduler does not know has no peers here: an empty list, not an error,
     * since the manager asks every scheduler of a cluster */
    (void)sched_state_task_peers_each(ctx->state, tid->valuestring, sched_list_peer_cb, peers);
    rpc_call_reply(call, doc);
    cJSON_Delete(doc);
}

int
sched_list_init(struct sched *ctx)
{
    const struct rpc_method methods[] = {
            {PROTO_SCHED_LIST_HOSTS, RPC_KIND_UNARY, sched_list_hosts, ctx},
            {PROTO_SCHED_LIST_TASK_PEERS, RPC_KIND_UNARY, sched_list_task_peers, ctx},
    };

    return rpc_server_register(ctx->rpc, methods, DF_NELEM(methods));
}
