/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_listener and net_connect on loopback: port 0 binding and the bound address text, unix
 * sockets (mode, stale files), refused and timed-out connects, cancel, and "localhost" from
 * /etc/hosts through evdns, and accepting at the fd limit (a pause, not a busy loop, and a
 * prompt close for the clients waiting). No test sends a packet outside 127.0.0.0/8.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "df/log.h"
#include "df/net_connect.h"
#include "df/net_listener.h"

static struct {
    char dir[64];
    struct event_base *base;
    struct evdns_base *dns;
    struct event *deadline;
    struct net_listener *l;
    int accepted;
    int connects;
    int connect_rv;
    struct bufferevent *bev;
    int fds[8];
    int nfds;
} t;

static void
lis_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopexit(t.base, NULL);
}

static void
lis_setup(void)
{
    struct timeval tv = {10, 0};

    memset(&t, 0, sizeof(t));
    snprintf(t.dir, sizeof(t.dir), "/tmp/df-lis-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t.dir));
    t.base = event_base_new();
    ck_assert_ptr_nonnull(t.base);
    t.dns = net_dns_new(t.base);
    ck_assert_ptr_nonnull(t.dns);
    t.deadline = evtimer_new(t.base, lis_deadline_cb, NULL);
    evtimer_add(t.deadline, &tv);
    t.connect_rv = 1; /* not called yet */
}

static void
lis_teardown(void)
{
    char cmd[128];

    for (int i = 0; i < t.nfds; i++)
        close(t.fds[i]);
    if (t.bev != NULL)
        bufferevent_free(t.bev);
    net_listener_free(t.l);
    event_free(t.deadline);
    net_dns_free(t.dns);
    event_base_free(t.base);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t.dir);
}

static void
lis_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    (void)peer;
    (void)arg;
    ck_assert_int_gt(peerlen, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    t.accepted++;
    close(fd);
    if (t.connects > 0)
        event_base_loopexit(t.base, NULL);
}

static void
lis_connect_cb(struct bufferevent *bev, int rv, void *arg)
{
    (void)arg;
    t.connects++;
    t.connect_rv = rv;
    if (rv == 0)
        ck_assert_ptr_nonnull(bev);
    else
        ck_assert_ptr_null(bev);
    t.bev = bev;
    if (rv != 0 || t.accepted > 0)
        event_base_loopexit(t.base, NULL);
}

static const char *
lis_path(const char *name)
{
    static char buf[96];

    snprintf(buf, sizeof(buf), "%.63s/%.31s", t.dir, name);
    return buf;
}

