/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A metrics registry rendered as Prometheus text (exposition format 0.0.4). A registry holds
 * families (one metric name, its help, its type and its label names); a family holds series
 * (one set of label values). A series either owns its value (add, set, observe) or reads
 * storage its owner already keeps (a uint64_t counter field, a function for a gauge), so a
 * role can expose the counters it has without moving them. Loop-thread only; every family
 * and series is owned by the registry and freed with it.
 */
#ifndef DF_DF_METRICS_H
#define DF_DF_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Series per family; beyond it df_metrics_series_get returns NULL and updates are dropped. */
#define DF_METRICS_MAX_SERIES 1024
/* Label names per family, and buckets per histogram. */
#define DF_METRICS_MAX_LABELS  8
#define DF_METRICS_MAX_BUCKETS 64

enum df_metrics_type {
    DF_METRICS_COUNTER,
    DF_METRICS_GAUGE,
    DF_METRICS_HISTOGRAM,
};

struct df_metrics;
struct df_metrics_family;
struct df_metrics_series;

/* Reads a gauge or counter kept elsewhere; called while rendering. */
typedef double df_metrics_read_fn(void *arg);

/* An empty registry. */
struct df_metrics *df_metrics_new(void);

/* Free r with its families and series. NULL is a no-op. */
void df_metrics_free(struct df_metrics *r);

/*
 * Add a counter or gauge family. labels is a NULL-terminated list of label names, or NULL
 * for none; name, help and labels are copied. The names are the program's own, so a name
 * Prometheus would refuse, a name already in r, or too many labels is a bug (DF_ASSERT).
 */
struct df_metrics_family *df_metrics_family_new(struct df_metrics *r, enum df_metrics_type type,
                                                const char *name, const char *help,
                                                const char *const *labels);

/*
 * Add a histogram family with nbounds (1..DF_METRICS_MAX_BUCKETS) finite, strictly
 * increasing bucket upper bounds (copied); the +Inf bucket is implicit. As
 * df_metrics_family_new otherwise.
 */
struct df_metrics_family *df_metrics_histogram_new(struct df_metrics *r, const char *name,
                                                   const char *help, const char *const *labels,
                                                   const double *bounds, size_t nbounds);

/*
 * A histogram family with n (1..DF_METRICS_MAX_BUCKETS) exponential bounds start,
 * start * factor, ..., start * factor^(n-1) (factor > 1), as Prometheus clients'
 * ExponentialBuckets; upstream's durations use (1, 2, 24) ms.
 */
struct df_metrics_family *df_metrics_histogram_exp_new(struct df_metrics *r, const char *name,
                                                       const char *help, const char *const *labels,
                                                       double start, double factor, size_t n);

/*
 * The series of f with these label values (one per label name, in order; NULL when f has
 * no labels), created at zero on first use; values are copied. Returns NULL when f already
 * holds DF_METRICS_MAX_SERIES series: the update functions ignore a NULL series.
 */
struct df_metrics_series *df_metrics_series_get(struct df_metrics_family *f,
                                                const char *const *values);

/* Make s render *p (a counter or gauge kept by the caller, who keeps p valid). */
void df_metrics_series_bind_u64(struct df_metrics_series *s, const uint64_t *p);

/* Make s render fn(arg) (a gauge computed on demand). */
void df_metrics_series_bind_fn(struct df_metrics_series *s, df_metrics_read_fn *fn, void *arg);

/* Add n to a counter series (or a gauge). */
void df_metrics_add(struct df_metrics_series *s, uint64_t n);

/* Set a gauge series to v. */
void df_metrics_set(struct df_metrics_series *s, double v);

/* Count v in a histogram series. */
void df_metrics_observe(struct df_metrics_series *s, double v);

/*
 * Shorthand: an unlabelled counter or gauge family whose one series renders *p. Returns the
 * family (owned by r).
 */
struct df_metrics_family *df_metrics_u64_new(struct df_metrics *r, enum df_metrics_type type,
                                             const char *name, const char *help, const uint64_t *p);

/* Shorthand: an unlabelled gauge family whose one series renders fn(arg). */
struct df_metrics_family *df_metrics_fn_new(struct df_metrics *r, const char *name,
                                            const char *help, df_metrics_read_fn *fn, void *arg);

/*
 * Render r as Prometheus text: for each family with at least one series, in the order they
 * were added, its HELP and TYPE lines once, then its series in creation order. Returns 0
 * and a NUL-terminated *text (the caller frees it) of *len bytes, or DF_ENOMEM.
 */
int df_metrics_render(const struct df_metrics *r, char **text, size_t *len);

/* The Content-Type of what df_metrics_render writes. */
#define DF_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
