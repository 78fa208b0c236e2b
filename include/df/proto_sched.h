/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scheduler.v2 messages as C structs: AnnounceHost's host, the one-id requests (LeaveHost,
 * StatTask, StatPeer, StatHost, LeavePeer), and both directions of the AnnouncePeer stream.
 * Each message has one _from_json, which validates (types, bounds, required fields; a
 * one-line error naming the field as the wire spells it, DF_EINVAL), and one _to_json.
 * Structs own their strings; _reset frees them. 64-bit integers follow the protobuf JSON
 * mapping (decimal strings from 2^53 up).
 */
#ifndef DF_PROTO_SCHED_H
#define DF_PROTO_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/df_err.h"
#include "df/df_json.h"
#include "df/proto_dfdaemon.h"

#define PROTO_SCHED_SVC           "/scheduler.v2.Scheduler/"
#define PROTO_SCHED_ANNOUNCE_HOST PROTO_SCHED_SVC "AnnounceHost"
#define PROTO_SCHED_LEAVE_HOST    PROTO_SCHED_SVC "LeaveHost"
#define PROTO_SCHED_STAT_TASK     PROTO_SCHED_SVC "StatTask"
#define PROTO_SCHED_STAT_PEER     PROTO_SCHED_SVC "StatPeer"
#define PROTO_SCHED_STAT_HOST     PROTO_SCHED_SVC "StatHost"
#define PROTO_SCHED_LEAVE_PEER    PROTO_SCHED_SVC "LeavePeer"
#define PROTO_SCHED_ANNOUNCE_PEER PROTO_SCHED_SVC "AnnouncePeer"
/*
 * Our addition, called by the manager only (under mTLS a manager certificate; see
 * src/scheduler/sched_list.c): ListHosts {} -> {"hosts":[Host as StatHost answers it]};
 * ListTaskPeers {"taskId"} -> {"peers":[Peer as StatPeer answers it, with "host": Host]}, the
 * peers holding the task or fetching it (an unknown task: none).
 */
#define PROTO_SCHED_LIST_HOSTS      PROTO_SCHED_SVC "ListHosts"
#define PROTO_SCHED_LIST_TASK_PEERS PROTO_SCHED_SVC "ListTaskPeers"
/*
 * A task's first download refused by its priority ends the AnnouncePeer stream with
 * FailedPrecondition (LEVEL1) or NotFound (LEVEL2) and exactly these messages (upstream's):
 * a peer then fails the download instead of fetching from the origin itself.
 */
#define PROTO_SCHED_PRIORITY_FORBIDDEN "LEVEL1 peer is forbidden"
#define PROTO_SCHED_PRIORITY_NO_PEERS  "LEVEL2 peer not found candidate peers"
#define PROTO_SCHED_ANNOUNCE_MAX       (64u << 10) /* bytes of one AnnouncePeer request message */
#define PROTO_TINY_MAX                 128         /* content up to this size is answered inline */
#define PROTO_ID_MAX                   512         /* bytes of a host or peer id */

/* ---- AnnounceHost ---- */

enum proto_sched_host_type {
    PROTO_HOST_NORMAL, /* "normal" (or absent) */
    PROTO_HOST_SEED,   /* "super"; "strong", "weak" and "seed" are read as super too */
};

struct proto_sched_host {
    char *id; /* optional: the scheduler derives it from ip and hostname */
    enum proto_sched_host_type type;
    char *hostname;         /* required */
    char *ip;               /* required */
    char *idc;              /* optional */
    char *location;         /* optional */
    uint16_t port;          /* the peer's RPC port */
    uint16_t download_port; /* its upload (piece) port */
    uint64_t upload_rate_limit;
    uint32_t upload_slots;
    uint32_t concurrent_uploads;
};

/* AnnounceHostRequest: {"host": {...}, "interval": ms}. */
struct proto_sched_announce_host {
    struct proto_sched_host host;
    uint64_t interval; /* ms between announcements; 0: not given */
};

void proto_sched_announce_host_reset(struct proto_sched_announce_host *a);
int proto_sched_announce_host_from_json(const cJSON *msg, struct proto_sched_announce_host *out,
                                        struct df_error *err);
cJSON *proto_sched_announce_host_to_json(const struct proto_sched_announce_host *a);

/* ---- requests naming one object ---- */

enum proto_sched_ref_kind {
    PROTO_SCHED_REF_LEAVE_HOST, /* {"id"} */
    PROTO_SCHED_REF_STAT_TASK,  /* {"taskId"} */
    PROTO_SCHED_REF_STAT_PEER,  /* {"peerId"} */
    PROTO_SCHED_REF_STAT_HOST,  /* {"hostId"} */
    PROTO_SCHED_REF_LEAVE_PEER, /* {"peerId"} */
};

