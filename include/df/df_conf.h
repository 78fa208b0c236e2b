/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven configuration for every role. A role describes its struct <role>_config
 * with an array of struct df_conf_entry; df_conf_load() fills it from the defaults in
 * the table, then one JSON file (-c/--config FILE), then command-line flags, each later
 * source winning. Every key is also a flag: "upload.rateLimit" is --upload-rate-limit.
 * Unknown keys, unknown flags and bad values are errors with one line that names the key
 * or flag, e.g. `scheduler.gc.interval: expected duration like 30s, got "abc"`; roles
 * print it and exit 2.
 *
 *   static const struct df_conf_entry entries[] = {
 *       {.key = "upload.rateLimit", .type = DF_CONF_RATE,
 *        .offset = offsetof(struct peer_config, upload_rate_limit), .def = "1GiB/s",
 *        .min = 1, .max = INT64_MAX, .help = "upload bandwidth limit"},
 *   };
 */
#ifndef DF_DF_CONF_H
#define DF_DF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "df/df_err.h"

/* The type of an entry and, in brackets, the type of the field at its offset. */
enum df_conf_type {
    DF_CONF_BOOL,     /* [bool] JSON true/false; flag takes no value, --no-FLAG clears */
    DF_CONF_INT,      /* [int64_t] JSON integer or decimal string */
    DF_CONF_SIZE,     /* [int64_t] bytes: "64MiB", "1GB", or a JSON integer of bytes */
    DF_CONF_RATE,     /* [int64_t] bytes/s: "100MiB/s", "800Mbit/s", or a JSON integer */
    DF_CONF_DURATION, /* [int64_t] milliseconds: "30s", "5m", "1h30m", "250ms" */
    DF_CONF_STRING,   /* [char *] owned by the config, NULL when unset */
    DF_CONF_ENUM,     /* [int] index into choices (an enum in the same order works) */
    DF_CONF_LIST,     /* [struct df_conf_list] JSON array of strings; repeatable flag */
    DF_CONF_ADDR,     /* [struct df_conf_addr] "ip:port" or "[ipv6]:port" */
};

/* Entry flags. */
#define DF_CONF_SECRET \
    0x1 /* a string shown as "***" by df_conf_to_json; --help hides its default */
#define DF_CONF_REQUIRED 0x2 /* a string, list or address that must end up non-empty */
/* A list whose JSON items may also be objects, each kept as its compact JSON text (the owner
 * parses it; a flag's value is taken as text the same way). */
#define DF_CONF_OBJECTS 0x4

/* A list of strings; both the array and the strings belong to the config. */
struct df_conf_list {
    char **v;
    size_t n;
};

#define DF_CONF_HOST_MAX 46 /* INET6_ADDRSTRLEN */

/* A numeric IP address and port; host[0] == '\0' means unset. */
struct df_conf_addr {
    char host[DF_CONF_HOST_MAX]; /* numeric, without brackets */
    uint16_t port;               /* 0 is allowed: bind an ephemeral port */
    bool ipv6;
};

struct df_conf_entry {
    const char *key;  /* dotted path of lowerCamelCase JSON keys: "scheduler.gc.interval" */
    const char *flag; /* long flag without "--"; NULL derives it from key */
    char short_flag;  /* 'O' for -O, or 0 */
    enum df_conf_type type;
    size_t offset;               /* offsetof(struct <role>_config, field) */
    const char *def;             /* default as text, parsed like a flag value; NULL = zero/empty */
    const char *const *def_list; /* DF_CONF_LIST default: NULL-terminated array */
    int64_t min, max;            /* numeric bounds; both 0 = only the type's own range */
    const char *const *choices;  /* DF_CONF_ENUM: NULL-terminated; default NULL = first */
    const char *metavar;         /* value name in --help ("PATH"); NULL = from the type */
    const char *help;            /* one short line */
    unsigned flags;              /* DF_CONF_SECRET, DF_CONF_REQUIRED */
    const char *alias;           /* a second long flag, without a value, that sets ... */
    const char *alias_value;     /* ... this value: --plaintext = --tls-mode plaintext */
};

struct df_conf_spec {
    const char *cmd;     /* "dragonfly scheduler", for the usage line */
    const char *args;    /* positional arguments in the usage line ("URL"), or NULL */
    const char *summary; /* a sentence or two for --help, or NULL */
    const struct df_conf_entry *entries;
    size_t n_entries;
    size_t size;     /* sizeof(struct <role>_config) */
    size_t max_args; /* positional arguments allowed; more are an error */
};

