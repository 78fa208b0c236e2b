/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logger: the only mutable global besides signal flags. Configured once at startup, then
 * read-only, so any thread may log. Each event is formatted into a stack buffer, control
 * characters escaped, and written with one write(2) so lines never interleave.
 */
#include "df/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_time.h"

#define LOG_LINE_MAX   4096
#define LOG_DEBUG_MODS 16

static struct {
    char component[32];
    enum log_level level;
    enum log_format format;
    int fd;
    bool debug_all;
    char debug_mods[LOG_DEBUG_MODS][24];
    int ndebug;
    char path[4096]; /* of log_open, for log_reopen; "" = stderr */
} logger = {"dragonfly", LOG_LEVEL_INFO, LOG_FORMAT_TEXT, 2, false, {{0}}, 0, ""};

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

const char *const log_level_choices[] = {"error", "warn", "info", "debug", NULL};

const char *const log_format_choices[] = {"text", "json", NULL};

void
log_init(const char *component, enum log_level level, enum log_format format)
{
    snprintf(logger.component, sizeof(logger.component), "%s", component);
    logger.level = level;
    logger.format = format;
}

int
log_open(const char *path)
{
    int fd;

    if (path == NULL || *path == '\0') {
        logger.fd = 2;
        logger.path[0] = '\0';
        return 0;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd == -1)
        return -1;
    if (logger.fd > 2)
        close(logger.fd);
    logger.fd = fd;
    snprintf(logger.path, sizeof(logger.path), "%s", path);
    return 0;
}

int
log_reopen(void)
{
    int fd, rv = 0;

    if (logger.path[0] == '\0' || logger.fd <= 2)
        return 0;
    fd = open(logger.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd == -1)
        return -1;
    /* dup2 keeps O_CLOEXEC off the new descriptor: set it again */
    if (dup2(fd, logger.fd) == -1 || fcntl(logger.fd, F_SETFD, FD_CLOEXEC) == -1)
        rv = -1;
    close(fd);
    return rv;
}

void
log_set_level(enum log_level level)
{
    logger.level = level;
}

void
log_debug_modules(const char *list)
{
    const char *p = list, *e;
    size_t n;

    logger.ndebug = 0;
    logger.debug_all = false;
    while (p != NULL && *p != '\0') {
        e = strchr(p, ',');
        n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n == 3 && strncmp(p, "all", 3) == 0)
            logger.debug_all = true;
        else if (n > 0 && n < sizeof(logger.debug_mods[0]) && logger.ndebug < LOG_DEBUG_MODS) {
            memcpy(logger.debug_mods[logger.ndebug], p, n);
            logger.debug_mods[logger.ndebug][n] = '\0';
            logger.ndebug++;
        }
        p = e != NULL ? e + 1 : NULL;
    }
}

static void
log_libevent_cb(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_WARN)
        log_warnx("event: %s", msg);
    else
        log_debug("event", "event: %s", msg);
}

void
log_route_libevent(void)
{
    event_set_log_callback(log_libevent_cb);
}

int
log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

bool
log_debug_enabled(const char *mod)
{
    if (logger.level < LOG_LEVEL_DEBUG)
        return false;
    if (logger.debug_all || logger.ndebug == 0)
        return true;
    for (int i = 0; i < logger.ndebug; i++)
        if (strcmp(logger.debug_mods[i], mod) == 0)
            return true;
    return false;
}

/* Append s to buf at *off, escaping quotes/backslashes (JSON) and control characters. */
static void
log_escape(char *buf, size_t size, size_t *off, const char *s, bool json)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = *off;

    for (; *s != '\0' && o + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            if (json) {
                memcpy(buf + o, "u00", 3);
                o += 3;
            } else
                buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else if (json && (c == '"' || c == '\\')) {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else
            buf[o++] = (char)c;
    }
    *off = o;
}

/* The fields of a task's line (log_task); NULL members are left out. */
struct log_fields {
    const char *task, *url;
};

/* Append ,"key":"value" (JSON) or " key=value" (text) for each field that is set. */
static void
log_put_fields(char *line, size_t size, size_t *off, const struct log_fields *f, bool json)
{
    const char *keys[] = {"task", "url"}, *vals[] = {f->task, f->url};

    for (size_t i = 0; i < 2; i++) {
        if (vals[i] == NULL || *off + strlen(keys[i]) + 6 >= size)
            continue;
        *off += (size_t)snprintf(line + *off, size - *off, json ? "\",\"%s\":\"" : " %s=", keys[i]);
        log_escape(line, size, off, vals[i], json);
    }
}

