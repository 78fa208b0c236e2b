/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listeners: evconnlistener over a socket we create and bind ourselves, so that the
 * options (SO_REUSEADDR, unix socket mode, IPv6-only) are explicit and the bound address
 * can be read back for --ready-file.
 */
#include "df/net_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/listener.h>

#include "df/log.h"
#include "df/net_addr.h"
#include "df/xmalloc.h"

#define NET_LISTENER_BACKLOG 1024

struct net_listener {
    struct evconnlistener *ev;
    net_listener_accept_fn *cb;
    void *arg;
    char addr[300];
    char unix_path[108];
    dev_t unix_dev; /* the socket file we bound: only that one is unlinked at the end */
    ino_t unix_ino;
    uint16_t port;
    bool is_unix;
};

static void
net_listener_accept_cb(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
                       int salen, void *arg)
{
    struct net_listener *l = arg;
    int one = 1;

    (void)ev;
    if (!l->is_unix)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    l->cb(fd, sa, salen > 0 ? (size_t)salen : 0, l->arg);
}

static void
net_listener_error_cb(struct evconnlistener *ev, void *arg)
{
    struct net_listener *l = arg;

    (void)ev;
    /* EMFILE and friends: log and keep listening; libevent retries on the next event. */
    log_warn("net: accept on %s", l->addr);
}

/* True if a process accepts (or could, if its backlog is full) on the unix socket at ss. */
static bool
net_listener_unix_is_live(const struct sockaddr_storage *ss, socklen_t sslen)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool live;

    if (fd == -1)
        return true;
    live = connect(fd, (const struct sockaddr *)ss, sslen) == 0 ||
           (errno != ECONNREFUSED && errno != ENOENT);
    close(fd);
    return live;
}

/* Unlink l's socket file unless it is no longer the one we bound (a path we did not create). */
static void
net_listener_unix_unlink(const struct net_listener *l)
{
    struct stat st;

    if (lstat(l->unix_path, &st) == 0 && st.st_dev == l->unix_dev && st.st_ino == l->unix_ino)
        unlink(l->unix_path);
}

static int
net_listener_socket(const struct net_addr *a, struct sockaddr_storage *ss, socklen_t *sslen,
                    struct df_error *err)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    struct sockaddr_un *un = (struct sockaddr_un *)ss;

    memset(ss, 0, sizeof(*ss));
    if (a->is_unix) {
        un->sun_family = AF_UNIX;
        if (strlen(a->host) >= sizeof(un->sun_path)) {
            df_error_set(err, DF_EINVAL, "listen unix:%s: path too long", a->host);
            return -2;
        }
        memcpy(un->sun_path, a->host, strlen(a->host) + 1);
        *sslen = sizeof(*un);
        return socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (a->host[0] == '\0' || inet_pton(AF_INET, a->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        if (a->host[0] == '\0')
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        *sslen = sizeof(*in);
        return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        *sslen = sizeof(*in6);
        return socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    errno = EINVAL;
    df_error_set(err, DF_EINVAL, "listen %s: host must be an IP address", a->host);
    return -2;
}

int
net_listener_new(struct event_base *base, const char *addr, int mode, net_listener_accept_fn *cb,
                 void *arg, struct net_listener **out, struct df_error *err)
{
    struct net_listener *l = NULL;
    struct sockaddr_storage ss, bound;
    socklen_t sslen = 0, blen = sizeof(bound);
    struct net_addr a;
    struct stat st;
    int fd = -1, one = 1, rv;

    if ((rv = net_addr_parse(addr, 0, &a, err)) != 0)
        goto out;
    fd = net_listener_socket(&a, &ss, &sslen, err);
    if (fd == -2) {
        fd = -1;
        rv = DF_EINVAL;
        goto out;
    }
    if (fd == -1) {
        rv = df_error_set(err, DF_EIO, "listen %s: socket: %s", addr, strerror(errno));
        goto out;
    }
    if (a.is_unix) {
        /* Replace a stale socket file, but never a live one or anything else. */
        if (lstat(a.host, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                rv = df_error_set(err, DF_EEXIST, "listen %s: exists and is not a socket", addr);
                goto out;
            }
            if (net_listener_unix_is_live(&ss, sslen)) {
                rv = df_error_set(err, DF_EEXIST, "listen %s: another process listens on it", addr);
                goto out;
            }
            unlink(a.host);
        }
    } else
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) == -1) {
        rv = df_error_set(err, DF_EIO, "listen %s: bind: %s", addr, strerror(errno));
        goto out;
    }
    if (a.is_unix &&
        (chmod(a.host, (mode_t)(mode != 0 ? mode : 0600)) == -1 || lstat(a.host, &st) == -1)) {
        rv = df_error_set(err, DF_EIO, "listen %s: chmod: %s", addr, strerror(errno));
        unlink(a.host);
        goto out;
    }
    if (listen(fd, NET_LISTENER_BACKLOG) == -1) {
        rv = df_error_set(err, DF_EIO, "listen %s: %s", addr, strerror(errno));
        goto out;
    }
    l = xcalloc(1, sizeof(*l));
    l->cb = cb;
    l->arg = arg;
    l->is_unix = a.is_unix;
    if (a.is_unix) {
        memcpy(l->unix_path, a.host, strlen(a.host) + 1); /* length checked above */
        l->unix_dev = st.st_dev;
        l->unix_ino = st.st_ino;
        snprintf(l->addr, sizeof(l->addr), "unix:%s", a.host);
    } else {
        getsockname(fd, (struct sockaddr *)&bound, &blen);
        net_addr_format((struct sockaddr *)&bound, blen, l->addr, sizeof(l->addr));
        l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    }
    l->ev = evconnlistener_new(base, net_listener_accept_cb, l,
                               LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (l->ev == NULL) {
        rv = df_error_set(err, DF_EIO, "listen %s: evconnlistener failed", addr);
        goto out;
    }
    fd = -1;
    evconnlistener_set_error_cb(l->ev, net_listener_error_cb);
    *out = l;
    l = NULL;
    rv = 0;
out:
    if (fd != -1)
        close(fd);
    if (l != NULL) {
        if (l->is_unix)
            net_listener_unix_unlink(l);
        free(l);
    }
    return rv;
}

const char *
net_listener_addr(const struct net_listener *l)
{
    return l->addr;
}

uint16_t
net_listener_port(const struct net_listener *l)
{
    return l->port;
}

void
net_listener_disable(struct net_listener *l)
{
    if (l != NULL && l->ev != NULL)
        evconnlistener_disable(l->ev);
}

void
net_listener_free(struct net_listener *l)
{
    if (l == NULL)
        return;
    if (l->ev != NULL)
        evconnlistener_free(l->ev);
    if (l->is_unix)
        net_listener_unix_unlink(l);
    free(l);
}
