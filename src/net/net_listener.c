/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listeners: evconnlistener over a socket we create and bind ourselves, so that the
 * options (SO_REUSEADDR, unix socket mode, IPv6-only) are explicit and the bound address
 * can be read back for --ready-file. A local listener holds each new client until its first
 * byte arrives (bounded in number and time), takes a descriptor passed with it and the
 * client's credentials, and only then hands the connection on. When accept fails
 * (EMFILE/ENFILE: out of descriptors), the pending connection would make the level-triggered
 * listener fire again at once, so the listener pauses for NET_LISTENER_PAUSE_MS; at the fd
 * limit, a reserve descriptor is given up for a moment to accept and close what is pending,
 * so those clients see a prompt close instead of a hang. Errors are logged at most once per
 * NET_LISTENER_LOG_MS.
 */
#include "df/net_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/net_addr.h"
#include "df/net_ratelim.h"
#include "df/xmalloc.h"

#define NET_LISTENER_BACKLOG     1024
#define NET_LISTENER_MAX_PENDING 256 /* local clients whose first byte is not in yet */
#define NET_LISTENER_FIRST_MS    10000
#define NET_LISTENER_PAUSE_MS    100
#define NET_LISTENER_LOG_MS      10000
#define NET_LISTENER_SHED_MAX    256 /* pending connections closed per pause at the fd limit */

struct net_listener;

/* A local client waiting for its first byte. */
struct net_listener_pending {
    TAILQ_ENTRY(net_listener_pending) link;
    struct net_listener *l;
    struct event *ev;
    int fd;
};

struct net_listener {
    struct evconnlistener *ev;
    net_listener_accept_fn *cb;
    net_listener_local_fn *local_cb; /* a local listener: clients wait for their first byte */
    void *arg;
    TAILQ_HEAD(, net_listener_pending) pending;
    size_t npending;
    struct event *resume_ev; /* ends an accept pause */
    int reserve_fd;          /* given up at the fd limit to accept-and-close; -1 = none */
    bool paused;             /* by an accept error; resume_ev re-enables */
    bool disabled;           /* by net_listener_disable(): stays off */
    uint64_t shed;           /* connections closed unserved since the last log line */
    struct net_ratelim_log err_log;
    char addr[300];
    char unix_path[108];
    dev_t unix_dev; /* the socket file we bound: only that one is unlinked at the end */
    ino_t unix_ino;
    uint16_t port;
    bool is_unix;
};

static void
net_listener_pending_free(struct net_listener_pending *p, bool close_fd)
{
    TAILQ_REMOVE(&p->l->pending, p, link);
    p->l->npending--;
    event_free(p->ev);
    if (close_fd)
        close(p->fd);
    free(p);
}

/* Room for one descriptor in a control message. */
union net_listener_cmsg {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
};

/* A one-byte message with room for one descriptor (the first byte of a local client). */
static void
net_listener_msg_init(struct msghdr *mh, struct iovec *iov, uint8_t *byte,
                      union net_listener_cmsg *cbuf)
{
    memset(mh, 0, sizeof(*mh));
    memset(cbuf, 0, sizeof(*cbuf));
    iov->iov_base = byte;
    iov->iov_len = 1;
    mh->msg_iov = iov;
    mh->msg_iovlen = 1;
    mh->msg_control = cbuf->buf;
    mh->msg_controllen = sizeof(cbuf->buf);
}

/*
 * Read the first byte with its ancillary data. Returns 1 when the client is ready (c filled),
 * 0 to wait for more, -1 to drop it (EOF, error, or more descriptors than one).
 */
static int
net_listener_first_byte(int fd, struct net_caller *c)
{
    union net_listener_cmsg cbuf;
    struct cmsghdr *cm;
    struct msghdr mh;
    struct iovec iov;
    struct ucred cred;
    socklen_t credlen = sizeof(cred);
    uint8_t byte = 0;
    ssize_t n;

    net_listener_msg_init(&mh, &iov, &byte, &cbuf);
    n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n != 1)
        return -1;
    c->fd = -1;
    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)) && c->fd == -1)
            memcpy(&c->fd, CMSG_DATA(cm), sizeof(int));
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        /* More than one descriptor: the kernel dropped the rest; so do we. */
        if (c->fd != -1)
            close(c->fd);
        c->fd = -1;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0 && credlen == sizeof(cred)) {
        c->has_cred = true;
        c->pid = cred.pid;
        c->uid = cred.uid;
        c->gid = cred.gid;
    }
    c->first = byte;
    c->nfirst = byte == 0 ? 0 : 1;
    return 1;
}

