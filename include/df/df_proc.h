/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon process plumbing shared by every role: the one start-up of a daemon process
 * (df_proc_daemon_run), the --ready-file handshake with tests and supervisors, systemd's
 * readiness notification, the stop/reload signals as loop events, and group names for file
 * ownership.
 */
#ifndef DF_DF_PROC_H
#define DF_DF_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"

struct event_base;
struct df_proc_signals;

/*
 * The id of group name (a name, or a number taken as it is) from group_file (NULL:
 * /etc/group), read as text: a static binary has no NSS, so only files count. Returns 0
 * and *out, or DF_ENOTFOUND / DF_EIO / DF_EINVAL with one line in err naming the group.
 */
int df_proc_group_lookup(const char *name, const char *group_file, gid_t *out,
                         struct df_error *err);

/*
 * Write doc as JSON to path atomically (temp file beside it, fsync, rename), so a reader
 * sees nothing or the whole document. Returns 0 or DF_EIO with a message in err.
 */
int df_proc_write_ready_file(const char *path, const cJSON *doc, struct df_error *err);

/*
 * Send state (e.g. "READY=1", lines joined by '\n') as one datagram to the service
 * manager's socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace), as sd_notify(3) does. Without $NOTIFY_SOCKET it does nothing and returns 0;
 * else 0 once sent, DF_EINVAL for a name that is no unix socket path, DF_EIO when the send
 * fails. Blocks at most for one send on a local datagram socket.
 */
int df_proc_notify(const char *state);

/*
 * Ignore SIGPIPE and route SIGTERM/SIGINT to on_stop and SIGHUP to on_reload (may be
 * NULL) as loop callbacks. A second SIGTERM/SIGINT while stopping exits at once (status 1).
 * Returns NULL on OOM. Free with df_proc_signals_free.
 */
struct df_proc_signals *df_proc_signals_new(struct event_base *base, void (*on_stop)(void *),
                                            void (*on_reload)(void *), void *arg);

void df_proc_signals_free(struct df_proc_signals *s);

/*
 * One daemon process running one or more role components on one event loop. The caller
 * has parsed its flags and config; the callbacks get arg. Only df_proc_daemon_run touches
 * what belongs to the process: the logger, malloc tuning, the random seed, libevent's
 * threading, the signals.
 */
struct df_proc_daemon {
    const char *cmd;        /* "dragonfly peer": prefix of the start-up errors on stderr */
    const char *component;  /* the log component ("peer", "up") */
    int log_level;          /* enum log_level */
    int log_format;         /* enum log_format (0: text) */
    const char *log_file;   /* NULL: stderr */
    const char *log_debug;  /* debug modules, or NULL */
    const char *ready_file; /* NULL: none; else written once started (with "pid") */
    /* Before the log is opened (it may live in a data dir the caller locks here); may be
     * NULL. Returns 0, or the exit status with a message in err. */
    int (*prepare)(void *arg, struct df_error *err);
    /* Create and start the components on base. Returns 0, or the exit status with err. */
    int (*start)(void *arg, struct event_base *base, struct df_error *err);
    /* Add the bound addresses to the ready file's document; may be NULL. */
    void (*ready)(void *arg, cJSON *doc);
    /* Once started and the ready file written; may be NULL. */
    void (*started)(void *arg);
    /* SIGTERM/SIGINT: stop every component, then call done(done_arg) exactly once. */
    void (*stop)(void *arg, void (*done)(void *), void *done_arg);
    /* SIGHUP, after the log file was reopened: reload what can change at run time; may be
     * NULL. */
    void (*reload)(void *arg);
    /* Free the components (also after a failed start, or when prepare failed). */
    void (*free)(void *arg);
    void *arg;
};

/*
 * One key a SIGHUP reload found changed, when it is a log key every daemon has: "log.level"
 * (set from next_level into *cur_level and the logger) or "log.debug" (*next_debug moves
 * into *cur_debug, the old string freed, and the logger's modules follow). Logs
 * "<who>: reload: <key> changed: applied" at INFO of the more verbose of the two levels, so
 * that a lowered level still shows that it was lowered. Returns true when key was one of
 * them (applied), false otherwise (nothing done).
 */
bool df_proc_reload_log_key(const char *who, const char *key, int *cur_level, char **cur_debug,
                            int next_level, char **next_debug);

/*
 * prepare, log, process tuning, event loop, start, signals, ready file, READY=1 to systemd
 * (Type=notify; STOPPING=1 when a stop signal comes), loop until stopped, free. SIGHUP
 * reopens the log file (logrotate's postrotate) and calls reload (RELOADING=1, then READY=1
 * to systemd). Returns
 * the exit status: 0 after a clean stop; 2 when the log file cannot be opened; else what
 * prepare or start returned (their message is logged and printed on stderr). A failed
 * notification is only logged.
 */
int df_proc_daemon_run(const struct df_proc_daemon *d);

#endif
