/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration harness: start real processes (the dragonfly binary or test tools) in a
 * fresh temp dir, wait for their --ready-file, and kill them by PID in teardown. Children
 * get PR_SET_PDEATHSIG so a test killed by its timeout never leaves a daemon behind.
 */
#ifndef IT_HARNESS_H
#define IT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/*
 * Test origins listen on 127.0.0.x, and a peer's back-to-source policy denies loopback to the
 * downloads other hosts ask for (a seed triggered by the scheduler, DownloadTask over TCP).
 * Every peer and seed a test starts passes this flag with its origins' addresses.
 */
#define IT_ALLOW_ORIGIN "--back-to-source-allow"

struct it_proc {
    pid_t pid;
    char log_path[512];
    cJSON *ready; /* parsed ready file, or NULL */
};

/* Path of the binary under test ($DF_BIN) and of a test tool ($DF_TOOLS/<name>). */
const char *it_bin(void);
const char *it_tool(const char *name, char *buf, size_t len);

/* Create a fresh directory under /tmp; returns a static-lifetime string the caller frees. */
char *it_tmpdir(void);

/* Remove a directory tree (rm -rf). */
void it_rmtree(const char *dir);

/*
 * Start argv (NULL-terminated; argv[0] is a path) with stdout and stderr appended to
 * <dir>/<name>.log. A dragonfly scheduler, peer or seed (argv[0] is it_bin()) whose flags
 * name no --tls-* option and no --plaintext runs with --plaintext: daemons refuse to run
 * unauthenticated unless told to. A test of that refusal passes --tls-mode auto. If
 * ready_file is not NULL, wait up to timeout_ms for it to hold a JSON document and keep it
 * in p->ready. Returns 0, or -1 if the process died or the file never appeared (its log is
 * printed to stderr).
 */
int it_proc_start(struct it_proc *p, const char *dir, const char *name, char *const argv[],
                  const char *ready_file, int timeout_ms);

/*
 * Start `dragonfly <args...>` (NULL-terminated, at most 40; a NULL ends the list early, so
 * optional flags can be passed as NULL) as name in dir, with --ready-file <dir>/<name>.ready,
 * and wait up to 15 s for it. Returns what it_proc_start() returns.
 */
int it_df_start(struct it_proc *p, const char *dir, const char *name, ...);

/* The id of the first task in the cache of a peer whose data dir is data_dir; 0 or -1. */
int it_cache_task_id(const char *data_dir, char id[65]);

/* How many entries of dir are temp outputs (*dragonfly-*); -1 if it cannot be listed. */
int it_temp_count(const char *dir);

/* Look up a string in the ready file ("rpc" -> "127.0.0.1:43211"); NULL if absent. */
const char *it_proc_ready_str(const struct it_proc *p, const char *key);

/*
 * Deadlines for conditions a test waits for (a daemon's ready file, its exit): generous, as a
 * loaded 2-core machine running sanitizer builds can be many times slower than an idle one;
 * waiting costs nothing when the condition comes at once.
 */
#define IT_READY_MS 60000
#define IT_STOP_MS  15000

/* Sleep ms milliseconds. */
void it_sleep_ms(int ms);

/* SIGTERM, wait up to IT_STOP_MS, then SIGKILL; reap. Returns the exit status as waitpid gives. */
int it_proc_stop(struct it_proc *p);

/* SIGKILL and reap. */
void it_proc_kill(struct it_proc *p);

/* Print the process log to stderr (used when a test fails). */
void it_proc_dump_log(const struct it_proc *p);

/*
 * Run a /bin/sh command with a timeout; its stdout is captured into *out (malloc'd,
 * NUL-terminated; pass NULL to discard). Returns the exit status, or -1 when it was
 * killed (timeout or signal). Its stderr goes to ours.
 */
int it_sh(const char *cmd, char **out, int timeout_s);

/* it_sh() of a printf-formatted command (at most 16 KiB). */
int it_shf(char **out, int timeout_s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Wait up to ms (checking every 200 ms) for the log of p to hold text. */
bool it_log_wait(const struct it_proc *p, const char *text, int ms);

/*
 * curl method http://<rest><path> with "Authorization: Bearer <token>" and a JSON body (may
 * be NULL): the HTTP status, the body in *out (the caller frees it; NULL: dropped).
 */
int it_rest(const char *rest, const char *token, const char *method, const char *path,
            const char *body, char **out);

/* Write the bytes the origin test server serves at /gen/<size>?seed=<seed> to path. */
int it_gen(const char *size, int seed, const char *path);

/*
 * Body bytes the origin test server at addr sent for target ("/gen/1MiB?seed=3"), from its
 * /_stats (0 if it never served it). Returns 0, or -1 if /_stats could not be read.
 */
int it_origin_bytes(const char *addr, const char *target, uint64_t *out);

/* Write text to <dir>/<name>; false when it cannot. */
bool it_write(const char *dir, const char *name, const char *text);

#endif
