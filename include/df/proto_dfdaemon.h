/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dfdaemon.v2 messages as C structs: the `download` object (DfdaemonDownload/DownloadTask
 * from `get`, DfdaemonUpload/DownloadTask from the scheduler to a seed, and the scheduler's
 * registerPeerRequest), the DownloadTask answers, the task reference of StatTask and
 * SyncPieces, and SyncPieces' piece announcements. Each message has one _from_json, which
 * validates (types, bounds, required fields; a one-line error naming the field as the wire
 * spells it, DF_EINVAL), and one _to_json. Structs own their strings; _reset frees them.
 */
#ifndef DF_PROTO_DFDAEMON_H
#define DF_PROTO_DFDAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/df_err.h"
#include "df/df_id.h"
#include "df/df_json.h"

#define PROTO_DFDAEMON_DOWNLOAD_TASK      "/dfdaemon.v2.DfdaemonDownload/DownloadTask"
#define PROTO_DFDAEMON_STAT_TASK          "/dfdaemon.v2.DfdaemonDownload/StatTask"
#define PROTO_DFDAEMON_SEED_DOWNLOAD_TASK "/dfdaemon.v2.DfdaemonUpload/DownloadTask"
#define PROTO_DFDAEMON_SYNC_PIECES        "/dfdaemon.v2.DfdaemonUpload/SyncPieces"
/* {"taskId"} -> {}: drop the task from the peer's cache (the manager's delete_task) */
#define PROTO_DFDAEMON_DELETE_TASK "/dfdaemon.v2.DfdaemonUpload/DeleteTask"

#define PROTO_DOWNLOAD_STR_MAX     4096 /* bytes of url, tag, application, filtered params */
#define PROTO_DOWNLOAD_HEADERS_MAX 64
#define PROTO_PRIORITY_MAX         6 /* LEVEL6, the highest common.v2.Priority */
#define PROTO_PRIORITY_DEFAULT     6 /* what `get` and the proxy ask when not told (upstream's) */

struct proto_dfdaemon_header {
    char *name;  /* an RFC 9110 token */
    char *value; /* VCHAR, obs-text, SP and HTAB only */
};

/* The `download` object. */
struct proto_dfdaemon_download {
    char *url;                             /* required; a URL df_url_parse accepts, one line */
    char *tag;                             /* optional, one line */
    char *application;                     /* optional, one line */
    char *filtered;                        /* filteredQueryParams: '&'-separated names, or NULL */
    bool has_digest;                       /* digest: "sha256:<hex>" of the whole content */
    struct df_digest digest;               /* valid when has_digest */
    struct proto_dfdaemon_header *headers; /* requestHeader, at most PROTO_DOWNLOAD_HEADERS_MAX */
    size_t nheaders;
    bool output_fd;              /* outputFd: the output goes into the caller's descriptor */
    bool output_rewind;          /* outputRewind: that descriptor is the caller's own new file:
                                  * written at any offset, and started over if need be */
    bool insecure;               /* no TLS verification of the origin */
    bool disable_back_to_source; /* never fetch from the origin */
    bool need_back_to_source;    /* the scheduler asks a seed to fetch from the origin */
    uint32_t piece_length;       /* pieceLength the scheduler tells a seed; 0: not given */
    /* common.v2.Priority, 0..PROTO_PRIORITY_MAX: "LEVEL3" or 3 on the wire. LEVEL0 (absent)
     * lets the manager's application for the task decide (src/scheduler/sched_prio.c) */
    uint32_t priority;
};

void proto_dfdaemon_download_reset(struct proto_dfdaemon_download *d);

/*
 * Parse and validate msg's "download" member into *out (the caller resets it). An
 * outputPath is refused with DF_EPERM (no path is ever honoured); anything else malformed
 * is DF_EINVAL. Fields are named "download.<field>" in err. On failure *out is untouched.
 */
int proto_dfdaemon_download_from_json(const cJSON *msg, struct proto_dfdaemon_download *out,
                                      struct df_error *err);

/* Add d as msg's "download" member (msg keeps it). Returns false on OOM. */
bool proto_dfdaemon_download_to_json(cJSON *msg, const struct proto_dfdaemon_download *d);

