/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loopback throughput of net_tls: a forked server process reads and discards, the client
 * sends N MiB of plaintext and stops the clock when the server acknowledges the last byte.
 *   net_tls_bench CERTDIR [MIB] [plain]
 * CERTDIR holds the output of scripts/gen-test-certs.sh; "plain" measures TCP alone.
 *
 * Handshake cost: N full handshakes one after another against a forked server, with
 * certificates made by `dragonfly cert` in a temp dir: TCP connect alone, server-auth TLS
 * (the client verifies the cluster CA and the role) and mutual TLS (the server requires a
 * client certificate and checks its role too). Printed, never asserted.
 *   net_tls_bench handshakes [N]
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/log.h"
#include "df/net_connect.h"
#include "df/net_listener.h"
#include "df/net_tls.h"
#include "df/roles.h"

#define BENCH_CHUNK (1024u * 1024)

static struct {
    struct event_base *base;
    struct evdns_base *dns;
    struct net_tls_ctx *ctx;
    size_t total, done;
    bool plain;
    struct timespec t0;
    /* handshakes */
    uint16_t port;
    int hs_left, hs_done, hs_failed;
} b;

static void
bench_server_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)arg;
    b.done += evbuffer_get_length(in);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (b.done == b.total)
        bufferevent_write(bev, "k", 1);
}

static void
bench_server_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (what & BEV_EVENT_ERROR)
            fprintf(stderr, "server: %s\n", b.plain ? "error" : net_tls_error(bev));
        event_base_loopexit(b.base, NULL);
    }
}

static void
bench_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(b.base, fd, BEV_OPT_CLOSE_ON_FREE);

    (void)peer;
    (void)peerlen;
    (void)arg;
    if (!b.plain)
        bev = net_tls_wrap(b.ctx, bev, NULL);
    bufferevent_setcb(bev, bench_server_read_cb, NULL, bench_server_event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
bench_client_fill(struct bufferevent *bev)
{
    static char chunk[BENCH_CHUNK];
    size_t n = b.total - b.done < BENCH_CHUNK ? b.total - b.done : BENCH_CHUNK;

    if (n == 0)
        return;
    memset(chunk, 'x', n);
    b.done += n;
    bufferevent_write(bev, chunk, n);
}

static void
bench_client_read_cb(struct bufferevent *bev, void *arg)
{
    struct timespec t1;
    double s;

    (void)bev;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - b.t0.tv_sec) + (double)(t1.tv_nsec - b.t0.tv_nsec) / 1e9;
    printf("%s: %zu MiB in %.3f s = %.1f MB/s\n", b.plain ? "tcp" : "tls", b.total / (1024 * 1024),
           s, (double)b.total / s / 1e6);
    event_base_loopexit(b.base, NULL);
}

static void
bench_client_write_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    bench_client_fill(bev);
}

static void
bench_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & BEV_EVENT_CONNECTED) {
        clock_gettime(CLOCK_MONOTONIC, &b.t0);
        bench_client_fill(bev);
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        fprintf(stderr, "client: %s\n", b.plain ? "closed" : net_tls_error(bev));
        event_base_loopexit(b.base, NULL);
    }
}

