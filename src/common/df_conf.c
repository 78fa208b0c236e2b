/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration loader. Everything goes through the role's table: one text parser per
 * type serves defaults, flags and JSON strings alike, so a default is validated exactly
 * like operator input. Loading builds a private copy of the config and copies it over the
 * caller's struct only when every source applied cleanly, so a failed load (or a failed
 * SIGHUP reload) leaves the running config untouched. Error messages are one line and
 * start with the key path or the flag that was wrong.
 */
#include "df/df_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "df/df_json.h"
#include "df/df_units.h"
#include "df/xmalloc.h"

#define CONF_KEY_MAX    128                /* longest key or flag name in a table, NUL included */
#define CONF_PATH_MAX   256                /* longest path shown for an unknown key in a file */
#define CONF_QUOTE_MAX  48                 /* characters of a bad value quoted in a message */
#define CONF_HELP_COL   34                 /* column where help text starts in --help */
#define CONF_JSON_EXACT 9007199254740992.0 /* 2^53: larger doubles are not exact integers */

/* One flag from argv, applied after the file. */
struct conf_flag {
    const struct df_conf_entry *e;
    const char *value;
    bool is_short;
};

static void *
conf_field(void *base, const struct df_conf_entry *e)
{
    return (char *)base + e->offset;
}

static const void *
conf_cfield(const void *base, const struct df_conf_entry *e)
{
    return (const char *)base + e->offset;
}

static size_t
conf_field_size(enum df_conf_type type)
{
    switch (type) {
    case DF_CONF_BOOL:
        return sizeof(bool);
    case DF_CONF_INT:
    case DF_CONF_SIZE:
    case DF_CONF_RATE:
    case DF_CONF_DURATION:
        return sizeof(int64_t);
    case DF_CONF_STRING:
        return sizeof(char *);
    case DF_CONF_ENUM:
        return sizeof(int);
    case DF_CONF_LIST:
        return sizeof(struct df_conf_list);
    case DF_CONF_ADDR:
        return sizeof(struct df_conf_addr);
    }
    return 0;
}

static bool
conf_is_numeric(enum df_conf_type type)
{
    return type == DF_CONF_INT || type == DF_CONF_SIZE || type == DF_CONF_RATE ||
           type == DF_CONF_DURATION;
}

