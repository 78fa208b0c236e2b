/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Families and series are lists in creation order, so the page reads the same on every
 * scrape. A series is found by comparing its label values: families have few series (the
 * cap bounds the worst case), and lookups happen when a role counts, not per byte. Text is
 * escaped as the format asks: in HELP, backslash and newline; in label values, also the
 * double quote.
 */
#include "df/df_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "df/df_err.h"
#include "df/xmalloc.h"

enum df_metrics_src {
    DF_METRICS_SRC_OWN, /* u64 for counters, dbl for gauges, hist for histograms */
    DF_METRICS_SRC_U64, /* *p */
    DF_METRICS_SRC_FN,  /* fn(arg) */
};

struct df_metrics_series {
    struct df_metrics_family *family;
    char **values; /* one per label name of the family */
    enum df_metrics_src src;
    uint64_t u64; /* an own counter */
    double dbl;   /* an own gauge */
    const uint64_t *p;
    df_metrics_read_fn *fn;
    void *arg;
    uint64_t *buckets; /* histograms: cumulative count per bound */
    uint64_t count;
    double sum;
    TAILQ_ENTRY(df_metrics_series) entry;
};

TAILQ_HEAD(df_metrics_series_list, df_metrics_series);

struct df_metrics_family {
    char *name, *help;
    enum df_metrics_type type;
    char **labels;
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    size_t nseries;
    struct df_metrics_series_list series;
    TAILQ_ENTRY(df_metrics_family) entry;
};

TAILQ_HEAD(df_metrics_family_list, df_metrics_family);

struct df_metrics {
    struct df_metrics_family_list families;
};

static const char *const df_metrics_type_names[] = {"counter", "gauge", "histogram"};

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels also refuse ':' and a "__" prefix. */
static bool
df_metrics_name_is_valid(const char *s, bool label)
{
    if (s == NULL || *s == '\0' || (label && strncmp(s, "__", 2) == 0))
        return false;
    for (const char *c = s; *c != '\0'; c++) {
        bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                     (!label && *c == ':');

        if (!alpha && (c == s || *c < '0' || *c > '9'))
            return false;
    }
    return true;
}

struct df_metrics *
df_metrics_new(void)
{
    struct df_metrics *r = xcalloc(1, sizeof(*r));

    TAILQ_INIT(&r->families);
    return r;
}

