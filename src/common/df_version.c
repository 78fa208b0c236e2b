/* SPDX-License-Identifier: Apache-2.0 */
/* The build id as functions: only this file (and the two that print it) see df_build.h. */
#include "df/df_version.h"

#include "df_build.h"

const char *
df_version(void)
{
    return DF_VERSION;
}

const char *
df_git_commit(void)
{
    return DF_GIT_COMMIT;
}