static bool
conf_is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool
conf_is_lower_or_digit(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

char *
df_conf_flag_from_key(const char *key, char *buf, size_t len)
{
    size_t o = 0;

    if (len == 0)
        return buf;
    for (size_t i = 0; key[i] != '\0' && o + 1 < len; i++) {
        char c = key[i];

        if (c == '.' || c == '_') {
            buf[o++] = '-';
            continue;
        }
        /* A capital starts a word after a lower-case letter or digit, or ends an acronym
         * ("HTTPSProxy" -> "https-proxy"). */
        if (conf_is_upper(c) && i > 0 && key[i - 1] != '.' && key[i - 1] != '_' &&
            (conf_is_lower_or_digit(key[i - 1]) ||
             (conf_is_upper(key[i - 1]) && key[i + 1] >= 'a' && key[i + 1] <= 'z')) &&
            o + 2 < len)
            buf[o++] = '-';
        buf[o++] = conf_is_upper(c) ? (char)(c - 'A' + 'a') : c;
    }
    buf[o] = '\0';
    return buf;
}

/* The long flag of e without "--". */
static const char *
conf_flag_name(const struct df_conf_entry *e, char *buf, size_t len)
{
    if (e->flag != NULL)
        return e->flag;
    return df_conf_flag_from_key(e->key, buf, len);
}

/* How an operator refers to a flag in a message: "--name" or "-X". */
static void
conf_flag_label(const struct conf_flag *f, char *buf, size_t len)
{
    char name[CONF_KEY_MAX];

    if (f->is_short)
        snprintf(buf, len, "-%c", f->e->short_flag);
    else
        snprintf(buf, len, "--%s", conf_flag_name(f->e, name, sizeof(name)));
}

/* Quote s for a message: escaped, truncated with "..." when long. */
static void
conf_quote(const char *s, char *buf, size_t len)
{
    size_t o = 0, n = 0;

    if (len < 8)
        return;
    buf[o++] = '"';
    for (; *s != '\0' && o + 7 < len; s++, n++) {
        unsigned char c = (unsigned char)*s;

        if (n == CONF_QUOTE_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

/* Describe a JSON value for "got ..." in a message. */
static void
conf_json_repr(const cJSON *v, char *buf, size_t len)
{
    if (cJSON_IsString(v))
        conf_quote(v->valuestring != NULL ? v->valuestring : "", buf, len);
    else if (cJSON_IsNumber(v))
        snprintf(buf, len, "%.17g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, len, "null");
    else if (cJSON_IsArray(v))
        snprintf(buf, len, "an array");
    else if (cJSON_IsObject(v))
        snprintf(buf, len, "an object");
    else
        snprintf(buf, len, "an invalid value");
}

/* "expected ..." for an entry's type. */
static void
conf_expect(const struct df_conf_entry *e, char *buf, size_t len)
{
    size_t o;

    switch (e->type) {
    case DF_CONF_BOOL:
        snprintf(buf, len, "expected true or false");
        return;
    case DF_CONF_INT:
        snprintf(buf, len, "expected integer");
        return;
    case DF_CONF_SIZE:
        snprintf(buf, len, "expected size like 64MiB");
        return;
    case DF_CONF_RATE:
        snprintf(buf, len, "expected rate like 100MiB/s");
        return;
    case DF_CONF_DURATION:
        snprintf(buf, len, "expected duration like 30s");
        return;
    case DF_CONF_STRING:
        snprintf(buf, len, "expected string");
        return;
    case DF_CONF_LIST:
        snprintf(buf, len, "expected list of strings");
        return;
    case DF_CONF_ADDR:
        snprintf(buf, len, "expected address like 127.0.0.1:8002");
        return;
    case DF_CONF_ENUM:
        o = (size_t)snprintf(buf, len, "expected one of");
        for (size_t i = 0; e->choices != NULL && e->choices[i] != NULL && o < len; i++)
            o += (size_t)snprintf(buf + o, len - o, "%s %s", i == 0 ? "" : ",", e->choices[i]);
        return;
    }
    snprintf(buf, len, "expected a value");
}

/* Fail with "<name>: expected <type>, got <got>" or, for overflow, "value too large". */
static int
conf_bad_value(const struct df_conf_entry *e, const char *name, int code, const char *got,
               struct df_error *err)
{
    char expect[256];

    if (code == DF_ETOOBIG)
        return df_error_set(err, DF_EINVAL, "%s: value too large, got %s", name, got);
    conf_expect(e, expect, sizeof(expect));
    return df_error_set(err, DF_EINVAL, "%s: %s, got %s", name, expect, got);
}

/* True for printable ASCII without quotes: safe to show unquoted in a one-line message. */
static bool
conf_is_plain(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* Format a numeric value the way the entry's type is written. */
static void
conf_num_format(const struct df_conf_entry *e, int64_t v, char *buf, size_t len)
{
    switch (e->type) {
    case DF_CONF_SIZE:
        df_units_size_format(v, buf, len);
        break;
    case DF_CONF_RATE:
        df_units_rate_format(v, buf, len);
        break;
    case DF_CONF_DURATION:
        df_units_duration_format(v, buf, len);
        break;
    default:
        snprintf(buf, len, "%" PRId64, v);
        break;
    }
}

/*
 * Store a numeric value after checking the entry's bounds; text is what the operator
 * wrote (shown back in the message), or NULL to format v.
 */
static int
conf_num_set(const struct df_conf_entry *e, void *base, int64_t v, const char *text,
             const char *name, struct df_error *err)
{
    char lim[DF_UNITS_FMT_MAX], got[CONF_QUOTE_MAX * 4 + 8];

    if (e->min != 0 || e->max != 0) {
        if (v < e->min || v > e->max) {
            conf_num_format(e, v < e->min ? e->min : e->max, lim, sizeof(lim));
            if (text != NULL && conf_is_plain(text) && strlen(text) <= CONF_QUOTE_MAX)
                snprintf(got, sizeof(got), "%s", text);
            else
                conf_num_format(e, v, got, sizeof(got));
            return df_error_set(err, DF_EINVAL, "%s: must be at %s %s, got %s", name,
                                v < e->min ? "least" : "most", lim, got);
        }
    }
    memcpy(conf_field(base, e), &v, sizeof(v));
    return 0;
}

/* Parse a decimal int64 with an optional '-'; no spaces, no '+'. */
static int
conf_int_parse(const char *s, int64_t *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    char *end;
    long long v;

    if (*d < '0' || *d > '9')
        return DF_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return DF_EINVAL;
    if (errno == ERANGE)
        return DF_ETOOBIG;
    *out = v;
    return 0;
}

static void
conf_list_clear(struct df_conf_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void
conf_list_append(struct df_conf_list *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrdup(s);
}

int
df_conf_addr_parse(const char *s, struct df_conf_addr *out)
{
    struct df_conf_addr a = {.host = {0}};
    unsigned char bin[16];
    const char *host = s, *colon;
    size_t hlen;
    int64_t port;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return DF_EINVAL;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
        a.ipv6 = true;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return DF_EINVAL;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof(a.host))
        return DF_EINVAL;
    memcpy(a.host, host, hlen);
    a.host[hlen] = '\0';
    if (inet_pton(a.ipv6 ? AF_INET6 : AF_INET, a.host, bin) != 1)
        return DF_EINVAL;
    if (colon[1] == '-' || conf_int_parse(colon + 1, &port) != 0 || port < 0 || port > 65535)
        return DF_EINVAL;
    a.port = (uint16_t)port;
    *out = a;
    return 0;
}

/*
 * Parse text as the entry's type and store it; name ("key" or "--flag") starts any
 * message. A list gets text appended as one more item.
 */
static int
conf_set_text(const struct df_conf_entry *e, void *base, const char *text, const char *name,
              struct df_error *err)
{
    char got[CONF_QUOTE_MAX * 4 + 8];
    void *field = conf_field(base, e);
    int64_t v = 0;
    int rv = 0;

    switch (e->type) {
    case DF_CONF_BOOL: {
        bool b = strcmp(text, "true") == 0;

        if (!b && strcmp(text, "false") != 0) {
            rv = DF_EINVAL;
            break;
        }
        memcpy(field, &b, sizeof(b));
        return 0;
    }
    case DF_CONF_INT:
        rv = conf_int_parse(text, &v);
        break;
    case DF_CONF_SIZE:
        rv = df_units_size_parse(text, &v);
        break;
    case DF_CONF_RATE:
        rv = df_units_rate_parse(text, &v);
        break;
    case DF_CONF_DURATION:
        rv = df_units_duration_parse(text, &v);
        break;
    case DF_CONF_STRING: {
        char **s = field;

        free(*s);
        *s = xstrdup(text);
        return 0;
    }
    case DF_CONF_ENUM:
        for (int i = 0; e->choices[i] != NULL; i++) {
            if (strcmp(e->choices[i], text) == 0) {
                memcpy(field, &i, sizeof(i));
                return 0;
            }
        }
        rv = DF_EINVAL;
        break;
    case DF_CONF_LIST:
        conf_list_append(field, text);
        return 0;
    case DF_CONF_ADDR: {
        struct df_conf_addr a;

        if ((rv = df_conf_addr_parse(text, &a)) == 0) {
            memcpy(field, &a, sizeof(a));
            return 0;
        }
        break;
    }
    }
    if (rv != 0) {
        conf_quote(text, got, sizeof(got));
        return conf_bad_value(e, name, rv, got, err);
    }
    return conf_num_set(e, base, v, text, name, err);
}

/* Store a JSON value; strings go through the same parser as flags. */
static int
conf_set_json(const struct df_conf_entry *e, void *base, const cJSON *v, const char *name,
              struct df_error *err)
{
    char got[CONF_QUOTE_MAX * 4 + 8], item[CONF_PATH_MAX + 16];
    void *field = conf_field(base, e);
    struct df_conf_list *l;
    const cJSON *it;
    size_t i = 0;
    int rv;

    switch (e->type) {
    case DF_CONF_BOOL:
        if (!cJSON_IsBool(v))
            break;
        return conf_set_text(e, base, cJSON_IsTrue(v) ? "true" : "false", name, err);
    case DF_CONF_INT:
    case DF_CONF_SIZE:
    case DF_CONF_RATE:
        /* Numbers mean the base unit (bytes, bytes/s); only exact integers count. */
        if (cJSON_IsNumber(v)) {
            double d = v->valuedouble;

            if (!isfinite(d) || d != floor(d) || d < -CONF_JSON_EXACT || d > CONF_JSON_EXACT ||
                (e->type != DF_CONF_INT && d < 0))
                break;
            return conf_num_set(e, base, (int64_t)d, NULL, name, err);
        }
        if (cJSON_IsString(v))
            return conf_set_text(e, base, v->valuestring, name, err);
        break;
    case DF_CONF_STRING:
    case DF_CONF_ADDR:
        /* null is how df_conf_to_json prints "unset". */
        if (cJSON_IsNull(v)) {
            if (e->type == DF_CONF_STRING)
                DF_FREE(*(char **)field, free);
            else
                memset(field, 0, sizeof(struct df_conf_addr));
            return 0;
        }
        if (cJSON_IsString(v))
            return conf_set_text(e, base, v->valuestring, name, err);
        break;
    case DF_CONF_DURATION:
    case DF_CONF_ENUM:
        if (cJSON_IsString(v))
            return conf_set_text(e, base, v->valuestring, name, err);
        break;
    case DF_CONF_LIST:
        if (!cJSON_IsArray(v))
            break;
        l = field;
        conf_list_clear(l);
        cJSON_ArrayForEach(it, v)
        {
            if ((e->flags & DF_CONF_OBJECTS) != 0 && cJSON_IsObject(it)) {
                char *text = cJSON_PrintUnformatted(it);

                if (text == NULL)
                    return df_error_set(err, DF_ENOMEM, "%s: out of memory", name);
                conf_list_append(l, text);
                cJSON_free(text);
                i++;
                continue;
            }
            if (!cJSON_IsString(it)) {
                snprintf(item, sizeof(item), "%s[%zu]", name, i);
                conf_json_repr(it, got, sizeof(got));
                return df_error_set(err, DF_EINVAL, "%s: expected string, got %s", item, got);
            }
            conf_list_append(l, it->valuestring);
            i++;
        }
        return 0;
    }
    conf_json_repr(v, got, sizeof(got));
    rv = conf_bad_value(e, name, DF_EINVAL, got, err);
    return rv;
}

/* Levenshtein distance, capped: strings of CONF_KEY_MAX or more count as far apart. */
static size_t
conf_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[CONF_KEY_MAX], cur[CONF_KEY_MAX];

    if (la >= CONF_KEY_MAX || lb >= CONF_KEY_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb];
}

/* Keep cand in best when it is closer than anything so far and close enough to be a typo. */
static void
conf_suggest(const char *word, const char *cand, char *best, size_t *best_d)
{
    size_t d = conf_distance(word, cand);

    if (d <= 2 && d < *best_d && strlen(cand) < CONF_KEY_MAX) {
        *best_d = d;
        snprintf(best, CONF_KEY_MAX, "%s", cand);
    }
}

/* The flag entry for name (without "--"), or NULL. */
static const struct df_conf_entry *
conf_find_flag(const struct df_conf_spec *spec, const char *name, size_t len)
{
    char buf[CONF_KEY_MAX];

    for (size_t i = 0; i < spec->n_entries; i++) {
        const char *f = conf_flag_name(&spec->entries[i], buf, sizeof(buf));

        if (strlen(f) == len && strncmp(f, name, len) == 0)
            return &spec->entries[i];
    }
    return NULL;
}

/* The entry whose alias flag is name (without "--"), or NULL. */
static const struct df_conf_entry *
conf_find_alias(const struct df_conf_spec *spec, const char *name, size_t len)
{
    for (size_t i = 0; i < spec->n_entries; i++) {
        const char *a = spec->entries[i].alias;

        if (a != NULL && strlen(a) == len && strncmp(a, name, len) == 0)
            return &spec->entries[i];
    }
    return NULL;
}

/* Fail for an unknown flag; label is "--name" (without "=value") or "-X". */
static int
conf_unknown_flag(const struct df_conf_spec *spec, const char *label, struct df_error *err)
{
    char best[CONF_KEY_MAX], buf[CONF_KEY_MAX], q[CONF_QUOTE_MAX * 4 + 8];
    size_t best_d = SIZE_MAX;

    for (size_t i = 0; label[1] == '-' && i < spec->n_entries; i++)
        conf_suggest(label + 2, conf_flag_name(&spec->entries[i], buf, sizeof(buf)), best, &best_d);
    if (conf_is_plain(label))
        snprintf(q, sizeof(q), "%s", label);
    else
        conf_quote(label, q, sizeof(q));
    if (best_d != SIZE_MAX)
        return df_error_set(err, DF_EINVAL, "%s: unknown flag (did you mean --%s?)", q, best);
    return df_error_set(err, DF_EINVAL, "%s: unknown flag", q);
}

/*
 * Split argv into entry flags, built-ins and positional arguments. Stops at the first
 * error; the caller still honours --help seen later.
 */
static int
conf_argv_scan(const struct df_conf_spec *spec, int argc, char **argv, struct conf_flag *flags,
               size_t *n_flags, struct df_conf_args *args, struct df_error *err)
{
    bool only_pos = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *value = NULL;
        const struct df_conf_entry *e = NULL;
        bool negated = false, is_short = false;
        char label[CONF_KEY_MAX + 2];
        size_t len;

        if (only_pos || a[0] != '-' || a[1] == '\0') {
            args->pos = xrealloc(args->pos, (args->n_pos + 1) * sizeof(*args->pos));
            args->pos[args->n_pos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (a[1] == '-') {
            name = a + 2;
            eq = strchr(name, '=');
            len = eq != NULL ? (size_t)(eq - name) : strlen(name);
            snprintf(label, sizeof(label), "--%.*s",
                     (int)(len < CONF_KEY_MAX ? len : CONF_KEY_MAX - 1), name);
            if (len == 4 && strncmp(name, "help", 4) == 0) {
                args->help = true;
                continue;
            }
            if (len == 12 && strncmp(name, "check-config", 12) == 0) {
                if (eq != NULL)
                    return df_error_set(err, DF_EINVAL, "%s: takes no value", label);
                args->check_config = true;
                continue;
            }
            if (len == 6 && strncmp(name, "config", 6) == 0) {
                if (eq == NULL && i + 1 >= argc)
                    return df_error_set(err, DF_EINVAL, "%s: missing value", label);
                args->config_path = eq != NULL ? eq + 1 : argv[++i];
                continue;
            }
            e = conf_find_flag(spec, name, len);
            if (e == NULL && (e = conf_find_alias(spec, name, len)) != NULL) {
                if (eq != NULL)
                    return df_error_set(err, DF_EINVAL, "%s: takes no value", label);
                value = e->alias_value;
            } else if (e == NULL && len > 3 && strncmp(name, "no-", 3) == 0) {
                e = conf_find_flag(spec, name + 3, len - 3);
                if (e != NULL && e->type != DF_CONF_BOOL)
                    e = NULL;
                negated = e != NULL;
            }
            if (e == NULL)
                return conf_unknown_flag(spec, label, err);
            if (value != NULL) {
                /* an alias: its value is set */
            } else if (e->type == DF_CONF_BOOL) {
                if (negated && eq != NULL)
                    return df_error_set(err, DF_EINVAL, "%s: takes no value", label);
                value = negated ? "false" : eq != NULL ? eq + 1 : "true";
            } else if (eq != NULL) {
                value = eq + 1;
            }
        } else {
            snprintf(label, sizeof(label), "-%c", a[1]);
            is_short = true;
            if (a[1] == 'h' && a[2] == '\0') {
                args->help = true;
                continue;
            }
            if (a[1] == 'c') {
                if (a[2] == '\0' && i + 1 >= argc)
                    return df_error_set(err, DF_EINVAL, "%s: missing value", label);
                args->config_path = a[2] != '\0' ? a + 2 : argv[++i];
                continue;
            }
            for (size_t j = 0; j < spec->n_entries && e == NULL; j++)
                if (spec->entries[j].short_flag == a[1])
                    e = &spec->entries[j];
            if (e == NULL)
                return conf_unknown_flag(spec, label, err);
            if (e->type == DF_CONF_BOOL) {
                if (a[2] != '\0')
                    return df_error_set(err, DF_EINVAL, "%s: takes no value", label);
                value = "true";
            } else if (a[2] != '\0') {
                value = a + 2;
            }
        }
        if (value == NULL) {
            if (i + 1 >= argc)
                return df_error_set(err, DF_EINVAL, "%s: missing value", label);
            value = argv[++i];
        }
        flags[*n_flags].e = e;
        flags[*n_flags].value = value;
        flags[*n_flags].is_short = is_short;
        (*n_flags)++;
    }
    return 0;
}

/* True when some key lies below path (path + "." is a prefix of it). */
static bool
conf_is_object_path(const struct df_conf_spec *spec, const char *path)
{
    size_t len = strlen(path);

    for (size_t i = 0; i < spec->n_entries; i++) {
        const char *k = spec->entries[i].key;

        if (strncmp(k, path, len) == 0 && k[len] == '.')
            return true;
    }
    return false;
}

static int
conf_unknown_key(const struct df_conf_spec *spec, const char *path, struct df_error *err)
{
    char best[CONF_KEY_MAX], cand[CONF_KEY_MAX];
    size_t best_d = SIZE_MAX, dots = 0;

    for (const char *p = path; *p != '\0'; p++)
        dots += *p == '.';
    /* Compare with every key cut to the same depth, so "uplaod" finds "upload". */
    for (size_t i = 0; i < spec->n_entries; i++) {
        const char *k = spec->entries[i].key;
        size_t n = 0, d = 0;

        while (k[n] != '\0' && !(k[n] == '.' && d++ == dots))
            n++;
        if (n >= sizeof(cand))
            continue;
        memcpy(cand, k, n);
        cand[n] = '\0';
        conf_suggest(path, cand, best, &best_d);
    }
    if (best_d != SIZE_MAX)
        return df_error_set(err, DF_EINVAL, "%s: unknown key (did you mean \"%s\"?)", path, best);
    return df_error_set(err, DF_EINVAL, "%s: unknown key", path);
}

/* Apply the members of obj, whose path is prefix ("" at the top), to base. */
static int
conf_walk(const struct df_conf_spec *spec, void *base, const cJSON *obj, const char *prefix,
          bool *seen, struct df_error *err)
{
    char path[CONF_PATH_MAX], got[CONF_QUOTE_MAX * 4 + 8];
    const cJSON *m;
    int rv, n;

    cJSON_ArrayForEach(m, obj)
    {
        const struct df_conf_entry *e = NULL;
        size_t i;

        n = snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "",
                     m->string != NULL ? m->string : "");
        if (m->string == NULL || m->string[0] == '\0' || strchr(m->string, '.') != NULL ||
            !conf_is_plain(m->string) || n < 0 || (size_t)n >= sizeof(path)) {
            conf_quote(path, got, sizeof(got));
            return df_error_set(err, DF_EINVAL, "%s: unknown key", got);
        }
        for (i = 0; i < spec->n_entries && e == NULL; i++)
            if (strcmp(spec->entries[i].key, path) == 0)
                e = &spec->entries[i];
        if (e != NULL) {
            if (seen[i - 1])
                return df_error_set(err, DF_EINVAL, "%s: duplicate key", path);
            seen[i - 1] = true;
            if ((rv = conf_set_json(e, base, m, path, err)) != 0)
                return rv;
            continue;
        }
        if (!conf_is_object_path(spec, path))
            return conf_unknown_key(spec, path, err);
        if (!cJSON_IsObject(m)) {
            conf_json_repr(m, got, sizeof(got));
            return df_error_set(err, DF_EINVAL, "%s: expected object, got %s", path, got);
        }
        if ((rv = conf_walk(spec, base, m, path, seen, err)) != 0)
            return rv;
    }
    return 0;
}

/*
 * Blank out slash-slash and slash-star comments outside strings, keeping newlines and
 * byte offsets, so JSON error positions still point into the operator's file.
 */
static int
conf_strip_comments(char *s, size_t len, size_t *bad)
{
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        if (in_str) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_str = false;
        } else if (s[i] == '"') {
            in_str = true;
        } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '/') {
            for (; i < len && s[i] != '\n'; i++)
                s[i] = ' ';
        } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
            size_t start = i;

            s[i] = s[i + 1] = ' ';
            for (i += 2; i + 1 < len && !(s[i] == '*' && s[i + 1] == '/'); i++)
                if (s[i] != '\n')
                    s[i] = ' ';
            if (i + 1 >= len) {
                *bad = start;
                return DF_EINVAL;
            }
            s[i] = s[i + 1] = ' ';
            i++;
        }
    }
    return 0;
}

/* Parse a config document (name labels file-level errors) and apply it to base. */
static int
conf_apply_doc(const struct df_conf_spec *spec, void *base, const char *buf, size_t len,
               const char *name, struct df_error *err)
{
    struct df_json_limits lim = {.max_bytes = DF_CONF_FILE_MAX, .max_depth = DF_CONF_DEPTH_MAX};
    struct df_error jerr;
    char *text = NULL;
    cJSON *doc = NULL;
    bool *seen = NULL;
    size_t bad = 0;
    int rv;

    if (len > DF_CONF_FILE_MAX) {
        rv = df_error_set(err, DF_ETOOBIG, "%s: larger than %d bytes", name, DF_CONF_FILE_MAX);
        goto out;
    }
    text = xmalloc(len + 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    if (conf_strip_comments(text, len, &bad) != 0) {
        unsigned line, col;

        df_json_position(buf, bad, &line, &col);
        rv = df_error_set(err, DF_EINVAL,
                          "%s: unterminated comment at line %u, column %u: expected '*/'", name,
                          line, col);
        goto out;
    }
    if ((rv = df_json_parse(text, len, &lim, &doc, &jerr)) != 0) {
        rv = df_error_set(err, rv, "%s: %s", name, jerr.msg);
        goto out;
    }
    if (!cJSON_IsObject(doc)) {
        rv = df_error_set(err, DF_EINVAL, "%s: expected a JSON object at the top level", name);
        goto out;
    }
    seen = xcalloc(spec->n_entries, sizeof(*seen));
    if ((rv = conf_walk(spec, base, doc, "", seen, err)) != 0)
        goto out;
    rv = 0;
out:
    free(seen);
    cJSON_Delete(doc);
    free(text);
    return rv;
}

/* Read a whole config file, refusing more than DF_CONF_FILE_MAX bytes. */
static int
conf_read_file(const char *path, char **out, size_t *out_len, struct df_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd = -1, rv;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
        rv = df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    buf = xmalloc(DF_CONF_FILE_MAX + 1);
    /* Read one byte past the limit to tell "exactly at the limit" from "over it". */
    while (len <= DF_CONF_FILE_MAX) {
        n = read(fd, buf + len, DF_CONF_FILE_MAX + 1 - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            rv = df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > DF_CONF_FILE_MAX) {
        rv = df_error_set(err, DF_ETOOBIG, "%s: larger than %d bytes", path, DF_CONF_FILE_MAX);
        goto out;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    rv = 0;
out:
    free(buf);
    if (fd != -1)
        close(fd);
    return rv;
}

/* Set every entry of base to its default; a default that fails is a bug in the table. */
static int
conf_defaults_apply(const struct df_conf_spec *spec, void *base, struct df_error *err)
{
    struct df_error verr;
    int rv;

    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];
        void *field = conf_field(base, e);

        memset(field, 0, conf_field_size(e->type));
        rv = 0;
        if (e->def != NULL && e->type != DF_CONF_LIST)
            rv = conf_set_text(e, base, e->def, e->key, &verr);
        else if (conf_is_numeric(e->type))
            rv = conf_num_set(e, base, 0, NULL, e->key, &verr);
        for (size_t j = 0; rv == 0 && e->def_list != NULL && e->def_list[j] != NULL; j++)
            conf_list_append(field, e->def_list[j]);
        if (rv != 0)
            return df_error_set(err, DF_EINTERNAL, "bad default: %s", verr.msg);
    }
    return 0;
}

static bool
conf_key_is_valid(const char *k)
{
    bool seg_start = true;

    if (k == NULL || k[0] == '\0' || strlen(k) >= CONF_KEY_MAX)
        return false;
    for (; *k != '\0'; k++) {
        if (*k == '.') {
            if (seg_start)
                return false;
            seg_start = true;
            continue;
        }
        if (!conf_is_upper(*k) && !conf_is_lower_or_digit(*k) && *k != '_')
            return false;
        seg_start = false;
    }
    return !seg_start;
}

static bool
conf_flag_is_valid(const char *f)
{
    if (f[0] == '\0' || f[0] == '-' || strlen(f) >= CONF_KEY_MAX - 3)
        return false;
    for (; *f != '\0'; f++)
        if (!conf_is_lower_or_digit(*f) && *f != '-')
            return false;
    return true;
}

/* The structural half of df_conf_spec_check: everything but the defaults. */
static int
conf_spec_check_table(const struct df_conf_spec *spec, struct df_error *err)
{
    static const char *const builtin[] = {"config", "help", "check-config"};
    char fa[CONF_KEY_MAX], fb[CONF_KEY_MAX];

    if (spec->n_entries > 0 && spec->entries == NULL)
        return df_error_set(err, DF_EINTERNAL, "conf table: entries missing");
    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];
        const char *f;

        if (!conf_key_is_valid(e->key))
            return df_error_set(err, DF_EINTERNAL, "conf table: entry %zu: bad key", i);
        f = conf_flag_name(e, fa, sizeof(fa));
        if (!conf_flag_is_valid(f))
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: bad flag", e->key);
        for (size_t b = 0; b < DF_NELEM(builtin); b++)
            if (strcmp(f, builtin[b]) == 0)
                return df_error_set(err, DF_EINTERNAL, "conf table: %s: flag --%s is built in",
                                    e->key, f);
        if (e->short_flag == 'c' || e->short_flag == 'h' ||
            (e->short_flag != 0 && !conf_is_upper(e->short_flag) &&
             !conf_is_lower_or_digit(e->short_flag)))
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: bad short flag", e->key);
        if (conf_field_size(e->type) == 0 || e->offset > spec->size ||
            spec->size - e->offset < conf_field_size(e->type))
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: bad type or offset", e->key);
        if (e->type == DF_CONF_ENUM && (e->choices == NULL || e->choices[0] == NULL))
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: enum without choices", e->key);
        if (e->min > e->max)
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: min > max", e->key);
        if ((e->flags & DF_CONF_SECRET) != 0 && e->type != DF_CONF_STRING)
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: only strings can be secret",
                                e->key);
        if ((e->flags & DF_CONF_REQUIRED) != 0 && e->type != DF_CONF_STRING &&
            e->type != DF_CONF_LIST && e->type != DF_CONF_ADDR)
            return df_error_set(err, DF_EINTERNAL,
                                "conf table: %s: only strings, lists and addresses can be required",
                                e->key);
        if (e->def_list != NULL && e->type != DF_CONF_LIST)
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: def_list on a non-list",
                                e->key);
        if ((e->alias != NULL) != (e->alias_value != NULL) ||
            (e->alias != NULL && (!conf_flag_is_valid(e->alias) || e->type == DF_CONF_LIST)))
            return df_error_set(err, DF_EINTERNAL, "conf table: %s: bad alias", e->key);
        for (size_t b = 0; e->alias != NULL && b < DF_NELEM(builtin); b++)
            if (strcmp(e->alias, builtin[b]) == 0)
                return df_error_set(err, DF_EINTERNAL, "conf table: %s: flag --%s is built in",
                                    e->key, e->alias);
        for (size_t j = 0; j < spec->n_entries && e->alias != NULL; j++) {
            const struct df_conf_entry *o = &spec->entries[j];

            if (strcmp(conf_flag_name(o, fb, sizeof(fb)), e->alias) == 0 ||
                (j != i && o->alias != NULL && strcmp(o->alias, e->alias) == 0))
                return df_error_set(err, DF_EINTERNAL, "conf table: %s: duplicate flag --%s",
                                    e->key, e->alias);
        }
        for (size_t j = 0; j < i; j++) {
            const struct df_conf_entry *o = &spec->entries[j];
            size_t lo = strlen(o->key), le = strlen(e->key);

            if (strcmp(o->key, e->key) == 0)
                return df_error_set(err, DF_EINTERNAL, "conf table: %s: duplicate key", e->key);
            if ((lo < le && strncmp(o->key, e->key, lo) == 0 && e->key[lo] == '.') ||
                (le < lo && strncmp(o->key, e->key, le) == 0 && o->key[le] == '.'))
                return df_error_set(err, DF_EINTERNAL,
                                    "conf table: %s: both a value and an object (%s)", e->key,
                                    o->key);
            if (strcmp(conf_flag_name(o, fb, sizeof(fb)), f) == 0)
                return df_error_set(err, DF_EINTERNAL, "conf table: %s: duplicate flag --%s",
                                    e->key, f);
            if (e->short_flag != 0 && e->short_flag == o->short_flag)
                return df_error_set(err, DF_EINTERNAL, "conf table: %s: duplicate flag -%c", e->key,
                                    e->short_flag);
        }
    }
    return 0;
}