static void
df_metrics_strv_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void
df_metrics_family_free(struct df_metrics_family *f)
{
    struct df_metrics_series *s;

    while ((s = TAILQ_FIRST(&f->series)) != NULL) {
        TAILQ_REMOVE(&f->series, s, entry);
        df_metrics_strv_free(s->values, f->nlabels);
        free(s->buckets);
        free(s);
    }
    df_metrics_strv_free(f->labels, f->nlabels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void
df_metrics_free(struct df_metrics *r)
{
    struct df_metrics_family *f;

    if (r == NULL)
        return;
    while ((f = TAILQ_FIRST(&r->families)) != NULL) {
        TAILQ_REMOVE(&r->families, f, entry);
        df_metrics_family_free(f);
    }
    free(r);
}

static struct df_metrics_family *
df_metrics_family_add(struct df_metrics *r, enum df_metrics_type type, const char *name,
                      const char *help, const char *const *labels)
{
    struct df_metrics_family *f, *o;
    size_t n = 0;

    DF_ASSERT(df_metrics_name_is_valid(name, false));
    TAILQ_FOREACH (o, &r->families, entry)
        DF_ASSERT(strcmp(o->name, name) != 0);
    while (labels != NULL && labels[n] != NULL) {
        DF_ASSERT(df_metrics_name_is_valid(labels[n], true));
        /* "le" is the histogram's bucket label */
        DF_ASSERT(type != DF_METRICS_HISTOGRAM || strcmp(labels[n], "le") != 0);
        n++;
    }
    DF_ASSERT(n <= DF_METRICS_MAX_LABELS);
    f = xcalloc(1, sizeof(*f));
    f->name = xstrdup(name);
    f->help = xstrdup(help != NULL ? help : "");
    f->type = type;
    f->nlabels = n;
    if (n > 0) {
        f->labels = xcalloc(n, sizeof(*f->labels));
        for (size_t i = 0; i < n; i++)
            f->labels[i] = xstrdup(labels[i]);
    }
    TAILQ_INIT(&f->series);
    TAILQ_INSERT_TAIL(&r->families, f, entry);
    return f;
}

struct df_metrics_family *
df_metrics_family_new(struct df_metrics *r, enum df_metrics_type type, const char *name,
                      const char *help, const char *const *labels)
{
    DF_ASSERT(type == DF_METRICS_COUNTER || type == DF_METRICS_GAUGE);
    return df_metrics_family_add(r, type, name, help, labels);
}

struct df_metrics_family *
df_metrics_histogram_new(struct df_metrics *r, const char *name, const char *help,
                         const char *const *labels, const double *bounds, size_t nbounds)
{
    struct df_metrics_family *f;

    DF_ASSERT(nbounds >= 1 && nbounds <= DF_METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < nbounds; i++)
        DF_ASSERT(isfinite(bounds[i]) && (i == 0 || bounds[i] > bounds[i - 1]));
    f = df_metrics_family_add(r, DF_METRICS_HISTOGRAM, name, help, labels);
    f->bounds = xcalloc(nbounds, sizeof(*f->bounds));
    memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
    f->nbounds = nbounds;
    return f;
}

struct df_metrics_family *
df_metrics_histogram_exp_new(struct df_metrics *r, const char *name, const char *help,
                             const char *const *labels, double start, double factor, size_t n)
{
    double bounds[DF_METRICS_MAX_BUCKETS];

    DF_ASSERT(n >= 1 && n <= DF_METRICS_MAX_BUCKETS && start > 0 && factor > 1);
    for (size_t i = 0; i < n; i++)
        bounds[i] = i == 0 ? start : bounds[i - 1] * factor;
    return df_metrics_histogram_new(r, name, help, labels, bounds, n);
}

struct df_metrics_series *
df_metrics_series_get(struct df_metrics_family *f, const char *const *values)
{
    struct df_metrics_series *s;
    size_t i;

    TAILQ_FOREACH (s, &f->series, entry) {
        for (i = 0; i < f->nlabels && strcmp(s->values[i], values[i]) == 0; i++)
            ;
        if (i == f->nlabels)
            return s;
    }
    if (f->nseries >= DF_METRICS_MAX_SERIES)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->family = f;
    if (f->nlabels > 0) {
        s->values = xcalloc(f->nlabels, sizeof(*s->values));
        for (i = 0; i < f->nlabels; i++)
            s->values[i] = xstrdup(values[i]);
    }
    if (f->type == DF_METRICS_HISTOGRAM)
        s->buckets = xcalloc(f->nbounds, sizeof(*s->buckets));
    TAILQ_INSERT_TAIL(&f->series, s, entry);
    f->nseries++;
    return s;
}

void
df_metrics_series_bind_u64(struct df_metrics_series *s, const uint64_t *p)
{
    if (s == NULL)
        return;
    DF_ASSERT(s->buckets == NULL);
    s->src = DF_METRICS_SRC_U64;
    s->p = p;
}

void
df_metrics_series_bind_fn(struct df_metrics_series *s, df_metrics_read_fn *fn, void *arg)
{
    if (s == NULL)
        return;
    DF_ASSERT(s->buckets == NULL);
    s->src = DF_METRICS_SRC_FN;
    s->fn = fn;
    s->arg = arg;
}

void
df_metrics_add(struct df_metrics_series *s, uint64_t n)
{
    if (s == NULL || s->src != DF_METRICS_SRC_OWN)
        return;
    if (s->family->type == DF_METRICS_COUNTER)
        s->u64 += n;
    else if (s->family->type == DF_METRICS_GAUGE)
        s->dbl += (double)n;
}

void
df_metrics_set(struct df_metrics_series *s, double v)
{
    if (s == NULL || s->src != DF_METRICS_SRC_OWN || s->family->type != DF_METRICS_GAUGE)
        return;
    s->dbl = v;
}

void
df_metrics_observe(struct df_metrics_series *s, double v)
{
    const struct df_metrics_family *f;

    if (s == NULL || s->family->type != DF_METRICS_HISTOGRAM || isnan(v))
        return;
    f = s->family;
    /* cumulative buckets: every bound at or above v counts it */
    for (size_t i = f->nbounds; i > 0 && v <= f->bounds[i - 1]; i--)
        s->buckets[i - 1]++;
    s->count++;
    s->sum += v;
}

struct df_metrics_family *
df_metrics_u64_new(struct df_metrics *r, enum df_metrics_type type, const char *name,
                   const char *help, const uint64_t *p)
{
    struct df_metrics_family *f = df_metrics_family_new(r, type, name, help, NULL);

    df_metrics_series_bind_u64(df_metrics_series_get(f, NULL), p);
    return f;
}

struct df_metrics_family *
df_metrics_fn_new(struct df_metrics *r, const char *name, const char *help, df_metrics_read_fn *fn,
                  void *arg)
{
    struct df_metrics_family *f = df_metrics_family_new(r, DF_METRICS_GAUGE, name, help, NULL);

    df_metrics_series_bind_fn(df_metrics_series_get(f, NULL), fn, arg);
    return f;
}

/* ---- rendering ---- */

/* Write s escaping backslash and newline, and the double quote when quote (label values). */
static void
df_metrics_escape(FILE *o, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\\\", o);
        else if (*s == '\n')
            fputs("\\n", o);
        else if (quote && *s == '"')
            fputs("\\\"", o);
        else
            fputc(*s, o);
    }
}

/* A float as Prometheus reads it: +Inf, -Inf, NaN, else the shortest text that reads back. */
static const char *
df_metrics_format_double(double v, char *buf, size_t len)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* name{l1="v1",...[,le="bound"]} with the braces only when there is a label. */
static void
df_metrics_write_labels(FILE *o, const struct df_metrics_series *s, const char *le)
{
    const struct df_metrics_family *f = s->family;

    if (f->nlabels == 0 && le == NULL)
        return;
    fputc('{', o);
    for (size_t i = 0; i < f->nlabels; i++) {
        fprintf(o, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
        df_metrics_escape(o, s->values[i], true);
        fputc('"', o);
    }
    if (le != NULL)
        fprintf(o, "%sle=\"%s\"", f->nlabels > 0 ? "," : "", le);
    fputc('}', o);
}

static void
df_metrics_write_series(FILE *o, const struct df_metrics_series *s)
{
    const struct df_metrics_family *f = s->family;
    char num[40];

    if (f->type == DF_METRICS_HISTOGRAM) {
        for (size_t i = 0; i < f->nbounds; i++) {
            fprintf(o, "%s_bucket", f->name);
            df_metrics_write_labels(o, s, df_metrics_format_double(f->bounds[i], num, sizeof(num)));
            fprintf(o, " %" PRIu64 "\n", s->buckets[i]);
        }
        fprintf(o, "%s_bucket", f->name);
        df_metrics_write_labels(o, s, "+Inf");
        fprintf(o, " %" PRIu64 "\n%s_sum", s->count, f->name);
        df_metrics_write_labels(o, s, NULL);
        fprintf(o, " %s\n%s_count", df_metrics_format_double(s->sum, num, sizeof(num)), f->name);
        df_metrics_write_labels(o, s, NULL);
        fprintf(o, " %" PRIu64 "\n", s->count);
        return;
    }
    fputs(f->name, o);
    df_metrics_write_labels(o, s, NULL);
    if (s->src == DF_METRICS_SRC_U64)
        fprintf(o, " %" PRIu64 "\n", *s->p);
    else if (s->src == DF_METRICS_SRC_FN)
        fprintf(o, " %s\n", df_metrics_format_double(s->fn(s->arg), num, sizeof(num)));
    else if (f->type == DF_METRICS_COUNTER)
        fprintf(o, " %" PRIu64 "\n", s->u64);
    else
        fprintf(o, " %s\n", df_metrics_format_double(s->dbl, num, sizeof(num)));
}

int
df_metrics_render(const struct df_metrics *r, char **text, size_t *len)
{
    const struct df_metrics_family *f;
    const struct df_metrics_series *s;
    char *buf = NULL;
    size_t n = 0;
    FILE *o = open_memstream(&buf, &n);

    if (o == NULL)
        return DF_ENOMEM;
    TAILQ_FOREACH (f, &r->families, entry) {
        if (TAILQ_EMPTY(&f->series))
            continue;
        fprintf(o, "# HELP %s ", f->name);
        df_metrics_escape(o, f->help, false);
        fprintf(o, "\n# TYPE %s %s\n", f->name, df_metrics_type_names[f->type]);
        TAILQ_FOREACH (s, &f->series, entry)
            df_metrics_write_series(o, s);
    }
    if (ferror(o) != 0) {
        fclose(o);
        free(buf);
        return DF_ENOMEM;
    }
    if (fclose(o) != 0) {
        free(buf);
        return DF_ENOMEM;
    }
    *text = buf;
    *len = n;
    return 0;
}
