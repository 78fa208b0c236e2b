/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one logging vocabulary: leveled, one escaped line per event, to stderr or a file.
 *   2026-01-02T03:04:05.678Z WARN scheduler[812] rpc: peer 9f3a closed: timeout task=ab12
 * Messages start with "<module>: " by convention; a role's own lines start with its role
 * ("scheduler:", "seed:", "peer:"), since roles may share a process (`dragonfly up`). Functions
 * preserve errno and may be called from any thread (each line is one write(2)). Never pass secrets:
 * use log_url_redact() for URLs and log_header_is_secret() for header names.
 */
#ifndef DF_LOG_H
#define DF_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

enum log_format {
    LOG_FORMAT_TEXT = 0, /* the line above */
    LOG_FORMAT_JSON = 1, /* {"ts":..,"level":..,"component":..,"pid":..,"msg":..} */
};

/* "error", "warn", "info", "debug", NULL: the choices of a log.level config key. */
extern const char *const log_level_choices[];

/* "text", "json", NULL: the choices of a log.format config key, in enum log_format order. */
extern const char *const log_format_choices[];

/*
 * The df_conf entries log.level (an int field at level_off, enum log_level) and log.file (a
 * char * field at file_off) of a daemon's configuration table (df/df_conf.h).
 */
#define LOG_CONF_ENTRIES(level_off, file_off)                                                \
    {.key = "log.level",                                                                     \
     .flag = "log-level",                                                                    \
     .type = DF_CONF_ENUM,                                                                   \
     .offset = (level_off),                                                                  \
     .def = "info",                                                                          \
     .choices = log_level_choices,                                                           \
     .help = "log level"},                                                                   \
    {                                                                                        \
        .key = "log.file", .flag = "log-file", .type = DF_CONF_STRING, .offset = (file_off), \
        .metavar = "PATH", .help = "log to this file instead of stderr"                      \
    }

/* The df_conf entry log.format (an int field at format_off, enum log_format). */
#define LOG_FORMAT_CONF_ENTRY(format_off)                                                        \
    {                                                                                            \
        .key = "log.format", .flag = "log-format", .type = DF_CONF_ENUM, .offset = (format_off), \
        .def = "text", .choices = log_format_choices,                                            \
        .help = "log lines as text, or as JSON objects one a line (ts, level, component, "       \
                "pid, msg, and task and url on a task's lines)"                                  \
    }

/*
 * Set the component name (copied), the level and the format. Startup only.
 */
void log_init(const char *component, enum log_level level, enum log_format format);

/* Send lines to the file at path (appended, created 0640); NULL means stderr. */
int log_open(const char *path);

/*
 * Open the file log_open was given again and send the lines there from now on (after
 * logrotate renamed it, SIGHUP). The switch is one dup2, so a line another thread writes
 * meanwhile lands in the old file or the new one, never nowhere. 0 (also when logging to
 * stderr), or -1 with errno (the old file stays in use).
 */
int log_reopen(void);

/* Change the level at run time (SIGHUP reload); other threads see it on their next line. */
void log_set_level(enum log_level level);

/* Enable debug lines for a comma-separated module list ("rpc,net"; "all" = every module). */
void log_debug_modules(const char *list);

/* Send libevent's own messages (evdns failures, internal warnings) through this logger. */
void log_route_libevent(void);

/* Parse "error", "warn", "info" or "debug"; -1 if unknown. */
int log_level_parse(const char *s);

bool log_debug_enabled(const char *mod);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *mod, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A line about one task: as the others, plus the task's id and its URL (redacted here, as
 * log_url_redact does): " task=<id> url=<url>" after a text line's message, "task" and
 * "url" fields in JSON. url may be NULL (not known yet). A DEBUG line needs mod enabled.
 */
void log_task(enum log_level level, const char *mod, const char *task_id, const char *url,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Log at ERROR (with strerror(errno) for fatal) and exit(1). Startup only. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copy url into out (size outlen, always NUL-terminated) with userinfo passwords and every
 * query value replaced by "***". Returns out.
 */
char *log_url_redact(const char *url, char *out, size_t outlen);

/* True for header names whose values must never be logged (Authorization, Cookie, ...). */
bool log_header_is_secret(const char *name);

#endif