int
df_conf_spec_check(const struct df_conf_spec *spec, struct df_error *err)
{
    void *scratch = NULL;
    int rv;

    if ((rv = conf_spec_check_table(spec, err)) != 0)
        goto out;
    scratch = xcalloc(1, spec->size);
    if ((rv = conf_defaults_apply(spec, scratch, err)) != 0)
        goto out;
    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];
        char label[CONF_KEY_MAX + 2];
        struct df_error verr;

        if (e->alias == NULL)
            continue;
        snprintf(label, sizeof(label), "--%s", e->alias);
        if (conf_set_text(e, scratch, e->alias_value, label, &verr) != 0) {
            rv = df_error_set(err, DF_EINTERNAL, "bad alias value: %s", verr.msg);
            goto out;
        }
    }
    rv = 0;
out:
    if (scratch != NULL)
        df_conf_reset(spec, scratch);
    free(scratch);
    return rv;
}

/* After every source: entries marked required must have a value. */
static int
conf_required_check(const struct df_conf_spec *spec, const void *base, struct df_error *err)
{
    char flag[CONF_KEY_MAX];

    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];
        const void *field = conf_cfield(base, e);
        bool empty = false;

        if ((e->flags & DF_CONF_REQUIRED) == 0)
            continue;
        if (e->type == DF_CONF_STRING)
            empty = *(char *const *)field == NULL || (*(char *const *)field)[0] == '\0';
        else if (e->type == DF_CONF_LIST)
            empty = ((const struct df_conf_list *)field)->n == 0;
        else if (e->type == DF_CONF_ADDR)
            empty = ((const struct df_conf_addr *)field)->host[0] == '\0';
        if (empty)
            return df_error_set(err, DF_EINVAL,
                                "%s: required; set it in the config file or with --%s", e->key,
                                conf_flag_name(e, flag, sizeof(flag)));
    }
    return 0;
}

