/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manager.v2 messages <-> C structs. The manager reads the requests and writes Scheduler
 * answers; the scheduler and peer write the requests and read the answers; every wire name
 * is spelled here once. JSON carried in `bytes` fields is base64 (protobuf's JSON mapping)
 * and bounded by PROTO_MGR_JSON_MAX before it is decoded, then checked to be JSON.
 */
#include "df/proto_mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_b64.h"
#include "df/df_json.h"
#include "df/xmalloc.h"
#include "proto_json.h"

static const char *const proto_mgr_sources[] = {
        [PROTO_MGR_SCHEDULER_SOURCE] = "SCHEDULER_SOURCE",
        [PROTO_MGR_PEER_SOURCE] = "PEER_SOURCE",
        [PROTO_MGR_SEED_PEER_SOURCE] = "SEED_PEER_SOURCE",
};

/* The cluster id's wire name of each request kind. */
static const char *const proto_mgr_cluster_key[] = {
        [PROTO_MGR_REQ_UPDATE_SCHEDULER] = "schedulerClusterId",
        [PROTO_MGR_REQ_UPDATE_SEED_PEER] = "seedPeerClusterId",
        [PROTO_MGR_REQ_DELETE_SEED_PEER] = "seedPeerClusterId",
        [PROTO_MGR_REQ_LIST_SCHEDULERS] = "schedulerClusterId",
        [PROTO_MGR_REQ_KEEPALIVE] = "clusterId",
        [PROTO_MGR_REQ_GET_SCHEDULER] = "schedulerClusterId",
        [PROTO_MGR_REQ_LIST_APPLICATIONS] = NULL, /* no cluster: the manager's every one */
        [PROTO_MGR_REQ_GET_SEED_PEER] = "seedPeerClusterId",
        [PROTO_MGR_REQ_LIST_SEED_PEERS] = NULL, /* the caller's own row names the cluster */
};

/* An enum member: its name or its number (protobuf JSON accepts both); absent is 0. */
static int
proto_mgr_source_get(const cJSON *o, enum proto_mgr_source *out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "sourceType");

    *out = PROTO_MGR_SCHEDULER_SOURCE;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    for (size_t i = 0; i < DF_NELEM(proto_mgr_sources); i++) {
        if ((cJSON_IsString(v) && strcmp(v->valuestring, proto_mgr_sources[i]) == 0) ||
            (cJSON_IsNumber(v) && v->valuedouble == (double)i)) {
            *out = (enum proto_mgr_source)i;
            return 0;
        }
    }
    return proto_json_fail(err, DF_EINVAL, "", "sourceType",
                           "expected SCHEDULER_SOURCE, PEER_SOURCE or SEED_PEER_SOURCE");
}

/* A `bytes` member holding JSON: base64-decoded, bounded, parsed once to check it. */
static int
proto_mgr_json_get(const cJSON *o, const char *where, const char *key, char **out,
                   struct df_error *err)
{
    char *s = NULL, *text;
    size_t n = 0, cap;
    cJSON *doc;
    int rv;

    if ((rv = proto_json_str(o, where, key, false, false, 0, &s, err)) != 0 || s == NULL)
        return rv;
    if (strlen(s) > df_b64_encoded_size(PROTO_MGR_JSON_MAX)) {
        free(s);
        return proto_json_fail(err, DF_EINVAL, where, key, "more than %u bytes",
                               PROTO_MGR_JSON_MAX);
    }
    cap = strlen(s) / 4 * 3 + 3;
    text = xmalloc(cap + 1);
    if (df_b64_decode(s, strlen(s), (uint8_t *)text, cap, &n) != 0) {
        free(s);
        free(text);
        return proto_json_fail(err, DF_EINVAL, where, key, "expected base64");
    }
    free(s);
    text[n] = '\0';
    /* df_json_parse refuses a NUL: kept as a C string, the text would be cut short. */
    if (df_json_parse(text, n, NULL, &doc, NULL) != 0) {
        free(text);
        return proto_json_fail(err, DF_EINVAL, where, key, "expected JSON in base64");
    }
    cJSON_Delete(doc);
    *out = text;
    return 0;
}

