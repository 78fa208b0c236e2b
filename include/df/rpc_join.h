/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Joining a cluster whose manager is its CA (the manager's side is src/mgr/mgr_ca.c). A
 * scheduler or peer started with --join-token TOKEN --ca-hash sha256:HEX --join-addr ADDR
 * and no certificate yet:
 *
 *   1. asks the manager's join listener (TLS, no client certificate) for the CA, over a
 *      connection it cannot verify yet, and keeps it only when its SHA-256 is the hash it
 *      was given (kubeadm's discovery-token-ca-cert-hash): a fake manager learns nothing,
 *      not even the token;
 *   2. connects again trusting only that CA and a manager certificate, makes its key
 *      locally and sends a CSR with the token; the manager checks the token (role,
 *      cluster, expiry) and signs a short-lived certificate;
 *   3. writes ca.crt, cluster.key and cluster.crt into its certificate directory (each
 *      whole or not at all) and runs with mutual TLS as if tls.* named them.
 *
 * A renewal is step 2 authenticated by the current certificate instead of the token.
 */
#ifndef DF_RPC_JOIN_H
#define DF_RPC_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "df/df_conf.h"
#include "df/df_err.h"
#include "df/net_tls.h"

struct rpc_tls_conf;

/* How long a role waits for each call of a join at start. */
#define RPC_JOIN_TIMEOUT_MS 30000

/* The files of a certificate directory. */
#define RPC_JOIN_CA_FILE   "ca.crt"
#define RPC_JOIN_CERT_FILE "cluster.crt"
#define RPC_JOIN_KEY_FILE  "cluster.key"

/* The join keys of a role's config. */
struct rpc_join_conf {
    char *token;            /* manager.joinToken (--join-token) */
    char *ca_hash;          /* manager.caHash (--ca-hash): "sha256:<64 hex>" */
    char *addr;             /* manager.joinAddr (--join-addr): the manager's ca.joinListen */
    char *dir;              /* manager.certDir (--cert-dir): where the files go */
    int64_t revoke_refresh; /* manager.revocationRefresh: ms between revocation fetches */
};

#define RPC_JOIN_F(off, f) ((off) + offsetof(struct rpc_join_conf, f))
#define RPC_JOIN_CONF_ENTRIES(off, dir_help)                                                  \
    {.key = "manager.joinToken",                                                              \
     .flag = "join-token",                                                                    \
     .type = DF_CONF_STRING,                                                                  \
     .offset = RPC_JOIN_F(off, token),                                                        \
     .metavar = "TOKEN",                                                                      \
     .help = "a join token of the manager (POST /api/v1/join-tokens): without a certificate " \
             "in the certificate directory, get one from the manager and run mutual TLS"},    \
            {.key = "manager.caHash",                                                         \
             .flag = "ca-hash",                                                               \
             .type = DF_CONF_STRING,                                                          \
             .offset = RPC_JOIN_F(off, ca_hash),                                              \
             .metavar = "sha256:HEX",                                                         \
             .help = "the hash of the cluster CA that came with the join token: a manager "   \
                     "with another CA is refused before the token is sent"},                  \
            {.key = "manager.joinAddr",                                                       \
             .flag = "join-addr",                                                             \
             .type = DF_CONF_STRING,                                                          \
             .offset = RPC_JOIN_F(off, addr),                                                 \
             .metavar = "ADDR",                                                               \
             .help = "the manager's join listener (its ca.joinListen, host:65004)"},          \
            {.key = "manager.certDir",                                                        \
             .flag = "cert-dir",                                                              \
             .type = DF_CONF_STRING,                                                          \
             .offset = RPC_JOIN_F(off, dir),                                                  \
             .metavar = "DIR",                                                                \
             .help = dir_help},                                                               \
    {                                                                                         \
        .key = "manager.revocationRefresh", .flag = "revocation-refresh",                     \
        .type = DF_CONF_DURATION, .offset = RPC_JOIN_F(off, revoke_refresh), .def = "1m",     \
        .min = 100, .max = INT64_C(3600) * 1000,                                              \
        .help = "with mutual TLS and a manager: how often the certificates it revoked are "   \
                "fetched; handshakes presenting one are refused from then on"                 \
    }

/*
 * With a join token: check the join keys and point tls at the certificate directory (dir,
 * or default_dir when unset; default_dir may be NULL when there is none) in mtls mode, so
 * the role's TLS check and setup see a configured certificate. tls.cert set as well is an
 * error: one source of certificates. Without a token: nothing (0). Returns 0 or DF_EINVAL
 * with one line in err.
 */
int rpc_join_conf_apply(struct rpc_join_conf *j, struct rpc_tls_conf *tls, const char *default_dir,
                        struct df_error *err);

/* Who joins, and the manager's methods (the rpc layer knows no proto: the caller names
 * df/proto_mgr.h's PROTO_MGR_GET_CA_CERTIFICATE and PROTO_MGR_ISSUE_CERTIFICATE). */
struct rpc_join_host {
    enum net_tls_role role;
    const char *host;
    int64_t cluster_id; /* the scheduler cluster asked for; 0: the token's */
    const char *get_ca_path, *issue_path;
};

/*
 * Before the role builds its TLS contexts: when j has a token and the directory holds no
 * usable certificate for h (none, expired, another CA, another identity), join (steps 1 to
 * 3 above, on a loop of its own, each call at most RPC_JOIN_TIMEOUT_MS). Returns 0, or an
 * error with one line in err.
 */
int rpc_join_ensure(const struct rpc_join_conf *j, const struct rpc_join_host *h,
                    struct df_error *err);

/*
 * Renewal: while a role runs with a joined certificate, a timer renews it when 2/3 of its
 * life have passed (step 2 authenticated by the certificate itself, on a worker thread so
 * the loop never waits for the manager), replaces the files and reloads the role's TLS
 * contexts (net_tls_ctx_reload: new connections use the new certificate). A failed renewal
 * is retried after a tenth of what is left (1 s to 1 min); once the certificate has expired
 * the host joins again with its token instead (while the token lives).
 */
struct rpc_join_renewer;
struct event_base;

/*
 * Start renewing for j and h (both copied) on base, reloading ctxs[0..n) (borrowed; they
 * must outlive the renewer). Without a join token: nothing, *out NULL. Returns 0 or
 * DF_ENOMEM with err set.
 */
int rpc_join_renewer_new(struct event_base *base, const struct rpc_join_conf *j,
                         const struct rpc_join_host *h, struct net_tls_ctx *const *ctxs, size_t n,
                         struct rpc_join_renewer **out, struct df_error *err);

/* Stop (a renewal in flight finishes first, without reloading). NULL is a no-op. */
void rpc_join_renewer_free(struct rpc_join_renewer *r);

/*
 * Revocation: every interval_ms (and at start) ask the manager at addr (over tls, a client
 * context with our certificate; the server must be a manager) for the serials it revoked
 * (path: PROTO_MGR_LIST_REVOKED_CERTIFICATES, {} -> {serials}) and set them on ctxs[0..n)
 * (net_tls_ctx_set_revoked; borrowed, they must outlive it). who names the role in the log.
 * A failed fetch keeps the last list. Returns 0 and *out, or an error in err.
 */
struct rpc_join_revoker;
struct evdns_base;

int rpc_join_revoker_new(struct event_base *base, struct evdns_base *dns, const char *addr,
                         struct net_tls_ctx *tls, const char *path, int64_t interval_ms,
                         struct net_tls_ctx *const *ctxs, size_t n, const char *who,
                         struct rpc_join_revoker **out, struct df_error *err);

/* Stop fetching. NULL is a no-op. */
void rpc_join_revoker_free(struct rpc_join_revoker *r);

#endif
