/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loopback throughput of net_tls: a forked server process reads and discards, the client
 * sends N MiB of plaintext and stops the clock when the server acknowledges the last byte.
 *   net_tls_bench CERTDIR [MIB] [plain]
 * CERTDIR holds the output of scripts/gen-test-certs.sh; "plain" measures TCP alone.
 */
#include <signal.h>
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

#define BENCH_CHUNK (1024u * 1024)

static struct {
    struct event_base *base;
    struct net_tls_ctx *ctx;
    size_t total, done;
    bool plain;
    struct timespec t0;
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
        fprintf(stderr, "usage: net_tls_bench CERTDIR [MIB] [plain]\n");
        return 2;
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