struct proto_sched_ref {
    char *id; /* required, non-empty */
};

void proto_sched_ref_reset(struct proto_sched_ref *r);
int proto_sched_ref_from_json(const cJSON *msg, enum proto_sched_ref_kind kind,
                              struct proto_sched_ref *out, struct df_error *err);
cJSON *proto_sched_ref_to_json(const struct proto_sched_ref *r, enum proto_sched_ref_kind kind);

/* ---- AnnouncePeer: peer -> scheduler ---- */

enum proto_sched_peer_req_kind {
    PROTO_PEER_REGISTER,           /* registerPeerRequest */
    PROTO_PEER_STARTED,            /* downloadPeerStartedRequest */
    PROTO_PEER_BTS_STARTED,        /* downloadPeerBackToSourceStartedRequest */
    PROTO_PEER_RESCHEDULE,         /* reschedulePeerRequest */
    PROTO_PEER_PIECE_FINISHED,     /* downloadPieceFinishedRequest */
    PROTO_PEER_BTS_PIECE_FINISHED, /* downloadPieceBackToSourceFinishedRequest */
    PROTO_PEER_PIECE_FAILED,       /* downloadPieceFailedRequest */
    PROTO_PEER_FINISHED,           /* downloadPeerFinishedRequest */
    PROTO_PEER_BTS_FINISHED,       /* downloadPeerBackToSourceFinishedRequest */
    PROTO_PEER_FAILED,             /* downloadPeerFailedRequest */
    PROTO_PEER_BTS_FAILED,         /* downloadPeerBackToSourceFailedRequest */
    PROTO_PEER_REQ_KINDS
};

/* The wire name of a request kind ("registerPeerRequest"). */
const char *proto_sched_peer_req_kind_name(enum proto_sched_peer_req_kind kind);

/* A finished piece. */
struct proto_sched_piece {
    uint32_t number; /* required */
    uint64_t offset; /* at most INT64_MAX */
    uint32_t length;
    int64_t cost;    /* ms, >= 0 */
    char *parent_id; /* required from a parent (PIECE_FINISHED), absent from the source */
    bool has_digest; /* required from the source (BTS_PIECE_FINISHED) */
    struct df_digest digest;
    size_t content_len; /* from the source, a tiny task's bytes (base64 on the wire) */
    bool has_content;
    uint8_t content[PROTO_TINY_MAX];
};

/* One AnnouncePeerRequest; which fields a kind carries is noted at each. */
struct proto_sched_peer_req {
    char *host_id; /* required, at most PROTO_ID_MAX bytes */
    char *task_id; /* required, 64 lowercase hex */
    char *peer_id; /* required, at most PROTO_ID_MAX bytes */
    enum proto_sched_peer_req_kind kind;
    struct proto_dfdaemon_download download; /* REGISTER */
    int64_t content_length; /* REGISTER, BTS_STARTED, *FINISHED: -1 when not given */
    uint32_t piece_length;  /* REGISTER, BTS_STARTED; 0 when not given */
    bool has_piece_count;   /* *FINISHED */
    uint32_t piece_count;
    struct proto_sched_piece piece; /* PIECE_FINISHED, BTS_PIECE_FINISHED */
    uint32_t piece_number;          /* PIECE_FAILED: pieceNumber, required */
    char *parent_id;                /* PIECE_FAILED: parentId, optional */
    bool temporary;                 /* PIECE_FAILED */
    char **candidate_parents;       /* RESCHEDULE: the parents that failed (their ids) */
    size_t ncandidate_parents;
    char *description; /* RESCHEDULE, *FAILED */
};

void proto_sched_peer_req_reset(struct proto_sched_peer_req *r);

/*
 * Parse one request message: the three ids and exactly one kind. Errors name the field
 * ("piece.number: required", "unknown message kind \"x\""). *out untouched on failure.
 */
int proto_sched_peer_req_from_json(const cJSON *msg, struct proto_sched_peer_req *out,
                                   struct df_error *err);
cJSON *proto_sched_peer_req_to_json(const struct proto_sched_peer_req *r);

/* ---- AnnouncePeer: scheduler -> peer ---- */

enum proto_sched_peer_resp_kind {
    PROTO_PEER_RESP_EMPTY,          /* emptyTaskResponse */
    PROTO_PEER_RESP_TINY,           /* tinyTaskResponse */
    PROTO_PEER_RESP_NORMAL,         /* normalTaskResponse: candidate parents */
    PROTO_PEER_RESP_BACK_TO_SOURCE, /* needBackToSourceResponse */
    PROTO_PEER_RESP_DIGESTS,        /* pieceDigestsResponse */
    PROTO_PEER_RESP_KINDS
};

