/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Priorities: the effective level of a download and what it makes of a task's first
 * download (sched_prio.h). The manager's URL regexes are compiled once per ListApplications
 * answer (sched_manager.c), as POSIX extended expressions like the manager validates them
 * (mgr_app.c) and the block list uses them.
 */
#include "sched_prio.h"

#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_err.h"
#include "df/log.h"
#include "df/xmalloc.h"

struct sched_prio_url {
    regex_t re;
    uint32_t level;
};

struct sched_prio_app {
    char *name;
    uint32_t level; /* priority.value */
    struct sched_prio_url *urls;
    size_t nurls; /* the ones that compiled, in the manager's order */
};

struct sched_prio_apps {
    struct sched_prio_app *v;
    size_t n;
};

static const char *const sched_prio_names[] = {"LEVEL0", "LEVEL1", "LEVEL2", "LEVEL3",
                                               "LEVEL4", "LEVEL5", "LEVEL6"};

struct sched_prio_apps *
sched_prio_apps_new(const struct proto_mgr_apps *a)
{
    struct sched_prio_apps *apps = xcalloc(1, sizeof(*apps));

    if (a->n == 0)
        return apps;
    apps->v = xcalloc(a->n, sizeof(*apps->v));
    for (size_t i = 0; i < a->n; i++) {
        const struct proto_mgr_app *src = &a->v[i];
        struct sched_prio_app *dst = &apps->v[apps->n++];

        dst->name = xstrdup(src->name != NULL ? src->name : "");
        dst->level = src->priority;
        if (src->nurls > 0)
            dst->urls = xcalloc(src->nurls, sizeof(*dst->urls));
        for (size_t j = 0; j < src->nurls; j++) {
            struct sched_prio_url *u = &dst->urls[dst->nurls];

            if (regcomp(&u->re, src->urls[j].regex, REG_EXTENDED | REG_NOSUB) != 0) {
                log_warnx("scheduler: application %.64s: priority.urls[%zu] regex '%.128s' "
                          "does not compile; skipped",
                          dst->name, j, src->urls[j].regex);
                continue;
            }
            u->level = src->urls[j].value;
            dst->nurls++;
        }
    }
    return apps;
}

void
sched_prio_apps_free(struct sched_prio_apps *apps)
{
    if (apps == NULL)
        return;
    for (size_t i = 0; i < apps->n; i++) {
        for (size_t j = 0; j < apps->v[i].nurls; j++)
            regfree(&apps->v[i].urls[j].re);
        free(apps->v[i].urls);
        free(apps->v[i].name);
    }
    free(apps->v);
    free(apps);
}

size_t
sched_prio_apps_count(const struct sched_prio_apps *apps)
{
    return apps != NULL ? apps->n : 0;
}

uint32_t
sched_prio_effective(const struct sched_prio_apps *apps, uint32_t level, const char *application,
                     const char *url)
{
    if (level != 0 || apps == NULL || application == NULL)
        return level;
    for (size_t i = 0; i < apps->n; i++) {
        const struct sched_prio_app *a = &apps->v[i];

        if (strcmp(a->name, application) != 0)
            continue;
        for (size_t j = 0; url != NULL && j < a->nurls; j++) {
            if (regexec(&a->urls[j].re, url, 0, NULL, 0) == 0)
                return a->urls[j].level;
        }
        return a->level;
    }
    return 0;
}

enum sched_prio_action
sched_prio_decide(uint32_t level, int64_t seed_fail_at, int64_t now)
{
    bool seed_failed = seed_fail_at != 0 && now - seed_fail_at < SCHED_PRIO_SEED_FAILED_MS;

    switch (level) {
    case 1:
        return SCHED_PRIO_FORBIDDEN;
    case 2:
        return SCHED_PRIO_NO_PEERS;
    case 3:
        return SCHED_PRIO_SOURCE;
    default: /* 0, 4, 5, 6 and above */
        return seed_failed ? SCHED_PRIO_SOURCE : SCHED_PRIO_SEED;
    }
}

const char *
sched_prio_level_name(uint32_t level)
{
    return sched_prio_names[level < DF_NELEM(sched_prio_names) ? level
                                                               : DF_NELEM(sched_prio_names) - 1];
}