static void
bench_connected_cb(struct bufferevent *under, int rv, void *arg)
{
    struct bufferevent *bev = under;

    (void)arg;
    if (rv != 0) {
        fprintf(stderr, "connect: %s\n", df_strerror(rv));
        event_base_loopexit(b.base, NULL);
        return;
    }
    if (!b.plain)
        bev = net_tls_wrap(b.ctx, under, "localhost");
    bufferevent_setcb(bev, bench_client_read_cb, bench_client_write_cb, bench_client_event_cb,
                      NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (b.plain) {
        clock_gettime(CLOCK_MONOTONIC, &b.t0);
        bench_client_fill(bev);
    }
}

static int
bench_ctx(bool server, const char *dir)
{
    struct net_tls_opts o = {0};
    struct df_error err;
    char cert[512], key[512], ca[512];

    snprintf(cert, sizeof(cert), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    if (server) {
        o.cert_file = cert;
        o.key_file = key;
    } else
        o.ca_file = ca;
    if (net_tls_ctx_new(server, &o, &b.ctx, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* ---- handshakes ---- */

static void
hs_server_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    /* Done either way: the client closes after CONNECTED. */
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void
hs_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(b.base, fd, BEV_OPT_CLOSE_ON_FREE);

    (void)peer;
    (void)peerlen;
    (void)arg;
    if (b.ctx != NULL)
        bev = net_tls_wrap(b.ctx, bev, NULL);
    bufferevent_setcb(bev, NULL, NULL, hs_server_event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void hs_next(void);

static void
hs_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & BEV_EVENT_CONNECTED) {
        b.hs_done++;
    } else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        if (b.hs_failed++ == 0)
            fprintf(stderr, "handshake: %s\n",
                    b.ctx != NULL ? net_tls_error(bev) : "connection closed");
    } else {
        return;
    }
    bufferevent_free(bev);
    hs_next();
}

static void
hs_connected_cb(struct bufferevent *under, int rv, void *arg)
{
    struct bufferevent *bev = under;

    (void)arg;
    if (rv != 0) {
        b.hs_failed++;
        hs_next();
        return;
    }
    if (b.ctx == NULL) {
        b.hs_done++;
        bufferevent_free(under);
        hs_next();
        return;
    }
    bev = net_tls_wrap_expect(b.ctx, under, NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER), "bench-s");
    bufferevent_setcb(bev, NULL, NULL, hs_client_event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
hs_next(void)
{
    if (b.hs_left == 0) {
        event_base_loopexit(b.base, NULL);
        return;
    }
    b.hs_left--;
    net_connect_start(b.base, b.dns, "127.0.0.1", b.port, 5000, hs_connected_cb, NULL, NULL);
}

/* `dragonfly cert ARGS`, ARGS printf-formatted and split at spaces (temp paths have none). */
static int hs_cert(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
hs_cert(const char *fmt, ...)
{
    char line[1024], *argv[16], *p;
    int argc = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    argv[argc++] = line;
    for (p = line; (p = strchr(p, ' ')) != NULL && argc < 15;) {
        *p++ = '\0';
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    return cli_cert_main(argc, argv);
}

/* N handshakes of one kind ("tcp", "tls", "mtls") against a forked server; one line. */
static int
hs_measure(const char *dir, const char *kind, int n)
{
    struct net_listener *l = NULL;
    struct net_tls_opts so = {0}, co = {0};
    struct timespec t0, t1;
    char ca[300], scrt[300], skey[300], ccrt[300], ckey[300];
    struct df_error err = {{0}};
    bool tls = strcmp(kind, "tcp") != 0;
    int pfd[2], status;
    double s;
    pid_t pid;

    snprintf(ca, sizeof(ca), "%s/ca/ca.crt", dir);
    snprintf(scrt, sizeof(scrt), "%s/bench-s.crt", dir);
    snprintf(skey, sizeof(skey), "%s/bench-s.key", dir);
    snprintf(ccrt, sizeof(ccrt), "%s/bench-p.crt", dir);
    snprintf(ckey, sizeof(ckey), "%s/bench-p.key", dir);
    so.cert_file = scrt;
    so.key_file = skey;
    co.ca_file = ca;
    co.peer_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER);
    if (strcmp(kind, "mtls") == 0) {
        so.ca_file = ca;
        so.verify_client = true;
        so.peer_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER);
        co.cert_file = ccrt;
        co.key_file = ckey;
    }
    if (pipe(pfd) != 0)
        return -1;
    b.ctx = NULL;
    pid = fork();
    if (pid == 0) {
        b.base = event_base_new();
        if ((tls && net_tls_ctx_new(true, &so, &b.ctx, &err) != 0) ||
            net_listener_new(b.base, "127.0.0.1:0", 0, hs_accept_cb, NULL, &l, &err) != 0) {
            fprintf(stderr, "server: %s\n", err.msg);
            _exit(1);
        }
        b.port = net_listener_port(l);
        if (write(pfd[1], &b.port, sizeof(b.port)) != (ssize_t)sizeof(b.port))
            _exit(1);
        event_base_dispatch(b.base);
        _exit(0);
    }
    close(pfd[1]);
    if (pid < 0 || read(pfd[0], &b.port, sizeof(b.port)) != (ssize_t)sizeof(b.port))
        return -1;
    close(pfd[0]);
    b.base = event_base_new();
    b.dns = net_dns_new(b.base);
    if (tls && net_tls_ctx_new(false, &co, &b.ctx, &err) != 0) {
        fprintf(stderr, "client: %s\n", err.msg);
        return -1;
    }
    b.hs_left = n;
    b.hs_done = b.hs_failed = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hs_next();
    event_base_dispatch(b.base);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%-4s: %d in %.3f s = %.3f ms per connection, %.0f/s (%d failed)\n", kind, b.hs_done, s,
           s * 1e3 / (b.hs_done > 0 ? b.hs_done : 1), b.hs_done / s, b.hs_failed);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    net_tls_ctx_free(b.ctx);
    b.ctx = NULL;
    net_dns_free(b.dns);
    event_base_free(b.base);
    return b.hs_failed == 0 ? 0 : -1;
}

/* `net_tls_bench handshakes [N]`: certificates from `dragonfly cert`, then each kind. */
static int
hs_main(int n)
{
    static const char *const files[] = {"ca/ca.crt",   "ca/ca.key",   "bench-s.crt",
                                        "bench-s.key", "bench-p.crt", "bench-p.key"};
    char dir[] = "/tmp/df-tls-bench-XXXXXX", path[300];
    int rv = 1;

    if (mkdtemp(dir) == NULL)
        return 1;
    if (hs_cert("cert ca --dir %s/ca", dir) != 0 ||
        hs_cert("cert issue --dir %s/ca --role scheduler --host bench-s --ip 127.0.0.1 --out "
                "%s/bench-s",
                dir, dir) != 0 ||
        hs_cert("cert issue --dir %s/ca --role peer --host bench-p --out %s/bench-p", dir, dir) !=
                0)
        goto out;
    printf("ECDSA P-256 certificates, TLS 1.2 ECDHE-ECDSA, one connection at a time on "
           "127.0.0.1 (client and server in two processes):\n");
    if (hs_measure(dir, "tcp", n) != 0 || hs_measure(dir, "tls", n) != 0 ||
        hs_measure(dir, "mtls", n) != 0)
        goto out;
    rv = 0;
out:
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/ca", dir);
    rmdir(path);
    rmdir(dir);
    return rv;
}

int
main(int argc, char **argv)
{
    struct net_listener *l = NULL;
    struct evdns_base *dns;
    struct df_error err;
    uint16_t port;
    int pfd[2], status;
    pid_t pid;

    if (argc < 2) {
        fprintf(stderr, "usage: net_tls_bench CERTDIR [MIB] [plain]\n"
                        "       net_tls_bench handshakes [N]\n");
        return 2;
    }
    if (strcmp(argv[1], "handshakes") == 0) {
        log_init("bench", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
        return hs_main(argc > 2 ? (int)strtol(argv[2], NULL, 10) : 500);
    }
    log_init("bench", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    b.total = (size_t)(argc > 2 ? strtoul(argv[2], NULL, 10) : 256) * 1024 * 1024;
    b.plain = argc > 3 && strcmp(argv[3], "plain") == 0;
    if (pipe(pfd) != 0)
        return 1;
    pid = fork();
    if (pid == 0) {
        b.base = event_base_new();
        if ((!b.plain && bench_ctx(true, argv[1]) != 0) ||
            net_listener_new(b.base, "127.0.0.1:0", 0, bench_accept_cb, NULL, &l, &err) != 0)
            _exit(1);
        port = net_listener_port(l);
        if (write(pfd[1], &port, sizeof(port)) != (ssize_t)sizeof(port))
            _exit(1);
        event_base_dispatch(b.base);
        _exit(0);
    }
    if (read(pfd[0], &port, sizeof(port)) != (ssize_t)sizeof(port))
        return 1;
    b.base = event_base_new();
    dns = net_dns_new(b.base);
    if (!b.plain && bench_ctx(false, argv[1]) != 0)
        return 1;
    net_connect_start(b.base, dns, "127.0.0.1", port, 5000, bench_connected_cb, NULL, NULL);
    event_base_dispatch(b.base);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    return 0;
}
