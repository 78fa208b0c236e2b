/* SPDX-License-Identifier: Apache-2.0 */
/* `dragonfly version`: our version and commit, and the versions of every linked library. */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <mbedtls/version.h>
#include <nghttp2/nghttp2.h>
#include <sqlite3.h>
#include <xxhash.h>
#include <cjson/cJSON.h>

#include "df/roles.h"
#include "df_build.h"

int
cli_version_main(int argc, char **argv)
{
    char mbed[32];
    unsigned xxh = XXH_versionNumber();

    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            printf("usage: dragonfly version\n\nPrint the version, the git commit and the "
                   "versions of the linked libraries.\n");
            return 0;
        }
        fprintf(stderr, "dragonfly version: unknown flag '%s'\nusage: dragonfly version\n",
                argv[1]);
        return 2;
    }
    mbedtls_version_get_string(mbed);
    printf("dragonfly %s (commit %s)\n", DF_VERSION, DF_GIT_COMMIT);
    printf("  libevent %s\n", event_get_version());
    printf("  nghttp2  %s\n", nghttp2_version(0)->version_str);
    printf("  mbedtls  %s\n", mbed);
    printf("  sqlite3  %s\n", sqlite3_libversion());
    printf("  xxhash   %u.%u.%u\n", xxh / 10000, xxh / 100 % 100, xxh % 100);
    printf("  cjson    %s\n", cJSON_Version());
    return 0;
}
