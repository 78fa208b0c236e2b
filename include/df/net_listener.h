/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP and unix-socket listeners on libevent. A listener hands each accepted, non-blocking,
 * close-on-exec socket to its owner; TCP sockets get TCP_NODELAY. The bound address is
 * known right after creation, so daemons can bind port 0 and report the real port. A local
 * listener (unix socket) also tells its owner who connected (SO_PEERCRED) and hands over a
 * descriptor the client passed (SCM_RIGHTS) on a NUL byte ahead of its protocol bytes.
 */
#ifndef DF_NET_LISTENER_H
#define DF_NET_LISTENER_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "df/df_err.h"

struct event_base;
struct sockaddr;
struct net_listener;

/* Called on the loop thread for each accepted socket; the callee owns fd. */
typedef void net_listener_accept_fn(int fd, const struct sockaddr *peer, size_t peerlen, void *arg);

/*
 * A client of a local listener. A client may open with one NUL byte carrying a descriptor
 * (net_listener_send_fd): the byte is consumed. Any other first byte belongs to the protocol
 * (an HTTP/2 preface from curl --unix-socket) and is handed back in first/nfirst.
 */
struct net_caller {
    int fd;        /* descriptor passed with the NUL byte (close-on-exec), or -1 */
    bool has_cred; /* SO_PEERCRED answered: pid, uid and gid are set */
    pid_t pid;
    uid_t uid;
    gid_t gid;
    uint8_t first; /* the first protocol byte, already read, when nfirst is 1 */
    size_t nfirst;
};

/* Called on the loop thread for each client of a local listener once its first byte is in;
 * the callee owns fd and caller->fd. */
typedef void net_listener_local_fn(int fd, struct net_caller *caller, void *arg);

/* Who may connect to a unix socket: the socket file's mode and group. */
struct net_listener_perm {
    int mode;  /* permission bits; 0 = 0600 */
    gid_t gid; /* (gid_t)-1: the process's group */
};

/*
 * Listen on addr ("ip:port", "[v6]:port", ":port" or "unix:/path"). A unix socket file is
 * replaced if stale and chmod'ed to mode (0 = 0600). Returns 0 and *out, or DF_EINVAL /
 * DF_EIO with a message in err naming the address.
 */
int net_listener_new(struct event_base *base, const char *addr, int mode,
                     net_listener_accept_fn *cb, void *arg, struct net_listener **out,
                     struct df_error *err);

/*
 * Listen on a unix socket (addr "unix:/path") whose file gets perm (NULL: 0600, the
 * process's group; nobody can connect before it is applied) and read each client's first
 * byte (at most 10 s; clients that send nothing are closed) before handing it to cb. Same
 * returns as net_listener_new(), the message naming the chown or chmod that failed;
 * DF_EINVAL for an address that is not "unix:".
 */
int net_listener_new_local(struct event_base *base, const char *addr,
                           const struct net_listener_perm *perm, net_listener_local_fn *cb,
                           void *arg, struct net_listener **out, struct df_error *err);

/*
 * Client side: send the NUL byte on the connected unix socket sock, carrying fd when it is
 * not -1, before any protocol byte. Returns 0 or DF_EIO (errno set).
 */
int net_listener_send_fd(int sock, int fd);

/* The bound address as text ("127.0.0.1:43211", "unix:/path"); borrowed. */
const char *net_listener_addr(const struct net_listener *l);

/* The bound TCP port (0 for unix). */
uint16_t net_listener_port(const struct net_listener *l);

/* Stop accepting (e.g. during graceful shutdown); idempotent. */
void net_listener_disable(struct net_listener *l);

/* Close the socket (unlinking a unix socket path) and free. NULL is a no-op. */
void net_listener_free(struct net_listener *l);

#endif
