/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon start-up, ready files, systemd notification and signal handling. Signals become
 * libevent events, so the handlers run on the loop like everything else and may touch any
 * object.
 */
#include "df/df_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_json.h"
#include "df/df_time.h"
#include "df/df_work.h"
#include "df/log.h"
#include "df/xmalloc.h"

struct df_proc_signals {
    struct event *term, *intr, *hup;
    void (*on_stop)(void *);
    void (*on_reload)(void *);
    void *arg;
    bool stopping;
};

int
df_proc_write_ready_file(const char *path, const cJSON *doc, struct df_error *err)
{
    char *text = NULL, *tmp = NULL;
    size_t len, off = 0;
    ssize_t n;
    int fd = -1, rv;

    text = df_json_print(doc);
    if (text == NULL) {
        rv = df_error_set(err, DF_ENOMEM, "ready file %s: out of memory", path);
        goto out;
    }
    tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rv = df_error_set(err, DF_EIO, "ready file %s: %s", tmp, strerror(errno));
        goto out;
    }
    len = strlen(text);
    while (off < len) {
        n = write(fd, text + off, len - off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            rv = df_error_set(err, DF_EIO, "ready file %s: write: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    if (fsync(fd) == -1 || close(fd) == -1) {
        fd = -1;
        rv = df_error_set(err, DF_EIO, "ready file %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) == -1) {
        rv = df_error_set(err, DF_EIO, "ready file %s: rename: %s", path, strerror(errno));
        goto out;
    }
    rv = 0;
out:
    if (fd != -1)
        close(fd);
    if (rv != 0 && tmp != NULL)
        unlink(tmp);
    free(tmp);
    free(text);
    return rv;
}

int
df_proc_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un un;
    size_t nlen, len = strlen(state);
    socklen_t alen;
    ssize_t n;
    int fd = -1, rv;

    if (name == NULL || *name == '\0')
        return 0;
    nlen = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || nlen < 2 || nlen >= sizeof(un.sun_path)) {
        rv = DF_EINVAL;
        goto out;
    }
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, name, nlen);
    if (name[0] == '@')
        un.sun_path[0] = '\0'; /* abstract: no terminating NUL, the length says where it ends */
    else
        nlen++;
    alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nlen);
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
        rv = DF_EIO;
        goto out;
    }
    do
        n = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&un, alen);
    while (n == -1 && errno == EINTR);
    if (n < 0 || (size_t)n != len) {
        rv = DF_EIO;
        goto out;
    }
    rv = 0;
out:
    if (fd != -1)
        close(fd);
    return rv;
}

static void
df_proc_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct df_proc_signals *s = arg;

    (void)what;
    if (sig == SIGHUP) {
        if (s->on_reload != NULL)
            s->on_reload(s->arg);
        return;
    }
    if (s->stopping) {
        log_warnx("proc: second signal %d while stopping, exiting now", (int)sig);
        _exit(1);
    }
    s->stopping = true;
    log_info("proc: signal %d, stopping", (int)sig);
    s->on_stop(s->arg);
}

struct df_proc_signals *
df_proc_signals_new(struct event_base *base, void (*on_stop)(void *), void (*on_reload)(void *),
                    void *arg)
{
    struct df_proc_signals *s = xcalloc(1, sizeof(*s));

    signal(SIGPIPE, SIG_IGN);
    s->on_stop = on_stop;
    s->on_reload = on_reload;
    s->arg = arg;
    s->term = evsignal_new(base, SIGTERM, df_proc_signal_cb, s);
    s->intr = evsignal_new(base, SIGINT, df_proc_signal_cb, s);
    s->hup = evsignal_new(base, SIGHUP, df_proc_signal_cb, s);
    if (s->term == NULL || s->intr == NULL || s->hup == NULL || evsignal_add(s->term, NULL) ||
        evsignal_add(s->intr, NULL) || evsignal_add(s->hup, NULL)) {
        df_proc_signals_free(s);
        return NULL;
    }
    return s;
}

void
df_proc_signals_free(struct df_proc_signals *s)
{
    if (s == NULL)
        return;
    if (s->term != NULL)
        event_free(s->term);
    if (s->intr != NULL)
        event_free(s->intr);
    if (s->hup != NULL)
        event_free(s->hup);
    free(s);
}

int
df_proc_group_lookup(const char *name, const char *group_file, gid_t *out, struct df_error *err)
{
    const char *path = group_file != NULL ? group_file : "/etc/group";
    char *line = NULL, *end;
    size_t cap = 0, n = strlen(name);
    unsigned long v;
    FILE *f = NULL;
    int rv;

    if (n == 0 || strchr(name, ':') != NULL || strchr(name, '\n') != NULL) {
        rv = df_error_set(err, DF_EINVAL, "bad group name \"%.64s\"", name);
        goto out;
    }
    if (name[strspn(name, "0123456789")] == '\0') {
        errno = 0;
        v = strtoul(name, NULL, 10);
        if (errno != 0 || v >= (unsigned long)INT32_MAX) {
            rv = df_error_set(err, DF_EINVAL, "group id %.64s out of range", name);
            goto out;
        }
        *out = (gid_t)v;
        rv = 0;
        goto out;
    }
    if ((f = fopen(path, "re")) == NULL) {
        rv = df_error_set(err, DF_EIO, "group %.64s: %s: %s", name, path, strerror(errno));
        goto out;
    }
    /* name:password:gid:members */
    while (getline(&line, &cap, f) != -1) {
        char *gid;

        if (strncmp(line, name, n) != 0 || line[n] != ':' ||
            (gid = strchr(line + n + 1, ':')) == NULL)
            continue;
        errno = 0;
        v = strtoul(gid + 1, &end, 10);
        if (errno != 0 || end == gid + 1 || (*end != ':' && *end != '\n' && *end != '\0') ||
            v >= (unsigned long)INT32_MAX) {
            rv = df_error_set(err, DF_EINVAL, "group %.64s: bad entry in %s", name, path);
            goto out;
        }
        *out = (gid_t)v;
        rv = 0;
        goto out;
    }
    rv = df_error_set(err, DF_ENOTFOUND, "no group \"%.64s\" in %s", name, path);
out:
    free(line);
    if (f != NULL)
        fclose(f);
    return rv;
}

