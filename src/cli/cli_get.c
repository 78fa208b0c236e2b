/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly get URL -O FILE` (dfget): asks the local peer over its unix socket to download
 * URL, shows progress, and exits 0 only when FILE is in place with the content's length.
 * The output is ours, not the peer's: get creates the temp file .FILE.dragonfly-XXXX beside
 * FILE (with our rights and umask), passes its descriptor with the connection's first byte
 * (SCM_RIGHTS), and when the peer reports the content written and verified, fsyncs it,
 * renames it over FILE and fsyncs the directory; on any failure or SIGINT/SIGTERM it is
 * unlinked. `-O -` passes standard output instead, which then gets the bytes in order as
 * they are verified. If no peer answers on the socket, one is started in the background as
 * dfget does: it says so, listens on loopback only and stops once idle.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_conf.h"
#include "df/df_digest.h"
#include "df/df_json.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_connect.h"
#include "df/net_listener.h"
#include "df/proto_dfdaemon.h"
#include "df/proto_sched.h"
#include "df/roles.h"
#include "df/rpc_client.h"
#include "df/xmalloc.h"

struct cli_get_config {
    char *output;
    char *digest;
    char *tag;
    char *application;
    struct df_conf_list headers;
    char *filtered;
    int64_t timeout;
    bool no_progress;
    bool insecure;
    bool disable_back_to_source;
    int64_t priority;
    char *socket;
    char *data_dir;
    char *peer_config;
};

#define F(x) offsetof(struct cli_get_config, x)

static const struct df_conf_entry cli_get_entries[] = {
        {.key = "output",
         .short_flag = 'O',
         .type = DF_CONF_STRING,
         .offset = F(output),
         .metavar = "FILE",
         .help = "where to write the content (required; - for standard output)"},
        {.key = "digest",
         .type = DF_CONF_STRING,
         .offset = F(digest),
         .metavar = "sha256:HEX",
         .help = "expected digest of the whole content"},
        {.key = "tag",
         .type = DF_CONF_STRING,
         .offset = F(tag),
         .help = "tag that separates tasks of the same URL"},
        {.key = "application",
         .type = DF_CONF_STRING,
         .offset = F(application),
         .help = "application name, part of the task id"},
        {.key = "header",
         .short_flag = 'H',
         .type = DF_CONF_LIST,
         .offset = F(headers),
         .metavar = "'Name: value'",
         .help = "header for the origin (repeatable)"},
        {.key = "filteredQueryParams",
         .flag = "filtered-query-params",
         .type = DF_CONF_STRING,
         .offset = F(filtered),
         .metavar = "a&b",
         .help = "query parameters left out of the task id"},
        {.key = "timeout",
         .type = DF_CONF_DURATION,
         .offset = F(timeout),
         .def = "2h",
         .min = 1,
         .max = INT32_MAX,
         .help = "give up after this long"},
        {.key = "noProgress",
         .flag = "no-progress",
         .type = DF_CONF_BOOL,
         .offset = F(no_progress),
         .help = "no progress bar, only a final line"},
        {.key = "insecure",
         .type = DF_CONF_BOOL,
         .offset = F(insecure),
         .help = "do not verify the origin's TLS certificate"},
        {.key = "disableBackToSource",
         .flag = "disable-back-to-source",
         .type = DF_CONF_BOOL,
         .offset = F(disable_back_to_source),
         .help = "fail rather than download from the origin"},
        {.key = "priority",
         .short_flag = 'p',
         .type = DF_CONF_INT,
         .offset = F(priority),
         .def = "6", /* PROTO_PRIORITY_DEFAULT, upstream dfget's */
         .min = 0,
         .max = PROTO_PRIORITY_MAX,
         .metavar = "0-6",
         .help = "the scheduler's first fetch of a new task: 0 lets the manager's application "
                 "decide, 1 forbids it, 2 only from peers, 3 from the origin by this peer, "
                 "4-6 through a seed peer"},
        {.key = "socket",
         .type = DF_CONF_STRING,
         .offset = F(socket),
         .def = "/var/lib/dragonfly/dfdaemon.sock",
         .metavar = "PATH",
         .help = "the local peer's unix socket"},
        {.key = "dataDir",
         .type = DF_CONF_STRING,
         .offset = F(data_dir),
         .def = "/var/lib/dragonfly",
         .metavar = "DIR",
         .help = "data dir of a peer started when none answers"},
        {.key = "peerConfig",
         .flag = "peer-config",
         .type = DF_CONF_STRING,
         .offset = F(peer_config),
         .metavar = "FILE",
         .help = "config file (`dragonfly peer -c`) of a peer started when none answers; "
                 "--data-dir and --socket win over it"},
};

static const struct df_conf_spec cli_get_spec = {
        .cmd = "dragonfly get",
        .args = "URL",
        .summary = "Download URL into FILE through the local peer (P2P, cached, verified).",
        .entries = cli_get_entries,
        .n_entries = DF_NELEM(cli_get_entries),
        .size = sizeof(struct cli_get_config),
        .max_args = 1,
};

struct cli_get {
    struct event_base *base;
    struct cli_get_config cfg;
    char *output; /* absolute, or "-" */
    bool to_stdout;
    char *dir;          /* the output's directory */
    char *tmp;          /* our temp file beside the output while it exists */
    int out_fd;         /* the descriptor the peer writes into (the temp file, or 1) */
    uint64_t out_bytes; /* what the peer says it wrote */
    bool has_out_bytes;
    bool tty;
    uint64_t total, done, from_source, from_peers;
    char parents[400]; /* "ip bytes, ip (seed) bytes, ..." of the finished task */
    bool has_total;
    double start;
    double last_draw;
    int rv; /* exit status */
    char msg[700];
};

static const char *
cli_get_bytes(double v, char *buf, size_t len)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;

    while (v >= 1024.0 && i < 4) {
        v /= 1024.0;
        i++;
    }
    snprintf(buf, len, i == 0 ? "%.0f%s" : "%.1f%s", v, u[i]);
    return buf;
}

/* Sum and describe the per-parent byte counts (bytesFromPeers). */
static void
cli_get_parents(struct cli_get *g, const struct proto_dfdaemon_download_resp *r)
{
    size_t n = 0;
    bool full = false;

    g->from_peers = 0;
    g->parents[0] = '\0';
    for (size_t i = 0; i < r->nfrom; i++) {
        const struct proto_dfdaemon_download_from *f = &r->from[i];
        char b[32];
        int k;

        g->from_peers += f->bytes;
        if (full)
            continue;
        k = snprintf(g->parents + n, sizeof(g->parents) - n, "%s%s%s %s", n > 0 ? ", " : "", f->ip,
                     f->is_seed ? " (seed)" : "", cli_get_bytes((double)f->bytes, b, sizeof(b)));
        if (k < 0 || (size_t)k >= sizeof(g->parents) - n - sizeof(", ...")) {
            /* No room: drop the partial entry and say there are more. */
            snprintf(g->parents + n, sizeof(g->parents) - n, ", ...");
            full = true;
            continue;
        }
        n += (size_t)k;
    }
}

static void
cli_get_draw(struct cli_get *g, bool final)
{
    double now = (double)df_time_mono_us() / 1e6, el = now - g->start, rate;
    char a[32], b[32], r[32], bar[41];
    int pct, fill;

    if (!g->tty || g->cfg.no_progress || (!final && now - g->last_draw < 0.1))
        return;
    g->last_draw = now;
    rate = el > 0 ? (double)g->done / el : 0;
    if (g->has_total && g->total > 0) {
        pct = (int)((double)g->done * 100.0 / (double)g->total);
        fill = pct * 40 / 100;
        memset(bar, '=', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(40 - fill));
        bar[40] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %s/%s %s/s ETA %.0fs   ", bar, pct,
                cli_get_bytes((double)g->done, a, sizeof(a)),
                cli_get_bytes((double)g->total, b, sizeof(b)), cli_get_bytes(rate, r, sizeof(r)),
                rate > 0 ? (double)(g->total - g->done) / rate : 0.0);
    } else
        fprintf(stderr, "\r%s %s/s   ", cli_get_bytes((double)g->done, a, sizeof(a)),
                cli_get_bytes(rate, r, sizeof(r)));
    if (final)
        fputc('\n', stderr);
}

static void
cli_get_on_message(struct rpc_client_call *s, const cJSON *msg, void *arg)
{
    struct cli_get *g = arg;
    struct proto_dfdaemon_download_resp r;
    struct df_error err;

    (void)s;
    memset(&r, 0, sizeof(r));
    if (proto_dfdaemon_download_resp_from_json(msg, &r, &err) != 0) {
        log_debug("cli", "get: answer ignored: %s", err.msg);
        return;
    }
    if (r.has_content_length) {
        g->total = r.content_length;
        g->has_total = true;
    }
    if (r.kind == PROTO_DOWNLOAD_PROGRESS)
        g->done = r.finished_bytes;
    if (r.kind == PROTO_DOWNLOAD_FINISHED) {
        g->from_source = r.bytes_from_source;
        if (r.has_output_bytes) {
            g->out_bytes = r.output_bytes;
            g->has_out_bytes = true;
        }
        cli_get_parents(g, &r);
        g->done = g->total;
    }
    proto_dfdaemon_download_resp_reset(&r);
    cli_get_draw(g, false);
}

static void
cli_get_on_close(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    struct cli_get *g = arg;

    (void)s;
    if (st->code == RPC_OK) {
        if (!g->has_total || !g->has_out_bytes || g->out_bytes != g->total) {
            g->rv = 1;
            snprintf(g->msg, sizeof(g->msg),
                     "the peer reported success but wrote %" PRIu64 " of %" PRIu64 " bytes",
                     g->out_bytes, g->total);
        } else
            g->rv = 0;
    } else {
        g->rv = 1;
        if (st->code == RPC_DEADLINE_EXCEEDED &&
            (double)df_time_mono_us() / 1e6 - g->start >= (double)g->cfg.timeout / 1000.0 - 0.5)
            snprintf(g->msg, sizeof(g->msg), "timed out after %" PRId64 " s",
                     g->cfg.timeout / 1000);
        else if (strncmp(st->message, "output: ", 8) == 0)
            /* The peer could not write into our descriptor: name the flag. */
            snprintf(g->msg, sizeof(g->msg), "--output %s: %s", g->cfg.output, st->message + 8);
        else if (strcmp(st->message, PROTO_SCHED_PRIORITY_FORBIDDEN) == 0 ||
                 strcmp(st->message, PROTO_SCHED_PRIORITY_NO_PEERS) == 0)
            /* a new task refused at its priority: say whose level that was */
            snprintf(g->msg, sizeof(g->msg),
                     "%s: the scheduler refuses a first download at this priority (-p %" PRId64
                     "%s)",
                     st->message, g->cfg.priority,
                     g->cfg.priority == 0 ? ": the level of the manager's application" : "");
        else
            snprintf(g->msg, sizeof(g->msg), "%s",
                     st->message[0] != '\0' ? st->message : rpc_err_name(st->code));
    }
    event_base_loopexit(g->base, NULL);
}

/* SIGINT or SIGTERM: stop; the temp file goes with the rest of the cleanup. */
static void
cli_get_signal_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cli_get *g = arg;

    (void)what;
    g->rv = 128 + (int)fd;
    snprintf(g->msg, sizeof(g->msg), fd == SIGINT ? "interrupted" : "terminated");
    event_base_loopexit(g->base, NULL);
}

/* Connect to the unix socket at path: 0 if something accepts, else the errno of the failure. */
static int
cli_get_socket_probe(const char *path)
{
    struct sockaddr_un un;
    int fd, rv;

    if (strlen(path) >= sizeof(un.sun_path))
        return ENAMETOOLONG;
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
        return errno;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, path, strlen(path) + 1);
    rv = connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0 ? 0 : errno;
    close(fd);
    return rv;
}

/* Append what the starting peer wrote on its stderr (a pipe) to msg; false at EOF. */
static bool
cli_get_spawn_read(int fd, char *msg, size_t *mlen, size_t msize)
{
    char buf[512];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        size_t take = (size_t)n < msize - 1 - *mlen ? (size_t)n : msize - 1 - *mlen;
        memcpy(msg + *mlen, buf, take);
        *mlen += take;
        msg[*mlen] = '\0';
    }
    return n != 0;
}

/* The first line of what the peer said, without its "dragonfly peer: " prefix. */
static const char *
cli_get_spawn_msg(char *msg)
{
    const char *p = msg, *prefix = "dragonfly peer: ";

    msg[strcspn(msg, "\n")] = '\0';
    if (strncmp(p, prefix, strlen(prefix)) == 0)
        p += strlen(prefix);
    return p;
}

/* The pid the peer that holds data_dir wrote into its lock file, or 0. */
static long
cli_get_lock_pid(const char *data_dir)
{
    char path[PATH_MAX], buf[32];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", data_dir, DF_PEER_LOCK_FILE);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return strtol(buf, NULL, 10);
}

/*
 * Start `dragonfly peer --auto-started` in the background (loopback only and a stop when
 * idle, unless --peer-config says otherwise), wait for its socket, and say on stderr that
 * it started. Until then its stderr is a pipe to us, so an early exit is told with the
 * peer's own message; a peer that lost its data dir to another one starting at the same
 * time (a concurrent get) exits DF_EXIT_PEER_LOCKED and we wait for the other. The peer is
 * our child in its own session: it outlives us, reparented.
 */
static int
cli_get_spawn_peer(const struct cli_get_config *cfg, char *why, size_t whylen)
{
    char self[PATH_MAX], logp[PATH_MAX], msg[600] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *argv[14];
    struct stat st;
    size_t k = 0, mlen = 0;
    int pipefd[2] = {-1, -1}, status, rv = -1;
    bool open_pipe = true, locked = false;
    pid_t pid;

    if (n <= 0) {
        snprintf(why, whylen, "no peer on %s, and cannot find our own binary to start one",
                 cfg->socket);
        goto out;
    }
    self[n] = '\0';
    snprintf(logp, sizeof(logp), "%s/peer.log", cfg->data_dir);
    argv[k++] = self;
    argv[k++] = "peer";
    argv[k++] = "--auto-started";
    if (cfg->peer_config != NULL) {
        argv[k++] = "-c";
        argv[k++] = cfg->peer_config;
    }
    argv[k++] = "--data-dir";
    argv[k++] = cfg->data_dir;
    argv[k++] = "--socket";
    argv[k++] = cfg->socket;
    argv[k++] = "--log-file";
    argv[k++] = logp;
    argv[k] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) == -1 || fcntl(pipefd[0], F_SETFL, O_NONBLOCK) == -1) {
        snprintf(why, whylen, "no peer on %s, and pipe: %s", cfg->socket, strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid == -1) {
        snprintf(why, whylen, "no peer on %s, and fork: %s", cfg->socket, strerror(errno));
        goto out;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        setsid();
        if (fd != -1) {
            dup2(fd, 0);
            dup2(fd, 1);
        }
        dup2(pipefd[1], 2);
        mkdir(cfg->data_dir, 0700);
        execv(self, (char *const *)(uintptr_t)argv);
        dprintf(2, "dragonfly peer: cannot run %s: %s\n", self, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    for (int i = 0; i < 200; i++) {
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};

        if (cli_get_socket_probe(cfg->socket) == 0) {
            /* Not when a peer started at the same time answers rather than ours. */
            if (cli_get_lock_pid(cfg->data_dir) == (long)pid)
                fprintf(stderr, "dragonfly get: started a peer: pid %ld, data dir %s, log %s\n",
                        (long)pid, cfg->data_dir, logp);
            rv = 0;
            goto out;
        }
        if (open_pipe)
            open_pipe = cli_get_spawn_read(pipefd[0], msg, &mlen, sizeof(msg));
        if (!locked && waitpid(pid, &status, WNOHANG) == pid) {
            for (int j = 0; open_pipe && j < 20; j++)
                if ((open_pipe = cli_get_spawn_read(pipefd[0], msg, &mlen, sizeof(msg))))
                    poll(&pfd, 1, 50);
            locked = WIFEXITED(status) && WEXITSTATUS(status) == DF_EXIT_PEER_LOCKED;
            if (!locked) {
                bool has_log = stat(logp, &st) == 0;

                snprintf(why, whylen,
                         "no peer on %s, and the peer it started exited: %.300s%s%.280s%s",
                         cfg->socket, msg[0] != '\0' ? cli_get_spawn_msg(msg) : "no message",
                         has_log ? " (see " : "", has_log ? logp : "", has_log ? ")" : "");
                goto out;
            }
        }
        poll(open_pipe ? &pfd : NULL, open_pipe ? 1 : 0, 50);
    }
    if (locked)
        snprintf(why, whylen, "no peer answers on %s: %.400s", cfg->socket, cli_get_spawn_msg(msg));
    else
        snprintf(why, whylen, "started a peer (pid %ld) but it did not answer on %s (see %.300s)",
                 (long)pid, cfg->socket, logp);
out:
    if (pipefd[0] != -1)
        close(pipefd[0]);
    if (pipefd[1] != -1)
        close(pipefd[1]);
    return rv;
}

/*
 * Make sure a peer answers on the socket: start one if there is none (no socket file, or a
 * stale one), but not when the socket belongs to someone we may not talk to. On failure,
 * why holds the line to print.
 */
static int
cli_get_peer_connect(const struct cli_get_config *cfg, char *why, size_t whylen)
{
    int e = cli_get_socket_probe(cfg->socket);

    if (e == 0)
        return 0;
    if (e == EACCES || e == EPERM) {
        snprintf(why, whylen,
                 "permission denied on %s: %s (it or its directory belongs to another user: "
                 "run as that user, or use a --socket and --data-dir of your own)",
                 cfg->socket, strerror(e));
        return -1;
    }
    if (e != ENOENT && e != ECONNREFUSED) {
        snprintf(why, whylen, "cannot connect to %s: %s", cfg->socket, strerror(e));
        return -1;
    }
    return cli_get_spawn_peer(cfg, why, whylen);
}

/* Read --header values ("Name: value") into d. Returns false with a message on a bad one. */
static bool
cli_get_headers(const struct cli_get *g, struct proto_dfdaemon_download *d, char *why,
                size_t whylen)
{
    d->headers = xcalloc(g->cfg.headers.n > 0 ? g->cfg.headers.n : 1, sizeof(*d->headers));
    for (size_t i = 0; i < g->cfg.headers.n; i++) {
        const char *hv = g->cfg.headers.v[i], *colon = strchr(hv, ':');

        if (colon == NULL || colon == hv) {
            snprintf(why, whylen, "--header '%s': expected 'Name: value'", hv);
            return false;
        }
        d->headers[i].name = xstrndup(hv, (size_t)(colon - hv));
        for (colon++; *colon == ' ' || *colon == '\t'; colon++)
            ;
        d->headers[i].value = xstrdup(colon);
        d->nheaders++;
    }
    return true;
}

/* Build the DownloadTask request; NULL with a message on a bad flag. */
static cJSON *
cli_get_request(struct cli_get *g, const char *url, char *why, size_t whylen)
{
    struct proto_dfdaemon_download d;
    struct df_error err;
    cJSON *req = NULL;

    memset(&d, 0, sizeof(d));
    d.url = xstrdup(url);
    d.output_fd = true;
    /* our temp file may be started over (a digest mismatch refetched); stdout cannot */
    d.output_rewind = !g->to_stdout;
    if (g->cfg.digest != NULL) {
        if (df_digest_parse(g->cfg.digest, &d.digest, &err) != 0) {
            snprintf(why, whylen, "--digest: %s", err.msg);
            goto out;
        }
        d.has_digest = true;
    }
    d.tag = g->cfg.tag != NULL ? xstrdup(g->cfg.tag) : NULL;
    d.application = g->cfg.application != NULL ? xstrdup(g->cfg.application) : NULL;
    d.filtered = g->cfg.filtered != NULL ? xstrdup(g->cfg.filtered) : NULL;
    d.insecure = g->cfg.insecure;
    d.disable_back_to_source = g->cfg.disable_back_to_source;
    d.priority = (uint32_t)g->cfg.priority;
    if (!cli_get_headers(g, &d, why, whylen))
        goto out;
    req = cJSON_CreateObject();
    if (req == NULL || !proto_dfdaemon_download_to_json(req, &d)) {
        snprintf(why, whylen, "out of memory");
        cJSON_Delete(req);
        req = NULL;
    }
out:
    proto_dfdaemon_download_reset(&d);
    return req;
}

/* A path made absolute against the working directory (the peer runs elsewhere). */
static char *
cli_get_abs(const char *out, char *why, size_t whylen)
{
    char cwd[PATH_MAX];

    if (out[0] == '/')
        return xstrdup(out);
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        snprintf(why, whylen, "getcwd: %s", strerror(errno));
        return NULL;
    }
    return xasprintf("%s/%s", cwd, out);
}

/* Replace *path (owned, may be NULL) with its absolute form. */
static int
cli_get_abs_take(char **path, char *why, size_t whylen)
{
    char *abs;

    if (*path == NULL || (*path)[0] == '/')
        return 0;
    if ((abs = cli_get_abs(*path, why, whylen)) == NULL)
        return -1;
    free(*path);
    *path = abs;
    return 0;
}

/*
 * Check --output before anything starts: "-" must be writable standard output; a file must
 * not name a directory, and its directory must let us create the temp file. 0, or -1 with a
 * message naming the flag.
 */
static int
cli_get_output_check(struct cli_get *g, char *why, size_t whylen)
{
    const char *slash;
    struct stat st;
    int fl;

    if (strcmp(g->cfg.output, "-") == 0) {
        g->to_stdout = true;
        g->output = xstrdup("-");
        fl = fcntl(STDOUT_FILENO, F_GETFL);
        if (fl == -1 || (fl & O_ACCMODE) == O_RDONLY) {
            snprintf(why, whylen, "--output -: standard output is not open for writing");
            return -1;
        }
        return 0;
    }
    if ((g->output = cli_get_abs(g->cfg.output, why, whylen)) == NULL)
        return -1;
    slash = strrchr(g->output, '/');
    if (slash[1] == '\0' || (stat(g->output, &st) == 0 && S_ISDIR(st.st_mode))) {
        snprintf(why, whylen, "--output %s: is a directory", g->cfg.output);
        return -1;
    }
    g->dir = slash == g->output ? xstrdup("/") : xstrndup(g->output, (size_t)(slash - g->output));
    if (stat(g->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "--output %s: %s: %s", g->cfg.output, g->dir,
                 stat(g->dir, &st) != 0 ? strerror(errno) : "not a directory");
        return -1;
    }
    if (access(g->dir, W_OK | X_OK) != 0) {
        snprintf(why, whylen, "--output %s: cannot create a file in %s: %s", g->cfg.output, g->dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Create our temp file beside the output (O_EXCL, 0666 & ~umask, like curl -o). */
static int
cli_get_output_open(struct cli_get *g, char *why, size_t whylen)
{
    const char *name;
    uint8_t rnd[6];

    if (g->to_stdout) {
        g->out_fd = STDOUT_FILENO;
        return 0;
    }
    name = strrchr(g->output, '/') + 1;
    for (int i = 0; i < 100; i++) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
            snprintf(why, whylen, "getrandom: %s", strerror(errno));
            return -1;
        }
        free(g->tmp);
        g->tmp = xasprintf("%s/.%s.dragonfly-%02x%02x%02x%02x%02x%02x",
                           strcmp(g->dir, "/") == 0 ? "" : g->dir, name, rnd[0], rnd[1], rnd[2],
                           rnd[3], rnd[4], rnd[5]);
        g->out_fd = open(g->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (g->out_fd != -1)
            return 0;
        if (errno != EEXIST)
            break;
    }
    snprintf(why, whylen, "--output %s: cannot create a file in %s: %s", g->cfg.output, g->dir,
             strerror(errno));
    DF_FREE(g->tmp, free);
    return -1;
}

/* The peer wrote everything: make the temp file durable, put it in place, sync the dir. */
static int
cli_get_output_commit(struct cli_get *g, char *why, size_t whylen)
{
    struct stat st;
    int dfd = -1, rv = -1;

    if (g->to_stdout)
        return 0;
    if (fstat(g->out_fd, &st) != 0 || (uint64_t)st.st_size != g->total) {
        snprintf(why, whylen, "--output %s: the file has %jd of %" PRIu64 " bytes", g->cfg.output,
                 (intmax_t)st.st_size, g->total);
        goto out;
    }
    if (fsync(g->out_fd) != 0 || rename(g->tmp, g->output) != 0) {
        snprintf(why, whylen, "--output %s: %s", g->cfg.output, strerror(errno));
        goto out;
    }
    DF_FREE(g->tmp, free); /* in place: nothing to clean up any more */
    if ((dfd = open(g->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(dfd) != 0) {
        snprintf(why, whylen, "--output %s: sync directory %s: %s", g->cfg.output, g->dir,
                 strerror(errno));
        goto out;
    }
    rv = 0;
out:
    if (dfd != -1)
        close(dfd);
    return rv;
}

/* rpc_client: the first byte of each connection carries our output descriptor. */
static int
cli_get_pass_fd(int sock, void *arg)
{
    struct cli_get *g = arg;

    return net_listener_send_fd(sock, g->out_fd);
}

int
cli_get_main(int argc, char **argv)
{
    static const struct rpc_client_stream_cbs cbs = {cli_get_on_message, cli_get_on_close};
    struct cli_get g;
    struct df_conf_args args;
    struct df_error err;
    struct rpc_client_opts opts;
    struct rpc_client *client = NULL;
    struct rpc_client_call *call = NULL;
    struct evdns_base *dns = NULL;
    static const int sigs[] = {SIGINT, SIGTERM};
    struct event *sigev[2] = {NULL, NULL};
    cJSON *req = NULL;
    char why[700] = "", addr[PATH_MAX + 8], a[32];
    double el;
    int rv = 1;

    memset(&g, 0, sizeof(g));
    g.out_fd = -1;
    memset(&args, 0, sizeof(args));
    if (df_conf_load(&cli_get_spec, &g.cfg, argc, argv, &args, &err) != 0) {
        fprintf(stderr, "dragonfly get: %s\n", err.msg);
        return 2;
    }
    if (args.help) {
        df_conf_usage(&cli_get_spec, stdout);
        rv = 0;
        goto out;
    }
    if (args.n_pos != 1 || g.cfg.output == NULL || g.cfg.output[0] == '\0') {
        fprintf(stderr, "dragonfly get: %s\nusage: dragonfly get URL -O FILE [flags]\n",
                args.n_pos != 1 ? "a URL is required" : "-O FILE is required");
        rv = 2;
        goto out;
    }
    log_init("get", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    log_route_libevent();
    g.tty = isatty(2) != 0;
    if (cli_get_output_check(&g, why, sizeof(why)) != 0) {
        fprintf(stderr, "dragonfly get: %s\n", why);
        goto out;
    }
    if (cli_get_abs_take(&g.cfg.socket, why, sizeof(why)) != 0 ||
        cli_get_abs_take(&g.cfg.data_dir, why, sizeof(why)) != 0 ||
        cli_get_abs_take(&g.cfg.peer_config, why, sizeof(why)) != 0 ||
        (req = cli_get_request(&g, args.pos[0], why, sizeof(why))) == NULL) {
        fprintf(stderr, "dragonfly get: %s\n", why);
        rv = 2;
        goto out;
    }
    if (cli_get_peer_connect(&g.cfg, why, sizeof(why)) != 0) {
        fprintf(stderr, "dragonfly get: %s\n", why);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    g.base = event_base_new();
    dns = g.base != NULL ? net_dns_new(g.base) : NULL;
    if (dns == NULL) {
        fprintf(stderr, "dragonfly get: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < DF_NELEM(sigs); i++) {
        if ((sigev[i] = evsignal_new(g.base, sigs[i], cli_get_signal_cb, &g)) == NULL ||
            evsignal_add(sigev[i], NULL) != 0) {
            fprintf(stderr, "dragonfly get: out of memory\n");
            goto out;
        }
    }
    if (cli_get_output_open(&g, why, sizeof(why)) != 0) {
        fprintf(stderr, "dragonfly get: %s\n", why);
        goto out;
    }
    snprintf(addr, sizeof(addr), "unix:%s", g.cfg.socket);
    memset(&opts, 0, sizeof(opts));
    opts.addr = addr;
    opts.default_deadline_ms = (int)g.cfg.timeout;
    opts.on_socket = cli_get_pass_fd;
    opts.on_socket_arg = &g;
    if (rpc_client_new(g.base, dns, &opts, &client, &err) != 0) {
        fprintf(stderr, "dragonfly get: %s\n", err.msg);
        goto out;
    }
    if ((rv = rpc_client_stream(client, PROTO_DFDAEMON_DOWNLOAD_TASK, (int)g.cfg.timeout, &cbs, &g,
                                &call)) != 0 ||
        (rv = rpc_client_send(call, req)) != 0) {
        fprintf(stderr, "dragonfly get: cannot start the download: %s\n", df_strerror(rv));
        rv = 1;
        goto out;
    }
    rpc_client_close_send(call);
    g.rv = 1;
    snprintf(g.msg, sizeof(g.msg), "the peer closed the connection");
    g.start = (double)df_time_mono_us() / 1e6;
    event_base_dispatch(g.base);
    el = (double)df_time_mono_us() / 1e6 - g.start;
    rv = g.rv;
    if (rv == 0 && cli_get_output_commit(&g, g.msg, sizeof(g.msg)) != 0)
        rv = 1;
    if (rv == 0) {
        char src[32], peers[32];

        cli_get_draw(&g, true);
        if (g.total > 0 && g.from_source == 0 && g.from_peers == 0)
            fprintf(stderr, "%s: %" PRIu64 " bytes in %.2fs from the peer's cache\n", g.output,
                    g.total, el);
        else
            fprintf(stderr,
                    "%s: %" PRIu64 " bytes in %.2fs (%s/s); from source %s, from peers %s%s%s%s\n",
                    g.output, g.total, el,
                    cli_get_bytes(el > 0 ? (double)g.total / el : 0, a, sizeof(a)),
                    cli_get_bytes((double)g.from_source, src, sizeof(src)),
                    cli_get_bytes((double)g.from_peers, peers, sizeof(peers)),
                    g.parents[0] != '\0' ? " (" : "", g.parents, g.parents[0] != '\0' ? ")" : "");
    } else {
        if (g.tty && !g.cfg.no_progress)
            fputc('\n', stderr);
        fprintf(stderr, "dragonfly get: %s\n", g.msg);
    }
out:
    rpc_client_free(client);
    if (g.tmp != NULL)
        unlink(g.tmp); /* not renamed into place: never leave it behind */
    if (g.out_fd != -1 && g.out_fd != STDOUT_FILENO)
        close(g.out_fd);
    for (size_t i = 0; i < DF_NELEM(sigev); i++) {
        if (sigev[i] != NULL)
            event_free(sigev[i]);
    }
    net_dns_free(dns);
    if (g.base != NULL)
        event_base_free(g.base);
    cJSON_Delete(req);
    free(g.output);
    free(g.dir);
    free(g.tmp);
    df_conf_args_reset(&args);
    df_conf_reset(&cli_get_spec, &g.cfg);
    return rv;
}