static bool
proto_mgr_json_add(cJSON *o, const char *key, const char *text)
{
    char *b64;
    bool ok;

    if (text == NULL)
        return true;
    b64 = xmalloc(df_b64_encoded_size(strlen(text)) + 1);
    ok = proto_json_add_str(o, key, df_b64_encode((const uint8_t *)text, strlen(text), b64));
    free(b64);
    return ok;
}

/* A port: at most 65535, required > 0 when required. */
static int
proto_mgr_port_get(const cJSON *o, const char *where, const char *key, bool required, uint16_t *out,
                   struct df_error *err)
{
    uint64_t v = 0;
    int rv;

    if ((rv = proto_json_u64(o, where, key, UINT16_MAX, NULL, &v, err)) != 0)
        return rv;
    if (required && v == 0)
        return proto_json_fail(err, DF_EINVAL, where, key, "required");
    *out = (uint16_t)v;
    return 0;
}

/* ---- requests ---- */

void
proto_mgr_req_reset(struct proto_mgr_req *r)
{
    free(r->hostname);
    free(r->ip);
    free(r->idc);
    free(r->location);
    free(r->type);
    free(r->version);
    free(r->commit);
    proto_json_strv_free(r->features, r->nfeatures);
    free(r->config);
    memset(r, 0, sizeof(*r));
}

static int
proto_mgr_features_get(const cJSON *msg, struct proto_mgr_req *out, struct df_error *err)
{
    const cJSON *arr = NULL, *it;
    size_t n;

    if (proto_json_array(msg, "", "features", &arr, err) != 0)
        return DF_EINVAL;
    if (arr == NULL)
        return 0;
    if ((n = (size_t)cJSON_GetArraySize(arr)) > 16)
        return proto_json_fail(err, DF_EINVAL, "", "features", "at most 16");
    out->features = xcalloc(n + 1, sizeof(char *));
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || strlen(it->valuestring) > 32)
            return proto_json_fail(err, DF_EINVAL, "", "features", "expected short strings");
        out->features[out->nfeatures++] = xstrdup(it->valuestring);
    }
    return 0;
}