/* Kinds of DownloadTask answer on the stream to `get`. */
enum proto_dfdaemon_download_resp_kind {
    PROTO_DOWNLOAD_STARTED,  /* downloadTaskStartedResponse */
    PROTO_DOWNLOAD_PROGRESS, /* downloadProgressResponse */
    PROTO_DOWNLOAD_FINISHED, /* downloadTaskFinishedResponse */
};

/* A parent's share of the bytes (bytesFromPeers[]). */
struct proto_dfdaemon_download_from {
    char *peer_id; /* optional */
    char *ip;      /* optional */
    bool is_seed;
    uint64_t bytes;
};

/*
 * One DownloadTask answer. Which fields each kind carries: STARTED contentLength (when
 * known), pieceLength, pieceCount, finishedPieces; PROGRESS finishedBytes, contentLength
 * (when known), finishedPieces; FINISHED contentLength, pieceCount, bytesFromSource,
 * bytesFromPeers and outputBytes (when there is an output).
 */
struct proto_dfdaemon_download_resp {
    char *host_id; /* required */
    char *task_id; /* required, 64 lowercase hex */
    enum proto_dfdaemon_download_resp_kind kind;
    bool has_content_length;
    uint64_t content_length;
    uint64_t piece_length;
    uint64_t piece_count;
    uint64_t finished_pieces;
    uint64_t finished_bytes;
    uint64_t bytes_from_source;
    bool has_output_bytes;
    uint64_t output_bytes;
    struct proto_dfdaemon_download_from *from; /* FINISHED: bytesFromPeers */
    size_t nfrom;
};

void proto_dfdaemon_download_resp_reset(struct proto_dfdaemon_download_resp *r);

/* Parse one answer; exactly one kind must be present. *out untouched on failure. */
int proto_dfdaemon_download_resp_from_json(const cJSON *msg,
                                           struct proto_dfdaemon_download_resp *out,
                                           struct df_error *err);

/* The answer as a new object (the caller frees it with cJSON_Delete); NULL on OOM. */
cJSON *proto_dfdaemon_download_resp_to_json(const struct proto_dfdaemon_download_resp *r);

/* StatTask and SyncPieces requests: {"taskId"}. */
struct proto_dfdaemon_task_ref {
    char task_id[DF_ID_TASK_LEN + 1];
};

/* Parse; a missing or malformed id is "taskId: expected 64 lowercase hex" (DF_EINVAL). */
int proto_dfdaemon_task_ref_from_json(const cJSON *msg, struct proto_dfdaemon_task_ref *out,
                                      struct df_error *err);
cJSON *proto_dfdaemon_task_ref_to_json(const struct proto_dfdaemon_task_ref *r);

/*
 * StatTask's answer: a task running on the peer (finishedPieces, bytesFromSource) or one in
 * its cache (finishedBytes). A count is sent only when its has_ flag is set.
 */
struct proto_dfdaemon_task {
    char *id;    /* required */
    char *state; /* "RUNNING", "DONE", "PARTIAL", ... */
    uint64_t content_length;
    uint64_t piece_length;
    uint64_t piece_count;
    bool has_finished_pieces;
    uint64_t finished_pieces;
    bool has_bytes_from_source;
    uint64_t bytes_from_source;
    bool has_finished_bytes;
    uint64_t finished_bytes;
};

void proto_dfdaemon_task_reset(struct proto_dfdaemon_task *t);
int proto_dfdaemon_task_from_json(const cJSON *o, struct proto_dfdaemon_task *out,
                                  struct df_error *err);
cJSON *proto_dfdaemon_task_to_json(const struct proto_dfdaemon_task *t);

/* One SyncPieces answer: a piece the parent has (or, receiving, is fetching now). */
struct proto_dfdaemon_sync_piece {
    uint32_t number; /* required */
    uint64_t offset; /* at most INT64_MAX */
    uint32_t length;
    bool receiving; /* served cut-through while it arrives; sent only when true */
};

int proto_dfdaemon_sync_piece_from_json(const cJSON *msg, struct proto_dfdaemon_sync_piece *out,
                                        struct df_error *err);
cJSON *proto_dfdaemon_sync_piece_to_json(const struct proto_dfdaemon_sync_piece *p);

#endif