static void
log_vemit(enum log_level level, const char *errstr, const struct log_fields *fields,
          const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 2048], ts[DF_TIME_RFC3339_LEN];
    static const struct log_fields none = {NULL, NULL};
    size_t off;
    int n;
    ssize_t w;

    if (fields == NULL)
        fields = &none;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    df_time_format_rfc3339(df_time_wall_ms(), ts);

    if (logger.format == LOG_FORMAT_JSON) {
        n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\","
                     "\"pid\":%ld,\"msg\":\"",
                     ts, level_names[level], logger.component, (long)getpid());
        off = (size_t)n;
        log_escape(line, sizeof(line) - 4, &off, msg, true);
        if (errstr != NULL) {
            log_escape(line, sizeof(line) - 4, &off, ": ", true);
            log_escape(line, sizeof(line) - 4, &off, errstr, true);
        }
        log_put_fields(line, sizeof(line) - 4, &off, fields, true);
        memcpy(line + off, "\"}\n", 3);
        off += 3;
    } else {
        n = snprintf(line, sizeof(line), "%s %s %s[%ld] ", ts, level_names[level], logger.component,
                     (long)getpid());
        off = (size_t)n;
        log_escape(line, sizeof(line) - 2, &off, msg, false);
        if (errstr != NULL) {
            log_escape(line, sizeof(line) - 2, &off, ": ", false);
            log_escape(line, sizeof(line) - 2, &off, errstr, false);
        }
        log_put_fields(line, sizeof(line) - 2, &off, fields, false);
        line[off++] = '\n';
    }
    do
        w = write(logger.fd, line, off);
    while (w == -1 && errno == EINTR);
}

#define LOG_BODY(lvl, errstr)                          \
    do {                                               \
        va_list ap;                                    \
        int saved = errno;                             \
        if ((lvl) <= logger.level) {                   \
            va_start(ap, fmt);                         \
            log_vemit((lvl), (errstr), NULL, fmt, ap); \
            va_end(ap);                                \
        }                                              \
        errno = saved;                                 \
    } while (0)

void
log_error(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, NULL);
}

void
log_warn(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, strerror(saved));
}

void
log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, NULL);
}

void
log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_INFO, NULL);
}

void
log_debug(const char *mod, const char *fmt, ...)
{
    if (!log_debug_enabled(mod))
        return;
    LOG_BODY(LOG_LEVEL_DEBUG, NULL);
}

void
log_task(enum log_level level, const char *mod, const char *task_id, const char *url,
         const char *fmt, ...)
{
    char redacted[2048];
    struct log_fields f = {task_id, NULL};
    int saved = errno;
    va_list ap;

    if (level > logger.level || (level == LOG_LEVEL_DEBUG && !log_debug_enabled(mod)))
        return;
    if (url != NULL)
        f.url = log_url_redact(url, redacted, sizeof(redacted));
    va_start(ap, fmt);
    log_vemit(level, NULL, &f, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
fatal(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, strerror(saved));
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, NULL);
    exit(1);
}

char *
log_url_redact(const char *url, char *out, size_t outlen)
{
    const char *p, *at, *colon, *scheme_end, *auth_end;
    size_t o = 0;
    bool in_value = false;

    if (outlen == 0)
        return out;
#define PUT(ch)              \
    do {                     \
        if (o + 1 < outlen)  \
            out[o++] = (ch); \
    } while (0)
#define PUTS(s)                                       \
    do {                                              \
        for (const char *q_ = (s); *q_ != '\0'; q_++) \
            PUT(*q_);                                 \
    } while (0)

    /* userinfo password: scheme://user:pass@host -> scheme://user:***@host */
    scheme_end = strstr(url, "://");
    p = url;
    if (scheme_end != NULL) {
        auth_end = scheme_end + 3 + strcspn(scheme_end + 3, "/?#");
        at = memchr(scheme_end + 3, '@', (size_t)(auth_end - scheme_end - 3));
        if (at != NULL) {
            colon = memchr(scheme_end + 3, ':', (size_t)(at - scheme_end - 3));
            for (; p < (colon != NULL ? colon : at); p++)
                PUT(*p);
            if (colon != NULL)
                PUTS(":***");
            p = at;
        }
    }
    for (; *p != '\0'; p++) {
        if (*p == '#')
            in_value = false;
        if (in_value) {
            if (*p == '&') {
                in_value = false;
                PUT('&');
            }
            continue;
        }
        PUT(*p);
        if (*p == '=' && strchr(url, '?') != NULL && p > strchr(url, '?')) {
            PUTS("***");
            in_value = true;
        }
    }
    out[o] = '\0';
#undef PUT
#undef PUTS
    return out;
}

bool
log_header_is_secret(const char *name)
{
    static const char *const secret[] = {"authorization",       "proxy-authorization", "cookie",
                                         "set-cookie",          "x-auth-token",        "x-api-key",
                                         "x-amz-security-token"};

    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (strcasecmp(name, secret[i]) == 0)
            return true;
    return false;
}
