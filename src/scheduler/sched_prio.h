/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Priorities (dragonfly.md 3.5): who fetches a task the first time. A download carries a
 * common.v2.Priority LEVEL0..LEVEL6; LEVEL0 lets the manager's Application named like the
 * task's application decide (its first priority.urls regex that matches the URL, else its
 * priority.value, else LEVEL0). Then LEVEL0/4/5/6 trigger the task's seed peer (unless that
 * seed failed within SCHED_PRIO_SEED_FAILED_MS: then as LEVEL3), LEVEL3 sends the peer to
 * the origin itself, LEVEL2 answers not found and LEVEL1 refuses the download. Pure: no
 * clock, no loop; the caller brings the time and the seed's last failure.
 */
#ifndef DF_SCHED_PRIO_H
#define DF_SCHED_PRIO_H

#include <stddef.h>
#include <stdint.h>

#include "df/proto_mgr.h"

#define SCHED_PRIO_SEED_FAILED_MS (30 * 60 * 1000) /* upstream's seed-peer failed timeout */

enum sched_prio_action {
    SCHED_PRIO_SEED,      /* LEVEL0, 4-6: the seed peer fetches it, the peer waits for it */
    SCHED_PRIO_SOURCE,    /* LEVEL3, or a seed that failed lately: the peer itself */
    SCHED_PRIO_NO_PEERS,  /* LEVEL2: from peers only, and this is the first: NotFound */
    SCHED_PRIO_FORBIDDEN, /* LEVEL1: FailedPrecondition */
};

/* The manager's applications with their URL regexes compiled (opaque). */
struct sched_prio_apps;

/*
 * Compile a's applications (a stays the caller's). A regex that does not compile is left
 * out with a warning naming the application; the rest still counts. Never NULL.
 */
struct sched_prio_apps *sched_prio_apps_new(const struct proto_mgr_apps *a);
void sched_prio_apps_free(struct sched_prio_apps *apps);
size_t sched_prio_apps_count(const struct sched_prio_apps *apps);

/*
 * The effective priority of a download: level when it is not LEVEL0, else the application's
 * (apps may be NULL: none; application and url may be NULL). Levels above LEVEL6 (the
 * manager's REST API stores up to 20) come back as they are.
 */
uint32_t sched_prio_effective(const struct sched_prio_apps *apps, uint32_t level,
                              const char *application, const char *url);

/*
 * What the first download of a task does at the effective level. seed_fail_at is the time
 * of the task's last seed failure (0: none) on the same clock as now. A level above LEVEL6
 * is treated as LEVEL6 (upstream's scheduler refuses it as an invalid argument, which its
 * peers answer by fetching from the origin: a seed serves the same end with less load).
 */
enum sched_prio_action sched_prio_decide(uint32_t level, int64_t seed_fail_at, int64_t now);

/* "LEVEL0".."LEVEL6" for a metrics label; "LEVEL6" above. */
const char *sched_prio_level_name(uint32_t level);

#endif
