/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process_* as the Prometheus client libraries define them, so that the dashboards and
 * alerts written for any exporter work: CPU from getrusage, memory from /proc/self/statm,
 * descriptors by counting /proc/self/fd, and the start time from the process's start in
 * clock ticks after boot (/proc/self/stat field 22) plus the boot time (/proc/stat btime).
 * A value /proc cannot give (no /proc in a container without it) renders as NaN rather
 * than a made-up 0.
 */
#include "df/df_metrics_proc.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "df/df_metrics.h"
#include "df_build.h"

static double
df_metrics_proc_cpu(void *arg)
{
    struct rusage ru;

    (void)arg;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Field i (0: size, 1: resident) of /proc/self/statm, in bytes. */
static double
df_metrics_proc_statm(int i)
{
    unsigned long v[2];
    FILE *f = fopen("/proc/self/statm", "re");
    int n;

    if (f == NULL)
        return NAN;
    n = fscanf(f, "%lu %lu", &v[0], &v[1]);
    fclose(f);
    if (n != 2)
        return NAN;
    return (double)v[i] * (double)sysconf(_SC_PAGESIZE);
}

static double
df_metrics_proc_rss(void *arg)
{
    (void)arg;
    return df_metrics_proc_statm(1);
}

static double
df_metrics_proc_vsize(void *arg)
{
    (void)arg;
    return df_metrics_proc_statm(0);
}

static double
df_metrics_proc_fds(void *arg)
{
    DIR *d = opendir("/proc/self/fd");
    const struct dirent *e;
    double n = 0;

    (void)arg;
    if (d == NULL)
        return NAN;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static double
df_metrics_proc_max_fds(void *arg)
{
    struct rlimit rl;

    (void)arg;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return NAN;
    return rl.rlim_cur == RLIM_INFINITY ? (double)INFINITY : (double)rl.rlim_cur;
}

/* Seconds since the epoch at which this process started, or NaN. */
static double
df_metrics_proc_start_time(void)
{
    char buf[1024], *p;
    unsigned long long start = 0, btime = 0;
    FILE *f;
    size_t n;
    int field;

    if ((f = fopen("/proc/self/stat", "re")) == NULL)
        return NAN;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name (field 2) may hold spaces and parentheses: count after its last ')' */
    if ((p = strrchr(buf, ')')) == NULL)
        return NAN;
    for (field = 2; field < 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p, " %llu", &start) != 1)
        return NAN;
    if ((f = fopen("/proc/stat", "re")) == NULL)
        return NAN;
    while (fgets(buf, sizeof(buf), f) != NULL)
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    if (btime == 0)
        return NAN;
    return (double)btime + (double)start / (double)sysconf(_SC_CLK_TCK);
}

void
df_metrics_proc_register(struct df_metrics *r, const char *version_name)
{
    static const char *const version_labels[] = {"git_version", "git_commit", "platform", NULL};
    const char *values[3];
    struct df_metrics_family *f;
    struct utsname u;
    char platform[160];

    f = df_metrics_family_new(r, DF_METRICS_COUNTER, "process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds.", NULL);
    df_metrics_series_bind_fn(df_metrics_series_get(f, NULL), df_metrics_proc_cpu, NULL);
    df_metrics_fn_new(r, "process_resident_memory_bytes", "Resident memory size in bytes.",
                      df_metrics_proc_rss, NULL);
    df_metrics_fn_new(r, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                      df_metrics_proc_vsize, NULL);
    df_metrics_fn_new(r, "process_open_fds", "Number of open file descriptors.",
                      df_metrics_proc_fds, NULL);
    df_metrics_fn_new(r, "process_max_fds", "Maximum number of open file descriptors.",
                      df_metrics_proc_max_fds, NULL);
    f = df_metrics_family_new(r, DF_METRICS_GAUGE, "process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.", NULL);
    df_metrics_set(df_metrics_series_get(f, NULL), df_metrics_proc_start_time());

    if (uname(&u) == 0)
        snprintf(platform, sizeof(platform), "%s/%s", u.sysname, u.machine);
    else
        snprintf(platform, sizeof(platform), "unknown");
    values[0] = DF_VERSION;
    values[1] = DF_GIT_COMMIT;
    values[2] = platform;
    f = df_metrics_family_new(r, DF_METRICS_GAUGE, version_name,
                              "Version of the running binary (always 1; see the labels).",
                              version_labels);
    df_metrics_set(df_metrics_series_get(f, values), 1);
}
