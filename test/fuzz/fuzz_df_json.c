/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz bounded JSON parsing and the typed getters. */
#include <stdint.h>
#include <stdlib.h>

#include "df/df_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct df_json_limits lim = {.max_bytes = 1 << 20, .max_depth = 32};
    cJSON *doc = NULL;
    const char *s;
    uint64_t u;
    int64_t i;
    bool b;

    if (df_json_parse((const char *)data, size, &lim, &doc, NULL) != 0)
        return 0;
    df_json_get_str(doc, "a", &s, NULL);
    df_json_get_u64(doc, "a", &u, NULL);
    df_json_get_i64(doc, "a", &i, NULL);
    df_json_get_bool(doc, "a", &b, NULL);
    free(df_json_print(doc));
    cJSON_Delete(doc);
    return 0;
}