/* Apply argv flags in order; the first flag for a list replaces what the file gave. */
static int
conf_flags_apply(const struct df_conf_spec *spec, void *base, const struct conf_flag *flags,
                 size_t n, struct df_error *err)
{
    char label[CONF_KEY_MAX + 2];
    bool *listed = xcalloc(spec->n_entries, sizeof(*listed));
    int rv;

    for (size_t i = 0; i < n; i++) {
        const struct df_conf_entry *e = flags[i].e;
        size_t idx = (size_t)(e - spec->entries);

        if (e->type == DF_CONF_LIST && !listed[idx]) {
            conf_list_clear(conf_field(base, e));
            listed[idx] = true;
        }
        conf_flag_label(&flags[i], label, sizeof(label));
        if ((rv = conf_set_text(e, base, flags[i].value, label, err)) != 0)
            goto out;
    }
    rv = 0;
out:
    free(listed);
    return rv;
}

/* Defaults, then the document (if any), then flags, into a copy of cfg; commit on success. */
static int
conf_build(const struct df_conf_spec *spec, void *cfg, const char *doc, size_t doc_len,
           const char *doc_name, const struct conf_flag *flags, size_t n_flags,
           struct df_error *err)
{
    void *tmp = NULL;
    bool owned = false;
    int rv;