struct proto_sched_parent {
    char *id;      /* required */
    char *host_id; /* optional */
    char *ip;      /* required */
    uint16_t port;
    uint16_t download_port;
    bool is_seed;
};

struct proto_sched_piece_digest {
    uint32_t number;
    uint64_t offset;
    uint32_t length;
    struct df_digest digest; /* required */
};

struct proto_sched_peer_resp {
    char *host_id, *task_id, *peer_id; /* required */
    enum proto_sched_peer_resp_kind kind;
    bool has_geometry;       /* NORMAL, DIGESTS: contentLength and pieceLength given */
    uint64_t content_length; /* at most INT64_MAX */
    uint32_t piece_length;
    uint32_t piece_count;               /* NORMAL, with the geometry */
    struct proto_sched_parent *parents; /* NORMAL: candidateParents */
    size_t nparents;
    size_t content_len; /* TINY: content (base64 on the wire) and its digest */
    uint8_t content[PROTO_TINY_MAX];
    struct df_digest digest;
    char *description;                       /* BACK_TO_SOURCE */
    struct proto_sched_piece_digest *pieces; /* DIGESTS */
    size_t npieces;
};

void proto_sched_peer_resp_reset(struct proto_sched_peer_resp *r);
int proto_sched_peer_resp_from_json(const cJSON *msg, struct proto_sched_peer_resp *out,
                                    struct df_error *err);
cJSON *proto_sched_peer_resp_to_json(const struct proto_sched_peer_resp *r);

/* The one kind msg names, whether or not its body is valid (for a caller that answers a
 * malformed message by its kind); PROTO_PEER_RESP_KINDS when there is not exactly one. */
enum proto_sched_peer_resp_kind proto_sched_peer_resp_kind_of(const cJSON *msg);

/* One pieceDigestsResponse entry, for a caller that builds the pieces array once for many
 * messages. Returns false on OOM. */
bool proto_sched_piece_digest_add(cJSON *array, const struct proto_sched_piece_digest *p);

/* ---- StatTask / StatPeer / StatHost answers ---- */

/* A Task (StatTask). Timestamps are ms since the epoch, RFC 3339 on the wire. */
struct proto_sched_task {
    char *id;  /* required */
    char *url; /* optional, like every string below */
    char *tag;
    char *application;
    char *state;      /* "Running", ... */
    char *size_scope; /* "NORMAL", ... */
    bool has_content_length;
    uint64_t content_length;
    uint64_t piece_length;
    uint32_t piece_count;
    uint32_t digest_count;
    uint32_t peer_count;
    uint32_t back_to_source_peer_count;
    bool has_available_peer;
    int64_t created_at, updated_at;
};

void proto_sched_task_reset(struct proto_sched_task *t);
int proto_sched_task_from_json(const cJSON *o, struct proto_sched_task *out, struct df_error *err);
cJSON *proto_sched_task_to_json(const struct proto_sched_task *t);

/* A Peer (StatPeer). */
struct proto_sched_peer {
    char *id; /* required */
    char *state;
    char *task_id;
    char *host_id;
    bool need_back_to_source;
    uint32_t finished_piece_count;
    uint32_t piece_count;
    char **parents; /* parent peer ids */
    size_t nparents;
    uint32_t child_count;
    uint32_t blocked_parent_count;
    uint64_t bytes_from_source;
    uint64_t bytes_from_peers;
    int64_t cost; /* ms, >= 0; protobuf Duration on the wire ("1.250s") */
    int64_t created_at, updated_at;
};

void proto_sched_peer_reset(struct proto_sched_peer *p);
int proto_sched_peer_from_json(const cJSON *o, struct proto_sched_peer *out, struct df_error *err);
cJSON *proto_sched_peer_to_json(const struct proto_sched_peer *p);

/* A Host (StatHost): the announced host and what the scheduler counts about it. */
struct proto_sched_host_stat {
    struct proto_sched_host host; /* concurrentUploads is not part of this answer */
    uint32_t load;
    uint32_t concurrent_upload_count;
    uint32_t peer_count;
    uint64_t upload_count;
    uint64_t upload_failed_count;
    uint64_t uploaded_bytes;
    int64_t announced_at;
};

void proto_sched_host_stat_reset(struct proto_sched_host_stat *h);
int proto_sched_host_stat_from_json(const cJSON *o, struct proto_sched_host_stat *out,
                                    struct df_error *err);
cJSON *proto_sched_host_stat_to_json(const struct proto_sched_host_stat *h);

#endif
