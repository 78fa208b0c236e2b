/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS with mbedtls 2.28 over libevent bufferevents (libevent has no mbedtls layer). A TLS
 * connection is itself a bufferevent: its input and output carry plaintext, so the HTTP/1.1
 * and HTTP/2 code is the same for TLS and plain TCP. Certificate and hostname verification
 * are on by default for clients; `insecure` is an explicit per-target switch.
 */
#ifndef DF_NET_TLS_H
#define DF_NET_TLS_H

#include <stdbool.h>

#include "df/df_err.h"

struct bufferevent;
struct net_tls_ctx;

struct net_tls_opts {
    const char *cert_file;   /* PEM chain: required for servers, optional client cert */
    const char *key_file;    /* PEM private key for cert_file */
    const char *ca_file;     /* trust anchors; clients default to the system bundle */
    const char *ca_dir;      /* directory of PEM trust anchors */
    bool insecure;           /* client: do not verify the peer (explicit opt-in only) */
    const char *const *alpn; /* NULL-terminated protocol list, e.g. {"h2", NULL}; may be NULL */
};

/*
 * Build a shared TLS context (certificates loaded, RNG seeded) for servers (server=true) or
 * clients. Returns 0 and *out, or DF_EINVAL/DF_ETLS with a message in err naming the file.
 */
int net_tls_ctx_new(bool server, const struct net_tls_opts *opts, struct net_tls_ctx **out,
                    struct df_error *err);

/* Free a context; every connection made from it must be gone. NULL is a no-op. */
void net_tls_ctx_free(struct net_tls_ctx *ctx);

/*
 * Layer TLS over under (a socket bufferevent; connected for clients, accepted for
 * servers), which the result takes over and frees with itself. hostname is the SNI and
 * verification name for clients (required unless insecure), ignored for servers. The
 * handshake starts at once; the result reports BEV_EVENT_CONNECTED to its event callback
 * when the handshake is done and BEV_EVENT_ERROR if it fails (net_tls_error() says why).
 * Returns NULL on OOM.
 *
 * The result has EV_READ|EV_WRITE enabled (the handshake needs both) and deferred
 * callbacks, so it never calls back from inside bufferevent_write(). Plaintext written
 * before CONNECTED is sent after the handshake. A close_notify from the peer is reported
 * as BEV_EVENT_EOF; bufferevent_flush(bev, EV_WRITE, BEV_FINISHED) sends ours. Set a read
 * high watermark for backpressure (input may exceed it by one 16 KiB record). mbedtls 2.28
 * verifies DNS names only: an IP literal as hostname fails with "hostname mismatch".
 */
struct bufferevent *net_tls_wrap(struct net_tls_ctx *ctx, struct bufferevent *under,
                                 const char *hostname);

/* True if bev was made by net_tls_wrap. */
bool net_tls_is_tls(struct bufferevent *bev);

/* The negotiated ALPN protocol, or NULL (none, not yet, or not TLS). Borrowed. */
const char *net_tls_alpn(struct bufferevent *bev);

/* Why the handshake or a record failed ("certificate verify failed: hostname mismatch"). */
const char *net_tls_error(struct bufferevent *bev);

#endif