START_TEST(test_tcp_port0)
{
    struct df_error err = {{0}};
    char want[64];

    ck_assert_msg(net_listener_new(t.base, "127.0.0.1:0", 0, lis_accept_cb, NULL, &t.l, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_ne(net_listener_port(t.l), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%u", net_listener_port(t.l));
    ck_assert_str_eq(net_listener_addr(t.l), want);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "127.0.0.1", net_listener_port(t.l), 2000,
                                       lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, 0);
    ck_assert_int_eq(t.accepted, 1);
    ck_assert_int_eq(t.connects, 1);
}

END_TEST

START_TEST(test_tcp_v6)
{
    struct df_error err = {{0}};
    char want[64];

    if (net_listener_new(t.base, "[::1]:0", 0, lis_accept_cb, NULL, &t.l, &err) != 0)
        return; /* no IPv6 loopback here */
    snprintf(want, sizeof(want), "[::1]:%u", net_listener_port(t.l));
    ck_assert_str_eq(net_listener_addr(t.l), want);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "::1", net_listener_port(t.l), 2000,
                                       lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, 0);
    ck_assert_int_eq(t.accepted, 1);
}

END_TEST

START_TEST(test_tcp_errors)
{
    struct net_listener *l2 = NULL;
    struct df_error err = {{0}};
    char addr[64];

    ck_assert_int_eq(net_listener_new(t.base, "localhost:0", 0, lis_accept_cb, NULL, &l2, &err),
                     DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "IP address"));
    ck_assert_int_eq(net_listener_new(t.base, "127.0.0.1", 0, lis_accept_cb, NULL, &l2, &err),
                     DF_EINVAL);
    ck_assert_int_eq(net_listener_new(t.base, "127.0.0.1:0", 0, lis_accept_cb, NULL, &t.l, &err),
                     0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", net_listener_port(t.l));
    ck_assert_int_eq(net_listener_new(t.base, addr, 0, lis_accept_cb, NULL, &l2, &err), DF_EIO);
    ck_assert_msg(strstr(err.msg, addr) != NULL && strstr(err.msg, "bind") != NULL, "%s", err.msg);
    ck_assert_ptr_null(l2);
    net_listener_disable(t.l);
    net_listener_disable(t.l); /* idempotent */
    net_listener_free(NULL);
}

END_TEST

START_TEST(test_unix)
{
    struct df_error err = {{0}};
    char addr[160];
    struct stat st;

    snprintf(addr, sizeof(addr), "unix:%s", lis_path("d.sock"));
    ck_assert_msg(net_listener_new(t.base, addr, 0, lis_accept_cb, NULL, &t.l, &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(net_listener_addr(t.l), addr);
    ck_assert_uint_eq(net_listener_port(t.l), 0);
    ck_assert_int_eq(stat(lis_path("d.sock"), &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, addr, 0, 2000, lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, 0);
    ck_assert_int_eq(t.accepted, 1);
    net_listener_free(t.l);
    t.l = NULL;
    ck_assert_int_eq(stat(lis_path("d.sock"), &st), -1); /* unlinked */

    /* An explicit mode. */
    ck_assert_int_eq(net_listener_new(t.base, addr, 0660, lis_accept_cb, NULL, &t.l, &err), 0);
    ck_assert_int_eq(stat(lis_path("d.sock"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0660);
}

END_TEST

static net_listener_local_fn lis_local_cb;

/* A local listener's socket gets its mode and group; a chown that fails is named. */
START_TEST(test_local_perm)
{
    struct net_listener_perm perm = {0640, getgid()};
    struct df_error err = {{0}};
    char addr[160];
    struct stat st;

    snprintf(addr, sizeof(addr), "unix:%s", lis_path("p.sock"));
    ck_assert_msg(net_listener_new_local(t.base, addr, &perm, lis_local_cb, NULL, &t.l, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(stat(lis_path("p.sock"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    ck_assert_uint_eq(st.st_gid, getgid());
    net_listener_free(t.l);
    t.l = NULL;
    if (geteuid() != 0) {
        /* an ordinary user cannot give the socket to a group it is not in */
        perm.gid = 0;
        ck_assert_int_eq(
                net_listener_new_local(t.base, addr, &perm, lis_local_cb, NULL, &t.l, &err),
                DF_EIO);
        ck_assert_ptr_nonnull(strstr(err.msg, "chown to group 0"));
        ck_assert_int_eq(stat(lis_path("p.sock"), &st), -1); /* not left behind */
    }
}

END_TEST

START_TEST(test_unix_stale_and_not_socket)
{
    struct df_error err = {{0}};
    struct sockaddr_un un;
    char addr[160];
    struct stat st;
    int fd;

    /* A socket file left by a dead process is replaced. */
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", lis_path("stale.sock"));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ne(fd, -1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    close(fd);
    ck_assert_int_eq(stat(un.sun_path, &st), 0);
    snprintf(addr, sizeof(addr), "unix:%s", un.sun_path);
    ck_assert_msg(net_listener_new(t.base, addr, 0, lis_accept_cb, NULL, &t.l, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, addr, 0, 2000, lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, 0);

    /* Anything that is not a socket is left alone. */
    fd = open(lis_path("file"), O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ne(fd, -1);
    close(fd);
    snprintf(addr, sizeof(addr), "unix:%s", lis_path("file"));
    {
        struct net_listener *l2 = NULL;

        ck_assert_int_lt(net_listener_new(t.base, addr, 0, lis_accept_cb, NULL, &l2, &err), 0);
        ck_assert_ptr_nonnull(strstr(err.msg, "not a socket"));
        ck_assert_ptr_null(l2);
    }
    ck_assert_int_eq(stat(lis_path("file"), &st), 0);
    ck_assert(S_ISREG(st.st_mode));
}

END_TEST

/* Local listener: what each client handed over, in order. */
static struct {
    int n;
    int fd[4];
    bool has_cred[4];
    uid_t uid[4];
    pid_t pid[4];
    size_t nfirst[4];
    uint8_t first[4];
} lc;

static void
lis_local_cb(int fd, struct net_caller *c, void *arg)
{
    (void)arg;
    ck_assert_int_lt(lc.n, 4);
    lc.fd[lc.n] = c->fd;
    lc.has_cred[lc.n] = c->has_cred;
    lc.uid[lc.n] = c->uid;
    lc.pid[lc.n] = c->pid;
    lc.nfirst[lc.n] = c->nfirst;
    lc.first[lc.n] = c->first;
    lc.n++;
    close(fd);
    if (lc.n == 2)
        event_base_loopexit(t.base, NULL);
}

static int
lis_unix_connect(const char *path)
{
    struct sockaddr_un un;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ne(fd, -1);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    t.fds[t.nfds++] = fd;
    return fd;
}

/*
 * A NUL byte carrying a pipe's write end is consumed and the descriptor arrives with the
 * client's credentials; a protocol byte (curl's preface) is handed back; a client that
 * closes without a byte never reaches the owner; a TCP address is refused.
 */
START_TEST(test_local_caller)
{
    struct df_error err = {{0}};
    struct net_listener *l2 = NULL;
    char addr[160], buf[8];
    int p[2], a, b, c;

    memset(&lc, 0, sizeof(lc));
    ck_assert_int_eq(
            net_listener_new_local(t.base, "127.0.0.1:0", NULL, lis_local_cb, NULL, &l2, &err),
            DF_EINVAL);
    snprintf(addr, sizeof(addr), "unix:%s", lis_path("l.sock"));
    ck_assert_msg(net_listener_new_local(t.base, addr, NULL, lis_local_cb, NULL, &t.l, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(pipe(p), 0);
    c = lis_unix_connect(lis_path("l.sock"));
    close(c); /* nothing sent: dropped */
    t.nfds--;
    a = lis_unix_connect(lis_path("l.sock"));
    ck_assert_int_eq(net_listener_send_fd(a, p[1]), 0);
    close(p[1]);
    b = lis_unix_connect(lis_path("l.sock"));
    ck_assert_int_eq(write(b, "PRI", 3), 3);
    event_base_dispatch(t.base);
    ck_assert_int_eq(lc.n, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert(lc.has_cred[i]);
        ck_assert_uint_eq(lc.uid[i], getuid());
        ck_assert_int_eq(lc.pid[i], getpid());
    }
    /* Accept order is connect order, but be tolerant: find the one with the fd. */
    {
        int k = lc.fd[0] != -1 ? 0 : 1;
        ck_assert_int_ne(lc.fd[k], -1);
        ck_assert_uint_eq(lc.nfirst[k], 0);
        ck_assert_int_ne(fcntl(lc.fd[k], F_GETFD) & FD_CLOEXEC, 0);
        ck_assert_int_eq(write(lc.fd[k], "ok", 2), 2);
        close(lc.fd[k]);
        ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 2);
        ck_assert_int_eq(memcmp(buf, "ok", 2), 0);
        ck_assert_int_eq(lc.fd[1 - k], -1);
        ck_assert_uint_eq(lc.nfirst[1 - k], 1);
        ck_assert_uint_eq(lc.first[1 - k], 'P');
    }
    close(p[0]);
}

END_TEST

START_TEST(test_connect_refused)
{
    struct sockaddr_in in;
    socklen_t len = sizeof(in);
    int fd;

    /* A bound socket that does not listen holds a port nobody accepts on. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ne(fd, -1);
    t.fds[t.nfds++] = fd;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "127.0.0.1", ntohs(in.sin_port), 2000,
                                       lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connects, 1);
    ck_assert_int_eq(t.connect_rv, DF_ECONNECT);

    /* A unix path with nothing behind it. */
    t.connects = 0;
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "unix:/nonexistent/df.sock", 0, 2000,
                                       lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connects, 1);
    ck_assert_int_eq(t.connect_rv, DF_ECONNECT);
}

END_TEST

/*
 * issue_9 (found by fuzz_sched_rpc): a TCP connect the kernel refuses at once (no route;
 * here the broadcast address, which never leaves the host) is reported by libevent from
 * inside bufferevent_socket_connect_hostname(). The callback must still come from the loop,
 * after net_connect_start returned, and only once.
 */
START_TEST(test_issue_9_connect_fails_at_once)
{
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "255.255.255.255", 9, 2000, lis_connect_cb,
                                       NULL, NULL),
                     0);
    ck_assert_int_eq(t.connects, 0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connects, 1);
    ck_assert_int_eq(t.connect_rv, DF_ECONNECT);
}

END_TEST

/*
 * A listener with a full accept queue drops new SYNs, so connect never completes: the
 * deadline must fire. The backlog is filled from this process, all on 127.0.0.1.
 */
START_TEST(test_connect_timeout)
{
    struct sockaddr_in in;
    socklen_t len = sizeof(in);
    int lfd, fd;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ne(lfd, -1);
    t.fds[t.nfds++] = lfd;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&in, sizeof(in)), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&in, &len), 0);
    while (t.nfds < 4) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ck_assert_int_ne(fd, -1);
        t.fds[t.nfds++] = fd;
        if (connect(fd, (struct sockaddr *)&in, sizeof(in)) != 0)
            ck_assert_int_eq(errno, EINPROGRESS);
    }
    /* The accept queue is full once a handshake that fits has completed: wait for that (one
     * of the sockets becomes writable), not for a fixed time. */
    {
        struct pollfd pfd[3];
        int ready = 0;

        for (int i = 0; i < 3; i++)
            pfd[i] = (struct pollfd){.fd = t.fds[1 + i], .events = POLLOUT};
        for (int k = 0; k < 100 && ready == 0; k++)
            ready = poll(pfd, 3, 100);
        ck_assert_int_gt(ready, 0);
    }
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "127.0.0.1", ntohs(in.sin_port), 300,
                                       lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connects, 1);
    ck_assert_int_eq(t.connect_rv, DF_ETIMEDOUT);
}

END_TEST

START_TEST(test_connect_cancel)
{
    struct df_error err = {{0}};
    struct net_connect *c = NULL;
    struct timeval tv = {0, 200000};

    ck_assert_int_eq(net_listener_new(t.base, "127.0.0.1:0", 0, lis_accept_cb, NULL, &t.l, &err),
                     0);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "127.0.0.1", net_listener_port(t.l), 2000,
                                       lis_connect_cb, NULL, &c),
                     0);
    ck_assert_ptr_nonnull(c);
    net_connect_cancel(c);
    net_connect_cancel(NULL);
    event_base_loopexit(t.base, &tv);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connects, 0);
}

END_TEST

START_TEST(test_connect_localhost_via_hosts)
{
    struct df_error err = {{0}};

    ck_assert_int_eq(net_listener_new(t.base, "127.0.0.1:0", 0, lis_accept_cb, NULL, &t.l, &err),
                     0);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "localhost", net_listener_port(t.l), 2000,
                                       lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, 0);
    ck_assert_int_eq(t.accepted, 1);
}

END_TEST

static void
lis_quiet_log_cb(int severity, const char *msg)
{
    (void)severity;
    (void)msg;
}

/*
 * Names not in /etc/hosts go to the nameserver: here one on 127.0.0.1 that never answers,
 * with a short timeout, so nothing leaves the host and the lookup fails as DF_EDNS.
 */
START_TEST(test_connect_unknown_name)
{
    struct sockaddr_in in;
    socklen_t len = sizeof(in);
    struct evdns_base *dns;
    char ns[64];
    int fd;

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ne(fd, -1);
    t.fds[t.nfds++] = fd;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    snprintf(ns, sizeof(ns), "127.0.0.1:%u", ntohs(in.sin_port));
    event_set_log_callback(lis_quiet_log_cb); /* "nameserver failed" is the point here */
    dns = evdns_base_new(t.base, 0);
    ck_assert_ptr_nonnull(dns);
    ck_assert_int_eq(evdns_base_load_hosts(dns, NULL), 0);
    ck_assert_int_eq(evdns_base_nameserver_ip_add(dns, ns), 0);
    ck_assert_int_eq(evdns_base_set_option(dns, "timeout:", "0.2"), 0);
    ck_assert_int_eq(evdns_base_set_option(dns, "attempts:", "1"), 0);
    ck_assert_int_eq(net_connect_start(t.base, dns, "no-such-host.invalid", 80, 2000,
                                       lis_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connects, 1);
    ck_assert_int_eq(t.connect_rv, DF_EDNS);
    evdns_base_free(dns, 0);
}

END_TEST

START_TEST(test_connect_bad_args)
{
    char path[200];

    memset(path, 'x', sizeof(path) - 1);
    memcpy(path, "unix:/", 6);
    path[sizeof(path) - 1] = '\0';
    ck_assert_int_eq(net_connect_start(t.base, t.dns, path, 0, 100, lis_connect_cb, NULL, NULL),
                     DF_EINVAL);
    ck_assert_int_eq(
            net_connect_start(t.base, NULL, "127.0.0.1", 1, 100, lis_connect_cb, NULL, NULL),
            DF_EINVAL);
    ck_assert_int_eq(t.connects, 0);
}

END_TEST

static void
lis_count_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    (void)peer;
    (void)peerlen;
    (void)arg;
    t.accepted++;
    close(fd);
}

static double
lis_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
lis_run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(t.base, &tv);
    event_base_dispatch(t.base);
}

START_TEST(test_accept_emfile)
{
    struct df_error err = {{0}};
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct rlimit old, low;
    double cpu;
    int spare, closed = 0, lines = 0;
    char buf[64];
    FILE *f;

    log_init("test", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    ck_assert_int_eq(log_open(lis_path("log")), 0);
    ck_assert_int_eq(net_listener_new(t.base, "127.0.0.1:0", 0, lis_count_cb, NULL, &t.l, &err), 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(net_listener_port(t.l));
    /* Clients whose handshakes the kernel completes; they wait in the backlog. */
    for (t.nfds = 0; t.nfds < 6; t.nfds++) {
        t.fds[t.nfds] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(t.fds[t.nfds], 0);
        ck_assert_int_eq(connect(t.fds[t.nfds], (struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    /* No descriptor left for accept: the next free one is at the limit. */
    spare = dup(0);
    ck_assert_int_ge(spare, 0);
    close(spare);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)spare;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(dup(0), -1);
    cpu = lis_cpu_s();
    lis_run_ms(500);
    cpu = lis_cpu_s() - cpu;
    /* A busy loop burns the whole 0.5 s; a 100 ms pause costs next to nothing. */
    ck_assert_msg(cpu < 0.25, "%.3f s of CPU in 0.5 s at EMFILE", cpu);
    ck_assert_int_eq(t.accepted, 0);
    /* Every waiting client was accepted on the reserve descriptor and closed. */
    for (int i = 0; i < t.nfds; i++) {
        fcntl(t.fds[i], F_SETFL, O_NONBLOCK);
        ssize_t n = recv(t.fds[i], buf, sizeof(buf), 0);
        closed += n == 0 || (n == -1 && errno == ECONNRESET);
    }
    ck_assert_int_eq(closed, t.nfds);
    /* With descriptors back, the listener resumes by itself. */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* One warning, not one per wakeup (the CPU figure alone is blunt on a loaded machine). */
    ck_assert_ptr_nonnull(f = fopen(lis_path("log"), "r"));
    while (fgets(buf, sizeof(buf), f) != NULL)
        lines += strchr(buf, '\n') != NULL;
    fclose(f);
    ck_assert_int_eq(lines, 1);
    close(t.fds[0]);
    t.fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(t.fds[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
    lis_run_ms(400);
    ck_assert_int_eq(t.accepted, 1);
}

END_TEST

Suite *test_net_listener_suite(void);

Suite *
test_net_listener_suite(void)
{
    Suite *s = suite_create("net_listener");
    TCase *tc = tcase_create("listen_connect");

    tcase_add_checked_fixture(tc, lis_setup, lis_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_tcp_port0);
    tcase_add_test(tc, test_tcp_v6);
    tcase_add_test(tc, test_tcp_errors);
    tcase_add_test(tc, test_unix);
    tcase_add_test(tc, test_local_perm);
    tcase_add_test(tc, test_unix_stale_and_not_socket);
    tcase_add_test(tc, test_local_caller);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_issue_9_connect_fails_at_once);
    tcase_add_test(tc, test_connect_timeout);
    tcase_add_test(tc, test_connect_cancel);
    tcase_add_test(tc, test_connect_localhost_via_hosts);
    tcase_add_test(tc, test_connect_unknown_name);
    tcase_add_test(tc, test_connect_bad_args);
    tcase_add_test(tc, test_accept_emfile);
    suite_add_tcase(s, tc);
    return s;
}