    if ((rv = conf_spec_check_table(spec, err)) != 0)
        goto out;
    tmp = xmalloc(spec->size);
    memcpy(tmp, cfg, spec->size);
    if ((rv = conf_defaults_apply(spec, tmp, err)) != 0)
        goto out;
    /* From here every table field of tmp is ours and df_conf_reset may free it. */
    owned = true;
    if (doc != NULL && (rv = conf_apply_doc(spec, tmp, doc, doc_len, doc_name, err)) != 0)
        goto out;
    if ((rv = conf_flags_apply(spec, tmp, flags, n_flags, err)) != 0)
        goto out;
    if ((rv = conf_required_check(spec, tmp, err)) != 0)
        goto out;
    memcpy(cfg, tmp, spec->size);
    owned = false;
    rv = 0;
out:
    if (owned)
        df_conf_reset(spec, tmp);
    free(tmp);
    return rv;
}

int
df_conf_load(const struct df_conf_spec *spec, void *cfg, int argc, char **argv,
             struct df_conf_args *args, struct df_error *err)
{
    struct df_conf_args a = {.config_path = NULL};
    struct conf_flag *flags = NULL;
    size_t n_flags = 0, doc_len = 0;
    char *doc = NULL, q[CONF_QUOTE_MAX * 4 + 8];
    int rv;

