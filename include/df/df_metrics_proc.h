/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The families every role exports besides its own: the process_* metrics Prometheus client
 * libraries export (CPU seconds, resident and virtual memory, open and maximum descriptors,
 * start time), read from /proc when the page is rendered, and a <role>_version gauge that is
 * always 1 and carries the build in its labels, as upstream's dragonfly_*_version does.
 */
#ifndef DF_DF_METRICS_PROC_H
#define DF_DF_METRICS_PROC_H

struct df_metrics;

/*
 * Add the process_* families and a gauge named version_name (e.g.
 * "dragonfly_client_version") with labels git_version, git_commit and platform to r. Call
 * once per registry.
 */
void df_metrics_proc_register(struct df_metrics *r, const char *version_name);

#endif
