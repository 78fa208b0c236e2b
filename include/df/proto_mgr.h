/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manager.v2 messages as C structs (upstream's manager.proto in the protobuf JSON mapping,
 * camelCase names): the requests schedulers and peers send the manager (UpdateScheduler,
 * UpdateSeedPeer, DeleteSeedPeer, ListSchedulers, KeepAlive, GetScheduler, GetSeedPeer,
 * ListSeedPeers) in one struct, and the Scheduler and SeedPeer the manager answers with. `bytes`
 * fields (cluster configs, scopes, features) carry JSON text, base64 on the wire as protobuf's
 * mapping has it; the structs hold the decoded text. _from_json validates (one-line error naming
 * the field, DF_EINVAL); structs own their strings and _reset frees them.
 */
#ifndef DF_PROTO_MGR_H
#define DF_PROTO_MGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"
#include "df/df_json.h"

#define PROTO_MGR_SVC               "/manager.v2.Manager/"
#define PROTO_MGR_UPDATE_SCHEDULER  PROTO_MGR_SVC "UpdateScheduler"
#define PROTO_MGR_UPDATE_SEED_PEER  PROTO_MGR_SVC "UpdateSeedPeer"
#define PROTO_MGR_DELETE_SEED_PEER  PROTO_MGR_SVC "DeleteSeedPeer"
#define PROTO_MGR_LIST_SCHEDULERS   PROTO_MGR_SVC "ListSchedulers"
#define PROTO_MGR_KEEPALIVE         PROTO_MGR_SVC "KeepAlive"
#define PROTO_MGR_GET_SCHEDULER     PROTO_MGR_SVC "GetScheduler"
#define PROTO_MGR_LIST_APPLICATIONS PROTO_MGR_SVC "ListApplications"
#define PROTO_MGR_GET_SEED_PEER     PROTO_MGR_SVC "GetSeedPeer"
#define PROTO_MGR_LIST_SEED_PEERS   PROTO_MGR_SVC "ListSeedPeers"
/* ours, on the manager's join listener (rpc_join.h, mgr_ca.c): JSON {} -> {caCertificate} and
 * {csr, joinToken?, schedulerClusterId?} -> {certificate, caCertificate, serial, notAfter} */
#define PROTO_MGR_GET_CA_CERTIFICATE PROTO_MGR_SVC "GetCACertificate"
#define PROTO_MGR_ISSUE_CERTIFICATE  PROTO_MGR_SVC "IssueCertificate"
/* ours, on the RPC listener (mTLS, any cluster role): {} -> {serials: [hex...]} */
#define PROTO_MGR_LIST_REVOKED_CERTIFICATES PROTO_MGR_SVC "ListRevokedCertificates"
#define PROTO_MGR_TEXT_MAX                  255 /* hostname, ip, idc, location, version, commit */
#define PROTO_MGR_JSON_MAX                  (64u << 10) /* bytes of one JSON `bytes` field, decoded */

enum proto_mgr_source {
    PROTO_MGR_SCHEDULER_SOURCE, /* "SCHEDULER_SOURCE" or 0 */
    PROTO_MGR_PEER_SOURCE,      /* "PEER_SOURCE" or 1 */
    PROTO_MGR_SEED_PEER_SOURCE, /* "SEED_PEER_SOURCE" or 2 */
};

enum proto_mgr_req_kind {
    PROTO_MGR_REQ_UPDATE_SCHEDULER,  /* hostname, ip, port, schedulerClusterId; features, config */
    PROTO_MGR_REQ_UPDATE_SEED_PEER,  /* hostname, ip, port, downloadPort, seedPeerClusterId, type */
    PROTO_MGR_REQ_DELETE_SEED_PEER,  /* hostname, seedPeerClusterId; ip */
    PROTO_MGR_REQ_LIST_SCHEDULERS,   /* hostname, ip; idc, location, version, commit, cluster */
    PROTO_MGR_REQ_KEEPALIVE,         /* hostname, clusterId; ip */
    PROTO_MGR_REQ_GET_SCHEDULER,     /* hostname, schedulerClusterId; ip */
    PROTO_MGR_REQ_LIST_APPLICATIONS, /* hostname, ip */
    PROTO_MGR_REQ_GET_SEED_PEER,     /* hostname, seedPeerClusterId; ip */
    PROTO_MGR_REQ_LIST_SEED_PEERS,   /* hostname, ip; version, commit */
};

/* Every manager.v2 request we serve; which fields a kind carries is in the enum above. */
struct proto_mgr_req {
    enum proto_mgr_source source;
    char *hostname;
    char *ip;
    char *idc;
    char *location;
    char *type; /* UpdateSeedPeer: "super" */
    char *version;
    char *commit;
    uint16_t port;
    uint16_t download_port;
    uint64_t cluster_id; /* schedulerClusterId, seedPeerClusterId or clusterId by kind */
    char **features;     /* UpdateScheduler */
    size_t nfeatures;
    char *config; /* UpdateScheduler: JSON object text */
};

void proto_mgr_req_reset(struct proto_mgr_req *r);
int proto_mgr_req_from_json(const cJSON *msg, enum proto_mgr_req_kind kind,
                            struct proto_mgr_req *out, struct df_error *err);