int
proto_mgr_req_from_json(const cJSON *msg, enum proto_mgr_req_kind kind, struct proto_mgr_req *out,
                        struct df_error *err)
{
    /* which kinds require the ip and the cluster, and carry a port */
    bool need_ip = kind == PROTO_MGR_REQ_UPDATE_SCHEDULER ||
                   kind == PROTO_MGR_REQ_UPDATE_SEED_PEER ||
                   kind == PROTO_MGR_REQ_LIST_SCHEDULERS ||
                   kind == PROTO_MGR_REQ_LIST_APPLICATIONS || kind == PROTO_MGR_REQ_LIST_SEED_PEERS;
    /* ListSchedulers' cluster is optional (0: ask the searcher) */
    bool need_cluster =
            proto_mgr_cluster_key[kind] != NULL && kind != PROTO_MGR_REQ_LIST_SCHEDULERS;
    bool has_port =
            kind == PROTO_MGR_REQ_UPDATE_SCHEDULER || kind == PROTO_MGR_REQ_UPDATE_SEED_PEER;
    const size_t max = PROTO_MGR_TEXT_MAX;
    bool has = false;
    int rv;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(msg)) {
        rv = df_error_set(err, DF_EINVAL, "expected an object");
        goto fail;
    }
    if ((rv = proto_mgr_source_get(msg, &out->source, err)) != 0 ||
        (rv = proto_json_str(msg, "", "hostname", true, true, max, &out->hostname, err)) != 0 ||
        (rv = proto_json_str(msg, "", "ip", need_ip, true, 45, &out->ip, err)) != 0 ||
        (rv = proto_json_str(msg, "", "idc", false, true, max, &out->idc, err)) != 0 ||
        (rv = proto_json_str(msg, "", "location", false, true, max, &out->location, err)) != 0 ||
        (rv = proto_json_str(msg, "", "version", false, true, max, &out->version, err)) != 0 ||
        (rv = proto_json_str(msg, "", "commit", false, true, max, &out->commit, err)) != 0 ||
        (proto_mgr_cluster_key[kind] != NULL &&
         (rv = proto_json_u64(msg, "", proto_mgr_cluster_key[kind], INT64_MAX, &has,
                              &out->cluster_id, err)) != 0))
        goto fail;
    if (need_cluster && out->cluster_id == 0) {
        rv = proto_json_fail(err, DF_EINVAL, "", proto_mgr_cluster_key[kind], "at least 1");
        goto fail;
    }
    if (has_port && (rv = proto_mgr_port_get(msg, "", "port", true, &out->port, err)) != 0)
        goto fail;
    if (kind == PROTO_MGR_REQ_UPDATE_SCHEDULER &&
        ((rv = proto_mgr_features_get(msg, out, err)) != 0 ||
         (rv = proto_mgr_json_get(msg, "", "config", &out->config, err)) != 0))
        goto fail;
    if (kind == PROTO_MGR_REQ_UPDATE_SEED_PEER) {
        if ((rv = proto_mgr_port_get(msg, "", "downloadPort", false, &out->download_port, err)) !=
                    0 ||
            (rv = proto_json_str(msg, "", "type", false, true, 16, &out->type, err)) != 0)
            goto fail;
        if (out->type != NULL && strcmp(out->type, "super") != 0) {
            rv = proto_json_fail(err, DF_EINVAL, "", "type", "expected super");
            goto fail;
        }
    }
    return 0;
fail:
    proto_mgr_req_reset(out);
    return rv;
}

