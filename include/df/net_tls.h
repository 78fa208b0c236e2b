/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS with mbedtls 2.28 over libevent bufferevents (libevent has no mbedtls layer). A TLS
 * connection is itself a bufferevent: its input and output carry plaintext, so the HTTP/1.1
 * and HTTP/2 code is the same for TLS and plain TCP. Certificate and hostname verification
 * are on by default for clients; `insecure` is an explicit per-target switch.
 *
 * Cluster identities (mutual TLS between roles): `dragonfly cert` issues certificates from a
 * cluster CA whose subject names the host and its role, CN=<host> and OU=<role> (O=dragonfly),
 * with SANs for the host's DNS names and IPs for other tools. mbedtls 2.28 matches DNS names
 * only, so cluster connections are verified by the chain to the cluster CA plus the role
 * (and the host when the caller knows it) read from that subject, never by the address
 * dialled. A CA used for this must be dedicated to the cluster: every certificate it signs
 * is taken at its word.
 */
#ifndef DF_NET_TLS_H
#define DF_NET_TLS_H

#include <stdbool.h>

#include "df/df_err.h"

struct bufferevent;
struct mbedtls_asn1_named_data;
struct net_tls_ctx;
struct net_tls_mint;

/* The role a cluster certificate names (its subject OU). */
enum net_tls_role {
    NET_TLS_ROLE_NONE, /* no verified cluster identity */
    NET_TLS_ROLE_PEER,
    NET_TLS_ROLE_SEED,
    NET_TLS_ROLE_SCHEDULER,
    NET_TLS_ROLE_MANAGER,
};

/* A set of roles for net_tls_opts.peer_roles and net_tls_wrap_expect(). */
#define NET_TLS_ROLE_BIT(r) (1u << (r))
#define NET_TLS_ROLES_ALL                                                        \
    (NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER) | NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED) | \
     NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER) | NET_TLS_ROLE_BIT(NET_TLS_ROLE_MANAGER))

/* Longest host name in a cluster certificate (a DNS name's limit). */
#define NET_TLS_HOST_MAX 253

/* Who is at the other end of a TLS connection, as its verified certificate says. */
struct net_tls_identity {
    enum net_tls_role role;          /* NET_TLS_ROLE_NONE: no cluster identity */
    char host[NET_TLS_HOST_MAX + 1]; /* "" when role is NONE */
};

struct net_tls_opts {
    const char *cert_file;   /* PEM chain: required for servers, optional client cert */
    const char *key_file;    /* PEM private key for cert_file */
    const char *ca_file;     /* trust anchors; clients default to the system bundle */
    const char *ca_dir;      /* directory of PEM trust anchors */
    bool insecure;           /* client: do not verify the peer (explicit opt-in only) */
    const char *const *alpn; /* NULL-terminated protocol list, e.g. {"h2", NULL}; may be NULL */
    /*
     * Server: require a client certificate that chains to ca_file/ca_dir (without it, a
     * server with trust anchors takes clients without one and checks any that is sent).
     */
    bool verify_client;
    /*
     * Cluster roles (NET_TLS_ROLE_BIT set; 0 = no role check). Server (needs verify_client):
     * the client's certificate must name one of these roles. Client (needs ca_file/ca_dir,
     * never the system bundle): servers are verified by the CA and one of these roles instead
     * of by hostname; net_tls_wrap_expect() can narrow it per connection.
     */
    unsigned peer_roles;
    /*
     * Server: make each connection's certificate for the host the client names in SNI with
     * this minter (borrowed; it must outlive the context), for HTTPS interception.
     * cert_file/key_file become optional: when set they serve clients that send no SNI and
     * are given no host by net_tls_wrap; without them such clients are refused.
     */
    struct net_tls_mint *mint;
};

/* "peer", "seed", "scheduler", "manager", or "none". */
const char *net_tls_role_name(enum net_tls_role role);

/* Parse a role name (not "none"). Returns 0 and *out, or DF_EINVAL (*out untouched). */
int net_tls_role_parse(const char *s, enum net_tls_role *out);

/*
 * The cluster identity a certificate's (or a CSR's) subject names: exactly one CN that is a
 * valid host and exactly one OU that is a role; else role NONE and host "".
 */
void net_tls_identity_from_name(const struct mbedtls_asn1_named_data *subject,
                                struct net_tls_identity *out);

/*
 * True if s may name a host in a cluster certificate: 1..NET_TLS_HOST_MAX characters of
 * letters, digits, '.', '-' and '_', not starting with '.' or '-'.
 */
bool net_tls_host_is_valid(const char *s);

