/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly up`: a one-machine cluster in one process. A manager, a scheduler, a seed peer
 * and a peer run as components (df/roles.h) on one event loop, with one data dir holding each
 * role's state: pki/ (the cluster CA and a certificate per role, created on first start with
 * the `dragonfly cert` code, so the roles talk mutual TLS), manager/ (its database), seed/ and
 * peer/ (the peers' caches), and the peer's unix socket, dfdaemon.sock, where `dragonfly get`
 * looks by default. The scheduler registers with the manager; the seed finds the scheduler
 * through the manager (--manager, as a deployed seed does), so it registers and keeps alive
 * and the console lists it; the peer uses the scheduler directly, so that it works from the
 * first second (a get before the seed has its scheduler, within a second of the start, goes
 * to the origin itself). SIGTERM/SIGINT stops the peers first
 * (their LeaveHost reaches the scheduler), then the scheduler, then the manager.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df/df_conf.h"
#include "df/df_fs.h"
#include "df/df_proc.h"
#include "df/log.h"
#include "df/net_tls.h"
#include "df/roles.h"
#include "df/xmalloc.h"

#define CLI_UP_SCHED_PORT   8002
#define CLI_UP_METRICS_PORT 8000
#define CLI_UP_SEED_RPC     65006 /* the seed's ports: PEER_SEED_* */
#define CLI_UP_SEED_UPLOAD  65008
#define CLI_UP_PEER_RPC     65000 /* the peer's ports: PEER_DEFAULT_* */
#define CLI_UP_PEER_UPLOAD  65002
#define CLI_UP_SEED_PROXY   65007 /* the proxies: PEER_PROXY_SEED_PORT, PEER_PROXY_PORT */
#define CLI_UP_PEER_PROXY   65001
#define CLI_UP_SEED_METRICS 4008 /* the peers' metrics: PEER_SEED_METRICS_PORT, ... */
#define CLI_UP_PEER_METRICS 4002 /* ... PEER_DEFAULT_METRICS_PORT */
#define CLI_UP_MGR_REST     8080 /* the manager's REST API */
#define CLI_UP_MGR_RPC      65003
#define CLI_UP_PORTS        12 /* ports taken from --port-base */
#define CLI_UP_ARGS_MAX     64

struct cli_up_config {
    char *data_dir;
    char *ip;
    int64_t port_base;
    struct df_conf_list bts_allow;
    char *ready_file;
    int log_level;
    int log_format; /* enum log_format */
    char *log_file;
};

#define F(x) offsetof(struct cli_up_config, x)

static const struct df_conf_entry cli_up_entries[] = {
        {.key = "dataDir",
         .type = DF_CONF_STRING,
         .offset = F(data_dir),
         .def = "/var/lib/dragonfly",
         .metavar = "DIR",
         .help = "the cluster's state (created 0700): pki/, seed/, peer/ and the peer's socket "
                 "dfdaemon.sock, where `dragonfly get` looks by default"},
        {.key = "ip",
         .type = DF_CONF_STRING,
         .offset = F(ip),
         .def = "127.0.0.1",
         .metavar = "IP",
         .help = "address every role binds and advertises (the default serves this machine "
                 "only)"},
        {.key = "portBase",
         .type = DF_CONF_INT,
         .offset = F(port_base),
         .def = "0",
         .min = 0,
         .max = 65536 - CLI_UP_PORTS,
         .metavar = "N",
         .help = "0: the standard ports (scheduler 8002, its metrics 8000, seed 65006, 65008, "
                 "proxy 65007 and metrics 4008, peer 65000, 65002, proxy 65001 and metrics "
                 "4002); else N..N+9 in that order: scheduler, metrics, seed RPC, seed upload, "
                 "peer RPC, peer upload, seed proxy, peer proxy, seed metrics, peer metrics"},
        {.key = "backToSource.allow",
         .flag = "back-to-source-allow",
         .type = DF_CONF_LIST,
         .offset = F(bts_allow),
         .metavar = "NET",
         .help = "CIDRs, addresses and host names the seed may fetch from although denied by "
                 "default (loopback, link-local, this host's addresses)"},
        {.key = "readyFile",
         .type = DF_CONF_STRING,
         .offset = F(ready_file),
         .metavar = "PATH",
         .help = "write the bound addresses of every role as JSON here once listening"},
        LOG_CONF_ENTRIES(F(log_level), F(log_file)),
        LOG_FORMAT_CONF_ENTRY(F(log_format)),
};

#undef F

static const struct df_conf_spec cli_up_spec = {
        .cmd = "dragonfly up",
        .summary = "A one-machine cluster in one process: a scheduler, a seed peer and a peer on "
                   "one event loop, talking mutual TLS with certificates created in the data dir "
                   "on first start. Then `dragonfly get URL -O FILE` on this machine goes "
                   "through it. Ctrl-C or SIGTERM stops all three cleanly.",
        .entries = cli_up_entries,
        .n_entries = DF_NELEM(cli_up_entries),
        .size = sizeof(struct cli_up_config),
};

/* The process: its configuration, the roles' configurations and the roles. */
struct cli_up {
    struct cli_up_config cfg;
    char host[256]; /* the name in every certificate, announced by the peers */
    struct mgr_main_config *mgr_cfg;
    struct sched_main_config *sched_cfg;
    struct peer_config *seed_cfg, *peer_cfg;
    struct mgr *mgr;
    struct sched *sched;
    struct peer *seed, *peer;
    unsigned stopping; /* peers whose stop has not finished */
    void (*done)(void *);
    void *done_arg;
};

/* An argv under construction: strings borrowed (cli_up_arg) or owned (cli_up_argf). */
struct cli_up_argv {
    char *v[CLI_UP_ARGS_MAX + 1];
    char *own[CLI_UP_ARGS_MAX];
    int n, nown;
};

static void
cli_up_arg(struct cli_up_argv *a, const char *s)
{
    if (a->n < CLI_UP_ARGS_MAX)
        a->v[a->n++] = (char *)(uintptr_t)s;
    a->v[a->n] = NULL;
}

/* Append a formatted argument, owned by a until cli_up_argv_reset. */
static void __attribute__((format(printf, 2, 3)))
cli_up_argf(struct cli_up_argv *a, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    if (a->n >= CLI_UP_ARGS_MAX)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    s = xmalloc((size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    a->own[a->nown++] = s;
    cli_up_arg(a, s);
}

static void
cli_up_argv_reset(struct cli_up_argv *a)
{
    for (int i = 0; i < a->nown; i++)
        free(a->own[i]);
    a->n = a->nown = 0;
    a->v[0] = NULL;
}

/* The port of index i (0 scheduler, 1 metrics, 2 seed RPC, 3 seed upload, 4 peer RPC, 5 peer
 * upload, 6 seed proxy, 7 peer proxy, 8 seed metrics, 9 peer metrics, 10 manager REST, 11
 * manager RPC). */
static unsigned
cli_up_port(const struct cli_up *u, int i)
{
    static const unsigned std[CLI_UP_PORTS] = {
            CLI_UP_SCHED_PORT,   CLI_UP_METRICS_PORT, CLI_UP_SEED_RPC,   CLI_UP_SEED_UPLOAD,
            CLI_UP_PEER_RPC,     CLI_UP_PEER_UPLOAD,  CLI_UP_SEED_PROXY, CLI_UP_PEER_PROXY,
            CLI_UP_SEED_METRICS, CLI_UP_PEER_METRICS, CLI_UP_MGR_REST,   CLI_UP_MGR_RPC};

    return u->cfg.port_base == 0 ? std[i] : (unsigned)u->cfg.port_base + (unsigned)i;
}

/* The address ip:port of port i, as an argument. */
static void
cli_up_arg_addr(const struct cli_up *u, struct cli_up_argv *a, int i)
{
    if (strchr(u->cfg.ip, ':') != NULL)
        cli_up_argf(a, "[%s]:%u", u->cfg.ip, cli_up_port(u, i));
    else
        cli_up_argf(a, "%s:%u", u->cfg.ip, cli_up_port(u, i));
}

/*
 * The name in the certificates: kept in pki/host on first start, so that a later start
 * announces the name its certificates carry. The system's host name when it is a valid
 * one, else "localhost".
 */
static int
cli_up_host(struct cli_up *u, const char *path, struct df_error *err)
{
    char buf[256];
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1) {
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        if (!net_tls_host_is_valid(buf))
            return df_error_set(err, DF_EINVAL, "%s: not a host name", path);
        snprintf(u->host, sizeof(u->host), "%s", buf);
        return 0;
    }
    if (errno != ENOENT)
        return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    memset(buf, 0, sizeof(buf));
    if (gethostname(buf, sizeof(buf) - 1) != 0 || !net_tls_host_is_valid(buf))
        snprintf(buf, sizeof(buf), "localhost");
    snprintf(u->host, sizeof(u->host), "%s", buf);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1)
        return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    n = write(fd, u->host, strlen(u->host));
    if (close(fd) != 0 || n != (ssize_t)strlen(u->host))
        return df_error_set(err, DF_EIO, "%s: write failed", path);
    return 0;
}

/* Run `dragonfly cert` with a (then reset); its own message is on stderr when it fails. */
static int
cli_up_cert(struct cli_up_argv *a, struct df_error *err)
{
    int rv = cli_cert_main(a->n, a->v);

    cli_up_argv_reset(a);
    if (rv != 0)
        return df_error_set(err, DF_EIO, "cannot create the cluster certificates");
    return 0;
}

/* The CA and one certificate per role, each created when missing (never replaced). */
static int
cli_up_pki(struct cli_up *u, struct df_error *err)
{
    static const char *const roles[] = {"scheduler", "seed", "peer", "manager"};
    struct cli_up_argv a = {.n = 0};
    struct stat st;
    char *path;
    int rv;

    path = xasprintf("%s/pki", u->cfg.data_dir);
    rv = df_fs_dir_ensure_private(path, err);
    free(path);
    if (rv != 0)
        return rv;
    path = xasprintf("%s/pki/host", u->cfg.data_dir);
    rv = cli_up_host(u, path, err);
    free(path);
    if (rv != 0)
        return rv;
    path = xasprintf("%s/pki/ca/ca.crt", u->cfg.data_dir);
    rv = stat(path, &st);
    free(path);
    if (rv != 0) {
        cli_up_arg(&a, "cert");
        cli_up_arg(&a, "ca");
        cli_up_arg(&a, "--dir");
        cli_up_argf(&a, "%s/pki/ca", u->cfg.data_dir);
        if ((rv = cli_up_cert(&a, err)) != 0)
            return rv;
    }
    for (size_t i = 0; i < DF_NELEM(roles); i++) {
        path = xasprintf("%s/pki/%s.crt", u->cfg.data_dir, roles[i]);
        rv = stat(path, &st);
        free(path);
        if (rv == 0)
            continue;
        cli_up_arg(&a, "cert");
        cli_up_arg(&a, "issue");
        cli_up_arg(&a, "--dir");
        cli_up_argf(&a, "%s/pki/ca", u->cfg.data_dir);
        cli_up_arg(&a, "--role");
        cli_up_arg(&a, roles[i]);
        cli_up_arg(&a, "--host");
        cli_up_arg(&a, u->host);
        cli_up_arg(&a, "--ip");
        cli_up_arg(&a, u->cfg.ip);
        cli_up_arg(&a, "--out");
        cli_up_argf(&a, "%s/pki/%s", u->cfg.data_dir, roles[i]);
        if ((rv = cli_up_cert(&a, err)) != 0)
            return rv;
    }
    return 0;
}

/* The TLS flags of role: its certificate, key and the cluster CA. */
static void
cli_up_tls_args(const struct cli_up *u, const char *role, struct cli_up_argv *a)
{
    cli_up_arg(a, "--tls-cert");
    cli_up_argf(a, "%s/pki/%s.crt", u->cfg.data_dir, role);
    cli_up_arg(a, "--tls-key");
    cli_up_argf(a, "%s/pki/%s.key", u->cfg.data_dir, role);
    cli_up_arg(a, "--tls-ca");
    cli_up_argf(a, "%s/pki/ca/ca.crt", u->cfg.data_dir);
}

static int
cli_up_mgr_config(struct cli_up *u, struct df_error *err)
{
    struct cli_up_argv a = {.n = 0};

    cli_up_arg(&a, "manager");
    cli_up_arg(&a, "--listen");
    cli_up_arg_addr(u, &a, 10);
    cli_up_arg(&a, "--rpc-listen");
    cli_up_arg_addr(u, &a, 11);
    cli_up_arg(&a, "--data-dir");
    cli_up_argf(&a, "%s/manager", u->cfg.data_dir);
    cli_up_tls_args(u, "manager", &a);
    u->mgr_cfg = mgr_config_new(a.n, a.v, err);
    cli_up_argv_reset(&a);
    return u->mgr_cfg != NULL ? 0 : DF_EINVAL;
}

static int
cli_up_sched_config(struct cli_up *u, struct df_error *err)
{
    struct cli_up_argv a = {.n = 0};

    cli_up_arg(&a, "scheduler");
    cli_up_arg(&a, "--listen");
    cli_up_arg_addr(u, &a, 0);
    cli_up_arg(&a, "--metrics-listen");
    cli_up_arg_addr(u, &a, 1);
    /* registered with the manager under the name its certificate carries */
    cli_up_arg(&a, "--manager");
    cli_up_arg_addr(u, &a, 11);
    cli_up_arg(&a, "--hostname");
    cli_up_arg(&a, u->host);
    cli_up_tls_args(u, "scheduler", &a);
    u->sched_cfg = sched_config_new(a.n, a.v, err);
    cli_up_argv_reset(&a);
    return u->sched_cfg != NULL ? 0 : DF_EINVAL;
}

/* The seed (seed) or the peer's configuration into *out. */
static int
cli_up_peer_config(struct cli_up *u, bool seed, struct peer_config **out, struct df_error *err)
{
    const char *role = seed ? "seed" : "peer";
    struct cli_up_argv a = {.n = 0};

    if (u->cfg.bts_allow.n > (CLI_UP_ARGS_MAX - 32) / 2)
        return df_error_set(err, DF_EINVAL, "at most %d --back-to-source-allow",
                            (CLI_UP_ARGS_MAX - 32) / 2);
    cli_up_arg(&a, role);
    cli_up_arg(&a, "--data-dir");
    cli_up_argf(&a, "%s/%s", u->cfg.data_dir, role);
    cli_up_arg(&a, "--socket");
    cli_up_argf(&a, "%s%s/dfdaemon.sock", u->cfg.data_dir, seed ? "/seed" : "");
    cli_up_arg(&a, "--ip");
    cli_up_arg(&a, u->cfg.ip);
    cli_up_arg(&a, "--hostname");
    cli_up_arg(&a, u->host);
    cli_up_arg(&a, "--rpc-port");
    cli_up_argf(&a, "%u", cli_up_port(u, seed ? 2 : 4));
    cli_up_arg(&a, "--upload-port");
    cli_up_argf(&a, "%u", cli_up_port(u, seed ? 3 : 5));
    cli_up_arg(&a, "--proxy-listen");
    cli_up_argf(&a, "%u", cli_up_port(u, seed ? 6 : 7));
    cli_up_arg(&a, "--metrics-port");
    cli_up_argf(&a, "%u", cli_up_port(u, seed ? 8 : 9));
    /* the seed finds the scheduler through the manager, as a deployed seed does, and so
     * registers and keeps alive: the console lists it; the peer is pointed at the scheduler */
    cli_up_arg(&a, seed ? "--manager" : "--scheduler");
    cli_up_arg_addr(u, &a, seed ? 11 : 0);
    for (size_t i = 0; i < u->cfg.bts_allow.n; i++) {
        cli_up_arg(&a, "--back-to-source-allow");
        cli_up_arg(&a, u->cfg.bts_allow.v[i]);
    }
    cli_up_tls_args(u, role, &a);
    *out = peer_config_new(seed, a.n, a.v, err);
    cli_up_argv_reset(&a);
    return *out != NULL ? 0 : DF_EINVAL;
}

static int
cli_up_start(void *arg, struct event_base *base, struct df_error *err)
{
    struct cli_up *u = arg;

    if ((u->mgr = mgr_new(base, u->mgr_cfg, err)) == NULL ||
        (u->sched = sched_new(base, u->sched_cfg, err)) == NULL ||
        (u->seed = peer_new(base, u->seed_cfg, err)) == NULL ||
        (u->peer = peer_new(base, u->peer_cfg, err)) == NULL)
        return 1;
    return 0;
}

static void
cli_up_ready(void *arg, cJSON *doc)
{
    struct cli_up *u = arg;

    mgr_addrs(u->mgr, cJSON_AddObjectToObject(doc, "manager"));
    sched_addrs(u->sched, cJSON_AddObjectToObject(doc, "scheduler"));
    peer_addrs(u->seed, cJSON_AddObjectToObject(doc, "seed"));
    peer_addrs(u->peer, cJSON_AddObjectToObject(doc, "peer"));
}

/* The string at obj.key of a document we built, or "-". */
static const char *
cli_up_str(const cJSON *obj, const char *key)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));

    return v != NULL ? v : "-";
}

/* The addresses served, on stdout, once everything listens. */
static void
cli_up_started(void *arg)
{
    struct cli_up *u = arg;
    cJSON *d = cJSON_CreateObject(), *s, *sd, *p, *m;

    cli_up_ready(u, d);
    m = cJSON_GetObjectItemCaseSensitive(d, "manager");
    s = cJSON_GetObjectItemCaseSensitive(d, "scheduler");
    sd = cJSON_GetObjectItemCaseSensitive(d, "seed");
    p = cJSON_GetObjectItemCaseSensitive(d, "peer");
    printf("dragonfly up: a manager, a scheduler, a seed peer and a peer in pid %ld, data dir "
           "%s\n"
           "  manager    REST http://%s/api/v1 (root / dragonfly), rpc %s (mTLS)\n"
           "  scheduler  rpc %s (mTLS), metrics http://%s/metrics\n"
           "  seed peer  rpc %s (mTLS), upload %s (mTLS), registry mirror http://%s,\n"
           "             metrics http://%s/metrics\n"
           "  peer       rpc %s (mTLS), upload %s (mTLS), registry mirror http://%s,\n"
           "             metrics http://%s/metrics, local socket %s/dfdaemon.sock\n",
           (long)getpid(), u->cfg.data_dir, cli_up_str(m, "rest"), cli_up_str(m, "rpc"),
           cli_up_str(s, "rpc"), cli_up_str(s, "metrics"), cli_up_str(sd, "rpc"),
           cli_up_str(sd, "upload"), cli_up_str(sd, "proxy"), cli_up_str(sd, "metrics"),
           cli_up_str(p, "rpc"), cli_up_str(p, "upload"), cli_up_str(p, "proxy"),
           cli_up_str(p, "metrics"), u->cfg.data_dir);
    if (strcmp(u->cfg.data_dir, "/var/lib/dragonfly") == 0)
        printf("fetch through it: dragonfly get URL -O FILE\n");
    else
        printf("fetch through it: dragonfly get --socket %s/dfdaemon.sock URL -O FILE\n",
               u->cfg.data_dir);
    fflush(stdout);
    cJSON_Delete(d);
}

/* The scheduler has stopped (its keepalive ended): now the manager. */
static void
cli_up_sched_stopped(void *arg)
{
    struct cli_up *u = arg;

    mgr_stop(u->mgr, u->done, u->done_arg);
}

/* Both peers have stopped: now the scheduler. */
static void
cli_up_peer_stopped(void *arg)
{
    struct cli_up *u = arg;

    if (--u->stopping == 0)
        sched_stop(u->sched, cli_up_sched_stopped, u);
}

static void
cli_up_stop(void *arg, void (*done)(void *), void *done_arg)
{
    struct cli_up *u = arg;

    u->done = done;
    u->done_arg = done_arg;
    u->stopping = 2;
    peer_stop(u->peer, cli_up_peer_stopped, u);
    peer_stop(u->seed, cli_up_peer_stopped, u);
}

static void
cli_up_free(void *arg)
{
    struct cli_up *u = arg;

    peer_free(u->peer);
    peer_free(u->seed);
    sched_free(u->sched);
    mgr_free(u->mgr);
    u->peer = u->seed = NULL;
    u->sched = NULL;
    u->mgr = NULL;
}

/* Everything before the loop: the data dir, the certificates, each role's configuration. */
static int
cli_up_prepare(struct cli_up *u, struct df_error *err)
{
    unsigned char addr[16];
    char *abs;
    int rv;

    if (inet_pton(AF_INET, u->cfg.ip, addr) != 1 && inet_pton(AF_INET6, u->cfg.ip, addr) != 1)
        return df_error_set(err, DF_EINVAL, "--ip: expected an IP address, got \"%.64s\"",
                            u->cfg.ip);
    if (u->cfg.data_dir[0] == '\0')
        return df_error_set(err, DF_EINVAL, "--data-dir: empty");
    if ((rv = df_fs_dir_ensure_private(u->cfg.data_dir, err)) != 0)
        return rv;
    /* Absolute, so that what is printed (the socket) works from any directory. */
    if ((abs = realpath(u->cfg.data_dir, NULL)) == NULL)
        return df_error_set(err, DF_EIO, "%s: %s", u->cfg.data_dir, strerror(errno));
    free(u->cfg.data_dir);
    u->cfg.data_dir = abs;
    if ((rv = cli_up_pki(u, err)) != 0 || (rv = cli_up_mgr_config(u, err)) != 0 ||
        (rv = cli_up_sched_config(u, err)) != 0 ||
        (rv = cli_up_peer_config(u, true, &u->seed_cfg, err)) != 0 ||
        (rv = cli_up_peer_config(u, false, &u->peer_cfg, err)) != 0)
        return rv;
    return 0;
}

int
cli_up_main(int argc, char **argv)
{
    struct cli_up u;
    struct df_proc_daemon d;
    struct df_conf_args args;
    struct df_error err;
    char *json;
    int rv = 0;

    memset(&u, 0, sizeof(u));
    memset(&args, 0, sizeof(args));
    if (df_conf_load(&cli_up_spec, &u.cfg, argc, argv, &args, &err) != 0) {
        fprintf(stderr, "dragonfly up: %s\n", err.msg);
        return 2;
    }
    if (args.help || args.check_config) {
        if (args.help) {
            df_conf_usage(&cli_up_spec, stdout);
        } else {
            json = df_conf_to_json(&cli_up_spec, &u.cfg);
            printf("%s\n", json);
            free(json);
        }
        goto out;
    }
    if ((rv = cli_up_prepare(&u, &err)) != 0) {
        fprintf(stderr, "dragonfly up: %s\n", err.msg);
        rv = rv == DF_EINVAL ? 2 : 1;
        goto out;
    }
    memset(&d, 0, sizeof(d));
    d.cmd = "dragonfly up";
    d.component = "up";
    d.log_level = u.cfg.log_level;
    d.log_format = u.cfg.log_format;
    d.log_file = u.cfg.log_file;
    d.ready_file = u.cfg.ready_file;
    d.start = cli_up_start;
    d.ready = cli_up_ready;
    d.started = cli_up_started;
    d.stop = cli_up_stop;
    d.free = cli_up_free;
    d.arg = &u;
    rv = df_proc_daemon_run(&d);
out:
    df_conf_args_reset(&args);
    peer_config_free(u.peer_cfg);
    peer_config_free(u.seed_cfg);
    sched_config_free(u.sched_cfg);
    mgr_config_free(u.mgr_cfg);
    df_conf_reset(&cli_up_spec, &u.cfg);
    return rv;
}