    flags = xcalloc(argc > 0 ? (size_t)argc : 1, sizeof(*flags));
    rv = conf_argv_scan(spec, argc, argv, flags, &n_flags, &a, err);
    /* --help wins over anything wrong on the command line. */
    for (int i = 1; rv != 0 && i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            a.help = true;
    if (a.help) {
        *args = (struct df_conf_args){.help = true};
        rv = 0;
        goto out;
    }
    if (rv != 0)
        goto out;
    if (a.n_pos > spec->max_args) {
        conf_quote(a.pos[spec->max_args], q, sizeof(q));
        rv = df_error_set(err, DF_EINVAL, "unexpected argument %s", q);
        goto out;
    }
    if (a.config_path != NULL && (rv = conf_read_file(a.config_path, &doc, &doc_len, err)) != 0)
        goto out;
    if ((rv = conf_build(spec, cfg, doc, doc_len, a.config_path, flags, n_flags, err)) != 0)
        goto out;
    *args = a;
    a.pos = NULL;
    rv = 0;
out:
    free(a.pos);
    free(doc);
    free(flags);
    return rv;
}

int
df_conf_load_json(const struct df_conf_spec *spec, void *cfg, const char *buf, size_t len,
                  const char *name, struct df_error *err)
{
    return conf_build(spec, cfg, buf, len, name, NULL, 0, err);
}

void
df_conf_reset(const struct df_conf_spec *spec, void *cfg)
{
    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];