cJSON *
proto_mgr_req_to_json(const struct proto_mgr_req *r, enum proto_mgr_req_kind kind)
{
    cJSON *m = cJSON_CreateObject(), *arr;
    bool ok;

    if (m == NULL)
        return NULL;
    ok = proto_json_add_str(m, "sourceType", proto_mgr_sources[r->source]) &&
         proto_json_add_str(m, "hostname", r->hostname) && proto_json_add_str(m, "ip", r->ip) &&
         proto_json_add_str(m, "idc", r->idc) && proto_json_add_str(m, "location", r->location) &&
         proto_json_add_str(m, "type", r->type) && proto_json_add_str(m, "version", r->version) &&
         proto_json_add_str(m, "commit", r->commit) &&
         (r->cluster_id == 0 || proto_mgr_cluster_key[kind] == NULL ||
          proto_json_add_u64(m, proto_mgr_cluster_key[kind], r->cluster_id)) &&
         (r->port == 0 || proto_json_add_u64(m, "port", r->port)) &&
         (r->download_port == 0 || proto_json_add_u64(m, "downloadPort", r->download_port)) &&
         proto_mgr_json_add(m, "config", r->config);
    if (ok && r->nfeatures > 0) {
        ok = (arr = cJSON_AddArrayToObject(m, "features")) != NULL;
        for (size_t i = 0; ok && i < r->nfeatures; i++)
            ok = cJSON_AddItemToArray(arr, cJSON_CreateString(r->features[i]));
    }
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* ---- answers ---- */

static void
proto_mgr_cluster_reset(struct proto_mgr_cluster *c)
{
    free(c->name);
    free(c->bio);
    free(c->config);
    free(c->client_config);
    free(c->scopes);
    free(c->seed_client_config);
    memset(c, 0, sizeof(*c));
}

void
proto_mgr_seed_peer_reset(struct proto_mgr_seed_peer *p)
{
    free(p->hostname);
    free(p->type);
    free(p->idc);
    free(p->location);
    free(p->ip);
    free(p->state);
    proto_mgr_cluster_reset(&p->cluster);
    proto_mgr_schedulers_free(p->schedulers, p->nschedulers);
    memset(p, 0, sizeof(*p));
}

void
proto_mgr_scheduler_reset(struct proto_mgr_scheduler *s)
{
    free(s->hostname);
    free(s->idc);
    free(s->location);
    free(s->ip);
    free(s->state);
    proto_mgr_cluster_reset(&s->cluster);
    for (size_t i = 0; i < s->nseed_peers; i++)
        proto_mgr_seed_peer_reset(&s->seed_peers[i]);
    free(s->seed_peers);
    free(s->features);
    memset(s, 0, sizeof(*s));
}

static int
proto_mgr_cluster_from_json(const cJSON *o, const char *w, struct proto_mgr_cluster *c,
                            struct df_error *err)
{
    int rv;

    if ((rv = proto_json_u64(o, w, "id", INT64_MAX, NULL, &c->id, err)) != 0 ||
        (rv = proto_json_str(o, w, "name", false, true, 0, &c->name, err)) != 0 ||
        (rv = proto_json_str(o, w, "bio", false, false, 0, &c->bio, err)) != 0 ||
        (rv = proto_mgr_json_get(o, w, "config", &c->config, err)) != 0 ||
        (rv = proto_mgr_json_get(o, w, "clientConfig", &c->client_config, err)) != 0 ||
        (rv = proto_mgr_json_get(o, w, "scopes", &c->scopes, err)) != 0 ||
        (rv = proto_mgr_json_get(o, w, "seedClientConfig", &c->seed_client_config, err)) != 0)
        return rv;
    return 0;
}

static cJSON *
proto_mgr_cluster_to_json(const struct proto_mgr_cluster *c)
{
    cJSON *m = cJSON_CreateObject();

    if (m == NULL || !proto_json_add_u64(m, "id", c->id) ||
        !proto_json_add_str(m, "name", c->name) || !proto_json_add_str(m, "bio", c->bio) ||
        !proto_mgr_json_add(m, "config", c->config) ||
        !proto_mgr_json_add(m, "clientConfig", c->client_config) ||
        !proto_mgr_json_add(m, "scopes", c->scopes) ||
        !proto_mgr_json_add(m, "seedClientConfig", c->seed_client_config)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* The members a Scheduler and a SeedPeer share. */
static int
proto_mgr_host_from_json(const cJSON *o, const char *w, uint64_t *id, char **hostname, char **idc,
                         char **location, char **ip, uint16_t *port, char **state,
                         struct df_error *err)
{
    int rv;

    if ((rv = proto_json_u64(o, w, "id", INT64_MAX, NULL, id, err)) != 0 ||
        (rv = proto_json_str(o, w, "hostname", true, true, PROTO_MGR_TEXT_MAX, hostname, err)) !=
                0 ||
        (rv = proto_json_str(o, w, "idc", false, true, PROTO_MGR_TEXT_MAX, idc, err)) != 0 ||
        (rv = proto_json_str(o, w, "location", false, true, PROTO_MGR_TEXT_MAX, location, err)) !=
                0 ||
        (rv = proto_json_str(o, w, "ip", true, true, 45, ip, err)) != 0 ||
        (rv = proto_mgr_port_get(o, w, "port", true, port, err)) != 0 ||
        (rv = proto_json_str(o, w, "state", false, true, 16, state, err)) != 0)
        return rv;
    return 0;
}

static bool
proto_mgr_host_to_json(cJSON *m, uint64_t id, const char *hostname, const char *idc,
                       const char *location, const char *ip, uint16_t port, const char *state)
{
    return proto_json_add_u64(m, "id", id) && proto_json_add_str(m, "hostname", hostname) &&
           proto_json_add_str(m, "idc", idc) && proto_json_add_str(m, "location", location) &&
           proto_json_add_str(m, "ip", ip) && proto_json_add_u64(m, "port", port) &&
           proto_json_add_str(m, "state", state);
}

/* Reads one item of an array member at where, at nesting depth (0: the message itself). */
typedef int proto_mgr_item_fn(const cJSON *it, const char *where, unsigned depth, void *item,
                              struct df_error *err);

static int proto_mgr_scheduler_get(const cJSON *msg, const char *w, unsigned depth, void *item,
                                   struct df_error *err);

/*
 * The array member key of o: items of size bytes each read by fn into *out, *n of them (on
 * failure too: the caller's reset frees what they hold). Items of depth 2 and more must be
 * absent or empty, which bounds the Scheduler <-> SeedPeer recursion of the proto at what
 * the manager writes: a Scheduler's seed peers, a SeedPeer's schedulers, nothing deeper.
 */
static int
proto_mgr_items_get(const cJSON *o, const char *w, const char *key, unsigned depth, size_t size,
                    proto_mgr_item_fn *fn, void **out, size_t *n, struct df_error *err)
{
    const cJSON *arr = NULL, *it;
    char where[96];
    int rv;

    *out = NULL;
    *n = 0;
    if ((rv = proto_json_array(o, w, key, &arr, err)) != 0 || cJSON_GetArraySize(arr) == 0)
        return rv;
    if (depth >= 2)
        return proto_json_fail(err, DF_EINVAL, w, key, "nested too deep");
    *out = xcalloc((size_t)cJSON_GetArraySize(arr), size);
    cJSON_ArrayForEach(it, arr)
    {
        snprintf(where, sizeof(where), "%s%s%s[%zu]", w, w[0] != '\0' ? "." : "", key, *n);
        rv = fn(it, where, depth, (char *)*out + *n * size, err);
        (*n)++;
        if (rv != 0)
            return rv;
    }
    return 0;
}

/*
 * What a Scheduler and a SeedPeer at depth both hold: their cluster (object member ckey, into
 * c and *has) and the other kind's list (array member akey, as proto_mgr_items_get).
 */
static int
proto_mgr_nested_get(const cJSON *o, const char *w, const char *ckey, struct proto_mgr_cluster *c,
                     bool *has, const char *akey, unsigned depth, size_t size,
                     proto_mgr_item_fn *fn, void **out, size_t *n, struct df_error *err)
{
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(o, ckey);
    char where[96];
    int rv;

    *out = NULL;
    *n = 0;
    if (cJSON_IsObject(co)) {
        snprintf(where, sizeof(where), "%s%s%s", w, w[0] != '\0' ? "." : "", ckey);
        if ((rv = proto_mgr_cluster_from_json(co, where, c, err)) != 0)
            return rv;
        *has = true;
    }
    return proto_mgr_items_get(o, w, akey, depth + 1, size, fn, out, n, err);
}

/* A SeedPeer at path w (depth as proto_mgr_items_get's); reset on failure. */
static int
proto_mgr_seed_peer_get(const cJSON *o, const char *w, unsigned depth, void *item,
                        struct df_error *err)
{
    struct proto_mgr_seed_peer *p = item;
    void *v;
    int rv;

    memset(p, 0, sizeof(*p));
    if ((rv = proto_mgr_host_from_json(o, w, &p->id, &p->hostname, &p->idc, &p->location, &p->ip,
                                       &p->port, &p->state, err)) != 0 ||
        (rv = proto_json_str(o, w, "type", false, true, 16, &p->type, err)) != 0 ||
        (rv = proto_mgr_port_get(o, w, "downloadPort", false, &p->download_port, err)) != 0 ||
        (rv = proto_json_u64(o, w, "seedPeerClusterId", INT64_MAX, NULL, &p->cluster_id, err)) != 0)
        goto fail;
    rv = proto_mgr_nested_get(o, w, "seedPeerCluster", &p->cluster, &p->has_cluster, "schedulers",
                              depth, sizeof(*p->schedulers), proto_mgr_scheduler_get, &v,
                              &p->nschedulers, err);
    p->schedulers = v;
    if (rv == 0)
        return 0;
fail:
    proto_mgr_seed_peer_reset(p);
    return rv;
}

int
proto_mgr_seed_peer_from_json(const cJSON *msg, struct proto_mgr_seed_peer *out,
                              struct df_error *err)
{
    return proto_mgr_seed_peer_get(msg, "", 0, out, err);
}

cJSON *
proto_mgr_seed_peer_to_json(const struct proto_mgr_seed_peer *p)
{
    cJSON *m = cJSON_CreateObject(), *arr = NULL, *item;
    bool ok;

    ok = m != NULL &&
         proto_mgr_host_to_json(m, p->id, p->hostname, p->idc, p->location, p->ip, p->port,
                                p->state) &&
         proto_json_add_str(m, "type", p->type) &&
         proto_json_add_u64(m, "downloadPort", p->download_port) &&
         proto_json_add_u64(m, "seedPeerClusterId", p->cluster_id);
    if (ok && p->has_cluster)
        ok = (item = proto_mgr_cluster_to_json(&p->cluster)) != NULL &&
             cJSON_AddItemToObject(m, "seedPeerCluster", item);
    /* a Scheduler's seed peers carry no schedulers: the member is left out, not [] */
    if (ok && p->nschedulers > 0)
        ok = (arr = cJSON_AddArrayToObject(m, "schedulers")) != NULL;
    for (size_t i = 0; ok && i < p->nschedulers; i++)
        ok = (item = proto_mgr_scheduler_to_json(&p->schedulers[i])) != NULL &&
             cJSON_AddItemToArray(arr, item);
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* Read a Scheduler at path w ("" at the top, "schedulers[i]" in a list); reset on failure. */
static int
proto_mgr_scheduler_get(const cJSON *msg, const char *w, unsigned depth, void *item,
                        struct df_error *err)
{
    struct proto_mgr_scheduler *s = item;
    void *v;
    int rv;

    memset(s, 0, sizeof(*s));
    if ((rv = proto_mgr_host_from_json(msg, w, &s->id, &s->hostname, &s->idc, &s->location, &s->ip,
                                       &s->port, &s->state, err)) != 0 ||
        (rv = proto_json_u64(msg, w, "schedulerClusterId", INT64_MAX, NULL, &s->cluster_id, err)) !=
                0 ||
        (rv = proto_mgr_json_get(msg, w, "features", &s->features, err)) != 0)
        goto fail;
    rv = proto_mgr_nested_get(msg, w, "schedulerCluster", &s->cluster, &s->has_cluster, "seedPeers",
                              depth, sizeof(*s->seed_peers), proto_mgr_seed_peer_get, &v,
                              &s->nseed_peers, err);
    s->seed_peers = v;
    if (rv == 0)
        return 0;
fail:
    proto_mgr_scheduler_reset(s);
    return rv;
}

int
proto_mgr_scheduler_from_json(const cJSON *msg, struct proto_mgr_scheduler *out,
                              struct df_error *err)
{
    return proto_mgr_scheduler_get(msg, "", 0, out, err);
}

cJSON *
proto_mgr_scheduler_to_json(const struct proto_mgr_scheduler *s)
{
    cJSON *m = cJSON_CreateObject(), *arr, *item;
    bool ok;

    if (m == NULL)
        return NULL;
    ok = proto_mgr_host_to_json(m, s->id, s->hostname, s->idc, s->location, s->ip, s->port,
                                s->state) &&
         proto_json_add_u64(m, "schedulerClusterId", s->cluster_id) &&
         proto_mgr_json_add(m, "features", s->features);
    if (ok && s->has_cluster)
        ok = (item = proto_mgr_cluster_to_json(&s->cluster)) != NULL &&
             cJSON_AddItemToObject(m, "schedulerCluster", item);
    if (ok)
        ok = (arr = cJSON_AddArrayToObject(m, "seedPeers")) != NULL;
    for (size_t i = 0; ok && i < s->nseed_peers; i++)
        ok = (item = proto_mgr_seed_peer_to_json(&s->seed_peers[i])) != NULL &&
             cJSON_AddItemToArray(arr, item);
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

void
proto_mgr_schedulers_free(struct proto_mgr_scheduler *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        proto_mgr_scheduler_reset(&v[i]);
    free(v);
}

void
proto_mgr_seed_peers_free(struct proto_mgr_seed_peer *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        proto_mgr_seed_peer_reset(&v[i]);
    free(v);
}

int
proto_mgr_schedulers_from_json(const cJSON *msg, struct proto_mgr_scheduler **out, size_t *n,
                               struct df_error *err)
{
    void *v;
    int rv;

    rv = proto_mgr_items_get(msg, "", "schedulers", 0, sizeof(**out), proto_mgr_scheduler_get, &v,
                             n, err);
    if (rv != 0) {
        proto_mgr_schedulers_free(v, *n);
        *n = 0;
        return rv;
    }
    *out = v;
    return 0;
}

int
proto_mgr_seed_peers_from_json(const cJSON *msg, struct proto_mgr_seed_peer **out, size_t *n,
                               struct df_error *err)
{
    void *v;
    int rv;

    rv = proto_mgr_items_get(msg, "", "seedPeers", 0, sizeof(**out), proto_mgr_seed_peer_get, &v, n,
                             err);
    if (rv != 0) {
        proto_mgr_seed_peers_free(v, *n);
        *n = 0;
        return rv;
    }
    *out = v;
    return 0;
}

/* {key: items}, taking items. */
static cJSON *
proto_mgr_list_to_json(const char *key, cJSON *items)
{
    cJSON *m = cJSON_CreateObject();

    if (m == NULL || !cJSON_AddItemToObject(m, key, items)) {
        cJSON_Delete(m);
        cJSON_Delete(items);
        return NULL;
    }
    return m;
}

cJSON *
proto_mgr_schedulers_to_json(cJSON *items)
{
    return proto_mgr_list_to_json("schedulers", items);
}

cJSON *
proto_mgr_seed_peers_to_json(cJSON *items)
{
    return proto_mgr_list_to_json("seedPeers", items);
}

/* ---- ListApplications ---- */

static void
proto_mgr_app_reset(struct proto_mgr_app *a)
{
    free(a->name);
    free(a->url);
    free(a->bio);
    for (size_t i = 0; i < a->nurls; i++)
        free(a->urls[i].regex);
    free(a->urls);
    memset(a, 0, sizeof(*a));
}

void
proto_mgr_apps_reset(struct proto_mgr_apps *a)
{
    for (size_t i = 0; i < a->n; i++)
        proto_mgr_app_reset(&a->v[i]);
    free(a->v);
    memset(a, 0, sizeof(*a));
}

/* The priority {value, urls} of an Application at where (absent: level 0, no urls). */
static int
proto_mgr_priority_get(const cJSON *o, const char *where, struct proto_mgr_app *a,
                       struct df_error *err)
{
    const cJSON *pri = cJSON_GetObjectItemCaseSensitive(o, "priority"), *arr = NULL, *it;
    char w[64], wu[96];
    int rv;

    if (pri == NULL || cJSON_IsNull(pri))
        return 0;
    snprintf(w, sizeof(w), "%s.priority", where);
    if (!cJSON_IsObject(pri))
        return proto_json_fail(err, DF_EINVAL, where, "priority", "expected an object");
    if ((rv = proto_json_level(pri, w, "value", PROTO_MGR_PRIORITY_MAX, &a->priority, err)) != 0 ||
        (rv = proto_json_array(pri, w, "urls", &arr, err)) != 0)
        return rv;
    if (cJSON_GetArraySize(arr) > PROTO_MGR_APP_URLS_MAX)
        return proto_json_fail(err, DF_EINVAL, w, "urls", "at most %d", PROTO_MGR_APP_URLS_MAX);
    if (cJSON_GetArraySize(arr) > 0)
        a->urls = xcalloc((size_t)cJSON_GetArraySize(arr), sizeof(*a->urls));
    cJSON_ArrayForEach(it, arr)
    {
        snprintf(wu, sizeof(wu), "%s.urls[%zu]", w, a->nurls);
        if (!cJSON_IsObject(it))
            return proto_json_fail(err, DF_EINVAL, "", wu, "expected an object");
        a->nurls++;
        if ((rv = proto_json_str(it, wu, "regex", true, true, 1024, &a->urls[a->nurls - 1].regex,
                                 err)) != 0 ||
            (rv = proto_json_level(it, wu, "value", PROTO_MGR_PRIORITY_MAX,
                                   &a->urls[a->nurls - 1].value, err)) != 0)
            return rv;
    }
    return 0;
}

int
proto_mgr_apps_from_json(const cJSON *msg, struct proto_mgr_apps *out, struct df_error *err)
{
    const size_t max = PROTO_MGR_TEXT_MAX;
    struct proto_mgr_apps a = {0};
    const cJSON *arr = NULL, *it;
    struct proto_mgr_app *p;
    char where[40];
    int rv;

    if (!cJSON_IsObject(msg))
        return df_error_set(err, DF_EINVAL, "expected an object");
    if ((rv = proto_json_array(msg, "", "applications", &arr, err)) != 0)
        return rv;
    if (cJSON_GetArraySize(arr) > PROTO_MGR_APPS_MAX)
        return proto_json_fail(err, DF_EINVAL, "", "applications", "at most %d",
                               PROTO_MGR_APPS_MAX);
    if (cJSON_GetArraySize(arr) > 0)
        a.v = xcalloc((size_t)cJSON_GetArraySize(arr), sizeof(*a.v));
    cJSON_ArrayForEach(it, arr)
    {
        snprintf(where, sizeof(where), "applications[%zu]", a.n);
        p = &a.v[a.n++];
        if (!cJSON_IsObject(it)) {
            rv = proto_json_fail(err, DF_EINVAL, "", where, "expected an object");
            goto fail;
        }
        if ((rv = proto_json_u64(it, where, "id", INT64_MAX, NULL, &p->id, err)) != 0 ||
            (rv = proto_json_str(it, where, "name", true, true, max, &p->name, err)) != 0 ||
            (rv = proto_json_str(it, where, "url", false, true, 1024, &p->url, err)) != 0 ||
            (rv = proto_json_str(it, where, "bio", false, false, 1024, &p->bio, err)) != 0 ||
            (rv = proto_mgr_priority_get(it, where, p, err)) != 0)
            goto fail;
    }
    *out = a;
    return 0;
fail:
    proto_mgr_apps_reset(&a);
    return rv;
}

static cJSON *
proto_mgr_app_to_json(const struct proto_mgr_app *a)
{
    cJSON *m = cJSON_CreateObject(), *pri, *urls, *u;
    bool ok;

    ok = m != NULL && proto_json_add_u64(m, "id", a->id) &&
         proto_json_add_str(m, "name", a->name) && proto_json_add_str(m, "url", a->url) &&
         proto_json_add_str(m, "bio", a->bio) &&
         (pri = cJSON_AddObjectToObject(m, "priority")) != NULL &&
         proto_json_add_level(pri, "value", a->priority) &&
         (urls = cJSON_AddArrayToObject(pri, "urls")) != NULL;
    for (size_t i = 0; ok && i < a->nurls; i++)
        ok = (u = cJSON_CreateObject()) != NULL && cJSON_AddItemToArray(urls, u) &&
             proto_json_add_str(u, "regex", a->urls[i].regex) &&
             proto_json_add_level(u, "value", a->urls[i].value);
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

cJSON *
proto_mgr_apps_to_json(const struct proto_mgr_apps *a)
{
    cJSON *m = cJSON_CreateObject(), *arr, *item;
    bool ok = m != NULL && (arr = cJSON_AddArrayToObject(m, "applications")) != NULL;

    for (size_t i = 0; ok && i < a->n; i++)
        ok = (item = proto_mgr_app_to_json(&a->v[i])) != NULL && cJSON_AddItemToArray(arr, item);
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}
