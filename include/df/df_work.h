/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking work off the loop: hashing a whole file, copying an output, fsync. A job runs
 * work(arg) on its own thread and then done(arg) back on the loop thread. Only done may
 * touch loop-owned objects.
 */
#ifndef DF_DF_WORK_H
#define DF_DF_WORK_H

struct event_base;

typedef void df_work_fn(void *arg);

/* Make libevent thread-aware; call once at startup before creating the event_base. */
void df_work_init(void);

/* Run work(arg) on a new thread, then done(arg) on base's loop. Returns 0 or DF_ENOMEM. */
int df_work_submit(struct event_base *base, df_work_fn *work, df_work_fn *done, void *arg);

/* Jobs submitted and not yet done. */
unsigned df_work_pending(void);

#endif