/* What df_conf_load found on the command line besides entry flags. */
struct df_conf_args {
    const char *config_path; /* -c/--config FILE, borrowed from argv; NULL if absent */
    char **pos;              /* positional arguments (borrowed strings; array owned) */
    size_t n_pos;
    bool help;         /* -h/--help: nothing else was loaded; print df_conf_usage, exit 0 */
    bool check_config; /* --check-config: print df_conf_to_json and exit */
};

/* Limits on the config file. */
#define DF_CONF_FILE_MAX  (1024 * 1024)
#define DF_CONF_DEPTH_MAX 32

/*
 * Check a table for programmer errors: bad or duplicate keys and flags (including the
 * built-in -c, -h, --config, --help, --check-config), a key that is both a value and an
 * object, offsets outside spec->size, missing enum choices, min > max, and defaults that
 * do not parse or are out of bounds. Returns 0 or DF_EINTERNAL with a message naming the
 * entry. df_conf_load runs it too; a role's unit test should call it.
 */
int df_conf_spec_check(const struct df_conf_spec *spec, struct df_error *err);

/*
 * Build the configuration from defaults < the -c file < flags in argv (argv[0], the
 * subcommand name, is skipped) and store it into cfg, a struct of spec->size bytes.
 * Fields not in the table keep their value; cfg must hold no loader-owned memory (a
 * fresh struct, or one passed to df_conf_reset): to reload, load into a new struct,
 * swap it in and reset the old one.
 *
 * Flags: "--flag value", "--flag=value", "-X value", "-Xvalue"; bool flags take no
 * separate value ("--flag", "--no-flag", "--flag=false"); list flags repeat, and the
 * first one replaces the file's list; "--" ends flags. Comments (slash-slash and
 * slash-star) are allowed in the file. Positional arguments are collected in args (the
 * strings stay in argv). With -h/--help only args->help is set and cfg is untouched.
 *
 * Returns 0, or with one line in err: DF_EINVAL (bad flag, key or value), DF_EIO
 * (unreadable file), DF_ETOOBIG (file over DF_CONF_FILE_MAX or nested deeper than
 * DF_CONF_DEPTH_MAX) or DF_EINTERNAL (bad table). cfg and args are untouched on error.
 * The caller frees with df_conf_reset and df_conf_args_reset.
 */
int df_conf_load(const struct df_conf_spec *spec, void *cfg, int argc, char **argv,
                 struct df_conf_args *args, struct df_error *err);

/*
 * Like df_conf_load with no flags and the JSON document (len bytes of buf, comments
 * allowed) in place of the file: defaults < buf. name prefixes file-level errors.
 */
int df_conf_load_json(const struct df_conf_spec *spec, void *cfg, const char *buf, size_t len,
                      const char *name, struct df_error *err);

/* Free the strings and lists the loader stored in cfg and set them to NULL/empty. */
void df_conf_reset(const struct df_conf_spec *spec, void *cfg);

/* Free args->pos and clear args. */
void df_conf_args_reset(struct df_conf_args *args);

/*
 * Print the --help text to f: the usage line, the summary and one line per flag with
 * its value type, help text and default.
 */
void df_conf_usage(const struct df_conf_spec *spec, FILE *f);

/*
 * Render cfg as a nested JSON document (pretty-printed) that df_conf_load accepts and
 * that loads back to the same values; secrets show as "***". The caller frees the result
 * with free(). Returns NULL on OOM.
 */
char *df_conf_to_json(const struct df_conf_spec *spec, const void *cfg);

/*
 * Call fn(e, arg) for each entry e of spec whose value differs between configs a and b (as
 * df_conf_to_json would show it: a secret's change is not seen), in table order; a SIGHUP
 * reload uses it to apply or refuse what changed. Returns how many differ, or DF_ENOMEM.
 */
int df_conf_diff(const struct df_conf_spec *spec, const void *a, const void *b,
                 void (*fn)(const struct df_conf_entry *e, void *arg), void *arg);

/*
 * Derive the long flag for a key: "upload.rateLimit" -> "upload-rate-limit",
 * "tls.caCert" -> "tls-ca-cert", "proxy.HTTPSProxy" -> "proxy-https-proxy". Writes at
 * most len bytes including the NUL and returns buf.
 */
char *df_conf_flag_from_key(const char *key, char *buf, size_t len);

/*
 * Parse "ip:port" (IPv4) or "[ip]:port" (IPv6) with a numeric address and a port in
 * 0..65535. Returns 0 or DF_EINVAL; *out is untouched on error.
 */
int df_conf_addr_parse(const char *s, struct df_conf_addr *out);

#endif