        if (e->type == DF_CONF_STRING)
            DF_FREE(*(char **)conf_field(cfg, e), free);
        else if (e->type == DF_CONF_LIST)
            conf_list_clear(conf_field(cfg, e));
    }
}

void
df_conf_args_reset(struct df_conf_args *args)
{
    free(args->pos);
    *args = (struct df_conf_args){.config_path = NULL};
}

/* The value name shown after a flag in --help. */
static void
conf_metavar(const struct df_conf_entry *e, char *buf, size_t len)
{
    static const char *const names[] = {
            [DF_CONF_BOOL] = "",
            [DF_CONF_INT] = "N",
            [DF_CONF_SIZE] = "SIZE",
            [DF_CONF_RATE] = "RATE",
            [DF_CONF_DURATION] = "DURATION",
            [DF_CONF_STRING] = "STRING",
            [DF_CONF_ENUM] = "",
            [DF_CONF_LIST] = "STRING",
            [DF_CONF_ADDR] = "IP:PORT",
    };
    size_t o = 0;

    buf[0] = '\0';
    if (e->type == DF_CONF_BOOL)
        return;
    if (e->metavar != NULL) {
        snprintf(buf, len, " %s", e->metavar);
        return;
    }
    if (e->type != DF_CONF_ENUM) {
        snprintf(buf, len, " %s", names[e->type]);
        return;
    }
    for (size_t i = 0; e->choices[i] != NULL && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i == 0 ? " " : "|", e->choices[i]);
}

static void
conf_usage_line(FILE *f, const char *left, const char *help)
{
    size_t n = strlen(left);

    if (n + 2 > CONF_HELP_COL)
        fprintf(f, "%s\n%*s%s\n", left, CONF_HELP_COL, "", help);
    else
        fprintf(f, "%s%*s%s\n", left, (int)(CONF_HELP_COL - n), "", help);
}

void
df_conf_usage(const struct df_conf_spec *spec, FILE *f)
{
    char flag[CONF_KEY_MAX], meta[256], left[512], help[1024], derived[CONF_KEY_MAX];

    fprintf(f, "usage: %s [flags]%s%s\n", spec->cmd, spec->args != NULL ? " " : "",
            spec->args != NULL ? spec->args : "");
    if (spec->summary != NULL)
        fprintf(f, "\n%s\n", spec->summary);
    fprintf(f, "\nflags:\n");
    conf_usage_line(f, "  -c, --config FILE", "JSON config file; every flag is also a key in it");
    conf_usage_line(f, "      --check-config",
                    "validate the configuration, print it as JSON and exit");
    conf_usage_line(f, "  -h, --help", "show this help and exit");
    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];
        const char *name = conf_flag_name(e, flag, sizeof(flag));
        size_t o;

        conf_metavar(e, meta, sizeof(meta));
        if (e->short_flag != 0)
            snprintf(left, sizeof(left), "  -%c, --%s%s", e->short_flag, name, meta);
        else
            snprintf(left, sizeof(left), "      --%s%s", name, meta);
        o = (size_t)snprintf(help, sizeof(help), "%s", e->help != NULL ? e->help : "");
        /* A help text that already says how the flag repeats is not told again. */
        if (e->type == DF_CONF_LIST && strstr(help, "repeatable") == NULL && o < sizeof(help))
            o += (size_t)snprintf(help + o, sizeof(help) - o, " (repeatable)");
        if ((e->flags & DF_CONF_SECRET) == 0 && e->def != NULL && e->def[0] != '\0' &&
            o < sizeof(help))
            o += (size_t)snprintf(help + o, sizeof(help) - o, " (default %s)", e->def);
        for (size_t j = 0; e->def_list != NULL && e->def_list[j] != NULL && o < sizeof(help); j++)
            o += (size_t)snprintf(help + o, sizeof(help) - o, "%s%s%s",
                                  j == 0 ? " (default " : ", ", e->def_list[j],
                                  e->def_list[j + 1] == NULL ? ")" : "");
        if ((e->flags & DF_CONF_REQUIRED) != 0 && o < sizeof(help))
            o += (size_t)snprintf(help + o, sizeof(help) - o, " (required)");
        /* Name the key when the flag does not spell it. */
        df_conf_flag_from_key(e->key, derived, sizeof(derived));
        if (strcmp(derived, name) != 0 && o < sizeof(help))
            snprintf(help + o, sizeof(help) - o, " [key %s]", e->key);
        conf_usage_line(f, left, help);
        if (e->alias != NULL) {
            snprintf(left, sizeof(left), "      --%s", e->alias);
            snprintf(help, sizeof(help), "the same as --%s %s", name, e->alias_value);
            conf_usage_line(f, left, help);
        }
    }
    fprintf(f, "\nBoolean flags take no value; --no-FLAG turns one off. Sizes: 4KiB, 64MiB, "
               "1GB.\nRates: 100MiB/s, 800Mbit/s. Durations: 250ms, 30s, 5m, 1h30m.\n");
}