/* The components are stopped: end the loop. */
static void
df_proc_daemon_done(void *arg)
{
    event_base_loopexit(arg, NULL);
}

struct df_proc_daemon_stop {
    const struct df_proc_daemon *d;
    struct event_base *base;
};

static void
df_proc_daemon_stop(void *arg)
{
    struct df_proc_daemon_stop *s = arg;

    if (df_proc_notify("STOPPING=1") != 0)
        log_warnx("proc: cannot tell the service manager we are stopping ($NOTIFY_SOCKET)");
    s->d->stop(s->d->arg, df_proc_daemon_done, s->base);
}

bool
df_proc_reload_log_key(const char *who, const char *key, int *cur_level, char **cur_debug,
                       int next_level, char **next_debug)
{
    if (strcmp(key, "log.level") == 0) {
        log_set_level((enum log_level)(next_level > *cur_level ? next_level : *cur_level));
        log_info("%s: reload: %s changed: applied (%s)", who, key, log_level_choices[next_level]);
        log_set_level((enum log_level)next_level);
        *cur_level = next_level;
        return true;
    }
    if (strcmp(key, "log.debug") == 0) {
        log_debug_modules(*next_debug != NULL ? *next_debug : "");
        free(*cur_debug);
        *cur_debug = *next_debug;
        *next_debug = NULL;
        log_info("%s: reload: %s changed: applied", who, key);
        return true;
    }
    return false;
}

/* SIGHUP: a new log file first, so that what reload says lands in it. */
static void
df_proc_daemon_reload(void *arg)
{
    const struct df_proc_daemon_stop *s = arg;

    (void)df_proc_notify("RELOADING=1");
    if (log_reopen() != 0)
        log_warn("proc: SIGHUP: cannot reopen the log file %s, still writing the old one",
                 s->d->log_file);
    else
        log_info("proc: SIGHUP: log file reopened, reloading");
    if (s->d->reload != NULL)
        s->d->reload(s->d->arg);
    (void)df_proc_notify("READY=1");
}

static int
df_proc_daemon_ready(const struct df_proc_daemon *d, struct df_error *err)
{
    cJSON *doc = cJSON_CreateObject();
    int rv;

    if (d->ready != NULL)
        d->ready(d->arg, doc);
    cJSON_AddNumberToObject(doc, "pid", (double)getpid());
    rv = df_proc_write_ready_file(d->ready_file, doc, err);
    cJSON_Delete(doc);
    return rv;
}

/* Everything that belongs to the process rather than to one component. */
static void
df_proc_daemon_tune(void)
{
    df_work_init();
    /* Body buffers (256 KiB reads) come and go all the time: serve them from the heap
     * instead of fresh mmaps, whose page faults and zeroing cost a fifth of a transfer. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    srandom((unsigned)(getpid() ^ (unsigned)df_time_mono_ns()));
}

int
df_proc_daemon_run(const struct df_proc_daemon *d)
{
    struct df_proc_daemon_stop stop = {d, NULL};
    struct df_proc_signals *signals = NULL;
    struct df_error err;
    int rv;

    if (d->prepare != NULL && (rv = d->prepare(d->arg, &err)) != 0) {
        fprintf(stderr, "%s: %s\n", d->cmd, err.msg);
        d->free(d->arg);
        return rv;
    }
    log_init(d->component, (enum log_level)d->log_level, (enum log_format)d->log_format);
    if (d->log_debug != NULL)
        log_debug_modules(d->log_debug);
    if (d->log_file != NULL && log_open(d->log_file) != 0) {
        fprintf(stderr, "%s: log.file %s: %s\n", d->cmd, d->log_file, strerror(errno));
        d->free(d->arg);
        return 2;
    }
    log_route_libevent();
    df_proc_daemon_tune();
    if ((stop.base = event_base_new()) == NULL) {
        df_error_set(&err, DF_ENOMEM, "cannot create the event loop");
        rv = 1;
    } else if ((rv = d->start(d->arg, stop.base, &err)) == 0) {
        signals = df_proc_signals_new(stop.base, df_proc_daemon_stop, df_proc_daemon_reload, &stop);
        if (signals == NULL) {
            df_error_set(&err, DF_ENOMEM, "out of memory");
            rv = 1;
        } else if (d->ready_file != NULL && df_proc_daemon_ready(d, &err) != 0) {
            rv = 1;
        } else if ((rv = df_proc_notify("READY=1")) != 0) {
            /* Not fatal: $NOTIFY_SOCKET may be inherited from a service we do not belong
             * to. A Type=notify unit of ours times out, and says so. */
            log_warnx("proc: cannot tell the service manager we are ready ($NOTIFY_SOCKET): %s",
                      df_strerror(rv));
            rv = 0;
        }
    }
    if (rv != 0) {
        log_error("%s", err.msg);
        fprintf(stderr, "%s: %s\n", d->cmd, err.msg);
    } else {
        if (d->started != NULL)
            d->started(d->arg);
        event_base_dispatch(stop.base);
        log_info("%s: stopped", d->component);
    }
    df_proc_signals_free(signals);
    d->free(d->arg);
    if (stop.base != NULL)
        event_base_free(stop.base);
    return rv;
}
