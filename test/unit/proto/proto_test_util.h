/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of the proto tests: messages go through their text form, as on the wire. */
#ifndef DF_PROTO_TEST_UTIL_H
#define DF_PROTO_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/df_json.h"

/* Parse text into a new document (the caller deletes it). */
static inline cJSON *
t_doc(const char *text)
{
    struct df_error err;
    cJSON *doc = NULL;

    ck_assert_msg(df_json_parse(text, strlen(text), NULL, &doc, &err) == 0, "%s: %s", text,
                  err.msg);
    return doc;
}

/* Print m, delete it, and parse the text back. */
static inline cJSON *
t_wire(cJSON *m)
{
    char *text;
    cJSON *doc;

    ck_assert_ptr_nonnull(m);
    text = df_json_print(m);
    ck_assert_ptr_nonnull(text);
    cJSON_Delete(m);
    doc = t_doc(text);
    free(text);
    return doc;
}

/* A 64-hex task id made of digit d. */
static inline void
t_task(char out[65], char d)
{
    memset(out, d, 64);
    out[64] = '\0';
}

/* Both strings NULL, or equal. */
#define t_str_eq(a, b)                  \
    do {                                \
        if ((a) == NULL || (b) == NULL) \
            ck_assert_ptr_eq((a), (b)); \
        else                            \
            ck_assert_str_eq((a), (b)); \
    } while (0)

#endif
