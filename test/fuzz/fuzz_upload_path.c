/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the upload server's piece path ("<task_id>/<number>" after "/pieces/"). The input, up
 * to its first NUL, is the rest of the path. An accepted path must name a valid task id (its
 * first 64 bytes) and a number whose canonical decimal is exactly the rest, so one piece has
 * one spelling; a refused one leaves the out-params alone.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_id.h"
#include "../../src/peer/peer_upload.h"

#define FZ_MAX_PATH 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char rest[FZ_MAX_PATH + 1], id[DF_ID_TASK_LEN + 1], num[24];
    uint64_t n = 12345;
    int rv;

    if (size > FZ_MAX_PATH)
        size = FZ_MAX_PATH;
    memcpy(rest, data, size);
    rest[size] = '\0';
    memset(id, '#', sizeof(id));
    rv = peer_upload_path_parse(rest, id, &n);
    if (rv != 0) {
        if ((rv != DF_EINVAL && rv != DF_EPROTO) || n != 12345 || id[0] != '#')
            abort();
        return 0;
    }
    snprintf(num, sizeof(num), "%" PRIu64, n);
    if (id[DF_ID_TASK_LEN] != '\0' || !df_id_task_is_valid(id) ||
        memcmp(rest, id, DF_ID_TASK_LEN) != 0 || rest[DF_ID_TASK_LEN] != '/' ||
        strcmp(rest + DF_ID_TASK_LEN + 1, num) != 0)
        abort();
    return 0;
}