static void
net_listener_first_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_listener_pending *p = arg;
    struct net_listener *l = p->l;
    struct net_caller c;
    int rv;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    if (what & EV_TIMEOUT) {
        log_debug("net", "net: client of %s sent nothing in time, closing", l->addr);
        net_listener_pending_free(p, true);
        return;
    }
    if ((rv = net_listener_first_byte(fd, &c)) == 0)
        return;
    if (rv < 0) {
        net_listener_pending_free(p, true);
        return;
    }
    net_listener_pending_free(p, false);
    l->local_cb(fd, &c, l->arg);
}

/* A local client: wait (bounded) for its first byte. */
static void
net_listener_hold(struct net_listener *l, int fd)
{
    struct timeval tv = {NET_LISTENER_FIRST_MS / 1000, (NET_LISTENER_FIRST_MS % 1000) * 1000};
    struct net_listener_pending *p;

    if (l->npending >= NET_LISTENER_MAX_PENDING) {
        log_warnx("net: client of %s refused: %d connections sent nothing yet", l->addr,
                  NET_LISTENER_MAX_PENDING);
        close(fd);
        return;
    }
    p = xcalloc(1, sizeof(*p));
    p->l = l;
    p->fd = fd;
    p->ev = event_new(evconnlistener_get_base(l->ev), fd, EV_READ | EV_PERSIST,
                      net_listener_first_cb, p);
    if (p->ev == NULL || event_add(p->ev, &tv) != 0) {
        if (p->ev != NULL)
            event_free(p->ev);
        free(p);
        close(fd);
        return;
    }
    TAILQ_INSERT_TAIL(&l->pending, p, link);
    l->npending++;
}

static void
net_listener_accept_cb(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
                       int salen, void *arg)
{
    struct net_listener *l = arg;
    int one = 1;

    (void)ev;
    if (l->local_cb != NULL) {
        net_listener_hold(l, fd);
        return;
    }
    if (!l->is_unix)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    l->cb(fd, sa, salen > 0 ? (size_t)salen : 0, l->arg);
}