/* NULL on OOM. */
cJSON *proto_mgr_req_to_json(const struct proto_mgr_req *r, enum proto_mgr_req_kind kind);

/*
 * SchedulerCluster, and SeedPeerCluster {id, name, bio, config} with the other members NULL:
 * the JSON members are text (NULL: absent).
 */
struct proto_mgr_cluster {
    uint64_t id;
    char *name;
    char *bio;
    char *config;
    char *client_config;
    char *scopes;
    char *seed_client_config;
};

struct proto_mgr_scheduler;

/*
 * SeedPeer: as a Scheduler lists it (no cluster, no schedulers), and as GetSeedPeer answers
 * (its SeedPeerCluster and the active schedulers of the linked scheduler clusters). Nesting
 * is bounded: a SeedPeer's schedulers are read without their own seed peers' schedulers.
 */
struct proto_mgr_seed_peer {
    uint64_t id;
    char *hostname;
    char *type;
    char *idc;
    char *location;
    char *ip;
    uint16_t port;
    uint16_t download_port;
    char *state;
    uint64_t cluster_id; /* seedPeerClusterId */
    bool has_cluster;
    struct proto_mgr_cluster cluster; /* seedPeerCluster: id, name, bio, config */
    struct proto_mgr_scheduler *schedulers;
    size_t nschedulers;
};

/* Scheduler: the answer of UpdateScheduler and GetScheduler, an item of ListSchedulers. */
struct proto_mgr_scheduler {
    uint64_t id;
    char *hostname;
    char *idc;
    char *location;
    char *ip;
    uint16_t port;
    char *state; /* "active" | "inactive" */
    uint64_t cluster_id;
    bool has_cluster;
    struct proto_mgr_cluster cluster;
    struct proto_mgr_seed_peer *seed_peers;
    size_t nseed_peers;
    char *features; /* JSON array text */
};

void proto_mgr_scheduler_reset(struct proto_mgr_scheduler *s);
int proto_mgr_scheduler_from_json(const cJSON *msg, struct proto_mgr_scheduler *out,
                                  struct df_error *err);
cJSON *proto_mgr_scheduler_to_json(const struct proto_mgr_scheduler *s);

/* The answer of UpdateSeedPeer and GetSeedPeer. */
void proto_mgr_seed_peer_reset(struct proto_mgr_seed_peer *p);
int proto_mgr_seed_peer_from_json(const cJSON *msg, struct proto_mgr_seed_peer *out,
                                  struct df_error *err);
cJSON *proto_mgr_seed_peer_to_json(const struct proto_mgr_seed_peer *p);

/* ListSeedPeersResponse {"seedPeers": [...]}: *out (the caller frees with _free). */
int proto_mgr_seed_peers_from_json(const cJSON *msg, struct proto_mgr_seed_peer **out, size_t *n,
                                   struct df_error *err);
void proto_mgr_seed_peers_free(struct proto_mgr_seed_peer *v, size_t n);
/* Takes the items (an array of proto_mgr_seed_peer_to_json results) into the answer. */
cJSON *proto_mgr_seed_peers_to_json(cJSON *items);

/* ListSchedulersResponse {"schedulers": [...]}: *out (the caller frees with _list_free). */
int proto_mgr_schedulers_from_json(const cJSON *msg, struct proto_mgr_scheduler **out, size_t *n,
                                   struct df_error *err);
void proto_mgr_schedulers_free(struct proto_mgr_scheduler *v, size_t n);
/* Takes the items (an array of proto_mgr_scheduler_to_json results) into the answer. */
cJSON *proto_mgr_schedulers_to_json(cJSON *items);

/*
 * ListApplicationsResponse {"applications": [Application]}: the applications that have a
 * priority, as the manager's REST API keeps them (mgr_app.c). A priority is common.v2.Priority,
 * LEVEL0..LEVEL6 by name on the wire; upstream's API stores up to 20, which protobuf's JSON
 * mapping writes as numbers, so both are read (0..PROTO_MGR_PRIORITY_MAX).
 */
#define PROTO_MGR_PRIORITY_MAX 20
#define PROTO_MGR_APPS_MAX     1000 /* applications of one answer */
#define PROTO_MGR_APP_URLS_MAX 100  /* URLPriority entries of one application */

struct proto_mgr_url_priority {
    char *regex;
    uint32_t value;
};

struct proto_mgr_app {
    uint64_t id;
    char *name;
    char *url;
    char *bio;
    uint32_t priority; /* priority.value */
    struct proto_mgr_url_priority *urls;
    size_t nurls;
};

struct proto_mgr_apps {
    struct proto_mgr_app *v;
    size_t n;
};

void proto_mgr_apps_reset(struct proto_mgr_apps *a);
/* Parse an answer into out (reset it when done); DF_EINVAL naming the field. */
int proto_mgr_apps_from_json(const cJSON *msg, struct proto_mgr_apps *out, struct df_error *err);
/* NULL on OOM. */
cJSON *proto_mgr_apps_to_json(const struct proto_mgr_apps *a);

#endif