/*
 * Build a shared TLS context (certificates loaded, RNG seeded) for servers (server=true) or
 * clients. Returns 0 and *out, or DF_EINVAL/DF_ETLS with a message in err naming the file.
 */
int net_tls_ctx_new(bool server, const struct net_tls_opts *opts, struct net_tls_ctx **out,
                    struct df_error *err);

/*
 * Replace the context's own certificate and key (a renewal) by the PEM files given: new
 * handshakes use them, connections already made are untouched. On the context's loop only.
 * Returns 0, or DF_EINVAL (the context has none) / DF_ETLS (a file that does not load, a key
 * that is not the certificate's) with a message in err; the context is then unchanged.
 */
int net_tls_ctx_reload(struct net_tls_ctx *ctx, const char *cert_file, const char *key_file,
                       struct df_error *err);

/*
 * Refuse, from now on, handshakes whose other end presents a certificate with one of these
 * serials (lowercase hex as net_csr_serial_hex writes them; copied, replacing the previous
 * set): the revocation list of the cluster CA, fetched from the manager. On the context's
 * loop only.
 */
void net_tls_ctx_set_revoked(struct net_tls_ctx *ctx, const char *const *serials, size_t n);

/* Free a context; every connection made from it must be gone. NULL is a no-op. */
void net_tls_ctx_free(struct net_tls_ctx *ctx);

/*
 * Layer TLS over under (a socket bufferevent; connected for clients, accepted for
 * servers), which the result takes over and frees with itself. A server's under may hold
 * bytes read already (a ClientHello sent with a CONNECT head): the handshake starts on them.
 * hostname is the SNI and verification name for clients (required unless insecure), ignored for
 * servers. The handshake starts at once; the result reports BEV_EVENT_CONNECTED to its event
 * callback when the handshake is done and BEV_EVENT_ERROR if it fails (net_tls_error() says why).
 * Returns NULL on OOM.
 *
 * The result has EV_READ|EV_WRITE enabled (the handshake needs both) and deferred
 * callbacks, so it never calls back from inside bufferevent_write(). Plaintext written
 * before CONNECTED is sent after the handshake. A close_notify from the peer is reported
 * as BEV_EVENT_EOF; bufferevent_flush(bev, EV_WRITE, BEV_FINISHED) sends ours. Set a read
 * high watermark for backpressure (input may exceed it by one 16 KiB record). mbedtls 2.28
 * verifies DNS names only: an IP literal as hostname fails with "hostname mismatch". A
 * client context with peer_roles ignores hostname and verifies the server as
 * net_tls_wrap_expect(ctx, under, 0, NULL) does; a server context with peer_roles refuses
 * clients whose certificate names another role ("wrong role: ...").
 *
 * A server context with a minter takes hostname (may be NULL) as the host to mint for when
 * the client sends no SNI, such as a CONNECT request's host; SNI, when sent, wins. A name
 * that cannot be minted fails the handshake ("tls mint: ...").
 */
struct bufferevent *net_tls_wrap(struct net_tls_ctx *ctx, struct bufferevent *under,
                                 const char *hostname);

/*
 * Like net_tls_wrap for a cluster client: the server must present a certificate from the
 * cluster CA that names one of roles (a NET_TLS_ROLE_BIT set; 0 = the context's peer_roles)
 * and, when host is not NULL, that host. No DNS name is checked, so a server reached by IP
 * verifies. The handshake fails (net_tls_error() says "wrong role: ...") otherwise, and also
 * when ctx has no trust anchors of its own or no role to check. host is copied.
 */
struct bufferevent *net_tls_wrap_expect(struct net_tls_ctx *ctx, struct bufferevent *under,
                                        unsigned roles, const char *host);

/*
 * The host name a client sent in SNI, as a server saw it (once its ClientHello is read), or
 * NULL (none, not yet, not a server, or not TLS). Borrowed while bev lives.
 */
const char *net_tls_sni(struct bufferevent *bev);

/* True if bev was made by net_tls_wrap. */
bool net_tls_is_tls(struct bufferevent *bev);

/* The negotiated ALPN protocol, or NULL (none, not yet, or not TLS). Borrowed. */
const char *net_tls_alpn(struct bufferevent *bev);

/* Why the handshake or a record failed ("certificate verify failed: hostname mismatch"). */
const char *net_tls_error(struct bufferevent *bev);

/*
 * The verified identity of the other end of bev once its handshake is done: the role and
 * host its certificate names, or NET_TLS_ROLE_NONE with host "" when it sent no certificate
 * or one that names no cluster identity. Returns 0, or DF_EINVAL when bev is not a TLS
 * connection and DF_EAGAIN before the handshake is done (*out is then set to none too).
 */
int net_tls_peer_identity(struct bufferevent *bev, struct net_tls_identity *out);

#endif