static int
net_listener_reserve_open(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Out of descriptors: free the reserve, accept and close what is pending (up to a bound),
 * then take the reserve back. Returns the number of connections closed.
 */
static unsigned
net_listener_shed(struct net_listener *l)
{
    evutil_socket_t lfd = evconnlistener_get_fd(l->ev);
    unsigned n = 0;
    int fd;

    if (l->reserve_fd == -1)
        return 0;
    close(l->reserve_fd);
    l->reserve_fd = -1;
    while (n < NET_LISTENER_SHED_MAX &&
           (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
        close(fd);
        n++;
    }
    l->reserve_fd = net_listener_reserve_open();
    return n;
}

static void
net_listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_listener *l = arg;

    (void)fd;
    (void)what;
    l->paused = false;
    if (l->reserve_fd == -1)
        l->reserve_fd = net_listener_reserve_open();
    if (!l->disabled)
        evconnlistener_enable(l->ev);
}

static void
net_listener_error_cb(struct evconnlistener *ev, void *arg)
{
    struct net_listener *l = arg;
    struct timeval tv = {0, NET_LISTENER_PAUSE_MS * 1000};
    uint64_t suppressed = 0;
    int err = errno;

    (void)ev;
    /* The pending connection stays in the backlog and the listener would fire again at
     * once: pause instead of spinning, whatever the error. */
    evconnlistener_disable(l->ev);
    l->paused = true;
    evtimer_add(l->resume_ev, &tv);
    if (err == EMFILE || err == ENFILE)
        l->shed += net_listener_shed(l);
    if (!net_ratelim_log_allow(&l->err_log, df_time_mono_coarse_ms(), NET_LISTENER_LOG_MS,
                               &suppressed))
        return;
    log_warnx("net: accept on %s: %s: pausing accepts for %d ms (%" PRIu64
              " connections closed unserved, %" PRIu64 " errors not logged)",
              l->addr, strerror(err), NET_LISTENER_PAUSE_MS, l->shed, suppressed);
    l->shed = 0;
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

static int
net_listener_open(struct event_base *base, const char *addr, const struct net_listener_perm *perm,
                  net_listener_accept_fn *cb, net_listener_local_fn *local_cb, void *arg,
                  struct net_listener **out, struct df_error *err)
{
    struct net_listener *l = NULL;
    struct sockaddr_storage ss, bound;
    socklen_t sslen = 0, blen = sizeof(bound);
    mode_t mode = (mode_t)(perm->mode != 0 ? perm->mode : 0600), old_mask = 0;
    struct net_addr a;
    struct stat st;
    int fd = -1, one = 1, rv, bound_rv;

    if ((rv = net_addr_parse(addr, 0, &a, err)) != 0)
        goto out;
    if (local_cb != NULL && !a.is_unix) {
        rv = df_error_set(err, DF_EINVAL, "listen %s: a local listener needs unix:PATH", addr);
        goto out;
    }
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
    /* The socket file is born owner-only (umask is the process's: start-up only), so nobody
     * connects before its group and mode are set. */
    if (a.is_unix)
        old_mask = umask(0177);
    bound_rv = bind(fd, (struct sockaddr *)&ss, sslen);
    if (a.is_unix)
        umask(old_mask);
    if (bound_rv == -1) {
        rv = df_error_set(err, DF_EIO, "listen %s: bind: %s", addr, strerror(errno));
        goto out;
    }
    if (a.is_unix && perm->gid != (gid_t)-1 && chown(a.host, (uid_t)-1, perm->gid) == -1) {
        rv = df_error_set(err, DF_EIO, "listen %s: chown to group %lu: %s", addr,
                          (unsigned long)perm->gid, strerror(errno));
        unlink(a.host);
        goto out;
    }
    if (a.is_unix && (chmod(a.host, mode) == -1 || lstat(a.host, &st) == -1)) {
        rv = df_error_set(err, DF_EIO, "listen %s: chmod %04o: %s", addr, (unsigned)mode,
                          strerror(errno));
        unlink(a.host);
        goto out;
    }
    if (listen(fd, NET_LISTENER_BACKLOG) == -1) {
        rv = df_error_set(err, DF_EIO, "listen %s: %s", addr, strerror(errno));
        goto out;
    }
    l = xcalloc(1, sizeof(*l));
    l->cb = cb;
    l->local_cb = local_cb;
    l->arg = arg;
    TAILQ_INIT(&l->pending);
    l->reserve_fd = net_listener_reserve_open();
    if ((l->resume_ev = evtimer_new(base, net_listener_resume_cb, l)) == NULL) {
        rv = df_error_set(err, DF_ENOMEM, "listen %s: out of memory", addr);
        goto out;
    }
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
        if (l->resume_ev != NULL)
            event_free(l->resume_ev);
        if (l->reserve_fd != -1)
            close(l->reserve_fd);
        free(l);
    }
    return rv;
}

int
net_listener_new(struct event_base *base, const char *addr, int mode, net_listener_accept_fn *cb,
                 void *arg, struct net_listener **out, struct df_error *err)
{
    struct net_listener_perm perm = {mode, (gid_t)-1};

    return net_listener_open(base, addr, &perm, cb, NULL, arg, out, err);
}

int
net_listener_new_local(struct event_base *base, const char *addr,
                       const struct net_listener_perm *perm, net_listener_local_fn *cb, void *arg,
                       struct net_listener **out, struct df_error *err)
{
    struct net_listener_perm def = {0, (gid_t)-1};

    return net_listener_open(base, addr, perm != NULL ? perm : &def, NULL, cb, arg, out, err);
}

int
net_listener_send_fd(int sock, int fd)
{
    union net_listener_cmsg cbuf;
    struct cmsghdr *cm;
    struct msghdr mh;
    struct iovec iov;
    uint8_t byte = 0;
    ssize_t n;

    net_listener_msg_init(&mh, &iov, &byte, &cbuf);
    if (fd == -1) {
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
    } else {
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    return n == 1 ? 0 : DF_EIO;
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
    if (l == NULL)
        return;
    l->disabled = true;
    if (l->ev != NULL)
        evconnlistener_disable(l->ev);
}

void
net_listener_free(struct net_listener *l)
{
    if (l == NULL)
        return;
    while (!TAILQ_EMPTY(&l->pending))
        net_listener_pending_free(TAILQ_FIRST(&l->pending), true);
    if (l->ev != NULL)
        evconnlistener_free(l->ev);
    if (l->resume_ev != NULL)
        event_free(l->resume_ev);
    if (l->reserve_fd != -1)
        close(l->reserve_fd);
    if (l->is_unix)
        net_listener_unix_unlink(l);
    free(l);
}