/* The object that holds the last segment of key in root, created as needed; NULL on OOM. */
static cJSON *
conf_json_parent(cJSON *root, const char *key, const char **leaf)
{
    char seg[CONF_KEY_MAX];
    const char *dot;
    cJSON *obj = root, *child;

    while ((dot = strchr(key, '.')) != NULL) {
        size_t n = (size_t)(dot - key);

        memcpy(seg, key, n);
        seg[n] = '\0';
        child = cJSON_GetObjectItemCaseSensitive(obj, seg);
        if (child == NULL && (child = cJSON_AddObjectToObject(obj, seg)) == NULL)
            return NULL;
        obj = child;
        key = dot + 1;
    }
    *leaf = key;
    return obj;
}

/* Add one entry's value to obj under name; NULL on OOM. */
static cJSON *
conf_json_add(cJSON *obj, const char *name, const struct df_conf_entry *e, const void *base)
{
    const void *field = conf_cfield(base, e);
    char buf[DF_CONF_HOST_MAX + 16];
    const struct df_conf_addr *a;
    const struct df_conf_list *l;
    const char *s;
    cJSON *arr;
    int64_t v;
    int idx;

    /* Only strings are secret; an empty one shows that nothing is set. */
    if ((e->flags & DF_CONF_SECRET) != 0 && e->type == DF_CONF_STRING &&
        *(char *const *)field != NULL && (*(char *const *)field)[0] != '\0')
        return cJSON_AddStringToObject(obj, name, "***");
    switch (e->type) {
    case DF_CONF_BOOL:
        return cJSON_AddBoolToObject(obj, name, *(const bool *)field);
    case DF_CONF_INT:
        memcpy(&v, field, sizeof(v));
        if (v >= -(INT64_C(1) << 53) && v <= (INT64_C(1) << 53))
            return cJSON_AddNumberToObject(obj, name, (double)v);
        snprintf(buf, sizeof(buf), "%" PRId64, v);
        return cJSON_AddStringToObject(obj, name, buf);
    case DF_CONF_SIZE:
    case DF_CONF_RATE:
    case DF_CONF_DURATION:
        memcpy(&v, field, sizeof(v));
        conf_num_format(e, v, buf, sizeof(buf));
        return cJSON_AddStringToObject(obj, name, buf);
    case DF_CONF_STRING:
        s = *(char *const *)field;
        return s != NULL ? cJSON_AddStringToObject(obj, name, s) : cJSON_AddNullToObject(obj, name);
    case DF_CONF_ENUM:
        memcpy(&idx, field, sizeof(idx));
        for (int i = 0; e->choices[i] != NULL; i++)
            if (i == idx)
                return cJSON_AddStringToObject(obj, name, e->choices[i]);
        return cJSON_AddNullToObject(obj, name);
    case DF_CONF_LIST:
        l = field;
        if ((arr = cJSON_AddArrayToObject(obj, name)) == NULL)
            return NULL;
        for (size_t i = 0; i < l->n; i++) {
            cJSON *it = cJSON_CreateString(l->v[i]);

            if (it == NULL || !cJSON_AddItemToArray(arr, it)) {
                cJSON_Delete(it);
                return NULL;
            }
        }
        return arr;
    case DF_CONF_ADDR:
        a = field;
        if (a->host[0] == '\0')
            return cJSON_AddNullToObject(obj, name);
        snprintf(buf, sizeof(buf), a->ipv6 ? "[%s]:%u" : "%s:%u", a->host, (unsigned)a->port);
        return cJSON_AddStringToObject(obj, name, buf);
    }
    return NULL;
}

char *
df_conf_to_json(const struct df_conf_spec *spec, const void *cfg)
{
    cJSON *root = NULL, *parent;
    const char *leaf;
    char *out = NULL;

    if ((root = cJSON_CreateObject()) == NULL)
        goto out;
    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];

        if ((parent = conf_json_parent(root, e->key, &leaf)) == NULL)
            goto out;
        if (conf_json_add(parent, leaf, e, cfg) == NULL)
            goto out;
    }
    out = cJSON_Print(root);
out:
    cJSON_Delete(root);
    return out;
}

int
df_conf_diff(const struct df_conf_spec *spec, const void *a, const void *b,
             void (*fn)(const struct df_conf_entry *e, void *arg), void *arg)
{
    int n = 0;

    for (size_t i = 0; i < spec->n_entries; i++) {
        const struct df_conf_entry *e = &spec->entries[i];
        cJSON *ja = cJSON_CreateObject(), *jb = cJSON_CreateObject();
        bool same;

        if (ja == NULL || jb == NULL || conf_json_add(ja, "v", e, a) == NULL ||
            conf_json_add(jb, "v", e, b) == NULL) {
            cJSON_Delete(ja);
            cJSON_Delete(jb);
            return DF_ENOMEM;
        }
        same = cJSON_Compare(ja, jb, true);
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        if (!same) {
            fn(e, arg);
            n++;
        }
    }
    return n;
}
